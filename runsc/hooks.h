// OCI hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): programs
// the runtime runs at points of a container's life, each with the container's state JSON on
// its stdin.
//
// A hook runs as path with argv = args (args[0] is argv[0], as execv takes it; [path] when args
// is empty) and exactly the environment env (empty if none is given, as crun does), in a process
// group of its own, with the state on a pipe as stdin and runsc's own stdout and stderr. It
// inherits no other fd of runsc, no blocked signal and no ignored disposition. runsc waits for
// it; it fails if it cannot be started, exits non-zero, is killed by a signal, or outlives its
// timeout, in which case its whole process group is killed with SIGKILL and it is reaped.
//
// A hook that does not read its stdin is fine: the state is written without blocking while the
// hook runs, and the EPIPE of a hook that exits without reading it is no error (SIGPIPE is held
// off while writing; it never reaches runsc).
//
// Kinds and what a failure does (runtime.md):
//   prestart, createRuntime, createContainer, startContainer: the first failure stops the
//       remaining hooks of the kind and fails the operation;
//   poststart, poststop: a failure is logged as a warning and the remaining hooks still run.
#ifndef MOAT_RUNSC_HOOKS_H_
#define MOAT_RUNSC_HOOKS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
// GNU C++ predefines `linux` as 1, which spec.h's `Linux linux` field cannot survive; spec.h
// will deal with it itself, this keeps the include working until it does.
#undef linux
#include "runsc/spec/spec.h"

namespace moat::runsc {

// The kinds as config.json names them.
inline constexpr std::string_view kPrestart = "prestart";
inline constexpr std::string_view kCreateRuntime = "createRuntime";
inline constexpr std::string_view kCreateContainer = "createContainer";
inline constexpr std::string_view kStartContainer = "startContainer";
inline constexpr std::string_view kPoststart = "poststart";
inline constexpr std::string_view kPoststop = "poststop";

// Runs `hooks` of kind `kind` in order, each with `state_json` on its stdin. Errors name the
// kind, the hook's index in its list and its path, and what happened:
//   createRuntime hook 1 (/usr/bin/foo): exited with status 3
//   createRuntime hook 1 (/usr/bin/foo): killed by signal 9 (SIGKILL)
//   createRuntime hook 1 (/usr/bin/foo): timed out after 2s
//   createRuntime hook 1 (/usr/bin/foo): exec: No such file or directory
// For poststart and poststop the failures are logged and Ok is returned. An unknown kind is
// InvalidArgument.
absl::Status RunHooks(std::string_view kind, const std::vector<spec::Hook>& hooks,
                      const std::string& state_json);

// Runs one hook (`index` is for the message) and reports its failure whatever the kind.
absl::Status RunHook(std::string_view kind, size_t index, const spec::Hook& hook,
                     const std::string& state_json);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_HOOKS_H_
