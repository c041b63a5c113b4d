// Tests of sentry/arch/signal_frame.h: round trips, layout properties, the restore rules, and
// comparisons with frames the host kernel builds and with what its rt_sigreturn accepts.
#include "sentry/arch/signal_frame.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <vector>

#include "sentry/arch/signal_abi.h"

// What the host's handler saw on entry, captured before any C code runs.
// The asm entry stores the registers and jumps to moat_test_sig_body (defined below).
extern "C" {
__attribute__((used)) uint64_t moat_entry_rsp, moat_entry_rdi, moat_entry_rsi, moat_entry_rdx, moat_entry_rax,
    moat_entry_flags;
void moat_test_sig_entry();
__attribute__((used)) void moat_test_sig_body(int, siginfo_t*, void* ucv);
}
asm(R"(
  .text
  .globl moat_test_sig_entry
  .type moat_test_sig_entry, @function
moat_test_sig_entry:
  movq %rsp, moat_entry_rsp(%rip)
  movq %rdi, moat_entry_rdi(%rip)
  movq %rsi, moat_entry_rsi(%rip)
  movq %rdx, moat_entry_rdx(%rip)
  movq %rax, moat_entry_rax(%rip)
  pushfq
  popq %rax
  movq %rax, moat_entry_flags(%rip)
  jmp moat_test_sig_body
)");

namespace moat::arch {
namespace {

// A sparse fake address space for ParseSignalFrame.
class FakeMemory {
 public:
  void Map(uint64_t addr, std::vector<uint8_t> bytes) { regions_[addr] = std::move(bytes); }
  Result<void> Read(uint64_t addr, void* dst, size_t n) const {
    auto it = regions_.upper_bound(addr);
    if (it == regions_.begin()) return Errno(EFAULT);
    --it;
    uint64_t off = addr - it->first;
    if (off > it->second.size() || n > it->second.size() - off) return Errno(EFAULT);
    std::memcpy(dst, it->second.data() + off, n);
    return Ok();
  }
  ReadMemFn Reader() const {
    return [this](uint64_t a, void* d, size_t n) { return Read(a, d, n); };
  }
  uint8_t* At(uint64_t addr) {
    auto it = std::prev(regions_.upper_bound(addr));
    return it->second.data() + (addr - it->first);
  }

 private:
  std::map<uint64_t, std::vector<uint8_t>> regions_;
};

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

const XstateConfig& Config() {
  static const XstateConfig config = HostXstateConfig();
  return config;
}

// An xstate with non-trivial x87, SSE and AVX contents, as PTRACE_GETREGSET could return it.
std::vector<uint8_t> SampleXstate(uint32_t seed) {
  std::vector<uint8_t> x = InitialXstate(Config());
  std::mt19937 rng(seed);
  for (size_t i = 32; i < 416; i++) x[i] = static_cast<uint8_t>(rng());  // ST and XMM registers
  uint64_t bv = kXfeatureFp | kXfeatureSse;
  if ((Config().features & kXfeatureYmm) && x.size() >= 576 + 256) {
    for (size_t i = 576; i < 576 + 256; i++) x[i] = static_cast<uint8_t>(rng());  // YMM_Hi128
    bv |= kXfeatureYmm;
  }
  std::memcpy(x.data() + kXsaveHeaderOffset, &bv, 8);
  uint32_t mxcsr = 0x1f80 | 0x6000;  // round toward zero
  std::memcpy(x.data() + kFxsaveMxcsrOffset, &mxcsr, 4);
  return x;
}

SignalFrameInput SampleInput(uint64_t rsp) {
  SignalFrameInput in;
  uint64_t v = 0x1111;
  for (unsigned long long* r : {&in.regs.r15, &in.regs.r14, &in.regs.r13, &in.regs.r12, &in.regs.rbp,
                                &in.regs.rbx, &in.regs.r11, &in.regs.r10, &in.regs.r9, &in.regs.r8,
                                &in.regs.rax, &in.regs.rcx, &in.regs.rdx, &in.regs.rsi, &in.regs.rdi}) {
    *r = v;
    v += 0x1111;
  }
  in.regs.orig_rax = 0x77;
  in.regs.rip = 0x401234;
  in.regs.cs = kUserCs;
  in.regs.ss = kUserDs;
  in.regs.eflags = 0x246 | kEflagsDf | kEflagsTf | kEflagsAc;
  in.regs.rsp = rsp;
  in.regs.fs_base = 0x7f0000001000;
  in.xstate = SampleXstate(1);
  in.xstate_config = Config();
  in.info.si_signo = SIGUSR1;
  in.info.si_code = SI_USER;
  in.info.si_pid = 1234;
  in.info.si_uid = 1000;
  in.sigmask = 0x5a5a;
  in.sa_flags = kSaSiginfo | kSaRestorer;
  in.handler = 0x402000;
  in.restorer = 0x403000;
  in.fault = {.err = 4, .trapno = 14, .cr2 = 0xdead000};
  return in;
}

// Maps the built frame into `mem` (with the red zone and a bit above, as a real stack would have).
void MapFrame(FakeMemory* mem, const SignalFrameOutput& out) {
  std::vector<uint8_t> bytes = out.bytes;
  bytes.resize(bytes.size() + 4096, 0);
  mem->Map(out.frame_addr, std::move(bytes));
}

TEST(SignalFrameTest, HostConfigMatchesRealFrames) {
  // The host's own frames say how big the xstate is and which features it holds.
  static FpxSwBytes seen;
  struct sigaction sa = {}, old;
  sa.sa_sigaction = [](int, siginfo_t*, void* uc) {
    auto* fp = reinterpret_cast<uint8_t*>(static_cast<ucontext_t*>(uc)->uc_mcontext.fpregs);
    std::memcpy(&seen, fp + kFxsaveSwReservedOffset, sizeof(seen));
  };
  sa.sa_flags = SA_SIGINFO;
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  raise(SIGUSR2);
  sigaction(SIGUSR2, &old, nullptr);
  ASSERT_EQ(seen.magic1, kFpXstateMagic1);
  EXPECT_EQ(seen.xstate_size, Config().size);
  EXPECT_EQ(seen.xfeatures, Config().features);
  EXPECT_NE(Config().mxcsr_mask, 0u);
}

TEST(SignalFrameTest, LayoutAndContents) {
  SignalFrameInput in = SampleInput(0x7ffd00001238);
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok()) << r.error().Name();
  const SignalFrameOutput& out = *r;
  EXPECT_EQ((out.frame_addr + 8) % 16, 0u);
  EXPECT_EQ(out.fpstate_addr % 64, 0u);
  EXPECT_GE(out.fpstate_addr, out.frame_addr + sizeof(RtSigframe));
  // The red zone stays untouched, and the fpstate follows the frame as closely as alignment allows.
  EXPECT_LE(out.fpstate_addr + Config().size + 4, in.regs.rsp - 128);
  EXPECT_LT(out.fpstate_addr - (out.frame_addr + sizeof(RtSigframe)), 64u + 16u);
  EXPECT_EQ(out.bytes.size(), out.fpstate_addr + Config().size + 4 - out.frame_addr);
  EXPECT_FALSE(out.on_altstack);

