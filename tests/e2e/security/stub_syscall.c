/* Case stub_syscall: host syscalls made from the stub's code page, whose addresses the
 * application's host filter treats specially (platform/filter.cc, DESIGN.md section 5).
 *
 * 1. Every `syscall` instruction (0f 05) of the stub's code is jumped to, with the registers set
 *    up for a syscall that would reach the host: openat creating a host file, unlink of the host
 *    canary, kill and ptrace of a host process, mount over a host directory, process_vm_readv of
 *    the sentry, execve of a host shell writing a host file, and clone (a host process the
 *    sentry would not know). Each attempt runs in a child of its own; whatever the stub's code
 *    does after the instruction (return to us, trap, loop) the child reports the result or is
 *    killed after a second.
 * 2. The injection gadget is rewritten (the stub's page is the application's memory) to make a
 *    host syscall of its own before the one the sentry injects, and an injection is provoked (an
 *    mmap of a file): the sentry must not let the extra syscall through.
 * 3. The stub's page is replaced by the application's own code (munmap + mmap at its address),
 *    and the same syscalls are made from there.
 * With only=clone, the clone attempts alone (case stub_clone): a clone from the stub's page must
 * make a process the sentry knows, or none.
 * Usage: stub_syscall pids=FILE hostdir=HOSTDIR canary=HOSTPATH [only=clone] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>

#include "escape.h"
#include "platform/stub/sysmsg.h"

/* The registers of one attempt, in the order escape_jump loads them. */
struct regs {
  long rax, rdi, rsi, rdx, r10, r8, r9, target;
};

/* escape_jump(struct regs*): jumps to regs->target with the syscall registers loaded and the
 * stack holding two scratch words and a return address (escape_landing): the stub's
 * moat_host_syscall pops two registers and returns, as do other paths. Returns rax as it was
 * when control came back. */
long escape_jump(const struct regs* r);
uint64_t g_saved_rsp;
__asm__(
    ".text\n"
    ".globl escape_jump\n"
    "escape_jump:\n"
    "  push %rbx\n  push %rbp\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov %rsp, g_saved_rsp(%rip)\n"
    "  sub $256, %rsp\n"
    "  and $-16, %rsp\n"
    "  lea escape_landing(%rip), %rax\n"
    "  mov %rax, 16(%rsp)\n"
    "  movq $0, 0(%rsp)\n"
    "  movq $0, 8(%rsp)\n"
    "  mov 0(%rdi), %rax\n"
    "  mov %rax, %r12\n" /* the injection gadget takes the number from r12 */
    "  mov %rax, %rbx\n"
    "  mov 16(%rdi), %rsi\n"
    "  mov 24(%rdi), %rdx\n"
    "  mov 32(%rdi), %r10\n"
    "  mov 40(%rdi), %r8\n"
    "  mov 48(%rdi), %r9\n"
    "  mov 56(%rdi), %r11\n"
    "  mov 8(%rdi), %rdi\n"
    "  jmp *%r11\n"
    "escape_landing:\n"
    "  mov g_saved_rsp(%rip), %rsp\n"
    "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbp\n  pop %rbx\n"
    "  ret\n");

static int g_report_fd = -1;

/* A child that trapped or faulted in the stub's code: rax holds the syscall's result. */
static int g_attack;
static int sandbox_knows(long pid);

static void on_fault(int sig, siginfo_t* si, void* ucv) {
  (void)si;
  ucontext_t* uc = ucv;
  long rax = uc->uc_mcontext.gregs[REG_RAX];
  if (g_attack == 7 /* kClone */ && rax == 0) _exit(0); /* the clone's child */
  char line[160];
  int n = snprintf(line, sizeof(line), "signal %d at %#llx rax %lld\n", sig,
                   (unsigned long long)uc->uc_mcontext.gregs[REG_RIP],
                   (long long)uc->uc_mcontext.gregs[REG_RAX]);
  (void)!write(g_report_fd, line, n);
  if (g_attack == 7 && rax > 0) {
    n = snprintf(line, sizeof(line), "clone child %ld known to the sandbox: %s\n", rax,
                 sandbox_knows(rax) ? "yes" : "no");
    (void)!write(g_report_fd, line, n);
  }
  _exit(0);
}

enum attack { kOpen, kUnlink, kKill, kPtrace, kMount, kVmRead, kExec, kClone, kExecStubFd,
              kAttacks };
static const char* const kAttackNames[] = {"openat(O_CREAT) of a host file", "unlink(host canary)",
                                           "kill(victim, SIGKILL)", "ptrace(ATTACH, victim)",
                                           "mount(tmpfs on a host dir)",
                                           "process_vm_readv(sentry)",
                                           "execve(/bin/sh -c 'echo > host file')",
                                           "clone(SIGCHLD)",
                                           "execveat(stub fd, host script, AT_EMPTY_PATH)"};

