// runsc do: runs a command in a fresh sandbox over the host's root, like gVisor's `runsc do`.
#include <cstdio>

#include "runsc/commands.h"
#include "runsc/sandbox.h"

namespace moat::runsc {

CommandRunner RegisterDo(CLI::App& app, const GlobalOptions& global) {
  auto opts = std::make_shared<DoOptions>();
  auto platform = std::make_shared<std::string>();
  auto network = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "do", "run a command in a sandbox whose root is a host directory, read-only, under an "
            "in-memory writable layer");
  sub->add_option("--platform", *platform, "how application code runs: seccomp_trap (the default) or ptrace");
  sub->add_option("--network", *network,
                  "the sandbox's network: none or sandbox (both: a user-space stack with loopback "
                  "only; the default is the global --network), host, or sandbox-takeover (take "
                  "over the interfaces of the namespace do runs in: for tests in a namespace of "
                  "their own)")
      ->check(CLI::IsMember({"none", "sandbox", "host", "sandbox-takeover"}));
  sub->add_option("--root", opts->root_dir, "host directory to use as the sandbox's root")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--cwd", opts->cwd, "working directory inside the sandbox");
  sub->add_option("--volume", opts->volumes,
                  "bind mount HOST:TARGET[:ro|:rw] (read-write by default); repeatable");
  sub->add_option("--console-socket", opts->console_socket,
                  "give the command a terminal of the sandbox and send its master to this unix "
                  "socket, as runc does");
  sub->add_option("command", opts->argv, "the command and its arguments")->required();
  sub->positionals_at_end();
  return [opts, platform, network, &global]() {
    opts->platform = platform->empty() ? global.platform : *platform;
    opts->network = network->empty() ? global.network : *network;
    absl::StatusOr<int> status = RunDo(*opts);
    if (!status.ok()) {
      std::fprintf(stderr, "runsc do: %s\n", std::string(status.status().message()).c_str());
      return status.status().code() == absl::StatusCode::kNotFound ? 127 : 126;
    }
    return *status;
  };
}

}  // namespace moat::runsc
