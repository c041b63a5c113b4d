// tmpfs semantics through the VFS namespace operations: link counts, ownership, timestamps,
// rename rules, data, the size limit, and special files.
#include <sys/sysmacros.h>
#include <time.h>

#include "sentry/fsimpl/tmpfs.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using fsimpl::NewTmpfs;
using testing::NoTask;
using testing::TestFs;
using testing::User;

class TmpfsTest : public ::testing::Test {
 protected:
  TmpfsTest() : fs_(NewTmpfs(01777, 0, 0, 0)) {}

  Stat St(std::string_view path, bool follow = true) {
    return ASSERT_OK_AND_GET(fs_.StatOf(path, follow));
  }

  TestFs fs_;
};

bool Later(const timespec& a, const timespec& b) {
  return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

// Timestamps come from CLOCK_REALTIME; make sure the next one differs.
void Tick() {
  timespec ts{0, 2'000'000};
  nanosleep(&ts, nullptr);
}

TEST_F(TmpfsTest, RootAndIdentity) {
  Stat root = St("/");
  EXPECT_EQ(root.mode, S_IFDIR | 01777);
  EXPECT_EQ(root.nlink, 2u);
  EXPECT_EQ(root.ino, 1u);
  EXPECT_EQ(root.size, 40);  // two bogus 20-byte entries, as Linux's tmpfs reports
  ASSERT_OK(fs_.WriteFile("/a", ""));
  ASSERT_OK(fs_.WriteFile("/b", ""));
  EXPECT_NE(St("/a").ino, St("/b").ino);
  EXPECT_EQ(St("/a").dev, root.dev);
  EXPECT_EQ(St("/").size, 80);
  // Another instance is another device.
  TestFs other(NewTmpfs(0755, 0, 0, 0));
  EXPECT_NE(ASSERT_OK_AND_GET(other.StatOf("/")).dev, root.dev);
}

TEST_F(TmpfsTest, DirectoryLinkCounts) {
  ASSERT_OK(fs_.Mkdir("/d"));
  EXPECT_EQ(St("/").nlink, 3u);
  EXPECT_EQ(St("/d").nlink, 2u);
  ASSERT_OK(fs_.Mkdir("/d/e"));
  ASSERT_OK(fs_.WriteFile("/d/f", ""));
  EXPECT_EQ(St("/d").nlink, 3u);
  ASSERT_OK(fs_.Rename("/d/e", "/e"));
  EXPECT_EQ(St("/d").nlink, 2u);
  EXPECT_EQ(St("/").nlink, 4u);
  ASSERT_OK(fs_.Rmdir("/e"));
  EXPECT_EQ(St("/").nlink, 3u);
  EXPECT_ERRNO(fs_.Rmdir("/d"), ENOTEMPTY);
  EXPECT_ERRNO(fs_.Rmdir("/d/f"), ENOTDIR);
  EXPECT_ERRNO(fs_.Unlink("/d"), EISDIR);
  EXPECT_ERRNO(fs_.Rmdir("/d/."), EINVAL);
  EXPECT_ERRNO(fs_.Rmdir("/d/.."), ENOTEMPTY);
  EXPECT_ERRNO(fs_.Rmdir("/"), EBUSY);
  EXPECT_ERRNO(fs_.Unlink("/d/f/"), ENOTDIR);
  EXPECT_ERRNO(fs_.Unlink("/d/"), EISDIR);
  EXPECT_ERRNO(fs_.Mkdir("/d"), EEXIST);
  EXPECT_ERRNO(fs_.Mkdir("/d/f"), EEXIST);
  EXPECT_ERRNO(fs_.Mkdir("/"), EEXIST);
  EXPECT_ERRNO(fs_.Mkdir("/d/."), EEXIST);
  ASSERT_OK(fs_.Mkdir("/d/slash/"));  // mkdir accepts a trailing slash
  EXPECT_ERRNO(fs_.Mknod("/d/node/", S_IFREG | 0644), ENOENT);
}

TEST_F(TmpfsTest, HardLinks) {
  ASSERT_OK(fs_.WriteFile("/f", "x"));
  ASSERT_OK(fs_.Link("/f", "/g"));
  EXPECT_EQ(St("/f").nlink, 2u);
  EXPECT_EQ(St("/f").ino, St("/g").ino);
  ASSERT_OK(fs_.Unlink("/f"));
  EXPECT_EQ(St("/g").nlink, 1u);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/g")), "x");
  ASSERT_OK(fs_.Mkdir("/d"));
  EXPECT_ERRNO(fs_.Link("/d", "/d2"), EPERM);
  EXPECT_ERRNO(fs_.Link("/g", "/d"), EEXIST);
  EXPECT_ERRNO(fs_.Link("/missing", "/x"), ENOENT);
  // Renaming one name of a file over another name of the same file does nothing.
  ASSERT_OK(fs_.Link("/g", "/h"));
  ASSERT_OK(fs_.Rename("/g", "/h"));
  ASSERT_OK(fs_.Lookup("/g"));
  ASSERT_OK(fs_.Lookup("/h"));
  // An open file whose last name is gone keeps its data but cannot be linked again.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/h", O_RDONLY));
  ASSERT_OK(fs_.Unlink("/g"));
  ASSERT_OK(fs_.Unlink("/h"));
  EXPECT_EQ(ASSERT_OK_AND_GET(f->GetStat()).nlink, 0u);
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*f)), "x");
  ParentAndName at = ASSERT_OK_AND_GET(fs_.Parent("/again"));
  EXPECT_ERRNO(LinkAt(fs_.Ctx(), f->path(), at), ENOENT);
}