  RtSigframe f;
  std::memcpy(&f, out.bytes.data(), sizeof(f));
  EXPECT_EQ(f.pretcode, in.restorer);
  EXPECT_EQ(f.uc.uc_flags, kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs);
  EXPECT_EQ(f.uc.uc_link, 0u);
  EXPECT_EQ(f.uc.uc_sigmask, in.sigmask);
  const KernelSigcontext& sc = f.uc.uc_mcontext;
  EXPECT_EQ(sc.r8, in.regs.r8);
  EXPECT_EQ(sc.r15, in.regs.r15);
  EXPECT_EQ(sc.rdi, in.regs.rdi);
  EXPECT_EQ(sc.rax, in.regs.rax);
  EXPECT_EQ(sc.rsp, in.regs.rsp);
  EXPECT_EQ(sc.rip, in.regs.rip);
  EXPECT_EQ(sc.eflags, in.regs.eflags);  // saved as is; only the handler's copy is cleaned
  EXPECT_EQ(sc.cs, kUserCs);
  EXPECT_EQ(sc.ss, kUserDs);
  EXPECT_EQ(sc.fs, 0);
  EXPECT_EQ(sc.gs, 0);
  EXPECT_EQ(sc.err, 4u);
  EXPECT_EQ(sc.trapno, 14u);
  EXPECT_EQ(sc.cr2, 0xdead000u);
  EXPECT_EQ(sc.oldmask, in.sigmask);
  EXPECT_EQ(sc.fpstate, out.fpstate_addr);
  EXPECT_EQ(f.info.si_signo, SIGUSR1);
  EXPECT_EQ(f.info.si_pid, 1234);
  const uint8_t* info = out.bytes.data() + offsetof(RtSigframe, info);
  for (size_t i = kKernelSiginfoSize; i < sizeof(siginfo_t); i++) EXPECT_EQ(info[i], 0) << i;

  // The fpstate's software bytes, header and magic2.
  const uint8_t* fp = out.bytes.data() + (out.fpstate_addr - out.frame_addr);
  FpxSwBytes sw;
  std::memcpy(&sw, fp + kFxsaveSwReservedOffset, sizeof(sw));
  EXPECT_EQ(sw.magic1, kFpXstateMagic1);
  EXPECT_EQ(sw.extended_size, Config().size + 4);
  EXPECT_EQ(sw.xfeatures, Config().features);
  EXPECT_EQ(sw.xstate_size, Config().size);
  EXPECT_EQ(Load32(fp + Config().size), kFpXstateMagic2);
  EXPECT_EQ(Load64(fp + kXsaveHeaderOffset) & 3, 3u);
  EXPECT_EQ(0, std::memcmp(fp + 32, in.xstate.data() + 32, 384));  // ST and XMM copied

