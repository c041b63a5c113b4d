// The task loop, application memory access and blocking.
#include "sentry/kernel/task.h"

#include <climits>
#include <cstring>
#include <system_error>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "base/log.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"
#include "sentry/vfs/vfs.h"

namespace moat::kernel {

namespace {
// The task whose thread this is (set when its loop starts).
thread_local Task* g_current_task = nullptr;
}  // namespace

Task::Task(Kernel* kernel, RefPtr<ThreadGroup> tg, pid_t tid,
           std::unique_ptr<platform::Context> ctx)
    : kernel_(kernel), tg_(std::move(tg)), tid_(tid), ctx_(std::move(ctx)),
      start_time_(absl::Now()) {}

Task* Task::Current() { return g_current_task; }

Task::~Task() = default;

pid_t Task::pid() const { return tg_->pid(); }

// ---- Application memory ----

Result<size_t> Task::CopyInPartial(UserAddr src, void* dst, size_t n) {
  return ctx_->ReadMemory(src.value(), dst, n);
}

Result<size_t> Task::CopyOutPartial(UserAddr dst, const void* src, size_t n) {
  return ctx_->WriteMemory(dst.value(), src, n);
}

Result<size_t> Task::PeekMemory(uint64_t addr, void* dst, size_t n) {
  return ctx_->ReadMemory(addr, dst, n);
}

Result<void> Task::CopyIn(UserAddr src, void* dst, size_t n) {
  if (n == 0) return Ok();
  if (src.value() + n < src.value() || src.value() + n > kMaxUserAddress) return Errno(EFAULT);
  size_t got = TRY(ctx_->ReadMemory(src.value(), dst, n));
  if (got != n) return Errno(EFAULT);
  return Ok();
}

Result<void> Task::CopyOut(UserAddr dst, const void* src, size_t n) {
  if (n == 0) return Ok();
  if (dst.value() + n < dst.value() || dst.value() + n > kMaxUserAddress) return Errno(EFAULT);
  size_t put = TRY(ctx_->WriteMemory(dst.value(), src, n));
  if (put != n) return Errno(EFAULT);
  return Ok();
}

Result<std::string> Task::CopyInString(UserAddr src, size_t max) {
  std::string out;
  uint64_t addr = src.value();
  char buf[4096];
  while (out.size() <= max) {
    // Never read across a page boundary in one go: the next page may be unmapped although the
    // string ends before it.
    size_t chunk = kPageSize - (addr % kPageSize);
    size_t got = TRY(ctx_->ReadMemory(addr, buf, chunk));
    if (got == 0) return Errno(EFAULT);
    const char* nul = static_cast<const char*>(std::memchr(buf, 0, got));
    if (nul) {
      out.append(buf, nul - buf);
      if (out.size() > max) break;
      return out;
    }
    out.append(buf, got);
    addr += got;
  }
  return Errno(ENAMETOOLONG);
}

Result<std::string> Task::CopyInPath(UserAddr src) {
  if (src.IsNull()) return Errno(EFAULT);
  return CopyInString(src, PATH_MAX - 1);
}

Result<std::vector<std::string>> Task::CopyInStringArray(UserAddr src, size_t max_total) {
  std::vector<std::string> out;
  if (src.IsNull()) return out;
  size_t total = 0;
  for (uint64_t i = 0;; i++) {
    uint64_t p = TRY(CopyInObj<uint64_t>(src + i * 8));
    if (p == 0) break;
    if (total >= max_total) return Errno(E2BIG);
    std::string s = TRY(CopyInString(UserAddr(p), max_total - total));
    total += s.size() + 1 + sizeof(uint64_t);
    if (total > max_total) return Errno(E2BIG);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<iovec>> Task::CopyInIovecs(UserAddr src, int64_t count) {
  if (count < 0 || count > IOV_MAX) return Errno(EINVAL);
  std::vector<iovec> iov(count);
  if (count > 0) RETURN_IF_ERRNO(CopyIn(src, iov.data(), count * sizeof(iovec)));
  size_t total = 0;
  for (const iovec& v : iov) {
    if (static_cast<ssize_t>(v.iov_len) < 0) return Errno(EINVAL);
    total += v.iov_len;
    if (static_cast<ssize_t>(total) < 0) return Errno(EINVAL);
  }
  return iov;
}

// ---- Shared state ----

RefPtr<Credentials> Task::creds() const {
  absl::MutexLock l(&creds_mu_);
  return creds_;
}

void Task::set_creds(RefPtr<Credentials> c) {
  absl::MutexLock l(&creds_mu_);
  creds_ = std::move(c);
}

// The setters swap under shared_mu_ and drop the old reference after it: the last reference to
// a memory manager or fd table may run destructors that should not run under a lock.
void Task::set_mm(RefPtr<mm::MemoryManager> m) {
  absl::MutexLock l(&shared_mu_);
  mm_.swap(m);
}
void Task::set_fds(RefPtr<vfs::FdTable> f) {
  absl::MutexLock l(&shared_mu_);
  fds_.swap(f);
}
void Task::set_fs(RefPtr<vfs::FsContext> f) {
  absl::MutexLock l(&shared_mu_);
  fs_.swap(f);
}
void Task::set_mount_ns(RefPtr<vfs::MountNamespace> ns) {
  absl::MutexLock l(&shared_mu_);
  mount_ns_.swap(ns);
}

RefPtr<mm::MemoryManager> Task::SharedMM() const {
  absl::MutexLock l(&shared_mu_);
  return mm_;
}
RefPtr<vfs::FdTable> Task::SharedFds() const {
  absl::MutexLock l(&shared_mu_);
  return fds_;
}
RefPtr<vfs::FsContext> Task::SharedFs() const {
  absl::MutexLock l(&shared_mu_);
  return fs_;
}
RefPtr<vfs::MountNamespace> Task::SharedMountNs() const {
  absl::MutexLock l(&shared_mu_);
  return mount_ns_;
}

std::string Task::name() const {
  absl::MutexLock l(&name_mu_);
  return name_;
}

void Task::set_name(std::string n) {
  if (n.size() > 15) n.resize(15);  // TASK_COMM_LEN - 1
  absl::MutexLock l(&name_mu_);
  name_ = std::move(n);
}

// ---- Blocking ----

void Task::Wake(EventMask) {
  absl::MutexLock l(&wake_mu_);
  woken_ = true;
}

void Task::Kick() {
  interrupted_.store(true);
  {
    absl::MutexLock l(&wake_mu_);  // a Block() in progress re-evaluates its condition
  }
  if (in_app_.load()) ctx_->Interrupt();
}

Result<void> Task::Block(std::optional<absl::Time> deadline) {
  if (ctx_) ctx_->WillBlock();  // tests make tasks without a thread
  absl::MutexLock l(&wake_mu_);
  blocked_.store(true);
  absl::Cleanup unblocked = [this] { blocked_.store(false); };
  // A task that is being killed never sleeps again: its host thread is going away.
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    return woken_ || interrupted_.load() || killed_.load();
  };
  absl::Condition cond(&ready);
  if (deadline) {
    if (!wake_mu_.AwaitWithDeadline(cond, *deadline)) return Errno(ETIMEDOUT);
  } else {
    wake_mu_.Await(cond);
  }
  if (woken_ && !killed_.load()) {
    woken_ = false;
    return Ok();
  }
  return Errno(EINTR);
}

Result<void> Task::BlockKillable() {
  if (ctx_) ctx_->WillBlock();  // tests make tasks without a thread
  absl::MutexLock l(&wake_mu_);
  blocked_.store(true);
  absl::Cleanup unblocked = [this] { blocked_.store(false); };
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    return woken_ || killed_.load();
  };
  wake_mu_.Await(absl::Condition(&ready));
  if (woken_) {
    woken_ = false;
    return Ok();
  }
  return Errno(EINTR);
}

void Task::WaitWhilePaused() {
  absl::MutexLock l(&wake_mu_);
  // Kernel::Resume and Kick take wake_mu_, so the condition is evaluated again after either.
  auto resumed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
    return !kernel_->paused() || killed_.load();
  };
  wake_mu_.Await(absl::Condition(&resumed));
}

