// Signals: sending (Kernel), delivery at the return to the application (Task), frames and
// rt_sigreturn, group stop and continue.
#include <sys/syscall.h>

#include <cstring>

#include "base/log.h"
#include "sentry/arch/signal_frame.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::kernel {
namespace {

constexpr size_t kMinSigStackSize = 2048;  // the kernel's MINSIGSTKSZ

bool IsIgnored(ThreadGroup* tg, int sig, SigSet blocked) {
  if (blocked.Has(sig)) return false;  // the handler may change before it is unblocked
  const KernelSigAction& a = tg->handlers->actions[sig];
  if (a.handler == kSigIgn) return true;
  return a.handler == kSigDfl && DefaultActionOf(sig) == DefaultAction::kIgnore;
}

bool IsFatal(ThreadGroup* tg, int sig) {
  if (tg->handlers->actions[sig].handler != kSigDfl) return false;
  DefaultAction d = DefaultActionOf(sig);
  return d == DefaultAction::kTerminate || d == DefaultAction::kCore;
}

size_t RtQueueLimit(ThreadGroup* tg) {
  rlimit r = tg->GetRlimit(RLIMIT_SIGPENDING);
  return r.rlim_cur == RLIM_INFINITY ? SIZE_MAX : r.rlim_cur;
}

void DiscardEverywhere(ThreadGroup* tg, SigSet set) {
  tg->pending.Discard(set);
  for (Task* t : tg->tasks) t->pending_signals().Discard(set);
}

}  // namespace

// Applies what a signal does at the moment it is sent, whatever the target does with it later:
// SIGCONT resumes a stopped group and cancels pending stops; a stop signal cancels a pending
// SIGCONT. Returns false if the signal is to be dropped as ignored.
static bool PrepareSignal(Kernel& k, ThreadGroup* tg, int sig, SigSet blocked)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (kStopSignals.Has(sig)) {
    DiscardEverywhere(tg, SigSet::Of(SIGCONT));
  } else if (sig == SIGCONT) {
    DiscardEverywhere(tg, kStopSignals);
    bool was_stopped = tg->stopped;
    if (tg->stop_signal != 0 || tg->stopped) {
      tg->stop_signal = 0;
      tg->stopped = false;
      tg->stop_cv.SignalAll();
      for (Task* t : tg->tasks) t->Kick();
    }
    if (was_stopped) k.NotifyParentOfStop(tg, ChildEvent::kContinued, SIGCONT);
  }
  return !IsIgnored(tg, sig, blocked);
}

// Picks the thread that handles a group signal and wakes it; starts the group exit at once for a
// fatal signal nobody blocks.
static void CompleteSignal(Kernel& k, ThreadGroup* tg, Task* target, int sig)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  Task* t = target;
  if (!t) {
    if (tg->leader && !tg->leader->signal_mask().Has(sig)) {
      t = tg->leader;
    } else {
      for (Task* c : tg->tasks) {
        if (!c->signal_mask().Has(sig)) {
          t = c;
          break;
        }
      }
    }
  }
  if (!t || t->signal_mask().Has(sig)) return;  // stays pending until unblocked
  if (IsFatal(tg, sig) && !t->RealBlocked().Has(sig)) {
    k.StartGroupExit(tg, sig);
    return;
  }
  t->Kick();
}

Result<void> Kernel::SendGroupSignal(ThreadGroup* tg, const siginfo_t& info) {
  int sig = info.si_signo;
  if (tg->zombie || tg->exiting || tg->tasks.empty()) return Ok();
  SigSet blocked = tg->leader ? tg->leader->RealBlocked() : tg->tasks.front()->RealBlocked();
  if (!PrepareSignal(*this, tg, sig, blocked)) return Ok();
  if (sig == SIGKILL) {
    StartGroupExit(tg, SIGKILL);
    return Ok();
  }
  if (!tg->pending.Enqueue(info, RtQueueLimit(tg))) {
    return sig >= kSigRtMin ? Result<void>(Errno(EAGAIN)) : Ok();
  }
  signal_queue_.Notify(kEventIn);
  CompleteSignal(*this, tg, nullptr, sig);
  return Ok();
}

