// Controlling terminals and job control (tty.h).
#include "sentry/kernel/tty.h"

#include <linux/capability.h>
#include <signal.h>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::kernel {
namespace {

bool IsSessionLeader(const ThreadGroup& tg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return tg.sid == tg.pid();
}

// Sends `sig` from the kernel (SI_KERNEL) to `tg`. The sandbox's init is protected like any
// PID namespace's init (SIGNAL_UNKILLABLE): a signal it has no handler for is dropped.
void SendKernelSignalLocked(Kernel& k, ThreadGroup* tg, int sig)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (tg->zombie) return;
  if (tg->pid() == 1 && tg->handlers->actions[sig].handler == kSigDfl) return;
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_KERNEL;
  (void)k.SendGroupSignal(tg, info);
}

void SignalGroupLocked(Kernel& k, pid_t pgrp, int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (pgrp <= 0) return;
  for (ThreadGroup* tg : k.Groups()) {
    if (tg->pgid == pgrp) SendKernelSignalLocked(k, tg, sig);
  }
}

// Every process of session `sid` whose controlling terminal is `tty` loses it
// (session_clear_tty does it for the whole session; only `tty` can be theirs).
void ClearSessionTerminalLocked(Kernel& k, pid_t sid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  for (ThreadGroup* tg : k.Groups()) {
    if (tg->sid == sid) tg->ctty.reset();
  }
}

// Makes `tty` the controlling terminal of `tg`'s session (__proc_set_tty).
void AttachLocked(Kernel& k, ThreadGroup* tg, const RefPtr<Terminal>& tty)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  tty->session = tg->sid;
  tty->pgrp = tg->pgid;
  tg->ctty = tty;
  tty->set_kernel(&k);
}

// Gives up the controlling terminal of session leader `tg` (disassociate_ctty): SIGHUP (and
// SIGCONT unless exiting) to the foreground process group, then the session loses the terminal.
void DisassociateLocked(Kernel& k, ThreadGroup* tg, bool on_exit)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  RefPtr<Terminal> tty = tg->ctty;
  if (!tty) return;
  const pid_t fg = tty->pgrp;
  SignalGroupLocked(k, fg, SIGHUP);
  if (!on_exit) SignalGroupLocked(k, fg, SIGCONT);
  tty->session = 0;
  tty->pgrp = 0;
  ClearSessionTerminalLocked(k, tg->sid);
}

}  // namespace

Result<void> SetControllingTerminal(Task& t, const RefPtr<Terminal>& tty, long arg,
                                    bool readable) {
  Kernel& k = t.kernel();
  const bool admin = t.creds()->HasCap(CAP_SYS_ADMIN);
  absl::MutexLock l(&k.mu_);
  ThreadGroup* tg = &t.thread_group();
  if (IsSessionLeader(*tg) && tty->session == tg->sid) return Ok();
  if (!IsSessionLeader(*tg) || tg->ctty) return Errno(EPERM);
  if (tty->session != 0) {
    if (arg != 1 || !admin) return Errno(EPERM);
    // Steal it from its session.
    ClearSessionTerminalLocked(k, tty->session);
  }
  if (!readable && !admin) return Errno(EPERM);
  AttachLocked(k, tg, tty);
  return Ok();
}

void AttachNewSessionTerminal(Kernel& k, ThreadGroup* tg, const RefPtr<Terminal>& tty) {
  absl::MutexLock l(&k.mu_);
  if (!IsSessionLeader(*tg) || tg->ctty == tty) return;
  if (tty->session != 0) ClearSessionTerminalLocked(k, tty->session);
  AttachLocked(k, tg, tty);
}

void AcquireOnOpen(Task& t, const RefPtr<Terminal>& tty, bool readable) {
  Kernel& k = t.kernel();
  tty->set_kernel(&k);
  absl::MutexLock l(&k.mu_);
  ThreadGroup* tg = &t.thread_group();
  if (IsSessionLeader(*tg) && !tg->ctty && tty->session == 0 && readable) AttachLocked(k, tg, tty);
}

