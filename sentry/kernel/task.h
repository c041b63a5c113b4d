// Task: one application thread and the sentry thread that runs it (DESIGN.md section 4).
//
// Each Task has exactly one task thread. Its loop is
//     for (;;) { Event e = ctx.Switch(); Handle(e); }
// and every syscall of the application thread is serviced on that thread. A handler that must wait
// blocks its own task thread (Block()) and never anyone else's; every wait is interruptible.
//
// Ownership: the Kernel's pid table holds a reference to every live Task; the Task holds its
// ThreadGroup, its platform Context, and references to what it shares with other tasks (memory
// manager, fd table, fs context, credentials).
//
// Lock order:
//   Kernel::mu_ (task tree, signals, process groups)
//     Task::wake_mu_
//     Task::shared_mu_ (a leaf: the pointers to shared objects)
// A handler never holds Kernel::mu_ while it blocks or copies memory.
#ifndef MOAT_SENTRY_KERNEL_TASK_H_
#define MOAT_SENTRY_KERNEL_TASK_H_

#include <sys/uio.h>
#include <sys/wait.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/errno.h"
#include "base/ref_counted.h"
#include "base/user_addr.h"
#include "platform/platform.h"
#include "sentry/kernel/credentials.h"
#include "sentry/kernel/seccomp.h"
#include "sentry/kernel/signal_types.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::vfs {
class FdTable;
class FsContext;
class MountNamespace;
struct ParentAndName;
struct Path;
struct ResolveContext;
}  // namespace moat::vfs

namespace moat::mm {
class MemoryManager;
}

namespace moat::kernel {

class Kernel;
class ThreadGroup;

// What the syscall return path does with a handler's result.
struct SyscallArgs {
  int nr;
  uint64_t a[6];
  int64_t Int(int i) const { return static_cast<int64_t>(a[i]); }
  int32_t Int32(int i) const { return static_cast<int32_t>(a[i]); }
  uint32_t Uint32(int i) const { return static_cast<uint32_t>(a[i]); }
  uint64_t Uint(int i) const { return a[i]; }
  UserAddr Addr(int i) const { return UserAddr(a[i]); }
};

// A syscall that restarts through restart_syscall(2) (nanosleep, clock_nanosleep, poll): the
// handler stores how to continue and returns ERESTART_RESTARTBLOCK.
using RestartFn = std::function<Result<long>(Task&)>;

class Task final : public RefCounted<Task>, public Wakeable {
 public:
  Task(Kernel* kernel, RefPtr<ThreadGroup> tg, pid_t tid, std::unique_ptr<platform::Context> ctx);
  ~Task();

  // The task whose syscall the calling sentry thread is serving (the task thread's own task), or
  // null on any other thread. Files whose answers depend on the caller (/proc/self, signalfd's
  // readiness) use it, as Linux's use `current`.
  static Task* Current();

  Kernel& kernel() const { return *kernel_; }
  ThreadGroup& thread_group() const { return *tg_; }
  const RefPtr<ThreadGroup>& thread_group_ref() const { return tg_; }
  pid_t tid() const { return tid_; }
  pid_t pid() const;  // the thread group id
  bool IsLeader() const { return tid() == pid(); }
  platform::Context& context() { return *ctx_; }

  // ---- Application memory (UserAddr crosses only through these) ----
  Result<void> CopyIn(UserAddr src, void* dst, size_t n);
  Result<void> CopyOut(UserAddr dst, const void* src, size_t n);
  template <typename T>
  Result<T> CopyInObj(UserAddr src) {
    T v;
    RETURN_IF_ERRNO(CopyIn(src, &v, sizeof(T)));
    return v;
  }
  template <typename T>
  Result<void> CopyOutObj(UserAddr dst, const T& v) {
    return CopyOut(dst, &v, sizeof(T));
  }
  // Copies up to `n` bytes; returns how many could be copied before an unmapped page (0 is EFAULT).
  Result<size_t> CopyInPartial(UserAddr src, void* dst, size_t n);
  Result<size_t> CopyOutPartial(UserAddr dst, const void* src, size_t n);
  // A NUL-terminated string of at most `max` bytes (without the NUL): ENAMETOOLONG if longer.
  Result<std::string> CopyInString(UserAddr src, size_t max);
  // A path argument: EFAULT, ENAMETOOLONG past PATH_MAX. Empty paths are the caller's to refuse.
  Result<std::string> CopyInPath(UserAddr src);
  // A NULL-terminated array of strings (argv, envp): E2BIG past `max_total` bytes.
  Result<std::vector<std::string>> CopyInStringArray(UserAddr src, size_t max_total);
  // An iovec array: EINVAL if `count` is negative or above IOV_MAX.
  Result<std::vector<iovec>> CopyInIovecs(UserAddr src, int64_t count);

