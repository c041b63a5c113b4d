// The AF_UNIX data path: sendmsg and recvmsg for streams (unix_stream_sendmsg,
// unix_stream_read_generic) and for datagrams and sequenced packets (unix_dgram_sendmsg,
// unix_dgram_recvmsg), with Linux's accounting, blocking and errno order.
#include <cstring>
#include <optional>

#include "sentry/kernel/task.h"
#include "sentry/socket/unix/endpoint.h"

namespace moat::sockets::unixsock {

namespace {

// What a receiver with SO_PASSCRED gets for data sent without credentials: no pid, and the
// overflow ids that an unmapped id becomes.
constexpr ucred kOverflowCreds{0, 65534, 65534};

// The largest piece of a stream send (unix_stream_sendmsg: half the send buffer, and at most
// what one skb carries in its head and page fragments).
size_t MaxPiece(int sndbuf) {
  constexpr size_t kSkbMax = 32768 + 3776;
  return std::max<size_t>(1, std::min<size_t>(sndbuf / 2 - 64, kSkbMax));
}

bool SameCreds(const std::optional<ucred>& a, const std::optional<ucred>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->pid == b->pid && a->uid == b->uid && a->gid == b->gid);
}

// __scm_send refuses an SOL_SOCKET message other than SCM_RIGHTS and SCM_CREDENTIALS, and
// ignores other levels: nothing else travels on an AF_UNIX socket.
Result<void> CheckControl(ControlMessages& c) {
  for (const ControlMessages::Raw& r : c.other) {
    if (r.level == SOL_SOCKET) return Errno(EINVAL);
  }
  c.other.clear();
  return Ok();
}

// The source address a receiver reports: the sender's name now (unix_copy_addr), or none.
SockAddr SourceOf(const RefPtr<Endpoint>& sender) {
  if (!sender) return {};
  absl::MutexLock l(&sender->mu);
  if (!sender->name) return {};
  return sender->name->ToSockAddr();
}

}  // namespace

Result<size_t> UnixSocket::SendMsg(Task& task, SendArgs& args) {
  if (args.flags & MSG_OOB) return Errno(EOPNOTSUPP);
  TRY(CheckControl(args.control));
  if (std::shared_ptr<HostLink> h = host()) return HostSend(task, args, *h);
  Result<size_t> r = IsStream() ? SendStream(task, args) : SendDgram(task, args);
  MaybeCollect();
  return r;
}

Result<RecvResult> UnixSocket::RecvMsg(Task& task, std::span<uint8_t> buf, int flags) {
  if (std::shared_ptr<HostLink> h = host()) return HostRecv(task, buf, flags, *h);
  return IsStream() ? RecvStream(task, buf, flags) : RecvDgram(task, buf, flags);
}

Result<void> UnixSocket::WaitSendRoom(Task& task, bool nonblocking,
                                      std::optional<absl::Time> deadline) {
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&ep_->mu);
      if (ep_->err) return Errno(std::exchange(ep_->err, 0));
      if (ep_->shutdown & kSendShutdown) return Errno(EPIPE);
    }
    if (ep_->wmem.load() < ep_->sndbuf.load()) return Ok();
    if (nonblocking) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(ep_->queue, &task, kEventOut | kEventErr | kEventHup);
      continue;
    }
    TRY(Wait(task, deadline));
  }
}

