// Seccomp programs: the validator and interpreter of sentry/kernel/seccomp.h, the platform's
// passthrough trap filter, and the container profile compiler of runsc/seccomp_profile.h, whose
// output is run through the interpreter on chosen syscalls.
#include <asm/prctl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "platform/platform.h"
#include "platform/stub/stub_layout.h"
#include "runsc/seccomp_profile.h"
#include "sentry/kernel/seccomp.h"
#include "syscalls/syscall_names.h"

namespace moat {
namespace {

using kernel::RunSeccompFilters;
using kernel::RunSeccompProgram;
using kernel::SeccompCountedLength;
using kernel::SeccompFilter;
using kernel::ValidateSeccompProgram;

constexpr uint32_t kI386 = AUDIT_ARCH_I386;
constexpr uint32_t kX86_64 = AUDIT_ARCH_X86_64;

seccomp_data Data(int nr, std::initializer_list<uint64_t> args = {}, uint32_t arch = kX86_64,
                  uint64_t ip = 0x401000) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  d.instruction_pointer = ip;
  int i = 0;
  for (uint64_t a : args) d.args[i++] = a;
  return d;
}

sock_filter Ret(uint32_t v) { return BPF_STMT(BPF_RET | BPF_K, v); }
sock_filter Ld(uint32_t off) { return BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off); }

// ---- Validation ----

TEST(SeccompProgram, AcceptsWhatLinuxAccepts) {
  std::vector<std::vector<sock_filter>> ok = {
      {Ret(SECCOMP_RET_ALLOW)},
      {Ld(0), Ld(60), BPF_STMT(BPF_RET | BPF_A, 0)},
      {BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_ST, 15),
       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), BPF_STMT(BPF_LDX | BPF_MEM, 15),
       Ret(SECCOMP_RET_ALLOW)},
      {BPF_STMT(BPF_JMP | BPF_JA, 1), Ret(0), Ret(SECCOMP_RET_ALLOW)},
      {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 31), BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
       Ret(SECCOMP_RET_ALLOW)},
      std::vector<sock_filter>(4096, Ret(SECCOMP_RET_ALLOW)),
  };
  for (size_t i = 0; i < ok.size(); i++) EXPECT_TRUE(ValidateSeccompProgram(ok[i]).ok()) << i;
}

TEST(SeccompProgram, RejectsWhatLinuxRejects) {
  const sock_filter allow = Ret(SECCOMP_RET_ALLOW);
  std::vector<std::vector<sock_filter>> bad = {
      {},
      std::vector<sock_filter>(4097, allow),
      {Ld(0)},                                              // no RET last
      {Ld(2), allow},                                       // unaligned
      {Ld(64), allow},                                      // past seccomp_data
      {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), allow},       // not a word
      {BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0), allow},       // packet access
      {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 2), allow},      // MOD
      {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), allow},      // division by zero
      {BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 32), allow},     // shift too far
      {BPF_STMT(BPF_STX, 16), allow},                       // no such slot
      {BPF_STMT(BPF_LDX | BPF_MEM, 0), allow},              // never stored
      {BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0, 0, 1), allow},  // out of range
      {BPF_STMT(BPF_JMP | BPF_JA, 0xffffffff), allow},      // backward or far
      {BPF_STMT(0x1234, 0), allow},                         // no such opcode
      // Stored on the fall-through path only.
      {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), BPF_STMT(BPF_ST, 1),
       BPF_STMT(BPF_LD | BPF_MEM, 1), allow},
  };
  for (size_t i = 0; i < bad.size(); i++) {
    Result<void> r = ValidateSeccompProgram(bad[i]);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.error().value(), EINVAL) << i;
  }
}

