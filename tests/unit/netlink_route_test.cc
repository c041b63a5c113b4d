// rtnetlink against a fake Stack (sentry/socket/netlink/route.h, message.h): the messages a
// dump builds, single requests, strict checking, route lookup, the changes passed to the Stack,
// acks and errors, and what the parsers do with malformed input. Also the interface ioctls'
// pure half (sentry/socket/interface_ioctl.h).
#include "sentry/socket/netlink/route.h"

#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <netinet/in.h>

#include "sentry/socket/interface_ioctl.h"
#include "sentry/socket/netlink/message.h"
#include "tests/unit/fake_stack.h"

namespace moat::sockets::netlink {
namespace {

using testing::FakeStack;

// A request message: header, fixed header, then attributes already encoded.
std::vector<uint8_t> Request(uint16_t type, uint16_t flags, const void* fixed, size_t len,
                             std::vector<std::pair<uint16_t, std::vector<uint8_t>>> attrs = {}) {
  MessageBuilder b(type, flags | NLM_F_REQUEST, 42, 0);
  b.Put(fixed, len);
  for (auto& [t, v] : attrs) b.PutAttr(t, v.data(), v.size());
  return std::move(b).Finish();
}

MessageView View(const std::vector<uint8_t>& msg) {
  std::vector<MessageView> all = SplitMessages(msg);
  EXPECT_EQ(all.size(), 1u);
  return all.at(0);
}

RouteResult Handle(FakeStack& stack, const std::vector<uint8_t>& msg, bool strict = false,
                   bool admin = true) {
  RouteRequest req{&stack, 7, strict, admin};
  return HandleRouteRequest(req, View(msg));
}

std::vector<uint8_t> Bytes(std::initializer_list<uint8_t> b) { return b; }
std::vector<uint8_t> U32(uint32_t v) {
  std::vector<uint8_t> out(4);
  std::memcpy(out.data(), &v, 4);
  return out;
}

TEST(NetlinkRouteTest, LinkDumpMessages) {
  FakeStack stack;
  rtgenmsg g{};
  RouteResult r = Handle(stack, Request(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g)));
  ASSERT_TRUE(r.dump);
  EXPECT_EQ(r.error, 0);
  ASSERT_EQ(r.messages.size(), 2u);
  MessageView lo = View(r.messages[0]);
  EXPECT_EQ(lo.header.nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(lo.header.nlmsg_flags, NLM_F_MULTI);
  EXPECT_EQ(lo.header.nlmsg_seq, 42u);
  EXPECT_EQ(lo.header.nlmsg_pid, 7u);
  ifinfomsg ifi = *FixedHeader<ifinfomsg>(lo.payload);
  EXPECT_EQ(ifi.ifi_index, 1);
  EXPECT_EQ(ifi.ifi_type, ARPHRD_LOOPBACK);
  EXPECT_EQ(ifi.ifi_flags, IFF_UP | IFF_LOOPBACK | IFF_RUNNING | (1u << 16));
  Attributes a = ParseAttributes(lo.payload, sizeof(ifinfomsg));
  EXPECT_FALSE(a.malformed);
  EXPECT_EQ(a.String(IFLA_IFNAME), "lo");
  EXPECT_EQ(a.U32(IFLA_MTU), 65536u);
  // A loopback's address is six zero bytes.
  EXPECT_EQ(a.Get(IFLA_ADDRESS).size(), 6u);
  Attributes eth = ParseAttributes(View(r.messages[1]).payload, sizeof(ifinfomsg));
  std::span<const uint8_t> hw = eth.Get(IFLA_ADDRESS);
  EXPECT_EQ(std::vector<uint8_t>(hw.begin(), hw.end()), Bytes({2, 0, 0, 0, 0, 1}));
  std::span<const uint8_t> brd = eth.Get(IFLA_BROADCAST);
  EXPECT_EQ(std::vector<uint8_t>(brd.begin(), brd.end()), Bytes({255, 255, 255, 255, 255, 255}));
  EXPECT_EQ(eth.Get(IFLA_STATS64).size(), sizeof(rtnl_link_stats64));
}

TEST(NetlinkRouteTest, AddressDumpByFamily) {
  FakeStack stack;
  rtgenmsg g{};
  g.rtgen_family = AF_INET;
  RouteResult v4 = Handle(stack, Request(RTM_GETADDR, NLM_F_DUMP, &g, sizeof(g)));
  ASSERT_EQ(v4.messages.size(), 2u);
  MessageView m = View(v4.messages[0]);
  ifaddrmsg ifa = *FixedHeader<ifaddrmsg>(m.payload);
  EXPECT_EQ(ifa.ifa_family, AF_INET);
  EXPECT_EQ(ifa.ifa_prefixlen, 8);
  EXPECT_EQ(ifa.ifa_scope, RT_SCOPE_HOST);
  Attributes a = ParseAttributes(m.payload, sizeof(ifaddrmsg));
  EXPECT_EQ(a.U32(IFA_LOCAL), htonl(INADDR_LOOPBACK));
  EXPECT_EQ(a.String(IFA_LABEL), "lo");
  EXPECT_FALSE(a.Has(IFA_BROADCAST));
  // The Ethernet address has its subnet's broadcast.
  Attributes eth = ParseAttributes(View(v4.messages[1]).payload, sizeof(ifaddrmsg));
  EXPECT_EQ(eth.U32(IFA_BROADCAST), htonl(0x0a0000ff));
  g.rtgen_family = AF_INET6;
  EXPECT_EQ(Handle(stack, Request(RTM_GETADDR, NLM_F_DUMP, &g, sizeof(g))).messages.size(), 1u);
  // AF_UNSPEC, or a family without a handler, gives all, IPv4 first.
  for (uint8_t f : {AF_UNSPEC, AF_PACKET, 99}) {
    g.rtgen_family = f;
    RouteResult all = Handle(stack, Request(RTM_GETADDR, NLM_F_DUMP, &g, sizeof(g)));
    ASSERT_EQ(all.messages.size(), 3u);
    EXPECT_EQ(FixedHeader<ifaddrmsg>(View(all.messages[2]).payload)->ifa_family, AF_INET6);
  }
}

TEST(NetlinkRouteTest, StrictDumpRequests) {
  FakeStack stack;
  rtgenmsg g{};
  RouteResult r = Handle(stack, Request(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g)), true);
  EXPECT_TRUE(r.dump);
  EXPECT_EQ(r.error, -EINVAL);
  ifinfomsg ifi{};
  EXPECT_EQ(Handle(stack, Request(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi)), true).error, 0);
  // An attribute a link dump cannot filter by.
  r = Handle(stack, Request(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi), {{IFLA_MTU, U32(1)}}), true);
  EXPECT_EQ(r.error, -EINVAL);
  // Addresses filtered by interface.
  ifaddrmsg ifa{};
  ifa.ifa_index = 2;
  r = Handle(stack, Request(RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa)), true);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.messages.size(), 1u);
  // Routes filtered by table.
  rtmsg rtm{};
  rtm.rtm_table = RT_TABLE_LOCAL;
  r = Handle(stack, Request(RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm)), true);
  EXPECT_EQ(r.error, 0);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(FixedHeader<rtmsg>(View(r.messages[0]).payload)->rtm_type, RTN_LOCAL);
  rtm.rtm_dst_len = 1;
  EXPECT_EQ(Handle(stack, Request(RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm)), true).error, -EINVAL);
}

