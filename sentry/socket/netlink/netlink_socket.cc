#include "sentry/socket/netlink/netlink_socket.h"

#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <deque>
#include <map>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/socket/netlink/message.h"
#include "sentry/socket/netlink/route.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::netlink {
namespace {

// Linux's sizes: NLMSG_GOODSIZE (a page less the skb overhead) for a dump's datagram unless the
// reader has used larger buffers, which are counted up to SKB_WITH_OVERHEAD(32768).
constexpr size_t kGoodSize = 4096 - 320;
constexpr size_t kMaxRecvLen = 32768 - 320;
// net.core.rmem_default / wmem_default, and the *_max that SO_RCVBUF / SO_SNDBUF are capped to.
constexpr int kDefaultBuf = 212992;
constexpr int kMaxBuf = 212992;
constexpr int kMinRcvBuf = 2304;  // SOCK_MIN_RCVBUF
constexpr int kMinSndBuf = 4608;  // SOCK_MIN_SNDBUF
// MAX_LINKS: protocol numbers are below it.
constexpr int kMaxLinks = 32;

class NetlinkSocket;

// The port ids in use, per protocol, as Linux's nl_table.
class PortTable {
 public:
  static PortTable& Get() {
    static PortTable* t = new PortTable();  // lives as long as the sandbox
    return *t;
  }
  // Takes `portid` for `s`: false if another socket has it.
  bool Insert(int protocol, uint32_t portid, NetlinkSocket* s) {
    absl::MutexLock l(&mu_);
    return ports_.emplace(std::pair(protocol, portid), s).second;
  }
  // netlink_autobind: the process id if free, else negative numbers from -4097 down.
  uint32_t Autobind(int protocol, uint32_t pid, NetlinkSocket* s) {
    absl::MutexLock l(&mu_);
    uint32_t id = pid;
    while (id == 0 || !ports_.emplace(std::pair(protocol, id), s).second) {
      id = static_cast<uint32_t>(rover_--);
      if (rover_ > -4097) rover_ = -4097;
    }
    return id;
  }
  void Remove(int protocol, uint32_t portid, NetlinkSocket* s) {
    absl::MutexLock l(&mu_);
    auto it = ports_.find({protocol, portid});
    if (it != ports_.end() && it->second == s) ports_.erase(it);
  }
  // The socket bound to `portid`, if it is still alive.
  RefPtr<NetlinkSocket> Find(int protocol, uint32_t portid);

 private:
  absl::Mutex mu_;
  std::map<std::pair<int, uint32_t>, NetlinkSocket*> ports_ ABSL_GUARDED_BY(mu_);
  int32_t rover_ ABSL_GUARDED_BY(mu_) = -4097;
};

// The lowest set bit's number, 1-based (ffs), of a group mask: a destination group.
uint32_t FirstGroup(uint32_t groups) { return groups ? __builtin_ctz(groups) + 1 : 0; }

// The number of multicast groups of a protocol (a group is 1..n).
uint32_t GroupCount(int protocol) { return protocol == NETLINK_ROUTE ? RTNLGRP_MAX : 1; }

class NetlinkSocket final : public Socket {
 public:
  NetlinkSocket(int type, int protocol, int flags, uint32_t uid, uint32_t gid)
      : Socket(AF_NETLINK, type, protocol, flags, uid, gid) {}

  ~NetlinkSocket() override {
    absl::MutexLock l(&mu_);
    if (bound_) PortTable::Get().Remove(protocol(), portid_, this);
  }

  Result<void> Bind(Task& task, const SockAddr& addr) override {
    if (addr.len < sizeof(sockaddr_nl) || addr.family() != AF_NETLINK) return Errno(EINVAL);
    const sockaddr_nl& nl = addr.as<sockaddr_nl>();
    absl::MutexLock l(&mu_);
    if (bound_ && nl.nl_pid != portid_) return Errno(EINVAL);
    if (!bound_) {
      if (nl.nl_pid) {
        if (!PortTable::Get().Insert(protocol(), nl.nl_pid, this)) return Errno(EADDRINUSE);
        portid_ = nl.nl_pid;
        bound_ = true;
      } else {
        AutobindLocked(task);
      }
    }
    groups_ = (groups_ & ~uint64_t{0xffffffff}) | nl.nl_groups;
    return Ok();
  }

