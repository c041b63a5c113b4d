// The socket syscalls: socket, socketpair, bind, connect, listen, accept, accept4, sendto,
// recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg, getsockopt, setsockopt, getsockname,
// getpeername, shutdown. They move addresses, data and control messages (cmsg(3)) between the
// application and sentry/socket/, whose families never touch user memory.
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <climits>
#include <cstring>
#include <memory>

#include "absl/time/time.h"
#include "sentry/kernel/timers.h"
#include "sentry/socket/families.h"
#include "sentry/socket/socket.h"
#include "sentry/socket/stack.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using sockets::ControlMessages;
using sockets::RecvResult;
using sockets::SendArgs;
using sockets::SockAddr;
using sockets::Socket;

namespace {

constexpr size_t kMaxRw = INT_MAX & ~(kPageSize - 1);  // MAX_RW_COUNT
constexpr size_t kChunk = 1 << 20;  // how much of a stream send or receive one call moves
constexpr size_t kMaxDatagram = 16 << 20;  // beyond any family's send buffer: EMSGSIZE
constexpr size_t kOptMemMax = 20480;       // net.core.optmem_max: the largest msg_control
constexpr int kScmMaxFd = 253;             // SCM_MAX_FD
constexpr int kSoMaxConn = 4096;           // net.core.somaxconn
constexpr int kUioMaxIov = 1024;
// The kernel's flag for 32-bit callers, which the *msg calls refuse from a 64-bit one.
constexpr int kMsgCmsgCompat = static_cast<int>(0x80000000u);

// The task thread's buffer for socket data, kept between calls like read and write's.
std::span<uint8_t> Scratch(size_t want) {
  thread_local std::unique_ptr<uint8_t[]> buf(new uint8_t[kChunk]);
  return {buf.get(), std::min(want, kChunk)};
}

Result<RefPtr<Socket>> GetSocket(Task& t, int fd) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().GetNotPath(fd));
  auto* s = dynamic_cast<Socket*>(f.get());
  if (!s) return Errno(ENOTSOCK);
  return RefPtr<Socket>(s);
}

// move_addr_to_kernel: EINVAL for a negative length or one beyond sockaddr_storage.
Result<SockAddr> CopyInAddr(Task& t, UserAddr addr, int64_t len) {
  if (len < 0 || len > static_cast<int64_t>(sizeof(sockaddr_storage))) return Errno(EINVAL);
  SockAddr a;
  a.len = static_cast<socklen_t>(len);
  if (len > 0) TRY(t.CopyIn(addr, a.data(), len));
  return a;
}

// move_addr_to_user: writes at most *len_addr bytes of `a` and stores its full length there.
// (accept and recvfrom skip it for a null `addr`.)
Result<void> CopyOutAddr(Task& t, const SockAddr& a, UserAddr addr, UserAddr len_addr) {
  int len = TRY(t.CopyInObj<int>(len_addr));
  if (len < 0) return Errno(EINVAL);
  size_t n = std::min<size_t>(len, a.len);
  if (n > 0) TRY(t.CopyOut(addr, a.data(), n));
  return t.CopyOutObj(len_addr, static_cast<int>(a.len));
}

// The total length of `iov`, capped like Linux's import_iovec: a vector whose total would
// overflow ssize_t is EINVAL; reading stops at MAX_RW_COUNT.
Result<size_t> IovTotal(const std::vector<iovec>& iov) {
  size_t total = 0;
  for (const iovec& v : iov) {
    if (v.iov_len > static_cast<size_t>(SSIZE_MAX) - total) return Errno(EINVAL);
    total += v.iov_len;
  }
  return std::min(total, kMaxRw);
}

// Copies `len` bytes from the iovecs, starting `skip` bytes in, into `dst`. Returns how many
// could be copied before a fault.
Result<size_t> Gather(Task& t, const std::vector<iovec>& iov, size_t skip, uint8_t* dst,
                      size_t len) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == len) break;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    size_t n = std::min(v.iov_len - skip, len - done);
    size_t got = TRY(t.CopyInPartial(UserAddr(reinterpret_cast<uint64_t>(v.iov_base) + skip),
                                     dst + done, n));
    done += got;
    if (got < n) break;
    skip = 0;
  }
  return done;
}

