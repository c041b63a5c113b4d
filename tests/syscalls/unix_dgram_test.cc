// Conformance tests for AF_UNIX datagram sockets: addressing (sendto, connect as the default
// destination, AF_UNSPEC), source addresses, EPERM for a receiver connected elsewhere,
// ECONNREFUSED once a receiver is gone, a full receiver (blocking, EAGAIN, poll), size limits
// and shutdown.

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "tests/syscalls/test_util.h"
#include "tests/syscalls/unix_util.h"

namespace moat::testing {
namespace {

constexpr socklen_t kFamilyLen = sizeof(sa_family_t);

FileDescriptor Bound(const UnixAddr& a, int flags = 0) {
  FileDescriptor s(socket(AF_UNIX, SOCK_DGRAM | flags, 0));
  if (bind(s.get(), a.get(), a.len) != 0) ADD_FAILURE() << "bind: " << ErrnoString(errno);
  return s;
}

TEST(UnixDgramTest, PairKeepsBoundaries) {
  SocketPair p(SOCK_DGRAM);
  ASSERT_THAT(send(p.a.get(), "hello", 5, 0), SyscallSucceedsWithValue(5));
  ASSERT_THAT(send(p.a.get(), "hi", 2, 0), SyscallSucceedsWithValue(2));
  ASSERT_THAT(send(p.a.get(), "", 0, 0), SyscallSucceedsWithValue(0));
  int n = -1;
  ASSERT_THAT(ioctl(p.b.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 5);  // the first datagram only
  char buf[16];
  iovec io = {buf, 3};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  ASSERT_THAT(recvmsg(p.b.get(), &m, MSG_PEEK), SyscallSucceedsWithValue(3));
  ASSERT_THAT(recvmsg(p.b.get(), &m, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(m.msg_flags, MSG_TRUNC);
  EXPECT_EQ(std::string(buf, 3), "hel");
  ASSERT_THAT(recv(p.b.get(), buf, 1, MSG_TRUNC), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixDgramTest, UnconnectedSendIsENOTCONN) {
  FileDescriptor s = Socket(SOCK_DGRAM);
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(write(s.get(), "x", 1), SyscallFailsWithErrno(ENOTCONN));
  sockaddr_un a;
  socklen_t len = sizeof(a);
  EXPECT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&a), &len),
              SyscallFailsWithErrno(ENOTCONN));
  // A bad destination address.
  UnixAddr bad = AbstractAddr(UniqueName("bad"));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, bad.get(), kFamilyLen), SyscallFailsWithErrno(EINVAL));
  bad.addr.sun_family = AF_INET;
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, bad.get(), bad.len), SyscallFailsWithErrno(EINVAL));
  UnixAddr none = AbstractAddr(UniqueName("none"));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, none.get(), none.len),
              SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, PathAddr("/nonexistent/x").get(), 20),
              SyscallFailsWithErrno(ENOENT));
}

