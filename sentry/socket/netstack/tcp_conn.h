// The state of one lwIP TCP connection (TcpConn) and the lwIP callbacks that drive it, for the
// TCP sockets of tcp.cc.
//
// Ownership: a TcpSocket owns its TcpConn; a listener owns the TcpConns of the connections lwIP
// completed until accept() takes one. The pcb's callback argument points at the TcpConn until
// Detach clears it (the socket closes, lwIP frees the pcb after an error, or the connection
// enters TIME_WAIT).
//
// Locking: every field of a TcpConn, and every call into lwIP, is under the core lock (g_core).
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_TCP_CONN_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_TCP_CONN_H_

#include <deque>
#include <memory>

#include "sentry/socket/netstack/core.h"
#include "sentry/socket/netstack/inet.h"

namespace moat::sockets::netstack::tcp {

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

// Drops the pcbs of sockets still open whose connections went to TIME_WAIT without a callback
// (a simultaneous close), long before lwIP frees them (2*MSL). Runs in tcpip_thread and
// schedules itself again.
void SweepTimeWait(void*);

}  // namespace moat::sockets::netstack::tcp

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_TCP_CONN_H_
