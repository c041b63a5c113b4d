// Path resolution for the *at syscalls and execveat: a dirfd, a path and AT_* flags.
#include <sys/stat.h>

#include "sentry/kernel/task.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {

vfs::ResolveContext Task::PathContext() {
  return vfs::ResolveContext{creds().get(), fs_->root(), mount_ns_.get()};
}

Result<vfs::Path> Task::StartAt(int dirfd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return fs_->root();
  if (dirfd == AT_FDCWD) return fs_->cwd();
  RefPtr<vfs::FileDescription> f = TRY(fds_->Get(dirfd));
  if (path.empty()) return f->path();
  vfs::Stat st = TRY(f->path().dentry->inode()->GetStat());
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  return f->path();
}

Result<vfs::Path> Task::ResolveAt(int dirfd, const std::string& path, int at_flags,
                                  bool must_be_dir) {
  if (path.empty()) {
    if (!(at_flags & AT_EMPTY_PATH)) return Errno(ENOENT);
    return StartAt(dirfd, path);
  }
  vfs::Path start = TRY(StartAt(dirfd, path));
  return vfs::Resolve(PathContext(), start, path,
                      {.follow_final_symlink = !(at_flags & AT_SYMLINK_NOFOLLOW),
                       .must_be_dir = must_be_dir});
}

Result<vfs::ParentAndName> Task::ResolveParentAt(int dirfd, const std::string& path) {
  if (path.empty()) return Errno(ENOENT);
  vfs::Path start = TRY(StartAt(dirfd, path));
  return vfs::ResolveParent(PathContext(), start, path);
}

}  // namespace moat::kernel
