// runsc boot (internal): the sandbox process of one container (DESIGN.md section 2). `runsc
// create` starts it; it builds the sandbox from the bundle, creates the container's init process
// (stopped before its first instruction), serves the control socket, and lives as long as the
// container: it exits with init's status (or dies of init's signal), which is what engines that
// wait for the container's pid see.
//
// Setup reads as a script. Until it reports on --ready-fd, a failure is written there for
// `create` to print; afterwards problems go to the log.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/platform.h"
#include "runsc/cgroup.h"
#include "runsc/commands.h"
#include "runsc/confine.h"
#include "runsc/console.h"
#include "runsc/container.h"
#include "runsc/control_server.h"
#include "runsc/lifecycle.h"
#include "runsc/network.h"
#include "runsc/oci.h"
#include "runsc/sandbox.h"
#include "runsc/seccomp_profile.h"
#include "runsc/sentry_filter.h"
#include "runsc/spec/spec.h"
#include "sentry/kernel/kernel.h"
#include "sentry/vfs/fd_table.h"
#include "syscalls/syscalls.h"

namespace moat::runsc {
namespace {

struct BootOptions {
  std::string bundle;
  std::string id;
  int ready_fd = -1;
  std::string console_socket;
  std::string cgroup;  // the cgroup runsc create made for the sandbox (cgroup::Cgroup::path())
  int preserve_fds = 0;  // how many fds, from kFirstPreservedFd on, the init gets from fd 3 on
};

// Where runsc create puts the fds that --preserve-fds passes on (after the ready fd).
constexpr int kFirstPreservedFd = 4;

// The container's terminal, if it has one (process.terminal).
Console* g_console = nullptr;

// Signals sent to the sandbox process itself that it passes on to the container's init, as
// runc's init would receive them.
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT};
// What the supervisor passes on to the sentry: those, and SIGWINCH.
constexpr int kSupervisorForwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                        SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH};

// The platform the sentry runs its applications on (--platform).
std::string g_platform;

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += n;
  }
}

