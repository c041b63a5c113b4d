// Exit: a thread's host thread is gone; the last one makes its thread group a zombie, reparents
// its children and tells its parent.
#include <poll.h>
#include <sys/wait.h>

#include "base/log.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/fd_table.h"

namespace moat::kernel {

void Task::RecordExit(int code) {
  absl::MutexLock l(&kernel_->mu_);
  exit_code_ = code & 0xff;
  // Without a group exit, the process's status is the exit(2) code of its last thread to call it,
  // whichever thread that is (Linux's synchronize_group_exit(); observed natively). Taken here,
  // in the order of the calls: the host may report the threads' ends in another order (a ptrace
  // tracer learns of a group leader's end only after the other threads').
  tg_->last_exit_code = *exit_code_;
  // The last thread of the init leaving ends the PID namespace, as a group exit of it would.
  if (tg_.get() == kernel_->init() && tg_->tasks.size() == 1) kernel_->KillNamespace();
}

void Task::Exited(int wait_status, const struct rusage& usage) {
  RefPtr<Task> self(this);  // the pid table's reference goes away below
  // exit_files() comes before exit_notify(): the fds close, and the process's record locks go
  // with its table, before the parent can see the exit. Readers of another task's table find
  // an empty one.
  std::exchange(fds_, MakeRef<vfs::FdTable>()).reset();
  {
    absl::MutexLock l(&kernel_->mu_);
    exited_ = true;
    if (detached_) {
      // exec in another thread took this thread away; the group lives on.
      kernel_->RemoveTask(this);
    } else {
      ThreadGroup* tg = tg_.get();
      // The host reports the whole process's usage at each thread's exit; the last is the total.
      if (usage.ru_maxrss || usage.ru_utime.tv_sec || usage.ru_utime.tv_usec ||
          usage.ru_stime.tv_sec || usage.ru_stime.tv_usec)
        tg->exit_usage = usage;
      std::erase(tg->tasks, this);
      if (tg->leader == this) tg->leader = nullptr;
      if (!tg->exiting && !exit_code_) {
        // The host thread died without an exit(2) we saw: killed from outside the sandbox, or by
        // the host kernel (the OOM killer, a seccomp kill). The whole group goes.
        int status = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status)
                                              : (WEXITSTATUS(wait_status) & 0xff) << 8;
        kernel_->StartGroupExit(tg, status);
      }
      kernel_->RemoveTask(this);
      if (tg->tasks.empty()) {
        tg->uid_at_exit = creds()->ruid;
        kernel_->GroupExited(tg);
      }
    }
  }
  ReleaseVforkParent();
}

void Kernel::HostProcessExited(int pidfd, pid_t pid) {
  absl::MutexLock l(&mu_);
  ThreadGroup* tg = GroupByPid(pid);
  // An exit the sentry started (StartGroupExit) has killed the tasks already. The pidfd is
  // closed under mu_ once the process is a zombie; a pidfd of that number since given to another
  // process is not readable unless that one has exited too.
  if (!tg || tg->exiting || tg->zombie || tg->host_pidfd.get() != pidfd) return;
  pollfd p{pidfd, POLLIN, 0};
  if (poll(&p, 1, 0) != 1) return;
  LOG_DEBUG("process {}: its host process exited behind the sentry's back", pid);
  // Killed, the tasks stop waiting in the sentry and find their host threads' exit in Switch(),
  // with the host's wait status (Exited then ends the group with it).
  for (Task* t : tg->tasks) t->Kill();
}

void Task::ReleaseVforkParent() {
  {
    absl::MutexLock l(&vfork_mu_);
    vfork_done_ = true;
  }
  vfork_wq_.Notify(kEventAll);
}

void Kernel::GroupExited(ThreadGroup* tg) {
  // A session leader's exit hangs up its controlling terminal's foreground process group.
  DisassociateOnExitLocked(*this, tg);
  tg->zombie = true;
  tg->host_pidfd.Reset();
  AccountExit(*tg);
  if (!tg->exiting) {
    tg->exiting = true;
    tg->exit_status = (tg->last_exit_code & 0xff) << 8;
  }
  tg->stop_signal = 0;
  tg->stopped = false;
  tg->pending_event = ChildEvent::kNone;

  // Reparent the children: to the nearest living subreaper among the ancestors, else to init.
  ThreadGroup* reaper = nullptr;
  for (ThreadGroup* a = tg->parent; a; a = a->parent) {
    if (a->subreaper && !a->zombie) {
      reaper = a;
      break;
    }
  }
  if (!reaper && init_ && init_ != tg && !init_->zombie) reaper = init_;
  for (RefPtr<ThreadGroup>& child : tg->children) {
    if (child->pdeath_signal) {
      siginfo_t info{};
      info.si_signo = child->pdeath_signal;
      info.si_code = SI_USER;
      (void)SendGroupSignal(child.get(), info);
    }
    child->parent = reaper;
    if (!reaper) continue;
    reaper->children.push_back(child);
    if (child->zombie) {
      // An already-dead child: the new parent may reap it (Linux notifies it again).
      if (child->exit_signal) {
        siginfo_t info{};
        info.si_signo = child->exit_signal;
        info.si_code = CLD_EXITED;
        info.si_pid = child->pid();
        (void)SendGroupSignal(reaper, info);
      }
      reaper->child_wq.Notify(kEventAll);
    }
  }
  tg->children.clear();

  if (tg == init_) {
    // The PID namespace dies with its init: the host kills every process in it. Tasks blocked in
    // the sentry must notice too.
    for (auto& [pid, other] : groups_) {
      if (!other->zombie) StartGroupExit(other.get(), SIGKILL);
    }
    init_exited_ = true;
    init_status_ = tg->exit_status;
    LOG_DEBUG("init exited with wait status {:#x}", tg->exit_status);
    return;
  }
  ThreadGroup* parent = tg->parent;
  if (!parent) {
    // A process started from outside (Kernel::Exec) stays a zombie for WaitExec unless it was
    // started to be forgotten; an orphan of a dead init has nobody to reap it.
    if (tg->exec_waitable) {
      orphan_exit_cv_.SignalAll();
    } else {
      RemoveGroup(tg);
    }
    return;
  }
  const KernelSigAction& chld = parent->handlers->actions[SIGCHLD];
  bool autoreap = tg->exit_signal == SIGCHLD &&
                  (chld.handler == kSigIgn || (chld.flags & SA_NOCLDWAIT));
  if (tg->exit_signal != 0) {
    siginfo_t info{};
    info.si_signo = tg->exit_signal;
    ChildExit e = DecodeExitStatus(tg->exit_status);
    info.si_code = e.code;
    info.si_status = e.status;
    info.si_pid = tg->pid();
    (void)SendGroupSignal(parent, info);
  }
  if (autoreap) {
    // An auto-reaped child's times are not added to its parent's (as in Linux).
    std::erase_if(parent->children, [tg](const RefPtr<ThreadGroup>& c) { return c.get() == tg; });
    RemoveGroup(tg);
  }
  parent->child_wq.Notify(kEventAll);
}

}  // namespace moat::kernel