TEST(SeccompProgram, CountedLengthIsTheConvertedProgram) {
  EXPECT_EQ(SeccompCountedLength(std::vector<sock_filter>{Ret(0)}), 3u + 2);
  EXPECT_EQ(SeccompCountedLength(std::vector<sock_filter>{BPF_STMT(BPF_RET | BPF_A, 0)}), 3u + 1);
  EXPECT_EQ(SeccompCountedLength(std::vector<sock_filter>{
                Ld(0),                                                      // 1
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0),               // 1
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),               // 1 (inverted)
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 0),              // 1
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),              // 2
                BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 1, 1, 1),               // 2
                BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000u, 0, 0),     // 2
                BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0x80000000u, 0, 0),     // 1
                BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),                     // 5
                BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 7),                     // 1
                Ret(0),                                                     // 2
            }),
            3u + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 1 + 5 + 1 + 2);
}

// ---- Interpretation ----

TEST(SeccompProgram, ReadsSeccompData) {
  // Returns the 32-bit word at each offset of seccomp_data, in the byte order of the host.
  seccomp_data d = Data(__NR_getppid, {0x1111'2222'3333'4444, 5, 6, 7, 8, 0xaaaa'bbbb'cccc'dddd},
                        kX86_64, 0x7fff'0000'1234'5678);
  for (uint32_t off = 0; off < sizeof(seccomp_data); off += 4) {
    std::vector<sock_filter> prog = {Ld(off), BPF_STMT(BPF_RET | BPF_A, 0)};
    ASSERT_TRUE(ValidateSeccompProgram(prog).ok());
    uint32_t want;
    std::memcpy(&want, reinterpret_cast<const char*>(&d) + off, 4);
    EXPECT_EQ(RunSeccompProgram(prog, d), want) << off;
  }
}

TEST(SeccompProgram, Arithmetic) {
  std::vector<sock_filter> prog = {
      BPF_STMT(BPF_LD | BPF_IMM, 0xfffffff0u), BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 0x20),  // 0x10
      BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 3),                                          // 0x30
      BPF_STMT(BPF_LDX | BPF_IMM, 33), BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),         // << 1
      BPF_STMT(BPF_ALU | BPF_NEG, 0),                                                  // -0x60
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 28),                                         // 0xf
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_K, 0x5),                                        // 0xa
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  ASSERT_TRUE(ValidateSeccompProgram(prog).ok());
  EXPECT_EQ(RunSeccompProgram(prog, Data(0)), 0xau);
  // A division by a zero X ends the program with 0.
  std::vector<sock_filter> div = {BPF_STMT(BPF_LD | BPF_IMM, 7),
                                  BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0), Ret(SECCOMP_RET_ALLOW)};
  ASSERT_TRUE(ValidateSeccompProgram(div).ok());
  EXPECT_EQ(RunSeccompProgram(div, Data(0)), 0u);
}

TEST(SeccompProgram, JumpsCompareUnsigned) {
  // nr >= 0x80000000 (a negative nr) jumps.
  std::vector<sock_filter> prog = {
      Ld(0), BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000u, 0, 1), Ret(1), Ret(2)};
  ASSERT_TRUE(ValidateSeccompProgram(prog).ok());
  EXPECT_EQ(RunSeccompProgram(prog, Data(-1)), 1u);
  EXPECT_EQ(RunSeccompProgram(prog, Data(5)), 2u);
}

// ---- Stacked filters ----

RefPtr<SeccompFilter> Stack(std::initializer_list<uint32_t> results) {
  RefPtr<SeccompFilter> chain;
  for (uint32_t r : results) {
    chain = MakeRef<SeccompFilter>(std::vector<sock_filter>{Ret(r)}, chain, false);
  }
  return chain;
}

TEST(SeccompFilters, LowestActionWinsAndNewestAmongEqual) {
  const SeccompFilter* match = nullptr;
  RefPtr<SeccompFilter> chain = Stack({SECCOMP_RET_ERRNO | 1, SECCOMP_RET_LOG,
                                       SECCOMP_RET_ERRNO | 2, SECCOMP_RET_ALLOW});
  EXPECT_EQ(RunSeccompFilters(chain.get(), Data(0), &match), SECCOMP_RET_ERRNO | 2);
  EXPECT_EQ(match, chain->prev());
  chain = Stack({SECCOMP_RET_TRAP, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD});
  EXPECT_EQ(RunSeccompFilters(chain.get(), Data(0), &match), SECCOMP_RET_KILL_PROCESS);
  chain = Stack({SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG});
  EXPECT_EQ(RunSeccompFilters(chain.get(), Data(0), &match), SECCOMP_RET_USER_NOTIF);
  chain = Stack({SECCOMP_RET_ALLOW | 5});
  EXPECT_EQ(RunSeccompFilters(chain.get(), Data(0), &match), SECCOMP_RET_ALLOW);
  EXPECT_EQ(match, nullptr);
  EXPECT_EQ(RunSeccompFilters(nullptr, Data(0), &match), SECCOMP_RET_ALLOW);
}

