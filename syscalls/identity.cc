// Credentials: uids, gids, supplementary groups and capabilities (kernel/sys.c semantics).
#include <linux/capability.h>

#include "sentry/kernel/thread_group.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::Credentials;

namespace {

constexpr uint32_t kNoChange = static_cast<uint32_t>(-1);
constexpr int kNgroupsMax = 65536;

// Publishes `c` after a uid change, applying the capability rules.
void CommitUids(Task& t, RefPtr<Credentials> c, const Credentials& old) {
  c->fsuid = c->euid;
  c->FixCapsAfterUidChange(old.ruid, old.euid, old.suid);
  t.set_creds(std::move(c));
}

Result<long> CopyOutIds(Task& t, const SyscallArgs& a, uint32_t r, uint32_t e, uint32_t s) {
  TRY(t.CopyOutObj(a.Addr(0), r));
  TRY(t.CopyOutObj(a.Addr(1), e));
  TRY(t.CopyOutObj(a.Addr(2), s));
  return 0;
}

}  // namespace

// getuid(2), geteuid(2), getgid(2), getegid(2)
Result<long> Getuid(Task& t, const SyscallArgs&) { return t.creds()->ruid; }
Result<long> Geteuid(Task& t, const SyscallArgs&) { return t.creds()->euid; }
Result<long> Getgid(Task& t, const SyscallArgs&) { return t.creds()->rgid; }
Result<long> Getegid(Task& t, const SyscallArgs&) { return t.creds()->egid; }

// getresuid(2)
Result<long> Getresuid(Task& t, const SyscallArgs& a) {
  RefPtr<Credentials> c = t.creds();
  return CopyOutIds(t, a, c->ruid, c->euid, c->suid);
}

// getresgid(2)
Result<long> Getresgid(Task& t, const SyscallArgs& a) {
  RefPtr<Credentials> c = t.creds();
  return CopyOutIds(t, a, c->rgid, c->egid, c->sgid);
}

// setuid(2)
Result<long> Setuid(Task& t, const SyscallArgs& a) {
  uint32_t uid = a.Uint32(0);
  if (uid == kNoChange) return Errno(EINVAL);
  RefPtr<Credentials> old = t.creds();
  auto c = old->Copy();
  if (old->HasCap(CAP_SETUID)) {
    c->ruid = c->euid = c->suid = uid;
  } else if (uid == old->ruid || uid == old->suid) {
    c->euid = uid;
  } else {
    return Errno(EPERM);
  }
  CommitUids(t, c, *old);
  return 0;
}

// setreuid(2)
Result<long> Setreuid(Task& t, const SyscallArgs& a) {
  uint32_t ruid = a.Uint32(0), euid = a.Uint32(1);
  RefPtr<Credentials> old = t.creds();
  bool priv = old->HasCap(CAP_SETUID);
  auto c = old->Copy();
  if (ruid != kNoChange) {
    if (!priv && ruid != old->ruid && ruid != old->euid) return Errno(EPERM);
    c->ruid = ruid;
  }
  if (euid != kNoChange) {
    if (!priv && euid != old->ruid && euid != old->euid && euid != old->suid) return Errno(EPERM);
    c->euid = euid;
  }
  if (ruid != kNoChange || (euid != kNoChange && euid != old->ruid)) c->suid = c->euid;
  CommitUids(t, c, *old);
  return 0;
}

// setresuid(2)
Result<long> Setresuid(Task& t, const SyscallArgs& a) {
  uint32_t ids[3] = {a.Uint32(0), a.Uint32(1), a.Uint32(2)};
  RefPtr<Credentials> old = t.creds();
  if (!old->HasCap(CAP_SETUID)) {
    for (uint32_t id : ids) {
      if (id != kNoChange && id != old->ruid && id != old->euid && id != old->suid)
        return Errno(EPERM);
    }
  }
  auto c = old->Copy();
  if (ids[0] != kNoChange) c->ruid = ids[0];
  if (ids[1] != kNoChange) c->euid = ids[1];
  if (ids[2] != kNoChange) c->suid = ids[2];
  CommitUids(t, c, *old);
  return 0;
}

