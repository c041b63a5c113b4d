// /proc/sys and the system-wide files of /proc (meminfo, cpuinfo, stat, uptime, loadavg,
// filesystems, version, cmdline, devices, swaps). Memory and load figures come from the host's
// sysinfo(2), like the sandbox's sysinfo; process counts and times from the kernel.
#include <linux/capability.h>
#include <sys/random.h>
#include <sys/sysinfo.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "sentry/fsimpl/proc_internal.h"
#include "sentry/kernel/timers.h"

namespace moat::fsimpl::proc {
namespace {

using kernel::Task;
using synthetic::DataFile;
using synthetic::FileOps;
using synthetic::InodeNumber;
using synthetic::StaticDir;

// ---- /proc/sys ----

// A sysctl file. Like Linux's proc_sys_permission, the permission bits bind root too: a file
// without write bits cannot be opened for writing by anyone.
RefPtr<DataFile> Sysctl(const std::string& key, uint32_t perms, synthetic::ReadFn read,
                        synthetic::WriteFn write = nullptr) {
  FileOps ops;
  ops.read = std::move(read);
  ops.write = std::move(write);
  ops.open_check = [perms](Task*, int flags) -> Result<void> {
    if ((flags & O_ACCMODE) != O_RDONLY && !(perms & 0222)) return Errno(EACCES);
    return Ok();
  };
  return MakeRef<DataFile>(Host().dev, InodeNumber(kFs, "sys/" + key), perms, std::move(ops));
}

RefPtr<DataFile> SysctlValue(const std::string& key, std::string value) {
  return Sysctl(key, 0444, [value = std::move(value) + "\n"](Task*) -> Result<std::string> {
    return value;
  });
}

// A parameter of the kernel's Sysctls: read and written there, so that linux.sysctl and the
// container's own writes are what it reads back. Writes need the 0644 root-owned file's write
// permission, as on Linux.
RefPtr<DataFile> StoredSysctl(const std::string& path) {
  return Sysctl(
      path, 0644,
      [path](Task* reader) -> Result<std::string> {
        if (!reader) return Errno(ENOENT);
        return reader->kernel().sysctls().Get(path) + "\n";
      },
      [path](Task& writer, std::string_view data, int64_t offset) -> Result<size_t> {
        if (offset != 0) return data.size();
        TRY(writer.kernel().sysctls().Set(path, data));
        return data.size();
      });
}

// The UTS names: readable by all, writable with CAP_SYS_ADMIN. A write sets the name to what
// was written up to the first newline, at most 64 bytes (proc_dostring).
RefPtr<DataFile> UtsSysctl(const std::string& key, bool domain) {
  return Sysctl(
      key, 0644,
      [domain](Task* reader) -> Result<std::string> {
        if (!reader) return Errno(ENOENT);
        kernel::Kernel& k = reader->kernel();
        return (domain ? k.domainname() : k.hostname()) + "\n";
      },
      [domain](Task& writer, std::string_view data, int64_t offset) -> Result<size_t> {
        if (!writer.creds()->HasCap(CAP_SYS_ADMIN)) return Errno(EPERM);
        if (offset != 0) return data.size();
        std::string_view name = data.substr(0, data.find_first_of(std::string_view("\n\0", 2)));
        std::string v(name.substr(0, 64));
        if (domain) {
          writer.kernel().set_domainname(v);
        } else {
          writer.kernel().set_hostname(v);
        }
        return data.size();
      });
}

std::string NewUuidLine() {
  uint8_t b[16] = {};
  (void)getrandom(b, sizeof(b), 0);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string s;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    absl::StrAppendFormat(&s, "%02x", b[i]);
  }
  return s + "\n";
}

// ---- System-wide files ----

struct KernelCounts {
  int processes = 0;     // thread groups, zombies included
  int tasks = 0;
  int running = 0;       // tasks not sleeping in the sentry nor stopped
  pid_t last_pid = 0;
  int64_t user_ns = 0;   // CPU time of the live processes
  int64_t system_ns = 0;
  absl::Time boot = absl::UnixEpoch();
};

KernelCounts Count(Task* reader) {
  KernelCounts c;
  if (!reader) return c;
  kernel::Kernel& k = reader->kernel();
  c.boot = k.boot_time();
  std::vector<pid_t> host_pids;
  {
    absl::MutexLock l(&k.mu_);
    for (kernel::ThreadGroup* g : k.Groups()) {
      c.processes++;
      c.last_pid = std::max(c.last_pid, g->pid());
      for (Task* t : g->tasks) {
        c.tasks++;
        if (!t->blocked() && !t->group_stopped()) c.running++;
      }
      if (!g->tasks.empty()) host_pids.push_back(g->tasks.front()->context().host_pid());
    }
  }
  for (pid_t p : host_pids) {
    kernel::CpuTimes cpu = kernel::HostCpuTimes(p, false);
    c.user_ns += cpu.user_ns;
    c.system_ns += cpu.system_ns;
  }
  return c;
}

double UptimeSeconds(const KernelCounts& c) {
  return absl::ToDoubleSeconds(absl::Now() - c.boot);
}

std::string Meminfo() {
  struct sysinfo si {};
  sysinfo(&si);
  const uint64_t unit = si.mem_unit ? si.mem_unit : 1;
  auto kb = [unit](uint64_t v) { return v * unit / 1024; };
  std::string out;
  auto line = [&out](const char* key, uint64_t v) {
    absl::StrAppendFormat(&out, "%-16s%8u kB\n", absl::StrCat(key, ":"), v);
  };
  line("MemTotal", kb(si.totalram));
  line("MemFree", kb(si.freeram));
  line("MemAvailable", kb(si.freeram) + kb(si.bufferram));
  line("Buffers", kb(si.bufferram));
  line("Cached", 0);
  line("SwapCached", 0);
  line("Active", 0);
  line("Inactive", 0);
  line("Active(anon)", 0);
  line("Inactive(anon)", 0);
  line("Active(file)", 0);
  line("Inactive(file)", 0);
  line("Unevictable", 0);
  line("Mlocked", 0);
  line("SwapTotal", kb(si.totalswap));
  line("SwapFree", kb(si.freeswap));
  line("Dirty", 0);
  line("Writeback", 0);
  line("AnonPages", 0);
  line("Mapped", 0);
  line("Shmem", kb(si.sharedram));
  line("KReclaimable", 0);
  line("Slab", 0);
  line("SReclaimable", 0);
  line("SUnreclaim", 0);
  line("KernelStack", 0);
  line("PageTables", 0);
  line("NFS_Unstable", 0);
  line("Bounce", 0);
  line("WritebackTmp", 0);
  line("CommitLimit", kb(si.totalram) / 2 + kb(si.totalswap));
  line("Committed_AS", kb(si.totalram - si.freeram));
  line("VmallocTotal", 34359738367);
  line("VmallocUsed", 0);
  line("VmallocChunk", 0);
  line("Percpu", 0);
  line("AnonHugePages", 0);
  line("ShmemHugePages", 0);
  line("ShmemPmdMapped", 0);
  for (const char* k : {"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"}) {
    absl::StrAppendFormat(&out, "%-16s%8u\n", absl::StrCat(k, ":"), 0);
  }
  line("Hugepagesize", 2048);
  line("Hugetlb", 0);
  line("DirectMap4k", 0);
  return out;
}

std::string Stat(Task* reader) {
  KernelCounts c = Count(reader);
  const int cpus = Host().cpus;
  const int64_t tick = 1'000'000'000 / kClockTicks;
  int64_t user = c.user_ns / tick, system = c.system_ns / tick;
  int64_t idle = std::max<int64_t>(
      0, static_cast<int64_t>(UptimeSeconds(c) * kClockTicks) * cpus - user - system);
  auto cpu_line = [](const std::string& name, int64_t u, int64_t s, int64_t i) {
    return absl::StrFormat("%s %d 0 %d %d 0 0 0 0 0 0\n", name, u, s, i);
  };
  std::string out = cpu_line("cpu ", user, system, idle);
  for (int i = 0; i < cpus; i++) {
    out += cpu_line(absl::StrCat("cpu", i), user / cpus, system / cpus, idle / cpus);
  }
  absl::StrAppend(&out, "intr 0\nctxt 0\nbtime ", absl::ToUnixSeconds(c.boot), "\nprocesses ",
                  c.last_pid, "\nprocs_running ", std::max(c.running, 1),
                  "\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n");
  return out;
}

std::string Uptime(Task* reader) {
  KernelCounts c = Count(reader);
  double up = UptimeSeconds(c);
  double busy = static_cast<double>(c.user_ns + c.system_ns) / 1e9;
  double idle = std::max(0.0, up * Host().cpus - busy);
  return absl::StrFormat("%.2f %.2f\n", up, idle);
}

std::string Loadavg(Task* reader) {
  KernelCounts c = Count(reader);
  struct sysinfo si {};
  sysinfo(&si);
  auto load = [&si](int i) { return static_cast<double>(si.loads[i]) / (1 << SI_LOAD_SHIFT); };
  return absl::StrFormat("%.2f %.2f %.2f %d/%d %d\n", load(0), load(1), load(2),
                         std::max(c.running, 1), std::max(c.tasks, 1), c.last_pid);
}

RefPtr<DataFile> Generated(const std::string& name, std::function<std::string(Task*)> fn) {
  FileOps ops;
  ops.read = [fn = std::move(fn)](Task* reader) -> Result<std::string> { return fn(reader); };
  return MakeRef<DataFile>(Host().dev, InodeNumber(kFs, name), 0444, std::move(ops));
}

}  // namespace

