// The kernel's container-lifecycle API (kernel.h: Create, StartCreated, Exec, WaitExec, Kill,
// KillAll, Pause, Resume, Processes, Stats) with real sandboxed processes on the ptrace
// platform. Each sandbox has its own tmpfs root holding a copy of the host's static busybox, and
// /proc: nothing depends on the host's root. Needs root (a new host PID namespace) and ptrace.
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sentry/fsimpl/host_fd.h"
#include "sentry/fsimpl/proc.h"
#include "sentry/fsimpl/tmpfs.h"
#include "sentry/kernel/kernel.h"
#include "sentry/vfs/fd_table.h"
#include "syscalls/syscalls.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::kernel {
namespace {

using ::testing::HasSubstr;
using vfs::testing::TestFs;

constexpr char kBusybox[] = "/bin/busybox";

// Skips the test, saying why, where a sandbox cannot be made at all.
#define REQUIRE_SANDBOX()                                                                  \
  do {                                                                                     \
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the sandbox makes a host PID namespace"; \
    if (access(kBusybox, X_OK) != 0)                                                       \
      GTEST_SKIP() << kBusybox << " is missing (Debian package busybox-static)";          \
  } while (0)

// A sandbox: a kernel over a tmpfs root with /bin/busybox, /tmp and /proc, on platform `platform_name`.
class Sandbox {
 public:
  explicit Sandbox(const std::string& platform_name) {
    RefPtr<vfs::Dentry> root = fsimpl::NewTmpfs(0755, 0, 0, 0);
    files_ = std::make_unique<TestFs>(root);
    std::ifstream in(kBusybox, std::ios::binary);
    std::string image((std::istreambuf_iterator<char>(in)), {});
    EXPECT_GT(image.size(), 100000u);
    EXPECT_TRUE(files_->Mkdir("/bin").ok());
    EXPECT_TRUE(files_->Mkdir("/tmp", 01777).ok());
    EXPECT_TRUE(files_->Mkdir("/proc", 0555).ok());
    EXPECT_TRUE(files_->Mkdir("/dev").ok());
    EXPECT_TRUE(files_->Mknod("/dev/null", S_IFCHR | 0666, makedev(1, 3)).ok());
    EXPECT_TRUE(files_->WriteFile("/bin/busybox", image, 0755).ok());
    // The applets the shells of these tests run by name.
    for (const char* applet : {"sh", "sleep", "cat", "kill", "true"})
      EXPECT_TRUE(files_->Symlink("busybox", std::string("/bin/") + applet).ok());
    auto ns = MakeRef<vfs::MountNamespace>(MakeRef<vfs::Mount>(1, "tmpfs", "root", root,
                                                               vfs::MountFlags{}));
    auto root_creds = Credentials::New(0, 0);
    vfs::Path r = ns->Root();
    vfs::ResolveContext ctx{root_creds.get(), r, ns.get()};
    Result<vfs::Path> proc = vfs::Resolve(ctx, r, "/proc", {.must_be_dir = true});
    EXPECT_TRUE(proc.ok());
    if (proc.ok()) {
      EXPECT_TRUE(ns->AddMount(*proc, MakeRef<vfs::Mount>(ns->NextMountId(), "proc", "proc",
                                                          fsimpl::NewProcfs(),
                                                          vfs::MountFlags{}))
                      .ok());
    }
    absl::StatusOr<std::unique_ptr<platform::Platform>> platform =
        platform::NewPlatform(platform_name);
    EXPECT_TRUE(platform.ok());
    // Task threads outlive any test scope (they are detached, as in runsc, where the kernel
    // lives until the process exits): the kernel is never freed.
    kernel_ = new Kernel(std::move(*platform), ns);
    kernel_->set_syscall_table(&syscalls::Table());
  }

  Kernel& kernel() { return *kernel_; }
  TestFs& files() { return *files_; }

  // A process running busybox applet argv[0].
  static InitProcess Busybox(std::vector<std::string> argv) {
    InitProcess p;
    p.path = "/bin/busybox";
    p.argv = std::move(argv);
    p.envp = {"PATH=/bin"};
    return p;
  }

  // Waits (at most 10 s) for the init to exit and every task to be gone.
  std::optional<int> WaitInit() {
    for (int i = 0; i < 1000; i++) {
      if (std::optional<int> st = kernel_->InitExitStatus()) return st;
      usleep(10000);
    }
    return std::nullopt;
  }

  // Ends every process, so that nothing outlives the test.
  ~Sandbox() {
    kernel_->Resume();
    kernel_->KillAll(SIGKILL);
    WaitInit();
  }

 private:
  std::unique_ptr<TestFs> files_;
  Kernel* kernel_;
};

// A host pipe whose write end is the sandboxed process's stdout and stderr.
struct Output {
  FileDescriptor read;
  RefPtr<vfs::FdTable> fds;

  Output() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    read = FileDescriptor(p[0]);
    fds = MakeRef<vfs::FdTable>();
    Result<RefPtr<fsimpl::HostFile>> f = fsimpl::HostFile::New(FileDescriptor(p[1]), O_WRONLY);
    EXPECT_TRUE(f.ok());
    EXPECT_TRUE(fds->Set(1, *f, false, 1024).ok());
    EXPECT_TRUE(fds->Set(2, *f, false, 1024).ok());
  }

  // Hands the fd table to a process; the pipe reaches EOF once that process is gone.
  RefPtr<vfs::FdTable> Take() { return std::move(fds); }

  // Everything written until EOF (at most 10 s).
  std::string ReadAll() {
    std::string out;
    for (int i = 0; i < 100; i++) {
      pollfd pfd{read.get(), POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(read.get(), buf, sizeof(buf));
      if (n <= 0) return out;
      out.append(buf, n);
      i = 0;
    }
    ADD_FAILURE() << "no EOF after 10s; read so far: " << out;
    return out;
  }
};

// The host pids of this process's children (zombies included).
std::set<pid_t> HostChildren() {
  std::set<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    pid_t pid;
    while (in >> pid) out.insert(pid);
  }
  return out;
}

const ProcessInfo* Find(const std::vector<ProcessInfo>& ps, pid_t pid) {
  for (const ProcessInfo& p : ps) {
    if (p.pid == pid) return &p;
  }
  return nullptr;
}

// Waits (at most 5 s) until the init's child runs sleep and both sleep in the sentry (the
// shell in its wait); returns the child's host pid, or 0.
pid_t WaitForSleepingChild(Kernel& k) {
  for (int i = 0; i < 500; i++) {
    std::vector<ProcessInfo> ps = k.Processes();
    const ProcessInfo* init = Find(ps, 1);
    for (const ProcessInfo& p : ps) {
      if (p.ppid == 1 && p.comm == "sleep" && p.state == 'S' && init && init->state == 'S')
        return p.host_pid;
    }
    usleep(10000);
  }
  return 0;
}

// Field `n` (1-based, as proc(5) numbers them) of a /proc/<pid>/stat line.
std::string StatField(const std::string& stat, int n) {
  size_t close = stat.rfind(')');
  std::istringstream in(stat.substr(close + 2));
  std::string f;
  for (int i = 3; i <= n; i++) in >> f;
  return f;
}

// Every case runs on each platform.
class KernelLifecycleTest : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Platforms, KernelLifecycleTest,
                         ::testing::Values("ptrace", "seccomp_trap"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(KernelLifecycleTest, CreateStopsBeforeTheFirstInstruction) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel()
                  .Create(Sandbox::Busybox({"sh", "-c", "echo ran > /tmp/x"}))
                  .ok());
  std::vector<ProcessInfo> ps = sb.kernel().Processes();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].pid, 1);
  EXPECT_EQ(ps[0].ppid, 0);
  EXPECT_EQ(kill(ps[0].host_pid, 0), 0) << "the host process of the created init is not alive";
  EXPECT_EQ(ps[0].cmdline, (std::vector<std::string>{"sh", "-c", "echo ran > /tmp/x"}));
  usleep(300000);
  EXPECT_FALSE(sb.files().Lookup("/tmp/x").ok()) << "the created init ran before StartCreated";
  EXPECT_FALSE(sb.kernel().InitExitStatus().has_value());

  sb.kernel().StartCreated();
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st;
  EXPECT_EQ(sb.kernel().Wait(), *st);
  Result<std::string> x = sb.files().ReadFile("/tmp/x");
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(*x, "ran\n");
}

