// execve: the sentry loads programs itself (DESIGN.md section 4). It resolves the file in its VFS,
// follows `#!`, parses the ELF headers, then turns the host process into a fresh stub image and
// maps the program and its interpreter from host fds, builds the initial stack and starts it.
#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>

#include <cstring>

#include "base/log.h"
#include "platform/stub/stub_layout.h"
#include "sentry/arch/stack.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/loader/elf.h"
#include "sentry/loader/shebang.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {
namespace {

constexpr int kMaxInterpreterDepth = 5;  // exec_binprm's limit on nested #! interpreters

// An executable file opened for loading.
struct ExecFile {
  RefPtr<vfs::FileDescription> file;
  vfs::Path path;
  vfs::Stat stat;
};

// What the checks before the point of no return found.
struct ExecPlan {
  ExecFile exe;
  loader::ElfInfo exe_info;
  std::optional<ExecFile> interp;
  loader::ElfInfo interp_info;
  std::vector<std::string> argv;
  std::string execfn;  // AT_EXECFN: the name execve was given
};

// Opens `p` for execution: a regular file with execute permission on an exec-allowed mount.
Result<ExecFile> OpenExecutable(const Credentials& creds, const vfs::Path& p) {
  vfs::Stat st = TRY(p.dentry->inode()->GetStat());
  if (S_ISLNK(st.mode)) return Errno(ELOOP);  // AT_SYMLINK_NOFOLLOW on a symbolic link
  if (S_ISDIR(st.mode)) return Errno(EACCES);
  if (!S_ISREG(st.mode)) return Errno(EACCES);
  if (p.mount->flags().noexec) return Errno(EACCES);
  TRY(vfs::CheckPermission(creds, st, X_OK));
  if (p.dentry->inode()->HasWriters()) return Errno(ETXTBSY);
  // The kernel reads an executable even without read permission.
  RefPtr<vfs::FileDescription> f = TRY(p.dentry->inode()->Open(O_RDONLY, p));
  return ExecFile{std::move(f), p, st};
}

Result<loader::ElfInfo> ParseFile(Task& t, vfs::FileDescription& f, bool interpreter) {
  auto read = [&t, &f](void* buf, size_t n, int64_t off) -> Result<size_t> {
    return f.PRead(t, std::span<uint8_t>(static_cast<uint8_t*>(buf), n), off);
  };
  return interpreter ? loader::ParseElfInterpreter(read) : loader::ParseElf(read);
}

// Everything that can fail without harm: resolution, permissions, argument sizes, `#!`, ELF
// headers, in the order Linux's execve checks them.
Result<ExecPlan> PlanExec(Task& t, int dirfd, std::string path, std::vector<std::string> argv,
                          const std::vector<std::string>& envp, int flags) {
  ExecPlan plan;
  RefPtr<Credentials> creds = t.creds();
  plan.execfn = path;
  if (path.empty() || (dirfd != AT_FDCWD && path[0] != '/')) {
    plan.execfn = path.empty() ? fmt::format("/dev/fd/{}", dirfd)
                               : fmt::format("/dev/fd/{}/{}", dirfd, path);
  }
  uint64_t limit = arch::ArgLimit(t.thread_group().GetRlimit(RLIMIT_STACK).rlim_cur);
  std::string name = plan.execfn;
  vfs::Path p = TRY(t.ResolveAt(dirfd, path, flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)));
  for (int depth = 0;; depth++) {
    if (depth > kMaxInterpreterDepth) return Errno(ELOOP);
    ExecFile f = TRY(OpenExecutable(*creds, p));
    if (depth == 0) TRY(arch::CheckArgLimits(argv, envp, plan.execfn, limit));
    uint8_t head[loader::kBinprmBufSize];
    size_t n = TRY(f.file->PRead(t, std::span<uint8_t>(head, sizeof(head)), 0));
    std::optional<loader::Shebang> sb =
        TRY(loader::ParseShebang(std::span<const uint8_t>(head, n)));
    if (sb) {
      argv = loader::ScriptArgv(*sb, name, argv);
      // An empty interpreter name resolves to the working directory, which cannot be executed.
      if (sb->interpreter.empty()) return Errno(EACCES);
      name = sb->interpreter;
      p = TRY(t.ResolveAt(AT_FDCWD, sb->interpreter, 0));
      continue;
    }
    plan.exe_info = TRY(ParseFile(t, *f.file, false));
    plan.exe = std::move(f);
    break;
  }
  TRY(arch::CheckArgLimits(argv, envp, plan.execfn, limit));
  if (plan.exe_info.interpreter) {
    vfs::Path ip = TRY(t.ResolveAt(AT_FDCWD, *plan.exe_info.interpreter, 0));
    ExecFile f = TRY(OpenExecutable(*creds, ip));
    plan.interp_info = TRY(ParseFile(t, *f.file, true));
    plan.interp = std::move(f);
  }
  plan.argv = std::move(argv);
  return plan;
}