TEST(NetlinkRouteTest, RouteDumpAttributes) {
  FakeStack stack;
  rtgenmsg g{};
  g.rtgen_family = AF_INET;
  RouteResult r = Handle(stack, Request(RTM_GETROUTE, NLM_F_DUMP, &g, sizeof(g)));
  ASSERT_EQ(r.messages.size(), 3u);
  // The default route: no destination, a gateway, the Ethernet interface.
  MessageView def = View(r.messages[0]);
  rtmsg rtm = *FixedHeader<rtmsg>(def.payload);
  EXPECT_EQ(rtm.rtm_dst_len, 0);
  EXPECT_EQ(rtm.rtm_table, RT_TABLE_MAIN);
  Attributes a = ParseAttributes(def.payload, sizeof(rtmsg));
  EXPECT_FALSE(a.Has(RTA_DST));
  EXPECT_EQ(a.U32(RTA_GATEWAY), htonl(0x0a000001));
  EXPECT_EQ(a.U32(RTA_OIF), 2u);
  EXPECT_EQ(a.U32(RTA_TABLE), static_cast<uint32_t>(RT_TABLE_MAIN));
  // RTM_F_CLONED asks for the (empty) cache.
  rtmsg cloned{};
  cloned.rtm_family = AF_INET;
  cloned.rtm_flags = RTM_F_CLONED;
  EXPECT_TRUE(Handle(stack, Request(RTM_GETROUTE, NLM_F_DUMP, &cloned, sizeof(cloned))).messages.empty());
}

