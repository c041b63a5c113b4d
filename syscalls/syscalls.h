// Syscall handlers: one file per family, one signature for all. Handlers are thin: they decode
// the arguments, call into sentry/, and encode the result. Each names the syscall it implements.
#ifndef MOAT_SYSCALLS_SYSCALLS_H_
#define MOAT_SYSCALLS_SYSCALLS_H_

#include <string>

#include "base/errno.h"
#include "base/user_addr.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/task.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::syscalls {

using kernel::SyscallArgs;
using kernel::Task;

// The table of every x86-64 syscall (table.cc).
const kernel::SyscallTable& Table();

// ---- Helpers shared by the handlers (helpers.cc) ----

// Copies the path in, then resolves it with Task::ResolveAt.
Result<vfs::Path> ResolveUserPath(Task& t, int dirfd, UserAddr path, int at_flags,
                                  bool must_be_dir = false);
// The RLIMIT_NOFILE soft limit of the task's process.
uint64_t FdLimit(Task& t);
// Queues a signal a syscall raises for its own thread: SIGPIPE (a write to a pipe or socket
// without a reader) or SIGXFSZ (a write past RLIMIT_FSIZE).
void SendSelfSignal(Task& t, int sig);

// fcntl's record-lock commands (lock.cc) and memfd seal commands (memfd.cc).
Result<long> FcntlLock(Task& t, vfs::FileDescription& f, int cmd, UserAddr arg);
Result<long> FcntlSeals(Task& t, vfs::FileDescription& f, int cmd, uint32_t arg);
// fcntl's ownership, signal, dnotify and lease commands (fasync.cc).
Result<long> FcntlAsync(Task& t, int fd, vfs::FileDescription& f, int cmd, uint64_t arg);

// ---- Handlers ----
#define MOAT_SYSCALL(name) Result<long> name(Task& t, const SyscallArgs& a)

// process.cc
MOAT_SYSCALL(Getpid); MOAT_SYSCALL(Gettid); MOAT_SYSCALL(Getppid); MOAT_SYSCALL(Fork);
MOAT_SYSCALL(Vfork); MOAT_SYSCALL(Clone); MOAT_SYSCALL(Clone3); MOAT_SYSCALL(Execve);
MOAT_SYSCALL(Execveat); MOAT_SYSCALL(Exit); MOAT_SYSCALL(ExitGroup); MOAT_SYSCALL(Wait4);
MOAT_SYSCALL(Waitid); MOAT_SYSCALL(SetTidAddress); MOAT_SYSCALL(Setpgid); MOAT_SYSCALL(Getpgid);
MOAT_SYSCALL(Getpgrp); MOAT_SYSCALL(Setsid); MOAT_SYSCALL(Getsid); MOAT_SYSCALL(Prctl);
MOAT_SYSCALL(ArchPrctl); MOAT_SYSCALL(SetRobustList); MOAT_SYSCALL(GetRobustList);
MOAT_SYSCALL(Unshare);

// seccomp.cc
MOAT_SYSCALL(Seccomp);
// seccomp(2) by operation, for prctl(PR_SET_SECCOMP) too.
Result<long> DoSeccomp(Task& t, uint32_t op, uint32_t flags, UserAddr uargs);

// signal.cc
MOAT_SYSCALL(RtSigaction); MOAT_SYSCALL(RtSigprocmask); MOAT_SYSCALL(RtSigreturn);
MOAT_SYSCALL(RtSigpending); MOAT_SYSCALL(RtSigsuspend); MOAT_SYSCALL(RtSigtimedwait);
MOAT_SYSCALL(RtSigqueueinfo); MOAT_SYSCALL(RtTgsigqueueinfo); MOAT_SYSCALL(Kill);
MOAT_SYSCALL(Tkill); MOAT_SYSCALL(Tgkill); MOAT_SYSCALL(Sigaltstack); MOAT_SYSCALL(Pause);

// time.cc
MOAT_SYSCALL(Nanosleep); MOAT_SYSCALL(ClockNanosleep); MOAT_SYSCALL(ClockGettime);
MOAT_SYSCALL(ClockGetres); MOAT_SYSCALL(ClockSettime); MOAT_SYSCALL(Gettimeofday);
MOAT_SYSCALL(Settimeofday); MOAT_SYSCALL(Time); MOAT_SYSCALL(Alarm); MOAT_SYSCALL(Setitimer);
MOAT_SYSCALL(Getitimer); MOAT_SYSCALL(TimerCreate); MOAT_SYSCALL(TimerSettime);
MOAT_SYSCALL(TimerGettime); MOAT_SYSCALL(TimerGetoverrun); MOAT_SYSCALL(TimerDelete);
MOAT_SYSCALL(Times); MOAT_SYSCALL(RestartSyscall); MOAT_SYSCALL(Adjtimex);

