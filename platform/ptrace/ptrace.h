// The ptrace platform: the reference platform (DESIGN.md section 5).
//
// The application runs under a seccomp filter whose trapped syscalls return SECCOMP_RET_TRACE; each
// task thread is the ptrace tracer of its one application thread. A trapped syscall is a
// PTRACE_EVENT_SECCOMP stop; the sentry services it and skips the host syscall by setting orig_rax
// to -1. Injected syscalls run from the stub's `syscall; int3` gadget.
//
// Locking: a PtraceContext is used by its task thread only (Interrupt() excepted). Installing an
// fd uses the channel of the process tree and the stub's scratch page, both under Channel::mu.
#ifndef MOAT_PLATFORM_PTRACE_PTRACE_H_
#define MOAT_PLATFORM_PTRACE_PTRACE_H_

#include <atomic>
#include <map>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "platform/platform.h"
#include "platform/spawn.h"

namespace moat::platform {

class PtraceContext final : public Context {
 public:
  // A context for `tid` in process `pid` (host ids). With `adopt_regs`, the thread is parked in the
  // stub and Adopt() attaches it; otherwise it is already traced by the calling thread.
  PtraceContext(pid_t tid, pid_t pid, std::shared_ptr<Channel> channel,
                const Registers* adopt_regs);
  ~PtraceContext() override;

  Result<void> Adopt() override;
  Event Switch() override;
  Registers& Regs() override { return regs_; }
  Result<std::vector<uint8_t>> GetFpState() override;
  Result<void> SetFpState(std::span<const uint8_t> state) override;
  Result<size_t> ReadMemory(uint64_t addr, void* dst, size_t n) override;
  Result<size_t> WriteMemory(uint64_t addr, const void* src, size_t n) override;
  Result<long> Inject(long nr, std::array<uint64_t, 6> args) override;
  Result<CloneResult> Clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid,
                            uint64_t child_tid, uint64_t tls,
                            const Registers& child_regs) override;
  Result<void> ExecStub() override;
  Result<int> InstallFd(int fd) override;
  Result<void> TrapPassthrough() override;
  void Interrupt() override;
  void KillProcess() override;
  void Abandon() override;
  pid_t host_tid() const override { return tid_; }
  pid_t host_pid() const override { return pid_; }

 private:
  // Resumes the thread with the current registers (PTRACE_CONT, no signal).
  Result<void> Resume();
  // Waits for the next stop or exit of the thread. Meanwhile it collects the reports of the
  // thread's new clone children, which are attached to this thread until Clone() hands them on
  // (WaitForChild() returns them): a child killed before its parent's clone event came (a dying
  // pid 1 of the namespace waits for it to be reaped) must not wait for a wait on the parent.
  Result<int> Wait();
  // The next report of clone child `child`, attached to this thread.
  Result<int> WaitForChild(pid_t child);
  Result<void> LoadRegs();
  // Runs the gadget with `regs` until its int3, letting trapped syscalls through and recording
  // clone events. Returns the raw syscall result.
  Result<long> RunGadget(const Registers& regs, pid_t* clone_child);

  pid_t tid_;
  pid_t pid_;
  std::shared_ptr<Channel> channel_;
  Registers regs_{};
  bool needs_adopt_ = false;
  bool exited_ = false;
  // The sentry thread that traces this thread (it alone may wait for it).
  std::atomic<pid_t> tracer_tid_{0};
  std::atomic<bool> abandoned_{false};
  struct rusage exit_usage_ {};  // from wait4, when the thread exited
  int exit_status_ = 0;          // its wait status, once exited_
  // Reports of clone children that Wait() collected, by host tid, for WaitForChild().
  std::map<pid_t, int> child_reports_;
};

// The ptrace options every tracee gets.
long PtraceOptions();

class PtracePlatform final : public Platform {
 public:
  std::string name() const override { return "ptrace"; }
  absl::StatusOr<std::unique_ptr<Context>> SpawnInit() override;
  absl::StatusOr<CloneResult> SpawnProcess() override;

 private:
  SandboxPidNamespace pid_ns_;
};

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_PTRACE_PTRACE_H_
