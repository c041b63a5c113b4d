// File syscalls: opening, descriptors, the namespace (mkdir, unlink, rename, links), attributes,
// the working directory, pipes.
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <utime.h>

#include "sentry/fsimpl/pipe.h"
#include "sentry/fsimpl/tmpfs.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/fasync.h"
#include "sentry/vfs/inotify.h"
#include "sentry/vfs/lease.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using vfs::FileDescription;
using vfs::Path;

namespace {

// The kernel's O_LARGEFILE (glibc defines O_LARGEFILE as 0 on x86-64).
constexpr int kKernelOLargefile = 0100000;

Result<vfs::Stat> StatOf(const Path& p) { return p.dentry->inode()->GetStat(); }

// A new size past RLIMIT_FSIZE: SIGXFSZ and EFBIG (inode_newsize_ok).
Result<void> CheckNewSize(Task& t, int64_t size) {
  rlimit lim = t.thread_group().GetRlimit(RLIMIT_FSIZE);
  if (lim.rlim_cur == RLIM_INFINITY || static_cast<uint64_t>(size) <= lim.rlim_cur) return Ok();
  SendSelfSignal(t, SIGXFSZ);
  return Errno(EFBIG);
}

Result<long> InstallFile(Task& t, RefPtr<FileDescription> f, bool cloexec) {
  return TRY(t.fds().Add(std::move(f), cloexec, 0, FdLimit(t)));
}

Result<long> DoOpen(Task& t, int dirfd, UserAddr upath, int flags, uint32_t mode) {
  // build_open_flags(), before the path is read. O_PATH drops every other flag first.
  if (!(flags & O_PATH)) {
    // Linux 6.4 refuses the combination that used to create regular files.
    if ((flags & (O_DIRECTORY | O_CREAT)) == (O_DIRECTORY | O_CREAT)) return Errno(EINVAL);
    // The kernel's __O_TMPFILE bit alone (glibc's __O_TMPFILE includes O_DIRECTORY).
    constexpr int kTmpfileBit = 020000000;
    if (flags & kTmpfileBit) {
      if ((flags & O_TMPFILE) != O_TMPFILE) return Errno(EINVAL);
      if ((flags & O_ACCMODE) == O_RDONLY) return Errno(EINVAL);
    }
  }
  std::string path = TRY(t.CopyInPath(upath));
  if (path.empty()) return Errno(ENOENT);
  flags |= kKernelOLargefile;  // implied on 64-bit, and reported by F_GETFL
  vfs::Path start = TRY(t.StartAt(dirfd, path));
  const uint32_t applied = mode & 07777 & ~t.fs().umask();
  RefPtr<FileDescription> f =
      (flags & O_TMPFILE) == O_TMPFILE && !(flags & O_PATH)
          ? TRY(vfs::OpenTmpfile(t.PathContext(), start, path, flags, applied))
          : TRY(vfs::OpenAt(t.PathContext(), start, path, flags, applied));
  // A FIFO opened without O_NONBLOCK waits here for its other end.
  TRY(f->WaitOpen(t));
  // do_dentry_open(): the new opener breaks the leases it conflicts with.
  if (vfs::Inode* i = f->inode()) TRY(vfs::BreakLease(t, *i, flags));
  return InstallFile(t, std::move(f), flags & O_CLOEXEC);
}

// Credentials for access(2): the real ids, and capabilities only if the real uid is root.
RefPtr<kernel::Credentials> AccessCreds(Task& t, bool effective) {
  RefPtr<kernel::Credentials> c = t.creds();
  if (effective) return c;
  auto a = c->Copy();
  a->fsuid = c->ruid;
  a->fsgid = c->rgid;
  a->cap_effective = c->ruid == 0 ? c->cap_permitted : 0;
  return a;
}

// Whether `p` is on a read-only mount. Pipes and anonymous files (eventfd, epoll...) have no
// mount at all.
bool ReadOnlyMount(const Path& p) { return p.mount && p.mount->flags().readonly; }

Result<long> DoAccess(Task& t, int dirfd, UserAddr upath, int mode, int flags) {
  if (mode & ~(R_OK | W_OK | X_OK)) return Errno(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Path p = TRY(ResolveUserPath(t, dirfd, upath, flags));
  vfs::Stat st = TRY(StatOf(p));
  if ((mode & W_OK) && ReadOnlyMount(p) &&
      (S_ISREG(st.mode) || S_ISDIR(st.mode) || S_ISLNK(st.mode)))
    return Errno(EROFS);
  if (mode == F_OK) return 0;
  RefPtr<kernel::Credentials> c = AccessCreds(t, flags & AT_EACCESS);
  TRY(vfs::CheckPermission(*c, st, mode));
  return 0;
}

Result<long> DoMkdir(Task& t, int dirfd, UserAddr upath, uint32_t mode) {
  std::string path = TRY(t.CopyInPath(upath));
  vfs::ParentAndName at = TRY(t.ResolveParentAt(dirfd, path));
  TRY(vfs::MakeDirAt(t.PathContext(), at, mode & 07777 & ~t.fs().umask()));
  return 0;
}

Result<long> DoRename(Task& t, int olddirfd, UserAddr oldp, int newdirfd, UserAddr newp,
                      unsigned flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return Errno(EINVAL);
  if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
    return Errno(EINVAL);
  std::string op = TRY(t.CopyInPath(oldp));
  std::string np = TRY(t.CopyInPath(newp));
  vfs::ParentAndName from = TRY(t.ResolveParentAt(olddirfd, op));
  vfs::ParentAndName to = TRY(t.ResolveParentAt(newdirfd, np));
  TRY(vfs::RenameAt(t.PathContext(), from, to, flags));
  return 0;
}

Result<long> DoLink(Task& t, int olddirfd, UserAddr oldp, int newdirfd, UserAddr newp, int flags) {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Path old = TRY(ResolveUserPath(t, olddirfd, oldp,
                                 (flags & AT_SYMLINK_FOLLOW ? 0 : AT_SYMLINK_NOFOLLOW) |
                                     (flags & AT_EMPTY_PATH)));
  std::string np = TRY(t.CopyInPath(newp));
  vfs::ParentAndName to = TRY(t.ResolveParentAt(newdirfd, np));
  TRY(vfs::LinkAt(t.PathContext(), old, to));
  return 0;
}

Result<long> DoSymlink(Task& t, UserAddr target, int newdirfd, UserAddr linkpath) {
  std::string tgt = TRY(t.CopyInPath(target));
  std::string lp = TRY(t.CopyInPath(linkpath));
  vfs::ParentAndName to = TRY(t.ResolveParentAt(newdirfd, lp));
  TRY(vfs::SymlinkAt(t.PathContext(), to, tgt));
  return 0;
}

Result<long> DoReadlink(Task& t, int dirfd, UserAddr upath, UserAddr buf, int64_t size) {
  // do_readlinkat(): the size is checked before the path is even read.
  if (size <= 0) return Errno(EINVAL);
  std::string path = TRY(t.CopyInPath(upath));
  Path p = TRY(t.ResolveAt(dirfd, path, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
  // An empty path names the descriptor's file: for anything but a symlink that names nothing
  // readlink could read (ENOENT rather than EINVAL).
  if (path.empty() && !S_ISLNK(TRY(StatOf(p)).mode)) return Errno(ENOENT);
  std::string target = TRY(p.dentry->inode()->ReadLink());
  size_t n = std::min<size_t>(target.size(), size);
  TRY(t.CopyOut(buf, target.data(), n));
  return n;
}

// Owner or CAP_FOWNER may change a file's mode and times.
Result<void> CheckOwner(Task& t, const vfs::Stat& st) {
  RefPtr<kernel::Credentials> c = t.creds();
  if (c->fsuid == st.uid || c->HasCap(CAP_FOWNER)) return Ok();
  return Errno(EPERM);
}

Result<long> DoChmod(Task& t, const Path& p, uint32_t mode) {
  if (ReadOnlyMount(p)) return Errno(EROFS);
  vfs::Stat st = TRY(StatOf(p));
  TRY(CheckOwner(t, st));
  RefPtr<kernel::Credentials> c = t.creds();
  mode &= 07777;
  if ((mode & S_ISGID) && !c->InGroup(st.gid) && !c->HasCap(CAP_FSETID)) mode &= ~S_ISGID;
  vfs::SetStatRequest req;
  req.mode = mode;
  TRY(p.dentry->inode()->SetStat(req));
  vfs::NotifySetStat(*p.dentry, req);
  return 0;
}

Result<long> DoChown(Task& t, const Path& p, uint32_t uid, uint32_t gid) {
  if (ReadOnlyMount(p)) return Errno(EROFS);
  vfs::Stat st = TRY(StatOf(p));
  RefPtr<kernel::Credentials> c = t.creds();
  constexpr uint32_t kKeep = static_cast<uint32_t>(-1);
  const bool owner = c->fsuid == st.uid;
  const bool cap_chown = c->HasCap(CAP_CHOWN);
  // setattr_prepare(): chown_ok() lets the owner "change" the owner to itself only, and
  // chgrp_ok() lets the owner pick its own groups; anything else takes CAP_CHOWN, even a
  // change to the values the file already has.
  if (uid != kKeep && !(owner && uid == st.uid) && !cap_chown) return Errno(EPERM);
  if (gid != kKeep && !(owner && (gid == st.gid || c->InGroup(gid))) && !cap_chown) {
    return Errno(EPERM);
  }
  // chown_common(): every chown, even one that changes nothing, marks the change time and
  // drops the set-id bits of a non-directory (ATTR_KILL_SUID and setattr_should_drop_sgid).
  vfs::SetStatRequest req;
  req.touch_ctime = true;
  if (uid != kKeep) req.uid = uid;
  if (gid != kKeep) req.gid = gid;
  if (!S_ISDIR(st.mode)) {
    uint32_t m = st.mode & 07777 & ~S_ISUID;
    const bool in_group = c->InGroup(st.gid) || c->HasCap(CAP_FSETID);
    if ((m & S_ISGID) && ((m & S_IXGRP) || !in_group)) m &= ~S_ISGID;
    if (m != (st.mode & 07777)) {
      // The dropped bits are a mode change, which setattr_prepare() allows the owner only;
      // it also drops S_ISGID if the caller is not in the (new) group.
      if (!owner && !c->HasCap(CAP_FOWNER)) return Errno(EPERM);
      if (!c->InGroup(req.gid.value_or(st.gid)) && !c->HasCap(CAP_FSETID)) m &= ~S_ISGID;
      req.mode = m;
    }
  }
  TRY(p.dentry->inode()->SetStat(req));
  vfs::NotifySetStat(*p.dentry, req);
  return 0;
}

Result<long> DoTruncate(Task& t, const Path& p, int64_t len) {
  if (len < 0) return Errno(EINVAL);
  vfs::Stat st = TRY(StatOf(p));
  if (S_ISDIR(st.mode)) return Errno(EISDIR);
  if (!S_ISREG(st.mode)) return Errno(EINVAL);
  if (ReadOnlyMount(p)) return Errno(EROFS);
  TRY(vfs::CheckPermission(*t.creds(), st, W_OK));
  if (p.dentry->inode()->IsExecuting()) return Errno(ETXTBSY);
  // vfs_truncate(): a truncation by path breaks leases like an open for writing.
  TRY(vfs::BreakLease(t, *p.dentry->inode(), O_WRONLY));
  TRY(CheckNewSize(t, len));
  // vfs_truncate() -> do_truncate() without time attributes: the filesystem stamps the file if
  // the size changes. A truncation by someone without CAP_FSETID drops set-id bits.
  vfs::SetStatRequest req;
  req.size = len;
  req.mode = vfs::ModeAfterWrite(*t.creds(), st);
  TRY(p.dentry->inode()->SetStat(req));
  vfs::NotifySetStat(*p.dentry, req);
  return 0;
}

bool ValidNsec(long nsec) {
  return nsec == UTIME_NOW || nsec == UTIME_OMIT || (nsec >= 0 && nsec < 1'000'000'000);
}

// vfs_utimes(): sets access and modification times; `times` null means both "now". The
// nanoseconds are judged only once the file is found.
Result<long> DoUtimes(Task& t, const Path& p, const timespec* times) {
  if (times && (!ValidNsec(times[0].tv_nsec) || !ValidNsec(times[1].tv_nsec))) {
    return Errno(EINVAL);
  }
  if (ReadOnlyMount(p)) return Errno(EROFS);
  vfs::Stat st = TRY(StatOf(p));
  RefPtr<kernel::Credentials> c = t.creds();
  bool all_now = !times || (times[0].tv_nsec == UTIME_NOW && times[1].tv_nsec == UTIME_NOW);
  bool owner = c->fsuid == st.uid || c->HasCap(CAP_FOWNER);
  if (all_now) {
    if (!owner) TRY(vfs::CheckPermission(*c, st, W_OK));
  } else if (!(times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT) && !owner) {
    return Errno(EPERM);
  }
  vfs::SetStatRequest req;
  timespec now = vfs::Now();
  for (int i = 0; i < 2; i++) {
    std::optional<timespec>& field = i == 0 ? req.atime : req.mtime;
    if (!times || times[i].tv_nsec == UTIME_NOW) {
      field = now;
    } else if (times[i].tv_nsec != UTIME_OMIT) {
      field = times[i];
    }
  }
  if (req.atime || req.mtime) {
    TRY(p.dentry->inode()->SetStat(req));
    vfs::NotifySetStat(*p.dentry, req);
  }
  return 0;
}

Result<long> UtimesFromTimevals(Task& t, int dirfd, UserAddr upath, UserAddr tv) {
  Path p = TRY(ResolveUserPath(t, dirfd, upath, 0));
  if (tv.IsNull()) return DoUtimes(t, p, nullptr);
  timeval v[2];
  TRY(t.CopyIn(tv, v, sizeof(v)));
  timespec ts[2];
  for (int i = 0; i < 2; i++) {
    if (v[i].tv_usec < 0 || v[i].tv_usec >= 1'000'000) return Errno(EINVAL);
    ts[i] = timespec{v[i].tv_sec, v[i].tv_usec * 1000};
  }
  return DoUtimes(t, p, ts);
}

Result<long> DoMknod(Task& t, int dirfd, UserAddr upath, uint32_t mode, uint64_t dev) {
  std::string path = TRY(t.CopyInPath(upath));
  vfs::ParentAndName at = TRY(t.ResolveParentAt(dirfd, path));
  uint32_t applied = (mode & S_IFMT) | (mode & 07777 & ~t.fs().umask());
  TRY(vfs::MakeNodeAt(t.PathContext(), at, applied, dev));
  return 0;
}

Result<long> DoStatfs(Task& t, const Path& p, UserAddr buf) {
  struct statfs s {};
  const std::string fs = p.mount ? p.mount->fstype() : "";
  if (!p.mount) {
    // A pipe (pipefs) or an anonymous file (anon_inodefs).
    bool pipe = p.dentry && p.dentry->name().starts_with("pipe:");
    s.f_type = pipe ? PIPEFS_MAGIC : ANON_INODE_FS_MAGIC;
  } else if (fs == "tmpfs" || fs == "devtmpfs") {
    s.f_type = TMPFS_MAGIC;
  } else if (fs == "proc") {
    s.f_type = PROC_SUPER_MAGIC;
  } else if (fs == "sysfs") {
    s.f_type = SYSFS_MAGIC;
  } else if (fs == "overlay") {
    s.f_type = OVERLAYFS_SUPER_MAGIC;
  } else {
    s.f_type = EXT4_SUPER_MAGIC;
  }
  struct sysinfo si;
  sysinfo(&si);
  s.f_bsize = s.f_frsize = 4096;
  s.f_blocks = static_cast<uint64_t>(si.totalram) * si.mem_unit / 4096;
  s.f_bfree = s.f_bavail = static_cast<uint64_t>(si.freeram) * si.mem_unit / 4096;
  // A tmpfs mounted with a size (size=1m) reports that size, as Linux's shmem_statfs.
  if (s.f_type == TMPFS_MAGIC && p.dentry) {
    if (std::optional<fsimpl::TmpfsSpace> space = fsimpl::TmpfsSpaceOf(*p.dentry->inode())) {
      s.f_blocks = space->limit / 4096;
      s.f_bfree = s.f_bavail = (space->limit - std::min(space->used, space->limit)) / 4096;
    }
  }
  s.f_files = 1 << 20;
  s.f_ffree = 1 << 19;
  s.f_namelen = 255;
  s.f_fsid.__val[0] = p.mount ? p.mount->id() : 0;
  const vfs::MountFlags mf = p.mount ? p.mount->flags() : vfs::MountFlags{};
  s.f_flags = (mf.readonly ? ST_RDONLY : 0) | (mf.nosuid ? ST_NOSUID : 0) |
              (mf.nodev ? ST_NODEV : 0) | (mf.noexec ? ST_NOEXEC : 0);
  TRY(t.CopyOutObj(buf, s));
  return 0;
}

}  // namespace

// open(2)
Result<long> Open(Task& t, const SyscallArgs& a) {
  return DoOpen(t, AT_FDCWD, a.Addr(0), a.Int32(1), a.Uint32(2));
}

// openat(2)
Result<long> Openat(Task& t, const SyscallArgs& a) {
  return DoOpen(t, a.Int32(0), a.Addr(1), a.Int32(2), a.Uint32(3));
}

// creat(2)
Result<long> Creat(Task& t, const SyscallArgs& a) {
  return DoOpen(t, AT_FDCWD, a.Addr(0), O_CREAT | O_WRONLY | O_TRUNC, a.Uint32(1));
}

// close(2)
Result<long> Close(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Remove(a.Int32(0)));
  return 0;  // the description is released here, outside the table's lock
}

// close_range(2)
Result<long> CloseRange(Task& t, const SyscallArgs& a) {
  unsigned first = a.Uint32(0), last = a.Uint32(1), flags = a.Uint32(2);
  if (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) return Errno(EINVAL);
  if (first > last) return Errno(EINVAL);
  if (flags & CLOSE_RANGE_UNSHARE) t.set_fds(t.fds().Fork());
  t.fds().RemoveRange(first, last, flags & CLOSE_RANGE_CLOEXEC);
  return 0;
}

// dup(2)
Result<long> Dup(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  return InstallFile(t, f, false);
}

// dup2(2)
Result<long> Dup2(Task& t, const SyscallArgs& a) {
  int oldfd = a.Int32(0), newfd = a.Int32(1);
  RefPtr<FileDescription> f = TRY(t.fds().Get(oldfd));
  if (oldfd == newfd) return newfd;
  if (newfd < 0) return Errno(EBADF);
  TRY(t.fds().Set(newfd, f, false, FdLimit(t)));
  return newfd;
}

// dup3(2)
Result<long> Dup3(Task& t, const SyscallArgs& a) {
  int oldfd = a.Int32(0), newfd = a.Int32(1), flags = a.Int32(2);
  if (flags & ~O_CLOEXEC) return Errno(EINVAL);
  if (oldfd == newfd) return Errno(EINVAL);
  RefPtr<FileDescription> f = TRY(t.fds().Get(oldfd));
  if (newfd < 0) return Errno(EBADF);
  TRY(t.fds().Set(newfd, f, flags & O_CLOEXEC, FdLimit(t)));
  return newfd;
}

// fcntl(2)
Result<long> Fcntl(Task& t, const SyscallArgs& a) {
  int fd = a.Int32(0), cmd = a.Int32(1);
  RefPtr<FileDescription> f = TRY(t.fds().Get(fd));
  // F_DUPFD_QUERY (Linux 6.10), which glibc's headers may not name yet.
  constexpr int kFDupfdQuery = 1027;
  // check_fcntl_cmd(): an O_PATH descriptor answers only these.
  if ((f->flags() & O_PATH) && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC && cmd != F_GETFD &&
      cmd != F_SETFD && cmd != F_GETFL && cmd != kFDupfdQuery) {
    return Errno(EBADF);
  }
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int64_t min = a.Int32(2);
      if (min < 0 || static_cast<uint64_t>(min) >= FdLimit(t)) return Errno(EINVAL);
      return TRY(t.fds().Add(f, cmd == F_DUPFD_CLOEXEC, min, FdLimit(t)));
    }
    case F_GETFD:
      return TRY(t.fds().GetCloexec(fd)) ? FD_CLOEXEC : 0;
    case kFDupfdQuery:
      // Whether the fd in the argument is the same open file description.
      return TRY(t.fds().Get(a.Int32(2))) == f ? 1 : 0;
    case F_SETFD:
      TRY(t.fds().SetCloexec(fd, a.Uint(2) & FD_CLOEXEC));
      return 0;
    case F_GETFL:
      return f->flags() & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    case F_SETFL: {
      const int flags = a.Int32(2);
      // setfl(): O_ASYNC changes only through the file's fasync support.
      if ((flags ^ f->flags()) & O_ASYNC) vfs::SetAsync(*f, fd, flags & O_ASYNC);
      f->SetStatusFlags(flags);
      return 0;
    }
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ: {
      fsimpl::Pipe* pipe = fsimpl::PipeOf(*f);
      if (!pipe) return Errno(EBADF);
      if (cmd == F_GETPIPE_SZ) return pipe->Capacity();
      return pipe->SetCapacity(a.Uint(2), t.creds()->HasCap(CAP_SYS_RESOURCE));
    }
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
      return FcntlLock(t, *f, cmd, a.Addr(2));
    case F_ADD_SEALS:
    case F_GET_SEALS:
      return FcntlSeals(t, *f, cmd, a.Uint32(2));
    case F_SETOWN:
    case F_GETOWN:
    case F_SETOWN_EX:
    case F_GETOWN_EX:
    case F_SETSIG:
    case F_GETSIG:
    case F_NOTIFY:
    case F_SETLEASE:
    case F_GETLEASE:
      return FcntlAsync(t, fd, *f, cmd, a.Uint(2));
    default:
      return Errno(EINVAL);
  }
}

// mkdir(2), mkdirat(2)
Result<long> Mkdir(Task& t, const SyscallArgs& a) { return DoMkdir(t, AT_FDCWD, a.Addr(0), a.Uint32(1)); }
Result<long> Mkdirat(Task& t, const SyscallArgs& a) {
  return DoMkdir(t, a.Int32(0), a.Addr(1), a.Uint32(2));
}

// rmdir(2)
Result<long> Rmdir(Task& t, const SyscallArgs& a) {
  std::string path = TRY(t.CopyInPath(a.Addr(0)));
  vfs::ParentAndName at = TRY(t.ResolveParentAt(AT_FDCWD, path));
  TRY(vfs::RemoveDirAt(t.PathContext(), at));
  return 0;
}

// unlink(2)
Result<long> Unlink(Task& t, const SyscallArgs& a) {
  std::string path = TRY(t.CopyInPath(a.Addr(0)));
  vfs::ParentAndName at = TRY(t.ResolveParentAt(AT_FDCWD, path));
  TRY(vfs::UnlinkAt(t.PathContext(), at));
  return 0;
}

// unlinkat(2)
Result<long> Unlinkat(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(2);
  if (flags & ~AT_REMOVEDIR) return Errno(EINVAL);
  std::string path = TRY(t.CopyInPath(a.Addr(1)));
  vfs::ParentAndName at = TRY(t.ResolveParentAt(a.Int32(0), path));
  if (flags & AT_REMOVEDIR) {
    TRY(vfs::RemoveDirAt(t.PathContext(), at));
  } else {
    TRY(vfs::UnlinkAt(t.PathContext(), at));
  }
  return 0;
}

// rename(2), renameat(2), renameat2(2)
Result<long> Rename(Task& t, const SyscallArgs& a) {
  return DoRename(t, AT_FDCWD, a.Addr(0), AT_FDCWD, a.Addr(1), 0);
}
Result<long> Renameat(Task& t, const SyscallArgs& a) {
  return DoRename(t, a.Int32(0), a.Addr(1), a.Int32(2), a.Addr(3), 0);
}
Result<long> Renameat2(Task& t, const SyscallArgs& a) {
  return DoRename(t, a.Int32(0), a.Addr(1), a.Int32(2), a.Addr(3), a.Uint32(4));
}

// link(2), linkat(2)
Result<long> Link(Task& t, const SyscallArgs& a) {
  return DoLink(t, AT_FDCWD, a.Addr(0), AT_FDCWD, a.Addr(1), 0);
}
Result<long> Linkat(Task& t, const SyscallArgs& a) {
  return DoLink(t, a.Int32(0), a.Addr(1), a.Int32(2), a.Addr(3), a.Int32(4));
}

// symlink(2), symlinkat(2)
Result<long> Symlink(Task& t, const SyscallArgs& a) { return DoSymlink(t, a.Addr(0), AT_FDCWD, a.Addr(1)); }
Result<long> Symlinkat(Task& t, const SyscallArgs& a) {
  return DoSymlink(t, a.Addr(0), a.Int32(1), a.Addr(2));
}

// readlink(2), readlinkat(2)
Result<long> Readlink(Task& t, const SyscallArgs& a) {
  return DoReadlink(t, AT_FDCWD, a.Addr(0), a.Addr(1), a.Int32(2));
}
Result<long> Readlinkat(Task& t, const SyscallArgs& a) {
  return DoReadlink(t, a.Int32(0), a.Addr(1), a.Addr(2), a.Int32(3));
}

// chdir(2)
Result<long> Chdir(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0, true));
  vfs::Stat st = TRY(StatOf(p));
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  TRY(vfs::CheckPermission(*t.creds(), st, X_OK));
  t.fs().set_cwd(p);
  return 0;
}

