// OCI hooks (runsc/hooks.h), with shell-script hooks in a temporary directory.
#include "runsc/hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::runsc {
namespace {

using ::testing::HasSubstr;
using vfs::testing::HostTempDir;

// How many processes of process group `pgid` are alive (not zombies), from /proc.
int LiveMembers(pid_t pgid) {
  int live = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!f || !std::getline(f, stat)) continue;
    // pid (comm) state ppid pgrp ...: comm may hold anything, so parse after its last ')'.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state;
    pid_t ppid, pgrp;
    if (!(rest >> state >> ppid >> pgrp)) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') live++;
  }
  return live;
}

class HooksTest : public ::testing::Test {
 protected:
  // Writes an executable shell script `name` with `body` and returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    dir_.WriteFile(name, "#!/bin/sh\n" + body, 0755);
    return dir_ / name;
  }
  spec::Hook Hook(const std::string& path, std::vector<std::string> args = {},
                  std::vector<std::string> env = {}, std::optional<int> timeout = {}) {
    spec::Hook h;
    h.path = path;
    h.args = std::move(args);
    h.env = std::move(env);
    h.timeout = timeout;
    return h;
  }
  std::string Read(const std::string& name) {
    std::ifstream f(dir_ / name, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  HostTempDir dir_;
};

TEST_F(HooksTest, RunInOrderWithTheStateOnStdin) {
  const std::string log = dir_ / "log";
  std::vector<spec::Hook> hooks;
  for (int i = 0; i < 3; i++) {
    std::string p = Script("h" + std::to_string(i),
                           "echo " + std::to_string(i) + " >> " + log + "\ncat > " +
                               dir_ / ("state" + std::to_string(i)) + "\n");
    hooks.push_back(Hook(p));
  }
  const std::string state = R"({"ociVersion":"1.1.0","id":"c1","status":"creating","pid":7})";
  absl::Status s = RunHooks(kCreateRuntime, hooks, state);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Read("log"), "0\n1\n2\n");
  for (int i = 0; i < 3; i++) EXPECT_EQ(Read("state" + std::to_string(i)), state);
}

TEST_F(HooksTest, ArgsAreArgvAndEnvIsExactlyTheHooks) {
  const std::string out = dir_ / "out";
  std::string p = Script("h", "echo \"$0|$1|$2|$FOO|$HOME|$#\" > " + out + "\n");
  // args[0] is argv[0]; the shell shows it as $0 only through an exec of the interpreter with
  // the script path, so the marker is in $1 and $2.
  absl::Status s = RunHook(kPrestart, 0,
                           Hook(p, {"argv0", "one", "two words"}, {"FOO=bar", "PATH=/bin"}), "{}");
  ASSERT_TRUE(s.ok()) << s;
  // The kernel runs "#!/bin/sh" with the script's path as $0; runsc's own HOME is not passed.
  EXPECT_EQ(Read("out"), p + "|one|two words|bar||2\n");
}

TEST_F(HooksTest, EmptyArgsRunThePathAlone) {
  const std::string out = dir_ / "out";
  std::string p = Script("h", "echo \"$#\" > " + out + "\n");
  ASSERT_TRUE(RunHook(kPrestart, 0, Hook(p), "{}").ok());
  EXPECT_EQ(Read("out"), "0\n");
}

TEST_F(HooksTest, OnlyStdioIsInherited) {
  const std::string out = dir_ / "out";
  std::string p = Script("h", "exec ls /proc/self/fd > " + out + "\n");
  // An fd runsc has open without close-on-exec must not reach the hook.
  int leak = fcntl(2, F_DUPFD, 100);
  ASSERT_GE(leak, 100);
  absl::Status s = RunHook(kPrestart, 0, Hook(p), "{}");
  close(leak);
  ASSERT_TRUE(s.ok()) << s;
  // 0, 1 and 2, and the fd ls opens for the directory.
  EXPECT_EQ(Read("out"), "0\n1\n2\n3\n");
}

