// The container's terminal (process.terminal; runtime-spec config.md "Console", runc's
// --console-socket), and the relay of `runsc run` / `runsc exec -t` in a terminal.
//
// With process.terminal, runc gives the container a pseudo-terminal and sends its master to the
// engine. Our container must see the sentry's own terminals (sentry/fsimpl/pty.h: their line
// discipline and job control), never a host one, so a Console is two pairs and a bridge:
//
//   engine ── host master ═ host replica ── relay thread ── sentry master ═ sentry replica
//             (sent over     (raw: no echo,  (this file)                     (the container's
//             the socket)    no signals)                                     stdio and ctty)
//
// The host pair only carries bytes: its replica is raw, so that echo, line editing and ^C are
// the sentry line discipline's alone. What the engine writes reaches the sentry's input; what
// the container writes (and the sentry's echo) comes back out.
//
// Window size: the initial one (process.consoleSize) is set on both pairs. A later resize by the
// engine (TIOCSWINSZ on the host master) is copied to the sentry pair, whose line discipline
// then sends SIGWINCH to the container's foreground process group. The relay notices it in two
// ways: at once when HostResized() is called, which is what runsc boot does on SIGWINCH once
// MakeControllingTerminal() has made the host replica its controlling terminal (the host kernel
// then signals runsc boot on every resize); and by checking the host size every 250 ms, which is
// how the consoles that cannot be the process's controlling terminal (a process has only one:
// every `runsc exec -t` console after the first) follow resizes.
//
// Ends: when the engine closes the master (the host replica hangs up), the relay closes the
// sentry master, so that the container's session gets SIGHUP, reads end of file and writes fail
// with EIO, as on Linux. When every file of the sentry replica is closed (the container's
// processes are gone), the relay writes out what is left and closes the host replica: the
// engine's reads of the master then fail with EIO, its sign that the container's side is gone.
// It closes the sentry master then too, as an engine closes its master on that EIO: a session
// leader that lives on without its terminal gets SIGHUP, as it would on Linux.
//
// Use in runsc boot (the sentry process):
//   1. Console::Create({size, mounts, uid}) while the host's /dev/ptmx is reachable (before any
//      pivot or seccomp filter);
//   2. SendToSocket(console_socket), which hands the host master over and closes runsc's copy;
//   3. init.fds = TakeStdio(); init.controlling_tty = terminal(); then Kernel::Start;
//   4. optionally MakeControllingTerminal(), with SIGWINCH routed to HostResized() and SIGHUP
//      kept from killing runsc boot (blocked or ignored: the engine's close sends it; the
//      container gets its own SIGHUP from the sentry);
//   5. StartRelay(); the destructor stops it (and hangs the container's terminal up).
//
// Ownership: the Console owns both host fds and the sentry master; the relay thread uses them
// until it is joined (StopRelay or the destructor). A Console must be destroyed before the
// kernel whose session its terminal is (its hang-up signals that session). TakeStdio/TakeContainerTty hand the only open
// sentry replica over. Locks: none of the Console's own; the relay calls the Pty (Pty::mu_) and,
// through it, the kernel (Kernel::mu_), never holding anything.
#ifndef MOAT_RUNSC_CONSOLE_H_
#define MOAT_RUNSC_CONSOLE_H_

#include <sys/ioctl.h>
#include <sys/types.h>
#include <termios.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "base/ref_counted.h"
// GNU C++ predefines `linux` as 1, which spec.h's `Linux linux` field cannot survive; spec.h
// will deal with it itself, this keeps the include working until it does.
#undef linux
#include "runsc/spec/spec.h"
#include "sentry/kernel/tty.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {
class Pty;
}
namespace moat::vfs {
class FdTable;
}

namespace moat::runsc {

struct ConsoleOptions {
  // process.consoleSize; none leaves 0x0, as runc does.
  std::optional<spec::ConsoleSize> size;
  // The container's mount namespace, to name the sentry replica through its devpts mount
  // (/dev/pts/N, what ttyname(3) and /proc/self/fd show). Null: the replica has no mount.
  vfs::MountNamespace* mounts = nullptr;
  // Owner of /dev/pts/N: the container process's uid (the group is tty, mode 0620).
  uid_t uid = 0;
  // How often the relay checks the host size without a HostResized() call; zero: never.
  absl::Duration size_check = absl::Milliseconds(250);
};

// A Console's host pair. The sentry opens no host path (runsc/confine.h), so the pair is opened
// and its master sent to the engine before the sentry is forked (runsc boot, runsc do), or by
// the command that asks for a terminal (`runsc exec -t`, which passes the replica on).
struct HostTerminal {
  FileDescriptor master;  // none once sent
  FileDescriptor replica;
};

// Opens a host pair: the master, and its replica, which becomes no one's controlling terminal.
absl::StatusOr<HostTerminal> OpenHostTerminal();

// Connects to the unix socket `path` and sends `master` as runc does (utils.SendFd): one message
// whose data is the master's name, "/dev/ptmx", with the fd in SCM_RIGHTS. Closes `master`: from
// then on the engine's close is the hang-up.
absl::Status SendMasterToSocket(FileDescriptor& master, const std::string& path);

class Console {
 public:
  // Opens both pairs, makes the host replica raw and non-blocking, sets the initial size.
  static absl::StatusOr<std::unique_ptr<Console>> Create(const ConsoleOptions& opts = {});
  // The same on a host pair opened before (its master may have been sent already).
  static absl::StatusOr<std::unique_ptr<Console>> Create(const ConsoleOptions& opts,
                                                         HostTerminal host);
  // Stops the relay; closing the sentry master hangs the container's terminal up.
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // SendMasterToSocket of the host master.
  absl::Status SendToSocket(const std::string& path);
  // The host master, for a caller that relays it itself (RelayTerminal) or a test.
  FileDescriptor TakeHostMaster() { return std::move(host_master_); }

