// The stub: a tiny static program that every application process runs as its host image.
//
// runsc carries it in a sealed memfd. execve makes the application process exec it (DESIGN.md
// section 4); the sentry then maps the real program into the process. Its code stays mapped at a
// fixed address in every application process, and both platforms use its entry points. The layout
// below is fixed by stub.ld and the .org directives in stub.S; stub_test checks the two agree.
#ifndef MOAT_PLATFORM_STUB_STUB_LAYOUT_H_
#define MOAT_PLATFORM_STUB_STUB_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "platform/stub/sysmsg.h"

namespace moat::stub {

// Far from everything the kernel places on its own: PIE executables load near 0x5555'5555'4000,
// mmap() grows down from below the stack near 0x7fxx'xxxx'xxxx, and brk (emulated) starts after
// the program's bss.
inline constexpr uint64_t kBase = MOAT_STUB_BASE;
inline constexpr uint64_t kCodeSize = MOAT_STUB_CODE_SIZE;
// The entry point: the seccomp_trap platform's start of a fresh image (stub_trap.c). The ptrace
// platform takes over at the exec stop instead and never runs it.
inline constexpr uint64_t kEntry = kBase + 0x0;
// `mov %r12, %rax; syscall; int3`: the injection gadget. The sentry points rip here with the
// syscall number in r12 to run a syscall in the application's context, and regains control at the
// int3. The number is not taken from rax because a thread stopped inside a syscall (at an exec
// stop) gets that syscall's return value written to rax when it resumes.
inline constexpr uint64_t kSyscallGadget = kBase + 0x10;
inline constexpr uint64_t kSyscallGadgetTrap = kSyscallGadget + 5;  // address of the int3
// A loop around futex(FUTEX_WAIT_PRIVATE) on a word that is always zero. A new thread waits here,
// untraced, until its own task thread attaches to it.
inline constexpr uint64_t kPark = kBase + 0x20;
// The address after the park loop's syscall instruction: the instruction pointer a parked
// thread's futex reports to seccomp.
inline constexpr uint64_t kParkSyscallEnd = kPark + 0x18;
// A NUL byte, the empty path of execveat(fd, "", ..., AT_EMPTY_PATH).
inline constexpr uint64_t kEmptyString = kBase + 0x100;
// { kEmptyString, NULL }: the argv of the stub's exec; kArgv + 8 is its (empty) envp.
inline constexpr uint64_t kArgv = kBase + 0x108;
inline constexpr uint64_t kEnvp = kBase + 0x110;
// One page, private to each process (copy-on-write), that the sentry uses as scratch memory for
// injected syscalls that take pointers (recvmsg of an installed fd). Guarded by a per-process lock.
inline constexpr uint64_t kScratch = kBase + kCodeSize;
inline constexpr uint64_t kScratchSize = 0x1000;
inline constexpr uint64_t kEnd = kScratch + kScratchSize;

// The seccomp_trap platform's shared region (sysmsg.h): one slot per thread.
inline constexpr uint64_t kSysmsgBase = MOAT_SYSMSG_BASE;
inline constexpr uint64_t kSlotSize = MOAT_SLOT_SIZE;
inline constexpr uint64_t kMaxSlots = MOAT_MAX_SLOTS;
inline constexpr uint64_t kRegionSize = MOAT_REGION_SIZE;
static_assert(kSysmsgBase >= kEnd && kSysmsgBase % kSlotSize == 0);

// Host fd numbers inside every application process. The application cannot name host fds at all
// (fd-taking syscalls trap), so these are private to the sentry.
inline constexpr int kChannelFd = MOAT_CHANNEL_FD;  // SOCK_DGRAM unix socket; fds arrive by SCM_RIGHTS
inline constexpr int kStubFd = MOAT_STUB_FD;        // the stub memfd, exec'd by execveat
inline constexpr int kSpawnSyncFd = 102;            // a root process waits on it before its exec
inline constexpr int kSysmsgFd = MOAT_SYSMSG_FD;    // seccomp_trap: the memfd of the region
inline constexpr int kInterruptSignal = MOAT_INTERRUPT_SIGNAL;

// The stub binary, embedded in runsc by stub_blob.S.
const uint8_t* Image();
size_t ImageSize();

}  // namespace moat::stub

#endif  // MOAT_PLATFORM_STUB_STUB_LAYOUT_H_