// Points fds 0 and 1 (and 2 unless `keep_stderr`) at /dev/null.
absl::Status ReleaseCallerStdio(bool keep_stderr) {
  FileDescriptor null(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return ErrnoStatus("open /dev/null");
  for (int fd = 0; fd < (keep_stderr ? 2 : 3); fd++) {
    if (dup2(null.get(), fd) < 0) return ErrnoStatus(fmt::format("dup2(/dev/null, {})", fd));
  }
  return absl::OkStatus();
}

// What the sandbox takes from the host before the sentry is forked (runsc/confine.h): the
// bundle's configuration, the gofer's sockets, the network's interfaces, the terminal, the
// control socket. Nothing here may start a thread.
struct HostSide {
  spec::Spec spec;
  std::vector<std::pair<int, rlimit>> limits;
  SandboxConfig cfg;
  std::vector<FileDescriptor> gofer;
  NetworkPlan network;
  bool new_netns = false;  // the process is still in the host's network namespace
  std::optional<HostTerminal> terminal;
  std::unique_ptr<control::Server> server;  // listening; started by the sentry
  std::vector<FileDescriptor> preserved;    // the init's fds 3 and on (--preserve-fds)
};

absl::StatusOr<HostSide> TakeFromHost(const BootOptions& opts, const GlobalOptions& global,
                                      const ContainerDir& dir) {
  HostSide h;
  // Kept from every process this one starts; only the init gets them.
  for (int i = 0; i < opts.preserve_fds; i++) {
    const int fd = kFirstPreservedFd + i;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
      return ErrnoStatus(fmt::format("fd {} of the sandbox process (--preserve-fds)", fd));
    h.preserved.emplace_back(fd);
  }
  // First of all, so that the gofer and every application process start in it.
  if (!opts.cgroup.empty()) {
    ASSIGN_OR_RETURN(cgroup::Host host, cgroup::Host::Detect());
    ASSIGN_OR_RETURN(std::unique_ptr<cgroup::Cgroup> group, cgroup::Cgroup::Load(host, opts.cgroup));
    RETURN_IF_ERROR(group->Join());
  }
  ASSIGN_OR_RETURN(h.spec, spec::LoadBundle(opts.bundle));
  // While the process has one thread: every thread it starts later (the gofer's, the
  // netstack's, the tasks') is then in the container's network namespace too.
  ASSIGN_OR_RETURN(NetnsKind netns, EnterNetworkNamespace(h.spec, global.network));
  const spec::Process& process = *h.spec.process;
  if (process.terminal && opts.console_socket.empty())
    return absl::InvalidArgumentError(
        "process.terminal is true but no --console-socket was given to receive the terminal");
  // With a terminal the caller's stdio is not the container's, and neither this process nor
  // the gofer it starts may hold it open: containerd's shim reads `runc create`'s output until
  // EOF before it takes the terminal from the console socket. stderr stays if it is the log.
  if (process.terminal) RETURN_IF_ERROR(ReleaseCallerStdio(/*keep_stderr=*/LogIsStderr()));

  // The container's limits are the caller's, except those the config sets; taken before the
  // sentry raises its own.
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    rlimit l;
    if (getrlimit(r, &l) == 0) h.limits.emplace_back(r, l);
  }
  RaiseFdLimit();
  ASSIGN_OR_RETURN(NetworkMode net_mode, ParseNetworkMode(global.network));
  h.new_netns = netns == NetnsKind::kHost && net_mode != NetworkMode::kHost;
  ASSIGN_OR_RETURN(h.cfg, SandboxConfigFor(h.spec, opts.bundle, global.overlay));
  ASSIGN_OR_RETURN(h.gofer, StartGoferFor(h.cfg));
  // The network, while this process may still take over the namespace's interfaces.
  ASSIGN_OR_RETURN(h.network, PrepareNetwork(net_mode, /*for_boot=*/true));
  // The container's terminal: a host pair whose master goes to the engine now.
  if (process.terminal) {
    ASSIGN_OR_RETURN(HostTerminal t, OpenHostTerminal());
    RETURN_IF_ERROR(SendMasterToSocket(t.master, opts.console_socket));
    h.terminal = std::move(t);
  }
  ASSIGN_OR_RETURN(h.server, control::Server::Listen(dir.control_path()));
  return h;
}

