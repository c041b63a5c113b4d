#include "sentry/socket/proc_net.h"

#include <linux/rtnetlink.h>
#include <net/route.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "sentry/socket/unix/unix.h"

namespace moat::sockets {
namespace {

// Linux pads the lines of some files to a fixed width (seq_setwidth and seq_pad), less the
// newline: 149 for tcp, 127 for udp and route.
std::string Padded(std::string line, size_t width) {
  if (line.size() < width) line.append(width - line.size(), ' ');
  line.push_back('\n');
  return line;
}

// An address as /proc/net shows it: each 32-bit word as the host reads it from memory
// (little-endian), in upper-case hex.
std::string HexWords(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t w;
    std::memcpy(&w, bytes + i, 4);
    absl::StrAppendFormat(&out, "%08X", w);
  }
  return out;
}

// "ADDR:PORT" of a socket address of `family` (zeros for none).
std::string HexEndpoint(const SockAddr& a, int family) {
  uint8_t addr[16] = {};
  uint16_t port = 0;
  size_t len = family == AF_INET ? 4 : 16;
  if (family == AF_INET && a.family() == AF_INET && a.len >= sizeof(sockaddr_in)) {
    const sockaddr_in& sin = a.as<sockaddr_in>();
    std::memcpy(addr, &sin.sin_addr, 4);
    port = ntohs(sin.sin_port);
  } else if (family == AF_INET6 && a.family() == AF_INET6 && a.len >= sizeof(sockaddr_in6)) {
    const sockaddr_in6& sin6 = a.as<sockaddr_in6>();
    std::memcpy(addr, &sin6.sin6_addr, 16);
    port = ntohs(sin6.sin6_port);
  }
  return absl::StrFormat("%s:%04X", HexWords(addr, len), port);
}

std::string LowerHex(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) absl::StrAppendFormat(&out, "%02x", bytes[i]);
  return out;
}

std::string NameOf(const std::vector<Interface>& ifs, int index) {
  for (const Interface& i : ifs) {
    if (i.index == index) return i.name;
  }
  return "*";
}

// The IPv6 scope bits if_inet6 shows (IPV6_ADDR_LOOPBACK, LINKLOCAL, SITELOCAL) for a route
// scope.
int Ipv6ScopeBits(uint8_t scope) {
  switch (scope) {
    case RT_SCOPE_HOST:
      return 0x10;
    case RT_SCOPE_LINK:
      return 0x20;
    case RT_SCOPE_SITE:
      return 0x40;
    default:
      return 0;
  }
}


constexpr int kTcpListen = 10;  // TCP_LISTEN
constexpr int kTcpEstablished = 1;

}  // namespace

const std::vector<std::string>& ProcNetFiles() {
  static const std::vector<std::string> names = {"dev",  "if_inet6", "ipv6_route", "route", "snmp",
                                                 "tcp",  "tcp6",     "udp",        "udp6",  "unix"};
  return names;
}

std::string ProcNetFile(Stack* stack, std::string_view name) {
  auto interfaces = [&] { return stack ? stack->Interfaces() : std::vector<Interface>{}; };
  auto sockets = [&](int protocol) {
    return stack ? stack->Sockets(protocol) : std::vector<SocketInfo>{};
  };
  if (name == "dev") return ProcNetDev(interfaces());
  if (name == "tcp") return ProcNetSockets(sockets(IPPROTO_TCP), AF_INET, IPPROTO_TCP);
  if (name == "tcp6") return ProcNetSockets(sockets(IPPROTO_TCP), AF_INET6, IPPROTO_TCP);
  if (name == "udp") return ProcNetSockets(sockets(IPPROTO_UDP), AF_INET, IPPROTO_UDP);
  if (name == "udp6") return ProcNetSockets(sockets(IPPROTO_UDP), AF_INET6, IPPROTO_UDP);
  if (name == "if_inet6") {
    return ProcNetIfInet6(stack ? stack->Addresses() : std::vector<InterfaceAddress>{},
                          interfaces());
  }
  if (name == "route" || name == "ipv6_route") {
    std::vector<Route> routes = stack ? stack->Routes() : std::vector<Route>{};
    return name == "route" ? ProcNetRoute(routes, interfaces())
                           : ProcNetIpv6Route(routes, interfaces());
  }
  if (name == "snmp") return ProcNetSnmp(sockets(IPPROTO_TCP));
  if (name == "unix") return ProcNetUnix();  // the sandbox's AF_UNIX sockets, whatever the Stack
  return "";
}

std::string ProcNetDev(const std::vector<Interface>& ifs) {
  std::string out =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  for (const Interface& i : ifs) {
    const Interface::Counters& s = i.stats;
    absl::StrAppendFormat(&out,
                          "%6s:%8u %7u %4u %4u %4u %5u %10u %9u %8u %7u %4u %4u %4u %5u %7u %10u\n",
                          i.name, s.rx_bytes, s.rx_packets, s.rx_errors, s.rx_dropped, 0, 0, 0, 0,
                          s.tx_bytes, s.tx_packets, s.tx_errors, s.tx_dropped, 0, 0, 0, 0);
  }
  return out;
}

