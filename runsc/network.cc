#include "runsc/network.h"

#include <fcntl.h>
#include <sched.h>

#include <string>

#include "absl/status/status.h"
#include "base/file_descriptor.h"
#include "base/status_macros.h"
#include "fmt/format.h"
#include "runsc/network_takeover.h"
#include "sentry/socket/hostinet/hostinet.h"
#include "sentry/socket/netstack/netstack.h"

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
      return sockets::hostinet::NewHostStack();
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
      return sockets::hostinet::NewHostStack();
  }
  return std::unique_ptr<sockets::Stack>();
}

}  // namespace moat::runsc
