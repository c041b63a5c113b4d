// TCP sockets on lwIP's raw API, with Linux's semantics and errnos as the application sees them.
//
// A TcpSocket owns a TcpConn: the connection's state, guarded by the core lock, and the lwIP pcb
// whose callbacks point at it. A listener keeps the connections lwIP completed in its accept
// queue as TcpConns (they receive data before anyone accepts them); accept() wraps one in a new
// TcpSocket. A pcb is let go (its callbacks cleared) when the socket closes, when lwIP frees it
// after an error (the err callback), and when it enters TIME_WAIT (lwIP frees those silently, so
// every access checks, and a timer sweeps the TIME_WAIT list).
#include <linux/capability.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include <memory>

#include "sentry/kernel/task.h"
#include "sentry/socket/netstack/tcp_conn.h"

extern "C" {
#include "lwip/timeouts.h"
}

namespace moat::sockets::netstack {
namespace {

using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using kernel::kEventRdHup;
using kernel::kEventRdNorm;
using kernel::kEventWrNorm;
using tcp::kAllEvents;
using tcp::kDefaultMss;
using tcp::OnAccept;
using tcp::OnConnected;
using tcp::SockState;
using tcp::State;
using tcp::TcpConn;

class TcpSocket final : public Socket {
 public:
  TcpSocket(int family, int flags, uint32_t uid, uint32_t gid, std::unique_ptr<TcpConn> conn)
      : Socket(family, SOCK_STREAM, IPPROTO_TCP, flags, uid, gid), conn_(std::move(conn)) {
    uint64_t ino = 0;
    if (Result<vfs::Stat> st = inode()->GetStat(); st.ok()) ino = st->ino;
    CoreLock l;
    conn_->ip.ino = ino;
    conn_->ip.uid = uid;
  }

  ~TcpSocket() override {
    std::optional<linger> lg = options().lingering;
    CoreLock l;
    conn_->Close(lg && lg->l_linger == 0);
    conn_.reset();
  }

  Result<void> Bind(Task& task, const SockAddr& sa) override;
  Result<void> Connect(Task& task, const SockAddr& sa) override;
  Result<void> Listen(Task& task, int backlog) override;
  Result<RefPtr<Socket>> Accept(Task& task, int flags, SockAddr* peer) override;
  Result<size_t> SendMsg(Task& task, SendArgs& args) override;
  Result<RecvResult> RecvMsg(Task& task, std::span<uint8_t> buf, int flags) override;
  Result<void> Shutdown(Task& task, int how) override;
  Result<SockAddr> GetSockName(Task& task) override;
  Result<SockAddr> GetPeerName(Task& task) override;
  Result<std::vector<uint8_t>> GetSockOpt(Task& task, int level, int name, size_t len) override;
  Result<void> SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) override;
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;

  EventMask Readiness(EventMask mask) override {
    CoreLock l;
    return conn_->Readiness() & (mask | kEventErr | kEventHup);
  }
  kernel::WaitQueue* Queue() override { return &conn_->queue; }

 private:
  Result<std::vector<uint8_t>> GetTcpOpt(int name, size_t len)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);
  Result<void> SetTcpOpt(int name, std::span<const uint8_t> val)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);

  // Never replaced; its fields are guarded by the core lock.
  std::unique_ptr<TcpConn> conn_;
};

Result<void> TcpSocket::Bind(Task& task, const SockAddr& sa) {
  bool may_low_port = task.creds()->HasCap(CAP_NET_BIND_SERVICE);
  CoreLock l;
  TcpConn& c = *conn_;
  IpPort ip = TRY(ParseAddr(family(), sa, c.ip.v6only, AddrUse::kBind));
  c.CheckTimeWait();
  if (c.local_port != 0 || (c.state != State::kInit && c.state != State::kClosed) ||
      c.sock != SockState::kUnconnected) {
    return Errno(EINVAL);
  }
  if (ip_addr_ismulticast(&ip.addr) || !IsLocalAddress(ip.addr, false)) return Errno(EADDRNOTAVAIL);
  if (ip.port != 0 && ip.port < 1024 && !may_low_port) return Errno(EACCES);
  TRY(c.EnsurePcb());
  TRY(c.BindPcb(ip.addr, ip.port));
  c.user_bound = true;
  return Ok();
}

