// Conformance tests for what seccomp filters do: each action's effect on the filtered syscall
// (ERRNO, TRACE and USER_NOTIF without a tracer, LOG, ALLOW, the KILLs, TRAP and its SIGSYS), how
// the results of stacked filters combine, what a program sees (arguments, architecture,
// instruction pointer) and how it computes, and that the syscalls the sandbox lets run on the
// host are filtered all the same. Installing and inheriting filters is in seccomp_test.cc.
//
// A filter can never be removed, so every test that installs one does it in a forked child.
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
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/syscalls/seccomp_util.h"

namespace moat::testing {
namespace {

constexpr uint32_t kArgOffset = offsetof(struct seccomp_data, args);

// siginfo_t.si_code of a SIGSYS from a seccomp filter (asm-generic/siginfo.h).
constexpr int kSysSeccomp = 1;

// ---- Actions ----

TEST(SeccompFilter, Errno) {
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

TEST(SeccompFilter, TraceWithoutTracerIsEnosys) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_TRACE | 7)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), ENOSYS);
  });
}

TEST(SeccompFilter, UserNotifWithoutListenerIsEnosys) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_USER_NOTIF)) == 0);
    CHILD_CHECK_ERRNO(syscall(kFilteredNr), ENOSYS);
  });
}

TEST(SeccompFilter, LogAndAllowRunTheSyscall) {
  EXPECT_CHILD_SUCCEEDS([] {
    SetNoNewPrivs();
    pid_t ppid = getppid();
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_LOG)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
    CHILD_CHECK(Install(ActionFor(kFilteredNr, SECCOMP_RET_ALLOW | 99)) == 0);
    CHILD_CHECK(syscall(kFilteredNr) == ppid);
  });
}

TEST(SeccompFilter, KillProcess) {
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

TEST(SeccompFilter, KillProcessFromAThreadKillsEveryThread) {
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

TEST(SeccompFilter, KillThreadKillsOnlyTheThread) {
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

TEST(SeccompFilter, KillThreadOfTheLastThreadKillsTheProcess) {
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

TEST(SeccompFilter, TrapDeliversSigsys) {
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

TEST(SeccompFilter, TrapWithSigsysBlockedOrIgnoredKills) {
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

TEST(SeccompFilter, PrecedenceOfStackedFilters) {
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

TEST(SeccompFilter, TrapBeatsErrnoAndKillBeatsTrap) {
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

TEST(SeccompFilter, ArgumentMatching) {
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

TEST(SeccompFilter, SeesArchAndInstructionPointer) {
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
TEST(SeccompFilter, ArithmeticAndScratchMemory) {
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

// ---- Syscalls the sandbox lets run on the host must be filtered all the same ----

TEST(SeccompFilter, FiltersPassthroughSyscalls) {
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

TEST(SeccompFilter, TrapOnAPassthroughSyscall) {
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

}  // namespace
}  // namespace moat::testing
