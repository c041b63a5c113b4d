#include "base/reopen.h"

#include <fcntl.h>

#include <cstdio>

namespace moat {

Result<FileDescriptor> ReopenFd(int fd, int flags) {
  // The directory is opened once, on first use, and kept: reopening goes through it rather than
  // through a path, so it keeps working wherever the process's root and /proc end up.
  static const int proc_self_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc_self_fd < 0) return Errno(ENOSYS);
  char name[16];
  std::snprintf(name, sizeof(name), "%d", fd);
  FileDescriptor out(openat(proc_self_fd, name, flags | O_CLOEXEC));
  if (!out.valid()) return LastErrno();
  return out;
}

}  // namespace moat