TEST(UnixDgramTest, SendtoAndSourceAddresses) {
  TempDir dir;
  UnixAddr ra = PathAddr(dir.Join("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor anon = Socket(SOCK_DGRAM);
  ASSERT_THAT(sendto(anon.get(), "a", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  UnixAddr na = AbstractAddr(UniqueName("named"));
  FileDescriptor named = Bound(na);
  ASSERT_THAT(sendto(named.get(), "b", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  sockaddr_un from;
  socklen_t len = sizeof(from);
  char c;
  // An unnamed sender has no address at all.
  ASSERT_THAT(recvfrom(r.get(), &c, 1, 0, reinterpret_cast<sockaddr*>(&from), &len),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'a');
  EXPECT_EQ(len, 0u);
  len = sizeof(from);
  ASSERT_THAT(recvfrom(r.get(), &c, 1, 0, reinterpret_cast<sockaddr*>(&from), &len),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'b');
  EXPECT_EQ(len, na.len);
  EXPECT_EQ(memcmp(&from, &na.addr, na.len), 0);
  // A reply to that address.
  ASSERT_THAT(sendto(r.get(), "c", 1, 0, reinterpret_cast<sockaddr*>(&from), len),
              SyscallSucceedsWithValue(1));
  len = sizeof(from);
  ASSERT_THAT(recvfrom(named.get(), &c, 1, 0, reinterpret_cast<sockaddr*>(&from), &len),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(len, ra.len);
  EXPECT_STREQ(from.sun_path, ra.addr.sun_path);
}

TEST(UnixDgramTest, ConnectSetsDefaultDestination) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s = Socket(SOCK_DGRAM);
  ASSERT_THAT(connect(s.get(), ra.get(), ra.len), SyscallSucceeds());
  sockaddr_un a;
  socklen_t len = sizeof(a);
  ASSERT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, ra.len);
  ASSERT_THAT(send(s.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  ASSERT_THAT(write(s.get(), "y", 1), SyscallSucceedsWithValue(1));
  // An explicit address still goes where it says.
  UnixAddr oa = AbstractAddr(UniqueName("o"));
  FileDescriptor o = Bound(oa);
  ASSERT_THAT(sendto(s.get(), "z", 1, 0, oa.get(), oa.len), SyscallSucceedsWithValue(1));
  char buf[4];
  EXPECT_THAT(recv(r.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1));
  EXPECT_THAT(recv(r.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1));
  EXPECT_THAT(recv(o.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1));
  // AF_UNSPEC disconnects.
  sockaddr unspec = {};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_THAT(connect(s.get(), &unspec, sizeof(unspec)), SyscallSucceeds());
  len = sizeof(a);
  EXPECT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&a), &len),
              SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  // Not to a stream socket: a path finds it and refuses the type; an abstract name is per
  // type and finds nothing.
  TempDir dir;
  UnixAddr la = PathAddr(dir.Join("l"));
  FileDescriptor l = Listener(la);
  EXPECT_THAT(connect(s.get(), la.get(), la.len), SyscallFailsWithErrno(EPROTOTYPE));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, la.get(), la.len), SyscallFailsWithErrno(EPROTOTYPE));
  UnixAddr aa = AbstractAddr(UniqueName("l"));
  FileDescriptor al = Listener(aa);
  EXPECT_THAT(connect(s.get(), aa.get(), aa.len), SyscallFailsWithErrno(ECONNREFUSED));
}

TEST(UnixDgramTest, ReceiverConnectedElsewhereIsEPERM) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  UnixAddr oa = AbstractAddr(UniqueName("o"));
  FileDescriptor o = Bound(oa);
  ASSERT_THAT(connect(r.get(), oa.get(), oa.len), SyscallSucceeds());
  FileDescriptor s = Socket(SOCK_DGRAM);
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, ra.get(), ra.len), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(connect(s.get(), ra.get(), ra.len), SyscallFailsWithErrno(EPERM));
  // Its own peer may still send to it.
  EXPECT_THAT(sendto(o.get(), "x", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
}

TEST(UnixDgramTest, ReceiverGoneIsECONNREFUSEDOnce) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s = Socket(SOCK_DGRAM);
  ASSERT_THAT(connect(s.get(), ra.get(), ra.len), SyscallSucceeds());
  r.reset();
  EXPECT_EQ(PollNow(s.get()), POLLOUT);
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, ra.get(), ra.len), SyscallFailsWithErrno(ECONNREFUSED));

  SocketPair p(SOCK_DGRAM);
  p.b.reset();
  EXPECT_THAT(send(p.a.get(), "x", 1, 0), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(send(p.a.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
}

TEST(UnixDgramTest, FullReceiverNonBlocking) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  FileDescriptor c(socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  ASSERT_THAT(connect(c.get(), ra.get(), ra.len), SyscallSucceeds());
  EXPECT_EQ(PollNow(c.get(), POLLOUT), POLLOUT);
  // net.unix.max_dgram_qlen is 10: the eleventh message fills the receiver.
  int sent = 0;
  while (sendto(s.get(), "x", 1, 0, ra.get(), ra.len) == 1) {
    sent++;
    ASSERT_LT(sent, 1000);
  }
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(sent, 11);
  EXPECT_THAT(send(c.get(), "x", 1, 0), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollNow(c.get(), POLLOUT), 0);
  char b;
  ASSERT_THAT(recv(r.get(), &b, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(PollWait(c.get(), POLLOUT, 1000), POLLOUT);
  EXPECT_THAT(send(c.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  // A receiver's own peer is not held to the queue limit.
  ASSERT_THAT(connect(r.get(), ra.get(), ra.len), SyscallSucceeds());
  EXPECT_THAT(send(r.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
}

TEST(UnixDgramTest, FullReceiverBlocksSender) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s = Socket(SOCK_DGRAM);
  ASSERT_THAT(connect(s.get(), ra.get(), ra.len), SyscallSucceeds());
  for (int i = 0; i < 11; i++) ASSERT_THAT(send(s.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  std::atomic<long> result{-2};
  std::thread t([&] { result = send(s.get(), "last", 4, 0); });
  usleep(100 * 1000);
  EXPECT_EQ(result.load(), -2);
  char b[8];
  ASSERT_THAT(recv(r.get(), b, sizeof(b), 0), SyscallSucceedsWithValue(1));
  t.join();
  EXPECT_EQ(result.load(), 4);
  // A sender blocked on a receiver that goes away is refused.
  for (int i = 0; i < 11; i++) ASSERT_THAT(recv(r.get(), b, sizeof(b), 0), SyscallSucceeds());
  for (int i = 0; i < 11; i++) ASSERT_THAT(send(s.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  std::thread t2([&] { result = send(s.get(), "x", 1, 0); });
  usleep(100 * 1000);
  r.reset();
  t2.join();
  EXPECT_EQ(result.load(), -1);
}

TEST(UnixDgramTest, SendBufferLimits) {
  SocketPair p(SOCK_DGRAM);
  int v = 8192;
  ASSERT_THAT(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), SyscallSucceeds());
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &v, &len), SyscallSucceeds());
  ASSERT_EQ(v, 16384);
  std::string big(v, 'x');
  EXPECT_THAT(send(p.a.get(), big.data(), v - 31, 0), SyscallFailsWithErrno(EMSGSIZE));
  EXPECT_THAT(send(p.a.get(), big.data(), v - 32, 0), SyscallSucceedsWithValue(v - 32));
  // The buffer is now full: the next send would block.
  EXPECT_THAT(send(p.a.get(), "x", 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollNow(p.a.get(), POLLOUT), 0);
  int n = 0;
  ASSERT_THAT(ioctl(p.a.get(), SIOCOUTQ, &n), SyscallSucceeds());
  EXPECT_GE(n, v - 32);
  ASSERT_THAT(recv(p.b.get(), big.data(), big.size(), 0), SyscallSucceedsWithValue(v - 32));
  EXPECT_EQ(PollNow(p.a.get(), POLLOUT), POLLOUT);
  EXPECT_THAT(send(p.a.get(), "x", 1, MSG_DONTWAIT), SyscallSucceedsWithValue(1));
}

TEST(UnixDgramTest, Shutdown) {
  SocketPair p(SOCK_DGRAM);
  ASSERT_THAT(shutdown(p.a.get(), SHUT_WR), SyscallSucceeds());
  EXPECT_THAT(send(p.a.get(), "x", 1, 0), SyscallFailsWithErrno(EPIPE));
  // Only the socket itself is shut down; its peer can still send to it.
  ASSERT_THAT(send(p.b.get(), "y", 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(PollNow(p.b.get()), POLLOUT);

  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s = Socket(SOCK_DGRAM);
  ASSERT_THAT(connect(s.get(), ra.get(), ra.len), SyscallSucceeds());
  ASSERT_THAT(send(s.get(), "1", 1, 0), SyscallSucceedsWithValue(1));
  ASSERT_THAT(shutdown(r.get(), SHUT_RD), SyscallSucceeds());
  EXPECT_EQ(PollNow(r.get()), POLLIN | POLLOUT | POLLRDHUP);
  EXPECT_THAT(send(s.get(), "2", 1, 0), SyscallFailsWithErrno(EPIPE));
  char b;
  EXPECT_THAT(recv(r.get(), &b, 1, 0), SyscallSucceedsWithValue(1));
  // Empty and shut down: a non-blocking receive is EAGAIN, a blocking one end of file.
  EXPECT_THAT(recv(r.get(), &b, 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(recv(r.get(), &b, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(UnixDgramTest, PasscredAutobindsOnSend) {
  UnixAddr ra = AbstractAddr(UniqueName("r"));
  FileDescriptor r = Bound(ra);
  FileDescriptor s = Socket(SOCK_DGRAM);
  int one = 1;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), SyscallSucceeds());
  sockaddr_un a;
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, kFamilyLen);
  ASSERT_THAT(sendto(s.get(), "x", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, offsetof(sockaddr_un, sun_path) + 6);
  EXPECT_EQ(a.sun_path[0], '\0');
  sockaddr_un from;
  socklen_t flen = sizeof(from);
  char c;
  ASSERT_THAT(recvfrom(r.get(), &c, 1, 0, reinterpret_cast<sockaddr*>(&from), &flen),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(flen, len);
  EXPECT_EQ(memcmp(&from, &a, len), 0);
}

TEST(UnixDgramTest, BlockingReceiveWakes) {
  SocketPair p(SOCK_DGRAM);
  std::thread t([&] {
    usleep(50 * 1000);
    send(p.a.get(), "wake", 4, 0);
  });
  char buf[8];
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  t.join();
  timeval tv = {0, 20 * 1000};
  ASSERT_THAT(setsockopt(p.b.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), SyscallSucceeds());
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixDgramTest, SendAndReceiveMany) {
  SocketPair p(SOCK_DGRAM);
  char data[3][4] = {"one", "two", "six"};
  iovec io[3];
  mmsghdr msgs[3] = {};
  for (int i = 0; i < 3; i++) {
    io[i] = {data[i], 3};
    msgs[i].msg_hdr.msg_iov = &io[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_THAT(sendmmsg(p.a.get(), msgs, 3, 0), SyscallSucceedsWithValue(3));
  char out[3][8] = {};
  for (int i = 0; i < 3; i++) {
    io[i] = {out[i], sizeof(out[i])};
    msgs[i].msg_len = 0;
  }
  ASSERT_THAT(recvmmsg(p.b.get(), msgs, 3, MSG_DONTWAIT, nullptr), SyscallSucceedsWithValue(3));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(msgs[i].msg_len, 3u);
    EXPECT_STREQ(out[i], data[i]);
  }
}

TEST(UnixDgramTest, SendToSelf) {
  UnixAddr a = AbstractAddr(UniqueName("self"));
  FileDescriptor s = Bound(a);
  ASSERT_THAT(sendto(s.get(), "me", 2, 0, a.get(), a.len), SyscallSucceedsWithValue(2));
  sockaddr_un from;
  socklen_t len = sizeof(from);
  char buf[4];
  ASSERT_THAT(recvfrom(s.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(len, a.len);
}

}  // namespace
}  // namespace moat::testing
