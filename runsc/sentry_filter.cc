#include "runsc/sentry_filter.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/status_macros.h"
#include "platform/filter_builder.h"
#include "platform/platform.h"

namespace moat::runsc {
namespace {

// Allowed whatever their arguments. Most act on an fd the sentry holds, on its own memory, or on
// its own processes; none names a host path.
constexpr platform::AllowedSyscall kAllowed[] = {
    // Memory: its own, and the application's through the memfds it shares with it.
    {SCMP_SYS(mmap), "memory, and mappings of the memfds behind the application's memory"},
    {SCMP_SYS(munmap), "memory"},
    {SCMP_SYS(mprotect), "memory (thread stacks' guard pages)"},
    {SCMP_SYS(madvise), "memory (malloc returning pages, MADV_DONTNEED of tmpfs pages)"},
    {SCMP_SYS(mremap), "memory (growing buffers)"},
    {SCMP_SYS(brk), "malloc's heap"},
    {SCMP_SYS(memfd_create), "tmpfs files, the application's anonymous memory, the stub image"},
    {SCMP_SYS(membarrier), "the platform's and the stub's memory ordering"},
    // Files it holds: host files the gofer donated, pipes, sockets, eventfds, memfds.
    {SCMP_SYS(read), "fds"},
    {SCMP_SYS(write), "fds"},
    {SCMP_SYS(readv), "fds"},
    {SCMP_SYS(writev), "fds"},
    {SCMP_SYS(pread64), "fds"},
    {SCMP_SYS(pwrite64), "fds"},
    {SCMP_SYS(preadv), "fds"},
    {SCMP_SYS(pwritev), "fds"},
    {SCMP_SYS(preadv2), "fds"},
    {SCMP_SYS(pwritev2), "fds"},
    {SCMP_SYS(lseek), "fds"},
    {SCMP_SYS(fstat), "fds"},
    {SCMP_SYS(fstatfs), "fds: statfs of a donated host file"},
    {SCMP_SYS(ftruncate), "fds: memfds (tmpfs) and donated host files"},
    {SCMP_SYS(fallocate), "fds: memfds (tmpfs) and donated host files"},
    {SCMP_SYS(fsync), "fds: fsync(2) of a donated host file"},
    {SCMP_SYS(fdatasync), "fds: fdatasync(2) of a donated host file"},
    {SCMP_SYS(sync_file_range), "fds: sync_file_range(2) of a donated host file"},
    {SCMP_SYS(fadvise64), "fds: posix_fadvise(2) of a donated host file"},
    {SCMP_SYS(flock), "fds"},
    {SCMP_SYS(fcntl), "fds: flags, locks, seals, pipe sizes"},
    {SCMP_SYS(ioctl), "fds: terminals (the host side of the container's), FIONREAD, sockets"},
    {SCMP_SYS(getdents64), "fds: directories the gofer donated"},
    {SCMP_SYS(dup), "fds"},
    {SCMP_SYS(dup2), "fds"},
    {SCMP_SYS(dup3), "fds, and the stub's sysmsg fd"},
    {SCMP_SYS(close), "fds"},
    {SCMP_SYS(close_range), "fds: a new application process closes all but the stub's"},
    {SCMP_SYS(pipe2), "pipes: the platform's and the console's wake-ups"},
    {SCMP_SYS(sendfile), "fds: copying between host files"},
    {SCMP_SYS(splice), "fds"},
    {SCMP_SYS(tee), "fds"},
    {SCMP_SYS(copy_file_range), "fds: copying between donated host files"},
    // Waiting.
    {SCMP_SYS(eventfd2), "wake-ups"},
    {SCMP_SYS(epoll_create1), "waiting on host fds"},
    {SCMP_SYS(epoll_ctl), "waiting on host fds"},
    {SCMP_SYS(epoll_wait), "waiting on host fds"},
    {SCMP_SYS(epoll_pwait), "waiting on host fds"},
    {SCMP_SYS(poll), "waiting on host fds"},
    {SCMP_SYS(ppoll), "waiting on host fds"},
    {SCMP_SYS(select), "waiting on host fds"},
    {SCMP_SYS(pselect6), "waiting on host fds"},
    {SCMP_SYS(timerfd_create), "timers"},
    {SCMP_SYS(timerfd_settime), "timers"},
    {SCMP_SYS(timerfd_gettime), "timers"},
    {SCMP_SYS(futex), "locks and condition variables, and the seccomp_trap platform's wake-ups"},
    {SCMP_SYS(futex_waitv), "the application's (passthrough)"},
    {SCMP_SYS(nanosleep), "sleeps"},
    {SCMP_SYS(clock_nanosleep), "sleeps"},
    {SCMP_SYS(sched_yield), "spinning waits"},
    // Sockets: the control socket, the gofer's, the netstack's packet sockets, hostinet.
    {SCMP_SYS(socketpair), "AF_UNIX pairs: channels to application processes"},
    {SCMP_SYS(bind), "hostinet sockets"},
    {SCMP_SYS(listen), "hostinet sockets"},
    {SCMP_SYS(accept), "hostinet sockets"},
    {SCMP_SYS(accept4), "the control socket, hostinet sockets"},
    {SCMP_SYS(connect), "hostinet sockets (an AF_UNIX path is a lookup in its empty root)"},
    {SCMP_SYS(sendto), "sockets"},
    {SCMP_SYS(recvfrom), "sockets"},
    {SCMP_SYS(sendmsg), "sockets, fds passed to the gofer's and the application's channels"},
    {SCMP_SYS(recvmsg), "sockets, fds the gofer donates"},
    {SCMP_SYS(sendmmsg), "hostinet sockets"},
    {SCMP_SYS(recvmmsg), "hostinet sockets"},
    {SCMP_SYS(shutdown), "sockets"},
    {SCMP_SYS(getsockopt), "sockets"},
    {SCMP_SYS(setsockopt), "sockets"},
    {SCMP_SYS(getsockname), "sockets"},
    {SCMP_SYS(getpeername), "sockets"},
    // Its threads and its application processes (which are its children, in its namespaces).
    {SCMP_SYS(set_robust_list), "threads"},
    {SCMP_SYS(get_robust_list), "the application's (injected)"},
    {SCMP_SYS(set_tid_address), "the application's (injected)"},
    {SCMP_SYS(rseq), "threads (glibc registers it)"},
    {SCMP_SYS(getpid), "itself"},
    {SCMP_SYS(gettid), "itself"},
    {SCMP_SYS(getppid), "itself"},
    {SCMP_SYS(getsid), "itself (a terminal's session)"},
    {SCMP_SYS(getpgid), "itself (a terminal's foreground)"},
    {SCMP_SYS(getuid), "itself"},
    {SCMP_SYS(geteuid), "itself"},
    {SCMP_SYS(getgid), "itself"},
    {SCMP_SYS(getegid), "itself"},
    {SCMP_SYS(getresuid), "itself"},
    {SCMP_SYS(getresgid), "itself"},
    {SCMP_SYS(getrusage), "CPU times of its application threads"},
    {SCMP_SYS(getrlimit), "limits"},
    {SCMP_SYS(prlimit64), "its application processes' host limits"},
    {SCMP_SYS(sched_getaffinity), "CPU sets"},
    {SCMP_SYS(sched_getparam), "abseil's mutexes read their thread's priority"},
    {SCMP_SYS(sched_getscheduler), "abseil's mutexes read their thread's policy"},
    {SCMP_SYS(sched_setaffinity), "its application threads' CPU sets"},
    {SCMP_SYS(getcpu), "the application's (passthrough)"},
    {SCMP_SYS(tgkill), "interrupting application threads, and its own"},
    {SCMP_SYS(tkill), "interrupting threads"},
    {SCMP_SYS(kill), "killing application processes (only those of its PID namespace are seen)"},
    {SCMP_SYS(wait4), "reaping application processes"},
    {SCMP_SYS(waitid), "reaping application processes"},
    {SCMP_SYS(ptrace), "the ptrace platform, and the seccomp_trap platform's injections"},
    {SCMP_SYS(process_vm_readv), "application memory"},
    {SCMP_SYS(process_vm_writev), "application memory"},
    {SCMP_SYS(pidfd_open), "watching application processes"},
    {SCMP_SYS(pidfd_send_signal), "signalling application processes"},
    {SCMP_SYS(setsid), "a new application process leaves the sentry's session"},
    {SCMP_SYS(exit), "threads"},
    {SCMP_SYS(exit_group), "itself"},
    {SCMP_SYS(restart_syscall), "interrupted sleeps"},
    // Signals.
    {SCMP_SYS(rt_sigaction), "handlers"},
    {SCMP_SYS(rt_sigprocmask), "masks"},
    {SCMP_SYS(rt_sigreturn), "handlers"},
    {SCMP_SYS(rt_sigtimedwait), "the thread that takes forwarded signals"},
    {SCMP_SYS(sigaltstack), "the stub's handler stack"},
    // Time and the like.
    {SCMP_SYS(clock_gettime), "time"},
    {SCMP_SYS(clock_getres), "time"},
    {SCMP_SYS(gettimeofday), "time"},
    {SCMP_SYS(time), "time"},
    {SCMP_SYS(getrandom), "randomness (the application's getrandom, ASLR, boot ids)"},
    {SCMP_SYS(uname), "the host's kernel release"},
    {SCMP_SYS(sysinfo), "the host's memory size"},
    {SCMP_SYS(umask), "itself"},
    {SCMP_SYS(arch_prctl), "the application's fs and gs bases (through the stub)"},
    // The rest of the application's passthrough set (platform/filter.cc).
    {SCMP_SYS(msync), "the application's (passthrough)"},
    {SCMP_SYS(mincore), "the application's (passthrough)"},
    {SCMP_SYS(mlock), "the application's (passthrough)"},
    {SCMP_SYS(munlock), "the application's (passthrough)"},
    {SCMP_SYS(mlock2), "the application's (passthrough)"},
    {SCMP_SYS(mlockall), "the application's (passthrough)"},
    {SCMP_SYS(munlockall), "the application's (passthrough)"},
};

}  // namespace

absl::StatusOr<std::vector<sock_filter>> BuildSentryFilter() {
  platform::FilterBuilder f(SCMP_ACT_TRACE(0));
  f.KillOtherArchitectures();
  const uint32_t allow = SCMP_ACT_ALLOW;
  f.Allow(kAllowed);
  // Every syscall the application's filter lets through must pass this one too (see the header).
  for (int nr : platform::PassthroughSyscalls()) f.Rule(allow, nr);

  // Sockets of the families it serves: AF_UNIX (the control socket's connections, channels),
  // AF_INET and AF_INET6 (hostinet), AF_NETLINK (hostinet's route queries). AF_PACKET sockets
  // are opened before the sentry is confined.
  for (scmp_datum_t family : {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}) {
    f.Rule(allow, SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, family));
  }
  // Opening only through a directory fd it holds (its proc instance: base/host_proc.h), and
  // never creating: there is nothing else in its empty root to open.
  f.Rule(allow, SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT | O_TMPFILE, 0));
  // stat of an fd (glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH)).
  f.Rule(allow, SCMP_SYS(newfstatat), SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
  f.Rule(allow, SCMP_SYS(statx), SCMP_A2(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
  // Threads, and application processes: no namespace but a PID one, for a new sandbox init.
  constexpr uint64_t kOtherNamespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                        CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWCGROUP;
  f.Rule(allow, SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, kOtherNamespaces, 0));
  // Into an application PID namespace to start an exec'd process there, and back.
  f.Rule(allow, SCMP_SYS(setns), SCMP_A1(SCMP_CMP_EQ, CLONE_NEWPID));
  // A new application process: its filter, set up before it execs the stub from its memfd (no
  // path), and the filters the sentry injects into it later.
  f.Rule(allow, SCMP_SYS(seccomp), SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
  f.Rule(allow, SCMP_SYS(execveat), SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH));
  // Naming threads, and a new application process's no_new_privs and death signal.
  for (scmp_datum_t option : {PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
                     PR_GET_DUMPABLE}) {
    f.Rule(allow, SCMP_SYS(prctl), SCMP_A0(SCMP_CMP_EQ, option));
  }
  return f.Export();
}

absl::Status InstallSentryFilter() {
  ASSIGN_OR_RETURN(std::vector<sock_filter> prog, BuildSentryFilter());
  return platform::InstallOnProcess(prog, "the sentry's");
}

}  // namespace moat::runsc
