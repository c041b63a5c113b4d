// poll, ppoll, select, pselect6: readiness of many files, waiting on all their queues at once.
#include <poll.h>
#include <sys/select.h>

#include "sentry/kernel/timers.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::EventMask;

namespace {

struct PollEntry {
  int fd;
  EventMask events;  // requested (POLLERR and POLLHUP are always reported)
  EventMask revents = 0;
  RefPtr<vfs::FileDescription> file;
};

// Fills revents for every entry; returns how many have any.
int Scan(Task& t, std::vector<PollEntry>& entries) {
  int ready = 0;
  for (PollEntry& e : entries) {
    e.revents = 0;
    if (e.fd < 0) continue;
    if (!e.file) {
      Result<RefPtr<vfs::FileDescription>> f = t.fds().GetNotPath(e.fd);
      if (!f.ok()) {
        e.revents = POLLNVAL;
        ready++;
        continue;
      }
      e.file = *f;
    }
    EventMask want = e.events | POLLERR | POLLHUP;
    e.revents = e.file->Readiness(want) & want;
    if (e.revents) ready++;
  }
  return ready;
}

// Polls until something is ready, the deadline passes (0 entries ready), or a signal arrives
// (EINTR). A null deadline waits forever; a past one does not wait.
Result<int> DoPoll(Task& t, std::vector<PollEntry>& entries, std::optional<absl::Time> deadline) {
  for (;;) {
    int ready = Scan(t, entries);
    if (ready > 0 || (deadline && absl::Now() >= *deadline)) return ready;
    std::vector<std::unique_ptr<kernel::WaiterRegistration>> regs;
    for (PollEntry& e : entries) {
      if (!e.file) continue;
      if (kernel::WaitQueue* q = e.file->Queue()) {
        regs.push_back(std::make_unique<kernel::WaiterRegistration>(*q, &t, e.events | POLLERR | POLLHUP));
      }
    }
    ready = Scan(t, entries);
    if (ready > 0) return ready;
    Result<void> b = t.Block(deadline);
    if (!b.ok()) {
      if (b.error().value() == ETIMEDOUT) return 0;
      return Errno(EINTR);
    }
  }
}

std::optional<absl::Time> DeadlineFromTimespec(const timespec& ts) {
  return absl::Now() + absl::DurationFromTimespec(ts);
}

timespec Remaining(std::optional<absl::Time> deadline) {
  absl::Duration left = std::max(*deadline - absl::Now(), absl::ZeroDuration());
  return absl::ToTimespec(left);
}

Result<long> PollCommon(Task& t, UserAddr fds, uint64_t nfds, std::optional<absl::Time> deadline,
                        int interrupted_errno) {
  if (nfds > FdLimit(t)) return Errno(EINVAL);
  std::vector<pollfd> pfds(nfds);
  if (nfds) TRY(t.CopyIn(fds, pfds.data(), nfds * sizeof(pollfd)));
  std::vector<PollEntry> entries;
  entries.reserve(nfds);
  for (const pollfd& p : pfds) entries.push_back({p.fd, static_cast<uint16_t>(p.events)});
  Result<int> r = DoPoll(t, entries, deadline);
  if (!r.ok()) return Errno(interrupted_errno);
  for (size_t i = 0; i < nfds; i++) pfds[i].revents = static_cast<short>(entries[i].revents);
  if (nfds) TRY(t.CopyOut(fds, pfds.data(), nfds * sizeof(pollfd)));
  return *r;
}

// select's sets as poll entries; EBADF for a set bit on a closed fd.
Result<long> SelectCommon(Task& t, int nfds, UserAddr rp, UserAddr wp, UserAddr ep,
                          std::optional<absl::Time> deadline) {
  if (nfds < 0 || static_cast<uint64_t>(nfds) > FdLimit(t)) return Errno(EINVAL);
  size_t words = (nfds + 63) / 64;
  std::vector<uint64_t> sets[3];
  UserAddr addrs[3] = {rp, wp, ep};
  for (int i = 0; i < 3; i++) {
    sets[i].assign(words, 0);
    if (!addrs[i].IsNull() && words) TRY(t.CopyIn(addrs[i], sets[i].data(), words * 8));
  }
  // Linux's POLLIN_SET, POLLOUT_SET and POLLEX_SET.
  constexpr EventMask kIn = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
  constexpr EventMask kOut = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
  constexpr EventMask kEx = POLLPRI;
  std::vector<PollEntry> entries;
  for (int fd = 0; fd < nfds; fd++) {
    EventMask ev = 0;
    if (sets[0][fd / 64] >> (fd % 64) & 1) ev |= kIn;
    if (sets[1][fd / 64] >> (fd % 64) & 1) ev |= kOut;
    if (sets[2][fd / 64] >> (fd % 64) & 1) ev |= kEx;
    if (!ev) continue;
    RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(fd));
    entries.push_back({fd, ev, 0, f});
  }
  Result<int> r = DoPoll(t, entries, deadline);
  if (!r.ok()) return Errno(kERESTARTNOHAND);
  for (auto& s : sets) std::fill(s.begin(), s.end(), 0);
  long count = 0;
  for (const PollEntry& e : entries) {
    EventMask got[3] = {e.revents & kIn & e.events, e.revents & kOut & e.events,
                        e.revents & kEx & e.events};
    for (int i = 0; i < 3; i++) {
      if (got[i]) {
        sets[i][e.fd / 64] |= uint64_t{1} << (e.fd % 64);
        count++;
      }
    }
  }
  for (int i = 0; i < 3; i++) {
    if (!addrs[i].IsNull() && words) TRY(t.CopyOut(addrs[i], sets[i].data(), words * 8));
  }
  return count;
}

}  // namespace

