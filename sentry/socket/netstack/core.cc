#include "sentry/socket/netstack/core.h"

#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <mutex>

extern "C" {
#include "lwip/init.h"
#include "lwip/prot/ip4.h"
#include "lwip/sys.h"
}

namespace moat::sockets::netstack {

CoreMutex g_core;

namespace {

// A zero-length pbuf per netif, put at the head of the netif's loop list while a task thread
// holds the lock. netif_loop_output asks tcpip_thread to process the list only when it finds
// it empty, so with the sentinel in place no loopback packet costs a thread wake-up: Unlock()
// delivers them (lwIP's list is guarded by the core lock, which Lock() holds). Indexed by
// netif->num.
pbuf* g_sentinel[256];

pbuf* Sentinel(struct netif* n) {
  pbuf*& s = g_sentinel[n->num];
  if (!s) s = pbuf_alloc(PBUF_RAW, 0, PBUF_RAM);
  return s;
}

// Delivers the packets queued behind the sentinel, then takes the sentinel out. Each delivery
// may queue more (an ACK, a reply): they land behind the sentinel too.
bool DeliverBehindSentinel(struct netif* n) {
  pbuf* s = g_sentinel[n->num];
  if (!s || n->loop_first != s) return false;
  bool any = false;
  while (s->next) {
    pbuf* in = s->next;
    pbuf* end = in;
    while (end->len != end->tot_len) end = end->next;  // the packet's last pbuf
    s->next = end->next;
    if (n->loop_last == end) n->loop_last = s;
    end->next = nullptr;
    in->if_idx = netif_get_index(n);
    if (ip_input(in, n) != ERR_OK) pbuf_free(in);
    any = true;
  }
  n->loop_first = n->loop_last = nullptr;
  return any;
}

thread_local bool t_in_hold = false;
// The netifs with frames held back in this hold (guarded by the core lock).
std::vector<DeferredOutput*> g_deferred;

}  // namespace

bool InCoreMutexHold() { return t_in_hold; }

void DeferOutput(DeferredOutput* out) {
  for (DeferredOutput* d : g_deferred) {
    if (d == out) return;
  }
  g_deferred.push_back(out);
}

void CoreMutex::Lock() {
  sys_lock_tcpip_core();
  t_in_hold = true;
  struct netif* n;
  NETIF_FOREACH(n) {
    if (n->loop_first == nullptr) {
      pbuf* s = Sentinel(n);
      if (s) {
        s->next = nullptr;
        n->loop_first = n->loop_last = s;
      }
    }
  }
}

void CoreMutex::Unlock() {
  // Loopback packets sent while the lock was held: deliver them here, in this thread. A list
  // that was not empty when the lock was taken (tcpip_thread is about to process it) is
  // processed the ordinary way.
  for (bool again = true; again;) {
    again = false;
    struct netif* n;
    NETIF_FOREACH(n) {
      if (DeliverBehindSentinel(n)) {
        again = true;
      } else if (n->loop_first != nullptr && n->loop_first != g_sentinel[n->num]) {
        netif_poll(n);
        again = true;
      }
    }
  }
  // Frames held back by Ethernet links: out now, before another thread may run lwIP. A flush
  // only writes to the link, so it queues nothing for loopback.
  for (size_t i = 0; i < g_deferred.size(); i++) g_deferred[i]->Flush();
  g_deferred.clear();
  t_in_hold = false;
  sys_unlock_tcpip_core();
}

void StartLwip() {
  static std::once_flag once;
  std::call_once(once, [] {
    // tcpip_thread must never take a signal meant for the sentry or its tasks: it starts with
    // every signal blocked (threads inherit the creator's mask).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    sys_sem_t done;
    sys_sem_new(&done, 0);
    tcpip_init([](void* arg) { sys_sem_signal(static_cast<sys_sem_t*>(arg)); }, &done);
    sys_arch_sem_wait(&done, 0);
    sys_sem_free(&done);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  });
}

int ErrnoFromErr(err_t err) {
  switch (err) {
    case ERR_OK:
      return 0;
    case ERR_MEM:
    case ERR_BUF:
      return ENOBUFS;
    case ERR_TIMEOUT:
      return ETIMEDOUT;
    case ERR_RTE:
      return ENETUNREACH;
    case ERR_INPROGRESS:
      return EINPROGRESS;
    case ERR_VAL:
    case ERR_ARG:
      return EINVAL;
    case ERR_WOULDBLOCK:
      return EAGAIN;
    case ERR_USE:
      return EADDRINUSE;
    case ERR_ALREADY:
      return EALREADY;
    case ERR_ISCONN:
      return EISCONN;
    case ERR_CONN:
      return ENOTCONN;
    case ERR_IF:
      return ENODEV;
    case ERR_ABRT:
      return ECONNABORTED;
    case ERR_RST:
      return ECONNRESET;
    case ERR_CLSD:
      return ENOTCONN;
    default:
      return EIO;
  }
}

int LinuxTcpState(enum tcp_state s) {
  switch (s) {
    case CLOSED:
      return TCP_CLOSE;
    case LISTEN:
      return TCP_LISTEN;
    case SYN_SENT:
      return TCP_SYN_SENT;
    case SYN_RCVD:
      return TCP_SYN_RECV;
    case ESTABLISHED:
      return TCP_ESTABLISHED;
    case FIN_WAIT_1:
      return TCP_FIN_WAIT1;
    case FIN_WAIT_2:
      return TCP_FIN_WAIT2;
    case CLOSE_WAIT:
      return TCP_CLOSE_WAIT;
    case CLOSING:
      return TCP_CLOSING;
    case LAST_ACK:
      return TCP_LAST_ACK;
    case TIME_WAIT:
      return TCP_TIME_WAIT;
  }
  return TCP_CLOSE;
}

Result<IpPort> ParseAddr(int family, const SockAddr& a, bool v6only, AddrUse use) {
  IpPort out;
  if (family == AF_INET) {
    if (a.len < sizeof(sockaddr_in)) return Errno(EINVAL);
    const auto& sin = a.as<sockaddr_in>();
    if (sin.sin_family != AF_INET) {
      // Old programs bind AF_UNSPEC with INADDR_ANY; Linux takes that as AF_INET.
      bool compat = sin.sin_family == AF_UNSPEC && sin.sin_addr.s_addr == htonl(INADDR_ANY);
      if (!(compat && use == AddrUse::kBind)) return Errno(EAFNOSUPPORT);
    }
    ip_addr_set_ip4_u32_val(out.addr, sin.sin_addr.s_addr);
    out.port = ntohs(sin.sin_port);
    return out;
  }
  // SIN6_LEN_RFC2133: the address without the scope id is accepted.
  if (a.len < 24) return Errno(EINVAL);
  const auto& sin6 = a.as<sockaddr_in6>();
  if (sin6.sin6_family != AF_INET6) return Errno(EAFNOSUPPORT);
  out.port = ntohs(sin6.sin6_port);
  const in6_addr& in = sin6.sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&in)) {
    if (v6only) return Errno(use == AddrUse::kBind ? EINVAL : ENETUNREACH);
    uint32_t v4;
    std::memcpy(&v4, &in.s6_addr[12], 4);
    ip_addr_set_ip4_u32_val(out.addr, v4);
    return out;
  }
  if (IN6_IS_ADDR_UNSPECIFIED(&in)) {
    if (v6only || use == AddrUse::kConnect) {
      ip_addr_set_any(1, &out.addr);
    } else {
      ip_addr_set_any_val(0, out.addr);
      IP_SET_TYPE_VAL(out.addr, IPADDR_TYPE_ANY);
    }
    return out;
  }
  uint32_t words[4];
  std::memcpy(words, in.s6_addr, 16);
  IP_ADDR6(&out.addr, words[0], words[1], words[2], words[3]);
  if (IN6_IS_ADDR_LINKLOCAL(&in) || IN6_IS_ADDR_MC_LINKLOCAL(&in)) {
    ip6_addr_set_zone(ip_2_ip6(&out.addr), static_cast<u8_t>(sin6.sin6_scope_id));
  }
  return out;
}

