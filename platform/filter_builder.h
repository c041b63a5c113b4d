// A libseccomp filter under construction, for the seccomp filters Moat builds for itself: the
// application's (platform/filter.cc), the sentry's (runsc/sentry_filter.cc) and the gofer's
// (runsc/gofer_filter.cc). Rules are added one per call; the first failure is kept and reported
// by status(), so that a list of rules reads as a list.
#ifndef MOAT_PLATFORM_FILTER_BUILDER_H_
#define MOAT_PLATFORM_FILTER_BUILDER_H_

#include <linux/filter.h>
#include <seccomp.h>

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moat::platform {

// A syscall an allowlist lets through whatever its arguments, and why.
struct AllowedSyscall {
  int nr;
  const char* why;
};

class FilterBuilder {
 public:
  explicit FilterBuilder(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~FilterBuilder() {
    if (ctx_) seccomp_release(ctx_);
  }
  FilterBuilder(const FilterBuilder&) = delete;
  FilterBuilder& operator=(const FilterBuilder&) = delete;

  scmp_filter_ctx ctx() const { return ctx_; }

  // Adds `action` for syscall `nr` under `args` (all must hold); records the first failure.
  template <typename... Args>
  void Rule(uint32_t action, int nr, Args... args) {
    const scmp_arg_cmp cmps[] = {args..., {}};
    AddRule(action, nr, sizeof...(args), cmps);
  }
  void AddRule(uint32_t action, int nr, unsigned count, const scmp_arg_cmp* cmps);
  // ALLOW for each of `list`.
  void Allow(std::span<const AllowedSyscall> list);
  // A syscall of another ABI (int 0x80, x32) kills the process.
  void KillOtherArchitectures();
  absl::Status status() const { return status_; }

  // The program as classic BPF. libseccomp 2.5 exports only to an fd: go through a memfd.
  absl::StatusOr<std::vector<struct sock_filter>> Export();

 private:
  scmp_filter_ctx ctx_;
  absl::Status status_;
};

// Sets no_new_privs and installs `prog` on every thread of the calling process (TSYNC).
absl::Status InstallOnProcess(const std::vector<struct sock_filter>& prog, const char* whose);

}  // namespace moat::platform

#endif  // MOAT_PLATFORM_FILTER_BUILDER_H_
