// The initial process stack of x86-64 Linux: argument and environment strings, the auxiliary
// vector and the pointer arrays a program finds at %rsp on entry.
//
// BuildInitialStack is a pure function that returns the bytes to write just below the stack top,
// laid out exactly as fs/exec.c (copy_strings) and fs/binfmt_elf.c (create_elf_tables) lay them
// out. From the top of the stack mapping downwards:
//
//   stack_top - 8        8 zero bytes (bprm_mm_init leaves a NULL pointer at the very top)
//   execfn               the path given to execve (AT_EXECFN)
//   envp strings         envp[0] lowest, each NUL-terminated, contiguous
//   argv strings         argv[0] lowest (= mm->arg_start); argv strings end where env strings start
//   (gap)                arch_align_stack: minus a random amount below 8 KiB, then 16-aligned
//   platform string      "x86_64\0" (AT_PLATFORM); unaligned
//   16 random bytes      AT_RANDOM; unaligned (directly below the platform string)
//   (gap)                so that %rsp ends up 16-byte aligned
//   auxv                 (key, value) pairs ending with AT_NULL
//   envp pointers, NULL
//   argv pointers, NULL
//   argc                 at %rsp, 16-byte aligned (the x86-64 process-entry ABI)
#ifndef MOAT_SENTRY_ARCH_STACK_H_
#define MOAT_SENTRY_ARCH_STACK_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/errno.h"

namespace moat::arch {

// Longest single argument or environment string, NUL included (MAX_ARG_STRLEN).
inline constexpr uint64_t kMaxArgStrlen = 32 * 4096;
// ARG_MAX: strings Linux always allows, however small RLIMIT_STACK is.
inline constexpr uint64_t kArgMax = 32 * 4096;

// Linux's bprm_stack_limits() budget for argv + envp + execfn strings and the argv/envp pointers:
// a quarter of RLIMIT_STACK's soft limit, capped at 6 MiB (3/4 of _STK_LIM), at least ARG_MAX.
uint64_t ArgLimit(uint64_t stack_rlimit_cur);

// The E2BIG checks of execve's string copying (copy_strings / copy_string_kernel against
// bprm->argmin): any string longer than kMaxArgStrlen with its NUL, or all strings together with
// 8 bytes per argv and envp pointer (argv counting at least 1) exceeding `limit`. Linux makes these
// checks right after opening the file, before looking at its format; a "#!" script's added strings
// are checked again later (the stack builder rechecks everything).
Result<void> CheckArgLimits(const std::vector<std::string>& argv, const std::vector<std::string>& envp,
                            const std::string& execfn, uint64_t limit);

struct AuxEntry {
  uint64_t key;
  uint64_t value;
  friend bool operator==(const AuxEntry&, const AuxEntry&) = default;
};

struct InitialStackInput {
  // The end of the stack mapping (page aligned): STACK_TOP minus the stack randomization.
  uint64_t stack_top = 0;
  // An empty argv gets the single "" argument Linux inserts since 5.18.
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string execfn;  // bprm->filename; AT_EXECFN points at its copy
  std::array<uint8_t, 16> random{};
  std::string platform = "x86_64";  // empty: no AT_PLATFORM and no string
  // The auxiliary vector in Linux's order, without AT_NULL (an AT_NULL entry ends the list).
  // AT_RANDOM, AT_EXECFN and AT_PLATFORM get the addresses of the strings placed here: the values
  // of such entries are replaced, and missing ones are inserted where create_elf_tables puts them
  // (AT_RANDOM after AT_SECURE, AT_EXECFN after AT_HWCAP2 or else after AT_RANDOM, AT_PLATFORM
  // right after AT_EXECFN). Linux's x86-64 order is: AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP,
  // AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID,
  // AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM,
  // [AT_EXECFD], AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN.
  std::vector<AuxEntry> auxv;
  // The budget of CheckArgLimits (ArgLimit(RLIMIT_STACK)). Exceeding it is E2BIG.
  uint64_t arg_limit = 0;
  // arch_align_stack()'s random downward shift below the argv strings; Linux draws it below 8192
  // unless randomization is off (ADDR_NO_RANDOMIZE or randomize_va_space=0), when it is 0.
  // A value of 8192 or more is EINVAL.
  uint64_t align_pad = 0;
};

struct InitialStack {
  uint64_t sp = 0;             // %rsp at entry: argc is here; 16-byte aligned
  std::vector<uint8_t> image;  // the bytes of [sp, stack_top)
  uint64_t arg_start = 0;      // mm->arg_start..arg_end: the argv strings
  uint64_t arg_end = 0;
  uint64_t env_start = 0;  // mm->env_start..env_end: the envp strings
  uint64_t env_end = 0;
  uint64_t execfn_addr = 0;    // AT_EXECFN
  uint64_t random_addr = 0;    // AT_RANDOM
  uint64_t platform_addr = 0;  // AT_PLATFORM (0 without a platform string)
  std::vector<AuxEntry> auxv;  // the final auxv, AT_NULL included (mm->saved_auxv)
  std::string auxv_bytes;      // the same as written on the stack: what /proc/pid/auxv shows
};

// Lays out the initial stack. E2BIG when the strings exceed the limits (CheckArgLimits); EFAULT
// when the image would not fit below stack_top (stack_top too low), as create_elf_tables' writes
// would fault; EINVAL for an align_pad of 8192 or more.
Result<InitialStack> BuildInitialStack(const InitialStackInput& in);

}  // namespace moat::arch

#endif  // MOAT_SENTRY_ARCH_STACK_H_
