#include "sentry/fsimpl/overlay.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <map>
#include <set>

#include "sentry/fsimpl/tmpfs.h"

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
// Inode numbers of files that exist only in the upper layer (see overlay.h).
constexpr uint64_t kUpperInoBit = uint64_t{1} << 63;

bool IsWhiteout(const Stat& st) { return S_ISCHR(st.mode) && st.rdev == 0; }

// The error of `r`, or success: for results whose value is not needed.
template <typename T>
Result<void> IgnoreValue(const Result<T>& r) {
  if (!r.ok()) return r.error();
  return Ok();
}

class OverlayFs : public RefCounted<OverlayFs> {
 public:
  const uint64_t dev = vfs::NewAnonDev();
  // Copies and whiteouts are made with full privileges: the overlay, not the caller, owns them
  // (the caller's permissions were checked on the merged view).
  const RefPtr<Credentials> root_creds = Credentials::New(0, 0);
  // Guards every OverlayInode's namespace state (see overlay.h). The fields are not annotated:
  // the analysis cannot name another object's mutex.
  absl::Mutex mu;
};

class OverlayInode;

// A link to an OverlayInode that does not keep it alive and knows when it is gone (a weak
// pointer). A directory names its children through these, so that a child nothing uses (no
// dentry, no open file) goes when the dentry cache lets it go; looking it up again builds it
// from the layers.
struct InodeAnchor : public RefCounted<InodeAnchor> {
  absl::Mutex mu;
  OverlayInode* inode ABSL_GUARDED_BY(mu);
};

class OverlayInode : public Inode {
 public:
  OverlayInode(RefPtr<OverlayFs> fs, uint32_t type, uint64_t dev, uint64_t ino,
               RefPtr<Inode> lower, RefPtr<Inode> upper, OverlayInode* parent, std::string name)
      : fs_(std::move(fs)),
        type_(type),
        dev_(dev),
        ino_(ino),
        lower_(std::move(lower)),
        upper_ref_(std::move(upper)),
        upper_(upper_ref_.get()),
        parent_(parent),
        name_(std::move(name)) {
    absl::MutexLock l(&anchor_->mu);
    anchor_->inode = this;
  }
  ~OverlayInode() override {
    absl::MutexLock l(&anchor_->mu);
    anchor_->inode = nullptr;
  }

  // The upper inode once there is one. Set once, under fs_->mu; read without it.
  Inode* upper() const { return upper_.load(std::memory_order_acquire); }
  const RefPtr<Inode>& lower() const { return lower_; }
  Inode& real() const {
    Inode* u = upper();
    return u ? *u : *lower_;
  }

  Result<Stat> GetStat() override {
    Inode* u = upper();
    Stat st = TRY((u ? *u : *lower_).GetStat());
    st.dev = dev_;
    st.ino = ino_;
    // Counting the subdirectories of a merged directory is not worth it; nlink 1 is what
    // overlayfs reports, and find and friends accept it.
    if (type_ == S_IFDIR && u && lower_) st.nlink = 1;
    return st;
  }

  Result<void> SetStat(const SetStatRequest& req) override {
    absl::MutexLock l(&fs_->mu);
    // Truncating to zero needs none of the old data.
    Inode* u = TRY(CopyUpLocked(/*skip_data=*/req.size && *req.size == 0));
    return u->SetStat(req);
  }

  Result<RefPtr<Inode>> Lookup(std::string_view name) override {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    absl::MutexLock l(&fs_->mu);
    return RefPtr<Inode>(TRY(LookupLocked(name)));
  }

  Result<std::vector<DirEntry>> ReadDir() override {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    absl::MutexLock l(&fs_->mu);
    return ReadDirLocked();
  }

  Result<RefPtr<Inode>> Create(std::string_view name, uint32_t mode,
                               const Credentials& creds) override {
    return CreateChild(name, S_IFREG, [&](Inode& up) { return up.Create(name, mode, creds); });
  }