  // ---- What the task shares with others ----
  mm::MemoryManager& mm() const { return *mm_; }
  const RefPtr<mm::MemoryManager>& mm_ref() const { return mm_; }
  vfs::FdTable& fds() const { return *fds_; }
  const RefPtr<vfs::FdTable>& fds_ref() const { return fds_; }
  vfs::FsContext& fs() const { return *fs_; }
  const RefPtr<vfs::FsContext>& fs_ref() const { return fs_; }
  vfs::MountNamespace& mount_ns() const { return *mount_ns_; }
  RefPtr<Credentials> creds() const;
  void set_creds(RefPtr<Credentials> c);
  void set_mm(RefPtr<mm::MemoryManager> m);
  void set_fds(RefPtr<vfs::FdTable> f);
  void set_fs(RefPtr<vfs::FsContext> f);
  void set_mount_ns(RefPtr<vfs::MountNamespace> ns);
  // The same objects for another thread (/proc/<pid>): only the task's own thread replaces them,
  // and it does so under shared_mu_, which these take too.
  RefPtr<mm::MemoryManager> SharedMM() const;
  RefPtr<vfs::FdTable> SharedFds() const;
  RefPtr<vfs::FsContext> SharedFs() const;
  RefPtr<vfs::MountNamespace> SharedMountNs() const;
  // Reads this task's memory from any sentry thread (/proc/<pid>/cmdline, environ): short counts
  // at unmapped pages, like Context::ReadMemory, which allows it.
  Result<size_t> PeekMemory(uint64_t addr, void* dst, size_t n);

  // ---- Paths, as the *at syscalls name them (task_paths.cc) ----
  // Who resolves and from which root. The credentials pointer stays valid for the syscall: only
  // this task's own thread replaces its credentials.
  vfs::ResolveContext PathContext();
  // Where a relative `path` given with `dirfd` starts: the cwd for AT_FDCWD, else the directory
  // open at dirfd (EBADF, ENOTDIR). An absolute path starts at the root.
  Result<vfs::Path> StartAt(int dirfd, const std::string& path);
  // Resolves (dirfd, path) with AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH in `at_flags`; ENOENT for an
  // empty path without AT_EMPTY_PATH.
  Result<vfs::Path> ResolveAt(int dirfd, const std::string& path, int at_flags,
                              bool must_be_dir = false);
  // Everything but the last component, for creating, removing and renaming.
  Result<vfs::ParentAndName> ResolveParentAt(int dirfd, const std::string& path);

  // ---- Blocking ----
  // Implements Wakeable::Wake: ends the current or next Block().
  void Wake(EventMask events) override;
  // Sleeps until Wake(), an interrupt (a signal to handle, a group exit or stop), or `deadline`.
  // Returns Ok, EINTR or ETIMEDOUT. The caller re-checks its condition after Ok.
  Result<void> Block(std::optional<absl::Time> deadline = std::nullopt);
  // Like Block(), but only a fatal signal (a group exit) interrupts it: EINTR then.
  Result<void> BlockKillable();
  // Marks the task as dying with its group (StartGroupExit) and kicks it.
  void Kill();
  // Sets the interrupted flag and makes the task notice: wakes a blocked task, interrupts one
  // running application code.
  void Kick();

