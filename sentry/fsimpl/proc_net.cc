// /proc/<pid>/net (and /proc/net, a link to self/net): the network files of proc(5), generated
// from the sandbox's Stack by sentry/socket/proc_net.h each time one is read. The sandbox has
// one network namespace, so every process's directory shows the same files.
#include "sentry/fsimpl/proc_internal.h"
#include "sentry/socket/proc_net.h"

namespace moat::fsimpl::proc {
namespace {

using synthetic::DataFile;
using synthetic::DirInode;
using synthetic::FileOps;
using synthetic::InodeNumber;

class NetDir : public DirInode {
 public:
  explicit NetDir(const Target& t)
      : DirInode(Host().dev, InodeNumber(kFs, t.Key() + "/net"), 0555), t_(t) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    TRY(Check());
    for (const std::string& file : sockets::ProcNetFiles()) {
      if (file != name) continue;
      FileOps ops;
      ops.read = [t = t_, file](kernel::Task*) -> Result<std::string> {
        {
          absl::MutexLock l(&t.kernel->mu_);
          if (!t.ExistsLocked()) return Errno(ESRCH);
        }
        return sockets::ProcNetFile(t.kernel->network(), file);
      };
      return RefPtr<vfs::Inode>(MakeRef<DataFile>(Host().dev, Ino(file), 0444, std::move(ops)));
    }
    return Errno(ENOENT);
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    std::vector<vfs::DirEntry> out;
    if (!Check().ok()) return out;
    for (const std::string& file : sockets::ProcNetFiles()) {
      out.push_back(vfs::DirEntry{file, Ino(file), DT_REG});
    }
    return out;
  }

 private:
  Result<void> Check() const {
    absl::MutexLock l(&t_.kernel->mu_);
    if (!t_.ExistsLocked()) return Errno(ESRCH);
    return Ok();
  }
  uint64_t Ino(const std::string& file) const {
    return InodeNumber(kFs, t_.Key() + "/net/" + file);
  }

  Target t_;
};

}  // namespace

RefPtr<vfs::Inode> NewNetDir(const Target& t) { return MakeRef<NetDir>(t); }

}  // namespace moat::fsimpl::proc
