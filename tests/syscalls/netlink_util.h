// Helpers for the conformance programs that speak rtnetlink (netlink_test.cc, netif_test.cc):
// a route socket, requests, and the dumps' replies parsed into plain structs. Plain system calls
// only, so that the same code runs natively and in the sandbox.
#ifndef MOAT_TESTS_SYSCALLS_NETLINK_UTIL_H_
#define MOAT_TESTS_SYSCALLS_NETLINK_UTIL_H_

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// One netlink message as received: its header and its payload (after the header).
struct NlMessage {
  nlmsghdr hdr;
  std::vector<uint8_t> payload;

  template <typename T>
  T As() const {
    T v{};
    std::memcpy(&v, payload.data(), std::min(sizeof(T), payload.size()));
    return v;
  }
  // The attributes after a fixed header of `fixed` bytes (rtattr / nlattr have the same layout).
  std::map<int, std::vector<uint8_t>> Attrs(size_t fixed) const {
    std::map<int, std::vector<uint8_t>> out;
    size_t off = NLMSG_ALIGN(fixed);
    while (off + sizeof(rtattr) <= payload.size()) {
      rtattr a;
      std::memcpy(&a, payload.data() + off, sizeof(a));
      if (a.rta_len < sizeof(rtattr) || off + a.rta_len > payload.size()) break;
      out[a.rta_type & NLA_TYPE_MASK].assign(payload.begin() + off + RTA_LENGTH(0),
                                             payload.begin() + off + a.rta_len);
      off += RTA_ALIGN(a.rta_len);
    }
    return out;
  }
  int Error() const { return As<nlmsgerr>().error; }
};

// Splits one datagram into its messages.
inline std::vector<NlMessage> ParseDatagram(const uint8_t* buf, size_t len) {
  std::vector<NlMessage> out;
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= len) {
    nlmsghdr h;
    std::memcpy(&h, buf + off, sizeof(h));
    if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > len) {
      ADD_FAILURE() << "malformed netlink message at offset " << off << " (len " << h.nlmsg_len
                    << " of " << len << ")";
      break;
    }
    NlMessage m;
    m.hdr = h;
    m.payload.assign(buf + off + NLMSG_HDRLEN, buf + off + h.nlmsg_len);
    out.push_back(std::move(m));
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  return out;
}

// A NETLINK_ROUTE socket, bound (autobind) so that its port id is known.
class RouteSocket {
 public:
  RouteSocket() {
    fd_.reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd_.valid()) {
      ADD_FAILURE() << "socket(AF_NETLINK): " << ErrnoString(errno);
      return;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      ADD_FAILURE() << "bind(AF_NETLINK): " << ErrnoString(errno);
    socklen_t len = sizeof(addr);
    if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      ADD_FAILURE() << "getsockname(AF_NETLINK): " << ErrnoString(errno);
    port_ = addr.nl_pid;
  }

  int fd() const { return fd_.get(); }
  uint32_t port() const { return port_; }

  // Sends a request: a header of `type` and `flags` (NLM_F_REQUEST added), then `payload`.
  // Returns its sequence number.
  uint32_t Send(uint16_t type, uint16_t flags, const void* payload, size_t len) {
    std::vector<uint8_t> buf(NLMSG_SPACE(len));
    nlmsghdr h{};
    h.nlmsg_len = NLMSG_LENGTH(len);
    h.nlmsg_type = type;
    h.nlmsg_flags = flags | NLM_F_REQUEST;
    h.nlmsg_seq = ++seq_;
    std::memcpy(buf.data(), &h, sizeof(h));
    if (len) std::memcpy(buf.data() + NLMSG_HDRLEN, payload, len);
    ssize_t n = send(fd_.get(), buf.data(), h.nlmsg_len, 0);
    if (n != static_cast<ssize_t>(h.nlmsg_len))
      ADD_FAILURE() << "send(netlink): " << n << " " << ErrnoString(errno);
    return h.nlmsg_seq;
  }

  // Receives one datagram (blocking) and splits it.
  std::vector<NlMessage> RecvOne(int flags = 0) {
    std::vector<uint8_t> buf(1 << 16);
    ssize_t n = recv(fd_.get(), buf.data(), buf.size(), flags);
    if (n < 0) {
      ADD_FAILURE() << "recv(netlink): " << ErrnoString(errno);
      return {};
    }
    return ParseDatagram(buf.data(), static_cast<size_t>(n));
  }