// Runs an injected syscall that must succeed for the new image to exist.
Result<uint64_t> MustInject(Task& t, long nr, std::array<uint64_t, 6> args) {
  long r = TRY(t.context().Inject(nr, args));
  if (r < 0 && r > -4096) return Errno(static_cast<int>(-r));
  return static_cast<uint64_t>(r);
}

// Maps the PT_LOAD segments of `f` into the task's process. Returns the load bias.
Result<uint64_t> MapElf(Task& t, ExecFile& f, const loader::ElfInfo& info, uint64_t hint) {
  int host_fd = TRY(f.file->HostMapFd());
  int app_fd = TRY(t.context().InstallFd(host_fd));
  struct CloseAppFd {
    Task& t;
    int fd;
    ~CloseAppFd() { (void)t.context().Inject(SYS_close, {static_cast<uint64_t>(fd), 0, 0, 0, 0, 0}); }
  } closer{t, app_fd};

  uint64_t bias = 0;
  if (info.dynamic) {
    // Reserve the whole span, aligned to the largest segment alignment, then map into it.
    uint64_t span = info.max_vaddr - info.min_vaddr;
    uint64_t align = std::max<uint64_t>(info.max_align, kPageSize);
    uint64_t extra = align - kPageSize;
    uint64_t base = TRY(MustInject(t, SYS_mmap, {hint, span + extra, PROT_NONE,
                                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                                 static_cast<uint64_t>(-1), 0}));
    uint64_t aligned = UserAddr(base).RoundUp(align).value();
    if (aligned > base) TRY(MustInject(t, SYS_munmap, {base, aligned - base, 0, 0, 0, 0}));
    if (base + extra > aligned)
      TRY(MustInject(t, SYS_munmap, {aligned + span, base + extra - aligned, 0, 0, 0, 0}));
    bias = aligned - info.min_vaddr;
    if (bias + info.max_vaddr > loader::kTaskSize) return Errno(ENOMEM);
  }
  std::string name = vfs::PathString(t.fs().root(), f.path);
  for (const loader::LoadSegment& seg : info.segments) {
    uint64_t page_start = UserAddr(bias + seg.vaddr).RoundDown(kPageSize).value();
    uint64_t file_end = bias + seg.vaddr + seg.filesz;
    uint64_t mem_end = bias + seg.vaddr + seg.memsz;
    uint64_t file_page_end = UserAddr(file_end).RoundUp(kPageSize).value();
    if (seg.filesz > 0) {
      uint64_t off = UserAddr(seg.offset).RoundDown(kPageSize).value();
      uint64_t got = TRY(MustInject(t, SYS_mmap, {page_start, file_page_end - page_start, static_cast<uint64_t>(seg.prot),
                                                  MAP_PRIVATE | MAP_FIXED,
                                                  static_cast<uint64_t>(app_fd), off}));
      if (got != page_start) return Errno(ENOMEM);
      t.mm().AddFileMapping(page_start, {file_page_end, off, seg.prot, MAP_PRIVATE, name,
                                         f.stat.dev, f.stat.ino});
    }
    if (seg.memsz > seg.filesz) {
      // The rest of the last file page belongs to the bss: it must read as zeros.
      if (seg.filesz > 0 && file_end % kPageSize != 0) {
        uint64_t page = UserAddr(file_end).RoundDown(kPageSize).value();
        bool writable = seg.prot & PROT_WRITE;
        if (!writable)
          TRY(MustInject(t, SYS_mprotect, {page, kPageSize, static_cast<uint64_t>(seg.prot | PROT_WRITE), 0, 0, 0}));
        std::vector<uint8_t> zeros(file_page_end - file_end);
        TRY(t.CopyOut(UserAddr(file_end), zeros.data(), zeros.size()));
        if (!writable)
          TRY(MustInject(t, SYS_mprotect, {page, kPageSize, static_cast<uint64_t>(seg.prot), 0, 0, 0}));
      }
      uint64_t anon_start = seg.filesz > 0 ? file_page_end : page_start;
      uint64_t anon_end = UserAddr(mem_end).RoundUp(kPageSize).value();
      if (anon_end > anon_start) {
        TRY(MustInject(t, SYS_mmap, {anon_start, anon_end - anon_start, static_cast<uint64_t>(seg.prot),
                                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                                     static_cast<uint64_t>(-1), 0}));
      }
    }
  }
  return bias;
}