RefPtr<StaticDir> NewSysDir() {
  const uint64_t dev = Host().dev;
  auto sys = MakeRef<StaticDir>(dev, InodeNumber(kFs, "sys"));
  auto dir = [](const RefPtr<StaticDir>& parent, const std::string& name, const std::string& key) {
    return parent->Subdir(name, kFs, "sys/" + key);
  };

  auto kernel_dir = dir(sys, "kernel", "kernel");
  kernel_dir->Add("hostname", UtsSysctl("kernel/hostname", false));
  kernel_dir->Add("domainname", UtsSysctl("kernel/domainname", true));
  kernel_dir->Add("ostype", SysctlValue("kernel/ostype", "Linux"));
  kernel_dir->Add("osrelease", SysctlValue("kernel/osrelease", kernel::kRelease));
  kernel_dir->Add("version", SysctlValue("kernel/version", kernel::kVersion));
  kernel_dir->Add("pid_max", SysctlValue("kernel/pid_max", "4194304"));
  kernel_dir->Add("threads-max", SysctlValue("kernel/threads-max", "1000000"));
  kernel_dir->Add("ngroups_max", SysctlValue("kernel/ngroups_max", "65536"));
  kernel_dir->Add("cap_last_cap",
                  SysctlValue("kernel/cap_last_cap", std::to_string(kernel::kCapLastCap)));
  kernel_dir->Add("overflowuid", SysctlValue("kernel/overflowuid", "65534"));
  kernel_dir->Add("overflowgid", SysctlValue("kernel/overflowgid", "65534"));
  kernel_dir->Add("core_pattern", SysctlValue("kernel/core_pattern", "core"));
  kernel_dir->Add("tainted", SysctlValue("kernel/tainted", "0"));
  auto random = dir(kernel_dir, "random", "kernel/random");
  random->Add("boot_id", Sysctl("kernel/random/boot_id", 0444, [](Task*) -> Result<std::string> {
                return Host().boot_id;
              }));
  random->Add("uuid", Sysctl("kernel/random/uuid", 0444,
                             [](Task*) -> Result<std::string> { return NewUuidLine(); }));
  random->Add("entropy_avail", SysctlValue("kernel/random/entropy_avail", "256"));
  random->Add("poolsize", SysctlValue("kernel/random/poolsize", "256"));

  auto fs = dir(sys, "fs", "fs");
  fs->Add("file-max", SysctlValue("fs/file-max", "9223372036854775807"));
  fs->Add("nr_open", SysctlValue("fs/nr_open", std::to_string(kernel::kNrOpen)));
  fs->Add("pipe-max-size", SysctlValue("fs/pipe-max-size", "1048576"));
  auto inotify = dir(fs, "inotify", "fs/inotify");
  inotify->Add("max_user_instances", SysctlValue("fs/inotify/max_user_instances", "128"));
  inotify->Add("max_user_watches", SysctlValue("fs/inotify/max_user_watches", "8192"));
  inotify->Add("max_queued_events", SysctlValue("fs/inotify/max_queued_events", "16384"));

  auto vm = dir(sys, "vm", "vm");
  vm->Add("overcommit_memory", SysctlValue("vm/overcommit_memory", "0"));
  vm->Add("max_map_count", SysctlValue("vm/max_map_count", "65530"));
  vm->Add("mmap_min_addr", SysctlValue("vm/mmap_min_addr", "65536"));

  // The per-container parameters, in the directories their paths name.
  for (const kernel::Sysctls::Param& p : kernel::Sysctls::Params()) {
    std::vector<std::string> parts = absl::StrSplit(p.path, '/');
    RefPtr<StaticDir> at = sys;
    std::string key;
    for (size_t i = 0; i + 1 < parts.size(); i++) {
      key += (i ? "/" : "") + parts[i];
      at = dir(at, parts[i], key);
    }
    at->Add(parts.back(), StoredSysctl(p.path));
  }
  return sys;
}

