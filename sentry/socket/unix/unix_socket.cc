// AF_UNIX sockets: creation, names, connections, options, readiness and release. The data path
// (send and receive) is unix_io.cc.
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <cstring>

#include "sentry/kernel/task.h"
#include "sentry/socket/unix/endpoint.h"
#include "sentry/socket/unix/unix.h"

namespace moat::sockets {
namespace unixsock {

namespace {

// The credentials of a socket nobody is connected to: cred_to_ucred without a cred.
constexpr ucred kNoCreds{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1)};

// Locks two endpoints in address order (connect(2) is the one place that holds two).
class PairLock {
 public:
  PairLock(Endpoint* a, Endpoint* b) : a_(std::min(a, b)), b_(std::max(a, b)) {
    a_->mu.Lock();
    if (b_ != a_) b_->mu.Lock();
  }
  ~PairLock() {
    if (b_ != a_) b_->mu.Unlock();
    a_->mu.Unlock();
  }

 private:
  Endpoint* a_;
  Endpoint* b_;
};

}  // namespace

ucred SenderCreds(Task& task) {
  RefPtr<kernel::Credentials> c = task.creds();
  return ucred{task.pid(), c->ruid, c->rgid};
}

ucred PeerCreds(Task& task) {
  RefPtr<kernel::Credentials> c = task.creds();
  return ucred{task.pid(), c->euid, c->egid};
}

// ---- Endpoint ----

Endpoint::Endpoint(int t) : type(t) { Register(this); }

Endpoint::~Endpoint() { Unregister(this); }

void Endpoint::SetDgramPeer(RefPtr<Endpoint> to) {
  // The relay must leave the old peer's peer_wait before the reference to it goes.
  peer_wake.reset();
  peer = std::move(to);
  if (peer && peer.get() != this) peer_wake.emplace(peer->peer_wait, &relay_, kEventOut);
}

void Endpoint::Uncharge(std::vector<std::pair<RefPtr<Endpoint>, size_t>>& freed) {
  for (auto& [sender, charge] : freed) {
    sender->wmem.fetch_sub(static_cast<int64_t>(charge));
    sender->queue.Notify(kEventOut | kEventWrNorm);
  }
  freed.clear();
}

void Endpoint::Release(bool embryo) {
  std::deque<Message> purged;
  std::deque<RefPtr<Endpoint>> embryos;
  RefPtr<Endpoint> skpair;
  std::optional<Name> old_name;
  std::pair<uint64_t, uint64_t> key;
  bool owned = false;
  bool had_data = false;
  {
    absl::MutexLock l(&mu);
    if (dead) return;
    dead = true;
    shutdown = kShutdownMask;
    State was = state;
    state = State::kUnconnected;
    peer_wake.reset();
    skpair = std::move(peer);
    had_data = !rcvq.empty();
    purged.swap(rcvq);
    rcv_bytes = 0;
    if (was == State::kListening) embryos.swap(acceptq);
    old_name = name;
    owned = owns_name;
    key = bound_key;
    owns_name = false;
    bound_path = {};
  }
  if (owned && old_name) Unbind(this, *old_name, key);
  if (skpair && connection_oriented()) {
    {
      absl::MutexLock l(&skpair->mu);
      skpair->shutdown = kShutdownMask;
      if (had_data || embryo) skpair->err = ECONNRESET;
    }
    skpair->queue.Notify(kEventIn | kEventOut | kEventHup | kEventRdHup | kEventErr);
  }
  queue.Notify(kEventIn | kEventOut | kEventHup | kEventRdHup);
  peer_wait.Notify(kernel::kEventAll);
  for (RefPtr<Endpoint>& e : embryos) e->Release(/*embryo=*/true);
  Landed(purged);
  // The purged messages go here, with no lock held: the files they carry may be the last
  // references to other sockets, whose release runs now.
  purged.clear();
  skpair = nullptr;
  MaybeCollect();
}

// ---- UnixSocket ----

UnixSocket::UnixSocket(RefPtr<Endpoint> ep, int protocol, int flags, uint32_t uid, uint32_t gid)
    : Socket(AF_UNIX, ep->type, protocol, flags, uid, gid), ep_(std::move(ep)) {
  Result<vfs::Stat> st = inode()->GetStat();
  if (st.ok()) ep_->ino.store(st->ino);
}

UnixSocket::~UnixSocket() { ep_->Release(); }

Result<void> UnixSocket::AutobindLocked(Task&) {
  {
    absl::MutexLock l(&ep_->mu);
    if (ep_->name) return Ok();
  }
  Name name = TRY(BindAutomatic(ep_.get()));
  absl::MutexLock l(&ep_->mu);
  ep_->name = std::move(name);
  ep_->owns_name = true;
  return Ok();
}

// unix_bind
Result<void> UnixSocket::Bind(Task& task, const SockAddr& addr) {
  if (addr.len == offsetof(sockaddr_un, sun_path) && addr.family() == AF_UNIX) {
    absl::MutexLock b(&ep_->bind_mu);
    return AutobindLocked(task);
  }
  Name name = TRY(ParseAddress(addr));
  absl::MutexLock b(&ep_->bind_mu);
  if (name.abstract()) {
    {
      absl::MutexLock l(&ep_->mu);
      if (ep_->name) return Errno(EINVAL);
    }
    TRY(BindAbstract(ep_.get(), name.bytes));
    absl::MutexLock l(&ep_->mu);
    ep_->name = std::move(name);
    ep_->owns_name = true;
    return Ok();
  }
  // unix_bind_bsd: the socket file comes first, so a name that exists is EADDRINUSE even for
  // a socket that is bound already; that one then gets EINVAL and the file goes again.
  vfs::ParentAndName at = TRY(task.ResolveParentAt(AT_FDCWD, name.bytes));
  uint32_t mode = S_IFSOCK | (0777 & ~task.fs().umask());
  Result<vfs::Path> made = vfs::MakeNodeAt(task.PathContext(), at, mode, 0);
  if (!made.ok()) {
    return made.error().value() == EEXIST ? Errno(EADDRINUSE) : made.error();
  }
  bool bound;
  {
    absl::MutexLock l(&ep_->mu);
    bound = ep_->name.has_value();
  }
  Result<vfs::Stat> st = made->dentry->inode()->GetStat();
  if (bound || !st.ok()) {
    (void)vfs::UnlinkAt(task.PathContext(), at);
    return bound ? Errno(EINVAL) : st.error();
  }
  std::pair<uint64_t, uint64_t> key{st->dev, st->ino};
  BindInode(ep_.get(), key);
  absl::MutexLock l(&ep_->mu);
  ep_->name = std::move(name);
  ep_->owns_name = true;
  ep_->bound_path = std::move(*made);
  ep_->bound_key = key;
  return Ok();
}

Result<void> UnixSocket::Connect(Task& task, const SockAddr& addr) {
  if (host()) return Errno(EISCONN);
  if (!ep_->connection_oriented()) return ConnectDgram(task, addr);
  if (addr.len < sizeof(sa_family_t)) return Errno(EINVAL);
  Name name = TRY(ParseAddress(addr));
  return ConnectStream(task, name);
}

// unix_stream_connect, for SOCK_STREAM and SOCK_SEQPACKET.
Result<void> UnixSocket::ConnectStream(Task& task, const Name& name) {
  if (options().passcred) {
    absl::MutexLock b(&ep_->bind_mu);
    TRY(AutobindLocked(task));
  }
  std::optional<absl::Time> deadline = SendDeadline();
  std::optional<kernel::WaiterRegistration> reg;
  RefPtr<Endpoint> waiting_on;
  for (;;) {
    Result<RefPtr<Endpoint>> found = FindEndpoint(task, name, ep_->type);
    if (!found.ok() && found.error().value() == ECONNREFUSED) {
      // No socket of the sandbox has the name: it may be a host socket the gofer reaches.
      {
        absl::MutexLock l(&ep_->mu);
        if (ep_->state == State::kConnected) return Errno(EISCONN);
        if (ep_->state == State::kListening) return Errno(EINVAL);
      }
      if (TRY(ConnectHost(task, name))) return Ok();
    }
    RefPtr<Endpoint> other = TRY(std::move(found));
    // The server's half of the connection, which accept(2) will hand out, is made before the
    // two locks are taken: it has the listener's name, which a bound socket keeps.
    auto server = MakeRef<Endpoint>(ep_->type);
    {
      std::optional<Name> listener_name;
      {
        absl::MutexLock l(&other->mu);
        listener_name = other->name;
      }
      absl::MutexLock sl(&server->mu);
      server->state = State::kConnected;
      server->peer = ep_;
      server->name = std::move(listener_name);
      server->peercred = PeerCreds(task);
    }
    {
      PairLock l(ep_.get(), other.get());
      if (other->state != State::kListening || other->dead) return Errno(ECONNREFUSED);
      if (other->shutdown & kRcvShutdown) return Errno(ECONNREFUSED);
      bool full = other->acceptq.size() > static_cast<size_t>(other->backlog);
      if (!full) {
        switch (ep_->state) {
          case State::kUnconnected:
            break;
          case State::kConnected:
            return Errno(EISCONN);
          default:
            return Errno(EINVAL);
        }
        if (ep_->dead) return Errno(EINVAL);
        ep_->peer = server;
        ep_->state = State::kConnected;
        ep_->peercred = other->peercred;
        other->acceptq.push_back(std::move(server));
        other->queue.Notify(kEventIn | kEventRdNorm);
        break;
      }
    }
    if (NonBlocking(0)) return Errno(EAGAIN);
    if (waiting_on != other) {
      reg.reset();
      waiting_on = other;
      reg.emplace(other->peer_wait, &task, kernel::kEventAll);
      continue;
    }
    TRY(Wait(task, deadline));
  }
  ep_->queue.Notify(kEventOut | kEventWrNorm);
  return Ok();
}

// unix_dgram_connect: sets (or, with AF_UNSPEC, clears) the default destination.
Result<void> UnixSocket::ConnectDgram(Task& task, const SockAddr& addr) {
  if (addr.len < sizeof(sa_family_t)) return Errno(EINVAL);
  RefPtr<Endpoint> other;
  if (addr.family() != AF_UNSPEC) {
    Name name = TRY(ParseAddress(addr));
    if (options().passcred) {
      absl::MutexLock b(&ep_->bind_mu);
      TRY(AutobindLocked(task));
    }
    Result<RefPtr<Endpoint>> found = FindEndpoint(task, name, ep_->type);
    if (!found.ok() && found.error().value() == ECONNREFUSED) {
      bool connected_before;
      {
        absl::MutexLock l(&ep_->mu);
        connected_before = ep_->peer != nullptr;
      }
      if (!connected_before && TRY(ConnectHost(task, name))) return Ok();
    }
    other = TRY(std::move(found));
    absl::MutexLock l(&other->mu);
    // unix_may_send: a socket connected elsewhere takes nothing from us.
    if (other->peer && other->peer != ep_) return Errno(EPERM);
  }
  RefPtr<Endpoint> old;
  std::deque<Message> purged;
  {
    absl::MutexLock l(&ep_->mu);
    old = ep_->peer;
    ep_->SetDgramPeer(other);
    ep_->state = other ? State::kConnected : State::kUnconnected;
    // unix_dgram_disconnected: leaving a peer drops what it sent us.
    if (old && old != other) {
      purged.swap(ep_->rcvq);
      ep_->rcv_bytes = 0;
    }
  }
  if (old && old != other && !purged.empty()) {
    absl::MutexLock l(&old->mu);
    if (!old->dead && old->peer == ep_) old->err = ECONNRESET;
  }
  if (old) old->queue.Notify(kEventErr);
  Landed(purged);
  ep_->peer_wait.Notify(kernel::kEventAll);
  return Ok();
}

// unix_listen
Result<void> UnixSocket::Listen(Task& task, int backlog) {
  if (!ep_->connection_oriented()) return Errno(EOPNOTSUPP);
  if (host()) return Errno(EINVAL);
  absl::MutexLock l(&ep_->mu);
  if (!ep_->name) return Errno(EINVAL);
  if (ep_->state != State::kUnconnected && ep_->state != State::kListening) return Errno(EINVAL);
  bool grew = backlog > ep_->backlog;
  ep_->backlog = backlog;
  ep_->state = State::kListening;
  ep_->peercred = PeerCreds(task);
  if (grew) ep_->peer_wait.Notify(kernel::kEventAll);
  return Ok();
}

// unix_accept
Result<RefPtr<Socket>> UnixSocket::Accept(Task& task, int flags, SockAddr* peer) {
  if (!ep_->connection_oriented()) return Errno(EOPNOTSUPP);
  std::optional<absl::Time> deadline = RecvDeadline();
  std::optional<kernel::WaiterRegistration> reg;
  RefPtr<Endpoint> conn;
  for (;;) {
    {
      absl::MutexLock l(&ep_->mu);
      if (ep_->state != State::kListening) return Errno(EINVAL);
      if (!ep_->acceptq.empty()) {
        conn = std::move(ep_->acceptq.front());
        ep_->acceptq.pop_front();
        break;
      }
      // A listener shut down for reading has nothing more to wait for.
      if (ep_->shutdown & kRcvShutdown) return Errno(EINVAL);
    }
    if (NonBlocking(0)) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(ep_->queue, &task, kEventIn | kEventErr | kEventHup);
      continue;
    }
    TRY(Wait(task, deadline));
  }
  ep_->peer_wait.Notify(kernel::kEventAll);
  RefPtr<kernel::Credentials> c = task.creds();
  auto sock = MakeRef<UnixSocket>(conn, protocol(), flags, c->euid, c->egid);
  // unix_sock_inherit_flags: the new socket passes credentials if the listener did.
  if (options().passcred) {
    absl::MutexLock l(&sock->opt_mu_);
    sock->opts_.passcred = true;
    conn->passcred.store(true);
  }
  if (peer) {
    RefPtr<Endpoint> client;
    {
      absl::MutexLock l(&conn->mu);
      client = conn->peer;
    }
    *peer = UnnamedAddress();
    if (client) {
      absl::MutexLock l(&client->mu);
      if (client->name) *peer = client->name->ToSockAddr();
    }
  }
  return RefPtr<Socket>(std::move(sock));
}

