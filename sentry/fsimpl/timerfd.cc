#include "sentry/fsimpl/timerfd.h"

#include <cstring>
#include <optional>

#include "sentry/kernel/task.h"

namespace moat::fsimpl {

using kernel::kEventIn;

RefPtr<TimerFd> TimerFd::New(kernel::TimerService& service, clockid_t clock, int flags) {
  return RefPtr<TimerFd>(new TimerFd(service, clock, flags));
}

TimerFd::TimerFd(kernel::TimerService& service, clockid_t clock, int flags)
    : AnonFile("timerfd", flags & O_NONBLOCK), service_(service), clock_(clock),
      state_(std::make_shared<State>()) {}

TimerFd::~TimerFd() {
  absl::MutexLock l(&state_->mu);
  if (timer_) timer_->Disarm();
}

itimerspec TimerFd::Set(int64_t value_ns, int64_t interval_ns, bool absolute) {
  State& s = *state_;
  absl::MutexLock l(&s.mu);
  itimerspec old{};
  if (timer_) {
    old = timer_->Get();
    timer_->Disarm();
  }
  s.ticks = 0;
  uint64_t gen = ++s.generation;
  std::weak_ptr<State> weak = state_;
  timer_ = std::make_shared<kernel::Timer>(&service_, clock_, [weak, gen](uint64_t overruns) {
    std::shared_ptr<State> st = weak.lock();
    if (!st) return;
    absl::MutexLock l(&st->mu);
    if (st->generation != gen) return;
    st->ticks += overruns;
    st->queue.Notify(kEventIn);
  });
  if (value_ns != 0) timer_->Set(value_ns, interval_ns, absolute);
  return old;
}

itimerspec TimerFd::Get() {
  absl::MutexLock l(&state_->mu);
  if (!timer_) return itimerspec{};
  return timer_->Get();
}

Result<size_t> TimerFd::Read(kernel::Task& task, std::span<uint8_t> dst) {
  if (dst.size() < sizeof(uint64_t)) return Errno(EINVAL);
  State& s = *state_;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&s.mu);
      if (s.ticks > 0) {
        uint64_t v = std::exchange(s.ticks, 0);
        std::memcpy(dst.data(), &v, sizeof(v));
        return sizeof(v);
      }
    }
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(s.queue, &task, kEventIn);
      continue;
    }
    if (!task.Block().ok()) return Errno(kERESTARTSYS);
  }
}

kernel::EventMask TimerFd::Readiness(kernel::EventMask mask) {
  absl::MutexLock l(&state_->mu);
  // timerfd_poll reports POLLIN alone.
  return state_->ticks > 0 ? mask & kEventIn : 0;
}

}  // namespace moat::fsimpl
