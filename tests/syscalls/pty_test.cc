// Conformance tests for pseudo-terminals: /dev/ptmx and devpts (allocation, locking, the
// replica's node), the line discipline (termios, canonical editing, echo, input and output
// translation, VMIN/VTIME, flow control), window sizes and hang-ups. Job control is in
// pty_job_control_test.cc.
//
// Replicas are opened with O_NOCTTY in the test process itself: natively it is not a session
// leader, but in the sandbox it is init, a session leader without a terminal, and an open
// without O_NOCTTY would make the terminal its own.

#include <dirent.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/syscalls/pty_util.h"

namespace moat::testing {
namespace {

// ---- Allocation and devpts ----

TEST(PtyTest, OpenptAllocatesReplica) {
  Pty p;
  ASSERT_TRUE(p.replica.valid());
  unsigned n = 0;
  ASSERT_THAT(ioctl(p.master.get(), TIOCGPTN, &n), SyscallSucceeds());
  EXPECT_EQ(p.path, "/dev/pts/" + std::to_string(n));

  struct stat st;
  ASSERT_THAT(stat(p.path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 136u);
  EXPECT_EQ(minor(st.st_rdev), n);
  EXPECT_EQ(st.st_uid, getuid());
  // devpts mounted with gid=5,mode=620 (containers, most distributions) or with the kernel's
  // defaults (mode 0600, the opener's group).
  const unsigned mode = st.st_mode & 07777;
  if (mode == 0620) {
    EXPECT_EQ(st.st_gid, 5u);
  } else {
    EXPECT_EQ(mode, 0600u);
    EXPECT_EQ(st.st_gid, getgid());
  }

  ASSERT_THAT(fstat(p.replica.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(136, n));
  ASSERT_THAT(fstat(p.master.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(5, 2));
}

TEST(PtyTest, DevptsHasPtmx) {
  struct stat st;
  ASSERT_THAT(stat("/dev/pts/ptmx", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(5, 2));
  ASSERT_THAT(stat("/dev/ptmx", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(5, 2));
}

TEST(PtyTest, DevptsListsReplicas) {
  Pty p;
  unsigned n = 0;
  ASSERT_THAT(ioctl(p.master.get(), TIOCGPTN, &n), SyscallSucceeds());
  DIR* dir = opendir("/dev/pts");
  ASSERT_NE(dir, nullptr) << ErrnoString(errno);
  bool ptmx = false, replica = false;
  while (struct dirent* e = readdir(dir)) {
    if (strcmp(e->d_name, "ptmx") == 0) ptmx = e->d_type == DT_CHR;
    if (e->d_name == std::to_string(n)) replica = e->d_type == DT_CHR;
  }
  closedir(dir);
  EXPECT_TRUE(ptmx);
  EXPECT_TRUE(replica);
  // Nothing else can be made there.
  EXPECT_THAT(mkdir("/dev/pts/dir", 0755), SyscallFails());
}

TEST(PtyTest, EachOpenIsANewPty) {
  Pty a, b;
  unsigned na = 0, nb = 0;
  ASSERT_THAT(ioctl(a.master.get(), TIOCGPTN, &na), SyscallSucceeds());
  ASSERT_THAT(ioctl(b.master.get(), TIOCGPTN, &nb), SyscallSucceeds());
  EXPECT_NE(na, nb);
}

TEST(PtyTest, ReplicaIsLockedUntilUnlockpt) {
  FileDescriptor m(posix_openpt(O_RDWR | O_NOCTTY));
  ASSERT_TRUE(m.valid());
  int locked = 0;
  ASSERT_THAT(ioctl(m.get(), TIOCGPTLCK, &locked), SyscallSucceeds());
  EXPECT_EQ(locked, 1);
  std::string path = ptsname(m.get());
  EXPECT_THAT(open(path.c_str(), O_RDWR | O_NOCTTY), SyscallFailsWithErrno(EIO));
  EXPECT_THAT(ioctl(m.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY), SyscallFailsWithErrno(EIO));
  ASSERT_THAT(unlockpt(m.get()), SyscallSucceeds());
  ASSERT_THAT(ioctl(m.get(), TIOCGPTLCK, &locked), SyscallSucceeds());
  EXPECT_EQ(locked, 0);
  FileDescriptor r(open(path.c_str(), O_RDWR | O_NOCTTY));
  EXPECT_TRUE(r.valid()) << ErrnoString(errno);
}

TEST(PtyTest, MasterIoctlsAreNotForTheReplica) {
  Pty p;
  unsigned n = 0;
  EXPECT_THAT(ioctl(p.replica.get(), TIOCGPTN, &n), SyscallFailsWithErrno(ENOTTY));
  int zero = 0;
  EXPECT_THAT(ioctl(p.replica.get(), TIOCSPTLCK, &zero), SyscallFailsWithErrno(ENOTTY));
  EXPECT_THAT(ioctl(p.replica.get(), TIOCGPTPEER, O_RDWR), SyscallFailsWithErrno(EIO));
  // grantpt and ptsname need a master.
  EXPECT_EQ(ptsname(p.replica.get()), nullptr);
}

TEST(PtyTest, NodeGoesAwayWithTheMaster) {
  std::string path;
  {
    Pty p;
    path = p.path;
    struct stat st;
    ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  }
  struct stat st;
  EXPECT_THAT(stat(path.c_str(), &st), SyscallFailsWithErrno(ENOENT));
}

TEST(PtyTest, Tiocgptpeer) {
  Pty p;
  FileDescriptor peer(ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY));
  ASSERT_TRUE(peer.valid()) << ErrnoString(errno);
  struct stat a, b;
  ASSERT_THAT(fstat(peer.get(), &a), SyscallSucceeds());
  ASSERT_THAT(fstat(p.replica.get(), &b), SyscallSucceeds());
  EXPECT_EQ(a.st_rdev, b.st_rdev);
  EXPECT_EQ(a.st_ino, b.st_ino);
  WriteAll(peer.get(), "peer");
  EXPECT_EQ(ReadAvailable(p.master.get(), 4), "peer");
  int flags = fcntl(peer.get(), F_GETFL);
  EXPECT_EQ(flags & O_ACCMODE, O_RDWR);
}

TEST(PtyTest, OpenptyFromLibc) {
  int m = -1, s = -1;
  struct winsize ws = {};
  ws.ws_row = 33;
  ws.ws_col = 77;
  ASSERT_THAT(openpty(&m, &s, nullptr, nullptr, &ws), SyscallSucceeds());
  FileDescriptor mm(m), ss(s);
  EXPECT_EQ(isatty(s), 1);
  EXPECT_EQ(isatty(m), 1);
  struct winsize got = {};
  ASSERT_THAT(ioctl(s, TIOCGWINSZ, &got), SyscallSucceeds());
  EXPECT_EQ(got.ws_row, 33);
  EXPECT_EQ(got.ws_col, 77);
}

// ---- termios ----

TEST(PtyTest, DefaultTermios) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  EXPECT_EQ(t.c_iflag, tcflag_t(ICRNL | IXON));
  EXPECT_EQ(t.c_oflag, tcflag_t(OPOST | ONLCR));
  EXPECT_EQ(t.c_lflag,
            tcflag_t(ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN));
  EXPECT_EQ(t.c_cflag & CSIZE, tcflag_t(CS8));
  EXPECT_TRUE(t.c_cflag & CREAD);
  EXPECT_EQ(cfgetospeed(&t), speed_t(B38400));
  EXPECT_EQ(t.c_cc[VINTR], 3);
  EXPECT_EQ(t.c_cc[VERASE], 0177);
  EXPECT_EQ(t.c_cc[VKILL], 025);
  EXPECT_EQ(t.c_cc[VEOF], 4);
  EXPECT_EQ(t.c_cc[VMIN], 1);
  EXPECT_EQ(t.c_cc[VTIME], 0);
  // The master reports the replica's settings.
  struct termios m;
  ASSERT_THAT(tcgetattr(p.master.get(), &m), SyscallSucceeds());
  EXPECT_EQ(m.c_lflag, t.c_lflag);
  EXPECT_EQ(m.c_iflag, t.c_iflag);
}

TEST(PtyTest, TermiosSetThroughMasterShows) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.master.get(), &t), SyscallSucceeds());
  t.c_lflag &= ~ECHO;
  t.c_cc[VERASE] = 010;
  ASSERT_THAT(tcsetattr(p.master.get(), TCSANOW, &t), SyscallSucceeds());
  struct termios r;
  ASSERT_THAT(tcgetattr(p.replica.get(), &r), SyscallSucceeds());
  EXPECT_FALSE(r.c_lflag & ECHO);
  EXPECT_EQ(r.c_cc[VERASE], 010);
}

TEST(PtyTest, NotATerminal) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  struct termios t;
  EXPECT_THAT(tcgetattr(r.get(), &t), SyscallFailsWithErrno(ENOTTY));
  EXPECT_EQ(isatty(r.get()), 0);
}

// ---- Canonical mode and echo ----

TEST(PtyTest, CanonicalLineAndEcho) {
  Pty p;
  WriteAll(p.master.get(), "hello");
  // No complete line yet.
  EXPECT_EQ(PollEvents(p.replica.get(), POLLIN, 50) & POLLIN, 0);
  EXPECT_EQ(ReadAvailable(p.master.get(), 5), "hello");
  WriteAll(p.master.get(), "\n");
  EXPECT_TRUE(PollEvents(p.replica.get(), POLLIN, 1000) & POLLIN);
  int n = 0;
  ASSERT_THAT(ioctl(p.replica.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 6);
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 6), "hello\n");
  // The echoed newline goes through ONLCR.
  EXPECT_EQ(ReadAvailable(p.master.get(), 2), "\r\n");
}

