// Process and thread syscalls: identity, clone/fork/exec/exit, wait, process groups, prctl.
#include <asm/prctl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {
constexpr size_t kMaxExecArgs = 2 * 1024 * 1024;
}

// getpid(2)
Result<long> Getpid(Task& t, const SyscallArgs&) { return t.pid(); }

// gettid(2)
Result<long> Gettid(Task& t, const SyscallArgs&) { return t.tid(); }

// getppid(2)
Result<long> Getppid(Task& t, const SyscallArgs&) {
  absl::MutexLock l(&t.kernel().mu_);
  kernel::ThreadGroup* p = t.thread_group().parent;
  return p ? p->pid() : 0;
}

// fork(2)
Result<long> Fork(Task& t, const SyscallArgs&) {
  return t.Clone(SIGCHLD, UserAddr(), UserAddr(), UserAddr(), 0);
}

// vfork(2)
Result<long> Vfork(Task& t, const SyscallArgs&) {
  return t.Clone(CLONE_VM | CLONE_VFORK | SIGCHLD, UserAddr(), UserAddr(), UserAddr(), 0);
}

// clone(2): x86-64 order is flags, stack, parent_tid, child_tid, tls.
Result<long> Clone(Task& t, const SyscallArgs& a) {
  return t.Clone(a.Uint(0), a.Addr(1), a.Addr(2), a.Addr(3), a.Uint(4));
}

// clone3(2): not offered; libc falls back to clone(2) on ENOSYS.
Result<long> Clone3(Task&, const SyscallArgs&) { return Errno(ENOSYS); }

// execve(2)
Result<long> Execve(Task& t, const SyscallArgs& a) {
  std::string path = TRY(t.CopyInPath(a.Addr(0)));
  std::vector<std::string> argv = TRY(t.CopyInStringArray(a.Addr(1), kMaxExecArgs));
  std::vector<std::string> envp = TRY(t.CopyInStringArray(a.Addr(2), kMaxExecArgs));
  if (path.empty()) return Errno(ENOENT);
  return t.Execve(AT_FDCWD, path, std::move(argv), std::move(envp), 0);
}

// execveat(2)
Result<long> Execveat(Task& t, const SyscallArgs& a) {
  int flags = a.Int32(4);
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return Errno(EINVAL);
  std::string path = TRY(t.CopyInPath(a.Addr(1)));
  std::vector<std::string> argv = TRY(t.CopyInStringArray(a.Addr(2), kMaxExecArgs));
  std::vector<std::string> envp = TRY(t.CopyInStringArray(a.Addr(3), kMaxExecArgs));
  if (path.empty() && !(flags & AT_EMPTY_PATH)) return Errno(ENOENT);
  return t.Execve(a.Int32(0), path, std::move(argv), std::move(envp), flags);
}

// exit(2): the host thread exits natively once the status is recorded.
Result<long> Exit(Task& t, const SyscallArgs& a) {
  t.RecordExit(a.Int32(0));
  return Errno(kEHOSTSYSCALL);
}

// exit_group(2)
Result<long> ExitGroup(Task& t, const SyscallArgs& a) {
  t.RecordExit(a.Int32(0));
  absl::MutexLock l(&t.kernel().mu_);
  t.kernel().StartGroupExit(&t.thread_group(), (a.Int32(0) & 0xff) << 8, /*caller_exits=*/true);
  return Errno(kEHOSTSYSCALL);
}

// wait4(2)
Result<long> Wait4(Task& t, const SyscallArgs& a) {
  pid_t pid = a.Int32(0);
  int options = a.Int32(2);
  if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL))
    return Errno(EINVAL);
  if (pid == INT32_MIN) return Errno(ESRCH);
  Task::WaitRequest req{P_ALL, 0, options | WEXITED};
  if (pid < -1) {
    req = {P_PGID, -pid, req.options};
  } else if (pid == 0) {
    absl::MutexLock l(&t.kernel().mu_);
    req = {P_PGID, t.thread_group().pgid, req.options};
  } else if (pid > 0) {
    req = {P_PID, pid, req.options};
  }
  Task::WaitResult r = TRY(t.WaitChild(req));
  if (r.pid > 0 && !a.Addr(1).IsNull()) TRY(t.CopyOutObj(a.Addr(1), r.status));
  if (r.pid > 0 && !a.Addr(3).IsNull()) TRY(t.CopyOutObj(a.Addr(3), r.usage));
  return r.pid;
}

