// Seccomp programs: validation as Linux does it, the length Linux counts, and the interpreter.
#include "sentry/kernel/seccomp.h"

#include <cstring>

namespace moat::kernel {

namespace {

constexpr uint32_t kMemWords = 16;  // BPF_MEMWORDS

bool IsConditionalJump(uint16_t code) {
  switch (code) {
    case BPF_JMP | BPF_JEQ | BPF_K:
    case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K:
    case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K:
    case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K:
    case BPF_JMP | BPF_JSET | BPF_X:
      return true;
    default:
      return false;
  }
}

// The instructions seccomp_check_filter lets through: classic BPF without packet access, MOD
// and ancillary data (LD|W|LEN reads the size of seccomp_data).
bool SeccompAllows(uint16_t code) {
  switch (code) {
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
    case BPF_RET | BPF_K:
    case BPF_RET | BPF_A:
    case BPF_ALU | BPF_ADD | BPF_K:
    case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K:
    case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K:
    case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K:
    case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K:
    case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K:
    case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
    case BPF_MISC | BPF_TAX:
    case BPF_MISC | BPF_TXA:
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
    case BPF_JMP | BPF_JA:
      return true;
    default:
      return IsConditionalJump(code);
  }
}

// Linux's check_load_and_stores: a scratch slot may be loaded only where every path to the load
// stored it. The analysis is Linux's own approximation (one forward pass, a jump's targets
// keep what is valid on every jump to them, the instruction after a jump starts afresh), so that
// exactly the same programs pass.
bool LoadsFollowStores(std::span<const sock_filter> prog) {
  std::vector<uint16_t> masks(prog.size(), 0xffff);
  uint16_t valid = 0;
  for (size_t pc = 0; pc < prog.size(); pc++) {
    const sock_filter& in = prog[pc];
    valid &= masks[pc];
    switch (in.code) {
      case BPF_ST:
      case BPF_STX:
        valid |= static_cast<uint16_t>(1u << in.k);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if (!(valid & (1u << in.k))) return false;
        break;
      case BPF_JMP | BPF_JA:
        masks[pc + 1 + in.k] &= valid;
        valid = 0xffff;
        break;
      default:
        if (IsConditionalJump(in.code)) {
          masks[pc + 1 + in.jt] &= valid;
          masks[pc + 1 + in.jf] &= valid;
          valid = 0xffff;
        }
        break;
    }
  }
  return true;
}

}  // namespace

Result<void> ValidateSeccompProgram(std::span<const sock_filter> prog) {
  const size_t len = prog.size();
  if (len == 0 || len > kSeccompMaxProgramLength) return Errno(EINVAL);
  for (size_t pc = 0; pc < len; pc++) {
    const sock_filter& in = prog[pc];
    if (!SeccompAllows(in.code)) return Errno(EINVAL);
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (in.k >= sizeof(seccomp_data) || (in.k & 3)) return Errno(EINVAL);
        break;
      case BPF_ALU | BPF_DIV | BPF_K:
        if (in.k == 0) return Errno(EINVAL);
        break;
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (in.k >= 32) return Errno(EINVAL);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (in.k >= kMemWords) return Errno(EINVAL);
        break;
      case BPF_JMP | BPF_JA:
        if (in.k >= len - pc - 1) return Errno(EINVAL);
        break;
      default:
        if (IsConditionalJump(in.code) && (pc + in.jt + 1 >= len || pc + in.jf + 1 >= len))
          return Errno(EINVAL);
        break;
    }
  }
  const uint16_t last = prog[len - 1].code;
  if (last != (BPF_RET | BPF_K) && last != (BPF_RET | BPF_A)) return Errno(EINVAL);
  if (!LoadsFollowStores(prog)) return Errno(EINVAL);
  return Ok();
}

uint32_t SeccompCountedLength(std::span<const sock_filter> prog) {
  uint32_t n = 3;  // clear A and X, keep the context pointer
  for (const sock_filter& in : prog) {
    if (in.code == (BPF_RET | BPF_K)) {
      n += 2;  // move the constant to the return register, exit
    } else if (in.code == (BPF_ALU | BPF_DIV | BPF_X)) {
      n += 5;  // truncate X, test it for zero, return 0, divide
    } else if (IsConditionalJump(in.code)) {
      // A negative constant is first moved to a register; a jump that does not fall through on
      // either branch becomes a conditional jump and a JA, except when the true branch falls
      // through and the condition can be inverted (every one but JSET).
      if (BPF_SRC(in.code) == BPF_K && static_cast<int32_t>(in.k) < 0) n += 1;
      bool one = in.jf == 0 || (in.jt == 0 && BPF_OP(in.code) != BPF_JSET);
      n += one ? 1 : 2;
    } else {
      n += 1;
    }
  }
  return n;
}