  // The handler's registers.
  EXPECT_EQ(out.regs.rip, in.handler);
  EXPECT_EQ(out.regs.rsp, out.frame_addr);
  EXPECT_EQ(out.regs.rdi, static_cast<uint64_t>(SIGUSR1));
  EXPECT_EQ(out.regs.rsi, out.frame_addr + 312);
  EXPECT_EQ(out.regs.rdx, out.frame_addr + 8);
  EXPECT_EQ(out.regs.rax, 0u);
  EXPECT_EQ(out.regs.eflags, 0x246u | kEflagsAc);  // DF and TF cleared
  EXPECT_EQ(out.regs.cs, kUserCs);
  EXPECT_EQ(out.regs.ss, kUserDs);
  EXPECT_EQ(out.regs.fs_base, in.regs.fs_base);
  EXPECT_EQ(out.regs.orig_rax, in.regs.orig_rax);
}

TEST(SignalFrameTest, AlignmentForManyStackPointers) {
  for (uint64_t rsp = 0x7ffd00001000; rsp < 0x7ffd00001000 + 130; rsp++) {
    Result<SignalFrameOutput> r = BuildSignalFrame(SampleInput(rsp));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((r->frame_addr + 8) % 16, 0u) << rsp;
    EXPECT_EQ(r->fpstate_addr % 64, 0u) << rsp;
    EXPECT_LE(r->fpstate_addr + Config().size + 4, rsp - 128) << rsp;
  }
}

TEST(SignalFrameTest, WithoutSiginfoTheInfoSlotIsZero) {
  SignalFrameInput in = SampleInput(0x7ffd00002000);
  in.sa_flags = kSaRestorer;
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  const uint8_t* info = r->bytes.data() + offsetof(RtSigframe, info);
  for (size_t i = 0; i < sizeof(siginfo_t); i++) EXPECT_EQ(info[i], 0);
  EXPECT_EQ(r->regs.rsi, r->frame_addr + 312);  // still points there
}

TEST(SignalFrameTest, RequiresRestorer) {
  SignalFrameInput in = SampleInput(0x7ffd00002000);
  in.sa_flags = kSaSiginfo;
  EXPECT_EQ(BuildSignalFrame(in).error(), Errno(EFAULT));
}

TEST(SignalFrameTest, OutsideUserSpaceFails) {
  EXPECT_EQ(BuildSignalFrame(SampleInput(0x800)).error(), Errno(EFAULT));  // wraps below 0
  EXPECT_EQ(BuildSignalFrame(SampleInput(0xffff800000001000)).error(), Errno(EFAULT));
}

TEST(SignalFrameTest, AltStack) {
  const uint64_t ss_sp = 0x7f0000100000, ss_size = 0x10000;
  SignalFrameInput in = SampleInput(0x7ffd00002000);
  in.sa_flags |= kSaOnstack;
  in.altstack.ss_sp = reinterpret_cast<void*>(ss_sp);
  in.altstack.ss_size = ss_size;
  in.altstack.ss_flags = 0;

  // Entering: the frame is built from the top of the altstack, with no red zone.
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->on_altstack);
  EXPECT_EQ(r->fpstate_addr, (ss_sp + ss_size - Config().size - 4) & ~uint64_t{63});
  RtSigframe f;
  std::memcpy(&f, r->bytes.data(), sizeof(f));
  EXPECT_EQ(f.uc.uc_stack.ss_sp, ss_sp);
  EXPECT_EQ(f.uc.uc_stack.ss_size, ss_size);
  EXPECT_EQ(f.uc.uc_stack.ss_flags, 0);

  // Nested: already on the altstack, so build below the current rsp and its red zone.
  in.regs.rsp = ss_sp + 0x8000;
  r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->on_altstack);
  EXPECT_LE(r->fpstate_addr + Config().size + 4, in.regs.rsp - 128);

  // Nested, but the frame would overflow the altstack: Linux's bogus frame, i.e. SIGSEGV.
  in.regs.rsp = ss_sp + 0x400;
  EXPECT_EQ(BuildSignalFrame(in).error(), Errno(EFAULT));

  // With SS_AUTODISARM the thread never counts as on the altstack: start again from its top.
  in.altstack.ss_flags = static_cast<int>(kSsAutodisarm);
  r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fpstate_addr, (ss_sp + ss_size - Config().size - 4) & ~uint64_t{63});

  // Without SA_ONSTACK the altstack is not used.
  in = SampleInput(0x7ffd00002000);
  in.altstack.ss_sp = reinterpret_cast<void*>(ss_sp);
  in.altstack.ss_size = ss_size;
  r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->on_altstack);
  EXPECT_GT(r->frame_addr, ss_sp + ss_size);
}

