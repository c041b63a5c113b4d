// devpts: the filesystem of pseudo-terminal replicas, mounted at /dev/pts.
//
// It holds "ptmx" (5:2, mode 0000: /dev/ptmx is the usual way in) and one node "N" (136:N) per
// live pseudo-terminal, created when a master is opened and removed when it closes. Nodes are
// made as Linux does for a devpts mounted with gid=5,mode=620 (what container runtimes use):
// owned by the opener's fsuid, group tty (5), mode 0620.
//
// The sandbox has one devpts instance (Linux's "newinstance" mounts are not supported): /dev/ptmx
// and every 136:N device node, wherever they are, open its ptys.
//
// Lock order: Devpts::mu_ > Pty::mu_. A Dentry lock is never taken with Devpts::mu_ held.
#ifndef MOAT_SENTRY_FSIMPL_DEVPTS_H_
#define MOAT_SENTRY_FSIMPL_DEVPTS_H_

#include <cstdint>
#include <map>

#include "absl/synchronization/mutex.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

class Pty;
class ReplicaInode;

inline constexpr uint32_t kPtyReplicaMajor = 136;  // UNIX98_PTY_SLAVE_MAJOR
inline constexpr uint32_t kTtyAuxMajor = 5;        // /dev/tty (5:0), /dev/ptmx (5:2)
inline constexpr gid_t kTtyGroup = 5;
inline constexpr uint32_t kMaxPtys = 4096;         // /proc/sys/kernel/pty/max

class Devpts {
 public:
  // The sandbox's instance.
  static Devpts& Get();

  // The root of the filesystem, to mount at /dev/pts.
  const RefPtr<vfs::Dentry>& root() const { return root_; }
  uint64_t dev() const { return dev_; }

  // Opening ptmx: allocates a pty (ENOSPC past kMaxPtys) and opens its master; `path` is the
  // ptmx that was opened.
  Result<RefPtr<vfs::FileDescription>> OpenMaster(int flags, const vfs::Path& path);
  // Opening device 136:`index` at `path`: ENXIO if there is no such pty, EIO while it is locked.
  Result<RefPtr<vfs::FileDescription>> OpenReplica(uint32_t index, int flags,
                                                   const vfs::Path& path);
  // The replica of `pty` in this filesystem, under `mount` (which may be null), for TIOCGPTPEER.
  Result<vfs::Path> ReplicaPath(const Pty& pty, const RefPtr<vfs::Mount>& mount);
  // The master of pty `index` is gone: its node goes.
  void Remove(uint32_t index);
  // Gives node `index` to `uid` (the opener of the master).
  void SetOwner(uint32_t index, uid_t uid);

  // Lookup and listing for the root directory.
  RefPtr<vfs::Inode> Lookup(std::string_view name);
  std::vector<vfs::DirEntry> List();

 private:
  Devpts();

  const uint64_t dev_;
  RefPtr<vfs::Dentry> root_;
  RefPtr<vfs::Inode> ptmx_;
  absl::Mutex mu_;
  std::map<uint32_t, RefPtr<ReplicaInode>> nodes_ ABSL_GUARDED_BY(mu_);
};

// Opens character devices of the terminal majors for OpenDevice (dev.h): 5:0 /dev/tty, 5:2
// /dev/ptmx, 136:N the replicas. ENXIO for any other.
Result<RefPtr<vfs::FileDescription>> OpenTerminalDevice(uint32_t major, uint32_t minor, int flags,
                                                        const vfs::Path& path);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_DEVPTS_H_
