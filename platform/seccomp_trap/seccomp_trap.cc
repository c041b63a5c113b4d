#include "platform/seccomp_trap/seccomp_trap.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "base/log.h"
#include "base/status_macros.h"
#include "platform/stub/stub_layout.h"

namespace moat::platform {
namespace {

// How long the sentry spins on a thread's state word before it sleeps, in TSC cycles (about
// 10 us: a trap that the sentry answers at once comes back sooner than a sleep and wake).
constexpr uint64_t kSpinCycles = 20000;
// After this many spins in a row that end in sleep anyway (the thread did not come back in time:
// it computes, or the machine's cores are all busy), the sentry sleeps at once for kSpinSkip
// waits, then tries one spin again. The stub does the same (stub_trap.c).
constexpr int kSpinFails = 4;
constexpr int kSpinSkip = 64;

// A state the sentry writes into the word of a thread that is gone, so that a waiter on it wakes.
constexpr uint32_t kStateGone = 0xdead;
// The value SI_CODE of a SIGSYS from a seccomp filter.
constexpr int kSysSeccomp = 1;
// Linux's -ERESTARTSYS, which the stub reports for a host syscall that an interrupt cut short.
constexpr int64_t kERestartSys = -512;
// How long a new thread or image may take to report ready.
constexpr absl::Duration kReadyTimeout = absl::Seconds(10);
// How long a process whose last thread has left may take to be gone.
constexpr absl::Duration kDeathTimeout = absl::Seconds(5);
// How long the host may take to free the pid of a process that has exited (below).
constexpr absl::Duration kReleaseTimeout = absl::Seconds(1);

uint32_t Load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
void Store(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

void FutexWake(uint32_t* word) { syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0); }

// Sleeps until one of `words` differs from its value now, or `timeout` passes. The words are in
// shared memory: the futexes are shared ones, which the stub's wakes (from its own mapping of the
// same file) reach.
void FutexWaitAny(std::span<uint32_t* const> words, absl::Duration timeout) {
  futex_waitv waiters[4]{};
  size_t n = std::min<size_t>(words.size(), 4);
  for (size_t i = 0; i < n; i++) {
    waiters[i].val = Load(words[i]);
    waiters[i].uaddr = reinterpret_cast<uintptr_t>(words[i]);
    waiters[i].flags = FUTEX_32;
  }
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  timespec deadline = absl::ToTimespec(absl::DurationFromTimespec(now) + timeout);
  syscall(SYS_futex_waitv, waiters, n, 0, &deadline, CLOCK_MONOTONIC);
}

void ResetSlot(moat_sysmsg* m) {
  Store(&m->state, MOAT_STATE_RUNNING);
  Store(&m->stub_waiting, 0);
  Store(&m->sentry_waiting, 0);
  Store(&m->phase, MOAT_PHASE_APP);
  m->event = 0;
}

void FromGregs(const uint64_t* g, Registers& r) {
  r.r8 = g[MOAT_REG_R8];
  r.r9 = g[MOAT_REG_R9];
  r.r10 = g[MOAT_REG_R10];
  r.r11 = g[MOAT_REG_R11];
  r.r12 = g[MOAT_REG_R12];
  r.r13 = g[MOAT_REG_R13];
  r.r14 = g[MOAT_REG_R14];
  r.r15 = g[MOAT_REG_R15];
  r.rdi = g[MOAT_REG_RDI];
  r.rsi = g[MOAT_REG_RSI];
  r.rbp = g[MOAT_REG_RBP];
  r.rbx = g[MOAT_REG_RBX];
  r.rdx = g[MOAT_REG_RDX];
  r.rax = g[MOAT_REG_RAX];
  r.rcx = g[MOAT_REG_RCX];
  r.rsp = g[MOAT_REG_RSP];
  r.rip = g[MOAT_REG_RIP];
  r.eflags = g[MOAT_REG_EFL];
  r.cs = g[MOAT_REG_CSGSFS] & 0xffff;
  r.ss = (g[MOAT_REG_CSGSFS] >> 48) & 0xffff;
}

void ToGregs(const Registers& r, uint64_t* g) {
  g[MOAT_REG_R8] = r.r8;
  g[MOAT_REG_R9] = r.r9;
  g[MOAT_REG_R10] = r.r10;
  g[MOAT_REG_R11] = r.r11;
  g[MOAT_REG_R12] = r.r12;
  g[MOAT_REG_R13] = r.r13;
  g[MOAT_REG_R14] = r.r14;
  g[MOAT_REG_R15] = r.r15;
  g[MOAT_REG_RDI] = r.rdi;
  g[MOAT_REG_RSI] = r.rsi;
  g[MOAT_REG_RBP] = r.rbp;
  g[MOAT_REG_RBX] = r.rbx;
  g[MOAT_REG_RDX] = r.rdx;
  g[MOAT_REG_RAX] = r.rax;
  g[MOAT_REG_RCX] = r.rcx;
  g[MOAT_REG_RSP] = r.rsp;
  g[MOAT_REG_RIP] = r.rip;
  g[MOAT_REG_EFL] = r.eflags;
  // gs and fs selectors stay as the kernel saved them.
  g[MOAT_REG_CSGSFS] = (g[MOAT_REG_CSGSFS] & 0x0000ffffffff0000ULL) | (r.cs & 0xffff) |
                       ((r.ss & 0xffff) << 48);
}

// The sigcontext's fpstate: the XSAVE area, with the kernel's software bytes at 464 saying how
// large it is (FP_XSTATE_MAGIC1 and xstate_size).
constexpr size_t kSwBytesOffset = 464;
constexpr size_t kSwBytesSize = 48;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr size_t kFxsaveSize = 512;

// Watches the pidfds of the sandbox's host processes and tells each HostProcess when it died.
class Watcher {
 public:
  static Watcher& Get() {
    static Watcher* w = new Watcher();  // lives as long as the sentry
    return *w;
  }

