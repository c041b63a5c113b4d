#include "runsc/oci.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

#include "base/log.h"
#include "base/status_macros.h"
#include "sentry/vfs/fd_table.h"
#include "fmt/format.h"

namespace moat::runsc {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The sandbox mount type for an OCI mount of `type`, or empty if the sandbox has none.
std::string SandboxType(const spec::Mount& m) {
  if (m.IsBind()) return "bind";
  if (m.type == "tmpfs") return m.destination == "/dev" ? "dev" : "tmpfs";
  for (const char* t : {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"}) {
    if (m.type == t) return m.type;
  }
  return "";
}

// The home directory of `uid` in the sandbox's own /etc/passwd, or "/" if it has none there:
// what runc puts in HOME when the process's environment has none.
std::string HomeDir(vfs::MountNamespace& ns, uid_t uid) {
  auto creds = kernel::Credentials::New(0, 0);
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{creds.get(), root, &ns};
  Result<vfs::Path> p = vfs::Resolve(ctx, root, "/etc/passwd");
  if (!p.ok()) return "/";
  Result<RefPtr<vfs::FileDescription>> f = p->dentry->inode()->Open(O_RDONLY, *p);
  if (!f.ok()) return "/";
  Result<int> fd = (*f)->HostMapFd();
  if (!fd.ok()) return "/";
  std::string text;
  char buf[8192];
  for (ssize_t n; text.size() < (1 << 20) &&
                  (n = pread(*fd, buf, sizeof(buf), static_cast<off_t>(text.size()))) > 0;) {
    text.append(buf, static_cast<size_t>(n));
  }
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(text, '\n'))) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<std::string> f = absl::StrSplit(line, ':');
    uint32_t id;
    if (f.size() >= 6 && absl::SimpleAtoi(f[2], &id) && id == uid)
      return f[5].empty() ? "/" : f[5];
  }
  return "/";
}

// Whether Linux keeps sysctl `name` per IPC or network namespace: runc's rule for what a
// container may set (the sandbox always has its own of both).
bool Namespaced(const std::string& name) {
  for (const char* k : {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                        "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                        "kernel.shm_rmid_forced"}) {
    if (name == k) return true;
  }
  return name.starts_with("fs.mqueue.") || name.starts_with("net.");
}

}  // namespace

absl::Status ApplySysctls(const std::map<std::string, std::string>& sysctl,
                          kernel::Kernel& kernel) {
  for (const auto& [name, value] : sysctl) {
    if (name == "kernel.domainname") {
      kernel.set_domainname(value);
      continue;
    }
    if (name == "kernel.hostname")
      return absl::InvalidArgumentError(
          "linux.sysctl: kernel.hostname is not allowed, use hostname instead");
    if (!Namespaced(name))
      return absl::InvalidArgumentError(fmt::format(
          "linux.sysctl: sysctl \"{}\" is not in a separate kernel namespace", name));
    std::string path = kernel::Sysctls::PathOf(name);
    if (!kernel::Sysctls::Find(path)) {
      // A parameter of the container's own namespaces that the sentry does not emulate has
      // nothing to act on: engines send some by default (podman's
      // net.ipv4.ping_group_range was one), so it is no error.
      LOG_WARNING("linux.sysctl: {} is not emulated by the sandbox; ignored", name);
      continue;
    }
    Result<void> set = kernel.sysctls().Set(path, value);
    if (!set.ok())
      return ErrnoStatus(fmt::format("linux.sysctl: {} = \"{}\"", name, value), set.error());
  }
  return absl::OkStatus();
}

spec::Resources HostResources(const spec::Resources& r) {
  spec::Resources host = r;
  if (host.pids_limit && *host.pids_limit > 0)
    host.pids_limit = 2 * *host.pids_limit + kSandboxPidsOverhead;
  return host;
}