static char g_open_path[700], g_exec_cmd[800], g_exec_path[700], g_hostdir[512];
static const char* g_canary;
static char* g_exec_argv[4];
static char g_vm_buf[64];
static struct iovec g_local = {g_vm_buf, sizeof(g_vm_buf)}, g_remote = {(void*)0x400000, 16};

static struct regs attack_regs(enum attack a, uint64_t target, int site) {
  struct regs r = {0};
  r.target = (long)target;
  switch (a) {
    case kOpen:
      snprintf(g_open_path, sizeof(g_open_path), "%s/stub-open-%d", g_hostdir, site);
      r.rax = SYS_openat, r.rdi = AT_FDCWD, r.rsi = (long)g_open_path;
      r.rdx = O_CREAT | O_WRONLY, r.r10 = 0644;
      break;
    case kUnlink:
      r.rax = SYS_unlink, r.rdi = (long)g_canary;
      break;
    case kKill:
      r.rax = SYS_kill, r.rdi = g_victim, r.rsi = SIGKILL;
      break;
    case kPtrace:
      r.rax = SYS_ptrace, r.rdi = PTRACE_ATTACH, r.rsi = g_victim;
      break;
    case kMount:
      r.rax = SYS_mount, r.rdi = (long)"none", r.rsi = (long)g_hostdir, r.rdx = (long)"tmpfs";
      break;
    case kVmRead:
      r.rax = SYS_process_vm_readv, r.rdi = g_sentry, r.rsi = (long)&g_local, r.rdx = 1;
      r.r10 = (long)&g_remote, r.r8 = 1;
      break;
    case kExec:
      snprintf(g_exec_cmd, sizeof(g_exec_cmd), "echo escaped > %s/stub-exec-%d", g_hostdir, site);
      g_exec_argv[0] = "/bin/sh", g_exec_argv[1] = "-c", g_exec_argv[2] = g_exec_cmd;
      r.rax = SYS_execve, r.rdi = (long)"/bin/sh", r.rsi = (long)g_exec_argv, r.rdx = 0;
      break;
    case kClone:
      r.rax = SYS_clone, r.rdi = SIGCHLD;
      break;
    case kExecStubFd:
      /* The stub's own exec, which the filter lets through for the stub's fd, with an absolute
       * path: the host ignores the fd for it. */
      snprintf(g_exec_path, sizeof(g_exec_path), "%s/exe", g_hostdir);
      g_exec_argv[0] = g_exec_path, g_exec_argv[1] = NULL;
      r.rax = SYS_execveat, r.rdi = MOAT_STUB_FD, r.rsi = (long)g_exec_path;
      r.rdx = (long)g_exec_argv, r.r10 = 0, r.r8 = AT_EMPTY_PATH;
      break;
    default:
      break;
  }
  return r;
}

/* The sandbox's answer to `kill(pid, 0)` and whether /proc knows the pid: a process the sentry
 * made is in both. */
static int sandbox_knows(long pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  return kill((pid_t)pid, 0) == 0 || access(path, F_OK) == 0;
}

/* Runs one attempt in a child; prints what came back. */
/* Whether the result of a syscall made at TARGET comes back as it was: at the injection gadget
 * (`syscall; int3`: the trap's frame holds it), at the stub's host-syscall instruction (which
 * returns it), and on the application's own page (`syscall; int3`). After other instructions
 * the stub's code goes on with registers it did not expect, and what comes back (if anything)
 * says nothing; only the host-side checks judge those. */
static int trusted_site(uint64_t target, const uint8_t* code, int own_page) {
  if (own_page || target == MOAT_STUB_BASE + 0x13) return 1;
  /* moat_host_syscall: `mov 40(%r12), %r9; syscall` (stub.S). */
  static const uint8_t before[] = {0x4d, 0x8b, 0x4c, 0x24, 0x28};
  uint64_t off = target - MOAT_STUB_BASE;
  return off >= sizeof(before) && memcmp(code + off - sizeof(before), before, sizeof(before)) == 0;
}
static const uint8_t* g_code;

/* Which attacks run: "clone" (case stub_clone), or all but clone (case stub_syscall). */
static int g_only_clone;

