// runsc events: the container's resource usage as runc prints it: once with --stats, otherwise
// a "stats" event every --interval until the container stops, and an "oom" event whenever the
// cgroup's OOM killer has struck since the last look.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "runsc/cgroup.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"
#include "runsc/oci.h"

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

// The container's usage: the host cgroup's numbers (the whole sandbox: sentry, gofer and
// application), where the host has the controller; the sentry's own count otherwise.
absl::StatusOr<spec::Stats> Collect(const ContainerDir& dir, const spec::Record& r,
                                    uint64_t* oom_kills) {
  absl::StatusOr<control::StatsRequest::Reply> k =
      control::Call(dir.control_path(), control::StatsRequest{});
  if (!k.ok()) return k.status();
  spec::Stats s{};
  s.cpu_user_ns = k->cpu_user_ns;
  s.cpu_kernel_ns = k->cpu_system_ns;
  s.cpu_total_ns = k->cpu_user_ns + k->cpu_system_ns;
  s.memory_usage = k->rss_bytes;
  s.pids_current = k->tasks;
  auto saved = r.extra.find("cgroup");
  if (saved == r.extra.end() || saved->second.empty()) return s;
  absl::StatusOr<cgroup::Host> host = cgroup::Host::Detect();
  if (!host.ok()) return s;
  absl::StatusOr<std::unique_ptr<cgroup::Cgroup>> group = cgroup::Cgroup::Load(*host, saved->second);
  if (!group.ok()) return s;
  absl::StatusOr<cgroup::Stats> c = (*group)->GetStats();
  if (!c.ok()) return s;
  if (c->cpu) {
    s.cpu_total_ns = c->cpu->total_ns;
    s.cpu_user_ns = c->cpu->user_ns;
    s.cpu_kernel_ns = c->cpu->kernel_ns;
    s.percpu_ns = c->cpu->percpu_ns;
  }
  if (c->memory) {
    s.memory_usage = c->memory->usage.usage;
    s.memory_max_usage = c->memory->usage.max_usage;
    s.memory_limit = c->memory->usage.limit;
    s.memory_failcnt = c->memory->usage.failcnt;
    s.swap_usage = c->memory->swap.usage;
    s.swap_limit = c->memory->swap.limit;
    s.memory_raw = c->memory->raw;
    *oom_kills = c->memory->oom_kills;
  }
  if (c->pids) s.pids_limit = ContainerPidsLimit(c->pids->limit);
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
    uint64_t ooms_seen = 0;
    bool first = true;
    for (;;) {
      absl::StatusOr<Loaded> l = LoadContainer(global, *id);
      if (!l.ok()) return ReportError("events", l.status());
      if (l->status == "stopped") {
        if (*stats_once)
          return ReportError("events", absl::FailedPreconditionError(
                                           fmt::format("container \"{}\" is stopped", *id)));
        return 0;
      }
      uint64_t ooms = 0;
      absl::StatusOr<spec::Stats> s = Collect(dir, l->record, &ooms);
      if (!s.ok()) return ReportError("events", s.status());
      // An "oom" event for each kill by the cgroup's OOM killer since the last look.
      if (!*stats_once && !first) {
        for (uint64_t i = ooms_seen; i < ooms; i++)
          std::printf("%s\n", spec::EventJson("oom", *id, nullptr).c_str());
      }
      ooms_seen = ooms;
      first = false;
      std::printf("%s\n", spec::EventJson("stats", *id, &*s).c_str());
      std::fflush(stdout);
      if (*stats_once) return 0;
      std::this_thread::sleep_for(*every);
    }
  };
}

}  // namespace moat::runsc
