// Tests of sentry/arch/stack.h: the layout rules, the E2BIG limits, and a byte-for-byte comparison
// with the initial stack the host kernel built for this very test process.
#include "sentry/arch/stack.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace moat::arch {
namespace {

constexpr uint64_t kTop = 0x7ffc00000000ULL;

uint64_t Word(const InitialStack& s, uint64_t addr) {
  uint64_t v;
  std::memcpy(&v, s.image.data() + (addr - s.sp), 8);
  return v;
}

std::string Str(const InitialStack& s, uint64_t addr) {
  return std::string(reinterpret_cast<const char*>(s.image.data() + (addr - s.sp)));
}

InitialStackInput BasicInput() {
  InitialStackInput in;
  in.stack_top = kTop;
  in.argv = {"/bin/prog", "-a", "hello world"};
  in.envp = {"HOME=/root", "PATH=/bin", "X="};
  in.execfn = "/bin/prog";
  for (int i = 0; i < 16; i++) in.random[i] = static_cast<uint8_t>(0xa0 + i);
  in.auxv = {{AT_SYSINFO_EHDR, 0x7fff1000},
             {AT_HWCAP, 0x178bfbff},
             {AT_PAGESZ, 4096},
             {AT_PHDR, 0x400040},
             {AT_PHENT, 56},
             {AT_PHNUM, 9},
             {AT_BASE, 0},
             {AT_ENTRY, 0x401000},
             {AT_UID, 0},
             {AT_SECURE, 0},
             {AT_HWCAP2, 2}};
  in.arg_limit = ArgLimit(8 << 20);
  return in;
}

TEST(StackTest, Layout) {
  InitialStackInput in = BasicInput();
  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_TRUE(r.ok()) << r.error().Name();
  const InitialStack& s = *r;
  EXPECT_EQ(s.sp % 16, 0u);
  EXPECT_EQ(s.image.size(), kTop - s.sp);
  EXPECT_EQ(Word(s, kTop - 8), 0u);  // the NULL pointer at the very top

  // argc, argv[], NULL, envp[], NULL, auxv.
  uint64_t p = s.sp;
  ASSERT_EQ(Word(s, p), in.argv.size());
  p += 8;
  for (const std::string& a : in.argv) {
    EXPECT_EQ(Str(s, Word(s, p)), a);
    p += 8;
  }
  EXPECT_EQ(Word(s, p), 0u);
  p += 8;
  for (const std::string& e : in.envp) {
    EXPECT_EQ(Str(s, Word(s, p)), e);
    p += 8;
  }
  EXPECT_EQ(Word(s, p), 0u);
  p += 8;
  std::vector<AuxEntry> auxv;
  for (;; p += 16) {
    auxv.push_back({Word(s, p), Word(s, p + 8)});
    if (auxv.back().key == AT_NULL) break;
  }
  EXPECT_EQ(auxv, s.auxv);
  EXPECT_EQ(s.auxv_bytes.size(), auxv.size() * 16);
  EXPECT_EQ(0, std::memcmp(s.auxv_bytes.data(), s.image.data() + (p + 16 - auxv.size() * 16 - s.sp),
                           s.auxv_bytes.size()));

  // The three entries are placed in create_elf_tables' order.
  std::vector<uint64_t> keys;
  for (const AuxEntry& e : auxv) keys.push_back(e.key);
  std::vector<uint64_t> want = {AT_SYSINFO_EHDR, AT_HWCAP,  AT_PAGESZ, AT_PHDR,     AT_PHENT,
                                AT_PHNUM,        AT_BASE,   AT_ENTRY,  AT_UID,      AT_SECURE,
                                AT_RANDOM,       AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_NULL};
  EXPECT_EQ(keys, want);

  // The strings they point at.
  auto aux = [&](uint64_t key) {
    for (const AuxEntry& e : auxv) {
      if (e.key == key) return e.value;
    }
    return uint64_t{0};
  };
  EXPECT_EQ(aux(AT_RANDOM), s.random_addr);
  EXPECT_EQ(0, std::memcmp(s.image.data() + (s.random_addr - s.sp), in.random.data(), 16));
  EXPECT_EQ(aux(AT_PLATFORM), s.platform_addr);
  EXPECT_EQ(Str(s, s.platform_addr), "x86_64");
  EXPECT_EQ(s.random_addr + 16, s.platform_addr);  // adjacent, unaligned
  EXPECT_EQ(aux(AT_EXECFN), s.execfn_addr);
  EXPECT_EQ(Str(s, s.execfn_addr), in.execfn);
  EXPECT_EQ(s.execfn_addr + in.execfn.size() + 1, kTop - 8);

  // argv strings, then envp strings, then execfn, contiguous.
  EXPECT_EQ(s.arg_start, Word(s, s.sp + 8));
  EXPECT_EQ(s.arg_end, s.env_start);
  EXPECT_EQ(s.env_end, s.execfn_addr);
  std::string args(reinterpret_cast<const char*>(s.image.data() + (s.arg_start - s.sp)),
                   s.arg_end - s.arg_start);
  EXPECT_EQ(args, std::string("/bin/prog\0-a\0hello world\0", 25));
  std::string envs(reinterpret_cast<const char*>(s.image.data() + (s.env_start - s.sp)),
                   s.env_end - s.env_start);
  EXPECT_EQ(envs, std::string("HOME=/root\0PATH=/bin\0X=\0", 24));
  // Without randomization the platform string sits right below the 16-aligned argv start.
  EXPECT_EQ(s.platform_addr + 7, s.arg_start & ~uint64_t{15});
}

TEST(StackTest, CallerValuesOfFilledEntriesAreReplaced) {
  InitialStackInput in = BasicInput();
  in.auxv = {{AT_PAGESZ, 4096}, {AT_RANDOM, 1}, {AT_PLATFORM, 2}, {AT_EXECFN, 3}, {AT_NULL, 0}, {AT_UID, 5}};
  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_TRUE(r.ok());
  std::vector<AuxEntry> want = {{AT_PAGESZ, 4096},
                                {AT_RANDOM, r->random_addr},
                                {AT_PLATFORM, r->platform_addr},
                                {AT_EXECFN, r->execfn_addr},
                                {AT_NULL, 0}};
  EXPECT_EQ(r->auxv, want);
}

TEST(StackTest, NoPlatform) {
  InitialStackInput in = BasicInput();
  in.platform = "";
  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->platform_addr, 0u);
  for (const AuxEntry& e : r->auxv) EXPECT_NE(e.key, static_cast<uint64_t>(AT_PLATFORM));
  EXPECT_EQ(r->random_addr, (r->arg_start & ~uint64_t{15}) - 16);
}

