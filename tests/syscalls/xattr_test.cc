// Conformance tests for extended attributes: get/set/list/remove and their l* and f* forms,
// flags, size rules, namespaces and permissions.
//
// Most tests use a directory in /dev/shm, a tmpfs both natively and in the sandbox (Linux's
// tmpfs keeps user.* attributes since 6.6; an older kernel skips with a message). A few repeat
// on a directory under /tmp, which natively is the host's disk and in the sandbox the overlay
// root's upper layer.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::AnyOf;

// The names in a listxattr buffer.
std::set<std::string> Names(const char* buf, ssize_t len) {
  std::set<std::string> out;
  for (ssize_t i = 0; i < len;) {
    std::string n(buf + i);
    i += static_cast<ssize_t>(n.size()) + 1;
    out.insert(n);
  }
  return out;
}

std::set<std::string> ListNames(const std::string& path) {
  char buf[4096];
  ssize_t n = listxattr(path.c_str(), buf, sizeof(buf));
  if (n < 0) {
    ADD_FAILURE() << "listxattr: " << ErrnoString(errno);
    return {};
  }
  return Names(buf, n);
}

// A directory on a tmpfs, removed with its contents.
class XattrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/moat_xattr_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << ErrnoString(errno);
    dir_ = tmpl;
    ASSERT_THAT(chmod(dir_.c_str(), 0755), SyscallSucceeds());
    file_ = dir_ + "/file";
    ASSERT_TRUE(CreateFileWithContents(file_, "data"));
    if (setxattr(file_.c_str(), "user.probe", "", 0, 0) != 0 && errno == EOPNOTSUPP) {
      GTEST_SKIP() << "this kernel's tmpfs has no user.* attributes (Linux < 6.6)";
    }
    ASSERT_THAT(removexattr(file_.c_str(), "user.probe"), SyscallSucceeds());
  }
  void TearDown() override {
    if (!dir_.empty()) RemoveTreeAt(AT_FDCWD, dir_.c_str());
  }

  std::string dir_;
  std::string file_;
};

