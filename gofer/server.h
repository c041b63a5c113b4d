// The gofer's file server: one Server per mount, answering the sentry's requests (protocol.h)
// against a host directory (or a single file, for a file bind mount).
//
// How it stays inside its root:
//   - A walk is one openat(dir, name, O_PATH | O_NOFOLLOW) from a directory the server already
//     holds, with a name that is a single component. Symlinks are returned as nodes, never
//     followed; ".." is refused. So no request can name a host file outside the tree below the
//     root, however the tree's symlinks point.
//   - Every operation on an existing file goes through its node's descriptor: fstat, fchownat
//     with AT_EMPTY_PATH, readlinkat(fd, ""), and, to reopen a node for I/O or chmod it,
//     /proc/self/fd/N of that descriptor (the kernel follows such a link to the very inode, with
//     no lookup by name), so a rename race on the host cannot swap in another file.
//   - Creation happens by name in a held directory with O_EXCL / O_NOFOLLOW.
//   - Device nodes are never opened or created.
//
// A Server is used by one thread (the one serving its socket); it is not thread-safe.
#ifndef MOAT_GOFER_SERVER_H_
#define MOAT_GOFER_SERVER_H_

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/file_descriptor.h"
#include "gofer/protocol.h"

namespace moat::gofer {

class Server {
 public:
  // `root`: a descriptor of the mount's root (any open mode; O_PATH is enough). `proc_self_fd`:
  // the gofer's /proc/self/fd directory, opened before it gave up its view of the host; not
  // owned. A read-only server refuses every change with EROFS.
  Server(FileDescriptor root, int proc_self_fd, bool readonly);

  // Answers requests on `sock` until the peer hangs up (Ok) or the socket fails.
  Result<void> Serve(int sock);

  // Answers one request: the encoded reply, and the fd to send with it (if any). Public for
  // the unit tests and the fuzzer.
  std::vector<uint8_t> Handle(uint32_t type, std::span<const uint8_t> body, FileDescriptor* fd);

  size_t node_count() const { return nodes_.size(); }

 private:
  struct Node {
    FileDescriptor fd;  // O_PATH (or the descriptor a create returned)
    uint32_t mode;      // the file type, as first seen
  };

  Result<NodeReply> Attach();
  Result<NodeReply> Walk(const WalkRequest& req);
  Result<AttrReply> Stat(const StatRequest& req);
  Result<EmptyReply> Open(const OpenRequest& req, FileDescriptor* fd);
  Result<NodeReply> Create(const CreateRequest& req, FileDescriptor* fd);
  Result<NodeReply> Mkdir(const MkdirRequest& req);
  Result<NodeReply> Mknod(const MknodRequest& req);
  Result<NodeReply> Symlink(const SymlinkRequest& req);
  Result<NodeReply> Link(const LinkRequest& req);
  Result<EmptyReply> Unlink(const UnlinkRequest& req);
  Result<EmptyReply> Connect(const ConnectRequest& req, FileDescriptor* fd);
  Result<EmptyReply> Rename(const RenameRequest& req);
  Result<ReadLinkReply> ReadLink(const ReadLinkRequest& req);
  Result<AttrReply> SetStat(const SetStatRequest& req);
  Result<ReadDirReply> ReadDir(const ReadDirRequest& req);
  Result<StatFsReply> StatFs(const StatFsRequest& req);
  void Close(const CloseRequest& req);

  Result<Node*> Get(uint64_t id);
  // The directory node `id`, for a request that names `name` in it.
  Result<int> DirFd(uint64_t id, std::string_view name);
  Result<int> WritableDirFd(uint64_t id, std::string_view name);
  // Reopens a node's file with `flags` through /proc/self/fd.
  Result<FileDescriptor> Reopen(const Node& n, int flags);
  // Opens `name` in `dir` as a node (O_PATH, no symlink followed) and gives it an id.
  Result<NodeReply> AddNode(int dir, std::string_view name);
  NodeReply AddNode(FileDescriptor fd, const struct stat& st);

  FileDescriptor root_;
  const int proc_self_fd_;
  const bool readonly_;
  std::unordered_map<uint64_t, Node> nodes_;
  uint64_t next_id_ = 1;
};

}  // namespace moat::gofer

#endif  // MOAT_GOFER_SERVER_H_
