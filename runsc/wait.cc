// runsc wait: waits for a container's init to exit and prints {"id", "exitStatus"} (as gVisor's
// runsc does; runc has no such command). A stopped container answers at once.
#include <sys/wait.h>

#include <cstdio>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterWait(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("wait", "wait for a container to exit and print its status");
  sub->add_option("id", *id, "the container id")->required();
  return [id, &global]() {
    absl::StatusOr<Loaded> l = LoadContainer(global, *id);
    if (!l.ok()) return ReportError("wait", l.status());
    ContainerDir dir(global.root, *id);
    std::optional<int> status = dir.ExitStatus();
    if (!status && l->status != "stopped") {
      absl::StatusOr<control::WaitStatusReply> r =
          control::Call(dir.control_path(), control::WaitRequest{});
      if (r.ok()) status = r->status;
    }
    // The sandbox may have ended between the two looks.
    if (!status) status = dir.ExitStatus();
    if (!status)
      return ReportError("wait", absl::UnavailableError(fmt::format(
                                     "container \"{}\" ended without recording its exit status "
                                     "(its sandbox was killed)", *id)));
    int code = WIFSIGNALED(*status) ? 128 + WTERMSIG(*status) : WEXITSTATUS(*status);
    std::printf("%s\n", spec::WaitJson(*id, code).c_str());
    return 0;
  };
}

}  // namespace moat::runsc
