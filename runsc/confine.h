// The sentry's confinement (DESIGN.md sections 2 and 8, layer 2): the process that runs the
// sandbox's kernel is forked off runsc once runsc has taken from the host what the sandbox needs
// (the gofer's sockets, the network's interfaces, the control socket, the terminal), and starts
// in namespaces of its own:
//
//   user   uid and gid 0 inside are the host's nobody (65534): the sentry's capabilities count only
//          over what its own namespaces own, and host files it could reach would be checked
//          against nobody. Not with --network=host, whose sockets need privileges over the
//          host's network namespace (binding low ports, ICMP); see docs/security.md.
//   pid    the sentry is pid 1 of a namespace of its own: it sees no host process, and when it
//          dies the kernel kills every process of the sandbox (applications included).
//   mount  its root is an empty read-only tmpfs (pivot_root, the host's tree detached): it opens
//          no host path. It keeps one directory fd, of a proc instance of its own PID namespace
//          (base/host_proc.h), to read its processes' host state.
//   ipc, uts, and net unless it already is in the container's network namespace or uses the
//          host's.
// It has no capability but CAP_SYS_ADMIN (its application processes' PID namespaces), which
// SECBIT_NOROOT keeps its children's execs from regaining, sets no_new_privs, and dies with the
// process that forked it (PR_SET_PDEATHSIG). It is dumpable: the application processes it
// clones start as copies of it, and the ptrace platform attaches to them before they exec. Its host seccomp filter is
// runsc/sentry_filter.h's.
//
// The process that forks it, the supervisor, stays as it was (the pid engines know, in the
// host's namespaces): it holds nothing of the sandbox, passes the signals engines send it on to
// the sentry, and exits as the sandbox's init did, which the sentry reports before it exits.
#ifndef MOAT_RUNSC_CONFINE_H_
#define MOAT_RUNSC_CONFINE_H_

#include <sys/types.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"

namespace moat::runsc {

// The host uid and gid the sentry's root is mapped to.
inline constexpr uid_t kSentryHostId = 65534;

struct ConfineOptions {
  bool user_namespace = true;      // false with --network=host
  bool network_namespace = false;  // a new empty one: the process is still in the host's
  // Signals the supervisor passes on to the sentry (blocked in both; the sentry takes them).
  std::span<const int> forwarded;
};

// What the supervisor knows of the sentry.
struct SentryProcess {
  pid_t pid = -1;
  FileDescriptor status;  // the sentry reports the sandbox's wait status here before it exits
};

// Forks the sentry. Call with one thread (a process's namespaces are per thread, and the
// sentry starts with only the caller's). Returns nullopt in the sentry, confined but for its
// seccomp filter (InstallSentryFilter, which the caller installs once it is ready), and the
// sentry in the supervisor, which should close what it holds of the sandbox (CloseAllFdsBut)
// and Supervise.
absl::StatusOr<std::optional<SentryProcess>> ForkSentry(const ConfineOptions& options);

// The supervisor's loop: forwards `forwarded` signals to the sentry until it exits. Calls
// `on_status` with the sandbox's wait status once the sentry reports it, and before the sentry
// may end (or, if it died without reporting one, with the sentry's own), and returns it.
int Supervise(const SentryProcess& sentry, std::span<const int> forwarded,
              const std::function<void(int wait_status)>& on_status);

// Closes every fd but stdio, the log's and `keep`: a supervisor holds nothing of the sandbox
// (a client of the control socket, or the gofer, must see the sentry's end go with it).
void CloseAllFdsBut(int keep);

// In the sentry: reports the sandbox's wait status to the supervisor and, once it has recorded
// it, exits.
[[noreturn]] void ExitSentry(int wait_status);

// Pivots the calling process (alone in a mount namespace of its own, with one thread) into an
// empty read-only tmpfs, with the host's tree detached. `with_proc`: a proc instance of its PID
// namespace stays reachable as base/host_proc.h's directory fd.
absl::Status PivotToEmptyRoot(bool with_proc);

// Keeps only the capabilities in `keep`, in every set and the bounding set, and makes exec grant
// none to uid 0 (SECBIT_NOROOT, locked).
absl::Status DropCapabilities(std::initializer_list<int> keep);

// The uid the host's root shows as in the sentry (SO_PEERCRED of a client of the control
// socket): the host's overflow uid once the sentry has its own user namespace, else 0.
uid_t HostRootAsSeen();

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_CONFINE_H_