TEST(SeccompFilters, ChainCountsLengthAndDepth) {
  RefPtr<SeccompFilter> chain = Stack({1, 2, 3});
  EXPECT_EQ(chain->depth(), 3);
  EXPECT_EQ(chain->path_length(), 3u * (5 + 4));
  // A long chain is released without deep recursion.
  RefPtr<SeccompFilter> longest;
  for (int i = 0; i < 200000; i++) {
    longest = MakeRef<SeccompFilter>(std::vector<sock_filter>{Ret(0)}, longest, false);
  }
  longest.reset();
}

// ---- The platform's filters ----

// Every syscall the application's host filter lets through, for some arguments, is one that the
// passthrough trap filter traps; nothing else is.
TEST(PassthroughTrapFilter, TrapsExactlyWhatTheAppFilterLetsThrough) {
  absl::StatusOr<std::vector<sock_filter>> app = platform::BuildAppFilter(SCMP_ACT_TRACE(0));
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE(ValidateSeccompProgram(*app).ok());
  std::vector<sock_filter> trap = platform::BuildPassthroughTrapFilter(SECCOMP_RET_TRACE, platform::PassthroughExemption::kParkFutex);
  ASSERT_TRUE(ValidateSeccompProgram(trap).ok());
  // Arguments that the app filter checks: an anonymous mmap, arch_prctl's FS requests.
  const std::initializer_list<uint64_t> variants[] = {
      {0, 0, 0, 0, 0, 0},
      {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0},
      {ARCH_SET_FS, 0},
      {ARCH_GET_FS, 0},
  };
  for (int nr = 0; nr < 460; nr++) {
    bool allowed = false;
    for (std::initializer_list<uint64_t> args : variants) {
      uint32_t r = RunSeccompProgram(*app, Data(nr, args));
      if ((r & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW) allowed = true;
    }
    uint32_t t = RunSeccompProgram(trap, Data(nr));
    EXPECT_EQ(t == SECCOMP_RET_TRACE, allowed) << "syscall " << nr;
  }
  // The futex of a parked thread, made from the stub, runs; from anywhere else it traps, and so
  // does any other syscall from the stub's address.
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_futex, {}, kX86_64, stub::kParkSyscallEnd)),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_futex, {}, kX86_64, stub::kParkSyscallEnd + 2)),
            SECCOMP_RET_TRACE);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_futex, {}, kX86_64,
                                         stub::kParkSyscallEnd + (uint64_t{1} << 32))),
            SECCOMP_RET_TRACE);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_sched_yield, {}, kX86_64, stub::kParkSyscallEnd)),
            SECCOMP_RET_TRACE);
  // The app filter kills other architectures; the trap filter leaves them to it.
  EXPECT_EQ(RunSeccompProgram(*app, Data(3, {}, kI386)), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_mmap, {}, kI386)), SECCOMP_RET_ALLOW);
}

