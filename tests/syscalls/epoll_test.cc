// Conformance tests for epoll: creation, epoll_ctl's rules and errors, level- and edge-triggered
// and one-shot reporting, the (file, fd) keying of interests and their removal when the file is
// released, nesting and loops, timeouts, signal masks and EINTR, threads and fork; and poll and
// select on the same files.

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::AnyOf;

struct Pipe {
  explicit Pipe(int flags = 0) {
    int fds[2] = {-1, -1};
    if (pipe2(fds, flags) != 0) ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
  FileDescriptor r;
  FileDescriptor w;
};

FileDescriptor NewEpoll() {
  int fd = epoll_create1(0);
  if (fd < 0) ADD_FAILURE() << "epoll_create1: " << ErrnoString(errno);
  return FileDescriptor(fd);
}

int Add(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int Mod(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

// The events epoll_wait returns within `timeout_ms`.
std::vector<epoll_event> Wait(int ep, int timeout_ms = 0, int max = 16) {
  std::vector<epoll_event> evs(max);
  int n = epoll_wait(ep, evs.data(), max, timeout_ms);
  if (n < 0) {
    ADD_FAILURE() << "epoll_wait: " << ErrnoString(errno);
    n = 0;
  }
  evs.resize(n);
  return evs;
}

void WriteByte(int fd) { ASSERT_THAT(write(fd, "x", 1), SyscallSucceedsWithValue(1)); }
void ReadByte(int fd) {
  char c;
  ASSERT_THAT(read(fd, &c, 1), SyscallSucceedsWithValue(1));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

volatile sig_atomic_t g_signals = 0;
void CountSignal(int) { g_signals = g_signals + 1; }


// ---- Creation ----

TEST(EpollCreateTest, SizeMustBePositive) {
  EXPECT_THAT(syscall(SYS_epoll_create, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_epoll_create, -1), SyscallFailsWithErrno(EINVAL));
  int fd = syscall(SYS_epoll_create, 1);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(0));
  close(fd);
}

TEST(EpollCreateTest, Create1Flags) {
  EXPECT_THAT(epoll_create1(O_NONBLOCK), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_create1(-1), SyscallFailsWithErrno(EINVAL));
  FileDescriptor ep(epoll_create1(EPOLL_CLOEXEC));
  ASSERT_TRUE(ep.valid());
  EXPECT_THAT(fcntl(ep.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(fcntl(ep.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR));
}

TEST(EpollCreateTest, IsAnAnonymousFile) {
  FileDescriptor ep = NewEpoll();
  struct stat st;
  ASSERT_THAT(fstat(ep.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, 0600u);
  EXPECT_EQ(st.st_size, 0);
  char buf[16];
  EXPECT_THAT(read(ep.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(ep.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  // noop_llseek: any offset, and the position stays 0; positional I/O is refused.
  EXPECT_THAT(lseek(ep.get(), 5, SEEK_SET), SyscallSucceedsWithValue(0));
  EXPECT_THAT(lseek(ep.get(), 0, 99), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pread(ep.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(ESPIPE));
}

// ---- epoll_ctl errors ----

TEST(EpollCtlTest, EventIsCopiedFirst) {
  // Linux reads the event before it looks at either fd.
  EXPECT_THAT(epoll_ctl(-1, EPOLL_CTL_ADD, -1, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(epoll_ctl(-1, 1234, -1, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(epoll_ctl(-1, EPOLL_CTL_DEL, -1, nullptr), SyscallFailsWithErrno(EBADF));
}

TEST(EpollCtlTest, BadFds) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  EXPECT_THAT(Add(-1, p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(Add(ep.get(), -1, EPOLLIN, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(Add(ep.get(), 10000, EPOLLIN, 0), SyscallFailsWithErrno(EBADF));
  // Not an epoll.
  EXPECT_THAT(Add(p.w.get(), p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(EINVAL));
  // Itself.
  EXPECT_THAT(Add(ep.get(), ep.get(), EPOLLIN, 0), SyscallFailsWithErrno(EINVAL));
  // An unknown operation, once the fds are good.
  epoll_event ev{};
  EXPECT_THAT(epoll_ctl(ep.get(), 99, p.r.get(), &ev), SyscallFailsWithErrno(EINVAL));
}

TEST(EpollCtlTest, FilesWithoutPollAreRefused) {
  FileDescriptor ep = NewEpoll();
  TempDir dir;
  std::string path = dir.path() + "/f";
  FileDescriptor f(open(path.c_str(), O_CREAT | O_RDWR, 0600));
  ASSERT_TRUE(f.valid()) << ErrnoString(errno);
  EXPECT_THAT(Add(ep.get(), f.get(), EPOLLIN, 0), SyscallFailsWithErrno(EPERM));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(d.valid());
  EXPECT_THAT(Add(ep.get(), d.get(), EPOLLIN, 0), SyscallFailsWithErrno(EPERM));
  // EPERM comes before the check that the first fd is an epoll.
  Pipe p;
  EXPECT_THAT(Add(p.r.get(), f.get(), EPOLLIN, 0), SyscallFailsWithErrno(EPERM));
}

TEST(EpollCtlTest, ExistsAndNotFound) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr),
              SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 0), SyscallSucceeds());
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 0), SyscallSucceeds());
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr), SyscallSucceeds());
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr),
              SyscallFailsWithErrno(ENOENT));
  // Removed means removed: nothing is reported any more.
  WriteByte(p.w.get());
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollCtlTest, ExclusiveRules) {
  FileDescriptor ep = NewEpoll();
  FileDescriptor inner = NewEpoll();
  Pipe p;
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLPRI | EPOLLEXCLUSIVE, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Add(ep.get(), inner.get(), EPOLLIN | EPOLLEXCLUSIVE, 0),
              SyscallFailsWithErrno(EINVAL));
  // MOD may never carry it, even for an entry that does not exist.
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE, 0),
              SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE | EPOLLET, 7), SyscallSucceeds());
  // An exclusive entry cannot be modified at all.
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(EINVAL));
  WriteByte(p.w.get());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_EQ(evs[0].data.u64, 7u);
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr), SyscallSucceeds());
}

// ---- Reporting ----

TEST(EpollTest, DataRoundTrips) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  const uint64_t data = 0xdeadbeefcafebabeULL;
  ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLOUT, data), SyscallSucceeds());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT));
  EXPECT_EQ(evs[0].data.u64, data);
  ASSERT_THAT(Mod(ep.get(), p.w.get(), EPOLLOUT, 42), SyscallSucceeds());
  evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 42u);
}

