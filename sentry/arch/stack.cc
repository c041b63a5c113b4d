#include "sentry/arch/stack.h"

#include <elf.h>

#include <algorithm>
#include <cstring>

namespace moat::arch {
namespace {

// _STK_LIM: the default 8 MiB stack limit the budget is capped against.
constexpr uint64_t kStkLim = 8ULL << 20;
// arch_align_stack() subtracts get_random_u32_below(8192).
constexpr uint64_t kMaxAlignPad = 8192;

// Inserts `e` after the first entry with key `after`, or at the end if there is none.
void InsertAfter(std::vector<AuxEntry>* auxv, uint64_t after, AuxEntry e) {
  auto it = std::find_if(auxv->begin(), auxv->end(), [&](const AuxEntry& a) { return a.key == after; });
  auxv->insert(it == auxv->end() ? auxv->end() : it + 1, e);
}

bool Has(const std::vector<AuxEntry>& auxv, uint64_t key) {
  return std::any_of(auxv.begin(), auxv.end(), [&](const AuxEntry& a) { return a.key == key; });
}

// The caller's auxv with AT_RANDOM, AT_EXECFN and AT_PLATFORM pointing at the strings placed on the
// stack, in create_elf_tables' order, terminated by AT_NULL.
std::vector<AuxEntry> FinalAuxv(const InitialStackInput& in, uint64_t random_addr, uint64_t execfn_addr,
                                uint64_t platform_addr) {
  std::vector<AuxEntry> auxv;
  for (const AuxEntry& e : in.auxv) {
    if (e.key == AT_NULL) break;
    if (e.key == AT_PLATFORM && in.platform.empty()) continue;
    auxv.push_back(e);
  }
  if (!Has(auxv, AT_RANDOM)) InsertAfter(&auxv, AT_SECURE, {AT_RANDOM, 0});
  if (!Has(auxv, AT_EXECFN)) InsertAfter(&auxv, Has(auxv, AT_HWCAP2) ? AT_HWCAP2 : AT_RANDOM, {AT_EXECFN, 0});
  if (!in.platform.empty() && !Has(auxv, AT_PLATFORM)) InsertAfter(&auxv, AT_EXECFN, {AT_PLATFORM, 0});
  for (AuxEntry& e : auxv) {
    if (e.key == AT_RANDOM) e.value = random_addr;
    if (e.key == AT_EXECFN) e.value = execfn_addr;
    if (e.key == AT_PLATFORM) e.value = platform_addr;
  }
  auxv.push_back({AT_NULL, 0});
  return auxv;
}

}  // namespace

uint64_t ArgLimit(uint64_t stack_rlimit_cur) {
  uint64_t limit = std::min(kStkLim / 4 * 3, stack_rlimit_cur / 4);
  return std::max(limit, kArgMax);
}

Result<void> CheckArgLimits(const std::vector<std::string>& argv, const std::vector<std::string>& envp,
                            const std::string& execfn, uint64_t limit) {
  // bprm_stack_limits() reserves the pointers first, counting the "" argv[0] an empty argv gets.
  uint64_t ptr_size = (std::max<uint64_t>(argv.size(), 1) + envp.size()) * sizeof(uint64_t);
  if (limit <= ptr_size) return Errno(E2BIG);
  uint64_t budget = limit - ptr_size;
  uint64_t total = 0;
  auto add = [&](const std::string& s) -> bool {
    uint64_t len = s.size() + 1;
    if (len > kMaxArgStrlen) return false;
    total += len;
    return total <= budget;
  };
  if (!add(execfn)) return Errno(E2BIG);
  for (const std::string& s : envp) {
    if (!add(s)) return Errno(E2BIG);
  }
  for (const std::string& s : argv) {
    if (!add(s)) return Errno(E2BIG);
  }
  if (argv.empty() && !add("")) return Errno(E2BIG);
  return Ok();
}

Result<InitialStack> BuildInitialStack(const InitialStackInput& in) {
  static const std::vector<std::string> kEmptyArgv = {""};
  const std::vector<std::string>& argv = in.argv.empty() ? kEmptyArgv : in.argv;
  RETURN_IF_ERRNO(CheckArgLimits(argv, in.envp, in.execfn, in.arg_limit));
  if (in.align_pad >= kMaxAlignPad) return Errno(EINVAL);

  InitialStack out;
  // Every address is computed downwards from stack_top. The strings are bounded by the checks above,
  // so only a stack_top too close to 0 can underflow; Linux's writes would fault there.
  uint64_t p = in.stack_top;
  bool underflow = false;
  auto down = [&](uint64_t n) {
    if (p < n) underflow = true;
    p -= n;
    return p;
  };

  // copy_strings(): after the top NULL pointer, execfn, then envp and argv, each list copied from
  // its last string down, so that every list ends up in order at increasing addresses.
  down(8);
  out.execfn_addr = down(in.execfn.size() + 1);
  out.env_end = p;
  std::vector<uint64_t> env_addrs(in.envp.size());
  for (size_t i = in.envp.size(); i-- > 0;) env_addrs[i] = down(in.envp[i].size() + 1);
  out.env_start = out.arg_end = p;
  std::vector<uint64_t> arg_addrs(argv.size());
  for (size_t i = argv.size(); i-- > 0;) arg_addrs[i] = down(argv[i].size() + 1);
  out.arg_start = p;

  // create_elf_tables(): arch_align_stack(), then the platform string and the random bytes, each
  // allocated directly below the previous one without further alignment.
  down(in.align_pad);
  p &= ~uint64_t{15};
  if (!in.platform.empty()) out.platform_addr = down(in.platform.size() + 1);
  out.random_addr = down(16);
  if (underflow) return Errno(EFAULT);

  out.auxv = FinalAuxv(in, out.random_addr, out.execfn_addr, out.platform_addr);
  uint64_t auxv_words = out.auxv.size() * 2;
  uint64_t items = (argv.size() + 1) + (in.envp.size() + 1) + 1;
  down((auxv_words + items) * 8);
  if (underflow) return Errno(EFAULT);
  const uint64_t sp = p & ~uint64_t{15};
  out.sp = sp;

  out.image.assign(in.stack_top - sp, 0);
  auto at = [&](uint64_t addr) { return out.image.data() + (addr - sp); };
  auto put64 = [&](uint64_t addr, uint64_t v) { std::memcpy(at(addr), &v, 8); };
  auto put_str = [&](uint64_t addr, const std::string& s) { std::memcpy(at(addr), s.c_str(), s.size() + 1); };

  put_str(out.execfn_addr, in.execfn);
  for (size_t i = 0; i < in.envp.size(); i++) put_str(env_addrs[i], in.envp[i]);
  for (size_t i = 0; i < argv.size(); i++) put_str(arg_addrs[i], argv[i]);
  if (!in.platform.empty()) put_str(out.platform_addr, in.platform);
  std::memcpy(at(out.random_addr), in.random.data(), 16);

  uint64_t w = sp;
  put64(w, argv.size());
  w += 8;
  for (uint64_t a : arg_addrs) {
    put64(w, a);
    w += 8;
  }
  w += 8;  // NULL
  for (uint64_t a : env_addrs) {
    put64(w, a);
    w += 8;
  }
  w += 8;  // NULL
  for (const AuxEntry& e : out.auxv) {
    put64(w, e.key);
    put64(w + 8, e.value);
    w += 16;
  }
  out.auxv_bytes.assign(reinterpret_cast<const char*>(at(w - auxv_words * 8)), auxv_words * 8);
  return out;
}

}  // namespace moat::arch
