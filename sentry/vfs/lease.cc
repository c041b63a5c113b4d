// File leases (lease.h): the table, F_SETLEASE / F_GETLEASE, and breaking leases at open.
#include "sentry/vfs/lease.h"

#include <linux/capability.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/waitqueue.h"
#include "sentry/vfs/fasync.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {
namespace {

struct Lease {
  FileDescription* holder;  // not owned: the entry goes before the holder does
  int fd;                   // the fd F_SETLEASE was given: the break signal's si_fd
  int type;                 // F_RDLCK or F_WRLCK
  // A break in progress: the lease must go (FL_UNLOCK_PENDING) or become a read lease
  // (FL_DOWNGRADE_PENDING) by the deadline, or it is made to.
  bool unlock_pending = false;
  bool downgrade_pending = false;
  absl::Time deadline = absl::InfiniteFuture();
};

ABSL_CONST_INIT absl::Mutex g_mu(absl::kConstInit);

std::map<const Inode*, std::vector<Lease>>& Table() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  static auto* table = new std::map<const Inode*, std::vector<Lease>>();
  return *table;
}

// How many leases exist: BreakLease's and ReleaseLeases' fast path.
std::atomic<int64_t> g_count{0};

// Woken whenever a lease changes or goes: blocked openers look again.
kernel::WaitQueue& Changed() {
  static auto* queue = new kernel::WaitQueue;
  return *queue;
}

// Whether lease `l` stands in the way of an open for writing (`want_write`) or reading
// (leases_conflict: only two read "locks" get along).
bool Conflicts(const Lease& l, bool want_write) { return want_write || l.type == F_WRLCK; }

// Removes leases[i] (the caller notifies Changed()).
void EraseLocked(const Inode* inode, std::vector<Lease>& leases, size_t i)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
  g_count.fetch_sub(1, std::memory_order_relaxed);
  if (leases.empty()) Table().erase(inode);
}

// lease_modify(F_UNLCK): the holder's description also forgets its owner and signal.
void UnlockLocked(const Inode* inode, std::vector<Lease>& leases, size_t i)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  // The holder is alive: its destructor would have to take g_mu to remove the entry first.
  leases[i].holder->Async().ClearOwnerAndSignal();
  EraseLocked(inode, leases, i);
}

// time_out_leases(): a break whose time is up is carried out by force. Returns the inode's
// leases, or null if it has none left.
std::vector<Lease>* TimeOutLocked(const Inode* inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  auto it = Table().find(inode);
  if (it == Table().end()) return nullptr;
  std::vector<Lease>& leases = it->second;
  const absl::Time now = absl::Now();
  bool changed = false;
  for (size_t i = 0; i < leases.size();) {
    Lease& l = leases[i];
    if ((l.unlock_pending || l.downgrade_pending) && now >= l.deadline) {
      changed = true;
      if (l.unlock_pending) {
        const bool last = leases.size() == 1;
        UnlockLocked(inode, leases, i);
        if (last) {
          Changed().Notify(kernel::kEventAll);
          return nullptr;
        }
        continue;
      }
      l.type = F_RDLCK;
      l.downgrade_pending = false;
      l.deadline = absl::InfiniteFuture();
    }
    ++i;
  }
  if (changed) Changed().Notify(kernel::kEventAll);
  return &leases;
}

// check_conflicting_open(): a read lease needs nobody open for writing; a write lease needs the
// holder's description to be the only opener.
bool ConflictingOpen(FileDescription& f, Inode& inode, int type) {
  if (type == F_RDLCK) return inode.HasWriters();
  const bool self = f.counted_as_opened();
  const int self_writers = self && f.writable() ? 1 : 0;
  const int self_readers = self && !f.writable() ? 1 : 0;
  return inode.IsExecuting() || inode.OpenedWriters() != self_writers ||
         inode.OpenedReaders() != self_readers;
}

}  // namespace

int GetLease(FileDescription& f) {
  Inode* inode = f.inode();
  if (!inode || g_count.load(std::memory_order_acquire) == 0) return F_UNLCK;
  absl::MutexLock l(&g_mu);
  std::vector<Lease>* leases = TimeOutLocked(inode);
  if (!leases) return F_UNLCK;
  for (const Lease& lease : *leases) {
    if (lease.holder != &f) continue;
    // target_leasetype(): what a break in progress will make of it.
    if (lease.unlock_pending) return F_UNLCK;
    if (lease.downgrade_pending) return F_RDLCK;
    return lease.type;
  }
  return F_UNLCK;
}

