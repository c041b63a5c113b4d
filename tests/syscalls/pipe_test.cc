// Conformance tests for pipes and FIFOs: creation flags, blocking and
// non-blocking I/O, end-of-file and broken-pipe rules, atomicity, capacity,
// and readiness as reported by poll.

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
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

short PollEvents(int fd, short events) {
  struct pollfd pfd = {fd, events, 0};
  int n = poll(&pfd, 1, 0);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? pfd.revents : 0;
}

// Fills a non-blocking pipe until a write fails with EAGAIN; returns the
// number of bytes it took.
size_t FillPipe(int fd) {
  std::string chunk(4096, 'f');
  size_t total = 0;
  for (;;) {
    ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n == -1) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    total += static_cast<size_t>(n);
  }
  return total;
}

TEST(PipeTest, WriteThenRead) {
  Pipe p;
  ASSERT_THAT(write(p.w.get(), "hello", 5), SyscallSucceedsWithValue(5));
  char buf[16] = {};
  ASSERT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_STREQ(buf, "hello");
}

TEST(PipeTest, ReadsReturnAvailableDataInOrder) {
  Pipe p;
  ASSERT_THAT(write(p.w.get(), "abc", 3), SyscallSucceedsWithValue(3));
  ASSERT_THAT(write(p.w.get(), "defgh", 5), SyscallSucceedsWithValue(5));
  char buf[4] = {};
  ASSERT_THAT(read(p.r.get(), buf, 2), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "ab");
  char rest[16] = {};
  // One read returns everything available, across write boundaries.
  ASSERT_THAT(read(p.r.get(), rest, sizeof(rest)), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(rest, 6), "cdefgh");
}