// unix_shutdown
Result<void> UnixSocket::Shutdown(Task&, int how) {
  if (std::shared_ptr<HostLink> h = host()) {
    if (::shutdown(h->raw.get(), how) < 0) return LastErrno();
    ep_->queue.Notify(kEventIn | kEventOut | kEventRdHup | kEventHup);
    return Ok();
  }
  int mode = (how + 1) & kShutdownMask;
  RefPtr<Endpoint> other;
  {
    absl::MutexLock l(&ep_->mu);
    ep_->shutdown |= mode;
    other = ep_->peer;
  }
  ep_->queue.Notify(kEventIn | kEventOut | kEventRdHup | kEventHup);
  ep_->peer_wait.Notify(kernel::kEventAll);
  if (other && ep_->connection_oriented()) {
    int peer_mode = 0;
    if (mode & kRcvShutdown) peer_mode |= kSendShutdown;
    if (mode & kSendShutdown) peer_mode |= kRcvShutdown;
    {
      absl::MutexLock l(&other->mu);
      other->shutdown |= peer_mode;
    }
    other->queue.Notify(kEventIn | kEventOut | kEventRdHup | kEventHup);
    other->peer_wait.Notify(kernel::kEventAll);
  }
  return Ok();
}

Result<SockAddr> UnixSocket::GetSockName(Task&) {
  absl::MutexLock l(&ep_->mu);
  return ep_->name ? ep_->name->ToSockAddr() : UnnamedAddress();
}