Result<void> TcpSocket::Connect(Task& task, const SockAddr& sa) {
  TcpConn& c = *conn_;
  if (sa.family() == AF_UNSPEC && sa.len >= sizeof(sa_family_t)) {
    // Disconnect: Linux's tcp_disconnect aborts the connection and leaves a fresh socket.
    CoreLock l;
    if (c.state == State::kListen || c.state == State::kConnected ||
        c.state == State::kConnecting) {
      c.Close(true);
    }
    c.state = State::kInit;
    c.sock = SockState::kUnconnected;
    c.rx_fin = c.shut_rd = c.shut_wr = false;
    c.Consume({}, c.rx_bytes, false);
    c.Notify(kAllEvents);
    return Ok();
  }
  bool nonblocking = flags() & O_NONBLOCK;
  {
    CoreLock l;
    IpPort ip = TRY(ParseAddr(family(), sa, c.ip.v6only, AddrUse::kConnect));
    c.CheckTimeWait();
    switch (c.sock) {
      case SockState::kConnected:
        return Errno(EISCONN);
      case SockState::kConnecting:
        if (c.state == State::kConnected) {
          c.sock = SockState::kConnected;
          return Ok();
        }
        if (c.state != State::kConnecting) {
          c.sock = SockState::kUnconnected;
          int e = std::exchange(c.err, 0);
          return Errno(e ? e : ECONNABORTED);
        }
        if (nonblocking) return Errno(EALREADY);
        break;
      case SockState::kUnconnected: {
        if (c.state == State::kListen || c.state == State::kConnected) return Errno(EISCONN);
        if (ip_addr_ismulticast(&ip.addr)) return Errno(ENETUNREACH);
        AnyToLoopback(&ip.addr);
        if (!RouteTo(ip.addr)) return Errno(ENETUNREACH);
        TRY(c.EnsurePcb());
        c.err = 0;
        c.rx_fin = c.shut_rd = c.shut_wr = false;
        // lwIP checks that the connection's addresses and ports are unique only for pcbs
        // marked SO_REUSEADDR; Linux always does.
        u8_t opts = c.pcb->so_options;
        ip_set_option(c.pcb, SOF_REUSEADDR);
        err_t e = tcp_connect(c.pcb, &ip.addr, ip.port, OnConnected);
        c.pcb->so_options = opts;
        if (e != ERR_OK) {
          if (e == ERR_USE) return Errno(EADDRNOTAVAIL);
          return Errno(ErrnoFromErr(e));
        }
        c.ApplyOptions();
        c.RememberNames();
        c.state = State::kConnecting;
        c.sock = SockState::kConnecting;
        break;
      }
    }
  }
  // Releasing the lock above ran the handshake on loopback; elsewhere it takes a while.
  if (nonblocking) return Errno(EINPROGRESS);
  std::optional<absl::Time> deadline = SendDeadline();
  kernel::WaiterRegistration reg(c.queue, &task, kEventOut | kEventErr | kEventHup);
  for (;;) {
    {
      CoreLock l;
      if (c.state != State::kConnecting) {
        if (c.state == State::kConnected) {
          c.sock = SockState::kConnected;
          return Ok();
        }
        c.sock = SockState::kUnconnected;
        int e = std::exchange(c.err, 0);
        return Errno(e ? e : ECONNABORTED);
      }
    }
    Result<void> r = Wait(task, deadline);
    if (!r.ok()) return r.error().value() == EAGAIN ? Errno(EINPROGRESS) : r.error();
  }
}

