// Conformance tests for process lifecycle system calls: fork, vfork, wait4,
// waitid, exit_group, threads, process groups and sessions, and the prctl
// calls that concern the process tree.

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::Eq;
using ::testing::Ne;

pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// A pipe whose ends are closed when the object is destroyed.
struct Pipe {
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
      return;
    }
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  FileDescriptor read_end;
  FileDescriptor write_end;
};

// Forks a child that blocks until the write end of the returned pipe is
// closed and then exits with exit_code. Lets a test control exactly when a
// child exits without relying on timing.
pid_t ForkChildWaitingForClose(Pipe& p, int exit_code) {
  pid_t pid = fork();
  if (pid == 0) {
    p.write_end.reset();
    char c;
    while (read(p.read_end.get(), &c, 1) == -1 && errno == EINTR) {
    }
    _exit(exit_code);
  }
  p.read_end.reset();
  return pid;
}

TEST(ForkTest, Wait4ReportsExitCodes) {
  for (int code : {0, 1, 42, 255}) {
    pid_t pid = fork();
    if (pid == 0) _exit(code);
    ASSERT_THAT(pid, SyscallSucceeds());
    int status = 0;
    struct rusage ru = {};
    ASSERT_THAT(wait4(pid, &status, 0, &ru), SyscallSucceedsWithValue(pid));
    EXPECT_THAT(status, ExitedWith(code));
  }
}

TEST(ForkTest, ExitCodeIsTruncatedToEightBits) {
  pid_t pid = fork();
  if (pid == 0) _exit(256 + 3);
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(3));
}

TEST(ForkTest, ChildHasNewPidAndParentIsCaller) {
  const pid_t parent = getpid();
  Pipe p;
  pid_t pid = fork();
  if (pid == 0) {
    pid_t values[2] = {getpid(), getppid()};
    CHILD_CHECK(values[0] != parent);
    CHILD_CHECK(values[1] == parent);
    CHILD_CHECK(WriteAll(p.write_end.get(), values, sizeof(values)));
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  p.write_end.reset();
  pid_t values[2] = {};
  EXPECT_THAT(read(p.read_end.get(), values, sizeof(values)),
              SyscallSucceedsWithValue(sizeof(values)));
  // The pid the child sees for itself is the pid fork returned to the parent.
  EXPECT_EQ(values[0], pid);
  EXPECT_EQ(values[1], parent);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(ForkTest, ChildMemoryIsACopy) {
  static int value = 1;
  EXPECT_CHILD_SUCCEEDS([] {
    value = 2;
    CHILD_CHECK(value == 2);
  });
  EXPECT_EQ(value, 1);
}

TEST(ForkTest, KilledChildReportsSignal) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

TEST(WaitTest, WnohangReturnsZeroWhileChildRuns) {
  Pipe p;
  pid_t pid = ForkChildWaitingForClose(p, 5);
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = -1;
  EXPECT_THAT(waitpid(pid, &status, WNOHANG), SyscallSucceedsWithValue(0));
  EXPECT_THAT(waitpid(-1, &status, WNOHANG), SyscallSucceedsWithValue(0));
  p.write_end.reset();
  EXPECT_THAT(WaitForChild(pid), ExitedWith(5));
}

TEST(WaitTest, NoChildrenIsEchild) {
  EXPECT_THAT(wait(nullptr), SyscallFailsWithErrno(ECHILD));
  EXPECT_THAT(waitpid(-1, nullptr, WNOHANG), SyscallFailsWithErrno(ECHILD));
  // Our own pid is not one of our children.
  EXPECT_THAT(waitpid(getpid(), nullptr, 0), SyscallFailsWithErrno(ECHILD));
  siginfo_t info = {};
  EXPECT_THAT(waitid(P_ALL, 0, &info, WEXITED), SyscallFailsWithErrno(ECHILD));
}

TEST(WaitTest, ReapedChildIsGone) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  EXPECT_THAT(waitpid(pid, nullptr, 0), SyscallFailsWithErrno(ECHILD));
  EXPECT_THAT(kill(pid, 0), SyscallFailsWithErrno(ESRCH));
}

TEST(WaitTest, InvalidOptionsAreEinval) {
  // wait4 has no use for the waitid-only flags, nor for unknown bits.
  EXPECT_THAT(waitpid(-1, nullptr, WNOWAIT), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(waitpid(-1, nullptr, 0x100), SyscallFailsWithErrno(EINVAL));
  siginfo_t info = {};
  // waitid needs at least one of WEXITED, WSTOPPED and WCONTINUED.
  EXPECT_THAT(waitid(P_ALL, 0, &info, WNOHANG), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(waitid(static_cast<idtype_t>(42), 0, &info, WEXITED), SyscallFailsWithErrno(EINVAL));
}

TEST(WaitTest, WaitidPidReportsExit) {
  pid_t pid = fork();
  if (pid == 0) _exit(9);
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED), SyscallSucceedsWithValue(0));
  EXPECT_EQ(info.si_signo, SIGCHLD);
  EXPECT_EQ(info.si_code, CLD_EXITED);
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_uid, getuid());
  EXPECT_EQ(info.si_status, 9);
  EXPECT_THAT(waitpid(pid, nullptr, WNOHANG), SyscallFailsWithErrno(ECHILD));
}

