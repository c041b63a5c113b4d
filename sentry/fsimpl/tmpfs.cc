#include "sentry/fsimpl/tmpfs.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <map>
#include <vector>

#include "base/file_descriptor.h"
#include "base/reopen.h"
#include "sentry/fsimpl/dev.h"
#include "sentry/fsimpl/pipe.h"
#include "sentry/vfs/xattr.h"

namespace moat::fsimpl {
namespace {

using vfs::Credentials;
using vfs::DirEntry;
using vfs::FileDescription;
using vfs::Inode;
using vfs::Path;
using vfs::SetStatRequest;
using vfs::Stat;
using vfs::Task;

constexpr size_t kNameMax = 255;
constexpr int64_t kPage = 4096;
// Linux's tmpfs counts 20 bytes of directory size per entry (BOGO_DIRENT_SIZE).
constexpr int64_t kBogoDirentSize = 20;
// F_SEAL_EXEC (Linux 6.3), which older C library headers lack.
constexpr uint32_t kSealExec = 0x0020;
constexpr uint32_t kAllSeals =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | kSealExec;

int64_t RoundUpToPage(int64_t n) { return (n + kPage - 1) & ~(kPage - 1); }

bool Before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

class TmpfsFs : public RefCounted<TmpfsFs> {
 public:
  explicit TmpfsFs(uint64_t size_limit) : dev(vfs::NewAnonDev()), size_limit(size_limit) {}

  const uint64_t dev;
  const uint64_t size_limit;

  uint64_t NextIno() { return next_ino_.fetch_add(1, std::memory_order_relaxed); }

  // Reserves up to `want` bytes (a whole number of pages) of file data; returns what was
  // granted, which is less than asked near the limit.
  int64_t Charge(int64_t want) {
    if (size_limit == 0) {
      used_.fetch_add(want, std::memory_order_relaxed);
      return want;
    }
    int64_t used = used_.load(std::memory_order_relaxed);
    for (;;) {
      int64_t room = static_cast<int64_t>(size_limit) - used;
      int64_t grant = std::max<int64_t>(0, std::min(want, room & ~(kPage - 1)));
      if (used_.compare_exchange_weak(used, used + grant, std::memory_order_relaxed)) return grant;
    }
  }
  void Uncharge(int64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  int64_t used() const { return used_.load(std::memory_order_relaxed); }

  // Guards the entries of every directory of this filesystem (see tmpfs.h). Not annotated on
  // the fields: the analysis cannot name another object's mutex.
  absl::Mutex mu;

 private:
  std::atomic<uint64_t> next_ino_{1};  // the root gets 1, as on Linux
  std::atomic<int64_t> used_{0};
};

class TmpfsDir;

// What every tmpfs inode has: identity, owner, mode, link count and times.
class TmpfsInode : public Inode {
 public:
  TmpfsInode(RefPtr<TmpfsFs> fs, uint32_t mode, uint32_t uid, uint32_t gid, uint32_t nlink,
             uint64_t rdev = 0)
      : fs_(std::move(fs)),
        ino_(fs_->NextIno()),
        type_(mode & S_IFMT),
        rdev_(rdev),
        perm_(mode & 07777),
        uid_(uid),
        gid_(gid),
        nlink_(nlink) {
    atime_ = mtime_ = ctime_ = btime_ = vfs::Now();
  }

  Result<Stat> GetStat() override {
    Stat st;
    st.dev = fs_->dev;
    st.ino = ino_;
    st.rdev = rdev_;
    st.blksize = kPage;
    FillSizeAndBlocks(st);
    absl::MutexLock l(&mu_);
    st.mode = type_ | perm_;
    st.nlink = nlink_;
    st.uid = uid_;
    st.gid = gid_;
    st.atime = atime_;
    st.mtime = mtime_;
    st.ctime = ctime_;
    st.btime = btime_;
    return st;
  }

