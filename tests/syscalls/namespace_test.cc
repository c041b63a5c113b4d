// Conformance tests for the calls that change the namespace: the errno matrix
// of rename, renameat2, link, unlink, rmdir and mknod, link counts, mounts and
// mountpoints, and O_TMPFILE's unnamed files that linkat names.
//
// Writable files live in a fresh directory under /tmp; /dev/shm is another
// filesystem for EXDEV.

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/path_util.h"

namespace moat::testing {
namespace {

using NamespaceTest = PathTest;

TEST_F(NamespaceTest, Mknod) {
  MakeFile("file");
  EXPECT_THAT(mknod(C("d"), S_IFDIR | 0755, 0), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(mknod(C("file"), S_IFDIR | 0755, 0), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(mknod(C("x"), S_IFMT | 0755, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mknod(C("file"), S_IFIFO | 0755, 0), SyscallFailsWithErrno(EEXIST));
  ASSERT_THAT(mknod(C("plain"), 0644, 0), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(Lstat(P("plain")).st_mode));
  ASSERT_THAT(mknod(C("null"), S_IFCHR | 0666, makedev(1, 3)), SyscallSucceeds());
  struct stat st = Lstat(P("null"));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  FileDescriptor fd(open(C("null"), O_WRONLY));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  EXPECT_THAT(write(fd.get(), "gone", 4), SyscallSucceedsWithValue(4));
  // Devices need CAP_MKNOD; FIFOs and sockets do not.
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(chmod(dir_.path().c_str(), 0777));
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    CHILD_CHECK_ERRNO(mknod(P("dev").c_str(), S_IFCHR | 0666, makedev(1, 3)), EPERM);
    CHILD_CHECK_ERRNO(mknod(P("file").c_str(), S_IFCHR | 0666, makedev(1, 3)), EEXIST);
    CHILD_CHECK_SUCCESS(mknod(P("fifo").c_str(), S_IFIFO | 0666, 0));
    CHILD_CHECK_SUCCESS(mknod(P("sock").c_str(), S_IFSOCK | 0666, 0));
  });
}

TEST_F(NamespaceTest, OTmpfile) {
  MakeCast();
  umask(022);
  FileDescriptor fd(open(dir_.path().c_str(), O_TMPFILE | O_RDWR, 0666));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  constexpr int kKernelOLargefile = 0100000;
  EXPECT_THAT(fcntl(fd.get(), F_GETFL), SyscallSucceedsWithValue(O_TMPFILE | O_RDWR | kKernelOLargefile));
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(st.st_dev, Stat(dir_.path()).st_dev);
  ASSERT_THAT(write(fd.get(), "abc", 3), SyscallSucceedsWithValue(3));
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  EXPECT_EQ(ReadAll(fd.get()), "abc");
  EXPECT_THAT(fchdir(fd.get()), SyscallFailsWithErrno(ENOTDIR));
  // It has no name until linkat gives it one.
  EXPECT_THAT(access(C("named"), F_OK), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(linkat(fd.get(), "", AT_FDCWD, C("named"), AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_EQ(ReadFile(P("named")), "abc");
  ASSERT_THAT(linkat(fd.get(), "", AT_FDCWD, C("named2"), AT_EMPTY_PATH), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_TRUE(SameFile(st, Stat(P("named2"))));
  // With O_EXCL it can never have one.
  FileDescriptor excl(open(dir_.path().c_str(), O_TMPFILE | O_WRONLY | O_EXCL, 0600));
  ASSERT_TRUE(excl.valid()) << ErrnoString(errno);
  EXPECT_THAT(fcntl(excl.get(), F_GETFL), SyscallSucceedsWithValue(O_TMPFILE | O_WRONLY | kKernelOLargefile));
  EXPECT_THAT(linkat(excl.get(), "", AT_FDCWD, C("never"), AT_EMPTY_PATH),
              SyscallFailsWithErrno(ENOENT));
  // Nor across filesystems.
  FileDescriptor other(open(dir_.path().c_str(), O_TMPFILE | O_WRONLY, 0600));
  ASSERT_TRUE(other.valid());
  EXPECT_THAT(linkat(other.get(), "", AT_FDCWD, "/dev/shm/moat_path_test_tmpfile", AT_EMPTY_PATH),
              SyscallFailsWithErrno(EXDEV));
  // The directory must be one, and writable.
  EXPECT_THAT(open(C("file"), O_TMPFILE | O_RDWR, 0600), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(C("missing"), O_TMPFILE | O_RDWR, 0600), SyscallFailsWithErrno(ENOENT));
  FileDescriptor via_link(open(C("dirlink"), O_TMPFILE | O_RDWR, 0600));
  EXPECT_TRUE(via_link.valid()) << ErrnoString(errno);
  EXPECT_THAT(open(C("dir"), O_TMPFILE | O_RDONLY, 0600), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(open(C("dir"), 020000000 | O_RDWR, 0600), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(open(C("dir"), O_TMPFILE | O_CREAT | O_RDWR, 0600), SyscallFailsWithErrno(EINVAL));
  // Nothing shows in the directory.
  FileDescriptor dir(open(C("dir"), O_TMPFILE | O_RDWR, 0600));
  ASSERT_TRUE(dir.valid());
  char buf[512];
  FileDescriptor list(open(C("dir"), O_RDONLY | O_DIRECTORY));
  long n = syscall(SYS_getdents64, list.get(), buf, sizeof(buf));
  EXPECT_EQ(n, 2 * 24);  // "." and ".." only
  // Creating needs write and search permission on the directory; the owner comes from it.
  ASSERT_THAT(chmod(dir_.path().c_str(), 0755), SyscallSucceeds());
  MakeDir("sgid", 02777);
  ASSERT_THAT(chown(C("sgid"), 0, 4321), SyscallSucceeds());
  ASSERT_THAT(chmod(C("sgid"), 02777), SyscallSucceeds());
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setgid(65534));
    CHILD_CHECK_SUCCESS(setuid(65534));
    CHILD_CHECK_ERRNO(open(P("dir").c_str(), O_TMPFILE | O_RDWR, 0600), EACCES);
    int t = open(P("sgid").c_str(), O_TMPFILE | O_RDWR, 0600);
    CHILD_CHECK(t >= 0);
    struct stat tst;
    CHILD_CHECK_SUCCESS(fstat(t, &tst));
    CHILD_CHECK(tst.st_uid == 65534 && tst.st_gid == 4321);
  });
}

// ---------------------------------------------------------------------------
// rename, link, unlink, rmdir

TEST_F(NamespaceTest, RenameErrnoMatrix) {
  MakeFile("f1", "one");
  MakeFile("f2", "two");
  MakeDir("d1");
  MakeDir("d2");
  MakeDir("full");
  MakeFile("full/x");
  EXPECT_THAT(rename(C("f1"), C("d1")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(rename(C("d1"), C("f1")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("d1"), C("full")), SyscallFailsWithErrno(ENOTEMPTY));
  EXPECT_THAT(rename(C("missing"), C("x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename(C("f1"), C("missing/x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename(C("f1"), C("f2/x")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("d1"), C("d1/sub")), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rename(C("d1"), C("d1/sub/deeper")), SyscallFailsWithErrno(ENOENT));
  MakeDir("d1/in");
  EXPECT_THAT(rename(C("d1"), C("d1/in/deeper")), SyscallFailsWithErrno(EINVAL));
  // A target that is an ancestor of the source is not empty.
  EXPECT_THAT(rename(C("d1/in"), C("d1")), SyscallFailsWithErrno(ENOTEMPTY));
  EXPECT_THAT(rename(C("d1/."), C("x")), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rename(C("d1/.."), C("x")), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rename(C("f1"), C("d1/.")), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rename(C("f1"), C("d1/..")), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f1"), AT_FDCWD, C("d1/."), RENAME_NOREPLACE),
              SyscallFailsWithErrno(EEXIST));
  // Renaming over itself, or over another name of the same file, does nothing.
  EXPECT_THAT(rename(C("f1"), C("f1")), SyscallSucceeds());
  EXPECT_THAT(rename(C("d1"), C("d1")), SyscallSucceeds());
  ASSERT_THAT(link(C("f1"), C("f1b")), SyscallSucceeds());
  EXPECT_THAT(rename(C("f1"), C("f1b")), SyscallSucceeds());
  EXPECT_THAT(access(C("f1"), F_OK), SyscallSucceeds());
  EXPECT_EQ(Stat(P("f1")).st_nlink, 2u);
  // Replacing a file and an empty directory.
  EXPECT_THAT(rename(C("f1"), C("f2")), SyscallSucceeds());
  EXPECT_EQ(ReadFile(P("f2")), "one");
  EXPECT_EQ(Stat(P("f2")).st_nlink, 2u);
  EXPECT_THAT(rename(C("d2"), C("d1/in")), SyscallSucceeds());
  EXPECT_THAT(access(C("d2"), F_OK), SyscallFailsWithErrno(ENOENT));
  // Replacing a symlink with a directory is ENOTDIR; a symlink over a directory EISDIR.
  MakeLink("d1", "dl");
  EXPECT_THAT(rename(C("full"), C("dl")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rename(C("dl"), C("full")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(rename(C("dl"), C("f2")), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(Lstat(P("f2")).st_mode));
}

TEST_F(NamespaceTest, RenameAcrossMountsAndMountpoints) {
  MakeFile("f");
  MakeDir("d");
  char shm_tmpl[] = "/dev/shm/moat_path_test.XXXXXX";
  ASSERT_NE(mkdtemp(shm_tmpl), nullptr) << ErrnoString(errno);
  std::string shm = shm_tmpl;
  std::string shm_file = shm + "/g";
  ASSERT_TRUE(CreateFileWithContents(shm_file, "g"));
  EXPECT_THAT(rename(C("f"), (shm + "/f").c_str()), SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(rename(shm_file.c_str(), C("g")), SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(rename(C("d"), (shm + "/d").c_str()), SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(link(shm_file.c_str(), C("g")), SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(link(C("f"), (shm + "/f").c_str()), SyscallFailsWithErrno(EXDEV));
  // EXDEV comes before the target is looked at.
  EXPECT_THAT(rename(C("missing"), (shm + "/f").c_str()), SyscallFailsWithErrno(EXDEV));
  // A mountpoint cannot be renamed, replaced or removed.
  EXPECT_THAT(rename("/dev/shm", "/dev/shm2"), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rmdir("/dev/shm"), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rmdir("/dev"), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rmdir("/proc"), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(rename((shm + "/g").c_str(), "/dev/shm"), SyscallFailsWithErrno(EXDEV));
  ASSERT_THAT(unlink(shm_file.c_str()), SyscallSucceeds());
  ASSERT_THAT(rmdir(shm.c_str()), SyscallSucceeds());
}

TEST_F(NamespaceTest, LinkErrnoMatrix) {
  MakeFile("f", "x");
  MakeDir("d");
  EXPECT_THAT(link(C("d"), C("d2")), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(link(C("f"), C("d")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(C("f"), C("f")), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(C("missing"), C("x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link(C("f"), C("missing/x")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link(C("f"), C("f/x")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(link(C("f"), C("d/.")), SyscallFailsWithErrno(EEXIST));
  // Link counts and ctime.
  struct stat before = Stat(P("f"));
  EXPECT_EQ(before.st_nlink, 1u);
  SleepMs(20);
  ASSERT_THAT(link(C("f"), C("d/g")), SyscallSucceeds());
  struct stat after = Stat(P("f"));
  EXPECT_EQ(after.st_nlink, 2u);
  EXPECT_GT(TimespecToNs(after.st_ctim), TimespecToNs(before.st_ctim));
  EXPECT_EQ(TimespecToNs(after.st_mtim), TimespecToNs(before.st_mtim));
  EXPECT_TRUE(SameFile(after, Stat(P("d/g"))));
  ASSERT_THAT(unlink(C("f")), SyscallSucceeds());
  EXPECT_EQ(Stat(P("d/g")).st_nlink, 1u);
  // An open file keeps its data after its last name goes; fstat shows nlink 0.
  FileDescriptor fd(open(C("d/g"), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(unlink(C("d/g")), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(ReadAll(fd.get()), "x");
}

TEST_F(NamespaceTest, DirectoryLinkCounts) {
  MakeDir("p");
  EXPECT_EQ(Stat(P("p")).st_nlink, 2u);
  MakeDir("p/a");
  MakeDir("p/b");
  MakeFile("p/f");
  EXPECT_EQ(Stat(P("p")).st_nlink, 4u);
  MakeDir("q");
  ASSERT_THAT(rename(C("p/a"), C("q/a")), SyscallSucceeds());
  EXPECT_EQ(Stat(P("p")).st_nlink, 3u);
  EXPECT_EQ(Stat(P("q")).st_nlink, 3u);
  // Replacing an empty directory keeps the target parent's count.
  MakeDir("q/c");
  EXPECT_EQ(Stat(P("q")).st_nlink, 4u);
  ASSERT_THAT(rename(C("p/b"), C("q/c")), SyscallSucceeds());
  EXPECT_EQ(Stat(P("p")).st_nlink, 2u);
  EXPECT_EQ(Stat(P("q")).st_nlink, 4u);
  ASSERT_THAT(rmdir(C("q/c")), SyscallSucceeds());
  EXPECT_EQ(Stat(P("q")).st_nlink, 3u);
  // A removed directory that is still open has no links.
  FileDescriptor fd(open(C("q/a"), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(rmdir(C("q/a")), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_nlink, 0u);
  // Nothing can be created in it.
  EXPECT_THAT(openat(fd.get(), "x", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdirat(fd.get(), "x", 0755), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(symlinkat("x", fd.get(), "x"), SyscallFailsWithErrno(ENOENT));
}

TEST_F(NamespaceTest, UnlinkAndRmdirErrnoMatrix) {
  MakeFile("f");
  MakeDir("d");
  MakeDir("full");
  MakeFile("full/x");
  EXPECT_THAT(rmdir(C("full")), SyscallFailsWithErrno(ENOTEMPTY));
  EXPECT_THAT(rmdir(C("f")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(C("missing")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rmdir(C("f/x")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink(C("d")), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlink(C("missing")), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(unlink(C("f/x")), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir("."), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(unlinkat(AT_FDCWD, C("d/."), AT_REMOVEDIR), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rmdir(".."), SyscallFailsWithErrno(ENOTEMPTY));
  // The working directory can be removed; it then has no name.
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_THAT(chdir(C("d")), SyscallSucceeds());
  EXPECT_THAT(rmdir(C("d")), SyscallSucceeds());
  EXPECT_THAT(open(".", O_RDONLY | O_DIRECTORY), SyscallSucceeds());
  EXPECT_THAT(open("new", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(chdir(cwd), SyscallSucceeds());
  // Files of the host root: the type verdicts come before anything changes.
  EXPECT_THAT(rmdir("/etc/passwd"), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlink("/etc"), SyscallFailsWithErrno(EISDIR));
}

TEST_F(NamespaceTest, RenameExchange) {
  MakeFile("f", "file");
  MakeDir("d");
  MakeFile("d/inner", "in");
  ASSERT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f"), AT_FDCWD, C("d"), RENAME_EXCHANGE),
              SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(Stat(P("f")).st_mode));
  EXPECT_EQ(ReadFile(P("f/inner")), "in");
  EXPECT_EQ(ReadFile(P("d")), "file");
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f"), AT_FDCWD, C("missing"), RENAME_EXCHANGE),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f"), AT_FDCWD, C("f/inner"), RENAME_EXCHANGE),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f"), AT_FDCWD, C("d"),
                      RENAME_EXCHANGE | RENAME_NOREPLACE),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("f"), AT_FDCWD, C("d"), 0x100),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_renameat2, AT_FDCWD, C("d"), AT_FDCWD, C("f"), RENAME_NOREPLACE),
              SyscallFailsWithErrno(EEXIST));
}

}  // namespace
}  // namespace moat::testing