// waitid(2)
Result<long> Waitid(Task& t, const SyscallArgs& a) {
  int which = a.Int32(0);
  pid_t id = a.Int32(1);
  int options = a.Int32(3);
  if (options & ~(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WNOTHREAD | __WCLONE |
                  __WALL))
    return Errno(EINVAL);
  if (!(options & (WEXITED | WSTOPPED | WCONTINUED))) return Errno(EINVAL);
  Task::WaitRequest req{P_ALL, 0, options};
  switch (which) {
    case P_ALL:
      break;
    case P_PID:
      if (id <= 0) return Errno(EINVAL);
      req.idtype = P_PID;
      req.id = id;
      break;
    case P_PGID:
      if (id < 0) return Errno(EINVAL);
      req.idtype = P_PGID;
      if (id == 0) {
        absl::MutexLock l(&t.kernel().mu_);
        id = t.thread_group().pgid;
      }
      req.id = id;
      break;
    default:
      // TODO(#3): P_PIDFD with pidfds.
      return Errno(EINVAL);
  }
  Task::WaitResult r = TRY(t.WaitChild(req));
  if (!a.Addr(2).IsNull()) {
    siginfo_t info{};
    if (r.pid > 0) {
      info.si_signo = SIGCHLD;
      info.si_code = r.code;
      info.si_pid = r.pid;
      info.si_uid = r.uid;
      info.si_status = r.child_status;
    }
    TRY(t.CopyOutObj(a.Addr(2), info));
  }
  if (!a.Addr(4).IsNull()) TRY(t.CopyOutObj(a.Addr(4), r.pid > 0 ? r.usage : rusage{}));
  return 0;
}

// set_tid_address(2): the host kernel clears and wakes the address when the thread exits.
Result<long> SetTidAddress(Task& t, const SyscallArgs& a) {
  t.set_clear_child_tid(a.Uint(0));
  return Errno(kEHOSTSYSCALL);
}

// set_robust_list(2): the list lives in the process's memory; the host walks it at exit.
Result<long> SetRobustList(Task&, const SyscallArgs&) { return Errno(kEHOSTSYSCALL); }

// get_robust_list(2): only for the calling thread.
Result<long> GetRobustList(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) != 0 && a.Int32(0) != t.tid()) return Errno(EPERM);
  return Errno(kEHOSTSYSCALL);
}

// setpgid(2)
Result<long> Setpgid(Task& t, const SyscallArgs& a) {
  pid_t pid = a.Int32(0);
  pid_t pgid = a.Int32(1);
  if (pgid < 0) return Errno(EINVAL);
  kernel::Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  kernel::ThreadGroup* self = &t.thread_group();
  kernel::ThreadGroup* target = pid == 0 ? self : k.GroupByPid(pid);
  if (!target || target->zombie) return Errno(ESRCH);
  if (pgid == 0) pgid = target->pid();
  if (target != self) {
    if (target->parent != self) return Errno(ESRCH);
    if (target->sid != self->sid) return Errno(EPERM);
    if (target->execed) return Errno(EACCES);
  }
  if (target->sid == target->pid()) return Errno(EPERM);  // a session leader
  if (pgid != target->pid()) {
    bool found = false;
    for (kernel::ThreadGroup* g : k.Groups()) {
      if (g->pgid == pgid && g->sid == self->sid && !g->zombie) found = true;
    }
    if (!found) return Errno(EPERM);
  }
  target->pgid = pgid;
  return 0;
}

// getpgid(2)
Result<long> Getpgid(Task& t, const SyscallArgs& a) {
  absl::MutexLock l(&t.kernel().mu_);
  pid_t pid = a.Int32(0);
  kernel::ThreadGroup* g = pid == 0 ? &t.thread_group() : t.kernel().GroupByPid(pid);
  if (!g) return Errno(ESRCH);
  return g->pgid;
}

// getpgrp(2)
Result<long> Getpgrp(Task& t, const SyscallArgs&) {
  absl::MutexLock l(&t.kernel().mu_);
  return t.thread_group().pgid;
}

// setsid(2)
Result<long> Setsid(Task& t, const SyscallArgs&) {
  kernel::Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  kernel::ThreadGroup* self = &t.thread_group();
  // A process group leader, or any process group with this pid, forbids a new session.
  for (kernel::ThreadGroup* g : k.Groups()) {
    if (g->pgid == self->pid()) return Errno(EPERM);
  }
  self->sid = self->pgid = self->pid();
  self->ctty.reset();  // a new session starts without a controlling terminal
  return self->sid;
}