  Result<RefPtr<Inode>> MakeDir(std::string_view name, uint32_t mode,
                                const Credentials& creds) override {
    // A directory made where a whiteout was is opaque: it has no lower directory to merge with.
    return CreateChild(name, S_IFDIR, [&](Inode& up) { return up.MakeDir(name, mode, creds); });
  }

  // ovl_tmpfile(): the directory is copied up and the file made in the upper layer, where it
  // lives from the start, like a file created there.
  Result<RefPtr<Inode>> CreateTmpfile(uint32_t mode, const Credentials& creds,
                                      bool linkable) override {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    absl::MutexLock l(&fs_->mu);
    if (removed_) return Errno(ENOENT);
    Inode* up = TRY(CopyUpLocked(false));
    RefPtr<Inode> u = TRY(up->CreateTmpfile(mode, creds, linkable));
    const uint64_t ino = kUpperInoBit | TRY(u->GetStat()).ino;
    // No parent: it has nothing to copy up, and a link gives it its place.
    auto file = MakeRef<OverlayInode>(fs_, S_IFREG, fs_->dev, ino, nullptr, std::move(u), nullptr,
                                      std::string());
    file->set_linkable(linkable);
    return RefPtr<Inode>(std::move(file));
  }

  Result<RefPtr<Inode>> MakeNode(std::string_view name, uint32_t mode, uint64_t rdev,
                                 const Credentials& creds) override {
    // A 0:0 character device is how whiteouts are spelled; overlayfs refuses to make one.
    if (S_ISCHR(mode) && rdev == 0) return Errno(EPERM);
    return CreateChild(name, mode & S_IFMT,
                       [&](Inode& up) { return up.MakeNode(name, mode, rdev, creds); });
  }

  Result<RefPtr<Inode>> MakeSymlink(std::string_view name, std::string_view target,
                                    const Credentials& creds) override {
    return CreateChild(name, S_IFLNK,
                       [&](Inode& up) { return up.MakeSymlink(name, target, creds); });
  }

  Result<void> Link(std::string_view name, const RefPtr<Inode>& target) override {
    auto* t = dynamic_cast<OverlayInode*>(target.get());
    if (!t || t->fs_ != fs_) return Errno(EXDEV);
    if (t->type_ == S_IFDIR) return Errno(EPERM);
    absl::MutexLock l(&fs_->mu);
    RETURN_IF_ERRNO(CheckNewNameLocked(name));
    Inode* tu = TRY(t->CopyUpLocked(false));
    Inode* up = TRY(CopyUpLocked(false));
    const bool had_whiteout = TRY(RemoveWhiteoutLocked(*up, name));
    Result<void> r = up->Link(name, RefPtr<Inode>(tu));
    if (!r.ok()) {
      if (had_whiteout) (void)MakeWhiteout(*up, name);
      return r.error();
    }
    // The new name is the same overlay inode, as it is the same file.
    SetChildLocked(name, *t);
    return Ok();
  }

  Result<void> Unlink(std::string_view name) override {
    absl::MutexLock l(&fs_->mu);
    RefPtr<OverlayInode> child = TRY(LookupLocked(name));
    if (child->type_ == S_IFDIR) return Errno(EISDIR);
    Inode* up = TRY(CopyUpLocked(false));
    const bool lower_has = LowerHasLocked(name);
    if (child->upper()) RETURN_IF_ERRNO(up->Unlink(name));
    if (lower_has) RETURN_IF_ERRNO(MakeWhiteout(*up, name));
    ForgetChildLocked(name, child);
    return Ok();
  }

