// The contents of the per-process files: stat, statm, status, maps, limits, mounts, mountinfo,
// cmdline, environ and fdinfo, in Linux's formats (fs/proc/array.c, task_mmu.c, base.c).
#include <elf.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sentry/fsimpl/proc_internal.h"
#include "sentry/kernel/timers.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"

namespace moat::fsimpl::proc {
namespace {

using kernel::SigSet;
using kernel::Task;

// ---- What the files say about a task, copied under Kernel::mu_ ----

struct Snapshot {
  RefPtr<Task> shown;  // null for a zombie (or a process whose leader has exited)
  RefPtr<Task> any;    // a live task of the process: its memory, files and mounts
  pid_t pid = 0, tid = 0, ppid = 0, pgid = 0, sid = 0;
  char state = 'R';
  int threads = 1;
  int nice = 0;
  int exit_signal = SIGCHLD;
  int exit_status = 0;
  bool zombie = false;
  bool leader_view = true;  // the process (or its leader), not another thread
  bool per_thread = false;  // a task/<tid> view: one thread's CPU time, not the process's
  SigSet blocked, pending, shared_pending, ignored, caught;
  size_t queued = 0;
  struct rusage exit_usage {};
  struct rusage children_usage {};
  absl::Time start;
  absl::Time boot;
};

const char* StateName(char s) {
  switch (s) {
    case 'R':
      return "R (running)";
    case 'S':
      return "S (sleeping)";
    case 'T':
      return "T (stopped)";
    case 'Z':
      return "Z (zombie)";
    default:
      return "R (running)";
  }
}

Result<Snapshot> Take(const Target& t, Task* reader) {
  Snapshot s;
  absl::MutexLock l(&t.kernel->mu_);
  if (!t.ExistsLocked()) return Errno(ESRCH);
  kernel::ThreadGroup& g = *t.tg;
  s.shown = RefPtr<Task>(t.ShownTaskLocked());
  s.any = RefPtr<Task>(t.AnyTaskLocked());
  s.pid = g.pid();
  s.tid = t.tid();
  s.leader_view = s.tid == s.pid;
  s.per_thread = t.in_task_dir;
  s.ppid = g.parent ? g.parent->pid() : 0;
  s.pgid = g.pgid;
  s.sid = g.sid;
  s.zombie = g.zombie;
  s.threads = std::max<int>(1, static_cast<int>(g.tasks.size()));
  s.nice = g.nice;
  s.exit_signal = s.leader_view ? g.exit_signal : -1;
  s.exit_status = g.exit_status;
  s.exit_usage = g.exit_usage;
  s.children_usage = g.children_usage;
  s.shared_pending = g.pending.set();
  s.queued = g.pending.size();
  if (g.handlers) {
    for (int sig = 1; sig <= kernel::kNumSignals; sig++) {
      uint64_t h = g.handlers->actions[sig].handler;
      if (h == kernel::kSigIgn) s.ignored.Add(sig);
      else if (h != kernel::kSigDfl) s.caught.Add(sig);
    }
  }
  s.boot = t.kernel->boot_time();
  s.start = s.boot;
  if (Task* shown = s.shown.get()) {
    s.blocked = shown->signal_mask();
    s.pending = shown->pending_signals().set();
    s.queued += shown->pending_signals().size();
    s.start = shown->start_time();
    if (g.zombie) {
      s.state = 'Z';
    } else if (shown->group_stopped() || g.stopped) {
      s.state = 'T';
    } else if (shown == reader) {
      s.state = 'R';
    } else if (shown->blocked()) {
      s.state = 'S';
    } else {
      s.state = 'R';
    }
  } else {
    s.state = 'Z';
    if (s.any) s.start = s.any->start_time();
  }
  return s;
}

int64_t TicksOf(const struct rusage& ru, bool user) {
  const timeval& tv = user ? ru.ru_utime : ru.ru_stime;
  return tv.tv_sec * kClockTicks + tv.tv_usec / (1'000'000 / kClockTicks);
}

// Clock ticks of CPU time, user and system: the host's CPU clocks of the thread (a task/<tid>
// view) or the process, or what the host reported when a zombie exited.
std::pair<int64_t, int64_t> CpuTicks(const Snapshot& s) {
  constexpr int64_t kNsPerTick = 1'000'000'000 / kClockTicks;
  if (s.zombie || !s.any) return {TicksOf(s.exit_usage, true), TicksOf(s.exit_usage, false)};
  kernel::CpuTimes cpu;
  if (!s.per_thread) {
    cpu = kernel::HostCpuTimes(s.any->context().host_pid(), false);
  } else if (s.shown) {
    cpu = kernel::HostCpuTimes(s.shown->context().host_tid(), true);
  }
  return {cpu.user_ns / kNsPerTick, cpu.system_ns / kNsPerTick};
}

// ---- Memory ----

struct Mapping {
  uint64_t start, end;
  int prot;
  bool shared;
  uint64_t offset;
  uint64_t dev;
  uint64_t ino;
  std::string name;
};

// The size of the vDSO image at `base` in the task's memory, from its program headers.
uint64_t VdsoSize(Task& task, uint64_t base) {
  Elf64_Ehdr eh;
  if (task.PeekMemory(base, &eh, sizeof(eh)).value_or(0) != sizeof(eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phnum > 64) {
    return 2 * kPageSize;
  }
  uint64_t end = 0;
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    if (task.PeekMemory(base + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph)).value_or(0) !=
        sizeof(ph)) {
      break;
    }
    if (ph.p_type == PT_LOAD) end = std::max(end, ph.p_vaddr + ph.p_memsz);
  }
  if (end == 0 || end > (64u << 20)) return 2 * kPageSize;
  return UserAddr(end).RoundUp(kPageSize).value();
}

// The mappings the sentry knows of (mm.h), in address order and without overlaps: file
// mappings, the heap, the stack and the vDSO.
std::vector<Mapping> Mappings(Task& task, mm::MemoryManager& m) {
  std::vector<Mapping> all;
  for (auto& [start, f] : m.FileMappings()) {
    all.push_back(Mapping{start, f.end, f.prot, (f.flags & MAP_TYPE) != MAP_PRIVATE, f.offset,
                          f.dev, f.ino, f.name});
  }
  mm::MemoryManager::BrkInfo brk = m.GetBrk();
  if (brk.mapped_end > brk.start) {
    all.push_back(Mapping{brk.start, brk.mapped_end, PROT_READ | PROT_WRITE, false, 0, 0, 0,
                          "[heap]"});
  }
  mm::MemoryManager::StackInfo stack = m.Stack();
  if (stack.end > stack.start) {
    all.push_back(Mapping{stack.start, stack.end, PROT_READ | PROT_WRITE, false, 0, 0, 0,
                          "[stack]"});
  }
  std::string auxv = m.auxv();
  for (size_t i = 0; i + 16 <= auxv.size(); i += 16) {
    uint64_t kv[2];
    std::memcpy(kv, auxv.data() + i, sizeof(kv));
    if (kv[0] == AT_SYSINFO_EHDR && kv[1] != 0) {
      all.push_back(Mapping{kv[1], kv[1] + VdsoSize(task, kv[1]), PROT_READ | PROT_EXEC, false,
                            0, 0, 0, "[vdso]"});
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  std::vector<Mapping> out;
  uint64_t covered = 0;
  for (Mapping& e : all) {
    // A stale record may overlap a newer one (the application unmapped natively); clip it.
    if (e.start < covered) {
      if (e.end <= covered) continue;
      if (e.dev || e.ino) e.offset += covered - e.start;
      e.start = covered;
    }
    covered = e.end;
    out.push_back(std::move(e));
  }
  return out;
}

struct MemSummary {
  uint64_t vsize = 0, file = 0, anon = 0, exe = 0, lib = 0, data = 0, stack = 0;
  uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
  mm::MemoryManager::BrkInfo brk;
  mm::MemoryManager::StackInfo stack_info;
  mm::MemoryManager::ArgEnv argenv;
  uint64_t rss() const { return file + anon; }
};

// Sizes for stat, statm and status. The sentry does not track residency: the resident set is
// estimated as the file mappings plus the heap and the part of the stack Linux starts with.
MemSummary Summarize(Task& task) {
  MemSummary s;
  RefPtr<mm::MemoryManager> m = task.SharedMM();
  if (!m) return s;
  std::string exe = vfs::PathString(task.SharedFs()->root(), m->ExecutablePath());
  for (const Mapping& e : Mappings(task, *m)) {
    uint64_t size = e.end - e.start;
    s.vsize += size;
    if (e.name == "[stack]") {
      s.stack += size;
      s.anon += std::min<uint64_t>(size, 132 << 10);
    } else if (e.name == "[heap]") {
      s.data += size;
      s.anon += size;
    } else if (e.ino != 0) {
      s.file += size;
      if (e.prot & PROT_EXEC) {
        if (e.name == exe) {
          s.exe += size;
          if (!s.start_code) s.start_code = e.start;
          s.end_code = e.end;
        } else {
          s.lib += size;
        }
      } else if ((e.prot & PROT_WRITE) && !e.shared) {
        s.data += size;
        if (e.name == exe) {
          if (!s.start_data) s.start_data = e.start;
          s.end_data = e.end;
        }
      }
    }
  }
  s.brk = m->GetBrk();
  s.stack_info = m->Stack();
  s.argenv = m->GetArgEnv();
  return s;
}

std::string Hex16(uint64_t v) { return absl::StrFormat("%016x", v); }

// A CPU mask as "%*pb" prints it: 32-bit groups, most significant first, separated by commas;
// the first group only as wide as the bits it holds.
std::string CpuMask(int cpus) {
  std::vector<uint32_t> words((cpus + 31) / 32, 0);
  for (int i = 0; i < cpus; i++) words[i / 32] |= 1u << (i % 32);
  std::string out;
  for (int w = static_cast<int>(words.size()) - 1; w >= 0; w--) {
    int bits = (w == static_cast<int>(words.size()) - 1 && cpus % 32) ? cpus % 32 : 32;
    if (!out.empty()) out += ",";
    absl::StrAppendFormat(&out, "%0*x", (bits + 3) / 4, words[w]);
  }
  return out;
}

std::string CpuList(int cpus) {
  return cpus > 1 ? absl::StrCat("0-", cpus - 1) : std::string("0");
}

// The name as status shows it: newlines and backslashes escaped.
std::string EscapedName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '\n') out += "\\n";
    else if (c == '\\') out += "\\\\";
    else out.push_back(c);
  }
  return out;
}

}  // namespace

