// Conformance tests for seccomp(2) and prctl(PR_SET_SECCOMP / PR_GET_SECCOMP): installing filters,
// what each action does to the filtered syscall, how stacked filters combine, inheritance by fork,
// threads and execve, TSYNC, strict mode, and the validation of programs.
//
// A filter can never be removed, so every test that installs one does it in a forked child. The
// binary is also its own exec helper: with --seccomp-exec-child it reports whether the filter that
// its parent installed still applies after execve.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

constexpr uint32_t kArgOffset = offsetof(struct seccomp_data, args);

// The syscall most tests filter: nothing in the C library or the test harness makes it behind
// the test's back.
constexpr int kFilteredNr = SYS_getppid;

// siginfo_t.si_code of a SIGSYS from a seccomp filter (asm-generic/siginfo.h).
constexpr int kSysSeccomp = 1;

long RawSeccomp(unsigned op, unsigned flags, const void* args) {
  return syscall(SYS_seccomp, op, flags, args);
}

long Install(std::vector<sock_filter> prog, unsigned flags = 0) {
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  return RawSeccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog);
}

// A program that returns `action` for syscall `nr` and allows everything else (and kills a
// syscall of another architecture, as every real filter does).
std::vector<sock_filter> ActionFor(int nr, uint32_t action) {
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

std::vector<sock_filter> AllowAll(size_t len = 1) {
  std::vector<sock_filter> prog(len - 1, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return prog;
}

void SetNoNewPrivs() { CHILD_CHECK_SUCCESS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)); }

// Reads a field of /proc/self/status ("Seccomp", "Seccomp_filters", "NoNewPrivs").
std::string StatusField(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":\t", 0) == 0) return line.substr(key.size() + 2);
  }
  return "<missing>";
}

// The sandbox reports its own kernel version string; Linux features the sandbox does not offer
// are skipped there by name.
bool InSandbox() {
  struct utsname u;
  return uname(&u) == 0 && strstr(u.version, "Moat") != nullptr;
}

// ---- Queries that change nothing ----

TEST(Seccomp, GetActionAvail) {
  for (uint32_t action : {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
                          SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE,
                          SECCOMP_RET_LOG, SECCOMP_RET_ALLOW}) {
    EXPECT_THAT(RawSeccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action), SyscallSucceedsWithValue(0))
        << std::hex << action;
  }
  // The value is compared whole: an action with data is not an action.
  for (uint32_t action : {0x00010000u, 0x00040000u, 0x7ff80000u, 0x12345678u, 0xffff0000u,
                          SECCOMP_RET_ERRNO | 1u, SECCOMP_RET_ALLOW | 1u}) {
    EXPECT_THAT(RawSeccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action), SyscallFailsWithErrno(EOPNOTSUPP))
        << std::hex << action;
  }
  uint32_t allow = SECCOMP_RET_ALLOW;
  EXPECT_THAT(RawSeccomp(SECCOMP_GET_ACTION_AVAIL, 1, &allow), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(RawSeccomp(SECCOMP_GET_ACTION_AVAIL, 0, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(Seccomp, GetNotifSizes) {
  struct seccomp_notif_sizes sizes {};
  ASSERT_THAT(RawSeccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes), SyscallSucceedsWithValue(0));
  EXPECT_EQ(sizes.seccomp_notif, sizeof(struct seccomp_notif));
  EXPECT_EQ(sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp));
  EXPECT_EQ(sizes.seccomp_data, sizeof(struct seccomp_data));
  EXPECT_THAT(RawSeccomp(SECCOMP_GET_NOTIF_SIZES, 1, &sizes), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(RawSeccomp(SECCOMP_GET_NOTIF_SIZES, 0, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(Seccomp, UnknownOperation) {
  EXPECT_THAT(RawSeccomp(4, 0, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(RawSeccomp(0x100, 0, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST(Seccomp, DisabledInitially) {
  EXPECT_THAT(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(StatusField("Seccomp"), "0");
  EXPECT_EQ(StatusField("Seccomp_filters"), "0");
}

// ---- Installing ----

TEST(Seccomp, NeedsNoNewPrivsOrCapSysAdmin) {
  EXPECT_CHILD_SUCCEEDS([] {
    // Without CAP_SYS_ADMIN: a root test drops to an unprivileged uid, which clears its
    // capabilities.
    if (geteuid() == 0) CHILD_CHECK_SUCCESS(setresuid(65534, 65534, 65534));
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    CHILD_CHECK_ERRNO(Install(AllowAll()), EACCES);
    std::vector<sock_filter> prog = AllowAll();
    sock_fprog fprog{1, prog.data()};
    CHILD_CHECK_ERRNO(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0), EACCES);
    // The length is checked before the privilege, the program after it.
    sock_fprog empty{0, prog.data()};
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, &empty), EINVAL);
    sock_fprog null_filter{1, nullptr};
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, &null_filter), EACCES);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    SetNoNewPrivs();
    CHILD_CHECK(Install(AllowAll()) == 0);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2);
  });
}

TEST(Seccomp, CapSysAdminSuffices) {
  if (geteuid() != 0) GTEST_SKIP() << "needs CAP_SYS_ADMIN (run as root)";
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), EXDEV);
    // Installing a filter does not set no_new_privs.
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
  });
}

TEST(Seccomp, PrctlSetSeccompFilter) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    std::vector<sock_filter> prog = ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV);
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
    CHILD_CHECK_ERRNO(prctl(PR_SET_SECCOMP, 3, &fprog, 0, 0), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_SET_SECCOMP, 0, &fprog, 0, 0), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, nullptr, 0, 0), EFAULT);
    CHILD_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), EXDEV);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == SECCOMP_MODE_FILTER);
  });
}

