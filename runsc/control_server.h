// The server end of a sandbox's control socket (runsc/control.h), run by `runsc boot`: it turns
// each request into a call on the sandbox's kernel.
#ifndef MOAT_RUNSC_CONTROL_SERVER_H_
#define MOAT_RUNSC_CONTROL_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"
#include "runsc/control.h"
#include "sentry/kernel/kernel.h"

namespace moat::runsc::control {

class Server {
 public:
  // Builds the process an Exec request asks for from the request and the fds that came with it
  // (the boot process knows the mounts, the profile and the terminal bridge).
  using ProcessMaker = std::function<absl::StatusOr<kernel::InitProcess>(
      const ExecRequest&, std::vector<FileDescriptor> fds)>;

  // Listens on `path` (mode 0600, so that only its owner, root, can connect). Nothing is
  // accepted before Serve.
  static absl::StatusOr<std::unique_ptr<Server>> Listen(const std::string& path);
  // Serves connections on threads of its own until the process exits, for peers whose uid (as
  // the calling process sees it) is 0 or `peer_uid`: the host's root shows as the overflow uid
  // in a sentry with its own user namespace (runsc/confine.h HostRootAsSeen).
  void Serve(kernel::Kernel* kernel, ProcessMaker make_process, uid_t peer_uid);

 private:
  explicit Server(FileDescriptor sock) : sock_(std::move(sock)) {}
  void ServeConnection(FileDescriptor conn);
  // Answers one request that came on connection `conn`: the reply message to send, or empty if
  // it has sent its reply itself (start, whose reply must go out before the init runs).
  std::vector<uint8_t> Handle(wire::Message& m, int conn);

  FileDescriptor sock_;
  kernel::Kernel* kernel_ = nullptr;  // not owned
  ProcessMaker make_process_;
  uid_t owner_ = 0;
};

}  // namespace moat::runsc::control

#endif  // MOAT_RUNSC_CONTROL_SERVER_H_
