#include "runsc/network_takeover.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "base/file_descriptor.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc {
namespace {

using sockets::InterfaceAddress;
using sockets::Route;
using sockets::netstack::LinkConfig;

// A NETLINK_ROUTE socket of the current network namespace, for dumps and single requests.
class Rtnl {
 public:
  absl::Status Open() {
    fd_.Reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd_) return ErrnoStatus("socket(AF_NETLINK, NETLINK_ROUTE)");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
      return ErrnoStatus("bind(NETLINK_ROUTE)");
    }
    return absl::OkStatus();
  }

  // Sends `req` (a header followed by its payload, nlmsg_len set) and calls `each` for every
  // message of the answer until NLMSG_DONE or the ACK. An NLMSG_ERROR with an error becomes a
  // status that says `what`.
  // `ignore`, an errno, counts as success.
  absl::Status Request(nlmsghdr* req, const std::string& what,
                       const std::function<void(const nlmsghdr*)>& each = nullptr,
                       int ignore = 0) {
    req->nlmsg_seq = ++seq_;
    req->nlmsg_flags |= NLM_F_REQUEST;
    if ((req->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP) req->nlmsg_flags |= NLM_F_ACK;
    if (send(fd_.get(), req, req->nlmsg_len, 0) < 0) return ErrnoStatus(what + ": send");
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(what + ": recv");
      }
      int len = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
        if (h->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          if (e->error == 0 || (ignore != 0 && -e->error == ignore)) return absl::OkStatus();
          return ErrnoStatus(what, -e->error);
        }
        if (each) each(h);
      }
    }
  }

 private:
  FileDescriptor fd_;
  uint32_t seq_ = 0;
};

// The attributes of a message whose fixed part is `fixed` bytes long, by type.
std::map<int, const rtattr*> Attributes(const nlmsghdr* h, size_t fixed) {
  std::map<int, const rtattr*> out;
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(fixed));
  for (auto* a = reinterpret_cast<const rtattr*>(static_cast<const char*>(NLMSG_DATA(h)) +
                                                  NLMSG_ALIGN(fixed));
       RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    out[a->rta_type] = a;
  }
  return out;
}

// Copies an address attribute (4 or 16 bytes) into `dst`.
bool CopyAddr(const std::map<int, const rtattr*>& attrs, int type, std::array<uint8_t, 16>& dst) {
  auto it = attrs.find(type);
  if (it == attrs.end()) return false;
  size_t len = std::min<size_t>(RTA_PAYLOAD(it->second), dst.size());
  std::memcpy(dst.data(), RTA_DATA(it->second), len);
  return true;
}

std::string AddrString(int family, const std::array<uint8_t, 16>& a, int prefix) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, a.data(), buf, sizeof(buf));
  return fmt::format("{}/{}", buf, prefix);
}

struct Taken {
  int host_index = 0;
  LinkConfig config;
};

// A request message: header, fixed part and attributes, in one buffer.
struct Msg {
  alignas(nlmsghdr) char buf[512] = {};
  nlmsghdr* h() { return reinterpret_cast<nlmsghdr*>(buf); }
  template <typename T>
  T* Fixed(uint16_t type, uint16_t flags) {
    h()->nlmsg_type = type;
    h()->nlmsg_flags = flags;
    h()->nlmsg_len = NLMSG_LENGTH(sizeof(T));
    return static_cast<T*>(NLMSG_DATA(h()));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    auto* a = reinterpret_cast<rtattr*>(buf + NLMSG_ALIGN(h()->nlmsg_len));
    a->rta_type = type;
    a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(a), data, len);
    h()->nlmsg_len = NLMSG_ALIGN(h()->nlmsg_len) + RTA_ALIGN(a->rta_len);
  }
};