TEST(Seccomp, ProcStatus) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(StatusField("NoNewPrivs") == "1");
    CHILD_CHECK(Install(AllowAll()) == 0);
    CHILD_CHECK(StatusField("Seccomp") == "2");
    CHILD_CHECK(StatusField("Seccomp_filters") == "1");
    CHILD_CHECK(Install(AllowAll(3)) == 0);
    CHILD_CHECK(StatusField("Seccomp_filters") == "2");
  });
}

TEST(Seccomp, BadFlags) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    std::vector<sock_filter> prog = AllowAll();
    sock_fprog fprog{1, prog.data()};
    // Flags are checked before the program is read.
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 1u << 12, nullptr), EINVAL);
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 1u << 31, &fprog), EINVAL);
    // TSYNC and NEW_LISTENER together could not tell a failed thread from a listener fd.
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER,
                                 SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                 &fprog),
                      EINVAL);
    // WAIT_KILLABLE_RECV only means something with NEW_LISTENER.
    CHILD_CHECK_ERRNO(
        RawSeccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fprog), EINVAL);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, nullptr), EFAULT);
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, reinterpret_cast<void*>(8)), EFAULT);
    // The accepted flags.
    CHILD_CHECK(RawSeccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &fprog) == 0);
    CHILD_CHECK(RawSeccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &fprog) == 0);
    CHILD_CHECK(RawSeccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) == 0);
    CHILD_CHECK(RawSeccomp(SECCOMP_SET_MODE_FILTER,
                           SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, &fprog) == 0);
  });
}

TEST(Seccomp, NewListener) {
  if (InSandbox()) {
    GTEST_SKIP() << "the sandbox has no user-notification listeners: NEW_LISTENER is EINVAL, as "
                    "on a kernel without it";
  }
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    std::vector<sock_filter> prog = AllowAll();
    sock_fprog fprog{1, prog.data()};
    long fd = RawSeccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
    CHILD_CHECK(fd >= 0);
  });
}

// Each program is invalid for one reason; Linux rejects every one with EINVAL.
TEST(Seccomp, InvalidPrograms) {
  const sock_filter ret_allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const std::vector<std::pair<const char*, std::vector<sock_filter>>> cases = {
      {"no ret at the end", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)}},
      {"unaligned load", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 1), ret_allow}},
      {"load past seccomp_data",
       {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(struct seccomp_data)), ret_allow}},
      {"byte load", {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ret_allow}},
      {"half-word load", {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), ret_allow}},
      {"indirect load", {BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0), ret_allow}},
      {"ldx msh", {BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0), ret_allow}},
      {"mod", {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), ret_allow}},
      {"division by constant zero", {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ret_allow}},
      {"shift by 32", {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), ret_allow}},
      {"scratch slot 16", {BPF_STMT(BPF_ST, 16), ret_allow}},
      {"load of a slot never stored", {BPF_STMT(BPF_LD | BPF_MEM, 3), ret_allow}},
      {"slot stored on one path only",
       {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),
        BPF_STMT(BPF_ST, 2), BPF_STMT(BPF_LD | BPF_MEM, 2), ret_allow}},
      {"jump past the end", {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), ret_allow}},
      {"ja past the end", {BPF_STMT(BPF_JMP | BPF_JA, 1), ret_allow}},
      {"unknown opcode", {BPF_STMT(0xff, 0), ret_allow}},
      {"unknown ancillary load",
       {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + 0x200)), ret_allow}},
      {"ancillary load", {BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                   static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
                          ret_allow}},
  };
  EXPECT_CHILD_SUCCEEDS([&] {
    SetNoNewPrivs();
    for (const auto& [what, prog] : cases) {
      errno = 0;
      if (Install(prog) != -1 || errno != EINVAL) {
        fprintf(stderr, "%s: not EINVAL (errno %d)\n", what, errno);
        _exit(1);
      }
    }
    CHILD_CHECK_ERRNO(Install(AllowAll(BPF_MAXINSNS + 1)), EINVAL);
    std::vector<sock_filter> prog = AllowAll();
    sock_fprog empty{0, prog.data()};
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, &empty), EINVAL);
    sock_fprog null_filter{1, nullptr};
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, &null_filter), EINVAL);
    sock_fprog bad_filter{1, reinterpret_cast<sock_filter*>(8)};
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_FILTER, 0, &bad_filter), EFAULT);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    // What is valid: every allowed instruction, a slot stored on every path, the largest program.
    std::vector<sock_filter> ok = {
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0),
        BPF_STMT(BPF_LD | BPF_IMM, 5),
        BPF_STMT(BPF_LDX | BPF_IMM, 2),
        BPF_STMT(BPF_ST, 0),
        BPF_STMT(BPF_STX, 15),
        BPF_STMT(BPF_LD | BPF_MEM, 0),
        BPF_STMT(BPF_LDX | BPF_MEM, 15),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_NEG, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 31),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_MISC | BPF_TXA, 0),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 0),
        BPF_STMT(BPF_JMP | BPF_JA, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 60),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    CHILD_CHECK(Install(ok) == 0);
    CHILD_CHECK(Install(AllowAll(BPF_MAXINSNS)) == 0);
  });
}

