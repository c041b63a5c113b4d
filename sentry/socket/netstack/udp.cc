// UDP sockets on lwIP's raw API (udp_pcb), and the ICMP listener that turns "port unreachable"
// into ECONNREFUSED on connected UDP sockets, as Linux does.
#include <linux/capability.h>

#include <cstring>

#include "sentry/kernel/task.h"
#include "sentry/socket/netstack/dgram.h"
#include "sentry/socket/netstack/inet.h"

extern "C" {
#include "lwip/ip6.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "lwip/prot/udp.h"
}

namespace moat::sockets::netstack {
namespace {

void OnUdpRecv(void* arg, udp_pcb* pcb, pbuf* p, const ip_addr_t* addr, u16_t port);

class UdpSocket final : public DatagramSocket {
 public:
  UdpSocket(int family, int flags, uint32_t uid, uint32_t gid)
      : DatagramSocket(family, IPPROTO_UDP, flags, uid, gid) {
    CoreLock l;
    NewPcb();
  }

  ~UdpSocket() override {
    CoreLock l;
    if (pcb_) udp_remove(pcb_);
    pcb_ = nullptr;
  }

  Result<void> Bind(Task& task, const SockAddr& sa) override;
  Result<void> Connect(Task& task, const SockAddr& sa) override;
  Result<size_t> SendMsg(Task& task, SendArgs& args) override;
  Result<SockAddr> GetSockName(Task& task) override;
  Result<SockAddr> GetPeerName(Task& task) override;

  // For the ICMP listener: whether this socket is connected to `addr`:`port` from local `lport`.
  static UdpSocket* FindConnected(const ip_addr_t& addr, uint16_t port, uint16_t lport)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    for (udp_pcb* p = udp_pcbs; p; p = p->next) {
      if (p->local_port == lport && (p->flags & UDP_FLAGS_CONNECTED) && p->remote_port == port &&
          ip_addr_cmp_zoneless(&p->remote_ip, &addr) && p->recv == OnUdpRecv) {
        return static_cast<UdpSocket*>(p->recv_arg);
      }
    }
    return nullptr;
  }

 protected:
  ip_pcb* Pcb() override { return reinterpret_cast<ip_pcb*>(pcb_); }
  bool Bound() override { return pcb_ && (pcb_->local_port != 0 || user_addr_); }

 private:
  void NewPcb() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    pcb_ = udp_new_ip_type(family() == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_ANY);
    if (pcb_) {
      udp_recv(pcb_, OnUdpRecv, this);
      ApplyIpOptions(ip_, family(), Pcb());
    }
  }
  Result<void> BindPcb(const ip_addr_t& addr, uint16_t port) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);

  udp_pcb* pcb_ ABSL_GUARDED_BY(g_core) = nullptr;
  // What bind() chose: a disconnect keeps it and forgets what connect() chose.
  bool user_port_ ABSL_GUARDED_BY(g_core) = false;
  bool user_addr_ ABSL_GUARDED_BY(g_core) = false;
  // The source address a connected socket uses (getsockname shows it).
  ip_addr_t src_ ABSL_GUARDED_BY(g_core){};
};

void OnUdpRecv(void* arg, udp_pcb*, pbuf* p, const ip_addr_t* addr, u16_t port) {
  g_core.AssertHeld();
  auto* s = static_cast<UdpSocket*>(arg);
  Datagram d;
  d.p = p;
  d.from = *addr;
  d.port = port;
  d.dst = *ip_current_dest_addr();
  d.ifindex = IfIndex(ip_current_input_netif());
  d.tos = CurrentTos();
  d.ttl = CurrentTtl();
  s->Deliver(d);
}

Result<void> UdpSocket::BindPcb(const ip_addr_t& addr, uint16_t port) {
  if (!pcb_) return Errno(ENOBUFS);
  if (port != 0) {
    BindClaim want{&addr, ip_.reuseaddr, ip_.reuseport, false, ip_.uid};
    for (udp_pcb* o = udp_pcbs; o; o = o->next) {
      if (o == pcb_ || o->local_port != port) continue;
      BindClaim have{&o->local_ip, (o->so_options & SOF_REUSEADDR) != 0, false, false, 0};
      if (o->recv == OnUdpRecv) {
        auto* other = static_cast<UdpSocket*>(o->recv_arg);
        g_core.AssertHeld();
        have.reuseport = other->ip_.reuseport;
        have.uid = other->ip_.uid;
      }
      if (Conflicts(want, have)) return Errno(EADDRINUSE);
    }
  }
  // lwIP's own check is skipped: every pcb on the port looks like SO_REUSEADDR for the call.
  std::vector<std::pair<udp_pcb*, u8_t>> saved;
  for (udp_pcb* o = udp_pcbs; o; o = o->next) {
    if (port != 0 && o->local_port == port) {
      saved.emplace_back(o, o->so_options);
      ip_set_option(o, SOF_REUSEADDR);
    }
  }
  u8_t mine = pcb_->so_options;
  ip_set_option(pcb_, SOF_REUSEADDR);
  err_t e = udp_bind(pcb_, &addr, port);
  pcb_->so_options = mine;
  for (auto& [o, opts] : saved) o->so_options = opts;
  if (e != ERR_OK) return Errno(e == ERR_USE ? EADDRINUSE : ErrnoFromErr(e));
  return Ok();
}