// seccomp_trap's filter: the application's rules with TRAP outside the stub's code, and inside it
// an allowlist whose arguments are checked.
TEST(TrapAppFilter, TrapsOutsideTheStubAndAllowsOnlyTheStubsOwnInside) {
  absl::StatusOr<std::vector<sock_filter>> prog = platform::BuildTrapAppFilter();
  ASSERT_TRUE(prog.ok()) << prog.status();
  ASSERT_TRUE(ValidateSeccompProgram(*prog).ok());
  const uint64_t app_ip = 0x401000;
  const uint64_t stub_ip = stub::kBase + 0x200;
  auto run = [&](int nr, std::initializer_list<uint64_t> args, uint64_t ip) {
    return RunSeccompProgram(*prog, Data(nr, args, kX86_64, ip)) & SECCOMP_RET_ACTION_FULL;
  };
  // From the application: the passthrough set runs, the rest traps.
  EXPECT_EQ(run(__NR_getpid, {}, app_ip), SECCOMP_RET_TRAP);
  EXPECT_EQ(run(__NR_openat, {}, app_ip), SECCOMP_RET_TRAP);
  EXPECT_EQ(run(__NR_execveat, {stub::kStubFd, 0, 0, 0, AT_EMPTY_PATH}, app_ip), SECCOMP_RET_TRAP);
  EXPECT_EQ(run(__NR_futex, {}, app_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS}, app_ip),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE, 5}, app_ip), SECCOMP_RET_TRAP);
  // Just past the stub's code is the application's again.
  EXPECT_EQ(run(__NR_getpid, {}, stub::kBase + stub::kCodeSize), SECCOMP_RET_TRAP);
  EXPECT_EQ(run(__NR_getpid, {}, stub_ip + (uint64_t{1} << 32)), SECCOMP_RET_TRAP);
  // From the stub: what it needs, with the arguments it uses.
  EXPECT_EQ(run(__NR_rt_sigreturn, {}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_futex, {}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_mmap, {0, 4096, PROT_READ, MAP_SHARED, 7}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_execveat, {stub::kStubFd, 0, 0, 0, AT_EMPTY_PATH}, stub_ip),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_recvmsg, {stub::kChannelFd}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_fcntl, {stub::kSysmsgFd, F_SETOWN_EX}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_tgkill, {1, 1, stub::kInterruptSignal}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone, {CLONE_VM | CLONE_THREAD | CLONE_SIGHAND}, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_arch_prctl, {ARCH_SET_GS, 0}, stub_ip), SECCOMP_RET_ALLOW);
  // Anything else from the stub's code kills the process: the application can jump there.
  EXPECT_EQ(run(__NR_openat, {}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_execve, {}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_execveat, {3, 0, 0, 0, AT_EMPTY_PATH}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_execveat, {stub::kStubFd, 0, 0, 0, 0}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_recvmsg, {3}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_sendmsg, {stub::kChannelFd}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_fcntl, {stub::kSysmsgFd, F_SETFL}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_tgkill, {1, 1, SIGKILL}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_kill, {1, SIGKILL}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_clone, {CLONE_NEWUSER}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_clone, {CLONE_NEWNS | SIGCHLD}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_ptrace, {}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_seccomp, {SECCOMP_GET_ACTION_AVAIL}, stub_ip), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_arch_prctl, {ARCH_GET_GS, 0}, stub_ip),
            SECCOMP_RET_KILL_PROCESS);
  // Another architecture dies wherever it comes from.
  EXPECT_EQ(RunSeccompProgram(*prog, Data(3, {}, kI386, stub_ip)), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(RunSeccompProgram(*prog, Data(3, {}, kI386, app_ip)), SECCOMP_RET_KILL_PROCESS);
}

// seccomp_trap's clone gate: a clone from the stub's code is the sentry's to answer; everything
// else is left to the application's filter.
TEST(CloneGateFilter, NotifiesOnlyForACloneFromTheStub) {
  std::vector<sock_filter> prog = platform::BuildCloneGateFilter();
  ASSERT_TRUE(ValidateSeccompProgram(prog).ok());
  const uint64_t app_ip = 0x401000;
  const uint64_t stub_ip = stub::kBase + 0x200;
  auto run = [&](int nr, uint64_t ip, uint32_t arch = kX86_64) {
    return RunSeccompProgram(prog, Data(nr, {SIGCHLD}, arch, ip)) & SECCOMP_RET_ACTION_FULL;
  };
  EXPECT_EQ(run(__NR_clone, stub_ip), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(run(__NR_clone, stub::kBase), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(run(__NR_clone, stub::kBase + stub::kCodeSize - 1), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(run(__NR_clone, app_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone, stub::kBase - 1), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone, stub::kBase + stub::kCodeSize), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone, stub_ip + (uint64_t{1} << 32)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_getpid, stub_ip), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone3, stub_ip), SECCOMP_RET_ALLOW);  // the application's filter kills it
  EXPECT_EQ(run(__NR_clone, stub_ip, kI386), SECCOMP_RET_ALLOW);  // and another architecture
}

