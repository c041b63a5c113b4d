// The VFS: inodes, dentries, mounts, open file descriptions and path resolution (DESIGN.md
// section 6).
//
// Ownership:
//   - An Inode is a file as its filesystem knows it; reference-counted, owned by the dentries and
//     file descriptions that point at it (and by a filesystem's own directory tables, for tmpfs).
//   - A Dentry is a name in the tree: parent (strong ref), name, inode, and a cache of children.
//     The tree of dentries reachable from a mount's root is what path walks go through; `..`
//     follows `parent`. Every namespace change made through the VFS updates the cache, so it
//     stays correct within the sandbox.
//   - A Mount puts a filesystem's root dentry on a mountpoint (mount, dentry) of its parent. The
//     MountNamespace owns its mounts.
//   - A FileDescription is an open file: flags, offset, and the path it was opened by. FdTables
//     hold references to it; dup and fork share it.
//
// Lock order:
//   FileDescription::offset_mu_ (held across I/O at the file offset, like Linux's f_pos_lock)
//     the VFS rename lock (vfs.cc: serializes renames so ancestry checks hold)
//       MountNamespace::mu_
//       Dentry::mu_ (parent before child; never held across a call into an Inode)
//       filesystem locks (Inode implementations; overlay before its layers)
//         WaitQueue::mu_ (waitqueue.h)
//   FileLocks::mu_ (lock.h: advisory locks; never held across a call into an Inode)
//     the lock deadlock graph (lock.cc)
//       WaitQueue::mu_
//       inotify locks (inotify.h; the hooks run with no Dentry or filesystem lock held)
//   the lease table's lock (lease.h)
//     FileAsync::mu_ (fasync.h), then Kernel::mu_: break signals are sent under it
//   A file's WaitQueue::mu_ (and the file's own locks, which Notify runs under)
//     FileAsync::mu_, then Kernel::mu_: O_ASYNC signals are sent from Notify (fasync.h)
#ifndef MOAT_SENTRY_VFS_VFS_H_
#define MOAT_SENTRY_VFS_VFS_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"
#include "base/file_descriptor.h"
#include "base/ref_counted.h"
#include "base/user_addr.h"
#include "sentry/kernel/credentials.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {
class Task;
}

namespace moat::vfs {

using kernel::Credentials;
using kernel::EventMask;
using kernel::Task;

class Dentry;
class FileAsync;
class FileDescription;
class FileLocks;
class InodeWatches;
class Mount;
class MountNamespace;
struct Path;

// What stat(2) reports; the handlers turn it into struct stat or struct statx.
struct Stat {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;  // type and permission bits
  uint32_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  int64_t size = 0;
  int64_t blksize = 4096;
  int64_t blocks = 0;  // 512-byte units
  timespec atime{}, mtime{}, ctime{}, btime{};
};

// A change of attributes (chmod, chown, truncate, utimensat). Unset fields stay.
struct SetStatRequest {
  std::optional<uint32_t> mode;  // permission bits only (07777)
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<int64_t> size;
  std::optional<timespec> atime;  // tv_nsec may be UTIME_NOW
  std::optional<timespec> mtime;
  // Marks the change time even if nothing else changes (chown(2) with -1 for both ids). Any
  // other field, or a size that changes, marks it too.
  bool touch_ctime = false;
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  uint8_t type;  // DT_REG, DT_DIR, ...
};

// Makes a file type (S_IFMT bits) into a d_type.
uint8_t ModeToDirentType(uint32_t mode);
// The current time for file timestamps.
timespec Now();

// Whether `creds` may access a file with `stat` for `mask` (R_OK | W_OK | X_OK), with
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH as Linux applies them.
Result<void> CheckPermission(const Credentials& creds, const Stat& stat, int mask);

// Owner and mode of a new inode made by `creds` in a directory with attributes `dir` (Linux's
// inode_init_owner and mode_strip_sgid): the creator's fsuid; the directory's group if the
// directory is setgid (a new directory then inherits the bit), else the creator's fsgid.
void InitOwner(const Credentials& creds, const Stat& dir, uint32_t* mode, uint32_t* uid,
               uint32_t* gid);

// Linux's should_remove_suid() / setattr_should_drop_sgid(): the permission bits a regular file
// `stat` keeps when `creds` writes or truncates it, or nothing if none change. A writer without
// CAP_FSETID drops S_ISUID, and S_ISGID when it means set-group-ID on execution (S_IXGRP) or
// when the writer is not in the file's group.
std::optional<uint32_t> ModeAfterWrite(const Credentials& creds, const Stat& stat);

// file_remove_privs(): applies ModeAfterWrite to the file `file` before a write. Cheap for
// writers with CAP_FSETID, which keep everything.
Result<void> RemovePrivs(const Credentials& creds, FileDescription& file);

class Inode : public RefCounted<Inode> {
 public:
  // Frees the lock table and the inotify watch table, if they were ever made.
  virtual ~Inode();

