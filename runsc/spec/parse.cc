// ParseSpec, ParseProcess and LoadBundle: config.json's top level, the process, mounts, hooks and
// annotations. The "linux" object is parse_linux.cc's.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include "base/status_macros.h"
#include "runsc/spec/json_reader.h"
#include "fmt/format.h"
#include "runsc/spec/names.h"
#include "runsc/spec/parse_internal.h"
#include "runsc/spec/spec.h"

namespace moat::runsc::spec {

using internal::Cat;
using internal::Invalid;
using internal::Json;
using internal::Object;
using internal::Quote;

namespace internal {

absl::Status CheckAbsolute(std::string_view value, std::string_view path) {
  if (value.empty() || value[0] != '/') return Invalid(path, "must be an absolute path");
  return absl::OkStatus();
}

absl::Status ParseIdMappings(const Object& obj, std::string_view key, std::vector<IdMapping>* out) {
  out->clear();
  return obj.ForEach(key, [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object m, Object::Make(v, path));
    IdMapping map{};
    RETURN_IF_ERROR(m.GetInt("containerID", &map.container_id, /*required=*/true));
    RETURN_IF_ERROR(m.GetInt("hostID", &map.host_id, /*required=*/true));
    RETURN_IF_ERROR(m.GetInt("size", &map.size, /*required=*/true));
    if (map.size == 0) return Invalid(m.Path("size"), "must be greater than zero");
    // The kernel takes ids up to 2^32-2 (-1 is "no id"); a range past that cannot be written to
    // uid_map.
    constexpr uint64_t kIdLimit = uint64_t{1} << 32;
    if (uint64_t{map.container_id} + map.size >= kIdLimit ||
        uint64_t{map.host_id} + map.size >= kIdLimit) {
      return Invalid(path, "the range goes past the last 32-bit id");
    }
    out->push_back(map);
    return absl::OkStatus();
  });
}

}  // namespace internal

namespace {

// process.env and hooks[].env entries: "NAME=value" with a non-empty NAME.
absl::Status CheckEnv(const std::vector<std::string>& env, const std::string& path) {
  for (size_t i = 0; i < env.size(); ++i) {
    size_t eq = env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return Invalid(internal::IndexPath(path, i),
                     Cat("must be of the form NAME=value, got ", Quote(env[i])));
    }
  }
  return absl::OkStatus();
}

// A capability name list (one set of process.capabilities) as a bit mask.
absl::Status ParseCapabilitySet(const Object& caps, std::string_view key, uint64_t* mask) {
  return caps.ForEach(key, [mask](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(std::string name, internal::ToString(v, path));
    const auto* begin = std::begin(names::kCapabilities);
    const auto* it = std::find(begin, std::end(names::kCapabilities), name);
    if (it == std::end(names::kCapabilities)) {
      return Invalid(path, Cat("unknown capability ", Quote(name)));
    }
    *mask |= uint64_t{1} << (it - begin);
    return absl::OkStatus();
  });
}

absl::Status ParseUser(const Object& user, User* out) {
  RETURN_IF_ERROR(user.GetInt("uid", &out->uid));
  RETURN_IF_ERROR(user.GetInt("gid", &out->gid));
  RETURN_IF_ERROR(user.GetInt("umask", &out->umask));
  if (out->umask && *out->umask > 0777) {
    return Invalid(user.Path("umask"), Cat("must be at most 0777 (511), got ", *out->umask));
  }
  RETURN_IF_ERROR(user.ForEach("additionalGids", [out](const Json& v, const std::string& path) {
    absl::StatusOr<gid_t> gid = internal::ToInt<gid_t>(v, path);
    if (!gid.ok()) return gid.status();
    out->additional_gids.push_back(*gid);
    return absl::OkStatus();
  }));
  return user.GetString("username", &out->username);
}

