// The gofer client: a filesystem whose files live on the host and are reached only through the
// gofer process (DESIGN.md section 6; the protocol is gofer/protocol.h). It is the root's lower
// layer under an overlay, the root itself when the spec says so, and every bind mount.
//
// Each GoferInode stands for one gofer node (a file the gofer holds open). Reads and writes do
// not go through the gofer: opening a regular file brings back a host fd, and I/O and mmap use
// it directly. FIFOs are sandbox pipes, and device nodes are the sentry's own devices, so no
// host FIFO or device is ever opened for the application.
//
// Caching: only the sandbox is expected to change the trees its mounts serve (the host side may
// not change them at the same time), so what the client learns stays true until the sandbox
// itself changes it:
//   - one inode per host file and filesystem: a walk that reaches a file the filesystem already
//     has (another hard link, or a name looked up again) gives back the same inode.
//   - attributes are cached per inode. A write through a file marks its inode's attributes
//     stale; any other change through any gofer mount of the sandbox (create, link, unlink,
//     rename, setattr) bumps a generation shared by all of them, which makes every cached
//     attribute stale: mounts may serve overlapping host directories, and link counts and
//     directory times move. Stale attributes are read again with fstat on an open host fd of the
//     inode when there is one, or with one Stat request.
//   - a directory remembers names it looked up and did not find, until the generation moves.
//   - a rename onto a name the sandbox found missing asks the gofer not to replace anything, so
//     a stale cache can never make it destroy a file.
// The dentry cache above (vfs.h) remembers what was found.
//
// Locking: GoferFs::mu_ (its inode table) comes before GoferInode::mu_, which guards an inode's
// caches and is never held across a request. GoferClient::mu_ serializes a request and its
// reply on the socket, and GoferFs::devs_mu_ guards the device numbers; both are leaves.
#ifndef MOAT_SENTRY_FSIMPL_GOFER_H_
#define MOAT_SENTRY_FSIMPL_GOFER_H_

#include "base/file_descriptor.h"
#include "sentry/kernel/id_map.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// Attaches to the gofer's mount on `sock` and returns the root dentry of its filesystem. EIO if
// the gofer does not answer properly. `uids` and `gids` map the sandbox's ids to the host's
// (a user namespace's mappings): file owners are shown mapped (the overflow id when they are not
// mapped), and the owners of files made or chowned are mapped back (EINVAL for an id that is
// not mapped, EOVERFLOW for a new file whose creator is not).
Result<RefPtr<vfs::Dentry>> NewGoferFilesystem(FileDescriptor sock, kernel::IdMap uids = {},
                                               kernel::IdMap gids = {});

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_GOFER_H_
