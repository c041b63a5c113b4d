#include "sentry/vfs/fd_table.h"

#include <algorithm>

#include "sentry/vfs/dnotify.h"
#include "sentry/vfs/lock.h"

namespace moat::vfs {

namespace {
// Drops trailing empty slots so that Size() and the next search stay short.
template <typename Vec>
void TrimTail(Vec& v) {
  while (!v.empty() && !v.back().file) v.pop_back();
}
}  // namespace

FdTable::~FdTable() {
  // Nobody else can reach the table any more; the lock only satisfies the analysis.
  std::vector<Entry> fds;
  {
    absl::MutexLock l(&mu_);
    fds.swap(fds_);
  }
  for (const Entry& e : fds) {
    if (e.file) Closed(*e.file);
  }
}

void FdTable::Closed(const FileDescription& file) const {
  // filp_close() -> locks_remove_posix(): the owner of POSIX locks is the table.
  if (Inode* i = file.inode()) {
    if (FileLocks* locks = i->LocksIfAny()) locks->ReleaseRecords(this);
  }
  // filp_flush() -> dnotify_flush(): so is the owner of dnotify registrations.
  FlushDirNotify(this, file);
}

Result<int> FdTable::Add(RefPtr<FileDescription> file, bool cloexec, int min_fd, uint64_t limit) {
  if (min_fd < 0) return Errno(EINVAL);
  absl::MutexLock l(&mu_);
  for (size_t fd = static_cast<size_t>(min_fd);; ++fd) {
    if (fd >= limit) return Errno(EMFILE);
    if (fd >= fds_.size()) fds_.resize(fd + 1);
    if (!fds_[fd].file) {
      fds_[fd] = Entry{std::move(file), cloexec};
      return static_cast<int>(fd);
    }
  }
}

Result<void> FdTable::Set(int fd, RefPtr<FileDescription> file, bool cloexec, uint64_t limit) {
  if (fd < 0 || static_cast<uint64_t>(fd) >= limit) return Errno(EBADF);
  // What was at `fd` is closed once the lock is released: closing may wake waiters or run a
  // description's destructor, which must not happen under the table lock.
  RefPtr<FileDescription> old;
  {
    absl::MutexLock l(&mu_);
    if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(fd + 1);
    old = std::move(fds_[fd].file);
    fds_[fd] = Entry{std::move(file), cloexec};
  }
  if (old) Closed(*old);
  return Ok();
}

Result<RefPtr<FileDescription>> FdTable::Get(int fd) const {
  absl::MutexLock l(&mu_);
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].file) return Errno(EBADF);
  return fds_[fd].file;
}

Result<RefPtr<FileDescription>> FdTable::GetNotPath(int fd) const {
  RefPtr<FileDescription> f = TRY(Get(fd));
  if (f->flags() & O_PATH) return Errno(EBADF);
  return f;
}

Result<bool> FdTable::GetCloexec(int fd) const {
  absl::MutexLock l(&mu_);
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].file) return Errno(EBADF);
  return fds_[fd].cloexec;
}

Result<void> FdTable::SetCloexec(int fd, bool cloexec) {
  absl::MutexLock l(&mu_);
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].file) return Errno(EBADF);
  fds_[fd].cloexec = cloexec;
  return Ok();
}

Result<RefPtr<FileDescription>> FdTable::Remove(int fd) {
  RefPtr<FileDescription> file;
  {
    absl::MutexLock l(&mu_);
    if (fd < 0 || static_cast<size_t>(fd) >= fds_.size() || !fds_[fd].file) return Errno(EBADF);
    file = std::move(fds_[fd].file);
    fds_[fd].cloexec = false;
    TrimTail(fds_);
  }
  Closed(*file);
  return file;
}

void FdTable::RemoveRange(unsigned first, unsigned last, bool cloexec_only) {
  std::vector<RefPtr<FileDescription>> closed;  // dropped after the lock
  {
    absl::MutexLock l(&mu_);
    if (fds_.empty() || first > last) return;
    size_t end = std::min<size_t>(last, fds_.size() - 1);
    for (size_t fd = first; fd <= end; ++fd) {
      if (!fds_[fd].file) continue;
      if (cloexec_only) {
        fds_[fd].cloexec = true;
      } else {
        closed.push_back(std::move(fds_[fd].file));
        fds_[fd].cloexec = false;
      }
    }
    TrimTail(fds_);
  }
  for (const RefPtr<FileDescription>& f : closed) Closed(*f);
}

void FdTable::CloseOnExec() {
  std::vector<RefPtr<FileDescription>> closed;  // dropped after the lock
  {
    absl::MutexLock l(&mu_);
    for (Entry& e : fds_) {
      if (e.file && e.cloexec) {
        closed.push_back(std::move(e.file));
        e.cloexec = false;
      }
    }
    TrimTail(fds_);
  }
  for (const RefPtr<FileDescription>& f : closed) Closed(*f);
}

RefPtr<FdTable> FdTable::Fork() const {
  auto t = MakeRef<FdTable>();
  std::vector<Entry> copy;
  {
    absl::MutexLock l(&mu_);
    copy = fds_;
  }
  absl::MutexLock l(&t->mu_);
  t->fds_ = std::move(copy);
  return t;
}

std::vector<int> FdTable::OpenFds() const {
  absl::MutexLock l(&mu_);
  std::vector<int> out;
  for (size_t fd = 0; fd < fds_.size(); ++fd) {
    if (fds_[fd].file) out.push_back(static_cast<int>(fd));
  }
  return out;
}

int FdTable::Size() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(fds_.size());
}

}  // namespace moat::vfs
