// ELF64 program-header parsing for execve: what Linux's fs/binfmt_elf.c learns from an executable
// (and from its PT_INTERP interpreter) before it maps anything.
//
// The parser is pure: it sees the file only through a pread-like callback and returns a
// description (segments, entry, interpreter path, stack executability). Mapping the segments,
// choosing the load bias and building the stack are the loader's job (sentry/arch/stack.h).
//
// Errors follow load_elf_binary's split around execve's point of no return:
//   - Checks Linux makes before begin_new_exec() fail ParseElf / ParseElfInterpreter with the errno
//     execve returns (ENOEXEC for the executable, ELIBBAD for a bad interpreter, EIO for a short
//     read of a header Linux reads with elf_read()).
//   - Checks Linux makes only after the point of no return (while mapping PT_LOADs) do not fail the
//     parse: they are reported in ElfInfo::fatal_error. Linux has already torn down the old image by
//     then, so execve never returns; the process dies with SIGSEGV (bprm_execve's
//     force_fatal_sig). The loader must do the same: commit the exec, then kill with SIGSEGV.
#ifndef MOAT_SENTRY_LOADER_ELF_H_
#define MOAT_SENTRY_LOADER_ELF_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/errno.h"

namespace moat::loader {

// A pread: reads up to n bytes at offset into buf and returns how many it read. A short count means
// end of file. Errors are returned as the errno a kernel_read() of the file would give.
using ReadFn = std::function<Result<size_t>(void* buf, size_t n, int64_t offset)>;

// Bytes of the file execve looks at to pick a binary format (BINPRM_BUF_SIZE).
inline constexpr size_t kBinprmBufSize = 256;
// Longest PT_INTERP Linux accepts, including the NUL (PATH_MAX).
inline constexpr size_t kMaxInterpreterPath = 4096;
// x86-64's TASK_SIZE_MAX with 4-level paging: no mapping may reach this address.
inline constexpr uint64_t kTaskSize = 0x7ffffffff000ULL;
// Where Linux puts an ET_DYN executable that has an interpreter (a PIE), before randomization and
// alignment: ELF_ET_DYN_BASE = DEFAULT_MAP_WINDOW / 3 * 2. The load bias is
// PAGESTART((kElfEtDynBase + random) & ~(max_align - 1)) - PAGESTART(first PT_LOAD vaddr).
inline constexpr uint64_t kElfEtDynBase = 0x7ffffffff000ULL / 3 * 2;

// One PT_LOAD, as in the file (not yet relocated by the load bias).
struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t filesz = 0;
  uint64_t offset = 0;
  int prot = 0;  // PROT_READ / PROT_WRITE / PROT_EXEC from PF_R / PF_W / PF_X
};

struct ElfInfo {
  bool dynamic = false;  // e_type == ET_DYN: the loader picks a load bias
  uint64_t entry = 0;    // e_entry, unrelocated
  uint64_t phoff = 0;
  uint64_t phnum = 0;      // AT_PHNUM
  uint64_t phentsize = 0;  // AT_PHENT (always sizeof(Elf64_Phdr) once parsed)
  // The PT_LOADs in file order. Linux maps them in this order and tolerates unsorted or overlapping
  // segments (later MAP_FIXED mappings replace earlier ones), so the parser does too.
  std::vector<LoadSegment> segments;
  // The first PT_INTERP's path, up to its first NUL (what open_exec() receives). Only set for an
  // executable; an interpreter's own PT_INTERP is ignored, as in load_elf_interp().
  std::optional<std::string> interpreter;
  // The last PT_GNU_STACK's PF_X. Without PT_GNU_STACK an x86-64 stack is not executable (no
  // READ_IMPLIES_EXEC for 64-bit). Meaningless for an interpreter: Linux uses the executable's.
  bool executable_stack = false;
  // The page-aligned span of the PT_LOADs: PAGESTART(lowest vaddr), PAGEALIGN(highest vaddr+memsz).
  // Zero when there is no PT_LOAD.
  uint64_t min_vaddr = 0;
  uint64_t max_vaddr = 0;
  // AT_PHDR before relocation. Linux (since 5.18) computes it from the PT_LOAD whose file range
  // holds e_phoff (the last such one in file order) and ignores PT_PHDR; 0 if no PT_LOAD holds it.
  uint64_t phdr_vaddr = 0;
  // The largest power-of-two p_align of the PT_LOADs, at least a page (maximum_alignment()).
  uint64_t max_align = 0;
  // For mm->start_code... and the initial brk, unrelocated, computed as load_elf_binary does:
  // start_code/end_code over PF_X segments (vaddr / vaddr+filesz), start_data is the highest
  // vaddr of any PT_LOAD, end_data the highest vaddr+filesz, brk the highest vaddr+memsz.
  uint64_t start_code = 0;
  uint64_t end_code = 0;
  uint64_t start_data = 0;
  uint64_t end_data = 0;
  uint64_t brk = 0;
  // Set when Linux would accept this file in execve but fail after the point of no return (see the
  // file comment): the process must be killed with SIGSEGV once the old image is gone. The errno is
  // what Linux computes internally, for the log only. For an ET_DYN file the loader must still
  // check the relocated addresses against kTaskSize itself (BAD_ADDR in load_elf_binary).
  std::optional<Errno> fatal_error;
};

// Parses the executable given to execve, as load_elf_binary() does before its point of no return.
// Its first kBinprmBufSize bytes are read at offset 0 (a short file reads as zero-padded, like
// bprm->buf). Fails with ENOEXEC for anything that is not a loadable x86-64 ELF64 executable
// (bad magic, class, byte order, type, machine, e_phentsize, e_phnum, unreadable program headers,
// a PT_INTERP shorter than 2 or longer than PATH_MAX bytes or not NUL-terminated), with EIO if
// PT_INTERP lies beyond the end of the file, and with the callback's errno if a read fails.
// Unlike Linux, ELFCLASS32 and big-endian files are rejected here outright: the sentry runs no
// compat (ia32/x32) binaries, and Linux's 64-bit handler would reject them on e_machine anyway.
// EI_VERSION / e_version are not checked, as Linux does not check them.
Result<ElfInfo> ParseElf(const ReadFn& read);

// Parses the interpreter named by an executable's PT_INTERP (after the caller opened it with
// exec permission checks). Linux reads its 64-byte header with elf_read(): EIO if the file is
// shorter. A bad magic, class, byte order or machine, or unreadable program headers give ELIBBAD.
// A wrong e_type, no PT_LOAD, or a bad PT_LOAD only fail after the point of no return:
// fatal_error.
Result<ElfInfo> ParseElfInterpreter(const ReadFn& read);

}  // namespace moat::loader

#endif  // MOAT_SENTRY_LOADER_ELF_H_