TEST(WaitTest, WaitidReportsKillingSignal) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGTERM), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED), SyscallSucceedsWithValue(0));
  EXPECT_EQ(info.si_code, CLD_KILLED);
  EXPECT_EQ(info.si_status, SIGTERM);
  EXPECT_EQ(info.si_pid, pid);
}

TEST(WaitTest, WaitidAllFindsAnyChild) {
  pid_t pid = fork();
  if (pid == 0) _exit(4);
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_ALL, 0, &info, WEXITED), SyscallSucceedsWithValue(0));
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_status, 4);
}

TEST(WaitTest, WaitidWnohangLeavesInfoEmptyWhileChildRuns) {
  Pipe p;
  pid_t pid = ForkChildWaitingForClose(p, 0);
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info;
  memset(&info, 0xff, sizeof(info));
  info.si_pid = 12345;
  // Linux zeroes si_pid (and si_signo) when no child is ready.
  EXPECT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOHANG), SyscallSucceedsWithValue(0));
  EXPECT_EQ(info.si_pid, 0);
  p.write_end.reset();
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(WaitTest, WnowaitLeavesChildWaitable) {
  pid_t pid = fork();
  if (pid == 0) _exit(12);
  ASSERT_THAT(pid, SyscallSucceeds());
  for (int i = 0; i < 2; i++) {
    siginfo_t info = {};
    ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceedsWithValue(0));
    EXPECT_EQ(info.si_pid, pid);
    EXPECT_EQ(info.si_status, 12);
  }
  EXPECT_THAT(WaitForChild(pid), ExitedWith(12));
}

TEST(WaitTest, ZombieExistsUntilReaped) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  // WNOWAIT waits for the exit without reaping, so afterwards the child is
  // certainly a zombie.
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  // A zombie still exists as far as kill() is concerned.
  EXPECT_THAT(kill(pid, 0), SyscallSucceeds());
  // Signalling a zombie succeeds and has no effect on its status.
  EXPECT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  EXPECT_THAT(kill(pid, 0), SyscallFailsWithErrno(ESRCH));
}

TEST(WaitTest, WaitForSpecificChildIgnoresOthers) {
  Pipe p;
  pid_t slow = ForkChildWaitingForClose(p, 1);
  ASSERT_THAT(slow, SyscallSucceeds());
  pid_t fast = fork();
  if (fast == 0) _exit(2);
  ASSERT_THAT(fast, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(fast), ExitedWith(2));
  EXPECT_THAT(waitpid(slow, nullptr, WNOHANG), SyscallSucceedsWithValue(0));
  p.write_end.reset();
  EXPECT_THAT(WaitForChild(slow), ExitedWith(1));
}

// vfork suspends the parent until the child execs or exits, and the child
// runs in the parent's memory until then.
volatile int vfork_value = 0;

TEST(VforkTest, ChildRunsFirstInSharedMemory) {
  vfork_value = 0;
  pid_t pid = vfork();
  if (pid == 0) {
    vfork_value = 77;
    _exit(3);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  // The child has already run to _exit, and its store is in our memory.
  EXPECT_EQ(vfork_value, 77);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(3));
}