TEST_P(KernelLifecycleTest, CreateFailsCleanly) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  std::set<pid_t> before = HostChildren();
  // A program that is not there.
  InitProcess missing = Sandbox::Busybox({"nope"});
  missing.path = "/bin/nope";
  absl::Status s = sb.kernel().Create(missing);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("/bin/nope"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("ENOENT"));
  EXPECT_TRUE(sb.kernel().Processes().empty());
  EXPECT_EQ(HostChildren(), before) << "a host process was left behind";
  // A working directory that is not there.
  InitProcess bad_cwd = Sandbox::Busybox({"true"});
  bad_cwd.cwd = "/no/such/dir";
  s = sb.kernel().Create(bad_cwd);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("chdir /no/such/dir"));
  EXPECT_TRUE(sb.kernel().Processes().empty());
  EXPECT_EQ(HostChildren(), before);
  // Capabilities that capset(2) would refuse.
  InitProcess bad_caps = Sandbox::Busybox({"true"});
  bad_caps.caps = CapabilitySets{.effective = 1, .permitted = 0};
  EXPECT_FALSE(sb.kernel().Create(bad_caps).ok());
  EXPECT_FALSE(sb.kernel().InitExitStatus().has_value());

  // Nothing is left of the failures: the sandbox can still be created.
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sh", "-c", "exit 5"})).ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 5) << *st;
  // Once only.
  EXPECT_FALSE(sb.kernel().Create(Sandbox::Busybox({"true"})).ok());
}