uint32_t RunSeccompProgram(std::span<const sock_filter> prog, const seccomp_data& data) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&data);
  uint32_t a = 0, x = 0;
  uint32_t mem[kMemWords] = {};
  for (size_t pc = 0; pc < prog.size(); pc++) {
    const sock_filter& in = prog[pc];
    const uint32_t k = in.k;
    // The operand of an ALU instruction or a comparison.
    const uint32_t src = BPF_SRC(in.code) == BPF_X ? x : k;
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        std::memcpy(&a, bytes + k, sizeof(a));
        break;
      case BPF_LD | BPF_W | BPF_LEN:
        a = sizeof(seccomp_data);
        break;
      case BPF_LDX | BPF_W | BPF_LEN:
        x = sizeof(seccomp_data);
        break;
      case BPF_LD | BPF_IMM:
        a = k;
        break;
      case BPF_LDX | BPF_IMM:
        x = k;
        break;
      case BPF_LD | BPF_MEM:
        a = mem[k];
        break;
      case BPF_LDX | BPF_MEM:
        x = mem[k];
        break;
      case BPF_ST:
        mem[k] = a;
        break;
      case BPF_STX:
        mem[k] = x;
        break;
      case BPF_ALU | BPF_ADD | BPF_K:
      case BPF_ALU | BPF_ADD | BPF_X:
        a += src;
        break;
      case BPF_ALU | BPF_SUB | BPF_K:
      case BPF_ALU | BPF_SUB | BPF_X:
        a -= src;
        break;
      case BPF_ALU | BPF_MUL | BPF_K:
      case BPF_ALU | BPF_MUL | BPF_X:
        a *= src;
        break;
      case BPF_ALU | BPF_DIV | BPF_K:
      case BPF_ALU | BPF_DIV | BPF_X:
        if (src == 0) return 0;
        a /= src;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
      case BPF_ALU | BPF_AND | BPF_X:
        a &= src;
        break;
      case BPF_ALU | BPF_OR | BPF_K:
      case BPF_ALU | BPF_OR | BPF_X:
        a |= src;
        break;
      case BPF_ALU | BPF_XOR | BPF_K:
      case BPF_ALU | BPF_XOR | BPF_X:
        a ^= src;
        break;
      // A shift by X uses its low 5 bits, as the x86-64 instruction Linux runs does.
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_LSH | BPF_X:
        a <<= (src & 31);
        break;
      case BPF_ALU | BPF_RSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_X:
        a >>= (src & 31);
        break;
      case BPF_ALU | BPF_NEG:
        a = 0u - a;
        break;
      case BPF_MISC | BPF_TAX:
        x = a;
        break;
      case BPF_MISC | BPF_TXA:
        a = x;
        break;
      case BPF_JMP | BPF_JA:
        pc += k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
      case BPF_JMP | BPF_JEQ | BPF_X:
        pc += (a == src) ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
      case BPF_JMP | BPF_JGT | BPF_X:
        pc += (a > src) ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
      case BPF_JMP | BPF_JGE | BPF_X:
        pc += (a >= src) ? in.jt : in.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
      case BPF_JMP | BPF_JSET | BPF_X:
        pc += (a & src) ? in.jt : in.jf;
        break;
      case BPF_RET | BPF_K:
        return k;
      case BPF_RET | BPF_A:
        return a;
      default:
        // Not reached for a validated program; the strictest answer otherwise.
        return SECCOMP_RET_KILL_PROCESS;
    }
  }
  return SECCOMP_RET_KILL_PROCESS;  // not reached: a valid program ends in RET
}

SeccompFilter::SeccompFilter(std::vector<sock_filter> prog, RefPtr<SeccompFilter> prev, bool log)
    : prog_(std::move(prog)),
      prev_(std::move(prev)),
      log_(log),
      path_length_(SeccompCountedLength(prog_) + kSeccompFilterPenalty +
                   (prev_ ? prev_->path_length() : 0)),
      depth_(1 + (prev_ ? prev_->depth() : 0)) {}

SeccompFilter::~SeccompFilter() {
  // Release a long chain one filter at a time instead of by recursion: a chain can hold
  // thousands of one-instruction filters.
  RefPtr<SeccompFilter> p = std::move(prev_);
  while (p && p->RefCount() == 1) {
    RefPtr<SeccompFilter> next = std::move(p->prev_);
    p = std::move(next);
  }
}

uint32_t RunSeccompFilters(const SeccompFilter* newest, const seccomp_data& data,
                           const SeccompFilter** match) {
  uint32_t ret = SECCOMP_RET_ALLOW;
  *match = nullptr;
  for (const SeccompFilter* f = newest; f; f = f->prev()) {
    uint32_t cur = f->Run(data);
    if (SeccompActionRank(cur) < SeccompActionRank(ret)) {
      ret = cur;
      *match = f;
    }
  }
  return ret;
}

}  // namespace moat::kernel
