// Helpers shared by the signal conformance programs (signal_test.cc, signal_delivery_test.cc).
#ifndef MOAT_TESTS_SYSCALLS_SIGNAL_UTIL_H_
#define MOAT_TESTS_SYSCALLS_SIGNAL_UTIL_H_

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace moat::testing {

inline pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// What the most recent handler invocation saw.
inline volatile sig_atomic_t handler_count = 0;
inline volatile sig_atomic_t last_signo = 0;
inline siginfo_t last_info;

inline void ResetHandlerState() {
  handler_count = 0;
  last_signo = 0;
  memset(&last_info, 0, sizeof(last_info));
}

inline void CountingHandler(int sig) {
  handler_count = handler_count + 1;
  last_signo = sig;
}

inline void InfoHandler(int sig, siginfo_t* info, void*) {
  handler_count = handler_count + 1;
  last_signo = sig;
  last_info = *info;
}

inline bool IsPending(int sig) {
  sigset_t pending;
  sigemptyset(&pending);
  if (sigpending(&pending) != 0) return false;
  return sigismember(&pending, sig) == 1;
}

inline bool IsBlocked(int sig) {
  sigset_t mask;
  sigprocmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, sig) == 1;
}

// Removes a pending instance of sig (if any) so that it does not leak into the next test.
inline void DrainPending(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) == sig) {
  }
}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_SIGNAL_UTIL_H_