absl::Status ListLinks(Rtnl& nl, std::vector<Taken>& out) {
  Msg m;
  auto* ifi = m.Fixed<ifinfomsg>(RTM_GETLINK, NLM_F_DUMP);
  ifi->ifi_family = AF_UNSPEC;
  return nl.Request(m.h(), "listing the network interfaces (RTM_GETLINK)", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    auto* info = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    auto attrs = Attributes(h, sizeof(ifinfomsg));
    std::string name;
    if (auto it = attrs.find(IFLA_IFNAME); it != attrs.end()) {
      name = static_cast<const char*>(RTA_DATA(it->second));
    }
    if (info->ifi_flags & IFF_LOOPBACK) return;
    if (info->ifi_type != ARPHRD_ETHER) {
      // A tunnel or another kind without Ethernet framing: the netstack drives only Ethernet.
      LOG_WARNING("--network=sandbox: leaving interface {} (type {}) to the host: only Ethernet "
                  "interfaces are taken over", name, info->ifi_type);
      return;
    }
    if ((info->ifi_flags & IFF_UP) == 0) {
      LOG_INFO("--network=sandbox: interface {} is down; not taken over", name);
      return;
    }
    Taken t;
    t.host_index = info->ifi_index;
    t.config.name = name;
    if (auto it = attrs.find(IFLA_ADDRESS);
        it != attrs.end() && RTA_PAYLOAD(it->second) == t.config.mac.size()) {
      std::memcpy(t.config.mac.data(), RTA_DATA(it->second), t.config.mac.size());
    }
    if (auto it = attrs.find(IFLA_MTU); it != attrs.end()) {
      t.config.mtu = *static_cast<const uint32_t*>(RTA_DATA(it->second));
    }
    out.push_back(std::move(t));
  });
}

absl::Status ListAddresses(Rtnl& nl, std::vector<Taken>& links) {
  Msg m;
  auto* ifa = m.Fixed<ifaddrmsg>(RTM_GETADDR, NLM_F_DUMP);
  ifa->ifa_family = AF_UNSPEC;
  return nl.Request(m.h(), "listing the addresses (RTM_GETADDR)", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWADDR) return;
    auto* info = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
    if (info->ifa_family != AF_INET && info->ifa_family != AF_INET6) return;
    for (Taken& t : links) {
      if (t.host_index != static_cast<int>(info->ifa_index)) continue;
      auto attrs = Attributes(h, sizeof(ifaddrmsg));
      InterfaceAddress a;
      a.family = info->ifa_family;
      a.prefix_len = info->ifa_prefixlen;
      a.scope = info->ifa_scope;
      a.flags = info->ifa_flags;
      if (auto it = attrs.find(IFA_FLAGS); it != attrs.end()) {
        a.flags = *static_cast<const uint32_t*>(RTA_DATA(it->second));
      }
      // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on a point-to-point
      // link); IPv6 has only IFA_ADDRESS.
      if (!CopyAddr(attrs, IFA_LOCAL, a.addr) && !CopyAddr(attrs, IFA_ADDRESS, a.addr)) return;
      t.config.addresses.push_back(a);
    }
  });
}

absl::Status ListRoutes(Rtnl& nl, int family, std::vector<Taken>& links) {
  Msg m;
  auto* rt = m.Fixed<rtmsg>(RTM_GETROUTE, NLM_F_DUMP);
  rt->rtm_family = static_cast<unsigned char>(family);
  return nl.Request(m.h(), "listing the routes (RTM_GETROUTE)", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWROUTE) return;
    auto* info = static_cast<const rtmsg*>(NLMSG_DATA(h));
    // The main table's unicast routes; the local table is the addresses', which the netstack
    // derives itself, and multicast routes are the kernel's own.
    if (info->rtm_type != RTN_UNICAST) return;
    auto attrs = Attributes(h, sizeof(rtmsg));
    uint32_t table = info->rtm_table;
    if (auto it = attrs.find(RTA_TABLE); it != attrs.end()) {
      table = *static_cast<const uint32_t*>(RTA_DATA(it->second));
    }
    if (table != RT_TABLE_MAIN) return;
    auto oif = attrs.find(RTA_OIF);
    if (oif == attrs.end()) return;  // multipath routes are not taken over
    int index = *static_cast<const int*>(RTA_DATA(oif->second));
    for (Taken& t : links) {
      if (t.host_index != index) continue;
      Route r;
      r.family = info->rtm_family;
      r.dst_len = info->rtm_dst_len;
      CopyAddr(attrs, RTA_DST, r.dst);
      r.has_gateway = CopyAddr(attrs, RTA_GATEWAY, r.gateway);
      r.has_prefsrc = CopyAddr(attrs, RTA_PREFSRC, r.prefsrc);
      r.table = RT_TABLE_MAIN;
      r.protocol = info->rtm_protocol;
      r.scope = info->rtm_scope;
      r.type = info->rtm_type;
      if (auto it = attrs.find(RTA_PRIORITY); it != attrs.end()) {
        r.metric = *static_cast<const uint32_t*>(RTA_DATA(it->second));
      }
      t.config.routes.push_back(r);
    }
  });
}