// In the sentry: everything up to the created state. Returns the kernel, whose init exists but
// has not run.
absl::StatusOr<kernel::Kernel*> BuildSandbox(HostSide h) {
  const spec::Spec& spec = h.spec;
  const spec::Process& process = *spec.process;
  const std::vector<std::pair<int, rlimit>> limits = h.limits;
  ASSIGN_OR_RETURN(RefPtr<vfs::MountNamespace> mounts, BuildMounts(h.cfg, std::move(h.gofer)));
  // The init's working directory is made if missing, as runc makes it (an exec's must exist).
  RETURN_IF_ERROR(MakeDirs(*mounts, process.cwd));
  ASSIGN_OR_RETURN(std::unique_ptr<platform::Platform> platform,
                   platform::NewPlatform(g_platform));
  auto* kernel = new kernel::Kernel(std::move(platform), mounts);
  kernel->set_syscall_table(&syscalls::Table());
  kernel->set_id_maps(h.cfg.uids, h.cfg.gids);
  // The network, before any task runs.
  ASSIGN_OR_RETURN(std::unique_ptr<sockets::Stack> network, StartNetwork(std::move(h.network)));
  kernel->set_network(std::move(network));
  if (spec.linux.resources && spec.linux.resources->pids_limit)
    kernel->set_pids_limit(*spec.linux.resources->pids_limit);
  if (!spec.hostname.empty()) {
    kernel->set_hostname(spec.hostname);
  } else {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    kernel->set_hostname(host);
  }
  if (!spec.domainname.empty()) kernel->set_domainname(spec.domainname);
  RETURN_IF_ERROR(ApplySysctls(spec.linux.sysctl, *kernel));

  // The container's stdio: runsc's own (an engine's pipes or files), or a terminal whose
  // master went to the console socket.
  std::unique_ptr<Console> console;
  RefPtr<vfs::FdTable> stdio;
  if (h.terminal) {
    ASSIGN_OR_RETURN(console, Console::Create({.size = process.console_size, .mounts = mounts.get(),
                                               .uid = process.user.uid},
                                              std::move(*h.terminal)));
    ASSIGN_OR_RETURN(stdio, console->TakeStdio());
  } else {
    ASSIGN_OR_RETURN(stdio, HostStdioTable(DupOwnStdio()));
  }
  RETURN_IF_ERROR(InstallHostFds(*stdio, 3, std::move(h.preserved)));
  // The container's own seccomp profile, enforced by the sentry on the init and on every
  // exec'd process.
  std::vector<std::vector<sock_filter>> profile;
  if (spec.linux.seccomp) {
    absl::StatusOr<std::vector<sock_filter>> prog = CompileSeccompProfile(*spec.linux.seccomp);
    if (!prog.ok()) return prog.status();
    if (!prog->empty()) profile.push_back(std::move(*prog));
  }
  ASSIGN_OR_RETURN(kernel::InitProcess init,
                   ProcessFor(ExecRequestFor(process), *mounts, stdio, limits));
  init.seccomp_filters = profile;
  init.oom_score_adj = process.oom_score_adj;
  if (console) init.controlling_tty = console->terminal();
  RETURN_IF_ERROR(kernel->Create(std::move(init)));
  if (console) {
    // The host replica as this process's terminal: the engine's resizes then signal it.
    RETURN_IF_ERROR(console->MakeControllingTerminal());
    console->StartRelay();
    g_console = console.release();  // lives as long as the sandbox
  }

  // An exec's terminal is opened by `runsc exec`, which sends its master to the engine and
  // passes the replica with the request.
  control::Server::ProcessMaker make = [mounts, limits, profile](const control::ExecRequest& req,
                                                        std::vector<FileDescriptor> fds)
      -> absl::StatusOr<kernel::InitProcess> {
    std::unique_ptr<Console> exec_console;
    RefPtr<vfs::FdTable> table;
    if (req.terminal) {
      if (fds.empty())
        return absl::InvalidArgumentError("a terminal was asked for without its host replica");
      std::optional<spec::ConsoleSize> size;
      if (req.console_height || req.console_width)
        size = spec::ConsoleSize{req.console_height, req.console_width};
      ASSIGN_OR_RETURN(exec_console,
                       Console::Create({.size = size, .mounts = mounts.get(), .uid = req.uid},
                                       HostTerminal{FileDescriptor(), std::move(fds[0])}));
      ASSIGN_OR_RETURN(table, exec_console->TakeStdio());
      fds.erase(fds.begin());
      RETURN_IF_ERROR(InstallHostFds(*table, 3, std::move(fds)));
    } else {
      ASSIGN_OR_RETURN(table, HostStdioTable(std::move(fds)));
    }
    ASSIGN_OR_RETURN(kernel::InitProcess p, ProcessFor(req, *mounts, table, limits));
    p.detached_reap = req.detached;
    p.seccomp_filters = profile;
    if (exec_console) {
      p.new_session = true;
      p.controlling_tty = exec_console->terminal();
      exec_console->StartRelay();
      // The relay ends when the process's side of the terminal is closed; the Console itself
      // stays with the sandbox.
      exec_console.release();
    }
    return p;
  };
  h.server->Serve(kernel, std::move(make), HostRootAsSeen());
  h.server.release();  // serves until the process exits
  return kernel;
}

