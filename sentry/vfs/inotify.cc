// inotify: watch tables, event queues, the instance's file, and the notification hooks
// (inotify.h). Event order and coalescing follow Linux's fs/notify/inotify.
#include "sentry/vfs/inotify.h"

#include <sys/ioctl.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sentry/kernel/task.h"
#include "sentry/vfs/dnotify.h"

namespace moat::vfs {

namespace inotify_internal {
std::atomic<int64_t> g_watch_count{0};
}  // namespace inotify_internal

namespace {

using inotify_internal::g_watch_count;

// The bits a watch keeps: the events it wants and the flags that act on delivery.
constexpr uint32_t kWatchBits = IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK;

constexpr size_t kRecord = sizeof(struct inotify_event);

// The inode every inotify descriptor shares, like Linux's anon_inode_inode.
class AnonInode : public Inode {
 public:
  Result<Stat> GetStat() override {
    Stat st;
    st.dev = Dev();
    st.ino = 1;
    st.mode = S_IRUSR | S_IWUSR;  // no file type, as Linux reports anonymous inodes
    st.nlink = 1;
    st.blksize = 4096;
    st.atime = st.mtime = st.ctime = created_;
    return st;
  }
  Result<void> SetStat(const SetStatRequest&) override { return Errno(EPERM); }
  // Linux cannot reopen an anonymous inode through /proc/self/fd either.
  Result<RefPtr<FileDescription>> Open(int, const Path&) override { return Errno(ENXIO); }
  std::optional<std::string> AnonymousName() override { return "anon_inode:inotify"; }

 private:
  static uint64_t Dev() {
    static const uint64_t dev = NewAnonDev();
    return dev;
  }
  const timespec created_ = Now();
};

// Live instances, against Inotify::kMaxInstances.
std::atomic<int64_t> g_instance_count{0};

// An inotify descriptor: reads dequeue events, FIONREAD counts them, poll waits for them. Its
// creator has counted it in g_instance_count.
class InotifyFile : public FileDescription {
 public:
  InotifyFile(int flags, Path path)
      : FileDescription(flags, std::move(path)), inotify_(MakeRef<Inotify>()) {}
  ~InotifyFile() override {
    inotify_->Release();
    g_instance_count.fetch_sub(1, std::memory_order_relaxed);
  }

  Inotify& inotify() { return *inotify_; }

  Result<size_t> Read(Task& task, std::span<uint8_t> dst) override {
    std::optional<kernel::WaiterRegistration> reg;
    for (;;) {
      size_t n = TRY(inotify_->Dequeue(dst));
      if (n) return n;
      if (flags() & O_NONBLOCK) return Errno(EAGAIN);
      if (!reg) {
        // Register, then look again, so that an event queued in between wakes us.
        reg.emplace(inotify_->queue(), &task, kernel::kEventIn);
        continue;
      }
      Result<void> r = task.Block();
      if (!r.ok()) return Errno(r.error().value() == EINTR ? kERESTARTSYS : r.error().value());
    }
  }

  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override {
    if (cmd != FIONREAD) return Errno(ENOTTY);
    int n = static_cast<int>(inotify_->PendingBytes());
    RETURN_IF_ERRNO(task.CopyOutObj(arg, n));
    return 0L;
  }

  // noop_llseek: the position stays 0.
  Result<int64_t> Seek(int64_t, int) override { return int64_t{0}; }

  EventMask Readiness(EventMask mask) override {
    EventMask ready = inotify_->HasEvents() ? (kernel::kEventIn | kernel::kEventRdNorm) : 0;
    return ready & mask;
  }
  kernel::WaitQueue* Queue() override { return &inotify_->queue(); }
  // O_ASYNC: each queued event signals the owner (fsnotify_fasync).
  bool SupportsAsync() const override { return true; }