Result<size_t> UnixSocket::SendStream(Task& task, SendArgs& args) {
  RefPtr<Endpoint> other;
  {
    absl::MutexLock l(&ep_->mu);
    if (args.to && args.to->len > 0) {
      return Errno(ep_->state == State::kConnected ? EISCONN : EOPNOTSUPP);
    }
    if (ep_->state == State::kConnected) other = ep_->peer;
    if (!other) return Errno(ENOTCONN);
    if (ep_->shutdown & kSendShutdown) return Errno(EPIPE);
  }
  const bool nonblocking = NonBlocking(args.flags);
  const std::optional<absl::Time> deadline = SendDeadline();
  const size_t total = args.data.size();
  size_t sent = 0;
  while (sent < total) {
    Result<void> room = WaitSendRoom(task, nonblocking, deadline);
    if (!room.ok()) {
      if (sent) return sent;
      return room.error();
    }
    size_t size = std::min(total - sent, MaxPiece(ep_->sndbuf.load()));
    Message m;
    m.data.assign(args.data.begin() + sent, args.data.begin() + sent + size);
    m.sender = ep_;
    m.charge = Charge(size);
    // Credentials go with every piece, files with the first only.
    m.creds = args.control.credentials;
    if (!m.creds && (ep_->passcred.load() || other->passcred.load())) m.creds = SenderCreds(task);
    if (sent == 0) m.control.rights = std::move(args.control.rights);
    m.unix_rights = HasUnixRights(m.control);
    const size_t charge = m.charge;
    ep_->wmem.fetch_add(static_cast<int64_t>(charge));
    bool delivered = false;
    {
      std::optional<absl::MutexLock> gc;
      if (m.unix_rights) gc.emplace(&InFlightLock());
      absl::MutexLock l(&other->mu);
      if (!other->dead && !(other->shutdown & kRcvShutdown)) {
        if (m.unix_rights) CountInFlightLocked(m.control);
        other->rcv_bytes += size;
        other->rcvq.push_back(std::move(m));
        delivered = true;
      }
    }
    if (!delivered) {
      ep_->wmem.fetch_sub(static_cast<int64_t>(charge));
      if (sent) return sent;
      return Errno(EPIPE);
    }
    other->queue.Notify(kEventIn | kEventRdNorm);
    sent += size;
  }
  return sent;
}

Result<size_t> UnixSocket::SendDgram(Task& task, SendArgs& args) {
  const bool seqpacket = ep_->type == SOCK_SEQPACKET;
  std::optional<Name> to;
  RefPtr<Endpoint> other;
  {
    absl::MutexLock l(&ep_->mu);
    if (seqpacket) {
      // unix_seqpacket_sendmsg: connected only; an address is ignored.
      if (ep_->state != State::kConnected) return Errno(ENOTCONN);
      args.to.reset();
    }
    if (!args.to || args.to->len == 0) {
      other = ep_->peer;
      if (!other) return Errno(ENOTCONN);
    }
  }
  if (!other) to = TRY(ParseAddress(*args.to));
  if (options().passcred) {
    absl::MutexLock b(&ep_->bind_mu);
    TRY(AutobindLocked(task));
  }
  const size_t size = args.data.size();
  if (size > static_cast<size_t>(std::max(ep_->sndbuf.load() - 32, 0))) return Errno(EMSGSIZE);
  const bool nonblocking = NonBlocking(args.flags);
  const std::optional<absl::Time> deadline = SendDeadline();
  TRY(WaitSendRoom(task, nonblocking, deadline));

  Message m;
  m.data.assign(args.data.begin(), args.data.end());
  m.sender = ep_;
  m.charge = Charge(size);
  m.creds = args.control.credentials;
  m.control.rights = std::move(args.control.rights);
  m.unix_rights = HasUnixRights(m.control);

  std::optional<kernel::WaiterRegistration> reg;
  Endpoint* waiting_on = nullptr;
  for (;;) {
    if (!other) other = TRY(FindEndpoint(task, *to, ep_->type));
    bool dead = false;
    bool full = false;
    {
      std::optional<absl::MutexLock> gc;
      if (m.unix_rights) gc.emplace(&InFlightLock());
      absl::MutexLock l(&other->mu);
      // unix_may_send: a socket connected elsewhere takes nothing from us.
      if (other->peer && other->peer != ep_) return Errno(EPERM);
      if (other->dead) {
        dead = true;
      } else {
        if (other->shutdown & kRcvShutdown) return Errno(EPIPE);
        full = other != ep_ && other->peer != ep_ && other->rcvq.size() > kMaxDgramQlen;
        if (!full) {
          if (!m.creds && (ep_->passcred.load() || other->passcred.load())) {
            m.creds = SenderCreds(task);
          }
          if (m.unix_rights) CountInFlightLocked(m.control);
          ep_->wmem.fetch_add(static_cast<int64_t>(m.charge));
          other->rcv_bytes += size;
          other->rcvq.push_back(std::move(m));
        }
      }
    }
    if (dead) {
      if (seqpacket) return Errno(EPIPE);
      bool was_peer = false;
      std::deque<Message> purged;
      {
        absl::MutexLock l(&ep_->mu);
        if (ep_->peer == other) {
          // The peer is gone: this socket is disconnected, and says so once.
          ep_->SetDgramPeer(nullptr);
          ep_->state = State::kUnconnected;
          purged.swap(ep_->rcvq);
          ep_->rcv_bytes = 0;
          was_peer = true;
        }
      }
      Landed(purged);
      if (was_peer || !to) return Errno(ECONNREFUSED);
      other = nullptr;  // look the name up again
      continue;
    }
    if (!full) break;
    if (nonblocking) return Errno(EAGAIN);
    if (waiting_on != other.get()) {
      reg.reset();
      waiting_on = other.get();
      reg.emplace(other->peer_wait, &task, kernel::kEventAll);
      continue;
    }
    TRY(Wait(task, deadline));
  }
  other->queue.Notify(kEventIn | kEventRdNorm);
  return size;
}

