// Sockets (socket(7)): what every address family shares, and the operations each implements.
//
// A Socket is an open file description (sockets are files: read, write, poll, fstat, fcntl and
// dup work on them) with the socket calls on top. The syscall layer (syscalls/socket.cc) copies
// addresses, data and control messages between the application and these types, so a family
// never touches user memory: it sees a SockAddr, a span of bytes and parsed ControlMessages.
// Families:
//   - AF_UNIX: sentry/socket/unix/, entirely in the sentry.
//   - AF_INET, AF_INET6 (and AF_PACKET where a stack offers it): the sandbox's network Stack
//     (stack.h), the user-space netstack or, with --network=host, host sockets.
//   - AF_NETLINK: sentry/socket/netlink/, answering from the Stack.
//
// Ownership: a Socket holds its own inode (sockfs: "socket:[N]", S_IFSOCK); families hold
// whatever peers and queues they need. Blocking happens in the family's calls, through Wait(),
// with no lock held.
#ifndef MOAT_SENTRY_SOCKET_SOCKET_H_
#define MOAT_SENTRY_SOCKET_SOCKET_H_

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/errno.h"
#include "base/ref_counted.h"
#include "sentry/kernel/waitqueue.h"
#include "sentry/vfs/vfs.h"

namespace moat::sockets {

using kernel::EventMask;
using kernel::Task;

// A socket address as the application passes and receives it: struct sockaddr_un, sockaddr_in,
// sockaddr_in6, sockaddr_nl or sockaddr_ll, `len` bytes of it.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  sa_family_t family() const { return len >= sizeof(sa_family_t) ? storage.ss_family : AF_UNSPEC; }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(&storage); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(&storage); }
  // The address as a struct of type T, if `len` holds one (families check lengths themselves,
  // as Linux does per family, and use this after).
  template <typename T>
  const T& as() const {
    return *reinterpret_cast<const T*>(&storage);
  }
  template <typename T>
  static SockAddr From(const T& addr, socklen_t len = sizeof(T)) {
    SockAddr a;
    a.len = len;
    std::memcpy(&a.storage, &addr, len);
    return a;
  }
};

// The control messages of sendmsg(2) and recvmsg(2), parsed (cmsg(3)).
struct ControlMessages {
  // SCM_RIGHTS: the files, in order. The syscall layer installs on receipt as many as fit in
  // the receiver's buffer (MSG_CTRUNC for the rest, which are closed), as Linux's scm_detach_fds.
  std::vector<RefPtr<vfs::FileDescription>> rights;
  // SCM_CREDENTIALS: on send, what the sender claims, already checked against its credentials
  // (or filled in for it); on receipt, what is delivered.
  std::optional<ucred> credentials;
  // Everything else (SO_TIMESTAMP, IP_TOS, IP_TTL, IP_PKTINFO, IPV6_PKTINFO, IPV6_HOPLIMIT...):
  // level, type and payload as they travel in a cmsghdr.
  struct Raw {
    int level;
    int type;
    std::vector<uint8_t> data;
  };
  std::vector<Raw> other;

  bool empty() const { return rights.empty() && !credentials && other.empty(); }
};

// One sendmsg(2): the data, gathered from the iovecs; sendto's destination; control messages;
// the MSG_* flags.
struct SendArgs {
  std::span<const uint8_t> data;
  std::optional<SockAddr> to;
  ControlMessages control;
  int flags = 0;
};

// What one recvmsg(2) returned.
struct RecvResult {
  size_t copied = 0;  // bytes written into the buffer
  // The whole datagram's length, which MSG_TRUNC makes recv return. Equals `copied` for streams.
  size_t length = 0;
  SockAddr from;  // len 0: no address to report
  ControlMessages control;
  int msg_flags = 0;  // MSG_TRUNC, MSG_CTRUNC (set by the syscall layer too), MSG_EOR, MSG_OOB
};

// Socket-level options kept for every family (SOL_SOCKET): timeouts, and what families read.
struct CommonOptions {
  std::optional<absl::Duration> rcvtimeo;  // unset: wait forever
  std::optional<absl::Duration> sndtimeo;
  int rcvlowat = 1;
  bool passcred = false;     // SO_PASSCRED
  bool timestamp = false;    // SO_TIMESTAMP
  bool timestampns = false;  // SO_TIMESTAMPNS
  bool reuseaddr = false;
  bool reuseport = false;
  bool keepalive = false;
  bool broadcast = false;
  bool oobinline = false;
  bool dontroute = false;
  int priority = 0;
  int mark = 0;
  std::optional<linger> lingering;  // SO_LINGER with l_onoff set
  std::string bindtodevice;
};

class Socket : public vfs::FileDescription {
 public:
  // `type` is the socket type without SOCK_NONBLOCK and SOCK_CLOEXEC; `flags` the file's status
  // flags (O_NONBLOCK). The socket gets its own sockfs inode owned by `uid`/`gid`.
  Socket(int family, int type, int protocol, int flags, uint32_t uid = 0, uint32_t gid = 0);

