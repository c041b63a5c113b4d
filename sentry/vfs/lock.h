// Advisory file locks: flock(2) locks and byte-range record locks (fcntl's POSIX locks and open
// file description locks), one table per inode (Inode::Locks()).
//
// Ownership, as in Linux:
//   - A flock lock belongs to an open file description: dup'd and inherited fds share it, and it
//     goes when the last reference to the description does (FileDescription's destructor).
//   - A POSIX record lock (F_SETLK) belongs to the fd table of the process that set it (Linux's
//     files_struct): it is not inherited by fork, and it goes when that table closes any fd on
//     the file, or when the table itself goes (exit). It records the setter's pid for F_GETLK.
//   - An OFD record lock (F_OFD_SETLK) belongs to the open file description, like flock, but is
//     a record lock: it conflicts with POSIX locks of any process and with OFD locks of other
//     descriptions, and F_GETLK reports its l_pid as -1.
//   flock locks and record locks are independent of each other, as on Linux for local files.
//
// Blocking requests (LOCK_EX without LOCK_NB, F_SETLKW, F_OFD_SETLKW) wait on the table's queue
// and return ERESTARTSYS when a signal interrupts them (so SA_RESTART restarts them, as signal(7)
// lists). A POSIX request that would wait on a process that (transitively) waits on the caller
// fails with EDEADLK instead; OFD requests are not checked, as in Linux.
//
// Lock order: FileLocks::mu_ > the deadlock graph's lock (lock.cc) > WaitQueue::mu_.
#ifndef MOAT_SENTRY_VFS_LOCK_H_
#define MOAT_SENTRY_VFS_LOCK_H_

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {
class Task;
}

namespace moat::vfs {

// Who holds a lock: an open file description or an fd table. Compared, never dereferenced.
using LockOwner = const void*;

// The last byte a lock can cover: a lock "to the end of the file" ends here, so it also covers
// whatever the file grows to (Linux's OFFSET_MAX).
inline constexpr int64_t kLockEnd = std::numeric_limits<int64_t>::max();

// A byte-range lock, or a request for one.
struct RecordLock {
  int type = F_UNLCK;  // F_RDLCK or F_WRLCK; F_UNLCK only in requests, to remove a range
  int64_t start = 0;
  int64_t end = kLockEnd;  // inclusive
  LockOwner owner = nullptr;
  pid_t pid = 0;  // the setter's process, reported by F_GETLK (OFD locks report -1)
  bool ofd = false;
};

class FileLocks {
 public:
  FileLocks() = default;
  FileLocks(const FileLocks&) = delete;
  FileLocks& operator=(const FileLocks&) = delete;

  // flock(2) for open file description `file`: LOCK_SH, LOCK_EX or LOCK_UN. Converting a lock
  // first drops the old one, as Linux does, so a failed LOCK_NB conversion leaves none.
  // Conflicts: EWOULDBLOCK with `nonblock`, else a wait (ERESTARTSYS if interrupted).
  Result<void> Flock(kernel::Task& t, LockOwner file, int op, bool nonblock);

  // F_GETLK: the first lock of another owner that conflicts with `want`, if any.
  std::optional<RecordLock> FindConflict(const RecordLock& want);

  // F_SETLK / F_SETLKW: gives want.owner the range of `want` with want.type (splitting, merging
  // or, for F_UNLCK, removing its existing locks). A conflict gives EAGAIN without `wait`; with
  // it the request waits (EDEADLK, ERESTARTSYS).
  Result<void> SetRecord(kernel::Task& t, const RecordLock& want, bool wait);

  // Removes every record lock of `owner`: a process closed an fd on the file, or an open file
  // description holding OFD locks went away.
  void ReleaseRecords(LockOwner owner);
  // Removes the flock lock of open file description `file`.
  void ReleaseFlock(LockOwner file);

  // For tests and /proc/locks: the record locks held now.
  std::vector<RecordLock> RecordLocks();

 private:
  struct FlockEntry {
    LockOwner file;
    bool exclusive;
  };

  std::optional<RecordLock> FindConflictLocked(const RecordLock& want)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `want` to its owner's locks; the caller has checked for conflicts.
  void ApplyLocked(const RecordLock& want) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a flock request conflicts with a lock of another description.
  bool FlockConflictsLocked(LockOwner file, bool exclusive) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::vector<FlockEntry> flocks_ ABSL_GUARDED_BY(mu_);
  // Each owner's locks never overlap one another, and adjacent ranges of one type are merged.
  std::vector<RecordLock> records_ ABSL_GUARDED_BY(mu_);
  // Woken whenever a lock goes or shrinks.
  kernel::WaitQueue queue_;
};

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_LOCK_H_
