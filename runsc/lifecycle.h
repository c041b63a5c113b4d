// The container lifecycle of runtime.md, shared by the commands (create, start, run, delete,
// ...): each operation takes the container's lock, checks the state it needs, acts, and records
// the new state. A failed create leaves nothing behind: no state directory, no process.
#ifndef MOAT_RUNSC_LIFECYCLE_H_
#define MOAT_RUNSC_LIFECYCLE_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"
#include "runsc/commands.h"
#include "runsc/container.h"

namespace moat::runsc {

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string console_socket;
  std::string pid_file;
  // --preserve-fds: the caller's fds 3, 4 and on that the container's init gets as its own.
  int preserve_fds = 0;
};

inline constexpr char kPreserveFdsHelp[] =
    "pass the caller's fds 3 to 3+N-1 on to the container's init, as its own";
// Fails unless the caller's fds 3 to 3 + `count` - 1 (--preserve-fds) are open: checked by
// create, run and exec before they open fds of their own.
absl::Status CheckPreservedFds(int count);

// `create`: starts the sandbox process, waits until the container's init exists, runs the
// prestart, createRuntime and createContainer hooks, and records the container as created.
// Returns the sandbox process's pid (the container's pid for engines).
absl::StatusOr<pid_t> CreateContainer(const GlobalOptions& global, const CreateOptions& opts);

// `start`: lets a created container's init run, then runs the poststart hooks.
absl::Status StartContainer(const GlobalOptions& global, const std::string& id);

// `delete`: removes a stopped (or created) container; with `force`, kills a running one first.
absl::Status DeleteContainer(const GlobalOptions& global, const std::string& id, bool force);

// Loads a container's record and its status now, without locking (state, list, ps).
struct Loaded {
  spec::Record record;
  std::string status;
};
absl::StatusOr<Loaded> LoadContainer(const GlobalOptions& global, const std::string& id);

// Fails unless the container's status is one of `allowed` (a |-separated list), with runc's
// wording: `container "ID" is not running (status: stopped)` and the like.
absl::Status RequireStatus(const std::string& id, const std::string& status,
                           const std::string& allowed, const std::string& action);

// Ends this process the way a sandboxed process ended (a wait status): with its exit code, or by
// its signal (without a core dump), so that whoever waits for this process sees that status.
[[noreturn]] void ExitLike(int status);

// The engine's end of a console socket, for `run` and `exec -t` in a terminal without
// --console-socket: a unix socket in a fresh private directory that receives one terminal
// master, which the command then relays to its own stdio (as runc does).
class ConsoleSocket {
 public:
  static absl::StatusOr<std::unique_ptr<ConsoleSocket>> Listen();
  ~ConsoleSocket();
  const std::string& path() const { return path_; }
  // Accepts the sandbox's connection and receives the master (waits up to 30 s).
  absl::StatusOr<FileDescriptor> Receive();

 private:
  std::string dir_, path_;
  FileDescriptor sock_;
};

// Parses a signal as `kill` takes it: a number, or a name with or without "SIG".
absl::StatusOr<int> ParseSignal(const std::string& s);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_LIFECYCLE_H_
