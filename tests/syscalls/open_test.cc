// Conformance tests for openat2(2) (struct open_how and the RESOLVE_* restrictions),
// fallocate(2) and sync_file_range(2).

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

// <linux/openat2.h>, which older C library headers lack.
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
constexpr uint64_t kResolveNoXdev = 0x01;
constexpr uint64_t kResolveNoMagiclinks = 0x02;
constexpr uint64_t kResolveNoSymlinks = 0x04;
constexpr uint64_t kResolveBeneath = 0x08;
constexpr uint64_t kResolveInRoot = 0x10;
constexpr uint64_t kResolveCached = 0x20;

int Openat2(int dirfd, const char* path, const OpenHow& how, size_t size = sizeof(OpenHow)) {
  return static_cast<int>(syscall(SYS_openat2, dirfd, path, &how, size));
}

// The inode number of what fd is open on.
ino_t InodeOf(int fd) {
  struct stat st = {};
  if (fstat(fd, &st) != 0) ADD_FAILURE() << "fstat: " << ErrnoString(errno);
  return st.st_ino;
}

ino_t InodeOf(const std::string& path) {
  struct stat st = {};
  if (stat(path.c_str(), &st) != 0) ADD_FAILURE() << "stat(" << path << "): " << ErrnoString(errno);
  return st.st_ino;
}

// dir/{file, sub/inner, sub/up -> .., abs -> /, rel -> sub/inner, loop -> loop}
class Openat2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CreateFileWithContents(dir_.Join("file"), "f"));
    ASSERT_THAT(mkdir(dir_.Join("sub").c_str(), 0755), SyscallSucceeds());
    ASSERT_TRUE(CreateFileWithContents(dir_.Join("sub/inner"), "i"));
    ASSERT_THAT(symlink("..", dir_.Join("sub/up").c_str()), SyscallSucceeds());
    ASSERT_THAT(symlink("/", dir_.Join("abs").c_str()), SyscallSucceeds());
    ASSERT_THAT(symlink("sub/inner", dir_.Join("rel").c_str()), SyscallSucceeds());
    dirfd_.reset(open(dir_.path().c_str(), O_PATH | O_DIRECTORY));
    ASSERT_TRUE(dirfd_.valid());
    subfd_.reset(open(dir_.Join("sub").c_str(), O_PATH | O_DIRECTORY));
    ASSERT_TRUE(subfd_.valid());
  }

  TempDir dir_;
  FileDescriptor dirfd_, subfd_;
};

TEST_F(Openat2Test, OpensLikeOpenat) {
  FileDescriptor fd(Openat2(dirfd_.get(), "file", {O_RDONLY | O_CLOEXEC, 0, 0}));
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  char c;
  EXPECT_THAT(read(fd.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  FileDescriptor created(Openat2(dirfd_.get(), "new", {O_RDWR | O_CREAT | O_EXCL, 0640, 0}));
  ASSERT_TRUE(created.valid()) << ErrnoString(errno);
  struct stat st;
  ASSERT_THAT(fstat(created.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the usual umask (022) takes nothing from 0640
  EXPECT_THAT(Openat2(dirfd_.get(), "missing", {O_RDONLY, 0, 0}), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(Openat2(dirfd_.get(), "", {O_RDONLY, 0, 0}), SyscallFailsWithErrno(ENOENT));
}

TEST_F(Openat2Test, StructSize) {
  OpenHow how = {O_RDONLY, 0, 0};
  EXPECT_THAT(Openat2(dirfd_.get(), "file", how, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", how, 23), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", how, 4097), SyscallFailsWithErrno(E2BIG));
  // A larger struct is fine if the extra bytes are zero.
  struct {
    OpenHow how;
    uint64_t extra;
  } big = {how, 0};
  FileDescriptor fd(static_cast<int>(syscall(SYS_openat2, dirfd_.get(), "file", &big, sizeof(big))));
  EXPECT_TRUE(fd.valid()) << ErrnoString(errno);
  big.extra = 1;
  EXPECT_THAT(syscall(SYS_openat2, dirfd_.get(), "file", &big, sizeof(big)),
              SyscallFailsWithErrno(E2BIG));
  EXPECT_THAT(syscall(SYS_openat2, dirfd_.get(), "file", nullptr, sizeof(OpenHow)),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(Openat2Test, StrictFlags) {
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {uint64_t{1} << 40, 0, 0}),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {0x4000000, 0, 0}), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_RDONLY, 0, 0x40}), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_RDONLY, 0, kResolveBeneath | kResolveInRoot}),
              SyscallFailsWithErrno(EINVAL));
  // A mode only goes with O_CREAT (or O_TMPFILE), and only permission bits.
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_RDONLY, 0644, 0}), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "x", {O_CREAT | O_RDWR, 010000, 0}),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Openat2(dirfd_.get(), "x", {O_CREAT | O_DIRECTORY | O_RDWR, 0, 0}),
              SyscallFailsWithErrno(EINVAL));
  // O_PATH takes few companions.
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_PATH | O_RDWR, 0, 0}), SyscallFailsWithErrno(EINVAL));
  FileDescriptor p(Openat2(dirfd_.get(), "file", {O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, 0}));
  EXPECT_TRUE(p.valid()) << ErrnoString(errno);
  // The checks come before the path is read.
  EXPECT_THAT(Openat2(dirfd_.get(), nullptr, {O_RDONLY, 0644, 0}), SyscallFailsWithErrno(EINVAL));
}