  int family() const { return family_; }
  int type() const { return type_; }
  int protocol() const { return protocol_; }

  // The socket calls. `addr` lengths are at most sizeof(sockaddr_storage), otherwise unchecked:
  // each family checks its own (EINVAL for a short one, EAFNOSUPPORT for another family).
  // Defaults: EOPNOTSUPP, as Linux's sock_no_* operations.
  virtual Result<void> Bind(Task& task, const SockAddr& addr);
  // Blocks unless the file is O_NONBLOCK (EINPROGRESS then, for connection-oriented sockets).
  virtual Result<void> Connect(Task& task, const SockAddr& addr);
  virtual Result<void> Listen(Task& task, int backlog);
  // Waits for a connection unless O_NONBLOCK. `flags` are the new file's status flags
  // (O_NONBLOCK from accept4's SOCK_NONBLOCK). Fills `peer` with the peer's address.
  virtual Result<RefPtr<Socket>> Accept(Task& task, int flags, SockAddr* peer);
  // Sends `args.data`. Blocking and MSG_DONTWAIT are the family's. EPIPE makes the syscall
  // layer raise SIGPIPE unless MSG_NOSIGNAL.
  virtual Result<size_t> SendMsg(Task& task, SendArgs& args);
  // Receives into `buf`. `flags`: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_OOB,
  // MSG_ERRQUEUE, MSG_CMSG_CLOEXEC (the syscall layer's).
  virtual Result<RecvResult> RecvMsg(Task& task, std::span<uint8_t> buf, int flags);
  // SHUT_RD, SHUT_WR or SHUT_RDWR (checked by the syscall layer).
  virtual Result<void> Shutdown(Task& task, int how);
  virtual Result<SockAddr> GetSockName(Task& task);
  // ENOTCONN when not connected.
  virtual Result<SockAddr> GetPeerName(Task& task);
  // getsockopt: the option's value, at most `len` bytes of it (the syscall layer writes back
  // the length). The default answers the SOL_SOCKET options of CommonOptions and the socket's
  // identity (SO_TYPE, SO_DOMAIN, SO_PROTOCOL); everything else is ENOPROTOOPT.
  virtual Result<std::vector<uint8_t>> GetSockOpt(Task& task, int level, int name, size_t len);
  // setsockopt. The default stores the SOL_SOCKET options of CommonOptions; ENOPROTOOPT else.
  virtual Result<void> SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val);

  // A stream socket's data may be sent in pieces; anything else is sent whole, one message per
  // call (the syscall layer gathers all of it).
  bool IsStream() const { return type_ == SOCK_STREAM; }

  // ioctl(2): the interface ioctls that every socket answers (interface_ioctl.h; the IPv4
  // address ones on AF_INET sockets only), ENOTTY for anything else. A family with ioctls of
  // its own (FIONREAD, SIOCOUTQ...) answers those and calls this for the rest.
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;

  // FileDescription: read and write are recv and send without flags or addresses.
  Result<size_t> Read(Task& task, std::span<uint8_t> dst) override;
  Result<size_t> Write(Task& task, std::span<const uint8_t> src) override;
  bool SendsSigpipe() const override { return true; }
  bool SupportsAsync() const override { return true; }
  std::optional<std::string> AnonymousName() override;

 protected:
  // Sleeps on whatever queue the caller registered with until woken, the deadline passes
  // (EAGAIN, as a socket timeout gives) or a signal comes: ERESTARTSYS with no deadline, EINTR
  // with one (Linux's sock_intr_errno).
  static Result<void> Wait(Task& task, std::optional<absl::Time> deadline);
  // Deadlines from SO_RCVTIMEO / SO_SNDTIMEO for a call starting now; unset: none.
  std::optional<absl::Time> RecvDeadline() const;
  std::optional<absl::Time> SendDeadline() const;
  // Whether a call with MSG_* `flags` must not block.
  bool NonBlocking(int msg_flags) const {
    return (msg_flags & MSG_DONTWAIT) || (flags() & O_NONBLOCK);
  }
  CommonOptions options() const;

  mutable absl::Mutex opt_mu_;
  CommonOptions opts_ ABSL_GUARDED_BY(opt_mu_);

 private:
  const int family_;
  const int type_;
  const int protocol_;
};

// Option values as getsockopt returns them: an int, or any plain struct.
template <typename T>
std::vector<uint8_t> OptionBytes(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}
// setsockopt's int argument: EINVAL if shorter than an int (Linux reads an int from any longer
// buffer).
Result<int> OptionInt(std::span<const uint8_t> val);

}  // namespace moat::sockets

#endif  // MOAT_SENTRY_SOCKET_SOCKET_H_
