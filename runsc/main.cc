// runsc: the command table. Every subcommand lives in its own file.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "base/log.h"
#include "runsc/commands.h"

namespace {

constexpr char kVersion[] = "runsc version 0.1.0 (moat)\nspec: 1.1.0";

}  // namespace

int main(int argc, char** argv) {
  using moat::runsc::CommandRunner;
  moat::runsc::GlobalOptions global;
  CLI::App app{"Moat: an OCI runtime that runs containers in a user-space kernel sandbox", "runsc"};
  app.set_version_flag("-v,--version", kVersion);
  app.require_subcommand(1);
  app.add_option("--root", global.root, "directory for container state");
  app.add_option("--log", global.log, "log file (default: stderr)");
  app.add_option("--log-format", global.log_format, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", global.debug, "log at debug level");
  app.add_flag("--strace", global.strace, "log every application syscall");
  app.add_option("--platform", global.platform, "how application code runs: ptrace");

  const std::map<std::string, CommandRunner> runners = {
      {"do", moat::runsc::RegisterDo(app, global)},
      {"gofer", moat::runsc::RegisterGofer(app, global)},
      {"syscalls", moat::runsc::RegisterSyscalls(app, global)},
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!global.log.empty()) {
    int fd = open(global.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "runsc: open(%s): %m\n", global.log.c_str());
      return 1;
    }
    moat::SetLogFd(fd);
    // A log file gets informational messages too (unsupported syscalls, for instance).
    moat::SetLogLevel(moat::LogLevel::kInfo);
  }
  if (global.debug) moat::SetLogLevel(moat::LogLevel::kDebug);
  if (global.strace) {
    moat::SetStrace(true);
    if (!global.debug) moat::SetLogLevel(moat::LogLevel::kInfo);
  }
  for (auto& [name, run] : runners) {
    if (app.got_subcommand(name)) return run();
  }
  return 1;
}
