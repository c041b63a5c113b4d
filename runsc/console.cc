// The container's terminal and the foreground relay (console.h).
#include "runsc/console.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "base/wire.h"
#include "sentry/fsimpl/devpts.h"
#include "sentry/fsimpl/pty.h"
#include "sentry/vfs/fd_table.h"

namespace moat::runsc {
namespace {

using kernel::EventMask;

constexpr size_t kBufSize = 4096;
// The name runc sends with the master: containerd/console opens "/dev/ptmx".
constexpr char kMasterName[] = "/dev/ptmx";

bool Retry(int err) { return err == EINTR; }

// Wakes the relay by bumping an eventfd: how the sentry's wait queues reach a host thread that
// sleeps in poll(2). Wake runs under the queue's and the pty's locks: one write, nothing else.
class EventfdWaker final : public kernel::Wakeable {
 public:
  explicit EventfdWaker(int fd) : fd_(fd) {}
  void Wake(EventMask) override { Bump(fd_); }
  static void Bump(int fd) {
    const uint64_t one = 1;
    // A full counter (never in practice) already means "awake".
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;
  }
  static void Drain(int fd) {
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof(v));
    (void)n;
  }

 private:
  const int fd_;
};

absl::StatusOr<FileDescriptor> NewEventfd() {
  FileDescriptor fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return ErrnoStatus("eventfd");
  return fd;
}

// The sentry pair's paths: through the container's devpts mount when there is one.
RefPtr<vfs::Mount> DevptsMount(vfs::MountNamespace* mounts) {
  if (!mounts) return nullptr;
  auto creds = kernel::Credentials::New(0, 0);
  vfs::Path root = mounts->Root();
  vfs::ResolveContext ctx{creds.get(), root, mounts};
  Result<vfs::Path> p = vfs::Resolve(ctx, root, "/dev/pts");
  if (!p.ok() || p->dentry != fsimpl::Devpts::Get().root()) return nullptr;
  return p->mount;
}

// Holds SIGPIPE off the calling thread, so that a write to a closed pipe fails with EPIPE
// instead of killing runsc; a SIGPIPE raised meanwhile is taken before the mask is restored.
class ScopedNoSigpipe {
 public:
  ScopedNoSigpipe() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~ScopedNoSigpipe() {
    if (!was_pending_) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec zero{};
      while (sigtimedwait(&pipe, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

absl::StatusOr<HostTerminal> OpenHostTerminal() {
  FileDescriptor m(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!m) return ErrnoStatus("posix_openpt");
  if (grantpt(m.get()) != 0) return ErrnoStatus("grantpt");
  if (unlockpt(m.get()) != 0) return ErrnoStatus("unlockpt");
  // TIOCGPTPEER opens the replica without a path lookup (no /dev/pts needed); older kernels go
  // through the name.
  FileDescriptor r(ioctl(m.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!r) {
    char name[64];
    if (ptsname_r(m.get(), name, sizeof(name)) != 0) return ErrnoStatus("ptsname");
    r.Reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!r) return ErrnoStatus(fmt::format("open({})", name));
  }
  return HostTerminal{std::move(m), std::move(r)};
}

absl::Status SendMasterToSocket(FileDescriptor& master, const std::string& path) {
  if (!master) return absl::FailedPreconditionError("console: the master was handed over");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(fmt::format("console socket {}: bad path length", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  FileDescriptor sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus("socket(AF_UNIX)");
  int r;
  do {
    r = connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (r != 0 && Retry(errno));
  if (r != 0) return ErrnoStatus(fmt::format("connect({})", path));

  const int fd = master.get();
  Result<void> sent = wire::SendMessage(
      sock.get(),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kMasterName), sizeof(kMasterName) - 1),
      std::span<const int>(&fd, 1));
  if (!sent.ok()) return ErrnoStatus(fmt::format("sendmsg({})", path), sent.error());
  master.Reset();
  return absl::OkStatus();
}

// ---- Console ----

absl::StatusOr<std::unique_ptr<Console>> Console::Create(const ConsoleOptions& opts) {
  ASSIGN_OR_RETURN(HostTerminal host, OpenHostTerminal());
  return Create(opts, std::move(host));
}

absl::StatusOr<std::unique_ptr<Console>> Console::Create(const ConsoleOptions& opts,
                                                         HostTerminal host) {
  if (!host.replica) return absl::InvalidArgumentError("console: no host terminal");
  std::unique_ptr<Console> c(new Console());
  c->size_check_ = opts.size_check;
  c->host_master_ = std::move(host.master);
  c->host_replica_ = std::move(host.replica);

  // The host replica only carries bytes: the sentry's line discipline does the terminal's work.
  termios tio;
  if (tcgetattr(c->host_replica_.get(), &tio) != 0) return ErrnoStatus("tcgetattr(host pty)");
  cfmakeraw(&tio);
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  if (tcsetattr(c->host_replica_.get(), TCSANOW, &tio) != 0) {
    return ErrnoStatus("tcsetattr(host pty)");
  }
  int fl = fcntl(c->host_replica_.get(), F_GETFL);
  if (fl < 0 || fcntl(c->host_replica_.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    return ErrnoStatus("fcntl(host pty, O_NONBLOCK)");
  }

  // The sentry pair, opened as /dev/pts/ptmx would open it, and unlocked.
  fsimpl::Devpts& devpts = fsimpl::Devpts::Get();
  RefPtr<vfs::Mount> mount = DevptsMount(opts.mounts);
  Result<RefPtr<vfs::Dentry>> ptmx = devpts.root()->Child("ptmx");
  if (!ptmx.ok()) return ErrnoStatus("devpts ptmx", ptmx.error());
  Result<RefPtr<vfs::FileDescription>> master =
      devpts.OpenMaster(O_RDWR, vfs::Path{mount, *ptmx});
  if (!master.ok()) return ErrnoStatus("open(sandbox ptmx)", master.error());
  auto* pm = dynamic_cast<fsimpl::PtyMaster*>(master->get());
  if (!pm) return absl::InternalError("sandbox ptmx: not a pty master");
  c->master_ = *master;
  c->pty_ = RefPtr<fsimpl::Pty>(&pm->pty());
  c->pty_->Unlock();
  devpts.SetOwner(c->pty_->index(), opts.uid);
  Result<vfs::Path> rpath = devpts.ReplicaPath(*c->pty_, mount);
  if (!rpath.ok()) return ErrnoStatus("sandbox pty path", rpath.error());
  Result<RefPtr<vfs::FileDescription>> replica =
      devpts.OpenReplica(c->pty_->index(), O_RDWR, *rpath);
  if (!replica.ok()) {
    return ErrnoStatus(fmt::format("open(sandbox /dev/pts/{})", c->pty_->index()),
                       replica.error());
  }
  c->replica_ = *replica;

  // The initial size, on both pairs (runc sets it on its master).
  if (opts.size) {
    c->size_.ws_row = static_cast<unsigned short>(opts.size->height);
    c->size_.ws_col = static_cast<unsigned short>(opts.size->width);
    if (ioctl(c->host_replica_.get(), TIOCSWINSZ, &c->size_) != 0) {
      return ErrnoStatus("ioctl(host pty, TIOCSWINSZ)");
    }
    c->pty_->SetWindowSize(c->size_);
  }

  ASSIGN_OR_RETURN(c->wake_, NewEventfd());
  ASSIGN_OR_RETURN(c->pty_wake_, NewEventfd());
  return c;
}

Console::~Console() {
  StopRelay();
  // Closing the sentry master hangs the container's terminal up (Pty::MasterClosed).
  master_.reset();
}

absl::Status Console::SendToSocket(const std::string& path) {
  return SendMasterToSocket(host_master_, path);
}

absl::StatusOr<RefPtr<vfs::FdTable>> Console::TakeStdio() {
  RefPtr<vfs::FileDescription> tty = TakeContainerTty();
  if (!tty) return absl::FailedPreconditionError("console: the terminal was handed over");
  auto fds = MakeRef<vfs::FdTable>();
  for (int fd = 0; fd < 3; fd++) {
    Result<void> r = fds->Set(fd, tty, /*cloexec=*/false, /*limit=*/3);
    if (!r.ok()) return ErrnoStatus(fmt::format("console: installing fd {}", fd), r.error());
  }
  return fds;
}

RefPtr<kernel::Terminal> Console::terminal() const { return RefPtr<kernel::Terminal>(pty_); }

uint32_t Console::index() const { return pty_->index(); }

absl::Status Console::MakeControllingTerminal() {
  if (!host_replica_) return absl::FailedPreconditionError("console: the host terminal is closed");
  RETURN_IF_ERROR(AttachHostControllingTerminal(host_replica_.get()));
  // The engine's close sends SIGHUP to this session's leader, runsc boot: it must not die of it
  // (the container gets its own SIGHUP from the sentry). A caller that takes SIGHUP itself has
  // changed its disposition or blocks it, which an ignored disposition does not disturb.
  struct sigaction sa {};
  if (sigaction(SIGHUP, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, nullptr);
  }
  return absl::OkStatus();
}

void Console::HostResized() { EventfdWaker::Bump(wake_.get()); }

void Console::StartRelay() {
  if (relay_.joinable() || relay_done_.load()) return;
  relay_ = std::thread([this] { Relay(); });
}

void Console::StopRelay() {
  if (!relay_.joinable()) return;
  stop_.store(true);
  EventfdWaker::Bump(wake_.get());
  relay_.join();
}

bool Console::WaitRelay(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!relay_done_.load()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (relay_.joinable()) relay_.join();
  return true;
}

void Console::SyncSize() {
  if (!host_replica_) return;
  winsize ws;
  if (ioctl(host_replica_.get(), TIOCGWINSZ, &ws) != 0) return;
  if (std::memcmp(&ws, &size_, sizeof(ws)) == 0) return;
  size_ = ws;
  pty_->SetWindowSize(ws);
}

// The relay: one thread, never blocking but in poll(2). Each turn moves what can move without
// waiting (container output to the host, engine input to the sentry), then sleeps until the
// host replica, the sentry master (through its wait queue) or a resize or stop wakes it.
void Console::Relay() {
  EventfdWaker waker(pty_wake_.get());
  kernel::WaiterRegistration reg(pty_->master_queue(), &waker,
                                 kernel::kEventIn | kernel::kEventOut | kernel::kEventHup);
  std::array<uint8_t, kBufSize> in{}, out{};
  size_t in_off = 0, in_len = 0, out_off = 0, out_len = 0;
  const int host = host_replica_.get();
  bool container_closed = false;  // every sentry replica closed, its output all read
  bool engine_gone = false;       // the host master closed

  SyncSize();
  while (!stop_.load()) {
    bool moved = false;
    // The container's output (and the sentry's echo) to the engine.
    if (out_off == out_len && !container_closed) {
      Result<size_t> r = pty_->MasterReadNow(out);
      if (r.ok()) {
        out_off = 0;
        out_len = *r;
        moved = moved || *r > 0;
      } else if (r.error().value() == EIO) {
        container_closed = true;
      }
    }
    if (out_off < out_len) {
      ssize_t n = write(host, out.data() + out_off, out_len - out_off);
      if (n > 0) {
        out_off += static_cast<size_t>(n);
        moved = true;
      } else if (n < 0 && errno != EAGAIN && !Retry(errno)) {
        engine_gone = true;  // EIO: the master is closed
        break;
      }
    }
    // The engine's input to the container.
    if (in_off == in_len) {
      ssize_t n = read(host, in.data(), in.size());
      if (n > 0) {
        in_off = 0;
        in_len = static_cast<size_t>(n);
        moved = true;
      } else if (n == 0 || (errno != EAGAIN && !Retry(errno))) {
        // A hung-up terminal reads end of file, or EIO once its master is closed.
        engine_gone = true;
        break;
      }
    }
    if (in_off < in_len) {
      Result<size_t> r = pty_->MasterWriteNow(std::span(in.data() + in_off, in_len - in_off));
      if (r.ok()) {
        in_off += *r;
        moved = true;
      }
    }
    if (container_closed && out_off == out_len) break;
    if (moved) continue;

    const short host_events =
        static_cast<short>((in_off == in_len ? POLLIN : 0) | (out_off < out_len ? POLLOUT : 0));
    pollfd fds[3] = {
        {host, host_events, 0},
        {pty_wake_.get(), POLLIN, 0},
        {wake_.get(), POLLIN, 0},
    };
    const int timeout = size_check_ > absl::ZeroDuration()
                            ? static_cast<int>(absl::ToInt64Milliseconds(size_check_))
                            : -1;
    int n = poll(fds, 3, timeout);
    if (n < 0 && !Retry(errno)) {
      LOG_WARNING("console relay: poll: {}", strerror(errno));
      break;
    }
    if (fds[1].revents) EventfdWaker::Drain(pty_wake_.get());
    if (fds[2].revents) EventfdWaker::Drain(wake_.get());
    // POLLHUP on a pty replica means its master is closed (or it was hung up).
    if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      engine_gone = true;
      break;
    }
    SyncSize();
  }

  if (engine_gone) {
    // As when a terminal's master closes on Linux: the container's session hangs up.
    master_.reset();
    host_replica_.Reset();
    relay_done_.store(true);
  } else if (container_closed) {
    // The engine reads EIO from its master once the last host replica is closed.
    host_replica_.Reset();
    master_.reset();
    relay_done_.store(true);
  }
}

absl::StatusOr<FileDescriptor> ReceiveTerminal(int conn, std::string* name) {
  char data[4096];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && Retry(errno));
  if (n < 0) return ErrnoStatus("recvmsg(console socket)");
  FileDescriptor fd;
  int count = 0;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfds; i++) {
      int f;
      std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      if (count++ == 0) {
        fd.Reset(f);
      } else {
        close(f);
      }
    }
  }
  if (count != 1 || (msg.msg_flags & MSG_CTRUNC)) {
    return absl::InvalidArgumentError(
        fmt::format("console socket: expected one fd, got {}", count));
  }
  if (name) name->assign(data, static_cast<size_t>(n));
  return fd;
}

// ---- The foreground relay ----

ScopedRawTerminal::ScopedRawTerminal(int fd) : fd_(fd) {
  if (!isatty(fd) || tcgetattr(fd, &saved_) != 0) return;
  termios raw = saved_;
  cfmakeraw(&raw);
  // cfmakeraw also clears OPOST: the container's output already went through its own
  // terminal's output processing and must reach the screen unchanged.
  active_ = tcsetattr(fd, TCSANOW, &raw) == 0;
}

ScopedRawTerminal::~ScopedRawTerminal() {
  if (active_) tcsetattr(fd_, TCSANOW, &saved_);
}

namespace {

// The self-pipe of the foreground relay's SIGWINCH handler. One relay at a time per process.
std::atomic<int> g_winch_fd{-1};

void OnWinch(int) {
  const int saved = errno;
  const int fd = g_winch_fd.load();
  if (fd >= 0) EventfdWaker::Bump(fd);
  errno = saved;
}

void CopySize(int from, int to) {
  winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0) ioctl(to, TIOCSWINSZ, &ws);
}

// Writes all of `data` to `fd` (which may be non-blocking), waiting with poll.
absl::Status WriteAll(int fd, const uint8_t* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, -1);
      continue;
    }
    if (n < 0 && Retry(errno)) continue;
    return ErrnoStatus("write(terminal output)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RelayTerminal(int master_fd, const RelayOptions& opts) {
  ScopedNoSigpipe no_sigpipe;
  ScopedRawTerminal raw(opts.in_fd);
  const bool sized = isatty(opts.in_fd);
  ASSIGN_OR_RETURN(FileDescriptor winch, NewEventfd());

  // SIGWINCH for the duration: a handler bumps the eventfd, whichever thread it runs on.
  struct sigaction sa {}, old_sa {};
  sigset_t winch_set, old_mask;
  sigemptyset(&winch_set);
  sigaddset(&winch_set, SIGWINCH);
  if (sized) {
    g_winch_fd.store(winch.get());
    sa.sa_handler = OnWinch;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, &old_sa);
    pthread_sigmask(SIG_UNBLOCK, &winch_set, &old_mask);
    CopySize(opts.in_fd, master_fd);
  }

