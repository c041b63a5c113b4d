// The gofer protocol: how the sentry asks the gofer for files (DESIGN.md section 6). Shared by
// the server (gofer/server.cc) and the client (sentry/fsimpl/gofer.cc); nothing else encodes or
// decodes it.
//
// Transport: one SOCK_SEQPACKET socketpair per mount, so every message arrives whole or not at
// all. The client sends a request and waits for its reply; requests on one socket never overlap.
// A host fd travels beside a reply with SCM_RIGHTS (the file an Open or Create made), never
// beside a request: the gofer closes any fd the sentry sends.
//
// Wire format: a Header (message type and total length), then the message's fields in the order
// its Visit() lists them, little-endian as on x86-64: integers as themselves, a string as a u32
// length and its bytes, a list as a u32 count and its elements. A reply's type is its request's
// type with kReplyBit set, or kError (an errno) for a request that failed.
//
// Nodes: the gofer answers a walk with a node id that stands for the file it opened (an O_PATH
// descriptor inside the gofer). Later requests name files by node id; Close releases ids. A node
// is a file, not a path: renaming it does not change what the id refers to.
//
// Trust: the gofer trusts nothing in a request. Names are single components (no "/", no NUL,
// not "." or "..", at most 255 bytes); an unknown node id is EBADF; a message that does not
// decode exactly is EINVAL. The sentry in turn checks every reply it decodes.
#ifndef MOAT_GOFER_PROTOCOL_H_
#define MOAT_GOFER_PROTOCOL_H_

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/errno.h"
#include "base/file_descriptor.h"
#include "base/wire.h"