// The filters of a task may add up to 32768 instructions, each older one counting 4 more than its
// length. Linux counts the instructions of the program it converts the filter into: 3 more for
// a prologue, 2 for a RET K, 2 for a conditional jump that is taken both ways or compares with a
// negative constant, 5 for a DIV by X; 1 for everything else.
TEST(Seccomp, TotalLengthLimit) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    // Each counts 3 + 4095 + 2 + 4.
    for (int i = 0; i < 7; i++) CHILD_CHECK(Install(AllowAll(BPF_MAXINSNS)) == 0);
    // 4040 are left: AllowAll(n) counts n + 4.
    CHILD_CHECK_ERRNO(Install(AllowAll(BPF_MAXINSNS)), ENOMEM);
    CHILD_CHECK_ERRNO(Install(AllowAll(4037)), ENOMEM);
    CHILD_CHECK(Install(AllowAll(4036)) == 0);
    CHILD_CHECK_ERRNO(Install(AllowAll(1)), ENOMEM);
    CHILD_CHECK(StatusField("Seccomp_filters") == "8");
  });
}

// `count` copies of `insn` between LDX 1 and an ALLOW.
std::vector<sock_filter> Repeated(sock_filter insn, size_t count) {
  std::vector<sock_filter> prog = {BPF_STMT(BPF_LDX | BPF_IMM, 1)};
  prog.insert(prog.end(), count, insn);
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return prog;
}

TEST(Seccomp, TotalLengthCountsConvertedInstructions) {
  struct Case {
    const char* what;
    sock_filter insn;
    size_t fits;  // (4040 - 3 - 1 - 1 - 2) / cost
  };
  const Case cases[] = {
      {"jeq taken both ways", BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 5, 1, 1), 2016},
      {"jeq falling through when false", BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1), 4033},
      {"jset falling through when true", BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 5, 0, 1), 2016},
      {"jeq with a negative constant", BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x80000000, 0, 0), 2016},
      {"jeq with X", BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0x80000000, 0, 0), 4033},
      {"div by X", BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0), 806},
      {"div by K", BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 3), 4033},
  };
  for (const Case& c : cases) {
    EXPECT_CHILD_SUCCEEDS([&c] {
      SetNoNewPrivs();
      for (int i = 0; i < 7; i++) CHILD_CHECK(Install(AllowAll(BPF_MAXINSNS)) == 0);
      CHILD_CHECK_ERRNO(Install(Repeated(c.insn, c.fits + 1)), ENOMEM);
      CHILD_CHECK(Install(Repeated(c.insn, c.fits)) == 0);
    }) << c.what;
  }
}

// ---- Actions ----

TEST(Seccomp, Errno) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), EXDEV);
    CHILD_CHECK(getpid() > 0);
  });
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    // The data is capped to MAX_ERRNO.
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | 5000)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == -1 && errno == 4095);
  });
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    // Zero is a "successful" return without the syscall running.
    CHILD_CHECK(Install(ActionFor(SYS_getpid, SECCOMP_RET_ERRNO | 0)) == 0);
    CHILD_CHECK(syscall(SYS_getpid) == 0);
  });
}

TEST(Seccomp, TraceWithoutTracerIsEnosys) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRACE | 7)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), ENOSYS);
  });
}

TEST(Seccomp, UserNotifWithoutListenerIsEnosys) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_USER_NOTIF)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), ENOSYS);
  });
}

TEST(Seccomp, LogAndAllowRunTheSyscall) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    pid_t ppid = getppid();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_LOG)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ALLOW | 99)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
  });
}

TEST(Seccomp, KillProcess) {
  int status = ForkAndWait([] {
    // Not dumpable: no core is written, so the status has no core flag natively either.
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_KILL_PROCESS)) == 0);
    syscall(kFilteredNr);
    _exit(1);
  });
  EXPECT_THAT(status, KilledBySignal(SIGSYS));
  EXPECT_FALSE(WCOREDUMP(status)) << DescribeWaitStatus(status);
}

