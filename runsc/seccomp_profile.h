// The container's seccomp profile (config.json linux.seccomp) compiled into a classic BPF filter
// for the sentry to enforce (sentry/kernel/seccomp.h, InitProcess::seccomp_filters).
//
// The translation is runc's (libcontainer/specconv and libcontainer/seccomp), done with
// libseccomp as runc does, so that a profile means in the sandbox what it means under runc:
//   - SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD; SCMP_ACT_ERRNO and SCMP_ACT_TRACE return `errnoRet`
//     when given, EPERM otherwise; defaultErrnoRet goes with the default action the same way;
//   - a rule whose action equals the default action is redundant and skipped;
//   - a syscall name libseccomp does not know is skipped (a newer syscall than it knows, or
//     one of another architecture), not an error;
//   - a rule with several conditions on the same argument becomes one rule per condition;
//   - architectures are added to the filter (the native one is always there).
// Not offered: SCMP_ACT_NOTIFY and listenerPath (no user notification in the sandbox), which
// are errors. The filter flags (TSYNC, LOG, SPEC_ALLOW) are accepted and change nothing here.
// runc's extra ENOSYS stub for syscalls newer than the profile is not generated.
#ifndef MOAT_RUNSC_SECCOMP_PROFILE_H_
#define MOAT_RUNSC_SECCOMP_PROFILE_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"

// spec.h has a field named `linux`, which the GNU dialect of C++ (-std=gnu++20) predefines as a
// macro meaning 1. TODO(#4): remove once spec.h or the build settles it for every includer.
#ifdef linux
#undef linux
#endif
#include "runsc/spec/spec.h"

namespace moat::runsc {

// Compiles `profile` into a BPF program. An empty program means the profile disables seccomp
// (no default action and no rules, as runc reads it). An error names the offending field, for
// example `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
absl::StatusOr<std::vector<sock_filter>> CompileSeccompProfile(const spec::Seccomp& profile);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_SECCOMP_PROFILE_H_