// ---- stat ----

Result<std::string> StatFile(const Target& t, Task* reader) {
  Snapshot s = TRY(Take(t, reader));
  // do_task_stat(): addresses and the exit code only for a reader that may ptrace the task.
  const bool permitted = MayAccess(t, reader).ok();
  MemSummary m;
  if (s.any && !s.zombie) m = Summarize(*s.any);
  auto [utime, stime] = CpuTicks(s);
  std::string comm = s.shown ? s.shown->name() : (s.any ? s.any->name() : std::string());
  int64_t start_ticks =
      absl::ToInt64Milliseconds(s.start - s.boot) * kClockTicks / 1000;
  rlimit rss = t.tg->GetRlimit(RLIMIT_RSS);
  const bool has_mm = s.any && !s.zombie;
  auto gated = [permitted](uint64_t v) { return permitted ? v : 0; };
  // start_code and end_code read 1 for a reader without access, 0 without a memory manager.
  auto code = [&](uint64_t v) -> uint64_t { return has_mm ? (permitted ? v : 1) : 0; };
  std::string out = absl::StrFormat("%d (%s) %c %d %d %d 0 -1 4194304 0 0 0 0 ", s.tid, comm,
                                    s.state, s.ppid, s.pgid, s.sid);
  absl::StrAppendFormat(&out, "%d %d %d %d ", utime, stime,
                        s.leader_view ? TicksOf(s.children_usage, true) : 0,
                        s.leader_view ? TicksOf(s.children_usage, false) : 0);
  absl::StrAppendFormat(&out, "%d %d %d 0 %d %u %u %u ", 20 + s.nice, s.nice, s.threads,
                        start_ticks, m.vsize, m.rss() / kPageSize, rss.rlim_cur);
  absl::StrAppendFormat(&out, "%u %u %u 0 0 ", code(m.start_code), code(m.end_code),
                        gated(m.stack_info.start_stack));
  absl::StrAppendFormat(&out, "%u %u %u %u 0 0 0 %d 0 0 0 0 0 0 ",
                        (s.pending | s.shared_pending).bits(), s.blocked.bits(), s.ignored.bits(),
                        s.caught.bits(), s.exit_signal);
  absl::StrAppendFormat(&out, "%u %u %u %u %u %u %u %d\n", gated(m.start_data),
                        gated(m.end_data), gated(m.brk.start), gated(m.argenv.arg_start),
                        gated(m.argenv.arg_end), gated(m.argenv.env_start),
                        gated(m.argenv.env_end), permitted && s.zombie ? s.exit_status : 0);
  return out;
}

