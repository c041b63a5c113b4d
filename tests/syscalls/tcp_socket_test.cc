// Conformance tests for TCP sockets over loopback (AF_INET and AF_INET6): bind and its errors,
// listen and accept, blocking and non-blocking connect, data transfer (large, concurrent, with
// MSG_PEEK / MSG_DONTWAIT / MSG_WAITALL), shutdown and resets, readiness for poll and epoll,
// ioctls, and the socket options servers set; and, with lo the only interface, connect and
// sendto to an address no route reaches.

#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "tests/syscalls/inet_util.h"

namespace moat::testing {
namespace {

using ::testing::AnyOf;

// Most behaviour is the same for both families: each such test runs once per family. IPv6
// runs are skipped on hosts without ::1.
class TcpTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (GetParam() == AF_INET6) SKIP_WITHOUT_IPV6_LOOPBACK();
  }
  int family() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Families, TcpTest, ::testing::Values(AF_INET, AF_INET6),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == AF_INET ? "IPv4" : "IPv6");
                         });

TEST(TcpSocketTest, CreateAndIdentity) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_DOMAIN), AF_INET);
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN), 0);
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_ERROR), 0);
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  EXPECT_THAT(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_INET6, SOCK_STREAM, IPPROTO_UDP), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_INET, SOCK_SEQPACKET, 0), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
}