void AddSystemFiles(StaticDir& root) {
  const uint64_t dev = Host().dev;
  root.Add("meminfo", Generated("meminfo", [](Task*) { return Meminfo(); }));
  root.Add("cpuinfo", synthetic::StaticFile(dev, InodeNumber(kFs, "cpuinfo"), Host().cpuinfo));
  root.Add("stat", Generated("stat", [](Task* r) { return Stat(r); }));
  root.Add("uptime", Generated("uptime", [](Task* r) { return Uptime(r); }));
  root.Add("loadavg", Generated("loadavg", [](Task* r) { return Loadavg(r); }));
  root.Add("filesystems",
           synthetic::StaticFile(dev, InodeNumber(kFs, "filesystems"),
                                 "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tpipefs\n"
                                 "nodev\tdevpts\nnodev\toverlay\n"));
  root.Add("version",
           synthetic::StaticFile(dev, InodeNumber(kFs, "version"),
                                 absl::StrCat("Linux version ", kernel::kRelease,
                                              " (moat@moat) (gcc) ", kernel::kVersion, "\n")));
  root.Add("cmdline", synthetic::StaticFile(dev, InodeNumber(kFs, "cmdline"),
                                            absl::StrCat("BOOT_IMAGE=/vmlinuz-",
                                                         kernel::kRelease, "-moat quiet\n")));
  root.Add("devices", synthetic::StaticFile(dev, InodeNumber(kFs, "devices"),
                                            "Character devices:\n  1 mem\n  5 /dev/tty\n"
                                            "  5 /dev/ptmx\n136 pts\n\nBlock devices:\n"));
  root.Add("swaps", synthetic::StaticFile(
                        dev, InodeNumber(kFs, "swaps"),
                        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"));
}

}  // namespace moat::fsimpl::proc