  // Starts watching `p`; if it is gone already, it has died.
  void Watch(std::shared_ptr<HostProcess> p) {
    FileDescriptor pidfd(static_cast<int>(syscall(SYS_pidfd_open, p->pid(), 0)));
    if (!pidfd.valid()) {
      LOG_DEBUG("pidfd_open({}): {}", p->pid(), LastErrno().Name());
      p->Died(SIGKILL, {});
      return;
    }
    absl::MutexLock l(&mu_);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = pidfd.get();
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &ev) < 0) {
      LOG_ERROR("epoll_ctl(pidfd of {}): {}", p->pid(), LastErrno().Name());
      return;
    }
    int fd = pidfd.get();
    watched_[fd] = {std::move(pidfd), std::move(p)};
  }

 private:
  Watcher() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    std::thread([this] { Run(); }).detach();
  }

  void Run() {
    for (;;) {
      epoll_event evs[16];
      int n = epoll_wait(epoll_.get(), evs, 16, -1);
      for (int i = 0; i < n; i++) {
        std::pair<FileDescriptor, std::shared_ptr<HostProcess>> entry;
        {
          absl::MutexLock l(&mu_);
          auto it = watched_.find(evs[i].data.fd);
          if (it == watched_.end()) continue;
          entry = std::move(it->second);
          watched_.erase(it);
        }
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, entry.first.get(), nullptr);
        // The status of a process that is not the sentry's child was collected by the host
        // (its parent ignores SIGCHLD); the sentry knows how it ended from its own records.
        int status = SIGKILL;
        struct rusage usage {};
        if (entry.second->reap()) {
          while (wait4(entry.second->pid(), &status, __WALL, &usage) < 0 && errno == EINTR) {
          }
        } else {
          AwaitRelease(entry.first.get());
        }
        entry.second->Died(status, usage);
      }
    }
  }

  // A pidfd is readable once its process has exited, a moment before the host frees the pid of a
  // process whose parent does not wait (exit_notify releases it after the notification). Until
  // the pid is free, signal 0 reaches the process.
  static void AwaitRelease(int pidfd) {
    absl::Time deadline = absl::Now() + kReleaseTimeout;
    while (syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) {
      if (absl::Now() > deadline) {
        LOG_WARNING("an exited process's pid is still taken after {}",
                    absl::FormatDuration(kReleaseTimeout));
        return;
      }
      sched_yield();
    }
  }

  FileDescriptor epoll_;
  absl::Mutex mu_;
  std::map<int, std::pair<FileDescriptor, std::shared_ptr<HostProcess>>> watched_
      ABSL_GUARDED_BY(mu_);
};

// Answers the clone gates' notifications (BuildCloneGateFilter): a clone made from the stub's
// code goes on only if the sentry asked that host thread for a clone with those flags
// (SeccompTrapContext::Clone); any other fails with EPERM. The application can jump into the
// stub's code with registers of its choosing, and its clones would be processes the sentry does
// not know (tests/e2e/security, stub_clone). One thread answers every process tree's gate.
class CloneGate {
 public:
  static CloneGate& Get() {
    static CloneGate* g = new CloneGate();  // lives as long as the sentry
    return *g;
  }

