// The interface ioctls of netdevice(7), which every socket answers whatever its family (Linux's
// sock_ioctl and dev_ioctl), from the sandbox's Stack: SIOCGIFCONF, SIOCGIFNAME, SIOCGIFINDEX,
// SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFTXQLEN, SIOCGIFMETRIC, SIOCGIFMAP, and
// SIOCSIFFLAGS (CAP_NET_ADMIN; through Stack::SetInterfaceFlags). On AF_INET sockets only
// (devinet_ioctl), the IPv4 address ones: SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR,
// SIOCGIFDSTADDR.
//
// Socket::Ioctl calls InterfaceIoctl for every socket; a family that has ioctls of its own
// (FIONREAD, SIOCOUTQ...) answers those and hands the rest to Socket::Ioctl.
#ifndef MOAT_SENTRY_SOCKET_INTERFACE_IOCTL_H_
#define MOAT_SENTRY_SOCKET_INTERFACE_IOCTL_H_

#include <net/if.h>

#include <cstdint>
#include <vector>

#include "base/errno.h"
#include "base/user_addr.h"
#include "sentry/socket/stack.h"

namespace moat::sockets {

// Whether `cmd` is one of the ioctls above (the ones InterfaceIoctl may answer).
bool IsInterfaceIoctl(uint64_t cmd);

// The ioctl `cmd` on a socket of `family`, with `arg` the application's struct ifreq or
// struct ifconf. ENOTTY for a command that is not an interface ioctl (or an address one on a
// socket that is not AF_INET), ENODEV for an unknown interface, EADDRNOTAVAIL for an interface
// without an IPv4 address, EFAULT for a bad `arg`.
Result<long> InterfaceIoctl(Task& task, int family, uint64_t cmd, UserAddr arg);

// The pure halves, which the unit tests run against a fake Stack (null: no interfaces).
// Answers the request `req` (a copy of the application's ifreq, name NUL-terminated) in place.
Result<void> InterfaceRequest(Stack* stack, int family, uint64_t cmd, ifreq& req);
// SIOCGIFCONF: one ifreq (name and sockaddr_in) per IPv4 address, in interface order.
std::vector<ifreq> InterfaceConfig(Stack* stack);

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_INTERFACE_IOCTL_H_
