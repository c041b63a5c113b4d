// The parts of hostinet (hostinet.h) that its files share: the socket over a host fd, the
// registry of live sockets, and the host's rtnetlink, read for the interfaces.
//
// Locking: SocketRegistry::mu_ is a leaf; a HostSocket has no lock of its own beyond the base
// class's option lock (the host fd is safe to use from any thread).
#ifndef MOAT_SENTRY_SOCKET_HOSTINET_HOST_SOCKET_H_
#define MOAT_SENTRY_SOCKET_HOSTINET_HOST_SOCKET_H_

#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "base/file_descriptor.h"
#include "sentry/socket/socket.h"
#include "sentry/socket/stack.h"

namespace moat::sockets::hostinet {

class HostSocket;

// The sandbox's live host sockets, for Stack::Sockets.
class SocketRegistry {
 public:
  void Add(HostSocket* s);
  void Remove(HostSocket* s);
  // References to every socket still alive.
  std::vector<RefPtr<HostSocket>> All();

 private:
  absl::Mutex mu_;
  std::set<HostSocket*> sockets_ ABSL_GUARDED_BY(mu_);
};

class HostSocket final : public Socket {
 public:
  // Takes `fd` (non-blocking on the host); `flags` are the sandbox's file status flags.
  HostSocket(FileDescriptor fd, int family, int type, int protocol, int flags, uint32_t uid,
             uint32_t gid, std::shared_ptr<SocketRegistry> registry);
  ~HostSocket() override;

  Result<void> Bind(Task& task, const SockAddr& addr) override;
  Result<void> Connect(Task& task, const SockAddr& addr) override;
  Result<void> Listen(Task& task, int backlog) override;
  Result<RefPtr<Socket>> Accept(Task& task, int flags, SockAddr* peer) override;
  Result<size_t> SendMsg(Task& task, SendArgs& args) override;
  Result<RecvResult> RecvMsg(Task& task, std::span<uint8_t> buf, int flags) override;
  Result<void> Shutdown(Task& task, int how) override;
  Result<SockAddr> GetSockName(Task& task) override;
  Result<SockAddr> GetPeerName(Task& task) override;
  Result<std::vector<uint8_t>> GetSockOpt(Task& task, int level, int name, size_t len) override;
  Result<void> SetSockOpt(Task& task, int level, int name, std::span<const uint8_t> val) override;
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;
  EventMask Readiness(EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &queue_; }

  // What /proc/net shows of the socket, as the host sees it now; nullopt for one Linux would not
  // list (a TCP socket that is neither listening nor connected, a UDP socket without a port).
  std::optional<SocketInfo> Info();

 private:
  // Waits until the host fd has one of `events` (or an error or hang-up), the deadline passes
  // (EAGAIN) or a signal comes (Socket::Wait's errors).
  Result<void> WaitFor(Task& task, EventMask events, std::optional<absl::Time> deadline);

  FileDescriptor fd_;
  bool notified_ = false;  // registered with the host notifier
  kernel::WaitQueue queue_;
  std::shared_ptr<SocketRegistry> registry_;
};

// The host's interfaces, addresses and routes, from a dump of its rtnetlink (each call asks
// again; the host's network changes under the sandbox).
std::vector<Interface> HostInterfaces();
std::vector<InterfaceAddress> HostAddresses();
std::vector<Route> HostRoutes();

}  // namespace moat::sockets::hostinet

#endif  // MOAT_SENTRY_SOCKET_HOSTINET_HOST_SOCKET_H_
