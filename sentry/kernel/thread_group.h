// ThreadGroup: a process. Its tasks share a pid, signal handlers, group-wide pending signals,
// rlimits, a parent, children, a process group and a session. After its last task exits it is a
// zombie until its parent reaps it.
//
// Every field below is guarded by Kernel::mu_ unless it says otherwise.
#ifndef MOAT_SENTRY_KERNEL_THREAD_GROUP_H_
#define MOAT_SENTRY_KERNEL_THREAD_GROUP_H_

#include <sys/resource.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "base/ref_counted.h"
#include "sentry/kernel/signal_types.h"
#include "sentry/kernel/tty.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {

class Task;
class Timer;

// Why a thread group is waitable (wait4/waitid).
enum class ChildEvent { kNone, kStopped, kContinued };

class ThreadGroup : public RefCounted<ThreadGroup> {
 public:
  explicit ThreadGroup(pid_t pid) : pid_(pid) {}
  ~ThreadGroup();
  pid_t pid() const { return pid_; }

  // Live tasks, the leader first while it lives.
  std::vector<Task*> tasks;
  Task* leader = nullptr;  // not owned; null once the leader has exited
  ThreadGroup* parent = nullptr;  // not owned: a parent outlives its children's links
  std::vector<RefPtr<ThreadGroup>> children;
  pid_t pgid = 0;
  pid_t sid = 0;
  RefPtr<Terminal> ctty;  // the controlling terminal (tty.h); inherited by fork
  RefPtr<SignalHandlers> handlers;
  PendingSignals pending;
  int exit_signal = SIGCHLD;  // sent to the parent when this group exits
  bool execed = false;        // has called execve (setpgid by the parent then fails)
  bool subreaper = false;     // PR_SET_CHILD_SUBREAPER
  int pdeath_signal = 0;      // PR_SET_PDEATHSIG (per thread in Linux; per process here)
  bool dumpable = true;
  int nice = 0;  // getpriority/setpriority
  int oom_score_adj = 0;  // /proc/<pid>/oom_score_adj: kept and inherited, never acted on
  // The least oom_score_adj the process may set without CAP_SYS_RESOURCE (Linux's
  // oom_score_adj_min): what a privileged writer set last.
  int oom_score_adj_min = 0;
  // A pidfd of the host process while the process lives, watched for an exit the sentry did not
  // cause (Kernel::HostProcessExited); closed when it becomes a zombie.
  FileDescriptor host_pidfd;
  // Started by Kernel::Exec without detached_reap: having no parent, it stays a zombie until
  // Kernel::WaitExec collects it (claimed once a WaitExec call waits for it).
  bool exec_waitable = false;
  bool exec_wait_claimed = false;

  // Group exit: once set, every task exits; the status is a wait status.
  bool exiting = false;
  int exit_status = 0;
  // Set when the last task is gone.
  bool zombie = false;
  // Group stop.
  int stop_signal = 0;        // the signal that stopped the group, while a stop is in progress
  bool stopped = false;       // every task has stopped
  ChildEvent pending_event = ChildEvent::kNone;  // not yet reported to wait(WUNTRACED|WCONTINUED)
  int reported_stop_signal = 0;  // the signal wait(WUNTRACED) reports
  int last_exit_code = 0;        // the last exit(2) code of its tasks (Task::RecordExit)
  uid_t uid_at_exit = 0;         // the real uid its parent's waitid reports
  absl::CondVar stop_cv;      // signalled on SIGCONT and SIGKILL

  // Resource usage: the group's own as the host reported it when it exited, and the sum of its
  // reaped children's totals (getrusage(RUSAGE_CHILDREN), times(2)).
  struct rusage exit_usage {};
  struct rusage children_usage {};
  // What wait4 reports for this group once it is a zombie: its own usage plus its children's.
  struct rusage TotalUsage() const;

  // Notified when a child changes state (wait4, waitid).
  WaitQueue child_wq;

  // Resource limits; guarded by their own lock (getrlimit does not need the task tree).
  absl::Mutex rlimit_mu;
  std::array<rlimit, RLIM_NLIMITS> rlimits ABSL_GUARDED_BY(rlimit_mu);
  rlimit GetRlimit(int resource) {
    absl::MutexLock l(&rlimit_mu);
    return rlimits[resource];
  }

  // ITIMER_REAL and POSIX timers (timers.cc), guarded by their own lock.
  absl::Mutex timer_mu;
  std::shared_ptr<Timer> itimer_real ABSL_GUARDED_BY(timer_mu);
  std::map<int, std::shared_ptr<Timer>> posix_timers ABSL_GUARDED_BY(timer_mu);
  int next_timer_id ABSL_GUARDED_BY(timer_mu) = 0;
  // What timer_getoverrun reports for each POSIX timer: the overrun count of its signal last
  // delivered (Linux's it_overrun_last), recorded when the signal is dequeued. Kernel::mu_.
  std::map<int, int> timer_overrun_last;

 private:
  pid_t pid_;
};

// How a wait status reads in a siginfo or waitid: CLD_EXITED with the exit code, or CLD_KILLED
// (CLD_DUMPED) with the signal.
struct ChildExit {
  int code;
  int status;
};
ChildExit DecodeExitStatus(int wait_status);

// Adds a reaped child's total usage to its parent's children usage (Kernel::mu_ held).
void AccumulateChild(ThreadGroup& parent, const ThreadGroup& child);

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_THREAD_GROUP_H_
