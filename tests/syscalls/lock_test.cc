// Conformance tests for advisory locks: flock(2) locks owned by open file descriptions, fcntl(2)
// POSIX record locks owned by processes, and open file description (OFD) record locks.
// Conflicts across processes are checked from forked children.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

struct flock MakeLock(short type, off_t start, off_t len, short whence = SEEK_SET) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = whence;
  fl.l_start = start;
  fl.l_len = len;
  return fl;
}

// What F_GETLK reports for a request of `type` over [start, start+len).
struct flock TestLock(int fd, short type, off_t start, off_t len, int cmd = F_GETLK) {
  struct flock fl = MakeLock(type, start, len);
  if (fcntl(fd, cmd, &fl) != 0) ADD_FAILURE() << "F_GETLK: " << ErrnoString(errno);
  return fl;
}

class LockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.Join("file");
    ASSERT_TRUE(CreateFileWithContents(path_, std::string(100, 'x')));
  }
  int Open(int flags = O_RDWR) {
    int fd = open(path_.c_str(), flags | O_CLOEXEC);
    if (fd < 0) ADD_FAILURE() << "open: " << ErrnoString(errno);
    return fd;
  }

  TempDir dir_;
  std::string path_;
};

// A pipe a child and its parent use to say "ready".
struct Signal {
  Signal() {
    if (pipe(fds) != 0) ADD_FAILURE() << "pipe: " << ErrnoString(errno);
  }
  ~Signal() {
    close(fds[0]);
    close(fds[1]);
  }
  void Post() const {
    char c = 1;
    if (write(fds[1], &c, 1) != 1) _exit(kChildCheckFailed);
  }
  void Wait() const {
    char c;
    ssize_t n;
    do {
      n = read(fds[0], &c, 1);
    } while (n == -1 && errno == EINTR);
  }
  int fds[2] = {-1, -1};
};

// ---- flock ----

