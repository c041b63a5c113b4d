// The event files other than epoll: eventfd, eventfd2, timerfd_create, timerfd_settime,
// timerfd_gettime, signalfd, signalfd4.
#include <linux/capability.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "sentry/fsimpl/eventfd.h"
#include "sentry/fsimpl/signalfd.h"
#include "sentry/fsimpl/timerfd.h"
#include "sentry/kernel/timers.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::ToNanos;

namespace {

Result<long> NewEventFd(Task& t, uint32_t initval, int flags) {
  if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) return Errno(EINVAL);
  return TRY(t.fds().Add(fsimpl::EventFd::New(initval, flags), flags & EFD_CLOEXEC, 0, FdLimit(t)));
}

// timerfd_settime and timerfd_gettime refuse an fd that is not a timerfd with EINVAL.
Result<RefPtr<fsimpl::TimerFd>> GetTimerFd(Task& t, int fd) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(fd));
  auto* tf = dynamic_cast<fsimpl::TimerFd*>(f.get());
  if (!tf) return Errno(EINVAL);
  return RefPtr<fsimpl::TimerFd>(tf);
}

Result<long> SignalFdCommon(Task& t, int fd, UserAddr mask_addr, uint64_t size, int flags) {
  if (flags & ~(SFD_CLOEXEC | SFD_NONBLOCK)) return Errno(EINVAL);
  if (size != sizeof(uint64_t)) return Errno(EINVAL);
  kernel::SigSet mask(TRY(t.CopyInObj<uint64_t>(mask_addr)));
  if (fd == -1) {
    return TRY(t.fds().Add(fsimpl::SignalFd::New(t.kernel(), mask, flags), flags & SFD_CLOEXEC, 0,
                           FdLimit(t)));
  }
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(fd));
  auto* sf = dynamic_cast<fsimpl::SignalFd*>(f.get());
  if (!sf) return Errno(EINVAL);
  sf->SetMask(mask);
  return fd;
}

}  // namespace

// eventfd(2)
Result<long> Eventfd(Task& t, const SyscallArgs& a) { return NewEventFd(t, a.Uint32(0), 0); }

// eventfd2(2)
Result<long> Eventfd2(Task& t, const SyscallArgs& a) {
  return NewEventFd(t, a.Uint32(0), a.Int32(1));
}

// timerfd_create(2)
Result<long> TimerfdCreate(Task& t, const SyscallArgs& a) {
  clockid_t clock = a.Int32(0);
  int flags = a.Int32(1);
  if (flags & ~(TFD_CLOEXEC | TFD_NONBLOCK)) return Errno(EINVAL);
  clockid_t host;
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_BOOTTIME:
      host = clock;
      break;
    case CLOCK_REALTIME_ALARM:
      host = CLOCK_REALTIME;
      break;
    case CLOCK_BOOTTIME_ALARM:
      host = CLOCK_BOOTTIME;
      break;
    default:
      return Errno(EINVAL);
  }
  if (host != clock && !t.creds()->HasCap(CAP_WAKE_ALARM)) return Errno(EPERM);
  auto file = fsimpl::TimerFd::New(t.kernel().timers(), host, flags);
  return TRY(t.fds().Add(std::move(file), flags & TFD_CLOEXEC, 0, FdLimit(t)));
}

// timerfd_settime(2)
Result<long> TimerfdSettime(Task& t, const SyscallArgs& a) {
  itimerspec its = TRY(t.CopyInObj<itimerspec>(a.Addr(2)));
  int flags = a.Int32(1);
  if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) return Errno(EINVAL);
  if (!kernel::ValidTimespec(its.it_value) || !kernel::ValidTimespec(its.it_interval)) {
    return Errno(EINVAL);
  }
  RefPtr<fsimpl::TimerFd> tf = TRY(GetTimerFd(t, a.Int32(0)));
  // TFD_TIMER_CANCEL_ON_SET never fires: the sandbox cannot set the host's realtime clock.
  itimerspec old = tf->Set(ToNanos(its.it_value), ToNanos(its.it_interval),
                           flags & TFD_TIMER_ABSTIME);
  if (!a.Addr(3).IsNull()) TRY(t.CopyOutObj(a.Addr(3), old));
  return 0;
}

// timerfd_gettime(2)
Result<long> TimerfdGettime(Task& t, const SyscallArgs& a) {
  RefPtr<fsimpl::TimerFd> tf = TRY(GetTimerFd(t, a.Int32(0)));
  TRY(t.CopyOutObj(a.Addr(1), tf->Get()));
  return 0;
}

// signalfd(2)
Result<long> Signalfd(Task& t, const SyscallArgs& a) {
  return SignalFdCommon(t, a.Int32(0), a.Addr(1), a.Uint(2), 0);
}

// signalfd4(2)
Result<long> Signalfd4(Task& t, const SyscallArgs& a) {
  return SignalFdCommon(t, a.Int32(0), a.Addr(1), a.Uint(2), a.Int32(3));
}

}  // namespace moat::syscalls
