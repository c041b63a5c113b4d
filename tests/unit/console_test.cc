// The container's terminal (runsc/console.h): the engine's side is a real host pty master,
// received over a unix socket as an engine receives it; the container's side is the sentry
// replica, read and written through the VFS by a task of a kernel that has no platform (its task
// never runs application code; it only owns the session and takes the signals).
#include "runsc/console.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sentry/fsimpl/pty.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/fd_table.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::runsc {
namespace {

using kernel::Kernel;
using kernel::Task;
using kernel::ThreadGroup;
using vfs::testing::HostTempDir;

// A fake handler address: the signals it catches are queued, never delivered (the task has no
// application), and none of them is fatal.
constexpr uint64_t kFakeHandler = 0x1000;

// A kernel with one process (pid 2, leading session 2) and its one task.
class TestKernel {
 public:
  TestKernel() : k_(nullptr, nullptr) {
    tg_ = MakeRef<ThreadGroup>(2);
    tg_->handlers = MakeRef<kernel::SignalHandlers>();
    for (int sig : {SIGHUP, SIGWINCH, SIGINT, SIGCONT}) {
      tg_->handlers->actions[sig].handler = kFakeHandler;
    }
    task_ = MakeRef<Task>(&k_, tg_, 2, nullptr);
    task_->set_creds(kernel::Credentials::New(0, 0));
    absl::MutexLock l(&k_.mu_);
    tg_->pgid = tg_->sid = 2;
    k_.AddGroup(tg_.get());
    k_.AddTask(task_.get());
    tg_->tasks.push_back(task_.get());
    tg_->leader = task_.get();
  }
  ~TestKernel() {
    absl::MutexLock l(&k_.mu_);
    tg_->ctty.reset();
    tg_->tasks.clear();
    tg_->leader = nullptr;
    k_.RemoveTask(task_.get());
    k_.RemoveGroup(tg_.get());
  }

  Kernel& kernel() { return k_; }
  ThreadGroup* group() { return tg_.get(); }
  Task& task() { return *task_; }

