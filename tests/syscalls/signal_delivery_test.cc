// Conformance tests for signal delivery: alternate stacks, SA_RESTART and the other flags,
// waiting for signals, default actions and faults, stop and continue, ignored signals, the
// signal frame, and signals among threads.
//
// Most handlers record what they saw in globals that the test body then checks.

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <vector>
#include "tests/syscalls/test_util.h"
#include "tests/syscalls/signal_util.h"

namespace moat::testing {
namespace {

// ---------------------------------------------------------------------------
// Alternate signal stacks

constexpr size_t kAltStackSize = 64 * 1024;
alignas(16) char alt_stack[kAltStackSize];
volatile uintptr_t handler_local_address = 0;
volatile int handler_ss_flags = -1;
volatile int handler_change_errno = 0;

void AltStackHandler(int) {
  int local = 0;
  handler_local_address = reinterpret_cast<uintptr_t>(&local);
  stack_t ss = {};
  sigaltstack(nullptr, &ss);
  handler_ss_flags = ss.ss_flags;
  // Changing the alternate stack while running on it is refused.
  stack_t replacement = {};
  replacement.ss_sp = alt_stack;
  replacement.ss_size = kAltStackSize;
  handler_change_errno = sigaltstack(&replacement, nullptr) == 0 ? 0 : errno;
}

TEST(SigaltstackTest, HandlerRunsOnAltStack) {
  stack_t ss = {};
  ss.ss_sp = alt_stack;
  ss.ss_size = kAltStackSize;
  stack_t old = {};
  ASSERT_THAT(sigaltstack(&ss, &old), SyscallSucceeds());
  EXPECT_EQ(old.ss_flags, SS_DISABLE);

  stack_t query = {};
  ASSERT_THAT(sigaltstack(nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.ss_sp, alt_stack);
  EXPECT_EQ(query.ss_size, kAltStackSize);
  EXPECT_EQ(query.ss_flags, 0);  // Installed, but we are not running on it.

  handler_local_address = 0;
  handler_ss_flags = -1;
  {
    ScopedSigaction scoped(SIGUSR1, MakeSigaction(AltStackHandler, SA_ONSTACK));
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  }
  const uintptr_t base = reinterpret_cast<uintptr_t>(alt_stack);
  EXPECT_GE(handler_local_address, base);
  EXPECT_LT(handler_local_address, base + kAltStackSize);
  EXPECT_EQ(handler_ss_flags, SS_ONSTACK);
  EXPECT_EQ(handler_change_errno, EPERM);

  // A handler without SA_ONSTACK runs on the normal stack.
  handler_local_address = 0;
  {
    ScopedSigaction scoped(SIGUSR1, MakeSigaction(AltStackHandler));
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  }
  EXPECT_TRUE(handler_local_address < base || handler_local_address >= base + kAltStackSize);
  EXPECT_EQ(handler_ss_flags, 0);

  stack_t disable = {};
  disable.ss_flags = SS_DISABLE;
  ASSERT_THAT(sigaltstack(&disable, nullptr), SyscallSucceeds());
  ASSERT_THAT(sigaltstack(nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.ss_flags, SS_DISABLE);
}

TEST(SigaltstackTest, TooSmallIsEnomem) {
  stack_t ss = {};
  ss.ss_sp = alt_stack;
  // The kernel's minimum is its MINSIGSTKSZ of 2048 bytes. glibc's
  // MINSIGSTKSZ macro is a sysconf() value that depends on the CPU, so the
  // kernel's number is spelled out here.
  constexpr size_t kKernelMinSigstksz = 2048;
  ss.ss_size = kKernelMinSigstksz - 1;
  EXPECT_THAT(sigaltstack(&ss, nullptr), SyscallFailsWithErrno(ENOMEM));
  ss.ss_size = 0;
  EXPECT_THAT(sigaltstack(&ss, nullptr), SyscallFailsWithErrno(ENOMEM));
  stack_t query = {};
  ASSERT_THAT(sigaltstack(nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.ss_flags, SS_DISABLE);
}

TEST(SigaltstackTest, BadFlagsAreEinval) {
  stack_t ss = {};
  ss.ss_sp = alt_stack;
  ss.ss_size = kAltStackSize;
  ss.ss_flags = 0x1000;
  EXPECT_THAT(sigaltstack(&ss, nullptr), SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// Interrupted system calls

// The SIGALRM handler tells the writer child that the read has been
// interrupted, so that the data arrives only after the signal.
int alarm_notify_fd = -1;

void AlarmNotifyHandler(int) {
  handler_count = handler_count + 1;
  if (alarm_notify_fd >= 0) {
    ssize_t unused = write(alarm_notify_fd, "n", 1);
    (void)unused;
  }
}

void ArmRealTimerMs(int ms, int interval_ms = 0) {
  struct itimerval it = {};
  it.it_value.tv_sec = ms / 1000;
  it.it_value.tv_usec = (ms % 1000) * 1000;
  it.it_interval.tv_sec = interval_ms / 1000;
  it.it_interval.tv_usec = (interval_ms % 1000) * 1000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
}

void DisarmRealTimer() {
  struct itimerval it = {};
  setitimer(ITIMER_REAL, &it, nullptr);
}

TEST(RestartTest, SaRestartResumesRead) {
  ResetHandlerState();
  int data[2], notify[2];
  ASSERT_THAT(pipe(data), SyscallSucceeds());
  ASSERT_THAT(pipe(notify), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(data[0]);
    close(notify[1]);
    char c;
    CHILD_CHECK(read(notify[0], &c, 1) == 1);
    CHILD_CHECK(write(data[1], "hello", 5) == 5);
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  close(data[1]);
  close(notify[0]);
  alarm_notify_fd = notify[1];
  {
    ScopedSigaction scoped(SIGALRM, MakeSigaction(AlarmNotifyHandler, SA_RESTART));
    ArmRealTimerMs(20);
    char buf[8] = {};
    // The read is interrupted by SIGALRM, restarted, and completes with the
    // data the child writes after the handler has run.
    EXPECT_THAT(read(data[0], buf, sizeof(buf)), SyscallSucceedsWithValue(5));
    EXPECT_STREQ(buf, "hello");
    EXPECT_EQ(handler_count, 1);
    DisarmRealTimer();
  }
  alarm_notify_fd = -1;
  close(data[0]);
  close(notify[1]);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(RestartTest, WithoutSaRestartReadFailsWithEintr) {
  ResetHandlerState();
  int data[2];
  ASSERT_THAT(pipe(data), SyscallSucceeds());
  {
    ScopedSigaction scoped(SIGALRM, MakeSigaction(CountingHandler));
    // The timer repeats in case the first signal comes before the read
    // has started blocking.
    ArmRealTimerMs(20, 20);
    char buf[8];
    // Nobody ever writes, so the read can only end through the signal.
    EXPECT_THAT(read(data[0], buf, sizeof(buf)), SyscallFailsWithErrno(EINTR));
    EXPECT_GE(handler_count, 1);
    DisarmRealTimer();
  }
  close(data[0]);
  close(data[1]);
}

// ---------------------------------------------------------------------------
// Handler flags

TEST(FlagsTest, ResethandRestoresDefault) {
  EXPECT_THAT(ForkAndWait([] {
                handler_count = 0;
                struct sigaction sa = MakeSigaction(CountingHandler, SA_RESETHAND);
                CHILD_CHECK_SUCCESS(sigaction(SIGUSR1, &sa, nullptr));
                CHILD_CHECK_SUCCESS(kill(getpid(), SIGUSR1));
                CHILD_CHECK(handler_count == 1);
                struct sigaction query = {};
                CHILD_CHECK_SUCCESS(sigaction(SIGUSR1, nullptr, &query));
                CHILD_CHECK(query.sa_handler == SIG_DFL);
                // The default action of SIGUSR1 ends the process.
                kill(getpid(), SIGUSR1);
                _exit(1);
              }),
              KilledBySignal(SIGUSR1));
}

volatile sig_atomic_t nest_depth = 0;
volatile sig_atomic_t max_nest_depth = 0;

void NestingHandler(int sig) {
  nest_depth = nest_depth + 1;
  if (nest_depth > max_nest_depth) max_nest_depth = nest_depth;
  handler_count = handler_count + 1;
  // Re-raise once from the outermost invocation.
  if (handler_count == 1) kill(getpid(), sig);
  nest_depth = nest_depth - 1;
}

TEST(FlagsTest, NodeferAllowsNestedDelivery) {
  handler_count = 0;
  nest_depth = 0;
  max_nest_depth = 0;
  {
    ScopedSigaction scoped(SIGUSR1, MakeSigaction(NestingHandler, SA_NODEFER));
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  }
  EXPECT_EQ(handler_count, 2);
  EXPECT_EQ(max_nest_depth, 2);
}

TEST(FlagsTest, WithoutNodeferDeliveryIsDeferred) {
  handler_count = 0;
  nest_depth = 0;
  max_nest_depth = 0;
  {
    ScopedSigaction scoped(SIGUSR1, MakeSigaction(NestingHandler));
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  }
  // The second signal waited until the first handler returned.
  EXPECT_EQ(handler_count, 2);
  EXPECT_EQ(max_nest_depth, 1);
}

// ---------------------------------------------------------------------------
// Waiting for signals

volatile sig_atomic_t usr2_blocked_in_handler = -1;

void SuspendHandler(int) {
  handler_count = handler_count + 1;
  usr2_blocked_in_handler = IsBlocked(SIGUSR2);
}

TEST(WaitSignalTest, SigsuspendReturnsEintrAndRestoresMask) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(SuspendHandler));
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(handler_count, 0);
  // Wait with a mask that unblocks SIGUSR1 and blocks SIGUSR2; the handler
  // runs under that temporary mask.
  sigset_t wait_mask;
  sigemptyset(&wait_mask);
  sigaddset(&wait_mask, SIGUSR2);
  EXPECT_THAT(sigsuspend(&wait_mask), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handler_count, 1);
  EXPECT_EQ(usr2_blocked_in_handler, 1);
  EXPECT_TRUE(IsBlocked(SIGUSR1));
  EXPECT_FALSE(IsBlocked(SIGUSR2));
}

TEST(WaitSignalTest, SigsuspendWaitsForSignalFromChild) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(CountingHandler));
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  const pid_t parent = getpid();
  pid_t pid = ForkChild([parent] {
    usleep(10000);
    CHILD_CHECK_SUCCESS(kill(parent, SIGUSR1));
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  sigset_t wait_mask;
  sigemptyset(&wait_mask);
  EXPECT_THAT(sigsuspend(&wait_mask), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handler_count, 1);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(WaitSignalTest, SigtimedwaitTimesOut) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  struct timespec timeout = {0, 20 * 1000 * 1000};
  const int64_t start = NowNs();
  EXPECT_THAT(sigtimedwait(&set, nullptr, &timeout), SyscallFailsWithErrno(EAGAIN));
  EXPECT_GE(NowNs() - start, 20 * 1000 * 1000);
  struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&set, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
}

TEST(WaitSignalTest, SigtimedwaitRejectsBadTimeout) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  struct timespec bad = {0, 1000 * 1000 * 1000};
  EXPECT_THAT(sigtimedwait(&set, nullptr, &bad), SyscallFailsWithErrno(EINVAL));
  bad = {-1, 0};
  EXPECT_THAT(sigtimedwait(&set, nullptr, &bad), SyscallFailsWithErrno(EINVAL));
}

TEST(WaitSignalTest, SigtimedwaitTakesPendingSignal) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  siginfo_t info = {};
  struct timespec timeout = {1, 0};
  EXPECT_THAT(sigtimedwait(&set, &info, &timeout), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_signo, SIGUSR1);
  EXPECT_EQ(info.si_code, SI_USER);
  EXPECT_EQ(info.si_pid, getpid());
  EXPECT_FALSE(IsPending(SIGUSR1));
}

TEST(WaitSignalTest, SigwaitinfoReturnsQueuedValue) {
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR2});
  union sigval value;
  value.sival_int = 99;
  ASSERT_THAT(sigqueue(getpid(), SIGUSR2, value), SyscallSucceeds());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  siginfo_t info = {};
  EXPECT_THAT(sigwaitinfo(&set, &info), SyscallSucceedsWithValue(SIGUSR2));
  EXPECT_EQ(info.si_code, SI_QUEUE);
  EXPECT_EQ(info.si_value.sival_int, 99);
}

// ---------------------------------------------------------------------------
// Default actions and synchronous faults

TEST(DefaultActionTest, SigtermKills) {
  EXPECT_THAT(ForkAndWait([] {
                kill(getpid(), SIGTERM);
                _exit(1);
              }),
              KilledBySignal(SIGTERM));
}

TEST(DefaultActionTest, SigchldAndSigurgAreIgnoredByDefault) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(kill(getpid(), SIGCHLD));
    CHILD_CHECK_SUCCESS(kill(getpid(), SIGURG));
    CHILD_CHECK_SUCCESS(kill(getpid(), SIGWINCH));
  });
}

