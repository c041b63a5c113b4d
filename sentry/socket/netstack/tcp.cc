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

#include <deque>
#include <memory>

#include "sentry/kernel/task.h"
#include "sentry/socket/netstack/core.h"
#include "sentry/socket/netstack/inet.h"

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

constexpr int kDefaultRcvbuf = 131072;  // tcp_rmem[1]
constexpr int kDefaultSndbuf = 16384;   // tcp_wmem[1]
constexpr int kDefaultMss = 536;        // TCP_MSS_DEFAULT, before a connection
// How far receive-buffer auto-tuning goes (Linux's tcp_rmem[2] is larger: 6 MiB and up).
constexpr size_t kMaxAutoRcvbuf = 4 << 20;
constexpr EventMask kAllEvents =
    kEventIn | kEventOut | kEventErr | kEventHup | kEventRdHup | kEventRdNorm | kEventWrNorm;

enum class State { kInit, kBound, kListen, kConnecting, kConnected, kClosed };
// Linux's sock->state, which connect() follows: a non-blocking connect that completed reports
// success once, then EISCONN.
enum class SockState { kUnconnected, kConnecting, kConnected };

err_t OnRecv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err);
err_t OnSent(void* arg, tcp_pcb* pcb, u16_t len);
void OnErr(void* arg, err_t err);
err_t OnConnected(void* arg, tcp_pcb* pcb, err_t err);
err_t OnAccept(void* arg, tcp_pcb* newpcb, err_t err);

struct TcpConn {
  explicit TcpConn(int family) : family(family) {
    ip.rcvbuf = kDefaultRcvbuf;
    ip.sndbuf = kDefaultSndbuf;
  }
  ~TcpConn() {
    for (pbuf* p : rx) pbuf_free(p);
  }

  const int family;
  tcp_pcb* pcb = nullptr;
  State state = State::kInit;
  SockState sock = SockState::kUnconnected;
  kernel::WaitQueue queue;

  // Received data not yet read; rx_off bytes of the first pbuf are read already.
  std::deque<pbuf*> rx;
  size_t rx_off = 0;
  size_t rx_bytes = 0;
  size_t credited = 0;  // of rx_bytes, those lwIP's window was reopened for already (Credit)
  size_t rcv_budget = 0;  // how many of them there may be
  bool budget_filled = false;  // the budget held the window back since the queue was last empty
  bool rx_fin = false;  // the peer sent FIN
  bool shut_rd = false, shut_wr = false;
  int err = 0;  // SO_ERROR

  std::deque<std::unique_ptr<TcpConn>> accepted;  // a listener's completed connections
  int backlog = 0;

  // The names, kept for when the pcb is gone.
  ip_addr_t local{}, remote{};
  uint16_t local_port = 0, remote_port = 0;
  bool user_bound = false;  // bind() chose the address: it survives a failed connect

  IpOptions ip;
  bool nodelay = false, cork = false;
  int keepidle = 7200, keepintvl = 75, keepcnt = 9;
  int maxseg = 0;

  void Notify(EventMask m) { queue.Notify(m); }

  // Clears the pcb's callbacks so that lwIP no longer reaches this object.
  static void Detach(tcp_pcb* p) {
    tcp_arg(p, nullptr);
    if (p->state == LISTEN) {
      tcp_accept(p, nullptr);
      return;
    }
    tcp_recv(p, nullptr);
    tcp_sent(p, nullptr);
    tcp_err(p, nullptr);
  }

  // A pcb in TIME_WAIT is lwIP's alone (it frees it without telling anyone).
  void CheckTimeWait() {
    if (pcb && pcb->state == TIME_WAIT) {
      Detach(pcb);
      pcb = nullptr;
      state = State::kClosed;
    }
  }

  void RememberNames() {
    if (!pcb) return;
    local = pcb->local_ip;
    local_port = pcb->local_port;
    if (pcb->state != LISTEN) {
      remote = pcb->remote_ip;
      remote_port = pcb->remote_port;
    }
  }

