#include "sentry/kernel/timers.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "absl/time/time.h"
#include "base/host_proc.h"

namespace moat::kernel {

namespace {

// A thread's CPU-time clock reads only from inside the thread's own process (the host's
// lookup_task); the sentry reads an application thread's from the host's /proc instead: the time
// it ran from schedstat, its user and system ticks from stat. Zero for a thread that is gone.
int64_t ForeignThreadCpuNow(const CpuClockId& id) {
  if (id.measure == static_cast<int>(CpuMeasure::kSched)) {
    Result<std::string> schedstat = hostproc::ReadFile(fmt::format("{0}/task/{0}/schedstat", id.pid));
    int64_t ns = 0;
    return schedstat.ok() && std::istringstream(*schedstat) >> ns ? ns : 0;
  }
  // /proc/<tid>/stat of a leader would be its whole process.
  Result<std::string> stat = hostproc::ReadFile(fmt::format("{0}/task/{0}/stat", id.pid));
  if (!stat.ok()) return 0;
  const std::string& line = *stat;
  size_t comm_end = line.rfind(')');  // the name may hold anything, ')' too
  if (comm_end == std::string::npos) return 0;
  // After the name: state, then fields 4 to 13, then utime and stime (proc_pid_stat(5)).
  std::istringstream fields(line.substr(comm_end + 1));
  std::string skip;
  for (int i = 3; i <= 13; i++) fields >> skip;
  int64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return 0;
  static const int64_t kNsPerTick = 1'000'000'000 / sysconf(_SC_CLK_TCK);
  if (id.measure == static_cast<int>(CpuMeasure::kVirt)) return utime * kNsPerTick;
  return (utime + stime) * kNsPerTick;
}

}  // namespace

int64_t ClockNow(clockid_t clock) {
  if (clock < 0) {
    CpuClockId id = DecodeCpuClock(clock);
    if (id.thread && id.pid != 0 && id.measure != kClockFd) return ForeignThreadCpuNow(id);
  }
  timespec ts;
  if (clock_gettime(clock, &ts) < 0) return 0;  // a CPU clock of a process that is gone
  return ToNanos(ts);
}

CpuTimes HostCpuTimes(pid_t id, bool thread) {
  int64_t user = ClockNow(CpuClockOf(id, static_cast<int>(CpuMeasure::kVirt), thread));
  int64_t total = ClockNow(CpuClockOf(id, static_cast<int>(CpuMeasure::kProf), thread));
  return CpuTimes{user, std::max<int64_t>(total - user, 0)};
}

bool ValidTimespec(const timespec& ts) {
  return ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1'000'000'000L;
}

namespace {

// Deadlines are kept on CLOCK_MONOTONIC; a timer on another clock is converted when armed.
int64_t ToMonotonic(clockid_t clock, int64_t deadline) {
  if (clock == CLOCK_MONOTONIC) return deadline;
  return deadline - ClockNow(clock) + ClockNow(CLOCK_MONOTONIC);
}

}  // namespace

Timer::Timer(TimerService* service, clockid_t clock, std::function<void(uint64_t)> fire)
    : service_(service), clock_(clock), fire_(std::move(fire)) {}

Timer::~Timer() = default;

itimerspec Timer::Set(int64_t value_ns, int64_t interval_ns, bool absolute) {
  absl::MutexLock l(&service_->mu_);
  itimerspec old{};
  if (deadline_ != 0) {
    int64_t left = deadline_ - ClockNow(clock_);
    old.it_value = ToTimespec(left > 0 ? left : 1);
  }
  old.it_interval = ToTimespec(interval_);
  generation_++;
  interval_ = interval_ns;
  if (value_ns == 0) {
    deadline_ = 0;
  } else {
    deadline_ = absolute ? value_ns : ClockNow(clock_) + value_ns;
    service_->Schedule(shared_from_this());
  }
  return old;
}

itimerspec Timer::Get() {
  absl::MutexLock l(&service_->mu_);
  itimerspec cur{};
  if (deadline_ != 0) {
    int64_t left = deadline_ - ClockNow(clock_);
    cur.it_value = ToTimespec(left > 0 ? left : 1);
  }
  cur.it_interval = ToTimespec(interval_);
  return cur;
}

TimerService::TimerService() : thread_([this] { Loop(); }) {}

TimerService::~TimerService() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  thread_.join();
}

void TimerService::Schedule(const std::shared_ptr<Timer>& t) {
  queue_.emplace(ToMonotonic(t->clock_, t->deadline_), std::make_pair(t, t->generation_));
  cv_.Signal();
}

void TimerService::Loop() {
  absl::MutexLock l(&mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.Wait(&mu_);
      continue;
    }
    auto it = queue_.begin();
    int64_t now = ClockNow(CLOCK_MONOTONIC);
    if (it->first > now) {
      cv_.WaitWithTimeout(&mu_, absl::Nanoseconds(it->first - now));
      continue;
    }
    std::shared_ptr<Timer> t = it->second.first.lock();
    uint64_t gen = it->second.second;
    queue_.erase(it);
    if (!t || gen != t->generation_ || t->deadline_ == 0) continue;  // re-armed or gone
    int64_t clock_now = ClockNow(t->clock_);
    if (clock_now < t->deadline_) {
      // Not there yet on the timer's own clock: a CPU clock runs slower than the monotonic one,
      // and the realtime clock may have been set back.
      if (clock_now != 0) Schedule(t);
      continue;
    }
    uint64_t overruns = 1;
    if (t->interval_ > 0) {
      if (clock_now > t->deadline_) overruns += (clock_now - t->deadline_) / t->interval_;
      t->deadline_ += overruns * t->interval_;
      Schedule(t);
    } else {
      t->deadline_ = 0;
    }
    auto fire = t->fire_;
    mu_.Unlock();
    fire(overruns);
    mu_.Lock();
  }
}

}  // namespace moat::kernel