TEST(SignalFrameTest, RoundTrip) {
  SignalFrameInput in = SampleInput(0x7ffd00003000);
  in.altstack.ss_sp = reinterpret_cast<void*>(0x7f0000100000);
  in.altstack.ss_size = 0x10000;
  in.sigmask = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)) | 0x5a5a;
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  FakeMemory mem;
  MapFrame(&mem, *r);

  // The state at the rt_sigreturn syscall: the handler returned (rsp = frame + 8) and changed
  // some registers; fs_base may differ.
  user_regs_struct current = r->regs;
  current.rsp = r->frame_addr + 8;
  current.rax = 15;  // __NR_rt_sigreturn
  current.orig_rax = 15;
  current.eflags = 0x202;
  current.fs_base = 0x7f0000002000;
  Result<SigreturnResult> s = ParseSignalFrame(mem.Reader(), current.rsp, current, Config());
  ASSERT_TRUE(s.ok()) << s.error().Name();

  user_regs_struct want = in.regs;
  want.eflags = 0x202 | kEflagsDf | kEflagsTf | kEflagsAc | (in.regs.eflags & kFixEflags);
  want.orig_rax = ~uint64_t{0};
  want.fs_base = current.fs_base;
  EXPECT_EQ(0, std::memcmp(&s->regs, &want, sizeof(want)));
  EXPECT_EQ(s->regs.eflags, want.eflags);
  EXPECT_EQ(s->sigmask, 0x5a5au);  // SIGKILL and SIGSTOP cannot be blocked
  EXPECT_EQ(s->altstack.ss_sp, in.altstack.ss_sp);
  EXPECT_EQ(s->altstack.ss_size, in.altstack.ss_size);

  // The xstate comes back as given (FP and SSE being explicit in both).
  ASSERT_EQ(s->xstate.size(), Config().size);
  EXPECT_EQ(0, std::memcmp(s->xstate.data(), in.xstate.data(), kFxsaveSwReservedOffset));
  EXPECT_EQ(Load64(s->xstate.data() + kXsaveHeaderOffset), Load64(in.xstate.data() + kXsaveHeaderOffset));
  EXPECT_EQ(0, std::memcmp(s->xstate.data() + kXsaveMinSize, in.xstate.data() + kXsaveMinSize,
                           Config().size - kXsaveMinSize));
}

TEST(SignalFrameTest, SigreturnSanitizes) {
  SignalFrameInput in = SampleInput(0x7ffd00003000);
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  FakeMemory mem;
  MapFrame(&mem, *r);
  auto* sc = reinterpret_cast<KernelSigcontext*>(mem.At(r->frame_addr + 8 + 40));
  sc->cs = 0x20;  // RPL 0
  sc->ss = 0x18;
  sc->eflags = ~uint64_t{0};  // IOPL, IF, VM, ... are not the application's to set
  user_regs_struct current = r->regs;
  current.eflags = 0x202;
  Result<SigreturnResult> s = ParseSignalFrame(mem.Reader(), r->frame_addr + 8, current, Config());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->regs.cs, 0x23u);
  EXPECT_EQ(s->regs.ss, 0x1bu);
  EXPECT_EQ(s->regs.eflags, 0x202 | kFixEflags);

  // Without UC_STRICT_RESTORE_SS a 64-bit return gets a valid SS.
  auto* uc_flags = reinterpret_cast<uint64_t*>(mem.At(r->frame_addr + 8));
  *uc_flags = kUcFpXstate | kUcSigcontextSs;
  sc->cs = kUserCs;
  s = ParseSignalFrame(mem.Reader(), r->frame_addr + 8, current, Config());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->regs.ss, kUserDs);
}

// Mutations of a built frame, applied identically to a fake frame and to a real one in the host
// differential test below. `frame` points at the struct rt_sigframe.
struct Mutation {
  const char* name;
  std::function<void(uint8_t* frame, uint64_t frame_addr, uint8_t* spare, uint64_t spare_addr)> apply;
};

uint8_t* Fpstate(uint8_t* frame, uint64_t frame_addr) {
  uint64_t fp;
  std::memcpy(&fp, frame + 8 + 40 + offsetof(KernelSigcontext, fpstate), 8);
  return frame + (fp - frame_addr);
}
void SetFpstate(uint8_t* frame, uint64_t v) {
  std::memcpy(frame + 8 + 40 + offsetof(KernelSigcontext, fpstate), &v, 8);
}
// Copies the fpstate (with magic2) to spare + off and points the frame at it.
void MoveFpstate(uint8_t* frame, uint64_t frame_addr, uint8_t* spare, uint64_t spare_addr, size_t off) {
  std::memcpy(spare + off, Fpstate(frame, frame_addr), Config().size + 4);
  SetFpstate(frame, spare_addr + off);
}