TEST(StackTest, EmptyArgvGetsEmptyString) {
  InitialStackInput in = BasicInput();
  in.argv.clear();
  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Word(*r, r->sp), 1u);
  EXPECT_EQ(Str(*r, Word(*r, r->sp + 8)), "");
  EXPECT_EQ(Word(*r, r->sp + 16), 0u);
  EXPECT_EQ(r->arg_end, r->arg_start + 1);
}

TEST(StackTest, AlignmentForEveryParity) {
  // Whatever the counts and string lengths, %rsp is 16-byte aligned.
  for (int argc = 0; argc < 4; argc++) {
    for (int envc = 0; envc < 4; envc++) {
      for (uint64_t pad : {0, 1, 7, 8191}) {
        InitialStackInput in = BasicInput();
        in.argv.assign(argc, std::string(argc + 3, 'a'));
        in.envp.assign(envc, std::string(envc + 1, 'e'));
        in.align_pad = pad;
        Result<InitialStack> r = BuildInitialStack(in);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->sp % 16, 0u);
        EXPECT_EQ((r->platform_addr + 7) % 16, 0u);
        EXPECT_GE(r->arg_start - (r->platform_addr + 7), pad);
      }
    }
  }
}

TEST(StackTest, ArgLimit) {
  EXPECT_EQ(ArgLimit(8 << 20), 2u << 20);       // a quarter of the default 8 MiB
  EXPECT_EQ(ArgLimit(~uint64_t{0}), 6u << 20);  // unlimited: 3/4 of _STK_LIM
  EXPECT_EQ(ArgLimit(64 << 10), kArgMax);       // tiny: still ARG_MAX
}

TEST(StackTest, E2big) {
  InitialStackInput in = BasicInput();
  in.argv.push_back(std::string(kMaxArgStrlen - 1, 'x'));  // exactly MAX_ARG_STRLEN with its NUL
  EXPECT_TRUE(BuildInitialStack(in).ok());
  in.argv.back().push_back('x');
  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Errno(E2BIG));

  // The total budget counts strings plus 8 bytes per argv/envp pointer.
  std::vector<std::string> argv = {"ab"};  // 3 bytes
  std::vector<std::string> envp = {"c"};   // 2 bytes
  std::string execfn = "e";                // 2 bytes
  uint64_t exact = 3 + 2 + 2 + 2 * 8;
  EXPECT_TRUE(CheckArgLimits(argv, envp, execfn, exact).ok());
  EXPECT_EQ(CheckArgLimits(argv, envp, execfn, exact - 1).error(), Errno(E2BIG));
  // An empty argv is charged for the "" it gets.
  EXPECT_TRUE(CheckArgLimits({}, envp, execfn, 1 + 2 + 2 + 2 * 8).ok());
  EXPECT_EQ(CheckArgLimits({}, envp, execfn, 1 + 2 + 2 + 2 * 8 - 1).error(), Errno(E2BIG));
  // The pointers alone must leave room.
  EXPECT_EQ(CheckArgLimits(argv, envp, "", 16).error(), Errno(E2BIG));
}

