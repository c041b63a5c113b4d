// Conformance tests for AF_UNIX stream and seqpacket sockets: creation, names (paths in the
// file system, the abstract namespace, autobind) and their lengths, connect/listen/accept with
// backlogs, shutdown and peer close, readiness, options and ioctls. Datagrams are in
// unix_dgram_test.cc, control messages in unix_scm_test.cc.

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "tests/syscalls/test_util.h"
#include "tests/syscalls/unix_util.h"

namespace moat::testing {
namespace {

constexpr socklen_t kFamilyLen = sizeof(sa_family_t);

TEST(UnixSocketTest, CreateTypes) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET}) {
    FileDescriptor s(socket(AF_UNIX, type, 0));
    ASSERT_TRUE(s.valid()) << ErrnoString(errno);
    int v = -1;
    socklen_t len = sizeof(v);
    ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_TYPE, &v, &len), SyscallSucceeds());
    EXPECT_EQ(v, type);
    ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_DOMAIN, &v, &len), SyscallSucceeds());
    EXPECT_EQ(v, AF_UNIX);
    struct stat st;
    ASSERT_THAT(fstat(s.get(), &st), SyscallSucceeds());
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
  }
  // SOCK_RAW is a datagram socket; PF_UNIX is the one protocol.
  FileDescriptor raw(socket(AF_UNIX, SOCK_RAW, PF_UNIX));
  ASSERT_TRUE(raw.valid()) << ErrnoString(errno);
  int v = -1;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(raw.get(), SOL_SOCKET, SO_TYPE, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, SOCK_DGRAM);
  EXPECT_THAT(socket(AF_UNIX, SOCK_RDM, 0), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
  EXPECT_THAT(socket(AF_UNIX, SOCK_STREAM, 2), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_UNIX, 11, 0), SyscallFailsWithErrno(EINVAL));
  int fds[2];
  EXPECT_THAT(socketpair(AF_UNIX, SOCK_RDM, 0, fds), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
}

TEST(UnixSocketTest, NonSocketFdIsENOTSOCK) {
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  UnixAddr a = AbstractAddr(UniqueName("notsock"));
  EXPECT_THAT(bind(r.get(), a.get(), a.len), SyscallFailsWithErrno(ENOTSOCK));
  EXPECT_THAT(listen(r.get(), 1), SyscallFailsWithErrno(ENOTSOCK));
  EXPECT_THAT(accept(r.get(), nullptr, nullptr), SyscallFailsWithErrno(ENOTSOCK));
  EXPECT_THAT(send(w.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTSOCK));
}

TEST(UnixSocketTest, PairStreamReadWrite) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(write(p.a.get(), "hello", 5), SyscallSucceedsWithValue(5));
  ASSERT_THAT(send(p.a.get(), " world", 6, 0), SyscallSucceedsWithValue(6));
  char buf[32] = {};
  // Stream data from separate sends is read as one.
  ASSERT_THAT(read(p.b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(11));
  EXPECT_EQ(std::string(buf, 11), "hello world");
  ASSERT_THAT(send(p.b.get(), "back", 4, 0), SyscallSucceedsWithValue(4));
  ASSERT_THAT(recv(p.a.get(), buf, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "ba");
  ASSERT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "ck");
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixSocketTest, UnboundNames) {
  SocketPair p(SOCK_STREAM);
  sockaddr_un a;
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(p.a.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, kFamilyLen);
  EXPECT_EQ(a.sun_family, AF_UNIX);
  len = sizeof(a);
  ASSERT_THAT(getpeername(p.a.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  EXPECT_EQ(len, kFamilyLen);
  FileDescriptor s = Socket(SOCK_STREAM);
  len = sizeof(a);
  EXPECT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&a), &len),
              SyscallFailsWithErrno(ENOTCONN));
}

TEST(UnixSocketTest, BindPathMakesSocketFile) {
  TempDir dir;
  std::string path = dir.Join("sock");
  UnixAddr a = PathAddr(path);
  FileDescriptor s = Socket(SOCK_STREAM);
  mode_t old = umask(027);
  int r = bind(s.get(), a.get(), sizeof(sockaddr_un));
  umask(old);
  ASSERT_THAT(r, SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  // The reported length counts the path's NUL, whatever length bind was given.
  sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);
  EXPECT_STREQ(got.sun_path, path.c_str());
  // A short buffer gets the start of the address and the full length.
  len = 3;
  memset(&got, 0x7f, sizeof(got));
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);
  EXPECT_EQ(got.sun_path[0], path[0]);
  EXPECT_EQ(got.sun_path[1], 0x7f);
}

TEST(UnixSocketTest, BindPathWithoutNul) {
  TempDir dir;
  std::string path = dir.Join("p");
  UnixAddr a = PathAddr(path + "XYZ");
  FileDescriptor s = Socket(SOCK_STREAM);
  // The length cuts the name before "XYZ", with no NUL in it.
  ASSERT_THAT(bind(s.get(), a.get(), offsetof(sockaddr_un, sun_path) + path.size()),
              SyscallSucceeds());
  sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, offsetof(sockaddr_un, sun_path) + path.size() + 1);
  EXPECT_EQ(std::string(got.sun_path), path);
  struct stat st;
  EXPECT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
}

