// Conformance tests for file permissions with unprivileged credentials: search
// permission on every directory of a path, the owner/group/other classes,
// supplementary groups, access(2) with real against effective ids, the umask,
// sticky and set-group-ID directories, the chmod and chown rules, set-id bits
// dropped by writes, truncation and chown, and who may set file times.
//
// The tests run as root (as CI does) and drop to unprivileged ids in forked
// children, which report through CHILD_CHECK*.

#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

constexpr uid_t kOwner = 1001;
constexpr uid_t kOther = 1002;
constexpr gid_t kGroup = 2001;
constexpr gid_t kGroup2 = 2002;
constexpr gid_t kNobodyGroup = 2099;

// Drops to uid/gid with `groups` as supplementary groups; fails the child on error.
void BecomeUser(uid_t uid, gid_t gid, const std::vector<gid_t>& groups = {}) {
  CHILD_CHECK_SUCCESS(setgroups(groups.size(), groups.data()));
  CHILD_CHECK_SUCCESS(setresgid(gid, gid, gid));
  CHILD_CHECK_SUCCESS(setresuid(uid, uid, uid));
}

class PermTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (getuid() != 0) GTEST_SKIP() << "needs root to switch to unprivileged ids";
    old_umask_ = umask(0);
    // Everyone may reach the test directory; what is under it decides.
    ASSERT_THAT(chmod(dir_.path().c_str(), 0755), SyscallSucceeds());
  }
  void TearDown() override { umask(old_umask_); }

  std::string P(const std::string& name) const { return dir_.Join(name); }

  void MakeFile(const std::string& name, mode_t mode, uid_t uid = 0, gid_t gid = 0,
                const std::string& contents = "data") {
    ASSERT_TRUE(CreateFileWithContents(P(name), contents, mode)) << name;
    ASSERT_THAT(chown(P(name).c_str(), uid, gid), SyscallSucceeds());
    ASSERT_THAT(chmod(P(name).c_str(), mode), SyscallSucceeds());
  }
  void MakeDir(const std::string& name, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
    ASSERT_THAT(mkdir(P(name).c_str(), mode), SyscallSucceeds()) << name;
    ASSERT_THAT(chown(P(name).c_str(), uid, gid), SyscallSucceeds());
    ASSERT_THAT(chmod(P(name).c_str(), mode), SyscallSucceeds());
  }
  mode_t Mode(const std::string& name) {
    struct stat st = {};
    EXPECT_THAT(lstat(P(name).c_str(), &st), SyscallSucceeds()) << name;
    return st.st_mode & 07777;
  }
  struct stat StatOf(const std::string& name) {
    struct stat st = {};
    EXPECT_THAT(lstat(P(name).c_str(), &st), SyscallSucceeds()) << name;
    return st;
  }

  TempDir dir_;
  mode_t old_umask_ = 0;
};

// ---------------------------------------------------------------------------
// Search, read, write and execute