  Result<void> Connect(Task& task, const SockAddr& addr) override {
    if (addr.len < sizeof(sa_family_t)) return Errno(EINVAL);
    absl::MutexLock l(&mu_);
    if (addr.family() == AF_UNSPEC) {
      dst_portid_ = 0;
      dst_group_ = 0;
      return Ok();
    }
    if (addr.family() != AF_NETLINK || addr.len < sizeof(sockaddr_nl)) return Errno(EINVAL);
    const sockaddr_nl& nl = addr.as<sockaddr_nl>();
    if ((nl.nl_groups || nl.nl_pid) && !NetAdmin(task)) return Errno(EPERM);
    if (!bound_) AutobindLocked(task);
    dst_portid_ = nl.nl_pid;
    dst_group_ = FirstGroup(nl.nl_groups);
    return Ok();
  }

  Result<SockAddr> GetSockName(Task&) override {
    absl::MutexLock l(&mu_);
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = portid_;
    nl.nl_groups = static_cast<uint32_t>(groups_);
    return SockAddr::From(nl);
  }

  // A netlink socket always has a peer: the kernel unless connected elsewhere.
  Result<SockAddr> GetPeerName(Task&) override {
    absl::MutexLock l(&mu_);
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = dst_portid_;
    nl.nl_groups = dst_group_ ? 1u << (dst_group_ - 1) : 0;
    return SockAddr::From(nl);
  }

  Result<size_t> SendMsg(Task& task, SendArgs& args) override {
    if (args.flags & MSG_OOB) return Errno(EOPNOTSUPP);
    uint32_t dst_portid, dst_group;
    {
      absl::MutexLock l(&mu_);
      dst_portid = dst_portid_;
      dst_group = dst_group_;
    }
    if (args.to && args.to->len > 0) {
      if (args.to->len < sizeof(sockaddr_nl) || args.to->family() != AF_NETLINK) {
        return Errno(EINVAL);
      }
      const sockaddr_nl& nl = args.to->as<sockaddr_nl>();
      dst_portid = nl.nl_pid;
      dst_group = FirstGroup(nl.nl_groups);
      if ((dst_group || dst_portid) && !NetAdmin(task)) return Errno(EPERM);
    }
    uint32_t me;
    int sndbuf;
    {
      absl::MutexLock l(&mu_);
      if (!bound_) AutobindLocked(task);
      me = portid_;
      sndbuf = sndbuf_;
    }
    if (args.data.size() > static_cast<size_t>(sndbuf - 32)) return Errno(EMSGSIZE);
    if (args.data.empty()) return Errno(ENODATA);
    // Multicast reaches no one: the sandbox's sockets listen to the kernel's groups only.
    if (dst_portid != 0) {
      RefPtr<NetlinkSocket> peer = PortTable::Get().Find(protocol(), dst_portid);
      if (!peer) return Errno(ECONNREFUSED);
      peer->Deliver(std::vector<uint8_t>(args.data.begin(), args.data.end()), me, /*dump=*/false);
      return args.data.size();
    }
    // The kernel side: only route sockets have one that listens.
    if (protocol() != NETLINK_ROUTE) return Errno(ECONNREFUSED);
    Process(task, me, args.data);
    return args.data.size();
  }

