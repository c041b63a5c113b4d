// overlay: a writable upper layer (tmpfs) over a read-only lower layer (the gofer
// client), like Linux's overlayfs and gVisor's overlay root (DESIGN.md section 6). Writes in the
// sandbox land in the upper layer; the lower layer is only ever read, so nothing reaches the host.
//
// Semantics (overlayfs without redirect_dir, index or metacopy):
//   - Lookup merges: an upper entry wins; a whiteout (a 0:0 character device in the upper layer)
//     hides the lower entry; an upper directory over a lower directory merges the two, unless it
//     was made over a whiteout (opaque: the lower one stays hidden). ReadDir merges likewise.
//   - Copy-up: opening a regular file for writing or with O_TRUNC, changing attributes, linking
//     it, renaming it, or creating inside a directory that exists only below copies the file (and
//     its missing parents) up: data, mode, owner and times.
//   - stat: a file that exists in the lower layer reports the lower layer's st_dev and st_ino,
//     before and after copy-up (the gofer client gives each host device its own st_dev, so a lower tree
//     spanning several host filesystems keeps (st_dev, st_ino) unique and `find` sees no loops);
//     a file born in the upper layer reports the overlay's own st_dev and the upper inode number
//     with bit 63 set, so the two ranges never collide (like overlayfs' xino).
//   - unlink/rmdir of something the lower layer has leaves a whiteout; rmdir checks that the
//     merged directory is empty. Renaming a regular file or symlink works (copy-up, then a
//     whiteout at the old name); renaming a directory that has lower content is EXDEV, which
//     tools such as mv handle by copying. RENAME_EXCHANGE copies both entries up and swaps them
//     in the upper layer (no whiteouts needed: both names stay); a directory with lower content
//     is EXDEV there too.
//   - A regular file opened for reading before a copy-up reads the copy after it (as newer Linux
//     overlayfs does).
//
// Locking: one mutex per overlay (OverlayFs::mu) guards its namespace state and is held across
// copy-up, including the data copy of a regular file. It comes before the layers' locks.
#ifndef MOAT_SENTRY_FSIMPL_OVERLAY_H_
#define MOAT_SENTRY_FSIMPL_OVERLAY_H_

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// An overlay of `upper_root` (a tmpfs root dentry, normally empty) over `lower_root`. The upper
// root takes the lower root's mode, owner and times. Returns the overlay's root dentry.
RefPtr<vfs::Dentry> NewOverlay(RefPtr<vfs::Dentry> lower_root, RefPtr<vfs::Dentry> upper_root);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_OVERLAY_H_