TEST(DefaultActionTest, NullDereferenceKillsWithSigsegv) {
  EXPECT_THAT(ForkAndWait([] {
                *static_cast<volatile int*>(nullptr) = 1;
                _exit(1);
              }),
              KilledBySignal(SIGSEGV));
}

TEST(DefaultActionTest, FaultKillsEvenWhenIgnoredOrBlocked) {
  // A synchronous fault cannot be ignored or blocked: the kernel forces the
  // default action.
  EXPECT_THAT(ForkAndWait([] {
                signal(SIGSEGV, SIG_IGN);
                *static_cast<volatile int*>(nullptr) = 1;
                _exit(1);
              }),
              KilledBySignal(SIGSEGV));
  EXPECT_THAT(ForkAndWait([] {
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGSEGV);
                sigprocmask(SIG_BLOCK, &set, nullptr);
                *static_cast<volatile int*>(nullptr) = 1;
                _exit(1);
              }),
              KilledBySignal(SIGSEGV));
}

sigjmp_buf fault_jump;

void FaultHandler(int sig, siginfo_t* info, void*) {
  last_signo = sig;
  last_info = *info;
  siglongjmp(fault_jump, 1);
}

volatile int divisor = 0;

TEST(FaultTest, DivideByZeroRaisesSigfpe) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGFPE, MakeSigactionInfo(FaultHandler));
  volatile int result = 0;
  if (sigsetjmp(fault_jump, 1) == 0) {
    result = 10 / divisor;
    ADD_FAILURE() << "division by zero did not fault, result " << result;
  }
  EXPECT_EQ(last_signo, SIGFPE);
  EXPECT_EQ(last_info.si_signo, SIGFPE);
  EXPECT_EQ(last_info.si_code, FPE_INTDIV);
  // siglongjmp restored the mask that was saved without SIGFPE blocked.
  EXPECT_FALSE(IsBlocked(SIGFPE));
}

