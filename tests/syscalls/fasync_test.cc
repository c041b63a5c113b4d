// Conformance tests for file ownership and signal-driven I/O: fcntl's F_SETOWN / F_GETOWN,
// F_SETOWN_EX / F_GETOWN_EX, F_SETSIG / F_GETSIG, O_ASYNC (SIGIO on readiness changes),
// dnotify (F_NOTIFY) and leases (F_SETLEASE / F_GETLEASE and lease breaks).
//
// Signals are observed by blocking them and taking them with sigtimedwait, so that a test sees
// exactly what was queued (real-time signals queue one per event) without racing a handler.

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "tests/syscalls/signal_util.h"
#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

constexpr long kPollIn = POLLIN | POLLRDNORM;
constexpr long kPollOut = POLLOUT | POLLWRNORM | POLLWRBAND;
constexpr long kPollMsg = POLLIN | POLLRDNORM | POLLMSG;

// The real-time signal the F_SETSIG tests choose.
int RtSig() { return SIGRTMIN + 1; }

// Blocks `sigs` for the life of the object (in the calling thread), and drains what is still
// pending when it ends, so that nothing leaks into the next test.
class BlockSignals {
 public:
  explicit BlockSignals(std::initializer_list<int> sigs) {
    sigemptyset(&set_);
    for (int s : sigs) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockSignals() {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

// Takes one pending `sig`, waiting up to `ms`; nullopt if none came.
std::optional<siginfo_t> TakeSignal(int sig, int ms = 2000) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  siginfo_t info;
  for (;;) {
    int r = sigtimedwait(&set, &info, &ts);
    if (r == sig) return info;
    if (r == -1 && errno == EINTR) continue;
    return std::nullopt;
  }
}

// Takes every pending `sig` without waiting and counts them.
int CountPending(int sig) {
  int n = 0;
  while (TakeSignal(sig, 0)) ++n;
  return n;
}

// F_GETOWN as the kernel returns it. glibc's fcntl(F_GETOWN) asks F_GETOWN_EX instead, and
// syscall(2) would take a small negative process group for an errno.
long RawGetown(int fd) {
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(long{SYS_fcntl}), "D"(long{fd}), "S"(long{F_GETOWN})
               : "rcx", "r11", "memory");
  return ret;
}

// A pid that names nothing: kill(2) says ESRCH for it.
pid_t UnusedPid() {
  for (pid_t p = 4000000; p > 1000; p -= 7919) {
    if (kill(p, 0) == -1 && errno == ESRCH && kill(-p, 0) == -1 && errno == ESRCH) return p;
  }
  return 0;
}

struct Pipe {
  FileDescriptor r, w;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK) == 0) {
      r.reset(fds[0]);
      w.reset(fds[1]);
    } else {
      ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
    }
  }
};

// Turns on signal-driven I/O for `fd` with this process as the owner.
void MakeAsync(int fd, int sig = 0) {
  ASSERT_THAT(fcntl(fd, F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(fcntl(fd, F_SETSIG, sig), SyscallSucceeds());
  int fl = fcntl(fd, F_GETFL);
  ASSERT_THAT(fcntl(fd, F_SETFL, fl | O_ASYNC), SyscallSucceeds());
}

// ---- Ownership ----

TEST(FasyncOwner, Defaults) {
  Pipe p;
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(p.r.get(), F_GETSIG), SyscallSucceedsWithValue(0));
  struct f_owner_ex ex = {F_OWNER_PID, 123};
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &ex), SyscallSucceeds());
  // A file nobody ever owned reports a thread owner of 0, as Linux's zeroed f_owner does.
  EXPECT_EQ(ex.type, F_OWNER_TID);
  EXPECT_EQ(ex.pid, 0);
}

TEST(FasyncOwner, SetOwnPidRoundTrip) {
  Pipe p;
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(getpid()));
  struct f_owner_ex ex = {};
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &ex), SyscallSucceeds());
  EXPECT_EQ(ex.type, F_OWNER_PID);
  EXPECT_EQ(ex.pid, getpid());
  // The other end is another open file description: it has an owner of its own.
  EXPECT_THAT(fcntl(p.w.get(), F_GETOWN), SyscallSucceedsWithValue(0));
  // Owner 0 removes the owner; the type stays "process".
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, 0), SyscallSucceeds());
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &ex), SyscallSucceeds());
  EXPECT_EQ(ex.type, F_OWNER_PID);
  EXPECT_EQ(ex.pid, 0);
}

TEST(FasyncOwner, SetOwnProcessGroupIsNegative) {
  Pipe p;
  pid_t pgrp = getpgrp();
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, -pgrp), SyscallSucceeds());
  // F_GETOWN of a process group is the negative group id.
  EXPECT_EQ(RawGetown(p.r.get()), -pgrp);
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(-pgrp));
  struct f_owner_ex ex = {};
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &ex), SyscallSucceeds());
  EXPECT_EQ(ex.type, F_OWNER_PGRP);
  EXPECT_EQ(ex.pid, pgrp);
}

