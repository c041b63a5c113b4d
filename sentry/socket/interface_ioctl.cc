#include "sentry/socket/interface_ioctl.h"

#include <linux/capability.h>
#include <linux/sockios.h>
#include <netinet/in.h>

#include <cstring>
#include <optional>
#include <string>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"

namespace moat::sockets {
namespace {

constexpr int kDefaultTxQueueLen = 1000;

std::vector<Interface> InterfacesOf(Stack* stack) {
  return stack ? stack->Interfaces() : std::vector<Interface>{};
}

std::optional<Interface> ByName(Stack* stack, const std::string& name) {
  for (Interface& i : InterfacesOf(stack)) {
    if (i.name == name) return i;
  }
  return std::nullopt;
}

sockaddr_in Inet(const std::array<uint8_t, 16>& addr) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  std::memcpy(&sin.sin_addr, addr.data(), 4);
  return sin;
}

// The IPv4 address (the first, which Linux calls the primary) of the interface `name` names.
// An alias label ("eth0:1") names the interface before the colon and an address with that
// label, which the sandbox's addresses never have.
Result<InterfaceAddress> Ipv4AddressOf(Stack* stack, const std::string& name) {
  std::string dev = name.substr(0, name.find(':'));
  std::optional<Interface> link = ByName(stack, dev);
  if (!link) return Errno(ENODEV);
  if (dev != name) return Errno(EADDRNOTAVAIL);
  for (const InterfaceAddress& a : stack->Addresses()) {
    if (a.family == AF_INET && a.index == link->index) return a;
  }
  return Errno(EADDRNOTAVAIL);
}

}  // namespace

bool IsInterfaceIoctl(uint64_t cmd) {
  switch (cmd) {
    case SIOCGIFCONF:
    case SIOCGIFNAME:
    case SIOCGIFINDEX:
    case SIOCGIFFLAGS:
    case SIOCSIFFLAGS:
    case SIOCGIFMTU:
    case SIOCGIFHWADDR:
    case SIOCGIFTXQLEN:
    case SIOCGIFMETRIC:
    case SIOCGIFMAP:
    case SIOCGIFADDR:
    case SIOCGIFNETMASK:
    case SIOCGIFBRDADDR:
    case SIOCGIFDSTADDR:
      return true;
    default:
      return false;
  }
}

