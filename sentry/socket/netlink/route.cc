#include "sentry/socket/netlink/route.h"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>

namespace moat::sockets::netlink {
namespace {

// linux/if.h's flags beyond the 16 bits of glibc's net/if.h.
constexpr uint32_t kIffLowerUp = 1u << 16;
// RFC 2863 operational states (IF_OPER_*, also linux/if.h's).
constexpr uint8_t kOperUnknown = 0;
constexpr uint8_t kOperDown = 2;
constexpr uint8_t kOperUp = 6;
constexpr uint32_t kDefaultTxQueueLen = 1000;

using Messages = std::vector<std::vector<uint8_t>>;

size_t AddrLen(int family) { return family == AF_INET ? 4 : 16; }

// Whether the first `len` bits of `a` and `b` agree.
bool SamePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int len) {
  for (int i = 0; i < len / 8; i++) {
    if (a[i] != b[i]) return false;
  }
  if (len % 8) {
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - len % 8));
    if ((a[len / 8] & mask) != (b[len / 8] & mask)) return false;
  }
  return true;
}

// The answer to a request that failed with `err` (an errno). A dump's failure still ends it: with
// NLMSG_DONE carrying the error.
RouteResult Failed(int err, bool dump = false) {
  RouteResult r;
  r.dump = dump;
  r.error = -err;
  return r;
}

const Interface* FindInterface(const std::vector<Interface>& ifs, int index) {
  for (const Interface& i : ifs) {
    if (i.index == index) return &i;
  }
  return nullptr;
}

