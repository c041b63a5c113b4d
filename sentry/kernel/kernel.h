// Kernel: the sandbox's kernel state: the pid table (one PID namespace, whose pids equal the
// application's host PID-namespace pids), the timer service, host name, and how to start the
// first process.
//
// Kernel::mu_ is the task lock: it guards the pid table, every ThreadGroup's relations, exit and
// stop state, and all signal state (Task and ThreadGroup fields marked so). Lock order: see task.h.
#ifndef MOAT_SENTRY_KERNEL_KERNEL_H_
#define MOAT_SENTRY_KERNEL_KERNEL_H_

#include <linux/filter.h>
#include <sys/utsname.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "base/ref_counted.h"
#include "platform/platform.h"
#include "sentry/kernel/credentials.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/kernel/timers.h"

namespace moat::vfs {
class FdTable;
class MountNamespace;
}  // namespace moat::vfs

namespace moat::kernel {

// The kernel release the sandbox reports (uname, /proc/version, /proc/sys/kernel/osrelease): the
// Linux ABI it implements.
inline constexpr char kRelease[] = "6.1.0";
inline constexpr char kVersion[] = "#1 SMP Moat";
inline constexpr uint64_t kNrOpen = 1048576;  // fs.nr_open

struct InitProcess {
  std::string path;  // resolved in the sandbox
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::vector<std::pair<int, rlimit>> rlimits;
  RefPtr<vfs::FdTable> fds;  // stdio
  uint32_t umask = 022;
  // Seccomp filters (the container's profile, compiled), installed in order on the process
  // before its first instruction, as if it had installed them itself.
  std::vector<std::vector<sock_filter>> seccomp_filters;
};

class Kernel {
 public:
  Kernel(std::unique_ptr<platform::Platform> platform, RefPtr<vfs::MountNamespace> mounts);
  ~Kernel();

  platform::Platform& platform() { return *platform_; }
  TimerService& timers() { return timers_; }

  // Starts the first process and returns once it runs (or failed to start).
  absl::Status Start(InitProcess init);
  // Blocks until the init process has exited and every task is gone; returns init's wait status.
  int Wait();
  // Sends `sig` to the init process (runsc forwards the signals it receives).
  void SignalInit(int sig);

  // ---- The task tree (Kernel::mu_) ----
  absl::Mutex mu_;
  Task* TaskByTid(pid_t tid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ThreadGroup* GroupByPid(pid_t pid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every thread group (live or zombie) in pid order.
  std::vector<ThreadGroup*> Groups() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddTask(Task* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveTask(Task* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddGroup(ThreadGroup* tg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets a reaped zombie.
  void RemoveGroup(ThreadGroup* tg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether any process group `pgid` exists / any member in session `sid`.
  bool ProcessGroupExists(pid_t pgid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Signals (task_signals.cc) ----
  // Queues `info` for thread group `tg` (kill) or thread `t` (tgkill) and wakes a thread to handle
  // it; applies the immediate effects of SIGKILL, SIGCONT and stop signals. A signal that is
  // ignored, or a standard signal already pending, is dropped silently; EAGAIN if the real-time
  // queue is full.
  Result<void> SendGroupSignal(ThreadGroup* tg, const siginfo_t& info)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Result<void> SendThreadSignal(Task* t, const siginfo_t& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notified (kEventIn) whenever a signal becomes pending for a thread or a thread group:
  // signalfd's readers and pollers wait here and re-check their own task's pending set.
  WaitQueue& signal_queue() { return signal_queue_; }
  // Ends thread group `tg` with wait status `status`: kills its host process.
  void StartGroupExit(ThreadGroup* tg, int status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Linux's will_become_orphaned_pgrp(pgrp, NULL): no live member of process group `pgrp` has
  // a parent in another process group of the same session. Such a group gets no stop signals
  // from a terminal (SIGTSTP, SIGTTIN and SIGTTOU are discarded) and EIO from a background read.
  bool IsOrphanedPgrp(pid_t pgrp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells `tg`'s parent that it stopped or continued (SIGCHLD, wait queues).
  void NotifyParentOfStop(ThreadGroup* tg, ChildEvent ev, int sig)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Exit (task_exit.cc) ----
  // The last task of `tg` is gone: zombie it, reparent its children, tell its parent.
  void GroupExited(ThreadGroup* tg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Host name (uname, sethostname) ----
  std::string hostname() const;
  void set_hostname(std::string h);
  std::string domainname() const;
  void set_domainname(std::string d);

  absl::Time boot_time() const { return boot_time_; }
  // The syscall table (set once, before Start).
  void set_syscall_table(const SyscallTable* t) { table_ = t; }
  const SyscallTable& syscall_table() const { return *table_; }
  // Counts a syscall that the sentry does not implement; logs its name once.
  void ReportUnimplemented(int nr);

 private:
  std::unique_ptr<platform::Platform> platform_;
  RefPtr<vfs::MountNamespace> mounts_;
  TimerService timers_;
  WaitQueue signal_queue_;
  absl::Time boot_time_;
  const SyscallTable* table_ = nullptr;

  std::map<pid_t, RefPtr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<pid_t, RefPtr<ThreadGroup>> groups_ ABSL_GUARDED_BY(mu_);
  ThreadGroup* init_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool init_exited_ ABSL_GUARDED_BY(mu_) = false;
  int init_status_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex uts_mu_;
  std::string hostname_ ABSL_GUARDED_BY(uts_mu_) = "moat";
  std::string domainname_ ABSL_GUARDED_BY(uts_mu_) = "(none)";

  absl::Mutex unimpl_mu_;
  std::map<int, uint64_t> unimplemented_ ABSL_GUARDED_BY(unimpl_mu_);
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_KERNEL_H_