// setfsuid(2): returns the previous fsuid whether or not it changed.
Result<long> Setfsuid(Task& t, const SyscallArgs& a) {
  uint32_t uid = a.Uint32(0);
  RefPtr<Credentials> old = t.creds();
  if (uid != kNoChange && (old->HasCap(CAP_SETUID) || uid == old->ruid || uid == old->euid ||
                           uid == old->suid || uid == old->fsuid)) {
    auto c = old->Copy();
    c->fsuid = uid;
    c->FixCapsAfterUidChange(old->ruid, old->euid, old->suid);
    t.set_creds(c);
  }
  return old->fsuid;
}

// setgid(2)
Result<long> Setgid(Task& t, const SyscallArgs& a) {
  uint32_t gid = a.Uint32(0);
  if (gid == kNoChange) return Errno(EINVAL);
  RefPtr<Credentials> old = t.creds();
  auto c = old->Copy();
  if (old->HasCap(CAP_SETGID)) {
    c->rgid = c->egid = c->sgid = gid;
  } else if (gid == old->rgid || gid == old->sgid) {
    c->egid = gid;
  } else {
    return Errno(EPERM);
  }
  c->fsgid = c->egid;
  t.set_creds(c);
  return 0;
}

// setregid(2)
Result<long> Setregid(Task& t, const SyscallArgs& a) {
  uint32_t rgid = a.Uint32(0), egid = a.Uint32(1);
  RefPtr<Credentials> old = t.creds();
  bool priv = old->HasCap(CAP_SETGID);
  auto c = old->Copy();
  if (rgid != kNoChange) {
    if (!priv && rgid != old->rgid && rgid != old->egid) return Errno(EPERM);
    c->rgid = rgid;
  }
  if (egid != kNoChange) {
    if (!priv && egid != old->rgid && egid != old->egid && egid != old->sgid) return Errno(EPERM);
    c->egid = egid;
  }
  if (rgid != kNoChange || (egid != kNoChange && egid != old->rgid)) c->sgid = c->egid;
  c->fsgid = c->egid;
  t.set_creds(c);
  return 0;
}

// setresgid(2)
Result<long> Setresgid(Task& t, const SyscallArgs& a) {
  uint32_t ids[3] = {a.Uint32(0), a.Uint32(1), a.Uint32(2)};
  RefPtr<Credentials> old = t.creds();
  if (!old->HasCap(CAP_SETGID)) {
    for (uint32_t id : ids) {
      if (id != kNoChange && id != old->rgid && id != old->egid && id != old->sgid)
        return Errno(EPERM);
    }
  }
  auto c = old->Copy();
  if (ids[0] != kNoChange) c->rgid = ids[0];
  if (ids[1] != kNoChange) c->egid = ids[1];
  if (ids[2] != kNoChange) c->sgid = ids[2];
  c->fsgid = c->egid;
  t.set_creds(c);
  return 0;
}

// setfsgid(2)
Result<long> Setfsgid(Task& t, const SyscallArgs& a) {
  uint32_t gid = a.Uint32(0);
  RefPtr<Credentials> old = t.creds();
  if (gid != kNoChange && (old->HasCap(CAP_SETGID) || gid == old->rgid || gid == old->egid ||
                           gid == old->sgid || gid == old->fsgid)) {
    auto c = old->Copy();
    c->fsgid = gid;
    t.set_creds(c);
  }
  return old->fsgid;
}

// getgroups(2)
Result<long> Getgroups(Task& t, const SyscallArgs& a) {
  int size = a.Int32(0);
  if (size < 0) return Errno(EINVAL);
  RefPtr<Credentials> c = t.creds();
  int n = static_cast<int>(c->groups.size());
  if (size == 0) return n;
  if (size < n) return Errno(EINVAL);
  TRY(t.CopyOut(a.Addr(1), c->groups.data(), n * sizeof(gid_t)));
  return n;
}

