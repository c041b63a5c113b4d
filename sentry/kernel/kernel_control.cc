// The container's lifecycle as runsc drives it from outside the sandbox: create and start the
// init process, exec more processes, signal them, pause and resume the sandbox, list processes
// and account for their resource use (kernel.h).
//
// Every process started here is a root process: its host process is spawned by the thread that
// becomes its task thread (under ptrace the tracer must be that thread), in the sandbox's host
// PID namespace. Its task is built, and its program loaded, before it enters the pid table, so a
// process that fails to start was never visible.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/host_proc.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/seccomp.h"
#include "sentry/kernel/tty.h"
#include "sentry/kernel/timers.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {
namespace {

// Refuses what no process could be started with, before a host process exists.
absl::Status CheckProcess(InitProcess& proc) {
  if (proc.path.empty()) return absl::InvalidArgumentError("no program given");
  for (const auto& [res, lim] : proc.rlimits) {
    if (res < 0 || res >= RLIM_NLIMITS)
      return absl::InvalidArgumentError(fmt::format("rlimit {}: no such resource", res));
    if (lim.rlim_cur > lim.rlim_max)
      return absl::InvalidArgumentError(
          fmt::format("rlimit {}: soft limit above the hard limit", res));
  }
  if (proc.oom_score_adj && (*proc.oom_score_adj < -1000 || *proc.oom_score_adj > 1000)) {
    return absl::InvalidArgumentError(
        fmt::format("oom_score_adj {}: not in [-1000, 1000]", *proc.oom_score_adj));
  }
  if (proc.caps) {
    CapabilitySets& c = *proc.caps;
    // Capabilities this kernel does not know are dropped, as runc drops those its host lacks.
    for (uint64_t* set : {&c.effective, &c.permitted, &c.inheritable, &c.bounding, &c.ambient})
      *set &= kAllCaps;
    // capset(2) refuses an effective capability that is not permitted: runc fails then.
    if (c.effective & ~c.permitted) {
      return absl::InvalidArgumentError(fmt::format(
          "capabilities: effective {:#x} not within permitted {:#x}", c.effective, c.permitted));
    }
    // Linux raises an ambient capability only if it is permitted and inheritable; runc goes on
    // without the others.
    c.ambient &= c.permitted & c.inheritable;
  }
  return absl::OkStatus();
}

// Kills a host process whose task never entered the pid table, and waits until it is gone.
void Teardown(platform::Context& ctx) {
  ctx.KillProcess();
  platform::Event e;
  do {
    e = ctx.Switch();
  } while (e.type != platform::EventType::kExit);
}

// The state letter of /proc/<pid>/stat for a live process (Kernel::mu_ held).
char StateOf(const ThreadGroup& tg, Task& shown) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (shown.group_stopped() || tg.stopped) return 'T';
  return shown.blocked() ? 'S' : 'R';
}

// VmRSS of a host process in bytes, 0 if it cannot be read.
uint64_t HostRss(pid_t host_pid) { return hostproc::StatusKb(host_pid, "VmRSS") * 1024; }

uint64_t TimevalNs(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(tv.tv_usec) * 1000;
}

// The program's arguments as its memory holds them (as /proc/<pid>/cmdline reads them).
std::vector<std::string> ReadCmdline(Task& task) {
  mm::MemoryManager::ArgEnv ae = task.SharedMM()->GetArgEnv();
  constexpr uint64_t kMax = 64 << 10;
  if (ae.arg_end <= ae.arg_start) return {};
  std::string buf(std::min(ae.arg_end - ae.arg_start, kMax), '\0');
  buf.resize(task.PeekMemory(ae.arg_start, buf.data(), buf.size()).value_or(0));
  if (!buf.empty() && buf.back() == '\0') buf.pop_back();
  if (buf.empty()) return {};
  return absl::StrSplit(buf, '\0');
}

}  // namespace

