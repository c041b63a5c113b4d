// Time syscalls: sleeping, interval timers, POSIX timers. Clocks are read from the host; sleeping
// is done by the task thread with a deadline so signals interrupt it.
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>

#include "sentry/kernel/thread_group.h"
#include "sentry/kernel/timers.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::ClockNow;
using kernel::ThreadGroup;
using kernel::Timer;
using kernel::ToNanos;
using kernel::ToTimespec;

namespace {

// The process whose CPU-time clock an application names, as Linux's lookup_task finds it: the
// caller for pid 0, else the process of that pid (for reading, also the caller's by one of its
// tids), a zombie until it is reaped. EINVAL for anything else, as for a pid that names nothing.
Result<ThreadGroup*> FindCpuClockProcess(Task& t, const kernel::CpuClockId& id, bool reading)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(t.kernel().mu_) {
  if (id.measure == kernel::kClockFd) return Errno(EINVAL);  // no POSIX clock devices here
  if (id.pid == 0 || (reading && id.pid == t.tid())) return &t.thread_group();
  ThreadGroup* tg = t.kernel().GroupByPid(id.pid);
  if (!tg) return Errno(EINVAL);
  return tg;
}

// The host clock that implements an application clock id for the caller.
Result<clockid_t> HostClock(Task& t, clockid_t clock) {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_BOOTTIME:
    case CLOCK_TAI:
      return clock;
    case CLOCK_REALTIME_ALARM:
      return CLOCK_REALTIME;
    case CLOCK_BOOTTIME_ALARM:
      return CLOCK_BOOTTIME;
    case CLOCK_PROCESS_CPUTIME_ID:
      return kernel::ProcessCpuClock(t.context().host_pid(), kernel::CpuMeasure::kSched);
    case CLOCK_THREAD_CPUTIME_ID:
      return kernel::ThreadCpuClock(t.context().host_tid(), kernel::CpuMeasure::kSched);
    default:
      break;
  }
  if (clock >= 0) return Errno(EINVAL);
  // A CPU-time clock named by pid (glibc names the caller's own clocks so too): a thread of the
  // caller's process, or a live process. Sleeps and timers on any of its measures run on the
  // precise scheduler clock, as ITIMER_PROF does (GetItimer): the host samples user and system
  // time at ticks, which a process that traps often can outrun by far.
  kernel::CpuClockId id = kernel::DecodeCpuClock(clock);
  if (id.measure == kernel::kClockFd) return Errno(EINVAL);
  absl::MutexLock l(&t.kernel().mu_);
  if (id.thread) {
    Task* target = id.pid == 0 ? &t : t.kernel().TaskByTid(id.pid);
    if (!target || &target->thread_group() != &t.thread_group()) return Errno(EINVAL);
    return kernel::ThreadCpuClock(target->context().host_tid(), kernel::CpuMeasure::kSched);
  }
  ThreadGroup* tg = TRY(FindCpuClockProcess(t, id, false));
  if (tg->zombie || tg->tasks.empty()) return Errno(EINVAL);
  return kernel::ProcessCpuClock(tg->tasks.front()->context().host_pid(),
                                 kernel::CpuMeasure::kSched);
}

// Sleeps until `deadline` on host clock `clock`.
Result<long> SleepUntil(Task& t, clockid_t clock, int64_t deadline, UserAddr rem) {
  for (;;) {
    int64_t left = deadline - ClockNow(clock);
    if (left <= 0) return 0;
    Result<void> r = t.Block(absl::Now() + absl::Nanoseconds(left));
    if (r.ok()) continue;  // a spurious wake-up
    if (r.error().value() == ETIMEDOUT) continue;  // re-check against the clock
    // Interrupted: report the time left, and continue to the same deadline if restarted.
    if (!rem.IsNull()) {
      left = std::max<int64_t>(deadline - ClockNow(clock), 0);
      TRY(t.CopyOutObj(rem, ToTimespec(left)));
    }
    t.set_restart([clock, deadline, rem](Task& task) { return SleepUntil(task, clock, deadline, rem); });
    return Errno(kERESTART_RESTARTBLOCK);
  }
}