  // ---- Signals (task_signals.cc); fields guarded by Kernel::mu_ ----
  SigSet signal_mask() const;
  // Sets the mask (SIGKILL and SIGSTOP removed) and re-checks pending signals.
  void SetSignalMask(SigSet mask);
  // For sigsuspend, ppoll and pselect: the mask while the syscall waits; the old one returns when
  // the syscall returns to the application, after any handler has run with it saved in its frame.
  void SetTemporaryMask(SigSet mask);
  // sigaltstack(2): sets the alternate stack as seen from stack pointer `sp` (EPERM while on it,
  // EINVAL, ENOMEM), and reports it with the flags Linux computes.
  Result<void> SetAltStack(const stack_t& ss, uint64_t sp);
  stack_t ReportedAltStack(uint64_t sp) const;
  bool OnAltStack(uint64_t sp) const;
  // This task's own pending signals (Kernel::mu_ held).
  PendingSignals& pending_signals();
  // Pending for this thread only, and for the whole group.
  SigSet PendingSet() const;
  // sigtimedwait: while waiting, the signals in `set` are unblocked so that they wake the task,
  // but they still count as blocked for being ignored or fatal (Linux's real_blocked).
  void BeginSigwait(SigSet set);
  void EndSigwait();
  // The signals that count as blocked when deciding whether a signal is ignored or fatal.
  SigSet RealBlocked() const { return mask_ | real_blocked_; }
  // Removes and returns a pending signal in `set` (sigtimedwait, signalfd).
  std::optional<siginfo_t> DequeueSignal(SigSet set);
  // Takes signal `sig` off this thread's queue or else its group's. Kernel::mu_ held.
  std::optional<siginfo_t> Dequeue(int sig);
  // rt_sigreturn: restores the registers, FPU state, mask and alt stack saved in the frame.
  Result<long> SigReturn();
  // Queues a synchronous fault for this thread and makes sure it cannot be ignored or blocked.
  void ForceSignal(const siginfo_t& info);

  // ---- Misc per-thread state ----
  std::string name() const;  // comm: PR_SET_NAME / the program's basename
  void set_name(std::string n);
  void set_restart(RestartFn fn) { restart_ = std::move(fn); }
  RestartFn TakeRestart() { return std::exchange(restart_, nullptr); }
  uint32_t personality() const { return personality_; }
  void set_personality(uint32_t p) { personality_ = p; }
  uint64_t clear_child_tid() const { return clear_child_tid_; }
  // For /proc's process states: whether the thread is running application code, or sleeping in
  // the sentry (Block), and when the task was created.
  bool in_app() const { return in_app_.load(); }
  bool blocked() const { return blocked_.load(); }
  absl::Time start_time() const { return start_time_; }
  // Whether the task is stopped in a group stop (Kernel::mu_).
  bool group_stopped() const { return stopped_; }
  void set_clear_child_tid(uint64_t a) { clear_child_tid_ = a; }

  // ---- seccomp (seccomp.h, task_seccomp.cc) ----
  TaskSeccomp& seccomp() { return seccomp_; }
  const TaskSeccomp& seccomp() const { return seccomp_; }

  // ---- Lifecycle (task.cc, task_clone.cc, task_exec.cc, task_exit.cc) ----
  // Starts the task thread. The thread adopts the context, then runs the loop.
  void Start();
  // Runs the loop on the calling thread (used for the first task, whose thread spawned it).
  void Run();

  // clone(2) with Linux's flags; returns the child's tid.
  Result<long> Clone(uint64_t flags, UserAddr stack, UserAddr parent_tid, UserAddr child_tid,
                     uint64_t tls);
  // execve(2): on success the registers are the new program's and the result is EJUSTRETURN.
  Result<long> Execve(int dirfd, const std::string& path, std::vector<std::string> argv,
                      std::vector<std::string> envp, int flags);
  // Loads the first program of the sandbox into this (init) task.
  Result<void> LoadInitial(const std::string& path, std::vector<std::string> argv,
                           std::vector<std::string> envp);
  // exit(2) of this thread: records the status; the host thread exits natively.
  void RecordExit(int code);

  // wait4 / waitid (task_wait.cc).
  struct WaitRequest {
    idtype_t idtype;  // P_ALL, P_PID, P_PGID
    pid_t id;
    int options;  // WNOHANG, WEXITED, WSTOPPED, WCONTINUED, WNOWAIT, __WCLONE, __WALL
  };
  struct WaitResult {
    pid_t pid = 0;      // 0: WNOHANG and nothing to report
    struct rusage usage {};  // of a reaped child
    int status = 0;     // as wait4 reports it
    int code = 0;       // CLD_* for waitid
    int child_status = 0;  // exit code or signal, for waitid
    uid_t uid = 0;
  };
  Result<WaitResult> WaitChild(const WaitRequest& req);