SockAddr MakeSockAddr(int family, const ip_addr_t* addr, uint16_t port) {
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (addr && IP_IS_V4(addr)) sin.sin_addr.s_addr = ip4_addr_get_u32(ip_2_ip4(addr));
    return SockAddr::From(sin);
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  if (addr && IP_IS_V4_VAL(*addr) && !IP_IS_ANY_TYPE_VAL(*addr)) {
    uint32_t v4 = ip4_addr_get_u32(ip_2_ip4(addr));
    if (v4 != 0) {
      sin6.sin6_addr.s6_addr[10] = 0xff;
      sin6.sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&sin6.sin6_addr.s6_addr[12], &v4, 4);
    }
  } else if (addr && IP_IS_V6_VAL(*addr)) {
    std::memcpy(sin6.sin6_addr.s6_addr, ip_2_ip6(addr)->addr, 16);
    if (ip6_addr_has_zone(ip_2_ip6(addr))) sin6.sin6_scope_id = ip6_addr_zone(ip_2_ip6(addr));
  }
  return SockAddr::From(sin6);
}

bool IsLocalAddress(const ip_addr_t& addr, bool allow_multicast) {
  if (ip_addr_isany(&addr)) return true;
  if (allow_multicast && ip_addr_ismulticast(&addr)) return true;
  struct netif* n;
  NETIF_FOREACH(n) {
    if (IP_IS_V4_VAL(addr)) {
      if (ip4_addr_cmp(ip_2_ip4(&addr), netif_ip4_addr(n))) return true;
      // Linux's lo owns all of 127.0.0.0/8.
      if ((n->flags & NETIF_FLAG_BROADCAST) == 0 && ip4_addr_isloopback(ip_2_ip4(&addr)) &&
          ip4_addr_isloopback(netif_ip4_addr(n))) {
        return true;
      }
    } else {
      for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
        if (ip6_addr_isvalid(netif_ip6_addr_state(n, i)) &&
            ip6_addr_cmp_zoneless(ip_2_ip6(&addr), netif_ip6_addr(n, i))) {
          return true;
        }
      }
    }
  }
  return false;
}

