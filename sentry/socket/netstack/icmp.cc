// ICMP echo ("ping") sockets: SOCK_DGRAM with IPPROTO_ICMP or IPPROTO_ICMPV6, as Linux's
// net/ipv4/ping.c. The application writes an echo request (header and payload); the socket puts
// its identifier (the "port" it is bound to) and the checksum in. It receives the echo replies
// that carry its identifier, without the IP header. Built on an lwIP raw pcb; lwIP itself
// answers echo requests to the stack's own addresses.
#include <set>

#include "sentry/kernel/task.h"
#include "sentry/socket/netstack/dgram.h"
#include "sentry/socket/netstack/inet.h"

extern "C" {
#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip6.h"
}

namespace moat::sockets::netstack {
namespace {

// The identifiers in use, per family (Linux's ping_table).
std::set<std::pair<int, uint16_t>>& Idents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
  static auto* s = new std::set<std::pair<int, uint16_t>>;
  return *s;
}

u8_t OnPingRecv(void* arg, raw_pcb* pcb, pbuf* p, const ip_addr_t* addr);

class PingSocket final : public DatagramSocket {
 public:
  PingSocket(int family, int flags, uint32_t uid, uint32_t gid)
      : DatagramSocket(family, family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6}, flags,
                       uid, gid) {
    CoreLock l;
    bool v6 = family == AF_INET6;
    pcb_ =
        raw_new_ip_type(v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4, v6 ? IP6_NEXTH_ICMP6 : IP_PROTO_ICMP);
    if (pcb_) {
      raw_recv(pcb_, OnPingRecv, this);
      if (v6) {
        // lwIP fills in the ICMPv6 checksum, which covers a pseudo-header.
        pcb_->chksum_reqd = 1;
        pcb_->chksum_offset = 2;
      }
      ApplyIpOptions(ip_, family, Pcb());
    }
  }

  ~PingSocket() override {
    CoreLock l;
    if (pcb_) raw_remove(pcb_);
    pcb_ = nullptr;
    if (ident_) Idents().erase({family(), ident_});
  }

  Result<void> Bind(Task& task, const SockAddr& sa) override;
  Result<void> Connect(Task& task, const SockAddr& sa) override;
  Result<size_t> SendMsg(Task& task, SendArgs& args) override;
  Result<SockAddr> GetSockName(Task& task) override;
  Result<SockAddr> GetPeerName(Task& task) override;

  // For the pcb's callback: whether a message is an echo reply for this socket.
  bool Wants(const uint8_t* hdr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    uint8_t reply = family() == AF_INET ? ICMP_ER : ICMP6_TYPE_EREP;
    return hdr[0] == reply && ident_ != 0 && (hdr[4] << 8 | hdr[5]) == ident_;
  }

 protected:
  ip_pcb* Pcb() override { return reinterpret_cast<ip_pcb*>(pcb_); }
  bool Bound() override { return ident_ != 0; }

 private:
  Result<void> TakeIdent(uint16_t want) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    auto& ids = Idents();
    if (want == 0) {
      static uint16_t next = 1000;
      for (int i = 0; i < 65535 && want == 0; i++) {
        next = next == 65535 ? 1 : next + 1;
        if (!ids.contains({family(), next})) want = next;
      }
      if (want == 0) return Errno(EAGAIN);
    } else if (ids.contains({family(), want})) {
      return Errno(EADDRINUSE);
    }
    ids.insert({family(), want});
    ident_ = want;
    return Ok();
  }

  raw_pcb* pcb_ ABSL_GUARDED_BY(g_core) = nullptr;
  uint16_t ident_ ABSL_GUARDED_BY(g_core) = 0;
};

u8_t OnPingRecv(void* arg, raw_pcb*, pbuf* p, const ip_addr_t* addr) {
  g_core.AssertHeld();
  auto* s = static_cast<PingSocket*>(arg);
  size_t hlen = ip_current_header_tot_len();
  uint8_t hdr[8];
  if (p->tot_len < hlen + sizeof(hdr) ||
      CopyFromPbuf(p, hlen, std::span<uint8_t>(hdr, sizeof(hdr))) < sizeof(hdr) || !s->Wants(hdr)) {
    return 0;
  }
  pbuf_remove_header(p, hlen);
  Datagram d;
  d.p = p;
  d.from = *addr;
  d.dst = *ip_current_dest_addr();
  d.ifindex = IfIndex(ip_current_input_netif());
  d.tos = CurrentTos();
  d.ttl = CurrentTtl();
  s->Deliver(d);
  return 1;
}

