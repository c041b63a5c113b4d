// Conformance tests for the files of one process under /proc/<pid>: the format of each as Linux
// prints it, that the values agree with what the syscalls report (getpid, getppid, getpgrp,
// getsid, getresuid, the signal mask, the umask, the cwd), magic links (/proc/self/fd, cwd, exe)
// that open what they point at, and the files a process may write. The /proc tree itself and
// the system-wide files are in proc_test.cc.
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/syscalls/proc_util.h"

extern char** environ;

namespace moat::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- stat, statm, status ----

TEST(ProcPidTest, StatMatchesSyscalls) {
  std::vector<std::string> f = StatFields(ReadFile("/proc/self/stat"));
  ASSERT_EQ(f.size(), 52u);
  EXPECT_EQ(f[0], std::to_string(getpid()));
  char comm[17] = {};
  ASSERT_THAT(prctl(PR_GET_NAME, comm), SyscallSucceeds());
  EXPECT_EQ(f[1], comm);
  EXPECT_EQ(f[2], "R");
  EXPECT_EQ(f[3], std::to_string(getppid()));
  EXPECT_EQ(f[4], std::to_string(getpgrp()));
  EXPECT_EQ(f[5], std::to_string(getsid(0)));
  EXPECT_EQ(f[19], "1");  // num_threads
  EXPECT_EQ(f[37], "17");  // exit_signal: SIGCHLD
  // vsize is in bytes and covers at least the stack.
  EXPECT_GT(std::stoull(f[22]), 4096u);
  // starttime is in clock ticks since boot, at most the uptime.
  double uptime = std::stod(ReadFile("/proc/uptime"));
  EXPECT_LE(std::stoull(f[21]), static_cast<uint64_t>((uptime + 1) * sysconf(_SC_CLK_TCK)));
  // arg_start < arg_end <= env_start < env_end.
  uint64_t arg_start = std::stoull(f[47]), arg_end = std::stoull(f[48]);
  uint64_t env_start = std::stoull(f[49]), env_end = std::stoull(f[50]);
  EXPECT_LT(arg_start, arg_end);
  EXPECT_LE(arg_end, env_start);
  EXPECT_LE(env_start, env_end);
}

TEST(ProcPidTest, StatOfAnotherProcess) {
  Sleeper child;
  std::vector<std::string> f = StatFields(ReadFile("/proc/" + std::to_string(child.pid) + "/stat"));
  ASSERT_EQ(f.size(), 52u);
  EXPECT_EQ(f[0], std::to_string(child.pid));
  EXPECT_EQ(f[3], std::to_string(getpid()));
  // It sleeps in read(2); give it a moment to get there.
  for (int i = 0; i < 200 && f[2] != "S"; i++) {
    usleep(10000);
    f = StatFields(ReadFile("/proc/" + std::to_string(child.pid) + "/stat"));
  }
  EXPECT_EQ(f[2], "S");
  EXPECT_EQ(child.Finish(), 0);
}

TEST(ProcPidTest, ThreadStatCountsThatThreadsCpu) {
  // A second thread spins for 100 ms of its own CPU time while the first sleeps: its task's stat
  // shows it, the first thread's does not.
  const std::string task = "/proc/self/task/";
  const std::string own_stat = task + std::to_string(getpid()) + "/stat";
  std::vector<std::string> before = StatFields(ReadFile(own_stat));
  ASSERT_EQ(before.size(), 52u);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread spinner([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    SpinOnClock(CLOCK_THREAD_CPUTIME_ID, 100000000);
    done = true;
    while (done) usleep(1000);
  });
  while (!done) usleep(1000);
  std::vector<std::string> spun = StatFields(ReadFile(task + std::to_string(tid) + "/stat"));
  std::vector<std::string> slept = StatFields(ReadFile(own_stat));
  done = false;
  spinner.join();
  ASSERT_EQ(spun.size(), 52u);
  ASSERT_EQ(slept.size(), 52u);
  const long ticks = sysconf(_SC_CLK_TCK);
  // utime + stime (fields 14 and 15), in clock ticks: 100 ms less a sampling tick or two.
  EXPECT_GE(std::stol(spun[13]) + std::stol(spun[14]), ticks / 20);
  EXPECT_LT(std::stol(slept[13]) + std::stol(slept[14]) - std::stol(before[13]) -
                std::stol(before[14]),
            ticks / 20);
}

