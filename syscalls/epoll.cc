// epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2.
#include <linux/capability.h>
#include <sys/epoll.h>

#include <climits>

#include "sentry/fsimpl/epoll.h"
#include "sentry/kernel/timers.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using fsimpl::EpollFile;

namespace {

Result<long> NewEpoll(Task& t, bool cloexec) {
  return TRY(t.fds().Add(EpollFile::New(), cloexec, 0, FdLimit(t)));
}

// do_epoll_wait: the checks in Linux's order, then the wait; events are copied out as they are
// found, and those that do not fit in the application's memory stay ready.
Result<long> WaitCommon(Task& t, int epfd, UserAddr events, int max,
                        std::optional<absl::Time> deadline) {
  constexpr int kMaxEvents = INT_MAX / sizeof(epoll_event);
  if (max <= 0 || max > kMaxEvents) return Errno(EINVAL);
  uint64_t size = static_cast<uint64_t>(max) * sizeof(epoll_event);
  if (size > kMaxUserAddress || events.value() > kMaxUserAddress - size) return Errno(EFAULT);
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(epfd));
  EpollFile* ep = fsimpl::AsEpoll(*f);
  if (!ep) return Errno(EINVAL);
  auto deliver = [&t, events](std::span<const epoll_event> evs) -> Result<size_t> {
    size_t bytes = TRY(t.CopyOutPartial(events, evs.data(), evs.size_bytes()));
    size_t n = bytes / sizeof(epoll_event);
    if (n == 0) return Errno(EFAULT);
    return n;
  };
  return TRY(ep->Wait(t, max, deadline, deliver));
}

// The signal mask of epoll_pwait and epoll_pwait2, in force while they wait.
Result<void> SetWaitMask(Task& t, UserAddr mask, uint64_t size) {
  if (mask.IsNull()) return Ok();
  if (size != sizeof(uint64_t)) return Errno(EINVAL);
  t.SetTemporaryMask(kernel::SigSet(TRY(t.CopyInObj<uint64_t>(mask))));
  return Ok();
}

std::optional<absl::Time> DeadlineFromMillis(int timeout) {
  if (timeout < 0) return std::nullopt;
  return absl::Now() + absl::Milliseconds(timeout);
}

}  // namespace

// epoll_create(2): the size is only a hint, but must be positive.
Result<long> EpollCreate(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) <= 0) return Errno(EINVAL);
  return NewEpoll(t, false);
}

// epoll_create1(2)
Result<long> EpollCreate1(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(0);
  if (flags & ~EPOLL_CLOEXEC) return Errno(EINVAL);
  return NewEpoll(t, flags & EPOLL_CLOEXEC);
}

// epoll_ctl(2): the checks in the order of Linux's do_epoll_ctl.
Result<long> EpollCtl(Task& t, const SyscallArgs& a) {
  int epfd = a.Int32(0), op = a.Int32(1), fd = a.Int32(2);
  epoll_event ev{};
  const bool has_event = op != EPOLL_CTL_DEL;
  if (has_event) ev = TRY(t.CopyInObj<epoll_event>(a.Addr(3)));
  RefPtr<vfs::FileDescription> f = TRY(t.fds().GetNotPath(epfd));
  RefPtr<vfs::FileDescription> target = TRY(t.fds().GetNotPath(fd));
  // Files without poll support (regular files, directories, /dev/null) cannot be watched.
  if (!target->Queue()) return Errno(EPERM);
  // EPOLLWAKEUP needs CAP_BLOCK_SUSPEND; without it the flag is dropped silently.
  if (has_event && (ev.events & EPOLLWAKEUP) && !t.creds()->HasCap(CAP_BLOCK_SUSPEND)) {
    ev.events &= ~EPOLLWAKEUP;
  }
  EpollFile* ep = fsimpl::AsEpoll(*f);
  if (f == target || !ep) return Errno(EINVAL);
  if (has_event && (ev.events & EPOLLEXCLUSIVE)) {
    if (op == EPOLL_CTL_MOD) return Errno(EINVAL);
    if (op == EPOLL_CTL_ADD &&
        (fsimpl::AsEpoll(*target) || (ev.events & ~fsimpl::kEpollExclusiveOk))) {
      return Errno(EINVAL);
    }
  }
  switch (op) {
    case EPOLL_CTL_ADD:
      TRY(ep->Add(target, fd, ev.events, ev.data.u64));
      return 0;
    case EPOLL_CTL_MOD:
      TRY(ep->Modify(target, fd, ev.events, ev.data.u64));
      return 0;
    case EPOLL_CTL_DEL:
      TRY(ep->Delete(target, fd));
      return 0;
    default:
      return Errno(EINVAL);
  }
}

// epoll_wait(2): never restarted after a signal (EINTR), as in Linux.
Result<long> EpollWait(Task& t, const SyscallArgs& a) {
  return WaitCommon(t, a.Int32(0), a.Addr(1), a.Int32(2), DeadlineFromMillis(a.Int32(3)));
}

// epoll_pwait(2)
Result<long> EpollPwait(Task& t, const SyscallArgs& a) {
  TRY(SetWaitMask(t, a.Addr(4), a.Uint(5)));
  return WaitCommon(t, a.Int32(0), a.Addr(1), a.Int32(2), DeadlineFromMillis(a.Int32(3)));
}

// epoll_pwait2(2): the timeout is a timespec (null: no timeout).
Result<long> EpollPwait2(Task& t, const SyscallArgs& a) {
  std::optional<absl::Time> deadline;
  if (!a.Addr(3).IsNull()) {
    timespec ts = TRY(t.CopyInObj<timespec>(a.Addr(3)));
    if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
    deadline = absl::Now() + absl::DurationFromTimespec(ts);
  }
  TRY(SetWaitMask(t, a.Addr(4), a.Uint(5)));
  return WaitCommon(t, a.Int32(0), a.Addr(1), a.Int32(2), deadline);
}

}  // namespace moat::syscalls
