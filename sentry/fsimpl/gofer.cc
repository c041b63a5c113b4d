#include "sentry/fsimpl/gofer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>
#include <memory>
#include <set>

#include "base/host_proc.h"
#include "base/log.h"
#include "gofer/protocol.h"
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

// How many missing names a directory remembers before it starts over.
constexpr size_t kMaxAbsentNames = 4096;
// Close requests wait for the next request (or this many) so that dropping a tree of dentries
// does not cost one message per file.
constexpr size_t kCloseBatch = 128;
// More entries than a directory listing may have (a gofer that sends more is broken).
constexpr size_t kMaxDirEntries = 16 << 20;

// One connection to the gofer: requests and replies over a SOCK_SEQPACKET socket.
class GoferClient : public RefCounted<GoferClient> {
 public:
  explicit GoferClient(FileDescriptor sock) : sock_(std::move(sock)) {}

  // Sends `req` and decodes its reply; `fd` receives the host fd that came with it. A gofer that
  // is gone, or answers with something that is not a reply to this request, gives EIO.
  template <class Req>
  Result<typename Req::Reply> Call(const Req& req, FileDescriptor* fd = nullptr) {
    gofer::Message m = TRY(RoundTrip(gofer::Encode(Req::kType, req)));
    if (m.type == gofer::kError) {
      gofer::ErrorReply e;
      if (!gofer::Decode(m.body, e) || e.error <= 0 || e.error >= 4096) return Protocol(m.type);
      return Errno(e.error);
    }
    typename Req::Reply reply;
    if (m.type != (Req::kType | gofer::kReplyBit) || !gofer::Decode(m.body, reply))
      return Protocol(m.type);
    if (fd && !m.fds.empty()) *fd = std::move(m.fds[0]);
    return reply;
  }

  // Releases a node; the Close request goes out with the next request.
  void Release(uint64_t node) {
    absl::MutexLock l(&mu_);
    pending_close_.nodes.push_back(node);
    if (pending_close_.nodes.size() >= kCloseBatch) FlushClosesLocked();
  }

 private:
  Result<gofer::Message> RoundTrip(std::vector<uint8_t> msg) {
    absl::MutexLock l(&mu_);
    if (broken_) return Errno(EIO);
    if (!pending_close_.nodes.empty()) FlushClosesLocked();
    Result<void> sent = gofer::SendMessage(sock_.get(), msg);
    if (!sent.ok()) return Broken("send", sent.error());
    Result<gofer::Message> m = gofer::ReceiveMessage(sock_.get());
    // The sentry's own fd table is full (the application holds that many files): this request
    // fails as when the system's file table is, and the connection is as good as before.
    if (!m.ok() && m.error().value() == EMFILE) return Errno(ENFILE);
    if (!m.ok()) return Broken("receive", m.error());
    return m;
  }

  void FlushClosesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!broken_) {
      Result<void> sent = gofer::SendMessage(sock_.get(), gofer::Encode(gofer::kClose, pending_close_));
      if (!sent.ok()) Broken("send", sent.error());
    }
    pending_close_.nodes.clear();
  }

  // The connection is unusable from now on: every file operation on this mount fails with EIO.
  Errno Broken(const char* what, Errno e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!broken_) LOG_ERROR("gofer connection lost ({}: {})", what, e.value());
    broken_ = true;
    return Errno(EIO);
  }

  Errno Protocol(uint32_t type) {
    LOG_ERROR("gofer: unexpected reply of type {:#x}", type);
    return Errno(EIO);
  }

  absl::Mutex mu_;
  FileDescriptor sock_;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  gofer::CloseRequest pending_close_ ABSL_GUARDED_BY(mu_);
};

class GoferInode;

// Bumped by every namespace or attribute change made through any gofer mount: mounts may serve
// overlapping host directories (the root and a volume below it), so a change through one can
// show through another.
std::atomic<uint64_t> g_generation{0};

