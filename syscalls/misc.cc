// Miscellaneous syscalls: uname, host name, randomness, system information, resource limits,
// scheduling hints, personality.
#include <linux/capability.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "base/host_proc.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/kernel/timers.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::ThreadGroup;

namespace {

using kernel::kRelease;
using kernel::kVersion;
using kernel::kNrOpen;

void CopyField(char* dst, size_t n, const std::string& s) {
  std::memset(dst, 0, n);
  std::memcpy(dst, s.data(), std::min(s.size(), n - 1));
}

Result<ThreadGroup*> TargetGroup(Task& t, pid_t pid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.kernel().mu_) {
  if (pid == 0) return &t.thread_group();
  ThreadGroup* g = t.kernel().GroupByPid(pid);
  if (!g || g->zombie) return Errno(ESRCH);
  return g;
}

// Limits the host kernel enforces on the process itself (its memory); mirrored onto the host.
bool HostEnforced(int resource) {
  return resource == RLIMIT_AS || resource == RLIMIT_MEMLOCK || resource == RLIMIT_DATA;
}

}  // namespace

// uname(2)
Result<long> Uname(Task& t, const SyscallArgs& a) {
  utsname u;
  CopyField(u.sysname, sizeof(u.sysname), "Linux");
  CopyField(u.nodename, sizeof(u.nodename), t.kernel().hostname());
  CopyField(u.release, sizeof(u.release), kRelease);
  CopyField(u.version, sizeof(u.version), kVersion);
  CopyField(u.machine, sizeof(u.machine), "x86_64");
  CopyField(u.domainname, sizeof(u.domainname), t.kernel().domainname());
  TRY(t.CopyOutObj(a.Addr(0), u));
  return 0;
}

// sethostname(2)
Result<long> Sethostname(Task& t, const SyscallArgs& a) {
  if (!t.creds()->HasCap(CAP_SYS_ADMIN)) return Errno(EPERM);
  if (a.Uint(1) > 64) return Errno(EINVAL);
  std::string name(a.Uint(1), '\0');
  TRY(t.CopyIn(a.Addr(0), name.data(), name.size()));
  t.kernel().set_hostname(name.substr(0, name.find('\0')));
  return 0;
}

// setdomainname(2)
Result<long> Setdomainname(Task& t, const SyscallArgs& a) {
  if (!t.creds()->HasCap(CAP_SYS_ADMIN)) return Errno(EPERM);
  if (a.Uint(1) > 64) return Errno(EINVAL);
  std::string name(a.Uint(1), '\0');
  TRY(t.CopyIn(a.Addr(0), name.data(), name.size()));
  t.kernel().set_domainname(name.substr(0, name.find('\0')));
  return 0;
}

// getrandom(2)
Result<long> Getrandom(Task& t, const SyscallArgs& a) {
  unsigned flags = a.Uint32(2);
  if (flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE)) return Errno(EINVAL);
  if ((flags & GRND_RANDOM) && (flags & GRND_INSECURE)) return Errno(EINVAL);
  size_t len = std::min<size_t>(a.Uint(1), 33554431);  // Linux's cap per call
  std::vector<uint8_t> buf(std::min<size_t>(len, 1 << 20));
  size_t done = 0;
  while (done < len) {
    size_t n = std::min(buf.size(), len - done);
    ssize_t got = getrandom(buf.data(), n, flags & ~GRND_RANDOM);
    if (got < 0) return done ? Result<long>(done) : Result<long>(LastErrno());
    TRY(t.CopyOut(a.Addr(0) + done, buf.data(), got));
    done += got;
  }
  return done;
}

// sysinfo(2)
Result<long> Sysinfo(Task& t, const SyscallArgs& a) {
  struct sysinfo info;
  if (sysinfo(&info) < 0) return LastErrno();
  {
    absl::MutexLock l(&t.kernel().mu_);
    info.procs = static_cast<uint16_t>(t.kernel().Groups().size());
  }
  TRY(t.CopyOutObj(a.Addr(0), info));
  return 0;
}

// getrlimit(2)
Result<long> Getrlimit(Task& t, const SyscallArgs& a) {
  int res = a.Int32(0);
  if (res < 0 || res >= RLIM_NLIMITS) return Errno(EINVAL);
  TRY(t.CopyOutObj(a.Addr(1), t.thread_group().GetRlimit(res)));
  return 0;
}