  // Answers `listener` from now on, until every process under its filter is gone. Returns the
  // id the tree's Channel keeps.
  Result<uint64_t> Add(FileDescriptor listener) {
    absl::MutexLock l(&mu_);
    uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener.get(), &ev) < 0) return LastErrno();
    gates_[id].listener = std::move(listener);
    return id;
  }

  // Lets the next clone of host thread `tid` under gate `id` go on if its flags are `flags`.
  void Expect(uint64_t id, pid_t tid, uint64_t flags) {
    absl::MutexLock l(&mu_);
    auto it = gates_.find(id);
    if (it != gates_.end()) it->second.expected[tid] = flags;
  }

  void Forget(uint64_t id, pid_t tid) {
    absl::MutexLock l(&mu_);
    auto it = gates_.find(id);
    if (it != gates_.end()) it->second.expected.erase(tid);
  }

 private:
  struct Gate {
    FileDescriptor listener;
    std::map<pid_t, uint64_t> expected;  // host tid -> clone flags
  };

  CloneGate() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    std::thread([this] { Run(); }).detach();
  }

  void Run() {
    for (;;) {
      epoll_event evs[16];
      int n = epoll_wait(epoll_.get(), evs, 16, -1);
      for (int i = 0; i < n; i++) {
        uint64_t id = evs[i].data.u64;
        int fd;
        {
          absl::MutexLock l(&mu_);
          auto it = gates_.find(id);
          if (it == gates_.end()) continue;
          if (!(evs[i].events & EPOLLIN)) {  // EPOLLHUP: no process uses the filter any more
            epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.listener.get(), nullptr);
            gates_.erase(it);
            continue;
          }
          fd = it->second.listener.get();  // closed by this thread only
        }
        Answer(id, fd);
      }
    }
  }

  void Answer(uint64_t id, int listener) {
    seccomp_notif notif;
    std::memset(&notif, 0, sizeof(notif));
    // ENOENT: the thread left the syscall (a signal) after the listener showed readable.
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0) return;
    seccomp_notif_resp resp{};
    resp.id = notif.id;
    resp.error = -EPERM;
    {
      absl::MutexLock l(&mu_);
      auto it = gates_.find(id);
      if (it != gates_.end()) {
        auto want = it->second.expected.find(static_cast<pid_t>(notif.pid));
        if (want != it->second.expected.end() && notif.data.nr == SYS_clone &&
            notif.data.args[0] == want->second) {
          it->second.expected.erase(want);
          resp.error = 0;
          resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        }
      }
    }
    if (resp.error)
      LOG_DEBUG("refused a clone from the stub's code that the sentry did not ask for (host tid {})",
                  notif.pid);
    // ENOENT again if the thread left meanwhile.
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }

  FileDescriptor epoll_;
  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Gate> gates_ ABSL_GUARDED_BY(mu_);
};

// Waits until `ready()` holds, sleeping on the state words of `msgs` in between; false if
// `give_up()` holds first or kReadyTimeout passes.
bool AwaitStates(std::initializer_list<moat_sysmsg*> msgs, const std::function<bool()>& ready,
                 const std::function<bool()>& give_up) {
  uint64_t start = __rdtsc();
  while (!ready() && __rdtsc() - start < kSpinCycles) _mm_pause();
  absl::Time deadline = absl::Now() + kReadyTimeout;
  uint32_t* words[4];
  size_t n = 0;
  for (moat_sysmsg* m : msgs) words[n++] = &m->state;
  for (;;) {
    if (ready()) return true;
    if (give_up() || absl::Now() > deadline) return false;
    for (moat_sysmsg* m : msgs) Store(&m->sentry_waiting, 1);
    if (!ready()) FutexWaitAny(std::span<uint32_t* const>(words, n), absl::Milliseconds(20));
    for (moat_sysmsg* m : msgs) Store(&m->sentry_waiting, 0);
  }
}

}  // namespace

// ---- SysmsgRegion ----

Result<std::shared_ptr<SysmsgRegion>> SysmsgRegion::Create() {
  FileDescriptor fd(memfd_create("moat-sysmsg", MFD_CLOEXEC));
  if (!fd) return LastErrno();
  if (ftruncate(fd.get(), stub::kRegionSize) < 0) return LastErrno();
  void* base = mmap(nullptr, stub::kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) return LastErrno();
  return std::shared_ptr<SysmsgRegion>(new SysmsgRegion(std::move(fd), static_cast<uint8_t*>(base)));
}

SysmsgRegion::~SysmsgRegion() { munmap(base_, stub::kRegionSize); }

moat_sysmsg* SysmsgRegion::Slot(uint32_t index) const {
  return reinterpret_cast<moat_sysmsg*>(base_ + static_cast<uint64_t>(index) * stub::kSlotSize);
}

uint8_t* SysmsgRegion::SlotBytes(uint32_t index, uint64_t app_addr, size_t n) const {
  uint64_t start = stub::kSysmsgBase + static_cast<uint64_t>(index) * stub::kSlotSize;
  if (app_addr < start || n > stub::kSlotSize || app_addr - start > stub::kSlotSize - n)
    return nullptr;
  return base_ + (app_addr - stub::kSysmsgBase);
}

Result<uint32_t> SysmsgRegion::Allocate() {
  absl::MutexLock l(&mu_);
  for (uint32_t i = 0; i < used_.size(); i++) {
    if (!used_[i]) {
      used_[i] = true;
      ResetSlot(Slot(i));
      return i;
    }
  }
  return Errno(EAGAIN);  // as many threads as the region has slots
}

