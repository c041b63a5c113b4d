// Conformance tests for AF_NETLINK route sockets (netlink(7), rtnetlink(7)): socket types and
// protocols, binding and port ids, dumps of links, addresses and routes (multi-part replies,
// NLMSG_DONE, sequence numbers and port ids), single requests, acks and errors, malformed
// messages, and what the C library builds on them (getifaddrs, if_nametoindex, if_nameindex).

#include <ifaddrs.h>
#include <linux/fib_rules.h>
#include <net/if_arp.h>
#include <poll.h>

#include <algorithm>
#include <set>

#include "tests/syscalls/netlink_util.h"

namespace moat::testing {
namespace {

// ---- Sockets, binding, names ----

TEST(NetlinkTest, SocketTypes) {
  FileDescriptor raw(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  EXPECT_TRUE(raw.valid()) << ErrnoString(errno);
  FileDescriptor dgram(socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  EXPECT_TRUE(dgram.valid()) << ErrnoString(errno);
  EXPECT_THAT(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
  EXPECT_THAT(socket(AF_NETLINK, SOCK_SEQPACKET, NETLINK_ROUTE),
              SyscallFailsWithErrno(ESOCKTNOSUPPORT));
  EXPECT_THAT(socket(AF_NETLINK, SOCK_RAW, 32), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_NETLINK, SOCK_RAW, -1), SyscallFailsWithErrno(EPROTONOSUPPORT));
  // Uevents are accepted (udev-less programs open them and wait); nothing ever arrives here.
  FileDescriptor uevent(socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
  EXPECT_TRUE(uevent.valid()) << ErrnoString(errno);
  // No pair of netlink sockets.
  int sv[2];
  EXPECT_THAT(socketpair(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, sv), SyscallFailsWithErrno(EOPNOTSUPP));
}

TEST(NetlinkTest, SocketOptionsOfIdentity) {
  FileDescriptor s(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(s.valid());
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_TYPE, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, SOCK_RAW);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_DOMAIN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, AF_NETLINK);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_PROTOCOL, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, NETLINK_ROUTE);
  struct stat st;
  ASSERT_THAT(fstat(s.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST(NetlinkTest, UnboundNames) {
  FileDescriptor s(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(s.valid());
  sockaddr_nl a{};
  a.nl_pid = 77;
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sockaddr_nl));
  EXPECT_EQ(a.nl_family, AF_NETLINK);
  EXPECT_EQ(a.nl_pid, 0u);
  // A netlink socket always has a peer: the kernel, port 0, unless connected elsewhere.
  a.nl_pid = 77;
  len = sizeof(a);
  ASSERT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sockaddr_nl));
  EXPECT_EQ(a.nl_family, AF_NETLINK);
  EXPECT_EQ(a.nl_pid, 0u);
  EXPECT_EQ(a.nl_groups, 0u);
}

TEST(NetlinkTest, AutobindTakesTheProcessIdFirst) {
  RouteSocket first;
  EXPECT_EQ(first.port(), static_cast<uint32_t>(getpid()));
  RouteSocket second;
  EXPECT_NE(second.port(), 0u);
  EXPECT_NE(second.port(), first.port());
}

TEST(NetlinkTest, SendAutobinds) {
  FileDescriptor s(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(s.valid());
  // Another socket of this process may hold the process id already: any non-zero port.
  struct {
    nlmsghdr h;
    rtgenmsg g;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  ASSERT_THAT(send(s.get(), &req, req.h.nlmsg_len, 0), SyscallSucceedsWithValue(req.h.nlmsg_len));
  sockaddr_nl a{};
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_NE(a.nl_pid, 0u);
}

TEST(NetlinkTest, BindRules) {
  FileDescriptor s(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(s.valid());
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  EXPECT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a) - 1),
              SyscallFailsWithErrno(EINVAL));
  a.nl_family = AF_INET;
  EXPECT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)),
              SyscallFailsWithErrno(EINVAL));
  // An explicit port id, then the same again, then another one.
  a.nl_family = AF_NETLINK;
  a.nl_pid = 0x7fff1234;
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  EXPECT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  a.nl_pid = 0x7fff1235;
  EXPECT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)),
              SyscallFailsWithErrno(EINVAL));
  sockaddr_nl got{};
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(got.nl_pid, 0x7fff1234u);
  // The port id is taken.
  FileDescriptor other(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(other.valid());
  a.nl_pid = 0x7fff1234;
  EXPECT_THAT(bind(other.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)),
              SyscallFailsWithErrno(EADDRINUSE));
  // And free again once the first socket is closed.
  s.reset();
  EXPECT_THAT(bind(other.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
}

TEST(NetlinkTest, ConnectSetsThePeer) {
  FileDescriptor s(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  ASSERT_TRUE(s.valid());
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  ASSERT_THAT(connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  // connect binds too.
  sockaddr_nl got{};
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_NE(got.nl_pid, 0u);
  EXPECT_THAT(connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a) - 1),
              SyscallFailsWithErrno(EINVAL));
}

// ---- Dumps ----

TEST(NetlinkTest, LinkDumpHasLoopbackFirst) {
  RouteSocket s;
  std::vector<LinkInfo> links = DumpLinks(s);
  ASSERT_FALSE(links.empty());
  auto lo = std::find_if(links.begin(), links.end(), [](const LinkInfo& l) { return l.name == "lo"; });
  ASSERT_NE(lo, links.end());
  EXPECT_EQ(lo->index, 1);
  EXPECT_EQ(lo->type, ARPHRD_LOOPBACK);
  EXPECT_TRUE(lo->flags & IFF_LOOPBACK);
  EXPECT_TRUE(lo->flags & IFF_UP);
  EXPECT_GT(lo->mtu, 0u);
  std::set<int> indexes;
  for (const LinkInfo& l : links) {
    EXPECT_GT(l.index, 0);
    EXPECT_FALSE(l.name.empty());
    EXPECT_TRUE(indexes.insert(l.index).second) << "index " << l.index << " twice";
  }
}

TEST(NetlinkTest, DumpEndsWithDone) {
  RouteSocket s;
  rtgenmsg g{};
  uint32_t seq = s.Send(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g));
  std::vector<NlMessage> all = s.RecvDump(seq);
  ASSERT_FALSE(all.empty());
  const NlMessage& done = all.back();
  ASSERT_EQ(done.hdr.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(done.hdr.nlmsg_len, NLMSG_LENGTH(sizeof(int)));
  EXPECT_EQ(done.As<int>(), 0);
  // Nothing follows.
  char buf[64];
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(NetlinkTest, DumpOfAnUnknownFamilyGivesAll) {
  RouteSocket s;
  EXPECT_EQ(DumpAddrs(s, 99).size(), DumpAddrs(s, AF_UNSPEC).size());
  EXPECT_EQ(s.Dump(RTM_GETROUTE, 99).size(), s.Dump(RTM_GETROUTE, AF_UNSPEC).size());
  EXPECT_EQ(s.Dump(RTM_GETLINK, AF_PACKET).size(), s.Dump(RTM_GETLINK, AF_UNSPEC).size());
}

TEST(NetlinkTest, DumpWithAckHasNoAck) {
  RouteSocket s;
  rtgenmsg g{};
  g.rtgen_family = AF_INET;
  uint32_t seq = s.Send(RTM_GETADDR, NLM_F_DUMP | NLM_F_ACK, &g, sizeof(g));
  std::vector<NlMessage> all = s.RecvDump(seq);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back().hdr.nlmsg_type, NLMSG_DONE);
  char buf[64];
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(NetlinkTest, AddressDumpHasLoopback) {
  RouteSocket s;
  std::vector<AddrInfo> v4 = DumpAddrs(s, AF_INET);
  bool found = false;
  for (const AddrInfo& a : v4) {
    EXPECT_EQ(a.family, AF_INET);
    if (a.addr == "127.0.0.1") {
      found = true;
      EXPECT_EQ(a.index, 1);
      EXPECT_EQ(a.prefix_len, 8);
      EXPECT_EQ(a.scope, RT_SCOPE_HOST);
    }
  }
  EXPECT_TRUE(found) << "no 127.0.0.1";

  std::vector<AddrInfo> v6 = DumpAddrs(s, AF_INET6);
  bool found6 = false;
  for (const AddrInfo& a : v6) {
    EXPECT_EQ(a.family, AF_INET6);
    if (a.addr == "::1") {
      found6 = true;
      EXPECT_EQ(a.index, 1);
      EXPECT_EQ(a.prefix_len, 128);
      EXPECT_EQ(a.scope, RT_SCOPE_HOST);
    }
  }
  // ::1 is there exactly when it can be bound (a host may have IPv6 off on its loopback).
  EXPECT_EQ(found6, HasIpv6Loopback());

  // AF_UNSPEC gives both.
  std::vector<AddrInfo> all = DumpAddrs(s, AF_UNSPEC);
  EXPECT_EQ(all.size(), v4.size() + v6.size());
}

TEST(NetlinkTest, RouteDumpIsWellFormed) {
  RouteSocket s;
  for (const NlMessage& m : s.Dump(RTM_GETROUTE, AF_INET)) {
    ASSERT_EQ(m.hdr.nlmsg_type, RTM_NEWROUTE);
    rtmsg rt = m.As<rtmsg>();
    EXPECT_EQ(rt.rtm_family, AF_INET);
    EXPECT_LE(rt.rtm_dst_len, 32);
    auto attrs = m.Attrs(sizeof(rtmsg));
    ASSERT_TRUE(attrs.count(RTA_TABLE));
    uint32_t table;
    std::memcpy(&table, attrs[RTA_TABLE].data(), 4);
    EXPECT_EQ(table & 0xff, rt.rtm_table);
    if (rt.rtm_dst_len > 0) {
      EXPECT_EQ(attrs[RTA_DST].size(), 4u);
    }
  }
}

TEST(NetlinkTest, RouteGetOfLoopbackIsLocal) {
  RouteSocket s;
  struct {
    rtmsg rt;
    rtattr dst;
    in_addr addr;
  } req{};
  req.rt.rtm_family = AF_INET;
  req.rt.rtm_dst_len = 32;
  req.dst.rta_len = RTA_LENGTH(sizeof(in_addr));
  req.dst.rta_type = RTA_DST;
  req.addr.s_addr = htonl(INADDR_LOOPBACK);
  uint32_t seq = s.Send(RTM_GETROUTE, 0, &req, sizeof(req));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, RTM_NEWROUTE) << "error " << reply[0].Error();
  EXPECT_EQ(reply[0].hdr.nlmsg_seq, seq);
  EXPECT_EQ(reply[0].hdr.nlmsg_pid, s.port());
  rtmsg rt = reply[0].As<rtmsg>();
  EXPECT_EQ(rt.rtm_type, RTN_LOCAL);
  EXPECT_EQ(rt.rtm_dst_len, 32);
  auto attrs = reply[0].Attrs(sizeof(rtmsg));
  ASSERT_TRUE(attrs.count(RTA_OIF));
  int oif;
  std::memcpy(&oif, attrs[RTA_OIF].data(), 4);
  EXPECT_EQ(oif, 1);
}

TEST(NetlinkTest, RuleDumpHasTheDefaults) {
  RouteSocket s;
  bool local = false, main_table = false;
  for (const NlMessage& m : s.Dump(RTM_GETRULE, AF_INET)) {
    ASSERT_EQ(m.hdr.nlmsg_type, RTM_NEWRULE);
    fib_rule_hdr h = m.As<fib_rule_hdr>();
    EXPECT_EQ(h.family, AF_INET);
    auto attrs = m.Attrs(sizeof(fib_rule_hdr));
    uint32_t priority = 0, table = 0;
    if (attrs.count(FRA_PRIORITY)) std::memcpy(&priority, attrs[FRA_PRIORITY].data(), 4);
    if (attrs.count(FRA_TABLE)) std::memcpy(&table, attrs[FRA_TABLE].data(), 4);
    if (priority == 0 && table == RT_TABLE_LOCAL) local = true;
    if (priority == 32766 && table == RT_TABLE_MAIN) main_table = true;
  }
  EXPECT_TRUE(local);
  EXPECT_TRUE(main_table);
}

// ---- Single requests ----

TEST(NetlinkTest, GetLinkByIndexAndName) {
  RouteSocket s;
  ifinfomsg ifi{};
  ifi.ifi_index = 1;
  uint32_t seq = s.Send(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(reply[0].hdr.nlmsg_seq, seq);
  EXPECT_EQ(reply[0].hdr.nlmsg_flags & NLM_F_MULTI, 0);
  auto attrs = reply[0].Attrs(sizeof(ifinfomsg));
  EXPECT_STREQ(reinterpret_cast<const char*>(attrs[IFLA_IFNAME].data()), "lo");

  struct {
    ifinfomsg ifi;
    rtattr name;
    char lo[4];
  } by_name{};
  by_name.name.rta_len = RTA_LENGTH(3);
  by_name.name.rta_type = IFLA_IFNAME;
  std::memcpy(by_name.lo, "lo", 3);
  s.Send(RTM_GETLINK, 0, &by_name, sizeof(by_name));
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(reply[0].As<ifinfomsg>().ifi_index, 1);
}

TEST(NetlinkTest, GetLinkErrors) {
  RouteSocket s;
  ifinfomsg ifi{};
  // Neither an index nor a name.
  uint32_t seq = s.Send(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -EINVAL);
  EXPECT_EQ(reply[0].hdr.nlmsg_seq, seq);
  EXPECT_EQ(reply[0].hdr.nlmsg_pid, s.port());
  // No such interface.
  ifi.ifi_index = 0x7ffffff0;
  s.Send(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -ENODEV);
}

// ---- Acks and errors ----

TEST(NetlinkTest, ErrorEchoesTheRequest) {
  RouteSocket s;
  rtgenmsg g{};
  g.rtgen_family = AF_UNSPEC;
  // A type beyond RTM_MAX.
  uint32_t seq = s.Send(RTM_MAX + 1, 0, &g, sizeof(g));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  const NlMessage& m = reply[0];
  ASSERT_EQ(m.hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(m.hdr.nlmsg_seq, seq);
  EXPECT_EQ(m.hdr.nlmsg_pid, s.port());
  EXPECT_EQ(m.hdr.nlmsg_flags, 0);
  nlmsgerr e = m.As<nlmsgerr>();
  EXPECT_EQ(e.error, -EOPNOTSUPP);
  // The request's header and payload follow.
  EXPECT_EQ(e.msg.nlmsg_type, RTM_MAX + 1);
  EXPECT_EQ(e.msg.nlmsg_seq, seq);
  EXPECT_EQ(e.msg.nlmsg_len, NLMSG_LENGTH(sizeof(g)));
    // The request's payload is appended aligned (nlmsg_append).
  EXPECT_EQ(m.hdr.nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr) + NLMSG_ALIGN(sizeof(g))));
}

TEST(NetlinkTest, CapAckLeavesThePayloadOut) {
  RouteSocket s;
  int one = 1;
  ASSERT_THAT(setsockopt(s.fd(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)), SyscallSucceeds());
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(s.fd(), SOL_NETLINK, NETLINK_CAP_ACK, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  rtgenmsg g{};
  s.Send(RTM_MAX + 1, 0, &g, sizeof(g));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -EOPNOTSUPP);
  EXPECT_EQ(reply[0].hdr.nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr)));
  EXPECT_EQ(reply[0].hdr.nlmsg_flags, NLM_F_CAPPED);
}