int RunBoot(const BootOptions& opts, const GlobalOptions& global) {
  // Out of the caller's session: the caller's terminal signals are not the container's.
  setsid();
  prctl(PR_SET_NAME, "runsc-sandbox");
  // Blocked before any thread starts, so that only the waiting thread below takes them.
  sigset_t forward;
  sigemptyset(&forward);
  for (int sig : kForwarded) sigaddset(&forward, sig);
  sigaddset(&forward, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &forward, nullptr);

  ContainerDir dir(global.root, opts.id);
  absl::StatusOr<HostSide> host = TakeFromHost(opts, global, dir);
  absl::StatusOr<std::optional<SentryProcess>> sentry =
      host.ok() ? ForkSentry({.user_namespace = global.network != "host",
                              .network_namespace = host->new_netns,
                              .forwarded = kSupervisorForwarded})
                : absl::StatusOr<std::optional<SentryProcess>>(host.status());
  if (!sentry.ok()) {
    WriteAll(opts.ready_fd, std::string(sentry.status().message()));
    return 1;
  }
  if (*sentry) {
    // The supervisor. The sentry reports the end of setup on the ready fd.
    host->server.release();  // its socket is closed below; the sentry's copy serves
    CloseAllFdsBut((*sentry)->status.get());
    ExitLike(Supervise(**sentry, kSupervisorForwarded, [&dir](int status) {
      // Recorded before the sandbox ends, so that whoever sees it gone (its process, or its
      // control socket) also sees how init ended.
      absl::Status written = WriteFileAtomic(dir.exit_path(), fmt::format("{}", status), 0600);
      if (!written.ok()) LOG_ERROR("recording the exit status: {}", std::string(written.message()));
    }));
  }

  // The sentry.
  g_platform = global.platform;
  absl::Status filtered = InstallSentryFilter();
  absl::StatusOr<kernel::Kernel*> kernel =
      filtered.ok() ? BuildSandbox(std::move(*host)) : absl::StatusOr<kernel::Kernel*>(filtered);
  if (!kernel.ok()) {
    WriteAll(opts.ready_fd, std::string(kernel.status().message()));
    ExitSentry(1 << 8);
  }
  WriteAll(opts.ready_fd, "ok");
  close(opts.ready_fd);

  // With a terminal, SIGWINCH means the engine resized it, and SIGHUP that the engine closed
  // it (the container gets its own SIGHUP from the sentry's terminal): neither is the init's.
  std::thread([k = *kernel, wait_set = forward] {
    for (;;) {
      siginfo_t info;
      int sig = sigwaitinfo(&wait_set, &info);
      if (sig <= 0) continue;
      if (g_console && (sig == SIGWINCH || sig == SIGHUP)) {
        if (sig == SIGWINCH) g_console->HostResized();
        continue;
      }
      if (sig != SIGWINCH) (void)k->Kill(1, sig);
    }
  }).detach();

  ExitSentry((*kernel)->Wait());
}

}  // namespace

CommandRunner RegisterBoot(CLI::App& app, const GlobalOptions& global) {
  auto opts = std::make_shared<BootOptions>();
  CLI::App* sub = app.add_subcommand("boot", "(internal) the sandbox process of a container");
  sub->group("");  // not listed in --help: engines never call it
  sub->add_option("--bundle", opts->bundle, "the bundle")->required();
  sub->add_option("--id", opts->id, "the container id")->required();
  sub->add_option("--ready-fd", opts->ready_fd, "where to report the end of setup")->required();
  sub->add_option("--console-socket", opts->console_socket, "where to send the terminal");
  sub->add_option("--cgroup", opts->cgroup, "the cgroup to join");
  sub->add_option("--preserve-fds", opts->preserve_fds,
                  "how many fds, from fd 4 on, the init gets from fd 3 on")
      ->check(CLI::NonNegativeNumber);
  return [opts, &global]() { return RunBoot(*opts, global); };
}

}  // namespace moat::runsc