void* CallFiltered(void*) {
  syscall(kFilteredNr);
  return reinterpret_cast<void*>(1);
}

TEST(Seccomp, KillProcessFromAThreadKillsEveryThread) {
  int status = ForkAndWait([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_KILL_PROCESS)) == 0);
    pthread_t th;
    CHILD_CHECK(pthread_create(&th, nullptr, CallFiltered, nullptr) == 0);
    pthread_join(th, nullptr);
    _exit(1);
  });
  EXPECT_THAT(status, KilledBySignal(SIGSYS));
}

TEST(Seccomp, KillThreadKillsOnlyTheThread) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_KILL_THREAD)) == 0);
    pthread_t th;
    CHILD_CHECK(pthread_create(&th, nullptr, CallFiltered, nullptr) == 0);
    void* ret = nullptr;
    // The thread never returns from the syscall; its exit still clears its tid for the join.
    CHILD_CHECK(pthread_join(th, &ret) == 0);
    CHILD_CHECK(ret == nullptr);
    CHILD_CHECK(getpid() > 0);
  });
}

TEST(Seccomp, KillThreadOfTheLastThreadKillsTheProcess) {
  int status = ForkAndWait([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_KILL_THREAD)) == 0);
    syscall(kFilteredNr);
    _exit(1);
  });
  EXPECT_THAT(status, KilledBySignal(SIGSYS));
  EXPECT_FALSE(WCOREDUMP(status)) << DescribeWaitStatus(status);
}

// What the SIGSYS handler saw.
struct TrapRecord {
  int signo, code, errno_value, syscall_nr;
  unsigned arch;
  uint64_t call_addr, rip, rax;
  int count;
};
TrapRecord g_trap;
long g_trap_set_rax = -1;

void TrapHandler(int sig, siginfo_t* info, void* uc_void) {
  auto* uc = static_cast<ucontext_t*>(uc_void);
  g_trap.signo = sig;
  g_trap.code = info->si_code;
  g_trap.errno_value = info->si_errno;
  g_trap.syscall_nr = info->si_syscall;
  g_trap.arch = info->si_arch;
  g_trap.call_addr = reinterpret_cast<uint64_t>(info->si_call_addr);
  g_trap.rip = uc->uc_mcontext.gregs[REG_RIP];
  g_trap.rax = uc->uc_mcontext.gregs[REG_RAX];
  g_trap.count++;
  if (g_trap_set_rax != -1) uc->uc_mcontext.gregs[REG_RAX] = g_trap_set_rax;
}

TEST(Seccomp, TrapDeliversSigsys) {
  EXPECT_CHILD_SUCCEEDS([] {
    struct sigaction sa {};
    sa.sa_sigaction = TrapHandler;
    sa.sa_flags = SA_SIGINFO;
    CHILD_CHECK_SUCCESS(sigaction(SIGSYS, &sa, nullptr));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRAP | 0x1234)) == 0);
    // The syscall does not run; it returns what the handler left in rax, which Linux sets back
    // to the syscall number before the signal.
    long r = syscall(kFilteredNr, 1, 2, 3);
    CHILD_CHECK(g_trap.count == 1);
    CHILD_CHECK(r == kFilteredNr);
    CHILD_CHECK(g_trap.signo == SIGSYS);
    CHILD_CHECK(g_trap.code == kSysSeccomp);
    CHILD_CHECK(g_trap.errno_value == 0x1234);
    CHILD_CHECK(g_trap.syscall_nr == kFilteredNr);
    CHILD_CHECK(g_trap.arch == AUDIT_ARCH_X86_64);
    CHILD_CHECK(g_trap.call_addr == g_trap.rip);
    CHILD_CHECK(g_trap.rax == static_cast<uint64_t>(kFilteredNr));
    // A handler that emulates the syscall sets the result in rax.
    g_trap_set_rax = 42;
    CHILD_CHECK(syscall(kFilteredNr) == 42);
    CHILD_CHECK(g_trap.count == 2);
  });
}

TEST(Seccomp, TrapWithSigsysBlockedOrIgnoredKills) {
  for (bool ignore : {false, true}) {
    int status = ForkAndWait([ignore] {
      CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
      if (ignore) {
        signal(SIGSYS, SIG_IGN);
      } else {
        struct sigaction sa {};
        sa.sa_sigaction = TrapHandler;
        sa.sa_flags = SA_SIGINFO;
        CHILD_CHECK_SUCCESS(sigaction(SIGSYS, &sa, nullptr));
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGSYS);
        CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
      }
      SetNoNewPrivs();
      CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRAP)) == 0);
      syscall(kFilteredNr);
      _exit(1);
    });
    EXPECT_THAT(status, KilledBySignal(SIGSYS)) << (ignore ? "ignored" : "blocked");
  }
}

