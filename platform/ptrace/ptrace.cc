#include "platform/ptrace/ptrace.h"

#include <elf.h>
#include <seccomp.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "base/wire.h"
#include "base/status_macros.h"
#include "platform/stub/stub_layout.h"

namespace moat::platform {
namespace {

// The signal that interrupts a tracer thread's waitpid for an abandoned tracee. Its handler does
// nothing; it is installed without SA_RESTART so the wait returns EINTR.
int WakeSignal() { return SIGRTMIN; }

void InstallWakeHandler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(WakeSignal(), &sa, nullptr);
    return true;
  }();
  (void)installed;
}

bool IsSyncFault(const siginfo_t& si) {
  if (si.si_code <= 0) return false;  // sent by a process (SI_USER, SI_TKILL, SI_QUEUE)
  switch (si.si_signo) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
      return true;
    default:
      return false;
  }
}

int StopEvent(int status) { return static_cast<unsigned>(status) >> 16; }

// Vets the seccomp stops of one injected syscall. The stub's page is the application's memory (it
// may rewrite the gadget, or map its own code over it), so while the sentry runs the gadget the
// thread may execute code of the application's that makes syscalls of its own: each is a seccomp
// stop, and continuing it would run it on the host. The only stop let through is the injected
// syscall itself: its number and all six arguments in registers, at the address after the
// gadget's syscall instruction. Whoever's code led there, the host then runs what the sentry
// asked for. It runs once, or again only if a signal stop came in between (the host restarts a
// syscall a dropped signal interrupted).
class InjectionGuard {
 public:
  explicit InjectionGuard(const Registers& want) : want_(want) {}

  // Whether the thread stopped with `now` at a seccomp stop may go on.
  bool Allow(const Registers& now) {
    bool same = now.orig_rax == want_.r12 && now.rip == stub::kSyscallGadgetTrap &&
                now.rdi == want_.rdi && now.rsi == want_.rsi && now.rdx == want_.rdx &&
                now.r10 == want_.r10 && now.r8 == want_.r8 && now.r9 == want_.r9;
    if (!same || (entered_ && !may_restart_)) return false;
    entered_ = true;
    may_restart_ = false;
    return true;
  }
  void SignalDropped() { may_restart_ = true; }

 private:
  Registers want_;
  bool entered_ = false;
  bool may_restart_ = false;
};

}  // namespace

long PtraceOptions() {
  return PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
         PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
}

PtraceContext::PtraceContext(pid_t tid, pid_t pid, std::shared_ptr<Channel> channel,
                             const Registers* adopt_regs)
    : tid_(tid), pid_(pid), channel_(std::move(channel)) {
  InstallWakeHandler();
  if (!adopt_regs) tracer_tid_ = static_cast<pid_t>(syscall(SYS_gettid));
  if (adopt_regs) {
    regs_ = *adopt_regs;
    needs_adopt_ = true;
  }
}

PtraceContext::~PtraceContext() = default;

Result<void> PtraceContext::Adopt() {
  if (!needs_adopt_) return Ok();
  tracer_tid_ = static_cast<pid_t>(syscall(SYS_gettid));
  Registers regs = regs_;
  if (ptrace(PTRACE_SEIZE, tid_, 0, PtraceOptions()) < 0) return LastErrno();
  if (ptrace(PTRACE_INTERRUPT, tid_, 0, 0) < 0) return LastErrno();
  for (;;) {
    int status = TRY(Wait());
    if (WIFEXITED(status) || WIFSIGNALED(status)) return Errno(ESRCH);
    if (StopEvent(status) == PTRACE_EVENT_STOP) break;
    // A seccomp stop consumes a pending PTRACE_INTERRUPT: letting its syscall run could leave
    // the thread asleep in it for good. (The parked thread's futex is let through by the
    // passthrough trap filter, but the thread may be anywhere in the park loop.) Stopped at a
    // syscall's entry, the thread is as much ours as at the interrupt (Switch skips the
    // syscall); an interrupt stop that still comes later is a spurious kInterrupt, harmless.
    if (StopEvent(status) == PTRACE_EVENT_SECCOMP) break;
    // A host signal reached the parked thread first: drop it; the interrupt is still pending.
    ptrace(PTRACE_CONT, tid_, 0, 0);
  }
  regs_ = regs;
  needs_adopt_ = false;
  return Ok();
}

