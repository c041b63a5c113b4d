// The fixture the path conformance programs share (path_test.cc, namespace_test.cc): a fresh
// directory under /tmp, a known umask, and helpers that name, make and stat things in it.
#ifndef MOAT_TESTS_SYSCALLS_PATH_UTIL_H_
#define MOAT_TESTS_SYSCALLS_PATH_UTIL_H_

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

class PathTest : public ::testing::Test {
 protected:
  void SetUp() override { old_umask_ = umask(022); }
  void TearDown() override { umask(old_umask_); }

  std::string P(const std::string& name) const { return dir_.Join(name); }
  const char* C(const std::string& name) {
    names_.push_back(P(name));
    return names_.back().c_str();
  }

  void MakeFile(const std::string& name, const std::string& contents = "", mode_t mode = 0644) {
    ASSERT_TRUE(CreateFileWithContents(P(name), contents, mode)) << name << ": "
                                                                  << ErrnoString(errno);
  }
  void MakeDir(const std::string& name, mode_t mode = 0755) {
    ASSERT_THAT(mkdir(P(name).c_str(), mode), SyscallSucceeds()) << name;
  }
  void MakeLink(const std::string& target, const std::string& name) {
    ASSERT_THAT(symlink(target.c_str(), P(name).c_str()), SyscallSucceeds()) << name;
  }
  // The usual cast: a file, a directory, links to each, a dangling link and a loop.
  void MakeCast() {
    MakeFile("file", "data");
    MakeDir("dir");
    MakeLink("file", "filelink");
    MakeLink("dir", "dirlink");
    MakeLink("missing", "dangling");
    MakeLink("loop", "loop");
  }

  TempDir dir_;
  // Keeps C()'s strings alive for the whole test (a deque never moves them).
  std::deque<std::string> names_;
  mode_t old_umask_ = 0;
};

inline struct stat Stat(const std::string& path) {
  struct stat st = {};
  EXPECT_THAT(stat(path.c_str(), &st), SyscallSucceeds()) << path;
  return st;
}

inline struct stat Lstat(const std::string& path) {
  struct stat st = {};
  EXPECT_THAT(lstat(path.c_str(), &st), SyscallSucceeds()) << path;
  return st;
}

inline bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

inline std::string ReadFile(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "<open failed: " + ErrnoString(errno) + ">";
  return ReadAll(fd.get());
}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_PATH_UTIL_H_
