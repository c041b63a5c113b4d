#include "gofer/server.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "base/log.h"

namespace moat::gofer {
namespace {

Result<struct stat> FStat(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return LastErrno();
  return st;
}

Result<void> CheckName(std::string_view name) {
  if (name.size() > kMaxName) return Errno(ENAMETOOLONG);
  if (!ValidName(name)) return Errno(EINVAL);
  return Ok();
}

std::vector<uint8_t> ErrorMessage(int error) {
  return Encode(kError, ErrorReply{error});
}

// Decodes a request, runs `fn` on it and encodes what it returns.
template <class Req, class Fn>
std::vector<uint8_t> Dispatch(std::span<const uint8_t> body, Fn fn) {
  Req req;
  if (!Decode(body, req)) return ErrorMessage(EINVAL);
  auto reply = fn(req);
  if (!reply.ok()) return ErrorMessage(reply.error().value());
  return Encode(Req::kType | kReplyBit, *reply);
}

}  // namespace

Server::Server(FileDescriptor root, int proc_self_fd, bool readonly)
    : root_(std::move(root)), proc_self_fd_(proc_self_fd), readonly_(readonly) {}

Result<void> Server::Serve(int sock) {
  for (;;) {
    Result<Message> m = ReceiveMessage(sock);
    if (!m.ok()) {
      if (m.error().value() == ECONNRESET) return Ok();
      if (m.error().value() != EPROTO) return m.error();
      // A message that is not one: answer it, so the peer's request and our reply stay paired.
      LOG_WARNING("gofer: malformed message from the sentry");
      TRY(SendMessage(sock, ErrorMessage(EINVAL)));
      continue;
    }
    FileDescriptor fd;
    std::vector<uint8_t> reply = Handle(m->type, m->body, &fd);
    if (m->type == kClose) continue;
    TRY(SendMessage(sock, reply, fd.get()));
  }
}

std::vector<uint8_t> Server::Handle(uint32_t type, std::span<const uint8_t> body,
                                    FileDescriptor* fd) {
  switch (type) {
    case kAttach:
      return Dispatch<AttachRequest>(body, [&](const AttachRequest&) { return Attach(); });
    case kWalk:
      return Dispatch<WalkRequest>(body, [&](const WalkRequest& r) { return Walk(r); });
    case kStat:
      return Dispatch<StatRequest>(body, [&](const StatRequest& r) { return Stat(r); });
    case kOpen:
      return Dispatch<OpenRequest>(body, [&](const OpenRequest& r) { return Open(r, fd); });
    case kCreate:
      return Dispatch<CreateRequest>(body, [&](const CreateRequest& r) { return Create(r, fd); });
    case kMkdir:
      return Dispatch<MkdirRequest>(body, [&](const MkdirRequest& r) { return Mkdir(r); });
    case kMknod:
      return Dispatch<MknodRequest>(body, [&](const MknodRequest& r) { return Mknod(r); });
    case kSymlink:
      return Dispatch<SymlinkRequest>(body, [&](const SymlinkRequest& r) { return Symlink(r); });
    case kLink:
      return Dispatch<LinkRequest>(body, [&](const LinkRequest& r) { return Link(r); });
    case kUnlink:
      return Dispatch<UnlinkRequest>(body, [&](const UnlinkRequest& r) { return Unlink(r); });
    case kRename:
      return Dispatch<RenameRequest>(body, [&](const RenameRequest& r) { return Rename(r); });
    case kReadLink:
      return Dispatch<ReadLinkRequest>(body,
                                       [&](const ReadLinkRequest& r) { return ReadLink(r); });
    case kSetStat:
      return Dispatch<SetStatRequest>(body, [&](const SetStatRequest& r) { return SetStat(r); });
    case kReadDir:
      return Dispatch<ReadDirRequest>(body, [&](const ReadDirRequest& r) { return ReadDir(r); });
    case kStatFs:
      return Dispatch<StatFsRequest>(body, [&](const StatFsRequest& r) { return StatFs(r); });
    case kConnect:
      return Dispatch<ConnectRequest>(body, [&](const ConnectRequest& r) { return Connect(r, fd); });
    case kClose: {
      CloseRequest req;
      if (Decode(body, req)) Close(req);
      return {};
    }
    default:
      return ErrorMessage(EINVAL);
  }
}

Result<Server::Node*> Server::Get(uint64_t id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return Errno(EBADF);
  return &it->second;
}

Result<int> Server::DirFd(uint64_t id, std::string_view name) {
  Node* n = TRY(Get(id));
  if (!S_ISDIR(n->mode)) return Errno(ENOTDIR);
  TRY(CheckName(name));
  return n->fd.get();
}

Result<int> Server::WritableDirFd(uint64_t id, std::string_view name) {
  int fd = TRY(DirFd(id, name));
  if (readonly_) return Errno(EROFS);
  return fd;
}

Result<FileDescriptor> Server::Reopen(const Node& n, int flags) {
  char name[16];
  std::snprintf(name, sizeof(name), "%d", n.fd.get());
  FileDescriptor fd(openat(proc_self_fd_, name, flags | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return LastErrno();
  return fd;
}

NodeReply Server::AddNode(FileDescriptor fd, const struct stat& st) {
  uint64_t id = next_id_++;
  nodes_.emplace(id, Node{std::move(fd), st.st_mode & S_IFMT});
  return NodeReply{id, AttrFromStat(st)};
}

Result<NodeReply> Server::AddNode(int dir, std::string_view name) {
  std::string n(name);
  FileDescriptor fd(openat(dir, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return LastErrno();
  struct stat st = TRY(FStat(fd.get()));
  return AddNode(std::move(fd), st);
}

Result<NodeReply> Server::Attach() {
  FileDescriptor fd(fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd.valid()) return LastErrno();
  struct stat st = TRY(FStat(fd.get()));
  return AddNode(std::move(fd), st);
}

Result<NodeReply> Server::Walk(const WalkRequest& req) {
  int dir = TRY(DirFd(req.dir, req.name));
  return AddNode(dir, req.name);
}

Result<AttrReply> Server::Stat(const StatRequest& req) {
  Node* n = TRY(Get(req.node));
  return AttrReply{AttrFromStat(TRY(FStat(n->fd.get())))};
}

Result<EmptyReply> Server::Open(const OpenRequest& req, FileDescriptor* fd) {
  Node* n = TRY(Get(req.node));
  if (!S_ISREG(n->mode)) return Errno(S_ISDIR(n->mode) ? EISDIR : EINVAL);
  if (req.flags & ~(O_ACCMODE | O_TRUNC)) return Errno(EINVAL);
  int acc = req.flags & O_ACCMODE;
  if (acc == O_ACCMODE) return Errno(EINVAL);
  if (readonly_ && (acc != O_RDONLY || (req.flags & O_TRUNC))) return Errno(EROFS);
  *fd = TRY(Reopen(*n, static_cast<int>(req.flags)));
  return EmptyReply{};
}

Result<EmptyReply> Server::Connect(const ConnectRequest& req, FileDescriptor* fd) {
  Node* n = TRY(Get(req.node));
  if (!S_ISSOCK(n->mode)) return Errno(ECONNREFUSED);
  if (req.type != SOCK_STREAM && req.type != SOCK_DGRAM && req.type != SOCK_SEQPACKET) {
    return Errno(EINVAL);
  }
  FileDescriptor s(socket(AF_UNIX, static_cast<int>(req.type) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return LastErrno();
  // connect(2) has no *at form: the node's /proc/self/fd link names the socket file, relative
  // to a working directory there. Every other request uses *at calls from node fds; the
  // working directory is the process's, so the threads take turns and put it back.
  static std::mutex cwd_mu;
  std::lock_guard<std::mutex> l(cwd_mu);
  FileDescriptor cwd(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cwd.valid()) return LastErrno();
  RETURN_IF_ERRNO(FromSyscall(fchdir(proc_self_fd_)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%d", n->fd.get());
  int r = connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  (void)fchdir(cwd.get());
  if (r < 0) return Errno(err);
  *fd = std::move(s);
  return EmptyReply{};
}

Result<NodeReply> Server::Create(const CreateRequest& req, FileDescriptor* fd) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  int acc = req.flags & O_ACCMODE;
  if ((req.flags & ~O_ACCMODE) || acc == O_ACCMODE) return Errno(EINVAL);
  std::string name(req.name);
  FileDescriptor f(openat(dir, name.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | acc,
                          req.mode & 07777));
  if (!f.valid()) return LastErrno();
  // The mode is set exactly (no umask of ours), and the owner is the sandbox's creator.
  Result<NodeReply> node = [&]() -> Result<NodeReply> {
    RETURN_IF_ERRNO(FromSyscall(fchown(f.get(), req.uid, req.gid)));
    RETURN_IF_ERRNO(FromSyscall(fchmod(f.get(), req.mode & 07777)));
    FileDescriptor path(fcntl(f.get(), F_DUPFD_CLOEXEC, 0));
    if (!path.valid()) return LastErrno();
    struct stat st = TRY(FStat(path.get()));
    return AddNode(std::move(path), st);
  }();
  if (!node.ok()) {
    unlinkat(dir, name.c_str(), 0);
    return node.error();
  }
  *fd = std::move(f);
  return node;
}

namespace {

// After a mkdir, mknod or symlink: sets owner (and mode, except for symlinks) of the new node,
// and removes it again if that fails, so a failed request leaves nothing behind.
template <class Fn>
Result<NodeReply> Finish(int dir, std::string_view name, int unlink_flags, Fn fn) {
  Result<NodeReply> r = fn();
  if (!r.ok()) unlinkat(dir, std::string(name).c_str(), unlink_flags);
  return r;
}

}  // namespace

Result<NodeReply> Server::Mkdir(const MkdirRequest& req) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  std::string name(req.name);
  RETURN_IF_ERRNO(FromSyscall(mkdirat(dir, name.c_str(), req.mode & 07777)));
  return Finish(dir, name, AT_REMOVEDIR, [&]() -> Result<NodeReply> {
    NodeReply r = TRY(AddNode(dir, name));
    Node& n = nodes_.at(r.node);
    if (!S_ISDIR(n.mode)) return Errno(ENOTDIR);  // replaced on the host meanwhile
    RETURN_IF_ERRNO(FromSyscall(fchownat(n.fd.get(), "", req.uid, req.gid, AT_EMPTY_PATH)));
    FileDescriptor d = TRY(Reopen(n, O_RDONLY | O_DIRECTORY));
    RETURN_IF_ERRNO(FromSyscall(fchmod(d.get(), req.mode & 07777)));
    r.attr = AttrFromStat(TRY(FStat(d.get())));
    return r;
  });
}

Result<NodeReply> Server::Mknod(const MknodRequest& req) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  uint32_t type = req.mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) return Errno(EPERM);
  std::string name(req.name);
  RETURN_IF_ERRNO(FromSyscall(mknodat(dir, name.c_str(), type | (req.mode & 07777), 0)));
  return Finish(dir, name, 0, [&]() -> Result<NodeReply> {
    NodeReply r = TRY(AddNode(dir, name));
    Node& n = nodes_.at(r.node);
    if (n.mode != type) return Errno(EEXIST);
    RETURN_IF_ERRNO(FromSyscall(fchownat(n.fd.get(), "", req.uid, req.gid, AT_EMPTY_PATH)));
    char proc_name[16];
    std::snprintf(proc_name, sizeof(proc_name), "%d", n.fd.get());
    RETURN_IF_ERRNO(FromSyscall(fchmodat(proc_self_fd_, proc_name, req.mode & 07777, 0)));
    r.attr = AttrFromStat(TRY(FStat(n.fd.get())));
    return r;
  });
}

Result<NodeReply> Server::Symlink(const SymlinkRequest& req) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  if (req.target.empty()) return Errno(ENOENT);
  if (req.target.size() > kMaxSymlink) return Errno(ENAMETOOLONG);
  if (req.target.find('\0') != std::string::npos) return Errno(EINVAL);
  std::string name(req.name);
  RETURN_IF_ERRNO(FromSyscall(symlinkat(req.target.c_str(), dir, name.c_str())));
  return Finish(dir, name, 0, [&]() -> Result<NodeReply> {
    NodeReply r = TRY(AddNode(dir, name));
    Node& n = nodes_.at(r.node);
    if (!S_ISLNK(n.mode)) return Errno(EEXIST);
    RETURN_IF_ERRNO(FromSyscall(fchownat(n.fd.get(), "", req.uid, req.gid,
                                   AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)));
    r.attr = AttrFromStat(TRY(FStat(n.fd.get())));
    return r;
  });
}

Result<NodeReply> Server::Link(const LinkRequest& req) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  Node* target = TRY(Get(req.target));
  if (S_ISDIR(target->mode)) return Errno(EPERM);
  std::string name(req.name);
  if (linkat(target->fd.get(), "", dir, name.c_str(), AT_EMPTY_PATH) < 0) {
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link of the descriptor does not.
    if (errno != ENOENT && errno != EPERM) return LastErrno();
    char proc_name[16];
    std::snprintf(proc_name, sizeof(proc_name), "%d", target->fd.get());
    RETURN_IF_ERRNO(FromSyscall(linkat(proc_self_fd_, proc_name, dir, name.c_str(), AT_SYMLINK_FOLLOW)));
  }
  return AddNode(dir, name);
}

Result<EmptyReply> Server::Unlink(const UnlinkRequest& req) {
  int dir = TRY(WritableDirFd(req.dir, req.name));
  if (req.flags & ~AT_REMOVEDIR) return Errno(EINVAL);
  RETURN_IF_ERRNO(FromSyscall(unlinkat(dir, std::string(req.name).c_str(), static_cast<int>(req.flags))));
  return EmptyReply{};
}

Result<EmptyReply> Server::Rename(const RenameRequest& req) {
  int old_dir = TRY(WritableDirFd(req.old_dir, req.old_name));
  int new_dir = TRY(WritableDirFd(req.new_dir, req.new_name));
  if (req.flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno(EINVAL);
  RETURN_IF_ERRNO(FromSyscall(syscall(SYS_renameat2, old_dir, req.old_name.c_str(), new_dir,
                                req.new_name.c_str(), req.flags)));
  return EmptyReply{};
}

Result<ReadLinkReply> Server::ReadLink(const ReadLinkRequest& req) {
  Node* n = TRY(Get(req.node));
  if (!S_ISLNK(n->mode)) return Errno(EINVAL);
  std::string buf(kMaxSymlink + 1, '\0');
  ssize_t len = readlinkat(n->fd.get(), "", buf.data(), buf.size());
  if (len < 0) return LastErrno();
  buf.resize(static_cast<size_t>(len));
  return ReadLinkReply{std::move(buf)};
}

Result<AttrReply> Server::SetStat(const SetStatRequest& req) {
  Node* n = TRY(Get(req.node));
  constexpr uint32_t kAll = kSetMode | kSetUid | kSetGid | kSetSize | kSetAtime | kSetMtime;
  if (req.mask & ~kAll) return Errno(EINVAL);
  if (readonly_) return Errno(EROFS);
  char proc_name[16];
  std::snprintf(proc_name, sizeof(proc_name), "%d", n->fd.get());
  if (req.mask & kSetSize) {
    if (S_ISDIR(n->mode)) return Errno(EISDIR);
    if (!S_ISREG(n->mode)) return Errno(EINVAL);
    if (req.size < 0) return Errno(EINVAL);
    FileDescriptor f = TRY(Reopen(*n, O_WRONLY));
    RETURN_IF_ERRNO(FromSyscall(ftruncate(f.get(), req.size)));
  }
  if (req.mask & (kSetUid | kSetGid)) {
    uid_t uid = (req.mask & kSetUid) ? req.uid : static_cast<uid_t>(-1);
    gid_t gid = (req.mask & kSetGid) ? req.gid : static_cast<gid_t>(-1);
    RETURN_IF_ERRNO(FromSyscall(fchownat(n->fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)));
  }
  if (req.mask & kSetMode) {
    if (S_ISLNK(n->mode)) return Errno(EOPNOTSUPP);
    RETURN_IF_ERRNO(FromSyscall(fchmodat(proc_self_fd_, proc_name, req.mode & 07777, 0)));
  }
  if (req.mask & (kSetAtime | kSetMtime)) {
    timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (req.mask & kSetAtime) ts[0] = {req.atime.sec, req.atime.nsec};
    if (req.mask & kSetMtime) ts[1] = {req.mtime.sec, req.mtime.nsec};
    for (const timespec& t : ts) {
      if (t.tv_nsec != UTIME_NOW && t.tv_nsec != UTIME_OMIT && (t.tv_nsec < 0 || t.tv_nsec >= 1'000'000'000))
        return Errno(EINVAL);
    }
    if (S_ISLNK(n->mode)) {
      RETURN_IF_ERRNO(FromSyscall(utimensat(n->fd.get(), "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)));
    } else {
      RETURN_IF_ERRNO(FromSyscall(utimensat(proc_self_fd_, proc_name, ts, 0)));
    }
  }
  return AttrReply{AttrFromStat(TRY(FStat(n->fd.get())))};
}

Result<ReadDirReply> Server::ReadDir(const ReadDirRequest& req) {
  Node* n = TRY(Get(req.node));
  if (!S_ISDIR(n->mode)) return Errno(ENOTDIR);
  FileDescriptor d = TRY(Reopen(*n, O_RDONLY | O_DIRECTORY));
  if (lseek(d.get(), static_cast<off_t>(req.offset), SEEK_SET) < 0) return LastErrno();
  ReadDirReply reply;
  // What the reply's encoding will take: the header, the list count and the eof byte so far.
  size_t size = sizeof(Header) + 4 + 1;
  std::vector<char> buf(16 * 1024);
  for (;;) {
    long len = syscall(SYS_getdents64, d.get(), buf.data(), buf.size());
    if (len < 0) return LastErrno();
    if (len == 0) {
      reply.eof = 1;
      return reply;
    }
    for (long pos = 0; pos < len;) {
      // struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name.
      const char* rec = buf.data() + pos;
      Dirent e;
      uint16_t reclen;
      std::memcpy(&e.ino, rec, 8);
      std::memcpy(&e.next, rec + 8, 8);
      std::memcpy(&reclen, rec + 16, 2);
      e.type = static_cast<uint8_t>(rec[18]);
      e.name = rec + 19;
      pos += reclen;
      size_t entry_size = 8 + 8 + 1 + 4 + e.name.size();
      if (size + entry_size > kMaxMessage) {
        // Full: the client asks again from the last entry that fit.
        return reply;
      }
      if (e.name == "." || e.name == "..") continue;
      if (e.type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(d.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        e.type = static_cast<uint8_t>(IFTODT(st.st_mode));
      }
      size += entry_size;
      reply.entries.push_back(std::move(e));
    }
  }
}

Result<StatFsReply> Server::StatFs(const StatFsRequest& req) {
  Node* n = TRY(Get(req.node));
  struct statfs s;
  RETURN_IF_ERRNO(FromSyscall(fstatfs(n->fd.get(), &s)));
  StatFsReply r;
  r.type = static_cast<uint64_t>(s.f_type);
  r.bsize = static_cast<uint64_t>(s.f_bsize);
  r.blocks = s.f_blocks;
  r.bfree = s.f_bfree;
  r.bavail = s.f_bavail;
  r.files = s.f_files;
  r.ffree = s.f_ffree;
  r.namelen = static_cast<uint64_t>(s.f_namelen);
  r.frsize = static_cast<uint64_t>(s.f_frsize);
  r.flags = static_cast<uint64_t>(s.f_flags);
  return r;
}

void Server::Close(const CloseRequest& req) {
  for (uint64_t id : req.nodes) nodes_.erase(id);
}

}  // namespace moat::gofer
