#include "sentry/kernel/credentials.h"

#include <algorithm>

namespace moat::kernel {

RefPtr<Credentials> Credentials::New(uid_t uid, gid_t gid) {
  auto c = MakeRef<Credentials>();
  c->ruid = c->euid = c->suid = c->fsuid = uid;
  c->rgid = c->egid = c->sgid = c->fsgid = gid;
  if (uid == 0) c->cap_effective = c->cap_permitted = kAllCaps;
  return c;
}

RefPtr<Credentials> Credentials::Copy() const {
  auto c = MakeRef<Credentials>();
  c->ruid = ruid; c->euid = euid; c->suid = suid; c->fsuid = fsuid;
  c->rgid = rgid; c->egid = egid; c->sgid = sgid; c->fsgid = fsgid;
  c->groups = groups;
  c->cap_effective = cap_effective; c->cap_permitted = cap_permitted;
  c->cap_inheritable = cap_inheritable; c->cap_bounding = cap_bounding;
  c->cap_ambient = cap_ambient;
  c->keep_caps = keep_caps;
  c->no_new_privs = no_new_privs;
  return c;
}

bool Credentials::InGroup(gid_t gid) const {
  return gid == fsgid || std::find(groups.begin(), groups.end(), gid) != groups.end();
}

void Credentials::FixCapsAfterUidChange(uid_t old_ruid, uid_t old_euid, uid_t old_suid) {
  bool was_root = old_ruid == 0 || old_euid == 0 || old_suid == 0;
  bool now_root = ruid == 0 || euid == 0 || suid == 0;
  if (was_root && !now_root && !keep_caps) {
    cap_permitted = cap_effective = cap_ambient = 0;
  }
  if (old_euid == 0 && euid != 0) cap_effective = 0;
  if (old_euid != 0 && euid == 0) cap_effective = cap_permitted;
  // fsuid follows euid; dropping fsuid 0 drops the file-system capabilities.
  constexpr uint64_t kFsCaps = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) |
                               (1u << 9) | (uint64_t{1} << 27);  // CHOWN..FSETID, LINUX_IMMUTABLE, MKNOD
  if (fsuid == 0) {
    cap_effective |= cap_permitted & kFsCaps;
  } else {
    cap_effective &= ~kFsCaps;
  }
}

void Credentials::ApplyExec() {
  const uint64_t old_permitted = cap_permitted;
  // A program without file capabilities: fP = fI = 0, unless root, for which they are all set
  // (and fE too when the effective uid is 0).
  bool root = ruid == 0 || euid == 0;
  uint64_t permitted = root ? (cap_bounding | cap_inheritable) : 0;
  // Gaining capabilities under no_new_privs is refused by keeping only those held before.
  if ((permitted & ~old_permitted) && no_new_privs) permitted &= old_permitted;
  // The ambient set survives (no file capabilities, no set-ID) and is added.
  cap_permitted = permitted | cap_ambient;
  cap_effective = euid == 0 ? cap_permitted : cap_ambient;
  keep_caps = false;
}

}  // namespace moat::kernel
