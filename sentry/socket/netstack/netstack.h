// The sandbox's user-space TCP/IP stack (DESIGN.md section 7): TCP, UDP and ICMP echo sockets
// over IPv4 and IPv6, on lwIP (Debian's liblwip), behind the sockets::Stack interface. No lwIP
// type appears outside sentry/socket/netstack/, so the engine underneath could be replaced.
//
// There is one netstack per process (lwIP keeps global state). It always has a loopback
// interface "lo" (index 1, 127.0.0.1/8 and ::1/128, MTU 65536) whose traffic never leaves the
// sentry. With --network=sandbox it also drives the interfaces taken over from the container's
// network namespace (links below): Ethernet frames move between lwIP and an AF_PACKET socket
// bound to each, and lwIP does ARP and neighbour discovery.
//
// Internals (all under sentry/socket/netstack/): core.h (lwIP glue, the core lock), tcp.cc,
// dgram.h/udp.cc/icmp.cc (the socket types), stack.cc (the Stack), link.cc (Ethernet links).
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_NETSTACK_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_NETSTACK_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netstack {

// An interface of the container's network namespace, taken over by the sentry (phase 2 of
// --network=sandbox): what the host had configured on it, and a packet socket bound to it.
struct LinkConfig {
  std::string name;              // the interface's name in the namespace ("eth0")
  FileDescriptor packet;         // AF_PACKET, SOCK_RAW, bound to the interface (owned)
  std::array<uint8_t, 6> mac{};  // its hardware address
  uint32_t mtu = 1500;
  std::vector<InterfaceAddress> addresses;  // `index` ignored
  std::vector<Route> routes;                // `oif` ignored; the default route among them
};

struct NetstackOptions {
  std::vector<LinkConfig> links;
};

// Starts the netstack. Call once per process.
absl::StatusOr<std::unique_ptr<Stack>> NewNetstack(NetstackOptions options);

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_NETSTACK_H_
