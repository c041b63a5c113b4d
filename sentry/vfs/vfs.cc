// The VFS objects: dentries, mounts, file descriptions, fs contexts and permission checks. Path
// resolution is in namei.cc, the namespace operations in namei.cc.
#include "sentry/vfs/vfs.h"

#include <dirent.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>

#include <limits>

#include "sentry/vfs/fasync.h"
#include "sentry/vfs/lease.h"
#include "sentry/vfs/lock.h"
#include "sentry/vfs/inotify.h"

namespace moat::vfs {

uint8_t ModeToDirentType(uint32_t mode) { return static_cast<uint8_t>((mode & S_IFMT) >> 12); }

timespec Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

uint64_t NewAnonDev() {
  // Linux hands out anonymous minors from 1 up (get_anon_bdev); we do the same, so the numbers
  // look like the ones tmpfs and overlay mounts show on a real system.
  static std::atomic<uint32_t> next_minor{1};
  return makedev(0, next_minor.fetch_add(1, std::memory_order_relaxed));
}

void InitOwner(const Credentials& creds, const Stat& dir, uint32_t* mode, uint32_t* uid,
               uint32_t* gid) {
  *uid = creds.fsuid;
  if (!(dir.mode & S_ISGID)) {
    *gid = creds.fsgid;
    return;
  }
  *gid = dir.gid;
  if ((*mode & S_IFMT) == S_IFDIR) {
    *mode |= S_ISGID;
  } else if ((*mode & S_ISGID) && (*mode & S_IXGRP) && !creds.InGroup(*gid) &&
             !creds.HasCap(CAP_FSETID)) {
    *mode &= ~S_ISGID;
  }
}

Result<void> CheckPermission(const Credentials& creds, const Stat& stat, int mask) {
  mask &= R_OK | W_OK | X_OK;
  if (mask == 0) return Ok();
  // The owner gets the owner bits only, even if the group or others are granted more.
  uint32_t granted;
  if (creds.fsuid == stat.uid) {
    granted = (stat.mode >> 6) & 7;
  } else if (creds.InGroup(stat.gid)) {
    granted = (stat.mode >> 3) & 7;
  } else {
    granted = stat.mode & 7;
  }
  if ((mask & ~granted) == 0) return Ok();

  // generic_permission(): capabilities override the mode bits, more generously for directories.
  if (S_ISDIR(stat.mode)) {
    if (!(mask & W_OK) && creds.HasCap(CAP_DAC_READ_SEARCH)) return Ok();
    if (creds.HasCap(CAP_DAC_OVERRIDE)) return Ok();
    return Errno(EACCES);
  }
  if (mask == R_OK && creds.HasCap(CAP_DAC_READ_SEARCH)) return Ok();
  // Execution needs at least one x bit even for root, so that root does not run data files.
  if (!(mask & X_OK) || (stat.mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
    if (creds.HasCap(CAP_DAC_OVERRIDE)) return Ok();
  }
  return Errno(EACCES);
}

std::optional<uint32_t> ModeAfterWrite(const Credentials& creds, const Stat& stat) {
  if (!S_ISREG(stat.mode) || !(stat.mode & (S_ISUID | S_ISGID))) return std::nullopt;
  if (creds.HasCap(CAP_FSETID)) return std::nullopt;
  uint32_t mode = stat.mode & 07777 & ~S_ISUID;
  if ((stat.mode & S_ISGID) && ((stat.mode & S_IXGRP) || !creds.InGroup(stat.gid))) {
    mode &= ~S_ISGID;
  }
  if (mode == (stat.mode & 07777)) return std::nullopt;
  return mode;
}

Result<void> RemovePrivs(const Credentials& creds, FileDescription& file) {
  if (creds.HasCap(CAP_FSETID)) return Ok();
  Inode* inode = file.inode();
  if (!inode) return Ok();
  std::optional<uint32_t> mode = ModeAfterWrite(creds, TRY(inode->GetStat()));
  if (!mode) return Ok();
  SetStatRequest req;
  req.mode = *mode;
  return inode->SetStat(req);
}

// ---- Inode defaults ----

Result<void> Inode::SetStat(const SetStatRequest&) { return Errno(EPERM); }
Result<RefPtr<Inode>> Inode::Lookup(std::string_view) { return Errno(ENOTDIR); }
Result<std::vector<DirEntry>> Inode::ReadDir() { return Errno(ENOTDIR); }
Result<RefPtr<Inode>> Inode::Create(std::string_view, uint32_t, const Credentials&) {
  return Errno(ENOTDIR);
}
Result<RefPtr<Inode>> Inode::MakeDir(std::string_view, uint32_t, const Credentials&) {
  return Errno(ENOTDIR);
}
Result<RefPtr<Inode>> Inode::MakeNode(std::string_view, uint32_t, uint64_t, const Credentials&) {
  return Errno(ENOTDIR);
}
Result<RefPtr<Inode>> Inode::MakeSymlink(std::string_view, std::string_view, const Credentials&) {
  return Errno(ENOTDIR);
}
Result<void> Inode::Link(std::string_view, const RefPtr<Inode>&) { return Errno(ENOTDIR); }
Result<void> Inode::Unlink(std::string_view) { return Errno(ENOTDIR); }
Result<void> Inode::RemoveDir(std::string_view) { return Errno(ENOTDIR); }
Result<void> Inode::Rename(std::string_view, Inode&, std::string_view, bool) {
  return Errno(ENOTDIR);
}
Result<void> Inode::Exchange(std::string_view, Inode&, std::string_view) { return Errno(EINVAL); }
Result<RefPtr<Inode>> Inode::CreateTmpfile(uint32_t, const Credentials&, bool) {
  return Errno(EOPNOTSUPP);
}
Result<std::string> Inode::ReadLink() { return Errno(EINVAL); }
std::optional<Path> Inode::JumpLink() { return std::nullopt; }
Result<FileDescriptor> Inode::ConnectHostSocket(int) { return Errno(ECONNREFUSED); }
Result<std::string> Inode::GetXattr(std::string_view) { return Errno(EOPNOTSUPP); }
Result<void> Inode::SetXattr(std::string_view, std::string_view, int) {
  return Errno(EOPNOTSUPP);
}
Result<std::vector<std::string>> Inode::ListXattr() { return std::vector<std::string>{}; }
Result<void> Inode::RemoveXattr(std::string_view) { return Errno(EOPNOTSUPP); }

Inode::~Inode() {
  delete locks_.load(std::memory_order_acquire);
  delete watches_.load(std::memory_order_acquire);
}

FileLocks& Inode::Locks() {
  FileLocks* l = locks_.load(std::memory_order_acquire);
  if (l) return *l;
  auto* made = new FileLocks();
  if (locks_.compare_exchange_strong(l, made, std::memory_order_acq_rel)) return *made;
  delete made;  // another thread made it first; `l` is theirs
  return *l;
}

// ---- Dentry ----

namespace {

// How many dentries the cache aims to keep: a quarter of the fd limit the sandbox was started
// with (which the gofer shares, and each cached gofer dentry holds a gofer fd), within bounds.
int64_t DentryCacheTarget() {
  static const int64_t target = [] {
    rlimit r{};
    getrlimit(RLIMIT_NOFILE, &r);
    int64_t quarter = r.rlim_max == RLIM_INFINITY ? 16384 : static_cast<int64_t>(r.rlim_max / 4);
    return std::clamp<int64_t>(quarter, 256, 16384);
  }();
  return target;
}

// Live dentries in the sentry, and the count at which the next lookup prunes the cache.
std::atomic<int64_t> g_dentries{0};
std::atomic<int64_t> g_prune_at{0};
std::atomic<bool> g_pruning{false};
// Deeper trees are pruned only down to here, so that pruning keeps a bounded stack.
constexpr int kMaxPruneDepth = 256;

}  // namespace

Dentry::Dentry(RefPtr<Dentry> parent, std::string name, RefPtr<Inode> inode)
    : parent_(std::move(parent)), name_(std::move(name)), inode_(std::move(inode)) {
  g_dentries.fetch_add(1, std::memory_order_relaxed);
}

Dentry::~Dentry() { g_dentries.fetch_sub(1, std::memory_order_relaxed); }

void Dentry::MaybePrune() {
  int64_t limit = std::max(DentryCacheTarget(), g_prune_at.load(std::memory_order_relaxed));
  if (g_dentries.load(std::memory_order_relaxed) <= limit) return;
  if (g_pruning.exchange(true)) return;  // another thread is at it
  RefPtr<Dentry> root(this);
  while (RefPtr<Dentry> up = root->parent()) root = std::move(up);
  root->PruneUnused();
  // If most of the cache is in use, wait for it to double before trying again, so that
  // pruning stays a small share of the lookups.
  g_prune_at.store(2 * g_dentries.load(std::memory_order_relaxed), std::memory_order_relaxed);
  g_pruning.store(false);
}

size_t Dentry::PruneUnused() {
  absl::MutexLock l(&mu_);
  return PruneUnusedLocked(0);
}

size_t Dentry::PruneUnusedLocked(int depth) {
  size_t n = 0;
  for (auto it = children_.begin(); it != children_.end();) {
    Dentry* c = it->second.get();
    bool unused;
    {
      // Parent before child, as everywhere. With both locks held nobody can take the child
      // from the cache, so a count of one (the cache's) cannot grow meanwhile.
      absl::MutexLock cl(&c->mu_);
      if (depth < kMaxPruneDepth) n += c->PruneUnusedLocked(depth + 1);
      unused = c->children_.empty() && c->RefCount() == 1 && !c->inode_->watches() &&
               !c->inode_->IsExecuting();
    }
    if (unused) {
      // Freed at once, so that its parent's count drops too. Its end may release the inode,
      // which takes filesystem locks: those come after dentry locks.
      ++generation_;
      it = children_.erase(it);
      n++;
    } else {
      ++it;
    }
  }
  return n;
}

std::string Dentry::name() const {
  absl::MutexLock l(&mu_);
  return name_;
}

RefPtr<Dentry> Dentry::parent() const {
  absl::MutexLock l(&mu_);
  return parent_;
}

RefPtr<Dentry> Dentry::CachedChild(std::string_view name) {
  absl::MutexLock l(&mu_);
  auto it = children_.find(name);
  return it == children_.end() ? nullptr : it->second;
}

// TODO(#3): the cache is never evicted while a tree is in use, so it grows with every name
// looked up (and hostfs keeps one O_PATH fd per cached directory).
Result<RefPtr<Dentry>> Dentry::Child(std::string_view name) {
  if (!inode_->CacheLookups()) {
    // Only mountpoints are cached here (Pin).
    if (RefPtr<Dentry> pinned = CachedChild(name)) return pinned;
    return MakeRef<Dentry>(RefPtr<Dentry>(this), std::string(name), TRY(inode_->Lookup(name)));
  }
  // The lookup may do host I/O (hostfs, overlay), so it runs without the dentry lock. If the
  // children changed meanwhile (an unlink or rename of this very name may have raced with it),
  // what it found may be stale: look again rather than cache it.
  for (int attempt = 0;; ++attempt) {
    uint64_t generation;
    {
      absl::MutexLock l(&mu_);
      auto it = children_.find(name);
      if (it != children_.end()) return it->second;
      generation = generation_;
    }
    RefPtr<Inode> inode = TRY(inode_->Lookup(name));
    auto d = MakeRef<Dentry>(RefPtr<Dentry>(this), std::string(name), std::move(inode));
    absl::ReleasableMutexLock l(&mu_);
    auto it = children_.find(name);
    if (it != children_.end()) return it->second;
    if (generation_ != generation && attempt < 3) continue;
    // After a few contended attempts the result is still a correct answer for this walk; it is
    // just not cached.
    if (generation_ != generation) return d;
    children_.emplace(std::string(name), d);
    l.Release();
    MaybePrune();
    return d;
  }
}

RefPtr<Dentry> Dentry::AddChild(std::string_view name, RefPtr<Inode> inode) {
  auto d = MakeRef<Dentry>(RefPtr<Dentry>(this), std::string(name), std::move(inode));
  RefPtr<Dentry> old;  // dropped after the lock: it may be the last reference
  {
    absl::MutexLock l(&mu_);
    ++generation_;
    auto [it, inserted] = children_.try_emplace(std::string(name), d);
    if (!inserted) {
      old = std::move(it->second);
      it->second = d;
    }
  }
  return d;
}

void Dentry::Pin() {
  // Every dentry on the way up: under a filesystem that does not cache lookups, each walk makes
  // new ones, which would not lead to this one.
  for (RefPtr<Dentry> d(this);;) {
    RefPtr<Dentry> parent;
    std::string name;
    {
      absl::MutexLock l(&d->mu_);
      parent = d->parent_;
      name = d->name_;
    }
    if (!parent) return;
    {
      absl::MutexLock l(&parent->mu_);
      auto [it, inserted] = parent->children_.try_emplace(std::move(name), d);
      // Already there: the rest of the way up is too.
      if (!inserted) return;
    }
    d = parent;
  }
}

void Dentry::DropChild(std::string_view name) {
  RefPtr<Dentry> old;  // dropped after the lock: it may be the last reference
  absl::MutexLock l(&mu_);
  ++generation_;
  auto it = children_.find(name);
  if (it == children_.end()) return;
  old = std::move(it->second);
  children_.erase(it);
}

void Dentry::Move(const RefPtr<Dentry>& d, const RefPtr<Dentry>& new_parent,
                  std::string_view new_name) {
  // Renames are serialized by the VFS rename lock, so the three steps below need not be atomic
  // with respect to each other; each lock is taken alone, which keeps the parent-before-child
  // order trivially.
  RefPtr<Dentry> old_parent;
  std::string old_name;
  {
    absl::MutexLock l(&d->mu_);
    old_parent = d->parent_;
    old_name = d->name_;
  }
  RefPtr<Dentry> replaced;
  if (old_parent) {
    absl::MutexLock l(&old_parent->mu_);
    ++old_parent->generation_;
    auto it = old_parent->children_.find(old_name);
    if (it != old_parent->children_.end() && it->second == d) old_parent->children_.erase(it);
  }
  {
    absl::MutexLock l(&new_parent->mu_);
    ++new_parent->generation_;
    auto [it, inserted] = new_parent->children_.try_emplace(std::string(new_name), d);
    if (!inserted && it->second != d) {
      replaced = std::move(it->second);
      it->second = d;
    }
  }
  if (replaced) replaced->set_deleted();
  RefPtr<Dentry> parent = new_parent;
  {
    absl::MutexLock l(&d->mu_);
    d->parent_.swap(parent);  // the old parent reference now drops outside the lock
    d->name_ = std::string(new_name);
  }
}

void Dentry::Exchange(const RefPtr<Dentry>& a, const RefPtr<Dentry>& b) {
  // Serialized by the VFS rename lock like Move, so each lock is again taken alone.
  RefPtr<Dentry> a_parent, b_parent;
  std::string a_name, b_name;
  {
    absl::MutexLock l(&a->mu_);
    a_parent = a->parent_;
    a_name = a->name_;
  }
  {
    absl::MutexLock l(&b->mu_);
    b_parent = b->parent_;
    b_name = b->name_;
  }
  // Both names exist after an exchange, so each parent's entry is set outright rather than
  // conditionally as in Move: whatever was cached there (normally the other dentry itself)
  // no longer describes that name. Replaced dentries drop after the locks.
  RefPtr<Dentry> replaced_a, replaced_b;
  // The caller holds parent.mu_; the assertion tells the thread-safety analysis so, which it
  // cannot see through a lambda.
  auto put = [](Dentry& parent, const std::string& name, const RefPtr<Dentry>& d,
                RefPtr<Dentry>* replaced) {
    parent.mu_.AssertHeld();
    ++parent.generation_;
    auto [it, inserted] = parent.children_.try_emplace(name, d);
    if (!inserted) {
      *replaced = std::move(it->second);
      it->second = d;
    }
  };
  if (a_parent && a_parent == b_parent) {
    absl::MutexLock l(&a_parent->mu_);
    put(*a_parent, a_name, b, &replaced_a);
    put(*a_parent, b_name, a, &replaced_b);
  } else {
    if (a_parent) {
      absl::MutexLock l(&a_parent->mu_);
      put(*a_parent, a_name, b, &replaced_a);
    }
    if (b_parent) {
      absl::MutexLock l(&b_parent->mu_);
      put(*b_parent, b_name, a, &replaced_b);
    }
  }
  {
    absl::MutexLock l(&a->mu_);
    a->parent_ = b_parent;
    a->name_ = b_name;
  }
  {
    absl::MutexLock l(&b->mu_);
    b->parent_ = a_parent;
    b->name_ = a_name;
  }
}

bool Dentry::deleted() const {
  absl::MutexLock l(&mu_);
  return deleted_;
}

void Dentry::set_deleted() {
  absl::MutexLock l(&mu_);
  deleted_ = true;
}

void Dentry::PruneTree() {
  // Iterative, so that a deep tree does not exhaust the stack.
  std::vector<RefPtr<Dentry>> pending{RefPtr<Dentry>(this)};
  while (!pending.empty()) {
    RefPtr<Dentry> d = std::move(pending.back());
    pending.pop_back();
    std::map<std::string, RefPtr<Dentry>, std::less<>> children;
    {
      absl::MutexLock l(&d->mu_);
      ++d->generation_;
      children.swap(d->children_);
    }
    for (auto& [name, child] : children) pending.push_back(std::move(child));
  }
}

// ---- Mounts ----

MountNamespace::MountNamespace(RefPtr<Mount> root) : root_(std::move(root)) {
  absl::MutexLock l(&mu_);
  mounts_.push_back(root_);
  next_id_ = root_->id() + 1;
}

MountNamespace::~MountNamespace() {
  std::vector<RefPtr<Mount>> mounts;
  {
    absl::MutexLock l(&mu_);
    mounts.swap(mounts_);
  }
  for (const RefPtr<Mount>& m : mounts) m->root()->PruneTree();
}

Path MountNamespace::Root() const { return Path{root_, root_->root()}; }

Result<void> MountNamespace::AddMount(const Path& at, RefPtr<Mount> m) {
  // A directory goes on a directory; a file (bind-mounted, like /etc/resolv.conf in a
  // container) on a file. Mixing them is ENOTDIR, as in do_add_mount/graft_tree.
  Stat st = TRY(at.dentry->inode()->GetStat());
  if (S_ISDIR(st.mode) != S_ISDIR(TRY(m->root()->inode()->GetStat()).mode)) {
    return Errno(ENOTDIR);
  }
  at.dentry->Pin();
  absl::MutexLock l(&mu_);
  // A mount on a path that already has one stacks on top: `at` is then the root of the upper
  // mount (path resolution crossed into it), so MountAt finds the chain one step at a time.
  m->parent_ = at.mount;
  m->mountpoint_ = at.dentry;
  mounts_.push_back(std::move(m));
  return Ok();
}

RefPtr<Mount> MountNamespace::MountAt(Mount* parent, Dentry* d) const {
  absl::MutexLock l(&mu_);
  // The newest mount on a mountpoint hides older ones there, so search from the end.
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
    if ((*it)->parent_.get() == parent && (*it)->mountpoint_.get() == d) return *it;
  }
  return nullptr;
}

std::vector<RefPtr<Mount>> MountNamespace::Mounts() const {
  absl::MutexLock l(&mu_);
  return mounts_;
}

int MountNamespace::NextMountId() {
  absl::MutexLock l(&mu_);
  return next_id_++;
}

// ---- FileDescription ----

namespace {
// Flags open(2) consumes and does not keep in f_flags (do_dentry_open, and O_CLOEXEC which
// belongs to the fd).
constexpr int kOpenOnlyFlags = O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC;
constexpr int kSettableFlags = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME;
}  // namespace

FileDescription::FileDescription(int flags, Path path)
    : flags_(flags & ~kOpenOnlyFlags), path_(std::move(path)) {
  if (!path_.dentry) return;
  path_.dentry->inode()->AddOpen();
  if (writable()) path_.dentry->inode()->AddWriter();
}

void FileDescription::CountAsOpened() {
  Inode* i = inode();
  if (!i || counted_as_opened_ || (flags() & O_PATH)) return;
  counted_as_opened_ = true;
  i->AddOpened(writable());
}

FileDescription::~FileDescription() {
  // The last reference to an open file description takes its flock and OFD locks along
  // (locks_remove_file).
  if (Inode* i = inode()) {
    if (FileLocks* locks = i->LocksIfAny()) {
      locks->ReleaseFlock(this);
      locks->ReleaseRecords(this);
    }
    // And its lease (locks_remove_lease), which wakes whoever waits for it.
    ReleaseLeases(*this);
  }
  delete async_.load(std::memory_order_acquire);
  // fsnotify_close(): the last reference to an open file is its close.
  if (!path_.dentry) return;
  Inode& inode = *path_.dentry->inode();
  if (!(flags() & O_PATH)) {
    NotifyDentry(*path_.dentry, writable() ? IN_CLOSE_WRITE : IN_CLOSE_NOWRITE);
  }
  if (writable()) inode.RemoveWriter();
  if (counted_as_opened_) inode.RemoveOpened(writable());
  if (inode.RemoveOpen() == 0) NotifyLastClose(inode);
}

Result<void> FileDescription::Allocate(int, int64_t, int64_t) { return Errno(EOPNOTSUPP); }
Result<void> FileDescription::AddSeals(uint32_t) { return Errno(EINVAL); }

Result<size_t> FileDescription::Read(Task&, std::span<uint8_t>) { return Errno(EINVAL); }
Result<size_t> FileDescription::Write(Task&, std::span<const uint8_t>) { return Errno(EINVAL); }
Result<size_t> FileDescription::PRead(Task&, std::span<uint8_t>, int64_t) {
  return Errno(ESPIPE);
}
Result<size_t> FileDescription::PWrite(Task&, std::span<const uint8_t>, int64_t) {
  return Errno(ESPIPE);
}
Result<int64_t> FileDescription::Seek(int64_t, int) { return Errno(ESPIPE); }
Result<void> FileDescription::ReadDir(const std::function<bool(const DirEntry&, int64_t)>&) {
  return Errno(ENOTDIR);
}
Result<long> FileDescription::Ioctl(Task&, uint64_t, UserAddr) { return Errno(ENOTTY); }

Result<Stat> FileDescription::GetStat() {
  Inode* i = inode();
  if (!i) return Errno(EBADF);
  return i->GetStat();
}

Result<void> FileDescription::SetStat(const SetStatRequest& req) {
  Inode* i = inode();
  if (!i) return Errno(EBADF);
  return i->SetStat(req);
}

namespace {
std::atomic<void (*)(FileDescription*)> g_release_hook{nullptr};
}  // namespace

void FileDescription::SetReleaseHook(void (*hook)(FileDescription*)) { g_release_hook.store(hook); }

void FileDescription::OnLastRef() const {
  // __fput() ends the fasync registration first: its waiter sits on the file's queue, which
  // the subclass's destructor may free.
  if (FileAsync* a = AsyncIfAny()) a->Unregister();
  if (!watched_.load(std::memory_order_acquire)) return;
  if (auto hook = g_release_hook.load()) hook(const_cast<FileDescription*>(this));
}

std::optional<std::string> FileDescription::AnonymousName() {
  Inode* i = inode();
  return i ? i->AnonymousName() : std::nullopt;
}

FileAsync& FileDescription::Async() {
  FileAsync* a = async_.load(std::memory_order_acquire);
  if (a) return *a;
  auto* fresh = new FileAsync;
  if (async_.compare_exchange_strong(a, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread installed one first
  return *a;
}

void FileDescription::SetAsyncFlag(bool on) {
  if (on) {
    flags_.fetch_or(O_ASYNC, std::memory_order_relaxed);
  } else {
    flags_.fetch_and(~O_ASYNC, std::memory_order_relaxed);
  }
}

void FileDescription::SetStatusFlags(int flags) {
  int old = flags_.load(std::memory_order_relaxed);
  while (!flags_.compare_exchange_weak(old, (old & ~kSettableFlags) | (flags & kSettableFlags),
                                       std::memory_order_relaxed)) {
  }
}

// ---- SeekableFile ----

Result<size_t> SeekableFile::Read(Task& task, std::span<uint8_t> dst) {
  absl::MutexLock l(&offset_mu_);
  size_t n = TRY(PRead(task, dst, offset_));
  offset_ += static_cast<int64_t>(n);
  return n;
}

Result<size_t> SeekableFile::Write(Task& task, std::span<const uint8_t> src) {
  absl::MutexLock l(&offset_mu_);
  int64_t offset = offset_;
  if (flags() & O_APPEND) {
    // PWrite implementations also append under O_APPEND (Linux's pwrite does), so `offset` only
    // tells where the file position ends up. Two appenders racing through different
    // descriptions may leave this position short of the real end; the data itself is never lost.
    offset = TRY(GetStat()).size;
  }
  size_t n = TRY(PWrite(task, src, offset));
  offset_ = offset + static_cast<int64_t>(n);
  return n;
}

void SeekableFile::Unread(std::span<const uint8_t> data) {
  absl::MutexLock l(&offset_mu_);
  offset_ = std::max<int64_t>(0, offset_ - static_cast<int64_t>(data.size()));
}

Result<int64_t> SeekableFile::Seek(int64_t offset, int whence) {
  absl::MutexLock l(&offset_mu_);
  int64_t base;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = offset_;
      break;
    case SEEK_END:
      base = TRY(GetStat()).size;
      break;
    case SEEK_DATA:
    case SEEK_HOLE: {
      // Files are treated as all data up to the end, with the one implicit hole there
      // (generic_file_llseek_size).
      int64_t size = TRY(GetStat()).size;
      if (offset < 0 || offset >= size) return Errno(ENXIO);
      offset_ = whence == SEEK_DATA ? offset : size;
      return offset_;
    }
    default:
      return Errno(EINVAL);
  }
  int64_t result;
  // On 64-bit Linux an out-of-range position is EINVAL (vfs_setpos); EOVERFLOW is only for
  // 32-bit lseek.
  if (__builtin_add_overflow(base, offset, &result) || result < 0) return Errno(EINVAL);
  offset_ = result;
  return result;
}

// ---- DirectoryFile ----

Result<void> DirectoryFile::ReadDir(const std::function<bool(const DirEntry&, int64_t)>& emit) {
  absl::MutexLock l(&offset_mu_);
  // iterate_dir() refuses a directory that was removed.
  if (path().dentry->deleted()) return Errno(ENOENT);
  Inode* dir = inode();
  if (offset_ == 0) snapshot_ = TRY(dir->ReadDir());

  // Positions: 0 is ".", 1 is "..", 2 + i is snapshot_[i]. An entry's d_off is the position of
  // the next one, so telldir/seekdir round-trip.
  const int64_t total = 2 + static_cast<int64_t>(snapshot_.size());
  while (offset_ < total) {
    DirEntry dots;
    const DirEntry* e;
    if (offset_ < 2) {
      // ".." is the parent in the same filesystem; a filesystem root is its own parent, as in
      // Linux's dcache_readdir (crossing to the mountpoint is the path walk's business).
      RefPtr<Dentry> d = path().dentry;
      if (offset_ == 1) {
        if (RefPtr<Dentry> p = d->parent()) d = p;
      }
      dots.name = offset_ == 0 ? "." : "..";
      dots.ino = TRY(d->inode()->GetStat()).ino;
      dots.type = DT_DIR;
      e = &dots;
    } else {
      e = &snapshot_[offset_ - 2];
    }
    if (!emit(*e, offset_ + 1)) break;
    ++offset_;
  }
  return Ok();
}

Result<int64_t> DirectoryFile::Seek(int64_t offset, int whence) {
  absl::MutexLock l(&offset_mu_);
  int64_t result;
  switch (whence) {
    case SEEK_SET:
      result = offset;
      break;
    case SEEK_CUR:
      if (__builtin_add_overflow(offset_, offset, &result)) return Errno(EINVAL);
      break;
    default:
      // dcache_dir_lseek supports only SEEK_SET and SEEK_CUR.
      return Errno(EINVAL);
  }
  if (result < 0) return Errno(EINVAL);
  offset_ = result;
  // Rewinding re-reads the directory (rewinddir sees new entries).
  if (result == 0) snapshot_.clear();
  return result;
}

// ---- FsContext ----

RefPtr<FsContext> FsContext::Clone() const {
  absl::MutexLock l(&mu_);
  auto c = MakeRef<FsContext>(root_, cwd_);
  c->umask_.store(umask_.load());
  return c;
}

Path FsContext::root() const {
  absl::MutexLock l(&mu_);
  return root_;
}

Path FsContext::cwd() const {
  absl::MutexLock l(&mu_);
  return cwd_;
}

void FsContext::set_root(Path p) {
  absl::MutexLock l(&mu_);
  std::swap(root_, p);  // the old root drops after the lock
}

void FsContext::set_cwd(Path p) {
  absl::MutexLock l(&mu_);
  std::swap(cwd_, p);
}

}  // namespace moat::vfs
