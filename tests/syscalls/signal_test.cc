// Conformance tests for signals: dispositions, siginfo, masks, queueing of real-time signals
// and sending (kill, tkill, tgkill). Delivery is in signal_delivery_test.cc.
//
// Most handlers record what they saw in globals that the test body then checks. A signal sent
// by a thread to its own process with the signal unblocked is delivered before kill() returns,
// which keeps these tests free of timing assumptions.

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
// sigaction

TEST(SigactionTest, InstallQueryAndOldAction) {
  struct sigaction first = MakeSigaction(CountingHandler, SA_RESTART);
  sigaddset(&first.sa_mask, SIGUSR2);
  ScopedSigaction scoped(SIGUSR1, first);

  struct sigaction query = {};
  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.sa_handler, CountingHandler);
  EXPECT_TRUE(query.sa_flags & SA_RESTART);
  EXPECT_FALSE(query.sa_flags & SA_SIGINFO);
  EXPECT_EQ(sigismember(&query.sa_mask, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&query.sa_mask, SIGINT), 0);

  struct sigaction second = MakeSigactionInfo(InfoHandler);
  struct sigaction old = {};
  ASSERT_THAT(sigaction(SIGUSR1, &second, &old), SyscallSucceeds());
  EXPECT_EQ(old.sa_handler, CountingHandler);
  EXPECT_TRUE(old.sa_flags & SA_RESTART);

  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.sa_sigaction, InfoHandler);
  EXPECT_TRUE(query.sa_flags & SA_SIGINFO);
  EXPECT_FALSE(query.sa_flags & SA_RESTART);
}

TEST(SigactionTest, KillAndStopCannotBeCaught) {
  struct sigaction sa = MakeSigaction(CountingHandler);
  EXPECT_THAT(sigaction(SIGKILL, &sa, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sigaction(SIGSTOP, &sa, nullptr), SyscallFailsWithErrno(EINVAL));
  struct sigaction ign = MakeSigaction(SIG_IGN);
  EXPECT_THAT(sigaction(SIGKILL, &ign, nullptr), SyscallFailsWithErrno(EINVAL));
  // Querying them is allowed and reports the default action.
  struct sigaction query = {};
  ASSERT_THAT(sigaction(SIGKILL, nullptr, &query), SyscallSucceeds());
  EXPECT_EQ(query.sa_handler, SIG_DFL);
}

TEST(SigactionTest, InvalidSignalNumbers) {
  struct sigaction sa = MakeSigaction(CountingHandler);
  struct sigaction old = {};
  // The raw system call is used because glibc rejects some of these itself.
  EXPECT_THAT(syscall(SYS_rt_sigaction, 0, nullptr, &old, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigaction, 65, nullptr, &old, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sigaction(-1, &sa, nullptr), SyscallFailsWithErrno(EINVAL));
  // The kernel's sigset is 8 bytes; any other size is refused.
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &old, 4), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &old, 16), SyscallFailsWithErrno(EINVAL));
}

TEST(SigactionTest, HandlerRunsWithSignalAndSaMaskBlocked) {
  static volatile sig_atomic_t self_blocked = 0;
  static volatile sig_atomic_t extra_blocked = 0;
  struct sigaction sa = MakeSigaction([](int sig) {
    self_blocked = IsBlocked(sig);
    extra_blocked = IsBlocked(SIGUSR2);
  });
  sigaddset(&sa.sa_mask, SIGUSR2);
  ScopedSigaction scoped(SIGUSR1, sa);
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(self_blocked, 1);
  EXPECT_EQ(extra_blocked, 1);
  // The mask is restored when the handler returns.
  EXPECT_FALSE(IsBlocked(SIGUSR1));
  EXPECT_FALSE(IsBlocked(SIGUSR2));
}

// ---------------------------------------------------------------------------
// siginfo

TEST(SiginfoTest, KillReportsSender) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigactionInfo(InfoHandler));
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(handler_count, 1);
  EXPECT_EQ(last_info.si_signo, SIGUSR1);
  EXPECT_EQ(last_info.si_code, SI_USER);
  EXPECT_EQ(last_info.si_pid, getpid());
  EXPECT_EQ(last_info.si_uid, getuid());
}