TEST(EpollTest, NothingReadyTimesOut) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 0), SyscallSucceeds());
  epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  int64_t start = NowMs();
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 100), SyscallSucceedsWithValue(0));
  EXPECT_GE(NowMs() - start, 95);
  // An empty epoll times out too.
  FileDescriptor empty = NewEpoll();
  EXPECT_THAT(epoll_wait(empty.get(), &ev, 1, 10), SyscallSucceedsWithValue(0));
}

TEST(EpollTest, LevelTriggeredReportsUntilDrained) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  EXPECT_TRUE(Wait(ep.get()).empty());
  WriteByte(p.w.get());
  WriteByte(p.w.get());
  for (int i = 0; i < 3; i++) {
    auto evs = Wait(ep.get());
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  }
  ReadByte(p.r.get());
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  ReadByte(p.r.get());
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollTest, EdgeTriggeredReportsEachChangeOnce) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 1), SyscallSucceeds());
  WriteByte(p.w.get());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  // Still readable, but nothing new happened.
  EXPECT_TRUE(Wait(ep.get()).empty());
  // A new write is a new edge even though the pipe was readable all along.
  WriteByte(p.w.get());
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollTest, EdgeTriggeredAddOfReadyFileReportsOnce) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  WriteByte(p.w.get());
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 1), SyscallSucceeds());
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  EXPECT_TRUE(Wait(ep.get()).empty());
  // MOD re-arms: the file is ready, so it is reported again.
  ASSERT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 2), SyscallSucceeds());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 2u);
}

