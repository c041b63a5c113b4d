// The syscall table as the sentry consumes it. The table itself (syscalls/table.cc) is data: every
// x86-64 syscall number has an entry that says whether it is supported, partly supported (with a
// note), or returns an errno (with the reason). `runsc syscalls` prints it.
#ifndef MOAT_SENTRY_KERNEL_SYSCALL_TABLE_H_
#define MOAT_SENTRY_KERNEL_SYSCALL_TABLE_H_

#include <array>

#include "base/errno.h"
#include "sentry/kernel/task.h"

namespace moat::kernel {

using SyscallFn = Result<long> (*)(Task& task, const SyscallArgs& args);

enum class Support {
  kUnknown,    // no entry: a number Linux does not define
  kSupported,  // implemented as Linux documents it
  kPartial,    // implemented, with the gaps in `note`
  kError,      // always fails with `err`, for the reason in `note`
};

struct SyscallEntry {
  const char* name = nullptr;
  SyscallFn fn = nullptr;
  Support support = Support::kUnknown;
  int err = ENOSYS;
  const char* note = "";
};

// The note of a syscall that is simply not implemented yet (logged once when used).
inline constexpr char kNotImplemented[] = "not implemented";

inline constexpr int kMaxSyscall = 512;
using SyscallTable = std::array<SyscallEntry, kMaxSyscall>;

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_SYSCALL_TABLE_H_