namespace moat::gofer {

enum MsgType : uint32_t {
  kError = 1,
  kAttach,
  kWalk,
  kStat,
  kOpen,
  kCreate,
  kMkdir,
  kMknod,
  kSymlink,
  kLink,
  kUnlink,
  kRename,
  kReadLink,
  kSetStat,
  kReadDir,
  kStatFs,
  kClose,
  kConnect,
};
inline constexpr uint32_t kReplyBit = 0x8000'0000;

// The largest message either side sends or accepts. A directory listing is split to fit.
inline constexpr size_t kMaxMessage = 64 * 1024;
inline constexpr size_t kMaxName = 255;
inline constexpr size_t kMaxSymlink = 4095;

using wire::Header;

struct Timespec {
  int64_t sec = 0;
  int64_t nsec = 0;
  template <class V> void Visit(V& v) { v(sec), v(nsec); }
};

// A file's attributes as the host reports them.
struct Attr {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  int64_t size = 0;
  int64_t blksize = 0;
  int64_t blocks = 0;
  Timespec atime, mtime, ctime;
  template <class V> void Visit(V& v) {
    v(dev), v(ino), v(mode), v(nlink), v(uid), v(gid), v(rdev), v(size), v(blksize), v(blocks);
    v(atime), v(mtime), v(ctime);
  }
};
Attr AttrFromStat(const struct stat& st);

// ---- Replies ----

struct ErrorReply {
  int32_t error = 0;
  template <class V> void Visit(V& v) { v(error); }
};
struct EmptyReply {
  template <class V> void Visit(V&) {}
};
// A new node and its attributes (walk, create, mkdir, ...). Create also donates an fd.
struct NodeReply {
  uint64_t node = 0;
  Attr attr;
  template <class V> void Visit(V& v) { v(node), v(attr); }
};
struct AttrReply {
  Attr attr;
  template <class V> void Visit(V& v) { v(attr); }
};
struct ReadLinkReply {
  std::string target;
  template <class V> void Visit(V& v) { v(target); }
};
struct Dirent {
  uint64_t ino = 0;
  uint64_t next = 0;  // the directory offset after this entry, for the next ReadDir
  uint8_t type = 0;   // DT_*
  std::string name;
  template <class V> void Visit(V& v) { v(ino), v(next), v(type), v(name); }
};
struct ReadDirReply {
  std::vector<Dirent> entries;
  uint8_t eof = 0;
  template <class V> void Visit(V& v) { v(entries), v(eof); }
};
struct StatFsReply {
  uint64_t type = 0, bsize = 0, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0;
  uint64_t namelen = 0, frsize = 0, flags = 0;
  template <class V> void Visit(V& v) {
    v(type), v(bsize), v(blocks), v(bfree), v(bavail), v(files), v(ffree), v(namelen), v(frsize),
        v(flags);
  }
};

// ---- Requests ----

// The root of the mount this socket serves.
struct AttachRequest {
  static constexpr MsgType kType = kAttach;
  using Reply = NodeReply;
  template <class V> void Visit(V&) {}
};
// One component of a path, from directory `dir`. Symlinks are never followed: walking a
// symlink gives a node for the link itself.
struct WalkRequest {
  static constexpr MsgType kType = kWalk;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  template <class V> void Visit(V& v) { v(dir), v(name); }
};
struct StatRequest {
  static constexpr MsgType kType = kStat;
  using Reply = AttrReply;
  uint64_t node = 0;
  template <class V> void Visit(V& v) { v(node); }
};
// Opens a regular file for I/O; the reply carries the host fd. `flags`: O_ACCMODE and O_TRUNC.
struct OpenRequest {
  static constexpr MsgType kType = kOpen;
  using Reply = EmptyReply;
  uint64_t node = 0;
  uint32_t flags = 0;
  template <class V> void Visit(V& v) { v(node), v(flags); }
};
// Creates and opens a regular file (O_EXCL always); the reply carries the host fd.
struct CreateRequest {
  static constexpr MsgType kType = kCreate;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  uint32_t flags = 0;  // O_ACCMODE
  uint32_t mode = 0;   // permission bits
  uint32_t uid = 0, gid = 0;
  template <class V> void Visit(V& v) { v(dir), v(name), v(flags), v(mode), v(uid), v(gid); }
};
struct MkdirRequest {
  static constexpr MsgType kType = kMkdir;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  template <class V> void Visit(V& v) { v(dir), v(name), v(mode), v(uid), v(gid); }
};
// FIFOs, sockets and regular files only: the gofer makes no device nodes.
struct MknodRequest {
  static constexpr MsgType kType = kMknod;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  uint32_t mode = 0;  // type and permission bits
  uint32_t uid = 0, gid = 0;
  template <class V> void Visit(V& v) { v(dir), v(name), v(mode), v(uid), v(gid); }
};
struct SymlinkRequest {
  static constexpr MsgType kType = kSymlink;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  std::string target;
  uint32_t uid = 0, gid = 0;
  template <class V> void Visit(V& v) { v(dir), v(name), v(target), v(uid), v(gid); }
};
// A new name `dir`/`name` for the file `target`.
struct LinkRequest {
  static constexpr MsgType kType = kLink;
  using Reply = NodeReply;
  uint64_t dir = 0;
  std::string name;
  uint64_t target = 0;
  template <class V> void Visit(V& v) { v(dir), v(name), v(target); }
};
struct UnlinkRequest {
  static constexpr MsgType kType = kUnlink;
  using Reply = EmptyReply;
  uint64_t dir = 0;
  std::string name;
  uint32_t flags = 0;  // AT_REMOVEDIR
  template <class V> void Visit(V& v) { v(dir), v(name), v(flags); }
};
struct RenameRequest {
  static constexpr MsgType kType = kRename;
  using Reply = EmptyReply;
  uint64_t old_dir = 0;
  std::string old_name;
  uint64_t new_dir = 0;
  std::string new_name;
  uint32_t flags = 0;  // RENAME_NOREPLACE, RENAME_EXCHANGE
  template <class V> void Visit(V& v) { v(old_dir), v(old_name), v(new_dir), v(new_name), v(flags); }
};
struct ReadLinkRequest {
  static constexpr MsgType kType = kReadLink;
  using Reply = ReadLinkReply;
  uint64_t node = 0;
  template <class V> void Visit(V& v) { v(node); }
};
// Which SetStatRequest fields apply.
enum SetStatMask : uint32_t {
  kSetMode = 1,
  kSetUid = 2,
  kSetGid = 4,
  kSetSize = 8,
  kSetAtime = 16,
  kSetMtime = 32,
};
struct SetStatRequest {
  static constexpr MsgType kType = kSetStat;
  using Reply = AttrReply;
  uint64_t node = 0;
  uint32_t mask = 0;
  uint32_t mode = 0;  // permission bits
  uint32_t uid = 0, gid = 0;
  int64_t size = 0;
  Timespec atime, mtime;  // nsec may be UTIME_NOW
  template <class V> void Visit(V& v) {
    v(node), v(mask), v(mode), v(uid), v(gid), v(size), v(atime), v(mtime);
  }
};
// Entries of directory `node` from `offset` (0 for the start), as many as fit in one reply.
struct ReadDirRequest {
  static constexpr MsgType kType = kReadDir;
  using Reply = ReadDirReply;
  uint64_t node = 0;
  uint64_t offset = 0;
  template <class V> void Visit(V& v) { v(node), v(offset); }
};
struct StatFsRequest {
  static constexpr MsgType kType = kStatFs;
  using Reply = StatFsReply;
  uint64_t node = 0;
  template <class V> void Visit(V& v) { v(node); }
};
// Releases nodes. The only request without a reply.
struct CloseRequest {
  static constexpr MsgType kType = kClose;
  std::vector<uint64_t> nodes;
  template <class V> void Visit(V& v) { v(nodes); }
};

// Connects a new host AF_UNIX socket of `type` (SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET) to
// the socket file `node` (a host socket a bind mount brings in): the sentry's connect(2) to a
// name no sandbox socket is bound to. The reply carries the connected socket, non-blocking.
// A listener with a full backlog is EAGAIN, not a wait: the gofer serves the whole mount.
struct ConnectRequest {
  static constexpr MsgType kType = kConnect;
  using Reply = EmptyReply;
  uint64_t node = 0;
  uint32_t type = 0;
  template <class V> void Visit(V& v) { v(node), v(type); }
};
// Whether `name` may be sent as one path component.
bool ValidName(std::string_view name);

// ---- Encoding and transport (base/wire.h) ----

using wire::Decode;
using wire::Decoder;
using wire::Encode;
using wire::Encoder;
using wire::Message;

// Sends one encoded message, with `fd` attached when it is >= 0. EPIPE when the peer is gone.
inline Result<void> SendMessage(int sock, std::span<const uint8_t> msg, int fd = -1) {
  return wire::SendMessage(sock, msg, fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>());
}
// Receives one message, with at most one fd. ECONNRESET when the peer is gone (end of file);
// EPROTO for a message that is truncated or whose length disagrees with its header.
inline Result<Message> ReceiveMessage(int sock) { return wire::ReceiveMessage(sock, kMaxMessage, 1); }

}  // namespace moat::gofer

#endif  // MOAT_GOFER_PROTOCOL_H_
