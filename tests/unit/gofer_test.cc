// The gofer and its client: a host directory served over the gofer protocol, whose symlinks the
// host never follows, with its writes, its caches and its refusals of malformed requests.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/unit/gofer_test_util.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using testing::ServeForTest;
using testing::HostTempDir;
using testing::NoTask;
using testing::TestFs;

class GoferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.WriteFile("file", "contents");
    host_.Mkdir("dir");
    host_.WriteFile("dir/inner", "inner");
    host_.WriteFile("marker", "in the sandbox");
    host_.Symlink("file", "rel");
    // An absolute symlink means the sandbox's root, not the host's: "/marker" does not exist on
    // the host, only in the view.
    host_.Symlink("/marker", "abs");
    // ".." cannot climb above the view's root either.
    host_.Symlink("../../../../../../marker", "up");
    host_.Symlink("dir", "dirlink");
    fs_ = std::make_unique<TestFs>(ASSERT_OK_AND_GET(ServeForTest(host_.path(), true)),
                                   MountFlags{}, "gofer");
  }

  HostTempDir host_;
  std::unique_ptr<TestFs> fs_;
};

TEST_F(GoferTest, ReadsTheTree) {
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/file")), "contents");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/dir/inner")), "inner");
  std::vector<std::string> names = ASSERT_OK_AND_GET(fs_->List("/"));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "abs", "dir", "dirlink", "file", "marker",
                                             "rel", "up"}));
  // Types come through readdir.
  RefPtr<FileDescription> d = ASSERT_OK_AND_GET(fs_->Open("/", O_RDONLY | O_DIRECTORY));
  std::map<std::string, uint8_t> types;
  ASSERT_OK(d->ReadDir([&](const DirEntry& e, int64_t) {
    types[e.name] = e.type;
    return true;
  }));
  EXPECT_EQ(types["dir"], DT_DIR);
  EXPECT_EQ(types["file"], DT_REG);
  EXPECT_EQ(types["rel"], DT_LNK);
}

TEST_F(GoferTest, StatUsesHostInodeAndSentryDevice) {
  struct stat host;
  ASSERT_EQ(lstat((host_ / "file").c_str(), &host), 0);
  Stat st = ASSERT_OK_AND_GET(fs_->StatOf("/file"));
  EXPECT_EQ(st.ino, host.st_ino);
  EXPECT_NE(st.dev, host.st_dev);
  EXPECT_EQ(major(st.dev), 0u);
  EXPECT_EQ(st.size, 8);
  EXPECT_EQ(st.mode, host.st_mode);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/")).dev, st.dev);
}

TEST_F(GoferTest, SymlinksAreResolvedInTheView) {
  Stat link = ASSERT_OK_AND_GET(fs_->StatOf("/rel", /*follow=*/false));
  EXPECT_TRUE(S_ISLNK(link.mode));
  Path rel = ASSERT_OK_AND_GET(fs_->Lookup("/rel", false));
  // Held in a variable: GCC 12 miscompiles a statement expression of class type used directly
  // as an argument of EXPECT_EQ here (it read a destroyed string).
  const std::string target = ASSERT_OK_AND_GET(rel.dentry->inode()->ReadLink());
  EXPECT_EQ(target, "file");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/rel")), "contents");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/abs")), "in the sandbox");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/up")), "in the sandbox");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/dirlink/inner")), "inner");
  EXPECT_ERRNO(fs_->Open("/rel", O_RDONLY | O_NOFOLLOW), ELOOP);
  // Lookups never go through a symlink on the host: a symlink is not a directory to look in.
  EXPECT_ERRNO(rel.dentry->inode()->Lookup("x"), ENOTDIR);
  EXPECT_ERRNO(fs_->Lookup("/file/x"), ENOTDIR);
  EXPECT_ERRNO(fs_->Lookup("/missing"), ENOENT);
}

