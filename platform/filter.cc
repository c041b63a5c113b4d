// The application's seccomp filter (DESIGN.md section 5): everything traps to the sentry except a
// small passthrough set that touches nothing but the process's own memory, futexes and clocks.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <asm/prctl.h>
#include <fcntl.h>
#include <sched.h>
#include <cerrno>
#include <cstddef>
#include <cstdio>

#include <fmt/format.h>

#include "base/status_macros.h"
#include "platform/filter_builder.h"
#include "platform/platform.h"
#include "platform/stub/stub_layout.h"

namespace moat::platform {
namespace {

// The clock reads the host answers: all but a process's CPU-time clock named by pid (a negative
// clock id without the thread bit, glibc's MAKE_PROCESS_CPUCLOCK), or a clock fd. Those trap: a
// sandbox pid's process may be a zombie the host no longer knows. A thread's clock names a thread
// of the caller's own host process, which the host finds as the sandbox would.
void AllowClockReads(FilterBuilder& f) {
  constexpr uint32_t kSign = 0x80000000u;  // the kernel reads the id as an int: the low half
  constexpr uint32_t kThread = 4;          // CPUCLOCK_PERTHREAD_MASK
  for (int nr : {SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres)}) {
    f.Rule(SCMP_ACT_ALLOW, nr, SCMP_A0(SCMP_CMP_MASKED_EQ, kSign, 0));
    f.Rule(SCMP_ACT_ALLOW, nr, SCMP_A0(SCMP_CMP_MASKED_EQ, kSign | kThread, kSign | kThread));
  }
  for (int nr : {SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getcpu)}) {
    f.Rule(SCMP_ACT_ALLOW, nr);
  }
}

// Appends a test of the syscall's address: execution falls through if it was made from the stub's
// code, and jumps `not_stub` instructions past the test otherwise.
void AppendFromStubTest(std::vector<sock_filter>& prog, uint8_t not_stub) {
  constexpr uint32_t kIp = offsetof(struct seccomp_data, instruction_pointer);
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp + 4));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(stub::kBase >> 32), 0,
                          static_cast<uint8_t>(not_stub + 3)));
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<uint32_t>(stub::kBase), 0,
                          static_cast<uint8_t>(not_stub + 1)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
                          static_cast<uint32_t>(stub::kBase + stub::kCodeSize), not_stub, 0));
}

}  // namespace

std::span<const int> PassthroughSyscalls() {
  // Every number that BuildAppFilter below lets through to the host, for some arguments at least;
  // unit tests check the two agree by running the filters.
  static constexpr int kNumbers[] = {
      SCMP_SYS(mmap),          SCMP_SYS(munmap),        SCMP_SYS(mprotect),
      SCMP_SYS(madvise),       SCMP_SYS(mremap),        SCMP_SYS(msync),
      SCMP_SYS(mincore),       SCMP_SYS(mlock),         SCMP_SYS(munlock),
      SCMP_SYS(mlock2),        SCMP_SYS(mlockall),      SCMP_SYS(munlockall),
      SCMP_SYS(futex),         SCMP_SYS(futex_waitv),   SCMP_SYS(sched_yield),
      SCMP_SYS(set_robust_list), SCMP_SYS(arch_prctl),  SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_getres),  SCMP_SYS(gettimeofday),  SCMP_SYS(time),
      SCMP_SYS(getcpu),
  };
  return kNumbers;
}

std::vector<struct sock_filter> BuildPassthroughTrapFilter(uint32_t trap_action,
                                                          PassthroughExemption exempt) {
  std::span<const int> nrs = PassthroughSyscalls();
  std::vector<sock_filter> prog;
  // Another architecture's syscall: the application's filter kills it; nothing to add.
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  constexpr uint32_t kIp = offsetof(struct seccomp_data, instruction_pointer);
  if (exempt == PassthroughExemption::kParkFutex) {
    // A parked thread's futex (stub_layout.h) runs on the host as before: the thread has no
    // tracer yet, and a trap would only make it spin. Only futex, only from that address.
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SCMP_SYS(futex), 0, 5));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                            static_cast<uint32_t>(stub::kParkSyscallEnd), 0, 3));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp + 4));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                            static_cast<uint32_t>(stub::kParkSyscallEnd >> 32), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  } else {
    // The stub's own syscalls, and the passthrough syscalls it runs for the sentry once the
    // application's filters allowed them, come from its code: the application filter's stub
    // rules decide about those (BuildTrapAppFilter).
    AppendFromStubTest(prog, 1);
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  // One comparison per number, each jumping to the trap at the end when equal.
  for (size_t i = 0; i < nrs.size(); i++) {
    uint8_t to_trap = static_cast<uint8_t>(nrs.size() - i);
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nrs[i]), to_trap, 0));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, trap_action));
  return prog;
}

absl::StatusOr<std::vector<struct sock_filter>> BuildAppFilter(uint32_t trap_action) {
  FilterBuilder f(trap_action);
  // A syscall of another ABI (int 0x80, x32) has no meaning here: kill the process.
  f.KillOtherArchitectures();

  const uint32_t allow = SCMP_ACT_ALLOW;
  // Anonymous memory is the process's own business. File mappings trap: the sentry installs the
  // file's host fd and injects the mmap.
  f.Rule(allow, SCMP_SYS(mmap), SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS));
  for (int nr : {SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(mremap),
                 SCMP_SYS(msync), SCMP_SYS(mincore), SCMP_SYS(mlock), SCMP_SYS(munlock),
                 SCMP_SYS(mlock2), SCMP_SYS(mlockall), SCMP_SYS(munlockall)}) {
    f.Rule(allow, nr);
  }
  // Futexes live in the process's memory; threads are host threads.
  f.Rule(allow, SCMP_SYS(futex));
  f.Rule(allow, SCMP_SYS(futex_waitv));
  f.Rule(allow, SCMP_SYS(sched_yield));
  f.Rule(allow, SCMP_SYS(set_robust_list));
  f.Rule(allow, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_SET_FS));
  f.Rule(allow, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_GET_FS));
  // Clock reads are what the vDSO does without a syscall anyway.
  AllowClockReads(f);
  // glibc registers rseq when the kernel has it; the sentry does not offer it.
  f.Rule(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(rseq));
  RETURN_IF_ERROR(f.status());

  return f.Export();
}

