// The sandbox's network stack, as the rest of the sentry sees it (DESIGN.md section 7).
//
// One Stack per sandbox, chosen by --network:
//   - none: the user-space netstack with only a loopback interface;
//   - sandbox: the netstack with loopback plus the interfaces of the container's network
//     namespace, taken over with their addresses, routes and MTU (packets move over AF_PACKET);
//   - host: host sockets opened by the sentry, and the host's own interfaces.
// It makes the AF_INET/AF_INET6 (and AF_PACKET) sockets, and tells netlink, the interface ioctls
// and /proc/net what exists. Whatever implements it (lwIP today) stays behind this interface.
//
// Thread safety: every method may be called from any task thread at once.
#ifndef MOAT_SENTRY_SOCKET_STACK_H_
#define MOAT_SENTRY_SOCKET_STACK_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/errno.h"
#include "base/ref_counted.h"
#include "sentry/socket/socket.h"

namespace moat::sockets {

// A network interface (what RTM_GETLINK and /proc/net/dev report).
struct Interface {
  int index = 0;
  std::string name;
  uint16_t type = 0;   // ARPHRD_LOOPBACK, ARPHRD_ETHER
  uint32_t flags = 0;  // IFF_UP, IFF_RUNNING, IFF_LOOPBACK, IFF_BROADCAST, IFF_MULTICAST
  uint32_t mtu = 0;
  std::vector<uint8_t> hwaddr;  // empty for none; 6 bytes for Ethernet
  struct Counters {
    uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
    uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
  } stats;
};

// An address on an interface (RTM_GETADDR, getifaddrs, /proc/net/if_inet6).
struct InterfaceAddress {
  int index = 0;   // the interface's
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // 4 or 16 bytes used
  uint8_t prefix_len = 0;
  uint8_t scope = 0;  // RT_SCOPE_HOST for loopback, RT_SCOPE_LINK for fe80::/10, else universe
  uint32_t flags = 0;  // IFA_F_PERMANENT, ...
};

// A route (RTM_GETROUTE, /proc/net/route).
struct Route {
  int family = 0;
  std::array<uint8_t, 16> dst{};
  uint8_t dst_len = 0;
  std::array<uint8_t, 16> gateway{};
  bool has_gateway = false;
  std::array<uint8_t, 16> prefsrc{};
  bool has_prefsrc = false;
  int oif = 0;  // the output interface's index
  uint8_t table = 254;  // RT_TABLE_MAIN; RT_TABLE_LOCAL for local and broadcast routes
  uint8_t protocol = 0;  // RTPROT_KERNEL, RTPROT_BOOT, ...
  uint8_t scope = 0;     // RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST
  uint8_t type = 1;      // RTN_UNICAST, RTN_LOCAL, ...
  uint32_t metric = 0;
};

// A socket of the stack, as /proc/net/{tcp,tcp6,udp,udp6} list it.
struct SocketInfo {
  int family = 0;    // AF_INET or AF_INET6
  int protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
  SockAddr local, remote;
  int state = 0;     // Linux's TCP_ESTABLISHED..TCP_CLOSING numbering; 7 (TCP_CLOSE) for UDP
  uint32_t tx_queue = 0, rx_queue = 0;
  uint32_t uid = 0;
  uint64_t inode = 0;
};

class Stack {
 public:
  virtual ~Stack() = default;

  // socket(2) for the families the stack serves (AF_INET, AF_INET6, AF_PACKET where offered):
  // `type` without SOCK_NONBLOCK/SOCK_CLOEXEC, `flags` the new file's status flags. EAFNOSUPPORT,
  // ESOCKTNOSUPPORT or EPROTONOSUPPORT as Linux returns them.
  virtual Result<RefPtr<Socket>> NewSocket(Task& task, int family, int type, int protocol,
                                           int flags) = 0;

  virtual std::vector<Interface> Interfaces() = 0;
  virtual std::vector<InterfaceAddress> Addresses() = 0;
  virtual std::vector<Route> Routes() = 0;
  virtual std::vector<SocketInfo> Sockets(int protocol) = 0;

  // Changes made through netlink (`ip addr add`, `ip link set up`, `ip route add`). Defaults:
  // EOPNOTSUPP.
  virtual Result<void> AddAddress(const InterfaceAddress&) { return Errno(EOPNOTSUPP); }
  virtual Result<void> RemoveAddress(const InterfaceAddress&) { return Errno(EOPNOTSUPP); }
  virtual Result<void> AddRoute(const Route&) { return Errno(EOPNOTSUPP); }
  virtual Result<void> RemoveRoute(const Route&) { return Errno(EOPNOTSUPP); }
  virtual Result<void> SetInterfaceFlags(int, uint32_t flags, uint32_t change) {
    (void)flags;
    (void)change;
    return Errno(EOPNOTSUPP);
  }
};

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_STACK_H_