absl::StatusOr<SandboxConfig> SandboxConfigFor(const spec::Spec& spec, const std::string& bundle,
                                               bool overlay) {
  SandboxConfig cfg;
  cfg.rootfs = spec.root.path.starts_with("/") ? spec.root.path : bundle + "/" + spec.root.path;
  cfg.root_readonly = spec.root.readonly;
  cfg.overlay = overlay;
  bool has_dev = false;
  for (size_t i = 0; i < spec.mounts.size(); i++) {
    const spec::Mount& m = spec.mounts[i];
    SandboxMount sm;
    sm.destination = m.destination;
    sm.type = SandboxType(m);
    if (sm.type.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "mounts[{}].type: \"{}\" (on {}) is not supported in the sandbox", i, m.type,
          m.destination));
    }
    sm.source = m.source;
    if (sm.type == "bind" && !sm.source.starts_with("/")) sm.source = bundle + "/" + sm.source;
    sm.flags = {.readonly = m.options.readonly, .nosuid = m.options.nosuid,
                .nodev = m.options.nodev, .noexec = m.options.noexec};
    sm.data = m.options.data;
    if (m.destination == "/dev") has_dev = true;
    cfg.mounts.push_back(std::move(sm));
  }
  // The sandbox's devices are its own: a container always has them, as under gVisor.
  if (!has_dev) cfg.mounts.insert(cfg.mounts.begin(), StandardMounts()[0]);
  cfg.masked_paths = spec.linux.masked_paths;
  cfg.readonly_paths = spec.linux.readonly_paths;
  if (spec.linux.resources) {
    const spec::Resources& r = *spec.linux.resources;
    cfg.cgroup_limits.pids_max = r.pids_limit;
    cfg.cgroup_limits.memory_max = r.memory.limit;
    cfg.cgroup_limits.cpu_quota = r.cpu.quota;
    if (r.cpu.period) cfg.cgroup_limits.cpu_period = *r.cpu.period;
    // runc's conversion of cgroup v1 cpu shares (2..262144) to a v2 weight (1..10000).
    if (r.cpu.shares && *r.cpu.shares >= 2)
      cfg.cgroup_limits.cpu_weight = 1 + (std::min<uint64_t>(*r.cpu.shares, 262144) - 2) * 9999 / 262142;
  }
  // The mappings mean something only with a user namespace, as for runc.
  if (spec.linux.FindNamespace("user")) {
    auto ranges = [](const std::vector<spec::IdMapping>& ms) {
      std::vector<kernel::IdMap::Range> out;
      for (const spec::IdMapping& m : ms) out.push_back({m.container_id, m.host_id, m.size});
      return out;
    };
    if (!spec.linux.uid_mappings.empty()) cfg.uids = kernel::IdMap(ranges(spec.linux.uid_mappings));
    if (!spec.linux.gid_mappings.empty()) cfg.gids = kernel::IdMap(ranges(spec.linux.gid_mappings));
  }
  return cfg;
}

control::ExecRequest ExecRequestFor(const spec::Process& p) {
  control::ExecRequest req;
  req.argv = p.args;
  req.envp = p.env;
  req.cwd = p.cwd;
  req.uid = p.user.uid;
  req.gid = p.user.gid;
  req.groups.assign(p.user.additional_gids.begin(), p.user.additional_gids.end());
  req.umask = p.user.umask ? static_cast<int32_t>(*p.user.umask) : -1;
  if (p.capabilities) {
    req.has_caps = 1;
    req.cap_bounding = p.capabilities->bounding;
    req.cap_effective = p.capabilities->effective;
    req.cap_inheritable = p.capabilities->inheritable;
    req.cap_permitted = p.capabilities->permitted;
    req.cap_ambient = p.capabilities->ambient;
  }
  req.no_new_privs = p.no_new_privileges;
  for (const spec::Rlimit& r : p.rlimits)
    req.rlimits.push_back({.resource = r.resource, .soft = r.soft, .hard = r.hard});
  req.terminal = p.terminal;
  if (p.console_size) {
    req.console_height = static_cast<uint16_t>(p.console_size->height);
    req.console_width = static_cast<uint16_t>(p.console_size->width);
  }
  return req;
}

absl::StatusOr<kernel::InitProcess> ProcessFor(
    const control::ExecRequest& req, vfs::MountNamespace& mounts, RefPtr<vfs::FdTable> fds,
    const std::vector<std::pair<int, rlimit>>& base_rlimits) {
  if (req.argv.empty()) return absl::InvalidArgumentError("args: the process has no arguments");
  kernel::InitProcess p;
  p.argv = req.argv;
  p.envp = req.envp;
  p.cwd = req.cwd.empty() ? "/" : req.cwd;
  p.uid = req.uid;
  p.gid = req.gid;
  p.groups.assign(req.groups.begin(), req.groups.end());
  if (req.umask >= 0) p.umask = static_cast<uint32_t>(req.umask);
  p.rlimits = base_rlimits;
  for (const control::Rlimit& r : req.rlimits) {
    if (r.resource < 0 || r.resource >= RLIM_NLIMITS)
      return absl::InvalidArgumentError(fmt::format("rlimits: unknown resource {}", r.resource));
    p.rlimits.emplace_back(r.resource, rlimit{r.soft, r.hard});
  }
  if (req.has_caps) {
    p.caps = kernel::CapabilitySets{.effective = req.cap_effective,
                                    .permitted = req.cap_permitted,
                                    .inheritable = req.cap_inheritable,
                                    .bounding = req.cap_bounding,
                                    .ambient = req.cap_ambient};
  }
  p.no_new_privs = req.no_new_privs;
  p.fds = std::move(fds);
  std::string path_env = kDefaultPath;
  bool has_home = false;
  for (const std::string& e : req.envp) {
    if (e.starts_with("PATH=")) path_env = e.substr(5);
    if (e.starts_with("HOME=")) has_home = true;
  }
  if (!has_home) p.envp.push_back("HOME=" + HomeDir(mounts, req.uid));
  auto creds = kernel::Credentials::New(req.uid, req.gid);
  ASSIGN_OR_RETURN(p.path, FindProgram(mounts, req.argv[0], path_env, *creds));
  return p;
}

}  // namespace moat::runsc
