// The netstack's glue to lwIP (internal to sentry/socket/netstack/; nothing outside includes it):
// starting lwIP, its core lock, address conversion between SockAddr and lwIP's ip_addr_t, the
// IP-level options every inet socket has, and the checks bind() makes.
//
// Threading: lwIP runs with NO_SYS=0 and LWIP_TCPIP_CORE_LOCKING. Its own thread (tcpip_thread)
// runs the timers; task threads call the raw API directly, holding the core lock (CoreLock).
// lwIP's callbacks (recv, sent, err, accept) run with the core lock held, in whichever thread
// made lwIP process a packet or a timer, and only update the sockets' state and notify their
// WaitQueues. Every socket's protocol state is guarded by the core lock.
//
// Loopback without a thread handoff: lwIP queues every packet a host sends to itself on the
// netif's loop list and asks tcpip_thread to process it. Releasing a CoreLock first processes
// those lists in the calling thread (netif_poll), so that a send on loopback reaches the
// receiving socket before the sending syscall returns; tcpip_thread then finds them empty.
//
// Lock order: the core lock  >  WaitQueue::mu_  >  Task::wake_mu_. Nothing may take the core
// lock while holding a WaitQueue's lock, and no FileDescription may be released under it.
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_CORE_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_CORE_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

extern "C" {
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/raw.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "lwip/udp.h"
}

#include "absl/base/thread_annotations.h"
#include "base/errno.h"
#include "sentry/socket/socket.h"

namespace moat::sockets::netstack {

// lwIP's core lock, as a capability the thread-safety analysis knows.
class ABSL_LOCKABLE CoreMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  // Processes loopback packets queued meanwhile, then unlocks.
  void Unlock() ABSL_UNLOCK_FUNCTION();
  // For lwIP callbacks, which run with the lock held.
  void AssertHeld() ABSL_ASSERT_EXCLUSIVE_LOCK() {}
};
extern CoreMutex g_core;

// Output a netif holds back while a thread holds the core lock through CoreMutex (to send
// frames in batches, or merged), and sends when that thread unlocks. Threads that take the lock
// otherwise (lwIP's tcpip_thread, for timers) get no deferral: InCoreMutexHold says which.
class DeferredOutput {
 public:
  virtual void Flush() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core) = 0;

 protected:
  ~DeferredOutput() = default;
};
// Whether this thread holds the core lock through CoreMutex (so that Unlock will flush).
bool InCoreMutexHold();
// Asks for `out` to be flushed when the holder unlocks; once per hold is enough (repeats are
// ignored).
void DeferOutput(DeferredOutput* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);

class ABSL_SCOPED_LOCKABLE CoreLock {
 public:
  CoreLock() ABSL_EXCLUSIVE_LOCK_FUNCTION(g_core) { g_core.Lock(); }
  ~CoreLock() ABSL_UNLOCK_FUNCTION() { g_core.Unlock(); }
  CoreLock(const CoreLock&) = delete;
  CoreLock& operator=(const CoreLock&) = delete;
};

// Starts lwIP (its thread and timers) once. Safe to call again.
void StartLwip();

// lwIP's error as an errno (what the socket calls return for it).
int ErrnoFromErr(err_t err);

// Linux's numbering of TCP states (include/net/tcp_states.h) for an lwIP state.
int LinuxTcpState(enum tcp_state s);

// An address and port as lwIP takes them. For an AF_INET6 socket an IPv4-mapped address is an
// IPv4 address, and "::" on a dual-stack socket is lwIP's any-type address.
struct IpPort {
  ip_addr_t addr{};
  uint16_t port = 0;
};

// What an address is for: bind and connect/sendto differ in Linux's checks.
enum class AddrUse { kBind, kConnect };

