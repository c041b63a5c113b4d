// Shared helpers for the syscall conformance programs in tests/syscalls/.
//
// Each conformance program is a static binary that must pass both natively
// and, unchanged, inside the sandbox. The helpers here therefore use nothing
// but plain system calls and the C library: no /proc, no external programs.
//
// Matchers follow gVisor's test/util/test_util.h:
//
//   EXPECT_THAT(close(fd), SyscallSucceeds());
//   EXPECT_THAT(read(fd, buf, 4), SyscallSucceedsWithValue(4));
//   EXPECT_THAT(read(fd, buf, 4), SyscallSucceedsWithValue(::testing::Gt(0)));
//   EXPECT_THAT(open("/nope", O_RDONLY), SyscallFailsWithErrno(ENOENT));
//
// The errno matchers read errno the first time they are evaluated. That is
// correct because EXPECT_THAT evaluates the call and then the matcher with
// nothing in between that can change errno. gtest evaluates a failing matcher
// a second time to produce its explanation, after it has done stream I/O that
// may clobber errno, so the first value is kept for that second evaluation.
//
// Code that runs in a forked child must not use EXPECT_*/ASSERT_*: a failure
// there would be recorded in the child's copy of gtest and lost. Children use
// the CHILD_CHECK* macros below, which report on stderr and exit with
// kChildCheckFailed, and the parent checks the exit status with ExitedWith().

#ifndef MOAT_TESTS_SYSCALLS_TEST_UTIL_H_
#define MOAT_TESTS_SYSCALLS_TEST_UTIL_H_

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace moat::testing {

// Returns "ENOENT (2: No such file or directory)" for use in messages.
inline std::string ErrnoString(int e) {
  const char* name = strerrorname_np(e);
  return std::string(name != nullptr ? name : "E?") + " (" + std::to_string(e) + ": " +
         strerror(e) + ")";
}

namespace internal {

// A system call reports failure by returning -1 (or MAP_FAILED, which is the
// same bit pattern) with the error in errno.
template <typename T>
bool IsSyscallFailure(const T& value) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<intptr_t>(value) == -1;
  } else {
    return value == static_cast<T>(-1);
  }
}

// Remembers errno as it was when the matcher was first evaluated; see the
// comment at the top of this file for why the first value must be kept.
class ErrnoCapture {
 public:
  int Get() const {
    if (!saved_.has_value()) saved_ = errno;
    return *saved_;
  }

 private:
  mutable std::optional<int> saved_;
};

class SyscallSucceedsMatcher {
 public:
  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    int e = errno_.Get();
    if (IsSyscallFailure(value)) {
      *listener << "which failed with errno " << ErrnoString(e);
      return false;
    }
    return true;
  }
  void DescribeTo(std::ostream* os) const { *os << "succeeds (is not -1)"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "fails (is -1)"; }

 private:
  ErrnoCapture errno_;
};

template <typename ValueMatcher>
class SyscallSucceedsWithValueMatcher {
 public:
  explicit SyscallSucceedsWithValueMatcher(ValueMatcher value) : value_(std::move(value)) {}

  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    int e = errno_.Get();
    ::testing::Matcher<T> inner = ::testing::MatcherCast<T>(value_);
    if (IsSyscallFailure(value) && !inner.Matches(value)) {
      *listener << "which failed with errno " << ErrnoString(e);
      return false;
    }
    return inner.MatchAndExplain(value, listener);
  }
  void DescribeTo(std::ostream* os) const {
    *os << "succeeds with a value that " << ::testing::DescribeMatcher<long>(value_);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "fails or returns a value that " << ::testing::DescribeMatcher<long>(value_, true);
  }

 private:
  ValueMatcher value_;
  ErrnoCapture errno_;
};

class SyscallFailsWithErrnoMatcher {
 public:
  // An empty errno matcher accepts any errno (SyscallFails()).
  explicit SyscallFailsWithErrnoMatcher(std::optional<::testing::Matcher<int>> errno_matcher)
      : errno_matcher_(std::move(errno_matcher)) {}

