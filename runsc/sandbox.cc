#include "runsc/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <thread>

#include "absl/strings/str_split.h"

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/platform.h"
#include "runsc/confine.h"
#include "runsc/console.h"
#include "runsc/network.h"
#include "runsc/sentry_filter.h"
#include "sentry/fsimpl/devpts.h"
#include "sentry/fsimpl/host_fd.h"
#include "sentry/fsimpl/gofer.h"
#include "sentry/fsimpl/overlay.h"
#include "sentry/fsimpl/proc.h"
#include "sentry/fsimpl/sys.h"
#include "sentry/fsimpl/tmpfs.h"
#include "sentry/kernel/kernel.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"
#include "syscalls/syscalls.h"

extern char** environ;

namespace moat::runsc {
namespace {

// Signals runsc passes on to the sandbox's init instead of acting on them.
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// Creates a directory `name` under `dir` if it is missing.
Result<RefPtr<vfs::Dentry>> EnsureDir(const RefPtr<vfs::Dentry>& dir, const std::string& name,
                                      const kernel::Credentials& creds, uint32_t mode = 0755) {
  if (Result<RefPtr<vfs::Dentry>> d = dir->Child(name); d.ok()) return *d;
  RefPtr<vfs::Inode> inode = TRY(dir->inode()->MakeDir(name, S_IFDIR | mode, creds));
  return dir->AddChild(name, inode);
}

// /dev: the devices every program expects, on a tmpfs.
Result<RefPtr<vfs::Dentry>> BuildDev(const kernel::Credentials& creds) {
  RefPtr<vfs::Dentry> dev = fsimpl::NewTmpfs(0755, 0, 0, 0);
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  for (const Node& n : {Node{"null", 1, 3}, Node{"zero", 1, 5}, Node{"full", 1, 7},
                        Node{"random", 1, 8}, Node{"urandom", 1, 9}, Node{"tty", 5, 0},
                        Node{"ptmx", 5, 2}}) {
    RefPtr<vfs::Inode> inode = TRY(dev->inode()->MakeNode(n.name, S_IFCHR | 0666,
                                                           makedev(n.major, n.minor), creds));
    dev->AddChild(n.name, inode);
  }
  for (auto [name, target] : {std::pair{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                              {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}}) {
    RefPtr<vfs::Inode> inode = TRY(dev->inode()->MakeSymlink(name, target, creds));
    dev->AddChild(name, inode);
  }
  TRY(EnsureDir(dev, "pts", creds));
  TRY(EnsureDir(dev, "shm", creds, 01777));
  return dev;
}

// The size of a tmpfs mounted without a size option: half of the host's memory, as Linux's
// default, so that filling one gives ENOSPC rather than exhausting the host.
uint64_t DefaultTmpfsSize() {
  struct sysinfo si {};
  if (sysinfo(&si) < 0) return 0;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit / 2;
}

// Starts `runsc gofer` serving every host path in `paths` (DESIGN.md section 2): the only
// process that opens host paths for the sandbox. `readonly[i]` makes path i read-only. Returns
// the sentry's end of each path's socket, in order. The gofer exits when the sentry closes them
// (or dies: it has PR_SET_PDEATHSIG).
absl::StatusOr<std::vector<FileDescriptor>> StartGofer(const std::vector<std::string>& paths,
                                                       const std::vector<bool>& readonly) {
  std::vector<FileDescriptor> ours, theirs;
  for (size_t i = 0; i < paths.size(); i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      return ErrnoStatus("socketpair for the gofer");
    ours.emplace_back(sv[0]);
    // Out of the way of the fds the child is given (3, 4, ...), so dup2 clobbers nothing.
    theirs.emplace_back(fcntl(sv[1], F_DUPFD_CLOEXEC, 3 + static_cast<int>(paths.size())));
    close(sv[1]);
    if (!theirs.back().valid()) return ErrnoStatus("dup of the gofer's socket");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The gofer holds none of the container's stdio: an engine waiting for the end of the
  // container's output must not wait for the gofer.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args{"runsc", "gofer"};
  for (size_t i = 0; i < paths.size(); i++) {
    int child_fd = 3 + static_cast<int>(i);
    posix_spawn_file_actions_adddup2(&actions, theirs[i].get(), child_fd);
    args.push_back("--serve");
    args.push_back(fmt::format("{}:{}{}", child_fd, paths[i], readonly[i] ? ":ro" : ""));
  }
  // Nothing else of this process's: its exports' sockets only (and stderr, the log). After the
  // dup2s, whose sources are above them.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3 + static_cast<int>(paths.size()));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoStatus("spawning runsc gofer", Errno(err));
  return ours;
}

// Resolves `path` (absolute) in the sandbox, creating what is missing as a mountpoint: the
// directories on the way, and the last component as a directory, or as an empty file when
// `file` (a bind mount of a file). Symlinks on the way are followed within the sandbox.
Result<vfs::Path> EnsureMountpoint(vfs::MountNamespace& ns, const kernel::Credentials& creds,
                                   const std::string& path, bool file) {
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{&creds, root, &ns};
  Result<vfs::Path> at = vfs::Resolve(ctx, root, path);
  if (at.ok() || at.error().value() != ENOENT) return at;
  size_t slash = path.find_last_of('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") return Errno(EINVAL);
  vfs::Path dir = TRY(EnsureMountpoint(ns, creds, parent, false));
  RefPtr<vfs::Inode> inode =
      file ? TRY(dir.dentry->inode()->Create(name, S_IFREG | 0644, creds))
           : TRY(dir.dentry->inode()->MakeDir(name, S_IFDIR | 0755, creds));
  dir.dentry->AddChild(name, inode);
  return vfs::Resolve(ctx, root, path);
}

// Mounts `root` at `path`, making the mountpoint if needed.
absl::Status MountAt(vfs::MountNamespace& ns, const kernel::Credentials& creds,
                     const std::string& path, const std::string& fstype,
                     const std::string& source, RefPtr<vfs::Dentry> root, vfs::MountFlags flags) {
  Result<vfs::Stat> st = root->inode()->GetStat();
  if (!st.ok()) return ErrnoStatus(fmt::format("mount {}: stat of its root", path), st.error());
  Result<vfs::Path> at = EnsureMountpoint(ns, creds, path, !S_ISDIR(st->mode));
  if (!at.ok()) return ErrnoStatus(fmt::format("mountpoint {}", path), at.error());
  Result<void> r = ns.AddMount(
      *at, MakeRef<vfs::Mount>(ns.NextMountId(), fstype, source, std::move(root), flags));
  if (!r.ok()) return ErrnoStatus(fmt::format("mount {} on {}", fstype, path), r.error());
  return absl::OkStatus();
}

// The options of a tmpfs mount: size (bytes, with k/m/g suffixes, or a percentage of memory)
// and the root's mode, uid and gid.
struct TmpfsOptions {
  uint64_t size = 0;
  uint32_t mode = 01777, uid = 0, gid = 0;
};

absl::StatusOr<TmpfsOptions> ParseTmpfsOptions(const std::string& data, uint32_t default_mode) {
  TmpfsOptions o;
  o.mode = default_mode;
  o.size = DefaultTmpfsSize();
  for (const std::string& opt : std::vector<std::string>(absl::StrSplit(data, ',', absl::SkipEmpty()))) {
    size_t eq = opt.find('=');
    std::pair<std::string, std::string> kv{opt.substr(0, eq),
                                           eq == std::string::npos ? "" : opt.substr(eq + 1)};
    const std::string& value = kv.second;
    char* end = nullptr;
    errno = 0;
    if (kv.first == "size") {
      uint64_t n = std::strtoull(value.c_str(), &end, 10);
      std::string_view unit(end);
      if (unit == "k" || unit == "K") n <<= 10;
      else if (unit == "m" || unit == "M") n <<= 20;
      else if (unit == "g" || unit == "G") n <<= 30;
      else if (unit == "%") n = DefaultTmpfsSize() * 2 / 100 * n;
      else if (!unit.empty() || value.empty()) end = nullptr;
      o.size = n;
    } else if (kv.first == "mode") {
      o.mode = static_cast<uint32_t>(std::strtoul(value.c_str(), &end, 8)) & 07777;
    } else if (kv.first == "uid") {
      o.uid = static_cast<uint32_t>(std::strtoul(value.c_str(), &end, 10));
    } else if (kv.first == "gid") {
      o.gid = static_cast<uint32_t>(std::strtoul(value.c_str(), &end, 10));
    } else {
      continue;  // nr_inodes, nr_blocks, huge, ...: no meaning for the sentry's tmpfs
    }
    if (value.empty() || !end || (*end && kv.first != "size") || errno)
      return absl::InvalidArgumentError(fmt::format("tmpfs option \"{}\" is not valid", opt));
  }
  return o;
}

// A filesystem root for a mount of `type`: a new instance, or for "bind" the gofer's (taken
// from `gofer_roots`, in order).
absl::StatusOr<RefPtr<vfs::Dentry>> MountRoot(const SandboxMount& m, const SandboxConfig& cfg,
                                              const kernel::Credentials& creds) {
  if (m.type == "cgroup" || m.type == "cgroup2") return fsimpl::NewCgroupfs(cfg.cgroup_limits);
  // mqueue: a directory for the queues' names (mq_open is not emulated).
  if (m.type == "tmpfs" || m.type == "mqueue") {
    ASSIGN_OR_RETURN(TmpfsOptions o,
                     ParseTmpfsOptions(m.type == "tmpfs" ? m.data : "", 01777));
    return fsimpl::NewTmpfs(o.mode, o.uid, o.gid, o.size);
  }
  if (m.type == "dev") {
    Result<RefPtr<vfs::Dentry>> dev = BuildDev(creds);
    if (!dev.ok()) return ErrnoStatus("building /dev", dev.error());
    return *dev;
  }
  if (m.type == "devpts") return fsimpl::Devpts::Get().root();
  if (m.type == "proc") return fsimpl::NewProcfs();
  if (m.type == "sysfs") return fsimpl::NewSysfs();
  return absl::InvalidArgumentError(
      fmt::format("mount on {}: type \"{}\" is not supported in the sandbox", m.destination, m.type));
}

// The fstype /proc/self/mountinfo shows for a mount of `type`.
std::string FsType(const std::string& type) {
  if (type == "bind") return "9p";
  if (type == "dev") return "tmpfs";
  if (type == "cgroup") return "cgroup2";
  return type;
}

// linux.maskedPaths: a directory is covered by an empty read-only tmpfs, a file by /dev/null.
absl::Status MaskPath(vfs::MountNamespace& ns, const kernel::Credentials& creds,
                      const std::string& path, const RefPtr<vfs::Dentry>& null_dev) {
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{&creds, root, &ns};
  Result<vfs::Path> at = vfs::Resolve(ctx, root, path);
  if (!at.ok()) return absl::OkStatus();  // nothing to hide
  Result<vfs::Stat> st = at->dentry->inode()->GetStat();
  if (!st.ok()) return ErrnoStatus(fmt::format("masked path {}", path), st.error());
  RefPtr<vfs::Dentry> cover = S_ISDIR(st->mode) ? fsimpl::NewTmpfs(0755, 0, 0, 4096) : null_dev;
  Result<void> r = ns.AddMount(
      *at, MakeRef<vfs::Mount>(ns.NextMountId(), "tmpfs", "tmpfs", cover,
                               vfs::MountFlags{.readonly = true}));
  if (!r.ok()) return ErrnoStatus(fmt::format("masking {}", path), r.error());
  return absl::OkStatus();
}

// linux.readonlyPaths: the tree at `path` mounted again on itself, read-only.
absl::Status ReadonlyPath(vfs::MountNamespace& ns, const kernel::Credentials& creds,
                          const std::string& path) {
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{&creds, root, &ns};
  Result<vfs::Path> at = vfs::Resolve(ctx, root, path);
  if (!at.ok()) return absl::OkStatus();
  vfs::MountFlags flags = at->mount->flags();
  flags.readonly = true;
  Result<void> r = ns.AddMount(*at, MakeRef<vfs::Mount>(ns.NextMountId(), at->mount->fstype(),
                                                        at->mount->source(), at->dentry, flags));
  if (!r.ok()) return ErrnoStatus(fmt::format("read-only path {}", path), r.error());
  return absl::OkStatus();
}

}  // namespace

std::vector<SandboxMount> StandardMounts() {
  return {
      {"/dev", "dev", "dev", {.nosuid = true}, ""},
      {"/dev/pts", "devpts", "devpts", {.nosuid = true, .noexec = true}, ""},
      {"/dev/shm", "tmpfs", "shm", {.nosuid = true, .nodev = true}, "mode=1777"},
      {"/proc", "proc", "proc", {.nosuid = true, .nodev = true, .noexec = true}, ""},
      {"/sys", "sysfs", "sysfs", {.readonly = true, .nosuid = true, .nodev = true, .noexec = true}, ""},
  };
}

absl::StatusOr<std::vector<FileDescriptor>> StartGoferFor(const SandboxConfig& cfg) {
  // The gofer serves the root and every bind mount's source.
  std::vector<std::string> paths{cfg.rootfs};
  std::vector<bool> readonly{cfg.overlay};
  for (const SandboxMount& m : cfg.mounts) {
    if (m.type != "bind") continue;
    struct stat st;
    if (stat(m.source.c_str(), &st) < 0)
      return ErrnoStatus(fmt::format("bind mount source {} (for {})", m.source, m.destination));
    paths.push_back(m.source);
    readonly.push_back(m.flags.readonly);
  }
  return StartGofer(paths, readonly);
}

absl::StatusOr<RefPtr<vfs::MountNamespace>> BuildMounts(const SandboxConfig& cfg,
                                                        std::vector<FileDescriptor> socks) {
  auto creds = kernel::Credentials::New(0, 0);
  size_t binds = 0;
  for (const SandboxMount& m : cfg.mounts) binds += m.type == "bind";
  if (socks.size() != 1 + binds)
    return absl::InternalError(fmt::format("{} gofer sockets for {} mounts", socks.size(), 1 + binds));
  Result<RefPtr<vfs::Dentry>> lower =
      fsimpl::NewGoferFilesystem(std::move(socks[0]), cfg.uids, cfg.gids);
  if (!lower.ok()) return ErrnoStatus(fmt::format("root {}", cfg.rootfs), lower.error());
  RefPtr<vfs::Dentry> root = *lower;
  if (cfg.overlay) root = fsimpl::NewOverlay(*lower, fsimpl::NewTmpfs(0755, 0, 0, DefaultTmpfsSize()));
  auto ns = MakeRef<vfs::MountNamespace>(MakeRef<vfs::Mount>(
      1, cfg.overlay ? "overlay" : "9p", cfg.overlay ? "root" : cfg.rootfs, root,
      vfs::MountFlags{.readonly = cfg.root_readonly}));

  size_t next_sock = 1;
  for (const SandboxMount& m : cfg.mounts) {
    RefPtr<vfs::Dentry> fs;
    if (m.type == "bind") {
      Result<RefPtr<vfs::Dentry>> served =
          fsimpl::NewGoferFilesystem(std::move(socks[next_sock++]), cfg.uids, cfg.gids);
      if (!served.ok()) return ErrnoStatus(fmt::format("bind mount {}", m.source), served.error());
      fs = *served;
    } else {
      ASSIGN_OR_RETURN(fs, MountRoot(m, cfg, *creds));
    }
    RETURN_IF_ERROR(MountAt(*ns, *creds, m.destination, FsType(m.type), m.source, fs, m.flags));
  }

  if (!cfg.masked_paths.empty()) {
    Result<RefPtr<vfs::Dentry>> dev = BuildDev(*creds);
    if (!dev.ok()) return ErrnoStatus("building /dev/null for masked paths", dev.error());
    Result<RefPtr<vfs::Dentry>> null_dev = (*dev)->Child("null");
    if (!null_dev.ok()) return ErrnoStatus("/dev/null for masked paths", null_dev.error());
    for (const std::string& p : cfg.masked_paths)
      RETURN_IF_ERROR(MaskPath(*ns, *creds, p, *null_dev));
  }
  for (const std::string& p : cfg.readonly_paths) RETURN_IF_ERROR(ReadonlyPath(*ns, *creds, p));
  return ns;
}

absl::Status MakeDirs(vfs::MountNamespace& ns, const std::string& path) {
  if (!path.starts_with("/")) return absl::InvalidArgumentError(fmt::format("{}: not absolute", path));
  if (path == "/") return absl::OkStatus();
  auto creds = kernel::Credentials::New(0, 0);
  std::string clean = path;
  while (clean.size() > 1 && clean.ends_with("/")) clean.pop_back();
  Result<vfs::Path> made = EnsureMountpoint(ns, *creds, clean, false);
  if (!made.ok()) return ErrnoStatus(fmt::format("making {}", path), made.error());
  return absl::OkStatus();
}

absl::Status InstallHostFds(vfs::FdTable& table, int first, std::vector<FileDescriptor> fds) {
  for (size_t i = 0; i < fds.size(); i++) {
    if (!fds[i].valid()) continue;  // not open: the sandbox's fd is not open either
    const int fd = first + static_cast<int>(i);
    int flags = fcntl(fds[i].get(), F_GETFL);
    if (flags < 0) return ErrnoStatus(fmt::format("fcntl(F_GETFL) of the host fd for fd {}", fd));
    Result<RefPtr<fsimpl::HostFile>> f = fsimpl::HostFile::New(std::move(fds[i]), flags & O_ACCMODE);
    if (!f.ok()) return ErrnoStatus(fmt::format("the host file for fd {}", fd), f.error());
    // Fds passed on are open whatever RLIMIT_NOFILE says, as they are in a process that
    // inherits them.
    Result<void> r = table.Set(fd, *f, false, std::numeric_limits<uint64_t>::max());
    if (!r.ok()) return ErrnoStatus(fmt::format("installing fd {}", fd), r.error());
  }
  return absl::OkStatus();
}

std::vector<FileDescriptor> DupOwnStdio() {
  std::vector<FileDescriptor> fds;
  for (int fd = 0; fd < 3; fd++) fds.emplace_back(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  return fds;
}

absl::StatusOr<RefPtr<vfs::FdTable>> HostStdioTable(std::vector<FileDescriptor> fds) {
  auto table = MakeRef<vfs::FdTable>();
  RETURN_IF_ERROR(InstallHostFds(*table, 0, std::move(fds)));
  return table;
}

absl::StatusOr<std::string> FindProgram(vfs::MountNamespace& ns, const std::string& name,
                                        const std::string& path_env,
                                        const kernel::Credentials& creds) {
  if (name.empty()) return absl::InvalidArgumentError("the program name is empty");
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{&creds, root, &ns};
  // An absolute path is checked here so that its failure reads as runc's does: engines turn
  // "no such file or directory" and "permission denied" into their exit statuses 127 and 126.
  if (name.starts_with("/")) {
    Result<vfs::Path> p = vfs::Resolve(ctx, root, name);
    if (!p.ok() && (p.error().value() == ENOENT || p.error().value() == ENOTDIR))
      return absl::NotFoundError(
          fmt::format("exec: \"{}\": stat {}: no such file or directory", name, name));
    if (p.ok()) {
      Result<vfs::Stat> st = p->dentry->inode()->GetStat();
      // Only what fails whoever runs it: the finer checks (groups, capabilities) are exec's.
      if (st.ok() && (!S_ISREG(st->mode) || (st->mode & 0111) == 0))
        return absl::PermissionDeniedError(fmt::format("exec: \"{}\": permission denied", name));
    }
    return name;  // other failures are the kernel's to report
  }
  if (name.find('/') != std::string::npos) return name;  // relative to the process's cwd
  std::vector<std::string> dirs = absl::StrSplit(path_env, ':');
  for (const std::string& dir : dirs) {
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    Result<vfs::Path> p = vfs::Resolve(ctx, root, candidate);
    if (!p.ok()) continue;
    Result<vfs::Stat> st = p->dentry->inode()->GetStat();
    if (st.ok() && S_ISREG(st->mode) && vfs::CheckPermission(creds, *st, X_OK).ok())
      return candidate;
  }
  return absl::NotFoundError(
      fmt::format("exec: \"{}\": executable file not found in $PATH ({})", name, path_env));
}

void RaiseFdLimit() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  // Files of the gofer each hold a host fd of the sentry's, so an application process at its own
  // hard limit (the caller's) would take the sentry's last fd: go as high as the host allows
  // (nr_open; root may), so that it is the application's RLIMIT_NOFILE that stops it.
  // (tests/e2e/security exhaust_fds.)
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "re")) {
    unsigned long nr_open = 0;
    if (std::fscanf(f, "%lu", &nr_open) == 1 && nr_open > r.rlim_max) {
      rlimit high{nr_open, nr_open};
      setrlimit(RLIMIT_NOFILE, &high);
    }
    std::fclose(f);
  }
}

absl::StatusOr<int> RunDo(const DoOptions& opts) {
  if (opts.argv.empty()) return absl::InvalidArgumentError("runsc do: no command given");
  // The caller's fds but stdio are not the sandbox's: neither the sentry nor the gofer keeps one.
  CloseAllFdsBut(-1);
  // The application's rlimits are the caller's, taken before the sentry raises its own.
  std::vector<std::pair<int, rlimit>> limits;
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    rlimit l;
    if (getrlimit(r, &l) == 0) limits.emplace_back(r, l);
  }
  RaiseFdLimit();
  ASSIGN_OR_RETURN(NetworkMode net_mode, ParseNetworkMode(opts.network));

