// A gofer for unit tests: a gofer::Server for a host directory on a thread of the test process,
// and the sentry's gofer filesystem connected to it, as `runsc gofer` and `runsc do` pair them.
#ifndef MOAT_TESTS_UNIT_GOFER_TEST_UTIL_H_
#define MOAT_TESTS_UNIT_GOFER_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/socket.h>

#include <string>
#include <thread>

#include "gofer/server.h"
#include "sentry/fsimpl/gofer.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs::testing {

// This process's /proc/self/fd, which every test server shares.
inline int ProcSelfFd() {
  static int fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd;
}

// Serves `host_path` on a new thread and returns the root of the gofer filesystem over it. The
// server thread ends when the filesystem (which owns the other end of the socket) goes away.
inline Result<RefPtr<Dentry>> ServeForTest(const std::string& host_path, bool readonly = false) {
  FileDescriptor root(open(host_path.c_str(), O_PATH | O_CLOEXEC));
  if (!root.valid()) return LastErrno();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return LastErrno();
  std::thread([server_sock = FileDescriptor(sv[0]), root = std::move(root), readonly]() mutable {
    gofer::Server server(std::move(root), ProcSelfFd(), readonly);
    (void)server.Serve(server_sock.get());
  }).detach();
  return fsimpl::NewGoferFilesystem(FileDescriptor(sv[1]));
}

}  // namespace moat::vfs::testing

#endif  // MOAT_TESTS_UNIT_GOFER_TEST_UTIL_H_