Result<void> TcpSocket::Listen(Task&, int backlog) {
  CoreLock l;
  TcpConn& c = *conn_;
  c.CheckTimeWait();
  if (c.state == State::kListen) {
    c.backlog = backlog;
    return Ok();
  }
  if (c.sock != SockState::kUnconnected ||
      (c.state != State::kInit && c.state != State::kBound && c.state != State::kClosed)) {
    return Errno(EINVAL);
  }
  TRY(c.EnsurePcb());
  if (c.local_port == 0) {
    ip_addr_t any{};
    if (family() == AF_INET) {
      ip_addr_set_any(0, &any);
    } else if (c.ip.v6only) {
      ip_addr_set_any(1, &any);
    } else {
      ip_addr_set_any(0, &any);
      IP_SET_TYPE_VAL(any, IPADDR_TYPE_ANY);
    }
    TRY(c.BindPcb(any, 0));
  }
  // Two listeners on one port need SO_REUSEPORT on both (SO_REUSEADDR let them bind).
  for (tcp_pcb* o = tcp_listen_pcbs.pcbs; o; o = o->next) {
    if (o->local_port != c.pcb->local_port || !AddressesOverlap(o->local_ip, c.pcb->local_ip))
      continue;
    BindClaim have = TcpConn::ClaimOf(o);
    if (!(c.ip.reuseport && have.reuseport && have.uid == c.ip.uid)) return Errno(EADDRINUSE);
  }
  // lwIP refuses a second listener on the same address for pcbs marked SO_REUSEADDR.
  ip_reset_option(c.pcb, SOF_REUSEADDR);
  err_t e = ERR_OK;
  tcp_pcb* lp =
      tcp_listen_with_backlog_and_err(c.pcb, static_cast<u8_t>(std::clamp(backlog, 1, 255)), &e);
  if (!lp) {
    c.ApplyOptions();
    return Errno(e == ERR_USE ? EADDRINUSE : ErrnoFromErr(e));
  }
  c.pcb = lp;
  tcp_arg(lp, &c);
  tcp_accept(lp, OnAccept);
  c.ApplyOptions();
  c.state = State::kListen;
  c.backlog = backlog;
  return Ok();
}

Result<RefPtr<Socket>> TcpSocket::Accept(Task& task, int new_flags, SockAddr* peer) {
  TcpConn& c = *conn_;
  std::unique_ptr<TcpConn> conn;
  std::optional<kernel::WaiterRegistration> reg;
  std::optional<absl::Time> deadline;
  for (;;) {
    {
      CoreLock l;
      if (c.state != State::kListen) return Errno(EINVAL);
      if (!c.accepted.empty()) {
        conn = std::move(c.accepted.front());
        c.accepted.pop_front();
        break;
      }
    }
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(c.queue, &task, kEventIn);
      deadline = RecvDeadline();
      continue;
    }
    TRY(Wait(task, deadline));
  }
  auto s = MakeRef<TcpSocket>(family(), new_flags, task.creds()->fsuid, task.creds()->fsgid,
                              std::move(conn));
  {
    absl::MutexLock a(&opt_mu_);
    absl::MutexLock b(&s->opt_mu_);
    // SO_KEEPALIVE, SO_REUSEADDR and the like carry over; the timeouts do too on Linux.
    s->opts_ = opts_;
  }
  CoreLock l;
  if (peer) *peer = MakeSockAddr(family(), &s->conn_->remote, s->conn_->remote_port);
  return RefPtr<Socket>(std::move(s));
}

Result<size_t> TcpSocket::SendMsg(Task& task, SendArgs& args) {
  TcpConn& c = *conn_;
  std::span<const uint8_t> data = args.data;
  bool nonblocking = NonBlocking(args.flags);
  size_t done = 0;
  std::optional<kernel::WaiterRegistration> reg;
  std::optional<absl::Time> deadline;
  for (;;) {
    {
      CoreLock l;
      c.CheckTimeWait();
      if (c.err && (c.state == State::kClosed || c.state == State::kConnecting)) {
        if (done) return done;
        return Errno(std::exchange(c.err, 0));
      }
      if (c.shut_wr || c.state == State::kClosed || c.state == State::kInit ||
          c.state == State::kBound || c.state == State::kListen) {
        if (done) return done;
        return Errno(EPIPE);
      }
      if (c.state == State::kConnected) {
        while (done < data.size() && c.Writable()) {
          size_t n = std::min<size_t>({data.size() - done, tcp_sndbuf(c.pcb), 0xffff});
          u8_t wflags = TCP_WRITE_FLAG_COPY;
          if (done + n < data.size() || (args.flags & MSG_MORE)) wflags |= TCP_WRITE_FLAG_MORE;
          err_t e = tcp_write(c.pcb, data.data() + done, static_cast<u16_t>(n), wflags);
          if (e == ERR_MEM) break;
          if (e != ERR_OK) {
            if (done) return done;
            return Errno(ErrnoFromErr(e));
          }
          done += n;
        }
        if (done > 0) tcp_output(c.pcb);
        if (done == data.size()) return done;
      }
    }
    if (nonblocking) {
      if (done) return done;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(c.queue, &task, kEventOut | kEventErr | kEventHup);
      deadline = SendDeadline();
      continue;
    }
    Result<void> r = Wait(task, deadline);
    if (!r.ok()) {
      if (done) return done;
      return r.error();
    }
  }
}