// identity.cc
MOAT_SYSCALL(Getuid); MOAT_SYSCALL(Geteuid); MOAT_SYSCALL(Getgid); MOAT_SYSCALL(Getegid);
MOAT_SYSCALL(Getresuid); MOAT_SYSCALL(Getresgid); MOAT_SYSCALL(Setuid); MOAT_SYSCALL(Setgid);
MOAT_SYSCALL(Setreuid); MOAT_SYSCALL(Setregid); MOAT_SYSCALL(Setresuid); MOAT_SYSCALL(Setresgid);
MOAT_SYSCALL(Setfsuid); MOAT_SYSCALL(Setfsgid); MOAT_SYSCALL(Getgroups); MOAT_SYSCALL(Setgroups);
MOAT_SYSCALL(Capget); MOAT_SYSCALL(Capset);

// misc.cc
MOAT_SYSCALL(Uname); MOAT_SYSCALL(Sethostname); MOAT_SYSCALL(Setdomainname);
MOAT_SYSCALL(Getrandom); MOAT_SYSCALL(Sysinfo); MOAT_SYSCALL(Getrlimit); MOAT_SYSCALL(Setrlimit);
MOAT_SYSCALL(Prlimit64); MOAT_SYSCALL(Getrusage); MOAT_SYSCALL(Umask); MOAT_SYSCALL(Personality);
MOAT_SYSCALL(SchedGetaffinity); MOAT_SYSCALL(SchedSetaffinity); MOAT_SYSCALL(SchedGetscheduler);
MOAT_SYSCALL(SchedSetscheduler); MOAT_SYSCALL(SchedGetparam); MOAT_SYSCALL(SchedSetparam);
MOAT_SYSCALL(SchedGetPriorityMax); MOAT_SYSCALL(SchedGetPriorityMin);
MOAT_SYSCALL(SchedRrGetInterval); MOAT_SYSCALL(Getpriority); MOAT_SYSCALL(Setpriority);
MOAT_SYSCALL(Membarrier);

// mm.cc
MOAT_SYSCALL(Brk); MOAT_SYSCALL(Mmap);

// file.cc
MOAT_SYSCALL(Open); MOAT_SYSCALL(Openat); MOAT_SYSCALL(Creat); MOAT_SYSCALL(Close);
MOAT_SYSCALL(CloseRange); MOAT_SYSCALL(Dup); MOAT_SYSCALL(Dup2); MOAT_SYSCALL(Dup3);
MOAT_SYSCALL(Fcntl); MOAT_SYSCALL(Mkdir); MOAT_SYSCALL(Mkdirat); MOAT_SYSCALL(Rmdir);
MOAT_SYSCALL(Unlink); MOAT_SYSCALL(Unlinkat); MOAT_SYSCALL(Rename); MOAT_SYSCALL(Renameat);
MOAT_SYSCALL(Renameat2); MOAT_SYSCALL(Link); MOAT_SYSCALL(Linkat); MOAT_SYSCALL(Symlink);
MOAT_SYSCALL(Symlinkat); MOAT_SYSCALL(Readlink); MOAT_SYSCALL(Readlinkat); MOAT_SYSCALL(Chdir);
MOAT_SYSCALL(Fchdir); MOAT_SYSCALL(Getcwd); MOAT_SYSCALL(Access); MOAT_SYSCALL(Faccessat);
MOAT_SYSCALL(Faccessat2); MOAT_SYSCALL(Chmod); MOAT_SYSCALL(Fchmod); MOAT_SYSCALL(Fchmodat);
MOAT_SYSCALL(Fchmodat2);
MOAT_SYSCALL(Chown); MOAT_SYSCALL(Fchown); MOAT_SYSCALL(Lchown); MOAT_SYSCALL(Fchownat);
MOAT_SYSCALL(Truncate); MOAT_SYSCALL(Ftruncate); MOAT_SYSCALL(Mknod); MOAT_SYSCALL(Mknodat);
MOAT_SYSCALL(Utimensat); MOAT_SYSCALL(Utimes); MOAT_SYSCALL(Utime); MOAT_SYSCALL(Futimesat);
MOAT_SYSCALL(Statfs); MOAT_SYSCALL(Fstatfs); MOAT_SYSCALL(Fsync); MOAT_SYSCALL(Fdatasync);
MOAT_SYSCALL(Sync); MOAT_SYSCALL(Syncfs); MOAT_SYSCALL(Chroot); MOAT_SYSCALL(Pipe);
MOAT_SYSCALL(Pipe2); MOAT_SYSCALL(Fadvise64);

