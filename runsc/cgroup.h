// The sandbox's host cgroup: the runtime-spec's linux.cgroupsPath and linux.resources applied to
// the whole sandbox (the `runsc boot` sentry, its gofer and the application processes it runs),
// and the statistics `runsc events` reports.
//
// The host can lay its cgroups out three ways, and all three are handled:
//   - v1: one hierarchy per controller (or group of controllers) mounted under /sys/fs/cgroup/;
//   - hybrid: v1 controllers plus a cgroup2 hierarchy at /sys/fs/cgroup/unified that only tracks
//     processes (resources and statistics then go through v1; the cgroup is still made and
//     joined in the unified hierarchy, as runc does);
//   - v2: one unified cgroup2 hierarchy at /sys/fs/cgroup.
// The layout is read from /proc/self/mountinfo (Host::Detect) or given whole (Host::Parse,
// Host::Unified), so tests can point the code at a fake tree in a temporary directory.
//
// Placement (Resolve, runc's rules):
//   - "/a/b": that path from the root of every hierarchy;
//   - "a/b": relative to runsc's own cgroup in each hierarchy (on pure v2, to the parent of
//     runsc's own cgroup: a cgroup with processes cannot delegate controllers to children);
//   - "": the container id, relative, as runc does (runc's default Name with an empty Parent);
//   - with --systemd-cgroup, "slice:prefix:name" becomes /<expanded slice>/<prefix>-<name>.scope
//     (an empty slice is system.slice, an empty path is ":runsc:<id>"). We create these
//     directories ourselves: runsc does not talk to systemd over D-Bus, so systemd does not know
//     the scope and does not manage it. This is enough for hosts whose tools only read the path.
//
// What linux.resources does (Cgroup::Apply):
//   - memory limit, reservation, swap (memory+swap, as the spec says), swappiness,
//     disableOOMKiller; cpu shares, quota, period, realtime runtime/period, cpus, mems; pids
//     limit; blockIO weight and leafWeight; unified (v2 files, an error on v1 or hybrid).
//   - kernel and kernelTCP memory limits are deprecated by the kernel and ignored with a
//     warning, as runc does.
//   - devices: not applied to the host cgroup. The application never opens a host device: its
//     /dev is the sentry's own (/dev/null, /dev/zero, ptys, ... are emulated), so the spec's
//     device rules are enforced inside the sandbox. A host device-controller rule would only
//     restrict the sentry and the gofer, which need host devices the container never sees.
//   - A value the kernel refuses is an error naming the file and the value,
//     "/sys/fs/cgroup/cpu/x/cpu.cfs_quota_us=100: Invalid argument".
//   - A controller the host does not have is an error when a value for it is set, a warning when
//     none is. On v2, swappiness and disableOOMKiller have no equivalent and are warnings.
//   - Rootless (euid != 0): a directory or file we may not write (EACCES, EPERM, EROFS) is
//     skipped with a warning; limits then apply only "where the host allows".
//
// Ownership: a Cgroup is a plain value-like object owned by its caller; it holds no file
// descriptors between calls and no locks (the control plane uses it from one thread). The
// directories it names outlive it: Destroy() removes them, and path() plus Load() find them
// again from another process (`runsc delete` after `runsc create`).
#ifndef MOAT_RUNSC_CGROUP_H_
#define MOAT_RUNSC_CGROUP_H_

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
// The build's -std=gnu++20 predefines `linux` as 1, which spec.h's `Linux linux` member does not
// survive. Harmless once spec.h guards itself.
#ifdef linux
#undef linux
#endif
#include "runsc/spec/spec.h"

namespace moat::runsc::cgroup {

enum class Layout { kV1, kHybrid, kV2 };
const char* LayoutName(Layout l);

// One mounted cgroup hierarchy.
struct Hierarchy {
  std::string mount;  // where it is mounted, "/sys/fs/cgroup/memory"
  // The cgroup that `mount` shows (mountinfo's root field): "/" on a host, "/docker/ID" when a
  // container sees a bind mount of its own subtree.
  std::string root = "/";
  // v1: the controllers, sorted ("cpu", "cpuacct"), or "name=systemd" for a named hierarchy.
  // The unified hierarchy leaves this empty: its controllers are read from cgroup.controllers.
  std::vector<std::string> controllers;
  bool unified = false;
  // This process's cgroup in the hierarchy (from /proc/self/cgroup) as seen under `mount`, "/"
  // if not listed.
  std::string own = "/";

  // The hierarchy's name in /proc/<pid>/cgroup: "cpu,cpuacct", "name=systemd", "" when unified.
  std::string Key() const;
  bool Has(std::string_view controller) const;
};

// The host's cgroup hierarchies.
struct Host {
  Layout layout = Layout::kV1;
  std::vector<Hierarchy> hierarchies;

  // From the text of /proc/self/mountinfo and /proc/self/cgroup.
  static absl::StatusOr<Host> Parse(std::string_view mountinfo, std::string_view proc_cgroup);
  // This process's view.
  static absl::StatusOr<Host> Detect();
  // A pure v2 host whose unified hierarchy is `mount` (a fake tree in tests, or a real cgroup2).
  static Host Unified(std::string mount, std::string own = "/");