namespace {

Result<void> SetLimit(Task& t, ThreadGroup* g, int res, const rlimit& nl) {
  if (nl.rlim_cur > nl.rlim_max) return Errno(EINVAL);
  if (res == RLIMIT_NOFILE && nl.rlim_max > kNrOpen) return Errno(EPERM);
  rlimit old = g->GetRlimit(res);
  if (nl.rlim_max > old.rlim_max && !t.creds()->HasCap(CAP_SYS_RESOURCE)) return Errno(EPERM);
  if (HostEnforced(res)) {
    pid_t host = -1;
    {
      absl::MutexLock l(&t.kernel().mu_);
      if (!g->tasks.empty()) host = g->tasks.front()->context().host_pid();
    }
    if (host > 0 && prlimit(host, static_cast<__rlimit_resource>(res), &nl, nullptr) < 0)
      return LastErrno();
  }
  absl::MutexLock l(&g->rlimit_mu);
  g->rlimits[res] = nl;
  return Ok();
}

}  // namespace

// setrlimit(2)
Result<long> Setrlimit(Task& t, const SyscallArgs& a) {
  int res = a.Int32(0);
  if (res < 0 || res >= RLIM_NLIMITS) return Errno(EINVAL);
  rlimit nl = TRY(t.CopyInObj<rlimit>(a.Addr(1)));
  TRY(SetLimit(t, &t.thread_group(), res, nl));
  return 0;
}

// prlimit64(2)
Result<long> Prlimit64(Task& t, const SyscallArgs& a) {
  int res = a.Int32(1);
  if (res < 0 || res >= RLIM_NLIMITS) return Errno(EINVAL);
  std::optional<rlimit> nl;
  if (!a.Addr(2).IsNull()) nl = TRY(t.CopyInObj<rlimit>(a.Addr(2)));
  ThreadGroup* g;
  RefPtr<ThreadGroup> keep;
  {
    absl::MutexLock l(&t.kernel().mu_);
    g = TRY(TargetGroup(t, a.Int32(0)));
    keep = RefPtr<ThreadGroup>(g);
    if (g != &t.thread_group()) {
      // Another process: same uids all round, or CAP_SYS_RESOURCE.
      Task* other = g->leader ? g->leader : g->tasks.front();
      RefPtr<kernel::Credentials> me = t.creds(), them = other->creds();
      bool same = me->ruid == them->ruid && me->ruid == them->euid && me->ruid == them->suid &&
                  me->rgid == them->rgid && me->rgid == them->egid && me->rgid == them->sgid;
      if (!same && !me->HasCap(CAP_SYS_RESOURCE)) return Errno(EPERM);
    }
  }
  rlimit old = g->GetRlimit(res);
  if (nl) TRY(SetLimit(t, g, res, *nl));
  if (!a.Addr(3).IsNull()) TRY(t.CopyOutObj(a.Addr(3), old));
  return 0;
}

