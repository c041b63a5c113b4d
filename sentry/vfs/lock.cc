// Advisory locks (lock.h): the lock tables and the deadlock graph of waiting POSIX lock owners.
#include "sentry/vfs/lock.h"

#include <sys/file.h>

#include <algorithm>
#include <utility>

#include "sentry/kernel/task.h"

namespace moat::vfs {
namespace {

// The owners of blocked POSIX requests and the owner each one waits for, across all files, so
// that a request that would close a cycle can be refused (Linux's blocked_hash).
ABSL_CONST_INIT absl::Mutex g_graph_mu(absl::kConstInit);
std::vector<std::pair<LockOwner, LockOwner>>& WaitEdges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_graph_mu) {
  static auto* edges = new std::vector<std::pair<LockOwner, LockOwner>>();
  return *edges;
}

// Linux gives up after this many steps (MAX_DEADLK_ITERATIONS) and lets the request wait.
constexpr int kMaxDeadlockSteps = 10;

// Whether `waiter` waiting for `holder` closes a cycle: whether `holder` waits, through a chain
// of owners, for `waiter`.
bool WouldDeadlock(LockOwner waiter, LockOwner holder) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_graph_mu) {
  LockOwner cur = holder;
  for (int i = 0; i < kMaxDeadlockSteps; ++i) {
    if (cur == waiter) return true;
    auto& edges = WaitEdges();
    auto it = std::find_if(edges.begin(), edges.end(),
                           [cur](const auto& e) { return e.first == cur; });
    if (it == edges.end()) return false;
    cur = it->second;
  }
  return false;
}

// One edge of the graph, for as long as a request waits.
class WaitEdge {
 public:
  WaitEdge() = default;
  WaitEdge(const WaitEdge&) = delete;
  WaitEdge& operator=(const WaitEdge&) = delete;
  ~WaitEdge() { Clear(); }

  // Records that `waiter` now waits for `holder` (replacing what it waited for before).
  void Set(LockOwner waiter, LockOwner holder) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_graph_mu) {
    ClearLocked();
    WaitEdges().emplace_back(waiter, holder);
    edge_ = {waiter, holder};
  }
  void Clear() {
    if (!edge_) return;
    absl::MutexLock l(&g_graph_mu);
    ClearLocked();
  }

 private:
  void ClearLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_graph_mu) {
    if (!edge_) return;
    auto& edges = WaitEdges();
    auto it = std::find(edges.begin(), edges.end(), *edge_);
    if (it != edges.end()) edges.erase(it);
    edge_.reset();
  }

  std::optional<std::pair<LockOwner, LockOwner>> edge_;
};

bool Overlap(const RecordLock& a, const RecordLock& b) {
  return a.start <= b.end && b.start <= a.end;
}

// Whether `a` and `b` overlap or touch end to end (so that two locks of one type merge).
bool OverlapOrAdjacent(const RecordLock& a, const RecordLock& b) {
  const int64_t a_after = a.end == kLockEnd ? kLockEnd : a.end + 1;
  const int64_t b_after = b.end == kLockEnd ? kLockEnd : b.end + 1;
  return a.start <= b_after && b.start <= a_after;
}

// A blocked wait that a signal ended restarts per SA_RESTART (signal(7) lists flock and
// F_SETLKW among the restartable calls).
Errno Interrupted(const Errno& e) { return e.value() == EINTR ? Errno(kERESTARTSYS) : e; }

}  // namespace

// ---- flock ----

bool FileLocks::FlockConflictsLocked(LockOwner file, bool exclusive) {
  for (const FlockEntry& e : flocks_) {
    if (e.file != file && (exclusive || e.exclusive)) return true;
  }
  return false;
}

Result<void> FileLocks::Flock(kernel::Task& t, LockOwner file, int op, bool nonblock) {
  const bool exclusive = op == LOCK_EX;
  {
    absl::MutexLock l(&mu_);
    auto it = std::find_if(flocks_.begin(), flocks_.end(),
                           [file](const FlockEntry& e) { return e.file == file; });
    if (it != flocks_.end()) {
      if (op != LOCK_UN && it->exclusive == exclusive) return Ok();
      // flock_lock_inode(): an unlock or a conversion drops the old lock first and wakes whoever
      // it held back.
      flocks_.erase(it);
      queue_.Notify(kernel::kEventAll);
    }
    if (op == LOCK_UN) return Ok();
    if (!FlockConflictsLocked(file, exclusive)) {
      flocks_.push_back(FlockEntry{file, exclusive});
      return Ok();
    }
    if (nonblock) return Errno(EWOULDBLOCK);
  }
  // Registered before each re-check, so that a release between the check and Block() still
  // wakes the task.
  kernel::WaiterRegistration reg(queue_, &t, kernel::kEventAll);
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (!FlockConflictsLocked(file, exclusive)) {
        flocks_.push_back(FlockEntry{file, exclusive});
        return Ok();
      }
    }
    Result<void> r = t.Block();
    if (!r.ok()) return Interrupted(r.error());
  }
}

