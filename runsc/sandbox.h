// Building a sandbox: the sentry's mounts, its kernel, and the first process. Setup reads as a
// script: each step returns a status naming what failed. Two callers: `runsc do` (a host
// directory as the root, the caller's stdio) and `runsc boot` (an OCI bundle: runsc/boot.cc).
#ifndef MOAT_RUNSC_SANDBOX_H_
#define MOAT_RUNSC_SANDBOX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/ref_counted.h"
#include "sentry/fsimpl/cgroupfs.h"
#include "sentry/kernel/credentials.h"
#include "sentry/kernel/id_map.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {
class FdTable;
}  // namespace moat::vfs

namespace moat::runsc {

// One mount of the sandbox, in the order mounts are made.
struct SandboxMount {
  std::string destination;  // absolute, inside the sandbox
  // "bind" (a host file or directory, served by the gofer), "tmpfs", "dev" (a tmpfs with the
  // standard devices), "devpts", "proc", "sysfs", "mqueue", "cgroup" or "cgroup2" (the
  // container's own cgroup, sentry/fsimpl/cgroupfs.h).
  std::string type;
  std::string source;  // bind: the host path
  vfs::MountFlags flags;
  std::string data;  // tmpfs: "size=...,mode=...,uid=...,gid=..."
};

struct SandboxConfig {
  std::string rootfs = "/";  // the host directory that is the sandbox's root
  bool root_readonly = false;
  // Writes to the root go to an in-memory layer and never reach rootfs; without it they do.
  bool overlay = true;
  std::vector<SandboxMount> mounts;
  // linux.maskedPaths: hidden (an empty read-only directory, or /dev/null for a file).
  std::vector<std::string> masked_paths;
  // linux.readonlyPaths: the same tree, mounted again read-only.
  std::vector<std::string> readonly_paths;
  // A user namespace's mappings (linux.uidMappings, gidMappings): the host ids of the files the
  // gofer serves are shown through them, and mapped back when the sandbox sets owners.
  kernel::IdMap uids, gids;
  // What "cgroup" mounts show of linux.resources.
  fsimpl::CgroupLimits cgroup_limits;
};

// The mounts every `runsc do` sandbox has: /dev, /dev/pts, /dev/shm, /proc, /sys.
std::vector<SandboxMount> StandardMounts();

// Starts the gofer for `cfg`'s root and bind mounts (`runsc gofer`, a child of the caller that
// dies with it): the sockets it serves them on, the root's first. Before the sentry is forked
// (runsc/confine.h): the gofer stays in the host's namespaces.
absl::StatusOr<std::vector<FileDescriptor>> StartGoferFor(const SandboxConfig& cfg);

// Builds the sandbox's mount namespace on the gofer's sockets (StartGoferFor's).
absl::StatusOr<RefPtr<vfs::MountNamespace>> BuildMounts(const SandboxConfig& cfg,
                                                        std::vector<FileDescriptor> gofer);

// Makes directory `path` (absolute) in the sandbox and those on the way, as root and whatever
// the mounts' read-only flags say (runc makes a missing process.cwd so, before it makes the root
// read-only).
absl::Status MakeDirs(vfs::MountNamespace& ns, const std::string& path);

// Copies of this process's fds 0, 1 and 2 (invalid where one is not open), for HostStdioTable.
std::vector<FileDescriptor> DupOwnStdio();
// A file table whose fds 0, 1, 2 and on are `fds` (host fds, taken over; invalid: not open).
absl::StatusOr<RefPtr<vfs::FdTable>> HostStdioTable(std::vector<FileDescriptor> fds);
// Puts host fds `fds` (taken over; invalid: left closed) at `first`, `first` + 1 and on in
// `table`: the stdio of a process, or the fds that --preserve-fds passes on from fd 3.
absl::Status InstallHostFds(vfs::FdTable& table, int first, std::vector<FileDescriptor> fds);

// The program to run: `name` as a path, or looked up in `path_env` (a $PATH value) within the
// sandbox's own view of its files (the host's is never consulted). NotFound names what was
// searched.
absl::StatusOr<std::string> FindProgram(vfs::MountNamespace& ns, const std::string& name,
                                        const std::string& path_env,
                                        const kernel::Credentials& creds);

// Raises the soft limit on open files to the hard one: the sentry holds host fds for the
// sandbox's files.
void RaiseFdLimit();

struct DoOptions {
  std::string platform = "seccomp_trap";
  std::string root_dir = "/";  // the host directory that is the sandbox's root (read-only)
  std::vector<std::string> argv;
  std::string cwd;  // inside the sandbox; empty: the caller's cwd if root_dir is "/", else "/"
  // Bind mounts, "HOST:TARGET[:ro|:rw]": the host path HOST, served by the gofer, at TARGET.
  std::vector<std::string> volumes;
  // With a path: the command's stdio is a terminal of the sandbox whose master goes to this
  // unix socket (runsc/console.h), as with runc's --console-socket.
  std::string console_socket;
  // --network: none or sandbox (the netstack, loopback only: do never takes over its caller's
  // interfaces), host, or sandbox-takeover (runsc/network.h).
  std::string network = "sandbox";
};

// `runsc do`: runs argv in a fresh sandbox whose root is root_dir seen read-only under an
// in-memory writable layer, with the caller's stdio. Returns the exit status for runsc: the
// command's exit code, or 128+N if a signal N killed it.
absl::StatusOr<int> RunDo(const DoOptions& opts);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_SANDBOX_H_
