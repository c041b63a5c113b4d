#include "sentry/fsimpl/synthetic.h"

#include <algorithm>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "sentry/kernel/task.h"

namespace moat::fsimpl::synthetic {

uint64_t InodeNumber(std::string_view fs, std::string_view key) {
  // FNV-1a over "fs/key": stable for the life of the sandbox and spread well enough that two
  // files of one filesystem practically never share a number.
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
  };
  mix(fs);
  mix("/");
  mix(key);
  // Keep numbers below 2^63 (some programs store st_ino in a signed type) and above 1.
  h &= (uint64_t{1} << 63) - 1;
  return h < 2 ? h + 2 : h;
}

// ---- SyntheticInode ----

SyntheticInode::SyntheticInode(uint64_t dev, uint64_t ino, uint32_t mode, OwnerFn owner)
    : dev_(dev), ino_(ino), mode_(mode), owner_(std::move(owner)), ctime_(vfs::Now()) {}

Result<vfs::Stat> SyntheticInode::GetStat() {
  vfs::Stat st;
  st.dev = dev_;
  st.ino = ino_;
  st.mode = (mode_ & S_IFMT) | (CurrentMode() & 07777);
  st.nlink = S_ISDIR(mode_) ? 2 : 1;
  if (owner_) std::tie(st.uid, st.gid) = owner_();
  st.size = 0;
  st.blksize = 1024;
  st.atime = st.mtime = st.ctime = ctime_;
  return st;
}

// proc_setattr() and proc_sys_setattr() refuse mode and ownership changes. A truncation (the
// O_TRUNC of `echo 1 > /proc/...`) or a time update succeeds and changes nothing the file
// shows.
Result<void> SyntheticInode::SetStat(const vfs::SetStatRequest& req) {
  if (req.mode || req.uid || req.gid) return Errno(EPERM);
  return Ok();
}

// Nothing can be created in /proc: the lookup of the new name fails first (ENOENT).
Result<RefPtr<vfs::Inode>> SyntheticInode::Create(std::string_view, uint32_t,
                                                  const vfs::Credentials&) {
  return Errno(S_ISDIR(mode_) ? ENOENT : ENOTDIR);
}
Result<RefPtr<vfs::Inode>> SyntheticInode::MakeDir(std::string_view, uint32_t,
                                                   const vfs::Credentials&) {
  return Errno(S_ISDIR(mode_) ? ENOENT : ENOTDIR);
}
Result<RefPtr<vfs::Inode>> SyntheticInode::MakeNode(std::string_view, uint32_t, uint64_t,
                                                    const vfs::Credentials&) {
  return Errno(S_ISDIR(mode_) ? ENOENT : ENOTDIR);
}
Result<RefPtr<vfs::Inode>> SyntheticInode::MakeSymlink(std::string_view, std::string_view,
                                                       const vfs::Credentials&) {
  return Errno(S_ISDIR(mode_) ? ENOENT : ENOTDIR);
}
Result<void> SyntheticInode::Link(std::string_view, const RefPtr<vfs::Inode>&) {
  return Errno(S_ISDIR(mode_) ? EPERM : ENOTDIR);
}
Result<void> SyntheticInode::Unlink(std::string_view) {
  return Errno(S_ISDIR(mode_) ? EPERM : ENOTDIR);
}
Result<void> SyntheticInode::RemoveDir(std::string_view) {
  return Errno(S_ISDIR(mode_) ? EPERM : ENOTDIR);
}
Result<void> SyntheticInode::Rename(std::string_view, vfs::Inode&, std::string_view, bool) {
  return Errno(S_ISDIR(mode_) ? EPERM : ENOTDIR);
}

// ---- DataFile ----

namespace {

// An open generated file. The content is made by the read at offset 0 (or the first read at
// all) and kept for the reads that follow, like seq_file's buffer.
class DataFileDescription : public vfs::SeekableFile {
 public:
  DataFileDescription(int flags, const vfs::Path& path, RefPtr<DataFile> inode)
      : SeekableFile(flags, path), inode_(std::move(inode)) {}

  // The file position is read and advanced around the generation, not held across it: a
  // generator may look at this very description (reading /proc/self/fdinfo/N through fd N
  // seeks it to learn its position).
  Result<size_t> Read(kernel::Task& task, std::span<uint8_t> dst) override {
    int64_t offset;
    {
      absl::MutexLock l(&offset_mu_);
      offset = offset_;
    }
    size_t n = TRY(PRead(task, dst, offset));
    absl::MutexLock l(&offset_mu_);
    offset_ = offset + static_cast<int64_t>(n);
    return n;
  }

