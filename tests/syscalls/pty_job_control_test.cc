// Conformance tests for job control on pseudo-terminals: controlling terminals (TIOCSCTTY,
// TIOCNOTTY, acquisition on open, /dev/tty), the foreground process group (TIOCGPGRP,
// TIOCSPGRP, TIOCGSID), signals from the terminal (ISIG characters, SIGWINCH, SIGTTIN, SIGTTOU)
// and hang-ups of a session (SIGHUP).
//
// Everything that takes a controlling terminal runs in forked children that call setsid()
// first; the test process itself opens replicas with O_NOCTTY.

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/pty_util.h"

namespace moat::testing {
namespace {

TEST(PtyTest, SigwinchOnResize) {
  Pty p;
  int sync[2];
  ASSERT_THAT(pipe(sync), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(sync[0]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    CHILD_CHECK(write(sync[1], "r", 1) == 1);
    struct timespec ts = {10, 0};
    siginfo_t info;
    CHILD_CHECK(sigtimedwait(&set, &info, &ts) == SIGWINCH);
    CHILD_CHECK(info.si_code == SI_KERNEL);
    struct winsize ws;
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCGWINSZ, &ws));
    CHILD_CHECK(ws.ws_row == 50 && ws.ws_col == 132);
  });
  close(sync[1]);
  char c;
  ASSERT_THAT(read(sync[0], &c, 1), SyscallSucceedsWithValue(1));
  close(sync[0]);
  struct winsize ws = {};
  ws.ws_row = 50;
  ws.ws_col = 132;
  ASSERT_THAT(ioctl(p.master.get(), TIOCSWINSZ, &ws), SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

// The child owns the terminal; ^C from the master kills its foreground process group.
TEST(PtyTest, InterruptCharacterSendsSigint) {
  Pty p;
  int sync[2];
  ASSERT_THAT(pipe(sync), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(sync[0]);
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    CHILD_CHECK(tcgetpgrp(p.replica.get()) == getpid());
    pid_t sid = 0;
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCGSID, &sid));
    CHILD_CHECK(sid == getpid());
    CHILD_CHECK(write(sync[1], "r", 1) == 1);
    char buf[16];
    for (;;) {
      ssize_t n = read(p.replica.get(), buf, sizeof(buf));
      (void)n;
    }
  });
  close(sync[1]);
  char c;
  ASSERT_THAT(read(sync[0], &c, 1), SyscallSucceedsWithValue(1));
  close(sync[0]);
  // The master sees the foreground process group of the replica.
  EXPECT_EQ(tcgetpgrp(p.master.get()), pid);
  WriteAll(p.master.get(), "partial");
  EXPECT_EQ(ReadAvailable(p.master.get(), 7), "partial");
  WriteAll(p.master.get(), "\003");
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGINT));
  // ^C is echoed as ^C.
  EXPECT_EQ(ReadAvailable(p.master.get(), 2), "^C");
}

TEST(PtyTest, QuitAndSuspendCharacters) {
  Pty p;
  int sync[2];
  ASSERT_THAT(pipe(sync), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(sync[0]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTSTP);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    CHILD_CHECK(write(sync[1], "r", 1) == 1);
    struct timespec ts = {10, 0};
    CHILD_CHECK(sigtimedwait(&set, nullptr, &ts) == SIGQUIT);
    CHILD_CHECK(sigtimedwait(&set, nullptr, &ts) == SIGTSTP);
  });
  close(sync[1]);
  char c;
  ASSERT_THAT(read(sync[0], &c, 1), SyscallSucceedsWithValue(1));
  close(sync[0]);
  WriteAll(p.master.get(), "\034");
  usleep(50000);
  WriteAll(p.master.get(), "\032");
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(PtyTest, NotTheControllingTerminal) {
  Pty p;
  // The test process does not have this terminal: TIOCGPGRP and TIOCGSID on the replica fail.
  pid_t pg;
  EXPECT_THAT(ioctl(p.replica.get(), TIOCGPGRP, &pg), SyscallFailsWithErrno(ENOTTY));
  EXPECT_THAT(ioctl(p.replica.get(), TIOCGSID, &pg), SyscallFailsWithErrno(ENOTTY));
  pg = getpgrp();
  EXPECT_THAT(ioctl(p.replica.get(), TIOCSPGRP, &pg), SyscallFailsWithErrno(ENOTTY));
  // Through the master, a terminal without a session has no foreground group.
  ASSERT_THAT(ioctl(p.master.get(), TIOCGPGRP, &pg), SyscallSucceeds());
  EXPECT_EQ(pg, 0);
  EXPECT_THAT(ioctl(p.master.get(), TIOCGSID, &pg), SyscallFailsWithErrno(ENOTTY));
}

