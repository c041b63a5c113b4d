#include "sentry/socket/families.h"

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/socket/netlink/netlink_socket.h"
#include "sentry/socket/stack.h"
#include "sentry/socket/unix/unix.h"

namespace moat::sockets {

Result<RefPtr<Socket>> NewSocket(Task& task, int family, int type, int protocol, int flags) {
  switch (family) {
    case AF_INET:
    case AF_INET6:
    case AF_PACKET: {
      Stack* stack = task.kernel().network();
      if (!stack) return Errno(EAFNOSUPPORT);
      return stack->NewSocket(task, family, type, protocol, flags);
    }
    case AF_UNIX:
      return NewUnixSocket(task, type, protocol, flags);
    case AF_NETLINK:
      return netlink::NewSocket(task, type, protocol, flags);
    default:
      return Errno(EAFNOSUPPORT);
  }
}

Result<std::pair<RefPtr<Socket>, RefPtr<Socket>>> NewSocketPair(Task& task, int family, int type,
                                                                int protocol, int flags) {
  switch (family) {
    case AF_UNIX:
      return NewUnixSocketPair(task, type, protocol, flags);
    case AF_INET:
    case AF_INET6:
    case AF_NETLINK:
    case AF_PACKET:
      return Errno(EOPNOTSUPP);
    default:
      return Errno(EAFNOSUPPORT);
  }
}

}  // namespace moat::sockets