TEST_F(GoferTest, EveryChangeIsEROFS) {
  EXPECT_ERRNO(fs_->Open("/file", O_WRONLY), EROFS);
  EXPECT_ERRNO(fs_->Open("/file", O_RDWR), EROFS);
  EXPECT_ERRNO(fs_->Open("/file", O_RDONLY | O_TRUNC), EROFS);
  EXPECT_ERRNO(fs_->Open("/new", O_WRONLY | O_CREAT), EROFS);
  EXPECT_ERRNO(fs_->Mkdir("/newdir"), EROFS);
  EXPECT_ERRNO(fs_->Symlink("x", "/newlink"), EROFS);
  EXPECT_ERRNO(fs_->Mknod("/fifo", S_IFIFO | 0644), EROFS);
  EXPECT_ERRNO(fs_->Link("/file", "/hard"), EROFS);
  EXPECT_ERRNO(fs_->Unlink("/file"), EROFS);
  EXPECT_ERRNO(fs_->Rmdir("/dir/"), EROFS);
  EXPECT_ERRNO(fs_->Rename("/file", "/renamed"), EROFS);
  SetStatRequest req;
  req.mode = 0777;
  EXPECT_ERRNO(ASSERT_OK_AND_GET(fs_->Lookup("/file")).dentry->inode()->SetStat(req), EROFS);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/file")), "contents");
  // On a read-only mount the VFS answers first.
  TestFs ro(ASSERT_OK_AND_GET(ServeForTest(host_.path(), true)), MountFlags{.readonly = true});
  EXPECT_ERRNO(ro.Open("/file", O_RDWR), EROFS);
  EXPECT_ERRNO(ro.Unlink("/missing"), EROFS);
}

TEST_F(GoferTest, FileDescription) {
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/file", O_RDONLY));
  uint8_t buf[4];
  EXPECT_EQ(ASSERT_OK_AND_GET(f->PRead(NoTask(), buf, 4)), 4u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "ents");
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(0, SEEK_END)), 8);
  int fd = ASSERT_OK_AND_GET(f->HostMapFd());
  EXPECT_EQ(pread(fd, buf, 4, 0), 4);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "cont");
}

TEST_F(GoferTest, RootMayBeAFile) {
  // A bind mount of a single file is served like a directory tree of one file.
  TestFs file(ASSERT_OK_AND_GET(ServeForTest(host_ / "file", true)), MountFlags{}, "gofer");
  RefPtr<FileDescription> f =
      ASSERT_OK_AND_GET(OpenPath(file.root_creds(), file.root(), O_RDONLY));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*f)), "contents");
  EXPECT_ERRNO(ServeForTest(host_ / "missing"), ENOENT);
}

TEST(GoferDevicesTest, DeviceNodesOpenTheSentrysDevices) {
  // The host's /dev/null, seen through the gofer, is the sentry's null device: writes vanish
  // without any host device being opened.
  Result<RefPtr<Dentry>> dev = ServeForTest("/dev", true);
  if (!dev.ok()) GTEST_SKIP() << "no /dev on this host: " << dev.error().Name();
  TestFs fs(*dev, MountFlags{}, "gofer");
  RefPtr<FileDescription> null = ASSERT_OK_AND_GET(fs.Open("/null", O_WRONLY));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*null, "discard")), 7u);
}

// A writable mount (a read-write bind mount, or a root without an overlay): changes reach the
// host, with the owner and mode the sandbox asked for.
class GoferWritableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.WriteFile("file", "contents");
    host_.Mkdir("dir");
    fs_ = std::make_unique<TestFs>(ASSERT_OK_AND_GET(ServeForTest(host_.path())), MountFlags{},
                                   "gofer");
  }
  struct stat HostStat(std::string_view rel) {
    struct stat st{};
    EXPECT_EQ(lstat((host_ / rel).c_str(), &st), 0) << rel;
    return st;
  }
  std::string HostRead(std::string_view rel) {
    std::ifstream in(host_ / rel);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  HostTempDir host_;
  std::unique_ptr<TestFs> fs_;
};

