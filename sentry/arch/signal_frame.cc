#include "sentry/arch/signal_frame.h"

#include <cpuid.h>

#include <algorithm>
#include <cstring>

#include "sentry/arch/signal_abi.h"

namespace moat::arch {
namespace {

// x86-64's TASK_SIZE_MAX: access_ok() refuses any range that reaches it.
constexpr uint64_t kTaskSizeMax = 0x7ffffffff000ULL;
// The red zone below %rsp that the x86-64 ABI lets leaf functions use.
constexpr uint64_t kRedZone = 128;

constexpr uint64_t RoundDown(uint64_t v, uint64_t align) { return v & ~(align - 1); }

// access_ok(): the range lies below TASK_SIZE_MAX without wrapping.
bool AccessOk(uint64_t addr, uint64_t size) { return size <= kTaskSizeMax && addr <= kTaskSizeMax - size; }

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
void Store64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof(v)); }
void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }
void Store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof(v)); }

// The sigaltstack predicates of include/linux/sched/signal.h.
struct AltStack {
  uint64_t sp;
  uint64_t size;
  uint32_t flags;

  // __on_sig_stack(): sp is within (ss_sp, ss_sp + ss_size].
  bool Contains(uint64_t addr) const { return addr > sp && addr - sp <= size; }
  // on_sig_stack(): with SS_AUTODISARM a thread is never considered to be on its altstack, so a
  // corrupted stack pointer near the altstack cannot prevent delivery.
  bool On(uint64_t addr) const { return (flags & kSsAutodisarm) ? false : Contains(addr); }
  // sas_ss_flags().
  int Flags(uint64_t addr) const {
    if (size == 0) return kSsDisable;
    return On(addr) ? kSsOnstack : 0;
  }
};

// Fills the x87 and SSE parts of an FXSAVE image with their initial values.
void InitFp(uint8_t* x) {
  std::memset(x, 0, 24);        // FCW..FDP
  std::memset(x + 32, 0, 128);  // ST0-ST7
  Store16(x + kFxsaveFcwOffset, kFcwDefault);
}

}  // namespace

XstateConfig HostXstateConfig() {
  XstateConfig config;
  alignas(16) uint8_t fx[kFxsaveSize] = {};
  asm volatile("fxsave64 %0" : "=m"(fx));
  config.mxcsr_mask = Load32(fx + kFxsaveMxcsrMaskOffset);
  // A zero MXCSR_MASK means the CPU predates it; the architectural default then applies.
  if (config.mxcsr_mask == 0) config.mxcsr_mask = 0xffbf;

  unsigned eax, ebx, ecx, edx;
  __cpuid(1, eax, ebx, ecx, edx);
  if (!(ecx & bit_OSXSAVE)) {
    // FXSAVE-only hosts use a 512-byte fpstate without the XSAVE extension.
    config.size = kFxsaveSize;
    config.features = kXfeatureFp | kXfeatureSse;
    return config;
  }
  uint32_t xcr0_lo, xcr0_hi;
  asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  uint64_t features = (uint64_t{xcr0_hi} << 32) | xcr0_lo;
  size_t size = kXsaveMinSize;
  for (int i = 2; i < 63; i++) {
    if (!(features & (uint64_t{1} << i))) continue;
    __cpuid_count(0xd, i, eax, ebx, ecx, edx);
    // Components that support extended feature disable (AMX tile data) are enabled per process on
    // request; a task that did not ask has them neither in its frames nor in its size.
    if (ecx & (1 << 2)) {
      features &= ~(uint64_t{1} << i);
      continue;
    }
    size = std::max<size_t>(size, size_t{ebx} + eax);
  }
  config.size = size;
  config.features = features;
  return config;
}

std::vector<uint8_t> InitialXstate(const XstateConfig& config) {
  std::vector<uint8_t> x(std::max(config.size, kXsaveMinSize), 0);
  InitFp(x.data());
  Store32(x.data() + kFxsaveMxcsrOffset, kMxcsrDefault);
  Store32(x.data() + kFxsaveMxcsrMaskOffset, config.mxcsr_mask);
  // PTRACE_GETREGSET reports XCR0 in the first word of sw_reserved; mirror it.
  Store64(x.data() + kFxsaveSwReservedOffset, config.features);
  Store64(x.data() + kXsaveHeaderOffset, kXfeatureFp | kXfeatureSse);
  return x;
}