TEST(PtyTest, CarriageReturnBecomesNewline) {
  Pty p;
  WriteAll(p.master.get(), "ab\r");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "ab\n");
}

TEST(PtyTest, CanonicalReadsOneLineAtATime) {
  Pty p;
  WriteAll(p.master.get(), "one\ntwo\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "one\n");
  // A short buffer takes part of a line; the rest stays.
  ASSERT_THAT(read(p.replica.get(), buf, 2), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "tw");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "o\n");
}

TEST(PtyTest, EraseKillWerase) {
  Pty p;
  // ERASE (DEL) removes one character, and ECHOE erases it on the screen.
  WriteAll(p.master.get(), "abx\177c\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "abc\n");
  EXPECT_EQ(ReadAvailable(p.master.get(), 9), "abx\b \bc\r\n");

  // KILL (^U) removes the line; with ECHOKE every character is erased.
  WriteAll(p.master.get(), "foo\025bar\n");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "bar\n");
  EXPECT_EQ(ReadAvailable(p.master.get(), 17), "foo\b \b\b \b\b \bbar\r\n");

  // WERASE (^W) removes the last word and the blanks after it.
  WriteAll(p.master.get(), "one two  \027three\n");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "one three\n");
  ReadAvailable(p.master.get());

  // ERASE on an empty line does nothing.
  WriteAll(p.master.get(), "\177\177x\n");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "x\n");
  EXPECT_EQ(ReadAvailable(p.master.get(), 3), "x\r\n");
}

