// An Ethernet interface of the netstack (phase 2 of --network=sandbox; internal to
// sentry/socket/netstack/): an lwIP netif whose frames go out through an AF_PACKET socket bound
// to the interface taken over from the container's network namespace, and come in from a reader
// thread that feeds lwIP under the core lock. lwIP does ARP and IPv6 neighbour discovery.
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_LINK_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_LINK_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "sentry/socket/netstack/netstack.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netstack {

class Link {
 public:
  virtual ~Link() = default;
  // Adds the netif with the configuration's addresses and routes, and starts its reader.
  static absl::StatusOr<std::unique_ptr<Link>> Start(LinkConfig config);

  virtual Interface Info() = 0;
  virtual std::vector<InterfaceAddress> Addresses() = 0;
  virtual std::vector<Route> Routes() = 0;
};

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_LINK_H_