Result<SockAddr> UnixSocket::GetPeerName(Task&) {
  if (std::shared_ptr<HostLink> h = host()) return h->peer.ToSockAddr();
  RefPtr<Endpoint> other;
  {
    absl::MutexLock l(&ep_->mu);
    if (ep_->connection_oriented() && ep_->state != State::kConnected) return Errno(ENOTCONN);
    other = ep_->peer;
  }
  if (!other) return Errno(ENOTCONN);
  absl::MutexLock l(&other->mu);
  return other->name ? other->name->ToSockAddr() : UnnamedAddress();
}

Result<std::vector<uint8_t>> UnixSocket::GetSockOpt(Task& task, int level, int name,
                                                    size_t len) {
  auto int_opt = [&](int v) {
    std::vector<uint8_t> out = OptionBytes(v);
    out.resize(std::min(out.size(), len));
    return out;
  };
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_SNDBUF:
        return int_opt(ep_->sndbuf.load());
      case SO_RCVBUF:
        return int_opt(ep_->rcvbuf.load());
      case SO_ERROR: {
        absl::MutexLock l(&ep_->mu);
        return int_opt(std::exchange(ep_->err, 0));
      }
      case SO_ACCEPTCONN: {
        absl::MutexLock l(&ep_->mu);
        return int_opt(ep_->state == State::kListening);
      }
      case SO_PEERCRED: {
        absl::MutexLock l(&ep_->mu);
        std::vector<uint8_t> out = OptionBytes(ep_->peercred.value_or(kNoCreds));
        out.resize(std::min(out.size(), len));
        return out;
      }
      case SO_PEERSEC:
        return Errno(ENOPROTOOPT);
      case SO_PEEK_OFF:
        return int_opt(-1);
      default:
        break;
    }
  }
  return Socket::GetSockOpt(task, level, name, len);
}