TEST(ProcPidTest, StatCommWithParentheses) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_NAME, "a) b (c"));
    std::vector<std::string> f = StatFields(ReadFile("/proc/self/stat"));
    CHILD_CHECK(f.size() == 52);
    CHILD_CHECK(f[1] == "a) b (c");
    CHILD_CHECK(f[0] == std::to_string(getpid()));
  });
}

TEST(ProcPidTest, StoppedAndZombieStates) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_GT(pid, 0);
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  ASSERT_THAT(kill(pid, SIGSTOP), SyscallSucceeds());
  int status;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  EXPECT_EQ(StatFields(ReadFile(path)).at(2), "T");
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  siginfo_t info;
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  EXPECT_EQ(StatFields(ReadFile(path)).at(2), "Z");
  EXPECT_EQ(Field(ReadFile("/proc/" + std::to_string(pid) + "/status"), "State"), "Z (zombie)");
  EXPECT_EQ(WaitForChild(pid), SIGKILL);
}

TEST(ProcPidTest, Statm) {
  std::string s = ReadFile("/proc/self/statm");
  EXPECT_TRUE(std::regex_match(s, std::regex("(\\d+ ){6}\\d+\n"))) << s;
  EXPECT_GT(std::stoull(s), 0u);
}

TEST(ProcPidTest, StatusIdentity) {
  std::string s = ReadFile("/proc/self/status");
  char comm[17] = {};
  ASSERT_THAT(prctl(PR_GET_NAME, comm), SyscallSucceeds());
  EXPECT_EQ(Field(s, "Name"), comm);
  EXPECT_EQ(Field(s, "State"), "R (running)");
  EXPECT_EQ(Field(s, "Tgid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "Pid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "PPid"), std::to_string(getppid()));
  EXPECT_EQ(Field(s, "TracerPid"), "0");
  EXPECT_EQ(Field(s, "NStgid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "NSpid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "NSpgid"), std::to_string(getpgrp()));
  EXPECT_EQ(Field(s, "NSsid"), std::to_string(getsid(0)));
  EXPECT_EQ(Field(s, "Threads"), "1");
  uid_t r, e, su;
  ASSERT_THAT(getresuid(&r, &e, &su), SyscallSucceeds());
  EXPECT_EQ(Field(s, "Uid"), std::to_string(r) + "\t" + std::to_string(e) + "\t" +
                                 std::to_string(su) + "\t" + std::to_string(e));
  gid_t rg, eg, sg;
  ASSERT_THAT(getresgid(&rg, &eg, &sg), SyscallSucceeds());
  EXPECT_EQ(Field(s, "Gid"), std::to_string(rg) + "\t" + std::to_string(eg) + "\t" +
                                 std::to_string(sg) + "\t" + std::to_string(eg));
  EXPECT_TRUE(std::regex_match(Field(s, "CapEff"), std::regex("[0-9a-f]{16}")));
  EXPECT_TRUE(std::regex_match(Field(s, "CapBnd"), std::regex("[0-9a-f]{16}")));
  EXPECT_EQ(Field(s, "NoNewPrivs"), "0");
  EXPECT_TRUE(std::regex_match(Field(s, "SigQ"), std::regex("\\d+/\\d+")));
  EXPECT_TRUE(std::regex_match(Field(s, "VmSize"), std::regex("\\d+ kB")));
  EXPECT_TRUE(std::regex_match(Field(s, "FDSize"), std::regex("\\d+")));
  EXPECT_NE(Field(s, "Cpus_allowed_list"), "<missing>");
  // Every line is "Key:\tvalue" (or "Key:" alone).
  for (const std::string& line : Lines(s)) {
    EXPECT_TRUE(std::regex_match(line, std::regex("[A-Za-z_0-9]+:(\t.*)?"))) << line;
  }
}

