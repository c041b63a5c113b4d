// Conformance tests for credentials, capabilities, resource limits and the
// other per-process identity calls (uname, getrandom, umask).
//
// The program runs as root. Every test that changes credentials or limits
// does so in a forked child, so that later tests still start as root with
// the original limits.

#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

constexpr uid_t kNobody = 65534;

// Fails the test unless we run as root; all credential tests depend on it.
#define REQUIRE_ROOT()                                                               \
  ASSERT_EQ(geteuid(), 0u) << "identity_test must run as root (euid 0) to test the " \
                              "credential system calls"

struct Caps {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

// Reads this thread's capability sets with the raw system call.
bool GetCaps(Caps* caps) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  caps->effective = data[0].effective | (static_cast<uint64_t>(data[1].effective) << 32);
  caps->permitted = data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);
  caps->inheritable = data[0].inheritable | (static_cast<uint64_t>(data[1].inheritable) << 32);
  return true;
}

bool SetCaps(const Caps& caps) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(caps.effective);
  data[1].effective = static_cast<uint32_t>(caps.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(caps.permitted);
  data[1].permitted = static_cast<uint32_t>(caps.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(caps.inheritable);
  data[1].inheritable = static_cast<uint32_t>(caps.inheritable >> 32);
  return syscall(SYS_capset, &header, data) == 0;
}

bool HasResuid(uid_t r, uid_t e, uid_t s) {
  uid_t rr, ee, ss;
  return getresuid(&rr, &ee, &ss) == 0 && rr == r && ee == e && ss == s;
}

bool HasResgid(gid_t r, gid_t e, gid_t s) {
  gid_t rr, ee, ss;
  return getresgid(&rr, &ee, &ss) == 0 && rr == r && ee == e && ss == s;
}

// ---------------------------------------------------------------------------
// User and group ids

TEST(IdTest, GettersAreConsistent) {
  uid_t ruid, euid, suid;
  ASSERT_THAT(getresuid(&ruid, &euid, &suid), SyscallSucceeds());
  EXPECT_EQ(ruid, getuid());
  EXPECT_EQ(euid, geteuid());
  gid_t rgid, egid, sgid;
  ASSERT_THAT(getresgid(&rgid, &egid, &sgid), SyscallSucceeds());
  EXPECT_EQ(rgid, getgid());
  EXPECT_EQ(egid, getegid());
}

TEST(IdTest, RunsAsRoot) {
  REQUIRE_ROOT();
  EXPECT_TRUE(HasResuid(0, 0, 0));
}

TEST(IdTest, SetresuidAsRootSetsAllThree) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setresuid(1000, 1001, 1002));
    CHILD_CHECK(HasResuid(1000, 1001, 1002));
    CHILD_CHECK(getuid() == 1000 && geteuid() == 1001);
    // An unprivileged process may set each id to any of its current three.
    CHILD_CHECK_SUCCESS(setresuid(1002, 1000, -1));
    CHILD_CHECK(HasResuid(1002, 1000, 1002));
    CHILD_CHECK_ERRNO(setresuid(-1, 5, -1), EPERM);
    CHILD_CHECK_ERRNO(setresuid(0, -1, -1), EPERM);
    // Nothing changed after the failures.
    CHILD_CHECK(HasResuid(1002, 1000, 1002));
  });
}

TEST(IdTest, SetuidAsRootDropsPrivilegesForGood) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    CHILD_CHECK(HasResuid(kNobody, kNobody, kNobody));
    CHILD_CHECK_ERRNO(setuid(0), EPERM);
    CHILD_CHECK_ERRNO(seteuid(0), EPERM);
    // Setting the id we already have is allowed.
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    Caps caps;
    CHILD_CHECK(GetCaps(&caps));
    CHILD_CHECK(caps.effective == 0 && caps.permitted == 0);
  });
}

TEST(IdTest, SeteuidKeepsSavedRoot) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(seteuid(1000));
    CHILD_CHECK(HasResuid(0, 1000, 0));
    // A nonzero euid clears the effective capabilities but not the permitted.
    Caps caps;
    CHILD_CHECK(GetCaps(&caps));
    CHILD_CHECK(caps.effective == 0);
    CHILD_CHECK(caps.permitted != 0);
    // Unprivileged now, but the saved id lets us return.
    CHILD_CHECK_ERRNO(seteuid(2000), EPERM);
    CHILD_CHECK_SUCCESS(seteuid(0));
    CHILD_CHECK(HasResuid(0, 0, 0));
    CHILD_CHECK(GetCaps(&caps));
    CHILD_CHECK(caps.effective != 0);
  });
}

