// Files without a filesystem name (Linux's anon_inode_getfile): eventfd, epoll, timerfd and
// signalfd. Like Linux, they all share one inode (mode 0600, owned by root, not a regular file,
// a directory or anything else), and /proc/self/fd/N shows "anon_inode:[<kind>]".
//
// Ownership: the inode lives as long as the sandbox; each AnonFile holds its own dentry for it.
#ifndef MOAT_SENTRY_FSIMPL_ANON_INODE_H_
#define MOAT_SENTRY_FSIMPL_ANON_INODE_H_

#include <optional>
#include <string>
#include <string_view>

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// An open file on the anonymous inode. `kind` is what Linux puts between the brackets
// ("eventfd", "eventpoll", "timerfd", "signalfd"). The files are always O_RDWR.
class AnonFile : public vfs::FileDescription {
 public:
  AnonFile(std::string_view kind, int status_flags);
  std::optional<std::string> AnonymousName() override;
  // Linux's noop_llseek: any offset "succeeds" and the position stays 0.
  Result<int64_t> Seek(int64_t, int) override { return 0; }
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_ANON_INODE_H_