TEST(ProcPidTest, StatusSignalsAndUmask) {
  EXPECT_CHILD_SUCCEEDS([] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    CHILD_CHECK(signal(SIGUSR2, SIG_IGN) != SIG_ERR);
    CHILD_CHECK(signal(SIGHUP, [](int) {}) != SIG_ERR);
    CHILD_CHECK_SUCCESS(raise(SIGUSR1));
    umask(027);
    std::string s = ReadFile("/proc/self/status");
    CHILD_CHECK(Field(s, "SigBlk") == "0000000000000200");
    CHILD_CHECK((std::stoull(Field(s, "SigIgn"), nullptr, 16) & 0x800) != 0);
    CHILD_CHECK((std::stoull(Field(s, "SigCgt"), nullptr, 16) & 0x1) != 0);
    // raise() is a tgkill: the signal is pending for the thread.
    CHILD_CHECK(Field(s, "SigPnd") == "0000000000000200");
    CHILD_CHECK(Field(s, "ShdPnd") == "0000000000000000");
    CHILD_CHECK(Field(s, "Umask") == "0027");
  });
}

TEST(ProcPidTest, StatusUidAfterSetuid) {
  EXPECT_CHILD_SUCCEEDS([] {
    if (geteuid() != 0) _exit(0);
    CHILD_CHECK_SUCCESS(setresgid(5, 6, 7));
    CHILD_CHECK_SUCCESS(setresuid(1, 2, 3));
    std::string s = ReadFile("/proc/" + std::to_string(getpid()) + "/status");
    CHILD_CHECK(Field(s, "Uid") == "1\t2\t3\t2");
    CHILD_CHECK(Field(s, "Gid") == "5\t6\t7\t6");
    CHILD_CHECK(Field(s, "CapEff") == "0000000000000000");
  });
}

// ---- cmdline, environ, exe, cwd, root ----

TEST(ProcPidTest, CmdlineMatchesArgv) {
  std::string want;
  for (const std::string& a : ::testing::internal::GetArgvs()) want += a + '\0';
  EXPECT_EQ(ReadFile("/proc/self/cmdline"), want);
  // Another process (a fork) has the same arguments.
  Sleeper child;
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(child.pid) + "/cmdline"), want);
}

TEST(ProcPidTest, CmdlineSeesChangedArgv) {
  // Programs like setproctitle overwrite their argv strings in place.
  EXPECT_CHILD_SUCCEEDS([] {
    std::string before = ReadFile("/proc/self/cmdline");
    CHILD_CHECK(!before.empty());
    int fd = open("/proc/self/cmdline", O_RDONLY);
    CHILD_CHECK(fd >= 0);
    char buf[4];
    CHILD_CHECK(pread(fd, buf, 4, 1) == 4);
    CHILD_CHECK(memcmp(buf, before.data() + 1, 4) == 0);
    close(fd);
  });
}

TEST(ProcPidTest, Environ) {
  std::string env = ReadFile("/proc/self/environ");
  if (environ[0] == nullptr) {
    EXPECT_EQ(env, "");
    return;
  }
  std::vector<std::string> entries = Split(env, '\0');
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back(), "");  // NUL-terminated
  EXPECT_THAT(entries, Contains(std::string(environ[0])));
}

