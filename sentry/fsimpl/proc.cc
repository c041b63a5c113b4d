// The /proc root, /proc/self and /proc/thread-self, and the rules every per-process file follows
// (Target, Owner, MayAccess).
#include "sentry/fsimpl/proc.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/random.h>
#include <unistd.h>

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_descriptor.h"
#include "base/host_proc.h"
#include "sentry/fsimpl/proc_internal.h"

namespace moat::fsimpl {
namespace proc {
namespace {

using kernel::Task;
using synthetic::InodeNumber;

// The host's /proc/cpuinfo, read once at sandbox start. If it cannot be read, a minimal one
// with a "processor" stanza per CPU.
std::string ReadHostCpuinfo(int cpus) {
  std::string out = hostproc::ReadFile("cpuinfo").value_or("");
  if (out.empty()) {
    for (int i = 0; i < cpus; i++) {
      absl::StrAppend(&out, "processor\t: ", i, "\nvendor_id\t: unknown\nflags\t\t: fpu\n\n");
    }
  }
  return out;
}

std::string NewUuid() {
  uint8_t b[16] = {};
  (void)getrandom(b, sizeof(b), 0);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string s;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    absl::StrAppendFormat(&s, "%02x", b[i]);
  }
  return s;
}

// A /proc/<pid> name: decimal digits without a leading zero, like Linux's name_to_int.
std::optional<pid_t> ParsePid(std::string_view name) {
  if (name.empty() || (name.size() > 1 && name[0] == '0')) return std::nullopt;
  pid_t v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || end != name.data() + name.size() || v <= 0) return std::nullopt;
  return v;
}

// The /proc directory: the fixed entries, then one directory per process.
class ProcRoot : public synthetic::StaticDir {
 public:
  using StaticDir::StaticDir;

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    Result<RefPtr<vfs::Inode>> fixed = StaticDir::Lookup(name);
    if (fixed.ok()) return fixed;
    std::optional<pid_t> id = ParsePid(name);
    Task* cur = Task::Current();
    if (!id || !cur) return Errno(ENOENT);
    Target t;
    t.kernel = &cur->kernel();
    {
      absl::MutexLock l(&t.kernel->mu_);
      if (Task* task = t.kernel->TaskByTid(*id)) {
        t.tg = task->thread_group_ref();
        // /proc/<tid> of a thread that does not lead its process shows that thread.
        if (!task->IsLeader()) t.thread = RefPtr<Task>(task);
      } else if (kernel::ThreadGroup* g = t.kernel->GroupByPid(*id)) {
        t.tg = RefPtr<kernel::ThreadGroup>(g);
      } else {
        return Errno(ENOENT);
      }
    }
    return NewPidDir(t);
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    std::vector<vfs::DirEntry> out = TRY(StaticDir::ReadDir());
    Task* cur = Task::Current();
    if (!cur) return out;
    std::vector<pid_t> pids;
    {
      absl::MutexLock l(&cur->kernel().mu_);
      for (kernel::ThreadGroup* g : cur->kernel().Groups()) pids.push_back(g->pid());
    }
    for (pid_t p : pids) {
      std::string name = std::to_string(p);
      out.push_back(vfs::DirEntry{name, InodeNumber(kFs, name), DT_DIR});
    }
    return out;
  }
};

}  // namespace

const HostInfo& Host() {
  static const HostInfo* info = [] {
    auto* h = new HostInfo;
    h->dev = vfs::NewAnonDev();
    h->cpus = hostproc::ConfiguredCpus();
    h->cpuinfo = ReadHostCpuinfo(h->cpus);
    h->boot_id = NewUuid() + "\n";
    return h;
  }();
  return *info;
}

// ---- Target ----

std::string Target::Key() const {
  if (in_task_dir) return absl::StrCat(pid(), "/task/", tid());
  return std::to_string(tid());
}

bool Target::ExistsLocked() const {
  if (thread) return kernel->TaskByTid(thread->tid()) == thread.get();
  return kernel->GroupByPid(tg->pid()) == tg.get();
}

kernel::Task* Target::ShownTaskLocked() const {
  if (thread) return thread.get();
  return tg->leader;
}

kernel::Task* Target::AnyTaskLocked() const {
  if (Task* t = ShownTaskLocked()) return t;
  return tg->tasks.empty() ? nullptr : tg->tasks.front();
}

Result<RefPtr<kernel::Task>> Target::AnyTask() const {
  absl::MutexLock l(&kernel->mu_);
  if (!ExistsLocked()) return Errno(ESRCH);
  return RefPtr<Task>(AnyTaskLocked());
}

std::pair<uid_t, gid_t> Owner(const Target& t) {
  RefPtr<Task> task;
  {
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.tg->dumpable) return {0, 0};
    task = RefPtr<Task>(t.AnyTaskLocked());
  }
  if (!task) return {0, 0};
  RefPtr<kernel::Credentials> c = task->creds();
  return {c->euid, c->egid};
}

Result<void> MayAccess(const Target& t, kernel::Task* reader) {
  if (!reader) return Ok();
  RefPtr<kernel::Credentials> mine = reader->creds();
  RefPtr<Task> task;
  bool dumpable;
  {
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.ExistsLocked()) return Errno(ESRCH);
    // A thread may always look at its own process.
    if (reader->thread_group_ref() == t.tg) return Ok();
    task = RefPtr<Task>(t.AnyTaskLocked());
    dumpable = t.tg->dumpable;
  }
  if (mine->HasCap(CAP_SYS_PTRACE)) return Ok();
  if (!task) return Errno(EACCES);
  RefPtr<kernel::Credentials> theirs = task->creds();
  const uid_t u = mine->fsuid;
  const gid_t g = mine->fsgid;
  if (theirs->ruid != u || theirs->euid != u || theirs->suid != u || theirs->rgid != g ||
      theirs->egid != g || theirs->sgid != g) {
    return Errno(EACCES);
  }
  if (!dumpable) return Errno(EACCES);
  return Ok();
}

}  // namespace proc

RefPtr<vfs::Dentry> NewProcfs() {
  using proc::Host;
  using proc::kFs;
  using synthetic::InodeNumber;
  const uint64_t dev = Host().dev;
  auto root = MakeRef<proc::ProcRoot>(dev, InodeNumber(kFs, ""), 0555);

  root->Add("self", MakeRef<synthetic::LinkInode>(
                        dev, InodeNumber(kFs, "self"),
                        [](kernel::Task* reader) -> Result<std::string> {
                          if (!reader) return Errno(ENOENT);
                          return std::to_string(reader->pid());
                        }));
  root->Add("thread-self",
            MakeRef<synthetic::LinkInode>(
                dev, InodeNumber(kFs, "thread-self"),
                [](kernel::Task* reader) -> Result<std::string> {
                  if (!reader) return Errno(ENOENT);
                  return absl::StrCat(reader->pid(), "/task/", reader->tid());
                }));
  root->Add("mounts", MakeRef<synthetic::LinkInode>(
                          dev, InodeNumber(kFs, "mounts"),
                          [](kernel::Task*) -> Result<std::string> { return std::string("self/mounts"); }));
  root->Add("net", MakeRef<synthetic::LinkInode>(
                       dev, InodeNumber(kFs, "net"),
                       [](kernel::Task*) -> Result<std::string> { return std::string("self/net"); }));
  proc::AddSystemFiles(*root);
  root->Add("sys", proc::NewSysDir());
  return MakeRef<vfs::Dentry>(nullptr, "", root);
}

}  // namespace moat::fsimpl