const std::vector<Mutation>& Mutations() {
  static const std::vector<Mutation> m = {
      {"none", [](uint8_t*, uint64_t, uint8_t*, uint64_t) {}},
      {"null_fpstate", [](uint8_t* f, uint64_t, uint8_t*, uint64_t) { SetFpstate(f, 0); }},
      {"unmapped_fpstate", [](uint8_t* f, uint64_t, uint8_t*, uint64_t) { SetFpstate(f, 0x10000); }},
      {"header_byte_16", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 16] = 1; }},
      {"header_byte_23", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 23] = 1; }},
      {"header_byte_24", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 24] = 1; }},
      {"header_byte_63", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 63] = 1; }},
      {"xcomp_bv", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 8] = 1; }},
      {"xstate_bv_unknown_bit",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[512 + 7] |= 0x40; }},  // bit 62
      {"xstate_bv_zero",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { std::memset(Fpstate(f, a) + 512, 0, 8); }},
      {"no_magic1", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[464] ^= 1; }},
      {"bad_magic2", [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[Config().size] ^= 1; }},
      {"small_xstate_size",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) {
         uint32_t v = 100;
         std::memcpy(Fpstate(f, a) + 464 + 16, &v, 4);
       }},
      {"sw_xfeatures_fp_only",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) {
         uint64_t v = 1;
         std::memcpy(Fpstate(f, a) + 464 + 8, &v, 8);
       }},
      {"mxcsr_reserved",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) { Fpstate(f, a)[24 + 2] |= 0x40; }},  // bit 22
      {"mxcsr_reserved_fx_only",
       [](uint8_t* f, uint64_t a, uint8_t*, uint64_t) {
         Fpstate(f, a)[464] ^= 1;
         Fpstate(f, a)[24 + 2] |= 0x40;
       }},
      {"fpstate_aligned_elsewhere",
       [](uint8_t* f, uint64_t a, uint8_t* s, uint64_t sa) { MoveFpstate(f, a, s, sa, 0); }},
      {"fpstate_misaligned_16",
       [](uint8_t* f, uint64_t a, uint8_t* s, uint64_t sa) { MoveFpstate(f, a, s, sa, 16); }},
      {"fpstate_misaligned_16_fx_only",
       [](uint8_t* f, uint64_t a, uint8_t* s, uint64_t sa) {
         Fpstate(f, a)[464] ^= 1;
         MoveFpstate(f, a, s, sa, 16);
       }},
      {"fpstate_misaligned_8_fx_only",
       [](uint8_t* f, uint64_t a, uint8_t* s, uint64_t sa) {
         Fpstate(f, a)[464] ^= 1;
         MoveFpstate(f, a, s, sa, 8);
       }},
  };
  return m;
}

// --- Cross-checks with the host kernel -----------------------------------------------------------

alignas(64) uint8_t g_frame_copy[65536];
size_t g_frame_len;
uint64_t g_frame_addr;
std::function<void(uint8_t*, uint64_t)>* g_mutate;
alignas(64) uint8_t g_spare[32768];