// Copies `src` into the iovecs, starting `skip` bytes in. Returns how many bytes reached user
// memory.
Result<size_t> Scatter(Task& t, const std::vector<iovec>& iov, size_t skip,
                       std::span<const uint8_t> src) {
  size_t done = 0;
  for (const iovec& v : iov) {
    if (done == src.size()) break;
    if (skip >= v.iov_len) {
      skip -= v.iov_len;
      continue;
    }
    size_t n = std::min(v.iov_len - skip, src.size() - done);
    size_t put = TRY(t.CopyOutPartial(UserAddr(reinterpret_cast<uint64_t>(v.iov_base) + skip),
                                      src.data() + done, n));
    done += put;
    if (put < n) break;
    skip = 0;
  }
  return done;
}

// One message as sendmsg and recvmsg see it, decoded from a struct msghdr.
struct Message {
  UserAddr name;
  int namelen = 0;
  std::vector<iovec> iov;
  UserAddr control;
  size_t controllen = 0;
};

// copy_msghdr_from_user: EINVAL for a bad name length, EMSGSIZE for too many iovecs.
Result<Message> CopyInMsghdr(Task& t, UserAddr addr, msghdr* raw_out = nullptr) {
  msghdr raw = TRY(t.CopyInObj<msghdr>(addr));
  if (raw_out) *raw_out = raw;
  Message m;
  m.name = UserAddr(reinterpret_cast<uint64_t>(raw.msg_name));
  m.namelen = m.name.IsNull() ? 0 : static_cast<int>(raw.msg_namelen);
  if (m.namelen < 0 || m.namelen > static_cast<int>(sizeof(sockaddr_storage))) {
    return Errno(EINVAL);
  }
  if (raw.msg_iovlen > static_cast<size_t>(kUioMaxIov)) return Errno(EMSGSIZE);
  m.iov = TRY(t.CopyInIovecs(UserAddr(reinterpret_cast<uint64_t>(raw.msg_iov)),
                             static_cast<int64_t>(raw.msg_iovlen)));
  m.control = UserAddr(reinterpret_cast<uint64_t>(raw.msg_control));
  m.controllen = raw.msg_controllen;
  return m;
}

// SCM_CREDENTIALS as the sender claims them (scm_check_creds): its own pid unless
// CAP_SYS_ADMIN, one of its uids unless CAP_SETUID, one of its gids unless CAP_SETGID.
Result<void> CheckCredentials(Task& t, const ucred& c) {
  const kernel::Credentials& me = *t.creds();
  if (c.pid != t.pid() && !me.HasCap(CAP_SYS_ADMIN)) return Errno(EPERM);
  bool uid_ok = c.uid == me.ruid || c.uid == me.euid || c.uid == me.suid;
  if (!uid_ok && !me.HasCap(CAP_SETUID)) return Errno(EPERM);
  bool gid_ok = c.gid == me.rgid || c.gid == me.egid || c.gid == me.sgid;
  if (!gid_ok && !me.HasCap(CAP_SETGID)) return Errno(EPERM);
  return Ok();
}