TEST_F(PermTest, SearchPermissionOnEveryDirectory) {
  MakeDir("closed", 0700, kOwner, kGroup);
  MakeFile("closed/f", 0644, kOwner, kGroup);
  MakeDir("xonly", 0711, kOwner, kGroup);
  MakeFile("xonly/f", 0644, kOwner, kGroup);
  MakeDir("ronly", 0744, kOwner, kGroup);
  MakeFile("ronly/f", 0644, kOwner, kGroup);
  MakeDir("a", 0700);
  MakeDir("a/b", 0777);
  MakeFile("a/b/f", 0666);
  ASSERT_THAT(symlink(P("closed/f").c_str(), P("tolocked").c_str()), SyscallSucceeds());
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    struct stat st;
    CHILD_CHECK_ERRNO(stat(P("closed/f").c_str(), &st), EACCES);
    CHILD_CHECK_ERRNO(stat(P("closed/missing").c_str(), &st), EACCES);
    CHILD_CHECK_ERRNO(open(P("closed/f").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_ERRNO(access(P("closed/f").c_str(), F_OK), EACCES);
    CHILD_CHECK_ERRNO(mkdir(P("closed/x").c_str(), 0755), EACCES);
    CHILD_CHECK_ERRNO(unlink(P("closed/f").c_str()), EACCES);
    CHILD_CHECK_ERRNO(rename(P("closed/f").c_str(), P("x").c_str()), EACCES);
    CHILD_CHECK_ERRNO(chdir(P("closed").c_str()), EACCES);
    CHILD_CHECK_ERRNO(stat(P("a/b/f").c_str(), &st), EACCES);
    CHILD_CHECK_ERRNO(open(P("tolocked").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_SUCCESS(lstat(P("tolocked").c_str(), &st));
    // The directory itself can be stat'ed: that needs search on its parent only.
    CHILD_CHECK_SUCCESS(stat(P("closed").c_str(), &st));
    // Search without read: names work, listing does not.
    CHILD_CHECK_SUCCESS(stat(P("xonly/f").c_str(), &st));
    int fd = open(P("xonly/f").c_str(), O_RDONLY);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK_ERRNO(open(P("xonly").c_str(), O_RDONLY | O_DIRECTORY), EACCES);
    CHILD_CHECK_ERRNO(open(P("xonly/new").c_str(), O_CREAT | O_WRONLY, 0644), EACCES);
    // Read without search: listing works, names do not.
    fd = open(P("ronly").c_str(), O_RDONLY | O_DIRECTORY);
    CHILD_CHECK(fd >= 0);
    char buf[512];
    CHILD_CHECK(syscall(SYS_getdents64, fd, buf, sizeof(buf)) > 0);
    CHILD_CHECK_ERRNO(fstatat(fd, "f", &st, 0), EACCES);
    CHILD_CHECK_ERRNO(fchdir(fd), EACCES);
    close(fd);
    CHILD_CHECK_ERRNO(stat(P("ronly/f").c_str(), &st), EACCES);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup);
    struct stat st;
    CHILD_CHECK_SUCCESS(stat(P("closed/f").c_str(), &st));
    CHILD_CHECK_SUCCESS(chdir(P("closed").c_str()));
  });
}

TEST_F(PermTest, OwnerGroupAndOtherClasses) {
  MakeFile("f640", 0640, kOwner, kGroup);
  MakeFile("f077", 0077, kOwner, kGroup);
  MakeFile("f604", 0604, kOwner, kGroup);
  MakeFile("exec", 0755, kOwner, kGroup);
  MakeFile("noexec", 0644, kOwner, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup);
    int fd = open(P("f640").c_str(), O_RDWR);
    CHILD_CHECK(fd >= 0);
    close(fd);
    // The owner gets the owner bits only.
    CHILD_CHECK_ERRNO(open(P("f077").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_ERRNO(access(P("f077").c_str(), R_OK), EACCES);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kGroup);
    int fd = open(P("f640").c_str(), O_RDONLY);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK_ERRNO(open(P("f640").c_str(), O_WRONLY), EACCES);
    CHILD_CHECK_ERRNO(open(P("f640").c_str(), O_RDONLY | O_TRUNC), EACCES);
    CHILD_CHECK_ERRNO(truncate(P("f640").c_str(), 0), EACCES);
    fd = open(P("f077").c_str(), O_RDWR);
    CHILD_CHECK(fd >= 0);
    close(fd);
    // A member of the group gets the group bits only.
    CHILD_CHECK_ERRNO(open(P("f604").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_SUCCESS(access(P("exec").c_str(), X_OK));
    CHILD_CHECK_ERRNO(access(P("noexec").c_str(), X_OK), EACCES);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    CHILD_CHECK_ERRNO(open(P("f640").c_str(), O_RDONLY), EACCES);
    int fd = open(P("f604").c_str(), O_RDONLY);
    CHILD_CHECK(fd >= 0);
    close(fd);
    // O_NOATIME is for the owner.
    CHILD_CHECK_ERRNO(open(P("f604").c_str(), O_RDONLY | O_NOATIME), EPERM);
  });
}

TEST_F(PermTest, SupplementaryGroups) {
  MakeFile("f", 0060, kOwner, kGroup2);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kGroup, {kGroup2});
    int fd = open(P("f").c_str(), O_RDWR);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK_SUCCESS(access(P("f").c_str(), R_OK | W_OK));
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kGroup, {});
    CHILD_CHECK_ERRNO(open(P("f").c_str(), O_RDONLY), EACCES);
  });
}