Result<void> SetLease(kernel::Task& t, FileDescription& f, int fd, int type) {
  if (type != F_RDLCK && type != F_WRLCK && type != F_UNLCK) return Errno(EINVAL);
  Inode* inode = f.inode();
  if (!inode) return Errno(EINVAL);
  Stat st = TRY(inode->GetStat());
  RefPtr<kernel::Credentials> creds = t.creds();
  if (st.uid != creds->fsuid && !creds->HasCap(CAP_LEASE)) return Errno(EACCES);
  if (!S_ISREG(st.mode)) return Errno(EINVAL);
  {
    absl::MutexLock l(&g_mu);
    std::vector<Lease>* leases = TimeOutLocked(inode);
    if (type == F_UNLCK) {
      // generic_delete_lease(): only a lease of this description can go.
      if (!leases) return Errno(EAGAIN);
      for (size_t i = 0; i < leases->size(); ++i) {
        if ((*leases)[i].holder != &f) continue;
        UnlockLocked(inode, *leases, i);
        Changed().Notify(kernel::kEventAll);
        return Ok();
      }
      return Errno(EAGAIN);
    }
    if (ConflictingOpen(f, *inode, type)) return Errno(EAGAIN);
    Lease* mine = nullptr;
    if (leases) {
      for (Lease& lease : *leases) {
        if (lease.holder == &f) {
          mine = &lease;
          continue;
        }
        // No write lease beside anyone else's lease, and no new lease while another is being
        // broken for a writer.
        if (type == F_WRLCK || lease.unlock_pending) return Errno(EAGAIN);
      }
    }
    if (mine) {
      // lease_modify(): a downgrade settles a pending one; the waiters look again.
      mine->type = type;
      if (type == F_RDLCK && mine->downgrade_pending) {
        mine->downgrade_pending = false;
        if (!mine->unlock_pending) mine->deadline = absl::InfiniteFuture();
      }
      mine->fd = fd;
      Changed().Notify(kernel::kEventAll);
    } else {
      Table()[inode].push_back(Lease{&f, fd, type});
      g_count.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // lease_setup(): the holder hears the break, as the file's owner if it has none.
  TRY(f.Async().SetOwner(t, F_OWNER_PID, t.pid(), /*force=*/false));
  return Ok();
}

Result<void> BreakLease(kernel::Task& t, Inode& target, int flags) {
  if (g_count.load(std::memory_order_acquire) == 0 || (flags & O_PATH)) return Ok();
  const Inode* inode = &target;
  const bool want_write = (flags & O_ACCMODE) != O_RDONLY;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    absl::Time deadline = absl::InfiniteFuture();
    {
      absl::MutexLock l(&g_mu);
      std::vector<Lease>* leases = TimeOutLocked(inode);
      if (!leases) return Ok();
      bool conflict = false;
      const absl::Time now = absl::Now();
      for (Lease& lease : *leases) {
        if (!Conflicts(lease, want_write)) continue;
        conflict = true;
        // Each lease is told once per break (lease_break_callback's kill_fasync).
        bool tell = false;
        if (want_write) {
          if (!lease.unlock_pending) {
            tell = true;
            lease.unlock_pending = true;
            lease.downgrade_pending = false;
            lease.deadline = now + kLeaseBreakTime;
          }
        } else if (!lease.unlock_pending && !lease.downgrade_pending) {
          tell = true;
          lease.downgrade_pending = true;
          lease.deadline = now + kLeaseBreakTime;
        }
        if (tell) lease.holder->Async().SendSigio(lease.fd, POLL_MSG);
        deadline = std::min(deadline, lease.deadline);
      }
      if (!conflict) return Ok();
      if (flags & O_NONBLOCK) return Errno(EWOULDBLOCK);
    }
    if (!reg) {
      // Register, then look again, so that a change in between is not missed.
      reg.emplace(Changed(), &t, kernel::kEventAll);
      continue;
    }
    Result<void> r = t.Block(deadline == absl::InfiniteFuture() ? std::nullopt
                                                                 : std::optional(deadline));
    if (!r.ok() && r.error().value() != ETIMEDOUT) {
      return Errno(r.error().value() == EINTR ? kERESTARTSYS : r.error().value());
    }
  }
}

void ReleaseLeases(FileDescription& f) {
  if (g_count.load(std::memory_order_acquire) == 0) return;
  Inode* inode = f.inode();
  if (!inode) return;
  absl::MutexLock l(&g_mu);
  auto it = Table().find(inode);
  if (it == Table().end()) return;
  std::vector<Lease>& leases = it->second;
  for (size_t i = 0; i < leases.size(); ++i) {
    if (leases[i].holder != &f) continue;
    EraseLocked(inode, leases, i);
    Changed().Notify(kernel::kEventAll);
    return;
  }
}

}  // namespace moat::vfs