TEST(StackTest, BadInputs) {
  InitialStackInput in = BasicInput();
  in.stack_top = 0x100;
  EXPECT_EQ(BuildInitialStack(in).error(), Errno(EFAULT));
  in = BasicInput();
  in.align_pad = 8192;
  EXPECT_EQ(BuildInitialStack(in).error(), Errno(EINVAL));
}

// --- Cross-check with the host kernel -----------------------------------------------------------

std::vector<std::string> SplitNul(uint64_t from, uint64_t to) {
  std::vector<std::string> out;
  const char* p = reinterpret_cast<const char*>(from);
  const char* end = reinterpret_cast<const char*>(to);
  while (p < end) {
    out.emplace_back(p);
    p += out.back().size() + 1;
  }
  return out;
}

// The host kernel built this process's stack with create_elf_tables(); rebuild it from the same
// inputs (read back from /proc/self and the auxv) and compare the bytes.
TEST(StackTest, MatchesHostKernelStack) {
  // mm->arg_start, arg_end, env_start, env_end are fields 48-51 of /proc/self/stat.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string v; fields >> v;) f.push_back(v);
  ASSERT_GE(f.size(), 49u);
  // Field 3 (the state) is the first after the comm; field n is f[n - 3].
  auto field = [&](int n) { return std::stoull(f[n - 3]); };
  const uint64_t arg_start = field(48), arg_end = field(49), env_start = field(50), env_end = field(51);

  std::ifstream auxf("/proc/self/auxv", std::ios::binary);
  std::vector<AuxEntry> host_auxv;
  for (AuxEntry e; auxf.read(reinterpret_cast<char*>(&e), sizeof(e));) {
    host_auxv.push_back(e);
    if (e.key == AT_NULL) break;
  }

  const uint64_t execfn = getauxval(AT_EXECFN);
  const uint64_t platform = getauxval(AT_PLATFORM);
  const uint64_t random = getauxval(AT_RANDOM);
  InitialStackInput in;
  in.execfn = reinterpret_cast<const char*>(execfn);
  in.stack_top = execfn + in.execfn.size() + 1 + 8;
  ASSERT_EQ(in.stack_top % 4096, 0u);
  in.platform = reinterpret_cast<const char*>(platform);
  in.argv = SplitNul(arg_start, arg_end);
  in.envp = SplitNul(env_start, env_end);
  std::memcpy(in.random.data(), reinterpret_cast<const void*>(random), 16);
  in.auxv = host_auxv;
  in.arg_limit = ArgLimit(~uint64_t{0});
  // arch_align_stack()'s random shift: any value that lands on the same 16-byte boundary.
  const uint64_t aligned = platform + in.platform.size() + 1;
  const uint64_t gap = arg_start - aligned;
  in.align_pad = gap - std::min<uint64_t>(gap, 15);

  Result<InitialStack> r = BuildInitialStack(in);
  ASSERT_TRUE(r.ok()) << r.error().Name();
  EXPECT_EQ(r->execfn_addr, execfn);
  EXPECT_EQ(r->platform_addr, platform);
  EXPECT_EQ(r->random_addr, random);
  EXPECT_EQ(r->arg_start, arg_start);
  EXPECT_EQ(r->arg_end, arg_end);
  EXPECT_EQ(r->env_start, env_start);
  EXPECT_EQ(r->env_end, env_end);
  EXPECT_EQ(r->auxv, host_auxv);  // the same entries, with the same addresses filled in

  // At process entry, environ pointed at envp[0] on the stack; nothing in this test binary
  // changes the environment, so the kernel's %rsp can be recovered from it.
  const uint64_t host_sp = reinterpret_cast<uint64_t>(environ) - 8 * (in.argv.size() + 2);
  if (in.envp.empty() || reinterpret_cast<uint64_t>(environ[0]) != env_start) {
    GTEST_SKIP() << "environ no longer points at the initial envp array; cannot locate %rsp";
  }
  EXPECT_EQ(r->sp, host_sp);
  ASSERT_EQ(r->image.size(), in.stack_top - host_sp);
  const uint8_t* host = reinterpret_cast<const uint8_t*>(host_sp);
  // gtest's InitGoogleTest() removes its own flags from argv[] in place, so the argv pointer array
  // is compared only when no argument was consumed.
  const size_t argv_lo = 8, argv_hi = 8 + 8 * in.argv.size();
  const bool argv_intact = std::memcmp(host + argv_lo, r->image.data() + argv_lo, argv_hi - argv_lo) == 0;
  if (!argv_intact) std::cerr << "note: argv[] was rewritten (gtest flags); not comparing it\n";
  size_t mismatches = 0;
  for (size_t i = 0; i < r->image.size(); i++) {
    if (!argv_intact && i >= argv_lo && i < argv_hi) continue;
    if (r->image[i] != host[i] && mismatches++ < 10) {
      ADD_FAILURE() << "byte at sp+" << i << " (" << std::hex << host_sp + i << "): host " << int{host[i]}
                    << ", built " << int{r->image[i]};
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace moat::arch
