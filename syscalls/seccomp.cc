// seccomp(2): the application's own syscall filters. The work is in sentry/kernel/seccomp.h;
// prctl's PR_SET_SECCOMP and PR_GET_SECCOMP (process.cc) come here too.
#include <linux/seccomp.h>

#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

// struct seccomp_notif_sizes, what SECCOMP_GET_NOTIF_SIZES reports. The sandbox has no
// listeners, but the sizes are those of the ABI it speaks.
struct NotifSizes {
  uint16_t notif = sizeof(struct seccomp_notif);
  uint16_t notif_resp = sizeof(struct seccomp_notif_resp);
  uint16_t data = sizeof(struct seccomp_data);
};

}  // namespace

Result<long> DoSeccomp(Task& t, uint32_t op, uint32_t flags, UserAddr uargs) {
  switch (op) {
    case SECCOMP_SET_MODE_STRICT:
      if (flags != 0 || !uargs.IsNull()) return Errno(EINVAL);
      return kernel::SeccompSetModeStrict(t);
    case SECCOMP_SET_MODE_FILTER:
      return kernel::SeccompSetModeFilter(t, flags, uargs);
    case SECCOMP_GET_ACTION_AVAIL: {
      if (flags != 0) return Errno(EINVAL);
      uint32_t action = TRY(t.CopyInObj<uint32_t>(uargs));
      switch (action) {
        case SECCOMP_RET_KILL_PROCESS:
        case SECCOMP_RET_KILL_THREAD:
        case SECCOMP_RET_TRAP:
        case SECCOMP_RET_ERRNO:
        case SECCOMP_RET_USER_NOTIF:
        case SECCOMP_RET_TRACE:
        case SECCOMP_RET_LOG:
        case SECCOMP_RET_ALLOW:
          return 0;
        default:
          return Errno(EOPNOTSUPP);
      }
    }
    case SECCOMP_GET_NOTIF_SIZES:
      if (flags != 0) return Errno(EINVAL);
      TRY(t.CopyOutObj(uargs, NotifSizes{}));
      return 0;
    default:
      return Errno(EINVAL);
  }
}

// seccomp(2)
Result<long> Seccomp(Task& t, const SyscallArgs& a) {
  return DoSeccomp(t, a.Uint32(0), a.Uint32(1), a.Addr(2));
}

}  // namespace moat::syscalls
