// A container's record on disk (DESIGN.md section 2): one directory per container under the
// state root (--root, default /run/runsc), holding
//   state.json    the record: the OCI state plus what later commands need (spec::Record)
//   control.sock  the sandbox's control socket (runsc/control.h)
//   lock          flock(2)ed by every command that changes the container, so that concurrent
//                 commands on one container run one after the other
//   exit          the wait status of the container's init, written by the sandbox as it ends
// Every command is a fresh process: all it knows about a container comes from here. The status
// is not trusted as written: a container whose sandbox process is gone is stopped, whatever
// state.json says (the sandbox may have been killed).
#ifndef MOAT_RUNSC_CONTAINER_H_
#define MOAT_RUNSC_CONTAINER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"
#include "runsc/spec/spec.h"

namespace moat::runsc {

// Checks a container id as runc does: letters, digits, '_', '+', '-', '.', and not "." or "..".
absl::Status ValidateId(const std::string& id);

class ContainerDir {
 public:
  ContainerDir(std::string root, std::string id);
  const std::string& id() const { return id_; }
  const std::string& path() const { return path_; }
  std::string state_path() const { return path_ + "/state.json"; }
  std::string control_path() const { return path_ + "/control.sock"; }
  std::string exit_path() const { return path_ + "/exit"; }

  // Makes the directory (and the root) for a new container and locks it. AlreadyExists names
  // the id when a container of that id exists.
  absl::Status Create();
  // Takes the container's lock (blocking); NotFound when there is no such container.
  absl::Status Lock();
  void Unlock() { lock_.Reset(); }

  // Reads state.json. NotFound when there is no such container.
  absl::StatusOr<spec::Record> Load() const;
  // Writes state.json atomically.
  absl::Status Save(const spec::Record& r) const;
  // Removes the directory and everything in it.
  absl::Status Remove();

  // The init's wait status, once the sandbox wrote it.
  std::optional<int> ExitStatus() const;

 private:
  std::string root_, id_, path_;
  FileDescriptor lock_;
};

// The start time of process `pid` (field 22 of /proc/PID/stat), or 0 if it does not exist or is
// a zombie: a pid is the same process only while its start time is.
int64_t ProcessStartTime(pid_t pid);

// The container's status now: what state.json says, unless its sandbox process is gone or has
// recorded init's exit, which make it "stopped".
std::string CurrentStatus(const ContainerDir& dir, const spec::Record& r);

// The ids of every container under `root`, sorted.
std::vector<std::string> ListContainers(const std::string& root);

// Writes `pid` to `path` atomically (a temporary file renamed over it), as engines expect of
// --pid-file.
absl::Status WritePidFile(const std::string& path, pid_t pid);

// Writes `data` to `path` atomically.
absl::Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode);

// The current time in RFC 3339 with nanoseconds, as runc writes "created".
std::string NowRfc3339();

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_CONTAINER_H_