TEST(ThreadTest, MainThreadTidIsPid) { EXPECT_EQ(Gettid(), getpid()); }

void* ReportIds(void* arg) {
  auto* ids = static_cast<pid_t*>(arg);
  ids[0] = getpid();
  ids[1] = Gettid();
  return reinterpret_cast<void*>(static_cast<intptr_t>(0x5a));
}

TEST(ThreadTest, CreateAndJoin) {
  pthread_t thread;
  pid_t ids[2] = {};
  ASSERT_EQ(pthread_create(&thread, nullptr, ReportIds, ids), 0);
  void* ret = nullptr;
  ASSERT_EQ(pthread_join(thread, &ret), 0);
  EXPECT_EQ(ret, reinterpret_cast<void*>(static_cast<intptr_t>(0x5a)));
  EXPECT_EQ(ids[0], getpid());
  EXPECT_NE(ids[1], getpid());
  EXPECT_GT(ids[1], 0);
}

TEST(ThreadTest, ManyThreadsHaveDistinctTids) {
  constexpr int kThreads = 8;
  std::vector<pthread_t> threads(kThreads);
  std::vector<std::array<pid_t, 2>> ids(kThreads);
  for (int i = 0; i < kThreads; i++) {
    ASSERT_EQ(pthread_create(&threads[i], nullptr, ReportIds, ids[i].data()), 0);
  }
  std::set<pid_t> tids = {getpid()};
  for (int i = 0; i < kThreads; i++) {
    ASSERT_EQ(pthread_join(threads[i], nullptr), 0);
    EXPECT_EQ(ids[i][0], getpid());
    tids.insert(ids[i][1]);
  }
  EXPECT_EQ(tids.size(), static_cast<size_t>(kThreads + 1));
}

std::atomic<pid_t> tgkill_handler_tid{0};

void RecordHandlerTid(int) { tgkill_handler_tid = Gettid(); }

struct TgkillState {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
};

void* WaitForSignal(void* arg) {
  auto* state = static_cast<TgkillState*>(arg);
  state->tid = Gettid();
  while (tgkill_handler_tid.load() == 0 && !state->done.load()) {
    sched_yield();
  }
  return nullptr;
}

TEST(ThreadTest, TgkillTargetsOneThread) {
  tgkill_handler_tid = 0;
  ScopedSigaction action(SIGUSR1, MakeSigaction(RecordHandlerTid));
  TgkillState state;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, WaitForSignal, &state), 0);
  while (state.tid.load() == 0) sched_yield();
  // The main thread keeps SIGUSR1 blocked, so only a thread-directed signal
  // can reach the other thread; the handler records which thread ran it.
  {
    ScopedSignalMask mask(SIG_BLOCK, {SIGUSR1});
    EXPECT_THAT(syscall(SYS_tgkill, getpid(), state.tid.load(), SIGUSR1), SyscallSucceeds());
    const int64_t deadline = NowNs() + 5'000'000'000;
    while (tgkill_handler_tid.load() == 0 && NowNs() < deadline) sched_yield();
  }
  state.done = true;
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_EQ(tgkill_handler_tid.load(), state.tid.load());
}

TEST(ThreadTest, TgkillToOwnThread) {
  tgkill_handler_tid = 0;
  ScopedSigaction action(SIGUSR1, MakeSigaction(RecordHandlerTid));
  // A signal sent to the calling thread itself is delivered before the
  // system call returns.
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), Gettid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(tgkill_handler_tid.load(), Gettid());
}

TEST(ThreadTest, TgkillWithWrongTgidIsEsrch) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  // Our thread id is not a thread of the child's thread group.
  EXPECT_THAT(syscall(SYS_tgkill, pid, Gettid(), 0), SyscallFailsWithErrno(ESRCH));
  kill(pid, SIGKILL);
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGKILL));
}

void* ExitGroupFromThread(void*) {
  syscall(SYS_exit_group, 7);
  return nullptr;
}

TEST(ThreadTest, ExitGroupFromThreadEndsProcess) {
  EXPECT_THAT(ForkAndWait([] {
                pthread_t thread;
                CHILD_CHECK(pthread_create(&thread, nullptr, ExitGroupFromThread, nullptr) == 0);
                // The main thread never returns from here on its own; the
                // exit_group in the other thread must end it.
                for (;;) pause();
              }),
              ExitedWith(7));
}