absl::Status ParseRlimits(const Object& process, std::vector<Rlimit>* out) {
  std::set<int> seen;
  return process.ForEach("rlimits", [&](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object r, Object::Make(v, path));
    std::string type;
    RETURN_IF_ERROR(r.GetString("type", &type, /*required=*/true));
    const auto* it = std::find_if(std::begin(names::kRlimits), std::end(names::kRlimits),
                                  [&](const auto& e) { return e.first == type; });
    if (it == std::end(names::kRlimits)) {
      return Invalid(r.Path("type"), Cat("unknown rlimit ", Quote(type)));
    }
    if (!seen.insert(it->second).second) {
      return Invalid(r.Path("type"), Cat("duplicate rlimit ", Quote(type)));
    }
    Rlimit limit{it->second, 0, 0};
    RETURN_IF_ERROR(r.GetInt("soft", &limit.soft, /*required=*/true));
    RETURN_IF_ERROR(r.GetInt("hard", &limit.hard, /*required=*/true));
    // setrlimit(2) would fail with EINVAL at start; say so now, naming the entry.
    if (limit.soft > limit.hard) {
      return Invalid(r.Path("soft"),
                     Cat("soft limit ", limit.soft, " is above the hard limit ", limit.hard));
    }
    out->push_back(limit);
    return absl::OkStatus();
  });
}

absl::Status ParseScheduler(const Object& s, Scheduler* out) {
  RETURN_IF_ERROR(s.GetString("policy", &out->policy, /*required=*/true));
  if (!names::Contains(names::kSchedPolicies, out->policy)) {
    return Invalid(s.Path("policy"), Cat("unknown policy ", Quote(out->policy)));
  }
  RETURN_IF_ERROR(s.GetInt("nice", &out->nice));
  if (out->nice < -20 || out->nice > 19) {
    return Invalid(s.Path("nice"), Cat("must be in [-20, 19], got ", out->nice));
  }
  RETURN_IF_ERROR(s.GetInt("priority", &out->priority));
  RETURN_IF_ERROR(s.GetStringArray("flags", &out->flags));
  for (size_t i = 0; i < out->flags.size(); ++i) {
    if (!names::Contains(names::kSchedFlags, out->flags[i])) {
      return Invalid(internal::IndexPath(s.Path("flags"), i),
                     Cat("unknown flag ", Quote(out->flags[i])));
    }
  }
  RETURN_IF_ERROR(s.GetInt("runtime", &out->runtime));
  RETURN_IF_ERROR(s.GetInt("deadline", &out->deadline));
  return s.GetInt("period", &out->period);
}