TEST_F(TmpfsTest, ProtectedHardlinks) {
  auto user = User(1000, 1000);
  ASSERT_OK(fs_.WriteFile("/rootfile", "x", 0600));
  EXPECT_ERRNO(fs_.Link("/rootfile", "/mine", user.get()), EPERM);
  ASSERT_OK(fs_.WriteFile("/shared", "x", 0666));
  ASSERT_OK(fs_.Link("/shared", "/mine", user.get()));
}

TEST_F(TmpfsTest, OwnershipAndSetgidDirectories) {
  auto user = User(1000, 1000);
  ASSERT_OK(fs_.Mkdir("/u", 0777));
  ASSERT_OK(fs_.Mkdir("/u/d", 0755, user.get()));
  Stat d = St("/u/d");
  EXPECT_EQ(d.uid, 1000u);
  EXPECT_EQ(d.gid, 1000u);
  EXPECT_EQ(d.mode, S_IFDIR | 0755);

  // A set-group-ID directory gives its group to new files and its bit to new directories.
  ASSERT_OK(fs_.Mkdir("/sg", 0777));
  SetStatRequest req;
  req.mode = 02777;
  req.gid = 50;
  ASSERT_OK(ASSERT_OK_AND_GET(fs_.Lookup("/sg")).dentry->inode()->SetStat(req));
  ASSERT_OK(fs_.Mkdir("/sg/sub", 0755, user.get()));
  EXPECT_EQ(St("/sg/sub").gid, 50u);
  EXPECT_EQ(St("/sg/sub").mode, S_IFDIR | 02755);
  ASSERT_OK(fs_.Open("/sg/file", O_WRONLY | O_CREAT, 02755, user.get()));
  // Not in group 50 and no CAP_FSETID: the set-group-ID bit of an executable is dropped.
  EXPECT_EQ(St("/sg/file").mode, S_IFREG | 0755);
  EXPECT_EQ(St("/sg/file").gid, 50u);
  // The mode never keeps file-type bits or more than 07777; mkdir drops set-id bits.
  ASSERT_OK(fs_.Mkdir("/m", 07777));
  EXPECT_EQ(St("/m").mode, S_IFDIR | 01777);

  // chown clears set-user-ID on files.
  ASSERT_OK(fs_.WriteFile("/suid", "", 04755));
  EXPECT_EQ(St("/suid").mode, S_IFREG | 04755);
  SetStatRequest chown;
  chown.uid = 5;
  ASSERT_OK(ASSERT_OK_AND_GET(fs_.Lookup("/suid")).dentry->inode()->SetStat(chown));
  EXPECT_EQ(St("/suid").mode, S_IFREG | 0755);
  EXPECT_EQ(St("/suid").uid, 5u);
}

