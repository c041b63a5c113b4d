// FdTable: a process's file descriptors. Shared by threads cloned with CLONE_FILES; copied by fork.
// It owns its process's POSIX record locks (lock.h), as Linux's files_struct does: closing any fd
// on a file, by any path below, drops the table's locks on that file. Its process's dnotify
// registrations (dnotify.h) end the same way.
#ifndef MOAT_SENTRY_VFS_FD_TABLE_H_
#define MOAT_SENTRY_VFS_FD_TABLE_H_

#include <vector>

#include "absl/synchronization/mutex.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {

class FdTable : public RefCounted<FdTable> {
 public:
  FdTable() = default;
  // Closes every fd (the process exits or gives the table up).
  ~FdTable();
  // Installs `file` at the lowest free fd >= `min_fd` below `limit` (RLIMIT_NOFILE): EMFILE.
  Result<int> Add(RefPtr<FileDescription> file, bool cloexec, int min_fd, uint64_t limit);
  // Installs `file` at exactly `fd`, closing what was there (dup2/dup3). EBADF if fd >= limit.
  Result<void> Set(int fd, RefPtr<FileDescription> file, bool cloexec, uint64_t limit);
  // EBADF if `fd` is not open.
  Result<RefPtr<FileDescription>> Get(int fd) const;
  // Linux's fdget() as opposed to fdget_raw(): an O_PATH description is EBADF too, for the
  // calls that do not see such descriptors at all (poll, epoll_ctl, syncfs).
  Result<RefPtr<FileDescription>> GetNotPath(int fd) const;
  Result<bool> GetCloexec(int fd) const;
  Result<void> SetCloexec(int fd, bool cloexec);
  // Removes `fd` and returns what it held (the caller drops it outside the table's lock).
  Result<RefPtr<FileDescription>> Remove(int fd);
  // close_range(2): removes [first, last]; with `cloexec_only`, marks them close-on-exec instead.
  void RemoveRange(unsigned first, unsigned last, bool cloexec_only);
  // At execve: closes every close-on-exec fd.
  void CloseOnExec();
  RefPtr<FdTable> Fork() const;
  // The open fds in order (for /proc/self/fd).
  std::vector<int> OpenFds() const;
  // One more than the highest open fd (0 when none is open).
  int Size() const;

 private:
  struct Entry {
    RefPtr<FileDescription> file;
    bool cloexec = false;
  };
  // Drops this table's record locks and dnotify registrations on the file of a just-closed fd
  // (outside mu_).
  void Closed(const FileDescription& file) const;

  mutable absl::Mutex mu_;
  std::vector<Entry> fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_FD_TABLE_H_