  // Receives the replies of a dump up to and including NLMSG_DONE (or an NLMSG_ERROR), checking
  // that every message carries the request's sequence number, this socket's port id and
  // NLM_F_MULTI. The DONE (or error) is the last message returned.
  std::vector<NlMessage> RecvDump(uint32_t seq) {
    std::vector<NlMessage> out;
    for (int datagrams = 0; datagrams < 1000; datagrams++) {
      std::vector<NlMessage> part = RecvOne();
      if (part.empty()) return out;
      for (NlMessage& m : part) {
        EXPECT_EQ(m.hdr.nlmsg_seq, seq);
        EXPECT_EQ(m.hdr.nlmsg_pid, port_);
        bool last = m.hdr.nlmsg_type == NLMSG_DONE || m.hdr.nlmsg_type == NLMSG_ERROR;
        if (m.hdr.nlmsg_type != NLMSG_ERROR) {
          EXPECT_TRUE(m.hdr.nlmsg_flags & NLM_F_MULTI);
        }
        out.push_back(std::move(m));
        if (last) return out;
      }
    }
    ADD_FAILURE() << "no NLMSG_DONE";
    return out;
  }

  // A whole dump of `type` for `family`, without the final NLMSG_DONE (checked).
  // The request is a bare rtgenmsg (as glibc sends), or `header` (what strict checking wants).
  std::vector<NlMessage> Dump(uint16_t type, uint8_t family, const void* header = nullptr,
                              size_t header_len = 0) {
    rtgenmsg g{};
    g.rtgen_family = family;
    uint32_t seq = header ? Send(type, NLM_F_DUMP, header, header_len)
                          : Send(type, NLM_F_DUMP, &g, sizeof(g));
    std::vector<NlMessage> all = RecvDump(seq);
    if (all.empty() || all.back().hdr.nlmsg_type != NLMSG_DONE) {
      ADD_FAILURE() << "dump of type " << type << " did not end with NLMSG_DONE";
      return all;
    }
    all.pop_back();
    return all;
  }

 private:
  FileDescriptor fd_;
  uint32_t port_ = 0;
  uint32_t seq_ = 1000;
};

// What a link dump says of one interface.
struct LinkInfo {
  int index = 0;
  std::string name;
  uint16_t type = 0;
  uint32_t flags = 0;
  uint32_t mtu = 0;
};

inline std::vector<LinkInfo> DumpLinks(RouteSocket& s) {
  std::vector<LinkInfo> out;
  for (const NlMessage& m : s.Dump(RTM_GETLINK, AF_UNSPEC)) {
    EXPECT_EQ(m.hdr.nlmsg_type, RTM_NEWLINK);
    ifinfomsg ifi = m.As<ifinfomsg>();
    auto attrs = m.Attrs(sizeof(ifinfomsg));
    LinkInfo l;
    l.index = ifi.ifi_index;
    l.type = ifi.ifi_type;
    l.flags = ifi.ifi_flags;
    if (attrs.count(IFLA_IFNAME)) l.name = reinterpret_cast<const char*>(attrs[IFLA_IFNAME].data());
    if (attrs.count(IFLA_MTU) && attrs[IFLA_MTU].size() >= 4)
      std::memcpy(&l.mtu, attrs[IFLA_MTU].data(), 4);
    out.push_back(l);
  }
  return out;
}

// What an address dump says of one address.
struct AddrInfo {
  int family = 0;
  int index = 0;
  int prefix_len = 0;
  int scope = 0;
  std::string addr;  // inet_ntop's text
};

inline std::vector<AddrInfo> DumpAddrs(RouteSocket& s, uint8_t family) {
  std::vector<AddrInfo> out;
  for (const NlMessage& m : s.Dump(RTM_GETADDR, family)) {
    EXPECT_EQ(m.hdr.nlmsg_type, RTM_NEWADDR);
    ifaddrmsg ifa = m.As<ifaddrmsg>();
    auto attrs = m.Attrs(sizeof(ifaddrmsg));
    AddrInfo a;
    a.family = ifa.ifa_family;
    a.index = static_cast<int>(ifa.ifa_index);
    a.prefix_len = ifa.ifa_prefixlen;
    a.scope = ifa.ifa_scope;
    int key = attrs.count(IFA_LOCAL) ? IFA_LOCAL : IFA_ADDRESS;
    char text[INET6_ADDRSTRLEN] = {};
    if (attrs.count(key)) inet_ntop(a.family, attrs[key].data(), text, sizeof(text));
    a.addr = text;
    out.push_back(a);
  }
  return out;
}

// Whether the sandbox (or host) has IPv6 on its loopback: ::1 can be bound.
inline bool HasIpv6Loopback() {
  FileDescriptor s(socket(AF_INET6, SOCK_DGRAM, 0));
  if (!s.valid()) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  return bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_NETLINK_UTIL_H_