TEST(ProcPidTest, Exe) {
  std::string argv0 = ::testing::internal::GetArgvs()[0];
  char real[PATH_MAX];
  ASSERT_NE(realpath(argv0.c_str(), real), nullptr);
  EXPECT_EQ(ReadLink("/proc/self/exe"), real);
  struct stat a, b;
  ASSERT_THAT(stat("/proc/self/exe", &a), SyscallSucceeds());
  ASSERT_THAT(stat(real, &b), SyscallSucceeds());
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_THAT(fd, SyscallSucceeds());
  char magic[4];
  EXPECT_THAT(read(fd, magic, 4), SyscallSucceedsWithValue(4));
  EXPECT_EQ(memcmp(magic, "\177ELF", 4), 0);
  close(fd);
}

TEST(ProcPidTest, ExecThroughExe) {
  // Programs re-execute themselves through /proc/self/exe (busybox runs its applets so).
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    std::string argv0 = ::testing::internal::GetArgvs()[0];
    char* const argv[] = {argv0.data(), const_cast<char*>("--gtest_list_tests"), nullptr};
    execv("/proc/self/exe", argv);
    _exit(kChildCheckFailed);
  }
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

TEST(ProcPidTest, CwdAndRoot) {
  TempDir dir;
  EXPECT_CHILD_SUCCEEDS([&] {
    CHILD_CHECK_SUCCESS(chdir(dir.path().c_str()));
    char real[PATH_MAX];
    CHILD_CHECK(realpath(dir.path().c_str(), real) != nullptr);
    CHILD_CHECK(ReadLink("/proc/self/cwd") == real);
    // A walk through the magic link lands in the directory itself.
    int fd = open("/proc/self/cwd/file", O_CREAT | O_WRONLY, 0644);
    CHILD_CHECK(fd >= 0);
    close(fd);
    struct stat st;
    CHILD_CHECK_SUCCESS(stat((std::string(real) + "/file").c_str(), &st));
    CHILD_CHECK_SUCCESS(stat("/proc/self/cwd/..", &st));
    struct stat parent;
    CHILD_CHECK_SUCCESS(stat((std::string(real) + "/..").c_str(), &parent));
    CHILD_CHECK(st.st_ino == parent.st_ino);
    CHILD_CHECK(ReadLink("/proc/self/root") == "/");
    // The parent's cwd is unchanged.
    char cwd[PATH_MAX];
    CHILD_CHECK(getcwd(cwd, sizeof(cwd)) != nullptr);
    CHILD_CHECK(ReadLink("/proc/" + std::to_string(getppid()) + "/cwd") != cwd);
  });
}

// ---- fd and fdinfo ----

