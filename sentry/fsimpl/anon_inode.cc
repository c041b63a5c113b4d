#include "sentry/fsimpl/anon_inode.h"

namespace moat::fsimpl {
namespace {

// anon_inodefs's single inode: fstat shows the same device and inode number for every anonymous
// file, and a mode without a file type.
class AnonInode final : public vfs::Inode {
 public:
  AnonInode() : dev_(vfs::NewAnonDev()), time_(vfs::Now()) {}

  Result<vfs::Stat> GetStat() override {
    vfs::Stat st;
    st.dev = dev_;
    st.ino = 1;
    st.mode = S_IRUSR | S_IWUSR;
    st.nlink = 1;
    st.blksize = 4096;
    st.atime = st.mtime = st.ctime = time_;
    return st;
  }
  // Linux refuses attribute changes on the shared inode.
  Result<void> SetStat(const vfs::SetStatRequest&) override { return Errno(EOPNOTSUPP); }
  // The inode cannot be opened again (through /proc/self/fd/N): Linux gives ENXIO too.
  Result<RefPtr<vfs::FileDescription>> Open(int, const vfs::Path&) override {
    return Errno(ENXIO);
  }

 private:
  const uint64_t dev_;
  const timespec time_;
};

RefPtr<vfs::Inode> TheInode() {
  static vfs::Inode* inode = [] {
    auto i = MakeRef<AnonInode>();
    return static_cast<vfs::Inode*>(i.Leak());  // lives as long as the sandbox
  }();
  return RefPtr<vfs::Inode>(inode);
}

vfs::Path AnonPath(std::string_view kind) {
  return vfs::Path{nullptr,
                   MakeRef<vfs::Dentry>(nullptr, "anon_inode:[" + std::string(kind) + "]",
                                        TheInode())};
}

}  // namespace

AnonFile::AnonFile(std::string_view kind, int status_flags)
    : FileDescription(O_RDWR | status_flags, AnonPath(kind)) {}

std::optional<std::string> AnonFile::AnonymousName() { return path().dentry->name(); }

}  // namespace moat::fsimpl
