// Conformance tests for clocks, sleeps, interval timers and POSIX timers.
//
// Lower bounds on elapsed time are exact (a sleep never ends early); upper
// bounds are deliberately generous, because the sandbox adds latency and the
// machine may be busy.

#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;
// The most any wait in these tests may overshoot before we call it broken.
constexpr int64_t kSlack = 2 * kSec;

volatile sig_atomic_t signal_count = 0;

void CountSignal(int) { signal_count = signal_count + 1; }

// ---------------------------------------------------------------------------
// Clocks

class ClockTest : public ::testing::TestWithParam<clockid_t> {};

TEST_P(ClockTest, ValuesAreNormalisedAndNonDecreasing) {
  struct timespec prev = {};
  ASSERT_THAT(clock_gettime(GetParam(), &prev), SyscallSucceeds());
  for (int i = 0; i < 1000; i++) {
    struct timespec now = {};
    ASSERT_THAT(clock_gettime(GetParam(), &now), SyscallSucceeds());
    ASSERT_GE(now.tv_nsec, 0);
    ASSERT_LT(now.tv_nsec, 1000000000);
    ASSERT_GE(TimespecToNs(now), TimespecToNs(prev)) << "clock went backwards at read " << i;
    prev = now;
  }
}

TEST_P(ClockTest, ResolutionIsPositiveAndFine) {
  struct timespec res = {};
  ASSERT_THAT(clock_getres(GetParam(), &res), SyscallSucceeds());
  EXPECT_EQ(res.tv_sec, 0);
  EXPECT_GT(res.tv_nsec, 0);
  // Even coarse clocks tick at least every 10 ms (HZ >= 100).
  EXPECT_LE(res.tv_nsec, 10 * kMs);
  EXPECT_THAT(clock_getres(GetParam(), nullptr), SyscallSucceeds());
}

// CLOCK_REALTIME is left out of the monotonicity check because a time
// daemon may legitimately step it backwards.
INSTANTIATE_TEST_SUITE_P(MonotonicClocks, ClockTest,
                         ::testing::Values(CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
                                           CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
                                           CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID));

TEST(ClockGettimeTest, RealtimeIsPlausible) {
  struct timespec ts = {};
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME, &ts), SyscallSucceeds());
  // After 2020-01-01 and normalised.
  EXPECT_GT(ts.tv_sec, 1577836800);
  EXPECT_GE(ts.tv_nsec, 0);
  EXPECT_LT(ts.tv_nsec, 1000000000);
  struct timespec coarse = {};
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME_COARSE, &coarse), SyscallSucceeds());
  EXPECT_LT(std::abs(TimespecToNs(coarse) - TimespecToNs(ts)), kSec);
}

TEST(ClockGettimeTest, BoottimeIncludesMonotonic) {
  int64_t mono = NowNs(CLOCK_MONOTONIC);
  int64_t boot = NowNs(CLOCK_BOOTTIME);
  EXPECT_GE(boot, mono);
}

TEST(ClockGettimeTest, CpuClocksAdvanceWithWork) {
  EXPECT_GE(SpinOnClock(CLOCK_PROCESS_CPUTIME_ID, 20 * kMs), 20 * kMs);
  EXPECT_GE(SpinOnClock(CLOCK_THREAD_CPUTIME_ID, 20 * kMs), 20 * kMs);
}

TEST(ClockGettimeTest, CpuClockDoesNotAdvanceWhileSleeping) {
  const int64_t before = NowNs(CLOCK_THREAD_CPUTIME_ID);
  SleepMs(100);
  // Sleeping costs a little CPU for the system calls, far less than it lasts.
  EXPECT_LT(NowNs(CLOCK_THREAD_CPUTIME_ID) - before, 50 * kMs);
}