TEST(FaultTest, SigsegvReportsFaultAddress) {
  ResetHandlerState();
  const long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  ScopedSigaction scoped(SIGSEGV, MakeSigactionInfo(FaultHandler));

  // A mapped page without access permission is SEGV_ACCERR.
  volatile char* target = static_cast<char*>(mem) + 123;
  if (sigsetjmp(fault_jump, 1) == 0) {
    *target = 1;
    ADD_FAILURE() << "write to PROT_NONE memory did not fault";
  }
  EXPECT_EQ(last_signo, SIGSEGV);
  EXPECT_EQ(last_info.si_addr, const_cast<char*>(target));
  EXPECT_EQ(last_info.si_code, SEGV_ACCERR);

  // An unmapped page is SEGV_MAPERR.
  ASSERT_THAT(munmap(static_cast<char*>(mem) + page, page), SyscallSucceeds());
  ResetHandlerState();
  volatile char* unmapped = static_cast<char*>(mem) + page + 7;
  if (sigsetjmp(fault_jump, 1) == 0) {
    char c = *unmapped;
    ADD_FAILURE() << "read of unmapped memory did not fault, got " << static_cast<int>(c);
  }
  EXPECT_EQ(last_signo, SIGSEGV);
  EXPECT_EQ(last_info.si_addr, const_cast<char*>(unmapped));
  EXPECT_EQ(last_info.si_code, SEGV_MAPERR);
  munmap(mem, page);
}