void SysmsgRegion::Take(uint32_t index) {
  absl::MutexLock l(&mu_);
  used_[index] = true;
  ResetSlot(Slot(index));
}

void SysmsgRegion::Free(uint32_t index) {
  absl::MutexLock l(&mu_);
  used_[index] = false;
}

// ---- HostProcess ----

void HostProcess::Attach(SeccompTrapContext* ctx) {
  absl::MutexLock l(&mu_);
  if (dead_) {
    ctx->End(wait_status_, usage_);
    return;
  }
  contexts_.insert(ctx);
}

void HostProcess::Detach(SeccompTrapContext* ctx) {
  absl::MutexLock l(&mu_);
  contexts_.erase(ctx);
}

void HostProcess::Died(int wait_status, const struct rusage& usage) {
  absl::MutexLock l(&mu_);
  dead_ = true;
  wait_status_ = wait_status;
  usage_ = usage;
  for (SeccompTrapContext* ctx : contexts_) ctx->End(wait_status, usage);
}

void HostProcess::OthersGone(SeccompTrapContext* survivor) {
  absl::MutexLock l(&mu_);
  for (SeccompTrapContext* ctx : contexts_) {
    if (ctx != survivor) ctx->End(SIGKILL, {});
  }
}

bool HostProcess::dead() const {
  absl::MutexLock l(&mu_);
  return dead_;
}

bool HostProcess::LastThreadLeaving(SeccompTrapContext* ctx) {
  // Each leaving thread marks itself before it looks at the others under mu_: of two last threads
  // leaving at once, the one that looks second sees the first's mark.
  ctx->leaving_.store(true);
  absl::MutexLock l(&mu_);
  for (SeccompTrapContext* other : contexts_) {
    if (other != ctx && !other->leaving_.load() && !other->ended_.load()) return false;
  }
  return true;
}

bool HostProcess::AwaitDeath(absl::Duration limit) {
  absl::MutexLock l(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&dead_), limit);
}

// ---- SeccompTrapContext ----

SeccompTrapContext::SeccompTrapContext(std::shared_ptr<HostProcess> process,
                                       std::shared_ptr<SysmsgRegion> region, uint32_t slot,
                                       pid_t tid, const Registers& regs)
    : process_(std::move(process)),
      region_(std::move(region)),
      slot_(slot),
      msg_(region_->Slot(slot)),
      tid_(tid),
      regs_(regs) {
  LoadFrame();
  process_->Attach(this);
}

SeccompTrapContext::~SeccompTrapContext() {
  process_->Detach(this);
  region_->Free(slot_);
}

void SeccompTrapContext::End(int wait_status, const struct rusage& usage) {
  absl::MutexLock l(&end_mu_);
  if (ended_.load()) return;
  end_status_ = wait_status;
  end_usage_ = usage;
  if (exit_requested_.load() && Load(&msg_->state) == MOAT_STATE_EVENT &&
      msg_->event == MOAT_EVENT_EXITING) {
    // The thread reported its exit before it went: that is how it ended, whoever sees it first.
    end_status_ = exit_status_;
    static_assert(sizeof(end_usage_) == sizeof(msg_->usage));
    std::memcpy(&end_usage_, msg_->usage, sizeof(end_usage_));
  }
  ended_.store(true);
  Store(&msg_->state, kStateGone);
  FutexWake(&msg_->state);
}

Event SeccompTrapContext::EndEvent() {
  absl::MutexLock l(&end_mu_);
  return Event{.type = EventType::kExit, .wait_status = end_status_, .usage = end_usage_};
}

bool SeccompTrapContext::Request(uint32_t request) {
  if (ended_.load()) return false;
  msg_->sentry_blocking = 0;
  Store(&msg_->state, request);
  if (Load(&msg_->stub_waiting)) FutexWake(&msg_->state);
  if (spin_skip_ > 0) {
    spin_skip_--;
  } else {
    bool worked;
    uint64_t start = __rdtsc();
    while (!(worked = Load(&msg_->state) == MOAT_STATE_EVENT)) {
      if (ended_.load() || __rdtsc() - start > kSpinCycles) break;
      _mm_pause();
    }
    if (worked) {
      spin_fails_ = 0;
    } else if (++spin_fails_ >= kSpinFails) {
      spin_skip_ = kSpinSkip;
      spin_fails_ = kSpinFails - 1;  // the spin after the pause decides alone
    }
  }
  for (;;) {
    uint32_t s = Load(&msg_->state);
    if (s == MOAT_STATE_EVENT) return true;
    if (ended_.load()) return false;
    Store(&msg_->sentry_waiting, 1);
    s = Load(&msg_->state);
    if (s != MOAT_STATE_EVENT && !ended_.load())
      syscall(SYS_futex, &msg_->state, FUTEX_WAIT, s, nullptr, nullptr, 0);
    Store(&msg_->sentry_waiting, 0);
  }
}