TEST(ClockGettimeTest, InvalidClockIsEinval) {
  struct timespec ts;
  EXPECT_THAT(clock_gettime(12345, &ts), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(clock_getres(12345, &ts), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_clock_gettime, -1, &ts), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockGettimeTest, RealtimeCannotBeSetToInvalidValue) {
  // Only validation is exercised: a valid value would change the host clock.
  struct timespec bad = {0, 1000000000};
  EXPECT_THAT(clock_settime(CLOCK_REALTIME, &bad), SyscallFailsWithErrno(EINVAL));
  struct timespec any = {1, 0};
  EXPECT_THAT(clock_settime(CLOCK_MONOTONIC, &any), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockGettimeTest, ProcessCpuClockOfChild) {
  pid_t pid = fork();
  if (pid == 0) {
    SpinOnClock(CLOCK_PROCESS_CPUTIME_ID, 20 * kMs);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  clockid_t clock;
  ASSERT_EQ(clock_getcpuclockid(pid, &clock), 0);
  struct timespec ts = {};
  EXPECT_THAT(clock_gettime(clock, &ts), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // Once the child is reaped its CPU clock no longer exists.
  EXPECT_THAT(clock_gettime(clock, &ts), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockGettimeTest, CpuClockOfReapedChildIsGoneAtOnce) {
  // A child that exits at once: its parent's wait can return while the child's exit is still
  // under way elsewhere, which a sandbox must not let show.
  for (int i = 0; i < 50; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    ASSERT_THAT(pid, SyscallSucceeds());
    clockid_t clock;
    ASSERT_EQ(clock_getcpuclockid(pid, &clock), 0);
    ASSERT_THAT(WaitForChild(pid), ExitedWith(0));
    struct timespec ts = {};
    ASSERT_THAT(clock_gettime(clock, &ts), SyscallFailsWithErrno(EINVAL)) << "child " << i;
  }
}

// glibc's MAKE_PROCESS_CPUCLOCK and MAKE_THREAD_CPUCLOCK; measure 2 is CPUCLOCK_SCHED.
clockid_t CpuClock(pid_t pid, int measure, bool thread) {
  return static_cast<clockid_t>((~static_cast<unsigned>(pid) << 3) | (thread ? 4u : 0u) |
                                static_cast<unsigned>(measure));
}

TEST(ClockGettimeTest, ZombieKeepsItsCpuClockUntilReaped) {
  pid_t pid = fork();
  if (pid == 0) {
    SpinOnClock(CLOCK_PROCESS_CPUTIME_ID, 30 * kMs);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  // A zombie: its clock reads the CPU time it used, in every measure, and stands still.
  struct timespec sched = {}, prof = {}, virt = {};
  ASSERT_THAT(clock_gettime(CpuClock(pid, 2, false), &sched), SyscallSucceeds());
  ASSERT_THAT(clock_gettime(CpuClock(pid, 0, false), &prof), SyscallSucceeds());
  ASSERT_THAT(clock_gettime(CpuClock(pid, 1, false), &virt), SyscallSucceeds());
  EXPECT_GE(TimespecToNs(sched), 25 * kMs);
  EXPECT_GE(TimespecToNs(prof), TimespecToNs(virt));
  EXPECT_GT(TimespecToNs(prof), 0);
  SleepMs(20);
  struct timespec again = {};
  ASSERT_THAT(clock_gettime(CpuClock(pid, 2, false), &again), SyscallSucceeds());
  EXPECT_EQ(TimespecToNs(again), TimespecToNs(sched));
  struct timespec res = {};
  EXPECT_THAT(clock_getres(CpuClock(pid, 2, false), &res), SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), ExitedWith(0));
  EXPECT_THAT(clock_gettime(CpuClock(pid, 2, false), &sched), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(clock_getres(CpuClock(pid, 2, false), &res), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockGettimeTest, CpuClockIdsAreCheckedLikeLinux) {
  struct timespec ts = {};
  // Pid 0 is the caller, as a process and as a thread.
  EXPECT_THAT(clock_gettime(CpuClock(0, 2, false), &ts), SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(0, 2, true), &ts), SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(getpid(), 0, false), &ts), SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(getpid(), 1, true), &ts), SyscallSucceeds());
  // A CPU clock's resolution: the scheduler clock counts nanoseconds.
  struct timespec res = {};
  EXPECT_THAT(clock_getres(CpuClock(getpid(), 2, false), &res), SyscallSucceeds());
  EXPECT_EQ(res.tv_sec, 0);
  EXPECT_EQ(res.tv_nsec, 1);
  EXPECT_THAT(clock_getres(CpuClock(getpid(), 0, false), nullptr), SyscallSucceeds());

  // Another process's threads are not the caller's to read.
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(pid, 2, false), &ts), SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(pid, 2, true), &ts), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(clock_getres(CpuClock(pid, 2, true), &res), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));

  // Measure 3 names a clock device by fd; a file that is not one is no clock.
  int fd = open("/dev/null", O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(clock_gettime(CpuClock(fd, 3, false), &ts), SyscallFailsWithErrno(EINVAL));
  close(fd);
  // A measure of 3 with the thread bit is nothing at all.
  EXPECT_THAT(clock_gettime(CpuClock(0, 3, true), &ts), SyscallFailsWithErrno(EINVAL));
  // A pid that names nothing.
  EXPECT_THAT(clock_gettime(CpuClock(0x3ffffff0, 2, false), &ts), SyscallFailsWithErrno(EINVAL));
  // The time is copied out like any other.
  EXPECT_THAT(syscall(SYS_clock_gettime, CpuClock(0, 2, false), reinterpret_cast<void*>(1)),
              SyscallFailsWithErrno(EFAULT));
}

TEST(GettimeofdayTest, AgreesWithTimeAndRealtime) {
  struct timeval tv = {};
  ASSERT_THAT(gettimeofday(&tv, nullptr), SyscallSucceeds());
  time_t t = time(nullptr);
  struct timespec ts = {};
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME, &ts), SyscallSucceeds());
  EXPECT_GE(tv.tv_usec, 0);
  EXPECT_LT(tv.tv_usec, 1000000);
  EXPECT_LE(std::abs(t - tv.tv_sec), 1);
  EXPECT_LE(std::abs(ts.tv_sec - tv.tv_sec), 1);
  time_t via_syscall = 0;
  EXPECT_THAT(syscall(SYS_time, &via_syscall), SyscallSucceeds());
  EXPECT_LE(std::abs(via_syscall - t), 1);
}

