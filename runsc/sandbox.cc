#include "runsc/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/platform.h"
#include "sentry/fsimpl/devpts.h"
#include "sentry/fsimpl/host_fd.h"
#include "sentry/fsimpl/hostfs.h"
#include "sentry/fsimpl/overlay.h"
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

Result<void> AddFile(const RefPtr<vfs::Dentry>& dir, const std::string& name,
                     const std::string& content, const kernel::Credentials& creds) {
  RefPtr<vfs::Inode> inode = TRY(dir->inode()->Create(name, S_IFREG | 0444, creds));
  dir->AddChild(name, inode);
  FileDescriptor src(memfd_create("moat-sysfs", MFD_CLOEXEC));
  if (!src || write(src.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    return LastErrno();
  return fsimpl::TmpfsCopyFromHost(*inode, src.get(), content.size());
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

// /sys: what libc and language runtimes read (the CPU list). TODO(#3): a real sysfs.
Result<RefPtr<vfs::Dentry>> BuildSys(const kernel::Credentials& creds) {
  RefPtr<vfs::Dentry> sys = fsimpl::NewTmpfs(0555, 0, 0, 0);
  RefPtr<vfs::Dentry> d = TRY(EnsureDir(sys, "devices", creds));
  d = TRY(EnsureDir(d, "system", creds));
  d = TRY(EnsureDir(d, "cpu", creds));
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  std::string list = n > 1 ? fmt::format("0-{}\n", n - 1) : "0\n";
  for (const char* f : {"online", "possible", "present"}) TRY(AddFile(d, f, list, creds));
  return sys;
}

absl::StatusOr<RefPtr<vfs::MountNamespace>> BuildMounts(const std::string& root_dir) {
  auto root_creds = kernel::Credentials::New(0, 0);
  Result<RefPtr<vfs::Dentry>> lower = fsimpl::NewHostFilesystem(root_dir);
  if (!lower.ok()) return ErrnoStatus(fmt::format("root {}", root_dir), lower.error());
  RefPtr<vfs::Dentry> upper = fsimpl::NewTmpfs(0755, 0, 0, 0);
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
                                              fsimpl::NewTmpfs(01777, 0, 0, 0),
                                              vfs::MountFlags{.nosuid = true, .nodev = true})));
  // TODO(#3): procfs. Until then /proc is an empty read-only directory, never the host's.
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/proc",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "proc", "proc",
                                              fsimpl::NewTmpfs(0555, 0, 0, 0),
                                              vfs::MountFlags{.readonly = true, .nosuid = true,
                                                              .nodev = true, .noexec = true})));
  Result<RefPtr<vfs::Dentry>> sys = BuildSys(*root_creds);
  if (!sys.ok()) return ErrnoStatus("building /sys", sys.error());
  RETURN_IF_ERROR(MountAt(*ns, *root_creds, "/sys",
                          MakeRef<vfs::Mount>(ns->NextMountId(), "sysfs", "sysfs", *sys,
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

// The program to run: argv[0] as a path, or looked up in $PATH of the sandbox's root.
std::string FindProgram(const std::string& root_dir, const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    std::string host = root_dir == "/" ? candidate : root_dir + "/" + candidate;
    struct stat st;
    if (stat(host.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(host.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
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

  ASSIGN_OR_RETURN(RefPtr<vfs::MountNamespace> mounts, BuildMounts(opts.root_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<platform::Platform> platform,
                   platform::NewPlatform(opts.platform));
  ASSIGN_OR_RETURN(RefPtr<vfs::FdTable> stdio, StdioTable());

  // The kernel lives until runsc exits: the signal-forwarding thread below keeps using it.
  auto* kernel = new kernel::Kernel(std::move(platform), mounts);
  kernel->set_syscall_table(&syscalls::Table());

  kernel::InitProcess init;
  init.argv = opts.argv;
  init.path = FindProgram(opts.root_dir, opts.argv[0]);
  for (char** e = environ; *e; e++) init.envp.push_back(*e);
  init.cwd = opts.cwd;
  if (init.cwd.empty()) {
    char buf[PATH_MAX];
    init.cwd = (opts.root_dir == "/" && getcwd(buf, sizeof(buf))) ? buf : "/";
  }
  init.uid = getuid();
  init.gid = getgid();
  init.rlimits = limits;
  init.fds = stdio;
  mode_t um = umask(022);
  umask(um);
  init.umask = um;
  RETURN_IF_ERROR(kernel->Start(std::move(init)));

  std::thread([kernel, forward] {
    for (;;) {
      siginfo_t info;
      int sig = sigwaitinfo(&forward, &info);
      if (sig > 0) kernel->SignalInit(sig);
    }
  }).detach();

  int status = kernel->Wait();
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace moat::runsc
