// File ownership, F_SETSIG and O_ASYNC (fasync.h), after Linux's fs/fcntl.c.
#include "sentry/vfs/fasync.h"

#include <poll.h>
#include <signal.h>

#include <utility>

#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {
namespace {

using kernel::EventMask;
using kernel::Kernel;
using kernel::Task;
using kernel::ThreadGroup;

// What each reason means as poll bits (band_table in fs/fcntl.c), from POLL_IN on.
constexpr long kBands[] = {
    POLLIN | POLLRDNORM,                // POLL_IN
    POLLOUT | POLLWRNORM | POLLWRBAND,  // POLL_OUT
    POLLIN | POLLRDNORM | POLLMSG,      // POLL_MSG
    POLLERR,                            // POLL_ERR
    POLLPRI | POLLRDBAND,               // POLL_PRI
    POLLHUP | POLLERR,                  // POLL_HUP
};

// The events that count as input and output for an O_ASYNC registration.
constexpr EventMask kInEvents =
    kernel::kEventIn | kernel::kEventRdNorm | kernel::kEventHup | kernel::kEventRdHup;
constexpr EventMask kOutEvents = kernel::kEventOut | kernel::kEventWrNorm | kernel::kEventErr;

// Signals whose si_code values mean something of their own (sig_specific_sicodes): with one of
// them as F_SETSIG, a POLL_* code would be ambiguous, so Linux sends SI_SIGIO.
bool HasSpecificCodes(int sig) {
  switch (sig) {
    case SIGILL:
    case SIGFPE:
    case SIGSEGV:
    case SIGBUS:
    case SIGTRAP:
    case SIGCHLD:
    case SIGPOLL:
    case SIGSYS:
      return true;
    default:
      return false;
  }
}

// Whether an owner set with credentials `o` may signal a process whose credentials are `c`
// (sigio_perm).
bool MaySignal(const FileOwner& o, const kernel::Credentials& c) {
  return o.euid == 0 || o.euid == c.suid || o.euid == c.ruid || o.uid == c.suid ||
         o.uid == c.ruid;
}

// The task whose credentials a process is judged by.
Task* Representative(ThreadGroup* tg) {
  if (tg->leader) return tg->leader;
  return tg->tasks.empty() ? nullptr : tg->tasks.front();
}

// Whether any thread, process, process group or session is called `id` (find_vpid).
bool IdInUse(Kernel& k, pid_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (k.TaskByTid(id) || k.GroupByPid(id)) return true;
  for (ThreadGroup* tg : k.Groups()) {
    if (!tg->zombie && (tg->pgid == id || tg->sid == id)) return true;
  }
  return false;
}

// Whether the owner still exists (f_getown's pid_task check): a reaped process or an empty
// process group reads as 0.
bool OwnerAlive(Kernel& k, const FileOwner& o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  if (o.id <= 0) return false;
  switch (o.type) {
    case F_OWNER_TID:
      return k.TaskByTid(o.id) != nullptr;
    case F_OWNER_PID:
      return k.GroupByPid(o.id) != nullptr;
    default:
      return k.ProcessGroupExists(o.id);
  }
}

// send_sigio_to_task(): the F_SETSIG signal with the details, falling back to plain SIGIO if
// a real-time signal cannot be queued; plain SIGIO without F_SETSIG.
void SendOne(Kernel& k, ThreadGroup* tg, Task* thread, const FileOwner& o, int sig, int fd,
             int reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
  Task* judge = thread ? thread : Representative(tg);
  if (!judge || !MaySignal(o, *judge->creds())) return;
  auto send = [&](const siginfo_t& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(k.mu_) {
    return thread ? k.SendThreadSignal(thread, info) : k.SendGroupSignal(tg, info);
  };
  if (sig != 0) {
    siginfo_t info{};
    info.si_signo = sig;
    info.si_code = (sig != SIGPOLL && HasSpecificCodes(sig)) ? SI_SIGIO : reason;
    const int idx = reason - POLL_IN;
    info.si_band = (idx >= 0 && idx < static_cast<int>(std::size(kBands))) ? kBands[idx] : ~0L;
    info.si_fd = fd;
    if (send(info).ok()) return;
  }
  siginfo_t info{};
  info.si_signo = SIGIO;
  info.si_code = SI_KERNEL;
  (void)send(info);
}

}  // namespace

FileAsync::~FileAsync() { Unregister(); }

Result<void> FileAsync::SetOwner(Task& t, int type, pid_t id, bool force) {
  Kernel& k = t.kernel();
  if (id != 0) {
    absl::MutexLock l(&k.mu_);
    if (id < 0 || !IdInUse(k, id)) return Errno(ESRCH);
  }
  RefPtr<kernel::Credentials> creds = t.creds();
  absl::MutexLock l(&mu_);
  if (!force && owner_.id != 0) return Ok();
  owner_.type = type;
  owner_.id = id;
  kernel_ = &k;
  // f_modown() records the credentials only for a real owner.
  if (id != 0) {
    owner_.uid = creds->ruid;
    owner_.euid = creds->euid;
  }
  return Ok();
}

FileOwner FileAsync::GetOwner(Kernel& k) {
  FileOwner o;
  {
    absl::MutexLock l(&mu_);
    o = owner_;
  }
  absl::MutexLock l(&k.mu_);
  if (!OwnerAlive(k, o)) o.id = 0;
  return o;
}

pid_t FileAsync::GetOwn(Kernel& k) {
  FileOwner o = GetOwner(k);
  return o.type == F_OWNER_PGRP ? -o.id : o.id;
}

void FileAsync::ClearOwnerAndSignal() {
  absl::MutexLock l(&mu_);
  // f_delown() leaves a process owner of 0.
  owner_ = FileOwner{F_OWNER_PID, 0, owner_.uid, owner_.euid};
  signal_ = 0;
}

int FileAsync::signal() {
  absl::MutexLock l(&mu_);
  return signal_;
}

void FileAsync::set_signal(int sig) {
  absl::MutexLock l(&mu_);
  signal_ = sig;
}

void FileAsync::SendSigio(int fd, int reason) {
  FileOwner o;
  int sig;
  Kernel* k;
  {
    absl::MutexLock l(&mu_);
    o = owner_;
    sig = signal_;
    k = kernel_;
  }
  if (o.id == 0 || !k) return;
  absl::MutexLock l(&k->mu_);
  switch (o.type) {
    case F_OWNER_TID:
      if (Task* t = k->TaskByTid(o.id)) SendOne(*k, &t->thread_group(), t, o, sig, fd, reason);
      return;
    case F_OWNER_PID: {
      // The id may be any thread's; the whole process hears it.
      ThreadGroup* tg = nullptr;
      if (Task* t = k->TaskByTid(o.id)) {
        tg = &t->thread_group();
      } else {
        tg = k->GroupByPid(o.id);
      }
      if (tg && !tg->zombie) SendOne(*k, tg, nullptr, o, sig, fd, reason);
      return;
    }
    default:
      for (ThreadGroup* tg : k->Groups()) {
        if (!tg->zombie && tg->pgid == o.id) SendOne(*k, tg, nullptr, o, sig, fd, reason);
      }
      return;
  }
}

void FileAsync::Register(FileDescription& file, int fd) {
  absl::MutexLock rl(&reg_mu_);
  EventMask mask = 0;
  {
    absl::MutexLock l(&mu_);
    fd_ = fd;
    in_events_ = file.readable() ? kInEvents : 0;
    out_events_ = file.writable() ? kOutEvents : 0;
    mask = in_events_ | out_events_;
  }
  if (queue_) return;
  kernel::WaitQueue* q = file.Queue();
  if (!q) return;
  waiter_.mask = mask;
  queue_ = q;
  queue_->Add(&waiter_);
}

bool FileAsync::Unregister() {
  absl::MutexLock rl(&reg_mu_);
  if (!queue_) return false;
  queue_->Remove(&waiter_);
  queue_ = nullptr;
  return true;
}

void FileAsync::Wake(EventMask events) {
  int fd;
  bool in, out;
  {
    absl::MutexLock l(&mu_);
    fd = fd_;
    in = events & in_events_;
    out = events & out_events_;
  }
  if (in) SendSigio(fd, POLL_IN);
  if (out) SendSigio(fd, POLL_OUT);
}

bool SetAsync(FileDescription& file, int fd, bool on) {
  if (!file.SupportsAsync() || !file.Queue()) return false;
  if (on) {
    file.Async().Register(file, fd);
    file.SetAsyncFlag(true);
  } else if (FileAsync* a = file.AsyncIfAny(); a && a->Unregister()) {
    file.SetAsyncFlag(false);
  }
  return true;
}

}  // namespace moat::vfs
