// File helpers shared by cgroup.cc, cgroup_apply.cc and cgroup_stats.cc. Not part of the
// contract: include runsc/cgroup.h.
#ifndef MOAT_RUNSC_CGROUP_INTERNAL_H_
#define MOAT_RUNSC_CGROUP_INTERNAL_H_

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace moat::runsc::cgroup::internal {

// The whole file; an error names the call and the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);
bool Exists(const std::string& path);
// Writes `value` in one write(2) to an existing file (cgroup files are never created).
// Returns 0 or the errno.
int WriteFile(const std::string& path, std::string_view value);
// The whitespace-separated words of `text`.
std::vector<std::string> Words(std::string_view text);
// `s` cut at each `sep` (at most `max_pieces` pieces, the last holding the rest); views into
// `s`. Debian's abseil has a string_view of its own, so absl::StrSplit does not take ours.
std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty = false,
                                    size_t max_pieces = SIZE_MAX);
// A decimal number, or false.
bool ParseU64(std::string_view s, uint64_t* out);

// The items joined by `sep`.
template <typename Container>
std::string JoinStrings(const Container& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    out += item;
    first = false;
  }
  return out;
}

// The arguments formatted one after the other (absl::StrCat for std::string_view).
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

}  // namespace moat::runsc::cgroup::internal

#endif  // MOAT_RUNSC_CGROUP_INTERNAL_H_