TEST(NetlinkTest, AckOnRequest) {
  RouteSocket s;
  // A control message (below NLMSG_MIN_TYPE) does nothing but is acked when asked.
  uint32_t seq = s.Send(NLMSG_NOOP, NLM_F_ACK, nullptr, 0);
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), 0);
  EXPECT_EQ(reply[0].hdr.nlmsg_seq, seq);
  EXPECT_EQ(reply[0].hdr.nlmsg_flags, NLM_F_CAPPED);
  EXPECT_EQ(reply[0].hdr.nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr)));
  // Without NLM_F_ACK there is nothing.
  s.Send(NLMSG_NOOP, 0, nullptr, 0);
  char buf[64];
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  // A request too short to have a family is ignored, and acked.
  seq = s.Send(RTM_GETLINK, NLM_F_ACK, nullptr, 0);
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), 0);
  EXPECT_EQ(reply[0].hdr.nlmsg_seq, seq);
}

TEST(NetlinkTest, MessageWithoutRequestFlagIsAckedOnly) {
  RouteSocket s;
  struct {
    nlmsghdr h;
    rtgenmsg g;
    char pad[3];
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_DUMP | NLM_F_ACK;  // no NLM_F_REQUEST
  req.h.nlmsg_seq = 5;
  ASSERT_THAT(send(s.fd(), &req, req.h.nlmsg_len, 0), SyscallSucceeds());
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), 0);
  char buf[64];
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(NetlinkTest, UnsupportedRequestsFail) {
  RouteSocket s;
  // An address is asked for only by dumping.
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  s.Send(RTM_GETADDR, 0, &ifa, sizeof(ifa));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -EOPNOTSUPP);
}