TEST_F(PermTest, AccessUsesRealIdsUnlessEaccess) {
  MakeFile("owner", 0600, kOwner, 0);
  MakeFile("other", 0600, kOther, 0);
  MakeFile("group", 0060, 0, kGroup);
  MakeFile("none", 0000);
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setgroups(0, nullptr));
    CHILD_CHECK_SUCCESS(setresgid(kGroup, kGroup2, kGroup2));
    CHILD_CHECK_SUCCESS(setresuid(kOwner, kOther, kOther));
    CHILD_CHECK_SUCCESS(access(P("owner").c_str(), R_OK | W_OK));
    CHILD_CHECK_ERRNO(faccessat(AT_FDCWD, P("owner").c_str(), R_OK, AT_EACCESS), EACCES);
    CHILD_CHECK_ERRNO(access(P("other").c_str(), R_OK), EACCES);
    CHILD_CHECK_SUCCESS(faccessat(AT_FDCWD, P("other").c_str(), R_OK, AT_EACCESS));
    CHILD_CHECK_SUCCESS(syscall(SYS_faccessat2, AT_FDCWD, P("other").c_str(), R_OK, AT_EACCESS));
    CHILD_CHECK_SUCCESS(access(P("group").c_str(), R_OK));
    CHILD_CHECK_ERRNO(faccessat(AT_FDCWD, P("group").c_str(), R_OK, AT_EACCESS), EACCES);
    // open goes by the effective (file system) ids.
    int fd = open(P("other").c_str(), O_RDONLY);
    CHILD_CHECK(fd >= 0);
    close(fd);
  });
  // A real root keeps its capabilities for access() while the effective uid is not root.
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setresuid(0, kOther, 0));
    CHILD_CHECK_SUCCESS(access(P("none").c_str(), R_OK | W_OK));
    CHILD_CHECK_ERRNO(faccessat(AT_FDCWD, P("none").c_str(), R_OK, AT_EACCESS), EACCES);
    CHILD_CHECK_ERRNO(open(P("none").c_str(), O_RDONLY), EACCES);
  });
  // Root may read and write anything, but executes only what has an x bit.
  EXPECT_THAT(access(P("none").c_str(), R_OK | W_OK), SyscallSucceeds());
  EXPECT_THAT(access(P("none").c_str(), X_OK), SyscallFailsWithErrno(EACCES));
  MakeFile("gx", 0010);
  EXPECT_THAT(access(P("gx").c_str(), X_OK), SyscallSucceeds());
  MakeDir("d", 0000);
  EXPECT_THAT(access(P("d").c_str(), X_OK), SyscallSucceeds());
  EXPECT_THAT(access(P("none").c_str(), 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_faccessat2, AT_FDCWD, P("none").c_str(), R_OK, 0x4),
              SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// umask

TEST_F(PermTest, UmaskAppliesToNewFiles) {
  umask(027);
  FileDescriptor fd(open(P("f").c_str(), O_CREAT | O_WRONLY, 0777));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(Mode("f"), 0750u);
  ASSERT_THAT(mkdir(P("d").c_str(), 0777), SyscallSucceeds());
  EXPECT_EQ(Mode("d"), 0750u);
  ASSERT_THAT(mknod(P("fifo").c_str(), S_IFIFO | 0666, 0), SyscallSucceeds());
  EXPECT_EQ(Mode("fifo"), 0640u);
  ASSERT_THAT(mknod(P("reg").c_str(), S_IFREG | 0666, 0), SyscallSucceeds());
  EXPECT_EQ(Mode("reg"), 0640u);
  ASSERT_THAT(symlink("f", P("link").c_str()), SyscallSucceeds());
  EXPECT_EQ(Mode("link"), 0777u);
  // chmod ignores the umask.
  ASSERT_THAT(chmod(P("f").c_str(), 0777), SyscallSucceeds());
  EXPECT_EQ(Mode("f"), 0777u);
  // Only the permission bits are kept.
  umask(07777);
  EXPECT_EQ(umask(0), 0777u);
  // Special bits pass through open; mkdir keeps only the sticky bit.
  FileDescriptor fd2(open(P("special").c_str(), O_CREAT | O_WRONLY, 07777));
  ASSERT_TRUE(fd2.valid());
  EXPECT_EQ(Mode("special"), 07777u);
  ASSERT_THAT(mkdir(P("sd").c_str(), 07777), SyscallSucceeds());
  EXPECT_EQ(Mode("sd"), 01777u);
  // The umask is per process and inherited.
  umask(077);
  EXPECT_CHILD_SUCCEEDS([&] { CHILD_CHECK(umask(0) == 077); });
}

// ---------------------------------------------------------------------------
// Sticky and set-group-ID directories

TEST_F(PermTest, StickyDirectory) {
  MakeDir("s", 01777);
  MakeDir("t", 01777, kOther, kNobodyGroup);
  MakeDir("ro", 01755);
  MakeFile("ro/f", 0666, kOwner, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup);
    CHILD_CHECK(CreateFileWithContents(P("s/mine"), "m", 0644));
    CHILD_CHECK(CreateFileWithContents(P("s/keep"), "k", 0666));
    CHILD_CHECK(CreateFileWithContents(P("t/mine"), "m", 0644));
    CHILD_CHECK_SUCCESS(mkdir(P("s/dir").c_str(), 0777));
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    CHILD_CHECK_ERRNO(unlink(P("s/mine").c_str()), EPERM);
    CHILD_CHECK_ERRNO(rename(P("s/mine").c_str(), P("s/x").c_str()), EPERM);
    CHILD_CHECK_ERRNO(rmdir(P("s/dir").c_str()), EPERM);
    CHILD_CHECK(CreateFileWithContents(P("s/theirs"), "t", 0644));
    // Replacing someone else's file is removing it.
    CHILD_CHECK_ERRNO(rename(P("s/theirs").c_str(), P("s/keep").c_str()), EPERM);
    // Writing it is a matter of its own mode.
    int fd = open(P("s/keep").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    close(fd);
    // The directory's owner may remove anything in it.
    CHILD_CHECK_SUCCESS(unlink(P("t/mine").c_str()));
    // Without write permission on the directory it is EACCES, before the sticky rule.
    CHILD_CHECK_ERRNO(unlink(P("ro/f").c_str()), EACCES);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup);
    CHILD_CHECK_SUCCESS(unlink(P("s/mine").c_str()));
    CHILD_CHECK_SUCCESS(rmdir(P("s/dir").c_str()));
  });
  // Root (CAP_FOWNER) may remove anything.
  EXPECT_THAT(unlink(P("s/theirs").c_str()), SyscallSucceeds());
}