void Task::Kill() {
  killed_.store(true);
  Kick();
}

// ---- The loop ----

void Task::Start() {
  RefPtr<Task> self(this);
  try {
    std::thread([self] {
      Result<void> r = self->ctx_->Adopt();
      if (!r.ok()) {
        LOG_WARNING("task {}: attaching its thread failed: {}", self->tid_, r.error().Name());
        self->Exited(SIGKILL, {});
        return;
      }
      self->Run();
    }).detach();
  } catch (const std::system_error& e) {
    // The host has no thread for the task (its pids or memory maps are exhausted): the clone
    // happened already, so the process it belongs to dies, as under a host OOM, and the sentry
    // goes on.
    LOG_ERROR("task {}: no host thread for it ({}); killing its process", tid_, e.what());
    ctx_->KillProcess();
    Exited(SIGKILL, {});
  }
}

void Task::Run() {
  g_current_task = this;
  for (;;) {
    in_app_.store(true);
    // A syscall left to the host (kEHOSTSYSCALL, or the exit of a seccomp kill) runs first: a
    // signal that is pending interrupts it there if it blocks, with the restart rules applied
    // after; handling signals now would cancel it.
    bool host_syscall = static_cast<int64_t>(ctx_->Regs().orig_rax) >= 0;
    if (interrupted_.load() && !host_syscall) {
      in_app_.store(false);
      HandleSignals();
      in_app_.store(true);
    }
    // Kernel::Pause sets the flag before it interrupts the tasks that it sees in application
    // code; in_app_ is set before the flag is read here, so one of the two always notices.
    if (kernel_->paused() && !killed_.load()) {
      in_app_.store(false);
      WaitWhilePaused();
      continue;
    }
    platform::Event e = ctx_->Switch();
    in_app_.store(false);
    switch (e.type) {
      case platform::EventType::kSyscall:
        HandleSyscall();
        break;
      case platform::EventType::kFault:
        HandleFault(e.siginfo);
        break;
      case platform::EventType::kInterrupt:
        HandleSignals();
        break;
      case platform::EventType::kExit:
        Exited(e.wait_status, e.usage);
        return;
    }
  }
}