// fchdir(2)
Result<long> Fchdir(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  vfs::Stat st = TRY(StatOf(f->path()));
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  TRY(vfs::CheckPermission(*t.creds(), st, X_OK));
  t.fs().set_cwd(f->path());
  return 0;
}

// getcwd(2)
Result<long> Getcwd(Task& t, const SyscallArgs& a) {
  Path cwd = t.fs().cwd();
  if (cwd.dentry->deleted()) return Errno(ENOENT);
  std::string s = vfs::PathString(t.fs().root(), cwd);
  if (a.Uint(1) < s.size() + 1) return Errno(ERANGE);
  TRY(t.CopyOut(a.Addr(0), s.c_str(), s.size() + 1));
  return s.size() + 1;
}

// access(2), faccessat(2), faccessat2(2)
Result<long> Access(Task& t, const SyscallArgs& a) { return DoAccess(t, AT_FDCWD, a.Addr(0), a.Int32(1), 0); }
Result<long> Faccessat(Task& t, const SyscallArgs& a) {
  return DoAccess(t, a.Int32(0), a.Addr(1), a.Int32(2), 0);
}
Result<long> Faccessat2(Task& t, const SyscallArgs& a) {
  return DoAccess(t, a.Int32(0), a.Addr(1), a.Int32(2), a.Int32(3));
}

