// The internals of AF_UNIX sockets (unix.h is the interface).
//
// A UnixSocket is the file (what fds, dup and SCM_RIGHTS pass around); an Endpoint is the
// socket's state behind it: its receive queue, its peer, its name. Linux splits them the same
// way (struct socket and struct sock): queued messages and peers point at endpoints, never at
// files, so that closing the last fd of a socket releases it (the peer sees EOF) even while
// data it sent still sits in the peer's queue.
//
// Ownership:
//   - A UnixSocket owns one reference to its Endpoint and releases it (Endpoint::Release) when
//     the file goes: the endpoint is marked dead, its name unbound, its queue purged and its
//     peer told.
//   - Connected endpoints hold each other (`peer`); release drops the dead side's link, which
//     breaks the cycle. A listener holds the endpoints of connections not yet accepted.
//   - A Message holds its sender's endpoint: the bytes are charged to the sender's send buffer
//     until read, and its name is the message's source address.
//   - A bound endpoint holds the socket file's Path (as Linux's u->path), so the file's inode,
//     whose (dev, ino) is the key connect(2) finds it by, stays while the socket is bound.
//
// Lock order:
//   Endpoint::bind_mu (bind and autobind of one endpoint)
//     the in-flight collector's lock (gc.cc)
//       the name tables' lock (names.cc)
//       Endpoint::mu, of one endpoint at a time, except connect(2), which takes the
//         connecting endpoint's and the listener's in address order
//         WaitQueue::mu_ (queue and peer_wait; a peer_wait notification forwards to the
//           queue of a datagram socket connected to it)
//   The registry's lock (names.cc: every endpoint, for /proc/net/unix) is a leaf: an endpoint
//     may go (and unregister) under another endpoint's lock.
#ifndef MOAT_SENTRY_SOCKET_UNIX_ENDPOINT_H_
#define MOAT_SENTRY_SOCKET_UNIX_ENDPOINT_H_

#include <sys/un.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "sentry/fsimpl/host_fd.h"
#include "sentry/socket/socket.h"

// "unix" is a predefined macro in GNU C++ modes; the internal namespace avoids the word.
namespace moat::sockets::unixsock {

using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using kernel::kEventRdHup;
using kernel::kEventRdNorm;
using kernel::kEventWrNorm;

// sk_shutdown bits.
inline constexpr int kRcvShutdown = 1;
inline constexpr int kSendShutdown = 2;
inline constexpr int kShutdownMask = kRcvShutdown | kSendShutdown;

// net.core.wmem_default / rmem_default, and the _max values that cap SO_SNDBUF / SO_RCVBUF.
inline constexpr int kDefaultBuf = 212992;
inline constexpr int kMaxBuf = 212992;
// SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF on x86-64.
inline constexpr int kMinSndBuf = 4608;
inline constexpr int kMinRcvBuf = 2304;
// net.unix.max_dgram_qlen: a datagram receiver holding more messages than this is full.
inline constexpr size_t kMaxDgramQlen = 10;

// What a message of `len` bytes costs its sender's send buffer: Linux charges an skb's
// truesize (the data rounded up, plus the sk_buff and its shared info), so many small messages
// fill a buffer long before their bytes do. The model matches Linux for small messages (768)
// and comes close for large ones.
inline size_t Charge(size_t len) {
  size_t rounded = (len + 63) & ~size_t{63};
  return std::max<size_t>(768, rounded + 576);
}

// A bound name: sun_path as bound. A path name is without its terminating NUL; an abstract
// name starts with '\0' and is as long as bind's address said.
struct Name {
  std::string bytes;

  bool abstract() const { return !bytes.empty() && bytes[0] == '\0'; }
  // The address getsockname reports: a path with its NUL counted in the length.
  SockAddr ToSockAddr() const;
};

// The address of an unnamed socket: the family alone.
SockAddr UnnamedAddress();

// unix_validate_addr and unix_mkname: EINVAL for a length outside (2, sizeof(sockaddr_un)] or
// another family.
Result<Name> ParseAddress(const SockAddr& addr);

class Endpoint;

// One send's data in a receive queue (on a stream, one piece of it).
struct Message {
  std::vector<uint8_t> data;
  size_t consumed = 0;  // stream: bytes already read
  // SCM_RIGHTS (first piece of a send only) and any other control messages.
  ControlMessages control;
  // The sender's credentials, when it passed them or either side had SO_PASSCRED.
  std::optional<ucred> creds;
  RefPtr<Endpoint> sender;
  size_t charge = 0;
  // Whether `control.rights` holds AF_UNIX sockets, counted in flight by the collector.
  bool unix_rights = false;