// ---- Precedence across stacked filters ----

struct PrecedenceCase {
  uint32_t older, newer;
  int expected_errno;  // 0: the syscall runs
};

TEST(Seccomp, PrecedenceOfStackedFilters) {
  const PrecedenceCase cases[] = {
      // Of two ERRNO results the newer filter's data wins.
      {SECCOMP_RET_ERRNO | EXDEV, SECCOMP_RET_ERRNO | EDOM, EDOM},
      {SECCOMP_RET_ERRNO | EDOM, SECCOMP_RET_ERRNO | EXDEV, EXDEV},
      // ERRNO beats TRACE, USER_NOTIF, LOG and ALLOW, whichever is newer.
      {SECCOMP_RET_ERRNO | EXDEV, SECCOMP_RET_TRACE, EXDEV},
      {SECCOMP_RET_TRACE, SECCOMP_RET_ERRNO | EXDEV, EXDEV},
      {SECCOMP_RET_USER_NOTIF, SECCOMP_RET_ERRNO | EXDEV, EXDEV},
      {SECCOMP_RET_ERRNO | EXDEV, SECCOMP_RET_LOG, EXDEV},
      {SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EXDEV, EXDEV},
      // USER_NOTIF beats TRACE (both ENOSYS here), TRACE beats LOG.
      {SECCOMP_RET_LOG, SECCOMP_RET_TRACE, ENOSYS},
      {SECCOMP_RET_TRACE, SECCOMP_RET_ALLOW, ENOSYS},
      {SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0},
  };
  for (const PrecedenceCase& c : cases) {
    EXPECT_CHILD_SUCCEEDS([&c] {
      SetNoNewPrivs();
      pid_t ppid = getppid();
      CHILD_CHECK(Install(ActionFor(kFilteredNr, c.older)) == 0);
      CHILD_CHECK(Install(ActionFor(kFilteredNr, c.newer)) == 0);
      errno = 0;
      long r = syscall(kFilteredNr);
      if (c.expected_errno == 0) {
        CHILD_CHECK(r == ppid);
      } else {
        CHILD_CHECK(r == -1 && errno == c.expected_errno);
      }
    }) << std::hex << c.older << " then " << c.newer;
  }
}

TEST(Seccomp, TrapBeatsErrnoAndKillBeatsTrap) {
  EXPECT_CHILD_SUCCEEDS([] {
    struct sigaction sa {};
    sa.sa_sigaction = TrapHandler;
    sa.sa_flags = SA_SIGINFO;
    CHILD_CHECK_SUCCESS(sigaction(SIGSYS, &sa, nullptr));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRAP | 5)) == 0);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == kFilteredNr);
    CHILD_CHECK(g_trap.count == 1 && g_trap.errno_value == 5);
  });
  int status = ForkAndWait([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_KILL_PROCESS)) == 0);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRAP)) == 0);
    syscall(kFilteredNr);
    _exit(1);
  });
  EXPECT_THAT(status, KilledBySignal(SIGSYS));
}

// ---- What a program sees ----

// Returns `ret` for syscall kFilteredNr when args[index] (64 bits) equals `value`.
std::vector<sock_filter> ArgEquals(int index, uint64_t value, uint32_t ret) {
  const uint32_t lo = kArgOffset + 8 * index, hi = lo + 4;
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kFilteredNr, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(value), 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, hi),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(value >> 32), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, ret),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

TEST(Seccomp, ArgumentMatching) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    pid_t ppid = getppid();
    for (int i = 0; i < 6; i++) {
      CHILD_CHECK(Install(ArgEquals(i, 0x1234'5678'9abc'def0ULL + i, SECCOMP_RET_ERRNO | (10 + i))) ==
                  0);
    }
    uint64_t a[6];
    for (int i = 0; i < 6; i++) a[i] = 0x1234'5678'9abc'def0ULL + i;
    for (int i = 0; i < 6; i++) {
      uint64_t b[6] = {};
      b[i] = a[i];
      CHILD_CHECK(syscall(kFilteredNr, b[0], b[1], b[2], b[3], b[4], b[5]) == -1 &&
                  errno == 10 + i);
      // The same low word with another high word does not match.
      b[i] = a[i] & 0xffffffff;
      CHILD_CHECK(syscall(kFilteredNr, b[0], b[1], b[2], b[3], b[4], b[5]) == ppid);
    }
  });
}

// A syscall made at a known address: the label after the instruction is what the filter and the
// SIGSYS handler see as the instruction pointer.
extern "C" char seccomp_test_after_syscall[];
__attribute__((noinline)) long SyscallAtKnownAddress(long nr) {
  long ret;
  asm volatile(
      "syscall\n"
      ".globl seccomp_test_after_syscall\n"
      "seccomp_test_after_syscall:\n"
      : "=a"(ret)
      : "a"(nr)
      : "rcx", "r11", "memory");
  return ret;
}

