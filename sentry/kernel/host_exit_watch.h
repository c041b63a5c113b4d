// HostExitWatch: notices that the host process of an application process has exited although the
// sentry did not end it: the host's OOM killer, a SIGKILL sent to it from outside the sandbox, or
// the host's teardown of the sandbox's PID namespace after its init died.
//
// A task thread learns of its host process's exit only when it waits for its thread in the
// platform (Context::Switch). A task that sleeps in the sentry (Task::Block: wait4, nanosleep, a
// pipe read) would not notice until its syscall ended, and until then its dead host process stays
// an unreaped tracee. That is more than a late exit: when the PID namespace's init dies, the host
// kills every other process of the namespace and waits until each is reaped before the init's own
// exit completes, so one task asleep in the sentry held the whole sandbox up (an init killed on
// the host while it waited for a child never exited). The watch wakes such tasks.
//
// One thread polls a pidfd per process (EPOLLONESHOT: a process exits once) and calls back with
// the process's pidfd and its cookie; the caller owns the pidfd and ends the watch by closing it.
//
// Lock order: HostExitWatch::mu_ is a leaf. The callback runs on the watch thread with no lock
// held; it may take Kernel::mu_ (under which Watch is called).
#ifndef MOAT_SENTRY_KERNEL_HOST_EXIT_WATCH_H_
#define MOAT_SENTRY_KERNEL_HOST_EXIT_WATCH_H_

#include <sys/types.h>

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "base/file_descriptor.h"

namespace moat::kernel {

class HostExitWatch {
 public:
  // `on_exit(pidfd, cookie)` runs on the watch thread once the process of `pidfd` has exited.
  explicit HostExitWatch(std::function<void(int pidfd, pid_t cookie)> on_exit);
  // Stops the watch thread; no callback runs after it returns.
  ~HostExitWatch();
  HostExitWatch(const HostExitWatch&) = delete;
  HostExitWatch& operator=(const HostExitWatch&) = delete;

  // Watches host process `host_pid` (a pid in the sentry's PID namespace, of a live process)
  // and returns its pidfd, which the caller keeps: closing it ends the watch. An invalid
  // descriptor if the process cannot be watched (the reason is logged).
  FileDescriptor Watch(pid_t host_pid, pid_t cookie);

 private:
  void Loop();

  std::function<void(int, pid_t)> on_exit_;
  absl::Mutex mu_;
  // Made, and the thread started, by the first Watch.
  FileDescriptor epoll_ ABSL_GUARDED_BY(mu_);
  FileDescriptor stop_ ABSL_GUARDED_BY(mu_);  // an eventfd: written to end the thread
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_HOST_EXIT_WATCH_H_