Result<timespec> CopyInTimespec(Task& t, UserAddr addr) {
  timespec ts = TRY(t.CopyInObj<timespec>(addr));
  if (!kernel::ValidTimespec(ts)) return Errno(EINVAL);
  return ts;
}

int64_t TimevalNanos(const timeval& tv) { return tv.tv_sec * 1'000'000'000LL + tv.tv_usec * 1000LL; }
timeval NanosTimeval(int64_t ns) {
  // Round up, so that a timer that has time left never reads as zero.
  int64_t us = (ns + 999) / 1000;
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

// Sends `sig` to thread group `tg` (or thread `tid` if nonzero) from a timer. A POSIX timer whose
// last signal is still pending gets its overrun count raised instead (Linux's SIGQUEUE_PREALLOC
// semantics).
void TimerSignal(kernel::Kernel* k, RefPtr<ThreadGroup> tg, pid_t tid, const siginfo_t& info) {
  absl::MutexLock l(&k->mu_);
  if (tg->zombie) return;
  Task* target = nullptr;
  if (tid != 0) {
    if (Task* t = k->TaskByTid(tid); t && &t->thread_group() == tg.get()) target = t;
  }
  if (info.si_code == SI_TIMER) {
    kernel::PendingSignals& q = target ? target->pending_signals() : tg->pending;
    if (siginfo_t* pending = q.FindTimerSignal(info.si_timerid)) {
      pending->si_overrun += info.si_overrun + 1;
      return;
    }
  }
  if (target) {
    (void)k->SendThreadSignal(target, info);
  } else {
    (void)k->SendGroupSignal(tg.get(), info);
  }
}

// The interval timers of a process: ITIMER_REAL on the monotonic clock, ITIMER_VIRTUAL and
// ITIMER_PROF on its CPU clocks, each sending its signal to the process.
std::shared_ptr<Timer>& ItimerSlot(ThreadGroup& tg, int which)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(tg.timer_mu) {
  if (which == ITIMER_REAL) return tg.itimer_real;
  return tg.posix_timers[-1 - which];  // negative keys are never POSIX timer ids
}

std::shared_ptr<Timer> GetItimer(Task& t, int which) {
  ThreadGroup& tg = t.thread_group();
  absl::MutexLock l(&tg.timer_mu);
  std::shared_ptr<Timer>& slot = ItimerSlot(tg, which);
  if (!slot) {
    int sig = which == ITIMER_REAL ? SIGALRM : which == ITIMER_VIRTUAL ? SIGVTALRM : SIGPROF;
    // ITIMER_VIRTUAL and ITIMER_PROF both run on the process's precise scheduler clock. The
    // host's tick-sampled VIRT and PROF clocks can run ahead of the CPU really used on a loaded
    // machine, and the application's own system time is only trap overhead here (the sentry
    // does its kernel work), so user time and all CPU time are the same measure.
    clockid_t clock = which == ITIMER_REAL ? CLOCK_MONOTONIC
                                           : kernel::ProcessCpuClock(t.context().host_pid(),
                                                                     kernel::CpuMeasure::kSched);
    kernel::Kernel* k = &t.kernel();
    RefPtr<ThreadGroup> ref = t.thread_group_ref();
    slot = std::make_shared<Timer>(&k->timers(), clock, [k, ref, sig](uint64_t) {
      siginfo_t info{};
      info.si_signo = sig;
      info.si_code = SI_KERNEL;
      TimerSignal(k, ref, 0, info);
    });
  }
  return slot;
}

}  // namespace

// nanosleep(2)
Result<long> Nanosleep(Task& t, const SyscallArgs& a) {
  timespec req = TRY(CopyInTimespec(t, a.Addr(0)));
  return SleepUntil(t, CLOCK_MONOTONIC, ClockNow(CLOCK_MONOTONIC) + ToNanos(req), a.Addr(1));
}

// clock_nanosleep(2)
Result<long> ClockNanosleep(Task& t, const SyscallArgs& a) {
  clockid_t clock = a.Int32(0);
  int flags = a.Int32(1);
  // A thread cannot sleep on its own CPU clock.
  kernel::CpuClockId id = kernel::DecodeCpuClock(clock);
  bool own_thread = clock < 0 && id.thread && (id.pid == 0 || id.pid == t.tid());
  if (clock == CLOCK_THREAD_CPUTIME_ID || own_thread) return Errno(EINVAL);
  clockid_t host = TRY(HostClock(t, clock));
  timespec req = TRY(CopyInTimespec(t, a.Addr(2)));
  if (flags & TIMER_ABSTIME) return SleepUntil(t, host, ToNanos(req), UserAddr());
  return SleepUntil(t, host, ClockNow(host) + ToNanos(req), a.Addr(3));
}

namespace {

// The time on a process's CPU-time clock.
int64_t ReadProcessCpuClock(const ThreadGroup& tg, int measure) {
  timespec ts;
  if (!tg.zombie && !tg.tasks.empty() &&
      clock_gettime(kernel::CpuClockOf(tg.tasks.front()->context().host_pid(), measure, false),
                    &ts) == 0) {
    return ToNanos(ts);
  }
  // A zombie's clock, or a process whose host process went a moment before the sentry makes it a
  // zombie: the usage the host reported when it went.
  int64_t user = TimevalNanos(tg.exit_usage.ru_utime);
  if (measure == static_cast<int>(kernel::CpuMeasure::kVirt)) return user;
  return user + TimevalNanos(tg.exit_usage.ru_stime);
}

}  // namespace

// clock_gettime(2), clock_getres(2), gettimeofday(2), time(2): the host answers (they pass
// through the filter; these run only if such a read traps anyway), except for a process's
// CPU-time clock named by pid, which traps: a zombie's clock outlives its host process, and the
// sandbox's processes are the sentry's to look up. (A thread's clock names a thread of the
// caller's own host process, which the host finds as well.)
Result<long> ClockGettime(Task& t, const SyscallArgs& a) {
  clockid_t clock = a.Int32(0);
  kernel::CpuClockId id = kernel::DecodeCpuClock(clock);
  if (clock >= 0 || id.thread) return Errno(kEHOSTSYSCALL);
  int64_t ns;
  {
    absl::MutexLock l(&t.kernel().mu_);
    ThreadGroup* tg = TRY(FindCpuClockProcess(t, id, true));
    ns = ReadProcessCpuClock(*tg, id.measure);
  }
  TRY(t.CopyOutObj(a.Addr(1), ToTimespec(ns)));
  return 0;
}

Result<long> ClockGetres(Task& t, const SyscallArgs& a) {
  clockid_t clock = a.Int32(0);
  kernel::CpuClockId id = kernel::DecodeCpuClock(clock);
  if (clock >= 0 || id.thread) return Errno(kEHOSTSYSCALL);
  {
    absl::MutexLock l(&t.kernel().mu_);
    TRY(FindCpuClockProcess(t, id, false));
  }
  if (a.Addr(1).IsNull()) return 0;
  // A measure's resolution is the same for every process: the host's for the sentry's own clock.
  timespec res;
  if (clock_getres(kernel::CpuClockOf(0, id.measure, false), &res) < 0) return LastErrno();
  TRY(t.CopyOutObj(a.Addr(1), res));
  return 0;
}

Result<long> Gettimeofday(Task&, const SyscallArgs&) { return Errno(kEHOSTSYSCALL); }
Result<long> Time(Task&, const SyscallArgs&) { return Errno(kEHOSTSYSCALL); }

// clock_settime(2), settimeofday(2): the sandbox cannot set the host's clock.
Result<long> ClockSettime(Task& t, const SyscallArgs& a) {
  // Only CLOCK_REALTIME can be set at all; it is the host's, which the sandbox may not change.
  if (a.Int32(0) != CLOCK_REALTIME) return Errno(EINVAL);
  TRY(CopyInTimespec(t, a.Addr(1)));
  return Errno(EPERM);
}
Result<long> Settimeofday(Task&, const SyscallArgs&) { return Errno(EPERM); }

// adjtimex(2): reading the clock's state is allowed; changing it is not.
Result<long> Adjtimex(Task& t, const SyscallArgs& a) {
  timex tx = TRY(t.CopyInObj<timex>(a.Addr(0)));
  if (tx.modes != 0) return Errno(EPERM);
  int r = adjtimex(&tx);
  if (r < 0) return LastErrno();
  TRY(t.CopyOutObj(a.Addr(0), tx));
  return r;
}

// alarm(2)
Result<long> Alarm(Task& t, const SyscallArgs& a) {
  std::shared_ptr<Timer> timer = GetItimer(t, ITIMER_REAL);
  itimerspec old = timer->Set(a.Uint32(0) * 1'000'000'000LL, 0, false);
  int64_t left = ToNanos(old.it_value);
  if (left == 0) return 0;
  // Seconds left, rounded to the nearest, but never 0 for an armed alarm.
  long secs = old.it_value.tv_sec + (old.it_value.tv_nsec >= 500'000'000L ? 1 : 0);
  return secs == 0 ? 1 : secs;
}

// setitimer(2)
Result<long> Setitimer(Task& t, const SyscallArgs& a) {
  int which = a.Int32(0);
  if (which != ITIMER_REAL && which != ITIMER_VIRTUAL && which != ITIMER_PROF) return Errno(EINVAL);
  itimerval nv{};
  if (!a.Addr(1).IsNull()) {
    nv = TRY(t.CopyInObj<itimerval>(a.Addr(1)));
    if (nv.it_value.tv_usec < 0 || nv.it_value.tv_usec >= 1'000'000 || nv.it_value.tv_sec < 0 ||
        nv.it_interval.tv_usec < 0 || nv.it_interval.tv_usec >= 1'000'000 ||
        nv.it_interval.tv_sec < 0)
      return Errno(EINVAL);
  }
  std::shared_ptr<Timer> timer = GetItimer(t, which);
  itimerspec old = timer->Set(TimevalNanos(nv.it_value), TimevalNanos(nv.it_interval), false);
  if (!a.Addr(2).IsNull()) {
    itimerval ov{NanosTimeval(ToNanos(old.it_interval)), NanosTimeval(ToNanos(old.it_value))};
    TRY(t.CopyOutObj(a.Addr(2), ov));
  }
  return 0;
}

// getitimer(2)
Result<long> Getitimer(Task& t, const SyscallArgs& a) {
  int which = a.Int32(0);
  if (which != ITIMER_REAL && which != ITIMER_VIRTUAL && which != ITIMER_PROF) return Errno(EINVAL);
  itimerspec cur = GetItimer(t, which)->Get();
  itimerval v{NanosTimeval(ToNanos(cur.it_interval)), NanosTimeval(ToNanos(cur.it_value))};
  TRY(t.CopyOutObj(a.Addr(1), v));
  return 0;
}

// timer_create(2)
Result<long> TimerCreate(Task& t, const SyscallArgs& a) {
  clockid_t host = TRY(HostClock(t, a.Int32(0)));
  sigevent ev{};
  ThreadGroup& tg = t.thread_group();
  int id;
  {
    absl::MutexLock l(&tg.timer_mu);
    id = tg.next_timer_id;
  }
  if (!a.Addr(1).IsNull()) {
    ev = TRY(t.CopyInObj<sigevent>(a.Addr(1)));
  } else {
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    ev.sigev_value.sival_int = id;
  }
  pid_t target_tid = 0;
  switch (ev.sigev_notify) {
    case SIGEV_NONE:
      break;
    case SIGEV_SIGNAL:
      if (!kernel::ValidSignal(ev.sigev_signo)) return Errno(EINVAL);
      break;
    case SIGEV_THREAD_ID: {
      if (!kernel::ValidSignal(ev.sigev_signo)) return Errno(EINVAL);
      target_tid = ev._sigev_un._tid;
      absl::MutexLock l(&t.kernel().mu_);
      Task* target = t.kernel().TaskByTid(target_tid);
      if (!target || &target->thread_group() != &tg) return Errno(EINVAL);
      break;
    }
    default:
      return Errno(EINVAL);
  }
  kernel::Kernel* k = &t.kernel();
  RefPtr<ThreadGroup> ref = t.thread_group_ref();
  int notify = ev.sigev_notify;
  int signo = ev.sigev_signo;
  sigval value = ev.sigev_value;
  auto timer = std::make_shared<Timer>(&k->timers(), host, [=](uint64_t overruns) {
    if (notify == SIGEV_NONE) return;
    siginfo_t info{};
    info.si_signo = signo;
    info.si_code = SI_TIMER;
    info.si_timerid = id;
    info.si_overrun = static_cast<int>(overruns - 1);
    info.si_value = value;
    TimerSignal(k, ref, target_tid, info);
  });
  {
    absl::MutexLock l(&tg.timer_mu);
    if (tg.next_timer_id != id) return Errno(EAGAIN);  // raced with another timer_create
    tg.next_timer_id++;
    tg.posix_timers[id] = timer;
  }
  {
    absl::MutexLock l(&k->mu_);
    tg.timer_overrun_last[id] = 0;
  }
  Result<void> r = t.CopyOutObj(a.Addr(2), id);
  if (!r.ok()) {
    absl::MutexLock l(&tg.timer_mu);
    tg.posix_timers.erase(id);
    return r.error();
  }
  return 0;
}

namespace {

Result<std::shared_ptr<Timer>> FindTimer(Task& t, int id) {
  ThreadGroup& tg = t.thread_group();
  absl::MutexLock l(&tg.timer_mu);
  auto it = tg.posix_timers.find(id);
  if (id < 0 || it == tg.posix_timers.end()) return Errno(EINVAL);
  return it->second;
}

}  // namespace

// timer_settime(2)
Result<long> TimerSettime(Task& t, const SyscallArgs& a) {
  std::shared_ptr<Timer> timer = TRY(FindTimer(t, a.Int32(0)));
  itimerspec nv = TRY(t.CopyInObj<itimerspec>(a.Addr(2)));
  if (!kernel::ValidTimespec(nv.it_value) || !kernel::ValidTimespec(nv.it_interval))
    return Errno(EINVAL);
  itimerspec old = timer->Set(ToNanos(nv.it_value), ToNanos(nv.it_interval),
                              a.Int32(1) & TIMER_ABSTIME);
  if (!a.Addr(3).IsNull()) TRY(t.CopyOutObj(a.Addr(3), old));
  return 0;
}

// timer_gettime(2)
Result<long> TimerGettime(Task& t, const SyscallArgs& a) {
  std::shared_ptr<Timer> timer = TRY(FindTimer(t, a.Int32(0)));
  TRY(t.CopyOutObj(a.Addr(1), timer->Get()));
  return 0;
}

// timer_getoverrun(2)
Result<long> TimerGetoverrun(Task& t, const SyscallArgs& a) {
  TRY(FindTimer(t, a.Int32(0)));
  absl::MutexLock l(&t.kernel().mu_);
  return t.thread_group().timer_overrun_last[a.Int32(0)];
}

// timer_delete(2)
Result<long> TimerDelete(Task& t, const SyscallArgs& a) {
  std::shared_ptr<Timer> timer = TRY(FindTimer(t, a.Int32(0)));
  timer->Disarm();
  ThreadGroup& tg = t.thread_group();
  absl::MutexLock l(&tg.timer_mu);
  tg.posix_timers.erase(a.Int32(0));
  return 0;
}

// times(2)
Result<long> Times(Task& t, const SyscallArgs& a) {
  if (!a.Addr(0).IsNull()) {
    kernel::CpuTimes cpu = kernel::HostCpuTimes(t.context().host_pid(), false);
    constexpr int64_t kTick = 10'000'000;  // USER_HZ = 100
    tms buf{};
    buf.tms_utime = cpu.user_ns / kTick;
    buf.tms_stime = cpu.system_ns / kTick;
    {
      absl::MutexLock l(&t.kernel().mu_);
      const rusage& c = t.thread_group().children_usage;
      buf.tms_cutime = (c.ru_utime.tv_sec * 1'000'000'000LL + c.ru_utime.tv_usec * 1000LL) / kTick;
      buf.tms_cstime = (c.ru_stime.tv_sec * 1'000'000'000LL + c.ru_stime.tv_usec * 1000LL) / kTick;
    }
    TRY(t.CopyOutObj(a.Addr(0), buf));
  }
  return ClockNow(CLOCK_MONOTONIC) / 10'000'000;
}

// restart_syscall(2): continues a sleep interrupted by a signal, or lets the host continue its
// own interrupted syscall (a futex wait).
Result<long> RestartSyscall(Task& t, const SyscallArgs&) {
  kernel::RestartFn fn = t.TakeRestart();
  if (!fn) return Errno(kEHOSTSYSCALL);
  return fn(t);
}

}  // namespace moat::syscalls
