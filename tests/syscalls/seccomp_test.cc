// Conformance tests for seccomp(2) and prctl(PR_SET_SECCOMP / PR_GET_SECCOMP): installing filters,
// the validation of programs and their length limit, inheritance by fork, threads and execve,
// TSYNC, and strict mode. What each action does and how filters compute their result is in
// seccomp_filter_test.cc.
//
// A filter can never be removed, so every test that installs one does it in a forked child. The
// binary is also its own exec helper (hence its own main()): with --seccomp-exec-child or
// --seccomp-exec-yield it reports whether the filter that its parent installed still applies
// after execve.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/syscalls/seccomp_util.h"

namespace moat::testing {
namespace {

std::vector<sock_filter> AllowAll(size_t len = 1) {
  std::vector<sock_filter> prog(len - 1, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return prog;
}

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

// ---- Syscalls the sandbox lets run on the host stay filtered in children and after exec ----

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
