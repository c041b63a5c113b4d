#include "runsc/control.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc::control {

absl::StatusOr<std::vector<uint8_t>> RoundTrip(const std::string& path,
                                               const std::vector<uint8_t>& msg,
                                               const std::vector<int>& fds, uint32_t* reply_type) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(fmt::format("control socket path {} is too long", path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  FileDescriptor sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus("socket(AF_UNIX)");
  if (connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
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
