#include "base/reopen.h"

#include <fcntl.h>

#include <cstdio>

#include "base/host_proc.h"

namespace moat {

Result<FileDescriptor> ReopenFd(int fd, int flags) {
  // Through the process's kept /proc rather than a path, so that it keeps working wherever the
  // process's root ends up.
  if (hostproc::Dir() < 0) return Errno(ENOSYS);
  char name[32];
  std::snprintf(name, sizeof(name), "self/fd/%d", fd);
  FileDescriptor out(openat(hostproc::Dir(), name, flags | O_CLOEXEC));
  if (!out.valid()) return LastErrno();
  return out;
}

}  // namespace moat
