#include "sentry/fsimpl/signalfd.h"

#include <cstring>
#include <optional>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"

namespace moat::fsimpl {

using kernel::kEventIn;

namespace {

// Linux's siginfo layouts (siginfo_layout() in kernel/signal.c).
enum class Layout { kKill, kTimer, kPoll, kFault, kChld, kRt, kSys };

Layout LayoutOf(int sig, int code) {
  if (code > SI_USER && code < SI_KERNEL) {
    // The highest si_code each signal defines, and its layout.
    switch (sig) {
      case SIGILL:
        if (code <= 11) return Layout::kFault;
        break;
      case SIGFPE:
        if (code <= 15) return Layout::kFault;
        break;
      case SIGSEGV:
        if (code <= 10) return Layout::kFault;
        break;
      case SIGBUS:
        if (code <= 5) return Layout::kFault;
        break;
      case SIGTRAP:
        if (code <= 6) return Layout::kFault;
        break;
      case SIGCHLD:
        if (code <= 6) return Layout::kChld;
        break;
      case SIGPOLL:
        if (code <= 6) return Layout::kPoll;
        break;
      case SIGSYS:
        if (code <= 2) return Layout::kSys;
        break;
      default:
        break;
    }
    if (code <= 6) return Layout::kPoll;  // NSIGPOLL
    return Layout::kKill;
  }
  if (code == SI_TIMER) return Layout::kTimer;
  if (code == SI_SIGIO) return Layout::kPoll;
  if (code < 0) return Layout::kRt;
  return Layout::kKill;
}

constexpr size_t kRecord = sizeof(signalfd_siginfo);
static_assert(kRecord == 128);

}  // namespace

signalfd_siginfo ToSignalfdSiginfo(const siginfo_t& info) {
  signalfd_siginfo s{};
  s.ssi_signo = info.si_signo;
  s.ssi_errno = info.si_errno;
  s.ssi_code = info.si_code;
  switch (LayoutOf(info.si_signo, info.si_code)) {
    case Layout::kKill:
      s.ssi_pid = info.si_pid;
      s.ssi_uid = info.si_uid;
      break;
    case Layout::kTimer:
      s.ssi_tid = info.si_timerid;
      s.ssi_overrun = info.si_overrun;
      s.ssi_ptr = reinterpret_cast<uint64_t>(info.si_ptr);
      s.ssi_int = info.si_int;
      break;
    case Layout::kPoll:
      s.ssi_band = static_cast<uint32_t>(info.si_band);
      s.ssi_fd = info.si_fd;
      break;
    case Layout::kFault:
      s.ssi_addr = reinterpret_cast<uint64_t>(info.si_addr);
      if (info.si_signo == SIGBUS &&
          (info.si_code == BUS_MCEERR_AR || info.si_code == BUS_MCEERR_AO)) {
        s.ssi_addr_lsb = info.si_addr_lsb;
      }
      break;
    case Layout::kChld:
      s.ssi_pid = info.si_pid;
      s.ssi_uid = info.si_uid;
      s.ssi_status = info.si_status;
      s.ssi_utime = info.si_utime;
      s.ssi_stime = info.si_stime;
      break;
    case Layout::kRt:
      s.ssi_pid = info.si_pid;
      s.ssi_uid = info.si_uid;
      s.ssi_ptr = reinterpret_cast<uint64_t>(info.si_ptr);
      s.ssi_int = info.si_int;
      break;
    case Layout::kSys:
      s.ssi_call_addr = reinterpret_cast<uint64_t>(info.si_call_addr);
      s.ssi_syscall = info.si_syscall;
      s.ssi_arch = info.si_arch;
      break;
  }
  return s;
}

RefPtr<SignalFd> SignalFd::New(kernel::Kernel& kernel, kernel::SigSet mask, int flags) {
  return RefPtr<SignalFd>(new SignalFd(kernel, mask, flags));
}

SignalFd::SignalFd(kernel::Kernel& kernel, kernel::SigSet mask, int flags)
    : AnonFile("signalfd", flags & O_NONBLOCK), kernel_(kernel),
      mask_((mask & ~kernel::kUnblockable).bits()) {}

void SignalFd::SetMask(kernel::SigSet mask) {
  mask_.store((mask & ~kernel::kUnblockable).bits());
  kernel_.signal_queue().Notify(kEventIn);
}

kernel::WaitQueue* SignalFd::Queue() { return &kernel_.signal_queue(); }

kernel::EventMask SignalFd::Readiness(kernel::EventMask mask) {
  kernel::Task* t = kernel::Task::Current();
  if (!t) return 0;
  absl::MutexLock l(&kernel_.mu_);
  if ((t->PendingSet() & this->mask()).Empty()) return 0;
  return mask & kEventIn;  // signalfd_poll reports POLLIN alone
}

Result<size_t> SignalFd::Read(kernel::Task& task, std::span<uint8_t> dst) {
  const size_t max = dst.size() / kRecord;
  if (max == 0) return Errno(EINVAL);
  size_t n = 0;
  auto take = [&]() {
    absl::MutexLock l(&kernel_.mu_);
    while (n < max) {
      std::optional<siginfo_t> info = task.DequeueSignal(mask());
      if (!info) break;
      signalfd_siginfo s = ToSignalfdSiginfo(*info);
      std::memcpy(dst.data() + n * kRecord, &s, kRecord);
      n++;
    }
  };
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    take();
    if (n > 0) return n * kRecord;
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(kernel_.signal_queue(), &task, kEventIn);
      continue;
    }
    if (!task.Block().ok()) {
      // A signal that interrupts the wait may be one this file takes (one the thread does not
      // block): Linux dequeues before it looks for a signal to deliver.
      take();
      if (n > 0) return n * kRecord;
      return Errno(kERESTARTSYS);
    }
  }
}

}  // namespace moat::fsimpl
