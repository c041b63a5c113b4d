// Conformance tests for the event files other than epoll: eventfd (counter and semaphore modes,
// sizes, overflow, blocking), timerfd (clocks, relative and absolute settings, intervals and
// expiration counts) and signalfd (masks, the records read, readiness), with threads, fork and
// signals interrupting their waits.

#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

short PollEvents(int fd, short events) {
  pollfd pfd{fd, events, 0};
  int n = poll(&pfd, 1, 0);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? pfd.revents : 0;
}

volatile sig_atomic_t g_signals = 0;
void CountSignal(int) { g_signals = g_signals + 1; }


// Blocks `sigs` for the scope and drops any instance left pending at the end.
class ScopedBlock {
 public:
  explicit ScopedBlock(std::initializer_list<int> sigs) {
    sigemptyset(&set_);
    for (int s : sigs) sigaddset(&set_, s);
    EXPECT_THAT(sigprocmask(SIG_BLOCK, &set_, &old_), SyscallSucceeds());
  }
  ~ScopedBlock() {
    timespec zero{0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  const sigset_t& set() const { return set_; }

 private:
  sigset_t set_, old_;
};

uint64_t ReadU64(int fd) {
  uint64_t v = 0;
  EXPECT_THAT(read(fd, &v, sizeof(v)), SyscallSucceedsWithValue(8));
  return v;
}

void WriteU64(int fd, uint64_t v) {
  EXPECT_THAT(write(fd, &v, sizeof(v)), SyscallSucceedsWithValue(8));
}

// ======================= eventfd =======================

TEST(EventfdTest, InitialValueAndFlags) {
  EXPECT_THAT(eventfd(0, 0x1000), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(eventfd(0, O_RDWR), SyscallFailsWithErrno(EINVAL));
  FileDescriptor fd(eventfd(42, EFD_NONBLOCK | EFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(fcntl(fd.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR | O_NONBLOCK));
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_EQ(ReadU64(fd.get()), 42u);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
  // The old eventfd(2) takes no flags.
  FileDescriptor old_fd(syscall(SYS_eventfd, 7));
  ASSERT_TRUE(old_fd.valid());
  EXPECT_THAT(fcntl(old_fd.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR));
  EXPECT_EQ(ReadU64(old_fd.get()), 7u);
}

TEST(EventfdTest, Stat) {
  FileDescriptor fd(eventfd(0, 0));
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, 0600u);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_nlink, 1u);
  // Every anonymous file shares the one inode.
  FileDescriptor other(eventfd(0, 0));
  struct stat st2;
  ASSERT_THAT(fstat(other.get(), &st2), SyscallSucceeds());
  EXPECT_EQ(st.st_ino, st2.st_ino);
  EXPECT_EQ(st.st_dev, st2.st_dev);
  EXPECT_THAT(fchmod(fd.get(), 0644), SyscallFailsWithErrno(EOPNOTSUPP));
  struct statfs sfs;
  ASSERT_THAT(fstatfs(fd.get(), &sfs), SyscallSucceeds());
  EXPECT_EQ(sfs.f_type, ANON_INODE_FS_MAGIC);
}

TEST(EventfdTest, SizesMustHoldEightBytes) {
  FileDescriptor fd(eventfd(3, EFD_NONBLOCK));
  char buf[16] = {};
  EXPECT_THAT(read(fd.get(), buf, 7), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(fd.get(), buf, 7), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(read(fd.get(), buf, 0), SyscallFailsWithErrno(EINVAL));
  // A write takes exactly eight bytes; a read takes a bigger buffer and fills eight.
  uint64_t v[2] = {5, 99};
  EXPECT_THAT(write(fd.get(), v, sizeof(v)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(fd.get(), v, 9), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(fd.get(), v, 8), SyscallSucceedsWithValue(8));
  uint64_t out[2] = {0, 0};
  EXPECT_THAT(read(fd.get(), out, sizeof(out)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(out[0], 8u);
  EXPECT_EQ(out[1], 0u);
}

TEST(EventfdTest, CounterAddsAndResets) {
  FileDescriptor fd(eventfd(0, EFD_NONBLOCK));
  WriteU64(fd.get(), 1);
  WriteU64(fd.get(), 2);
  WriteU64(fd.get(), 0);  // a write of zero is allowed and changes nothing
  EXPECT_EQ(ReadU64(fd.get()), 3u);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
}

TEST(EventfdTest, Semaphore) {
  FileDescriptor fd(eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK));
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  WriteU64(fd.get(), 2);
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
}

TEST(EventfdTest, Overflow) {
  FileDescriptor fd(eventfd(0, EFD_NONBLOCK));
  uint64_t max = UINT64_MAX;
  EXPECT_THAT(write(fd.get(), &max, 8), SyscallFailsWithErrno(EINVAL));
  WriteU64(fd.get(), UINT64_MAX - 1);
  uint64_t one = 1;
  EXPECT_THAT(write(fd.get(), &one, 8), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollEvents(fd.get(), POLLIN | POLLOUT), POLLIN);
  EXPECT_EQ(ReadU64(fd.get()), UINT64_MAX - 1);
  EXPECT_EQ(PollEvents(fd.get(), POLLIN | POLLOUT), POLLOUT);
}

TEST(EventfdTest, BadBuffers) {
  FileDescriptor fd(eventfd(5, EFD_NONBLOCK));
  void* bad = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(bad, MAP_FAILED);
  EXPECT_THAT(write(fd.get(), bad, 8), SyscallFailsWithErrno(EFAULT));
  // The value is taken before it is copied out, as in Linux: it is lost.
  EXPECT_THAT(read(fd.get(), bad, 8), SyscallFailsWithErrno(EFAULT));
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
  munmap(bad, 4096);
}

TEST(EventfdTest, BlockingReadWokenByThread) {
  FileDescriptor fd(eventfd(0, 0));
  std::thread writer([&] {
    usleep(50 * 1000);
    WriteU64(fd.get(), 9);
  });
  int64_t start = NowMs();
  EXPECT_EQ(ReadU64(fd.get()), 9u);
  EXPECT_GE(NowMs() - start, 40);
  writer.join();
}

TEST(EventfdTest, BlockingWriteWokenByRead) {
  FileDescriptor fd(eventfd(0, 0));
  WriteU64(fd.get(), UINT64_MAX - 1);
  std::thread reader([&] {
    usleep(50 * 1000);
    EXPECT_EQ(ReadU64(fd.get()), UINT64_MAX - 1);
  });
  WriteU64(fd.get(), 4);
  reader.join();
  EXPECT_EQ(ReadU64(fd.get()), 4u);
}

TEST(EventfdTest, ReadInterruptedBySignal) {
  ScopedSigaction h(SIGALRM, MakeSigaction(CountSignal));
  FileDescriptor fd(eventfd(0, 0));
  g_signals = 0;
  ArmAlarmMs(50);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
}

TEST(EventfdTest, ReadRestartsWithSaRestart) {
  ScopedSigaction h(SIGALRM, MakeSigaction(CountSignal, SA_RESTART));
  FileDescriptor fd(eventfd(0, 0));
  g_signals = 0;
  std::thread writer([&] {
    usleep(200 * 1000);
    WriteU64(fd.get(), 6);
  });
  ArmAlarmMs(30);
  EXPECT_EQ(ReadU64(fd.get()), 6u);
  EXPECT_EQ(g_signals, 1);
  writer.join();
}

TEST(EventfdTest, SharedAcrossFork) {
  FileDescriptor fd(eventfd(0, 0));
  pid_t pid = ForkChild([&] {
    uint64_t v = 11;
    CHILD_CHECK(write(fd.get(), &v, 8) == 8);
  });
  EXPECT_EQ(ReadU64(fd.get()), 11u);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

// ======================= timerfd =======================

itimerspec Spec(int64_t value_ns, int64_t interval_ns = 0) {
  itimerspec its{};
  its.it_value = {static_cast<time_t>(value_ns / 1000000000),
                  static_cast<long>(value_ns % 1000000000)};
  its.it_interval = {static_cast<time_t>(interval_ns / 1000000000),
                     static_cast<long>(interval_ns % 1000000000)};
  return its;
}

int64_t Ns(const timespec& ts) { return ts.tv_sec * 1000000000LL + ts.tv_nsec; }

TEST(TimerfdTest, CreateArguments) {
  EXPECT_THAT(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(CLOCK_MONOTONIC_RAW, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(-1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(CLOCK_MONOTONIC, 0x1000), SyscallFailsWithErrno(EINVAL));
  for (clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME}) {
    FileDescriptor fd(timerfd_create(c, TFD_NONBLOCK | TFD_CLOEXEC));
    ASSERT_TRUE(fd.valid()) << c << ": " << ErrnoString(errno);
    EXPECT_THAT(fcntl(fd.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR | O_NONBLOCK));
    EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  }
}

TEST(TimerfdTest, DisarmedAtFirst) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  itimerspec cur;
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(Ns(cur.it_value), 0);
  EXPECT_EQ(Ns(cur.it_interval), 0);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollEvents(fd.get(), POLLIN | POLLOUT), 0);
  char small[4];
  EXPECT_THAT(read(fd.get(), small, 4), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(fd.get(), &v, 8), SyscallFailsWithErrno(EINVAL));
}

TEST(TimerfdTest, SettimeArguments) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  FileDescriptor efd(eventfd(0, 0));
  itimerspec its = Spec(1000000);
  EXPECT_THAT(timerfd_settime(fd.get(), 0x10, &its, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_settime(efd.get(), 0, &its, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_settime(-1, 0, &its, nullptr), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(timerfd_settime(fd.get(), 0, nullptr, nullptr), SyscallFailsWithErrno(EFAULT));
  itimerspec bad = its;
  bad.it_value.tv_nsec = 1000000000;
  EXPECT_THAT(timerfd_settime(fd.get(), 0, &bad, nullptr), SyscallFailsWithErrno(EINVAL));
  bad = its;
  bad.it_interval.tv_sec = -1;
  EXPECT_THAT(timerfd_settime(fd.get(), 0, &bad, nullptr), SyscallFailsWithErrno(EINVAL));
  itimerspec cur;
  EXPECT_THAT(timerfd_gettime(efd.get(), &cur), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_gettime(-1, &cur), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(timerfd_gettime(fd.get(), nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(TimerfdTest, OneShotExpiresOnce) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  itimerspec its = Spec(50 * 1000000);
  int64_t start = NowMs();
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  EXPECT_GE(NowMs() - start, 45);
  itimerspec cur;
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(Ns(cur.it_value), 0);
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), 0);
}

TEST(TimerfdTest, IntervalCountsExpirations) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  itimerspec its = Spec(10 * 1000000, 10 * 1000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  usleep(105 * 1000);
  EXPECT_EQ(PollEvents(fd.get(), POLLIN | POLLRDNORM), POLLIN);
  uint64_t n = ReadU64(fd.get());
  EXPECT_GE(n, 5u);
  EXPECT_LE(n, 12u);
  itimerspec cur;
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(Ns(cur.it_interval), 10 * 1000000);
  EXPECT_GT(Ns(cur.it_value), 0);
  EXPECT_LE(Ns(cur.it_value), 10 * 1000000);
}

TEST(TimerfdTest, GettimeAndOldValue) {
  FileDescriptor fd(timerfd_create(CLOCK_BOOTTIME, 0));
  itimerspec its = Spec(10LL * 1000000000, 3LL * 1000000000);
  itimerspec old;
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, &old), SyscallSucceeds());
  EXPECT_EQ(Ns(old.it_value), 0);
  EXPECT_EQ(Ns(old.it_interval), 0);
  itimerspec cur;
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_GT(Ns(cur.it_value), 9LL * 1000000000);
  EXPECT_LE(Ns(cur.it_value), 10LL * 1000000000);
  EXPECT_EQ(Ns(cur.it_interval), 3LL * 1000000000);
  // Disarming returns the setting it replaces.
  itimerspec zero{};
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &zero, &old), SyscallSucceeds());
  EXPECT_GT(Ns(old.it_value), 9LL * 1000000000);
  EXPECT_EQ(Ns(old.it_interval), 3LL * 1000000000);
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(Ns(cur.it_value), 0);
  EXPECT_EQ(Ns(cur.it_interval), 0);
}

TEST(TimerfdTest, AbsoluteTime) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  itimerspec its = Spec(Ns(now) + 50 * 1000000);
  int64_t start = NowMs();
  ASSERT_THAT(timerfd_settime(fd.get(), TFD_TIMER_ABSTIME, &its, nullptr), SyscallSucceeds());
  EXPECT_EQ(ReadU64(fd.get()), 1u);
  EXPECT_GE(NowMs() - start, 40);
}

TEST(TimerfdTest, AbsoluteTimeInThePastCountsMissedIntervals) {
  FileDescriptor fd(timerfd_create(CLOCK_REALTIME, 0));
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  itimerspec its = Spec(Ns(now) - 1000LL * 1000000, 100 * 1000000);
  ASSERT_THAT(timerfd_settime(fd.get(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr),
              SyscallSucceeds());
  uint64_t n = ReadU64(fd.get());
  EXPECT_GE(n, 10u);
  EXPECT_LE(n, 13u);
}

TEST(TimerfdTest, SettingResetsTheCount) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  itimerspec its = Spec(1000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  usleep(20 * 1000);
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), POLLIN);
  its = Spec(10LL * 1000000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), 0);
}

TEST(TimerfdTest, ReadInterruptedBySignal) {
  ScopedSigaction h(SIGALRM, MakeSigaction(CountSignal));
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  itimerspec its = Spec(10LL * 1000000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  g_signals = 0;
  ArmAlarmMs(50);
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, 8), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
}

TEST(TimerfdTest, BlockedPollWokenByExpiry) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  std::atomic<int> r{-2};
  std::thread poller([&] {
    pollfd pfd{fd.get(), POLLIN, 0};
    r = poll(&pfd, 1, 5000);
  });
  usleep(20 * 1000);
  itimerspec its = Spec(30 * 1000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &its, nullptr), SyscallSucceeds());
  poller.join();
  EXPECT_EQ(r.load(), 1);
}