class GoferFs : public RefCounted<GoferFs> {
 public:
  GoferFs(RefPtr<GoferClient> client, kernel::IdMap uids, kernel::IdMap gids)
      : client_(std::move(client)), uids_(std::move(uids)), gids_(std::move(gids)) {}
  GoferClient& client() { return *client_; }
  // The user namespace's mappings (immutable).
  const kernel::IdMap& uids() const { return uids_; }
  const kernel::IdMap& gids() const { return gids_; }

  // The inode for a node the gofer just returned: the one this filesystem already has for that
  // host file (hard links are one inode, as on the host), or a new one.
  RefPtr<GoferInode> InodeFor(RefPtr<GoferFs> self, const gofer::NodeReply& node);
  // Called by a dying GoferInode.
  void Forget(uint64_t host_dev, uint64_t host_ino, GoferInode* inode) {
    absl::MutexLock l(&mu_);
    auto it = inodes_.find({host_dev, host_ino});
    if (it != inodes_.end() && it->second == inode) inodes_.erase(it);
  }

  // The sentry's device number for host device `host_dev` (so st_dev/st_ino pairs stay unique
  // across host filesystems without showing host device numbers).
  uint64_t DevFor(uint64_t host_dev) {
    absl::MutexLock l(&devs_mu_);
    auto [it, inserted] = devs_.try_emplace(host_dev, 0);
    if (inserted) it->second = vfs::NewAnonDev();
    return it->second;
  }

  uint64_t generation() const { return g_generation.load(std::memory_order_acquire); }
  // After a change: every cached attribute and missing name may be out of date.
  void Changed() { g_generation.fetch_add(1, std::memory_order_acq_rel); }

 private:
  RefPtr<GoferClient> client_;
  const kernel::IdMap uids_, gids_;
  absl::Mutex mu_;
  // A leaf: taken under mu_ and under inode locks.
  absl::Mutex devs_mu_;
  std::map<uint64_t, uint64_t> devs_ ABSL_GUARDED_BY(devs_mu_);
  // Live inodes by host (st_dev, st_ino); not owned. A node keeps its host inode open in the
  // gofer, so the pair cannot be reused by another file while the entry exists.
  std::map<std::pair<uint64_t, uint64_t>, GoferInode*> inodes_ ABSL_GUARDED_BY(mu_);
};

timespec ToTimespec(const gofer::Timespec& t) { return {t.sec, t.nsec}; }

// An open regular file: I/O on the donated host fd.
class GoferFile : public vfs::SeekableFile {
 public:
  GoferFile(int flags, Path path, std::shared_ptr<FileDescriptor> fd, RefPtr<GoferInode> inode);

  Result<size_t> PRead(Task&, std::span<uint8_t> dst, int64_t offset) override {
    if (offset < 0) return Errno(EINVAL);
    for (;;) {
      ssize_t n = pread(fd_->get(), dst.data(), dst.size(), offset);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return LastErrno();
    }
  }
  Result<size_t> PWrite(Task& task, std::span<const uint8_t> src, int64_t offset) override;
  Result<Stat> GetStat() override;
  Result<void> Sync() override {
    if (fsync(fd_->get()) < 0) return LastErrno();
    return Ok();
  }
  Result<int> HostMapFd() override { return fd_->get(); }

 private:
  std::shared_ptr<FileDescriptor> fd_;
  RefPtr<GoferInode> inode_;
};

class GoferInode : public Inode {
 public:
  GoferInode(RefPtr<GoferFs> fs, const gofer::NodeReply& node)
      : fs_(std::move(fs)),
        node_(node.node),
        type_(node.attr.mode & S_IFMT),
        host_dev_(node.attr.dev),
        host_ino_(node.attr.ino) {
    absl::MutexLock l(&mu_);
    SetAttrLocked(node.attr, fs_->generation(), /*fresh=*/true);
  }
  ~GoferInode() override {
    fs_->Forget(host_dev_, host_ino_, this);
    fs_->client().Release(node_);
  }

