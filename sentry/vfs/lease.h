// File leases (fcntl F_SETLEASE / F_GETLEASE, fcntl(2) "Leases"), after Linux's fs/locks.c.
//
// A lease belongs to an open file description of a regular file. A read lease lets its holder
// know before anyone opens the file for writing; a write lease, before anyone opens it at all.
// Such an open "breaks" the lease: the holder hears its owner's signal (SIGIO, or the F_SETSIG
// signal with si_code POLL_MSG and si_fd the fd that took the lease), and the opener waits
// until the holder downgrades or removes the lease, or until the lease-break time passes, after
// which the lease is downgraded or removed by force. An opener with O_NONBLOCK fails with
// EWOULDBLOCK instead, having started the break.
//
// Ownership: the leases live in one table for the whole sentry, keyed by inode; an entry exists
// only while its holder's description does (FileDescription's destructor calls ReleaseLeases),
// and that description keeps the inode alive. Holders are not referenced; a break takes a
// reference only while the holder is alive (RefCounted::TryIncRef).
//
// Lock order: the lease table's lock (lease.cc) > FileAsync::mu_, Kernel::mu_, WaitQueue::mu_.
// Break signals are sent under it, so that the holder cannot go meanwhile.
#ifndef MOAT_SENTRY_VFS_LEASE_H_
#define MOAT_SENTRY_VFS_LEASE_H_

#include "absl/time/time.h"
#include "base/errno.h"

namespace moat::kernel {
class Task;
}

namespace moat::vfs {

class FileDescription;
class Inode;

// /proc/sys/fs/lease-break-time's default: how long a breaker waits for the holder.
inline constexpr absl::Duration kLeaseBreakTime = absl::Seconds(45);

// F_GETLEASE: F_RDLCK, F_WRLCK or F_UNLCK; during a break, what the lease must become.
int GetLease(FileDescription& f);

// F_SETLEASE with `type` on `f`, open as `fd`: EINVAL for another type or a file that is not
// regular, EACCES unless the caller owns the file (or has CAP_LEASE), EAGAIN for conflicting
// opens or leases as Linux counts them (and for F_UNLCK without a lease). Taking a lease makes
// the caller the file's owner if it has none; removing it forgets the owner and the signal.
Result<void> SetLease(kernel::Task& t, FileDescription& f, int fd, int type);

// break_lease(): `inode` is being opened with open(2) `flags` (the new description already
// counts as an opener), or truncated by path (flags O_WRONLY). Breaks the leases that conflicts
// with and waits for them (EWOULDBLOCK with O_NONBLOCK; ERESTARTSYS if a signal interrupts the
// wait). O_PATH opens break nothing. Costs one atomic load when no lease exists anywhere.
Result<void> BreakLease(kernel::Task& t, Inode& inode, int flags);

// The description's last reference is going: its lease goes too (locks_remove_lease).
void ReleaseLeases(FileDescription& f);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_LEASE_H_