// Parses sendmsg's control buffer (__scm_send and the cmsg walk of the families): EINVAL for
// a malformed header, EBADF for a bad fd in SCM_RIGHTS, EPERM for credentials not one's own.
Result<ControlMessages> ParseControl(Task& t, const Message& m) {
  ControlMessages out;
  if (m.controllen == 0) return out;
  if (m.controllen > INT_MAX) return Errno(ENOBUFS);
  if (m.controllen < sizeof(cmsghdr)) return Errno(EINVAL);
  if (m.controllen > kOptMemMax) return Errno(ENOBUFS);
  std::vector<uint8_t> buf(m.controllen);
  TRY(t.CopyIn(m.control, buf.data(), buf.size()));
  size_t off = 0;
  while (off + sizeof(cmsghdr) <= buf.size()) {
    cmsghdr h;
    std::memcpy(&h, buf.data() + off, sizeof(h));
    if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > buf.size() - off) return Errno(EINVAL);
    const uint8_t* data = buf.data() + off + CMSG_LEN(0);
    size_t len = h.cmsg_len - CMSG_LEN(0);
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
      // scm_fp_copy: an SCM_RIGHTS message without fds is ignored.
      size_t n = len / sizeof(int);
      if (out.rights.size() + n > kScmMaxFd) return Errno(EINVAL);
      for (size_t i = 0; i < n; i++) {
        int fd;
        std::memcpy(&fd, data + i * sizeof(int), sizeof(fd));
        out.rights.push_back(TRY(t.fds().GetNotPath(fd)));
      }
    } else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_CREDENTIALS) {
      if (len != sizeof(ucred)) return Errno(EINVAL);
      ucred c;
      std::memcpy(&c, data, sizeof(c));
      TRY(CheckCredentials(t, c));
      out.credentials = c;
    } else {
      out.other.push_back({h.cmsg_level, h.cmsg_type, std::vector<uint8_t>(data, data + len)});
    }
    off += CMSG_ALIGN(h.cmsg_len);
  }
  return out;
}

// Writes recvmsg's control messages (put_cmsg, scm_recv, scm_detach_fds): timestamps and the
// like first, then credentials, then the files, each as far as the buffer has room. Files that
// do not fit are closed and MSG_CTRUNC set. Returns the bytes used.
Result<size_t> WriteControl(Task& t, const ControlMessages& c, UserAddr addr, size_t space,
                            bool cloexec, int* msg_flags) {
  std::vector<uint8_t> out;
  auto put = [&](int level, int type, const void* data, size_t len) {
    size_t room = space - out.size();
    if (out.size() >= space || room < sizeof(cmsghdr)) {
      *msg_flags |= MSG_CTRUNC;
      return;
    }
    size_t cmlen = CMSG_LEN(len);
    if (room < cmlen) {
      *msg_flags |= MSG_CTRUNC;
      cmlen = room;
    }
    cmsghdr h{};
    h.cmsg_len = cmlen;
    h.cmsg_level = level;
    h.cmsg_type = type;
    size_t at = out.size();
    out.resize(at + cmlen);
    std::memcpy(out.data() + at, &h, sizeof(h));
    std::memcpy(out.data() + at + CMSG_LEN(0), data, cmlen - CMSG_LEN(0));
    out.resize(std::min(space, at + CMSG_SPACE(len)));
  };
  for (const ControlMessages::Raw& r : c.other) put(r.level, r.type, r.data.data(), r.data.size());
  if (c.credentials) put(SOL_SOCKET, SCM_CREDENTIALS, &*c.credentials, sizeof(ucred));
  if (!c.rights.empty()) {
    size_t room = out.size() < space ? space - out.size() : 0;
    size_t fit = room > CMSG_LEN(0) ? (room - CMSG_LEN(0)) / sizeof(int) : 0;
    fit = std::min(fit, c.rights.size());
    std::vector<int> fds;
    for (size_t i = 0; i < fit; i++) {
      Result<int> fd = t.fds().Add(c.rights[i], cloexec, 0, FdLimit(t));
      if (!fd.ok()) {
        if (fds.empty()) *msg_flags |= MSG_CTRUNC;
        break;
      }
      fds.push_back(*fd);
    }
    if (fds.size() < c.rights.size()) *msg_flags |= MSG_CTRUNC;
    if (!fds.empty()) {
      cmsghdr h{};
      h.cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
      h.cmsg_level = SOL_SOCKET;
      h.cmsg_type = SCM_RIGHTS;
      size_t at = out.size();
      out.resize(at + h.cmsg_len);
      std::memcpy(out.data() + at, &h, sizeof(h));
      std::memcpy(out.data() + at + CMSG_LEN(0), fds.data(), fds.size() * sizeof(int));
      out.resize(std::min(space, at + CMSG_SPACE(fds.size() * sizeof(int))));
    }
  }
  if (!out.empty()) TRY(t.CopyOut(addr, out.data(), out.size()));
  return out.size();
}