TEST(PipeTest, ZeroLengthIo) {
  Pipe p(O_NONBLOCK);
  char c;
  EXPECT_THAT(write(p.w.get(), &c, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(read(p.r.get(), &c, 0), SyscallSucceedsWithValue(0));
}

TEST(PipeTest, EndsHaveAccessModes) {
  Pipe p;
  EXPECT_THAT(fcntl(p.r.get(), F_GETFL), SyscallSucceedsWithValue(O_RDONLY));
  EXPECT_THAT(fcntl(p.w.get(), F_GETFL), SyscallSucceedsWithValue(O_WRONLY));
  EXPECT_THAT(fcntl(p.r.get(), F_GETFD), SyscallSucceedsWithValue(0));
  char c = 'x';
  EXPECT_THAT(write(p.r.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(read(p.w.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  struct stat st = {};
  ASSERT_THAT(fstat(p.r.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(PipeTest, Pipe2FlagsAreVisible) {
  Pipe p(O_CLOEXEC | O_NONBLOCK);
  for (int fd : {p.r.get(), p.w.get()}) {
    EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
    int fl = fcntl(fd, F_GETFL);
    ASSERT_THAT(fl, SyscallSucceeds());
    EXPECT_TRUE(fl & O_NONBLOCK);
  }
  int fds[2];
  EXPECT_THAT(pipe2(fds, O_APPEND), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pipe2(fds, 0x1000000), SyscallFailsWithErrno(EINVAL));
}

TEST(PipeTest, EmptyNonBlockingReadIsEagain) {
  Pipe p(O_NONBLOCK);
  char c;
  EXPECT_THAT(read(p.r.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(PipeTest, FullNonBlockingWriteIsEagain) {
  Pipe p(O_NONBLOCK);
  EXPECT_EQ(FillPipe(p.w.get()), 65536u);
  char c = 'x';
  EXPECT_THAT(write(p.w.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(PipeTest, NonBlockingWriteLargerThanPipeBufIsPartial) {
  Pipe p(O_NONBLOCK);
  ASSERT_THAT(fcntl(p.w.get(), F_SETPIPE_SZ, 4 * 4096), SyscallSucceedsWithValue(4 * 4096));
  std::string big(6 * 4096, 'b');
  // A write above PIPE_BUF may be split: as much as fits is written.
  EXPECT_THAT(write(p.w.get(), big.data(), big.size()), SyscallSucceedsWithValue(4 * 4096));
  char c;
  ASSERT_THAT(read(p.r.get(), &c, 1), SyscallSucceedsWithValue(1));
  // A write of at most PIPE_BUF is all or nothing, so with one byte free it
  // fails rather than writing a part.
  EXPECT_THAT(write(p.w.get(), big.data(), 100), SyscallFailsWithErrno(EAGAIN));
}

TEST(PipeTest, ReadReturnsZeroAfterWritersClose) {
  Pipe p;
  ASSERT_THAT(write(p.w.get(), "xy", 2), SyscallSucceedsWithValue(2));
  p.w.reset();
  char buf[8];
  // Buffered data is still delivered first.
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
}

TEST(PipeTest, EofWaitsForEveryWriter) {
  Pipe p(O_NONBLOCK);
  FileDescriptor second_writer(dup(p.w.get()));
  ASSERT_TRUE(second_writer.valid());
  p.w.reset();
  char c;
  // One writer remains, so the empty pipe is not at end of file.
  EXPECT_THAT(read(p.r.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
  second_writer.reset();
  EXPECT_THAT(read(p.r.get(), &c, 1), SyscallSucceedsWithValue(0));
}

TEST(PipeTest, WriteWithoutReadersIsEpipe) {
  Pipe p;
  p.r.reset();
  ScopedSigaction ignore(SIGPIPE, MakeSigaction(SIG_IGN));
  EXPECT_THAT(write(p.w.get(), "x", 1), SyscallFailsWithErrno(EPIPE));
}

TEST(PipeTest, WriteWithoutReadersRaisesSigpipe) {
  EXPECT_THAT(ForkAndWait([] {
                signal(SIGPIPE, SIG_DFL);
                int fds[2];
                CHILD_CHECK_SUCCESS(pipe(fds));
                close(fds[0]);
                ssize_t unused = write(fds[1], "x", 1);
                (void)unused;
                _exit(1);
              }),
              KilledBySignal(SIGPIPE));
}

TEST(PipeTest, BlockedSigpipeIsPendingAndWriteFails) {
  EXPECT_CHILD_SUCCEEDS([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    int fds[2];
    CHILD_CHECK_SUCCESS(pipe(fds));
    close(fds[0]);
    CHILD_CHECK_ERRNO(write(fds[1], "x", 1), EPIPE);
    sigset_t pending;
    CHILD_CHECK_SUCCESS(sigpending(&pending));
    CHILD_CHECK(sigismember(&pending, SIGPIPE) == 1);
  });
}

TEST(PipeTest, PipeBufWritesAreAtomic) {
  static_assert(PIPE_BUF == 4096);
  constexpr int kRecords = 64;
  Pipe p;
  pid_t writers[2];
  for (int i = 0; i < 2; i++) {
    const char fill = static_cast<char>('A' + i);
    writers[i] = ForkChild([&p, fill] {
      p.r.reset();
      std::string record(PIPE_BUF, fill);
      for (int n = 0; n < kRecords; n++) {
        // Each write must transfer the whole record at once.
        CHILD_CHECK(write(p.w.get(), record.data(), record.size()) == PIPE_BUF);
      }
    });
    ASSERT_THAT(writers[i], SyscallSucceeds());
  }
  p.w.reset();
  std::string all = ReadAll(p.r.get());
  for (pid_t pid : writers) EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  ASSERT_EQ(all.size(), static_cast<size_t>(2 * kRecords * PIPE_BUF));
  int counts[2] = {0, 0};
  for (size_t off = 0; off < all.size(); off += PIPE_BUF) {
    const char first = all[off];
    ASSERT_TRUE(first == 'A' || first == 'B') << "at offset " << off;
    ASSERT_EQ(all.substr(off, PIPE_BUF), std::string(PIPE_BUF, first))
        << "record at offset " << off << " is interleaved";
    counts[first - 'A']++;
  }
  EXPECT_EQ(counts[0], kRecords);
  EXPECT_EQ(counts[1], kRecords);
}

TEST(PipeTest, LargeBlockingTransferArrivesInOrder) {
  constexpr size_t kSize = 1 << 20;
  Pipe p;
  pid_t pid = ForkChild([&p] {
    p.r.reset();
    std::string data(kSize, '\0');
    for (size_t i = 0; i < kSize; i++) data[i] = static_cast<char>(i * 7 + i / 251);
    // One write larger than the pipe: it blocks until the reader catches up.
    CHILD_CHECK(write(p.w.get(), data.data(), data.size()) == static_cast<ssize_t>(kSize));
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  p.w.reset();
  std::string got = ReadAll(p.r.get());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  ASSERT_EQ(got.size(), kSize);
  for (size_t i = 0; i < kSize; i++) {
    ASSERT_EQ(got[i], static_cast<char>(i * 7 + i / 251)) << "at offset " << i;
  }
}

TEST(PipeTest, PipeSize) {
  Pipe p(O_NONBLOCK);
  EXPECT_THAT(fcntl(p.w.get(), F_GETPIPE_SZ), SyscallSucceedsWithValue(65536));
  EXPECT_THAT(fcntl(p.r.get(), F_GETPIPE_SZ), SyscallSucceedsWithValue(65536));
  // Sizes are rounded up to a power-of-two number of pages.
  EXPECT_THAT(fcntl(p.w.get(), F_SETPIPE_SZ, 3 * 4096), SyscallSucceedsWithValue(4 * 4096));
  EXPECT_THAT(fcntl(p.r.get(), F_GETPIPE_SZ), SyscallSucceedsWithValue(4 * 4096));
  EXPECT_THAT(fcntl(p.w.get(), F_SETPIPE_SZ, 1), SyscallSucceedsWithValue(4096));
  EXPECT_EQ(FillPipe(p.w.get()), 4096u);
  EXPECT_THAT(fcntl(p.w.get(), F_SETPIPE_SZ, 131072), SyscallSucceedsWithValue(131072));
  // The buffered data is kept when the pipe grows.
  EXPECT_EQ(FillPipe(p.w.get()), 131072u - 4096u);
  // The pipe cannot shrink below what it holds.
  EXPECT_THAT(fcntl(p.w.get(), F_SETPIPE_SZ, 4096), SyscallFailsWithErrno(EBUSY));
}

TEST(PipeTest, FionreadReportsBufferedBytes) {
  Pipe p;
  int n = -1;
  ASSERT_THAT(ioctl(p.r.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);
  ASSERT_THAT(write(p.w.get(), "0123456789", 10), SyscallSucceedsWithValue(10));
  ASSERT_THAT(ioctl(p.r.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 10);
  char buf[4];
  ASSERT_THAT(read(p.r.get(), buf, 4), SyscallSucceedsWithValue(4));
  ASSERT_THAT(ioctl(p.r.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 6);
}

TEST(PipeTest, PollReadiness) {
  Pipe p(O_NONBLOCK);
  EXPECT_EQ(PollEvents(p.r.get(), POLLIN), 0);
  EXPECT_EQ(PollEvents(p.w.get(), POLLOUT), POLLOUT);
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(PollEvents(p.r.get(), POLLIN), POLLIN);
  char c;
  ASSERT_THAT(read(p.r.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(PollEvents(p.r.get(), POLLIN), 0);
  ASSERT_EQ(FillPipe(p.w.get()), 65536u);
  // A full pipe is not writable.
  EXPECT_EQ(PollEvents(p.w.get(), POLLOUT), 0);
  p.w.reset();
  // With the writer gone the reader sees both the data and the hang-up.
  EXPECT_EQ(PollEvents(p.r.get(), POLLIN), POLLIN | POLLHUP);
}

TEST(PipeTest, PollHupWithoutData) {
  Pipe p;
  p.w.reset();
  // POLLHUP is reported even if not requested.
  EXPECT_EQ(PollEvents(p.r.get(), POLLIN), POLLHUP);
  EXPECT_EQ(PollEvents(p.r.get(), 0), POLLHUP);
}

TEST(PipeTest, PollErrWithoutReaders) {
  Pipe p;
  p.r.reset();
  EXPECT_EQ(PollEvents(p.w.get(), POLLOUT), POLLOUT | POLLERR);
}

TEST(PipeTest, PollWaitsForWriterInOtherProcess) {
  Pipe p;
  pid_t pid = ForkChild([&p] {
    SleepMs(20);
    CHILD_CHECK(write(p.w.get(), "z", 1) == 1);
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(PipeTest, BlockingReadWokenByWriterInOtherProcess) {
  Pipe p;
  pid_t pid = ForkChild([&p] {
    p.r.reset();
    SleepMs(20);
    CHILD_CHECK(write(p.w.get(), "wake", 4) == 4);
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  char buf[8] = {};
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_STREQ(buf, "wake");
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(PipeTest, BlockingReadWokenByLastWriterClosing) {
  Pipe p;
  // The child inherits the write end and holds it until it exits.
  pid_t pid = ForkChild([] { SleepMs(20); });
  ASSERT_THAT(pid, SyscallSucceeds());
  p.w.reset();
  char c;
  EXPECT_THAT(read(p.r.get(), &c, 1), SyscallSucceedsWithValue(0));
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(PipeTest, SeekingIsEspipe) {
  Pipe p;
  EXPECT_THAT(lseek(p.r.get(), 0, SEEK_SET), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(lseek(p.w.get(), 0, SEEK_CUR), SyscallFailsWithErrno(ESPIPE));
  char c = 'x';
  EXPECT_THAT(pwrite(p.w.get(), &c, 1, 0), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(pread(p.r.get(), &c, 1, 0), SyscallFailsWithErrno(ESPIPE));
}

TEST(PipeTest, ChildReadsFromPipeOnStdin) {
  Pipe p;
  pid_t pid = ForkChild([&p] {
    CHILD_CHECK_SUCCESS(dup2(p.r.get(), STDIN_FILENO));
    p.r.reset();
    p.w.reset();
    std::string got = ReadAll(STDIN_FILENO);
    CHILD_CHECK(got == "through stdin");
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  p.r.reset();
  ASSERT_TRUE(WriteAll(p.w.get(), "through stdin", 13));
  p.w.reset();
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(PipeTest, PacketModeKeepsWriteBoundaries) {
  Pipe p(O_DIRECT | O_NONBLOCK);
  ASSERT_THAT(write(p.w.get(), "abc", 3), SyscallSucceedsWithValue(3));
  ASSERT_THAT(write(p.w.get(), "defgh", 5), SyscallSucceedsWithValue(5));
  char buf[16];
  // Each read returns at most one packet.
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_THAT(read(p.r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "defgh");
}

// ---------------------------------------------------------------------------
// FIFOs

TEST(FifoTest, NonBlockingOpenRules) {
  TempDir dir;
  const std::string path = dir.Join("fifo");
  ASSERT_THAT(mkfifo(path.c_str(), 0600), SyscallSucceeds());
  struct stat st = {};
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // A writer cannot open without a reader; a reader can open alone.
  EXPECT_THAT(open(path.c_str(), O_WRONLY | O_NONBLOCK), SyscallFailsWithErrno(ENXIO));
  FileDescriptor reader(open(path.c_str(), O_RDONLY | O_NONBLOCK));
  ASSERT_TRUE(reader.valid()) << ErrnoString(errno);
  FileDescriptor writer(open(path.c_str(), O_WRONLY | O_NONBLOCK));
  ASSERT_TRUE(writer.valid()) << ErrnoString(errno);
  ASSERT_THAT(write(writer.get(), "fifo", 4), SyscallSucceedsWithValue(4));
  char buf[8] = {};
  EXPECT_THAT(read(reader.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_STREQ(buf, "fifo");
  // The FIFO itself holds no data: its size stays zero.
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 0);
}

TEST(FifoTest, BlockingOpenWaitsForPeer) {
  TempDir dir;
  const std::string path = dir.Join("fifo");
  ASSERT_THAT(mkfifo(path.c_str(), 0600), SyscallSucceeds());
  pid_t pid = ForkChild([&path] {
    int fd = open(path.c_str(), O_WRONLY);
    CHILD_CHECK_SUCCESS(fd);
    CHILD_CHECK(write(fd, "peer", 4) == 4);
  });
  ASSERT_THAT(pid, SyscallSucceeds());
  // This open blocks until the child opens the other end.
  FileDescriptor reader(open(path.c_str(), O_RDONLY));
  ASSERT_TRUE(reader.valid()) << ErrnoString(errno);
  EXPECT_EQ(ReadAll(reader.get()), "peer");
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

}  // namespace
}  // namespace moat::testing
