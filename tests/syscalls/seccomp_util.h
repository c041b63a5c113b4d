// Helpers shared by the seccomp conformance programs (seccomp_test.cc, seccomp_filter_test.cc):
// installing a filter, and the filter most tests install.
#ifndef MOAT_TESTS_SYSCALLS_SECCOMP_UTIL_H_
#define MOAT_TESTS_SYSCALLS_SECCOMP_UTIL_H_

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// The syscall most tests filter: nothing in the C library or the test harness makes it behind
// the test's back.
inline constexpr int kFilteredNr = SYS_getppid;

inline long RawSeccomp(unsigned op, unsigned flags, const void* args) {
  return syscall(SYS_seccomp, op, flags, args);
}

inline long Install(std::vector<sock_filter> prog, unsigned flags = 0) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  return RawSeccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

// A program that returns `action` for syscall `nr` and allows everything else (and kills a
// syscall of another architecture, as every real filter does).
inline std::vector<sock_filter> ActionFor(int nr, uint32_t action) {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, action),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

// A filter can be installed without CAP_SYS_ADMIN only under no_new_privs.
inline void SetNoNewPrivs() { CHILD_CHECK_SUCCESS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)); }

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_SECCOMP_UTIL_H_