TEST(EpollTest, OneShotDisablesUntilModified) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLONESHOT, 5), SyscallSucceeds());
  WriteByte(p.w.get());
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  EXPECT_TRUE(Wait(ep.get()).empty());
  WriteByte(p.w.get());
  EXPECT_TRUE(Wait(ep.get()).empty());
  // Still in the interest list: ADD fails, MOD re-enables.
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 0), SyscallFailsWithErrno(EEXIST));
  ASSERT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLONESHOT, 6), SyscallSucceeds());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 6u);
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollTest, ErrorAndHangupAreAlwaysReported) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  // Asked for nothing at all: errors and hang-ups still come.
  ASSERT_THAT(Add(ep.get(), p.r.get(), 0, 1), SyscallSucceeds());
  ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLIN, 2), SyscallSucceeds());
  EXPECT_TRUE(Wait(ep.get()).empty());
  int w = p.w.release();
  // The write end goes from the interest list with its file.
  ASSERT_THAT(close(w), SyscallSucceeds());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLHUP));
  EXPECT_EQ(evs[0].data.u64, 1u);
}

TEST(EpollTest, WriteEndReportsErrorWithoutReaders) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLOUT | EPOLLRDHUP, 1), SyscallSucceeds());
  p.r.reset();
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT | EPOLLERR));
}

TEST(EpollTest, RdhupIsNotAPipeEvent) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLRDHUP, 1), SyscallSucceeds());
  p.w.reset();
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLHUP));
}

TEST(EpollTest, MaxEventsRotatesLevelTriggered) {
  FileDescriptor ep = NewEpoll();
  Pipe p[3];
  for (int i = 0; i < 3; i++) {
    ASSERT_THAT(Add(ep.get(), p[i].r.get(), EPOLLIN, i), SyscallSucceeds());
    WriteByte(p[i].w.get());
  }
  std::set<uint64_t> seen;
  for (int i = 0; i < 3; i++) {
    auto evs = Wait(ep.get(), 0, 1);
    ASSERT_EQ(evs.size(), 1u);
    seen.insert(evs[0].data.u64);
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(Wait(ep.get(), 0, 16).size(), 3u);
}

TEST(EpollTest, WaitArgumentErrors) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  epoll_event ev;
  // Through syscall(2): the C library's declaration would have the compiler object.
  EXPECT_THAT(syscall(SYS_epoll_wait, ep.get(), &ev, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_epoll_wait, ep.get(), &ev, -1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_epoll_wait, ep.get(), &ev, INT_MAX, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_wait(-1, &ev, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(epoll_wait(p.r.get(), &ev, 1, 0), SyscallFailsWithErrno(EINVAL));
  // A bad buffer is only noticed when there is an event to store; the event stays ready.
  EXPECT_THAT(syscall(SYS_epoll_wait, ep.get(), nullptr, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLOUT | EPOLLET, 3), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_epoll_wait, ep.get(), nullptr, 1, 0), SyscallFailsWithErrno(EFAULT));
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 3u);
}

TEST(EpollTest, Pwait2TakesATimespec) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 9), SyscallSucceeds());
  epoll_event ev;
  timespec bad{0, 1000000000};
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &bad, nullptr, 8),
              SyscallFailsWithErrno(EINVAL));
  timespec neg{-1, 0};
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &neg, nullptr, 8),
              SyscallFailsWithErrno(EINVAL));
  timespec ts{0, 50 * 1000 * 1000};
  int64_t start = NowMs();
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &ts, nullptr, 8),
              SyscallSucceedsWithValue(0));
  EXPECT_GE(NowMs() - start, 45);
  WriteByte(p.w.get());
  // A null timeout waits, but something is ready.
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, nullptr, nullptr, 8),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 9u);
}

// ---- Keying on (file, fd) and release ----

