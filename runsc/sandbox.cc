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

#include <thread>

#include "absl/strings/str_split.h"

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/platform.h"
#include "runsc/console.h"
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

// Resolves `path` in the mount namespace as root and mounts `m` there.
absl::Status MountAt(vfs::MountNamespace& ns, const kernel::Credentials& root_creds,
                     const std::string& path, RefPtr<vfs::Mount> m) {
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{&root_creds, root, &ns};
  Result<vfs::Path> at = vfs::Resolve(ctx, root, path, {.must_be_dir = true});
  if (!at.ok()) return ErrnoStatus(fmt::format("mountpoint {}", path), at.error());
  Result<void> r = ns.AddMount(*at, std::move(m));
  if (!r.ok()) return ErrnoStatus(fmt::format("mount {}", path), r.error());
  return absl::OkStatus();
}

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

// A host path the gofer serves, and where the sandbox sees it.
struct GoferMount {
  std::string host_path;
  std::string target;  // "/" for the root
  bool readonly;
};

// The mounts of `runsc do`: the root, then each --volume HOST:TARGET[:ro].
absl::StatusOr<std::vector<GoferMount>> GoferMounts(const DoOptions& opts) {
  std::vector<GoferMount> mounts{{opts.root_dir, "/", true}};
  for (const std::string& v : opts.volumes) {
    std::vector<std::string> parts = absl::StrSplit(v, ':');
    bool ro = parts.size() == 3 && parts[2] == "ro";
    if (parts.size() < 2 || parts.size() > 3 || (parts.size() == 3 && !ro && parts[2] != "rw") ||
        parts[0].empty() || !parts[1].starts_with("/")) {
      return absl::InvalidArgumentError(
          fmt::format("--volume {}: want HOST:TARGET[:ro|:rw] with an absolute TARGET", v));
    }
    mounts.push_back({parts[0], parts[1], ro});
  }
  return mounts;
}

// Starts `runsc gofer` serving every mount (DESIGN.md section 2): the only process that opens
// host paths for the sandbox. Returns the sentry's end of each mount's socket, in order. The
// gofer exits when the sentry closes them (or dies: it has PR_SET_PDEATHSIG).
absl::StatusOr<std::vector<FileDescriptor>> StartGofer(const std::vector<GoferMount>& mounts) {
  std::vector<FileDescriptor> ours, theirs;
  for (size_t i = 0; i < mounts.size(); i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      return ErrnoStatus("socketpair for the gofer");
    ours.emplace_back(sv[0]);
    // Out of the way of the fds the child is given (3, 4, ...), so dup2 clobbers nothing.
    theirs.emplace_back(fcntl(sv[1], F_DUPFD_CLOEXEC, 100));
    close(sv[1]);
    if (!theirs.back().valid()) return ErrnoStatus("dup of the gofer's socket");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::vector<std::string> args{"runsc", "gofer"};
  for (size_t i = 0; i < mounts.size(); i++) {
    int child_fd = 3 + static_cast<int>(i);
    posix_spawn_file_actions_adddup2(&actions, theirs[i].get(), child_fd);
    args.push_back("--serve");
    args.push_back(fmt::format("{}:{}{}", child_fd, mounts[i].host_path,
                               mounts[i].readonly ? ":ro" : ""));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoStatus("spawning runsc gofer", Errno(err));
  return ours;
}

// Creates the directories of `path` (absolute) that are missing under `root`, as mountpoints.
Result<void> EnsurePath(const RefPtr<vfs::Dentry>& root, const std::string& path,
                        const kernel::Credentials& creds) {
  RefPtr<vfs::Dentry> d = root;
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (const std::string& part : parts) {
    if (part == "." || part == "..") return Errno(EINVAL);
    d = TRY(EnsureDir(d, part, creds));
  }
  return Ok();
}

absl::StatusOr<RefPtr<vfs::MountNamespace>> BuildMounts(const DoOptions& opts) {
  auto root_creds = kernel::Credentials::New(0, 0);
  ASSIGN_OR_RETURN(std::vector<GoferMount> gofer_mounts, GoferMounts(opts));
  ASSIGN_OR_RETURN(std::vector<FileDescriptor> socks, StartGofer(gofer_mounts));
  Result<RefPtr<vfs::Dentry>> lower = fsimpl::NewGoferFilesystem(std::move(socks[0]));
  if (!lower.ok()) return ErrnoStatus(fmt::format("root {}", opts.root_dir), lower.error());
  RefPtr<vfs::Dentry> upper = fsimpl::NewTmpfs(0755, 0, 0, DefaultTmpfsSize());
  RefPtr<vfs::Dentry> root = fsimpl::NewOverlay(*lower, upper);
  auto root_mount = MakeRef<vfs::Mount>(1, "overlay", "root", root, vfs::MountFlags{});
  auto ns = MakeRef<vfs::MountNamespace>(root_mount);
  // Mountpoints must exist in the merged root: the upper layer provides them if the host
  // directory lacks them.
  for (const char* dir : {"dev", "proc", "sys", "tmp"}) {
    if (!root->Child(dir).ok()) {
      Result<RefPtr<vfs::Dentry>> d = EnsureDir(root, dir, *root_creds);
      if (!d.ok()) return ErrnoStatus(fmt::format("mkdir /{}", dir), d.error());
    }
  }
  for (size_t i = 1; i < gofer_mounts.size(); i++) {
    const GoferMount& m = gofer_mounts[i];
    Result<RefPtr<vfs::Dentry>> fs = fsimpl::NewGoferFilesystem(std::move(socks[i]));
    if (!fs.ok()) return ErrnoStatus(fmt::format("volume {}", m.host_path), fs.error());
    Result<void> made = EnsurePath(root, m.target, *root_creds);
    if (!made.ok()) return ErrnoStatus(fmt::format("mountpoint {}", m.target), made.error());
    RETURN_IF_ERROR(MountAt(*ns, *root_creds, m.target,
                            MakeRef<vfs::Mount>(ns->NextMountId(), "9p", m.host_path, *fs,
                                                vfs::MountFlags{.readonly = m.readonly})));
  }
  Result<RefPtr<vfs::Dentry>> dev = BuildDev(*root_creds);
  if (!dev.ok()) return ErrnoStatus("building /dev", dev.error());
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/dev",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "tmpfs", "dev", *dev,
                                              vfs::MountFlags{.nosuid = true})));
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/dev/pts",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "devpts", "devpts",
                                              fsimpl::Devpts::Get().root(),
                                              vfs::MountFlags{.nosuid = true, .noexec = true})));
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/dev/shm",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "tmpfs", "shm",
                                              fsimpl::NewTmpfs(01777, 0, 0, DefaultTmpfsSize()),
                                              vfs::MountFlags{.nosuid = true, .nodev = true})));
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/proc",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "proc", "proc",
                                              fsimpl::NewProcfs(),
                                              vfs::MountFlags{.nosuid = true, .nodev = true,
                                                              .noexec = true})));
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/sys",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "sysfs", "sysfs",
                                              fsimpl::NewSysfs(),
                                              vfs::MountFlags{.readonly = true, .nosuid = true,
                                                              .nodev = true, .noexec = true})));
  return ns;
}