// poll(2): restarted after a handler-less signal with the time that was left.
Result<long> Poll(Task& t, const SyscallArgs& a) {
  int timeout = a.Int32(2);
  std::optional<absl::Time> deadline;
  if (timeout >= 0) deadline = absl::Now() + absl::Milliseconds(timeout);
  UserAddr fds = a.Addr(0);
  uint64_t nfds = a.Uint(1);
  Result<long> r = PollCommon(t, fds, nfds, deadline, EINTR);
  if (!r.ok() && r.error().value() == EINTR) {
    t.set_restart([fds, nfds, deadline](Task& task) {
      return PollCommon(task, fds, nfds, deadline, EINTR);
    });
    return Errno(kERESTART_RESTARTBLOCK);
  }
  return r;
}

// ppoll(2)
Result<long> Ppoll(Task& t, const SyscallArgs& a) {
  std::optional<absl::Time> deadline;
  if (!a.Addr(2).IsNull()) {
    timespec ts = TRY(t.CopyInObj<timespec>(a.Addr(2)));
    if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
    deadline = DeadlineFromTimespec(ts);
  }
  if (!a.Addr(3).IsNull()) {
    if (a.Uint(4) != sizeof(uint64_t)) return Errno(EINVAL);
    t.SetTemporaryMask(kernel::SigSet(TRY(t.CopyInObj<uint64_t>(a.Addr(3)))));
  }
  Result<long> r = PollCommon(t, a.Addr(0), a.Uint(1), deadline, kERESTARTNOHAND);
  if (deadline) (void)t.CopyOutObj(a.Addr(2), Remaining(deadline));
  return r;
}

// select(2): the timeout is updated with the time left, as Linux does.
Result<long> Select(Task& t, const SyscallArgs& a) {
  std::optional<absl::Time> deadline;
  if (!a.Addr(4).IsNull()) {
    timeval tv = TRY(t.CopyInObj<timeval>(a.Addr(4)));
    if (tv.tv_sec < 0 || tv.tv_usec < 0) return Errno(EINVAL);
    deadline = absl::Now() + absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
  }
  Result<long> r = SelectCommon(t, a.Int32(0), a.Addr(1), a.Addr(2), a.Addr(3), deadline);
  if (deadline) {
    timespec left = Remaining(deadline);
    (void)t.CopyOutObj(a.Addr(4), timeval{left.tv_sec, left.tv_nsec / 1000});
  }
  return r;
}

// pselect6(2): the sixth argument points at {const sigset_t *ss; size_t ss_len}.
Result<long> Pselect6(Task& t, const SyscallArgs& a) {
  std::optional<absl::Time> deadline;
  if (!a.Addr(4).IsNull()) {
    timespec ts = TRY(t.CopyInObj<timespec>(a.Addr(4)));
    if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
    deadline = DeadlineFromTimespec(ts);
  }
  if (!a.Addr(5).IsNull()) {
    struct SigArg {
      uint64_t ss;
      uint64_t len;
    };
    SigArg sig = TRY(t.CopyInObj<SigArg>(a.Addr(5)));
    if (sig.ss) {
      if (sig.len != sizeof(uint64_t)) return Errno(EINVAL);
      t.SetTemporaryMask(kernel::SigSet(TRY(t.CopyInObj<uint64_t>(UserAddr(sig.ss)))));
    }
  }
  Result<long> r = SelectCommon(t, a.Int32(0), a.Addr(1), a.Addr(2), a.Addr(3), deadline);
  if (deadline) (void)t.CopyOutObj(a.Addr(4), Remaining(deadline));
  return r;
}

}  // namespace moat::syscalls