TEST(NetlinkRouteTest, GetLink) {
  FakeStack stack;
  ifinfomsg ifi{};
  ifi.ifi_index = 2;
  RouteResult r = Handle(stack, Request(RTM_GETLINK, 0, &ifi, sizeof(ifi)));
  EXPECT_FALSE(r.dump);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(View(r.messages[0]).header.nlmsg_flags, 0);
  ifi.ifi_index = 0;
  std::vector<uint8_t> name = {'l', 'o', 0};
  r = Handle(stack, Request(RTM_GETLINK, 0, &ifi, sizeof(ifi), {{IFLA_IFNAME, name}}));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(FixedHeader<ifinfomsg>(View(r.messages[0]).payload)->ifi_index, 1);
  EXPECT_EQ(Handle(stack, Request(RTM_GETLINK, 0, &ifi, sizeof(ifi))).error, -EINVAL);
  ifi.ifi_index = 99;
  EXPECT_EQ(Handle(stack, Request(RTM_GETLINK, 0, &ifi, sizeof(ifi))).error, -ENODEV);
  // Too short for an ifinfomsg.
  rtgenmsg g{};
  EXPECT_EQ(Handle(stack, Request(RTM_GETLINK, 0, &g, sizeof(g))).error, -EINVAL);
}

TEST(NetlinkRouteTest, LookupRoute) {
  FakeStack stack;
  auto v4 = [](uint32_t host_order) {
    std::array<uint8_t, 16> a{};
    uint32_t n = htonl(host_order);
    std::memcpy(a.data(), &n, 4);
    return a;
  };
  // One of the sandbox's addresses, and the loopback subnet: local.
  Result<Route> r = LookupRoute(stack, AF_INET, v4(0x0a000002));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RTN_LOCAL);
  EXPECT_EQ(r->table, RT_TABLE_LOCAL);
  EXPECT_EQ(r->oif, 2);
  r = LookupRoute(stack, AF_INET, v4(0x7f000005));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RTN_LOCAL);
  EXPECT_EQ(r->oif, 1);
  // The subnet, then the default route.
  r = LookupRoute(stack, AF_INET, v4(0x0a000007));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RTN_UNICAST);
  EXPECT_FALSE(r->has_gateway);
  EXPECT_TRUE(r->has_prefsrc);
  r = LookupRoute(stack, AF_INET, v4(0x08080808));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_gateway);
  EXPECT_EQ(r->dst_len, 32);
  // No IPv6 route but ::1.
  std::array<uint8_t, 16> six{};
  six[0] = 0x20;
  EXPECT_EQ(LookupRoute(stack, AF_INET6, six).error(), Errno(ENETUNREACH));
  six = {};
  six[15] = 1;
  EXPECT_EQ(LookupRoute(stack, AF_INET6, six)->type, RTN_LOCAL);
}

TEST(NetlinkRouteTest, RouteGetReply) {
  FakeStack stack;
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  RouteResult r = Handle(stack, Request(RTM_GETROUTE, 0, &rtm, sizeof(rtm), {{RTA_DST, U32(htonl(0x08080808))}}));
  ASSERT_EQ(r.error, 0);
  ASSERT_EQ(r.messages.size(), 1u);
  rtmsg out = *FixedHeader<rtmsg>(View(r.messages[0]).payload);
  EXPECT_TRUE(out.rtm_flags & RTM_F_CLONED);
  rtm.rtm_family = AF_PACKET;
  EXPECT_EQ(Handle(stack, Request(RTM_GETROUTE, 0, &rtm, sizeof(rtm))).error, -EOPNOTSUPP);
}