Result<std::string> StatmFile(const Target& t) {
  Snapshot s = TRY(Take(t, nullptr));
  MemSummary m;
  if (s.any && !s.zombie) m = Summarize(*s.any);
  return absl::StrFormat("%u %u %u %u 0 %u 0\n", m.vsize / kPageSize, m.rss() / kPageSize,
                         m.file / kPageSize, m.exe / kPageSize, (m.data + m.stack) / kPageSize);
}

// ---- status ----

Result<std::string> StatusFile(const Target& t, Task* reader) {
  Snapshot s = TRY(Take(t, reader));
  Task* task = s.shown ? s.shown.get() : s.any.get();
  std::string name = task ? task->name() : std::string();
  RefPtr<kernel::Credentials> c = task ? task->creds() : kernel::Credentials::New(0, 0);
  std::string out = absl::StrCat("Name:\t", EscapedName(name), "\n");
  RefPtr<vfs::FsContext> fs = (task && !s.zombie) ? task->SharedFs() : nullptr;
  if (fs) absl::StrAppendFormat(&out, "Umask:\t%04o\n", fs->umask());
  absl::StrAppend(&out, "State:\t", StateName(s.state), "\n");
  absl::StrAppend(&out, "Tgid:\t", s.pid, "\nNgid:\t0\nPid:\t", s.tid, "\nPPid:\t", s.ppid,
                  "\nTracerPid:\t0\n");
  absl::StrAppend(&out, "Uid:\t", c->ruid, "\t", c->euid, "\t", c->suid, "\t", c->fsuid, "\n");
  absl::StrAppend(&out, "Gid:\t", c->rgid, "\t", c->egid, "\t", c->sgid, "\t", c->fsgid, "\n");
  int fdsize = 0;
  if (s.any && !s.zombie) {
    int used = s.any->SharedFds()->Size();
    fdsize = 64;
    while (fdsize < used) fdsize *= 2;
  }
  absl::StrAppend(&out, "FDSize:\t", fdsize, "\nGroups:\t");
  for (size_t i = 0; i < c->groups.size(); i++) absl::StrAppend(&out, i ? " " : "", c->groups[i]);
  absl::StrAppend(&out, " \n");
  absl::StrAppend(&out, "NStgid:\t", s.pid, "\nNSpid:\t", s.tid, "\nNSpgid:\t", s.pgid,
                  "\nNSsid:\t", s.sid, "\n");
  if (s.any && !s.zombie) {
    MemSummary m = Summarize(*s.any);
    auto kb = [&out](const char* key, uint64_t bytes) {
      absl::StrAppendFormat(&out, "%s:\t%8u kB\n", key, bytes / 1024);
    };
    kb("VmPeak", m.vsize);
    kb("VmSize", m.vsize);
    kb("VmLck", 0);
    kb("VmPin", 0);
    kb("VmHWM", m.rss());
    kb("VmRSS", m.rss());
    kb("RssAnon", m.anon);
    kb("RssFile", m.file);
    kb("RssShmem", 0);
    kb("VmData", m.data);
    kb("VmStk", m.stack);
    kb("VmExe", m.exe);
    kb("VmLib", m.lib);
    kb("VmPTE", 0);
    kb("VmSwap", 0);
    absl::StrAppend(&out, "HugetlbPages:\t       0 kB\nCoreDumping:\t0\nTHP_enabled:\t1\n");
  }
  rlimit sigpending = t.tg->GetRlimit(RLIMIT_SIGPENDING);
  absl::StrAppend(&out, "Threads:\t", s.threads, "\nSigQ:\t", s.queued, "/",
                  static_cast<uint64_t>(sigpending.rlim_cur), "\n");
  absl::StrAppend(&out, "SigPnd:\t", Hex16(s.pending.bits()), "\nShdPnd:\t",
                  Hex16(s.shared_pending.bits()), "\nSigBlk:\t", Hex16(s.blocked.bits()),
                  "\nSigIgn:\t", Hex16(s.ignored.bits()), "\nSigCgt:\t", Hex16(s.caught.bits()),
                  "\n");
  absl::StrAppend(&out, "CapInh:\t", Hex16(c->cap_inheritable), "\nCapPrm:\t",
                  Hex16(c->cap_permitted), "\nCapEff:\t", Hex16(c->cap_effective), "\nCapBnd:\t",
                  Hex16(c->cap_bounding), "\nCapAmb:\t", Hex16(c->cap_ambient), "\n");
  // A thread that TSYNC gave no_new_privs takes it into its credentials at its next syscall.
  bool nnp = c->no_new_privs || (task && task->seccomp().pending_no_new_privs.load());
  RefPtr<kernel::SeccompFilter> filters = task ? task->seccomp().filter() : nullptr;
  absl::StrAppend(&out, "NoNewPrivs:\t", nnp ? 1 : 0, "\nSeccomp:\t",
                  task ? task->seccomp().mode() : 0, "\nSeccomp_filters:\t",
                  filters ? filters->depth() : 0, "\n");
  absl::StrAppend(&out, "Speculation_Store_Bypass:\tthread vulnerable\n");
  absl::StrAppend(&out, "SpeculationIndirectBranch:\tconditional enabled\n");
  const int cpus = Host().cpus;
  absl::StrAppend(&out, "Cpus_allowed:\t", CpuMask(cpus), "\nCpus_allowed_list:\t",
                  CpuList(cpus), "\n");
  absl::StrAppend(&out, "Mems_allowed:\t");
  for (int i = 0; i < 31; i++) absl::StrAppend(&out, "00000000,");
  absl::StrAppend(&out, "00000001\nMems_allowed_list:\t0\n");
  absl::StrAppend(&out, "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
  return out;
}

// ---- maps ----

Result<std::string> MapsFile(const Target& t) {
  RefPtr<Task> task = TRY(t.AnyTask());
  std::string out;
  if (!task) return out;
  RefPtr<mm::MemoryManager> m = task->SharedMM();
  for (const Mapping& e : Mappings(*task, *m)) {
    // show_vma_header_prefix(), then the name from column 73, as seq_pad places it on 64-bit.
    std::string line = absl::StrFormat(
        "%08x-%08x %c%c%c%c %08x %02x:%02x %u ", e.start, e.end, (e.prot & PROT_READ) ? 'r' : '-',
        (e.prot & PROT_WRITE) ? 'w' : '-', (e.prot & PROT_EXEC) ? 'x' : '-', e.shared ? 's' : 'p',
        e.offset, major(e.dev), minor(e.dev), e.ino);
    if (!e.name.empty()) {
      if (line.size() < 73) line.append(73 - line.size(), ' ');
      line += e.name;
    }
    out += line;
    out += '\n';
  }
  return out;
}

// ---- limits ----

Result<std::string> LimitsFile(const Target& t) {
  {
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.ExistsLocked()) return Errno(ESRCH);
  }
  struct Row {
    const char* name;
    int resource;
    const char* unit;
  };
  static constexpr Row kRows[] = {
      {"Max cpu time", RLIMIT_CPU, "seconds"},
      {"Max file size", RLIMIT_FSIZE, "bytes"},
      {"Max data size", RLIMIT_DATA, "bytes"},
      {"Max stack size", RLIMIT_STACK, "bytes"},
      {"Max core file size", RLIMIT_CORE, "bytes"},
      {"Max resident set", RLIMIT_RSS, "bytes"},
      {"Max processes", RLIMIT_NPROC, "processes"},
      {"Max open files", RLIMIT_NOFILE, "files"},
      {"Max locked memory", RLIMIT_MEMLOCK, "bytes"},
      {"Max address space", RLIMIT_AS, "bytes"},
      {"Max file locks", RLIMIT_LOCKS, "locks"},
      {"Max pending signals", RLIMIT_SIGPENDING, "signals"},
      {"Max msgqueue size", RLIMIT_MSGQUEUE, "bytes"},
      {"Max nice priority", RLIMIT_NICE, ""},
      {"Max realtime priority", RLIMIT_RTPRIO, ""},
      {"Max realtime timeout", RLIMIT_RTTIME, "us"},
  };
  std::string out = absl::StrFormat("%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit",
                                    "Hard Limit", "Units");
  auto value = [](rlim_t v) {
    return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
  };
  for (const Row& r : kRows) {
    rlimit l = t.tg->GetRlimit(r.resource);
    absl::StrAppendFormat(&out, "%-25s %-20s %-20s ", r.name, value(l.rlim_cur),
                          value(l.rlim_max));
    if (*r.unit) absl::StrAppendFormat(&out, "%-10s", r.unit);
    out += '\n';
  }
  return out;
}