TEST_F(PermTest, SetgidDirectory) {
  MakeDir("g", 02777, 0, kGroup);
  FileDescriptor fd(open(P("g/byroot").c_str(), O_CREAT | O_WRONLY, 0644));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(StatOf("g/byroot").st_gid, kGroup);
  ASSERT_THAT(mkdir(P("g/sub").c_str(), 0755), SyscallSucceeds());
  EXPECT_EQ(StatOf("g/sub").st_gid, kGroup);
  EXPECT_EQ(Mode("g/sub"), 02755u);
  // Deeper directories inherit again.
  ASSERT_THAT(mkdir(P("g/sub/deeper").c_str(), 0700), SyscallSucceeds());
  EXPECT_EQ(Mode("g/sub/deeper"), 02700u);
  EXPECT_EQ(StatOf("g/sub/deeper").st_gid, kGroup);
  ASSERT_THAT(mknod(P("g/fifo").c_str(), S_IFIFO | 0644, 0), SyscallSucceeds());
  EXPECT_EQ(StatOf("g/fifo").st_gid, kGroup);
  ASSERT_THAT(symlink("x", P("g/link").c_str()), SyscallSucceeds());
  EXPECT_EQ(StatOf("g/link").st_gid, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    // A non-member's set-group-ID executable loses the bit; without group execute it stays.
    int f = open(P("g/sgid").c_str(), O_CREAT | O_WRONLY, 02755);
    CHILD_CHECK(f >= 0);
    close(f);
    struct stat st;
    CHILD_CHECK_SUCCESS(stat(P("g/sgid").c_str(), &st));
    CHILD_CHECK(st.st_gid == kGroup);
    CHILD_CHECK((st.st_mode & 07777) == 0755);
    f = open(P("g/sgid_nox").c_str(), O_CREAT | O_WRONLY, 02745);
    CHILD_CHECK(f >= 0);
    close(f);
    CHILD_CHECK_SUCCESS(stat(P("g/sgid_nox").c_str(), &st));
    CHILD_CHECK((st.st_mode & 07777) == 02745);
    CHILD_CHECK_SUCCESS(mkdir(P("g/hisdir").c_str(), 0755));
    CHILD_CHECK_SUCCESS(stat(P("g/hisdir").c_str(), &st));
    CHILD_CHECK(st.st_gid == kGroup);
    CHILD_CHECK((st.st_mode & 07777) == 02755);
    // chmod by the owner who is not in the file's group drops S_ISGID silently.
    CHILD_CHECK_SUCCESS(chmod(P("g/sgid").c_str(), 02755));
    CHILD_CHECK_SUCCESS(stat(P("g/sgid").c_str(), &st));
    CHILD_CHECK((st.st_mode & 07777) == 0755);
    CHILD_CHECK_SUCCESS(chmod(P("g/hisdir").c_str(), 02700));
    CHILD_CHECK_SUCCESS(stat(P("g/hisdir").c_str(), &st));
    CHILD_CHECK((st.st_mode & 07777) == 0700);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup, {kGroup});
    CHILD_CHECK_SUCCESS(chmod(P("g/sgid").c_str(), 02755));
    struct stat st;
    CHILD_CHECK_SUCCESS(stat(P("g/sgid").c_str(), &st));
    CHILD_CHECK((st.st_mode & 07777) == 02755);
  });
}