TEST(Seccomp, SeesArchAndInstructionPointer) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    uint64_t ip = reinterpret_cast<uint64_t>(seccomp_test_after_syscall);
    std::vector<sock_filter> prog = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kFilteredNr, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(ip), 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(ip >> 32), 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EXDEV),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    pid_t ppid = getppid();
    CHILD_CHECK(Install(prog) == 0);
    CHILD_CHECK(SyscallAtKnownAddress(kFilteredNr) == -EXDEV);
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
  });
}

// A filter runs its arithmetic and scratch memory as classic BPF does.
TEST(Seccomp, ArithmeticAndScratchMemory) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    // The result of the arithmetic on the syscall number becomes the errno, so a wrong step
    // shows.
    std::vector<sock_filter> prog = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kFilteredNr, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_ST, 4),                          // M[4] = nr (110)
        BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 3),       // 330
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 7),       // 337
        BPF_STMT(BPF_LDX | BPF_IMM, 2),
        BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),       // 168
        BPF_STMT(BPF_ALU | BPF_SUB | BPF_K, 1),       // 167
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, 0x3),     // 164
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, 0x100),    // 420
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 4),       // 6720
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 5),       // 210
        BPF_STMT(BPF_LDX | BPF_MEM, 4),               // X = 110
        BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),       // 100
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xfff),   // 100
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 100, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 100, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x4, 0, 1),  // 100 has bit 2
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    CHILD_CHECK(Install(prog) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == -1 && errno == 100);
  });
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    // NEG, TAX and the length of seccomp_data (LD LEN reads as 64).
    std::vector<sock_filter> prog = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_ALU | BPF_NEG, 0),                // -39
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 39 + 12),  // 12
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),         // 64
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),        // 76
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    CHILD_CHECK(Install(prog) == 0);
    CHILD_CHECK(syscall(SYS_getpid) == -1 && errno == 76);
  });
  // A division by a zero X ends the program with 0, SECCOMP_RET_KILL_THREAD, which kills the
  // last thread's whole process.
  int status = ForkAndWait([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    SetNoNewPrivs();
    std::vector<sock_filter> prog = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kFilteredNr, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LDX | BPF_IMM, 0),
        BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EXDEV),
    };
    CHILD_CHECK(Install(prog) == 0);
    syscall(kFilteredNr);
    _exit(1);
  });
  EXPECT_THAT(status, KilledBySignal(SIGSYS));
}

// ---- Inheritance ----

TEST(Seccomp, InheritedByForkAndThreads) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    pid_t pid = fork();
    CHILD_CHECK(pid >= 0);
    if (pid == 0) {
      CHILD_CHECK_ERRNO(syscall(kFilteredNr), EXDEV);
      CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2);
      CHILD_CHECK(StatusField("Seccomp_filters") == "1");
      _exit(0);
    }
    int status;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_t th;
    CHILD_CHECK(pthread_create(
                    &th, nullptr,
                    [](void*) -> void* {
                      errno = 0;
                      long r = syscall(kFilteredNr);
                      return reinterpret_cast<void*>(r == -1 && errno == EXDEV ? 1 : 0);
                    },
                    nullptr) == 0);
    void* ok = nullptr;
    CHILD_CHECK(pthread_join(th, &ok) == 0);
    CHILD_CHECK(ok == reinterpret_cast<void*>(1));
  });
}

const char* g_self_exe = "/proc/self/exe";

TEST(Seccomp, KeptAcrossExecve) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    char arg0[] = "seccomp_test";
    char arg1[] = "--seccomp-exec-child";
    char* argv[] = {arg0, arg1, nullptr};
    execv(g_self_exe, argv);
    CHILD_CHECK(!"execv(/proc/self/exe) failed");
  });
}

// Runs after the exec of KeptAcrossExecve.
int ExecChild() {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) return 2;
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 3;
  errno = 0;
  if (syscall(kFilteredNr) != -1 || errno != EXDEV) return 4;
  if (StatusField("Seccomp_filters") != "1") return 5;
  return 0;
}

// ---- TSYNC ----

struct ThreadPipes {
  int go[2];    // main -> thread
  int done[2];  // thread -> main
};

TEST(Seccomp, TsyncAppliesToEveryThread) {
  EXPECT_CHILD_SUCCEEDS([] {
    static ThreadPipes p;
    CHILD_CHECK_SUCCESS(pipe(p.go));
    CHILD_CHECK_SUCCESS(pipe(p.done));
    pthread_t th;
    // The thread starts before no_new_privs is set: TSYNC sets it for the thread too.
    CHILD_CHECK(pthread_create(
                    &th, nullptr,
                    [](void*) -> void* {
                      char c;
                      if (read(p.go[0], &c, 1) != 1) return nullptr;
                      char result = 'y';
                      errno = 0;
                      if (syscall(kFilteredNr) != -1 || errno != EXDEV) result = 'f';
                      if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) result = 'n';
                      if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) result = 'm';
                      if (write(p.done[1], &result, 1) != 1) return nullptr;
                      return nullptr;
                    },
                    nullptr) == 0);
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV),
                        SECCOMP_FILTER_FLAG_TSYNC) == 0);
    char c = 'g';
    CHILD_CHECK(write(p.go[1], &c, 1) == 1);
    CHILD_CHECK(read(p.done[0], &c, 1) == 1);
    if (c != 'y') fprintf(stderr, "thread result %c\n", c);
    CHILD_CHECK(c == 'y');
    CHILD_CHECK(pthread_join(th, nullptr) == 0);
  });
}

