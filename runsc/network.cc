#include "runsc/network.h"

#include <string>

#include "runsc/network_takeover.h"
#include "sentry/socket/netstack/netstack.h"

namespace moat::runsc {

absl::StatusOr<NetworkMode> ParseNetworkMode(std::string_view name) {
  if (name == "none") return NetworkMode::kNone;
  if (name == "sandbox") return NetworkMode::kSandbox;
  if (name == "sandbox-takeover") return NetworkMode::kSandboxTakeover;
  if (name == "host") return NetworkMode::kHost;
  return absl::InvalidArgumentError("--network=" + std::string(name) +
                                    ": want none, sandbox or host");
}

namespace {

absl::StatusOr<std::unique_ptr<sockets::Stack>> Netstack(bool take_over) {
  sockets::netstack::NetstackOptions opts;
  if (take_over) {
    absl::StatusOr<std::vector<sockets::netstack::LinkConfig>> links = TakeOverInterfaces();
    if (!links.ok()) return links.status();
    opts.links = std::move(*links);
  }
  return sockets::netstack::NewNetstack(std::move(opts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<sockets::Stack>> NetworkForDo(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kNone:
    case NetworkMode::kSandbox:
      return Netstack(false);
    case NetworkMode::kSandboxTakeover:
      return Netstack(true);
    case NetworkMode::kHost:
      // TODO(#6): hostinet, the host-socket Stack (another helper's piece).
      return std::unique_ptr<sockets::Stack>();
  }
  return std::unique_ptr<sockets::Stack>();
}

absl::StatusOr<std::unique_ptr<sockets::Stack>> NetworkForBoot(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kNone:
      return Netstack(false);
    case NetworkMode::kSandbox:
    case NetworkMode::kSandboxTakeover:
      return Netstack(true);
    case NetworkMode::kHost:
      // TODO(#6): hostinet, the host-socket Stack (another helper's piece).
      return std::unique_ptr<sockets::Stack>();
  }
  return std::unique_ptr<sockets::Stack>();
}

}  // namespace moat::runsc