TEST(IdTest, SetreuidSemantics) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    // Setting the real id also sets the saved id to the new effective id.
    CHILD_CHECK_SUCCESS(setreuid(1000, 2000));
    CHILD_CHECK(HasResuid(1000, 2000, 2000));
    // An unprivileged process may swap real and effective.
    CHILD_CHECK_SUCCESS(setreuid(2000, 1000));
    CHILD_CHECK(HasResuid(2000, 1000, 1000));
    CHILD_CHECK_ERRNO(setreuid(-1, 3000), EPERM);
    CHILD_CHECK_ERRNO(setreuid(3000, -1), EPERM);
    // Changing only the effective id to the real one leaves the saved id.
    CHILD_CHECK_SUCCESS(setreuid(-1, 2000));
    CHILD_CHECK(HasResuid(2000, 2000, 1000));
  });
}

TEST(IdTest, SetresgidAndSetgid) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setresgid(100, 101, 102));
    CHILD_CHECK(HasResgid(100, 101, 102));
    CHILD_CHECK(getgid() == 100 && getegid() == 101);
    CHILD_CHECK_SUCCESS(setgid(kNobody));
    CHILD_CHECK(HasResgid(kNobody, kNobody, kNobody));
    // Group changes need CAP_SETGID, which goes away with the uid.
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    CHILD_CHECK_ERRNO(setgid(0), EPERM);
    CHILD_CHECK_ERRNO(setresgid(-1, 5, -1), EPERM);
    CHILD_CHECK_SUCCESS(setgid(kNobody));
  });
}

TEST(IdTest, KeepcapsKeepsPermittedAcrossSetuid) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    CHILD_CHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 1);
    CHILD_CHECK_SUCCESS(setresuid(1000, 1000, 1000));
    Caps caps;
    CHILD_CHECK(GetCaps(&caps));
    CHILD_CHECK(caps.effective == 0);
    CHILD_CHECK(caps.permitted != 0);
    // Raising a permitted capability back into the effective set works.
    caps.effective = 1ull << CAP_SETUID;
    CHILD_CHECK(SetCaps(caps));
    CHILD_CHECK_SUCCESS(setuid(0));
  });
}

TEST(IdTest, SetfsuidReturnsPreviousValue) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK(setfsuid(1234) == 0);
    // An invalid id changes nothing and reports the current fsuid.
    CHILD_CHECK(setfsuid(-1) == 1234);
    CHILD_CHECK(setfsuid(0) == 1234);
    CHILD_CHECK(setfsgid(4321) == 0);
    CHILD_CHECK(setfsgid(-1) == 4321);
    // The fsuid follows the euid.
    CHILD_CHECK_SUCCESS(seteuid(42));
    CHILD_CHECK(setfsuid(-1) == 42);
  });
}

TEST(IdTest, FsuidOwnsCreatedFiles) {
  REQUIRE_ROOT();
  TempDir dir;
  ASSERT_THAT(chmod(dir.path().c_str(), 0777), SyscallSucceeds());
  const std::string path = dir.Join("owned");
  EXPECT_CHILD_SUCCEEDS([&path] {
    setfsgid(4321);
    setfsuid(1234);
    int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
    CHILD_CHECK_SUCCESS(fd);
    close(fd);
  });
  struct stat st = {};
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 4321u);
}

TEST(GroupsTest, SetAndGetSupplementaryGroups) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    gid_t groups[] = {10, 20, 30};
    CHILD_CHECK_SUCCESS(setgroups(3, groups));
    // A size of zero asks for the count.
    CHILD_CHECK(getgroups(0, nullptr) == 3);
    gid_t small[2];
    CHILD_CHECK_ERRNO(getgroups(2, small), EINVAL);
    gid_t out[8] = {};
    CHILD_CHECK(getgroups(8, out) == 3);
    CHILD_CHECK(out[0] == 10 && out[1] == 20 && out[2] == 30);
    CHILD_CHECK_SUCCESS(setgroups(0, nullptr));
    CHILD_CHECK(getgroups(0, nullptr) == 0);
    CHILD_CHECK_ERRNO(syscall(SYS_getgroups, -1, out), EINVAL);
  });
}

