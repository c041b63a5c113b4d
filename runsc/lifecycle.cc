#include "runsc/lifecycle.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "fmt/format.h"
#include "runsc/cgroup.h"
#include "runsc/console.h"
#include "runsc/control.h"
#include "runsc/hooks.h"
#include "runsc/oci.h"
#include "runsc/spec/spec.h"

extern char** environ;

namespace moat::runsc {
namespace {

std::string Owner() {
  passwd* pw = getpwuid(getuid());
  return pw ? pw->pw_name : std::to_string(getuid());
}

// The state hooks read on their stdin: on one line, as runc writes it (a shell hook may take it
// with `read`). JSON strings hold no raw newline, so every newline of the indented form and the
// indentation after it go.
std::string HookState(const spec::Record& r, const std::string& status) {
  spec::State s = r.state;
  s.status = status;
  if (status == "stopped") s.pid = 0;  // no process any more, as `state` says of it
  std::string indented = spec::StateJson(s), out;
  for (size_t i = 0; i < indented.size(); i++) {
    if (indented[i] != '\n') {
      out.push_back(indented[i]);
      continue;
    }
    while (i + 1 < indented.size() && indented[i + 1] == ' ') i++;
  }
  return out;
}

// Starts `runsc boot` for the container; it reports the end of its setup on `ready_w` (its
// fd 3) and gets the fds --preserve-fds passes on as its fds 4 and on.
absl::StatusOr<pid_t> SpawnBoot(const GlobalOptions& global, const CreateOptions& opts,
                                const std::string& bundle, const std::string& cgroup,
                                int ready_w) {
  std::vector<std::string> args{"runsc"};
  for (std::string& a : GlobalArgs(global)) args.push_back(std::move(a));
  args.insert(args.end(), {"boot", "--bundle", bundle, "--id", opts.id, "--ready-fd", "3"});
  if (!cgroup.empty()) {
    args.push_back("--cgroup");
    args.push_back(cgroup);
  }
  if (!opts.console_socket.empty()) {
    args.push_back("--console-socket");
    args.push_back(opts.console_socket);
  }
  if (opts.preserve_fds > 0) {
    args.push_back("--preserve-fds");
    args.push_back(fmt::format("{}", opts.preserve_fds));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The child's fds are dup2'ed from copies above the last one it gets, so that no dup2 writes
  // over an fd a later one reads (ready_w may be fd 5, and caller's fd 4 must become fd 5).
  const int first_free = 4 + opts.preserve_fds;
  std::vector<FileDescriptor> sources;  // the child's fds 3, 4 and on
  sources.emplace_back(fcntl(ready_w, F_DUPFD_CLOEXEC, first_free));
  for (int i = 0; i < opts.preserve_fds; i++)
    sources.emplace_back(fcntl(3 + i, F_DUPFD_CLOEXEC, first_free));
  for (const FileDescriptor& fd : sources) {
    if (!fd.valid()) return ErrnoStatus("copying the fds runsc boot gets");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (size_t i = 0; i < sources.size(); i++)
    posix_spawn_file_actions_adddup2(&actions, sources[i].get(), 3 + static_cast<int>(i));
  // The caller's other fds are not the sandbox's (runc passes only stdio and --preserve-fds).
  posix_spawn_file_actions_addclosefrom_np(&actions, first_free);
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoStatus("spawning runsc boot", Errno(err));
  return pid;
}

// Reads what the sandbox process reports at the end of its setup: "ok", or what failed.
absl::Status AwaitReady(int ready_r, pid_t boot) {
  std::string report;
  char buf[4096];
  for (;;) {
    ssize_t n = read(ready_r, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, n);
  }
  if (report == "ok") return absl::OkStatus();
  if (!report.empty()) return absl::FailedPreconditionError(report);
  int status = 0;
  waitpid(boot, &status, 0);
  return absl::InternalError(
      WIFSIGNALED(status)
          ? fmt::format("the sandbox process died of signal {} during setup", WTERMSIG(status))
          : fmt::format("the sandbox process exited with status {} during setup",
                        WEXITSTATUS(status)));
}

// Kills the sandbox process `pid` (if it is still the process that started at `start_time`)
// and waits until it is gone.
void KillSandbox(pid_t pid, int64_t start_time) {
  if (pid <= 0 || ProcessStartTime(pid) != start_time) return;
  kill(pid, SIGKILL);
  for (int i = 0; i < 1000 && ProcessStartTime(pid) == start_time; i++) {
    waitpid(pid, nullptr, WNOHANG);  // ours if we created it
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Waits up to `timeout` for the sandbox process to be gone.
bool AwaitGone(pid_t pid, int64_t start_time, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ProcessStartTime(pid) == start_time) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    waitpid(pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// The config a container was created from, read again (hooks are run by later commands).
absl::StatusOr<spec::Spec> ReadSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoStatus(fmt::format("open {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<spec::Spec> spec = spec::ParseSpec(ss.str());
  if (!spec.ok()) return absl::InvalidArgumentError(fmt::format("{}: {}", path, std::string(spec.status().message())));
  return spec;
}

// Removes the cgroup saved as `saved` (cgroup::Cgroup::path()), once the sandbox process is
// gone. Whatever still runs in it was the sandbox's (runsc boot joined it before it started
// anything) and is killed first, as runc kills what is left in a container's cgroup: a process
// that outlived its sandbox would keep the cgroup busy and run on with no one to end it.
absl::Status DestroyCgroup(const std::string& id, const std::string& saved) {
  ASSIGN_OR_RETURN(cgroup::Host host, cgroup::Host::Detect());
  ASSIGN_OR_RETURN(std::unique_ptr<cgroup::Cgroup> group, cgroup::Cgroup::Load(host, saved));
  // Processes the sandbox's end killed may take a moment to exit; what is left after that was
  // missed.
  for (int round = 0; round < 200; round++) {
    std::vector<pid_t> left = group->Processes();
    if (left.empty()) break;
    if (round < 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (round == 50) {
      std::string names;
      for (pid_t pid : left) {
        std::ifstream comm(fmt::format("/proc/{}/comm", pid));
        std::string name;
        std::getline(comm, name);
        names += fmt::format(" {} ({})", pid, name);
      }
      LOG_WARNING("container {}: processes outlived the sandbox; killing them:{}", id, names);
    }
    for (pid_t pid : left) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return group->Destroy();
}

}  // namespace

std::vector<std::string> GlobalArgs(const GlobalOptions& g) {
  std::vector<std::string> args{"--root", g.root, "--platform", g.platform, "--network", g.network,
                                fmt::format("--overlay={}", g.overlay ? "true" : "false"),
                                "--log-format", g.log_format};
  if (!g.log.empty()) args.insert(args.end(), {"--log", g.log});
  if (g.debug) args.push_back("--debug");
  if (g.strace) args.push_back("--strace");
  return args;
}

absl::Status CheckPreservedFds(int count) {
  if (count < 0)
    return absl::InvalidArgumentError(fmt::format("--preserve-fds {}: not a count of fds", count));
  for (int fd = 3; fd < 3 + count; fd++) {
    if (fcntl(fd, F_GETFD) < 0)
      return absl::InvalidArgumentError(
          fmt::format("--preserve-fds {}: fd {} is not open (it passes on fds 3 to {})", count,
                      fd, 2 + count));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> CreateContainer(const GlobalOptions& global, const CreateOptions& opts) {
  RETURN_IF_ERROR(ValidateId(opts.id));
  char* real = realpath(opts.bundle.c_str(), nullptr);
  if (!real) return ErrnoStatus(fmt::format("bundle {}", opts.bundle));
  std::string bundle = real;
  free(real);
  // Checked before anything is made: a broken config leaves no trace.
  ASSIGN_OR_RETURN(spec::Spec spec, spec::LoadBundle(bundle));

  ContainerDir dir(global.root, opts.id);
  RETURN_IF_ERROR(dir.Create());
  pid_t boot = 0;
  int64_t boot_start = 0;
  std::unique_ptr<cgroup::Cgroup> group;
  auto fail = [&](absl::Status s) -> absl::Status {
    KillSandbox(boot, boot_start);
    if (group) {
      absl::Status destroyed = group->Destroy();
      if (!destroyed.ok()) LOG_ERROR("{}", std::string(destroyed.message()));
    }
    absl::Status removed = dir.Remove();
    if (!removed.ok()) LOG_ERROR("{}", std::string(removed.message()));
    return s;
  };

  // The sandbox's cgroup, with linux.resources applied, exists before the sandbox: runsc boot
  // joins it first, so the gofer and every application process start inside it.
  absl::StatusOr<cgroup::Host> host = cgroup::Host::Detect();
  if (!host.ok()) return fail(host.status());
  absl::StatusOr<std::unique_ptr<cgroup::Cgroup>> made = cgroup::Cgroup::Create(
      *host, {.cgroups_path = spec.linux.cgroups_path, .id = opts.id,
              .systemd = global.systemd_cgroup});
  if (!made.ok()) return fail(made.status());
  // A cgroup that has processes is another container's (the same id under another --root, or
  // the same cgroupsPath): refused, as runc refuses it. Delete kills what is left in the
  // container's cgroup, so it must hold nothing but the sandbox.
  if (std::vector<pid_t> others = (*made)->Processes(); !others.empty()) {
    return fail(absl::FailedPreconditionError(
        fmt::format("the container's cgroup {} is not empty: {} processes (another container's?)",
                    (*made)->directories().front(), others.size())));
  }
  group = std::move(*made);
  if (spec.linux.resources) {
    if (absl::Status s = group->Apply(HostResources(*spec.linux.resources)); !s.ok())
      return fail(absl::Status(s.code(), fmt::format("linux.resources: {}", std::string(s.message()))));
  }

  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return fail(ErrnoStatus("pipe2"));
  FileDescriptor ready_r(p[0]), ready_w(p[1]);
  absl::StatusOr<pid_t> spawned = SpawnBoot(global, opts, bundle, group->path(), ready_w.get());
  if (!spawned.ok()) return fail(spawned.status());
  boot = *spawned;
  boot_start = ProcessStartTime(boot);
  ready_w.Reset();
  if (absl::Status s = AwaitReady(ready_r.get(), boot); !s.ok()) return fail(s);

  spec::Record r;
  r.state.id = opts.id;
  r.state.status = "created";
  r.state.pid = boot;
  r.state.bundle = bundle;
  r.state.rootfs = spec.root.path.starts_with("/") ? spec.root.path : bundle + "/" + spec.root.path;
  r.state.created = NowRfc3339();
  r.state.owner = Owner();
  r.state.annotations = spec.annotations;
  r.boot_start_time = boot_start;
  r.config_json_path = bundle + "/config.json";
  r.extra["cgroup"] = group->path();
  if (absl::Status s = dir.Save(r); !s.ok()) return fail(s);

  // runtime.md: prestart and createRuntime hooks run once the container's environment exists,
  // createContainer hooks before pivot_root. The sandbox's environment is its own, so all run
  // here, on the host, in that order.
  std::string state = HookState(r, "creating");
  for (auto [kind, hooks] : {std::pair{"prestart", &spec.hooks.prestart},
                             {"createRuntime", &spec.hooks.create_runtime},
                             {"createContainer", &spec.hooks.create_container}}) {
    if (absl::Status s = RunHooks(kind, *hooks, state); !s.ok()) return fail(s);
  }
  if (!opts.pid_file.empty()) {
    if (absl::Status s = WritePidFile(opts.pid_file, boot); !s.ok()) return fail(s);
  }
  return boot;
}

absl::Status StartContainer(const GlobalOptions& global, const std::string& id) {
  ContainerDir dir(global.root, id);
  RETURN_IF_ERROR(dir.Lock());
  ASSIGN_OR_RETURN(spec::Record r, dir.Load());
  RETURN_IF_ERROR(RequireStatus(id, CurrentStatus(dir, r), "created", "start"));
  ASSIGN_OR_RETURN(spec::Spec spec, ReadSpec(r.config_json_path));
  // startContainer hooks run before the user's process; in a sandbox, on the host.
  RETURN_IF_ERROR(RunHooks("startContainer", spec.hooks.start_container, HookState(r, "created")));
  ASSIGN_OR_RETURN(control::Empty started, control::Call(dir.control_path(), control::StartRequest{}));
  (void)started;
  r.state.status = "running";
  RETURN_IF_ERROR(dir.Save(r));
  absl::Status post = RunHooks("poststart", spec.hooks.poststart, HookState(r, "running"));
  if (!post.ok()) LOG_WARNING("{}", std::string(post.message()));
  return absl::OkStatus();
}

absl::Status DeleteContainer(const GlobalOptions& global, const std::string& id, bool force) {
  RETURN_IF_ERROR(ValidateId(id));
  ContainerDir dir(global.root, id);
  if (absl::Status locked = dir.Lock(); !locked.ok()) {
    if (absl::IsNotFound(locked) && force) return absl::OkStatus();
    return locked;
  }
  absl::StatusOr<spec::Record> r = dir.Load();
  if (!r.ok()) {
    // A creation that never finished left a directory without state: nothing runs for it.
    if (absl::IsNotFound(r.status())) return dir.Remove();
    return r.status();
  }
  std::string status = CurrentStatus(dir, *r);
  if ((status == "running" || status == "paused") && !force)
    return absl::FailedPreconditionError(
        fmt::format("cannot delete container \"{}\" that is not stopped: {}", id, status));
  if (status != "stopped") {
    absl::StatusOr<control::Empty> killed = control::Call(
        dir.control_path(), control::SignalRequest{.signo = SIGKILL, .all = 1});
    if (!killed.ok()) LOG_WARNING("killing container {}: {}", id, std::string(killed.status().message()));
    if (!AwaitGone(r->state.pid, r->boot_start_time, std::chrono::seconds(10))) {
      LOG_WARNING("container {}: the sandbox did not exit; killing it", id);
      KillSandbox(r->state.pid, r->boot_start_time);
    }
  } else {
    // Stopped: the sandbox may still be finishing (init exited a moment ago).
    if (!AwaitGone(r->state.pid, r->boot_start_time, std::chrono::seconds(10)))
      KillSandbox(r->state.pid, r->boot_start_time);
  }
  absl::StatusOr<spec::Spec> spec = ReadSpec(r->config_json_path);
  if (spec.ok()) {
    absl::Status post = RunHooks("poststop", spec->hooks.poststop, HookState(*r, "stopped"));
    if (!post.ok()) LOG_WARNING("{}", std::string(post.message()));
  } else {
    LOG_WARNING("container {}: poststop hooks not run: {}", id, std::string(spec.status().message()));
  }
  if (auto it = r->extra.find("cgroup"); it != r->extra.end() && !it->second.empty()) {
    absl::Status destroyed = DestroyCgroup(id, it->second);
    if (!destroyed.ok()) LOG_WARNING("container {}: {}", id, std::string(destroyed.message()));
  }
  return dir.Remove();
}

absl::StatusOr<Loaded> LoadContainer(const GlobalOptions& global, const std::string& id) {
  RETURN_IF_ERROR(ValidateId(id));
  ContainerDir dir(global.root, id);
  ASSIGN_OR_RETURN(spec::Record r, dir.Load());
  Loaded l{r, CurrentStatus(dir, r)};
  l.record.state.status = l.status;
  if (l.status == "stopped") l.record.state.pid = 0;
  return l;
}

absl::Status RequireStatus(const std::string& id, const std::string& status,
                           const std::string& allowed, const std::string& action) {
  for (const std::string& a : std::vector<std::string>(absl::StrSplit(allowed, '|'))) {
    if (a == status) return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      fmt::format("cannot {} container \"{}\": it is {}", action, id, status));
}

absl::StatusOr<std::unique_ptr<ConsoleSocket>> ConsoleSocket::Listen() {
  char tmpl[] = "/tmp/runsc-console.XXXXXX";
  if (!mkdtemp(tmpl)) return ErrnoStatus("mkdtemp(/tmp/runsc-console.XXXXXX)");
  auto cs = std::unique_ptr<ConsoleSocket>(new ConsoleSocket());
  cs->dir_ = tmpl;
  cs->path_ = cs->dir_ + "/console.sock";
  cs->sock_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!cs->sock_) return ErrnoStatus("socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, cs->path_.c_str(), cs->path_.size() + 1);
  if (bind(cs->sock_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
      listen(cs->sock_.get(), 1) < 0)
    return ErrnoStatus(fmt::format("listening on {}", cs->path_));
  return cs;
}

ConsoleSocket::~ConsoleSocket() {
  unlink(path_.c_str());
  rmdir(dir_.c_str());
}

absl::StatusOr<FileDescriptor> ConsoleSocket::Receive() {
  pollfd p{sock_.get(), POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, 30000);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return absl::DeadlineExceededError("the sandbox sent no terminal within 30 s");
  FileDescriptor conn(accept4(sock_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return ErrnoStatus(fmt::format("accept on {}", path_));
  return ReceiveTerminal(conn.get());
}

int ReportError(std::string_view command, const absl::Status& s) {
  std::string message(s.message());
  std::fprintf(stderr, "runsc %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               message.c_str());
  if (!LogIsStderr()) LOG_ERROR("{}: {}", command, message);
  return 1;
}

void ExitLike(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    rlimit none{0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);  // a signal that does not end a process (it cannot be: one died of it)
  }
  _exit(WEXITSTATUS(status));
}

absl::StatusOr<int> ParseSignal(const std::string& s) {
  int n;
  if (absl::SimpleAtoi(s, &n)) {
    if (n <= 0 || n >= NSIG) return absl::InvalidArgumentError(fmt::format("invalid signal {}", s));
    return n;
  }
  std::string name = s;
  for (char& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (name.starts_with("SIG")) name = name.substr(3);
  if (name.starts_with("RTMIN") || name.starts_with("RTMAX")) {
    int base = name.starts_with("RTMIN") ? SIGRTMIN : SIGRTMAX;
    std::string rest = name.substr(5);
    int off = 0;
    if (!rest.empty() && !absl::SimpleAtoi(rest, &off))
      return absl::InvalidArgumentError(fmt::format("unknown signal \"{}\"", s));
    int sig = base + off;
    if (sig < SIGRTMIN || sig > SIGRTMAX)
      return absl::InvalidArgumentError(fmt::format("unknown signal \"{}\"", s));
    return sig;
  }
  for (int sig = 1; sig < SIGRTMIN; sig++) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  if (name == "IOT") return SIGABRT;
  if (name == "POLL") return SIGIO;
  return absl::InvalidArgumentError(fmt::format("unknown signal \"{}\"", s));
}

}  // namespace moat::runsc