TEST(NetlinkRouteTest, AddressChanges) {
  FakeStack stack;
  struct {
    ifaddrmsg ifa;
  } req{};
  req.ifa.ifa_family = AF_INET;
  req.ifa.ifa_prefixlen = 16;
  req.ifa.ifa_index = 2;
  std::vector<uint8_t> addr = {192, 168, 1, 5};
  auto msg = Request(RTM_NEWADDR, NLM_F_ACK, &req, sizeof(req), {{IFA_LOCAL, addr}});
  // Changes need CAP_NET_ADMIN.
  EXPECT_EQ(Handle(stack, msg, false, false).error, -EPERM);
  RouteResult r = Handle(stack, msg);
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.messages.empty());
  ASSERT_EQ(stack.added_addresses.size(), 1u);
  const InterfaceAddress& a = stack.added_addresses[0];
  EXPECT_EQ(a.index, 2);
  EXPECT_EQ(a.prefix_len, 16);
  EXPECT_EQ(std::vector<uint8_t>(a.addr.begin(), a.addr.begin() + 4), addr);
  EXPECT_TRUE(a.flags & IFA_F_PERMANENT);
  r = Handle(stack, Request(RTM_DELADDR, 0, &req, sizeof(req), {{IFA_ADDRESS, addr}}));
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(stack.removed_addresses.size(), 1u);
  // The Stack's refusal is the answer.
  stack.fail_with = EEXIST;
  EXPECT_EQ(Handle(stack, msg).error, -EEXIST);
  stack.fail_with = 0;
  req.ifa.ifa_prefixlen = 33;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWADDR, 0, &req, sizeof(req), {{IFA_LOCAL, addr}})).error, -EINVAL);
  req.ifa.ifa_prefixlen = 24;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWADDR, 0, &req, sizeof(req))).error, -EINVAL);
  req.ifa.ifa_index = 77;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWADDR, 0, &req, sizeof(req), {{IFA_LOCAL, addr}})).error, -ENODEV);
}

TEST(NetlinkRouteTest, RouteChanges) {
  FakeStack stack;
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = 24;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = RTPROT_BOOT;
  rtm.rtm_type = RTN_UNICAST;
  // Through a gateway on the Ethernet subnet: the interface is found from it.
  RouteResult r = Handle(stack, Request(RTM_NEWROUTE, 0, &rtm, sizeof(rtm),
                                        {{RTA_DST, Bytes({172, 16, 0, 0})},
                                         {RTA_GATEWAY, Bytes({10, 0, 0, 1})}}));
  EXPECT_EQ(r.error, 0);
  ASSERT_EQ(stack.added_routes.size(), 1u);
  EXPECT_EQ(stack.added_routes[0].oif, 2);
  EXPECT_TRUE(stack.added_routes[0].has_gateway);
  EXPECT_EQ(stack.added_routes[0].dst[0], 172);
  // A gateway nowhere: unreachable; an unknown interface: ENODEV; a bad address: EINVAL.
  EXPECT_EQ(Handle(stack, Request(RTM_NEWROUTE, 0, &rtm, sizeof(rtm),
                                  {{RTA_GATEWAY, Bytes({192, 0, 2, 1})}}))
                .error,
            -ENETUNREACH);
  EXPECT_EQ(Handle(stack, Request(RTM_NEWROUTE, 0, &rtm, sizeof(rtm), {{RTA_OIF, U32(9)}})).error,
            -ENODEV);
  EXPECT_EQ(Handle(stack, Request(RTM_NEWROUTE, 0, &rtm, sizeof(rtm),
                                  {{RTA_OIF, U32(2)}, {RTA_DST, Bytes({1, 2, 3})}}))
                .error,
            -EINVAL);
  r = Handle(stack, Request(RTM_DELROUTE, 0, &rtm, sizeof(rtm),
                            {{RTA_DST, Bytes({172, 16, 0, 0})}, {RTA_OIF, U32(2)}}));
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(stack.removed_routes.size(), 1u);
}

