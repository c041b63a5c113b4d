// The overlay root: a tmpfs upper layer over a read-only gofer lower layer. Every test ends by
// checking that the host directory is exactly as it was: writes in the sandbox never reach the
// host.
#include <sys/sysmacros.h>

#include <thread>

#include "sentry/fsimpl/overlay.h"
#include "sentry/fsimpl/tmpfs.h"
#include "tests/unit/gofer_test_util.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using testing::ServeForTest;
using fsimpl::NewOverlay;
using fsimpl::NewTmpfs;
using testing::HostTempDir;
using testing::NoTask;
using testing::TestFs;
using testing::User;

class OverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.WriteFile("a.txt", "hello");
    host_.WriteFile("exec.sh", "#!/bin/sh\n", 0750);
    host_.Mkdir("d");
    host_.WriteFile("d/x", "x");
    host_.WriteFile("d/y", "y");
    host_.Mkdir("e");
    host_.Mkdir("e/f");
    host_.WriteFile("e/f/g.txt", "g");
    host_.Mkdir("empty");
    host_.Symlink("a.txt", "link");
    before_ = host_.Snapshot();
    RefPtr<Dentry> lower = ASSERT_OK_AND_GET(ServeForTest(host_.path(), true));
    fs_ = std::make_unique<TestFs>(NewOverlay(lower, NewTmpfs(0755, 0, 0, 0)), MountFlags{},
                                   "overlay");
  }

  void TearDown() override {
    fs_.reset();
    EXPECT_EQ(host_.Snapshot(), before_) << "the host directory changed";
  }

  Stat St(std::string_view path, bool follow = true) {
    return ASSERT_OK_AND_GET(fs_->StatOf(path, follow));
  }
  std::vector<std::string> Names(std::string_view dir) {
    std::vector<std::string> names = ASSERT_OK_AND_GET(fs_->List(dir));
    std::sort(names.begin(), names.end());
    return names;
  }
  uint64_t HostIno(std::string_view rel) {
    struct stat st;
    lstat((host_ / rel).c_str(), &st);
    return st.st_ino;
  }

  HostTempDir host_;
  std::string before_;
  std::unique_ptr<TestFs> fs_;
};

TEST_F(OverlayTest, ShowsTheLowerLayer) {
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "hello");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/link")), "hello");
  EXPECT_EQ(Names("/"), (std::vector<std::string>{".", "..", "a.txt", "d", "e", "empty",
                                                   "exec.sh", "link"}));
  EXPECT_EQ(St("/a.txt").ino, HostIno("a.txt"));
  EXPECT_EQ(St("/").ino, HostIno(""));
  EXPECT_EQ(St("/exec.sh").mode, S_IFREG | 0750);
  EXPECT_TRUE(S_ISLNK(St("/link", false).mode));
  // One device for the whole overlay.
  EXPECT_EQ(St("/d/x").dev, St("/").dev);
}

TEST_F(OverlayTest, WritesCopyUpAndKeepTheInodeNumber) {
  const uint64_t ino = St("/a.txt").ino;
  const uint64_t dev = St("/a.txt").dev;
  RefPtr<FileDescription> ro = ASSERT_OK_AND_GET(fs_->Open("/a.txt", O_RDONLY));
  // Opening for writing copies up, data included.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/a.txt", O_RDWR));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*f)), "hello");
  ASSERT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, " world")), 6u);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "hello world");
  EXPECT_EQ(St("/a.txt").ino, ino);
  EXPECT_EQ(St("/a.txt").dev, dev);
  EXPECT_EQ(St("/a.txt").size, 11);
  // A file born in the upper layer is on the overlay's own device.
  ASSERT_OK(fs_->WriteFile("/born", ""));
  EXPECT_NE(St("/born").dev, dev);
  // A descriptor opened before the copy-up reads the copy.
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*ro)), "hello world");
  // The copy is what gets mapped.
  int fd = ASSERT_OK_AND_GET(f->HostMapFd());
  char buf[16] = {};
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 11);
}