namespace {

// The peak resident set of a host process in KiB (VmHWM), what ru_maxrss reports.
long HostMaxRss(pid_t host_pid) { return static_cast<long>(hostproc::StatusKb(host_pid, "VmHWM")); }

timeval NanosToTimeval(int64_t ns) {
  return timeval{static_cast<time_t>(ns / 1'000'000'000), static_cast<suseconds_t>((ns / 1000) % 1'000'000)};
}

}  // namespace

// getrusage(2): CPU times from the host's clocks of the process or thread, the peak RSS from the
// host, and the children's totals from the sentry's accounting of reaped children.
Result<long> Getrusage(Task& t, const SyscallArgs& a) {
  int who = a.Int32(0);
  rusage ru{};
  pid_t hp = t.context().host_pid(), ht = t.context().host_tid();
  auto cpu = [&ru](pid_t id, bool thread) {
    kernel::CpuTimes cpu = kernel::HostCpuTimes(id, thread);
    ru.ru_utime = NanosToTimeval(cpu.user_ns);
    ru.ru_stime = NanosToTimeval(cpu.system_ns);
  };
  switch (who) {
    case RUSAGE_SELF:
      cpu(hp, false);
      ru.ru_maxrss = HostMaxRss(hp);
      break;
    case RUSAGE_THREAD:
      cpu(ht, true);
      ru.ru_maxrss = HostMaxRss(hp);
      break;
    case RUSAGE_CHILDREN: {
      absl::MutexLock l(&t.kernel().mu_);
      ru = t.thread_group().children_usage;
      break;
    }
    default:
      return Errno(EINVAL);
  }
  TRY(t.CopyOutObj(a.Addr(1), ru));
  return 0;
}

// umask(2)
Result<long> Umask(Task& t, const SyscallArgs& a) { return t.fs().exchange_umask(a.Uint32(0)); }

// personality(2): recorded; 0xffffffff queries.
Result<long> Personality(Task& t, const SyscallArgs& a) {
  uint32_t old = t.personality();
  if (a.Uint32(0) != 0xffffffff) t.set_personality(a.Uint32(0));
  return old;
}

// sched_getaffinity(2): the CPUs the host lets the sandbox use.
Result<long> SchedGetaffinity(Task& t, const SyscallArgs& a) {
  size_t len = a.Uint(1);
  if (len < sizeof(uint64_t) || len % sizeof(uint64_t)) return Errno(EINVAL);
  if (a.Int32(0) != 0) {
    absl::MutexLock l(&t.kernel().mu_);
    if (!t.kernel().TaskByTid(a.Int32(0))) return Errno(ESRCH);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) < 0) return LastErrno();
  size_t n = std::min(len, sizeof(uint64_t) * ((CPU_SETSIZE + 63) / 64));
  // The kernel copies out its cpumask size: enough longs for the possible CPUs.
  size_t cpus = static_cast<size_t>(hostproc::ConfiguredCpus());
  n = std::min(n, sizeof(uint64_t) * ((cpus + 63) / 64));
  TRY(t.CopyOut(a.Addr(2), &set, n));
  return n;
}

// sched_setaffinity(2): applied to the host thread.
Result<long> SchedSetaffinity(Task& t, const SyscallArgs& a) {
  cpu_set_t set;
  CPU_ZERO(&set);
  size_t len = std::min<size_t>(a.Uint(1), sizeof(set));
  TRY(t.CopyIn(a.Addr(2), &set, len));
  pid_t host;
  {
    absl::MutexLock l(&t.kernel().mu_);
    Task* target = a.Int32(0) == 0 ? &t : t.kernel().TaskByTid(a.Int32(0));
    if (!target) return Errno(ESRCH);
    host = target->context().host_tid();
  }
  if (sched_setaffinity(host, sizeof(set), &set) < 0) return LastErrno();
  return 0;
}

// sched_getscheduler(2), sched_setscheduler(2), sched_getparam(2), sched_setparam(2): every
// task runs under SCHED_OTHER; real-time policies are accepted for privileged callers but not
// applied to host threads.
Result<long> SchedGetscheduler(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) < 0) return Errno(EINVAL);
  if (a.Int32(0) != 0) {
    absl::MutexLock l(&t.kernel().mu_);
    if (!t.kernel().TaskByTid(a.Int32(0))) return Errno(ESRCH);
  }
  return SCHED_OTHER;
}

Result<long> SchedSetscheduler(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) < 0) return Errno(EINVAL);
  sched_param p = TRY(t.CopyInObj<sched_param>(a.Addr(2)));
  int policy = a.Int32(1) & ~SCHED_RESET_ON_FORK;
  switch (policy) {
    case SCHED_OTHER:
    case SCHED_BATCH:
    case SCHED_IDLE:
      return p.sched_priority == 0 ? Result<long>(0) : Result<long>(Errno(EINVAL));
    case SCHED_FIFO:
    case SCHED_RR:
      if (p.sched_priority < 1 || p.sched_priority > 99) return Errno(EINVAL);
      return t.creds()->HasCap(CAP_SYS_NICE) ? Result<long>(0) : Result<long>(Errno(EPERM));
    default:
      return Errno(EINVAL);
  }
}

Result<long> SchedGetparam(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) < 0 || a.Addr(1).IsNull()) return Errno(EINVAL);
  sched_param p{};
  TRY(t.CopyOutObj(a.Addr(1), p));
  return 0;
}

