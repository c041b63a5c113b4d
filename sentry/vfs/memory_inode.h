// MemoryInode: an inode whose attributes the sentry keeps in memory and nowhere else (pipes,
// sockets, devpts nodes). stat shows them; chmod, chown and utimensat change them; truncating
// one is refused (it has no size).
#ifndef MOAT_SENTRY_VFS_MEMORY_INODE_H_
#define MOAT_SENTRY_VFS_MEMORY_INODE_H_

#include <sys/types.h>

#include "absl/synchronization/mutex.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {

class MemoryInode : public Inode {
 public:
  // `mode` holds the file type and the permission bits.
  MemoryInode(uint64_t dev, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
              uint64_t rdev = 0, uint32_t blksize = 4096);

  Result<Stat> GetStat() override;
  Result<void> SetStat(const SetStatRequest& req) override;

  uint64_t ino() const { return ino_; }
  void set_uid(uid_t uid);

 private:
  const uint64_t dev_;
  const uint64_t ino_;
  const uint64_t rdev_;
  const uint32_t blksize_;
  const uint32_t type_;
  absl::Mutex mu_;
  uint32_t perms_ ABSL_GUARDED_BY(mu_);
  uint32_t uid_ ABSL_GUARDED_BY(mu_);
  uint32_t gid_ ABSL_GUARDED_BY(mu_);
  timespec atime_ ABSL_GUARDED_BY(mu_), mtime_ ABSL_GUARDED_BY(mu_), ctime_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_MEMORY_INODE_H_