TEST(Seccomp, WithoutTsyncOtherThreadsAreNotFiltered) {
  EXPECT_CHILD_SUCCEEDS([] {
    static ThreadPipes p;
    static pid_t ppid = getppid();
    CHILD_CHECK_SUCCESS(pipe(p.go));
    CHILD_CHECK_SUCCESS(pipe(p.done));
    pthread_t th;
    CHILD_CHECK(pthread_create(
                    &th, nullptr,
                    [](void*) -> void* {
                      char c;
                      if (read(p.go[0], &c, 1) != 1) return nullptr;
                      char result = syscall(kFilteredNr) == ppid ? 'y' : 'f';
                      if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0) result = 'm';
                      if (write(p.done[1], &result, 1) != 1) return nullptr;
                      return nullptr;
                    },
                    nullptr) == 0);
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), EXDEV);
    char c = 'g';
    CHILD_CHECK(write(p.go[1], &c, 1) == 1);
    CHILD_CHECK(read(p.done[0], &c, 1) == 1);
    CHILD_CHECK(c == 'y');
    CHILD_CHECK(pthread_join(th, nullptr) == 0);
  });
}

TEST(Seccomp, TsyncFailsForADivergedThread) {
  EXPECT_CHILD_SUCCEEDS([] {
    static ThreadPipes p;
    static pid_t thread_tid;
    CHILD_CHECK_SUCCESS(pipe(p.go));
    CHILD_CHECK_SUCCESS(pipe(p.done));
    SetNoNewPrivs();
    pthread_t th;
    // The thread installs a filter of its own: the main thread's filters are no longer an
    // ancestor of its own, so it cannot be synchronized.
    CHILD_CHECK(pthread_create(
                    &th, nullptr,
                    [](void*) -> void* {
                      thread_tid = gettid();
                      char result = Install(AllowAll()) == 0 ? 'y' : 'f';
                      if (write(p.done[1], &result, 1) != 1) return nullptr;
                      char c;
                      if (read(p.go[0], &c, 1) != 1) return nullptr;
                      return nullptr;
                    },
                    nullptr) == 0);
    char c;
    CHILD_CHECK(read(p.done[0], &c, 1) == 1 && c == 'y');
    pid_t ppid = getppid();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV),
                        SECCOMP_FILTER_FLAG_TSYNC) == thread_tid);
    CHILD_CHECK_ERRNO(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV),
                              SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH),
                      ESRCH);
    // Nothing was installed.
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    // Without TSYNC the main thread may diverge too.
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    c = 'g';
    CHILD_CHECK(write(p.go[1], &c, 1) == 1);
    CHILD_CHECK(pthread_join(th, nullptr) == 0);
  });
}

TEST(Seccomp, TsyncSucceedsWhenOtherThreadsShareAnAncestor) {
  EXPECT_CHILD_SUCCEEDS([] {
    static ThreadPipes p;
    CHILD_CHECK_SUCCESS(pipe(p.go));
    CHILD_CHECK_SUCCESS(pipe(p.done));
    SetNoNewPrivs();
    CHILD_CHECK(Install(AllowAll()) == 0);
    pthread_t th;
    CHILD_CHECK(pthread_create(
                    &th, nullptr,
                    [](void*) -> void* {
                      char c;
                      if (read(p.go[0], &c, 1) != 1) return nullptr;
                      char result = 'y';
                      errno = 0;
                      if (syscall(kFilteredNr) != -1 || errno != EXDEV) result = 'f';
                      if (write(p.done[1], &result, 1) != 1) return nullptr;
                      return nullptr;
                    },
                    nullptr) == 0);
    CHILD_CHECK(Install(AllowAll(2)) == 0);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ERRNO | EXDEV),
                        SECCOMP_FILTER_FLAG_TSYNC) == 0);
    char c = 'g';
    CHILD_CHECK(write(p.go[1], &c, 1) == 1);
    CHILD_CHECK(read(p.done[0], &c, 1) == 1 && c == 'y');
    CHILD_CHECK(pthread_join(th, nullptr) == 0);
  });
}

// ---- Strict mode ----

