#include "sentry/socket/socket.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sentry/kernel/task.h"
#include "sentry/socket/interface_ioctl.h"
#include "sentry/vfs/memory_inode.h"

namespace moat::sockets {

namespace {

// The sockfs inode every socket has: what fstat shows ("socket:[N]", S_IFSOCK, mode 0777), and
// what /proc/self/fd/N names. Opening it through /proc gives ENXIO, as on Linux.
class SocketInode : public vfs::MemoryInode {
 public:
  SocketInode(uint32_t uid, uint32_t gid)
      : MemoryInode(Dev(), NextIno(), S_IFSOCK | 0777, uid, gid) {}

  Result<RefPtr<vfs::FileDescription>> Open(int, const vfs::Path&) override {
    return Errno(ENXIO);
  }

  std::optional<std::string> AnonymousName() override {
    return absl::StrCat("socket:[", ino(), "]");
  }

 private:
  static uint64_t NextIno() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  static uint64_t Dev() {
    static const uint64_t dev = vfs::NewAnonDev();
    return dev;
  }
};

vfs::Path SocketPath(uint32_t uid, uint32_t gid) {
  auto inode = MakeRef<SocketInode>(uid, gid);
  std::string name = *inode->AnonymousName();
  return vfs::Path{nullptr, MakeRef<vfs::Dentry>(nullptr, std::move(name), std::move(inode))};
}

// SO_RCVTIMEO / SO_SNDTIMEO as a struct timeval: unset is {0, 0}.
std::vector<uint8_t> TimeoutBytes(const std::optional<absl::Duration>& d, size_t len) {
  timeval tv{};
  if (d) tv = absl::ToTimeval(*d);
  std::vector<uint8_t> out = OptionBytes(tv);
  out.resize(std::min(out.size(), len));
  return out;
}

// sock_set_timeout: EINVAL for a short value or a bad tv_usec; a negative time is a zero
// timeout (Linux warns and treats it as 0, which means "forever").
Result<std::optional<absl::Duration>> TimeoutFrom(std::span<const uint8_t> val) {
  if (val.size() < sizeof(timeval)) return Errno(EINVAL);
  timeval tv;
  std::memcpy(&tv, val.data(), sizeof(tv));
  if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return Errno(EDOM);
  if (tv.tv_sec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0)) return std::optional<absl::Duration>();
  return std::optional<absl::Duration>(absl::DurationFromTimeval(tv));
}

}  // namespace

Result<int> OptionInt(std::span<const uint8_t> val) {
  if (val.size() < sizeof(int)) return Errno(EINVAL);
  int v;
  std::memcpy(&v, val.data(), sizeof(v));
  return v;
}

Socket::Socket(int family, int type, int protocol, int flags, uint32_t uid, uint32_t gid)
    : vfs::FileDescription(O_RDWR | (flags & O_NONBLOCK), SocketPath(uid, gid)),
      family_(family),
      type_(type),
      protocol_(protocol) {}

Result<void> Socket::Bind(Task&, const SockAddr&) { return Errno(EOPNOTSUPP); }
Result<void> Socket::Connect(Task&, const SockAddr&) { return Errno(EOPNOTSUPP); }
Result<void> Socket::Listen(Task&, int) { return Errno(EOPNOTSUPP); }
Result<RefPtr<Socket>> Socket::Accept(Task&, int, SockAddr*) { return Errno(EOPNOTSUPP); }
Result<size_t> Socket::SendMsg(Task&, SendArgs&) { return Errno(EOPNOTSUPP); }
Result<RecvResult> Socket::RecvMsg(Task&, std::span<uint8_t>, int) { return Errno(EOPNOTSUPP); }
Result<void> Socket::Shutdown(Task&, int) { return Errno(EOPNOTSUPP); }
Result<SockAddr> Socket::GetSockName(Task&) { return Errno(EOPNOTSUPP); }
Result<SockAddr> Socket::GetPeerName(Task&) { return Errno(ENOTCONN); }

Result<std::vector<uint8_t>> Socket::GetSockOpt(Task&, int level, int name, size_t len) {
  if (level != SOL_SOCKET) return Errno(ENOPROTOOPT);
  CommonOptions o = options();
  auto int_opt = [&](int v) {
    std::vector<uint8_t> out = OptionBytes(v);
    out.resize(std::min(out.size(), len));
    return out;
  };
  switch (name) {
    case SO_TYPE:
      return int_opt(type_);
    case SO_DOMAIN:
      return int_opt(family_);
    case SO_PROTOCOL:
      return int_opt(protocol_);
    case SO_RCVTIMEO_OLD:
      return TimeoutBytes(o.rcvtimeo, len);
    case SO_SNDTIMEO_OLD:
      return TimeoutBytes(o.sndtimeo, len);
    case SO_RCVLOWAT:
      return int_opt(o.rcvlowat);
    case SO_SNDLOWAT:
      return int_opt(1);
    case SO_PASSCRED:
      return int_opt(o.passcred);
    case SO_TIMESTAMP_OLD:
      return int_opt(o.timestamp);
    case SO_TIMESTAMPNS_OLD:
      return int_opt(o.timestampns);
    case SO_REUSEADDR:
      return int_opt(o.reuseaddr);
    case SO_REUSEPORT:
      return int_opt(o.reuseport);
    case SO_KEEPALIVE:
      return int_opt(o.keepalive);
    case SO_BROADCAST:
      return int_opt(o.broadcast);
    case SO_OOBINLINE:
      return int_opt(o.oobinline);
    case SO_DONTROUTE:
      return int_opt(o.dontroute);
    case SO_PRIORITY:
      return int_opt(o.priority);
    case SO_MARK:
      return int_opt(o.mark);
    case SO_ERROR:
      return int_opt(0);
    case SO_LINGER: {
      linger l = o.lingering.value_or(linger{0, 0});
      std::vector<uint8_t> out = OptionBytes(l);
      out.resize(std::min(out.size(), len));
      return out;
    }
    case SO_BINDTODEVICE: {
      if (o.bindtodevice.empty()) return std::vector<uint8_t>{};
      std::vector<uint8_t> out(o.bindtodevice.begin(), o.bindtodevice.end());
      out.push_back(0);
      if (out.size() > len) return Errno(EINVAL);
      return out;
    }
    default:
      return Errno(ENOPROTOOPT);
  }
}

