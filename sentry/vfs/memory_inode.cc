#include "sentry/vfs/memory_inode.h"

#include <sys/stat.h>

namespace moat::vfs {

MemoryInode::MemoryInode(uint64_t dev, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
                         uint64_t rdev, uint32_t blksize)
    : dev_(dev), ino_(ino), rdev_(rdev), blksize_(blksize), type_(mode & S_IFMT),
      perms_(mode & 07777), uid_(uid), gid_(gid) {
  atime_ = mtime_ = ctime_ = Now();
}

Result<Stat> MemoryInode::GetStat() {
  absl::MutexLock l(&mu_);
  Stat st;
  st.dev = dev_;
  st.ino = ino_;
  st.mode = type_ | perms_;
  st.nlink = S_ISDIR(type_) ? 2 : 1;
  st.uid = uid_;
  st.gid = gid_;
  st.rdev = rdev_;
  st.blksize = blksize_;
  st.atime = atime_;
  st.mtime = mtime_;
  st.ctime = ctime_;
  return st;
}

Result<void> MemoryInode::SetStat(const SetStatRequest& req) {
  if (req.size) return Errno(S_ISDIR(type_) ? EISDIR : EINVAL);
  timespec now = Now();
  absl::MutexLock l(&mu_);
  if (req.mode) perms_ = *req.mode & 07777;
  if (req.uid) uid_ = *req.uid;
  if (req.gid) gid_ = *req.gid;
  if (req.atime) atime_ = req.atime->tv_nsec == UTIME_NOW ? now : *req.atime;
  if (req.mtime) mtime_ = req.mtime->tv_nsec == UTIME_NOW ? now : *req.mtime;
  ctime_ = now;
  return Ok();
}

void MemoryInode::set_uid(uid_t uid) {
  absl::MutexLock l(&mu_);
  uid_ = uid;
}

}  // namespace moat::vfs