TEST_F(GoferWritableTest, CreateWriteAndReadBack) {
  ASSERT_OK(fs_->WriteFile("/dir/new", "written in the sandbox", 0640));
  EXPECT_EQ(HostRead("dir/new"), "written in the sandbox");
  EXPECT_EQ(HostStat("dir/new").st_mode & 07777, 0640u);
  Stat st = ASSERT_OK_AND_GET(fs_->StatOf("/dir/new"));
  EXPECT_EQ(st.size, 22);
  EXPECT_EQ(st.mode, S_IFREG | 0640u);
  // Appending through another description moves the size that stat reports.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/dir/new", O_WRONLY | O_APPEND));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, "!")), 1u);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/dir/new")).size, 23);
  EXPECT_EQ(HostRead("dir/new"), "written in the sandbox!");
  EXPECT_ERRNO(fs_->Open("/dir/new", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
  // O_TRUNC empties the file on the host.
  ASSERT_OK(fs_->Open("/file", O_WRONLY | O_TRUNC));
  EXPECT_EQ(HostStat("file").st_size, 0);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/file")).size, 0);
}

TEST_F(GoferWritableTest, NamespaceChanges) {
  ASSERT_OK(fs_->Mkdir("/dir/sub", 0710));
  EXPECT_TRUE(S_ISDIR(HostStat("dir/sub").st_mode));
  EXPECT_EQ(HostStat("dir/sub").st_mode & 07777, 0710u);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/dir")).nlink, 3u);
  ASSERT_OK(fs_->Symlink("../file", "/dir/link"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/dir/link")), "contents");
  ASSERT_OK(fs_->Link("/file", "/dir/hard"));
  EXPECT_EQ(HostStat("dir/hard").st_ino, HostStat("file").st_ino);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/file")).nlink, 2u);
  ASSERT_OK(fs_->Rename("/dir/hard", "/moved"));
  EXPECT_EQ(HostRead("moved"), "contents");
  EXPECT_ERRNO(fs_->Lookup("/dir/hard"), ENOENT);
  // A rename across directories moves the dentry to its new parent.
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->Lookup("/moved", false)).dentry->parent(), fs_->root().dentry);
  ASSERT_OK(fs_->Rename("/moved", "/dir/sub", RENAME_EXCHANGE));
  EXPECT_TRUE(S_ISDIR(HostStat("moved").st_mode));
  EXPECT_EQ(HostRead("dir/sub"), "contents");
  ASSERT_OK(fs_->Unlink("/dir/sub"));
  ASSERT_OK(fs_->Rmdir("/moved"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/file")).nlink, 1u);
  EXPECT_ERRNO(fs_->Rmdir("/dir"), ENOTEMPTY);
  ASSERT_OK(fs_->Mknod("/fifo", S_IFIFO | 0600));
  EXPECT_TRUE(S_ISFIFO(HostStat("fifo").st_mode));
  // No device node is ever made on the host.
  EXPECT_ERRNO(fs_->Mknod("/null", S_IFCHR | 0666, makedev(1, 3)), EPERM);
  EXPECT_NE(access((host_ / "null").c_str(), F_OK), 0);
  // A name the sandbox saw missing, then created, is found.
  EXPECT_ERRNO(fs_->Lookup("/later"), ENOENT);
  ASSERT_OK(fs_->WriteFile("/later", "x"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/later")), "x");
}

TEST_F(GoferWritableTest, AttributeChanges) {
  Path p = ASSERT_OK_AND_GET(fs_->Lookup("/file"));
  SetStatRequest req;
  req.mode = 0604;
  req.uid = 1234;
  req.gid = 5678;
  req.size = 3;
  req.mtime = timespec{1000, 5};
  ASSERT_OK(p.dentry->inode()->SetStat(req));
  struct stat host = HostStat("file");
  EXPECT_EQ(host.st_mode & 07777, 0604u);
  EXPECT_EQ(host.st_uid, 1234u);
  EXPECT_EQ(host.st_gid, 5678u);
  EXPECT_EQ(host.st_size, 3);
  EXPECT_EQ(host.st_mtim.tv_sec, 1000);
  EXPECT_EQ(host.st_mtim.tv_nsec, 5);
  Stat st = ASSERT_OK_AND_GET(fs_->StatOf("/file"));
  EXPECT_EQ(st.mode, S_IFREG | 0604u);
  EXPECT_EQ(st.uid, 1234u);
  EXPECT_EQ(st.size, 3);
  EXPECT_EQ(st.mtime.tv_sec, 1000);
  // New files in a setgid directory take its group.
  ASSERT_EQ(chmod((host_ / "dir").c_str(), 02775), 0);
  ASSERT_EQ(chown((host_ / "dir").c_str(), 0, 77), 0);
  TestFs fresh(ASSERT_OK_AND_GET(ServeForTest(host_.path())), MountFlags{}, "gofer");
  ASSERT_OK(fresh.WriteFile("/dir/g", "g"));
  ASSERT_OK(fresh.Mkdir("/dir/gd", 0755));
  EXPECT_EQ(HostStat("dir/g").st_gid, 77u);
  EXPECT_EQ(HostStat("dir/gd").st_mode & 07777, 02755u);
}

// Open fds of this process (the test's gofer servers run in it).
int OpenFds() {
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n++;
  return n;
}

TEST_F(GoferWritableTest, HardLinksAreOneInode) {
  ASSERT_EQ(link((host_ / "file").c_str(), (host_ / "dir/other").c_str()), 0);
  Path a = ASSERT_OK_AND_GET(fs_->Lookup("/file"));
  Path b = ASSERT_OK_AND_GET(fs_->Lookup("/dir/other"));
  EXPECT_EQ(a.dentry->inode(), b.dentry->inode());
  SetStatRequest req;
  req.size = 2;
  ASSERT_OK(a.dentry->inode()->SetStat(req));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->StatOf("/dir/other")).size, 2);
  // Renaming one name of a file onto another does nothing, as on Linux.
  ASSERT_OK(fs_->Rename("/file", "/dir/other"));
  EXPECT_EQ(HostStat("file").st_nlink, 2u);
  ASSERT_OK(fs_->Lookup("/file"));
}

TEST_F(GoferWritableTest, LinksDoNotLeakGoferNodes) {
  ASSERT_OK(fs_->Lookup("/file"));
  ASSERT_OK(fs_->Link("/file", "/warmup"));
  ASSERT_OK(fs_->Unlink("/warmup"));
  int before = OpenFds();
  for (int i = 0; i < 50; i++) {
    ASSERT_OK(fs_->Link("/file", "/dir/l"));
    ASSERT_OK(fs_->Unlink("/dir/l"));
  }
  ASSERT_OK(fs_->StatOf("/dir"));  // a request, so that pending closes reach the server
  EXPECT_LE(OpenFds(), before + 2);
}

// Two mounts of one host directory (a volume below the root, say): what one does, the other
// sees, and a rename through one never replaces a file it did not know the other made.
TEST_F(GoferWritableTest, OverlappingMountsStayCoherent) {
  TestFs other(ASSERT_OK_AND_GET(ServeForTest(host_.path())), MountFlags{}, "gofer");
  EXPECT_ERRNO(other.Lookup("/dir/t"), ENOENT);
  EXPECT_ERRNO(fs_->Lookup("/dir/t"), ENOENT);
  ASSERT_OK(fs_->WriteFile("/dir/t", "precious"));
  EXPECT_EQ(ASSERT_OK_AND_GET(other.ReadFile("/dir/t")), "precious");
  // `other` has no dentry for /dir/u yet and saw it missing; /dir/u then appears through fs_.
  EXPECT_ERRNO(other.Lookup("/dir/u"), ENOENT);
  ASSERT_OK(other.WriteFile("/dir/src", "junk"));
  ASSERT_OK(fs_->WriteFile("/dir/u", "precious"));
  Result<void> r = other.Rename("/dir/src", "/dir/u", RENAME_NOREPLACE);
  EXPECT_ERRNO(r, EEXIST);
  EXPECT_EQ(HostRead("dir/u"), "precious");
  // Appends through one mount show in the size the other reports.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/dir/t", O_WRONLY | O_APPEND));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, "!")), 1u);
  SetStatRequest req;
  req.mode = 0600;
  ASSERT_OK(ASSERT_OK_AND_GET(fs_->Lookup("/dir/t")).dentry->inode()->SetStat(req));
  EXPECT_EQ(ASSERT_OK_AND_GET(other.StatOf("/dir/t")).mode, S_IFREG | 0600u);
  EXPECT_EQ(ASSERT_OK_AND_GET(other.StatOf("/dir/t")).size, 9);
}

// The server alone, fed requests the sentry would never send: it refuses them and stays within
// its root.
class GoferServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.Mkdir("root");
    host_.WriteFile("secret", "outside the root");
    host_.WriteFile("root/file", "inside");
    host_.Symlink("../secret", "root/up");
    host_.Symlink("/etc/shadow", "root/shadow");
    host_.Symlink("..", "root/dotdot");
    server_ = std::make_unique<gofer::Server>(
        FileDescriptor(open((host_ / "root").c_str(), O_PATH | O_CLOEXEC)), testing::ProcSelfFd(),
        false);
    root_ = Call<gofer::NodeReply>(gofer::AttachRequest{}).value().node;
  }

  template <class Reply, class Req>
  Result<Reply> Call(const Req& req, FileDescriptor* fd = nullptr) {
    std::vector<uint8_t> msg = gofer::Encode(Req::kType, req);
    return Decode<Reply>(server_->Handle(Req::kType, std::span(msg).subspan(sizeof(gofer::Header)), fd));
  }
  template <class Reply>
  static Result<Reply> Decode(const std::vector<uint8_t>& reply) {
    gofer::Header h;
    std::memcpy(&h, reply.data(), sizeof(h));
    std::span<const uint8_t> body = std::span(reply).subspan(sizeof(h));
    if (h.type == gofer::kError) {
      gofer::ErrorReply e;
      EXPECT_TRUE(gofer::Decode(body, e));
      return Errno(e.error);
    }
    Reply r;
    EXPECT_TRUE(gofer::Decode(body, r));
    return r;
  }

  HostTempDir host_;
  std::unique_ptr<gofer::Server> server_;
  uint64_t root_ = 0;
};

TEST_F(GoferServerTest, NamesAreSingleComponents) {
  for (const char* bad : {"..", ".", "", "a/b", "../secret", "/etc"}) {
    EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::WalkRequest{root_, bad}), EINVAL);
  }
  EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::WalkRequest{root_, std::string("fi\0le", 6)}), EINVAL);
  EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::WalkRequest{root_, std::string(256, 'a')}),
               ENAMETOOLONG);
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::UnlinkRequest{root_, "../secret", 0}), EINVAL);
  EXPECT_ERRNO(Call<gofer::EmptyReply>(
                   gofer::RenameRequest{root_, "file", root_, "../stolen", 0}),
               EINVAL);
  EXPECT_EQ(access((host_ / "secret").c_str(), F_OK), 0);
}