TEST_P(KernelLifecycleTest, KillOfACreatedInit) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Create(Sandbox::Busybox({"sh", "-c", "echo ran > /tmp/x"})).ok());
  pid_t host = sb.kernel().Processes().at(0).host_pid;
  ASSERT_TRUE(sb.kernel().Kill(1, SIGKILL).ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  EXPECT_NE(kill(host, 0), 0) << "the host process survived";
  EXPECT_FALSE(sb.files().Lookup("/tmp/x").ok());
  sb.kernel().StartCreated();  // too late: nothing happens
  EXPECT_TRUE(sb.kernel().Processes().empty());
}

TEST_P(KernelLifecycleTest, ExecIsTheChildOfNoProcess) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  Output out;
  InitProcess p = Sandbox::Busybox({"sh", "-c", "echo $PPID; exit 4"});
  p.fds = out.Take();
  absl::StatusOr<pid_t> pid = sb.kernel().Exec(std::move(p));
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_GT(*pid, 1);
  EXPECT_EQ(out.ReadAll(), "0\n");
  absl::StatusOr<int> st = sb.kernel().WaitExec(*pid);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 4) << *st;
  // Collected once only; an unknown pid, or the init, is not waitable.
  EXPECT_FALSE(sb.kernel().WaitExec(*pid).ok());
  EXPECT_FALSE(sb.kernel().WaitExec(4321).ok());
  EXPECT_FALSE(sb.kernel().WaitExec(1).ok());
}