// ---------------------------------------------------------------------------
// Stop and continue

TEST(StopTest, StopAndContinueAreReportedToParent) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGSTOP), SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFSTOPPED(status)) << DescribeWaitStatus(status);
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
  // The stop is reported only once.
  EXPECT_THAT(waitpid(pid, &status, WUNTRACED | WNOHANG), SyscallSucceedsWithValue(0));

  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, &status, WCONTINUED), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFCONTINUED(status)) << DescribeWaitStatus(status);

  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

TEST(StopTest, WaitidReportsStop) {
  // Linux discards SIGTSTP sent to a member of an orphaned process group, and whether the
  // test's own group is orphaned depends on how it was started. The child gets a group of its
  // own, whose parent (this process) is in another group of the same session: not orphaned.
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(setpgid(pid, pid), SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGTSTP), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WSTOPPED), SyscallSucceedsWithValue(0));
  EXPECT_EQ(info.si_code, CLD_STOPPED);
  EXPECT_EQ(info.si_status, SIGTSTP);
  EXPECT_EQ(info.si_pid, pid);
  // A stopped process can still be killed.
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

// A process group with no parent in another group of its session (here: a new session) is
// orphaned, and the terminal's stop signals are discarded there; SIGSTOP still stops it.
TEST(StopTest, OrphanedGroupDiscardsTerminalStops) {
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    raise(SIGTSTP);
    raise(SIGTTIN);
    raise(SIGTTOU);
    raise(SIGSTOP);
    _exit(7);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  ASSERT_TRUE(WIFSTOPPED(status)) << DescribeWaitStatus(status);
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(7));
}

