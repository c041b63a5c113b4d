#include "runsc/control.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc::control {

absl::StatusOr<sockaddr_un> SocketAddress(const std::string& path, FileDescriptor* dir_fd) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = path;
  if (path.size() >= sizeof(addr.sun_path)) {
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    dir_fd->Reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd->valid()) return ErrnoStatus(fmt::format("open {}", dir));
    name = fmt::format("/proc/self/fd/{}/{}", dir_fd->get(), path.substr(slash + 1));
    if (name.size() >= sizeof(addr.sun_path))
      return absl::InvalidArgumentError(fmt::format("socket name in {} is too long", path));
  }
  std::memcpy(addr.sun_path, name.c_str(), name.size() + 1);
  return addr;
}

absl::StatusOr<std::vector<uint8_t>> RoundTrip(const std::string& path,
                                               const std::vector<uint8_t>& msg,
                                               const std::vector<int>& fds, uint32_t* reply_type) {
  FileDescriptor dir;
  absl::StatusOr<sockaddr_un> addr_or = SocketAddress(path, &dir);
  if (!addr_or.ok()) return addr_or.status();
  sockaddr_un addr = *addr_or;
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