TEST_P(KernelLifecycleTest, ExecShowsInProcessesAndProc) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  InitProcess p = Sandbox::Busybox({"sleep", "999"});
  p.uid = 123;
  absl::StatusOr<pid_t> pid = sb.kernel().Exec(std::move(p));
  ASSERT_TRUE(pid.ok()) << pid.status();

  std::vector<ProcessInfo> ps = sb.kernel().Processes();
  ASSERT_EQ(ps.size(), 2u);
  const ProcessInfo* e = Find(ps, *pid);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->ppid, 0);
  EXPECT_EQ(e->uid, 123u);
  EXPECT_EQ(e->comm, "busybox");
  EXPECT_EQ(e->cmdline, (std::vector<std::string>{"sleep", "999"}));
  EXPECT_EQ(kill(e->host_pid, 0), 0);
  EXPECT_NE(e->host_pid, *pid) << "the host pid is the sentry's view, not the sandbox's";

  KernelStats stats = sb.kernel().Stats();
  EXPECT_EQ(stats.processes, 2);
  EXPECT_EQ(stats.tasks, 2);
  EXPECT_GT(stats.rss_bytes, 0u);

  // Another process sees it in /proc: its stat says ppid 0.
  Output out;
  InitProcess cat = Sandbox::Busybox({"cat", "/proc/" + std::to_string(*pid) + "/stat"});
  cat.fds = out.Take();
  cat.detached_reap = true;
  ASSERT_TRUE(sb.kernel().Exec(std::move(cat)).ok());
  std::string stat = out.ReadAll();
  EXPECT_THAT(stat, ::testing::StartsWith(std::to_string(*pid) + " (busybox) S "));
  EXPECT_EQ(StatField(stat, 4), "0");
}

TEST_P(KernelLifecycleTest, ExecdProcessesAreReapedOnce) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  InitProcess detached = Sandbox::Busybox({"true"});
  detached.detached_reap = true;
  absl::StatusOr<pid_t> d = sb.kernel().Exec(std::move(detached));
  ASSERT_TRUE(d.ok());
  absl::StatusOr<pid_t> w = sb.kernel().Exec(Sandbox::Busybox({"true"}));
  ASSERT_TRUE(w.ok());
  // The detached one vanishes by itself; the other stays a zombie until collected.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; i++) {
    gone = !sb.kernel().Kill(*d, 0).ok();
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone) << "a detached_reap process was not reaped";
  EXPECT_FALSE(sb.kernel().WaitExec(*d).ok());
  // Once it is no longer listed as live, it is a zombie: it still exists.
  bool listed = true;
  for (int i = 0; i < 500 && listed; i++) {
    listed = Find(sb.kernel().Processes(), *w) != nullptr;
    if (listed) usleep(10000);
  }
  EXPECT_FALSE(listed) << "`true` did not exit";
  EXPECT_TRUE(sb.kernel().Kill(*w, 0).ok()) << "the zombie went before WaitExec";
  absl::StatusOr<int> st = sb.kernel().WaitExec(*w);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 0);
  Result<void> k = sb.kernel().Kill(*w, 0);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().value(), ESRCH);
}

TEST_P(KernelLifecycleTest, ExecAfterInitExitFails) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  EXPECT_FALSE(sb.kernel().Exec(Sandbox::Busybox({"true"})).ok()) << "exec before create";
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sh", "-c", "exit 3"})).ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(*st, 3 << 8);
  absl::StatusOr<pid_t> pid = sb.kernel().Exec(Sandbox::Busybox({"true"}));
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pid.status().message()), HasSubstr("init process has exited"));
}