void FileLocks::ReleaseFlock(LockOwner file) {
  absl::MutexLock l(&mu_);
  auto it = std::find_if(flocks_.begin(), flocks_.end(),
                         [file](const FlockEntry& e) { return e.file == file; });
  if (it == flocks_.end()) return;
  flocks_.erase(it);
  queue_.Notify(kernel::kEventAll);
}

// ---- Record locks ----

std::optional<RecordLock> FileLocks::FindConflictLocked(const RecordLock& want) {
  for (const RecordLock& held : records_) {
    if (held.owner == want.owner || !Overlap(held, want)) continue;
    if (held.type == F_WRLCK || want.type == F_WRLCK) return held;
  }
  return std::nullopt;
}

std::optional<RecordLock> FileLocks::FindConflict(const RecordLock& want) {
  absl::MutexLock l(&mu_);
  return FindConflictLocked(want);
}

void FileLocks::ApplyLocked(const RecordLock& want) {
  // posix_lock_inode(): locks of the same type that overlap or touch the request merge into
  // it; other overlapping locks of the owner lose the requested range, which may split one in
  // two. What the owner held elsewhere stays.
  RecordLock merged = want;
  std::vector<RecordLock> kept;
  kept.reserve(records_.size() + 1);
  bool released = false;
  for (const RecordLock& held : records_) {
    if (held.owner != want.owner) {
      kept.push_back(held);
      continue;
    }
    if (want.type != F_UNLCK && held.type == want.type && OverlapOrAdjacent(held, want)) {
      merged.start = std::min(merged.start, held.start);
      merged.end = std::max(merged.end, held.end);
      continue;
    }
    if (!Overlap(held, want)) {
      kept.push_back(held);
      continue;
    }
    // A different type (or an unlock) over part of `held`: what lies outside the request stays.
    released = true;
    if (held.start < want.start) {
      RecordLock left = held;
      left.end = want.start - 1;
      kept.push_back(left);
    }
    if (held.end > want.end) {
      RecordLock right = held;
      right.start = want.end + 1;
      kept.push_back(right);
    }
  }
  if (want.type != F_UNLCK) kept.push_back(merged);
  records_ = std::move(kept);
  // Whatever the owner gave up (an unlock, or a write lock turned into a read lock) may be what
  // a waiter waits for; waiters re-check. Merging and growing release nothing.
  if (released) queue_.Notify(kernel::kEventAll);
}

Result<void> FileLocks::SetRecord(kernel::Task& t, const RecordLock& want, bool wait) {
  if (want.type == F_UNLCK || !wait) {
    absl::MutexLock l(&mu_);
    if (want.type != F_UNLCK && FindConflictLocked(want)) return Errno(EAGAIN);
    ApplyLocked(want);
    return Ok();
  }
  kernel::WaiterRegistration reg(queue_, &t, kernel::kEventAll);
  WaitEdge edge;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      std::optional<RecordLock> conflict = FindConflictLocked(want);
      if (!conflict) {
        ApplyLocked(want);
        return Ok();
      }
      if (!want.ofd && !conflict->ofd) {
        absl::MutexLock g(&g_graph_mu);
        if (WouldDeadlock(want.owner, conflict->owner)) return Errno(EDEADLK);
        edge.Set(want.owner, conflict->owner);
      }
    }
    Result<void> r = t.Block();
    if (!r.ok()) return Interrupted(r.error());
  }
}

void FileLocks::ReleaseRecords(LockOwner owner) {
  absl::MutexLock l(&mu_);
  size_t n = std::erase_if(records_, [owner](const RecordLock& r) { return r.owner == owner; });
  if (n) queue_.Notify(kernel::kEventAll);
}

std::vector<RecordLock> FileLocks::RecordLocks() {
  absl::MutexLock l(&mu_);
  return records_;
}

}  // namespace moat::vfs