  // Forwarded signals are taken by one thread with sigwaitinfo; every thread created from here
  // on inherits the mask. (In the supervisor, Supervise takes them and passes them on.)
  sigset_t forward;
  sigemptyset(&forward);
  for (int sig : kForwarded) sigaddset(&forward, sig);
  pthread_sigmask(SIG_BLOCK, &forward, nullptr);

  SandboxConfig cfg;
  cfg.rootfs = opts.root_dir;
  cfg.mounts = StandardMounts();
  for (const std::string& v : opts.volumes) {
    std::vector<std::string> parts = absl::StrSplit(v, ':');
    bool ro = parts.size() == 3 && parts[2] == "ro";
    if (parts.size() < 2 || parts.size() > 3 || (parts.size() == 3 && !ro && parts[2] != "rw") ||
        parts[0].empty() || !parts[1].starts_with("/")) {
      return absl::InvalidArgumentError(
          fmt::format("--volume {}: want HOST:TARGET[:ro|:rw] with an absolute TARGET", v));
    }
    cfg.mounts.push_back({parts[1], "bind", parts[0], {.readonly = ro}, ""});
  }
  // What the sandbox takes from the host before the sentry is forked (runsc/confine.h).
  ASSIGN_OR_RETURN(std::vector<FileDescriptor> gofer, StartGoferFor(cfg));
  ASSIGN_OR_RETURN(NetworkPlan network, PrepareNetwork(net_mode, /*for_boot=*/false));
  std::optional<HostTerminal> terminal;
  if (!opts.console_socket.empty()) {
    ASSIGN_OR_RETURN(HostTerminal t, OpenHostTerminal());
    RETURN_IF_ERROR(SendMasterToSocket(t.master, opts.console_socket));
    terminal = std::move(t);
  }
  char cwd_buf[PATH_MAX];
  std::string host_cwd = getcwd(cwd_buf, sizeof(cwd_buf)) ? cwd_buf : "/";
  const char* path_env = getenv("PATH");
  // The caller's ids are the application's: the sentry's own are its namespace's.
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  ASSIGN_OR_RETURN(std::optional<SentryProcess> sentry,
                   ForkSentry({.user_namespace = net_mode != NetworkMode::kHost,
                               .network_namespace = net_mode != NetworkMode::kHost,
                               .forwarded = kForwarded}));
  if (sentry) {
    CloseAllFdsBut(sentry->status.get());
    int status = Supervise(*sentry, kForwarded, [](int) {});
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
  }

