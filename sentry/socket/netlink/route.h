// NETLINK_ROUTE (rtnetlink(7)) requests, answered from the sandbox's Stack: dumps of links,
// addresses and routes (and the default rules and an empty neighbour table), single RTM_GETLINK
// and RTM_GETROUTE
// (`ip route get`), and the changes `ip addr add`, `ip route add` and `ip link set up` make,
// passed to the Stack's change methods. Errors are Linux's: EOPNOTSUPP for a message type
// without a handler, EPERM for a change without CAP_NET_ADMIN, EINVAL for a malformed request,
// ENODEV for an unknown interface.
//
// The functions here are pure: they read the Stack and build message bytes, so that the unit
// tests can run them against a fake Stack. The socket (netlink_socket.h) does the queueing.
#ifndef MOAT_SENTRY_SOCKET_NETLINK_ROUTE_H_
#define MOAT_SENTRY_SOCKET_NETLINK_ROUTE_H_

#include <cstdint>
#include <vector>

#include "sentry/socket/netlink/message.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netlink {

// Who asks, and how.
struct RouteRequest {
  Stack* stack = nullptr;  // not owned; null: a sandbox with no network at all
  uint32_t portid = 0;     // the requester's port id, which every reply carries
  bool strict = false;     // NETLINK_GET_STRICT_CHK: dump requests are checked as Linux does
  bool net_admin = false;  // CAP_NET_ADMIN, which every change needs
};

// What one request gives.
struct RouteResult {
  // A dump: `messages` are its parts (NLM_F_MULTI), which go out in datagrams and are followed
  // by NLMSG_DONE carrying `error`. Otherwise `messages` are the answer (if any), and `error`
  // (a negative errno, or 0) decides the NLMSG_ERROR that follows when it fails or an ack was
  // asked for.
  bool dump = false;
  std::vector<std::vector<uint8_t>> messages;
  int error = 0;
};

// Handles one message that is a request (NLM_F_REQUEST) of a type at or above NLMSG_MIN_TYPE.
RouteResult HandleRouteRequest(const RouteRequest& req, const MessageView& m);

// The messages of each dump, for `portid` and `seq` (exposed for the unit tests).
std::vector<std::vector<uint8_t>> LinkMessages(const std::vector<Interface>& ifs, uint16_t type,
                                               uint16_t flags, uint32_t seq, uint32_t portid);
std::vector<uint8_t> AddressMessage(const InterfaceAddress& a, const std::vector<Interface>& ifs,
                                    uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid);
std::vector<uint8_t> RouteMessage(const Route& r, uint16_t type, uint16_t flags, uint32_t seq,
                                  uint32_t portid);

// The route `ip route get` reports for `dst` (4 or 16 bytes used, by `family`): a local
// address (RTN_LOCAL, table local), else the longest matching unicast route of the main table.
// ENETUNREACH if none.
Result<Route> LookupRoute(Stack& stack, int family, const std::array<uint8_t, 16>& dst);

}  // namespace moat::sockets::netlink

#endif  // MOAT_SENTRY_SOCKET_NETLINK_ROUTE_H_