Result<void> ReleaseControllingTerminal(Task& t, Terminal& tty) {
  Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  ThreadGroup* tg = &t.thread_group();
  if (tg->ctty.get() != &tty) return Errno(ENOTTY);
  if (IsSessionLeader(*tg)) {
    DisassociateLocked(k, tg, /*on_exit=*/false);
  } else {
    tg->ctty.reset();
  }
  return Ok();
}

RefPtr<Terminal> ControllingTerminal(Task& t) {
  absl::MutexLock l(&t.kernel().mu_);
  return t.thread_group().ctty;
}

Result<pid_t> ForegroundGroup(Task& t, Terminal& tty, bool via_master) {
  absl::MutexLock l(&t.kernel().mu_);
  if (!via_master && t.thread_group().ctty.get() != &tty) return Errno(ENOTTY);
  return tty.pgrp;
}

Result<pid_t> TerminalSession(Task& t, Terminal& tty, bool via_master) {
  absl::MutexLock l(&t.kernel().mu_);
  if (!via_master && t.thread_group().ctty.get() != &tty) return Errno(ENOTTY);
  if (tty.session == 0) return Errno(ENOTTY);
  return tty.session;
}

Result<void> SetForegroundGroup(Task& t, Terminal& tty, pid_t pgrp) {
  if (pgrp < 0) return Errno(EINVAL);
  Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  ThreadGroup* self = &t.thread_group();
  if (self->ctty.get() != &tty || tty.session != self->sid) return Errno(ENOTTY);
  // Linux looks the id up as any pid: a process group, else a process (whose session counts).
  ThreadGroup* member = nullptr;
  for (ThreadGroup* tg : k.Groups()) {
    if (tg->pgid == pgrp && !tg->zombie) {
      member = tg;
      break;
    }
  }
  if (!member) member = k.GroupByPid(pgrp);
  if (!member) return Errno(ESRCH);
  if (member->sid != self->sid) return Errno(EPERM);
  tty.pgrp = pgrp;
  return Ok();
}

Result<void> CheckJobControl(Task& t, Terminal& tty, int sig) {
  Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  ThreadGroup* tg = &t.thread_group();
  if (tg->ctty.get() != &tty) return Ok();
  if (tty.pgrp == 0 || tg->pgid == tty.pgrp) return Ok();
  const bool ignored = t.signal_mask().Has(sig) || tg->handlers->actions[sig].handler == kSigIgn;
  if (ignored) {
    if (sig == SIGTTIN) return Errno(EIO);
    return Ok();
  }
  if (k.IsOrphanedPgrp(tg->pgid)) return Errno(EIO);
  SignalGroupLocked(k, tg->pgid, sig);
  return Errno(kERESTARTSYS);
}

void SignalForeground(Kernel& k, Terminal& tty, int sig) {
  absl::MutexLock l(&k.mu_);
  SignalGroupLocked(k, tty.pgrp, sig);
}

void Hangup(Terminal& tty) {
  Kernel* k = tty.kernel();
  if (!k) return;
  absl::MutexLock l(&k->mu_);
  const pid_t sid = tty.session;
  if (sid == 0) return;
  for (ThreadGroup* tg : k->Groups()) {
    if (tg->sid != sid) continue;
    if (tg->ctty.get() == &tty) tg->ctty.reset();
    if (IsSessionLeader(*tg)) {
      SendKernelSignalLocked(*k, tg, SIGHUP);
      SendKernelSignalLocked(*k, tg, SIGCONT);
    }
  }
  tty.session = 0;
  tty.pgrp = 0;
}

// The header cannot name Kernel::mu_ (kernel.h includes it); callers hold it.
void DisassociateOnExitLocked(Kernel& k, ThreadGroup* tg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (!IsSessionLeader(*tg)) return;
  DisassociateLocked(k, tg, /*on_exit=*/true);
}

}  // namespace moat::kernel
