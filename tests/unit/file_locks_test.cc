// The lock table (sentry/vfs/lock.h) on its own, without blocking: how record locks split,
// merge, conflict and go; and extended attributes through the overlay's copy-up.
#include "sentry/vfs/lock.h"

#include <sys/file.h>
#include <sys/xattr.h>

#include <algorithm>

#include "sentry/fsimpl/overlay.h"
#include "sentry/fsimpl/tmpfs.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using testing::NoTask;
using testing::TestFs;

// Two owners, as an fd table and an open file description would be.
const int kOwnerA = 1;
const int kOwnerB = 2;
constexpr LockOwner A = &kOwnerA;
constexpr LockOwner B = &kOwnerB;

RecordLock Req(LockOwner owner, int type, int64_t start, int64_t end, bool ofd = false) {
  RecordLock r;
  r.owner = owner;
  r.type = type;
  r.start = start;
  r.end = end;
  r.pid = owner == A ? 1 : 2;
  r.ofd = ofd;
  return r;
}

// The locks of `owner` as "type:start-end" strings, in order.
std::vector<std::string> Held(FileLocks& locks, LockOwner owner) {
  std::vector<RecordLock> all = locks.RecordLocks();
  std::sort(all.begin(), all.end(),
            [](const RecordLock& a, const RecordLock& b) { return a.start < b.start; });
  std::vector<std::string> out;
  for (const RecordLock& r : all) {
    if (r.owner != owner) continue;
    out.push_back(std::string(r.type == F_RDLCK ? "r" : "w") + ":" + std::to_string(r.start) +
                  "-" + (r.end == kLockEnd ? "eof" : std::to_string(r.end)));
  }
  return out;
}

TEST(FileLocksTest, SplitsAndMerges) {
  FileLocks locks;
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_WRLCK, 0, 99), false));
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_RDLCK, 10, 19), false));
  EXPECT_EQ(Held(locks, A), (std::vector<std::string>{"w:0-9", "r:10-19", "w:20-99"}));
  // Same type over the middle: everything merges back into one lock.
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_WRLCK, 5, 25), false));
  EXPECT_EQ(Held(locks, A), (std::vector<std::string>{"w:0-99"}));
  // Adjacent ranges of one type merge; to-EOF stays to-EOF.
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_WRLCK, 100, kLockEnd), false));
  EXPECT_EQ(Held(locks, A), (std::vector<std::string>{"w:0-eof"}));
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_UNLCK, 50, 59), false));
  EXPECT_EQ(Held(locks, A), (std::vector<std::string>{"w:0-49", "w:60-eof"}));
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_UNLCK, 0, kLockEnd), false));
  EXPECT_TRUE(Held(locks, A).empty());
}

TEST(FileLocksTest, ConflictsAreBetweenOwners) {
  FileLocks locks;
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_RDLCK, 0, 9), false));
  ASSERT_OK(locks.SetRecord(NoTask(), Req(B, F_RDLCK, 5, 14), false));
  EXPECT_ERRNO(locks.SetRecord(NoTask(), Req(B, F_WRLCK, 0, 0), false), EAGAIN);
  std::optional<RecordLock> c = locks.FindConflict(Req(B, F_WRLCK, 0, kLockEnd));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->owner, A);
  EXPECT_EQ(c->start, 0);
  EXPECT_EQ(c->end, 9);
  // An owner's own lock never conflicts: A upgrades where B does not overlap.
  ASSERT_OK(locks.SetRecord(NoTask(), Req(A, F_WRLCK, 0, 4), false));
  EXPECT_ERRNO(locks.SetRecord(NoTask(), Req(A, F_WRLCK, 0, 9), false), EAGAIN);
  // A failed request changes nothing.
  EXPECT_EQ(Held(locks, A), (std::vector<std::string>{"w:0-4", "r:5-9"}));
  locks.ReleaseRecords(A);
  EXPECT_FALSE(locks.FindConflict(Req(B, F_RDLCK, 0, kLockEnd)).has_value());
  ASSERT_OK(locks.SetRecord(NoTask(), Req(B, F_WRLCK, 0, 100), false));
}