  // The sentry. Its failures from here on are the sandbox's status: 125, as setup's are.
  absl::Status built = [&]() -> absl::Status {
    RETURN_IF_ERROR(InstallSentryFilter());
    ASSIGN_OR_RETURN(RefPtr<vfs::MountNamespace> mounts, BuildMounts(cfg, std::move(gofer)));
    ASSIGN_OR_RETURN(std::unique_ptr<platform::Platform> platform,
                     platform::NewPlatform(opts.platform));
    ASSIGN_OR_RETURN(RefPtr<vfs::FdTable> stdio,
                     HostStdioTable(DupOwnStdio()));
    // A terminal of the sandbox instead, with its master at the engine's end of the socket. It
    // lives as long as the sentry (like the kernel below, whose session it hangs up when it
    // goes).
    Console* console = nullptr;
    if (terminal) {
      ConsoleOptions copts;
      copts.mounts = mounts.get();
      copts.uid = uid;
      ASSIGN_OR_RETURN(std::unique_ptr<Console> c, Console::Create(copts, std::move(*terminal)));
      ASSIGN_OR_RETURN(stdio, c->TakeStdio());
      console = c.release();
    }

    // The kernel lives until the sentry exits: the signal-forwarding thread below keeps using it.
    auto* kernel = new kernel::Kernel(std::move(platform), mounts);
    kernel->set_syscall_table(&syscalls::Table());
    ASSIGN_OR_RETURN(std::unique_ptr<sockets::Stack> stack, StartNetwork(std::move(network)));
    kernel->set_network(std::move(stack));

    kernel::InitProcess init;
    init.argv = opts.argv;
    absl::StatusOr<std::string> program =
        FindProgram(*mounts, opts.argv[0], path_env ? path_env : "/usr/local/bin:/usr/bin:/bin",
                    *kernel::Credentials::New(uid, gid));
    init.path = program.ok() ? *program : opts.argv[0];
    for (char** e = environ; *e; e++) init.envp.push_back(*e);
    init.cwd = opts.cwd;
    if (init.cwd.empty()) init.cwd = opts.root_dir == "/" ? host_cwd : "/";
    init.uid = uid;
    init.gid = gid;
    init.rlimits = limits;
    // Moved, not copied: a console's relay ends when the last file of its terminal closes.
    init.fds = std::move(stdio);
    if (console) init.controlling_tty = console->terminal();
    mode_t um = umask(022);
    umask(um);
    init.umask = um;
    RETURN_IF_ERROR(kernel->Start(std::move(init)));
    if (console) console->StartRelay();

    std::thread([kernel, forward, console] {
      for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&forward, &info);
        // With a console, resizes come from the engine through it (polled: runsc do keeps the
        // caller's session, so its terminal is no controlling terminal of runsc's).
        if (console && sig == SIGWINCH) continue;
        if (sig > 0) kernel->SignalInit(sig);
      }
    }).detach();

    int status = kernel->Wait();
    // The container's last output is still on its way to the engine.
    if (console) console->WaitRelay(absl::Seconds(2));
    ExitSentry(status);
  }();
  LOG_ERROR("runsc do: {}", std::string(built.message()));
  ExitSentry(125 << 8);
}

}  // namespace moat::runsc