static void attempt(const char* where, uint64_t target, enum attack a, int site, int own_page) {
  if ((a == kClone) != g_only_clone) return;
  int trusted = trusted_site(target, g_code, own_page);
  /* A clone at an untrusted site may run in a loop of the stub's (a fork bomb): not tried. */
  if (a == kClone && !trusted) return;
  int p[2];
  if (pipe(p) < 0) {
    broken("pipe: %s", strerror(errno));
    return;
  }
  pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    g_report_fd = p[1];
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    for (int s = 1; s < 32; s++) {
      if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD) sigaction(s, &sa, NULL);
    }
    g_attack = a;
    if (own_page) {
      /* The application's own `syscall; int3` at the stub's address, over the stub's code. */
      void* m = mmap((void*)MOAT_STUB_BASE, MOAT_STUB_CODE_SIZE,
                     PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0);
      if (m == MAP_FAILED) {
        char line[96];
        int n = snprintf(line, sizeof(line), "mmap over the stub refused: %s\n",
                         strerrorname_np(errno));
        (void)!write(p[1], line, n);
        _exit(0);
      }
      static const uint8_t code[] = {0x0f, 0x05, 0xcc};
      memcpy(m, code, sizeof(code));
    }
    struct regs r = attack_regs(a, target, site);
    long ret = escape_jump(&r);
    if (a == kClone && ret == 0) {
      /* The clone's child: leave at once, through the stub too (it may be one the sentry does
       * not know, whose own syscalls would not reach the sentry). */
      struct regs ex = {.rax = SYS_exit_group, .target = (long)(MOAT_STUB_BASE + 0x13)};
      escape_jump(&ex);
      _exit(0);
    }
    char line[96];
    int n = snprintf(line, sizeof(line), "returned %ld\n", ret);
    (void)!write(p[1], line, n);
    if (a == kClone && ret > 0) {
      n = snprintf(line, sizeof(line), "clone child %ld known to the sandbox: %s\n", ret,
                   sandbox_knows(ret) ? "yes" : "no");
      (void)!write(p[1], line, n);
    }
    _exit(0);
  }
  close(p[1]);
  char buf[512] = {0};
  size_t len = 0;
  struct pollfd pfd = {p[0], POLLIN, 0};
  for (;;) {
    if (poll(&pfd, 1, 1000) <= 0) break;
    long n = read(p[0], buf + len, sizeof(buf) - 1 - len);
    if (n <= 0) break;
    len += n;
  }
  close(p[0]);
  int status = 0;
  if (waitpid(child, &status, WNOHANG) == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    snprintf(buf + len, sizeof(buf) - len, "(hung; killed)\n");
  }
  char* nl;
  while ((nl = strchr(buf, '\n')) && nl[1]) *nl = ';';
  if ((nl = strchr(buf, '\n'))) *nl = 0;
  printf("try: %s %s -> %s [%s]%s\n", where, kAttackNames[a], buf[0] ? buf : "(nothing)",
         WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited",
         trusted ? "" : " (result not judged)");
  if (!trusted) return;
  /* A result says whether the host did it: a success of anything but clone is an escape (the
   * sandbox has no such host path, pid or mount to succeed on); a clone's child must be the
   * sandbox's. The host-side effects are the driver's to check as well. */
  const char* ret = strstr(buf, "returned ");
  long v = ret ? strtol(ret + 9, NULL, 10) : -1;
  const char* rax = strstr(buf, "rax ");
  if (!ret && rax) v = strtol(rax + 4, NULL, 10);
  if ((ret || rax) && v >= 0 && a != kClone && a != kExec && a != kExecStubFd)
    escaped("%s from %s succeeded (%ld)", kAttackNames[a], where, v);
  if (strstr(buf, "known to the sandbox: no"))
    escaped("clone from %s made a host process the sandbox does not know", where);
}

/* Copies the stub's code page (through write(2) into a pipe, which fails with EFAULT where it is
 * not readable) and lists its `syscall` instructions. */
static int find_sites(uint64_t* sites, int max, uint8_t* code) {
  int p[2];
  if (pipe(p) < 0) return 0;
  long total = 0;
  for (long off = 0; off < MOAT_STUB_CODE_SIZE; off += 4096) {
    long n = write(p[1], (void*)(MOAT_STUB_BASE + off), 4096);
    if (n != 4096 || read(p[0], code + off, 4096) != 4096) {
      printf("  stub page %#lx: not readable (%s)\n", off, n < 0 ? strerrorname_np(errno) : "short");
      break;
    }
    total += n;
  }
  tried("copy of the stub's code page", total, 0);
  close(p[0]);
  close(p[1]);
  int count = 0;
  for (int i = 0; i + 1 < total && count < max; i++) {
    if (code[i] == 0x0f && code[i + 1] == 0x05) sites[count++] = MOAT_STUB_BASE + i;
  }
  return count;
}

/* Part 2: the ptrace platform injects syscalls by pointing the thread at the gadget; code the
 * application wrote there runs first. The hook opens a host file, then does what the gadget
 * does. Its result lands in g_hook_result. */