Result<void> UnixSocket::SetSockOpt(Task& task, int level, int name,
                                    std::span<const uint8_t> val) {
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_SNDBUF:
      case SO_SNDBUFFORCE: {
        int v = TRY(OptionInt(val));
        // sk_setsockopt: the value is capped by wmem_max (read as unsigned), then doubled.
        uint32_t capped = std::min<uint32_t>(static_cast<uint32_t>(v), kMaxBuf);
        if (name == SO_SNDBUFFORCE) capped = std::min<uint32_t>(v < 0 ? 0 : v, INT32_MAX / 2);
        ep_->sndbuf.store(std::max<int>(static_cast<int>(capped) * 2, kMinSndBuf));
        ep_->queue.Notify(kEventOut | kEventWrNorm);
        return Ok();
      }
      case SO_RCVBUF:
      case SO_RCVBUFFORCE: {
        int v = TRY(OptionInt(val));
        uint32_t capped = std::min<uint32_t>(static_cast<uint32_t>(v), kMaxBuf);
        if (name == SO_RCVBUFFORCE) capped = std::min<uint32_t>(v < 0 ? 0 : v, INT32_MAX / 2);
        ep_->rcvbuf.store(std::max<int>(static_cast<int>(capped) * 2, kMinRcvBuf));
        return Ok();
      }
      case SO_PASSCRED: {
        TRY(Socket::SetSockOpt(task, level, name, val));
        ep_->passcred.store(options().passcred);
        return Ok();
      }
      default:
        break;
    }
  }
  return Socket::SetSockOpt(task, level, name, val);
}

