#include "sentry/loader/elf.h"

#include <elf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace moat::loader {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t PageStart(uint64_t v) { return v & ~(kPage - 1); }
constexpr uint64_t PageOffset(uint64_t v) { return v & (kPage - 1); }
// Saturates instead of wrapping, so a hostile p_vaddr + p_memsz cannot make a span look small.
constexpr uint64_t PageAlignSat(uint64_t v) {
  return v > std::numeric_limits<uint64_t>::max() - (kPage - 1) ? PageStart(v) : PageStart(v + kPage - 1);
}
constexpr uint64_t AddSat(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

// Which of load_elf_binary's two roles a file plays; they differ in errnos and in what is read.
enum class Role { kExecutable, kInterpreter };

// Reads until n bytes or end of file, like kernel_read() on a regular file. Returns the count.
Result<size_t> ReadFully(const ReadFn& read, void* buf, size_t n, uint64_t offset) {
  // A file offset beyond INT64_MAX is a negative loff_t, which rw_verify_area() refuses.
  if (offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Errno(EINVAL);
  size_t done = 0;
  while (done < n) {
    uint64_t pos = offset + done;
    if (pos > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) break;
    size_t got = TRY(read(static_cast<uint8_t*>(buf) + done, n - done, static_cast<int64_t>(pos)));
    if (got == 0) break;
    done += got;
  }
  return done;
}

// Linux's elf_read(): a short read is EIO, a failed one keeps its errno.
Result<void> ElfRead(const ReadFn& read, void* buf, size_t n, uint64_t offset) {
  size_t got = TRY(ReadFully(read, buf, n, offset));
  if (got != n) return Errno(EIO);
  return Ok();
}

// The e_ident and e_machine checks. Linux's x86-64 elf_check_arch() only looks at e_machine; class
// and byte order are checked too because this parser reads the file as little-endian ELF64 only.
bool IdentOk(const Elf64_Ehdr& eh) {
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return false;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return false;
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return false;
  return eh.e_machine == EM_X86_64;
}

// load_elf_phdrs(): any problem (size, count, read) is reported as "no program headers", which
// the caller turns into ENOEXEC or ELIBBAD.
std::optional<std::vector<Elf64_Phdr>> LoadPhdrs(const Elf64_Ehdr& eh, const ReadFn& read) {
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) return std::nullopt;
  // Linux bounds the table by 64 KiB: at most 1170 entries. (Older kernels also limited it to one
  // page, ELF_MIN_ALIGN; 6.x does not, as checked natively.)
  size_t size = sizeof(Elf64_Phdr) * eh.e_phnum;
  if (size == 0 || size > 65536) return std::nullopt;
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  Result<void> r = ElfRead(read, ph.data(), size, eh.e_phoff);
  if (!r.ok()) return std::nullopt;
  return ph;
}

int ProtOf(uint32_t flags) {
  int prot = 0;
  if (flags & PF_R) prot |= PROT_READ;
  if (flags & PF_W) prot |= PROT_WRITE;
  if (flags & PF_X) prot |= PROT_EXEC;
  return prot;
}

// Fills the PT_LOAD-derived fields and the checks Linux makes while mapping (after the point of no
// return), which become fatal_error rather than a failed parse.
void DescribeLoads(const Elf64_Ehdr& eh, const std::vector<Elf64_Phdr>& phdrs, Role role, ElfInfo* info) {
  const bool is_exec = eh.e_type == ET_EXEC;
  auto fatal = [info](int e) {
    if (!info->fatal_error) info->fatal_error = Errno(e);
  };
  // load_elf_interp() rejects a wrong e_type only once it runs, after the point of no return; its
  // error value (~0UL) is meaningless, so ENOEXEC is logged.
  if (role == Role::kInterpreter && eh.e_type != ET_EXEC && eh.e_type != ET_DYN) fatal(ENOEXEC);

  uint64_t lo = std::numeric_limits<uint64_t>::max();
  uint64_t hi = 0;
  uint64_t align = 0;
  uint64_t start_code = std::numeric_limits<uint64_t>::max();
  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type != PT_LOAD) continue;
    info->segments.push_back(LoadSegment{.vaddr = ph.p_vaddr,
                                         .memsz = ph.p_memsz,
                                         .filesz = ph.p_filesz,
                                         .offset = ph.p_offset,
                                         .prot = ProtOf(ph.p_flags)});
    lo = std::min(lo, PageStart(ph.p_vaddr));
    hi = std::max(hi, AddSat(ph.p_vaddr, ph.p_memsz));
    // maximum_alignment() skips alignments that are not powers of two as invalid.
    if (ph.p_align != 0 && (ph.p_align & (ph.p_align - 1)) == 0) align = std::max(align, ph.p_align);

    // elf_load() maps the file part with vm_mmap(), which refuses a file offset that is not page
    // aligned: p_offset and p_vaddr must agree modulo the page size. A segment with no file part
    // is only brk-mapped, so its offset does not matter.
    if (ph.p_filesz != 0 && PageOffset(ph.p_offset) != PageOffset(ph.p_vaddr)) fatal(EINVAL);
    // The size checks of the mapping loop ("set_brk can never work"). For an ET_DYN file the
    // address part depends on the load bias, which only the loader knows.
    bool bad = ph.p_filesz > ph.p_memsz || ph.p_memsz > kTaskSize;
    if (is_exec) bad = bad || ph.p_vaddr >= kTaskSize || kTaskSize - ph.p_memsz < ph.p_vaddr;
    // load_elf_interp() reports these as ENOMEM, load_elf_binary() as EINVAL.
    if (bad) fatal(role == Role::kInterpreter ? ENOMEM : EINVAL);

    // AT_PHDR: the segment whose file range holds the program header table.
    if (ph.p_offset <= eh.e_phoff && eh.e_phoff < AddSat(ph.p_offset, ph.p_filesz)) {
      info->phdr_vaddr = eh.e_phoff - ph.p_offset + ph.p_vaddr;
    }
    if ((ph.p_flags & PF_X) && ph.p_vaddr < start_code) start_code = ph.p_vaddr;
    info->start_data = std::max(info->start_data, ph.p_vaddr);
    uint64_t file_end = ph.p_vaddr + ph.p_filesz;
    if ((ph.p_flags & PF_X) && info->end_code < file_end) info->end_code = file_end;
    info->end_data = std::max(info->end_data, file_end);
    info->brk = std::max(info->brk, ph.p_vaddr + ph.p_memsz);
  }
  info->max_align = PageAlignSat(align);
  if (info->segments.empty()) {
    // total_mapping_size() is 0: ET_DYN executables and every interpreter fail with EINVAL while
    // mapping. An ET_EXEC executable with nothing to map is accepted and faults at its entry.
    if (role == Role::kInterpreter || !is_exec) fatal(EINVAL);
    return;
  }
  info->min_vaddr = lo;
  info->max_vaddr = PageAlignSat(hi);
  // An executable with no PF_X segment keeps start_code = ~0UL in Linux; 0 reads better and
  // /proc shows the relocated value anyway.
  info->start_code = start_code == std::numeric_limits<uint64_t>::max() ? 0 : start_code;
  // A non-ET_EXEC entry is relocated by the loader, which checks it then.
  if (role == Role::kExecutable && is_exec && eh.e_entry >= kTaskSize) fatal(EINVAL);
}

