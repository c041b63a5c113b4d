// Controlling terminals and job control: what the kernel knows about a terminal (its session and
// its foreground process group) and Linux's rules around them (drivers/tty/tty_jobctrl.c).
//
// A Terminal is the job-control half of a terminal device; a driver (devpts) derives from it.
// A ThreadGroup's `ctty` holds a reference to its controlling terminal (inherited by fork,
// dropped by setsid); a Terminal names its session and foreground process group by id only, so
// there is no reference cycle.
//
// Locking: a Terminal's `session` and `pgrp` are guarded by Kernel::mu_, like the process groups
// they name. Every function here takes Kernel::mu_ itself unless its name ends in Locked; callers
// must not hold their driver's own locks (a driver collects what it must do under its lock and
// calls in here after releasing it).
#ifndef MOAT_SENTRY_KERNEL_TTY_H_
#define MOAT_SENTRY_KERNEL_TTY_H_

#include <sys/types.h>

#include <atomic>

#include "base/errno.h"
#include "base/ref_counted.h"

namespace moat::kernel {

class Kernel;
class Task;
class ThreadGroup;

class Terminal : public RefCounted<Terminal> {
 public:
  virtual ~Terminal() = default;

  // The session whose controlling terminal this is, and its foreground process group; 0 for
  // none. Guarded by Kernel::mu_.
  pid_t session = 0;
  pid_t pgrp = 0;

  // The kernel of the tasks that use the terminal, for what happens without a task at hand (the
  // hang-up when the master of a pseudo-terminal closes). Set by the first task that opens it.
  void set_kernel(Kernel* k) { kernel_.store(k, std::memory_order_release); }
  Kernel* kernel() const { return kernel_.load(std::memory_order_acquire); }

 private:
  std::atomic<Kernel*> kernel_{nullptr};
};

// TIOCSCTTY: makes `tty` the controlling terminal of the caller's session. EPERM unless the
// caller is a session leader without one, or if the terminal belongs to another session (taken
// away with `arg` 1 and CAP_SYS_ADMIN), or if the file is not open for reading (without
// CAP_SYS_ADMIN). Succeeds without effect if it already is the session's terminal.
Result<void> SetControllingTerminal(Task& t, const RefPtr<Terminal>& tty, long arg, bool readable);

// A process that the kernel starts in a session of its own (the container's init, a process of
// `runsc exec -t`) with the terminal `tty` as its stdio: `tty` becomes the session's controlling
// terminal with the process's group in the foreground, as runc's setsid and TIOCSCTTY make it.
// A session that still holds the terminal loses it first (TIOCSCTTY's steal). Nothing happens
// unless `tg` leads its session.
void AttachNewSessionTerminal(Kernel& k, ThreadGroup* tg, const RefPtr<Terminal>& tty);

// An open of `tty` without O_NOCTTY: a session leader without a controlling terminal gets it if
// the terminal has no session yet and the open is for reading (tty_open_proc_set_tty).
void AcquireOnOpen(Task& t, const RefPtr<Terminal>& tty, bool readable);

// TIOCNOTTY: ENOTTY unless `tty` is the caller's controlling terminal. A session leader gives
// it up for the whole session, and its foreground process group gets SIGHUP and SIGCONT.
Result<void> ReleaseControllingTerminal(Task& t, Terminal& tty);

// The caller's controlling terminal, or null (what /dev/tty opens).
RefPtr<Terminal> ControllingTerminal(Task& t);

// TIOCGPGRP and TIOCGSID. Through the terminal itself (`via_master` false) only its own session
// may ask (ENOTTY); a pseudo-terminal's master may always. TIOCGSID is ENOTTY for a terminal
// without a session; TIOCGPGRP reports 0 then.
Result<pid_t> ForegroundGroup(Task& t, Terminal& tty, bool via_master);
Result<pid_t> TerminalSession(Task& t, Terminal& tty, bool via_master);

// TIOCSPGRP after the job-control check: ENOTTY unless `tty` is the caller's controlling
// terminal, EINVAL for a negative id, ESRCH for an unknown one, EPERM for a process group of
// another session.
Result<void> SetForegroundGroup(Task& t, Terminal& tty, pid_t pgrp);

// Linux's __tty_check_change: a process of a background process group that uses its
// controlling terminal `tty` gets `sig` (SIGTTIN for reads, SIGTTOU for writes with TOSTOP and
// for changing the settings) sent to its process group, and the syscall restarts once it is
// continued (ERESTARTSYS). If the caller ignores or blocks the signal, SIGTTOU lets the
// operation go on and SIGTTIN fails with EIO; an orphaned process group gets EIO. Ok for a
// terminal that is not the caller's controlling terminal, or from the foreground.
Result<void> CheckJobControl(Task& t, Terminal& tty, int sig);

// Sends `sig` from the kernel to the foreground process group of `tty` (ISIG characters,
// SIGWINCH), if it has one.
void SignalForeground(Kernel& k, Terminal& tty, int sig);

// A hang-up of `tty` (its pseudo-terminal master closed): every process of its session loses it
// as controlling terminal, the session leader gets SIGHUP and SIGCONT, and the terminal is free.
void Hangup(Terminal& tty);

// The exit of session leader `tg`: its controlling terminal's foreground process group gets
// SIGHUP, and the session loses the terminal (disassociate_ctty(1)). Kernel::mu_ held.
void DisassociateOnExitLocked(Kernel& k, ThreadGroup* tg);

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_TTY_H_
