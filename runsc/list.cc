// runsc list: the containers under --root, as a table or (--format json) as runc prints them.
#include <cstdio>

#include "fmt/format.h"
#include "runsc/commands.h"
#include "runsc/container.h"
#include "runsc/lifecycle.h"

namespace moat::runsc {
namespace {

// Prints rows in columns at least 12 wide, 3 spaces apart, as runc's tabwriter does.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); i++) {
      if (width.size() <= i) width.push_back(12);
      width[i] = std::max(width[i], row[i].size() + 3);
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size(), ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace

CommandRunner RegisterList(CLI::App& app, const GlobalOptions& global) {
  auto format = std::make_shared<std::string>("table");
  auto quiet = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("list", "list the containers");
  sub->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  sub->add_flag("-q,--quiet", *quiet, "print only the ids");
  return [format, quiet, &global]() {
    std::vector<spec::State> states;
    for (const std::string& id : ListContainers(global.root)) {
      absl::StatusOr<Loaded> l = LoadContainer(global, id);
      if (l.ok()) states.push_back(l->record.state);  // one being deleted right now is skipped
    }
    if (*quiet) {
      for (const spec::State& s : states) std::printf("%s\n", s.id.c_str());
    } else if (*format == "json") {
      std::printf("%s\n", spec::ListJson(states).c_str());
    } else {
      std::vector<std::vector<std::string>> rows{{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
      for (const spec::State& s : states)
        rows.push_back({s.id, std::to_string(s.pid), s.status, s.bundle, s.created, s.owner});
      PrintTable(rows);
    }
    return 0;
  };
}

}  // namespace moat::runsc
