#include "sentry/kernel/host_notifier.h"

#include <sys/epoll.h>

#include <thread>

namespace moat::kernel {

HostNotifier& HostNotifier::Get() {
  static HostNotifier* n = new HostNotifier();  // lives as long as the sandbox
  return *n;
}

HostNotifier::HostNotifier() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  std::thread([this] { Loop(); }).detach();
}

bool HostNotifier::Add(int fd, WaitQueue* queue) {
  absl::MutexLock l(&mu_);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return false;
  queues_[fd] = queue;
  return true;
}

void HostNotifier::Remove(int fd) {
  absl::MutexLock l(&mu_);
  epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  queues_.erase(fd);
}

void HostNotifier::Loop() {
  epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(epfd_.get(), evs, 64, -1);
    absl::MutexLock l(&mu_);
    for (int i = 0; i < n; i++) {
      auto it = queues_.find(evs[i].data.fd);
      // epoll's bits are poll's (EPOLLIN is POLLIN...), which EventMask is.
      if (it != queues_.end()) it->second->Notify(evs[i].events);
    }
  }
}

}  // namespace moat::kernel
