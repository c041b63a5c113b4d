// runsc start: runs the user's program of a created container (runtime.md "start").
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterStart(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("start", "start a created container");
  sub->add_option("id", *id, "the container id")->required();
  return [id, &global]() {
    absl::Status s = StartContainer(global, *id);
    return s.ok() ? 0 : ReportError("start", s);
  };
}

}  // namespace moat::runsc
