// Building a sandbox: the sentry's mounts, its kernel, and the first process. Setup reads as a
// script: each step returns a status naming what failed.
#ifndef MOAT_RUNSC_SANDBOX_H_
#define MOAT_RUNSC_SANDBOX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moat::runsc {

struct DoOptions {
  std::string platform = "ptrace";
  std::string root_dir = "/";  // the host directory that is the sandbox's root (read-only)
  std::vector<std::string> argv;
  std::string cwd;  // inside the sandbox; empty: the caller's cwd if root_dir is "/", else "/"
  // Bind mounts, "HOST:TARGET[:ro|:rw]": the host path HOST, served by the gofer, at TARGET.
  std::vector<std::string> volumes;
  // With a path: the command's stdio is a terminal of the sandbox whose master goes to this
  // unix socket (runsc/console.h), as with runc's --console-socket.
  std::string console_socket;
};

// `runsc do`: runs argv in a fresh sandbox whose root is root_dir seen read-only under an
// in-memory writable layer, with the caller's stdio. Returns the exit status for runsc: the
// command's exit code, or 128+N if a signal N killed it.
absl::StatusOr<int> RunDo(const DoOptions& opts);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_SANDBOX_H_