Result<SignalFrameOutput> BuildSignalFrame(const SignalFrameInput& in) {
  const XstateConfig& cfg = in.xstate_config;
  if (cfg.size < kXsaveMinSize) return Errno(EINVAL);
  // x64_setup_rt_frame(): "x86-64 should always use SA_RESTORER".
  if (!(in.sa_flags & kSaRestorer)) return Errno(EFAULT);

  // get_sigframe(). The red zone is skipped first, and the altstack test looks at that lowered
  // pointer; a switch to the altstack starts at its very top, with no red zone.
  const AltStack alt{reinterpret_cast<uint64_t>(in.altstack.ss_sp), in.altstack.ss_size,
                     static_cast<uint32_t>(in.altstack.ss_flags)};
  const bool nested_altstack = alt.On(in.regs.rsp);
  bool entering_altstack = false;
  uint64_t sp = in.regs.rsp - kRedZone;
  if ((in.sa_flags & kSaOnstack) && alt.Flags(sp) == 0) {
    sp = alt.sp + alt.size;
    entering_altstack = true;
  }
  // fpu__alloc_mathframe(): the XSAVE area plus FP_XSTATE_MAGIC2, 64-byte aligned for XSAVE.
  const uint64_t math_size = cfg.size + kFpXstateMagic2Size;
  const uint64_t fpstate = RoundDown(sp - math_size, 64);
  // align_sigframe(): ((frame + 8) % 16) == 0, as after a call instruction at function entry.
  const uint64_t frame = RoundDown(fpstate - sizeof(RtSigframe), 16) - 8;
  // A frame that does not fit on the altstack it is on gets the "always-bogus" address -1.
  if ((nested_altstack || entering_altstack) && !alt.Contains(frame)) return Errno(EFAULT);
  // The writes of the frame and of the fpstate would fault outside the user address space (this
  // also catches a stack pointer so low that the arithmetic above wrapped).
  if (frame > sp || !AccessOk(frame, fpstate + math_size - frame)) return Errno(EFAULT);

  SignalFrameOutput out;
  out.frame_addr = frame;
  out.fpstate_addr = fpstate;
  out.on_altstack = nested_altstack || entering_altstack;
  out.bytes.assign(fpstate + math_size - frame, 0);
  uint8_t* const base = out.bytes.data();

  // The rt_sigframe: uc_flags as frame_uc_flags() computes them on an XSAVE machine.
  RtSigframe f;
  std::memset(&f, 0, sizeof(f));
  f.pretcode = in.restorer;
  f.uc.uc_flags = kUcFpXstate | kUcSigcontextSs;
  if (in.regs.cs == kUserCs) f.uc.uc_flags |= kUcStrictRestoreSs;  // user_64bit_mode()
  f.uc.uc_link = 0;
  f.uc.uc_stack.ss_sp = alt.sp;
  f.uc.uc_stack.ss_flags = in.altstack.ss_flags;
  f.uc.uc_stack.ss_size = alt.size;
  KernelSigcontext& sc = f.uc.uc_mcontext;
  const user_regs_struct& r = in.regs;
  sc.r8 = r.r8, sc.r9 = r.r9, sc.r10 = r.r10, sc.r11 = r.r11;
  sc.r12 = r.r12, sc.r13 = r.r13, sc.r14 = r.r14, sc.r15 = r.r15;
  sc.rdi = r.rdi, sc.rsi = r.rsi, sc.rbp = r.rbp, sc.rbx = r.rbx;
  sc.rdx = r.rdx, sc.rax = r.rax, sc.rcx = r.rcx, sc.rsp = r.rsp;
  sc.rip = r.rip, sc.eflags = r.eflags;
  sc.cs = static_cast<uint16_t>(r.cs);
  sc.gs = 0;  // 64-bit frames do not save fs/gs selectors
  sc.fs = 0;
  sc.ss = static_cast<uint16_t>(r.ss);
  sc.err = in.fault.err;
  sc.trapno = in.fault.trapno;
  sc.oldmask = in.sigmask;
  sc.cr2 = in.fault.cr2;
  sc.fpstate = fpstate;
  f.uc.uc_sigmask = in.sigmask;
  // copy_siginfo_to_user(): the kernel_siginfo part, the rest of siginfo_t zeroed. Without
  // SA_SIGINFO Linux leaves the info slot untouched; zeros stand in for whatever was there.
  if (in.sa_flags & kSaSiginfo) std::memcpy(&f.info, &in.info, kKernelSiginfoSize);
  std::memcpy(base, &f, sizeof(f));

  // The fpstate, as copy_fpstate_to_sigframe() leaves it: the XSAVE image with a cleared header
  // (XSAVE writes xstate_bv only, within the task's features), FP|SSE forced into xstate_bv so a
  // legacy handler's edits to those registers are restored, the software bytes, and magic2.
  uint8_t* const fp = base + (fpstate - frame);
  std::memcpy(fp, in.xstate.data(), std::min(in.xstate.size(), cfg.size));
  uint64_t xfeatures = cfg.features;
  uint64_t xstate_bv = 0;
  if (in.xstate.size() >= kXsaveHeaderOffset + 8) xstate_bv = Load64(in.xstate.data() + kXsaveHeaderOffset);
  std::memset(fp + kXsaveHeaderOffset, 0, kXsaveHeaderSize);
  Store64(fp + kXsaveHeaderOffset, (xstate_bv & xfeatures) | kXfeatureFp | kXfeatureSse);
  FpxSwBytes sw{};
  sw.magic1 = kFpXstateMagic1;
  sw.extended_size = static_cast<uint32_t>(math_size);
  sw.xfeatures = xfeatures;
  sw.xstate_size = static_cast<uint32_t>(cfg.size);
  std::memcpy(fp + kFxsaveSwReservedOffset, &sw, sizeof(sw));
  Store32(fp + cfg.size, kFpXstateMagic2);

  // The handler's registers (x64_setup_rt_frame() and handle_signal()).
  out.regs = in.regs;
  out.regs.rdi = static_cast<uint64_t>(in.info.si_signo);
  out.regs.rax = 0;  // for handlers declared without a prototype (varargs)
  out.regs.rsi = frame + offsetof(RtSigframe, info);
  out.regs.rdx = frame + offsetof(RtSigframe, uc);
  out.regs.rip = in.handler;
  out.regs.rsp = frame;
  out.regs.cs = kUserCs;
  // Linux keeps a valid SS (checked with LAR) and replaces an invalid one with __USER_DS. Without
  // LAR on the application's descriptor tables, anything but __USER_DS counts as invalid here.
  if (out.regs.ss != kUserDs) out.regs.ss = kUserDs;
  out.regs.eflags &= ~(kEflagsDf | kEflagsRf | kEflagsTf);
  return out;
}