// getsid(2)
Result<long> Getsid(Task& t, const SyscallArgs& a) {
  absl::MutexLock l(&t.kernel().mu_);
  pid_t pid = a.Int32(0);
  kernel::ThreadGroup* g = pid == 0 ? &t.thread_group() : t.kernel().GroupByPid(pid);
  if (!g) return Errno(ESRCH);
  return g->sid;
}

// prctl(2): the options programs use at startup.
Result<long> Prctl(Task& t, const SyscallArgs& a) {
  int option = a.Int32(0);
  kernel::Kernel& k = t.kernel();
  switch (option) {
    case PR_SET_NAME: {
      char name[16] = {};
      size_t got = TRY(t.CopyInPartial(a.Addr(1), name, sizeof(name) - 1));
      if (got == 0) return Errno(EFAULT);
      name[15] = 0;
      t.set_name(std::string(name, strnlen(name, 15)));
      return 0;
    }
    case PR_GET_NAME: {
      char name[16] = {};
      std::string n = t.name();
      std::memcpy(name, n.data(), std::min<size_t>(n.size(), 15));
      TRY(t.CopyOut(a.Addr(1), name, sizeof(name)));
      return 0;
    }
    case PR_SET_PDEATHSIG: {
      int sig = a.Int32(1);
      if (sig != 0 && !kernel::ValidSignal(sig)) return Errno(EINVAL);
      absl::MutexLock l(&k.mu_);
      t.thread_group().pdeath_signal = sig;
      return 0;
    }
    case PR_GET_PDEATHSIG: {
      int sig;
      {
        absl::MutexLock l(&k.mu_);
        sig = t.thread_group().pdeath_signal;
      }
      TRY(t.CopyOutObj(a.Addr(1), sig));
      return 0;
    }
    case PR_SET_CHILD_SUBREAPER: {
      absl::MutexLock l(&k.mu_);
      t.thread_group().subreaper = a.Uint(1) != 0;
      return 0;
    }
    case PR_GET_CHILD_SUBREAPER: {
      int v;
      {
        absl::MutexLock l(&k.mu_);
        v = t.thread_group().subreaper;
      }
      TRY(t.CopyOutObj(a.Addr(1), v));
      return 0;
    }
    case PR_SET_DUMPABLE: {
      if (a.Uint(1) > 1) return Errno(EINVAL);
      absl::MutexLock l(&k.mu_);
      t.thread_group().dumpable = a.Uint(1);
      return 0;
    }
    case PR_GET_DUMPABLE: {
      absl::MutexLock l(&k.mu_);
      return t.thread_group().dumpable ? 1 : 0;
    }
    case PR_SET_NO_NEW_PRIVS: {
      if (a.Uint(1) != 1 || a.Uint(2) || a.Uint(3) || a.Uint(4)) return Errno(EINVAL);
      auto c = t.creds()->Copy();
      c->no_new_privs = true;
      t.set_creds(c);
      return 0;
    }
    case PR_GET_NO_NEW_PRIVS:
      if (a.Uint(1) || a.Uint(2) || a.Uint(3) || a.Uint(4)) return Errno(EINVAL);
      return t.creds()->no_new_privs ? 1 : 0;
    case PR_SET_KEEPCAPS: {
      if (a.Uint(1) > 1) return Errno(EINVAL);
      auto c = t.creds()->Copy();
      c->keep_caps = a.Uint(1);
      t.set_creds(c);
      return 0;
    }
    case PR_GET_KEEPCAPS:
      return t.creds()->keep_caps ? 1 : 0;
    case PR_CAPBSET_READ:
      if (a.Uint(1) > kernel::kCapLastCap) return Errno(EINVAL);
      return (t.creds()->cap_bounding >> a.Uint(1)) & 1;
    case PR_CAPBSET_DROP: {
      if (a.Uint(1) > kernel::kCapLastCap) return Errno(EINVAL);
      if (!t.creds()->HasCap(CAP_SETPCAP)) return Errno(EPERM);
      auto c = t.creds()->Copy();
      c->cap_bounding &= ~(uint64_t{1} << a.Uint(1));
      t.set_creds(c);
      return 0;
    }
    case PR_CAP_AMBIENT: {
      auto c = t.creds()->Copy();
      uint64_t bit = a.Uint(2) <= kernel::kCapLastCap ? uint64_t{1} << a.Uint(2) : 0;
      switch (a.Uint(1)) {
        case PR_CAP_AMBIENT_IS_SET:
          if (!bit) return Errno(EINVAL);
          return (c->cap_ambient & bit) ? 1 : 0;
        case PR_CAP_AMBIENT_RAISE:
          if (!bit) return Errno(EINVAL);
          if (!(c->cap_permitted & bit) || !(c->cap_inheritable & bit)) return Errno(EPERM);
          c->cap_ambient |= bit;
          break;
        case PR_CAP_AMBIENT_LOWER:
          if (!bit) return Errno(EINVAL);
          c->cap_ambient &= ~bit;
          break;
        case PR_CAP_AMBIENT_CLEAR_ALL:
          c->cap_ambient = 0;
          break;
        default:
          return Errno(EINVAL);
      }
      t.set_creds(c);
      return 0;
    }
    case PR_GET_SECCOMP:
      return t.seccomp().mode();
    case PR_SET_SECCOMP:
      // prctl has no flags; strict mode ignores the third argument.
      switch (a.Uint(1)) {
        case SECCOMP_MODE_STRICT:
          return DoSeccomp(t, SECCOMP_SET_MODE_STRICT, 0, UserAddr());
        case SECCOMP_MODE_FILTER:
          return DoSeccomp(t, SECCOMP_SET_MODE_FILTER, 0, a.Addr(2));
        default:
          return Errno(EINVAL);
      }
    case PR_SET_TIMERSLACK:
    case PR_SET_THP_DISABLE:
    case PR_SET_VMA:
      return 0;  // hints the sandbox does not need to act on
    case PR_GET_TIMERSLACK:
      return 50000;
    case PR_GET_THP_DISABLE:
      return 0;
    case PR_GET_TID_ADDRESS:
      TRY(t.CopyOutObj(a.Addr(1), t.clear_child_tid()));
      return 0;
    default:
      return Errno(EINVAL);
  }
}

