// The syscall table is complete: every number Linux defines on x86-64 has an entry that says
// what the sandbox does with it, and every entry is consistent.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sentry/kernel/syscall_table.h"
#include "syscalls/syscall_names.h"
#include "syscalls/syscalls.h"

namespace moat {
namespace {

using kernel::Support;

TEST(SyscallTable, EveryLinuxSyscallHasAnEntry) {
  const kernel::SyscallTable& t = syscalls::Table();
  int named = 0;
  for (int nr = 0; nr <= syscalls::MaxSyscallNumber(); nr++) {
    const char* name = syscalls::SyscallName(nr);
    if (!name) {
      EXPECT_EQ(t[nr].support, Support::kUnknown) << "number " << nr << " is not a Linux syscall";
      continue;
    }
    named++;
    EXPECT_STREQ(t[nr].name, name);
    EXPECT_NE(t[nr].support, Support::kUnknown) << name << " has no entry";
  }
  EXPECT_GT(named, 370);
}

TEST(SyscallTable, EntriesAreConsistent) {
  const kernel::SyscallTable& t = syscalls::Table();
  for (int nr = 0; nr < kernel::kMaxSyscall; nr++) {
    const kernel::SyscallEntry& e = t[nr];
    switch (e.support) {
      case Support::kSupported:
        EXPECT_NE(e.fn, nullptr) << e.name;
        break;
      case Support::kPartial:
        EXPECT_NE(e.fn, nullptr) << e.name;
        EXPECT_GT(std::string(e.note).size(), 0u) << e.name << ": a partial entry names its gaps";
        break;
      case Support::kError:
        EXPECT_EQ(e.fn, nullptr) << e.name;
        EXPECT_GT(e.err, 0) << e.name;
        EXPECT_GT(std::string(e.note).size(), 0u) << e.name << ": an error entry gives its reason";
        break;
      case Support::kUnknown:
        EXPECT_EQ(e.fn, nullptr);
        break;
    }
  }
}

TEST(SyscallTable, CoreSyscallsAreImplemented) {
  const kernel::SyscallTable& t = syscalls::Table();
  for (const char* name : {"read", "write", "openat", "close", "mmap", "brk", "rt_sigaction",
                           "rt_sigreturn", "clone", "execve", "exit_group", "wait4", "kill",
                           "nanosleep", "getpid", "pipe2", "getdents64", "newfstatat"}) {
    bool found = false;
    for (const kernel::SyscallEntry& e : t) {
      if (e.name && std::string(e.name) == name) {
        found = true;
        EXPECT_TRUE(e.support == Support::kSupported || e.support == Support::kPartial) << name;
      }
    }
    EXPECT_TRUE(found) << name;
  }
}

}  // namespace
}  // namespace moat
