#include "platform/spawn.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "base/status_macros.h"
#include "base/wire.h"
#include "platform/stub/stub_layout.h"

namespace moat::platform {
namespace {

struct RootArgs {
  int sync_fd;
  int channel_fd;
  int stub_fd;
  int sysmsg_fd;
  bool ignore_signals;
  sock_fprog prog;
};

// Runs in a new root process (pid 1 of a new PID namespace, or a process that joins the
// namespace of one), a clone of a multi-threaded process: raw syscalls only.
int RootMain(void* arg) {
  auto* a = static_cast<RootArgs*>(arg);
  // Move the fds we keep above their fixed numbers (so that no dup2 below clobbers one of them,
  // whatever the fd limit), then to those numbers, and close everything else.
  constexpr int kAbove = stub::kSysmsgFd + 1;
  int sync = fcntl(a->sync_fd, F_DUPFD, kAbove);
  int chan = fcntl(a->channel_fd, F_DUPFD, kAbove);
  int stubfd = fcntl(a->stub_fd, F_DUPFD, kAbove);
  int sysmsg = a->sysmsg_fd < 0 ? -1 : fcntl(a->sysmsg_fd, F_DUPFD, kAbove);
  if (sync < 0 || chan < 0 || stubfd < 0 || (a->sysmsg_fd >= 0 && sysmsg < 0)) _exit(125);
  if (dup2(chan, stub::kChannelFd) < 0 || dup2(stubfd, stub::kStubFd) < 0) _exit(125);
  if (dup2(sync, stub::kSpawnSyncFd) < 0) _exit(125);
  if (sysmsg >= 0 && dup2(sysmsg, stub::kSysmsgFd) < 0) _exit(125);
  syscall(SYS_close_range, 0, stub::kChannelFd - 1, 0);
  syscall(SYS_close_range, sysmsg >= 0 ? stub::kSysmsgFd + 1 : stub::kSpawnSyncFd + 1, ~0U, 0);
  // Host signal state: nothing blocked, and host children reaped by the kernel (the sentry
  // keeps the virtual zombies).
  struct sigaction sa {};
  sa.sa_handler = a->ignore_signals ? SIG_IGN : SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Out of the host terminal's job control: the sentry forwards terminal signals itself.
  setsid();
  char c;
  if (read(stub::kSpawnSyncFd, &c, 1) != 1) _exit(125);  // wait until the sentry is ready
  close(stub::kSpawnSyncFd);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(125);
  if (a->prog.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &a->prog) < 0) _exit(125);
  syscall(SYS_execveat, stub::kStubFd, "", nullptr, nullptr, AT_EMPTY_PATH);
  _exit(126);
}

}  // namespace

void RootProcess::Discard() {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, __WALL);
  pid = -1;
}

absl::StatusOr<RootProcess> CloneRoot(const RootOptions& options) {
  ASSIGN_OR_RETURN(FileDescriptor stub_fd, CreateStubMemfd());
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
    return ErrnoStatus("socketpair(channel)");
  auto channel = std::make_shared<Channel>();
  channel->sentry_end = FileDescriptor(sv[0]);
  FileDescriptor app_end(sv[1]);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return ErrnoStatus("pipe2(root sync)");
  FileDescriptor sync_r(p[0]), sync_w(p[1]);

  RootArgs args{sync_r.get(), app_end.get(), stub_fd.get(), options.sysmsg_fd,
                options.ignore_signals,
                sock_fprog{static_cast<unsigned short>(options.filter.size()),
                           const_cast<sock_filter*>(options.filter.data())}};
  constexpr size_t kStackSize = 256 * 1024;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) return ErrnoStatus("mmap(root stack)");
  pid_t pid = clone(RootMain, static_cast<char*>(stack) + kStackSize,
                    options.clone_flags | SIGCHLD, &args);
  int clone_errno = errno;
  munmap(stack, kStackSize);  // the child has its own copy of the address space
  if (pid < 0) {
    if (options.clone_flags & CLONE_NEWPID) {
      return ErrnoStatus(clone_errno == EPERM
                             ? "clone(CLONE_NEWPID) (runsc needs root or CAP_SYS_ADMIN)"
                             : "clone(CLONE_NEWPID)",
                         clone_errno);
    }
    // A PID namespace whose init has exited allocates no more pids.
    if (clone_errno == ENOMEM)
      return absl::FailedPreconditionError("clone: the sandbox's init process has exited");
    return ErrnoStatus("clone(in the sandbox's PID namespace)", clone_errno);
  }
  return RootProcess{pid, std::move(channel), std::move(sync_w)};
}