bool SeccompTrapContext::LoadFrame() {
  uc_ = reinterpret_cast<moat_ucontext*>(
      region_->SlotBytes(slot_, msg_->ucontext, sizeof(moat_ucontext)));
  if (!uc_) return false;
  FromGregs(uc_->gregs, regs_);
  return true;
}

void SeccompTrapContext::StoreRegs() {
  if (uc_) ToGregs(regs_, uc_->gregs);
}

Event SeccompTrapContext::Switch() {
  for (;;) {
    if (ended_.load()) return EndEvent();
    uint32_t request = MOAT_STATE_RESUME;
    if (static_cast<int64_t>(regs_.orig_rax) >= 0) {
      // The sentry left the trapped syscall to the host (kEHOSTSYSCALL): the stub runs it.
      msg_->nr = regs_.orig_rax;
      if (regs_.orig_rax == SYS_exit || regs_.orig_rax == SYS_exit_group) {
        request = MOAT_STATE_EXIT;
        msg_->args[0] = regs_.rdi;
        exit_status_ = static_cast<int>((regs_.rdi & 0xff) << 8);
        exit_group_ = regs_.orig_rax == SYS_exit_group;
        exit_requested_.store(true);
      } else {
        request = MOAT_STATE_HOST_SYSCALL;
      }
    }
    if (regs_.gs_base != applied_gs_base_) {
      // arch_prctl(ARCH_SET_GS) became a register edit; the frame has no gs base.
      Result<long> r = Inject(SYS_arch_prctl, {ARCH_SET_GS, regs_.gs_base, 0, 0, 0, 0});
      if (r.ok() && *r == 0) applied_gs_base_ = regs_.gs_base;
    }
    StoreRegs();
    if (!Request(request)) return EndEvent();
    switch (msg_->event) {
      case MOAT_EVENT_EXITING:
        // The stub reports before its host thread goes. When the process goes with it, wait for
        // the host to have freed its pid: once the sentry makes the process a zombie, its parent
        // may reap it, and from then on the pid names nothing (its CPU clock, which the host
        // reads for the application, is EINVAL).
        if ((exit_group_ || process_->LastThreadLeaving(this)) &&
            !process_->AwaitDeath(kDeathTimeout)) {
          LOG_WARNING("process {}: still there {} after its last thread left", process_->pid(),
                      absl::FormatDuration(kDeathTimeout));
        }
        End(exit_status_, {});  // takes the status and usage the stub reported
        return EndEvent();
      case MOAT_EVENT_SIGNAL:
        break;
      default:
        // Not what the stub sends after a resume: the application wrote its message page.
        continue;
    }
    if (!LoadFrame()) {
      // The application moved the frame out of its slot: nothing can be trusted of the thread.
      LOG_WARNING("tid {}: the signal frame is not in the thread's slot; killing it", tid_.load());
      KillProcess();
      continue;
    }
    regs_.orig_rax = static_cast<uint64_t>(-1);
    int signo = msg_->signo;
    if (signo == MOAT_INTERRUPT_SIGNAL) {
      if (msg_->siginfo == 0) {
        // A host syscall the stub ran, cut short: the sentry applies the restart rules to it.
        if (static_cast<int64_t>(regs_.rax) == kERestartSys) regs_.orig_rax = msg_->nr;
      } else {
        UndoHostRestart();
      }
      return Event{.type = EventType::kInterrupt};
    }
    const uint8_t* info = region_->SlotBytes(slot_, msg_->siginfo, sizeof(siginfo_t));
    if (!info) return Event{.type = EventType::kInterrupt};
    Event e{.type = EventType::kFault};
    std::memcpy(&e.siginfo, info, sizeof(siginfo_t));
    if (signo == SIGSYS && e.siginfo.si_code == kSysSeccomp) {
      // Linux rolled rax back to the number; the sentry expects the ptrace view of a trapped
      // syscall: the number in orig_rax, -ENOSYS in rax.
      regs_.orig_rax = regs_.rax;
      regs_.rax = static_cast<uint64_t>(-ENOSYS);
      return Event{.type = EventType::kSyscall};
    }
    if (e.siginfo.si_code <= 0 || e.siginfo.si_signo != signo) return Event{.type = EventType::kInterrupt};
    return e;
  }
}

