// Conformance tests for file and directory system calls: open flags, I/O and
// offsets, descriptor duplication and flags, metadata, the namespace calls
// (mkdir, unlink, rename, link, symlink), path resolution errors, directory
// listing, the working directory, and the basic character devices.
//
// Everything happens in a fresh directory under /tmp, except reading the
// devices and /etc/passwd from the (possibly read-only) root.

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

// Each test gets its own directory and its umask set to a known value, so
// that created modes are predictable.
class FileTest : public ::testing::Test {
 protected:
  void SetUp() override { old_umask_ = umask(022); }
  void TearDown() override { umask(old_umask_); }

  std::string Path(const std::string& name) const { return dir_.Join(name); }

  // Creates a file with the given contents and returns its path.
  std::string MakeFile(const std::string& name, const std::string& contents = "",
                       mode_t mode = 0644) {
    std::string path = Path(name);
    EXPECT_TRUE(CreateFileWithContents(path, contents, mode)) << path << ": " << ErrnoString(errno);
    return path;
  }

  std::string MakeDir(const std::string& name, mode_t mode = 0755) {
    std::string path = Path(name);
    EXPECT_THAT(mkdir(path.c_str(), mode), SyscallSucceeds()) << path;
    return path;
  }

  TempDir dir_;
  mode_t old_umask_ = 0;
};

std::string ReadFile(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "<open failed: " + ErrnoString(errno) + ">";
  return ReadAll(fd.get());
}

// The kernel's O_LARGEFILE bit. glibc defines O_LARGEFILE as 0 on x86_64,
// but the kernel sets this bit on every file opened by a 64-bit process and
// reports it through F_GETFL.
constexpr int kKernelOLargefile = 0100000;

// F_GETFL without O_LARGEFILE, so that tests can compare against the flags
// they passed. Returns -1 with errno set on failure.
int GetStatusFlags(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags == -1 ? -1 : flags & ~kKernelOLargefile;
}

