// The platform: how application code runs and traps (DESIGN.md section 5).
//
// A Context is one application thread as the sentry sees it. Its task thread (the one sentry thread
// that owns it) calls Switch() to run the thread until the next event, inspects and edits the
// registers, reads and writes the thread's memory, and injects host syscalls into it. Only
// Interrupt() and ReadMemory() may be called from other threads.
//
// Ownership: a Context is owned by its Task (sentry/kernel/task.h) and used only by that task's
// thread, except for Interrupt() and ReadMemory(). A Context made by Clone() is not attached yet: the new task's
// thread must call Adopt() before anything else.
#ifndef MOAT_PLATFORM_PLATFORM_H_
#define MOAT_PLATFORM_PLATFORM_H_

#include <linux/filter.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/errno.h"
#include "base/file_descriptor.h"

namespace moat::platform {

using Registers = user_regs_struct;

enum class EventType {
  kSyscall,    // the thread made a syscall that the filter traps; Regs() describe it
  kFault,      // a synchronous fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP); see siginfo
  kInterrupt,  // Interrupt() or a host signal that the sentry does not forward
  kExit,       // the host thread is gone; wait_status says how
};

struct Event {
  EventType type;
  siginfo_t siginfo{};  // kFault
  int wait_status = 0;  // kExit: the host wait status of the thread
  // kExit: what the host reports for the thread's process (its own CPU times and peak RSS; the
  // sentry accounts for children itself).
  struct rusage usage {};
};

// What a successful Clone() produced.
struct CloneResult;

class Context {
 public:
  virtual ~Context() = default;

  // Implemented by the new task's thread before anything else, for a Context from Clone().
  virtual Result<void> Adopt() = 0;

  // Runs the thread until the next event. Register changes are applied first.
  virtual Event Switch() = 0;

  // The thread's general registers as of the last event. Edits take effect at the next Switch().
  virtual Registers& Regs() = 0;
  // The extended FPU state in the XSAVE layout (as in a signal frame's fpstate).
  virtual Result<std::vector<uint8_t>> GetFpState() = 0;
  virtual Result<void> SetFpState(std::span<const uint8_t> state) = 0;

  // Copies memory of the thread's address space. Returns how many bytes were copied before the
  // first unmapped or inaccessible page (short counts are not errors here), or an error. Any
  // thread may call it (another task reads /proc/<pid>/cmdline and environ through it).
  virtual Result<size_t> ReadMemory(uint64_t addr, void* dst, size_t n) = 0;
  virtual Result<size_t> WriteMemory(uint64_t addr, const void* src, size_t n) = 0;

  // Runs host syscall `nr` in the thread's context and returns its raw result (negative errno on
  // failure). Registers are preserved.
  virtual Result<long> Inject(long nr, std::array<uint64_t, 6> args) = 0;

  // Clones the thread with host clone `flags` (vetted by the caller) as if the application had
  // made the trapped clone syscall now. `child_regs` are the new thread's registers when it first
  // runs. Returns the child's tid as the application sees it and its not-yet-adopted Context.
  virtual Result<CloneResult> Clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid,
                                    uint64_t child_tid, uint64_t tls,
                                    const Registers& child_regs) = 0;

  // Replaces the process image by the stub (execveat of stub::kStubFd). Other threads of the
  // process die. Afterwards Regs() are those of the stub at its entry.
  virtual Result<void> ExecStub() = 0;

  // Installs `fd` (a sentry fd) into the application process and returns its number there. The
  // caller closes it there (Inject close) when done.
  virtual Result<int> InstallFd(int fd) = 0;

  // Makes the syscalls of the passthrough set trap to the sentry from now on, for every thread of
  // the thread's host process (and its future children, across exec): the application entered
  // seccomp, and its filters must see them (sentry/kernel/seccomp.h). Cannot be undone.
  virtual Result<void> TrapPassthrough() = 0;