TEST_F(LockTest, FlockExcludesOtherDescriptions) {
  FileDescriptor a(Open()), b(Open());
  ASSERT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  EXPECT_THAT(flock(b.get(), LOCK_EX | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  ASSERT_THAT(flock(a.get(), LOCK_UN), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
}

TEST_F(LockTest, FlockSharedLocksCoexist) {
  FileDescriptor a(Open()), b(Open(O_RDONLY));
  ASSERT_THAT(flock(a.get(), LOCK_SH), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(a.get(), LOCK_EX | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
}

TEST_F(LockTest, FlockFailedConversionDropsTheOldLock) {
  FileDescriptor a(Open()), b(Open());
  ASSERT_THAT(flock(a.get(), LOCK_SH), SyscallSucceeds());
  ASSERT_THAT(flock(b.get(), LOCK_SH), SyscallSucceeds());
  // Linux drops a's shared lock before trying the exclusive one, which then fails.
  EXPECT_THAT(flock(a.get(), LOCK_EX | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  EXPECT_THAT(flock(b.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
}

TEST_F(LockTest, FlockIsSharedByDupAndRelock) {
  FileDescriptor a(Open()), b(Open());
  FileDescriptor a2(dup(a.get()));
  ASSERT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  // The same description may lock again and convert.
  EXPECT_THAT(flock(a2.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(a2.get(), LOCK_SH | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_UN), SyscallSucceeds());
  EXPECT_THAT(flock(a2.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
  // Closing one of two fds of the description keeps the lock; closing the last drops it.
  a.reset();
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  a2.reset();
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallSucceeds());
}

TEST_F(LockTest, FlockIsInheritedAcrossFork) {
  FileDescriptor a(Open());
  ASSERT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    int b = open(path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(b);
    CHILD_CHECK_ERRNO(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    // The child's copy of the fd refers to the same description: unlocking it unlocks the
    // parent's lock too.
    CHILD_CHECK_SUCCESS(flock(a.get(), LOCK_UN));
    CHILD_CHECK_SUCCESS(flock(b, LOCK_EX | LOCK_NB));
  });
}

TEST_F(LockTest, FlockBlocksUntilReleased) {
  FileDescriptor a(Open());
  Signal locked;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    int b = open(path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(b);
    CHILD_CHECK_SUCCESS(flock(b, LOCK_EX));
    locked.Post();
    SleepMs(100);
    // Exiting closes b, the last reference to its description.
  });
  locked.Wait();
  EXPECT_THAT(flock(a.get(), LOCK_EX | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  EXPECT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST_F(LockTest, FlockErrors) {
  FileDescriptor a(Open());
  EXPECT_THAT(flock(a.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(flock(a.get(), LOCK_SH | LOCK_EX), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(flock(-1, LOCK_SH), SyscallFailsWithErrno(EBADF));
  // The operation is checked before the fd.
  EXPECT_THAT(flock(-1, 0), SyscallFailsWithErrno(EINVAL));
  FileDescriptor p(open(path_.c_str(), O_PATH));
  EXPECT_THAT(flock(p.get(), LOCK_SH), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(flock(p.get(), LOCK_UN), SyscallFailsWithErrno(EBADF));
}

TEST_F(LockTest, FlockAndRecordLocksAreIndependent) {
  FileDescriptor a(Open()), b(Open());
  ASSERT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  struct flock fl = MakeLock(F_WRLCK, 0, 0);
  EXPECT_THAT(fcntl(b.get(), F_OFD_SETLK, &fl), SyscallSucceeds());
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    int c = open(path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(c);
    struct flock w = MakeLock(F_WRLCK, 0, 0);
    // The OFD lock conflicts; the flock lock does not matter to record locks.
    CHILD_CHECK_ERRNO(fcntl(c, F_SETLK, &w), EAGAIN);
    CHILD_CHECK_SUCCESS(close(b.get()));  // the parent still holds the description
    CHILD_CHECK_ERRNO(flock(c, LOCK_SH | LOCK_NB), EWOULDBLOCK);
  });
}

// ---- POSIX record locks ----

TEST_F(LockTest, RecordLocksConflictAcrossProcesses) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(F_WRLCK, 10, 20);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 40, 10);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  // The owner's own locks never conflict with its requests.
  EXPECT_EQ(TestLock(a.get(), F_WRLCK, 0, 0).l_type, F_UNLCK);
  const pid_t parent = getpid();
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    int b = open(path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(b);
    struct flock w = MakeLock(F_WRLCK, 25, 1);
    CHILD_CHECK_ERRNO(fcntl(b, F_SETLK, &w), EAGAIN);
    struct flock r = MakeLock(F_RDLCK, 45, 100);
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &r));  // read locks share
    w = MakeLock(F_WRLCK, 30, 10);  // [30, 40): free
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &w));
    struct flock q = MakeLock(F_WRLCK, 0, 0);
    CHILD_CHECK_SUCCESS(fcntl(b, F_GETLK, &q));
    CHILD_CHECK(q.l_type == F_WRLCK && q.l_whence == SEEK_SET && q.l_start == 10 &&
                q.l_len == 20 && q.l_pid == parent);
    q = MakeLock(F_WRLCK, 40, 5);
    CHILD_CHECK_SUCCESS(fcntl(b, F_GETLK, &q));
    CHILD_CHECK(q.l_type == F_RDLCK && q.l_start == 40 && q.l_len == 10 && q.l_pid == parent);
    q = MakeLock(F_RDLCK, 40, 5);
    CHILD_CHECK_SUCCESS(fcntl(b, F_GETLK, &q));
    CHILD_CHECK(q.l_type == F_UNLCK && q.l_start == 40 && q.l_len == 5);
  });
}

// Reports the locks the parent holds, as a child sees them byte by byte over [0, 100).
std::string LockMap(const std::string& path) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "pipe failed";
  pid_t child = ForkChild([&] {
    int fd = open(path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(fd);
    char map[100];
    for (int i = 0; i < 100; ++i) {
      struct flock q = MakeLock(F_WRLCK, i, 1);
      CHILD_CHECK_SUCCESS(fcntl(fd, F_GETLK, &q));
      map[i] = q.l_type == F_UNLCK ? '.' : q.l_type == F_RDLCK ? 'r' : 'w';
    }
    CHILD_CHECK(write(pipefd[1], map, sizeof(map)) == sizeof(map));
  });
  close(pipefd[1]);
  std::string out = ReadAll(pipefd[0]);
  close(pipefd[0]);
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
  return out;
}

TEST_F(LockTest, RecordLocksSplitAndMerge) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(F_WRLCK, 10, 30);  // [10, 40)
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 20, 5);  // splits it in three
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_UNLCK, 35, 2);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 50, 5);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 55, 5);  // adjacent: merges
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(LockMap(path_), std::string(10, '.') + std::string(10, 'w') + std::string(5, 'r') +
                                std::string(10, 'w') + ".." + "www" + std::string(10, '.') +
                                std::string(10, 'r') + std::string(40, '.'));
  // The merged read lock is reported as one range.
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock q = MakeLock(F_WRLCK, 52, 1);
    CHILD_CHECK_SUCCESS(fcntl(b, F_GETLK, &q));
    CHILD_CHECK(q.l_start == 50 && q.l_len == 10);
  });
  fl = MakeLock(F_UNLCK, 0, 0);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(LockMap(path_), std::string(100, '.'));
}

TEST_F(LockTest, RecordLockWhenceAndLength) {
  FileDescriptor a(Open());
  ASSERT_THAT(lseek(a.get(), 30, SEEK_SET), SyscallSucceedsWithValue(30));
  struct flock fl = MakeLock(F_WRLCK, 5, 5, SEEK_CUR);  // [35, 40)
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, -10, 4, SEEK_END);  // [90, 94)
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 20, -5);  // [15, 20)
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(LockMap(path_), std::string(15, '.') + "rrrrr" + std::string(15, '.') + "wwwww" +
                                std::string(50, '.') + "rrrr" + "......");
  // Length 0 reaches past the end of the file, whatever it grows to.
  fl = MakeLock(F_WRLCK, 98, 0);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock q = MakeLock(F_RDLCK, 1000000, 1);
    CHILD_CHECK_SUCCESS(fcntl(b, F_GETLK, &q));
    CHILD_CHECK(q.l_type == F_WRLCK && q.l_start == 98 && q.l_len == 0);
  });
}