Result<void> Socket::SetSockOpt(Task&, int level, int name, std::span<const uint8_t> val) {
  if (level != SOL_SOCKET) return Errno(ENOPROTOOPT);
  if (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD) {
    std::optional<absl::Duration> d = TRY(TimeoutFrom(val));
    absl::MutexLock l(&opt_mu_);
    (name == SO_RCVTIMEO_OLD ? opts_.rcvtimeo : opts_.sndtimeo) = d;
    return Ok();
  }
  if (name == SO_LINGER) {
    if (val.size() < sizeof(linger)) return Errno(EINVAL);
    linger lg;
    std::memcpy(&lg, val.data(), sizeof(lg));
    absl::MutexLock l(&opt_mu_);
    opts_.lingering = lg.l_onoff ? std::optional<linger>(lg) : std::nullopt;
    return Ok();
  }
  if (name == SO_BINDTODEVICE) {
    std::string dev(val.begin(), val.end());
    dev = dev.substr(0, dev.find('\0'));
    if (dev.size() >= IFNAMSIZ) return Errno(EINVAL);
    absl::MutexLock l(&opt_mu_);
    opts_.bindtodevice = dev;
    return Ok();
  }
  int v = TRY(OptionInt(val));
  absl::MutexLock l(&opt_mu_);
  switch (name) {
    case SO_RCVLOWAT:
      opts_.rcvlowat = v < 0 ? INT32_MAX : (v == 0 ? 1 : v);
      return Ok();
    case SO_PASSCRED:
      opts_.passcred = v != 0;
      return Ok();
    case SO_TIMESTAMP_OLD:
      opts_.timestamp = v != 0;
      if (v) opts_.timestampns = false;
      return Ok();
    case SO_TIMESTAMPNS_OLD:
      opts_.timestampns = v != 0;
      if (v) opts_.timestamp = false;
      return Ok();
    case SO_REUSEADDR:
      opts_.reuseaddr = v != 0;
      return Ok();
    case SO_REUSEPORT:
      opts_.reuseport = v != 0;
      return Ok();
    case SO_KEEPALIVE:
      opts_.keepalive = v != 0;
      return Ok();
    case SO_BROADCAST:
      opts_.broadcast = v != 0;
      return Ok();
    case SO_OOBINLINE:
      opts_.oobinline = v != 0;
      return Ok();
    case SO_DONTROUTE:
      opts_.dontroute = v != 0;
      return Ok();
    case SO_PRIORITY:
      // Values above 6 need CAP_NET_ADMIN on Linux; the sandbox's root has it in its namespace.
      opts_.priority = v;
      return Ok();
    case SO_MARK:
      opts_.mark = v;
      return Ok();
    default:
      return Errno(ENOPROTOOPT);
  }
}

Result<long> Socket::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  return InterfaceIoctl(task, family_, cmd, arg);
}

Result<size_t> Socket::Read(Task& task, std::span<uint8_t> dst) {
  RecvResult r = TRY(RecvMsg(task, dst, 0));
  return r.copied;
}

Result<size_t> Socket::Write(Task& task, std::span<const uint8_t> src) {
  SendArgs args;
  args.data = src;
  return SendMsg(task, args);
}

std::optional<std::string> Socket::AnonymousName() { return inode()->AnonymousName(); }

Result<void> Socket::Wait(Task& task, std::optional<absl::Time> deadline) {
  Result<void> r = task.Block(deadline);
  if (r.ok()) return Ok();
  switch (r.error().value()) {
    case ETIMEDOUT:
      return Errno(EAGAIN);
    case EINTR:
      return Errno(deadline ? EINTR : kERESTARTSYS);
    default:
      return r.error();
  }
}

CommonOptions Socket::options() const {
  absl::MutexLock l(&opt_mu_);
  return opts_;
}

std::optional<absl::Time> Socket::RecvDeadline() const {
  absl::MutexLock l(&opt_mu_);
  if (!opts_.rcvtimeo) return std::nullopt;
  return absl::Now() + *opts_.rcvtimeo;
}

std::optional<absl::Time> Socket::SendDeadline() const {
  absl::MutexLock l(&opt_mu_);
  if (!opts_.sndtimeo) return std::nullopt;
  return absl::Now() + *opts_.sndtimeo;
}

}  // namespace moat::sockets