// Sends one message, gathered from `m`'s iovecs. A stream socket takes a large message in
// pieces and reports what went before an error; anything else gets it whole.
Result<size_t> SendMessage(Task& t, Socket& s, const Message& m, std::optional<SockAddr> to,
                           ControlMessages control, int flags) {
  size_t total = TRY(IovTotal(m.iov));
  SendArgs args;
  args.to = std::move(to);
  args.control = std::move(control);
  args.flags = flags;
  Result<size_t> r = Errno(0);
  if (!s.IsStream() || total <= kChunk) {
    if (total > kMaxDatagram) return Errno(EMSGSIZE);
    std::vector<uint8_t> big;
    std::span<uint8_t> buf = Scratch(total);
    if (total > kChunk) {
      big.resize(total);
      buf = big;
    }
    size_t got = TRY(Gather(t, m.iov, 0, buf.data(), total));
    if (got < total) return Errno(EFAULT);
    args.data = buf.first(total);
    r = s.SendMsg(t, args);
  } else {
    size_t done = 0;
    while (done < total) {
      std::span<uint8_t> buf = Scratch(total - done);
      size_t got = TRY(Gather(t, m.iov, done, buf.data(), buf.size()));
      if (got == 0) {
        r = done > 0 ? Result<size_t>(done) : Result<size_t>(Errno(EFAULT));
        break;
      }
      args.data = buf.first(got);
      Result<size_t> part = s.SendMsg(t, args);
      args.control = {};  // the control messages go with the first piece
      args.to.reset();
      if (!part.ok()) {
        r = done > 0 ? Result<size_t>(done) : part;
        break;
      }
      done += *part;
      r = done;
      if (*part < got || got < buf.size()) break;
    }
  }
  if (!r.ok() && r.error().value() == EPIPE && !(flags & MSG_NOSIGNAL) && s.SendsSigpipe()) {
    SendSelfSignal(t, SIGPIPE);
  }
  return r;
}

// Receives one message into `m`'s iovecs. Fills `result` with what the family reported (the
// address, control messages, flags); returns what recv returns.
Result<size_t> ReceiveMessage(Task& t, Socket& s, const Message& m, int flags, RecvResult* result) {
  size_t total = TRY(IovTotal(m.iov));
  std::vector<uint8_t> big;
  std::span<uint8_t> buf = Scratch(total);
  if (!s.IsStream() && total > kChunk) {
    big.resize(std::min(total, kMaxDatagram));
    buf = big;
  }
  // A stream receive larger than the buffer goes in pieces; MSG_WAITALL keeps going until all
  // of it came.
  size_t done = 0;
  for (;;) {
    std::span<uint8_t> dst = buf.first(std::min(buf.size(), total - done));
    Result<RecvResult> r = s.RecvMsg(t, dst, flags);
    if (!r.ok()) {
      if (done > 0) return done;
      return r.error();
    }
    size_t put = TRY(Scatter(t, m.iov, done, dst.first(r->copied)));
    if (put < r->copied && put == 0 && done == 0) return Errno(EFAULT);
    if (done == 0) {
      *result = std::move(*r);
    } else {
      result->msg_flags |= r->msg_flags;
    }
    done += put;
    if (!s.IsStream()) return (flags & MSG_TRUNC) ? result->length : done;
    if ((flags & MSG_TRUNC) && r->length > r->copied) return r->length;
    // A piece that filled the buffer is followed by the next: what is there now, or with
    // MSG_WAITALL all of it. The family has waited for a whole piece under MSG_WAITALL already.
    if (put < r->copied || r->copied < dst.size() || done >= total || (flags & MSG_PEEK)) break;
    if (!(flags & MSG_WAITALL)) flags |= MSG_DONTWAIT;
  }
  return done;
}