TEST_F(GoferServerTest, SymlinksAreNodesNotDetours) {
  // Walking a symlink gives the link; looking inside it is ENOTDIR, whatever it points at.
  for (const char* link : {"up", "shadow", "dotdot"}) {
    gofer::NodeReply n = ASSERT_OK_AND_GET(Call<gofer::NodeReply>(gofer::WalkRequest{root_, link}));
    EXPECT_TRUE(S_ISLNK(n.attr.mode)) << link;
    EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::WalkRequest{n.node, "secret"}), ENOTDIR);
    // Opening a link for I/O is refused: only regular files are opened.
    FileDescriptor fd;
    EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::OpenRequest{n.node, O_RDONLY}, &fd), EINVAL);
    EXPECT_FALSE(fd.valid());
    EXPECT_ERRNO(Call<gofer::AttrReply>(gofer::SetStatRequest{.node = n.node,
                                                              .mask = gofer::kSetMode,
                                                              .mode = 0777}),
                 EOPNOTSUPP);
  }
  // Opening a regular file gives its host fd.
  gofer::NodeReply f = ASSERT_OK_AND_GET(Call<gofer::NodeReply>(gofer::WalkRequest{root_, "file"}));
  FileDescriptor fd;
  ASSERT_OK(Call<gofer::EmptyReply>(gofer::OpenRequest{f.node, O_RDONLY}, &fd));
  char buf[6];
  EXPECT_EQ(pread(fd.get(), buf, 6, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "inside");
}

