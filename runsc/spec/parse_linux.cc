// config.json's "linux" object (config-linux.md): namespaces and id mappings, devices, resources,
// seccomp, and the rest.
#include <set>
#include <string>

#include "base/status_macros.h"
#include "runsc/spec/json_reader.h"
#include "runsc/spec/names.h"
#include "runsc/spec/parse_internal.h"
#include "runsc/spec/spec.h"

namespace moat::runsc::spec::internal {
namespace {

absl::Status ParseNamespaces(const Object& lx, std::vector<Namespace>* out) {
  std::set<std::string> seen;
  return lx.ForEach("namespaces", [&](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
    Namespace ns;
    RETURN_IF_ERROR(o.GetString("type", &ns.type, /*required=*/true));
    if (!names::Contains(names::kNamespaces, ns.type)) {
      return Invalid(o.Path("type"), Cat("unknown namespace ", Quote(ns.type)));
    }
    if (!seen.insert(ns.type).second) {
      return Invalid(o.Path("type"), Cat("duplicate namespace ", Quote(ns.type)));
    }
    RETURN_IF_ERROR(o.GetString("path", &ns.path));
    if (!ns.path.empty()) RETURN_IF_ERROR(CheckAbsolute(ns.path, o.Path("path")));
    out->push_back(std::move(ns));
    return absl::OkStatus();
  });
}

absl::Status ParseDevices(const Object& lx, std::vector<Device>* out) {
  return lx.ForEach("devices", [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
    Device d;
    RETURN_IF_ERROR(o.GetString("type", &d.type, /*required=*/true));
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p") {
      return Invalid(o.Path("type"),
                     Cat("unknown device type ", Quote(d.type), " (want c, b, u or p)"));
    }
    RETURN_IF_ERROR(o.GetString("path", &d.path, /*required=*/true));
    RETURN_IF_ERROR(CheckAbsolute(d.path, o.Path("path")));
    bool numbers_required = d.type != "p";  // a FIFO has no device numbers
    RETURN_IF_ERROR(o.GetInt("major", &d.major, numbers_required));
    RETURN_IF_ERROR(o.GetInt("minor", &d.minor, numbers_required));
    RETURN_IF_ERROR(o.GetInt("fileMode", &d.file_mode));
    RETURN_IF_ERROR(o.GetInt("uid", &d.uid));
    RETURN_IF_ERROR(o.GetInt("gid", &d.gid));
    out->push_back(std::move(d));
    return absl::OkStatus();
  });
}

absl::Status ParseDeviceRules(const Object& res, std::vector<DeviceRule>* out) {
  return res.ForEach("devices", [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
    DeviceRule r;
    if (o.Find("allow") == nullptr) return o.Missing("allow");
    RETURN_IF_ERROR(o.GetBool("allow", &r.allow));
    RETURN_IF_ERROR(o.GetString("type", &r.type));
    // Unset means all. (push_back, as `= "a"` trips GCC 12's false -Wrestrict warning.)
    if (r.type.empty()) r.type.push_back('a');
    if (r.type != "a" && r.type != "c" && r.type != "b") {
      return Invalid(o.Path("type"),
                     Cat("unknown device type ", Quote(r.type), " (want a, c or b)"));
    }
    RETURN_IF_ERROR(o.GetInt("major", &r.major));
    RETURN_IF_ERROR(o.GetInt("minor", &r.minor));
    RETURN_IF_ERROR(o.GetString("access", &r.access));
    if (r.access.find_first_not_of("rwm") != std::string::npos) {
      return Invalid(o.Path("access"), Cat("must be made of r, w and m, got ", Quote(r.access)));
    }
    out->push_back(std::move(r));
    return absl::OkStatus();
  });
}

absl::Status ParseMemory(const Object& m, Resources::Memory* out) {
  RETURN_IF_ERROR(m.GetInt("limit", &out->limit));
  RETURN_IF_ERROR(m.GetInt("reservation", &out->reservation));
  RETURN_IF_ERROR(m.GetInt("swap", &out->swap));
  RETURN_IF_ERROR(m.GetInt("kernel", &out->kernel));
  RETURN_IF_ERROR(m.GetInt("kernelTCP", &out->kernel_tcp));
  RETURN_IF_ERROR(m.GetInt("swappiness", &out->swappiness));
  if (out->swappiness && *out->swappiness > 100) {
    return Invalid(m.Path("swappiness"), Cat("must be in [0, 100], got ", *out->swappiness));
  }
  RETURN_IF_ERROR(m.GetBool("disableOOMKiller", &out->disable_oom_killer));
  RETURN_IF_ERROR(m.GetBool("useHierarchy", &out->use_hierarchy));
  return m.GetBool("checkBeforeUpdate", &out->check_before_update);
}

absl::Status ParseCpu(const Object& c, Resources::Cpu* out) {
  RETURN_IF_ERROR(c.GetInt("shares", &out->shares));
  RETURN_IF_ERROR(c.GetInt("quota", &out->quota));
  RETURN_IF_ERROR(c.GetInt("burst", &out->burst));
  if (out->burst && out->quota && *out->quota > 0 &&
      *out->burst > static_cast<uint64_t>(*out->quota)) {
    return Invalid(c.Path("burst"),
                   Cat("must not be larger than quota (", *out->quota, "), got ", *out->burst));
  }
  RETURN_IF_ERROR(c.GetInt("period", &out->period));
  RETURN_IF_ERROR(c.GetInt("realtimeRuntime", &out->realtime_runtime));
  RETURN_IF_ERROR(c.GetInt("realtimePeriod", &out->realtime_period));
  RETURN_IF_ERROR(c.GetString("cpus", &out->cpus));
  RETURN_IF_ERROR(c.GetString("mems", &out->mems));
  return c.GetInt("idle", &out->idle);
}

// blkio weights are 10..1000 (the kernel's range for blkio.weight and io.bfq.weight).
absl::Status CheckWeight(const std::optional<uint16_t>& w, const std::string& path) {
  if (w && (*w < 10 || *w > 1000)) {
    return Invalid(path, Cat("must be in [10, 1000], got ", *w));
  }
  return absl::OkStatus();
}

absl::Status ParseThrottle(const Object& b, std::string_view key,
                           std::vector<Resources::BlockIo::ThrottleDevice>* out) {
  return b.ForEach(key, [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
    Resources::BlockIo::ThrottleDevice t;
    RETURN_IF_ERROR(o.GetInt("major", &t.major, /*required=*/true));
    RETURN_IF_ERROR(o.GetInt("minor", &t.minor, /*required=*/true));
    RETURN_IF_ERROR(o.GetInt("rate", &t.rate, /*required=*/true));
    out->push_back(t);
    return absl::OkStatus();
  });
}

// The container-wide weights: 0 is "not set", as runc takes it (Docker writes "weight": 0 when
// no --blkio-weight is given).
absl::Status GetWeight(const Object& b, std::string_view key, std::optional<uint16_t>* out) {
  RETURN_IF_ERROR(b.GetInt(key, out));
  if (out->has_value() && **out == 0) out->reset();
  return CheckWeight(*out, b.Path(key));
}

absl::Status ParseBlockIo(const Object& b, Resources::BlockIo* out) {
  RETURN_IF_ERROR(GetWeight(b, "weight", &out->weight));
  RETURN_IF_ERROR(GetWeight(b, "leafWeight", &out->leaf_weight));
  RETURN_IF_ERROR(
      b.ForEach("weightDevice", [out](const Json& v, const std::string& path) -> absl::Status {
        ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
        Resources::BlockIo::WeightDevice w;
        RETURN_IF_ERROR(o.GetInt("major", &w.major, /*required=*/true));
        RETURN_IF_ERROR(o.GetInt("minor", &w.minor, /*required=*/true));
        RETURN_IF_ERROR(o.GetInt("weight", &w.weight));
        RETURN_IF_ERROR(CheckWeight(w.weight, o.Path("weight")));
        RETURN_IF_ERROR(o.GetInt("leafWeight", &w.leaf_weight));
        RETURN_IF_ERROR(CheckWeight(w.leaf_weight, o.Path("leafWeight")));
        if (!w.weight && !w.leaf_weight) return Invalid(path, "needs weight or leafWeight");
        out->weight_device.push_back(w);
        return absl::OkStatus();
      }));
  RETURN_IF_ERROR(ParseThrottle(b, "throttleReadBpsDevice", &out->throttle_read_bps_device));
  RETURN_IF_ERROR(ParseThrottle(b, "throttleWriteBpsDevice", &out->throttle_write_bps_device));
  RETURN_IF_ERROR(ParseThrottle(b, "throttleReadIOPSDevice", &out->throttle_read_iops_device));
  return ParseThrottle(b, "throttleWriteIOPSDevice", &out->throttle_write_iops_device);
}

absl::StatusOr<Resources> ParseResources(const Object& res) {
  Resources r;
  RETURN_IF_ERROR(ParseDeviceRules(res, &r.devices));
  ASSIGN_OR_RETURN(std::optional<Object> memory, res.GetObject("memory"));
  if (memory) RETURN_IF_ERROR(ParseMemory(*memory, &r.memory));
  ASSIGN_OR_RETURN(std::optional<Object> cpu, res.GetObject("cpu"));
  if (cpu) RETURN_IF_ERROR(ParseCpu(*cpu, &r.cpu));
  ASSIGN_OR_RETURN(std::optional<Object> pids, res.GetObject("pids"));
  if (pids) {
    int64_t limit = 0;
    RETURN_IF_ERROR(pids->GetInt("limit", &limit, /*required=*/true));
    r.pids_limit = limit;
  }
  ASSIGN_OR_RETURN(std::optional<Object> block_io, res.GetObject("blockIO"));
  if (block_io) RETURN_IF_ERROR(ParseBlockIo(*block_io, &r.block_io));
  RETURN_IF_ERROR(
      res.ForEach("hugepageLimits", [&r](const Json& v, const std::string& path) -> absl::Status {
        ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
        Resources::HugepageLimit h;
        RETURN_IF_ERROR(o.GetString("pageSize", &h.page_size, /*required=*/true));
        RETURN_IF_ERROR(o.GetInt("limit", &h.limit, /*required=*/true));
        r.hugepage_limits.push_back(std::move(h));
        return absl::OkStatus();
      }));
  ASSIGN_OR_RETURN(std::optional<Object> network, res.GetObject("network"));
  if (network) {
    Resources::Network n;
    RETURN_IF_ERROR(network->GetInt("classID", &n.class_id));
    RETURN_IF_ERROR(network->ForEach(
        "priorities", [&n](const Json& v, const std::string& path) -> absl::Status {
          ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
          std::string name;
          uint32_t priority = 0;
          RETURN_IF_ERROR(o.GetString("name", &name, /*required=*/true));
          RETURN_IF_ERROR(o.GetInt("priority", &priority, /*required=*/true));
          n.priorities.emplace_back(std::move(name), priority);
          return absl::OkStatus();
        }));
    r.network = std::move(n);
  }
  RETURN_IF_ERROR(res.ForEachMember(
      "rdma",
      [&r](const std::string& name, const Json& v, const std::string& path) -> absl::Status {
        ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
        Resources::Rdma rdma;
        RETURN_IF_ERROR(o.GetInt("hcaHandles", &rdma.hca_handles));
        RETURN_IF_ERROR(o.GetInt("hcaObjects", &rdma.hca_objects));
        if (!rdma.hca_handles && !rdma.hca_objects)
          return Invalid(path, "needs hcaHandles or hcaObjects");
        r.rdma[name] = rdma;
        return absl::OkStatus();
      }));
  RETURN_IF_ERROR(res.GetStringMap("unified", &r.unified));
  for (const auto& [file, value] : r.unified) {
    // Each key names a file in the container's cgroup directory: a plain "controller.knob"
    // name, never a path that could reach outside it.
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
        file.find('.') == std::string::npos) {
      return Invalid(KeyPath(res.Path("unified"), file),
                     "must be a cgroup file name such as \"memory.max\"");
    }
  }
  return r;
}