// ---------------------------------------------------------------------------
// nanosleep and clock_nanosleep

TEST(NanosleepTest, SleepsAtLeastRequestedTime) {
  struct timespec req = NsToTimespec(50 * kMs);
  const int64_t start = NowNs();
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallSucceeds());
  const int64_t elapsed = NowNs() - start;
  EXPECT_GE(elapsed, 50 * kMs);
  EXPECT_LE(elapsed, 50 * kMs + kSlack);
}

TEST(NanosleepTest, ZeroSleepReturnsAtOnce) {
  struct timespec req = {0, 0};
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallSucceeds());
}

TEST(NanosleepTest, InvalidTimespecIsEinval) {
  struct timespec req = {0, 1000000000};
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallFailsWithErrno(EINVAL));
  req = {0, -1};
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallFailsWithErrno(EINVAL));
  req = {-1, 0};
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST(NanosleepTest, BadPointerIsEfault) {
  EXPECT_THAT(syscall(SYS_nanosleep, reinterpret_cast<void*>(1), nullptr),
              SyscallFailsWithErrno(EFAULT));
}

void ArmRealTimer(int64_t ns, int64_t interval_ns = 0) {
  struct itimerval it = {};
  it.it_value.tv_sec = ns / kSec;
  it.it_value.tv_usec = (ns % kSec) / 1000;
  it.it_interval.tv_sec = interval_ns / kSec;
  it.it_interval.tv_usec = (interval_ns % kSec) / 1000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
}

void DisarmRealTimer() {
  struct itimerval it = {};
  setitimer(ITIMER_REAL, &it, nullptr);
}

TEST(NanosleepTest, InterruptedSleepReportsRemainingTime) {
  signal_count = 0;
  // nanosleep is never restarted, even with SA_RESTART.
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal, SA_RESTART));
  // The timer repeats in case the first signal comes before the sleep
  // has started.
  ArmRealTimer(50 * kMs, 50 * kMs);
  struct timespec req = NsToTimespec(3 * kSec);
  struct timespec rem = {};
  const int64_t start = NowNs();
  EXPECT_THAT(nanosleep(&req, &rem), SyscallFailsWithErrno(EINTR));
  const int64_t elapsed = NowNs() - start;
  DisarmRealTimer();
  EXPECT_GE(signal_count, 1);
  // The remaining time is what was left of the request when the signal came.
  EXPECT_GT(TimespecToNs(rem), 0);
  EXPECT_LT(TimespecToNs(rem), 3 * kSec);
  EXPECT_GE(TimespecToNs(rem), 3 * kSec - elapsed - 10 * kMs);
}

TEST(ClockNanosleepTest, AbsoluteDeadline) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
    const int64_t deadline = NowNs(clock) + 30 * kMs;
    struct timespec ts = NsToTimespec(deadline);
    // clock_nanosleep returns the error number instead of setting errno.
    EXPECT_EQ(clock_nanosleep(clock, TIMER_ABSTIME, &ts, nullptr), 0);
    EXPECT_GE(NowNs(clock), deadline);
  }
}