  // The sentry replica, open O_RDWR, for the container's stdio. The Console keeps no reference
  // to it: once every file of it is closed, the relay ends. Null after the first call.
  RefPtr<vfs::FileDescription> TakeContainerTty() { return std::move(replica_); }
  // A new fd table with TakeContainerTty() at fds 0, 1 and 2 (InitProcess::fds).
  absl::StatusOr<RefPtr<vfs::FdTable>> TakeStdio();
  // The sentry terminal, for InitProcess::controlling_tty.
  RefPtr<kernel::Terminal> terminal() const;
  // N of /dev/pts/N in the sandbox.
  uint32_t index() const;

  // Makes the host replica the controlling terminal of the calling process (setsid if it is not
  // a session leader yet, then TIOCSCTTY), so that the host kernel sends it SIGWINCH when the
  // engine resizes the master. The caller routes SIGWINCH to HostResized().
  absl::Status MakeControllingTerminal();
  // The host size may have changed: the relay copies it to the sentry terminal. Only writes to
  // an eventfd: safe in a signal handler.
  void HostResized();

  // Starts the relay thread (once).
  void StartRelay();
  // Stops and joins the relay; the sentry master stays open (the destructor closes it).
  void StopRelay();
  // Whether the relay has ended by itself (the engine hung up, or the container's side closed).
  bool relay_done() const { return relay_done_.load(); }
  // Waits up to `timeout` for the relay to end by itself; false on timeout.
  bool WaitRelay(absl::Duration timeout);

 private:
  Console() = default;
  void Relay();
  // Copies the host replica's size to the sentry terminal if it changed.
  void SyncSize();

  FileDescriptor host_master_;
  FileDescriptor host_replica_;  // raw and O_NONBLOCK; the relay's
  RefPtr<vfs::FileDescription> master_;  // the sentry master; the relay's while it runs
  RefPtr<fsimpl::Pty> pty_;
  RefPtr<vfs::FileDescription> replica_;  // until handed over
  FileDescriptor wake_;      // eventfd: HostResized, StopRelay
  FileDescriptor pty_wake_;  // eventfd: the sentry master's wait queue
  winsize size_{};           // last size given to the sentry terminal (relay thread)
  absl::Duration size_check_;
  std::thread relay_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> relay_done_{false};
};

// Receives a terminal master sent as SendToSocket sends it, from the connected socket `conn`.
// `name` (optional) gets the message's data.
absl::StatusOr<FileDescriptor> ReceiveTerminal(int conn, std::string* name = nullptr);

// The foreground case (`runsc run` or `runsc exec -t` in a terminal, without --console-socket):
// like runc, runsc relays its own stdio to the terminal master it received.
struct RelayOptions {
  int in_fd = 0;   // copied to the master until it ends
  int out_fd = 1;  // gets what the master reads
  // When this fd becomes readable (for example a pipe closed when the container exits), the
  // relay copies what the master still holds and returns. -1: none.
  int stop_fd = -1;
};
// Copies in_fd to `master_fd` and `master_fd` to out_fd until the master's replica side is
// closed (EIO) or stop_fd is readable. If in_fd is a terminal, it is raw while the relay runs
// (restored on return), its size is copied to the master at the start and on every SIGWINCH (a
// handler is installed for the duration, and SIGWINCH unblocked in the calling thread). SIGPIPE
// is held off: a closed out_fd ends the relay with an error.
absl::Status RelayTerminal(int master_fd, const RelayOptions& opts = {});

// Puts terminal `fd` in raw mode (cfmakeraw) until destroyed; nothing if `fd` is no terminal.
class ScopedRawTerminal {
 public:
  explicit ScopedRawTerminal(int fd);
  ~ScopedRawTerminal();
  ScopedRawTerminal(const ScopedRawTerminal&) = delete;
  ScopedRawTerminal& operator=(const ScopedRawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
};

// Attaches host terminal `fd` as the caller's controlling terminal (setsid first unless the
// caller already leads its session). Used by MakeControllingTerminal; exposed for tests.
absl::Status AttachHostControllingTerminal(int fd);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_CONSOLE_H_
