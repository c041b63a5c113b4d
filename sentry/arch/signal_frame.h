// Signal delivery and rt_sigreturn for x86-64, as pure functions over register and memory images.
//
// BuildSignalFrame does what Linux's get_sigframe() + x64_setup_rt_frame() + handle_signal() do to
// a thread that takes a caught signal: it picks the stack, lays out the fpstate and struct
// rt_sigframe (sentry/arch/signal_abi.h), and computes the handler's registers. ParseSignalFrame
// is rt_sigreturn: restore_sigcontext() + fpu__restore_sig() + the uc_stack read.
//
// What the caller (the sentry's signal delivery) does around them, as Linux does:
//   - Before building: the syscall-restart adjustment of regs (ERESTARTSYS & co.), and clearing
//     single-step. After a successful build: block sa_mask (+ the signal unless SA_NODEFER) and, if
//     the altstack has SS_AUTODISARM, reset it (signal_delivered()); start the handler with a fresh
//     FPU state (InitialXstate; fpu__clear_user_states()).
//   - Any error from BuildSignalFrame, or from writing its bytes, means Linux's "failed" setup:
//     force SIGSEGV (signal_setup_done -> force_sigsegv).
//   - Any error from ParseSignalFrame is Linux's "badframe": force SIGSEGV. On success, the syscall
//     returns the restored rax unchanged (kEJUSTRETURN), the signal mask becomes `sigmask`, and
//     `altstack` is applied like sigaltstack(&altstack, NULL) with the restored rsp, ignoring errors.
//     (Linux sets the mask before restoring the registers, so a bad frame whose mask word was
//     readable still changes the mask; this API drops it on error.)
#ifndef MOAT_SENTRY_ARCH_SIGNAL_FRAME_H_
#define MOAT_SENTRY_ARCH_SIGNAL_FRAME_H_

#include <signal.h>
#include <sys/user.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/errno.h"

