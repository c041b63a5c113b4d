// runsc ps: the processes of a container. With --format json, their host pids (what engines
// read, as from runc); as a table, the host's `ps` output for those pids (`runsc ps ID -- -o
// pid,cmd` passes ps its arguments, as runc does).
#include <stdio.h>

#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/control.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {
namespace {

absl::StatusOr<std::vector<control::ProcessInfo>> Processes(const GlobalOptions& global,
                                                            const std::string& id) {
  absl::StatusOr<Loaded> l = LoadContainer(global, id);
  if (!l.ok()) return l.status();
  if (l->status == "stopped") return std::vector<control::ProcessInfo>{};
  ContainerDir dir(global.root, id);
  absl::StatusOr<control::ProcessesRequest::Reply> r =
      control::Call(dir.control_path(), control::ProcessesRequest{});
  if (!r.ok()) return r.status();
  return r->processes;
}

// Runs the host's ps with `args` and prints its header and the lines of `pids`.
absl::Status PrintPsTable(const std::vector<std::string>& args, const std::set<int>& pids) {
  std::string cmd = "ps";
  for (const std::string& a : args) {
    cmd += " '";
    for (char c : a) cmd += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += "'";
  }
  FILE* ps = popen(cmd.c_str(), "r");
  if (!ps) return absl::InternalError("running ps");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), ps)) > 0) out.append(buf, n);
  int status = pclose(ps);
  if (status != 0) return absl::InternalError(fmt::format("{}: exit status {}", cmd, status));
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  if (lines.empty()) return absl::InternalError(fmt::format("{} printed nothing", cmd));
  std::vector<std::string> header = absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  size_t pid_col = header.size();
  for (size_t i = 0; i < header.size(); i++) {
    if (header[i] == "PID") pid_col = i;
  }
  if (pid_col == header.size())
    return absl::InvalidArgumentError("the ps arguments give no PID column");
  std::printf("%s\n", lines[0].c_str());
  for (size_t i = 1; i < lines.size(); i++) {
    std::vector<std::string> f = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    int pid;
    if (pid_col < f.size() && absl::SimpleAtoi(f[pid_col], &pid) && pids.count(pid))
      std::printf("%s\n", lines[i].c_str());
  }
  return absl::OkStatus();
}

}  // namespace

CommandRunner RegisterPs(CLI::App& app, const GlobalOptions& global) {
  auto id = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  auto args = std::make_shared<std::vector<std::string>>();
  CLI::App* sub = app.add_subcommand("ps", "list the processes of a container");
  sub->add_option("id", *id, "the container id")->required();
  sub->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  sub->add_option("ps-args", *args, "arguments for ps (default -ef)");
  sub->positionals_at_end();
  return [id, format, args, &global]() {
    absl::StatusOr<std::vector<control::ProcessInfo>> procs = Processes(global, *id);
    if (!procs.ok()) return ReportError("ps", procs.status());
    std::vector<pid_t> pids;
    for (const control::ProcessInfo& p : *procs) pids.push_back(p.host_pid);
    if (*format == "json") {
      std::printf("%s\n", spec::PidsJson(pids).c_str());
      return 0;
    }
    absl::Status s = PrintPsTable(args->empty() ? std::vector<std::string>{"-ef"} : *args,
                                  std::set<int>(pids.begin(), pids.end()));
    return s.ok() ? 0 : ReportError("ps", s);
  };
}

}  // namespace moat::runsc
