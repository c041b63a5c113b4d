// The sandbox's network (DESIGN.md section 7): the sockets::Stack that --network chooses.
//
//   none      the netstack with loopback only;
//   sandbox   the netstack; in `runsc boot` it also takes over the interfaces of the container's
//             network namespace (their addresses, routes and MTU), which must happen while the
//             sandbox process still has the privileges to change them;
//   host      host sockets opened by the sentry (another piece of issue 6; until it lands the
//             sandbox has no AF_INET/AF_INET6 at all).
// `runsc do` runs in its caller's network namespace, whose interfaces must never be taken
// over: there none and sandbox both mean loopback only. `sandbox-takeover` asks do for the
// boot behaviour, to test it inside a namespace made for the purpose (`ip netns exec`).
#ifndef MOAT_RUNSC_NETWORK_H_
#define MOAT_RUNSC_NETWORK_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "sentry/socket/stack.h"

namespace moat::runsc {

enum class NetworkMode { kNone, kSandbox, kSandboxTakeover, kHost };

absl::StatusOr<NetworkMode> ParseNetworkMode(std::string_view name);

// For `runsc do`: kSandbox is loopback only.
absl::StatusOr<std::unique_ptr<sockets::Stack>> NetworkForDo(NetworkMode mode);
// For `runsc boot`, in the container's network namespace: kSandbox takes it over.
absl::StatusOr<std::unique_ptr<sockets::Stack>> NetworkForBoot(NetworkMode mode);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_NETWORK_H_