// Rebuilds, with BuildSignalFrame, the frame the host kernel just built for us, from the same
// inputs (read back from that frame), and compares them.
void CompareWithHostFrame(bool altstack) {
  static uint8_t alt_mem[1 << 16];
  stack_t ss{}, old_ss, before;
  ASSERT_EQ(sigaltstack(nullptr, &before), 0);  // sanitizers install one of their own
  if (altstack) {
    ss.ss_sp = alt_mem;
    ss.ss_size = sizeof(alt_mem);
    ASSERT_EQ(sigaltstack(&ss, &old_ss), 0);
  }
  struct sigaction sa = {}, old;
  sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(moat_test_sig_entry);
  sa.sa_flags = SA_SIGINFO | (altstack ? SA_ONSTACK : 0);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_mutate = nullptr;
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old, nullptr);
  if (altstack) {
    sigaltstack(&old_ss, nullptr);
  }
  ASSERT_LE(g_frame_len, sizeof(g_frame_copy));

  // The facts of the real frame.
  const uint8_t* host = g_frame_copy;
  RtSigframe hf;
  std::memcpy(&hf, host, sizeof(hf));
  const KernelSigcontext& hsc = hf.uc.uc_mcontext;
  EXPECT_EQ(moat_entry_rsp, g_frame_addr);
  EXPECT_EQ((moat_entry_rsp + 8) % 16, 0u);
  EXPECT_EQ(hsc.fpstate % 64, 0u);
  EXPECT_EQ(hf.uc.uc_flags, kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs);
  EXPECT_EQ(moat_entry_rdi, static_cast<uint64_t>(SIGUSR1));
  EXPECT_EQ(moat_entry_rsi, g_frame_addr + offsetof(RtSigframe, info));
  EXPECT_EQ(moat_entry_rdx, g_frame_addr + offsetof(RtSigframe, uc));
  EXPECT_EQ(moat_entry_rax, 0u);
  EXPECT_EQ(moat_entry_flags & (kEflagsDf | kEflagsTf), 0u);
  // glibc's ucontext_t agrees with the kernel layout on the fields it shares.
  EXPECT_EQ(offsetof(ucontext_t, uc_mcontext) + 8,
            offsetof(RtSigframe, uc) + offsetof(KernelUcontext, uc_mcontext));
  EXPECT_EQ(offsetof(ucontext_t, uc_mcontext.gregs[REG_RIP]), 40 + offsetof(KernelSigcontext, rip));
  EXPECT_EQ(offsetof(ucontext_t, uc_mcontext.gregs[REG_CR2]), 40 + offsetof(KernelSigcontext, cr2));
  EXPECT_EQ(offsetof(ucontext_t, uc_mcontext.fpregs), 40 + offsetof(KernelSigcontext, fpstate));

  // The same delivery through BuildSignalFrame.
  SignalFrameInput in;
  in.regs.r8 = hsc.r8, in.regs.r9 = hsc.r9, in.regs.r10 = hsc.r10, in.regs.r11 = hsc.r11;
  in.regs.r12 = hsc.r12, in.regs.r13 = hsc.r13, in.regs.r14 = hsc.r14, in.regs.r15 = hsc.r15;
  in.regs.rdi = hsc.rdi, in.regs.rsi = hsc.rsi, in.regs.rbp = hsc.rbp, in.regs.rbx = hsc.rbx;
  in.regs.rdx = hsc.rdx, in.regs.rax = hsc.rax, in.regs.rcx = hsc.rcx, in.regs.rsp = hsc.rsp;
  in.regs.rip = hsc.rip, in.regs.eflags = hsc.eflags, in.regs.cs = hsc.cs, in.regs.ss = hsc.ss;
  const uint8_t* hfp = host + (hsc.fpstate - g_frame_addr);
  in.xstate.assign(hfp, hfp + Config().size);
  in.xstate_config = Config();
  std::memcpy(&in.info, &hf.info, sizeof(in.info));
  in.sigmask = hf.uc.uc_sigmask;
  in.altstack.ss_sp = reinterpret_cast<void*>(hf.uc.uc_stack.ss_sp);
  in.altstack.ss_flags = hf.uc.uc_stack.ss_flags;
  in.altstack.ss_size = hf.uc.uc_stack.ss_size;
  in.sa_flags = kSaSiginfo | kSaRestorer | (altstack ? kSaOnstack : 0);  // glibc adds SA_RESTORER
  in.handler = reinterpret_cast<uint64_t>(moat_test_sig_entry);
  in.restorer = hf.pretcode;
  in.fault = {hsc.err, hsc.trapno, hsc.cr2};  // stale per-thread values for a raise()
  if (altstack) {
    // The thread was not on the altstack, which Linux reports as {sp, 0, size}.
    EXPECT_EQ(hf.uc.uc_stack.ss_sp, reinterpret_cast<uint64_t>(alt_mem));
    EXPECT_EQ(hf.uc.uc_stack.ss_flags, 0);
  } else if (before.ss_size == 0) {
    // A thread that never set an altstack reports {0, 0, 0}, not SS_DISABLE.
    EXPECT_EQ(hf.uc.uc_stack.ss_flags, 0);
    EXPECT_EQ(hf.uc.uc_stack.ss_size, 0u);
  }

  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok()) << r.error().Name();
  EXPECT_EQ(r->frame_addr, g_frame_addr);
  EXPECT_EQ(r->fpstate_addr, hsc.fpstate);
  EXPECT_EQ(r->on_altstack, altstack);
  ASSERT_EQ(r->bytes.size(), g_frame_len);
  EXPECT_EQ(r->regs.rsp, moat_entry_rsp);
  EXPECT_EQ(r->regs.rdi, moat_entry_rdi);
  EXPECT_EQ(r->regs.rsi, moat_entry_rsi);
  EXPECT_EQ(r->regs.rdx, moat_entry_rdx);
  EXPECT_EQ(r->regs.rax, moat_entry_rax);
  // Byte for byte, except what Linux never writes (whatever was on the stack stays there): the
  // padding after uc_stack.ss_flags, sigcontext.reserved1, and the gap between the frame and the
  // fpstate.
  const size_t ss_pad_lo = 8 + offsetof(KernelUcontext, uc_stack) + offsetof(KernelStack, pad);
  const size_t ss_pad_hi = ss_pad_lo + 4;
  const size_t reserved_lo = 8 + 40 + offsetof(KernelSigcontext, reserved1);
  const size_t reserved_hi = reserved_lo + 64;
  const size_t pad_lo = sizeof(RtSigframe), pad_hi = hsc.fpstate - g_frame_addr;
  int mismatches = 0;
  for (size_t i = 0; i < g_frame_len; i++) {
    if ((i >= ss_pad_lo && i < ss_pad_hi) || (i >= reserved_lo && i < reserved_hi) ||
        (i >= pad_lo && i < pad_hi)) {
      continue;
    }
    if (r->bytes[i] != host[i] && mismatches++ < 10) {
      ADD_FAILURE() << "frame byte " << i << ": host " << int{host[i]} << ", built " << int{r->bytes[i]};
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(SignalFrameTest, MatchesHostFrame) { CompareWithHostFrame(/*altstack=*/false); }
TEST(SignalFrameTest, MatchesHostFrameOnAltStack) { CompareWithHostFrame(/*altstack=*/true); }

// The FPU state a program effectively has, read from an XSAVE image: components whose
// xstate_bv bit is clear are in their initial state whatever the bytes say.
struct EffectiveFpu {
  uint16_t fcw;
  uint32_t mxcsr;
  std::vector<uint8_t> xmm;   // XMM0-15
  std::vector<uint8_t> ymmh;  // upper halves of YMM0-15
  friend bool operator==(const EffectiveFpu&, const EffectiveFpu&) = default;
};
EffectiveFpu Effective(const uint8_t* x) {
  const uint64_t bv = Load64(x + kXsaveHeaderOffset);
  EffectiveFpu e;
  uint16_t fcw;
  std::memcpy(&fcw, x, 2);
  e.fcw = (bv & kXfeatureFp) ? fcw : kFcwDefault;
  e.mxcsr = Load32(x + kFxsaveMxcsrOffset);
  e.xmm.assign(256, 0);
  if (bv & kXfeatureSse) std::memcpy(e.xmm.data(), x + 160, 256);
  e.ymmh.assign(256, 0);
  if ((bv & kXfeatureYmm) && (Config().features & kXfeatureYmm)) std::memcpy(e.ymmh.data(), x + 576, 256);
  return e;
}

// Writes recognizable FCW, MXCSR, XMM and YMM values into a frame's fpstate, so that what a
// restore loads can be told from what the thread had.
void PaintFpstate(uint8_t* fp) {
  const uint16_t fcw = 0x027f;
  std::memcpy(fp, &fcw, 2);
  const uint32_t mxcsr = 0x7f80;
  std::memcpy(fp + kFxsaveMxcsrOffset, &mxcsr, 4);
  for (int i = 0; i < 256; i++) fp[160 + i] = static_cast<uint8_t>(0x40 + i);
  uint64_t bv = Load64(fp + kXsaveHeaderOffset) | kXfeatureFp | kXfeatureSse;
  if (Config().features & kXfeatureYmm) {
    for (int i = 0; i < 256; i++) fp[576 + i] = static_cast<uint8_t>(0x90 + i);
    bv |= kXfeatureYmm;
  }
  std::memcpy(fp + kXsaveHeaderOffset, &bv, 8);
}

// What a forked child shares with the test: its frame after the mutation, and its FPU after the
// host's rt_sigreturn.
struct Shared {
  uint64_t frame_addr;
  size_t frame_len;
  alignas(64) uint8_t frame[65536];
  alignas(64) uint8_t spare[32768];
  alignas(64) uint8_t after[16384];
};

// For each mutation: does the host's rt_sigreturn accept the mutated frame (the child survives) or
// force SIGSEGV? ParseSignalFrame must agree, on the real frame and on one BuildSignalFrame made;
// and when the frame is accepted, the FPU state the child ends up with must be the one
// ParseSignalFrame computes.
TEST(SignalFrameTest, SigreturnMatchesHost) {
  ASSERT_LE(Config().size, sizeof(Shared::after));
  auto* shared = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shared, MAP_FAILED);
  for (const Mutation& m : Mutations()) {
    SCOPED_TRACE(m.name);
    std::memset(shared, 0, sizeof(*shared));
    pid_t pid = fork();
    if (pid == 0) {
      std::function<void(uint8_t*, uint64_t)> mutate = [&](uint8_t* f, uint64_t a) {
        PaintFpstate(Fpstate(f, a));
        m.apply(f, a, g_spare, reinterpret_cast<uint64_t>(g_spare));
        shared->frame_addr = a;
        shared->frame_len = g_frame_len;
        std::memcpy(shared->frame, f, g_frame_len);
        std::memcpy(shared->spare, g_spare, sizeof(g_spare));
      };
      g_mutate = &mutate;
      struct sigaction sa = {};
      sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(moat_test_sig_entry);
      sa.sa_flags = SA_SIGINFO;
      sigaction(SIGUSR1, &sa, nullptr);
      signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn the SIGSEGV into an exit
      raise(SIGUSR1);
      asm volatile("xsave64 %0" : "=m"(shared->after) : "a"(-1), "d"(-1) : "memory");
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const bool host_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!host_ok) {
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << status;
    }
    std::cerr << "  " << m.name << ": host " << (host_ok ? "restores" : "SIGSEGV") << "\n";

    // The real frame, as the child left it.
    ASSERT_GT(shared->frame_len, 0u);
    FakeMemory real;
    real.Map(shared->frame_addr, std::vector<uint8_t>(shared->frame, shared->frame + shared->frame_len));
    real.Map(reinterpret_cast<uint64_t>(g_spare),
             std::vector<uint8_t>(shared->spare, shared->spare + sizeof(shared->spare)));
    user_regs_struct current{};
    current.eflags = 0x246;
    Result<SigreturnResult> s = ParseSignalFrame(real.Reader(), shared->frame_addr + 8, current, Config());
    EXPECT_EQ(s.ok(), host_ok) << (s.ok() ? "accepted" : s.error().Name());
    if (s.ok() && host_ok) {
      EXPECT_EQ(Effective(s->xstate.data()), Effective(shared->after));
    }
    // Spot checks that the comparison above can tell the cases apart.
    const EffectiveFpu after = Effective(shared->after);
    const std::string name = m.name;
    if (name == "none") {
      EXPECT_EQ(after.mxcsr, 0x7f80u);
      EXPECT_EQ(after.fcw, 0x027f);
      EXPECT_EQ(after.xmm[0], 0x40);
    } else if (name == "xstate_bv_zero") {
      EXPECT_EQ(after.mxcsr, 0x7f80u);  // MXCSR is loaded even when SSE state is "init"
      EXPECT_EQ(after.fcw, kFcwDefault);
      EXPECT_EQ(after.xmm, std::vector<uint8_t>(256, 0));
    } else if (name == "null_fpstate" || name == "sw_xfeatures_fp_only") {
      EXPECT_EQ(after.mxcsr, kMxcsrDefault);
      EXPECT_EQ(after.xmm, std::vector<uint8_t>(256, 0));
    } else if (name == "no_magic1") {
      EXPECT_EQ(after.xmm[0], 0x40);                        // the legacy area is restored
      EXPECT_EQ(after.ymmh, std::vector<uint8_t>(256, 0));  // the rest is not
    }

    // A frame of ours, mutated the same way.
    Result<SignalFrameOutput> r = BuildSignalFrame(SampleInput(0x7ffd00003000));
    ASSERT_TRUE(r.ok());
    FakeMemory mem;
    MapFrame(&mem, *r);
    std::vector<uint8_t> spare(32768, 0);
    const uint64_t spare_addr = 0x7f0000400000;
    m.apply(mem.At(r->frame_addr), r->frame_addr, spare.data(), spare_addr);
    mem.Map(spare_addr, spare);
    current = r->regs;
    current.rsp = r->frame_addr + 8;
    Result<SigreturnResult> b = ParseSignalFrame(mem.Reader(), current.rsp, current, Config());
    EXPECT_EQ(b.ok(), host_ok) << (b.ok() ? "accepted" : b.error().Name());
    if (b.ok()) {
      EXPECT_EQ(b->regs.rip, 0x401234u);
    }
  }
  munmap(shared, sizeof(Shared));
}

TEST(SignalFrameTest, RestoredXstateForms) {
  SignalFrameInput in = SampleInput(0x7ffd00003000);
  Result<SignalFrameOutput> r = BuildSignalFrame(in);
  ASSERT_TRUE(r.ok());
  const uint64_t fp_off = r->fpstate_addr - r->frame_addr;
  auto parse = [&](const std::function<void(uint8_t*)>& mutate) {
    FakeMemory mem;
    MapFrame(&mem, *r);
    mutate(mem.At(r->frame_addr));
    user_regs_struct current = r->regs;
    return ParseSignalFrame(mem.Reader(), r->frame_addr + 8, current, Config());
  };

  // NULL fpstate: the initial state.
  Result<SigreturnResult> s = parse([](uint8_t* f) { SetFpstate(f, 0); });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->xstate, InitialXstate(Config()));

  // No magic1: only the legacy area, everything else initial.
  s = parse([&](uint8_t* f) { f[fp_off + 464] = 0; });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(0, std::memcmp(s->xstate.data(), in.xstate.data(), kFxsaveMxcsrMaskOffset));
  EXPECT_EQ(0, std::memcmp(s->xstate.data() + 32, in.xstate.data() + 32, 384));
  EXPECT_EQ(Load64(s->xstate.data() + kXsaveHeaderOffset), kXfeatureFp | kXfeatureSse);
  for (size_t i = kXsaveMinSize; i < s->xstate.size(); i++) ASSERT_EQ(s->xstate[i], 0) << i;

  // xstate_bv without SSE: the XMM registers are initialized but MXCSR is still loaded.
  s = parse([&](uint8_t* f) {
    uint64_t bv = kXfeatureFp;
    std::memcpy(f + fp_off + kXsaveHeaderOffset, &bv, 8);
  });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Load32(s->xstate.data() + kFxsaveMxcsrOffset), 0x7f80u);
  for (size_t i = 160; i < 416; i++) ASSERT_EQ(s->xstate[i], 0) << i;
  EXPECT_EQ(Load64(s->xstate.data() + kXsaveHeaderOffset), kXfeatureFp | kXfeatureSse);

  // Unreadable frame.
  FakeMemory empty;
  EXPECT_EQ(ParseSignalFrame(empty.Reader(), r->frame_addr + 8, r->regs, Config()).error(), Errno(EFAULT));
  EXPECT_EQ(ParseSignalFrame(empty.Reader(), 4, r->regs, Config()).error(), Errno(EFAULT));
}