  void ApplyOptions() {
    if (!pcb) return;
    ApplyIpOptions(ip, family, reinterpret_cast<ip_pcb*>(pcb));
    if (pcb->state == LISTEN) return;
    if (nodelay) {
      tcp_nagle_disable(pcb);
    } else {
      tcp_nagle_enable(pcb);
    }
    pcb->keep_idle = static_cast<u32_t>(keepidle) * 1000;
    pcb->keep_intvl = static_cast<u32_t>(keepintvl) * 1000;
    pcb->keep_cnt = static_cast<u32_t>(keepcnt);
  }

  // A pcb for a socket that has none (new, or after a failed connect), bound again where
  // bind() put the old one.
  Result<void> EnsurePcb() {
    if (pcb) return Ok();
    u8_t type = family == AF_INET ? IPADDR_TYPE_V4 : (ip.v6only ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY);
    pcb = tcp_new_ip_type(type);
    if (!pcb) return Errno(ENOBUFS);
    tcp_arg(pcb, this);
    tcp_recv(pcb, OnRecv);
    tcp_sent(pcb, OnSent);
    tcp_err(pcb, OnErr);
    ApplyOptions();
    state = State::kInit;
    if (user_bound) {
      TRY(BindPcb(local, local_port));
    } else {
      local_port = 0;
    }
    return Ok();
  }

  // Binds the pcb with Linux's conflict rules, which differ from lwIP's: lwIP's own check is
  // skipped by marking every pcb on the port SO_REUSEADDR for the duration of the call.
  Result<void> BindPcb(const ip_addr_t& addr, uint16_t port) {
    if (port != 0) {
      BindClaim want{&addr, ip.reuseaddr, ip.reuseport, false, ip.uid};
      for (tcp_pcb* const* list : tcp_pcb_lists) {
        for (tcp_pcb* o = *list; o; o = o->next) {
          if (o == pcb || o->local_port != port) continue;
          if (Conflicts(want, ClaimOf(o))) return Errno(EADDRINUSE);
        }
      }
    }
    std::vector<std::pair<tcp_pcb*, u8_t>> saved;
    for (tcp_pcb* const* list : tcp_pcb_lists) {
      for (tcp_pcb* o = *list; o; o = o->next) {
        if (port != 0 && o->local_port == port) {
          saved.emplace_back(o, o->so_options);
          ip_set_option(o, SOF_REUSEADDR);
        }
      }
    }
    u8_t mine = pcb->so_options;
    ip_set_option(pcb, SOF_REUSEADDR);
    err_t e = tcp_bind(pcb, &addr, port);
    pcb->so_options = mine;
    for (auto& [o, opts] : saved) o->so_options = opts;
    if (e != ERR_OK) return Errno(e == ERR_USE ? EADDRINUSE : ErrnoFromErr(e));
    state = State::kBound;
    RememberNames();
    return Ok();
  }

  static BindClaim ClaimOf(tcp_pcb* o) {
    auto* c = static_cast<TcpConn*>(o->callback_arg);
    if (c) {
      return {&o->local_ip, c->ip.reuseaddr, c->ip.reuseport, o->state == LISTEN, c->ip.uid};
    }
    return {&o->local_ip, (o->so_options & SOF_REUSEADDR) != 0, false, o->state == LISTEN, 0};
  }

  // Ends the connection for close(): an abortive close (RST) with unread data or a zero
  // SO_LINGER, else an orderly one that lwIP finishes on its own.
  void Close(bool rst) {
    for (auto& a : accepted) a->Close(true);
    accepted.clear();
    CheckTimeWait();
    if (!pcb) return;
    tcp_pcb* p = pcb;
    pcb = nullptr;
    Detach(p);
    if (p->state == LISTEN || p->state == CLOSED) {
      tcp_close(p);
      return;
    }
    if (rst || rx_bytes > 0) {
      tcp_abort(p);
      return;
    }
    if (tcp_close(p) != ERR_OK) tcp_abort(p);
  }

  bool Writable() const {
    return pcb && tcp_sndbuf(pcb) > 0 && tcp_sndqueuelen(pcb) < TCP_SND_QUEUELEN;
  }

