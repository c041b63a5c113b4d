// --network=host (DESIGN.md section 7): the sandbox's AF_INET and AF_INET6 sockets are host
// sockets that the sentry opens for the application, in the sentry's own network namespace,
// and the interfaces, addresses and routes the sandbox sees are the host's. This is weaker
// isolation than the netstack (docs/network.md): the host kernel's TCP/IP code handles the
// application's traffic, and the application can reach whatever the host can.
//
// What stays in the sentry: blocking (every host fd is non-blocking; a task waits on the
// socket's WaitQueue, which the host notifier wakes: sentry/kernel/host_notifier.h), timeouts
// and signals, SIGPIPE, the socket's identity (its sockfs inode, what /proc/net lists), and
// what may reach the host: socket options on an allowlist only (no option that carries a
// pointer, such as a BPF filter, and none that needs the host's privileges), control messages
// of the IP levels only (files never travel: SCM_RIGHTS is ignored, as Linux ignores it on
// inet sockets), no raw or packet sockets (EPERM and EAFNOSUPPORT), no interface changes
// (EOPNOTSUPP).
//
// Ownership: the Stack owns the registry of live sockets (for /proc/net/tcp and udp), which
// each socket also holds; a socket owns its host fd.
#ifndef MOAT_SENTRY_SOCKET_HOSTINET_HOSTINET_H_
#define MOAT_SENTRY_SOCKET_HOSTINET_HOSTINET_H_

#include <memory>

#include "sentry/socket/stack.h"

namespace moat::sockets::hostinet {

std::unique_ptr<Stack> NewHostStack();

}  // namespace moat::sockets::hostinet

#endif  // MOAT_SENTRY_SOCKET_HOSTINET_HOSTINET_H_
