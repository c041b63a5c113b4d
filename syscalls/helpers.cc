#include <sys/stat.h>

#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

vfs::ResolveContext ResolveCtx(Task& t) {
  // The credentials object stays alive with the task for the duration of the syscall.
  return vfs::ResolveContext{t.creds().get(), t.fs().root(), &t.mount_ns()};
}

Result<vfs::Path> StartAt(Task& t, int dirfd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return t.fs().root();
  if (dirfd == AT_FDCWD) return t.fs().cwd();
  RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(dirfd));
  if (path.empty()) return f->path();
  vfs::Stat st = TRY(f->path().dentry->inode()->GetStat());
  if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  return f->path();
}

Result<vfs::Path> ResolveAt(Task& t, int dirfd, const std::string& path, int at_flags,
                            bool must_be_dir) {
  if (path.empty()) {
    if (!(at_flags & AT_EMPTY_PATH)) return Errno(ENOENT);
    if (dirfd == AT_FDCWD) return t.fs().cwd();
    RefPtr<vfs::FileDescription> f = TRY(t.fds().Get(dirfd));
    return f->path();
  }
  vfs::Path start = TRY(StartAt(t, dirfd, path));
  RefPtr<kernel::Credentials> creds = t.creds();
  vfs::ResolveContext ctx{creds.get(), t.fs().root(), &t.mount_ns()};
  return vfs::Resolve(ctx, start, path,
                      {.follow_final_symlink = !(at_flags & AT_SYMLINK_NOFOLLOW),
                       .must_be_dir = must_be_dir});
}

Result<vfs::Path> ResolveUserPath(Task& t, int dirfd, UserAddr path, int at_flags,
                                  bool must_be_dir) {
  std::string p = TRY(t.CopyInPath(path));
  return ResolveAt(t, dirfd, p, at_flags, must_be_dir);
}

Result<vfs::ParentAndName> ResolveParentAt(Task& t, int dirfd, const std::string& path) {
  if (path.empty()) return Errno(ENOENT);
  vfs::Path start = TRY(StartAt(t, dirfd, path));
  RefPtr<kernel::Credentials> creds = t.creds();
  vfs::ResolveContext ctx{creds.get(), t.fs().root(), &t.mount_ns()};
  return vfs::ResolveParent(ctx, start, path);
}

uint64_t FdLimit(Task& t) { return t.thread_group().GetRlimit(RLIMIT_NOFILE).rlim_cur; }

void SendSelfSignal(Task& t, int sig) {
  siginfo_t info{};
  info.si_signo = sig;
  // Linux sends SIGPIPE with send_sig (SI_USER from the task itself) and SIGXFSZ from the kernel.
  if (sig == SIGPIPE) {
    info.si_code = SI_USER;
    info.si_pid = t.pid();
    info.si_uid = t.creds()->ruid;
  } else {
    info.si_code = SI_KERNEL;
  }
  absl::MutexLock l(&t.kernel().mu_);
  (void)t.kernel().SendThreadSignal(&t, info);
}

}  // namespace moat::syscalls