  Result<void> RemoveDir(std::string_view name) override {
    absl::MutexLock l(&fs_->mu);
    RefPtr<OverlayInode> child = TRY(LookupLocked(name));
    if (child->type_ != S_IFDIR) return Errno(ENOTDIR);
    if (!TRY(child->ReadDirLocked()).empty()) return Errno(ENOTEMPTY);
    Inode* up = TRY(CopyUpLocked(false));
    const bool lower_has = LowerHasLocked(name);
    if (Inode* cu = child->upper()) {
      RETURN_IF_ERRNO(ClearWhiteouts(*cu));
      RETURN_IF_ERRNO(up->RemoveDir(name));
    }
    if (lower_has) RETURN_IF_ERRNO(MakeWhiteout(*up, name));
    child->removed_ = true;
    ForgetChildLocked(name, child);
    return Ok();
  }

  Result<void> Rename(std::string_view name, Inode& new_dir, std::string_view new_name,
                      bool replaces) override {
    auto* nd = dynamic_cast<OverlayInode*>(&new_dir);
    if (!nd || nd->fs_ != fs_) return Errno(EXDEV);
    if (nd->type_ != S_IFDIR) return Errno(ENOTDIR);
    if (new_name.size() > kNameMax) return Errno(ENAMETOOLONG);
    absl::MutexLock l(&fs_->mu);
    RefPtr<OverlayInode> child = TRY(LookupLocked(name));
    if (nd->removed_) return Errno(ENOENT);
    RefPtr<OverlayInode> target;
    if (Result<RefPtr<OverlayInode>> t = nd->LookupLocked(new_name); t.ok()) {
      target = std::move(t).value();
    } else if (t.error().value() != ENOENT) {
      return t.error();
    }
    if (target == child) return Ok();
    if (child->type_ == S_IFDIR) {
      // Without redirect_dir a directory with lower content cannot move: its lower part would
      // have to be found under the new name.
      if (child->lower_) return Errno(EXDEV);
      if (target) {
        if (target->type_ != S_IFDIR) return Errno(ENOTDIR);
        if (!TRY(target->ReadDirLocked()).empty()) return Errno(ENOTEMPTY);
      }
    } else if (target && target->type_ == S_IFDIR) {
      return Errno(EISDIR);
    }

    RETURN_IF_ERRNO(IgnoreValue(child->CopyUpLocked(false)));
    Inode* up = TRY(CopyUpLocked(false));
    Inode* nup = TRY(nd->CopyUpLocked(false));
    bool had_whiteout = false;
    if (target) {
      if (Inode* tu = target->upper(); tu && target->type_ == S_IFDIR) {
        RETURN_IF_ERRNO(ClearWhiteouts(*tu));
      }
    } else {
      had_whiteout = TRY(RemoveWhiteoutLocked(*nup, new_name));
    }
    const bool lower_has_old = LowerHasLocked(name);
    if (Result<void> r = up->Rename(name, *nup, new_name, replaces); !r.ok()) {
      if (had_whiteout) (void)MakeWhiteout(*nup, new_name);
      return r.error();
    }
    if (lower_has_old) RETURN_IF_ERRNO(MakeWhiteout(*up, name));

    children_.erase(std::string(name));
    if (target) {
      if (target->type_ == S_IFDIR) target->removed_ = true;
      nd->ForgetChildLocked(new_name, target);
    }
    nd->SetChildLocked(new_name, *child);
    child->parent_ = RefPtr<OverlayInode>(nd);
    child->name_ = std::string(new_name);
    return Ok();
  }