  template <typename T>
  bool MatchAndExplain(const T& value, ::testing::MatchResultListener* listener) const {
    int e = errno_.Get();
    if (!IsSyscallFailure(value)) {
      *listener << "which succeeded";
      return false;
    }
    *listener << "which failed with errno " << ErrnoString(e);
    return !errno_matcher_.has_value() || errno_matcher_->Matches(e);
  }
  void DescribeTo(std::ostream* os) const {
    *os << "fails with -1";
    if (errno_matcher_.has_value()) {
      *os << " and an errno that ";
      errno_matcher_->DescribeTo(os);
    }
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not fail";
    if (errno_matcher_.has_value()) {
      *os << " with an errno that ";
      errno_matcher_->DescribeTo(os);
    }
  }

 private:
  std::optional<::testing::Matcher<int>> errno_matcher_;
  ErrnoCapture errno_;
};

// Matches one errno value and names it in descriptions ("is ENOENT (2: ...)").
class ErrnoIsMatcher : public ::testing::MatcherInterface<int> {
 public:
  explicit ErrnoIsMatcher(int expected) : expected_(expected) {}
  bool MatchAndExplain(int e, ::testing::MatchResultListener*) const override {
    return e == expected_;
  }
  void DescribeTo(std::ostream* os) const override { *os << "is " << ErrnoString(expected_); }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not " << ErrnoString(expected_);
  }

 private:
  int expected_;
};

template <typename ErrnoMatcher>
::testing::Matcher<int> MakeErrnoMatcher(ErrnoMatcher e) {
  if constexpr (std::is_integral_v<ErrnoMatcher>) {
    return ::testing::MakeMatcher(new ErrnoIsMatcher(static_cast<int>(e)));
  } else {
    return ::testing::MatcherCast<int>(std::move(e));
  }
}

}  // namespace internal

inline ::testing::PolymorphicMatcher<internal::SyscallSucceedsMatcher> SyscallSucceeds() {
  return ::testing::MakePolymorphicMatcher(internal::SyscallSucceedsMatcher());
}

// Accepts either a plain value or a gmock matcher such as Gt(0).
template <typename ValueMatcher>
::testing::PolymorphicMatcher<internal::SyscallSucceedsWithValueMatcher<ValueMatcher>>
SyscallSucceedsWithValue(ValueMatcher value) {
  return ::testing::MakePolymorphicMatcher(
      internal::SyscallSucceedsWithValueMatcher<ValueMatcher>(std::move(value)));
}

inline ::testing::PolymorphicMatcher<internal::SyscallFailsWithErrnoMatcher> SyscallFails() {
  return ::testing::MakePolymorphicMatcher(internal::SyscallFailsWithErrnoMatcher(std::nullopt));
}

// Accepts either an errno value or a gmock matcher such as AnyOf(EINVAL, EFAULT).
template <typename ErrnoMatcher>
::testing::PolymorphicMatcher<internal::SyscallFailsWithErrnoMatcher> SyscallFailsWithErrno(
    ErrnoMatcher e) {
  return ::testing::MakePolymorphicMatcher(
      internal::SyscallFailsWithErrnoMatcher(internal::MakeErrnoMatcher(std::move(e))));
}

// ---------------------------------------------------------------------------
// Wait statuses.

// Returns "exited with 3" / "killed by SIGSEGV" / "stopped by SIGSTOP" / ...
inline std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name != nullptr ? name : "?") +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  if (WIFSTOPPED(status)) {
    const char* name = sigabbrev_np(WSTOPSIG(status));
    return std::string("stopped by SIG") + (name != nullptr ? name : "?");
  }
  if (WIFCONTINUED(status)) return "continued";
  return "unknown wait status " + std::to_string(status);
}

MATCHER_P(ExitedWith, code, "exited with " + std::to_string(code)) {
  *result_listener << "which is " << DescribeWaitStatus(arg);
  return WIFEXITED(arg) && WEXITSTATUS(arg) == code;
}

MATCHER_P(KilledBySignal, sig, std::string("killed by SIG") + sigabbrev_np(sig)) {
  *result_listener << "which is " << DescribeWaitStatus(arg);
  return WIFSIGNALED(arg) && WTERMSIG(arg) == sig;
}

// ---------------------------------------------------------------------------
// Forked children.

// The exit code of a child whose CHILD_CHECK failed. It is unusual enough that
// a parent seeing it knows to look for the child's message on stderr.
inline constexpr int kChildCheckFailed = 213;

