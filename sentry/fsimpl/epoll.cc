#include "sentry/fsimpl/epoll.h"

#include <algorithm>
#include <unordered_map>

#include "sentry/kernel/task.h"

namespace moat::fsimpl {

using kernel::EventMask;
using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventRdNorm;

// One interest: a waiter on the file's queue, and the state the epoll keeps for it.
struct EpollFile::Entry final : RefCounted<Entry>, kernel::Wakeable {
  Entry(EpollFile* ep, vfs::FileDescription* file, int fd) : ep(ep), file(file), fd(fd) {}

  // Implements Wakeable::Wake: the file has events the entry asked for.
  void Wake(EventMask) override { ep->MakeReady(*this); }
  // Implements Wakeable::WakeExclusive for EPOLLEXCLUSIVE: the wake-up counts if an
  // epoll_wait was there to take it and the event is the one (IN or OUT) the entry wants
  // (ep_poll_callback's `ewake`).
  bool WakeExclusive(EventMask events) override {
    if (!ep->MakeReady(*this)) return false;
    switch (events & (EPOLLIN | EPOLLOUT)) {
      case EPOLLIN:
        return wants_in;
      case EPOLLOUT:
        return wants_out;
      case 0:
        return true;
      default:
        return false;
    }
  }

  EpollFile* const ep;               // not owned; valid while linked
  vfs::FileDescription* const file;  // not owned; valid while linked
  const int fd;
  // Where `waiter` is registered, and the waiter; guarded by g_mu.
  kernel::WaitQueue* queue = nullptr;
  kernel::Waiter waiter{this, 0};
  // EPOLLIN and EPOLLOUT of an exclusive entry (which cannot be modified).
  bool wants_in = false;
  bool wants_out = false;
  // Guarded by ep->mu_.
  uint32_t events = 0;  // as given to epoll_ctl, with EPOLLERR and EPOLLHUP added
  uint64_t data = 0;
  bool linked = false;    // in the interest list
  bool on_ready = false;  // in the ready list
  bool disabled = false;  // an EPOLLONESHOT entry that has reported
  uint64_t wakes = 0;     // notifications so far
};

struct EpollFile::Candidate {
  RefPtr<Entry> entry;
  RefPtr<vfs::FileDescription> file;
  uint32_t events;
  uint64_t wakes;
  EventMask revents = 0;
};

namespace {

constexpr int kMaxNests = 4;  // Linux's EP_MAX_NESTS

absl::Mutex g_mu;
// The entries watching each file, for its release.
std::unordered_map<const vfs::FileDescription*, std::vector<EpollFile::Entry*>>& Watchers()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  static auto* m =
      new std::unordered_map<const vfs::FileDescription*, std::vector<EpollFile::Entry*>>();
  return *m;
}

void Unwatch(const vfs::FileDescription* file, EpollFile::Entry* e)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  auto it = Watchers().find(file);
  if (it == Watchers().end()) return;
  std::erase(it->second, e);
  if (it->second.empty()) Watchers().erase(it);
}

// What the waiter on the file's queue listens for: the events asked for, and always errors
// and hang-ups.
EventMask WaitMask(uint32_t events) {
  return (events & ~kEpollPrivateBits) | kEventErr | kEventHup;
}

}  // namespace

// Called by FileDescription::OnLastRef for a file some epoll watches: every entry for it goes.
void ReleaseWatchedFile(vfs::FileDescription* file) {
  std::vector<RefPtr<EpollFile::Entry>> dropped;  // freed after the locks
  absl::MutexLock g(&g_mu);
  auto it = Watchers().find(file);
  if (it == Watchers().end()) return;
  std::vector<EpollFile::Entry*> entries = std::move(it->second);
  Watchers().erase(it);
  for (EpollFile::Entry* e : entries) {
    EpollFile* ep = e->ep;
    {
      absl::MutexLock l(&ep->mu_);
      auto in = ep->interest_.find({file, e->fd});
      if (in == ep->interest_.end() || in->second.get() != e) continue;
      dropped.push_back(std::move(in->second));
      ep->interest_.erase(in);
      e->linked = false;
      if (e->on_ready) {
        std::erase_if(ep->ready_, [e](const RefPtr<EpollFile::Entry>& r) { return r.get() == e; });
        e->on_ready = false;
      }
    }
    e->queue->Remove(&e->waiter);
  }
}

EpollFile* AsEpoll(vfs::FileDescription& f) { return dynamic_cast<EpollFile*>(&f); }

RefPtr<EpollFile> EpollFile::New(int flags) { return RefPtr<EpollFile>(new EpollFile(flags)); }

EpollFile::EpollFile(int flags) : AnonFile("eventpoll", flags & O_NONBLOCK) {}

