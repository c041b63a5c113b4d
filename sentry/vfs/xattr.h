// Extended attributes, the VFS half: Linux's namespace rules and permission checks
// (xattr_permission, cap_inode_setxattr, xattr_resolve_name) in Linux's order, then the
// inode's own operation (Inode::GetXattr and friends). The syscall layer has already checked
// the name's length (ERANGE), the value's size (E2BIG) and the flags (EINVAL).
//
// Namespaces: user.* on regular files and directories only (EPERM to write elsewhere, ENODATA
// to read), needing read or write permission on the file, and ownership to write on a sticky
// directory; trusted.* only with CAP_SYS_ADMIN (EPERM to write, ENODATA to read, and hidden
// from lists); security.* writable with CAP_SYS_ADMIN and readable by all; system.* (POSIX
// ACLs) and unknown prefixes are EOPNOTSUPP; a bare prefix ("user.") is EINVAL.
#ifndef MOAT_SENTRY_VFS_XATTR_H_
#define MOAT_SENTRY_VFS_XATTR_H_

#include <string>
#include <string_view>
#include <vector>

#include "sentry/vfs/vfs.h"

namespace moat::vfs {

// The limits of Linux's <linux/limits.h>.
inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrSizeMax = 65536;
inline constexpr size_t kXattrListMax = 65536;

// getxattr(2) on `p`: the value.
Result<std::string> GetXattr(const Credentials& creds, const Path& p, std::string_view name);
// setxattr(2) on `p`; `flags` XATTR_CREATE (EEXIST) or XATTR_REPLACE (ENODATA). EROFS on a
// read-only mount.
Result<void> SetXattr(const Credentials& creds, const Path& p, std::string_view name,
                      std::string_view value, int flags);
// listxattr(2) on `p`: the names the caller may see.
Result<std::vector<std::string>> ListXattr(const Credentials& creds, const Path& p);
// removexattr(2) on `p`: ENODATA if there is no such attribute.
Result<void> RemoveXattr(const Credentials& creds, const Path& p, std::string_view name);

// For filesystems that store attributes (tmpfs): applies XATTR_CREATE / XATTR_REPLACE to a
// name that `exists` or not.
Result<void> CheckXattrFlags(bool exists, int flags);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_XATTR_H_
