// Seccomp: the application's own syscall filters, enforced by the sentry.
//
// Programs install filters with seccomp(2) and prctl(PR_SET_SECCOMP) (systemd, browsers, sandboxes,
// test suites), and a container's config.json brings a profile that runsc compiles into filters
// for the container's processes (InitProcess::seccomp_filters). The host never sees these filters:
// the sentry validates each program as Linux does (bpf_check_classic + seccomp_check_filter), runs
// it with an interpreter of its own over a struct seccomp_data, and applies the result with
// Linux's semantics on every application syscall, before the handler (Task::HandleSyscall).
//
// Ownership: a SeccompFilter is immutable once made and shared by reference count. A task's
// filters form a chain from the newest to the oldest: each filter holds a reference to the one
// installed before it, and the task holds the newest. fork and clone copy the task's pointer,
// execve keeps it, and TSYNC points every other thread of the process at the caller's chain, so
// chains share their older part as in Linux.
//
// The passthrough syscalls. The platform's host filter (platform/filter.cc) lets a few syscalls
// (anonymous memory, futex, sched_yield, clock reads, ...) run on the host without trapping, so
// the sentry would never see them. Once a task enters seccomp (a filter or strict mode), the
// sentry makes them trap for the task's whole host process: it injects into the process a second
// host filter (Context::TrapPassthrough) that returns the platform's trap action for exactly the
// passthrough numbers, with the host's TSYNC so that every thread of the process gets it (only
// the futex of the stub's park loop, where a new thread waits for its tracer, still runs: a
// futex from that one address is all an application could slip past its filters). The
// host combines it with the platform filter by precedence, so those syscalls now stop in the
// sentry, which evaluates the task's filters and, if they allow it, lets the host run the syscall
// as before (its handler answers kEHOSTSYSCALL). The alternative, evaluating the application's
// filters in a host BPF program, would hand the host a program the sandboxed application wrote;
// this way the host filter stays ours and fixed. The extra host filter is inherited by host
// fork and kept across exec, like the sentry's own state, and costs one trap per passthrough
// syscall only in processes that use seccomp. (rseq is not among them: the platform filter
// answers it with ENOSYS, which outranks a trap; a filter that acts on rseq is not consulted.)
//
// Locking: TaskSeccomp::mu_ is a leaf. Installing a filter takes Kernel::mu_ (to see the thread
// group for TSYNC and to order against clone) and then the TaskSeccomp locks of the tasks it
// changes; the syscall path takes only its own task's, briefly, to copy the chain pointer.
#ifndef MOAT_SENTRY_KERNEL_SECCOMP_H_
#define MOAT_SENTRY_KERNEL_SECCOMP_H_

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"
#include "base/ref_counted.h"
#include "base/user_addr.h"

namespace moat::kernel {

class Task;
struct SyscallArgs;

// BPF_MAXINSNS: the longest program.
inline constexpr size_t kSeccompMaxProgramLength = 4096;
// MAX_INSNS_PER_PATH: the most instructions all filters of a task may count together.
inline constexpr uint32_t kSeccompMaxPathLength = 32768;
// What each filter but the newest adds to the count, on top of its length.
inline constexpr uint32_t kSeccompFilterPenalty = 4;

// ---- Programs (seccomp.cc) ----

// Checks a classic BPF program as Linux does before it accepts a filter: only the instructions
// seccomp allows, loads of aligned 32-bit words inside struct seccomp_data, scratch memory
// slots below 16 that are stored before they are loaded on every path, forward jumps that stay
// inside the program, no division by a constant zero or shift by 32 or more, a RET last, and
// 1 to 4096 instructions. Every failure is EINVAL.
Result<void> ValidateSeccompProgram(std::span<const sock_filter> prog);

// The length Linux counts for a program against kSeccompMaxPathLength: that of the program it
// converts the classic one into (a 3-instruction prologue, 2 for RET K, 2 for a conditional jump
// taken both ways or compared with a negative constant, 5 for a division by X, 1 otherwise).
uint32_t SeccompCountedLength(std::span<const sock_filter> prog);

// Runs a program that ValidateSeccompProgram accepted and returns its SECCOMP_RET_* value. A
// division by a zero X ends it with 0 (SECCOMP_RET_KILL_THREAD), as in Linux.
uint32_t RunSeccompProgram(std::span<const sock_filter> prog, const seccomp_data& data);

// The action of a filter's result, as a signed number: a smaller one takes precedence
// (KILL_PROCESS < KILL_THREAD < TRAP < ERRNO < USER_NOTIF < TRACE < LOG < ALLOW).
inline int32_t SeccompActionRank(uint32_t ret) {
  return static_cast<int32_t>(ret & SECCOMP_RET_ACTION_FULL);
}

// One installed filter: an immutable program and the filter installed before it.
class SeccompFilter final : public RefCounted<SeccompFilter> {
 public:
  // `prog` must be valid (ValidateSeccompProgram).
  SeccompFilter(std::vector<sock_filter> prog, RefPtr<SeccompFilter> prev, bool log);
  ~SeccompFilter();

