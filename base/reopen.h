// Reopening a host fd the sentry holds with another access mode: through /proc/self/fd/N, which
// the host kernel follows to the very file (no lookup by name). Used to hand the application's
// address space a read-only descriptor of a file the sentry holds read-write (a tmpfs memfd), so
// that the host refuses to make a shared mapping of it writable.
#ifndef MOAT_BASE_REOPEN_H_
#define MOAT_BASE_REOPEN_H_

#include "base/errno.h"
#include "base/file_descriptor.h"

namespace moat {

// Opens the file of `fd` again with `flags` (O_CLOEXEC is added).
Result<FileDescriptor> ReopenFd(int fd, int flags);

}  // namespace moat

#endif  // MOAT_BASE_REOPEN_H_
