#include "sentry/fsimpl/eventfd.h"

#include <sys/eventfd.h>

#include <cstring>
#include <limits>
#include <optional>

#include "sentry/kernel/task.h"

namespace moat::fsimpl {

using kernel::kEventErr;
using kernel::kEventIn;
using kernel::kEventOut;

namespace {
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
}  // namespace

RefPtr<EventFd> EventFd::New(uint64_t initval, int flags) {
  return RefPtr<EventFd>(new EventFd(initval, flags));
}

EventFd::EventFd(uint64_t initval, int flags)
    : AnonFile("eventfd", flags & O_NONBLOCK), semaphore_(flags & EFD_SEMAPHORE),
      count_(initval) {}

Result<size_t> EventFd::Read(kernel::Task& task, std::span<uint8_t> dst) {
  if (dst.size() < sizeof(uint64_t)) return Errno(EINVAL);
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (count_ > 0) {
        uint64_t v = semaphore_ ? 1 : count_;
        count_ -= v;
        std::memcpy(dst.data(), &v, sizeof(v));
        queue_.Notify(kEventOut);
        return sizeof(v);
      }
    }
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      // Register, then look again, so that a write in between is not missed.
      reg.emplace(queue_, &task, kEventIn);
      continue;
    }
    if (!task.Block().ok()) return Errno(kERESTARTSYS);
  }
}

Result<size_t> EventFd::Write(kernel::Task& task, std::span<const uint8_t> src) {
  // Linux takes exactly 8 bytes here, unlike read, which takes any larger buffer.
  if (src.size() != sizeof(uint64_t)) return Errno(EINVAL);
  uint64_t v;
  std::memcpy(&v, src.data(), sizeof(v));
  if (v == kMax) return Errno(EINVAL);
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (kMax - count_ > v) {
        count_ += v;
        // Even a write of zero wakes the readers, as in Linux.
        queue_.Notify(kEventIn);
        return sizeof(v);
      }
    }
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(queue_, &task, kEventOut);
      continue;
    }
    if (!task.Block().ok()) return Errno(kERESTARTSYS);
  }
}

kernel::EventMask EventFd::Readiness(kernel::EventMask mask) {
  absl::MutexLock l(&mu_);
  // Only POLLIN and POLLOUT: eventfd_poll sets neither POLLRDNORM nor POLLWRNORM.
  kernel::EventMask ready = 0;
  if (count_ > 0) ready |= kEventIn;
  // Only the kernel's eventfd_signal can reach the maximum; it reads as an error then.
  if (count_ == kMax) ready |= kEventErr;
  if (kMax - 1 > count_) ready |= kEventOut;
  return ready & (mask | kEventErr);
}

}  // namespace moat::fsimpl
