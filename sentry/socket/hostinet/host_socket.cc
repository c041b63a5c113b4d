#include "sentry/socket/hostinet/host_socket.h"

#include <linux/capability.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "sentry/kernel/host_notifier.h"
#include "sentry/kernel/task.h"

namespace moat::sockets::hostinet {
namespace {

// The largest option value and control buffer that cross to and from the host.
constexpr size_t kMaxOption = 4096;
constexpr size_t kMaxControl = 4096;
constexpr int kTcpClose = 7;  // TCP_CLOSE

// Socket options the application may set and read on the host socket: plain values, no
// pointers, nothing that needs the host's privileges (SO_MARK, SO_BINDTODEVICE, IP_TRANSPARENT,
// the *FORCE sizes) and nothing that attaches code (SO_ATTACH_FILTER and friends).
bool Forwarded(int level, int name) {
  switch (level) {
    case SOL_SOCKET:
      switch (name) {
        case SO_REUSEADDR: case SO_REUSEPORT: case SO_KEEPALIVE: case SO_BROADCAST:
        case SO_OOBINLINE: case SO_DONTROUTE: case SO_LINGER: case SO_RCVBUF: case SO_SNDBUF:
        case SO_RCVLOWAT: case SO_SNDLOWAT: case SO_ERROR: case SO_ACCEPTCONN:
        case SO_TIMESTAMP_OLD: case SO_TIMESTAMPNS_OLD: case SO_TIMESTAMPING_OLD:
        case SO_PRIORITY: case SO_INCOMING_CPU: case SO_RXQ_OVFL: case SO_SELECT_ERR_QUEUE:
        case SO_COOKIE: case SO_MEMINFO: case SO_INCOMING_NAPI_ID:
          return true;
        default:
          return false;
      }
    case SOL_IP:
      switch (name) {
        case IP_TOS: case IP_TTL: case IP_OPTIONS: case IP_RECVOPTS: case IP_RETOPTS:
        case IP_PKTINFO: case IP_RECVTTL: case IP_RECVTOS: case IP_MTU_DISCOVER: case IP_RECVERR:
        case IP_MTU: case IP_FREEBIND: case IP_MULTICAST_IF: case IP_MULTICAST_TTL:
        case IP_MULTICAST_LOOP: case IP_ADD_MEMBERSHIP: case IP_DROP_MEMBERSHIP:
        case IP_ADD_SOURCE_MEMBERSHIP: case IP_DROP_SOURCE_MEMBERSHIP: case IP_MULTICAST_ALL:
        case IP_RECVORIGDSTADDR: case IP_BIND_ADDRESS_NO_PORT: case IP_RECVFRAGSIZE:
          return true;
        default:
          return false;
      }
    case SOL_IPV6:
      switch (name) {
        case IPV6_V6ONLY: case IPV6_UNICAST_HOPS: case IPV6_MULTICAST_IF:
        case IPV6_MULTICAST_HOPS: case IPV6_MULTICAST_LOOP: case IPV6_ADD_MEMBERSHIP:
        case IPV6_DROP_MEMBERSHIP: case IPV6_RECVPKTINFO: case IPV6_PKTINFO:
        case IPV6_RECVHOPLIMIT: case IPV6_HOPLIMIT: case IPV6_RECVTCLASS: case IPV6_TCLASS:
        case IPV6_RECVERR: case IPV6_MTU_DISCOVER: case IPV6_MTU: case IPV6_RECVORIGDSTADDR:
        case IPV6_FREEBIND: case IPV6_AUTOFLOWLABEL: case IPV6_DONTFRAG: case IPV6_RECVPATHMTU:
        case IPV6_ADDR_PREFERENCES: case IPV6_MULTICAST_ALL:
          return true;
        default:
          return false;
      }
    case SOL_TCP:
      switch (name) {
        case TCP_NODELAY: case TCP_MAXSEG: case TCP_CORK: case TCP_KEEPIDLE: case TCP_KEEPINTVL:
        case TCP_KEEPCNT: case TCP_SYNCNT: case TCP_LINGER2: case TCP_DEFER_ACCEPT:
        case TCP_WINDOW_CLAMP: case TCP_INFO: case TCP_QUICKACK: case TCP_CONGESTION:
        case TCP_USER_TIMEOUT: case TCP_NOTSENT_LOWAT: case TCP_FASTOPEN:
        case TCP_FASTOPEN_CONNECT: case TCP_INQ:
          return true;
        default:
          return false;
      }
    case SOL_UDP:
      return name == UDP_CORK || name == UDP_SEGMENT || name == UDP_GRO;
    default:
      return false;
  }
}

// The socket-level options the sentry keeps itself (the host fd never blocks, so timeouts are
// the sentry's; the identity options are the socket's own).
bool KeptInSentry(int level, int name) {
  if (level != SOL_SOCKET) return false;
  switch (name) {
    case SO_RCVTIMEO_OLD: case SO_SNDTIMEO_OLD: case SO_TYPE: case SO_DOMAIN: case SO_PROTOCOL:
    case SO_PASSCRED: case SO_BINDTODEVICE: case SO_MARK:
      return true;
    default:
      return false;
  }
}

// Control messages that may go to the host with a send: those of the IP levels, and the
// socket-level ones but the two that need privileges (files and credentials never get here:
// the syscall layer parsed them out, and inet sockets ignore them, as Linux's do).
bool SendableControl(const ControlMessages::Raw& c) {
  if (c.level == SOL_SOCKET) return c.type != SO_MARK && c.type != SO_PRIORITY;
  return c.level == SOL_IP || c.level == SOL_IPV6 || c.level == SOL_UDP;
}

std::vector<uint8_t> EncodeControl(const ControlMessages& control) {
  std::vector<uint8_t> out;
  for (const ControlMessages::Raw& c : control.other) {
    if (!SendableControl(c)) continue;
    size_t at = out.size();
    out.resize(at + CMSG_SPACE(c.data.size()), 0);
    cmsghdr h{};
    h.cmsg_len = CMSG_LEN(c.data.size());
    h.cmsg_level = c.level;
    h.cmsg_type = c.type;
    std::memcpy(out.data() + at, &h, sizeof(h));
    if (!c.data.empty()) std::memcpy(out.data() + at + CMSG_LEN(0), c.data.data(), c.data.size());
  }
  return out;
}

// The host's control messages as the sandbox's: any files (which inet sockets never carry)
// are closed, not passed on.
ControlMessages DecodeControl(msghdr& mh) {
  ControlMessages out;
  for (cmsghdr* h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
    size_t len = h->cmsg_len - CMSG_LEN(0);
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
      for (size_t i = 0; i + sizeof(int) <= len; i += sizeof(int)) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(h) + i, sizeof(fd));
        close(fd);
      }
      continue;
    }
    out.other.push_back({h->cmsg_level, h->cmsg_type,
                         std::vector<uint8_t>(CMSG_DATA(h), CMSG_DATA(h) + len)});
  }
  return out;
}