void AnyToLoopback(ip_addr_t* addr) {
  if (!ip_addr_isany(addr)) return;
  ip_addr_set_loopback(IP_IS_V6(addr) ? 1 : 0, addr);
}

struct netif* RouteTo(const ip_addr_t& dst) {
  struct netif* out = ip_route(IP_IS_V6(&dst) ? IP6_ADDR_ANY : IP4_ADDR_ANY, &dst);
  // lwIP's ip6_route sends everything to the only netif when there is one (lo alone, with
  // --network=none), and to lo whatever shares ::1's /64. Linux routes to lo only ::1 (lo's
  // IPv4 addresses are a /8, which ip4_route matches as Linux does). Multicast is left to lwIP.
  if (out && IP_IS_V6(&dst) && IfIndex(out) == 1 && !ip6_addr_isloopback(ip_2_ip6(&dst)) &&
      !ip_addr_ismulticast(&dst)) {
    return nullptr;
  }
  return out;
}

namespace {

std::vector<uint8_t> IntBytes(int v, size_t len) {
  std::vector<uint8_t> out = OptionBytes(v);
  out.resize(std::min(out.size(), len));
  return out;
}

}  // namespace

Result<std::vector<uint8_t>> GetIpOption(const IpOptions& o, int family, int level, int name,
                                         size_t len) {
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVBUF:
        return IntBytes(o.rcvbuf, len);
      case SO_SNDBUF:
        return IntBytes(o.sndbuf, len);
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  if (level == IPPROTO_IP) {
    switch (name) {
      case IP_TTL:
        return IntBytes(o.EffectiveTtl(), len);
      case IP_TOS:
        return IntBytes(o.tos, len);
      case IP_PKTINFO:
        return IntBytes(o.pktinfo, len);
      case IP_RECVTOS:
        return IntBytes(o.recvtos, len);
      case IP_RECVTTL:
        return IntBytes(o.recvttl, len);
      case IP_MTU_DISCOVER:
        return IntBytes(IP_PMTUDISC_DONT, len);
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  if (level == IPPROTO_IPV6 && family == AF_INET6) {
    switch (name) {
      case IPV6_V6ONLY:
        return IntBytes(o.v6only, len);
      case IPV6_UNICAST_HOPS:
        return IntBytes(o.EffectiveHops(), len);
      case IPV6_TCLASS:
        return IntBytes(o.tclass, len);
      case IPV6_RECVPKTINFO:
        return IntBytes(o.recvpktinfo6, len);
      case IPV6_RECVTCLASS:
        return IntBytes(o.recvtclass, len);
      case IPV6_RECVHOPLIMIT:
        return IntBytes(o.recvhoplimit, len);
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  return Errno(ENOPROTOOPT);
}

Result<void> SetIpOption(IpOptions& o, int family, bool bound, int level, int name,
                         std::span<const uint8_t> val, bool net_admin) {
  // Linux's rmem_max/wmem_max defaults, and the minimum sizes (SOCK_MIN_RCVBUF/SNDBUF).
  constexpr int kMaxBuf = 212992, kMinRcv = 2304, kMinSnd = 4608;
  if (level == SOL_SOCKET) {
    int v = TRY(OptionInt(val));
    switch (name) {
      case SO_RCVBUF:
      case SO_RCVBUFFORCE: {
        if (name == SO_RCVBUFFORCE && !net_admin) return Errno(EPERM);
        int64_t want = std::max(0, v);
        if (name == SO_RCVBUF) want = std::min<int64_t>(want, kMaxBuf);
        o.rcvbuf = static_cast<int>(std::clamp<int64_t>(want * 2, kMinRcv, INT32_MAX));
        o.rcvbuf_locked = true;
        return Ok();
      }
      case SO_SNDBUF:
      case SO_SNDBUFFORCE: {
        if (name == SO_SNDBUFFORCE && !net_admin) return Errno(EPERM);
        int64_t want = std::max(0, v);
        if (name == SO_SNDBUF) want = std::min<int64_t>(want, kMaxBuf);
        o.sndbuf = static_cast<int>(std::clamp<int64_t>(want * 2, kMinSnd, INT32_MAX));
        return Ok();
      }
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  if (level == IPPROTO_IP) {
    // Linux reads a byte for some of these when given less than an int; an int is the norm.
    int v;
    if (val.size() >= sizeof(int)) {
      std::memcpy(&v, val.data(), sizeof(v));
    } else if (val.size() >= 1) {
      v = val[0];
    } else {
      return Errno(EINVAL);
    }
    switch (name) {
      case IP_TTL:
        if (v < -1 || v == 0 || v > 255) return Errno(EINVAL);
        o.ttl = v;
        return Ok();
      case IP_TOS:
        o.tos = v & 0xff;
        return Ok();
      case IP_PKTINFO:
        o.pktinfo = v != 0;
        return Ok();
      case IP_RECVTOS:
        o.recvtos = v != 0;
        return Ok();
      case IP_RECVTTL:
        o.recvttl = v != 0;
        return Ok();
      case IP_MTU_DISCOVER:
        if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT) return Errno(EINVAL);
        return Ok();
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  if (level == IPPROTO_IPV6 && family == AF_INET6) {
    int v = TRY(OptionInt(val));
    switch (name) {
      case IPV6_V6ONLY:
        if (bound) return Errno(EINVAL);
        o.v6only = v != 0;
        return Ok();
      case IPV6_UNICAST_HOPS:
        if (v < -1 || v > 255) return Errno(EINVAL);
        o.hops = v;
        return Ok();
      case IPV6_TCLASS:
        if (v < -1 || v > 255) return Errno(EINVAL);
        o.tclass = v < 0 ? 0 : v;
        return Ok();
      case IPV6_RECVPKTINFO:
        o.recvpktinfo6 = v != 0;
        return Ok();
      case IPV6_RECVTCLASS:
        o.recvtclass = v != 0;
        return Ok();
      case IPV6_RECVHOPLIMIT:
        o.recvhoplimit = v != 0;
        return Ok();
      default:
        return Errno(ENOPROTOOPT);
    }
  }
  return Errno(ENOPROTOOPT);
}

void ApplyIpOptions(const IpOptions& o, int family, ip_pcb* pcb) {
  if (!pcb) return;
  bool v6 = family == AF_INET6 && IP_IS_V6_VAL(pcb->remote_ip) && !ip_addr_isany(&pcb->remote_ip);
  pcb->ttl = static_cast<u8_t>(v6 ? o.EffectiveHops() : o.EffectiveTtl());
  pcb->tos = static_cast<u8_t>(v6 ? o.tclass : o.tos);
  if (o.keepalive) {
    ip_set_option(pcb, SOF_KEEPALIVE);
  } else {
    ip_reset_option(pcb, SOF_KEEPALIVE);
  }
  if (o.reuseaddr) {
    ip_set_option(pcb, SOF_REUSEADDR);
  } else {
    ip_reset_option(pcb, SOF_REUSEADDR);
  }
  if (o.broadcast) {
    ip_set_option(pcb, SOF_BROADCAST);
  } else {
    ip_reset_option(pcb, SOF_BROADCAST);
  }
}

bool AddressesOverlap(const ip_addr_t& a, const ip_addr_t& b) {
  if (IP_IS_ANY_TYPE_VAL(a) || IP_IS_ANY_TYPE_VAL(b)) return true;
  if (IP_IS_V6_VAL(a) != IP_IS_V6_VAL(b)) return false;
  return ip_addr_isany(&a) || ip_addr_isany(&b) || ip_addr_cmp_zoneless(&a, &b);
}

bool Conflicts(const BindClaim& want, const BindClaim& have) {
  if (!AddressesOverlap(*want.addr, *have.addr)) return false;
  if (want.reuseaddr && have.reuseaddr && !have.listening && !want.listening) return false;
  if (want.reuseport && have.reuseport && want.uid == have.uid) return false;
  return true;
}

size_t CopyFromPbuf(const pbuf* p, size_t offset, std::span<uint8_t> dst) {
  size_t done = 0;
  for (; p && done < dst.size(); p = p->next) {
    if (offset >= p->len) {
      offset -= p->len;
      continue;
    }
    size_t n = std::min<size_t>(p->len - offset, dst.size() - done);
    std::memcpy(dst.data() + done, static_cast<const uint8_t*>(p->payload) + offset, n);
    done += n;
    offset = 0;
  }
  return done;
}

uint8_t CurrentTos() {
  if (ip_current_is_v6() || !ip4_current_header()) return 0;
  return IPH_TOS(ip4_current_header());
}

uint8_t CurrentTtl() {
  if (ip_current_is_v6()) return ip6_current_header() ? IP6H_HOPLIM(ip6_current_header()) : 0;
  return ip4_current_header() ? IPH_TTL(ip4_current_header()) : 0;
}

int IfIndex(const struct netif* n) { return n ? netif_get_index(n) : 0; }

}  // namespace moat::sockets::netstack