// ---- mounts and mountinfo ----

std::string MangleMountField(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      absl::StrAppendFormat(&out, "\\%03o", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::string> MountsFile(const Target& t, bool info) {
  RefPtr<Task> task = TRY(t.AnyTask());
  std::string out;
  if (!task) return out;
  RefPtr<vfs::MountNamespace> ns = task->SharedMountNs();
  vfs::Path root = task->SharedFs()->root();
  for (const RefPtr<vfs::Mount>& m : ns->Mounts()) {
    std::string where = MangleMountField(vfs::PathString(root, vfs::Path{m, m->root()}));
    const vfs::MountFlags& f = m->flags();
    std::string opts = f.readonly ? "ro" : "rw";
    if (f.nosuid) opts += ",nosuid";
    if (f.nodev) opts += ",nodev";
    if (f.noexec) opts += ",noexec";
    opts += ",relatime";
    std::string source = MangleMountField(m->source());
    if (!info) {
      absl::StrAppend(&out, source, " ", where, " ", m->fstype(), " ", opts, " 0 0\n");
      continue;
    }
    uint64_t dev = m->root()->inode()->GetStat().value_or(vfs::Stat{}).dev;
    // The namespace root's parent is outside the namespace (Linux shows the id of a mount no
    // other line lists); here the root names itself.
    int parent = m->parent() ? m->parent()->id() : m->id();
    absl::StrAppend(&out, m->id(), " ", parent, " ", major(dev), ":", minor(dev), " / ", where,
                    " ", opts, " - ", m->fstype(), " ", source, " ", f.readonly ? "ro" : "rw",
                    "\n");
  }
  return out;
}

// ---- cmdline and environ ----

Result<std::string> ArgsFile(const Target& t, bool environment) {
  RefPtr<Task> task = TRY(t.AnyTask());
  if (!task) return std::string();
  mm::MemoryManager::ArgEnv ae = task->SharedMM()->GetArgEnv();
  uint64_t start = environment ? ae.env_start : ae.arg_start;
  uint64_t end = environment ? ae.env_end : ae.arg_end;
  constexpr uint64_t kMax = 4 << 20;
  if (end <= start) return std::string();
  std::string buf(std::min(end - start, kMax), '\0');
  size_t got = task->PeekMemory(start, buf.data(), buf.size()).value_or(0);
  buf.resize(got);
  if (environment || buf.empty() || buf.back() == '\0') return buf;
  // get_mm_cmdline(): a program that overwrote the terminating NUL of its arguments (like
  // setproctitle does) may have run on into the environment; its title ends at the first NUL.
  if (ae.env_end > ae.arg_end) {
    std::string more(std::min(ae.env_end - ae.arg_end, kMax), '\0');
    more.resize(task->PeekMemory(ae.arg_end, more.data(), more.size()).value_or(0));
    buf += more;
  }
  buf.resize(strnlen(buf.data(), buf.size()));
  return buf;
}

// ---- fdinfo ----

Result<std::string> FdinfoFile(const Target& t, int fd) {
  RefPtr<Task> task = TRY(t.AnyTask());
  if (!task) return Errno(ENOENT);
  RefPtr<vfs::FdTable> fds = task->SharedFds();
  RefPtr<vfs::FileDescription> f = TRY(fds->Get(fd));
  bool cloexec = fds->GetCloexec(fd).value_or(false);
  int64_t pos = f->Seek(0, SEEK_CUR).value_or(0);
  int flags = f->flags() | (cloexec ? O_CLOEXEC : 0);
  uint64_t ino = f->GetStat().value_or(vfs::Stat{}).ino;
  return absl::StrFormat("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%u\n", pos, flags,
                         f->path().mount ? f->path().mount->id() : 0, ino);
}

}  // namespace moat::fsimpl::proc
