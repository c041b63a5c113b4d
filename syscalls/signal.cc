// Signal syscalls: dispositions, masks, sending, waiting, alternate stacks.
#include <linux/capability.h>

#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::KernelSigAction;
using kernel::SigSet;
using kernel::ThreadGroup;

namespace {

siginfo_t UserSiginfo(Task& t, int sig, int code) {
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = code;
  info.si_pid = t.pid();
  info.si_uid = t.creds()->ruid;
  return info;
}

// Linux's check_kill_permission: the sender's real or effective uid matches the target's real or
// saved uid, or the sender has CAP_KILL; SIGCONT within a session is always allowed.
bool MaySignal(Task& sender, ThreadGroup* target, int sig) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (&sender.thread_group() == target) return true;
  RefPtr<kernel::Credentials> s = sender.creds();
  if (s->HasCap(CAP_KILL)) return true;
  if (sig == SIGCONT && sender.thread_group().sid == target->sid) return true;
  Task* tt = target->leader ? target->leader : (target->tasks.empty() ? nullptr : target->tasks.front());
  if (!tt) return true;
  RefPtr<kernel::Credentials> d = tt->creds();
  return s->euid == d->suid || s->euid == d->ruid || s->ruid == d->suid || s->ruid == d->ruid;
}

// The init process of the sandbox only gets signals it has a handler for from inside its PID
// namespace (SIGNAL_UNKILLABLE), SIGKILL and SIGSTOP included; a blocked signal is queued all the
// same, since the handler may change before it is unblocked.
bool InitIgnores(ThreadGroup* tg, int sig) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (tg->pid() != 1) return false;
  Task* main = tg->leader ? tg->leader : (tg->tasks.empty() ? nullptr : tg->tasks.front());
  if (main && main->RealBlocked().Has(sig)) return false;
  uint64_t h = tg->handlers->actions[sig].handler;
  return h == kernel::kSigDfl || h == kernel::kSigIgn || sig == SIGKILL || sig == SIGSTOP;
}

Result<void> SendToGroup(Task& t, ThreadGroup* tg, const siginfo_t& info)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  int sig = info.si_signo;
  if (!MaySignal(t, tg, sig)) return Errno(EPERM);
  if (sig == 0 || InitIgnores(tg, sig)) return Ok();
  return t.kernel().SendGroupSignal(tg, info);
}

Result<SigSet> CopyInSigset(Task& t, UserAddr addr, uint64_t size) {
  if (size != sizeof(uint64_t)) return Errno(EINVAL);
  uint64_t bits = TRY(t.CopyInObj<uint64_t>(addr));
  return SigSet(bits);
}

}  // namespace

// rt_sigaction(2)
Result<long> RtSigaction(Task& t, const SyscallArgs& a) {
  int sig = a.Int32(0);
  if (a.Uint(3) != sizeof(uint64_t)) return Errno(EINVAL);
  if (!kernel::ValidSignal(sig)) return Errno(EINVAL);
  std::optional<KernelSigAction> act;
  if (!a.Addr(1).IsNull()) {
    if (sig == SIGKILL || sig == SIGSTOP) return Errno(EINVAL);
    act = TRY(t.CopyInObj<KernelSigAction>(a.Addr(1)));
    act->mask &= ~kernel::kUnblockable.bits();
  }
  KernelSigAction old;
  {
    kernel::Kernel& k = t.kernel();
    absl::MutexLock l(&k.mu_);
    ThreadGroup& tg = t.thread_group();
    old = tg.handlers->actions[sig];
    if (act) {
      tg.handlers->actions[sig] = *act;
      // POSIX: setting a signal to be ignored discards it where it is pending.
      bool ignored = act->handler == kernel::kSigIgn ||
                     (act->handler == kernel::kSigDfl &&
                      kernel::DefaultActionOf(sig) == kernel::DefaultAction::kIgnore);
      if (ignored) {
        tg.pending.Discard(SigSet::Of(sig));
        for (Task* other : tg.tasks) other->pending_signals().Discard(SigSet::Of(sig));
      }
    }
  }
  if (!a.Addr(2).IsNull()) TRY(t.CopyOutObj(a.Addr(2), old));
  return 0;
}

