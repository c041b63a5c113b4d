// The JSON runsc writes: `runsc spec`'s default config, the OCI state and our container record,
// and the output of features, list, ps, events and wait. Objects are nlohmann::ordered_json so
// keys come out in the order runc (Go struct order) prints them.
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "base/status_macros.h"
#include "runsc/spec/json_reader.h"
#include "runsc/spec/names.h"
#include "runsc/spec/spec.h"

namespace moat::runsc::spec {

using internal::Cat;
using internal::Json;
using internal::Object;
using OJson = nlohmann::ordered_json;

namespace {

// Dumps with invalid UTF-8 (a bundle path is just bytes) replaced rather than thrown on.
std::string Dump(const OJson& j, int indent = -1, char indent_char = ' ') {
  return j.dump(indent, indent_char, /*ensure_ascii=*/false, OJson::error_handler_t::replace);
}

template <typename List>
OJson Array(const List& list) {
  OJson a = OJson::array();
  for (const auto& e : list) a.push_back(std::string(e));
  return a;
}

OJson StateObject(const State& s) {
  OJson j;
  j["ociVersion"] = s.oci_version;
  j["id"] = s.id;
  j["pid"] = s.pid;
  j["status"] = s.status;
  j["bundle"] = s.bundle;
  j["rootfs"] = s.rootfs;
  j["created"] = s.created;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  j["owner"] = s.owner;
  return j;
}

OJson MountJson(std::string_view destination, std::string_view type, std::string_view source,
                std::vector<std::string_view> options) {
  OJson m;
  m["destination"] = destination;
  m["type"] = type;
  m["source"] = source;
  if (!options.empty()) m["options"] = Array(options);
  return m;
}

absl::Status ParseStateObject(const Object& o, State* s) {
  RETURN_IF_ERROR(o.GetString("ociVersion", &s->oci_version, /*required=*/true));
  RETURN_IF_ERROR(o.GetString("id", &s->id, /*required=*/true));
  RETURN_IF_ERROR(o.GetInt("pid", &s->pid));
  RETURN_IF_ERROR(o.GetString("status", &s->status, /*required=*/true));
  RETURN_IF_ERROR(o.GetString("bundle", &s->bundle));
  RETURN_IF_ERROR(o.GetString("rootfs", &s->rootfs));
  RETURN_IF_ERROR(o.GetString("created", &s->created));
  RETURN_IF_ERROR(o.GetStringMap("annotations", &s->annotations));
  return o.GetString("owner", &s->owner);
}

}  // namespace

std::string DefaultSpecJson(bool rootless) {
  const std::vector<std::string_view> caps = {"CAP_AUDIT_WRITE", "CAP_KILL",
                                              "CAP_NET_BIND_SERVICE"};
  OJson process;
  process["terminal"] = true;
  process["user"] = {{"uid", 0}, {"gid", 0}};
  process["args"] = Array(std::vector<std::string_view>{"sh"});
  process["env"] = Array(std::vector<std::string_view>{
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"});
  process["cwd"] = "/";
  process["capabilities"] = {
      {"bounding", Array(caps)}, {"effective", Array(caps)}, {"permitted", Array(caps)}};
  process["rlimits"] = OJson::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}});
  process["noNewPrivileges"] = true;