const Interface* FindInterfaceByName(const std::vector<Interface>& ifs, const std::string& name) {
  for (const Interface& i : ifs) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

bool IsLoopback(const Interface& i) {
  return i.type == ARPHRD_LOOPBACK || (i.flags & IFF_LOOPBACK);
}

// What a link dump shows as the link's flags: a running link's carrier is up.
uint32_t LinkFlags(const Interface& i) {
  uint32_t f = i.flags;
  if (f & IFF_RUNNING) f |= kIffLowerUp;
  return f;
}

// The family's dump choice: AF_INET or AF_INET6 alone; any other value (AF_UNSPEC, or a family
// without a handler of its own) dumps every family, as rtnetlink's fallback to PF_UNSPEC does.
bool FamilyWanted(uint8_t asked, int family) {
  if (asked == AF_INET || asked == AF_INET6) return asked == family;
  return true;
}

// ---- Dumps ----

RouteResult DumpLinks(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  r.dump = true;
  if (req.strict) {
    std::optional<ifinfomsg> ifi = FixedHeader<ifinfomsg>(m.payload);
    if (!ifi) return Failed(EINVAL, /*dump=*/true);
    if (ifi->__ifi_pad || ifi->ifi_type || ifi->ifi_flags || ifi->ifi_change || ifi->ifi_index)
      return Failed(EINVAL, /*dump=*/true);
    Attributes attrs = ParseAttributes(m.payload, sizeof(ifinfomsg));
    for (const auto& [type, value] : attrs.by_type) {
      if (type != IFLA_TARGET_NETNSID && type != IFLA_EXT_MASK && type != IFLA_MASTER &&
          type != IFLA_LINKINFO) {
        return Failed(EINVAL, /*dump=*/true);
      }
    }
    if (attrs.malformed) return Failed(EINVAL, /*dump=*/true);
  }
  if (!req.stack) return r;
  r.messages = LinkMessages(req.stack->Interfaces(), RTM_NEWLINK, NLM_F_MULTI, m.header.nlmsg_seq,
                            req.portid);
  return r;
}

RouteResult DumpAddresses(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  r.dump = true;
  uint8_t family = m.payload.empty() ? AF_UNSPEC : m.payload[0];
  int index = 0;
  if (req.strict) {
    std::optional<ifaddrmsg> ifa = FixedHeader<ifaddrmsg>(m.payload);
    if (!ifa || ifa->ifa_prefixlen || ifa->ifa_flags || ifa->ifa_scope)
      return Failed(EINVAL, /*dump=*/true);
    Attributes attrs = ParseAttributes(m.payload, sizeof(ifaddrmsg));
    for (const auto& [type, value] : attrs.by_type) {
      if (type != IFA_TARGET_NETNSID) return Failed(EINVAL, /*dump=*/true);
    }
    index = static_cast<int>(ifa->ifa_index);
  }
  if (!req.stack) return r;
  std::vector<Interface> ifs = req.stack->Interfaces();
  std::vector<InterfaceAddress> addrs = req.stack->Addresses();
  // IPv4 first, then IPv6 (the order of rtnetlink's walk over the families).
  std::stable_sort(addrs.begin(), addrs.end(), [](const InterfaceAddress& a, const InterfaceAddress& b) {
    return a.family < b.family;
  });
  for (const InterfaceAddress& a : addrs) {
    if (!FamilyWanted(family, a.family)) continue;
    if (index && a.index != index) continue;
    r.messages.push_back(
        AddressMessage(a, ifs, RTM_NEWADDR, NLM_F_MULTI, m.header.nlmsg_seq, req.portid));
  }
  return r;
}

RouteResult DumpRoutes(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  r.dump = true;
  uint8_t family = m.payload.empty() ? AF_UNSPEC : m.payload[0];
  std::optional<rtmsg> rtm = FixedHeader<rtmsg>(m.payload);
  std::optional<uint32_t> table, oif;
  std::optional<uint8_t> protocol;
  if (req.strict) {
    if (!rtm || rtm->rtm_dst_len || rtm->rtm_src_len || rtm->rtm_tos || rtm->rtm_scope ||
        rtm->rtm_type || (rtm->rtm_flags & ~(RTM_F_CLONED | RTM_F_PREFIX))) {
      return Failed(EINVAL, /*dump=*/true);
    }
    Attributes attrs = ParseAttributes(m.payload, sizeof(rtmsg));
    for (const auto& [type, value] : attrs.by_type) {
      if (type != RTA_TABLE && type != RTA_OIF) return Failed(EINVAL, /*dump=*/true);
    }
    if (rtm->rtm_table) table = rtm->rtm_table;
    if (attrs.U32(RTA_TABLE)) table = attrs.U32(RTA_TABLE);
    if (attrs.U32(RTA_OIF)) oif = attrs.U32(RTA_OIF);
    if (rtm->rtm_protocol) protocol = rtm->rtm_protocol;
  }
  // RTM_F_CLONED asks for the route cache, which is empty.
  if (rtm && (rtm->rtm_flags & RTM_F_CLONED)) return r;
  if (!req.stack) return r;
  std::vector<Route> routes = req.stack->Routes();
  std::stable_sort(routes.begin(), routes.end(),
                   [](const Route& a, const Route& b) { return a.family < b.family; });
  for (const Route& rt : routes) {
    if (!FamilyWanted(family, rt.family)) continue;
    if (table && *table != rt.table) continue;
    if (oif && static_cast<int>(*oif) != rt.oif) continue;
    if (protocol && *protocol != rt.protocol) continue;
    r.messages.push_back(RouteMessage(rt, RTM_NEWROUTE, NLM_F_MULTI, m.header.nlmsg_seq, req.portid));
  }
  return r;
}

// The routing policy: the rules every network namespace starts with (`ip rule`), which the
// sandbox has no way to change: local, main and (IPv4) default tables, in that order.
RouteResult DumpRules(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  r.dump = true;
  uint8_t family = m.payload.empty() ? AF_UNSPEC : m.payload[0];
  struct Rule {
    int family;
    uint32_t priority;
    uint8_t table;
  };
  constexpr Rule kRules[] = {{AF_INET, 0, RT_TABLE_LOCAL},     {AF_INET, 32766, RT_TABLE_MAIN},
                             {AF_INET, 32767, RT_TABLE_DEFAULT}, {AF_INET6, 0, RT_TABLE_LOCAL},
                             {AF_INET6, 32766, RT_TABLE_MAIN}};
  for (const Rule& rule : kRules) {
    if (!FamilyWanted(family, rule.family)) continue;
    MessageBuilder b(RTM_NEWRULE, NLM_F_MULTI, m.header.nlmsg_seq, req.portid);
    fib_rule_hdr h{};
    h.family = static_cast<uint8_t>(rule.family);
    h.table = rule.table;
    h.action = FR_ACT_TO_TBL;
    b.PutHeader(h);
    b.PutAttrU32(FRA_TABLE, rule.table);
    b.PutAttrU32(FRA_SUPPRESS_PREFIXLEN, 0xffffffff);
    b.PutAttrU8(FRA_PROTOCOL, RTPROT_KERNEL);
    if (rule.priority) b.PutAttrU32(FRA_PRIORITY, rule.priority);
    r.messages.push_back(std::move(b).Finish());
  }
  return r;
}

// ---- Single requests ----

RouteResult GetLink(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  std::optional<ifinfomsg> ifi = FixedHeader<ifinfomsg>(m.payload);
  if (!ifi) return Failed(EINVAL);
  Attributes attrs = ParseAttributes(m.payload, sizeof(ifinfomsg));
  std::optional<std::string> name = attrs.String(IFLA_IFNAME);
  if (!name) name = attrs.String(IFLA_ALT_IFNAME);
  if (!ifi->ifi_index && !name) return Failed(EINVAL);
  std::vector<Interface> ifs = req.stack ? req.stack->Interfaces() : std::vector<Interface>{};
  const Interface* found = ifi->ifi_index ? FindInterface(ifs, ifi->ifi_index)
                                          : FindInterfaceByName(ifs, *name);
  if (!found) return Failed(ENODEV);
  r.messages = LinkMessages({*found}, RTM_NEWLINK, 0, m.header.nlmsg_seq, req.portid);
  return r;
}

RouteResult GetRoute(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  std::optional<rtmsg> rtm = FixedHeader<rtmsg>(m.payload);
  if (!rtm) return Failed(EINVAL);
  int family = rtm->rtm_family;
  if (family != AF_INET && family != AF_INET6) return Failed(EOPNOTSUPP);
  Attributes attrs = ParseAttributes(m.payload, sizeof(rtmsg));
  std::array<uint8_t, 16> dst{};
  if (attrs.Has(RTA_DST)) {
    std::span<const uint8_t> v = attrs.Get(RTA_DST);
    if (v.size() < AddrLen(family)) return Failed(EINVAL);
    std::copy_n(v.begin(), AddrLen(family), dst.begin());
  }
  if (!req.stack) return Failed(ENETUNREACH);
  Result<Route> found = LookupRoute(*req.stack, family, dst);
  if (!found.ok()) {
    r.error = -found.error().value();
    return r;
  }
  std::vector<uint8_t> msg = RouteMessage(*found, RTM_NEWROUTE, 0, m.header.nlmsg_seq, req.portid);
  // An answer of the route cache, as `ip route get` shows it ("cache").
  rtmsg out;
  std::memcpy(&out, msg.data() + NLMSG_HDRLEN, sizeof(out));
  out.rtm_flags |= RTM_F_CLONED;
  std::memcpy(msg.data() + NLMSG_HDRLEN, &out, sizeof(out));
  r.messages.push_back(std::move(msg));
  return r;
}

// ---- Changes ----

// RTM_NEWADDR and RTM_DELADDR.
RouteResult ChangeAddress(const RouteRequest& req, const MessageView& m, bool add) {
  RouteResult r;
  std::optional<ifaddrmsg> ifa = FixedHeader<ifaddrmsg>(m.payload);
  if (!ifa) return Failed(EINVAL);
  int family = ifa->ifa_family;
  if (family != AF_INET && family != AF_INET6) return Failed(EOPNOTSUPP);
  Attributes attrs = ParseAttributes(m.payload, sizeof(ifaddrmsg));
  size_t len = AddrLen(family);
  std::span<const uint8_t> local = attrs.Has(IFA_LOCAL) ? attrs.Get(IFA_LOCAL) : attrs.Get(IFA_ADDRESS);
  if (ifa->ifa_prefixlen > len * 8 || local.size() < len) return Failed(EINVAL);
  std::vector<Interface> ifs = req.stack ? req.stack->Interfaces() : std::vector<Interface>{};
  if (!FindInterface(ifs, static_cast<int>(ifa->ifa_index))) return Failed(ENODEV);
  InterfaceAddress a;
  a.index = static_cast<int>(ifa->ifa_index);
  a.family = family;
  std::copy_n(local.begin(), len, a.addr.begin());
  a.prefix_len = ifa->ifa_prefixlen;
  a.scope = ifa->ifa_scope;
  a.flags = attrs.U32(IFA_FLAGS).value_or(ifa->ifa_flags);
  if (add) a.flags |= IFA_F_PERMANENT;
  Result<void> done = add ? req.stack->AddAddress(a) : req.stack->RemoveAddress(a);
  if (!done.ok()) r.error = -done.error().value();
  return r;
}

// RTM_NEWROUTE and RTM_DELROUTE.
RouteResult ChangeRoute(const RouteRequest& req, const MessageView& m, bool add) {
  RouteResult r;
  std::optional<rtmsg> rtm = FixedHeader<rtmsg>(m.payload);
  if (!rtm) return Failed(EINVAL);
  int family = rtm->rtm_family;
  if (family != AF_INET && family != AF_INET6) return Failed(EOPNOTSUPP);
  size_t len = AddrLen(family);
  Attributes attrs = ParseAttributes(m.payload, sizeof(rtmsg));
  if (rtm->rtm_dst_len > len * 8) return Failed(EINVAL);
  Route rt;
  rt.family = family;
  rt.dst_len = rtm->rtm_dst_len;
  rt.table = static_cast<uint8_t>(attrs.U32(RTA_TABLE).value_or(rtm->rtm_table));
  if (rt.table == RT_TABLE_UNSPEC) rt.table = RT_TABLE_MAIN;
  rt.protocol = rtm->rtm_protocol;
  rt.scope = rtm->rtm_scope;
  rt.type = rtm->rtm_type ? rtm->rtm_type : static_cast<uint8_t>(RTN_UNICAST);
  rt.metric = attrs.U32(RTA_PRIORITY).value_or(0);
  for (auto [type, out, has] : {std::tuple{RTA_DST, &rt.dst, static_cast<bool*>(nullptr)},
                                std::tuple{RTA_GATEWAY, &rt.gateway, &rt.has_gateway},
                                std::tuple{RTA_PREFSRC, &rt.prefsrc, &rt.has_prefsrc}}) {
    if (!attrs.Has(type)) continue;
    std::span<const uint8_t> v = attrs.Get(type);
    if (v.size() != len) return Failed(EINVAL);
    std::copy_n(v.begin(), len, out->begin());
    if (has) *has = true;
  }
  std::vector<Interface> ifs = req.stack ? req.stack->Interfaces() : std::vector<Interface>{};
  if (std::optional<uint32_t> oif = attrs.U32(RTA_OIF)) {
    if (!FindInterface(ifs, static_cast<int>(*oif))) return Failed(ENODEV);
    rt.oif = static_cast<int>(*oif);
  } else if (rt.has_gateway && req.stack) {
    // The interface whose subnet holds the gateway.
    for (const InterfaceAddress& a : req.stack->Addresses()) {
      if (a.family == family && SamePrefix(a.addr, rt.gateway, a.prefix_len)) {
        rt.oif = a.index;
        break;
      }
    }
    if (!rt.oif) return Failed(ENETUNREACH);
  } else if (add) {
    return Failed(ENODEV);
  }
  Result<void> done = add ? req.stack->AddRoute(rt) : req.stack->RemoveRoute(rt);
  if (!done.ok()) r.error = -done.error().value();
  return r;
}

// RTM_NEWLINK and RTM_SETLINK: only the flags (`ip link set dev X up|down`) of an existing link.
RouteResult ChangeLink(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  std::optional<ifinfomsg> ifi = FixedHeader<ifinfomsg>(m.payload);
  if (!ifi) return Failed(EINVAL);
  Attributes attrs = ParseAttributes(m.payload, sizeof(ifinfomsg));
  std::vector<Interface> ifs = req.stack ? req.stack->Interfaces() : std::vector<Interface>{};
  const Interface* link = nullptr;
  if (ifi->ifi_index) {
    link = FindInterface(ifs, ifi->ifi_index);
  } else if (std::optional<std::string> name = attrs.String(IFLA_IFNAME)) {
    link = FindInterfaceByName(ifs, *name);
  }
  if (!link) {
    // Creating links (veth, bridges...) is not something the sandbox does.
    r.error = (m.header.nlmsg_flags & NLM_F_CREATE) && m.header.nlmsg_type == RTM_NEWLINK
                  ? -EOPNOTSUPP
                  : -ENODEV;
    return r;
  }
  if (std::optional<uint32_t> mtu = attrs.U32(IFLA_MTU); mtu && *mtu != link->mtu)
    return Failed(EOPNOTSUPP);
  if (ifi->ifi_flags || ifi->ifi_change) {
    uint32_t change = ifi->ifi_change ? ifi->ifi_change : ~0u;
    Result<void> done = req.stack->SetInterfaceFlags(link->index, ifi->ifi_flags, change);
    if (!done.ok()) r.error = -done.error().value();
  }
  return r;
}

}  // namespace

