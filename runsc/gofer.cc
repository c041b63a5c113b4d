// runsc gofer (internal): serves the sandbox's files. Started by the sandbox launcher with one
// SOCK_SEQPACKET socket per mount; each `--serve FD:PATH[:ro]` serves the host directory (or
// file) PATH on the socket FD, on a thread of its own, until the sentry hangs up.
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "gofer/server.h"
#include "runsc/commands.h"
#include "runsc/confine.h"
#include "runsc/gofer_filter.h"

namespace moat::runsc {
namespace {

struct Export {
  int sock;
  std::string path;
  bool readonly;
};

absl::StatusOr<Export> ParseServe(const std::string& arg) {
  std::vector<std::string> parts = absl::StrSplit(arg, absl::MaxSplits(':', 1));
  Export e{};
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &e.sock) || e.sock < 0) {
    return absl::InvalidArgumentError(fmt::format("--serve {}: want FD:PATH[:ro]", arg));
  }
  e.path = parts[1];
  if (e.path.size() > 3 && e.path.ends_with(":ro")) {
    e.path.resize(e.path.size() - 3);
    e.readonly = true;
  }
  return e;
}

// The gofer's confinement (DESIGN.md section 8, layer 3), once it holds its exports' roots and
// its /proc/self/fd: namespaces of its own (mount, with an empty root; ipc, uts; net: the host
// unix sockets of bind mounts are reached by path, which needs none), the capabilities of file
// work only (no CAP_MKNOD: it makes no device node), and its seccomp filter.
absl::Status Confine() {
  if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) < 0)
    return ErrnoStatus("unshare of the gofer's namespaces");
  RETURN_IF_ERROR(PivotToEmptyRoot(/*with_proc=*/false));
  pid_t parent = getppid();
  RETURN_IF_ERROR(DropCapabilities({CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                                    CAP_FSETID}));
  // The capability change cleared the death signal: set again, and check that the parent did
  // not go meanwhile.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  return InstallGoferFilter();
}

int RunGofer(const std::vector<std::string>& serve) {
  prctl(PR_SET_NAME, "runsc-gofer");
  // The gofer goes when its sandbox goes, even if a socket were still open somewhere.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // One host fd per file the sentry holds: allow as many as the host does.
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  // Opened first: reopening a node through its /proc link is how the server avoids lookups by
  // name.
  FileDescriptor proc_self_fd(open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!proc_self_fd.valid()) {
    std::fprintf(stderr, "runsc gofer: open(/proc/self/fd): %m\n");
    return 1;
  }
  std::vector<std::pair<Export, FileDescriptor>> exports;
  for (const std::string& arg : serve) {
    absl::StatusOr<Export> e = ParseServe(arg);
    if (!e.ok()) {
      std::fprintf(stderr, "runsc gofer: %s\n", std::string(e.status().message()).c_str());
      return 2;
    }
    // The mount's source is the sandbox's configuration, not its input: symlinks in it are
    // followed here, once.
    FileDescriptor root(open(e->path.c_str(), O_PATH | O_CLOEXEC));
    if (!root.valid()) {
      std::fprintf(stderr, "runsc gofer: open(%s): %m\n", e->path.c_str());
      return 1;
    }
    exports.emplace_back(*e, std::move(root));
  }
  // From here on the gofer works only through the fds it holds.
  if (absl::Status s = Confine(); !s.ok()) {
    std::fprintf(stderr, "runsc gofer: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::vector<std::thread> threads;
  for (auto& [e, root] : exports) {
    threads.emplace_back([&e, root = std::move(root), proc = proc_self_fd.get()]() mutable {
      gofer::Server server(std::move(root), proc, e.readonly);
      Result<void> r = server.Serve(e.sock);
      if (!r.ok()) LOG_ERROR("gofer: serving {}: {}", e.path, r.error().Name());
      close(e.sock);
    });
  }
  for (std::thread& t : threads) t.join();
  return 0;
}

}  // namespace

CommandRunner RegisterGofer(CLI::App& app, const GlobalOptions&) {
  auto serve = std::make_shared<std::vector<std::string>>();
  CLI::App* sub = app.add_subcommand("gofer", "(internal) serve a sandbox's files");
  sub->group("");  // not listed in --help: engines never call it
  sub->add_option("--serve", *serve, "FD:PATH[:ro]: serve PATH on socket FD")->required();
  return [serve]() { return RunGofer(*serve); };
}

}  // namespace moat::runsc