TEST_F(GoferServerTest, MalformedRequests) {
  auto error_of = [](const std::vector<uint8_t>& reply) {
    Result<gofer::EmptyReply> r = Decode<gofer::EmptyReply>(reply);
    return r.ok() ? 0 : r.error().value();
  };
  FileDescriptor fd;
  // Unknown type, empty body, short body, trailing bytes, a string longer than the message.
  EXPECT_EQ(error_of(server_->Handle(999, {}, &fd)), EINVAL);
  EXPECT_EQ(error_of(server_->Handle(gofer::kWalk, {}, &fd)), EINVAL);
  std::vector<uint8_t> walk = gofer::Encode(gofer::kWalk, gofer::WalkRequest{root_, "file"});
  std::span<const uint8_t> body = std::span(walk).subspan(sizeof(gofer::Header));
  EXPECT_EQ(error_of(server_->Handle(gofer::kWalk, body.first(body.size() - 1), &fd)), EINVAL);
  std::vector<uint8_t> longer(body.begin(), body.end());
  longer.push_back(0);
  EXPECT_EQ(error_of(server_->Handle(gofer::kWalk, longer, &fd)), EINVAL);
  std::vector<uint8_t> lying(body.begin(), body.end());
  uint32_t huge = 0xffffffff;
  std::memcpy(lying.data() + 8, &huge, 4);  // the name's length
  EXPECT_EQ(error_of(server_->Handle(gofer::kWalk, lying, &fd)), EINVAL);
  // Unknown nodes, and a request on a node of the wrong kind.
  EXPECT_ERRNO(Call<gofer::AttrReply>(gofer::StatRequest{12345}), EBADF);
  gofer::NodeReply f = ASSERT_OK_AND_GET(Call<gofer::NodeReply>(gofer::WalkRequest{root_, "file"}));
  EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::WalkRequest{f.node, "x"}), ENOTDIR);
  EXPECT_ERRNO(Call<gofer::ReadDirReply>(gofer::ReadDirRequest{f.node, 0}), ENOTDIR);
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::OpenRequest{f.node, O_RDONLY | O_CREAT}), EINVAL);
  EXPECT_ERRNO(Call<gofer::NodeReply>(gofer::MknodRequest{root_, "dev", S_IFBLK | 0600}), EPERM);
  // Closed nodes are gone; closing unknown ones is harmless.
  size_t before = server_->node_count();
  std::vector<uint8_t> close = gofer::Encode(gofer::kClose, gofer::CloseRequest{{f.node, 999}});
  server_->Handle(gofer::kClose, std::span(close).subspan(sizeof(gofer::Header)), &fd);
  EXPECT_EQ(server_->node_count(), before - 1);
  EXPECT_ERRNO(Call<gofer::AttrReply>(gofer::StatRequest{f.node}), EBADF);
}

