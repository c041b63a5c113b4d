// runsc exec: runs a new process in a running container, as `runc exec` does. The process is
// described by --process (a process.json) or by the config's process with the command line's
// arguments and flags over it. runsc exec waits for it and exits with its status; with
// --detach a small waiter process of ours does that instead, and --pid-file names the waiter,
// whose end engines take for the process's.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/wire.h"
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/console.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"
#include "runsc/oci.h"

namespace moat::runsc {
namespace {

struct ExecOptions {
  std::string id;
  std::vector<std::string> args;
  std::string process_file;
  bool tty = false;
  std::string console_socket;
  bool detach = false;
  std::string pid_file;
  std::string cwd;
  std::vector<std::string> env;
  std::string user;
  std::vector<std::string> additional_gids;
  std::vector<std::string> caps;
  bool no_new_privs = false;
  bool ignore_paused = false;
  int preserve_fds = 0;  // the caller's fds 3 and on that the process gets as its own
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoStatus(fmt::format("open {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The process to run: --process, or the config's process with the flags applied.
absl::StatusOr<spec::Process> BuildProcess(const ExecOptions& o, const spec::Record& r) {
  if (!o.process_file.empty()) {
    ASSIGN_OR_RETURN(std::string json, ReadFile(o.process_file));
    absl::StatusOr<spec::Process> p = spec::ParseProcess(json);
    if (!p.ok()) return absl::InvalidArgumentError(fmt::format("{}: {}", o.process_file, std::string(p.status().message())));
    return p;
  }
  if (o.args.empty()) return absl::InvalidArgumentError("no command given (and no --process)");
  ASSIGN_OR_RETURN(std::string json, ReadFile(r.config_json_path));
  absl::StatusOr<spec::Spec> spec = spec::ParseSpec(json);
  if (!spec.ok()) return absl::InvalidArgumentError(fmt::format("{}: {}", r.config_json_path, std::string(spec.status().message())));
  spec::Process p = spec->process.value_or(spec::Process{});
  p.args = o.args;
  p.terminal = o.tty;
  p.console_size.reset();
  if (!o.cwd.empty()) p.cwd = o.cwd;
  for (const std::string& e : o.env) {
    std::string name = e.substr(0, e.find('='));
    std::erase_if(p.env, [&](const std::string& old) { return old.substr(0, old.find('=')) == name; });
    p.env.push_back(e);
  }
  if (!o.user.empty()) {
    std::vector<std::string> ids = absl::StrSplit(o.user, ':');
    uint32_t uid = 0, gid = 0;
    if (ids.size() > 2 || !absl::SimpleAtoi(ids[0], &uid) ||
        (ids.size() == 2 && !absl::SimpleAtoi(ids[1], &gid)))
      return absl::InvalidArgumentError(fmt::format("--user {}: want UID[:GID]", o.user));
    p.user.uid = uid;
    p.user.gid = gid;
  }
  for (const std::string& g : o.additional_gids) {
    uint32_t gid;
    if (!absl::SimpleAtoi(g, &gid))
      return absl::InvalidArgumentError(fmt::format("--additional-gids {}: not a number", g));
    p.user.additional_gids.push_back(gid);
  }
  for (const std::string& c : o.caps) {
    ASSIGN_OR_RETURN(int cap, spec::CapabilityNumber(c));
    if (!p.capabilities) p.capabilities = spec::Capabilities{};
    uint64_t bit = uint64_t{1} << cap;
    p.capabilities->bounding |= bit;
    p.capabilities->effective |= bit;
    p.capabilities->permitted |= bit;
    p.capabilities->inheritable |= bit;
  }
  if (o.no_new_privs) p.no_new_privileges = true;
  return p;
}

// Asks the sandbox to start `p` with this process's stdio, or with a terminal whose master goes
// to `console_socket`, and this process's fds 3 to 2 + `preserve_fds`; returns its pid in the
// sandbox.
absl::StatusOr<int32_t> StartProcess(const ContainerDir& dir, const spec::Process& p,
                                     const std::string& console_socket, int preserve_fds) {
  control::ExecRequest req = ExecRequestFor(p);
  req.console_socket = console_socket;
  std::vector<int> preserved;
  for (int fd = 3; fd < 3 + preserve_fds; fd++) preserved.push_back(fd);
  if (!p.terminal) {
    std::vector<int> fds{0, 1, 2};
    fds.insert(fds.end(), preserved.begin(), preserved.end());
    absl::StatusOr<control::ExecRequest::Reply> r = control::Call(dir.control_path(), req, fds);
    if (!r.ok()) return r.status();
    return r->pid;
  }
  // The sentry opens no host path (runsc/confine.h): the host side of the terminal is opened
  // here, its master sent to the engine, and its replica passed on with the request.
  ASSIGN_OR_RETURN(HostTerminal t, OpenHostTerminal());
  RETURN_IF_ERROR(SendMasterToSocket(t.master, console_socket));
  std::vector<int> fds{t.replica.get()};
  fds.insert(fds.end(), preserved.begin(), preserved.end());
  absl::StatusOr<control::ExecRequest::Reply> r = control::Call(dir.control_path(), req, fds);
  if (!r.ok()) return r.status();
  return r->pid;
}

// Waits for sandbox process `pid` while passing on the signals this process receives. With
// `stands_for_it` (the detached waiter, whose pid engines take for the process's), the sandbox
// kills the process if this one dies first: a SIGKILL to the waiter reaches the process.
absl::StatusOr<int> WaitForwarding(const ContainerDir& dir, int32_t pid, bool stands_for_it) {
  sigset_t forward;
  sigemptyset(&forward);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT})
    sigaddset(&forward, sig);
  pthread_sigmask(SIG_BLOCK, &forward, nullptr);
  std::atomic<bool> done{false};
  absl::StatusOr<control::WaitStatusReply> result;
  std::thread waiter([&] {
    result = control::Call(dir.control_path(),
                           control::WaitPidRequest{.pid = pid, .kill_on_hangup = stands_for_it});
    done = true;
  });
  while (!done) {
    timespec tick{0, 50'000'000};
    int sig = sigtimedwait(&forward, nullptr, &tick);
    if (sig > 0) (void)control::Call(dir.control_path(), control::SignalRequest{.pid = pid, .signo = sig});
  }
  waiter.join();
  if (!result.ok()) return result.status();
  return result->status;
}

int RunExec(const ExecOptions& o, const GlobalOptions& global) {
  absl::Status s = ValidateId(o.id);
  if (s.ok()) s = CheckPreservedFds(o.preserve_fds);
  // The fds go with the request, with the stdio, in one message.
  if (s.ok() && o.preserve_fds > static_cast<int>(wire::kMaxFds) - 3)
    s = absl::InvalidArgumentError(fmt::format("--preserve-fds {}: exec passes at most {} fds",
                                               o.preserve_fds, wire::kMaxFds - 3));
  if (!s.ok()) return ReportError("exec", s);
  ContainerDir dir(global.root, o.id);
  absl::StatusOr<spec::Record> r = dir.Load();
  if (!r.ok()) return ReportError("exec", r.status());
  s = RequireStatus(o.id, CurrentStatus(dir, *r),
                    o.ignore_paused ? "created|running|paused" : "created|running", "exec in");
  if (!s.ok()) return ReportError("exec", s);
  absl::StatusOr<spec::Process> p = BuildProcess(o, *r);
  if (!p.ok()) return ReportError("exec", p.status());

  if (p->terminal && o.console_socket.empty() && o.detach)
    return ReportError("exec", absl::InvalidArgumentError(
                                   "--tty with --detach needs --console-socket to send the terminal to"));
  if (!o.detach) {
    // A terminal without a console socket: ours, relayed to our own stdio.
    std::unique_ptr<ConsoleSocket> own;
    std::string console_socket = o.console_socket;
    if (p->terminal && console_socket.empty()) {
      absl::StatusOr<std::unique_ptr<ConsoleSocket>> cs = ConsoleSocket::Listen();
      if (!cs.ok()) return ReportError("exec", cs.status());
      own = std::move(*cs);
      console_socket = own->path();
    }
    absl::StatusOr<int32_t> pid = StartProcess(dir, *p, console_socket, o.preserve_fds);
    if (!pid.ok()) return ReportError("exec", pid.status());
    std::thread relay;
    if (own) {
      absl::StatusOr<FileDescriptor> master = own->Receive();
      if (!master.ok()) return ReportError("exec", master.status());
      relay = std::thread([m = std::move(*master)] { (void)RelayTerminal(m.get()); });
    }
    absl::StatusOr<int> status = WaitForwarding(dir, *pid, /*stands_for_it=*/false);
    if (relay.joinable()) relay.join();
    if (!status.ok()) return ReportError("exec", status.status());
    return WIFSIGNALED(*status) ? 128 + WTERMSIG(*status) : WEXITSTATUS(*status);
  }

  // Detached: a waiter of ours stands for the process. It reports the start on a pipe.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return ReportError("exec", ErrnoStatus("pipe2"));
  FileDescriptor report_r(fds[0]), report_w(fds[1]);
  pid_t waiter = fork();
  if (waiter < 0) return ReportError("exec", ErrnoStatus("fork"));
  if (waiter == 0) {
    report_r.Reset();
    setsid();
    absl::StatusOr<int32_t> pid = StartProcess(dir, *p, o.console_socket, o.preserve_fds);
    std::string report = pid.ok() ? "ok" : std::string(pid.status().message());
    (void)!write(report_w.get(), report.data(), report.size());
    report_w.Reset();
    if (!pid.ok()) _exit(1);
    // The process has its own copies of the stdio; ours must not keep an engine's pipes open.
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; fd++) dup2(null, fd);
    for (int fd = 3; fd < 3 + o.preserve_fds; fd++) close(fd);
    absl::StatusOr<int> status = WaitForwarding(dir, *pid, /*stands_for_it=*/true);
    // The sandbox ended first (its init exited or it was killed): the process went with it, as
    // a container's processes are killed when its init exits.
    if (!status.ok()) ExitLike(absl::IsUnavailable(status.status()) ? SIGKILL : 255 << 8);
    ExitLike(*status);
  }
  report_w.Reset();
  std::string report;
  char buf[4096];
  ssize_t n;
  while ((n = read(report_r.get(), buf, sizeof(buf))) > 0) report.append(buf, n);
  if (report != "ok") {
    waitpid(waiter, nullptr, 0);
    return ReportError("exec", absl::FailedPreconditionError(
                                   report.empty() ? "the exec waiter died" : report));
  }
  if (!o.pid_file.empty()) {
    s = WritePidFile(o.pid_file, waiter);
    if (!s.ok()) return ReportError("exec", s);
  }
  return 0;
}

}  // namespace

CommandRunner RegisterExec(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<ExecOptions>();
  CLI::App* sub = app.add_subcommand("exec", "run a new process in a running container");
  sub->add_option("id", o->id, "the container id")->required();
  sub->add_option("command", o->args, "the command and its arguments");
  sub->add_option("-p,--process", o->process_file, "a process.json describing the process");
  sub->add_flag("-t,--tty", o->tty, "give the process a terminal");
  sub->add_option("--console-socket", o->console_socket, "unix socket to send the terminal to");
  sub->add_flag("-d,--detach", o->detach, "do not wait for the process");
  sub->add_option("--pid-file", o->pid_file, "file to write the process's pid to");
  sub->add_option("--cwd", o->cwd, "working directory in the container");
  sub->add_option("-e,--env", o->env, "NAME=value to set in its environment; repeatable");
  sub->add_option("-u,--user", o->user, "UID[:GID] to run as");
  sub->add_option("-g,--additional-gids", o->additional_gids, "supplementary group; repeatable");
  sub->add_option("-c,--cap", o->caps, "a capability to add; repeatable");
  sub->add_flag("--no-new-privs", o->no_new_privs, "set no_new_privs for the process");
  sub->add_flag("--ignore-paused", o->ignore_paused, "exec even if the container is paused");
  sub->add_option("--apparmor")->description("(no effect)");
  sub->add_option("--process-label")->description("(no effect)");
  sub->add_option("--preserve-fds", o->preserve_fds,
                  "pass the caller's fds 3 to 3+N-1 on to the process, as its own");
  sub->add_option("--cgroup")->description("(no effect: the sandbox has one cgroup)");
  sub->positionals_at_end();
  return [o, &global]() { return RunExec(*o, global); };
}

}  // namespace moat::runsc
