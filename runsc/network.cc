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

absl::StatusOr<NetworkPlan> PrepareNetwork(NetworkMode mode, bool for_boot) {
  NetworkPlan plan{mode, {}};
  bool take_over = mode == NetworkMode::kSandboxTakeover || (for_boot && mode == NetworkMode::kSandbox);
  if (take_over) {
    absl::StatusOr<std::vector<sockets::netstack::LinkConfig>> links = TakeOverInterfaces();
    if (!links.ok()) return links.status();
    plan.links = std::move(*links);
  }
  return plan;
}

absl::StatusOr<std::unique_ptr<sockets::Stack>> StartNetwork(NetworkPlan plan) {
  if (plan.mode == NetworkMode::kHost) return sockets::hostinet::NewHostStack();
  sockets::netstack::NetstackOptions opts;
  opts.links = std::move(plan.links);
  return sockets::netstack::NewNetstack(std::move(opts));
}

}  // namespace moat::runsc