TEST_P(KernelLifecycleTest, ExecIdentity) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  auto run = [&](InitProcess p) {
    Output out;
    p.fds = out.Take();
    p.detached_reap = true;
    absl::StatusOr<pid_t> pid = sb.kernel().Exec(std::move(p));
    EXPECT_TRUE(pid.ok()) << pid.status();
    return std::pair(pid.value_or(0), out.ReadAll());
  };
  constexpr uint64_t kBind = uint64_t{1} << CAP_NET_BIND_SERVICE;
  constexpr uint64_t kChown = uint64_t{1} << CAP_CHOWN;
  InitProcess p = Sandbox::Busybox({"cat", "/proc/self/status"});
  p.uid = 1000;
  p.gid = 1000;
  p.caps = CapabilitySets{.effective = kBind,
                          .permitted = kBind | kChown,
                          .inheritable = kBind,
                          .bounding = kBind | kChown,
                          .ambient = kBind};
  p.no_new_privs = true;
  // As after runc's execve of the program: a non-root process keeps its ambient set only.
  std::string status = run(p).second;
  EXPECT_THAT(status, HasSubstr("Uid:\t1000\t1000\t1000\t1000\n"));
  EXPECT_THAT(status, HasSubstr("PPid:\t0\n"));
  EXPECT_THAT(status, HasSubstr("CapInh:\t0000000000000400\n"));
  EXPECT_THAT(status, HasSubstr("CapPrm:\t0000000000000400\n"));
  EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000400\n"));
  EXPECT_THAT(status, HasSubstr("CapBnd:\t0000000000000401\n"));
  EXPECT_THAT(status, HasSubstr("CapAmb:\t0000000000000400\n"));
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t1\n"));
  p.caps->ambient = 0;
  status = run(p).second;
  EXPECT_THAT(status, HasSubstr("CapPrm:\t0000000000000000\n"));
  EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000000\n"));
  // Root gets its bounding and inheritable sets.
  InitProcess root = Sandbox::Busybox({"cat", "/proc/self/status"});
  root.caps = CapabilitySets{.effective = kBind, .permitted = kBind, .bounding = kBind | kChown};
  status = run(root).second;
  EXPECT_THAT(status, HasSubstr("CapPrm:\t0000000000000401\n"));
  EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000401\n"));
  EXPECT_THAT(status, HasSubstr("CapBnd:\t0000000000000401\n"));
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t0\n"));

  // Without caps: root keeps every capability, another uid has none.
  status = run(Sandbox::Busybox({"cat", "/proc/self/status"})).second;
  EXPECT_THAT(status, HasSubstr("CapEff:\t000001ffffffffff\n"));
  EXPECT_THAT(status, HasSubstr("NoNewPrivs:\t0\n"));
  InitProcess user = Sandbox::Busybox({"cat", "/proc/self/status"});
  user.uid = 1000;
  status = run(user).second;
  EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000000\n"));

  // oom_score_adj: shown as set, and the floor for an unprivileged process.
  InitProcess oom = Sandbox::Busybox(
      {"sh", "-c", "cat /proc/self/oom_score_adj; echo 600 > /proc/self/oom_score_adj && "
                   "cat /proc/self/oom_score_adj; echo 100 2>/dev/null >/proc/self/oom_score_adj || "
                   "echo refused; cat /proc/self/oom_score_adj"});
  oom.uid = 1000;
  oom.oom_score_adj = 500;
  std::string adj = run(oom).second;
  EXPECT_EQ(adj, "500\n600\nrefused\n600\n");

  // A new session, or the init's.
  InitProcess own = Sandbox::Busybox({"cat", "/proc/self/stat"});
  own.new_session = true;
  auto [pid, stat] = run(own);
  EXPECT_EQ(StatField(stat, 5), std::to_string(pid)) << stat;  // pgrp
  EXPECT_EQ(StatField(stat, 6), std::to_string(pid)) << stat;  // session
  stat = run(Sandbox::Busybox({"cat", "/proc/self/stat"})).second;
  EXPECT_EQ(StatField(stat, 5), "1") << stat;
  EXPECT_EQ(StatField(stat, 6), "1") << stat;

  // Its own working directory, environment, limits and umask.
  InitProcess env = Sandbox::Busybox({"sh", "-c", "pwd; echo $FOO; ulimit -n; umask"});
  env.cwd = "/tmp";
  env.envp = {"FOO=bar"};
  env.rlimits = {{RLIMIT_NOFILE, rlimit{77, 77}}};
  env.umask = 027;
  EXPECT_EQ(run(env).second, "/tmp\nbar\n77\n0027\n");
}

