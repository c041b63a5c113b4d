// runsc create: creates a container from a bundle (runtime.md "create"). Returns once the
// container's init process exists, before it runs any code of the container.
#include <cstdio>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterCreate(CLI::App& app, const GlobalOptions& global) {
  auto opts = std::make_shared<CreateOptions>();
  CLI::App* sub = app.add_subcommand("create", "create a container");
  sub->add_option("id", opts->id, "the container id")->required();
  sub->add_option("-b,--bundle", opts->bundle, "the bundle directory (default: the current one)");
  sub->add_option("--console-socket", opts->console_socket,
                  "unix socket to which the container's terminal master is sent");
  sub->add_option("--pid-file", opts->pid_file, "file to write the container's pid to");
  sub->add_option("--preserve-fds", opts->preserve_fds, kPreserveFdsHelp);
  // runc's flags that have no meaning for a sandbox: accepted so that engines can pass them.
  sub->add_flag("--no-pivot")->description("(no effect: the sandbox has its own root)");
  sub->add_flag("--no-new-keyring")->description("(no effect: keyrings are not shared with the host)");
  return [opts, &global]() {
    absl::Status fds_ok = CheckPreservedFds(opts->preserve_fds);
    if (!fds_ok.ok()) return ReportError("create", fds_ok);
    absl::StatusOr<pid_t> pid = CreateContainer(global, *opts);
    if (!pid.ok()) return ReportError("create", pid.status());
    return 0;
  };
}

}  // namespace moat::runsc