TEST(NetlinkRouteTest, LinkFlagChanges) {
  FakeStack stack;
  ifinfomsg ifi{};
  ifi.ifi_index = 2;
  ifi.ifi_change = IFF_UP;
  ifi.ifi_flags = 0;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWLINK, NLM_F_ACK, &ifi, sizeof(ifi))).error, 0);
  ASSERT_EQ(stack.flag_changes.size(), 1u);
  EXPECT_EQ(stack.flag_changes[0], (std::tuple<int, uint32_t, uint32_t>{2, 0, IFF_UP}));
  // No change mask: every flag is the message's.
  ifi.ifi_change = 0;
  ifi.ifi_flags = IFF_UP;
  EXPECT_EQ(Handle(stack, Request(RTM_SETLINK, 0, &ifi, sizeof(ifi))).error, 0);
  EXPECT_EQ(std::get<2>(stack.flag_changes[1]), ~0u);
  ifi.ifi_index = 0;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWLINK, NLM_F_CREATE, &ifi, sizeof(ifi))).error, -EOPNOTSUPP);
  ifi.ifi_index = 9;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWLINK, 0, &ifi, sizeof(ifi))).error, -ENODEV);
  ifi.ifi_index = 2;
  EXPECT_EQ(Handle(stack, Request(RTM_NEWLINK, 0, &ifi, sizeof(ifi), {{IFLA_MTU, U32(9000)}})).error,
            -EOPNOTSUPP);
}

TEST(NetlinkRouteTest, UnknownAndShortRequests) {
  FakeStack stack;
  rtgenmsg g{};
  EXPECT_EQ(Handle(stack, Request(RTM_MAX + 1, 0, &g, sizeof(g))).error, -EOPNOTSUPP);
  EXPECT_EQ(Handle(stack, Request(RTM_GETQDISC, NLM_F_DUMP, &g, sizeof(g))).error, -EOPNOTSUPP);
  EXPECT_EQ(Handle(stack, Request(RTM_GETADDR, 0, &g, sizeof(g))).error, -EOPNOTSUPP);
  // The neighbour table is empty.
  RouteResult r = Handle(stack, Request(RTM_GETNEIGH, NLM_F_DUMP, &g, sizeof(g)));
  EXPECT_TRUE(r.dump);
  EXPECT_TRUE(r.messages.empty());
  // The default policy rules.
  g.rtgen_family = AF_INET;
  r = Handle(stack, Request(RTM_GETRULE, NLM_F_DUMP, &g, sizeof(g)));
  EXPECT_TRUE(r.dump);
  EXPECT_EQ(r.messages.size(), 3u);
  g.rtgen_family = AF_UNSPEC;
  // A message without even a family byte is ignored.
  r = Handle(stack, Request(RTM_GETLINK, 0, nullptr, 0));
  EXPECT_EQ(r.error, 0);
  EXPECT_FALSE(r.dump);
  // No network at all: empty dumps, no routes.
  RouteRequest none{nullptr, 7, false, true};
  r = HandleRouteRequest(none, View(Request(RTM_GETLINK, NLM_F_DUMP, &g, sizeof(g))));
  EXPECT_TRUE(r.dump);
  EXPECT_TRUE(r.messages.empty());
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  r = HandleRouteRequest(none, View(Request(RTM_DELROUTE, 0, &rtm, sizeof(rtm))));
  EXPECT_EQ(r.error, -EOPNOTSUPP);
}

TEST(NetlinkRouteTest, RandomRequestsNeverCrash) {
  FakeStack stack;
  uint32_t state = 99;
  auto next = [&] {
    state = state * 1664525 + 1013904223;
    return state >> 8;
  };
  for (int i = 0; i < 20000; i++) {
    std::vector<uint8_t> payload(next() % 80);
    for (uint8_t& b : payload) b = static_cast<uint8_t>(next());
    // Plausible attributes now and then, so that parsing goes past the fixed header.
    if (payload.size() > 24 && next() % 2) {
      uint16_t len = static_cast<uint16_t>(4 + next() % 12);
      std::memcpy(payload.data() + 16, &len, 2);
    }
    uint16_t type = static_cast<uint16_t>(RTM_BASE + next() % (RTM_MAX - RTM_BASE + 8));
    uint16_t flags = static_cast<uint16_t>(next() & (NLM_F_DUMP | NLM_F_ACK | NLM_F_CREATE));
    std::vector<uint8_t> msg = Request(type, flags, payload.data(), payload.size());
    RouteResult r = Handle(stack, msg, next() % 2, next() % 2);
    for (const std::vector<uint8_t>& reply : r.messages) {
      ASSERT_GE(reply.size(), sizeof(nlmsghdr));
      ASSERT_EQ(SplitMessages(reply).size(), 1u);
    }
  }
}