// ---------------------------------------------------------------------------
// chmod and chown

TEST_F(PermTest, ChmodRules) {
  MakeFile("mine", 0644, kOwner, kGroup);
  MakeFile("theirs", 0666, kOther, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup);
    CHILD_CHECK_SUCCESS(chmod(P("mine").c_str(), 0600));
    CHILD_CHECK_SUCCESS(chmod(P("mine").c_str(), 04700));
    CHILD_CHECK_ERRNO(chmod(P("theirs").c_str(), 0666), EPERM);
    int fd = open(P("theirs").c_str(), O_RDWR);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK_ERRNO(fchmod(fd, 0666), EPERM);
    close(fd);
  });
  EXPECT_EQ(Mode("mine"), 04700u);
}

TEST_F(PermTest, ChownRules) {
  MakeFile("mine", 0644, kOwner, kGroup);
  MakeFile("theirs", 0644, kOther, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup, {kGroup2});
    // Giving a file away, even one's own, takes CAP_CHOWN.
    CHILD_CHECK_ERRNO(chown(P("mine").c_str(), kOther, -1), EPERM);
    CHILD_CHECK_ERRNO(chown(P("theirs").c_str(), kOwner, -1), EPERM);
    // "Changing" to the same owner is fine for the owner only.
    CHILD_CHECK_SUCCESS(chown(P("mine").c_str(), kOwner, -1));
    CHILD_CHECK_ERRNO(chown(P("theirs").c_str(), kOther, -1), EPERM);
    CHILD_CHECK_ERRNO(chown(P("theirs").c_str(), -1, kGroup), EPERM);
    // The owner may pick any group it is a member of.
    CHILD_CHECK_SUCCESS(chown(P("mine").c_str(), -1, kGroup2));
    CHILD_CHECK_SUCCESS(chown(P("mine").c_str(), kOwner, kGroup));
    CHILD_CHECK_ERRNO(chown(P("mine").c_str(), -1, kNobodyGroup), EPERM);
    // Changing nothing needs nothing.
    CHILD_CHECK_SUCCESS(chown(P("theirs").c_str(), -1, -1));
  });
  struct stat st = StatOf("mine");
  EXPECT_EQ(st.st_uid, kOwner);
  EXPECT_EQ(st.st_gid, kGroup);
}

