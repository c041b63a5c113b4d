// Extended attributes. No filesystem stores any yet (TODO(#3): user.* attributes on tmpfs and the
// overlay), so the answers are those of Linux for a file without attributes on a filesystem that
// refuses new ones: after the path or fd is checked, get says ENODATA, list is empty, set says
// EOPNOTSUPP, remove says ENODATA.
#include <sys/xattr.h>

#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

constexpr size_t kXattrNameMax = 255;

enum class Target { kPath, kLink, kFd };

Result<void> CheckTarget(Task& t, const SyscallArgs& a, Target target) {
  if (target == Target::kFd) {
    RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
    if (f->flags() & O_PATH) return Errno(EBADF);
    return Ok();
  }
  TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), target == Target::kLink ? AT_SYMLINK_NOFOLLOW : 0));
  return Ok();
}

Result<void> CheckName(Task& t, UserAddr name) {
  std::string n = TRY(t.CopyInString(name, kXattrNameMax + 1));
  if (n.empty() || n.size() > kXattrNameMax) return Errno(ERANGE);
  return Ok();
}

Result<long> Get(Task& t, const SyscallArgs& a, Target target) {
  TRY(CheckTarget(t, a, target));
  TRY(CheckName(t, a.Addr(1)));
  return Errno(ENODATA);
}

Result<long> List(Task& t, const SyscallArgs& a, Target target) {
  TRY(CheckTarget(t, a, target));
  return 0;
}

Result<long> Set(Task& t, const SyscallArgs& a, Target target) {
  TRY(CheckTarget(t, a, target));
  TRY(CheckName(t, a.Addr(1)));
  if (a.Int32(4) & ~(XATTR_CREATE | XATTR_REPLACE)) return Errno(EINVAL);
  return Errno(EOPNOTSUPP);
}

Result<long> Remove(Task& t, const SyscallArgs& a, Target target) {
  TRY(CheckTarget(t, a, target));
  TRY(CheckName(t, a.Addr(1)));
  return Errno(ENODATA);
}

}  // namespace

// getxattr(2), lgetxattr(2), fgetxattr(2)
Result<long> Getxattr(Task& t, const SyscallArgs& a) { return Get(t, a, Target::kPath); }
Result<long> Lgetxattr(Task& t, const SyscallArgs& a) { return Get(t, a, Target::kLink); }
Result<long> Fgetxattr(Task& t, const SyscallArgs& a) { return Get(t, a, Target::kFd); }
// listxattr(2), llistxattr(2), flistxattr(2)
Result<long> Listxattr(Task& t, const SyscallArgs& a) { return List(t, a, Target::kPath); }
Result<long> Llistxattr(Task& t, const SyscallArgs& a) { return List(t, a, Target::kLink); }
Result<long> Flistxattr(Task& t, const SyscallArgs& a) { return List(t, a, Target::kFd); }
// setxattr(2), lsetxattr(2), fsetxattr(2)
Result<long> Setxattr(Task& t, const SyscallArgs& a) { return Set(t, a, Target::kPath); }
Result<long> Lsetxattr(Task& t, const SyscallArgs& a) { return Set(t, a, Target::kLink); }
Result<long> Fsetxattr(Task& t, const SyscallArgs& a) { return Set(t, a, Target::kFd); }
// removexattr(2), lremovexattr(2), fremovexattr(2)
Result<long> Removexattr(Task& t, const SyscallArgs& a) { return Remove(t, a, Target::kPath); }
Result<long> Lremovexattr(Task& t, const SyscallArgs& a) { return Remove(t, a, Target::kLink); }
Result<long> Fremovexattr(Task& t, const SyscallArgs& a) { return Remove(t, a, Target::kFd); }

}  // namespace moat::syscalls
