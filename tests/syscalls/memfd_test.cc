// Conformance tests for memfd_create(2) and file seals (F_ADD_SEALS, F_GET_SEALS).

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::AnyOf;

// Newer than some C library headers.
constexpr unsigned kMfdNoexecSeal = 0x0008U;
constexpr unsigned kMfdExec = 0x0010U;
constexpr int kSealExec = 0x0020;

int Memfd(const char* name, unsigned flags) {
  int fd = memfd_create(name, flags);
  if (fd < 0) ADD_FAILURE() << "memfd_create: " << ErrnoString(errno);
  return fd;
}

TEST(MemfdTest, IsAnEmptyReadWriteFile) {
  FileDescriptor fd(Memfd("test", 0));
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_ACCMODE, O_RDWR);
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(fd.get(), "hello", 5), SyscallSucceedsWithValue(5));
  char buf[8] = {};
  ASSERT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(5));
  EXPECT_STREQ(buf, "hello");
  ASSERT_THAT(ftruncate(fd.get(), 8192), SyscallSucceeds());
  struct statfs sfs;
  ASSERT_THAT(fstatfs(fd.get(), &sfs), SyscallSucceeds());
  EXPECT_EQ(sfs.f_type, static_cast<decltype(sfs.f_type)>(TMPFS_MAGIC));
}

TEST(MemfdTest, Flags) {
  FileDescriptor fd(Memfd("cloexec", MFD_CLOEXEC));
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(memfd_create("bad", 0x1000), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(memfd_create("bad", kMfdExec | kMfdNoexecSeal), SyscallFailsWithErrno(EINVAL));
  // Without MFD_HUGETLB no page size may be given.
  EXPECT_THAT(memfd_create("bad", 21U << 26), SyscallFailsWithErrno(EINVAL));
  // Huge pages: Linux with hugetlbfs makes the file, the sandbox (like Linux without
  // hugetlbfs) refuses.
  int huge = memfd_create("huge", MFD_HUGETLB);
  if (huge >= 0) {
    close(huge);
  } else {
    EXPECT_THAT(errno, AnyOf(ENOSYS, EINVAL, ENODEV)) << ErrnoString(errno);
  }
}

TEST(MemfdTest, NameLimits) {
  std::string name(249, 'n');
  FileDescriptor fd(Memfd(name.c_str(), 0));
  EXPECT_TRUE(fd.valid());
  name += 'n';
  EXPECT_THAT(memfd_create(name.c_str(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(memfd_create(reinterpret_cast<const char*>(8), 0), SyscallFailsWithErrno(EFAULT));
  FileDescriptor empty(Memfd("", 0));
  EXPECT_TRUE(empty.valid());
}

TEST(MemfdTest, ProcSelfFdName) {
  if (access("/proc/self/fd", F_OK) != 0) GTEST_SKIP() << "no /proc/self/fd here";
  FileDescriptor fd(Memfd("my name", 0));
  std::string link = "/proc/self/fd/" + std::to_string(fd.get());
  char buf[PATH_MAX] = {};
  ASSERT_THAT(readlink(link.c_str(), buf, sizeof(buf) - 1), SyscallSucceeds());
  EXPECT_STREQ(buf, "/memfd:my name (deleted)");
}

TEST(MemfdTest, SealsNeedAllowSealing) {
  FileDescriptor fd(Memfd("sealed", 0));
  EXPECT_THAT(fcntl(fd.get(), F_GET_SEALS), SyscallSucceedsWithValue(F_SEAL_SEAL));
  EXPECT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallFailsWithErrno(EPERM));
  FileDescriptor ok(Memfd("sealable", MFD_ALLOW_SEALING));
  EXPECT_THAT(fcntl(ok.get(), F_GET_SEALS), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, 0x1000), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, F_SEAL_SHRINK), SyscallSucceeds());
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, F_SEAL_GROW), SyscallSucceeds());
  EXPECT_THAT(fcntl(ok.get(), F_GET_SEALS), SyscallSucceedsWithValue(F_SEAL_SHRINK | F_SEAL_GROW));
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, F_SEAL_SEAL), SyscallSucceeds());
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fcntl(ok.get(), F_ADD_SEALS, 0), SyscallFailsWithErrno(EPERM));
}

