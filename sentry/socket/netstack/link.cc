#include "sentry/socket/netstack/link.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "base/log.h"
#include "sentry/socket/netstack/core.h"
#include "sentry/socket/netstack/link_tx.h"

extern "C" {
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/ip4.h"
#include "lwip/ip6.h"
#include "lwip/mld6.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "netif/ethernet.h"
}

namespace moat::sockets::netstack {
namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kVnetHeader = sizeof(VnetHeader);
// The largest frame a read takes: a segmentation-offloaded TCP packet is at most 64 KiB of IP.
constexpr size_t kMaxFrame = 65536 + kEthHeader + 64;
// Frames fed to lwIP per core-lock hold: enough to amortize the lock, few enough that task
// threads waiting for it are not starved.
constexpr int kBatch = 32;

std::array<uint8_t, 16> Bytes4(uint32_t network_order) {
  std::array<uint8_t, 16> a{};
  std::memcpy(a.data(), &network_order, 4);
  return a;
}

uint32_t PrefixMask(int len) { return len <= 0 ? 0 : htonl(~uint32_t{0} << (32 - len)); }

// The one's-complement sum of `len` bytes, folded and complemented: what goes in a TCP or UDP
// checksum field whose pseudo-header sum is already there.
uint16_t Checksum(const uint8_t* p, size_t len) {
  uint64_t sum = 0;
  for (; len >= 2; p += 2, len -= 2) sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
  if (len) sum += static_cast<uint32_t>(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

class EthLink final : public Link, public DeferredOutput {
 public:
  explicit EthLink(LinkConfig config)
      : config_(std::move(config)), tx_(config_.packet.get()) {}

  ~EthLink() override {
    if (reader_.joinable()) {
      uint64_t one = 1;
      if (write(stop_.get(), &one, sizeof(one)) != sizeof(one)) {
        LOG_WARNING("netstack: {}: write(stop eventfd): {}", config_.name, strerror(errno));
      }
      reader_.join();
    }
    if (added_) {
      CoreLock l;
      netif_remove(&netif_);
    }
  }

  absl::Status Init() {
    stop_ = FileDescriptor(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_) return absl::InternalError("eventfd: " + std::string(strerror(errno)));
    const InterfaceAddress* v4 = nullptr;
    for (const InterfaceAddress& a : config_.addresses) {
      if (a.family != AF_INET) continue;
      if (v4) {
        // lwIP's netif has one IPv4 address.
        LOG_WARNING("netstack: {}: only the first IPv4 address is used; {}/{} is dropped",
                    config_.name, inet_ntoa(in_addr{LoadU32(a.addr)}), a.prefix_len);
        continue;
      }
      v4 = &a;
    }
    ip4_addr_t addr, mask, gw;
    ip4_addr_set_zero(&addr);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
    if (v4) {
      ip4_addr_set_u32(&addr, LoadU32(v4->addr));
      ip4_addr_set_u32(&mask, PrefixMask(v4->prefix_len));
      v4_prefix_ = v4->prefix_len;
    }
    bool default_v4 = false;
    for (const Route& r : config_.routes) {
      if (r.family == AF_INET && r.dst_len == 0 && r.has_gateway) {
        ip4_addr_set_u32(&gw, LoadU32(r.gateway));
        default_v4 = true;
      }
    }
    CoreLock l;
    if (!netif_add(&netif_, &addr, &mask, &gw, this, &EthLink::NetifInit, ethernet_input)) {
      return absl::InternalError("netif_add(" + config_.name + ") failed");
    }
    added_ = true;
    index_ = netif_get_index(&netif_);
    // IPv6: the link-local address the host kernel had (or, without one, the MAC's), then the
    // configured ones, all usable at once: the host kernel already did duplicate detection.
    const InterfaceAddress* ll = nullptr;
    for (const InterfaceAddress& a : config_.addresses) {
      if (a.family == AF_INET6 && a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80) ll = &a;
    }
    if (ll) {
      ip6_addr_t a;
      std::memcpy(a.addr, ll->addr.data(), 16);
      ip6_addr_clear_zone(&a);
      ip6_addr_assign_zone(&a, IP6_UNICAST, &netif_);
      netif_ip6_addr_set(&netif_, 0, &a);
    } else {
      netif_create_ip6_linklocal_address(&netif_, 1);
    }
    netif_ip6_addr_set_state(&netif_, 0, IP6_ADDR_PREFERRED);
    v6_prefix_[0] = 64;
    for (const InterfaceAddress& a : config_.addresses) {
      if (a.family != AF_INET6 || &a == ll) continue;
      if (a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80) continue;
      ip6_addr_t six;
      std::memcpy(six.addr, a.addr.data(), 16);
      ip6_addr_clear_zone(&six);
      s8_t idx = -1;
      if (netif_add_ip6_address(&netif_, &six, &idx) != ERR_OK || idx < 0) {
        LOG_WARNING("netstack: {}: no room for another IPv6 address; one is dropped",
                    config_.name);
        continue;
      }
      netif_ip6_addr_set_state(&netif_, idx, IP6_ADDR_PREFERRED);
      v6_prefix_[idx] = a.prefix_len;
    }
    netif_set_ip6_autoconfig_enabled(&netif_, 0);
    netif_.rs_count = 0;  // the host configured the interface: no router solicitations
    if (default_v4 || !netif_default) netif_set_default(&netif_);
    netif_set_link_up(&netif_);
    netif_set_up(&netif_);
    // Each address's solicited-node group, so that neighbour solicitations for it reach lwIP
    // (lwIP joins them during duplicate detection, which these addresses skipped).
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      if (!ip6_addr_isvalid(netif_ip6_addr_state(&netif_, i))) continue;
      ip6_addr_t group;
      ip6_addr_set_solicitednode(&group, netif_ip6_addr(&netif_, i)->addr[3]);
      ip6_addr_assign_zone(&group, IP6_MULTICAST, &netif_);
      mld6_joingroup_netif(&netif_, &group);
    }
    return absl::OkStatus();
  }

  // Started after Init, outside the core lock.
  void StartReader() {
    // The reader must never take a signal meant for the sentry or its tasks.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    reader_ = std::thread([this] { ReadLoop(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  Interface Info() override {
    Interface i;
    i.index = index_;
    i.name = config_.name;
    i.type = ARPHRD_ETHER;
    i.flags = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP;
    i.mtu = config_.mtu;
    i.hwaddr.assign(config_.mac.begin(), config_.mac.end());
    i.stats.rx_bytes = rx_bytes_.load(std::memory_order_relaxed);
    i.stats.rx_packets = rx_packets_.load(std::memory_order_relaxed);
    i.stats.rx_dropped = rx_dropped_.load(std::memory_order_relaxed);
    i.stats.tx_bytes = tx_bytes_.load(std::memory_order_relaxed);
    i.stats.tx_packets = tx_packets_.load(std::memory_order_relaxed);
    i.stats.tx_dropped = tx_dropped_.load(std::memory_order_relaxed);
    i.stats.tx_errors = tx_errors_.load(std::memory_order_relaxed);
    return i;
  }

  std::vector<InterfaceAddress> Addresses() override {
    std::vector<InterfaceAddress> out;
    CoreLock l;
    if (!ip4_addr_isany_val(*netif_ip4_addr(&netif_))) {
      InterfaceAddress a;
      a.index = index_;
      a.family = AF_INET;
      a.addr = Bytes4(ip4_addr_get_u32(netif_ip4_addr(&netif_)));
      a.prefix_len = static_cast<uint8_t>(v4_prefix_);
      a.scope = RT_SCOPE_UNIVERSE;
      a.flags = IFA_F_PERMANENT;
      out.push_back(a);
    }
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      if (!ip6_addr_isvalid(netif_ip6_addr_state(&netif_, i))) continue;
      InterfaceAddress a;
      a.index = index_;
      a.family = AF_INET6;
      std::memcpy(a.addr.data(), netif_ip6_addr(&netif_, i)->addr, 16);
      a.prefix_len = static_cast<uint8_t>(v6_prefix_[i] ? v6_prefix_[i] : 64);
      bool link_local = ip6_addr_islinklocal(netif_ip6_addr(&netif_, i));
      a.scope = link_local ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
      a.flags = IFA_F_PERMANENT;
      out.push_back(a);
    }
    return out;
  }

  std::vector<Route> Routes() override {
    std::vector<Route> out;
    for (Route r : config_.routes) {
      r.oif = index_;
      out.push_back(r);
    }
    // Linux's local table for the IPv4 address: the address itself and the subnet's broadcast.
    uint32_t addr = 0;
    {
      CoreLock l;
      addr = ip4_addr_get_u32(netif_ip4_addr(&netif_));
    }
    if (addr != 0) {
      Route local;
      local.family = AF_INET;
      local.dst = Bytes4(addr);
      local.dst_len = 32;
      local.prefsrc = Bytes4(addr);
      local.has_prefsrc = true;
      local.oif = index_;
      local.table = RT_TABLE_LOCAL;
      local.protocol = RTPROT_KERNEL;
      local.scope = RT_SCOPE_HOST;
      local.type = RTN_LOCAL;
      out.push_back(local);
      if (v4_prefix_ < 31) {
        Route bcast = local;
        bcast.dst = Bytes4(addr | ~PrefixMask(v4_prefix_));
        bcast.scope = RT_SCOPE_LINK;
        bcast.type = RTN_BROADCAST;
        out.push_back(bcast);
      }
    }
    return out;
  }

 private:
  static uint32_t LoadU32(const std::array<uint8_t, 16>& a) {
    uint32_t v;
    std::memcpy(&v, a.data(), 4);
    return v;
  }

  static err_t NetifInit(struct netif* n) {
    auto* self = static_cast<EthLink*>(n->state);
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->output = etharp_output;
    n->output_ip6 = ethip6_output;
    n->linkoutput = &EthLink::LinkOutput;
    n->hwaddr_len = ETH_HWADDR_LEN;
    std::memcpy(n->hwaddr, self->config_.mac.data(), ETH_HWADDR_LEN);
    // lwIP's field is 16 bits; a larger MTU (a jumbo veth) is capped, which only means smaller
    // segments.
    n->mtu = static_cast<u16_t>(std::min<uint32_t>(self->config_.mtu, 0xffff));
    n->mtu6 = n->mtu;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP |
               NETIF_FLAG_MLD6;
    return ERR_OK;
  }

  // A whole frame from lwIP (with the core lock held): held back until the holder unlocks,
  // when a thread of ours holds it (tasks, the reader), so that a burst goes out in one
  // sendmmsg with TCP segments merged; sent at once from lwIP's own thread (timers).
  static err_t LinkOutput(struct netif* n, pbuf* p) {
    auto* self = static_cast<EthLink*>(n->state);
    g_core.AssertHeld();
    if (!InCoreMutexHold()) {
      self->Count(self->tx_.SendNow(p));
      return ERR_OK;
    }
    if (self->tx_.Add(p)) {
      self->Flush();
    } else {
      DeferOutput(self);
    }
    return ERR_OK;
  }

  void Flush() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) { Count(tx_.Flush()); }