Result<void> PingSocket::Bind(Task&, const SockAddr& sa) {
  CoreLock l;
  if (!pcb_) return Errno(ENOBUFS);
  IpPort ip = TRY(ParseAddr(family(), sa, true, AddrUse::kBind));
  if (ident_ != 0) return Errno(EINVAL);
  if (!IsLocalAddress(ip.addr, false)) return Errno(EADDRNOTAVAIL);
  TRY(TakeIdent(ip.port));
  raw_bind(pcb_, &ip.addr);
  return Ok();
}

Result<void> PingSocket::Connect(Task&, const SockAddr& sa) {
  CoreLock l;
  if (!pcb_) return Errno(ENOBUFS);
  if (sa.family() == AF_UNSPEC && sa.len >= sizeof(sa_family_t)) {
    raw_disconnect(pcb_);
    connected_ = false;
    return Ok();
  }
  IpPort ip = TRY(ParseAddr(family(), sa, true, AddrUse::kConnect));
  AnyToLoopback(&ip.addr);
  if (!RouteTo(ip.addr)) return Errno(ENETUNREACH);
  if (ident_ == 0) TRY(TakeIdent(0));
  err_t e = raw_connect(pcb_, &ip.addr);
  if (e != ERR_OK) return Errno(ErrnoFromErr(e));
  connected_ = true;
  return Ok();
}

Result<size_t> PingSocket::SendMsg(Task&, SendArgs& args) {
  CoreLock l;
  if (!pcb_) return Errno(ENOBUFS);
  if (shut_wr_) return Errno(EPIPE);
  ip_addr_t dst;
  if (args.to) {
    IpPort ip = TRY(ParseAddr(family(), *args.to, true, AddrUse::kConnect));
    dst = ip.addr;
  } else {
    if (!connected_) return Errno(EDESTADDRREQ);
    dst = pcb_->remote_ip;
  }
  AnyToLoopback(&dst);
  if (!RouteTo(dst)) return Errno(ENETUNREACH);
  std::span<const uint8_t> data = args.data;
  // An echo request with code 0, nothing else (ping_common_sendmsg).
  uint8_t request = family() == AF_INET ? ICMP_ECHO : ICMP6_TYPE_EREQ;
  if (data.size() < 8 || data[0] != request || data[1] != 0) return Errno(EINVAL);
  size_t max = 0xffff - (family() == AF_INET ? 20 : IP6_HLEN);
  if (data.size() > max) return Errno(EMSGSIZE);
  if (ident_ == 0) TRY(TakeIdent(0));
  pbuf* p = pbuf_alloc(PBUF_IP, static_cast<u16_t>(data.size()), PBUF_RAM);
  if (!p) return Errno(ENOBUFS);
  pbuf_take(p, data.data(), static_cast<u16_t>(data.size()));
  auto* b = static_cast<uint8_t*>(p->payload);
  b[4] = static_cast<uint8_t>(ident_ >> 8);
  b[5] = static_cast<uint8_t>(ident_);
  b[2] = b[3] = 0;
  if (family() == AF_INET) {
    u16_t sum = inet_chksum(b, static_cast<u16_t>(data.size()));
    std::memcpy(&b[2], &sum, 2);
  }
  PrepareSend(dst);
  err_t e = raw_sendto(pcb_, p, &dst);
  pbuf_free(p);
  if (e != ERR_OK) return Errno(e == ERR_VAL ? ENETUNREACH : ErrnoFromErr(e));
  return data.size();
}

Result<SockAddr> PingSocket::GetSockName(Task&) {
  CoreLock l;
  return MakeSockAddr(family(), pcb_ ? &pcb_->local_ip : nullptr, ident_);
}

Result<SockAddr> PingSocket::GetPeerName(Task&) {
  CoreLock l;
  if (!connected_ || !pcb_) return Errno(ENOTCONN);
  return MakeSockAddr(family(), &pcb_->remote_ip, 0);
}

}  // namespace

Result<RefPtr<Socket>> NewPingSocket(Task& task, int family, int flags) {
  auto s = MakeRef<PingSocket>(family, flags, task.creds()->fsuid, task.creds()->fsgid);
  return RefPtr<Socket>(std::move(s));
}

}  // namespace moat::sockets::netstack
