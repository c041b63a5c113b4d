// A task's seccomp state: installing filters (seccomp(2), prctl, the container's profile), TSYNC,
// and applying the filters' verdict to each syscall. See seccomp.h for the design.
#include <linux/audit.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include <algorithm>

#include "base/log.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/seccomp.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::kernel {

namespace {

// The flags this sandbox offers. NEW_LISTENER (and WAIT_KILLABLE_RECV, which needs it) are
// missing: without user notification they are EINVAL, exactly as on a kernel that predates
// them, which is how libseccomp and container runtimes probe for them.
constexpr uint32_t kFilterFlags = SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG |
                                  SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_TSYNC_ESRCH;

// The si_code of a SIGSYS raised by a filter (asm-generic/siginfo.h; glibc does not name it).
constexpr int kSysSeccomp = 1;

// MAX_ERRNO: SECCOMP_RET_ERRNO data above it is capped.
constexpr uint32_t kMaxErrno = 4095;

// Whether `ancestor` (null: none) is `chain` or one of the filters `chain` was stacked on.
bool IsAncestor(const SeccompFilter* ancestor, const SeccompFilter* chain) {
  if (!ancestor) return true;
  for (const SeccompFilter* f = chain; f; f = f->prev()) {
    if (f == ancestor) return true;
  }
  return false;
}

// Makes the passthrough syscalls of the task's host process trap, once per process (seccomp.h).
Result<void> EnsureHostTraps(Task& t) {
  if (t.seccomp().host_traps.load()) return Ok();
  Result<void> r = t.context().TrapPassthrough();
  if (!r.ok()) {
    LOG_WARNING("task {}: making the passthrough syscalls trap failed: {}", t.tid(),
                r.error().Name());
    return r;
  }
  Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  // The host filter went to every thread of the host process, which are this thread group's.
  for (Task* other : t.thread_group().tasks) other->seccomp().host_traps.store(true);
  t.seccomp().host_traps.store(true);
  return Ok();
}

// Attaches a validated program to `t` (and with TSYNC to its whole thread group), as Linux's
// seccomp_attach_filter. Returns 0 or the tid of a thread TSYNC could not synchronize.
Result<long> Attach(Task& t, std::vector<sock_filter> prog, uint32_t flags) {
  TRY(EnsureHostTraps(t));
  Kernel& k = t.kernel();
  absl::MutexLock l(&k.mu_);
  TaskSeccomp& s = t.seccomp();
  if (s.mode() != SECCOMP_MODE_DISABLED && s.mode() != SECCOMP_MODE_FILTER) return Errno(EINVAL);
  RefPtr<SeccompFilter> current = s.filter();
  uint64_t total = uint64_t{SeccompCountedLength(prog)} + (current ? current->path_length() : 0);
  if (total > kSeccompMaxPathLength) return Errno(ENOMEM);
  ThreadGroup& tg = t.thread_group();
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) {
    // Every other thread must have no filter, or filters that are all part of the caller's.
    for (Task* other : tg.tasks) {
      if (other == &t) continue;
      int mode = other->seccomp().mode();
      if (mode == SECCOMP_MODE_DISABLED) continue;
      if (mode == SECCOMP_MODE_FILTER && IsAncestor(other->seccomp().filter().get(), current.get()))
        continue;
      if (flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH) return Errno(ESRCH);
      return other->tid();
    }
  }
  auto filter = MakeRef<SeccompFilter>(std::move(prog), std::move(current),
                                       (flags & SECCOMP_FILTER_FLAG_LOG) != 0);
  s.Set(SECCOMP_MODE_FILTER, filter);
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) {
    bool nnp = t.creds()->no_new_privs;
    for (Task* other : tg.tasks) {
      if (other == &t) continue;
      other->seccomp().Set(SECCOMP_MODE_FILTER, filter);
      // A thread cannot escape no_new_privs by having been made before it was set.
      if (nnp) other->seccomp().pending_no_new_privs.store(true);
    }
  }
  return 0;
}