void SeccompTrapContext::UndoHostRestart() {
  // The interrupt's handler has SA_RESTART, so the host restarted a passthrough wait that it cut
  // short (-ERESTARTSYS): rip is back on the syscall instruction and rax holds the number again.
  // The sentry decides as Linux would, by the application's handler: show the wait as it was
  // cut short. (A thread caught just before the instruction looks the same; to the application
  // the two cannot be told apart.) Waits with a timeout end in -EINTR instead, which stays.
  if (regs_.rax != SYS_futex && regs_.rax != SYS_futex_waitv) return;
  uint16_t insn = 0;
  Result<size_t> n = ReadMemory(regs_.rip, &insn, sizeof(insn));
  if (!n.ok() || *n != sizeof(insn) || insn != 0x050f) return;  // syscall is 0f 05
  regs_.orig_rax = regs_.rax;
  regs_.rax = static_cast<uint64_t>(kERestartSys);
  regs_.rip += 2;
}

Result<std::vector<uint8_t>> SeccompTrapContext::GetFpState() {
  if (!uc_ || !uc_->fpstate) return Errno(EFAULT);
  const uint8_t* fx = region_->SlotBytes(slot_, uc_->fpstate, kFxsaveSize);
  if (!fx) return Errno(EFAULT);
  uint32_t magic, xstate_size;
  std::memcpy(&magic, fx + kSwBytesOffset, sizeof(magic));
  std::memcpy(&xstate_size, fx + kSwBytesOffset + 16, sizeof(xstate_size));
  size_t size = kFxsaveSize;
  if (magic == kFpXstateMagic1 && region_->SlotBytes(slot_, uc_->fpstate, xstate_size))
    size = xstate_size;
  return std::vector<uint8_t>(fx, fx + size);
}

Result<void> SeccompTrapContext::SetFpState(std::span<const uint8_t> state) {
  std::vector<uint8_t> current = TRY(GetFpState());
  uint8_t* fx = region_->SlotBytes(slot_, uc_->fpstate, current.size());
  size_t n = std::min(state.size(), current.size());
  // The software bytes stay the kernel's: they tell rt_sigreturn what the area holds.
  std::memcpy(fx, state.data(), std::min(n, kSwBytesOffset));
  if (n > kSwBytesOffset + kSwBytesSize)
    std::memcpy(fx + kSwBytesOffset + kSwBytesSize, state.data() + kSwBytesOffset + kSwBytesSize,
                n - kSwBytesOffset - kSwBytesSize);
  return Ok();
}

Result<size_t> SeccompTrapContext::ReadMemory(uint64_t addr, void* dst, size_t n) {
  return ReadThreadMemory(tid_.load(), addr, dst, n);
}

Result<size_t> SeccompTrapContext::WriteMemory(uint64_t addr, const void* src, size_t n) {
  return WriteThreadMemory(tid_.load(), addr, src, n);
}

Result<long> SeccompTrapContext::Inject(long nr, std::array<uint64_t, 6> args) {
  msg_->nr = static_cast<uint64_t>(nr);
  std::copy(args.begin(), args.end(), msg_->args);
  if (!Request(MOAT_STATE_SYSCALL)) return Errno(ESRCH);
  if (msg_->event != MOAT_EVENT_SYSCALL_DONE) return Errno(EIO);
  return static_cast<long>(msg_->result);
}

Result<std::unique_ptr<SeccompTrapContext>> SeccompTrapContext::AwaitReady(
    std::shared_ptr<HostProcess> process, std::shared_ptr<SysmsgRegion> region, uint32_t slot) {
  moat_sysmsg* m = region->Slot(slot);
  auto ready = [m] {
    return Load(&m->state) == MOAT_STATE_EVENT && m->event == MOAT_EVENT_READY;
  };
  if (!AwaitStates({m}, ready, [&] { return process->dead(); })) return Errno(ESRCH);
  // The thread's host tid, as the sentry's PID namespace numbers it.
  f_owner_ex owner{};
  if (fcntl(region->fd(), F_GETOWN_EX, &owner) < 0) return LastErrno();
  if (owner.type != F_OWNER_TID || owner.pid <= 0) return Errno(ESRCH);
  auto ctx = std::make_unique<SeccompTrapContext>(std::move(process), std::move(region), slot,
                                                  owner.pid, Registers{});
  if (!ctx->uc_) return Errno(EFAULT);
  // As the ptrace platform's exec stop shows it: at the entry, on the stack the host built.
  ctx->regs_.rsp = m->initial_sp;
  ctx->regs_.rip = stub::kEntry;
  ctx->regs_.orig_rax = static_cast<uint64_t>(-1);
  return ctx;
}