void* ExitOnlyThisThread(void*) {
  syscall(SYS_exit, 0);
  return nullptr;
}

TEST(ThreadTest, ExitFromThreadLeavesProcessRunning) {
  EXPECT_CHILD_SUCCEEDS([] {
    pthread_t thread;
    CHILD_CHECK(pthread_create(&thread, nullptr, ExitOnlyThisThread, nullptr) == 0);
    // pthread_join waits for the kernel to clear the thread's tid, which it
    // does when the thread exits through exit(2) just as through a return.
    CHILD_CHECK(pthread_join(thread, nullptr) == 0);
    _exit(0);
  });
}

void* ExitMainLater(void* arg) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  // Wait until the main thread has gone, then exit the process ourselves.
  char c;
  while (read(fd, &c, 1) == -1 && errno == EINTR) {
  }
  syscall(SYS_exit_group, 21);
  return nullptr;
}

TEST(ThreadTest, ProcessOutlivesItsMainThread) {
  EXPECT_THAT(
      ForkAndWait([] {
        int fds[2];
        CHILD_CHECK_SUCCESS(pipe(fds));
        pthread_t thread;
        CHILD_CHECK(pthread_create(&thread, nullptr, ExitMainLater,
                                   reinterpret_cast<void*>(static_cast<intptr_t>(fds[0]))) == 0);
        // Closing the write end lets the other thread proceed; the
        // process must keep running after the main thread exits.
        close(fds[1]);
        syscall(SYS_exit, 0);
      }),
      ExitedWith(21));
}

void* ExitAfterMain(void* arg) {
  // The main thread's tid word is cleared when it exits (glibc gave it to set_tid_address), so
  // it can be joined.
  pthread_join(*static_cast<pthread_t*>(arg), nullptr);
  // exit(2), not exit_group: the last thread leaves alone.
  syscall(SYS_exit, 5);
  return nullptr;
}

// Without exit_group, the process's status is the code of its last thread to exit(2), not the
// main thread's (Linux's synchronize_group_exit()).
TEST(ThreadTest, StatusIsTheLastThreadsExitCode) {
  EXPECT_THAT(
      ForkAndWait([] {
        static pthread_t main_thread = pthread_self();
        pthread_t thread;
        CHILD_CHECK(pthread_create(&thread, nullptr, ExitAfterMain, &main_thread) == 0);
        syscall(SYS_exit, 3);
      }),
      ExitedWith(5));
}

TEST(ReparentTest, OrphanGoesToSubreaper) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int is_subreaper = 0;
    CHILD_CHECK_SUCCESS(prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper, 0, 0, 0));
    CHILD_CHECK(is_subreaper == 1);
    const pid_t subreaper = getpid();
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe(fds));
    pid_t middle = fork();
    if (middle == 0) {
      pid_t grandchild = fork();
      if (grandchild == 0) {
        // Wait (bounded) for our parent to exit and for us to be reparented.
        for (int i = 0; i < 5000 && getppid() != subreaper; i++) usleep(1000);
        _exit(getppid() == subreaper ? 17 : 1);
      }
      CHILD_CHECK(write(fds[1], &grandchild, sizeof(grandchild)) == sizeof(grandchild));
      _exit(0);
    }
    CHILD_CHECK_SUCCESS(middle);
    pid_t grandchild = 0;
    CHILD_CHECK(read(fds[0], &grandchild, sizeof(grandchild)) == sizeof(grandchild));
    int status = 0;
    CHILD_CHECK(waitpid(middle, &status, 0) == middle);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    // The grandchild is now our child, so we can wait for it.
    CHILD_CHECK(waitpid(-1, &status, 0) == grandchild);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 17);
    CHILD_CHECK_ERRNO(waitpid(-1, &status, 0), ECHILD);
  });
}