Result<int> PtraceContext::Wait() {
  // __WNOTHREAD: only this thread's tracees: its own, and clone children not yet handed on (see
  // ptrace.h). Without it waitpid also collects the tracees of the sentry's other threads.
  for (;;) {
    int status;
    struct rusage ru;
    pid_t r = wait4(-1, &status, __WALL | __WNOTHREAD, &ru);
    if (r == tid_) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        exited_ = true;
        exit_status_ = status;
        exit_usage_ = ru;
      }
      return status;
    }
    if (r > 0) {
      // A clone child's report, kept for WaitForChild: a stop (the child then stays stopped
      // until it is handled) or its exit (which reaped it), which supersedes a stop.
      child_reports_[r] = status;
      continue;
    }
    if (r < 0 && errno == EINTR) {
      if (abandoned_.load()) return Errno(ESRCH);
      continue;
    }
    if (r < 0) return LastErrno();
  }
}

Result<int> PtraceContext::WaitForChild(pid_t child) {
  if (auto it = child_reports_.find(child); it != child_reports_.end()) {
    int status = it->second;
    child_reports_.erase(it);
    return status;
  }
  for (;;) {
    int status;
    pid_t w = waitpid(child, &status, __WALL | __WNOTHREAD);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return LastErrno();
    return status;
  }
}

void PtraceContext::Abandon() {
  abandoned_.store(true);
  pid_t tracer = tracer_tid_.load();
  if (tracer > 0) syscall(SYS_tgkill, getpid(), tracer, WakeSignal());
}

Result<void> PtraceContext::LoadRegs() {
  if (ptrace(PTRACE_GETREGS, tid_, 0, &regs_) < 0) return LastErrno();
  return Ok();
}

Result<void> PtraceContext::Resume() {
  if (ptrace(PTRACE_SETREGS, tid_, 0, &regs_) < 0) return LastErrno();
  if (ptrace(PTRACE_CONT, tid_, 0, 0) < 0) return LastErrno();
  return Ok();
}

Event PtraceContext::Switch() {
  if (abandoned_.load()) return Event{.type = EventType::kExit, .wait_status = 0};
  // An injection (RunGadget, the exec of the stub) may have collected the exit already.
  if (exited_)
    return Event{.type = EventType::kExit, .wait_status = exit_status_, .usage = exit_usage_};
  if (!Resume().ok()) {
    // The thread was killed while stopped; its exit is waiting to be collected.
    LOG_DEBUG("resume of tid {} failed: {}", tid_, LastErrno().Name());
  }
  for (;;) {
    Result<int> st = Wait();
    if (!st.ok()) {
      // Gone without a status this thread could collect: it did not exit by itself.
      LOG_WARNING("tid {}: wait failed: {}; taking it as killed", tid_, st.error().Name());
      return Event{.type = EventType::kExit, .wait_status = SIGKILL};
    }
    int status = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status))
      return Event{.type = EventType::kExit, .wait_status = status, .usage = exit_usage_};
    int event = StopEvent(status);
    if (!LoadRegs().ok()) continue;  // killed meanwhile; the exit comes next
    if (event == PTRACE_EVENT_SECCOMP) return Event{.type = EventType::kSyscall};
    if (event == PTRACE_EVENT_STOP) return Event{.type = EventType::kInterrupt};
    if (event != 0) {
      LOG_WARNING("tid {}: unexpected ptrace event {}", tid_, event);
      ptrace(PTRACE_CONT, tid_, 0, 0);
      continue;
    }
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, tid_, 0, &si) < 0) continue;
    if (IsSyncFault(si)) return Event{.type = EventType::kFault, .siginfo = si};
    // Interrupt(), or a host signal such as SIGCHLD from a host child: never delivered as is.
    return Event{.type = EventType::kInterrupt};
  }
}

Result<std::vector<uint8_t>> PtraceContext::GetFpState() {
  std::vector<uint8_t> buf(16384);
  iovec iov{buf.data(), buf.size()};
  if (ptrace(PTRACE_GETREGSET, tid_, NT_X86_XSTATE, &iov) < 0) return LastErrno();
  buf.resize(iov.iov_len);
  return buf;
}

Result<void> PtraceContext::SetFpState(std::span<const uint8_t> state) {
  std::vector<uint8_t> buf(state.begin(), state.end());
  iovec iov{buf.data(), buf.size()};
  if (ptrace(PTRACE_SETREGSET, tid_, NT_X86_XSTATE, &iov) < 0) return LastErrno();
  return Ok();
}

