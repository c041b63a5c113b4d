// epoll(7): an interest list of (file, fd) pairs, a ready list, and epoll_wait.
//
// How readiness flows: for every interest the epoll registers a waiter (its Entry) on the file's
// Queue(). When the file notifies events the entry asked for, the entry goes on the ready list
// and the epoll's own queue is notified; epoll_wait (and poll, or an epoll watching this one)
// then asks the file for its Readiness and reports what it finds. A level-triggered entry stays
// on the ready list while it reports events; an edge-triggered one (EPOLLET) waits for the next
// notification; an EPOLLONESHOT one is disabled until EPOLL_CTL_MOD.
//
// Ownership: the interest list holds its entries; an entry points at its file without holding a
// reference (Linux keys on the (file, fd) pair and drops the entry when the file description is
// released, not when the fd is closed): FileDescription::OnLastRef calls back here, before the
// file's destructors run. Readiness is never asked of a file the epoll has no reference to: the
// scan takes one with TryRef and skips a file that is on its way out.
//
// Lock order:
//   g_mu (epoll.cc: links between files and the entries watching them; held by epoll_ctl's
//         ADD/MOD/DEL, by a watched file's release and by an epoll's destruction)
//     EpollFile::mu_ (one epoll's interest and ready lists; never held across a call into a
//                     file, so a nested epoll's locks are never taken under it)
//     WaitQueue::mu_ (a file's queue; Entry::Wake runs under it and takes EpollFile::mu_,
//                     then notifies the epoll's own queue after releasing it)
#ifndef MOAT_SENTRY_FSIMPL_EPOLL_H_
#define MOAT_SENTRY_FSIMPL_EPOLL_H_

#include <sys/epoll.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sentry/fsimpl/anon_inode.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::fsimpl {

// The flags of an interest that are not events (Linux's EP_PRIVATE_BITS).
inline constexpr uint32_t kEpollPrivateBits = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
// What may accompany EPOLLEXCLUSIVE (EPOLLEXCLUSIVE_OK_BITS).
inline constexpr uint32_t kEpollExclusiveOk =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

class EpollFile final : public AnonFile {
 public:
  static RefPtr<EpollFile> New(int flags = 0);
  ~EpollFile() override;

  // EPOLL_CTL_ADD: EEXIST if (file, fd) is already there, ELOOP if `file` is an epoll that
  // watches this one (directly or not) or the nesting would pass Linux's 4 levels. The caller
  // has checked that the file can be polled (EPERM) and the EPOLLEXCLUSIVE rules.
  Result<void> Add(const RefPtr<vfs::FileDescription>& file, int fd, uint32_t events,
                   uint64_t data);
  // EPOLL_CTL_MOD: ENOENT if not there; EINVAL for an EPOLLEXCLUSIVE entry. Re-enables an
  // EPOLLONESHOT entry.
  Result<void> Modify(const RefPtr<vfs::FileDescription>& file, int fd, uint32_t events,
                      uint64_t data);
  // EPOLL_CTL_DEL: ENOENT if not there.
  Result<void> Delete(const RefPtr<vfs::FileDescription>& file, int fd);

  // epoll_wait: waits until events are ready, `deadline` passes (returns 0) or the task is
  // interrupted (EINTR; epoll_wait is never restarted). Hands up to `max` events to `deliver`,
  // which returns how many it could give to the application (EFAULT if none); events it could
  // not deliver stay ready for the next call.
  using Deliver = std::function<Result<size_t>(std::span<const epoll_event>)>;
  Result<size_t> Wait(kernel::Task& task, int max, std::optional<absl::Time> deadline,
                      const Deliver& deliver);

  // EPOLLIN when an entry has events: for poll and select on the epoll fd, and for an epoll
  // that watches this one.
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &queue_; }

  // One interest (epoll.cc); public so that the release bookkeeping can name it.
  struct Entry;

 private:
  using Key = std::pair<const vfs::FileDescription*, int>;
  // A file of an entry and what it reported, for a scan done without mu_.
  struct Candidate;

  explicit EpollFile(int flags);

  // Puts `e` on the ready list if it is still linked and enabled, and wakes the waiters.
  // Returns whether there were any.
  bool MakeReady(Entry& e);
  // Asks the file of every candidate for its events, up to `max` that have some; returns how
  // many candidates were asked.
  static size_t PollCandidates(std::vector<Candidate>& cands, size_t max);
  // The entries on the ready list with references to their files (the list is emptied when
  // `take` is set, for epoll_wait).
  std::vector<Candidate> Snapshot(bool take);
  // One pass of epoll_wait: reports up to `max` events into `out` and the entries they came
  // from into `reported`.
  void Scan(size_t max, std::vector<epoll_event>& out, std::vector<RefPtr<Entry>>& reported);
  // Puts back entries whose events could not be delivered.
  void Requeue(std::span<const RefPtr<Entry>> entries);

  // Link bookkeeping for the loop check (g_mu held).
  // How many levels of epolls this one watches below it, up to `limit` + 1; sets `loop` if
  // `target` is among them.
  int DepthBelow(const EpollFile* target, int depth, bool& loop);
  // How many levels of epolls watch this one.
  int DepthAbove(int depth);

  friend void ReleaseWatchedFile(vfs::FileDescription* file);

  absl::Mutex mu_;
  std::map<Key, RefPtr<Entry>> interest_ ABSL_GUARDED_BY(mu_);
  std::deque<RefPtr<Entry>> ready_ ABSL_GUARDED_BY(mu_);
  // epoll_wait's waiters and the epolls that watch this one.
  kernel::WaitQueue queue_;
};

// Whether `f` is an epoll file (epoll_ctl and epoll_wait refuse others with EINVAL).
EpollFile* AsEpoll(vfs::FileDescription& f);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_EPOLL_H_