  void Count(const TxQueue::Sent& s) {
    tx_packets_.fetch_add(s.packets, std::memory_order_relaxed);
    tx_bytes_.fetch_add(s.bytes, std::memory_order_relaxed);
    tx_dropped_.fetch_add(s.dropped, std::memory_order_relaxed);
  }

  void ReadLoop() {
    std::vector<uint8_t> buf(kVnetHeader + kMaxFrame);
    pollfd fds[2] = {{config_.packet.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    std::vector<std::pair<pbuf*, uint16_t>> batch;  // with its ethertype
    batch.reserve(kBatch);
    for (;;) {
      int r = poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        LOG_ERROR("netstack: {}: poll: {}", config_.name, strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      if (fds[0].revents & (POLLERR | POLLNVAL)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(config_.packet.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (fds[0].revents & POLLNVAL) {
          LOG_ERROR("netstack: {}: the packet socket is gone", config_.name);
          return;
        }
        continue;
      }
      // Read what is there (up to a batch), then feed it to lwIP in one hold of the lock.
      while (batch.size() < kBatch) {
        sockaddr_ll from{};
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(config_.packet.get(), buf.data(), buf.size(), MSG_TRUNC | MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &fromlen);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != ENETDOWN) {
            LOG_WARNING("netstack: {}: recv: {}", config_.name, strerror(errno));
          }
          break;
        }
        if (from.sll_pkttype == PACKET_OUTGOING || from.sll_pkttype == PACKET_OTHERHOST) {
          continue;
        }
        if (static_cast<size_t>(n) > buf.size()) {
          rx_dropped_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        uint16_t type = 0;
        pbuf* p = Prepare(buf.data(), static_cast<size_t>(n), type);
        if (!p) {
          rx_dropped_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        batch.emplace_back(p, type);
      }
      if (batch.empty()) continue;
      {
        CoreLock l;
        for (auto [p, type] : batch) Deliver(p, type);
      }
      batch.clear();
    }
  }

  // Checks a frame (virtio-net header first) and copies what lwIP takes into a pbuf: the
  // whole frame for ARP, the IP packet for IPv4 and IPv6 (a segmentation-offloaded packet can
  // be longer than a pbuf's 16-bit length as a frame, never as an IP packet). The pbuf's
  // flags say whether the frame was broadcast or multicast; `type` is set to the ethertype.
  // Returns null for a frame to drop. Everything read from the frame is bounds-checked: it
  // comes from outside the sandbox.
  pbuf* Prepare(uint8_t* data, size_t n, uint16_t& type) {
    if (n < kVnetHeader + kEthHeader) return nullptr;
    VnetHeader vnet;
    std::memcpy(&vnet, data, sizeof(vnet));
    uint8_t* frame = data + kVnetHeader;
    size_t len = n - kVnetHeader;
    // A frame from this interface's own address is one of ours coming back (no
    // PACKET_IGNORE_OUTGOING).
    if (std::memcmp(frame + 6, config_.mac.data(), 6) == 0) return nullptr;
    bool bcast = std::memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) == 0;
    bool mcast = !bcast && (frame[0] & 1);
    if (!bcast && !mcast && std::memcmp(frame, config_.mac.data(), 6) != 0) return nullptr;
    if (vnet.gso_type != kGsoNone) {
      // TCP segmentation offload: one TCP segment larger than the MTU, which lwIP takes as
      // it is. Other offloads (UDP) would merge datagrams: dropped.
      uint8_t kind = vnet.gso_type & static_cast<uint8_t>(~kGsoEcn);
      if (kind != kGsoTcp4 && kind != kGsoTcp6) return nullptr;
    }
    if (vnet.flags & kVnetNeedsCsum) {
      // The checksum was left to the "hardware": the field holds the pseudo-header's sum.
      size_t start = vnet.csum_start, off = vnet.csum_offset;
      if (start < kEthHeader || start + off + 2 > len) return nullptr;
      uint16_t sum = Checksum(frame + start, len - start);
      std::memcpy(frame + start + off, &sum, 2);
    }
    type = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
    const uint8_t* payload = frame + kEthHeader;
    size_t plen = len - kEthHeader;
    pbuf* p = nullptr;
    if (type == ETHTYPE_ARP) {
      if (len > 0xffff) return nullptr;
      p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(len), PBUF_RAM);
      if (p) pbuf_take(p, frame, static_cast<u16_t>(len));
    } else if (type == ETHTYPE_IP || type == ETHTYPE_IPV6) {
      if (plen > 0xffff || !Acceptable(type, payload, plen)) return nullptr;
      p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(plen), PBUF_RAM);
      if (p) pbuf_take(p, payload, static_cast<u16_t>(plen));
    } else {
      return nullptr;  // neither IP nor ARP: nothing here speaks it
    }
    if (!p) return nullptr;
    if (bcast) p->flags |= PBUF_FLAG_LLBCAST;
    if (mcast) p->flags |= PBUF_FLAG_LLMCAST;
    rx_packets_.fetch_add(1, std::memory_order_relaxed);
    rx_bytes_.fetch_add(len, std::memory_order_relaxed);
    return p;
  }

  // Whether an IP packet may go to lwIP: it must be addressed to this interface (lwIP is built
  // as a router, and the sandbox must not forward between interfaces), and never claim to be
  // loopback traffic.
  bool Acceptable(uint16_t type, const uint8_t* ip, size_t len) {
    if (type == ETHTYPE_IP) {
      if (len < 20) return false;
      uint32_t src, dst;
      std::memcpy(&src, ip + 12, 4);
      std::memcpy(&dst, ip + 16, 4);
      if ((ntohl(src) >> 24) == 127 || (ntohl(dst) >> 24) == 127) return false;
      return true;  // lwIP checks the destination itself (its own, broadcast, multicast)
    }
    if (len < 40) return false;
    const uint8_t* src = ip + 8;
    const uint8_t* dst = ip + 24;
    static const uint8_t kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(src, kLoop, 16) == 0 || std::memcmp(dst, kLoop, 16) == 0) return false;
    return true;
  }