Result<SockAddr> HostName(int fd, bool peer) {
  SockAddr a;
  socklen_t len = sizeof(a.storage);
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a.storage), &len)
               : getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &len);
  if (r < 0) return LastErrno();
  a.len = std::min<socklen_t>(len, sizeof(a.storage));
  return a;
}

uint16_t PortOf(const SockAddr& a) {
  if (a.family() == AF_INET && a.len >= sizeof(sockaddr_in)) return ntohs(a.as<sockaddr_in>().sin_port);
  if (a.family() == AF_INET6 && a.len >= sizeof(sockaddr_in6)) {
    return ntohs(a.as<sockaddr_in6>().sin6_port);
  }
  return 0;
}

}  // namespace

// ---- SocketRegistry ----

void SocketRegistry::Add(HostSocket* s) {
  absl::MutexLock l(&mu_);
  sockets_.insert(s);
}

void SocketRegistry::Remove(HostSocket* s) {
  absl::MutexLock l(&mu_);
  sockets_.erase(s);
}

std::vector<RefPtr<HostSocket>> SocketRegistry::All() {
  absl::MutexLock l(&mu_);
  std::vector<RefPtr<HostSocket>> out;
  for (HostSocket* s : sockets_) {
    if (RefPtr<HostSocket> r = TryRef(s)) out.push_back(std::move(r));
  }
  return out;
}