  EventMask Readiness() {
    CheckTimeWait();
    EventMask m = 0;
    switch (state) {
      case State::kListen:
        if (!accepted.empty()) m |= kEventIn | kEventRdNorm;
        break;
      case State::kInit:
      case State::kBound:
        m |= kEventOut | kEventWrNorm | kEventHup;
        break;
      case State::kConnecting:
        break;
      case State::kConnected:
      case State::kClosed: {
        bool closed = state == State::kClosed;
        bool rd = rx_fin || shut_rd || closed;
        bool wr = shut_wr || closed;
        if ((rd && wr) || closed) m |= kEventHup;
        if (rd) m |= kEventIn | kEventRdNorm | kEventRdHup;
        if (rx_bytes > 0) m |= kEventIn | kEventRdNorm;
        if (wr || Writable()) m |= kEventOut | kEventWrNorm;
        break;
      }
    }
    if (err) m |= kEventErr;
    return m;
  }

  // Reopens lwIP's receive window for `consumed` bytes just read, and ahead of the reader for
  // received bytes still queued, as far as the receive buffer holds more than lwIP's window: the
  // sender need not wait for each read (lwIP's window is its build's TCP_WND, 64 KiB, too little
  // to keep a veth busy on its own). The credited bytes are the oldest of the queue, the first
  // that reads take.
  //
  // The buffer beyond the window starts at what SO_RCVBUF reports. Unless the application set
  // SO_RCVBUF, it grows as Linux's receive-buffer auto-tuning does for a reader that keeps up: it
  // doubles when a reader empties a queue that had filled it, up to kMaxAutoRcvbuf. A reader
  // that does not read never grows it.
  void Credit(size_t consumed) {
    size_t rcvbuf = static_cast<size_t>(ip.rcvbuf);
    size_t fixed = rcvbuf > TCP_WND ? rcvbuf - TCP_WND : 0;
    if (ip.rcvbuf_locked || rcv_budget < fixed) rcv_budget = fixed;
    if (consumed > 0 && rx_bytes == 0 && budget_filled && !ip.rcvbuf_locked) {
      rcv_budget = std::min(rcv_budget * 2, kMaxAutoRcvbuf);
      budget_filled = false;
    }
    size_t from_ahead = std::min(consumed, credited);
    credited -= from_ahead;
    size_t owed = consumed - from_ahead;
    size_t ahead = std::min(rx_bytes - credited, rcv_budget > credited ? rcv_budget - credited : 0);
    credited += ahead;
    owed += ahead;
    if (credited >= rcv_budget && rx_bytes > credited) budget_filled = true;
    for (size_t left = owed; pcb && left > 0;) {
      u16_t part = static_cast<u16_t>(std::min<size_t>(left, 0xffff));
      tcp_recved(pcb, part);
      left -= part;
    }
  }

  // Takes `n` bytes off the receive queue (copying them to `dst` unless it is empty) and opens
  // the window by as much.
  void Consume(std::span<uint8_t> dst, size_t n, bool peek) {
    size_t off = rx_off, done = 0;
    auto it = rx.begin();
    while (done < n && it != rx.end()) {
      size_t avail = (*it)->tot_len - off;
      size_t take = std::min(avail, n - done);
      if (!dst.empty()) CopyFromPbuf(*it, off, dst.subspan(done, take));
      done += take;
      off += take;
      if (off == (*it)->tot_len) {
        ++it;
        off = 0;
      }
    }
    if (peek) return;
    while (rx.begin() != it) {
      pbuf_free(rx.front());
      rx.pop_front();
    }
    rx_off = off;
    rx_bytes -= done;
    Credit(done);
  }
};

err_t OnRecv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err) {
  g_core.AssertHeld();
  auto* c = static_cast<TcpConn*>(arg);
  if (!c) return tcp_recv_null(nullptr, pcb, p, err);
  if (!p) {
    c->rx_fin = true;
    c->CheckTimeWait();
    c->Notify(kEventIn | kEventRdNorm | kEventRdHup);
    return ERR_OK;
  }
  c->rx.push_back(p);
  c->rx_bytes += p->tot_len;
  c->Credit(0);
  c->Notify(kEventIn | kEventRdNorm);
  return ERR_OK;
}