Result<long> SchedSetparam(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) < 0 || a.Addr(1).IsNull()) return Errno(EINVAL);
  sched_param p = TRY(t.CopyInObj<sched_param>(a.Addr(1)));
  return p.sched_priority == 0 ? Result<long>(0) : Result<long>(Errno(EINVAL));
}

// sched_get_priority_max(2), sched_get_priority_min(2)
Result<long> SchedGetPriorityMax(Task&, const SyscallArgs& a) {
  switch (a.Int32(0)) {
    case SCHED_FIFO: case SCHED_RR: return 99;
    case SCHED_OTHER: case SCHED_BATCH: case SCHED_IDLE: case SCHED_DEADLINE: return 0;
    default: return Errno(EINVAL);
  }
}
Result<long> SchedGetPriorityMin(Task&, const SyscallArgs& a) {
  switch (a.Int32(0)) {
    case SCHED_FIFO: case SCHED_RR: return 1;
    case SCHED_OTHER: case SCHED_BATCH: case SCHED_IDLE: case SCHED_DEADLINE: return 0;
    default: return Errno(EINVAL);
  }
}

// sched_rr_get_interval(2)
Result<long> SchedRrGetInterval(Task& t, const SyscallArgs& a) {
  if (a.Int32(0) < 0) return Errno(EINVAL);
  TRY(t.CopyOutObj(a.Addr(1), timespec{0, 100'000'000}));
  return 0;
}

// getpriority(2): the kernel ABI returns 20 - nice.
Result<long> Getpriority(Task& t, const SyscallArgs& a) {
  int which = a.Int32(0), who = a.Int32(1);
  if (which != PRIO_PROCESS && which != PRIO_PGRP && which != PRIO_USER) return Errno(EINVAL);
  absl::MutexLock l(&t.kernel().mu_);
  if (which == PRIO_PROCESS) {
    ThreadGroup* g = TRY(TargetGroup(t, who));
    return 20 - g->nice;
  }
  int best = -1;
  for (ThreadGroup* g : t.kernel().Groups()) {
    if (g->zombie) continue;
    if (which == PRIO_PGRP && g->pgid != (who ? who : t.thread_group().pgid)) continue;
    if (which == PRIO_USER) {
      Task* l0 = g->leader ? g->leader : (g->tasks.empty() ? nullptr : g->tasks.front());
      if (!l0 || l0->creds()->ruid != static_cast<uid_t>(who ? who : t.creds()->ruid)) continue;
    }
    best = std::max(best, 20 - g->nice);
  }
  if (best < 0) return Errno(ESRCH);
  return best;
}

// setpriority(2)
Result<long> Setpriority(Task& t, const SyscallArgs& a) {
  int which = a.Int32(0), who = a.Int32(1);
  int nice = std::clamp(a.Int32(2), -20, 19);
  if (which != PRIO_PROCESS && which != PRIO_PGRP && which != PRIO_USER) return Errno(EINVAL);
  bool priv = t.creds()->HasCap(CAP_SYS_NICE);
  absl::MutexLock l(&t.kernel().mu_);
  bool found = false;
  for (ThreadGroup* g : t.kernel().Groups()) {
    if (g->zombie) continue;
    if (which == PRIO_PROCESS && g->pid() != (who ? who : t.pid())) continue;
    if (which == PRIO_PGRP && g->pgid != (who ? who : t.thread_group().pgid)) continue;
    if (which == PRIO_USER) {
      Task* l0 = g->leader ? g->leader : (g->tasks.empty() ? nullptr : g->tasks.front());
      if (!l0 || l0->creds()->ruid != static_cast<uid_t>(who ? who : t.creds()->ruid)) continue;
    }
    found = true;
    if (nice < g->nice && !priv) return Errno(EACCES);
    g->nice = nice;
  }
  return found ? Result<long>(0) : Result<long>(Errno(ESRCH));
}

// membarrier(2): a barrier among the process's own host threads; the host does it.
Result<long> Membarrier(Task&, const SyscallArgs&) { return Errno(kEHOSTSYSCALL); }

}  // namespace moat::syscalls