TEST(EpollTest, ClosingTheOnlyFdRemovesTheInterest) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  int r = p.r.release();
  ASSERT_THAT(close(r), SyscallSucceeds());
  // The pipe's write end now has no reader, and the read end's interest is gone with its file.
  EXPECT_TRUE(Wait(ep.get()).empty());
  // The fd number may be reused; the new file is not watched.
  Pipe q;
  WriteByte(q.w.get());
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollTest, DupKeepsTheInterestAfterClose) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 77), SyscallSucceeds());
  FileDescriptor dup_fd(dup(p.r.get()));
  ASSERT_TRUE(dup_fd.valid());
  int old = p.r.release();
  ASSERT_THAT(close(old), SyscallSucceeds());
  WriteByte(p.w.get());
  // The file lives on through the dup, and so does the interest under the old fd's key.
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 77u);
  // It can no longer be named: the old fd is closed, the dup is another key.
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, old, nullptr), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, dup_fd.get(), nullptr),
              SyscallFailsWithErrno(ENOENT));
  // Once the last fd goes, so does the interest.
  dup_fd.reset();
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollTest, OneFileUnderTwoFds) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  FileDescriptor dup_fd(dup(p.r.get()));
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(ep.get(), dup_fd.get(), EPOLLIN, 2), SyscallSucceeds());
  WriteByte(p.w.get());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data.u64 + evs[1].data.u64, 3u);
}

TEST(EpollTest, ClosingTheEpollWithInterests) {
  Pipe p;
  {
    FileDescriptor ep = NewEpoll();
    ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
    ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLOUT, 2), SyscallSucceeds());
  }
  // The pipe works on without its watcher.
  WriteByte(p.w.get());
  ReadByte(p.r.get());
}

TEST(EpollTest, TwoEpollsWatchOneFile) {
  FileDescriptor a = NewEpoll();
  FileDescriptor b = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(a.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(b.get(), p.r.get(), EPOLLIN | EPOLLET, 2), SyscallSucceeds());
  WriteByte(p.w.get());
  EXPECT_EQ(Wait(a.get()).size(), 1u);
  EXPECT_EQ(Wait(b.get()).size(), 1u);
  b.reset();
  EXPECT_EQ(Wait(a.get()).size(), 1u);
}

// ---- Nesting ----

TEST(EpollNestTest, EpollInsideEpoll) {
  FileDescriptor outer = NewEpoll();
  FileDescriptor inner = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(inner.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(outer.get(), inner.get(), EPOLLIN, 2), SyscallSucceeds());
  EXPECT_TRUE(Wait(outer.get()).empty());
  WriteByte(p.w.get());
  auto evs = Wait(outer.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN));
  EXPECT_EQ(evs[0].data.u64, 2u);
  evs = Wait(inner.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 1u);
  ReadByte(p.r.get());
  EXPECT_TRUE(Wait(outer.get()).empty());
}

TEST(EpollNestTest, NestedWakesABlockedWaiter) {
  FileDescriptor outer = NewEpoll();
  FileDescriptor inner = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(inner.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(outer.get(), inner.get(), EPOLLIN, 2), SyscallSucceeds());
  std::thread writer([&] {
    usleep(50 * 1000);
    WriteByte(p.w.get());
  });
  auto evs = Wait(outer.get(), 5000);
  writer.join();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 2u);
}

TEST(EpollNestTest, LoopsAreRefused) {
  FileDescriptor a = NewEpoll();
  FileDescriptor b = NewEpoll();
  FileDescriptor c = NewEpoll();
  ASSERT_THAT(Add(a.get(), b.get(), EPOLLIN, 0), SyscallSucceeds());
  EXPECT_THAT(Add(b.get(), a.get(), EPOLLIN, 0), SyscallFailsWithErrno(ELOOP));
  ASSERT_THAT(Add(b.get(), c.get(), EPOLLIN, 0), SyscallSucceeds());
  EXPECT_THAT(Add(c.get(), a.get(), EPOLLIN, 0), SyscallFailsWithErrno(ELOOP));
  // Loops are checked before the entry is looked for.
  EXPECT_THAT(Add(a.get(), b.get(), EPOLLIN, 0), SyscallFailsWithErrno(EEXIST));
}

