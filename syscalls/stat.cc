// stat family.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

struct stat ToStat(const vfs::Stat& s) {
  struct stat st {};
  st.st_dev = s.dev;
  st.st_ino = s.ino;
  st.st_nlink = s.nlink;
  st.st_mode = s.mode;
  st.st_uid = s.uid;
  st.st_gid = s.gid;
  st.st_rdev = s.rdev;
  st.st_size = s.size;
  st.st_blksize = s.blksize;
  st.st_blocks = s.blocks;
  st.st_atim = s.atime;
  st.st_mtim = s.mtime;
  st.st_ctim = s.ctime;
  return st;
}

Result<long> StatPath(Task& t, int dirfd, UserAddr path, int flags, UserAddr buf) {
  // vfs_statx()'s check: the statx sync flags are accepted (and meaningless) here too.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)) {
    return Errno(EINVAL);
  }
  vfs::Path p = TRY(ResolveUserPath(t, dirfd, path, flags));
  vfs::Stat s = TRY(p.dentry->inode()->GetStat());
  TRY(t.CopyOutObj(buf, ToStat(s)));
  return 0;
}

}  // namespace

// stat(2)
Result<long> Stat(Task& t, const SyscallArgs& a) { return StatPath(t, AT_FDCWD, a.Addr(0), 0, a.Addr(1)); }

// lstat(2)
Result<long> Lstat(Task& t, const SyscallArgs& a) {
  return StatPath(t, AT_FDCWD, a.Addr(0), AT_SYMLINK_NOFOLLOW, a.Addr(1));
}

// fstat(2)
Result<long> Fstat(Task& t, const SyscallArgs& a) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  vfs::Stat s = TRY(f->GetStat());
  TRY(t.CopyOutObj(a.Addr(1), ToStat(s)));
  return 0;
}

// newfstatat(2)
Result<long> Newfstatat(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(3);
  if (flags & AT_EMPTY_PATH) {
    // An empty path with AT_EMPTY_PATH is fstat of dirfd (which may be any file).
    std::string path = TRY(t.CopyInPath(a.Addr(1)));
    if (path.empty()) {
      if (a.Int32(0) == AT_FDCWD) return StatPath(t, AT_FDCWD, a.Addr(1), flags, a.Addr(2));
      RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
      vfs::Stat s = TRY(f->GetStat());
      TRY(t.CopyOutObj(a.Addr(2), ToStat(s)));
      return 0;
    }
  }
  return StatPath(t, a.Int32(0), a.Addr(1), flags, a.Addr(2));
}

// statx(2)
Result<long> Statx(Task& t, const SyscallArgs& a) {
  int dirfd = a.Int32(0), flags = a.Int32(2);
  unsigned mask = a.Uint32(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE))
    return Errno(EINVAL);
  if ((flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE) return Errno(EINVAL);
  if (mask & STATX__RESERVED) return Errno(EINVAL);
  std::string path = TRY(t.CopyInPath(a.Addr(1)));
  vfs::Stat s;
  int mnt_id = 0;
  if (path.empty() && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) {
    RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(dirfd));
    s = TRY(f->GetStat());
    if (f->path().mount) mnt_id = f->path().mount->id();
  } else {
    vfs::Path p = TRY(t.ResolveAt(dirfd, path, flags));
    s = TRY(p.dentry->inode()->GetStat());
    mnt_id = p.mount->id();
  }
  struct statx x {};
  x.stx_mask = STATX_BASIC_STATS | STATX_MNT_ID;
  if (s.btime.tv_sec || s.btime.tv_nsec) x.stx_mask |= STATX_BTIME;
  x.stx_blksize = s.blksize;
  x.stx_nlink = s.nlink;
  x.stx_uid = s.uid;
  x.stx_gid = s.gid;
  x.stx_mode = s.mode;
  x.stx_ino = s.ino;
  x.stx_size = s.size;
  x.stx_blocks = s.blocks;
  auto ts = [](const timespec& v) {
    return statx_timestamp{v.tv_sec, static_cast<uint32_t>(v.tv_nsec), 0};
  };
  x.stx_atime = ts(s.atime);
  x.stx_btime = ts(s.btime);
  x.stx_ctime = ts(s.ctime);
  x.stx_mtime = ts(s.mtime);
  x.stx_rdev_major = major(s.rdev);
  x.stx_rdev_minor = minor(s.rdev);
  x.stx_dev_major = major(s.dev);
  x.stx_dev_minor = minor(s.dev);
  x.stx_mnt_id = mnt_id;
  TRY(t.CopyOutObj(a.Addr(4), x));
  return 0;
}

}  // namespace moat::syscalls