TEST(SiginfoTest, KillFromChildReportsChildPid) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigactionInfo(InfoHandler));
  ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
  const pid_t parent = getpid();
  pid_t pid = ForkChild([parent] { CHILD_CHECK_SUCCESS(kill(parent, SIGUSR1)); });
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // Collect the signal synchronously so the test needs no timing.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  siginfo_t info = {};
  ASSERT_THAT(sigwaitinfo(&set, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_code, SI_USER);
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_uid, getuid());
}

TEST(SiginfoTest, TgkillReportsSiTkill) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigactionInfo(InfoHandler));
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), Gettid(), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(handler_count, 1);
  EXPECT_EQ(last_info.si_code, SI_TKILL);
  EXPECT_EQ(last_info.si_pid, getpid());
}

TEST(SiginfoTest, SigqueueCarriesValue) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigactionInfo(InfoHandler));
  union sigval value;
  value.sival_int = 0x1234;
  ASSERT_THAT(sigqueue(getpid(), SIGUSR1, value), SyscallSucceeds());
  ASSERT_EQ(handler_count, 1);
  EXPECT_EQ(last_info.si_code, SI_QUEUE);
  EXPECT_EQ(last_info.si_value.sival_int, 0x1234);
  EXPECT_EQ(last_info.si_pid, getpid());
}

TEST(SiginfoTest, RtSigqueueinfoToOtherProcessCannotForgeKernelCodes) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  info.si_signo = SIGUSR1;
  info.si_code = SI_USER;  // Codes >= 0 are reserved for the kernel.
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallFailsWithErrno(EPERM));
  info.si_code = SI_TKILL;
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallFailsWithErrno(EPERM));
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

// ---------------------------------------------------------------------------
// Masks and pending signals

TEST(MaskTest, BlockedSignalIsPendingUntilUnblocked) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(CountingHandler));
  {
    ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
    ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
    EXPECT_EQ(handler_count, 0);
    EXPECT_TRUE(IsPending(SIGUSR1));
  }
  // Unblocking delivers the pending signal before sigprocmask returns.
  EXPECT_EQ(handler_count, 1);
  EXPECT_FALSE(IsPending(SIGUSR1));
}

TEST(MaskTest, StandardSignalIsPendingOnlyOnce) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR1, MakeSigaction(CountingHandler));
  {
    ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
    for (int i = 0; i < 3; i++) ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  }
  EXPECT_EQ(handler_count, 1);
}

TEST(MaskTest, KillAndStopCannotBeBlocked) {
  sigset_t set, old, now;
  sigemptyset(&set);
  sigaddset(&set, SIGKILL);
  sigaddset(&set, SIGSTOP);
  sigaddset(&set, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &set, &old), SyscallSucceeds());
  ASSERT_THAT(sigprocmask(SIG_BLOCK, nullptr, &now), SyscallSucceeds());
  // The kernel silently drops SIGKILL and SIGSTOP from the mask.
  EXPECT_EQ(sigismember(&now, SIGKILL), 0);
  EXPECT_EQ(sigismember(&now, SIGSTOP), 0);
  EXPECT_EQ(sigismember(&now, SIGUSR2), 1);
  ASSERT_THAT(sigprocmask(SIG_SETMASK, &old, nullptr), SyscallSucceeds());
}

TEST(MaskTest, HowAndSizeAreValidated) {
  sigset_t set;
  sigemptyset(&set);
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, 42, &set, nullptr, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 4),
              SyscallFailsWithErrno(EINVAL));
  // An invalid how is ignored when there is no new set.
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, 42, nullptr, &set, 8), SyscallSucceeds());
}

TEST(MaskTest, SigUnblockAndSetmask) {
  ScopedSignalMask restore(SIG_BLOCK, {});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &set, nullptr), SyscallSucceeds());
  sigdelset(&set, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &set, nullptr), SyscallSucceeds());
  EXPECT_FALSE(IsBlocked(SIGUSR1));
  EXPECT_TRUE(IsBlocked(SIGUSR2));
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  ASSERT_THAT(sigprocmask(SIG_SETMASK, &set, nullptr), SyscallSucceeds());
  EXPECT_TRUE(IsBlocked(SIGHUP));
  EXPECT_FALSE(IsBlocked(SIGUSR2));
}

// ---------------------------------------------------------------------------
// Real-time signals

std::vector<std::pair<int, int>> rt_deliveries;

void RecordRtDelivery(int sig, siginfo_t* info, void*) {
  rt_deliveries.emplace_back(sig, info->si_value.sival_int);
}