// rt_sigprocmask(2)
Result<long> RtSigprocmask(Task& t, const SyscallArgs& a) {
  if (a.Uint(3) != sizeof(uint64_t)) return Errno(EINVAL);
  SigSet old = t.signal_mask();
  if (!a.Addr(1).IsNull()) {
    SigSet set = TRY(CopyInSigset(t, a.Addr(1), a.Uint(3)));
    SigSet next;
    switch (a.Int32(0)) {
      case SIG_BLOCK:
        next = old | set;
        break;
      case SIG_UNBLOCK:
        next = old & ~set;
        break;
      case SIG_SETMASK:
        next = set;
        break;
      default:
        return Errno(EINVAL);
    }
    t.SetSignalMask(next);
  }
  if (!a.Addr(2).IsNull()) TRY(t.CopyOutObj(a.Addr(2), old.bits()));
  return 0;
}

// rt_sigreturn(2)
Result<long> RtSigreturn(Task& t, const SyscallArgs&) { return t.SigReturn(); }

// rt_sigpending(2): pending signals that are blocked.
Result<long> RtSigpending(Task& t, const SyscallArgs& a) {
  if (a.Uint(1) > sizeof(uint64_t)) return Errno(EINVAL);
  uint64_t bits;
  {
    absl::MutexLock l(&t.kernel().mu_);
    bits = (t.PendingSet() & t.signal_mask()).bits();
  }
  TRY(t.CopyOut(a.Addr(0), &bits, a.Uint(1)));
  return 0;
}

// rt_sigsuspend(2)
Result<long> RtSigsuspend(Task& t, const SyscallArgs& a) {
  SigSet mask = TRY(CopyInSigset(t, a.Addr(0), a.Uint(1)));
  t.SetTemporaryMask(mask);
  while (t.Block().ok()) {
  }
  return Errno(kERESTARTNOHAND);
}

// pause(2)
Result<long> Pause(Task& t, const SyscallArgs&) {
  while (t.Block().ok()) {
  }
  return Errno(kERESTARTNOHAND);
}

// rt_sigtimedwait(2)
Result<long> RtSigtimedwait(Task& t, const SyscallArgs& a) {
  SigSet set = TRY(CopyInSigset(t, a.Addr(0), a.Uint(3))) & ~kernel::kUnblockable;
  std::optional<absl::Time> deadline;
  if (!a.Addr(2).IsNull()) {
    timespec ts = TRY(t.CopyInObj<timespec>(a.Addr(2)));
    if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
    deadline = absl::Now() + absl::DurationFromTimespec(ts);
  }
  kernel::Kernel& k = t.kernel();
  std::optional<siginfo_t> got;
  {
    absl::MutexLock l(&k.mu_);
    got = t.DequeueSignal(set);
  }
  if (!got) {
    // While waiting, the awaited signals are unblocked so that sending one wakes this thread;
    // they are taken here, not delivered to a handler.
    t.BeginSigwait(set);
    for (;;) {
      Result<void> b = t.Block(deadline);
      absl::MutexLock l(&k.mu_);
      got = t.DequeueSignal(set);
      if (got || !b.ok()) break;
    }
    t.EndSigwait();
    if (!got) {
      absl::MutexLock l(&k.mu_);
      bool timed_out = deadline && absl::Now() >= *deadline;
      return Errno(timed_out ? EAGAIN : EINTR);
    }
  }
  if (!a.Addr(1).IsNull()) TRY(t.CopyOutObj(a.Addr(1), *got));
  return got->si_signo;
}

// rt_sigqueueinfo(2)
Result<long> RtSigqueueinfo(Task& t, const SyscallArgs& a) {
  int sig = a.Int32(1);
  if (!kernel::ValidSignal(sig)) return Errno(EINVAL);
  siginfo_t info = TRY(t.CopyInObj<siginfo_t>(a.Addr(2)));
  info.si_signo = sig;
  pid_t pid = a.Int32(0);
  // Only the kernel may claim si_code >= 0, except to oneself.
  if ((info.si_code >= 0 || info.si_code == SI_TKILL) && pid != t.pid()) return Errno(EPERM);
  absl::MutexLock l(&t.kernel().mu_);
  ThreadGroup* tg = t.kernel().GroupByPid(pid);
  if (!tg || tg->zombie) return Errno(ESRCH);
  TRY(SendToGroup(t, tg, info));
  return 0;
}