// arch_prctl(2): ARCH_SET_FS and ARCH_GET_FS run natively; the rest are register edits.
Result<long> ArchPrctl(Task& t, const SyscallArgs& a) {
  platform::Registers& r = t.context().Regs();
  switch (a.Int32(0)) {
    case ARCH_SET_FS:
    case ARCH_GET_FS:
      return Errno(kEHOSTSYSCALL);
    case ARCH_SET_GS:
      if (a.Uint(1) >= kMaxUserAddress) return Errno(EPERM);
      r.gs_base = a.Uint(1);
      return 0;
    case ARCH_GET_GS:
      TRY(t.CopyOutObj(a.Addr(1), static_cast<uint64_t>(r.gs_base)));
      return 0;
    case 0x1011:  // ARCH_GET_CPUID: cpuid works
      return 1;
    case 0x1012:  // ARCH_SET_CPUID: no CPUID faulting
      return Errno(ENODEV);
    case 0x1021:  // ARCH_GET_XCOMP_SUPP
    case 0x1022:  // ARCH_GET_XCOMP_PERM
    case 0x1023:  // ARCH_REQ_XCOMP_PERM: the process's own FPU permissions (AMX)
      return Errno(kEHOSTSYSCALL);
    default:
      return Errno(EINVAL);
  }
}

// unshare(2)
Result<long> Unshare(Task& t, const SyscallArgs& a) {
  uint64_t flags = a.Uint(0);
  constexpr uint64_t kNs = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
                           CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWTIME;
  if (flags & ~(kNs | CLONE_FILES | CLONE_FS | CLONE_SYSVSEM | CLONE_SIGHAND | CLONE_VM |
                CLONE_THREAD))
    return Errno(EINVAL);
  if (flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) {
    absl::MutexLock l(&t.kernel().mu_);
    if (t.thread_group().tasks.size() > 1) return Errno(EINVAL);
  }
  if (flags & kNs) return Errno(EPERM);  // TODO(#4): namespaces inside the sandbox.
  if (flags & CLONE_FILES) t.set_fds(t.fds().Fork());
  if (flags & CLONE_FS) t.set_fs(t.fs().Clone());
  return 0;
}

}  // namespace moat::syscalls
