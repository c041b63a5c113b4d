// Extended attributes: getxattr(2), setxattr(2), listxattr(2), removexattr(2) and their l* and
// f* forms. The handlers copy the arguments in and the results out with Linux's size rules; the
// namespace and permission checks are the VFS's (sentry/vfs/xattr.h), the storage the
// filesystem's.
#include <sys/xattr.h>

#include "sentry/vfs/xattr.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

using vfs::kXattrListMax;
using vfs::kXattrNameMax;
using vfs::kXattrSizeMax;

enum class Target { kPath, kLink, kFd };

// The file a call names: a path (following a final symlink or not), or an fd that is not
// O_PATH (fdget() does not see those).
Result<vfs::Path> ResolveTarget(Task& t, const SyscallArgs& a, Target target) {
  if (target == Target::kFd) {
    RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
    if (f->flags() & O_PATH) return Errno(EBADF);
    return f->path();
  }
  return ResolveUserPath(t, AT_FDCWD, a.Addr(0), target == Target::kLink ? AT_SYMLINK_NOFOLLOW : 0);
}

// import_xattr_name(): an empty name or one longer than 255 bytes is ERANGE.
Result<std::string> CopyInName(Task& t, UserAddr name) {
  Result<std::string> n = t.CopyInString(name, kXattrNameMax);
  if (!n.ok()) return n.error().value() == ENAMETOOLONG ? Errno(ERANGE) : n.error();
  if (n->empty()) return Errno(ERANGE);
  return n;
}

// The fd variants look the fd up before the name, the path variants copy the name first.
Result<std::pair<vfs::Path, std::string>> TargetAndName(Task& t, const SyscallArgs& a,
                                                        Target target) {
  if (target == Target::kFd) {
    vfs::Path p = TRY(ResolveTarget(t, a, target));
    std::string name = TRY(CopyInName(t, a.Addr(1)));
    return std::pair{std::move(p), std::move(name)};
  }
  std::string name = TRY(CopyInName(t, a.Addr(1)));
  vfs::Path p = TRY(ResolveTarget(t, a, target));
  return std::pair{std::move(p), std::move(name)};
}

Result<long> Get(Task& t, const SyscallArgs& a, Target target) {
  auto [p, name] = TRY(TargetAndName(t, a, target));
  // do_getxattr(): a larger buffer is as good as the largest value.
  const size_t size = std::min<uint64_t>(a.Uint(3), kXattrSizeMax);
  std::string value = TRY(vfs::GetXattr(*t.creds(), p, name));
  if (size == 0) return static_cast<long>(value.size());
  if (value.size() > size) return Errno(size >= kXattrSizeMax ? E2BIG : ERANGE);
  TRY(t.CopyOut(a.Addr(2), value.data(), value.size()));
  return static_cast<long>(value.size());
}

Result<long> List(Task& t, const SyscallArgs& a, Target target) {
  vfs::Path p = TRY(ResolveTarget(t, a, target));
  const size_t size = std::min<uint64_t>(a.Uint(2), kXattrListMax);
  std::string list;
  for (const std::string& n : TRY(vfs::ListXattr(*t.creds(), p))) {
    list += n;
    list.push_back('\0');
  }
  if (size == 0) return static_cast<long>(list.size());
  if (list.size() > size) return Errno(size >= kXattrListMax ? E2BIG : ERANGE);
  TRY(t.CopyOut(a.Addr(1), list.data(), list.size()));
  return static_cast<long>(list.size());
}

Result<long> Set(Task& t, const SyscallArgs& a, Target target) {
  // setxattr_copy(): flags, then name, then size, then the value, before the file is looked up
  // (for the fd forms the fd comes first).
  const int flags = a.Int32(4);
  std::optional<vfs::Path> fd_path;
  if (target == Target::kFd) fd_path = TRY(ResolveTarget(t, a, target));
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) return Errno(EINVAL);
  std::string name = TRY(CopyInName(t, a.Addr(1)));
  const uint64_t size = a.Uint(3);
  if (size > kXattrSizeMax) return Errno(E2BIG);
  std::string value(size, '\0');
  TRY(t.CopyIn(a.Addr(2), value.data(), size));
  if (!fd_path) fd_path = TRY(ResolveTarget(t, a, target));
  TRY(vfs::SetXattr(*t.creds(), *fd_path, name, value, flags));
  return 0;
}

Result<long> Remove(Task& t, const SyscallArgs& a, Target target) {
  auto [p, name] = TRY(TargetAndName(t, a, target));
  TRY(vfs::RemoveXattr(*t.creds(), p, name));
  return 0;
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