// ---- HostSocket ----

HostSocket::HostSocket(FileDescriptor fd, int family, int type, int protocol, int flags,
                       uint32_t uid, uint32_t gid, std::shared_ptr<SocketRegistry> registry)
    : Socket(family, type, protocol, flags, uid, gid),
      fd_(std::move(fd)),
      registry_(std::move(registry)) {
  notified_ = kernel::HostNotifier::Get().Add(fd_.get(), &queue_);
  registry_->Add(this);
}

HostSocket::~HostSocket() {
  registry_->Remove(this);
  if (notified_) kernel::HostNotifier::Get().Remove(fd_.get());
}

EventMask HostSocket::Readiness(EventMask mask) {
  pollfd p{fd_.get(), static_cast<short>(mask & 0xffff), 0};
  if (poll(&p, 1, 0) < 0) return kernel::kEventErr;
  return static_cast<uint16_t>(p.revents);
}

Result<void> HostSocket::WaitFor(Task& task, EventMask events, std::optional<absl::Time> deadline) {
  EventMask want = events | kernel::kEventErr | kernel::kEventHup;
  kernel::WaiterRegistration reg(queue_, &task, want);
  if (Readiness(want) & want) return Ok();
  return Wait(task, deadline);
}

Result<void> HostSocket::Bind(Task&, const SockAddr& addr) {
  if (bind(fd_.get(), reinterpret_cast<const sockaddr*>(addr.data()), addr.len) < 0) {
    return LastErrno();
  }
  return Ok();
}

// A blocking connect waits here for the host's handshake: the host connect of a non-blocking fd
// says EINPROGRESS, later calls EALREADY while it goes on, and the first call after it is done
// gives its outcome (0, or the error), as on Linux for the application's own retries.
Result<void> HostSocket::Connect(Task& task, const SockAddr& addr) {
  std::optional<absl::Time> deadline = SendDeadline();
  bool waited = false;
  for (;;) {
    if (connect(fd_.get(), reinterpret_cast<const sockaddr*>(addr.data()), addr.len) == 0) {
      return Ok();
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN && waited) return Ok();
    if ((flags() & O_NONBLOCK) || (err != EINPROGRESS && err != EALREADY)) return Errno(err);
    Result<void> w = WaitFor(task, kernel::kEventOut, deadline);
    if (!w.ok()) return w.error().value() == EAGAIN ? Errno(EINPROGRESS) : w.error();
    waited = true;
  }
}

Result<void> HostSocket::Listen(Task&, int backlog) {
  if (listen(fd_.get(), backlog) < 0) return LastErrno();
  return Ok();
}

Result<RefPtr<Socket>> HostSocket::Accept(Task& task, int flags, SockAddr* peer) {
  std::optional<absl::Time> deadline = RecvDeadline();
  for (;;) {
    SockAddr from;
    socklen_t len = sizeof(from.storage);
    int fd = accept4(fd_.get(), reinterpret_cast<sockaddr*>(&from.storage), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      from.len = std::min<socklen_t>(len, sizeof(from.storage));
      if (peer) *peer = from;
      RefPtr<kernel::Credentials> c = task.creds();
      return RefPtr<Socket>(MakeRef<HostSocket>(FileDescriptor(fd), family(), type(), protocol(),
                                                flags, c->fsuid, c->fsgid, registry_));
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN || (this->flags() & O_NONBLOCK)) return Errno(err);
    RETURN_IF_ERRNO(WaitFor(task, kernel::kEventIn, deadline));
  }
}