std::vector<std::vector<uint8_t>> LinkMessages(const std::vector<Interface>& ifs, uint16_t type,
                                               uint16_t flags, uint32_t seq, uint32_t portid) {
  Messages out;
  for (const Interface& i : ifs) {
    MessageBuilder b(type, flags, seq, portid);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_type = i.type;
    ifi.ifi_index = i.index;
    ifi.ifi_flags = LinkFlags(i);
    b.PutHeader(ifi);
    b.PutAttrString(IFLA_IFNAME, i.name);
    b.PutAttrU32(IFLA_TXQLEN, kDefaultTxQueueLen);
    uint8_t oper = IsLoopback(i) ? kOperUnknown : ((i.flags & IFF_RUNNING) ? kOperUp : kOperDown);
    b.PutAttrU8(IFLA_OPERSTATE, oper);
    b.PutAttrU8(IFLA_LINKMODE, 0);
    b.PutAttrU32(IFLA_MTU, i.mtu);
    b.PutAttrU32(IFLA_MIN_MTU, IsLoopback(i) ? 0 : 68);
    b.PutAttrU32(IFLA_MAX_MTU, IsLoopback(i) ? 0 : 65535);
    b.PutAttrU32(IFLA_GROUP, 0);
    b.PutAttrU32(IFLA_PROMISCUITY, 0);
    b.PutAttrU32(IFLA_NUM_TX_QUEUES, 1);
    b.PutAttrU32(IFLA_NUM_RX_QUEUES, 1);
    b.PutAttrU8(IFLA_CARRIER, (i.flags & IFF_RUNNING) ? 1 : 0);
    // A link that is down has no queueing discipline attached yet (noop).
    b.PutAttrString(IFLA_QDISC, IsLoopback(i) ? "noqueue" : (i.flags & IFF_UP) ? "pfifo_fast" : "noop");
    b.PutAttrU32(IFLA_CARRIER_CHANGES, 0);
    b.PutAttrU8(IFLA_PROTO_DOWN, 0);
    rtnl_link_ifmap map{};
    b.PutAttr(IFLA_MAP, &map, sizeof(map));
    // A loopback has an all-zero Ethernet-sized address (what `ip link` prints for lo).
    std::vector<uint8_t> hw = i.hwaddr;
    if (hw.empty() && IsLoopback(i)) hw.assign(6, 0);
    if (!hw.empty()) {
      b.PutAttr(IFLA_ADDRESS, hw.data(), hw.size());
      std::vector<uint8_t> brd(hw.size(), IsLoopback(i) ? 0 : 0xff);
      b.PutAttr(IFLA_BROADCAST, brd.data(), brd.size());
    }
    rtnl_link_stats64 s64{};
    s64.rx_bytes = i.stats.rx_bytes;
    s64.rx_packets = i.stats.rx_packets;
    s64.rx_errors = i.stats.rx_errors;
    s64.rx_dropped = i.stats.rx_dropped;
    s64.tx_bytes = i.stats.tx_bytes;
    s64.tx_packets = i.stats.tx_packets;
    s64.tx_errors = i.stats.tx_errors;
    s64.tx_dropped = i.stats.tx_dropped;
    b.PutAttr(IFLA_STATS64, &s64, sizeof(s64));
    rtnl_link_stats s32{};
    s32.rx_bytes = static_cast<uint32_t>(s64.rx_bytes);
    s32.rx_packets = static_cast<uint32_t>(s64.rx_packets);
    s32.rx_errors = static_cast<uint32_t>(s64.rx_errors);
    s32.rx_dropped = static_cast<uint32_t>(s64.rx_dropped);
    s32.tx_bytes = static_cast<uint32_t>(s64.tx_bytes);
    s32.tx_packets = static_cast<uint32_t>(s64.tx_packets);
    s32.tx_errors = static_cast<uint32_t>(s64.tx_errors);
    s32.tx_dropped = static_cast<uint32_t>(s64.tx_dropped);
    b.PutAttr(IFLA_STATS, &s32, sizeof(s32));
    out.push_back(std::move(b).Finish());
  }
  return out;
}

