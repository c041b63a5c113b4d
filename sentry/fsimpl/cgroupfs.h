// cgroupfs: the container's own cgroup, as a cgroup2 mount shows it to a container that has its
// own cgroup namespace (the spec's "cgroup" mounts). One directory, the root of the namespace:
// the controllers the sandbox accounts for (cpu, memory, pids), their limits from
// linux.resources, and what the sandbox uses now, from the kernel (cgroup.procs, pids.current,
// memory.current). Nothing can be written: limits are set from outside, with the sandbox's host
// cgroup (runsc/cgroup.h), as for a container under runc.
//
// Built on synthetic.h: every value is computed when it is read, for the reading task's kernel.
#ifndef MOAT_SENTRY_FSIMPL_CGROUPFS_H_
#define MOAT_SENTRY_FSIMPL_CGROUPFS_H_

#include <cstdint>
#include <optional>

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// The container's limits (linux.resources); unset ones read as "max".
struct CgroupLimits {
  std::optional<int64_t> pids_max;
  std::optional<int64_t> memory_max;
  std::optional<int64_t> cpu_quota;  // microseconds per period
  uint64_t cpu_period = 100000;
  std::optional<uint64_t> cpu_weight;  // 1..10000
};

// A new cgroupfs; returns its root dentry.
RefPtr<vfs::Dentry> NewCgroupfs(const CgroupLimits& limits);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_CGROUPFS_H_
