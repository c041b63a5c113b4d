// tmpfs: a filesystem in sentry memory (DESIGN.md section 6), also the writable upper layer of
// the overlay root.
//
// Directories are maps of names to inodes; a regular file's data lives in a host memfd created on
// first need (its HostMapFd, so file mappings work); symlinks, device nodes (opened through
// dev.h), FIFOs (a Pipe per inode) and socket nodes complete the set. Linux's rules apply: link
// counts (a directory has 2 + its subdirectories), owners from the creator's fsuid/fsgid with
// set-group-ID directories passing their group on, timestamps, and an optional size limit
// (ENOSPC). Every inode keeps extended attributes in memory; regular files carry memfd seals
// (F_SEAL_SEAL from the start, lifted for memfd_create(MFD_ALLOW_SEALING)) and support
// fallocate's allocate and punch-hole modes, as Linux's shmem does.
//
// Locking: TmpfsFs::mu guards every directory's entries (one lock per filesystem, so a rename
// that touches two directories needs nothing more); each inode's own mutex guards its attributes
// and data. Order: TmpfsFs::mu > inode mutex.
#ifndef MOAT_SENTRY_FSIMPL_TMPFS_H_
#define MOAT_SENTRY_FSIMPL_TMPFS_H_

#include <cstdint>
#include <optional>

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// A new tmpfs whose root directory has permissions `root_mode` (07777 bits; the type is
// implied) and owner `uid`:`gid`. `size_limit` caps the file data in bytes (0: unlimited).
// Returns the root dentry.
RefPtr<vfs::Dentry> NewTmpfs(uint32_t root_mode, uint32_t uid, uint32_t gid,
                             uint64_t size_limit /*0 = unlimited*/);

// memfd_create(2): an open (O_RDWR) tmpfs regular file that no directory names, on a hidden
// tmpfs. `allow_sealing` is MFD_ALLOW_SEALING (else the file starts with F_SEAL_SEAL, like every
// tmpfs file), `noexec_seal` MFD_NOEXEC_SEAL (mode 0666 and F_SEAL_EXEC); the owner is `creds`'
// fsuid and fsgid.
Result<RefPtr<vfs::FileDescription>> NewMemfd(std::string_view name, bool allow_sealing,
                                              bool noexec_seal, const vfs::Credentials& creds);

// The size limit of the tmpfs `inode` belongs to and the bytes its files use, for statfs(2);
// nothing if `inode` is not a tmpfs inode or its tmpfs has no limit.
struct TmpfsSpace {
  uint64_t limit = 0, used = 0;
};
std::optional<TmpfsSpace> TmpfsSpaceOf(vfs::Inode& inode);

// For overlay copy-up: makes the tmpfs regular file `inode` hold exactly the first `size` bytes
// read from host fd `src_fd`. EINVAL if `inode` is not a tmpfs regular file; ENOSPC past the
// size limit.
Result<void> TmpfsCopyFromHost(vfs::Inode& inode, int src_fd, int64_t size);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_TMPFS_H_
