// runsc state: prints a container's OCI state (runtime.md "state").
#include <cstdio>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterState(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("state", "print the state of a container");
  sub->add_option("id", *id, "the container id")->required();
  return [id, &global]() {
    absl::StatusOr<Loaded> l = LoadContainer(global, *id);
    if (!l.ok()) return ReportError("state", l.status());
    std::printf("%s\n", spec::StateJson(l->record.state).c_str());
    return 0;
  };
}

}  // namespace moat::runsc