TEST(UnixSocketTest, BindErrors) {
  TempDir dir;
  FileDescriptor s = Socket(SOCK_STREAM);
  UnixAddr a = PathAddr(dir.Join("s1"));
  EXPECT_THAT(bind(s.get(), a.get(), 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(bind(s.get(), a.get(), sizeof(sockaddr_un) + 1), SyscallFailsWithErrno(EINVAL));
  UnixAddr wrong = a;
  wrong.addr.sun_family = AF_INET;
  EXPECT_THAT(bind(s.get(), wrong.get(), wrong.len), SyscallFailsWithErrno(EINVAL));
  UnixAddr missing = PathAddr(dir.Join("nodir/s"));
  EXPECT_THAT(bind(s.get(), missing.get(), missing.len), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(bind(s.get(), a.get(), a.len), SyscallSucceeds());
  // The name exists: EADDRINUSE, for this socket or another.
  EXPECT_THAT(bind(s.get(), a.get(), a.len), SyscallFailsWithErrno(EADDRINUSE));
  FileDescriptor t = Socket(SOCK_STREAM);
  EXPECT_THAT(bind(t.get(), a.get(), a.len), SyscallFailsWithErrno(EADDRINUSE));
  // A bound socket cannot take a second name, and leaves no file behind trying.
  UnixAddr b = PathAddr(dir.Join("s2"));
  EXPECT_THAT(bind(s.get(), b.get(), b.len), SyscallFailsWithErrno(EINVAL));
  struct stat st;
  EXPECT_THAT(stat(b.addr.sun_path, &st), SyscallFailsWithErrno(ENOENT));
  UnixAddr abs = AbstractAddr(UniqueName("bind"));
  EXPECT_THAT(bind(s.get(), abs.get(), abs.len), SyscallFailsWithErrno(EINVAL));
  // A regular file in the way.
  std::string reg = dir.Join("reg");
  FileDescriptor f(open(reg.c_str(), O_CREAT | O_WRONLY, 0644));
  UnixAddr r = PathAddr(reg);
  EXPECT_THAT(bind(t.get(), r.get(), r.len), SyscallFailsWithErrno(EADDRINUSE));
}

TEST(UnixSocketTest, Autobind) {
  FileDescriptor s = Socket(SOCK_STREAM);
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), kFamilyLen), SyscallSucceeds());
  sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  ASSERT_EQ(len, offsetof(sockaddr_un, sun_path) + 6);
  EXPECT_EQ(got.sun_path[0], '\0');
  for (int i = 1; i < 6; i++) EXPECT_TRUE(isxdigit(got.sun_path[i])) << i;
  // Autobind again is a no-op; another name is EINVAL.
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), kFamilyLen), SyscallSucceeds());
  sockaddr_un again;
  len = sizeof(again);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&again), &len), SyscallSucceeds());
  EXPECT_EQ(memcmp(got.sun_path, again.sun_path, 6), 0);
  // The autobound name is a real abstract name that others can reach.
  ASSERT_THAT(listen(s.get(), 1), SyscallSucceeds());
  FileDescriptor c = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c.get(), reinterpret_cast<sockaddr*>(&got), len), SyscallSucceeds());
}

