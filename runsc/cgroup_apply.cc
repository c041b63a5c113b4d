// linux.resources written to the cgroup's files: v1 (and hybrid) in ApplyV1, v2 in ApplyV2. The
// rules for what is applied, warned about or refused are in cgroup.h.
#include <string>

#include "base/log.h"
#include "base/status_macros.h"
#include "runsc/cgroup.h"
#include "runsc/cgroup_internal.h"

namespace moat::runsc::cgroup {

namespace {

template <typename T>
std::string Str(T v) {
  return std::to_string(v);
}

}  // namespace

absl::Status Cgroup::Apply(const spec::Resources& r) {
  if (!r.devices.empty()) {
    // The application's devices are the sentry's own; see cgroup.h.
    LOG_DEBUG(
        "cgroup: linux.resources.devices ({} rules) are enforced in the sandbox, not by "
        "the host's device controller",
        r.devices.size());
  }
  if (r.memory.kernel || r.memory.kernel_tcp) {
    Warn("linux.resources.memory.kernel and kernelTCP are deprecated by the kernel; ignored");
  }
  return layout_ == Layout::kV2 ? ApplyV2(r) : ApplyV1(r);
}

absl::Status Cgroup::Missing(std::string_view controller, bool set, std::string_view what) {
  if (set && rootless_) {
    // The hierarchy may be there but not ours to write: "where the host allows".
    Warn(
        internal::Cat(what, " not applied: no ", controller, " cgroup runsc may write (rootless)"));
    return absl::OkStatus();
  }
  if (set) {
    return absl::FailedPreconditionError(internal::Cat(what, " is set, but the host has no ",
                                                       controller, " cgroup controller for runsc"));
  }
  Warn(internal::Cat("the host has no ", controller, " cgroup controller for runsc: no ",
                     controller, " limits or statistics"));
  return absl::OkStatus();
}

absl::Status Cgroup::ApplyV1(const spec::Resources& r) {
  if (!r.unified.empty()) {
    return absl::FailedPreconditionError(
        internal::Cat("linux.resources.unified sets cgroup v2 files, but this host's controllers "
                      "are cgroup v1 (",
                      LayoutName(layout_), " layout)"));
  }

  const spec::Resources::Memory& m = r.memory;
  bool disable_oom = m.disable_oom_killer.value_or(false);
  bool memory_set = m.limit || m.reservation || m.swap || m.swappiness || disable_oom;
  if (const Dir* d = DirFor("memory")) {
    std::optional<int64_t> limit = m.limit, swap = m.swap;
    // An unlimited memory with no word on swap makes swap unlimited too (runc), or the old
    // memsw limit would still cap memory.
    bool implicit_swap = false;
    if (limit && *limit == -1 && !swap) {
      swap = -1;
      implicit_swap = true;
    }
    bool memsw = internal::Exists(d->dir + "/memory.memsw.limit_in_bytes");
    if (swap && !memsw) {
      if (implicit_swap) {
        swap.reset();
      } else {
        return absl::FailedPreconditionError(internal::Cat(
            "linux.resources.memory.swap is set, but the host does not account swap (no ", d->dir,
            "/memory.memsw.limit_in_bytes)"));
      }
    }
    auto set_limit = [&] { return Write(d->dir, "memory.limit_in_bytes", Str(*limit)); };
    auto set_swap = [&] { return Write(d->dir, "memory.memsw.limit_in_bytes", Str(*swap)); };
    if (limit && swap) {
      // The kernel keeps memory <= memory+swap at every step, so the order of the two writes
      // depends on where the limits are going: raise memsw first, lower it last.
      absl::StatusOr<std::string> cur = internal::ReadFile(d->dir + "/memory.limit_in_bytes");
      uint64_t current = cur.ok() ? std::strtoull(cur->c_str(), nullptr, 10) : 0;
      if (*swap == -1 || current < static_cast<uint64_t>(*swap)) {
        RETURN_IF_ERROR(set_swap());
        RETURN_IF_ERROR(set_limit());
      } else {
        RETURN_IF_ERROR(set_limit());
        RETURN_IF_ERROR(set_swap());
      }
    } else if (limit) {
      RETURN_IF_ERROR(set_limit());
    } else if (swap) {
      RETURN_IF_ERROR(set_swap());
    }
    if (m.reservation) {
      RETURN_IF_ERROR(Write(d->dir, "memory.soft_limit_in_bytes", Str(*m.reservation)));
    }
    if (m.swappiness) RETURN_IF_ERROR(Write(d->dir, "memory.swappiness", Str(*m.swappiness)));
    if (disable_oom) RETURN_IF_ERROR(Write(d->dir, "memory.oom_control", "1"));
  } else {
    RETURN_IF_ERROR(Missing("memory", memory_set, "linux.resources.memory"));
  }

  const spec::Resources::Cpu& c = r.cpu;
  bool cpu_set = c.shares || c.period || c.quota || c.realtime_period || c.realtime_runtime;
  if (const Dir* d = DirFor("cpu")) {
    if (c.shares) RETURN_IF_ERROR(Write(d->dir, "cpu.shares", Str(*c.shares)));
    // The period first: a quota is checked against the period in force.
    if (c.period) RETURN_IF_ERROR(Write(d->dir, "cpu.cfs_period_us", Str(*c.period)));
    if (c.quota) RETURN_IF_ERROR(Write(d->dir, "cpu.cfs_quota_us", Str(*c.quota)));
    if (c.realtime_period) {
      RETURN_IF_ERROR(Write(d->dir, "cpu.rt_period_us", Str(*c.realtime_period)));
    }
    if (c.realtime_runtime) {
      RETURN_IF_ERROR(Write(d->dir, "cpu.rt_runtime_us", Str(*c.realtime_runtime)));
    }
  } else {
    RETURN_IF_ERROR(Missing("cpu", cpu_set, "linux.resources.cpu"));
  }
  if (const Dir* d = DirFor("cpuset")) {
    if (!c.cpus.empty()) RETURN_IF_ERROR(Write(d->dir, "cpuset.cpus", c.cpus));
    if (!c.mems.empty()) RETURN_IF_ERROR(Write(d->dir, "cpuset.mems", c.mems));
  } else {
    RETURN_IF_ERROR(
        Missing("cpuset", !c.cpus.empty() || !c.mems.empty(), "linux.resources.cpu.cpus/mems"));
  }

  if (const Dir* d = DirFor("pids")) {
    if (r.pids_limit) {
      // runc's reading of the spec: a limit of 0 or below is no limit.
      RETURN_IF_ERROR(
          Write(d->dir, "pids.max", *r.pids_limit > 0 ? Str(*r.pids_limit) : std::string("max")));
    }
  } else {
    RETURN_IF_ERROR(Missing("pids", r.pids_limit.has_value(), "linux.resources.pids.limit"));
  }

  const spec::Resources::BlockIo& b = r.block_io;
  if (const Dir* d = DirFor("blkio")) {
    if (b.weight) {
      // CFQ had blkio.weight; with BFQ (the only weighted scheduler left) it is
      // blkio.bfq.weight, on the same scale.
      std::string file =
          internal::Exists(d->dir + "/blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
      if (!internal::Exists(d->dir + "/" + file)) {
        return absl::FailedPreconditionError(internal::Cat(
            "linux.resources.blockIO.weight is set, but ", d->dir,
            " has neither blkio.weight nor blkio.bfq.weight (no weighted I/O scheduler)"));
      }
      RETURN_IF_ERROR(Write(d->dir, file, Str(*b.weight)));
    }
    if (b.leaf_weight) {
      if (!internal::Exists(d->dir + "/blkio.leaf_weight")) {
        return absl::FailedPreconditionError(
            internal::Cat("linux.resources.blockIO.leafWeight is set, but ", d->dir,
                          " has no blkio.leaf_weight (the CFQ scheduler is gone)"));
      }
      RETURN_IF_ERROR(Write(d->dir, "blkio.leaf_weight", Str(*b.leaf_weight)));
    }
  } else {
    RETURN_IF_ERROR(Missing("blkio", b.weight || b.leaf_weight, "linux.resources.blockIO"));
  }
  return absl::OkStatus();
}

absl::Status Cgroup::ApplyV2(const spec::Resources& r) {
  const Dir* d = DirFor("");
  if (d == nullptr) {
    // Rootless, and the hierarchy was skipped: nothing can be applied.
    Warn("no cgroup v2 directory for runsc: linux.resources not applied");
    return absl::OkStatus();
  }
  // Checks that the cgroup has `controller` when `set`; a warning when not set.
  auto need = [&](std::string_view controller, bool set, std::string_view what,
                  bool* ok) -> absl::Status {
    *ok = V2Enabled(*d, controller);
    if (*ok) return absl::OkStatus();
    return Missing(controller, set, what);
  };
  bool ok;

  // The unified map is checked before anything is written.
  for (const auto& [key, value] : r.unified) {
    size_t dot = key.find('.');
    if (key.find('/') != std::string::npos || dot == std::string::npos || dot == 0) {
      return absl::InvalidArgumentError(
          internal::Cat("linux.resources.unified: \"", key, "\" is not a cgroup file name"));
    }
    std::string controller = key.substr(0, dot);
    if (controller != "cgroup" && !V2Enabled(*d, controller)) {
      return absl::FailedPreconditionError(internal::Cat("linux.resources.unified: ", key, ": the ",
                                                         controller,
                                                         " controller is not enabled in ", d->dir));
    }
  }

  const spec::Resources::Memory& m = r.memory;
  bool disable_oom = m.disable_oom_killer.value_or(false);
  RETURN_IF_ERROR(
      need("memory", m.limit || m.reservation || m.swap, "linux.resources.memory", &ok));
  if (ok) {
    if (m.swap && *m.swap != 0) {
      // The spec's swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
      std::string swap;
      int64_t limit = m.limit.value_or(0);
      if (*m.swap == -1) {
        swap = "max";
      } else if (limit == -1) {
        swap = Str(*m.swap);
      } else if (limit <= 0) {
        return absl::InvalidArgumentError(
            "linux.resources.memory.swap is set without memory.limit; cgroup v2 limits swap "
            "apart from memory and cannot tell how much of it is swap");
      } else if (*m.swap < limit) {
        return absl::InvalidArgumentError(internal::Cat("linux.resources.memory.swap (", *m.swap,
                                                        ") is below memory.limit (", limit,
                                                        "); it counts memory plus swap"));
      } else {
        swap = Str(*m.swap - limit);
      }
      if (!internal::Exists(d->dir + "/memory.swap.max")) {
        return absl::FailedPreconditionError(internal::Cat(
            "linux.resources.memory.swap is set, but the host does not account swap (no ", d->dir,
            "/memory.swap.max)"));
      }
      RETURN_IF_ERROR(Write(d->dir, "memory.swap.max", swap));
    }
    if (m.limit) {
      RETURN_IF_ERROR(Write(d->dir, "memory.max", *m.limit == -1 ? "max" : Str(*m.limit)));
    }
    if (m.reservation) {
      RETURN_IF_ERROR(
          Write(d->dir, "memory.low", *m.reservation == -1 ? "max" : Str(*m.reservation)));
    }
  }
  if (m.swappiness)
    Warn("cgroup v2 has no memory.swappiness: linux.resources.memory.swappiness ignored");
  if (disable_oom) {
    Warn(
        "cgroup v2 cannot disable the OOM killer: linux.resources.memory.disableOOMKiller "
        "ignored");
  }

  const spec::Resources::Cpu& c = r.cpu;
  if (c.realtime_period || c.realtime_runtime) {
    return absl::FailedPreconditionError(
        "linux.resources.cpu.realtimePeriod/realtimeRuntime are set, but cgroup v2 has no "
        "real-time CPU limits");
  }
  RETURN_IF_ERROR(need("cpu", c.shares || c.quota || c.period, "linux.resources.cpu", &ok));
  if (ok) {
    if (c.shares && *c.shares != 0) {
      RETURN_IF_ERROR(Write(d->dir, "cpu.weight", Str(SharesToWeight(*c.shares))));
    }
    if ((c.quota && *c.quota != 0) || (c.period && *c.period != 0)) {
      // "QUOTA PERIOD"; a quota of "max" is no limit, and a missing period keeps the current.
      std::string max = (c.quota && *c.quota > 0) ? Str(*c.quota) : "max";
      if (c.period && *c.period != 0) max += internal::Cat(" ", *c.period);
      RETURN_IF_ERROR(Write(d->dir, "cpu.max", max));
    }
  }
  RETURN_IF_ERROR(
      need("cpuset", !c.cpus.empty() || !c.mems.empty(), "linux.resources.cpu.cpus/mems", &ok));
  if (ok) {
    if (!c.cpus.empty()) RETURN_IF_ERROR(Write(d->dir, "cpuset.cpus", c.cpus));
    if (!c.mems.empty()) RETURN_IF_ERROR(Write(d->dir, "cpuset.mems", c.mems));
  }

  RETURN_IF_ERROR(need("pids", r.pids_limit.has_value(), "linux.resources.pids.limit", &ok));
  if (ok && r.pids_limit) {
    RETURN_IF_ERROR(
        Write(d->dir, "pids.max", *r.pids_limit > 0 ? Str(*r.pids_limit) : std::string("max")));
  }

  const spec::Resources::BlockIo& b = r.block_io;
  RETURN_IF_ERROR(need("io", b.weight.has_value(), "linux.resources.blockIO.weight", &ok));
  if (ok && b.weight && *b.weight != 0) {
    // BFQ takes the v1 scale as is; io.weight (the io.cost controller) has its own.
    if (internal::Exists(d->dir + "/io.bfq.weight")) {
      RETURN_IF_ERROR(Write(d->dir, "io.bfq.weight", Str(*b.weight)));
    } else {
      RETURN_IF_ERROR(Write(d->dir, "io.weight", Str(BlkioToIoWeight(*b.weight))));
    }
  }
  if (b.leaf_weight) {
    Warn("cgroup v2 has no leaf weight: linux.resources.blockIO.leafWeight ignored");
  }

  for (const auto& [key, value] : r.unified) RETURN_IF_ERROR(Write(d->dir, key, value));
  return absl::OkStatus();
}

}  // namespace moat::runsc::cgroup
