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
  app.add_option("--root", global.root, "directory for container state (default /run/runsc)");
  app.add_option("--log", global.log, "log file (default: stderr)");
  app.add_option("--log-format", global.log_format, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--debug", global.debug, "log at debug level");
  app.add_flag("--strace", global.strace, "log every application syscall");
  app.add_option("--platform", global.platform, "how application code runs: seccomp_trap (the default) or ptrace");
  app.add_option("--network", global.network, "the container's network: none, sandbox or host")
      ->check(CLI::IsMember({"none", "sandbox", "host"}));
  app.add_option("--overlay", global.overlay,
                 "keep writes to the container's root in memory (true) or let them reach the "
                 "bundle's rootfs (false)");
  app.add_flag("--systemd-cgroup", global.systemd_cgroup,
               "linux.cgroupsPath is systemd's slice:prefix:name");
  app.add_option("--rootless", global.rootless, "(accepted for runc compatibility)");
  app.add_option("--criu")->description("(accepted for runc compatibility; checkpointing is not supported)");

  const std::map<std::string, CommandRunner> runners = {
      {"boot", moat::runsc::RegisterBoot(app, global)},
      {"create", moat::runsc::RegisterCreate(app, global)},
      {"delete", moat::runsc::RegisterDelete(app, global)},
      {"do", moat::runsc::RegisterDo(app, global)},
      {"events", moat::runsc::RegisterEvents(app, global)},
      {"exec", moat::runsc::RegisterExec(app, global)},
      {"features", moat::runsc::RegisterFeatures(app, global)},
      {"gofer", moat::runsc::RegisterGofer(app, global)},
      {"kill", moat::runsc::RegisterKill(app, global)},
      {"list", moat::runsc::RegisterList(app, global)},
      {"pause", moat::runsc::RegisterPause(app, global)},
      {"ps", moat::runsc::RegisterPs(app, global)},
      {"resume", moat::runsc::RegisterResume(app, global)},
      {"run", moat::runsc::RegisterRun(app, global)},
      {"spec", moat::runsc::RegisterSpec(app, global)},
      {"start", moat::runsc::RegisterStart(app, global)},
      {"state", moat::runsc::RegisterState(app, global)},
      {"syscalls", moat::runsc::RegisterSyscalls(app, global)},
      {"wait", moat::runsc::RegisterWait(app, global)},
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
  moat::SetLogJson(global.log_format == "json");
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
