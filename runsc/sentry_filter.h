// The sentry's host seccomp filter (DESIGN.md section 8, layer 2): what the sentry may ask of the
// host kernel once it is confined (runsc/confine.h). A declarative allowlist in
// sentry_filter.cc, one line per syscall with why the sentry needs it, argument-checked where the
// arguments say what the call does. docs/security.md has its size.
//
// Anything else fails with ENOSYS: the filter returns SECCOMP_RET_TRACE, which for a process no
// one traces fails the call. The filter is inherited by the sentry's application processes,
// which is why it is TRACE and not an errno or a kill: stacked under their own filter (platform/
// filter.cc), which traps everything but a passthrough set, TRACE lets the platform's decision
// stand (a trap or a trace stop), and the passthrough set and the stub's syscalls are in this
// allowlist too.
#ifndef MOAT_RUNSC_SENTRY_FILTER_H_
#define MOAT_RUNSC_SENTRY_FILTER_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"

namespace moat::runsc {

// The filter as a BPF program.
absl::StatusOr<std::vector<sock_filter>> BuildSentryFilter();

// Installs it on every thread of the calling process (TSYNC), after no_new_privs.
absl::Status InstallSentryFilter();

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_SENTRY_FILTER_H_