TEST(ReparentTest, PdeathsigIsSentWhenParentExits) {
  EXPECT_CHILD_SUCCEEDS([] {
    // We become the subreaper so that the orphan can be observed here.
    CHILD_CHECK_SUCCESS(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe(fds));
    pid_t middle = fork();
    if (middle == 0) {
      pid_t grandchild = fork();
      if (grandchild == 0) {
        CHILD_CHECK_SUCCESS(prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0));
        int sig = 0;
        CHILD_CHECK_SUCCESS(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
        CHILD_CHECK(sig == SIGTERM);
        CHILD_CHECK(write(fds[1], &grandchild, 1) == 1);
        // SIGTERM's default action ends us once the middle process exits.
        for (int i = 0; i < 5000; i++) usleep(1000);
        _exit(1);
      }
      // Exit only once the grandchild has armed its death signal.
      char c;
      CHILD_CHECK(read(fds[0], &c, 1) == 1);
      _exit(0);
    }
    CHILD_CHECK_SUCCESS(middle);
    int status = 0;
    CHILD_CHECK(waitpid(middle, &status, 0) == middle);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_CHECK(waitpid(-1, &status, 0) > 0);
    CHILD_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  });
}

TEST(ReparentTest, PdeathsigIsClearedInForkedChild) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0));
    pid_t pid = fork();
    if (pid == 0) {
      int sig = -1;
      CHILD_CHECK_SUCCESS(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
      _exit(sig == 0 ? 0 : 1);
    }
    int status = 0;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

TEST(ReparentTest, PdeathsigRejectsInvalidSignal) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_ERRNO(prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_SET_PDEATHSIG, -1, 0, 0, 0), EINVAL);
  });
}

TEST(SessionTest, QueriesAgreeForSelf) {
  EXPECT_THAT(getpgid(0), SyscallSucceedsWithValue(getpgrp()));
  EXPECT_THAT(getpgid(getpid()), SyscallSucceedsWithValue(getpgrp()));
  EXPECT_THAT(getsid(0), SyscallSucceedsWithValue(getsid(getpid())));
}

TEST(SessionTest, ChildInheritsGroupAndSession) {
  const pid_t pgid = getpgrp();
  const pid_t sid = getsid(0);
  EXPECT_CHILD_SUCCEEDS([pgid, sid] {
    CHILD_CHECK(getpgrp() == pgid);
    CHILD_CHECK(getsid(0) == sid);
  });
}

TEST(SessionTest, SetpgidMakesGroupLeader) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setpgid(0, 0));
    CHILD_CHECK(getpgid(0) == getpid());
    CHILD_CHECK(getpgrp() == getpid());
    // A process group leader cannot start a new session.
    CHILD_CHECK_ERRNO(setsid(), EPERM);
  });
}

TEST(SessionTest, SetsidCreatesSessionAndGroup) {
  EXPECT_CHILD_SUCCEEDS([] {
    const pid_t old_sid = getsid(0);
    pid_t sid = setsid();
    CHILD_CHECK(sid == getpid());
    CHILD_CHECK(getsid(0) == getpid());
    CHILD_CHECK(getpgid(0) == getpid());
    CHILD_CHECK(old_sid != getpid());
    // Neither a second setsid nor moving the session leader's group works.
    CHILD_CHECK_ERRNO(setsid(), EPERM);
    CHILD_CHECK_ERRNO(setpgid(0, 0), EPERM);
  });
}

TEST(SessionTest, SetpgidToMissingGroupIsEperm) {
  // A reaped child's pid names no process group, so joining it is refused.
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_THAT(gone, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(gone), ExitedWith(0));
  EXPECT_CHILD_SUCCEEDS([gone] { CHILD_CHECK_ERRNO(setpgid(0, gone), EPERM); });
}

TEST(SessionTest, SetpgidNegativeGroupIsEinval) {
  EXPECT_CHILD_SUCCEEDS([] { CHILD_CHECK_ERRNO(setpgid(0, -1), EINVAL); });
}