Result<RecvResult> TcpSocket::RecvMsg(Task& task, std::span<uint8_t> buf, int flags) {
  TcpConn& c = *conn_;
  if (flags & MSG_OOB) return Errno(EINVAL);
  if (flags & MSG_ERRQUEUE) return Errno(EAGAIN);
  bool peek = flags & MSG_PEEK;
  bool trunc = flags & MSG_TRUNC;
  bool waitall = (flags & MSG_WAITALL) && !peek;
  bool nonblocking = NonBlocking(flags);
  RecvResult r;
  std::optional<kernel::WaiterRegistration> reg;
  std::optional<absl::Time> deadline;
  for (;;) {
    {
      CoreLock l;
      c.CheckTimeWait();
      if (c.state == State::kListen || ((c.state == State::kInit || c.state == State::kBound) &&
                                        c.sock == SockState::kUnconnected)) {
        return Errno(ENOTCONN);
      }
      if (c.rx_bytes > 0 && r.copied < buf.size()) {
        size_t n = std::min(c.rx_bytes, buf.size() - r.copied);
        c.Consume(trunc ? std::span<uint8_t>() : buf.subspan(r.copied, n), n, peek);
        r.copied += n;
        r.length = r.copied;
      }
      if (buf.empty() || r.copied == buf.size() || (r.copied > 0 && !waitall)) {
        if (trunc) r.copied = 0;
        return r;
      }
      if (c.err && c.state == State::kClosed) {
        if (r.copied) break;
        return Errno(std::exchange(c.err, 0));
      }
      if (c.rx_fin || c.shut_rd || c.state == State::kClosed) break;
    }
    if (nonblocking) {
      if (r.copied) break;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(c.queue, &task, kEventIn | kEventErr | kEventHup | kEventRdHup);
      deadline = RecvDeadline();
      continue;
    }
    Result<void> w = Wait(task, deadline);
    if (!w.ok()) {
      if (r.copied) break;
      return w.error();
    }
  }
  if (trunc) r.copied = 0;
  return r;
}

Result<void> TcpSocket::Shutdown(Task&, int how) {
  CoreLock l;
  TcpConn& c = *conn_;
  c.CheckTimeWait();
  bool rd = how == SHUT_RD || how == SHUT_RDWR;
  bool wr = how == SHUT_WR || how == SHUT_RDWR;
  if (c.state == State::kListen) {
    if (!rd) return Errno(ENOTCONN);
    // Linux stops listening; accept() then says EINVAL.
    c.Close(false);
    c.state = State::kClosed;
    c.Notify(kAllEvents);
    return Ok();
  }
  if (c.state != State::kConnected) {
    if (c.state == State::kClosed && c.sock == SockState::kConnected) {
      c.shut_rd |= rd;
      c.shut_wr |= wr;
    }
    return Errno(ENOTCONN);
  }
  if (rd) c.shut_rd = true;
  if (wr && !c.shut_wr) {
    c.shut_wr = true;
    if (c.pcb) {
      tcp_shutdown(c.pcb, 0, 1);
      c.CheckTimeWait();
    }
  }
  c.Notify(kAllEvents);
  return Ok();
}

Result<SockAddr> TcpSocket::GetSockName(Task&) {
  CoreLock l;
  TcpConn& c = *conn_;
  c.CheckTimeWait();
  if (c.pcb) c.RememberNames();
  return MakeSockAddr(family(), &c.local, c.local_port);
}

Result<SockAddr> TcpSocket::GetPeerName(Task&) {
  CoreLock l;
  TcpConn& c = *conn_;
  c.CheckTimeWait();
  if (c.state != State::kConnected) return Errno(ENOTCONN);
  return MakeSockAddr(family(), &c.remote, c.remote_port);
}