  Result<Stat> GetStat() override {
    uint64_t gen = fs_->generation();
    std::shared_ptr<FileDescriptor> fd;
    uint64_t version;
    {
      absl::MutexLock l(&mu_);
      if (attr_gen_ == gen && !stale_) return attr_;
      fd = io_fd_.lock();
      version = version_;
    }
    gofer::Attr a;
    struct stat st;
    if (fd && fstat(fd->get(), &st) == 0) {
      a = gofer::AttrFromStat(st);
      // The sentry's user namespace maps no host id but its own (runsc/confine.h): an owner it
      // cannot see is the one the gofer last reported. (Owners change through the gofer.)
      if (st.st_uid == hostproc::OverflowUid() || st.st_gid == hostproc::OverflowGid()) {
        absl::MutexLock l(&mu_);
        a.uid = host_uid_;
        a.gid = host_gid_;
      }
    } else {
      a = TRY(fs_->client().Call(gofer::StatRequest{node_})).attr;
    }
    absl::MutexLock l(&mu_);
    // A write that raced with the fetch keeps the attributes stale.
    SetAttrLocked(a, gen, version == version_);
    return attr_;
  }

  Result<void> SetStat(const vfs::SetStatRequest& req) override {
    gofer::SetStatRequest r{.node = node_};
    if (req.mode) r.mask |= gofer::kSetMode, r.mode = *req.mode;
    // chown(2) to an id the user namespace does not map is EINVAL.
    if (req.uid) {
      std::optional<uint32_t> host = fs_->uids().ToOutside(*req.uid);
      if (!host) return Errno(EINVAL);
      r.mask |= gofer::kSetUid, r.uid = *host;
    }
    if (req.gid) {
      std::optional<uint32_t> host = fs_->gids().ToOutside(*req.gid);
      if (!host) return Errno(EINVAL);
      r.mask |= gofer::kSetGid, r.gid = *host;
    }
    if (req.size) r.mask |= gofer::kSetSize, r.size = *req.size;
    if (req.atime) r.mask |= gofer::kSetAtime, r.atime = {req.atime->tv_sec, req.atime->tv_nsec};
    if (req.mtime) r.mask |= gofer::kSetMtime, r.mtime = {req.mtime->tv_sec, req.mtime->tv_nsec};
    gofer::AttrReply reply = TRY(fs_->client().Call(r));
    // Other names of the file, through other mounts, see the change too.
    fs_->Changed();
    absl::MutexLock l(&mu_);
    version_++;
    SetAttrLocked(reply.attr, fs_->generation(), /*fresh=*/false);
    return Ok();
  }

  Result<RefPtr<Inode>> Lookup(std::string_view name) override {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    if (name.size() > gofer::kMaxName) return Errno(ENAMETOOLONG);
    {
      absl::MutexLock l(&mu_);
      if (absent_gen_ == fs_->generation() && absent_.count(name)) return Errno(ENOENT);
    }
    Result<gofer::NodeReply> node = fs_->client().Call(gofer::WalkRequest{node_, std::string(name)});
    if (!node.ok()) {
      if (node.error().value() == ENOENT) NoteAbsent(name);
      return node.error();
    }
    return RefPtr<Inode>(fs_->InodeFor(fs_, *node));
  }

  Result<std::vector<DirEntry>> ReadDir() override {
    if (type_ != S_IFDIR) return Errno(ENOTDIR);
    std::vector<DirEntry> out;
    uint64_t offset = 0;
    for (;;) {
      gofer::ReadDirReply r = TRY(fs_->client().Call(gofer::ReadDirRequest{node_, offset}));
      for (gofer::Dirent& e : r.entries) {
        if (!gofer::ValidName(e.name)) return Errno(EIO);
        out.push_back(DirEntry{std::move(e.name), e.ino, e.type});
        offset = e.next;
      }
      if (r.eof) return out;
      // A gofer that makes no progress, or lists more than any directory holds, is broken.
      if (r.entries.empty() || out.size() > kMaxDirEntries) return Errno(EIO);
    }
  }