std::vector<uint8_t> AddressMessage(const InterfaceAddress& a, const std::vector<Interface>& ifs,
                                    uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid) {
  MessageBuilder b(type, flags, seq, portid);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(a.family);
  ifa.ifa_prefixlen = a.prefix_len;
  ifa.ifa_flags = static_cast<uint8_t>(a.flags);
  ifa.ifa_scope = a.scope;
  ifa.ifa_index = static_cast<uint32_t>(a.index);
  b.PutHeader(ifa);
  size_t len = AddrLen(a.family);
  b.PutAttr(IFA_ADDRESS, a.addr.data(), len);
  const Interface* link = FindInterface(ifs, a.index);
  if (a.family == AF_INET) {
    b.PutAttr(IFA_LOCAL, a.addr.data(), len);
    // A subnet's broadcast address, for the addresses of broadcast links.
    if (link && (link->flags & IFF_BROADCAST) && a.prefix_len < 31) {
      std::array<uint8_t, 16> brd = a.addr;
      for (int bit = a.prefix_len; bit < 32; bit++) brd[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
      b.PutAttr(IFA_BROADCAST, brd.data(), 4);
    }
    if (link) b.PutAttrString(IFA_LABEL, link->name);
  }
  b.PutAttrU32(IFA_FLAGS, a.flags);
  ifa_cacheinfo ci{};
  ci.ifa_prefered = 0xffffffff;
  ci.ifa_valid = 0xffffffff;
  b.PutAttr(IFA_CACHEINFO, &ci, sizeof(ci));
  return std::move(b).Finish();
}

std::vector<uint8_t> RouteMessage(const Route& r, uint16_t type, uint16_t flags, uint32_t seq,
                                  uint32_t portid) {
  MessageBuilder b(type, flags, seq, portid);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(r.family);
  rtm.rtm_dst_len = r.dst_len;
  rtm.rtm_table = r.table;
  rtm.rtm_protocol = r.protocol;
  rtm.rtm_scope = r.scope;
  rtm.rtm_type = r.type;
  b.PutHeader(rtm);
  size_t len = AddrLen(r.family);
  b.PutAttrU32(RTA_TABLE, r.table);
  if (r.dst_len > 0) b.PutAttr(RTA_DST, r.dst.data(), len);
  if (r.metric) b.PutAttrU32(RTA_PRIORITY, r.metric);
  if (r.has_prefsrc) b.PutAttr(RTA_PREFSRC, r.prefsrc.data(), len);
  if (r.has_gateway) b.PutAttr(RTA_GATEWAY, r.gateway.data(), len);
  if (r.oif) b.PutAttrU32(RTA_OIF, static_cast<uint32_t>(r.oif));
  return std::move(b).Finish();
}

Result<Route> LookupRoute(Stack& stack, int family, const std::array<uint8_t, 16>& dst) {
  const int bits = static_cast<int>(AddrLen(family) * 8);
  std::vector<Interface> ifs = stack.Interfaces();
  std::vector<InterfaceAddress> addrs = stack.Addresses();
  std::vector<Route> routes = stack.Routes();
  Route out;
  out.family = family;
  out.dst = dst;
  out.dst_len = static_cast<uint8_t>(bits);

  // Local: one of the sandbox's addresses, a local route, or a loopback subnet (127.0.0.0/8).
  std::optional<InterfaceAddress> local;
  for (const InterfaceAddress& a : addrs) {
    if (a.family == family && SamePrefix(a.addr, dst, bits)) {
      local = a;
      break;
    }
  }
  int local_oif = 0;
  for (const Route& r : routes) {
    if (local || local_oif) break;
    if (r.family == family && r.type == RTN_LOCAL && SamePrefix(r.dst, dst, r.dst_len)) local_oif = r.oif;
  }
  if (!local && !local_oif) {
    for (const InterfaceAddress& a : addrs) {
      const Interface* link = FindInterface(ifs, a.index);
      if (a.family == family && link && IsLoopback(*link) && SamePrefix(a.addr, dst, a.prefix_len)) {
        local = a;
        break;
      }
    }
  }
  if (local || local_oif) {
    out.table = RT_TABLE_LOCAL;
    out.type = RTN_LOCAL;
    out.scope = RT_SCOPE_HOST;
    out.oif = local ? local->index : local_oif;
    out.has_prefsrc = true;
    out.prefsrc = local ? local->addr : dst;
    if (local && SamePrefix(local->addr, dst, bits)) out.prefsrc = dst;
    return out;
  }

  const Route* best = nullptr;
  for (const Route& r : routes) {
    if (r.family != family || r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST) continue;
    if (!SamePrefix(r.dst, dst, r.dst_len)) continue;
    if (!best || r.dst_len > best->dst_len || (r.dst_len == best->dst_len && r.metric < best->metric)) {
      best = &r;
    }
  }
  if (!best) return Errno(ENETUNREACH);
  out.table = RT_TABLE_MAIN;
  out.type = RTN_UNICAST;
  out.scope = RT_SCOPE_UNIVERSE;
  out.oif = best->oif;
  out.has_gateway = best->has_gateway;
  out.gateway = best->gateway;
  out.has_prefsrc = best->has_prefsrc;
  out.prefsrc = best->prefsrc;
  if (!out.has_prefsrc) {
    for (const InterfaceAddress& a : addrs) {
      if (a.family == family && a.index == best->oif) {
        out.has_prefsrc = true;
        out.prefsrc = a.addr;
        break;
      }
    }
  }
  return out;
}

RouteResult HandleRouteRequest(const RouteRequest& req, const MessageView& m) {
  RouteResult r;
  const uint16_t type = m.header.nlmsg_type;
  if (type > RTM_MAX) return Failed(EOPNOTSUPP);
  // Every rtnetlink message starts with at least a family byte; one without is ignored.
  if (m.payload.empty()) return r;
  const bool get = (type - RTM_BASE) % 4 == 2;
  if (!get && !req.net_admin) return Failed(EPERM);
  // A sandbox without a network has nothing to change.
  if (!get && !req.stack) return Failed(EOPNOTSUPP);
  if (get && (m.header.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
    switch (type) {
      case RTM_GETLINK:
        return DumpLinks(req, m);
      case RTM_GETADDR:
        return DumpAddresses(req, m);
      case RTM_GETROUTE:
        return DumpRoutes(req, m);
      case RTM_GETRULE:
        return DumpRules(req, m);
      case RTM_GETNEIGH:
        // No neighbour table to show (the netstack keeps its ARP cache to itself).
        r.dump = true;
        return r;
      default:
        return Failed(EOPNOTSUPP);
    }
  }
  switch (type) {
    case RTM_GETLINK:
      return GetLink(req, m);
    case RTM_GETROUTE:
      return GetRoute(req, m);
    case RTM_NEWADDR:
      return ChangeAddress(req, m, true);
    case RTM_DELADDR:
      return ChangeAddress(req, m, false);
    case RTM_NEWROUTE:
      return ChangeRoute(req, m, true);
    case RTM_DELROUTE:
      return ChangeRoute(req, m, false);
    case RTM_NEWLINK:
    case RTM_SETLINK:
      return ChangeLink(req, m);
    default:
      return Failed(EOPNOTSUPP);
  }
}

}  // namespace moat::sockets::netlink