TEST_F(LockTest, RecordLockErrors) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(7, 0, 0);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(a.get(), F_GETLK, &fl), SyscallFailsWithErrno(EINVAL));
  fl = MakeLock(F_UNLCK, 0, 0);
  EXPECT_THAT(fcntl(a.get(), F_GETLK, &fl), SyscallFailsWithErrno(EINVAL));
  fl = MakeLock(F_RDLCK, 0, 0, 7);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
  fl = MakeLock(F_RDLCK, -1, 0);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
  fl = MakeLock(F_RDLCK, 5, -6);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
  fl = MakeLock(F_RDLCK, 5, -5);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  fl = MakeLock(F_RDLCK, 0x7fffffffffffffff, 2);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EOVERFLOW));
  EXPECT_THAT(fcntl(a.get(), F_SETLK, nullptr), SyscallFailsWithErrno(EFAULT));

  // The fd's access mode must allow the lock type; unlocking is always allowed.
  FileDescriptor r(Open(O_RDONLY)), w(Open(O_WRONLY));
  fl = MakeLock(F_WRLCK, 0, 0);
  EXPECT_THAT(fcntl(r.get(), F_SETLK, &fl), SyscallFailsWithErrno(EBADF));
  fl = MakeLock(F_RDLCK, 0, 0);
  EXPECT_THAT(fcntl(w.get(), F_SETLK, &fl), SyscallFailsWithErrno(EBADF));
  fl = MakeLock(F_UNLCK, 0, 0);
  EXPECT_THAT(fcntl(r.get(), F_SETLK, &fl), SyscallSucceeds());
  // F_GETLK only tests, so any mode may ask.
  fl = MakeLock(F_WRLCK, 0, 0);
  EXPECT_THAT(fcntl(r.get(), F_GETLK, &fl), SyscallSucceeds());
  FileDescriptor p(open(path_.c_str(), O_PATH));
  fl = MakeLock(F_RDLCK, 0, 0);
  EXPECT_THAT(fcntl(p.get(), F_SETLK, &fl), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(p.get(), F_GETLK, &fl), SyscallFailsWithErrno(EBADF));
}

TEST_F(LockTest, ClosingAnyFdReleasesTheProcessLocks) {
  FileDescriptor a(Open()), b(Open(O_RDONLY));
  struct flock fl = MakeLock(F_WRLCK, 0, 10);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(LockMap(path_).substr(0, 10), std::string(10, 'w'));
  // b was never used to lock, but it is an fd of this process on the same file.
  b.reset();
  EXPECT_EQ(LockMap(path_), std::string(100, '.'));
}

