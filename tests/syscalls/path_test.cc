// Conformance tests for path resolution: symlink chains and loops, ELOOP
// against ENOTDIR, trailing slashes for every call that takes a path,
// ENAMETOOLONG, empty paths and AT_EMPTY_PATH, AT_SYMLINK_(NO)FOLLOW,
// O_NOFOLLOW, O_PATH, O_DIRECTORY and other open flags, O_CREAT through
// dangling symlinks, and ".." across mount points. The calls that change the
// namespace have their errno matrix in namespace_test.cc.
//
// Writable files live in a fresh directory under /tmp; the read-only root is
// only read (/bin/sh, /etc/passwd, /dev, /proc).

#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/path_util.h"

namespace moat::testing {
namespace {

// ---------------------------------------------------------------------------
// Symlinks

TEST_F(PathTest, FortySymlinksResolveAndTheFortyFirstIsEloop) {
  MakeFile("target", "end");
  MakeLink("target", "l1");
  for (int i = 2; i <= 41; i++) {
    MakeLink("l" + std::to_string(i - 1), "l" + std::to_string(i));
  }
  EXPECT_EQ(ReadFile(P("l40")), "end");
  struct stat st;
  EXPECT_THAT(stat(C("l40"), &st), SyscallSucceeds());
  EXPECT_THAT(open(C("l41"), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(stat(C("l41"), &st), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(lstat(C("l41"), &st), SyscallSucceeds());
  EXPECT_THAT(access(C("l41"), F_OK), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(chmod(C("l41"), 0600), SyscallFailsWithErrno(ELOOP));
  // The count covers the whole walk: links in the middle and at the end add up.
  MakeDir("d");
  MakeFile("d/f", "deep");
  MakeLink("d", "m1");
  for (int i = 2; i <= 20; i++) MakeLink("m" + std::to_string(i - 1), "m" + std::to_string(i));
  MakeLink("m20/f", "n1");
  for (int i = 2; i <= 20; i++) MakeLink("n" + std::to_string(i - 1), "n" + std::to_string(i));
  // n20 -> ... -> n1 (20 links) -> m20/f, m20 -> ... -> d (20 links): 40 in all.
  EXPECT_EQ(ReadFile(P("n20")), "deep");
  MakeLink("n20", "n21");
  EXPECT_THAT(open(C("n21"), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  // Each path walk starts counting afresh.
  EXPECT_EQ(ReadFile(P("n20")), "deep");
}

TEST_F(PathTest, SymlinkLoops) {
  MakeLink("loop", "loop");
  MakeLink("pong", "ping");
  MakeLink("ping", "pong");
  struct stat st;
  EXPECT_THAT(open(C("loop"), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("ping"), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(stat(C("ping/x"), &st), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(lstat(C("ping"), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_THAT(lstat(C("ping/"), &st), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(mkdir(C("ping/x"), 0755), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("ping/x"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ELOOP));
  // Creating through a looping link: the walk of the link ends in ELOOP.
  EXPECT_THAT(open(C("loop"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ELOOP));
  // An exclusive create stops at the link, which exists.
  EXPECT_THAT(open(C("loop"), O_CREAT | O_EXCL | O_WRONLY, 0644), SyscallFailsWithErrno(EEXIST));
  // Removing and renaming the link itself never follows it.
  EXPECT_THAT(rename(C("ping"), C("pang")), SyscallSucceeds());
  EXPECT_THAT(unlink(C("pang")), SyscallSucceeds());
  EXPECT_THAT(open(C("pong"), O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

TEST_F(PathTest, EloopAgainstEnotdir) {
  MakeCast();
  struct stat st;
  // A file in the middle: ENOTDIR, whatever follows.
  EXPECT_THAT(stat(C("file/x"), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("file/loop"), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("file/."), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("file/.."), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("filelink/x"), &st), SyscallFailsWithErrno(ENOTDIR));
  // A loop in the middle: ELOOP, before anything after it is looked at.
  EXPECT_THAT(stat(C("loop/x"), &st), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(stat(C("loop/file/x"), &st), SyscallFailsWithErrno(ELOOP));
  // The first problem on the way wins.
  EXPECT_THAT(stat(C("file/loop/x"), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("dir/missing/loop"), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat(C("dangling/x"), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat("/etc/passwd/x", &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat("/bin/sh/", &st), SyscallFailsWithErrno(ENOTDIR));
}

TEST_F(PathTest, RelativeAndAbsoluteSymlinkBodies) {
  MakeDir("a");
  MakeDir("a/b");
  MakeFile("a/b/f", "rel");
  MakeLink("b/f", "a/rel");               // relative to the link's directory
  MakeLink(P("a/b/f"), "abs");            // absolute
  MakeLink("../b/f", "a/b/up");           // climbs
  MakeLink("a/b/../b/./f", "dots");       // dots inside a body
  EXPECT_EQ(ReadFile(P("a/rel")), "rel");
  EXPECT_EQ(ReadFile(P("abs")), "rel");
  EXPECT_EQ(ReadFile(P("a/b/up")), "rel");
  EXPECT_EQ(ReadFile(P("dots")), "rel");
  // ".." after a symlink to a directory is the target's parent, not the link's.
  MakeLink("a/b", "blink");
  struct stat via = Stat(P("blink/.."));
  EXPECT_TRUE(SameFile(via, Stat(P("a"))));
  // The host's /bin is usually a symlink into /usr; either way /bin/.. and
  // the parent of what /bin resolves to are the same.
  char resolved[PATH_MAX];
  ASSERT_NE(realpath("/bin", resolved), nullptr);
  struct stat bin_up = Stat("/bin/..");
  struct stat real_up = Stat(std::string(resolved) + "/..");
  EXPECT_TRUE(SameFile(bin_up, real_up));
}

TEST_F(PathTest, EmptySymlinkTargetIsRefused) {
  EXPECT_THAT(symlink("", C("empty")), SyscallFailsWithErrno(ENOENT));
  std::string long_target(PATH_MAX, 'x');
  EXPECT_THAT(symlink(long_target.c_str(), C("long")), SyscallFailsWithErrno(ENAMETOOLONG));
  std::string max_target(PATH_MAX - 1, 'x');
  EXPECT_THAT(symlink(max_target.c_str(), C("max")), SyscallSucceeds());
  char buf[PATH_MAX];
  EXPECT_THAT(readlink(C("max"), buf, sizeof(buf)), SyscallSucceedsWithValue(PATH_MAX - 1));
  struct stat st = Lstat(P("max"));
  EXPECT_EQ(st.st_size, PATH_MAX - 1);
}

TEST_F(PathTest, Readlink) {
  MakeCast();
  char buf[64];
  EXPECT_THAT(readlink(C("filelink"), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "file");
  // A short buffer truncates silently.
  EXPECT_THAT(readlink(C("filelink"), buf, 2), SyscallSucceedsWithValue(2));
  EXPECT_THAT(readlink(C("filelink"), buf, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(C("file"), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(C("dir"), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(C("missing"), buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  // A trailing slash follows the link: the result is a directory, not a link.
  EXPECT_THAT(readlink(C("dirlink/"), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(C("filelink/"), buf, sizeof(buf)), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(readlink("", buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
}

// ---------------------------------------------------------------------------
// Trailing slashes

TEST_F(PathTest, TrailingSlashOpen) {
  MakeCast();
  FileDescriptor d(open(C("dir/"), O_RDONLY));
  EXPECT_TRUE(d.valid()) << ErrnoString(errno);
  FileDescriptor dl(open(C("dirlink/"), O_RDONLY));
  EXPECT_TRUE(dl.valid()) << ErrnoString(errno);
  // O_NOFOLLOW does not stop a trailing slash from following the link.
  FileDescriptor dln(open(C("dirlink/"), O_RDONLY | O_NOFOLLOW));
  EXPECT_TRUE(dln.valid()) << ErrnoString(errno);
  EXPECT_THAT(open(C("file/"), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("filelink/"), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("missing/"), O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(C("dangling/"), O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(C("loop/"), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("dir/"), O_WRONLY), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("file//"), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("file/."), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  // With O_CREAT a trailing slash names a directory: EISDIR, created or not.
  EXPECT_THAT(open(C("missing/"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("file/"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("dir/"), O_CREAT | O_RDONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("dir"), O_CREAT | O_RDONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("dir/."), O_CREAT | O_RDONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(C("dangling/"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(access(C("missing"), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(access(C("dir/missing"), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(C("missing/x"), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
}

TEST_F(PathTest, TrailingSlashStat) {
  MakeCast();
  struct stat st;
  EXPECT_THAT(stat(C("dir/"), &st), SyscallSucceeds());
  EXPECT_THAT(stat(C("file/"), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat(C("missing/"), &st), SyscallFailsWithErrno(ENOENT));
  // lstat with a trailing slash follows the final link.
  ASSERT_THAT(lstat(C("dirlink/"), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_THAT(lstat(C("dirlink"), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_THAT(lstat(C("filelink/"), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(lstat(C("dangling/"), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(fstatat(AT_FDCWD, C("dirlink/"), &st, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_THAT(access(C("file/"), F_OK), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(access(C("dir/"), F_OK), SyscallSucceeds());
  EXPECT_THAT(chmod(C("file/"), 0600), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(truncate(C("file/"), 0), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(chdir(C("file/")), SyscallFailsWithErrno(ENOTDIR));
}

TEST_F(PathTest, TrailingSlashMkdir) {
  MakeCast();
  EXPECT_THAT(mkdir(C("new/"), 0755), SyscallSucceeds());
  EXPECT_THAT(mkdir(C("new2//"), 0755), SyscallSucceeds());
  EXPECT_THAT(mkdir(C("file/"), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(C("dir/"), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(C("dirlink/"), 0755), SyscallFailsWithErrno(EEXIST));
  // mkdir never follows a final link, not even a dangling one.
  EXPECT_THAT(mkdir(C("dangling"), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(C("dangling/"), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(access(C("missing"), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir(C("file/x"), 0755), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(mkdir(C("missing/x"), 0755), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir(C("dirlink/x"), 0755), SyscallSucceeds());
  EXPECT_THAT(access(C("dir/x"), F_OK), SyscallSucceeds());
  EXPECT_THAT(mkdir(C("."), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(C(".."), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir("/", 0755), SyscallFailsWithErrno(EEXIST));
}

TEST_F(PathTest, TrailingSlashRmdir) {
  MakeCast();
  EXPECT_THAT(rmdir(C("file/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(C("file")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(C("missing/")), SyscallFailsWithErrno(ENOENT));
  // rmdir never follows a final link, with or without a slash.
  EXPECT_THAT(rmdir(C("dirlink")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(C("dirlink/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(C("dir/.")), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rmdir(C("dir/..")), SyscallFailsWithErrno(ENOTEMPTY));
  EXPECT_THAT(rmdir(C("dir/")), SyscallSucceeds());
  MakeDir("d2");
  EXPECT_THAT(rmdir(C("d2//")), SyscallSucceeds());
  EXPECT_THAT(rmdir("/"), SyscallFailsWithErrno(EBUSY));
}

TEST_F(PathTest, TrailingSlashUnlink) {
  MakeCast();
  EXPECT_THAT(unlink(C("file/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink(C("dir/")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlink(C("dir")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlink(C("missing/")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(unlink(C("dirlink/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink(C("filelink/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink(C("dangling/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink(C("dir/.")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlink(C("dir/..")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlink("/"), SyscallFailsWithErrno(EISDIR));
  // The link goes, not its target.
  EXPECT_THAT(unlink(C("dirlink")), SyscallSucceeds());
  EXPECT_THAT(access(C("dir"), F_OK), SyscallSucceeds());
  EXPECT_THAT(unlink(C("dangling")), SyscallSucceeds());
  EXPECT_THAT(unlinkat(AT_FDCWD, C("file"), 0x1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(unlinkat(AT_FDCWD, C("file"), AT_REMOVEDIR), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlinkat(AT_FDCWD, C("dir"), AT_REMOVEDIR), SyscallSucceeds());
}

TEST_F(PathTest, TrailingSlashRename) {
  MakeCast();
  EXPECT_THAT(rename(C("file"), C("new/")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("file/"), C("new")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("filelink/"), C("new")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("dirlink/"), C("new")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("missing/"), C("new")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename(C("dir/"), C("dir2")), SyscallSucceeds());
  EXPECT_THAT(rename(C("dir2"), C("dir3/")), SyscallSucceeds());
  EXPECT_THAT(rename(C("dir3/"), C("dir4//")), SyscallSucceeds());
  EXPECT_THAT(access(C("dir4"), F_OK), SyscallSucceeds());
  // The link to a directory is renamed itself; its slashless name works.
  EXPECT_THAT(rename(C("dirlink"), C("dirlink2")), SyscallSucceeds());
  struct stat st = Lstat(P("dirlink2"));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(PathTest, TrailingSlashLinkAndSymlink) {
  MakeCast();
  // A missing new name with a slash names a directory that link cannot make.
  EXPECT_THAT(link(C("file"), C("new/")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link(C("file"), C("dir/")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(C("file"), C("file/")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(C("file/"), C("new")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(link(C("dir/"), C("new")), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(symlink("file", C("new/")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(symlink("file", C("file/")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(symlink("file", C("dangling")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mknod(C("fifo/"), S_IFIFO | 0644, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mknod(C("file/"), S_IFIFO | 0644, 0), SyscallFailsWithErrno(EEXIST));
}

// ---------------------------------------------------------------------------
// Lengths and empty paths

TEST_F(PathTest, NameTooLong) {
  std::string name255(255, 'n');
  std::string name256(256, 'n');
  MakeFile(name255, "ok");
  EXPECT_EQ(ReadFile(P(name255)), "ok");
  struct stat st;
  EXPECT_THAT(open(C(name256), O_RDONLY), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(open(C(name256), O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(stat(C(name256), &st), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(mkdir(C(name256), 0755), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(rmdir(C(name256)), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(unlink(C(name256)), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(symlink("x", C(name256)), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(rename(C(name255), C(name256)), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(link(C(name255), C(name256)), SyscallFailsWithErrno(ENAMETOOLONG));
  // A long component in the middle fails before the walk reaches its end.
  EXPECT_THAT(stat(C(name256 + "/x"), &st), SyscallFailsWithErrno(ENAMETOOLONG));
  // ... but a component after a missing one is never looked at.
  EXPECT_THAT(stat(C("missing/" + name256), &st), SyscallFailsWithErrno(ENOENT));
}

TEST_F(PathTest, PathTooLong) {
  MakeFile("f", "long way");
  // PATH_MAX counts the terminating NUL: a path of PATH_MAX - 1 bytes works.
  std::string tail = "/f";
  std::string path = dir_.path();
  while (path.size() + 2 + tail.size() <= PATH_MAX - 1) path += "/.";
  while (path.size() + tail.size() < PATH_MAX - 1) path += "/";
  path += tail;
  ASSERT_EQ(path.size(), static_cast<size_t>(PATH_MAX - 1));
  EXPECT_EQ(ReadFile(path), "long way");
  std::string too_long = "/" + path;
  ASSERT_EQ(too_long.size(), static_cast<size_t>(PATH_MAX));
  struct stat st;
  EXPECT_THAT(open(too_long.c_str(), O_RDONLY), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(stat(too_long.c_str(), &st), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(mkdir(too_long.c_str(), 0755), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(unlink(too_long.c_str()), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(access(too_long.c_str(), F_OK), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(rename(too_long.c_str(), C("g")), SyscallFailsWithErrno(ENAMETOOLONG));
  EXPECT_THAT(chdir(too_long.c_str()), SyscallFailsWithErrno(ENAMETOOLONG));
}

TEST_F(PathTest, EmptyPathIsEnoent) {
  MakeFile("file");
  struct stat st;
  char buf[16];
  EXPECT_THAT(open("", O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat("", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(lstat("", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(access("", F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir("", 0755), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rmdir(""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(unlink(""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename("", C("x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename(C("file"), ""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link("", C("x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link(C("file"), ""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(symlink("x", ""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(readlink("", buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(chdir(""), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(chmod("", 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(chown("", 0, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(truncate("", 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mknod("", S_IFIFO | 0644, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(utimensat(AT_FDCWD, "", nullptr, 0), SyscallFailsWithErrno(ENOENT));
  FileDescriptor fd(open(C("file"), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(fstatat(fd.get(), "", &st, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(openat(fd.get(), "", O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

// ---------------------------------------------------------------------------
// AT_EMPTY_PATH and AT_SYMLINK_(NO)FOLLOW

TEST_F(PathTest, AtEmptyPath) {
  MakeFile("file", "abc");
  MakeLink("file", "link");
  FileDescriptor fd(open(C("file"), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  struct stat st, want = Stat(P("file"));
  ASSERT_THAT(fstatat(fd.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(SameFile(st, want));
  // The descriptor may be of any kind: O_PATH, or a symlink opened with O_PATH|O_NOFOLLOW.
  FileDescriptor pfd(open(C("file"), O_PATH));
  ASSERT_TRUE(pfd.valid());
  ASSERT_THAT(fstatat(pfd.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(SameFile(st, want));
  FileDescriptor lfd(open(C("link"), O_PATH | O_NOFOLLOW));
  ASSERT_TRUE(lfd.valid());
  ASSERT_THAT(fstatat(lfd.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // AT_EMPTY_PATH with AT_FDCWD is the working directory.
  struct stat cwd = Stat(".");
  ASSERT_THAT(fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(SameFile(st, cwd));
  // A non-empty path still needs a directory descriptor.
  EXPECT_THAT(fstatat(fd.get(), "x", &st, AT_EMPTY_PATH), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(fstatat(-1, "", &st, AT_EMPTY_PATH), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_STATX_DONT_SYNC), SyscallSucceeds());
  EXPECT_THAT(fstatat(AT_FDCWD, C("file"), &st, 0x10000), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fstatat(AT_FDCWD, C("file"), &st, AT_STATX_FORCE_SYNC), SyscallSucceeds());

  // fchownat and statx take it too.
  EXPECT_THAT(fchownat(pfd.get(), "", 123, 456, AT_EMPTY_PATH), SyscallSucceeds());
  st = Stat(P("file"));
  EXPECT_EQ(st.st_uid, 123u);
  EXPECT_EQ(st.st_gid, 456u);
  EXPECT_THAT(fchownat(fd.get(), "", 0, 0, 0), SyscallFailsWithErrno(ENOENT));
  struct statx stx;
  ASSERT_THAT(statx(pfd.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), SyscallSucceeds());
  EXPECT_EQ(stx.stx_ino, want.st_ino);
  EXPECT_THAT(statx(pfd.get(), "", 0, STATX_BASIC_STATS, &stx), SyscallFailsWithErrno(ENOENT));
  // readlinkat reads the link a descriptor stands for.
  char buf[16];
  EXPECT_THAT(readlinkat(lfd.get(), "", buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  // For any other file an empty path names nothing.
  EXPECT_THAT(readlinkat(pfd.get(), "", buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  // faccessat2 and utimensat accept it.
  EXPECT_THAT(syscall(SYS_faccessat2, pfd.get(), "", R_OK, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_THAT(utimensat(pfd.get(), "", nullptr, AT_EMPTY_PATH), SyscallSucceeds());
}

TEST_F(PathTest, LinkatEmptyPathAndFollow) {
  MakeFile("file", "abc");
  MakeLink("file", "link");
  FileDescriptor fd(open(C("file"), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  // Root (CAP_DAC_READ_SEARCH) may link a descriptor into the tree.
  ASSERT_THAT(linkat(fd.get(), "", AT_FDCWD, C("fromfd"), AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(SameFile(Stat(P("fromfd")), Stat(P("file"))));
  EXPECT_EQ(Stat(P("file")).st_nlink, 2u);
  EXPECT_THAT(linkat(fd.get(), "", AT_FDCWD, C("nope"), 0), SyscallFailsWithErrno(ENOENT));
  // Without AT_SYMLINK_FOLLOW linkat links the symlink itself.
  ASSERT_THAT(linkat(AT_FDCWD, C("link"), AT_FDCWD, C("link2"), 0), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(Lstat(P("link2")).st_mode));
  EXPECT_EQ(Lstat(P("link")).st_nlink, 2u);
  ASSERT_THAT(linkat(AT_FDCWD, C("link"), AT_FDCWD, C("file2"), AT_SYMLINK_FOLLOW),
              SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(Lstat(P("file2")).st_mode));
  EXPECT_EQ(Stat(P("file")).st_nlink, 3u);
  EXPECT_THAT(linkat(AT_FDCWD, C("link"), AT_FDCWD, C("x"), AT_SYMLINK_NOFOLLOW),
              SyscallFailsWithErrno(EINVAL));
  // An unlinked file cannot come back.
  ASSERT_THAT(unlink(C("file")), SyscallSucceeds());
  ASSERT_THAT(unlink(C("fromfd")), SyscallSucceeds());
  ASSERT_THAT(unlink(C("file2")), SyscallSucceeds());
  EXPECT_THAT(linkat(fd.get(), "", AT_FDCWD, C("back"), AT_EMPTY_PATH),
              SyscallFailsWithErrno(ENOENT));
}

TEST_F(PathTest, SymlinkNofollowFlags) {
  MakeFile("file");
  MakeLink("file", "link");
  struct stat st;
  ASSERT_THAT(fstatat(AT_FDCWD, C("link"), &st, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_THAT(fstatat(AT_FDCWD, C("link"), &st, 0), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  // lchown and fchownat(AT_SYMLINK_NOFOLLOW) change the link, not its target.
  ASSERT_THAT(fchownat(AT_FDCWD, C("link"), 77, 88, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_EQ(Lstat(P("link")).st_uid, 77u);
  EXPECT_EQ(Stat(P("file")).st_uid, 0u);
  ASSERT_THAT(lchown(C("link"), 78, -1), SyscallSucceeds());
  EXPECT_EQ(Lstat(P("link")).st_uid, 78u);
  EXPECT_EQ(Lstat(P("link")).st_gid, 88u);
  ASSERT_THAT(chown(C("link"), 79, -1), SyscallSucceeds());
  EXPECT_EQ(Stat(P("file")).st_uid, 79u);
  EXPECT_THAT(fchownat(AT_FDCWD, C("link"), 0, 0, 0x8000), SyscallFailsWithErrno(EINVAL));
  // faccessat with AT_SYMLINK_NOFOLLOW looks at the link (mode 0777).
  MakeLink("missing", "dangling");
  EXPECT_THAT(faccessat(AT_FDCWD, C("dangling"), F_OK, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_THAT(faccessat(AT_FDCWD, C("dangling"), F_OK, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(faccessat(AT_FDCWD, C("file"), F_OK, 0x8000), SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// open flags

TEST_F(PathTest, ONofollow) {
  MakeCast();
  EXPECT_THAT(open(C("filelink"), O_RDONLY | O_NOFOLLOW), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("dangling"), O_RDONLY | O_NOFOLLOW), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("filelink"), O_WRONLY | O_CREAT | O_NOFOLLOW, 0644),
              SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(open(C("dangling"), O_WRONLY | O_CREAT | O_NOFOLLOW, 0644),
              SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(access(C("missing"), F_OK), SyscallFailsWithErrno(ENOENT));
  // O_DIRECTORY is checked before the symlink verdict.
  EXPECT_THAT(open(C("dirlink"), O_RDONLY | O_NOFOLLOW | O_DIRECTORY),
              SyscallFailsWithErrno(ENOTDIR));
  // Links in the middle are followed.
  MakeFile("dir/inner", "in");
  FileDescriptor fd(open(C("dirlink/inner"), O_RDONLY | O_NOFOLLOW));
  EXPECT_TRUE(fd.valid()) << ErrnoString(errno);
  // O_PATH | O_NOFOLLOW opens the link itself, dangling or looping alike.
  for (const char* name : {"filelink", "dangling", "loop"}) {
    FileDescriptor lfd(open(C(name), O_PATH | O_NOFOLLOW));
    ASSERT_TRUE(lfd.valid()) << name << ": " << ErrnoString(errno);
    struct stat st;
    ASSERT_THAT(fstat(lfd.get(), &st), SyscallSucceeds());
    EXPECT_TRUE(S_ISLNK(st.st_mode)) << name;
  }
  EXPECT_THAT(open(C("dirlink"), O_PATH | O_NOFOLLOW | O_DIRECTORY),
              SyscallFailsWithErrno(ENOTDIR));
}

TEST_F(PathTest, OPathWhatWorks) {
  MakeCast();
  FileDescriptor fd(open(C("file"), O_PATH));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  struct stat st;
  EXPECT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_THAT(fcntl(fd.get(), F_GETFL), SyscallSucceedsWithValue(O_PATH));
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(fd.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  FileDescriptor dup_fd(dup(fd.get()));
  EXPECT_TRUE(dup_fd.valid());
  FileDescriptor dup_fd2(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  EXPECT_TRUE(dup_fd2.valid());
  // Flags other than O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC are dropped.
  FileDescriptor rw(open(C("file"), O_PATH | O_RDWR | O_APPEND | O_TRUNC | O_CREAT, 0644));
  ASSERT_TRUE(rw.valid()) << ErrnoString(errno);
  EXPECT_THAT(fcntl(rw.get(), F_GETFL), SyscallSucceedsWithValue(O_PATH));
  EXPECT_EQ(Stat(P("file")).st_size, 4);  // O_TRUNC was ignored
  FileDescriptor nf(open(C("file"), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  EXPECT_THAT(fcntl(nf.get(), F_GETFL), SyscallSucceedsWithValue(O_PATH | O_NOFOLLOW));
  EXPECT_THAT(fcntl(nf.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));

  // A directory opened with O_PATH serves as a dirfd and for fchdir.
  FileDescriptor dfd(open(C("dir"), O_PATH | O_DIRECTORY));
  ASSERT_TRUE(dfd.valid());
  EXPECT_THAT(fcntl(dfd.get(), F_GETFL), SyscallSucceedsWithValue(O_PATH | O_DIRECTORY));
  FileDescriptor created(openat(dfd.get(), "new", O_CREAT | O_WRONLY, 0644));
  EXPECT_TRUE(created.valid()) << ErrnoString(errno);
  EXPECT_THAT(fstatat(dfd.get(), "new", &st, 0), SyscallSucceeds());
  EXPECT_THAT(mkdirat(dfd.get(), "sub", 0755), SyscallSucceeds());
  EXPECT_THAT(unlinkat(dfd.get(), "sub", AT_REMOVEDIR), SyscallSucceeds());
  struct statfs sfs;
  EXPECT_THAT(fstatfs(dfd.get(), &sfs), SyscallSucceeds());
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_THAT(fchdir(dfd.get()), SyscallSucceeds());
  EXPECT_THAT(access("new", F_OK), SyscallSucceeds());
  ASSERT_THAT(chdir(cwd), SyscallSucceeds());
  // O_PATH needs no permission on the file itself.
  ASSERT_THAT(chmod(C("file"), 0), SyscallSucceeds());
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(chmod(dir_.path().c_str(), 0755));
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    int f = open(P("file").c_str(), O_PATH);
    CHILD_CHECK(f >= 0);
    CHILD_CHECK_ERRNO(open(P("file").c_str(), O_RDONLY), EACCES);
  });
  // A FIFO opened with O_PATH does not wait for a writer.
  ASSERT_THAT(mkfifo(C("fifo"), 0644), SyscallSucceeds());
  FileDescriptor ffd(open(C("fifo"), O_PATH));
  EXPECT_TRUE(ffd.valid()) << ErrnoString(errno);
}

TEST_F(PathTest, OPathWhatFails) {
  MakeCast();
  FileDescriptor fd(open(C("file"), O_PATH));
  ASSERT_TRUE(fd.valid());
  char buf[8];
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(write(fd.get(), "x", 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(pwrite(fd.get(), "x", 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fchmod(fd.get(), 0600), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fchown(fd.get(), 0, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(ftruncate(fd.get(), 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fsync(fd.get()), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fdatasync(fd.get()), SyscallFailsWithErrno(EBADF));
  int n;
  EXPECT_THAT(ioctl(fd.get(), FIONREAD, &n), SyscallFailsWithErrno(EBADF));
  EXPECT_EQ(mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EBADF);
  EXPECT_THAT(fcntl(fd.get(), F_SETFL, O_NONBLOCK), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fgetxattr(fd.get(), "user.x", buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(futimens(fd.get(), nullptr), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fchdir(fd.get()), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(flock(fd.get(), LOCK_SH), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fallocate(fd.get(), 0, 0, 10), SyscallFailsWithErrno(EBADF));
  EXPECT_EQ(posix_fadvise(fd.get(), 0, 0, POSIX_FADV_NORMAL), EBADF);
  EXPECT_THAT(fsetxattr(fd.get(), "user.x", "v", 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(flistxattr(fd.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(syncfs(fd.get()), SyscallFailsWithErrno(EBADF));
  struct flock lk = {};
  lk.l_type = F_RDLCK;
  EXPECT_THAT(fcntl(fd.get(), F_GETLK, &lk), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(fd.get(), F_SETLK, &lk), SyscallFailsWithErrno(EBADF));
  struct iovec iov = {buf, sizeof(buf)};
  EXPECT_THAT(readv(fd.get(), &iov, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(writev(fd.get(), &iov, 1), SyscallFailsWithErrno(EBADF));
  // poll does not see the descriptor at all.
  struct pollfd pfd = {fd.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLNVAL);
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd.get(), &set);
  struct timeval zero = {0, 0};
  // select counts it as open, and as ready.
  EXPECT_THAT(select(fd.get() + 1, &set, nullptr, nullptr, &zero), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(fd.get(), &set));
  FileDescriptor ep(epoll_create1(EPOLL_CLOEXEC));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), SyscallFailsWithErrno(EBADF));
  FileDescriptor dfd(open(C("dir"), O_PATH));
  ASSERT_TRUE(dfd.valid());
  EXPECT_THAT(syscall(SYS_getdents64, dfd.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  // A file descriptor, not a path, is needed for these: the path forms still work.
  EXPECT_THAT(utimensat(AT_FDCWD, C("file"), nullptr, 0), SyscallSucceeds());
}

TEST_F(PathTest, ODirectory) {
  MakeCast();
  EXPECT_THAT(open(C("file"), O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("filelink"), O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("file"), O_PATH | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open("/dev/null", O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open("/bin/sh", O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("missing"), O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOENT));
  FileDescriptor fd(open(C("dirlink"), O_RDONLY | O_DIRECTORY));
  EXPECT_TRUE(fd.valid()) << ErrnoString(errno);
  EXPECT_THAT(open(C("dir"), O_WRONLY | O_DIRECTORY), SyscallFailsWithErrno(EISDIR));
  // openat2 takes O_DIRECTORY alike.
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY;
  FileDescriptor fd2(syscall(SYS_openat2, AT_FDCWD, C("dir"), &how, sizeof(how)));
  EXPECT_TRUE(fd2.valid()) << ErrnoString(errno);
  EXPECT_THAT(syscall(SYS_openat2, AT_FDCWD, C("file"), &how, sizeof(how)),
              SyscallFailsWithErrno(ENOTDIR));
  how.flags = O_RDONLY | O_DIRECTORY | O_CREAT;
  EXPECT_THAT(syscall(SYS_openat2, AT_FDCWD, C("dir"), &how, sizeof(how)),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(open(C("dir"), O_RDWR), SyscallFailsWithErrno(EISDIR));
}

TEST_F(PathTest, OpenFlagOddities) {
  MakeCast();
  // Access mode 3 asks for read and write permission but gives neither.
  FileDescriptor fd(open(C("file"), 3));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  char buf[4];
  EXPECT_THAT(read(fd.get(), buf, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(write(fd.get(), "x", 1), SyscallFailsWithErrno(EBADF));
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_ACCMODE, 3);
  // O_CREAT with O_DIRECTORY is refused outright (Linux 6.4 and later).
  EXPECT_THAT(open(C("new"), O_CREAT | O_DIRECTORY | O_RDONLY, 0644),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(open(C("dir"), O_CREAT | O_DIRECTORY | O_RDONLY, 0644),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(open(C("file"), O_CREAT | O_DIRECTORY | O_RDONLY, 0644),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(access(C("new"), F_OK), SyscallFailsWithErrno(ENOENT));
  // O_TRUNC asks for write access, which a directory never gives.
  EXPECT_THAT(open(C("dir"), O_RDONLY | O_TRUNC), SyscallFailsWithErrno(EISDIR));
  // Unknown flags are ignored.
  FileDescriptor odd(open(C("file"), O_RDONLY | 0x40000000));
  EXPECT_TRUE(odd.valid()) << ErrnoString(errno);
}

TEST_F(PathTest, Fchmodat2) {
  MakeFile("file");
  MakeLink("file", "link");
  constexpr long kFchmodat2 = 452;
  if (syscall(kFchmodat2, AT_FDCWD, C("file"), 0600, 0) == -1 && errno == ENOSYS) {
    GTEST_SKIP() << "fchmodat2 needs Linux 6.6";
  }
  EXPECT_EQ(Stat(P("file")).st_mode & 07777, 0600u);
  EXPECT_THAT(syscall(kFchmodat2, AT_FDCWD, C("file"), 0640, AT_SYMLINK_NOFOLLOW),
              SyscallSucceeds());
  EXPECT_EQ(Stat(P("file")).st_mode & 07777, 0640u);
  // A symlink's own mode cannot change.
  EXPECT_THAT(syscall(kFchmodat2, AT_FDCWD, C("link"), 0600, AT_SYMLINK_NOFOLLOW),
              SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(syscall(kFchmodat2, AT_FDCWD, C("link"), 0604, 0), SyscallSucceeds());
  EXPECT_EQ(Stat(P("file")).st_mode & 07777, 0604u);
  FileDescriptor pfd(open(C("file"), O_PATH));
  EXPECT_THAT(syscall(kFchmodat2, pfd.get(), "", 0600, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_EQ(Stat(P("file")).st_mode & 07777, 0600u);
  EXPECT_THAT(syscall(kFchmodat2, AT_FDCWD, C("file"), 0600, 0x200),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(kFchmodat2, pfd.get(), "", 0600, 0), SyscallFailsWithErrno(ENOENT));
}

TEST_F(PathTest, CreateThroughSymlinks) {
  MakeCast();
  // O_CREAT through a dangling link makes its target.
  FileDescriptor fd(open(C("dangling"), O_CREAT | O_WRONLY, 0640));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  struct stat st = Lstat(P("missing"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(S_ISLNK(Lstat(P("dangling")).st_mode));
  // A relative target is relative to the link's directory, not the cwd.
  MakeDir("sub");
  MakeLink("made", "sub/rel");
  FileDescriptor fd2(open(C("sub/rel"), O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(fd2.valid()) << ErrnoString(errno);
  EXPECT_THAT(access(C("sub/made"), F_OK), SyscallSucceeds());
  // A chain of dangling links makes the last target.
  MakeLink("hop2", "hop1");
  MakeLink("sub/end", "hop2");
  FileDescriptor fd3(open(C("hop1"), O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(fd3.valid()) << ErrnoString(errno);
  EXPECT_THAT(access(C("sub/end"), F_OK), SyscallSucceeds());
  // The target's directory must exist.
  MakeLink("nodir/x", "deep");
  EXPECT_THAT(open(C("deep"), O_CREAT | O_WRONLY, 0600), SyscallFailsWithErrno(ENOENT));
  // A target with a trailing slash names a directory.
  MakeLink("slashed/", "toslash");
  EXPECT_THAT(open(C("toslash"), O_CREAT | O_WRONLY, 0600), SyscallFailsWithErrno(EISDIR));
  // O_EXCL refuses any existing name, links included.
  MakeLink("missing2", "dangling2");
  EXPECT_THAT(open(C("dangling2"), O_CREAT | O_EXCL | O_WRONLY, 0600),
              SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(access(C("missing2"), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(C("filelink"), O_CREAT | O_EXCL | O_WRONLY, 0600),
              SyscallFailsWithErrno(EEXIST));
  // O_CREAT on a link to a directory: EISDIR.
  EXPECT_THAT(open(C("dirlink"), O_CREAT | O_RDONLY, 0600), SyscallFailsWithErrno(EISDIR));
  // O_CREAT on an existing file through a link opens it.
  FileDescriptor fd4(open(C("filelink"), O_CREAT | O_RDONLY, 0600));
  ASSERT_TRUE(fd4.valid());
  EXPECT_EQ(ReadAll(fd4.get()), "data");
}

// ---------------------------------------------------------------------------
// ".." and mounts

TEST_F(PathTest, DotDotAcrossMounts) {
  struct stat root = Stat("/");
  EXPECT_TRUE(SameFile(Stat("/.."), root));
  EXPECT_TRUE(SameFile(Stat("/../../.."), root));
  EXPECT_TRUE(SameFile(Stat("/dev/.."), root));
  EXPECT_TRUE(SameFile(Stat("/proc/.."), root));
  EXPECT_TRUE(SameFile(Stat("/dev/shm/.."), Stat("/dev")));
  EXPECT_TRUE(SameFile(Stat("/dev/shm/../.."), root));
  EXPECT_TRUE(SameFile(Stat("/dev/../dev/shm/../../etc"), Stat("/etc")));
  // /dev is another filesystem than /.
  EXPECT_NE(Stat("/dev").st_dev, root.st_dev);
  // From a descriptor of a mount's root.
  FileDescriptor dev(open("/dev", O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dev.valid());
  struct stat st;
  ASSERT_THAT(fstatat(dev.get(), "..", &st, 0), SyscallSucceeds());
  EXPECT_TRUE(SameFile(st, root));
  FileDescriptor up(openat(dev.get(), "..", O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(up.valid());
  ASSERT_THAT(fstat(up.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(SameFile(st, root));
  // Through a symlink into a mount: ".." is the parent of where the link led.
  MakeLink("/dev/shm", "shmlink");
  EXPECT_TRUE(SameFile(Stat(P("shmlink/..")), Stat("/dev")));
  EXPECT_TRUE(SameFile(Stat(P("shmlink/../..")), root));
  MakeLink("../../..", "up3");
  EXPECT_TRUE(SameFile(Stat(P("up3/../../..")), root));
  // And from the working directory.
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_THAT(chdir("/dev/shm"), SyscallSucceeds());
  char now[PATH_MAX];
  ASSERT_NE(getcwd(now, sizeof(now)), nullptr);
  EXPECT_STREQ(now, "/dev/shm");
  ASSERT_THAT(chdir(C("shmlink")), SyscallSucceeds());
  ASSERT_NE(getcwd(now, sizeof(now)), nullptr);
  EXPECT_STREQ(now, "/dev/shm");
  ASSERT_THAT(chdir("../.."), SyscallSucceeds());
  ASSERT_NE(getcwd(now, sizeof(now)), nullptr);
  EXPECT_STREQ(now, "/");
  ASSERT_THAT(chdir("/"), SyscallSucceeds());
  ASSERT_THAT(chdir(".."), SyscallSucceeds());
  ASSERT_NE(getcwd(now, sizeof(now)), nullptr);
  EXPECT_STREQ(now, "/");
  ASSERT_THAT(chdir(cwd), SyscallSucceeds());
}

TEST_F(PathTest, DotAndDotDotInTheMiddle) {
  MakeDir("a");
  MakeDir("a/b");
  MakeFile("a/b/f", "x");
  EXPECT_EQ(ReadFile(P("a/./b/../b/./f")), "x");
  EXPECT_EQ(ReadFile(P("a//b///f")), "x");
  EXPECT_EQ(ReadFile(P("a/b/../../a/b/f")), "x");
  // ".." of a removed directory's descendants still works on the names left.
  struct stat st;
  EXPECT_THAT(stat(C("a/missing/../b"), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat(C("a/b/f/../f"), &st), SyscallFailsWithErrno(ENOTDIR));
}

}  // namespace
}  // namespace moat::testing
