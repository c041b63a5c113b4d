// Kernel: the sandbox's kernel state: the pid table (one PID namespace, whose pids equal the
// application's host PID-namespace pids), the timer service, host name, and the container's
// lifecycle as runsc drives it from outside the sandbox (kernel_control.cc): create and start the
// first process, exec more, signal, pause, list and account for processes.
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
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "base/ref_counted.h"
#include "platform/platform.h"
#include "sentry/kernel/credentials.h"
#include "sentry/kernel/host_exit_watch.h"
#include "sentry/kernel/id_map.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/sysctl.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/kernel/timers.h"

namespace moat::vfs {
class FdTable;
class MountNamespace;
}  // namespace moat::vfs

namespace moat::sockets {
class Stack;
}  // namespace moat::sockets

namespace moat::kernel {

// The kernel release the sandbox reports (uname, /proc/version, /proc/sys/kernel/osrelease): the
// Linux ABI it implements.
inline constexpr char kRelease[] = "6.1.0";
inline constexpr char kVersion[] = "#1 SMP Moat";
inline constexpr uint64_t kNrOpen = 1048576;  // fs.nr_open

// A process's capability sets as bit masks (bit N is capability N), as capabilities(7) names them.
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t bounding = 0;
  uint64_t ambient = 0;
};

// A process that runsc starts from outside the sandbox: the init process, or one `runsc exec`
// runs in the running sandbox.
struct InitProcess {
  std::string path;  // resolved in the sandbox
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string cwd = "/";  // must exist: Create and Exec fail otherwise
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  // Applied over the sentry's own limits (init) or the init's current ones (exec).
  std::vector<std::pair<int, rlimit>> rlimits;
  RefPtr<vfs::FdTable> fds;  // stdio
  // The terminal its stdio is (process.terminal, runsc/console.h): the controlling terminal of
  // its session. Null for none.
  RefPtr<Terminal> controlling_tty;
  uint32_t umask = 022;
  // Unset: root has every capability, any other uid none. Set: the sets as runc sets them
  // before it execs the program, which then has what execve's capability rules leave (for a
  // file without file capabilities): root gets bounding | inheritable as permitted and
  // effective, another uid only its ambient set.
  std::optional<CapabilitySets> caps;
  bool no_new_privs = false;
  // Unset: 0 for the init, the init's current value for an exec'd process. Set as runc sets it
  // (with privilege), so it is also the least value the process may lower it to without
  // CAP_SYS_RESOURCE.
  std::optional<int> oom_score_adj;
  // Exec only: the process leads a new session and process group. Otherwise it joins the init's
  // (the init always leads session 1).
  bool new_session = false;
  // Exec only: nobody will call WaitExec for it, so it is forgotten as soon as it exits instead
  // of staying a zombie until WaitExec collects it.
  bool detached_reap = false;
  // Seccomp filters (the container's profile, compiled), installed in order on the process
  // before its first instruction, as if it had installed them itself.
  std::vector<std::vector<sock_filter>> seccomp_filters;
};

// One live process of the sandbox, as `runsc ps` lists it.
struct ProcessInfo {
  pid_t pid = 0;       // in the sandbox
  pid_t host_pid = 0;  // in the sentry's PID namespace
  pid_t ppid = 0;      // 0: the init, or an exec'd process (the child of no sandbox process)
  uid_t uid = 0;       // real uid
  char state = 'R';    // as /proc/<pid>/stat shows it
  std::string comm;
  std::vector<std::string> cmdline;  // the arguments as /proc/<pid>/cmdline has them
  absl::Time start_time;
};

// Resource use of the whole sandbox (`runsc events --stats`).
struct KernelStats {
  // CPU time of every application process, live and exited, as the host counts it.
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  int tasks = 0;      // threads
  int processes = 0;  // live thread groups
  uint64_t rss_bytes = 0;  // the summed resident set size of the live host processes
};

class Kernel {
 public:
  Kernel(std::unique_ptr<platform::Platform> platform, RefPtr<vfs::MountNamespace> mounts);
  ~Kernel();

