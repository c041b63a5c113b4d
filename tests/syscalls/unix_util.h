// Helpers shared by the AF_UNIX conformance programs (unix_socket_test.cc, unix_dgram_test.cc,
// unix_scm_test.cc): addresses, socket pairs, poll.
#ifndef MOAT_TESTS_SYSCALLS_UNIX_UTIL_H_
#define MOAT_TESTS_SYSCALLS_UNIX_UTIL_H_

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// An address for a path: the length counts the path and its NUL, as getsockname reports it.
struct UnixAddr {
  sockaddr_un addr{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

inline UnixAddr PathAddr(const std::string& path) {
  UnixAddr a;
  a.addr.sun_family = AF_UNIX;
  memcpy(a.addr.sun_path, path.data(), path.size());
  a.len = offsetof(sockaddr_un, sun_path) + path.size() + 1;
  return a;
}

// An abstract address: a NUL, then `name`, with no terminator.
inline UnixAddr AbstractAddr(const std::string& name) {
  UnixAddr a;
  a.addr.sun_family = AF_UNIX;
  memcpy(a.addr.sun_path + 1, name.data(), name.size());
  a.len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  return a;
}

// An abstract name no other test (nor another run of this one, natively on the same host)
// uses at the same time.
inline std::string UniqueName(const std::string& tag) {
  static std::atomic<int> n{0};
  return "moat_test_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(n++);
}

struct SocketPair {
  explicit SocketPair(int type) {
    int fds[2] = {-1, -1};
    if (socketpair(AF_UNIX, type, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair: " << ErrnoString(errno);
    }
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  FileDescriptor a;
  FileDescriptor b;
};

// The events poll reports right now for `fd` (no wait).
inline short PollNow(int fd, short events = POLLIN | POLLOUT | POLLRDHUP) {
  struct pollfd p = {fd, events, 0};
  int n = poll(&p, 1, 0);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? p.revents : 0;
}

// Waits up to `ms` for `events` on fd; returns revents (0 on timeout).
inline short PollWait(int fd, short events, int ms) {
  struct pollfd p = {fd, events, 0};
  int n;
  do {
    n = poll(&p, 1, ms);
  } while (n < 0 && errno == EINTR);
  return n == 1 ? p.revents : 0;
}

inline FileDescriptor Socket(int type) {
  int fd = socket(AF_UNIX, type, 0);
  if (fd < 0) ADD_FAILURE() << "socket: " << ErrnoString(errno);
  return FileDescriptor(fd);
}

// A listening socket bound to `addr`.
inline FileDescriptor Listener(const UnixAddr& addr, int type = SOCK_STREAM, int backlog = 5) {
  FileDescriptor s = Socket(type);
  if (bind(s.get(), addr.get(), addr.len) != 0) ADD_FAILURE() << "bind: " << ErrnoString(errno);
  if (listen(s.get(), backlog) != 0) ADD_FAILURE() << "listen: " << ErrnoString(errno);
  return s;
}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_UNIX_UTIL_H_