  Result<RefPtr<Inode>> Create(std::string_view name, uint32_t mode,
                               const Credentials& creds) override {
    gofer::CreateRequest r{.dir = node_, .name = std::string(name), .flags = O_RDWR};
    TRY(Owner(creds, mode | S_IFREG, &r.mode, &r.uid, &r.gid));
    FileDescriptor fd;
    gofer::NodeReply node = TRY(Created(name, fs_->client().Call(r, &fd)));
    RefPtr<GoferInode> inode = fs_->InodeFor(fs_, node);
    if (!fd.valid() || !IsRegular(fd.get(), O_RDWR)) return Errno(EIO);
    // The open that follows the create uses this descriptor instead of asking again.
    absl::MutexLock l(&inode->mu_);
    inode->created_fd_ = std::make_shared<FileDescriptor>(std::move(fd));
    return RefPtr<Inode>(inode);
  }

  Result<RefPtr<Inode>> MakeDir(std::string_view name, uint32_t mode,
                                const Credentials& creds) override {
    gofer::MkdirRequest r{.dir = node_, .name = std::string(name)};
    TRY(Owner(creds, mode | S_IFDIR, &r.mode, &r.uid, &r.gid));
    return RefPtr<Inode>(fs_->InodeFor(fs_, TRY(Created(name, fs_->client().Call(r)))));
  }

  Result<RefPtr<Inode>> MakeNode(std::string_view name, uint32_t mode, uint64_t,
                                 const Credentials& creds) override {
    uint32_t type = mode & S_IFMT;
    // The gofer makes no device nodes on the host.
    if (type == S_IFCHR || type == S_IFBLK) return Errno(EPERM);
    gofer::MknodRequest r{.dir = node_, .name = std::string(name)};
    TRY(Owner(creds, mode, &r.mode, &r.uid, &r.gid));
    r.mode |= type;
    return RefPtr<Inode>(fs_->InodeFor(fs_, TRY(Created(name, fs_->client().Call(r)))));
  }

  Result<RefPtr<Inode>> MakeSymlink(std::string_view name, std::string_view target,
                                    const Credentials& creds) override {
    gofer::SymlinkRequest r{.dir = node_, .name = std::string(name), .target = std::string(target)};
    uint32_t mode = S_IFLNK | 0777;
    TRY(Owner(creds, mode, &mode, &r.uid, &r.gid));
    return RefPtr<Inode>(fs_->InodeFor(fs_, TRY(Created(name, fs_->client().Call(r)))));
  }

  Result<void> Link(std::string_view name, const RefPtr<Inode>& target) override {
    auto* t = dynamic_cast<GoferInode*>(target.get());
    if (!t || t->fs_ != fs_) return Errno(EXDEV);
    gofer::NodeReply node =
        TRY(Created(name, fs_->client().Call(gofer::LinkRequest{node_, std::string(name), t->node_})));
    // The new name is the same file: this filesystem already has its inode, and the node the
    // gofer made for the name is not needed.
    fs_->client().Release(node.node);
    return Ok();
  }

  Result<void> Unlink(std::string_view name) override { return Remove(name, 0); }
  Result<void> RemoveDir(std::string_view name) override { return Remove(name, AT_REMOVEDIR); }

  Result<void> Rename(std::string_view name, Inode& new_dir, std::string_view new_name,
                      bool replaces) override {
    // A target the sandbox did not see is not replaced behind its back.
    return DoRename(name, new_dir, new_name, replaces ? 0 : RENAME_NOREPLACE);
  }
  Result<void> Exchange(std::string_view name, Inode& other_dir,
                        std::string_view other_name) override {
    return DoRename(name, other_dir, other_name, RENAME_EXCHANGE);
  }

