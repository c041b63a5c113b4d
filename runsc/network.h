// The sandbox's network namespace (DESIGN.md section 7): where `runsc boot` runs, and so which
// interfaces --network=sandbox takes over and where --network=host opens its sockets.
#ifndef MOAT_RUNSC_NETWORK_H_
#define MOAT_RUNSC_NETWORK_H_

#include <string>

#include "absl/status/statusor.h"
#include "runsc/spec/spec.h"

namespace moat::runsc {

// Whose network namespace the sandbox process is in after EnterNetworkNamespace.
enum class NetnsKind {
  kContainer,  // the container's own: joined by path, or new and empty
  kHost,       // the caller's: the config has no network namespace
};

// Moves the calling process into the container's network namespace, as runc would put the
// container's init: linux.namespaces' "network" entry joined by its path (an engine's, with its
// veth), or a new empty one without a path. Without an entry the process stays where it is,
// which --network=sandbox refuses: it would take over the host's own interfaces (as gVisor, it
// then asks for a namespace, --network=host or --network=none). Call it while the process has
// one thread: setns and unshare move only the caller, and threads start where their creator is.
absl::StatusOr<NetnsKind> EnterNetworkNamespace(const spec::Spec& spec, const std::string& mode);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_NETWORK_H_
