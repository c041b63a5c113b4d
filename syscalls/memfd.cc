// memfd_create(2) and fcntl(2)'s seal commands. A memfd is a tmpfs file without a name
// (sentry/fsimpl/tmpfs.h); seals are kept by tmpfs files, the only ones Linux seals.
#include <sys/mman.h>

#include "sentry/fsimpl/tmpfs.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

namespace {

// memfd flags and seals newer than some C library headers.
constexpr unsigned kMfdNoexecSeal = 0x0008U;
constexpr unsigned kMfdExec = 0x0010U;
constexpr unsigned kMfdAll =
    MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | kMfdNoexecSeal | kMfdExec;
// MFD_HUGETLB may carry a page size in bits 26..31 (MFD_HUGE_SHIFT, MFD_HUGE_MASK).
constexpr unsigned kMfdHugeSizeBits = 0x3fU << 26;
// "memfd:" and the name must fit in NAME_MAX.
constexpr size_t kMemfdNameMax = 255 - 6;

}  // namespace

// memfd_create(2)
Result<long> MemfdCreate(Task& t, const SyscallArgs& a) {
  const unsigned flags = a.Uint32(1);
  const unsigned allowed = (flags & MFD_HUGETLB) ? kMfdAll | kMfdHugeSizeBits : kMfdAll;
  if (flags & ~allowed) return Errno(EINVAL);
  if ((flags & kMfdExec) && (flags & kMfdNoexecSeal)) return Errno(EINVAL);
  Result<std::string> name = t.CopyInString(a.Addr(0), kMemfdNameMax);
  if (!name.ok()) return name.error().value() == ENAMETOOLONG ? Errno(EINVAL) : name.error();
  // There is no hugetlbfs in the sandbox: Linux built without it answers ENOSYS.
  if (flags & MFD_HUGETLB) return Errno(ENOSYS);
  RefPtr<vfs::FileDescription> f = TRY(fsimpl::NewMemfd(
      *name, flags & MFD_ALLOW_SEALING, flags & kMfdNoexecSeal, *t.creds()));
  return TRY(t.fds().Add(std::move(f), flags & MFD_CLOEXEC, 0, FdLimit(t)));
}

Result<long> FcntlSeals(Task&, vfs::FileDescription& f, int cmd, uint32_t arg) {
  if (f.flags() & O_PATH) return Errno(EBADF);
  if (cmd == F_GET_SEALS) return TRY(f.GetSeals());
  // memfd_add_seals() checks the open mode before asking whether the file can be sealed.
  if (!f.writable()) return Errno(EPERM);
  TRY(f.AddSeals(arg));
  return 0;
}

}  // namespace moat::syscalls