Result<size_t> PtraceContext::ReadMemory(uint64_t addr, void* dst, size_t n) {
  return ReadThreadMemory(tid_, addr, dst, n);
}

Result<size_t> PtraceContext::WriteMemory(uint64_t addr, const void* src, size_t n) {
  return WriteThreadMemory(tid_, addr, src, n);
}

Result<long> PtraceContext::RunGadget(const Registers& regs, pid_t* clone_child) {
  if (exited_) return Errno(ESRCH);
  Registers r = regs;
  r.rip = stub::kSyscallGadget;
  r.r12 = r.rax;  // the gadget's syscall number
  // Whatever syscall the thread was stopped in is over: no host restart logic applies.
  r.orig_rax = static_cast<uint64_t>(-1);
  if (ptrace(PTRACE_SETREGS, tid_, 0, &r) < 0) return LastErrno();
  if (ptrace(PTRACE_CONT, tid_, 0, 0) < 0) return LastErrno();
  InjectionGuard guard(r);
  bool cloned = false;
  for (;;) {
    int status = TRY(Wait());
    if (WIFEXITED(status) || WIFSIGNALED(status)) return Errno(ESRCH);
    int event = StopEvent(status);
    if (event == PTRACE_EVENT_SECCOMP) {
      Registers now;
      if (ptrace(PTRACE_GETREGS, tid_, 0, &now) < 0) return LastErrno();
      if (!guard.Allow(now)) {
        LOG_WARNING("tid {}: syscall {} at {:#x} while the sentry injected syscall {}: the "
                    "application rewrote the stub; killing it",
                    tid_, static_cast<long>(now.orig_rax), now.rip, static_cast<long>(r.r12));
        KillProcess();
        return Errno(ESRCH);
      }
    } else if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
               event == PTRACE_EVENT_VFORK) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, tid_, 0, &msg);
      // One injected clone makes one child; the guard lets no second clone run.
      if (cloned) LOG_WARNING("tid {}: a second clone event in one injection", tid_);
      cloned = true;
      if (clone_child) *clone_child = static_cast<pid_t>(msg);
    } else if (event == 0) {
      siginfo_t si;
      if (ptrace(PTRACE_GETSIGINFO, tid_, 0, &si) == 0 && IsSyncFault(si)) {
        Registers now;
        if (ptrace(PTRACE_GETREGS, tid_, 0, &now) < 0) return LastErrno();
        if (si.si_signo == SIGTRAP && now.rip == stub::kSyscallGadgetTrap + 1)
          return static_cast<long>(now.rax);
        // The gadget itself faulted: the application unmapped or overwrote the stub.
        LOG_WARNING("tid {}: injected syscall faulted (signal {} at {:#x})", tid_, si.si_signo,
                    now.rip);
        return Errno(EFAULT);
      }
      guard.SignalDropped();
    }
    // A seccomp stop of the injected syscall itself (let it run), a clone event, or a host signal
    // (dropped).
    if (ptrace(PTRACE_CONT, tid_, 0, 0) < 0) return LastErrno();
  }
}

Result<long> PtraceContext::Inject(long nr, std::array<uint64_t, 6> args) {
  Registers r = regs_;
  r.rax = nr;
  r.rdi = args[0];
  r.rsi = args[1];
  r.rdx = args[2];
  r.r10 = args[3];
  r.r8 = args[4];
  r.r9 = args[5];
  return RunGadget(r, nullptr);
}