// ======================= signalfd =======================

TEST(SignalfdTest, Arguments) {
  sigset_t mask;
  sigemptyset(&mask);
  EXPECT_THAT(signalfd(-1, &mask, 0x1000), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_signalfd4, -1, &mask, 4, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_signalfd4, -1, nullptr, 8, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_signalfd, -1, &mask, 16), SyscallFailsWithErrno(EINVAL));
  FileDescriptor efd(eventfd(0, 0));
  EXPECT_THAT(signalfd(efd.get(), &mask, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(signalfd(1000, &mask, 0), SyscallFailsWithErrno(EBADF));
  FileDescriptor fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(fcntl(fd.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR | O_NONBLOCK));
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  // Updating returns the same fd; SIGKILL and SIGSTOP in the mask are ignored.
  sigfillset(&mask);
  EXPECT_THAT(signalfd(fd.get(), &mask, 0), SyscallSucceedsWithValue(fd.get()));
  signalfd_siginfo si;
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(read(fd.get(), &si, sizeof(si) - 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EINVAL));
}

TEST(SignalfdTest, ReadsAPendingSignal) {
  ScopedBlock block({SIGUSR1});
  FileDescriptor fd(signalfd(-1, &block.set(), SFD_NONBLOCK));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), 0);
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(PollEvents(fd.get(), POLLIN | POLLRDNORM | POLLOUT), POLLIN);
  signalfd_siginfo si;
  ASSERT_THAT(read(fd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGUSR1));
  EXPECT_EQ(si.ssi_code, SI_USER);
  EXPECT_EQ(si.ssi_pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(si.ssi_uid, getuid());
  // Taken: no longer pending.
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGUSR1));
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EAGAIN));
}