  virtual Result<Stat> GetStat() = 0;
  // Default: EPERM.
  virtual Result<void> SetStat(const SetStatRequest& req);

  // Directory operations. Defaults: ENOTDIR. `name` is one component, never "." or "..".
  virtual Result<RefPtr<Inode>> Lookup(std::string_view name);
  virtual Result<std::vector<DirEntry>> ReadDir();
  virtual Result<RefPtr<Inode>> Create(std::string_view name, uint32_t mode,
                                       const Credentials& creds);
  virtual Result<RefPtr<Inode>> MakeDir(std::string_view name, uint32_t mode,
                                        const Credentials& creds);
  // Device nodes, FIFOs and sockets; `mode` carries the type.
  virtual Result<RefPtr<Inode>> MakeNode(std::string_view name, uint32_t mode, uint64_t rdev,
                                         const Credentials& creds);
  virtual Result<RefPtr<Inode>> MakeSymlink(std::string_view name, std::string_view target,
                                            const Credentials& creds);
  virtual Result<void> Link(std::string_view name, const RefPtr<Inode>& target);
  virtual Result<void> Unlink(std::string_view name);
  virtual Result<void> RemoveDir(std::string_view name);
  // Moves `name` to `new_dir`/`new_name` within one filesystem; replaces a compatible target.
  // `replaces` says whether the VFS found a target: a filesystem whose truth lives elsewhere
  // (the gofer's host directory) must then not replace a file the sandbox did not know of.
  virtual Result<void> Rename(std::string_view name, Inode& new_dir, std::string_view new_name,
                              bool replaces);
  // renameat2's RENAME_EXCHANGE: atomically swaps what `name` here and `other_name` in
  // `other_dir` (of the same filesystem) refer to. Both must exist; they may be of different
  // types. The VFS has done the permission, ancestry and mountpoint checks and handles the
  // dentry cache. Default: EINVAL, what Linux's rename returns for a filesystem that does not
  // support the flag.
  virtual Result<void> Exchange(std::string_view name, Inode& other_dir,
                                std::string_view other_name);

  // open(2)'s O_TMPFILE in this directory: a regular file with no name and no links, owned as
  // Create's. `linkable` (no O_EXCL) lets linkat give it a name later (set_linkable). Default:
  // EOPNOTSUPP, as for a filesystem without a tmpfile operation.
  virtual Result<RefPtr<Inode>> CreateTmpfile(uint32_t mode, const Credentials& creds,
                                              bool linkable);

  // Symlinks. Default: EINVAL.
  virtual Result<std::string> ReadLink();

  // Opens the file. `flags` are open(2)'s (O_ACCMODE, O_APPEND, O_TRUNC, O_NONBLOCK...); the VFS
  // has already checked permissions and the file type, and handled O_PATH and directories.
  // `path` is what it was opened by.
  virtual Result<RefPtr<FileDescription>> Open(int flags, const Path& path) = 0;