Result<size_t> HostSocket::SendMsg(Task& task, SendArgs& args) {
  std::optional<absl::Time> deadline = SendDeadline();
  std::vector<uint8_t> control = EncodeControl(args.control);
  const int host_flags = (args.flags & ~MSG_DONTWAIT) | MSG_DONTWAIT | MSG_NOSIGNAL;
  size_t done = 0;
  for (;;) {
    iovec iov{const_cast<uint8_t*>(args.data.data()) + done, args.data.size() - done};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    // The address and control messages go with the first bytes only.
    if (done == 0 && args.to && args.to->len > 0) {
      mh.msg_name = const_cast<uint8_t*>(args.to->data());
      mh.msg_namelen = args.to->len;
    }
    if (done == 0 && !control.empty()) {
      mh.msg_control = control.data();
      mh.msg_controllen = control.size();
    }
    ssize_t n = sendmsg(fd_.get(), &mh, host_flags);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      // A blocking stream send goes on until everything is sent.
      if (!IsStream() || done == args.data.size() || NonBlocking(args.flags)) return done;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN || NonBlocking(args.flags)) {
      if (done > 0) return done;
      return Errno(err);
    }
    Result<void> w = WaitFor(task, kernel::kEventOut, deadline);
    if (!w.ok()) {
      if (done > 0) return done;
      return w.error();
    }
  }
}

Result<RecvResult> HostSocket::RecvMsg(Task& task, std::span<uint8_t> buf, int flags) {
  std::optional<absl::Time> deadline = RecvDeadline();
  const int host_flags =
      (flags & (MSG_PEEK | MSG_OOB | MSG_TRUNC | MSG_ERRQUEUE)) | MSG_DONTWAIT;
  const bool wait_all = IsStream() && (flags & MSG_WAITALL) && !(flags & (MSG_PEEK | MSG_OOB));
  RecvResult result;
  size_t done = 0;
  for (;;) {
    iovec iov{buf.data() + done, buf.size() - done};
    uint8_t cbuf[kMaxControl];
    msghdr mh{};
    mh.msg_name = &result.from.storage;
    mh.msg_namelen = sizeof(result.from.storage);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    ssize_t n = recvmsg(fd_.get(), &mh, host_flags);
    if (n >= 0) {
      if (done == 0) {
        result.from.len = std::min<socklen_t>(mh.msg_namelen, sizeof(result.from.storage));
        result.control = DecodeControl(mh);
        result.msg_flags = mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC | MSG_EOR | MSG_OOB | MSG_ERRQUEUE);
      }
      // A datagram's length with MSG_TRUNC may exceed the buffer.
      size_t got = static_cast<size_t>(n);
      result.length = done + got;
      done += std::min(got, buf.size() - done);
      result.copied = done;
      if (wait_all && n > 0 && done < buf.size()) continue;
      return result;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN || NonBlocking(flags) || (flags & MSG_ERRQUEUE)) {
      if (done > 0) return result;
      return Errno(err);
    }
    // A datagram socket shut down for reading is readable (POLLIN | POLLRDHUP) yet a
    // non-blocking host receive says EAGAIN, where a blocking one would return 0: end here, or
    // the wait below would return at once, forever.
    if (!IsStream() && (Readiness(kernel::kEventRdHup) & kernel::kEventRdHup)) return result;
    Result<void> w = WaitFor(task, (flags & MSG_OOB) ? kernel::kEventPri : kernel::kEventIn, deadline);
    if (!w.ok()) {
      if (done > 0) return result;
      return w.error();
    }
  }
}

Result<void> HostSocket::Shutdown(Task&, int how) {
  if (shutdown(fd_.get(), how) < 0) return LastErrno();
  return Ok();
}

Result<SockAddr> HostSocket::GetSockName(Task&) { return HostName(fd_.get(), false); }
Result<SockAddr> HostSocket::GetPeerName(Task&) { return HostName(fd_.get(), true); }

Result<std::vector<uint8_t>> HostSocket::GetSockOpt(Task& task, int level, int name, size_t len) {
  if (KeptInSentry(level, name)) return Socket::GetSockOpt(task, level, name, len);
  if (!Forwarded(level, name)) {
    if (level == SOL_SOCKET) return Socket::GetSockOpt(task, level, name, len);
    return Errno(ENOPROTOOPT);
  }
  std::vector<uint8_t> val(std::min(len, kMaxOption));
  socklen_t got = static_cast<socklen_t>(val.size());
  if (getsockopt(fd_.get(), level, name, val.data(), &got) < 0) return LastErrno();
  val.resize(std::min<size_t>(got, val.size()));
  return val;
}

