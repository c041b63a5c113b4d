// The gofer's host seccomp filter (DESIGN.md section 8, layer 3): what `runsc gofer` may ask of
// the host kernel once it serves (runsc/gofer.cc confines it first). A declarative allowlist in
// gofer_filter.cc, one line per syscall with why the gofer needs it. The gofer works on the host
// through the fds of its exports' roots and what it opens from them, one component at a time, so
// the calls that take a path are the *at forms; anything else fails with EPERM, which the gofer
// answers the sentry with. docs/security.md has its size.
#ifndef MOAT_RUNSC_GOFER_FILTER_H_
#define MOAT_RUNSC_GOFER_FILTER_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"

namespace moat::runsc {

// The filter as a BPF program.
absl::StatusOr<std::vector<sock_filter>> BuildGoferFilter();

// Installs it on the calling thread (the gofer's only one when it is called) and the threads it
// starts later, after no_new_privs.
absl::Status InstallGoferFilter();

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_GOFER_FILTER_H_