TEST_F(LockTest, RecordLocksAreNotInheritedAndGoAtExit) {
  FileDescriptor a(Open());
  Signal locked, done;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    struct flock w = MakeLock(F_WRLCK, 0, 0);
    // The inherited fd gives the child no lock of its parent's.
    struct flock q = MakeLock(F_WRLCK, 0, 0);
    CHILD_CHECK_SUCCESS(fcntl(a.get(), F_GETLK, &q));
    CHILD_CHECK(q.l_type == F_UNLCK);
    CHILD_CHECK_SUCCESS(fcntl(a.get(), F_SETLK, &w));
    locked.Post();
    done.Wait();
  });
  locked.Wait();
  struct flock q = TestLock(a.get(), F_RDLCK, 0, 1);
  EXPECT_EQ(q.l_type, F_WRLCK);
  EXPECT_EQ(q.l_pid, child);
  done.Post();
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
  EXPECT_EQ(TestLock(a.get(), F_WRLCK, 0, 0).l_type, F_UNLCK);
}

TEST_F(LockTest, SetLkwWaitsForTheHolder) {
  FileDescriptor a(Open());
  Signal locked;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock w = MakeLock(F_WRLCK, 0, 10);
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &w));
    locked.Post();
    SleepMs(100);
  });
  locked.Wait();
  struct flock fl = MakeLock(F_WRLCK, 5, 1);
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallFailsWithErrno(EAGAIN));
  int64_t start = NowNs();
  EXPECT_THAT(fcntl(a.get(), F_SETLKW, &fl), SyscallSucceeds());
  EXPECT_GT(NowNs() - start, 20 * 1000000);
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST_F(LockTest, SetLkwDetectsDeadlock) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(F_WRLCK, 0, 1);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  Signal locked;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock w = MakeLock(F_WRLCK, 1, 1);
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &w));
    locked.Post();
    w = MakeLock(F_WRLCK, 0, 1);
    // Whichever of the two waits second closes the cycle and gets EDEADLK.
    if (fcntl(b, F_SETLKW, &w) == -1) {
      CHILD_CHECK(errno == EDEADLK);
      _exit(1);
    }
    _exit(0);
  });
  locked.Wait();
  fl = MakeLock(F_WRLCK, 1, 1);
  if (fcntl(a.get(), F_SETLKW, &fl) == -1) {
    EXPECT_EQ(errno, EDEADLK);
    // Let the child have byte 0.
    fl = MakeLock(F_UNLCK, 0, 1);
    ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
    EXPECT_THAT(WaitForChild(child), ExitedWith(0));
  } else {
    // The child got EDEADLK and exited, which released byte 1 for us.
    EXPECT_THAT(WaitForChild(child), ExitedWith(1));
  }
}

void Nop(int) {}

TEST_F(LockTest, SetLkwIsInterruptedBySignal) {
  FileDescriptor a(Open());
  Signal locked, done;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock w = MakeLock(F_WRLCK, 0, 0);
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &w));
    CHILD_CHECK_SUCCESS(flock(b, LOCK_EX));
    locked.Post();
    done.Wait();
  });
  locked.Wait();
  {
    ScopedSigaction sa(SIGALRM, MakeSigaction(Nop));  // no SA_RESTART
    struct itimerval it = {};
    it.it_value.tv_usec = 50000;
    ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
    struct flock fl = MakeLock(F_RDLCK, 0, 1);
    EXPECT_THAT(fcntl(a.get(), F_SETLKW, &fl), SyscallFailsWithErrno(EINTR));
    ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
    EXPECT_THAT(flock(a.get(), LOCK_SH), SyscallFailsWithErrno(EINTR));
  }
  done.Post();
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