  OJson mounts = OJson::array();
  mounts.push_back(MountJson("/proc", "proc", "proc", {}));
  mounts.push_back(
      MountJson("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  // A rootless container cannot chown its ptys to a group the caller does not map: drop gid=5.
  std::vector<std::string_view> devpts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                          "mode=0620"};
  if (!rootless) devpts.push_back("gid=5");
  mounts.push_back(MountJson("/dev/pts", "devpts", "devpts", devpts));
  mounts.push_back(MountJson("/dev/shm", "tmpfs", "shm",
                             {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  mounts.push_back(MountJson("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  // Without a network namespace of its own, a rootless container may not mount sysfs; runc
  // bind-mounts the host's instead.
  if (rootless) {
    mounts.push_back(
        MountJson("/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}));
  } else {
    mounts.push_back(MountJson("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
  }
  mounts.push_back(MountJson("/sys/fs/cgroup", "cgroup", "cgroup",
                             {"nosuid", "noexec", "nodev", "relatime", "ro"}));

  OJson lx;
  std::vector<std::string_view> namespaces = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
  if (rootless) {
    lx["uidMappings"] = OJson::array({{{"containerID", 0}, {"hostID", geteuid()}, {"size", 1}}});
    lx["gidMappings"] = OJson::array({{{"containerID", 0}, {"hostID", getegid()}, {"size", 1}}});
    namespaces = {"pid", "ipc", "uts", "mount", "cgroup", "user"};
  } else {
    lx["resources"] = {{"devices", OJson::array({{{"allow", false}, {"access", "rwm"}}})}};
  }
  OJson ns = OJson::array();
  for (std::string_view type : namespaces) ns.push_back({{"type", type}});
  lx["namespaces"] = ns;
  lx["maskedPaths"] = Array(std::vector<std::string_view>{
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
      "/sys/devices/virtual/tpm"});
  lx["readonlyPaths"] = Array(std::vector<std::string_view>{"/proc/bus", "/proc/fs", "/proc/irq",
                                                            "/proc/sys", "/proc/sysrq-trigger"});

  OJson spec;
  spec["ociVersion"] = kOciVersion;
  spec["process"] = process;
  spec["root"] = {{"path", "rootfs"}, {"readonly", true}};
  spec["hostname"] = "moat";
  spec["mounts"] = mounts;
  spec["linux"] = lx;
  return Dump(spec, 1, '\t');  // runc indents with tabs
}

std::string StateJson(const State& s) { return Dump(StateObject(s), 2); }

std::string Rfc3339Nano(const struct timespec& ts) {
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (ts.tv_nsec != 0) {
    std::snprintf(buf, sizeof(buf), ".%09ld", static_cast<long>(ts.tv_nsec));
    std::string frac = buf;
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  return out + "Z";
}

std::string RecordJson(const Record& r) {
  OJson j;
  j["state"] = StateObject(r.state);
  j["bootStartTime"] = r.boot_start_time;
  j["configJsonPath"] = r.config_json_path;
  j["detached"] = r.detached;
  j["extra"] = r.extra;
  return Dump(j, 2);
}

absl::StatusOr<Record> ParseRecord(std::string_view text) {
  ASSIGN_OR_RETURN(Json doc, internal::ParseText(text, "container record"));
  ASSIGN_OR_RETURN(Object top, Object::Make(doc, "", "container record"));
  Record r;
  ASSIGN_OR_RETURN(std::optional<Object> state, top.GetObject("state"));
  if (!state) return top.Missing("state");
  RETURN_IF_ERROR(ParseStateObject(*state, &r.state));
  RETURN_IF_ERROR(top.GetInt("bootStartTime", &r.boot_start_time));
  RETURN_IF_ERROR(top.GetString("configJsonPath", &r.config_json_path));
  RETURN_IF_ERROR(top.GetBool("detached", &r.detached));
  RETURN_IF_ERROR(top.GetStringMap("extra", &r.extra));
  return r;
}

std::string ListJson(const std::vector<State>& states) {
  if (states.empty()) return "null";  // runc encodes its nil slice
  OJson a = OJson::array();
  for (const State& s : states) a.push_back(StateObject(s));
  return Dump(a);
}

std::string PidsJson(const std::vector<pid_t>& pids) {
  OJson a = OJson::array();
  for (pid_t p : pids) a.push_back(p);
  return Dump(a);
}

std::string FeaturesJson() {
  OJson mount_options = OJson::array();
  std::vector<std::string> opts;
  for (const auto& f : names::kMountFlags) opts.emplace_back(f.name);
  for (std::string_view p : names::kPropagations) opts.emplace_back(p);
  opts.emplace_back(names::kMountNoop);
  std::sort(opts.begin(), opts.end());

  OJson seccomp;
  seccomp["enabled"] = true;
  seccomp["actions"] = Array(names::kSeccompActions);
  seccomp["operators"] = Array(names::kSeccompOperators);
  seccomp["archs"] = Array(names::kSeccompSupportedArchs);
  seccomp["knownFlags"] = Array(names::kSeccompFlags);

  OJson lx;
  lx["namespaces"] = Array(names::kNamespaces);
  lx["capabilities"] = Array(names::kCapabilities);
  lx["cgroup"] = {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}};
  lx["seccomp"] = seccomp;
  lx["apparmor"] = {{"enabled", false}};
  lx["selinux"] = {{"enabled", false}};

  OJson f;
  f["ociVersionMin"] = "1.0.0";
  f["ociVersionMax"] = kOciVersion;
  f["hooks"] = Array(names::kHooks);
  f["mountOptions"] = Array(opts);
  f["linux"] = lx;
  f["annotations"] = {{"dev.moat.version", kMoatVersion}};
  return Dump(f, 4);  // runc indents by four spaces
}

std::string EventJson(std::string_view type, std::string_view id, const Stats* stats) {
  OJson e;
  e["type"] = type;
  e["id"] = id;
  if (stats != nullptr) {
    // Field by field as runc's types/events.go, whose `omitempty` fields vanish when zero.
    auto put_nonzero = [](OJson& obj, const char* key, uint64_t v) {
      if (v != 0) obj[key] = v;
    };
    OJson usage = OJson::object();
    put_nonzero(usage, "total", stats->cpu_total_ns);
    if (!stats->percpu_ns.empty()) usage["percpu"] = stats->percpu_ns;
    usage["kernel"] = stats->cpu_kernel_ns;
    usage["user"] = stats->cpu_user_ns;
    OJson cpu;
    cpu["usage"] = usage;
    cpu["throttling"] = OJson::object();

    auto entry = [&](uint64_t limit, uint64_t use, uint64_t max, uint64_t failcnt) {
      OJson m;
      m["limit"] = limit;
      put_nonzero(m, "usage", use);
      put_nonzero(m, "max", max);
      m["failcnt"] = failcnt;
      return m;
    };
    OJson memory;
    memory["usage"] = entry(stats->memory_limit, stats->memory_usage, stats->memory_max_usage,
                            stats->memory_failcnt);
    memory["swap"] = entry(stats->swap_limit, stats->swap_usage, 0, 0);
    if (!stats->memory_raw.empty()) memory["raw"] = stats->memory_raw;

    OJson pids = OJson::object();
    put_nonzero(pids, "current", stats->pids_current);
    put_nonzero(pids, "limit", stats->pids_limit);

    OJson data;
    data["cpu"] = cpu;
    data["memory"] = memory;
    data["pids"] = pids;
    data["blkio"] = OJson::object();
    data["hugetlb"] = OJson::object();
    e["data"] = data;
  }
  return Dump(e);
}

std::string WaitJson(std::string_view id, int exit_status) {
  OJson j;
  j["id"] = id;
  j["exitStatus"] = exit_status;
  return Dump(j);
}

}  // namespace moat::runsc::spec