  // Linux's i_writecount: a file open for writing cannot be executed, and a file being executed
  // cannot be opened for writing (ETXTBSY). Writers are counted by FileDescription; executions by
  // the memory manager that maps the program.
  void AddWriter() { writers_.fetch_add(1); }
  void RemoveWriter() { writers_.fetch_sub(1); }
  bool HasWriters() const { return writers_.load() > 0; }
  // The descriptions open(2) made of this file (FileDescription::CountAsOpened), open for
  // reading only and open for writing: each counted once, even where a filesystem wraps a
  // description of a layer's file (overlay). Leases (lease.h) decide with them, as Linux does
  // with i_readcount and i_writecount.
  void AddOpened(bool writer) { (writer ? opened_writers_ : opened_readers_).fetch_add(1); }
  void RemoveOpened(bool writer) { (writer ? opened_writers_ : opened_readers_).fetch_sub(1); }
  int OpenedReaders() const { return opened_readers_.load(); }
  int OpenedWriters() const { return opened_writers_.load(); }
  void AddExecutor() { executors_.fetch_add(1); }
  void RemoveExecutor() { executors_.fetch_sub(1); }
  bool IsExecuting() const { return executors_.load() > 0; }
  // Open file descriptions of this inode, counted by FileDescription: a removed file's inotify
  // watches hear IN_DELETE_SELF when the last one closes.
  void AddOpen() { opens_.fetch_add(1, std::memory_order_relaxed); }
  int RemoveOpen() { return opens_.fetch_sub(1, std::memory_order_acq_rel) - 1; }
  int OpenCount() const { return opens_.load(std::memory_order_acquire); }

  // Linux's I_LINKABLE: a file made by O_TMPFILE without O_EXCL, which link(2) may give a first
  // name although it has no links. Cleared by that link.
  bool linkable() const { return linkable_.load(std::memory_order_acquire); }
  void set_linkable(bool v) { linkable_.store(v, std::memory_order_release); }

  // For /proc/self/fd and readlink of special files: a name that is not a path ("pipe:[123]").
  virtual std::optional<std::string> AnonymousName() { return std::nullopt; }

  // For /proc's "magic links" (/proc/self/fd/N, /proc/self/cwd, /proc/self/exe): the location
  // the link stands for. A path walk that follows such a symlink jumps there instead of reading
  // the link (which may be "pipe:[123]"). Default: none, an ordinary symlink.
  virtual std::optional<Path> JumpLink();

  // Extended attributes, by full name ("user.mime_type"). The VFS (xattr.h) has checked the
  // name, the namespace rules and the caller's permissions; `flags` are XATTR_CREATE and
  // XATTR_REPLACE. Defaults: EOPNOTSUPP (ENOTSUP), as Linux answers for a filesystem without
  // extended attributes, whose list is empty.
  virtual Result<std::string> GetXattr(std::string_view name);
  virtual Result<void> SetXattr(std::string_view name, std::string_view value, int flags);
  virtual Result<std::vector<std::string>> ListXattr();
  virtual Result<void> RemoveXattr(std::string_view name);

  // The advisory locks on this file (lock.h), made on first use.
  FileLocks& Locks();
  // The locks if any were ever taken: the close paths use it to skip files never locked.
  FileLocks* LocksIfAny() const { return locks_.load(std::memory_order_acquire); }
  // inotify (inotify.h): the watches on this inode, or null if it was never watched. The table
  // is made on the first watch and kept until the inode goes.
  InodeWatches* watches() const { return watches_.load(std::memory_order_acquire); }
  InodeWatches& EnsureWatches();

  // connect(2) to this socket file when no socket of the sandbox is bound to it
  // (sentry/socket/unix/): a filesystem whose files are the host's (the gofer's) connects a
  // new host AF_UNIX socket of `type` to it and returns it, non-blocking. Default:
  // ECONNREFUSED, what Linux answers for a socket file nobody listens on.
  virtual Result<FileDescriptor> ConnectHostSocket(int type);

  // Whether the dentry cache may keep what Lookup returns. Filesystems whose names come and go
  // on their own (/proc/<pid>) say no, so that every walk asks Lookup again.
  virtual bool CacheLookups() const { return true; }
 private:
  std::atomic<int> writers_{0};
  std::atomic<int> opened_readers_{0};
  std::atomic<int> opened_writers_{0};
  std::atomic<int> executors_{0};
  std::atomic<bool> linkable_{false};
  std::atomic<FileLocks*> locks_{nullptr};  // owned
  std::atomic<int> opens_{0};
  std::atomic<InodeWatches*> watches_{nullptr};
};

class Dentry : public RefCounted<Dentry> {
 public:
  Dentry(RefPtr<Dentry> parent, std::string name, RefPtr<Inode> inode);

