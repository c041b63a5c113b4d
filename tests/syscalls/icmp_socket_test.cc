// Conformance tests for ICMP "ping sockets" (SOCK_DGRAM with IPPROTO_ICMP / IPPROTO_ICMPV6):
// an echo request to loopback comes back as a reply with the socket's identifier.
//
// Linux allows them only to groups in net.ipv4.ping_group_range (empty by default, and root is
// no exception): where socket() says EACCES the tests skip natively, with that reason.

#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>

#include "tests/syscalls/inet_util.h"

namespace moat::testing {
namespace {

FileDescriptor PingSocket(int family) {
  return FileDescriptor(
      socket(family, SOCK_DGRAM, family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6}));
}

#define SKIP_IF_PING_NOT_ALLOWED(fd)                                 \
  do {                                                               \
    if (!(fd).valid() && errno == EACCES)                            \
      GTEST_SKIP() << "ping sockets are not allowed for this group " \
                      "(net.ipv4.ping_group_range)";                 \
  } while (0)

TEST(IcmpSocketTest, EchoIpv4) {
  FileDescriptor fd = PingSocket(AF_INET);
  SKIP_IF_PING_NOT_ALLOWED(fd);
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_EQ(GetIntOpt(fd.get(), SOL_SOCKET, SO_PROTOCOL), IPPROTO_ICMP);
  icmphdr req{};
  req.type = ICMP_ECHO;
  req.un.echo.sequence = htons(7);
  char packet[sizeof(icmphdr) + 4];
  memcpy(packet, &req, sizeof(req));
  memcpy(packet + sizeof(req), "ping", 4);
  InetAddr to = V4("127.0.0.1");
  ASSERT_THAT(sendto(fd.get(), packet, sizeof(packet), 0, to.get(), to.len),
              SyscallSucceedsWithValue(sizeof(packet)));
  uint16_t ident = SockName(fd.get()).port();
  ASSERT_EQ(PollOnce(fd.get(), POLLIN, 5000), POLLIN);
  char reply[64];
  InetAddr from;
  from.len = sizeof(from.ss);
  ASSERT_THAT(recvfrom(fd.get(), reply, sizeof(reply), 0, from.get(), &from.len),
              SyscallSucceedsWithValue(sizeof(packet)));
  icmphdr rep;
  memcpy(&rep, reply, sizeof(rep));
  EXPECT_EQ(rep.type, ICMP_ECHOREPLY);
  EXPECT_EQ(ntohs(rep.un.echo.sequence), 7);
  EXPECT_EQ(ntohs(rep.un.echo.id), ident);
  EXPECT_EQ(std::string(reply + sizeof(rep), 4), "ping");
  EXPECT_EQ(from.ToString(), "127.0.0.1:0");
}

TEST(IcmpSocketTest, BindSetsIdentifier) {
  FileDescriptor fd = PingSocket(AF_INET);
  SKIP_IF_PING_NOT_ALLOWED(fd);
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  InetAddr a = V4("127.0.0.1", 4242);
  ASSERT_THAT(bind(fd.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_EQ(SockName(fd.get()).port(), 4242);
  icmphdr req{};
  req.type = ICMP_ECHO;
  ASSERT_THAT(connect(fd.get(), a.get(), a.len), SyscallSucceeds());
  ASSERT_THAT(send(fd.get(), &req, sizeof(req), 0), SyscallSucceedsWithValue(sizeof(req)));
  icmphdr rep{};
  ASSERT_EQ(PollOnce(fd.get(), POLLIN, 5000), POLLIN);
  ASSERT_THAT(recv(fd.get(), &rep, sizeof(rep), 0), SyscallSucceedsWithValue(sizeof(rep)));
  EXPECT_EQ(rep.type, ICMP_ECHOREPLY);
  EXPECT_EQ(ntohs(rep.un.echo.id), 4242);
  // Not an echo request: EINVAL.
  icmphdr bad{};
  bad.type = ICMP_TIMESTAMP;
  EXPECT_THAT(send(fd.get(), &bad, sizeof(bad), 0), SyscallFailsWithErrno(EINVAL));
  // Shorter than a header: EINVAL.
  EXPECT_THAT(send(fd.get(), &req, 4, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(IcmpSocketTest, EchoIpv6) {
  SKIP_WITHOUT_IPV6_LOOPBACK();
  FileDescriptor fd = PingSocket(AF_INET6);
  SKIP_IF_PING_NOT_ALLOWED(fd);
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  icmp6_hdr req{};
  req.icmp6_type = ICMP6_ECHO_REQUEST;
  req.icmp6_seq = htons(3);
  InetAddr to = V6("::1");
  ASSERT_THAT(sendto(fd.get(), &req, sizeof(req), 0, to.get(), to.len),
              SyscallSucceedsWithValue(sizeof(req)));
  ASSERT_EQ(PollOnce(fd.get(), POLLIN, 5000), POLLIN);
  icmp6_hdr rep{};
  ASSERT_THAT(recv(fd.get(), &rep, sizeof(rep), 0), SyscallSucceedsWithValue(sizeof(rep)));
  EXPECT_EQ(rep.icmp6_type, ICMP6_ECHO_REPLY);
  EXPECT_EQ(ntohs(rep.icmp6_seq), 3);
}

}  // namespace
}  // namespace moat::testing