  size_t remaining() const { return data.size() - consumed; }
};

enum class State { kUnconnected, kListening, kConnected };

// Forwards a wake-up on a datagram peer's peer_wait to the queue of the socket connected to it
// (Linux's unix_dgram_peer_wake_relay): poll learns that the peer's queue has room again.
class PeerWakeRelay final : public kernel::Wakeable {
 public:
  explicit PeerWakeRelay(kernel::WaitQueue* to) : to_(to) {}
  // Implements Wakeable::Wake.
  void Wake(EventMask) override { to_->Notify(kEventOut | kEventWrNorm); }

 private:
  kernel::WaitQueue* to_;  // not owned: the queue of the endpoint that owns this relay
};

// Forwards every wake-up on one queue to another (a host socket's to the sandbox socket's).
class QueueRelay final : public kernel::Wakeable {
 public:
  explicit QueueRelay(kernel::WaitQueue* to) : to_(to) {}
  // Implements Wakeable::Wake.
  void Wake(EventMask events) override { to_->Notify(events); }

 private:
  kernel::WaitQueue* to_;  // not owned
};

// A connection the gofer made for this socket to a host socket that a bind mount brings in
// (host.cc). Once a socket has one, its calls go to the host socket.
struct HostLink {
  RefPtr<fsimpl::HostFile> file;  // reads, writes, readiness and waiting
  FileDescriptor raw;             // the same host socket, for shutdown and ioctls
  Name peer;                      // the name it was connected to
  std::unique_ptr<QueueRelay> relay;
  std::optional<kernel::WaiterRegistration> relay_reg;
};

class Endpoint : public RefCounted<Endpoint> {
 public:
  explicit Endpoint(int type);
  ~Endpoint();

  // unix_release_sock: called once, when the socket's file goes (or for a connection nobody
  // accepted, when its listener goes). `embryo`: the endpoint was never accepted, and its
  // peer sees ECONNRESET.
  void Release(bool embryo = false);

  bool connection_oriented() const { return type != SOCK_DGRAM; }

  // Delivers what one dequeue freed: the senders' buffers shrink and they are told.
  static void Uncharge(std::vector<std::pair<RefPtr<Endpoint>, size_t>>& freed);

  // Connects a datagram socket to `to` (null: disconnects), with the relay for poll.
  void SetDgramPeer(RefPtr<Endpoint> to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  const int type;

  absl::Mutex bind_mu;
  absl::Mutex mu;
  State state ABSL_GUARDED_BY(mu) = State::kUnconnected;
  bool dead ABSL_GUARDED_BY(mu) = false;
  int shutdown ABSL_GUARDED_BY(mu) = 0;
  int err ABSL_GUARDED_BY(mu) = 0;  // sk_err: reported once, by the next call that looks
  RefPtr<Endpoint> peer ABSL_GUARDED_BY(mu);
  // The name: bound here, or the listener's for an accepted connection.
  std::optional<Name> name ABSL_GUARDED_BY(mu);
  // Whether this endpoint put `name` in the tables (an accepted one shares its listener's).
  bool owns_name ABSL_GUARDED_BY(mu) = false;
  vfs::Path bound_path ABSL_GUARDED_BY(mu);
  std::pair<uint64_t, uint64_t> bound_key ABSL_GUARDED_BY(mu){0, 0};
  std::deque<Message> rcvq ABSL_GUARDED_BY(mu);
  size_t rcv_bytes ABSL_GUARDED_BY(mu) = 0;
  // A listener's connections not yet accepted, and how many may wait (more than `backlog`
  // make it full, as Linux counts).
  std::deque<RefPtr<Endpoint>> acceptq ABSL_GUARDED_BY(mu);
  int backlog ABSL_GUARDED_BY(mu) = 0;
  // SO_PEERCRED: the peer's credentials when it connected (or listened, for a listener's
  // own, which its clients receive).
  std::optional<ucred> peercred ABSL_GUARDED_BY(mu);
  // A connected datagram socket's link on its peer's peer_wait.
  std::optional<kernel::WaiterRegistration> peer_wake ABSL_GUARDED_BY(mu);

  std::atomic<int64_t> wmem{0};  // bytes charged for messages not yet read
  std::atomic<int> sndbuf{kDefaultBuf};
  std::atomic<int> rcvbuf{kDefaultBuf};
  std::atomic<bool> passcred{false};  // SO_PASSCRED, mirrored from the socket's options
  std::atomic<uint64_t> ino{0};       // the sockfs inode of its file; 0 while it has none
  kernel::WaitQueue queue;      // the socket's readiness
  kernel::WaitQueue peer_wait;  // who waits for room in rcvq (senders) or acceptq (connects)

 private:
  PeerWakeRelay relay_{&queue};
};

// The file.
class UnixSocket final : public Socket {
 public:
  UnixSocket(RefPtr<Endpoint> ep, int protocol, int flags, uint32_t uid, uint32_t gid);
  ~UnixSocket() override;