namespace {

void LogSyscall(Task& t, const SyscallEntry* entry, const SyscallArgs& a, const Result<long>& r) {
  std::string result;
  if (r.ok()) {
    result = fmt::format("{:#x}", r.value());
  } else if (r.error().value() == kEJUSTRETURN) {
    result = "(registers set)";
  } else {
    result = r.error().Name();
  }
  LogMessage(LogLevel::kInfo, __FILE__, __LINE__,
             fmt::format("[{}:{}] {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = {}", t.pid(),
                         t.tid(), entry && entry->name ? entry->name : "?", a.a[0], a.a[1],
                         a.a[2], a.a[3], a.a[4], a.a[5], result));
}

}  // namespace

void Task::HandleSyscall() {
  platform::Registers& r = ctx_->Regs();
  SyscallArgs args{static_cast<int>(r.orig_rax), {r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9}};
  if (seccomp_.mode() != SECCOMP_MODE_DISABLED) {
    // The task's own seccomp filters see the syscall before anything else does.
    switch (SeccompCheckSyscall(*this, args)) {
      case SeccompVerdict::kRun:
        break;
      case SeccompVerdict::kReturn:
        HandleSignals();
        return;
      case SeccompVerdict::kHostSyscall:
        return;
    }
  }
  const SyscallEntry* entry = nullptr;
  if (args.nr >= 0 && args.nr < kMaxSyscall) entry = &kernel_->syscall_table()[args.nr];
  Result<long> res = Errno(ENOSYS);
  if (entry && entry->fn) {
    res = entry->fn(*this, args);
  } else if (entry && entry->support == Support::kError) {
    res = Errno(entry->err);
    if (entry->note == kNotImplemented) kernel_->ReportUnimplemented(args.nr);
  } else {
    kernel_->ReportUnimplemented(args.nr);
  }
  if (StraceEnabled()) LogSyscall(*this, entry, args, res);

  if (!res.ok() && res.error().value() == kEHOSTSYSCALL) {
    // The host runs the syscall as trapped. A signal that arrived meanwhile must still interrupt
    // it if it blocks.
    if (interrupted_.load()) ctx_->Interrupt();
    return;
  }
  // `r` is the context's register set: a handler that replaced the registers (execve,
  // rt_sigreturn) changed it in place.
  if (res.ok()) {
    r.rax = static_cast<uint64_t>(res.value());
  } else if (res.error().value() == kEJUSTRETURN) {
    r.orig_rax = static_cast<uint64_t>(-1);
  } else {
    r.rax = static_cast<uint64_t>(-static_cast<int64_t>(res.error().value()));
  }
  HandleSignals();
}

}  // namespace moat::kernel
