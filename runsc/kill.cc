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
    s = RequireStatus(*id, CurrentStatus(dir, *r), "created|running|paused", "kill");
    if (!s.ok()) return ReportError("kill", s);
    absl::StatusOr<control::Empty> sent = control::Call(
        dir.control_path(), control::SignalRequest{.signo = *signo, .all = *all ? uint8_t{1} : uint8_t{0}});
    if (!sent.ok()) return ReportError("kill", sent.status());
    return 0;
  };
}

}  // namespace moat::runsc