TEST(UnixSocketTest, AbstractNamesAreExactBytes) {
  std::string name = UniqueName("abs");
  UnixAddr a = AbstractAddr(name);
  FileDescriptor l = Listener(a);
  sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(l.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);
  EXPECT_EQ(got.sun_path[0], '\0');
  EXPECT_EQ(std::string(got.sun_path + 1, name.size()), name);
  // One more byte (a NUL) is another name.
  FileDescriptor c = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c.get(), a.get(), a.len + 1), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  FileDescriptor t = Socket(SOCK_STREAM);
  EXPECT_THAT(bind(t.get(), a.get(), a.len), SyscallFailsWithErrno(EADDRINUSE));
  // Abstract names are per type: a datagram socket may take it, and does not find the
  // listener by it.
  FileDescriptor d = Socket(SOCK_DGRAM);
  EXPECT_THAT(connect(d.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
  EXPECT_THAT(bind(d.get(), a.get(), a.len), SyscallSucceeds());
  // Once the socket is closed the name is free again.
  l.reset();
  EXPECT_THAT(bind(t.get(), a.get(), a.len), SyscallSucceeds());
}

TEST(UnixSocketTest, ConnectErrors) {
  TempDir dir;
  FileDescriptor c = Socket(SOCK_STREAM);
  UnixAddr none = PathAddr(dir.Join("none"));
  EXPECT_THAT(connect(c.get(), none.get(), none.len), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(connect(c.get(), none.get(), kFamilyLen), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(connect(c.get(), none.get(), 1), SyscallFailsWithErrno(EINVAL));
  UnixAddr wrong = none;
  wrong.addr.sun_family = AF_INET;
  EXPECT_THAT(connect(c.get(), wrong.get(), wrong.len), SyscallFailsWithErrno(EINVAL));
  // A file that is not a socket, and a socket file nobody is bound to.
  std::string reg = dir.Join("reg");
  FileDescriptor f(open(reg.c_str(), O_CREAT | O_WRONLY, 0644));
  UnixAddr r = PathAddr(reg);
  EXPECT_THAT(connect(c.get(), r.get(), r.len), SyscallFailsWithErrno(ECONNREFUSED));
  ASSERT_THAT(mknod(dir.Join("fake").c_str(), S_IFSOCK | 0777, 0), SyscallSucceeds());
  UnixAddr fake = PathAddr(dir.Join("fake"));
  EXPECT_THAT(connect(c.get(), fake.get(), fake.len), SyscallFailsWithErrno(ECONNREFUSED));
  // Bound but not listening.
  UnixAddr a = PathAddr(dir.Join("s"));
  FileDescriptor s = Socket(SOCK_STREAM);
  ASSERT_THAT(bind(s.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
  // Another type.
  FileDescriptor d = Socket(SOCK_DGRAM);
  ASSERT_THAT(listen(s.get(), 1), SyscallSucceeds());
  EXPECT_THAT(connect(d.get(), a.get(), a.len), SyscallFailsWithErrno(EPROTOTYPE));
  FileDescriptor q = Socket(SOCK_SEQPACKET);
  EXPECT_THAT(connect(q.get(), a.get(), a.len), SyscallFailsWithErrno(EPROTOTYPE));
  // A listener cannot connect; a closed one refuses.
  EXPECT_THAT(connect(s.get(), a.get(), a.len), SyscallFailsWithErrno(EINVAL));
  s.reset();
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
}

TEST(UnixSocketTest, ConnectNeedsWritePermission) {
  TempDir dir;
  ASSERT_THAT(chmod(dir.path().c_str(), 0755), SyscallSucceeds());
  UnixAddr a = PathAddr(dir.Join("s"));
  FileDescriptor l = Listener(a);
  ASSERT_THAT(chmod(a.addr.sun_path, 0555), SyscallSucceeds());
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHILD_CHECK(c >= 0);
    CHILD_CHECK_ERRNO(connect(c, a.get(), a.len), EACCES);
  });
  ASSERT_THAT(chmod(a.addr.sun_path, 0777), SyscallSucceeds());
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHILD_CHECK(c >= 0);
    CHILD_CHECK_SUCCESS(connect(c, a.get(), a.len));
  });
}

TEST(UnixSocketTest, ListenAndAcceptErrors) {
  FileDescriptor s = Socket(SOCK_STREAM);
  EXPECT_THAT(listen(s.get(), 1), SyscallFailsWithErrno(EINVAL));  // unbound
  EXPECT_THAT(accept(s.get(), nullptr, nullptr), SyscallFailsWithErrno(EINVAL));
  SocketPair p(SOCK_STREAM);
  EXPECT_THAT(listen(p.a.get(), 1), SyscallFailsWithErrno(EINVAL));  // connected
  EXPECT_THAT(accept(p.a.get(), nullptr, nullptr), SyscallFailsWithErrno(EINVAL));
  FileDescriptor d = Socket(SOCK_DGRAM);
  UnixAddr a = AbstractAddr(UniqueName("listen"));
  ASSERT_THAT(bind(d.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_THAT(listen(d.get(), 1), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(accept(d.get(), nullptr, nullptr), SyscallFailsWithErrno(EOPNOTSUPP));
  // listen twice just changes the backlog.
  UnixAddr b = AbstractAddr(UniqueName("listen"));
  FileDescriptor l = Listener(b);
  EXPECT_THAT(listen(l.get(), 10), SyscallSucceeds());
  EXPECT_THAT(accept4(l.get(), nullptr, nullptr, 0x1234), SyscallFailsWithErrno(EINVAL));
  FileDescriptor nb(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  UnixAddr c = AbstractAddr(UniqueName("listen"));
  ASSERT_THAT(bind(nb.get(), c.get(), c.len), SyscallSucceeds());
  ASSERT_THAT(listen(nb.get(), 1), SyscallSucceeds());
  EXPECT_THAT(accept(nb.get(), nullptr, nullptr), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixSocketTest, AcceptReportsNames) {
  TempDir dir;
  UnixAddr a = PathAddr(dir.Join("l"));
  FileDescriptor l = Listener(a);
  FileDescriptor c = Socket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  sockaddr_un got;
  socklen_t len = sizeof(got);
  FileDescriptor s(accept(l.get(), reinterpret_cast<sockaddr*>(&got), &len));
  ASSERT_TRUE(s.valid()) << ErrnoString(errno);
  EXPECT_EQ(len, kFamilyLen);  // the client is unnamed
  len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);  // the accepted socket has the listener's name
  EXPECT_STREQ(got.sun_path, a.addr.sun_path);
  len = sizeof(got);
  ASSERT_THAT(getpeername(c.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);
  EXPECT_STREQ(got.sun_path, a.addr.sun_path);
  len = sizeof(got);
  ASSERT_THAT(getpeername(s.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, kFamilyLen);
  len = sizeof(got);
  ASSERT_THAT(getsockname(c.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, kFamilyLen);

  // A bound client is reported by its name; accept4 sets the flags it is given.
  UnixAddr cb = AbstractAddr(UniqueName("client"));
  FileDescriptor c2 = Socket(SOCK_STREAM);
  ASSERT_THAT(bind(c2.get(), cb.get(), cb.len), SyscallSucceeds());
  ASSERT_THAT(connect(c2.get(), a.get(), a.len), SyscallSucceeds());
  len = sizeof(got);
  FileDescriptor s2(
      accept4(l.get(), reinterpret_cast<sockaddr*>(&got), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_TRUE(s2.valid()) << ErrnoString(errno);
  EXPECT_EQ(len, cb.len);
  EXPECT_EQ(memcmp(got.sun_path, cb.addr.sun_path, cb.len - kFamilyLen), 0);
  EXPECT_TRUE(fcntl(s2.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(s2.get(), F_GETFD) & FD_CLOEXEC);
  char buf[4];
  EXPECT_THAT(recv(s2.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(send(c2.get(), "hi", 2, 0), SyscallSucceedsWithValue(2));
  ASSERT_THAT(recv(s2.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
}

TEST(UnixSocketTest, UnlinkDoesNotUnbind) {
  TempDir dir;
  UnixAddr a = PathAddr(dir.Join("l"));
  FileDescriptor l = Listener(a);
  FileDescriptor c = Socket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  ASSERT_THAT(unlink(a.addr.sun_path), SyscallSucceeds());
  // The name is gone from the file system, but the socket keeps it and its connections.
  FileDescriptor c2 = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c2.get(), a.get(), a.len), SyscallFailsWithErrno(ENOENT));
  sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(l.get(), reinterpret_cast<sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, a.len);
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(s.valid());
  ASSERT_THAT(send(c.get(), "x", 1, 0), SyscallSucceedsWithValue(1));
  char b;
  EXPECT_THAT(recv(s.get(), &b, 1, 0), SyscallSucceedsWithValue(1));
  // A new socket can take the name, and is the one connect finds.
  FileDescriptor l2 = Listener(a);
  ASSERT_THAT(connect(c2.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_EQ(PollNow(l.get(), POLLIN), 0);
  FileDescriptor s2(accept(l2.get(), nullptr, nullptr));
  EXPECT_TRUE(s2.valid());
}

TEST(UnixSocketTest, RenamedSocketFileStillConnects) {
  TempDir dir;
  UnixAddr a = PathAddr(dir.Join("l"));
  FileDescriptor l = Listener(a);
  UnixAddr b = PathAddr(dir.Join("moved"));
  ASSERT_THAT(rename(a.addr.sun_path, b.addr.sun_path), SyscallSucceeds());
  FileDescriptor c = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c.get(), b.get(), b.len), SyscallSucceeds());
  // Through a symlink too.
  ASSERT_THAT(symlink(b.addr.sun_path, dir.Join("link").c_str()), SyscallSucceeds());
  UnixAddr s = PathAddr(dir.Join("link"));
  FileDescriptor c2 = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c2.get(), s.get(), s.len), SyscallSucceeds());
}

TEST(UnixSocketTest, BacklogNonBlocking) {
  UnixAddr a = AbstractAddr(UniqueName("backlog"));
  FileDescriptor l = Listener(a, SOCK_STREAM, 0);
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(l.get(), SOL_SOCKET, SO_ACCEPTCONN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  // A backlog of 0 still takes one connection.
  FileDescriptor c1(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  FileDescriptor c2(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  ASSERT_THAT(connect(c1.get(), a.get(), a.len), SyscallSucceeds());
  EXPECT_THAT(getsockopt(c1.get(), SOL_SOCKET, SO_ACCEPTCONN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 0);
  EXPECT_THAT(connect(c2.get(), a.get(), a.len), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollNow(l.get(), POLLIN), POLLIN);
  // The connection is usable before it is accepted.
  ASSERT_THAT(send(c1.get(), "early", 5, 0), SyscallSucceedsWithValue(5));
  FileDescriptor s1(accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(s1.valid());
  char buf[8];
  EXPECT_THAT(recv(s1.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(5));
  EXPECT_EQ(PollNow(l.get(), POLLIN), 0);
  ASSERT_THAT(connect(c2.get(), a.get(), a.len), SyscallSucceeds());
  // Connecting a connected socket: EISCONN (when the listener has room).
  FileDescriptor s2(accept(l.get(), nullptr, nullptr));
  EXPECT_THAT(connect(c2.get(), a.get(), a.len), SyscallFailsWithErrno(EISCONN));
}

TEST(UnixSocketTest, BlockingConnectWaitsForBacklog) {
  UnixAddr a = AbstractAddr(UniqueName("backlog"));
  FileDescriptor l = Listener(a, SOCK_STREAM, 0);
  FileDescriptor c1 = Socket(SOCK_STREAM);
  ASSERT_THAT(connect(c1.get(), a.get(), a.len), SyscallSucceeds());
  std::atomic<bool> done{false};
  std::atomic<int> result{-2};
  std::thread t([&] {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    result = connect(c, a.get(), a.len);
    done = true;
    close(c);
  });
  usleep(200 * 1000);
  EXPECT_FALSE(done.load());
  FileDescriptor s1(accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(s1.valid());
  t.join();
  EXPECT_EQ(result.load(), 0);
}

TEST(UnixSocketTest, BlockingAcceptWakesOnConnect) {
  UnixAddr a = AbstractAddr(UniqueName("accept"));
  FileDescriptor l = Listener(a);
  std::atomic<int> accepted{-2};
  std::thread t([&] { accepted = accept(l.get(), nullptr, nullptr); });
  usleep(100 * 1000);
  FileDescriptor c = Socket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  t.join();
  ASSERT_GE(accepted.load(), 0);
  FileDescriptor s(accepted.load());
  ASSERT_THAT(send(s.get(), "ok", 2, 0), SyscallSucceedsWithValue(2));
  char buf[2];
  EXPECT_THAT(recv(c.get(), buf, 2, 0), SyscallSucceedsWithValue(2));
}

TEST(UnixSocketTest, ShutdownWakesBlockedAccept) {
  UnixAddr a = AbstractAddr(UniqueName("accept"));
  FileDescriptor l = Listener(a);
  std::atomic<int> accepted{-2};
  std::atomic<int> err{0};
  std::thread t([&] {
    accepted = accept(l.get(), nullptr, nullptr);
    err = errno;
  });
  usleep(100 * 1000);
  EXPECT_EQ(accepted.load(), -2);
  ASSERT_THAT(shutdown(l.get(), SHUT_RDWR), SyscallSucceeds());
  t.join();
  EXPECT_EQ(accepted.load(), -1);
  EXPECT_EQ(err.load(), EINVAL);
  FileDescriptor c = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
}

TEST(UnixSocketTest, AsyncSignalsOnData) {
  EXPECT_CHILD_SUCCEEDS([] {
    static volatile sig_atomic_t got = 0;
    signal(SIGIO, [](int) { got = 1; });
    int fds[2];
    CHILD_CHECK_SUCCESS(socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    CHILD_CHECK_SUCCESS(fcntl(fds[1], F_SETOWN, getpid()));
    CHILD_CHECK_SUCCESS(fcntl(fds[1], F_SETFL, O_ASYNC));
    CHILD_CHECK(fcntl(fds[1], F_GETFL) & O_ASYNC);
    CHILD_CHECK(send(fds[0], "x", 1, 0) == 1);
    for (int i = 0; i < 100 && !got; i++) usleep(10 * 1000);
    CHILD_CHECK(got == 1);
  });
}

TEST(UnixSocketTest, ListenerCloseResetsPendingConnections) {
  UnixAddr a = AbstractAddr(UniqueName("reset"));
  FileDescriptor l = Listener(a);
  FileDescriptor c = Socket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  ASSERT_THAT(send(c.get(), "zz", 2, 0), SyscallSucceedsWithValue(2));
  l.reset();
  EXPECT_EQ(PollNow(c.get()), POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP);
  char buf[4];
  EXPECT_THAT(recv(c.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(ECONNRESET));
  EXPECT_THAT(recv(c.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallSucceedsWithValue(0));
  EXPECT_THAT(send(c.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  FileDescriptor c2 = Socket(SOCK_STREAM);
  EXPECT_THAT(connect(c2.get(), a.get(), a.len), SyscallFailsWithErrno(ECONNREFUSED));
}

TEST(UnixSocketTest, UnconnectedStreamErrors) {
  FileDescriptor s = Socket(SOCK_STREAM);
  char buf[4];
  EXPECT_THAT(recv(s.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  UnixAddr a = AbstractAddr(UniqueName("x"));
  EXPECT_THAT(sendto(s.get(), "x", 1, 0, a.get(), a.len), SyscallFailsWithErrno(EOPNOTSUPP));
  SocketPair p(SOCK_STREAM);
  EXPECT_THAT(sendto(p.a.get(), "x", 1, 0, a.get(), a.len), SyscallFailsWithErrno(EISCONN));
  FileDescriptor q = Socket(SOCK_SEQPACKET);
  EXPECT_THAT(recv(q.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(send(q.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  // shutdown of an unconnected socket is allowed; a bad `how` is not.
  EXPECT_THAT(shutdown(s.get(), SHUT_RDWR), SyscallSucceeds());
  EXPECT_THAT(shutdown(s.get(), 3), SyscallFailsWithErrno(EINVAL));
}

TEST(UnixSocketTest, PollUnconnected) {
  FileDescriptor s = Socket(SOCK_STREAM);
  EXPECT_EQ(PollNow(s.get()), POLLOUT | POLLHUP);
  FileDescriptor q = Socket(SOCK_SEQPACKET);
  EXPECT_EQ(PollNow(q.get()), POLLOUT | POLLHUP);
  FileDescriptor d = Socket(SOCK_DGRAM);
  EXPECT_EQ(PollNow(d.get()), POLLOUT);
  SocketPair p(SOCK_STREAM);
  EXPECT_EQ(PollNow(p.a.get()), POLLOUT);
  UnixAddr a = AbstractAddr(UniqueName("poll"));
  FileDescriptor l = Listener(a);
  EXPECT_EQ(PollNow(l.get()), 0);
}

TEST(UnixSocketTest, ShutdownWrite) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.a.get(), "abc", 3, 0), SyscallSucceedsWithValue(3));
  ASSERT_THAT(shutdown(p.a.get(), SHUT_WR), SyscallSucceeds());
  EXPECT_EQ(PollNow(p.a.get()), POLLOUT);
  EXPECT_EQ(PollNow(p.b.get()), POLLIN | POLLOUT | POLLRDHUP);
  EXPECT_THAT(send(p.a.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  char buf[8];
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  // The other direction still works.
  ASSERT_THAT(send(p.b.get(), "back", 4, 0), SyscallSucceedsWithValue(4));
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  ASSERT_THAT(shutdown(p.b.get(), SHUT_WR), SyscallSucceeds());
  EXPECT_EQ(PollNow(p.a.get()), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
}

TEST(UnixSocketTest, ShutdownRead) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.b.get(), "abc", 3, 0), SyscallSucceedsWithValue(3));
  ASSERT_THAT(shutdown(p.a.get(), SHUT_RD), SyscallSucceeds());
  EXPECT_EQ(PollNow(p.a.get()), POLLIN | POLLOUT | POLLRDHUP);
  EXPECT_EQ(PollNow(p.b.get()), POLLOUT);
  EXPECT_THAT(send(p.b.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  char buf[8];
  // What was queued before is still read, then end of file without waiting.
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
}

TEST(UnixSocketTest, PeerCloseGivesEofAndEpipe) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.b.get(), "abc", 3, 0), SyscallSucceedsWithValue(3));
  p.b.reset();
  EXPECT_EQ(PollNow(p.a.get()), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
  char buf[8];
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(send(p.a.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  int err = -1;
  socklen_t len = sizeof(err);
  ASSERT_THAT(getsockopt(p.a.get(), SOL_SOCKET, SO_ERROR, &err, &len), SyscallSucceeds());
  EXPECT_EQ(err, 0);
}

TEST(UnixSocketTest, PeerCloseWithUnreadDataResets) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.a.get(), "unread", 6, 0), SyscallSucceedsWithValue(6));
  p.b.reset();
  EXPECT_EQ(PollNow(p.a.get()) & POLLERR, POLLERR);
  int err = -1;
  socklen_t len = sizeof(err);
  ASSERT_THAT(getsockopt(p.a.get(), SOL_SOCKET, SO_ERROR, &err, &len), SyscallSucceeds());
  EXPECT_EQ(err, ECONNRESET);
  char buf[8];
  EXPECT_THAT(recv(p.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));

  SocketPair q(SOCK_STREAM);
  ASSERT_THAT(send(q.a.get(), "unread", 6, 0), SyscallSucceedsWithValue(6));
  q.b.reset();
  EXPECT_THAT(recv(q.a.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(ECONNRESET));
  EXPECT_THAT(recv(q.a.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
}

TEST(UnixSocketTest, BlockedReaderWakesOnPeerClose) {
  SocketPair p(SOCK_STREAM);
  std::atomic<long> got{-2};
  std::thread t([&] {
    char buf[4];
    got = recv(p.a.get(), buf, sizeof(buf), 0);
  });
  usleep(100 * 1000);
  EXPECT_EQ(got.load(), -2);
  p.b.reset();
  t.join();
  EXPECT_EQ(got.load(), 0);
}

TEST(UnixSocketTest, Sigpipe) {
  // A stream raises SIGPIPE with EPIPE; MSG_NOSIGNAL and datagrams do not.
  EXPECT_THAT(ForkAndWait([] {
                int fds[2];
                CHILD_CHECK_SUCCESS(socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
                close(fds[1]);
                CHILD_CHECK_ERRNO(send(fds[0], "x", 1, MSG_NOSIGNAL), EPIPE);
                if (write(fds[0], "x", 1) < 0) _exit(2);
                _exit(1);
              }),
              KilledBySignal(SIGPIPE));
  EXPECT_CHILD_SUCCEEDS([] {
    for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
      int fds[2];
      CHILD_CHECK_SUCCESS(socketpair(AF_UNIX, type, 0, fds));
      CHILD_CHECK_SUCCESS(shutdown(fds[0], SHUT_WR));
      CHILD_CHECK_ERRNO(send(fds[0], "x", 1, 0), EPIPE);
    }
    signal(SIGPIPE, SIG_IGN);
    int fds[2];
    CHILD_CHECK_SUCCESS(socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    close(fds[1]);
    CHILD_CHECK_ERRNO(write(fds[0], "x", 1), EPIPE);
  });
}

TEST(UnixSocketTest, PeekAndWaitAll) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.a.get(), "ab", 2, 0), SyscallSucceedsWithValue(2));
  ASSERT_THAT(send(p.a.get(), "cd", 2, 0), SyscallSucceedsWithValue(2));
  char buf[16] = {};
  ASSERT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_PEEK), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "abcd");
  ASSERT_THAT(recv(p.b.get(), buf, 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  ASSERT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_PEEK), SyscallSucceedsWithValue(1));
  ASSERT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(buf[0], 'd');
  // MSG_WAITALL collects pieces sent one by one.
  std::thread t([&] {
    for (char c = '0'; c < '8'; c++) {
      usleep(10 * 1000);
      send(p.a.get(), &c, 1, 0);
    }
  });
  ASSERT_THAT(recv(p.b.get(), buf, 8, MSG_WAITALL), SyscallSucceedsWithValue(8));
  EXPECT_EQ(std::string(buf, 8), "01234567");
  t.join();
  // ...and returns what came when the peer goes.
  ASSERT_THAT(send(p.a.get(), "xy", 2, 0), SyscallSucceedsWithValue(2));
  p.a.reset();
  EXPECT_THAT(recv(p.b.get(), buf, 8, MSG_WAITALL), SyscallSucceedsWithValue(2));
}

TEST(UnixSocketTest, RecvTimeout) {
  SocketPair p(SOCK_STREAM);
  timeval tv = {0, 50 * 1000};
  ASSERT_THAT(setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), SyscallSucceeds());
  char b;
  EXPECT_THAT(recv(p.a.get(), &b, 1, 0), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixSocketTest, Ioctls) {
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(send(p.a.get(), "0123456789", 10, 0), SyscallSucceedsWithValue(10));
  ASSERT_THAT(send(p.a.get(), "abc", 3, 0), SyscallSucceedsWithValue(3));
  int n = -1;
  ASSERT_THAT(ioctl(p.b.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 13);
  ASSERT_THAT(ioctl(p.b.get(), SIOCINQ, &n), SyscallSucceeds());
  EXPECT_EQ(n, 13);
  // SIOCOUTQ counts what the sender has in flight, as the kernel charges it.
  ASSERT_THAT(ioctl(p.a.get(), SIOCOUTQ, &n), SyscallSucceeds());
  EXPECT_GE(n, 13);
  ASSERT_THAT(ioctl(p.b.get(), SIOCOUTQ, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);
  char buf[16];
  ASSERT_THAT(recv(p.b.get(), buf, 4, 0), SyscallSucceedsWithValue(4));
  ASSERT_THAT(ioctl(p.b.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 9);
  ASSERT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(9));
  ASSERT_THAT(ioctl(p.a.get(), SIOCOUTQ, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);
  UnixAddr a = AbstractAddr(UniqueName("ioctl"));
  FileDescriptor l = Listener(a);
  EXPECT_THAT(ioctl(l.get(), SIOCINQ, &n), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(ioctl(p.a.get(), TCGETS, buf), SyscallFailsWithErrno(ENOTTY));
}

TEST(UnixSocketTest, BufferSizes) {
  FileDescriptor s = Socket(SOCK_STREAM);
  int v = 0;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 212992);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 212992);
  // Linux doubles what it is given, with a floor.
  v = 8192;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 16384);
  v = 8192;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 16384);
  v = 0;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 4608);
  v = 0;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 2304);
  EXPECT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, 2), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_PEERSEC, &v, &len),
              SyscallFailsWithErrno(ENOPROTOOPT));
}

TEST(UnixSocketTest, FullStreamBlocksAndPolls) {
  SocketPair p(SOCK_STREAM);
  int v = 8192;
  ASSERT_THAT(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), SyscallSucceeds());
  std::string chunk(1024, 'x');
  size_t total = 0;
  for (;;) {
    ssize_t n = send(p.a.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    total += n;
    ASSERT_LT(total, 1u << 20) << "the send buffer never filled";
  }
  EXPECT_GT(total, 0u);
  EXPECT_EQ(PollNow(p.a.get(), POLLOUT), 0);
  // A blocking sender waits until the reader makes room.
  std::atomic<long> sent{-2};
  std::thread t([&] { sent = send(p.a.get(), chunk.data(), chunk.size(), 0); });
  usleep(100 * 1000);
  EXPECT_EQ(sent.load(), -2);
  std::string buf(total + chunk.size(), '\0');
  size_t got = 0;
  while (got < total) {
    ssize_t n = recv(p.b.get(), buf.data(), buf.size(), 0);
    ASSERT_GT(n, 0);
    got += n;
  }
  t.join();
  EXPECT_EQ(sent.load(), static_cast<long>(chunk.size()));
  EXPECT_EQ(PollWait(p.a.get(), POLLOUT, 1000), POLLOUT);
}

TEST(UnixSocketTest, LargeTransferKeepsEveryByte) {
  SocketPair p(SOCK_STREAM);
  constexpr size_t kTotal = 4 << 20;
  std::thread writer([&] {
    std::string chunk(65536 + 3, '\0');
    size_t sent = 0;
    while (sent < kTotal) {
      size_t n = std::min(chunk.size(), kTotal - sent);
      for (size_t i = 0; i < n; i++) chunk[i] = static_cast<char>((sent + i) * 7 + 1);
      if (!WriteAll(p.a.get(), chunk.data(), n)) return;
      sent += n;
    }
    p.a.reset();
  });
  std::string buf(100000, '\0');
  size_t got = 0;
  bool same = true;
  for (;;) {
    ssize_t n = read(p.b.get(), buf.data(), buf.size());
    ASSERT_GE(n, 0) << ErrnoString(errno);
    if (n == 0) break;
    for (ssize_t i = 0; i < n; i++) {
      same = same && buf[i] == static_cast<char>((got + i) * 7 + 1);
    }
    got += n;
  }
  writer.join();
  EXPECT_EQ(got, kTotal);
  EXPECT_TRUE(same);
}

TEST(UnixSocketTest, EpollWakesOnData) {
  SocketPair p(SOCK_STREAM);
  FileDescriptor ep(epoll_create1(0));
  epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = p.b.get();
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.b.get(), &ev), SyscallSucceeds());
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  std::thread t([&] {
    usleep(50 * 1000);
    send(p.a.get(), "x", 1, 0);
  });
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.events, static_cast<uint32_t>(EPOLLIN));
  t.join();
  char b;
  ASSERT_THAT(recv(p.b.get(), &b, 1, 0), SyscallSucceedsWithValue(1));
  p.a.reset();
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.events, static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP | EPOLLHUP));
}

TEST(UnixSocketTest, SeqpacketKeepsBoundaries) {
  SocketPair p(SOCK_SEQPACKET);
  ASSERT_THAT(send(p.a.get(), "hello", 5, MSG_EOR), SyscallSucceedsWithValue(5));
  ASSERT_THAT(send(p.a.get(), "hi", 2, 0), SyscallSucceedsWithValue(2));
  ASSERT_THAT(send(p.a.get(), "", 0, 0), SyscallSucceedsWithValue(0));
  char buf[16];
  iovec io = {buf, 3};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  ASSERT_THAT(recvmsg(p.b.get(), &m, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(m.msg_flags, MSG_TRUNC);
  ASSERT_THAT(recv(p.b.get(), buf, 1, MSG_TRUNC), SyscallSucceedsWithValue(2));
  // An empty message is a message.
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  p.a.reset();
  EXPECT_EQ(PollNow(p.b.get()), POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(p.b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(send(p.b.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
}

TEST(UnixSocketTest, SeqpacketListenConnect) {
  UnixAddr a = AbstractAddr(UniqueName("seqpacket"));
  FileDescriptor l = Listener(a, SOCK_SEQPACKET);
  FileDescriptor c = Socket(SOCK_SEQPACKET);
  ASSERT_THAT(connect(c.get(), a.get(), a.len), SyscallSucceeds());
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(s.valid());
  // An address on a connected seqpacket socket is ignored.
  UnixAddr other = AbstractAddr(UniqueName("nowhere"));
  ASSERT_THAT(sendto(c.get(), "one", 3, 0, other.get(), other.len), SyscallSucceedsWithValue(3));
  ASSERT_THAT(send(c.get(), "two", 3, 0), SyscallSucceedsWithValue(3));
  char buf[16];
  EXPECT_THAT(recv(s.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  EXPECT_THAT(recv(s.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
}

TEST(UnixSocketTest, PeerCredentials) {
  ucred u = {};
  socklen_t len = sizeof(u);
  FileDescriptor s = Socket(SOCK_STREAM);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_PEERCRED, &u, &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(u));
  EXPECT_EQ(u.pid, 0);
  EXPECT_EQ(u.uid, static_cast<uid_t>(-1));
  EXPECT_EQ(u.gid, static_cast<gid_t>(-1));
  SocketPair p(SOCK_STREAM);
  ASSERT_THAT(getsockopt(p.a.get(), SOL_SOCKET, SO_PEERCRED, &u, &len), SyscallSucceeds());
  EXPECT_EQ(u.pid, getpid());
  EXPECT_EQ(u.uid, geteuid());
  EXPECT_EQ(u.gid, getegid());
  // Across processes: each side sees the other's (the listener's as of listen).
  UnixAddr a = AbstractAddr(UniqueName("peercred"));
  FileDescriptor l = Listener(a);
  pid_t parent = getpid();
  pid_t child = ForkChild([&] {
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHILD_CHECK_SUCCESS(connect(c, a.get(), a.len));
    ucred v = {};
    socklen_t vlen = sizeof(v);
    CHILD_CHECK_SUCCESS(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &v, &vlen));
    CHILD_CHECK(v.pid == parent);
    char b;
    CHILD_CHECK(recv(c, &b, 1, 0) == 0);
  });
  ASSERT_GT(child, 0);
  FileDescriptor conn(accept(l.get(), nullptr, nullptr));
  ASSERT_TRUE(conn.valid());
  ASSERT_THAT(getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &u, &len), SyscallSucceeds());
  EXPECT_EQ(u.pid, child);
  conn.reset();
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

}  // namespace
}  // namespace moat::testing