// The auxv the host kernel gave the stub: the vDSO address and values about the CPU.
Result<std::map<uint64_t, uint64_t>> ReadStubAuxv(Task& t) {
  uint64_t sp = t.context().Regs().rsp;
  uint64_t argc = TRY(t.CopyInObj<uint64_t>(UserAddr(sp)));
  uint64_t p = sp + 8 + (argc + 1) * 8;
  while (TRY(t.CopyInObj<uint64_t>(UserAddr(p))) != 0) p += 8;  // envp
  p += 8;
  std::map<uint64_t, uint64_t> aux;
  for (int i = 0; i < 64; i++, p += 16) {
    uint64_t kv[2];
    TRY(t.CopyIn(UserAddr(p), kv, sizeof(kv)));
    if (kv[0] == AT_NULL) break;
    aux[kv[0]] = kv[1];
  }
  return aux;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

// Builds the new image in a process that is running the fresh stub.
static Result<void> LoadImage(Task& t, ExecPlan& plan, std::vector<std::string> envp) {
  if (plan.exe_info.fatal_error || (plan.interp && plan.interp_info.fatal_error)) {
    // Linux finds these only after the old image is gone: the process dies of SIGSEGV.
    LOG_INFO("execve({}): the program cannot be loaded ({})", plan.execfn,
             (plan.exe_info.fatal_error ? *plan.exe_info.fatal_error : *plan.interp_info.fatal_error).Name());
    return Errno(ENOEXEC);
  }
  std::map<uint64_t, uint64_t> kaux = TRY(ReadStubAuxv(t));
  uint64_t rnd = 0;
  getrandom(&rnd, sizeof(rnd), 0);
  // A PIE with an interpreter loads near ELF_ET_DYN_BASE, shifted by a random page count as
  // Linux's arch_mmap_rnd() does (fewer bits here); other ET_DYN files go where mmap puts them.
  uint64_t hint = 0;
  if (plan.exe_info.dynamic && plan.exe_info.interpreter) {
    uint64_t align = std::max<uint64_t>(plan.exe_info.max_align, kPageSize);
    hint = (loader::kElfEtDynBase + ((rnd & 0xffff) << 12)) & ~(align - 1);
  }
  uint64_t exe_bias = TRY(MapElf(t, plan.exe, plan.exe_info, hint));
  uint64_t interp_bias = 0;
  uint64_t entry = exe_bias + plan.exe_info.entry;
  if (plan.interp) {
    interp_bias = TRY(MapElf(t, *plan.interp, plan.interp_info, 0));
    entry = interp_bias + plan.interp_info.entry;
  }
  if (entry >= loader::kTaskSize) return Errno(EFAULT);
  t.mm().SetBrkStart(exe_bias + plan.exe_info.brk + ((rnd >> 16) & 0x1fff) * kPageSize);

  rlimit stack_limit = t.thread_group().GetRlimit(RLIMIT_STACK);
  uint64_t stack_size = 8ULL << 20;
  if (stack_limit.rlim_cur != RLIM_INFINITY)
    stack_size = std::clamp<uint64_t>(stack_limit.rlim_cur, 128 << 10, 256ULL << 20);
  stack_size = UserAddr(stack_size).RoundUp(kPageSize).value();
  int stack_prot = PROT_READ | PROT_WRITE | (plan.exe_info.executable_stack ? PROT_EXEC : 0);
  uint64_t stack_base =
      TRY(MustInject(t, SYS_mmap, {0, stack_size, static_cast<uint64_t>(stack_prot),
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                                   static_cast<uint64_t>(-1), 0}));

  RefPtr<Credentials> creds = t.creds();
  auto kv = [&kaux](uint64_t key, uint64_t fallback) {
    auto it = kaux.find(key);
    return it == kaux.end() ? fallback : it->second;
  };
  arch::InitialStackInput in;
  in.stack_top = stack_base + stack_size;
  in.argv = plan.argv;
  in.envp = std::move(envp);
  in.execfn = plan.execfn;
  std::memcpy(in.random.data(), &rnd, 8);
  getrandom(in.random.data() + 8, 8, 0);
  in.arg_limit = arch::ArgLimit(stack_limit.rlim_cur);
  in.align_pad = (rnd >> 32) & 0x1ff0;
  in.auxv = {
      {AT_SYSINFO_EHDR, kv(AT_SYSINFO_EHDR, 0)},
      {AT_MINSIGSTKSZ, kv(AT_MINSIGSTKSZ, 2048)},
      {AT_HWCAP, kv(AT_HWCAP, getauxval(AT_HWCAP))},
      {AT_PAGESZ, kPageSize},
      {AT_CLKTCK, 100},
      {AT_PHDR, exe_bias + plan.exe_info.phdr_vaddr},
      {AT_PHENT, sizeof(Elf64_Phdr)},
      {AT_PHNUM, plan.exe_info.phnum},
      {AT_BASE, interp_bias},
      {AT_FLAGS, 0},
      {AT_ENTRY, exe_bias + plan.exe_info.entry},
      {AT_UID, creds->ruid},
      {AT_EUID, creds->euid},
      {AT_GID, creds->rgid},
      {AT_EGID, creds->egid},
      {AT_SECURE, 0},
      {AT_HWCAP2, kv(AT_HWCAP2, getauxval(AT_HWCAP2))},
  };
  arch::InitialStack st = TRY(arch::BuildInitialStack(in));
  TRY(t.CopyOut(UserAddr(st.sp), st.image.data(), st.image.size()));
  t.mm().SetArgEnv(st.arg_start, st.arg_end, st.env_start, st.env_end);
  t.mm().SetAuxv(st.auxv_bytes);
  t.mm().SetExecutable(vfs::PathString(t.fs().root(), plan.exe.path));
  t.mm().SetExecutableInode(plan.exe.path.dentry->inode());
  t.mm().SetExecutablePath(plan.exe.path);
  t.mm().SetStack(stack_base, stack_base + stack_size, st.sp);

  platform::Registers& r = t.context().Regs();
  platform::Registers fresh{};
  fresh.cs = r.cs;
  fresh.ss = r.ss;
  fresh.ds = r.ds;
  fresh.es = r.es;
  fresh.eflags = 0x202;  // IF, and the reserved bit 1
  fresh.rip = entry;
  fresh.rsp = st.sp;
  fresh.orig_rax = static_cast<uint64_t>(-1);
  r = fresh;
  t.set_name(Basename(plan.execfn.empty() ? plan.argv.at(0) : plan.execfn));
  return Ok();
}

Result<long> Task::Execve(int dirfd, const std::string& path, std::vector<std::string> argv,
                          std::vector<std::string> envp, int flags) {
  if (argv.empty()) argv.push_back("");  // Linux inserts an empty argv[0] since 5.18
  ExecPlan plan = TRY(PlanExec(*this, dirfd, path, std::move(argv), envp, flags));

  // The point of no return. Other threads die with the host exec; their tasks leave the group
  // quietly. A non-leader that execs takes over the leader's tid, as in Linux.
  RefPtr<Task> old_leader;
  {
    absl::MutexLock l(&kernel_->mu_);
    if (tid_ != pid() && tg_->leader) old_leader = RefPtr<Task>(tg_->leader);
    for (Task* other : tg_->tasks) {
      if (other == this) continue;
      other->detached_ = true;
      // Its task thread must leave any wait in the sentry and reap its dying host thread: the
      // host's exec waits until every other thread of the process is gone.
      other->Kill();
    }
    std::erase_if(tg_->tasks, [this](Task* o) { return o != this; });
    if (tid_ != pid()) {
      if (Task* leader = kernel_->TaskByTid(pid())) kernel_->RemoveTask(leader);
      kernel_->RemoveTask(this);
      tid_ = pid();
      kernel_->AddTask(this);
    }
    tg_->leader = this;
    tg_->execed = true;
  }
  Result<void> stub = ctx_->ExecStub();
  // The old leader's host thread is gone and its tid is now this thread's: its task thread must
  // not wait for it any longer.
  if (old_leader) old_leader->context().Abandon();
  if (stub.ok()) {
    set_mm(MakeRef<mm::MemoryManager>());
    stub = LoadImage(*this, plan, std::move(envp));
  }
  if (!stub.ok()) {
    LOG_INFO("execve({}): building the new image failed: {}", path, stub.error().Name());
    absl::MutexLock l(&kernel_->mu_);
    kernel_->StartGroupExit(tg_.get(), SIGSEGV);
    return Errno(kEJUSTRETURN);
  }
  {
    absl::MutexLock l(&kernel_->mu_);
    tg_->handlers = tg_->handlers->CloneForExec();
    altstack_ = stack_t{};
  }
  RefPtr<Credentials> exec_creds = creds()->Copy();
  exec_creds->ApplyExec();
  set_creds(exec_creds);
  fds_->CloseOnExec();
  restart_ = nullptr;
  ReleaseVforkParent();
  return Errno(kEJUSTRETURN);
}

Result<void> Task::LoadInitial(const std::string& path, std::vector<std::string> argv,
                               std::vector<std::string> envp) {
  if (argv.empty()) argv.push_back("");
  ExecPlan plan = TRY(PlanExec(*this, AT_FDCWD, path, std::move(argv), envp, 0));
  TRY(LoadImage(*this, plan, std::move(envp)));
  // As runc sets a process's credentials and then executes its program.
  RefPtr<Credentials> exec_creds = creds()->Copy();
  exec_creds->ApplyExec();
  set_creds(exec_creds);
  return Ok();
}

}  // namespace moat::kernel