TEST(EpollNestTest, DepthIsLimited) {
  std::vector<FileDescriptor> eps;
  for (int i = 0; i < 7; i++) eps.push_back(NewEpoll());
  for (int i = 1; i <= 4; i++) {
    EXPECT_THAT(Add(eps[i].get(), eps[i - 1].get(), EPOLLIN, 0), SyscallSucceeds()) << i;
  }
  EXPECT_THAT(Add(eps[5].get(), eps[4].get(), EPOLLIN, 0), SyscallFailsWithErrno(ELOOP));
  // The limit counts levels above the epoll added to as well.
  ASSERT_THAT(Add(eps[6].get(), eps[5].get(), EPOLLIN, 0), SyscallSucceeds());
  EXPECT_THAT(Add(eps[5].get(), eps[3].get(), EPOLLIN, 0), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(Add(eps[5].get(), eps[2].get(), EPOLLIN, 0), SyscallSucceeds());
}

// ---- Other kinds of files ----

TEST(EpollFilesTest, EventfdEdgeOnEveryWrite) {
  FileDescriptor ep = NewEpoll();
  FileDescriptor efd(eventfd(0, EFD_NONBLOCK));
  ASSERT_TRUE(efd.valid());
  ASSERT_THAT(Add(ep.get(), efd.get(), EPOLLIN | EPOLLOUT | EPOLLET, 1), SyscallSucceeds());
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLOUT));
  EXPECT_TRUE(Wait(ep.get()).empty());
  uint64_t one = 1;
  ASSERT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, static_cast<uint32_t>(EPOLLIN | EPOLLOUT));
  ASSERT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
}

TEST(EpollFilesTest, Timerfd) {
  FileDescriptor ep = NewEpoll();
  FileDescriptor tfd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_TRUE(tfd.valid());
  ASSERT_THAT(Add(ep.get(), tfd.get(), EPOLLIN, 5), SyscallSucceeds());
  itimerspec its{};
  its.it_value.tv_nsec = 20 * 1000 * 1000;
  ASSERT_THAT(timerfd_settime(tfd.get(), 0, &its, nullptr), SyscallSucceeds());
  auto evs = Wait(ep.get(), 5000);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 5u);
  uint64_t ticks;
  ASSERT_THAT(read(tfd.get(), &ticks, 8), SyscallSucceedsWithValue(8));
  EXPECT_EQ(ticks, 1u);
  EXPECT_TRUE(Wait(ep.get()).empty());
}

TEST(EpollFilesTest, Signalfd) {
  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &mask, &old), SyscallSucceeds());
  FileDescriptor sfd(signalfd(-1, &mask, SFD_NONBLOCK));
  ASSERT_TRUE(sfd.valid());
  FileDescriptor ep = NewEpoll();
  ASSERT_THAT(Add(ep.get(), sfd.get(), EPOLLIN, 8), SyscallSucceeds());
  EXPECT_TRUE(Wait(ep.get()).empty());
  std::thread sender([] {
    usleep(50 * 1000);
    kill(getpid(), SIGUSR1);
  });
  auto evs = Wait(ep.get(), 5000);
  sender.join();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 8u);
  signalfd_siginfo si;
  ASSERT_THAT(read(sfd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGUSR1));
  EXPECT_TRUE(Wait(ep.get()).empty());
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

TEST(EpollFilesTest, StandardOutput) {
  // Whatever stdout is (a pipe or a terminal under a test runner, a regular file when
  // redirected), epoll treats it as Linux does.
  struct stat st;
  ASSERT_THAT(fstat(STDOUT_FILENO, &st), SyscallSucceeds());
  FileDescriptor ep = NewEpoll();
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    EXPECT_THAT(Add(ep.get(), STDOUT_FILENO, EPOLLOUT, 1), SyscallFailsWithErrno(EPERM));
    return;
  }
  ASSERT_THAT(Add(ep.get(), STDOUT_FILENO, EPOLLOUT, 1), SyscallSucceeds());
  auto evs = Wait(ep.get(), 5000);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].events & EPOLLOUT);
}

// ---- Blocking, threads, signals, fork ----

