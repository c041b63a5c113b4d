#include "platform/spawn.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

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
  sock_fprog gate;  // len 0: none
};

// A one-byte message with room for one fd, for sendmsg or recvmsg (RootMain's clone gate).
struct OneFdMessage {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  char byte = 0;
  iovec iov{&byte, 1};
  msghdr msg{};

  OneFdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  OneFdMessage(const OneFdMessage&) = delete;
  OneFdMessage& operator=(const OneFdMessage&) = delete;
};

// Sends `fd` over the socket `sock` (raw syscalls: RootMain).
bool SendFd(int sock, int fd) {
  OneFdMessage m;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &m.msg, MSG_NOSIGNAL) == 1;
}

// Runs in a new root process (pid 1 of a new PID namespace, or a process that joins the
// namespace of one), a clone of a multi-threaded process: raw syscalls only.
int RootMain(void* arg) {
  auto* a = static_cast<RootArgs*>(arg);
  // The process dies with the sentry: nothing else would end it (pid 1 of its namespace, or a
  // member of that namespace, it would sleep in its stub for good). The signal follows the
  // spawner thread (below), which lives as long as the sentry. Set first, so that the read of
  // `sync` covers the sentry dying before: the sentry's end of the pipe is then closed, and the
  // read sees its end. It holds through the exec of the stub, which gains no privilege (a change
  // of credentials would clear it: whoever adds one here must set the signal again after it).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) _exit(125);
  // No host core dump (core_pattern may name a file, or a helper run by the host's root, fed
  // the application's memory).
  struct rlimit no_core {};
  setrlimit(RLIMIT_CORE, &no_core);
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
  // The clone gate goes first, and its listener to the sentry (RootOptions::gate_filter).
  if (a->gate.len) {
    int listener = static_cast<int>(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                            SECCOMP_FILTER_FLAG_NEW_LISTENER, &a->gate));
    if (listener < 0 || !SendFd(stub::kChannelFd, listener)) _exit(125);
    close(listener);
  }
  if (a->prog.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &a->prog) < 0) _exit(125);
  syscall(SYS_execveat, stub::kStubFd, "", nullptr, nullptr, AT_EMPTY_PATH);
  _exit(126);
}

// The thread every root process is cloned from. PR_SET_PDEATHSIG fires when the thread that
// made a process ends, not its process; a task thread ends with its task while the process it
// spawned may go on (its leader thread exited, or it was `runsc exec`'s and its task thread is
// not its only one), so no task thread can be the parent. This one never ends before the sentry.
// It also keeps the clones away from the task threads' waitpid(-1, __WNOTHREAD).
class Spawner {
 public:
  static Spawner& Get() {
    static Spawner* s = new Spawner();  // lives as long as the sentry
    return *s;
  }

  // Clones RootMain with `args` on the spawner thread: in the PID namespace of `pidns_fd` (a
  // pidfd) if it is not -1, else in a new one or the sentry's as `flags` say. Returns the pid,
  // or -1 with errno (ENOMEM: the namespace's init has exited, as clone says it).
  pid_t Clone(RootArgs* args, int flags, int pidns_fd) {
    pid_t pid = -1;
    int err = 0;
    Run([&] {
      pid = CloneHere(args, flags, pidns_fd);
      err = errno;
    });
    errno = err;
    return pid;
  }

