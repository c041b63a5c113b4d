// dnotify (dnotify.h), after Linux's fs/notify/dnotify/dnotify.c.
#include "sentry/vfs/dnotify.h"

#include <fcntl.h>
#include <signal.h>

#include <utility>

#include "sentry/kernel/task.h"
#include "sentry/vfs/fasync.h"
#include "sentry/vfs/fd_table.h"

namespace moat::vfs {
namespace {

using inotify_internal::g_watch_count;

// The DN_* bits that inotify `events` stand for (convert_arg, read backwards): a move out of
// the directory counts as a deletion and a move in as a creation.
uint32_t ToDirNotify(uint32_t events) {
  uint32_t dn = 0;
  if (events & IN_ACCESS) dn |= DN_ACCESS;
  if (events & IN_MODIFY) dn |= DN_MODIFY;
  if (events & IN_ATTRIB) dn |= DN_ATTRIB;
  if (events & (IN_CREATE | IN_MOVED_TO)) dn |= DN_CREATE;
  if (events & (IN_DELETE | IN_MOVED_FROM)) dn |= DN_DELETE;
  return dn;
}

// Signals everyone in `w` who wants one of the DN_* bits `dn` (dnotify_handle_event).
void Signal(InodeWatches& w, uint32_t dn) {
  if (!dn) return;
  for (InodeWatches::DirNotify& r : w.TakeDirNotify(dn)) {
    r.file->Async().SendSigio(r.fd, POLL_MSG);
  }
}

}  // namespace

// ---- InodeWatches' registrations ----

void InodeWatches::AddDirNotify(const void* table, RefPtr<FileDescription> file, int fd,
                                uint32_t mask) {
  absl::MutexLock l(&mu_);
  for (DirNotify& r : dnotify_) {
    if (r.table == table && r.file == file) {
      // attach_dn(): the same description in the same table asks for more.
      r.fd = fd;
      r.mask |= mask;
      return;
    }
  }
  dnotify_.push_back(DirNotify{table, std::move(file), fd, mask});
  dnotify_count_.fetch_add(1, std::memory_order_release);
  g_watch_count.fetch_add(1, std::memory_order_relaxed);
}

std::optional<InodeWatches::DirNotify> InodeWatches::RemoveDirNotify(const void* table,
                                                                     const FileDescription* file) {
  absl::MutexLock l(&mu_);
  for (auto it = dnotify_.begin(); it != dnotify_.end(); ++it) {
    if (it->table != table || it->file.get() != file) continue;
    DirNotify r = std::move(*it);
    dnotify_.erase(it);
    dnotify_count_.fetch_sub(1, std::memory_order_release);
    g_watch_count.fetch_sub(1, std::memory_order_relaxed);
    return r;
  }
  return std::nullopt;
}

std::vector<InodeWatches::DirNotify> InodeWatches::TakeDirNotify(uint32_t dn) {
  std::vector<DirNotify> hits;
  absl::MutexLock l(&mu_);
  for (auto it = dnotify_.begin(); it != dnotify_.end();) {
    if (!(it->mask & dn)) {
      ++it;
      continue;
    }
    if (it->mask & DN_MULTISHOT) {
      hits.push_back(*it);
      ++it;
      continue;
    }
    hits.push_back(std::move(*it));
    it = dnotify_.erase(it);
    dnotify_count_.fetch_sub(1, std::memory_order_release);
    g_watch_count.fetch_sub(1, std::memory_order_relaxed);
  }
  return hits;
}

// ---- F_NOTIFY ----

Result<void> SetDirNotify(kernel::Task& t, FileDescription& f, int fd, uint32_t arg) {
  const void* table = &t.fds();
  if ((arg & ~static_cast<uint32_t>(DN_MULTISHOT)) == 0) {
    FlushDirNotify(table, f);
    return Ok();
  }
  Inode* inode = f.inode();
  if (!inode) return Errno(ENOTDIR);
  Stat st = TRY(inode->GetStat());
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  TRY(f.Async().SetOwner(t, F_OWNER_PID, t.pid(), /*force=*/false));
  inode->EnsureWatches().AddDirNotify(table, RefPtr<FileDescription>(&f), fd, arg);
  // If another thread closed the fd meanwhile, the close may have missed the registration:
  // undo it, as fcntl_dirnotify() does.
  Result<RefPtr<FileDescription>> now = t.fds().Get(fd);
  if (!now.ok() || now->get() != &f) FlushDirNotify(table, f);
  return Ok();
}

void FlushDirNotify(const void* table, const FileDescription& f) {
  Inode* inode = f.inode();
  InodeWatches* w = inode ? inode->watches() : nullptr;
  if (!w || !w->HasDirNotify()) return;
  // The registration's reference is dropped here, with no lock held.
  std::optional<InodeWatches::DirNotify> gone = w->RemoveDirNotify(table, &f);
}

void DeliverDirNotify(InodeWatches& w, uint32_t events) {
  // A rename within the directory is first a rename, then a move out and a move in, each an
  // event of its own (fsnotify_move), so a one-shot registration hears only the first.
  if (events & kInRenameWithinDir) Signal(w, DN_RENAME);
  Signal(w, ToDirNotify(events & ~kInRenameWithinDir));
}

}  // namespace moat::vfs