Result<void> InterfaceRequest(Stack* stack, int family, uint64_t cmd, ifreq& req) {
  const std::string name(req.ifr_name);
  switch (cmd) {
    case SIOCGIFNAME: {
      for (const Interface& i : InterfacesOf(stack)) {
        if (i.index == req.ifr_ifindex) {
          std::memset(req.ifr_name, 0, sizeof(req.ifr_name));
          std::strncpy(req.ifr_name, i.name.c_str(), IFNAMSIZ - 1);
          return Ok();
        }
      }
      return Errno(ENODEV);
    }
    case SIOCGIFADDR:
    case SIOCGIFNETMASK:
    case SIOCGIFBRDADDR:
    case SIOCGIFDSTADDR: {
      if (family != AF_INET) return Errno(ENOTTY);
      InterfaceAddress a = TRY(Ipv4AddressOf(stack, name));
      std::array<uint8_t, 16> mask{};
      for (int bit = 0; bit < a.prefix_len && bit < 32; bit++) {
        mask[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
      }
      std::array<uint8_t, 16> v = a.addr;
      if (cmd == SIOCGIFNETMASK) v = mask;
      if (cmd == SIOCGIFBRDADDR) {
        // The subnet's broadcast address, which only broadcast links' addresses have (as the
        // address dump's IFA_BROADCAST).
        std::optional<Interface> link = ByName(stack, name);
        if (link && (link->flags & IFF_BROADCAST) && a.prefix_len < 31) {
          for (int b = 0; b < 4; b++) v[b] = static_cast<uint8_t>(a.addr[b] | ~mask[b]);
        } else {
          v.fill(0);
        }
      }
      sockaddr_in sin = Inet(v);
      std::memcpy(&req.ifr_addr, &sin, sizeof(sin));
      return Ok();
    }
    default:
      break;
  }
  std::optional<Interface> link = ByName(stack, name);
  if (!link) return Errno(ENODEV);
  switch (cmd) {
    case SIOCGIFINDEX:
      req.ifr_ifindex = link->index;
      return Ok();
    case SIOCGIFFLAGS:
      // What dev_get_flags gives, in a short: the carrier bit (IFF_LOWER_UP) does not fit.
      req.ifr_flags = static_cast<short>(link->flags & 0xffff);
      return Ok();
    case SIOCSIFFLAGS:
      return stack->SetInterfaceFlags(link->index, static_cast<uint16_t>(req.ifr_flags), 0xffff);
    case SIOCGIFMTU:
      req.ifr_mtu = static_cast<int>(link->mtu);
      return Ok();
    case SIOCGIFHWADDR:
      std::memset(&req.ifr_hwaddr, 0, sizeof(req.ifr_hwaddr));
      req.ifr_hwaddr.sa_family = link->type;
      std::memcpy(req.ifr_hwaddr.sa_data, link->hwaddr.data(),
                  std::min(link->hwaddr.size(), sizeof(req.ifr_hwaddr.sa_data)));
      return Ok();
    case SIOCGIFTXQLEN:
      req.ifr_qlen = kDefaultTxQueueLen;
      return Ok();
    case SIOCGIFMETRIC:
      req.ifr_metric = 0;
      return Ok();
    case SIOCGIFMAP:
      std::memset(&req.ifr_map, 0, sizeof(req.ifr_map));
      return Ok();
    default:
      return Errno(ENOTTY);
  }
}

std::vector<ifreq> InterfaceConfig(Stack* stack) {
  std::vector<ifreq> out;
  if (!stack) return out;
  std::vector<InterfaceAddress> addrs = stack->Addresses();
  for (const Interface& i : stack->Interfaces()) {
    for (const InterfaceAddress& a : addrs) {
      if (a.family != AF_INET || a.index != i.index) continue;
      ifreq r{};
      std::strncpy(r.ifr_name, i.name.c_str(), IFNAMSIZ - 1);
      sockaddr_in sin = Inet(a.addr);
      std::memcpy(&r.ifr_addr, &sin, sizeof(sin));
      out.push_back(r);
    }
  }
  return out;
}

Result<long> InterfaceIoctl(Task& task, int family, uint64_t cmd, UserAddr arg) {
  if (!IsInterfaceIoctl(cmd)) return Errno(ENOTTY);
  Stack* stack = task.kernel().network();
  if (cmd == SIOCGIFCONF) {
    ifconf ifc = TRY(task.CopyInObj<ifconf>(arg));
    std::vector<ifreq> all = InterfaceConfig(stack);
    UserAddr buf(reinterpret_cast<uint64_t>(ifc.ifc_buf));
    size_t done = 0;
    if (buf.IsNull()) {
      done = all.size() * sizeof(ifreq);
    } else {
      size_t room = ifc.ifc_len > 0 ? static_cast<size_t>(ifc.ifc_len) : 0;
      for (const ifreq& r : all) {
        if (room - done < sizeof(ifreq)) break;
        RETURN_IF_ERRNO(task.CopyOut(buf + done, &r, sizeof(r)));
        done += sizeof(r);
      }
    }
    ifc.ifc_len = static_cast<int>(done);
    RETURN_IF_ERRNO(task.CopyOut(arg + offsetof(ifconf, ifc_len), &ifc.ifc_len, sizeof(int)));
    return 0;
  }
  ifreq req = TRY(task.CopyInObj<ifreq>(arg));
  req.ifr_name[IFNAMSIZ - 1] = '\0';
  if (cmd == SIOCSIFFLAGS && !task.creds()->HasCap(CAP_NET_ADMIN)) return Errno(EPERM);
  RETURN_IF_ERRNO(InterfaceRequest(stack, family, cmd, req));
  if (cmd != SIOCSIFFLAGS) RETURN_IF_ERRNO(task.CopyOutObj(arg, req));
  return 0;
}

}  // namespace moat::sockets