TEST(ClockNanosleepTest, DeadlineInThePastReturnsAtOnce) {
  struct timespec ts = NsToTimespec(NowNs() - kSec);
  const int64_t start = NowNs();
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr), 0);
  EXPECT_LT(NowNs() - start, kSlack);
}

TEST(ClockNanosleepTest, RelativeSleep) {
  struct timespec ts = NsToTimespec(30 * kMs);
  const int64_t start = NowNs();
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr), 0);
  EXPECT_GE(NowNs() - start, 30 * kMs);
}

TEST(ClockNanosleepTest, Errors) {
  struct timespec ts = {0, 1000};
  EXPECT_EQ(clock_nanosleep(12345, 0, &ts, nullptr), EINVAL);
  // A thread cannot sleep on its own CPU clock.
  EXPECT_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, nullptr), EINVAL);
  struct timespec bad = {0, 1000000000};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr), EINVAL);
}

TEST(ClockNanosleepTest, InterruptedAbsoluteSleep) {
  signal_count = 0;
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  ArmRealTimer(30 * kMs, 30 * kMs);
  struct timespec ts = NsToTimespec(NowNs() + 3 * kSec);
  struct timespec rem = {123, 456};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, &rem), EINTR);
  DisarmRealTimer();
  EXPECT_GE(signal_count, 1);
  // An absolute sleep has no remaining time to report, so rem is untouched.
  EXPECT_EQ(rem.tv_sec, 123);
  EXPECT_EQ(rem.tv_nsec, 456);
}

// ---------------------------------------------------------------------------
// alarm and interval timers

TEST(AlarmTest, ReturnsPreviousRemainingSeconds) {
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  EXPECT_EQ(alarm(10), 0u);
  EXPECT_EQ(alarm(5), 10u);
  EXPECT_EQ(alarm(0), 5u);
  EXPECT_EQ(alarm(0), 0u);
}