TEST(SessionTest, SetpgidOfNonChildIsEsrch) {
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_THAT(gone, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(gone), ExitedWith(0));
  EXPECT_THAT(setpgid(gone, gone), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(getpgid(gone), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(getsid(gone), SyscallFailsWithErrno(ESRCH));
}

TEST(SessionTest, ParentCanMoveChildIntoNewGroup) {
  Pipe p;
  pid_t pid = ForkChildWaitingForClose(p, 0);
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(setpgid(pid, pid), SyscallSucceeds());
  EXPECT_THAT(getpgid(pid), SyscallSucceedsWithValue(pid));
  p.write_end.reset();
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(SessionTest, SetpgidOfChildInOtherSessionIsEperm) {
  Pipe ready;
  Pipe release;
  pid_t pid = fork();
  if (pid == 0) {
    ready.read_end.reset();
    release.write_end.reset();
    CHILD_CHECK(setsid() == getpid());
    CHILD_CHECK(write(ready.write_end.get(), "x", 1) == 1);
    char c;
    while (read(release.read_end.get(), &c, 1) == -1 && errno == EINTR) {
    }
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ready.write_end.reset();
  release.read_end.reset();
  char c;
  ASSERT_THAT(read(ready.read_end.get(), &c, 1), SyscallSucceedsWithValue(1));
  // The child is now a session leader in a session other than ours.
  EXPECT_THAT(setpgid(pid, pid), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(getsid(pid), SyscallSucceedsWithValue(pid));
  release.write_end.reset();
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(KillTest, SignalToProcessGroup) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setpgid(0, 0));
    // Two children in our new group; kill(-pgid) must reach both.
    pid_t kids[2];
    for (pid_t& kid : kids) {
      kid = fork();
      if (kid == 0) {
        for (;;) pause();
      }
      CHILD_CHECK_SUCCESS(kid);
    }
    signal(SIGUSR1, SIG_IGN);  // Spare ourselves: we are in the group too.
    CHILD_CHECK_SUCCESS(kill(-getpid(), SIGUSR1));
    for (pid_t kid : kids) {
      int status = 0;
      CHILD_CHECK(waitpid(kid, &status, 0) == kid);
      CHILD_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
    }
  });
}

TEST(PrctlTest, SetAndGetName) {
  char original[16] = {};
  ASSERT_THAT(prctl(PR_GET_NAME, original, 0, 0, 0), SyscallSucceeds());
  ASSERT_THAT(prctl(PR_SET_NAME, "moat-test", 0, 0, 0), SyscallSucceeds());
  char name[16] = {};
  ASSERT_THAT(prctl(PR_GET_NAME, name, 0, 0, 0), SyscallSucceeds());
  EXPECT_STREQ(name, "moat-test");
  // Names are cut to 15 characters plus the terminating NUL.
  ASSERT_THAT(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0), SyscallSucceeds());
  memset(name, 'x', sizeof(name));
  ASSERT_THAT(prctl(PR_GET_NAME, name, 0, 0, 0), SyscallSucceeds());
  EXPECT_STREQ(name, "abcdefghijklmno");
  ASSERT_THAT(prctl(PR_SET_NAME, original, 0, 0, 0), SyscallSucceeds());
}

void* GetThreadName(void* arg) {
  prctl(PR_GET_NAME, arg, 0, 0, 0);
  return nullptr;
}

TEST(PrctlTest, NameIsPerThreadAndInherited) {
  char original[16] = {};
  ASSERT_THAT(prctl(PR_GET_NAME, original, 0, 0, 0), SyscallSucceeds());
  ASSERT_THAT(prctl(PR_SET_NAME, "parent-name", 0, 0, 0), SyscallSucceeds());
  // A new thread starts with its creator's name.
  char name[16] = {};
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, GetThreadName, name), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_STREQ(name, "parent-name");
  // Renaming another thread does not rename this one.
  ASSERT_EQ(pthread_create(
                &thread, nullptr,
                [](void*) -> void* {
                  prctl(PR_SET_NAME, "other", 0, 0, 0);
                  return nullptr;
                },
                nullptr),
            0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  memset(name, 0, sizeof(name));
  ASSERT_THAT(prctl(PR_GET_NAME, name, 0, 0, 0), SyscallSucceeds());
  EXPECT_STREQ(name, "parent-name");
  ASSERT_THAT(prctl(PR_SET_NAME, original, 0, 0, 0), SyscallSucceeds());
}

TEST(PrctlTest, UnknownOptionIsEinval) {
  EXPECT_THAT(prctl(0x7fff0000, 0, 0, 0, 0), SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace moat::testing