std::string ProcNetSockets(const std::vector<SocketInfo>& sockets, int family, int protocol) {
  const bool tcp = protocol == IPPROTO_TCP;
  const bool v4 = family == AF_INET;
  std::string out;
  if (v4) {
    out = tcp ? Padded("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                       "retrnsmt   uid  timeout inode",
                       149)
              : Padded("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                       "retrnsmt   uid  timeout inode ref pointer drops",
                       127);
  } else {
    out = tcp ? "  sl  local_address                         remote_address                        "
                "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
              : "  sl  local_address                         remote_address                        "
                "st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer "
                "drops\n";
  }
  int sl = 0;
  for (const SocketInfo& s : sockets) {
    if (s.family != family || s.protocol != protocol) continue;
    std::string line = absl::StrFormat(
        tcp ? "%4d: %s %s %02X %08X:%08X 00:00000000 00000000 %5u %8d %u "
            : "%5d: %s %s %02X %08X:%08X 00:00000000 00000000 %5u %8d %u ",
        sl++, HexEndpoint(s.local, family), HexEndpoint(s.remote, family), s.state, s.tx_queue,
        s.rx_queue, s.uid, 0, s.inode);
    if (tcp) {
      // refcount, the (hidden) pointer, rto, ato, quick ack and ping-pong, cwnd, ssthresh.
      line += s.state == kTcpListen ? "1 0000000000000000 100 0 0 10 0"
                                    : "1 0000000000000000 20 4 30 10 -1";
    } else {
      line += "2 0000000000000000 0";  // refcount, pointer, drops
    }
    out += v4 ? Padded(line, tcp ? 149 : 127) : line + "\n";
  }
  return out;
}

std::string ProcNetIfInet6(const std::vector<InterfaceAddress>& addrs,
                           const std::vector<Interface>& ifs) {
  std::string out;
  for (const InterfaceAddress& a : addrs) {
    if (a.family != AF_INET6) continue;
    absl::StrAppendFormat(&out, "%s %02x %02x %02x %02x %8s\n", LowerHex(a.addr.data(), 16),
                          a.index, a.prefix_len, Ipv6ScopeBits(a.scope), a.flags & 0xff,
                          NameOf(ifs, a.index));
  }
  return out;
}

std::string ProcNetRoute(const std::vector<Route>& routes, const std::vector<Interface>& ifs) {
  std::string out = Padded(
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT", 127);
  for (const Route& r : routes) {
    // The main table's IPv4 routes, without broadcast and multicast ones (fib_route_seq_show).
    if (r.family != AF_INET || r.table != RT_TABLE_MAIN || r.type == RTN_BROADCAST ||
        r.type == RTN_MULTICAST) {
      continue;
    }
    uint8_t mask[4] = {};
    for (int bit = 0; bit < r.dst_len && bit < 32; bit++) {
      mask[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    }
    unsigned flags = RTF_UP;
    if (r.type == RTN_UNREACHABLE || r.type == RTN_PROHIBIT) flags |= RTF_REJECT;
    if (r.has_gateway) flags |= RTF_GATEWAY;
    if (r.dst_len == 32) flags |= RTF_HOST;
    uint8_t none[4] = {};
    out += Padded(absl::StrFormat("%s\t%s\t%s\t%04X\t%d\t%u\t%d\t%s\t%d\t%u\t%u",
                                  NameOf(ifs, r.oif), HexWords(r.dst.data(), 4),
                                  HexWords(r.has_gateway ? r.gateway.data() : none, 4), flags, 0,
                                  0, static_cast<int>(r.metric), HexWords(mask, 4), 0, 0, 0),
                  127);
  }
  return out;
}

std::string ProcNetIpv6Route(const std::vector<Route>& routes, const std::vector<Interface>& ifs) {
  std::string out;
  uint8_t none[16] = {};
  for (const Route& r : routes) {
    if (r.family != AF_INET6) continue;
    unsigned flags = RTF_UP;
    if (r.has_gateway) flags |= RTF_GATEWAY;
    if (r.dst_len == 128) flags |= RTF_HOST;
    if (r.type == RTN_UNREACHABLE || r.type == RTN_PROHIBIT) flags |= RTF_REJECT;
    absl::StrAppendFormat(&out, "%s %02x %s %02x %s %08x %08x %08x %08x %8s\n",
                          LowerHex(r.dst.data(), 16), r.dst_len, LowerHex(none, 16), 0,
                          LowerHex(r.has_gateway ? r.gateway.data() : none, 16), r.metric, 1, 0,
                          flags, NameOf(ifs, r.oif));
  }
  return out;
}

std::string ProcNetSnmp(const std::vector<SocketInfo>& tcp) {
  int established = 0;
  for (const SocketInfo& s : tcp) {
    if (s.state == kTcpEstablished) established++;
  }
  // The counters the sandbox does not keep read as zero, as on a freshly booted host.
  struct Group {
    const char* name;
    const char* fields;
    std::string values;
  };
  auto zeros = [](int n) {
    std::string s;
    for (int i = 0; i < n; i++) s += " 0";
    return s;
  };
  const Group groups[] = {
      {"Ip", "Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams "
             "InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes "
             "ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates "
             "OutTransmits",
       " 2 64" + zeros(18)},
      {"Icmp", "InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs "
               "InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps "
               "InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal "
               "OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs "
               "OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks "
               "OutAddrMaskReps",
       zeros(29)},
      {"Tcp", "RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
              "EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors",
       " 1 200 120000 -1" + zeros(4) + " " + std::to_string(established) + zeros(6)},
      {"Udp", "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors "
              "InCsumErrors IgnoredMulti MemErrors",
       zeros(9)},
      {"UdpLite", "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors "
                  "InCsumErrors IgnoredMulti MemErrors",
       zeros(9)},
  };
  std::string out;
  for (const Group& g : groups) {
    absl::StrAppendFormat(&out, "%s: %s\n%s:%s\n", g.name, g.fields, g.name, g.values);
  }
  return out;
}

}  // namespace moat::sockets
