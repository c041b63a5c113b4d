// Conformance tests for bad user pointers: every system call that copies
// memory in or out must fail with EFAULT instead of crashing, and must not
// leave a half-done side effect where Linux does not.
//
// The raw system call is used throughout: glibc wrappers may touch the
// memory themselves (and the vDSO versions of the clock calls would fault in
// user space instead of returning EFAULT).

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

// An address that is never mapped: the first page is reserved.
void* const kBad = reinterpret_cast<void*>(1);
// A kernel address, which user pointers must never reach.
void* const kKernel = reinterpret_cast<void*>(0xffffffffff600000ull - 0x1000000);

// Two pages where the second has been unmapped, for copies that cross from
// good memory into bad.
class HalfMappedBuffer {
 public:
  HalfMappedBuffer() {
    page_ = sysconf(_SC_PAGESIZE);
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ADD_FAILURE() << "mmap: " << ErrnoString(errno);
      return;
    }
    base_ = static_cast<char*>(p);
    if (munmap(base_ + page_, page_) != 0) ADD_FAILURE() << "munmap: " << ErrnoString(errno);
  }
  ~HalfMappedBuffer() {
    if (base_ != nullptr) munmap(base_, page_);
  }
  // Returns a pointer `good` bytes before the start of the unmapped page.
  char* EndMinus(size_t good) const { return base_ + page_ - good; }

 private:
  char* base_ = nullptr;
  long page_ = 0;
};

FileDescriptor OpenTempFile(const TempDir& dir, const std::string& contents) {
  const std::string path = dir.Join("file");
  EXPECT_TRUE(CreateFileWithContents(path, contents));
  return FileDescriptor(open(path.c_str(), O_RDWR));
}

TEST(EfaultTest, ReadWriteBuffers) {
  TempDir dir;
  FileDescriptor fd = OpenTempFile(dir, "0123456789");
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(syscall(SYS_read, fd.get(), kBad, 5), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_pread64, fd.get(), kBad, 5, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_write, fd.get(), kBad, 5), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_pwrite64, fd.get(), kBad, 5, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_read, fd.get(), kKernel, 5), SyscallFailsWithErrno(EFAULT));
  // None of the failed calls moved the offset or changed the file.
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
  EXPECT_EQ(ReadAll(fd.get()), "0123456789");
}

TEST(EfaultTest, PipeBuffers) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  EXPECT_THAT(syscall(SYS_write, w.get(), kBad, 5), SyscallFailsWithErrno(EFAULT));
  ASSERT_THAT(write(w.get(), "abc", 3), SyscallSucceedsWithValue(3));
  EXPECT_THAT(syscall(SYS_read, r.get(), kBad, 3), SyscallFailsWithErrno(EFAULT));
  // The data is still there for a good read.
  char buf[4] = {};
  EXPECT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
}

TEST(EfaultTest, PartialCopiesReturnShortCounts) {
  TempDir dir;
  FileDescriptor fd = OpenTempFile(dir, "");
  ASSERT_TRUE(fd.valid());
  HalfMappedBuffer buf;
  memset(buf.EndMinus(10), 'w', 10);
  // A write whose buffer runs into unmapped memory writes what it could.
  EXPECT_THAT(syscall(SYS_write, fd.get(), buf.EndMinus(10), 20), SyscallSucceedsWithValue(10));
  ASSERT_THAT(pwrite(fd.get(), "0123456789abcdefghij", 20, 0), SyscallSucceedsWithValue(20));
  // Likewise a read stops at the fault.
  EXPECT_THAT(syscall(SYS_pread64, fd.get(), buf.EndMinus(10), 20, 0),
              SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf.EndMinus(10), 10), "0123456789");
}

TEST(EfaultTest, Iovecs) {
  TempDir dir;
  FileDescriptor fd = OpenTempFile(dir, "data");
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(syscall(SYS_readv, fd.get(), kBad, 1), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_writev, fd.get(), kBad, 1), SyscallFailsWithErrno(EFAULT));
  struct iovec bad_base = {kBad, 4};
  EXPECT_THAT(syscall(SYS_readv, fd.get(), &bad_base, 1), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_writev, fd.get(), &bad_base, 1), SyscallFailsWithErrno(EFAULT));
}

