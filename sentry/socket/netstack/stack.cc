// The netstack as a sockets::Stack: socket creation by family, type and protocol, and what
// exists (interfaces, addresses, routes, sockets) for netlink and /proc/net.
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "sentry/kernel/task.h"
#include "sentry/socket/netstack/core.h"
#include "sentry/socket/netstack/inet.h"
#include "sentry/socket/netstack/link.h"
#include "sentry/socket/netstack/netstack.h"

extern "C" {
#include "lwip/ip6_addr.h"
}

namespace moat::sockets::netstack {
namespace {

constexpr uint32_t kLoopbackMtu = 65536;

// lo's output for traffic lwIP does not already loop (anything routed to lo that is not one of
// its addresses): back in, as Linux's loopback device does.
err_t LoOutput4(struct netif* n, pbuf* p, const ip4_addr_t*) { return netif_loop_output(n, p); }
err_t LoOutput6(struct netif* n, pbuf* p, const ip6_addr_t*) { return netif_loop_output(n, p); }

err_t LoInit(struct netif* n) {
  n->name[0] = 'l';
  n->name[1] = 'o';
  n->output = LoOutput4;
  n->output_ip6 = LoOutput6;
  n->mtu = 0xffff;  // lwIP's field is 16 bits; Linux's lo has 65536
  n->flags = 0;
  return ERR_OK;
}

std::array<uint8_t, 16> Bytes4(uint32_t network_order) {
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), &network_order, 4);
  return a;
}

class Netstack final : public Stack {
 public:
  explicit Netstack(std::vector<std::unique_ptr<Link>> links) : links_(std::move(links)) {}

  Result<RefPtr<Socket>> NewSocket(Task& task, int family, int type, int protocol,
                                   int flags) override {
    if (family != AF_INET && family != AF_INET6) {
      // No packet sockets for the application: Linux without CONFIG_PACKET says this.
      if (!task.creds()->HasCap(CAP_NET_RAW)) return Errno(EPERM);
      return Errno(EAFNOSUPPORT);
    }
    switch (type) {
      case SOCK_STREAM:
        if (protocol != 0 && protocol != IPPROTO_TCP) return Errno(EPROTONOSUPPORT);
        return NewTcpSocket(task, family, flags);
      case SOCK_DGRAM:
        if (protocol == 0 || protocol == IPPROTO_UDP) return NewUdpSocket(task, family, flags);
        if ((family == AF_INET && protocol == IPPROTO_ICMP) ||
            (family == AF_INET6 && protocol == IPPROTO_ICMPV6)) {
          // Linux limits these to net.ipv4.ping_group_range; the sandbox allows every group.
          return NewPingSocket(task, family, flags);
        }
        return Errno(EPROTONOSUPPORT);
      case SOCK_RAW:
        // Raw IP sockets are not offered (ping uses the datagram ICMP sockets above).
        if (!task.creds()->HasCap(CAP_NET_RAW)) return Errno(EPERM);
        return Errno(EPROTONOSUPPORT);
      default:
        return Errno(ESOCKTNOSUPPORT);
    }
  }

  std::vector<Interface> Interfaces() override {
    std::vector<Interface> out;
    Interface lo;
    lo.index = 1;
    lo.name = "lo";
    lo.type = ARPHRD_LOOPBACK;
    lo.flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP;
    lo.mtu = kLoopbackMtu;
    lo.hwaddr.assign(6, 0);
    out.push_back(lo);
    for (auto& l : links_) out.push_back(l->Info());
    return out;
  }

