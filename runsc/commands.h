// The runsc subcommands. Each file registers one subcommand on the command table in main.cc.
#ifndef MOAT_RUNSC_COMMANDS_H_
#define MOAT_RUNSC_COMMANDS_H_

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace moat::runsc {

// Options that every subcommand sees (runc's global flags, plus ours).
struct GlobalOptions {
  std::string root = "/run/runsc";  // state directory
  std::string log;
  std::string log_format = "text";
  bool debug = false;
  bool strace = false;
  std::string platform = "ptrace";
};

// A subcommand: registers its flags on `app` and returns what runs it (an exit status).
using CommandRunner = std::function<int()>;
CommandRunner RegisterDo(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterGofer(CLI::App& app, const GlobalOptions& global);
CommandRunner RegisterSyscalls(CLI::App& app, const GlobalOptions& global);

}  // namespace moat::runsc

#endif  // MOAT_RUNSC_COMMANDS_H_
