// libFuzzer target: the gofer's file server (gofer/server.h) serving arbitrary message sequences
// over a SOCK_SEQPACKET socketpair, as the sentry's client sends them, on a small directory tree
// made again for every input.
//
// The tree (in a temporary directory in /dev/shm or /tmp that lives as long as the fuzzer):
//   base/outside/           what the server must never reach: secret, dir/
//   base/root/              the server's root: file, empty, dir/nested, dir/deeper/, a fifo, a
//                           listening unix socket, and the symlinks link -> file,
//                           escape -> ../outside/secret, abs -> base/outside, dotdot -> ..
//
// Input: its first byte's low bit makes the server read-only; then records, each
//   [u8 type][u8 flags][u16 length, little-endian][length bytes of body]
// sent as one message with a header {type, 8 + length}. Flags: 1 makes the header's length
// wrong, 2 sends an fd beside the message, 4 sends only half a header, 8 sets kReplyBit in the
// type. The last record takes what is left when the input is shorter than its length.
//
// What is checked, besides the sanitizers' reports:
//   - every request but a well-formed Close gets exactly one reply, within 5 seconds, that
//     decodes exactly: the request's reply type or kError with an errno in 1..4095;
//   - a reply carries an fd only for Open, Create (a regular file under base/root) and Connect (a
//     socket); no attributes it reports are those of base, base/outside or anything in it, /,
//     /proc, or the directory base is in;
//   - once the sequence is over, the server ends cleanly on hang-up, no fd of the process is
//     left open, base/outside and what is in it are exactly as they were (entries, mode, owner,
//     size, link count, times) and base still holds only outside and root.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "gofer/protocol.h"
#include "gofer/server.h"

namespace moat::gofer {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "gofer_fuzzer: %s\n", what.c_str());
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

// Removes `name` in `dir` and everything below it, whatever modes the fuzzer left.
void RemoveTree(int dir, const char* name) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    fchmodat(dir, name, 0700, 0);
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      DIR* d = fdopendir(fd);
      std::vector<std::string> names;
      while (dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          names.push_back(e->d_name);
      }
      for (const std::string& n : names) RemoveTree(dirfd(d), n.c_str());
      closedir(d);
    }
    Check(unlinkat(dir, name, AT_REMOVEDIR) == 0, std::string("rmdir ") + name);
  } else {
    Check(unlinkat(dir, name, 0) == 0, std::string("unlink ") + name);
  }
}

void WriteFile(const std::string& path, const char* text, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  Check(fd >= 0, "create " + path);
  Check(write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text)), "write " + path);
  close(fd);
}

