// dnotify (fcntl F_NOTIFY, fcntl(2) "File and directory change notification"): a directory's
// open file description asks for a signal when entries of the directory are created, deleted,
// renamed, read, written or change attributes, or when the directory itself changes.
//
// It is built on the inotify hooks (inotify.h): a registration lives in the directory inode's
// InodeWatches beside the inotify watches, and every hook that reports an event to that table
// reports it here too, translated to DN_* bits. The signal is the description's owner's
// (fasync.h: SIGIO, or the F_SETSIG signal with si_code POLL_MSG and si_fd the fd given to
// F_NOTIFY); F_NOTIFY makes the caller the owner if the description has none. A registration
// without DN_MULTISHOT ends with its first signal; one belongs to the process's fd table and
// ends when that table closes any fd of the description (dnotify_flush).
//
// Lock order: InodeWatches::mu_ is released before a signal is sent (fasync.h's order).
#ifndef MOAT_SENTRY_VFS_DNOTIFY_H_
#define MOAT_SENTRY_VFS_DNOTIFY_H_

#include <cstdint>

#include "base/errno.h"
#include "sentry/vfs/inotify.h"

namespace moat::kernel {
class Task;
}

namespace moat::vfs {

// fcntl(F_NOTIFY) with `arg` (an unsigned int, DN_MULTISHOT its top bit) on `f`, open as `fd`
// in the caller's fd table. No event bits removes the registration, for any file type;
// otherwise ENOTDIR for a file that is not a directory. Bits Linux does not know are accepted
// and never fire, as in Linux.
Result<void> SetDirNotify(kernel::Task& t, FileDescription& f, int fd, uint32_t arg);

// An fd of `f` in fd table `table` was closed: the table's registration on it ends.
void FlushDirNotify(const void* table, const FileDescription& f);

// Called by the inotify hooks for every event (inotify IN_* bits) reported to `w`.
void DeliverDirNotify(InodeWatches& w, uint32_t events);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_DNOTIFY_H_
