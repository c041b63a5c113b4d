// Conformance tests for UDP sockets over loopback (AF_INET and AF_INET6): bind, sendto and
// recvfrom with source addresses, connected UDP and disconnecting with AF_UNSPEC, message
// boundaries (MSG_PEEK, MSG_TRUNC), sendmmsg/recvmmsg, readiness, ioctls, control messages,
// errors from ICMP port unreachable, and options.

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <chrono>
#include <thread>
#include <vector>

#include "tests/syscalls/inet_util.h"

namespace moat::testing {
namespace {

class UdpTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (GetParam() == AF_INET6) SKIP_WITHOUT_IPV6_LOOPBACK();
  }
  int family() const { return GetParam(); }
  // A UDP socket bound to an ephemeral loopback port.
  FileDescriptor Bound(int flags = 0) {
    FileDescriptor fd(socket(family(), SOCK_DGRAM | flags, 0));
    InetAddr a = Loopback(family());
    EXPECT_THAT(bind(fd.get(), a.get(), a.len), SyscallSucceeds());
    return fd;
  }
};

INSTANTIATE_TEST_SUITE_P(Families, UdpTest, ::testing::Values(AF_INET, AF_INET6),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == AF_INET ? "IPv4" : "IPv6");
                         });

TEST(UdpSocketTest, CreateAndIdentity) {
  FileDescriptor fd(socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_PROTOCOL), IPPROTO_UDP);
  EXPECT_EQ(PollOnce(fd.get(), POLLIN | POLLOUT), POLLOUT);
  EXPECT_THAT(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_GT(GetIntOpt(fd.get(), SOL_SOCKET, SO_RCVBUF), 0);
}

