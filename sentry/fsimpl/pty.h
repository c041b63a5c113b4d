// Pseudo-terminals (pty(7)): a Pty is one master/replica pair, its line discipline and its
// state; PtyMaster and PtyReplica are the open ends. devpts (devpts.h) allocates them and shows
// the replicas as /dev/pts/N.
//
// Data flow: the master writes input into the line discipline, the replica reads it; the
// replica writes output (with echo from the input side), the master reads it. The replica is
// also the terminal that job control knows (kernel::Terminal): sessions, foreground process
// group, signals from the ISIG characters and SIGWINCH.
//
// Ownership: the master file, every replica file and the replica's devpts inode hold a reference
// to the Pty; a process whose controlling terminal it is holds one through ThreadGroup::ctty.
// When the master closes, the replica is hung up: its node goes from devpts, its readers see end
// of file, its writers EIO, and the session leader gets SIGHUP.
//
// Lock order: Pty::mu_ > WaitQueue::mu_. Kernel::mu_ (job control, signals) is never held with
// Pty::mu_: the signals that input processing raises are sent after mu_ is released. Blocking
// happens with no lock held.
#ifndef MOAT_SENTRY_FSIMPL_PTY_H_
#define MOAT_SENTRY_FSIMPL_PTY_H_

#include <sys/ioctl.h>

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "sentry/fsimpl/tty_ldisc.h"
#include "sentry/kernel/tty.h"
#include "sentry/kernel/waitqueue.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

using kernel::Task;

class Devpts;

class Pty final : public kernel::Terminal {
 public:
  // `devpts` (not owned) outlives its ptys.
  Pty(Devpts* devpts, uint32_t index) : devpts_(devpts), index_(index) {}

  uint32_t index() const { return index_; }
  bool locked();

  // ---- The ends (PtyMaster and PtyReplica call these) ----
  Result<size_t> MasterRead(Task& t, std::span<uint8_t> dst, bool nonblock);
  Result<size_t> MasterWrite(Task& t, std::span<const uint8_t> src, bool nonblock);
  kernel::EventMask MasterReadiness(kernel::EventMask mask);
  Result<size_t> ReplicaRead(Task& t, std::span<uint8_t> dst, bool nonblock);
  Result<size_t> ReplicaWrite(Task& t, std::span<const uint8_t> src, bool nonblock);
  kernel::EventMask ReplicaReadiness(kernel::EventMask mask);
  // The ioctls of either end that are not about the master's own pty (TIOCGPTN and friends are
  // PtyMaster's). `readable`: the file is open for reading (TIOCSCTTY).
  Result<long> Ioctl(Task& t, bool master, bool readable, uint64_t cmd, UserAddr arg);
  // The master's own: TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCPKT, TIOCGPKT, TIOCSIG. ENOTTY for
  // anything else.
  Result<long> MasterIoctl(Task& t, uint64_t cmd, UserAddr arg);

  // ---- For a sentry thread that is not a task (runsc/console.h relays a host terminal) ----
  // The master's read and write without blocking: EAGAIN when there is nothing to read or no
  // room, EIO as MasterRead once every replica is closed. Signals that the input raises (ISIG)
  // go to the foreground process group through kernel(), once a task has set it.
  Result<size_t> MasterReadNow(std::span<uint8_t> dst);
  Result<size_t> MasterWriteNow(std::span<const uint8_t> src);
  // TIOCSWINSZ from outside: a change signals SIGWINCH to the foreground process group.
  void SetWindowSize(const winsize& ws);
  winsize WindowSize();
  // unlockpt(3) from outside (TIOCSPTLCK 0).
  void Unlock();

  kernel::WaitQueue& master_queue() { return master_q_; }
  kernel::WaitQueue& replica_queue() { return replica_q_; }

  // Open counts. ReplicaOpened fails with EIO while the pty is locked or hung up.
  Result<void> ReplicaOpened();
  void ReplicaClosed();
  void MasterClosed();