  // Implements Inode::Exchange, as overlayfs' ovl_rename does for RENAME_EXCHANGE: both entries
  // are copied up and swapped in the upper layer. Both names stay occupied in the upper layer,
  // so whatever the lower layer has under them stays hidden without any whiteout.
  Result<void> Exchange(std::string_view name, Inode& other_dir,
                        std::string_view other_name) override {
    auto* od = dynamic_cast<OverlayInode*>(&other_dir);
    if (!od || od->fs_ != fs_) return Errno(EXDEV);
    if (od->type_ != S_IFDIR) return Errno(ENOTDIR);
    absl::MutexLock l(&fs_->mu);
    RefPtr<OverlayInode> a = TRY(LookupLocked(name));
    RefPtr<OverlayInode> b = TRY(od->LookupLocked(other_name));
    if (a == b) return Ok();
    // Without redirect_dir a directory with lower content cannot take another name, even in
    // the same parent: its lower part would have to be found under the new name (overlayfs'
    // ovl_can_move). Checked before any copy-up, as overlayfs does.
    if ((a->type_ == S_IFDIR && a->lower_) || (b->type_ == S_IFDIR && b->lower_)) {
      return Errno(EXDEV);
    }
    RETURN_IF_ERRNO(IgnoreValue(a->CopyUpLocked(false)));
    RETURN_IF_ERRNO(IgnoreValue(b->CopyUpLocked(false)));
    Inode* up = TRY(CopyUpLocked(false));
    Inode* oup = TRY(od->CopyUpLocked(false));
    RETURN_IF_ERRNO(up->Exchange(name, *oup, other_name));

    // Each overlay inode keeps its own lower part and opacity wherever it goes: a directory
    // born in the upper layer stays opaque under a name that has a lower directory.
    SetChildLocked(name, *b);
    od->SetChildLocked(other_name, *a);
    a->MovedLocked(this, name, od, other_name);
    b->MovedLocked(od, other_name, this, name);
    return Ok();
  }

  Result<std::string> ReadLink() override { return real().ReadLink(); }
  Result<FileDescriptor> ConnectHostSocket(int type) override {
    return real().ConnectHostSocket(type);
  }