TEST(AlarmTest, DeliversSigalrm) {
  signal_count = 0;
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  ScopedSignalMask mask(SIG_BLOCK, {SIGALRM});
  const int64_t start = NowNs();
  ASSERT_EQ(alarm(1), 0u);
  sigset_t wait_mask;
  sigemptyset(&wait_mask);
  EXPECT_THAT(sigsuspend(&wait_mask), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(signal_count, 1);
  EXPECT_GE(NowNs() - start, kSec);
  EXPECT_EQ(alarm(0), 0u);
}

TEST(ItimerTest, RealTimerFiresRepeatedly) {
  signal_count = 0;
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  const int64_t start = NowNs();
  ArmRealTimer(10 * kMs, 10 * kMs);
  struct itimerval current = {};
  ASSERT_THAT(getitimer(ITIMER_REAL, &current), SyscallSucceeds());
  EXPECT_EQ(current.it_interval.tv_sec, 0);
  EXPECT_EQ(current.it_interval.tv_usec, 10000);
  EXPECT_LE(current.it_value.tv_usec, 10000);
  EXPECT_TRUE(current.it_value.tv_sec != 0 || current.it_value.tv_usec != 0);
  while (signal_count < 5 && NowNs() - start < kSlack) pause();
  const int64_t elapsed = NowNs() - start;
  DisarmRealTimer();
  EXPECT_GE(signal_count, 5);
  EXPECT_GE(elapsed, 50 * kMs - kMs);
  ASSERT_THAT(getitimer(ITIMER_REAL, &current), SyscallSucceeds());
  EXPECT_EQ(current.it_value.tv_sec, 0);
  EXPECT_EQ(current.it_value.tv_usec, 0);
}

TEST(ItimerTest, SetitimerReturnsOldValue) {
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  struct itimerval it = {};
  it.it_value.tv_sec = 100;
  it.it_interval.tv_sec = 7;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  struct itimerval zero = {};
  struct itimerval old = {};
  ASSERT_THAT(setitimer(ITIMER_REAL, &zero, &old), SyscallSucceeds());
  EXPECT_EQ(old.it_interval.tv_sec, 7);
  EXPECT_EQ(old.it_interval.tv_usec, 0);
  EXPECT_LE(old.it_value.tv_sec, 100);
  EXPECT_GE(old.it_value.tv_sec, 98);
}

TEST(ItimerTest, Errors) {
  struct itimerval it = {};
  EXPECT_THAT(setitimer(static_cast<__itimer_which>(3), &it, nullptr),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(getitimer(static_cast<__itimer_which>(3), &it), SyscallFailsWithErrno(EINVAL));
  it.it_value.tv_usec = 1000000;
  EXPECT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallFailsWithErrno(EINVAL));
  it.it_value.tv_usec = -1;
  EXPECT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST(ItimerTest, VirtualAndProfTimersCountCpuTime) {
  for (auto [which, sig] :
       {std::pair{ITIMER_VIRTUAL, SIGVTALRM}, std::pair{ITIMER_PROF, SIGPROF}}) {
    signal_count = 0;
    ScopedSigaction action(sig, MakeSigaction(CountSignal));
    struct itimerval it = {};
    it.it_value.tv_usec = 20000;
    ASSERT_THAT(setitimer(which, &it, nullptr), SyscallSucceeds());
    const int64_t cpu_start = NowNs(CLOCK_PROCESS_CPUTIME_ID);
    const int64_t wall_deadline = NowNs() + kSlack;
    volatile uint64_t sink = 0;
    while (signal_count == 0 && NowNs() < wall_deadline) {
      for (int i = 0; i < 10000; i++) sink = sink + i;
    }
    const int64_t cpu_used = NowNs(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    struct itimerval zero = {};
    setitimer(which, &zero, nullptr);
    EXPECT_EQ(signal_count, 1) << "timer " << which;
    // The timer counts CPU time, so at least its value of CPU was used.
    EXPECT_GE(cpu_used, 20 * kMs - 5 * kMs) << "timer " << which;
  }
}

TEST(ItimerTest, ForkedChildDoesNotInheritTimers) {
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  ArmRealTimer(100 * kSec);
  EXPECT_CHILD_SUCCEEDS([] {
    struct itimerval it = {};
    CHILD_CHECK_SUCCESS(getitimer(ITIMER_REAL, &it));
    CHILD_CHECK(it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0);
    CHILD_CHECK(alarm(0) == 0);
  });
  DisarmRealTimer();
}

// ---------------------------------------------------------------------------
// POSIX timers

// Creates a timer that signals sig with the given value.
timer_t CreateSignalTimer(clockid_t clock, int sig, int value) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = sig;
  sev.sigev_value.sival_int = value;
  timer_t id = {};
  EXPECT_THAT(timer_create(clock, &sev, &id), SyscallSucceeds());
  return id;
}

struct itimerspec MakeItimerspec(int64_t value_ns, int64_t interval_ns = 0) {
  struct itimerspec its = {};
  its.it_value = NsToTimespec(value_ns);
  its.it_interval = NsToTimespec(interval_ns);
  return its;
}

TEST(PosixTimerTest, SignalCarriesValue) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  timer_t id = CreateSignalTimer(CLOCK_MONOTONIC, SIGUSR1, 0x4242);
  struct itimerspec its = MakeItimerspec(10 * kMs);
  const int64_t start = NowNs();
  ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  siginfo_t info = {};
  struct timespec timeout = NsToTimespec(kSlack);
  ASSERT_THAT(sigtimedwait(&set, &info, &timeout), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_GE(NowNs() - start, 10 * kMs);
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_EQ(info.si_value.sival_int, 0x4242);
  EXPECT_EQ(info.si_overrun, 0);
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

TEST(PosixTimerTest, SigevNoneCountsDown) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t id = {};
  ASSERT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec its = MakeItimerspec(10 * kSec, 3 * kSec);
  ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds());
  struct itimerspec first = {};
  ASSERT_THAT(timer_gettime(id, &first), SyscallSucceeds());
  EXPECT_LE(TimespecToNs(first.it_value), 10 * kSec);
  EXPECT_GT(TimespecToNs(first.it_value), 10 * kSec - kSlack);
  EXPECT_EQ(TimespecToNs(first.it_interval), 3 * kSec);
  SleepMs(20);
  struct itimerspec second = {};
  ASSERT_THAT(timer_gettime(id, &second), SyscallSucceeds());
  EXPECT_LE(TimespecToNs(second.it_value), TimespecToNs(first.it_value) - 20 * kMs);
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

TEST(PosixTimerTest, UnarmedTimerReportsZero) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t id = {};
  ASSERT_THAT(timer_create(CLOCK_REALTIME, &sev, &id), SyscallSucceeds());
  struct itimerspec its = MakeItimerspec(1, 1);
  ASSERT_THAT(timer_gettime(id, &its), SyscallSucceeds());
  EXPECT_EQ(TimespecToNs(its.it_value), 0);
  EXPECT_EQ(TimespecToNs(its.it_interval), 0);
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

TEST(PosixTimerTest, SettimeReturnsOldSetting) {
  // A signalling timer is used because Linux keeps reporting the stale
  // remaining time of a disarmed SIGEV_NONE timer, which is not worth
  // imitating. The signal never comes: the timer is disarmed long before.
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  timer_t id = CreateSignalTimer(CLOCK_MONOTONIC, SIGUSR1, 0);
  struct itimerspec its = MakeItimerspec(50 * kSec, 2 * kSec);
  ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds());
  struct itimerspec disarm = MakeItimerspec(0);
  struct itimerspec old = {};
  ASSERT_THAT(timer_settime(id, 0, &disarm, &old), SyscallSucceeds());
  EXPECT_GT(TimespecToNs(old.it_value), 50 * kSec - kSlack);
  EXPECT_EQ(TimespecToNs(old.it_interval), 2 * kSec);
  ASSERT_THAT(timer_gettime(id, &old), SyscallSucceeds());
  EXPECT_EQ(TimespecToNs(old.it_value), 0);
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

// A timer on a CPU-time clock fires once the caller has used that much CPU, whichever way glibc
// names the clock.
TEST(PosixTimerTest, CpuClockTimersFire) {
  for (clockid_t clock : {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, CpuClock(0, 0, false),
                          CpuClock(0, 1, true)}) {
    ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
    timer_t id = CreateSignalTimer(clock, SIGUSR1, 5);
    struct itimerspec its = MakeItimerspec(20 * kMs);
    ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds()) << "clock " << clock;
    const int64_t cpu_start = NowNs(CLOCK_THREAD_CPUTIME_ID);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec zero = {0, 0};
    // A guard against a timer that never fires, not a measure: on a loaded machine (the suite
    // runs two tests at a time, some of them fork bombs) 20 ms of CPU can take seconds of wall
    // time.
    const int64_t wall_deadline = NowNs() + 30 * kSec;
    volatile uint64_t sink = 0;
    int sig = -1;
    while ((sig = sigtimedwait(&set, nullptr, &zero)) != SIGUSR1 && NowNs() < wall_deadline) {
      for (int i = 0; i < 100000; i++) sink = sink + i;
    }
    EXPECT_EQ(sig, SIGUSR1) << "clock " << clock;
    // The timer measures CPU time: no sooner than 20 ms of it (less a tick for sampled ones).
    EXPECT_GE(NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start, 20 * kMs - 5 * kMs) << "clock " << clock;
    EXPECT_THAT(timer_delete(id), SyscallSucceeds());
  }
}

TEST(PosixTimerTest, ThreadCpuClocksOfOtherProcessesAreNotTimers) {
  pid_t pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t id = {};
  EXPECT_THAT(timer_create(CpuClock(pid, 2, true), &sev, &id), SyscallFailsWithErrno(EINVAL));
  // Another process's own clock is one.
  ASSERT_THAT(timer_create(CpuClock(pid, 2, false), &sev, &id), SyscallSucceeds());
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

TEST(PosixTimerTest, AbsoluteExpiry) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR2});
  timer_t id = CreateSignalTimer(CLOCK_MONOTONIC, SIGUSR2, 1);
  const int64_t deadline = NowNs() + 30 * kMs;
  struct itimerspec its = {};
  its.it_value = NsToTimespec(deadline);
  ASSERT_THAT(timer_settime(id, TIMER_ABSTIME, &its, nullptr), SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  struct timespec timeout = NsToTimespec(kSlack);
  ASSERT_THAT(sigtimedwait(&set, nullptr, &timeout), SyscallSucceedsWithValue(SIGUSR2));
  EXPECT_GE(NowNs(), deadline);

  // An absolute time in the past expires at once.
  its.it_value = NsToTimespec(NowNs() - kSec);
  ASSERT_THAT(timer_settime(id, TIMER_ABSTIME, &its, nullptr), SyscallSucceeds());
  ASSERT_THAT(sigtimedwait(&set, nullptr, &timeout), SyscallSucceedsWithValue(SIGUSR2));
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

TEST(PosixTimerTest, OverrunCountsMissedExpirations) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  timer_t id = CreateSignalTimer(CLOCK_MONOTONIC, SIGUSR1, 7);
  struct itimerspec its = MakeItimerspec(kMs, kMs);
  ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds());
  // While the first signal is queued and blocked, later expirations cannot
  // queue another one and are counted as overruns instead.
  SleepMs(50);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  siginfo_t info = {};
  ASSERT_THAT(sigwaitinfo(&set, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_GE(info.si_overrun, 10);
  EXPECT_THAT(timer_getoverrun(id), SyscallSucceedsWithValue(info.si_overrun));
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
  // Drop any signal the timer queued before it was deleted.
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) == SIGUSR1) {
  }
}

