// libFuzzer target: a file given to execve, as the sentry's loader reads it (sentry/loader): its
// "#!" line, its ELF header and program headers as an executable and as an interpreter.
//
// Beyond "no crash, no leak, no undefined behaviour", it checks what task_exec.cc relies on when
// it maps what the parser described:
//   - reads stay in the file (the ReadFn sees only offsets it can serve or end of file);
//   - an accepted file has the program header table it claims, PT_LOADs no more than that, an
//     interpreter path shorter than PATH_MAX without a NUL, and a span that holds every segment;
//   - an executable accepted with no fatal_error has PT_LOADs that fit below TASK_SIZE with
//     filesz <= memsz (ET_EXEC) and file offsets congruent to their addresses, as mmap needs.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "sentry/loader/elf.h"
#include "sentry/loader/shebang.h"

namespace moat::loader {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "elf_fuzzer: %s\n", what);
  std::abort();
}

constexpr uint64_t kPage = 4096;

void CheckInfo(const ElfInfo& info, bool executable) {
  if (info.phentsize != 56) Fail("accepted e_phentsize other than sizeof(Elf64_Phdr)");
  if (info.phnum == 0 || info.phnum * 56 > 65536) Fail("accepted a program header count Linux refuses");
  if (info.segments.size() > info.phnum) Fail("more PT_LOADs than program headers");
  if (info.interpreter) {
    if (!executable) Fail("an interpreter's own PT_INTERP was taken");
    if (info.interpreter->size() >= kMaxInterpreterPath) Fail("PT_INTERP longer than PATH_MAX");
    if (info.interpreter->find('\0') != std::string::npos) Fail("a NUL in the interpreter path");
  }
  if (info.max_align != 0 && (info.max_align & (info.max_align - 1)) != 0)
    Fail("max_align is not a power of two");
  if (!info.segments.empty()) {
    if (info.min_vaddr > info.max_vaddr) Fail("min_vaddr above max_vaddr");
    if (info.min_vaddr % kPage != 0 || info.max_vaddr % kPage != 0) Fail("span not page aligned");
  }
  for (const LoadSegment& s : info.segments) {
    if (s.vaddr < info.min_vaddr) Fail("a segment below min_vaddr");
    if (s.prot & ~7) Fail("prot has bits other than PROT_READ|PROT_WRITE|PROT_EXEC");
    if (info.fatal_error) continue;
    if (s.filesz > s.memsz) Fail("accepted p_filesz > p_memsz");
    if (s.memsz > kTaskSize) Fail("accepted p_memsz beyond TASK_SIZE");
    if (s.filesz != 0 && s.offset % kPage != s.vaddr % kPage) Fail("accepted p_offset % page != p_vaddr % page");
    if (executable && !info.dynamic) {
      if (s.vaddr >= kTaskSize || kTaskSize - s.memsz < s.vaddr) Fail("accepted an ET_EXEC segment past TASK_SIZE");
      if (s.vaddr + s.memsz > info.max_vaddr) Fail("a segment beyond max_vaddr");
    }
  }
  if (executable && !info.dynamic && !info.fatal_error && !info.segments.empty() && info.entry >= kTaskSize)
    Fail("accepted an ET_EXEC entry beyond TASK_SIZE");
}

}  // namespace
}  // namespace moat::loader

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moat::loader;
  // A pread over the input that also checks the parser's offsets.
  ReadFn read = [data, size](void* buf, size_t n, int64_t off) -> moat::Result<size_t> {
    if (off < 0) Fail("a read at a negative offset");
    if (n > (1 << 20)) Fail("a read of more than 1 MiB");
    if (static_cast<uint64_t>(off) >= size) return size_t{0};
    size_t k = std::min(n, size - static_cast<size_t>(off));
    std::memcpy(buf, data + off, k);
    return k;
  };

  std::span<const uint8_t> first(data, std::min(size, kBinprmBufSize));
  moat::Result<std::optional<Shebang>> script = ParseShebang(first);
  if (script.ok() && *script) {
    if ((*script)->interpreter.find('\0') != std::string::npos) Fail("a NUL in a #! interpreter");
    std::vector<std::string> argv = ScriptArgv(**script, "/script", {"script", "a"});
    if (argv.size() < 3 || argv[0] != (*script)->interpreter) Fail("ScriptArgv lost the interpreter");
  }

  moat::Result<ElfInfo> exe = ParseElf(read);
  if (exe.ok()) CheckInfo(*exe, true);
  moat::Result<ElfInfo> interp = ParseElfInterpreter(read);
  if (interp.ok()) CheckInfo(*interp, false);
  return 0;
}