// seccomp_trap's passthrough trap filter lets the stub's code by: its futexes and the
// passthrough syscalls it runs for the application once the application's filters allowed them.
TEST(PassthroughTrapFilter, ExemptsTheStubsCodeOnSeccompTrap) {
  std::vector<sock_filter> trap =
      platform::BuildPassthroughTrapFilter(SECCOMP_RET_TRAP, platform::PassthroughExemption::kStubCode);
  ASSERT_TRUE(ValidateSeccompProgram(trap).ok());
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_futex, {}, kX86_64, 0x401000)), SECCOMP_RET_TRAP);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_futex, {}, kX86_64, stub::kBase + 0x300)),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_munmap, {}, kX86_64, stub::kBase)),
            SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_munmap, {}, kX86_64, stub::kBase + stub::kCodeSize)),
            SECCOMP_RET_TRAP);
  EXPECT_EQ(RunSeccompProgram(trap, Data(__NR_getpid, {}, kX86_64, 0x401000)), SECCOMP_RET_ALLOW);
}

// ---- Container profiles ----

runsc::spec::SeccompRule Rule(std::vector<std::string> names, std::string action,
                              std::vector<runsc::spec::SeccompArg> args = {},
                              std::optional<uint32_t> errno_ret = std::nullopt) {
  runsc::spec::SeccompRule r;
  r.names = std::move(names);
  r.action = std::move(action);
  r.args = std::move(args);
  r.errno_ret = errno_ret;
  return r;
}

runsc::spec::SeccompArg Arg(unsigned index, uint64_t value, std::string op, uint64_t two = 0) {
  runsc::spec::SeccompArg a;
  a.index = index;
  a.value = value;
  a.value_two = two;
  a.op = std::move(op);
  return a;
}

// The shape of Docker's default profile: ERRNO(EPERM) by default, an allow list, conditional
// rules for clone, personality and socket, and clone3 answered with ENOSYS.
runsc::spec::Seccomp DockerLikeProfile() {
  runsc::spec::Seccomp p;
  p.default_action = "SCMP_ACT_ERRNO";
  p.default_errno_ret = EPERM;
  p.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  p.syscalls = {
      Rule({"read", "write", "openat", "close", "exit_group", "futex", "mmap", "getppid",
            "socketcall", "a_syscall_nobody_has", "epoll_wait"},
           "SCMP_ACT_ALLOW"),
      // Each value of personality is a rule of its own, as Docker writes it.
      Rule({"personality"}, "SCMP_ACT_ALLOW", {Arg(0, 0, "SCMP_CMP_EQ")}),
      Rule({"personality"}, "SCMP_ACT_ALLOW", {Arg(0, 8, "SCMP_CMP_EQ")}),
      Rule({"personality"}, "SCMP_ACT_ALLOW", {Arg(0, 0xffffffff, "SCMP_CMP_EQ")}),
      // clone without namespace flags.
      Rule({"clone"}, "SCMP_ACT_ALLOW", {Arg(0, 0x7e020000, "SCMP_CMP_MASKED_EQ", 0)}),
      Rule({"clone3"}, "SCMP_ACT_ERRNO", {}, ENOSYS),
      Rule({"socket"}, "SCMP_ACT_ALLOW", {Arg(0, AF_VSOCK, "SCMP_CMP_NE")}),
      // Two conditions on one argument: runc adds one rule per condition.
      Rule({"kill"}, "SCMP_ACT_ALLOW", {Arg(1, 0, "SCMP_CMP_EQ"), Arg(1, 9, "SCMP_CMP_EQ")}),
      // Two arguments: both must hold.
      Rule({"tgkill"}, "SCMP_ACT_ALLOW", {Arg(0, 1, "SCMP_CMP_EQ"), Arg(2, 0, "SCMP_CMP_EQ")}),
      // The default action again: redundant, skipped.
      Rule({"mount"}, "SCMP_ACT_ERRNO", {}, EPERM),
  };
  return p;
}