TEST(Seccomp, StrictModeAllowsReadWriteExitSigreturn) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  int status = ForkAndWait([&] {
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_STRICT, 1, nullptr), EINVAL);
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_STRICT, 0, fds), EINVAL);
    // No no_new_privs needed.
    CHILD_CHECK(RawSeccomp(SECCOMP_SET_MODE_STRICT, 0, nullptr) == 0);
    char c = 'x';
    if (syscall(SYS_write, fds[1], &c, 1) != 1) syscall(SYS_exit, 3);
    if (syscall(SYS_read, fds[0], &c, 1) != 1) syscall(SYS_exit, 4);
    syscall(SYS_exit, 7);
  });
  EXPECT_THAT(status, ExitedWith(7));
  close(fds[0]);
  close(fds[1]);
}

TEST(Seccomp, StrictModeKillsOnOtherSyscalls) {
  // Via prctl, with a trapped syscall, a passthrough one and exit_group.
  for (long nr : {long{SYS_getpid}, long{SYS_sched_yield}, long{SYS_exit_group}}) {
    int status = ForkAndWait([nr] {
      CHILD_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) == 0);
      syscall(nr, 0);
      syscall(SYS_exit, 9);
    });
    EXPECT_THAT(status, KilledBySignal(SIGKILL)) << "syscall " << nr;
  }
}

TEST(Seccomp, ModesDoNotMix) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(AllowAll()) == 0);
    CHILD_CHECK_ERRNO(RawSeccomp(SECCOMP_SET_MODE_STRICT, 0, nullptr), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0), EINVAL);
    CHILD_CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2);
  });
}

// ---- Syscalls the sandbox lets run on the host must be filtered all the same ----

TEST(Seccomp, FiltersPassthroughSyscalls) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    for (int nr : {SYS_sched_yield, SYS_clock_gettime, SYS_futex, SYS_mmap, SYS_mprotect,
                   SYS_madvise, SYS_getcpu}) {
      CHILD_CHECK(Install(ActionFor(nr, SECCOMP_RET_ERRNO | (EXDEV + nr % 7))) == 0);
    }
    CHILD_CHECK_ERRNO(syscall(SYS_sched_yield), EXDEV + SYS_sched_yield % 7);
    struct timespec ts;
    CHILD_CHECK_ERRNO(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts), EXDEV + SYS_clock_gettime % 7);
    int word = 0;
    CHILD_CHECK_ERRNO(syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0),
                      EXDEV + SYS_futex % 7);
    CHILD_CHECK(mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED &&
                errno == EXDEV + SYS_mmap % 7);
    static char page[8192] __attribute__((aligned(4096)));
    CHILD_CHECK_ERRNO(mprotect(page, 4096, PROT_READ), EXDEV + SYS_mprotect % 7);
    CHILD_CHECK_ERRNO(madvise(page, 4096, MADV_NORMAL), EXDEV + SYS_madvise % 7);
    unsigned cpu;
    CHILD_CHECK_ERRNO(syscall(SYS_getcpu, &cpu, nullptr, nullptr), EXDEV + SYS_getcpu % 7);
    // Others still run.
    CHILD_CHECK(syscall(SYS_munmap, page + 4096, 0) == -1 && errno == EINVAL);
  });
}

TEST(Seccomp, TrapOnAPassthroughSyscall) {
  EXPECT_CHILD_SUCCEEDS([] {
    struct sigaction sa {};
    sa.sa_sigaction = TrapHandler;
    sa.sa_flags = SA_SIGINFO;
    CHILD_CHECK_SUCCESS(sigaction(SIGSYS, &sa, nullptr));
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(SYS_sched_yield, SECCOMP_RET_TRAP | 3)) == 0);
    CHILD_CHECK(syscall(SYS_sched_yield) == SYS_sched_yield);
    CHILD_CHECK(g_trap.count == 1 && g_trap.syscall_nr == SYS_sched_yield &&
                g_trap.errno_value == 3);
  });
}

TEST(Seccomp, PassthroughFilteredInAForkedChildAndAfterExec) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(SYS_sched_yield, SECCOMP_RET_ERRNO | EXDEV)) == 0);
    pid_t pid = fork();
    CHILD_CHECK(pid >= 0);
    if (pid == 0) {
      CHILD_CHECK_ERRNO(syscall(SYS_sched_yield), EXDEV);
      char arg0[] = "seccomp_test";
      char arg1[] = "--seccomp-exec-yield";
      char* argv[] = {arg0, arg1, nullptr};
      execv(g_self_exe, argv);
      _exit(99);
    }
    int status;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

int ExecChildYield() {
  errno = 0;
  if (syscall(SYS_sched_yield) != -1 || errno != EXDEV) return 6;
  return 0;
}

}  // namespace
}  // namespace moat::testing

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--seccomp-exec-child") == 0) {
    return moat::testing::ExecChild();
  }
  if (argc > 1 && strcmp(argv[1], "--seccomp-exec-yield") == 0) {
    return moat::testing::ExecChildYield();
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