TEST_P(UdpTest, SendtoRecvfrom) {
  FileDescriptor a = Bound(), b = Bound();
  InetAddr aa = SockName(a.get()), ba = SockName(b.get());
  ASSERT_THAT(sendto(a.get(), "hello", 5, 0, ba.get(), ba.len), SyscallSucceedsWithValue(5));
  char buf[16];
  InetAddr from;
  from.len = sizeof(from.ss);
  ASSERT_THAT(recvfrom(b.get(), buf, sizeof(buf), 0, from.get(), &from.len),
              SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(from.ToString(), aa.ToString());
  EXPECT_EQ(from.len, aa.len);
  // Boundaries are kept: two datagrams are two reads.
  ASSERT_THAT(sendto(a.get(), "12", 2, 0, ba.get(), ba.len), SyscallSucceedsWithValue(2));
  ASSERT_THAT(sendto(a.get(), "345", 3, 0, ba.get(), ba.len), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  // Zero-length datagrams exist.
  ASSERT_THAT(sendto(a.get(), "", 0, 0, ba.get(), ba.len), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UdpSocketTest, AutobindOnSend) {
  FileDescriptor r(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr lo = V4("127.0.0.1");
  ASSERT_THAT(bind(r.get(), lo.get(), lo.len), SyscallSucceeds());
  InetAddr ra = SockName(r.get());
  FileDescriptor s(socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_EQ(SockName(s.get()).port(), 0);
  ASSERT_THAT(sendto(s.get(), "x", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  InetAddr sa = SockName(s.get());
  EXPECT_NE(sa.port(), 0);
  InetAddr from;
  from.len = sizeof(from.ss);
  char c;
  ASSERT_THAT(recvfrom(r.get(), &c, 1, 0, from.get(), &from.len), SyscallSucceedsWithValue(1));
  EXPECT_EQ(from.port(), sa.port());
  EXPECT_EQ(from.ToString(), "127.0.0.1:" + std::to_string(sa.port()));
}

TEST_P(UdpTest, ConnectedSendRecvAndDisconnect) {
  FileDescriptor a = Bound(), b = Bound(), other = Bound();
  InetAddr aa = SockName(a.get()), ba = SockName(b.get());
  char buf[16];
  EXPECT_THAT(send(a.get(), "x", 1, 0), SyscallFailsWithErrno(EDESTADDRREQ));
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  EXPECT_THAT(getpeername(a.get(), reinterpret_cast<sockaddr*>(&ss), &len),
              SyscallFailsWithErrno(ENOTCONN));
  ASSERT_THAT(connect(a.get(), ba.get(), ba.len), SyscallSucceeds());
  EXPECT_EQ(PeerName(a.get()).ToString(), ba.ToString());
  ASSERT_THAT(send(a.get(), "hi", 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
  // A connected socket only receives from its peer.
  ASSERT_THAT(sendto(other.get(), "no", 2, 0, aa.get(), aa.len), SyscallSucceedsWithValue(2));
  ASSERT_THAT(sendto(b.get(), "yes", 3, 0, aa.get(), aa.len), SyscallSucceedsWithValue(3));
  ASSERT_THAT(recv(a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "yes");
  // sendto with an address on a connected socket goes there.
  InetAddr oa = SockName(other.get());
  ASSERT_THAT(sendto(a.get(), "to", 2, 0, oa.get(), oa.len), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(other.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));

  // AF_UNSPEC disconnects. The address bind() gave stays; the port goes, because bind() left
  // its choice to the kernel (Linux keeps only a port the application asked for).
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_THAT(connect(a.get(), &unspec, sizeof(unspec)), SyscallSucceeds());
  len = sizeof(ss);
  EXPECT_THAT(getpeername(a.get(), reinterpret_cast<sockaddr*>(&ss), &len),
              SyscallFailsWithErrno(ENOTCONN));
  EXPECT_EQ(SockName(a.get()).ToString(), Loopback(family()).ToString());
  EXPECT_THAT(send(a.get(), "x", 1, 0), SyscallFailsWithErrno(EDESTADDRREQ));
  // A port given to bind() stays.
  FileDescriptor d(socket(family(), SOCK_DGRAM, 0));
  InetAddr fixed = Loopback(family(), aa.port());
  a.reset();
  ASSERT_THAT(bind(d.get(), fixed.get(), fixed.len), SyscallSucceeds());
  ASSERT_THAT(connect(d.get(), ba.get(), ba.len), SyscallSucceeds());
  ASSERT_THAT(connect(d.get(), &unspec, sizeof(unspec)), SyscallSucceeds());
  EXPECT_EQ(SockName(d.get()).ToString(), fixed.ToString());
}

TEST_P(UdpTest, PeekAndTruncate) {
  FileDescriptor a = Bound(), b = Bound();
  InetAddr ba = SockName(b.get());
  ASSERT_THAT(sendto(a.get(), "abcdefgh", 8, 0, ba.get(), ba.len), SyscallSucceedsWithValue(8));
  int avail = -1;
  ASSERT_EQ(PollOnce(b.get(), POLLIN, 5000), POLLIN);
  EXPECT_THAT(ioctl(b.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 8);
  char buf[16];
  EXPECT_THAT(recv(b.get(), buf, 3, MSG_PEEK), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(b.get(), buf, 3, MSG_PEEK | MSG_TRUNC), SyscallSucceedsWithValue(8));
  iovec iov{buf, 4};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ASSERT_THAT(recvmsg(b.get(), &mh, 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(mh.msg_flags & MSG_TRUNC, MSG_TRUNC);
  EXPECT_EQ(std::string(buf, 4), "abcd");
  // The rest of a truncated datagram is gone.
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(ioctl(b.get(), SIOCINQ, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 0);
  EXPECT_THAT(ioctl(b.get(), SIOCOUTQ, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 0);
}

TEST_P(UdpTest, BlockingRecvWokenByThread) {
  FileDescriptor a = Bound(), b = Bound();
  InetAddr ba = SockName(b.get());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_THAT(sendto(a.get(), "late", 4, 0, ba.get(), ba.len), SyscallSucceedsWithValue(4));
  });
  char buf[8];
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  t.join();
}

TEST_P(UdpTest, SendmmsgRecvmmsg) {
  FileDescriptor a = Bound(), b = Bound();
  InetAddr ba = SockName(b.get());
  ASSERT_THAT(connect(a.get(), ba.get(), ba.len), SyscallSucceeds());
  char d0[] = "zero", d1[] = "one", d2[] = "two!!";
  iovec iov[3] = {{d0, 4}, {d1, 3}, {d2, 5}};
  mmsghdr out[3] = {};
  for (int i = 0; i < 3; i++) {
    out[i].msg_hdr.msg_iov = &iov[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_THAT(sendmmsg(a.get(), out, 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(out[2].msg_len, 5u);
  char bufs[4][16];
  iovec riov[4];
  mmsghdr in[4] = {};
  for (int i = 0; i < 4; i++) {
    riov[i] = {bufs[i], 16};
    in[i].msg_hdr.msg_iov = &riov[i];
    in[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_THAT(recvmmsg(b.get(), in, 4, MSG_DONTWAIT, nullptr), SyscallSucceedsWithValue(3));
  EXPECT_EQ(in[0].msg_len, 4u);
  EXPECT_EQ(in[1].msg_len, 3u);
  EXPECT_EQ(in[2].msg_len, 5u);
  EXPECT_EQ(std::string(bufs[2], 5), "two!!");
}

TEST_P(UdpTest, BindErrorsAndReuse) {
  FileDescriptor a = Bound();
  InetAddr aa = SockName(a.get());
  FileDescriptor b(socket(family(), SOCK_DGRAM, 0));
  EXPECT_THAT(bind(b.get(), aa.get(), aa.len), SyscallFailsWithErrno(EADDRINUSE));
  EXPECT_THAT(bind(a.get(), aa.get(), aa.len), SyscallFailsWithErrno(EINVAL));
  InetAddr far = family() == AF_INET ? V4("203.0.113.77") : V6("2001:db8::77");
  EXPECT_THAT(bind(b.get(), far.get(), far.len), SyscallFailsWithErrno(EADDRNOTAVAIL));

  // With SO_REUSEADDR on both, UDP sockets share a port.
  FileDescriptor x(socket(family(), SOCK_DGRAM, 0)), y(socket(family(), SOCK_DGRAM, 0));
  SetIntOpt(x.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  SetIntOpt(y.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  InetAddr lo = Loopback(family());
  ASSERT_THAT(bind(x.get(), lo.get(), lo.len), SyscallSucceeds());
  InetAddr xa = SockName(x.get());
  EXPECT_THAT(bind(y.get(), xa.get(), xa.len), SyscallSucceeds());
  // And with SO_REUSEPORT.
  FileDescriptor p(socket(family(), SOCK_DGRAM, 0)), q(socket(family(), SOCK_DGRAM, 0));
  SetIntOpt(p.get(), SOL_SOCKET, SO_REUSEPORT, 1);
  SetIntOpt(q.get(), SOL_SOCKET, SO_REUSEPORT, 1);
  ASSERT_THAT(bind(p.get(), lo.get(), lo.len), SyscallSucceeds());
  InetAddr pa = SockName(p.get());
  EXPECT_THAT(bind(q.get(), pa.get(), pa.len), SyscallSucceeds());
}

TEST(UdpSocketTest, MaxDatagram) {
  FileDescriptor r(socket(AF_INET, SOCK_DGRAM, 0)), s(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr lo = V4("127.0.0.1");
  ASSERT_THAT(bind(r.get(), lo.get(), lo.len), SyscallSucceeds());
  InetAddr ra = SockName(r.get());
  std::vector<char> big(65508, 'b');
  EXPECT_THAT(sendto(s.get(), big.data(), 65508, 0, ra.get(), ra.len),
              SyscallFailsWithErrno(EMSGSIZE));
  ASSERT_THAT(sendto(s.get(), big.data(), 65507, 0, ra.get(), ra.len),
              SyscallSucceedsWithValue(65507));
  std::vector<char> in(70000);
  EXPECT_THAT(recv(r.get(), in.data(), in.size(), 0), SyscallSucceedsWithValue(65507));
  EXPECT_EQ(std::string(in.data(), 65507), std::string(big.data(), 65507));
}

TEST(UdpSocketTest, DualStackReceivesIpv4) {
  FileDescriptor r(socket(AF_INET6, SOCK_DGRAM, 0));
  InetAddr any = V6("::");
  ASSERT_THAT(bind(r.get(), any.get(), any.len), SyscallSucceeds());
  uint16_t port = SockName(r.get()).port();
  FileDescriptor s(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr to = V4("127.0.0.1", port);
  ASSERT_THAT(sendto(s.get(), "v4", 2, 0, to.get(), to.len), SyscallSucceedsWithValue(2));
  InetAddr from;
  from.len = sizeof(from.ss);
  char buf[4];
  ASSERT_THAT(recvfrom(r.get(), buf, sizeof(buf), 0, from.get(), &from.len),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(from.family(), AF_INET6);
  EXPECT_EQ(from.ToString(), "::ffff:127.0.0.1:" + std::to_string(SockName(s.get()).port()));
  // And replies to the mapped address.
  ASSERT_THAT(sendto(r.get(), "ok", 2, 0, from.get(), from.len), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(s.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
}

TEST(UdpSocketTest, PktinfoAndTos) {
  FileDescriptor r(socket(AF_INET, SOCK_DGRAM, 0)), s(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr lo = V4("127.0.0.1");
  ASSERT_THAT(bind(r.get(), lo.get(), lo.len), SyscallSucceeds());
  SetIntOpt(r.get(), IPPROTO_IP, IP_PKTINFO, 1);
  SetIntOpt(r.get(), IPPROTO_IP, IP_RECVTOS, 1);
  EXPECT_EQ(GetIntOpt(r.get(), IPPROTO_IP, IP_PKTINFO), 1);
  SetIntOpt(s.get(), IPPROTO_IP, IP_TOS, 0x20);
  InetAddr ra = SockName(r.get());
  ASSERT_THAT(sendto(s.get(), "p", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  char buf[4];
  iovec iov{buf, sizeof(buf)};
  alignas(cmsghdr) char control[256];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  ASSERT_THAT(recvmsg(r.get(), &mh, 0), SyscallSucceedsWithValue(1));
  bool saw_pktinfo = false, saw_tos = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      EXPECT_EQ(ntohl(pi.ipi_addr.s_addr), INADDR_LOOPBACK);
      EXPECT_GT(pi.ipi_ifindex, 0);
      saw_pktinfo = true;
    }
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      EXPECT_EQ(*CMSG_DATA(c), 0x20);
      saw_tos = true;
    }
  }
  EXPECT_TRUE(saw_pktinfo);
  EXPECT_TRUE(saw_tos);
}

TEST(UdpSocketTest, ConnectedToClosedPortGetsRefused) {
  // A port that nothing is bound to: bind one, note it, close it.
  uint16_t port;
  {
    FileDescriptor t(socket(AF_INET, SOCK_DGRAM, 0));
    InetAddr lo = V4("127.0.0.1");
    ASSERT_THAT(bind(t.get(), lo.get(), lo.len), SyscallSucceeds());
    port = SockName(t.get()).port();
  }
  FileDescriptor s(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr to = V4("127.0.0.1", port);
  ASSERT_THAT(connect(s.get(), to.get(), to.len), SyscallSucceeds());
  ASSERT_THAT(send(s.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  // The ICMP port unreachable comes back as an error on the socket.
  short ev = PollOnce(s.get(), POLLIN, 5000);
  EXPECT_TRUE(ev & POLLERR) << ev;
  char c;
  EXPECT_THAT(recv(s.get(), &c, 1, 0), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(recv(s.get(), &c, 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UdpSocketTest, EpollAndShutdown) {
  FileDescriptor r(socket(AF_INET, SOCK_DGRAM, 0)), s(socket(AF_INET, SOCK_DGRAM, 0));
  InetAddr lo = V4("127.0.0.1");
  ASSERT_THAT(bind(r.get(), lo.get(), lo.len), SyscallSucceeds());
  InetAddr ra = SockName(r.get());
  FileDescriptor ep(epoll_create1(0));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = r.get();
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, r.get(), &ev), SyscallSucceeds());
  epoll_event out;
  EXPECT_THAT(epoll_wait(ep.get(), &out, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(sendto(s.get(), "e", 1, 0, ra.get(), ra.len), SyscallSucceedsWithValue(1));
  EXPECT_THAT(epoll_wait(ep.get(), &out, 1, 5000), SyscallSucceedsWithValue(1));
  // shutdown of an unconnected UDP socket is ENOTCONN; a connected one may shut down.
  EXPECT_THAT(shutdown(s.get(), SHUT_RD), SyscallFailsWithErrno(ENOTCONN));
  ASSERT_THAT(connect(s.get(), ra.get(), ra.len), SyscallSucceeds());
  EXPECT_THAT(shutdown(s.get(), SHUT_RD), SyscallSucceeds());
  char c;
  EXPECT_THAT(recv(s.get(), &c, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(UdpSocketTest, Options) {
  FileDescriptor fd(socket(AF_INET, SOCK_DGRAM, 0));
  int f = fd.get();
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TTL), 64);
  SetIntOpt(f, IPPROTO_IP, IP_TTL, 7);
  EXPECT_EQ(GetIntOpt(f, IPPROTO_IP, IP_TTL), 7);
  SetIntOpt(f, SOL_SOCKET, SO_BROADCAST, 1);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_BROADCAST), 1);
  SetIntOpt(f, SOL_SOCKET, SO_RCVBUF, 65536);
  EXPECT_EQ(GetIntOpt(f, SOL_SOCKET, SO_RCVBUF), 131072);
  int v = 1;
  EXPECT_THAT(setsockopt(f, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)),
              SyscallFailsWithErrno(ENOPROTOOPT));
  EXPECT_THAT(setsockopt(f, IPPROTO_IP, 12345, &v, sizeof(v)), SyscallFailsWithErrno(ENOPROTOOPT));
  FileDescriptor f6(socket(AF_INET6, SOCK_DGRAM, 0));
  EXPECT_EQ(GetIntOpt(f6.get(), IPPROTO_IPV6, IPV6_V6ONLY), 0);
  SetIntOpt(f6.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9);
  EXPECT_EQ(GetIntOpt(f6.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS), 9);
  SetIntOpt(f6.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, -1);
  EXPECT_EQ(GetIntOpt(f6.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64);
  v = 256;
  EXPECT_THAT(setsockopt(f6.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof(v)),
              SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace moat::testing
