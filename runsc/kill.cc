// runsc kill: sends a signal to a container's init, or with --all to every process in it.
#include <signal.h>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {

CommandRunner RegisterKill(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  auto sig = std::make_shared<std::string>("SIGTERM");
  auto all = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("kill", "send a signal to a container's processes");
  sub->add_option("id", *id, "the container id")->required();
  sub->add_option("signal", *sig, "a signal name (TERM, SIGKILL) or number (default SIGTERM)");
  sub->add_flag("-a,--all", *all, "send it to every process of the container");
  return [id, sig, all, &global]() {
    absl::StatusOr<int> signo = ParseSignal(*sig);
    if (!signo.ok()) return ReportError("kill", signo.status());
    absl::Status s = ValidateId(*id);
    if (!s.ok()) return ReportError("kill", s);
    ContainerDir dir(global.root, *id);
    s = dir.Lock();
    if (!s.ok()) return ReportError("kill", s);
    absl::StatusOr<spec::Record> r = dir.Load();
    if (!r.ok()) return ReportError("kill", r.status());
    std::string status = CurrentStatus(dir, *r);
    if (status == "stopped") {
      // As runc: --all on a stopped container has nothing left to signal (a sandbox's processes
      // end with its init); otherwise runc's words, which engines match to learn that the
      // process is gone ("container not running").
      if (*all) return 0;
      return ReportError("kill", absl::FailedPreconditionError(fmt::format(
                                     "container \"{}\": container not running", *id)));
    }
    s = RequireStatus(*id, status, "created|running|paused", "kill");
    if (!s.ok()) return ReportError("kill", s);
    absl::StatusOr<control::Empty> sent = control::Call(
        dir.control_path(), control::SignalRequest{.signo = *signo, .all = *all ? uint8_t{1} : uint8_t{0}});
    if (!sent.ok()) {
      // The signal may end the sandbox before it answers (SIGKILL to init, or to every process
      // with --all): the container having stopped is the answer. The sandbox records init's
      // exit before it ends, so it reads as stopped by the time its socket is closed.
      if (absl::IsUnavailable(sent.status()) && CurrentStatus(dir, *r) == "stopped") return 0;
      return ReportError("kill", sent.status());
    }
    return 0;
  };
}

}  // namespace moat::runsc