// Ends the calling thread alone, as Linux's do_exit(sig) from a seccomp kill; the last thread
// takes its process with it, killed by `sig`.
SeccompVerdict KillThread(Task& t, int sig) {
  Kernel& k = t.kernel();
  {
    absl::MutexLock l(&k.mu_);
    ThreadGroup& tg = t.thread_group();
    if (tg.exiting) return SeccompVerdict::kReturn;
    if (tg.tasks.size() <= 1) {
      k.StartGroupExit(&tg, sig);
      return SeccompVerdict::kReturn;
    }
  }
  // The host thread exits in place of the syscall; its exit is an ordinary thread exit to the
  // sentry. As in Linux, the code it leaves does not matter: the process's status will be that
  // of its last thread to leave.
  t.RecordExit(0);
  platform::Registers& r = t.context().Regs();
  r.orig_rax = SYS_exit;
  r.rdi = 0;
  return SeccompVerdict::kHostSyscall;
}

const char* SyscallNameOf(Task& t, int nr) {
  if (nr < 0 || nr >= kMaxSyscall) return "?";
  const char* name = t.kernel().syscall_table()[nr].name;
  return name ? name : "?";
}

}  // namespace

RefPtr<SeccompFilter> TaskSeccomp::filter() const {
  absl::MutexLock l(&mu_);
  return filter_;
}

void TaskSeccomp::Set(int mode, RefPtr<SeccompFilter> filter) {
  {
    absl::MutexLock l(&mu_);
    filter_.swap(filter);
    mode_.store(mode, std::memory_order_release);
  }
  // The old chain, if this was its last holder, goes outside the lock.
}

void TaskSeccomp::InheritFrom(const TaskSeccomp& parent) {
  RefPtr<SeccompFilter> f = parent.filter();
  absl::MutexLock l(&mu_);
  filter_ = std::move(f);
  mode_.store(parent.mode(), std::memory_order_release);
  host_traps.store(parent.host_traps.load());
  pending_no_new_privs.store(parent.pending_no_new_privs.load());
}

Result<long> SeccompSetModeStrict(Task& t) {
  TRY(EnsureHostTraps(t));
  absl::MutexLock l(&t.kernel().mu_);
  TaskSeccomp& s = t.seccomp();
  if (s.mode() != SECCOMP_MODE_DISABLED && s.mode() != SECCOMP_MODE_STRICT) return Errno(EINVAL);
  s.Set(SECCOMP_MODE_STRICT, nullptr);
  return 0;
}

Result<long> SeccompSetModeFilter(Task& t, uint32_t flags, UserAddr uargs) {
  // Linux's order: flags, the sock_fprog, its length, the privilege, then the program.
  if (flags & ~kFilterFlags) return Errno(EINVAL);
  sock_fprog fprog = TRY(t.CopyInObj<sock_fprog>(uargs));
  if (fprog.len == 0 || fprog.len > kSeccompMaxProgramLength) return Errno(EINVAL);
  RefPtr<Credentials> creds = t.creds();
  if (!creds->no_new_privs && !creds->HasCap(CAP_SYS_ADMIN)) return Errno(EACCES);
  if (fprog.filter == nullptr) return Errno(EINVAL);
  std::vector<sock_filter> prog(fprog.len);
  TRY(t.CopyIn(UserAddr(reinterpret_cast<uint64_t>(fprog.filter)), prog.data(),
               prog.size() * sizeof(sock_filter)));
  TRY(ValidateSeccompProgram(prog));
  return Attach(t, std::move(prog), flags);
}

Result<void> SeccompInstallInitial(Task& t, std::vector<sock_filter> prog) {
  TRY(ValidateSeccompProgram(prog));
  TRY(Attach(t, std::move(prog), 0));
  return Ok();
}

