#include "sentry/socket/netstack/dgram.h"

#include <linux/capability.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <cstring>

#include "sentry/kernel/task.h"

namespace moat::sockets::netstack {

using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using kernel::kEventRdHup;
using kernel::kEventRdNorm;
using kernel::kEventWrNorm;

namespace {

constexpr int kDefaultBuf = 212992;  // net.core.rmem_default / wmem_default
// What Linux charges a datagram beyond its payload (an skb's truesize), roughly.
constexpr size_t kDatagramOverhead = 768;

template <typename T>
ControlMessages::Raw Cmsg(int level, int type, const T& v) {
  ControlMessages::Raw r{level, type, std::vector<uint8_t>(sizeof(T))};
  std::memcpy(r.data.data(), &v, sizeof(T));
  return r;
}

}  // namespace

DatagramSocket::DatagramSocket(int family, int protocol, int flags, uint32_t uid, uint32_t gid)
    : Socket(family, SOCK_DGRAM, protocol, flags, uid, gid) {
  uint64_t ino = 0;
  if (Result<vfs::Stat> st = inode()->GetStat(); st.ok()) ino = st->ino;
  CoreLock l;
  ip_.rcvbuf = kDefaultBuf;
  ip_.sndbuf = kDefaultBuf;
  ip_.uid = uid;
  ip_.ino = ino;
}

DatagramSocket::~DatagramSocket() {
  CoreLock l;
  for (Datagram& d : rx_) pbuf_free(d.p);
}

void DatagramSocket::Deliver(Datagram d) {
  // Linux drops what arrives while the queue holds more than the receive buffer.
  if (rx_bytes_ > static_cast<size_t>(ip_.rcvbuf)) {
    pbuf_free(d.p);
    return;
  }
  rx_bytes_ += d.p->tot_len + kDatagramOverhead;
  rx_.push_back(d);
  queue_.Notify(kEventIn | kEventRdNorm);
}

void DatagramSocket::SetError(int err) {
  err_ = err;
  queue_.Notify(kEventErr | kEventIn);
}

void DatagramSocket::PrepareSend(const ip_addr_t& dst) {
  ip_pcb* pcb = Pcb();
  if (!pcb) return;
  bool v6 = IP_IS_V6(&dst);
  pcb->ttl = static_cast<u8_t>(v6 ? ip_.EffectiveHops() : ip_.EffectiveTtl());
  pcb->tos = static_cast<u8_t>(v6 ? ip_.tclass : ip_.tos);
}

Result<RecvResult> DatagramSocket::RecvMsg(Task& task, std::span<uint8_t> buf, int flags) {
  if (flags & MSG_OOB) return Errno(EOPNOTSUPP);
  if (flags & MSG_ERRQUEUE) return Errno(EAGAIN);
  bool peek = flags & MSG_PEEK;
  std::optional<kernel::WaiterRegistration> reg;
  std::optional<absl::Time> deadline;
  for (;;) {
    {
      CoreLock l;
      if (!rx_.empty()) {
        Datagram& d = rx_.front();
        RecvResult r;
        size_t len = d.p->tot_len;
        r.copied = CopyFromPbuf(d.p, 0, buf.first(std::min(len, buf.size())));
        r.length = len;
        if (r.copied < len) r.msg_flags |= MSG_TRUNC;
        r.from = MakeSockAddr(family(), &d.from, d.port);
        if (IP_IS_V4_VAL(d.from)) {
          if (ip_.pktinfo) {
            in_pktinfo pi{};
            pi.ipi_ifindex = d.ifindex;
            pi.ipi_spec_dst.s_addr = ip4_addr_get_u32(ip_2_ip4(&d.dst));
            pi.ipi_addr.s_addr = ip4_addr_get_u32(ip_2_ip4(&d.dst));
            r.control.other.push_back(Cmsg(IPPROTO_IP, IP_PKTINFO, pi));
          }
          if (ip_.recvttl) r.control.other.push_back(Cmsg(IPPROTO_IP, IP_TTL, int{d.ttl}));
          if (ip_.recvtos) r.control.other.push_back(Cmsg(IPPROTO_IP, IP_TOS, d.tos));
        } else {
          if (ip_.recvpktinfo6) {
            in6_pktinfo pi{};
            std::memcpy(&pi.ipi6_addr, ip_2_ip6(&d.dst)->addr, 16);
            pi.ipi6_ifindex = d.ifindex;
            r.control.other.push_back(Cmsg(IPPROTO_IPV6, IPV6_PKTINFO, pi));
          }
          if (ip_.recvhoplimit) {
            r.control.other.push_back(Cmsg(IPPROTO_IPV6, IPV6_HOPLIMIT, int{d.ttl}));
          }
          if (ip_.recvtclass)
            r.control.other.push_back(Cmsg(IPPROTO_IPV6, IPV6_TCLASS, int{d.tos}));
        }
        if (!peek) {
          rx_bytes_ -= len + kDatagramOverhead;
          pbuf_free(d.p);
          rx_.pop_front();
        }
        return r;
      }
      if (err_) return Errno(std::exchange(err_, 0));
      if (shut_rd_) return RecvResult{};
    }
    if (NonBlocking(flags)) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(queue_, &task, kEventIn | kEventErr | kEventHup | kEventRdHup);
      deadline = RecvDeadline();
      continue;
    }
    TRY(Wait(task, deadline));
  }
}