TEST_P(KernelLifecycleTest, KillFromOutside) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  Result<void> r = sb.kernel().Kill(4321, SIGKILL);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value(), ESRCH);
  r = sb.kernel().Kill(1, 99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value(), EINVAL);
  EXPECT_TRUE(sb.kernel().Kill(1, 0).ok());
  // As from an ancestor PID namespace: the init ignores a signal it has no handler for.
  EXPECT_TRUE(sb.kernel().Kill(1, SIGTERM).ok());
  usleep(200000);
  EXPECT_FALSE(sb.kernel().InitExitStatus().has_value()) << "SIGTERM killed an init without a handler";
  // Another process is not protected; the signal comes from no process in the sandbox.
  Output out;
  InitProcess trap = Sandbox::Busybox(
      {"sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 1; done"});
  trap.fds = out.Take();
  absl::StatusOr<pid_t> pid = sb.kernel().Exec(std::move(trap));
  ASSERT_TRUE(pid.ok());
  pollfd pfd{out.read.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the shell never got ready";
  char buf[7] = {};
  ASSERT_EQ(read(out.read.get(), buf, 6), 6);
  EXPECT_STREQ(buf, "ready\n");
  ASSERT_TRUE(sb.kernel().Kill(*pid, SIGTERM).ok());
  EXPECT_EQ(out.ReadAll(), "got TERM\n");
  absl::StatusOr<int> st = sb.kernel().WaitExec(*pid);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 9 << 8);
  // SIGKILL ends the init, and the container.
  absl::StatusOr<pid_t> other = sb.kernel().Exec(Sandbox::Busybox({"sleep", "1000"}));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(sb.kernel().Kill(1, SIGKILL).ok());
  std::optional<int> init = sb.WaitInit();
  ASSERT_TRUE(init.has_value());
  EXPECT_TRUE(WIFSIGNALED(*init) && WTERMSIG(*init) == SIGKILL) << *init;
  st = sb.kernel().WaitExec(*other);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
}

// The init's exit kills every process, also those waiting in the sentry (a sleep), whose host
// processes the host kernel kills and waits for before the init's own exit completes.
TEST_P(KernelLifecycleTest, InitExitEndsEveryProcess) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel()
                  .Start(Sandbox::Busybox({"sh", "-c", "sleep 1000 & sleep 0.3; exit 6"}))
                  .ok());
  absl::StatusOr<pid_t> other = sb.kernel().Exec(Sandbox::Busybox({"sleep", "1000"}));
  ASSERT_TRUE(other.ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value()) << "the init's exit did not end the sandbox";
  EXPECT_EQ(*st, 6 << 8);
  absl::StatusOr<int> o = sb.kernel().WaitExec(*other);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(WIFSIGNALED(*o) && WTERMSIG(*o) == SIGKILL) << *o;
}

// SIGKILL from outside to an init that waits for its child ends the init, and with it the child
// (the PID namespace dies with its init), as `podman stop` and `docker kill` expect.
TEST_P(KernelLifecycleTest, KillOfAnInitThatWaitsForAChild) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  Output out;
  InitProcess init = Sandbox::Busybox({"sh", "-c", "sleep 1000 & echo started; wait"});
  init.fds = out.Take();
  ASSERT_TRUE(sb.kernel().Start(std::move(init)).ok());
  pollfd pfd{out.read.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the shell never started its child";
  pid_t child_host = WaitForSleepingChild(sb.kernel());
  ASSERT_NE(child_host, 0) << "the child never slept";
  ASSERT_TRUE(sb.kernel().Kill(1, SIGKILL).ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value()) << "SIGKILL to the init did not end the sandbox";
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  EXPECT_NE(kill(child_host, 0), 0) << "the child's host process survived";
  EXPECT_TRUE(sb.kernel().Processes().empty());
}

// The same init killed on the host (the OOM killer, a SIGKILL from outside the sandbox): the host
// kills the child too and waits until it is reaped before the init's exit completes, while the
// child's task sleeps in the sentry, which has seen no signal.
TEST_P(KernelLifecycleTest, HostKillOfAnInitThatWaitsForAChild) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  Output out;
  InitProcess init = Sandbox::Busybox({"sh", "-c", "sleep 1000 & echo started; wait"});
  init.fds = out.Take();
  ASSERT_TRUE(sb.kernel().Start(std::move(init)).ok());
  pollfd pfd{out.read.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the shell never started its child";
  pid_t child_host = WaitForSleepingChild(sb.kernel());
  ASSERT_NE(child_host, 0) << "the child never slept";
  std::vector<ProcessInfo> ps = sb.kernel().Processes();
  const ProcessInfo* init_info = Find(ps, 1);
  ASSERT_NE(init_info, nullptr);
  ASSERT_EQ(kill(init_info->host_pid, SIGKILL), 0);
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value()) << "the init's death on the host did not end the sandbox";
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  EXPECT_NE(kill(child_host, 0), 0) << "the child's host process survived";
}

