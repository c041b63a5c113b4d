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
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/platform.h"
#include "runsc/cgroup.h"
#include "runsc/commands.h"
#include "runsc/console.h"
#include "runsc/container.h"
#include "runsc/control_server.h"
#include "runsc/lifecycle.h"
#include "runsc/oci.h"
#include "runsc/sandbox.h"
#include "runsc/seccomp_profile.h"
#include "runsc/spec/spec.h"
#include "sentry/kernel/kernel.h"
#include "sentry/socket/hostinet/hostinet.h"
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
};

// The container's terminal, if it has one (process.terminal).
Console* g_console = nullptr;

// Signals sent to the sandbox process itself that it passes on to the container's init, as
// runc's init would receive them.
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT};

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

// Everything up to the created state. Returns the kernel, whose init exists but has not run.
absl::StatusOr<kernel::Kernel*> Setup(const BootOptions& opts, const GlobalOptions& global,
                                      const ContainerDir& dir) {
  // First of all, so that the gofer and every application process start in it.
  if (!opts.cgroup.empty()) {
    ASSIGN_OR_RETURN(cgroup::Host host, cgroup::Host::Detect());
    ASSIGN_OR_RETURN(std::unique_ptr<cgroup::Cgroup> group, cgroup::Cgroup::Load(host, opts.cgroup));
    RETURN_IF_ERROR(group->Join());
  }
  ASSIGN_OR_RETURN(spec::Spec spec, spec::LoadBundle(opts.bundle));
  const spec::Process& process = *spec.process;
  if (process.terminal && opts.console_socket.empty())
    return absl::InvalidArgumentError(
        "process.terminal is true but no --console-socket was given to receive the terminal");
  // With a terminal the caller's stdio is not the container's, and neither this process nor
  // the gofer it starts may hold it open: containerd's shim reads `runc create`'s output until
  // EOF before it takes the terminal from the console socket. stderr stays if it is the log.
  if (process.terminal) RETURN_IF_ERROR(ReleaseCallerStdio(/*keep_stderr=*/LogIsStderr()));

  // The container's limits are the caller's, except those the config sets; taken before the
  // sentry raises its own.
  std::vector<std::pair<int, rlimit>> limits;
  for (int r = 0; r < RLIM_NLIMITS; r++) {
    rlimit l;
    if (getrlimit(r, &l) == 0) limits.emplace_back(r, l);
  }
  RaiseFdLimit();

  ASSIGN_OR_RETURN(SandboxConfig cfg, SandboxConfigFor(spec, opts.bundle, global.overlay));
  ASSIGN_OR_RETURN(RefPtr<vfs::MountNamespace> mounts, BuildMounts(cfg));
  // The init's working directory is made if missing, as runc makes it (an exec's must exist).
  RETURN_IF_ERROR(MakeDirs(*mounts, process.cwd));
  ASSIGN_OR_RETURN(std::unique_ptr<platform::Platform> platform,
                   platform::NewPlatform(global.platform));
  auto* kernel = new kernel::Kernel(std::move(platform), mounts);
  kernel->set_syscall_table(&syscalls::Table());
  // --network=host: the container's sockets are host sockets (sentry/socket/hostinet).
  if (global.network == "host") kernel->set_network(sockets::hostinet::NewHostStack());
  kernel->set_id_maps(cfg.uids, cfg.gids);
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
  // master goes to the console socket.
  std::unique_ptr<Console> console;
  RefPtr<vfs::FdTable> stdio;
  if (process.terminal) {
    ASSIGN_OR_RETURN(console, Console::Create({.size = process.console_size, .mounts = mounts.get(),
                                               .uid = process.user.uid}));
    RETURN_IF_ERROR(console->SendToSocket(opts.console_socket));
    ASSIGN_OR_RETURN(stdio, console->TakeStdio());
  } else {
    ASSIGN_OR_RETURN(stdio, HostStdioTable({fcntl(0, F_DUPFD_CLOEXEC, 3),
                                            fcntl(1, F_DUPFD_CLOEXEC, 3),
                                            fcntl(2, F_DUPFD_CLOEXEC, 3)}));
  }
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

  control::Server::ProcessMaker make = [mounts, limits, profile](const control::ExecRequest& req,
                                                        std::vector<FileDescriptor> fds)
      -> absl::StatusOr<kernel::InitProcess> {
    std::unique_ptr<Console> exec_console;
    RefPtr<vfs::FdTable> table;
    if (req.terminal) {
      if (req.console_socket.empty())
        return absl::InvalidArgumentError("a terminal was asked for without a console socket");
      std::optional<spec::ConsoleSize> size;
      if (req.console_height || req.console_width)
        size = spec::ConsoleSize{req.console_height, req.console_width};
      ASSIGN_OR_RETURN(exec_console,
                       Console::Create({.size = size, .mounts = mounts.get(), .uid = req.uid}));
      RETURN_IF_ERROR(exec_console->SendToSocket(req.console_socket));
      ASSIGN_OR_RETURN(table, exec_console->TakeStdio());
    } else {
      std::vector<int> raw;
      for (FileDescriptor& fd : fds) raw.push_back(fd.Release());
      ASSIGN_OR_RETURN(table, HostStdioTable(raw));
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
  ASSIGN_OR_RETURN(std::unique_ptr<control::Server> server,
                   control::Server::Listen(dir.control_path(), kernel, std::move(make), getuid()));
  server->Start();
  server.release();  // serves until the process exits
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
  absl::StatusOr<kernel::Kernel*> kernel = Setup(opts, global, dir);
  if (!kernel.ok()) {
    WriteAll(opts.ready_fd, std::string(kernel.status().message()));
    return 1;
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

  int status = (*kernel)->Wait();
  // Recorded before this process ends, so that whoever sees it gone also sees how init ended.
  absl::Status written = WriteFileAtomic(dir.exit_path(), fmt::format("{}", status), 0600);
  if (!written.ok()) LOG_ERROR("recording the exit status: {}", std::string(written.message()));
  ExitLike(status);
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
  return [opts, &global]() { return RunBoot(*opts, global); };
}

}  // namespace moat::runsc