Result<long> UnixSocket::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  if (std::shared_ptr<HostLink> h = host(); h && (cmd == SIOCINQ || cmd == SIOCOUTQ)) {
    int n = 0;
    if (ioctl(h->raw.get(), cmd, &n) < 0) return LastErrno();
    TRY(task.CopyOutObj(arg, n));
    return 0L;
  }
  switch (cmd) {
    case SIOCINQ: {
      int n = 0;
      {
        absl::MutexLock l(&ep_->mu);
        if (ep_->state == State::kListening) return Errno(EINVAL);
        if (ep_->type == SOCK_DGRAM) {
          n = ep_->rcvq.empty() ? 0 : static_cast<int>(ep_->rcvq.front().data.size());
        } else {
          n = static_cast<int>(ep_->rcv_bytes);
        }
      }
      TRY(task.CopyOutObj(arg, n));
      return 0L;
    }
    case SIOCOUTQ: {
      {
        absl::MutexLock l(&ep_->mu);
        if (ep_->state == State::kListening) return Errno(EINVAL);
      }
      int n = static_cast<int>(ep_->wmem.load());
      TRY(task.CopyOutObj(arg, n));
      return 0L;
    }
    default:
      // The interface ioctls, which glibc's if_nametoindex asks of an AF_UNIX socket first.
      return Socket::Ioctl(task, cmd, arg);
  }
}