TEST_F(GoferServerTest, ConnectsToHostUnixSockets) {
  FileDescriptor listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = host_ / "root/sock";
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  uint64_t sock = ASSERT_OK_AND_GET(Call<gofer::NodeReply>(gofer::WalkRequest{root_, "sock"})).node;
  FileDescriptor conn;
  ASSERT_OK(Call<gofer::EmptyReply>(gofer::ConnectRequest{sock, SOCK_STREAM}, &conn));
  ASSERT_TRUE(conn.valid());
  EXPECT_TRUE(fcntl(conn.get(), F_GETFL) & O_NONBLOCK);
  ASSERT_EQ(write(conn.get(), "hi", 2), 2);
  FileDescriptor accepted(accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted.valid());
  char buf[2];
  ASSERT_EQ(read(accepted.get(), buf, 2), 2);
  // The host decides the type; a file that is no socket refuses; a bad type is EINVAL.
  FileDescriptor none;
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::ConnectRequest{sock, SOCK_DGRAM}, &none),
               EPROTOTYPE);
  uint64_t file = ASSERT_OK_AND_GET(Call<gofer::NodeReply>(gofer::WalkRequest{root_, "file"})).node;
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::ConnectRequest{file, SOCK_STREAM}, &none),
               ECONNREFUSED);
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::ConnectRequest{sock, 99}, &none), EINVAL);
  EXPECT_FALSE(none.valid());
  listener.Reset();
  EXPECT_ERRNO(Call<gofer::EmptyReply>(gofer::ConnectRequest{sock, SOCK_STREAM}, &none),
               ECONNREFUSED);
}

TEST_F(GoferServerTest, SocketLevelGarbageGetsAnErrorReply) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  FileDescriptor client(sv[0]);
  std::thread t([this, s = FileDescriptor(sv[1])] { EXPECT_TRUE(server_->Serve(s.get()).ok()); });
  // Shorter than a header, and a header whose length lies.
  uint8_t tiny[3] = {1, 2, 3};
  ASSERT_EQ(send(client.get(), tiny, sizeof(tiny), 0), 3);
  Result<gofer::Message> m = gofer::ReceiveMessage(client.get());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, gofer::kError);
  gofer::Header h{gofer::kStat, 100};
  ASSERT_EQ(send(client.get(), &h, sizeof(h), 0), static_cast<ssize_t>(sizeof(h)));
  m = gofer::ReceiveMessage(client.get());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, gofer::kError);
  // And it still answers a proper request.
  ASSERT_OK(gofer::SendMessage(client.get(), gofer::Encode(gofer::kStat, gofer::StatRequest{root_})));
  m = gofer::ReceiveMessage(client.get());
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, gofer::kStat | gofer::kReplyBit);
  client.Reset();
  t.join();
}

}  // namespace
}  // namespace moat::vfs
