// eventfd(2): a 64-bit counter that write adds to and read takes from, with readiness for poll
// and epoll.
//
// Lock order: EventFd::mu_ > WaitQueue::mu_ (waitqueue.h). Blocking (Task::Block) happens with
// no lock held.
#ifndef MOAT_SENTRY_FSIMPL_EVENTFD_H_
#define MOAT_SENTRY_FSIMPL_EVENTFD_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "sentry/fsimpl/anon_inode.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::fsimpl {

class EventFd final : public AnonFile {
 public:
  // `flags` may hold EFD_SEMAPHORE and EFD_NONBLOCK (EFD_CLOEXEC is the fd table's).
  static RefPtr<EventFd> New(uint64_t initval, int flags);

  // Reads the counter as 8 bytes (EINVAL for a smaller buffer): all of it, or 1 in semaphore
  // mode, and lowers it by as much. Waits while it is zero (EAGAIN with O_NONBLOCK).
  Result<size_t> Read(kernel::Task& task, std::span<uint8_t> dst) override;
  // Adds an 8-byte value (EINVAL for any other size, or for 2^64-1). Waits while the sum would
  // pass 2^64-2 (EAGAIN with O_NONBLOCK).
  Result<size_t> Write(kernel::Task& task, std::span<const uint8_t> src) override;
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &queue_; }

 private:
  EventFd(uint64_t initval, int flags);

  const bool semaphore_;
  absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_);
  kernel::WaitQueue queue_;
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_EVENTFD_H_
