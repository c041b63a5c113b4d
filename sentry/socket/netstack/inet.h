// The netstack's socket types (internal to sentry/socket/netstack/): TCP (tcp.cc), UDP (udp.cc)
// and ICMP echo "ping" sockets (icmp.cc) for AF_INET and AF_INET6, made by the Stack (stack.cc),
// and what /proc/net lists of them.
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_INET_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_INET_H_

#include <vector>

#include "base/errno.h"
#include "base/ref_counted.h"
#include "sentry/socket/socket.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netstack {

Result<RefPtr<Socket>> NewTcpSocket(Task& task, int family, int flags);
Result<RefPtr<Socket>> NewUdpSocket(Task& task, int family, int flags);
Result<RefPtr<Socket>> NewPingSocket(Task& task, int family, int flags);

// The sockets of a protocol (IPPROTO_TCP, IPPROTO_UDP) as /proc/net lists them.
std::vector<SocketInfo> TcpSockets();
std::vector<SocketInfo> UdpSockets();

// Starts catching ICMP errors for UDP (port unreachable becomes ECONNREFUSED on a connected
// socket). Called once, with the core lock held, when the stack starts.
void StartUdpErrorCatcher();
// Starts the timer that lets go of pcbs in TIME_WAIT (tcp.cc). Called once, with the core
// lock held.
void StartTcpTimeWaitSweep();

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_INET_H_