TEST_F(PermTest, ChownClearsSetIdBits) {
  MakeFile("suid", 06755);
  MakeFile("sgid_nox", 02745);
  MakeDir("dir", 06755);
  ASSERT_THAT(chown(P("suid").c_str(), kOwner, kGroup), SyscallSucceeds());
  EXPECT_EQ(Mode("suid"), 0755u);
  // Without group execute S_ISGID means mandatory locking, not set-group-ID: root keeps it.
  ASSERT_THAT(chown(P("sgid_nox").c_str(), kOwner, kGroup), SyscallSucceeds());
  EXPECT_EQ(Mode("sgid_nox"), 02745u);
  ASSERT_THAT(chown(P("dir").c_str(), kOwner, kGroup), SyscallSucceeds());
  EXPECT_EQ(Mode("dir"), 06755u);
  // Even a chown that changes nothing drops them.
  ASSERT_THAT(chmod(P("suid").c_str(), 06755), SyscallSucceeds());
  ASSERT_THAT(chown(P("suid").c_str(), -1, -1), SyscallSucceeds());
  EXPECT_EQ(Mode("suid"), 0755u);
  // An owner changing the group of its set-group-ID file loses the bit too.
  MakeFile("hers", 02750, kOwner, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOwner, kGroup, {kGroup2});
    CHILD_CHECK_SUCCESS(chown(P("hers").c_str(), -1, kGroup2));
  });
  EXPECT_EQ(Mode("hers"), 0750u);
}

// ---------------------------------------------------------------------------
// Set-id bits and writes

TEST_F(PermTest, WriteByNonRootClearsSetIdBits) {
  MakeFile("f", 06777);
  MakeFile("nox", 06767);
  MakeFile("t", 06777);
  MakeFile("ft", 06777);
  MakeFile("empty", 06777);
  MakeFile("byroot", 06777);
  MakeFile("member", 02777, 0, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    int fd = open(P("f").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "x", 1) == 1);
    close(fd);
    fd = open(P("nox").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(pwrite(fd, "x", 1, 10) == 1);
    close(fd);
    CHILD_CHECK_SUCCESS(truncate(P("t").c_str(), 1));
    fd = open(P("ft").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK_SUCCESS(ftruncate(fd, 2));
    close(fd);
    fd = open(P("empty").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "", 0) == 0);
    close(fd);
  });
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup, {kGroup});
    int fd = open(P("member").c_str(), O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "x", 1) == 1);
    close(fd);
  });
  EXPECT_EQ(Mode("f"), 0777u);
  EXPECT_EQ(Mode("nox"), 0767u);
  EXPECT_EQ(Mode("t"), 0777u);
  EXPECT_EQ(Mode("ft"), 0777u);
  EXPECT_EQ(Mode("empty"), 06777u);
  EXPECT_EQ(Mode("member"), 0777u);
  // Root (CAP_FSETID) keeps them.
  FileDescriptor fd(open(P("byroot").c_str(), O_WRONLY));
  ASSERT_TRUE(fd.valid());
  ASSERT_THAT(write(fd.get(), "x", 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(ftruncate(fd.get(), 0), SyscallSucceeds());
  EXPECT_EQ(Mode("byroot"), 06777u);
}

// ---------------------------------------------------------------------------
// Times

TEST_F(PermTest, WhoMaySetTimes) {
  MakeFile("writable", 0666, kOwner, kGroup);
  MakeFile("readonly", 0644, kOwner, kGroup);
  MakeFile("own_ro", 0444, kOther, kGroup);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    const struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    const struct timespec set[2] = {{100, 0}, {200, 0}};
    const struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    const struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    // "Now" needs write permission; explicit times need ownership.
    CHILD_CHECK_SUCCESS(utimensat(AT_FDCWD, P("writable").c_str(), nullptr, 0));
    CHILD_CHECK_SUCCESS(utimensat(AT_FDCWD, P("writable").c_str(), now, 0));
    CHILD_CHECK_ERRNO(utimensat(AT_FDCWD, P("writable").c_str(), set, 0), EPERM);
    CHILD_CHECK_ERRNO(utimensat(AT_FDCWD, P("writable").c_str(), now_omit, 0), EPERM);
    CHILD_CHECK_ERRNO(utimensat(AT_FDCWD, P("readonly").c_str(), nullptr, 0), EACCES);
    CHILD_CHECK_ERRNO(utimensat(AT_FDCWD, P("readonly").c_str(), set, 0), EPERM);
    CHILD_CHECK_SUCCESS(utimensat(AT_FDCWD, P("readonly").c_str(), omit, 0));
    CHILD_CHECK_ERRNO(utimes(P("readonly").c_str(), nullptr), EACCES);
    // The owner may do both without write permission.
    CHILD_CHECK_SUCCESS(utimensat(AT_FDCWD, P("own_ro").c_str(), nullptr, 0));
    CHILD_CHECK_SUCCESS(utimensat(AT_FDCWD, P("own_ro").c_str(), set, 0));
    // futimens checks the file, not how the descriptor was opened.
    int fd = open(P("writable").c_str(), O_RDONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK_SUCCESS(futimens(fd, nullptr));
    CHILD_CHECK_ERRNO(futimens(fd, set), EPERM);
    close(fd);
  });
  struct stat st = StatOf("own_ro");
  EXPECT_EQ(st.st_atim.tv_sec, 100);
  EXPECT_EQ(st.st_mtim.tv_sec, 200);
}