long g_hook_result = -1000;
char g_hook_path[700];
extern char hook_start[], hook_end[];
__asm__(
    ".text\n"
    "hook_start:\n"
    "  sub $256, %rsp\n" /* past the red zone of whatever the thread was doing */
    "  push %rdi\n  push %rsi\n  push %rdx\n  push %r10\n  push %r8\n  push %r9\n  push %r12\n"
    "  mov $257, %eax\n"   /* openat */
    "  mov $-100, %rdi\n"  /* AT_FDCWD */
    "  lea g_hook_path(%rip), %rsi\n"
    "  mov $0x41, %edx\n"  /* O_CREAT | O_WRONLY */
    "  mov $0644, %r10d\n"
    "  syscall\n"
    "  mov %rax, g_hook_result(%rip)\n"
    "  pop %r12\n  pop %r9\n  pop %r8\n  pop %r10\n  pop %rdx\n  pop %rsi\n  pop %rdi\n"
    "  add $256, %rsp\n"
    "  mov %r12, %rax\n"
    "  syscall\n"
    "  int3\n"
    "hook_end:\n");

static void hijack_gadget(void) {
  pid_t child = fork();
  if (child == 0) {
    snprintf(g_hook_path, sizeof(g_hook_path), "%s/stub-hijack", g_hostdir);
    uint64_t page = MOAT_STUB_BASE;
    long r = mprotect((void*)page, MOAT_STUB_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
    tried("mprotect(stub code, rwx)", r, errno);
    if (r < 0) {
      /* Replace the page instead: copy it into anonymous memory mapped over it. */
      static uint8_t copy[MOAT_STUB_CODE_SIZE];
      uint64_t sites[1];
      find_sites(sites, 0, copy);
      void* m = mmap((void*)page, MOAT_STUB_CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      tried("mmap(MAP_FIXED over the stub code)", m == MAP_FAILED ? -1 : 0, errno);
      if (m == MAP_FAILED) _exit(3);
      memcpy(m, copy, sizeof(copy));
    }
    /* movabs $hook_start, %rax; jmp *%rax at the gadget. */
    uint8_t* g = (uint8_t*)(MOAT_STUB_BASE + 0x10);
    uint64_t to = (uint64_t)hook_start;
    g[0] = 0x48, g[1] = 0xb8;
    memcpy(g + 2, &to, 8);
    g[10] = 0xff, g[11] = 0xe0;
    /* Provoke injections: an mmap of a file (the sentry installs the fd and maps it), a fork. */
    int fd = open("/proc/self/exe", O_RDONLY);
    void* m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    tried("mmap(own executable) after the gadget was rewritten", m == MAP_FAILED ? -1 : 0, errno);
    printf("  the hook ran: openat from it returned %ld\n", g_hook_result);
    if (g_hook_result >= 0) escaped("a syscall of code written at the gadget reached the host");
    pid_t c = fork();
    if (c == 0) _exit(0);
    if (c > 0) waitpid(c, NULL, 0);
    printf("  after a fork: %ld\n", g_hook_result);
    if (g_hook_result >= 0) escaped("a syscall of code written at the gadget reached the host");
    _exit(g_escapes ? 1 : 0);
  }
  int status;
  waitpid(child, &status, 0);
  printf("try: hijack of the injection gadget -> %s %d\n",
         WIFEXITED(status) ? "exit" : "signal",
         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1) g_escapes++;
}

/* Part 3: the application's own code at the stub's addresses: a `syscall; int3` on a fresh
 * anonymous page mapped over the stub's code, in a child for each attack. */
static void replace_page(void) {
  for (int a = 0; a < kAttacks; a++)
    attempt("own code at the stub's address", MOAT_STUB_BASE, (enum attack)a, 100 + a, 1);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  const char* hostdir = arg("hostdir");
  g_canary = arg("canary");
  if (!hostdir || !g_canary) {
    broken("usage: stub_syscall pids=FILE hostdir=HOSTDIR canary=HOSTPATH");
    return finish("stub_syscall");
  }
  snprintf(g_hostdir, sizeof(g_hostdir), "%s", hostdir);
  const char* only = arg("only");
  g_only_clone = only && strcmp(only, "clone") == 0;
  const char* name = g_only_clone ? "stub_clone" : "stub_syscall";
  wait_pids();
  if (g_sentry <= 0 || g_victim <= 0) broken("no host pids for the sentry and the victim");

  static uint8_t code[MOAT_STUB_CODE_SIZE];
  uint64_t sites[64];
  int n = find_sites(sites, 64, code);
  g_code = code;
  printf("the stub's code page at %#llx holds %d syscall instructions\n",
         (unsigned long long)MOAT_STUB_BASE, n);
  if (n < 3) broken("found %d syscall instructions in the stub page (want several)", n);
  for (int i = 0; i < n; i++) {
    char where[64];
    snprintf(where, sizeof(where), "stub+%#llx", (unsigned long long)(sites[i] - MOAT_STUB_BASE));
    for (int a = 0; a < kAttacks; a++) attempt(where, sites[i], (enum attack)a, i, 0);
  }
  if (!g_only_clone) hijack_gadget();
  replace_page();
  return finish(name);
}