TEST(GroupsTest, Errors) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    std::vector<gid_t> too_many(65537, 1);
    CHILD_CHECK_ERRNO(setgroups(too_many.size(), too_many.data()), EINVAL);
    CHILD_CHECK_ERRNO(syscall(SYS_setgroups, 1, reinterpret_cast<gid_t*>(1)), EFAULT);
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    gid_t one = 1;
    CHILD_CHECK_ERRNO(setgroups(1, &one), EPERM);
  });
}

TEST(GroupsTest, InheritedByFork) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    gid_t groups[] = {7, 8};
    CHILD_CHECK_SUCCESS(setgroups(2, groups));
    pid_t pid = fork();
    if (pid == 0) {
      gid_t out[4] = {};
      _exit(getgroups(4, out) == 2 && out[0] == 7 && out[1] == 8 ? 0 : 1);
    }
    int status = 0;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

// ---------------------------------------------------------------------------
// Capabilities

TEST(CapabilityTest, RootHasEffectiveCapabilities) {
  REQUIRE_ROOT();
  Caps caps;
  ASSERT_TRUE(GetCaps(&caps)) << ErrnoString(errno);
  EXPECT_NE(caps.effective, 0u);
  EXPECT_TRUE(caps.effective & (1ull << CAP_SETUID));
  EXPECT_EQ(caps.effective & ~caps.permitted, 0u);
}

TEST(CapabilityTest, UnknownVersionReportsPreferred) {
  struct __user_cap_header_struct header = {0x12345678, 0};
  struct __user_cap_data_struct data[2] = {};
  EXPECT_THAT(syscall(SYS_capget, &header, data), SyscallFailsWithErrno(EINVAL));
  EXPECT_EQ(header.version, static_cast<uint32_t>(_LINUX_CAPABILITY_VERSION_3));
  // A NULL data pointer is how libraries probe for the preferred version:
  // that call succeeds.
  header.version = 0;
  EXPECT_THAT(syscall(SYS_capget, &header, nullptr), SyscallSucceeds());
  EXPECT_EQ(header.version, static_cast<uint32_t>(_LINUX_CAPABILITY_VERSION_3));
}

TEST(CapabilityTest, DroppedCapabilityIsEnforced) {
  REQUIRE_ROOT();
  TempDir dir;
  const std::string path = dir.Join("file");
  ASSERT_TRUE(CreateFileWithContents(path, "x"));
  EXPECT_CHILD_SUCCEEDS([&path] {
    CHILD_CHECK_SUCCESS(chown(path.c_str(), 1, 1));
    Caps caps;
    CHILD_CHECK(GetCaps(&caps));
    caps.effective &= ~(1ull << CAP_CHOWN);
    caps.permitted &= ~(1ull << CAP_CHOWN);
    CHILD_CHECK(SetCaps(caps));
    CHILD_CHECK_ERRNO(chown(path.c_str(), 2, 2), EPERM);
    // A dropped permitted capability cannot be raised again.
    caps.effective |= 1ull << CAP_CHOWN;
    CHILD_CHECK(!SetCaps(caps) && errno == EPERM);
  });
}

// ---------------------------------------------------------------------------
// uname and host name

TEST(UnameTest, IdentifiesLinuxOnX86_64) {
  struct utsname u = {};
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_STREQ(u.sysname, "Linux");
  EXPECT_STREQ(u.machine, "x86_64");
  EXPECT_GT(strlen(u.release), 0u);
  EXPECT_GT(strlen(u.version), 0u);
}

TEST(UnameTest, NodenameIsHostname) {
  struct utsname u = {};
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  char name[HOST_NAME_MAX + 1] = {};
  ASSERT_THAT(gethostname(name, sizeof(name)), SyscallSucceeds());
  EXPECT_STREQ(name, u.nodename);
}