  absl::Status status;
  std::array<uint8_t, kBufSize> buf{};
  bool in_open = true;
  for (;;) {
    pollfd fds[4] = {
        {master_fd, POLLIN, 0},
        {in_open ? opts.in_fd : -1, POLLIN, 0},
        {winch.get(), POLLIN, 0},
        {opts.stop_fd, POLLIN, 0},
    };
    int n = poll(fds, 4, -1);
    if (n < 0) {
      if (Retry(errno)) continue;
      status = ErrnoStatus("poll(terminal)");
      break;
    }
    if (fds[2].revents) {
      EventfdWaker::Drain(winch.get());
      CopySize(opts.in_fd, master_fd);
    }
    if (fds[0].revents) {
      ssize_t got = read(master_fd, buf.data(), buf.size());
      if (got > 0) {
        status = WriteAll(opts.out_fd, buf.data(), static_cast<size_t>(got));
        if (!status.ok()) break;
      } else if (got == 0 || (errno != EAGAIN && !Retry(errno))) {
        break;  // EIO: the container's side of the terminal is closed
      }
    }
    if (fds[1].revents) {
      ssize_t got = read(opts.in_fd, buf.data(), buf.size());
      if (got > 0) {
        status = WriteAll(master_fd, buf.data(), static_cast<size_t>(got));
        if (!status.ok()) break;
      } else if (got == 0 || (errno != EAGAIN && !Retry(errno))) {
        in_open = false;  // the caller's input ended; the output goes on
      }
    }
    if (fds[3].revents) {
      // Whatever the master holds now is the container's last output.
      int fl = fcntl(master_fd, F_GETFL);
      if (fl >= 0) fcntl(master_fd, F_SETFL, fl | O_NONBLOCK);
      for (;;) {
        ssize_t got = read(master_fd, buf.data(), buf.size());
        if (got <= 0) break;
        status = WriteAll(opts.out_fd, buf.data(), static_cast<size_t>(got));
        if (!status.ok()) break;
      }
      if (fl >= 0) fcntl(master_fd, F_SETFL, fl);
      break;
    }
  }

  if (sized) {
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    sigaction(SIGWINCH, &old_sa, nullptr);
    g_winch_fd.store(-1);
  }
  return status;
}

absl::Status AttachHostControllingTerminal(int fd) {
  if (getsid(0) != getpid() && setsid() < 0) return ErrnoStatus("setsid");
  if (ioctl(fd, TIOCSCTTY, 0) != 0) return ErrnoStatus("ioctl(TIOCSCTTY)");
  return absl::OkStatus();
}

}  // namespace moat::runsc
