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

  // Listens on `path` (mode 0600). Requests are served for peers that are root or `owner`.
  static absl::StatusOr<std::unique_ptr<Server>> Listen(const std::string& path,
                                                        kernel::Kernel* kernel,
                                                        ProcessMaker make_process, uid_t owner);
  // Serves connections on threads of its own until the process exits.
  void Start();

 private:
  Server(FileDescriptor sock, kernel::Kernel* kernel, ProcessMaker make_process, uid_t owner)
      : sock_(std::move(sock)), kernel_(kernel), make_process_(std::move(make_process)),
        owner_(owner) {}
  void Serve(FileDescriptor conn);
  // Answers one request that came on connection `conn`: the reply message to send.
  std::vector<uint8_t> Handle(wire::Message& m, int conn);

  FileDescriptor sock_;
  kernel::Kernel* kernel_;  // not owned
  ProcessMaker make_process_;
  uid_t owner_;
};

}  // namespace moat::runsc::control

#endif  // MOAT_RUNSC_CONTROL_SERVER_H_