// Parses `a` for a socket of `family`, with Linux's checks: EINVAL for a short address,
// EAFNOSUPPORT for another family (AF_UNSPEC with INADDR_ANY binds as AF_INET), EINVAL for a
// mapped address on a v6-only socket's bind, ENETUNREACH for one on its connect.
Result<IpPort> ParseAddr(int family, const SockAddr& a, bool v6only, AddrUse use);
// The address as the socket's family shows it (IPv4 as IPv4-mapped on AF_INET6). A null or
// any address of the wrong type is shown as the family's any address.
SockAddr MakeSockAddr(int family, const ip_addr_t* addr, uint16_t port);
// Whether the stack has `addr` on an interface (or it is an any address); multicast counts
// when `allow_multicast`.
bool IsLocalAddress(const ip_addr_t& addr, bool allow_multicast)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);
// The loopback address of the address's type (Linux connects to it for an any destination).
void AnyToLoopback(ip_addr_t* addr);
// The netif a packet to `dst` leaves on, or null where Linux has no route to it (connect and
// sendto then fail with ENETUNREACH).
struct netif* RouteTo(const ip_addr_t& dst) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_core);

// The per-socket options of the IP layer and SOL_SOCKET options the stack needs itself.
struct IpOptions {
  int ttl = -1;    // IP_TTL; -1: the default, 64
  int tos = 0;     // IP_TOS
  int hops = -1;   // IPV6_UNICAST_HOPS; -1: the default, 64
  int tclass = 0;  // IPV6_TCLASS
  bool v6only = false;
  bool pktinfo = false;       // IP_PKTINFO
  bool recvtos = false;       // IP_RECVTOS
  bool recvttl = false;       // IP_RECVTTL
  bool recvpktinfo6 = false;  // IPV6_RECVPKTINFO
  bool recvtclass = false;    // IPV6_RECVTCLASS
  bool recvhoplimit = false;  // IPV6_RECVHOPLIMIT
  int rcvbuf = 0;             // SO_RCVBUF as getsockopt reports it (doubled)
  bool rcvbuf_locked = false;  // set by SO_RCVBUF: no auto-tuning (Linux's SOCK_RCVBUF_LOCK)
  int sndbuf = 0;
  // Mirrors of the SOL_SOCKET options that decide bind conflicts and pcb flags.
  bool reuseaddr = false;
  bool reuseport = false;
  bool keepalive = false;
  bool broadcast = false;
  uint32_t uid = 0;  // who made the socket (SO_REUSEPORT groups, /proc/net)
  uint64_t ino = 0;  // its sockfs inode (/proc/net)

  int EffectiveTtl() const { return ttl < 0 ? 64 : ttl; }
  int EffectiveHops() const { return hops < 0 ? 64 : hops; }
};

// getsockopt for IPPROTO_IP / IPPROTO_IPV6 and the SOL_SOCKET options kept in IpOptions.
// ENOPROTOOPT for what it does not know, so the caller can try elsewhere.
Result<std::vector<uint8_t>> GetIpOption(const IpOptions& o, int family, int level, int name,
                                         size_t len);
// setsockopt for the same. `bound` refuses IPV6_V6ONLY after bind (EINVAL). Returns whether
// the pcb's ttl/tos must be refreshed.
Result<void> SetIpOption(IpOptions& o, int family, bool bound, int level, int name,
                         std::span<const uint8_t> val, bool net_admin);
// Applies ttl, tos and SOF_* flags to a pcb of any protocol.
void ApplyIpOptions(const IpOptions& o, int family, ip_pcb* pcb);

// bind(2)'s conflict rules (Linux's inet_csk_bind_conflict, simplified): does a socket with
// options `o` binding `addr` overlap a pcb already on the port whose options are `other`?
struct BindClaim {
  const ip_addr_t* addr;
  bool reuseaddr, reuseport, listening;
  uint32_t uid;
};
bool AddressesOverlap(const ip_addr_t& a, const ip_addr_t& b);
bool Conflicts(const BindClaim& want, const BindClaim& have);

// Copies a pbuf chain's bytes from `offset` into `dst`.
size_t CopyFromPbuf(const pbuf* p, size_t offset, std::span<uint8_t> dst);

// An IPv4 header's TOS and TTL of the packet lwIP is processing now (0 for IPv6).
uint8_t CurrentTos();
uint8_t CurrentTtl();

// A stable interface index (Linux's: lo is 1) for an lwIP netif.
int IfIndex(const struct netif* n);

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_CORE_H_