TEST(UnameTest, SethostnameChecksPrivilegeAndLength) {
  REQUIRE_ROOT();
  // Neither call may change the host name: one lacks privilege and the
  // other is too long.
  char long_name[70];
  memset(long_name, 'a', sizeof(long_name));
  EXPECT_THAT(sethostname(long_name, sizeof(long_name)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(setdomainname(long_name, sizeof(long_name)), SyscallFailsWithErrno(EINVAL));
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    CHILD_CHECK_ERRNO(sethostname("x", 1), EPERM);
    CHILD_CHECK_ERRNO(setdomainname("x", 1), EPERM);
  });
}

// ---------------------------------------------------------------------------
// getrandom

TEST(GetrandomTest, FillsBuffer) {
  unsigned char buf[256];
  memset(buf, 0, sizeof(buf));
  ASSERT_THAT(getrandom(buf, sizeof(buf), 0), SyscallSucceedsWithValue(sizeof(buf)));
  int zeros = 0;
  for (unsigned char c : buf) zeros += c == 0;
  // 256 random bytes are all zero with probability 2^-2048.
  EXPECT_LT(zeros, 32);
  unsigned char other[256];
  ASSERT_THAT(getrandom(other, sizeof(other), GRND_NONBLOCK),
              SyscallSucceedsWithValue(sizeof(other)));
  EXPECT_NE(memcmp(buf, other, sizeof(buf)), 0);
  EXPECT_THAT(getrandom(buf, 16, GRND_RANDOM | GRND_NONBLOCK), SyscallSucceedsWithValue(16));
  EXPECT_THAT(getrandom(buf, 0, 0), SyscallSucceedsWithValue(0));
}

TEST(GetrandomTest, Errors) {
  char buf[16];
  EXPECT_THAT(getrandom(buf, sizeof(buf), 0x100), SyscallFailsWithErrno(EINVAL));
  // GRND_INSECURE and GRND_RANDOM are mutually exclusive.
  EXPECT_THAT(getrandom(buf, sizeof(buf), 0x4 | GRND_RANDOM), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getrandom, reinterpret_cast<void*>(1), 16, 0),
              SyscallFailsWithErrno(EFAULT));
}

// ---------------------------------------------------------------------------
// Resource limits

TEST(RlimitTest, SoftIsAtMostHard) {
  for (int resource : {RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_NPROC, RLIMIT_AS}) {
    struct rlimit rl = {};
    ASSERT_THAT(getrlimit(resource, &rl), SyscallSucceeds());
    EXPECT_LE(rl.rlim_cur, rl.rlim_max) << "resource " << resource;
  }
}

TEST(RlimitTest, InvalidResourceIsEinval) {
  struct rlimit rl = {};
  EXPECT_THAT(syscall(SYS_getrlimit, 1000, &rl), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_setrlimit, 1000, &rl), SyscallFailsWithErrno(EINVAL));
}

TEST(RlimitTest, SoftAboveHardIsEinval) {
  EXPECT_CHILD_SUCCEEDS([] {
    struct rlimit rl = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_NOFILE, &rl));
    struct rlimit bad = {rl.rlim_max / 2 + 1, rl.rlim_max / 2};
    CHILD_CHECK_ERRNO(setrlimit(RLIMIT_NOFILE, &bad), EINVAL);
    struct rlimit now = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_NOFILE, &now));
    CHILD_CHECK(now.rlim_cur == rl.rlim_cur && now.rlim_max == rl.rlim_max);
  });
}

TEST(RlimitTest, LowNofileLimitGivesEmfile) {
  EXPECT_CHILD_SUCCEEDS([] {
    constexpr rlim_t kLimit = 16;
    struct rlimit rl = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = kLimit;
    CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_NOFILE, &rl));
    int last = -1;
    for (int i = 0; i < 100; i++) {
      int fd = open("/dev/null", O_RDONLY);
      if (fd == -1) {
        CHILD_CHECK(errno == EMFILE);
        break;
      }
      last = fd;
    }
    // Every descriptor below the limit got used, and none above it.
    CHILD_CHECK(last == static_cast<int>(kLimit) - 1);
    CHILD_CHECK_ERRNO(dup(0), EMFILE);
    // Explicitly numbered descriptors at or above the limit are refused too.
    CHILD_CHECK_ERRNO(dup2(0, kLimit), EBADF);
    CHILD_CHECK_ERRNO(fcntl(0, F_DUPFD, kLimit), EINVAL);
    // Closing one makes room again.
    close(last);
    CHILD_CHECK(open("/dev/null", O_RDONLY) == last);
  });
}