  Result<void> SetStat(const SetStatRequest& req) override {
    const timespec now = vfs::Now();
    if (req.mode) {
      // shmem_setattr(): F_SEAL_EXEC freezes the execute bits.
      absl::MutexLock l(&mu_);
      if ((seals_ & kSealExec) && ((*req.mode ^ perm_) & 0111)) return Errno(EPERM);
    }
    bool resized = false;
    if (req.size) {
      if (type_ == S_IFDIR) return Errno(EISDIR);
      if (type_ != S_IFREG) return Errno(EINVAL);
      resized = TRY(Resize(*req.size));
    }
    absl::MutexLock l(&mu_);
    if (req.uid || req.gid) {
      if (req.uid) uid_ = *req.uid;
      if (req.gid) gid_ = *req.gid;
      // chown clears set-user-ID, and set-group-ID where it means "run as group" (S_IXGRP),
      // on anything but a directory; a mode given in the same request still wins.
      if (type_ != S_IFDIR) {
        perm_ &= ~S_ISUID;
        if ((perm_ & S_ISGID) && (perm_ & S_IXGRP)) perm_ &= ~S_ISGID;
      }
    }
    if (req.mode) perm_ = *req.mode & 07777;
    if (req.atime) atime_ = req.atime->tv_nsec == UTIME_NOW ? now : *req.atime;
    if (req.mtime) {
      mtime_ = req.mtime->tv_nsec == UTIME_NOW ? now : *req.mtime;
    } else if (resized) {
      mtime_ = now;
    }
    // shmem_setattr(): a truncate(2) to the size the file already has changes nothing at all.
    if (req.mode || req.uid || req.gid || req.atime || req.mtime || resized || req.touch_ctime) {
      ctime_ = now;
    }
    return Ok();
  }

  // Extended attributes live with the inode, in memory (simple_xattrs).
  Result<std::string> GetXattr(std::string_view name) override {
    absl::MutexLock l(&mu_);
    auto it = xattrs_.find(name);
    if (it == xattrs_.end()) return Errno(ENODATA);
    return it->second;
  }
  Result<void> SetXattr(std::string_view name, std::string_view value, int flags) override {
    absl::MutexLock l(&mu_);
    auto it = xattrs_.find(name);
    RETURN_IF_ERRNO(vfs::CheckXattrFlags(it != xattrs_.end(), flags));
    if (it == xattrs_.end()) {
      xattrs_.emplace(std::string(name), std::string(value));
    } else {
      it->second = std::string(value);
    }
    ctime_ = vfs::Now();
    return Ok();
  }
  Result<std::vector<std::string>> ListXattr() override {
    absl::MutexLock l(&mu_);
    std::vector<std::string> names;
    names.reserve(xattrs_.size());
    for (const auto& [name, value] : xattrs_) names.push_back(name);
    return names;
  }
  Result<void> RemoveXattr(std::string_view name) override {
    absl::MutexLock l(&mu_);
    auto it = xattrs_.find(name);
    if (it == xattrs_.end()) return Errno(ENODATA);
    xattrs_.erase(it);
    ctime_ = vfs::Now();
    return Ok();
  }

  uint32_t type() const { return type_; }
  const RefPtr<TmpfsFs>& fs() const { return fs_; }

  uint32_t links() {
    absl::MutexLock l(&mu_);
    return nlink_;
  }
  void AddLinks(int delta) {
    absl::MutexLock l(&mu_);
    nlink_ = static_cast<uint32_t>(static_cast<int64_t>(nlink_) + delta);
  }
  void SetLinks(uint32_t n) {
    absl::MutexLock l(&mu_);
    nlink_ = n;
  }
  void TouchCtime(const timespec& now) {
    absl::MutexLock l(&mu_);
    ctime_ = now;
  }
  void TouchModified(const timespec& now) {
    absl::MutexLock l(&mu_);
    mtime_ = ctime_ = now;
  }
  // relatime: atime moves only if it is older than mtime or ctime, or a day old.
  void TouchAccessed() {
    timespec now = vfs::Now();
    absl::MutexLock l(&mu_);
    TouchAccessedLocked(now);
  }

  // Owner and mode of a new inode in this directory (inode_init_owner + mode_strip_sgid).
  void InitOwner(const Credentials& creds, uint32_t* mode, uint32_t* uid, uint32_t* gid) {
    absl::MutexLock l(&mu_);
    *uid = creds.fsuid;
    if (perm_ & S_ISGID) {
      *gid = gid_;
      if ((*mode & S_IFMT) == S_IFDIR) {
        *mode |= S_ISGID;
      } else if ((*mode & S_ISGID) && (*mode & S_IXGRP) && !creds.InGroup(*gid) &&
                 !creds.HasCap(CAP_FSETID)) {
        *mode &= ~S_ISGID;
      }
    } else {
      *gid = creds.fsgid;
    }
  }

 protected:
  // Type-specific st_size and st_blocks.
  virtual void FillSizeAndBlocks(Stat&) {}
  // Regular files: truncate or extend; returns whether the size changed.
  virtual Result<bool> Resize(int64_t) { return Errno(EINVAL); }

  void TouchAccessedLocked(const timespec& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!Before(atime_, mtime_) && !Before(atime_, ctime_) && now.tv_sec - atime_.tv_sec < 86400)
      return;
    atime_ = now;
  }
  void TouchModifiedLocked(const timespec& now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mtime_ = ctime_ = now;
  }