absl::StatusOr<RefPtr<Task>> Kernel::NewRootTask(pid_t pid,
                                                 std::unique_ptr<platform::Context> ctx,
                                                 InitProcess& proc, ThreadGroup* like) {
  auto tg = MakeRef<ThreadGroup>(pid);
  tg->handlers = MakeRef<SignalHandlers>();
  std::array<rlimit, RLIM_NLIMITS> limits;
  if (like) {
    {
      absl::MutexLock l(&like->rlimit_mu);
      limits = like->rlimits;
    }
    absl::MutexLock l(&mu_);
    tg->oom_score_adj = like->oom_score_adj;
    tg->oom_score_adj_min = like->oom_score_adj_min;
  } else {
    for (int r = 0; r < RLIM_NLIMITS; r++) getrlimit(r, &limits[r]);
  }
  for (auto& [res, lim] : proc.rlimits) limits[res] = lim;
  {
    absl::MutexLock l(&tg->rlimit_mu);
    tg->rlimits = limits;
  }
  if (proc.oom_score_adj) tg->oom_score_adj = tg->oom_score_adj_min = *proc.oom_score_adj;

  auto task = MakeRef<Task>(this, tg, pid, std::move(ctx));
  auto creds = Credentials::New(proc.uid, proc.gid);
  creds->groups = proc.groups;
  creds->no_new_privs = proc.no_new_privs;
  if (proc.caps) {
    creds->cap_effective = proc.caps->effective;
    creds->cap_permitted = proc.caps->permitted;
    creds->cap_inheritable = proc.caps->inheritable;
    creds->cap_bounding = proc.caps->bounding;
    creds->cap_ambient = proc.caps->ambient;
    // runc sets the capabilities just before it execs the program, whose exec then transforms
    // them: the process sees what Linux leaves it.
    creds->ApplyExec();
  }
  task->set_creds(creds);
  task->set_mount_ns(mounts_);
  task->set_fds(proc.fds ? proc.fds : MakeRef<vfs::FdTable>());
  // The working directory is entered with privilege, as runc enters it before it drops its own.
  auto root_creds = Credentials::New(0, 0);
  vfs::Path root = mounts_->Root();
  vfs::ResolveContext rctx{root_creds.get(), root, mounts_.get()};
  Result<vfs::Path> cwd = vfs::Resolve(rctx, root, proc.cwd, {.must_be_dir = true});
  if (!cwd.ok()) {
    Teardown(task->context());
    return ErrnoStatus(fmt::format("chdir {}", proc.cwd), cwd.error());
  }
  auto fs = MakeRef<vfs::FsContext>(root, *cwd);
  fs->exchange_umask(proc.umask);
  task->set_fs(fs);
  task->set_mm(MakeRef<mm::MemoryManager>());
  // The container's seccomp profile, last before the program, as runc installs it.
  for (size_t i = 0; i < proc.seccomp_filters.size(); i++) {
    Result<void> r = SeccompInstallInitial(*task, std::move(proc.seccomp_filters[i]));
    if (!r.ok()) {
      Teardown(task->context());
      return ErrnoStatus(fmt::format("seccomp filter {} of {}", i, proc.path), r.error());
    }
  }
  Result<void> loaded = task->LoadInitial(proc.path, proc.argv, proc.envp);
  if (!loaded.ok()) {
    Teardown(task->context());
    return ErrnoStatus(fmt::format("exec {}", proc.path), loaded.error());
  }
  return task;
}