TEST(RlimitTest, UnprivilegedCannotRaiseHardLimit) {
  REQUIRE_ROOT();
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setuid(kNobody));
    struct rlimit rl = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_NOFILE, &rl));
    struct rlimit lower = {32, 64};
    CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_NOFILE, &lower));
    struct rlimit higher = {32, 128};
    CHILD_CHECK_ERRNO(setrlimit(RLIMIT_NOFILE, &higher), EPERM);
    // The soft limit can still move anywhere up to the hard limit.
    struct rlimit soft = {64, 64};
    CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_NOFILE, &soft));
  });
}

TEST(RlimitTest, PrlimitReturnsOldAndWorksOnChild) {
  EXPECT_CHILD_SUCCEEDS([] {
    struct rlimit orig = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_CORE, &orig));
    struct rlimit next = {0, orig.rlim_max};
    struct rlimit old = {};
    CHILD_CHECK_SUCCESS(prlimit(0, RLIMIT_CORE, &next, &old));
    CHILD_CHECK(old.rlim_cur == orig.rlim_cur && old.rlim_max == orig.rlim_max);
    CHILD_CHECK_SUCCESS(prlimit(getpid(), RLIMIT_CORE, nullptr, &old));
    CHILD_CHECK(old.rlim_cur == 0);

    int fds[2];
    CHILD_CHECK_SUCCESS(pipe(fds));
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[1]);
      char c;
      // Wait for the parent to change our limit, then report it.
      if (read(fds[0], &c, 1) != 0) _exit(2);
      struct rlimit mine = {};
      getrlimit(RLIMIT_NOFILE, &mine);
      _exit(mine.rlim_cur == 20 ? 0 : 1);
    }
    close(fds[0]);
    struct rlimit child_limit = {};
    CHILD_CHECK_SUCCESS(getrlimit(RLIMIT_NOFILE, &child_limit));
    child_limit.rlim_cur = 20;
    CHILD_CHECK_SUCCESS(prlimit(pid, RLIMIT_NOFILE, &child_limit, nullptr));
    close(fds[1]);
    int status = 0;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    // A reaped child can no longer be named.
    CHILD_CHECK_ERRNO(prlimit(pid, RLIMIT_NOFILE, nullptr, &old), ESRCH);
  });
}

TEST(RlimitTest, FsizeLimitsWrites) {
  TempDir dir;
  const std::string path = dir.Join("big");
  EXPECT_CHILD_SUCCEEDS([&path] {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {100, 100};
    CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_FSIZE, &rl));
    int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
    CHILD_CHECK_SUCCESS(fd);
    char buf[200] = {};
    // The write is cut short at the limit, and the next one fails.
    CHILD_CHECK(write(fd, buf, sizeof(buf)) == 100);
    CHILD_CHECK_ERRNO(write(fd, buf, 1), EFBIG);
  });
  // With the default action, crossing the limit kills with SIGXFSZ.
  EXPECT_THAT(ForkAndWait([&path] {
                struct rlimit rl = {10, 10};
                CHILD_CHECK_SUCCESS(setrlimit(RLIMIT_FSIZE, &rl));
                int fd = open(path.c_str(), O_WRONLY | O_APPEND);
                CHILD_CHECK_SUCCESS(fd);
                ssize_t unused = write(fd, "x", 1);
                (void)unused;
                _exit(1);
              }),
              KilledBySignal(SIGXFSZ));
}

// ---------------------------------------------------------------------------
// umask

TEST(UmaskTest, ReturnsPreviousValue) {
  mode_t original = umask(022);
  EXPECT_EQ(umask(077), 022u);
  EXPECT_EQ(umask(0), 077u);
  // Only the permission bits are kept.
  umask(07777);
  EXPECT_EQ(umask(original), 0777u);
}

TEST(UmaskTest, InheritedByFork) {
  mode_t original = umask(027);
  EXPECT_CHILD_SUCCEEDS([] { CHILD_CHECK(umask(0) == 027); });
  umask(original);
}

}  // namespace
}  // namespace moat::testing