Result<std::vector<uint8_t>> TcpSocket::GetTcpOpt(int name, size_t len) {
  TcpConn& c = *conn_;
  auto int_opt = [len](int v) {
    std::vector<uint8_t> out = OptionBytes(v);
    out.resize(std::min(out.size(), len));
    return out;
  };
  switch (name) {
    case TCP_NODELAY:
      return int_opt(c.nodelay);
    case TCP_CORK:
      return int_opt(c.cork);
    case TCP_KEEPIDLE:
      return int_opt(c.keepidle);
    case TCP_KEEPINTVL:
      return int_opt(c.keepintvl);
    case TCP_KEEPCNT:
      return int_opt(c.keepcnt);
    case TCP_MAXSEG:
      if (c.pcb && c.state == State::kConnected) return int_opt(c.pcb->mss);
      return int_opt(c.maxseg ? c.maxseg : kDefaultMss);
    case TCP_QUICKACK:
      return int_opt(1);
    case TCP_SYNCNT:
      return int_opt(6);
    case TCP_LINGER2:
      return int_opt(60);
    case TCP_DEFER_ACCEPT:
    case TCP_USER_TIMEOUT:
    case TCP_WINDOW_CLAMP:
      return int_opt(0);
    case TCP_CONGESTION: {
      std::vector<uint8_t> out{'r', 'e', 'n', 'o', 0};
      out.resize(std::min<size_t>(16, len), 0);
      return out;
    }
    case TCP_INFO: {
      tcp_info info{};
      tcp_pcb* p = c.pcb;
      if (c.state == State::kListen) {
        info.tcpi_state = TCP_LISTEN;
      } else if (p) {
        info.tcpi_state = static_cast<uint8_t>(LinuxTcpState(p->state));
      } else {
        info.tcpi_state = TCP_CLOSE;
      }
      if (p && c.state != State::kListen) {
        info.tcpi_snd_mss = p->mss;
        info.tcpi_rcv_mss = p->mss;
        info.tcpi_rto = static_cast<uint32_t>(p->rto) * TCP_SLOW_INTERVAL * 1000;
        info.tcpi_ato = 40000;
        info.tcpi_rtt = static_cast<uint32_t>(p->sa >> 3) * TCP_SLOW_INTERVAL * 1000;
        info.tcpi_rttvar = static_cast<uint32_t>(p->sv >> 2) * TCP_SLOW_INTERVAL * 1000;
        info.tcpi_snd_cwnd = p->mss ? p->cwnd / p->mss : 0;
        info.tcpi_snd_ssthresh = p->mss ? p->ssthresh / p->mss : 0;
        info.tcpi_rcv_space = p->rcv_wnd;
        info.tcpi_unacked = p->snd_queuelen;
        info.tcpi_retransmits = p->nrtx;
      }
      std::vector<uint8_t> out = OptionBytes(info);
      out.resize(std::min(out.size(), len));
      return out;
    }
    default:
      return Errno(ENOPROTOOPT);
  }
}

Result<void> TcpSocket::SetTcpOpt(int name, std::span<const uint8_t> val) {
  TcpConn& c = *conn_;
  if (name == TCP_CONGESTION) return Ok();  // one algorithm; any name is taken
  int v = TRY(OptionInt(val));
  switch (name) {
    case TCP_NODELAY:
      c.nodelay = v != 0;
      break;
    case TCP_CORK:
      c.cork = v != 0;
      break;
    case TCP_KEEPIDLE:
      if (v < 1 || v > 32767) return Errno(EINVAL);
      c.keepidle = v;
      break;
    case TCP_KEEPINTVL:
      if (v < 1 || v > 32767) return Errno(EINVAL);
      c.keepintvl = v;
      break;
    case TCP_KEEPCNT:
      if (v < 1 || v > 127) return Errno(EINVAL);
      c.keepcnt = v;
      break;
    case TCP_MAXSEG:
      if (v != 0 && (v < 88 || v > 32767)) return Errno(EINVAL);
      c.maxseg = v;
      break;
    case TCP_QUICKACK:
    case TCP_DEFER_ACCEPT:
    case TCP_LINGER2:
    case TCP_WINDOW_CLAMP:
    case TCP_FASTOPEN:
    case TCP_FASTOPEN_CONNECT:
      break;
    case TCP_SYNCNT:
      if (v < 1 || v > 127) return Errno(EINVAL);
      break;
    case TCP_USER_TIMEOUT:
      if (v < 0) return Errno(EINVAL);
      break;
    default:
      return Errno(ENOPROTOOPT);
  }
  c.ApplyOptions();
  if (name == TCP_NODELAY && c.nodelay && c.pcb && c.state == State::kConnected) tcp_output(c.pcb);
  return Ok();
}

