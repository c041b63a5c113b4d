// runsc run: create, start, and (unless --detach) wait for the container, forwarding signals to
// it, then delete it; the exit status is the container's (128+N if signal N ended it).
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/console.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {
namespace {

struct RunOptions {
  CreateOptions create;
  bool detach = false;
  bool keep = false;
};

// Whether the bundle's config asks for a terminal (a config that cannot be read is left for
// create to report).
bool WantsTerminal(const std::string& bundle) {
  absl::StatusOr<spec::Spec> spec = spec::LoadBundle(bundle);
  return spec.ok() && spec->process && spec->process->terminal;
}

int RunRun(const RunOptions& o, const GlobalOptions& global) {
  // Checked before this process opens fds of its own, which could take a closed one's number.
  absl::Status fds_ok = CheckPreservedFds(o.create.preserve_fds);
  if (!fds_ok.ok()) return ReportError("run", fds_ok);
  sigset_t forward;
  sigemptyset(&forward);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT})
    sigaddset(&forward, sig);
  if (!o.detach) pthread_sigmask(SIG_BLOCK, &forward, nullptr);

  // A terminal without a console socket: ours, relayed to our own stdio, as runc does.
  CreateOptions create = o.create;
  std::unique_ptr<ConsoleSocket> own;
  if (create.console_socket.empty() && !o.detach && WantsTerminal(create.bundle)) {
    absl::StatusOr<std::unique_ptr<ConsoleSocket>> cs = ConsoleSocket::Listen();
    if (!cs.ok()) return ReportError("run", cs.status());
    own = std::move(*cs);
    create.console_socket = own->path();
  }
  absl::StatusOr<pid_t> boot = CreateContainer(global, create);
  if (!boot.ok()) return ReportError("run", boot.status());
  std::thread relay;
  if (own) {
    absl::StatusOr<FileDescriptor> master = own->Receive();
    if (!master.ok()) {
      absl::Status deleted = DeleteContainer(global, o.create.id, true);
      if (!deleted.ok()) ReportError("run", deleted);
      return ReportError("run", master.status());
    }
    relay = std::thread([m = std::move(*master)] { (void)RelayTerminal(m.get()); });
  }
  absl::Status started = StartContainer(global, o.create.id);
  if (!started.ok()) {
    absl::Status deleted = DeleteContainer(global, o.create.id, true);
    if (!deleted.ok()) ReportError("run", deleted);
    return ReportError("run", started);
  }
  if (o.detach) return 0;

  ContainerDir dir(global.root, o.create.id);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(*boot, &status, WNOHANG);
    if (w == *boot) break;
    if (w < 0 && errno != EINTR) {
      status = 255 << 8;
      break;
    }
    timespec tick{0, 20'000'000};
    int sig = sigtimedwait(&forward, nullptr, &tick);
    if (sig > 0) (void)control::Call(dir.control_path(), control::SignalRequest{.signo = sig});
  }
  if (relay.joinable()) relay.join();
  if (!o.keep) {
    absl::Status deleted = DeleteContainer(global, o.create.id, true);
    if (!deleted.ok()) ReportError("run", deleted);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

CommandRunner RegisterRun(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "create and start a container, and wait for it");
  sub->add_option("id", o->create.id, "the container id")->required();
  sub->add_option("-b,--bundle", o->create.bundle, "the bundle directory (default: the current one)");
  sub->add_option("--console-socket", o->create.console_socket,
                  "unix socket to which the container's terminal master is sent");
  sub->add_option("--pid-file", o->create.pid_file, "file to write the container's pid to");
  sub->add_flag("-d,--detach", o->detach, "return once the container has started");
  sub->add_flag("--keep", o->keep, "do not delete the container after it exits");
  sub->add_option("--preserve-fds", o->create.preserve_fds, kPreserveFdsHelp);
  sub->add_flag("--no-pivot")->description("(no effect: the sandbox has its own root)");
  sub->add_flag("--no-new-keyring")->description("(no effect: keyrings are not shared with the host)");
  return [o, &global]() { return RunRun(*o, global); };
}

}  // namespace moat::runsc