 private:
  // Wakes both ends; every change of state may concern either.
  void NotifyLocked(kernel::EventMask events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the signals the line discipline asked for (mu_ released); no kernel, no signals.
  void Deliver(Task& t, const LineDiscipline::Effects& fx);
  void Deliver(kernel::Kernel* k, const LineDiscipline::Effects& fx);
  // Feeds master input to the line discipline and delivers its signals; returns how much went
  // in (0 when the input is full or the master is stopped).
  size_t ReceiveInput(std::span<const uint8_t> src, kernel::Kernel* k);
  Result<long> SetTermios(Task& t, uint64_t cmd, UserAddr arg);
  Result<long> Flush(Task& t, bool master, long arg);

  Devpts* const devpts_;
  const uint32_t index_;

  absl::Mutex mu_;
  LineDiscipline ldisc_ ABSL_GUARDED_BY(mu_);
  bool locked_ ABSL_GUARDED_BY(mu_) = true;  // TIOCSPTLCK; unlockpt clears it
  int replicas_ ABSL_GUARDED_BY(mu_) = 0;    // open replica files
  // The last replica closed (Linux's TTY_OTHER_CLOSED): the master sees POLLHUP and its reads
  // EIO once the data is gone, until a replica is opened again.
  bool other_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool hung_up_ ABSL_GUARDED_BY(mu_) = false;  // the master closed
  winsize winsize_ ABSL_GUARDED_BY(mu_) = {};
  // TIOCPKT: master reads start with a status byte; `packet_status_` holds the TIOCPKT_* events
  // not reported yet.
  bool packet_ ABSL_GUARDED_BY(mu_) = false;
  // TCXONC's TCOOFF on the master: its writes wait (the replica's is the line discipline's).
  bool master_stopped_ ABSL_GUARDED_BY(mu_) = false;
  uint8_t packet_status_ ABSL_GUARDED_BY(mu_) = 0;

  kernel::WaitQueue master_q_;
  kernel::WaitQueue replica_q_;
};

// An open master (/dev/ptmx).
class PtyMaster final : public vfs::FileDescription {
 public:
  PtyMaster(int flags, vfs::Path path, RefPtr<Pty> pty);
  ~PtyMaster() override;

  Result<size_t> Read(Task& t, std::span<uint8_t> dst) override;
  Result<size_t> Write(Task& t, std::span<const uint8_t> src) override;
  Result<long> Ioctl(Task& t, uint64_t cmd, UserAddr arg) override;
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &pty_->master_queue(); }
  // Gives the replica's node to the opener (its fsuid), as devpts_pty_new does.
  Result<void> WaitOpen(Task& t) override;

  Pty& pty() const { return *pty_; }

 private:
  // TIOCGPTPEER: opens the replica with open(2) flags `flags` and installs it.
  Result<long> OpenPeer(Task& t, int flags);

  RefPtr<Pty> pty_;
};

// An open replica: /dev/pts/N, or /dev/tty, which is the opener's controlling terminal.
class PtyReplica final : public vfs::FileDescription {
 public:
  // `pty` is null for /dev/tty until WaitOpen finds the controlling terminal. The caller has
  // counted an open of a non-null `pty` (Pty::ReplicaOpened). `open_flags` are open(2)'s
  // (O_NOCTTY).
  PtyReplica(int open_flags, vfs::Path path, RefPtr<Pty> pty, bool dev_tty);
  ~PtyReplica() override;

  Result<size_t> Read(Task& t, std::span<uint8_t> dst) override;
  Result<size_t> Write(Task& t, std::span<const uint8_t> src) override;
  Result<long> Ioctl(Task& t, uint64_t cmd, UserAddr arg) override;
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return pty_ ? &pty_->replica_queue() : nullptr; }
  // Without O_NOCTTY a session leader without a controlling terminal gets this one; /dev/tty
  // finds the controlling terminal here (ENXIO without one).
  Result<void> WaitOpen(Task& t) override;

 private:
  RefPtr<Pty> pty_;
  const bool noctty_;
  const bool dev_tty_;
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_PTY_H_