TEST(PtyTest, ControllingTerminalRules) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    // Not a session leader: TIOCSCTTY fails.
    CHILD_CHECK_ERRNO(ioctl(p.replica.get(), TIOCSCTTY, 0), EPERM);
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    // Again on the same terminal: nothing to do.
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    // A second terminal cannot become the controlling terminal of the same session.
    Pty other;
    CHILD_CHECK_ERRNO(ioctl(other.replica.get(), TIOCSCTTY, 0), EPERM);
    // A process group of another session: EPERM; a missing one: EPERM as well (Linux looks it
    // up in the caller's session).
    pid_t pg = getppid();
    CHILD_CHECK_ERRNO(ioctl(p.replica.get(), TIOCSPGRP, &pg), EPERM);
    pg = -1;
    CHILD_CHECK_ERRNO(ioctl(p.replica.get(), TIOCSPGRP, &pg), EINVAL);
    // A child in a new process group of the session can become the foreground.
    pid_t child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    CHILD_CHECK_SUCCESS(setpgid(child, child));
    CHILD_CHECK_SUCCESS(tcsetpgrp(p.replica.get(), child));
    CHILD_CHECK(tcgetpgrp(p.replica.get()) == child);
    // Back to the leader's group; the leader is in the background now, and SIGTTOU is
    // ignored, so tcsetpgrp works.
    signal(SIGTTOU, SIG_IGN);
    CHILD_CHECK_SUCCESS(tcsetpgrp(p.replica.get(), getpid()));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    // TIOCNOTTY gives the terminal up.
    signal(SIGHUP, SIG_IGN);
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCNOTTY));
    CHILD_CHECK_ERRNO(ioctl(p.replica.get(), TIOCGPGRP, &pg), ENOTTY);
  });
}

// A session leader without a terminal gets the first one it opens without O_NOCTTY.
TEST(PtyTest, OpenMakesControllingTerminal) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setsid());
    int fd = open(p.path.c_str(), O_RDWR);
    CHILD_CHECK_SUCCESS(fd);
    pid_t sid = 0;
    CHILD_CHECK_SUCCESS(ioctl(fd, TIOCGSID, &sid));
    CHILD_CHECK(sid == getpid());
    CHILD_CHECK(tcgetpgrp(fd) == getpid());
    // /dev/tty is the controlling terminal.
    int tty = open("/dev/tty", O_RDWR);
    CHILD_CHECK_SUCCESS(tty);
    CHILD_CHECK(write(tty, "via tty", 7) == 7);
  });
  EXPECT_EQ(ReadAvailable(p.master.get(), 7), "via tty");
}

TEST(PtyTest, OpenWithNocttyDoesNotTakeTheTerminal) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setsid());
    int fd = open(p.path.c_str(), O_RDWR | O_NOCTTY);
    CHILD_CHECK_SUCCESS(fd);
    pid_t sid;
    CHILD_CHECK_ERRNO(ioctl(fd, TIOCGSID, &sid), ENOTTY);
    CHILD_CHECK_ERRNO(open("/dev/tty", O_RDWR), ENXIO);
  });
}

// A process of a background process group that reads its terminal is stopped by SIGTTIN; with
// SIGTTIN ignored the read fails with EIO.
TEST(PtyTest, BackgroundReadGetsSigttin) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    pid_t bg = fork();
    if (bg == 0) {
      CHILD_CHECK_SUCCESS(setpgid(0, 0));
      char buf[8];
      ssize_t n = read(p.replica.get(), buf, sizeof(buf));
      // Continued after the stop: the read restarted and got the line below.
      _exit(n == 3 ? 0 : 1);
    }
    CHILD_CHECK_SUCCESS(bg);
    setpgid(bg, bg);
    int status = 0;
    CHILD_CHECK(waitpid(bg, &status, WUNTRACED) == bg);
    CHILD_CHECK(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTTIN);
    // Bring it to the foreground, give it a line and let it go on.
    signal(SIGTTOU, SIG_IGN);
    CHILD_CHECK_SUCCESS(tcsetpgrp(p.replica.get(), bg));
    CHILD_CHECK(write(p.master.get(), "ok\n", 3) == 3);
    CHILD_CHECK_SUCCESS(kill(bg, SIGCONT));
    CHILD_CHECK(waitpid(bg, &status, 0) == bg);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    // With SIGTTIN ignored, a background read is EIO.
    CHILD_CHECK_SUCCESS(tcsetpgrp(p.replica.get(), getpid()));
    bg = fork();
    if (bg == 0) {
      CHILD_CHECK_SUCCESS(setpgid(0, 0));
      signal(SIGTTIN, SIG_IGN);
      char buf[8];
      CHILD_CHECK_ERRNO(read(p.replica.get(), buf, sizeof(buf)), EIO);
      _exit(0);
    }
    CHILD_CHECK(waitpid(bg, &status, 0) == bg);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

