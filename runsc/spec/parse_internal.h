// The pieces parse.cc and parse_linux.cc share. Internal to runsc/spec/.
#ifndef MOAT_RUNSC_SPEC_PARSE_INTERNAL_H_
#define MOAT_RUNSC_SPEC_PARSE_INTERNAL_H_

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runsc/spec/json_reader.h"
#include "runsc/spec/spec.h"

namespace moat::runsc::spec::internal {

// Fails with "PATH: must be an absolute path" unless `value` starts with '/'.
absl::Status CheckAbsolute(std::string_view value, std::string_view path);

// An array of {containerID, hostID, size} at obj[key] (linux.uidMappings, mounts[].gidMappings).
absl::Status ParseIdMappings(const Object& obj, std::string_view key, std::vector<IdMapping>* out);

// config.json's "linux" object.
absl::StatusOr<Linux> ParseLinux(const Object& linux_obj);

}  // namespace moat::runsc::spec::internal

#endif  // MOAT_RUNSC_SPEC_PARSE_INTERNAL_H_