TEST_F(TmpfsTest, CreatePermissionsAndStickyBit) {
  auto alice = User(1000, 1000);
  auto bob = User(1001, 1001);
  ASSERT_OK(fs_.Mkdir("/ro", 0755));
  EXPECT_ERRNO(fs_.Mkdir("/ro/x", 0755, alice.get()), EACCES);
  EXPECT_ERRNO(fs_.Symlink("t", "/ro/x", alice.get()), EACCES);
  // EEXIST comes before the permission check.
  ASSERT_OK(fs_.Mkdir("/ro/exists"));
  EXPECT_ERRNO(fs_.Mkdir("/ro/exists", 0755, alice.get()), EEXIST);
  ASSERT_OK(fs_.WriteFile("/ro/f", ""));
  EXPECT_ERRNO(fs_.Unlink("/ro/f", alice.get()), EACCES);

  // In a sticky directory only the owner of a file or of the directory may remove it.
  ASSERT_OK(fs_.Mkdir("/tmp", 01777));
  ASSERT_OK(fs_.Open("/tmp/alice", O_WRONLY | O_CREAT, 0666, alice.get()));
  EXPECT_ERRNO(fs_.Unlink("/tmp/alice", bob.get()), EPERM);
  EXPECT_ERRNO(fs_.Rename("/tmp/alice", "/tmp/bob", 0, bob.get()), EPERM);
  ASSERT_OK(fs_.Unlink("/tmp/alice", alice.get()));

  // Devices need CAP_MKNOD; FIFOs do not.
  EXPECT_ERRNO(fs_.Mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3), alice.get()), EPERM);
  ASSERT_OK(fs_.Mknod("/tmp/fifo", S_IFIFO | 0666, 0, alice.get()));
  EXPECT_ERRNO(fs_.Mknod("/tmp/dir", S_IFDIR | 0755), EPERM);
  EXPECT_ERRNO(fs_.Mknod("/tmp/bad", 0170000 | 0755), EINVAL);
  ASSERT_OK(fs_.Mknod("/tmp/plain", 0644));
  EXPECT_TRUE(S_ISREG(St("/tmp/plain").mode));
  EXPECT_ERRNO(fs_.Symlink("", "/tmp/empty"), ENOENT);
}

TEST_F(TmpfsTest, RenameRules) {
  ASSERT_OK(fs_.Mkdir("/d1"));
  ASSERT_OK(fs_.Mkdir("/d1/sub"));
  ASSERT_OK(fs_.Mkdir("/d2"));
  ASSERT_OK(fs_.Mkdir("/full"));
  ASSERT_OK(fs_.WriteFile("/full/x", ""));
  ASSERT_OK(fs_.WriteFile("/f1", "one"));
  ASSERT_OK(fs_.WriteFile("/f2", "two"));

  EXPECT_ERRNO(fs_.Rename("/f1", "/d2"), EISDIR);
  EXPECT_ERRNO(fs_.Rename("/d2", "/f1"), ENOTDIR);
  EXPECT_ERRNO(fs_.Rename("/d2", "/full"), ENOTEMPTY);
  EXPECT_ERRNO(fs_.Rename("/d1", "/d1/sub/inside"), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/d1", "/d1/inside"), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/d1/sub", "/d1"), ENOTEMPTY);
  EXPECT_ERRNO(fs_.Rename("/missing", "/x"), ENOENT);
  EXPECT_ERRNO(fs_.Rename("/f1/", "/x"), ENOTDIR);
  EXPECT_ERRNO(fs_.Rename("/f1", "/x/"), ENOTDIR);
  EXPECT_ERRNO(fs_.Rename("/f1", "/f2", RENAME_NOREPLACE), EEXIST);
  EXPECT_ERRNO(fs_.Rename("/.", "/x"), EBUSY);
  EXPECT_ERRNO(fs_.Rename("/f1", "/d1/.."), EBUSY);

  // A file replaces a file; a directory replaces an empty directory.
  Path f1 = ASSERT_OK_AND_GET(fs_.Lookup("/f1"));
  Path f2 = ASSERT_OK_AND_GET(fs_.Lookup("/f2"));
  ASSERT_OK(fs_.Rename("/f1", "/f2"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/f2")), "one");
  EXPECT_ERRNO(fs_.Lookup("/f1"), ENOENT);
  EXPECT_TRUE(f2.dentry->deleted());
  EXPECT_FALSE(f1.dentry->deleted());
  EXPECT_EQ(PathString(fs_.root(), f1), "/f2");
  ASSERT_OK(fs_.Rename("/d1", "/d2"));
  ASSERT_OK(fs_.Lookup("/d2/sub"));
  EXPECT_ERRNO(fs_.Lookup("/d1"), ENOENT);
  ASSERT_OK(fs_.Rename("/d2/", "/d3/"));  // slashes are fine on directories
  ASSERT_OK(fs_.Rename("/d3/sub", "/d3/sub"));
}

TEST_F(TmpfsTest, RenameExchangeFiles) {
  ASSERT_OK(fs_.Mkdir("/d"));
  ASSERT_OK(fs_.WriteFile("/d/f1", "one"));
  ASSERT_OK(fs_.WriteFile("/d/f2", "two"));
  Path p1 = ASSERT_OK_AND_GET(fs_.Lookup("/d/f1"));
  Path p2 = ASSERT_OK_AND_GET(fs_.Lookup("/d/f2"));
  const Stat f1 = St("/d/f1");
  const Stat f2 = St("/d/f2");
  const Stat d = St("/d");
  Tick();

  ASSERT_OK(fs_.Rename("/d/f1", "/d/f2", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f1")), "two");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f2")), "one");
  EXPECT_EQ(St("/d/f1").ino, f2.ino);
  EXPECT_EQ(St("/d/f2").ino, f1.ino);
  // Nothing was removed: both files keep their link counts, the directory its size.
  EXPECT_EQ(St("/d/f1").nlink, 1u);
  EXPECT_EQ(St("/d/f2").nlink, 1u);
  EXPECT_EQ(St("/d").size, d.size);
  EXPECT_EQ(St("/d").nlink, d.nlink);
  // The dentries the names were looked up by moved with their files.
  EXPECT_FALSE(p1.dentry->deleted());
  EXPECT_FALSE(p2.dentry->deleted());
  EXPECT_EQ(PathString(fs_.root(), p1), "/d/f2");
  EXPECT_EQ(PathString(fs_.root(), p2), "/d/f1");
  // ctime changes on both files; mtime and ctime on the directory.
  EXPECT_TRUE(Later(St("/d/f1").ctime, f2.ctime));
  EXPECT_TRUE(Later(St("/d/f2").ctime, f1.ctime));
  EXPECT_EQ(St("/d/f1").mtime.tv_nsec, f2.mtime.tv_nsec);
  EXPECT_TRUE(Later(St("/d").mtime, d.mtime));
  EXPECT_TRUE(Later(St("/d").ctime, d.ctime));

  // And back again.
  ASSERT_OK(fs_.Rename("/d/f2", "/d/f1", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f1")), "one");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f2")), "two");
  EXPECT_EQ(PathString(fs_.root(), p1), "/d/f1");
}

