// inotify(7): watches on inodes, the per-instance event queue, and the hooks through which the
// VFS and the syscall layer report what happens to files.
//
// Ownership: an Inotify instance is owned by its InotifyFile (the descriptor inotify_init
// returns). Each watch appears twice: in the instance's table (wd -> inode, holding the inode)
// and in the inode's InodeWatches (holding the instance). The cycle is broken explicitly: when
// the descriptor's last reference goes, Inotify::Release removes every watch from both sides;
// rm_watch, IN_ONESHOT and the removal of the inode (IN_DELETE_SELF) remove single watches.
// An inode's InodeWatches is allocated on its first watch and lives as long as the inode.
//
// Hooks: NotifyFile / NotifyDentry / NotifyChild / NotifyInode cost one relaxed atomic load
// when no watch exists anywhere; otherwise they look at the inode's (and for file events the
// parent directory's) watch table.
//
// Lock order:
//   Inotify::mu_
//     InodeWatches::mu_
//       WaitQueue::mu_ (waitqueue.h)
// Hooks take InodeWatches::mu_ alone to collect the matching watches, release it, then queue
// each event under Inotify::mu_; so they may run with filesystem locks released, and they never
// call into an Inode while holding an inotify lock.
#ifndef MOAT_SENTRY_VFS_INOTIFY_H_
#define MOAT_SENTRY_VFS_INOTIFY_H_

#include <sys/inotify.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {

class Inotify;

// The watches on one inode (Inode::watches()). Instances add and remove their entries; the
// hooks read a snapshot.
class InodeWatches {
 public:
  struct Entry {
    RefPtr<Inotify> owner;
    int wd;
    uint32_t mask;  // events and IN_ONESHOT / IN_EXCL_UNLINK
  };
  std::vector<Entry> Snapshot();
  // A removed file that is still open reports IN_DELETE_SELF at its last close: the flag says
  // the report is owed. Take returns whether it was, and clears it.
  void MarkRemovalPending();
  bool TakeRemovalPending();

  // dnotify (dnotify.h): a directory's F_NOTIFY registrations, one per (fd table, open file
  // description). Each holds its description; closing an fd of it in that table removes it.
  struct DirNotify {
    const void* table;
    RefPtr<FileDescription> file;
    int fd;         // the si_fd of its signals
    uint32_t mask;  // DN_* bits, DN_MULTISHOT included
  };
  // Adds a registration, or adds `mask` to the existing one of (table, file) and takes `fd`.
  void AddDirNotify(const void* table, RefPtr<FileDescription> file, int fd, uint32_t mask);
  // Removes the registration of (table, file), returned so that it is dropped unlocked.
  std::optional<DirNotify> RemoveDirNotify(const void* table, const FileDescription* file);
  // The registrations that want any of the DN_* bits `dn`; one-shot ones are removed.
  std::vector<DirNotify> TakeDirNotify(uint32_t dn);
  bool HasDirNotify() const { return dnotify_count_.load(std::memory_order_acquire) > 0; }

 private:
  friend class Inotify;
  absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool removal_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<DirNotify> dnotify_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> dnotify_count_{0};
};

// One inotify instance: its watches and its queue of events.
class Inotify : public RefCounted<Inotify> {
 public:
  // /proc/sys/fs/inotify/max_queued_events's default.
  static constexpr size_t kMaxQueuedEvents = 16384;
  // The sandbox's share of max_user_watches and max_user_instances (Linux counts them per user;
  // the sandbox counts them all together): ENOSPC and EMFILE past them.
  static constexpr int64_t kMaxWatches = 65536;
  static constexpr int64_t kMaxInstances = 128;

  // inotify_add_watch(2) on a resolved inode: replaces (or with IN_MASK_ADD extends) the mask
  // of an existing watch on the same inode and returns its descriptor; EEXIST for
  // IN_MASK_CREATE on a watched inode, ENOSPC past kMaxWatches.
  Result<int> AddWatch(const RefPtr<Inode>& inode, uint32_t mask);
  // inotify_rm_watch(2): EINVAL for an unknown descriptor; queues IN_IGNORED.
  Result<void> RemoveWatch(int wd);
  // The descriptor is gone: drops every watch, without events.
  void Release();

  // Queues an event for watch `wd` if it still exists; applies IN_ONESHOT.
  void QueueForWatch(int wd, uint32_t mask, uint32_t cookie, std::string_view name);
  // The inode of watch `wd` went away: queues IN_IGNORED and forgets the watch.
  void DropWatch(int wd);

