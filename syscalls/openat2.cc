// openat2(2): openat with an extensible struct open_how, strict flag checking and the RESOLVE_*
// restrictions of the path walk (sentry/vfs/namei.cc).
#include "sentry/vfs/lease.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

// <linux/openat2.h>, which older C library headers lack.
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
constexpr size_t kOpenHowSizeVer0 = 24;
constexpr uint64_t kResolveNoXdev = 0x01;
constexpr uint64_t kResolveNoMagiclinks = 0x02;
constexpr uint64_t kResolveNoSymlinks = 0x04;
constexpr uint64_t kResolveBeneath = 0x08;
constexpr uint64_t kResolveInRoot = 0x10;
constexpr uint64_t kResolveCached = 0x20;
constexpr uint64_t kValidResolve = kResolveNoXdev | kResolveNoMagiclinks | kResolveNoSymlinks |
                                   kResolveBeneath | kResolveInRoot | kResolveCached;

// The kernel's O_LARGEFILE (glibc defines O_LARGEFILE as 0 on x86-64).
constexpr uint64_t kKernelOLargefile = 0100000;
// VALID_OPEN_FLAGS.
constexpr uint64_t kValidOpenFlags =
    O_RDONLY | O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
    O_SYNC | O_DSYNC | O_ASYNC | O_DIRECT | kKernelOLargefile | O_DIRECTORY | O_NOFOLLOW |
    O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE;
// The kernel's __O_TMPFILE bit alone: glibc's __O_TMPFILE includes O_DIRECTORY, so testing a
// flag word against it would take every O_DIRECTORY open for a temporary file.
constexpr uint64_t kTmpfileBit = 020000000;
// What O_PATH may come with (O_PATH_FLAGS, O_CLOEXEC being stripped before).
constexpr uint64_t kOPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH;

// copy_struct_from_user(): a larger struct from a newer caller is fine if the part this kernel
// does not know is zero (E2BIG otherwise); a smaller one is zero-extended.
Result<OpenHow> CopyInHow(Task& t, UserAddr addr, uint64_t size) {
  OpenHow how{};
  TRY(t.CopyIn(addr, &how, std::min<uint64_t>(size, sizeof(how))));
  if (size > sizeof(how)) {
    std::string rest(size - sizeof(how), '\0');
    TRY(t.CopyIn(addr + sizeof(how), rest.data(), rest.size()));
    if (rest.find_first_not_of('\0') != std::string::npos) return Errno(E2BIG);
  }
  return how;
}

// build_open_flags(): every check openat2 adds over openat, in Linux's order.
Result<void> CheckHow(const OpenHow& how) {
  const uint64_t flags = how.flags & ~static_cast<uint64_t>(O_CLOEXEC);
  if (flags & ~kValidOpenFlags) return Errno(EINVAL);
  if (how.resolve & ~kValidResolve) return Errno(EINVAL);
  if ((how.resolve & kResolveBeneath) && (how.resolve & kResolveInRoot)) return Errno(EINVAL);
  const bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  if ((flags & O_CREAT) || tmpfile) {
    if (how.mode & ~static_cast<uint64_t>(07777)) return Errno(EINVAL);
  } else if (how.mode != 0) {
    return Errno(EINVAL);
  }
  if ((flags & O_DIRECTORY) && (flags & O_CREAT)) return Errno(EINVAL);
  if (flags & kTmpfileBit) {
    if (!tmpfile) return Errno(EINVAL);
    if ((flags & O_ACCMODE) == O_RDONLY) return Errno(EINVAL);
  }
  if ((flags & O_PATH) && (flags & ~kOPathFlags)) return Errno(EINVAL);
  // A lookup that must not block cannot create or truncate.
  if ((how.resolve & kResolveCached) && (flags & (O_TRUNC | O_CREAT | kTmpfileBit))) {
    return Errno(EAGAIN);
  }
  return Ok();
}

}  // namespace

// openat2(2)
Result<long> Openat2(Task& t, const SyscallArgs& a) {
  const int dirfd = a.Int32(0);
  const uint64_t size = a.Uint(3);
  if (size < kOpenHowSizeVer0) return Errno(EINVAL);
  if (size > kPageSize) return Errno(E2BIG);
  OpenHow how = TRY(CopyInHow(t, a.Addr(2), size));
  if (!(how.flags & O_PATH)) how.flags |= kKernelOLargefile;
  TRY(CheckHow(how));
  std::string path = TRY(t.CopyInPath(a.Addr(1)));
  if (path.empty()) return Errno(ENOENT);
  const int flags = static_cast<int>(how.flags);
  // RESOLVE_CACHED asks for a walk the dentry cache can answer; the sentry's walks never sleep
  // on I/O it could avoid, so it simply resolves.
  const uint64_t resolve = how.resolve & ~kResolveCached;
  // A scoped walk starts at the dirfd even for an absolute path (which RESOLVE_BENEATH refuses
  // and RESOLVE_IN_ROOT takes as relative to it).
  const bool scoped = resolve & (kResolveBeneath | kResolveInRoot);
  // nd_jump_root() refuses before the dirfd is even looked at.
  if ((resolve & kResolveBeneath) && path.front() == '/') return Errno(EXDEV);
  vfs::Path start = TRY(t.StartAt(dirfd, scoped ? std::string(".") : path));
  const uint32_t mode = static_cast<uint32_t>(how.mode) & 07777 & ~t.fs().umask();
  RefPtr<vfs::FileDescription> f =
      (flags & O_TMPFILE) == O_TMPFILE
          ? TRY(vfs::OpenTmpfile(t.PathContext(), start, path, flags, mode, resolve))
          : TRY(vfs::OpenAt(t.PathContext(), start, path, flags, mode, resolve));
  TRY(f->WaitOpen(t));
  if (vfs::Inode* i = f->inode()) TRY(vfs::BreakLease(t, *i, flags));
  return TRY(t.fds().Add(std::move(f), flags & O_CLOEXEC, 0, FdLimit(t)));
}

}  // namespace moat::syscalls