TEST_F(TmpfsTest, RenameExchangeFileAndDirectoryAcrossParents) {
  ASSERT_OK(fs_.Mkdir("/p1"));
  ASSERT_OK(fs_.Mkdir("/p2"));
  ASSERT_OK(fs_.WriteFile("/p1/file", "data"));
  ASSERT_OK(fs_.Mkdir("/p2/dir"));
  ASSERT_OK(fs_.Mkdir("/p2/dir/sub"));
  ASSERT_OK(fs_.WriteFile("/p2/dir/sub/inner", "inner"));
  Path sub = ASSERT_OK_AND_GET(fs_.Lookup("/p2/dir/sub"));
  const uint64_t p1_ino = St("/p1").ino;
  const uint64_t dir_ino = St("/p2/dir").ino;
  EXPECT_EQ(St("/p1").nlink, 2u);
  EXPECT_EQ(St("/p2").nlink, 3u);
  EXPECT_EQ(St("/p2/dir").nlink, 3u);

  ASSERT_OK(fs_.Rename("/p1/file", "/p2/dir", RENAME_EXCHANGE));
  EXPECT_TRUE(S_ISDIR(St("/p1/file").mode));
  EXPECT_TRUE(S_ISREG(St("/p2/dir").mode));
  EXPECT_EQ(St("/p1/file").ino, dir_ino);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/p2/dir")), "data");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/p1/file/sub/inner")), "inner");
  // The subdirectory's ".." link went from /p2 to /p1; its own count stays.
  EXPECT_EQ(St("/p1").nlink, 3u);
  EXPECT_EQ(St("/p2").nlink, 2u);
  EXPECT_EQ(St("/p1/file").nlink, 3u);
  EXPECT_EQ(St("/p2/dir").nlink, 1u);
  // ".." of the moved directory is its new parent, for path walks and for getdents.
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/p1/file/..")).dentry,
            ASSERT_OK_AND_GET(fs_.Lookup("/p1")).dentry);
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/p1/file", O_RDONLY | O_DIRECTORY));
  std::map<std::string, uint64_t> inos;
  ASSERT_OK(f->ReadDir([&](const DirEntry& e, int64_t) {
    inos[e.name] = e.ino;
    return true;
  }));
  EXPECT_EQ(inos[".."], p1_ino);
  // A dentry cached below the moved directory follows it.
  EXPECT_EQ(PathString(fs_.root(), sub), "/p1/file/sub");
  // An empty directory can now be removed where it went, with the counts following.
  ASSERT_OK(fs_.Rename("/p1/file/sub/inner", "/p2/inner"));
  ASSERT_OK(fs_.Rmdir("/p1/file/sub"));
  EXPECT_EQ(St("/p1/file").nlink, 2u);

  // Two directories across parents: each parent trades one subdirectory for another.
  ASSERT_OK(fs_.Mkdir("/p2/dir2"));
  EXPECT_EQ(St("/p2").nlink, 3u);
  ASSERT_OK(fs_.Rename("/p1/file", "/p2/dir2", RENAME_EXCHANGE));
  EXPECT_EQ(St("/p1").nlink, 3u);
  EXPECT_EQ(St("/p2").nlink, 3u);
  EXPECT_EQ(St("/p2/dir2").ino, dir_ino);
}