Result<void> UdpSocket::Bind(Task& task, const SockAddr& sa) {
  bool may_low_port = task.creds()->HasCap(CAP_NET_BIND_SERVICE);
  CoreLock l;
  IpPort ip = TRY(ParseAddr(family(), sa, ip_.v6only, AddrUse::kBind));
  if (Bound()) return Errno(EINVAL);
  if (!IsLocalAddress(ip.addr, true)) return Errno(EADDRNOTAVAIL);
  if (ip.port != 0 && ip.port < 1024 && !may_low_port) return Errno(EACCES);
  TRY(BindPcb(ip.addr, ip.port));
  user_port_ = ip.port != 0;
  user_addr_ = !ip_addr_isany(&ip.addr);
  return Ok();
}

Result<void> UdpSocket::Connect(Task&, const SockAddr& sa) {
  CoreLock l;
  if (!pcb_) return Errno(ENOBUFS);
  if (sa.family() == AF_UNSPEC && sa.len >= sizeof(sa_family_t)) {
    udp_disconnect(pcb_);
    connected_ = false;
    ip_addr_set_zero(&src_);
    if (!user_port_) {
      // A port the application did not name goes with the connection (Linux keeps only what
      // bind() was told: SOCK_BINDPORT_LOCK, SOCK_BINDADDR_LOCK). An address it named stays,
      // for the next autobind.
      ip_addr_t keep = pcb_->local_ip;
      udp_remove(pcb_);
      NewPcb();
      if (pcb_ && user_addr_) pcb_->local_ip = keep;
    }
    return Ok();
  }
  IpPort ip = TRY(ParseAddr(family(), sa, ip_.v6only, AddrUse::kConnect));
  AnyToLoopback(&ip.addr);
  struct netif* out = RouteTo(ip.addr);
  if (!out) return Errno(ENETUNREACH);
  if (ip_addr_isany(&pcb_->local_ip)) {
    const ip_addr_t* src = ip_netif_get_local_ip(out, &ip.addr);
    if (!src) return Errno(ENETUNREACH);
    src_ = *src;
  } else {
    src_ = pcb_->local_ip;
  }
  if (pcb_->local_port == 0) TRY(BindPcb(pcb_->local_ip, 0));
  err_t e = udp_connect(pcb_, &ip.addr, ip.port);
  if (e != ERR_OK) return Errno(ErrnoFromErr(e));
  connected_ = true;
  err_ = 0;
  return Ok();
}

Result<size_t> UdpSocket::SendMsg(Task&, SendArgs& args) {
  CoreLock l;
  if (!pcb_) return Errno(ENOBUFS);
  if (shut_wr_) return Errno(EPIPE);
  ip_addr_t dst;
  uint16_t port;
  if (args.to) {
    SockAddr to = *args.to;
    // Linux takes an AF_UNSPEC destination on an AF_INET socket as AF_INET.
    if (family() == AF_INET && to.family() == AF_UNSPEC && to.len >= sizeof(sockaddr_in)) {
      to.storage.ss_family = AF_INET;
    }
    IpPort ip = TRY(ParseAddr(family(), to, ip_.v6only, AddrUse::kConnect));
    if (ip.port == 0) return Errno(EINVAL);
    dst = ip.addr;
    port = ip.port;
  } else {
    if (!connected_) return Errno(EDESTADDRREQ);
    dst = pcb_->remote_ip;
    port = pcb_->remote_port;
  }
  AnyToLoopback(&dst);
  // (A multicast destination's netif is the socket's IP_MULTICAST_IF, which lwIP picks.)
  if (!ip_addr_ismulticast(&dst) && !RouteTo(dst)) return Errno(ENETUNREACH);
  size_t max = IP_IS_V6(&dst) ? 0xffff - IP6_HLEN - UDP_HLEN : 0xffff - IP_HLEN - UDP_HLEN;
  if (args.data.size() > max) return Errno(EMSGSIZE);
  // Broadcasts need SO_BROADCAST.
  if (IP_IS_V4(&dst) && !ip_.broadcast) {
    uint32_t a = ip4_addr_get_u32(ip_2_ip4(&dst));
    struct netif* n;
    NETIF_FOREACH(n) {
      if (ip4_addr_isbroadcast_u32(a, n)) return Errno(EACCES);
    }
  }
  pbuf* p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(args.data.size()), PBUF_RAM);
  if (!p) return Errno(ENOBUFS);
  if (!args.data.empty()) pbuf_take(p, args.data.data(), static_cast<u16_t>(args.data.size()));
  PrepareSend(dst);
  err_t e = udp_sendto(pcb_, p, &dst, port);
  pbuf_free(p);
  if (e != ERR_OK) {
    if (e == ERR_VAL) return Errno(ENETUNREACH);
    return Errno(ErrnoFromErr(e));
  }
  return args.data.size();
}