namespace moat::arch {

// How the host lays out a task's extended FPU state in signal frames: fpstate->user_size and
// ->user_xfeatures in Linux terms, plus the CPU's MXCSR_MASK.
struct XstateConfig {
  size_t size = 0;          // bytes of XSAVE area (user, standard format) in a signal frame
  uint64_t features = 0;    // the user xfeatures (XCR0 minus dynamically enabled ones such as AMX)
  uint32_t mxcsr_mask = 0;  // MXCSR bits that may be set
};

// Reads the host's configuration with CPUID, XGETBV and FXSAVE. Dynamic features (AMX tile data,
// enabled per process with arch_prctl(ARCH_REQ_XCOMP_PERM)) are left out, as for a task that has
// not asked for them.
XstateConfig HostXstateConfig();

// The xstate a signal handler starts with (and rt_sigreturn restores for a NULL fpstate): x87 and
// SSE in their initial state (FCW 0x37f, MXCSR 0x1f80), every other component absent. The FP and
// SSE bits are set in xstate_bv so that PTRACE_SETREGSET writes MXCSR instead of keeping the old one.
std::vector<uint8_t> InitialXstate(const XstateConfig& config);

// The fault fields of the sigcontext: the trap's error code, vector and CR2.
struct FaultInfo {
  uint64_t err = 0;
  uint64_t trapno = 0;
  uint64_t cr2 = 0;
};

struct SignalFrameInput {
  // The registers at delivery (after any syscall-restart adjustment). regs.rsp decides the stack.
  user_regs_struct regs{};
  // The thread's XSAVE area as PTRACE_GETREGSET(NT_X86_XSTATE) returns it: user (standard) format
  // with sw_reserved holding XCR0 in its first 8 bytes, or a signal frame's fpstate (sw_reserved
  // holding FP_XSTATE_MAGIC1 & co.). Bytes beyond xstate_config.size are ignored, missing ones
  // read as zero.
  std::vector<uint8_t> xstate;
  XstateConfig xstate_config;
  siginfo_t info{};      // info.si_signo is the signal; copied into the frame only with SA_SIGINFO
  uint64_t sigmask = 0;  // the mask to restore on return (uc_sigmask and sigcontext.oldmask)
  // The task's sigaltstack settings, as stored by sigaltstack(2): they decide the stack switch and
  // are what uc_stack reports (ss_flags is the stored value: 0, SS_DISABLE or SS_AUTODISARM; a
  // thread that never called sigaltstack has {0, 0, 0}).
  stack_t altstack{};
  uint64_t sa_flags = 0;  // SA_SIGINFO, SA_ONSTACK and SA_RESTORER matter here
  uint64_t handler = 0;
  uint64_t restorer = 0;  // sa_restorer: required (x86-64 has no kernel-provided trampoline)
  FaultInfo fault;
};

struct SignalFrameOutput {
  uint64_t frame_addr = 0;    // the handler's rsp: the struct rt_sigframe
  uint64_t fpstate_addr = 0;  // 64-byte aligned, above the frame
  bool on_altstack = false;   // the frame was built on the alternate signal stack
  // The bytes to write at frame_addr: the frame, padding, then the fpstate and FP_XSTATE_MAGIC2.
  std::vector<uint8_t> bytes;
  // The handler's registers: rip = handler, rsp = frame_addr, rdi = signo, rsi = &frame->info,
  // rdx = &frame->uc, rax = 0, DF, TF and RF cleared, cs = __USER_CS, ss = __USER_DS if it was not.
  // Everything else (orig_rax, fs_base, ...) is as in the input.
  user_regs_struct regs{};
};

// Builds the signal frame. EFAULT when Linux's setup fails: no SA_RESTORER, a frame that would
// overflow the alternate stack it is on, or a frame outside the user address space. EINVAL if
// xstate_config.size is below the 576-byte XSAVE minimum.
Result<SignalFrameOutput> BuildSignalFrame(const SignalFrameInput& in);

// Reads application memory; EFAULT (or any error) if [addr, addr + n) is not readable.
using ReadMemFn = std::function<Result<void>(uint64_t addr, void* dst, size_t n)>;

struct SigreturnResult {
  // General registers, rip, rsp from the frame; eflags merged (kFixEflags bits from the frame);
  // cs and ss from the frame with RPL 3 forced; fs_base, gs_base, ds, es, fs, gs from `current`;
  // orig_rax = -1 so that the host does no syscall restart.
  user_regs_struct regs{};
  std::vector<uint8_t> xstate;  // xstate_config.size bytes in PTRACE_SETREGSET format
  uint64_t sigmask = 0;         // uc_sigmask without SIGKILL and SIGSTOP (set_current_blocked)
  stack_t altstack{};           // uc_stack as read
};

// rt_sigreturn with `rsp` the stack pointer at the syscall (the frame is at rsp - 8, the handler's
// `ret` having popped pretcode). Restores like Linux's restore_sigcontext: cs and ss are taken
// from the frame with RPL 3 (`| 3`) rather than forced to 0x33/0x2b, so a frame may return to
// 32-bit code as on Linux; the host kernel validates the selectors when the registers are set.
// The fpstate: NULL gives InitialXstate; with valid magic (magic1, sizes, magic2 at
// fpstate + xstate_size) the whole XSAVE area is restored as XRSTOR would, keeping only the
// components in the frame's xfeatures; without it only the 512-byte FXSAVE part is (FP|SSE).
// EFAULT for everything Linux treats as a bad frame: unreadable memory, an XSAVE-form fpstate
// that is not 64-byte aligned, an XSAVE header XRSTOR would #GP on (xstate_bv bits outside the
// features, non-zero bytes 8..23), or MXCSR bits outside mxcsr_mask. (The FXSAVE-only form is
// accepted at any alignment, as the host kernel was seen to do.)
Result<SigreturnResult> ParseSignalFrame(const ReadMemFn& read, uint64_t rsp, const user_regs_struct& current,
                                         const XstateConfig& xstate_config);

}  // namespace moat::arch

#endif  // MOAT_SENTRY_ARCH_SIGNAL_FRAME_H_
