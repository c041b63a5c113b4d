#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

Result<vfs::Path> ResolveUserPath(Task& t, int dirfd, UserAddr path, int at_flags,
                                  bool must_be_dir) {
  std::string p = TRY(t.CopyInPath(path));
  return t.ResolveAt(dirfd, p, at_flags, must_be_dir);
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