  Result<RecvResult> RecvMsg(Task& task, std::span<uint8_t> buf, int flags) override {
    if (flags & MSG_OOB) return Errno(EOPNOTSUPP);
    std::optional<absl::Time> deadline = RecvDeadline();
    for (;;) {
      kernel::WaiterRegistration reg(waitq_, &task, kernel::kEventIn);
      {
        absl::MutexLock l(&mu_);
        max_recvmsg_len_ = std::min(std::max(max_recvmsg_len_, buf.size()), kMaxRecvLen);
        if (pending_error_) return Errno(std::exchange(pending_error_, 0));
        if (!queue_.empty()) return TakeLocked(buf, flags);
      }
      if (NonBlocking(flags)) return Errno(EAGAIN);
      RETURN_IF_ERRNO(Wait(task, deadline));
    }
  }

  Result<std::vector<uint8_t>> GetSockOpt(Task& task, int level, int name, size_t len) override {
    if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) {
      absl::MutexLock l(&mu_);
      std::vector<uint8_t> out = OptionBytes(name == SO_RCVBUF ? rcvbuf_ : sndbuf_);
      out.resize(std::min(out.size(), len));
      return out;
    }
    if (level != SOL_NETLINK) return Socket::GetSockOpt(task, level, name, len);
    absl::MutexLock l(&mu_);
    if (name == NETLINK_LIST_MEMBERSHIPS) {
      // The group bitmap in 32-bit words; the length says how much there is.
      std::vector<uint8_t> out = OptionBytes(groups_);
      out.resize(std::min(out.size(), len & ~size_t{3}));
      return out;
    }
    bool* flag = Flag(name);
    if (!flag) return Errno(ENOPROTOOPT);
    if (len < sizeof(int)) return Errno(EINVAL);
    return OptionBytes(static_cast<int>(*flag));
  }