  // A host socket a bind mount brings in: the gofer connects to it for the sandbox.
  Result<FileDescriptor> ConnectHostSocket(int type) override {
    if (type_ != S_IFSOCK) return Errno(ECONNREFUSED);
    FileDescriptor fd;
    TRY(fs_->client().Call(gofer::ConnectRequest{.node = node_, .type = static_cast<uint32_t>(type)},
                           &fd));
    if (!fd.valid()) return Errno(EIO);
    return fd;
  }

  Result<std::string> ReadLink() override {
    if (type_ != S_IFLNK) return Errno(EINVAL);
    {
      absl::MutexLock l(&mu_);
      if (link_target_) return *link_target_;
    }
    gofer::ReadLinkReply r = TRY(fs_->client().Call(gofer::ReadLinkRequest{node_}));
    if (r.target.empty() || r.target.size() > gofer::kMaxSymlink ||
        r.target.find('\0') != std::string::npos) {
      return Errno(EIO);
    }
    absl::MutexLock l(&mu_);
    link_target_ = r.target;
    return r.target;
  }

  Result<RefPtr<FileDescription>> Open(int flags, const Path& path) override {
    switch (type_) {
      case S_IFREG: {
        std::shared_ptr<FileDescriptor> fd = TakeCreatedFd(flags);
        if (!fd) {
          FileDescriptor got;
          TRY(fs_->client().Call(gofer::OpenRequest{node_, static_cast<uint32_t>(flags & O_ACCMODE)}, &got));
          // The mode matters beyond our own checks: the host enforces it on mappings.
          if (!got.valid() || !IsRegular(got.get(), flags & O_ACCMODE)) return Errno(EIO);
          fd = std::make_shared<FileDescriptor>(std::move(got));
        }
        return RefPtr<FileDescription>(
            MakeRef<GoferFile>(flags, path, std::move(fd), RefPtr<GoferInode>(this)));
      }
      case S_IFDIR:
        return RefPtr<FileDescription>(MakeRef<vfs::DirectoryFile>(flags, path));
      case S_IFLNK:
        return Errno(ELOOP);
      case S_IFCHR: {
        // The sentry's own devices, never the host's.
        Stat st = TRY(GetStat());
        return OpenDevice(major(st.rdev), minor(st.rdev), flags, path);
      }
      case S_IFIFO: {
        // A FIFO on the host is a pipe inside the sandbox: host processes cannot reach it.
        RefPtr<Pipe> pipe;
        {
          absl::MutexLock l(&mu_);
          if (!pipe_) pipe_ = MakeRef<Pipe>();
          pipe = pipe_;
        }
        return OpenFifo(pipe, flags, path);
      }
      default:
        return Errno(ENXIO);
    }
  }

  uint32_t type() const { return type_; }

  // A write changed the file's size and times.
  void MarkStale() {
    absl::MutexLock l(&mu_);
    stale_ = true;
    version_++;
  }

  // Takes the attributes of a fresh reply for the same host file (another name of it).
  void Refresh(const gofer::Attr& a) {
    absl::MutexLock l(&mu_);
    SetAttrLocked(a, fs_->generation(), /*fresh=*/true);
  }
  // Records an open host fd that GetStat may fstat instead of asking the gofer.
  void SetIoFd(const std::shared_ptr<FileDescriptor>& fd) {
    absl::MutexLock l(&mu_);
    io_fd_ = fd;
  }

