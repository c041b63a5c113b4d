// A fake sockets::Stack for the unit tests of what reads the Stack (netlink, the interface
// ioctls, /proc/net): a loopback (lo, index 1, 127.0.0.1/8 and ::1/128) and an Ethernet link
// (eth0, index 2, 10.0.0.2/24, default route via 10.0.0.1), fixed sockets, and a record of the
// changes asked of it.
#ifndef MOAT_TESTS_UNIT_FAKE_STACK_H_
#define MOAT_TESTS_UNIT_FAKE_STACK_H_

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>

#include <tuple>
#include <vector>

#include "sentry/socket/stack.h"

namespace moat::sockets::testing {

inline std::array<uint8_t, 16> V4(uint32_t host_order) {
  std::array<uint8_t, 16> a{};
  uint32_t n = htonl(host_order);
  std::memcpy(a.data(), &n, 4);
  return a;
}

inline SockAddr Inet(uint32_t host_order, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(host_order);
  sin.sin_port = htons(port);
  return SockAddr::From(sin);
}

class FakeStack : public Stack {
 public:
  Result<RefPtr<Socket>> NewSocket(Task&, int, int, int, int) override {
    return Errno(EAFNOSUPPORT);
  }

  std::vector<Interface> Interfaces() override {
    Interface lo;
    lo.index = 1;
    lo.name = "lo";
    lo.type = ARPHRD_LOOPBACK;
    lo.flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    lo.mtu = 65536;
    lo.stats.rx_bytes = lo.stats.tx_bytes = 1234;
    lo.stats.rx_packets = lo.stats.tx_packets = 5;
    Interface eth;
    eth.index = 2;
    eth.name = "eth0";
    eth.type = ARPHRD_ETHER;
    eth.flags = IFF_UP | IFF_BROADCAST | IFF_MULTICAST | IFF_RUNNING;
    eth.mtu = 1500;
    eth.hwaddr = {2, 0, 0, 0, 0, 1};
    return {lo, eth};
  }

  std::vector<InterfaceAddress> Addresses() override {
    InterfaceAddress lo4;
    lo4.index = 1;
    lo4.family = AF_INET;
    lo4.addr = V4(INADDR_LOOPBACK);
    lo4.prefix_len = 8;
    lo4.scope = RT_SCOPE_HOST;
    lo4.flags = IFA_F_PERMANENT;
    InterfaceAddress lo6;
    lo6.index = 1;
    lo6.family = AF_INET6;
    lo6.addr[15] = 1;
    lo6.prefix_len = 128;
    lo6.scope = RT_SCOPE_HOST;
    lo6.flags = IFA_F_PERMANENT;
    InterfaceAddress eth4;
    eth4.index = 2;
    eth4.family = AF_INET;
    eth4.addr = V4(0x0a000002);
    eth4.prefix_len = 24;
    eth4.flags = IFA_F_PERMANENT;
    // IPv6 listed first, to check that dumps put IPv4 first as Linux does.
    return {lo6, lo4, eth4};
  }

  std::vector<Route> Routes() override {
    Route def;
    def.family = AF_INET;
    def.has_gateway = true;
    def.gateway = V4(0x0a000001);
    def.oif = 2;
    def.protocol = RTPROT_BOOT;
    Route subnet;
    subnet.family = AF_INET;
    subnet.dst = V4(0x0a000000);
    subnet.dst_len = 24;
    subnet.oif = 2;
    subnet.protocol = RTPROT_KERNEL;
    subnet.scope = RT_SCOPE_LINK;
    subnet.has_prefsrc = true;
    subnet.prefsrc = V4(0x0a000002);
    Route local;
    local.family = AF_INET;
    local.dst = V4(0x7f000000);
    local.dst_len = 8;
    local.oif = 1;
    local.table = RT_TABLE_LOCAL;
    local.type = RTN_LOCAL;
    local.scope = RT_SCOPE_HOST;
    local.protocol = RTPROT_KERNEL;
    return {def, subnet, local};
  }

  std::vector<SocketInfo> Sockets(int protocol) override {
    std::vector<SocketInfo> out;
    SocketInfo s;
    s.family = AF_INET;
    s.protocol = protocol;
    s.local = Inet(INADDR_LOOPBACK, 8080);
    s.remote = Inet(0, 0);
    s.state = protocol == IPPROTO_TCP ? 10 : 7;
    s.uid = 1000;
    s.inode = 4242;
    out.push_back(s);
    if (protocol == IPPROTO_TCP) {
      SocketInfo c = s;
      c.local = Inet(INADDR_LOOPBACK, 40000);
      c.remote = Inet(INADDR_LOOPBACK, 8080);
      c.state = 1;
      c.tx_queue = 3;
      c.inode = 4243;
      out.push_back(c);
      sockaddr_in6 six{};
      six.sin6_family = AF_INET6;
      six.sin6_addr.s6_addr[15] = 1;
      six.sin6_port = htons(443);
      SocketInfo v6;
      v6.family = AF_INET6;
      v6.protocol = protocol;
      v6.local = SockAddr::From(six);
      six.sin6_port = 0;
      six.sin6_addr = in6addr_any;
      v6.remote = SockAddr::From(six);
      v6.state = 10;
      v6.inode = 4244;
      out.push_back(v6);
    }
    return out;
  }

  Result<void> AddAddress(const InterfaceAddress& a) override {
    if (fail_with) return Errno(fail_with);
    added_addresses.push_back(a);
    return Ok();
  }
  Result<void> RemoveAddress(const InterfaceAddress& a) override {
    if (fail_with) return Errno(fail_with);
    removed_addresses.push_back(a);
    return Ok();
  }
  Result<void> AddRoute(const Route& r) override {
    if (fail_with) return Errno(fail_with);
    added_routes.push_back(r);
    return Ok();
  }
  Result<void> RemoveRoute(const Route& r) override {
    if (fail_with) return Errno(fail_with);
    removed_routes.push_back(r);
    return Ok();
  }
  Result<void> SetInterfaceFlags(int index, uint32_t flags, uint32_t change) override {
    if (fail_with) return Errno(fail_with);
    flag_changes.emplace_back(index, flags, change);
    return Ok();
  }

  int fail_with = 0;
  std::vector<InterfaceAddress> added_addresses, removed_addresses;
  std::vector<Route> added_routes, removed_routes;
  std::vector<std::tuple<int, uint32_t, uint32_t>> flag_changes;
};

}  // namespace moat::sockets::testing

#endif  // MOAT_TESTS_UNIT_FAKE_STACK_H_