TEST(SignalFrameTest, InitialXstate) {
  std::vector<uint8_t> x = InitialXstate(Config());
  ASSERT_EQ(x.size(), Config().size);
  EXPECT_EQ(x[0], 0x7f);
  EXPECT_EQ(x[1], 0x03);
  EXPECT_EQ(Load32(x.data() + kFxsaveMxcsrOffset), kMxcsrDefault);
  EXPECT_EQ(Load64(x.data() + kXsaveHeaderOffset), kXfeatureFp | kXfeatureSse);
}

}  // namespace
}  // namespace moat::arch

// Runs on the signal frame the host built: copies it, then applies the mutation under test.
extern "C" void moat_test_sig_body(int, siginfo_t*, void* ucv) {
  using namespace moat::arch;
  const uint64_t frame = reinterpret_cast<uint64_t>(ucv) - 8;
  auto* uc = static_cast<ucontext_t*>(ucv);
  const uint64_t fp = reinterpret_cast<uint64_t>(uc->uc_mcontext.fpregs);
  uint32_t xsize;
  std::memcpy(&xsize, reinterpret_cast<uint8_t*>(fp) + kFxsaveSwReservedOffset + 16, 4);
  g_frame_addr = frame;
  g_frame_len = fp + xsize + 4 - frame;
  if (g_frame_len <= sizeof(g_frame_copy)) {
    std::memcpy(g_frame_copy, reinterpret_cast<void*>(frame), g_frame_len);
  }
  if (g_mutate) (*g_mutate)(reinterpret_cast<uint8_t*>(frame), frame);
}