Result<void> DatagramSocket::Shutdown(Task&, int how) {
  CoreLock l;
  // Linux records the shutdown even on an unconnected socket, and says ENOTCONN.
  if (how == SHUT_RD || how == SHUT_RDWR) shut_rd_ = true;
  if (how == SHUT_WR || how == SHUT_RDWR) shut_wr_ = true;
  queue_.Notify(kEventIn | kEventOut | kEventHup | kEventRdHup);
  if (!connected_) return Errno(ENOTCONN);
  return Ok();
}

EventMask DatagramSocket::Readiness(EventMask mask) {
  CoreLock l;
  EventMask m = kEventOut | kEventWrNorm;
  if (err_) m |= kEventErr;
  if (shut_rd_) m |= kEventIn | kEventRdNorm | kEventRdHup;
  if (shut_rd_ && shut_wr_) m |= kEventHup;
  if (!rx_.empty()) m |= kEventIn | kEventRdNorm;
  return m & (mask | kEventErr | kEventHup);
}

Result<std::vector<uint8_t>> DatagramSocket::GetSockOpt(Task& task, int level, int name,
                                                        size_t len) {
  {
    CoreLock l;
    auto int_opt = [len](int v) {
      std::vector<uint8_t> out = OptionBytes(v);
      out.resize(std::min(out.size(), len));
      return out;
    };
    if (level == SOL_SOCKET && name == SO_ERROR) return int_opt(std::exchange(err_, 0));
    if (level == SOL_SOCKET && name == SO_ACCEPTCONN) return int_opt(0);
    if (level == IPPROTO_IP || level == IPPROTO_IPV6 || level == SOL_SOCKET) {
      Result<std::vector<uint8_t>> r = GetIpOption(ip_, family(), level, name, len);
      if (r.ok() || level != SOL_SOCKET) return r;
    }
  }
  return Socket::GetSockOpt(task, level, name, len);
}

Result<void> DatagramSocket::SetSockOpt(Task& task, int level, int name,
                                        std::span<const uint8_t> val) {
  bool net_admin = task.creds()->HasCap(CAP_NET_ADMIN);
  if (level == SOL_SOCKET && name != SO_RCVBUF && name != SO_SNDBUF && name != SO_RCVBUFFORCE &&
      name != SO_SNDBUFFORCE) {
    TRY(Socket::SetSockOpt(task, level, name, val));
    CommonOptions o = options();
    CoreLock l;
    ip_.reuseaddr = o.reuseaddr;
    ip_.reuseport = o.reuseport;
    ip_.broadcast = o.broadcast;
    ApplyIpOptions(ip_, family(), Pcb());
    return Ok();
  }
  CoreLock l;
  TRY(SetIpOption(ip_, family(), Bound(), level, name, val, net_admin));
  ApplyIpOptions(ip_, family(), Pcb());
  return Ok();
}

Result<long> DatagramSocket::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  int v = 0;
  switch (cmd) {
    case SIOCINQ: {
      CoreLock l;
      v = rx_.empty() ? 0 : rx_.front().p->tot_len;
      break;
    }
    case SIOCOUTQ:
      v = 0;  // sends are done when the call returns
      break;
    default:
      return Socket::Ioctl(task, cmd, arg);
  }
  TRY(task.CopyOutObj(arg, v));
  return 0;
}

}  // namespace moat::sockets::netstack