Result<std::vector<uint8_t>> TcpSocket::GetSockOpt(Task& task, int level, int name, size_t len) {
  {
    CoreLock l;
    TcpConn& c = *conn_;
    c.CheckTimeWait();
    if (level == SOL_SOCKET && name == SO_ERROR) {
      std::vector<uint8_t> out = OptionBytes(std::exchange(c.err, 0));
      out.resize(std::min(out.size(), len));
      return out;
    }
    if (level == SOL_SOCKET && name == SO_ACCEPTCONN) {
      std::vector<uint8_t> out = OptionBytes(static_cast<int>(c.state == State::kListen));
      out.resize(std::min(out.size(), len));
      return out;
    }
    if (level == IPPROTO_TCP) return GetTcpOpt(name, len);
    if (level == IPPROTO_IP || level == IPPROTO_IPV6 || level == SOL_SOCKET) {
      Result<std::vector<uint8_t>> r = GetIpOption(c.ip, family(), level, name, len);
      if (r.ok() || level != SOL_SOCKET) return r;
    }
  }
  return Socket::GetSockOpt(task, level, name, len);
}

Result<void> TcpSocket::SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) {
  bool net_admin = task.creds()->HasCap(CAP_NET_ADMIN);
  if (level == SOL_SOCKET && name != SO_RCVBUF && name != SO_SNDBUF && name != SO_RCVBUFFORCE &&
      name != SO_SNDBUFFORCE) {
    TRY(Socket::SetSockOpt(task, level, name, val));
    CommonOptions o = options();
    CoreLock l;
    TcpConn& c = *conn_;
    c.ip.reuseaddr = o.reuseaddr;
    c.ip.reuseport = o.reuseport;
    c.ip.keepalive = o.keepalive;
    c.ip.broadcast = o.broadcast;
    c.CheckTimeWait();
    c.ApplyOptions();
    return Ok();
  }
  CoreLock l;
  TcpConn& c = *conn_;
  c.CheckTimeWait();
  if (level == IPPROTO_TCP) return SetTcpOpt(name, val);
  bool bound = c.local_port != 0 || c.state == State::kListen;
  TRY(SetIpOption(c.ip, family(), bound, level, name, val, net_admin));
  c.ApplyOptions();
  return Ok();
}

Result<long> TcpSocket::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  int v;
  {
    CoreLock l;
    TcpConn& c = *conn_;
    c.CheckTimeWait();
    switch (cmd) {
      case SIOCINQ:
        if (c.state == State::kListen) return Errno(EINVAL);
        v = static_cast<int>(c.rx_bytes);
        break;
      case SIOCOUTQ:
      case SIOCOUTQNSD:
        if (c.state == State::kListen) return Errno(EINVAL);
        v = c.pcb && c.state == State::kConnected ? c.pcb->snd_lbb - c.pcb->lastack : 0;
        break;
      default:
        return Socket::Ioctl(task, cmd, arg);
    }
  }
  TRY(task.CopyOutObj(arg, v));
  return 0;
}

}  // namespace

Result<RefPtr<Socket>> NewTcpSocket(Task& task, int family, int flags) {
  auto conn = std::make_unique<TcpConn>(family);
  RefPtr<Socket> s =
      MakeRef<TcpSocket>(family, flags, task.creds()->fsuid, task.creds()->fsgid, std::move(conn));
  return s;
}

std::vector<SocketInfo> TcpSockets() {
  std::vector<SocketInfo> out;
  CoreLock l;
  for (tcp_pcb* const* list : tcp_pcb_lists) {
    for (tcp_pcb* p = *list; p; p = p->next) {
      auto* c = static_cast<TcpConn*>(p->callback_arg);
      SocketInfo i;
      i.family = c ? c->family : (IP_IS_V6_VAL(p->local_ip) ? AF_INET6 : AF_INET);
      i.protocol = IPPROTO_TCP;
      i.local = MakeSockAddr(i.family, &p->local_ip, p->local_port);
      i.remote = MakeSockAddr(i.family, p->state == LISTEN ? nullptr : &p->remote_ip,
                              p->state == LISTEN ? 0 : p->remote_port);
      i.state = LinuxTcpState(p->state);
      if (c) {
        i.uid = c->ip.uid;
        i.inode = c->ip.ino;
        if (p->state == LISTEN) {
          i.rx_queue = static_cast<uint32_t>(c->accepted.size());
          i.tx_queue = static_cast<uint32_t>(c->backlog);
        } else {
          i.rx_queue = static_cast<uint32_t>(c->rx_bytes);
          i.tx_queue = p->snd_lbb - p->lastack;
        }
      }
      out.push_back(std::move(i));
    }
  }
  return out;
}

void StartTcpTimeWaitSweep() {
  g_core.AssertHeld();
  sys_timeout(1000, tcp::SweepTimeWait, nullptr);
}

}  // namespace moat::sockets::netstack
