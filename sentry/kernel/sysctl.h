// Sysctls: the kernel parameters that Linux keeps per container (per IPC or network namespace,
// the ones runc lets linux.sysctl set) and that the sentry emulates, with their current values.
// /proc/sys reads and writes them (sentry/fsimpl/proc_sys.cc); runsc boot sets them from
// config.json's linux.sysctl (runsc/oci.cc).
//
// A value is stored as /proc/sys prints it: a list of integers separated by tabs. Set parses
// what is written as Linux's proc_dointvec and proc_doulongvec_minmax do: integers separated by
// white space, at most as many as the parameter has (fewer update the first ones only).
//
// Thread-safe: one mutex guards the values, a leaf of the lock order.
#ifndef MOAT_SENTRY_KERNEL_SYSCTL_H_
#define MOAT_SENTRY_KERNEL_SYSCTL_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"

namespace moat::kernel {

class Sysctls {
 public:
  // One parameter the sentry emulates.
  struct Param {
    const char* path;           // under /proc/sys: "kernel/shmmax"
    const char* initial;        // Linux's default, as /proc/sys prints it (tab-separated)
    int count;                  // how many integers it holds
    bool unsigned_long;         // proc_doulongvec_minmax (kernel.shm{max,all}); otherwise int
  };
  // Every parameter, in /proc/sys order.
  static const std::vector<Param>& Params();
  // The parameter at `path` ("kernel/shmmax"), or null.
  static const Param* Find(std::string_view path);
  // The /proc/sys path of a sysctl name as config.json and sysctl(8) write it ("kernel.shmmax"
  // -> "kernel/shmmax"). A name that already uses slashes is taken as a path.
  static std::string PathOf(std::string_view name);

  Sysctls();

  // The current value of the parameter at `path`, without a trailing newline; "" if unknown.
  std::string Get(std::string_view path) const;
  // Sets the parameter at `path` from `text`. ENOENT for an unknown path; EINVAL if `text` is
  // not a list of at most `count` integers in range.
  Result<void> Set(std::string_view path, std::string_view text);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<std::string>, std::less<>> values_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_SYSCTL_H_
