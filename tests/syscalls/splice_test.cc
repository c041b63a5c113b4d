// Conformance tests for the in-kernel copy family: sendfile, splice, tee, vmsplice and
// copy_file_range. Files live under a fresh directory in /tmp; pipes come from pipe2.

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

// Both ends of a pipe, closed on destruction.
struct Pipe {
  explicit Pipe(int flags = 0) {
    int fds[2] = {-1, -1};
    if (pipe2(fds, flags) != 0) ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
  FileDescriptor r;
  FileDescriptor w;
};

// A test fixture with a temporary directory and a helper to make files in it.
class SpliceTest : public ::testing::Test {
 protected:
  // Creates `name` with `contents` and opens it with `flags`.
  FileDescriptor MakeFile(const std::string& name, const std::string& contents,
                          int flags = O_RDWR) {
    std::string path = dir_.Join(name);
    EXPECT_TRUE(CreateFileWithContents(path, contents)) << path << ": " << ErrnoString(errno);
    FileDescriptor fd(open(path.c_str(), flags | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << "open " << path << ": " << ErrnoString(errno);
    return fd;
  }

  // The whole contents of `name`.
  std::string Contents(const std::string& name) {
    FileDescriptor fd(open(dir_.Join(name).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << ErrnoString(errno);
    return ReadAll(fd.get());
  }

  off_t Offset(int fd) { return lseek(fd, 0, SEEK_CUR); }

  TempDir dir_;
};

// Reads whatever a non-blocking pipe holds right now.
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Fills a non-blocking pipe until a write fails with EAGAIN.
void FillPipe(int fd) {
  std::string chunk(4096, 'f');
  while (write(fd, chunk.data(), chunk.size()) > 0) {
  }
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  return s;
}

// ---- sendfile ----

TEST_F(SpliceTest, SendfileFileToFileUsesAndAdvancesTheOffset) {
  FileDescriptor in = MakeFile("in", "0123456789", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  ASSERT_THAT(lseek(in.get(), 2, SEEK_SET), SyscallSucceedsWithValue(2));
  EXPECT_THAT(sendfile(out.get(), in.get(), nullptr, 5), SyscallSucceedsWithValue(5));
  EXPECT_EQ(Offset(in.get()), 7);
  EXPECT_EQ(Offset(out.get()), 5);
  EXPECT_EQ(Contents("out"), "23456");
  // Past the end of the input only what is left is sent, then nothing.
  EXPECT_THAT(sendfile(out.get(), in.get(), nullptr, 100), SyscallSucceedsWithValue(3));
  EXPECT_THAT(sendfile(out.get(), in.get(), nullptr, 100), SyscallSucceedsWithValue(0));
  EXPECT_EQ(Contents("out"), "23456789");
}

TEST_F(SpliceTest, SendfileWithOffsetPointerLeavesFileOffset) {
  FileDescriptor in = MakeFile("in", "0123456789", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  ASSERT_THAT(lseek(in.get(), 1, SEEK_SET), SyscallSucceeds());
  off_t off = 4;
  EXPECT_THAT(sendfile(out.get(), in.get(), &off, 3), SyscallSucceedsWithValue(3));
  EXPECT_EQ(off, 7);
  EXPECT_EQ(Offset(in.get()), 1);
  EXPECT_EQ(Contents("out"), "456");
  off = 20;
  EXPECT_THAT(sendfile(out.get(), in.get(), &off, 3), SyscallSucceedsWithValue(0));
  EXPECT_EQ(off, 20);
}

TEST_F(SpliceTest, SendfileLargeFile) {
  const std::string data = Pattern(3 * 1024 * 1024 + 123);
  FileDescriptor in = MakeFile("in", data, O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  size_t total = 0;
  while (total < data.size()) {
    ssize_t n = sendfile(out.get(), in.get(), nullptr, data.size());
    ASSERT_THAT(n, SyscallSucceedsWithValue(::testing::Gt(0)));
    total += static_cast<size_t>(n);
  }
  EXPECT_EQ(total, data.size());
  EXPECT_TRUE(Contents("out") == data);
}

TEST_F(SpliceTest, SendfileToPipe) {
  FileDescriptor in = MakeFile("in", "hello world", O_RDONLY);
  Pipe p(O_NONBLOCK);
  EXPECT_THAT(sendfile(p.w.get(), in.get(), nullptr, 5), SyscallSucceedsWithValue(5));
  off_t off = 6;
  EXPECT_THAT(sendfile(p.w.get(), in.get(), &off, 100), SyscallSucceedsWithValue(5));
  EXPECT_EQ(off, 11);
  EXPECT_EQ(Offset(in.get()), 5);
  EXPECT_EQ(Drain(p.r.get()), "helloworld");
}

TEST_F(SpliceTest, SendfileToFullNonBlockingPipeIsEagain) {
  FileDescriptor in = MakeFile("in", "data", O_RDONLY);
  Pipe p(O_NONBLOCK);
  FillPipe(p.w.get());
  EXPECT_THAT(sendfile(p.w.get(), in.get(), nullptr, 4), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(Offset(in.get()), 0);
}

TEST_F(SpliceTest, SendfileToPipeStopsWhenThePipeIsFull) {
  const std::string data = Pattern(200 * 1024);
  FileDescriptor in = MakeFile("in", data, O_RDONLY);
  Pipe p;
  // A blocking pipe: sendfile waits for room once, then sends what fits.
  ssize_t n = sendfile(p.w.get(), in.get(), nullptr, data.size());
  ASSERT_THAT(n, SyscallSucceedsWithValue(::testing::Gt(0)));
  EXPECT_LE(n, 65536);
  EXPECT_EQ(Offset(in.get()), n);
}

TEST_F(SpliceTest, SendfileBlocksOnFullPipeUntilDrained) {
  const std::string data = Pattern(8192);
  FileDescriptor in = MakeFile("in", data, O_RDONLY);
  Pipe p;
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  FillPipe(p.w.get());
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, 0), SyscallSucceeds());
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    SleepMs(100);
    EXPECT_FALSE(done.load());
    char buf[65536];
    ASSERT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(65536));
  });
  EXPECT_THAT(sendfile(p.w.get(), in.get(), nullptr, data.size()),
              SyscallSucceedsWithValue(8192));
  done = true;
  drainer.join();
  char buf[8192];
  ASSERT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(8192));
  EXPECT_EQ(std::string(buf, sizeof(buf)), data);
}

TEST_F(SpliceTest, SendfileErrors) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  FileDescriptor wronly = MakeFile("w", "abc", O_WRONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  FileDescriptor rdonly = MakeFile("r", "", O_RDONLY);
  EXPECT_THAT(sendfile(out.get(), -1, nullptr, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(sendfile(-1, in.get(), nullptr, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(sendfile(out.get(), wronly.get(), nullptr, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(sendfile(rdonly.get(), in.get(), nullptr, 1), SyscallFailsWithErrno(EBADF));
  off_t off = -1;
  EXPECT_THAT(sendfile(out.get(), in.get(), &off, 1), SyscallFailsWithErrno(EINVAL));
  // A bad output descriptor is noticed after the input's offset.
  EXPECT_THAT(sendfile(-1, in.get(), &off, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sendfile(out.get(), in.get(), reinterpret_cast<off_t*>(8), 1),
              SyscallFailsWithErrno(EFAULT));

  // Appending output files are refused.
  FileDescriptor app = MakeFile("app", "", O_WRONLY | O_APPEND);
  EXPECT_THAT(sendfile(app.get(), in.get(), nullptr, 1), SyscallFailsWithErrno(EINVAL));

  // A directory cannot be read this way.
  FileDescriptor d(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(d.valid());
  EXPECT_THAT(sendfile(out.get(), d.get(), nullptr, 1), SyscallFailsWithErrno(EINVAL));

  // A pipe is not a valid input: ESPIPE with an offset, EINVAL without.
  Pipe p(O_NONBLOCK);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  off = 0;
  EXPECT_THAT(sendfile(out.get(), p.r.get(), &off, 1), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(sendfile(out.get(), p.r.get(), nullptr, 1), SyscallFailsWithErrno(EINVAL));
}

TEST_F(SpliceTest, SendfileZeroCount) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  EXPECT_THAT(sendfile(out.get(), in.get(), nullptr, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(Offset(in.get()), 0);
}

TEST_F(SpliceTest, SendfileToClosedPipeIsEpipe) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  Pipe p;
  p.r.reset();
  ScopedSigaction ignore(SIGPIPE, MakeSigaction(SIG_IGN));
  EXPECT_THAT(sendfile(p.w.get(), in.get(), nullptr, 3), SyscallFailsWithErrno(EPIPE));
}

// ---- splice ----

TEST_F(SpliceTest, SpliceFileToPipeAndBack) {
  FileDescriptor in = MakeFile("in", "0123456789", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  Pipe p;
  EXPECT_THAT(splice(in.get(), nullptr, p.w.get(), nullptr, 4, 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(Offset(in.get()), 4);
  loff_t off_in = 8;
  EXPECT_THAT(splice(in.get(), &off_in, p.w.get(), nullptr, 100, SPLICE_F_MOVE | SPLICE_F_MORE),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(off_in, 10);
  EXPECT_EQ(Offset(in.get()), 4);
  int avail = 0;
  ASSERT_THAT(ioctl(p.r.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 6);

  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(Offset(out.get()), 3);
  loff_t off_out = 10;
  // The pipe side gives what it has, even when more was asked for.
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), &off_out, 100, 0),
              SyscallSucceedsWithValue(3));
  EXPECT_EQ(off_out, 13);
  EXPECT_EQ(Offset(out.get()), 3);
  EXPECT_EQ(Contents("out"), std::string("012") + std::string(7, '\0') + "389");
}

TEST_F(SpliceTest, SplicePipeToPipe) {
  Pipe a, b;
  ASSERT_THAT(write(a.w.get(), "abcdef", 6), SyscallSucceedsWithValue(6));
  EXPECT_THAT(splice(a.r.get(), nullptr, b.w.get(), nullptr, 4, 0), SyscallSucceedsWithValue(4));
  char buf[8];
  EXPECT_THAT(read(b.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "abcd");
  EXPECT_THAT(read(a.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "ef");
}

TEST_F(SpliceTest, SpliceErrors) {
  FileDescriptor f = MakeFile("f", "abc", O_RDWR);
  FileDescriptor g = MakeFile("g", "abc", O_RDWR);
  Pipe p(O_NONBLOCK);
  loff_t off = 0;
  // A zero length returns 0 before anything is checked.
  EXPECT_THAT(splice(-1, nullptr, -1, nullptr, 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(splice(f.get(), nullptr, p.w.get(), nullptr, 1, 0x100),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(splice(-1, nullptr, p.w.get(), nullptr, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(splice(f.get(), nullptr, -1, nullptr, 1, 0), SyscallFailsWithErrno(EBADF));
  // One side must be a pipe.
  EXPECT_THAT(splice(f.get(), nullptr, g.get(), nullptr, 1, 0), SyscallFailsWithErrno(EINVAL));
  // No offsets on the pipe side.
  EXPECT_THAT(splice(f.get(), nullptr, p.w.get(), &off, 1, 0), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(splice(p.r.get(), &off, f.get(), nullptr, 1, 0), SyscallFailsWithErrno(ESPIPE));
  // Wrong directions.
  EXPECT_THAT(splice(p.w.get(), nullptr, f.get(), nullptr, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(splice(f.get(), nullptr, p.r.get(), nullptr, 1, 0), SyscallFailsWithErrno(EBADF));
  // A pipe into itself.
  EXPECT_THAT(splice(p.r.get(), nullptr, p.w.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EINVAL));
  // A negative file offset.
  off = -5;
  EXPECT_THAT(splice(f.get(), &off, p.w.get(), nullptr, 1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(splice(f.get(), reinterpret_cast<loff_t*>(8), p.w.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EFAULT));
  // An appending output file is refused.
  FileDescriptor app = MakeFile("app", "", O_WRONLY | O_APPEND);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  EXPECT_THAT(splice(p.r.get(), nullptr, app.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EINVAL));
}

TEST_F(SpliceTest, SpliceFromEmptyPipe) {
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  Pipe p;
  // SPLICE_F_NONBLOCK makes the pipe side non-blocking.
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 10, SPLICE_F_NONBLOCK),
              SyscallFailsWithErrno(EAGAIN));
  // So does O_NONBLOCK on the pipe.
  ASSERT_THAT(fcntl(p.r.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 10, 0),
              SyscallFailsWithErrno(EAGAIN));
  // With no writer left it is the end of the file.
  p.w.reset();
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 10, 0), SyscallSucceedsWithValue(0));
}

TEST_F(SpliceTest, SpliceToFullPipeNonBlocking) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  Pipe p;
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  FillPipe(p.w.get());
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, 0), SyscallSucceeds());
  EXPECT_THAT(splice(in.get(), nullptr, p.w.get(), nullptr, 3, SPLICE_F_NONBLOCK),
              SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(Offset(in.get()), 0);
  // The same with an empty input pipe into a full one.
  Pipe q(O_NONBLOCK);
  ASSERT_THAT(write(q.w.get(), "z", 1), SyscallSucceeds());
  EXPECT_THAT(splice(q.r.get(), nullptr, p.w.get(), nullptr, 1, 0), SyscallFailsWithErrno(EAGAIN));
}

TEST_F(SpliceTest, SpliceBlocksOnEmptyPipeUntilAnotherThreadWrites) {
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  Pipe p;
  std::atomic<bool> spliced{false};
  std::thread writer([&] {
    SleepMs(100);
    EXPECT_FALSE(spliced.load());
    EXPECT_THAT(write(p.w.get(), "wake", 4), SyscallSucceedsWithValue(4));
  });
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 100, 0), SyscallSucceedsWithValue(4));
  spliced = true;
  writer.join();
  EXPECT_EQ(Contents("out"), "wake");
}

TEST_F(SpliceTest, BlockedSpliceIsInterruptedBySignals) {
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  Pipe p;
  ScopedSigaction act(SIGALRM, MakeSigaction(+[](int) {}));
  struct itimerval it = {};
  it.it_value.tv_usec = 50000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  EXPECT_THAT(splice(p.r.get(), nullptr, out.get(), nullptr, 10, 0), SyscallFailsWithErrno(EINTR));
  it.it_value.tv_usec = 50000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  Pipe q;
  EXPECT_THAT(tee(p.r.get(), q.w.get(), 10, 0), SyscallFailsWithErrno(EINTR));
}

TEST_F(SpliceTest, SplicePipeToPipeBlocksUntilInput) {
  Pipe a, b;
  std::thread writer([&] {
    SleepMs(50);
    EXPECT_THAT(write(a.w.get(), "xyz", 3), SyscallSucceedsWithValue(3));
  });
  EXPECT_THAT(splice(a.r.get(), nullptr, b.w.get(), nullptr, 10, 0), SyscallSucceedsWithValue(3));
  writer.join();
  char buf[4];
  EXPECT_THAT(read(b.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
}

TEST_F(SpliceTest, SpliceToPipeWithoutReaderIsEpipe) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  Pipe p;
  p.r.reset();
  ScopedSigaction ignore(SIGPIPE, MakeSigaction(SIG_IGN));
  EXPECT_THAT(splice(in.get(), nullptr, p.w.get(), nullptr, 3, 0), SyscallFailsWithErrno(EPIPE));
}

TEST_F(SpliceTest, SpliceToPipeWithoutReaderRaisesSigpipe) {
  std::string path = dir_.Join("in");
  ASSERT_TRUE(CreateFileWithContents(path, "abc"));
  EXPECT_THAT(ForkAndWait([&] {
                signal(SIGPIPE, SIG_DFL);
                int fd = open(path.c_str(), O_RDONLY);
                CHILD_CHECK_SUCCESS(fd);
                int fds[2];
                CHILD_CHECK_SUCCESS(pipe(fds));
                close(fds[0]);
                ssize_t unused = splice(fd, nullptr, fds[1], nullptr, 3, 0);
                (void)unused;
                _exit(1);
              }),
              KilledBySignal(SIGPIPE));
}

// ---- tee ----

TEST_F(SpliceTest, TeeDuplicatesWithoutConsuming) {
  Pipe a, b;
  ASSERT_THAT(write(a.w.get(), "teedata", 7), SyscallSucceedsWithValue(7));
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 100, 0), SyscallSucceedsWithValue(7));
  char buf[16];
  EXPECT_THAT(read(b.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "teeteedata");
  EXPECT_THAT(read(a.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(7));
  EXPECT_EQ(std::string(buf, 7), "teedata");
}

TEST_F(SpliceTest, TeeErrors) {
  Pipe a, b;
  FileDescriptor f = MakeFile("f", "abc", O_RDWR);
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 1, 0x100), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(tee(-1, b.w.get(), 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(tee(a.r.get(), -1, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(tee(a.w.get(), b.w.get(), 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(tee(a.r.get(), b.r.get(), 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(tee(a.r.get(), a.w.get(), 1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(tee(f.get(), b.w.get(), 1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(tee(a.r.get(), f.get(), 1, 0), SyscallFailsWithErrno(EINVAL));
}

TEST_F(SpliceTest, TeeEmptyPipe) {
  Pipe a, b;
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 1, SPLICE_F_NONBLOCK), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(fcntl(b.w.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 1, 0), SyscallFailsWithErrno(EAGAIN));
  a.w.reset();
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 1, 0), SyscallSucceedsWithValue(0));
}

TEST_F(SpliceTest, TeeBlocksUntilInput) {
  Pipe a, b;
  std::thread writer([&] {
    SleepMs(50);
    EXPECT_THAT(write(a.w.get(), "late", 4), SyscallSucceedsWithValue(4));
  });
  EXPECT_THAT(tee(a.r.get(), b.w.get(), 10, 0), SyscallSucceedsWithValue(4));
  writer.join();
}

// ---- vmsplice ----

TEST_F(SpliceTest, VmspliceWritesIovecsToPipe) {
  Pipe p;
  char a[] = "hello ";
  char b[] = "vmsplice";
  struct iovec iov[2] = {{a, 6}, {b, 8}};
  EXPECT_THAT(vmsplice(p.w.get(), iov, 2, 0), SyscallSucceedsWithValue(14));
  // The data was copied (or the pages pinned): changing the buffer now does not matter.
  char buf[32];
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(14));
  EXPECT_EQ(std::string(buf, 14), "hello vmsplice");
}

TEST_F(SpliceTest, VmspliceReadsPipeIntoIovecs) {
  Pipe p;
  ASSERT_THAT(write(p.w.get(), "abcdefgh", 8), SyscallSucceedsWithValue(8));
  char a[3], b[10];
  struct iovec iov[2] = {{a, 3}, {b, 10}};
  EXPECT_THAT(vmsplice(p.r.get(), iov, 2, 0), SyscallSucceedsWithValue(8));
  EXPECT_EQ(std::string(a, 3), "abc");
  EXPECT_EQ(std::string(b, 5), "defgh");
}

TEST_F(SpliceTest, VmspliceErrors) {
  Pipe p;
  char c = 'x';
  struct iovec iov = {&c, 1};
  FileDescriptor f = MakeFile("f", "abc", O_RDWR);
  EXPECT_THAT(vmsplice(p.w.get(), &iov, 1, 0x100), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(vmsplice(-1, &iov, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(vmsplice(f.get(), &iov, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(vmsplice(p.w.get(), &iov, 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(vmsplice(p.w.get(), &iov, IOV_MAX + 1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(vmsplice(p.w.get(), reinterpret_cast<struct iovec*>(8), 1, 0),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(SpliceTest, VmspliceFullPipe) {
  Pipe p;
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  FillPipe(p.w.get());
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, 0), SyscallSucceeds());
  char c = 'x';
  struct iovec iov = {&c, 1};
  // Only SPLICE_F_NONBLOCK makes vmsplice non-blocking (the file's O_NONBLOCK does not).
  EXPECT_THAT(vmsplice(p.w.get(), &iov, 1, SPLICE_F_NONBLOCK), SyscallFailsWithErrno(EAGAIN));
}

TEST_F(SpliceTest, VmspliceBlocksOnFullPipeUntilDrained) {
  Pipe p;
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  FillPipe(p.w.get());
  ASSERT_THAT(fcntl(p.w.get(), F_SETFL, 0), SyscallSucceeds());
  std::thread drainer([&] {
    SleepMs(50);
    char buf[4096];
    EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4096));
  });
  char c = 'x';
  struct iovec iov = {&c, 1};
  EXPECT_THAT(vmsplice(p.w.get(), &iov, 1, 0), SyscallSucceedsWithValue(1));
  drainer.join();
}

TEST_F(SpliceTest, VmspliceLargerThanPipeIsPartial) {
  Pipe p;
  // Page-aligned, so that Linux's page pinning fills the pipe exactly.
  void* big = aligned_alloc(4096, 128 * 1024);
  ASSERT_NE(big, nullptr);
  memset(big, 'v', 128 * 1024);
  struct iovec iov = {big, 128 * 1024};
  EXPECT_THAT(vmsplice(p.w.get(), &iov, 1, 0), SyscallSucceedsWithValue(65536));
  free(big);
}

// ---- copy_file_range ----

TEST_F(SpliceTest, CopyFileRangeUsesFileOffsets) {
  FileDescriptor in = MakeFile("in", "0123456789", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  ASSERT_THAT(lseek(in.get(), 3, SEEK_SET), SyscallSucceeds());
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 4, 0),
              SyscallSucceedsWithValue(4));
  EXPECT_EQ(Offset(in.get()), 7);
  EXPECT_EQ(Offset(out.get()), 4);
  EXPECT_EQ(Contents("out"), "3456");
  // Stops at the end of the input.
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 100, 0),
              SyscallSucceedsWithValue(3));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 100, 0),
              SyscallSucceedsWithValue(0));
  EXPECT_EQ(Contents("out"), "3456789");
}

TEST_F(SpliceTest, CopyFileRangeWithOffsetPointers) {
  FileDescriptor in = MakeFile("in", "0123456789", O_RDONLY);
  FileDescriptor out = MakeFile("out", "abcdef", O_WRONLY);
  loff_t off_in = 5, off_out = 2;
  EXPECT_THAT(copy_file_range(in.get(), &off_in, out.get(), &off_out, 3, 0),
              SyscallSucceedsWithValue(3));
  EXPECT_EQ(off_in, 8);
  EXPECT_EQ(off_out, 5);
  EXPECT_EQ(Offset(in.get()), 0);
  EXPECT_EQ(Offset(out.get()), 0);
  EXPECT_EQ(Contents("out"), "ab567f");
  // Only one pointer: the other side uses and advances its file offset.
  off_in = 0;
  EXPECT_THAT(copy_file_range(in.get(), &off_in, out.get(), nullptr, 2, 0),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(Offset(out.get()), 2);
  EXPECT_EQ(Contents("out"), "01567f");
}

TEST_F(SpliceTest, CopyFileRangeLarge) {
  const std::string data = Pattern(2 * 1024 * 1024 + 17);
  FileDescriptor in = MakeFile("in", data, O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  size_t total = 0;
  while (total < data.size()) {
    ssize_t n = copy_file_range(in.get(), nullptr, out.get(), nullptr, data.size(), 0);
    ASSERT_THAT(n, SyscallSucceedsWithValue(::testing::Gt(0)));
    total += static_cast<size_t>(n);
  }
  EXPECT_TRUE(Contents("out") == data);
}

TEST_F(SpliceTest, CopyFileRangeSameFile) {
  FileDescriptor f = MakeFile("f", "0123456789", O_RDWR);
  loff_t off_in = 0, off_out = 5;
  // Ranges that do not overlap are fine.
  EXPECT_THAT(copy_file_range(f.get(), &off_in, f.get(), &off_out, 5, 0),
              SyscallSucceedsWithValue(5));
  EXPECT_EQ(Contents("f"), "0123401234");
  off_in = 0;
  off_out = 3;
  EXPECT_THAT(copy_file_range(f.get(), &off_in, f.get(), &off_out, 5, 0),
              SyscallFailsWithErrno(EINVAL));
  // The overlap is judged after the length is cut to the end of the input.
  off_in = 8;
  off_out = 5;
  EXPECT_THAT(copy_file_range(f.get(), &off_in, f.get(), &off_out, 100, 0),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(Contents("f"), "0123434234");
}

TEST_F(SpliceTest, CopyFileRangeErrors) {
  FileDescriptor in = MakeFile("in", "abc", O_RDONLY);
  FileDescriptor out = MakeFile("out", "", O_WRONLY);
  FileDescriptor wronly = MakeFile("w", "abc", O_WRONLY);
  FileDescriptor rdonly = MakeFile("r", "", O_RDONLY);
  FileDescriptor app = MakeFile("app", "", O_WRONLY | O_APPEND);
  FileDescriptor d(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(d.valid());
  Pipe p;
  EXPECT_THAT(copy_file_range(-1, nullptr, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, -1, nullptr, 1, 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 1, 1),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(copy_file_range(wronly.get(), nullptr, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, rdonly.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, app.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(copy_file_range(d.get(), nullptr, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(copy_file_range(p.r.get(), nullptr, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, p.w.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EINVAL));
  // A negative offset: EOVERFLOW if adding the length wraps around, EINVAL otherwise.
  loff_t off = -1;
  EXPECT_THAT(copy_file_range(in.get(), &off, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EOVERFLOW));
  off = -5;
  EXPECT_THAT(copy_file_range(in.get(), &off, out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), &off, 1, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(copy_file_range(in.get(), reinterpret_cast<loff_t*>(8), out.get(), nullptr, 1, 0),
              SyscallFailsWithErrno(EFAULT));
  // A zero length succeeds once the files have passed the checks.
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 0, 0),
              SyscallSucceedsWithValue(0));
}

}  // namespace
}  // namespace moat::testing