// Writes a message and leaves the child at once. It allocates no memory and
// does not use stdio streams, so it also works in a vfork child.
[[noreturn]] inline void ChildCheckFailed(const char* file, int line, const char* what,
                                          int saved_errno) {
  const char* name = strerrorname_np(saved_errno);
  char buf[512];
  int n = snprintf(buf, sizeof(buf), "%s:%d: child check failed: %s (errno %d %s)\n", file, line,
                   what, saved_errno, name != nullptr ? name : "");
  if (n > 0) {
    size_t len = static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
    ssize_t unused = write(STDERR_FILENO, buf, len);
    (void)unused;
  }
  _exit(kChildCheckFailed);
}

// Checks a condition in a forked child.
#define CHILD_CHECK(cond)                                                             \
  do {                                                                                \
    if (!(cond)) ::moat::testing::ChildCheckFailed(__FILE__, __LINE__, #cond, errno); \
  } while (0)

// Checks in a forked child that a call did not return -1.
#define CHILD_CHECK_SUCCESS(call)                                                          \
  do {                                                                                     \
    if ((call) == -1) ::moat::testing::ChildCheckFailed(__FILE__, __LINE__, #call, errno); \
  } while (0)

// Checks in a forked child that a call returned -1 with the given errno.
#define CHILD_CHECK_ERRNO(call, err)                                                           \
  do {                                                                                         \
    errno = 0;                                                                                 \
    if ((call) != -1 || errno != (err))                                                        \
      ::moat::testing::ChildCheckFailed(__FILE__, __LINE__, #call " fails with " #err, errno); \
  } while (0)

// Waits for a specific child, retrying if a signal handler interrupts the
// wait. Returns the wait status, or -1 (with a gtest failure) if waiting failed.
inline int WaitForChild(pid_t pid, int options = 0) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, options);
  } while (r == -1 && errno == EINTR);
  if (r != pid) {
    ADD_FAILURE() << "waitpid(" << pid << ") returned " << r << ": " << ErrnoString(errno);
    return -1;
  }
  return status;
}

// Forks a child that runs fn and then exits with status 0. The child leaves
// through _exit so that it never flushes the parent's stdio buffers or runs
// gtest's exit handlers. Returns the child's pid in the parent.
inline pid_t ForkChild(const std::function<void()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  if (pid == -1) ADD_FAILURE() << "fork: " << ErrnoString(errno);
  return pid;
}

// Runs fn in a forked child and returns its wait status. Use as
//   EXPECT_THAT(ForkAndWait([] { ... }), ExitedWith(0));
inline int ForkAndWait(const std::function<void()>& fn) {
  pid_t pid = ForkChild(fn);
  if (pid == -1) return -1;
  return WaitForChild(pid);
}

// Runs fn in a forked child and expects it to exit with status 0: the shape of
// nearly every test whose body has to change process-wide state (signal
// dispositions, credentials, resource limits) without leaking into later tests.
// The macro is variadic so that lambdas with several captures need no
// extra parentheses.
#define EXPECT_CHILD_SUCCEEDS(...) \
  EXPECT_THAT(::moat::testing::ForkAndWait(__VA_ARGS__), ::moat::testing::ExitedWith(0))

// ---------------------------------------------------------------------------
// Files.

// Closes the descriptor it owns when it goes out of scope.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    reset(other.release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Removes a directory tree without following symbolic links. Failures are
// ignored: this only cleans up after a test.
inline void RemoveTreeAt(int parent_fd, const char* name) {
  int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    DIR* dir = fdopendir(fd);
    if (dir != nullptr) {
      while (struct dirent* ent = readdir(dir)) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        if (unlinkat(fd, ent->d_name, 0) == -1 && (errno == EISDIR || errno == EPERM)) {
          // A test may have left a directory without write permission; root
          // can still remove it, and a plain user cannot have created it.
          RemoveTreeAt(fd, ent->d_name);
        }
      }
      closedir(dir);
    } else {
      close(fd);
    }
  }
  unlinkat(parent_fd, name, AT_REMOVEDIR);
}

