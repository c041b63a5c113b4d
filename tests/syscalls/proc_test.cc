// Conformance tests for the /proc tree and /sys: /proc/self and the pid directories, their life
// cycle and the threads under them, ptrace-style access checks, and the system-wide files in
// the format Linux prints them. The files of one process are in proc_pid_test.cc.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "tests/syscalls/proc_util.h"

namespace moat::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- /proc/self and the pid directories ----

TEST(ProcTest, SelfAndThreadSelf) {
  EXPECT_EQ(ReadLink("/proc/self"), std::to_string(getpid()));
  EXPECT_EQ(ReadLink("/proc/thread-self"),
            std::to_string(getpid()) + "/task/" + std::to_string(gettid()));
  struct stat a, b;
  ASSERT_THAT(stat("/proc/self", &a), SyscallSucceeds());
  ASSERT_THAT(stat(Self().c_str(), &b), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(a.st_mode));
  EXPECT_EQ(a.st_ino, b.st_ino);
  ASSERT_THAT(lstat("/proc/self", &a), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(a.st_mode));
}

TEST(ProcTest, ReaddirListsPids) {
  Sleeper child;
  std::set<std::string> names = ListDir("/proc");
  EXPECT_THAT(names, Contains(std::to_string(getpid())));
  EXPECT_THAT(names, Contains(std::to_string(child.pid)));
  EXPECT_THAT(names, Contains("self"));
  EXPECT_THAT(names, Contains("thread-self"));
  EXPECT_THAT(names, Contains("meminfo"));
  EXPECT_THAT(names, Contains("sys"));
  // Threads other than leaders are not listed, but they can be looked up.
  EXPECT_EQ(child.Finish(), 0);
}

