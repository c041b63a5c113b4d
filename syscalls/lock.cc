// Advisory locks: flock(2) and fcntl(2)'s record-lock commands (F_GETLK, F_SETLK, F_SETLKW and
// their F_OFD_* forms). The lock tables are sentry/vfs/lock.h's.
#include <sys/file.h>

#include "sentry/vfs/lock.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

using vfs::FileDescription;
using vfs::RecordLock;

// flock_to_posix_lock(): the byte range `fl` names, from the file position or size per
// l_whence; EINVAL for a range before the start, EOVERFLOW past the largest offset.
Result<void> DecodeRange(FileDescription& f, const struct flock& fl, RecordLock* out) {
  int64_t base;
  switch (fl.l_whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR: {
      // Files without a position (pipes, sockets) count from 0, like their f_pos.
      Result<int64_t> pos = f.Seek(0, SEEK_CUR);
      base = pos.ok() ? *pos : 0;
      break;
    }
    case SEEK_END:
      base = TRY(f.GetStat()).size;
      break;
    default:
      return Errno(EINVAL);
  }
  if (fl.l_start > vfs::kLockEnd - base) return Errno(EOVERFLOW);
  int64_t start = base + fl.l_start;
  if (start < 0) return Errno(EINVAL);
  int64_t end;
  if (fl.l_len > 0) {
    if (fl.l_len - 1 > vfs::kLockEnd - start) return Errno(EOVERFLOW);
    end = start + (fl.l_len - 1);
  } else if (fl.l_len < 0) {
    // POSIX-2001: a negative length covers the bytes before l_start.
    if (start + fl.l_len < 0) return Errno(EINVAL);
    end = start - 1;
    start += fl.l_len;
  } else {
    end = vfs::kLockEnd;
  }
  out->start = start;
  out->end = end;
  return Ok();
}

// posix_lock_to_flock(): what F_GETLK reports for the conflicting `lock`.
void EncodeLock(const RecordLock& lock, struct flock* fl) {
  fl->l_type = static_cast<short>(lock.type);
  fl->l_whence = SEEK_SET;
  fl->l_start = lock.start;
  fl->l_len = lock.end == vfs::kLockEnd ? 0 : lock.end - lock.start + 1;
  fl->l_pid = lock.ofd ? -1 : lock.pid;
}

// fcntl_getlk().
Result<long> GetLock(Task& t, FileDescription& f, bool ofd, UserAddr arg) {
  struct flock fl = TRY(t.CopyInObj<struct flock>(arg));
  if (fl.l_type != F_RDLCK && fl.l_type != F_WRLCK) return Errno(EINVAL);
  if (ofd && fl.l_pid != 0) return Errno(EINVAL);
  RecordLock want;
  want.type = fl.l_type;
  want.owner = ofd ? static_cast<vfs::LockOwner>(&f) : static_cast<vfs::LockOwner>(&t.fds());
  want.ofd = ofd;
  TRY(DecodeRange(f, fl, &want));
  std::optional<RecordLock> conflict;
  if (vfs::FileLocks* locks = f.inode() ? f.inode()->LocksIfAny() : nullptr) {
    conflict = locks->FindConflict(want);
  }
  if (conflict) {
    EncodeLock(*conflict, &fl);
  } else {
    // Only the type changes when nothing conflicts.
    fl.l_type = F_UNLCK;
  }
  TRY(t.CopyOutObj(arg, fl));
  return 0;
}

// fcntl_setlk().
Result<long> SetLock(Task& t, FileDescription& f, bool ofd, bool wait, UserAddr arg) {
  struct flock fl = TRY(t.CopyInObj<struct flock>(arg));
  RecordLock want;
  TRY(DecodeRange(f, fl, &want));
  switch (fl.l_type) {
    case F_RDLCK:
      if (!f.readable()) return Errno(EBADF);
      break;
    case F_WRLCK:
      if (!f.writable()) return Errno(EBADF);
      break;
    case F_UNLCK:
      break;
    default:
      return Errno(EINVAL);
  }
  if (ofd && fl.l_pid != 0) return Errno(EINVAL);
  vfs::Inode* inode = f.inode();
  if (!inode) return Errno(EBADF);
  want.type = fl.l_type;
  want.ofd = ofd;
  want.owner = ofd ? static_cast<vfs::LockOwner>(&f) : static_cast<vfs::LockOwner>(&t.fds());
  want.pid = t.pid();
  if (want.type == F_UNLCK && !inode->LocksIfAny()) return 0;
  TRY(inode->Locks().SetRecord(t, want, wait));
  return 0;
}

}  // namespace

Result<long> FcntlLock(Task& t, FileDescription& f, int cmd, UserAddr arg) {
  // fcntl() refuses lock commands on O_PATH descriptions.
  if (f.flags() & O_PATH) return Errno(EBADF);
  switch (cmd) {
    case F_GETLK:
      return GetLock(t, f, false, arg);
    case F_OFD_GETLK:
      return GetLock(t, f, true, arg);
    case F_SETLK:
      return SetLock(t, f, false, false, arg);
    case F_SETLKW:
      return SetLock(t, f, false, true, arg);
    case F_OFD_SETLK:
      return SetLock(t, f, true, false, arg);
    case F_OFD_SETLKW:
      return SetLock(t, f, true, true, arg);
    default:
      return Errno(EINVAL);
  }
}

// flock(2)
Result<long> Flock(Task& t, const SyscallArgs& a) {
  unsigned cmd = a.Uint32(1);
  // LOCK_MAND never excluded anything; Linux now ignores such requests outright.
  if (cmd & LOCK_MAND) return 0;
  const int op = static_cast<int>(cmd & ~LOCK_NB);
  if (op != LOCK_SH && op != LOCK_EX && op != LOCK_UN) return Errno(EINVAL);
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  // A description opened with access mode 3 can neither read nor write, so it may not lock.
  if (op != LOCK_UN && !f->readable() && !f->writable()) return Errno(EBADF);
  vfs::Inode* inode = f->inode();
  if (!inode) return Errno(EBADF);
  if (op == LOCK_UN && !inode->LocksIfAny()) return 0;
  TRY(inode->Locks().Flock(t, f.get(), op, cmd & LOCK_NB));
  return 0;
}

}  // namespace moat::syscalls