TEST_F(LockTest, WaitsRestartWithSaRestart) {
  FileDescriptor a(Open());
  Signal locked;
  std::string path = path_;
  pid_t child = ForkChild([&] {
    int b = open(path.c_str(), O_RDWR);
    struct flock w = MakeLock(F_WRLCK, 0, 0);
    CHILD_CHECK_SUCCESS(fcntl(b, F_SETLK, &w));
    CHILD_CHECK_SUCCESS(flock(b, LOCK_EX));
    locked.Post();
    SleepMs(200);
  });
  locked.Wait();
  ScopedSigaction sa(SIGALRM, MakeSigaction(Nop, SA_RESTART));
  struct itimerval it = {};
  it.it_value.tv_usec = 30000;
  it.it_interval.tv_usec = 30000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  struct flock fl = MakeLock(F_RDLCK, 0, 1);
  EXPECT_THAT(fcntl(a.get(), F_SETLKW, &fl), SyscallSucceeds());
  EXPECT_THAT(flock(a.get(), LOCK_SH), SyscallSucceeds());
  it = {};
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

// ---- OFD locks ----

TEST_F(LockTest, OfdLocksBelongToTheDescription) {
  FileDescriptor a(Open()), b(Open());
  struct flock fl = MakeLock(F_WRLCK, 0, 10);
  ASSERT_THAT(fcntl(a.get(), F_OFD_SETLK, &fl), SyscallSucceeds());
  // Another description of the same process conflicts.
  fl = MakeLock(F_RDLCK, 5, 1);
  EXPECT_THAT(fcntl(b.get(), F_OFD_SETLK, &fl), SyscallFailsWithErrno(EAGAIN));
  struct flock q = TestLock(b.get(), F_RDLCK, 0, 0, F_OFD_GETLK);
  EXPECT_EQ(q.l_type, F_WRLCK);
  EXPECT_EQ(q.l_pid, -1);
  EXPECT_EQ(q.l_len, 10);
  // So does a POSIX lock of this very process, and F_GETLK reports the OFD lock.
  EXPECT_THAT(fcntl(b.get(), F_SETLK, &fl), SyscallFailsWithErrno(EAGAIN));
  q = TestLock(b.get(), F_RDLCK, 0, 0);
  EXPECT_EQ(q.l_type, F_WRLCK);
  EXPECT_EQ(q.l_pid, -1);
  // Closing another fd on the file does not release OFD locks; closing the description does.
  b.reset();
  FileDescriptor c(Open());
  EXPECT_THAT(fcntl(c.get(), F_OFD_SETLK, &fl), SyscallFailsWithErrno(EAGAIN));
  a.reset();
  EXPECT_THAT(fcntl(c.get(), F_OFD_SETLK, &fl), SyscallSucceeds());
}

TEST_F(LockTest, OfdRequiresZeroPid) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(F_RDLCK, 0, 0);
  fl.l_pid = 1;
  EXPECT_THAT(fcntl(a.get(), F_OFD_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(a.get(), F_OFD_SETLKW, &fl), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(a.get(), F_OFD_GETLK, &fl), SyscallFailsWithErrno(EINVAL));
  // Plain F_SETLK ignores l_pid.
  EXPECT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
}

TEST_F(LockTest, PosixLockReportedToOfdGetlk) {
  FileDescriptor a(Open()), b(Open());
  struct flock fl = MakeLock(F_RDLCK, 3, 4);
  ASSERT_THAT(fcntl(a.get(), F_SETLK, &fl), SyscallSucceeds());
  struct flock q = TestLock(b.get(), F_WRLCK, 0, 0, F_OFD_GETLK);
  EXPECT_EQ(q.l_type, F_RDLCK);
  EXPECT_EQ(q.l_start, 3);
  EXPECT_EQ(q.l_len, 4);
  EXPECT_EQ(q.l_pid, getpid());
}

TEST_F(LockTest, OfdLocksAreSharedAcrossForkAndWait) {
  FileDescriptor a(Open());
  struct flock fl = MakeLock(F_WRLCK, 0, 0);
  ASSERT_THAT(fcntl(a.get(), F_OFD_SETLK, &fl), SyscallSucceeds());
  std::string path = path_;
  EXPECT_CHILD_SUCCEEDS([&] {
    // The child's inherited fd is the same description: it holds the lock too.
    struct flock w = MakeLock(F_WRLCK, 0, 0);
    CHILD_CHECK_SUCCESS(fcntl(a.get(), F_OFD_SETLK, &w));
    int b = open(path.c_str(), O_RDWR);
    CHILD_CHECK_ERRNO(fcntl(b, F_OFD_SETLK, &w), EAGAIN);
  });
  Signal waiting;
  pid_t child = ForkChild([&] {
    // Its copy of the parent's fd would keep the description, and so the lock, alive.
    CHILD_CHECK_SUCCESS(close(a.get()));
    int b = open(path.c_str(), O_RDWR);
    struct flock w = MakeLock(F_WRLCK, 0, 1);
    waiting.Post();
    CHILD_CHECK_SUCCESS(fcntl(b, F_OFD_SETLKW, &w));
  });
  waiting.Wait();
  SleepMs(20);
  a.reset();
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
}

}  // namespace
}  // namespace moat::testing
