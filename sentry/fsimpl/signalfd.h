// signalfd(2): reads the reading thread's pending signals that are in the file's mask, as
// struct signalfd_siginfo, and reports them as readiness to poll and epoll.
//
// As in Linux, what a signalfd shows depends on who looks: a read or a poll takes from the
// pending queues of the calling thread and its process (Task::Current() for readiness), so a
// signalfd inherited across fork reads the child's signals in the child.
//
// Every signalfd waits on the kernel's signal queue (Kernel::signal_queue()), which is notified
// whenever any signal becomes pending; readers re-check their own queues after a wake-up.
//
// Lock order: Kernel::mu_ > WaitQueue::mu_. Blocking happens with no lock held.
#ifndef MOAT_SENTRY_FSIMPL_SIGNALFD_H_
#define MOAT_SENTRY_FSIMPL_SIGNALFD_H_

#include <sys/signalfd.h>

#include <atomic>

#include "sentry/fsimpl/anon_inode.h"
#include "sentry/kernel/signal_types.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {
class Kernel;
}

namespace moat::fsimpl {

class SignalFd final : public AnonFile {
 public:
  // `flags` may hold SFD_NONBLOCK. SIGKILL and SIGSTOP are dropped from `mask` silently.
  static RefPtr<SignalFd> New(kernel::Kernel& kernel, kernel::SigSet mask, int flags);

  // Reads as many pending signals of the mask as whole signalfd_siginfo records fit in `dst`
  // (EINVAL if not one does); waits for the first (EAGAIN with O_NONBLOCK).
  Result<size_t> Read(kernel::Task& task, std::span<uint8_t> dst) override;
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override;

  // signalfd on an existing signalfd: replaces the mask and wakes those waiting on it.
  void SetMask(kernel::SigSet mask);
  kernel::SigSet mask() const { return kernel::SigSet(mask_.load()); }

 private:
  SignalFd(kernel::Kernel& kernel, kernel::SigSet mask, int flags);

  kernel::Kernel& kernel_;
  std::atomic<uint64_t> mask_;
};

// The signalfd_siginfo record Linux makes of `info` (signalfd_copyinfo): which fields are
// filled depends on the signal and si_code, as for the layouts of siginfo_t.
signalfd_siginfo ToSignalfdSiginfo(const siginfo_t& info);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_SIGNALFD_H_
