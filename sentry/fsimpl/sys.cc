#include "sentry/fsimpl/sys.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "base/host_proc.h"
#include "sentry/fsimpl/synthetic.h"

namespace moat::fsimpl {
namespace {

using synthetic::InodeNumber;
using synthetic::StaticDir;
using synthetic::StaticFile;

constexpr std::string_view kFs = "sysfs";

// A CPU list as the kernel prints it ("0", "0-3"), with its newline.
std::string CpuRange(int first, int last) {
  return first == last ? absl::StrCat(first, "\n") : absl::StrCat(first, "-", last, "\n");
}

class SysBuilder {
 public:
  explicit SysBuilder(uint64_t dev) : dev_(dev) {}

  RefPtr<StaticDir> Dir(const RefPtr<StaticDir>& parent, const std::string& parent_key,
                        const std::string& name) {
    return parent->Subdir(name, kFs, parent_key + "/" + name, 0755);
  }
  void File(const RefPtr<StaticDir>& dir, const std::string& dir_key, const std::string& name,
            std::string content) {
    dir->Add(name, StaticFile(dev_, InodeNumber(kFs, dir_key + "/" + name), std::move(content)));
  }

 private:
  uint64_t dev_;
};

}  // namespace

RefPtr<vfs::Dentry> NewSysfs(int cpus) {
  if (cpus <= 0) cpus = hostproc::ConfiguredCpus();
  const uint64_t dev = vfs::NewAnonDev();
  auto root = MakeRef<StaticDir>(dev, InodeNumber(kFs, ""), 0755);
  SysBuilder b(dev);

  // /sys/devices/system/cpu: the lists, and one directory per CPU with its topology (one core
  // per CPU, one package), what lscpu and the C libraries read.
  auto devices = b.Dir(root, "", "devices");
  auto system = b.Dir(devices, "/devices", "system");
  const std::string cpu_key = "/devices/system/cpu";
  auto cpu = b.Dir(system, "/devices/system", "cpu");
  const std::string all = CpuRange(0, cpus - 1);
  for (const char* f : {"online", "possible", "present"}) b.File(cpu, cpu_key, f, all);
  b.File(cpu, cpu_key, "offline", "\n");
  b.File(cpu, cpu_key, "kernel_max", absl::StrCat(std::max(cpus, 8192) - 1, "\n"));
  for (int i = 0; i < cpus; i++) {
    std::string name = absl::StrCat("cpu", i);
    std::string key = cpu_key + "/" + name;
    auto c = b.Dir(cpu, cpu_key, name);
    b.File(c, key, "online", "1\n");
    auto topo = b.Dir(c, key, "topology");
    std::string tkey = key + "/topology";
    b.File(topo, tkey, "core_id", absl::StrCat(i, "\n"));
    b.File(topo, tkey, "physical_package_id", "0\n");
    b.File(topo, tkey, "die_id", "0\n");
    b.File(topo, tkey, "core_cpus_list", absl::StrCat(i, "\n"));
    b.File(topo, tkey, "thread_siblings_list", absl::StrCat(i, "\n"));
    b.File(topo, tkey, "core_siblings_list", all);
    b.File(topo, tkey, "package_cpus_list", all);
  }

  // /sys/kernel/mm/transparent_hugepage: the common distribution defaults.
  auto kernel = b.Dir(root, "", "kernel");
  auto mm = b.Dir(kernel, "/kernel", "mm");
  auto thp = b.Dir(mm, "/kernel/mm", "transparent_hugepage");
  const std::string thp_key = "/kernel/mm/transparent_hugepage";
  b.File(thp, thp_key, "enabled", "always [madvise] never\n");
  b.File(thp, thp_key, "defrag", "always defer defer+madvise [madvise] never\n");
  b.File(thp, thp_key, "hpage_pmd_size", "2097152\n");

  // Empty for now: no cgroup controllers, and the network devices belong to the netstack.
  auto fs = b.Dir(root, "", "fs");
  b.Dir(fs, "/fs", "cgroup");
  auto cls = b.Dir(root, "", "class");
  b.Dir(cls, "/class", "net");

  return MakeRef<vfs::Dentry>(nullptr, "", root);
}

}  // namespace moat::fsimpl