// ---- Messages ----

TEST(NetlinkMessageTest, ErrorAndDone) {
  rtgenmsg g{};
  std::vector<uint8_t> req = Request(RTM_GETLINK, 0, &g, sizeof(g));
  MessageView m = View(req);
  std::vector<uint8_t> err = ErrorMessage(m, 9, -EINVAL, false);
  MessageView e = View(err);
  EXPECT_EQ(e.header.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(e.header.nlmsg_flags, 0);
  EXPECT_EQ(e.header.nlmsg_seq, 42u);
  EXPECT_EQ(e.header.nlmsg_pid, 9u);
  // The request follows, its payload padded.
  EXPECT_EQ(e.header.nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr) + NLMSG_ALIGN(sizeof(g))));
  nlmsgerr body = *FixedHeader<nlmsgerr>(e.payload);
  EXPECT_EQ(body.error, -EINVAL);
  EXPECT_EQ(body.msg.nlmsg_seq, 42u);
  MessageView capped = View(ErrorMessage(m, 9, -EINVAL, true));
  EXPECT_EQ(capped.header.nlmsg_flags, NLM_F_CAPPED);
  EXPECT_EQ(capped.header.nlmsg_len, NLMSG_LENGTH(sizeof(nlmsgerr)));
  MessageView ack = View(ErrorMessage(m, 9, 0, false));
  EXPECT_EQ(ack.header.nlmsg_flags, NLM_F_CAPPED);
  EXPECT_EQ(FixedHeader<nlmsgerr>(ack.payload)->error, 0);
  MessageView done = View(DoneMessage(42, 9, -EINVAL));
  EXPECT_EQ(done.header.nlmsg_type, NLMSG_DONE);
  EXPECT_EQ(done.header.nlmsg_flags, NLM_F_MULTI);
  EXPECT_EQ(*FixedHeader<int>(done.payload), -EINVAL);
}

TEST(NetlinkMessageTest, SplitStopsAtMalformedHeaders) {
  rtgenmsg g{};
  std::vector<uint8_t> two = Request(RTM_GETLINK, 0, &g, sizeof(g));
  std::vector<uint8_t> second = Request(RTM_GETADDR, 0, &g, sizeof(g));
  two.insert(two.end(), second.begin(), second.end());
  EXPECT_EQ(SplitMessages(two).size(), 2u);
  // A length beyond the datagram ends the walk; so does one shorter than a header.
  std::vector<uint8_t> bad = two;
  uint32_t huge = 4096;
  std::memcpy(bad.data() + NLMSG_ALIGN(17), &huge, 4);
  EXPECT_EQ(SplitMessages(bad).size(), 1u);
  uint32_t tiny = 3;
  std::memcpy(bad.data(), &tiny, 4);
  EXPECT_EQ(SplitMessages(bad).size(), 0u);
  EXPECT_TRUE(SplitMessages({}).empty());
  // A last message without its padding is still read.
  std::vector<uint8_t> unpadded = Request(RTM_GETLINK, 0, &g, sizeof(g));
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_LENGTH(1);
  h.nlmsg_type = RTM_GETADDR;
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&h);
  unpadded.insert(unpadded.end(), p, p + sizeof(h));
  unpadded.push_back(AF_INET);
  std::vector<MessageView> both = SplitMessages(unpadded);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].payload.size(), 1u);
}

TEST(NetlinkMessageTest, DumpDatagramsPackWholeMessages) {
  std::deque<std::vector<uint8_t>> q;
  for (size_t len : {1000, 1000, 1000, 5000, 100}) q.push_back(std::vector<uint8_t>(len, 1));
  EXPECT_EQ(TakeDatagram(q, 2500).size(), 2000u);
  // One message too large for the limit still goes, alone.
  EXPECT_EQ(TakeDatagram(q, 2500).size(), 1000u);
  EXPECT_EQ(TakeDatagram(q, 2500).size(), 5000u);
  EXPECT_EQ(TakeDatagram(q, 2500).size(), 100u);
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(TakeDatagram(q, 2500).empty());
}

