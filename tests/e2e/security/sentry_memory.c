/* Case sentry_memory: reaching the sentry, the gofer or another host process by its host pid,
 * through the emulated syscalls (ptrace attach and seize, process_vm_readv/writev, kill,
 * pidfd_open) and through /proc (mem, maps, environ, cmdline, stack, status); device nodes made
 * with mknod for host memory and disks (the driver passes the host's disks as MAJ:MIN); and
 * syscalls whose effect is host-wide (port I/O, keyrings, kernel modules, BPF, perf, swap,
 * sethostname, whose result the driver checks on the host).
 * Usage: sentry_memory pids=FILE [disks=MAJ:MIN,...] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "escape.h"

static void by_pid(const char* who, long pid) {
  char what[128];
  if (pid <= 0) return;
  long r;
  r = ptrace(PTRACE_ATTACH, (pid_t)pid, 0, 0);
  snprintf(what, sizeof(what), "ptrace(ATTACH, %s %ld)", who, pid);
  tried(what, r, errno);
  if (r == 0) escaped("attached to the %s", who);
  r = ptrace(PTRACE_SEIZE, (pid_t)pid, 0, 0);
  snprintf(what, sizeof(what), "ptrace(SEIZE, %s %ld)", who, pid);
  tried(what, r, errno);
  if (r == 0) escaped("seized the %s", who);
  char buf[64];
  struct iovec local = {buf, sizeof(buf)}, remote = {(void*)0x400000, 16};
  r = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
  snprintf(what, sizeof(what), "process_vm_readv(%s %ld)", who, pid);
  tried(what, r, errno);
  if (r >= 0) escaped("process_vm_readv of the %s worked", who);
  r = process_vm_writev((pid_t)pid, &local, 1, &remote, 1, 0);
  snprintf(what, sizeof(what), "process_vm_writev(%s %ld)", who, pid);
  tried(what, r, errno);
  if (r >= 0) escaped("process_vm_writev of the %s worked", who);
  r = kill((pid_t)pid, 0);
  snprintf(what, sizeof(what), "kill(%s %ld, 0)", who, pid);
  tried(what, r, errno);
  r = syscall(SYS_pidfd_open, pid, 0);
  snprintf(what, sizeof(what), "pidfd_open(%s %ld)", who, pid);
  tried(what, r, errno);
  if (r >= 0) {
    long g = syscall(SYS_pidfd_getfd, r, 0, 0);
    snprintf(what, sizeof(what), "pidfd_getfd(%s %ld, 0)", who, pid);
    tried(what, g, errno);
    if (g >= 0) escaped("took fd 0 of the %s", who);
  }
  const char* files[] = {"mem", "maps", "environ", "cmdline", "stack", "status", "auxv",
                         "syscall", "mountinfo"};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    char path[64], data[256];
    snprintf(path, sizeof(path), "/proc/%ld/%s", pid, files[i]);
    long n = read_path(path, data, sizeof(data), O_RDONLY);
    snprintf(what, sizeof(what), "read %s (%s)", path, who);
    tried(what, n < 0 ? -1 : n, n < 0 ? (int)-n : 0);
    /* A sandbox pid of the same number would be the sandbox's own process; the driver's pids
     * are far above what this sandbox has. */
    if (n > 0) escaped("%s of the %s is readable", path, who);
  }
}

static void devices(const char* disks) {
  struct {
    const char* name;
    unsigned maj, min;
  } devs[32] = {{"mem", 1, 1}, {"kmem", 1, 2}, {"port", 1, 4}, {"kmsg", 1, 11}};
  int n = 4;
  char list[256];
  snprintf(list, sizeof(list), "%s", disks ? disks : "");
  for (char* tok = strtok(list, ","); tok && n < 32; tok = strtok(NULL, ",")) {
    unsigned a, b;
    if (sscanf(tok, "%u:%u", &a, &b) == 2) devs[n++] = (typeof(devs[0])){"host disk", a, b};
  }
  for (int i = 0; i < n; i++) {
    char path[64], what[128];
    snprintf(path, sizeof(path), "/tmp/dev-%u-%u", devs[i].maj, devs[i].min);
    long r = mknod(path, S_IFCHR | 0600, makedev(devs[i].maj, devs[i].min));
    if (strcmp(devs[i].name, "host disk") == 0) {
      unlink(path);
      r = mknod(path, S_IFBLK | 0600, makedev(devs[i].maj, devs[i].min));
    }
    snprintf(what, sizeof(what), "mknod(%s %u:%u)", devs[i].name, devs[i].maj, devs[i].min);
    tried(what, r, errno);
    char buf[64];
    long got = read_path(path, buf, sizeof(buf), O_RDONLY);
    snprintf(what, sizeof(what), "open+read %s (%s)", path, devs[i].name);
    tried(what, got < 0 ? -1 : got, got < 0 ? (int)-got : 0);
    if (got > 0) escaped("read the host's %s (%u:%u) through a device node", devs[i].name,
                         devs[i].maj, devs[i].min);
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
      escaped("opened the host's %s (%u:%u) for writing", devs[i].name, devs[i].maj, devs[i].min);
      close(fd);
    }
    unlink(path);
  }
  /* The host's own nodes by name: the sandbox's /dev has none of them. */
  const char* named[] = {"/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/sda",
                         "/dev/vda", "/dev/nvme0n1", "/dev/kvm", "/dev/loop0"};
  for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
    char buf[64], what[128];
    long got = read_path(named[i], buf, sizeof(buf), O_RDONLY);
    snprintf(what, sizeof(what), "open+read %s", named[i]);
    tried(what, got < 0 ? -1 : got, got < 0 ? (int)-got : 0);
    if (got > 0) escaped("read %s", named[i]);
  }
}

static void host_wide(void) {
  long r;
  r = syscall(SYS_iopl, 3);
  tried("iopl(3)", r, errno);
  if (r == 0) escaped("iopl(3) worked: port I/O");
  r = syscall(SYS_ioperm, 0x80, 1, 1);
  tried("ioperm(0x80)", r, errno);
  if (r == 0) escaped("ioperm worked: port I/O");
  r = syscall(SYS_add_key, "user", "moat-escape", "x", 1, -3 /* KEY_SPEC_SESSION_KEYRING */);
  tried("add_key(user, moat-escape)", r, errno);
  r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* USER_KEYRING */, 0);
  tried("keyctl(GET_KEYRING_ID, user keyring)", r, errno);
  r = syscall(SYS_init_module, "garbage", 7, "");
  tried("init_module(garbage)", r, errno);
  r = syscall(SYS_delete_module, "moat_nonexistent", 0);
  tried("delete_module", r, errno);
  r = syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, NULL, 0);
  tried("bpf(PROG_LOAD, NULL)", r, errno);
  r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
  tried("perf_event_open(NULL)", r, errno);
  r = syscall(SYS_swapoff, "/moat-nonexistent");
  tried("swapoff(nonexistent)", r, errno);
  r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
  tried("kexec_load(0 segments)", r, errno);
  if (r == 0) escaped("kexec_load worked");
  r = sethostname("moat-escape-test", 16);
  tried("sethostname(moat-escape-test)", r, errno);
  r = syscall(SYS_acct, "/tmp/acct");
  tried("acct(/tmp/acct)", r, errno);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  wait_pids();
  if (g_sentry <= 0 || g_gofer <= 0 || g_victim <= 0)
    broken("the driver passed no host pids");
  by_pid("sentry", g_sentry);
  by_pid("gofer", g_gofer);
  by_pid("victim", g_victim);
  devices(arg("disks"));
  host_wide();
  return finish("sentry_memory");
}