TEST(RealtimeTest, QueuedInOrderLowestSignalFirst) {
  rt_deliveries.clear();
  rt_deliveries.reserve(16);
  const int low = SIGRTMIN;
  const int high = SIGRTMIN + 1;
  // The handler blocks both signals so that each delivery completes before
  // the next starts; otherwise a newly unblocked signal would be delivered in
  // a nested frame and its handler would run first.
  struct sigaction sa = MakeSigactionInfo(RecordRtDelivery);
  sigaddset(&sa.sa_mask, low);
  sigaddset(&sa.sa_mask, high);
  ScopedSigaction scoped_low(low, sa);
  ScopedSigaction scoped_high(high, sa);
  {
    ScopedSignalMask mask(SIG_BLOCK, {low, high});
    union sigval v;
    for (int value : {1, 2}) {
      v.sival_int = value;
      ASSERT_THAT(sigqueue(getpid(), high, v), SyscallSucceeds());
    }
    for (int value : {3, 4}) {
      v.sival_int = value;
      ASSERT_THAT(sigqueue(getpid(), low, v), SyscallSucceeds());
    }
    EXPECT_TRUE(rt_deliveries.empty());
  }
  std::vector<std::pair<int, int>> expected = {{low, 3}, {low, 4}, {high, 1}, {high, 2}};
  EXPECT_EQ(rt_deliveries, expected);
}

TEST(RealtimeTest, SigwaitinfoDequeuesInOrder) {
  const int low = SIGRTMIN + 2;
  const int high = SIGRTMIN + 3;
  ScopedSignalMask mask(SIG_BLOCK, {low, high});
  siginfo_t info = {};
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  for (int value : {10, 11}) {
    info.si_value.sival_int = value;
    ASSERT_THAT(syscall(SYS_rt_sigqueueinfo, getpid(), high, &info), SyscallSucceeds());
  }
  info.si_value.sival_int = 12;
  ASSERT_THAT(syscall(SYS_rt_sigqueueinfo, getpid(), low, &info), SyscallSucceeds());

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, low);
  sigaddset(&set, high);
  std::vector<std::pair<int, int>> got;
  for (int i = 0; i < 3; i++) {
    siginfo_t out = {};
    int sig = sigwaitinfo(&set, &out);
    ASSERT_THAT(sig, SyscallSucceeds());
    EXPECT_EQ(out.si_signo, sig);
    EXPECT_EQ(out.si_code, SI_QUEUE);
    got.emplace_back(sig, out.si_value.sival_int);
  }
  std::vector<std::pair<int, int>> expected = {{low, 12}, {high, 10}, {high, 11}};
  EXPECT_EQ(got, expected);
  EXPECT_FALSE(IsPending(low));
  EXPECT_FALSE(IsPending(high));
}

// ---------------------------------------------------------------------------
// kill, tgkill and tkill

TEST(KillTest, SignalZeroChecksExistence) {
  EXPECT_THAT(kill(getpid(), 0), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), ExitedWith(0));
  EXPECT_THAT(kill(pid, 0), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(kill(pid, SIGUSR1), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(syscall(SYS_tkill, pid, 0), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(syscall(SYS_tgkill, pid, pid, 0), SyscallFailsWithErrno(ESRCH));
}

TEST(KillTest, InvalidSignalIsEinval) {
  EXPECT_THAT(kill(getpid(), 65), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(kill(getpid(), -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tgkill, getpid(), Gettid(), 65), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tkill, Gettid(), 65), SyscallFailsWithErrno(EINVAL));
}

TEST(KillTest, NonPositiveIdsAreEinvalForThreadKills) {
  EXPECT_THAT(syscall(SYS_tgkill, 0, Gettid(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tgkill, getpid(), 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tgkill, -1, Gettid(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tkill, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tkill, -1, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(KillTest, TkillToSelf) {
  ResetHandlerState();
  ScopedSigaction scoped(SIGUSR2, MakeSigactionInfo(InfoHandler));
  ASSERT_THAT(syscall(SYS_tkill, Gettid(), SIGUSR2), SyscallSucceeds());
  EXPECT_EQ(handler_count, 1);
  EXPECT_EQ(last_info.si_code, SI_TKILL);
}


}  // namespace
}  // namespace moat::testing