TEST(ProcTest, MissingPids) {
  struct stat st;
  EXPECT_THAT(stat("/proc/999999999", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat("/proc/0", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat("/proc/self/task/999999999", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat("/proc/nosuchfile", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("/proc/newfile", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir("/proc/newdir", 0755), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("/proc/self/newfile", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
}

TEST(ProcTest, PidDirectoryEntries) {
  std::set<std::string> names = ListDir("/proc/self");
  for (const char* want : {"stat", "statm", "status", "cmdline", "environ", "exe", "cwd", "root",
                           "fd", "fdinfo", "maps", "mounts", "mountinfo", "task", "comm",
                           "limits", "oom_score_adj", "cgroup", "ns", "loginuid", "auxv"}) {
    EXPECT_THAT(names, Contains(want));
  }
  struct stat st;
  ASSERT_THAT(stat("/proc/self", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_uid, geteuid());
  ASSERT_THAT(lstat("/proc/self/exe", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0777u);
  ASSERT_THAT(stat("/proc/self/environ", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, S_IFREG | 0400u);
  ASSERT_THAT(stat("/proc/self/stat", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, S_IFREG | 0444u);
  EXPECT_EQ(st.st_size, 0);
  ASSERT_THAT(stat("/proc/self/fd", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, S_IFDIR | 0500u);
  ASSERT_THAT(stat("/proc/self/comm", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, S_IFREG | 0644u);
}

// ---- life cycle ----

TEST(ProcTest, ReapedChildVanishes) {
  Sleeper child;
  std::string dir = "/proc/" + std::to_string(child.pid);
  struct stat st;
  ASSERT_THAT(stat(dir.c_str(), &st), SyscallSucceeds());
  int fd = open((dir + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_THAT(fd, SyscallSucceeds());
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_THAT(dfd, SyscallSucceeds());
  EXPECT_EQ(child.Finish(), 0);
  EXPECT_THAT(stat(dir.c_str(), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(ListDir("/proc"), ::testing::Not(Contains(std::to_string(child.pid))));
  char buf[64];
  EXPECT_THAT(read(fd, buf, sizeof(buf)), SyscallFailsWithErrno(ESRCH));
  // A lookup in the directory of a reaped process, opened before, finds no process.
  EXPECT_THAT(openat(dfd, "status", O_RDONLY), SyscallFailsWithErrno(ESRCH));
  close(fd);
  close(dfd);
}

// ---- threads ----

TEST(ProcTest, TaskListsThreads) {
  std::atomic<pid_t> tids[2] = {0, 0};
  std::atomic<bool> done{false};
  auto body = [](void* arg) -> void* {
    auto* slot = static_cast<std::pair<std::atomic<pid_t>*, std::atomic<bool>*>*>(arg);
    slot->first->store(gettid());
    while (!slot->second->load()) usleep(1000);
    return nullptr;
  };
  std::pair<std::atomic<pid_t>*, std::atomic<bool>*> args[2] = {{&tids[0], &done},
                                                               {&tids[1], &done}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&th[i], nullptr, body, &args[i]), 0);
  for (auto& t : tids) {
    while (t.load() == 0) usleep(1000);
  }
  std::set<std::string> names = ListDir("/proc/self/task");
  EXPECT_EQ(names.size(), 5u);  // ".", "..", and three threads
  EXPECT_THAT(names, Contains(std::to_string(getpid())));
  for (auto& t : tids) {
    std::string tid = std::to_string(t.load());
    EXPECT_THAT(names, Contains(tid));
    std::vector<std::string> f = StatFields(ReadFile("/proc/self/task/" + tid + "/stat"));
    ASSERT_EQ(f.size(), 52u);
    EXPECT_EQ(f[0], tid);
    std::string status = ReadFile("/proc/self/task/" + tid + "/status");
    EXPECT_EQ(Field(status, "Pid"), tid);
    EXPECT_EQ(Field(status, "Tgid"), std::to_string(getpid()));
    // A thread is also reachable as /proc/<tid>, though readdir of /proc does not list it.
    struct stat st;
    EXPECT_THAT(stat(("/proc/" + tid).c_str(), &st), SyscallSucceeds());
    EXPECT_THAT(ListDir("/proc"), ::testing::Not(Contains(tid)));
  }
  EXPECT_EQ(Field(ReadFile("/proc/self/status"), "Threads"), "3");
  EXPECT_EQ(StatFields(ReadFile("/proc/self/stat")).at(19), "3");
  done.store(true);
  for (auto& t : th) pthread_join(t, nullptr);
}

TEST(ProcTest, ThreadSelfIsTheCallingThread) {
  std::atomic<bool> ok{false};
  std::thread t([&] {
    ok = ReadLink("/proc/thread-self") ==
             std::to_string(getpid()) + "/task/" + std::to_string(gettid()) &&
         Field(ReadFile("/proc/thread-self/status"), "Pid") == std::to_string(gettid());
  });
  t.join();
  EXPECT_TRUE(ok.load());
}

// ---- access checks ----

TEST(ProcTest, OtherUsersCannotReadPrivateFiles) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  std::string parent = "/proc/" + std::to_string(getpid());
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(setresgid(65534, 65534, 65534));
    CHILD_CHECK_SUCCESS(setresuid(65534, 65534, 65534));
    CHILD_CHECK_ERRNO(open((parent + "/environ").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_ERRNO(open((parent + "/maps").c_str(), O_RDONLY), EACCES);
    CHILD_CHECK_ERRNO(open((parent + "/fd").c_str(), O_RDONLY | O_DIRECTORY), EACCES);
    char buf[64];
    CHILD_CHECK_ERRNO(readlink((parent + "/exe").c_str(), buf, sizeof(buf)), EACCES);
    CHILD_CHECK_ERRNO(readlink((parent + "/cwd").c_str(), buf, sizeof(buf)), EACCES);
    // The public files stay readable.
    int err;
    ReadFile(parent + "/stat", &err);
    CHILD_CHECK(err == 0);
    ReadFile(parent + "/status", &err);
    CHILD_CHECK(err == 0);
    ReadFile(parent + "/cmdline", &err);
    CHILD_CHECK(err == 0);
  });
}

// ---- system-wide files ----

TEST(ProcTest, Meminfo) {
  std::string s = ReadFile("/proc/meminfo");
  for (const char* key : {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached",
                          "SwapTotal", "SwapFree"}) {
    EXPECT_TRUE(std::regex_match(Field(s, key), std::regex("\\d+ kB"))) << key << ": " << s;
  }
  struct sysinfo si;
  ASSERT_THAT(sysinfo(&si), SyscallSucceeds());
  EXPECT_EQ(std::stoull(Field(s, "MemTotal")), si.totalram * si.mem_unit / 1024);
}

TEST(ProcTest, Cpuinfo) {
  std::string s = ReadFile("/proc/cpuinfo");
  int processors = 0;
  for (const std::string& l : Lines(s)) {
    if (l.rfind("processor\t:", 0) == 0) processors++;
  }
  EXPECT_EQ(processors, sysconf(_SC_NPROCESSORS_CONF));
  EXPECT_THAT(s, HasSubstr("flags\t\t:"));
}

TEST(ProcTest, Stat) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/stat"));
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(std::regex_match(lines[0], std::regex("cpu  (\\d+ ){9}\\d+"))) << lines[0];
  std::set<std::string> keys;
  for (const std::string& l : lines) keys.insert(l.substr(0, l.find(' ')));
  for (const char* k : {"cpu0", "intr", "ctxt", "btime", "processes", "procs_running",
                        "procs_blocked"}) {
    EXPECT_THAT(keys, Contains(k));
  }
}

TEST(ProcTest, UptimeLoadavgVersion) {
  std::string up = ReadFile("/proc/uptime");
  EXPECT_TRUE(std::regex_match(up, std::regex("\\d+\\.\\d\\d \\d+\\.\\d\\d\n"))) << up;
  std::string load = ReadFile("/proc/loadavg");
  EXPECT_TRUE(std::regex_match(load, std::regex("\\d+\\.\\d\\d \\d+\\.\\d\\d \\d+\\.\\d\\d \\d+/\\d+ \\d+\n")))
      << load;
  utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  std::string version = ReadFile("/proc/version");
  EXPECT_THAT(version, StartsWith(std::string("Linux version ") + u.release + " "));
  EXPECT_THAT(ReadFile("/proc/filesystems"), HasSubstr("nodev\tproc\n"));
  EXPECT_THAT(ReadFile("/proc/filesystems"), HasSubstr("nodev\ttmpfs\n"));
  EXPECT_FALSE(ReadFile("/proc/cmdline").empty());
}

// The IPC and network parameters a container may set (linux.sysctl): integers separated by
// tabs; a write that is not a list of integers is EINVAL and changes nothing.
TEST(ProcTest, SysNamespacedParameters) {
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/kernel/sem"), std::regex("\\d+\t\\d+\t\\d+\t\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/kernel/shmmax"), std::regex("\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/fs/mqueue/msg_max"), std::regex("\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/net/ipv4/ping_group_range"),
                               std::regex("-?\\d+\t-?\\d+\n")));
  if (geteuid() != 0) GTEST_SKIP() << "writing /proc/sys needs root";
  std::string before = ReadFile("/proc/sys/kernel/msgmax");
  int fd = open("/proc/sys/kernel/msgmax", O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(write(fd, "abc\n", 4), SyscallFailsWithErrno(EINVAL));
  close(fd);
  EXPECT_EQ(ReadFile("/proc/sys/kernel/msgmax"), before);
}

TEST(ProcTest, SysKernel) {
  utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_EQ(ReadFile("/proc/sys/kernel/hostname"), std::string(u.nodename) + "\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/domainname"), std::string(u.domainname) + "\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/ostype"), "Linux\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/osrelease"), std::string(u.release) + "\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/version"), std::string(u.version) + "\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/ngroups_max"), "65536\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/overflowuid"), "65534\n");
  EXPECT_EQ(ReadFile("/proc/sys/kernel/overflowgid"), "65534\n");
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/kernel/cap_last_cap"), std::regex("\\d+\n")));
  EXPECT_GE(std::stol(ReadFile("/proc/sys/kernel/pid_max")), 32768);
  std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n");
  std::string boot = ReadFile("/proc/sys/kernel/random/boot_id");
  EXPECT_TRUE(std::regex_match(boot, uuid)) << boot;
  EXPECT_EQ(ReadFile("/proc/sys/kernel/random/boot_id"), boot);
  std::string u1 = ReadFile("/proc/sys/kernel/random/uuid");
  EXPECT_TRUE(std::regex_match(u1, uuid)) << u1;
  EXPECT_NE(ReadFile("/proc/sys/kernel/random/uuid"), u1);
  EXPECT_THAT(ListDir("/proc/sys/kernel"), Contains("hostname"));
}

TEST(ProcTest, SysHostnameWrite) {
  if (geteuid() != 0) GTEST_SKIP() << "needs CAP_SYS_ADMIN to set the host name";
  EXPECT_CHILD_SUCCEEDS([] {
    // Natively this changes the host's name; only do it in a private UTS namespace there.
    if (unshare(CLONE_NEWUTS) != 0 && errno != EPERM && errno != EINVAL) _exit(0);
    int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "procname\n", 9) == 9);
    close(fd);
    utsname u;
    CHILD_CHECK_SUCCESS(uname(&u));
    CHILD_CHECK(std::string(u.nodename) == "procname");
  });
}

TEST(ProcTest, SysFsVmNet) {
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/fs/file-max"), std::regex("\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/fs/nr_open"), std::regex("\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/fs/pipe-max-size"), std::regex("\\d+\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/vm/overcommit_memory"), std::regex("[012]\n")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/sys/net/core/somaxconn"), std::regex("\\d+\n")));
  int fd = open("/proc/sys/kernel/ostype", O_WRONLY);
  EXPECT_THAT(fd, SyscallFailsWithErrno(EACCES));
}

// ---- /sys ----

TEST(SysTest, Cpus) {
  std::regex list("\\d+(-\\d+)?(,\\d+(-\\d+)?)*\n");
  for (const char* f : {"online", "possible", "present"}) {
    std::string s = ReadFile(std::string("/sys/devices/system/cpu/") + f);
    EXPECT_TRUE(std::regex_match(s, list)) << f << ": " << s;
  }
  std::string online = ReadFile("/sys/devices/system/cpu/online");
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(online, n > 1 ? "0-" + std::to_string(n - 1) + "\n" : "0\n");
  struct stat st;
  EXPECT_THAT(stat("/sys/devices/system/cpu/cpu0", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_THAT(ListDir("/sys/devices/system/cpu"), Contains("cpu0"));
}

TEST(SysTest, Directories) {
  struct stat st;
  for (const char* d : {"/sys/fs/cgroup", "/sys/class/net", "/sys/kernel/mm/transparent_hugepage"}) {
    ASSERT_THAT(stat(d, &st), SyscallSucceeds()) << d;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << d;
  }
  std::string thp = ReadFile("/sys/kernel/mm/transparent_hugepage/enabled");
  EXPECT_TRUE(std::regex_search(thp, std::regex("\\[(always|madvise|never)\\]"))) << thp;
  EXPECT_THAT(open("/sys/newfile", O_CREAT | O_WRONLY, 0644),
              SyscallFailsWithErrno(::testing::AnyOf(EACCES, EROFS)));
}

}  // namespace
}  // namespace moat::testing
