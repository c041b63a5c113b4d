// OCI hooks (hooks.h).
#include "runsc/hooks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace moat::runsc {
namespace {

constexpr size_t kWriteChunk = 65536;

bool IsKnownKind(std::string_view kind) {
  for (std::string_view k :
       {kPrestart, kCreateRuntime, kCreateContainer, kStartContainer, kPoststart, kPoststop}) {
    if (k == kind) return true;
  }
  return false;
}

// Holds SIGPIPE off the calling thread while the state is written: a hook that exits without
// reading it makes the write fail with EPIPE, and the signal raised with it is taken here rather
// than delivered to runsc.
class ScopedNoSigpipe {
 public:
  ScopedNoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedNoSigpipe() {
    if (!was_pending_) {
      const timespec zero{};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

// Moves `fd` above the standard fds (runsc may run with one of them closed), close-on-exec.
FileDescriptor AboveStdio(FileDescriptor fd) {
  if (fd.get() > 2) return fd;
  return FileDescriptor(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
}

std::string DescribeStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with status {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(st));
    return fmt::format("killed by signal {} (SIG{})", WTERMSIG(st), abbrev ? abbrev : "?");
  }
  return fmt::format("ended with wait status {:#x}", st);
}

pid_t WaitFor(pid_t pid, int* st) {
  pid_t r;
  do {
    r = waitpid(pid, st, 0);
  } while (r < 0 && errno == EINTR);
  return r;
}

// The kernel's struct sigaction, for resetting every disposition in the child: glibc's
// sigaction refuses its two internal signals, which a threaded runsc has handlers for.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// Marks every fd from 3 up close-on-exec (the error pipe must stay open until the exec).
void CloseAboveStdioOnExec() {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Before Linux 5.11: one by one, up to the fd limit.
  rlimit lim;
  long max = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                 ? static_cast<long>(lim.rlim_cur)
                 : 65536;
  for (long fd = 3; fd < max; fd++) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// The child between fork and exec: async-signal-safe calls only. Reports an exec failure's
// errno on `err_fd`.
[[noreturn]] void ExecHook(const char* path, char* const argv[], char* const envp[], int stdin_fd,
                           int err_fd) {
  // A group of its own, so that a timeout can kill whatever the hook started.
  setpgid(0, 0);
  // No handler of runsc's may run here, and nothing ignored or blocked reaches the hook. Every
  // signal is blocked on entry (the parent blocked them around fork).
  KernelSigaction dfl{};
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(dfl.mask));
  }
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(none));
  int e = 0;
  if (dup2(stdin_fd, 0) < 0) e = errno;
  if (e == 0) {
    CloseAboveStdioOnExec();
    execve(path, argv, envp);
    e = errno;
  }
  ssize_t n = write(err_fd, &e, sizeof(e));
  (void)n;
  _exit(127);
}

}  // namespace

