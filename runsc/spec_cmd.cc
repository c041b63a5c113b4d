// runsc spec: writes a default config.json into a bundle, as `runc spec` does.
#include <fcntl.h>
#include <unistd.h>

#include "base/status_macros.h"
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/spec/spec.h"

namespace moat::runsc {

CommandRunner RegisterSpec(CLI::App& app, const GlobalOptions&) {
  auto bundle = std::make_shared<std::string>(".");
  auto rootless = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("spec", "write a new config.json in the bundle");
  sub->add_option("-b,--bundle", *bundle, "the bundle directory (default: the current one)");
  sub->add_flag("--rootless", *rootless, "a config for a container run without root");
  return [bundle, rootless]() {
    std::string path = *bundle + "/config.json";
    if (access(path.c_str(), F_OK) == 0)
      return ReportError("spec", absl::AlreadyExistsError(
                                     fmt::format("{} exists: remove it first", path)));
    absl::Status s = WriteFileAtomic(path, spec::DefaultSpecJson(*rootless) + "\n", 0644);
    return s.ok() ? 0 : ReportError("spec", s);
  };
}

}  // namespace moat::runsc
