#include "sentry/fsimpl/hostfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <vector>

#include "base/file_descriptor.h"
#include "sentry/fsimpl/dev.h"
#include "sentry/fsimpl/pipe.h"

namespace moat::fsimpl {
namespace {

using vfs::Credentials;
using vfs::DirEntry;
using vfs::FileDescription;
using vfs::Inode;
using vfs::Path;
using vfs::Stat;
using vfs::Task;

constexpr size_t kNameMax = 255;

class HostFs : public RefCounted<HostFs> {
 public:
  // The sentry's device number for host device `host_dev`.
  uint64_t DevFor(uint64_t host_dev) {
    absl::MutexLock l(&mu_);
    auto [it, inserted] = devs_.try_emplace(host_dev, 0);
    if (inserted) it->second = vfs::NewAnonDev();
    return it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<uint64_t, uint64_t> devs_ ABSL_GUARDED_BY(mu_);
};

Result<struct stat> FStat(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return LastErrno();
  return st;
}

// An open regular host file: reads go straight to the host descriptor, which also backs mmap.
class HostTreeFile : public vfs::SeekableFile {
 public:
  HostTreeFile(int flags, Path path, FileDescriptor fd)
      : SeekableFile(flags, std::move(path)), fd_(std::move(fd)) {}

  Result<size_t> PRead(Task&, std::span<uint8_t> dst, int64_t offset) override {
    if (offset < 0) return Errno(EINVAL);
    for (;;) {
      ssize_t n = pread(fd_.get(), dst.data(), dst.size(), offset);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return LastErrno();
    }
  }
  // Never reached through the syscalls (the file cannot be opened for writing).
  Result<size_t> PWrite(Task&, std::span<const uint8_t>, int64_t) override {
    return Errno(EBADF);
  }
  Result<int> HostMapFd() override { return fd_.get(); }

 private:
  FileDescriptor fd_;
};

class HostInode : public Inode {
 public:
  HostInode(RefPtr<HostFs> fs, RefPtr<HostInode> parent, std::string name, FileDescriptor fd,
            const struct stat& st)
      : fs_(std::move(fs)),
        parent_(std::move(parent)),
        name_(std::move(name)),
        host_dev_(st.st_dev),
        host_ino_(st.st_ino) {
    stat_.dev = fs_->DevFor(st.st_dev);
    stat_.ino = st.st_ino;
    stat_.mode = st.st_mode;
    stat_.nlink = static_cast<uint32_t>(st.st_nlink);
    stat_.uid = st.st_uid;
    stat_.gid = st.st_gid;
    stat_.rdev = st.st_rdev;
    stat_.size = st.st_size;
    stat_.blksize = st.st_blksize;
    stat_.blocks = st.st_blocks;
    stat_.atime = st.st_atim;
    stat_.mtime = st.st_mtim;
    stat_.ctime = st.st_ctim;
    // Only directories keep their descriptor: lookups and readdir start from it.
    if (S_ISDIR(st.st_mode)) dir_fd_ = std::move(fd);
  }

  Result<Stat> GetStat() override { return stat_; }
  Result<void> SetStat(const vfs::SetStatRequest&) override { return Errno(EROFS); }

