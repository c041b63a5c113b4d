// The Stack of --network=host: host sockets (host_socket.cc), and the host's interfaces,
// addresses and routes read from its rtnetlink.
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sentry/kernel/task.h"
#include "sentry/socket/hostinet/host_socket.h"
#include "sentry/socket/hostinet/hostinet.h"
#include "sentry/socket/netlink/message.h"

namespace moat::sockets::hostinet {
namespace {

using netlink::Attributes;
using netlink::FixedHeader;
using netlink::MessageView;

// One dump of the host's rtnetlink: every message of type `want`, in order. Empty if the host
// refuses (the sandbox then sees no interfaces rather than failing).
std::vector<std::vector<uint8_t>> HostDump(uint16_t type, uint8_t family) {
  std::vector<std::vector<uint8_t>> out;
  FileDescriptor fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return out;
  struct {
    nlmsghdr h;
    rtgenmsg g;
  } req{};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtgenmsg));
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.g.rtgen_family = family;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd.get(), &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return out;
  }
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    ssize_t n = recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    for (const MessageView& m : netlink::SplitMessages({buf.data(), static_cast<size_t>(n)})) {
      if (m.header.nlmsg_type == NLMSG_DONE || m.header.nlmsg_type == NLMSG_ERROR) return out;
      if (m.header.nlmsg_seq != 1) continue;
      std::vector<uint8_t> whole(NLMSG_HDRLEN + m.payload.size());
      std::memcpy(whole.data(), &m.header, sizeof(m.header));
      std::memcpy(whole.data() + NLMSG_HDRLEN, m.payload.data(), m.payload.size());
      out.push_back(std::move(whole));
    }
  }
}

std::span<const uint8_t> Payload(const std::vector<uint8_t>& msg) {
  return std::span<const uint8_t>(msg).subspan(NLMSG_HDRLEN);
}

void CopyAddr(std::span<const uint8_t> v, size_t len, std::array<uint8_t, 16>* out) {
  if (v.size() >= len) std::copy_n(v.begin(), len, out->begin());
}

class HostStack final : public Stack {
 public:
  Result<RefPtr<Socket>> NewSocket(Task& task, int family, int type, int protocol,
                                   int flags) override {
    if (family != AF_INET && family != AF_INET6) return Errno(EAFNOSUPPORT);
    // Raw sockets would let the application forge packets with the sentry's privileges.
    if (type == SOCK_RAW) return Errno(EPERM);
    FileDescriptor fd(socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    if (!fd) return LastErrno();
    // The protocol the host chose for 0 (SO_PROTOCOL reports it).
    int proto = protocol;
    socklen_t len = sizeof(proto);
    getsockopt(fd.get(), SOL_SOCKET, SO_PROTOCOL, &proto, &len);
    RefPtr<kernel::Credentials> c = task.creds();
    return RefPtr<Socket>(MakeRef<HostSocket>(std::move(fd), family, type, proto, flags, c->fsuid,
                                              c->fsgid, registry_));
  }

  std::vector<Interface> Interfaces() override { return HostInterfaces(); }
  std::vector<InterfaceAddress> Addresses() override { return HostAddresses(); }
  std::vector<Route> Routes() override { return HostRoutes(); }

  std::vector<SocketInfo> Sockets(int protocol) override {
    std::vector<SocketInfo> out;
    for (const RefPtr<HostSocket>& s : registry_->All()) {
      if (s->protocol() != protocol) continue;
      if (std::optional<SocketInfo> info = s->Info()) out.push_back(std::move(*info));
    }
    // Oldest first, as a listing by inode would show them.
    std::sort(out.begin(), out.end(),
              [](const SocketInfo& a, const SocketInfo& b) { return a.inode < b.inode; });
    return out;
  }

 private:
  std::shared_ptr<SocketRegistry> registry_ = std::make_shared<SocketRegistry>();
};

}  // namespace