namespace {

// fpu__restore_sig() for a 64-bit frame: the xstate to load, in PTRACE_SETREGSET form, or EFAULT
// where Linux's restore fails.
Result<std::vector<uint8_t>> RestoreFpstate(const ReadMemFn& read, uint64_t fpstate,
                                            const XstateConfig& cfg) {
  // A NULL fpstate resets the FPU (fpu__clear_user_states()).
  if (fpstate == 0) return InitialXstate(cfg);
  if (!AccessOk(fpstate, cfg.size + kFpXstateMagic2Size)) return Errno(EFAULT);

  // check_xstate_in_sigframe(): a frame without believable software bytes and magic2 is an
  // FXSAVE-only image (what a handler that copied only the legacy area leaves).
  FpxSwBytes sw;
  RETURN_IF_ERRNO(read(fpstate + kFxsaveSwReservedOffset, &sw, sizeof(sw)));
  bool fx_only = sw.magic1 != kFpXstateMagic1 || sw.xstate_size < kXsaveMinSize ||
                 sw.xstate_size > cfg.size || sw.xstate_size > sw.extended_size;
  if (!fx_only) {
    uint32_t magic2;
    RETURN_IF_ERRNO(read(fpstate + sw.xstate_size, &magic2, sizeof(magic2)));
    fx_only = magic2 != kFpXstateMagic2;
  }

  std::vector<uint8_t> out = InitialXstate(cfg);
  uint8_t* const x = out.data();
  if (fx_only) {
    // FXRSTOR: the legacy area only (a valid MXCSR or #GP); every other component goes back to
    // its initial state. FXRSTOR architecturally wants 16-byte alignment, but the kernel's
    // FXRSTOR from a misaligned frame succeeds on the AMD hosts checked (and Linux itself does not
    // check), so no alignment is required here.
    uint8_t fx[kFxsaveSize];
    RETURN_IF_ERRNO(read(fpstate, fx, sizeof(fx)));
    if (Load32(fx + kFxsaveMxcsrOffset) & ~cfg.mxcsr_mask) return Errno(EFAULT);
    std::memcpy(x, fx, kFxsaveSwReservedOffset);
    Store32(x + kFxsaveMxcsrMaskOffset, cfg.mxcsr_mask);
    return out;
  }

  // XRSTOR of the components in the frame's xfeatures that the task has; the others are
  // initialized. Linux faults the whole user_size in when XRSTOR faults, so all of it must be
  // readable.
  if (fpstate % 64 != 0) return Errno(EFAULT);
  std::vector<uint8_t> img(cfg.size);
  RETURN_IF_ERRNO(read(fpstate, img.data(), img.size()));
  const uint8_t* const hdr = img.data() + kXsaveHeaderOffset;
  const uint64_t rfbm = sw.xfeatures & cfg.features;
  const uint64_t xstate_bv = Load64(hdr);
  // The standard-form XRSTOR #GPs on xstate_bv bits the CPU does not enable (XCR0) and on
  // non-zero bytes 8..23 of the header (XCOMP_BV and the next 8 bytes).
  if (xstate_bv & ~cfg.features) return Errno(EFAULT);
  if (Load64(hdr + 8) != 0 || Load64(hdr + 16) != 0) return Errno(EFAULT);
  // MXCSR is loaded whenever SSE or AVX state is restored, and #GPs on reserved bits.
  const bool loads_mxcsr = rfbm & (kXfeatureSse | kXfeatureYmm);
  const uint32_t mxcsr = Load32(img.data() + kFxsaveMxcsrOffset);
  if (loads_mxcsr && (mxcsr & ~cfg.mxcsr_mask)) return Errno(EFAULT);

  const uint64_t loaded = xstate_bv & rfbm;
  // Components beyond the legacy area are kept as bytes; the header says which ones are live, and
  // PTRACE_SETREGSET (like XRSTOR) initializes the others.
  std::memcpy(x + kXsaveMinSize, img.data() + kXsaveMinSize, cfg.size - kXsaveMinSize);
  Store64(x + kXsaveHeaderOffset, loaded | kXfeatureFp | kXfeatureSse);
  // x87 and SSE are always written out explicitly (initial values where XRSTOR would initialize
  // them), so that PTRACE_SETREGSET also applies the MXCSR XRSTOR loads.
  if (loaded & kXfeatureFp) {
    std::memcpy(x, img.data(), 24);
    std::memcpy(x + 32, img.data() + 32, 128);
  }
  if (loaded & kXfeatureSse) std::memcpy(x + 160, img.data() + 160, 256);
  if (loads_mxcsr) Store32(x + kFxsaveMxcsrOffset, mxcsr);
  return out;
}

}  // namespace