  // The name and parent change on rename, so they are returned by value under the lock.
  std::string name() const;
  RefPtr<Dentry> parent() const;  // null for a filesystem root
  const RefPtr<Inode>& inode() const { return inode_; }

  // The cached child `name`, or null.
  RefPtr<Dentry> CachedChild(std::string_view name);
  // The child `name`: from the cache, or looked up in the inode and cached.
  Result<RefPtr<Dentry>> Child(std::string_view name);
  // Records `inode` as child `name` (after a create), replacing any cached entry.
  RefPtr<Dentry> AddChild(std::string_view name, RefPtr<Inode> inode);
  // Forgets child `name` (after unlink or rename).
  void DropChild(std::string_view name);
  // Keeps this dentry in its parent's child cache, and its parent in its own and so on up, also
  // where the filesystem does not cache lookups (procfs, sysfs): a mount on it must be found by
  // every later walk (AddMount pins its mountpoint).
  void Pin();
  // Moves this dentry under `new_parent` as `new_name` (after a rename).
  static void Move(const RefPtr<Dentry>& d, const RefPtr<Dentry>& new_parent,
                   std::string_view new_name);
  // Swaps the places of `a` and `b` in the tree: each takes the other's parent and name (after
  // a RENAME_EXCHANGE, like Linux's d_exchange). A directory's ".." follows its new parent.
  static void Exchange(const RefPtr<Dentry>& a, const RefPtr<Dentry>& b);
  // Whether the name was removed (unlinked, or replaced by rename).
  bool deleted() const;
  void set_deleted();
  // Empties the child cache of this dentry and of everything below it. Children hold their
  // parent and the cache holds the children, so a tree nobody uses any more (an unmounted
  // filesystem) is only freed once its caches are emptied. Dentries still in use elsewhere
  // survive; lookups simply fill the cache again.
  void PruneTree();
  // Drops, from the cache below this dentry, every dentry that nothing but the cache holds
  // (no open file, cwd, mount or cached child of its own; its inode not watched or executed),
  // bottom-up. Returns how many went. A later walk looks them up again.
  size_t PruneUnused();
  ~Dentry();

 private:
  mutable absl::Mutex mu_;
  RefPtr<Dentry> parent_ ABSL_GUARDED_BY(mu_);
  std::string name_ ABSL_GUARDED_BY(mu_);
  RefPtr<Inode> inode_;
  std::map<std::string, RefPtr<Dentry>, std::less<>> children_ ABSL_GUARDED_BY(mu_);
  // Bumped by every change to children_, so that a lookup that ran unlocked while a name was
  // removed or renamed does not cache what it found.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool deleted_ ABSL_GUARDED_BY(mu_) = false;

  // Bounds the cache: after a lookup adds a child, prunes this dentry's filesystem tree if the
  // sandbox holds more dentries than the cache should keep. Each cached dentry of a gofer mount
  // holds a host fd in the gofer, so an unbounded cache would exhaust them.
  void MaybePrune();
  size_t PruneUnusedLocked(int depth) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

// Mount flags kept by the VFS (MS_* values).
struct MountFlags {
  bool readonly = false;
  bool nosuid = false;
  bool nodev = false;
  bool noexec = false;
};

class Mount : public RefCounted<Mount> {
 public:
  Mount(int id, std::string fstype, std::string source, RefPtr<Dentry> root, MountFlags flags)
      : id_(id), fstype_(std::move(fstype)), source_(std::move(source)), root_(std::move(root)),
        flags_(flags) {}
  int id() const { return id_; }
  const std::string& fstype() const { return fstype_; }
  const std::string& source() const { return source_; }
  const RefPtr<Dentry>& root() const { return root_; }
  const MountFlags& flags() const { return flags_; }
  // Where it is mounted: null for the namespace root.
  Mount* parent() const { return parent_.get(); }
  Dentry* mountpoint() const { return mountpoint_.get(); }