err_t OnSent(void* arg, tcp_pcb*, u16_t) {
  g_core.AssertHeld();
  auto* c = static_cast<TcpConn*>(arg);
  if (!c) return ERR_OK;
  c->CheckTimeWait();
  c->Notify(kEventOut | kEventWrNorm);
  return ERR_OK;
}

void OnErr(void* arg, err_t err) {
  g_core.AssertHeld();
  auto* c = static_cast<TcpConn*>(arg);
  if (!c) return;
  // lwIP has freed the pcb.
  c->pcb = nullptr;
  if (c->state == State::kConnecting) {
    c->err = err == ERR_RST ? ECONNREFUSED : ETIMEDOUT;
  } else if (err == ERR_RST) {
    c->err = ECONNRESET;
  } else if (err == ERR_ABRT) {
    c->err = ETIMEDOUT;  // retransmissions or keepalives gave up
  }
  c->state = State::kClosed;
  c->Notify(kAllEvents);
}

// lwIP's send buffer is TCP_SND_BUF (64 KiB in Debian's build), which caps the data in flight
// to a window's worth: too little to keep a veth busy while the sender waits for ACKs. The
// pcb's count is a field, raised here as far as the build's segment queue (TCP_SND_QUEUELEN,
// four buffers' worth of MSS segments) leaves room; the slow-start threshold goes with it.
constexpr tcpwnd_size_t kSendBuffer = 3 * TCP_SND_BUF;

void GrowSendBuffer(tcp_pcb* pcb) {
  if (!pcb) return;
  pcb->snd_buf += kSendBuffer - TCP_SND_BUF;
  pcb->ssthresh = std::max<tcpwnd_size_t>(pcb->ssthresh, kSendBuffer);
}

err_t OnConnected(void* arg, tcp_pcb* pcb, err_t) {
  g_core.AssertHeld();
  auto* c = static_cast<TcpConn*>(arg);
  if (!c) return ERR_OK;
  GrowSendBuffer(pcb);
  c->state = State::kConnected;
  c->RememberNames();
  c->Notify(kEventOut | kEventWrNorm);
  return ERR_OK;
}

err_t OnAccept(void* arg, tcp_pcb* newpcb, err_t err) {
  g_core.AssertHeld();
  auto* l = static_cast<TcpConn*>(arg);
  if (err != ERR_OK || !newpcb) return ERR_VAL;
  if (!l || l->state != State::kListen) {
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  auto c = std::make_unique<TcpConn>(l->family);
  c->pcb = newpcb;
  GrowSendBuffer(newpcb);
  c->state = State::kConnected;
  c->sock = SockState::kConnected;
  // What Linux copies from the listener to the new socket.
  c->ip = l->ip;
  c->ip.ino = 0;
  c->nodelay = l->nodelay;
  c->keepidle = l->keepidle;
  c->keepintvl = l->keepintvl;
  c->keepcnt = l->keepcnt;
  c->maxseg = l->maxseg;
  tcp_arg(newpcb, c.get());
  tcp_recv(newpcb, OnRecv);
  tcp_sent(newpcb, OnSent);
  tcp_err(newpcb, OnErr);
  c->ApplyOptions();
  c->RememberNames();
  l->accepted.push_back(std::move(c));
  l->Notify(kEventIn | kEventRdNorm);
  return ERR_OK;
}

// Drops the pcbs of sockets still open whose connections went to TIME_WAIT without a callback
// (a simultaneous close), long before lwIP frees them (2*MSL). Runs in tcpip_thread.
void SweepTimeWait(void*) {
  g_core.AssertHeld();
  for (tcp_pcb* p = tcp_tw_pcbs; p; p = p->next) {
    if (auto* c = static_cast<TcpConn*>(p->callback_arg)) c->CheckTimeWait();
  }
  sys_timeout(1000, SweepTimeWait, nullptr);
}

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
  sys_timeout(1000, SweepTimeWait, nullptr);
}

}  // namespace moat::sockets::netstack