TEST(NetlinkTest, ChangeRequestsAreChecked) {
  if (geteuid() != 0) GTEST_SKIP() << "needs CAP_NET_ADMIN";
  RouteSocket s;
  // Too short for an ifaddrmsg.
  rtgenmsg g{};
  g.rtgen_family = AF_INET;
  s.Send(RTM_NEWADDR, NLM_F_ACK, &g, sizeof(g));
  std::vector<NlMessage> reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -EINVAL);
  // An address for an interface that does not exist.
  struct {
    ifaddrmsg ifa;
    rtattr local;
    in_addr addr;
  } req{};
  req.ifa.ifa_family = AF_INET;
  req.ifa.ifa_prefixlen = 24;
  req.ifa.ifa_index = 0x7ffffff0;
  req.local.rta_len = RTA_LENGTH(sizeof(in_addr));
  req.local.rta_type = IFA_LOCAL;
  req.addr.s_addr = htonl(0x0a0b0c0d);
  s.Send(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &req, sizeof(req));
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -ENODEV);
  // A prefix longer than the address.
  req.ifa.ifa_prefixlen = 33;
  req.ifa.ifa_index = 1;
  s.Send(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &req, sizeof(req));
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -EINVAL);
  // A link change for an interface that does not exist.
  ifinfomsg ifi{};
  ifi.ifi_index = 0x7ffffff0;
  ifi.ifi_change = IFF_UP;
  ifi.ifi_flags = IFF_UP;
  s.Send(RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi));
  reply = s.RecvOne();
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply[0].Error(), -ENODEV);
}

