#include "runsc/gofer_filter.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/status_macros.h"
#include "platform/filter_builder.h"

namespace moat::runsc {
namespace {

constexpr platform::AllowedSyscall kAllowed[] = {
    // The file operations of gofer/server.cc, all relative to an fd it holds.
    {SCMP_SYS(openat), "Open and Walk: a component under a directory fd, O_NOFOLLOW, or a node "
                       "reopened through its /proc/self/fd link"},
    {SCMP_SYS(newfstatat), "Walk and Stat: a component, or a node (AT_EMPTY_PATH)"},
    {SCMP_SYS(fstat), "Stat of a node"},
    {SCMP_SYS(statx), "Stat of a node (glibc's fstatat may use it)"},
    {SCMP_SYS(fstatfs), "StatFs"},
    {SCMP_SYS(readlinkat), "ReadLink"},
    {SCMP_SYS(getdents64), "ReadDir"},
    {SCMP_SYS(lseek), "ReadDir's rewind"},
    {SCMP_SYS(mkdirat), "MkDir"},
    {SCMP_SYS(mknodat), "MkNod: FIFOs and sockets (no device: the gofer has no CAP_MKNOD)"},
    {SCMP_SYS(symlinkat), "Symlink"},
    {SCMP_SYS(linkat), "Link"},
    {SCMP_SYS(unlinkat), "Unlink and RmDir"},
    {SCMP_SYS(renameat), "Rename"},
    {SCMP_SYS(renameat2), "Rename (glibc's renameat)"},
    {SCMP_SYS(fchmod), "SetStat's mode"},
    {SCMP_SYS(fchmodat), "SetStat's mode through a node's /proc/self/fd link"},
    {SCMP_SYS(fchown), "owners of created nodes"},
    {SCMP_SYS(fchownat), "SetStat's owner, and owners of created nodes"},
    {SCMP_SYS(utimensat), "SetStat's times"},
    {SCMP_SYS(ftruncate), "SetStat's size"},
    {SCMP_SYS(fchdir), "Connect: into its /proc/self/fd, to name a socket file relatively"},
    {SCMP_SYS(connect), "Connect to a host unix socket in a bind mount"},
    // Its sockets to the sentry.
    {SCMP_SYS(recvmsg), "requests"},
    {SCMP_SYS(sendmsg), "replies, with the fds it donates"},
    {SCMP_SYS(read), "fds"},
    {SCMP_SYS(write), "its log"},
    {SCMP_SYS(writev), "its log"},
    {SCMP_SYS(close), "fds"},
    {SCMP_SYS(fcntl), "fds' flags"},
    {SCMP_SYS(dup), "fds"},
    // One thread per export.
    {SCMP_SYS(clone), "threads (clone3 fails with ENOSYS, so glibc falls back to clone)"},
    {SCMP_SYS(futex), "locks"},
    {SCMP_SYS(set_robust_list), "threads"},
    {SCMP_SYS(rseq), "threads (glibc registers it)"},
    {SCMP_SYS(madvise), "thread stacks"},
    {SCMP_SYS(mmap), "memory"},
    {SCMP_SYS(munmap), "memory"},
    {SCMP_SYS(mprotect), "memory (thread stacks' guard pages)"},
    {SCMP_SYS(brk), "malloc's heap"},
    {SCMP_SYS(rt_sigprocmask), "threads"},
    {SCMP_SYS(rt_sigaction), "signal handlers"},
    {SCMP_SYS(rt_sigreturn), "signal handlers"},
    {SCMP_SYS(sched_getparam), "abseil's mutexes read their thread's priority"},
    {SCMP_SYS(sched_getscheduler), "abseil's mutexes read their thread's policy"},
    {SCMP_SYS(sched_yield), "spinning waits"},
    {SCMP_SYS(getpid), "its log"},
    {SCMP_SYS(gettid), "its log"},
    {SCMP_SYS(clock_gettime), "its log"},
    {SCMP_SYS(gettimeofday), "its log"},
    {SCMP_SYS(nanosleep), "retries"},
    {SCMP_SYS(exit), "threads"},
    {SCMP_SYS(exit_group), "itself"},
    {SCMP_SYS(restart_syscall), "interrupted waits"},
};

}  // namespace

absl::StatusOr<std::vector<sock_filter>> BuildGoferFilter() {
  platform::FilterBuilder f(SCMP_ACT_ERRNO(EPERM));
  f.KillOtherArchitectures();
  f.Allow(kAllowed);
  // glibc starts threads with clone3 and falls back to clone only on ENOSYS; clone3's flags are
  // out of a filter's reach.
  f.Rule(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3));
  // Unix sockets only: the sockets Connect hands the sentry.
  f.Rule(SCMP_ACT_ALLOW, SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
  return f.Export();
}

absl::Status InstallGoferFilter() {
  ASSIGN_OR_RETURN(std::vector<sock_filter> prog, BuildGoferFilter());
  return platform::InstallOnProcess(prog, "the gofer's");
}

}  // namespace moat::runsc
