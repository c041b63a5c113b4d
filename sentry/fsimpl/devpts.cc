#include "sentry/fsimpl/devpts.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <string>

#include "sentry/fsimpl/pty.h"
#include "sentry/vfs/memory_inode.h"

namespace moat::fsimpl {

// The attributes every devpts inode keeps: what stat shows and chmod/chown/utimensat change.
class DevptsInode : public vfs::MemoryInode {
 public:
  DevptsInode(uint64_t dev, uint64_t ino, uint32_t mode, uint32_t uid, uint32_t gid,
              uint64_t rdev)
      : MemoryInode(dev, ino, mode, uid, gid, rdev, /*blksize=*/1024) {}
};

namespace {

// Inode numbers as Linux's devpts gives them: the root 1, ptmx 2, pty N at N + 3.
constexpr uint64_t kRootIno = 1;
constexpr uint64_t kPtmxIno = 2;
constexpr uint64_t kFirstPtyIno = 3;

class RootInode final : public DevptsInode {
 public:
  explicit RootInode(uint64_t dev) : DevptsInode(dev, kRootIno, S_IFDIR | 0755, 0, 0, 0) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    RefPtr<vfs::Inode> i = Devpts::Get().Lookup(name);
    if (!i) return Errno(ENOENT);
    return i;
  }
  Result<std::vector<vfs::DirEntry>> ReadDir() override { return Devpts::Get().List(); }
  // Nothing can be created in devpts.
  Result<RefPtr<vfs::Inode>> Create(std::string_view, uint32_t, const vfs::Credentials&) override {
    return Errno(EACCES);
  }
  Result<RefPtr<vfs::Inode>> MakeDir(std::string_view, uint32_t, const vfs::Credentials&) override {
    return Errno(EACCES);
  }
  Result<RefPtr<vfs::FileDescription>> Open(int, const vfs::Path&) override {
    return Errno(EISDIR);  // the VFS opens directories itself
  }
};

class PtmxInode final : public DevptsInode {
 public:
  explicit PtmxInode(uint64_t dev)
      : DevptsInode(dev, kPtmxIno, S_IFCHR | 0000, 0, 0, makedev(kTtyAuxMajor, 2)) {}
  Result<RefPtr<vfs::FileDescription>> Open(int flags, const vfs::Path& path) override {
    return Devpts::Get().OpenMaster(flags, path);
  }
};

}  // namespace

// /dev/pts/N.
class ReplicaInode final : public DevptsInode {
 public:
  ReplicaInode(uint64_t dev, RefPtr<Pty> pty)
      : DevptsInode(dev, kFirstPtyIno + pty->index(), S_IFCHR | 0620, 0, kTtyGroup,
                    makedev(kPtyReplicaMajor, pty->index())),
        pty_(std::move(pty)) {}

  const RefPtr<Pty>& pty() const { return pty_; }

  Result<RefPtr<vfs::FileDescription>> Open(int flags, const vfs::Path& path) override {
    TRY(pty_->ReplicaOpened());
    return RefPtr<vfs::FileDescription>(MakeRef<PtyReplica>(flags, path, pty_, false));
  }

 private:
  const RefPtr<Pty> pty_;
};

Devpts& Devpts::Get() {
  static Devpts* devpts = new Devpts();  // never destroyed: ptys may outlive everything else
  return *devpts;
}

Devpts::Devpts() : dev_(vfs::NewAnonDev()) {
  root_ = MakeRef<vfs::Dentry>(nullptr, "", MakeRef<RootInode>(dev_));
  ptmx_ = MakeRef<PtmxInode>(dev_);
}

Result<RefPtr<vfs::FileDescription>> Devpts::OpenMaster(int flags, const vfs::Path& path) {
  RefPtr<Pty> pty;
  {
    absl::MutexLock l(&mu_);
    // The lowest free index, as Linux's ida allocation gives.
    uint32_t index = 0;
    for (const auto& [i, node] : nodes_) {
      if (i != index) break;
      index++;
    }
    if (index >= kMaxPtys) return Errno(ENOSPC);
    pty = MakeRef<Pty>(this, index);
    nodes_[index] = MakeRef<ReplicaInode>(dev_, pty);
  }
  return RefPtr<vfs::FileDescription>(MakeRef<PtyMaster>(flags, path, std::move(pty)));
}

Result<RefPtr<vfs::FileDescription>> Devpts::OpenReplica(uint32_t index, int flags,
                                                         const vfs::Path& path) {
  RefPtr<Pty> pty;
  {
    absl::MutexLock l(&mu_);
    auto it = nodes_.find(index);
    if (it == nodes_.end()) return Errno(ENXIO);
    pty = it->second->pty();
  }
  TRY(pty->ReplicaOpened());
  return RefPtr<vfs::FileDescription>(MakeRef<PtyReplica>(flags, path, std::move(pty), false));
}

Result<vfs::Path> Devpts::ReplicaPath(const Pty& pty, const RefPtr<vfs::Mount>& mount) {
  RefPtr<vfs::Dentry> d = TRY(root_->Child(std::to_string(pty.index())));
  return vfs::Path{mount, std::move(d)};
}

void Devpts::Remove(uint32_t index) {
  RefPtr<ReplicaInode> node;
  {
    absl::MutexLock l(&mu_);
    auto it = nodes_.find(index);
    if (it == nodes_.end()) return;
    node = std::move(it->second);
    nodes_.erase(it);
  }
  const std::string name = std::to_string(index);
  if (RefPtr<vfs::Dentry> d = root_->CachedChild(name)) d->set_deleted();
  root_->DropChild(name);
}

void Devpts::SetOwner(uint32_t index, uid_t uid) {
  absl::MutexLock l(&mu_);
  auto it = nodes_.find(index);
  if (it != nodes_.end()) it->second->set_uid(uid);
}

RefPtr<vfs::Inode> Devpts::Lookup(std::string_view name) {
  if (name == "ptmx") return ptmx_;
  if (name.empty() || name.size() > 10 || (name.size() > 1 && name[0] == '0')) return nullptr;
  uint64_t index = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return nullptr;
    index = index * 10 + static_cast<uint64_t>(c - '0');
  }
  if (index > UINT32_MAX) return nullptr;
  absl::MutexLock l(&mu_);
  auto it = nodes_.find(static_cast<uint32_t>(index));
  if (it == nodes_.end()) return nullptr;
  return it->second;
}

std::vector<vfs::DirEntry> Devpts::List() {
  std::vector<vfs::DirEntry> out;
  out.push_back({"ptmx", kPtmxIno, DT_CHR});
  absl::MutexLock l(&mu_);
  for (const auto& [index, node] : nodes_) {
    out.push_back({std::to_string(index), kFirstPtyIno + index, DT_CHR});
  }
  return out;
}

Result<RefPtr<vfs::FileDescription>> OpenTerminalDevice(uint32_t major, uint32_t minor, int flags,
                                                        const vfs::Path& path) {
  if (major == kPtyReplicaMajor) return Devpts::Get().OpenReplica(minor, flags, path);
  if (major == kTtyAuxMajor && minor == 0) {
    return RefPtr<vfs::FileDescription>(MakeRef<PtyReplica>(flags, path, nullptr, true));
  }
  if (major == kTtyAuxMajor && minor == 2) return Devpts::Get().OpenMaster(flags, path);
  return Errno(ENXIO);
}

}  // namespace moat::fsimpl