// setgroups(2)
Result<long> Setgroups(Task& t, const SyscallArgs& a) {
  int size = a.Int32(0);
  if (size < 0 || size > kNgroupsMax) return Errno(EINVAL);
  RefPtr<Credentials> old = t.creds();
  if (!old->HasCap(CAP_SETGID)) return Errno(EPERM);
  std::vector<gid_t> groups(size);
  if (size > 0) TRY(t.CopyIn(a.Addr(1), groups.data(), size * sizeof(gid_t)));
  auto c = old->Copy();
  c->groups = std::move(groups);
  t.set_creds(c);
  return 0;
}

namespace {

struct CapHeader {
  uint32_t version;
  int32_t pid;
};
struct CapData {
  uint32_t effective, permitted, inheritable;
};

// How many CapData words a header's version uses; EINVAL (with the preferred version written
// back) for an unknown one.
Result<int> CapWords(Task& t, UserAddr hdr_addr, CapHeader& hdr) {
  hdr = TRY(t.CopyInObj<CapHeader>(hdr_addr));
  switch (hdr.version) {
    case _LINUX_CAPABILITY_VERSION_1:
      return 1;
    case _LINUX_CAPABILITY_VERSION_2:
    case _LINUX_CAPABILITY_VERSION_3:
      return 2;
    default:
      hdr.version = _LINUX_CAPABILITY_VERSION_3;
      TRY(t.CopyOutObj(hdr_addr, hdr));
      return Errno(EINVAL);
  }
}

}  // namespace

// capget(2)
Result<long> Capget(Task& t, const SyscallArgs& a) {
  CapHeader hdr;
  Result<int> checked = CapWords(t, a.Addr(0), hdr);
  // With no data pointer, capget is a version probe: an unknown version is reported back
  // (written into the header) and the call succeeds.
  if (a.Addr(1).IsNull() && !checked.ok() && checked.error().value() == EINVAL) return 0;
  int words = TRY(std::move(checked));
  if (hdr.pid < 0) return Errno(EINVAL);
  RefPtr<Credentials> c;
  if (hdr.pid == 0 || hdr.pid == t.tid()) {
    c = t.creds();
  } else {
    absl::MutexLock l(&t.kernel().mu_);
    Task* other = t.kernel().TaskByTid(hdr.pid);
    if (!other) return Errno(ESRCH);
    c = other->creds();
  }
  if (a.Addr(1).IsNull()) return 0;
  CapData d[2] = {};
  for (int i = 0; i < 2; i++) {
    d[i].effective = static_cast<uint32_t>(c->cap_effective >> (32 * i));
    d[i].permitted = static_cast<uint32_t>(c->cap_permitted >> (32 * i));
    d[i].inheritable = static_cast<uint32_t>(c->cap_inheritable >> (32 * i));
  }
  TRY(t.CopyOut(a.Addr(1), d, words * sizeof(CapData)));
  return 0;
}

// capset(2): only the calling thread's own sets, within what it is permitted.
Result<long> Capset(Task& t, const SyscallArgs& a) {
  CapHeader hdr;
  int words = TRY(CapWords(t, a.Addr(0), hdr));
  if (hdr.pid != 0 && hdr.pid != t.tid()) return Errno(EPERM);
  CapData d[2] = {};
  TRY(t.CopyIn(a.Addr(1), d, words * sizeof(CapData)));
  auto join = [&](uint32_t CapData::*f) {
    uint64_t v = d[0].*f;
    if (words == 2) v |= uint64_t{d[1].*f} << 32;
    return v & kernel::kAllCaps;
  };
  uint64_t eff = join(&CapData::effective), perm = join(&CapData::permitted),
           inh = join(&CapData::inheritable);
  RefPtr<Credentials> old = t.creds();
  if (perm & ~old->cap_permitted) return Errno(EPERM);
  if (eff & ~perm) return Errno(EPERM);
  uint64_t inh_limit = old->cap_inheritable | old->cap_permitted;
  if (!old->HasCap(CAP_SETPCAP) && (inh & ~inh_limit)) return Errno(EPERM);
  if (inh & ~(old->cap_inheritable | old->cap_bounding)) return Errno(EPERM);
  auto c = old->Copy();
  c->cap_effective = eff;
  c->cap_permitted = perm;
  c->cap_inheritable = inh;
  c->cap_ambient &= perm & inh;
  t.set_creds(c);
  return 0;
}

}  // namespace moat::syscalls