// chmod(2), fchmod(2), fchmodat(2)
Result<long> Chmod(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0));
  return DoChmod(t, p, a.Uint32(1));
}
Result<long> Fchmod(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  return DoChmod(t, f->path(), a.Uint32(1));
}
Result<long> Fchmodat(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, a.Int32(0), a.Addr(1), 0));
  return DoChmod(t, p, a.Uint32(2));
}

// fchmodat2(2)
Result<long> Fchmodat2(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Path p = TRY(ResolveUserPath(t, a.Int32(0), a.Addr(1), flags));
  // notify_change(): a symlink's mode is not used, and no filesystem lets it change.
  if (S_ISLNK(TRY(StatOf(p)).mode)) {
    if (ReadOnlyMount(p)) return Errno(EROFS);
    return Errno(EOPNOTSUPP);
  }
  return DoChmod(t, p, a.Uint32(2));
}

// chown(2), fchown(2), lchown(2), fchownat(2)
Result<long> Chown(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0));
  return DoChown(t, p, a.Uint32(1), a.Uint32(2));
}
Result<long> Fchown(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  return DoChown(t, f->path(), a.Uint32(1), a.Uint32(2));
}
Result<long> Lchown(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), AT_SYMLINK_NOFOLLOW));
  return DoChown(t, p, a.Uint32(1), a.Uint32(2));
}
Result<long> Fchownat(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(4);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
  Path p = TRY(ResolveUserPath(t, a.Int32(0), a.Addr(1), flags));
  return DoChown(t, p, a.Uint32(2), a.Uint32(3));
}