std::vector<std::string> List(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  Check(d != nullptr, "opendir " + path);
  while (dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

int CountFds() {
  int n = 0;
  for (const std::string& name : List("/proc/self/fd")) n += name[0] != '.';
  return n;
}

// What must not change: the files outside the root, and the directories holding them.
struct Sentinel {
  std::string path;
  bool times;  // false for base, whose times change as root is made again for each input
  struct stat st;
  std::vector<std::string> entries;  // for a directory
};

Sentinel Observe(const std::string& path, bool times) {
  Sentinel s{path, times, {}, {}};
  Check(lstat(path.c_str(), &s.st) == 0, "lstat " + path);
  if (S_ISDIR(s.st.st_mode)) s.entries = List(path);
  return s;
}

bool Same(const Sentinel& a, const Sentinel& b) {
  auto ts = [](const timespec& x, const timespec& y) {
    return x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec;
  };
  return a.st.st_ino == b.st.st_ino && a.st.st_mode == b.st.st_mode &&
         a.st.st_uid == b.st.st_uid && a.st.st_gid == b.st.st_gid &&
         a.st.st_nlink == b.st.st_nlink && a.entries == b.entries &&
         (!a.times || (a.st.st_size == b.st.st_size && ts(a.st.st_mtim, b.st.st_mtim) &&
                       ts(a.st.st_ctim, b.st.st_ctim)));
}

class Fixture {
 public:
  Fixture() {
    // Quiet: the server warns of every malformed message.
    SetLogLevel(LogLevel::kError);
    // In memory when it can be: the tree is made again for every input.
    parent_ = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = parent_ + "/moat-gofer-fuzz.XXXXXX";
    Check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    base_ = tmpl;
    root_ = base_ + "/root";
    outside_ = base_ + "/outside";
    Check(mkdir(outside_.c_str(), 0755) == 0, "mkdir outside");
    WriteFile(outside_ + "/secret", "secret\n", 0600);
    Check(mkdir((outside_ + "/dir").c_str(), 0755) == 0, "mkdir outside/dir");
    Check(mkdir(root_.c_str(), 0755) == 0, "mkdir root");
    proc_self_fd_ = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    Check(proc_self_fd_ >= 0, "open /proc/self/fd");
    sentinels_.push_back(Observe(base_, false));
    for (const std::string& p : {outside_, outside_ + "/secret", outside_ + "/dir"})
      sentinels_.push_back(Observe(p, true));
    for (const std::string& p : {base_, outside_, outside_ + "/secret", outside_ + "/dir",
                                 std::string("/"), parent_, std::string("/proc")}) {
      struct stat st;
      Check(stat(p.c_str(), &st) == 0, "stat " + p);
      forbidden_.insert({st.st_dev, st.st_ino});
    }
  }
  ~Fixture() {
    int b = open(parent_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    RemoveTree(b, base_.substr(parent_.size() + 1).c_str());
    close(b);
  }

  // The root as every input starts with it; returns the listener behind root/sock.
  FileDescriptor Reset() {
    int b = open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    RemoveTree(b, "root");
    close(b);
    Check(mkdir(root_.c_str(), 0755) == 0, "mkdir root");
    WriteFile(root_ + "/file", "hello\n", 0644);
    WriteFile(root_ + "/empty", "", 0600);
    Check(mkdir((root_ + "/dir").c_str(), 0755) == 0, "mkdir root/dir");
    WriteFile(root_ + "/dir/nested", "nested\n", 0644);
    Check(mkdir((root_ + "/dir/deeper").c_str(), 0700) == 0, "mkdir root/dir/deeper");
    Check(mkfifo((root_ + "/fifo").c_str(), 0644) == 0, "mkfifo");
    Check(symlink("file", (root_ + "/link").c_str()) == 0, "symlink link");
    Check(symlink("../outside/secret", (root_ + "/escape").c_str()) == 0, "symlink escape");
    Check(symlink(outside_.c_str(), (root_ + "/abs").c_str()) == 0, "symlink abs");
    Check(symlink("..", (root_ + "/dotdot").c_str()) == 0, "symlink dotdot");
    FileDescriptor listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/sock", root_.c_str());
    Check(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
    Check(listen(listener.get(), 1) == 0, "listen");
    return listener;
  }

  void CheckOutside() const {
    for (const Sentinel& s : sentinels_) {
      if (!Same(s, Observe(s.path, s.times))) Fail(s.path + " changed: the server reached outside its root");
    }
  }
  bool Forbidden(const Attr& a) const { return forbidden_.count({a.dev, a.ino}) != 0; }
  const std::string& root() const { return root_; }
  int proc_self_fd() const { return proc_self_fd_; }

 private:
  std::string parent_, base_, root_, outside_;
  int proc_self_fd_ = -1;
  std::vector<Sentinel> sentinels_;
  std::set<std::pair<uint64_t, uint64_t>> forbidden_;
};

Fixture& TheFixture() {
  static Fixture* f = new Fixture();
  static bool registered = (std::atexit([] { delete f; }), true);
  (void)registered;
  return *f;
}

template <class Reply>
Reply DecodeReply(const wire::Message& m, const char* what) {
  Reply r;
  Check(Decode(m.body, r), std::string("a ") + what + " that does not decode");
  return r;
}

// Checks the reply `m` to a request of type `type`.
void CheckReply(const Fixture& fx, uint32_t type, const wire::Message& m) {
  Check(m.fds.size() <= 1, "a reply with more than one fd");
  if (m.type == kError) {
    ErrorReply e = DecodeReply<ErrorReply>(m, "kError reply");
    Check(e.error > 0 && e.error < 4096, "an error reply with errno " + std::to_string(e.error));
    Check(m.fds.empty(), "an fd beside an error");
    return;
  }
  Check(m.type == (type | kReplyBit), "reply type " + std::to_string(m.type) + " to request " +
                                          std::to_string(type));
  auto check_attr = [&](const Attr& a) {
    Check(!fx.Forbidden(a), "a reply describes a file outside the root");
  };
  switch (type) {
    case kAttach: case kWalk: case kCreate: case kMkdir: case kMknod: case kSymlink: case kLink:
      check_attr(DecodeReply<NodeReply>(m, "NodeReply").attr);
      break;
    case kStat: case kSetStat:
      check_attr(DecodeReply<AttrReply>(m, "AttrReply").attr);
      break;
    case kReadLink:
      DecodeReply<ReadLinkReply>(m, "ReadLinkReply");
      break;
    case kReadDir:
      for (const Dirent& d : DecodeReply<ReadDirReply>(m, "ReadDirReply").entries)
        Check(ValidName(d.name), "a directory entry named \"" + d.name + "\"");
      break;
    case kStatFs:
      DecodeReply<StatFsReply>(m, "StatFsReply");
      break;
    default:
      DecodeReply<EmptyReply>(m, "EmptyReply");
      break;
  }
  bool fd_expected = type == kOpen || type == kCreate || type == kConnect;
  Check(m.fds.size() == (fd_expected ? 1u : 0u), "an fd beside the reply to " + std::to_string(type) +
                                                    " where none belongs, or none where one does");
  if (!fd_expected) return;
  int fd = m.fds[0].get();
  struct stat st;
  Check(fstat(fd, &st) == 0, "fstat of a received fd");
  if (type == kConnect) {
    Check(S_ISSOCK(st.st_mode), "Connect gave an fd that is not a socket");
    return;
  }
  Check(S_ISREG(st.st_mode), "Open or Create gave an fd that is not a regular file");
  Check(fx.Forbidden(AttrFromStat(st)) == false, "Open or Create gave a file outside the root");
  char link[4096] = {};
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  Check(readlink(proc.c_str(), link, sizeof(link) - 1) > 0, "readlink " + proc);
  Check(std::string(link).starts_with(fx.root() + "/"),
        std::string("an fd for ") + link + ", outside the root");
}

// Waits for one message on `sock`: the server must answer within 5 seconds.
wire::Message Receive(int sock) {
  // libFuzzer's -timeout alarm interrupts the wait now and then.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (r == 1) break;
    Check(r < 0 && errno == EINTR, "no reply within 5 seconds: the server hangs");
  }
  Result<wire::Message> m = wire::ReceiveMessage(sock, kMaxMessage, 4);
  Check(m.ok(), "receiving a reply: " + (m.ok() ? std::string() : m.error().Name()));
  return std::move(*m);
}

}  // namespace
}  // namespace moat::gofer

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moat;
  using namespace moat::gofer;
  if (size == 0) return 0;
  Fixture& fx = TheFixture();
  const int fds_before = CountFds();
  {
    FileDescriptor listener = fx.Reset();
    FileDescriptor root(open(fx.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    Check(root.valid(), "open root");
    int sv[2];
    Check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    FileDescriptor client(sv[0]), served(sv[1]);
    Server server(std::move(root), fx.proc_self_fd(), (data[0] & 1) != 0);
    Result<void> served_result = Ok();
    std::thread thread([&] { served_result = server.Serve(served.get()); });

    size_t pos = 1;
    while (pos + 4 <= size) {
      const uint8_t raw_type = data[pos], flags = data[pos + 1];
      size_t len = data[pos + 2] | (size_t{data[pos + 3]} << 8);
      pos += 4;
      len = std::min(len, size - pos);
      uint32_t type = raw_type | ((flags & 8) ? kReplyBit : 0);
      Header h{type, static_cast<uint32_t>(sizeof(Header) + len + ((flags & 1) ? 1 : 0))};
      std::vector<uint8_t> msg(sizeof(Header) + len);
      std::memcpy(msg.data(), &h, sizeof(h));
      std::memcpy(msg.data() + sizeof(Header), data + pos, len);
      pos += len;
      if (flags & 4) msg.resize(sizeof(Header) / 2);
      FileDescriptor extra;
      if (flags & 2) extra = FileDescriptor(open("/dev/null", O_RDONLY | O_CLOEXEC));
      Check(SendMessage(client.get(), msg, extra.get()).ok(), "sending a request");
      bool well_formed = !(flags & (1 | 4)) && msg.size() <= kMaxMessage;
      if (well_formed && type == kClose) continue;  // the one request without a reply
      wire::Message reply = Receive(client.get());
      if (!well_formed) {
        Check(reply.type == kError && reply.fds.empty(), "a malformed message was not refused");
        continue;
      }
      CheckReply(fx, type, reply);
    }
    shutdown(client.get(), SHUT_WR);
    thread.join();
    Check(served_result.ok(), "Serve ended with " +
                                  (served_result.ok() ? std::string() : served_result.error().Name()));
    served.Reset();
    // Nothing more may have come: the server answered each request once.
    char b;
    Check(recv(client.get(), &b, 1, MSG_DONTWAIT) == 0, "a reply no request asked for");
  }
  Check(CountFds() == fds_before, "an fd was leaked");
  fx.CheckOutside();
  return 0;
}