Result<SockAddr> UdpSocket::GetSockName(Task&) {
  CoreLock l;
  if (!pcb_) return MakeSockAddr(family(), nullptr, 0);
  const ip_addr_t* a = &pcb_->local_ip;
  if (connected_ && ip_addr_isany(a)) a = &src_;
  return MakeSockAddr(family(), a, pcb_->local_port);
}

Result<SockAddr> UdpSocket::GetPeerName(Task&) {
  CoreLock l;
  if (!connected_ || !pcb_) return Errno(ENOTCONN);
  return MakeSockAddr(family(), &pcb_->remote_ip, pcb_->remote_port);
}

// Sees every ICMP and ICMPv6 message before lwIP's own handling (it never eats one): a "port
// unreachable" about a datagram of a connected UDP socket becomes that socket's error.
u8_t OnIcmpError(void*, raw_pcb*, pbuf* p, const ip_addr_t*) {
  g_core.AssertHeld();
  uint8_t buf[8 + 40 + 8];
  size_t hlen = ip_current_header_tot_len();
  size_t n = CopyFromPbuf(p, hlen, std::span<uint8_t>(buf, sizeof(buf)));
  ip_addr_t dst{};
  uint16_t sport, dport;
  if (!ip_current_is_v6()) {
    // ICMP type 3 (destination unreachable), code 3 (port), then the datagram's IP header.
    if (n < 8 + 20 || buf[0] != ICMP_DUR || buf[1] != ICMP_DUR_PORT) return 0;
    size_t ihl = (buf[8] & 0x0f) * 4u;
    if (ihl < 20 || buf[8 + 9] != IP_PROTO_UDP) return 0;
    uint8_t ports[4];
    if (CopyFromPbuf(p, hlen + 8 + ihl, std::span<uint8_t>(ports, 4)) < 4) return 0;
    uint32_t a;
    std::memcpy(&a, &buf[8 + 16], 4);
    ip_addr_set_ip4_u32_val(dst, a);
    sport = static_cast<uint16_t>(ports[0] << 8 | ports[1]);
    dport = static_cast<uint16_t>(ports[2] << 8 | ports[3]);
  } else {
    // ICMPv6 type 1 (destination unreachable), code 4 (port), then the IPv6 header.
    if (n < sizeof(buf) || buf[0] != ICMP6_TYPE_DUR || buf[1] != ICMP6_DUR_PORT) return 0;
    if (buf[8 + 6] != IP6_NEXTH_UDP) return 0;
    uint32_t w[4];
    std::memcpy(w, &buf[8 + 24], 16);
    IP_ADDR6(&dst, w[0], w[1], w[2], w[3]);
    sport = static_cast<uint16_t>(buf[48] << 8 | buf[49]);
    dport = static_cast<uint16_t>(buf[50] << 8 | buf[51]);
  }
  if (UdpSocket* s = UdpSocket::FindConnected(dst, dport, sport)) s->SetError(ECONNREFUSED);
  return 0;
}

}  // namespace

Result<RefPtr<Socket>> NewUdpSocket(Task& task, int family, int flags) {
  auto s = MakeRef<UdpSocket>(family, flags, task.creds()->fsuid, task.creds()->fsgid);
  return RefPtr<Socket>(std::move(s));
}

void StartUdpErrorCatcher() {
  g_core.AssertHeld();
  for (u8_t type : {IPADDR_TYPE_V4, IPADDR_TYPE_V6}) {
    raw_pcb* pcb = raw_new_ip_type(type, type == IPADDR_TYPE_V4 ? IP_PROTO_ICMP : IP6_NEXTH_ICMP6);
    if (pcb) raw_recv(pcb, OnIcmpError, nullptr);
  }
}

std::vector<SocketInfo> UdpSockets() {
  std::vector<SocketInfo> out;
  CoreLock l;
  for (udp_pcb* p = udp_pcbs; p; p = p->next) {
    if (p->recv != OnUdpRecv) continue;
    auto* s = static_cast<UdpSocket*>(p->recv_arg);
    SocketInfo i;
    i.family = s->family();
    i.protocol = IPPROTO_UDP;
    i.local = MakeSockAddr(i.family, &p->local_ip, p->local_port);
    bool conn = p->flags & UDP_FLAGS_CONNECTED;
    i.remote = MakeSockAddr(i.family, conn ? &p->remote_ip : nullptr, conn ? p->remote_port : 0);
    i.state = conn ? 1 : 7;  // TCP_ESTABLISHED, TCP_CLOSE: what Linux shows for UDP
    SocketInfo extra = s->Info();
    i.uid = extra.uid;
    i.inode = extra.inode;
    i.rx_queue = extra.rx_queue;
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace moat::sockets::netstack