EpollFile::~EpollFile() {
  // The files this epoll watches may be alive, or in their release waiting for g_mu; either
  // way they are whole, and their queues must forget the entries before the entries go.
  absl::MutexLock g(&g_mu);
  std::map<Key, RefPtr<Entry>> entries;
  {
    absl::MutexLock l(&mu_);
    entries.swap(interest_);
    ready_.clear();
    for (auto& [key, e] : entries) e->linked = false;
  }
  for (auto& [key, e] : entries) {
    e->queue->Remove(&e->waiter);
    Unwatch(key.first, e.get());
  }
}

bool EpollFile::MakeReady(Entry& e) {
  {
    absl::MutexLock l(&mu_);
    if (!e.linked || e.disabled) return false;
    e.wakes++;
    if (!e.on_ready) {
      e.on_ready = true;
      ready_.push_back(RefPtr<Entry>(&e));
    }
  }
  bool waiters = queue_.HasWaiters();
  queue_.Notify(kEventIn | kEventRdNorm);
  return waiters;
}

int EpollFile::DepthBelow(const EpollFile* target, int depth, bool& loop) {
  if (depth > kMaxNests) return kMaxNests + 1;
  std::vector<EpollFile*> children;
  {
    absl::MutexLock l(&mu_);
    for (auto& [key, e] : interest_) {
      if (EpollFile* child = AsEpoll(*e->file)) children.push_back(child);
    }
  }
  int most = 0;
  for (EpollFile* child : children) {
    if (child == target) {
      loop = true;
      return kMaxNests + 1;
    }
    most = std::max(most, 1 + child->DepthBelow(target, depth + 1, loop));
    if (loop) return most;
  }
  return most;
}

int EpollFile::DepthAbove(int depth) {
  if (depth > kMaxNests) return kMaxNests + 1;
  auto it = Watchers().find(this);
  if (it == Watchers().end()) return 0;
  int most = 0;
  for (Entry* e : it->second) most = std::max(most, 1 + e->ep->DepthAbove(depth + 1));
  return most;
}

Result<void> EpollFile::Add(const RefPtr<vfs::FileDescription>& file, int fd, uint32_t events,
                            uint64_t data) {
  RefPtr<Entry> e;
  {
    absl::MutexLock g(&g_mu);
    Key key{file.get(), fd};
    // Linux checks for loops before it looks for the entry.
    if (EpollFile* target = AsEpoll(*file)) {
      bool loop = false;
      int below = target->DepthBelow(this, 0, loop);
      if (loop || below + 1 + DepthAbove(0) > kMaxNests) return Errno(ELOOP);
    }
    {
      absl::MutexLock l(&mu_);
      if (interest_.contains(key)) return Errno(EEXIST);
    }
    e = MakeRef<Entry>(this, file.get(), fd);
    e->queue = file->Queue();
    e->waiter.mask = WaitMask(events);
    e->waiter.exclusive = events & EPOLLEXCLUSIVE;
    e->wants_in = events & EPOLLIN;
    e->wants_out = events & EPOLLOUT;
    e->events = events | EPOLLERR | EPOLLHUP;
    e->data = data;
    e->linked = true;
    {
      absl::MutexLock l(&mu_);
      interest_[key] = e;
    }
    e->queue->Add(&e->waiter);
    vfs::FileDescription::SetReleaseHook(&ReleaseWatchedFile);
    Watchers()[file.get()].push_back(e.get());
    file->MarkWatched();
  }
  // Already ready: on the ready list at once, as Linux's ep_insert does.
  if (file->Readiness(WaitMask(events)) & WaitMask(events)) MakeReady(*e);
  return Ok();
}

Result<void> EpollFile::Modify(const RefPtr<vfs::FileDescription>& file, int fd, uint32_t events,
                               uint64_t data) {
  RefPtr<Entry> e;
  {
    absl::MutexLock g(&g_mu);
    {
      absl::MutexLock l(&mu_);
      auto it = interest_.find({file.get(), fd});
      if (it == interest_.end()) return Errno(ENOENT);
      e = it->second;
      if (e->events & EPOLLEXCLUSIVE) return Errno(EINVAL);
    }
    e->queue->Remove(&e->waiter);
    e->waiter.mask = WaitMask(events);
    e->queue->Add(&e->waiter);
    absl::MutexLock l(&mu_);
    e->events = events | EPOLLERR | EPOLLHUP;
    e->data = data;
    e->disabled = false;
  }
  if (file->Readiness(WaitMask(events)) & WaitMask(events)) MakeReady(*e);
  return Ok();
}

Result<void> EpollFile::Delete(const RefPtr<vfs::FileDescription>& file, int fd) {
  RefPtr<Entry> e;
  absl::MutexLock g(&g_mu);
  {
    absl::MutexLock l(&mu_);
    auto it = interest_.find({file.get(), fd});
    if (it == interest_.end()) return Errno(ENOENT);
    e = std::move(it->second);
    interest_.erase(it);
    e->linked = false;
    if (e->on_ready) {
      std::erase(ready_, e);
      e->on_ready = false;
    }
  }
  e->queue->Remove(&e->waiter);
  Unwatch(file.get(), e.get());
  return Ok();
}