// A process killed on the host while its task sleeps in the sentry exits at once, with the
// host's status, not when its sleep would have ended.
TEST_P(KernelLifecycleTest, HostKillOfAProcessSleepingInTheSentry) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  absl::StatusOr<pid_t> pid = sb.kernel().Exec(Sandbox::Busybox({"sleep", "1000"}));
  ASSERT_TRUE(pid.ok());
  pid_t host = 0;
  for (int i = 0; i < 500 && !host; i++) {
    std::vector<ProcessInfo> ps = sb.kernel().Processes();
    const ProcessInfo* p = Find(ps, *pid);
    if (p && !p->cmdline.empty() && p->cmdline[0] == "sleep" && p->state == 'S')
      host = p->host_pid;
    if (!host) usleep(10000);
  }
  ASSERT_NE(host, 0) << "the exec'd sleep never slept";
  ASSERT_EQ(kill(host, SIGKILL), 0);
  // WaitExec would block as long as the task sleeps: wait for the exit with a bound first.
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; i++) {
    gone = Find(sb.kernel().Processes(), *pid) == nullptr;
    if (!gone) usleep(10000);
  }
  ASSERT_TRUE(gone) << "the process killed on the host still lives in the sandbox";
  absl::StatusOr<int> st = sb.kernel().WaitExec(*pid);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  EXPECT_FALSE(sb.kernel().InitExitStatus().has_value()) << "the init died with another process";
}

TEST_P(KernelLifecycleTest, KillAll) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  // The init handles SIGTERM, so it gets it from outside too.
  Output out;
  InitProcess init =
      Sandbox::Busybox({"sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 1; done"});
  init.fds = out.Take();
  ASSERT_TRUE(sb.kernel().Start(std::move(init)).ok());
  absl::StatusOr<pid_t> a = sb.kernel().Exec(Sandbox::Busybox({"sleep", "1000"}));
  ASSERT_TRUE(a.ok());
  InitProcess bp = Sandbox::Busybox({"sleep", "1000"});
  bp.new_session = true;
  absl::StatusOr<pid_t> b = sb.kernel().Exec(std::move(bp));
  ASSERT_TRUE(b.ok());
  pollfd pfd{out.read.get(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the shell never set its trap";
  sb.kernel().KillAll(SIGTERM);
  absl::StatusOr<int> st = sb.kernel().WaitExec(*a);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM) << *st;
  st = sb.kernel().WaitExec(*b);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGTERM) << *st;
  std::optional<int> init_status = sb.WaitInit();
  ASSERT_TRUE(init_status.has_value());
  EXPECT_EQ(*init_status, 7 << 8);
}

TEST_P(KernelLifecycleTest, KillMinusOneInsideReachesExecdProcesses) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  ASSERT_TRUE(sb.kernel().Start(Sandbox::Busybox({"sleep", "1000"})).ok());
  absl::StatusOr<pid_t> victim = sb.kernel().Exec(Sandbox::Busybox({"sleep", "1000"}));
  ASSERT_TRUE(victim.ok());
  absl::StatusOr<pid_t> killer = sb.kernel().Exec(Sandbox::Busybox({"kill", "-9", "-1"}));
  ASSERT_TRUE(killer.ok());
  absl::StatusOr<int> st = sb.kernel().WaitExec(*killer);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 0);
  st = sb.kernel().WaitExec(*victim);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  EXPECT_FALSE(sb.kernel().InitExitStatus().has_value()) << "kill(-1) reached the init";
}

