#include "sentry/fsimpl/cgroupfs.h"

#include "absl/strings/str_cat.h"
#include "sentry/fsimpl/synthetic.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"

namespace moat::fsimpl {
namespace {

using kernel::Task;
using synthetic::DataFile;
using synthetic::FileOps;
using synthetic::InodeNumber;
using synthetic::StaticDir;

constexpr std::string_view kFs = "cgroup2";

std::string MaxOr(const std::optional<int64_t>& v) {
  return v && *v >= 0 ? absl::StrCat(*v, "\n") : std::string("max\n");
}

}  // namespace

RefPtr<vfs::Dentry> NewCgroupfs(const CgroupLimits& limits) {
  const uint64_t dev = vfs::NewAnonDev();
  auto root = MakeRef<StaticDir>(dev, InodeNumber(kFs, ""), 0755);
  // Read-only, root-owned files as a container sees its namespace's root cgroup: the interface
  // files there are root's, and writing them needs the host.
  auto file = [&](const std::string& name, synthetic::ReadFn read) {
    FileOps ops;
    ops.read = std::move(read);
    root->Add(name, MakeRef<DataFile>(dev, InodeNumber(kFs, name), 0444, std::move(ops)));
  };
  auto fixed = [&](const std::string& name, std::string content) {
    file(name, [content = std::move(content)](Task*) -> Result<std::string> { return content; });
  };
  fixed("cgroup.controllers", "cpu memory pids\n");
  fixed("cgroup.subtree_control", "\n");
  fixed("cgroup.type", "domain\n");
  fixed("cgroup.max.depth", "max\n");
  fixed("cgroup.max.descendants", "max\n");
  file("cgroup.procs", [](Task* reader) -> Result<std::string> {
    if (!reader) return std::string();
    std::string out;
    for (const kernel::ProcessInfo& p : reader->kernel().Processes()) absl::StrAppend(&out, p.pid, "\n");
    return out;
  });
  fixed("pids.max", MaxOr(limits.pids_max));
  file("pids.current", [](Task* reader) -> Result<std::string> {
    if (!reader) return std::string("0\n");
    return absl::StrCat(reader->kernel().Stats().tasks, "\n");
  });
  fixed("memory.max", MaxOr(limits.memory_max));
  file("memory.current", [](Task* reader) -> Result<std::string> {
    if (!reader) return std::string("0\n");
    return absl::StrCat(reader->kernel().Stats().rss_bytes, "\n");
  });
  fixed("cpu.max", absl::StrCat(limits.cpu_quota && *limits.cpu_quota > 0
                                    ? absl::StrCat(*limits.cpu_quota)
                                    : std::string("max"),
                                " ", limits.cpu_period, "\n"));
  fixed("cpu.weight", absl::StrCat(limits.cpu_weight.value_or(100), "\n"));
  return MakeRef<vfs::Dentry>(nullptr, "", std::move(root));
}

}  // namespace moat::fsimpl
