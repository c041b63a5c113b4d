#include "platform/platform.h"

#include <fmt/format.h>

#include "platform/ptrace/ptrace.h"
#include "platform/seccomp_trap/seccomp_trap.h"

namespace moat::platform {

absl::StatusOr<std::unique_ptr<Platform>> NewPlatform(const std::string& name) {
  if (name == "ptrace") return std::unique_ptr<Platform>(std::make_unique<PtracePlatform>());
  if (name == "seccomp_trap")
    return std::unique_ptr<Platform>(std::make_unique<SeccompTrapPlatform>());
  return absl::InvalidArgumentError(
      fmt::format("unknown platform \"{}\" (available: ptrace, seccomp_trap)", name));
}

}  // namespace moat::platform
