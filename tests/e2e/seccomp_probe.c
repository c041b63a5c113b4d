// Makes syscalls for the seccomp profile tests (oci_config_test.sh, the seccomp* cases) and prints
// what came of each, one line per call, so that the same expectations hold under runc and in the
// sandbox. Static, so that it runs in a busybox container.
//
// Usage: seccomp_probe [MODE] CALL...   where CALL is NAME[:ARG0[:ARG1[:ARG2]]] (numbers in C
// notation) and NAME one of the table below. Modes:
//   (none)    each call in turn, printing "NAME=ok" or "NAME=ERRNO" (its symbolic errno)
//   trap      with a SIGSYS handler: each call prints what the handler saw ("NAME=SIGSYS code=1
//             syscall=N arch=c000003e errno=0 addr=ok ret=N") or, if no signal came, as above
//   thread    each call in a second thread, which the first joins; then "alive"
//   blocked   with SIGSYS blocked, then as with no mode
//   ignored   with SIGSYS ignored, then as with no mode
//   leader    a second thread waits 200 ms, prints "thread exits" and leaves with exit(2) (not
//             exit_group) and status 5; meanwhile the first makes the calls, then leaves with
//             exit(2) and status 0
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
  const char* name;
  long nr;
} kCalls[] = {
    {"getpid", SYS_getpid},       {"getppid", SYS_getppid},       {"getuid", SYS_getuid},
    {"getpriority", SYS_getpriority}, {"setpriority", SYS_setpriority}, {"umask", SYS_umask},
    {"personality", SYS_personality},
    {"add_key", SYS_add_key},     {"keyctl", SYS_keyctl},         {"request_key", SYS_request_key},
    {"kexec_load", SYS_kexec_load}, {"bpf", SYS_bpf},             {"socket", SYS_socket},
    {"unshare", SYS_unshare},     {"mount", SYS_mount},           {"swapon", SYS_swapon},
    {"userfaultfd", SYS_userfaultfd}, {"io_uring_setup", 425},    {"uname", SYS_uname},
    {"sched_yield", SYS_sched_yield}, {"gettid", SYS_gettid},     {"ptrace", SYS_ptrace},
};

static const char* ErrnoName(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EFAULT: return "EFAULT";
    case ENODEV: return "ENODEV";
    case EDOM: return "EDOM";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case ESRCH: return "ESRCH";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ENOTBLK: return "ENOTBLK";
    default: {
      static char buf[32];
      snprintf(buf, sizeof(buf), "errno%d", e);
      return buf;
    }
  }
}

struct Call {
  const char* name;
  long nr;
  long args[3];
};

static void Parse(char* spec, struct Call* c) {
  char* save = NULL;
  c->name = strtok_r(spec, ":", &save);
  c->nr = -1;
  for (size_t i = 0; i < sizeof(kCalls) / sizeof(kCalls[0]); i++) {
    if (strcmp(kCalls[i].name, c->name) == 0) c->nr = kCalls[i].nr;
  }
  if (c->nr < 0) {
    fprintf(stderr, "seccomp_probe: unknown call %s\n", c->name);
    exit(2);
  }
  for (int i = 0; i < 3; i++) {
    char* a = strtok_r(NULL, ":", &save);
    c->args[i] = a ? (long)strtoull(a, NULL, 0) : 0;
  }
}

// The syscall instruction at a known address: Linux reports the address after it as si_call_addr.
extern char probe_after_syscall[];
__attribute__((noinline)) static long RawSyscall(long nr, long a0, long a1, long a2) {
  long ret;
  __asm__ volatile(
      "syscall\n"
      ".globl probe_after_syscall\n"
      "probe_after_syscall:\n"
      : "=a"(ret)
      : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
      : "rcx", "r11", "memory");
  return ret;
}

static void Print(const struct Call* c, long ret) {
  if (ret < 0 && ret > -4096) {
    printf("%s=%s\n", c->name, ErrnoName((int)-ret));
  } else {
    printf("%s=ok\n", c->name);
  }
  fflush(stdout);
}

static volatile sig_atomic_t g_signals;
static siginfo_t g_info;

static void OnSigsys(int sig, siginfo_t* info, void* uc) {
  (void)sig;
  (void)uc;
  g_info = *info;
  g_signals++;
}

// Ends the calling thread alone, as exit(2) does (glibc's exit() ends the whole process).
static void ExitThread(int status) {
  for (;;) syscall(SYS_exit, status);
}

static void* LaterExit(void* arg) {
  (void)arg;
  usleep(200 * 1000);
  printf("thread exits\n");
  fflush(stdout);
  ExitThread(5);
  return NULL;
}

static void* ThreadMain(void* arg) {
  const struct Call* c = arg;
  Print(c, RawSyscall(c->nr, c->args[0], c->args[1], c->args[2]));
  return NULL;
}

int main(int argc, char** argv) {
  int first = 1;
  const char* mode = "";
  static const char* const kModes[] = {"trap", "thread", "blocked", "ignored", "leader"};
  for (size_t i = 0; argc > 1 && i < sizeof(kModes) / sizeof(kModes[0]); i++) {
    if (strcmp(argv[1], kModes[i]) == 0) {
      mode = argv[1];
      first = 2;
    }
  }
  if (strcmp(mode, "blocked") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    sigprocmask(SIG_BLOCK, &set, NULL);
  }
  if (strcmp(mode, "ignored") == 0) signal(SIGSYS, SIG_IGN);
  if (strcmp(mode, "leader") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, LaterExit, NULL) != 0) return 3;
  }
  if (strcmp(mode, "trap") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = OnSigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
  }
  for (int i = first; i < argc; i++) {
    struct Call c;
    Parse(argv[i], &c);
    if (strcmp(mode, "thread") == 0) {
      pthread_t t;
      if (pthread_create(&t, NULL, ThreadMain, &c) != 0) return 3;
      pthread_join(t, NULL);
      continue;
    }
    g_signals = 0;
    long ret = RawSyscall(c.nr, c.args[0], c.args[1], c.args[2]);
    if (g_signals) {
      printf("%s=SIGSYS code=%d syscall=%d arch=%x errno=%d addr=%s ret=%s\n", c.name,
             g_info.si_code, g_info.si_syscall, g_info.si_arch, g_info.si_errno,
             g_info.si_call_addr == (void*)probe_after_syscall ? "ok" : "wrong",
             ret == c.nr ? "nr" : "other");
      fflush(stdout);
    } else {
      Print(&c, ret);
    }
  }
  if (strcmp(mode, "thread") == 0) {
    printf("alive\n");
    fflush(stdout);
  }
  if (strcmp(mode, "leader") == 0) ExitThread(0);
  return 0;
}