TEST(MemfdTest, SealsOfOtherFiles) {
  TempDir dir;
  std::string path = dir.Join("f");
  ASSERT_TRUE(CreateFileWithContents(path, "x"));
  FileDescriptor fd(open(path.c_str(), O_RDWR));
  // /tmp is not a tmpfs natively (and an overlay in the sandbox): no seals.
  EXPECT_THAT(fcntl(fd.get(), F_GET_SEALS), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallFailsWithErrno(EINVAL));
  // A tmpfs file opened by name is sealed against seals.
  char tmpl[] = "/dev/shm/moat_memfd_test.XXXXXX";
  FileDescriptor shm(mkstemp(tmpl));
  ASSERT_TRUE(shm.valid());
  unlink(tmpl);
  EXPECT_THAT(fcntl(shm.get(), F_GET_SEALS), SyscallSucceedsWithValue(F_SEAL_SEAL));
  EXPECT_THAT(fcntl(shm.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallFailsWithErrno(EPERM));
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  EXPECT_THAT(fcntl(pipefd[0], F_GET_SEALS), SyscallFailsWithErrno(EINVAL));
  close(pipefd[0]);
  close(pipefd[1]);
}

TEST(MemfdTest, AddSealsNeedsAWritableDescription) {
  if (access("/proc/self/fd", F_OK) != 0) GTEST_SKIP() << "no /proc/self/fd to reopen with";
  FileDescriptor fd(Memfd("ro", MFD_ALLOW_SEALING));
  std::string link = "/proc/self/fd/" + std::to_string(fd.get());
  FileDescriptor ro(open(link.c_str(), O_RDONLY));
  ASSERT_TRUE(ro.valid());
  EXPECT_THAT(fcntl(ro.get(), F_ADD_SEALS, F_SEAL_SEAL), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fcntl(ro.get(), F_GET_SEALS), SyscallSucceedsWithValue(0));
}

TEST(MemfdTest, SealWrite) {
  FileDescriptor fd(Memfd("w", MFD_ALLOW_SEALING));
  ASSERT_THAT(write(fd.get(), "abcd", 4), SyscallSucceedsWithValue(4));
  ASSERT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallSucceeds());
  EXPECT_THAT(write(fd.get(), "x", 1), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(pwrite(fd.get(), "x", 1, 0), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1),
              SyscallFailsWithErrno(EPERM));
  // The size may still change, and reading works.
  EXPECT_THAT(ftruncate(fd.get(), 2), SyscallSucceeds());
  char buf[4];
  EXPECT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
  // No writable shared mapping; private and read-only ones are fine.
  EXPECT_EQ(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  void* p = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << ErrnoString(errno);
  EXPECT_EQ(static_cast<char*>(p)[0], 'a');
  munmap(p, 4096);
  p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << ErrnoString(errno);
  munmap(p, 4096);
}

TEST(MemfdTest, SealWriteIsBusyWhileMappedWritable) {
  FileDescriptor fd(Memfd("busy", MFD_ALLOW_SEALING));
  ASSERT_THAT(ftruncate(fd.get(), 4096), SyscallSucceeds());
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << ErrnoString(errno);
  static_cast<char*>(p)[0] = 'm';
  EXPECT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallFailsWithErrno(EBUSY));
  EXPECT_THAT(fcntl(fd.get(), F_GET_SEALS), SyscallSucceedsWithValue(0));
  // Data written through the mapping is the file's.
  char c;
  EXPECT_THAT(pread(fd.get(), &c, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'm');
  ASSERT_THAT(munmap(p, 4096), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE), SyscallSucceeds());
}

TEST(MemfdTest, SealFutureWrite) {
  FileDescriptor fd(Memfd("future", MFD_ALLOW_SEALING));
  ASSERT_THAT(ftruncate(fd.get(), 4096), SyscallSucceeds());
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << ErrnoString(errno);
  // Existing mappings do not stop a future-write seal, and stay writable.
  ASSERT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE), SyscallSucceeds());
  static_cast<char*>(p)[0] = 'z';
  EXPECT_THAT(write(fd.get(), "x", 1), SyscallFailsWithErrno(EPERM));
  EXPECT_EQ(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  munmap(p, 4096);
}

TEST(MemfdTest, SealShrinkAndGrow) {
  FileDescriptor fd(Memfd("size", MFD_ALLOW_SEALING));
  ASSERT_THAT(ftruncate(fd.get(), 100), SyscallSucceeds());
  ASSERT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK), SyscallSucceeds());
  EXPECT_THAT(ftruncate(fd.get(), 50), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(ftruncate(fd.get(), 100), SyscallSucceeds());
  EXPECT_THAT(ftruncate(fd.get(), 200), SyscallSucceeds());
  ASSERT_THAT(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_GROW), SyscallSucceeds());
  EXPECT_THAT(ftruncate(fd.get(), 300), SyscallFailsWithErrno(EPERM));
  // Writes inside the file are fine; past its end they are not.
  EXPECT_THAT(pwrite(fd.get(), "ab", 2, 10), SyscallSucceedsWithValue(2));
  EXPECT_THAT(pwrite(fd.get(), "ab", 2, 199), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(pwrite(fd.get(), "ab", 2, 200), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fallocate(fd.get(), 0, 0, 4096), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 4096), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fallocate(fd.get(), 0, 0, 100), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 200);
}

TEST(MemfdTest, NoexecSeal) {
  FileDescriptor fd(memfd_create("noexec", kMfdNoexecSeal));
  if (!fd.valid() && errno == EINVAL) GTEST_SKIP() << "MFD_NOEXEC_SEAL needs Linux 6.3";
  ASSERT_TRUE(fd.valid()) << ErrnoString(errno);
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  // MFD_NOEXEC_SEAL implies MFD_ALLOW_SEALING.
  EXPECT_THAT(fcntl(fd.get(), F_GET_SEALS), SyscallSucceedsWithValue(kSealExec));
  EXPECT_THAT(fchmod(fd.get(), 0777), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(fchmod(fd.get(), 0600), SyscallSucceeds());
  // On an executable memfd, F_SEAL_EXEC brings the write seals along.
  FileDescriptor x(Memfd("exec", MFD_ALLOW_SEALING));
  ASSERT_THAT(fcntl(x.get(), F_ADD_SEALS, kSealExec), SyscallSucceeds());
  EXPECT_THAT(fcntl(x.get(), F_GET_SEALS),
              SyscallSucceedsWithValue(kSealExec | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
                                       F_SEAL_FUTURE_WRITE));
  EXPECT_THAT(write(x.get(), "x", 1), SyscallFailsWithErrno(EPERM));
}

}  // namespace
}  // namespace moat::testing