Result<int> InstallFdThroughChannel(Context& ctx, Channel& channel, int fd) {
  absl::MutexLock lock(&channel.mu);
  uint64_t seq = channel.next_seq++;
  TRY(wire::SendMessage(channel.sentry_end.get(),
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&seq), sizeof(seq)),
                        std::span<const int>(&fd, 1), MSG_DONTWAIT));
  // Build the recvmsg arguments in the stub's scratch page, which only this lock's holder uses.
  struct Scratch {
    msghdr msg;
    iovec iov;
    uint64_t data;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  };
  for (int attempt = 0; attempt < 16; attempt++) {
    Scratch s{};
    s.iov.iov_base = reinterpret_cast<void*>(stub::kScratch + offsetof(Scratch, data));
    s.iov.iov_len = sizeof(s.data);
    s.msg.msg_iov = reinterpret_cast<iovec*>(stub::kScratch + offsetof(Scratch, iov));
    s.msg.msg_iovlen = 1;
    s.msg.msg_control = reinterpret_cast<void*>(stub::kScratch + offsetof(Scratch, control));
    s.msg.msg_controllen = sizeof(s.control);
    if (TRY(ctx.WriteMemory(stub::kScratch, &s, sizeof(s))) != sizeof(s)) return Errno(EFAULT);
    long r = TRY(ctx.Inject(SYS_recvmsg, {stub::kChannelFd, stub::kScratch,
                                          MSG_CMSG_CLOEXEC | MSG_DONTWAIT, 0, 0, 0}));
    if (r < 0) return Errno(static_cast<int>(-r));
    if (TRY(ctx.ReadMemory(stub::kScratch, &s, sizeof(s))) != sizeof(s)) return Errno(EFAULT);
    int got = -1;
    // The control pointer is the application's; find the cmsg in our copy instead.
    auto* c = reinterpret_cast<cmsghdr*>(s.control);
    if (s.msg.msg_controllen >= CMSG_LEN(sizeof(int)) && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (got >= 0 && s.data == seq) return got;
    // A message left behind by an installation that failed half-way: discard it.
    if (got >= 0) TRY(ctx.Inject(SYS_close, {static_cast<uint64_t>(got), 0, 0, 0, 0, 0}));
  }
  return Errno(EIO);
}

Result<void> InjectFilter(Context& ctx, Channel& channel, std::span<const sock_filter> prog) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()),
                   reinterpret_cast<sock_filter*>(stub::kScratch + sizeof(sock_fprog))};
  if (sizeof(fprog) + prog.size() * sizeof(sock_filter) > stub::kScratchSize) return Errno(E2BIG);
  // The scratch page is shared by the sandbox's injections that take pointers (InstallFd).
  absl::MutexLock lock(&channel.mu);
  if (TRY(ctx.WriteMemory(stub::kScratch, &fprog, sizeof(fprog))) != sizeof(fprog) ||
      TRY(ctx.WriteMemory(stub::kScratch + sizeof(fprog), prog.data(),
                          prog.size() * sizeof(sock_filter))) != prog.size() * sizeof(sock_filter))
    return Errno(EFAULT);
  // TSYNC: every thread of the process, which the process's no_new_privs (set before its first
  // filter) allows. Its other threads all have the same filters, so none can fail to sync.
  long r = TRY(ctx.Inject(SYS_seccomp, {SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                                        stub::kScratch, 0, 0, 0}));
  if (r < 0) return Errno(static_cast<int>(-r));
  if (r > 0) {
    LOG_WARNING("tid {}: host TSYNC of the passthrough trap filter failed at thread {}",
                ctx.host_tid(), r);
    return Errno(EAGAIN);
  }
  return Ok();
}

Result<size_t> ReadThreadMemory(pid_t tid, uint64_t addr, void* dst, size_t n) {
  if (n == 0) return size_t{0};
  iovec local{dst, n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  ssize_t r = process_vm_readv(tid, &local, 1, &remote, 1, 0);
  if (r < 0) return errno == EFAULT ? Result<size_t>(size_t{0}) : Result<size_t>(LastErrno());
  return static_cast<size_t>(r);
}

Result<size_t> WriteThreadMemory(pid_t tid, uint64_t addr, const void* src, size_t n) {
  if (n == 0) return size_t{0};
  iovec local{const_cast<void*>(src), n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  ssize_t r = process_vm_writev(tid, &local, 1, &remote, 1, 0);
  if (r < 0) return errno == EFAULT ? Result<size_t>(size_t{0}) : Result<size_t>(LastErrno());
  return static_cast<size_t>(r);
}

absl::StatusOr<pid_t> SandboxPid(Context& ctx) {
  Result<long> pid = ctx.Inject(SYS_getpid, {});
  if (!pid.ok() || *pid <= 0) {
    return absl::InternalError(fmt::format("the stub does not answer getpid (got {})",
                                           pid.ok() ? fmt::format("{}", *pid) : pid.error().Name()));
  }
  return static_cast<pid_t>(*pid);
}

absl::Status SandboxPidNamespace::Record(pid_t host_pid) {
  FileDescriptor init_pidfd(static_cast<int>(syscall(SYS_pidfd_open, host_pid, 0)));
  FileDescriptor self_pidfd(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
  if (!init_pidfd.valid() || !self_pidfd.valid()) return ErrnoStatus("pidfd_open");
  absl::MutexLock lock(&mu_);
  init_pidfd_ = std::move(init_pidfd);
  self_pidfd_ = std::move(self_pidfd);
  return absl::OkStatus();
}

absl::StatusOr<CloneResult> SandboxPidNamespace::Spawn(
    const std::function<absl::StatusOr<CloneResult>()>& spawn) {
  absl::MutexLock lock(&mu_);
  if (!init_pidfd_.valid())
    return absl::FailedPreconditionError("spawn: the sandbox has no init process");
  // setns changes the namespace of this thread's future children only. A thread whose children
  // would go to another PID namespace cannot create threads (clone(CLONE_THREAD) fails), so the
  // thread leaves it again right after the clone.
  if (setns(init_pidfd_.get(), CLONE_NEWPID) < 0) {
    if (errno == ESRCH)
      return absl::FailedPreconditionError("spawn: the sandbox's init process has exited");
    return ErrnoStatus("setns(the sandbox's PID namespace)");
  }
  absl::StatusOr<CloneResult> result = spawn();
  if (setns(self_pidfd_.get(), CLONE_NEWPID) < 0) {
    // The thread is stuck with children in the sandbox's namespace; it can still run its task.
    LOG_ERROR("setns back to the sentry's PID namespace: {}", LastErrno().Name());
  }
  return result;
}

}  // namespace moat::platform
