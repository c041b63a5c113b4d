// The formats of /proc/net (sentry/socket/proc_net.h) against a fake Stack, line by line as
// Linux prints them.
#include "sentry/socket/proc_net.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/unit/fake_stack.h"

namespace moat::sockets {
namespace {

using testing::FakeStack;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ProcNetTest, Dev) {
  FakeStack stack;
  std::vector<std::string> l = Lines(ProcNetFile(&stack, "dev"));
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0], "Inter-|   Receive                                                |  Transmit");
  EXPECT_EQ(l[2],
            "    lo:    1234       5    0    0    0     0          0         0     1234       5 "
            "   0    0    0     0       0          0");
  EXPECT_EQ(l[3].substr(0, 16), "  eth0:       0 ");
}

TEST(ProcNetTest, TcpLines) {
  FakeStack stack;
  std::vector<std::string> l = Lines(ProcNetFile(&stack, "tcp"));
  ASSERT_EQ(l.size(), 3u);
  for (const std::string& line : l) EXPECT_EQ(line.size(), 149u);
  std::string listen =
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
      "4242 1 0000000000000000 100 0 0 10 0";
  EXPECT_EQ(l[1], listen + std::string(149 - listen.size(), ' '));
  EXPECT_EQ(l[2].substr(0, 58), "   1: 0100007F:9C40 0100007F:1F90 01 00000003:00000000 00:");
  std::vector<std::string> six = Lines(ProcNetFile(&stack, "tcp6"));
  ASSERT_EQ(six.size(), 2u);
  EXPECT_EQ(six[1],
            "   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A "
            "00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 "
            "0 10 0");
}

TEST(ProcNetTest, UdpLines) {
  FakeStack stack;
  std::vector<std::string> l = Lines(ProcNetFile(&stack, "udp"));
  ASSERT_EQ(l.size(), 2u);
  for (const std::string& line : l) EXPECT_EQ(line.size(), 127u);
  std::string entry =
      "    0: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 "
      "4242 2 0000000000000000 0";
  EXPECT_EQ(l[1], entry + std::string(127 - entry.size(), ' '));
  // No IPv6 UDP socket: the header alone.
  EXPECT_EQ(Lines(ProcNetFile(&stack, "udp6")).size(), 1u);
}

TEST(ProcNetTest, IfInet6) {
  FakeStack stack;
  EXPECT_EQ(ProcNetFile(&stack, "if_inet6"),
            "00000000000000000000000000000001 01 80 10 80       lo\n");
}

TEST(ProcNetTest, Route) {
  FakeStack stack;
  std::vector<std::string> l = Lines(ProcNetFile(&stack, "route"));
  // The main table's two routes; the local table's is not there.
  ASSERT_EQ(l.size(), 3u);
  std::string def = "eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0";
  EXPECT_EQ(l[1], def + std::string(127 - def.size(), ' '));
  std::string subnet = "eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0";
  EXPECT_EQ(l[2], subnet + std::string(127 - subnet.size(), ' '));
}

TEST(ProcNetTest, SnmpAndUnix) {
  FakeStack stack;
  std::vector<std::string> l = Lines(ProcNetFile(&stack, "snmp"));
  ASSERT_EQ(l.size(), 10u);
  EXPECT_EQ(l[0].substr(0, 25), "Ip: Forwarding DefaultTTL");
  EXPECT_EQ(l[1].substr(0, 9), "Ip: 2 64 ");
  // One established TCP connection.
  EXPECT_EQ(l[5], "Tcp: 1 200 120000 -1 0 0 0 0 1 0 0 0 0 0 0");
  EXPECT_EQ(ProcNetFile(&stack, "unix"), "Num       RefCount Protocol Flags    Type St Inode Path\n");
}

TEST(ProcNetTest, WithoutAStackOnlyHeaders) {
  for (const std::string& name : ProcNetFiles()) {
    std::string content = ProcNetFile(nullptr, name);
    if (name == "if_inet6" || name == "ipv6_route") {
      EXPECT_EQ(content, "") << name;
    } else {
      EXPECT_FALSE(content.empty()) << name;
    }
  }
  EXPECT_EQ(ProcNetFile(nullptr, "nosuch"), "");
}

}  // namespace
}  // namespace moat::sockets
