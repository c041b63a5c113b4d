// Cgroup statistics for `runsc events`: v1 (and hybrid) from the cpuacct, cpu, memory and pids
// hierarchies, v2 from the unified cgroup's cpu.stat, memory.* and pids.* files.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "runsc/cgroup.h"
#include "runsc/cgroup_internal.h"

namespace moat::runsc::cgroup {

namespace {

// The file's number; 0 when the file is missing or holds something else. "max" (v2's
// unlimited) is `max`.
uint64_t ReadU64(const std::string& dir, const char* file, uint64_t max = kUnlimited) {
  absl::StatusOr<std::string> text = internal::ReadFile(dir + "/" + file);
  if (!text.ok()) return 0;
  std::vector<std::string> words = internal::Words(*text);
  if (words.empty()) return 0;
  if (words[0] == "max") return max;
  uint64_t v = 0;
  return internal::ParseU64(words[0], &v) ? v : 0;
}

// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
std::map<std::string, uint64_t> ReadKeyValues(const std::string& dir, const char* file) {
  std::map<std::string, uint64_t> out;
  absl::StatusOr<std::string> text = internal::ReadFile(dir + "/" + file);
  if (!text.ok()) return out;
  for (std::string_view line : internal::Split(*text, '\n', true)) {
    std::vector<std::string_view> kv = internal::Split(line, ' ', true);
    uint64_t v;
    if (kv.size() == 2 && internal::ParseU64(kv[1], &v)) out[std::string(kv[0])] = v;
  }
  return out;
}

uint64_t Get(const std::map<std::string, uint64_t>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

MemoryEntry V1Memory(const std::string& dir, const std::string& prefix) {
  MemoryEntry e;
  e.usage = ReadU64(dir, (prefix + "usage_in_bytes").c_str());
  e.max_usage = ReadU64(dir, (prefix + "max_usage_in_bytes").c_str());
  e.limit = ReadU64(dir, (prefix + "limit_in_bytes").c_str());
  e.failcnt = ReadU64(dir, (prefix + "failcnt").c_str());
  return e;
}

}  // namespace

absl::StatusOr<Stats> Cgroup::GetStats() const {
  Stats s;
  if (dirs_.empty()) return s;  // rootless, and every hierarchy was skipped
  bool any =
      std::any_of(dirs_.begin(), dirs_.end(), [](const Dir& d) { return internal::Exists(d.dir); });
  if (!any) return absl::NotFoundError(internal::Cat("cgroup ", path(), " does not exist"));
  if (layout_ != Layout::kV2) {
    if (const Dir* d = DirFor("cpuacct")) {
      CpuStats cpu;
      cpu.total_ns = ReadU64(d->dir, "cpuacct.usage");
      if (internal::Exists(d->dir + "/cpuacct.usage_user")) {
        cpu.user_ns = ReadU64(d->dir, "cpuacct.usage_user");
        cpu.kernel_ns = ReadU64(d->dir, "cpuacct.usage_sys");
      } else {
        // Older kernels only have cpuacct.stat, in clock ticks.
        std::map<std::string, uint64_t> stat = ReadKeyValues(d->dir, "cpuacct.stat");
        uint64_t ns_per_tick = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
        cpu.user_ns = Get(stat, "user") * ns_per_tick;
        cpu.kernel_ns = Get(stat, "system") * ns_per_tick;
      }
      absl::StatusOr<std::string> percpu = internal::ReadFile(d->dir + "/cpuacct.usage_percpu");
      if (percpu.ok()) {
        for (const std::string& w : internal::Words(*percpu)) {
          uint64_t v = 0;
          if (internal::ParseU64(w, &v)) cpu.percpu_ns.push_back(v);
        }
      }
      if (const Dir* c = DirFor("cpu")) {
        std::map<std::string, uint64_t> stat = ReadKeyValues(c->dir, "cpu.stat");
        cpu.periods = Get(stat, "nr_periods");
        cpu.throttled_periods = Get(stat, "nr_throttled");
        cpu.throttled_ns = Get(stat, "throttled_time");
      }
      s.cpu = std::move(cpu);
    }
    if (const Dir* d = DirFor("memory")) {
      MemoryStats mem;
      mem.usage = V1Memory(d->dir, "memory.");
      mem.swap = V1Memory(d->dir, "memory.memsw.");
      mem.kernel = V1Memory(d->dir, "memory.kmem.");
      mem.raw = ReadKeyValues(d->dir, "memory.stat");
      mem.cache = Get(mem.raw, "cache");
      mem.oom_kills = Get(ReadKeyValues(d->dir, "memory.oom_control"), "oom_kill");
      s.memory = std::move(mem);
    }
    if (const Dir* d = DirFor("pids")) {
      s.pids = PidsStats{ReadU64(d->dir, "pids.current"), ReadU64(d->dir, "pids.max", 0)};
    }
    return s;
  }

  const Dir* d = DirFor("");
  if (d == nullptr) return s;
  // cpu.stat's usage is there with or without the cpu controller; throttling only with it.
  std::map<std::string, uint64_t> stat = ReadKeyValues(d->dir, "cpu.stat");
  if (!stat.empty()) {
    CpuStats cpu;
    cpu.total_ns = Get(stat, "usage_usec") * 1000;
    cpu.user_ns = Get(stat, "user_usec") * 1000;
    cpu.kernel_ns = Get(stat, "system_usec") * 1000;
    cpu.periods = Get(stat, "nr_periods");
    cpu.throttled_periods = Get(stat, "nr_throttled");
    cpu.throttled_ns = Get(stat, "throttled_usec") * 1000;
    s.cpu = std::move(cpu);
  }
  if (V2Enabled(*d, "memory")) {
    MemoryStats mem;
    std::map<std::string, uint64_t> events = ReadKeyValues(d->dir, "memory.events");
    mem.usage.usage = ReadU64(d->dir, "memory.current");
    mem.usage.max_usage = ReadU64(d->dir, "memory.peak");  // since Linux 5.19
    mem.usage.limit = ReadU64(d->dir, "memory.max");
    mem.usage.failcnt = Get(events, "max");
    // v1's memsw counted memory plus swap; runc reports v2 the same way, and so do we. The
    // peak of the sum is unknown.
    mem.swap.usage = ReadU64(d->dir, "memory.swap.current") + mem.usage.usage;
    uint64_t swap_max = ReadU64(d->dir, "memory.swap.max");
    mem.swap.limit = (swap_max == kUnlimited || mem.usage.limit == kUnlimited)
                         ? kUnlimited
                         : swap_max + mem.usage.limit;
    mem.swap.failcnt = Get(ReadKeyValues(d->dir, "memory.swap.events"), "max");
    mem.raw = ReadKeyValues(d->dir, "memory.stat");
    mem.cache = Get(mem.raw, "file");
    mem.oom_kills = Get(events, "oom_kill");
    s.memory = std::move(mem);
  }
  if (V2Enabled(*d, "pids")) {
    s.pids = PidsStats{ReadU64(d->dir, "pids.current"), ReadU64(d->dir, "pids.max", 0)};
  }
  return s;
}

}  // namespace moat::runsc::cgroup
