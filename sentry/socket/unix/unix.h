// AF_UNIX sockets (unix(7)), emulated entirely in the sentry: SOCK_STREAM, SOCK_DGRAM and
// SOCK_SEQPACKET; names in the VFS (a socket file made by bind) or in the abstract namespace
// (one table for the sandbox, its one network namespace); SCM_RIGHTS, SCM_CREDENTIALS and
// SO_PEERCRED.
//
// This is the family's whole interface to the rest of the sentry; endpoint.h has the internals.
#ifndef MOAT_SENTRY_SOCKET_UNIX_UNIX_H_
#define MOAT_SENTRY_SOCKET_UNIX_UNIX_H_

#include <string>
#include <utility>

#include "sentry/socket/socket.h"

namespace moat::sockets {

// socket(AF_UNIX, type, protocol): `type` without SOCK_NONBLOCK / SOCK_CLOEXEC, `flags` the
// file's status flags. EPROTONOSUPPORT for a protocol other than 0 or PF_UNIX,
// ESOCKTNOSUPPORT for a type AF_UNIX lacks; SOCK_RAW is SOCK_DGRAM, as on Linux.
Result<RefPtr<Socket>> NewUnixSocket(Task& task, int type, int protocol, int flags);

// socketpair(AF_UNIX, ...): two sockets connected to each other, with the caller's
// credentials as each one's SO_PEERCRED.
Result<std::pair<RefPtr<Socket>, RefPtr<Socket>>> NewUnixSocketPair(Task& task, int type,
                                                                    int protocol, int flags);

// The content of /proc/net/unix: Linux's header line ("Num       RefCount Protocol Flags    Type
// St Inode Path") and one line per AF_UNIX socket of the sandbox.
std::string ProcNetUnix();

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_UNIX_UNIX_H_
