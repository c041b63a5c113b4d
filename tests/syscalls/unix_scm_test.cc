// Conformance tests for AF_UNIX control messages: SCM_RIGHTS (passing files, within and
// between processes, with MSG_CTRUNC, MSG_CMSG_CLOEXEC, bad fds, the stream rule that files
// end a read, references held in flight, sockets sent over themselves) and SCM_CREDENTIALS
// with SO_PASSCRED.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"
#include "tests/syscalls/unix_util.h"

namespace moat::testing {
namespace {

// Sends `data` with the files `fds` in one SCM_RIGHTS message.
ssize_t SendFds(int sock, const std::string& data, const std::vector<int>& fds, int flags = 0) {
  std::vector<char> cbuf(CMSG_SPACE(fds.size() * sizeof(int)));
  iovec io = {const_cast<char*>(data.data()), data.size()};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = cbuf.data();
    m.msg_controllen = cbuf.size();
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    memcpy(CMSG_DATA(h), fds.data(), fds.size() * sizeof(int));
  }
  return sendmsg(sock, &m, flags);
}

struct Received {
  ssize_t n = -1;
  std::string data;
  std::vector<int> fds;
  std::optional<ucred> creds;
  int flags = 0;
  size_t controllen = 0;
};

// Receives up to `max` bytes with a control buffer of `control` bytes.
Received Recv(int sock, size_t max = 64, size_t control = 256, int flags = 0) {
  Received r;
  std::string buf(max, '\0');
  std::vector<char> cbuf(control);
  iovec io = {buf.data(), buf.size()};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = control ? cbuf.data() : nullptr;
  m.msg_controllen = control;
  r.n = recvmsg(sock, &m, flags);
  if (r.n < 0) return r;
  r.data = buf.substr(0, std::min<size_t>(r.n, max));
  r.flags = m.msg_flags;
  r.controllen = m.msg_controllen;
  for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
      size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
        r.fds.push_back(fd);
      }
    } else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) {
      ucred u;
      memcpy(&u, CMSG_DATA(h), sizeof(u));
      r.creds = u;
    }
  }
  return r;
}

// The lowest free fd: after a receive that installed nothing it is unchanged.
int LowestFreeFd() {
  int fd = dup(0);
  close(fd);
  return fd;
}

