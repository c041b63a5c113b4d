// The seccomp_trap platform: the fast one (DESIGN.md section 5).
//
// The application's filter answers trapped syscalls with SECCOMP_RET_TRAP, so the host raises
// SIGSYS in the thread itself; the stub's handler (platform/stub/stub_trap.c) runs on the
// thread's alternate stack, which lies in a region shared with the sentry, and hands the stop to
// the task thread through the thread's message page (platform/stub/sysmsg.h). The sentry reads
// and edits the saved registers in the signal frame in place; no ptrace, and no copy, on the
// path of a trap. Faults and the sentry's interrupt signal take the same path. Everything else
// the sentry needs done in the process (mmap of an installed fd, clone, exec of the stub) the
// stub runs on request from its code page, which the filter allows a short, argument-checked
// list of syscalls (BuildTrapAppFilter).
//
// The sentry learns that a host process died from its pidfd (one watcher thread for all), that a
// thread exits from the stub (it reports before its exit syscall), and that the threads of a
// process that exec'd are gone from the exec. It learns a new thread's host tid (as the sentry's
// PID namespace numbers it) from the owner the thread sets on its region's file.
//
// Locking: a context is used by its task thread, except Interrupt(), ReadMemory(), Abandon() and
// End() (from the watcher). SysmsgRegion::clone_mu serializes the clones of an address space
// (the owner of its file is one value); it is taken before HostProcess::mu_, which is taken
// before SeccompTrapContext::end_mu_; SysmsgRegion::mu_ is a leaf.
#ifndef MOAT_PLATFORM_SECCOMP_TRAP_SECCOMP_TRAP_H_
#define MOAT_PLATFORM_SECCOMP_TRAP_SECCOMP_TRAP_H_

#include <atomic>
#include <memory>
#include <set>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "platform/platform.h"
#include "platform/spawn.h"
#include "platform/stub/sysmsg.h"

namespace moat::platform {

class SeccompTrapContext;

// The shared region of one application address space (sysmsg.h): a memfd that the sentry maps
// too, and which slots its threads use.
class SysmsgRegion {
 public:
  static Result<std::shared_ptr<SysmsgRegion>> Create();
  ~SysmsgRegion();
  SysmsgRegion(const SysmsgRegion&) = delete;
  SysmsgRegion& operator=(const SysmsgRegion&) = delete;

  int fd() const { return fd_.get(); }
  moat_sysmsg* Slot(uint32_t index) const;
  // The sentry's view of [app_addr, app_addr + n) if it lies inside slot `index`, else null.
  uint8_t* SlotBytes(uint32_t index, uint64_t app_addr, size_t n) const;
  // The lowest free slot, taken, with a fresh message page.
  Result<uint32_t> Allocate();
  // Takes slot `index` (a fork child keeps its parent thread's slot number).
  void Take(uint32_t index);
  void Free(uint32_t index);

  absl::Mutex clone_mu;

 private:
  SysmsgRegion(FileDescriptor fd, uint8_t* base) : fd_(std::move(fd)), base_(base) {}
  void Reset(uint32_t index);

  FileDescriptor fd_;
  uint8_t* base_;
  absl::Mutex mu_;
  std::vector<bool> used_ ABSL_GUARDED_BY(mu_) = std::vector<bool>(MOAT_MAX_SLOTS);
};

// One host process, as far as its death goes: its pidfd is watched, and when it has died every
// context of it ends.
class HostProcess {
 public:
  HostProcess(pid_t pid, std::shared_ptr<Channel> channel, bool reap)
      : pid_(pid), channel_(std::move(channel)), reap_(reap) {}

  pid_t pid() const { return pid_; }
  const std::shared_ptr<Channel>& channel() const { return channel_; }
  bool reap() const { return reap_; }

  // Adds a context; one added after the death ends at once.
  void Attach(SeccompTrapContext* ctx);
  void Detach(SeccompTrapContext* ctx);
  // The process is gone: ends each context with `wait_status`.
  void Died(int wait_status, const struct rusage& usage);
  // The process exec'd from `survivor`: every other thread is gone.
  void OthersGone(SeccompTrapContext* survivor);
  bool dead() const;
  // `ctx` has reported that its thread is leaving (MOAT_EVENT_EXITING). True if no other thread
  // of the process is left: the process goes with this one.
  bool LastThreadLeaving(SeccompTrapContext* ctx);
  // Waits until the process has died and its pid is free, or `limit` passes; false then.
  bool AwaitDeath(absl::Duration limit);