 private:
  friend class MountNamespace;
  int id_;
  std::string fstype_;
  std::string source_;
  RefPtr<Dentry> root_;
  MountFlags flags_;
  RefPtr<Mount> parent_;
  RefPtr<Dentry> mountpoint_;
};

// A (mount, dentry) pair: a location in the mount tree.
struct Path {
  RefPtr<Mount> mount;
  RefPtr<Dentry> dentry;
  bool valid() const { return bool(dentry); }
  friend bool operator==(const Path& a, const Path& b) {
    return a.mount == b.mount && a.dentry == b.dentry;
  }
};

// A device number for a filesystem without a backing device (major 0, like Linux's anonymous
// block devices): tmpfs, overlay, pipefs and hostfs get theirs here, so st_dev tells them apart.
uint64_t NewAnonDev();

class MountNamespace : public RefCounted<MountNamespace> {
 public:
  explicit MountNamespace(RefPtr<Mount> root);
  // Prunes the dentry caches of its mounts (Dentry::PruneTree) so that their trees can go.
  ~MountNamespace();
  Path Root() const;
  // Mounts `m` on `at`: a directory on a directory, or a file on a file (ENOTDIR otherwise).
  Result<void> AddMount(const Path& at, RefPtr<Mount> m);
  // The mount whose mountpoint is `d` in `parent`, or null.
  RefPtr<Mount> MountAt(Mount* parent, Dentry* d) const;
  // Every mount, parents first (for /proc/self/mounts).
  std::vector<RefPtr<Mount>> Mounts() const;
  int NextMountId();

 private:
  mutable absl::Mutex mu_;
  RefPtr<Mount> root_;
  std::vector<RefPtr<Mount>> mounts_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// An open file. Subclasses override what their kind of file supports; the defaults return the
// errno Linux returns for a file that does not support the operation.
class FileDescription : public RefCounted<FileDescription> {
 public:
  FileDescription(int flags, Path path);
  virtual ~FileDescription();

  // Sequential I/O at the file offset (or ignoring it, for streams). May block (pipes, ttys).
  virtual Result<size_t> Read(Task& task, std::span<uint8_t> dst);
  virtual Result<size_t> Write(Task& task, std::span<const uint8_t> src);
  // Positional I/O. Default: ESPIPE.
  virtual Result<size_t> PRead(Task& task, std::span<uint8_t> dst, int64_t offset);
  virtual Result<size_t> PWrite(Task& task, std::span<const uint8_t> src, int64_t offset);
  // Default: ESPIPE.
  virtual Result<int64_t> Seek(int64_t offset, int whence);
  // Directory entries from the current position; advances it. Default: ENOTDIR.
  // `emit` returns false when the caller's buffer is full (the entry is not consumed).
  virtual Result<void> ReadDir(const std::function<bool(const DirEntry&, int64_t next)>& emit);
  virtual Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg);
  virtual Result<Stat> GetStat();
  virtual Result<void> SetStat(const SetStatRequest& req);
  // fsync(2). Default: EINVAL, as for a file without an fsync operation (pipes, devices).
  virtual Result<void> Sync() { return Errno(EINVAL); }
  // poll(2) readiness and the queue that announces changes to it.
  virtual EventMask Readiness(EventMask mask) { return mask & (kernel::kEventIn | kernel::kEventOut); }
  virtual kernel::WaitQueue* Queue() { return nullptr; }
  // A host fd whose mmap maps this file (for file mappings). Default: ENODEV.
  virtual Result<int> HostMapFd() { return Errno(ENODEV); }
  // Whether a write that fails with EPIPE also raises SIGPIPE (pipes, sockets).
  virtual bool SendsSigpipe() const { return false; }
  // Gives back the last `data.size()` bytes a Read returned, which the application could not
  // receive (its buffer faulted): Linux consumes only what reached user memory. Regular files
  // move the offset back; pipes put the bytes back in front. Default: the bytes are lost.
  virtual void Unread(std::span<const uint8_t> data) { (void)data; }
  // Finishes an open that must wait for something (a FIFO waits for its other end). open(2)
  // calls it with the opening task right after OpenPath/OpenAt; it may block and return
  // ERESTARTSYS, in which case the open fails and the description is dropped.
  virtual Result<void> WaitOpen(Task&) { return Ok(); }
  // Whether mmap of this file gives anonymous memory (/dev/zero).
  virtual bool MapsAnonymous() const { return false; }
  // The name /proc/self/fd shows for a file without a path.
  virtual std::optional<std::string> AnonymousName();
  // fallocate(2) with `mode` (FALLOC_FL_*), once vfs_fallocate's checks have passed (a regular
  // file open for writing, a valid range and mode). Default: EOPNOTSUPP, as for a filesystem
  // without a fallocate operation.
  virtual Result<void> Allocate(int mode, int64_t offset, int64_t len);
  // memfd seals (F_GET_SEALS / F_ADD_SEALS), which Linux keeps for tmpfs files only. Defaults:
  // EINVAL, as for any other file.
  virtual Result<uint32_t> GetSeals() { return Errno(EINVAL); }
  virtual Result<void> AddSeals(uint32_t seals);