TEST(EpollBlockTest, ThreadWokenByWriteInAnotherThread) {
  FileDescriptor ep = NewEpoll();
  FileDescriptor efd(eventfd(0, 0));
  ASSERT_THAT(Add(ep.get(), efd.get(), EPOLLIN, 11), SyscallSucceeds());
  std::atomic<int> got{-2};
  uint64_t data = 0;
  std::thread waiter([&] {
    epoll_event ev;
    got = epoll_wait(ep.get(), &ev, 1, -1);
    data = ev.data.u64;
  });
  usleep(50 * 1000);
  EXPECT_EQ(got.load(), -2);
  uint64_t one = 1;
  ASSERT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  waiter.join();
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(data, 11u);
}

TEST(EpollBlockTest, ManyWaitersAllWokenByLevelTriggeredEvent) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; i++) {
    threads.emplace_back([&] {
      epoll_event ev;
      if (epoll_wait(ep.get(), &ev, 1, 5000) == 1) done++;
    });
  }
  usleep(50 * 1000);
  WriteByte(p.w.get());
  for (auto& t : threads) t.join();
  // At least one waiter saw it; the byte stays, so the others see it too (level-triggered).
  EXPECT_GE(done.load(), 1);
}

// Waits on `ep` in a thread each; returns how many saw an event once `trigger` has run.
int WaitersWoken(const std::vector<int>& eps, const std::function<void()>& trigger) {
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int ep : eps) {
    threads.emplace_back([ep, &woken] {
      epoll_event ev;
      if (epoll_wait(ep, &ev, 1, 300) == 1) woken++;
    });
  }
  usleep(50 * 1000);
  trigger();
  for (auto& t : threads) t.join();
  return woken.load();
}

TEST(EpollBlockTest, ExclusiveWakesOneEpoll) {
  FileDescriptor a = NewEpoll();
  FileDescriptor b = NewEpoll();
  FileDescriptor efd(eventfd(0, EFD_NONBLOCK));
  ASSERT_THAT(Add(a.get(), efd.get(), EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, 1), SyscallSucceeds());
  ASSERT_THAT(Add(b.get(), efd.get(), EPOLLIN | EPOLLET | EPOLLEXCLUSIVE, 2), SyscallSucceeds());
  uint64_t one = 1;
  auto trigger = [&] { EXPECT_EQ(write(efd.get(), &one, 8), 8); };
  EXPECT_EQ(WaitersWoken({a.get(), b.get()}, trigger), 1);
}

TEST(EpollBlockTest, NonExclusiveWakesEveryEpoll) {
  FileDescriptor a = NewEpoll();
  FileDescriptor b = NewEpoll();
  FileDescriptor efd(eventfd(0, EFD_NONBLOCK));
  ASSERT_THAT(Add(a.get(), efd.get(), EPOLLIN | EPOLLET, 1), SyscallSucceeds());
  ASSERT_THAT(Add(b.get(), efd.get(), EPOLLIN | EPOLLET, 2), SyscallSucceeds());
  uint64_t one = 1;
  auto trigger = [&] { EXPECT_EQ(write(efd.get(), &one, 8), 8); };
  EXPECT_EQ(WaitersWoken({a.get(), b.get()}, trigger), 2);
}

TEST(EpollBlockTest, CloseOfWatchedFileInAnotherThread) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  std::thread closer([&] {
    usleep(20 * 1000);
    p.r.reset();
  });
  // The interest goes away while the wait is on; nothing is reported.
  EXPECT_TRUE(Wait(ep.get(), 100).empty());
  closer.join();
}

TEST(EpollSignalTest, InterruptedEvenWithRestart) {
  ScopedSigaction h(SIGALRM, MakeSigaction(CountSignal, SA_RESTART));
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  g_signals = 0;
  ArmAlarmMs(50);
  epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 5000), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
}

