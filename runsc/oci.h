// From the OCI config (runsc/spec) to the sandbox's own terms: its mounts (runsc/sandbox.h) and
// the processes the kernel starts. runsc boot uses these for the container's init, and for each
// process `runsc exec` asks for.
#ifndef MOAT_RUNSC_OCI_H_
#define MOAT_RUNSC_OCI_H_

#include <sys/resource.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runsc/control.h"
#include "runsc/sandbox.h"
#include "runsc/spec/spec.h"
#include "sentry/kernel/kernel.h"

namespace moat::runsc {

// The sandbox's mounts for `spec` in `bundle`: the root (with an in-memory upper layer when
// `overlay`), spec.mounts in order, and the masked and read-only paths. A mount type the sandbox
// cannot provide is an error naming it (`mounts[3].type: ...`).
absl::StatusOr<SandboxConfig> SandboxConfigFor(const spec::Spec& spec, const std::string& bundle,
                                               bool overlay);

// The process a control-socket Exec request describes, as the kernel takes it: its program
// found in the sandbox ($PATH of its own environment), its fds, and its limits (those of the
// request, over `base_rlimits`).
absl::StatusOr<kernel::InitProcess> ProcessFor(const control::ExecRequest& req,
                                               vfs::MountNamespace& mounts,
                                               RefPtr<vfs::FdTable> fds,
                                               const std::vector<std::pair<int, rlimit>>& base_rlimits);

// Sets linux.sysctl in `kernel`, with runc's rules: only parameters Linux keeps per container
// (IPC and network namespace ones, and kernel.domainname) are allowed; a value the kernel
// refuses is an error naming the parameter. Allowed parameters the sentry does not emulate are
// logged and ignored.
absl::Status ApplySysctls(const std::map<std::string, std::string>& sysctl,
                          kernel::Kernel& kernel);

// linux.resources as the sandbox's host cgroup takes them. The host counts the sentry's and the
// gofer's threads (one sentry thread per application thread, and a few of its own) against
// pids.max, so the host limit is 2 * limit + kSandboxPidsOverhead; the sentry enforces the
// exact limit on the container's tasks itself (Kernel::set_pids_limit).
inline constexpr int64_t kSandboxPidsOverhead = 256;
spec::Resources HostResources(const spec::Resources& r);
// The container's pids limit from the host cgroup's pids.max (HostResources' inverse), for
// what `events` reports; 0 (no limit) stays 0.
inline uint64_t ContainerPidsLimit(uint64_t host_limit) {
  return host_limit > static_cast<uint64_t>(kSandboxPidsOverhead)
             ? (host_limit - kSandboxPidsOverhead) / 2
             : host_limit;
}

// An Exec request from an OCI process (config.json's "process", or exec's --process).
control::ExecRequest ExecRequestFor(const spec::Process& p);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_OCI_H_