TEST(ProcPidTest, FdOfPipe) {
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(p[0], &st), SyscallSucceeds());
  std::string want = "pipe:[" + std::to_string(st.st_ino) + "]";
  EXPECT_EQ(ReadLink("/proc/self/fd/" + std::to_string(p[0])), want);
  EXPECT_EQ(ReadLink("/proc/self/fd/" + std::to_string(p[1])), want);
  // Opening the link opens the pipe itself.
  int w = open(("/proc/self/fd/" + std::to_string(p[1])).c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_THAT(w, SyscallSucceeds());
  ASSERT_THAT(write(w, "x", 1), SyscallSucceedsWithValue(1));
  char c;
  EXPECT_THAT(read(p[0], &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'x');
  struct stat lst;
  ASSERT_THAT(lstat(("/proc/self/fd/" + std::to_string(p[0])).c_str(), &lst), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(lst.st_mode));
  EXPECT_EQ(lst.st_mode & 0777, 0500u);
  ASSERT_THAT(stat(("/proc/self/fd/" + std::to_string(p[0])).c_str(), &lst), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(lst.st_mode));
  EXPECT_EQ(lst.st_ino, st.st_ino);
  close(w);
  // With the write end closed, opening the read end through /proc does not wait for a writer
  // as a FIFO would: it sees end of file.
  ASSERT_THAT(close(p[1]), SyscallSucceeds());
  int r = open(("/proc/self/fd/" + std::to_string(p[0])).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_THAT(r, SyscallSucceeds());
  EXPECT_THAT(read(r, &c, 1), SyscallSucceedsWithValue(0));
  close(r);
  // And the write end of a pipe without readers opens too, even non-blocking.
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  close(p[0]);
  w = open(("/proc/self/fd/" + std::to_string(p[1])).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  EXPECT_THAT(w, SyscallSucceeds());
  close(w);
  close(p[1]);
}

TEST(ProcPidTest, FdOfFile) {
  TempDir dir;
  std::string path = dir.path() + "/f";
  int first = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_THAT(first, SyscallSucceeds());
  // A high number, so that the directory reads below do not reuse it once it is closed.
  int fd = fcntl(first, F_DUPFD_CLOEXEC, 100);
  ASSERT_THAT(fd, SyscallSucceeds());
  close(first);
  ASSERT_THAT(write(fd, "hello", 5), SyscallSucceedsWithValue(5));
  char real[PATH_MAX];
  ASSERT_NE(realpath(path.c_str(), real), nullptr);
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  EXPECT_EQ(ReadLink(link), real);
  EXPECT_EQ(ReadFile(link), "hello");
  EXPECT_THAT(ListDir("/proc/self/fd"), Contains(std::to_string(fd)));
  EXPECT_THAT(ListDir("/proc/self/fd"), Contains("0"));
  ASSERT_THAT(unlink(path.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadLink(link), std::string(real) + " (deleted)");
  close(fd);
  struct stat st;
  EXPECT_THAT(lstat(link.c_str(), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(ListDir("/proc/self/fd"), ::testing::Not(Contains(std::to_string(fd))));
}

TEST(ProcPidTest, Fdinfo) {
  TempDir dir;
  int fd = open((dir.path() + "/f").c_str(), O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_THAT(fd, SyscallSucceeds());
  ASSERT_THAT(write(fd, "hello", 5), SyscallSucceedsWithValue(5));
  std::string s = ReadFile("/proc/self/fdinfo/" + std::to_string(fd));
  std::vector<std::string> lines = Lines(s);
  ASSERT_GE(lines.size(), 3u) << s;
  EXPECT_EQ(lines[0], "pos:\t5");
  ASSERT_TRUE(std::regex_match(lines[1], std::regex("flags:\t0[0-7]+"))) << lines[1];
  unsigned flags = std::stoul(lines[1].substr(7), nullptr, 8);
  EXPECT_EQ(flags & O_ACCMODE, static_cast<unsigned>(O_RDWR));
  EXPECT_NE(flags & O_APPEND, 0u);
  EXPECT_NE(flags & O_CLOEXEC, 0u);
  EXPECT_TRUE(std::regex_match(lines[2], std::regex("mnt_id:\t\\d+"))) << lines[2];
  struct stat st;
  ASSERT_THAT(stat("/proc/self/fdinfo", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555u);
  close(fd);
  EXPECT_THAT(stat(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(), &st),
              SyscallFailsWithErrno(ENOENT));
}

TEST(ProcPidTest, FdinfoOfItself) {
  // The file being read is the one described.
  int fd = open("/proc/self/fdinfo/0", O_RDONLY | O_CLOEXEC);
  ASSERT_THAT(fd, SyscallSucceeds());
  std::string self = "/proc/self/fdinfo/" + std::to_string(fd);
  int fd2 = open(self.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_THAT(fd2, SyscallSucceeds());
  close(fd);
  ASSERT_THAT(dup2(fd2, fd), SyscallSucceeds());
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  ASSERT_THAT(n, SyscallSucceeds());
  buf[n] = 0;
  EXPECT_THAT(std::string(buf), StartsWith("pos:\t0\n"));
  close(fd);
  close(fd2);
}

TEST(ProcPidTest, MagicLinkToInheritedStdio) {
  // /dev/stdout is /proc/self/fd/1; opening it reaches the same file even when it has no path
  // (a pipe or terminal of the caller).
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    int fd = open("/dev/stdout", O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "ok", 2) == 2);
    _exit(0);
  }
  close(p[1]);
  char buf[8] = {};
  EXPECT_THAT(read(p[0], buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_STREQ(buf, "ok");
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  close(p[0]);
}

// ---- maps, mounts ----

TEST(ProcPidTest, MapsFormatStackAndBinary) {
  std::string maps = ReadFile("/proc/self/maps");
  std::regex line_re(
      "([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]{8}) ([0-9a-f]{2,}):([0-9a-f]{2,}) "
      "(\\d+)( +(.*))?");
  char real[PATH_MAX];
  ASSERT_NE(realpath(::testing::internal::GetArgvs()[0].c_str(), real), nullptr);
  int local = 0;
  uint64_t stack_addr = reinterpret_cast<uint64_t>(&local);
  uint64_t code_addr = reinterpret_cast<uint64_t>(&ReadFile);
  bool stack_found = false, code_found = false;
  uint64_t prev_end = 0;
  for (const std::string& line : Lines(maps)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, line_re)) << line;
    uint64_t start = std::stoull(m[1], nullptr, 16), end = std::stoull(m[2], nullptr, 16);
    EXPECT_LT(start, end) << line;
    EXPECT_GE(start, prev_end) << "mappings out of order at " << line;
    prev_end = end;
    std::string name = m[9];
    if (name == "[stack]" && start <= stack_addr && stack_addr < end) stack_found = true;
    if (name == real && start <= code_addr && code_addr < end) {
      code_found = true;
      EXPECT_EQ(m[3].str().substr(0, 3), "r-x") << line;
      struct stat st;
      ASSERT_THAT(stat(real, &st), SyscallSucceeds());
      EXPECT_EQ(std::stoull(m[7]), st.st_ino);
    }
  }
  EXPECT_TRUE(stack_found) << maps;
  EXPECT_TRUE(code_found) << maps;
}

TEST(ProcPidTest, MountsAndMountinfo) {
  EXPECT_EQ(ReadLink("/proc/mounts"), "self/mounts");
  std::string mounts = ReadFile("/proc/mounts");
  bool proc_found = false;
  for (const std::string& line : Lines(mounts)) {
    std::vector<std::string> f = Split(line, ' ');
    ASSERT_EQ(f.size(), 6u) << line;
    EXPECT_EQ(f[4], "0");
    EXPECT_EQ(f[5], "0");
    if (f[1] == "/proc" && f[2] == "proc") proc_found = true;
  }
  EXPECT_TRUE(proc_found) << mounts;

  std::string info = ReadFile("/proc/self/mountinfo");
  std::regex info_re("(\\d+) (\\d+) (\\d+):(\\d+) (\\S+) (\\S+) (\\S+)( \\S+)* - (\\S+) (\\S+) (\\S+)");
  proc_found = false;
  std::set<std::string> ids;
  for (const std::string& line : Lines(info)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, info_re)) << line;
    EXPECT_TRUE(ids.insert(m[1]).second) << "duplicate mount id in " << line;
    if (m[6] == "/proc" && m[9] == "proc") proc_found = true;
  }
  EXPECT_TRUE(proc_found) << info;
}

// ---- writable files ----

TEST(ProcPidTest, CommReadWrite) {
  EXPECT_CHILD_SUCCEEDS([] {
    char comm[17] = {};
    CHILD_CHECK_SUCCESS(prctl(PR_GET_NAME, comm));
    CHILD_CHECK(ReadFile("/proc/self/comm") == std::string(comm) + "\n");
    int fd = open("/proc/thread-self/comm", O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "renamed-to-something-long", 25) == 25);
    close(fd);
    CHILD_CHECK_SUCCESS(prctl(PR_GET_NAME, comm));
    CHILD_CHECK(std::string(comm) == "renamed-to-some");
    CHILD_CHECK(ReadFile("/proc/self/comm") == "renamed-to-some\n");
    CHILD_CHECK(StatFields(ReadFile("/proc/self/stat")).at(1) == "renamed-to-some");
  });
}

TEST(ProcPidTest, OomScoreAdj) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK(ReadFile("/proc/self/oom_score_adj") == "0\n");
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "500\n", 4) == 4);
    CHILD_CHECK_ERRNO(write(fd, "5000", 4), EINVAL);
    CHILD_CHECK_ERRNO(write(fd, "abc", 3), EINVAL);
    close(fd);
    CHILD_CHECK(ReadFile("/proc/self/oom_score_adj") == "500\n");
  });
}

