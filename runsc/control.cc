#include "runsc/control.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc::control {

absl::StatusOr<sockaddr_un> SocketAddress(const std::string& path, FileDescriptor* dir) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = path;
  if (path.size() >= sizeof(addr.sun_path)) {
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    dir->Reset(open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir->valid()) return ErrnoStatus(fmt::format("open {}", parent));
    name = fmt::format("/proc/self/fd/{}/{}", dir->get(), path.substr(slash + 1));
    if (name.size() >= sizeof(addr.sun_path))
      return absl::InvalidArgumentError(fmt::format("socket name {} is too long", path));
  }
  std::memcpy(addr.sun_path, name.c_str(), name.size() + 1);
  return addr;
}

absl::StatusOr<std::vector<uint8_t>> RoundTrip(const std::string& path,
                                               const std::vector<uint8_t>& msg,
                                               const std::vector<int>& fds, uint32_t* reply_type) {
  FileDescriptor dir;
  absl::StatusOr<sockaddr_un> addr = SocketAddress(path, &dir);
  if (!addr.ok()) {
    if (absl::IsNotFound(addr.status()))
      return absl::UnavailableError(fmt::format("the sandbox is not running ({})", path));
    return addr.status();
  }
  FileDescriptor sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus("socket(AF_UNIX)");
  if (connect(sock.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) {
    int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      return absl::UnavailableError(fmt::format("the sandbox is not running ({}: {})", path,
                                                Errno(e).Name()));
    return ErrnoStatus(fmt::format("connect({})", path), Errno(e));
  }
  Result<void> sent = wire::SendMessage(sock.get(), msg, fds);
  if (!sent.ok()) return ErrnoStatus(fmt::format("sending to {}", path), sent.error());
  Result<wire::Message> reply = wire::ReceiveMessage(sock.get(), kMaxMessage, 0);
  if (!reply.ok()) {
    if (reply.error().value() == ECONNRESET)
      return absl::UnavailableError(
          fmt::format("the sandbox closed its control socket without answering ({})", path));
    return ErrnoStatus(fmt::format("receiving from {}", path), reply.error());
  }
  *reply_type = reply->type;
  return std::move(reply->body);
}

}  // namespace moat::runsc::control
