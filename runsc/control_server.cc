#include "runsc/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <thread>

#include "absl/strings/str_join.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "fmt/format.h"
#include "sentry/vfs/fd_table.h"

namespace moat::runsc::control {
namespace {

std::vector<uint8_t> Failed(const std::string& message) {
  return wire::Encode(kFailed, FailedReply{message});
}

template <class Req>
std::vector<uint8_t> Reply(const typename Req::Reply& r) {
  return wire::Encode(Req::kType | kReplyBit, r);
}

std::vector<uint8_t> Failed(const absl::Status& s) { return Failed(std::string(s.message())); }

// Runs an action if the peer of a connection hangs up before the watch ends (is destroyed).
class HangupWatch {
 public:
  static absl::StatusOr<HangupWatch> Start(int conn, std::function<void()> on_hangup) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return ErrnoStatus("pipe2");
    HangupWatch w;
    w.stop_w_.Reset(p[1]);
    w.thread_ = std::thread([conn, stop_r = FileDescriptor(p[0]), on_hangup = std::move(on_hangup)] {
      pollfd fds[2] = {{conn, POLLRDHUP, 0}, {stop_r.get(), POLLIN, 0}};
      int n;
      do {
        n = poll(fds, 2, -1);
      } while (n < 0 && errno == EINTR);
      if (n > 0 && !fds[1].revents && (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)))
        on_hangup();
    });
    return w;
  }
  HangupWatch() = default;
  HangupWatch(HangupWatch&&) = default;
  ~HangupWatch() {
    stop_w_.Reset();  // wakes the thread
    if (thread_.joinable()) thread_.join();
  }

 private:
  FileDescriptor stop_w_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Listen(const std::string& path) {
  FileDescriptor dir;
  ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path, &dir));
  FileDescriptor sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus("socket(AF_UNIX)");
  unlink(path.c_str());
  mode_t old = umask(0077);
  int r = bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (r < 0) return ErrnoStatus(fmt::format("bind({})", path));
  if (listen(sock.get(), 64) < 0) return ErrnoStatus(fmt::format("listen({})", path));
  return std::unique_ptr<Server>(new Server(std::move(sock)));
}

void Server::Serve(kernel::Kernel* kernel, ProcessMaker make_process, uid_t peer_uid) {
  kernel_ = kernel;
  make_process_ = std::move(make_process);
  owner_ = peer_uid;
  std::thread([this] {
    for (;;) {
      int fd = accept4(sock_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
          if (errno == EMFILE || errno == ENFILE) usleep(10000);
          continue;
        }
        LOG_ERROR("accept on the control socket: {}", Errno(errno).Name());
        return;
      }
      std::thread([this, conn = FileDescriptor(fd)]() mutable { ServeConnection(std::move(conn)); })
          .detach();
    }
  }).detach();
}

void Server::ServeConnection(FileDescriptor conn) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
      (cred.uid != 0 && cred.uid != owner_)) {
    LOG_WARNING("control socket: refusing a peer with uid {}", cred.uid);
    (void)wire::SendMessage(conn.get(), Failed("permission denied"));
    return;
  }
  Result<wire::Message> m = wire::ReceiveMessage(conn.get(), kMaxMessage, wire::kMaxFds);
  if (!m.ok()) {
    if (m.error().value() != ECONNRESET)
      LOG_WARNING("control socket: bad message: {}", m.error().Name());
    return;
  }
  std::vector<uint8_t> reply = Handle(*m, conn.get());
  if (!reply.empty()) (void)wire::SendMessage(conn.get(), reply);
}

std::vector<uint8_t> Server::Handle(wire::Message& m, int conn) {
  auto decode = [&m](auto& req) { return wire::Decode(m.body, req); };
  switch (m.type) {
    case kStart: {
      StartRequest req;
      if (!decode(req)) break;
      // Answered before the init runs: an init that exits at once ends the sentry, whose end
      // could otherwise close this connection before the reply went out (and runsc start would
      // report a failure for a container that ran).
      (void)wire::SendMessage(conn, Reply<StartRequest>({}));
      kernel_->StartCreated();
      return {};  // answered
    }
    case kSignal: {
      SignalRequest req;
      if (!decode(req)) break;
      if (req.signo < 0 || req.signo >= NSIG) return Failed(fmt::format("invalid signal {}", req.signo));
      // A signal that ends the init ends every process: the kernel kills the PID namespace with
      // its init, as Linux does (Kernel::KillNamespace).
      if (req.all) {
        kernel_->KillAll(req.signo);
      } else {
        Result<void> r = kernel_->Kill(req.pid == 0 ? 1 : req.pid, req.signo);
        if (!r.ok())
          return Failed(fmt::format("kill({}, {}): {}", req.pid == 0 ? 1 : req.pid, req.signo,
                                    r.error().Name()));
      }
      return Reply<SignalRequest>({});
    }
    case kExec: {
      ExecRequest req;
      if (!decode(req)) break;
      absl::StatusOr<kernel::InitProcess> proc = make_process_(req, std::move(m.fds));
      if (!proc.ok()) return Failed(proc.status());
      absl::StatusOr<pid_t> pid = kernel_->Exec(std::move(*proc));
      if (!pid.ok()) return Failed(pid.status());
      return Reply<ExecRequest>({.pid = *pid});
    }
    case kWaitPid: {
      WaitPidRequest req;
      if (!decode(req)) break;
      std::optional<HangupWatch> watch;
      if (req.kill_on_hangup) {
        absl::StatusOr<HangupWatch> w =
            HangupWatch::Start(conn, [this, pid = req.pid] { (void)kernel_->Kill(pid, SIGKILL); });
        if (!w.ok()) return Failed(w.status());
        watch.emplace(std::move(*w));
      }
      absl::StatusOr<int> status = kernel_->WaitExec(req.pid);
      if (!status.ok()) return Failed(status.status());
      return Reply<WaitPidRequest>({.status = *status});
    }
    case kWait: {
      WaitRequest req;
      if (!decode(req)) break;
      return Reply<WaitRequest>({.status = kernel_->Wait()});
    }
    case kProcesses: {
      ProcessesRequest req;
      if (!decode(req)) break;
      ProcessesRequest::Reply reply;
      for (const kernel::ProcessInfo& p : kernel_->Processes()) {
        reply.processes.push_back({.pid = p.pid, .host_pid = p.host_pid, .ppid = p.ppid,
                                   .uid = p.uid, .state = std::string(1, p.state),
                                   .comm = p.comm, .cmdline = absl::StrJoin(p.cmdline, " ")});
      }
      return Reply<ProcessesRequest>(reply);
    }
    case kPause: {
      PauseRequest req;
      if (!decode(req)) break;
      kernel_->Pause();
      return Reply<PauseRequest>({});
    }
    case kResume: {
      ResumeRequest req;
      if (!decode(req)) break;
      kernel_->Resume();
      return Reply<ResumeRequest>({});
    }
    case kStats: {
      StatsRequest req;
      if (!decode(req)) break;
      kernel::KernelStats s = kernel_->Stats();
      return Reply<StatsRequest>({.cpu_user_ns = s.cpu_user_ns, .cpu_system_ns = s.cpu_system_ns,
                                  .tasks = static_cast<uint64_t>(s.tasks),
                                  .processes = static_cast<uint64_t>(s.processes),
                                  .rss_bytes = s.rss_bytes});
    }
    default:
      return Failed(fmt::format("unknown request type {}", m.type));
  }
  return Failed(fmt::format("malformed request of type {}", m.type));
}

}  // namespace moat::runsc::control
