// Memory syscalls the sentry handles: brk (emulated) and file mappings. Anonymous mmap, munmap,
// mprotect, madvise and mremap run natively (the filter lets them through).
#include <sys/mman.h>
#include <sys/syscall.h>

#include "sentry/mm/mm.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

// brk(2)
Result<long> Brk(Task& t, const SyscallArgs& a) { return t.mm().Brk(t, a.Uint(0)); }

// mmap(2) of a file: the file's host fd is installed in the process for the injected mmap.
Result<long> Mmap(Task& t, const SyscallArgs& a) {
  uint64_t addr = a.Uint(0), len = a.Uint(1), off = a.Uint(5);
  int prot = a.Int32(2), flags = a.Int32(3), fd = a.Int32(4);
  if (flags & MAP_ANONYMOUS) return Errno(kEHOSTSYSCALL);  // not trapped in practice
  if (len == 0 || off % kPageSize) return Errno(EINVAL);
  int type = flags & MAP_TYPE;
  if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE) return Errno(EINVAL);
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(fd));
  if (f->flags() & O_PATH) return Errno(EBADF);
  if (!f->readable()) return Errno(EACCES);
  if (type != MAP_PRIVATE && (prot & PROT_WRITE) && !f->writable()) return Errno(EACCES);
  if ((prot & PROT_EXEC) && f->path().mount && f->path().mount->flags().noexec) return Errno(EPERM);
  if (f->MapsAnonymous()) {
    return t.context().Inject(SYS_mmap, {addr, len, static_cast<uint64_t>(prot),
                                         static_cast<uint64_t>(flags | MAP_ANONYMOUS),
                                         static_cast<uint64_t>(-1), 0});
  }
  int host_fd = TRY(f->HostMapFd());
  int app_fd = TRY(t.context().InstallFd(host_fd));
  Result<long> r = t.context().Inject(SYS_mmap, {addr, len, static_cast<uint64_t>(prot),
                                                 static_cast<uint64_t>(flags),
                                                 static_cast<uint64_t>(app_fd), off});
  (void)t.context().Inject(SYS_close, {static_cast<uint64_t>(app_fd), 0, 0, 0, 0, 0});
  long got = TRY(std::move(r));
  if (got < 0 && got > -4096) return Errno(static_cast<int>(-got));
  vfs::Stat st = f->GetStat().value_or(vfs::Stat{});
  std::string name = f->AnonymousName().value_or(vfs::PathString(t.fs().root(), f->path()));
  t.mm().AddFileMapping(got, {got + UserAddr(len).RoundUp(kPageSize).value(), off, prot, flags,
                              name, st.dev, st.ino});
  return got;
}

}  // namespace moat::syscalls