 private:
  friend class Kernel;
  friend class ThreadGroup;
  void HandleSyscall();
  void HandleFault(const siginfo_t& info);
  // Delivers pending signals and takes part in group stops and exits; called before every return
  // to the application. If the registers are at the return of a syscall (orig_rax >= 0), applies
  // the restart rules to its result in rax, and always leaves orig_rax at -1.
  void HandleSignals();
  // Sets up a signal frame for `info` with `action`, saving `old_mask` in it. EFAULT if the frame
  // could not be written (the caller kills the process with SIGSEGV), ESRCH if the host thread is
  // gone (killed on the host: Switch() reports its exit next).
  Result<void> DeliverSignal(const siginfo_t& info, const KernelSigAction& action, SigSet old_mask);
  // Applies the restart rules to a syscall interrupted before a handler runs (`handler` is whether
  // one does, `sa_restart` its SA_RESTART flag).
  void FixupInterruptedSyscall(bool handler, bool sa_restart);
  // Waits in a group stop until continued or killed.
  void DoGroupStop();
  // Waits while the kernel is paused (Kernel::Pause), until it resumes or the task is killed.
  void WaitWhilePaused();
  void Exited(int wait_status, const struct rusage& usage);

  Kernel* kernel_;
  RefPtr<ThreadGroup> tg_;
  pid_t tid_;
  std::unique_ptr<platform::Context> ctx_;
  const absl::Time start_time_;
  // Held by the setters below and by the Shared* getters: a leaf lock. The task's own thread
  // reads the pointers without it.
  mutable absl::Mutex shared_mu_;
  RefPtr<mm::MemoryManager> mm_;
  RefPtr<vfs::FdTable> fds_;
  RefPtr<vfs::FsContext> fs_;
  RefPtr<vfs::MountNamespace> mount_ns_;

  mutable absl::Mutex creds_mu_;
  RefPtr<Credentials> creds_ ABSL_GUARDED_BY(creds_mu_);
  mutable absl::Mutex name_mu_;
  std::string name_ ABSL_GUARDED_BY(name_mu_);

  // Signal state, guarded by Kernel::mu_.
  SigSet mask_;
  std::optional<SigSet> saved_mask_;  // set by SetTemporaryMask
  SigSet real_blocked_;                // the mask before sigtimedwait unblocked its set
  PendingSignals pending_;
  // As sigaltstack(2) stored it: size 0 means none. Never called: all zero.
  stack_t altstack_{};

  // Blocking.
  absl::Mutex wake_mu_;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> killed_{false};
  // Whether the task thread is running application code (Kick must interrupt it).
  std::atomic<bool> in_app_{false};
  // Whether the task thread sleeps in Block() or BlockKillable().
  std::atomic<bool> blocked_{false};

  RestartFn restart_;
  // The task's seccomp mode and filters.
  TaskSeccomp seccomp_;
  // The address of the last synchronous fault (cr2 in the signal frame).
  uint64_t fault_addr_ = 0;
  uint64_t clear_child_tid_ = 0;
  uint32_t personality_ = 0;
  // Whether this task is in a group stop (guarded by Kernel::mu_).
  bool stopped_ = false;
  // Set (under Kernel::mu_) when exec in another thread takes this task's host thread away: its
  // exit is not the thread group's business.
  bool detached_ = false;
  // The exit code given to exit(2), if any (guarded by Kernel::mu_).
  std::optional<int> exit_code_;
  // Set once the host thread is gone.
  bool exited_ = false;
  // vfork: the parent waits until this task execs or exits.
  absl::Mutex vfork_mu_;
  bool vfork_done_ ABSL_GUARDED_BY(vfork_mu_) = false;
  WaitQueue vfork_wq_;
  // Ends a vfork parent's wait (at exec or exit).
  void ReleaseVforkParent();
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_TASK_H_
