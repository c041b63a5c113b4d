// File mappings: mmap of regular files (shared and private), msync, and SIGBUS past the end of
// the file. Files live in a fresh directory under /tmp (a tmpfs layer in the sandbox), plus
// /bin/sh (a host file the sandbox reaches through the gofer).
#include <setjmp.h>
#include <sys/mman.h>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

class MmapTest : public ::testing::Test {
 protected:
  // A file of `size` bytes, each byte its offset modulo 251.
  int MakeFile(const std::string& name, size_t size, int flags = O_RDWR) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; i++) data[i] = static_cast<char>(i % 251);
    EXPECT_TRUE(CreateFileWithContents(dir_.Join(name), data));
    int fd = open(dir_.Join(name).c_str(), flags);
    EXPECT_GE(fd, 0) << ErrnoString(errno);
    return fd;
  }
  TempDir dir_;
};

TEST_F(MmapTest, SharedMappingIsTheFile) {
  FileDescriptor fd(MakeFile("f", 2 * kPage));
  void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << ErrnoString(errno);
  auto* b = static_cast<uint8_t*>(p);
  EXPECT_EQ(b[kPage + 3], (kPage + 3) % 251);
  // A store through the mapping is what read returns, and a write is what the mapping shows.
  b[10] = 'M';
  char c;
  ASSERT_THAT(pread(fd.get(), &c, 1, 10), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'M');
  ASSERT_THAT(pwrite(fd.get(), "W", 1, kPage), SyscallSucceedsWithValue(1));
  EXPECT_EQ(b[kPage], 'W');
  EXPECT_THAT(msync(p, 2 * kPage, MS_SYNC), SyscallSucceeds());
  EXPECT_THAT(msync(p, kPage, MS_ASYNC), SyscallSucceeds());
  EXPECT_THAT(msync(p, kPage, MS_INVALIDATE), SyscallSucceeds());
  ASSERT_THAT(munmap(p, 2 * kPage), SyscallSucceeds());
  // Stores made through a mapping outlive it.
  ASSERT_THAT(pread(fd.get(), &c, 1, 10), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'M');
}

TEST_F(MmapTest, SharedMappingAcrossFork) {
  FileDescriptor fd(MakeFile("f", kPage));
  auto* b = static_cast<volatile uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  ASSERT_NE(b, MAP_FAILED);
  EXPECT_CHILD_SUCCEEDS([&] { b[0] = 'c'; });
  EXPECT_EQ(b[0], 'c');
  munmap(const_cast<uint8_t*>(b), kPage);
}

TEST_F(MmapTest, PrivateMappingKeepsItsWrites) {
  FileDescriptor fd(MakeFile("f", kPage, O_RDONLY));
  auto* b = static_cast<uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(), 0));
  ASSERT_NE(b, MAP_FAILED) << ErrnoString(errno);
  b[0] = 'p';
  char c;
  ASSERT_THAT(pread(fd.get(), &c, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 0);
  munmap(b, kPage);
}

TEST_F(MmapTest, OffsetsAndTheProgramItself) {
  FileDescriptor fd(MakeFile("f", 3 * kPage, O_RDONLY));
  auto* b = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd.get(), 2 * kPage));
  ASSERT_NE(b, MAP_FAILED) << ErrnoString(errno);
  EXPECT_EQ(b[1], (2 * kPage + 1) % 251);
  munmap(b, kPage);
  // A program of the root filesystem (a host file, reached through the gofer in the sandbox):
  // its first bytes are an ELF header.
  FileDescriptor self(open("/bin/sh", O_RDONLY));
  ASSERT_GE(self.get(), 0) << ErrnoString(errno);
  auto* elf = static_cast<char*>(mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, self.get(), 0));
  ASSERT_NE(elf, MAP_FAILED) << ErrnoString(errno);
  EXPECT_EQ(std::string(elf, 4), "\x7f" "ELF");
  munmap(elf, kPage);
}