  // Extended attributes (ovl_xattr_get/set): read from whichever layer holds the file, written
  // to the upper layer after a copy-up. A lower layer without attributes has none to show.
  Result<std::string> GetXattr(std::string_view name) override {
    Inode* u = upper();
    Result<std::string> r = (u ? *u : *lower_).GetXattr(name);
    if (!u && !r.ok() && r.error().value() == EOPNOTSUPP) return Errno(ENODATA);
    return r;
  }
  Result<std::vector<std::string>> ListXattr() override {
    Inode* u = upper();
    Result<std::vector<std::string>> r = (u ? *u : *lower_).ListXattr();
    if (!u && !r.ok()) return std::vector<std::string>{};
    return r;
  }
  Result<void> SetXattr(std::string_view name, std::string_view value, int flags) override {
    absl::MutexLock l(&fs_->mu);
    Inode* u = TRY(CopyUpLocked(false));
    return u->SetXattr(name, value, flags);
  }
  Result<void> RemoveXattr(std::string_view name) override {
    absl::MutexLock l(&fs_->mu);
    // Removing what the lower file does not have needs no copy-up.
    if (!upper()) RETURN_IF_ERRNO(IgnoreValue(GetXattr(name)));
    Inode* u = TRY(CopyUpLocked(false));
    return u->RemoveXattr(name);
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override;

 private:
  friend class OverlayFile;

  // ---- Under fs_->mu ----

  Result<RefPtr<OverlayInode>> LookupLocked(std::string_view name) {
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    if (RefPtr<OverlayInode> known = ChildLocked(name)) return known;
    RefPtr<Inode> u, l;
    Stat ust, lst;
    if (Inode* up = upper()) {
      Result<RefPtr<Inode>> r = up->Lookup(name);
      if (r.ok()) {
        u = std::move(r).value();
        ust = TRY(u->GetStat());
        if (IsWhiteout(ust)) return Errno(ENOENT);
      } else if (r.error().value() != ENOENT) {
        return r.error();
      }
    }
    // A non-directory in the upper layer hides whatever the lower one has.
    if (lower_ && (!u || S_ISDIR(ust.mode))) {
      Result<RefPtr<Inode>> r = lower_->Lookup(name);
      if (r.ok()) {
        l = std::move(r).value();
        lst = TRY(l->GetStat());
        if (u && !S_ISDIR(lst.mode)) l = nullptr;
      } else if (r.error().value() != ENOENT) {
        return r.error();
      }
    }
    if (!u && !l) return Errno(ENOENT);
    const uint32_t type = (u ? ust.mode : lst.mode) & S_IFMT;
    const uint64_t dev = l ? lst.dev : fs_->dev;
    const uint64_t ino = l ? lst.ino : (kUpperInoBit | ust.ino);
    auto child = MakeRef<OverlayInode>(fs_, type, dev, ino, std::move(l), std::move(u), this,
                                       std::string(name));
    SetChildLocked(name, *child);
    return child;
  }

  Result<std::vector<DirEntry>> ReadDirLocked() {
    struct Merged {
      DirEntry entry;
      bool from_lower;
    };
    std::map<std::string, Merged> merged;
    std::set<std::string> whiteouts;
    if (Inode* up = upper()) {
      for (DirEntry& e : TRY(up->ReadDir())) {
        if (e.type == DT_CHR) {
          Result<RefPtr<Inode>> c = up->Lookup(e.name);
          if (c.ok() && IsWhiteout(TRY(c.value()->GetStat()))) {
            whiteouts.insert(e.name);
            continue;
          }
        }
        std::string name = e.name;
        merged.emplace(std::move(name), Merged{std::move(e), false});
      }
    }
    if (lower_) {
      for (DirEntry& e : TRY(lower_->ReadDir())) {
        if (whiteouts.count(e.name)) continue;
        auto it = merged.find(e.name);
        if (it != merged.end()) {
          // A merged subdirectory keeps the lower inode number, as stat reports it.
          if (it->second.entry.type == DT_DIR && e.type == DT_DIR) {
            it->second.entry.ino = e.ino;
            it->second.from_lower = true;
          }
          continue;
        }
        std::string name = e.name;
        merged.emplace(std::move(name), Merged{std::move(e), true});
      }
    }
    std::vector<DirEntry> out;
    out.reserve(merged.size());
    for (auto& [name, m] : merged) {
      if (RefPtr<OverlayInode> c = ChildLocked(name)) {
        m.entry.ino = c->ino_;
      } else if (!m.from_lower) {
        m.entry.ino |= kUpperInoBit;
      }
      out.push_back(std::move(m.entry));
    }
    return out;
  }

  // Gives this inode an upper copy (and its parents first); returns the upper inode.
  Result<Inode*> CopyUpLocked(bool skip_data) {
    if (Inode* u = upper()) return u;
    if (!parent_ || removed_) return Errno(ENOENT);
    Inode* pu = TRY(parent_->CopyUpLocked(false));
    const Stat st = TRY(lower_->GetStat());
    const Stat parent_st = TRY(pu->GetStat());
    const Credentials& creds = *fs_->root_creds;
    RefPtr<Inode> u;
    switch (type_) {
      case S_IFDIR:
        u = TRY(pu->MakeDir(name_, st.mode & 07777, creds));
        break;
      case S_IFREG: {
        u = TRY(pu->Create(name_, st.mode & 07777, creds));
        if (!skip_data && st.size > 0) {
          Result<void> r = CopyData(*u, st.size);
          if (!r.ok()) {
            (void)pu->Unlink(name_);
            return r.error();
          }
        }
        break;
      }
      case S_IFLNK: {
        std::string target = TRY(lower_->ReadLink());
        u = TRY(pu->MakeSymlink(name_, target, creds));
        break;
      }
      default:
        u = TRY(pu->MakeNode(name_, st.mode, st.rdev, creds));
        break;
    }
    SetStatRequest attrs;
    attrs.mode = st.mode & 07777;
    attrs.uid = st.uid;
    attrs.gid = st.gid;
    attrs.atime = st.atime;
    attrs.mtime = st.mtime;
    RETURN_IF_ERRNO(u->SetStat(attrs));
    CopyXattrs(*u);
    // Making the copy touched the parent's upper directory; a copy-up is not a change the
    // application made, so put its times back (ovl_set_timestamps).
    SetStatRequest parent_times;
    parent_times.atime = parent_st.atime;
    parent_times.mtime = parent_st.mtime;
    (void)pu->SetStat(parent_times);
    upper_ref_ = u;
    upper_.store(u.get(), std::memory_order_release);
    return u.get();
  }

  // Copies the lower file's `size` bytes into the new upper file `u` through the lower file's
  // host descriptor. TODO(#3): this runs under the overlay-wide lock, so a large copy-up stalls
  // other namespace operations of the overlay meanwhile; a lower layer without a host fd gives
  // ENODEV.
  Result<void> CopyData(Inode& u, int64_t size) {
    RefPtr<FileDescription> lf = TRY(lower_->Open(O_RDONLY, Path{}));
    int fd = TRY(lf->HostMapFd());
    return TmpfsCopyFromHost(u, fd, size);
  }

  // ovl_copy_xattr(): the lower file's extended attributes go with it. Those the lower layer
  // cannot list or read (a filesystem without attributes) and those the upper layer refuses
  // are skipped: the copy is still the file.
  void CopyXattrs(Inode& u) {
    Result<std::vector<std::string>> names = lower_->ListXattr();
    if (!names.ok()) return;
    for (const std::string& name : *names) {
      Result<std::string> value = lower_->GetXattr(name);
      if (value.ok()) (void)u.SetXattr(name, *value, 0);
    }
  }

  // What a new name must satisfy: this directory still exists and has no such entry.
  Result<void> CheckNewNameLocked(std::string_view name) {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    if (removed_) return Errno(ENOENT);
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    Result<RefPtr<OverlayInode>> existing = LookupLocked(name);
    if (existing.ok()) return Errno(EEXIST);
    if (existing.error().value() != ENOENT) return existing.error();
    return Ok();
  }

  template <typename Make>
  Result<RefPtr<Inode>> CreateChild(std::string_view name, uint32_t type, Make make) {
    absl::MutexLock l(&fs_->mu);
    RETURN_IF_ERRNO(CheckNewNameLocked(name));
    Inode* up = TRY(CopyUpLocked(false));
    const bool had_whiteout = TRY(RemoveWhiteoutLocked(*up, name));
    Result<RefPtr<Inode>> made = make(*up);
    if (!made.ok()) {
      if (had_whiteout) (void)MakeWhiteout(*up, name);
      return made.error();
    }
    RefPtr<Inode> u = std::move(made).value();
    const uint64_t ino = kUpperInoBit | TRY(u->GetStat()).ino;
    auto child = MakeRef<OverlayInode>(fs_, type, fs_->dev, ino, nullptr, std::move(u), this,
                                       std::string(name));
    SetChildLocked(name, *child);
    return RefPtr<Inode>(std::move(child));
  }

  // Whether the lower directory has `name` (so that removing it from the merged view needs a
  // whiteout). An error other than ENOENT counts as yes: a stray whiteout is harmless, a missing
  // one would resurrect a file.
  bool LowerHasLocked(std::string_view name) {
    if (!lower_) return false;
    Result<RefPtr<Inode>> r = lower_->Lookup(name);
    return r.ok() || r.error().value() != ENOENT;
  }

  // Removes a whiteout at `name` in upper directory `up`; returns whether there was one.
  Result<bool> RemoveWhiteoutLocked(Inode& up, std::string_view name) {
    Result<RefPtr<Inode>> r = up.Lookup(name);
    if (!r.ok()) {
      if (r.error().value() == ENOENT) return false;
      return r.error();
    }
    if (!IsWhiteout(TRY(r.value()->GetStat()))) return Errno(EEXIST);
    RETURN_IF_ERRNO(up.Unlink(name));
    return true;
  }

  Result<void> MakeWhiteout(Inode& up, std::string_view name) {
    return IgnoreValue(up.MakeNode(name, S_IFCHR, 0, *fs_->root_creds));
  }

  // Empties an upper directory whose merged view is empty: what is left are whiteouts.
  static Result<void> ClearWhiteouts(Inode& dir) {
    for (const DirEntry& e : TRY(dir.ReadDir())) {
      RefPtr<Inode> c = TRY(dir.Lookup(e.name));
      if (!IsWhiteout(TRY(c->GetStat()))) return Errno(ENOTEMPTY);
      RETURN_IF_ERRNO(dir.Unlink(e.name));
    }
    return Ok();
  }

  // Records that this inode, found as `old_name` in `old_dir`, is now `new_name` in `new_dir`.
  // A file with several hard links keeps its copy-up location if that was another of its
  // names, which still exists.
  void MovedLocked(OverlayInode* old_dir, std::string_view old_name, OverlayInode* new_dir,
                   std::string_view new_name) {
    if (parent_.get() != old_dir || name_ != old_name) return;
    parent_ = RefPtr<OverlayInode>(new_dir);
    name_ = std::string(new_name);
  }

  void ForgetChildLocked(std::string_view name, const RefPtr<OverlayInode>& child) {
    children_.erase(std::string(name));
    if (child->parent_.get() == this && child->name_ == name) child->parent_ = nullptr;
  }

  // The live inode of child `name`, if this directory has one.
  RefPtr<OverlayInode> ChildLocked(std::string_view name) {
    auto it = children_.find(name);
    if (it == children_.end()) return nullptr;
    RefPtr<OverlayInode> c;
    {
      absl::MutexLock l(&it->second->mu);
      c = TryRef(it->second->inode);
    }
    if (!c) children_.erase(it);
    return c;
  }

  void SetChildLocked(std::string_view name, OverlayInode& child) {
    children_[std::string(name)] = child.anchor_;
    // Entries of children that went are swept now and then, so that a directory whose names
    // were all looked up once does not keep them all.
    if (children_.size() < sweep_at_) return;
    for (auto it = children_.begin(); it != children_.end();) {
      bool alive;
      {
        RefPtr<InodeAnchor> a = it->second;  // outlives the lock, even once erased
        absl::MutexLock l(&a->mu);
        alive = a->inode != nullptr;
      }
      it = alive ? std::next(it) : children_.erase(it);
    }
    sweep_at_ = std::max<size_t>(64, 2 * children_.size());
  }

  const RefPtr<OverlayFs> fs_;
  const uint32_t type_;  // S_IFMT bits
  const uint64_t dev_;   // what stat reports (see overlay.h)
  const uint64_t ino_;
  const RefPtr<Inode> lower_;  // null for a file born in the upper layer, or an opaque directory
  RefPtr<Inode> upper_ref_;    // owns what upper_ points to
  std::atomic<Inode*> upper_;
  const RefPtr<InodeAnchor> anchor_ = MakeRef<InodeAnchor>();
  // Guarded by fs_->mu. `parent_` is where a copy-up puts this file (a child keeps its parent,
  // which it needs for that), and null once the name is gone.
  RefPtr<OverlayInode> parent_;
  std::string name_;
  bool removed_ = false;  // a removed directory takes no new names
  // Every child looked up or made and still alive, so that a name keeps its inode (and its
  // copy-up state) while anything uses it.
  std::map<std::string, RefPtr<InodeAnchor>, std::less<>> children_;
  size_t sweep_at_ = 64;
};

// An open regular file of the overlay. It reads through whichever layer holds the file now, so
// a copy-up made through another descriptor is seen here too.
class OverlayFile : public vfs::SeekableFile {
 public:
  OverlayFile(int flags, Path path, RefPtr<OverlayInode> inode, RefPtr<FileDescription> real,
              bool real_is_upper)
      : SeekableFile(flags, std::move(path)),
        inode_(std::move(inode)),
        real_(std::move(real)),
        real_is_upper_(real_is_upper) {}

