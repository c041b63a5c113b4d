// hostfs: a read-only view of a host directory tree, walked by the sentry itself (the host root
// for `runsc do`, and the lower layer of an overlay whose upper layer takes the writes).
//
// Every lookup is one openat(dirfd, name, O_PATH | O_NOFOLLOW) from the parent's descriptor, so
// the host never resolves a symlink or ".." for the sandbox: the VFS reads symlinks itself and
// walks them in the sandbox's tree. A HostInode keeps its parent and its name (to reopen the
// file with openat when it is opened) and the stat taken at lookup. Directories keep their O_PATH
// descriptor; other files do not, so that walking a large tree does not hold one host fd per
// file (an open verifies the device and inode number and fails with ESTALE if the host file was
// replaced meanwhile).
//
// Every change is EROFS; mount it read-only as well so that access(W_OK) agrees. st_dev is a
// sentry-chosen number per host device met in the tree (so st_dev/st_ino pairs stay unique);
// st_ino is the host's.
#ifndef MOAT_SENTRY_FSIMPL_HOSTFS_H_
#define MOAT_SENTRY_FSIMPL_HOSTFS_H_

#include <string>

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// The root dentry of a hostfs over `host_path`, which must be a directory (ENOTDIR otherwise).
// Opening `host_path` itself follows symlinks: it is the sandbox's configuration, not its input.
Result<RefPtr<vfs::Dentry>> NewHostFilesystem(const std::string& host_path);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_HOSTFS_H_