Result<RecvResult> UnixSocket::RecvStream(Task& task, std::span<uint8_t> buf, int flags) {
  if (flags & MSG_OOB) return Errno(EINVAL);
  {
    absl::MutexLock l(&ep_->mu);
    if (ep_->state != State::kConnected) return Errno(EINVAL);
  }
  const bool peek = flags & MSG_PEEK;
  const bool nonblocking = NonBlocking(flags);
  const std::optional<absl::Time> deadline = RecvDeadline();
  // sock_rcvlowat
  size_t target = (flags & MSG_WAITALL)
                      ? buf.size()
                      : std::min<size_t>(std::max(options().rcvlowat, 1), buf.size());
  target = std::max<size_t>(target, 1);
  const bool passcred = ep_->passcred.load();

  RecvResult r;
  std::optional<ucred> creds;
  bool have_creds = false;
  RefPtr<Endpoint> source;
  bool source_set = false;
  size_t copied = 0;
  int error = 0;
  bool landed_unix = false;
  std::vector<std::pair<RefPtr<Endpoint>, size_t>> freed;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    bool done = false;
    {
      absl::MutexLock l(&ep_->mu);
      size_t skip = peek ? copied : 0;
      auto it = ep_->rcvq.begin();
      while (it != ep_->rcvq.end() && copied < buf.size()) {
        Message& m = *it;
        if (skip >= m.remaining()) {
          skip -= m.remaining();
          ++it;
          continue;
        }
        // Never glue data from different writers when credentials are wanted.
        if (have_creds) {
          if (!SameCreds(creds, m.creds)) {
            done = true;
            break;
          }
        } else if (passcred) {
          creds = m.creds;
          have_creds = true;
        }
        if (!source_set) {
          source = m.sender;
          source_set = true;
        }
        size_t chunk = std::min(m.remaining() - skip, buf.size() - copied);
        std::memcpy(buf.data() + copied, m.data.data() + m.consumed + skip, chunk);
        copied += chunk;
        const bool rights = !m.control.rights.empty();
        if (peek) {
          if (rights) {
            r.control.rights = m.control.rights;
            done = true;
            break;
          }
          skip = 0;
          ++it;
          continue;
        }
        m.consumed += chunk;
        ep_->rcv_bytes -= chunk;
        if (rights) {
          landed_unix = m.unix_rights;
          r.control.rights = std::move(m.control.rights);
          m.control.rights.clear();
          m.unix_rights = false;
        }
        if (m.remaining()) {
          done = true;
          break;
        }
        freed.emplace_back(std::move(m.sender), m.charge);
        it = ep_->rcvq.erase(it);
        if (rights) {
          done = true;
          break;
        }
      }
      // A peek returns what is there; anything else waits for `target` bytes.
      if (copied >= target || (peek && copied) || copied == buf.size()) done = true;
      if (!done) {
        if (ep_->err) {
          error = std::exchange(ep_->err, 0);
          done = true;
        } else if (ep_->shutdown & kRcvShutdown) {
          done = true;
        }
      }
    }
    if (!freed.empty()) {
      Endpoint::Uncharge(freed);
      ep_->peer_wait.Notify(kEventOut);
    }
    if (done) break;
    if (nonblocking) {
      error = EAGAIN;
      break;
    }
    if (!reg) {
      reg.emplace(ep_->queue, &task, kEventIn | kEventErr | kEventHup | kEventRdHup);
      continue;
    }
    Result<void> w = Wait(task, deadline);
    if (!w.ok()) {
      if (copied) break;
      return w.error();
    }
  }
  if (landed_unix) CountLanded(r.control);
  if (!copied && error) return Errno(error);
  r.copied = copied;
  r.length = copied;
  r.from = SourceOf(source);
  if (passcred) r.control.credentials = creds.value_or(kOverflowCreds);
  return r;
}