  // Makes the thread stop soon with kInterrupt if it is running application code. Any thread may
  // call it; a spurious interrupt is harmless.
  virtual void Interrupt() = 0;

  // The task thread is about to sleep in the sentry (a blocking syscall): a platform whose
  // application side spins for the answer can stop spinning. Only the task thread calls it.
  virtual void WillBlock() {}

  // Kills the whole host process (every thread) right away.
  virtual void KillProcess() = 0;

  // The host thread was taken over by another thread's exec (it was the leader of a process in
  // which a non-leader exec'd): stop waiting for it. The next or current Switch() returns kExit.
  // Any thread may call it.
  virtual void Abandon() = 0;

  virtual pid_t host_tid() const = 0;
  virtual pid_t host_pid() const = 0;
};

struct CloneResult {
  pid_t tid;  // as the application sees it (its PID namespace)
  std::unique_ptr<Context> context;
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual std::string name() const = 0;
  // Starts the first application process: a new host PID namespace (its pid is 1 there), no host
  // fds but the stub's, the platform's seccomp filter, running the stub. Must be called on the
  // thread that will own the returned Context.
  virtual absl::StatusOr<std::unique_ptr<Context>> SpawnInit() = 0;
  // Starts another root process in the PID namespace of the process SpawnInit() made: set up as
  // that one was, but the child of no application process (what `runsc exec` runs). Returns its
  // pid in that namespace and its Context. Must be called on the thread that will own the
  // Context. FailedPrecondition if SpawnInit() has not succeeded or the namespace's init has
  // exited (its namespace takes no new processes then).
  virtual absl::StatusOr<CloneResult> SpawnProcess() = 0;
};

// The platform called `name` ("ptrace" or "seccomp_trap"), or an error naming the choices.
absl::StatusOr<std::unique_ptr<Platform>> NewPlatform(const std::string& name);

// The application's seccomp filter: traps everything but the passthrough set (DESIGN.md section
// 5) with `trap_action` (a libseccomp action such as SCMP_ACT_TRACE(0)), as a BPF program.
absl::StatusOr<std::vector<struct sock_filter>> BuildAppFilter(uint32_t trap_action);

// The syscall numbers the application's filter lets run on the host without trapping, for some
// or all arguments (BuildAppFilter).
std::span<const int> PassthroughSyscalls();

// The application's filter on the seccomp_trap platform: BuildAppFilter(SCMP_ACT_TRAP) for
// syscalls made outside the stub's code, and for those made from it (the stub's own, and what the
// sentry injects or runs for the application) an allowlist that kills on anything else.
absl::StatusOr<std::vector<struct sock_filter>> BuildTrapAppFilter();

// The seccomp_trap platform's clone gate, a filter installed with a listener
// (SECCOMP_FILTER_FLAG_NEW_LISTENER) under the application's: a clone made from the stub's code
// becomes a user notification, which the sentry lets go on only for a clone it asked that thread
// for (seccomp_trap.cc, CloneGate). Everything else it allows, leaving it to the other filters.
std::vector<struct sock_filter> BuildCloneGateFilter();

// Which syscalls a passthrough trap filter lets by: the futex of the ptrace stub's park loop,
// made by a thread that has no tracer yet, or everything made from the stub's code (whose rules
// in BuildTrapAppFilter decide).
enum class PassthroughExemption { kParkFutex, kStubCode };

// A filter to stack on the application's: `trap_action` (a SECCOMP_RET_* value) for every
// syscall in PassthroughSyscalls(), ALLOW for the rest, whose fate the first filter decides,
// except for `exempt`.
std::vector<struct sock_filter> BuildPassthroughTrapFilter(
    uint32_t trap_action, PassthroughExemption exempt = PassthroughExemption::kParkFutex);

// A sealed memfd with the stub image.
absl::StatusOr<FileDescriptor> CreateStubMemfd();

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_PLATFORM_H_