off_t FileSize(const std::string& path) {
  struct stat st = {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

// ---------------------------------------------------------------------------
// open

TEST_F(FileTest, CreateExclusive) {
  const std::string path = Path("excl");
  FileDescriptor fd(open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  EXPECT_THAT(open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600), SyscallFailsWithErrno(EEXIST));
  // O_EXCL also refuses a dangling symbolic link instead of following it.
  const std::string link = Path("dangling");
  ASSERT_THAT(symlink(Path("nowhere").c_str(), link.c_str()), SyscallSucceeds());
  EXPECT_THAT(open(link.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(access(Path("nowhere").c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
}

TEST_F(FileTest, CreateFollowsDanglingSymlinkWithoutExcl) {
  const std::string link = Path("dangling");
  ASSERT_THAT(symlink("target", link.c_str()), SyscallSucceeds());
  FileDescriptor fd(open(link.c_str(), O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  // The file was created where the link points, relative to the link.
  EXPECT_THAT(access(Path("target").c_str(), F_OK), SyscallSucceeds());
}

TEST_F(FileTest, CreateModeIsIgnoredForExistingFile) {
  const std::string path = MakeFile("existing", "data", 0600);
  FileDescriptor fd(open(path.c_str(), O_CREAT | O_RDWR, 0777));
  ASSERT_TRUE(fd.valid());
  struct stat st = {};
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 4);
}

TEST_F(FileTest, TruncateOnOpen) {
  const std::string path = MakeFile("trunc", "some contents");
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(FileSize(path), 0);
}

TEST_F(FileTest, AppendWritesAtEnd) {
  const std::string path = MakeFile("append", "abc");
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_APPEND));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(fd.get(), "de", 2), SyscallSucceedsWithValue(2));
  // The write moved the offset to the new end.
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(5));
  // On Linux pwrite ignores its offset on an O_APPEND descriptor.
  ASSERT_THAT(pwrite(fd.get(), "f", 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ReadFile(path), "abcdef");
}

TEST_F(FileTest, AccessModeIsEnforced) {
  const std::string path = MakeFile("modes", "data");
  FileDescriptor ro(open(path.c_str(), O_RDONLY));
  FileDescriptor wo(open(path.c_str(), O_WRONLY));
  ASSERT_TRUE(ro.valid() && wo.valid());
  char c = 'x';
  EXPECT_THAT(write(ro.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(read(wo.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(ro.get(), F_GETFL), SyscallSucceedsWithValue(O_RDONLY | kKernelOLargefile));
  EXPECT_THAT(GetStatusFlags(ro.get()), SyscallSucceedsWithValue(O_RDONLY));
  EXPECT_THAT(GetStatusFlags(wo.get()), SyscallSucceedsWithValue(O_WRONLY));
}

TEST_F(FileTest, OpenErrors) {
  const std::string file = MakeFile("file");
  const std::string dir = MakeDir("dir");
  EXPECT_THAT(open(Path("missing").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(Path("nodir/file").c_str(), O_CREAT | O_WRONLY, 0644),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open((file + "/below").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open((file + "/below").c_str(), O_CREAT | O_WRONLY, 0644),
              SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(file.c_str(), O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open((file + "/").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(dir.c_str(), O_WRONLY), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(dir.c_str(), O_RDWR), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(dir.c_str(), O_CREAT | O_RDONLY, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open("", O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(Path(std::string(NAME_MAX + 1, 'n')).c_str(), O_RDONLY),
              SyscallFailsWithErrno(ENAMETOOLONG));
}

TEST_F(FileTest, OpenDirectoryWithODirectory) {
  const std::string dir = MakeDir("dir");
  FileDescriptor fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  char c;
  EXPECT_THAT(read(fd.get(), &c, 1), SyscallFailsWithErrno(EISDIR));
}

// ---------------------------------------------------------------------------
// read, write and offsets

TEST_F(FileTest, ReadWriteAndSeek) {
  FileDescriptor fd(open(Path("rw").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(write(fd.get(), "0123456789", 10), SyscallSucceedsWithValue(10));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(10));
  char buf[16] = {};
  // At end of file a read returns 0.
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(lseek(fd.get(), 2, SEEK_SET), SyscallSucceedsWithValue(2));
  EXPECT_THAT(read(fd.get(), buf, 3), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "234");
  EXPECT_THAT(lseek(fd.get(), 1, SEEK_CUR), SyscallSucceedsWithValue(6));
  EXPECT_THAT(lseek(fd.get(), -3, SEEK_END), SyscallSucceedsWithValue(7));
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "789");
}

TEST_F(FileTest, SeekErrors) {
  FileDescriptor fd(open(MakeFile("seek", "abc").c_str(), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(lseek(fd.get(), -1, SEEK_SET), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(lseek(fd.get(), -4, SEEK_END), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(lseek(fd.get(), 0, 42), SyscallFailsWithErrno(EINVAL));
  // A failed seek leaves the offset alone.
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
  EXPECT_THAT(lseek(-1, 0, SEEK_SET), SyscallFailsWithErrno(EBADF));
}

TEST_F(FileTest, WriteBeyondEndLeavesHole) {
  FileDescriptor fd(open(Path("hole").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(fd.valid());
  // Seeking past the end is allowed and does not change the size.
  ASSERT_THAT(lseek(fd.get(), 100, SEEK_SET), SyscallSucceedsWithValue(100));
  EXPECT_EQ(FileSize(Path("hole")), 0);
  ASSERT_THAT(write(fd.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(FileSize(Path("hole")), 101);
  std::string contents = ReadFile(Path("hole"));
  EXPECT_EQ(contents, std::string(100, '\0') + "x");
}

TEST_F(FileTest, PreadPwriteKeepOffset) {
  FileDescriptor fd(open(Path("p").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(write(fd.get(), "abcdef", 6), SyscallSucceedsWithValue(6));
  ASSERT_THAT(lseek(fd.get(), 1, SEEK_SET), SyscallSucceedsWithValue(1));
  char buf[4] = {};
  EXPECT_THAT(pread(fd.get(), buf, 3, 3), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "def");
  EXPECT_THAT(pwrite(fd.get(), "XY", 2, 4), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(1));
  EXPECT_THAT(pread(fd.get(), buf, 4, 100), SyscallSucceedsWithValue(0));
  EXPECT_THAT(pread(fd.get(), buf, 4, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pwrite(fd.get(), buf, 1, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_EQ(ReadFile(Path("p")), "abcdXY");
}

TEST_F(FileTest, ReadvWritev) {
  FileDescriptor fd(open(Path("v").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(fd.valid());
  char a[] = "hello ", b[] = "vector ", c[] = "io";
  struct iovec out[3] = {{a, 6}, {b, 7}, {c, 2}};
  ASSERT_THAT(writev(fd.get(), out, 3), SyscallSucceedsWithValue(15));
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  char x[4] = {}, y[20] = {};
  struct iovec in[2] = {{x, 4}, {y, sizeof(y)}};
  // A scatter read fills each buffer in turn.
  ASSERT_THAT(readv(fd.get(), in, 2), SyscallSucceedsWithValue(15));
  EXPECT_EQ(std::string(x, 4), "hell");
  EXPECT_EQ(std::string(y, 11), "o vector io");
  EXPECT_THAT(writev(fd.get(), out, 0), SyscallSucceedsWithValue(0));
  // The raw system call keeps the compiler from rejecting the bad counts.
  EXPECT_THAT(syscall(SYS_writev, fd.get(), out, IOV_MAX + 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_writev, fd.get(), out, -1), SyscallFailsWithErrno(EINVAL));
  // preadv and pwritev take an offset and leave the file offset alone.
  const off_t before = lseek(fd.get(), 0, SEEK_CUR);
  struct iovec one = {x, 2};
  EXPECT_THAT(preadv(fd.get(), &one, 1, 6), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(x, 2), "ve");
  EXPECT_THAT(pwritev(fd.get(), &one, 1, 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(before));
}

// ---------------------------------------------------------------------------
// Descriptors

TEST_F(FileTest, DupSharesOffsetButNotCloexec) {
  FileDescriptor fd(open(MakeFile("dup", "abcdef").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  FileDescriptor copy(dup(fd.get()));
  ASSERT_TRUE(copy.valid());
  EXPECT_THAT(fcntl(copy.get(), F_GETFD), SyscallSucceedsWithValue(0));
  char buf[2];
  ASSERT_THAT(read(fd.get(), buf, 2), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(copy.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(2));
  // A separate open has its own offset.
  FileDescriptor other(open(Path("dup").c_str(), O_RDONLY));
  EXPECT_THAT(lseek(other.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
}

TEST_F(FileTest, DupReturnsLowestFreeDescriptor) {
  FileDescriptor a(open("/dev/null", O_RDONLY));
  FileDescriptor b(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(a.valid() && b.valid());
  const int freed = a.get();
  a.reset();
  FileDescriptor c(dup(b.get()));
  EXPECT_EQ(c.get(), freed);
}

TEST_F(FileTest, Dup2AndDup3) {
  FileDescriptor a(open(MakeFile("a", "AAAA").c_str(), O_RDONLY));
  FileDescriptor b(open(MakeFile("b", "BBBB").c_str(), O_RDONLY));
  ASSERT_TRUE(a.valid() && b.valid());
  // dup2 onto an open descriptor closes it first.
  ASSERT_THAT(dup2(a.get(), b.get()), SyscallSucceedsWithValue(b.get()));
  char c;
  ASSERT_THAT(read(b.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'A');
  // dup2 to itself is a no-op that checks the descriptor; dup3 refuses it.
  EXPECT_THAT(dup2(a.get(), a.get()), SyscallSucceedsWithValue(a.get()));
  EXPECT_THAT(dup3(a.get(), a.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(dup2(-1, a.get()), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(dup2(a.get(), -1), SyscallFailsWithErrno(EBADF));
  ASSERT_THAT(dup3(a.get(), b.get(), O_CLOEXEC), SyscallSucceedsWithValue(b.get()));
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(dup3(a.get(), b.get(), O_NONBLOCK), SyscallFailsWithErrno(EINVAL));
  // A closed descriptor is EBADF for dup2 even onto itself.
  const int closed = b.release();
  close(closed);
  EXPECT_THAT(dup2(closed, closed), SyscallFailsWithErrno(EBADF));
}

TEST_F(FileTest, FcntlDupfd) {
  FileDescriptor fd(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(fd.valid());
  FileDescriptor high(fcntl(fd.get(), F_DUPFD, 100));
  EXPECT_GE(high.get(), 100);
  EXPECT_THAT(fcntl(high.get(), F_GETFD), SyscallSucceedsWithValue(0));
  FileDescriptor high_cloexec(fcntl(fd.get(), F_DUPFD_CLOEXEC, 100));
  EXPECT_GT(high_cloexec.get(), 100);
  EXPECT_THAT(fcntl(high_cloexec.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(fcntl(fd.get(), F_DUPFD, -1), SyscallFailsWithErrno(EINVAL));
}

TEST_F(FileTest, FcntlFlags) {
  FileDescriptor fd(open(MakeFile("fl").c_str(), O_RDWR));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(fd.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(GetStatusFlags(fd.get()), SyscallSucceedsWithValue(O_RDWR));
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, O_APPEND | O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(GetStatusFlags(fd.get()), SyscallSucceedsWithValue(O_RDWR | O_APPEND | O_NONBLOCK));
  // F_SETFL cannot change the access mode or creation flags.
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, O_RDONLY | O_TRUNC), SyscallSucceeds());
  EXPECT_THAT(GetStatusFlags(fd.get()), SyscallSucceedsWithValue(O_RDWR));
  EXPECT_THAT(fcntl(fd.get(), 0x7fff), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(-1, F_GETFL), SyscallFailsWithErrno(EBADF));
}

TEST_F(FileTest, FlagsAreSharedByDupButFdFlagsAreNot) {
  FileDescriptor fd(open(MakeFile("shared").c_str(), O_RDWR));
  FileDescriptor copy(dup(fd.get()));
  ASSERT_TRUE(fd.valid() && copy.valid());
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, O_APPEND), SyscallSucceeds());
  EXPECT_THAT(GetStatusFlags(copy.get()), SyscallSucceedsWithValue(O_RDWR | O_APPEND));
  ASSERT_THAT(fcntl(fd.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(fcntl(copy.get(), F_GETFD), SyscallSucceedsWithValue(0));
}

TEST_F(FileTest, OffsetIsSharedAcrossFork) {
  FileDescriptor fd(open(Path("forked").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_TRUE(fd.valid());
  const int raw = fd.get();
  EXPECT_CHILD_SUCCEEDS([raw] { CHILD_CHECK(write(raw, "child", 5) == 5); });
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(5));
  ASSERT_THAT(write(fd.get(), "parent", 6), SyscallSucceedsWithValue(6));
  EXPECT_EQ(ReadFile(Path("forked")), "childparent");
}

TEST_F(FileTest, CloseErrors) {
  EXPECT_THAT(close(-1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(close(100000), SyscallFailsWithErrno(EBADF));
  int fd = open("/dev/null", O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(close(fd), SyscallSucceeds());
  EXPECT_THAT(close(fd), SyscallFailsWithErrno(EBADF));
}

// ---------------------------------------------------------------------------
// Metadata

TEST_F(FileTest, StatFamily) {
  const std::string file = MakeFile("file", "12345", 0640);
  const std::string dir = MakeDir("dir", 0750);
  const std::string link = Path("link");
  ASSERT_THAT(symlink("file", link.c_str()), SyscallSucceeds());

  struct stat st = {};
  ASSERT_THAT(stat(file.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_GT(st.st_blksize, 0);
  const ino_t file_ino = st.st_ino;

  ASSERT_THAT(stat(dir.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  // stat follows the link, lstat does not.
  ASSERT_THAT(stat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_ino, file_ino);
  ASSERT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 4);  // The length of the target "file".

  FileDescriptor fd(open(file.c_str(), O_RDONLY));
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_ino, file_ino);
  EXPECT_THAT(fstat(-1, &st), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(stat(Path("missing").c_str(), &st), SyscallFailsWithErrno(ENOENT));
}

TEST_F(FileTest, FstatatFlags) {
  MakeFile("file", "abc");
  ASSERT_THAT(symlink("file", Path("link").c_str()), SyscallSucceeds());
  FileDescriptor dirfd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dirfd.valid());
  struct stat st = {};
  ASSERT_THAT(fstatat(dirfd.get(), "link", &st, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_THAT(fstatat(dirfd.get(), "link", &st, 0), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  FileDescriptor fd(open(Path("file").c_str(), O_RDONLY));
  ASSERT_THAT(fstatat(fd.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 3);
  EXPECT_THAT(fstatat(fd.get(), "", &st, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(fstatat(fd.get(), "x", &st, 0), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(fstatat(dirfd.get(), "file", &st, 0x1), SyscallFailsWithErrno(EINVAL));
}

TEST_F(FileTest, UmaskAppliesToCreatedModes) {
  umask(027);
  FileDescriptor fd(open(Path("f").c_str(), O_CREAT | O_WRONLY, 0666));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(mkdir(Path("d").c_str(), 0777), SyscallSucceeds());
  struct stat st = {};
  ASSERT_THAT(stat(Path("f").c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_THAT(stat(Path("d").c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  // chmod is not subject to the umask.
  ASSERT_THAT(chmod(Path("f").c_str(), 0777), SyscallSucceeds());
  ASSERT_THAT(stat(Path("f").c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0777u);
}

TEST_F(FileTest, ChmodAndFchmod) {
  const std::string path = MakeFile("mode", "", 0600);
  ASSERT_THAT(chmod(path.c_str(), 0751), SyscallSucceeds());
  struct stat st = {};
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(fchmod(fd.get(), 0404), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0404u);
  EXPECT_THAT(chmod(Path("missing").c_str(), 0600), SyscallFailsWithErrno(ENOENT));
  FileDescriptor path_fd(open(path.c_str(), O_PATH));
  EXPECT_THAT(fchmod(path_fd.get(), 0600), SyscallFailsWithErrno(EBADF));
}

TEST_F(FileTest, Chown) {
  const std::string path = MakeFile("owned");
  ASSERT_THAT(chown(path.c_str(), 1234, 5678), SyscallSucceeds());
  struct stat st = {};
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  // -1 leaves an id unchanged.
  ASSERT_THAT(chown(path.c_str(), -1, 42), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 42u);
  // lchown changes the link, not its target.
  ASSERT_THAT(symlink("owned", Path("link").c_str()), SyscallSucceeds());
  ASSERT_THAT(lchown(Path("link").c_str(), 7, 7), SyscallSucceeds());
  ASSERT_THAT(lstat(Path("link").c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 7u);
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 1234u);
}

TEST_F(FileTest, Utimensat) {
  const std::string path = MakeFile("times");
  struct timespec times[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_THAT(utimensat(AT_FDCWD, path.c_str(), times, 0), SyscallSucceeds());
  struct stat st = {};
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);

  // UTIME_OMIT keeps a time; UTIME_NOW sets it to the current time.
  struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  const time_t before = time(nullptr);
  ASSERT_THAT(utimensat(AT_FDCWD, path.c_str(), now_omit, 0), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_GE(st.st_atim.tv_sec, before - 1);
  EXPECT_LE(st.st_atim.tv_sec, time(nullptr) + 1);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);

  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  struct timespec again[2] = {{5, 0}, {6, 0}};
  ASSERT_THAT(futimens(fd.get(), again), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, 6);

  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  EXPECT_THAT(utimensat(AT_FDCWD, path.c_str(), bad, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(utimensat(AT_FDCWD, Path("missing").c_str(), times, 0),
              SyscallFailsWithErrno(ENOENT));
}

TEST_F(FileTest, WriteUpdatesModificationTime) {
  const std::string path = MakeFile("mtime");
  struct timespec old[2] = {{1000, 0}, {1000, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, path.c_str(), old, 0), SyscallSucceeds());
  FileDescriptor fd(open(path.c_str(), O_WRONLY));
  ASSERT_THAT(write(fd.get(), "x", 1), SyscallSucceedsWithValue(1));
  struct stat st = {};
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_GT(st.st_mtim.tv_sec, 1000);
  EXPECT_GT(st.st_ctim.tv_sec, 1000);
}

TEST_F(FileTest, TruncateAndFtruncate) {
  const std::string path = MakeFile("t", "abcdef");
  ASSERT_THAT(truncate(path.c_str(), 3), SyscallSucceeds());
  EXPECT_EQ(ReadFile(path), "abc");
  FileDescriptor fd(open(path.c_str(), O_RDWR));
  ASSERT_THAT(ftruncate(fd.get(), 6), SyscallSucceeds());
  // Growing fills with zeros.
  EXPECT_EQ(ReadFile(path), std::string("abc\0\0\0", 6));
  EXPECT_THAT(ftruncate(fd.get(), -1), SyscallFailsWithErrno(EINVAL));
  FileDescriptor ro(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(ftruncate(ro.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(truncate(MakeDir("d").c_str(), 0), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(truncate(Path("missing").c_str(), 0), SyscallFailsWithErrno(ENOENT));
  // Truncating does not move the offset.
  ASSERT_THAT(lseek(fd.get(), 5, SEEK_SET), SyscallSucceeds());
  ASSERT_THAT(ftruncate(fd.get(), 1), SyscallSucceeds());
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(5));
}

TEST_F(FileTest, Fsync) {
  FileDescriptor fd(open(MakeFile("sync", "data").c_str(), O_RDWR));
  EXPECT_THAT(fsync(fd.get()), SyscallSucceeds());
  EXPECT_THAT(fdatasync(fd.get()), SyscallSucceeds());
  EXPECT_THAT(fsync(-1), SyscallFailsWithErrno(EBADF));
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  EXPECT_THAT(fsync(fds[0]), SyscallFailsWithErrno(EINVAL));
  close(fds[0]);
  close(fds[1]);
}

TEST_F(FileTest, AccessAndFaccessat) {
  const std::string rw = MakeFile("rw", "", 0644);
  const std::string none = MakeFile("none", "", 0000);
  const std::string exec = MakeFile("exec", "", 0700);
  EXPECT_THAT(access(rw.c_str(), F_OK), SyscallSucceeds());
  EXPECT_THAT(access(Path("missing").c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(access((rw + "/x").c_str(), F_OK), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(access(rw.c_str(), 0x10), SyscallFailsWithErrno(EINVAL));
  ASSERT_EQ(geteuid(), 0u) << "the rest of this test describes root's view";
  // Root may read and write anything, but executes only files with an x bit.
  EXPECT_THAT(access(none.c_str(), R_OK | W_OK), SyscallSucceeds());
  EXPECT_THAT(access(rw.c_str(), X_OK), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(access(exec.c_str(), X_OK), SyscallSucceeds());
  FileDescriptor dirfd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(faccessat(dirfd.get(), "exec", X_OK, AT_EACCESS), SyscallSucceeds());
  EXPECT_THAT(faccessat(dirfd.get(), "rw", X_OK, 0), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(faccessat(dirfd.get(), "rw", R_OK, 0x1), SyscallFailsWithErrno(EINVAL));
  // An unprivileged user is held to the permission bits.
  const std::string path = none;
  EXPECT_CHILD_SUCCEEDS([path] {
    CHILD_CHECK_SUCCESS(setuid(65534));
    CHILD_CHECK_ERRNO(access(path.c_str(), R_OK), EACCES);
  });
}

// ---------------------------------------------------------------------------
// Namespace operations

TEST_F(FileTest, MkdirAndRmdir) {
  const std::string dir = MakeDir("d");
  EXPECT_THAT(mkdir(dir.c_str(), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(Path("no/such").c_str(), 0755), SyscallFailsWithErrno(ENOENT));
  const std::string file = MakeFile("f");
  EXPECT_THAT(mkdir(file.c_str(), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir((file + "/sub").c_str(), 0755), SyscallFailsWithErrno(ENOTDIR));
  MakeFile("d/inner");
  EXPECT_THAT(rmdir(dir.c_str()), SyscallFailsWithErrno(ENOTEMPTY));
  ASSERT_THAT(unlink(Path("d/inner").c_str()), SyscallSucceeds());
  EXPECT_THAT(rmdir(dir.c_str()), SyscallSucceeds());
  EXPECT_THAT(rmdir(dir.c_str()), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rmdir(file.c_str()), SyscallFailsWithErrno(ENOTDIR));
  MakeDir("e");
  EXPECT_THAT(rmdir(Path("e/.").c_str()), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rmdir(Path("e/..").c_str()), SyscallFailsWithErrno(ENOTEMPTY));
}

TEST_F(FileTest, Unlink) {
  const std::string file = MakeFile("f", "still here");
  FileDescriptor fd(open(file.c_str(), O_RDONLY));
  ASSERT_THAT(unlink(file.c_str()), SyscallSucceeds());
  EXPECT_THAT(access(file.c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
  // An open file outlives its last name.
  EXPECT_EQ(ReadAll(fd.get()), "still here");
  struct stat st = {};
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_THAT(unlink(file.c_str()), SyscallFailsWithErrno(ENOENT));
  // Linux reports EISDIR for unlink of a directory.
  EXPECT_THAT(unlink(MakeDir("d").c_str()), SyscallFailsWithErrno(EISDIR));
  FileDescriptor dirfd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(unlinkat(dirfd.get(), "d", 0), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlinkat(dirfd.get(), "d", AT_REMOVEDIR), SyscallSucceeds());
  MakeFile("g");
  EXPECT_THAT(unlinkat(dirfd.get(), "g", AT_REMOVEDIR), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(unlinkat(dirfd.get(), "g", 0x1), SyscallFailsWithErrno(EINVAL));
}

TEST_F(FileTest, HardLinks) {
  const std::string file = MakeFile("f", "shared");
  ASSERT_THAT(link(file.c_str(), Path("g").c_str()), SyscallSucceeds());
  struct stat a = {}, b = {};
  ASSERT_THAT(stat(file.c_str(), &a), SyscallSucceeds());
  ASSERT_THAT(stat(Path("g").c_str(), &b), SyscallSucceeds());
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_THAT(link(file.c_str(), Path("g").c_str()), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(MakeDir("d").c_str(), Path("dlink").c_str()), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(link(Path("missing").c_str(), Path("h").c_str()), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(unlink(file.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFile(Path("g")), "shared");
}

TEST_F(FileTest, RenameFiles) {
  const std::string a = MakeFile("a", "A");
  const std::string b = MakeFile("b", "B");
  // Renaming over an existing file replaces it atomically.
  ASSERT_THAT(rename(a.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_THAT(access(a.c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_EQ(ReadFile(b), "A");
  // Renaming a file to itself (or to another link of it) does nothing.
  ASSERT_THAT(rename(b.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFile(b), "A");
  EXPECT_THAT(rename(Path("missing").c_str(), Path("x").c_str()), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(rename(b.c_str(), Path("nodir/x").c_str()), SyscallFailsWithErrno(ENOENT));
}

TEST_F(FileTest, RenameDirectories) {
  const std::string d1 = MakeDir("d1");
  const std::string d2 = MakeDir("d2");
  MakeFile("d1/inside", "moved");
  // A directory may replace an empty directory.
  ASSERT_THAT(rename(d1.c_str(), d2.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFile(Path("d2/inside")), "moved");
  const std::string d3 = MakeDir("d3");
  EXPECT_THAT(rename(d3.c_str(), d2.c_str()), SyscallFailsWithErrno(ENOTEMPTY));
  const std::string file = MakeFile("file");
  EXPECT_THAT(rename(file.c_str(), d3.c_str()), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(rename(d3.c_str(), file.c_str()), SyscallFailsWithErrno(ENOTDIR));
  // A directory cannot move below itself.
  EXPECT_THAT(rename(d2.c_str(), Path("d2/sub").c_str()), SyscallFailsWithErrno(EINVAL));
}

// The working directory follows its directory to a new parent: getcwd and ".." see where it
// went.
TEST_F(FileTest, RenameMovesTheWorkingDirectory) {
  MakeDir("from");
  MakeDir("to");
  const std::string inner = MakeDir("from/inner");
  char saved[PATH_MAX];
  ASSERT_NE(getcwd(saved, sizeof(saved)), nullptr);
  ASSERT_THAT(chdir(inner.c_str()), SyscallSucceeds());
  ASSERT_THAT(rename(inner.c_str(), Path("to/moved").c_str()), SyscallSucceeds());
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(std::string(cwd), Path("to/moved"));
  struct stat up, to;
  ASSERT_THAT(stat("..", &up), SyscallSucceeds());
  ASSERT_THAT(stat(Path("to").c_str(), &to), SyscallSucceeds());
  EXPECT_EQ(up.st_ino, to.st_ino);
  ASSERT_THAT(chdir(saved), SyscallSucceeds());
}

TEST_F(FileTest, Renameat2Flags) {
  const std::string a = MakeFile("a", "A");
  const std::string b = MakeFile("b", "B");
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_NOREPLACE),
              SyscallFailsWithErrno(EEXIST));
  ASSERT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE),
              SyscallSucceeds());
  EXPECT_EQ(ReadFile(a), "B");
  EXPECT_EQ(ReadFile(b), "A");
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, Path("c").c_str(), RENAME_EXCHANGE),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, Path("c").c_str(),
                        RENAME_EXCHANGE | RENAME_NOREPLACE),
              SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, Path("c").c_str(), RENAME_NOREPLACE),
              SyscallSucceeds());
  EXPECT_EQ(ReadFile(Path("c")), "B");
}

TEST_F(FileTest, SymlinkAndReadlink) {
  const std::string link = Path("link");
  ASSERT_THAT(symlink("some/target", link.c_str()), SyscallSucceeds());
  char buf[64];
  memset(buf, 'z', sizeof(buf));
  // readlink does not append a NUL.
  ASSERT_THAT(readlink(link.c_str(), buf, sizeof(buf)), SyscallSucceedsWithValue(11));
  EXPECT_EQ(std::string(buf, 12), "some/targetz");
  // A short buffer truncates silently.
  ASSERT_THAT(readlink(link.c_str(), buf, 4), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "some");
  EXPECT_THAT(readlink(link.c_str(), buf, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(MakeFile("file").c_str(), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(Path("missing").c_str(), buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(symlink("other", link.c_str()), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(symlink("", Path("empty").c_str()), SyscallFailsWithErrno(ENOENT));
  FileDescriptor dirfd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(readlinkat(dirfd.get(), "link", buf, sizeof(buf)), SyscallSucceedsWithValue(11));
}

TEST_F(FileTest, SymlinkResolution) {
  MakeDir("real");
  MakeFile("real/file", "through link");
  ASSERT_THAT(symlink("real", Path("dirlink").c_str()), SyscallSucceeds());
  ASSERT_THAT(symlink(Path("real/file").c_str(), Path("abslink").c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFile(Path("dirlink/file")), "through link");
  EXPECT_EQ(ReadFile(Path("abslink")), "through link");
  // A link in the middle of a path is followed even with O_NOFOLLOW.
  FileDescriptor fd(open(Path("dirlink/file").c_str(), O_RDONLY | O_NOFOLLOW));
  EXPECT_TRUE(fd.valid()) << ErrnoString(errno);
  // A dangling link is ENOENT.
  ASSERT_THAT(symlink("nowhere", Path("dangling").c_str()), SyscallSucceeds());
  EXPECT_THAT(open(Path("dangling").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

TEST_F(FileTest, SymlinkLoops) {
  const std::string self = Path("self");
  ASSERT_THAT(symlink("self", self.c_str()), SyscallSucceeds());
  EXPECT_THAT(open(self.c_str(), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  struct stat st = {};
  EXPECT_THAT(stat(self.c_str(), &st), SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(lstat(self.c_str(), &st), SyscallSucceeds());
  ASSERT_THAT(symlink("pong", Path("ping").c_str()), SyscallSucceeds());
  ASSERT_THAT(symlink("ping", Path("pong").c_str()), SyscallSucceeds());
  EXPECT_THAT(open(Path("ping/x").c_str(), O_RDONLY), SyscallFailsWithErrno(ELOOP));
  // A chain of 40 links resolves; Linux gives up after 40.
  MakeFile("l0", "end");
  for (int i = 1; i <= 41; i++) {
    ASSERT_THAT(
        symlink(("l" + std::to_string(i - 1)).c_str(), Path("l" + std::to_string(i)).c_str()),
        SyscallSucceeds());
  }
  EXPECT_EQ(ReadFile(Path("l40")), "end");
  EXPECT_THAT(open(Path("l41").c_str(), O_RDONLY), SyscallFailsWithErrno(ELOOP));
}

TEST_F(FileTest, NofollowOnFinalSymlinkIsEloop) {
  MakeFile("file");
  ASSERT_THAT(symlink("file", Path("link").c_str()), SyscallSucceeds());
  EXPECT_THAT(open(Path("link").c_str(), O_RDONLY | O_NOFOLLOW), SyscallFailsWithErrno(ELOOP));
  // O_PATH with O_NOFOLLOW opens the link itself.
  FileDescriptor fd(open(Path("link").c_str(), O_PATH | O_NOFOLLOW));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  struct stat st = {};
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(FileTest, OpenatRelativeToDirectory) {
  MakeDir("sub");
  MakeFile("sub/file", "relative");
  FileDescriptor dirfd(open(Path("sub").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dirfd.valid());
  FileDescriptor fd(openat(dirfd.get(), "file", O_RDONLY));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  EXPECT_EQ(ReadAll(fd.get()), "relative");
  // An absolute path ignores the directory descriptor, even a bad one.
  FileDescriptor abs(openat(-1, Path("sub/file").c_str(), O_RDONLY));
  EXPECT_TRUE(abs.valid());
  EXPECT_THAT(openat(-1, "file", O_RDONLY), SyscallFailsWithErrno(EBADF));
  FileDescriptor file_fd(open(Path("sub/file").c_str(), O_RDONLY));
  EXPECT_THAT(openat(file_fd.get(), "x", O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  FileDescriptor created(openat(dirfd.get(), "new", O_CREAT | O_WRONLY, 0600));
  EXPECT_TRUE(created.valid());
  EXPECT_THAT(access(Path("sub/new").c_str(), F_OK), SyscallSucceeds());
}

TEST_F(FileTest, DotDotAtRootStaysAtRoot) {
  struct stat root = {}, above = {};
  ASSERT_THAT(stat("/", &root), SyscallSucceeds());
  ASSERT_THAT(stat("/../../..", &above), SyscallSucceeds());
  EXPECT_EQ(root.st_ino, above.st_ino);
  EXPECT_EQ(root.st_dev, above.st_dev);
}

// ---------------------------------------------------------------------------
// Directory listing

std::map<std::string, unsigned char> ListDirectory(int fd, size_t buffer_size) {
  std::map<std::string, unsigned char> entries;
  std::vector<char> buf(buffer_size);
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n <= 0) {
      if (n < 0) ADD_FAILURE() << "getdents64: " << ErrnoString(errno);
      break;
    }
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf.data() + off);
      EXPECT_TRUE(entries.emplace(d->d_name, d->d_type).second) << "duplicate " << d->d_name;
      off += d->d_reclen;
    }
  }
  return entries;
}

TEST_F(FileTest, Getdents64ListsEntries) {
  MakeFile("file");
  MakeDir("dir");
  ASSERT_THAT(symlink("file", Path("link").c_str()), SyscallSucceeds());
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  auto entries = ListDirectory(fd.get(), 4096);
  std::map<std::string, unsigned char> expected = {
      {".", DT_DIR}, {"..", DT_DIR}, {"file", DT_REG}, {"dir", DT_DIR}, {"link", DT_LNK}};
  EXPECT_EQ(entries, expected);
  // Once the end is reached, further calls return 0.
  char buf[256];
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  // Seeking back to the start lists everything again.
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  EXPECT_EQ(ListDirectory(fd.get(), 4096).size(), 5u);
}

TEST_F(FileTest, Getdents64WithSmallBufferContinues) {
  std::set<std::string> names = {".", ".."};
  for (int i = 0; i < 100; i++) {
    std::string name = "entry_with_a_longish_name_" + std::to_string(i);
    MakeFile(name);
    names.insert(name);
  }
  ASSERT_THAT(unlink(Path("entry_with_a_longish_name_7").c_str()), SyscallSucceeds());
  names.erase("entry_with_a_longish_name_7");
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  auto entries = ListDirectory(fd.get(), 200);
  std::set<std::string> got;
  for (const auto& [name, type] : entries) got.insert(name);
  EXPECT_EQ(got, names);
}

TEST_F(FileTest, Getdents64Errors) {
  FileDescriptor dir(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  char tiny[8];
  // The buffer cannot hold even one entry.
  EXPECT_THAT(syscall(SYS_getdents64, dir.get(), tiny, sizeof(tiny)),
              SyscallFailsWithErrno(EINVAL));
  FileDescriptor file(open(MakeFile("f").c_str(), O_RDONLY));
  char buf[256];
  EXPECT_THAT(syscall(SYS_getdents64, file.get(), buf, sizeof(buf)),
              SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(syscall(SYS_getdents64, -1, buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
}

// ---------------------------------------------------------------------------
// Working directory

// Restores the working directory when the test ends.
class CwdTest : public FileTest {
 protected:
  void SetUp() override {
    FileTest::SetUp();
    saved_cwd_.reset(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(saved_cwd_.valid());
  }
  void TearDown() override {
    EXPECT_THAT(fchdir(saved_cwd_.get()), SyscallSucceeds());
    FileTest::TearDown();
  }
  FileDescriptor saved_cwd_;
};

TEST_F(CwdTest, ChdirAndGetcwd) {
  MakeDir("sub");
  ASSERT_THAT(chdir(dir_.path().c_str()), SyscallSucceeds());
  char buf[PATH_MAX];
  ASSERT_NE(getcwd(buf, sizeof(buf)), nullptr);
  EXPECT_EQ(std::string(buf), dir_.path());
  ASSERT_THAT(chdir("sub"), SyscallSucceeds());
  ASSERT_NE(getcwd(buf, sizeof(buf)), nullptr);
  EXPECT_EQ(std::string(buf), Path("sub"));
  // Relative paths now resolve from here.
  FileDescriptor fd(open("created", O_CREAT | O_WRONLY, 0644));
  EXPECT_TRUE(fd.valid());
  EXPECT_THAT(access(Path("sub/created").c_str(), F_OK), SyscallSucceeds());
  ASSERT_THAT(chdir(".."), SyscallSucceeds());
  ASSERT_NE(getcwd(buf, sizeof(buf)), nullptr);
  EXPECT_EQ(std::string(buf), dir_.path());
}

TEST_F(CwdTest, Fchdir) {
  MakeDir("sub");
  FileDescriptor dirfd(open(Path("sub").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(fchdir(dirfd.get()), SyscallSucceeds());
  char buf[PATH_MAX];
  ASSERT_NE(getcwd(buf, sizeof(buf)), nullptr);
  EXPECT_EQ(std::string(buf), Path("sub"));
  FileDescriptor file(open(MakeFile("f").c_str(), O_RDONLY));
  EXPECT_THAT(fchdir(file.get()), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(fchdir(-1), SyscallFailsWithErrno(EBADF));
}

TEST_F(CwdTest, Errors) {
  EXPECT_THAT(chdir(MakeFile("f").c_str()), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(chdir(Path("missing").c_str()), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(chdir(dir_.path().c_str()), SyscallSucceeds());
  // The raw system call returns the length including the NUL, or ERANGE.
  char buf[PATH_MAX];
  const long len = syscall(SYS_getcwd, buf, sizeof(buf));
  ASSERT_THAT(len, SyscallSucceeds());
  EXPECT_EQ(len, static_cast<long>(dir_.path().size() + 1));
  EXPECT_THAT(syscall(SYS_getcwd, buf, dir_.path().size()), SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(syscall(SYS_getcwd, buf, 1), SyscallFailsWithErrno(ERANGE));
  EXPECT_EQ(getcwd(buf, 2), nullptr);
  EXPECT_EQ(errno, ERANGE);
}

TEST_F(CwdTest, RemovedWorkingDirectory) {
  const std::string sub = MakeDir("sub");
  EXPECT_CHILD_SUCCEEDS([sub] {
    CHILD_CHECK_SUCCESS(chdir(sub.c_str()));
    CHILD_CHECK_SUCCESS(rmdir(sub.c_str()));
    char buf[PATH_MAX];
    CHILD_CHECK_ERRNO(syscall(SYS_getcwd, buf, sizeof(buf)), ENOENT);
    // Nothing can be created in a removed directory.
    CHILD_CHECK_ERRNO(open("new", O_CREAT | O_WRONLY, 0644), ENOENT);
  });
}

// ---------------------------------------------------------------------------
// Devices and the root file system

TEST(DeviceTest, DevNull) {
  FileDescriptor fd(open("/dev/null", O_RDWR));
  ASSERT_TRUE(fd.valid());
  char buf[16];
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(write(fd.get(), "discarded", 9), SyscallSucceedsWithValue(9));
  struct stat st = {};
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
}

TEST(DeviceTest, DevZero) {
  FileDescriptor fd(open("/dev/zero", O_RDWR));
  ASSERT_TRUE(fd.valid());
  char buf[4096];
  memset(buf, 0xff, sizeof(buf));
  ASSERT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(sizeof(buf)));
  for (char c : buf) ASSERT_EQ(c, 0);
  EXPECT_THAT(write(fd.get(), buf, 10), SyscallSucceedsWithValue(10));
}

TEST(DeviceTest, DevUrandom) {
  FileDescriptor fd(open("/dev/urandom", O_RDONLY));
  ASSERT_TRUE(fd.valid());
  unsigned char a[64] = {}, b[64] = {};
  ASSERT_THAT(read(fd.get(), a, sizeof(a)), SyscallSucceedsWithValue(sizeof(a)));
  ASSERT_THAT(read(fd.get(), b, sizeof(b)), SyscallSucceedsWithValue(sizeof(b)));
  EXPECT_NE(memcmp(a, b, sizeof(a)), 0);
}

TEST(RootFsTest, ReadEtcPasswd) {
  FileDescriptor fd(open("/etc/passwd", O_RDONLY));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  std::string contents = ReadAll(fd.get());
  EXPECT_EQ(contents.rfind("root:", 0), 0u) << "first line: " << contents.substr(0, 40);
}

TEST(RootFsTest, CreateInTmp) {
  char path[] = "/tmp/moat_file_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(write(fd, "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(close(fd), SyscallSucceeds());
  EXPECT_THAT(unlink(path), SyscallSucceeds());
}

}  // namespace
}  // namespace moat::testing
