// The runsc subcommands. Each file registers one subcommand on the command table in main.cc.
#ifndef MOAT_RUNSC_COMMANDS_H_
#define MOAT_RUNSC_COMMANDS_H_

#include <functional>
#include <string_view>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace moat::runsc {

// Options that every subcommand sees (runc's global flags, plus ours).
struct GlobalOptions {
  std::string root = "/run/runsc";  // state directory
  std::string log;
  std::string log_format = "text";
  bool debug = false;
  bool strace = false;
  std::string platform = "seccomp_trap";
  std::string network = "sandbox";  // none, sandbox or host
  bool overlay = true;              // writes to the root stay in memory
  bool systemd_cgroup = false;      // linux.cgroupsPath is "slice:prefix:name"
  std::string rootless = "auto";  // accepted for runc compatibility
};

// The global flags to hand on to another runsc process (runsc boot).
std::vector<std::string> GlobalArgs(const GlobalOptions& g);

// A subcommand: registers its flags on `app` and returns what runs it (an exit status).
using CommandRunner = std::function<int()>;
// Reports a failed command: on stderr, and in the --log file (where engines look for it).
// Returns runc's exit status for a failure, 1.
int ReportError(std::string_view command, const absl::Status& s);

CommandRunner RegisterBoot(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterCreate(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterDelete(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterDo(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterEvents(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterExec(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterFeatures(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterKill(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterList(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterPause(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterPs(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterResume(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterRun(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterSpec(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterStart(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterState(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterWait(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterGofer(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterSyscalls(CLI::App& app, const GlobalOptions& global);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_COMMANDS_H_