// truncate(2), ftruncate(2)
Result<long> Truncate(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0));
  return DoTruncate(t, p, a.Int(1));
}
Result<long> Ftruncate(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (a.Int(1) < 0) return Errno(EINVAL);
  if (f->flags() & O_PATH) return Errno(EBADF);
  if (!f->writable()) return Errno(EINVAL);
  vfs::Stat st = TRY(f->GetStat());
  if (!S_ISREG(st.mode)) return Errno(EINVAL);
  TRY(CheckNewSize(t, a.Int(1)));
  // do_ftruncate(): ATTR_MTIME | ATTR_CTIME, so the file is stamped even if its size stays;
  // set-id bits go as for a write.
  vfs::SetStatRequest req;
  req.size = a.Int(1);
  req.mtime = timespec{0, UTIME_NOW};
  req.mode = vfs::ModeAfterWrite(*t.creds(), st);
  TRY(f->SetStat(req));
  if (f->path().dentry) vfs::NotifySetStat(*f->path().dentry, req);
  return 0;
}

// mknod(2), mknodat(2)
Result<long> Mknod(Task& t, const SyscallArgs& a) {
  return DoMknod(t, AT_FDCWD, a.Addr(0), a.Uint32(1), a.Uint(2));
}
Result<long> Mknodat(Task& t, const SyscallArgs& a) {
  return DoMknod(t, a.Int32(0), a.Addr(1), a.Uint32(2), a.Uint(3));
}

