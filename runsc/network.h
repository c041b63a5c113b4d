// The sandbox's network (DESIGN.md section 7): the network namespace `runsc boot` runs in, and
// the sockets::Stack that --network chooses.
//
//   none      the netstack with loopback only;
//   sandbox   the netstack; in `runsc boot` it also takes over the interfaces of the container's
//             network namespace (their addresses, routes and MTU), which must happen while the
//             sandbox process still has the privileges to change them;
//   host      host sockets opened by the sentry (sentry/socket/hostinet), in the network
//             namespace the sandbox runs in; weaker isolation (docs/network.md).
// `runsc do` runs in its caller's network namespace, whose interfaces must never be taken
// over: there none and sandbox both mean loopback only. `sandbox-takeover` asks do for the
// boot behaviour, to test it inside a namespace made for the purpose (`ip netns exec`).
#ifndef MOAT_RUNSC_NETWORK_H_
#define MOAT_RUNSC_NETWORK_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runsc/spec/spec.h"
#include "sentry/socket/netstack/netstack.h"
#include "sentry/socket/stack.h"

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


enum class NetworkMode { kNone, kSandbox, kSandboxTakeover, kHost };

absl::StatusOr<NetworkMode> ParseNetworkMode(std::string_view name);

// What the network takes from the host before the sentry is forked (runsc/confine.h), while
// the process still has the privileges over the network namespace that taking its interfaces
// over needs.
struct NetworkPlan {
  NetworkMode mode = NetworkMode::kNone;
  std::vector<sockets::netstack::LinkConfig> links;  // the interfaces taken over
};

// For `runsc boot` (`for_boot`), in the container's network namespace, kSandbox takes it over;
// for `runsc do` it is loopback only.
absl::StatusOr<NetworkPlan> PrepareNetwork(NetworkMode mode, bool for_boot);

// The sockets::Stack of `plan`, in the sentry.
absl::StatusOr<std::unique_ptr<sockets::Stack>> StartNetwork(NetworkPlan plan);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_NETWORK_H_