TEST(SignalfdTest, OnlySignalsInTheMask) {
  ScopedBlock block({SIGUSR1, SIGUSR2});
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR2);
  FileDescriptor fd(signalfd(-1, &mask, SFD_NONBLOCK));
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), 0);
  signalfd_siginfo si;
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EAGAIN));
  // A new mask takes effect at once.
  sigaddset(&mask, SIGUSR1);
  ASSERT_THAT(signalfd(fd.get(), &mask, 0), SyscallSucceedsWithValue(fd.get()));
  EXPECT_EQ(PollEvents(fd.get(), POLLIN), POLLIN);
  ASSERT_THAT(read(fd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGUSR1));
}

TEST(SignalfdTest, SeveralRecordsInOneRead) {
  ScopedBlock block({SIGUSR1, SIGUSR2, SIGRTMIN});
  FileDescriptor fd(signalfd(-1, &block.set(), SFD_NONBLOCK));
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  sigval val;
  val.sival_int = 1234;
  ASSERT_THAT(sigqueue(getpid(), SIGRTMIN, val), SyscallSucceeds());
  val.sival_int = 5678;
  ASSERT_THAT(sigqueue(getpid(), SIGRTMIN, val), SyscallSucceeds());
  signalfd_siginfo si[8];
  // The lowest signal first, real-time signals queued in order.
  ASSERT_THAT(read(fd.get(), si, sizeof(si)), SyscallSucceedsWithValue(4 * sizeof(si[0])));
  EXPECT_EQ(si[0].ssi_signo, static_cast<uint32_t>(SIGUSR1));
  EXPECT_EQ(si[1].ssi_signo, static_cast<uint32_t>(SIGUSR2));
  EXPECT_EQ(si[2].ssi_signo, static_cast<uint32_t>(SIGRTMIN));
  EXPECT_EQ(si[2].ssi_code, SI_QUEUE);
  EXPECT_EQ(si[2].ssi_int, 1234);
  EXPECT_EQ(si[2].ssi_pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(si[3].ssi_int, 5678);
  // A buffer with room for one record and a half reads one.
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  ASSERT_THAT(read(fd.get(), si, sizeof(si[0]) * 3 / 2), SyscallSucceedsWithValue(sizeof(si[0])));
  ASSERT_THAT(read(fd.get(), si, sizeof(si[0])), SyscallSucceedsWithValue(sizeof(si[0])));
  EXPECT_EQ(si[0].ssi_signo, static_cast<uint32_t>(SIGUSR2));
}

TEST(SignalfdTest, ThreadSignalsAreTheReadersOwn) {
  ScopedBlock block({SIGUSR1});
  FileDescriptor fd(signalfd(-1, &block.set(), SFD_NONBLOCK));
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1), SyscallSucceeds());
  // Another thread does not see this thread's signal.
  std::atomic<int> other{-2};
  std::thread t([&] {
    signalfd_siginfo si;
    other = read(fd.get(), &si, sizeof(si)) < 0 ? errno : 0;
  });
  t.join();
  EXPECT_EQ(other.load(), EAGAIN);
  signalfd_siginfo si;
  ASSERT_THAT(read(fd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_code, SI_TKILL);
}