Result<RecvResult> UnixSocket::RecvDgram(Task& task, std::span<uint8_t> buf, int flags) {
  if (flags & MSG_OOB) return Errno(EOPNOTSUPP);
  const bool seqpacket = ep_->type == SOCK_SEQPACKET;
  {
    absl::MutexLock l(&ep_->mu);
    if (seqpacket && ep_->state != State::kConnected) return Errno(ENOTCONN);
  }
  const bool peek = flags & MSG_PEEK;
  const bool nonblocking = NonBlocking(flags);
  const std::optional<absl::Time> deadline = RecvDeadline();
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    RecvResult r;
    RefPtr<Endpoint> source;
    std::vector<std::pair<RefPtr<Endpoint>, size_t>> freed;
    bool got = false;
    bool landed_unix = false;
    {
      absl::MutexLock l(&ep_->mu);
      if (!ep_->rcvq.empty()) {
        Message& m = ep_->rcvq.front();
        r.length = m.data.size();
        r.copied = std::min(buf.size(), m.data.size());
        std::memcpy(buf.data(), m.data.data(), r.copied);
        if (r.copied < r.length) r.msg_flags |= MSG_TRUNC;
        if (ep_->passcred.load()) r.control.credentials = m.creds.value_or(kOverflowCreds);
        source = m.sender;
        if (peek) {
          r.control.rights = m.control.rights;
        } else {
          landed_unix = m.unix_rights;
          r.control.rights = std::move(m.control.rights);
          ep_->rcv_bytes -= m.data.size();
          freed.emplace_back(std::move(m.sender), m.charge);
          ep_->rcvq.pop_front();
        }
        got = true;
      } else if (nonblocking) {
        // Only a sequenced-packet socket reports end of file without waiting.
        if (seqpacket && (ep_->shutdown & kRcvShutdown)) return RecvResult{};
        return Errno(EAGAIN);
      } else if (ep_->err) {
        return Errno(std::exchange(ep_->err, 0));
      } else if (ep_->shutdown & kRcvShutdown) {
        return RecvResult{};
      }
    }
    if (got) {
      if (landed_unix) CountLanded(r.control);
      if (!freed.empty()) {
        Endpoint::Uncharge(freed);
        ep_->peer_wait.Notify(kEventOut);
      }
      r.from = SourceOf(source);
      return r;
    }
    if (!reg) {
      reg.emplace(ep_->queue, &task, kEventIn | kEventErr | kEventHup | kEventRdHup);
      continue;
    }
    TRY(Wait(task, deadline));
  }
}

}  // namespace moat::sockets::unixsock