TEST(FileLocksTest, FlockNonBlocking) {
  FileLocks locks;
  ASSERT_OK(locks.Flock(NoTask(), A, LOCK_SH, true));
  ASSERT_OK(locks.Flock(NoTask(), B, LOCK_SH, true));
  EXPECT_ERRNO(locks.Flock(NoTask(), A, LOCK_EX, true), EWOULDBLOCK);
  // The failed conversion dropped A's lock, as Linux does.
  ASSERT_OK(locks.Flock(NoTask(), B, LOCK_EX, true));
  locks.ReleaseFlock(B);
  ASSERT_OK(locks.Flock(NoTask(), A, LOCK_EX, true));
  // Record locks are a separate world.
  ASSERT_OK(locks.SetRecord(NoTask(), Req(B, F_WRLCK, 0, kLockEnd), false));
}

// An overlay over a tmpfs lower layer whose file has attributes: they are seen through the
// overlay, survive the copy-up a write makes, and changes stay in the upper layer.
TEST(OverlayXattrTest, CopyUpCarriesAttributes) {
  RefPtr<Dentry> lower = fsimpl::NewTmpfs(0755, 0, 0, 0);
  TestFs lower_fs(lower);
  ASSERT_OK(lower_fs.WriteFile("/f", "data"));
  Path lf = ASSERT_OK_AND_GET(lower_fs.Lookup("/f"));
  ASSERT_OK(lf.dentry->inode()->SetXattr("user.kept", "v1", 0));

  TestFs fs(fsimpl::NewOverlay(lower, fsimpl::NewTmpfs(0755, 0, 0, 0)), MountFlags{}, "overlay");
  Path f = ASSERT_OK_AND_GET(fs.Lookup("/f"));
  Inode& inode = *f.dentry->inode();
  EXPECT_EQ(ASSERT_OK_AND_GET(inode.GetXattr("user.kept")), "v1");
  EXPECT_ERRNO(inode.GetXattr("user.none"), ENODATA);
  // Removing what is not there needs no copy-up, and fails.
  EXPECT_ERRNO(inode.RemoveXattr("user.none"), ENODATA);

  ASSERT_OK(inode.SetXattr("user.new", "v2", XATTR_CREATE));
  std::vector<std::string> names = ASSERT_OK_AND_GET(inode.ListXattr());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"user.kept", "user.new"}));
  EXPECT_ERRNO(inode.SetXattr("user.kept", "x", XATTR_CREATE), EEXIST);
  ASSERT_OK(inode.RemoveXattr("user.kept"));
  EXPECT_ERRNO(inode.GetXattr("user.kept"), ENODATA);
  // The lower file is untouched.
  EXPECT_EQ(ASSERT_OK_AND_GET(lf.dentry->inode()->GetXattr("user.kept")), "v1");
  EXPECT_ERRNO(lf.dentry->inode()->GetXattr("user.new"), ENODATA);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/f")), "data");
}

TEST(MemfdTest, NameAndSeals) {
  RefPtr<Credentials> creds = Credentials::New(0, 0);
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fsimpl::NewMemfd("name", true, false, *creds));
  EXPECT_EQ(PathString(Path{}, f->path()), "/memfd:name (deleted)");
  EXPECT_EQ(ASSERT_OK_AND_GET(f->GetSeals()), 0u);
  ASSERT_OK(f->AddSeals(F_SEAL_GROW | F_SEAL_SEAL));
  EXPECT_ERRNO(f->AddSeals(F_SEAL_SHRINK), EPERM);
  const uint8_t byte = 1;
  EXPECT_ERRNO(f->PWrite(NoTask(), std::span<const uint8_t>(&byte, 1), 0), EPERM);
}

}  // namespace
}  // namespace moat::vfs