  Result<RefPtr<Inode>> Lookup(std::string_view name) override {
    if (!IsDir()) return Errno(ENOTDIR);
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    // The VFS passes single components only; refuse anything that could make the host walk
    // more than one step.
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
      return Errno(EINVAL);
    }
    std::string n(name);
    FileDescriptor fd(openat(dir_fd_.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return LastErrno();
    struct stat st = TRY(FStat(fd.get()));
    return RefPtr<Inode>(
        MakeRef<HostInode>(fs_, RefPtr<HostInode>(this), std::move(n), std::move(fd), st));
  }

  Result<std::vector<DirEntry>> ReadDir() override {
    if (!IsDir()) return Errno(ENOTDIR);
    FileDescriptor fd(openat(dir_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return LastErrno();
    std::vector<DirEntry> out;
    std::vector<char> buf(32 * 1024);
    for (;;) {
      long n = syscall(SYS_getdents64, fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return LastErrno();
      }
      if (n == 0) break;
      for (long pos = 0; pos < n;) {
        // struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name.
        const char* rec = buf.data() + pos;
        uint64_t ino;
        uint16_t reclen;
        std::memcpy(&ino, rec, sizeof(ino));
        std::memcpy(&reclen, rec + 16, sizeof(reclen));
        uint8_t type = static_cast<uint8_t>(rec[18]);
        std::string name(rec + 19);
        pos += reclen;
        if (name == "." || name == "..") continue;
        if (type == DT_UNKNOWN) {
          struct stat st;
          if (fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
          type = vfs::ModeToDirentType(st.st_mode);
        }
        out.push_back(DirEntry{std::move(name), ino, type});
      }
    }
    return out;
  }

  // A read-only filesystem: every change is EROFS.
  Result<RefPtr<Inode>> Create(std::string_view, uint32_t, const Credentials&) override {
    return Errno(EROFS);
  }
  Result<RefPtr<Inode>> MakeDir(std::string_view, uint32_t, const Credentials&) override {
    return Errno(EROFS);
  }
  Result<RefPtr<Inode>> MakeNode(std::string_view, uint32_t, uint64_t,
                                 const Credentials&) override {
    return Errno(EROFS);
  }
  Result<RefPtr<Inode>> MakeSymlink(std::string_view, std::string_view,
                                    const Credentials&) override {
    return Errno(EROFS);
  }
  Result<void> Link(std::string_view, const RefPtr<Inode>&) override { return Errno(EROFS); }
  Result<void> Unlink(std::string_view) override { return Errno(EROFS); }
  Result<void> RemoveDir(std::string_view) override { return Errno(EROFS); }
  Result<void> Rename(std::string_view, Inode&, std::string_view) override {
    return Errno(EROFS);
  }
  Result<void> Exchange(std::string_view, Inode&, std::string_view) override {
    return Errno(EROFS);
  }

  Result<std::string> ReadLink() override {
    if (!S_ISLNK(stat_.mode)) return Errno(EINVAL);
    FileDescriptor fd = TRY(Reopen(O_PATH));
    std::vector<char> buf(256);
    for (;;) {
      ssize_t n = readlinkat(fd.get(), "", buf.data(), buf.size());
      if (n < 0) return LastErrno();
      if (static_cast<size_t>(n) < buf.size()) return std::string(buf.data(), n);
      buf.resize(buf.size() * 2);
    }
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override {
    switch (stat_.mode & S_IFMT) {
      case S_IFREG: {
        if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return Errno(EROFS);
        FileDescriptor fd = TRY(Reopen(O_RDONLY));
        return RefPtr<FileDescription>(MakeRef<HostTreeFile>(flags, path, std::move(fd)));
      }
      case S_IFDIR:
        return RefPtr<FileDescription>(MakeRef<vfs::DirectoryFile>(flags, path));
      case S_IFLNK:
        return Errno(ELOOP);
      case S_IFCHR:
        // The sentry's own devices, never the host's.
        return OpenDevice(major(stat_.rdev), minor(stat_.rdev), flags, path);
      case S_IFIFO: {
        // A FIFO of the host tree is a pipe inside the sandbox: host processes cannot reach it.
        RefPtr<Pipe> pipe;
        {
          absl::MutexLock l(&pipe_mu_);
          if (!pipe_) pipe_ = MakeRef<Pipe>();
          pipe = pipe_;
        }
        return OpenFifo(pipe, flags, path);
      }
      default:
        return Errno(ENXIO);
    }
  }

 private:
  bool IsDir() const { return S_ISDIR(stat_.mode); }

  // Opens this file again on the host with `flags` (never following a symlink), and checks that
  // the name still refers to the file this inode was looked up as.
  Result<FileDescriptor> Reopen(int flags) {
    FileDescriptor fd;
    if (parent_) {
      fd.Reset(openat(parent_->dir_fd_.get(), name_.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    } else {
      fd.Reset(openat(dir_fd_.get(), ".", flags | O_CLOEXEC));
    }
    if (!fd.valid()) return LastErrno();
    struct stat st = TRY(FStat(fd.get()));
    if (st.st_dev != host_dev_ || st.st_ino != host_ino_) return Errno(ESTALE);
    return fd;
  }

  const RefPtr<HostFs> fs_;
  const RefPtr<HostInode> parent_;  // null for the root
  const std::string name_;
  const uint64_t host_dev_;
  const uint64_t host_ino_;
  // Taken at lookup. TODO(#3): a change made on the host afterwards (by someone else) is not
  // seen until the dentry is looked up again.
  Stat stat_;
  FileDescriptor dir_fd_;  // O_PATH, directories only
  absl::Mutex pipe_mu_;
  RefPtr<Pipe> pipe_ ABSL_GUARDED_BY(pipe_mu_);  // FIFOs: created on first open
};

}  // namespace

Result<RefPtr<vfs::Dentry>> NewHostFilesystem(const std::string& host_path) {
  FileDescriptor fd(open(host_path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.valid()) return LastErrno();
  struct stat st = TRY(FStat(fd.get()));
  if (!S_ISDIR(st.st_mode)) return Errno(ENOTDIR);
  auto root = MakeRef<HostInode>(MakeRef<HostFs>(), nullptr, ".", std::move(fd), st);
  return MakeRef<vfs::Dentry>(nullptr, "", std::move(root));
}

}  // namespace moat::fsimpl
