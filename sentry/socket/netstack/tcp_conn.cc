#include "sentry/socket/netstack/tcp_conn.h"

#include <algorithm>

extern "C" {
#include "lwip/timeouts.h"
}

namespace moat::sockets::netstack::tcp {

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

namespace {

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

}  // namespace

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

void SweepTimeWait(void*) {
  g_core.AssertHeld();
  for (tcp_pcb* p = tcp_tw_pcbs; p; p = p->next) {
    if (auto* c = static_cast<TcpConn*>(p->callback_arg)) c->CheckTimeWait();
  }
  sys_timeout(1000, SweepTimeWait, nullptr);
}

}  // namespace moat::sockets::netstack::tcp
