// HostExitWatch: one thread, an epoll set of pidfds (host_exit_watch.h).
#include "sentry/kernel/host_exit_watch.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "base/errno.h"
#include "base/log.h"

namespace moat::kernel {
namespace {

// The epoll data of the stop eventfd; a pidfd's is its number and the cookie.
constexpr uint64_t kStopToken = UINT64_MAX;

uint64_t Token(int pidfd, pid_t cookie) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pidfd)) << 32) | static_cast<uint32_t>(cookie);
}

}  // namespace

HostExitWatch::HostExitWatch(std::function<void(int, pid_t)> on_exit)
    : on_exit_(std::move(on_exit)) {}

HostExitWatch::~HostExitWatch() {
  std::thread thread;
  {
    absl::MutexLock l(&mu_);
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    if (write(stop_.get(), &one, sizeof(one)) != sizeof(one))
      LOG_WARNING("host exit watch: write(stop eventfd): {}", LastErrno().Name());
    thread = std::move(thread_);
  }
  thread.join();
}

FileDescriptor HostExitWatch::Watch(pid_t host_pid, pid_t cookie) {
  absl::MutexLock l(&mu_);
  if (!epoll_.valid()) {
    epoll_ = FileDescriptor(epoll_create1(EPOLL_CLOEXEC));
    stop_ = FileDescriptor(eventfd(0, EFD_CLOEXEC));
    if (!epoll_.valid() || !stop_.valid()) {
      LOG_WARNING("host exit watch: epoll_create1/eventfd: {}", LastErrno().Name());
      epoll_.Reset();
      return FileDescriptor();
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kStopToken;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_.get(), &ev) < 0) {
      LOG_WARNING("host exit watch: epoll_ctl(stop eventfd): {}", LastErrno().Name());
      epoll_.Reset();
      return FileDescriptor();
    }
    thread_ = std::thread([this] { Loop(); });
  }
  FileDescriptor pidfd(static_cast<int>(syscall(SYS_pidfd_open, host_pid, 0)));
  if (!pidfd.valid()) {
    LOG_WARNING("host exit watch: pidfd_open({}): {}", host_pid, LastErrno().Name());
    return pidfd;
  }
  // One-shot: a process exits once, and its pidfd stays readable until it is closed.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = Token(pidfd.get(), cookie);
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &ev) < 0) {
    LOG_WARNING("host exit watch: epoll_ctl(pidfd of {}): {}", host_pid, LastErrno().Name());
    return FileDescriptor();
  }
  return pidfd;
}

void HostExitWatch::Loop() {
  int epfd;
  {
    absl::MutexLock l(&mu_);
    epfd = epoll_.get();
  }
  for (;;) {
    epoll_event events[16];
    int n = epoll_wait(epfd, events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG_WARNING("host exit watch: epoll_wait: {}", LastErrno().Name());
      return;
    }
    for (int i = 0; i < n; i++) {
      uint64_t token = events[i].data.u64;
      if (token == kStopToken) return;
      on_exit_(static_cast<int>(token >> 32), static_cast<pid_t>(token & 0xffffffff));
    }
  }
}

}  // namespace moat::kernel
