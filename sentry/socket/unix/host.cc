// AF_UNIX sockets connected to host sockets: connect(2) to a socket file that a bind mount
// brings in (a gofer file), which no socket of the sandbox is bound to, asks the gofer to
// connect a host socket to it (gofer::ConnectRequest). The sandbox socket then forwards its
// data to that host socket. Files cannot cross to the host: SCM_RIGHTS is EOPNOTSUPP there,
// and files the host sends are dropped (the kernel closes them, as for a short control buffer).
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "sentry/kernel/task.h"
#include "sentry/socket/unix/endpoint.h"

namespace moat::sockets::unixsock {

namespace {

// Waits until the host socket has `events` (or an error or hang-up), as the notifier thread
// reports them.
Result<void> WaitHost(Task& task, HostLink& h, EventMask events, bool nonblocking,
                      std::optional<absl::Time> deadline,
                      Result<void> (*wait)(Task&, std::optional<absl::Time>)) {
  const EventMask want = events | kEventHup | kEventErr;
  for (;;) {
    if (h.file->Readiness(want)) return Ok();
    if (nonblocking) return Errno(EAGAIN);
    kernel::WaitQueue* q = h.file->Queue();
    if (!q) return Ok();
    kernel::WaiterRegistration reg(*q, &task, want);
    if (h.file->Readiness(want)) return Ok();
    TRY(wait(task, deadline));
  }
}

}  // namespace

std::shared_ptr<HostLink> UnixSocket::host() const {
  if (!has_host_.load(std::memory_order_acquire)) return nullptr;
  absl::MutexLock l(&host_mu_);
  return host_;
}

Result<bool> UnixSocket::ConnectHost(Task& task, const Name& name) {
  if (name.abstract()) return false;
  vfs::Path p = TRY(task.ResolveAt(AT_FDCWD, name.bytes, 0));
  vfs::Stat st = TRY(p.dentry->inode()->GetStat());
  TRY(vfs::CheckPermission(*task.creds(), st, W_OK));
  if (!S_ISSOCK(st.mode)) return false;
  const std::optional<absl::Time> deadline = SendDeadline();
  FileDescriptor fd;
  for (;;) {
    Result<FileDescriptor> r = p.dentry->inode()->ConnectHostSocket(ep_->type);
    if (r.ok()) {
      fd = std::move(*r);
      break;
    }
    if (r.error().value() == ECONNREFUSED) return false;
    if (r.error().value() != EAGAIN || NonBlocking(0)) return r.error();
    // The host listener's backlog is full. The gofer does not wait (it serves the whole
    // mount), so a blocking connect tries again shortly.
    absl::Time next = absl::Now() + absl::Milliseconds(10);
    if (deadline && *deadline < next) next = *deadline;
    Result<void> w = Wait(task, next);
    if (!w.ok() && w.error().value() != EAGAIN) return w.error();
    if (deadline && absl::Now() >= *deadline) return Errno(EAGAIN);
  }
  auto link = std::make_shared<HostLink>();
  link->raw = FileDescriptor(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!link->raw.valid()) return LastErrno();
  link->file = TRY(fsimpl::HostFile::New(std::move(fd), O_RDWR));
  link->peer = name;
  link->relay = std::make_unique<QueueRelay>(&ep_->queue);
  if (kernel::WaitQueue* q = link->file->Queue()) {
    link->relay_reg.emplace(*q, link->relay.get(), kernel::kEventAll);
  }
  {
    absl::MutexLock l(&host_mu_);
    if (host_) return Errno(EISCONN);
    host_ = std::move(link);
    has_host_.store(true, std::memory_order_release);
  }
  {
    absl::MutexLock l(&ep_->mu);
    ep_->state = State::kConnected;
  }
  ep_->queue.Notify(kEventOut | kEventWrNorm);
  return true;
}

Result<size_t> UnixSocket::HostSend(Task& task, SendArgs& args, HostLink& h) {
  if (!args.control.rights.empty()) return Errno(EOPNOTSUPP);
  if (args.to && args.to->len > 0 && IsStream()) return Errno(EISCONN);
  const bool nonblocking = NonBlocking(args.flags);
  const std::optional<absl::Time> deadline = SendDeadline();
  size_t done = 0;
  for (;;) {
    ssize_t n = send(h.raw.get(), args.data.data() + done, args.data.size() - done,
                     MSG_NOSIGNAL | MSG_DONTWAIT | (args.flags & MSG_EOR));
    if (n >= 0) {
      done += n;
      if (done == args.data.size() || !IsStream()) return done;
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) {
      if (done) return done;
      return LastErrno();
    }
    Result<void> w = WaitHost(task, h, kEventOut, nonblocking, deadline, &Socket::Wait);
    if (!w.ok()) {
      if (done) return done;
      return w.error();
    }
  }
}

Result<RecvResult> UnixSocket::HostRecv(Task& task, std::span<uint8_t> buf, int flags,
                                        HostLink& h) {
  const bool nonblocking = NonBlocking(flags);
  const std::optional<absl::Time> deadline = RecvDeadline();
  for (;;) {
    iovec io{buf.data(), buf.size()};
    msghdr m{};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    ssize_t n = recvmsg(h.raw.get(), &m,
                        MSG_DONTWAIT | (flags & (MSG_PEEK | MSG_TRUNC | MSG_WAITALL)));
    if (n >= 0) {
      RecvResult r;
      r.length = n;
      r.copied = std::min<size_t>(n, buf.size());
      r.msg_flags = m.msg_flags & (MSG_TRUNC | MSG_CTRUNC | MSG_EOR);
      return r;
    }
    if (errno != EAGAIN && errno != EINTR) return LastErrno();
    TRY(WaitHost(task, h, kEventIn, nonblocking, deadline, &Socket::Wait));
  }
}

}  // namespace moat::sockets::unixsock