TEST_F(HooksTest, FailureNamesKindIndexPathAndStatus) {
  std::string ok = Script("ok", "exit 0\n");
  std::string bad = Script("bad", "exit 3\n");
  const std::string ran = dir_ / "ran";
  std::string after = Script("after", "touch " + ran + "\n");
  absl::Status s = RunHooks(kCreateRuntime, {Hook(ok), Hook(bad), Hook(after)}, "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()), "createRuntime hook 1 (" + bad + "): exited with status 3");
  // The first failure stops the kind's remaining hooks.
  EXPECT_NE(access(ran.c_str(), F_OK), 0);
}

TEST_F(HooksTest, KilledBySignal) {
  std::string p = Script("h", "kill -TERM $$\nsleep 5\n");
  absl::Status s = RunHook(kStartContainer, 2, Hook(p), "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()), "startContainer hook 2 (" + p + "): killed by signal 15 (SIGTERM)");
}

TEST_F(HooksTest, MissingProgramIsAnExecError) {
  const std::string p = dir_ / "nothere";
  absl::Status s = RunHook(kPrestart, 0, Hook(p), "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("prestart hook 0 (" + p + "): exec: "));
  absl::Status rel = RunHook(kPrestart, 0, Hook("bin/true"), "{}");
  EXPECT_EQ(rel.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HooksTest, TimeoutKillsTheHookAndWhatItStarted) {
  const std::string pidfile = dir_ / "pid";
  // The shell runs sleep as a child: both must go.
  std::string p = Script("h", "echo $$ > " + pidfile + "\nsleep 10\necho done\n");
  const absl::Time start = absl::Now();
  absl::Status s = RunHook(kCreateContainer, 0, Hook(p, {}, {}, 1), "{}");
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(std::string(s.message()), "createContainer hook 0 (" + p + "): timed out after 1s");
  EXPECT_GE(took, absl::Milliseconds(950));
  EXPECT_LT(took, absl::Seconds(3));
  // The hook was reaped (no zombie: kill fails with ESRCH), and nothing of its process group
  // is alive (the orphaned sleep may stay a zombie until init collects it).
  pid_t pid = std::stoi(Read("pid"));
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(LiveMembers(pid), 0);
}

TEST_F(HooksTest, HookThatNeverReadsALargeState) {
  std::string p = Script("h", "exit 0\n");
  std::string big(1 << 20, 'x');
  const absl::Time start = absl::Now();
  absl::Status s = RunHook(kPrestart, 0, Hook(p), big);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The SIGPIPE of the failed write never reaches runsc: this test is still running, and no
  // SIGPIPE is left pending.
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));

  // One that reads it all gets all of it.
  const std::string out = dir_ / "out";
  std::string reader = Script("r", "wc -c > " + out + "\n");
  ASSERT_TRUE(RunHook(kPrestart, 0, Hook(reader), big).ok());
  EXPECT_EQ(std::stoul(Read("out")), big.size());
}

TEST_F(HooksTest, HookThatNeverReadsAndNeverExitsTimesOut) {
  std::string p = Script("h", "exec sleep 10\n");
  std::string big(1 << 20, 'x');
  const absl::Time start = absl::Now();
  absl::Status s = RunHook(kPrestart, 0, Hook(p, {}, {}, 1), big);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(HooksTest, PoststartAndPoststopFailuresAreOnlyWarnings) {
  std::string bad = Script("bad", "exit 1\n");
  const std::string ran = dir_ / "ran";
  std::string after = Script("after", "touch " + ran + "\n");
  EXPECT_TRUE(RunHooks(kPoststop, {Hook(bad), Hook(after)}, "{}").ok());
  EXPECT_EQ(access(ran.c_str(), F_OK), 0);
  EXPECT_TRUE(RunHooks(kPoststart, {Hook(bad)}, "{}").ok());
  EXPECT_FALSE(RunHooks(kPrestart, {Hook(bad)}, "{}").ok());
  EXPECT_EQ(RunHooks("bogus", {}, "{}").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HooksTest, BlockedAndIgnoredSignalsAreNotInherited) {
  const std::string out = dir_ / "out";
  std::string p = Script("h", "grep -E '^Sig(Blk|Ign)' /proc/self/status > " + out + "\n");
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  struct sigaction ign {}, old_usr2 {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &ign, &old_usr2);
  absl::Status s = RunHook(kPrestart, 0, Hook(p), "{}");
  sigaction(SIGUSR2, &old_usr2, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Read("out"), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

}  // namespace
}  // namespace moat::runsc