Result<void> Kernel::SendThreadSignal(Task* t, const siginfo_t& info) {
  int sig = info.si_signo;
  ThreadGroup* tg = &t->thread_group();
  if (t->exited_ || tg->exiting) return Ok();
  if (!PrepareSignal(*this, tg, sig, t->RealBlocked())) return Ok();
  if (sig == SIGKILL) {
    StartGroupExit(tg, SIGKILL);
    return Ok();
  }
  if (!t->pending_.Enqueue(info, RtQueueLimit(tg))) {
    return sig >= kSigRtMin ? Result<void>(Errno(EAGAIN)) : Ok();
  }
  signal_queue_.Notify(kEventIn);
  CompleteSignal(*this, tg, t, sig);
  return Ok();
}

void Kernel::StartGroupExit(ThreadGroup* tg, int status, bool caller_exits) {
  if (tg->exiting) return;
  tg->exiting = true;
  tg->exit_status = status;
  tg->stop_signal = 0;
  tg->stop_cv.SignalAll();
  for (Task* t : tg->tasks) t->Kill();
  // Every thread of the host process dies now, even one blocked in a passthrough syscall; each
  // task thread then sees its thread's exit.
  if (!tg->tasks.empty() && !caller_exits) tg->tasks.front()->context().KillProcess();
  if (tg == init_) KillNamespace();
}

void Kernel::KillNamespace() {
  // The init's host process, as it exits, kills every other process of the PID namespace
  // (zap_pid_ns_processes) and waits until each is reaped. Their task threads reap them, so they
  // must stop waiting in the sentry now, not when their syscalls would have ended.
  for (auto& [pid, other] : groups_) {
    if (other.get() != init_ && !other->zombie) StartGroupExit(other.get(), SIGKILL);
  }
}

bool Kernel::IsOrphanedPgrp(pid_t pgrp) {
  for (ThreadGroup* tg : Groups()) {
    if (tg->pgid != pgrp || tg->zombie) continue;
    ThreadGroup* parent = tg->parent;
    if (parent && parent->pgid != pgrp && parent->sid == tg->sid) return false;
  }
  return true;
}

void Kernel::NotifyParentOfStop(ThreadGroup* tg, ChildEvent ev, int sig) {
  tg->pending_event = ev;
  if (ev == ChildEvent::kStopped) tg->reported_stop_signal = sig;
  ThreadGroup* parent = tg->parent;
  if (!parent) return;
  if (!(parent->handlers->actions[SIGCHLD].flags & SA_NOCLDSTOP)) {
    siginfo_t info{};
    info.si_signo = SIGCHLD;
    info.si_code = ev == ChildEvent::kStopped ? CLD_STOPPED : CLD_CONTINUED;
    info.si_pid = tg->pid();
    info.si_status = sig;
    if (tg->leader) info.si_uid = tg->leader->creds()->ruid;
    (void)SendGroupSignal(parent, info);
  }
  parent->child_wq.Notify(kEventAll);
}

// ---- Task side ----

SigSet Task::signal_mask() const { return mask_; }

PendingSignals& Task::pending_signals() { return pending_; }

void Task::SetSignalMask(SigSet mask) {
  absl::MutexLock l(&kernel_->mu_);
  mask_ = mask & ~kUnblockable;
  if (NextSignal(pending_.set() | tg_->pending.set(), mask_) != 0) interrupted_.store(true);
}

void Task::SetTemporaryMask(SigSet mask) {
  absl::MutexLock l(&kernel_->mu_);
  if (!saved_mask_) saved_mask_ = mask_;
  mask_ = mask & ~kUnblockable;
  if (NextSignal(pending_.set() | tg_->pending.set(), mask_) != 0) interrupted_.store(true);
}

void Task::BeginSigwait(SigSet set) {
  absl::MutexLock l(&kernel_->mu_);
  real_blocked_ = mask_;
  mask_ = mask_ & ~(set & ~kUnblockable);
}