 private:
  Spawner() : self_pidfd_(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0))) {
    if (!self_pidfd_.valid()) LOG_ERROR("pidfd_open(self): {}", LastErrno().Name());
    // No host signal is for this thread; its clones reset their own mask.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    std::thread([this] { Loop(); }).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  // Runs `job` on the spawner thread and returns once it has run.
  void Run(const std::function<void()>& job) {
    absl::MutexLock caller(&call_mu_);
    absl::MutexLock l(&mu_);
    job_ = &job;
    mu_.Await(absl::Condition(+[](const std::function<void()>** j) { return *j == nullptr; },
                              &job_));
  }

  pid_t CloneHere(RootArgs* args, int flags, int pidns_fd) {
    constexpr size_t kStackSize = 256 * 1024;
    void* stack =
        mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return -1;
    // setns changes the namespace of this thread's future children only, and it leaves again
    // right after the clone (a thread whose children would go to another PID namespace cannot
    // create threads; this one creates none, but the next clone may be for a new namespace).
    pid_t pid = -1;
    int err = 0;
    if (pidns_fd >= 0 && setns(pidns_fd, CLONE_NEWPID) < 0) {
      err = errno == ESRCH ? ENOMEM : errno;
    } else {
      pid = clone(RootMain, static_cast<char*>(stack) + kStackSize, flags | SIGCHLD, args);
      err = errno;
      if (pidns_fd >= 0 && setns(self_pidfd_.get(), CLONE_NEWPID) < 0)
        LOG_ERROR("setns back to the sentry's PID namespace: {}", LastErrno().Name());
    }
    munmap(stack, kStackSize);  // the child has its own copy of the address space
    errno = err;
    return pid;
  }

  void Loop() {
    absl::MutexLock l(&mu_);
    for (;;) {
      mu_.Await(absl::Condition(+[](const std::function<void()>** j) { return *j != nullptr; },
                                &job_));
      (*job_)();
      job_ = nullptr;
    }
  }

  FileDescriptor self_pidfd_;  // the sentry's own, to leave the sandbox's PID namespace again
  absl::Mutex call_mu_;  // one job at a time; taken before mu_
  absl::Mutex mu_;
  const std::function<void()>* job_ ABSL_GUARDED_BY(mu_) = nullptr;
};

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
                           const_cast<sock_filter*>(options.filter.data())},
                sock_fprog{static_cast<unsigned short>(options.gate_filter.size()),
                           const_cast<sock_filter*>(options.gate_filter.data())}};
  pid_t pid = Spawner::Get().Clone(&args, options.clone_flags, options.pidns_fd);
  int clone_errno = errno;
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

absl::StatusOr<FileDescriptor> ReleaseWithGate(RootProcess& root) {
  FileDescriptor pidfd(static_cast<int>(syscall(SYS_pidfd_open, root.pid, 0)));
  if (!pidfd) return ErrnoStatus("pidfd_open(a new root process)");
  if (write(root.sync.get(), "x", 1) != 1) return ErrnoStatus("write(root sync)");
  // It installs the gate and sends the listener at once; or it dies (its pidfd is readable).
  int sock = root.channel->sentry_end.get();
  pollfd fds[2] = {{sock, POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
  for (;;) {
    int n = poll(fds, 2, absl::ToInt64Milliseconds(kRootStartTimeout));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("poll(a new root process's channel)");
    if (n == 0) return absl::DeadlineExceededError("a new root process sent no clone gate");
    break;
  }
  if (!(fds[0].revents & POLLIN))
    return absl::InternalError("a new root process died before it sent its clone gate");
  OneFdMessage m;
  if (recvmsg(sock, &m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1)
    return ErrnoStatus("recvmsg(a new root process's clone gate)");
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return absl::InternalError("a new root process's channel message carries no fd");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return FileDescriptor(fd);
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
  if (!init_pidfd.valid()) return ErrnoStatus("pidfd_open");
  absl::MutexLock lock(&mu_);
  init_pidfd_ = std::move(init_pidfd);
  return absl::OkStatus();
}

absl::StatusOr<CloneResult> SandboxPidNamespace::Spawn(
    const std::function<absl::StatusOr<CloneResult>(int pidns_fd)>& spawn) {
  absl::MutexLock lock(&mu_);
  if (!init_pidfd_.valid())
    return absl::FailedPreconditionError("spawn: the sandbox has no init process");
  return spawn(init_pidfd_.get());
}

}  // namespace moat::platform
