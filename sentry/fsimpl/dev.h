// Character devices the sentry implements itself (the memory devices of drivers/char/mem.c).
//
// A device node in any filesystem (tmpfs mknod, a host /dev seen through hostfs) opens through
// OpenDevice by its major:minor, so no host device is ever opened for the application.
#ifndef MOAT_SENTRY_FSIMPL_DEV_H_
#define MOAT_SENTRY_FSIMPL_DEV_H_

#include <cstdint>

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// Opens character device `major`:`minor`: 1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom,
// and the terminals of devpts.h: 5:0 tty, 5:2 ptmx, 136:N the pty replicas. ENXIO for any other
// (a node without a driver).
Result<RefPtr<vfs::FileDescription>> OpenDevice(uint32_t major, uint32_t minor, int flags,
                                                const vfs::Path& path);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_DEV_H_