TEST(TcpSocketTest, FreshSocketState) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  // A TCP socket that was never connected is writable and hung up, as Linux's tcp_poll says.
  EXPECT_EQ(PollOnce(fd.get(), POLLIN | POLLOUT | POLLRDHUP), POLLOUT | POLLHUP);
  InetAddr a = SockName(fd.get());
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 0);
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  EXPECT_THAT(getpeername(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len),
              SyscallFailsWithErrno(ENOTCONN));
  char c;
  EXPECT_THAT(recv(fd.get(), &c, 1, MSG_DONTWAIT), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(send(fd.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  EXPECT_THAT(shutdown(fd.get(), SHUT_WR), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(accept(fd.get(), nullptr, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST_P(TcpTest, BindEphemeralAndErrors) {
  FileDescriptor fd(socket(family(), SOCK_STREAM, 0));
  InetAddr a = Loopback(family());
  ASSERT_THAT(bind(fd.get(), a.get(), a.len), SyscallSucceeds());
  InetAddr got = SockName(fd.get());
  EXPECT_NE(got.port(), 0);
  EXPECT_EQ(got.family(), family());
  // Bound already.
  EXPECT_THAT(bind(fd.get(), a.get(), a.len), SyscallFailsWithErrno(EINVAL));

  // The same port again: in use.
  FileDescriptor fd2(socket(family(), SOCK_STREAM, 0));
  EXPECT_THAT(bind(fd2.get(), got.get(), got.len), SyscallFailsWithErrno(EADDRINUSE));
  // A short address (IPv6 takes one without the scope id, RFC 2133's), another family.
  socklen_t short_len = family() == AF_INET ? a.len - 1 : 23;
  EXPECT_THAT(bind(fd2.get(), a.get(), short_len), SyscallFailsWithErrno(EINVAL));
  InetAddr other = family() == AF_INET ? V6("::1") : V4("127.0.0.1");
  other.len = a.len;
  EXPECT_THAT(bind(fd2.get(), other.get(), other.len), SyscallFailsWithErrno(EAFNOSUPPORT));
  // An address this host does not have.
  InetAddr far = family() == AF_INET ? V4("203.0.113.77") : V6("2001:db8::77");
  EXPECT_THAT(bind(fd2.get(), far.get(), far.len), SyscallFailsWithErrno(EADDRNOTAVAIL));
}

TEST(TcpSocketTest, BindAnyAndAfUnspecCompat) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM, 0));
  // Linux accepts AF_UNSPEC with INADDR_ANY as AF_INET (for old programs).
  InetAddr a = V4("0.0.0.0");
  reinterpret_cast<sockaddr_in*>(&a.ss)->sin_family = AF_UNSPEC;
  EXPECT_THAT(bind(fd.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_NE(SockName(fd.get()).port(), 0);
}

TEST_P(TcpTest, ConnectAcceptAndTransfer) {
  FileDescriptor l = Listen(family());
  EXPECT_EQ(GetIntOpt(l.get(), SOL_SOCKET, SO_ACCEPTCONN), 1);
  InetAddr la = SockName(l.get());
  FileDescriptor c(socket(family(), SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), la.get(), la.len), SyscallSucceeds());
  InetAddr peer;
  peer.len = sizeof(peer.ss);
  FileDescriptor s(accept(l.get(), peer.get(), &peer.len));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  EXPECT_EQ(peer.len, la.len);
  EXPECT_EQ(peer.ToString(), SockName(c.get()).ToString());
  EXPECT_EQ(PeerName(c.get()).ToString(), la.ToString());
  EXPECT_EQ(SockName(s.get()).ToString(), la.ToString());
  EXPECT_EQ(PeerName(s.get()).ToString(), SockName(c.get()).ToString());
  EXPECT_EQ(GetIntOpt(s.get(), SOL_SOCKET, SO_ACCEPTCONN), 0);

  ASSERT_THAT(write(c.get(), "hello", 5), SyscallSucceedsWithValue(5));
  char buf[16] = {};
  ASSERT_THAT(read(s.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_THAT(send(s.get(), "world!", 6, 0), SyscallSucceedsWithValue(6));
  ASSERT_THAT(recv(c.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 6), "world!");
  EXPECT_THAT(connect(c.get(), la.get(), la.len), SyscallFailsWithErrno(EISCONN));
  // A connected socket cannot listen.
  EXPECT_THAT(listen(c.get(), 1), SyscallFailsWithErrno(EINVAL));
}

TEST(TcpSocketTest, ConnectToAnyMeansLoopback) {
  FileDescriptor l = Listen(AF_INET);
  InetAddr a = V4("0.0.0.0", SockName(l.get()).port());
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_EQ(PeerName(c.get()).ToString(), SockName(l.get()).ToString());
}

TEST(TcpSocketTest, ListenAutobindsAndUpdatesBacklog) {
  FileDescriptor l(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(listen(l.get(), 5), SyscallSucceeds());
  InetAddr a = SockName(l.get());
  EXPECT_NE(a.port(), 0);
  EXPECT_THAT(listen(l.get(), 10), SyscallSucceeds());
  a = V4("127.0.0.1", a.port());
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
}

TEST_P(TcpTest, ConnectRefused) {
  // Bind a port and never listen on it: connecting there is refused.
  FileDescriptor b(socket(family(), SOCK_STREAM, 0));
  InetAddr a = Loopback(family());
  ASSERT_THAT(bind(b.get(), a.get(), a.len), SyscallSucceeds());
  a = SockName(b.get());
  FileDescriptor c(socket(family(), SOCK_STREAM, 0));
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_EQ(GetIntOpt(c.get(), SOL_SOCKET, SO_ERROR), 0);

  // Non-blocking: EINPROGRESS, then the error through poll and SO_ERROR.
  FileDescriptor n(socket(family(), SOCK_STREAM | SOCK_NONBLOCK, 0));
  EXPECT_THAT(connect(n.get(), a.get(), a.len), SyscallFailsWithErrno(EINPROGRESS));
  short ev = PollOnce(n.get(), POLLOUT, 5000);
  EXPECT_TRUE(ev & POLLERR) << ev;
  EXPECT_TRUE(ev & POLLHUP) << ev;
  EXPECT_EQ(GetIntOpt(n.get(), SOL_SOCKET, SO_ERROR), ECONNREFUSED);
  EXPECT_EQ(GetIntOpt(n.get(), SOL_SOCKET, SO_ERROR), 0);
}

TEST_P(TcpTest, NonBlockingConnect) {
  FileDescriptor l = Listen(family());
  InetAddr la = SockName(l.get());
  FileDescriptor c(socket(family(), SOCK_STREAM | SOCK_NONBLOCK, 0));
  EXPECT_THAT(connect(c.get(), la.get(), la.len), SyscallFailsWithErrno(EINPROGRESS));
  EXPECT_EQ(PollOnce(c.get(), POLLOUT, 5000) & (POLLOUT | POLLERR), POLLOUT);
  EXPECT_EQ(GetIntOpt(c.get(), SOL_SOCKET, SO_ERROR), 0);
  // The first connect after completion reports success, the next one EISCONN.
  EXPECT_THAT(connect(c.get(), la.get(), la.len), SyscallSucceeds());
  EXPECT_THAT(connect(c.get(), la.get(), la.len), SyscallFailsWithErrno(EISCONN));
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  ASSERT_THAT(write(s.get(), "x", 1), SyscallSucceedsWithValue(1));
  char ch;
  EXPECT_EQ(PollOnce(c.get(), POLLIN, 5000) & POLLIN, POLLIN);
  EXPECT_THAT(read(c.get(), &ch, 1), SyscallSucceedsWithValue(1));
}

TEST(TcpSocketTest, ConnectAddressErrors) {
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  InetAddr a = V4("127.0.0.1", 1);
  EXPECT_THAT(connect(c.get(), a.get(), a.len - 1), SyscallFailsWithErrno(EINVAL));
  InetAddr v6 = V6("::1", 1);
  EXPECT_THAT(connect(c.get(), v6.get(), sizeof(sockaddr_in)), SyscallFailsWithErrno(EAFNOSUPPORT));
  FileDescriptor c6(socket(AF_INET6, SOCK_STREAM, 0));
  EXPECT_THAT(connect(c6.get(), v6.get(), 10), SyscallFailsWithErrno(EINVAL));
}

TEST_P(TcpTest, AcceptNonBlockingAndFlags) {
  FileDescriptor l = Listen(family());
  ASSERT_THAT(fcntl(l.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(accept(l.get(), nullptr, nullptr), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollOnce(l.get(), POLLIN | POLLOUT), 0);
  EXPECT_THAT(accept4(l.get(), nullptr, nullptr, 0x1234), SyscallFailsWithErrno(EINVAL));

  InetAddr la = SockName(l.get());
  FileDescriptor c(socket(family(), SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), la.get(), la.len), SyscallSucceeds());
  EXPECT_EQ(PollOnce(l.get(), POLLIN, 5000), POLLIN);
  // The accepted socket does not inherit the listener's O_NONBLOCK.
  FileDescriptor s(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  EXPECT_EQ(fcntl(s.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(fcntl(s.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  FileDescriptor c2(socket(family(), SOCK_STREAM, 0));
  ASSERT_THAT(connect(c2.get(), la.get(), la.len), SyscallSucceeds());
  EXPECT_EQ(PollOnce(l.get(), POLLIN, 5000), POLLIN);
  FileDescriptor s2(accept4(l.get(), nullptr, nullptr, SOCK_NONBLOCK));
  ASSERT_THAT(s2.get(), SyscallSucceeds());
  EXPECT_EQ(fcntl(s2.get(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  char ch;
  EXPECT_THAT(read(s2.get(), &ch, 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(TcpSocketTest, BlockingAcceptWokenByConnect) {
  FileDescriptor l = Listen(AF_INET);
  InetAddr la = SockName(l.get());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_THAT(connect(c.get(), la.get(), la.len), SyscallSucceeds());
    ASSERT_THAT(write(c.get(), "ping", 4), SyscallSucceedsWithValue(4));
    char buf[4];
    EXPECT_EQ(ReadFully(c.get(), buf, 4), 4u);
  });
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  char buf[4];
  // A blocking read, woken by the data.
  ASSERT_EQ(ReadFully(s.get(), buf, 4), 4u);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_THAT(write(s.get(), "pong", 4), SyscallSucceedsWithValue(4));
  t.join();
}

TEST_P(TcpTest, PeekDontwaitWaitall) {
  TcpPair p = ConnectedPair(family());
  char buf[32];
  EXPECT_THAT(recv(p.server.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(send(p.client.get(), "abcdef", 6, 0), SyscallSucceedsWithValue(6));
  ASSERT_EQ(PollOnce(p.server.get(), POLLIN, 5000), POLLIN);
  EXPECT_THAT(recv(p.server.get(), buf, 3, MSG_PEEK), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_THAT(recv(p.server.get(), buf, sizeof(buf), MSG_PEEK), SyscallSucceedsWithValue(6));
  int avail = -1;
  EXPECT_THAT(ioctl(p.server.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 6);
  EXPECT_THAT(recv(p.server.get(), buf, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "ab");
  EXPECT_THAT(ioctl(p.server.get(), SIOCINQ, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 4);

  // MSG_WAITALL waits for the rest, which another thread sends later.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_THAT(send(p.client.get(), "ghij", 4, 0), SyscallSucceedsWithValue(4));
  });
  EXPECT_THAT(recv(p.server.get(), buf, 8, MSG_WAITALL), SyscallSucceedsWithValue(8));
  EXPECT_EQ(std::string(buf, 8), "cdefghij");
  t.join();
  EXPECT_THAT(ioctl(p.client.get(), SIOCOUTQ, &avail), SyscallSucceeds());
  EXPECT_GE(avail, 0);
}

TEST_P(TcpTest, ReadvWritevSendmsgRecvmsg) {
  TcpPair p = ConnectedPair(family());
  char a[] = "one", b[] = "two";
  iovec iov[2] = {{a, 3}, {b, 3}};
  ASSERT_THAT(writev(p.client.get(), iov, 2), SyscallSucceedsWithValue(6));
  char buf[6];
  ASSERT_EQ(ReadFully(p.server.get(), buf, 6), 6u);
  EXPECT_EQ(std::string(buf, 6), "onetwo");
  msghdr mh{};
  mh.msg_iov = iov;
  mh.msg_iovlen = 2;
  ASSERT_THAT(sendmsg(p.server.get(), &mh, 0), SyscallSucceedsWithValue(6));
  char x[2], y[4];
  iovec riov[2] = {{x, 2}, {y, 4}};
  msghdr rh{};
  rh.msg_iov = riov;
  rh.msg_iovlen = 2;
  ASSERT_THAT(recvmsg(p.client.get(), &rh, MSG_WAITALL), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(x, 2) + std::string(y, 4), "onetwo");
  EXPECT_EQ(rh.msg_flags, 0);
}

TEST_P(TcpTest, ShutdownWriteGivesPeerEof) {
  TcpPair p = ConnectedPair(family());
  ASSERT_THAT(write(p.client.get(), "bye", 3), SyscallSucceedsWithValue(3));
  ASSERT_THAT(shutdown(p.client.get(), SHUT_WR), SyscallSucceeds());
  char buf[8];
  ASSERT_EQ(ReadFully(p.server.get(), buf, 3), 3u);
  EXPECT_THAT(read(p.server.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  short ev = PollOnce(p.server.get(), POLLIN | POLLOUT | POLLRDHUP);
  EXPECT_EQ(ev, POLLIN | POLLOUT | POLLRDHUP);
  // Writing after SHUT_WR is EPIPE (with SIGPIPE unless MSG_NOSIGNAL).
  EXPECT_THAT(send(p.client.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  // The other direction still works.
  ASSERT_THAT(write(p.server.get(), "ok", 2), SyscallSucceedsWithValue(2));
  ASSERT_EQ(ReadFully(p.client.get(), buf, 2), 2u);
  EXPECT_EQ(std::string(buf, 2), "ok");
  // Both directions closed: POLLHUP.
  ASSERT_THAT(shutdown(p.server.get(), SHUT_WR), SyscallSucceeds());
  EXPECT_THAT(read(p.client.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  ev = PollOnce(p.client.get(), POLLIN | POLLOUT | POLLRDHUP, 1000);
  EXPECT_TRUE(ev & POLLHUP) << ev;
}

TEST(TcpSocketTest, SigpipeAfterShutdown) {
  TcpPair p = ConnectedPair();
  ASSERT_THAT(shutdown(p.client.get(), SHUT_WR), SyscallSucceeds());
  int fd = p.client.get();
  EXPECT_THAT(ForkAndWait([fd] {
                signal(SIGPIPE, SIG_DFL);
                (void)write(fd, "x", 1);
                _exit(0);
              }),
              KilledBySignal(SIGPIPE));
}

TEST(TcpSocketTest, ShutdownRead) {
  TcpPair p = ConnectedPair();
  ASSERT_THAT(shutdown(p.server.get(), SHUT_RD), SyscallSucceeds());
  char c;
  EXPECT_THAT(recv(p.server.get(), &c, 1, 0), SyscallSucceedsWithValue(0));
  EXPECT_TRUE(PollOnce(p.server.get(), POLLIN | POLLRDHUP) & POLLRDHUP);
  EXPECT_THAT(shutdown(p.server.get(), 7), SyscallFailsWithErrno(EINVAL));
}

TEST_P(TcpTest, ResetByPeer) {
  TcpPair p = ConnectedPair(family());
  // SO_LINGER with a zero timeout makes close() send a reset.
  linger lg{1, 0};
  ASSERT_THAT(setsockopt(p.server.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
              SyscallSucceeds());
  p.server.reset();
  short ev = PollOnce(p.client.get(), POLLIN, 5000);
  EXPECT_TRUE(ev & POLLHUP) << ev;
  EXPECT_TRUE(ev & POLLERR) << ev;
  char c;
  EXPECT_THAT(recv(p.client.get(), &c, 1, 0), SyscallFailsWithErrno(ECONNRESET));
  EXPECT_THAT(send(p.client.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  EXPECT_THAT(recv(p.client.get(), &c, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(TcpSocketTest, CloseWithUnreadDataResets) {
  TcpPair p = ConnectedPair();
  ASSERT_THAT(write(p.client.get(), "unread", 6), SyscallSucceedsWithValue(6));
  ASSERT_EQ(PollOnce(p.server.get(), POLLIN, 5000), POLLIN);
  p.server.reset();
  ASSERT_TRUE(PollOnce(p.client.get(), POLLIN, 5000) & POLLIN);
  char c;
  EXPECT_THAT(recv(p.client.get(), &c, 1, 0), SyscallFailsWithErrno(ECONNRESET));
}

TEST(TcpSocketTest, RecvTimeout) {
  TcpPair p = ConnectedPair();
  timeval tv{0, 100000};
  ASSERT_THAT(setsockopt(p.server.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
              SyscallSucceeds());
  auto start = std::chrono::steady_clock::now();
  char c;
  EXPECT_THAT(recv(p.server.get(), &c, 1, 0), SyscallFailsWithErrno(EAGAIN));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(90));
}

TEST_P(TcpTest, LargeTransfer) {
  TcpPair p = ConnectedPair(family());
  constexpr size_t kSize = 8 << 20;
  std::vector<uint8_t> out(kSize);
  for (size_t i = 0; i < kSize; i++) out[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::thread writer([&] {
    EXPECT_EQ(WriteFully(p.client.get(), out.data(), kSize), kSize);
    shutdown(p.client.get(), SHUT_WR);
  });
  std::vector<uint8_t> in(kSize + 1);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(p.server.get(), in.data() + got, std::min<size_t>(in.size() - got, 100000));
    if (n <= 0) {
      EXPECT_EQ(n, 0) << ErrnoString(errno);
      break;
    }
    got += n;
  }
  writer.join();
  ASSERT_EQ(got, kSize);
  in.resize(kSize);
  EXPECT_TRUE(in == out);
}

TEST(TcpSocketTest, NonBlockingSendFillsUp) {
  TcpPair p = ConnectedPair();
  ASSERT_THAT(fcntl(p.client.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  std::vector<char> chunk(65536, 'z');
  size_t total = 0;
  for (int i = 0; i < 10000; i++) {
    ssize_t n = send(p.client.get(), chunk.data(), chunk.size(), 0);
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    total += n;
  }
  EXPECT_GT(total, 0u);
  // A peer that does not read holds the sender back: the buffers on both sides are bounded
  // (Linux's auto-tuning grows a receive buffer only for a reader that keeps up).
  EXPECT_LT(total, 32u << 20);
  EXPECT_EQ(PollOnce(p.client.get(), POLLOUT), 0);
  // Draining the peer makes room again.
  std::vector<char> sink(total);
  EXPECT_EQ(ReadFully(p.server.get(), sink.data(), total), total);
  EXPECT_EQ(PollOnce(p.client.get(), POLLOUT, 5000), POLLOUT);
}

TEST(TcpSocketTest, ManyConcurrentConnections) {
  FileDescriptor l = Listen(AF_INET, 0, 256);
  InetAddr la = SockName(l.get());
  constexpr int kClients = 64;
  std::thread server([&] {
    std::vector<std::thread> handlers;
    for (int i = 0; i < kClients; i++) {
      int s = accept(l.get(), nullptr, nullptr);
      if (s < 0) {
        ADD_FAILURE() << "accept: " << ErrnoString(errno);
        break;
      }
      handlers.emplace_back([s] {
        char buf[64];
        for (;;) {
          ssize_t n = read(s, buf, sizeof(buf));
          if (n <= 0) break;
          if (WriteFully(s, buf, n) != static_cast<size_t>(n)) break;
        }
        close(s);
      });
    }
    for (auto& h : handlers) h.join();
  });
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; i++) {
    clients.emplace_back([&, i] {
      FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
      if (connect(c.get(), la.get(), la.len) != 0) return;
      std::string msg = "client " + std::to_string(i);
      bool good = true;
      for (int round = 0; round < 20 && good; round++) {
        if (WriteFully(c.get(), msg.data(), msg.size()) != msg.size()) good = false;
        std::string back(msg.size(), 0);
        if (ReadFully(c.get(), back.data(), back.size()) != msg.size() || back != msg) good = false;
      }
      if (good) ok++;
    });
  }
  for (auto& t : clients) t.join();
  server.join();
  EXPECT_EQ(ok.load(), kClients);
}

TEST(TcpSocketTest, EpollReadiness) {
  FileDescriptor l = Listen(AF_INET);
  InetAddr la = SockName(l.get());
  FileDescriptor ep(epoll_create1(0));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = l.get();
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, l.get(), &ev), SyscallSucceeds());
  epoll_event out[4];
  EXPECT_THAT(epoll_wait(ep.get(), out, 4, 0), SyscallSucceedsWithValue(0));
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_THAT(connect(c.get(), la.get(), la.len), SyscallSucceeds());
    ASSERT_THAT(write(c.get(), "e", 1), SyscallSucceedsWithValue(1));
    char buf;
    read(c.get(), &buf, 1);  // until the server closes
  });
  ASSERT_THAT(epoll_wait(ep.get(), out, 4, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(out[0].data.fd, l.get());
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
  ev.data.fd = s.get();
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, s.get(), &ev), SyscallSucceeds());
  ASSERT_THAT(epoll_wait(ep.get(), out, 4, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(out[0].data.fd, s.get());
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLIN));
  // Edge-triggered: nothing new, nothing reported.
  EXPECT_THAT(epoll_wait(ep.get(), out, 4, 0), SyscallSucceedsWithValue(0));
  s.reset();
  t.join();
}

TEST(TcpSocketTest, SocketOptions) {
  FileDescriptor fd(socket(AF_INET, SOCK_STREAM, 0));
  int f = fd.get();
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_REUSEADDR), 0);
  SetIntOpt(f, SOL_SOCKET, SO_REUSEADDR, 1);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_REUSEADDR), 1);
  SetIntOpt(f, SOL_SOCKET, SO_REUSEPORT, 1);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_REUSEPORT), 1);
  SetIntOpt(f, SOL_SOCKET, SO_KEEPALIVE, 1);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_KEEPALIVE), 1);

  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_NODELAY), 0);
  SetIntOpt(f, IPPROTO_TCP, TCP_NODELAY, 1);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_NODELAY), 1);
  SetIntOpt(f, IPPROTO_TCP, TCP_CORK, 1);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_CORK), 1);
  SetIntOpt(f, IPPROTO_TCP, TCP_CORK, 0);

  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPINTVL), 75);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPCNT), 9);
  SetIntOpt(f, IPPROTO_TCP, TCP_KEEPIDLE, 30);
  SetIntOpt(f, IPPROTO_TCP, TCP_KEEPINTVL, 5);
  SetIntOpt(f, IPPROTO_TCP, TCP_KEEPCNT, 3);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPINTVL), 5);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_KEEPCNT), 3);
  int bad = 0;
  EXPECT_THAT(setsockopt(f, IPPROTO_TCP, TCP_KEEPIDLE, &bad, sizeof(bad)),
              SyscallFailsWithErrno(EINVAL));
  bad = 40000;
  EXPECT_THAT(setsockopt(f, IPPROTO_TCP, TCP_KEEPINTVL, &bad, sizeof(bad)),
              SyscallFailsWithErrno(EINVAL));
  bad = 200;
  EXPECT_THAT(setsockopt(f, IPPROTO_TCP, TCP_KEEPCNT, &bad, sizeof(bad)),
              SyscallFailsWithErrno(EINVAL));

  // Buffer sizes: Linux doubles what is asked for.
  EXPECT_GT(GetIntOpt(f, SOL_SOCKET, SO_RCVBUF), 0);
  EXPECT_GT(GetIntOpt(f, SOL_SOCKET, SO_SNDBUF), 0);
  SetIntOpt(f, SOL_SOCKET, SO_RCVBUF, 65536);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_RCVBUF), 131072);
  SetIntOpt(f, SOL_SOCKET, SO_SNDBUF, 65536);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_SNDBUF), 131072);
  SetIntOpt(f, SOL_SOCKET, SO_RCVBUF, 1);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_RCVBUF), 2304);

  linger lg{1, 5};
  ASSERT_THAT(setsockopt(f, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), SyscallSucceeds());
  linger got{};
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockopt(f, SOL_SOCKET, SO_LINGER, &got, &len), SyscallSucceeds());
  EXPECT_EQ(got.l_onoff, 1);
  EXPECT_EQ(got.l_linger, 5);

  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TTL), 64);
  SetIntOpt(f, IPPROTO_IP, IP_TTL, 10);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TTL), 10);
  SetIntOpt(f, IPPROTO_IP, IP_TTL, -1);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TTL), 64);
  bad = 0;
  EXPECT_THAT(setsockopt(f, IPPROTO_IP, IP_TTL, &bad, sizeof(bad)), SyscallFailsWithErrno(EINVAL));
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TOS), 0);
  SetIntOpt(f, IPPROTO_IP, IP_TOS, 0x10);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TOS), 0x10);

  EXPECT_EQ(GetIntOpt(f, IPPROTO_TCP, TCP_MAXSEG), 536);

  int v = 1;
  EXPECT_THAT(setsockopt(f, IPPROTO_TCP, 12345, &v, sizeof(v)), SyscallFailsWithErrno(ENOPROTOOPT));
  EXPECT_THAT(setsockopt(f, SOL_SOCKET, 12345, &v, sizeof(v)), SyscallFailsWithErrno(ENOPROTOOPT));
  len = sizeof(v);
  EXPECT_THAT(getsockopt(f, IPPROTO_TCP, 12345, &v, &len), SyscallFailsWithErrno(ENOPROTOOPT));
  EXPECT_THAT(setsockopt(f, IPPROTO_UDP, 1, &v, sizeof(v)), SyscallFailsWithErrno(ENOPROTOOPT));
}

