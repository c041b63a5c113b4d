// runsc delete: removes a container (runtime.md "delete"); --force kills a running one first.
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterDelete(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("delete", "delete a container");
  sub->add_option("id", *id, "the container id")->required();
  sub->add_flag("-f,--force", *force, "kill the container first if it is running");
  return [id, force, &global]() {
    absl::Status s = DeleteContainer(global, *id, *force);
    return s.ok() ? 0 : ReportError("delete", s);
  };
}

}  // namespace moat::runsc
