// What both platforms share: starting a root application process, the channel through which the
// sentry hands it host fds, the injected passthrough trap filter, and the sandbox's PID
// namespace that later root processes join.
//
// Every root process is cloned by one sentry thread that lives as long as the sentry, and dies
// with it (PR_SET_PDEATHSIG): a sentry killed by SIGKILL leaves no application process behind.
//
// Locking: Channel::mu serializes the channel and the stub's scratch page, per process tree.
// SandboxPidNamespace::mu_ is taken before the spawner thread's own locks (spawn.cc), which are
// leaves.
#ifndef MOAT_PLATFORM_SPAWN_H_
#define MOAT_PLATFORM_SPAWN_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/file_descriptor.h"
#include "platform/platform.h"

namespace moat::platform {

// The sentry's end of the socket whose other end is stub::kChannelFd in an application process.
// Each root process (the init, and every process SpawnProcess starts) gets its own socket, which
// its descendants inherit; their contexts share the Channel.
struct Channel {
  absl::Mutex mu;
  FileDescriptor sentry_end;
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  uint64_t clone_gate = 0;  // seccomp_trap: the tree's clone gate (seccomp_trap.cc); 0: none
};

// A root application process, just cloned, waiting on `sync` before it execs the stub.
struct RootProcess {
  pid_t pid = -1;  // as the sentry sees it
  std::shared_ptr<Channel> channel;
  FileDescriptor sync;  // write a byte to let it go on

  // Kills and reaps a process that will not be used.
  void Discard();
};

struct RootOptions {
  int clone_flags = 0;            // CLONE_NEWPID for the sandbox's first process
  int pidns_fd = -1;              // else a pidfd whose PID namespace the process joins
  // The application filter it installs before its exec; empty if the stub installs it.
  std::span<const sock_filter> filter;
  int sysmsg_fd = -1;             // placed at stub::kSysmsgFd if not -1
  bool ignore_signals = false;    // every host signal ignored (else every one default)
  // If not empty, a filter it installs first with a listener (BuildCloneGateFilter), whose fd it
  // sends over the channel: ReleaseWithGate receives it.
  std::span<const sock_filter> gate_filter;
};

// Clones a root process as a child of the spawner thread (spawn.cc), which it does not outlive.
// It moves its fds to their fixed numbers (stub_layout.h) and closes every other, resets its
// signal state, leaves the caller's session, and once `sync` is written sets no_new_privs,
// installs the filter and execs the stub.
absl::StatusOr<RootProcess> CloneRoot(const RootOptions& options);

// Lets `root` go on (writes `sync`) and receives the listener of its clone gate
// (RootOptions::gate_filter). Fails if the process dies first, or sends nothing for
// kRootStartTimeout.
absl::StatusOr<FileDescriptor> ReleaseWithGate(RootProcess& root);
inline constexpr absl::Duration kRootStartTimeout = absl::Seconds(10);

// Installs the sentry's `fd` in the process of `ctx` through `channel` (Context::InstallFd).
Result<int> InstallFdThroughChannel(Context& ctx, Channel& channel, int fd);

// Injects `prog` as another host seccomp filter into every thread of the process of `ctx`
// (Context::TrapPassthrough), through the stub's scratch page.
Result<void> InjectFilter(Context& ctx, Channel& channel, std::span<const sock_filter> prog);

// Copies memory of the process of host thread `tid` with process_vm_readv/writev, as
// Context::ReadMemory and WriteMemory promise: a short count at the first unmapped page.
Result<size_t> ReadThreadMemory(pid_t tid, uint64_t addr, void* dst, size_t n);
Result<size_t> WriteThreadMemory(pid_t tid, uint64_t addr, const void* src, size_t n);

// Asks `ctx` what the process's pid is in its own PID namespace (its stub's getpid).
absl::StatusOr<pid_t> SandboxPid(Context& ctx);

// The PID namespace of the sandbox's first process, which later root processes join.
class SandboxPidNamespace {
 public:
  // Records the first process (by host pid) once it runs.
  absl::Status Record(pid_t host_pid);
  // Runs `spawn` with a pidfd of the first process, for RootOptions::pidns_fd. FailedPrecondition
  // if there is no first process; CloneRoot says if it has exited.
  absl::StatusOr<CloneResult> Spawn(
      const std::function<absl::StatusOr<CloneResult>(int pidns_fd)>& spawn);

 private:
  absl::Mutex mu_;
  // A pidfd of the first application process: it names the process without a path and cannot
  // be fooled by pid reuse.
  FileDescriptor init_pidfd_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_SPAWN_H_