  uint32_t Run(const seccomp_data& data) const { return RunSeccompProgram(prog_, data); }
  const SeccompFilter* prev() const { return prev_.get(); }
  // SECCOMP_FILTER_FLAG_LOG: actions other than ALLOW are logged.
  bool log() const { return log_; }
  // The count of this filter and every older one, each with its penalty: what a new filter's
  // length is added to.
  uint32_t path_length() const { return path_length_; }
  // How many filters the chain from this one holds (/proc/<pid>/status Seccomp_filters).
  int depth() const { return depth_; }

 private:
  const std::vector<sock_filter> prog_;
  RefPtr<SeccompFilter> prev_;
  const bool log_;
  const uint32_t path_length_;
  const int depth_;
};

// Runs every filter of the chain that starts at `newest` (null: none) as Linux's
// seccomp_run_filters does: the result whose action takes precedence wins, and of equal actions
// the newest filter's. `match` gets the filter whose result won (null if none but ALLOW).
uint32_t RunSeccompFilters(const SeccompFilter* newest, const seccomp_data& data,
                           const SeccompFilter** match);

// ---- A task's state (task_seccomp.cc) ----

class TaskSeccomp {
 public:
  // SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT or SECCOMP_MODE_FILTER. Read on every syscall
  // without a lock; once a task has a mode it never goes back to DISABLED.
  int mode() const { return mode_.load(std::memory_order_acquire); }
  // The newest filter (null in the other modes).
  RefPtr<SeccompFilter> filter() const;
  // Sets the mode and the newest filter. Kernel::mu_ is held by the caller.
  void Set(int mode, RefPtr<SeccompFilter> filter);
  // A new task's state is its parent's. Kernel::mu_ is held by the caller, so that a TSYNC in
  // another thread of the parent comes either before (and is copied) or after (and sees the
  // child in the thread group).
  void InheritFrom(const TaskSeccomp& parent);

  // Whether the task's host process already traps the passthrough syscalls (see the top of this
  // file). Set for every task of a thread group at once; inherited by clone.
  std::atomic<bool> host_traps{false};
  // TSYNC sets no_new_privs for the threads it synchronizes; a thread's credentials are replaced
  // only by its own thread, which does so at its next syscall.
  std::atomic<bool> pending_no_new_privs{false};

 private:
  mutable absl::Mutex mu_;
  std::atomic<int> mode_{SECCOMP_MODE_DISABLED};
  RefPtr<SeccompFilter> filter_ ABSL_GUARDED_BY(mu_);
};

// seccomp(SECCOMP_SET_MODE_STRICT): from now on only read, write, exit and rt_sigreturn;
// anything else kills the thread with SIGKILL. EINVAL if the task has filters.
Result<long> SeccompSetModeStrict(Task& t);

// seccomp(SECCOMP_SET_MODE_FILTER, flags, fprog): copies the sock_fprog at `uargs` and its
// program in, checks them as Linux does (EINVAL for unknown flags, a bad length or program,
// EFAULT, EACCES without no_new_privs or CAP_SYS_ADMIN, ENOMEM past the total length) and
// installs the filter. With SECCOMP_FILTER_FLAG_TSYNC every other thread of the process gets the
// caller's chain, or, if one has diverged, nothing is installed and the result is that thread's
// tid (ESRCH with SECCOMP_FILTER_FLAG_TSYNC_ESRCH). SECCOMP_FILTER_FLAG_NEW_LISTENER is not
// offered: EINVAL, as from a kernel without it.
Result<long> SeccompSetModeFilter(Task& t, uint32_t flags, UserAddr uargs);

// Installs a filter given by the sandbox itself (the container's profile) on a task that has
// not run yet: no privilege check; EINVAL for a bad program, ENOMEM past the total length.
Result<void> SeccompInstallInitial(Task& t, std::vector<sock_filter> prog);

// What the syscall path does after the task's filters have seen a syscall.
enum class SeccompVerdict {
  kRun,          // run the handler as usual
  kReturn,       // the registers hold the result (or a signal or exit is pending): return
  kHostSyscall,  // the registers were rewritten into a host syscall to run as trapped (exit)
};

// Applies the task's seccomp mode to the syscall `args` it is making (its mode is not
// DISABLED): ERRNO, TRACE and USER_NOTIF results set the return value; TRAP queues SIGSYS;
// KILL_PROCESS ends the process and KILL_THREAD the thread, with SIGSYS; LOG and ALLOW run it.
SeccompVerdict SeccompCheckSyscall(Task& t, const SyscallArgs& args);

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_SECCOMP_H_
