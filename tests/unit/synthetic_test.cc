// The generated filesystems without a kernel: sysfs's tree and files, the parts of procfs that do
// not depend on the reading task, and the rules of the synthetic building blocks.
#include <gmock/gmock.h>
#include <unistd.h>

#include "sentry/fsimpl/proc.h"
#include "sentry/fsimpl/synthetic.h"
#include "sentry/fsimpl/sys.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using ::testing::Contains;
using ::testing::StartsWith;
using testing::TestFs;

TEST(SyntheticTest, InodeNumbersAreStableAndDistinct) {
  using fsimpl::synthetic::InodeNumber;
  EXPECT_EQ(InodeNumber("proc", "1/stat"), InodeNumber("proc", "1/stat"));
  EXPECT_NE(InodeNumber("proc", "1/stat"), InodeNumber("proc", "1/statm"));
  EXPECT_NE(InodeNumber("proc", "x"), InodeNumber("sysfs", "x"));
  EXPECT_GT(InodeNumber("proc", ""), 1u);
  EXPECT_LT(InodeNumber("proc", "12/task/13/status"), uint64_t{1} << 63);
}

TEST(SysfsTest, CpuListsAndTopology) {
  TestFs fs(fsimpl::NewSysfs(4), MountFlags{.readonly = true}, "sysfs");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/devices/system/cpu/online")), "0-3\n");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/devices/system/cpu/possible")), "0-3\n");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/devices/system/cpu/cpu2/topology/core_id")), "2\n");
  std::vector<std::string> cpus = ASSERT_OK_AND_GET(fs.List("/devices/system/cpu"));
  EXPECT_THAT(cpus, Contains("cpu0"));
  EXPECT_THAT(cpus, Contains("cpu3"));
  EXPECT_THAT(cpus, ::testing::Not(Contains("cpu4")));
  EXPECT_TRUE(S_ISDIR(ASSERT_OK_AND_GET(fs.StatOf("/fs/cgroup")).mode));
  EXPECT_TRUE(S_ISDIR(ASSERT_OK_AND_GET(fs.StatOf("/class/net")).mode));
  EXPECT_THAT(ASSERT_OK_AND_GET(fs.ReadFile("/kernel/mm/transparent_hugepage/enabled")),
              ::testing::HasSubstr("[madvise]"));
  // A single CPU is "0", not "0-0".
  TestFs one(fsimpl::NewSysfs(1), MountFlags{.readonly = true}, "sysfs");
  EXPECT_EQ(ASSERT_OK_AND_GET(one.ReadFile("/devices/system/cpu/online")), "0\n");
}

TEST(SysfsTest, FilesAreReadOnlyAndStable) {
  TestFs fs(fsimpl::NewSysfs(2), {}, "sysfs");
  Stat a = ASSERT_OK_AND_GET(fs.StatOf("/devices/system/cpu/online"));
  Stat b = ASSERT_OK_AND_GET(fs.StatOf("/devices/system/cpu/online"));
  EXPECT_EQ(a.ino, b.ino);
  EXPECT_EQ(a.mode, S_IFREG | 0444u);
  EXPECT_EQ(a.uid, 0u);
  EXPECT_ERRNO(fs.Mkdir("/newdir"), ENOENT);
  EXPECT_ERRNO(fs.Unlink("/devices/system/cpu/online"), EPERM);
  RefPtr<FileDescription> f =
      ASSERT_OK_AND_GET(fs.Open("/devices/system/cpu/online", O_WRONLY));
  EXPECT_ERRNO(TestFs::Write(*f, "1"), EINVAL);
}

TEST(ProcfsTest, WithoutATaskOnlyTheFixedEntries) {
  TestFs fs(fsimpl::NewProcfs(), {}, "proc");
  std::vector<std::string> names = ASSERT_OK_AND_GET(fs.List("/"));
  for (const char* n : {"self", "thread-self", "meminfo", "cpuinfo", "stat", "sys", "mounts"}) {
    EXPECT_THAT(names, Contains(n));
  }
  // No reading task: no processes, and self leads nowhere.
  EXPECT_ERRNO(fs.Lookup("/1"), ENOENT);
  EXPECT_ERRNO(fs.Lookup("/self/status"), ENOENT);
  EXPECT_THAT(ASSERT_OK_AND_GET(fs.ReadFile("/meminfo")), StartsWith("MemTotal:"));
  EXPECT_THAT(ASSERT_OK_AND_GET(fs.ReadFile("/version")), StartsWith("Linux version "));
  EXPECT_THAT(ASSERT_OK_AND_GET(fs.ReadFile("/cpuinfo")), StartsWith("processor"));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/sys/fs/nr_open")), "1048576\n");
  EXPECT_ERRNO(fs.Open("/sys/kernel/ostype", O_WRONLY), EACCES);
  EXPECT_ERRNO(fs.Open("/newfile", O_WRONLY | O_CREAT), ENOENT);
  // Two reads of boot_id agree; two of uuid do not.
  EXPECT_EQ(ASSERT_OK_AND_GET(fs.ReadFile("/sys/kernel/random/boot_id")),
            ASSERT_OK_AND_GET(fs.ReadFile("/sys/kernel/random/boot_id")));
  EXPECT_NE(ASSERT_OK_AND_GET(fs.ReadFile("/sys/kernel/random/uuid")),
            ASSERT_OK_AND_GET(fs.ReadFile("/sys/kernel/random/uuid")));
}

}  // namespace
}  // namespace moat::vfs