 private:
  RefPtr<Inotify> inotify_;
};

bool IsDir(Inode& inode) {
  Result<Stat> st = inode.GetStat();
  return st.ok() && S_ISDIR(st->mode);
}

// Queues `events` to every watch in `w` that wants some of them, adding `extra` (IN_ISDIR).
// A watch with IN_EXCL_UNLINK ignores events on a file that was unlinked.
void Deliver(InodeWatches* w, uint32_t events, uint32_t extra, std::string_view name,
             uint32_t cookie, bool unlinked) {
  if (!w) return;
  for (const InodeWatches::Entry& e : w->Snapshot()) {
    uint32_t bits = e.mask & events;
    if (!bits) continue;
    if (unlinked && (e.mask & IN_EXCL_UNLINK)) continue;
    e.owner->QueueForWatch(e.wd, bits | extra, cookie, name);
  }
  if (w->HasDirNotify()) DeliverDirNotify(*w, events);
}

}  // namespace

// ---- Inode's watch table ----

InodeWatches& Inode::EnsureWatches() {
  InodeWatches* w = watches_.load(std::memory_order_acquire);
  if (w) return *w;
  auto* fresh = new InodeWatches;
  if (watches_.compare_exchange_strong(w, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread installed one first
  return *w;
}

std::vector<InodeWatches::Entry> InodeWatches::Snapshot() {
  absl::MutexLock l(&mu_);
  return entries_;
}

void InodeWatches::MarkRemovalPending() {
  absl::MutexLock l(&mu_);
  removal_pending_ = true;
}

bool InodeWatches::TakeRemovalPending() {
  absl::MutexLock l(&mu_);
  return std::exchange(removal_pending_, false);
}

// ---- Inotify ----

size_t Inotify::Event::Size() const {
  if (name.empty()) return kRecord;
  // The name is NUL-terminated and padded to a whole record size.
  return kRecord + (name.size() + 1 + kRecord - 1) / kRecord * kRecord;
}

Result<int> Inotify::AddWatch(const RefPtr<Inode>& inode, uint32_t mask) {
  const uint32_t bits = mask & kWatchBits;
  absl::MutexLock l(&mu_);
  for (auto& [wd, watch] : watches_) {
    if (watch.inode != inode) continue;
    if (mask & IN_MASK_CREATE) return Errno(EEXIST);
    watch.mask = (mask & IN_MASK_ADD) ? (watch.mask | bits) : bits;
    InodeWatches& iw = inode->EnsureWatches();
    absl::MutexLock il(&iw.mu_);
    for (InodeWatches::Entry& e : iw.entries_) {
      if (e.owner.get() == this && e.wd == wd) e.mask = watch.mask;
    }
    return wd;
  }
  if (g_watch_count.load(std::memory_order_relaxed) >= kMaxWatches) return Errno(ENOSPC);
  // Descriptors count up and are not reused while the instance lives (idr_alloc_cyclic).
  const int wd = next_wd_++;
  watches_.emplace(wd, Watch{inode, bits});
  InodeWatches& iw = inode->EnsureWatches();
  {
    absl::MutexLock il(&iw.mu_);
    iw.entries_.push_back(InodeWatches::Entry{RefPtr<Inotify>(this), wd, bits});
  }
  g_watch_count.fetch_add(1, std::memory_order_relaxed);
  return wd;
}

void Inotify::EraseWatchLocked(std::map<int, Watch>::iterator it) {
  if (InodeWatches* iw = it->second.inode->watches()) {
    std::vector<InodeWatches::Entry> removed;  // released after the lock: they hold `this`
    {
      absl::MutexLock il(&iw->mu_);
      for (auto e = iw->entries_.begin(); e != iw->entries_.end();) {
        if (e->owner.get() == this && e->wd == it->first) {
          removed.push_back(std::move(*e));
          e = iw->entries_.erase(e);
        } else {
          ++e;
        }
      }
    }
  }
  watches_.erase(it);
  g_watch_count.fetch_sub(1, std::memory_order_relaxed);
}

Result<void> Inotify::RemoveWatch(int wd) {
  absl::MutexLock l(&mu_);
  auto it = watches_.find(wd);
  if (it == watches_.end()) return Errno(EINVAL);
  QueueLocked(Event{wd, IN_IGNORED, 0, ""});
  EraseWatchLocked(it);
  return Ok();
}

void Inotify::Release() {
  // The inode-side entries hold references to this instance; dropping them may free it, so
  // keep it alive until the lock is released.
  RefPtr<Inotify> self(this);
  absl::MutexLock l(&mu_);
  while (!watches_.empty()) EraseWatchLocked(watches_.begin());
  events_.clear();
  bytes_ = 0;
  overflow_queued_ = false;
}

void Inotify::QueueForWatch(int wd, uint32_t mask, uint32_t cookie, std::string_view name) {
  absl::MutexLock l(&mu_);
  auto it = watches_.find(wd);
  if (it == watches_.end()) return;  // removed since the hook looked
  QueueLocked(Event{wd, mask, cookie, std::string(name)});
  if (it->second.mask & IN_ONESHOT) {
    QueueLocked(Event{wd, IN_IGNORED, 0, ""});
    EraseWatchLocked(it);
  }
}

void Inotify::DropWatch(int wd) {
  absl::MutexLock l(&mu_);
  auto it = watches_.find(wd);
  if (it == watches_.end()) return;
  QueueLocked(Event{wd, IN_IGNORED, 0, ""});
  EraseWatchLocked(it);
}

void Inotify::QueueLocked(Event e) {
  // fsnotify_insert_event(): a full queue takes one IN_Q_OVERFLOW and nothing else.
  if (events_.size() >= kMaxQueuedEvents) {
    if (overflow_queued_) return;
    overflow_queued_ = true;
    e = Event{-1, IN_Q_OVERFLOW, 0, ""};
  } else if (e.mask != IN_IGNORED && !events_.empty()) {
    // inotify_merge(): an event identical to the last one queued (cookie aside) is dropped.
    const Event& last = events_.back();
    if (last.mask != IN_IGNORED && last.wd == e.wd && last.mask == e.mask &&
        last.name == e.name) {
      return;
    }
  }
  bytes_ += e.Size();
  events_.push_back(std::move(e));
  queue_.Notify(kernel::kEventIn | kernel::kEventRdNorm);
}

Result<size_t> Inotify::Dequeue(std::span<uint8_t> dst) {
  absl::MutexLock l(&mu_);
  size_t done = 0;
  while (!events_.empty()) {
    const Event& e = events_.front();
    const size_t size = e.Size();
    if (done + size > dst.size()) {
      if (done == 0) return Errno(EINVAL);
      break;
    }
    struct inotify_event rec {};
    rec.wd = e.wd;
    rec.mask = e.mask;
    rec.cookie = e.cookie;
    rec.len = static_cast<uint32_t>(size - kRecord);
    uint8_t* p = dst.data() + done;
    std::memcpy(p, &rec, kRecord);
    std::memset(p + kRecord, 0, rec.len);
    std::memcpy(p + kRecord, e.name.data(), e.name.size());
    done += size;
    bytes_ -= size;
    if (e.wd == -1 && e.mask == IN_Q_OVERFLOW) overflow_queued_ = false;
    events_.pop_front();
  }
  return done;
}

size_t Inotify::PendingBytes() {
  absl::MutexLock l(&mu_);
  return bytes_;
}

bool Inotify::HasEvents() {
  absl::MutexLock l(&mu_);
  return !events_.empty();
}

Result<RefPtr<FileDescription>> NewInotifyFile(int flags) {
  if (g_instance_count.fetch_add(1, std::memory_order_relaxed) >= Inotify::kMaxInstances) {
    g_instance_count.fetch_sub(1, std::memory_order_relaxed);
    return Errno(EMFILE);
  }
  // Shared by every inotify descriptor for the life of the sentry.
  static Inode* const inode = MakeRef<AnonInode>().Leak();
  Path path{nullptr, MakeRef<Dentry>(nullptr, "anon_inode:inotify", RefPtr<Inode>(inode))};
  return RefPtr<FileDescription>(
      MakeRef<InotifyFile>(O_RDONLY | (flags & O_NONBLOCK), std::move(path)));
}

Inotify* InotifyOf(FileDescription& f) {
  auto* i = dynamic_cast<InotifyFile*>(&f);
  return i ? &i->inotify() : nullptr;
}

uint32_t NewMoveCookie() {
  static std::atomic<uint32_t> next{1};
  uint32_t c = next.fetch_add(1, std::memory_order_relaxed);
  return c ? c : next.fetch_add(1, std::memory_order_relaxed);
}

// ---- Hooks ----

namespace inotify_internal {

void NotifyDentry(const Dentry& d, uint32_t mask) {
  Inode& inode = *d.inode();
  InodeWatches* self = inode.watches();
  RefPtr<Dentry> parent = d.parent();
  InodeWatches* up = parent ? parent->inode()->watches() : nullptr;
  if (!self && !up) return;
  const uint32_t isdir = IsDir(inode) ? IN_ISDIR : 0;
  const bool unlinked = d.deleted();
  // The directory hears first, as in fsnotify_parent().
  if (up) Deliver(up, mask, isdir, d.name(), 0, unlinked);
  if (self) Deliver(self, mask, isdir, "", 0, unlinked);
}

void NotifyFile(FileDescription& f, uint32_t mask) {
  if ((f.flags() & O_PATH) || !f.path().dentry) return;
  inotify_internal::NotifyDentry(*f.path().dentry, mask);
}

void NotifyChild(Inode& dir, uint32_t mask, std::string_view name, uint32_t cookie) {
  Deliver(dir.watches(), mask & ~uint32_t{IN_ISDIR}, mask & IN_ISDIR, name, cookie, false);
}

void NotifyInode(Inode& inode, uint32_t mask) { Deliver(inode.watches(), mask, 0, "", 0, false); }

namespace {

void ReportRemoval(InodeWatches* w) {
  Deliver(w, IN_DELETE_SELF, 0, "", 0, false);
  for (const InodeWatches::Entry& e : w->Snapshot()) e.owner->DropWatch(e.wd);
}

}  // namespace

void NotifyRemoved(Inode& inode) {
  InodeWatches* w = inode.watches();
  if (!w) return;
  // Owe the report first, then settle it if nothing is open: a close racing with this either
  // sees the debt or leaves the count at zero for us, and exactly one of the two reports.
  w->MarkRemovalPending();
  if (inode.OpenCount() == 0 && w->TakeRemovalPending()) ReportRemoval(w);
}

void NotifyLastClose(Inode& inode) {
  InodeWatches* w = inode.watches();
  if (w && w->TakeRemovalPending()) ReportRemoval(w);
}

void NotifySetStat(const Dentry& d, const SetStatRequest& req) {
  uint32_t mask = 0;
  if (req.uid || req.gid || req.mode) mask |= IN_ATTRIB;
  if (req.size) mask |= IN_MODIFY;
  // Both times is utimes(2): an attribute change; one alone reads as an access or a write.
  if (req.atime && req.mtime) {
    mask |= IN_ATTRIB;
  } else if (req.atime) {
    mask |= IN_ACCESS;
  } else if (req.mtime) {
    mask |= IN_MODIFY;
  }
  if (mask) inotify_internal::NotifyDentry(d, mask);
}

}  // namespace inotify_internal

}  // namespace moat::vfs