absl::Status Kernel::Create(InitProcess init) {
  RETURN_IF_ERROR(CheckProcess(init));
  {
    absl::MutexLock l(&mu_);
    if (created_) return absl::FailedPreconditionError("create: the sandbox has an init process");
    created_ = true;
  }
  std::promise<absl::Status> promise;
  std::future<absl::Status> result = promise.get_future();
  // The init's task thread spawns its host process: under ptrace it must be its tracer.
  std::thread([this, init = std::move(init), promise = std::move(promise)]() mutable {
    absl::StatusOr<std::unique_ptr<platform::Context>> ctx = platform_->SpawnInit();
    absl::StatusOr<RefPtr<Task>> task =
        ctx.ok() ? NewRootTask(1, std::move(*ctx), init, nullptr) : ctx.status();
    if (!task.ok()) {
      // Nothing is left of the attempt: the sandbox is as before Create.
      {
        absl::MutexLock l(&mu_);
        created_ = false;
      }
      promise.set_value(task.status());
      return;
    }
    Task* t = task->get();
    ThreadGroup* tg = &t->thread_group();
    {
      absl::MutexLock l(&mu_);
      tg->pgid = tg->sid = 1;
      AddGroup(tg);
      AddTask(t);
      tg->tasks.push_back(t);
      tg->leader = t;
      WatchHostProcess(tg, t);
      init_ = tg;
    }
    if (init.controlling_tty) AttachNewSessionTerminal(*this, tg, init.controlling_tty);
    promise.set_value(absl::OkStatus());
    RunCreatedInit(std::move(*task));
  }).detach();
  return result.get();
}

void Kernel::RunCreatedInit(RefPtr<Task> init) {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (start_requested_) break;
    }
    // StartCreated wakes the task; a SIGKILL ends the wait, and the loop then finds the host
    // process dead.
    if (!init->BlockKillable().ok()) break;
  }
  init->Run();
}

void Kernel::StartCreated() {
  absl::MutexLock l(&mu_);
  if (!init_ || start_requested_) return;
  start_requested_ = true;
  if (init_->leader) init_->leader->Wake(kEventAll);
}

absl::Status Kernel::Start(InitProcess init) {
  RETURN_IF_ERROR(Create(std::move(init)));
  StartCreated();
  return absl::OkStatus();
}

int Kernel::Wait() {
  absl::MutexLock l(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return init_exited_ && tasks_.empty();
  };
  mu_.Await(absl::Condition(&done));
  return init_status_;
}

std::optional<int> Kernel::InitExitStatus() {
  absl::MutexLock l(&mu_);
  if (init_exited_ && tasks_.empty()) return init_status_;
  return std::nullopt;
}

void Kernel::SignalInit(int sig) {
  absl::MutexLock l(&mu_);
  if (!init_ || init_->zombie) return;
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_USER;
  (void)SendGroupSignal(init_, info);
}

// ---- exec ----

