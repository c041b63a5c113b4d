// The host-readiness notifier: one sentry thread for the whole sandbox watches the pollable host
// fds the sentry holds for the application (its stdio, terminals and pipes: fsimpl/host_fd.h;
// host sockets: socket/hostinet/) with edge-triggered epoll, and notifies each fd's WaitQueue
// with the events the host reported. A task that must wait for a host fd registers on that
// queue, re-checks the fd (poll with a zero timeout), and blocks.
//
// Lock order: HostNotifier's lock, then the WaitQueue's (Notify runs under it), so Remove()
// guarantees the notifier never touches a queue again once it returns.
#ifndef MOAT_SENTRY_KERNEL_HOST_NOTIFIER_H_
#define MOAT_SENTRY_KERNEL_HOST_NOTIFIER_H_

#include <map>

#include "absl/synchronization/mutex.h"
#include "base/file_descriptor.h"
#include "sentry/kernel/waitqueue.h"

namespace moat::kernel {

class HostNotifier {
 public:
  // The sandbox's notifier; its thread starts on first use and lives as long as the sentry.
  static HostNotifier& Get();

  // Watches `fd` for input, output, hang-ups and errors, and notifies `queue` (not owned) with
  // what the host reports. False if epoll refuses the fd (a regular file, a directory).
  bool Add(int fd, WaitQueue* queue);
  // Stops watching `fd`. After it returns, `fd`'s queue is never notified again.
  void Remove(int fd);

 private:
  HostNotifier();
  void Loop();

  FileDescriptor epfd_;
  absl::Mutex mu_;
  std::map<int, WaitQueue*> queues_ ABSL_GUARDED_BY(mu_);
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_HOST_NOTIFIER_H_