TEST(FasyncOwner, SetOwnErrors) {
  Pipe p;
  pid_t unused = UnusedPid();
  ASSERT_NE(unused, 0);
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN, unused), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN, -unused), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN, INT_MIN), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(-1, F_SETOWN, getpid()), SyscallFailsWithErrno(EBADF));
  // A failed F_SETOWN leaves the owner alone.
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(0));
}

TEST(FasyncOwner, SetOwnExRoundTrip) {
  Pipe p;
  struct f_owner_ex ex = {F_OWNER_TID, Gettid()};
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallSucceeds());
  struct f_owner_ex got = {};
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &got), SyscallSucceeds());
  EXPECT_EQ(got.type, F_OWNER_TID);
  EXPECT_EQ(got.pid, Gettid());
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(Gettid()));

  ex = {F_OWNER_PGRP, getpgrp()};
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &got), SyscallSucceeds());
  EXPECT_EQ(got.type, F_OWNER_PGRP);
  EXPECT_EQ(got.pid, getpgrp());
  EXPECT_EQ(RawGetown(p.r.get()), -getpgrp());

  ex = {F_OWNER_PID, getpid()};
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &got), SyscallSucceeds());
  EXPECT_EQ(got.type, F_OWNER_PID);
  EXPECT_EQ(got.pid, getpid());

  // An empty group owner is accepted.
  ex = {F_OWNER_PGRP, 0};
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_GETOWN_EX, &got), SyscallSucceeds());
  EXPECT_EQ(got.type, F_OWNER_PGRP);
  EXPECT_EQ(got.pid, 0);
}

TEST(FasyncOwner, SetOwnExErrors) {
  Pipe p;
  struct f_owner_ex ex = {static_cast<__pid_type>(7), getpid()};
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallFailsWithErrno(EINVAL));
  ex = {F_OWNER_TID, UnusedPid()};
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallFailsWithErrno(ESRCH));
  ex = {F_OWNER_PID, -getpid()};
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(fcntl(p.r.get(), F_SETOWN_EX, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN_EX, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
}

TEST(FasyncOwner, SetSig) {
  Pipe p;
  EXPECT_THAT(fcntl(p.r.get(), F_SETSIG, 65), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(p.r.get(), F_SETSIG, -1), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, 64), SyscallSucceeds());
  EXPECT_THAT(fcntl(p.r.get(), F_GETSIG), SyscallSucceedsWithValue(64));
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, SIGUSR1), SyscallSucceeds());
  EXPECT_THAT(fcntl(p.r.get(), F_GETSIG), SyscallSucceedsWithValue(SIGUSR1));
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, 0), SyscallSucceeds());
  EXPECT_THAT(fcntl(p.r.get(), F_GETSIG), SyscallSucceedsWithValue(0));
}

TEST(FasyncOwner, SharedByDupAndFork) {
  Pipe p;
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, SIGUSR2), SyscallSucceeds());
  FileDescriptor d(dup(p.r.get()));
  ASSERT_TRUE(d.valid());
  EXPECT_THAT(fcntl(d.get(), F_GETOWN), SyscallSucceedsWithValue(getpid()));
  EXPECT_THAT(fcntl(d.get(), F_GETSIG), SyscallSucceedsWithValue(SIGUSR2));
  const pid_t parent = getpid();
  const int fd = p.r.get();
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK(fcntl(fd, F_GETOWN) == parent);
    CHILD_CHECK(fcntl(fd, F_GETSIG) == SIGUSR2);
    // The child changes the shared description: the parent sees it.
    CHILD_CHECK_SUCCESS(fcntl(fd, F_SETOWN, getpid()));
  });
  // The child has been reaped, so the owner no longer exists: F_GETOWN says 0.
  EXPECT_THAT(fcntl(d.get(), F_GETOWN), SyscallSucceedsWithValue(0));
}

TEST(FasyncOwner, DupfdQuery) {
  constexpr int kFDupfdQuery = 1027;  // F_DUPFD_QUERY, Linux 6.10
  Pipe p;
  FileDescriptor d(dup(p.r.get()));
  ASSERT_TRUE(d.valid());
  int r = fcntl(p.r.get(), kFDupfdQuery, d.get());
  if (r == -1 && errno == EINVAL) GTEST_SKIP() << "the kernel has no F_DUPFD_QUERY";
  EXPECT_EQ(r, 1);
  EXPECT_THAT(fcntl(p.r.get(), kFDupfdQuery, p.w.get()), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(p.r.get(), kFDupfdQuery, -1), SyscallFailsWithErrno(EBADF));
}