absl::StatusOr<pid_t> Kernel::Exec(InitProcess proc) {
  RETURN_IF_ERROR(CheckProcess(proc));
  RefPtr<ThreadGroup> init;
  {
    absl::MutexLock l(&mu_);
    if (!init_) return absl::FailedPreconditionError("exec: the sandbox has no init process");
    if (init_->exiting || init_->zombie) {
      return absl::FailedPreconditionError(
          "exec: the sandbox's init process has exited (ESRCH)");
    }
    init = RefPtr<ThreadGroup>(init_);
  }
  // The pids limit holds for processes started from outside too (runc's exec forks inside the
  // container's cgroup). Released once the task is in the table or was not made.
  if (!ChargePid()) {
    return absl::ResourceExhaustedError(
        "exec: the container's pids limit is reached (EAGAIN: Resource temporarily unavailable)");
  }
  std::promise<absl::StatusOr<pid_t>> promise;
  std::future<absl::StatusOr<pid_t>> result = promise.get_future();
  std::thread([this, proc = std::move(proc), init,
               promise = std::move(promise)]() mutable {
    // The charge taken above, given back once the task is in the table or on failure.
    struct PidCharge {
      Kernel* k;
      bool held = true;
      void Release() {
        if (held) k->ReleasePid();
        held = false;
      }
      ~PidCharge() { Release(); }
    } charge{this};
    absl::StatusOr<platform::CloneResult> child;
    for (int attempt = 0;; attempt++) {
      child = platform_->SpawnProcess();
      if (!child.ok()) break;
      {
        absl::MutexLock l(&mu_);
        if (!TaskByTid(child->tid) && !GroupByPid(child->tid)) break;
      }
      // The host gave the pid of a zombie that the sandbox still holds (host zombies are
      // reaped at once). Pids are allocated cyclically: the next process gets another one.
      LOG_INFO("exec: pid {} belongs to a zombie; spawning again", child->tid);
      Teardown(*child->context);
      if (attempt >= 16) {
        child = absl::ResourceExhaustedError("exec: no free pid in the sandbox");
        break;
      }
    }
    if (!child.ok()) {
      promise.set_value(child.status());
      return;
    }
    pid_t pid = child->tid;
    absl::StatusOr<RefPtr<Task>> task = NewRootTask(pid, std::move(child->context), proc, init.get());
    if (!task.ok()) {
      promise.set_value(task.status());
      return;
    }
    Task* t = task->get();
    ThreadGroup* tg = &t->thread_group();
    bool init_gone = false;
    {
      absl::MutexLock l(&mu_);
      // The init's exit kills every process it sees in the pid table; one that is not there yet
      // must not outlive it either.
      init_gone = init->exiting || init->zombie;
      if (!init_gone) {
        if (proc.new_session) {
          tg->pgid = tg->sid = pid;
        } else {
          tg->pgid = init->pgid;
          tg->sid = init->sid;
          tg->ctty = init->ctty;
        }
        tg->exec_waitable = !proc.detached_reap;
        AddGroup(tg);
        AddTask(t);
        tg->tasks.push_back(t);
        tg->leader = t;
        WatchHostProcess(tg, t);
      }
    }
    charge.Release();
    if (init_gone) {
      Teardown(t->context());
      promise.set_value(
          absl::FailedPreconditionError("exec: the sandbox's init process has exited (ESRCH)"));
      return;
    }
    if (proc.new_session && proc.controlling_tty)
      AttachNewSessionTerminal(*this, tg, proc.controlling_tty);
    promise.set_value(pid);
    t->Run();
  }).detach();
  return result.get();
}

absl::StatusOr<int> Kernel::WaitExec(pid_t pid) {
  absl::MutexLock l(&mu_);
  ThreadGroup* tg = GroupByPid(pid);
  if (!tg || !tg->exec_waitable || tg->exec_wait_claimed) {
    return absl::NotFoundError(
        fmt::format("wait: no exec'd process {} to wait for (ESRCH)", pid));
  }
  tg->exec_wait_claimed = true;
  RefPtr<ThreadGroup> hold(tg);
  while (!tg->zombie) orphan_exit_cv_.Wait(&mu_);
  int status = tg->exit_status;
  RemoveGroup(tg);
  return status;
}

// ---- signals ----

namespace {

// A signal from outside the sandbox to `tg`, with the rules of a signal from an ancestor PID
// namespace (Linux's sig_task_ignored with SIGNAL_UNKILLABLE): the init gets SIGKILL and
// SIGSTOP always, another signal only if it handles or blocks it.
Result<void> SendExternal(Kernel& k, ThreadGroup* tg, int sig, bool is_init)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (is_init && sig != SIGKILL && sig != SIGSTOP) {
    Task* main = tg->leader ? tg->leader : (tg->tasks.empty() ? nullptr : tg->tasks.front());
    if (!main) return Ok();
    if (!main->RealBlocked().Has(sig) && tg->handlers->actions[sig].handler == kSigDfl)
      return Ok();
  }
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_USER;
  info.si_pid = 0;  // the sender is in no namespace the sandbox sees
  info.si_uid = 0;
  return k.SendGroupSignal(tg, info);
}

}  // namespace

