// runsc pause and resume: every task of the container stops running, then continues. The
// sentry parks its tasks itself: the sandbox stays responsive to the other commands.
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {
namespace {

template <class Req>
int ChangeState(const GlobalOptions& global, const std::string& id, const char* command,
                const char* from, const char* to) {
  absl::Status s = ValidateId(id);
  if (!s.ok()) return ReportError(command, s);
  ContainerDir dir(global.root, id);
  s = dir.Lock();
  if (!s.ok()) return ReportError(command, s);
  absl::StatusOr<spec::Record> r = dir.Load();
  if (!r.ok()) return ReportError(command, r.status());
  s = RequireStatus(id, CurrentStatus(dir, *r), from, command);
  if (!s.ok()) return ReportError(command, s);
  absl::StatusOr<control::Empty> done = control::Call(dir.control_path(), Req{});
  if (!done.ok()) return ReportError(command, done.status());
  r->state.status = to;
  s = dir.Save(*r);
  return s.ok() ? 0 : ReportError(command, s);
}

}  // namespace

CommandRunner RegisterPause(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("pause", "suspend every process of a container");
  sub->add_option("id", *id, "the container id")->required();
  return [id, &global]() {
    return ChangeState<control::PauseRequest>(global, *id, "pause", "running", "paused");
  };
}

CommandRunner RegisterResume(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("resume", "resume a paused container");
  sub->add_option("id", *id, "the container id")->required();
  return [id, &global]() {
    return ChangeState<control::ResumeRequest>(global, *id, "resume", "paused", "running");
  };
}

}  // namespace moat::runsc