  Endpoint& ep() const { return *ep_; }
  // How many of this file's references sit in receive queues (guarded by the collector's
  // lock, gc.cc).
  int inflight = 0;
  const RefPtr<Endpoint>& ep_ref() const { return ep_; }

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
  Result<void> SetSockOpt(Task& task, int level, int name,
                          std::span<const uint8_t> val) override;
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;
  EventMask Readiness(EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &ep_->queue; }
  // Only a stream raises SIGPIPE with EPIPE (unix_stream_sendmsg); datagrams just fail.
  bool SendsSigpipe() const override { return IsStream(); }

 private:
  // unix_io.cc
  Result<size_t> SendStream(Task& task, SendArgs& args);
  Result<size_t> SendDgram(Task& task, SendArgs& args);
  Result<RecvResult> RecvStream(Task& task, std::span<uint8_t> buf, int flags);
  Result<RecvResult> RecvDgram(Task& task, std::span<uint8_t> buf, int flags);
  // Waits until the send buffer has room (sock_alloc_send_pskb): EPIPE after SHUT_WR, a
  // pending error, EAGAIN when it may not wait.
  Result<void> WaitSendRoom(Task& task, bool nonblocking, std::optional<absl::Time> deadline);

  // host.cc
  std::shared_ptr<HostLink> host() const;
  // Connects through the gofer when `name` is a host socket: true if it did.
  Result<bool> ConnectHost(Task& task, const Name& name);
  Result<size_t> HostSend(Task& task, SendArgs& args, HostLink& h);
  Result<RecvResult> HostRecv(Task& task, std::span<uint8_t> buf, int flags, HostLink& h);

  // unix_socket.cc
  Result<void> ConnectStream(Task& task, const Name& name);
  Result<void> ConnectDgram(Task& task, const SockAddr& addr);
  Result<void> AutobindLocked(Task& task);

  const RefPtr<Endpoint> ep_;
  mutable absl::Mutex host_mu_;
  std::shared_ptr<HostLink> host_ ABSL_GUARDED_BY(host_mu_);
  std::atomic<bool> has_host_{false};
};

// The credentials a task sends or connects with: its pid as the sandbox sees it, and its real
// (SCM_CREDENTIALS) or effective (SO_PEERCRED) ids.
ucred SenderCreds(Task& task);
ucred PeerCreds(Task& task);

// The name tables and the registry (names.cc).
// Puts `ep` in the abstract table under `bytes`: EADDRINUSE if taken.
Result<void> BindAbstract(Endpoint* ep, const std::string& bytes);
// Picks a free name of five hex digits (Linux's autobind) and binds `ep` to it: ENOSPC when
// all are taken.
Result<Name> BindAutomatic(Endpoint* ep);
void BindInode(Endpoint* ep, std::pair<uint64_t, uint64_t> key);
// Removes what `ep` put in the tables.
void Unbind(Endpoint* ep, const Name& name, std::pair<uint64_t, uint64_t> key);
// unix_find_other: the endpoint `name` reaches for a socket of `type` (ENOENT, EACCES,
// ECONNREFUSED, EPROTOTYPE as Linux).
Result<RefPtr<Endpoint>> FindEndpoint(Task& task, const Name& name, int type);
void Register(Endpoint* ep);
void Unregister(Endpoint* ep);
// Calls `fn` for every endpoint that is alive.
void ForEachEndpoint(const std::function<void(Endpoint&)>& fn);

// The collector of sockets that only queued SCM_RIGHTS keep alive (gc.cc), as Linux's
// unix_gc: a socket sent over itself, or two sent over each other, and then closed, would
// otherwise hold itself forever.
//
// A message whose rights carry AF_UNIX sockets is enqueued with the collector's lock held
// (InFlightLock) and counted in flight (CountInFlightLocked), so that no such message moves
// while a collection scans the queues; leaving a queue, it is counted out (CountLanded).
bool HasUnixRights(const ControlMessages& c);
absl::Mutex& InFlightLock();
void CountInFlightLocked(const ControlMessages& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(InFlightLock());
void CountLanded(const ControlMessages& c);
// Counts out what messages leaving a queue (read or purged) carried and returns their
// senders' charges.
void Landed(std::deque<Message>& msgs);
// Runs a collection if any socket is in flight.
void MaybeCollect();

}  // namespace moat::sockets::unixsock

#endif  // MOAT_SENTRY_SOCKET_UNIX_ENDPOINT_H_