  platform::Platform& platform() { return *platform_; }
  TimerService& timers() { return timers_; }

  // ---- The container's lifecycle, driven from outside the sandbox (kernel_control.cc) ----
  // Creates the first process (pid 1) with its program loaded, but stopped before its first
  // instruction (the OCI "created" state). A failure (the program or cwd cannot be found or
  // executed) is returned and leaves no process behind. Once only.
  absl::Status Create(InitProcess init);
  // Lets the created init process run. A no-op if there is none or it already runs.
  void StartCreated();
  // Create, then StartCreated.
  absl::Status Start(InitProcess init);
  // Blocks until the init process has exited and every task is gone; returns init's wait status.
  int Wait();
  // What Wait() would return, if it would return now.
  std::optional<int> InitExitStatus();
  // Sends `sig` to the init process (runsc forwards the signals it receives).
  void SignalInit(int sig);

  // Starts another process in the running sandbox (`runsc exec`): the child of no process
  // (getppid() is 0), visible in /proc and to kill(-1). Returns its pid. FailedPrecondition if
  // the init has exited (or has not been created).
  absl::StatusOr<pid_t> Exec(InitProcess proc);
  // Blocks until process `pid`, started by Exec without detached_reap, has exited, reaps it and
  // returns its wait status. Once per process: NotFound for an unknown pid, for one that
  // another call waits for or collected, or for one of detached_reap.
  absl::StatusOr<int> WaitExec(pid_t pid);

  // A signal from outside the sandbox (si_code SI_USER, si_pid 0) to process `pid`: ESRCH if
  // there is none, EINVAL for a bad signal; 0 checks that it exists. As for a signal from an
  // ancestor PID namespace, the init gets only SIGKILL, SIGSTOP and the signals it handles or
  // blocks.
  Result<void> Kill(pid_t pid, int sig);
  // The same signal to every process (runc kill --all).
  void KillAll(int sig);

  // Stops every task from running application code until Resume(), invisibly to the
  // application: tasks in a syscall finish it (or keep waiting) but do not return to it; timers
  // go on. Returns once no task runs application code. SIGKILL still kills while paused.
  void Pause();
  void Resume();
  bool paused() const { return paused_.load(); }

  // The live processes in pid order.
  std::vector<ProcessInfo> Processes();
  KernelStats Stats();

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
  // Ends thread group `tg` with wait status `status`: kills its host process. The init's end
  // ends every process (KillNamespace).
  // `caller_exits`: the calling task is about to run the host's exit_group, which ends the host
  // process as promptly as a kill would, and lets the platform see the process's usage.
  void StartGroupExit(ThreadGroup* tg, int status, bool caller_exits = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The sandbox's init process (null before Create).
  ThreadGroup* init() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return init_; }
  // The init is exiting: starts the exit of every other process, as the host kills them.
  void KillNamespace() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  // Watches the host process of new process `tg`, whose first task is `leader`, for an exit the
  // sentry does not cause (HostProcessExited). Once, when the process enters the pid table.
  void WatchHostProcess(ThreadGroup* tg, Task* leader) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The host process watched by `pidfd` (ThreadGroup::host_pidfd of process `pid`) has exited:
  // its tasks stop waiting in the sentry and collect its exit (host_exit_watch.h). Called by the
  // watch thread.
  void HostProcessExited(int pidfd, pid_t pid);

  // ---- Network (sentry/socket/stack.h) ----
  // The sandbox's network stack, which --network chose; set before the first task runs and kept
  // for the kernel's life. Null until then: AF_INET sockets fail with EAFNOSUPPORT.
  sockets::Stack* network() const { return network_.get(); }
  void set_network(std::unique_ptr<sockets::Stack> stack);

  // ---- Host name (uname, sethostname) ----
  std::string hostname() const;
  void set_hostname(std::string h);
  std::string domainname() const;
  void set_domainname(std::string d);