bool ActionTakesErrno(std::string_view action) {
  return action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE";
}

absl::Status CheckAction(const std::string& action, const std::string& path) {
  if (!names::Contains(names::kSeccompActions, action)) {
    return Invalid(path, Cat("unknown action ", Quote(action)));
  }
  return absl::OkStatus();
}

absl::Status ParseSeccompRule(const Json& v, const std::string& path, SeccompRule* rule) {
  ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
  const Json* names_json = o.Find("names");
  if (names_json == nullptr || !names_json->is_array() || names_json->empty()) {
    return Invalid(o.Path("names"), "must be a non-empty array of strings");
  }
  RETURN_IF_ERROR(o.GetStringArray("names", &rule->names));
  for (size_t i = 0; i < rule->names.size(); ++i) {
    if (rule->names[i].empty()) {
      return Invalid(IndexPath(o.Path("names"), i), "the syscall name is empty");
    }
  }
  RETURN_IF_ERROR(o.GetString("action", &rule->action, /*required=*/true));
  RETURN_IF_ERROR(CheckAction(rule->action, o.Path("action")));
  RETURN_IF_ERROR(o.GetInt("errnoRet", &rule->errno_ret));
  if (rule->errno_ret && !ActionTakesErrno(rule->action)) {
    return Invalid(o.Path("errnoRet"),
                   Cat("only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ", rule->action));
  }
  return o.ForEach("args", [rule](const Json& av, const std::string& apath) -> absl::Status {
    ASSIGN_OR_RETURN(Object a, Object::Make(av, apath));
    SeccompArg arg{};
    RETURN_IF_ERROR(a.GetInt("index", &arg.index, /*required=*/true));
    if (arg.index > 5) {
      return Invalid(a.Path("index"),
                     Cat("must be in [0, 5] (a syscall has 6 arguments), got ", arg.index));
    }
    RETURN_IF_ERROR(a.GetInt("value", &arg.value, /*required=*/true));
    RETURN_IF_ERROR(a.GetInt("valueTwo", &arg.value_two));
    RETURN_IF_ERROR(a.GetString("op", &arg.op, /*required=*/true));
    if (!names::Contains(names::kSeccompOperators, arg.op)) {
      return Invalid(a.Path("op"), Cat("unknown operator ", Quote(arg.op)));
    }
    rule->args.push_back(std::move(arg));
    return absl::OkStatus();
  });
}