// lock.cc
MOAT_SYSCALL(Flock);

// memfd.cc
MOAT_SYSCALL(MemfdCreate);

// file_space.cc
MOAT_SYSCALL(Fallocate); MOAT_SYSCALL(SyncFileRange);

// openat2.cc
MOAT_SYSCALL(Openat2);

// read_write.cc
MOAT_SYSCALL(Read); MOAT_SYSCALL(Write); MOAT_SYSCALL(Pread64); MOAT_SYSCALL(Pwrite64);
MOAT_SYSCALL(Readv); MOAT_SYSCALL(Writev); MOAT_SYSCALL(Preadv); MOAT_SYSCALL(Pwritev);
MOAT_SYSCALL(Preadv2); MOAT_SYSCALL(Pwritev2); MOAT_SYSCALL(Lseek); MOAT_SYSCALL(Getdents64);
MOAT_SYSCALL(Getdents); MOAT_SYSCALL(Ioctl); MOAT_SYSCALL(Sendfile); MOAT_SYSCALL(Splice);
MOAT_SYSCALL(Tee); MOAT_SYSCALL(Vmsplice); MOAT_SYSCALL(CopyFileRange);

// inotify.cc
MOAT_SYSCALL(InotifyInit); MOAT_SYSCALL(InotifyInit1); MOAT_SYSCALL(InotifyAddWatch);
MOAT_SYSCALL(InotifyRmWatch);

// stat.cc
MOAT_SYSCALL(Stat); MOAT_SYSCALL(Fstat); MOAT_SYSCALL(Lstat); MOAT_SYSCALL(Newfstatat);
MOAT_SYSCALL(Statx);

// xattr.cc
MOAT_SYSCALL(Getxattr); MOAT_SYSCALL(Lgetxattr); MOAT_SYSCALL(Fgetxattr); MOAT_SYSCALL(Listxattr);
MOAT_SYSCALL(Llistxattr); MOAT_SYSCALL(Flistxattr); MOAT_SYSCALL(Setxattr); MOAT_SYSCALL(Lsetxattr);
MOAT_SYSCALL(Fsetxattr); MOAT_SYSCALL(Removexattr); MOAT_SYSCALL(Lremovexattr);
MOAT_SYSCALL(Fremovexattr);

// poll.cc
MOAT_SYSCALL(Poll); MOAT_SYSCALL(Ppoll); MOAT_SYSCALL(Select); MOAT_SYSCALL(Pselect6);

// epoll.cc
MOAT_SYSCALL(EpollCreate); MOAT_SYSCALL(EpollCreate1); MOAT_SYSCALL(EpollCtl);
MOAT_SYSCALL(EpollWait); MOAT_SYSCALL(EpollPwait); MOAT_SYSCALL(EpollPwait2);

// eventfd.cc
MOAT_SYSCALL(Eventfd); MOAT_SYSCALL(Eventfd2); MOAT_SYSCALL(TimerfdCreate);
MOAT_SYSCALL(TimerfdSettime); MOAT_SYSCALL(TimerfdGettime); MOAT_SYSCALL(Signalfd);
MOAT_SYSCALL(Signalfd4);

// socket.cc (Socket_: `Socket` names the class in sentry/socket)
MOAT_SYSCALL(Socket_); MOAT_SYSCALL(Socketpair); MOAT_SYSCALL(Bind); MOAT_SYSCALL(Connect);
MOAT_SYSCALL(Listen); MOAT_SYSCALL(Accept); MOAT_SYSCALL(Accept4); MOAT_SYSCALL(Sendto);
MOAT_SYSCALL(Recvfrom); MOAT_SYSCALL(Sendmsg); MOAT_SYSCALL(Recvmsg); MOAT_SYSCALL(Sendmmsg);
MOAT_SYSCALL(Recvmmsg); MOAT_SYSCALL(Getsockopt); MOAT_SYSCALL(Setsockopt);
MOAT_SYSCALL(Getsockname); MOAT_SYSCALL(Getpeername); MOAT_SYSCALL(Shutdown);

#undef MOAT_SYSCALL

}  // namespace moat::syscalls

#endif  // MOAT_SYSCALLS_SYSCALLS_H_
