// fcntl's commands about who hears a file: F_SETOWN, F_GETOWN, F_SETOWN_EX, F_GETOWN_EX,
// F_SETSIG, F_GETSIG (sentry/vfs/fasync.h), F_NOTIFY (dnotify.h), F_SETLEASE and F_GETLEASE
// (lease.h).
#include <climits>

#include "sentry/kernel/signal_types.h"
#include "sentry/vfs/dnotify.h"
#include "sentry/vfs/fasync.h"
#include "sentry/vfs/lease.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

Result<long> FcntlAsync(Task& t, int fd, vfs::FileDescription& f, int cmd, uint64_t arg) {
  // fcntl's argument is an unsigned long; these commands take its low 32 bits as an int.
  const int argi = static_cast<int>(static_cast<uint32_t>(arg));
  switch (cmd) {
    case F_SETOWN: {
      // f_setown(): a negative owner is a process group.
      if (argi == INT_MIN) return Errno(EINVAL);
      const int type = argi < 0 ? F_OWNER_PGRP : F_OWNER_PID;
      TRY(f.Async().SetOwner(t, type, argi < 0 ? -argi : argi));
      return 0;
    }
    case F_GETOWN: {
      vfs::FileAsync* a = f.AsyncIfAny();
      return a ? a->GetOwn(t.kernel()) : 0;
    }
    case F_SETOWN_EX: {
      f_owner_ex ex = TRY(t.CopyInObj<f_owner_ex>(UserAddr(arg)));
      if (ex.type != F_OWNER_TID && ex.type != F_OWNER_PID && ex.type != F_OWNER_PGRP) {
        return Errno(EINVAL);
      }
      TRY(f.Async().SetOwner(t, ex.type, ex.pid));
      return 0;
    }
    case F_GETOWN_EX: {
      vfs::FileOwner o;
      if (vfs::FileAsync* a = f.AsyncIfAny()) o = a->GetOwner(t.kernel());
      f_owner_ex ex{};
      ex.type = static_cast<__pid_type>(o.type);
      ex.pid = o.id;
      TRY(t.CopyOutObj(UserAddr(arg), ex));
      return 0;
    }
    case F_SETSIG: {
      // valid_signal(): 0 (back to plain SIGIO) up to the last real-time signal.
      const unsigned sig = static_cast<unsigned>(argi);
      if (sig > static_cast<unsigned>(kernel::kNumSignals)) return Errno(EINVAL);
      f.Async().set_signal(static_cast<int>(sig));
      return 0;
    }
    case F_GETSIG: {
      vfs::FileAsync* a = f.AsyncIfAny();
      return a ? a->signal() : 0;
    }
    case F_NOTIFY:
      TRY(vfs::SetDirNotify(t, f, fd, static_cast<uint32_t>(arg)));
      return 0;
    case F_SETLEASE:
      TRY(vfs::SetLease(t, f, fd, argi));
      return 0;
    case F_GETLEASE:
      return vfs::GetLease(f);
    default:
      return Errno(EINVAL);
  }
}

}  // namespace moat::syscalls
