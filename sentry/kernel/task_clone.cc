// clone, fork and vfork: a new task (thread or process) with its own task thread.
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "base/log.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {
namespace {

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWCGROUP;

// The flags that reach the host clone: what the host must know to build the thread or process.
// Files, fs context, namespaces and parentage are the sentry's; CLONE_VFORK is emulated (the
// parent's task thread waits) so the host never blocks the parent.
constexpr uint64_t kHostFlags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                                CLONE_CHILD_CLEARTID;

}  // namespace

Result<long> Task::Clone(uint64_t flags, UserAddr stack, UserAddr parent_tid, UserAddr child_tid,
                         uint64_t tls) {
  // The checks of Linux's copy_process, in its order.
  if ((flags & (CLONE_NEWNS | CLONE_FS)) == (CLONE_NEWNS | CLONE_FS)) return Errno(EINVAL);
  if ((flags & (CLONE_NEWUSER | CLONE_FS)) == (CLONE_NEWUSER | CLONE_FS)) return Errno(EINVAL);
  if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) return Errno(EINVAL);
  if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)) return Errno(EINVAL);
  if ((flags & CLONE_PARENT) && pid() == 1) return Errno(EINVAL);
  if ((flags & CLONE_THREAD) && (flags & (CLONE_NEWUSER | CLONE_NEWPID))) return Errno(EINVAL);
  if (flags & CLONE_PIDFD) {
    // TODO(#3): pidfds. Refuse rather than hand out something else.
    return Errno(EINVAL);
  }
  int exit_signal = flags & CSIGNAL;
  if (exit_signal && !ValidSignal(exit_signal)) return Errno(EINVAL);
  if (flags & kNamespaceFlags) {
    // TODO(#4): namespaces inside the sandbox. Without CAP_SYS_ADMIN Linux says EPERM too.
    return Errno(EPERM);
  }

  // linux.resources.pids.limit (copy_process's cgroup_can_fork): EAGAIN past it.
  if (!kernel_->ChargePid()) return Errno(EAGAIN);
  struct PidCharge {
    Kernel* k;
    ~PidCharge() { k->ReleasePid(); }
  } charge{kernel_};

  platform::Registers child_regs = ctx_->Regs();
  child_regs.rax = 0;
  child_regs.orig_rax = static_cast<uint64_t>(-1);
  if (!stack.IsNull()) child_regs.rsp = stack.value();
  if (flags & CLONE_SETTLS) child_regs.fs_base = tls;

  uint64_t host_flags = flags & kHostFlags;
  if (!(flags & CLONE_THREAD)) host_flags |= SIGCHLD;  // host zombies are reaped by the kernel

  platform::CloneResult child;
  for (int attempt = 0;; attempt++) {
    Result<platform::CloneResult> made = ctx_->Clone(host_flags, stack.value(), parent_tid.value(),
                                                     child_tid.value(), tls, child_regs);
    // The sentry's own fds (each process has a few) ran out first: to the application that is
    // a resource shortage, which clone reports as EAGAIN, never as EMFILE.
    if (!made.ok() && (made.error().value() == EMFILE || made.error().value() == ENFILE))
      return Errno(EAGAIN);
    child = TRY(std::move(made));
    absl::MutexLock l(&kernel_->mu_);
    if (!kernel_->TaskByTid(child.tid) && !kernel_->GroupByPid(child.tid)) break;
    // The host reused the pid of a zombie the sandbox still holds (host zombies are reaped at
    // once). Pids are allocated cyclically, so the next clone gets another one.
    LOG_INFO("clone: pid {} belongs to a zombie; cloning again", child.tid);
    if (flags & CLONE_THREAD) {
      // TODO(#3): a new thread cannot be killed alone with a host signal, so a thread that gets a
      // zombie's pid is kept (and the zombie's pid is shadowed). It takes a full cycle of the
      // pid space while the zombie is held.
      break;
    }
    kill(child.context->host_pid(), SIGKILL);
    if (attempt > 16) return Errno(EAGAIN);
  }

  RefPtr<ThreadGroup> tg;
  if (flags & CLONE_THREAD) {
    tg = tg_;
  } else {
    tg = MakeRef<ThreadGroup>(child.tid);
    tg->exit_signal = exit_signal;
    tg->handlers = (flags & CLONE_SIGHAND) ? tg_->handlers : RefPtr<SignalHandlers>();
    absl::MutexLock l(&tg_->rlimit_mu);
    tg->rlimits = tg_->rlimits;
  }
  auto t = MakeRef<Task>(kernel_, tg, child.tid, std::move(child.context));
  t->set_creds(creds());
  t->set_mount_ns(mount_ns_);
  t->set_mm((flags & CLONE_VM) ? mm_ : mm_->Fork());
  t->set_fds((flags & CLONE_FILES) ? fds_ : fds_->Fork());
  t->set_fs((flags & CLONE_FS) ? fs_ : fs_->Clone());
  t->set_name(name());
  if (flags & CLONE_CHILD_CLEARTID) t->clear_child_tid_ = child_tid.value();
  {
    absl::MutexLock l(&kernel_->mu_);
    t->mask_ = mask_;
    t->seccomp_.InheritFrom(seccomp_);
    if ((flags & CLONE_VM) && !(flags & CLONE_VFORK)) {
      t->altstack_ = stack_t{};
    } else {
      t->altstack_ = altstack_;
    }
    if (!(flags & CLONE_THREAD)) {
      if (!tg->handlers) tg->handlers = tg_->handlers->Clone();
      tg->pgid = tg_->pgid;
      tg->sid = tg_->sid;
      tg->oom_score_adj = tg_->oom_score_adj;
      tg->oom_score_adj_min = tg_->oom_score_adj_min;
      tg->ctty = tg_->ctty;
      ThreadGroup* parent = (flags & CLONE_PARENT) ? tg_->parent : tg_.get();
      tg->parent = parent;
      if (flags & CLONE_PARENT) tg->exit_signal = tg_->exit_signal;
      if (parent) parent->children.push_back(tg);
      kernel_->AddGroup(tg.get());
      tg->leader = t.get();
      kernel_->WatchHostProcess(tg.get(), t.get());
    }
    tg->tasks.push_back(t.get());
    kernel_->AddTask(t.get());
    if (tg_->exiting) {
      // A group exit began while the clone ran: the new thread dies with the group.
      if (flags & CLONE_THREAD) t->interrupted_.store(true);
    }
  }
  long tid = child.tid;
  t->Start();

  if (flags & CLONE_VFORK) {
    // The parent waits until the child execs or exits; only a fatal signal ends the wait early.
    WaiterRegistration reg(t->vfork_wq_, this, kEventAll);
    for (;;) {
      {
        absl::MutexLock l(&t->vfork_mu_);
        if (t->vfork_done_) break;
      }
      if (!BlockKillable().ok()) break;
    }
  }
  return tid;
}

}  // namespace moat::kernel