  // The v1 hierarchy with `controller`, or on v2 the unified one; nullptr if the host lacks it.
  const Hierarchy* Find(std::string_view controller) const;
  const Hierarchy* UnifiedHierarchy() const;
};

// runc's CleanPath: a lexically clean path; a relative path cannot climb with "..".
std::string CleanPath(std::string_view path);
// systemd's slice nesting: "a-b.slice" is "/a.slice/a-b.slice", "-.slice" is "/".
absl::StatusOr<std::string> ExpandSlice(std::string_view slice);
// linux.cgroupsPath, cleaned: an absolute path (from each hierarchy's root) or a relative one
// (from runsc's own cgroup). See the header comment for the rules.
absl::StatusOr<std::string> Resolve(std::string_view cgroups_path, std::string_view id,
                                    bool systemd);
// runc's conversions for cgroup v2.
uint64_t SharesToWeight(uint64_t shares);   // cpu.shares [2, 262144] -> cpu.weight [1, 10000]
uint64_t BlkioToIoWeight(uint16_t weight);  // blkio.weight [10, 1000] -> io.weight [1, 10000]

// Statistics for `runsc events`. Absent sections: the host has no such controller. Values the
// host does not report are 0.
struct CpuStats {
  uint64_t total_ns = 0, user_ns = 0, kernel_ns = 0;
  std::vector<uint64_t> percpu_ns;  // v1 only
  uint64_t periods = 0, throttled_periods = 0, throttled_ns = 0;
};
struct MemoryEntry {
  uint64_t usage = 0, max_usage = 0, limit = 0, failcnt = 0;
};
struct MemoryStats {
  uint64_t cache = 0;
  MemoryEntry usage;
  // Memory plus swap, as v1's memsw and runc's events report it (on v2: memory.current plus
  // memory.swap.current; the limit is memory.max plus memory.swap.max).
  MemoryEntry swap;
  MemoryEntry kernel;                   // v1 only
  std::map<std::string, uint64_t> raw;  // memory.stat
  uint64_t oom_kills = 0;               // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
};
struct PidsStats {
  uint64_t current = 0, limit = 0;  // limit 0: unlimited
};
struct Stats {
  std::optional<CpuStats> cpu;
  std::optional<MemoryStats> memory;
  std::optional<PidsStats> pids;
};
// An unlimited memory limit on v2 ("max"); v1 reports its own large number as is.
inline constexpr uint64_t kUnlimited = UINT64_MAX;

struct CreateOptions {
  std::string cgroups_path;  // linux.cgroupsPath
  std::string id;            // the container id, for an empty path
  bool systemd = false;      // --systemd-cgroup
  bool rootless = geteuid() != 0;
};

class Cgroup {
 public:
  // Makes the cgroup in every hierarchy of `host` (its missing ancestors too). v1 cpuset
  // directories get cpuset.cpus/mems from their parent when empty; on v2 the ancestors delegate
  // the controllers Apply uses (cpu, cpuset, io, memory, pids) through cgroup.subtree_control.
  static absl::StatusOr<std::unique_ptr<Cgroup>> Create(const Host& host,
                                                        const CreateOptions& opts);
  // Finds a cgroup from its path() (in another process): nothing is checked or created.
  static absl::StatusOr<std::unique_ptr<Cgroup>> Load(const Host& host, std::string_view saved,
                                                      bool rootless = geteuid() != 0);

  // The cgroup's path, for the container's state: "/a/b" when it is the same from the root of
  // every hierarchy (the usual case); otherwise one "key:path" line per hierarchy, keys as in
  // /proc/<pid>/cgroup ("memory:/user.slice/x\ncpu,cpuacct:/x"); "" when a rootless caller
  // could make it nowhere.
  std::string path() const;
  // The cgroup's directory in each hierarchy it is in.
  std::vector<std::string> directories() const;
  // Its directory in the hierarchy of `controller` (on v2, the unified one), if any.
  std::optional<std::string> Directory(std::string_view controller) const;

  // The processes in the cgroup (in any of its hierarchies), by pid; none once it is gone.
  std::vector<pid_t> Processes() const;

  // Moves process `pid` (all its threads) into the cgroup in every hierarchy.
  absl::Status AddProcess(pid_t pid);
  absl::Status Join() { return AddProcess(getpid()); }

  absl::Status Apply(const spec::Resources& r);
  // NotFound once the cgroup's directories are gone.
  absl::StatusOr<Stats> GetStats() const;

  // Removes the cgroup's directories, sub-cgroups first, in every hierarchy. Call it once the
  // sandbox's processes are gone: nothing is moved or killed; a directory that stays busy for a
  // moment is retried. Removing what is already gone succeeds, so Destroy may run twice. The
  // ancestors are left, as runc leaves them.
  absl::Status Destroy();

  // What was skipped "where the host does not allow": also logged.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Dir {
    Hierarchy hierarchy;
    std::string path;  // the cgroup, from the hierarchy's root: "/x/y"
    std::string dir;   // its directory: mount + path
  };

  Cgroup(Layout layout, bool rootless) : layout_(layout), rootless_(rootless) {}

  absl::Status MakeDir(Dir& d);
  // The cgroup's directory in the hierarchy with `controller`, or nullptr.
  const Dir* DirFor(std::string_view controller) const;
  // Whether the v2 cgroup has `controller` enabled (its cgroup.controllers lists it).
  bool V2Enabled(const Dir& d, std::string_view controller) const;
  // Writes `value` to `dir`/`file`. A refusal is an error naming both, or a warning when
  // rootless and the refusal is about permission.
  absl::Status Write(const std::string& dir, std::string_view file, std::string_view value);
  void Warn(std::string msg);

  absl::Status ApplyV1(const spec::Resources& r);
  absl::Status ApplyV2(const spec::Resources& r);
  // A controller the host lacks: an error when `set` (naming `what`), else a warning.
  absl::Status Missing(std::string_view controller, bool set, std::string_view what);

  Layout layout_;
  bool rootless_;
  std::vector<Dir> dirs_;
  std::vector<std::string> warnings_;
};

}  // namespace moat::runsc::cgroup

#endif  // MOAT_RUNSC_CGROUP_H_
