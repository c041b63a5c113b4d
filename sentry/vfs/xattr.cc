// Extended attributes: the VFS checks (xattr.h), as fs/xattr.c and security/commoncap.c order
// them.
#include "sentry/vfs/xattr.h"

#include <linux/capability.h>
#include <sys/xattr.h>

#include <algorithm>

namespace moat::vfs {
namespace {

enum class Namespace { kUser, kTrusted, kSecurity, kSystem, kUnknown };

struct Classified {
  Namespace ns;
  bool bare;  // the prefix alone, such as "user."
};

Classified Classify(std::string_view name) {
  static constexpr std::pair<std::string_view, Namespace> kPrefixes[] = {
      {"user.", Namespace::kUser},
      {"trusted.", Namespace::kTrusted},
      {"security.", Namespace::kSecurity},
      {"system.", Namespace::kSystem},
  };
  for (const auto& [prefix, ns] : kPrefixes) {
    if (name.starts_with(prefix)) return {ns, name.size() == prefix.size()};
  }
  return {Namespace::kUnknown, false};
}

// xattr_permission(): `write` is MAY_WRITE, else MAY_READ.
Result<void> CheckAccess(const Credentials& creds, const Stat& st, Namespace ns, bool write) {
  switch (ns) {
    case Namespace::kSecurity:
    case Namespace::kSystem:
      // Left to the filesystem and the security module.
      return Ok();
    case Namespace::kTrusted:
      if (!creds.HasCap(CAP_SYS_ADMIN)) return Errno(write ? EPERM : ENODATA);
      return Ok();
    case Namespace::kUser:
      // Only regular files and directories carry user attributes: a device or FIFO's
      // permissions are about the device, not about metadata.
      if (!S_ISREG(st.mode) && !S_ISDIR(st.mode)) return Errno(write ? EPERM : ENODATA);
      if (S_ISDIR(st.mode) && (st.mode & S_ISVTX) && write && creds.fsuid != st.uid &&
          !creds.HasCap(CAP_FOWNER)) {
        return Errno(EPERM);
      }
      break;
    case Namespace::kUnknown:
      break;
  }
  return CheckPermission(creds, st, write ? W_OK : R_OK);
}

// Everything up to the filesystem's handler, for a read or a write of `name` on `p`.
Result<void> Prepare(const Credentials& creds, const Path& p, std::string_view name, bool write) {
  if (write && p.mount && p.mount->flags().readonly) return Errno(EROFS);
  Stat st = TRY(p.dentry->inode()->GetStat());
  Classified c = Classify(name);
  RETURN_IF_ERRNO(CheckAccess(creds, st, c.ns, write));
  // cap_inode_setxattr() / cap_inode_removexattr(): changing security.* is for
  // CAP_SYS_ADMIN.
  if (write && c.ns == Namespace::kSecurity && !creds.HasCap(CAP_SYS_ADMIN)) {
    return Errno(EPERM);
  }
  // xattr_resolve_name(): no handler for the prefix, or a bare prefix.
  if (c.ns == Namespace::kUnknown || c.ns == Namespace::kSystem) return Errno(EOPNOTSUPP);
  if (c.bare) return Errno(EINVAL);
  return Ok();
}

}  // namespace

Result<std::string> GetXattr(const Credentials& creds, const Path& p, std::string_view name) {
  RETURN_IF_ERRNO(Prepare(creds, p, name, /*write=*/false));
  return p.dentry->inode()->GetXattr(name);
}

Result<void> SetXattr(const Credentials& creds, const Path& p, std::string_view name,
                      std::string_view value, int flags) {
  RETURN_IF_ERRNO(Prepare(creds, p, name, /*write=*/true));
  return p.dentry->inode()->SetXattr(name, value, flags);
}

Result<std::vector<std::string>> ListXattr(const Credentials& creds, const Path& p) {
  std::vector<std::string> names = TRY(p.dentry->inode()->ListXattr());
  // simple_xattr_list(): trusted.* names are only shown to those who may read them.
  if (!creds.HasCap(CAP_SYS_ADMIN)) {
    std::erase_if(names, [](const std::string& n) { return n.starts_with("trusted."); });
  }
  return names;
}

Result<void> RemoveXattr(const Credentials& creds, const Path& p, std::string_view name) {
  RETURN_IF_ERRNO(Prepare(creds, p, name, /*write=*/true));
  return p.dentry->inode()->RemoveXattr(name);
}

Result<void> CheckXattrFlags(bool exists, int flags) {
  if ((flags & XATTR_CREATE) && exists) return Errno(EEXIST);
  if ((flags & XATTR_REPLACE) && !exists) return Errno(ENODATA);
  return Ok();
}

}  // namespace moat::vfs
