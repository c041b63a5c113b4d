#include "sentry/kernel/kernel.h"

#include <sys/wait.h>

#include <future>
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {

ThreadGroup::~ThreadGroup() = default;

namespace {

timeval AddTimeval(timeval a, timeval b) {
  a.tv_sec += b.tv_sec;
  a.tv_usec += b.tv_usec;
  if (a.tv_usec >= 1'000'000) {
    a.tv_sec++;
    a.tv_usec -= 1'000'000;
  }
  return a;
}

}  // namespace

namespace {

// Adds the counters of `b` to `a`; the peak RSS is the larger one.
void AddUsage(struct rusage& a, const struct rusage& b) {
  a.ru_utime = AddTimeval(a.ru_utime, b.ru_utime);
  a.ru_stime = AddTimeval(a.ru_stime, b.ru_stime);
  a.ru_maxrss = std::max(a.ru_maxrss, b.ru_maxrss);
  a.ru_minflt += b.ru_minflt;
  a.ru_majflt += b.ru_majflt;
  a.ru_nvcsw += b.ru_nvcsw;
  a.ru_nivcsw += b.ru_nivcsw;
}

}  // namespace

struct rusage ThreadGroup::TotalUsage() const {
  struct rusage r = exit_usage;
  AddUsage(r, children_usage);
  return r;
}

void AccumulateChild(ThreadGroup& parent, const ThreadGroup& child) {
  AddUsage(parent.children_usage, child.TotalUsage());
}

ChildExit DecodeExitStatus(int st) {
  if (WIFSIGNALED(st)) return {WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED, WTERMSIG(st)};
  return {CLD_EXITED, WEXITSTATUS(st)};
}


Kernel::Kernel(std::unique_ptr<platform::Platform> platform, RefPtr<vfs::MountNamespace> mounts)
    : platform_(std::move(platform)), mounts_(std::move(mounts)), boot_time_(absl::Now()) {}

Kernel::~Kernel() = default;

Task* Kernel::TaskByTid(pid_t tid) {
  auto it = tasks_.find(tid);
  return it == tasks_.end() ? nullptr : it->second.get();
}

ThreadGroup* Kernel::GroupByPid(pid_t pid) {
  auto it = groups_.find(pid);
  return it == groups_.end() ? nullptr : it->second.get();
}

std::vector<ThreadGroup*> Kernel::Groups() {
  std::vector<ThreadGroup*> out;
  for (auto& [pid, tg] : groups_) out.push_back(tg.get());
  return out;
}

void Kernel::AddTask(Task* t) { tasks_[t->tid()] = RefPtr<Task>(t); }

void Kernel::RemoveTask(Task* t) {
  auto it = tasks_.find(t->tid());
  if (it != tasks_.end() && it->second.get() == t) tasks_.erase(it);
}

void Kernel::AddGroup(ThreadGroup* tg) { groups_[tg->pid()] = RefPtr<ThreadGroup>(tg); }

void Kernel::RemoveGroup(ThreadGroup* tg) {
  auto it = groups_.find(tg->pid());
  if (it != groups_.end() && it->second.get() == tg) groups_.erase(it);
}

bool Kernel::ProcessGroupExists(pid_t pgid) {
  for (auto& [pid, tg] : groups_) {
    if (tg->pgid == pgid && !tg->zombie) return true;
  }
  return false;
}

std::string Kernel::hostname() const {
  absl::MutexLock l(&uts_mu_);
  return hostname_;
}
void Kernel::set_hostname(std::string h) {
  absl::MutexLock l(&uts_mu_);
  hostname_ = std::move(h);
}
std::string Kernel::domainname() const {
  absl::MutexLock l(&uts_mu_);
  return domainname_;
}
void Kernel::set_domainname(std::string d) {
  absl::MutexLock l(&uts_mu_);
  domainname_ = std::move(d);
}

void Kernel::ReportUnimplemented(int nr) {
  absl::MutexLock l(&unimpl_mu_);
  if (unimplemented_[nr]++ == 0) {
    const char* name = (table_ && nr >= 0 && nr < kMaxSyscall) ? (*table_)[nr].name : nullptr;
    // Logged, not printed: the sandbox's stderr is the application's.
    LOG_INFO("unsupported syscall {} ({}): returning ENOSYS", name ? name : "unknown", nr);
  }
}

absl::Status Kernel::Start(InitProcess init) {
  std::promise<absl::Status> started;
  std::future<absl::Status> result = started.get_future();
  // The first task's thread spawns the host process: under ptrace it must be its tracer.
  std::thread([this, init = std::move(init), &started]() mutable {
    absl::StatusOr<std::unique_ptr<platform::Context>> ctx = platform_->SpawnInit();
    if (!ctx.ok()) {
      started.set_value(ctx.status());
      return;
    }
    auto tg = MakeRef<ThreadGroup>(1);
    tg->handlers = MakeRef<SignalHandlers>();
    tg->pgid = tg->sid = 1;
    {
      absl::MutexLock l(&tg->rlimit_mu);
      for (int r = 0; r < RLIM_NLIMITS; r++) getrlimit(r, &tg->rlimits[r]);
      for (auto& [res, lim] : init.rlimits) tg->rlimits[res] = lim;
    }
    auto task = MakeRef<Task>(this, tg, 1, std::move(*ctx));
    auto creds = Credentials::New(init.uid, init.gid);
    creds->groups = init.groups;
    task->set_creds(creds);
    task->set_mount_ns(mounts_);
    task->set_fds(init.fds ? init.fds : MakeRef<vfs::FdTable>());
    vfs::Path root = mounts_->Root();
    vfs::ResolveContext rctx{creds.get(), root, mounts_.get()};
    Result<vfs::Path> cwd = vfs::Resolve(rctx, root, init.cwd, {.must_be_dir = true});
    auto fs = MakeRef<vfs::FsContext>(root, cwd.ok() ? *cwd : root);
    fs->exchange_umask(init.umask);
    task->set_fs(fs);
    task->set_mm(MakeRef<mm::MemoryManager>());
    {
      absl::MutexLock l(&mu_);
      AddGroup(tg.get());
      AddTask(task.get());
      tg->tasks.push_back(task.get());
      tg->leader = task.get();
      init_ = tg.get();
    }
    if (!cwd.ok()) {
      LOG_WARNING("cwd {}: {}; using /", init.cwd, cwd.error().Name());
    }
    absl::Status failed;
    for (size_t i = 0; i < init.seccomp_filters.size() && failed.ok(); i++) {
      Result<void> r = SeccompInstallInitial(*task, std::move(init.seccomp_filters[i]));
      if (!r.ok()) {
        failed = ErrnoStatus(fmt::format("seccomp filter {} of {}", i, init.path), r.error());
      }
    }
    if (failed.ok()) {
      Result<void> loaded = task->LoadInitial(init.path, init.argv, init.envp);
      if (!loaded.ok()) failed = ErrnoStatus(fmt::format("exec {}", init.path), loaded.error());
    }
    if (!failed.ok()) {
      started.set_value(failed);
      // Tear the process down; its exit completes the kernel's bookkeeping.
      task->context().KillProcess();
      platform::Event e;
      do {
        e = task->context().Switch();
      } while (e.type != platform::EventType::kExit);
      task->Exited(e.wait_status, e.usage);
      return;
    }
    started.set_value(absl::OkStatus());
    task->Run();
  }).detach();
  return result.get();
}

int Kernel::Wait() {
  absl::MutexLock l(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return init_exited_ && tasks_.empty();
  };
  mu_.Await(absl::Condition(&done));
  return init_status_;
}

void Kernel::SignalInit(int sig) {
  absl::MutexLock l(&mu_);
  if (!init_ || init_->zombie) return;
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_USER;
  (void)SendGroupSignal(init_, info);
}

}  // namespace moat::kernel