TEST(EfaultTest, PathArguments) {
  struct stat st;
  EXPECT_THAT(syscall(SYS_open, kBad, O_RDONLY), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_openat, AT_FDCWD, kBad, O_RDONLY), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_stat, kBad, &st), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_lstat, kBad, &st), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_newfstatat, AT_FDCWD, kBad, &st, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_access, kBad, F_OK), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_mkdir, kBad, 0755), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rmdir, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_unlink, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_chdir, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rename, kBad, "/tmp/x"), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_symlink, kBad, "/tmp/x"), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_readlink, kBad, &st, sizeof(st)), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_execve, kBad, nullptr, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_open, kKernel, O_RDONLY), SyscallFailsWithErrno(EFAULT));
}

TEST(EfaultTest, PathEndingInUnmappedMemory) {
  // A path whose bytes run into an unmapped page without a NUL.
  HalfMappedBuffer buf;
  memset(buf.EndMinus(8), 'a', 8);
  EXPECT_THAT(syscall(SYS_open, buf.EndMinus(8), O_RDONLY), SyscallFailsWithErrno(EFAULT));
  // The same bytes with a NUL inside the good page are a normal path.
  buf.EndMinus(1)[0] = '\0';
  EXPECT_THAT(syscall(SYS_open, buf.EndMinus(8), O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

TEST(EfaultTest, OutputStructures) {
  TempDir dir;
  FileDescriptor fd = OpenTempFile(dir, "x");
  EXPECT_THAT(syscall(SYS_fstat, fd.get(), kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_stat, dir.path().c_str(), kBad), SyscallFailsWithErrno(EFAULT));
  const std::string link = dir.Join("link");
  ASSERT_THAT(symlink("target", link.c_str()), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_readlink, link.c_str(), kBad, 10), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getcwd, kBad, 4096), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_uname, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_uname, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_sysinfo, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_times, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getrlimit, RLIMIT_NOFILE, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getrusage, RUSAGE_SELF, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_sched_getaffinity, 0, 128, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getrandom, kBad, 8, 0), SyscallFailsWithErrno(EFAULT));
  FileDescriptor dirfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_THAT(syscall(SYS_getdents64, dirfd.get(), kBad, 4096), SyscallFailsWithErrno(EFAULT));
}

TEST(EfaultTest, ClocksAndSleeps) {
  // The raw system calls: glibc would use the vDSO and fault in user space.
  EXPECT_THAT(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_clock_gettime, CLOCK_REALTIME, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_clock_getres, CLOCK_MONOTONIC, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_gettimeofday, kBad, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_nanosleep, kBad, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, kBad, nullptr),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_time, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_setitimer, ITIMER_REAL, kBad, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getitimer, ITIMER_REAL, kBad), SyscallFailsWithErrno(EFAULT));
}

TEST(EfaultTest, Signals) {
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, kBad, nullptr, 8), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, nullptr, kBad, 8), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, kBad, nullptr, 8),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, kBad, 8),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rt_sigpending, kBad, 8), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_sigaltstack, kBad, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, kBad), SyscallFailsWithErrno(EFAULT));
  // The failed sigaction left the disposition alone.
  struct sigaction sa = {};
  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &sa), SyscallSucceeds());
  EXPECT_EQ(sa.sa_handler, SIG_DFL);
}

TEST(EfaultTest, PipeDoesNotLeakDescriptors) {
  FileDescriptor probe(dup(0));
  const int next_fd = probe.get();
  probe.reset();
  EXPECT_THAT(syscall(SYS_pipe, kBad), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_pipe2, kBad, O_CLOEXEC), SyscallFailsWithErrno(EFAULT));
  // The descriptors the kernel created before failing were released.
  probe.reset(dup(0));
  EXPECT_EQ(probe.get(), next_fd);
}

TEST(EfaultTest, PollArray) {
  EXPECT_THAT(syscall(SYS_poll, kBad, 1, 0), SyscallFailsWithErrno(EFAULT));
  // No descriptors means the pointer is never read.
  EXPECT_THAT(syscall(SYS_poll, kBad, 0, 0), SyscallSucceedsWithValue(0));
}

TEST(EfaultTest, Wait4StatusStillReapsChild) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_wait4, pid, kBad, 0, nullptr), SyscallFailsWithErrno(EFAULT));
  // Linux reaps the child before it fails to store the status.
  EXPECT_THAT(waitpid(pid, nullptr, 0), SyscallFailsWithErrno(ECHILD));
}

TEST(EfaultTest, ZeroLengthBuffersAreNotAccessed) {
  TempDir dir;
  FileDescriptor fd = OpenTempFile(dir, "abc");
  EXPECT_THAT(syscall(SYS_read, fd.get(), kBad, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(syscall(SYS_write, fd.get(), kBad, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(syscall(SYS_getrandom, kBad, 0, 0), SyscallSucceedsWithValue(0));
}

}  // namespace
}  // namespace moat::testing