absl::StatusOr<RefPtr<vfs::FdTable>> StdioTable() {
  auto fds = MakeRef<vfs::FdTable>();
  for (int fd = 0; fd < 3; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) continue;  // not open: the sandbox's fd is not open either
    FileDescriptor copy(fcntl(fd, F_DUPFD_CLOEXEC, 3));
    if (!copy) return ErrnoStatus(fmt::format("dup({})", fd));
    Result<RefPtr<fsimpl::HostFile>> f = fsimpl::HostFile::New(std::move(copy), flags & O_ACCMODE);
    if (!f.ok()) return ErrnoStatus(fmt::format("stdio fd {}", fd), f.error());
    Result<void> r = fds->Set(fd, *f, false, 1024);
    if (!r.ok()) return ErrnoStatus("installing stdio", r.error());
  }
  return fds;
}

// The program to run: argv[0] as a path, or looked up in $PATH within the sandbox's own view
// of its files (the host's is never consulted).
std::string FindProgram(vfs::MountNamespace& ns, const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  auto creds = kernel::Credentials::New(getuid(), getgid());
  vfs::Path root = ns.Root();
  vfs::ResolveContext ctx{creds.get(), root, &ns};
  const char* path = getenv("PATH");
  std::vector<std::string> dirs = absl::StrSplit(path ? path : "/usr/local/bin:/usr/bin:/bin", ':');
  for (const std::string& dir : dirs) {
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    Result<vfs::Path> p = vfs::Resolve(ctx, root, candidate);
    if (!p.ok()) continue;
    Result<vfs::Stat> st = p->dentry->inode()->GetStat();
    if (st.ok() && S_ISREG(st->mode) && vfs::CheckPermission(*creds, *st, X_OK).ok())
      return candidate;
  }
  return name;
}

void RaiseFdLimit() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

absl::StatusOr<int> RunDo(const DoOptions& opts) {
  if (opts.argv.empty()) return absl::InvalidArgumentError("runsc do: no command given");
  // The application's rlimits are the caller's, taken before the sentry raises its own.
  std::vector<std::pair<int, rlimit>> limits;
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    rlimit l;
    if (getrlimit(r, &l) == 0) limits.emplace_back(r, l);
  }
  RaiseFdLimit();

  // Forwarded signals are taken by one thread with sigwaitinfo; every thread created from here
  // on inherits the mask.
  sigset_t forward;
  sigemptyset(&forward);
  for (int sig : kForwarded) sigaddset(&forward, sig);
  pthread_sigmask(SIG_BLOCK, &forward, nullptr);

  ASSIGN_OR_RETURN(RefPtr<vfs::MountNamespace> mounts, BuildMounts(opts));
  ASSIGN_OR_RETURN(std::unique_ptr<platform::Platform> platform,
                   platform::NewPlatform(opts.platform));
  ASSIGN_OR_RETURN(RefPtr<vfs::FdTable> stdio, StdioTable());
  // A terminal of the sandbox instead, with its master at the engine's end of the socket. It
  // lives as long as runsc (like the kernel below, whose session it hangs up when it goes).
  Console* console = nullptr;
  if (!opts.console_socket.empty()) {
    ConsoleOptions copts;
    copts.mounts = mounts.get();
    copts.uid = getuid();
    ASSIGN_OR_RETURN(std::unique_ptr<Console> c, Console::Create(copts));
    RETURN_IF_ERROR(c->SendToSocket(opts.console_socket));
    ASSIGN_OR_RETURN(stdio, c->TakeStdio());
    console = c.release();
  }

  // The kernel lives until runsc exits: the signal-forwarding thread below keeps using it.
  auto* kernel = new kernel::Kernel(std::move(platform), mounts);
  kernel->set_syscall_table(&syscalls::Table());

  kernel::InitProcess init;
  init.argv = opts.argv;
  init.path = FindProgram(*mounts, opts.argv[0]);
  for (char** e = environ; *e; e++) init.envp.push_back(*e);
  init.cwd = opts.cwd;
  if (init.cwd.empty()) {
    char buf[PATH_MAX];
    init.cwd = (opts.root_dir == "/" && getcwd(buf, sizeof(buf))) ? buf : "/";
  }
  init.uid = getuid();
  init.gid = getgid();
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
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace moat::runsc