TEST(TcpSocketTest, TcpInfoState) {
  FileDescriptor fresh(socket(AF_INET, SOCK_STREAM, 0));
  tcp_info info{};
  socklen_t len = sizeof(info);
  ASSERT_THAT(getsockopt(fresh.get(), IPPROTO_TCP, TCP_INFO, &info, &len), SyscallSucceeds());
  EXPECT_EQ(info.tcpi_state, TCP_CLOSE);
  FileDescriptor l = Listen(AF_INET);
  len = sizeof(info);
  ASSERT_THAT(getsockopt(l.get(), IPPROTO_TCP, TCP_INFO, &info, &len), SyscallSucceeds());
  EXPECT_EQ(info.tcpi_state, TCP_LISTEN);
  TcpPair p = ConnectedPair();
  len = sizeof(info);
  ASSERT_THAT(getsockopt(p.client.get(), IPPROTO_TCP, TCP_INFO, &info, &len), SyscallSucceeds());
  EXPECT_EQ(info.tcpi_state, TCP_ESTABLISHED);
  EXPECT_GT(info.tcpi_snd_mss, 0u);
  EXPECT_GT(GetIntOpt(p.client.get(), IPPROTO_TCP, TCP_MAXSEG), 0);
  // A short buffer gets the start of the struct.
  uint8_t state = 0;
  len = 1;
  ASSERT_THAT(getsockopt(p.client.get(), IPPROTO_TCP, TCP_INFO, &state, &len), SyscallSucceeds());
  EXPECT_EQ(len, 1u);
  EXPECT_EQ(state, TCP_ESTABLISHED);
}

