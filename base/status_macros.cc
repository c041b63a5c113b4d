#include "base/status_macros.h"

#include <fmt/format.h>

namespace moat {

absl::Status ErrnoStatus(std::string_view what, int err) {
  std::string msg = fmt::format("{}: {}", what, Errno(err).Describe());
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EEXIST: return absl::AlreadyExistsError(msg);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(msg);
    case EINVAL: return absl::InvalidArgumentError(msg);
    default: return absl::InternalError(msg);
  }
}

}  // namespace moat
