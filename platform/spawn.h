// What both platforms share: starting a root application process, the channel through which the
// sentry hands it host fds, the injected passthrough trap filter, and the sandbox's PID
// namespace that later root processes join.
//
// Locking: Channel::mu serializes the channel and the stub's scratch page, per process tree.
// SandboxPidNamespace::mu_ is a leaf.
#ifndef MOAT_PLATFORM_SPAWN_H_
#define MOAT_PLATFORM_SPAWN_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
  // The application filter it installs before its exec; empty if the stub installs it.
  std::span<const sock_filter> filter;
  int sysmsg_fd = -1;             // placed at stub::kSysmsgFd if not -1
  bool ignore_signals = false;    // every host signal ignored (else every one default)
};

// Clones a root process as a child of the calling thread. It moves its fds to their fixed
// numbers (stub_layout.h) and closes every other, resets its signal state, leaves the caller's
// session, and once `sync` is written sets no_new_privs, installs the filter and execs the stub.
absl::StatusOr<RootProcess> CloneRoot(const RootOptions& options);

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
  // Runs `spawn` with the calling thread's new children going into the namespace.
  // FailedPrecondition if there is no first process or it has exited.
  absl::StatusOr<CloneResult> Spawn(const std::function<absl::StatusOr<CloneResult>()>& spawn);

 private:
  absl::Mutex mu_;
  // pidfds of the first application process and of the sentry itself (to leave the namespace
  // again). A pidfd names the process without a path and cannot be fooled by pid reuse.
  FileDescriptor init_pidfd_ ABSL_GUARDED_BY(mu_);
  FileDescriptor self_pidfd_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_SPAWN_H_
