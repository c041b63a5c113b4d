// Conformance tests for TCP and UDP sockets over loopback, the checks an inet Stack must pass
// whatever implements it; registered for the host network mode (sentry/socket/hostinet),
// where each socket is a host socket the sentry opened and the sentry does the blocking:
// connect/accept/send/recv (blocking, non-blocking, timeouts, signals), names, options,
// FIONREAD, shutdown, readiness for poll and epoll, and the control messages that may pass.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

sockaddr_in Loopback(uint16_t port = 0) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

sockaddr* Sa(sockaddr_in* a) { return reinterpret_cast<sockaddr*>(a); }

// A listening TCP socket on 127.0.0.1 and its address.
struct Listener {
  Listener() {
    fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    addr = Loopback();
    EXPECT_THAT(bind(fd.get(), Sa(&addr), sizeof(addr)), SyscallSucceeds());
    EXPECT_THAT(listen(fd.get(), 16), SyscallSucceeds());
    socklen_t len = sizeof(addr);
    EXPECT_THAT(getsockname(fd.get(), Sa(&addr), &len), SyscallSucceeds());
  }
  FileDescriptor fd;
  sockaddr_in addr;
};

// A connected pair of TCP sockets: client and the accepted server end.
struct TcpPair {
  TcpPair() {
    client.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_THAT(connect(client.get(), Sa(&l.addr), sizeof(l.addr)), SyscallSucceeds());
    server.reset(accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(server.valid()) << ErrnoString(errno);
  }
  Listener l;
  FileDescriptor client, server;
};

TEST(InetHostTest, SocketKinds) {
  FileDescriptor tcp(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_TRUE(tcp.valid());
  FileDescriptor udp(socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP));
  EXPECT_TRUE(udp.valid());
  FileDescriptor tcp6(socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP));
  EXPECT_TRUE(tcp6.valid());
  EXPECT_THAT(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_INET, SOCK_SEQPACKET, 0), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(udp.get(), SOL_SOCKET, SO_TYPE, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, SOCK_DGRAM);
  ASSERT_THAT(getsockopt(tcp6.get(), SOL_SOCKET, SO_DOMAIN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, AF_INET6);
  struct stat st;
  ASSERT_THAT(fstat(tcp.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST(InetHostTest, ConnectAcceptAndTransfer) {
  TcpPair p;
  ASSERT_THAT(write(p.client.get(), "ping", 4), SyscallSucceedsWithValue(4));
  char buf[16] = {};
  ASSERT_THAT(read(p.server.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_STREQ(buf, "ping");
  ASSERT_THAT(send(p.server.get(), "pong", 4, 0), SyscallSucceedsWithValue(4));
  ASSERT_THAT(recv(p.client.get(), buf, 4, MSG_WAITALL), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "pong");
  // Names on both ends agree.
  sockaddr_in cl{}, peer{};
  socklen_t len = sizeof(cl);
  ASSERT_THAT(getsockname(p.client.get(), Sa(&cl), &len), SyscallSucceeds());
  len = sizeof(peer);
  ASSERT_THAT(getpeername(p.server.get(), Sa(&peer), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(cl.sin_port, peer.sin_port);
  EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

TEST(InetHostTest, AcceptReportsThePeer) {
  Listener l;
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), Sa(&l.addr), sizeof(l.addr)), SyscallSucceeds());
  sockaddr_in peer{};
  socklen_t len = sizeof(peer);
  FileDescriptor s(accept4(l.fd.get(), Sa(&peer), &len, SOCK_NONBLOCK));
  ASSERT_TRUE(s.valid()) << ErrnoString(errno);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(peer.sin_family, AF_INET);
  EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_TRUE(fcntl(s.get(), F_GETFL) & O_NONBLOCK);
  char c1;
  EXPECT_THAT(read(s.get(), &c1, 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(InetHostTest, BlockingAcceptWakesOnConnect) {
  Listener l;
  std::thread t([&] {
    usleep(50000);
    FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
    connect(c.get(), Sa(&l.addr), sizeof(l.addr));
    write(c.get(), "x", 1);
    usleep(50000);
  });
  FileDescriptor s(accept(l.fd.get(), nullptr, nullptr));
  EXPECT_TRUE(s.valid()) << ErrnoString(errno);
  char c;
  EXPECT_THAT(read(s.get(), &c, 1), SyscallSucceedsWithValue(1));
  t.join();
}

TEST(InetHostTest, BlockingReadWakesOnData) {
  TcpPair p;
  std::thread t([&] {
    usleep(50000);
    write(p.client.get(), "late", 4);
  });
  char buf[8];
  EXPECT_THAT(read(p.server.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  t.join();
}

TEST(InetHostTest, NonBlockingAcceptAndRead) {
  Listener l;
  ASSERT_THAT(fcntl(l.fd.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(accept(l.fd.get(), nullptr, nullptr), SyscallFailsWithErrno(EAGAIN));
  TcpPair p;
  char c;
  EXPECT_THAT(recv(p.server.get(), &c, 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(InetHostTest, NonBlockingConnectCompletes) {
  Listener l;
  FileDescriptor c(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  int r = connect(c.get(), Sa(&l.addr), sizeof(l.addr));
  if (r != 0) {
    ASSERT_EQ(errno, EINPROGRESS) << ErrnoString(errno);
  }
  pollfd pfd{c.get(), POLLOUT, 0};
  ASSERT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(pfd.revents & POLLOUT);
  int err = -1;
  socklen_t len = sizeof(err);
  ASSERT_THAT(getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len), SyscallSucceeds());
  EXPECT_EQ(err, 0);
  // The connect that finds the connection made succeeds; the next one is refused.
  if (r != 0) {
    EXPECT_THAT(connect(c.get(), Sa(&l.addr), sizeof(l.addr)), SyscallSucceeds());
  }
  EXPECT_THAT(connect(c.get(), Sa(&l.addr), sizeof(l.addr)), SyscallFailsWithErrno(EISCONN));
}

TEST(InetHostTest, ConnectionRefused) {
  sockaddr_in a;
  {
    Listener l;  // a port that was just free, and is closed again
    a = l.addr;
  }
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_THAT(connect(c.get(), Sa(&a), sizeof(a)), SyscallFailsWithErrno(ECONNREFUSED));
  FileDescriptor nb(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  int r = connect(nb.get(), Sa(&a), sizeof(a));
  if (r != 0 && errno == EINPROGRESS) {
    pollfd pfd{nb.get(), POLLOUT, 0};
    ASSERT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
    int err = 0;
    socklen_t len = sizeof(err);
    ASSERT_THAT(getsockopt(nb.get(), SOL_SOCKET, SO_ERROR, &err, &len), SyscallSucceeds());
    EXPECT_EQ(err, ECONNREFUSED);
  } else {
    EXPECT_THAT(r, SyscallFailsWithErrno(ECONNREFUSED));
  }
}

TEST(InetHostTest, BindErrors) {
  Listener l;
  FileDescriptor s(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_THAT(bind(s.get(), Sa(&l.addr), sizeof(l.addr)), SyscallFailsWithErrno(EADDRINUSE));
  sockaddr_in a = Loopback();
  EXPECT_THAT(bind(s.get(), Sa(&a), sizeof(a) - 1), SyscallFailsWithErrno(EINVAL));
  sockaddr_in6 six{};
  six.sin6_family = AF_INET6;
  EXPECT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&six), sizeof(six)),
              SyscallFailsWithErrno(EAFNOSUPPORT));
  ASSERT_THAT(bind(s.get(), Sa(&a), sizeof(a)), SyscallSucceeds());
  EXPECT_THAT(bind(s.get(), Sa(&a), sizeof(a)), SyscallFailsWithErrno(EINVAL));
}

TEST(InetHostTest, EndOfStreamAndShutdown) {
  TcpPair p;
  ASSERT_THAT(shutdown(p.client.get(), SHUT_WR), SyscallSucceeds());
  char c;
  EXPECT_THAT(read(p.server.get(), &c, 1), SyscallSucceedsWithValue(0));
  pollfd pfd{p.server.get(), POLLIN | POLLRDHUP, 0};
  ASSERT_THAT(poll(&pfd, 1, 1000), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(pfd.revents & POLLRDHUP);
  // The other direction still works.
  ASSERT_THAT(write(p.server.get(), "y", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(read(p.client.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(shutdown(p.client.get(), 7), SyscallFailsWithErrno(EINVAL));
  FileDescriptor u(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_THAT(shutdown(u.get(), SHUT_RDWR), SyscallFailsWithErrno(ENOTCONN));
}

TEST(InetHostTest, WriteAfterPeerClosedGivesEpipe) {
  TcpPair p;
  p.server.reset();
  // The first write may still go out (and draw a reset); a later one fails.
  signal(SIGPIPE, SIG_IGN);
  ssize_t r = 0;
  for (int i = 0; i < 100 && r >= 0; i++) {
    r = send(p.client.get(), "z", 1, MSG_NOSIGNAL);
    if (r >= 0) usleep(10000);
  }
  EXPECT_THAT(r, SyscallFailsWithErrno(::testing::AnyOf(EPIPE, ECONNRESET)));
  signal(SIGPIPE, SIG_DFL);
}

TEST(InetHostTest, SigpipeOnBrokenConnection) {
  TcpPair p;
  p.server.reset();
  int fd = p.client.get();
  EXPECT_CHILD_SUCCEEDS([fd] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    ssize_t r = 0;
    for (int i = 0; i < 100 && r >= 0; i++) {
      r = write(fd, "z", 1);
      if (r >= 0) usleep(10000);
    }
    CHILD_CHECK(r < 0 && (errno == EPIPE || errno == ECONNRESET));
    if (errno == EPIPE) {
      siginfo_t info;
      timespec zero{0, 0};
      CHILD_CHECK(sigtimedwait(&set, &info, &zero) == SIGPIPE);
    }
    _exit(0);
  });
}

TEST(InetHostTest, ReceiveTimeout) {
  TcpPair p;
  // A multiple of the tick at any usual HZ, so that the value reads back unrounded.
  timeval tv{0, 40000};
  ASSERT_THAT(setsockopt(p.server.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), SyscallSucceeds());
  timeval got{};
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockopt(p.server.get(), SOL_SOCKET, SO_RCVTIMEO, &got, &len), SyscallSucceeds());
  EXPECT_EQ(got.tv_usec, 40000);
  char c;
  EXPECT_THAT(read(p.server.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
}

void NoopHandler(int) {}

TEST(InetHostTest, SignalInterruptsBlockingReceive) {
  TcpPair p;
  struct sigaction sa{}, old{};
  sa.sa_handler = NoopHandler;  // no SA_RESTART
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  pthread_t self = pthread_self();
  std::thread t([self] {
    usleep(50000);
    pthread_kill(self, SIGUSR1);
  });
  char c;
  EXPECT_THAT(read(p.server.get(), &c, 1), SyscallFailsWithErrno(EINTR));
  t.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(InetHostTest, PeekAndFionread) {
  TcpPair p;
  ASSERT_THAT(write(p.client.get(), "abcdef", 6), SyscallSucceedsWithValue(6));
  pollfd pfd{p.server.get(), POLLIN, 0};
  ASSERT_THAT(poll(&pfd, 1, 5000), SyscallSucceedsWithValue(1));
  int n = 0;
  // Data may arrive in pieces; wait until all of it is there.
  for (int i = 0; i < 100 && n < 6; i++) {
    ASSERT_THAT(ioctl(p.server.get(), FIONREAD, &n), SyscallSucceeds());
    if (n < 6) usleep(1000);
  }
  EXPECT_EQ(n, 6);
  char buf[8] = {};
  ASSERT_THAT(recv(p.server.get(), buf, 3, MSG_PEEK), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  ASSERT_THAT(recv(p.server.get(), buf, 6, 0), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 6), "abcdef");
  ASSERT_THAT(ioctl(p.server.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);
}

TEST(InetHostTest, LargeTransferWithBlockingWrites) {
  TcpPair p;
  constexpr size_t kSize = 8 << 20;
  std::thread reader([&] {
    std::vector<char> buf(1 << 16);
    size_t total = 0;
    while (total < kSize) {
      ssize_t n = read(p.server.get(), buf.data(), buf.size());
      if (n <= 0) break;
      total += n;
    }
    EXPECT_EQ(total, kSize);
  });
  std::vector<char> data(kSize, 'q');
  EXPECT_THAT(write(p.client.get(), data.data(), data.size()), SyscallSucceedsWithValue(kSize));
  reader.join();
}

TEST(InetHostTest, SocketOptions) {
  FileDescriptor s(socket(AF_INET, SOCK_STREAM, 0));
  int one = 1, v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  ASSERT_THAT(setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_KEEPALIVE, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  int buf = 65536;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 2 * buf);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 0);
  EXPECT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, 2), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(getsockopt(s.get(), IPPROTO_TCP, 12345, &v, &len), SyscallFailsWithErrno(ENOPROTOOPT));
  FileDescriptor six(socket(AF_INET6, SOCK_STREAM, 0));
  ASSERT_THAT(setsockopt(six.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(six.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  linger lg{1, 5};
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), SyscallSucceeds());
  linger got{};
  len = sizeof(got);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_LINGER, &got, &len), SyscallSucceeds());
  EXPECT_EQ(got.l_onoff, 1);
  EXPECT_EQ(got.l_linger, 5);
}

TEST(InetHostTest, EpollReadiness) {
  TcpPair p;
  FileDescriptor ep(epoll_create1(EPOLL_CLOEXEC));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = p.server.get();
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.server.get(), &ev), SyscallSucceeds());
  epoll_event out[2];
  EXPECT_THAT(epoll_wait(ep.get(), out, 2, 0), SyscallSucceedsWithValue(0));
  std::thread t([&] {
    usleep(30000);
    write(p.client.get(), "e", 1);
  });
  ASSERT_THAT(epoll_wait(ep.get(), out, 2, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(out[0].data.fd, p.server.get());
  EXPECT_TRUE(out[0].events & EPOLLIN);
  t.join();
}

TEST(InetHostTest, UdpDatagrams) {
  FileDescriptor a(socket(AF_INET, SOCK_DGRAM, 0)), b(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in aa = Loopback(), ba = Loopback();
  ASSERT_THAT(bind(a.get(), Sa(&aa), sizeof(aa)), SyscallSucceeds());
  ASSERT_THAT(bind(b.get(), Sa(&ba), sizeof(ba)), SyscallSucceeds());
  socklen_t len = sizeof(aa);
  ASSERT_THAT(getsockname(a.get(), Sa(&aa), &len), SyscallSucceeds());
  len = sizeof(ba);
  ASSERT_THAT(getsockname(b.get(), Sa(&ba), &len), SyscallSucceeds());
  ASSERT_THAT(sendto(a.get(), "one", 3, 0, Sa(&ba), sizeof(ba)), SyscallSucceedsWithValue(3));
  ASSERT_THAT(sendto(a.get(), "second", 6, 0, Sa(&ba), sizeof(ba)), SyscallSucceedsWithValue(6));
  char buf[16] = {};
  sockaddr_in from{};
  len = sizeof(from);
  ASSERT_THAT(recvfrom(b.get(), buf, sizeof(buf), 0, Sa(&from), &len), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "one");
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(from.sin_port, aa.sin_port);
  // A short buffer truncates the datagram; MSG_TRUNC gives its real length.
  ASSERT_THAT(recv(b.get(), buf, 2, MSG_TRUNC), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 2), "se");
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  // Connected: send without an address, and an unconnected socket needs one.
  ASSERT_THAT(connect(a.get(), Sa(&ba), sizeof(ba)), SyscallSucceeds());
  ASSERT_THAT(send(a.get(), "c", 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1));
  FileDescriptor c(socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_THAT(send(c.get(), "c", 1, 0), SyscallFailsWithErrno(EDESTADDRREQ));
  // recvmsg truncation flag.
  ASSERT_THAT(send(a.get(), "longer", 6, 0), SyscallSucceedsWithValue(6));
  iovec iov{buf, 2};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ASSERT_THAT(recvmsg(b.get(), &mh, 0), SyscallSucceedsWithValue(2));
  EXPECT_TRUE(mh.msg_flags & MSG_TRUNC);
}

TEST(InetHostTest, UdpControlMessages) {
  FileDescriptor a(socket(AF_INET, SOCK_DGRAM, 0)), b(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in ba = Loopback();
  ASSERT_THAT(bind(b.get(), Sa(&ba), sizeof(ba)), SyscallSucceeds());
  socklen_t len = sizeof(ba);
  ASSERT_THAT(getsockname(b.get(), Sa(&ba), &len), SyscallSucceeds());
  int one = 1;
  ASSERT_THAT(setsockopt(b.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)), SyscallSucceeds());
  ASSERT_THAT(setsockopt(b.get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)), SyscallSucceeds());
  // A TTL chosen by a control message.
  char c = 'x';
  iovec iov{&c, 1};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_name = &ba;
  mh.msg_namelen = sizeof(ba);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = IPPROTO_IP;
  cm->cmsg_type = IP_TTL;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  int ttl = 42;
  std::memcpy(CMSG_DATA(cm), &ttl, sizeof(ttl));
  ASSERT_THAT(sendmsg(a.get(), &mh, 0), SyscallSucceedsWithValue(1));

  alignas(cmsghdr) char rbuf[256] = {};
  msghdr rh{};
  rh.msg_iov = &iov;
  rh.msg_iovlen = 1;
  rh.msg_control = rbuf;
  rh.msg_controllen = sizeof(rbuf);
  ASSERT_THAT(recvmsg(b.get(), &rh, 0), SyscallSucceedsWithValue(1));
  bool saw_ttl = false, saw_pktinfo = false;
  for (cmsghdr* h = CMSG_FIRSTHDR(&rh); h; h = CMSG_NXTHDR(&rh, h)) {
    if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_TTL) {
      int got;
      std::memcpy(&got, CMSG_DATA(h), sizeof(got));
      EXPECT_EQ(got, 42);
      saw_ttl = true;
    }
    if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(h), sizeof(pi));
      EXPECT_EQ(pi.ipi_addr.s_addr, htonl(INADDR_LOOPBACK));
      EXPECT_EQ(pi.ipi_ifindex, 1);
      saw_pktinfo = true;
    }
  }
  EXPECT_TRUE(saw_ttl);
  EXPECT_TRUE(saw_pktinfo);

  // Files cannot travel over an inet socket: SCM_RIGHTS is ignored, as Linux ignores it.
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  int fd = a.get();
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
  ASSERT_THAT(sendmsg(a.get(), &mh, 0), SyscallSucceedsWithValue(1));
  rh.msg_controllen = sizeof(rbuf);
  ASSERT_THAT(recvmsg(b.get(), &rh, 0), SyscallSucceedsWithValue(1));
  for (cmsghdr* h = CMSG_FIRSTHDR(&rh); h; h = CMSG_NXTHDR(&rh, h)) {
    EXPECT_FALSE(h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS);
  }
}

TEST(InetHostTest, Ipv6Loopback) {
  FileDescriptor l(socket(AF_INET6, SOCK_STREAM, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    // Natively the host may have IPv6 off on its loopback; then so does host mode.
    ASSERT_EQ(errno, EADDRNOTAVAIL) << ErrnoString(errno);
    // IPv4 through an IPv6 socket still works.
    a.sin6_addr = in6addr_any;
    ASSERT_THAT(bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  }
  ASSERT_THAT(listen(l.get(), 1), SyscallSucceeds());
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in v4 = Loopback(ntohs(a.sin6_port));
  if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) {
    ASSERT_THAT(connect(c.get(), Sa(&v4), sizeof(v4)), SyscallSucceeds());
    sockaddr_in6 peer{};
    len = sizeof(peer);
    FileDescriptor s(accept(l.get(), reinterpret_cast<sockaddr*>(&peer), &len));
    ASSERT_TRUE(s.valid());
    EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr));
  } else {
    FileDescriptor c6(socket(AF_INET6, SOCK_STREAM, 0));
    ASSERT_THAT(connect(c6.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
    FileDescriptor s(accept(l.get(), nullptr, nullptr));
    ASSERT_TRUE(s.valid());
  }
}

}  // namespace
}  // namespace moat::testing