  bool Pending(int sig) {
    absl::MutexLock l(&k_.mu_);
    return tg_->pending.set().Has(sig);
  }
  // Waits up to 5 s for `sig` to be pending.
  bool WaitPending(int sig) {
    for (int i = 0; i < 500; i++) {
      if (Pending(sig)) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  RefPtr<kernel::Terminal> ctty() {
    absl::MutexLock l(&k_.mu_);
    return tg_->ctty;
  }

 private:
  Kernel k_;
  RefPtr<ThreadGroup> tg_;
  RefPtr<Task> task_;
};

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Reads from host fd `fd` until `want` has arrived whole (or 5 s passed); returns what came.
std::string ReadHostUntil(int fd, std::string_view want) {
  std::string got;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (got.find(want) == std::string::npos && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Waits until the sentry file `f` is readable, then reads it once.
std::string ReadSentry(vfs::FileDescription& f, Task& t) {
  for (int i = 0; i < 500 && !(f.Readiness(kernel::kEventIn) & kernel::kEventIn); i++) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (!(f.Readiness(kernel::kEventIn) & kernel::kEventIn)) return "<not readable>";
  std::string buf(256, '\0');
  Result<size_t> n = f.Read(t, std::span(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
  if (!n.ok()) return "<" + n.error().Name() + ">";
  buf.resize(*n);
  return buf;
}

winsize Size(unsigned short rows, unsigned short cols) {
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  return ws;
}

bool SameSize(const winsize& a, const winsize& b) {
  return a.ws_row == b.ws_row && a.ws_col == b.ws_col;
}

fsimpl::Pty& PtyOf(const RefPtr<kernel::Terminal>& t) { return static_cast<fsimpl::Pty&>(*t); }

// Waits up to 5 s for the sentry terminal to have size `ws`.
bool WaitSize(const RefPtr<kernel::Terminal>& t, const winsize& ws) {
  for (int i = 0; i < 500; i++) {
    if (SameSize(PtyOf(t).WindowSize(), ws)) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// The engine's end: a listening unix socket the console connects to.
class Engine {
 public:
  Engine() : path_(dir_ / "console.sock") {
    listener_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener_.get(), 1) != 0) {
      std::abort();
    }
  }
  const std::string& path() const { return path_; }
  // Accepts the console's connection and takes the master from it.
  FileDescriptor Receive(std::string* name) {
    FileDescriptor conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return FileDescriptor();
    absl::StatusOr<FileDescriptor> fd = ReceiveTerminal(conn.get(), name);
    if (!fd.ok()) return FileDescriptor();
    return std::move(*fd);
  }

 private:
  HostTempDir dir_;
  std::string path_;
  FileDescriptor listener_;
};

// A console whose master went to an engine, whose terminal is the controlling terminal of the
// test kernel's session, with its relay running.
class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConsoleOptions opts;
    opts.size = spec::ConsoleSize{24, 80};
    opts.size_check = absl::ZeroDuration();  // resizes come through HostResized() only
    Open(opts);
  }
  void Open(const ConsoleOptions& opts) {
    absl::StatusOr<std::unique_ptr<Console>> c = Console::Create(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    console_ = std::move(*c);
    ASSERT_TRUE(console_->SendToSocket(engine_.path()).ok());
    std::string name;
    master_ = engine_.Receive(&name);
    ASSERT_TRUE(master_.valid());
    EXPECT_EQ(name, "/dev/ptmx");
    term_ = console_->terminal();
    tty_ = console_->TakeContainerTty();
    ASSERT_TRUE(tty_);
    EXPECT_FALSE(console_->TakeContainerTty());
    kernel::AttachNewSessionTerminal(tk_.kernel(), tk_.group(), term_);
    console_->StartRelay();
  }
  void WriteMaster(std::string_view s) {
    ASSERT_EQ(write(master_.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }

  TestKernel tk_;
  Engine engine_;
  std::unique_ptr<Console> console_;
  FileDescriptor master_;
  RefPtr<kernel::Terminal> term_;
  RefPtr<vfs::FileDescription> tty_;
};

TEST_F(ConsoleTest, TheTerminalIsTheSessionsControllingTerminal) {
  EXPECT_EQ(tk_.ctty(), term_);
  EXPECT_EQ(term_->session, 2);
  EXPECT_EQ(term_->pgrp, 2);
  // The initial size is on both pairs.
  winsize ws{};
  ASSERT_EQ(ioctl(master_.get(), TIOCGWINSZ, &ws), 0);
  EXPECT_TRUE(SameSize(ws, Size(24, 80)));
  EXPECT_TRUE(SameSize(PtyOf(term_).WindowSize(), Size(24, 80)));
}

TEST_F(ConsoleTest, EngineInputReachesTheContainerCanonicallyWithEcho) {
  WriteMaster("ab");
  WriteMaster("c\n");
  EXPECT_EQ(ReadSentry(*tty_, tk_.task()), "abc\n");
  // The echo is the sentry line discipline's, with its output processing (ONLCR).
  EXPECT_EQ(ReadHostUntil(master_.get(), "abc\r\n"), "abc\r\n");
}

TEST_F(ConsoleTest, ContainerOutputReachesTheEngine) {
  ASSERT_EQ(*tty_->Write(tk_.task(), Bytes("hello\nworld\n")), 12u);
  EXPECT_EQ(ReadHostUntil(master_.get(), "world\r\n"), "hello\r\nworld\r\n");
}

TEST_F(ConsoleTest, LargeTransfersBothWays) {
  // More than either pty holds at once: the relay must wait for room on both sides.
  std::string line(100, 'x');
  line += '\n';
  std::string out;
  for (int i = 0; i < 300; i++) out += line;
  std::thread writer([&] {
    size_t done = 0;
    while (done < out.size()) {
      Result<size_t> n = tty_->Write(tk_.task(), Bytes(std::string_view(out).substr(done)));
      if (!n.ok()) break;
      done += *n;
    }
  });
  std::string want;
  for (int i = 0; i < 300; i++) want += std::string(100, 'x') + "\r\n";
  std::string got = ReadHostUntil(master_.get(), want);
  writer.join();
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
}

TEST_F(ConsoleTest, InterruptCharacterSignalsTheForegroundGroup) {
  EXPECT_FALSE(tk_.Pending(SIGINT));
  WriteMaster("\x03");
  EXPECT_TRUE(tk_.WaitPending(SIGINT));
}

TEST_F(ConsoleTest, ResizeOfTheMasterReachesTheContainer) {
  ASSERT_FALSE(tk_.Pending(SIGWINCH));
  winsize ws = Size(40, 100);
  ASSERT_EQ(ioctl(master_.get(), TIOCSWINSZ, &ws), 0);
  // What runsc boot does on the SIGWINCH the host sends it.
  console_->HostResized();
  EXPECT_TRUE(WaitSize(term_, ws));
  EXPECT_TRUE(tk_.WaitPending(SIGWINCH));
}

TEST_F(ConsoleTest, ClosingTheMasterHangsTheContainersSessionUp) {
  WriteMaster("pending input");
  master_.Reset();
  ASSERT_TRUE(console_->WaitRelay(absl::Seconds(5)));
  EXPECT_TRUE(tk_.WaitPending(SIGHUP));
  EXPECT_TRUE(tk_.Pending(SIGCONT));
  EXPECT_EQ(tk_.ctty(), nullptr);
  EXPECT_EQ(term_->session, 0);
  // A hung-up terminal reads end of file and fails writes with EIO.
  std::string buf(16, '\0');
  Result<size_t> n = tty_->Read(tk_.task(), std::span(reinterpret_cast<uint8_t*>(buf.data()), 16));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  Result<size_t> w = tty_->Write(tk_.task(), Bytes("x"));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().value(), EIO);
}

TEST_F(ConsoleTest, ClosingTheContainersSideEndsTheRelayAfterItsOutput) {
  ASSERT_EQ(*tty_->Write(tk_.task(), Bytes("bye\n")), 4u);
  tty_.reset();  // the container's last file of the terminal
  ASSERT_TRUE(console_->WaitRelay(absl::Seconds(5)));
  EXPECT_EQ(ReadHostUntil(master_.get(), "bye\r\n"), "bye\r\n");
  // Then the engine's master reads EIO: no replica is left open.
  char c;
  EXPECT_EQ(read(master_.get(), &c, 1), -1);
  EXPECT_EQ(errno, EIO);
  // The sentry master is closed too, as an engine closes its master on that EIO: a session
  // leader that lives on without its terminal files gets SIGHUP, as on Linux.
  EXPECT_TRUE(tk_.WaitPending(SIGHUP));
}

TEST_F(ConsoleTest, StoppingTheRelayLeavesTheTerminalUp) {
  console_->StopRelay();
  EXPECT_FALSE(console_->relay_done());
  EXPECT_EQ(tk_.ctty(), term_);
  // Destroying the console closes the sentry master: a hang-up.
  console_.reset();
  EXPECT_TRUE(tk_.WaitPending(SIGHUP));
}

class PolledConsoleTest : public ConsoleTest {
 protected:
  void SetUp() override {
    ConsoleOptions opts;
    opts.size_check = absl::Milliseconds(20);
    Open(opts);
  }
};

TEST_F(PolledConsoleTest, ResizeIsNoticedWithoutSigwinch) {
  EXPECT_TRUE(SameSize(PtyOf(term_).WindowSize(), Size(0, 0)));
  winsize ws = Size(50, 132);
  ASSERT_EQ(ioctl(master_.get(), TIOCSWINSZ, &ws), 0);
  EXPECT_TRUE(WaitSize(term_, ws));
  EXPECT_TRUE(tk_.WaitPending(SIGWINCH));
}

TEST(ConsoleStdioTest, TakeStdioInstallsTheTerminalThreeTimes) {
  absl::StatusOr<std::unique_ptr<Console>> c = Console::Create();
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<RefPtr<vfs::FdTable>> fds = (*c)->TakeStdio();
  ASSERT_TRUE(fds.ok()) << fds.status();
  RefPtr<vfs::FileDescription> f0 = *(*fds)->Get(0);
  EXPECT_EQ(f0, *(*fds)->Get(1));
  EXPECT_EQ(f0, *(*fds)->Get(2));
  EXPECT_FALSE((*c)->TakeStdio().ok());
}

// The host side of the SIGWINCH path: once a pty replica is a process's controlling terminal,
// a resize of its master signals that process. Done in a child, which may change its session.
TEST(HostTerminalTest, ResizeOfTheMasterSignalsTheControllingProcess) {
  FileDescriptor master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master.valid());
  ASSERT_EQ(unlockpt(master.get()), 0);
  FileDescriptor replica(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(replica.valid());
  int sync[2];
  ASSERT_EQ(pipe2(sync, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, nullptr);
    if (!AttachHostControllingTerminal(replica.get()).ok()) _exit(2);
    char c = 1;
    if (write(sync[1], &c, 1) != 1) _exit(3);
    const timespec five{5, 0};
    _exit(sigtimedwait(&winch, nullptr, &five) == SIGWINCH ? 0 : 1);
  }
  close(sync[1]);
  char c;
  ASSERT_EQ(read(sync[0], &c, 1), 1);
  close(sync[0]);
  winsize ws = Size(33, 77);
  ASSERT_EQ(ioctl(master.get(), TIOCSWINSZ, &ws), 0);
  int st;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "2: TIOCSCTTY failed, 1: no SIGWINCH";
}

// ---- The foreground relay ----

struct HostPty {
  FileDescriptor master, replica;
  HostPty() {
    master.Reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || unlockpt(master.get()) != 0) std::abort();
    replica.Reset(ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!replica) std::abort();
  }
};

TEST(RelayTerminalTest, CopiesBothWaysUntilTheContainerSideCloses) {
  HostPty container;  // stands for the container's terminal: its master is what runsc relays
  termios tio;
  ASSERT_EQ(tcgetattr(container.replica.get(), &tio), 0);
  cfmakeraw(&tio);
  ASSERT_EQ(tcsetattr(container.replica.get(), TCSANOW, &tio), 0);
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  FileDescriptor in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);

  absl::Status status = absl::UnknownError("not run");
  std::thread relay([&] {
    RelayOptions opts;
    opts.in_fd = in_r.get();
    opts.out_fd = out_w.get();
    status = RelayTerminal(container.master.get(), opts);
  });
  ASSERT_EQ(write(in_w.get(), "typed", 5), 5);
  EXPECT_EQ(ReadHostUntil(container.replica.get(), "typed"), "typed");
  ASSERT_EQ(write(container.replica.get(), "shown", 5), 5);
  EXPECT_EQ(ReadHostUntil(out_r.get(), "shown"), "shown");
  // The caller's input ending does not end the relay; the container's side closing does.
  in_w.Reset();
  ASSERT_EQ(write(container.replica.get(), "last", 4), 4);
  container.replica.Reset();
  relay.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(ReadHostUntil(out_r.get(), "last"), "last");
}

TEST(RelayTerminalTest, CallersTerminalIsRawWhileRelayingAndFollowsResizes) {
  HostPty container;
  HostPty caller;  // the user's terminal: runsc's stdin and stdout are its replica
  winsize ws = Size(30, 90);
  ASSERT_EQ(ioctl(caller.master.get(), TIOCSWINSZ, &ws), 0);
  termios before;
  ASSERT_EQ(tcgetattr(caller.replica.get(), &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  int stop[2];
  ASSERT_EQ(pipe2(stop, O_CLOEXEC), 0);
  FileDescriptor stop_r(stop[0]), stop_w(stop[1]);

  absl::Status status = absl::UnknownError("not run");
  std::thread relay([&] {
    RelayOptions opts;
    opts.in_fd = caller.replica.get();
    opts.out_fd = caller.replica.get();
    opts.stop_fd = stop_r.get();
    status = RelayTerminal(container.master.get(), opts);
  });
  // The initial size is copied; then every SIGWINCH copies the new one.
  winsize got{};
  for (int i = 0; i < 500 && !SameSize(got, ws); i++) {
    absl::SleepFor(absl::Milliseconds(10));
    ioctl(container.master.get(), TIOCGWINSZ, &got);
  }
  EXPECT_TRUE(SameSize(got, ws));
  termios during;
  ASSERT_EQ(tcgetattr(caller.replica.get(), &during), 0);
  EXPECT_FALSE(during.c_lflag & (ICANON | ECHO | ISIG));
  ws = Size(45, 120);
  ASSERT_EQ(ioctl(caller.master.get(), TIOCSWINSZ, &ws), 0);
  kill(getpid(), SIGWINCH);
  for (int i = 0; i < 500 && !SameSize(got, ws); i++) {
    absl::SleepFor(absl::Milliseconds(10));
    ioctl(container.master.get(), TIOCGWINSZ, &got);
  }
  EXPECT_TRUE(SameSize(got, ws));
  // Output left in the master when told to stop is still copied.
  ASSERT_EQ(write(container.replica.get(), "final", 5), 5);
  absl::SleepFor(absl::Milliseconds(50));
  stop_w.Reset();
  relay.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(ReadHostUntil(caller.master.get(), "final"), "final");
  termios after;
  ASSERT_EQ(tcgetattr(caller.replica.get(), &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
}

}  // namespace
}  // namespace moat::runsc