TEST(TcpSocketTest, AcceptedSocketInheritsOptions) {
  FileDescriptor l(socket(AF_INET, SOCK_STREAM, 0));
  SetIntOpt(l.get(), IPPROTO_TCP, TCP_NODELAY, 1);
  SetIntOpt(l.get(), SOL_SOCKET, SO_KEEPALIVE, 1);
  InetAddr a = V4("127.0.0.1");
  ASSERT_THAT(bind(l.get(), a.get(), a.len), SyscallSucceeds());
  ASSERT_THAT(listen(l.get(), 1), SyscallSucceeds());
  a = SockName(l.get());
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  EXPECT_EQ(GetIntOpt(s.get(), IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(GetIntOpt(s.get(), SOL_SOCKET, SO_KEEPALIVE), 1);
}

TEST(TcpSocketTest, ReuseAddrAfterTimeWait) {
  uint16_t port;
  {
    FileDescriptor l = Listen(AF_INET, 0, 1, /*reuseaddr=*/true);
    port = SockName(l.get()).port();
    InetAddr a = V4("127.0.0.1", port);
    FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
    FileDescriptor s(accept(l.get(), nullptr, nullptr));
    ASSERT_THAT(s.get(), SyscallSucceeds());
    // The server closes first: its end of the connection waits in TIME_WAIT on the port.
    s.reset();
    char ch;
    EXPECT_THAT(read(c.get(), &ch, 1), SyscallSucceedsWithValue(0));
    c.reset();
  }
  InetAddr a = V4("127.0.0.1", port);
  FileDescriptor without(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_THAT(bind(without.get(), a.get(), a.len), SyscallFailsWithErrno(EADDRINUSE));
  FileDescriptor with(socket(AF_INET, SOCK_STREAM, 0));
  SetIntOpt(with.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  EXPECT_THAT(bind(with.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_THAT(listen(with.get(), 1), SyscallSucceeds());
}

TEST(TcpSocketTest, ReuseAddrTwoListeners) {
  FileDescriptor l = Listen(AF_INET, 0, 1, /*reuseaddr=*/true);
  InetAddr a = SockName(l.get());
  // SO_REUSEADDR does not let a second socket bind a port someone listens on.
  FileDescriptor b(socket(AF_INET, SOCK_STREAM, 0));
  SetIntOpt(b.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  EXPECT_THAT(bind(b.get(), a.get(), a.len), SyscallFailsWithErrno(EADDRINUSE));
  // Two sockets with SO_REUSEADDR may bind the same port while neither listens; only one may
  // listen.
  FileDescriptor x(socket(AF_INET, SOCK_STREAM, 0)), y(socket(AF_INET, SOCK_STREAM, 0));
  SetIntOpt(x.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  SetIntOpt(y.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  InetAddr any = V4("127.0.0.1");
  ASSERT_THAT(bind(x.get(), any.get(), any.len), SyscallSucceeds());
  InetAddr xa = SockName(x.get());
  ASSERT_THAT(bind(y.get(), xa.get(), xa.len), SyscallSucceeds());
  EXPECT_THAT(listen(x.get(), 1), SyscallSucceeds());
  EXPECT_THAT(listen(y.get(), 1), SyscallFailsWithErrno(EADDRINUSE));
}

TEST(TcpSocketTest, ReusePortListeners) {
  FileDescriptor x(socket(AF_INET, SOCK_STREAM, 0)), y(socket(AF_INET, SOCK_STREAM, 0));
  SetIntOpt(x.get(), SOL_SOCKET, SO_REUSEPORT, 1);
  SetIntOpt(y.get(), SOL_SOCKET, SO_REUSEPORT, 1);
  InetAddr a = V4("127.0.0.1");
  ASSERT_THAT(bind(x.get(), a.get(), a.len), SyscallSucceeds());
  ASSERT_THAT(listen(x.get(), 8), SyscallSucceeds());
  InetAddr xa = SockName(x.get());
  ASSERT_THAT(bind(y.get(), xa.get(), xa.len), SyscallSucceeds());
  ASSERT_THAT(listen(y.get(), 8), SyscallSucceeds());
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), xa.get(), xa.len), SyscallSucceeds());
  short ex = PollOnce(x.get(), POLLIN, 1000), ey = PollOnce(y.get(), POLLIN, 0);
  EXPECT_EQ(ex | ey, POLLIN);
}

TEST(TcpSocketTest, DualStackListener) {
  FileDescriptor l(socket(AF_INET6, SOCK_STREAM, 0));
  EXPECT_EQ(GetIntOpt(l.get(), IPPROTO_IPV6, IPV6_V6ONLY), 0);
  EXPECT_EQ(GetIntOpt(l.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
  InetAddr any = V6("::");
  ASSERT_THAT(bind(l.get(), any.get(), any.len), SyscallSucceeds());
  ASSERT_THAT(listen(l.get(), 4), SyscallSucceeds());
  uint16_t port = SockName(l.get()).port();
  // An IPv4 client reaches the IPv6 listener; the server sees an IPv4-mapped address.
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  InetAddr a = V4("127.0.0.1", port);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  InetAddr peer;
  peer.len = sizeof(peer.ss);
  FileDescriptor s(accept(l.get(), peer.get(), &peer.len));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  EXPECT_EQ(peer.family(), AF_INET6);
  EXPECT_EQ(peer.ToString(), "::ffff:127.0.0.1:" + std::to_string(SockName(c.get()).port()));
  EXPECT_EQ(SockName(s.get()).ToString(), "::ffff:127.0.0.1:" + std::to_string(port));
  // An IPv6 socket connects to an IPv4-mapped address.
  FileDescriptor c6(socket(AF_INET6, SOCK_STREAM, 0));
  InetAddr m = V6("::ffff:127.0.0.1", port);
  ASSERT_THAT(connect(c6.get(), m.get(), m.len), SyscallSucceeds());
  EXPECT_EQ(SockName(c6.get()).ToString().rfind("::ffff:127.0.0.1:", 0), 0u);
  FileDescriptor s2(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s2.get(), SyscallSucceeds());
  // The IPv4 port is taken by the dual-stack listener.
  FileDescriptor b(socket(AF_INET, SOCK_STREAM, 0));
  InetAddr any4 = V4("0.0.0.0", port);
  EXPECT_THAT(bind(b.get(), any4.get(), any4.len), SyscallFailsWithErrno(EADDRINUSE));
}

TEST(TcpSocketTest, V6OnlyRefusesIpv4) {
  FileDescriptor l(socket(AF_INET6, SOCK_STREAM, 0));
  SetIntOpt(l.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1);
  EXPECT_EQ(GetIntOpt(l.get(), IPPROTO_IPV6, IPV6_V6ONLY), 1);
  InetAddr any = V6("::");
  ASSERT_THAT(bind(l.get(), any.get(), any.len), SyscallSucceeds());
  ASSERT_THAT(listen(l.get(), 4), SyscallSucceeds());
  uint16_t port = SockName(l.get()).port();
  int v = 0;
  EXPECT_THAT(setsockopt(l.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)),
              SyscallFailsWithErrno(EINVAL));
  // The IPv4 side of the port is free, and nothing listens there.
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  InetAddr a = V4("127.0.0.1", port);
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
  // A v6-only socket cannot bind an IPv4-mapped address.
  FileDescriptor m(socket(AF_INET6, SOCK_STREAM, 0));
  SetIntOpt(m.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1);
  InetAddr mapped = V6("::ffff:127.0.0.1");
  EXPECT_THAT(bind(m.get(), mapped.get(), mapped.len), SyscallFailsWithErrno(EINVAL));
}

TEST(TcpSocketTest, Ipv6LoopbackNames) {
  SKIP_WITHOUT_IPV6_LOOPBACK();
  TcpPair p = ConnectedPair(AF_INET6);
  EXPECT_EQ(SockName(p.client.get()).ToString().rfind("::1:", 0), 0u);
  EXPECT_EQ(PeerName(p.server.get()).ToString().rfind("::1:", 0), 0u);
  EXPECT_EQ(GetIntOpt(p.client.get(), SOL_SOCKET, SO_DOMAIN), AF_INET6);
}

// A request/response loop over one connection: checks that small messages flow without stalls
// (no Nagle or delayed-ACK waits on loopback).
TEST(TcpSocketTest, PingPong) {
  TcpPair p = ConnectedPair();
  std::thread echo([&] {
    char c;
    while (read(p.server.get(), &c, 1) == 1) {
      if (write(p.server.get(), &c, 1) != 1) break;
    }
  });
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000; i++) {
    char c = static_cast<char>(i);
    ASSERT_THAT(write(p.client.get(), &c, 1), SyscallSucceedsWithValue(1));
    char r;
    ASSERT_THAT(read(p.client.get(), &r, 1), SyscallSucceedsWithValue(1));
    ASSERT_EQ(r, c);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  shutdown(p.client.get(), SHUT_WR);
  echo.join();
}

// What connect and sendto to addresses without a route give, one line per try, each the
// call's result or its errno's name.
std::string NoRouteTries() {
  std::string out;
  auto try_one = [&](const char* what, int type, const InetAddr& to, bool send) {
    int fd = socket(to.family(), type, 0);
    int r = fd < 0 ? -1 : send ? static_cast<int>(sendto(fd, "x", 1, 0, to.get(), to.len))
                               : connect(fd, to.get(), to.len);
    const char* name = strerrorname_np(errno);
    out += std::string(what) + " " + to.ToString() + ": " +
           (r < 0 ? (name ? name : "E?") : std::to_string(r)) + "\n";
    if (fd >= 0) close(fd);
  };
  // Documentation ranges (RFC 5737, RFC 3849), and an address next to ::1.
  for (const InetAddr& a : {V4("192.0.2.77", 80), V6("2001:db8::77", 80), V6("fd00::2", 80),
                            V6("::2", 80)}) {
    try_one("tcp connect", SOCK_STREAM, a, false);
    try_one("udp connect", SOCK_DGRAM, a, false);
    try_one("udp sendto", SOCK_DGRAM, a, true);
  }
  return out;
}

// Runs `tries` where lo is the only interface and returns what it returned: here when lo is
// already alone (the sandbox's default stack), else in a child in a network namespace of its
// own with lo up (natively; needs CAP_SYS_ADMIN). nullopt when neither can be had.
std::optional<std::string> WithLoopbackOnly(const std::function<std::string()>& tries) {
  struct if_nameindex* ifs = if_nameindex();
  bool lo_only = ifs && ifs[0].if_name && std::string(ifs[0].if_name) == "lo" && !ifs[1].if_name;
  if (ifs) if_freenameindex(ifs);
  if (lo_only) return tries();
  int p[2];
  if (pipe(p) != 0) return std::nullopt;
  pid_t pid = ForkChild([&] {
    close(p[0]);
    if (unshare(CLONE_NEWNET) != 0) _exit(2);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) _exit(3);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) _exit(3);
    std::string out = tries();
    if (!WriteAll(p[1], out.data(), out.size())) _exit(4);
  });
  close(p[1]);
  std::string out = ReadAll(p[0]);
  close(p[0]);
  int status = pid == -1 ? -1 : WaitForChild(pid);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// With lo alone, only lo's addresses have a route: the rest is ENETUNREACH, for IPv6 too.
TEST(InetRouteTest, NoRouteIsEnetunreach) {
  SKIP_WITHOUT_IPV6_LOOPBACK();
  std::optional<std::string> got = WithLoopbackOnly(NoRouteTries);
  if (!got) {
    GTEST_SKIP() << "this host has interfaces besides lo, and a network namespace of lo alone "
                    "cannot be made here";
  }
  std::string want;
  for (const char* a : {"192.0.2.77:80", "2001:db8::77:80", "fd00::2:80", "::2:80"}) {
    for (const char* what : {"tcp connect", "udp connect", "udp sendto"})
      want += std::string(what) + " " + a + ": ENETUNREACH\n";
  }
  EXPECT_EQ(*got, want);
}

}  // namespace
}  // namespace moat::testing