// sendmsg for one struct msghdr at `addr` (also sendmmsg's loop).
Result<size_t> DoSendmsg(Task& t, Socket& s, UserAddr addr, int flags) {
  Message m = TRY(CopyInMsghdr(t, addr));
  std::optional<SockAddr> to;
  if (!m.name.IsNull()) to = TRY(CopyInAddr(t, m.name, m.namelen));
  ControlMessages control = TRY(ParseControl(t, m));
  return SendMessage(t, s, m, std::move(to), std::move(control), flags);
}

// recvmsg for one struct msghdr at `addr` (also recvmmsg's loop): writes back msg_namelen,
// msg_controllen and msg_flags.
Result<size_t> DoRecvmsg(Task& t, Socket& s, UserAddr addr, int flags) {
  msghdr raw;
  Message m = TRY(CopyInMsghdr(t, addr, &raw));
  if (m.controllen > INT_MAX) return Errno(EINVAL);
  RecvResult r;
  size_t n = TRY(ReceiveMessage(t, s, m, flags & ~MSG_CMSG_CLOEXEC, &r));
  int msg_flags = r.msg_flags;
  // msg_namelen is written only with an address buffer, as move_addr_to_user does.
  if (!m.name.IsNull()) {
    size_t len = std::min<size_t>(m.namelen, r.from.len);
    if (len > 0) TRY(t.CopyOut(m.name, r.from.data(), len));
    raw.msg_namelen = r.from.len;
    TRY(t.CopyOut(addr + offsetof(msghdr, msg_namelen), &raw.msg_namelen,
                  sizeof(raw.msg_namelen)));
  }
  raw.msg_controllen = TRY(WriteControl(t, r.control, m.control, m.controllen,
                                        flags & MSG_CMSG_CLOEXEC, &msg_flags));
  raw.msg_flags = msg_flags;
  TRY(t.CopyOut(addr + offsetof(msghdr, msg_controllen), &raw.msg_controllen,
                sizeof(raw.msg_controllen)));
  TRY(t.CopyOut(addr + offsetof(msghdr, msg_flags), &raw.msg_flags, sizeof(raw.msg_flags)));
  return n;
}

// The *msg calls' flags: unknown ones are ignored as Linux does, except MSG_CMSG_COMPAT.
Result<int> MsgFlags(int flags) {
  if (flags & kMsgCmsgCompat) return Errno(EINVAL);
  return flags;
}

// __sock_create's checks before any family sees the call: flags beyond the type's four bits
// and SOCK_NONBLOCK / SOCK_CLOEXEC are EINVAL; a family out of range EAFNOSUPPORT; a type past
// SOCK_PACKET EINVAL.
Result<void> CheckType(int family, int type) {
  constexpr int kSockMax = SOCK_PACKET + 1;
  if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf)) return Errno(EINVAL);
  if (family < 0 || family >= AF_MAX) return Errno(EAFNOSUPPORT);
  if ((type & 0xf) >= kSockMax) return Errno(EINVAL);
  return Ok();
}

}  // namespace

