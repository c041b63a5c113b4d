// futex waits and the signals that interrupt them, with and without a seccomp filter.
//
// A futex is a passthrough syscall: the host runs it without the sentry. Once a process has a
// seccomp filter, the sentry sees it first and has the host run it for the application (on
// seccomp_trap, the stub does, with the sentry's interrupt signal unblocked). Either way a signal
// sent to the waiter must end or restart the wait as on Linux, and a kill must end it.
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <atomic>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::Eq;

std::atomic<int> g_handled{0};

void CountSignal(int) { g_handled.fetch_add(1); }

void InstallHandler(int sig, int flags) {
  struct sigaction sa {};
  sa.sa_handler = CountSignal;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  CHILD_CHECK_SUCCESS(sigaction(sig, &sa, nullptr));
}

long FutexWait(std::atomic<uint32_t>* word, uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, val, timeout,
                 nullptr, 0);
}

void FutexWake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

// An allow-everything filter: the passthrough syscalls now reach the sentry first.
void EnterSeccomp() {
  sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{1, &allow};
  CHILD_CHECK_SUCCESS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  CHILD_CHECK_SUCCESS(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
}

struct Waiter {
  std::atomic<uint32_t> word{0};
  std::atomic<int> started{0};
  std::atomic<long> result{1};  // 1: still waiting
  std::atomic<int> error{0};
  bool timed = false;
  pthread_t thread;

  static void* Run(void* arg) {
    auto* w = static_cast<Waiter*>(arg);
    w->started.store(1);
    timespec ts{30, 0};
    long r = FutexWait(&w->word, 0, w->timed ? &ts : nullptr);
    w->error.store(r < 0 ? errno : 0);
    w->result.store(r);
    return nullptr;
  }

  void Start() {
    CHILD_CHECK(pthread_create(&thread, nullptr, Run, this) == 0);
    while (!started.load()) sched_yield();
    usleep(50'000);  // into the wait
  }

  // Waits up to 5 s for the wait to end by itself; a wait still going on then is woken (so that
  // the thread can be joined) and reported as a failure.
  void JoinExpectingEnd() {
    for (int i = 0; i < 500 && result.load() == 1; i++) usleep(10'000);
    bool ended = result.load() != 1;
    if (!ended) {
      word.store(1);
      FutexWake(&word);
    }
    CHILD_CHECK_SUCCESS(pthread_join(thread, nullptr));
    CHILD_CHECK(ended);
  }
};

// The scenarios run in a child, which may enter seccomp; they report through the exit status.
void InChild(bool seccomp, const std::function<void()>& fn) {
  pid_t pid = ForkChild([&] {
    if (seccomp) EnterSeccomp();
    fn();
    _exit(0);
  });
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

class FutexSignalTest : public ::testing::TestWithParam<bool> {};

TEST_P(FutexSignalTest, HandlerWithoutRestartEndsTheWaitWithEintr) {
  InChild(GetParam(), [] {
    InstallHandler(SIGUSR1, 0);
    Waiter w;
    w.Start();
    CHILD_CHECK_SUCCESS(pthread_kill(w.thread, SIGUSR1));
    w.JoinExpectingEnd();
    CHILD_CHECK(w.result.load() == -1);
    CHILD_CHECK(w.error.load() == EINTR);
    CHILD_CHECK(g_handled.load() == 1);
  });
}

TEST_P(FutexSignalTest, HandlerWithRestartKeepsWaiting) {
  InChild(GetParam(), [] {
    InstallHandler(SIGUSR1, SA_RESTART);
    Waiter w;
    w.Start();
    CHILD_CHECK_SUCCESS(pthread_kill(w.thread, SIGUSR1));
    while (g_handled.load() == 0) usleep(1000);
    usleep(50'000);
    CHILD_CHECK(w.result.load() == 1);  // back in the wait
    w.word.store(1);
    FutexWake(&w.word);
    CHILD_CHECK_SUCCESS(pthread_join(w.thread, nullptr));
    CHILD_CHECK(w.result.load() == 0);
  });
}

TEST_P(FutexSignalTest, IgnoredSignalDoesNotEndTheWait) {
  InChild(GetParam(), [] {
    signal(SIGUSR2, SIG_IGN);
    Waiter w;
    w.Start();
    CHILD_CHECK_SUCCESS(pthread_kill(w.thread, SIGUSR2));
    usleep(50'000);
    CHILD_CHECK(w.result.load() == 1);
    w.word.store(1);
    FutexWake(&w.word);
    CHILD_CHECK_SUCCESS(pthread_join(w.thread, nullptr));
    CHILD_CHECK(w.result.load() == 0);
  });
}

TEST_P(FutexSignalTest, TimedWaitWithHandlerEndsWithEintr) {
  InChild(GetParam(), [] {
    InstallHandler(SIGUSR1, SA_RESTART);
    Waiter w;
    w.timed = true;
    w.Start();
    CHILD_CHECK_SUCCESS(pthread_kill(w.thread, SIGUSR1));
    w.JoinExpectingEnd();
    // A relative timeout makes the wait restartable only through restart_syscall, which a
    // handler's return refuses.
    CHILD_CHECK(w.result.load() == -1);
    CHILD_CHECK(w.error.load() == EINTR);
  });
}

TEST_P(FutexSignalTest, FatalSignalEndsAProcessBlockedInAWait) {
  bool seccomp = GetParam();
  pid_t pid = ForkChild([seccomp] {
    if (seccomp) EnterSeccomp();
    std::atomic<uint32_t> word{0};
    FutexWait(&word, 0, nullptr);
    _exit(1);
  });
  usleep(100'000);
  ASSERT_THAT(kill(pid, SIGTERM), SyscallSucceeds());
  int status = WaitForChild(pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST_P(FutexSignalTest, WakeFromAnotherProcessThroughSharedMemory) {
  bool seccomp = GetParam();
  auto* word = static_cast<std::atomic<uint32_t>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(word, MAP_FAILED);
  word->store(0);
  pid_t pid = ForkChild([seccomp, word] {
    if (seccomp) EnterSeccomp();
    while (word->load() == 0)
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, 0, nullptr, nullptr, 0);
    _exit(word->load() == 7 ? 0 : 1);
  });
  usleep(50'000);
  word->store(7);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  munmap(word, 4096);
}

INSTANTIATE_TEST_SUITE_P(Futex, FutexSignalTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("UnderSeccomp") : std::string("Plain");
                         });

}  // namespace
}  // namespace moat::testing
