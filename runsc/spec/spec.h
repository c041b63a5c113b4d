// The OCI runtime configuration (config.json, runtime-spec config.md and config-linux.md) as
// typed structs. JSON is parsed here, once, at the edge (STYLE.md): nothing past runsc/spec/ sees
// it. Parsing ignores unknown fields and rejects an invalid value with an error that names its
// JSON path, for example `process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"`.
//
// This is also where runsc's other JSON lives: the OCI state (runtime.md "State"), the default
// config of `runsc spec`, the features document of `runsc features`, and the output of `list`,
// `ps`, `events` and `wait`.
#ifndef MOAT_RUNSC_SPEC_SPEC_H_
#define MOAT_RUNSC_SPEC_SPEC_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace moat::runsc::spec {

inline constexpr char kOciVersion[] = "1.1.0";

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<gid_t> additional_gids;
  std::string username;  // Windows only in the spec; kept for completeness
};

struct Rlimit {
  int resource;  // RLIMIT_* (parsed from its name, "RLIMIT_NOFILE")
  uint64_t soft, hard;
};

// Capability sets as bit masks of CAP_* numbers (parsed from names, "CAP_CHOWN").
struct Capabilities {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

struct ConsoleSize {
  unsigned height = 0, width = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;  // required, at least one
  std::vector<std::string> env;   // "NAME=value"
  std::string cwd = "/";          // required, absolute
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
};

struct Root {
  std::string path;  // as written: relative to the bundle, or absolute
  bool readonly = false;
};

// A mount option list, decoded. Options not listed here are kept in `data` (comma-joined) for the
// filesystem (for example tmpfs "size=64m", "mode=755").
struct MountOptions {
  bool readonly = false;  // ro (rw clears it)
  bool nosuid = false, nodev = false, noexec = false;
  bool bind = false, rbind = false;
  bool noatime = false, relatime = false, strictatime = false, nodiratime = false;
  bool sync = false, dirsync = false;
  std::string propagation;  // private, rprivate, shared, rshared, slave, rslave, unbindable, ...
  std::string data;         // everything else, comma-joined
};

struct Mount {
  std::string destination;  // absolute, inside the container
  std::string type;         // "bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", ...
  std::string source;
  std::vector<std::string> raw_options;
  MountOptions options;
  bool IsBind() const { return type == "bind" || options.bind || options.rbind; }
};

struct Hook {
  std::string path;  // absolute
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
};

struct Namespace {
  std::string type;  // pid, network, mount, ipc, uts, user, cgroup, time
  std::string path;  // join this one instead of making a new one
};

struct IdMapping {
  uint32_t container_id, host_id, size;
};

struct Device {
  std::string type;  // c, b, u, p
  std::string path;
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

struct DeviceRule {
  bool allow = false;
  std::string type;  // a, c, b
  std::optional<int64_t> major, minor;
  std::string access;  // rwm
};

// linux.resources. Unset fields are not applied.
struct Resources {
  std::vector<DeviceRule> devices;
  struct Memory {
    std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
    std::optional<uint64_t> swappiness;
    std::optional<bool> disable_oom_killer;
  } memory;
  struct Cpu {
    std::optional<uint64_t> shares, period;
    std::optional<int64_t> quota, realtime_runtime;
    std::optional<uint64_t> realtime_period;
    std::string cpus, mems;
  } cpu;
  std::optional<int64_t> pids_limit;
  struct BlockIo {
    std::optional<uint16_t> weight, leaf_weight;
  } block_io;
  std::map<std::string, std::string> unified;  // cgroup v2 files
};

struct SeccompArg {
  unsigned index;
  uint64_t value, value_two = 0;
  std::string op;  // SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT,
                   // SCMP_CMP_MASKED_EQ
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;  // SCMP_ACT_*
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // SCMP_ARCH_*
  std::vector<std::string> flags;          // SECCOMP_FILTER_FLAG_*
  std::string listener_path;
  std::vector<SeccompRule> syscalls;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, std::string> sysctl;
  std::string cgroups_path;
  std::optional<Resources> resources;
  std::vector<Device> devices;
  std::optional<Seccomp> seccomp;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::string mount_label;

  const Namespace* FindNamespace(std::string_view type) const;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;  // required by create/run
  Root root;
  std::vector<Mount> mounts;
  std::string hostname, domainname;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;
};

// Parses config.json's text. Errors name the JSON path of the bad value.
absl::StatusOr<Spec> ParseSpec(std::string_view json);
// Reads and parses `bundle`/config.json, and checks what create needs: process.args, an
// existing root.path (resolved against the bundle), absolute mount destinations.
absl::StatusOr<Spec> LoadBundle(const std::string& bundle);
// Parses a process.json, as `runsc exec --process` takes (the "process" object alone).
absl::StatusOr<Process> ParseProcess(std::string_view json);

// The default config.json of `runsc spec` (runc's, with `rootless` its rootless variant).
std::string DefaultSpecJson(bool rootless);

// The OCI state of a container (runtime.md "State").
struct State {
  std::string oci_version = kOciVersion;
  std::string id;
  std::string status;  // creating, created, running, paused, stopped
  pid_t pid = 0;       // 0 when there is no process
  std::string bundle;
  std::map<std::string, std::string> annotations;
};
std::string StateJson(const State& s);

}  // namespace moat::runsc::spec

#endif  // MOAT_RUNSC_SPEC_SPEC_H_