// unix_poll and unix_dgram_poll.
EventMask UnixSocket::Readiness(EventMask mask) {
  if (std::shared_ptr<HostLink> h = host()) return h->file->Readiness(mask);
  EventMask ready = 0;
  RefPtr<Endpoint> other;
  bool writable;
  {
    absl::MutexLock l(&ep_->mu);
    if (ep_->err) ready |= kEventErr;
    if (ep_->shutdown == kShutdownMask) ready |= kEventHup;
    if (ep_->shutdown & kRcvShutdown) ready |= kEventRdHup | kEventIn | kEventRdNorm;
    if (!ep_->rcvq.empty() || !ep_->acceptq.empty()) ready |= kEventIn | kEventRdNorm;
    if (ep_->connection_oriented() && ep_->state == State::kUnconnected) ready |= kEventHup;
    writable = ep_->state != State::kListening && ep_->wmem.load() * 4 <= ep_->sndbuf.load();
    if (ep_->type == SOCK_DGRAM) other = ep_->peer;
  }
  if (writable && other && other != ep_) {
    // A connected datagram socket is writable only while its peer has room, unless the peer
    // is connected back to it.
    absl::MutexLock l(&other->mu);
    if (other->peer != ep_ && !other->dead && other->rcvq.size() > kMaxDgramQlen) writable = false;
  }
  if (writable) ready |= kEventOut | kEventWrNorm | 0x200;  // POLLWRBAND
  return ready & (mask | kEventErr | kEventHup);
}

}  // namespace unixsock

using unixsock::Endpoint;
using unixsock::UnixSocket;

namespace {

Result<int> CheckType(int type, int protocol) {
  if (protocol != 0 && protocol != PF_UNIX) return Errno(EPROTONOSUPPORT);
  switch (type) {
    case SOCK_STREAM:
    case SOCK_DGRAM:
    case SOCK_SEQPACKET:
      return type;
    case SOCK_RAW:
      return SOCK_DGRAM;
    default:
      return type >= 11 ? Errno(EINVAL) : Errno(ESOCKTNOSUPPORT);  // SOCK_MAX
  }
}

}  // namespace

Result<RefPtr<Socket>> NewUnixSocket(Task& task, int type, int protocol, int flags) {
  if (type >= 11) return Errno(EINVAL);
  type = TRY(CheckType(type, protocol));
  RefPtr<kernel::Credentials> c = task.creds();
  unixsock::MaybeCollect();
  return RefPtr<Socket>(MakeRef<UnixSocket>(MakeRef<Endpoint>(type), 0, flags, c->euid, c->egid));
}

Result<std::pair<RefPtr<Socket>, RefPtr<Socket>>> NewUnixSocketPair(Task& task, int type,
                                                                    int protocol, int flags) {
  if (type >= 11) return Errno(EINVAL);
  type = TRY(CheckType(type, protocol));
  RefPtr<kernel::Credentials> c = task.creds();
  auto a = MakeRef<Endpoint>(type);
  auto b = MakeRef<Endpoint>(type);
  ucred creds = unixsock::PeerCreds(task);
  {
    absl::MutexLock l(&a->mu);
    a->state = unixsock::State::kConnected;
    a->peercred = creds;
    if (type == SOCK_DGRAM) {
      a->SetDgramPeer(b);
    } else {
      a->peer = b;
    }
  }
  {
    absl::MutexLock l(&b->mu);
    b->state = unixsock::State::kConnected;
    b->peercred = creds;
    if (type == SOCK_DGRAM) {
      b->SetDgramPeer(a);
    } else {
      b->peer = a;
    }
  }
  RefPtr<Socket> s0(MakeRef<UnixSocket>(std::move(a), 0, flags, c->euid, c->egid));
  RefPtr<Socket> s1(MakeRef<UnixSocket>(std::move(b), 0, flags, c->euid, c->egid));
  return std::make_pair(std::move(s0), std::move(s1));
}

}  // namespace moat::sockets