  // Serializes whole events into `dst`: EINVAL if the first does not fit, 0 if none is queued.
  Result<size_t> Dequeue(std::span<uint8_t> dst);
  // FIONREAD: the bytes of all queued events.
  size_t PendingBytes();
  bool HasEvents();
  kernel::WaitQueue& queue() { return queue_; }

 private:
  struct Event {
    int wd;
    uint32_t mask;
    uint32_t cookie;
    std::string name;
    size_t Size() const;
    bool operator==(const Event&) const = default;
  };
  struct Watch {
    RefPtr<Inode> inode;
    uint32_t mask;
  };

  void QueueLocked(Event e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets watch `it` on both sides (the inode's table too).
  void EraseWatchLocked(std::map<int, Watch>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<int, Watch> watches_ ABSL_GUARDED_BY(mu_);
  int next_wd_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether an IN_Q_OVERFLOW event is in events_ (there is never more than one).
  bool overflow_queued_ ABSL_GUARDED_BY(mu_) = false;
  kernel::WaitQueue queue_;
};

// inotify_init1(2): a new instance's descriptor, open for reading. `flags` may hold O_NONBLOCK
// (O_CLOEXEC is the fd table's). Every descriptor shares one anonymous inode, as in Linux.
// EMFILE past Inotify::kMaxInstances live instances.
Result<RefPtr<FileDescription>> NewInotifyFile(int flags);
// The instance behind `f`, or null if `f` is not an inotify descriptor.
Inotify* InotifyOf(FileDescription& f);

// ---- Hooks ----

namespace inotify_internal {
// How many watches exist in the whole sentry: the hooks' fast path.
extern std::atomic<int64_t> g_watch_count;
inline bool Active() { return g_watch_count.load(std::memory_order_relaxed) != 0; }
void NotifyDentry(const Dentry& d, uint32_t mask);
void NotifyChild(Inode& dir, uint32_t mask, std::string_view name, uint32_t cookie);
void NotifyInode(Inode& inode, uint32_t mask);
void NotifyRemoved(Inode& inode);
void NotifyLastClose(Inode& inode);
void NotifyFile(FileDescription& f, uint32_t mask);
void NotifySetStat(const Dentry& d, const SetStatRequest& req);
}  // namespace inotify_internal

// An event on a file reached through `d` (fsnotify_parent): reported to the file's own watches
// and, with the file's name, to its directory's. IN_ISDIR is added for directories.
inline void NotifyDentry(const Dentry& d, uint32_t mask) {
  if (inotify_internal::Active()) inotify_internal::NotifyDentry(d, mask);
}
// The same for an open file (read, write, close): nothing for O_PATH descriptors.
inline void NotifyFile(FileDescription& f, uint32_t mask) {
  if (inotify_internal::Active()) inotify_internal::NotifyFile(f, mask);
}
// An event about entry `name` of directory `dir` (create, delete, moves). `mask` carries
// IN_ISDIR when the entry is a directory.
inline void NotifyChild(Inode& dir, uint32_t mask, std::string_view name, uint32_t cookie = 0) {
  if (inotify_internal::Active()) inotify_internal::NotifyChild(dir, mask, name, cookie);
}
// An event on `inode` itself only (IN_ATTRIB for a link count, IN_MOVE_SELF).
inline void NotifyInode(Inode& inode, uint32_t mask) {
  if (inotify_internal::Active()) inotify_internal::NotifyInode(inode, mask);
}
// `inode` lost its last name: IN_DELETE_SELF, then every watch on it ends with IN_IGNORED. While
// the file is open this waits for the last close, as Linux reports it when the inode goes.
inline void NotifyRemoved(Inode& inode) {
  if (inotify_internal::Active()) inotify_internal::NotifyRemoved(inode);
}
// The last open file description of `inode` went (FileDescription's destructor).
inline void NotifyLastClose(Inode& inode) {
  if (inotify_internal::Active()) inotify_internal::NotifyLastClose(inode);
}
// What a change of attributes reports (fsnotify_change): IN_MODIFY for a size, IN_ATTRIB for
// the mode, the owner or both times, IN_ACCESS / IN_MODIFY for the access / modification time
// alone.
inline void NotifySetStat(const Dentry& d, const SetStatRequest& req) {
  if (inotify_internal::Active()) inotify_internal::NotifySetStat(d, req);
}
// A cookie shared by the two halves of a rename (IN_MOVED_FROM / IN_MOVED_TO).
uint32_t NewMoveCookie();
// Added to IN_MOVED_FROM for a rename within one directory, which dnotify reports as DN_RENAME
// (Linux's FS_RENAME). No inotify watch can ask for the bit, so inotify never sees it.
inline constexpr uint32_t kInRenameWithinDir = 0x00100000;

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_INOTIFY_H_