TEST(PtyTest, EraseWithoutEchoe) {
  Pty p;
  SetLflag(p.replica.get(), 0, ECHOE);
  WriteAll(p.master.get(), "ab\177\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "a\n");
  // The erase character itself is echoed, as ^? under ECHOCTL.
  EXPECT_EQ(ReadAvailable(p.master.get(), 6), "ab^?\r\n");
}

TEST(PtyTest, KillWithEchokOnly) {
  Pty p;
  SetLflag(p.replica.get(), 0, ECHOKE);
  WriteAll(p.master.get(), "ab\025c\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "c\n");
  EXPECT_EQ(ReadAvailable(p.master.get(), 9), "ab^U\r\nc\r\n");
}

TEST(PtyTest, EofEndsALineWithoutItself) {
  Pty p;
  WriteAll(p.master.get(), "abc\004");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  // EOF at the start of a line reads as end of file.
  WriteAll(p.master.get(), "\004");
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  // EOF is not echoed.
  EXPECT_EQ(ReadAvailable(p.master.get()), "abc");
}

TEST(PtyTest, EolIsALineDelimiter) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  t.c_cc[VEOL] = ';';
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "ab;cd\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "ab;");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "cd\n");
}

TEST(PtyTest, EchoctlShowsControlCharacters) {
  Pty p;
  WriteAll(p.master.get(), "a\001\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(ReadAvailable(p.master.get(), 5), "a^A\r\n");
}

TEST(PtyTest, NoEchoButEchonl) {
  Pty p;
  SetLflag(p.replica.get(), ECHONL, ECHO);
  WriteAll(p.master.get(), "secret\n");
  char buf[64];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(7));
  EXPECT_EQ(ReadAvailable(p.master.get(), 2), "\r\n");
}

TEST(PtyTest, InputTranslation) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  t.c_lflag &= ~(ICANON | ECHO);
  t.c_iflag = INLCR;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "a\nb\r");
  EXPECT_EQ(ReadAvailable(p.replica.get(), 4), "a\rb\r");
  t.c_iflag = IGNCR;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "a\rb\n");
  EXPECT_EQ(ReadAvailable(p.replica.get(), 3), "ab\n");
}