  Result<size_t> PRead(kernel::Task& task, std::span<uint8_t> dst, int64_t offset) override {
    if (offset < 0) return Errno(EINVAL);
    absl::MutexLock l(&mu_);
    if (offset == 0 || !content_) content_ = TRY(inode_->ops().read(&task));
    if (static_cast<uint64_t>(offset) >= content_->size()) return size_t{0};
    size_t n = std::min(dst.size(), content_->size() - static_cast<size_t>(offset));
    std::memcpy(dst.data(), content_->data() + offset, n);
    return n;
  }

  Result<size_t> PWrite(kernel::Task& task, std::span<const uint8_t> src,
                        int64_t offset) override {
    if (!inode_->ops().write) return Errno(EINVAL);
    if (offset < 0) return Errno(EINVAL);
    std::string_view data(reinterpret_cast<const char*>(src.data()), src.size());
    return inode_->ops().write(task, data, offset);
  }

 private:
  RefPtr<DataFile> inode_;
  absl::Mutex mu_;
  std::optional<std::string> content_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

DataFile::DataFile(uint64_t dev, uint64_t ino, uint32_t perms, FileOps ops, OwnerFn owner)
    : SyntheticInode(dev, ino, S_IFREG | (perms & 07777), std::move(owner)),
      ops_(std::move(ops)) {}

Result<void> DataFile::SetStat(const vfs::SetStatRequest& req) {
  if (req.mode || req.uid || req.gid) return Errno(EPERM);
  return Ok();
}

Result<RefPtr<vfs::FileDescription>> DataFile::Open(int flags, const vfs::Path& path) {
  if (ops_.open_check) TRY(ops_.open_check(kernel::Task::Current(), flags));
  return RefPtr<vfs::FileDescription>(
      MakeRef<DataFileDescription>(flags, path, RefPtr<DataFile>(this)));
}

RefPtr<DataFile> StaticFile(uint64_t dev, uint64_t ino, std::string content, uint32_t perms) {
  FileOps ops;
  ops.read = [content = std::move(content)](kernel::Task*) -> Result<std::string> {
    return content;
  };
  return MakeRef<DataFile>(dev, ino, perms, std::move(ops));
}

// ---- LinkInode ----

LinkInode::LinkInode(uint64_t dev, uint64_t ino, TargetFn target, JumpFn jump, OwnerFn owner,
                     uint32_t perms)
    : SyntheticInode(dev, ino, S_IFLNK | (perms & 07777), std::move(owner)),
      target_(std::move(target)),
      jump_(std::move(jump)) {}

Result<std::string> LinkInode::ReadLink() { return target_(kernel::Task::Current()); }

std::optional<vfs::Path> LinkInode::JumpLink() {
  if (!jump_) return std::nullopt;
  return jump_(kernel::Task::Current());
}

// ---- Directories ----

DirInode::DirInode(uint64_t dev, uint64_t ino, uint32_t perms, OwnerFn owner)
    : SyntheticInode(dev, ino, S_IFDIR | (perms & 07777), std::move(owner)) {}

StaticDir::StaticDir(uint64_t dev, uint64_t ino, uint32_t perms) : DirInode(dev, ino, perms) {}

void StaticDir::Add(std::string name, RefPtr<vfs::Inode> inode) {
  for (auto& [n, i] : entries_) {
    if (n == name) {
      i = std::move(inode);
      return;
    }
  }
  entries_.emplace_back(std::move(name), std::move(inode));
}

RefPtr<StaticDir> StaticDir::Subdir(const std::string& name, std::string_view fs,
                                    const std::string& key, uint32_t perms) {
  for (auto& [n, i] : entries_) {
    if (n == name) {
      if (auto* d = dynamic_cast<StaticDir*>(i.get())) return RefPtr<StaticDir>(d);
    }
  }
  auto d = MakeRef<StaticDir>(dev(), InodeNumber(fs, key), perms);
  entries_.emplace_back(name, d);
  return d;
}

Result<RefPtr<vfs::Inode>> StaticDir::Lookup(std::string_view name) {
  for (auto& [n, i] : entries_) {
    if (n == name) return i;
  }
  return Errno(ENOENT);
}

Result<std::vector<vfs::DirEntry>> StaticDir::ReadDir() {
  std::vector<vfs::DirEntry> out;
  out.reserve(entries_.size());
  for (auto& [n, i] : entries_) out.push_back(EntryOf(n, *i));
  return out;
}

vfs::DirEntry EntryOf(const std::string& name, vfs::Inode& inode) {
  vfs::DirEntry e{name, 0, DT_UNKNOWN};
  if (Result<vfs::Stat> st = inode.GetStat(); st.ok()) {
    e.ino = st->ino;
    e.type = vfs::ModeToDirentType(st->mode);
  }
  return e;
}

}  // namespace moat::fsimpl::synthetic
