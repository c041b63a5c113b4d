// socket(2) and socketpair(2) by address family: the one place that knows which code serves
// which family (socket.h lists them).
#ifndef MOAT_SENTRY_SOCKET_FAMILIES_H_
#define MOAT_SENTRY_SOCKET_FAMILIES_H_

#include <utility>

#include "sentry/socket/socket.h"

namespace moat::sockets {

// `type` is without SOCK_NONBLOCK / SOCK_CLOEXEC; `flags` the new file's status flags
// (O_NONBLOCK). EAFNOSUPPORT for a family the sandbox does not have.
Result<RefPtr<Socket>> NewSocket(Task& task, int family, int type, int protocol, int flags);

// A connected pair: AF_UNIX only, as on Linux (EOPNOTSUPP for the other families).
Result<std::pair<RefPtr<Socket>, RefPtr<Socket>>> NewSocketPair(Task& task, int family, int type,
                                                                int protocol, int flags);

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_FAMILIES_H_