  void Deliver(pbuf* p, uint16_t type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    p->if_idx = static_cast<u8_t>(index_);
    err_t err;
    if (type == ETHTYPE_ARP) {
      err = ethernet_input(p, &netif_);
    } else if (type == ETHTYPE_IP) {
      if (!IsForUs4(p)) {
        pbuf_free(p);
        return;
      }
      err = ip4_input(p, &netif_);
    } else {
      if (!IsForUs6(p)) {
        pbuf_free(p);
        return;
      }
      err = ip6_input(p, &netif_);
    }
    if (err != ERR_OK) pbuf_free(p);
  }

  // lwIP forwards what is not for it (it is built with IP_FORWARD): only what the interface
  // accepts goes in. IPv4: its address, a broadcast, multicast (lwIP filters groups).
  bool IsForUs4(pbuf* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    ip4_addr_t dst;
    std::memcpy(&dst.addr, static_cast<uint8_t*>(p->payload) + 16, 4);
    if (ip4_addr_ismulticast(&dst) || ip4_addr_isbroadcast(&dst, &netif_)) return true;
    return ip4_addr_cmp(&dst, netif_ip4_addr(&netif_));
  }

  bool IsForUs6(pbuf* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) {
    const uint8_t* dst = static_cast<uint8_t*>(p->payload) + 24;
    if (dst[0] == 0xff) return true;
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
      if (ip6_addr_isinvalid(netif_ip6_addr_state(&netif_, i))) continue;
      if (std::memcmp(netif_ip6_addr(&netif_, i)->addr, dst, 16) == 0) return true;
    }
    return false;
  }

  LinkConfig config_;
  struct netif netif_ {};
  bool added_ = false;
  int index_ = 0;
  int v4_prefix_ = 0;
  int v6_prefix_[LWIP_IPV6_NUM_ADDRESSES] = {};
  FileDescriptor stop_;
  TxQueue tx_ ABSL_GUARDED_BY(g_core);
  std::thread reader_;
  std::atomic<uint64_t> rx_bytes_{0}, rx_packets_{0}, rx_dropped_{0};
  std::atomic<uint64_t> tx_bytes_{0}, tx_packets_{0}, tx_dropped_{0}, tx_errors_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Link>> Link::Start(LinkConfig config) {
  if (!config.packet) {
    return absl::InvalidArgumentError("interface " + config.name + ": no packet socket");
  }
  StartLwip();
  auto link = std::make_unique<EthLink>(std::move(config));
  if (absl::Status s = link->Init(); !s.ok()) return s;
  link->StartReader();
  return std::unique_ptr<Link>(std::move(link));
}

}  // namespace moat::sockets::netstack
