// wait4 and waitid: reporting and reaping children.
#include <sys/wait.h>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::kernel {
namespace {

bool Matches(const ThreadGroup& child, const Task::WaitRequest& req) {
  switch (req.idtype) {
    case P_ALL:
      break;
    case P_PID:
      if (child.pid() != req.id) return false;
      break;
    case P_PGID:
      if (child.pgid != req.id) return false;
      break;
    default:
      return false;
  }
  // A "clone child" reports to its parent with a signal other than SIGCHLD; __WCLONE selects
  // those only, __WALL both kinds.
  if (req.options & __WALL) return true;
  bool clone_child = child.exit_signal != SIGCHLD;
  return clone_child == bool(req.options & __WCLONE);
}

}  // namespace

Result<Task::WaitResult> Task::WaitChild(const WaitRequest& req) {
  for (;;) {
    {
      absl::MutexLock l(&kernel_->mu_);
      bool any = false;
      for (size_t i = 0; i < tg_->children.size(); i++) {
        ThreadGroup* c = tg_->children[i].get();
        if (!Matches(*c, req)) continue;
        any = true;
        WaitResult r;
        r.pid = c->pid();
        if (c->zombie && (req.options & WEXITED)) {
          r.status = c->exit_status;
          r.uid = c->uid_at_exit;
          ChildExit e = DecodeExitStatus(c->exit_status);
          r.code = e.code;
          r.child_status = e.status;
          r.usage = c->TotalUsage();
          if (!(req.options & WNOWAIT)) {
            AccumulateChild(*tg_, *c);
            kernel_->RemoveGroup(c);
            tg_->children.erase(tg_->children.begin() + i);
          }
          return r;
        }
        if ((req.options & WSTOPPED) && c->stopped && c->pending_event == ChildEvent::kStopped) {
          r.status = (c->reported_stop_signal << 8) | 0x7f;
          r.code = CLD_STOPPED;
          r.child_status = c->reported_stop_signal;
          if (c->leader) r.uid = c->leader->creds()->ruid;
          if (!(req.options & WNOWAIT)) c->pending_event = ChildEvent::kNone;
          return r;
        }
        if ((req.options & WCONTINUED) && c->pending_event == ChildEvent::kContinued) {
          r.status = 0xffff;
          r.code = CLD_CONTINUED;
          r.child_status = SIGCONT;
          if (c->leader) r.uid = c->leader->creds()->ruid;
          if (!(req.options & WNOWAIT)) c->pending_event = ChildEvent::kNone;
          return r;
        }
      }
      if (!any) return Errno(ECHILD);
      if (req.options & WNOHANG) return WaitResult{};
    }
    WaiterRegistration reg(tg_->child_wq, this, kEventAll);
    // Re-check after registering: a child may have changed state in between.
    {
      absl::MutexLock l(&kernel_->mu_);
      bool ready = false;
      for (auto& c : tg_->children) {
        if (!Matches(*c, req)) continue;
        if ((c->zombie && (req.options & WEXITED)) ||
            ((req.options & WSTOPPED) && c->stopped && c->pending_event == ChildEvent::kStopped) ||
            ((req.options & WCONTINUED) && c->pending_event == ChildEvent::kContinued)) {
          ready = true;
        }
      }
      if (ready) continue;
    }
    Result<void> b = Block();
    if (!b.ok()) return Errno(kERESTARTSYS);
  }
}

}  // namespace moat::kernel