void FillHeaderFields(const Elf64_Ehdr& eh, ElfInfo* info) {
  info->dynamic = eh.e_type == ET_DYN;
  info->entry = eh.e_entry;
  info->phoff = eh.e_phoff;
  info->phnum = eh.e_phnum;
  info->phentsize = eh.e_phentsize;
}

}  // namespace

Result<ElfInfo> ParseElf(const ReadFn& read) {
  // prepare_binprm() reads the first BINPRM_BUF_SIZE bytes into a zeroed buffer; a short file
  // leaves zeros, which then fail the checks below with ENOEXEC.
  uint8_t buf[kBinprmBufSize] = {};
  TRY(ReadFully(read, buf, sizeof(buf), 0));
  Elf64_Ehdr eh;
  std::memcpy(&eh, buf, sizeof(eh));

  // load_elf_binary()'s first checks, in its order; all are ENOEXEC so the order is moot.
  if (!IdentOk(eh)) return Errno(ENOEXEC);
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) return Errno(ENOEXEC);
  std::optional<std::vector<Elf64_Phdr>> phdrs = LoadPhdrs(eh, read);
  if (!phdrs) return Errno(ENOEXEC);

  ElfInfo info;
  FillHeaderFields(eh, &info);

  // Only the first PT_INTERP counts: Linux stops at it.
  for (const Elf64_Phdr& ph : *phdrs) {
    if (ph.p_type != PT_INTERP) continue;
    if (ph.p_filesz > kMaxInterpreterPath || ph.p_filesz < 2) return Errno(ENOEXEC);
    std::string path(ph.p_filesz, '\0');
    RETURN_IF_ERRNO(ElfRead(read, path.data(), path.size(), ph.p_offset));
    if (path.back() != '\0') return Errno(ENOEXEC);
    // open_exec() takes a C string: anything after an embedded NUL is ignored.
    path.resize(std::strlen(path.c_str()));
    info.interpreter = std::move(path);
    break;
  }

  for (const Elf64_Phdr& ph : *phdrs) {
    if (ph.p_type == PT_GNU_STACK) info.executable_stack = (ph.p_flags & PF_X) != 0;
  }

  DescribeLoads(eh, *phdrs, Role::kExecutable, &info);
  return info;
}

Result<ElfInfo> ParseElfInterpreter(const ReadFn& read) {
  Elf64_Ehdr eh;
  RETURN_IF_ERRNO(ElfRead(read, &eh, sizeof(eh), 0));
  if (!IdentOk(eh)) return Errno(ELIBBAD);
  std::optional<std::vector<Elf64_Phdr>> phdrs = LoadPhdrs(eh, read);
  if (!phdrs) return Errno(ELIBBAD);

  ElfInfo info;
  FillHeaderFields(eh, &info);
  DescribeLoads(eh, *phdrs, Role::kInterpreter, &info);
  return info;
}

}  // namespace moat::loader
