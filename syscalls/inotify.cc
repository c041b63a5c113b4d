// inotify syscalls: instances and watches. The events themselves come from the VFS and the other
// handlers through the hooks in sentry/vfs/inotify.h.
#include "sentry/vfs/inotify.h"

#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

// ALL_INOTIFY_BITS: a mask must name at least one of these.
constexpr uint32_t kAllInotifyBits = IN_ALL_EVENTS | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED |
                                     IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_ADD |
                                     IN_MASK_CREATE | IN_ISDIR | IN_ONESHOT;

Result<long> DoInotifyInit(Task& t, int flags) {
  if (flags & ~(IN_CLOEXEC | IN_NONBLOCK)) return Errno(EINVAL);
  RefPtr<vfs::FileDescription> f = TRY(vfs::NewInotifyFile(flags & IN_NONBLOCK));
  return TRY(t.fds().Add(std::move(f), flags & IN_CLOEXEC, 0, FdLimit(t)));
}

}  // namespace

// inotify_init(2)
Result<long> InotifyInit(Task& t, const SyscallArgs&) { return DoInotifyInit(t, 0); }

// inotify_init1(2)
Result<long> InotifyInit1(Task& t, const SyscallArgs& a) { return DoInotifyInit(t, a.Int32(0)); }

// inotify_add_watch(2)
Result<long> InotifyAddWatch(Task& t, const SyscallArgs& a) {
  const uint32_t mask = a.Uint32(2);
  if (!(mask & kAllInotifyBits)) return Errno(EINVAL);
  if ((mask & IN_MASK_ADD) && (mask & IN_MASK_CREATE)) return Errno(EINVAL);
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  vfs::Inotify* inotify = vfs::InotifyOf(*f);
  if (!inotify) return Errno(EINVAL);
  vfs::Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(1),
                                    (mask & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0,
                                    /*must_be_dir=*/mask & IN_ONLYDIR));
  // inotify_find_inode(): watching needs read permission on the file.
  vfs::Stat st = TRY(p.dentry->inode()->GetStat());
  TRY(vfs::CheckPermission(*t.creds(), st, R_OK));
  return TRY(inotify->AddWatch(p.dentry->inode(), mask));
}

// inotify_rm_watch(2)
Result<long> InotifyRmWatch(Task& t, const SyscallArgs& a) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  vfs::Inotify* inotify = vfs::InotifyOf(*f);
  if (!inotify) return Errno(EINVAL);
  TRY(inotify->RemoveWatch(a.Int32(1)));
  return 0;
}

}  // namespace moat::syscalls
