#include "runsc/network.h"

#include <fcntl.h>
#include <sched.h>

#include "absl/status/status.h"
#include "base/file_descriptor.h"
#include "base/log.h"
#include "fmt/format.h"
#include "base/status_macros.h"

namespace moat::runsc {

absl::StatusOr<NetnsKind> EnterNetworkNamespace(const spec::Spec& spec, const std::string& mode) {
  const spec::Namespace* netns = nullptr;
  for (const spec::Namespace& ns : spec.linux.namespaces) {
    if (ns.type == "network") netns = &ns;
  }
  if (!netns) {
    if (mode == "sandbox") {
      return absl::FailedPreconditionError(
          "--network=sandbox needs a network namespace for the container (linux.namespaces "
          "type \"network\"): without one the sandbox would take over the host's own "
          "interfaces; add one, or run with --network=host or --network=none");
    }
    return NetnsKind::kHost;
  }
  if (netns->path.empty()) {
    if (unshare(CLONE_NEWNET) < 0) return ErrnoStatus("unshare(CLONE_NEWNET) for the container's network namespace");
    return NetnsKind::kContainer;
  }
  FileDescriptor fd(open(netns->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(fmt::format("network namespace {}", netns->path));
  if (setns(fd.get(), CLONE_NEWNET) < 0) {
    return ErrnoStatus(fmt::format("joining network namespace {}", netns->path));
  }
  return NetnsKind::kContainer;
}

}  // namespace moat::runsc