// rt_tgsigqueueinfo(2)
Result<long> RtTgsigqueueinfo(Task& t, const SyscallArgs& a) {
  pid_t tgid = a.Int32(0), tid = a.Int32(1);
  int sig = a.Int32(2);
  if (tgid <= 0 || tid <= 0 || !kernel::ValidSignal(sig)) return Errno(EINVAL);
  siginfo_t info = TRY(t.CopyInObj<siginfo_t>(a.Addr(3)));
  info.si_signo = sig;
  if ((info.si_code >= 0 || info.si_code == SI_TKILL) && tgid != t.pid()) return Errno(EPERM);
  absl::MutexLock l(&t.kernel().mu_);
  Task* target = t.kernel().TaskByTid(tid);
  if (!target || target->pid() != tgid) return Errno(ESRCH);
  if (!MaySignal(t, &target->thread_group(), sig)) return Errno(EPERM);
  TRY(t.kernel().SendThreadSignal(target, info));
  return 0;
}

// kill(2)
Result<long> Kill(Task& t, const SyscallArgs& a) {
  pid_t pid = a.Int32(0);
  int sig = a.Int32(1);
  if (sig != 0 && !kernel::ValidSignal(sig)) return Errno(EINVAL);
  kernel::Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  siginfo_t info = UserSiginfo(t, sig, SI_USER);
  if (pid > 0) {
    ThreadGroup* tg = k.GroupByPid(pid);
    if (!tg) return Errno(ESRCH);
    if (tg->zombie) return 0;  // a zombie still exists until reaped
    TRY(SendToGroup(t, tg, info));
    return 0;
  }
  if (pid == INT32_MIN) return Errno(ESRCH);
  // A process group (0: the caller's), or every process (-1) but init and the caller.
  pid_t pgid = pid == 0 ? t.thread_group().pgid : -pid;
  bool found = false;
  std::optional<Errno> err;
  for (ThreadGroup* tg : k.Groups()) {
    if (tg->zombie) continue;
    if (pid == -1) {
      if (tg->pid() == 1 || tg == &t.thread_group()) continue;
    } else if (tg->pgid != pgid) {
      continue;
    }
    found = true;
    Result<void> r = SendToGroup(t, tg, info);
    if (!r.ok()) err = r.error();
  }
  if (!found) return Errno(ESRCH);
  // Linux succeeds if any process could be signalled.
  if (err && pid != -1) return *err;
  return 0;
}

// tkill(2)
Result<long> Tkill(Task& t, const SyscallArgs& a) {
  pid_t tid = a.Int32(0);
  int sig = a.Int32(1);
  if (tid <= 0 || (sig != 0 && !kernel::ValidSignal(sig))) return Errno(EINVAL);
  absl::MutexLock l(&t.kernel().mu_);
  Task* target = t.kernel().TaskByTid(tid);
  if (!target) return Errno(ESRCH);
  if (!MaySignal(t, &target->thread_group(), sig)) return Errno(EPERM);
  if (sig == 0) return 0;
  TRY(t.kernel().SendThreadSignal(target, UserSiginfo(t, sig, SI_TKILL)));
  return 0;
}

// tgkill(2)
Result<long> Tgkill(Task& t, const SyscallArgs& a) {
  pid_t tgid = a.Int32(0), tid = a.Int32(1);
  int sig = a.Int32(2);
  if (tgid <= 0 || tid <= 0 || (sig != 0 && !kernel::ValidSignal(sig))) return Errno(EINVAL);
  absl::MutexLock l(&t.kernel().mu_);
  Task* target = t.kernel().TaskByTid(tid);
  if (!target || target->pid() != tgid) return Errno(ESRCH);
  if (!MaySignal(t, &target->thread_group(), sig)) return Errno(EPERM);
  if (sig == 0) return 0;
  TRY(t.kernel().SendThreadSignal(target, UserSiginfo(t, sig, SI_TKILL)));
  return 0;
}

// sigaltstack(2)
Result<long> Sigaltstack(Task& t, const SyscallArgs& a) {
  uint64_t sp = t.context().Regs().rsp;
  stack_t old = t.ReportedAltStack(sp);
  if (!a.Addr(0).IsNull()) {
    stack_t ss = TRY(t.CopyInObj<stack_t>(a.Addr(0)));
    TRY(t.SetAltStack(ss, sp));
  }
  if (!a.Addr(1).IsNull()) TRY(t.CopyOutObj(a.Addr(1), old));
  return 0;
}

}  // namespace moat::syscalls