std::vector<EpollFile::Candidate> EpollFile::Snapshot(bool take) {
  std::vector<Candidate> cands;
  absl::MutexLock l(&mu_);
  for (const RefPtr<Entry>& e : ready_) {
    if (take) e->on_ready = false;
    if (!e->linked || e->disabled) continue;
    // A file whose last reference is gone is being released: its entry is about to go.
    RefPtr<vfs::FileDescription> f = TryRef(e->file);
    if (!f) continue;
    cands.push_back(Candidate{e, std::move(f), e->events, e->wakes});
  }
  if (take) ready_.clear();
  return cands;
}

size_t EpollFile::PollCandidates(std::vector<Candidate>& cands, size_t max) {
  size_t found = 0, asked = 0;
  for (Candidate& c : cands) {
    if (found == max) break;
    EventMask want = WaitMask(c.events);
    c.revents = c.file->Readiness(want) & want;
    asked++;
    if (c.revents) found++;
  }
  return asked;
}

void EpollFile::Scan(size_t max, std::vector<epoll_event>& out,
                     std::vector<RefPtr<Entry>>& reported) {
  std::vector<Candidate> cands = Snapshot(true);
  size_t asked = PollCandidates(cands, max);
  bool ready_empty;
  {
    absl::MutexLock l(&mu_);
    // Entries not asked go back in front, ahead of those notified meanwhile, so that every
    // ready entry gets its turn (Linux splices them back first too).
    for (size_t i = cands.size(); i-- > asked;) {
      Entry& e = *cands[i].entry;
      if (!e.linked || e.disabled || e.on_ready) continue;
      e.on_ready = true;
      ready_.push_front(cands[i].entry);
    }
    for (size_t i = 0; i < asked; i++) {
      Candidate& c = cands[i];
      Entry& e = *c.entry;
      // Gone, or re-armed by EPOLL_CTL_MOD (which polled the file itself), meanwhile.
      if (!c.revents || !e.linked || e.disabled || e.events != c.events) continue;
      out.push_back(epoll_event{static_cast<uint32_t>(c.revents), {.u64 = e.data}});
      reported.push_back(c.entry);
      if (e.events & EPOLLONESHOT) {
        e.disabled = true;
      } else if (!(e.events & EPOLLET) && !e.on_ready) {
        // Level-triggered: reported again while the file stays ready.
        e.on_ready = true;
        ready_.push_back(c.entry);
      }
    }
    ready_empty = ready_.empty();
  }
  // Other waiters may have found the list empty while this scan held it; what stays on it
  // (level-triggered entries, those not asked) is theirs too, so wake them (ep_done_scan).
  if (!ready_empty) queue_.Notify(kEventIn | kEventRdNorm);
  // `cands` drops its file references here, with no lock held: a file whose last reference
  // this was is released, and its release takes g_mu and mu_.
}

void EpollFile::Requeue(std::span<const RefPtr<Entry>> entries) {
  absl::MutexLock l(&mu_);
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    Entry& e = **it;
    if (!e.linked) continue;
    e.disabled = false;
    if (!e.on_ready) {
      e.on_ready = true;
      ready_.push_front(*it);
    }
  }
}

Result<size_t> EpollFile::Wait(kernel::Task& task, int max, std::optional<absl::Time> deadline,
                               const Deliver& deliver) {
  // Registered before the first scan, so that an event between a scan and the sleep wakes it.
  kernel::WaiterRegistration reg(queue_, &task, kEventIn);
  for (;;) {
    std::vector<epoll_event> out;
    std::vector<RefPtr<Entry>> reported;
    Scan(static_cast<size_t>(max), out, reported);
    if (!out.empty()) {
      Result<size_t> n = deliver(out);
      size_t done = n.ok() ? *n : 0;
      if (done < out.size()) Requeue(std::span(reported).subspan(done));
      return n;
    }
    if (deadline && absl::Now() >= *deadline) return size_t{0};
    {
      absl::MutexLock l(&mu_);
      if (!ready_.empty()) continue;
    }
    Result<void> b = task.Block(deadline);
    if (!b.ok() && b.error().value() != ETIMEDOUT) return Errno(EINTR);
    // Timed out: one more scan, as Linux looks for events once more before returning 0.
  }
}

EventMask EpollFile::Readiness(EventMask mask) {
  std::vector<Candidate> cands = Snapshot(false);
  size_t asked = PollCandidates(cands, 1);
  bool ready = false;
  {
    // Entries that turned out not to be ready leave the ready list, unless notified again
    // meanwhile (ep_eventpoll_poll does the same).
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < asked; i++) {
      Candidate& c = cands[i];
      if (c.revents) {
        ready = true;
        continue;
      }
      Entry& e = *c.entry;
      if (e.on_ready && e.wakes == c.wakes) {
        e.on_ready = false;
        std::erase(ready_, c.entry);
      }
    }
  }
  return ready ? mask & (kEventIn | kEventRdNorm) : 0;
}

}  // namespace moat::fsimpl
