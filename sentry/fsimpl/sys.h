// sysfs: the minimal /sys that C libraries and language runtimes look at (DESIGN.md section 6):
// the CPU lists and per-CPU topology (glibc's get_nprocs and get_nprocs_conf, Python's
// os.cpu_count fallbacks), the transparent hugepage settings (JVMs, allocators), and empty
// /sys/fs/cgroup and /sys/class/net directories. Everything is fixed when the filesystem is
// made, from the host's CPU count, which the sentry reads with sysconf before any application
// runs; no host path is opened.
#ifndef MOAT_SENTRY_FSIMPL_SYS_H_
#define MOAT_SENTRY_FSIMPL_SYS_H_

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// A new sysfs for a machine with `cpus` CPUs (0: the host's count); returns its root dentry.
RefPtr<vfs::Dentry> NewSysfs(int cpus = 0);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_SYS_H_