// Reads a counter that a sandboxed process writes, one line at a time, to a pipe.
class CounterReader {
 public:
  explicit CounterReader(int fd) : fd_(fd), thread_([this] { Loop(); }) {}
  ~CounterReader() {
    stop_ = true;
    thread_.join();
  }
  uint64_t bytes() const { return bytes_.load(); }

 private:
  void Loop() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return;
      bytes_ += n;
    }
  }
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

TEST_P(KernelLifecycleTest, PauseAndResume) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  Output out;
  InitProcess init = Sandbox::Busybox({"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; done"});
  init.fds = out.Take();
  ASSERT_TRUE(sb.kernel().Start(std::move(init)).ok());
  // A second process spins in application code without any syscall.
  absl::StatusOr<pid_t> spin = sb.kernel().Exec(Sandbox::Busybox({"sh", "-c", "while :; do :; done"}));
  ASSERT_TRUE(spin.ok());
  CounterReader counter(out.read.get());
  auto cpu = [&] {
    KernelStats s = sb.kernel().Stats();
    return s.cpu_user_ns + s.cpu_system_ns;
  };
  usleep(300000);
  uint64_t b0 = counter.bytes();
  uint64_t c0 = cpu();
  usleep(300000);
  ASSERT_GT(counter.bytes(), b0) << "the counter does not run";
  ASSERT_GT(cpu() - c0, 20'000'000u) << "the sandbox is not busy";

  sb.kernel().Pause();
  EXPECT_TRUE(sb.kernel().paused());
  // The reader drains what was written before the pause.
  uint64_t b1 = counter.bytes();
  for (int i = 0; i < 30; i++) {
    usleep(100000);
    if (counter.bytes() == b1) break;
    b1 = counter.bytes();
  }
  uint64_t c1 = cpu();
  usleep(500000);
  EXPECT_EQ(counter.bytes(), b1) << "the counter ran while paused";
  EXPECT_LT(cpu() - c1, 50'000'000u) << "the sandbox used CPU while paused";
  // Invisible to the processes: they are still running or sleeping, not stopped.
  for (const ProcessInfo& p : sb.kernel().Processes()) EXPECT_NE(p.state, 'T') << p.pid;

  sb.kernel().Resume();
  EXPECT_FALSE(sb.kernel().paused());
  usleep(300000);
  EXPECT_GT(counter.bytes(), b1) << "the counter did not run again after Resume";

  // SIGKILL works while paused.
  sb.kernel().Pause();
  ASSERT_TRUE(sb.kernel().Kill(1, SIGKILL).ok());
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value()) << "SIGKILL did not end a paused sandbox";
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL) << *st;
  sb.kernel().Resume();
}

TEST_P(KernelLifecycleTest, PausedTasksBlockedInSyscallsStayBlocked) {
  REQUIRE_SANDBOX();
  Sandbox sb(GetParam());
  Output out;
  // `read` blocks on the pipe's read end until the test writes a line.
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  FileDescriptor in_w(p[1]);
  Result<RefPtr<fsimpl::HostFile>> in = fsimpl::HostFile::New(FileDescriptor(p[0]), O_RDONLY);
  ASSERT_TRUE(in.ok());
  RefPtr<vfs::FdTable> fds = out.Take();
  ASSERT_TRUE(fds->Set(0, *in, false, 1024).ok());
  InitProcess init = Sandbox::Busybox({"sh", "-c", "read line; echo got $line"});
  init.fds = fds;
  fds.reset();
  ASSERT_TRUE(sb.kernel().Start(std::move(init)).ok());
  usleep(200000);
  sb.kernel().Pause();
  ASSERT_EQ(write(in_w.get(), "hi\n", 3), 3);
  usleep(300000);
  pollfd pfd{out.read.get(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0) << "the shell ran while paused";
  sb.kernel().Resume();
  EXPECT_EQ(out.ReadAll(), "got hi\n");
  std::optional<int> st = sb.WaitInit();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(*st, 0);
}

}  // namespace
}  // namespace moat::kernel