TEST_F(MmapTest, AccessModeIsChecked) {
  FileDescriptor ro(MakeFile("ro", kPage, O_RDONLY));
  FileDescriptor wo(open(dir_.Join("ro").c_str(), O_WRONLY));
  ASSERT_GE(wo.get(), 0);
  FileDescriptor path(open(dir_.Join("ro").c_str(), O_PATH));
  ASSERT_GE(path.get(), 0);
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, wo.get(), 0),
              SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, ro.get(), 0),
              SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, path.get(), 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, 999, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(mmap(nullptr, 0, PROT_READ, MAP_SHARED, ro.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, ro.get(), 1),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, 0, ro.get(), 0), SyscallFailsWithErrno(EINVAL));
  // A read-only shared mapping of a read-only file cannot be made writable later.
  void* p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, ro.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_THAT(mprotect(p, kPage, PROT_READ | PROT_WRITE), SyscallFailsWithErrno(EACCES));
  munmap(p, kPage);
  // Files without a mapping: directories and pipes.
  FileDescriptor dir(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, dir.get(), 0),
              SyscallFailsWithErrno(ENODEV));
  int pipefd[2];
  ASSERT_THAT(pipe(pipefd), SyscallSucceeds());
  FileDescriptor r(pipefd[0]), w(pipefd[1]);
  EXPECT_THAT(mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, r.get(), 0),
              SyscallFailsWithErrno(ENODEV));
}

TEST_F(MmapTest, MsyncArguments) {
  void* p = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_THAT(msync(p, kPage, MS_SYNC | MS_ASYNC), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(msync(static_cast<char*>(p) + 1, kPage, MS_SYNC), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(msync(p, kPage, 0x100), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(munmap(static_cast<char*>(p) + kPage, kPage), SyscallSucceeds());
  EXPECT_THAT(msync(p, 2 * kPage, MS_SYNC), SyscallFailsWithErrno(ENOMEM));
  munmap(p, kPage);
}

sigjmp_buf g_jump;
volatile siginfo_t g_info;

void OnSigbus(int, siginfo_t* info, void*) {
  g_info.si_signo = info->si_signo;
  g_info.si_code = info->si_code;
  g_info.si_addr = info->si_addr;
  siglongjmp(g_jump, 1);
}

// Touches `addr`; returns whether SIGBUS came instead, with its siginfo in g_info.
bool TouchFaults(volatile uint8_t* addr) {
  ScopedSigaction sa(SIGBUS, MakeSigactionInfo(OnSigbus));
  if (sigsetjmp(g_jump, 1) != 0) return true;
  (void)*addr;
  return false;
}

TEST_F(MmapTest, SigbusPastTheEndOfTheFile) {
  FileDescriptor fd(MakeFile("short", 100));
  auto* b = static_cast<volatile uint8_t*>(
      mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  ASSERT_NE(b, MAP_FAILED);
  // The rest of the last page is zeros; the pages after it do not exist.
  EXPECT_FALSE(TouchFaults(b + 200));
  EXPECT_EQ(b[200], 0);
  ASSERT_TRUE(TouchFaults(b + kPage + 5));
  EXPECT_EQ(g_info.si_signo, SIGBUS);
  EXPECT_EQ(g_info.si_code, BUS_ADRERR);
  EXPECT_EQ(g_info.si_addr, const_cast<uint8_t*>(b + kPage + 5));
  // Growing the file makes the page exist; shrinking it takes pages away again.
  ASSERT_THAT(ftruncate(fd.get(), 2 * kPage), SyscallSucceeds());
  EXPECT_FALSE(TouchFaults(b + kPage + 5));
  ASSERT_THAT(ftruncate(fd.get(), 10), SyscallSucceeds());
  EXPECT_TRUE(TouchFaults(b + kPage));
  munmap(const_cast<uint8_t*>(b), 3 * kPage);
}

// An unhandled SIGBUS kills the process, as any synchronous fault does.
TEST_F(MmapTest, UnhandledSigbusKills) {
  FileDescriptor fd(MakeFile("empty", 0));
  auto* b = static_cast<volatile uint8_t*>(
      mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd.get(), 0));
  ASSERT_NE(b, MAP_FAILED);
  pid_t pid = ForkChild([&] { (void)b[0]; });
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGBUS));
  munmap(const_cast<uint8_t*>(b), kPage);
}

TEST_F(MmapTest, DevZeroSharedIsShared) {
  FileDescriptor zero(open("/dev/zero", O_RDWR));
  ASSERT_GE(zero.get(), 0);
  auto* b = static_cast<volatile uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, zero.get(), 0));
  ASSERT_NE(b, MAP_FAILED) << ErrnoString(errno);
  EXPECT_EQ(b[7], 0);
  EXPECT_CHILD_SUCCEEDS([&] { b[7] = 42; });
  EXPECT_EQ(b[7], 42);
  munmap(const_cast<uint8_t*>(b), kPage);
}

}  // namespace
}  // namespace moat::testing
