// The files of /proc/net (proc(5)), in Linux's exact formats, made from what the sandbox's
// Stack reports: dev, tcp, tcp6, udp, udp6, if_inet6, route, ipv6_route, snmp, and unix (whose
// sockets the AF_UNIX family lists). procfs (sentry/fsimpl/proc_net.cc) serves them; the
// functions are pure so that the unit tests can check the formats against a fake Stack.
#ifndef MOAT_SENTRY_SOCKET_PROC_NET_H_
#define MOAT_SENTRY_SOCKET_PROC_NET_H_

#include <string>
#include <string_view>
#include <vector>

#include "sentry/socket/stack.h"

namespace moat::sockets {

// The names of the files, in the order a listing shows them.
const std::vector<std::string>& ProcNetFiles();

// The content of /proc/net/`name` for `stack` (null: a sandbox without a network, whose files
// have their headers only). Empty for a name that is not one of ProcNetFiles().
std::string ProcNetFile(Stack* stack, std::string_view name);

// The formats, one per file.
std::string ProcNetDev(const std::vector<Interface>& ifs);
// tcp/tcp6 (`protocol` IPPROTO_TCP) and udp/udp6 (IPPROTO_UDP) for `family`.
std::string ProcNetSockets(const std::vector<SocketInfo>& sockets, int family, int protocol);
std::string ProcNetIfInet6(const std::vector<InterfaceAddress>& addrs,
                           const std::vector<Interface>& ifs);
std::string ProcNetRoute(const std::vector<Route>& routes, const std::vector<Interface>& ifs);
std::string ProcNetIpv6Route(const std::vector<Route>& routes, const std::vector<Interface>& ifs);
std::string ProcNetSnmp(const std::vector<SocketInfo>& tcp);

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_PROC_NET_H_
