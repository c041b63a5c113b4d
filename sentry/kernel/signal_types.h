// Signal sets, actions and pending queues: the data of Linux signals, without the delivery logic
// (task_signals.cc). Everything here is guarded by Kernel::mu_ where it is shared.
#ifndef MOAT_SENTRY_KERNEL_SIGNAL_TYPES_H_
#define MOAT_SENTRY_KERNEL_SIGNAL_TYPES_H_

#include <signal.h>

#include <array>
#include <cstdint>
#include <deque>
#include <optional>

#include "base/ref_counted.h"

namespace moat::kernel {

inline constexpr int kNumSignals = 64;
inline constexpr int kSigRtMin = 32;  // the kernel's SIGRTMIN (glibc reserves 32 and 33)

// A set of signals 1..64 as the kernel's sigset_t (bit sig-1).
class SigSet {
 public:
  constexpr SigSet() = default;
  constexpr explicit SigSet(uint64_t bits) : bits_(bits) {}
  static constexpr SigSet Of(int sig) { return SigSet(uint64_t{1} << (sig - 1)); }
  static constexpr SigSet All() { return SigSet(~uint64_t{0}); }
  constexpr uint64_t bits() const { return bits_; }
  constexpr bool Has(int sig) const { return bits_ & (uint64_t{1} << (sig - 1)); }
  constexpr void Add(int sig) { bits_ |= uint64_t{1} << (sig - 1); }
  constexpr void Remove(int sig) { bits_ &= ~(uint64_t{1} << (sig - 1)); }
  constexpr bool Empty() const { return bits_ == 0; }
  constexpr SigSet operator|(SigSet o) const { return SigSet(bits_ | o.bits_); }
  constexpr SigSet operator&(SigSet o) const { return SigSet(bits_ & o.bits_); }
  constexpr SigSet operator~() const { return SigSet(~bits_); }
  constexpr bool operator==(const SigSet&) const = default;

 private:
  uint64_t bits_ = 0;
};

// SIGKILL and SIGSTOP can be neither blocked nor caught.
inline constexpr SigSet kUnblockable = SigSet(SigSet::Of(SIGKILL).bits() | SigSet::Of(SIGSTOP).bits());
inline constexpr SigSet kStopSignals =
    SigSet(SigSet::Of(SIGSTOP).bits() | SigSet::Of(SIGTSTP).bits() | SigSet::Of(SIGTTIN).bits() |
           SigSet::Of(SIGTTOU).bits());
// Faults delivered first when pending (Linux's SYNCHRONOUS_MASK).
inline constexpr SigSet kSynchronous =
    SigSet(SigSet::Of(SIGSEGV).bits() | SigSet::Of(SIGBUS).bits() | SigSet::Of(SIGILL).bits() |
           SigSet::Of(SIGTRAP).bits() | SigSet::Of(SIGFPE).bits() | SigSet::Of(SIGSYS).bits());

// sigaltstack's SS_AUTODISARM (linux/signal.h, which glibc's headers do not include).
inline constexpr int kSsAutodisarm = static_cast<int>(1U << 31);

inline bool ValidSignal(int sig) { return sig >= 1 && sig <= kNumSignals; }

// What a signal does when its handler is SIG_DFL.
enum class DefaultAction { kTerminate, kCore, kIgnore, kStop, kContinue };
DefaultAction DefaultActionOf(int sig);

// The kernel's struct sigaction for rt_sigaction on x86-64.
struct KernelSigAction {
  uint64_t handler = 0;  // SIG_DFL (0), SIG_IGN (1) or an address
  uint64_t flags = 0;
  uint64_t restorer = 0;
  uint64_t mask = 0;
};
inline constexpr uint64_t kSigDfl = 0;
inline constexpr uint64_t kSigIgn = 1;

// The dispositions shared by threads cloned with CLONE_SIGHAND.
class SignalHandlers : public RefCounted<SignalHandlers> {
 public:
  std::array<KernelSigAction, kNumSignals + 1> actions{};  // index = signal number
  // A copy for a process that does not share handlers.
  RefPtr<SignalHandlers> Clone() const;
  // At execve: handlers become SIG_DFL, ignored signals stay ignored.
  RefPtr<SignalHandlers> CloneForExec() const;
};

// Pending signals of a task or a thread group. Standard signals are pending at most once;
// real-time signals queue.
class PendingSignals {
 public:
  SigSet set() const { return set_; }
  // How many signals are queued (/proc's SigQ).
  size_t size() const { return queue_.size(); }
  // Returns false if the signal was already pending (standard) or the queue is full.
  bool Enqueue(const siginfo_t& info, size_t rt_limit);
  // Removes and returns the first pending signal of `sig`.
  std::optional<siginfo_t> Dequeue(int sig);
  // Removes every instance of the signals in `set`.
  void Discard(SigSet set);
  // The queued signal of POSIX timer `timer_id`, if one is still pending (its overrun count grows
  // instead of a second signal being queued).
  siginfo_t* FindTimerSignal(int timer_id);

 private:
  SigSet set_;
  std::deque<siginfo_t> queue_;  // in arrival order; standard signals appear at most once
};

// Picks the next signal to deliver from `pending` not in `blocked`: synchronous first, then the
// lowest number. 0 if none.
int NextSignal(SigSet pending, SigSet blocked);

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_SIGNAL_TYPES_H_
