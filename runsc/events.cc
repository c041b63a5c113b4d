// runsc events: the container's resource usage as runc prints it: once with --stats, otherwise
// a "stats" event every --interval until the container stops.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {
namespace {

// A Go-style duration as runc takes it: "5s", "500ms", "1m", "2h", "1.5s".
absl::StatusOr<std::chrono::milliseconds> ParseInterval(const std::string& s) {
  struct Unit {
    const char* suffix;
    double ms;
  };
  for (Unit u : {Unit{"ms", 1}, Unit{"s", 1000}, Unit{"m", 60000}, Unit{"h", 3600000}}) {
    if (!s.ends_with(u.suffix)) continue;
    double n;
    if (!absl::SimpleAtod(s.substr(0, s.size() - std::strlen(u.suffix)), &n) || n <= 0) break;
    return std::chrono::milliseconds(static_cast<int64_t>(n * u.ms));
  }
  return absl::InvalidArgumentError(fmt::format("--interval {}: want a duration like 5s", s));
}

absl::StatusOr<spec::Stats> Collect(const ContainerDir& dir) {
  absl::StatusOr<control::StatsRequest::Reply> r =
      control::Call(dir.control_path(), control::StatsRequest{});
  if (!r.ok()) return r.status();
  spec::Stats s{};
  s.cpu_user_ns = r->cpu_user_ns;
  s.cpu_kernel_ns = r->cpu_system_ns;
  s.cpu_total_ns = r->cpu_user_ns + r->cpu_system_ns;
  s.memory_usage = r->rss_bytes;
  s.pids_current = r->tasks;
  return s;
}

}  // namespace

CommandRunner RegisterEvents(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  auto stats_once = std::make_shared<bool>(false);
  auto interval = std::make_shared<std::string>("5s");
  CLI::App* sub = app.add_subcommand("events", "print a container's resource usage");
  sub->add_option("id", *id, "the container id")->required();
  sub->add_flag("--stats", *stats_once, "print the usage once and exit");
  sub->add_option("--interval", *interval, "time between stats events (default 5s)");
  return [id, stats_once, interval, &global]() {
    absl::StatusOr<std::chrono::milliseconds> every = ParseInterval(*interval);
    if (!every.ok()) return ReportError("events", every.status());
    ContainerDir dir(global.root, *id);
    for (;;) {
      absl::StatusOr<Loaded> l = LoadContainer(global, *id);
      if (!l.ok()) return ReportError("events", l.status());
      if (l->status == "stopped") {
        if (*stats_once)
          return ReportError("events", absl::FailedPreconditionError(
                                           fmt::format("container \"{}\" is stopped", *id)));
        return 0;
      }
      absl::StatusOr<spec::Stats> s = Collect(dir);
      if (!s.ok()) return ReportError("events", s.status());
      std::printf("%s\n", spec::EventJson("stats", *id, &*s).c_str());
      std::fflush(stdout);
      if (*stats_once) return 0;
      std::this_thread::sleep_for(*every);
    }
  };
}

}  // namespace moat::runsc
