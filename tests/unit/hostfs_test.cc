// hostfs: a read-only view of a host directory whose symlinks are never followed by the host.
#include <sys/sysmacros.h>

#include "sentry/fsimpl/hostfs.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using fsimpl::NewHostFilesystem;
using testing::HostTempDir;
using testing::NoTask;
using testing::TestFs;

class HostfsTest : public ::testing::Test {
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
    fs_ = std::make_unique<TestFs>(ASSERT_OK_AND_GET(NewHostFilesystem(host_.path())),
                                   MountFlags{}, "hostfs");
  }

  HostTempDir host_;
  std::unique_ptr<TestFs> fs_;
};

TEST_F(HostfsTest, ReadsTheTree) {
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

TEST_F(HostfsTest, StatUsesHostInodeAndSentryDevice) {
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

TEST_F(HostfsTest, SymlinksAreResolvedInTheView) {
  Stat link = ASSERT_OK_AND_GET(fs_->StatOf("/rel", /*follow=*/false));
  EXPECT_TRUE(S_ISLNK(link.mode));
  Path rel = ASSERT_OK_AND_GET(fs_->Lookup("/rel", false));
  EXPECT_EQ(ASSERT_OK_AND_GET(rel.dentry->inode()->ReadLink()), "file");
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

TEST_F(HostfsTest, EveryChangeIsEROFS) {
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
  // On a read-only mount (as hostfs is mounted) the VFS answers first.
  TestFs ro(ASSERT_OK_AND_GET(NewHostFilesystem(host_.path())), MountFlags{.readonly = true});
  EXPECT_ERRNO(ro.Open("/file", O_RDWR), EROFS);
  EXPECT_ERRNO(ro.Unlink("/missing"), EROFS);
}

TEST_F(HostfsTest, FileDescription) {
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_->Open("/file", O_RDONLY));
  uint8_t buf[4];
  EXPECT_EQ(ASSERT_OK_AND_GET(f->PRead(NoTask(), buf, 4)), 4u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "ents");
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(0, SEEK_END)), 8);
  int fd = ASSERT_OK_AND_GET(f->HostMapFd());
  EXPECT_EQ(pread(fd, buf, 4, 0), 4);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 4), "cont");
}

TEST_F(HostfsTest, NotADirectory) {
  EXPECT_ERRNO(NewHostFilesystem(host_ / "file"), ENOTDIR);
  EXPECT_ERRNO(NewHostFilesystem(host_ / "missing"), ENOENT);
}

TEST(HostfsDevicesTest, DeviceNodesOpenTheSentrysDevices) {
  // The host's /dev/null, seen through hostfs, is the sentry's null device: writes vanish
  // without any host device being opened for writing.
  Result<RefPtr<Dentry>> dev = NewHostFilesystem("/dev");
  if (!dev.ok()) GTEST_SKIP() << "no /dev on this host: " << dev.error().Name();
  TestFs fs(*dev, MountFlags{}, "hostfs");
  RefPtr<FileDescription> null = ASSERT_OK_AND_GET(fs.Open("/null", O_WRONLY));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*null, "discard")), 7u);
}

}  // namespace
}  // namespace moat::vfs