// A shell's `echo N > /proc/self/oom_score_adj` opens with O_TRUNC: proc_setattr accepts a
// size change (and does nothing with it), but refuses a mode change.
TEST(ProcPidTest, TruncateIsAcceptedAndIgnored) {
  EXPECT_CHILD_SUCCEEDS([] {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_TRUNC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "7\n", 2) == 2);
    CHILD_CHECK(ftruncate(fd, 0) == 0);
    close(fd);
    CHILD_CHECK(ReadFile("/proc/self/oom_score_adj") == "7\n");
    CHILD_CHECK_ERRNO(chmod("/proc/self/oom_score_adj", 0600), EPERM);
  });
}

// ---- other per-process files ----

TEST(ProcPidTest, Limits) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/self/limits"));
  ASSERT_EQ(lines.size(), 17u);
  EXPECT_THAT(lines[0], StartsWith("Limit                     Soft Limit           Hard Limit"));
  rlimit nofile;
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &nofile), SyscallSucceeds());
  bool found = false;
  for (const std::string& l : lines) {
    if (l.rfind("Max open files", 0) == 0) {
      found = true;
      std::istringstream in(l.substr(26));
      std::string soft, hard, units;
      in >> soft >> hard >> units;
      EXPECT_EQ(soft, std::to_string(nofile.rlim_cur));
      EXPECT_EQ(hard, std::to_string(nofile.rlim_max));
      EXPECT_EQ(units, "files");
    }
  }
  EXPECT_TRUE(found);
}