TEST(FasyncOwner, OPathDescriptorIsEBADF) {
  TempDir dir;
  std::string path = dir.path() + "/f";
  FileDescriptor f(open(path.c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(f.valid());
  FileDescriptor o(open(path.c_str(), O_PATH));
  ASSERT_TRUE(o.valid());
  EXPECT_THAT(fcntl(o.get(), F_SETOWN, getpid()), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_GETOWN), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_SETSIG, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_GETSIG), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_NOTIFY, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_GETLEASE), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(o.get(), F_SETLEASE, F_UNLCK), SyscallFailsWithErrno(EBADF));
  // The commands O_PATH allows still work.
  EXPECT_THAT(fcntl(o.get(), F_GETFD), SyscallSucceeds());
  EXPECT_THAT(fcntl(o.get(), F_GETFL), SyscallSucceeds());
}

// ---- O_ASYNC ----

TEST(Fasync, PipeWriteSendsSigioToHandler) {
  // A handler counts the signals, as a program using SIGIO would.
  EXPECT_CHILD_SUCCEEDS([] {
    ResetHandlerState();
    struct sigaction sa = {};
    sa.sa_sigaction = InfoHandler;
    sa.sa_flags = SA_SIGINFO;
    CHILD_CHECK_SUCCESS(sigaction(SIGIO, &sa, nullptr));
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe2(fds, O_NONBLOCK));
    CHILD_CHECK_SUCCESS(fcntl(fds[0], F_SETOWN, getpid()));
    CHILD_CHECK_SUCCESS(fcntl(fds[0], F_SETFL, O_ASYNC | O_NONBLOCK));
    CHILD_CHECK((fcntl(fds[0], F_GETFL) & O_ASYNC) != 0);
    CHILD_CHECK(write(fds[1], "x", 1) == 1);
    // The signal is queued by the write itself: it is delivered before write returns.
    for (int i = 0; i < 200 && handler_count == 0; ++i) usleep(10000);
    CHILD_CHECK(handler_count == 1);
    CHILD_CHECK(last_signo == SIGIO);
    // Without F_SETSIG, SIGIO carries no detail: the kernel sent it.
    CHILD_CHECK(last_info.si_code == SI_KERNEL);
    CHILD_CHECK(write(fds[1], "y", 1) == 1);
    for (int i = 0; i < 200 && handler_count < 2; ++i) usleep(10000);
    CHILD_CHECK(handler_count == 2);
    // Turning O_ASYNC off stops the signals.
    CHILD_CHECK_SUCCESS(fcntl(fds[0], F_SETFL, O_NONBLOCK));
    CHILD_CHECK((fcntl(fds[0], F_GETFL) & O_ASYNC) == 0);
    CHILD_CHECK(write(fds[1], "z", 1) == 1);
    usleep(50000);
    CHILD_CHECK(handler_count == 2);
  });
}

TEST(Fasync, SetsigGivesSiginfo) {
  BlockSignals block({SIGIO, RtSig()});
  Pipe p;
  MakeAsync(p.r.get(), RtSig());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_signo, RtSig());
  EXPECT_EQ(info->si_code, POLL_IN);
  EXPECT_EQ(info->si_band, kPollIn);
  EXPECT_EQ(info->si_fd, p.r.get());
  // Real-time signals queue: one per write, even while the pipe is not empty.
  ASSERT_THAT(write(p.w.get(), "y", 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(write(p.w.get(), "z", 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(CountPending(RtSig()), 2);
  EXPECT_EQ(CountPending(SIGIO), 0);

  // The write end hears POLL_OUT when a read makes room.
  MakeAsync(p.w.get(), RtSig());
  char buf[8];
  ASSERT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_OUT);
  EXPECT_EQ(info->si_band, kPollOut);
  EXPECT_EQ(info->si_fd, p.w.get());
}

TEST(Fasync, SetsigSigioCarriesSiginfo) {
  BlockSignals block({SIGIO});
  Pipe p;
  MakeAsync(p.r.get(), SIGIO);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  std::optional<siginfo_t> info = TakeSignal(SIGIO);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_IN);
  EXPECT_EQ(info->si_band, kPollIn);
  EXPECT_EQ(info->si_fd, p.r.get());
}

TEST(Fasync, SiFdIsTheFdGivenToSetfl) {
  BlockSignals block({RtSig()});
  Pipe p;
  FileDescriptor d(dup(p.r.get()));
  ASSERT_TRUE(d.valid());
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  ASSERT_THAT(fcntl(d.get(), F_SETFL, O_ASYNC | O_NONBLOCK), SyscallSucceeds());
  // The flag is the description's: the original fd shows it too.
  EXPECT_NE(fcntl(p.r.get(), F_GETFL) & O_ASYNC, 0);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_fd, d.get());
}

TEST(Fasync, WriterCloseTellsReader) {
  BlockSignals block({RtSig()});
  Pipe p;
  MakeAsync(p.r.get(), RtSig());
  p.w.reset();
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_IN);
  EXPECT_EQ(info->si_fd, p.r.get());
}

