// The OCI runtime configuration (config.json, runtime-spec config.md and config-linux.md) as
// typed structs. JSON is parsed here, once, at the edge (STYLE.md): nothing past runsc/spec/ sees
// it. Parsing ignores unknown fields and rejects an invalid value with an error that names its
// JSON path, for example `process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"`.
//
// This is also where runsc's other JSON lives: the OCI state (runtime.md "State"), the default
// config of `runsc spec`, the features document of `runsc features`, the container record kept in
// the state directory, and the output of `list`, `ps`, `events` and `wait`. Every function that
// returns JSON text returns it without a trailing newline; the command prints one.
//
// The names the parser accepts (rlimits, capabilities, namespaces, mount options, seccomp actions,
// operators, architectures and flags, hooks) are data in names.h, shared with FeaturesJson so the
// features document always says exactly what the parser takes.
#ifndef MOAT_RUNSC_SPEC_SPEC_H_
#define MOAT_RUNSC_SPEC_SPEC_H_

#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

// GNU C++ (-std=gnu++20, which the project uses) predefines the legacy macro `linux` as 1, which
// would turn the field Spec::linux into `Spec::1`. Nothing needs that macro (code tests
// __linux__), so it goes.
#undef linux

namespace moat::runsc::spec {

inline constexpr char kOciVersion[] = "1.1.0";
// Our own version, reported by `runsc features` (annotation "dev.moat.version").
inline constexpr char kMoatVersion[] = "0.1.0";

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
  unsigned height = 0, width = 0;  // each fits a struct winsize field (16 bits)
};

// process.scheduler (sched_setattr(2)).
struct Scheduler {
  std::string policy;  // SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE,
                       // SCHED_DEADLINE
  int32_t nice = 0;    // -20..19
  int32_t priority = 0;
  std::vector<std::string> flags;  // SCHED_FLAG_*
  uint64_t runtime = 0, deadline = 0, period = 0;
};

// process.ioPriority (ioprio_set(2)).
struct IoPriority {
  std::string ioclass;  // IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE ("class" in JSON)
  int priority = 0;     // 0..7
};

// process.execCPUAffinity.
struct CpuAffinity {
  std::string initial, final_;  // cpu lists, "0-3,7" ("final" in JSON)
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
  std::optional<Scheduler> scheduler;
  std::optional<IoPriority> io_priority;
  std::optional<CpuAffinity> exec_cpu_affinity;
};

struct Root {
  std::string path;  // as written: relative to the bundle, or absolute
  bool readonly = false;
  std::string abs_path;  // set by LoadBundle: `path` resolved against the (absolute) bundle
};

// A mount option list, decoded as runc does: each flag option sets or clears one field ("ro" sets
// readonly, "rw" clears it; "nosuid"/"suid", "noatime"/"atime", ...), later options winning.
// The r-prefixed options ("rro", "rnosuid", ...) are mount_setattr(2) attributes applied to the
// whole subtree of a recursive bind mount. "defaults" is accepted and changes nothing. Options not
// listed here are kept in `data` (comma-joined) for the filesystem (tmpfs "size=64m", "mode=755").
// names.h holds the table that maps each option name to its field.
struct MountOptions {
  bool readonly = false;  // ro (rw clears it)
  bool nosuid = false, nodev = false, noexec = false;
  bool bind = false, rbind = false;
  bool noatime = false, relatime = false, strictatime = false, nodiratime = false;
  bool sync = false, dirsync = false;
  bool nosymfollow = false, mand = false, lazytime = false, iversion = false, silent = false;
  bool remount = false;
  bool tmpcopyup = false;  // tmpfs: copy up the image's contents of the destination first
  // Recursive attributes (mount_setattr(2) with AT_RECURSIVE).
  bool rec_readonly = false, rec_nosuid = false, rec_nodev = false, rec_noexec = false;
  bool rec_noatime = false, rec_relatime = false, rec_strictatime = false,
       rec_nodiratime = false, rec_nosymfollow = false;
  std::string propagation;  // private, rprivate, shared, rshared, slave, rslave, unbindable,
                            // runbindable (the last one given)
  std::string data;         // everything else, comma-joined
};

