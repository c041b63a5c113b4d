// Timers: one service thread fires every armed timer of the sandbox (alarm, setitimer's
// ITIMER_REAL, POSIX timers, and later timerfd). Sleeping syscalls do not use it: they block their
// own task thread with a deadline.
//
// Lock order: TimerService::mu_ is a leaf except while it calls a Timer's callback, which it does
// with no lock held. A callback may take Kernel::mu_.
#ifndef MOAT_SENTRY_KERNEL_TIMERS_H_
#define MOAT_SENTRY_KERNEL_TIMERS_H_

#include <time.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace moat::kernel {

// Nanoseconds on a host clock, or on the CPU-time clock of an application thread (by its tid in
// the sentry's PID namespace); 0 for the clock of a process or thread that is gone.
int64_t ClockNow(clockid_t clock);
inline int64_t ToNanos(const timespec& ts) { return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec; }
inline timespec ToTimespec(int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000LL), static_cast<long>(ns % 1'000'000'000LL)};
}
// Whether a timespec from the application is valid (0 <= tv_nsec < 1e9, tv_sec >= 0).
bool ValidTimespec(const timespec& ts);

// CPU-time clocks name a process or a thread by pid in the clock id (glibc's
// MAKE_PROCESS_CPUCLOCK and MAKE_THREAD_CPUCLOCK), with what they measure.
enum class CpuMeasure {
  kProf = 0,   // user plus system time, sampled at ticks
  kVirt = 1,   // user time, sampled at ticks
  kSched = 2,  // time run, to the nanosecond
};
// Measure 3 is not a CPU clock but a clock fd (FD_TO_CLOCKID).
inline constexpr int kClockFd = 3;
inline clockid_t CpuClockOf(pid_t pid, int measure, bool thread) {
  return static_cast<clockid_t>((~static_cast<unsigned>(pid) << 3) | (thread ? 4u : 0u) |
                                static_cast<unsigned>(measure));
}
inline clockid_t ProcessCpuClock(pid_t pid, CpuMeasure m) {
  return CpuClockOf(pid, static_cast<int>(m), false);
}
inline clockid_t ThreadCpuClock(pid_t tid, CpuMeasure m) {
  return CpuClockOf(tid, static_cast<int>(m), true);
}
// The parts of a CPU-time clock id (a negative one).
struct CpuClockId {
  pid_t pid;     // 0: the caller
  int measure;   // a CpuMeasure, or kClockFd
  bool thread;
};
inline CpuClockId DecodeCpuClock(clockid_t clock) {
  return CpuClockId{static_cast<pid_t>(~(clock >> 3)), clock & 3, (clock & 4) != 0};
}
// The user and system CPU time of a host process or thread (by its pid in the sentry's PID
// namespace), from the host's tick-sampled clocks; zero for one that is gone.
struct CpuTimes {
  int64_t user_ns = 0;
  int64_t system_ns = 0;
};
CpuTimes HostCpuTimes(pid_t id, bool thread);

class TimerService;

class Timer : public std::enable_shared_from_this<Timer> {
 public:
  // `fire(overruns)` runs on the timer thread each time the timer expires; `overruns` counts
  // expirations that were missed before it could run (always >= 1).
  Timer(TimerService* service, clockid_t clock, std::function<void(uint64_t)> fire);
  ~Timer();
  // Arms the timer to expire at `value_ns` (absolute on the clock if `absolute`, else relative),
  // then every `interval_ns` (0: once). value_ns == 0 disarms. Returns the old setting.
  itimerspec Set(int64_t value_ns, int64_t interval_ns, bool absolute);
  // Time left until expiry (relative) and interval.
  itimerspec Get();
  void Disarm() { Set(0, 0, false); }
  clockid_t clock() const { return clock_; }

 private:
  friend class TimerService;
  TimerService* service_;
  clockid_t clock_;
  std::function<void(uint64_t)> fire_;
  // Guarded by service_->mu_.
  int64_t deadline_ = 0;  // absolute, on clock_; 0 when disarmed
  int64_t interval_ = 0;
  uint64_t generation_ = 0;
};

class TimerService {
 public:
  TimerService();
  ~TimerService();

 private:
  friend class Timer;
  void Loop();
  // Re-queues `t` at its deadline.
  void Schedule(const std::shared_ptr<Timer>& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Deadline on CLOCK_MONOTONIC -> (timer, generation at scheduling).
  std::multimap<int64_t, std::pair<std::weak_ptr<Timer>, uint64_t>> queue_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_TIMERS_H_