void Task::EndSigwait() {
  absl::MutexLock l(&kernel_->mu_);
  mask_ = real_blocked_;
  real_blocked_ = SigSet();
  if (NextSignal(pending_.set() | tg_->pending.set(), mask_) != 0) interrupted_.store(true);
}

SigSet Task::PendingSet() const { return pending_.set() | tg_->pending.set(); }

bool Task::OnAltStack(uint64_t sp) const {
  if (altstack_.ss_size == 0) return false;
  uint64_t base = reinterpret_cast<uint64_t>(altstack_.ss_sp);
  return sp > base && sp - base <= altstack_.ss_size;
}

std::optional<siginfo_t> Task::DequeueSignal(SigSet set) {
  SigSet avail = (pending_.set() | tg_->pending.set()) & set;
  int sig = NextSignal(avail, SigSet());
  if (sig == 0) return std::nullopt;
  return Dequeue(sig);
}

std::optional<siginfo_t> Task::Dequeue(int sig) {
  std::optional<siginfo_t> got =
      pending_.set().Has(sig) ? pending_.Dequeue(sig) : tg_->pending.Dequeue(sig);
  // A POSIX timer's signal, once delivered, is what timer_getoverrun reports on.
  if (got && got->si_code == SI_TIMER) {
    if (auto it = tg_->timer_overrun_last.find(got->si_timerid);
        it != tg_->timer_overrun_last.end()) {
      it->second = got->si_overrun;
    }
  }
  return got;
}

void Task::ForceSignal(const siginfo_t& info) {
  absl::MutexLock l(&kernel_->mu_);
  int sig = info.si_signo;
  KernelSigAction& a = tg_->handlers->actions[sig];
  // Like Linux's force_sig_info: a blocked or ignored fault kills the process instead of being
  // lost (the faulting instruction would only fault again).
  if (mask_.Has(sig) || a.handler == kSigIgn) {
    a.handler = kSigDfl;
    mask_.Remove(sig);
  }
  pending_.Enqueue(info, SIZE_MAX);
  interrupted_.store(true);
}

void Task::HandleFault(const siginfo_t& host) {
  siginfo_t info{};
  info.si_signo = host.si_signo;
  info.si_code = host.si_code;
  info.si_errno = host.si_errno;
  info.si_addr = host.si_addr;
  fault_addr_ = reinterpret_cast<uint64_t>(host.si_addr);
  ForceSignal(info);
  HandleSignals();
}

void Task::FixupInterruptedSyscall(bool handler, bool sa_restart) {
  platform::Registers& r = ctx_->Regs();
  int64_t ret = static_cast<int64_t>(r.rax);
  auto restart = [&r] {
    r.rax = r.orig_rax;
    r.rip -= 2;  // back over the 2-byte syscall instruction
  };
  switch (-ret) {
    case kERESTART_RESTARTBLOCK:
      if (handler) {
        r.rax = static_cast<uint64_t>(-EINTR);
      } else {
        r.rax = SYS_restart_syscall;
        r.rip -= 2;
      }
      break;
    case kERESTARTNOHAND:
      if (handler) {
        r.rax = static_cast<uint64_t>(-EINTR);
      } else {
        restart();
      }
      break;
    case kERESTARTSYS:
      if (handler && !sa_restart) {
        r.rax = static_cast<uint64_t>(-EINTR);
      } else {
        restart();
      }
      break;
    case kERESTARTNOINTR:
      restart();
      break;
    default:
      break;
  }
  if (handler) restart_ = nullptr;
}

void Task::DoGroupStop() {
  // Called with Kernel::mu_ held.
  stopped_ = true;
  bool all = true;
  for (Task* t : tg_->tasks) all = all && t->stopped_;
  if (all && !tg_->stopped) {
    tg_->stopped = true;
    kernel_->NotifyParentOfStop(tg_.get(), ChildEvent::kStopped, tg_->stop_signal);
  }
  while (tg_->stop_signal != 0 && !tg_->exiting) tg_->stop_cv.Wait(&kernel_->mu_);
  stopped_ = false;
}