  Result<size_t> PRead(Task& task, std::span<uint8_t> dst, int64_t offset) override {
    return TRY(Real())->PRead(task, dst, offset);
  }
  Result<size_t> PWrite(Task& task, std::span<const uint8_t> src, int64_t offset) override {
    // O_APPEND is applied here (the layer's file is opened without it), pwrite included.
    if (flags() & O_APPEND) offset = TRY(GetStat()).size;
    return TRY(Real())->PWrite(task, src, offset);
  }
  Result<int> HostMapFd() override { return TRY(Real())->HostMapFd(); }
  // ovl_fallocate(): the layer's file does it. A writable open copied the file up already.
  Result<void> Allocate(int mode, int64_t offset, int64_t len) override {
    return TRY(Real())->Allocate(mode, offset, len);
  }

  // Opens the layer's file for an overlay open with `flags`.
  static Result<RefPtr<FileDescription>> OpenLayer(OverlayInode& inode, int flags,
                                                   const Path& path, bool* is_upper) {
    Inode* u = inode.upper();
    *is_upper = u != nullptr;
    int layer_flags = flags & ~(O_APPEND | O_TRUNC | O_CREAT | O_EXCL);
    if (!u) layer_flags = (layer_flags & ~O_ACCMODE) | O_RDONLY;
    return (u ? *u : *inode.lower()).Open(layer_flags, path);
  }