TEST_F(TmpfsTest, RenameExchangeErrors) {
  ASSERT_OK(fs_.Mkdir("/d"));
  ASSERT_OK(fs_.Mkdir("/d/sub"));
  ASSERT_OK(fs_.WriteFile("/f", "f"));
  ASSERT_OK(fs_.Link("/f", "/hard"));

  // A name exchanged with itself, or with another name of its file, stays as it is.
  ASSERT_OK(fs_.Rename("/f", "/f", RENAME_EXCHANGE));
  ASSERT_OK(fs_.Rename("/d", "/d/", RENAME_EXCHANGE));
  ASSERT_OK(fs_.Rename("/f", "/hard", RENAME_EXCHANGE));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/f")), "f");
  EXPECT_EQ(St("/f").nlink, 2u);

  // Both names must exist.
  EXPECT_ERRNO(fs_.Rename("/f", "/missing", RENAME_EXCHANGE), ENOENT);
  EXPECT_ERRNO(fs_.Rename("/missing", "/f", RENAME_EXCHANGE), ENOENT);
  // RENAME_EXCHANGE excludes the other flags.
  EXPECT_ERRNO(fs_.Rename("/f", "/d", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/f", "/d", RENAME_EXCHANGE | RENAME_WHITEOUT), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/f", "/missing", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
  // Neither may be an ancestor of the other: EINVAL both ways (a plain rename of the
  // descendant over its ancestor is ENOTEMPTY instead).
  EXPECT_ERRNO(fs_.Rename("/d", "/d/sub", RENAME_EXCHANGE), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/d/sub", "/d", RENAME_EXCHANGE), EINVAL);
  EXPECT_ERRNO(fs_.Rename("/d/sub", "/d"), ENOTEMPTY);
  // A trailing slash is only for a directory, on either side.
  EXPECT_ERRNO(fs_.Rename("/f/", "/d", RENAME_EXCHANGE), ENOTDIR);
  EXPECT_ERRNO(fs_.Rename("/d", "/f/", RENAME_EXCHANGE), ENOTDIR);
  // ".", ".." and "/" cannot be exchanged.
  EXPECT_ERRNO(fs_.Rename("/d/.", "/f", RENAME_EXCHANGE), EBUSY);
  EXPECT_ERRNO(fs_.Rename("/f", "/d/..", RENAME_EXCHANGE), EBUSY);
  // Nothing above changed anything.
  EXPECT_TRUE(S_ISDIR(St("/d").mode));
  EXPECT_TRUE(S_ISDIR(St("/d/sub").mode));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/f")), "f");

  // With a trailing slash on a directory, the exchange goes ahead.
  ASSERT_OK(fs_.Rename("/d/", "/f", RENAME_EXCHANGE));
  EXPECT_TRUE(S_ISDIR(St("/f").mode));
  EXPECT_TRUE(S_ISREG(St("/d").mode));
}

TEST_F(TmpfsTest, RenameExchangePermissions) {
  auto alice = User(1000, 1000);
  auto bob = User(1001, 1001);
  ASSERT_OK(fs_.Mkdir("/u1", 0777));
  ASSERT_OK(fs_.Mkdir("/u2", 0777));
  ASSERT_OK(fs_.Mkdir("/u1/locked", 0555));  // root's, not writable by alice
  ASSERT_OK(fs_.Open("/u1/f", O_WRONLY | O_CREAT, 0644, alice.get()));
  ASSERT_OK(fs_.Open("/u2/g", O_WRONLY | O_CREAT, 0644, alice.get()));
  // A directory that changes parent has its ".." rewritten, so it must be writable: as the
  // source and as the target.
  EXPECT_ERRNO(fs_.Rename("/u1/locked", "/u2/g", RENAME_EXCHANGE, alice.get()), EACCES);
  EXPECT_ERRNO(fs_.Rename("/u2/g", "/u1/locked", RENAME_EXCHANGE, alice.get()), EACCES);
  // In the same parent it need not be.
  ASSERT_OK(fs_.Rename("/u1/locked", "/u1/f", RENAME_EXCHANGE, alice.get()));
  EXPECT_TRUE(S_ISDIR(St("/u1/f").mode));
  // Files move freely between writable parents.
  ASSERT_OK(fs_.Rename("/u1/locked", "/u2/g", RENAME_EXCHANGE, alice.get()));

  // Both parents must be writable.
  ASSERT_OK(fs_.Mkdir("/ro", 0755));
  ASSERT_OK(fs_.WriteFile("/ro/x", ""));
  EXPECT_ERRNO(fs_.Rename("/ro/x", "/u2/g", RENAME_EXCHANGE, alice.get()), EACCES);
  EXPECT_ERRNO(fs_.Rename("/u2/g", "/ro/x", RENAME_EXCHANGE, alice.get()), EACCES);

  // The sticky bit protects both entries.
  ASSERT_OK(fs_.Mkdir("/tmp", 01777));
  ASSERT_OK(fs_.Open("/tmp/alice", O_WRONLY | O_CREAT, 0666, alice.get()));
  ASSERT_OK(fs_.Open("/tmp/bob", O_WRONLY | O_CREAT, 0666, bob.get()));
  EXPECT_ERRNO(fs_.Rename("/tmp/alice", "/tmp/bob", RENAME_EXCHANGE, bob.get()), EPERM);
  EXPECT_ERRNO(fs_.Rename("/tmp/bob", "/tmp/alice", RENAME_EXCHANGE, bob.get()), EPERM);
  ASSERT_OK(fs_.Rename("/tmp/alice", "/tmp/bob", RENAME_EXCHANGE));
  EXPECT_EQ(St("/tmp/bob").uid, 1000u);
}

TEST_F(TmpfsTest, DataAndTimes) {
  ASSERT_OK(fs_.Mkdir("/d"));
  Stat d0 = St("/d");
  Tick();
  ASSERT_OK(fs_.WriteFile("/d/f", "hello"));
  Stat d1 = St("/d");
  EXPECT_TRUE(Later(d1.mtime, d0.mtime));
  EXPECT_TRUE(Later(d1.ctime, d0.ctime));
  Stat f0 = St("/d/f");
  EXPECT_EQ(f0.size, 5);
  EXPECT_EQ(f0.blocks, 8);  // one page
  EXPECT_EQ(f0.blksize, 4096);

  Tick();
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/d/f", O_WRONLY | O_APPEND));
  ASSERT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, " world")), 6u);
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(0, SEEK_CUR)), 11);
  // O_APPEND applies to pwrite as well (a Linux quirk).
  ASSERT_OK(f->PWrite(NoTask(), std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("!"), 1),
                      0));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f")), "hello world!");
  Stat f1 = St("/d/f");
  EXPECT_TRUE(Later(f1.mtime, f0.mtime));
  EXPECT_TRUE(Later(f1.ctime, f0.ctime));

  // chmod changes ctime only.
  Tick();
  SetStatRequest chmod;
  chmod.mode = 0600;
  ASSERT_OK(f->SetStat(chmod));
  Stat f2 = St("/d/f");
  EXPECT_EQ(f2.mode, S_IFREG | 0600);
  EXPECT_TRUE(Later(f2.ctime, f1.ctime));
  EXPECT_EQ(f2.mtime.tv_nsec, f1.mtime.tv_nsec);

  // utimensat-like requests.
  SetStatRequest times;
  times.atime = timespec{100, 5};
  times.mtime = timespec{200, 6};
  ASSERT_OK(f->SetStat(times));
  EXPECT_EQ(St("/d/f").atime.tv_sec, 100);
  EXPECT_EQ(St("/d/f").mtime.tv_nsec, 6);
  // relatime: a read updates an atime older than mtime.
  ASSERT_OK(fs_.ReadFile("/d/f"));
  EXPECT_TRUE(Later(St("/d/f").atime, timespec{200, 6}));

  // Truncation, up and down; holes read as zeros.
  SetStatRequest grow;
  grow.size = 16;
  ASSERT_OK(f->SetStat(grow));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f")), std::string("hello world!\0\0\0\0", 16));
  SetStatRequest shrink;
  shrink.size = 4;
  ASSERT_OK(f->SetStat(shrink));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/d/f")), "hell");
  SetStatRequest bad;
  bad.size = -1;
  EXPECT_ERRNO(f->SetStat(bad), EINVAL);
  bad.size = 0;
  EXPECT_ERRNO(ASSERT_OK_AND_GET(fs_.Lookup("/d")).dentry->inode()->SetStat(bad), EISDIR);

  // The memfd behind the file holds the data (file mappings use it).
  int fd = ASSERT_OK_AND_GET(f->HostMapFd());
  char buf[8] = {};
  ASSERT_EQ(pread(fd, buf, sizeof(buf), 0), 4);
  EXPECT_EQ(std::string(buf, 4), "hell");
}