TEST(StopTest, SigcontRunsHandlerAfterResuming) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(fds[0]);
    static int write_fd;
    write_fd = fds[1];
    struct sigaction sa = MakeSigaction([](int) {
      ssize_t unused = write(write_fd, "c", 1);
      (void)unused;
    });
    CHILD_CHECK_SUCCESS(sigaction(SIGCONT, &sa, nullptr));
    CHILD_CHECK(write(fds[1], "r", 1) == 1);
    for (;;) pause();
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  close(fds[1]);
  char c = 0;
  ASSERT_THAT(read(fds[0], &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'r');
  ASSERT_THAT(kill(pid, SIGSTOP), SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  ASSERT_TRUE(WIFSTOPPED(status));
  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  ASSERT_THAT(read(fds[0], &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'c');
  close(fds[0]);
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

// ---------------------------------------------------------------------------
// Ignored signals

TEST(IgnoreTest, IgnoredSignalIsDiscarded) {
  ResetHandlerState();
  {
    ScopedSigaction ignore(SIGUSR1, MakeSigaction(SIG_IGN));
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
    EXPECT_FALSE(IsPending(SIGUSR1));
  }
  ScopedSigaction handle(SIGUSR1, MakeSigaction(CountingHandler));
  EXPECT_EQ(handler_count, 0);
}

TEST(IgnoreTest, BlockedIgnoredSignalStaysPending) {
  // A blocked signal is queued even if ignored, because the disposition may
  // change before it is unblocked.
  ScopedSigaction ignore(SIGUSR1, MakeSigaction(SIG_IGN));
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_TRUE(IsPending(SIGUSR1));
  DrainPending(SIGUSR1);
}

TEST(IgnoreTest, SettingIgnoreDiscardsPendingSignal) {
  ResetHandlerState();
  ScopedSigaction handle(SIGUSR1, MakeSigaction(CountingHandler));
  {
    ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
    ASSERT_TRUE(IsPending(SIGUSR1));
    struct sigaction ign = MakeSigaction(SIG_IGN);
    ASSERT_THAT(sigaction(SIGUSR1, &ign, nullptr), SyscallSucceeds());
    EXPECT_FALSE(IsPending(SIGUSR1));
    struct sigaction sa = MakeSigaction(CountingHandler);
    ASSERT_THAT(sigaction(SIGUSR1, &sa, nullptr), SyscallSucceeds());
  }
  EXPECT_EQ(handler_count, 0);
}

TEST(IgnoreTest, IgnoredSigchldReapsChildrenAutomatically) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK(signal(SIGCHLD, SIG_IGN) != SIG_ERR);
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    CHILD_CHECK_SUCCESS(pid);
    // wait blocks until every child has gone and then reports that there is
    // no child to wait for.
    CHILD_CHECK_ERRNO(waitpid(pid, nullptr, 0), ECHILD);
    CHILD_CHECK_ERRNO(kill(pid, 0), ESRCH);
  });
}

TEST(IgnoreTest, NocldwaitReapsChildrenAutomatically) {
  EXPECT_CHILD_SUCCEEDS([] {
    handler_count = 0;
    struct sigaction sa = MakeSigaction(CountingHandler, SA_NOCLDWAIT);
    CHILD_CHECK_SUCCESS(sigaction(SIGCHLD, &sa, nullptr));
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    CHILD_CHECK_SUCCESS(pid);
    int r;
    do {
      r = waitpid(pid, nullptr, 0);
    } while (r == -1 && errno == EINTR);
    CHILD_CHECK(r == -1 && errno == ECHILD);
  });
}

// ---------------------------------------------------------------------------
// Inheritance across fork

TEST(ForkTest, MaskAndHandlersAreInheritedButPendingIsNot) {
  ResetHandlerState();
  ScopedSigaction handle(SIGUSR1, MakeSigaction(CountingHandler));
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR2});
  ScopedSigaction ignore(SIGUSR2, MakeSigaction(CountingHandler));
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  ASSERT_TRUE(IsPending(SIGUSR2));
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK(IsBlocked(SIGUSR2));
    CHILD_CHECK(!IsPending(SIGUSR2));
    handler_count = 0;
    CHILD_CHECK_SUCCESS(kill(getpid(), SIGUSR1));
    CHILD_CHECK(handler_count == 1);
  });
  DrainPending(SIGUSR2);
}