TEST(EpollSignalTest, PwaitMaskAppliesDuringTheWait) {
  ScopedSigaction h(SIGUSR1, MakeSigaction(CountSignal));
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &old), SyscallSucceeds());
  g_signals = 0;
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(g_signals, 0);
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  sigset_t during;
  sigemptyset(&during);
  epoll_event ev;
  // The pending signal is unblocked by the wait's mask: EINTR, and the handler runs.
  EXPECT_THAT(epoll_pwait(ep.get(), &ev, 1, 5000, &during), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
  // The old mask is back.
  sigset_t now;
  sigprocmask(SIG_BLOCK, nullptr, &now);
  EXPECT_TRUE(sigismember(&now, SIGUSR1));
  // A mask that keeps it blocked lets the wait time out.
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_THAT(epoll_pwait(ep.get(), &ev, 1, 20, &block), SyscallSucceedsWithValue(0));
  EXPECT_EQ(g_signals, 1);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(g_signals, 2);
}

TEST(EpollSignalTest, PwaitMaskSize) {
  FileDescriptor ep = NewEpoll();
  sigset_t mask;
  sigemptyset(&mask);
  epoll_event ev;
  EXPECT_THAT(syscall(SYS_epoll_pwait, ep.get(), &ev, 1, 0, &mask, 4),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_epoll_pwait, ep.get(), &ev, 1, 0, &mask, 8),
              SyscallSucceedsWithValue(0));
  // A null mask ignores the size.
  EXPECT_THAT(syscall(SYS_epoll_pwait, ep.get(), &ev, 1, 0, nullptr, 4),
              SyscallSucceedsWithValue(0));
}

TEST(EpollForkTest, ChildSharesTheEpoll) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 21), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    // The child waits on the inherited epoll for the parent's write.
    epoll_event ev;
    CHILD_CHECK(epoll_wait(ep.get(), &ev, 1, 5000) == 1);
    CHILD_CHECK(ev.data.u64 == 21);
    char c;
    CHILD_CHECK(read(p.r.get(), &c, 1) == 1);
    // Adding in the child changes the shared interest list.
    CHILD_CHECK_SUCCESS(Add(ep.get(), p.w.get(), EPOLLOUT, 22));
  });
  usleep(30 * 1000);
  WriteByte(p.w.get());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // The child's interest is there; the child closing its fds did not release the pipe.
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 22u);
}

// ---- poll and select on event files ----

short PollEvents(int fd, short events) {
  pollfd pfd{fd, events, 0};
  int n = poll(&pfd, 1, 0);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? pfd.revents : 0;
}

TEST(PollTest, EpollFdIsReadableWhenEventsAre) {
  FileDescriptor ep = NewEpoll();
  Pipe p;
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  EXPECT_EQ(PollEvents(ep.get(), POLLIN | POLLOUT), 0);
  WriteByte(p.w.get());
  EXPECT_EQ(PollEvents(ep.get(), POLLIN | POLLOUT), POLLIN);
  EXPECT_EQ(PollEvents(ep.get(), POLLIN | POLLRDNORM), POLLIN | POLLRDNORM);
  ReadByte(p.r.get());
  EXPECT_EQ(PollEvents(ep.get(), POLLIN), 0);
}

TEST(PollTest, EventfdReadiness) {
  FileDescriptor efd(eventfd(0, EFD_NONBLOCK));
  EXPECT_EQ(PollEvents(efd.get(), POLLIN | POLLOUT), POLLOUT);
  uint64_t v = 5;
  ASSERT_THAT(write(efd.get(), &v, 8), SyscallSucceedsWithValue(8));
  // eventfd reports POLLIN and POLLOUT, never their NORM twins.
  EXPECT_EQ(PollEvents(efd.get(), POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM), POLLIN | POLLOUT);
  v = UINT64_MAX - 1 - 5;
  ASSERT_THAT(write(efd.get(), &v, 8), SyscallSucceedsWithValue(8));
  // At the largest count a write can reach, it is no longer writable.
  EXPECT_EQ(PollEvents(efd.get(), POLLIN | POLLOUT), POLLIN);
}