absl::StatusOr<std::vector<struct sock_filter>> BuildTrapAppFilter() {
  ASSIGN_OR_RETURN(std::vector<sock_filter> app, BuildAppFilter(SCMP_ACT_TRAP));

  // What the stub's code may run (stub_trap.c, and the syscalls the sentry injects or runs for
  // the application through it). The application can jump into the stub's code with registers of
  // its choosing, so each rule allows no more than the sentry needs; anything else from the stub
  // kills the process.
  FilterBuilder f(SCMP_ACT_KILL_PROCESS);
  f.KillOtherArchitectures();
  const uint32_t allow = SCMP_ACT_ALLOW;
  // The handler's own work: waiting for the sentry, returning to the application, starting.
  for (int nr : {SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
                 SCMP_SYS(sigaltstack), SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid),
                 SCMP_SYS(getrusage), SCMP_SYS(exit), SCMP_SYS(exit_group)}) {
    f.Rule(allow, nr);
  }
  f.Rule(allow, SCMP_SYS(tgkill), SCMP_A2(SCMP_CMP_EQ, stub::kInterruptSignal));
  f.Rule(allow, SCMP_SYS(fcntl), SCMP_A0(SCMP_CMP_EQ, stub::kSysmsgFd),
         SCMP_A1(SCMP_CMP_EQ, F_SETOWN_EX));
  f.Rule(allow, SCMP_SYS(dup3), SCMP_A1(SCMP_CMP_EQ, stub::kSysmsgFd));
  // Injected by the sentry: mappings of installed fds, the installation itself, the exec of the
  // stub, clones it vetted, and more filters (which only ever restrict).
  f.Rule(allow, SCMP_SYS(mmap));
  f.Rule(allow, SCMP_SYS(close));
  f.Rule(allow, SCMP_SYS(recvmsg), SCMP_A0(SCMP_CMP_EQ, stub::kChannelFd));
  f.Rule(allow, SCMP_SYS(execveat), SCMP_A0(SCMP_CMP_EQ, stub::kStubFd),
         SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH));
  constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
                                       CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWCGROUP;
  // A clone the application makes from here becomes a process the sentry does not know: the
  // clone gate under this filter (BuildCloneGateFilter) lets through only the sentry's.
  f.Rule(allow, SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0));
  f.Rule(allow, SCMP_SYS(seccomp), SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
  // Run for the application as it trapped them (the sentry's kEHOSTSYSCALL): the passthrough set
  // once the application's own filters see it, and the few the host must do itself.
  for (int nr : PassthroughSyscalls()) {
    if (nr != SCMP_SYS(arch_prctl) && nr != SCMP_SYS(futex)) f.Rule(allow, nr);
  }
  f.Rule(allow, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_SET_FS));
  f.Rule(allow, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_GET_FS));
  // The gs base, a register edit in the sentry, is applied through the stub.
  f.Rule(allow, SCMP_SYS(arch_prctl), SCMP_A0(SCMP_CMP_EQ, ARCH_SET_GS));
  for (int nr : {SCMP_SYS(membarrier), SCMP_SYS(set_tid_address), SCMP_SYS(get_robust_list),
                 SCMP_SYS(restart_syscall)}) {
    f.Rule(allow, nr);
  }
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(std::vector<sock_filter> from_stub, f.Export());

  // The stub's rules for syscalls made from its code, the application's for everything else.
  // (Both programs check the architecture first themselves.)
  constexpr uint32_t kIp = offsetof(struct seccomp_data, instruction_pointer);
  std::vector<sock_filter> prog = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(stub::kBase >> 32), 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIp),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<uint32_t>(stub::kBase), 0, 1),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, static_cast<uint32_t>(stub::kBase + stub::kCodeSize),
               0, 1),
      BPF_STMT(BPF_JMP | BPF_JA | BPF_K, static_cast<uint32_t>(from_stub.size())),
  };
  prog.insert(prog.end(), from_stub.begin(), from_stub.end());
  prog.insert(prog.end(), app.begin(), app.end());
  if (prog.size() > BPF_MAXINSNS)
    return absl::InternalError(fmt::format("the application filter has {} instructions", prog.size()));
  return prog;
}

std::vector<struct sock_filter> BuildCloneGateFilter() {
  std::vector<sock_filter> prog = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 8),  // to the ALLOW at the end
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(SCMP_SYS(clone)), 0, 6),
  };
  AppendFromStubTest(prog, 1);
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return prog;
}

absl::StatusOr<FileDescriptor> CreateStubMemfd() {
  FileDescriptor fd(memfd_create("moat-stub", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return ErrnoStatus("memfd_create(moat-stub)");
  const uint8_t* p = stub::Image();
  size_t left = stub::ImageSize();
  while (left > 0) {
    ssize_t n = write(fd.get(), p, left);
    if (n < 0) return ErrnoStatus("write(moat-stub)");
    p += n;
    left -= n;
  }
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    return ErrnoStatus("fcntl(moat-stub, F_ADD_SEALS)");
  return fd;
}

}  // namespace moat::platform