// utimensat(2)
Result<long> Utimensat(Task& t, const SyscallArgs& a) {
  const int dirfd = a.Int32(0), flags = a.Int32(3);
  timespec ts[2];
  const bool have = !a.Addr(2).IsNull();
  if (have) {
    TRY(t.CopyIn(a.Addr(2), ts, sizeof(ts)));
    // Nothing to do: Linux does not even look at the path or the flags.
    if (ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT) return 0;
  }
  Path p;
  if (a.Addr(1).IsNull() && dirfd != AT_FDCWD) {
    // Linux's extension: a null path means the file open at dirfd (futimens), which takes no
    // flags and no O_PATH descriptor.
    if (flags) return Errno(EINVAL);
    RefPtr<FileDescription> f = TRY(t.fds().Get(dirfd));
    if (f->flags() & O_PATH) return Errno(EBADF);
    p = f->path();
    // A host file (the stdio of `runsc do`) has no inode in the sandbox whose times it could
    // set; the call succeeds as it would on the terminal.
    if (!p.valid()) return 0;
  } else {
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Errno(EINVAL);
    p = TRY(ResolveUserPath(t, dirfd, a.Addr(1), flags));
  }
  return DoUtimes(t, p, have ? ts : nullptr);
}

// utimes(2), futimesat(2)
Result<long> Utimes(Task& t, const SyscallArgs& a) { return UtimesFromTimevals(t, AT_FDCWD, a.Addr(0), a.Addr(1)); }
Result<long> Futimesat(Task& t, const SyscallArgs& a) {
  return UtimesFromTimevals(t, a.Int32(0), a.Addr(1), a.Addr(2));
}

