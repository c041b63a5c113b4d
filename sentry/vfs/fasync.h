// File ownership and signal-driven I/O: the owner that fcntl(F_SETOWN) records on an open file
// description (Linux's fown_struct), the signal F_SETSIG chooses, the O_ASYNC registration that
// turns the file's readiness changes into signals (fasync), and SendSigio (send_sigio), which
// dnotify and lease breaks use too.
//
// O_ASYNC works for every kind of file that says FileDescription::SupportsAsync() and has a
// Queue(): the registration is a waiter on that queue, so each Notify() that the file's own code
// makes (a pipe write, an inotify event, a host fd becoming ready) becomes a signal: POLL_IN for
// input events to a description open for reading, POLL_OUT for output events to one open for
// writing, like the kill_fasync calls of Linux's pipes. Where a file notifies its queue where
// Linux does not call kill_fasync, the owner hears more than on Linux: a FIFO's ends hear a
// partner's open; and the reverse, a pipe read that finds nothing sends writers no POLL_OUT.
//
// Ownership: a FileDescription owns its FileAsync (made on first use, freed with it). The
// registration is removed in FileDescription::OnLastRef, before any destructor runs, while the
// queue is still whole.
//
// Lock order:
//   FileAsync::reg_mu_
//     WaitQueue::mu_ (the file's queue; Wake runs under it and under the file's own locks)
//       FileAsync::mu_
//       Kernel::mu_ (signals are sent with FileAsync::mu_ released)
#ifndef MOAT_SENTRY_VFS_FASYNC_H_
#define MOAT_SENTRY_VFS_FASYNC_H_

#include <fcntl.h>
#include <sys/types.h>

#include "absl/synchronization/mutex.h"
#include "base/errno.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {
class Kernel;
class Task;
}  // namespace moat::kernel

namespace moat::vfs {

class FileDescription;

// Who hears a file's signals. A never-owned file reads as a thread owner with id 0, as Linux's
// zeroed f_owner does; id 0 means nobody.
struct FileOwner {
  int type = F_OWNER_TID;  // F_OWNER_TID, F_OWNER_PID or F_OWNER_PGRP
  pid_t id = 0;
  // The real and effective uid of whoever set the owner: send_sigio's permission check.
  uid_t uid = 0;
  uid_t euid = 0;
};

class FileAsync final : public kernel::Wakeable {
 public:
  FileAsync() = default;
  FileAsync(const FileAsync&) = delete;
  FileAsync& operator=(const FileAsync&) = delete;
  ~FileAsync();

  // F_SETOWN / F_SETOWN_EX by `t`: owner `type`/`id` with t's credentials. ESRCH if `id` names
  // no thread, process, process group or session (find_vpid); 0 always works. With `force`
  // false it only fills an empty owner (dnotify and leases make the caller the owner then).
  Result<void> SetOwner(kernel::Task& t, int type, pid_t id, bool force = true);
  // The owner as F_GETOWN_EX reports it: id 0 once the owner is gone.
  FileOwner GetOwner(kernel::Kernel& k);
  // F_GETOWN: the owner's id, negative for a process group; 0 once it is gone.
  pid_t GetOwn(kernel::Kernel& k);
  // Forgets the owner and the signal (a lease's removal does this, lease_modify).
  void ClearOwnerAndSignal();

  int signal();
  void set_signal(int sig);

  // Sends the owner the F_SETSIG signal (SIGIO if none) about `fd` for `reason` (POLL_IN,
  // POLL_OUT, POLL_MSG, ...): send_sigio.
  void SendSigio(int fd, int reason);

  // O_ASYNC on: signals for `file`'s readiness changes, naming `fd`. The caller has checked
  // file.SupportsAsync(). A second call only updates the fd.
  void Register(FileDescription& file, int fd);
  // O_ASYNC off; returns whether it was on (Linux clears the flag only then).
  bool Unregister();

  // Implements Wakeable::Wake: the file's queue was notified with `events`.
  void Wake(kernel::EventMask events) override;

 private:
  absl::Mutex reg_mu_;
  kernel::WaitQueue* queue_ ABSL_GUARDED_BY(reg_mu_) = nullptr;
  kernel::Waiter waiter_{this, 0};

  absl::Mutex mu_;
  kernel::Kernel* kernel_ ABSL_GUARDED_BY(mu_) = nullptr;  // not owned; set with the owner
  FileOwner owner_ ABSL_GUARDED_BY(mu_);
  int signal_ ABSL_GUARDED_BY(mu_) = 0;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  kernel::EventMask in_events_ ABSL_GUARDED_BY(mu_) = 0;   // what means POLL_IN here
  kernel::EventMask out_events_ ABSL_GUARDED_BY(mu_) = 0;  // what means POLL_OUT here
};

// F_SETFL's and FIOASYNC's O_ASYNC change on `file` open as `fd` (setfl / ioctl_fioasync):
// registers or unregisters and sets the flag. Returns false if the file has no fasync support
// (the flag then stays as it was).
bool SetAsync(FileDescription& file, int fd, bool on);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_FASYNC_H_