TEST(ProcPidTest, CgroupNsLoginuidAuxv) {
  std::string cg = ReadFile("/proc/self/cgroup");
  ASSERT_FALSE(cg.empty());
  for (const std::string& l : Lines(cg)) {
    EXPECT_TRUE(std::regex_match(l, std::regex("\\d+:[^:]*:/.*"))) << l;
  }
  EXPECT_TRUE(std::regex_match(ReadLink("/proc/self/ns/pid"), std::regex("pid:\\[\\d+\\]")));
  EXPECT_TRUE(std::regex_match(ReadLink("/proc/self/ns/mnt"), std::regex("mnt:\\[\\d+\\]")));
  EXPECT_TRUE(std::regex_match(ReadFile("/proc/self/loginuid"), std::regex("\\d+")));
  std::string auxv = ReadFile("/proc/self/auxv");
  ASSERT_EQ(auxv.size() % 16, 0u);
  bool pagesz = false;
  for (size_t i = 0; i + 16 <= auxv.size(); i += 16) {
    uint64_t kv[2];
    memcpy(kv, auxv.data() + i, 16);
    if (kv[0] == AT_PAGESZ) pagesz = kv[1] == 4096;
  }
  EXPECT_TRUE(pagesz);
}

// `echo 0 > /proc/self/oom_score_adj` opens with O_TRUNC: proc files take it (and ignore it),
// but refuse a mode change.
TEST(ProcPidTest, TruncatingOpenOfProcFile) {
  std::string before = ReadFile("/proc/self/oom_score_adj");
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(write(fd, before.data(), before.size()), SyscallSucceedsWithValue(before.size()));
  EXPECT_THAT(fchmod(fd, 0600), SyscallFailsWithErrno(EPERM));
  close(fd);
  EXPECT_EQ(ReadFile("/proc/self/oom_score_adj"), before);
}

}  // namespace
}  // namespace moat::testing