TEST(NetlinkMessageTest, AttributesAreBoundsChecked) {
  ifinfomsg ifi{};
  std::vector<uint8_t> msg = Request(RTM_GETLINK, 0, &ifi, sizeof(ifi), {{IFLA_MTU, U32(1500)}});
  MessageView m = View(msg);
  Attributes a = ParseAttributes(m.payload, sizeof(ifi));
  EXPECT_FALSE(a.malformed);
  EXPECT_EQ(a.U32(IFLA_MTU), 1500u);
  EXPECT_FALSE(a.U32(IFLA_IFNAME).has_value());
  // An attribute whose length runs past the message.
  std::vector<uint8_t> broken(m.payload.begin(), m.payload.end());
  uint16_t len = 200;
  std::memcpy(broken.data() + sizeof(ifi), &len, 2);
  Attributes b = ParseAttributes(broken, sizeof(ifi));
  EXPECT_TRUE(b.malformed);
  EXPECT_FALSE(b.Has(IFLA_MTU));
  // A fixed header longer than the payload: nothing, no crash.
  EXPECT_TRUE(ParseAttributes(broken, 4096).by_type.empty());
  // Too short to hold a value.
  std::vector<uint8_t> one_byte = Request(RTM_GETLINK, 0, &ifi, sizeof(ifi), {{IFLA_MTU, {1}}});
  EXPECT_FALSE(ParseAttributes(View(one_byte).payload, sizeof(ifi)).U32(IFLA_MTU).has_value());
}

// ---- Interface ioctls ----

TEST(InterfaceIoctlTest, Requests) {
  FakeStack stack;
  ifreq r{};
  std::strcpy(r.ifr_name, "eth0");
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCGIFINDEX, r).ok());
  EXPECT_EQ(r.ifr_ifindex, 2);
  r = {};
  r.ifr_ifindex = 1;
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCGIFNAME, r).ok());
  EXPECT_STREQ(r.ifr_name, "lo");
  std::strcpy(r.ifr_name, "eth0");
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCGIFNETMASK, r).ok());
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&r.ifr_netmask)->sin_addr.s_addr, htonl(0xffffff00));
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCGIFBRDADDR, r).ok());
  EXPECT_EQ(reinterpret_cast<sockaddr_in*>(&r.ifr_broadaddr)->sin_addr.s_addr, htonl(0x0a0000ff));
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCGIFHWADDR, r).ok());
  EXPECT_EQ(r.ifr_hwaddr.sa_family, ARPHRD_ETHER);
  EXPECT_EQ(r.ifr_hwaddr.sa_data[5], 1);
  // The address ones are AF_INET's only.
  EXPECT_EQ(InterfaceRequest(&stack, AF_INET6, SIOCGIFADDR, r).error(), Errno(ENOTTY));
  std::strcpy(r.ifr_name, "eth0:1");
  EXPECT_EQ(InterfaceRequest(&stack, AF_INET, SIOCGIFADDR, r).error(), Errno(EADDRNOTAVAIL));
  std::strcpy(r.ifr_name, "nope");
  EXPECT_EQ(InterfaceRequest(&stack, AF_INET, SIOCGIFFLAGS, r).error(), Errno(ENODEV));
  EXPECT_EQ(InterfaceRequest(nullptr, AF_INET, SIOCGIFFLAGS, r).error(), Errno(ENODEV));
  std::strcpy(r.ifr_name, "eth0");
  r.ifr_flags = IFF_UP;
  ASSERT_TRUE(InterfaceRequest(&stack, AF_INET, SIOCSIFFLAGS, r).ok());
  EXPECT_EQ(stack.flag_changes.size(), 1u);
  std::vector<ifreq> conf = InterfaceConfig(&stack);
  ASSERT_EQ(conf.size(), 2u);
  EXPECT_STREQ(conf[0].ifr_name, "lo");
  EXPECT_STREQ(conf[1].ifr_name, "eth0");
}

}  // namespace
}  // namespace moat::sockets::netlink
