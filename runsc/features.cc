// runsc features: what this runtime supports, as the OCI features document (features.md).
#include <cstdio>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/spec/spec.h"

namespace moat::runsc {

CommandRunner RegisterFeatures(CLI::App& app, const GlobalOptions&) {
  app.add_subcommand("features", "print the features this runtime supports, as JSON");
  return []() {
    std::printf("%s\n", spec::FeaturesJson().c_str());
    return 0;
  };
}

}  // namespace moat::runsc
