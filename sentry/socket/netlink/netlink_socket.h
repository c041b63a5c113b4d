// AF_NETLINK sockets (netlink(7)), emulated in the sentry: NETLINK_ROUTE, answered from the
// sandbox's Stack (route.h), and NETLINK_KOBJECT_UEVENT, accepted and silent (no device ever
// comes or goes in the sandbox). Every other protocol is EPROTONOSUPPORT, as gVisor has it.
//
// What is Linux's: SOCK_RAW and SOCK_DGRAM; port ids (autobind takes the process id first,
// then negative numbers), bind/connect/getsockname/getpeername; requests processed in sendmsg
// as netlink_rcv_skb walks a datagram; a reply or an ack per datagram; dumps in datagrams sized
// by the reader's largest receive buffer, then NLMSG_DONE (with the dump's error) alone;
// NLMSG_ERROR echoing the request unless NETLINK_CAP_ACK; NETLINK_GET_STRICT_CHK; ENOBUFS
// when the receive queue overflows; unicast between the sandbox's own netlink sockets (with
// CAP_NET_ADMIN). Multicast groups can be joined, but the sandbox sends no notifications.
//
// Locking: a socket's mu_ is taken before the port table's (netlink_socket.cc), and nothing
// else is taken under either but a WaitQueue's. Another socket's mu_ is never taken while one's
// own is held: unicast finds its target, lets go, then delivers.
#ifndef MOAT_SENTRY_SOCKET_NETLINK_NETLINK_SOCKET_H_
#define MOAT_SENTRY_SOCKET_NETLINK_NETLINK_SOCKET_H_

#include "sentry/socket/socket.h"

namespace moat::sockets::netlink {

// socket(AF_NETLINK, type, protocol): `type` without SOCK_NONBLOCK/SOCK_CLOEXEC, `flags` the
// file's status flags. ESOCKTNOSUPPORT for a type other than SOCK_RAW/SOCK_DGRAM,
// EPROTONOSUPPORT for a protocol the sandbox does not have.
Result<RefPtr<Socket>> NewSocket(Task& task, int type, int protocol, int flags);

}  // namespace moat::sockets::netlink

#endif  // MOAT_SENTRY_SOCKET_NETLINK_NETLINK_SOCKET_H_