 private:
  // Takes attributes fetched at generation `gen`; `fresh` says no write raced with the fetch,
  // so the cache is valid again.
  void SetAttrLocked(const gofer::Attr& a, uint64_t gen, bool fresh)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    attr_.dev = fs_->DevFor(a.dev);
    attr_.ino = a.ino;
    // The type never changes; a reply that says otherwise is not believed.
    attr_.mode = type_ | (a.mode & 07777);
    attr_.nlink = a.nlink;
    host_uid_ = a.uid;
    host_gid_ = a.gid;
    attr_.uid = fs_->uids().ToInsideOrOverflow(a.uid);
    attr_.gid = fs_->gids().ToInsideOrOverflow(a.gid);
    attr_.rdev = a.rdev;
    attr_.size = a.size;
    attr_.blksize = a.blksize;
    attr_.blocks = a.blocks;
    attr_.atime = ToTimespec(a.atime);
    attr_.mtime = ToTimespec(a.mtime);
    attr_.ctime = ToTimespec(a.ctime);
    attr_gen_ = gen;
    if (fresh) stale_ = false;
  }

  // The owner and permission bits of a new file made here by `creds`.
  Result<void> Owner(const Credentials& creds, uint32_t mode, uint32_t* perm, uint32_t* uid,
                     uint32_t* gid) {
    Stat dir = TRY(GetStat());
    vfs::InitOwner(creds, dir, &mode, uid, gid);
    *perm = mode & 07777;
    // The host's ids for the owner; a creator the user namespace does not map cannot make
    // files (Linux: EOVERFLOW).
    std::optional<uint32_t> host_uid = fs_->uids().ToOutside(*uid);
    std::optional<uint32_t> host_gid = fs_->gids().ToOutside(*gid);
    if (!host_uid || !host_gid) return Errno(EOVERFLOW);
    *uid = *host_uid;
    *gid = *host_gid;
    return Ok();
  }

  // After a request that made `name` here: the name exists now, and link counts and times moved.
  // EEXIST says the same of the name (someone else made it).
  Result<gofer::NodeReply> Created(std::string_view name, Result<gofer::NodeReply> r) {
    if (r.ok()) fs_->Changed();
    if (r.ok() || r.error().value() == EEXIST) NotePresent(name);
    return r;
  }

  void NotePresent(std::string_view name) {
    absl::MutexLock l(&mu_);
    if (auto it = absent_.find(name); it != absent_.end()) absent_.erase(it);
  }

  void NoteAbsent(std::string_view name) {
    uint64_t gen = fs_->generation();
    absl::MutexLock l(&mu_);
    // Missing names noted before a change anywhere may have appeared since.
    if (absent_gen_ != gen || absent_.size() >= kMaxAbsentNames) absent_.clear();
    absent_gen_ = gen;
    absent_.emplace(name);
  }

  Result<void> Remove(std::string_view name, uint32_t flags) {
    RETURN_IF_ERRNO(fs_->client().Call(gofer::UnlinkRequest{node_, std::string(name), flags}));
    fs_->Changed();
    NoteAbsent(name);
    return Ok();
  }

  Result<void> DoRename(std::string_view name, Inode& new_dir, std::string_view new_name,
                        uint32_t flags) {
    auto* d = dynamic_cast<GoferInode*>(&new_dir);
    if (!d || d->fs_ != fs_) return Errno(EXDEV);
    Result<gofer::EmptyReply> r = fs_->client().Call(gofer::RenameRequest{
        node_, std::string(name), d->node_, std::string(new_name), flags});
    if (!r.ok()) {
      if (r.error().value() == EEXIST) d->NotePresent(new_name);
      return r.error();
    }
    fs_->Changed();
    if (flags & RENAME_EXCHANGE) return Ok();
    d->NotePresent(new_name);
    NoteAbsent(name);
    return Ok();
  }

  // Whether a donated fd is a regular file open with access mode `acc`.
  static bool IsRegular(int fd, int acc) {
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_ACCMODE) == acc && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  }

  // The descriptor the create made, for the first open after it, unless that open is read-only
  // (a read-write host fd would let a later mprotect make a shared mapping writable).
  std::shared_ptr<FileDescriptor> TakeCreatedFd(int flags) {
    absl::MutexLock l(&mu_);
    std::shared_ptr<FileDescriptor> fd = std::move(created_fd_);
    created_fd_.reset();
    if ((flags & O_ACCMODE) == O_RDONLY) return nullptr;
    return fd;
  }

  const RefPtr<GoferFs> fs_;
  const uint64_t node_;
  const uint32_t type_;  // S_IFMT bits
  const uint64_t host_dev_, host_ino_;

  absl::Mutex mu_;
  Stat attr_ ABSL_GUARDED_BY(mu_);
  uint32_t host_uid_ ABSL_GUARDED_BY(mu_) = 0;  // the owner as the host has it (attr_ has it mapped)
  uint32_t host_gid_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t attr_gen_ ABSL_GUARDED_BY(mu_) = 0;
  bool stale_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by writes and attribute changes
  std::weak_ptr<FileDescriptor> io_fd_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<FileDescriptor> created_fd_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> absent_ ABSL_GUARDED_BY(mu_);
  uint64_t absent_gen_ ABSL_GUARDED_BY(mu_) = 0;  // the generation absent_ was noted at
  std::optional<std::string> link_target_ ABSL_GUARDED_BY(mu_);
  RefPtr<Pipe> pipe_ ABSL_GUARDED_BY(mu_);  // FIFOs: created on first open
};