Result<SigreturnResult> ParseSignalFrame(const ReadMemFn& read, uint64_t rsp, const user_regs_struct& current,
                                         const XstateConfig& cfg) {
  if (cfg.size < kXsaveMinSize) return Errno(EINVAL);
  // The handler's `ret` popped pretcode, so the frame starts 8 bytes below.
  const uint64_t frame = rsp - 8;
  if (rsp < 8 || !AccessOk(frame, sizeof(RtSigframe))) return Errno(EFAULT);
  KernelUcontext uc;
  RETURN_IF_ERRNO(read(frame + offsetof(RtSigframe, uc), &uc, sizeof(uc)));

  SigreturnResult out;
  constexpr uint64_t kUnblockable = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1));
  out.sigmask = uc.uc_sigmask & ~kUnblockable;

  // restore_sigcontext().
  const KernelSigcontext& sc = uc.uc_mcontext;
  user_regs_struct& r = out.regs;
  r = current;
  r.r8 = sc.r8, r.r9 = sc.r9, r.r10 = sc.r10, r.r11 = sc.r11;
  r.r12 = sc.r12, r.r13 = sc.r13, r.r14 = sc.r14, r.r15 = sc.r15;
  r.rdi = sc.rdi, r.rsi = sc.rsi, r.rbp = sc.rbp, r.rbx = sc.rbx;
  r.rdx = sc.rdx, r.rax = sc.rax, r.rcx = sc.rcx, r.rsp = sc.rsp;
  r.rip = sc.rip;
  r.cs = sc.cs | 3;  // CPL 3, whatever the frame says
  r.ss = sc.ss | 3;
  r.eflags = (current.eflags & ~kFixEflags) | (sc.eflags & kFixEflags);
  r.orig_rax = ~uint64_t{0};  // no syscall restart after sigreturn
  // Frames from before UC_STRICT_RESTORE_SS (old DOSEMU, CRIU) get a valid SS when returning to
  // 64-bit code; as in BuildSignalFrame, only __USER_DS is known to be valid here.
  if (!(uc.uc_flags & kUcStrictRestoreSs) && r.cs == kUserCs && r.ss != kUserDs) r.ss = kUserDs;

  out.xstate = TRY(RestoreFpstate(read, sc.fpstate, cfg));

  // restore_altstack() reads uc_stack; its application is the caller's (errors ignored).
  out.altstack.ss_sp = reinterpret_cast<void*>(uc.uc_stack.ss_sp);
  out.altstack.ss_flags = uc.uc_stack.ss_flags;
  out.altstack.ss_size = uc.uc_stack.ss_size;
  return out;
}

}  // namespace moat::arch