absl::StatusOr<Process> ParseProcessObject(const Json& v, const std::string& path,
                                           std::string_view top) {
  ASSIGN_OR_RETURN(Object o, Object::Make(v, path, top));
  Process p;
  RETURN_IF_ERROR(o.GetBool("terminal", &p.terminal));
  ASSIGN_OR_RETURN(std::optional<Object> console, o.GetObject("consoleSize"));
  if (console) {
    uint16_t height = 0, width = 0;
    RETURN_IF_ERROR(console->GetInt("height", &height, /*required=*/true));
    RETURN_IF_ERROR(console->GetInt("width", &width, /*required=*/true));
    p.console_size = ConsoleSize{height, width};
  }
  ASSIGN_OR_RETURN(std::optional<Object> user, o.GetObject("user"));
  if (user) RETURN_IF_ERROR(ParseUser(*user, &p.user));

  const Json* args = o.Find("args");
  if (args == nullptr || !args->is_array() || args->empty()) {
    return Invalid(o.Path("args"), "must be a non-empty array of strings");
  }
  RETURN_IF_ERROR(o.GetStringArray("args", &p.args));
  if (p.args[0].empty()) {
    return Invalid(internal::IndexPath(o.Path("args"), 0), "the program name is empty");
  }
  RETURN_IF_ERROR(o.GetStringArray("env", &p.env));
  RETURN_IF_ERROR(CheckEnv(p.env, o.Path("env")));
  RETURN_IF_ERROR(o.GetString("cwd", &p.cwd, /*required=*/true));
  RETURN_IF_ERROR(internal::CheckAbsolute(p.cwd, o.Path("cwd")));

  ASSIGN_OR_RETURN(std::optional<Object> caps, o.GetObject("capabilities"));
  if (caps) {
    Capabilities c;
    RETURN_IF_ERROR(ParseCapabilitySet(*caps, "bounding", &c.bounding));
    RETURN_IF_ERROR(ParseCapabilitySet(*caps, "effective", &c.effective));
    RETURN_IF_ERROR(ParseCapabilitySet(*caps, "inheritable", &c.inheritable));
    RETURN_IF_ERROR(ParseCapabilitySet(*caps, "permitted", &c.permitted));
    RETURN_IF_ERROR(ParseCapabilitySet(*caps, "ambient", &c.ambient));
    p.capabilities = c;
  }
  RETURN_IF_ERROR(ParseRlimits(o, &p.rlimits));
  RETURN_IF_ERROR(o.GetBool("noNewPrivileges", &p.no_new_privileges));
  RETURN_IF_ERROR(o.GetString("apparmorProfile", &p.apparmor_profile));
  RETURN_IF_ERROR(o.GetInt("oomScoreAdj", &p.oom_score_adj));
  if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000)) {
    return Invalid(o.Path("oomScoreAdj"), Cat("must be in [-1000, 1000], got ", *p.oom_score_adj));
  }
  RETURN_IF_ERROR(o.GetString("selinuxLabel", &p.selinux_label));

  ASSIGN_OR_RETURN(std::optional<Object> sched, o.GetObject("scheduler"));
  if (sched) {
    Scheduler s;
    RETURN_IF_ERROR(ParseScheduler(*sched, &s));
    p.scheduler = std::move(s);
  }
  ASSIGN_OR_RETURN(std::optional<Object> ioprio, o.GetObject("ioPriority"));
  if (ioprio) {
    IoPriority io;
    RETURN_IF_ERROR(ioprio->GetString("class", &io.ioclass, /*required=*/true));
    if (!names::Contains(names::kIoPrioClasses, io.ioclass)) {
      return Invalid(ioprio->Path("class"), Cat("unknown class ", Quote(io.ioclass)));
    }
    RETURN_IF_ERROR(ioprio->GetInt("priority", &io.priority));
    if (io.priority < 0 || io.priority > 7) {
      return Invalid(ioprio->Path("priority"), Cat("must be in [0, 7], got ", io.priority));
    }
    p.io_priority = io;
  }
  ASSIGN_OR_RETURN(std::optional<Object> affinity, o.GetObject("execCPUAffinity"));
  if (affinity) {
    CpuAffinity a;
    RETURN_IF_ERROR(affinity->GetString("initial", &a.initial));
    RETURN_IF_ERROR(affinity->GetString("final", &a.final_));
    p.exec_cpu_affinity = std::move(a);
  }
  return p;
}

absl::Status ParseMounts(const Object& top, std::vector<Mount>* out) {
  return top.ForEach("mounts", [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object m, Object::Make(v, path));
    Mount mount;
    RETURN_IF_ERROR(m.GetString("destination", &mount.destination, /*required=*/true));
    RETURN_IF_ERROR(internal::CheckAbsolute(mount.destination, m.Path("destination")));
    RETURN_IF_ERROR(m.GetString("type", &mount.type));
    RETURN_IF_ERROR(m.GetString("source", &mount.source));
    RETURN_IF_ERROR(m.GetStringArray("options", &mount.raw_options));
    mount.options = DecodeMountOptions(mount.raw_options);
    RETURN_IF_ERROR(internal::ParseIdMappings(m, "uidMappings", &mount.uid_mappings));
    RETURN_IF_ERROR(internal::ParseIdMappings(m, "gidMappings", &mount.gid_mappings));
    out->push_back(std::move(mount));
    return absl::OkStatus();
  });
}