TEST_F(Openat2Test, ResolveCached) {
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_RDWR | O_TRUNC, 0, kResolveCached}),
              SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(Openat2(dirfd_.get(), "file", {O_RDWR | O_CREAT, 0600, kResolveCached}),
              SyscallFailsWithErrno(EAGAIN));
  // A cached walk may succeed, or ask for a retry without RESOLVE_CACHED.
  int fd = Openat2(dirfd_.get(), "file", {O_RDONLY, 0, kResolveCached});
  if (fd >= 0) {
    close(fd);
  } else {
    EXPECT_EQ(errno, EAGAIN);
  }
}

TEST_F(Openat2Test, NoSymlinks) {
  EXPECT_THAT(Openat2(dirfd_.get(), "rel", {O_RDONLY, 0, kResolveNoSymlinks}),
              SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(Openat2(dirfd_.get(), "sub/up/file", {O_RDONLY, 0, kResolveNoSymlinks}),
              SyscallFailsWithErrno(ELOOP));
  EXPECT_THAT(Openat2(dirfd_.get(), "rel", {O_RDWR | O_CREAT, 0600, kResolveNoSymlinks}),
              SyscallFailsWithErrno(ELOOP));
  // A final symlink that is not followed is no problem.
  FileDescriptor p(Openat2(dirfd_.get(), "rel", {O_PATH | O_NOFOLLOW, 0, kResolveNoSymlinks}));
  EXPECT_TRUE(p.valid()) << ErrnoString(errno);
  FileDescriptor f(Openat2(dirfd_.get(), "sub/inner", {O_RDONLY, 0, kResolveNoSymlinks}));
  EXPECT_TRUE(f.valid()) << ErrnoString(errno);
}

TEST_F(Openat2Test, Beneath) {
  FileDescriptor f(Openat2(subfd_.get(), "inner", {O_RDONLY, 0, kResolveBeneath}));
  EXPECT_TRUE(f.valid()) << ErrnoString(errno);
  // ".." may not step above the dirfd, even to come back; below it, it may.
  EXPECT_THAT(Openat2(subfd_.get(), "../sub/inner", {O_RDONLY, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  FileDescriptor h(Openat2(dirfd_.get(), "sub/../file", {O_RDONLY, 0, kResolveBeneath}));
  EXPECT_TRUE(h.valid()) << ErrnoString(errno);
  EXPECT_THAT(Openat2(subfd_.get(), "..", {O_PATH, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(Openat2(subfd_.get(), "up/file", {O_RDONLY, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(Openat2(dirfd_.get(), "abs", {O_PATH, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  std::string absolute = dir_.Join("file");
  EXPECT_THAT(Openat2(dirfd_.get(), absolute.c_str(), {O_RDONLY, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  // An absolute path never looks at the dirfd.
  EXPECT_THAT(Openat2(-1, absolute.c_str(), {O_RDONLY, 0, kResolveBeneath}),
              SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(Openat2(-1, "file", {O_RDONLY, 0, kResolveBeneath}), SyscallFailsWithErrno(EBADF));
  // A relative symlink that stays inside is followed.
  FileDescriptor r(Openat2(dirfd_.get(), "rel", {O_RDONLY, 0, kResolveBeneath}));
  EXPECT_TRUE(r.valid()) << ErrnoString(errno);
}

TEST_F(Openat2Test, InRoot) {
  // "/" and ".." stop at the dirfd, which acts as the root.
  FileDescriptor a(Openat2(subfd_.get(), "/inner", {O_RDONLY, 0, kResolveInRoot}));
  ASSERT_TRUE(a.valid()) << ErrnoString(errno);
  EXPECT_EQ(InodeOf(a.get()), InodeOf(dir_.Join("sub/inner")));
  FileDescriptor b(Openat2(subfd_.get(), "../../inner", {O_RDONLY, 0, kResolveInRoot}));
  ASSERT_TRUE(b.valid()) << ErrnoString(errno);
  EXPECT_EQ(InodeOf(b.get()), InodeOf(dir_.Join("sub/inner")));
  FileDescriptor c(Openat2(subfd_.get(), "up/inner", {O_RDONLY, 0, kResolveInRoot}));
  ASSERT_TRUE(c.valid()) << ErrnoString(errno);
  EXPECT_EQ(InodeOf(c.get()), InodeOf(dir_.Join("sub/inner")));
  // An absolute symlink lands in the dirfd too.
  FileDescriptor d(Openat2(dirfd_.get(), "abs/sub/inner", {O_RDONLY, 0, kResolveInRoot}));
  ASSERT_TRUE(d.valid()) << ErrnoString(errno);
  EXPECT_EQ(InodeOf(d.get()), InodeOf(dir_.Join("sub/inner")));
  // Creating through it stays inside as well.
  FileDescriptor e(Openat2(subfd_.get(), "/made", {O_RDWR | O_CREAT, 0600, kResolveInRoot}));
  ASSERT_TRUE(e.valid()) << ErrnoString(errno);
  EXPECT_EQ(access(dir_.Join("sub/made").c_str(), F_OK), 0);
}

TEST_F(Openat2Test, NoXdev) {
  // /dev/shm (a mount of its own, natively and in the sandbox) is on another mount than /tmp.
  FileDescriptor dev(open("/dev", O_PATH | O_DIRECTORY));
  ASSERT_TRUE(dev.valid());
  EXPECT_THAT(Openat2(dev.get(), "shm", {O_PATH, 0, kResolveNoXdev}), SyscallFailsWithErrno(EXDEV));
  FileDescriptor shm(open("/dev/shm", O_PATH | O_DIRECTORY));
  ASSERT_TRUE(shm.valid());
  EXPECT_THAT(Openat2(shm.get(), "..", {O_PATH, 0, kResolveNoXdev}), SyscallFailsWithErrno(EXDEV));
  // Within one mount all is well, and an absolute path may start at the root's mount.
  FileDescriptor f(Openat2(dirfd_.get(), "sub/up/rel", {O_RDONLY, 0, kResolveNoXdev}));
  EXPECT_TRUE(f.valid()) << ErrnoString(errno);
  FileDescriptor root(Openat2(shm.get(), "/", {O_PATH, 0, kResolveNoXdev}));
  EXPECT_TRUE(root.valid()) << ErrnoString(errno);
  // An absolute symlink followed from another mount jumps across.
  std::string link = "/dev/shm/moat_open_test_link." + std::to_string(getpid());
  ASSERT_THAT(symlink("/", link.c_str()), SyscallSucceeds());
  EXPECT_THAT(Openat2(shm.get(), link.c_str() + strlen("/dev/shm/"), {O_PATH, 0, kResolveNoXdev}),
              SyscallFailsWithErrno(EXDEV));
  unlink(link.c_str());
}

TEST_F(Openat2Test, NoMagicLinks) {
  if (access("/proc/self/fd", F_OK) != 0) GTEST_SKIP() << "no /proc/self/fd here";
  FileDescriptor fd(open(dir_.Join("file").c_str(), O_RDONLY));
  std::string magic = "/proc/self/fd/" + std::to_string(fd.get());
  EXPECT_THAT(Openat2(AT_FDCWD, magic.c_str(), {O_RDONLY, 0, kResolveNoMagiclinks}),
              SyscallFailsWithErrno(ELOOP));
  FileDescriptor ok(Openat2(AT_FDCWD, magic.c_str(), {O_RDONLY, 0, 0}));
  EXPECT_TRUE(ok.valid()) << ErrnoString(errno);
}

// ---- fallocate and sync_file_range, on a tmpfs (/dev/shm) both natively and sandboxed ----

class FallocateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/moat_fallocate_test.XXXXXX";
    fd_.reset(mkstemp(tmpl));
    ASSERT_TRUE(fd_.valid()) << ErrnoString(errno);
    path_ = tmpl;
  }
  void TearDown() override {
    if (!path_.empty()) unlink(path_.c_str());
  }
  int64_t Size() {
    struct stat st = {};
    EXPECT_THAT(fstat(fd_.get(), &st), SyscallSucceeds());
    return st.st_size;
  }

  FileDescriptor fd_;
  std::string path_;
};

TEST_F(FallocateTest, AllocateGrowsTheFile) {
  ASSERT_THAT(fallocate(fd_.get(), 0, 0, 8192), SyscallSucceeds());
  EXPECT_EQ(Size(), 8192);
  struct stat st;
  ASSERT_THAT(fstat(fd_.get(), &st), SyscallSucceeds());
  EXPECT_GE(st.st_blocks, 16);
  // Inside the file nothing changes size.
  ASSERT_THAT(fallocate(fd_.get(), 0, 100, 100), SyscallSucceeds());
  EXPECT_EQ(Size(), 8192);
  ASSERT_THAT(fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, 0, 65536), SyscallSucceeds());
  EXPECT_EQ(Size(), 8192);
  char buf[16];
  EXPECT_THAT(pread(fd_.get(), buf, sizeof(buf), 8000), SyscallSucceedsWithValue(16));
  EXPECT_EQ(std::string(buf, 16), std::string(16, '\0'));
}

TEST_F(FallocateTest, PunchHole) {
  ASSERT_THAT(pwrite(fd_.get(), "abcdefgh", 8, 0), SyscallSucceedsWithValue(8));
  ASSERT_THAT(fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3),
              SyscallSucceeds());
  char buf[8];
  ASSERT_THAT(pread(fd_.get(), buf, 8, 0), SyscallSucceedsWithValue(8));
  EXPECT_EQ(std::string(buf, 8), std::string("ab\0\0\0fgh", 8));
  EXPECT_EQ(Size(), 8);
  // Punching needs KEEP_SIZE.
  EXPECT_THAT(fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE, 0, 1), SyscallFailsWithErrno(EOPNOTSUPP));
}

TEST_F(FallocateTest, ModesTmpfsLacks) {
  // tmpfs allocates and punches holes, nothing else.
  EXPECT_THAT(fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE, 0, 1), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(fallocate(fd_.get(), FALLOC_FL_COLLAPSE_RANGE, 0, 4096),
              SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(fallocate(fd_.get(), FALLOC_FL_INSERT_RANGE, 0, 4096),
              SyscallFailsWithErrno(EOPNOTSUPP));
  // Unknown bits, and combinations that make no sense.
  EXPECT_THAT(fallocate(fd_.get(), 0x100, 0, 1), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                        0, 1),
              SyscallFailsWithErrno(EOPNOTSUPP));
}

TEST_F(FallocateTest, Errors) {
  EXPECT_THAT(fallocate(fd_.get(), 0, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fallocate(fd_.get(), 0, -1, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fallocate(fd_.get(), 0, 0, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fallocate(fd_.get(), 0, LLONG_MAX - 10, 100), SyscallFailsWithErrno(EFBIG));
  EXPECT_THAT(fallocate(-1, 0, 0, 1), SyscallFailsWithErrno(EBADF));
  FileDescriptor ro(open(path_.c_str(), O_RDONLY));
  EXPECT_THAT(fallocate(ro.get(), 0, 0, 1), SyscallFailsWithErrno(EBADF));
  FileDescriptor path(open(path_.c_str(), O_PATH));
  EXPECT_THAT(fallocate(path.get(), 0, 0, 1), SyscallFailsWithErrno(EBADF));
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  EXPECT_THAT(fallocate(pipefd[1], 0, 0, 1), SyscallFailsWithErrno(ESPIPE));
  close(pipefd[0]);
  close(pipefd[1]);
  FileDescriptor null(open("/dev/null", O_WRONLY));
  EXPECT_THAT(fallocate(null.get(), 0, 0, 1), SyscallFailsWithErrno(ENODEV));
}

TEST_F(FallocateTest, RlimitFsize) {
  std::string path = path_;
  int fd = fd_.get();
  EXPECT_CHILD_SUCCEEDS([&] {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {4096, 4096};
    CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_FSIZE, &rl));
    CHILD_CHECK_SUCCESS(fallocate(fd, 0, 0, 4096));
    CHILD_CHECK_ERRNO(fallocate(fd, 0, 0, 4097), EFBIG);
    CHILD_CHECK_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, 4000, 100), EFBIG);
  });
}

TEST_F(FallocateTest, SyncFileRange) {
  EXPECT_THAT(sync_file_range(fd_.get(), 0, 0, 0), SyscallSucceeds());
  EXPECT_THAT(sync_file_range(fd_.get(), 0, 100,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER),
              SyscallSucceeds());
  EXPECT_THAT(sync_file_range(fd_.get(), 0, 0, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sync_file_range(fd_.get(), -1, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sync_file_range(fd_.get(), 0, -1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sync_file_range(fd_.get(), LLONG_MAX, 10, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sync_file_range(-1, 0, 0, 8), SyscallFailsWithErrno(EBADF));
  FileDescriptor ro(open(path_.c_str(), O_RDONLY));
  EXPECT_THAT(sync_file_range(ro.get(), 0, 0, 0), SyscallSucceeds());
  FileDescriptor dir(open("/dev/shm", O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(sync_file_range(dir.get(), 0, 0, 0), SyscallSucceeds());
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  EXPECT_THAT(sync_file_range(pipefd[0], 0, 0, 0), SyscallFailsWithErrno(ESPIPE));
  close(pipefd[0]);
  close(pipefd[1]);
  FileDescriptor null(open("/dev/null", O_WRONLY));
  EXPECT_THAT(sync_file_range(null.get(), 0, 0, 0), SyscallFailsWithErrno(ESPIPE));
}

}  // namespace
}  // namespace moat::testing