  // Whether O_ASYNC makes this kind of file signal its owner when its Queue() is notified
  // (Linux's f_op->fasync: pipes, ttys, inotify). Default: false; F_SETFL then leaves O_ASYNC
  // off, as Linux does for eventfd or regular files.
  virtual bool SupportsAsync() const { return false; }

  int flags() const { return flags_.load(std::memory_order_relaxed); }
  // F_SETFL: only O_APPEND, O_NONBLOCK, O_DIRECT and O_NOATIME change. O_ASYNC is the
  // fasync registration's (fasync.h), which sets it with SetAsyncFlag.
  void SetStatusFlags(int flags);
  void SetAsyncFlag(bool on);
  // The owner, the F_SETSIG signal and the O_ASYNC registration (fasync.h), made on first use
  // and kept until the description goes.
  FileAsync& Async();
  FileAsync* AsyncIfAny() const { return async_.load(std::memory_order_acquire); }
  // Counts this description in its inode's opened readers or writers (Inode::AddOpened) until
  // it goes: open(2)'s VFS half calls it on the description it returns.
  void CountAsOpened();
  bool counted_as_opened() const { return counted_as_opened_; }
  // Access mode 3 (O_WRONLY | O_RDWR) is checked for read and write permission at open but
  // gives neither (Linux's OPEN_FMODE), as O_PATH does.
  bool readable() const {
    const int acc = flags() & O_ACCMODE;
    return (acc == O_RDONLY || acc == O_RDWR) && !(flags() & O_PATH);
  }
  bool writable() const {
    const int acc = flags() & O_ACCMODE;
    return (acc == O_WRONLY || acc == O_RDWR) && !(flags() & O_PATH);
  }
  const Path& path() const { return path_; }
  Inode* inode() const { return path_.dentry ? path_.dentry->inode().get() : nullptr; }

  // Release watchers: epoll keeps files in its interest lists without holding a reference, and
  // forgets them when the last reference goes (Linux's eventpoll_release). OnLastRef runs then,
  // before any destructor, so the file and its Queue() are still whole; it calls the hook that
  // SetReleaseHook installed for every file marked with MarkWatched.
  void MarkWatched() { watched_.store(true, std::memory_order_release); }
  void OnLastRef() const;
  static void SetReleaseHook(void (*hook)(FileDescription*));

 protected:
  absl::Mutex offset_mu_;
  int64_t offset_ ABSL_GUARDED_BY(offset_mu_) = 0;

 private:
  std::atomic<int> flags_;
  Path path_;
  std::atomic<bool> watched_{false};
  std::atomic<FileAsync*> async_{nullptr};  // owned
  bool counted_as_opened_ = false;
};

// A FileDescription for a file with positional I/O (regular files): Read/Write go through
// PRead/PWrite at the shared offset, O_APPEND included.
class SeekableFile : public FileDescription {
 public:
  using FileDescription::FileDescription;
  Result<size_t> Read(Task& task, std::span<uint8_t> dst) override;
  Result<size_t> Write(Task& task, std::span<const uint8_t> src) override;
  Result<int64_t> Seek(int64_t offset, int whence) override;
  void Unread(std::span<const uint8_t> data) override;
  Result<void> Sync() override { return Ok(); }
};

// A FileDescription over a directory inode: getdents from Inode::ReadDir with "." and "..".
class DirectoryFile : public FileDescription {
 public:
  using FileDescription::FileDescription;
  Result<void> ReadDir(const std::function<bool(const DirEntry&, int64_t)>& emit) override;
  Result<int64_t> Seek(int64_t offset, int whence) override;
  Result<void> Sync() override { return Ok(); }
  Result<size_t> Read(Task&, std::span<uint8_t>) override { return Errno(EISDIR); }
  Result<size_t> PRead(Task&, std::span<uint8_t>, int64_t) override { return Errno(EISDIR); }