TEST(UnixScmTest, PassFileAndUseIt) {
  SocketPair p(SOCK_STREAM);
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  FileDescriptor r(pipefd[0]), w(pipefd[1]);
  ASSERT_THAT(SendFds(p.a.get(), "f", {w.get()}), SyscallSucceedsWithValue(1));
  w.reset();
  Received got = Recv(p.b.get());
  ASSERT_EQ(got.n, 1);
  ASSERT_EQ(got.fds.size(), 1u);
  FileDescriptor passed(got.fds[0]);
  EXPECT_FALSE(fcntl(passed.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_THAT(write(passed.get(), "via", 3), SyscallSucceedsWithValue(3));
  char buf[4];
  EXPECT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  // The passed file is the same open file: closing it is the last writer.
  passed.reset();
  EXPECT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
}

TEST(UnixScmTest, InFlightFileKeepsItsReference) {
  SocketPair p(SOCK_DGRAM);
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  FileDescriptor r(pipefd[0]), w(pipefd[1]);
  ASSERT_THAT(SendFds(p.a.get(), "f", {w.get()}), SyscallSucceedsWithValue(1));
  w.reset();
  // The write end is still open, in the socket's queue: no end of file yet.
  EXPECT_EQ(PollNow(r.get(), POLLIN), 0);
  // Reading the message without room for the files closes them.
  Received got = Recv(p.b.get(), 8, 0);
  ASSERT_EQ(got.n, 1);
  EXPECT_EQ(got.flags & MSG_CTRUNC, MSG_CTRUNC);
  EXPECT_EQ(PollWait(r.get(), POLLIN, 1000) & (POLLIN | POLLHUP), POLLHUP);
}

TEST(UnixScmTest, ManyFilesAndCloexec) {
  SocketPair p(SOCK_SEQPACKET);
  std::vector<int> fds = {0, 1, 2};
  ASSERT_THAT(SendFds(p.a.get(), "abc", fds), SyscallSucceedsWithValue(3));
  Received got = Recv(p.b.get(), 64, 256, MSG_CMSG_CLOEXEC);
  ASSERT_EQ(got.n, 3);
  ASSERT_EQ(got.fds.size(), 3u);
  for (int i = 0; i < 3; i++) {
    struct stat a, b;
    ASSERT_THAT(fstat(got.fds[i], &a), SyscallSucceeds());
    ASSERT_THAT(fstat(fds[i], &b), SyscallSucceeds());
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_TRUE(fcntl(got.fds[i], F_GETFD) & FD_CLOEXEC);
    close(got.fds[i]);
  }
}

TEST(UnixScmTest, BadFdsAndMalformedControl) {
  SocketPair p(SOCK_STREAM);
  EXPECT_THAT(SendFds(p.a.get(), "x", {999}), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(SendFds(p.a.get(), "x", {0, -1}), SyscallFailsWithErrno(EBADF));
  // Nothing was sent.
  char b;
  EXPECT_THAT(recv(p.b.get(), &b, 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  // An unknown SOL_SOCKET message is EINVAL; other levels are ignored, and so is an empty
  // SCM_RIGHTS.
  char cbuf[CMSG_SPACE(sizeof(int))] = {};
  iovec io = {const_cast<char*>("x"), 1};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof(cbuf);
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_len = CMSG_LEN(sizeof(int));
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = 77;
  EXPECT_THAT(sendmsg(p.a.get(), &m, 0), SyscallFailsWithErrno(EINVAL));
  h->cmsg_level = SOL_IP;
  EXPECT_THAT(sendmsg(p.a.get(), &m, 0), SyscallSucceedsWithValue(1));
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(0);
  EXPECT_THAT(sendmsg(p.a.get(), &m, 0), SyscallSucceedsWithValue(1));
  char two[2];
  EXPECT_THAT(recv(p.b.get(), two, 2, 0), SyscallSucceedsWithValue(2));
  // Files with no data are not sent on a stream.
  EXPECT_THAT(SendFds(p.a.get(), "", {0}), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(p.b.get(), &b, 1, MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixScmTest, ControlTruncation) {
  SocketPair p(SOCK_STREAM);
  int before = LowestFreeFd();
  // Room for no file at all.
  ASSERT_THAT(SendFds(p.a.get(), "x", {0, 1}), SyscallSucceedsWithValue(1));
  Received got = Recv(p.b.get(), 8, CMSG_LEN(0));
  ASSERT_EQ(got.n, 1);
  EXPECT_EQ(got.flags & MSG_CTRUNC, MSG_CTRUNC);
  EXPECT_TRUE(got.fds.empty());
  EXPECT_EQ(got.controllen, 0u);
  EXPECT_EQ(LowestFreeFd(), before);
  // Room for one of two: the other is closed.
  ASSERT_THAT(SendFds(p.a.get(), "y", {0, 1}), SyscallSucceedsWithValue(1));
  got = Recv(p.b.get(), 8, CMSG_LEN(sizeof(int)));
  ASSERT_EQ(got.n, 1);
  EXPECT_EQ(got.flags & MSG_CTRUNC, MSG_CTRUNC);
  ASSERT_EQ(got.fds.size(), 1u);
  EXPECT_EQ(got.fds[0], before);
  close(got.fds[0]);
  EXPECT_EQ(LowestFreeFd(), before);
  // No control buffer.
  ASSERT_THAT(SendFds(p.a.get(), "z", {0}), SyscallSucceedsWithValue(1));
  got = Recv(p.b.get(), 8, 0);
  ASSERT_EQ(got.n, 1);
  EXPECT_EQ(got.flags & MSG_CTRUNC, MSG_CTRUNC);
  EXPECT_EQ(LowestFreeFd(), before);
}

TEST(UnixScmTest, StreamReadEndsAfterFiles) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.a.get(), "ab", 2, 0), SyscallSucceedsWithValue(2));
  ASSERT_THAT(SendFds(p.a.get(), "cd", {0}), SyscallSucceedsWithValue(2));
  ASSERT_THAT(send(p.a.get(), "ef", 2, 0), SyscallSucceedsWithValue(2));
  // Data before the files joins them; the read stops after them.
  Received got = Recv(p.b.get());
  ASSERT_EQ(got.n, 4);
  EXPECT_EQ(got.data, "abcd");
  ASSERT_EQ(got.fds.size(), 1u);
  close(got.fds[0]);
  got = Recv(p.b.get());
  ASSERT_EQ(got.n, 2);
  EXPECT_TRUE(got.fds.empty());
  // A peek sees the files too, and stops after them the same way.
  ASSERT_THAT(SendFds(p.a.get(), "gh", {0}), SyscallSucceedsWithValue(2));
  ASSERT_THAT(send(p.a.get(), "ij", 2, 0), SyscallSucceedsWithValue(2));
  got = Recv(p.b.get(), 64, 256, MSG_PEEK);
  ASSERT_EQ(got.n, 2);
  ASSERT_EQ(got.fds.size(), 1u);
  close(got.fds[0]);
  got = Recv(p.b.get());
  ASSERT_EQ(got.n, 2);
  ASSERT_EQ(got.fds.size(), 1u);
  close(got.fds[0]);
  got = Recv(p.b.get());
  EXPECT_EQ(got.data, "ij");
  // Files go with the first bytes of their message.
  ASSERT_THAT(SendFds(p.a.get(), "klmn", {0}), SyscallSucceedsWithValue(4));
  got = Recv(p.b.get(), 2);
  ASSERT_EQ(got.n, 2);
  ASSERT_EQ(got.fds.size(), 1u);
  close(got.fds[0]);
  got = Recv(p.b.get());
  EXPECT_EQ(got.data, "mn");
  EXPECT_TRUE(got.fds.empty());
}

TEST(UnixScmTest, PassBetweenProcesses) {
  SocketPair p(SOCK_STREAM);
  pid_t child = ForkChild([&] {
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe(fds));
    CHILD_CHECK(write(fds[1], "from child", 10) == 10);
    CHILD_CHECK(SendFds(p.b.get(), "p", {fds[0]}) == 1);
    close(fds[0]);
    close(fds[1]);
    // And take one back.
    Received got = Recv(p.b.get());
    CHILD_CHECK(got.n == 1 && got.fds.size() == 1);
    CHILD_CHECK(write(got.fds[0], "to parent", 9) == 9);
  });
  ASSERT_GT(child, 0);
  Received got = Recv(p.a.get());
  ASSERT_EQ(got.n, 1);
  ASSERT_EQ(got.fds.size(), 1u);
  FileDescriptor r(got.fds[0]);
  char buf[16];
  ASSERT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "from child");
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor pr(fds[0]), pw(fds[1]);
  ASSERT_THAT(SendFds(p.a.get(), "q", {pw.get()}), SyscallSucceedsWithValue(1));
  pw.reset();
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
  ASSERT_THAT(read(pr.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(9));
  EXPECT_EQ(std::string(buf, 9), "to parent");
}

TEST(UnixScmTest, PassSocketsOverSockets) {
  SocketPair carrier(SOCK_DGRAM);
  SocketPair inner(SOCK_STREAM);
  ASSERT_THAT(SendFds(carrier.a.get(), "s", {inner.a.get()}), SyscallSucceedsWithValue(1));
  inner.a.reset();
  Received got = Recv(carrier.b.get());
  ASSERT_EQ(got.fds.size(), 1u);
  FileDescriptor s(got.fds[0]);
  ASSERT_THAT(send(s.get(), "through", 7, 0), SyscallSucceedsWithValue(7));
  char buf[8];
  EXPECT_THAT(recv(inner.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(7));
  // A socket sent over itself, then closed everywhere: no hang, no crash.
  SocketPair self(SOCK_STREAM);
  ASSERT_THAT(SendFds(self.a.get(), "x", {self.a.get(), self.b.get()}),
              SyscallSucceedsWithValue(1));
  ASSERT_THAT(SendFds(self.b.get(), "y", {self.a.get(), self.b.get()}),
              SyscallSucceedsWithValue(1));
  self.a.reset();
  self.b.reset();
}

TEST(UnixScmTest, UnreachableSocketsAreCollected) {
  // `keep` is reachable only through b's queue, and b only through its own queue: once the
  // fds are closed, the collector must free both, and `peer` sees end of file.
  SocketPair p(SOCK_STREAM);
  SocketPair watched(SOCK_STREAM);
  ASSERT_THAT(SendFds(p.a.get(), "x", {p.b.get(), watched.a.get()}), SyscallSucceedsWithValue(1));
  watched.a.reset();
  p.b.reset();
  p.a.reset();
  EXPECT_EQ(PollWait(watched.b.get(), POLLIN, 5000) & POLLIN, POLLIN);
  char b;
  EXPECT_THAT(recv(watched.b.get(), &b, 1, MSG_DONTWAIT), SyscallSucceedsWithValue(0));
}

TEST(UnixScmTest, Credentials) {
  SocketPair p(SOCK_DGRAM);
  ASSERT_THAT(send(p.a.get(), "a", 1, 0), SyscallSucceedsWithValue(1));
  int one = 1;
  ASSERT_THAT(setsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)),
              SyscallSucceeds());
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  ASSERT_THAT(send(p.a.get(), "b", 1, 0), SyscallSucceedsWithValue(1));
  // Sent before anyone asked for credentials: none were recorded.
  Received got = Recv(p.b.get());
  ASSERT_EQ(got.n, 1);
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_EQ(got.creds->pid, 0);
  EXPECT_EQ(got.creds->uid, 65534u);
  EXPECT_EQ(got.creds->gid, 65534u);
  got = Recv(p.b.get());
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_EQ(got.creds->pid, getpid());
  EXPECT_EQ(got.creds->uid, getuid());
  EXPECT_EQ(got.creds->gid, getgid());
  // Without SO_PASSCRED, none are delivered.
  ASSERT_THAT(send(p.b.get(), "c", 1, 0), SyscallSucceedsWithValue(1));
  got = Recv(p.a.get());
  EXPECT_FALSE(got.creds.has_value());
}

TEST(UnixScmTest, ExplicitCredentials) {
  SocketPair p(SOCK_STREAM);
  int one = 1;
  ASSERT_THAT(setsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)),
              SyscallSucceeds());
  auto send_creds = [&](int sock, ucred u) {
    char cbuf[CMSG_SPACE(sizeof(ucred))] = {};
    iovec io = {const_cast<char*>("c"), 1};
    msghdr m = {};
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof(cbuf);
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_len = CMSG_LEN(sizeof(ucred));
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_CREDENTIALS;
    memcpy(CMSG_DATA(h), &u, sizeof(u));
    return sendmsg(sock, &m, 0);
  };
  ucred mine = {getpid(), getuid(), getgid()};
  ASSERT_THAT(send_creds(p.a.get(), mine), SyscallSucceedsWithValue(1));
  Received got = Recv(p.b.get());
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_EQ(got.creds->pid, getpid());
  // An unprivileged sender cannot claim someone else's.
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    ucred other = {getpid(), 0, 65534};
    CHILD_CHECK_ERRNO(send_creds(p.a.get(), other), EPERM);
    ucred parent = {getppid(), 65534, 65534};
    CHILD_CHECK_ERRNO(send_creds(p.a.get(), parent), EPERM);
    ucred self = {getpid(), 65534, 65534};
    CHILD_CHECK(send_creds(p.a.get(), self) == 1);
  });
  got = Recv(p.b.get());
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_EQ(got.creds->uid, 65534u);
  EXPECT_NE(got.creds->pid, getpid());
}

TEST(UnixScmTest, StreamDoesNotMergeWritersWithPasscred) {
  SocketPair p(SOCK_STREAM);
  int one = 1;
  ASSERT_THAT(setsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)),
              SyscallSucceeds());
  ASSERT_THAT(send(p.a.get(), "parent", 6, 0), SyscallSucceedsWithValue(6));
  EXPECT_CHILD_SUCCEEDS([&] { CHILD_CHECK(send(p.a.get(), "child", 5, 0) == 5); });
  Received got = Recv(p.b.get());
  EXPECT_EQ(got.data, "parent");
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_EQ(got.creds->pid, getpid());
  got = Recv(p.b.get());
  EXPECT_EQ(got.data, "child");
  ASSERT_TRUE(got.creds.has_value());
  EXPECT_NE(got.creds->pid, getpid());
}

}  // namespace
}  // namespace moat::testing