TEST_F(OverlayTest, TruncateAndAppend) {
  ASSERT_OK(fs_->WriteFile("/a.txt", "new"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "new");
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/d/x", O_WRONLY | O_APPEND));
  ASSERT_OK(TestFs::Write(*f, "+"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/d/x")), "x+");
}

TEST_F(OverlayTest, AttributesCopyUp) {
  SetStatRequest req;
  req.mode = 0600;
  ASSERT_OK(ASSERT_OK_AND_GET(fs_->Lookup("/exec.sh")).dentry->inode()->SetStat(req));
  EXPECT_EQ(St("/exec.sh").mode, S_IFREG | 0600);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/exec.sh")), "#!/bin/sh\n");
  // Copy-up preserves the owner and the modification time of the lower file.
  struct stat host;
  lstat((host_ / "d/y").c_str(), &host);
  RefPtr<FileDescription> y = ASSERT_OK_AND_GET(fs_->Open("/d/y", O_RDWR));
  Stat st = St("/d/y");
  EXPECT_EQ(st.uid, host.st_uid);
  EXPECT_EQ(st.mtime.tv_sec, host.st_mtim.tv_sec);
  EXPECT_EQ(st.mtime.tv_nsec, host.st_mtim.tv_nsec);
  EXPECT_EQ(st.mode, host.st_mode);
}

TEST_F(OverlayTest, UnlinkLeavesAWhiteout) {
  ASSERT_OK(fs_->Unlink("/d/x"));
  EXPECT_ERRNO(fs_->Lookup("/d/x"), ENOENT);
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", "..", "y"}));
  EXPECT_ERRNO(fs_->Unlink("/d/x"), ENOENT);
  // The name can be used again, for a new file.
  ASSERT_OK(fs_->WriteFile("/d/x", "again"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/d/x")), "again");
  EXPECT_NE(St("/d/x").ino, HostIno("d/x"));
  ASSERT_OK(fs_->Unlink("/d/x"));
  EXPECT_ERRNO(fs_->Lookup("/d/x"), ENOENT);
  ASSERT_OK(fs_->Unlink("/link"));
  EXPECT_ERRNO(fs_->Lookup("/link", false), ENOENT);
  ASSERT_OK(fs_->Lookup("/a.txt"));
}

TEST_F(OverlayTest, RmdirChecksTheMergedView) {
  EXPECT_ERRNO(fs_->Rmdir("/d"), ENOTEMPTY);
  ASSERT_OK(fs_->Unlink("/d/x"));
  ASSERT_OK(fs_->Unlink("/d/y"));
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", ".."}));
  ASSERT_OK(fs_->Rmdir("/d"));
  EXPECT_ERRNO(fs_->Lookup("/d"), ENOENT);
  ASSERT_OK(fs_->Rmdir("/empty"));
  EXPECT_EQ(Names("/"), (std::vector<std::string>{".", "..", "a.txt", "e", "exec.sh", "link"}));

  // mkdir where a whiteout is makes an opaque directory: the lower one stays hidden.
  ASSERT_OK(fs_->Mkdir("/d"));
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", ".."}));
  EXPECT_ERRNO(fs_->Lookup("/d/x"), ENOENT);
  ASSERT_OK(fs_->WriteFile("/d/z", "z"));
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", "..", "z"}));
  ASSERT_OK(fs_->Unlink("/d/z"));
  ASSERT_OK(fs_->Rmdir("/d"));
  EXPECT_ERRNO(fs_->Lookup("/d"), ENOENT);
}

TEST_F(OverlayTest, CreatingCopiesUpTheParents) {
  const uint64_t f_ino = St("/e/f").ino;
  ASSERT_OK(fs_->WriteFile("/e/f/new", "fresh"));
  EXPECT_EQ(Names("/e/f"), (std::vector<std::string>{".", "..", "g.txt", "new"}));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/f/g.txt")), "g");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/f/new")), "fresh");
  EXPECT_EQ(St("/e/f").ino, f_ino);
  EXPECT_EQ(St("/e/f").nlink, 1u);  // a merged directory, as overlayfs reports it
  ASSERT_OK(fs_->Mkdir("/e/f/sub"));
  ASSERT_OK(fs_->Symlink("g.txt", "/e/f/sl"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/f/sl")), "g");
  ASSERT_OK(fs_->Mknod("/e/f/fifo", S_IFIFO | 0600));
  EXPECT_ERRNO(fs_->Mknod("/e/f/wh", S_IFCHR | 0600, makedev(0, 0)), EPERM);
  EXPECT_ERRNO(fs_->Mkdir("/e/f/g.txt"), EEXIST);
  EXPECT_ERRNO(fs_->Open("/e/f/g.txt", O_CREAT | O_EXCL | O_WRONLY), EEXIST);
  // Upper-only files get inode numbers that cannot collide with the lower layer's.
  EXPECT_NE(St("/e/f/new").ino & (uint64_t{1} << 63), 0u);
  // getdents agrees with stat about inode numbers.
  RefPtr<FileDescription> d = ASSERT_OK_AND_GET(fs_->Open("/e/f", O_RDONLY));
  ASSERT_OK(d->ReadDir([&](const DirEntry& e, int64_t) {
    if (e.name != "..") {
      EXPECT_EQ(e.ino, St("/e/f/" + e.name, false).ino) << e.name;
    }
    return true;
  }));
}

TEST_F(OverlayTest, Rename) {
  // A regular file: copied up, and a whiteout left behind.
  ASSERT_OK(fs_->Rename("/a.txt", "/b.txt"));
  EXPECT_ERRNO(fs_->Lookup("/a.txt"), ENOENT);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/b.txt")), "hello");
  EXPECT_EQ(St("/b.txt").ino, HostIno("a.txt"));
  // A symlink, into a lower-only directory, over a lower file.
  ASSERT_OK(fs_->Rename("/link", "/e/f/g.txt"));
  EXPECT_TRUE(S_ISLNK(St("/e/f/g.txt", false).mode));
  EXPECT_ERRNO(fs_->ReadFile("/e/f/g.txt"), ENOENT);  // "a.txt" relative to /e/f
  EXPECT_EQ(Names("/e/f"), (std::vector<std::string>{".", "..", "g.txt"}));
  // And back over the whiteout it left.
  ASSERT_OK(fs_->Rename("/b.txt", "/a.txt"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "hello");
  EXPECT_ERRNO(fs_->Lookup("/b.txt"), ENOENT);

  // Directories with lower content cannot move; directories born above can.
  EXPECT_ERRNO(fs_->Rename("/e", "/e2"), EXDEV);
  EXPECT_ERRNO(fs_->Rename("/empty", "/empty2"), EXDEV);
  ASSERT_OK(fs_->Mkdir("/new"));
  ASSERT_OK(fs_->WriteFile("/new/file", "n"));
  ASSERT_OK(fs_->Rename("/new", "/e/moved"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/moved/file")), "n");
  EXPECT_ERRNO(fs_->Lookup("/new"), ENOENT);
  // Over an empty lower directory, and onto a non-empty one.
  ASSERT_OK(fs_->Rename("/e/moved", "/empty"));
  EXPECT_EQ(Names("/empty"), (std::vector<std::string>{".", "..", "file"}));
  EXPECT_ERRNO(fs_->Rename("/empty", "/d"), ENOTEMPTY);
  EXPECT_ERRNO(fs_->Rename("/a.txt", "/d"), EISDIR);
}

TEST_F(OverlayTest, RenameExchange) {
  // Two lower files in different directories: both are copied up and swapped above, keeping
  // their inode numbers; the host directory stays as it was (TearDown checks it).
  const uint64_t a_ino = HostIno("a.txt");
  const uint64_t g_ino = HostIno("e/f/g.txt");
  ASSERT_OK(fs_->Rename("/a.txt", "/e/f/g.txt", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "g");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/f/g.txt")), "hello");
  EXPECT_EQ(St("/a.txt").ino, g_ino);
  EXPECT_EQ(St("/e/f/g.txt").ino, a_ino);
  EXPECT_EQ(Names("/e/f"), (std::vector<std::string>{".", "..", "g.txt"}));
  // A symlink and a file in one directory.
  ASSERT_OK(fs_->Rename("/link", "/exec.sh", RENAME_EXCHANGE));
  EXPECT_TRUE(S_ISLNK(St("/exec.sh", false).mode));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/exec.sh")), "g");  // "a.txt", now holding "g"
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/link")), "#!/bin/sh\n");
  EXPECT_EQ(St("/link").mode, S_IFREG | 0750);
  // Self-exchange, and the errors of the VFS.
  ASSERT_OK(fs_->Rename("/a.txt", "/a.txt", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "g");
  EXPECT_ERRNO(fs_->Rename("/a.txt", "/missing", RENAME_EXCHANGE), ENOENT);
  EXPECT_ERRNO(fs_->Rename("/e", "/e/f", RENAME_EXCHANGE), EINVAL);

  // Without redirect_dir, a directory with lower content cannot take another name, even within
  // its parent, on either side of the exchange.
  EXPECT_ERRNO(fs_->Rename("/d", "/a.txt", RENAME_EXCHANGE), EXDEV);
  EXPECT_ERRNO(fs_->Rename("/a.txt", "/empty", RENAME_EXCHANGE), EXDEV);
  EXPECT_ERRNO(fs_->Rename("/d", "/e", RENAME_EXCHANGE), EXDEV);
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", "..", "x", "y"}));

  // A directory born in the upper layer can trade places with a file across parents, and its
  // ".." follows it.
  ASSERT_OK(fs_->Mkdir("/new"));
  ASSERT_OK(fs_->WriteFile("/new/file", "n"));
  ASSERT_OK(fs_->Rename("/new", "/e/f/g.txt", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/e/f/g.txt/file")), "n");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/new")), "hello");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->Lookup("/e/f/g.txt/..")).dentry,
            ASSERT_OK_AND_GET(fs_->Lookup("/e/f")).dentry);
  EXPECT_EQ(Names("/"), (std::vector<std::string>{".", "..", "a.txt", "d", "e", "empty",
                                                  "exec.sh", "link", "new"}));
  // It can be removed where it went, which leaves a whiteout for the lower g.txt.
  ASSERT_OK(fs_->Unlink("/e/f/g.txt/file"));
  ASSERT_OK(fs_->Rmdir("/e/f/g.txt"));
  EXPECT_EQ(Names("/e/f"), (std::vector<std::string>{".", ".."}));
}

// An upper-layer directory moved by an exchange onto a name whose lower directory was removed
// stays opaque: the lower directory's entries do not come back.
TEST_F(OverlayTest, RenameExchangeKeepsDirectoriesOpaque) {
  ASSERT_OK(fs_->Unlink("/d/x"));
  ASSERT_OK(fs_->Unlink("/d/y"));
  ASSERT_OK(fs_->Rmdir("/d"));
  ASSERT_OK(fs_->WriteFile("/d", "file over a whiteout"));
  ASSERT_OK(fs_->Mkdir("/fresh"));
  ASSERT_OK(fs_->Rename("/d", "/fresh", RENAME_EXCHANGE));
  EXPECT_TRUE(S_ISDIR(St("/d").mode));
  EXPECT_EQ(Names("/d"), (std::vector<std::string>{".", ".."}));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/fresh")), "file over a whiteout");
  ASSERT_OK(fs_->Rmdir("/d"));
  EXPECT_ERRNO(fs_->Lookup("/d"), ENOENT);
}

// The exchange happens in the upper layer alone, with both names present there and no
// whiteouts; the lower (gofer, read-only) layer refuses to change at all.
TEST(OverlayExchangeLayersTest, UpperLayerHoldsBothNames) {
  HostTempDir host;
  host.WriteFile("a", "A");
  host.Mkdir("dir");
  host.WriteFile("dir/b", "B");
  const std::string before = host.Snapshot();
  {
    RefPtr<Dentry> upper = NewTmpfs(0755, 0, 0, 0);
    TestFs fs(NewOverlay(ASSERT_OK_AND_GET(ServeForTest(host.path(), true)), upper));
    TestFs up(upper);
    ASSERT_OK(fs.Rename("/a", "/dir/b", RENAME_EXCHANGE));
    EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/a")), "B");
    EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/dir/b")), "A");
    EXPECT_EQ(ASSERT_OK_AND_GET(up.ReadFile("/a")), "B");
    EXPECT_EQ(ASSERT_OK_AND_GET(up.ReadFile("/dir/b")), "A");
    EXPECT_EQ(ASSERT_OK_AND_GET(up.List("/")), (std::vector<std::string>{".", "..", "a", "dir"}));
    EXPECT_EQ(ASSERT_OK_AND_GET(up.List("/dir")), (std::vector<std::string>{".", "..", "b"}));

    TestFs lower(ASSERT_OK_AND_GET(ServeForTest(host.path(), true)), MountFlags{}, "gofer");
    EXPECT_ERRNO(lower.Rename("/a", "/dir/b", RENAME_EXCHANGE), EROFS);
  }
  EXPECT_EQ(host.Snapshot(), before);
}

TEST_F(OverlayTest, HardLinks) {
  ASSERT_OK(fs_->Link("/a.txt", "/d/a2"));
  EXPECT_EQ(St("/d/a2").ino, St("/a.txt").ino);
  EXPECT_EQ(St("/a.txt").nlink, 2u);
  ASSERT_OK(fs_->WriteFile("/d/a2", "changed"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/a.txt")), "changed");
  ASSERT_OK(fs_->Unlink("/a.txt"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_->ReadFile("/d/a2")), "changed");
  EXPECT_ERRNO(fs_->Lookup("/a.txt"), ENOENT);
  EXPECT_ERRNO(fs_->Link("/d", "/d2"), EPERM);
}

TEST_F(OverlayTest, PermissionsApplyToTheMergedView) {
  auto user = User(4242, 4242);
  EXPECT_ERRNO(fs_->Open("/a.txt", O_WRONLY, 0, user.get()), EACCES);
  EXPECT_ERRNO(fs_->Unlink("/d/x", user.get()), EACCES);
  ASSERT_OK(fs_->ReadFile("/a.txt"));
}

}  // namespace
}  // namespace moat::vfs

namespace moat::vfs {
namespace {

// Namespace operations, copy-ups and lookups from several threads at once: nothing deadlocks,
// and what each thread leaves behind is consistent.
TEST(OverlayConcurrencyTest, ParallelOperations) {
  testing::HostTempDir host;
  for (int i = 0; i < 8; ++i) host.WriteFile("f" + std::to_string(i), "lower data");
  host.Mkdir("d");
  const std::string before = host.Snapshot();
  {
    TestFs fs(NewOverlay(ASSERT_OK_AND_GET(ServeForTest(host.path(), true)),
                         NewTmpfs(0755, 0, 0, 0)));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&fs, t] {
        for (int i = 0; i < 200; ++i) {
          std::string mine = "/d/t" + std::to_string(t) + "_" + std::to_string(i % 5);
          std::string shared = "/f" + std::to_string(i % 8);
          EXPECT_TRUE(fs.WriteFile(mine, "x").ok());
          EXPECT_TRUE(fs.Rename(mine, mine + ".moved").ok());
          EXPECT_TRUE(fs.Lookup(mine + ".moved").ok());
          EXPECT_TRUE(fs.Unlink(mine + ".moved").ok());
          Result<RefPtr<FileDescription>> f = fs.Open(shared, O_RDWR);
          EXPECT_TRUE(f.ok());
          if (f.ok()) {
            EXPECT_EQ(TestFs::ReadAll(**f).value_or(""), "lower data");
          }
          EXPECT_TRUE(fs.List("/d").ok());
          EXPECT_TRUE(fs.Mkdir("/d/dir" + std::to_string(t)).ok());
          EXPECT_TRUE(fs.Rmdir("/d/dir" + std::to_string(t)).ok());
        }
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(ASSERT_OK_AND_GET(fs.List("/d")), (std::vector<std::string>{".", ".."}));
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/f" + std::to_string(i))), "lower data");
    }
  }
  EXPECT_EQ(host.Snapshot(), before);
}

}  // namespace
}  // namespace moat::vfs