  std::vector<InterfaceAddress> Addresses() override {
    std::vector<InterfaceAddress> out;
    InterfaceAddress v4;
    v4.index = 1;
    v4.family = AF_INET;
    v4.addr = Bytes4(htonl(INADDR_LOOPBACK));
    v4.prefix_len = 8;
    v4.scope = RT_SCOPE_HOST;
    v4.flags = IFA_F_PERMANENT;
    out.push_back(v4);
    for (auto& l : links_) {
      for (InterfaceAddress a : l->Addresses()) out.push_back(a);
    }
    InterfaceAddress v6;
    v6.index = 1;
    v6.family = AF_INET6;
    v6.addr[15] = 1;
    v6.prefix_len = 128;
    v6.scope = RT_SCOPE_HOST;
    v6.flags = IFA_F_PERMANENT;
    out.push_back(v6);
    return out;
  }

  std::vector<Route> Routes() override {
    std::vector<Route> out;
    // Linux's local table for lo: its addresses and its broadcast address.
    auto local4 = [&](uint32_t dst, uint8_t len, uint8_t type, uint8_t scope) {
      Route r;
      r.family = AF_INET;
      r.dst = Bytes4(htonl(dst));
      r.dst_len = len;
      r.prefsrc = Bytes4(htonl(INADDR_LOOPBACK));
      r.has_prefsrc = true;
      r.oif = 1;
      r.table = RT_TABLE_LOCAL;
      r.protocol = RTPROT_KERNEL;
      r.scope = scope;
      r.type = type;
      out.push_back(r);
    };
    local4(0x7f000000, 8, RTN_LOCAL, RT_SCOPE_HOST);
    local4(INADDR_LOOPBACK, 32, RTN_LOCAL, RT_SCOPE_HOST);
    local4(0x7fffffff, 32, RTN_BROADCAST, RT_SCOPE_LINK);
    for (auto& l : links_) {
      for (const Route& r : l->Routes()) out.push_back(r);
    }
    Route v6;
    v6.family = AF_INET6;
    v6.dst[15] = 1;
    v6.dst_len = 128;
    v6.oif = 1;
    v6.protocol = RTPROT_KERNEL;
    v6.metric = 256;
    out.push_back(v6);
    Route v6local = v6;
    v6local.table = RT_TABLE_LOCAL;
    v6local.type = RTN_LOCAL;
    v6local.metric = 0;
    out.push_back(v6local);
    return out;
  }

  std::vector<SocketInfo> Sockets(int protocol) override {
    if (protocol == IPPROTO_TCP) return TcpSockets();
    if (protocol == IPPROTO_UDP) return UdpSockets();
    return {};
  }

 private:
  std::vector<std::unique_ptr<Link>> links_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Stack>> NewNetstack(NetstackOptions options) {
  StartLwip();
  std::vector<std::unique_ptr<Link>> links;
  {
    CoreLock l;
    static struct netif lo;
    static bool started = false;
    if (started) return absl::FailedPreconditionError("the netstack is started already");
    started = true;
    ip4_addr_t addr, mask, gw;
    IP4_ADDR(&addr, 127, 0, 0, 1);
    IP4_ADDR(&mask, 255, 0, 0, 0);
    ip4_addr_set_zero(&gw);
    if (!netif_add(&lo, &addr, &mask, &gw, nullptr, LoInit, ip_input)) {
      return absl::InternalError("netif_add(lo) failed");
    }
    ip6_addr_t one;
    IP6_ADDR(&one, 0, 0, 0, PP_HTONL(1));
    s8_t idx = -1;
    netif_add_ip6_address(&lo, &one, &idx);
    if (idx >= 0) netif_ip6_addr_set_state(&lo, idx, IP6_ADDR_PREFERRED);
    netif_set_link_up(&lo);
    netif_set_up(&lo);
    lo.rs_count = 0;  // no router solicitations on loopback
    StartUdpErrorCatcher();
    StartTcpTimeWaitSweep();
  }
  for (LinkConfig& c : options.links) {
    absl::StatusOr<std::unique_ptr<Link>> link = Link::Start(std::move(c));
    if (!link.ok()) return link.status();
    links.push_back(std::move(*link));
  }
  return std::unique_ptr<Stack>(new Netstack(std::move(links)));
}

}  // namespace moat::sockets::netstack