// utime(2)
Result<long> Utime(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0));
  if (a.Addr(1).IsNull()) return DoUtimes(t, p, nullptr);
  utimbuf b = TRY(t.CopyInObj<utimbuf>(a.Addr(1)));
  timespec ts[2] = {{b.actime, 0}, {b.modtime, 0}};
  return DoUtimes(t, p, ts);
}

// statfs(2), fstatfs(2)
Result<long> Statfs(Task& t, const SyscallArgs& a) {
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0));
  return DoStatfs(t, p, a.Addr(1));
}
Result<long> Fstatfs(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  // A host file (the stdio of `runsc do`) has no path in the sandbox at all.
  if (!f->path().dentry) return Errno(ENOSYS);
  return DoStatfs(t, f->path(), a.Addr(1));
}

// fsync(2), fdatasync(2), syncfs(2), sync(2)
Result<long> Fsync(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  TRY(f->Sync());
  return 0;
}
Result<long> Fdatasync(Task& t, const SyscallArgs& a) { return Fsync(t, a); }
Result<long> Syncfs(Task& t, const SyscallArgs& a) {
  TRY(t.fds().GetNotPath(a.Int32(0)));
  return 0;
}
Result<long> Sync(Task&, const SyscallArgs&) { return 0; }

// chroot(2)
Result<long> Chroot(Task& t, const SyscallArgs& a) {
  if (!t.creds()->HasCap(CAP_SYS_CHROOT)) return Errno(EPERM);
  Path p = TRY(ResolveUserPath(t, AT_FDCWD, a.Addr(0), 0, true));
  vfs::Stat st = TRY(StatOf(p));
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  TRY(vfs::CheckPermission(*t.creds(), st, X_OK));
  t.fs().set_root(p);
  return 0;
}