TEST(Fasync, NoSignalWithoutOAsync) {
  BlockSignals block({SIGIO, RtSig()});
  Pipe p;
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
  // O_ASYNC without an owner sends nothing either.
  Pipe q;
  ASSERT_THAT(fcntl(q.r.get(), F_SETFL, O_ASYNC | O_NONBLOCK), SyscallSucceeds());
  ASSERT_THAT(write(q.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
}

TEST(Fasync, OAsyncAtOpenIsIgnored) {
  // Linux keeps O_ASYNC from open(2) in the flags but never registers for signals, and F_SETFL
  // only acts on a change of the flag.
  BlockSignals block({SIGIO});
  TempDir dir;
  std::string path = dir.path() + "/fifo";
  ASSERT_THAT(mkfifo(path.c_str(), 0600), SyscallSucceeds());
  FileDescriptor f(open(path.c_str(), O_RDWR | O_NONBLOCK | O_ASYNC));
  ASSERT_TRUE(f.valid());
  EXPECT_NE(fcntl(f.get(), F_GETFL) & O_ASYNC, 0);
  ASSERT_THAT(fcntl(f.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(write(f.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
  ASSERT_THAT(fcntl(f.get(), F_SETFL, O_ASYNC | O_NONBLOCK), SyscallSucceeds());
  ASSERT_THAT(write(f.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());

  // A FIFO whose O_ASYNC comes from F_SETFL signals.
  FileDescriptor g(open(path.c_str(), O_RDWR | O_NONBLOCK));
  ASSERT_TRUE(g.valid());
  MakeAsync(g.get());
  ASSERT_THAT(write(g.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(TakeSignal(SIGIO).has_value());
}

TEST(Fasync, EventfdHasNoAsyncSupport) {
  // eventfd has no fasync operation: F_SETFL accepts O_ASYNC but does not keep it, nothing is
  // ever sent, and FIOASYNC says ENOTTY.
  BlockSignals block({SIGIO});
  FileDescriptor e(eventfd(0, EFD_NONBLOCK));
  ASSERT_TRUE(e.valid());
  ASSERT_THAT(fcntl(e.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(fcntl(e.get(), F_SETFL, O_ASYNC | O_NONBLOCK), SyscallSucceeds());
  EXPECT_EQ(fcntl(e.get(), F_GETFL) & O_ASYNC, 0);
  uint64_t v = 1;
  ASSERT_THAT(write(e.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
  int on = 1;
  EXPECT_THAT(ioctl(e.get(), FIOASYNC, &on), SyscallFailsWithErrno(ENOTTY));
  on = 0;
  EXPECT_THAT(ioctl(e.get(), FIOASYNC, &on), SyscallSucceeds());
}

TEST(Fasync, FioasyncTurnsItOn) {
  BlockSignals block({SIGIO});
  Pipe p;
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  int on = 1;
  ASSERT_THAT(ioctl(p.r.get(), FIOASYNC, &on), SyscallSucceeds());
  EXPECT_NE(fcntl(p.r.get(), F_GETFL) & O_ASYNC, 0);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(TakeSignal(SIGIO).has_value());
  on = 0;
  ASSERT_THAT(ioctl(p.r.get(), FIOASYNC, &on), SyscallSucceeds());
  EXPECT_EQ(fcntl(p.r.get(), F_GETFL) & O_ASYNC, 0);
}

TEST(Fasync, InotifyInstanceSignals) {
  BlockSignals block({RtSig()});
  TempDir dir;
  FileDescriptor in(inotify_init1(IN_NONBLOCK));
  ASSERT_TRUE(in.valid());
  ASSERT_THAT(inotify_add_watch(in.get(), dir.path().c_str(), IN_CREATE), SyscallSucceeds());
  MakeAsync(in.get(), RtSig());
  FileDescriptor f(open((dir.path() + "/a").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(f.valid());
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_IN);
  EXPECT_EQ(info->si_fd, in.get());
}

TEST(Fasync, OwnerProcessGroup) {
  // The whole group hears it: a new group of this child and a grandchild.
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setpgid(0, 0));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe2(fds, O_NONBLOCK));
    int ready[2];
    CHILD_CHECK_SUCCESS(pipe(ready));
    pid_t gc = fork();
    if (gc == 0) {
      CHILD_CHECK(write(ready[1], "r", 1) == 1);
      struct timespec ts = {5, 0};
      _exit(sigtimedwait(&set, nullptr, &ts) == SIGIO ? 0 : 1);
    }
    CHILD_CHECK(gc > 0);
    char c;
    CHILD_CHECK(read(ready[0], &c, 1) == 1);
    CHILD_CHECK_SUCCESS(fcntl(fds[0], F_SETOWN, -getpgrp()));
    CHILD_CHECK(RawGetown(fds[0]) == -getpgrp());
    CHILD_CHECK_SUCCESS(fcntl(fds[0], F_SETFL, O_ASYNC | O_NONBLOCK));
    CHILD_CHECK(write(fds[1], "x", 1) == 1);
    struct timespec ts = {5, 0};
    CHILD_CHECK(sigtimedwait(&set, nullptr, &ts) == SIGIO);
    int status;
    CHILD_CHECK(waitpid(gc, &status, 0) == gc);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

TEST(Fasync, OwnerThread) {
  // F_OWNER_TID sends to that thread alone.
  BlockSignals block({RtSig()});
  Pipe p;
  std::atomic<pid_t> tid{0};
  std::atomic<bool> got{false};
  std::thread th([&] {
    tid = Gettid();
    got = TakeSignal(RtSig(), 5000).has_value();
  });
  while (tid.load() == 0) usleep(1000);
  struct f_owner_ex ex = {F_OWNER_TID, tid.load()};
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN_EX, &ex), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.r.get(), F_SETFL, O_ASYNC | O_NONBLOCK), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  th.join();
  EXPECT_TRUE(got.load());
  // The main thread saw nothing.
  EXPECT_FALSE(TakeSignal(RtSig(), 0).has_value());
}

TEST(Fasync, AfterForkTheOwnerHearsNotTheChild) {
  BlockSignals block({SIGIO});
  Pipe p;
  MakeAsync(p.r.get());
  const int w = p.w.get();
  pid_t child = ForkChild([w] {
    // The child shares the description, but the owner is the parent.
    CHILD_CHECK(write(w, "x", 1) == 1);
    usleep(100000);
    CHILD_CHECK(!IsPending(SIGIO));
  });
  ASSERT_GT(child, 0);
  EXPECT_TRUE(TakeSignal(SIGIO).has_value());
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST(Fasync, SenderCredentialsMustMatch) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change uid";
  // An owner set by an unprivileged process that may not signal its target gets nothing
  // (sigio_perm: the credentials recorded at F_SETOWN).
  BlockSignals block({SIGIO});
  Pipe p;
  MakeAsync(p.r.get());
  const int r = p.r.get();
  const pid_t parent = getpid();
  EXPECT_CHILD_SUCCEEDS([r, parent] {
    CHILD_CHECK_SUCCESS(setresuid(65534, 65534, 65534));
    CHILD_CHECK_SUCCESS(fcntl(r, F_SETOWN, parent));
  });
  EXPECT_THAT(fcntl(p.r.get(), F_GETOWN), SyscallSucceedsWithValue(getpid()));
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
  // Set again by root, it is sent.
  ASSERT_THAT(fcntl(p.r.get(), F_SETOWN, getpid()), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(TakeSignal(SIGIO).has_value());
}

// ---- dnotify ----

class Dnotify : public ::testing::Test {
 protected:
  void SetUp() override {
    d_.reset(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(d_.valid());
  }
  std::string Path(const char* name) const { return dir_.path() + "/" + name; }
  void Touch(const char* name) {
    FileDescriptor f(open(Path(name).c_str(), O_CREAT | O_RDWR, 0644));
    EXPECT_TRUE(f.valid()) << name << ": " << ErrnoString(errno);
  }

  TempDir dir_;
  FileDescriptor d_;
};

TEST_F(Dnotify, Errors) {
  Touch("f");
  FileDescriptor f(open(Path("f").c_str(), O_RDONLY));
  ASSERT_TRUE(f.valid());
  EXPECT_THAT(fcntl(f.get(), F_NOTIFY, DN_CREATE), SyscallFailsWithErrno(ENOTDIR));
  // Removal (no event bits) never looks at the file type.
  EXPECT_THAT(fcntl(f.get(), F_NOTIFY, 0), SyscallSucceeds());
  EXPECT_THAT(fcntl(f.get(), F_NOTIFY, static_cast<long>(DN_MULTISHOT)), SyscallSucceeds());
  EXPECT_THAT(fcntl(-1, F_NOTIFY, DN_CREATE), SyscallFailsWithErrno(EBADF));
  // Linux accepts bits it does not know (they simply never fire).
  EXPECT_THAT(fcntl(d_.get(), F_NOTIFY, 0x100), SyscallSucceeds());
  EXPECT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
}

TEST_F(Dnotify, SetsTheOwnerWhenThereIsNone) {
  EXPECT_THAT(fcntl(d_.get(), F_GETOWN), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_CREATE), SyscallSucceeds());
  EXPECT_THAT(fcntl(d_.get(), F_GETOWN), SyscallSucceedsWithValue(getpid()));
  // An owner that was set stays.
  FileDescriptor e(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(e.valid());
  ASSERT_THAT(fcntl(e.get(), F_SETOWN, -getpgrp()), SyscallSucceeds());
  ASSERT_THAT(fcntl(e.get(), F_NOTIFY, DN_CREATE), SyscallSucceeds());
  EXPECT_EQ(RawGetown(e.get()), -getpgrp());
  ASSERT_THAT(fcntl(e.get(), F_NOTIFY, 0), SyscallSucceeds());
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
}

TEST_F(Dnotify, CreateMultishotWithSetsig) {
  BlockSignals block({SIGIO, RtSig()});
  ASSERT_THAT(fcntl(d_.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  // The argument is a long: DN_MULTISHOT is its top bit, as Python's test_fcntl_64_bit passes.
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, static_cast<long>(DN_CREATE | DN_MULTISHOT)),
              SyscallSucceeds());
  Touch("a");
  Touch("b");
  ASSERT_THAT(mkdir(Path("c").c_str(), 0755), SyscallSucceeds());
  for (int i = 0; i < 3; ++i) {
    std::optional<siginfo_t> info = TakeSignal(RtSig());
    ASSERT_TRUE(info.has_value()) << "event " << i;
    EXPECT_EQ(info->si_signo, RtSig());
    EXPECT_EQ(info->si_code, POLL_MSG);
    EXPECT_EQ(info->si_band, kPollMsg);
    EXPECT_EQ(info->si_fd, d_.get());
  }
  EXPECT_EQ(CountPending(RtSig()), 0);
  // Only creations were asked for.
  ASSERT_THAT(unlink(Path("a").c_str()), SyscallSucceeds());
  EXPECT_EQ(CountPending(RtSig()), 0);
  EXPECT_EQ(CountPending(SIGIO), 0);
}

TEST_F(Dnotify, OneShotIsRemovedAfterTheFirstEvent) {
  BlockSignals block({SIGIO});
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_CREATE), SyscallSucceeds());
  Touch("a");
  std::optional<siginfo_t> info = TakeSignal(SIGIO);
  ASSERT_TRUE(info.has_value());
  // Plain SIGIO, without F_SETSIG.
  EXPECT_EQ(info->si_code, SI_KERNEL);
  Touch("b");
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
}

TEST_F(Dnotify, ArgZeroRemoves) {
  BlockSignals block({SIGIO});
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_CREATE | DN_MULTISHOT), SyscallSucceeds());
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
  Touch("a");
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
}

TEST_F(Dnotify, EventKinds) {
  BlockSignals block({RtSig()});
  Touch("f");
  ASSERT_THAT(fcntl(d_.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  auto expect = [&](long arg, const std::function<void()>& action, int n, const char* what) {
    ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
    ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, arg | DN_MULTISHOT), SyscallSucceeds());
    action();
    // The signals are queued by the syscall itself.
    EXPECT_EQ(CountPending(RtSig()), n) << what;
  };
  expect(DN_MODIFY, [&] {
    FileDescriptor f(open(Path("f").c_str(), O_WRONLY));
    ASSERT_THAT(write(f.get(), "abc", 3), SyscallSucceedsWithValue(3));
  }, 1, "write to a child");
  expect(DN_ACCESS, [&] {
    FileDescriptor f(open(Path("f").c_str(), O_RDONLY));
    char c;
    ASSERT_THAT(read(f.get(), &c, 1), SyscallSucceedsWithValue(1));
  }, 1, "read of a child");
  expect(DN_ATTRIB, [&] { ASSERT_THAT(chmod(Path("f").c_str(), 0600), SyscallSucceeds()); }, 1,
         "chmod of a child");
  expect(DN_ATTRIB, [&] { ASSERT_THAT(chmod(dir_.path().c_str(), 0755), SyscallSucceeds()); },
         1, "chmod of the directory itself");
  expect(DN_DELETE, [&] {
    Touch("g");
    ASSERT_THAT(unlink(Path("g").c_str()), SyscallSucceeds());
  }, 1, "unlink");
  // A rename within the directory is a rename, a delete and a create.
  expect(DN_RENAME, [&] {
    ASSERT_THAT(rename(Path("f").c_str(), Path("f2").c_str()), SyscallSucceeds());
  }, 1, "rename within");
  expect(DN_RENAME | DN_DELETE | DN_CREATE, [&] {
    ASSERT_THAT(rename(Path("f2").c_str(), Path("f").c_str()), SyscallSucceeds());
  }, 3, "rename within, every kind");
  // Opening and closing are not events dnotify reports.
  expect(DN_ACCESS | DN_MODIFY | DN_ATTRIB | DN_CREATE | DN_DELETE | DN_RENAME, [&] {
    FileDescriptor f(open(Path("f").c_str(), O_RDONLY));
  }, 0, "open and close");
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
}

TEST_F(Dnotify, RenameOutOfAndIntoTheDirectory) {
  BlockSignals block({RtSig()});
  TempDir other;
  Touch("f");
  ASSERT_THAT(fcntl(d_.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  // DN_RENAME is for renames inside the directory only.
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_RENAME | DN_MULTISHOT), SyscallSucceeds());
  std::string out = other.path() + "/f";
  ASSERT_THAT(rename(Path("f").c_str(), out.c_str()), SyscallSucceeds());
  EXPECT_EQ(CountPending(RtSig()), 0);
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_DELETE | DN_CREATE), SyscallSucceeds());
  ASSERT_THAT(rename(out.c_str(), Path("f").c_str()), SyscallSucceeds());
  EXPECT_EQ(CountPending(RtSig()), 1);
  ASSERT_THAT(rename(Path("f").c_str(), out.c_str()), SyscallSucceeds());
  EXPECT_EQ(CountPending(RtSig()), 1);
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
}

TEST_F(Dnotify, MasksAccumulateAndSiFdFollowsTheLastCall) {
  BlockSignals block({RtSig()});
  ASSERT_THAT(fcntl(d_.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_CREATE | DN_MULTISHOT), SyscallSucceeds());
  FileDescriptor dup_fd(dup(d_.get()));
  ASSERT_TRUE(dup_fd.valid());
  // The same description in the same process: one registration, whose fd is now the dup's.
  ASSERT_THAT(fcntl(dup_fd.get(), F_NOTIFY, DN_DELETE), SyscallSucceeds());
  Touch("a");
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_fd, dup_fd.get());
  ASSERT_THAT(unlink(Path("a").c_str()), SyscallSucceeds());
  EXPECT_EQ(CountPending(RtSig()), 1);
  // Closing any fd of the description in this process removes the registration.
  dup_fd.reset();
  Touch("b");
  EXPECT_EQ(CountPending(RtSig()), 0);
}

TEST_F(Dnotify, EventsByAChildGoToTheOwner) {
  BlockSignals block({RtSig()});
  ASSERT_THAT(fcntl(d_.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, DN_CREATE | DN_MULTISHOT), SyscallSucceeds());
  const int d = d_.get();
  std::string path = Path("fromchild");
  EXPECT_CHILD_SUCCEEDS([d, path] {
    // The child's copy of the fd closing does not remove the parent's registration.
    CHILD_CHECK_SUCCESS(close(d));
    int f = open(path.c_str(), O_CREAT | O_RDWR, 0644);
    CHILD_CHECK(f >= 0);
    CHILD_CHECK(!IsPending(SIGRTMIN + 1));
  });
  std::optional<siginfo_t> info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_fd, d_.get());
  ASSERT_THAT(fcntl(d_.get(), F_NOTIFY, 0), SyscallSucceeds());
}

// ---- Leases ----

class Lease : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/f";
    FileDescriptor f(open(path_.c_str(), O_CREAT | O_RDWR, 0644));
    ASSERT_TRUE(f.valid());
  }
  FileDescriptor Open(int flags) const {
    FileDescriptor f(open(path_.c_str(), flags));
    EXPECT_TRUE(f.valid()) << ErrnoString(errno);
    return f;
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(Lease, SetAndGet) {
  FileDescriptor f = Open(O_RDONLY);
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
  // No lease to remove.
  EXPECT_THAT(fcntl(f.get(), F_SETLEASE, F_UNLCK), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(fcntl(f.get(), F_SETLEASE, 7), SyscallFailsWithErrno(EINVAL));

  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_RDLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_RDLCK));
  // Taking a lease makes the caller the owner, for the break notification.
  EXPECT_THAT(fcntl(f.get(), F_GETOWN), SyscallSucceedsWithValue(getpid()));
  // The only opener may upgrade.
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_WRLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_WRLCK));
  // A dup is the same description: it sees the lease.
  FileDescriptor d(dup(f.get()));
  EXPECT_THAT(fcntl(d.get(), F_GETLEASE), SyscallSucceedsWithValue(F_WRLCK));
  ASSERT_THAT(fcntl(f.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  // Removing the lease also forgets the owner and the signal (lease_modify).
  ASSERT_THAT(fcntl(d.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
  EXPECT_THAT(fcntl(f.get(), F_GETOWN), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(f.get(), F_GETSIG), SyscallSucceedsWithValue(0));
}

TEST_F(Lease, OnlyRegularFiles) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  EXPECT_THAT(fcntl(r.get(), F_SETLEASE, F_RDLCK), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(r.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
  FileDescriptor d(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(fcntl(d.get(), F_SETLEASE, F_RDLCK), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(d.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
}

TEST_F(Lease, ConflictingOpensGiveEAGAIN) {
  FileDescriptor a = Open(O_RDONLY);
  FileDescriptor b = Open(O_RDONLY);
  // Another reader: no write lease, but read leases for both.
  EXPECT_THAT(fcntl(a.get(), F_SETLEASE, F_WRLCK), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(fcntl(a.get(), F_SETLEASE, F_RDLCK), SyscallSucceeds());
  ASSERT_THAT(fcntl(b.get(), F_SETLEASE, F_RDLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(b.get(), F_SETLEASE, F_WRLCK), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(fcntl(a.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  ASSERT_THAT(fcntl(b.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  b.reset();

  // Anyone open for writing, the caller included, rules out a read lease.
  FileDescriptor w = Open(O_RDWR);
  EXPECT_THAT(fcntl(a.get(), F_SETLEASE, F_RDLCK), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(fcntl(w.get(), F_SETLEASE, F_RDLCK), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(fcntl(w.get(), F_SETLEASE, F_WRLCK), SyscallFailsWithErrno(EAGAIN));
  a.reset();
  // The sole opener, open for writing, may take a write lease.
  ASSERT_THAT(fcntl(w.get(), F_SETLEASE, F_WRLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(w.get(), F_GETLEASE), SyscallSucceedsWithValue(F_WRLCK));
  ASSERT_THAT(fcntl(w.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
}

TEST_F(Lease, NotOwnerIsEACCES) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change uid";
  ASSERT_THAT(chmod(path_.c_str(), 0644), SyscallSucceeds());
  ASSERT_THAT(chmod(dir_.path().c_str(), 0755), SyscallSucceeds());
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([path] {
    CHILD_CHECK_SUCCESS(setresuid(65534, 65534, 65534));
    int f = open(path.c_str(), O_RDONLY);
    CHILD_CHECK(f >= 0);
    CHILD_CHECK_ERRNO(fcntl(f, F_SETLEASE, F_RDLCK), EACCES);
    CHILD_CHECK_ERRNO(fcntl(f, F_SETLEASE, F_UNLCK), EACCES);
  });
}

TEST_F(Lease, BreakNotifiesTheHolder) {
  BlockSignals block({SIGIO, RtSig()});
  FileDescriptor f = Open(O_RDONLY);
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_WRLCK), SyscallSucceeds());
  // A reader that must not wait fails, but starts the break: the holder hears SIGIO.
  EXPECT_THAT(open(path_.c_str(), O_RDONLY | O_NONBLOCK), SyscallFailsWithErrno(EWOULDBLOCK));
  std::optional<siginfo_t> info = TakeSignal(SIGIO);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, SI_KERNEL);
  // The lease reads as what it must become.
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_RDLCK));
  // Until then, readers still may not open it; a break in progress is not announced again.
  EXPECT_THAT(open(path_.c_str(), O_RDONLY | O_NONBLOCK), SyscallFailsWithErrno(EWOULDBLOCK));
  EXPECT_FALSE(TakeSignal(SIGIO, 100).has_value());
  // Downgraded, it lets readers in.
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_RDLCK), SyscallSucceeds());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_RDLCK));
  FileDescriptor r(open(path_.c_str(), O_RDONLY | O_NONBLOCK));
  EXPECT_TRUE(r.valid()) << ErrnoString(errno);
  r.reset();

  // A writer breaks a read lease; F_SETSIG gives the details.
  ASSERT_THAT(fcntl(f.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  EXPECT_THAT(open(path_.c_str(), O_WRONLY | O_NONBLOCK), SyscallFailsWithErrno(EWOULDBLOCK));
  info = TakeSignal(RtSig());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_MSG);
  EXPECT_EQ(info->si_band, kPollMsg);
  EXPECT_EQ(info->si_fd, f.get());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  FileDescriptor w(open(path_.c_str(), O_WRONLY | O_NONBLOCK));
  EXPECT_TRUE(w.valid()) << ErrnoString(errno);
}

TEST_F(Lease, BlockedOpenWaitsForTheHolder) {
  BlockSignals block({RtSig()});
  FileDescriptor f = Open(O_RDONLY);
  ASSERT_THAT(fcntl(f.get(), F_SETSIG, RtSig()), SyscallSucceeds());
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_WRLCK), SyscallSucceeds());
  std::string path = path_;
  pid_t child = ForkChild([path] {
    // Blocks until the holder gives the lease up.
    int w = open(path.c_str(), O_WRONLY);
    CHILD_CHECK(w >= 0);
  });
  ASSERT_GT(child, 0);
  std::optional<siginfo_t> info = TakeSignal(RtSig(), 5000);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->si_code, POLL_MSG);
  EXPECT_EQ(info->si_fd, f.get());
  EXPECT_THAT(fcntl(f.get(), F_GETLEASE), SyscallSucceedsWithValue(F_UNLCK));
  // The child is still waiting.
  usleep(100000);
  int status;
  EXPECT_THAT(waitpid(child, &status, WNOHANG), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST_F(Lease, TruncateBreaksAReadLease) {
  BlockSignals block({SIGIO});
  FileDescriptor f = Open(O_RDONLY);
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_RDLCK), SyscallSucceeds());
  std::string path = path_;
  pid_t child = ForkChild([path] { CHILD_CHECK_SUCCESS(truncate(path.c_str(), 0)); });
  ASSERT_GT(child, 0);
  EXPECT_TRUE(TakeSignal(SIGIO, 5000).has_value());
  usleep(100000);
  int status;
  EXPECT_THAT(waitpid(child, &status, WNOHANG), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_UNLCK), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST_F(Lease, CloseReleasesTheLease) {
  FileDescriptor f = Open(O_RDONLY);
  ASSERT_THAT(fcntl(f.get(), F_SETLEASE, F_WRLCK), SyscallSucceeds());
  f.reset();
  FileDescriptor w(open(path_.c_str(), O_WRONLY | O_NONBLOCK));
  EXPECT_TRUE(w.valid()) << ErrnoString(errno);
}

}  // namespace
}  // namespace moat::testing