// ---- Raw mode ----

TEST(PtyTest, RawModeVminVtime) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  cfmakeraw(&t);
  t.c_cc[VMIN] = 0;
  t.c_cc[VTIME] = 0;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  char buf[64];
  // MIN 0, TIME 0: a poll.
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));

  // MIN 0, TIME 2: waits up to 0.2 s for the first byte.
  t.c_cc[VTIME] = 2;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(5));

  // MIN 3, TIME 0: what is there once MIN bytes came; raw mode sends \r as is.
  t.c_cc[VMIN] = 3;
  t.c_cc[VTIME] = 0;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "ab\rd");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "ab\rd");
  // A buffer smaller than MIN is filled and returned.
  WriteAll(p.master.get(), "xyz");
  ASSERT_THAT(read(p.replica.get(), buf, 2), SyscallSucceedsWithValue(2));
  ASSERT_THAT(read(p.replica.get(), buf, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(buf[0], 'z');

  // MIN 2, TIME 1: after the first byte, the inter-byte timer ends the read.
  t.c_cc[VMIN] = 2;
  t.c_cc[VTIME] = 1;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "q");
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_EQ(buf[0], 'q');
  // Raw mode does not echo.
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN, 50) & POLLIN, 0);
}

TEST(PtyTest, NonblockingReadWithoutInput) {
  Pty p;
  int flags = fcntl(p.replica.get(), F_GETFL);
  ASSERT_THAT(fcntl(p.replica.get(), F_SETFL, flags | O_NONBLOCK), SyscallSucceeds());
  char buf[8];
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EAGAIN));
  flags = fcntl(p.master.get(), F_GETFL);
  ASSERT_THAT(fcntl(p.master.get(), F_SETFL, flags | O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(read(p.master.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EAGAIN));
}

TEST(PtyTest, IcanonOffMakesPartialLineReadable) {
  Pty p;
  SetLflag(p.replica.get(), 0, ECHO);
  WriteAll(p.master.get(), "partial");
  EXPECT_EQ(PollEvents(p.replica.get(), POLLIN, 50) & POLLIN, 0);
  SetLflag(p.replica.get(), 0, ICANON);
  EXPECT_EQ(ReadAvailable(p.replica.get(), 7), "partial");
}

// ---- Output ----

TEST(PtyTest, OnlcrTranslatesOutput) {
  Pty p;
  WriteAll(p.replica.get(), "a\nb");
  EXPECT_EQ(ReadAvailable(p.master.get(), 4), "a\r\nb");
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  t.c_oflag &= ~OPOST;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.replica.get(), "a\nb");
  EXPECT_EQ(ReadAvailable(p.master.get(), 3), "a\nb");
  t.c_oflag = OPOST | OCRNL;
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.replica.get(), "x\ry");
  EXPECT_EQ(ReadAvailable(p.master.get(), 3), "x\ny");
}