absl::Status ParseHookList(const Object& hooks, std::string_view key, std::vector<Hook>* out) {
  return hooks.ForEach(key, [out](const Json& v, const std::string& path) -> absl::Status {
    ASSIGN_OR_RETURN(Object h, Object::Make(v, path));
    Hook hook;
    RETURN_IF_ERROR(h.GetString("path", &hook.path, /*required=*/true));
    RETURN_IF_ERROR(internal::CheckAbsolute(hook.path, h.Path("path")));
    RETURN_IF_ERROR(h.GetStringArray("args", &hook.args));
    RETURN_IF_ERROR(h.GetStringArray("env", &hook.env));
    RETURN_IF_ERROR(CheckEnv(hook.env, h.Path("env")));
    RETURN_IF_ERROR(h.GetInt("timeout", &hook.timeout));
    if (hook.timeout && *hook.timeout <= 0) {
      return Invalid(h.Path("timeout"), Cat("must be greater than zero, got ", *hook.timeout));
    }
    out->push_back(std::move(hook));
    return absl::OkStatus();
  });
}

absl::Status ParseHooks(const Object& hooks, Hooks* out) {
  // The same order as names::kHooks.
  std::vector<Hook>* lists[] = {&out->prestart,        &out->create_runtime, &out->create_container,
                                &out->start_container, &out->poststart,      &out->poststop};
  static_assert(std::size(lists) == std::size(names::kHooks));
  for (size_t i = 0; i < std::size(lists); ++i) {
    RETURN_IF_ERROR(ParseHookList(hooks, names::kHooks[i], lists[i]));
  }
  return absl::OkStatus();
}

absl::Status ReadWholeFile(const std::string& file, std::string_view name, const std::string& dir,
                           std::string* out) {
  auto fail = [&](std::string_view op, int err) {
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(op, " ", name, " in ", dir, ": ", std::strerror(err)));
  };
  // O_NONBLOCK so that a FIFO planted as config.json cannot hang us; it is refused below.
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail("open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return fail("stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(Cat("open ", name, " in ", dir, ": not a regular file"));
  }
  // Real configs are kilobytes (a seccomp profile makes them tens); refuse to slurp gigabytes.
  constexpr off_t kMaxConfigSize = 64 << 20;
  if (st.st_size > kMaxConfigSize) {
    close(fd);
    return absl::InvalidArgumentError(
        Cat(name, " in ", dir, ": larger than ", kMaxConfigSize >> 20, " MiB"));
  }
  out->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return fail("read", err);
    }
    if (n == 0) break;
    out->append(buf, n);
    if (out->size() > static_cast<size_t>(kMaxConfigSize)) {
      close(fd);
      return absl::InvalidArgumentError(
          Cat(name, " in ", dir, ": larger than ", kMaxConfigSize >> 20, " MiB"));
    }
  }
  close(fd);
  return absl::OkStatus();
}

}  // namespace

MountOptions DecodeMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  std::string data;
  for (const std::string& opt : options) {
    if (opt.empty() || opt == names::kMountNoop) continue;
    const auto* flag = std::find_if(std::begin(names::kMountFlags), std::end(names::kMountFlags),
                                    [&](const names::MountFlag& f) { return f.name == opt; });
    if (flag != std::end(names::kMountFlags)) {
      out.*(flag->field) = flag->value;
    } else if (names::Contains(names::kPropagations, opt)) {
      out.propagation = opt;
    } else {
      if (!data.empty()) data += ',';
      data += opt;
    }
  }
  out.data = std::move(data);
  return out;
}

const Namespace* Linux::FindNamespace(std::string_view type) const {
  for (const Namespace& ns : namespaces) {
    if (ns.type == type) return &ns;
  }
  return nullptr;
}