  Result<void> SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) override {
    if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF ||
                                name == SO_RCVBUFFORCE || name == SO_SNDBUFFORCE)) {
      int v = TRY(OptionInt(val));
      bool force = name == SO_RCVBUFFORCE || name == SO_SNDBUFFORCE;
      if (force && !NetAdmin(task)) return Errno(EPERM);
      int64_t want = force ? std::max(v, 0) : std::min(std::max(v, 0), kMaxBuf);
      want = std::min<int64_t>(want * 2, INT32_MAX);
      absl::MutexLock l(&mu_);
      if (name == SO_RCVBUF || name == SO_RCVBUFFORCE) {
        rcvbuf_ = std::max<int>(static_cast<int>(want), kMinRcvBuf);
      } else {
        sndbuf_ = std::max<int>(static_cast<int>(want), kMinSndBuf);
      }
      return Ok();
    }
    if (level != SOL_NETLINK) return Socket::SetSockOpt(task, level, name, val);
    // A value shorter than an int counts as 0, as netlink_setsockopt reads it.
    int v = 0;
    if (val.size() >= sizeof(int)) std::memcpy(&v, val.data(), sizeof(v));
    if (name == NETLINK_ADD_MEMBERSHIP || name == NETLINK_DROP_MEMBERSHIP) {
      uint32_t group = static_cast<uint32_t>(v);
      if (group == 0 || group > GroupCount(protocol()) || group > 64) return Errno(EINVAL);
      absl::MutexLock l(&mu_);
      if (!bound_) AutobindLocked(task);
      uint64_t bit = uint64_t{1} << (group - 1);
      groups_ = name == NETLINK_ADD_MEMBERSHIP ? (groups_ | bit) : (groups_ & ~bit);
      return Ok();
    }
    if (name == NETLINK_LISTEN_ALL_NSID && !NetAdmin(task)) return Errno(EPERM);
    absl::MutexLock l(&mu_);
    bool* flag = Flag(name);
    if (!flag) return Errno(ENOPROTOOPT);
    *flag = v != 0;
    return Ok();
  }

  EventMask Readiness(EventMask mask) override {
    absl::MutexLock l(&mu_);
    EventMask ev = kernel::kEventOut | kernel::kEventWrNorm;
    if (!queue_.empty()) ev |= kernel::kEventIn | kernel::kEventRdNorm;
    if (pending_error_) ev |= kernel::kEventErr;
    return ev & (mask | kernel::kEventErr | kernel::kEventHup);
  }
  kernel::WaitQueue* Queue() override { return &waitq_; }

  // Queues a datagram from `from` (0: the kernel). A reply that does not fit in the receive
  // buffer is dropped and the reader told with ENOBUFS (netlink_overrun); a dump's datagrams
  // are only made when there is room.
  void Deliver(std::vector<uint8_t> data, uint32_t from, bool dump) {
    absl::MutexLock l(&mu_);
    DeliverLocked(std::move(data), from, dump);
  }

 private:
  struct Datagram {
    std::vector<uint8_t> data;
    uint32_t from;
  };
  // A dump whose messages have not all gone out yet (Linux's running netlink_callback).
  struct Dump {
    std::deque<std::vector<uint8_t>> messages;
    int error = 0;
    uint32_t seq = 0;
  };

  static bool NetAdmin(Task& task) { return task.creds()->HasCap(CAP_NET_ADMIN); }

  void AutobindLocked(Task& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    portid_ = PortTable::Get().Autobind(protocol(), static_cast<uint32_t>(task.pid()), this);
    bound_ = true;
  }

  bool* Flag(int name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    switch (name) {
      case NETLINK_PKTINFO:
        return &pktinfo_;
      case NETLINK_BROADCAST_ERROR:
        return &broadcast_error_;
      case NETLINK_NO_ENOBUFS:
        return &no_enobufs_;
      case NETLINK_LISTEN_ALL_NSID:
        return &listen_all_nsid_;
      case NETLINK_CAP_ACK:
        return &cap_ack_;
      case NETLINK_EXT_ACK:
        return &ext_ack_;
      case NETLINK_GET_STRICT_CHK:
        return &strict_;
      default:
        return nullptr;
    }
  }

  void DeliverLocked(std::vector<uint8_t> data, uint32_t from, bool dump)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!dump && !queue_.empty() && queued_bytes_ + data.size() > static_cast<size_t>(rcvbuf_)) {
      if (!no_enobufs_) pending_error_ = ENOBUFS;
      waitq_.Notify(kernel::kEventErr);
      return;
    }
    queued_bytes_ += data.size();
    queue_.push_back({std::move(data), from});
    waitq_.Notify(kernel::kEventIn | kernel::kEventRdNorm);
  }

  // Puts the dump's next datagram in the queue: as many messages as fit in the reader's
  // largest buffer (at least one), or, when none are left, NLMSG_DONE alone.
  void ContinueDumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!dump_) return;
    if (dump_->messages.empty()) {
      DeliverLocked(DoneMessage(dump_->seq, portid_, dump_->error), 0, true);
      dump_.reset();
      return;
    }
    DeliverLocked(TakeDatagram(dump_->messages, std::max(kGoodSize, max_recvmsg_len_)), 0, true);
  }

  Result<RecvResult> TakeLocked(std::span<uint8_t> buf, int flags) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Datagram& d = queue_.front();
    RecvResult r;
    r.length = d.data.size();
    r.copied = std::min(buf.size(), d.data.size());
    std::memcpy(buf.data(), d.data.data(), r.copied);
    if (r.copied < d.data.size()) r.msg_flags |= MSG_TRUNC;
    sockaddr_nl from{};
    from.nl_family = AF_NETLINK;
    from.nl_pid = d.from;
    r.from = SockAddr::From(from);
    if (pktinfo_) {
      nl_pktinfo info{};  // group 0: a unicast
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&info);
      r.control.other.push_back({SOL_NETLINK, NETLINK_PKTINFO, {p, p + sizeof(info)}});
    }
    if (!(flags & MSG_PEEK)) {
      queued_bytes_ -= d.data.size();
      queue_.pop_front();
      if (dump_ && queued_bytes_ <= static_cast<size_t>(rcvbuf_) / 2) ContinueDumpLocked();
    }
    return r;
  }

  // The kernel's side of sendmsg: each request of the datagram in turn, as netlink_rcv_skb.
  void Process(Task& task, uint32_t me, std::span<const uint8_t> data) {
    RouteRequest req;
    req.stack = task.kernel().network();
    req.portid = me;
    req.net_admin = NetAdmin(task);
    {
      absl::MutexLock l(&mu_);
      req.strict = strict_;
    }
    for (const MessageView& m : SplitMessages(data)) {
      int error = 0;
      std::vector<std::vector<uint8_t>> replies;
      bool dump_started = false;
      if ((m.header.nlmsg_flags & NLM_F_REQUEST) && m.header.nlmsg_type >= NLMSG_MIN_TYPE) {
        RouteResult r = HandleRouteRequest(req, m);
        error = r.error;
        if (r.dump) {
          absl::MutexLock l(&mu_);
          if (dump_) {
            error = -EBUSY;
          } else {
            dump_.emplace();
            dump_->messages.assign(std::make_move_iterator(r.messages.begin()),
                                   std::make_move_iterator(r.messages.end()));
            dump_->error = r.error;
            dump_->seq = m.header.nlmsg_seq;
            ContinueDumpLocked();
            dump_started = true;
          }
        } else {
          replies = std::move(r.messages);
        }
      }
      if (dump_started) continue;
      absl::MutexLock l(&mu_);
      for (std::vector<uint8_t>& reply : replies) DeliverLocked(std::move(reply), 0, false);
      if (error || (m.header.nlmsg_flags & NLM_F_ACK)) {
        DeliverLocked(ErrorMessage(m, me, error, cap_ack_), 0, false);
      }
    }
  }

  kernel::WaitQueue waitq_;
  absl::Mutex mu_;
  bool bound_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t portid_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t groups_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t dst_portid_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t dst_group_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Datagram> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Dump> dump_ ABSL_GUARDED_BY(mu_);
  size_t max_recvmsg_len_ ABSL_GUARDED_BY(mu_) = 0;
  int pending_error_ ABSL_GUARDED_BY(mu_) = 0;
  int rcvbuf_ ABSL_GUARDED_BY(mu_) = kDefaultBuf;
  int sndbuf_ ABSL_GUARDED_BY(mu_) = kDefaultBuf;
  bool pktinfo_ ABSL_GUARDED_BY(mu_) = false;
  bool broadcast_error_ ABSL_GUARDED_BY(mu_) = false;
  bool no_enobufs_ ABSL_GUARDED_BY(mu_) = false;
  bool listen_all_nsid_ ABSL_GUARDED_BY(mu_) = false;
  bool cap_ack_ ABSL_GUARDED_BY(mu_) = false;
  bool ext_ack_ ABSL_GUARDED_BY(mu_) = false;
  bool strict_ ABSL_GUARDED_BY(mu_) = false;
};

RefPtr<NetlinkSocket> PortTable::Find(int protocol, uint32_t portid) {
  absl::MutexLock l(&mu_);
  auto it = ports_.find({protocol, portid});
  if (it == ports_.end()) return nullptr;
  return TryRef(it->second);
}

}  // namespace

Result<RefPtr<Socket>> NewSocket(Task& task, int type, int protocol, int flags) {
  if (type != SOCK_RAW && type != SOCK_DGRAM) return Errno(ESOCKTNOSUPPORT);
  if (protocol < 0 || protocol >= kMaxLinks) return Errno(EPROTONOSUPPORT);
  if (protocol != NETLINK_ROUTE && protocol != NETLINK_KOBJECT_UEVENT) {
    return Errno(EPROTONOSUPPORT);
  }
  RefPtr<kernel::Credentials> c = task.creds();
  return RefPtr<Socket>(MakeRef<NetlinkSocket>(type, protocol, flags, c->fsuid, c->fsgid));
}

}  // namespace moat::sockets::netlink