Result<void> Kernel::Kill(pid_t pid, int sig) {
  if (sig != 0 && !ValidSignal(sig)) return Errno(EINVAL);
  if (pid <= 0) return Errno(ESRCH);
  absl::MutexLock l(&mu_);
  ThreadGroup* tg = GroupByPid(pid);
  if (!tg) return Errno(ESRCH);
  if (sig == 0 || tg->zombie) return Ok();  // a zombie exists until it is reaped
  return SendExternal(*this, tg, sig, tg == init_);
}

void Kernel::KillAll(int sig) {
  if (!ValidSignal(sig)) return;
  absl::MutexLock l(&mu_);
  for (ThreadGroup* tg : Groups()) {
    if (!tg->zombie) (void)SendExternal(*this, tg, sig, tg == init_);
  }
}

// ---- pause ----

void Kernel::Pause() {
  paused_.store(true);
  // Tasks check the flag before each return to application code; those already running it
  // are interrupted. Wait until none is left there, interrupting again now and then in case an
  // interrupt raced with the task's own check (a spurious interrupt is harmless).
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (int round = 0;; round++) {
    bool running = false;
    {
      absl::MutexLock l(&mu_);
      for (auto& [tid, t] : tasks_) {
        if (!t->in_app_.load() || t->killed_.load()) continue;
        running = true;
        if (round % 50 == 0) t->context().Interrupt();
      }
    }
    if (!running) return;
    if (absl::Now() > deadline) {
      LOG_WARNING("pause: some tasks still run application code after 5s");
      return;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void Kernel::Resume() {
  paused_.store(false);
  absl::MutexLock l(&mu_);
  for (auto& [tid, t] : tasks_) {
    // Taking the task's wake lock makes a paused task evaluate its wait condition again.
    absl::MutexLock w(&t->wake_mu_);
  }
}

// ---- ps and stats ----

std::vector<ProcessInfo> Kernel::Processes() {
  std::vector<std::pair<ProcessInfo, RefPtr<Task>>> found;
  {
    absl::MutexLock l(&mu_);
    for (auto& [pid, tg] : groups_) {
      if (tg->zombie || tg->tasks.empty()) continue;
      Task* shown = tg->leader ? tg->leader : tg->tasks.front();
      ProcessInfo info;
      info.pid = pid;
      info.host_pid = shown->context().host_pid();
      info.ppid = tg->parent ? tg->parent->pid() : 0;
      info.uid = shown->creds()->ruid;
      info.state = StateOf(*tg, *shown);
      info.start_time = shown->start_time();
      found.emplace_back(std::move(info), RefPtr<Task>(shown));
    }
  }
  // Names and memory are read without the task lock, as /proc reads them.
  std::vector<ProcessInfo> out;
  for (auto& [info, task] : found) {
    info.comm = task->name();
    info.cmdline = ReadCmdline(*task);
    out.push_back(std::move(info));
  }
  return out;
}

KernelStats Kernel::Stats() {
  KernelStats st;
  std::vector<pid_t> host_pids;
  struct rusage exited;
  {
    absl::MutexLock l(&mu_);
    st.tasks = static_cast<int>(tasks_.size());
    for (auto& [pid, tg] : groups_) {
      if (tg->zombie || tg->tasks.empty()) continue;
      st.processes++;
      host_pids.push_back(tg->tasks.front()->context().host_pid());
    }
    exited = exited_usage_;
  }
  st.cpu_user_ns = TimevalNs(exited.ru_utime);
  st.cpu_system_ns = TimevalNs(exited.ru_stime);
  for (pid_t hp : host_pids) {
    CpuTimes cpu = HostCpuTimes(hp, false);
    st.cpu_user_ns += static_cast<uint64_t>(cpu.user_ns);
    st.cpu_system_ns += static_cast<uint64_t>(cpu.system_ns);
    st.rss_bytes += HostRss(hp);
  }
  return st;
}

}  // namespace moat::kernel