void Task::HandleSignals() {
  platform::Registers& r = ctx_->Regs();
  bool restart_pending = static_cast<int64_t>(r.orig_rax) >= 0;
  while (interrupted_.load()) {
    siginfo_t info;
    KernelSigAction act;
    SigSet old_mask;
    {
      absl::MutexLock l(&kernel_->mu_);
      // The host thread is being killed (group exit, or exec in another thread): Switch() sees
      // its exit next.
      if (tg_->exiting || killed_.load()) break;
      if (tg_->stop_signal != 0) {
        DoGroupStop();
        continue;
      }
      int sig = NextSignal(pending_.set() | tg_->pending.set(), mask_);
      if (sig == 0) {
        interrupted_.store(false);
        break;
      }
      std::optional<siginfo_t> got = Dequeue(sig);
      if (!got) continue;
      info = *got;
      act = tg_->handlers->actions[sig];
      if (act.handler == kSigIgn) continue;
      if (act.handler == kSigDfl) {
        switch (DefaultActionOf(sig)) {
          case DefaultAction::kIgnore:
          case DefaultAction::kContinue:
            continue;
          case DefaultAction::kStop:
            // The terminal's stop signals are discarded in an orphaned process group: nobody
            // in its session could continue it (do_signal_stop via is_current_pgrp_orphaned).
            if (sig != SIGSTOP && kernel_->IsOrphanedPgrp(tg_->pgid)) continue;
            tg_->stop_signal = sig;
            for (Task* t : tg_->tasks) {
              if (t != this) t->Kick();
            }
            continue;
          case DefaultAction::kTerminate:
          case DefaultAction::kCore:
            kernel_->StartGroupExit(tg_.get(), sig);
            continue;
        }
      }
      old_mask = saved_mask_ ? *saved_mask_ : mask_;
      saved_mask_.reset();
      SigSet handler_mask = mask_ | SigSet(act.mask);
      if (!(act.flags & SA_NODEFER)) handler_mask.Add(sig);
      mask_ = handler_mask & ~kUnblockable;
      if (act.flags & SA_RESETHAND) tg_->handlers->actions[sig] = KernelSigAction{};
    }
    if (restart_pending) {
      FixupInterruptedSyscall(true, act.flags & SA_RESTART);
      restart_pending = false;
    }
    Result<void> delivered = DeliverSignal(info, act, old_mask);
    if (!delivered.ok() && delivered.error().value() == ESRCH) {
      // The host killed the thread (it may be waiting for a PID namespace whose init died to
      // empty): its exit, with the host's status, is what the process ends with.
      LOG_DEBUG("task {}: its host thread is gone; signal {} not delivered", tid_, info.si_signo);
      killed_.store(true);
      break;
    }
    if (!delivered.ok()) {
      LOG_INFO("task {}: cannot write the frame for signal {}: killing it", tid_, info.si_signo);
      absl::MutexLock l(&kernel_->mu_);
      kernel_->StartGroupExit(tg_.get(), SIGSEGV);
    }
  }
  if (restart_pending) FixupInterruptedSyscall(false, false);
  if (saved_mask_) {
    // sigsuspend and friends: no handler ran, so the mask from before the syscall returns now.
    absl::MutexLock l(&kernel_->mu_);
    if (saved_mask_) {
      mask_ = *saved_mask_;
      saved_mask_.reset();
      if (NextSignal(pending_.set() | tg_->pending.set(), mask_) != 0) interrupted_.store(true);
    }
  }
  r.orig_rax = static_cast<uint64_t>(-1);
}

namespace {

// The host's XSAVE layout, read once: the sandbox's tasks all run on this CPU.
const arch::XstateConfig& Xstate() {
  static const arch::XstateConfig config = arch::HostXstateConfig();
  return config;
}

}  // namespace