// ---------------------------------------------------------------------------
// The signal frame

volatile uint64_t frame_rip = 0;
volatile uint64_t frame_r12 = 0;

void RegisterHandler(int, siginfo_t*, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  frame_rip = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  frame_r12 = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_R12]);
  // sigreturn must restore registers from the (modified) frame.
  uc->uc_mcontext.gregs[REG_R12] = 0x2222;
}

TEST(FrameTest, UcontextHoldsInterruptedRegisters) {
  ScopedSigaction scoped(SIGUSR1, MakeSigactionInfo(RegisterHandler));
  frame_rip = 0;
  frame_r12 = 0;
  // Issue tgkill from inline assembly so that the interrupted instruction
  // pointer (just after the syscall instruction) and r12 are known exactly.
  long ret = SYS_tgkill;
  uint64_t after_syscall = 0;
  uint64_t r12_after = 0;
  asm volatile(
      "lea 1f(%%rip), %[after]\n\t"
      "mov $0x1111, %%r12\n\t"
      "syscall\n"
      "1:\n\t"
      "mov %%r12, %[r12]\n\t"
      : [after] "=&r"(after_syscall), [r12] "=r"(r12_after), "+a"(ret)
      : "D"(static_cast<long>(getpid())), "S"(static_cast<long>(Gettid())),
        "d"(static_cast<long>(SIGUSR1))
      : "rcx", "r11", "r12", "memory");
  EXPECT_EQ(ret, 0);
  EXPECT_EQ(frame_rip, after_syscall);
  EXPECT_EQ(frame_r12, 0x1111u);
  EXPECT_EQ(r12_after, 0x2222u);
}

// ---------------------------------------------------------------------------
// Threads

std::atomic<pid_t> raise_handler_tid{0};

void RecordTid(int) { raise_handler_tid = Gettid(); }

void* RaiseFromThread(void* arg) {
  *static_cast<pid_t*>(arg) = Gettid();
  raise(SIGUSR1);
  return nullptr;
}

TEST(ThreadSignalTest, RaiseIsDeliveredToCallingThread) {
  raise_handler_tid = 0;
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(RecordTid));
  pid_t thread_tid = 0;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, RaiseFromThread, &thread_tid), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_NE(thread_tid, Gettid());
  EXPECT_EQ(raise_handler_tid.load(), thread_tid);
}

struct BlockAllState {
  std::atomic<bool> blocked{false};
  std::atomic<bool> done{false};
};

void* BlockAllAndWait(void* arg) {
  auto* state = static_cast<BlockAllState*>(arg);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  state->blocked = true;
  while (!state->done.load()) usleep(1000);
  return nullptr;
}

TEST(ThreadSignalTest, ProcessSignalGoesToThreadThatUnblocksIt) {
  raise_handler_tid = 0;
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(RecordTid));
  // This thread blocks the signal and the other thread does not, so only the
  // other thread can take it.
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  pthread_t thread;
  std::atomic<bool> stop{false};
  struct Args {
    std::atomic<pid_t> tid{0};
    std::atomic<bool>* stop;
  } args;
  args.stop = &stop;
  ASSERT_EQ(pthread_create(
                &thread, nullptr,
                [](void* a) -> void* {
                  auto* args = static_cast<Args*>(a);
                  // A new thread inherits its creator's mask.
                  sigset_t set;
                  sigemptyset(&set);
                  sigaddset(&set, SIGUSR1);
                  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
                  args->tid = Gettid();
                  while (!args->stop->load() && raise_handler_tid.load() == 0) usleep(1000);
                  return nullptr;
                },
                &args),
            0);
  while (args.tid.load() == 0) sched_yield();
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  const int64_t deadline = NowNs() + 5'000'000'000;
  while (raise_handler_tid.load() == 0 && NowNs() < deadline) usleep(1000);
  stop = true;
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_EQ(raise_handler_tid.load(), args.tid.load());
}

TEST(ThreadSignalTest, ProcessSignalAvoidsThreadThatBlocksIt) {
  raise_handler_tid = 0;
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(RecordTid));
  BlockAllState state;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, BlockAllAndWait, &state), 0);
  while (!state.blocked.load()) sched_yield();
  // With the other thread blocking everything, only this thread can take a
  // process-directed signal.
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  state.done = true;
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_EQ(raise_handler_tid.load(), Gettid());
}


}  // namespace
}  // namespace moat::testing