Result<CloneResult> PtraceContext::Clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid,
                                         uint64_t child_tid, uint64_t tls,
                                         const Registers& child_regs) {
  Registers r = regs_;
  r.rax = SYS_clone;
  r.rdi = flags;
  r.rsi = newsp;
  r.rdx = parent_tid;
  r.r10 = child_tid;
  r.r8 = tls;
  pid_t child = 0;
  Result<long> done = RunGadget(r, &child);
  if (!done.ok()) {
    // The parent was killed during the clone. A child it made is attached to this thread, which
    // alone can reap it: it goes too.
    constexpr int kStopped = 0x7f;  // a wait status for which WIFSTOPPED holds
    if (child > 0 && !child_reports_.contains(child)) child_reports_[child] = kStopped;
    for (auto [pid, status] : child_reports_) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) continue;  // reaped already
      kill(pid, SIGKILL);
      int st;
      while (waitpid(pid, &st, __WALL | __WNOTHREAD) == pid && !WIFEXITED(st) && !WIFSIGNALED(st)) {
      }
    }
    child_reports_.clear();
    return done.error();
  }
  long ret = *done;
  if (ret < 0) return Errno(static_cast<int>(-ret));
  if (child <= 0) {
    LOG_ERROR("clone returned {} but no ptrace clone event arrived", ret);
    return Errno(EIO);
  }
  // The child is attached to this thread and starts in a PTRACE_EVENT_STOP. Park it in the stub
  // and let go, so that its own task thread can attach.
  for (;;) {
    int status = TRY(WaitForChild(child));
    if (WIFEXITED(status) || WIFSIGNALED(status)) return Errno(EAGAIN);
    if (StopEvent(status) == PTRACE_EVENT_STOP) break;
    ptrace(PTRACE_CONT, child, 0, 0);
  }
  Registers park;
  if (ptrace(PTRACE_GETREGS, child, 0, &park) < 0) return LastErrno();
  park.rip = stub::kPark;
  park.orig_rax = static_cast<uint64_t>(-1);
  if (ptrace(PTRACE_SETREGS, child, 0, &park) < 0) return LastErrno();
  if (ptrace(PTRACE_DETACH, child, 0, 0) < 0) return LastErrno();
  pid_t child_pid = (flags & CLONE_THREAD) ? pid_ : child;
  return CloneResult{static_cast<pid_t>(ret),
                     std::make_unique<PtraceContext>(child, child_pid, channel_, &child_regs)};
}

Result<void> PtraceContext::ExecStub() {
  Registers r = regs_;
  r.rax = SYS_execveat;
  r.rdi = stub::kStubFd;
  r.rsi = stub::kEmptyString;
  r.rdx = stub::kArgv;
  r.r10 = stub::kEnvp;
  r.r8 = AT_EMPTY_PATH;
  r.r12 = SYS_execveat;
  r.rip = stub::kSyscallGadget;
  r.orig_rax = static_cast<uint64_t>(-1);
  if (ptrace(PTRACE_SETREGS, tid_, 0, &r) < 0) return LastErrno();
  if (ptrace(PTRACE_CONT, tid_, 0, 0) < 0) return LastErrno();
  InjectionGuard guard(r);
  for (;;) {
    // A non-leader that execs comes back with the leader's tid: wait for whichever tracee of this
    // thread (it has only this one) reports, not for the old tid.
    int status;
    pid_t w = waitpid(-1, &status, __WALL | __WNOTHREAD);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return LastErrno();
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      exited_ = true;
      exit_status_ = status;
      return Errno(ESRCH);
    }
    int event = StopEvent(status);
    if (event == PTRACE_EVENT_SECCOMP) {
      // As in RunGadget: only the exec of the stub, exactly as set up above, may run.
      Registers now;
      if (ptrace(PTRACE_GETREGS, w, 0, &now) < 0) return LastErrno();
      if (!guard.Allow(now)) {
        LOG_WARNING("tid {}: syscall {} at {:#x} instead of the exec of the stub: the "
                    "application rewrote the stub; killing it",
                    w, static_cast<long>(now.orig_rax), now.rip);
        KillProcess();
        return Errno(ESRCH);
      }
    }
    if (event == PTRACE_EVENT_EXEC) {
      // A non-leader thread that execs takes over the leader's tid.
      tid_ = pid_;
      TRY(LoadRegs());
      return Ok();
    }
    if (event == 0) {
      siginfo_t si;
      if (ptrace(PTRACE_GETSIGINFO, tid_, 0, &si) == 0 && IsSyncFault(si)) {
        Registers now;
        if (ptrace(PTRACE_GETREGS, tid_, 0, &now) < 0) return LastErrno();
        long ret = static_cast<long>(now.rax);
        LOG_ERROR("execveat of the stub failed: {}", ret < 0 ? Errno(-ret).Name() : "fault");
        return Errno(ret < 0 ? static_cast<int>(-ret) : EFAULT);
      }
    }
    if (ptrace(PTRACE_CONT, tid_, 0, 0) < 0) return LastErrno();
  }
}

Result<int> PtraceContext::InstallFd(int fd) {
  return InstallFdThroughChannel(*this, *channel_, fd);
}

