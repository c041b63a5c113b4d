// Taking over the interfaces of the current network namespace for the netstack (phase 2 of
// --network=sandbox): reads each interface's addresses, routes and MTU with host netlink,
// removes the addresses from the host kernel (so that it no longer answers on them), and opens
// an AF_PACKET socket bound to the interface. Needs CAP_NET_ADMIN and CAP_NET_RAW in the
// namespace: call it before the sandbox drops privileges. Loopback is left alone.
#ifndef MOAT_RUNSC_NETWORK_TAKEOVER_H_
#define MOAT_RUNSC_NETWORK_TAKEOVER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "sentry/socket/netstack/netstack.h"

namespace moat::runsc {

absl::StatusOr<std::vector<sockets::netstack::LinkConfig>> TakeOverInterfaces();

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_NETWORK_TAKEOVER_H_