  const RefPtr<TmpfsFs> fs_;
  const uint64_t ino_;
  const uint32_t type_;
  const uint64_t rdev_;
  absl::Mutex mu_;
  uint32_t perm_ ABSL_GUARDED_BY(mu_);
  uint32_t uid_ ABSL_GUARDED_BY(mu_);
  uint32_t gid_ ABSL_GUARDED_BY(mu_);
  uint32_t nlink_ ABSL_GUARDED_BY(mu_);
  timespec atime_ ABSL_GUARDED_BY(mu_), mtime_ ABSL_GUARDED_BY(mu_), ctime_ ABSL_GUARDED_BY(mu_),
      btime_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> xattrs_ ABSL_GUARDED_BY(mu_);
  // memfd seals (F_ADD_SEALS). Every tmpfs file starts sealed against seals, as Linux's shmem
  // inodes do; memfd_create(MFD_ALLOW_SEALING) lifts that.
  uint32_t seals_ ABSL_GUARDED_BY(mu_) = F_SEAL_SEAL;
};

// ---- Regular files ----

class TmpfsFile : public TmpfsInode {
 public:
  using TmpfsInode::TmpfsInode;
  ~TmpfsFile() override {
    absl::MutexLock l(&mu_);
    fs_->Uncharge(charged_);
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override;

  Result<size_t> ReadAt(std::span<uint8_t> dst, int64_t offset, bool noatime) {
    if (offset < 0) return Errno(EINVAL);
    absl::MutexLock l(&mu_);
    if (!noatime) TouchAccessedLocked(vfs::Now());
    if (offset >= size_ || dst.empty()) return size_t{0};
    size_t n = static_cast<size_t>(std::min<int64_t>(dst.size(), size_ - offset));
    if (!memfd_.valid()) {
      std::memset(dst.data(), 0, n);
      return n;
    }
    size_t done = 0;
    while (done < n) {
      ssize_t r = pread(memfd_.get(), dst.data() + done, n - done, offset + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return LastErrno();
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    // A hole the memfd does not cover reads as zeros.
    std::memset(dst.data() + done, 0, n - done);
    return n;
  }

  // pwrite, or an append when `append` (O_APPEND applies to pwrite too on Linux). The write
  // syscalls have dropped the set-id bits already where the writer lacks CAP_FSETID
  // (vfs::RemovePrivs).
  // TODO(#3): the size limit charges every page up to the furthest write, so a sparse write far
  // into a file on a size-limited tmpfs can fail with ENOSPC where Linux would not.
  Result<size_t> WriteAt(std::span<const uint8_t> src, int64_t offset, bool append) {
    if (offset < 0) return Errno(EINVAL);
    absl::MutexLock l(&mu_);
    if (append) offset = size_;
    if (src.empty()) return size_t{0};
    if (offset == LLONG_MAX) return Errno(EFBIG);
    size_t len = static_cast<size_t>(std::min<int64_t>(src.size(), LLONG_MAX - offset));
    int64_t end = offset + static_cast<int64_t>(len);
    if (seals_ & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return Errno(EPERM);
    if ((seals_ & F_SEAL_GROW) && end > size_) {
      // shmem_write_begin() refuses each page-sized step that would grow the file, so a write
      // keeps the steps that end inside it.
      int64_t allowed = std::max(offset, size_ & ~(kPage - 1));
      if (allowed <= offset) return Errno(EPERM);
      len = static_cast<size_t>(allowed - offset);
      end = allowed;
    }
    if (end > charged_) {
      int64_t want = RoundUpToPage(end) - charged_;
      int64_t granted = fs_->Charge(want);
      charged_ += granted;
      if (charged_ <= offset) return Errno(ENOSPC);
      len = static_cast<size_t>(std::min<int64_t>(len, charged_ - offset));
    }
    RETURN_IF_ERRNO(EnsureMemfdLocked());
    size_t done = 0;
    while (done < len) {
      ssize_t r = pwrite(memfd_.get(), src.data() + done, len - done, offset + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (done) break;
        return LastErrno();
      }
      done += static_cast<size_t>(r);
    }
    size_ = std::max<int64_t>(size_, offset + static_cast<int64_t>(done));
    TouchModifiedLocked(vfs::Now());
    return done;
  }

  // The host fd that maps this file: the memfd itself for a description that may write, a
  // read-only descriptor of it otherwise, so that the host refuses a writable shared mapping
  // (or an mprotect that would make one) as Linux does for a file opened read-only.
  Result<int> MapFd(bool writable) {
    absl::MutexLock l(&mu_);
    RETURN_IF_ERRNO(EnsureMemfdLocked());
    if (writable) return memfd_.get();
    if (!read_only_fd_.valid()) read_only_fd_ = TRY(ReopenFd(memfd_.get(), O_RDONLY));
    return read_only_fd_.get();
  }

  // shmem_fallocate(): allocation (growing the file unless FALLOC_FL_KEEP_SIZE) and hole
  // punching; anything else is EOPNOTSUPP. The caller has checked RLIMIT_FSIZE.
  Result<void> Allocate(int mode, int64_t offset, int64_t len) {
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return Errno(EOPNOTSUPP);
    absl::MutexLock l(&mu_);
    const int64_t end = offset + len;
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      if (seals_ & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) return Errno(EPERM);
      // Without a memfd there is no data: the range already reads as zeros.
      if (memfd_.valid() && fallocate(memfd_.get(), mode, offset, len) < 0) return LastErrno();
      TouchModifiedLocked(vfs::Now());
      return Ok();
    }
    if ((seals_ & F_SEAL_GROW) && end > size_) return Errno(EPERM);
    if (end > charged_) {
      int64_t want = RoundUpToPage(end) - charged_;
      int64_t granted = fs_->Charge(want);
      if (granted < want) {
        fs_->Uncharge(granted);
        return Errno(ENOSPC);
      }
      charged_ += granted;
    }
    RETURN_IF_ERRNO(EnsureMemfdLocked());
    if (fallocate(memfd_.get(), mode & FALLOC_FL_KEEP_SIZE, offset, len) < 0) return LastErrno();
    if (!(mode & FALLOC_FL_KEEP_SIZE) && end > size_) size_ = end;
    ctime_ = vfs::Now();
    return Ok();
  }

  uint32_t Seals() {
    absl::MutexLock l(&mu_);
    return seals_;
  }

  // memfd_add_seals(), after the caller's checks of the open mode and the seal bits.
  Result<void> AddSeals(uint32_t seals) {
    absl::MutexLock l(&mu_);
    if (seals_ & F_SEAL_SEAL) return Errno(EPERM);
    // The host memfd carries the write seals too: the application maps it directly, so the
    // host kernel is what refuses F_SEAL_WRITE while a writable shared mapping exists (EBUSY)
    // and writable shared mappings once sealed (EPERM).
    uint32_t host = 0;
    if ((seals & F_SEAL_WRITE) && !(seals_ & F_SEAL_WRITE)) host |= F_SEAL_WRITE;
    // F_SEAL_EXEC on an executable file implies the write seals (W^X from the start); Linux
    // does not check mappings for the implied F_SEAL_WRITE, so the host gets the future-write
    // seal, which does not either.
    if ((seals & kSealExec) && (perm_ & 0111)) {
      seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
    }
    if ((seals & F_SEAL_FUTURE_WRITE) && !(host & F_SEAL_WRITE)) host |= F_SEAL_FUTURE_WRITE;
    if (host && memfd_.valid() && fcntl(memfd_.get(), F_ADD_SEALS, host) < 0) return LastErrno();
    host_seals_ |= host;
    seals_ |= seals;
    return Ok();
  }

  // Makes this an unnamed memfd file: no F_SEAL_SEAL with `allow_sealing`, and F_SEAL_EXEC
  // for MFD_NOEXEC_SEAL.
  void InitMemfd(bool allow_sealing, bool noexec_seal) {
    absl::MutexLock l(&mu_);
    if (allow_sealing || noexec_seal) seals_ &= ~F_SEAL_SEAL;
    if (noexec_seal) seals_ |= kSealExec;
  }

  Result<void> CopyFromHost(int src_fd, int64_t size) {
    absl::MutexLock l(&mu_);
    int64_t want = RoundUpToPage(size) - charged_;
    if (want > 0) {
      int64_t granted = fs_->Charge(want);
      charged_ += granted;
      if (granted < want) return Errno(ENOSPC);
    }
    RETURN_IF_ERRNO(EnsureMemfdLocked());
    std::vector<uint8_t> buf(128 * 1024);
    int64_t off = 0;
    while (off < size) {
      ssize_t r = pread(src_fd, buf.data(), std::min<int64_t>(buf.size(), size - off), off);
      if (r < 0) {
        if (errno == EINTR) continue;
        return LastErrno();
      }
      if (r == 0) break;  // the file shrank on the host: the rest stays a hole
      for (ssize_t w = 0; w < r;) {
        ssize_t n = pwrite(memfd_.get(), buf.data() + w, r - w, off + w);
        if (n < 0) {
          if (errno == EINTR) continue;
          return LastErrno();
        }
        w += n;
      }
      off += r;
    }
    if (ftruncate(memfd_.get(), size) < 0) return LastErrno();
    size_ = size;
    return Ok();
  }

 protected:
  void FillSizeAndBlocks(Stat& st) override {
    absl::MutexLock l(&mu_);
    st.size = size_;
    st.blocks = charged_ / 512;
  }

  Result<bool> Resize(int64_t size) override {
    if (size < 0) return Errno(EINVAL);
    absl::MutexLock l(&mu_);
    if (size == size_) return false;
    if ((size < size_ && (seals_ & F_SEAL_SHRINK)) || (size > size_ && (seals_ & F_SEAL_GROW))) {
      return Errno(EPERM);
    }
    if (memfd_.valid() && ftruncate(memfd_.get(), size) < 0) return LastErrno();
    if (size < size_) {
      // Pages past the new end are freed; growing leaves a hole that costs nothing yet.
      int64_t keep = std::min(charged_, RoundUpToPage(size));
      fs_->Uncharge(charged_ - keep);
      charged_ = keep;
    }
    size_ = size;
    return true;
  }

 private:
  Result<void> EnsureMemfdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (memfd_.valid()) return Ok();
    FileDescriptor fd(memfd_create("moat-tmpfs", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd.valid()) return LastErrno();
    if (size_ > 0 && ftruncate(fd.get(), size_) < 0) return LastErrno();
    if (host_seals_ && fcntl(fd.get(), F_ADD_SEALS, host_seals_) < 0) return LastErrno();
    memfd_ = std::move(fd);
    return Ok();
  }

  FileDescriptor memfd_ ABSL_GUARDED_BY(mu_);
  FileDescriptor read_only_fd_ ABSL_GUARDED_BY(mu_);  // of memfd_, made on first need
  // The seals applied to memfd_ (see AddSeals).
  uint32_t host_seals_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  // Bytes of data charged against the size limit: the pages up to the furthest write.
  int64_t charged_ ABSL_GUARDED_BY(mu_) = 0;
};

// An open regular tmpfs file. It keeps its TmpfsFile (not the path's inode, which is the
// overlay's when tmpfs is an upper layer).
class TmpfsFileDescription : public vfs::SeekableFile {
 public:
  TmpfsFileDescription(int flags, Path path, RefPtr<TmpfsFile> file)
      : SeekableFile(flags, std::move(path)), file_(std::move(file)) {}

  Result<size_t> PRead(Task&, std::span<uint8_t> dst, int64_t offset) override {
    return file_->ReadAt(dst, offset, flags() & O_NOATIME);
  }
  Result<size_t> PWrite(Task&, std::span<const uint8_t> src, int64_t offset) override {
    return file_->WriteAt(src, offset, flags() & O_APPEND);
  }
  Result<int> HostMapFd() override { return file_->MapFd(writable()); }
  Result<void> Allocate(int mode, int64_t offset, int64_t len) override {
    return file_->Allocate(mode, offset, len);
  }
  Result<uint32_t> GetSeals() override { return file_->Seals(); }
  Result<void> AddSeals(uint32_t seals) override {
    // memfd_add_seals(): only a writable description may seal, and only known seals.
    if (!writable()) return Errno(EPERM);
    if (seals & ~kAllSeals) return Errno(EINVAL);
    return file_->AddSeals(seals);
  }

 private:
  RefPtr<TmpfsFile> file_;
};

Result<RefPtr<FileDescription>> TmpfsFile::Open(int flags, const Path& path) {
  return RefPtr<FileDescription>(
      MakeRef<TmpfsFileDescription>(flags, path, RefPtr<TmpfsFile>(this)));
}

// ---- Symlinks, devices, FIFOs, sockets ----

class TmpfsSymlink : public TmpfsInode {
 public:
  TmpfsSymlink(RefPtr<TmpfsFs> fs, uint32_t uid, uint32_t gid, std::string target)
      : TmpfsInode(std::move(fs), S_IFLNK | 0777, uid, gid, 1), target_(std::move(target)) {}

  Result<std::string> ReadLink() override {
    TouchAccessed();
    return target_;
  }
  Result<RefPtr<FileDescription>> Open(int, const Path&) override { return Errno(ELOOP); }

 protected:
  void FillSizeAndBlocks(Stat& st) override { st.size = static_cast<int64_t>(target_.size()); }

 private:
  const std::string target_;
};

class TmpfsSpecial : public TmpfsInode {
 public:
  TmpfsSpecial(RefPtr<TmpfsFs> fs, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t rdev)
      : TmpfsInode(std::move(fs), mode, uid, gid, 1, rdev) {
    if (type_ == S_IFIFO) pipe_ = MakeRef<Pipe>();
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override {
    switch (type_) {
      case S_IFCHR:
        return OpenDevice(major(rdev_), minor(rdev_), flags, path);
      case S_IFIFO:
        return OpenFifo(pipe_, flags, path);
      default:
        // No block device drivers; a socket node is reached with connect(2), not open(2).
        return Errno(ENXIO);
    }
  }

 private:
  RefPtr<Pipe> pipe_;
};

// ---- Directories ----

class TmpfsDir : public TmpfsInode {
 public:
  TmpfsDir(RefPtr<TmpfsFs> fs, uint32_t mode, uint32_t uid, uint32_t gid)
      : TmpfsInode(std::move(fs), S_IFDIR | (mode & 07777), uid, gid, 2) {}

  Result<RefPtr<Inode>> Lookup(std::string_view name) override {
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    absl::ReaderMutexLock l(&fs_->mu);
    auto it = entries_.find(name);
    if (it == entries_.end()) return Errno(ENOENT);
    return RefPtr<Inode>(it->second);
  }

  Result<std::vector<DirEntry>> ReadDir() override {
    std::vector<std::pair<std::string, RefPtr<TmpfsInode>>> snapshot;
    {
      absl::ReaderMutexLock l(&fs_->mu);
      snapshot.assign(entries_.begin(), entries_.end());
    }
    std::vector<DirEntry> out;
    out.reserve(snapshot.size());
    for (auto& [name, inode] : snapshot) {
      out.push_back(DirEntry{name, TRY(inode->GetStat()).ino, vfs::ModeToDirentType(inode->type())});
    }
    TouchAccessed();
    return out;
  }

  Result<RefPtr<Inode>> Create(std::string_view name, uint32_t mode,
                               const Credentials& creds) override {
    return AddNew(name, S_IFREG | (mode & 07777), creds, [&](uint32_t m, uint32_t u, uint32_t g) {
      return RefPtr<TmpfsInode>(MakeRef<TmpfsFile>(fs_, m, u, g, 1));
    });
  }

  // shmem_tmpfile(): a file of this filesystem that no directory lists yet.
  Result<RefPtr<Inode>> CreateTmpfile(uint32_t mode, const Credentials& creds,
                                      bool linkable) override {
    uint32_t m = S_IFREG | (mode & 07777), uid, gid;
    InitOwner(creds, &m, &uid, &gid);
    {
      absl::ReaderMutexLock l(&fs_->mu);
      if (links() == 0) return Errno(ENOENT);
    }
    auto file = MakeRef<TmpfsFile>(fs_, m, uid, gid, /*nlink=*/0);
    file->set_linkable(linkable);
    return RefPtr<Inode>(std::move(file));
  }

  Result<RefPtr<Inode>> MakeDir(std::string_view name, uint32_t mode,
                                const Credentials& creds) override {
    return AddNew(name, S_IFDIR | (mode & 01777), creds, [&](uint32_t m, uint32_t u, uint32_t g) {
      return RefPtr<TmpfsInode>(MakeRef<TmpfsDir>(fs_, m, u, g));
    });
  }

  Result<RefPtr<Inode>> MakeNode(std::string_view name, uint32_t mode, uint64_t rdev,
                                 const Credentials& creds) override {
    switch (mode & S_IFMT) {
      case S_IFREG:
        return Create(name, mode, creds);
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
      case S_IFSOCK:
        break;
      default:
        return Errno(EINVAL);
    }
    return AddNew(name, mode, creds, [&](uint32_t m, uint32_t u, uint32_t g) {
      return RefPtr<TmpfsInode>(MakeRef<TmpfsSpecial>(fs_, m, u, g, rdev));
    });
  }

  Result<RefPtr<Inode>> MakeSymlink(std::string_view name, std::string_view target,
                                    const Credentials& creds) override {
    if (target.size() >= PATH_MAX) return Errno(ENAMETOOLONG);
    return AddNew(name, S_IFLNK | 0777, creds, [&](uint32_t, uint32_t u, uint32_t g) {
      return RefPtr<TmpfsInode>(MakeRef<TmpfsSymlink>(fs_, u, g, std::string(target)));
    });
  }

  Result<void> Link(std::string_view name, const RefPtr<Inode>& target) override {
    auto* t = dynamic_cast<TmpfsInode*>(target.get());
    if (!t || t->fs() != fs_) return Errno(EXDEV);
    if (t->type() == S_IFDIR) return Errno(EPERM);
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    absl::MutexLock l(&fs_->mu);
    if (links() == 0) return Errno(ENOENT);
    if (t->links() == 0 && !t->linkable()) return Errno(ENOENT);
    if (entries_.count(name)) return Errno(EEXIST);
    t->set_linkable(false);
    entries_.emplace(std::string(name), RefPtr<TmpfsInode>(t));
    const timespec now = vfs::Now();
    t->AddLinks(1);
    t->TouchCtime(now);
    TouchModified(now);
    return Ok();
  }

  Result<void> Unlink(std::string_view name) override {
    absl::MutexLock l(&fs_->mu);
    auto it = entries_.find(name);
    if (it == entries_.end()) return Errno(ENOENT);
    if (it->second->type() == S_IFDIR) return Errno(EISDIR);
    RefPtr<TmpfsInode> victim = std::move(it->second);
    entries_.erase(it);
    const timespec now = vfs::Now();
    victim->AddLinks(-1);
    victim->TouchCtime(now);
    TouchModified(now);
    return Ok();
  }

  Result<void> RemoveDir(std::string_view name) override {
    absl::MutexLock l(&fs_->mu);
    auto it = entries_.find(name);
    if (it == entries_.end()) return Errno(ENOENT);
    if (it->second->type() != S_IFDIR) return Errno(ENOTDIR);
    auto* victim = static_cast<TmpfsDir*>(it->second.get());
    if (!victim->entries_.empty()) return Errno(ENOTEMPTY);
    RefPtr<TmpfsInode> keep = std::move(it->second);
    entries_.erase(it);
    const timespec now = vfs::Now();
    victim->SetLinks(0);
    victim->TouchCtime(now);
    AddLinks(-1);
    TouchModified(now);
    return Ok();
  }

  Result<void> Rename(std::string_view name, Inode& new_dir, std::string_view new_name,
                      bool) override {
    auto* nd = dynamic_cast<TmpfsDir*>(&new_dir);
    if (!nd || nd->fs_ != fs_) return Errno(EXDEV);
    if (new_name.size() > kNameMax) return Errno(ENAMETOOLONG);
    absl::MutexLock l(&fs_->mu);
    auto it = entries_.find(name);
    if (it == entries_.end()) return Errno(ENOENT);
    RefPtr<TmpfsInode> src = it->second;
    if (nd->links() == 0) return Errno(ENOENT);
    const bool src_dir = src->type() == S_IFDIR;
    RefPtr<TmpfsInode> dst;
    auto dit = nd->entries_.find(new_name);
    if (dit != nd->entries_.end()) {
      dst = dit->second;
      if (dst == src) return Ok();
      const bool dst_dir = dst->type() == S_IFDIR;
      if (src_dir && !dst_dir) return Errno(ENOTDIR);
      if (!src_dir && dst_dir) return Errno(EISDIR);
      if (dst_dir && !static_cast<TmpfsDir*>(dst.get())->entries_.empty()) {
        return Errno(ENOTEMPTY);
      }
    }
    const timespec now = vfs::Now();
    entries_.erase(it);
    if (dst) {
      if (dst->type() == S_IFDIR) {
        dst->SetLinks(0);
        nd->AddLinks(-1);
      } else {
        dst->AddLinks(-1);
      }
      dst->TouchCtime(now);
      nd->entries_.erase(std::string(new_name));
    }
    nd->entries_.emplace(std::string(new_name), src);
    if (src_dir && nd != this) {
      AddLinks(-1);
      nd->AddLinks(1);
    }
    src->TouchCtime(now);
    TouchModified(now);
    if (nd != this) nd->TouchModified(now);
    return Ok();
  }

  // Implements Inode::Exchange (Linux's simple_rename_exchange, which shmem uses).
  Result<void> Exchange(std::string_view name, Inode& other_dir,
                        std::string_view other_name) override {
    auto* od = dynamic_cast<TmpfsDir*>(&other_dir);
    if (!od || od->fs_ != fs_) return Errno(EXDEV);
    absl::MutexLock l(&fs_->mu);
    auto it = entries_.find(name);
    if (it == entries_.end()) return Errno(ENOENT);
    auto oit = od->entries_.find(other_name);
    if (oit == od->entries_.end()) return Errno(ENOENT);
    if (it->second == oit->second) return Ok();
    // Both names stay, so the directories keep their entry counts (and sizes); only what the
    // names point to changes.
    std::swap(it->second, oit->second);
    const RefPtr<TmpfsInode>& moved_here = it->second;    // was other_dir/other_name
    const RefPtr<TmpfsInode>& moved_there = oit->second;  // was this/name
    // A subdirectory's ".." is a link to its parent. When a directory trades places with a
    // non-directory across two parents, one parent loses that link and the other gains it;
    // two directories (or two non-directories) leave the counts as they were.
    const bool here_dir = moved_here->type() == S_IFDIR;
    const bool there_dir = moved_there->type() == S_IFDIR;
    if (od != this && here_dir != there_dir) {
      const int delta = there_dir ? 1 : -1;
      od->AddLinks(delta);
      AddLinks(-delta);
    }
    const timespec now = vfs::Now();
    moved_here->TouchCtime(now);
    moved_there->TouchCtime(now);
    TouchModified(now);
    if (od != this) od->TouchModified(now);
    return Ok();
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override {
    return RefPtr<FileDescription>(MakeRef<vfs::DirectoryFile>(flags, path));
  }

 protected:
  void FillSizeAndBlocks(Stat& st) override {
    absl::ReaderMutexLock l(&fs_->mu);
    st.size = (2 + static_cast<int64_t>(entries_.size())) * kBogoDirentSize;
  }

 private:
  // Adds a new inode made by `make(mode, uid, gid)` as `name`.
  template <typename Make>
  Result<RefPtr<Inode>> AddNew(std::string_view name, uint32_t mode, const Credentials& creds,
                               Make make) {
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    uint32_t uid, gid;
    InitOwner(creds, &mode, &uid, &gid);
    absl::MutexLock l(&fs_->mu);
    // A removed directory accepts no new names.
    if (links() == 0) return Errno(ENOENT);
    if (entries_.count(name)) return Errno(EEXIST);
    RefPtr<TmpfsInode> child = make(mode, uid, gid);
    entries_.emplace(std::string(name), child);
    const timespec now = vfs::Now();
    if (child->type() == S_IFDIR) AddLinks(1);
    TouchModified(now);
    return RefPtr<Inode>(std::move(child));
  }

  // Guarded by fs_->mu.
  std::map<std::string, RefPtr<TmpfsInode>, std::less<>> entries_;
};

}  // namespace

RefPtr<vfs::Dentry> NewTmpfs(uint32_t root_mode, uint32_t uid, uint32_t gid,
                             uint64_t size_limit) {
  auto fs = MakeRef<TmpfsFs>(size_limit);
  auto root = MakeRef<TmpfsDir>(fs, root_mode & 07777, uid, gid);
  return MakeRef<vfs::Dentry>(nullptr, "", std::move(root));
}

Result<RefPtr<vfs::FileDescription>> NewMemfd(std::string_view name, bool allow_sealing,
                                              bool noexec_seal, const Credentials& creds) {
  // One hidden tmpfs for every memfd, like Linux's shm_mnt. Never freed: task threads may still
  // hold memfds while the process exits.
  static auto* const mount = new RefPtr<vfs::Mount>(MakeRef<vfs::Mount>(
      0, "tmpfs", "memfd", NewTmpfs(01777, 0, 0, 0), vfs::MountFlags{}));
  const RefPtr<vfs::Dentry>& root = (*mount)->root();
  const RefPtr<TmpfsFs>& fs = static_cast<TmpfsDir*>(root->inode().get())->fs();
  // Mode 0777 without the umask (shmem_file_setup), or 0666 for MFD_NOEXEC_SEAL; no link.
  auto file = MakeRef<TmpfsFile>(fs, S_IFREG | (noexec_seal ? 0666 : 0777), creds.fsuid,
                                 creds.fsgid, /*nlink=*/0);
  file->InitMemfd(allow_sealing, noexec_seal);
  // The name /proc/self/fd and /proc/self/maps show is "/memfd:NAME (deleted)": a removed
  // entry of the hidden root.
  auto dentry = MakeRef<vfs::Dentry>(root, "memfd:" + std::string(name), file);
  dentry->set_deleted();
  constexpr int kKernelOLargefile = 0100000;
  return file->Open(O_RDWR | kKernelOLargefile, Path{*mount, std::move(dentry)});
}

std::optional<TmpfsSpace> TmpfsSpaceOf(vfs::Inode& inode) {
  auto* i = dynamic_cast<TmpfsInode*>(&inode);
  if (!i || i->fs()->size_limit == 0) return std::nullopt;
  return TmpfsSpace{i->fs()->size_limit, static_cast<uint64_t>(std::max<int64_t>(0, i->fs()->used()))};
}

Result<void> TmpfsCopyFromHost(vfs::Inode& inode, int src_fd, int64_t size) {
  auto* f = dynamic_cast<TmpfsFile*>(&inode);
  if (!f || size < 0) return Errno(EINVAL);
  return f->CopyFromHost(src_fd, size);
}

}  // namespace moat::fsimpl
