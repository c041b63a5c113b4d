// Credentials: the virtual identity of a task (DESIGN.md section 4). Immutable once shared: a
// change makes a new Credentials (copy, edit, publish), like Linux's struct cred.
#ifndef MOAT_SENTRY_KERNEL_CREDENTIALS_H_
#define MOAT_SENTRY_KERNEL_CREDENTIALS_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "base/ref_counted.h"

namespace moat::kernel {

inline constexpr int kCapLastCap = 40;  // CAP_CHECKPOINT_RESTORE
inline constexpr uint64_t kAllCaps = (uint64_t{1} << (kCapLastCap + 1)) - 1;

class Credentials : public RefCounted<Credentials> {
 public:
  uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<gid_t> groups;
  uint64_t cap_effective = 0, cap_permitted = 0, cap_inheritable = 0, cap_bounding = kAllCaps,
           cap_ambient = 0;
  bool keep_caps = false;  // PR_SET_KEEPCAPS
  bool no_new_privs = false;

  // Root with every capability, or `uid`/`gid` with none.
  static RefPtr<Credentials> New(uid_t uid, gid_t gid);
  RefPtr<Credentials> Copy() const;

  bool HasCap(int cap) const { return cap_effective & (uint64_t{1} << cap); }
  bool InGroup(gid_t gid) const;
  // Applies Linux's capability rules after a change of uids (capabilities(7), "Effect of user ID
  // changes on capabilities"), given the uids before the change.
  void FixCapsAfterUidChange(uid_t old_ruid, uid_t old_euid, uid_t old_suid);
  // Applies Linux's capability rules of an execve (capabilities(7), "Transformation of
  // capabilities during execve()") for a program file without capabilities or set-user-ID
  // bits, which are all the sandbox has: root's permitted set becomes bounding | inheritable,
  // with its effective set equal to it; anyone else keeps only the ambient set. Under
  // no_new_privs nothing is gained beyond the permitted set held before. PR_SET_KEEPCAPS is
  // cleared.
  void ApplyExec();
};

}  // namespace moat::kernel

#endif  // MOAT_SENTRY_KERNEL_CREDENTIALS_H_