TEST(PtyTest, FionreadOnMaster) {
  Pty p;
  WriteAll(p.replica.get(), "abc\n");
  ASSERT_TRUE(PollEvents(p.master.get(), POLLIN, 1000) & POLLIN);
  int n = 0;
  ASSERT_THAT(ioctl(p.master.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 5);
  ASSERT_THAT(ioctl(p.replica.get(), TIOCOUTQ, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);
}

TEST(PtyTest, Tcflush) {
  Pty p;
  SetLflag(p.replica.get(), 0, ECHO);
  WriteAll(p.master.get(), "line\n");
  ASSERT_TRUE(PollEvents(p.replica.get(), POLLIN, 1000) & POLLIN);
  ASSERT_THAT(tcflush(p.replica.get(), TCIFLUSH), SyscallSucceeds());
  EXPECT_EQ(PollEvents(p.replica.get(), POLLIN, 50) & POLLIN, 0);
  // The master's input is what the replica wrote.
  WriteAll(p.replica.get(), "out");
  ASSERT_TRUE(PollEvents(p.master.get(), POLLIN, 1000) & POLLIN);
  ASSERT_THAT(tcflush(p.master.get(), TCIFLUSH), SyscallSucceeds());
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN, 50) & POLLIN, 0);
  EXPECT_THAT(ioctl(p.replica.get(), TCFLSH, 7), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(ioctl(p.master.get(), TCFLSH, 7), SyscallFailsWithErrno(EINVAL));
}

TEST(PtyTest, PacketMode) {
  Pty p;
  int on = 1;
  ASSERT_THAT(ioctl(p.master.get(), TIOCPKT, &on), SyscallSucceeds());
  int got = 0;
  ASSERT_THAT(ioctl(p.master.get(), TIOCGPKT, &got), SyscallSucceeds());
  EXPECT_EQ(got, 1);
  EXPECT_THAT(ioctl(p.replica.get(), TIOCPKT, &on), SyscallFailsWithErrno(ENOTTY));
  WriteAll(p.replica.get(), "x");
  ASSERT_TRUE(PollEvents(p.master.get(), POLLIN, 1000) & POLLIN);
  unsigned char buf[16];
  // Data comes after a TIOCPKT_DATA byte.
  ASSERT_THAT(read(p.master.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_EQ(buf[0], TIOCPKT_DATA);
  EXPECT_EQ(buf[1], 'x');
  // A flush on the replica is reported alone, with POLLPRI.
  ASSERT_THAT(tcflush(p.replica.get(), TCIFLUSH), SyscallSucceeds());
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN | POLLPRI, 1000), POLLIN | POLLPRI);
  ASSERT_THAT(read(p.master.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_EQ(buf[0], TIOCPKT_FLUSHREAD);
}

TEST(PtyTest, Tiocsig) {
  Pty p;
  EXPECT_THAT(ioctl(p.master.get(), TIOCSIG, SIGUSR1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(ioctl(p.replica.get(), TIOCSIG, SIGINT), SyscallFailsWithErrno(ENOTTY));
  // Without a foreground process group the signal goes nowhere.
  EXPECT_THAT(ioctl(p.master.get(), TIOCSIG, SIGINT), SyscallSucceeds());
}

TEST(PtyTest, Tcxonc) {
  Pty p;
  ASSERT_THAT(fcntl(p.replica.get(), F_SETFL, O_RDWR | O_NONBLOCK), SyscallSucceeds());
  ASSERT_THAT(fcntl(p.master.get(), F_SETFL, O_RDWR | O_NONBLOCK), SyscallSucceeds());
  // Each end stops its own output.
  ASSERT_THAT(tcflow(p.replica.get(), TCOOFF), SyscallSucceeds());
  EXPECT_THAT(write(p.replica.get(), "z", 1), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(write(p.master.get(), "m", 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(tcflow(p.replica.get(), TCOON), SyscallSucceeds());
  EXPECT_THAT(write(p.replica.get(), "z", 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(tcflow(p.master.get(), TCOOFF), SyscallSucceeds());
  EXPECT_EQ(PollEvents(p.master.get(), POLLOUT) & POLLOUT, 0);
  EXPECT_THAT(write(p.master.get(), "m", 1), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(tcflow(p.master.get(), TCOON), SyscallSucceeds());
  EXPECT_THAT(write(p.master.get(), "m", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(ioctl(p.replica.get(), TCXONC, 7), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(tcdrain(p.replica.get()), SyscallSucceeds());
}

TEST(PtyTest, PollReadiness) {
  Pty p;
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN | POLLOUT), POLLOUT);
  EXPECT_EQ(PollEvents(p.replica.get(), POLLIN | POLLOUT), POLLOUT);
  WriteAll(p.replica.get(), "x");
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN | POLLOUT, 1000), POLLIN | POLLOUT);
}

// A read blocked on the replica wakes when a line arrives.
TEST(PtyTest, BlockingReadWakesUp) {
  Pty p;
  pid_t pid = ForkChild([&] {
    usleep(100000);
    CHILD_CHECK(write(p.master.get(), "late\n", 5) == 5);
  });
  char buf[16];
  ASSERT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "late\n");
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}


// A signal interrupts a blocked read: EINTR with a handler without SA_RESTART.
TEST(PtyTest, BlockingReadIsInterruptible) {
  EXPECT_CHILD_SUCCEEDS([] {
    Pty p;
    struct sigaction sa = {};
    sa.sa_handler = NoopHandler;
    CHILD_CHECK_SUCCESS(sigaction(SIGALRM, &sa, nullptr));
    alarm(1);
    char buf[8];
    CHILD_CHECK_ERRNO(read(p.replica.get(), buf, sizeof(buf)), EINTR);
  });
}

// ^S stops the replica's output under IXON and ^Q starts it again.
TEST(PtyTest, FlowControlCharacters) {
  Pty p;
  SetLflag(p.replica.get(), 0, ECHO);
  WriteAll(p.master.get(), "\023");
  usleep(50000);  // Linux processes input asynchronously
  int flags = fcntl(p.replica.get(), F_GETFL);
  ASSERT_THAT(fcntl(p.replica.get(), F_SETFL, flags | O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(write(p.replica.get(), "x", 1), SyscallFailsWithErrno(EAGAIN));
  EXPECT_EQ(PollEvents(p.replica.get(), POLLOUT, 50) & POLLOUT, 0);
  WriteAll(p.master.get(), "\021");
  EXPECT_TRUE(PollEvents(p.replica.get(), POLLOUT, 1000) & POLLOUT);
  WriteAll(p.replica.get(), "y");
  EXPECT_EQ(ReadAvailable(p.master.get(), 1), "y");
}

TEST(PtyTest, IsigOffPassesControlCharacters) {
  Pty p;
  struct termios t;
  ASSERT_THAT(tcgetattr(p.replica.get(), &t), SyscallSucceeds());
  t.c_lflag &= ~(ISIG | ICANON | ECHO);
  ASSERT_THAT(tcsetattr(p.replica.get(), TCSANOW, &t), SyscallSucceeds());
  WriteAll(p.master.get(), "\003\032");
  EXPECT_EQ(ReadAvailable(p.replica.get(), 2), "\003\032");
}

// ---- Hang-ups ----

TEST(PtyTest, MasterReadAfterReplicaClosesIsEio) {
  Pty p;
  WriteAll(p.replica.get(), "bye");
  p.replica.reset();
  EXPECT_TRUE(PollEvents(p.master.get(), POLLIN) & POLLHUP);
  // What was written before the close can still be read.
  char buf[16];
  ASSERT_THAT(read(p.master.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_THAT(read(p.master.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EIO));
  // Opening the replica again ends the hang-up.
  FileDescriptor r(open(p.path.c_str(), O_RDWR | O_NOCTTY));
  ASSERT_TRUE(r.valid()) << ErrnoString(errno);
  EXPECT_EQ(PollEvents(p.master.get(), POLLIN) & POLLHUP, 0);
}

TEST(PtyTest, ReplicaAfterMasterCloses) {
  Pty p;
  p.master.reset();
  short ev = PollEvents(p.replica.get(), POLLIN | POLLOUT);
  EXPECT_TRUE(ev & POLLHUP);
  char buf[16];
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(write(p.replica.get(), "x", 1), SyscallFailsWithErrno(EIO));
  struct termios t;
  EXPECT_THAT(tcgetattr(p.replica.get(), &t), SyscallFailsWithErrno(EIO));
}

// A reader blocked on the replica is woken by the hang-up, with EIO (the other end closed while
// it waited; a read that starts after the hang-up sees end of file).
TEST(PtyTest, HangupWakesBlockedReader) {
  Pty p;
  pid_t pid = ForkChild([&] {
    p.replica.reset();
    usleep(100000);
    p.master.reset();
  });
  p.master.reset();
  char buf[16];
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EIO));
  EXPECT_THAT(read(p.replica.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

// ---- Window size ----

TEST(PtyTest, WindowSize) {
  Pty p;
  struct winsize ws = {};
  ASSERT_THAT(ioctl(p.replica.get(), TIOCGWINSZ, &ws), SyscallSucceeds());
  EXPECT_EQ(ws.ws_row, 0);
  EXPECT_EQ(ws.ws_col, 0);
  ws.ws_row = 24;
  ws.ws_col = 80;
  ASSERT_THAT(ioctl(p.master.get(), TIOCSWINSZ, &ws), SyscallSucceeds());
  struct winsize got = {};
  ASSERT_THAT(ioctl(p.replica.get(), TIOCGWINSZ, &got), SyscallSucceeds());
  EXPECT_EQ(got.ws_row, 24);
  EXPECT_EQ(got.ws_col, 80);
}

}  // namespace
}  // namespace moat::testing