Result<CloneResult> SeccompTrapContext::Clone(uint64_t flags, uint64_t newsp, uint64_t parent_tid,
                                              uint64_t child_tid, uint64_t tls,
                                              const Registers& child_regs) {
  (void)newsp;  // the application's stack goes in child_regs; the host clone uses the slot's
  absl::MutexLock l(&region_->clone_mu);
  std::shared_ptr<SysmsgRegion> child_region = region_;
  uint32_t child_slot;
  int app_fd = -1;
  if (flags & CLONE_VM) {
    child_slot = TRY(region_->Allocate());
  } else {
    child_region = TRY(SysmsgRegion::Create());
    child_slot = slot_;
    child_region->Take(child_slot);
    app_fd = TRY(InstallFd(child_region->fd()));
  }
  auto free_slot = [&] {
    if (child_region == region_) region_->Free(child_slot);
  };
  uint64_t stack = 0;
  if (flags & CLONE_VM)
    stack = stub::kSysmsgBase + (child_slot + 1) * stub::kSlotSize - 64;
  msg_->args[0] = flags;
  msg_->args[1] = stack;
  msg_->args[2] = parent_tid;
  msg_->args[3] = child_tid;
  msg_->args[4] = tls;
  msg_->args[5] = static_cast<uint64_t>(static_cast<int64_t>(app_fd));
  const uint64_t gate = process_->channel()->clone_gate;
  if (gate) CloneGate::Get().Expect(gate, tid_.load(), flags);
  bool done = Request(MOAT_STATE_CLONE);
  if (gate) CloneGate::Get().Forget(gate, tid_.load());
  long ret = static_cast<long>(msg_->result);
  if (app_fd >= 0 && done) (void)Inject(SYS_close, {static_cast<uint64_t>(app_fd), 0, 0, 0, 0, 0});
  if (!done || msg_->event != MOAT_EVENT_SYSCALL_DONE) {
    free_slot();
    return Errno(ESRCH);
  }
  if (ret < 0) {
    free_slot();
    return Errno(static_cast<int>(-ret));
  }
  // A thread shares its process's fate; a process of its own is watched once its host pid is
  // known (below).
  std::shared_ptr<HostProcess> child_process = (flags & CLONE_THREAD) ? process_ : nullptr;
  // Wait for the child to report ready: the owner of the region's file is then its tid.
  moat_sysmsg* m = child_region->Slot(child_slot);
  auto ready = [m] {
    return Load(&m->state) == MOAT_STATE_EVENT && m->event == MOAT_EVENT_READY;
  };
  if (!AwaitStates({m}, ready, [&] { return ended_.load(); })) {
    LOG_WARNING("clone: the new thread (tid {} in the sandbox) never reported", ret);
    free_slot();
    return Errno(EAGAIN);
  }
  f_owner_ex owner{};
  if (fcntl(child_region->fd(), F_GETOWN_EX, &owner) < 0 || owner.pid <= 0) {
    free_slot();
    return Errno(EAGAIN);
  }
  if (!child_process) {
    child_process = std::make_shared<HostProcess>(owner.pid, process_->channel(), false);
    Watcher::Get().Watch(child_process);
  }
  auto ctx = std::make_unique<SeccompTrapContext>(child_process, child_region, child_slot,
                                                  owner.pid, child_regs);
  ctx->regs_ = child_regs;  // LoadFrame read the stub's; the child starts with these
  ctx->applied_gs_base_ = applied_gs_base_;  // the host clone copied the thread's
  if (!ctx->uc_) return Errno(EFAULT);
  return CloneResult{static_cast<pid_t>(ret), std::move(ctx)};
}

Result<void> SeccompTrapContext::ExecStub() {
  std::shared_ptr<SysmsgRegion> fresh = TRY(SysmsgRegion::Create());
  fresh->Take(0);
  int app_fd = TRY(InstallFd(fresh->fd()));
  msg_->args[0] = static_cast<uint64_t>(app_fd);
  msg_->nr = 0;
  moat_sysmsg* old = msg_;
  moat_sysmsg* next = fresh->Slot(0);
  Store(&old->state, MOAT_STATE_EXEC);
  if (Load(&old->stub_waiting)) FutexWake(&old->state);
  // Either the exec fails and the old stub reports, or the new image reports ready.
  auto ready = [next] {
    return Load(&next->state) == MOAT_STATE_EVENT && next->event == MOAT_EVENT_READY;
  };
  auto failed = [old] { return Load(&old->state) == MOAT_STATE_EVENT; };
  bool ok = AwaitStates({old, next}, [&] { return ready() || failed(); },
                        [&] { return ended_.load(); });
  if (!ok || !ready()) {
    long r = failed() ? static_cast<long>(old->result) : -ESRCH;
    if (failed()) (void)Inject(SYS_close, {static_cast<uint64_t>(app_fd), 0, 0, 0, 0, 0});
    LOG_ERROR("execveat of the stub failed: {}", Errno(r < 0 ? static_cast<int>(-r) : EIO).Name());
    return Errno(r < 0 ? static_cast<int>(-r) : EIO);
  }
  // The other threads of the process died in the exec; a non-leader took the leader's tid.
  process_->OthersGone(this);
  region_->Free(slot_);
  region_ = std::move(fresh);
  slot_ = 0;
  msg_ = next;
  f_owner_ex owner{};
  if (fcntl(region_->fd(), F_GETOWN_EX, &owner) == 0 && owner.pid > 0) tid_ = owner.pid;
  if (!LoadFrame()) return Errno(EFAULT);
  // A fresh image: the host cleared the fs and gs bases.
  regs_.fs_base = 0;
  regs_.gs_base = 0;
  applied_gs_base_ = 0;
  regs_.rsp = next->initial_sp;
  regs_.rip = stub::kEntry;
  regs_.orig_rax = static_cast<uint64_t>(-1);
  return Ok();
}