uint32_t ErrnoAction(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

TEST(SeccompProfile, CompilesADockerLikeProfile) {
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(DockerLikeProfile());
  ASSERT_TRUE(prog.ok()) << prog.status();
  ASSERT_TRUE(ValidateSeccompProgram(*prog).ok()) << prog->size() << " instructions";
  auto run = [&](int nr, std::initializer_list<uint64_t> args = {}, uint32_t arch = kX86_64) {
    return RunSeccompProgram(*prog, Data(nr, args, arch));
  };
  EXPECT_EQ(run(__NR_read), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_getppid), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_mount), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_getpid), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_clone3), ErrnoAction(ENOSYS));
  EXPECT_EQ(run(__NR_clone, {SIGCHLD}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_clone, {CLONE_NEWNS | SIGCHLD}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_clone, {CLONE_NEWUSER}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_personality, {0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_personality, {8}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_personality, {0xffffffff}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_personality, {1}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_socket, {AF_INET}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_socket, {AF_VSOCK}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_kill, {1, 0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_kill, {1, 9}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_kill, {1, 15}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_tgkill, {1, 7, 0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(__NR_tgkill, {1, 7, 9}), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_tgkill, {2, 7, 0}), ErrnoAction(EPERM));
  // The other architectures it names: i386's read is 3, x32's numbers carry bit 30.
  EXPECT_EQ(run(3, {}, kI386), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(20, {}, kI386), ErrnoAction(EPERM));  // i386 getpid
  EXPECT_EQ(run(__NR_read | 0x40000000), SECCOMP_RET_ALLOW);
  // One it does not name is killed (libseccomp's bad-architecture action, KILL_THREAD).
  EXPECT_EQ(run(__NR_read, {}, AUDIT_ARCH_AARCH64), SECCOMP_RET_KILL_THREAD);
}

// Docker's default profile allows some 350 syscalls by name for three architectures; one that
// allows every x86-64 syscall by name is larger still and must fit in one program the sentry
// accepts.
TEST(SeccompProfile, AProfileOfEverySyscallFits) {
  runsc::spec::Seccomp p;
  p.default_action = "SCMP_ACT_ERRNO";
  p.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  std::vector<std::string> names;
  for (int nr = 0; nr <= syscalls::MaxSyscallNumber(); nr++) {
    if (const char* name = syscalls::SyscallName(nr)) names.push_back(name);
  }
  ASSERT_GT(names.size(), 300u);
  p.syscalls = {Rule(names, "SCMP_ACT_ALLOW")};
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(p);
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_TRUE(ValidateSeccompProgram(*prog).ok()) << prog->size() << " instructions";
  EXPECT_LE(SeccompCountedLength(*prog), kernel::kSeccompMaxPathLength);
  for (int nr = 0; nr <= syscalls::MaxSyscallNumber(); nr++) {
    const char* name = syscalls::SyscallName(nr);
    if (!name) continue;
    // A name this libseccomp does not know yet is skipped, as runc skips it: the default holds.
    bool known = seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
    EXPECT_EQ(RunSeccompProgram(*prog, Data(nr)), known ? SECCOMP_RET_ALLOW : ErrnoAction(EPERM))
        << name;
  }
  EXPECT_EQ(RunSeccompProgram(*prog, Data(1000)), ErrnoAction(EPERM));
}

TEST(SeccompProfile, ActionsAsRuncTranslatesThem) {
  runsc::spec::Seccomp p;
  p.default_action = "SCMP_ACT_ALLOW";
  p.syscalls = {
      Rule({"getppid"}, "SCMP_ACT_ERRNO"),  // EPERM without errnoRet
      Rule({"getpgrp"}, "SCMP_ACT_ERRNO", {}, 1234),
      Rule({"chroot"}, "SCMP_ACT_KILL"),
      Rule({"pivot_root"}, "SCMP_ACT_KILL_PROCESS"),
      Rule({"ptrace"}, "SCMP_ACT_TRACE"),
      Rule({"acct"}, "SCMP_ACT_TRAP"),
      Rule({"swapon"}, "SCMP_ACT_LOG"),
      Rule({"getpid"}, "SCMP_ACT_ALLOW"),  // the default again: skipped
  };
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(p);
  ASSERT_TRUE(prog.ok()) << prog.status();
  ASSERT_TRUE(ValidateSeccompProgram(*prog).ok());
  auto run = [&](int nr) { return RunSeccompProgram(*prog, Data(nr)); };
  EXPECT_EQ(run(__NR_getppid), ErrnoAction(EPERM));
  EXPECT_EQ(run(__NR_getpgrp), ErrnoAction(1234));
  EXPECT_EQ(run(__NR_chroot), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(run(__NR_pivot_root), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(run(__NR_ptrace), SECCOMP_RET_TRACE | EPERM);
  EXPECT_EQ(run(__NR_acct), SECCOMP_RET_TRAP);
  EXPECT_EQ(run(__NR_swapon), SECCOMP_RET_LOG);
  EXPECT_EQ(run(__NR_getpid), SECCOMP_RET_ALLOW);
}

TEST(SeccompProfile, DefaultErrnoRet) {
  runsc::spec::Seccomp p;
  p.default_action = "SCMP_ACT_ERRNO";
  p.default_errno_ret = ENOSYS;
  p.syscalls = {Rule({"read"}, "SCMP_ACT_ALLOW"), Rule({"write"}, "SCMP_ACT_ERRNO")};
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(p);
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_EQ(RunSeccompProgram(*prog, Data(__NR_read)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunSeccompProgram(*prog, Data(__NR_write)), ErrnoAction(EPERM));
  EXPECT_EQ(RunSeccompProgram(*prog, Data(__NR_close)), ErrnoAction(ENOSYS));
}

TEST(SeccompProfile, EmptyProfileIsNoFilter) {
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile({});
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_TRUE(prog->empty());
}

TEST(SeccompProfile, ErrorsNameTheField) {
  struct Case {
    runsc::spec::Seccomp profile;
    const char* field;
  };
  std::vector<Case> cases;
  auto base = [] {
    runsc::spec::Seccomp p;
    p.default_action = "SCMP_ACT_ALLOW";
    return p;
  };
  {
    runsc::spec::Seccomp p = base();
    p.default_action = "SCMP_ACT_FOO";
    cases.push_back({p, "linux.seccomp.defaultAction"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.syscalls = {Rule({"read"}, "SCMP_ACT_ALLOW"), Rule({"write"}, "SCMP_ACT_NOTIFY")};
    cases.push_back({p, "linux.seccomp.syscalls[1].action"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.syscalls = {Rule({"read"}, "SCMP_ACT_ERRNO", {Arg(0, 1, "SCMP_CMP_FOO")})};
    cases.push_back({p, "linux.seccomp.syscalls[0].args[0].op"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.syscalls = {Rule({"read"}, "SCMP_ACT_ERRNO", {Arg(6, 1, "SCMP_CMP_EQ")})};
    cases.push_back({p, "linux.seccomp.syscalls[0].args[0].index"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.syscalls = {Rule({"read", ""}, "SCMP_ACT_ERRNO")};
    cases.push_back({p, "linux.seccomp.syscalls[0].names[1]"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.architectures = {"SCMP_ARCH_VAX"};
    cases.push_back({p, "linux.seccomp.architectures[0]"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.flags = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_BOGUS"};
    cases.push_back({p, "linux.seccomp.flags[1]"});
  }
  {
    runsc::spec::Seccomp p = base();
    p.listener_path = "/run/listener.sock";
    cases.push_back({p, "linux.seccomp.listenerPath"});
  }
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(c.profile);
    ASSERT_FALSE(prog.ok()) << c.field;
    EXPECT_NE(prog.status().message().find(c.field), std::string::npos) << prog.status();
  }
}

}  // namespace
}  // namespace moat