// ---------------------------------------------------------------------------
// Namespace changes

TEST_F(PermTest, CreateRemoveAndRenameNeedWriteAndSearch) {
  MakeDir("w", 0777);
  MakeDir("nw", 0755);
  MakeFile("nw/f", 0666);
  MakeDir("wx_only", 0333);
  MakeDir("w_nox", 0666);
  MakeFile("w/ro", 0444);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    CHILD_CHECK_ERRNO(open(P("nw/new").c_str(), O_CREAT | O_WRONLY, 0644), EACCES);
    CHILD_CHECK_ERRNO(mkdir(P("nw/new").c_str(), 0755), EACCES);
    CHILD_CHECK_ERRNO(symlink("x", P("nw/new").c_str()), EACCES);
    CHILD_CHECK_ERRNO(mknod(P("nw/new").c_str(), S_IFIFO | 0644, 0), EACCES);
    CHILD_CHECK_ERRNO(link(P("nw/f").c_str(), P("nw/new").c_str()), EACCES);
    CHILD_CHECK_ERRNO(unlink(P("nw/f").c_str()), EACCES);
    CHILD_CHECK_ERRNO(rename(P("nw/f").c_str(), P("w/f").c_str()), EACCES);
    // An existing file opens with O_CREAT without write permission on the directory.
    int fd = open(P("nw/f").c_str(), O_CREAT | O_RDONLY, 0644);
    CHILD_CHECK(fd >= 0);
    close(fd);
    // ... and EEXIST beats EACCES for names that exist.
    CHILD_CHECK_ERRNO(mkdir(P("nw/f").c_str(), 0755), EEXIST);
    CHILD_CHECK_ERRNO(open(P("nw/f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    // Write and search without read is enough to create and remove.
    fd = open(P("wx_only/new").c_str(), O_CREAT | O_WRONLY, 0644);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK_SUCCESS(unlink(P("wx_only/new").c_str()));
    // Write without search is not.
    CHILD_CHECK_ERRNO(open(P("w_nox/new").c_str(), O_CREAT | O_WRONLY, 0644), EACCES);
    // A read-only file in a writable directory can be removed and replaced.
    CHILD_CHECK(CreateFileWithContents(P("w/mine"), "m", 0644));
    CHILD_CHECK_SUCCESS(rename(P("w/mine").c_str(), P("w/ro").c_str()));
  });
}

TEST_F(PermTest, MovingADirectoryNeedsWriteOnIt) {
  MakeDir("a", 0777);
  MakeDir("b", 0777);
  EXPECT_CHILD_SUCCEEDS([&] {
    BecomeUser(kOther, kNobodyGroup);
    CHILD_CHECK_SUCCESS(mkdir(P("a/d").c_str(), 0555));
    // Its ".." changes when it moves to another parent.
    CHILD_CHECK_ERRNO(rename(P("a/d").c_str(), P("b/d").c_str()), EACCES);
    // Within one parent it does not.
    CHILD_CHECK_SUCCESS(rename(P("a/d").c_str(), P("a/e").c_str()));
    CHILD_CHECK_SUCCESS(chmod(P("a/e").c_str(), 0755));
    CHILD_CHECK_SUCCESS(rename(P("a/e").c_str(), P("b/d").c_str()));
  });
}

}  // namespace
}  // namespace moat::testing
