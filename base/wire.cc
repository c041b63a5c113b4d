#include "base/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

namespace moat::wire {

Result<void> SendMessage(int sock, std::span<const uint8_t> msg, std::span<const int> fds,
                         int flags) {
  if (fds.size() > kMaxFds) return Errno(EINVAL);
  iovec iov{const_cast<uint8_t*>(msg.data()), msg.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    std::memset(control, 0, mh.msg_controllen);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
    if (n >= 0) return Ok();
    if (errno != EINTR) return LastErrno();
  }
}

Result<Message> ReceiveMessage(int sock, size_t max_size, size_t max_fds) {
  Message m;
  // Not zeroed: only the bytes received are read, and zeroing 64 KiB for each gofer message
  // was a cost of its own.
  std::unique_ptr<uint8_t[]> buf = std::make_unique_for_overwrite<uint8_t[]>(max_size);
  iovec iov{buf.get(), max_size};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  // Room for more fds than anyone may send: a peer that sends too many gets them closed, not
  // leaked.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return LastErrno();
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (m.fds.size() < max_fds) {
        m.fds.emplace_back(fd);
      } else {
        close(fd);
      }
    }
  }
  if (n == 0) return Errno(ECONNRESET);
  if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == MSG_CTRUNC &&
      static_cast<size_t>(n) >= sizeof(Header)) {
    // The control buffer has room for more fds than anyone sends: a truncation is the kernel
    // failing to install them, which it does when this process has no fd left.
    int probe = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (probe < 0 && (errno == EMFILE || errno == ENFILE)) return Errno(EMFILE);
    if (probe >= 0) close(probe);
  }
  if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || static_cast<size_t>(n) < sizeof(Header)) {
    return Errno(EPROTO);
  }
  Header h;
  std::memcpy(&h, buf.get(), sizeof(h));
  if (h.length != static_cast<size_t>(n)) return Errno(EPROTO);
  m.type = h.type;
  m.body.assign(buf.get() + sizeof(Header), buf.get() + n);
  return m;
}

}  // namespace moat::wire