RefPtr<GoferInode> GoferFs::InodeFor(RefPtr<GoferFs> self, const gofer::NodeReply& node) {
  // Declared before the lock so that, if it goes unused, it is dropped after the lock: the end
  // of an inode takes the lock (Forget).
  RefPtr<GoferInode> known;
  absl::MutexLock l(&mu_);
  auto key = std::make_pair(node.attr.dev, node.attr.ino);
  if (auto it = inodes_.find(key); it != inodes_.end()) {
    known = TryRef(it->second);
    // The same host file seen again (another name, or the same one after the dentry went): one
    // inode, and the new node goes back. A file of another type under a reused inode number
    // cannot be, since a known inode keeps its host file open.
    if (known && (node.attr.mode & S_IFMT) == known->type()) {
      client_->Release(node.node);
      known->Refresh(node.attr);
      return RefPtr<GoferInode>(known);
    }
  }
  auto inode = MakeRef<GoferInode>(std::move(self), node);
  inodes_[key] = inode.get();
  return inode;
}

GoferFile::GoferFile(int flags, Path path, std::shared_ptr<FileDescriptor> fd,
                     RefPtr<GoferInode> inode)
    : SeekableFile(flags, std::move(path)), fd_(std::move(fd)), inode_(std::move(inode)) {
  inode_->SetIoFd(fd_);
}

Result<size_t> GoferFile::PWrite(Task&, std::span<const uint8_t> src, int64_t offset) {
  if (offset < 0) return Errno(EINVAL);
  if (flags() & O_APPEND) {
    struct stat st;
    if (fstat(fd_->get(), &st) < 0) return LastErrno();
    offset = st.st_size;
  }
  ssize_t n;
  do {
    n = pwrite(fd_->get(), src.data(), src.size(), offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return LastErrno();
  inode_->MarkStale();
  return static_cast<size_t>(n);
}

Result<Stat> GoferFile::GetStat() {
  // Fresh from the host fd; the inode fills in what the sandbox shows (st_dev, the type).
  inode_->MarkStale();
  return inode_->GetStat();
}

}  // namespace

Result<RefPtr<vfs::Dentry>> NewGoferFilesystem(FileDescriptor sock, kernel::IdMap uids,
                                               kernel::IdMap gids) {
  auto client = MakeRef<GoferClient>(std::move(sock));
  gofer::NodeReply root = TRY(client->Call(gofer::AttachRequest{}));
  auto fs = MakeRef<GoferFs>(client, std::move(uids), std::move(gids));
  return MakeRef<vfs::Dentry>(nullptr, "", fs->InodeFor(fs, root));
}

}  // namespace moat::fsimpl