Result<void> PtraceContext::TrapPassthrough() {
  // The extra filter returns SECCOMP_RET_TRACE like the first one's trapped syscalls, so the
  // passthrough syscalls become seccomp stops too. When the sentry lets one run, the host
  // re-checks the filters after the stop and treats TRACE as allowed.
  return InjectFilter(*this, *channel_, BuildPassthroughTrapFilter(SECCOMP_RET_TRACE));
}

// stub::kInterruptSignal (SIGURG) is ignored by default, in case it were ever delivered; under
// ptrace every host signal stops the thread first and the sentry drops it.
void PtraceContext::Interrupt() { syscall(SYS_tgkill, pid_, tid_, stub::kInterruptSignal); }

void PtraceContext::KillProcess() { kill(pid_, SIGKILL); }

namespace {

// Starts a root application process as a child of the calling thread, traced by it, with a
// channel of its own, stopped at the exec of the stub. `clone_flags` is CLONE_NEWPID for the
// first process, 0 for one that enters the PID namespace of `pidns_fd` (a pidfd).
absl::StatusOr<std::unique_ptr<PtraceContext>> SpawnRoot(int clone_flags, int pidns_fd = -1) {
  ASSIGN_OR_RETURN(std::vector<sock_filter> prog, BuildAppFilter(SCMP_ACT_TRACE(0)));
  ASSIGN_OR_RETURN(RootProcess root, CloneRoot({.clone_flags = clone_flags,
                                                .pidns_fd = pidns_fd, .filter = prog}));
  pid_t pid = root.pid;
  auto fail = [&](absl::Status s) {
    root.Discard();
    return s;
  };
  if (ptrace(PTRACE_SEIZE, pid, 0, PtraceOptions()) < 0)
    return fail(ErrnoStatus(fmt::format("ptrace(PTRACE_SEIZE, {})", pid)));
  if (write(root.sync.get(), "x", 1) != 1) return fail(ErrnoStatus("write(root sync)"));
  auto ctx = std::make_unique<PtraceContext>(pid, pid, root.channel, nullptr);
  // The child installs its filter and execs the stub; its execveat traps first.
  for (;;) {
    int status;
    pid_t w = waitpid(pid, &status, __WALL | __WNOTHREAD);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return fail(ErrnoStatus("waitpid(init)"));
    if (WIFEXITED(status))
      return absl::InternalError(
          fmt::format("a new application process exited during setup with status {}",
                      WEXITSTATUS(status)));
    if (WIFSIGNALED(status))
      return absl::InternalError(fmt::format(
          "a new application process died during setup of signal {}", WTERMSIG(status)));
    if (StopEvent(status) == PTRACE_EVENT_EXEC) break;
    ptrace(PTRACE_CONT, pid, 0, 0);
  }
  // The Context starts at the exec stop of the stub.
  if (ptrace(PTRACE_GETREGS, pid, 0, &ctx->Regs()) < 0)
    return fail(ErrnoStatus("ptrace(PTRACE_GETREGS)"));
  return ctx;
}

// Kills a root process that SpawnRoot made and that will not be used, and reaps it.
void Discard(PtraceContext& ctx) {
  ctx.KillProcess();
  waitpid(ctx.host_pid(), nullptr, __WALL | __WNOTHREAD);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Context>> PtracePlatform::SpawnInit() {
  ASSIGN_OR_RETURN(std::unique_ptr<PtraceContext> ctx, SpawnRoot(CLONE_NEWPID));
  absl::StatusOr<pid_t> pid = SandboxPid(*ctx);
  if (pid.ok() && *pid != 1) {
    pid = absl::InternalError(
        fmt::format("the stub does not answer as pid 1 of its namespace (got {})", *pid));
  }
  absl::Status s = pid.ok() ? pid_ns_.Record(ctx->host_pid()) : pid.status();
  if (!s.ok()) {
    Discard(*ctx);
    return s;
  }
  return std::unique_ptr<Context>(std::move(ctx));
}

absl::StatusOr<CloneResult> PtracePlatform::SpawnProcess() {
  return pid_ns_.Spawn([](int pidns_fd) -> absl::StatusOr<CloneResult> {
    ASSIGN_OR_RETURN(std::unique_ptr<PtraceContext> ctx, SpawnRoot(0, pidns_fd));
    absl::StatusOr<pid_t> pid = SandboxPid(*ctx);
    if (!pid.ok()) {
      Discard(*ctx);
      return pid.status();
    }
    return CloneResult{*pid, std::move(ctx)};
  });
}

}  // namespace moat::platform