 private:
  std::vector<DirEntry> snapshot_ ABSL_GUARDED_BY(offset_mu_);
};

// A FileDescription for O_PATH opens: only fstat, fchdir and *at use it.
class PathFile : public FileDescription {
 public:
  using FileDescription::FileDescription;
  Result<size_t> Read(Task&, std::span<uint8_t>) override { return Errno(EBADF); }
  Result<size_t> Write(Task&, std::span<const uint8_t>) override { return Errno(EBADF); }
  Result<size_t> PRead(Task&, std::span<uint8_t>, int64_t) override { return Errno(EBADF); }
  Result<size_t> PWrite(Task&, std::span<const uint8_t>, int64_t) override { return Errno(EBADF); }
  Result<int64_t> Seek(int64_t, int) override { return Errno(EBADF); }
  Result<void> ReadDir(const std::function<bool(const DirEntry&, int64_t)>&) override {
    return Errno(EBADF);
  }
  Result<long> Ioctl(Task&, uint64_t, UserAddr) override { return Errno(EBADF); }
  Result<void> SetStat(const SetStatRequest&) override { return Errno(EBADF); }
  Result<int> HostMapFd() override { return Errno(EBADF); }
};

// ---- Path resolution ----

// Where a task resolves paths from: its root, its cwd, its umask. Shared by CLONE_FS.
class FsContext : public RefCounted<FsContext> {
 public:
  FsContext(Path root, Path cwd) : root_(std::move(root)), cwd_(std::move(cwd)) {}
  RefPtr<FsContext> Clone() const;
  Path root() const;
  Path cwd() const;
  void set_root(Path p);
  void set_cwd(Path p);
  uint32_t umask() const { return umask_.load(); }
  uint32_t exchange_umask(uint32_t m) { return umask_.exchange(m & 0777); }