Result<void> Task::DeliverSignal(const siginfo_t& info, const KernelSigAction& act,
                                  SigSet old_mask) {
  // A host thread that is gone fails with ESRCH; anything else means the frame cannot be made.
  auto failed = [](Errno e) { return Errno(e.value() == ESRCH ? ESRCH : EFAULT); };
  platform::Registers& r = ctx_->Regs();
  arch::SignalFrameInput in{};
  in.regs = r;
  Result<std::vector<uint8_t>> fp = ctx_->GetFpState();
  if (!fp.ok()) return failed(fp.error());
  in.xstate = std::move(*fp);
  in.xstate_config = Xstate();
  in.info = info;
  in.sigmask = old_mask.bits();
  in.altstack = altstack_;
  in.sa_flags = act.flags;
  in.handler = act.handler;
  in.restorer = act.restorer;
  switch (info.si_signo) {
    case SIGSEGV:
    case SIGBUS:
      in.fault = {.err = 4, .trapno = 14, .cr2 = fault_addr_};
      break;
    case SIGILL:
      in.fault = {.err = 0, .trapno = 6, .cr2 = 0};
      break;
    case SIGTRAP:
      in.fault = {.err = 0, .trapno = 3, .cr2 = 0};
      break;
    default:
      break;
  }
  Result<arch::SignalFrameOutput> out = arch::BuildSignalFrame(in);
  if (!out.ok()) return Errno(EFAULT);
  Result<void> copied = CopyOut(UserAddr(out->frame_addr), out->bytes.data(), out->bytes.size());
  if (!copied.ok()) return failed(copied.error());
  if (out->on_altstack && (altstack_.ss_flags & kSsAutodisarm)) altstack_ = stack_t{};
  // The handler starts with a clean FPU, as in Linux.
  Result<void> cleared = ctx_->SetFpState(arch::InitialXstate(Xstate()));
  if (!cleared.ok()) return failed(cleared.error());
  r = out->regs;
  return Ok();
}

Result<long> Task::SigReturn() {
  platform::Registers& r = ctx_->Regs();
  auto read = [this](uint64_t addr, void* dst, size_t n) -> Result<void> {
    return CopyIn(UserAddr(addr), dst, n);
  };
  Result<arch::SigreturnResult> res = arch::ParseSignalFrame(read, r.rsp, r, Xstate());
  if (!res.ok()) {
    // A corrupt frame kills the process with SIGSEGV, as in Linux.
    siginfo_t info{};
    info.si_signo = SIGSEGV;
    info.si_code = SI_KERNEL;
    ForceSignal(info);
    return Errno(kEJUSTRETURN);
  }
  r = res->regs;
  (void)ctx_->SetFpState(res->xstate);
  {
    absl::MutexLock l(&kernel_->mu_);
    mask_ = SigSet(res->sigmask) & ~kUnblockable;
    if (NextSignal(pending_.set() | tg_->pending.set(), mask_) != 0) interrupted_.store(true);
  }
  // uc_stack is applied as sigaltstack(2) would apply it at the restored rsp; errors are ignored.
  (void)SetAltStack(res->altstack, r.rsp);
  restart_ = nullptr;
  return Errno(kEJUSTRETURN);
}

Result<void> Task::SetAltStack(const stack_t& ss, uint64_t sp) {
  if (OnAltStack(sp)) return Errno(EPERM);
  int mode = ss.ss_flags & ~kSsAutodisarm;
  if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) return Errno(EINVAL);
  if (mode == SS_DISABLE) {
    altstack_ = stack_t{nullptr, ss.ss_flags, 0};
    return Ok();
  }
  if (ss.ss_size < kMinSigStackSize) return Errno(ENOMEM);
  altstack_ = ss;
  return Ok();
}

stack_t Task::ReportedAltStack(uint64_t sp) const {
  stack_t out = altstack_;
  int state = altstack_.ss_size == 0 ? SS_DISABLE : OnAltStack(sp) ? SS_ONSTACK : 0;
  out.ss_flags = state | (altstack_.ss_flags & kSsAutodisarm);
  return out;
}

}  // namespace moat::kernel
