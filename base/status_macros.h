// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status in the control plane (Debian's abseil has
// no status macros of its own), and helpers that build a Status naming the failing call.
#ifndef MOAT_BASE_STATUS_MACROS_H_
#define MOAT_BASE_STATUS_MACROS_H_

#include <cerrno>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/errno.h"

namespace moat {

// "openat(rootfs/etc/passwd): ENOENT (No such file or directory)" as an absl::Status, from errno.
absl::Status ErrnoStatus(std::string_view what, int err = errno);
inline absl::Status ErrnoStatus(std::string_view what, Errno err) {
  return ErrnoStatus(what, err.value());
}

}  // namespace moat

#define MOAT_STATUS_CONCAT_INNER_(a, b) a##b
#define MOAT_STATUS_CONCAT_(a, b) MOAT_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status moat_status_ = (expr);              \
    if (!moat_status_.ok()) return moat_status_;       \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  MOAT_ASSIGN_OR_RETURN_IMPL_(MOAT_STATUS_CONCAT_(moat_statusor_, __LINE__), lhs, expr)
#define MOAT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // MOAT_BASE_STATUS_MACROS_H_