SeccompVerdict SeccompCheckSyscall(Task& t, const SyscallArgs& args) {
  TaskSeccomp& s = t.seccomp();
  if (s.pending_no_new_privs.load() && s.pending_no_new_privs.exchange(false)) {
    RefPtr<Credentials> c = t.creds()->Copy();
    c->no_new_privs = true;
    t.set_creds(std::move(c));
  }
  platform::Registers& r = t.context().Regs();
  if (s.mode() == SECCOMP_MODE_STRICT) {
    switch (args.nr) {
      case SYS_read:
      case SYS_write:
      case SYS_exit:
      case SYS_rt_sigreturn:
        return SeccompVerdict::kRun;
      default:
        LOG_INFO("seccomp: [{}:{}] {} ({}) in strict mode: killed", t.pid(), t.tid(),
                 SyscallNameOf(t, args.nr), args.nr);
        return KillThread(t, SIGKILL);
    }
  }

  seccomp_data data{};
  data.nr = args.nr;
  data.arch = AUDIT_ARCH_X86_64;
  data.instruction_pointer = r.rip;
  std::copy(std::begin(args.a), std::end(args.a), std::begin(data.args));
  RefPtr<SeccompFilter> chain = s.filter();
  const SeccompFilter* match = nullptr;
  const uint32_t ret = RunSeccompFilters(chain.get(), data, &match);
  const uint32_t action = ret & SECCOMP_RET_ACTION_FULL;
  const uint32_t value = ret & SECCOMP_RET_DATA;
  // Logged as Linux audits them by default: kills (and unknown actions, which kill), LOG, and
  // every action but ALLOW of a filter installed with SECCOMP_FILTER_FLAG_LOG. The sandbox has
  // no audit log: the record goes to the sentry's log (runsc --log) at level info, with the
  // fields of Linux's type=SECCOMP audit record, so that the same tools find it.
  const bool kills = action != SECCOMP_RET_ERRNO && action != SECCOMP_RET_TRAP &&
                     action != SECCOMP_RET_TRACE && action != SECCOMP_RET_USER_NOTIF &&
                     action != SECCOMP_RET_LOG && action != SECCOMP_RET_ALLOW;
  if (action != SECCOMP_RET_ALLOW &&
      (kills || action == SECCOMP_RET_LOG || (match && match->log()))) {
    LOG_INFO("seccomp: pid={} tid={} uid={} comm=\"{}\" sig={} arch={:x} syscall={} ({}) compat=0 "
             "ip={:#x} code={:#x}",
             t.pid(), t.tid(), t.creds()->ruid, t.name(), kills ? SIGSYS : 0, AUDIT_ARCH_X86_64,
             args.nr, SyscallNameOf(t, args.nr), r.rip, ret);
  }
  switch (action) {
    case SECCOMP_RET_ALLOW:
    case SECCOMP_RET_LOG:
      return SeccompVerdict::kRun;
    case SECCOMP_RET_ERRNO:
      r.rax = static_cast<uint64_t>(-static_cast<int64_t>(std::min(value, kMaxErrno)));
      // The syscall is over: no restart rules apply to whatever errno the filter chose.
      r.orig_rax = static_cast<uint64_t>(-1);
      return SeccompVerdict::kReturn;
    case SECCOMP_RET_TRACE:
    case SECCOMP_RET_USER_NOTIF:
      // No tracer can attach inside the sandbox and no listener exists: Linux answers ENOSYS.
      r.rax = static_cast<uint64_t>(-ENOSYS);
      r.orig_rax = static_cast<uint64_t>(-1);
      return SeccompVerdict::kReturn;
    case SECCOMP_RET_TRAP: {
      // Linux rolls rax back to the syscall number before forcing SIGSYS, and the syscall does
      // not run: the handler sees the number in rax, and whatever it leaves there is the result.
      r.rax = r.orig_rax;
      siginfo_t info{};
      info.si_signo = SIGSYS;
      info.si_code = kSysSeccomp;
      info.si_errno = static_cast<int>(value);
      info.si_call_addr = reinterpret_cast<void*>(r.rip);
      info.si_syscall = args.nr;
      info.si_arch = AUDIT_ARCH_X86_64;
      t.ForceSignal(info);
      return SeccompVerdict::kReturn;
    }
    case SECCOMP_RET_KILL_THREAD:
      return KillThread(t, SIGSYS);
    case SECCOMP_RET_KILL_PROCESS:
    default: {
      // An unknown action kills the process too. Its status shows SIGSYS (no core is written
      // in the sandbox, as for every core-dumping signal).
      absl::MutexLock l(&t.kernel().mu_);
      t.kernel().StartGroupExit(&t.thread_group(), SIGSYS);
      return SeccompVerdict::kReturn;
    }
  }
}

}  // namespace moat::kernel