 private:
  mutable absl::Mutex mu_;
  Path root_ ABSL_GUARDED_BY(mu_);
  Path cwd_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint32_t> umask_{022};
};

inline constexpr int kMaxSymlinks = 40;

// What a path walk needs to know about the walker: who it is and where its root is.
struct ResolveContext {
  const Credentials* creds;
  Path root;
  MountNamespace* mounts;
};

struct ResolveOptions {
  bool follow_final_symlink = true;
  bool must_be_dir = false;  // O_DIRECTORY, or a trailing slash
  // openat2's RESOLVE_* flags: RESOLVE_NO_XDEV (EXDEV for crossing a mount, by `..` or a
  // symlink too), RESOLVE_NO_MAGICLINKS (ELOOP for /proc's magic links), RESOLVE_NO_SYMLINKS
  // (ELOOP for any symlink followed), RESOLVE_BENEATH (EXDEV for leaving `start`: absolute
  // paths, `..` above it, magic links) and RESOLVE_IN_ROOT (`start` is the root: `/` and `..`
  // stop there). 0 for every other caller.
  uint64_t resolve = 0;
};

// Resolves `path`: absolute from ctx.root, relative from `start` (the cwd or a dirfd's path).
// Checks search permission on every directory with ctx.creds. `..` never leaves ctx.root and
// crosses mount points. ENOENT for an empty path (callers handle AT_EMPTY_PATH). With a scoped
// opts.resolve, `start` must be the dirfd's directory even for an absolute path.
Result<Path> Resolve(const ResolveContext& ctx, const Path& start, std::string_view path,
                     const ResolveOptions& opts = {});

// Resolves everything but the last component of `path`, for creating, removing and renaming.
struct ParentAndName {
  Path parent;
  std::string name;    // empty if the path is "/" (or only slashes)
  bool trailing_slash;  // "dir/"
};
Result<ParentAndName> ResolveParent(const ResolveContext& ctx, const Path& start,
                                    std::string_view path);

// The absolute path of `p` as seen from `root` (for getcwd, /proc/self/cwd). Unreachable paths
// (outside root) are reported relative to the mount tree, like Linux does.
std::string PathString(const Path& root, const Path& p);

// Opens `p` with open(2) `flags`, after permission, type and read-only-mount checks (EACCES,
// EISDIR for writing a directory, ENOTDIR for O_DIRECTORY, EROFS, ELOOP for O_NOFOLLOW on a
// symlink is the caller's: it resolved without following). O_PATH gives a PathFile, a directory a
// DirectoryFile; O_TRUNC truncates.
Result<RefPtr<FileDescription>> OpenPath(const Credentials& creds, const Path& p, int flags);

// open(2) as a whole: resolves `path` from `start` with O_NOFOLLOW / O_DIRECTORY / trailing-slash
// rules and, with O_CREAT, creates a missing regular file (O_EXCL, creation through a dangling
// symlink, EISDIR for "name/", no permission check on the file just created, like Linux).
// `mode` is open's mode with the umask already applied. O_TMPFILE goes to OpenTmpfile. `resolve`
// is openat2's RESOLVE_* flags, as in ResolveOptions.
Result<RefPtr<FileDescription>> OpenAt(const ResolveContext& ctx, const Path& start,
                                       std::string_view path, int flags, uint32_t mode,
                                       uint64_t resolve = 0);

// open(2) with O_TMPFILE (do_tmpfile): an unnamed regular file in the directory `path` names
// (ENOTDIR otherwise), after the EROFS and write+search permission checks; the flags have been
// validated (a writable access mode). The description keeps O_TMPFILE in its flags.
Result<RefPtr<FileDescription>> OpenTmpfile(const ResolveContext& ctx, const Path& start,
                                            std::string_view path, int flags, uint32_t mode,
                                            uint64_t resolve = 0);

// ---- Namespace operations ----
//
// The VFS half of mkdir, mknod, symlink, link, unlink, rmdir and rename on a resolved parent
// (ResolveParent): Linux's checks in Linux's order (EEXIST, ENOENT for "name/" where only a
// directory may have a slash, EROFS, EACCES for write+search on the parent, EPERM for the sticky
// bit, EBUSY for mountpoints, EXDEV across mounts, EINVAL for moving a directory into itself),
// then the filesystem operation and the dentry-cache update. `mode` is the caller's mode with the
// umask already applied; ownership comes from ctx.creds.

// mkdir(2).
Result<Path> MakeDirAt(const ResolveContext& ctx, const ParentAndName& at, uint32_t mode);
// mknod(2): `mode` carries the type (0 or S_IFREG makes a regular file; EPERM for S_IFDIR, and
// for devices without CAP_MKNOD; EINVAL for an unknown type).
Result<Path> MakeNodeAt(const ResolveContext& ctx, const ParentAndName& at, uint32_t mode,
                        uint64_t rdev);
// symlink(2): ENOENT for an empty target.
Result<Path> SymlinkAt(const ResolveContext& ctx, const ParentAndName& at,
                       std::string_view target);
// link(2): `old_path` is already resolved (following the final symlink only with
// AT_SYMLINK_FOLLOW). Applies fs.protected_hardlinks=1, Linux's default.
Result<void> LinkAt(const ResolveContext& ctx, const Path& old_path, const ParentAndName& at);
// unlink(2).
Result<void> UnlinkAt(const ResolveContext& ctx, const ParentAndName& at);
// rmdir(2).
Result<void> RemoveDirAt(const ResolveContext& ctx, const ParentAndName& at);
// renameat2(2). `flags`: RENAME_NOREPLACE, or RENAME_EXCHANGE (both names must exist, EINVAL
// if one is an ancestor of the other, and the filesystem's Inode::Exchange does the swap);
// RENAME_WHITEOUT gives EINVAL (TODO(#3)).
Result<void> RenameAt(const ResolveContext& ctx, const ParentAndName& from,
                      const ParentAndName& to, unsigned flags);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_VFS_H_
