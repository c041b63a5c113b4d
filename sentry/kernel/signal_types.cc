#include "sentry/kernel/signal_types.h"

#include <bit>

namespace moat::kernel {

DefaultAction DefaultActionOf(int sig) {
  switch (sig) {
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE:
    case SIGSEGV: case SIGXCPU: case SIGXFSZ: case SIGSYS:
      return DefaultAction::kCore;
    case SIGCHLD: case SIGURG: case SIGWINCH:
      return DefaultAction::kIgnore;
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return DefaultAction::kStop;
    case SIGCONT:
      return DefaultAction::kContinue;
    default:
      return DefaultAction::kTerminate;  // including every real-time signal
  }
}

RefPtr<SignalHandlers> SignalHandlers::Clone() const {
  auto h = MakeRef<SignalHandlers>();
  h->actions = actions;
  return h;
}

RefPtr<SignalHandlers> SignalHandlers::CloneForExec() const {
  auto h = MakeRef<SignalHandlers>();
  for (int sig = 1; sig <= kNumSignals; sig++) {
    if (actions[sig].handler == kSigIgn) h->actions[sig].handler = kSigIgn;
  }
  return h;
}

bool PendingSignals::Enqueue(const siginfo_t& info, size_t rt_limit) {
  int sig = info.si_signo;
  if (sig < kSigRtMin) {
    if (set_.Has(sig)) return false;
  } else if (queue_.size() >= rt_limit) {
    return false;
  }
  set_.Add(sig);
  queue_.push_back(info);
  return true;
}

std::optional<siginfo_t> PendingSignals::Dequeue(int sig) {
  std::optional<siginfo_t> out;
  bool more = false;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->si_signo != sig) {
      ++it;
      continue;
    }
    if (!out) {
      out = *it;
      it = queue_.erase(it);
    } else {
      more = true;
      break;
    }
  }
  if (!more) set_.Remove(sig);
  return out;
}

siginfo_t* PendingSignals::FindTimerSignal(int timer_id) {
  for (siginfo_t& info : queue_) {
    if (info.si_code == SI_TIMER && info.si_timerid == timer_id) return &info;
  }
  return nullptr;
}

void PendingSignals::Discard(SigSet set) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (set.Has(it->si_signo)) {
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  set_ = set_ & ~set;
}

int NextSignal(SigSet pending, SigSet blocked) {
  SigSet ready = pending & ~blocked;
  if (ready.Empty()) return 0;
  SigSet sync = ready & kSynchronous;
  uint64_t bits = sync.Empty() ? ready.bits() : sync.bits();
  return std::countr_zero(bits) + 1;
}

}  // namespace moat::kernel
