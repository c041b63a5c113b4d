#include "gofer/protocol.h"

#include <errno.h>
#include <sys/socket.h>

namespace moat::gofer {

Attr AttrFromStat(const struct stat& st) {
  Attr a;
  a.dev = st.st_dev;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.rdev = st.st_rdev;
  a.size = st.st_size;
  a.blksize = st.st_blksize;
  a.blocks = st.st_blocks;
  a.atime = {st.st_atim.tv_sec, st.st_atim.tv_nsec};
  a.mtime = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  a.ctime = {st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  return a;
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

Result<void> SendMessage(int sock, std::span<const uint8_t> msg, int fd) {
  iovec iov{const_cast<uint8_t*>(msg.data()), msg.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n >= 0) return Ok();
    if (errno != EINTR) return LastErrno();
  }
}

Result<Message> ReceiveMessage(int sock) {
  Message m;
  std::vector<uint8_t> buf(kMaxMessage);
  iovec iov{buf.data(), buf.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  // Room for a few fds: a peer that sends more than one gets them closed, not leaked.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
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
      if (!m.fd.valid()) {
        m.fd.Reset(fd);
      } else {
        close(fd);
      }
    }
  }
  if (n == 0) return Errno(ECONNRESET);
  if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || static_cast<size_t>(n) < sizeof(Header)) {
    return Errno(EPROTO);
  }
  Header h;
  std::memcpy(&h, buf.data(), sizeof(h));
  if (h.length != static_cast<size_t>(n)) return Errno(EPROTO);
  m.type = h.type;
  m.body.assign(buf.begin() + sizeof(Header), buf.begin() + n);
  return m;
}

}  // namespace moat::gofer