absl::StatusOr<Seccomp> ParseSeccomp(const Object& o) {
  Seccomp s;
  RETURN_IF_ERROR(o.GetString("defaultAction", &s.default_action, /*required=*/true));
  RETURN_IF_ERROR(CheckAction(s.default_action, o.Path("defaultAction")));
  // A notification for every syscall would leave the agent to run the container; runc refuses
  // it too.
  if (s.default_action == "SCMP_ACT_NOTIFY") {
    return Invalid(o.Path("defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action");
  }
  RETURN_IF_ERROR(o.GetInt("defaultErrnoRet", &s.default_errno_ret));
  if (s.default_errno_ret && !ActionTakesErrno(s.default_action)) {
    return Invalid(
        o.Path("defaultErrnoRet"),
        Cat("only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ", s.default_action));
  }
  RETURN_IF_ERROR(o.GetStringArray("architectures", &s.architectures));
  for (size_t i = 0; i < s.architectures.size(); ++i) {
    if (!names::Contains(names::kSeccompArchs, s.architectures[i])) {
      return Invalid(IndexPath(o.Path("architectures"), i),
                     Cat("unknown architecture ", Quote(s.architectures[i])));
    }
  }
  RETURN_IF_ERROR(o.GetStringArray("flags", &s.flags));
  for (size_t i = 0; i < s.flags.size(); ++i) {
    if (!names::Contains(names::kSeccompFlags, s.flags[i])) {
      return Invalid(IndexPath(o.Path("flags"), i), Cat("unknown flag ", Quote(s.flags[i])));
    }
  }
  RETURN_IF_ERROR(o.GetString("listenerPath", &s.listener_path));
  RETURN_IF_ERROR(o.GetString("listenerMetadata", &s.listener_metadata));
  if (!s.listener_metadata.empty() && s.listener_path.empty()) {
    return Invalid(o.Path("listenerMetadata"), "only allowed with listenerPath");
  }
  bool notify = false;
  RETURN_IF_ERROR(o.ForEach("syscalls", [&](const Json& v, const std::string& path) {
    SeccompRule rule;
    absl::Status st = ParseSeccompRule(v, path, &rule);
    if (st.ok()) {
      notify |= rule.action == "SCMP_ACT_NOTIFY";
      s.syscalls.push_back(std::move(rule));
    }
    return st;
  }));
  if (notify && s.listener_path.empty()) {
    return Invalid(o.Path("listenerPath"), "required when an action is SCMP_ACT_NOTIFY");
  }
  return s;
}

absl::Status CheckAbsoluteList(const std::vector<std::string>& paths, const std::string& path) {
  for (size_t i = 0; i < paths.size(); ++i) {
    RETURN_IF_ERROR(CheckAbsolute(paths[i], IndexPath(path, i)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Linux> ParseLinux(const Object& lx) {
  Linux l;
  RETURN_IF_ERROR(ParseNamespaces(lx, &l.namespaces));
  RETURN_IF_ERROR(ParseIdMappings(lx, "uidMappings", &l.uid_mappings));
  RETURN_IF_ERROR(ParseIdMappings(lx, "gidMappings", &l.gid_mappings));
  // As runc: mappings mean nothing without a user namespace, and a new user namespace without
  // them would leave every id unmapped.
  const Namespace* userns = l.FindNamespace("user");
  if (userns == nullptr) {
    if (!l.uid_mappings.empty()) {
      return Invalid(lx.Path("uidMappings"), "needs a user namespace in linux.namespaces");
    }
    if (!l.gid_mappings.empty()) {
      return Invalid(lx.Path("gidMappings"), "needs a user namespace in linux.namespaces");
    }
  } else if (userns->path.empty()) {
    if (l.uid_mappings.empty()) {
      return Invalid(lx.Path("uidMappings"), "required with a new user namespace");
    }
    if (l.gid_mappings.empty()) {
      return Invalid(lx.Path("gidMappings"), "required with a new user namespace");
    }
  }
  RETURN_IF_ERROR(lx.GetStringMap("sysctl", &l.sysctl));
  if (l.sysctl.count("") != 0) {
    return Invalid(KeyPath(lx.Path("sysctl"), ""), "the key must not be empty");
  }
  RETURN_IF_ERROR(lx.GetString("cgroupsPath", &l.cgroups_path));
  ASSIGN_OR_RETURN(std::optional<Object> resources, lx.GetObject("resources"));
  if (resources) {
    ASSIGN_OR_RETURN(l.resources, ParseResources(*resources));
  }
  RETURN_IF_ERROR(ParseDevices(lx, &l.devices));
  ASSIGN_OR_RETURN(std::optional<Object> seccomp, lx.GetObject("seccomp"));
  if (seccomp) {
    ASSIGN_OR_RETURN(l.seccomp, ParseSeccomp(*seccomp));
  }
  RETURN_IF_ERROR(lx.GetString("rootfsPropagation", &l.rootfs_propagation));
  if (!l.rootfs_propagation.empty() &&
      !names::Contains(names::kPropagations, l.rootfs_propagation)) {
    return Invalid(lx.Path("rootfsPropagation"),
                   Cat("unknown propagation ", Quote(l.rootfs_propagation)));
  }
  RETURN_IF_ERROR(lx.GetStringArray("maskedPaths", &l.masked_paths));
  RETURN_IF_ERROR(CheckAbsoluteList(l.masked_paths, lx.Path("maskedPaths")));
  RETURN_IF_ERROR(lx.GetStringArray("readonlyPaths", &l.readonly_paths));
  RETURN_IF_ERROR(CheckAbsoluteList(l.readonly_paths, lx.Path("readonlyPaths")));
  RETURN_IF_ERROR(lx.GetString("mountLabel", &l.mount_label));
  RETURN_IF_ERROR(lx.ForEachMember(
      "timeOffsets",
      [&l](const std::string& clock, const Json& v, const std::string& path) -> absl::Status {
        if (!names::Contains(names::kTimeOffsetClocks, clock)) {
          return Invalid(path,
                         Cat("unknown clock ", Quote(clock), " (want monotonic or boottime)"));
        }
        ASSIGN_OR_RETURN(Object o, Object::Make(v, path));
        TimeOffset t;
        RETURN_IF_ERROR(o.GetInt("secs", &t.secs));
        RETURN_IF_ERROR(o.GetInt("nanosecs", &t.nanosecs));
        if (t.nanosecs >= 1000000000) {
          return Invalid(o.Path("nanosecs"), Cat("must be below 1e9, got ", t.nanosecs));
        }
        l.time_offsets[clock] = t;
        return absl::OkStatus();
      }));
  ASSIGN_OR_RETURN(std::optional<Object> personality, lx.GetObject("personality"));
  if (personality) {
    Personality p;
    RETURN_IF_ERROR(personality->GetString("domain", &p.domain, /*required=*/true));
    if (!names::Contains(names::kPersonalityDomains, p.domain)) {
      return Invalid(personality->Path("domain"),
                     Cat("unknown domain ", Quote(p.domain), " (want LINUX or LINUX32)"));
    }
    RETURN_IF_ERROR(personality->GetStringArray("flags", &p.flags));
    l.personality = std::move(p);
  }
  return l;
}

}  // namespace moat::runsc::spec::internal
