// File space syscalls: fallocate(2) and sync_file_range(2).
#include <linux/falloc.h>

#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

// Modes that are not in every C library's <linux/falloc.h>.
constexpr int kFallocWriteZeroes = 0x80;
// The operations (FALLOC_FL_MODE_MASK); FALLOC_FL_KEEP_SIZE modifies them.
constexpr int kFallocModeMask = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE |
                                FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
                                FALLOC_FL_UNSHARE_RANGE | kFallocWriteZeroes;

// sync_file_range()'s flags.
constexpr unsigned kSyncFileRangeFlags =
    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;

}  // namespace

// fallocate(2): vfs_fallocate()'s checks in its order, then the file's operation.
Result<long> Fallocate(Task& t, const SyscallArgs& a) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  const int mode = a.Int32(1);
  const int64_t offset = a.Int(2), len = a.Int(3);
  if (offset < 0 || len <= 0) return Errno(EINVAL);
  if (mode & ~(kFallocModeMask | FALLOC_FL_KEEP_SIZE)) return Errno(EOPNOTSUPP);
  switch (mode & kFallocModeMask) {
    case 0:  // allocate
    case FALLOC_FL_UNSHARE_RANGE:
    case FALLOC_FL_ZERO_RANGE:
      break;
    case FALLOC_FL_PUNCH_HOLE:
      if (!(mode & FALLOC_FL_KEEP_SIZE)) return Errno(EOPNOTSUPP);
      break;
    case FALLOC_FL_COLLAPSE_RANGE:
    case FALLOC_FL_INSERT_RANGE:
    case kFallocWriteZeroes:
      if (mode & FALLOC_FL_KEEP_SIZE) return Errno(EOPNOTSUPP);
      break;
    default:
      return Errno(EOPNOTSUPP);
  }
  if (!f->writable()) return Errno(EBADF);
  vfs::Stat st = TRY(f->GetStat());
  if (S_ISFIFO(st.mode)) return Errno(ESPIPE);
  if (S_ISDIR(st.mode)) return Errno(EISDIR);
  if (!S_ISREG(st.mode)) return Errno(ENODEV);
  int64_t end;
  if (__builtin_add_overflow(offset, len, &end)) return Errno(EFBIG);
  // A plain allocation past RLIMIT_FSIZE is refused as a write would be, KEEP_SIZE or not
  // (inode_newsize_ok in shmem_fallocate).
  if (!(mode & kFallocModeMask)) {
    rlimit lim = t.thread_group().GetRlimit(RLIMIT_FSIZE);
    if (lim.rlim_cur != RLIM_INFINITY && static_cast<uint64_t>(end) > lim.rlim_cur) {
      SendSelfSignal(t, SIGXFSZ);
      return Errno(EFBIG);
    }
  }
  TRY(f->Allocate(mode, offset, len));
  return 0;
}

// sync_file_range(2): the sandbox's files have no dirty pages to push anywhere, so after the
// checks there is nothing to do.
Result<long> SyncFileRange(Task& t, const SyscallArgs& a) {
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  const int64_t offset = a.Int(1), nbytes = a.Int(2);
  const unsigned flags = a.Uint32(3);
  if (flags & ~kSyncFileRangeFlags) return Errno(EINVAL);
  int64_t end;
  if (offset < 0 || __builtin_add_overflow(offset, nbytes, &end) || end < 0 || end < offset) {
    return Errno(EINVAL);
  }
  vfs::Stat st = TRY(f->GetStat());
  if (!S_ISREG(st.mode) && !S_ISBLK(st.mode) && !S_ISDIR(st.mode) && !S_ISLNK(st.mode)) {
    return Errno(ESPIPE);
  }
  return 0;
}

}  // namespace moat::syscalls
