// Helpers for the AF_INET / AF_INET6 conformance programs (tcp_socket_test, udp_socket_test,
// icmp_socket_test): loopback addresses, and listening and connected TCP sockets on them.
//
// Everything uses loopback only, so that the programs pass natively on any host. IPv6's ::1 is
// missing on hosts that disable IPv6 on lo; tests that need it call SkipWithoutIpv6Loopback(),
// which skips with that reason (the sandbox always has ::1).
#ifndef MOAT_TESTS_SYSCALLS_INET_UTIL_H_
#define MOAT_TESTS_SYSCALLS_INET_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// An address of either family, with its length.
struct InetAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;

  sockaddr* get() { return reinterpret_cast<sockaddr*>(&ss); }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss); }
  int family() const { return ss.ss_family; }
  uint16_t port() const {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  }
  void set_port(uint16_t p) {
    if (ss.ss_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(p);
    } else {
      reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(p);
    }
  }
  std::string ToString() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
    } else {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
    }
    return std::string(buf) + ":" + std::to_string(port());
  }
};

inline InetAddr V4(const char* ip, uint16_t port = 0) {
  InetAddr a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  a.len = sizeof(sockaddr_in);
  return a;
}

inline InetAddr V6(const char* ip, uint16_t port = 0) {
  InetAddr a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &sin6->sin6_addr);
  a.len = sizeof(sockaddr_in6);
  return a;
}

inline InetAddr Loopback(int family, uint16_t port = 0) {
  return family == AF_INET ? V4("127.0.0.1", port) : V6("::1", port);
}

inline InetAddr SockName(int fd) {
  InetAddr a;
  a.len = sizeof(a.ss);
  if (getsockname(fd, a.get(), &a.len) != 0) ADD_FAILURE() << "getsockname: " << ErrnoString(errno);
  return a;
}

inline InetAddr PeerName(int fd) {
  InetAddr a;
  a.len = sizeof(a.ss);
  if (getpeername(fd, a.get(), &a.len) != 0) ADD_FAILURE() << "getpeername: " << ErrnoString(errno);
  return a;
}

// Whether this host has ::1 (hosts with IPv6 disabled on lo do not).
inline bool HaveIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  InetAddr a = V6("::1");
  bool ok = bind(fd, a.get(), a.len) == 0;
  close(fd);
  return ok;
}

#define SKIP_WITHOUT_IPV6_LOOPBACK()                                                    \
  do {                                                                                  \
    if (!::moat::testing::HaveIpv6Loopback())                                           \
      GTEST_SKIP() << "this host has no ::1 (IPv6 is disabled on its loopback device)"; \
  } while (0)

inline int GetIntOpt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, level, name, &v, &len) != 0) {
    ADD_FAILURE() << "getsockopt(" << level << ", " << name << "): " << ErrnoString(errno);
  }
  return v;
}

inline void SetIntOpt(int fd, int level, int name, int v) {
  if (setsockopt(fd, level, name, &v, sizeof(v)) != 0) {
    ADD_FAILURE() << "setsockopt(" << level << ", " << name << "): " << ErrnoString(errno);
  }
}

inline short PollOnce(int fd, short events, int timeout_ms = 0) {
  pollfd p{fd, events, 0};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? p.revents : 0;
}

// A TCP socket listening on loopback (an ephemeral port unless `port`).
inline FileDescriptor Listen(int family, uint16_t port = 0, int backlog = 128,
                             bool reuseaddr = false) {
  FileDescriptor fd(socket(family, SOCK_STREAM, 0));
  if (!fd.valid()) {
    ADD_FAILURE() << "socket: " << ErrnoString(errno);
    return fd;
  }
  if (reuseaddr) SetIntOpt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  InetAddr a = Loopback(family, port);
  if (bind(fd.get(), a.get(), a.len) != 0) ADD_FAILURE() << "bind: " << ErrnoString(errno);
  if (listen(fd.get(), backlog) != 0) ADD_FAILURE() << "listen: " << ErrnoString(errno);
  return fd;
}

// A connected pair of TCP sockets on loopback: client and the server's accepted end.
struct TcpPair {
  FileDescriptor client, server;
};

inline TcpPair ConnectedPair(int family = AF_INET) {
  TcpPair p;
  FileDescriptor l = Listen(family);
  InetAddr a = SockName(l.get());
  p.client.reset(socket(family, SOCK_STREAM, 0));
  if (connect(p.client.get(), a.get(), a.len) != 0) {
    ADD_FAILURE() << "connect: " << ErrnoString(errno);
    return p;
  }
  p.server.reset(accept(l.get(), nullptr, nullptr));
  if (!p.server.valid()) ADD_FAILURE() << "accept: " << ErrnoString(errno);
  return p;
}

// Reads exactly `len` bytes unless EOF or an error comes first; returns how many were read.
inline size_t ReadFully(int fd, void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, static_cast<char*>(buf) + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

inline size_t WriteFully(int fd, const void* buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, static_cast<const char*>(buf) + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_INET_UTIL_H_
