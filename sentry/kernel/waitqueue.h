// Wait queues: how a task thread sleeps until an object changes.
//
// An object that can be waited on (a pipe, a child list, a timer) owns a WaitQueue. A task that must
// wait registers a Waiter on the queue, re-checks its condition, and calls Task::Block(); Notify()
// wakes every registered waiter whose mask intersects the event. The waiter unregisters itself
// (WaiterRegistration does so on destruction).
//
// Lock order: object locks  >  WaitQueue::mu_  >  Task::wake_mu_. Notify() may be called with the
// object's lock held.
#ifndef MOAT_SENTRY_KERNEL_WAITQUEUE_H_
#define MOAT_SENTRY_KERNEL_WAITQUEUE_H_

#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace moat::kernel {

class Task;

// Readiness bits, as poll(2)'s.
using EventMask = uint64_t;
inline constexpr EventMask kEventIn = 0x001;      // POLLIN
inline constexpr EventMask kEventPri = 0x002;     // POLLPRI
inline constexpr EventMask kEventOut = 0x004;     // POLLOUT
inline constexpr EventMask kEventErr = 0x008;     // POLLERR
inline constexpr EventMask kEventHup = 0x010;     // POLLHUP
inline constexpr EventMask kEventRdNorm = 0x040;  // POLLRDNORM
inline constexpr EventMask kEventWrNorm = 0x100;  // POLLWRNORM
inline constexpr EventMask kEventRdHup = 0x2000;  // POLLRDHUP
inline constexpr EventMask kEventAll = ~EventMask{0};

// Something that can be woken: a task (Task::Wake) or another notifier such as epoll.
class Wakeable {
 public:
  virtual void Wake(EventMask events) = 0;
  // For an exclusive waiter (Waiter::exclusive): wakes it, and says whether that was the one
  // exclusive wake-up a notification makes (Linux's wake_up with nr_exclusive = 1; epoll's
  // EPOLLEXCLUSIVE counts only a wake-up that reached an epoll_wait).
  virtual bool WakeExclusive(EventMask events) {
    Wake(events);
    return true;
  }

 protected:
  ~Wakeable() = default;
};

struct Waiter {
  Wakeable* target;
  EventMask mask;
  // Exclusive waiters are woken one per notification, after every other waiter.
  bool exclusive = false;
};

class WaitQueue {
 public:
  void Add(Waiter* w) {
    absl::MutexLock l(&mu_);
    waiters_.push_back(w);
  }
  void Remove(Waiter* w) {
    absl::MutexLock l(&mu_);
    std::erase(waiters_, w);
  }
  void Notify(EventMask events) {
    absl::MutexLock l(&mu_);
    bool exclusive = false;
    for (Waiter* w : waiters_) {
      if ((w->mask & events) && !w->exclusive) w->target->Wake(events);
      exclusive = exclusive || w->exclusive;
    }
    if (!exclusive) return;
    for (Waiter* w : waiters_) {
      if ((w->mask & events) && w->exclusive && w->target->WakeExclusive(events)) break;
    }
  }
  // Whether anyone waits here (Linux's waitqueue_active).
  bool HasWaiters() {
    absl::MutexLock l(&mu_);
    return !waiters_.empty();
  }

 private:
  absl::Mutex mu_;
  std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

// Registers a waiter for the duration of a scope.
class WaiterRegistration {
 public:
  WaiterRegistration(WaitQueue& q, Wakeable* target, EventMask mask)
      : q_(&q), w_{target, mask} {
    q_->Add(&w_);
  }
  ~WaiterRegistration() { q_->Remove(&w_); }
  WaiterRegistration(const WaiterRegistration&) = delete;
  WaiterRegistration& operator=(const WaiterRegistration&) = delete;

 private:
  WaitQueue* q_;
  Waiter w_;
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_WAITQUEUE_H_