// pipe(2), pipe2(2)
Result<long> Pipe(Task& t, const SyscallArgs& a) { return Pipe2(t, SyscallArgs{a.nr, {a.a[0], 0}}); }
Result<long> Pipe2(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(1);
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return Errno(EINVAL);
  RefPtr<kernel::Credentials> creds = t.creds();
  auto [r, w] = fsimpl::NewPipe(flags, creds->fsuid, creds->fsgid);
  bool cloexec = flags & O_CLOEXEC;
  int fds[2];
  fds[0] = TRY(t.fds().Add(r, cloexec, 0, FdLimit(t)));
  Result<int> wfd = t.fds().Add(w, cloexec, 0, FdLimit(t));
  if (!wfd.ok()) {
    (void)t.fds().Remove(fds[0]);
    return wfd.error();
  }
  fds[1] = *wfd;
  Result<void> out = t.CopyOut(a.Addr(0), fds, sizeof(fds));
  if (!out.ok()) {
    (void)t.fds().Remove(fds[0]);
    (void)t.fds().Remove(fds[1]);
    return out.error();
  }
  return 0;
}

// fadvise64(2): advice only; validated and accepted.
Result<long> Fadvise64(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  if (a.Int(2) < 0) return Errno(EINVAL);
  int advice = a.Int32(3);
  if (advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE) return Errno(EINVAL);
  vfs::Stat st = TRY(f->GetStat());
  if (S_ISFIFO(st.mode)) return Errno(ESPIPE);
  return 0;
}

}  // namespace moat::syscalls