// TOSTOP: a background write raises SIGTTOU; without TOSTOP it goes through.
TEST(PtyTest, BackgroundWriteWithTostop) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    pid_t bg = fork();
    if (bg == 0) {
      CHILD_CHECK_SUCCESS(setpgid(0, 0));
      CHILD_CHECK(write(p.replica.get(), "bg", 2) == 2);
      struct termios t;
      CHILD_CHECK_SUCCESS(tcgetattr(p.replica.get(), &t));
      // Changing the settings from the background is a SIGTTOU too; ignored here, it works.
      signal(SIGTTOU, SIG_IGN);
      t.c_lflag |= TOSTOP;
      CHILD_CHECK_SUCCESS(tcsetattr(p.replica.get(), TCSANOW, &t));
      // Caught, SIGTTOU interrupts the write.
      struct sigaction sa = {};
      sa.sa_handler = NoopHandler;
      CHILD_CHECK_SUCCESS(sigaction(SIGTTOU, &sa, nullptr));
      CHILD_CHECK_ERRNO(write(p.replica.get(), "x", 1), EINTR);
      _exit(0);
    }
    setpgid(bg, bg);
    int status = 0;
    CHILD_CHECK(waitpid(bg, &status, 0) == bg);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
  EXPECT_EQ(ReadAvailable(p.master.get()), "bg");
}

// Closing the master hangs up the session: SIGHUP to its leader.
TEST(PtyTest, MasterCloseSendsSighupToSessionLeader) {
  Pty p;
  int sync[2];
  ASSERT_THAT(pipe(sync), SyscallSucceeds());
  pid_t pid = ForkChild([&] {
    close(sync[0]);
    CHILD_CHECK_SUCCESS(setsid());
    CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
    p.master.reset();
    CHILD_CHECK(write(sync[1], "r", 1) == 1);
    for (;;) pause();
  });
  close(sync[1]);
  char c;
  ASSERT_THAT(read(sync[0], &c, 1), SyscallSucceedsWithValue(1));
  close(sync[0]);
  p.master.reset();
  EXPECT_THAT(WaitForChild(pid), KilledBySignal(SIGHUP));
}

// When the session leader exits, the foreground process group of its terminal gets SIGHUP.
TEST(PtyTest, SessionLeaderExitHangsUpForeground) {
  Pty p;
  EXPECT_CHILD_SUCCEEDS([&] {
    // The foreground process outlives its parent; it comes back to us to be waited for.
    CHILD_CHECK_SUCCESS(prctl(PR_SET_CHILD_SUBREAPER, 1));
    int sync[2];
    CHILD_CHECK_SUCCESS(pipe(sync));
    pid_t leader = fork();
    if (leader == 0) {
      CHILD_CHECK_SUCCESS(setsid());
      CHILD_CHECK_SUCCESS(ioctl(p.replica.get(), TIOCSCTTY, 0));
      pid_t fg = fork();
      if (fg == 0) {
        for (;;) pause();
      }
      CHILD_CHECK_SUCCESS(setpgid(fg, fg));
      CHILD_CHECK_SUCCESS(tcsetpgrp(p.replica.get(), fg));
      CHILD_CHECK(write(sync[1], &fg, sizeof(fg)) == sizeof(fg));
      _exit(0);
    }
    pid_t fg = 0;
    CHILD_CHECK(read(sync[0], &fg, sizeof(fg)) == sizeof(fg));
    int status = 0;
    CHILD_CHECK(waitpid(leader, &status, 0) == leader);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_CHECK(waitpid(fg, &status, 0) == fg);
    CHILD_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
    // The terminal is free again.
    pid_t pg = -1;
    CHILD_CHECK_SUCCESS(ioctl(p.master.get(), TIOCGPGRP, &pg));
    CHILD_CHECK(pg == 0);
  });
}

}  // namespace
}  // namespace moat::testing