  // The user namespace's mappings of the sandbox's uids and gids to the host's (uidMappings and
  // gidMappings; the identity without a user namespace). Set before Create.
  const IdMap& uid_map() const { return uid_map_; }
  const IdMap& gid_map() const { return gid_map_; }
  void set_id_maps(IdMap uids, IdMap gids) {
    uid_map_ = std::move(uids);
    gid_map_ = std::move(gids);
  }

  // linux.resources.pids.limit: at most `limit` tasks (threads, zombies included, as the pids
  // cgroup counts them) in the sandbox; a clone past it fails with EAGAIN, and so does an exec.
  // 0 or less: the default limit (kernel.cc's DefaultPidsLimit). Set before Create. The sentry counts them itself because its own
  // threads share the host cgroup's count.
  void set_pids_limit(int64_t limit) { pids_limit_.store(limit); }
  int64_t pids_limit() const { return pids_limit_.load(); }
  // Reserves room for one more task under the pids limit; false if there is none. Every true
  // is followed by ReleasePid once the new task is in the task table (or was not made).
  bool ChargePid();
  void ReleasePid();

  // The per-container kernel parameters of /proc/sys (set from linux.sysctl).
  Sysctls& sysctls() { return sysctls_; }

  absl::Time boot_time() const { return boot_time_; }
  // The syscall table (set once, before Start).
  void set_syscall_table(const SyscallTable* t) { table_ = t; }
  const SyscallTable& syscall_table() const { return *table_; }
  // Counts a syscall that the sentry does not implement; logs its name once.
  void ReportUnimplemented(int nr);

 private:
  std::unique_ptr<platform::Platform> platform_;
  // Before the task table: sockets in the tasks' files may use it until they go.
  std::unique_ptr<sockets::Stack> network_;
  RefPtr<vfs::MountNamespace> mounts_;
  TimerService timers_;
  WaitQueue signal_queue_;
  absl::Time boot_time_;
  const SyscallTable* table_ = nullptr;

  // Builds the task of a root process around a spawned host process (pid `pid` in the sandbox)
  // and loads its program; on failure the host process is killed and reaped. `like` is the
  // process whose limits and oom score an exec'd process starts from (null for the init).
  absl::StatusOr<RefPtr<Task>> NewRootTask(pid_t pid, std::unique_ptr<platform::Context> ctx,
                                           InitProcess& proc, ThreadGroup* like);
  // The init's task thread, from Create: waits for StartCreated (or a kill), then runs.
  void RunCreatedInit(RefPtr<Task> init);
  // Adds the host's usage of exited `tg` to exited_usage_ (GroupExited).
  void AccountExit(const ThreadGroup& tg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::map<pid_t, RefPtr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
  std::map<pid_t, RefPtr<ThreadGroup>> groups_ ABSL_GUARDED_BY(mu_);
  ThreadGroup* init_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool init_exited_ ABSL_GUARDED_BY(mu_) = false;
  int init_status_ ABSL_GUARDED_BY(mu_) = 0;
  // Create has been called / StartCreated has let the init run.
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  bool start_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Signalled when a process without a parent exits (WaitExec waits on it).
  absl::CondVar orphan_exit_cv_;
  // The CPU time the host reported for every exited process (its own, not its children's).
  struct rusage exited_usage_ ABSL_GUARDED_BY(mu_) {};
  std::atomic<bool> paused_{false};

  Sysctls sysctls_;
  std::atomic<int64_t> pids_limit_{0};
  // Tasks being created (charged but not yet in tasks_).
  int64_t pids_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  IdMap uid_map_, gid_map_;

  mutable absl::Mutex uts_mu_;
  std::string hostname_ ABSL_GUARDED_BY(uts_mu_) = "moat";
  std::string domainname_ ABSL_GUARDED_BY(uts_mu_) = "(none)";

  absl::Mutex unimpl_mu_;
  std::map<int, uint64_t> unimplemented_ ABSL_GUARDED_BY(unimpl_mu_);

  // Last: its thread calls back into the kernel until it is destroyed.
  HostExitWatch host_exits_{[this](int pidfd, pid_t pid) { HostProcessExited(pidfd, pid); }};
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_KERNEL_H_
