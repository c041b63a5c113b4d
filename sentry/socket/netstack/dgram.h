// What UDP and ping sockets share (internal to sentry/socket/netstack/): a queue of received
// datagrams with their addresses, the receive call, readiness, shutdown, SO_ERROR, FIONREAD,
// and the IP-level options. The protocols (udp.cc, icmp.cc) own their lwIP pcbs, whose
// callbacks point at the socket and fill the queue; every field here is guarded by the core
// lock. A socket removes its pcb, under the lock, before it goes.
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_DGRAM_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_DGRAM_H_

#include <deque>

#include "sentry/socket/netstack/core.h"
#include "sentry/socket/socket.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netstack {

struct Datagram {
  pbuf* p = nullptr;  // the payload (owned)
  ip_addr_t from{};
  uint16_t port = 0;
  ip_addr_t dst{};  // the address it was sent to (IP_PKTINFO)
  int ifindex = 0;  // where it came in
  uint8_t tos = 0, ttl = 0;
};

class DatagramSocket : public Socket {
 public:
  DatagramSocket(int family, int protocol, int flags, uint32_t uid, uint32_t gid);
  ~DatagramSocket() override;

  Result<RecvResult> RecvMsg(Task& task, std::span<uint8_t> buf, int flags) override;
  Result<void> Shutdown(Task& task, int how) override;
  Result<std::vector<uint8_t>> GetSockOpt(Task& task, int level, int name, size_t len) override;
  Result<void> SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) override;
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;
  EventMask Readiness(EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &queue_; }

  // For the pcb's callback: queues `d` unless the receive buffer is full (then it is dropped).
  void Deliver(Datagram d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);
  // For ICMP errors: the socket's pending error (SO_ERROR).
  void SetError(int err) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);
  // Owner, inode and receive queue, for /proc/net.
  SocketInfo Info() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    SocketInfo i;
    i.uid = ip_.uid;
    i.inode = ip_.ino;
    i.rx_queue = rx_.empty() ? 0 : static_cast<uint32_t>(rx_bytes_);
    return i;
  }

 protected:
  // The protocol's pcb, for options that apply to it.
  virtual ip_pcb* Pcb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) = 0;
  virtual bool Bound() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) = 0;
  // Sets the pcb's ttl and tos for a datagram to `dst`.
  void PrepareSend(const ip_addr_t& dst) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);

  kernel::WaitQueue queue_;
  std::deque<Datagram> rx_ ABSL_GUARDED_BY(g_core);
  size_t rx_bytes_ ABSL_GUARDED_BY(g_core) = 0;
  int err_ ABSL_GUARDED_BY(g_core) = 0;
  bool shut_rd_ ABSL_GUARDED_BY(g_core) = false;
  bool shut_wr_ ABSL_GUARDED_BY(g_core) = false;
  bool connected_ ABSL_GUARDED_BY(g_core) = false;
  IpOptions ip_ ABSL_GUARDED_BY(g_core);
};

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_DGRAM_H_