// socket(2)
Result<long> Socket_(Task& t, const SyscallArgs& a) {
  int family = a.Int32(0);
  int type = a.Int32(1);
  int protocol = a.Int32(2);
  TRY(CheckType(family, type));
  int flags = (type & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
  RefPtr<Socket> s = TRY(sockets::NewSocket(t, family, type & 0xf, protocol, flags));
  return TRY(t.fds().Add(std::move(s), type & SOCK_CLOEXEC, 0, FdLimit(t)));
}

// socketpair(2)
Result<long> Socketpair(Task& t, const SyscallArgs& a) {
  int family = a.Int32(0);
  int type = a.Int32(1);
  int protocol = a.Int32(2);
  TRY(CheckType(family, type));
  int flags = (type & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
  auto [s0, s1] = TRY(sockets::NewSocketPair(t, family, type & 0xf, protocol, flags));
  bool cloexec = type & SOCK_CLOEXEC;
  int fds[2];
  fds[0] = TRY(t.fds().Add(s0, cloexec, 0, FdLimit(t)));
  Result<int> fd1 = t.fds().Add(s1, cloexec, 0, FdLimit(t));
  if (!fd1.ok()) {
    (void)t.fds().Remove(fds[0]);
    return fd1.error();
  }
  fds[1] = *fd1;
  Result<void> w = t.CopyOut(a.Addr(3), fds, sizeof(fds));
  if (!w.ok()) {
    (void)t.fds().Remove(fds[0]);
    (void)t.fds().Remove(fds[1]);
    return w.error();
  }
  return 0;
}

// bind(2)
Result<long> Bind(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  SockAddr addr = TRY(CopyInAddr(t, a.Addr(1), a.Int32(2)));
  TRY(s->Bind(t, addr));
  return 0;
}

// connect(2)
Result<long> Connect(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  SockAddr addr = TRY(CopyInAddr(t, a.Addr(1), a.Int32(2)));
  TRY(s->Connect(t, addr));
  return 0;
}

// listen(2)
Result<long> Listen(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int backlog = a.Int32(1);
  if (static_cast<unsigned>(backlog) > kSoMaxConn) backlog = kSoMaxConn;
  TRY(s->Listen(t, backlog));
  return 0;
}

namespace {

Result<long> DoAccept(Task& t, int fd, UserAddr addr, UserAddr len_addr, int flags) {
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return Errno(EINVAL);
  RefPtr<Socket> s = TRY(GetSocket(t, fd));
  if (!addr.IsNull()) {
    int len = TRY(t.CopyInObj<int>(len_addr));
    if (len < 0) return Errno(EINVAL);
  }
  SockAddr peer;
  RefPtr<Socket> conn = TRY(s->Accept(t, (flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0, &peer));
  int newfd = TRY(t.fds().Add(conn, flags & SOCK_CLOEXEC, 0, FdLimit(t)));
  Result<void> w = addr.IsNull() ? Ok() : CopyOutAddr(t, peer, addr, len_addr);
  if (!w.ok()) {
    (void)t.fds().Remove(newfd);
    return w.error();
  }
  return newfd;
}

}  // namespace

// accept(2)
Result<long> Accept(Task& t, const SyscallArgs& a) {
  return DoAccept(t, a.Int32(0), a.Addr(1), a.Addr(2), 0);
}

// accept4(2)
Result<long> Accept4(Task& t, const SyscallArgs& a) {
  return DoAccept(t, a.Int32(0), a.Addr(1), a.Addr(2), a.Int32(3));
}

// sendto(2)
Result<long> Sendto(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int flags = a.Int32(3);
  Message m;
  m.iov.push_back({reinterpret_cast<void*>(a.Uint(1)), std::min<size_t>(a.Uint(2), kMaxRw)});
  std::optional<SockAddr> to;
  if (!a.Addr(4).IsNull()) to = TRY(CopyInAddr(t, a.Addr(4), a.Int32(5)));
  return TRY(SendMessage(t, *s, m, std::move(to), {}, flags));
}

// recvfrom(2)
Result<long> Recvfrom(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int flags = a.Int32(3) & ~MSG_CMSG_CLOEXEC;
  Message m;
  m.iov.push_back({reinterpret_cast<void*>(a.Uint(1)), std::min<size_t>(a.Uint(2), kMaxRw)});
  RecvResult r;
  size_t n = TRY(ReceiveMessage(t, *s, m, flags, &r));
  // Control messages have nowhere to go: files passed along are closed (scm_destroy).
  if (!a.Addr(4).IsNull()) TRY(CopyOutAddr(t, r.from, a.Addr(4), a.Addr(5)));
  return n;
}

// sendmsg(2)
Result<long> Sendmsg(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int flags = TRY(MsgFlags(a.Int32(2)));
  return TRY(DoSendmsg(t, *s, a.Addr(1), flags));
}

// recvmsg(2)
Result<long> Recvmsg(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int flags = TRY(MsgFlags(a.Int32(2)));
  return TRY(DoRecvmsg(t, *s, a.Addr(1), flags));
}

// sendmmsg(2): as many messages as go; the error only if the first fails.
Result<long> Sendmmsg(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  UserAddr vec = a.Addr(1);
  unsigned vlen = std::min<unsigned>(a.Uint32(2), kUioMaxIov);
  int flags = TRY(MsgFlags(a.Int32(3)));
  unsigned i = 0;
  for (; i < vlen; i++) {
    UserAddr hdr = vec + i * sizeof(mmsghdr);
    Result<size_t> n = DoSendmsg(t, *s, hdr, flags);
    if (!n.ok()) {
      if (i == 0) return n.error();
      break;
    }
    TRY(t.CopyOutObj(hdr + offsetof(mmsghdr, msg_len), static_cast<unsigned>(*n)));
  }
  return i;
}

// recvmmsg(2): MSG_WAITFORONE stops waiting after the first; the timeout is checked after each
// message, as Linux does.
Result<long> Recvmmsg(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  UserAddr vec = a.Addr(1);
  unsigned vlen = std::min<unsigned>(a.Uint32(2), kUioMaxIov);
  int flags = TRY(MsgFlags(a.Int32(3)));
  std::optional<absl::Time> deadline;
  if (!a.Addr(4).IsNull()) {
    timespec ts = TRY(t.CopyInObj<timespec>(a.Addr(4)));
    if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
    deadline = absl::Now() + absl::DurationFromTimespec(ts);
  }
  unsigned i = 0;
  for (; i < vlen; i++) {
    UserAddr hdr = vec + i * sizeof(mmsghdr);
    Result<size_t> n = DoRecvmsg(t, *s, hdr, flags);
    if (!n.ok()) {
      if (i == 0) return n.error();
      break;
    }
    TRY(t.CopyOutObj(hdr + offsetof(mmsghdr, msg_len), static_cast<unsigned>(*n)));
    if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
    if (deadline && absl::Now() >= *deadline) {
      i++;
      break;
    }
  }
  if (deadline && !a.Addr(4).IsNull()) {
    absl::Duration left = std::max(*deadline - absl::Now(), absl::ZeroDuration());
    TRY(t.CopyOutObj(a.Addr(4), absl::ToTimespec(left)));
  }
  return i;
}

// getsockopt(2)
Result<long> Getsockopt(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int len = TRY(t.CopyInObj<int>(a.Addr(4)));
  if (len < 0) return Errno(EINVAL);
  std::vector<uint8_t> val = TRY(s->GetSockOpt(t, a.Int32(1), a.Int32(2), len));
  size_t n = std::min<size_t>(val.size(), len);
  if (n > 0) TRY(t.CopyOut(a.Addr(3), val.data(), n));
  TRY(t.CopyOutObj(a.Addr(4), static_cast<int>(n)));
  return 0;
}

// setsockopt(2)
Result<long> Setsockopt(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int len = a.Int32(4);
  if (len < 0) return Errno(EINVAL);
  std::vector<uint8_t> val(std::min<size_t>(len, kOptMemMax * 4));
  if (!val.empty()) TRY(t.CopyIn(a.Addr(3), val.data(), val.size()));
  TRY(s->SetSockOpt(t, a.Int32(1), a.Int32(2), val));
  return 0;
}

// getsockname(2)
Result<long> Getsockname(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int len = TRY(t.CopyInObj<int>(a.Addr(2)));
  if (len < 0) return Errno(EINVAL);
  SockAddr addr = TRY(s->GetSockName(t));
  TRY(CopyOutAddr(t, addr, a.Addr(1), a.Addr(2)));
  return 0;
}

// getpeername(2)
Result<long> Getpeername(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int len = TRY(t.CopyInObj<int>(a.Addr(2)));
  if (len < 0) return Errno(EINVAL);
  SockAddr addr = TRY(s->GetPeerName(t));
  TRY(CopyOutAddr(t, addr, a.Addr(1), a.Addr(2)));
  return 0;
}

// shutdown(2)
Result<long> Shutdown(Task& t, const SyscallArgs& a) {
  RefPtr<Socket> s = TRY(GetSocket(t, a.Int32(0)));
  int how = a.Int32(1);
  if (how < SHUT_RD || how > SHUT_RDWR) return Errno(EINVAL);
  TRY(s->Shutdown(t, how));
  return 0;
}

}  // namespace moat::syscalls
