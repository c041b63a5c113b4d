// timerfd_create(2): a timer of the sandbox's TimerService whose expirations are counted and
// read as an 8-byte number, with readiness for poll and epoll.
//
// Ownership: the file owns its kernel::Timer (a new one each time it is set, so that an
// expiration of an old setting already on its way is recognised and dropped). The timer's
// callback shares the count and the wait queue (State) with the file, so a callback that runs
// while the file goes away touches nothing freed.
//
// Lock order: State::mu > TimerService::mu_ (timers.h) and WaitQueue::mu_. Blocking happens with
// no lock held.
#ifndef MOAT_SENTRY_FSIMPL_TIMERFD_H_
#define MOAT_SENTRY_FSIMPL_TIMERFD_H_

#include <time.h>

#include <cstdint>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "sentry/fsimpl/anon_inode.h"
#include "sentry/kernel/timers.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::fsimpl {

class TimerFd final : public AnonFile {
 public:
  // `clock` is the host clock that runs the timer; `flags` may hold TFD_NONBLOCK.
  static RefPtr<TimerFd> New(kernel::TimerService& service, clockid_t clock, int flags);
  ~TimerFd() override;

  // Reads the number of expirations since the last read or setting as 8 bytes (EINVAL for a
  // smaller buffer) and resets it. Waits while it is zero (EAGAIN with O_NONBLOCK).
  Result<size_t> Read(kernel::Task& task, std::span<uint8_t> dst) override;
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &state_->queue; }

  // timerfd_settime: arms the timer to expire at `value_ns` (absolute on the clock if
  // `absolute`, else relative; 0 disarms), then every `interval_ns`. The count of expirations
  // starts again from zero. Returns the old setting as timerfd_gettime would have shown it.
  itimerspec Set(int64_t value_ns, int64_t interval_ns, bool absolute);
  // timerfd_gettime: the time to the next expiration (zero if disarmed) and the interval.
  itimerspec Get();

 private:
  struct State {
    absl::Mutex mu;
    uint64_t ticks ABSL_GUARDED_BY(mu) = 0;
    // Which setting the expirations count for; a callback of an older one is ignored.
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
    kernel::WaitQueue queue;
  };

  TimerFd(kernel::TimerService& service, clockid_t clock, int flags);

  kernel::TimerService& service_;
  const clockid_t clock_;
  std::shared_ptr<State> state_;
  // Replaced by every Set, under state_->mu.
  std::shared_ptr<kernel::Timer> timer_;
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_TIMERFD_H_
