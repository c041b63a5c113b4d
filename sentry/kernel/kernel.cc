#include "sentry/kernel/kernel.h"

#include <sys/wait.h>

#include <algorithm>

#include "base/host_proc.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "sentry/mm/mm.h"
#include "sentry/socket/stack.h"
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

// The pids limit of a sandbox whose configuration sets none (tests/e2e/security/README.md).
// Every task of the sandbox is a host thread, and the sentry gives each a thread of its own:
// without a limit a fork bomb takes every pid of the host, as it does a Linux host from a
// container without a pids cgroup (root ignores RLIMIT_NPROC). A quarter of the host's pid_max
// (or of threads-max, if smaller) leaves half the host's pids to the host whatever the sandbox
// does; at most 65536 tasks, which is where gVisor stops too. (runsc/confine.cc reads the
// host's numbers before the sentry's own PID namespace hides them.)
int64_t DefaultPidsLimit() {
  return std::clamp<int64_t>(static_cast<int64_t>(hostproc::HostTasksMax() / 4), 64, 65536);
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

void Kernel::WatchHostProcess(ThreadGroup* tg, Task* leader) {
  tg->host_pidfd = host_exits_.Watch(leader->context().host_pid(), tg->pid());
}

bool Kernel::ChargePid() {
  int64_t limit = pids_limit_.load();
  if (limit <= 0) limit = DefaultPidsLimit();
  absl::MutexLock l(&mu_);
  {
    int64_t count = static_cast<int64_t>(tasks_.size()) + pids_in_flight_;
    for (const auto& [pid, tg] : groups_) {
      if (tg->tasks.empty()) count++;  // a zombie keeps its pid until it is reaped
    }
    if (count >= limit) return false;
  }
  pids_in_flight_++;
  return true;
}

void Kernel::ReleasePid() {
  absl::MutexLock l(&mu_);
  pids_in_flight_--;
}

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
void Kernel::set_network(std::unique_ptr<sockets::Stack> stack) { network_ = std::move(stack); }

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

void Kernel::AccountExit(const ThreadGroup& tg) { AddUsage(exited_usage_, tg.exit_usage); }

}  // namespace moat::kernel