 private:
  Result<RefPtr<FileDescription>> Real() {
    absl::MutexLock l(&mu_);
    if (!real_is_upper_ && inode_->upper()) {
      bool is_upper;
      real_ = TRY(OpenLayer(*inode_, flags(), path(), &is_upper));
      real_is_upper_ = is_upper;
    }
    return real_;
  }

  const RefPtr<OverlayInode> inode_;
  absl::Mutex mu_;
  RefPtr<FileDescription> real_ ABSL_GUARDED_BY(mu_);
  bool real_is_upper_ ABSL_GUARDED_BY(mu_);
};

Result<RefPtr<FileDescription>> OverlayInode::Open(int flags, const Path& path) {
  switch (type_) {
    case S_IFREG: {
      const bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
      if (writes) {
        absl::MutexLock l(&fs_->mu);
        // The VFS truncates right after an O_TRUNC open: the old data need not be copied.
        RETURN_IF_ERRNO(IgnoreValue(CopyUpLocked(/*skip_data=*/flags & O_TRUNC)));
      }
      bool is_upper;
      RefPtr<FileDescription> real = TRY(OverlayFile::OpenLayer(*this, flags, path, &is_upper));
      return RefPtr<FileDescription>(MakeRef<OverlayFile>(
          flags, path, RefPtr<OverlayInode>(this), std::move(real), is_upper));
    }
    case S_IFDIR:
      return RefPtr<FileDescription>(MakeRef<vfs::DirectoryFile>(flags, path));
    case S_IFLNK:
      return Errno(ELOOP);
    default:
      // Devices, FIFOs and sockets open through the layer that has them.
      return real().Open(flags, path);
  }
}

}  // namespace

RefPtr<vfs::Dentry> NewOverlay(RefPtr<vfs::Dentry> lower_root, RefPtr<vfs::Dentry> upper_root) {
  auto fs = MakeRef<OverlayFs>();
  const RefPtr<Inode>& lower = lower_root->inode();
  const RefPtr<Inode>& upper = upper_root->inode();
  uint64_t dev = fs->dev;
  uint64_t ino = 1;
  if (Result<Stat> st = lower->GetStat(); st.ok()) {
    dev = st->dev;
    ino = st->ino;
    SetStatRequest attrs;
    attrs.mode = st->mode & 07777;
    attrs.uid = st->uid;
    attrs.gid = st->gid;
    attrs.atime = st->atime;
    attrs.mtime = st->mtime;
    (void)upper->SetStat(attrs);
  }
  auto root = MakeRef<OverlayInode>(fs, S_IFDIR, dev, ino, lower, upper, nullptr, "");
  return MakeRef<vfs::Dentry>(nullptr, "", std::move(root));
}

}  // namespace moat::fsimpl