TEST_F(TmpfsTest, SizeLimit) {
  TestFs small(NewTmpfs(0777, 0, 0, 8192));
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(small.Open("/f", O_RDWR | O_CREAT));
  std::string big(10000, 'x');
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, big)), 8192u);
  EXPECT_ERRNO(TestFs::Write(*f, "y"), ENOSPC);
  // Truncating gives the space back.
  SetStatRequest req;
  req.size = 0;
  ASSERT_OK(f->SetStat(req));
  ASSERT_OK(f->Seek(0, SEEK_SET));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, "abc")), 3u);
  // Growing by truncation is free (a hole), as on Linux.
  req.size = 1 << 20;
  ASSERT_OK(f->SetStat(req));
  // Removing the file frees its pages.
  RefPtr<FileDescription> g = ASSERT_OK_AND_GET(small.Open("/g", O_RDWR | O_CREAT));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*g, std::string(4096, 'g'))), 4096u);
  EXPECT_ERRNO(TestFs::Write(*g, std::string(4096, 'g')), ENOSPC);
  f.reset();
  ASSERT_OK(small.Unlink("/f"));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*g, std::string(4096, 'g'))), 4096u);
}

TEST_F(TmpfsTest, SymlinksAndSpecialFiles) {
  ASSERT_OK(fs_.Symlink("some/target", "/l"));
  Stat l = St("/l", /*follow=*/false);
  EXPECT_EQ(l.mode, S_IFLNK | 0777);
  EXPECT_EQ(l.size, 11);
  EXPECT_EQ(ASSERT_OK_AND_GET(ASSERT_OK_AND_GET(fs_.Lookup("/l", false)).dentry->inode()->ReadLink()),
            "some/target");

  ASSERT_OK(fs_.Mknod("/null", S_IFCHR | 0666, makedev(1, 3)));
  ASSERT_OK(fs_.Mknod("/zero", S_IFCHR | 0666, makedev(1, 5)));
  ASSERT_OK(fs_.Mknod("/full", S_IFCHR | 0666, makedev(1, 7)));
  ASSERT_OK(fs_.Mknod("/urandom", S_IFCHR | 0666, makedev(1, 9)));
  ASSERT_OK(fs_.Mknod("/nodriver", S_IFCHR | 0666, makedev(42, 0)));
  ASSERT_OK(fs_.Mknod("/blk", S_IFBLK | 0666, makedev(8, 0)));
  ASSERT_OK(fs_.Mknod("/sock", S_IFSOCK | 0666));
  EXPECT_EQ(St("/null").rdev, makedev(1, 3));

  RefPtr<FileDescription> null = ASSERT_OK_AND_GET(fs_.Open("/null", O_RDWR));
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*null)), "");
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*null, "gone")), 4u);
  EXPECT_EQ(ASSERT_OK_AND_GET(null->Seek(100, SEEK_SET)), 0);
  EXPECT_TRUE(S_ISCHR(ASSERT_OK_AND_GET(null->GetStat()).mode));
  RefPtr<FileDescription> zero = ASSERT_OK_AND_GET(fs_.Open("/zero", O_RDONLY));
  uint8_t buf[16];
  std::memset(buf, 0xff, sizeof(buf));
  EXPECT_EQ(ASSERT_OK_AND_GET(zero->Read(NoTask(), buf)), sizeof(buf));
  EXPECT_EQ(buf[0] | buf[15], 0);
  EXPECT_TRUE(zero->MapsAnonymous());
  EXPECT_FALSE(null->MapsAnonymous());
  RefPtr<FileDescription> full = ASSERT_OK_AND_GET(fs_.Open("/full", O_WRONLY));
  EXPECT_ERRNO(TestFs::Write(*full, "x"), ENOSPC);
  RefPtr<FileDescription> rnd = ASSERT_OK_AND_GET(fs_.Open("/urandom", O_RDONLY));
  uint8_t r1[32] = {}, r2[32] = {};
  EXPECT_EQ(ASSERT_OK_AND_GET(rnd->Read(NoTask(), r1)), 32u);
  EXPECT_EQ(ASSERT_OK_AND_GET(rnd->Read(NoTask(), r2)), 32u);
  EXPECT_NE(std::memcmp(r1, r2, 32), 0);
  EXPECT_ERRNO(fs_.Open("/nodriver", O_RDONLY), ENXIO);
  EXPECT_ERRNO(fs_.Open("/blk", O_RDONLY), ENXIO);
  EXPECT_ERRNO(fs_.Open("/sock", O_RDONLY), ENXIO);
  // nodev mounts refuse device nodes.
  TestFs nodev(NewTmpfs(0777, 0, 0, 0), MountFlags{.nodev = true});
  ASSERT_OK(nodev.Mknod("/null", S_IFCHR | 0666, makedev(1, 3)));
  EXPECT_ERRNO(nodev.Open("/null", O_RDONLY), EACCES);

  // FIFOs: opening the write end without a reader and without blocking is ENXIO; a
  // non-blocking reader needs no writer; O_RDWR is both ends.
  ASSERT_OK(fs_.Mknod("/fifo", S_IFIFO | 0666));
  EXPECT_ERRNO(fs_.Open("/fifo", O_WRONLY | O_NONBLOCK), ENXIO);
  RefPtr<FileDescription> rd = ASSERT_OK_AND_GET(fs_.Open("/fifo", O_RDONLY | O_NONBLOCK));
  EXPECT_EQ(rd->Readiness(kernel::kEventIn), 0u);  // no POLLHUP before any writer came
  RefPtr<FileDescription> wr = ASSERT_OK_AND_GET(fs_.Open("/fifo", O_WRONLY | O_NONBLOCK));
  EXPECT_TRUE(wr->SendsSigpipe());
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*wr, "ping")), 4u);
  EXPECT_EQ(rd->Readiness(kernel::kEventIn), kernel::kEventIn);
  uint8_t pbuf[16];
  EXPECT_EQ(ASSERT_OK_AND_GET(rd->Read(NoTask(), pbuf)), 4u);
  EXPECT_ERRNO(rd->Read(NoTask(), pbuf), EAGAIN);
  wr.reset();
  EXPECT_EQ(rd->Readiness(kernel::kEventIn) & kernel::kEventHup, kernel::kEventHup);
  EXPECT_EQ(ASSERT_OK_AND_GET(rd->Read(NoTask(), pbuf)), 0u);
  ASSERT_OK(fs_.Open("/fifo", O_RDWR));
  EXPECT_ERRNO(fs_.Open("/fifo", O_ACCMODE), EINVAL);
}

TEST_F(TmpfsTest, RemovedDirectoryTakesNoNewNames) {
  ASSERT_OK(fs_.Mkdir("/d"));
  Path d = ASSERT_OK_AND_GET(fs_.Lookup("/d"));
  ASSERT_OK(fs_.Rmdir("/d"));
  EXPECT_EQ(ASSERT_OK_AND_GET(d.dentry->inode()->GetStat()).nlink, 0u);
  ParentAndName at{d, "x", false};
  EXPECT_ERRNO(MakeDirAt(fs_.Ctx(), at, 0755), ENOENT);
  EXPECT_ERRNO(OpenAt(fs_.Ctx(), d, "x", O_CREAT | O_WRONLY, 0644), ENOENT);
  EXPECT_ERRNO(Resolve(fs_.Ctx(), d, "x"), ENOENT);
  EXPECT_EQ(PathString(fs_.root(), d), "/d (deleted)");
}

}  // namespace
}  // namespace moat::vfs