TEST(PosixTimerTest, DeletedTimerIsEinval) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t id = {};
  ASSERT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  ASSERT_THAT(timer_delete(id), SyscallSucceeds());
  struct itimerspec its = MakeItimerspec(kSec);
  EXPECT_THAT(timer_settime(id, 0, &its, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timer_gettime(id, &its), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timer_getoverrun(id), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timer_delete(id), SyscallFailsWithErrno(EINVAL));
}

TEST(PosixTimerTest, CreateErrors) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR1;
  timer_t id = {};
  EXPECT_THAT(timer_create(12345, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev.sigev_signo = 0;
  EXPECT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev.sigev_signo = 65;
  EXPECT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev.sigev_signo = SIGUSR1;
  sev.sigev_notify = 42;
  EXPECT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
}

TEST(PosixTimerTest, SettimeRejectsBadValues) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t id = {};
  ASSERT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec its = {};
  its.it_value.tv_nsec = 1000000000;
  EXPECT_THAT(timer_settime(id, 0, &its, nullptr), SyscallFailsWithErrno(EINVAL));
  its = MakeItimerspec(kSec);
  its.it_interval.tv_nsec = -1;
  EXPECT_THAT(timer_settime(id, 0, &its, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

TEST(PosixTimerTest, DefaultSigevIsSigalrmWithTimerId) {
  // A NULL sigevent means SIGEV_SIGNAL with SIGALRM.
  signal_count = 0;
  ScopedSigaction action(SIGALRM, MakeSigaction(CountSignal));
  ScopedSignalMask mask(SIG_BLOCK, {SIGALRM});
  timer_t id = {};
  ASSERT_THAT(timer_create(CLOCK_MONOTONIC, nullptr, &id), SyscallSucceeds());
  struct itimerspec its = MakeItimerspec(5 * kMs);
  ASSERT_THAT(timer_settime(id, 0, &its, nullptr), SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGALRM);
  siginfo_t info = {};
  struct timespec timeout = NsToTimespec(kSlack);
  ASSERT_THAT(sigtimedwait(&set, &info, &timeout), SyscallSucceedsWithValue(SIGALRM));
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_THAT(timer_delete(id), SyscallSucceeds());
}

// ---------------------------------------------------------------------------
// times

TEST(TimesTest, CountsOwnAndChildrenCpuTime) {
  const long ticks_per_sec = sysconf(_SC_CLK_TCK);
  ASSERT_GT(ticks_per_sec, 0);
  struct tms before = {};
  clock_t start = times(&before);
  ASSERT_NE(start, static_cast<clock_t>(-1));
  SpinOnClock(CLOCK_PROCESS_CPUTIME_ID, 100 * kMs);
  pid_t pid = fork();
  if (pid == 0) {
    SpinOnClock(CLOCK_PROCESS_CPUTIME_ID, 100 * kMs);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), ExitedWith(0));
  struct tms after = {};
  clock_t end = times(&after);
  // 100 ms of CPU is 10 ticks at 100 Hz; allow for tick granularity.
  const clock_t min_ticks = static_cast<clock_t>(ticks_per_sec / 20);
  EXPECT_GE((after.tms_utime + after.tms_stime) - (before.tms_utime + before.tms_stime), min_ticks);
  EXPECT_GE((after.tms_cutime + after.tms_cstime) - (before.tms_cutime + before.tms_cstime),
            min_ticks);
  // The return value is elapsed real time in ticks, at least the CPU we used.
  EXPECT_GE(end - start, min_ticks);
}

}  // namespace
}  // namespace moat::testing
