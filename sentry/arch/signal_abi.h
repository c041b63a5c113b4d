// The x86-64 Linux signal-frame ABI: struct rt_sigframe and what it contains, as the kernel (not
// glibc) defines them. glibc's ucontext_t is larger (it appends __fpregs_mem and __ssp) and
// <asm/sigcontext.h> clashes with <signal.h>, so the layouts are spelled out here and pinned with
// static_asserts.
#ifndef MOAT_SENTRY_ARCH_SIGNAL_ABI_H_
#define MOAT_SENTRY_ARCH_SIGNAL_ABI_H_

#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace moat::arch {

// uc_flags bits (arch/x86/include/uapi/asm/ucontext.h).
inline constexpr uint64_t kUcFpXstate = 0x1;         // the fpstate has the XSAVE extension
inline constexpr uint64_t kUcSigcontextSs = 0x2;     // sigcontext.ss is valid
inline constexpr uint64_t kUcStrictRestoreSs = 0x4;  // sigreturn restores ss as saved

// Magic numbers of the XSAVE-extended fpstate (uapi/asm/sigcontext.h).
inline constexpr uint32_t kFpXstateMagic1 = 0x46505853;  // in sw_reserved
inline constexpr uint32_t kFpXstateMagic2 = 0x46505845;  // right after the xstate
inline constexpr size_t kFpXstateMagic2Size = 4;

// Segment selectors of 64-bit user mode (__USER_CS, __USER_DS).
inline constexpr uint16_t kUserCs = 0x33;
inline constexpr uint16_t kUserDs = 0x2b;

// sa_flags bits the frame builder looks at. glibc does not export SA_RESTORER.
inline constexpr uint64_t kSaSiginfo = 0x00000004;
inline constexpr uint64_t kSaRestorer = 0x04000000;
inline constexpr uint64_t kSaOnstack = 0x08000000;
// sigaltstack flags.
inline constexpr int kSsOnstack = 1;
inline constexpr int kSsDisable = 2;
inline constexpr uint32_t kSsAutodisarm = 1U << 31;

// EFLAGS bits.
inline constexpr uint64_t kEflagsCf = 1 << 0;
inline constexpr uint64_t kEflagsPf = 1 << 2;
inline constexpr uint64_t kEflagsAf = 1 << 4;
inline constexpr uint64_t kEflagsZf = 1 << 6;
inline constexpr uint64_t kEflagsSf = 1 << 7;
inline constexpr uint64_t kEflagsTf = 1 << 8;
inline constexpr uint64_t kEflagsDf = 1 << 10;
inline constexpr uint64_t kEflagsOf = 1 << 11;
inline constexpr uint64_t kEflagsRf = 1 << 16;
inline constexpr uint64_t kEflagsAc = 1 << 18;
// The flags rt_sigreturn takes from the frame (FIX_EFLAGS); the others keep their current value.
inline constexpr uint64_t kFixEflags = kEflagsAc | kEflagsOf | kEflagsDf | kEflagsTf | kEflagsSf | kEflagsZf |
                                       kEflagsAf | kEflagsPf | kEflagsCf | kEflagsRf;

// XSAVE state components (xfeatures bits).
inline constexpr uint64_t kXfeatureFp = 1 << 0;
inline constexpr uint64_t kXfeatureSse = 1 << 1;
inline constexpr uint64_t kXfeatureYmm = 1 << 2;

// The user (standard, non-compacted) XSAVE area: a 512-byte FXSAVE image, a 64-byte header, then
// the components at the offsets CPUID leaf 0xD gives.
inline constexpr size_t kFxsaveSize = 512;
inline constexpr size_t kXsaveHeaderSize = 64;
inline constexpr size_t kXsaveMinSize = kFxsaveSize + kXsaveHeaderSize;
inline constexpr size_t kFxsaveFcwOffset = 0;
inline constexpr size_t kFxsaveMxcsrOffset = 24;
inline constexpr size_t kFxsaveMxcsrMaskOffset = 28;
inline constexpr size_t kFxsaveSwReservedOffset = 464;  // 48 bytes the hardware leaves alone
inline constexpr size_t kXsaveHeaderOffset = 512;       // xstate_bv, xcomp_bv, 48 reserved bytes
inline constexpr uint16_t kFcwDefault = 0x037f;
inline constexpr uint32_t kMxcsrDefault = 0x1f80;

// struct _fpx_sw_bytes: the software-defined bytes at offset 464 of the fpstate in a signal frame.
struct FpxSwBytes {
  uint32_t magic1;
  uint32_t extended_size;  // xstate_size + 4 (room for magic2)
  uint64_t xfeatures;      // the xfeatures the frame's xstate may hold (the task's user xfeatures)
  uint32_t xstate_size;    // bytes of XSAVE area, not counting magic2
  uint32_t padding[7];
};
static_assert(sizeof(FpxSwBytes) == 48);

// The kernel's struct sigcontext for x86-64 (uapi/asm/sigcontext.h).
struct KernelSigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;  // address of the fpstate, or 0
  uint64_t reserved1[8];
};
static_assert(sizeof(KernelSigcontext) == 256);
static_assert(offsetof(KernelSigcontext, rdi) == 64);
static_assert(offsetof(KernelSigcontext, rip) == 128);
static_assert(offsetof(KernelSigcontext, eflags) == 136);
static_assert(offsetof(KernelSigcontext, cs) == 144);
static_assert(offsetof(KernelSigcontext, ss) == 150);
static_assert(offsetof(KernelSigcontext, err) == 152);
static_assert(offsetof(KernelSigcontext, cr2) == 176);
static_assert(offsetof(KernelSigcontext, fpstate) == 184);

// The kernel's stack_t: {void* ss_sp; int ss_flags; size_t ss_size}.
struct KernelStack {
  uint64_t ss_sp;
  int32_t ss_flags;
  uint32_t pad;
  uint64_t ss_size;
};
static_assert(sizeof(KernelStack) == 24);

// The kernel's struct ucontext (uapi/asm-generic/ucontext.h) with an 8-byte sigset_t.
struct KernelUcontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  KernelStack uc_stack;
  KernelSigcontext uc_mcontext;
  uint64_t uc_sigmask;
};
static_assert(sizeof(KernelUcontext) == 304);
static_assert(offsetof(KernelUcontext, uc_mcontext) == 40);
static_assert(offsetof(KernelUcontext, uc_sigmask) == 296);

// struct rt_sigframe (arch/x86/include/asm/sigframe.h). The handler is entered with %rsp pointing
// at pretcode, as if `call handler` had pushed it; the fpstate lives above, 64-byte aligned.
struct RtSigframe {
  uint64_t pretcode;  // sa_restorer: the handler's return address
  KernelUcontext uc;
  siginfo_t info;
};
static_assert(sizeof(siginfo_t) == 128);
static_assert(sizeof(RtSigframe) == 440);
static_assert(offsetof(RtSigframe, uc) == 8);
static_assert(offsetof(RtSigframe, info) == 312);

// The part of siginfo_t the kernel keeps (struct kernel_siginfo); copy_siginfo_to_user() copies it
// and zeroes the rest of the 128 bytes.
inline constexpr size_t kKernelSiginfoSize = 48;

}  // namespace moat::arch

#endif  // MOAT_SENTRY_ARCH_SIGNAL_ABI_H_