TEST_F(XattrTest, SetAndGet) {
  ASSERT_THAT(setxattr(file_.c_str(), "user.greeting", "hello", 5, 0), SyscallSucceeds());
  // Size 0 asks for the length.
  EXPECT_THAT(getxattr(file_.c_str(), "user.greeting", nullptr, 0), SyscallSucceedsWithValue(5));
  char buf[16] = {};
  EXPECT_THAT(getxattr(file_.c_str(), "user.greeting", buf, sizeof(buf)),
              SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_THAT(getxattr(file_.c_str(), "user.greeting", buf, 4), SyscallFailsWithErrno(ERANGE));
  // A new value replaces the old one, whatever its size.
  ASSERT_THAT(setxattr(file_.c_str(), "user.greeting", "hi", 2, 0), SyscallSucceeds());
  EXPECT_THAT(getxattr(file_.c_str(), "user.greeting", buf, sizeof(buf)),
              SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "hi");
  EXPECT_THAT(getxattr(file_.c_str(), "user.missing", buf, sizeof(buf)),
              SyscallFailsWithErrno(ENODATA));
}

TEST_F(XattrTest, EmptyValue) {
  ASSERT_THAT(setxattr(file_.c_str(), "user.empty", nullptr, 0, 0), SyscallSucceeds());
  char buf[4];
  EXPECT_THAT(getxattr(file_.c_str(), "user.empty", buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(getxattr(file_.c_str(), "user.empty", nullptr, 0), SyscallSucceedsWithValue(0));
}

TEST_F(XattrTest, CreateAndReplaceFlags) {
  EXPECT_THAT(setxattr(file_.c_str(), "user.a", "1", 1, XATTR_REPLACE),
              SyscallFailsWithErrno(ENODATA));
  ASSERT_THAT(setxattr(file_.c_str(), "user.a", "1", 1, XATTR_CREATE), SyscallSucceeds());
  EXPECT_THAT(setxattr(file_.c_str(), "user.a", "2", 1, XATTR_CREATE),
              SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(setxattr(file_.c_str(), "user.a", "3", 1, XATTR_REPLACE), SyscallSucceeds());
  char c;
  EXPECT_THAT(getxattr(file_.c_str(), "user.a", &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, '3');
  EXPECT_THAT(setxattr(file_.c_str(), "user.a", "4", 1, 4), SyscallFailsWithErrno(EINVAL));
  // Both flags: the attribute must exist and must not. XATTR_CREATE's check wins here.
  EXPECT_THAT(setxattr(file_.c_str(), "user.a", "4", 1, XATTR_CREATE | XATTR_REPLACE),
              SyscallFailsWithErrno(EEXIST));
}

TEST_F(XattrTest, ListAndRemove) {
  EXPECT_THAT(listxattr(file_.c_str(), nullptr, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(setxattr(file_.c_str(), "user.one", "1", 1, 0), SyscallSucceeds());
  ASSERT_THAT(setxattr(file_.c_str(), "user.two", "22", 2, 0), SyscallSucceeds());
  const ssize_t total = sizeof("user.one") + sizeof("user.two");
  EXPECT_THAT(listxattr(file_.c_str(), nullptr, 0), SyscallSucceedsWithValue(total));
  char buf[64];
  EXPECT_THAT(listxattr(file_.c_str(), buf, total - 1), SyscallFailsWithErrno(ERANGE));
  ssize_t n = listxattr(file_.c_str(), buf, sizeof(buf));
  ASSERT_EQ(n, total);
  EXPECT_EQ(Names(buf, n), (std::set<std::string>{"user.one", "user.two"}));

  ASSERT_THAT(removexattr(file_.c_str(), "user.one"), SyscallSucceeds());
  EXPECT_THAT(removexattr(file_.c_str(), "user.one"), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(getxattr(file_.c_str(), "user.one", buf, sizeof(buf)),
              SyscallFailsWithErrno(ENODATA));
  EXPECT_EQ(ListNames(file_), std::set<std::string>{"user.two"});
}

TEST_F(XattrTest, NameLimits) {
  char buf[8];
  EXPECT_THAT(setxattr(file_.c_str(), "", "1", 1, 0), SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(getxattr(file_.c_str(), "", buf, sizeof(buf)), SyscallFailsWithErrno(ERANGE));
  std::string longest = "user." + std::string(250, 'n');  // 255 bytes
  EXPECT_THAT(setxattr(file_.c_str(), longest.c_str(), "1", 1, 0), SyscallSucceeds());
  EXPECT_THAT(getxattr(file_.c_str(), longest.c_str(), buf, sizeof(buf)),
              SyscallSucceedsWithValue(1));
  std::string too_long = longest + "n";
  EXPECT_THAT(setxattr(file_.c_str(), too_long.c_str(), "1", 1, 0), SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(getxattr(file_.c_str(), too_long.c_str(), buf, sizeof(buf)),
              SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(removexattr(file_.c_str(), too_long.c_str()), SyscallFailsWithErrno(ERANGE));
  // The name is checked before the path is looked up.
  std::string missing = dir_ + "/missing";
  EXPECT_THAT(setxattr(missing.c_str(), too_long.c_str(), "1", 1, 0),
              SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(setxattr(missing.c_str(), "user.a", "1", 1, 0), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(setxattr(file_.c_str(), reinterpret_cast<const char*>(8), "1", 1, 0),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(XattrTest, Namespaces) {
  char buf[8];
  // A prefix alone names nothing.
  EXPECT_THAT(setxattr(file_.c_str(), "user.", "1", 1, 0), SyscallFailsWithErrno(EINVAL));
  // Unknown prefixes and system.* (ACLs, not kept here) are not supported.
  for (const char* name : {"foo.bar", "nodot", "system.foo"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(setxattr(file_.c_str(), name, "1", 1, 0), SyscallFailsWithErrno(EOPNOTSUPP));
    EXPECT_THAT(getxattr(file_.c_str(), name, buf, sizeof(buf)),
                SyscallFailsWithErrno(EOPNOTSUPP));
    EXPECT_THAT(removexattr(file_.c_str(), name), SyscallFailsWithErrno(EOPNOTSUPP));
  }
}

TEST_F(XattrTest, ValueLimits) {
  std::string big(65537, 'v');
  ASSERT_THAT(setxattr(file_.c_str(), "user.big", big.data(), 65536, 0), SyscallSucceeds());
  EXPECT_THAT(getxattr(file_.c_str(), "user.big", nullptr, 0), SyscallSucceedsWithValue(65536));
  std::string out(70000, '\0');
  // A buffer larger than the largest value is fine.
  EXPECT_THAT(getxattr(file_.c_str(), "user.big", out.data(), out.size()),
              SyscallSucceedsWithValue(65536));
  EXPECT_THAT(setxattr(file_.c_str(), "user.bigger", big.data(), 65537, 0),
              SyscallFailsWithErrno(E2BIG));
  // The size is checked before the path.
  std::string missing = dir_ + "/missing";
  EXPECT_THAT(setxattr(missing.c_str(), "user.bigger", big.data(), 65537, 0),
              SyscallFailsWithErrno(E2BIG));
}

TEST_F(XattrTest, UserAttributesOnlyOnFilesAndDirectories) {
  ASSERT_THAT(setxattr(dir_.c_str(), "user.d", "1", 1, 0), SyscallSucceeds());
  EXPECT_EQ(ListNames(dir_), std::set<std::string>{"user.d"});

  std::string link = dir_ + "/link";
  ASSERT_THAT(symlink("file", link.c_str()), SyscallSucceeds());
  char buf[8];
  EXPECT_THAT(lsetxattr(link.c_str(), "user.a", "1", 1, 0), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(lgetxattr(link.c_str(), "user.a", buf, sizeof(buf)), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(lremovexattr(link.c_str(), "user.a"), SyscallFailsWithErrno(EPERM));
  // The non-l forms follow the link to the file.
  ASSERT_THAT(setxattr(link.c_str(), "user.a", "1", 1, 0), SyscallSucceeds());
  EXPECT_THAT(getxattr(file_.c_str(), "user.a", buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_THAT(lgetxattr(file_.c_str(), "user.a", buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  char list[64];
  EXPECT_THAT(llistxattr(link.c_str(), list, sizeof(list)), SyscallSucceedsWithValue(0));

  std::string fifo = dir_ + "/fifo";
  ASSERT_THAT(mkfifo(fifo.c_str(), 0666), SyscallSucceeds());
  EXPECT_THAT(setxattr(fifo.c_str(), "user.a", "1", 1, 0), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(getxattr(fifo.c_str(), "user.a", buf, sizeof(buf)), SyscallFailsWithErrno(ENODATA));
}

TEST_F(XattrTest, FdForms) {
  FileDescriptor ro(open(file_.c_str(), O_RDONLY));
  ASSERT_TRUE(ro.valid());
  // The file's permissions decide, not the descriptor's mode.
  ASSERT_THAT(fsetxattr(ro.get(), "user.f", "fd", 2, 0), SyscallSucceeds());
  char buf[8];
  EXPECT_THAT(fgetxattr(ro.get(), "user.f", buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_THAT(flistxattr(ro.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(7));
  EXPECT_THAT(fremovexattr(ro.get(), "user.f"), SyscallSucceeds());
  EXPECT_THAT(fremovexattr(ro.get(), "user.f"), SyscallFailsWithErrno(ENODATA));

  FileDescriptor path(open(file_.c_str(), O_PATH));
  ASSERT_TRUE(path.valid());
  EXPECT_THAT(fsetxattr(path.get(), "user.f", "1", 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fgetxattr(path.get(), "user.f", buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(flistxattr(path.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fremovexattr(path.get(), "user.f"), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fgetxattr(-1, "user.f", buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
}

TEST_F(XattrTest, PrivilegedNamespacesAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN)";
  ASSERT_THAT(setxattr(file_.c_str(), "trusted.t", "1", 1, 0), SyscallSucceeds());
  ASSERT_THAT(setxattr(file_.c_str(), "user.u", "1", 1, 0), SyscallSucceeds());
  ASSERT_THAT(setxattr(file_.c_str(), "security.s", "1", 1, 0), SyscallSucceeds());
  ASSERT_THAT(removexattr(file_.c_str(), "security.s"), SyscallSucceeds());
  char buf[8];
  EXPECT_THAT(getxattr(file_.c_str(), "trusted.t", buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ListNames(file_), (std::set<std::string>{"trusted.t", "user.u"}));
  // trusted.* may go on any kind of file.
  std::string link = dir_ + "/link";
  ASSERT_THAT(symlink("file", link.c_str()), SyscallSucceeds());
  EXPECT_THAT(lsetxattr(link.c_str(), "trusted.l", "1", 1, 0), SyscallSucceeds());
}

TEST_F(XattrTest, PermissionsOfAnUnprivilegedUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to set up files for another user";
  ASSERT_THAT(setxattr(file_.c_str(), "user.a", "1", 1, 0), SyscallSucceeds());
  ASSERT_THAT(setxattr(file_.c_str(), "trusted.t", "1", 1, 0), SyscallSucceeds());
  std::string secret = dir_ + "/secret";
  ASSERT_TRUE(CreateFileWithContents(secret, "s", 0600));
  ASSERT_THAT(setxattr(secret.c_str(), "user.a", "1", 1, 0), SyscallSucceeds());
  std::string sticky = dir_ + "/sticky";
  ASSERT_THAT(mkdir(sticky.c_str(), 01777), SyscallSucceeds());
  ASSERT_THAT(chmod(sticky.c_str(), 01777), SyscallSucceeds());
  std::string file = file_;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setresgid(65534, 65534, 65534));
    CHILD_CHECK_SUCCESS(setresuid(65534, 65534, 65534));
    char buf[8];
    // A readable file's attributes may be read, not written (0644).
    CHILD_CHECK(getxattr(file.c_str(), "user.a", buf, sizeof(buf)) == 1);
    CHILD_CHECK_ERRNO(setxattr(file.c_str(), "user.a", "2", 1, 0), EACCES);
    CHILD_CHECK_ERRNO(removexattr(file.c_str(), "user.a"), EACCES);
    CHILD_CHECK_ERRNO(getxattr(secret.c_str(), "user.a", buf, sizeof(buf)), EACCES);
    // trusted.* is invisible without CAP_SYS_ADMIN.
    CHILD_CHECK_ERRNO(getxattr(file.c_str(), "trusted.t", buf, sizeof(buf)), ENODATA);
    CHILD_CHECK_ERRNO(setxattr(file.c_str(), "trusted.t", "1", 1, 0), EPERM);
    char list[64];
    CHILD_CHECK(listxattr(file.c_str(), list, sizeof(list)) == sizeof("user.a"));
    // A sticky directory's attributes are its owner's, even if everyone may write it.
    CHILD_CHECK_ERRNO(setxattr(sticky.c_str(), "user.a", "1", 1, 0), EPERM);
    // security.* is the security module's business: anyone may look, whatever the file's
    // mode, and only CAP_SYS_ADMIN may change it.
    CHILD_CHECK_ERRNO(getxattr(secret.c_str(), "security.none", buf, sizeof(buf)), ENODATA);
    std::string mine = sticky + "/mine";
    int fd = open(mine.c_str(), O_CREAT | O_WRONLY, 0600);
    CHILD_CHECK_SUCCESS(fd);
    close(fd);
    CHILD_CHECK_SUCCESS(setxattr(mine.c_str(), "user.mine", "1", 1, 0));
    CHILD_CHECK_ERRNO(setxattr(mine.c_str(), "security.mine", "1", 1, 0), EPERM);
    CHILD_CHECK_ERRNO(removexattr(mine.c_str(), "security.mine"), EPERM);
  });
}

// The same basics on /tmp: the host's disk natively, the overlay root in the sandbox.
class TmpXattrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = dir_.Join("file");
    ASSERT_TRUE(CreateFileWithContents(file_, "data"));
    if (setxattr(file_.c_str(), "user.probe", "", 0, 0) != 0 &&
        (errno == EOPNOTSUPP || errno == ENOTSUP)) {
      GTEST_SKIP() << "the filesystem of /tmp keeps no user.* attributes";
    }
    ASSERT_THAT(removexattr(file_.c_str(), "user.probe"), SyscallSucceeds());
  }
  TempDir dir_;
  std::string file_;
};

TEST_F(TmpXattrTest, Basics) {
  ASSERT_THAT(setxattr(file_.c_str(), "user.k", "value", 5, XATTR_CREATE), SyscallSucceeds());
  char buf[16];
  EXPECT_THAT(getxattr(file_.c_str(), "user.k", buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "value");
  EXPECT_EQ(ListNames(file_), std::set<std::string>{"user.k"});
  // Attributes belong to the file, not the name.
  std::string moved = dir_.Join("moved");
  ASSERT_THAT(rename(file_.c_str(), moved.c_str()), SyscallSucceeds());
  EXPECT_THAT(getxattr(moved.c_str(), "user.k", buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_THAT(removexattr(moved.c_str(), "user.k"), SyscallSucceeds());
  EXPECT_THAT(getxattr(moved.c_str(), "user.k", buf, sizeof(buf)), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(setxattr(moved.c_str(), "foo.k", "1", 1, 0),
              SyscallFailsWithErrno(AnyOf(EOPNOTSUPP, ENOTSUP)));
}

}  // namespace
}  // namespace moat::testing
