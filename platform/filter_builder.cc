#include "platform/filter_builder.h"

#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file_descriptor.h"
#include "base/status_macros.h"

namespace moat::platform {

void FilterBuilder::AddRule(uint32_t action, int nr, unsigned count, const scmp_arg_cmp* cmps) {
  if (!status_.ok()) return;
  if (!ctx_) {
    status_ = absl::InternalError("seccomp_init failed");
    return;
  }
  int r = seccomp_rule_add_array(ctx_, action, nr, count, cmps);
  if (r < 0) status_ = ErrnoStatus(fmt::format("seccomp_rule_add(syscall {})", nr), -r);
}

void FilterBuilder::Allow(std::span<const AllowedSyscall> list) {
  for (const AllowedSyscall& a : list) AddRule(SCMP_ACT_ALLOW, a.nr, 0, nullptr);
}

void FilterBuilder::KillOtherArchitectures() {
  if (!status_.ok() || !ctx_) return;
  if (int r = seccomp_attr_set(ctx_, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); r < 0)
    status_ = ErrnoStatus("seccomp_attr_set(ACT_BADARCH)", -r);
}

absl::StatusOr<std::vector<struct sock_filter>> FilterBuilder::Export() {
  RETURN_IF_ERROR(status_);
  FileDescriptor mem(memfd_create("moat-filter", MFD_CLOEXEC));
  if (!mem) return ErrnoStatus("memfd_create(moat-filter)");
  if (int r = seccomp_export_bpf(ctx_, mem.get()); r < 0)
    return ErrnoStatus("seccomp_export_bpf", -r);
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return absl::InternalError(fmt::format("seccomp_export_bpf wrote {} bytes", size));
  std::vector<sock_filter> prog(size / sizeof(sock_filter));
  if (pread(mem.get(), prog.data(), size, 0) != size) return ErrnoStatus("pread(moat-filter)");
  return prog;
}

absl::Status InstallOnProcess(const std::vector<struct sock_filter>& prog, const char* whose) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ErrnoStatus("prctl(PR_SET_NO_NEW_PRIVS)");
  sock_fprog fprog{static_cast<unsigned short>(prog.size()),
                   const_cast<struct sock_filter*>(prog.data())};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (r < 0) return ErrnoStatus(fmt::format("seccomp(SECCOMP_SET_MODE_FILTER) of {} filter", whose));
  if (r > 0) return absl::InternalError(fmt::format("{} filter: TSYNC failed at thread {}", whose, r));
  return absl::OkStatus();
}

}  // namespace moat::platform