TEST(PollTest, PollWokenByAnotherThread) {
  FileDescriptor efd(eventfd(0, 0));
  std::thread writer([&] {
    usleep(50 * 1000);
    uint64_t one = 1;
    EXPECT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  });
  pollfd pfd{efd.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  writer.join();
}

TEST(PollTest, ClosedAndNegativeFds) {
  Pipe p;
  int closed = dup(p.r.get());
  close(closed);
  pollfd pfds[3] = {{-1, POLLIN, 0}, {closed, POLLIN, 0}, {p.w.get(), POLLOUT, 0}};
  ASSERT_THAT(poll(pfds, 3, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(pfds[0].revents, 0);
  EXPECT_EQ(pfds[1].revents, POLLNVAL);
  EXPECT_EQ(pfds[2].revents, POLLOUT);
}

TEST(PollTest, TooManyFds) {
  rlimit rl;
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &rl), SyscallSucceeds());
  std::vector<pollfd> pfds(rl.rlim_cur + 1, pollfd{-1, 0, 0});
  EXPECT_THAT(poll(pfds.data(), pfds.size(), 0), SyscallFailsWithErrno(EINVAL));
}

TEST(PollTest, PpollMaskAndEintr) {
  ScopedSigaction h(SIGUSR2, MakeSigaction(CountSignal));
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &old), SyscallSucceeds());
  g_signals = 0;
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  FileDescriptor efd(eventfd(0, 0));
  pollfd pfd{efd.get(), POLLIN, 0};
  sigset_t none;
  sigemptyset(&none);
  timespec ts{5, 0};
  EXPECT_THAT(ppoll(&pfd, 1, &ts, &none), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

TEST(SelectTest, EventFiles) {
  FileDescriptor efd(eventfd(0, 0));
  FileDescriptor tfd(timerfd_create(CLOCK_MONOTONIC, 0));
  FileDescriptor ep = NewEpoll();
  ASSERT_THAT(Add(ep.get(), efd.get(), EPOLLIN, 0), SyscallSucceeds());
  fd_set r, w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(efd.get(), &r);
  FD_SET(efd.get(), &w);
  FD_SET(tfd.get(), &r);
  FD_SET(ep.get(), &r);
  int nfds = std::max({efd.get(), tfd.get(), ep.get()}) + 1;
  timeval tv{0, 0};
  // Only the eventfd's write side is ready.
  ASSERT_THAT(select(nfds, &r, &w, nullptr, &tv), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(efd.get(), &w));
  EXPECT_FALSE(FD_ISSET(efd.get(), &r));
  itimerspec its{};
  its.it_value.tv_nsec = 10 * 1000 * 1000;
  ASSERT_THAT(timerfd_settime(tfd.get(), 0, &its, nullptr), SyscallSucceeds());
  FD_ZERO(&r);
  FD_SET(tfd.get(), &r);
  tv = {5, 0};
  // Waits for the timer.
  ASSERT_THAT(select(nfds, &r, nullptr, nullptr, &tv), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(tfd.get(), &r));
  uint64_t one = 1;
  ASSERT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  FD_ZERO(&r);
  FD_SET(efd.get(), &r);
  FD_SET(ep.get(), &r);
  tv = {0, 0};
  ASSERT_THAT(select(nfds, &r, nullptr, nullptr, &tv), SyscallSucceedsWithValue(2));
  EXPECT_TRUE(FD_ISSET(ep.get(), &r));
}

TEST(SelectTest, ClosedFdIsEbadf) {
  int fd = eventfd(0, 0);
  close(fd);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd, &r);
  timeval tv{0, 0};
  EXPECT_THAT(select(fd + 1, &r, nullptr, nullptr, &tv), SyscallFailsWithErrno(EBADF));
}

TEST(SelectTest, Pselect6WokenByThread) {
  FileDescriptor efd(eventfd(0, 0));
  std::thread writer([&] {
    usleep(50 * 1000);
    uint64_t one = 1;
    EXPECT_THAT(write(efd.get(), &one, 8), SyscallSucceedsWithValue(8));
  });
  fd_set r;
  FD_ZERO(&r);
  FD_SET(efd.get(), &r);
  timespec ts{5, 0};
  EXPECT_THAT(pselect(efd.get() + 1, &r, nullptr, nullptr, &ts, nullptr),
              SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(efd.get(), &r));
  writer.join();
}

}  // namespace
}  // namespace moat::testing