std::vector<Interface> HostInterfaces() {
  std::vector<Interface> out;
  for (const std::vector<uint8_t>& msg : HostDump(RTM_GETLINK, AF_UNSPEC)) {
    std::optional<ifinfomsg> ifi = FixedHeader<ifinfomsg>(Payload(msg));
    if (!ifi) continue;
    Attributes attrs = netlink::ParseAttributes(Payload(msg), sizeof(ifinfomsg));
    Interface i;
    i.index = ifi->ifi_index;
    i.type = ifi->ifi_type;
    i.flags = ifi->ifi_flags;
    i.name = attrs.String(IFLA_IFNAME).value_or("");
    i.mtu = attrs.U32(IFLA_MTU).value_or(0);
    std::span<const uint8_t> hw = attrs.Get(IFLA_ADDRESS);
    i.hwaddr.assign(hw.begin(), hw.end());
    std::span<const uint8_t> st = attrs.Get(IFLA_STATS64);
    if (st.size() >= sizeof(rtnl_link_stats64)) {
      rtnl_link_stats64 s;
      std::memcpy(&s, st.data(), sizeof(s));
      i.stats = {s.rx_bytes, s.rx_packets, s.rx_errors, s.rx_dropped,
                 s.tx_bytes, s.tx_packets, s.tx_errors, s.tx_dropped};
    }
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<InterfaceAddress> HostAddresses() {
  std::vector<InterfaceAddress> out;
  for (const std::vector<uint8_t>& msg : HostDump(RTM_GETADDR, AF_UNSPEC)) {
    std::optional<ifaddrmsg> ifa = FixedHeader<ifaddrmsg>(Payload(msg));
    if (!ifa || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)) continue;
    Attributes attrs = netlink::ParseAttributes(Payload(msg), sizeof(ifaddrmsg));
    InterfaceAddress a;
    a.index = static_cast<int>(ifa->ifa_index);
    a.family = ifa->ifa_family;
    a.prefix_len = ifa->ifa_prefixlen;
    a.scope = ifa->ifa_scope;
    a.flags = attrs.U32(IFA_FLAGS).value_or(ifa->ifa_flags);
    size_t len = a.family == AF_INET ? 4 : 16;
    CopyAddr(attrs.Has(IFA_LOCAL) ? attrs.Get(IFA_LOCAL) : attrs.Get(IFA_ADDRESS), len, &a.addr);
    out.push_back(a);
  }
  return out;
}

std::vector<Route> HostRoutes() {
  std::vector<Route> out;
  for (const std::vector<uint8_t>& msg : HostDump(RTM_GETROUTE, AF_UNSPEC)) {
    std::optional<rtmsg> rtm = FixedHeader<rtmsg>(Payload(msg));
    if (!rtm || (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)) continue;
    Attributes attrs = netlink::ParseAttributes(Payload(msg), sizeof(rtmsg));
    Route r;
    r.family = rtm->rtm_family;
    size_t len = r.family == AF_INET ? 4 : 16;
    r.dst_len = rtm->rtm_dst_len;
    CopyAddr(attrs.Get(RTA_DST), len, &r.dst);
    r.has_gateway = attrs.Get(RTA_GATEWAY).size() >= len;
    CopyAddr(attrs.Get(RTA_GATEWAY), len, &r.gateway);
    r.has_prefsrc = attrs.Get(RTA_PREFSRC).size() >= len;
    CopyAddr(attrs.Get(RTA_PREFSRC), len, &r.prefsrc);
    r.oif = static_cast<int>(attrs.U32(RTA_OIF).value_or(0));
    r.table = static_cast<uint8_t>(attrs.U32(RTA_TABLE).value_or(rtm->rtm_table));
    r.protocol = rtm->rtm_protocol;
    r.scope = rtm->rtm_scope;
    r.type = rtm->rtm_type;
    r.metric = attrs.U32(RTA_PRIORITY).value_or(0);
    out.push_back(r);
  }
  return out;
}

std::unique_ptr<Stack> NewHostStack() { return std::make_unique<HostStack>(); }

}  // namespace moat::sockets::hostinet