struct IdMapping {
  uint32_t container_id, host_id, size;
};

struct Mount {
  std::string destination;  // absolute, inside the container
  std::string type;         // "bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", ...
  std::string source;
  std::vector<std::string> raw_options;
  MountOptions options;
  std::vector<IdMapping> uid_mappings, gid_mappings;  // idmapped mount (runtime-spec 1.1)
  bool IsBind() const { return type == "bind" || options.bind || options.rbind; }
};
// Decodes a mount option list (what ParseSpec does for Mount::options).
MountOptions DecodeMountOptions(const std::vector<std::string>& options);

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
    std::optional<uint64_t> swappiness;  // 0..100
    std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
  } memory;
  struct Cpu {
    std::optional<uint64_t> shares, period;
    std::optional<int64_t> quota, realtime_runtime;
    std::optional<uint64_t> realtime_period;
    std::optional<uint64_t> burst;  // no larger than a positive quota
    std::optional<int64_t> idle;
    std::string cpus, mems;
  } cpu;
  std::optional<int64_t> pids_limit;
  struct BlockIo {
    std::optional<uint16_t> weight, leaf_weight;  // 10..1000
    struct WeightDevice {
      int64_t major = 0, minor = 0;
      std::optional<uint16_t> weight, leaf_weight;  // at least one of them
    };
    std::vector<WeightDevice> weight_device;
    struct ThrottleDevice {
      int64_t major = 0, minor = 0;
      uint64_t rate = 0;
    };
    std::vector<ThrottleDevice> throttle_read_bps_device, throttle_write_bps_device,
        throttle_read_iops_device, throttle_write_iops_device;
  } block_io;
  struct HugepageLimit {
    std::string page_size;  // "2MB"
    uint64_t limit = 0;
  };
  std::vector<HugepageLimit> hugepage_limits;
  struct Network {
    std::optional<uint32_t> class_id;
    std::vector<std::pair<std::string, uint32_t>> priorities;  // interface name, priority
  };
  std::optional<Network> network;
  struct Rdma {
    std::optional<uint32_t> hca_handles, hca_objects;  // at least one of them
  };
  std::map<std::string, Rdma> rdma;
  std::map<std::string, std::string> unified;  // cgroup v2 files: plain file names, no '/'
};

struct SeccompArg {
  unsigned index;  // 0..5
  uint64_t value, value_two = 0;
  std::string op;  // SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT,
                   // SCMP_CMP_MASKED_EQ
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_*
  std::optional<uint32_t> errno_ret;  // only with SCMP_ACT_ERRNO and SCMP_ACT_TRACE
  std::vector<SeccompArg> args;
};

struct Seccomp {
  std::string default_action;  // SCMP_ACT_*
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // SCMP_ARCH_*
  std::vector<std::string> flags;          // SECCOMP_FILTER_FLAG_*
  std::string listener_path;      // required when an action is SCMP_ACT_NOTIFY
  std::string listener_metadata;  // only with listener_path
  std::vector<SeccompRule> syscalls;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;  // < 1e9
};

struct Personality {
  std::string domain;  // LINUX, LINUX32
  std::vector<std::string> flags;
};