 private:
  const pid_t pid_;
  const std::shared_ptr<Channel> channel_;
  const bool reap_;  // a child of the sentry: its zombie is the sentry's to collect
  mutable absl::Mutex mu_;
  std::set<SeccompTrapContext*> contexts_ ABSL_GUARDED_BY(mu_);
  bool dead_ ABSL_GUARDED_BY(mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(mu_) = 0;
  struct rusage usage_ ABSL_GUARDED_BY(mu_) {};
};

class SeccompTrapContext final : public Context {
 public:
  friend class HostProcess;  // reads leaving_ and ended_

  // A thread stopped at its MOAT_EVENT_READY in `slot` of `region`, which starts with `regs`.
  SeccompTrapContext(std::shared_ptr<HostProcess> process, std::shared_ptr<SysmsgRegion> region,
                     uint32_t slot, pid_t tid, const Registers& regs);
  ~SeccompTrapContext() override;

  Result<void> Adopt() override { return Ok(); }
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
  void WillBlock() override;
  void KillProcess() override;
  void Abandon() override;
  pid_t host_tid() const override { return tid_.load(); }
  pid_t host_pid() const override { return process_->pid(); }

  // The host thread is gone (HostProcess): Switch() returns kExit with `wait_status`.
  void End(int wait_status, const struct rusage& usage);

  // Waits for the thread in `slot` of `region` to post MOAT_EVENT_READY, and builds its context
  // (the frame's registers, with rsp the stub's initial one after an exec). ESRCH if `process`
  // dies first.
  static Result<std::unique_ptr<SeccompTrapContext>> AwaitReady(
      std::shared_ptr<HostProcess> process, std::shared_ptr<SysmsgRegion> region, uint32_t slot);

 private:
  // Hands the thread a request (MOAT_STATE_*) and waits for its next event. False if the thread
  // ended first.
  bool Request(uint32_t request);
  // Reads the frame the last event points to; false if the application spoiled it.
  bool LoadFrame();
  void StoreRegs();
  Event EndEvent();
  // After an interrupt in application code: makes a passthrough wait the host restarted look
  // interrupted, so that the sentry's restart rules decide.
  void UndoHostRestart();

  const std::shared_ptr<HostProcess> process_;
  std::shared_ptr<SysmsgRegion> region_;
  uint32_t slot_;
  moat_sysmsg* msg_;
  moat_ucontext* uc_ = nullptr;  // the current frame's ucontext, in the sentry's mapping
  std::atomic<pid_t> tid_;
  Registers regs_{};
  uint64_t applied_gs_base_ = 0;
  // Spins in a row that ended in sleep, and waits left to sleep through (seccomp_trap.cc).
  int spin_fails_ = 0;
  int spin_skip_ = 0;

  // An exit the thread was asked to make (MOAT_STATE_EXIT): its wait status.
  std::atomic<bool> exit_requested_{false};
  int exit_status_ = 0;
  bool exit_group_ = false;  // ... and it was exit_group(2)
  // The stub reported the thread's exit (HostProcess::LastThreadLeaving reads it).
  std::atomic<bool> leaving_{false};

  // How the thread ended, once it has (End() may come from the watcher and the task thread).
  absl::Mutex end_mu_;
  std::atomic<bool> ended_{false};
  int end_status_ ABSL_GUARDED_BY(end_mu_) = 0;
  struct rusage end_usage_ ABSL_GUARDED_BY(end_mu_) {};
};

class SeccompTrapPlatform final : public Platform {
 public:
  std::string name() const override { return "seccomp_trap"; }
  absl::StatusOr<std::unique_ptr<Context>> SpawnInit() override;
  absl::StatusOr<CloneResult> SpawnProcess() override;

 private:
  SandboxPidNamespace pid_ns_;
};

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_SECCOMP_TRAP_SECCOMP_TRAP_H_