Result<int> SeccompTrapContext::InstallFd(int fd) {
  return InstallFdThroughChannel(*this, *process_->channel(), fd);
}

Result<void> SeccompTrapContext::TrapPassthrough() {
  return InjectFilter(*this, *process_->channel(),
                      BuildPassthroughTrapFilter(SECCOMP_RET_TRAP, PassthroughExemption::kStubCode));
}

void SeccompTrapContext::Interrupt() {
  syscall(SYS_tgkill, process_->pid(), tid_.load(), stub::kInterruptSignal);
}

void SeccompTrapContext::WillBlock() { Store(&msg_->sentry_blocking, 1); }

void SeccompTrapContext::KillProcess() { kill(process_->pid(), SIGKILL); }

void SeccompTrapContext::Abandon() { End(0, {}); }

// ---- SeccompTrapPlatform ----

namespace {

// Starts a root process on this platform, in the PID namespace of `pidns_fd` (a pidfd) or
// (CLONE_NEWPID) a new one, and waits until its stub is ready.
absl::StatusOr<CloneResult> SpawnTrapRoot(int clone_flags, int pidns_fd = -1) {
  ASSIGN_OR_RETURN(std::vector<sock_filter> prog, BuildTrapAppFilter());
  Result<std::shared_ptr<SysmsgRegion>> region = SysmsgRegion::Create();
  if (!region.ok()) return ErrnoStatus("the shared region of a new process", region.error().value());
  (*region)->Take(0);
  // The stub installs the filter (sysmsg.h): its own exec would not pass it.
  moat_sysmsg* first = (*region)->Slot(0);
  uint8_t* filter = (*region)->SlotBytes(
      0, stub::kSysmsgBase + MOAT_FILTER_OFFSET, prog.size() * sizeof(sock_filter));
  if (!filter) return absl::InternalError("the application filter does not fit its slot");
  std::memcpy(filter, prog.data(), prog.size() * sizeof(sock_filter));
  first->filter_len = prog.size();
  static const std::vector<sock_filter> gate_filter = BuildCloneGateFilter();
  ASSIGN_OR_RETURN(RootProcess root,
                   CloneRoot({.clone_flags = clone_flags, .pidns_fd = pidns_fd,
                              .sysmsg_fd = (*region)->fd(), .ignore_signals = true,
                              .gate_filter = gate_filter}));
  auto process = std::make_shared<HostProcess>(root.pid, root.channel, true);
  Watcher::Get().Watch(process);
  absl::StatusOr<FileDescriptor> listener = ReleaseWithGate(root);
  if (!listener.ok()) {
    kill(root.pid, SIGKILL);
    return listener.status();
  }
  Result<uint64_t> gate = CloneGate::Get().Add(std::move(*listener));
  if (!gate.ok()) {
    kill(root.pid, SIGKILL);
    return ErrnoStatus("epoll_ctl(ADD, a clone gate's listener)", gate.error());
  }
  root.channel->clone_gate = *gate;
  Result<std::unique_ptr<SeccompTrapContext>> ctx =
      SeccompTrapContext::AwaitReady(process, *region, 0);
  if (!ctx.ok()) {
    kill(root.pid, SIGKILL);
    return absl::InternalError(fmt::format("a new application process did not start its stub ({})",
                                           ctx.error().Name()));
  }
  absl::StatusOr<pid_t> pid = SandboxPid(**ctx);
  if (!pid.ok()) {
    (*ctx)->KillProcess();
    return pid.status();
  }
  return CloneResult{*pid, std::move(*ctx)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Context>> SeccompTrapPlatform::SpawnInit() {
  ASSIGN_OR_RETURN(CloneResult root, SpawnTrapRoot(CLONE_NEWPID));
  absl::Status s = root.tid == 1 ? pid_ns_.Record(root.context->host_pid())
                                 : absl::InternalError(fmt::format(
                                       "the stub does not answer as pid 1 of its namespace (got {})",
                                       root.tid));
  if (!s.ok()) {
    root.context->KillProcess();
    return s;
  }
  return std::move(root.context);
}

absl::StatusOr<CloneResult> SeccompTrapPlatform::SpawnProcess() {
  return pid_ns_.Spawn([](int pidns_fd) { return SpawnTrapRoot(0, pidns_fd); });
}

}  // namespace moat::platform