absl::StatusOr<Spec> ParseSpec(std::string_view text) {
  ASSIGN_OR_RETURN(Json doc, internal::ParseText(text, "config.json"));
  ASSIGN_OR_RETURN(Object top, Object::Make(doc, "", "config.json"));
  Spec spec;
  RETURN_IF_ERROR(top.GetString("ociVersion", &spec.oci_version));
  if (const Json* process = top.Find("process")) {
    ASSIGN_OR_RETURN(spec.process, ParseProcessObject(*process, "process", "process"));
  }
  ASSIGN_OR_RETURN(std::optional<Object> root, top.GetObject("root"));
  if (root) {
    RETURN_IF_ERROR(root->GetString("path", &spec.root.path, /*required=*/true));
    if (spec.root.path.empty()) return Invalid(root->Path("path"), "must not be empty");
    RETURN_IF_ERROR(root->GetBool("readonly", &spec.root.readonly));
  }
  RETURN_IF_ERROR(ParseMounts(top, &spec.mounts));
  RETURN_IF_ERROR(top.GetString("hostname", &spec.hostname));
  RETURN_IF_ERROR(top.GetString("domainname", &spec.domainname));
  ASSIGN_OR_RETURN(std::optional<Object> hooks, top.GetObject("hooks"));
  if (hooks) RETURN_IF_ERROR(ParseHooks(*hooks, &spec.hooks));
  RETURN_IF_ERROR(top.GetStringMap("annotations", &spec.annotations));
  if (spec.annotations.count("") != 0) {
    return Invalid(internal::KeyPath("annotations", ""), "the key must not be empty");
  }
  ASSIGN_OR_RETURN(std::optional<Object> linux_obj, top.GetObject("linux"));
  if (linux_obj) {
    ASSIGN_OR_RETURN(spec.linux, internal::ParseLinux(*linux_obj));
  }
  return spec;
}

absl::StatusOr<Process> ParseProcess(std::string_view text) {
  ASSIGN_OR_RETURN(Json doc, internal::ParseText(text, "process.json"));
  return ParseProcessObject(doc, "", "process.json");
}

absl::StatusOr<Spec> LoadBundle(const std::string& bundle) {
  std::string abs_bundle = bundle;
  if (abs_bundle.empty() || abs_bundle[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) {
      return absl::Status(absl::ErrnoToStatusCode(errno), Cat("getcwd: ", std::strerror(errno)));
    }
    abs_bundle = bundle.empty() ? cwd : Cat(cwd, "/", bundle);
  }
  std::string text;
  RETURN_IF_ERROR(ReadWholeFile(abs_bundle + "/config.json", "config.json", bundle, &text));
  ASSIGN_OR_RETURN(Spec spec, ParseSpec(text));
  if (!spec.process) return Invalid("process", "missing required field");
  if (spec.root.path.empty()) return Invalid("root.path", "missing required field");
  spec.root.abs_path =
      spec.root.path[0] == '/' ? spec.root.path : Cat(abs_bundle, "/", spec.root.path);
  struct stat st;
  if (stat(spec.root.abs_path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Invalid("root.path", Cat("rootfs ", spec.root.abs_path, " does not exist"));
    }
    return Invalid("root.path",
                   Cat("rootfs ", spec.root.abs_path, ": stat: ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Invalid("root.path", Cat("rootfs ", spec.root.abs_path, " is not a directory"));
  }
  return spec;
}

absl::StatusOr<int> CapabilityNumber(std::string_view name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (!upper.starts_with("CAP_")) upper = "CAP_" + upper;
  for (size_t i = 0; i < std::size(names::kCapabilities); i++) {
    if (names::kCapabilities[i] == upper) return static_cast<int>(i);
  }
  return absl::InvalidArgumentError(fmt::format("unknown capability \"{}\"", name));
}

}  // namespace moat::runsc::spec
