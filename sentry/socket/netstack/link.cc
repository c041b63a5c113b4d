#include "sentry/socket/netstack/link.h"

namespace moat::sockets::netstack {

absl::StatusOr<std::unique_ptr<Link>> Link::Start(LinkConfig config) {
  return absl::UnimplementedError("taking over interface " + config.name + " is not implemented");
}

}  // namespace moat::sockets::netstack