struct Linux {
  std::vector<Namespace> namespaces;  // no type twice
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, std::string> sysctl;
  std::string cgroups_path;
  std::optional<Resources> resources;
  std::vector<Device> devices;
  std::optional<Seccomp> seccomp;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;  // absolute
  std::string mount_label;
  std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
  std::optional<Personality> personality;

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

// Parses config.json's text. Errors are absl::InvalidArgumentError whose message starts with the
// JSON path of the bad value (`mounts[2].destination: must be an absolute path`), or with
// `config.json: parse error at line L, column C: ` for text that is not JSON. A missing `process`
// is allowed here (the spec allows it); LoadBundle requires it.
absl::StatusOr<Spec> ParseSpec(std::string_view json);
// Reads and parses `bundle`/config.json, and checks what create needs: `process` present, an
// existing directory at root.path (resolved against the bundle into root.abs_path).
absl::StatusOr<Spec> LoadBundle(const std::string& bundle);
// Parses a process.json, as `runsc exec --process` takes (the "process" object alone). Error paths
// start at that object: `args: must be a non-empty array of strings`.
absl::StatusOr<Process> ParseProcess(std::string_view json);
// The number of capability `name` ("CAP_CHOWN"; the "CAP_" may be left out, any case), as
// `runsc exec --cap` takes it.
absl::StatusOr<int> CapabilityNumber(std::string_view name);

// The default config.json of `runsc spec` (runc's, with `rootless` its rootless variant, which maps
// the caller's euid and egid to root in a new user namespace), pretty-printed as runc does.
std::string DefaultSpecJson(bool rootless);

// The OCI state of a container (runtime.md "State"), with the fields runc adds.
struct State {
  std::string oci_version = kOciVersion;
  std::string id;
  std::string status;   // creating, created, running, paused, stopped
  pid_t pid = 0;        // 0 when there is no process
  std::string bundle;   // absolute
  std::string rootfs;   // absolute
  std::string created;  // RFC 3339 with nanoseconds, UTC, as runc (see Rfc3339Nano)
  std::string owner;    // user name of the creator, "" when unknown (runc prints it so)
  std::map<std::string, std::string> annotations;
};
// `runc state`'s output: ociVersion, id, pid, status, bundle, rootfs, created, annotations (only
// when there are any), owner; indented by two spaces.
std::string StateJson(const State& s);

// A time as Go's time.RFC3339Nano prints it in UTC ("2024-05-01T10:20:30.123456789Z", trailing
// zeros of the fraction dropped), the form of State::created.
std::string Rfc3339Nano(const struct timespec& ts);

// The container record the runtime keeps in its state directory, one per container.
struct Record {
  State state;
  int64_t boot_start_time = 0;  // /proc/PID/stat starttime of the sandbox process, so a reused
                                // pid is not mistaken for it
  std::string config_json_path;
  bool detached = false;
  std::map<std::string, std::string> extra;
};
std::string RecordJson(const Record& r);
// Errors name the path of the bad value, as ParseSpec's do (`state.pid: ...`).
absl::StatusOr<Record> ParseRecord(std::string_view json);

// `runc list --format json`: an array of {ociVersion, id, pid, status, bundle, rootfs, created,
// annotations?, owner}, or `null` when there are none, as runc prints.
std::string ListJson(const std::vector<State>& states);
// `runc ps --format json`: a JSON array of pids ([] when there are none).
std::string PidsJson(const std::vector<pid_t>& pids);

// The OCI features document (runtime-spec features.md), as `runc features` prints it.
std::string FeaturesJson();

// Container statistics, as the cgroup files and the sentry report them.
struct Stats {
  uint64_t cpu_total_ns = 0, cpu_user_ns = 0, cpu_kernel_ns = 0;
  std::vector<uint64_t> percpu_ns;
  uint64_t memory_usage = 0, memory_max_usage = 0, memory_limit = 0, memory_failcnt = 0;
  uint64_t swap_usage = 0, swap_limit = 0;
  uint64_t pids_current = 0, pids_limit = 0;
  std::map<std::string, uint64_t> memory_raw;  // memory.stat
};
// One line of `runc events`: {"type":TYPE,"id":ID,"data":{...}} with runc's types/events.go
// field names (cpu, memory, pids, blkio, hugetlb), zero values omitted where runc omits them.
// `stats` is null for events without data ("oom"), which then have no "data".
std::string EventJson(std::string_view type, std::string_view id, const Stats* stats);

// `runsc wait`'s output: {"id":ID,"exitStatus":N}.
std::string WaitJson(std::string_view id, int exit_status);

}  // namespace moat::runsc::spec

#endif  // MOAT_RUNSC_SPEC_SPEC_H_