absl::Status RemoveAddress(Rtnl& nl, const Taken& t, const InterfaceAddress& a) {
  Msg m;
  auto* ifa = m.Fixed<ifaddrmsg>(RTM_DELADDR, 0);
  ifa->ifa_family = static_cast<unsigned char>(a.family);
  ifa->ifa_prefixlen = a.prefix_len;
  ifa->ifa_index = t.host_index;
  size_t len = a.family == AF_INET ? 4 : 16;
  m.Attr(IFA_LOCAL, a.addr.data(), len);
  m.Attr(IFA_ADDRESS, a.addr.data(), len);
  // The kernel may have removed it already with another (an IPv4 secondary goes with its
  // primary unless promote_secondaries is set): EADDRNOTAVAIL is not an error here.
  return nl.Request(m.h(),
                    fmt::format("interface {}: removing address {} from the host kernel",
                                t.config.name, AddrString(a.family, a.addr, a.prefix_len)),
                    nullptr, EADDRNOTAVAIL);
}

// Stops the host kernel's IPv6 on the interface (it would give it a link-local address again
// and answer neighbour discovery). Best effort: without IPv6 in the host kernel there is
// nothing to stop.
void DisableHostIpv6(const std::string& name) {
  std::string path = "/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6";
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || write(fd.get(), "1", 1) != 1) {
    LOG_INFO("--network=sandbox: could not write {}: {}", path, strerror(errno));
  }
}

// An AF_PACKET socket for every frame of the interface, in and out, with virtio-net headers:
// frames from the host side of a veth may be segmentation-offloaded (larger than the MTU, the
// TCP/UDP checksum left for the "hardware"), and the header says so.
absl::StatusOr<FileDescriptor> OpenPacketSocket(const Taken& t) {
  auto err = [&](const std::string& what) {
    return ErrnoStatus(fmt::format("interface {}: {}", t.config.name, what));
  };
  // Protocol 0 until bound: a socket made for ETH_P_ALL would receive every interface's frames
  // in between.
  FileDescriptor fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return err("socket(AF_PACKET, SOCK_RAW)");
  int one = 1;
  if (setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
    return err("setsockopt(PACKET_VNET_HDR)");
  }
  // Frames this socket sends must not come back to it; older kernels lack the option, and
  // the netstack then drops its own frames by their source address.
#ifdef PACKET_IGNORE_OUTGOING
  setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
  // Straight to the driver: the veth has no queue discipline worth going through.
  setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
  // Room for bursts: frames wait here while the netstack is busy, and the socket's buffer is
  // what bounds them (the kernel drops beyond it, as a NIC's ring would).
  int buf = 4 << 20;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  }
  if (setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = t.host_index;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) {
    return err("bind(AF_PACKET)");
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::vector<LinkConfig>> TakeOverInterfaces() {
  Rtnl nl;
  RETURN_IF_ERROR(nl.Open());
  std::vector<Taken> links;
  RETURN_IF_ERROR(ListLinks(nl, links));
  RETURN_IF_ERROR(ListAddresses(nl, links));
  // Routes before the addresses go: removing an address takes the routes through it along.
  RETURN_IF_ERROR(ListRoutes(nl, AF_INET, links));
  RETURN_IF_ERROR(ListRoutes(nl, AF_INET6, links));
  std::vector<LinkConfig> out;
  for (Taken& t : links) {
    // The packet socket first: from then on no frame is lost to the host kernel's silence.
    ASSIGN_OR_RETURN(FileDescriptor fd, OpenPacketSocket(t));
    for (const InterfaceAddress& a : t.config.addresses) RETURN_IF_ERROR(RemoveAddress(nl, t, a));
    DisableHostIpv6(t.config.name);
    t.config.packet = std::move(fd);
    for (const InterfaceAddress& a : t.config.addresses) {
      LOG_INFO("--network=sandbox: {} {} taken over", t.config.name,
               AddrString(a.family, a.addr, a.prefix_len));
    }
    out.push_back(std::move(t.config));
  }
  return out;
}

}  // namespace moat::runsc