TEST(SignalfdTest, BlockingReadWokenBySignalFromAnotherThread) {
  ScopedBlock block({SIGUSR1});  // before the thread exists, so that it inherits the mask
  FileDescriptor fd(signalfd(-1, &block.set(), 0));
  std::thread sender([] {
    usleep(50 * 1000);
    kill(getpid(), SIGUSR1);
  });
  signalfd_siginfo si;
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGUSR1));
  sender.join();
}

TEST(SignalfdTest, BlockedPollWokenBySignal) {
  ScopedBlock block({SIGUSR2});
  FileDescriptor fd(signalfd(-1, &block.set(), 0));
  std::thread sender([] {
    usleep(50 * 1000);
    kill(getpid(), SIGUSR2);
  });
  pollfd pfd{fd.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  sender.join();
}

TEST(SignalfdTest, ReadInterruptedByOtherSignal) {
  ScopedSigaction h(SIGALRM, MakeSigaction(CountSignal));
  ScopedBlock block({SIGUSR1});
  FileDescriptor fd(signalfd(-1, &block.set(), 0));
  g_signals = 0;
  ArmAlarmMs(50);
  signalfd_siginfo si;
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(g_signals, 1);
}

TEST(SignalfdTest, UnblockedSignalIsTakenByTheRead) {
  // The file takes a signal in its mask even when the thread does not block it, if the read
  // gets there before delivery: a read that is waiting dequeues it.
  ScopedSigaction h(SIGUSR1, MakeSigaction(CountSignal));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  FileDescriptor fd(signalfd(-1, &mask, 0));
  ScopedBlock block({SIGUSR2});  // the sender thread must not be the one to take SIGUSR1
  g_signals = 0;
  std::thread sender([] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    usleep(50 * 1000);
    kill(getpid(), SIGUSR1);
  });
  signalfd_siginfo si;
  ssize_t n = read(fd.get(), &si, sizeof(si));
  sender.join();
  if (n == sizeof(si)) {
    EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGUSR1));
    EXPECT_EQ(g_signals, 0);
  } else {
    // Delivery won the race: the handler ran and the read was interrupted.
    EXPECT_EQ(n, -1);
    EXPECT_EQ(errno, EINTR);
    EXPECT_EQ(g_signals, 1);
  }
}