Result<void> HostSocket::SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) {
  if (KeptInSentry(level, name)) return Socket::SetSockOpt(task, level, name, val);
  if (level == SOL_SOCKET && (name == SO_RCVBUFFORCE || name == SO_SNDBUFFORCE)) {
    // Beyond the limits is the host's privilege, not the sandbox's: the plain size instead.
    if (!task.creds()->HasCap(CAP_NET_ADMIN)) return Errno(EPERM);
    name = name == SO_RCVBUFFORCE ? SO_RCVBUF : SO_SNDBUF;
  }
  if (!Forwarded(level, name)) {
    if (level == SOL_SOCKET) return Socket::SetSockOpt(task, level, name, val);
    return Errno(ENOPROTOOPT);
  }
  if (setsockopt(fd_.get(), level, name, val.data(), static_cast<socklen_t>(val.size())) < 0) {
    return LastErrno();
  }
  return Ok();
}

Result<long> HostSocket::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  switch (cmd) {
    case SIOCINQ:  // FIONREAD
    case SIOCOUTQ:
    case SIOCOUTQNSD:
    case SIOCATMARK: {
      int v = 0;
      if (ioctl(fd_.get(), cmd, &v) < 0) return LastErrno();
      RETURN_IF_ERRNO(task.CopyOutObj(arg, v));
      return 0;
    }
    case SIOCGSTAMP_OLD: {
      timeval tv{};
      if (ioctl(fd_.get(), cmd, &tv) < 0) return LastErrno();
      RETURN_IF_ERRNO(task.CopyOutObj(arg, tv));
      return 0;
    }
    case SIOCGSTAMPNS_OLD: {
      timespec ts{};
      if (ioctl(fd_.get(), cmd, &ts) < 0) return LastErrno();
      RETURN_IF_ERRNO(task.CopyOutObj(arg, ts));
      return 0;
    }
    default:
      return Socket::Ioctl(task, cmd, arg);
  }
}

std::optional<SocketInfo> HostSocket::Info() {
  SocketInfo i;
  i.family = family();
  i.protocol = protocol();
  Result<SockAddr> local = HostName(fd_.get(), false);
  if (!local.ok()) return std::nullopt;
  i.local = *local;
  Result<SockAddr> remote = HostName(fd_.get(), true);
  if (remote.ok()) {
    i.remote = *remote;
  } else {
    i.remote.storage.ss_family = static_cast<sa_family_t>(family());
    i.remote.len = family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  }
  int inq = 0, outq = 0;
  if (protocol() == IPPROTO_TCP) {
    tcp_info ti{};
    socklen_t len = sizeof(ti);
    if (getsockopt(fd_.get(), SOL_TCP, TCP_INFO, &ti, &len) < 0) return std::nullopt;
    i.state = ti.tcpi_state;
    if (i.state == kTcpClose) return std::nullopt;
    if (i.state == TCP_LISTEN) {
      inq = static_cast<int>(ti.tcpi_unacked);  // the accept backlog
    } else {
      ioctl(fd_.get(), SIOCINQ, &inq);
      ioctl(fd_.get(), SIOCOUTQ, &outq);
    }
  } else {
    if (PortOf(i.local) == 0) return std::nullopt;
    i.state = remote.ok() ? TCP_ESTABLISHED : kTcpClose;
    ioctl(fd_.get(), SIOCINQ, &inq);
    ioctl(fd_.get(), SIOCOUTQ, &outq);
  }
  i.rx_queue = static_cast<uint32_t>(std::max(inq, 0));
  i.tx_queue = static_cast<uint32_t>(std::max(outq, 0));
  Result<vfs::Stat> st = inode()->GetStat();
  if (st.ok()) {
    i.uid = st->uid;
    i.inode = st->ino;
  }
  return i;
}

}  // namespace moat::sockets::hostinet