TEST(NetlinkTest, SeveralRequestsInOneDatagram) {
  RouteSocket s;
  std::vector<uint8_t> buf;
  for (uint32_t seq : {11u, 12u}) {
    struct {
      nlmsghdr h;
      ifinfomsg ifi;
    } req{};
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST;
    req.h.nlmsg_seq = seq;
    req.ifi.ifi_index = 1;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&req);
    buf.insert(buf.end(), p, p + sizeof(req));
  }
  ASSERT_THAT(send(s.fd(), buf.data(), buf.size(), 0), SyscallSucceedsWithValue(buf.size()));
  std::vector<uint32_t> seqs;
  for (int i = 0; i < 2; i++) {
    for (const NlMessage& m : s.RecvOne()) {
      EXPECT_EQ(m.hdr.nlmsg_type, RTM_NEWLINK);
      seqs.push_back(m.hdr.nlmsg_seq);
    }
  }
  EXPECT_EQ(seqs, (std::vector<uint32_t>{11, 12}));
}

// ---- Malformed input ----

TEST(NetlinkTest, MalformedMessagesAreIgnored) {
  RouteSocket s;
  char buf[64];
  // Shorter than a header; a length below the header's; a length beyond the datagram.
  uint8_t tiny[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_THAT(send(s.fd(), tiny, sizeof(tiny), 0), SyscallSucceedsWithValue(sizeof(tiny)));
  nlmsghdr h{};
  h.nlmsg_len = 8;
  h.nlmsg_type = RTM_GETLINK;
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  EXPECT_THAT(send(s.fd(), &h, sizeof(h), 0), SyscallSucceedsWithValue(sizeof(h)));
  h.nlmsg_len = 1000;
  EXPECT_THAT(send(s.fd(), &h, sizeof(h), 0), SyscallSucceedsWithValue(sizeof(h)));
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  // An empty datagram has no data.
  EXPECT_THAT(send(s.fd(), buf, 0, 0), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(NetlinkTest, GarbageNeverBreaksTheSocket) {
  RouteSocket s;
  // Deterministic junk of every shape, with headers that claim to be requests. Replies, if any,
  // are drained; the socket must still answer a dump afterwards.
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1103515245 + 12345;
    return state >> 8;
  };
  std::vector<uint8_t> buf(512);
  for (int i = 0; i < 200; i++) {
    size_t len = next() % buf.size();
    for (auto& b : buf) b = static_cast<uint8_t>(next());
    if (len >= sizeof(nlmsghdr)) {
      nlmsghdr h;
      std::memcpy(&h, buf.data(), sizeof(h));
      h.nlmsg_len = static_cast<uint32_t>(std::min<size_t>(len, h.nlmsg_len % (len + 8)));
      h.nlmsg_type = static_cast<uint16_t>(RTM_BASE + next() % 100);
      // Only requests that read, never change (a privileged test must not reconfigure the host).
      if (h.nlmsg_type % 4 != 2) h.nlmsg_type = RTM_GETLINK + 4 * (next() % 3);
      h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | (next() & (NLM_F_ACK | NLM_F_DUMP)));
      std::memcpy(buf.data(), &h, sizeof(h));
    }
    ASSERT_THAT(send(s.fd(), buf.data(), len, 0), SyscallSucceedsWithValue(len));
    std::vector<uint8_t> drain(1 << 16);
    while (recv(s.fd(), drain.data(), drain.size(), MSG_DONTWAIT) > 0) {
    }
  }
  std::vector<LinkInfo> links = DumpLinks(s);
  EXPECT_FALSE(links.empty());
}

TEST(NetlinkTest, SendToAddresses) {
  RouteSocket s;
  struct {
    nlmsghdr h;
    rtgenmsg g;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
  req.h.nlmsg_type = RTM_GETLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  sockaddr_nl to{};
  to.nl_family = AF_INET;
  EXPECT_THAT(sendto(s.fd(), &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              SyscallFailsWithErrno(EINVAL));
  to.nl_family = AF_NETLINK;
  EXPECT_THAT(sendto(s.fd(), &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to) - 1),
              SyscallFailsWithErrno(EINVAL));
  // The kernel, explicitly.
  EXPECT_THAT(sendto(s.fd(), &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              SyscallSucceedsWithValue(req.h.nlmsg_len));
  std::vector<NlMessage> all = s.RecvDump(0);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back().hdr.nlmsg_type, NLMSG_DONE);
}

// ---- Receiving ----

TEST(NetlinkTest, ReceiveReportsTheKernelAndTruncation) {
  RouteSocket s;
  rtgenmsg g{};
  uint32_t seq = s.Send(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g));
  pollfd p{s.fd(), POLLIN, 0};
  EXPECT_THAT(poll(&p, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(p.revents & POLLIN);
  // Peeking with a small buffer: MSG_TRUNC gives the whole datagram's length.
  uint8_t small[16];
  sockaddr_nl from{};
  iovec iov{small, sizeof(small)};
  msghdr mh{};
  mh.msg_name = &from;
  mh.msg_namelen = sizeof(from);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ssize_t n = recvmsg(s.fd(), &mh, MSG_PEEK | MSG_TRUNC);
  ASSERT_GT(n, static_cast<ssize_t>(sizeof(small)));
  EXPECT_TRUE(mh.msg_flags & MSG_TRUNC);
  EXPECT_EQ(mh.msg_namelen, sizeof(sockaddr_nl));
  EXPECT_EQ(from.nl_family, AF_NETLINK);
  EXPECT_EQ(from.nl_pid, 0u);
  // The whole datagram is still there.
  std::vector<uint8_t> big(1 << 16);
  EXPECT_THAT(recv(s.fd(), big.data(), big.size(), 0), SyscallSucceedsWithValue(n));
  std::vector<NlMessage> rest = s.RecvDump(seq);
  ASSERT_FALSE(rest.empty());
}

TEST(NetlinkTest, DumpDatagramsFitAPageSizedBuffer) {
  // glibc reads dumps a page at a time and gives up on a truncated datagram: a socket that has
  // only ever been read with such a buffer never gets a larger one.
  RouteSocket s;
  rtgenmsg g{};
  uint32_t seq = s.Send(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g));
  bool done = false;
  for (int i = 0; i < 1000 && !done; i++) {
    uint8_t buf[4096];
    iovec iov{buf, sizeof(buf)};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(s.fd(), &mh, 0);
    ASSERT_GT(n, 0) << ErrnoString(errno);
    ASSERT_FALSE(mh.msg_flags & MSG_TRUNC);
    for (const NlMessage& m : ParseDatagram(buf, static_cast<size_t>(n))) {
      EXPECT_EQ(m.hdr.nlmsg_seq, seq);
      if (m.hdr.nlmsg_type == NLMSG_DONE) done = true;
    }
  }
  EXPECT_TRUE(done);
}

TEST(NetlinkTest, EmptyQueueWouldBlock) {
  RouteSocket s;
  char buf[16];
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  pollfd p{s.fd(), POLLIN | POLLOUT, 0};
  EXPECT_THAT(poll(&p, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(p.revents, POLLOUT);
  // A receive timeout ends a blocking wait.
  timeval tv{0, 20000};
  ASSERT_THAT(setsockopt(s.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), SyscallSucceeds());
  EXPECT_THAT(recv(s.fd(), buf, sizeof(buf), 0), SyscallFailsWithErrno(EAGAIN));
}

TEST(NetlinkTest, NetlinkOptions) {
  RouteSocket s;
  int one = 1;
  for (int opt : {NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, NETLINK_NO_ENOBUFS, NETLINK_PKTINFO,
                  NETLINK_BROADCAST_ERROR}) {
    EXPECT_THAT(setsockopt(s.fd(), SOL_NETLINK, opt, &one, sizeof(one)), SyscallSucceeds()) << opt;
  }
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(s.fd(), SOL_NETLINK, NETLINK_EXT_ACK, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  // A group to listen to (route notifications need no privilege); nothing arrives unasked.
  int group = RTNLGRP_LINK;
  EXPECT_THAT(setsockopt(s.fd(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)),
              SyscallSucceeds());
  EXPECT_THAT(setsockopt(s.fd(), SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &group, sizeof(group)),
              SyscallSucceeds());
  EXPECT_THAT(setsockopt(s.fd(), SOL_NETLINK, 9999, &one, sizeof(one)),
              SyscallFailsWithErrno(ENOPROTOOPT));
}

TEST(NetlinkTest, StrictChecking) {
  RouteSocket s;
  int one = 1;
  ASSERT_THAT(setsockopt(s.fd(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one)),
              SyscallSucceeds());
  // A dump request must carry the whole header of its type, with nothing set that cannot be
  // a filter.
  rtgenmsg g{};
  uint32_t seq = s.Send(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g));
  // A dump reports its failure in its NLMSG_DONE.
  std::vector<NlMessage> reply = s.RecvDump(seq);
  ASSERT_EQ(reply.size(), 1u);
  ASSERT_EQ(reply[0].hdr.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(reply[0].As<int>(), -EINVAL);
  ifinfomsg ifi{};
  ifi.ifi_flags = IFF_UP;
  seq = s.Send(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
  reply = s.RecvDump(seq);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].hdr.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(reply[0].As<int>(), -EINVAL);
  ifi = {};
  std::vector<NlMessage> links = s.Dump(RTM_GETLINK, AF_UNSPEC, &ifi, sizeof(ifi));
  EXPECT_FALSE(links.empty());
  // Addresses may be filtered by interface.
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_index = 1;
  std::vector<NlMessage> addrs = s.Dump(RTM_GETADDR, AF_INET, &ifa, sizeof(ifa));
  EXPECT_FALSE(addrs.empty());
  for (const NlMessage& m : addrs) EXPECT_EQ(m.As<ifaddrmsg>().ifa_index, 1u);
  ifa.ifa_prefixlen = 8;
  seq = s.Send(RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
  reply = s.RecvDump(seq);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].hdr.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(reply[0].As<int>(), -EINVAL);
  // Routes by table.
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_table = RT_TABLE_MAIN;
  for (const NlMessage& m : s.Dump(RTM_GETROUTE, AF_INET, &rt, sizeof(rt))) {
    EXPECT_EQ(m.As<rtmsg>().rtm_table, RT_TABLE_MAIN);
  }
  rt.rtm_dst_len = 8;
  seq = s.Send(RTM_GETROUTE, NLM_F_DUMP, &rt, sizeof(rt));
  reply = s.RecvDump(seq);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].hdr.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(reply[0].As<int>(), -EINVAL);
}

// ---- The C library ----

TEST(NetlinkTest, Getifaddrs) {
  ifaddrs* list = nullptr;
  ASSERT_THAT(getifaddrs(&list), SyscallSucceeds());
  bool lo4 = false, lo_packet = false, lo6 = false;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (std::string(i->ifa_name) != "lo" || !i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      auto* m = reinterpret_cast<sockaddr_in*>(i->ifa_netmask);
      if (a->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
        lo4 = true;
        ASSERT_NE(m, nullptr);
        EXPECT_EQ(m->sin_addr.s_addr, htonl(0xff000000));
        EXPECT_TRUE(i->ifa_flags & IFF_UP);
        EXPECT_TRUE(i->ifa_flags & IFF_LOOPBACK);
      }
    } else if (i->ifa_addr->sa_family == AF_PACKET) {
      lo_packet = true;
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) lo6 = true;
    }
  }
  freeifaddrs(list);
  EXPECT_TRUE(lo4);
  EXPECT_TRUE(lo_packet);
  EXPECT_EQ(lo6, HasIpv6Loopback());
}

TEST(NetlinkTest, InterfaceNamesAndIndexes) {
  EXPECT_EQ(if_nametoindex("lo"), 1u);
  EXPECT_EQ(if_nametoindex("no-such-if0"), 0u);
  char name[IF_NAMESIZE] = {};
  ASSERT_NE(if_indextoname(1, name), nullptr) << ErrnoString(errno);
  EXPECT_STREQ(name, "lo");
  struct if_nameindex* all = if_nameindex();
  ASSERT_NE(all, nullptr) << ErrnoString(errno);
  bool found = false;
  for (struct if_nameindex* i = all; i->if_index != 0; i++) {
    if (std::string(i->if_name) == "lo") {
      found = true;
      EXPECT_EQ(i->if_index, 1u);
    }
  }
  if_freenameindex(all);
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace moat::testing