TEST(SignalfdTest, InheritedAcrossForkReadsTheChildsSignals) {
  ScopedBlock block({SIGUSR1});
  FileDescriptor fd(signalfd(-1, &block.set(), SFD_NONBLOCK));
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    char c;
    CHILD_CHECK(read(pipefd[0], &c, 1) == 1);
    signalfd_siginfo si;
    CHILD_CHECK(read(fd.get(), &si, sizeof(si)) == sizeof(si));
    CHILD_CHECK(si.ssi_signo == SIGUSR1);
    CHILD_CHECK(si.ssi_pid == static_cast<uint32_t>(getppid()));
  });
  ASSERT_THAT(kill(pid, SIGUSR1), SyscallSucceeds());
  ASSERT_THAT(write(pipefd[1], "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // The parent has nothing pending.
  signalfd_siginfo si;
  EXPECT_THAT(read(fd.get(), &si, sizeof(si)), SyscallFailsWithErrno(EAGAIN));
  close(pipefd[0]);
  close(pipefd[1]);
}

TEST(SignalfdTest, ChildExitRecord) {
  ScopedBlock block({SIGCHLD});
  FileDescriptor fd(signalfd(-1, &block.set(), 0));
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  ASSERT_GT(pid, 0);
  signalfd_siginfo si;
  ASSERT_THAT(read(fd.get(), &si, sizeof(si)), SyscallSucceedsWithValue(sizeof(si)));
  EXPECT_EQ(si.ssi_signo, static_cast<uint32_t>(SIGCHLD));
  EXPECT_EQ(si.ssi_code, CLD_EXITED);
  EXPECT_EQ(si.ssi_pid, static_cast<uint32_t>(pid));
  EXPECT_EQ(si.ssi_status, 7);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(7));
}

}  // namespace
}  // namespace moat::testing