// A fresh directory under /tmp that is removed with its contents when the
// object goes out of scope. A forked child must not let its copy run the
// destructor; children leave through _exit, which guarantees that.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/moat_syscall_test.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << tmpl << "): " << ErrnoString(errno);
      return;
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (!path_.empty()) RemoveTreeAt(AT_FDCWD, path_.c_str());
  }

  const std::string& path() const { return path_; }
  // Returns the path of an entry inside the directory.
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes all of data to fd; returns false if a write fails.
inline bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads until EOF or error; returns everything read.
inline std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Creates (or truncates) a file holding contents; returns false on failure.
inline bool CreateFileWithContents(const std::string& path, const std::string& contents,
                                   mode_t mode = 0644) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd == -1) return false;
  bool ok = WriteAll(fd, contents.data(), contents.size());
  return close(fd) == 0 && ok;
}

// ---------------------------------------------------------------------------
// Time.

inline int64_t TimespecToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

inline struct timespec NsToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

// Reads a clock in nanoseconds, failing the test if the clock cannot be read.
inline int64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  struct timespec ts = {};
  if (clock_gettime(clock, &ts) != 0) {
    ADD_FAILURE() << "clock_gettime(" << clock << "): " << ErrnoString(errno);
  }
  return TimespecToNs(ts);
}

// Burns CPU in this thread until `clock` has advanced by `ns`, or until `wall_limit_ns` of
// wall time has passed. Returns how far the clock advanced.
inline int64_t SpinOnClock(clockid_t clock, int64_t ns,
                           int64_t wall_limit_ns = 2000000000) {
  const int64_t start = NowNs(clock);
  const int64_t wall_deadline = NowNs() + wall_limit_ns;
  volatile uint64_t sink = 0;
  while (NowNs(clock) - start < ns && NowNs() < wall_deadline) {
    for (int i = 0; i < 10000; i++) sink = sink + i;
  }
  return NowNs(clock) - start;
}

// Sleeps for the given number of milliseconds, resuming after signals.
inline void SleepMs(int64_t ms) {
  struct timespec ts = NsToTimespec(ms * 1000000);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

// ---------------------------------------------------------------------------
// Signals.

// Installs a handler for the lifetime of the object and restores the previous
// action afterwards, so that one test's disposition does not leak into the next.
class ScopedSigaction {
 public:
  ScopedSigaction(int sig, const struct sigaction& act) : sig_(sig) {
    if (sigaction(sig, &act, &old_) != 0) {
      ADD_FAILURE() << "sigaction(" << sig << "): " << ErrnoString(errno);
      sig_ = -1;
    }
  }
  ScopedSigaction(const ScopedSigaction&) = delete;
  ScopedSigaction& operator=(const ScopedSigaction&) = delete;
  ~ScopedSigaction() {
    if (sig_ > 0) sigaction(sig_, &old_, nullptr);
  }

 private:
  int sig_;
  struct sigaction old_ = {};
};

// Builds a struct sigaction for a plain or SA_SIGINFO handler.
inline struct sigaction MakeSigaction(void (*handler)(int), int flags = 0) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sa;
}

inline struct sigaction MakeSigactionInfo(void (*handler)(int, siginfo_t*, void*), int flags = 0) {
  struct sigaction sa = {};
  sa.sa_sigaction = handler;
  sa.sa_flags = flags | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  return sa;
}

// Sends SIGALRM to the process after `ms` milliseconds, once (ITIMER_REAL).
inline void ArmAlarmMs(int ms) {
  itimerval it{};
  it.it_value.tv_sec = ms / 1000;
  it.it_value.tv_usec = (ms % 1000) * 1000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
}

// Blocks (or unblocks) signals for the lifetime of the object and restores the
// previous mask afterwards.
class ScopedSignalMask {
 public:
  ScopedSignalMask(int how, std::initializer_list<int> sigs) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : sigs) sigaddset(&set, sig);
    if (sigprocmask(how, &set, &old_) != 0) {
      ADD_FAILURE() << "sigprocmask: " << ErrnoString(errno);
    }
  }
  ScopedSignalMask(const ScopedSignalMask&) = delete;
  ScopedSignalMask& operator=(const ScopedSignalMask&) = delete;
  ~ScopedSignalMask() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_TEST_UTIL_H_