absl::Status RunHook(std::string_view kind, size_t index, const spec::Hook& hook,
                     const std::string& state_json) {
  const std::string who = fmt::format("{} hook {} ({})", kind, index, hook.path);
  if (hook.path.empty() || hook.path[0] != '/') {
    return absl::InvalidArgumentError(fmt::format("{}: path is not absolute", who));
  }
  if (hook.timeout && *hook.timeout <= 0) {
    return absl::InvalidArgumentError(fmt::format("{}: timeout {} is not positive", who,
                                                  *hook.timeout));
  }

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(fmt::format("{}: pipe", who));
  FileDescriptor rd = AboveStdio(FileDescriptor(p[0]));
  FileDescriptor wr = AboveStdio(FileDescriptor(p[1]));
  if (!rd || !wr) return ErrnoStatus(fmt::format("{}: fcntl(F_DUPFD_CLOEXEC)", who));

  std::vector<std::string> args = hook.args;
  if (args.empty()) args.push_back(hook.path);
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = hook.env;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) return ErrnoStatus(fmt::format("{}: pipe", who));
  FileDescriptor err_rd = AboveStdio(FileDescriptor(ep[0]));
  FileDescriptor err_wr = AboveStdio(FileDescriptor(ep[1]));
  if (!err_rd || !err_wr) return ErrnoStatus(fmt::format("{}: fcntl(F_DUPFD_CLOEXEC)", who));

  // Signals stay blocked across fork, so that none of runsc's handlers runs in the child before
  // it has reset them.
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  pid_t pid = fork();
  if (pid == 0) ExecHook(hook.path.c_str(), argv.data(), envp.data(), rd.get(), err_wr.get());
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) return ErrnoStatus(fmt::format("{}: fork", who), fork_errno);
  err_wr.Reset();
  int exec_errno = 0;
  ssize_t got;
  do {
    got = read(err_rd.get(), &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  if (got == sizeof(exec_errno)) {
    int st;
    WaitFor(pid, &st);
    return absl::UnknownError(fmt::format("{}: exec: {}", who, strerrordesc_np(exec_errno)));
  }
  rd.Reset();

  // The state goes in without blocking while the hook runs: it may read it slowly, partly, or
  // not at all.
  fcntl(wr.get(), F_SETFL, O_NONBLOCK);
  FileDescriptor pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  std::optional<absl::Time> deadline;
  if (hook.timeout) deadline = absl::Now() + absl::Seconds(*hook.timeout);
  ScopedNoSigpipe no_sigpipe;
  size_t written = 0;
  if (state_json.empty()) wr.Reset();
  int status = 0;
  bool exited = false;
  while (!exited) {
    int timeout_ms = -1;
    if (deadline) {
      const absl::Duration left = *deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      timeout_ms = static_cast<int>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    }
    // Without pidfd_open (before Linux 5.3) the exit is polled for.
    if (!pidfd && (timeout_ms < 0 || timeout_ms > 10)) timeout_ms = 10;
    pollfd fds[2] = {{pidfd ? pidfd.get() : -1, POLLIN, 0}, {wr ? wr.get() : -1, POLLOUT, 0}};
    int n = poll(fds, 2, timeout_ms);
    if (n < 0 && errno != EINTR) {
      absl::Status s = ErrnoStatus(fmt::format("{}: poll", who));
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      WaitFor(pid, &status);
      return s;
    }
    if (wr && fds[1].revents) {
      const size_t len = std::min(kWriteChunk, state_json.size() - written);
      ssize_t w = write(wr.get(), state_json.data() + written, len);
      if (w > 0) written += static_cast<size_t>(w);
      // EPIPE: the hook closed its stdin unread, which is its business.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == state_json.size()) {
        wr.Reset();
      }
    }
    if (!pidfd || fds[0].revents) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) exited = true;
      if (r < 0 && errno != EINTR) return ErrnoStatus(fmt::format("{}: waitpid", who));
    }
  }
  if (!exited) {
    // The hook and everything it started, then the hook's own exit status is collected.
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    WaitFor(pid, &status);
    return absl::DeadlineExceededError(
        fmt::format("{}: timed out after {}s", who, *hook.timeout));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::UnknownError(fmt::format("{}: {}", who, DescribeStatus(status)));
}

absl::Status RunHooks(std::string_view kind, const std::vector<spec::Hook>& hooks,
                      const std::string& state_json) {
  if (!IsKnownKind(kind)) {
    return absl::InvalidArgumentError(fmt::format("unknown hook kind \"{}\"", kind));
  }
  const bool warn_only = kind == kPoststart || kind == kPoststop;
  for (size_t i = 0; i < hooks.size(); i++) {
    absl::Status s = RunHook(kind, i, hooks[i], state_json);
    if (s.ok()) continue;
    if (!warn_only) return s;
    LOG_WARNING("{}", std::string(s.message()));
  }
  return absl::OkStatus();
}

}  // namespace moat::runsc
