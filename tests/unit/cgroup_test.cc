// runsc's host cgroup: cgroupsPath placement (table-driven), the host layout from mountinfo,
// v2 on a fake tree in a temporary directory, and, as root, real cgroups on this host: limits
// read back from the kernel's files, processes joined, a refused value, pids.max stopping
// fork(2), CPU statistics of a busy child, and removal.
#include "runsc/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moat::runsc::cgroup {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define CG_ASSERT_OK(expr)                                   \
  do {                                                       \
    absl::Status st_ = (expr);                               \
    ASSERT_TRUE(st_.ok()) << #expr << ": " << st_.message(); \
  } while (0)

// The value of a StatusOr; an error ends the test (gtest reports the exception).
template <typename T>
T Get(absl::StatusOr<T> r, const char* what) {
  if (!r.ok())
    throw std::runtime_error(std::string(what) + ": " + std::string(r.status().message()));
  return std::move(r).value();
}
#define CG_GET(expr) Get((expr), #expr)

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

bool DirExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// ---- placement: pure functions ----

TEST(CgroupPath, CleanPath) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"", ""},
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/a//b/", "/a/b"},
      {"/a/./b/../c", "/a/c"},
      {"/../../a", "/a"},
      {"a/b", "a/b"},
      {"../../a", "a"},  // a relative path cannot climb out of runsc's own cgroup
      {"a/../../b", "b"},
      {"./a", "a"},
      {".", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(CleanPath(c.in), c.out) << c.in;
}

TEST(CgroupPath, ExpandSlice) {
  struct Case {
    const char* in;
    const char* out;  // nullptr: invalid
  } cases[] = {
      {"system.slice", "/system.slice"},
      {"a-b.slice", "/a.slice/a-b.slice"},
      {"a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"},
      {"user-1000.slice", "/user.slice/user-1000.slice"},
      {"-.slice", "/"},
      {".slice", nullptr},
      {"a--b.slice", nullptr},
      {"-a.slice", nullptr},
      {"a-.slice", nullptr},
      {"a.scope", nullptr},
      {"a/b.slice", nullptr},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> r = ExpandSlice(c.in);
    if (c.out == nullptr) {
      EXPECT_FALSE(r.ok()) << c.in << " -> " << *r;
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().message();
      EXPECT_EQ(*r, c.out) << c.in;
    }
  }
}

TEST(CgroupPath, Resolve) {
  struct Case {
    const char* path;
    bool systemd;
    const char* out;  // nullptr: an error
  } cases[] = {
      {"/moat/ctr", false, "/moat/ctr"},
      {"/moat/../ctr", false, "/ctr"},
      {"moat/ctr", false, "moat/ctr"},
      {"../../ctr", false, "ctr"},
      {"", false, "ID"},  // runc: the container id, relative to runsc's own cgroup
      {"/", false, nullptr},
      {".", false, nullptr},
      {"system.slice:libpod:ID", true, "/system.slice/libpod-ID.scope"},
      {"machine-qemu.slice:docker:abc", true, "/machine.slice/machine-qemu.slice/docker-abc.scope"},
      {":crio:abc", true, "/system.slice/crio-abc.scope"},
      {"user.slice::abc", true, "/user.slice/abc.scope"},
      {"-.slice:p:abc", true, "/p-abc.scope"},
      {"a.slice:p:b-c.slice", true, "/a.slice/b-c.slice"},  // a slice is its own unit
      {"", true, "/system.slice/runsc-ID.scope"},
      {"/moat/ctr", true, nullptr},  // not slice:prefix:name
      {"a:b", true, nullptr},
      {"a.slice:b:c:d", true, nullptr},
      {"bad:p:n", true, nullptr},
      {"a.slice:p:", true, nullptr},
      {"a.slice:p:x/y", true, nullptr},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> r = Resolve(c.path, "ID", c.systemd);
    std::string label = std::string(c.path) + (c.systemd ? " (systemd)" : "");
    if (c.out == nullptr) {
      EXPECT_FALSE(r.ok()) << label << " -> " << *r;
    } else {
      ASSERT_TRUE(r.ok()) << label << ": " << r.status().message();
      EXPECT_EQ(*r, c.out) << label;
    }
  }
  EXPECT_THAT(std::string(Resolve("x:y", "ID", true).status().message()),
              HasSubstr("slice:prefix:name"));
}

TEST(CgroupPath, V2Conversions) {
  EXPECT_EQ(SharesToWeight(0), 0u);  // unset
  EXPECT_EQ(SharesToWeight(2), 1u);
  EXPECT_EQ(SharesToWeight(1024), 100u);  // the defaults map to each other
  EXPECT_EQ(SharesToWeight(512), 59u);
  EXPECT_EQ(SharesToWeight(262144), 10000u);
  EXPECT_EQ(SharesToWeight(1000000), 10000u);
  EXPECT_EQ(BlkioToIoWeight(0), 0u);
  EXPECT_EQ(BlkioToIoWeight(10), 1u);
  EXPECT_EQ(BlkioToIoWeight(500), 4950u);
  EXPECT_EQ(BlkioToIoWeight(1000), 10000u);
}

// ---- the host's layout ----

constexpr char kHybridMountinfo[] =
    "22 1 0:20 / /sys rw - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "41 22 0:31 / /mnt/memory\\040again rw - cgroup cgroup rw,memory\n";
constexpr char kHybridProcCgroup[] =
    "9:name=systemd:/user.slice/s.scope\n"
    "8:pids:/\n"
    "4:memory:/process_api/abc\n"
    "2:cpuacct:/\n"
    "1:cpu:/\n"
    "0::/user.slice/s.scope\n";

TEST(CgroupHost, ParsesHybrid) {
  Host host = CG_GET(Host::Parse(kHybridMountinfo, kHybridProcCgroup));
  EXPECT_EQ(host.layout, Layout::kHybrid);
  ASSERT_EQ(host.hierarchies.size(), 6u);  // the second memory mount is the same hierarchy
  const Hierarchy* memory = host.Find("memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(memory->own, "/process_api/abc");
  EXPECT_EQ(host.Find("cpu")->mount, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(host.Find("cpuacct")->Key(), "cpuacct");
  EXPECT_EQ(host.Find("blkio"), nullptr);
  const Hierarchy* unified = host.UnifiedHierarchy();
  ASSERT_NE(unified, nullptr);
  EXPECT_EQ(unified->mount, "/sys/fs/cgroup/unified");
  EXPECT_EQ(unified->own, "/user.slice/s.scope");
  EXPECT_EQ(unified->Key(), "");
  EXPECT_EQ(host.hierarchies[4].Key(), "name=systemd");
}

TEST(CgroupHost, ParsesV1WithCoMountedControllersAndAContainerRoot) {
  // A container's view: the hierarchies' roots are its own subtree, and /proc/self/cgroup
  // names the full path, which is seen under the mount without the root.
  constexpr char mountinfo[] =
      "27 23 0:22 /docker/ctr /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
      "rw,cpuacct,cpu,clone_children\n"
      "28 23 0:23 /docker/ctr /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  constexpr char proc_cgroup[] = "3:cpu,cpuacct:/docker/ctr/sub\n2:memory:/docker/ctr\n";
  Host host = CG_GET(Host::Parse(mountinfo, proc_cgroup));
  EXPECT_EQ(host.layout, Layout::kV1);
  ASSERT_EQ(host.hierarchies.size(), 2u);
  EXPECT_EQ(host.Find("cpu"), host.Find("cpuacct"));
  EXPECT_EQ(host.Find("cpu")->Key(), "cpu,cpuacct");
  EXPECT_EQ(host.Find("cpu")->root, "/docker/ctr");
  EXPECT_EQ(host.Find("cpu")->own, "/sub");
  EXPECT_EQ(host.Find("memory")->own, "/");
  EXPECT_EQ(host.UnifiedHierarchy(), nullptr);
}

TEST(CgroupHost, ParsesV2) {
  constexpr char mountinfo[] =
      "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n";
  Host host = CG_GET(Host::Parse(mountinfo, "0::/user.slice/user-1000.slice/s.scope\n"));
  EXPECT_EQ(host.layout, Layout::kV2);
  ASSERT_EQ(host.hierarchies.size(), 1u);
  EXPECT_EQ(host.Find("memory"), &host.hierarchies[0]);
  EXPECT_EQ(host.Find("pids"), &host.hierarchies[0]);
  EXPECT_EQ(host.hierarchies[0].own, "/user.slice/user-1000.slice/s.scope");
}

TEST(CgroupHost, NoHierarchyIsAnError) {
  EXPECT_FALSE(Host::Parse("22 1 0:20 / /sys rw - sysfs sysfs rw\n", "").ok());
}

TEST(CgroupHost, DetectsThisHost) {
  Host host = CG_GET(Host::Detect());
  EXPECT_FALSE(host.hierarchies.empty());
  if (host.layout != Layout::kV2) {
    EXPECT_NE(host.Find("memory"), nullptr);
  }
}

// ---- fake trees in a temporary directory ----

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/moat_cgroup_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CgroupFakeTree, RelativePathsFollowOwnCgroupPerHierarchy) {
  TempDir tmp;
  Host host;
  host.layout = Layout::kHybrid;
  for (const char* name : {"cpu,cpuacct", "memory", "unified"}) {
    Hierarchy h;
    h.mount = tmp.path() + "/" + name;
    std::filesystem::create_directories(h.mount);
    if (std::string(name) == "unified") {
      h.unified = true;
    } else if (std::string(name) == "memory") {
      h.controllers = {"memory"};
      h.own = "/user/1";
    } else {
      h.controllers = {"cpu", "cpuacct"};
    }
    host.hierarchies.push_back(h);
  }
  CreateOptions opts{.cgroups_path = "ctr/../sub/ctr", .id = "ID", .rootless = false};
  std::unique_ptr<Cgroup> cg = CG_GET(Cgroup::Create(host, opts));
  EXPECT_THAT(cg->directories(),
              ElementsAre(tmp.path() + "/cpu,cpuacct/sub/ctr",
                          tmp.path() + "/memory/user/1/sub/ctr", tmp.path() + "/unified/sub/ctr"));
  for (const std::string& d : cg->directories()) EXPECT_TRUE(DirExists(d)) << d;
  EXPECT_EQ(cg->path(), "cpu,cpuacct:/sub/ctr\nmemory:/user/1/sub/ctr\n:/sub/ctr");
  EXPECT_EQ(*cg->Directory("cpuacct"), tmp.path() + "/cpu,cpuacct/sub/ctr");
  EXPECT_EQ(cg->Directory("pids"), std::nullopt);

  // Another process finds the same directories from the saved path.
  std::unique_ptr<Cgroup> loaded = CG_GET(Cgroup::Load(host, cg->path(), false));
  EXPECT_EQ(loaded->directories(), cg->directories());
  CG_ASSERT_OK(loaded->Destroy());
  for (const std::string& d : cg->directories()) EXPECT_FALSE(DirExists(d)) << d;
  // The ancestors stay, as runc leaves them.
  EXPECT_TRUE(DirExists(tmp.path() + "/memory/user/1/sub"));
  CG_ASSERT_OK(cg->Destroy());  // twice is fine

  // An absolute path is the same in every hierarchy, and saved as one path.
  opts.cgroups_path = "/abs/ctr";
  cg = CG_GET(Cgroup::Create(host, opts));
  EXPECT_EQ(cg->path(), "/abs/ctr");
  loaded = CG_GET(Cgroup::Load(host, "/abs/ctr", false));
  EXPECT_EQ(loaded->directories(), cg->directories());
  EXPECT_FALSE(Cgroup::Load(host, "/", false).ok());
  EXPECT_FALSE(Cgroup::Load(host, "/a/../b", false).ok());
  EXPECT_FALSE(Cgroup::Load(host, "memory", false).ok());
}

// A fake v2 tree: the root and an intermediate level offer controllers, the leaf has the files
// the kernel would show.
class FakeV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    WriteText(root_ + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids");
    WriteText(root_ + "/cgroup.subtree_control", "");
    std::filesystem::create_directories(root_ + "/user.slice/ctr");
    WriteText(root_ + "/user.slice/cgroup.controllers", "cpuset cpu io memory pids");
    WriteText(root_ + "/user.slice/cgroup.subtree_control", "cpu");
    leaf_ = root_ + "/user.slice/ctr";
    WriteText(leaf_ + "/cgroup.controllers", "cpuset cpu io memory pids");
    for (const char* f :
         {"memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus",
          "cpuset.mems", "pids.max", "io.weight", "memory.high", "cgroup.procs"}) {
      WriteText(leaf_ + "/" + f, "");
    }
  }

  std::unique_ptr<Cgroup> Make() {
    // Relative to the parent of runsc's own cgroup: runsc's own has a process (runsc).
    Host host = Host::Unified(root_, "/user.slice/runsc.scope");
    return CG_GET(Cgroup::Create(host, CreateOptions{.cgroups_path = "ctr", .rootless = false}));
  }

  TempDir tmp_;
  std::string root_, leaf_;
};

TEST_F(FakeV2, DelegatesControllersAndAppliesResources) {
  std::unique_ptr<Cgroup> cg = Make();
  EXPECT_THAT(cg->directories(), ElementsAre(leaf_));
  EXPECT_EQ(cg->path(), "/user.slice/ctr");
  // Each ancestor delegates what Apply uses and it has (not hugetlb), and what it does not
  // delegate yet.
  EXPECT_EQ(ReadText(root_ + "/cgroup.subtree_control"), "+cpu +cpuset +io +memory +pids");
  EXPECT_EQ(ReadText(root_ + "/user.slice/cgroup.subtree_control"), "+cpuset +io +memory +pids");

  spec::Resources r;
  r.memory.limit = 64 << 20;
  r.memory.swap = 96 << 20;  // memory+swap
  r.memory.reservation = 32 << 20;
  r.memory.swappiness = 10;
  r.cpu.shares = 1024;
  r.cpu.quota = 50000;
  r.cpu.period = 100000;
  r.cpu.cpus = "0";
  r.pids_limit = 5;
  r.block_io.weight = 500;
  r.unified["memory.high"] = "1000000";
  CG_ASSERT_OK(cg->Apply(r));
  EXPECT_EQ(ReadText(leaf_ + "/memory.max"), "67108864");
  EXPECT_EQ(ReadText(leaf_ + "/memory.swap.max"), "33554432");
  EXPECT_EQ(ReadText(leaf_ + "/memory.low"), "33554432");
  EXPECT_EQ(ReadText(leaf_ + "/cpu.weight"), "100");
  EXPECT_EQ(ReadText(leaf_ + "/cpu.max"), "50000 100000");
  EXPECT_EQ(ReadText(leaf_ + "/cpuset.cpus"), "0");
  EXPECT_EQ(ReadText(leaf_ + "/pids.max"), "5");
  EXPECT_EQ(ReadText(leaf_ + "/io.weight"), "4950");
  EXPECT_EQ(ReadText(leaf_ + "/memory.high"), "1000000");
  // No swappiness on v2: a warning, not an error.
  EXPECT_THAT(cg->warnings(), Contains(HasSubstr("memory.swappiness")));

  spec::Resources unlimited;
  unlimited.memory.limit = -1;
  unlimited.memory.swap = -1;
  unlimited.cpu.quota = -1;
  unlimited.pids_limit = -1;
  CG_ASSERT_OK(cg->Apply(unlimited));
  EXPECT_EQ(ReadText(leaf_ + "/memory.max"), "max");
  EXPECT_EQ(ReadText(leaf_ + "/memory.swap.max"), "max");
  EXPECT_EQ(ReadText(leaf_ + "/cpu.max"), "max");
  EXPECT_EQ(ReadText(leaf_ + "/pids.max"), "max");

  CG_ASSERT_OK(cg->AddProcess(1234));
  EXPECT_EQ(ReadText(leaf_ + "/cgroup.procs"), "1234");
}

TEST_F(FakeV2, RefusesWhatV2CannotDo) {
  std::unique_ptr<Cgroup> cg = Make();
  spec::Resources swap_below;
  swap_below.memory.limit = 100 << 20;
  swap_below.memory.swap = 50 << 20;
  EXPECT_THAT(std::string(cg->Apply(swap_below).message()), HasSubstr("below memory.limit"));

  spec::Resources rt;
  rt.cpu.realtime_runtime = 1000;
  EXPECT_THAT(std::string(cg->Apply(rt).message()), HasSubstr("real-time"));

  spec::Resources hugetlb;
  hugetlb.unified["hugetlb.2MB.max"] = "0";
  EXPECT_EQ(cg->Apply(hugetlb).message(),
            "linux.resources.unified: hugetlb.2MB.max: the hugetlb controller is not enabled in " +
                leaf_);
  spec::Resources bad_key;
  bad_key.unified["../escape"] = "1";
  EXPECT_FALSE(cg->Apply(bad_key).ok());

  // A controller the cgroup lacks: an error when a value for it is set, a warning otherwise.
  WriteText(leaf_ + "/cgroup.controllers", "cpu");
  spec::Resources pids;
  pids.pids_limit = 10;
  EXPECT_EQ(cg->Apply(pids).message(),
            "linux.resources.pids.limit is set, but the host has no pids cgroup controller for "
            "runsc");
  CG_ASSERT_OK(cg->Apply(spec::Resources{}));
  EXPECT_THAT(cg->warnings(), Contains(HasSubstr("no pids cgroup controller")));
}

TEST_F(FakeV2, ReadsStats) {
  std::unique_ptr<Cgroup> cg = Make();
  WriteText(leaf_ + "/cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\n"
            "throttled_usec 30\n");
  WriteText(leaf_ + "/memory.current", "4096\n");
  WriteText(leaf_ + "/memory.peak", "8192\n");
  WriteText(leaf_ + "/memory.max", "max\n");
  WriteText(leaf_ + "/memory.swap.current", "100\n");
  WriteText(leaf_ + "/memory.swap.max", "max\n");
  WriteText(leaf_ + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  WriteText(leaf_ + "/memory.stat", "anon 1000\nfile 2000\n");
  WriteText(leaf_ + "/pids.current", "3\n");
  WriteText(leaf_ + "/pids.max", "max\n");
  Stats s = CG_GET(cg->GetStats());
  ASSERT_TRUE(s.cpu && s.memory && s.pids);
  EXPECT_EQ(s.cpu->total_ns, 1500000u);
  EXPECT_EQ(s.cpu->user_ns, 1000000u);
  EXPECT_EQ(s.cpu->kernel_ns, 500000u);
  EXPECT_EQ(s.cpu->throttled_periods, 2u);
  EXPECT_EQ(s.cpu->throttled_ns, 30000u);
  EXPECT_EQ(s.memory->usage.usage, 4096u);
  EXPECT_EQ(s.memory->usage.max_usage, 8192u);
  EXPECT_EQ(s.memory->usage.limit, kUnlimited);
  EXPECT_EQ(s.memory->usage.failcnt, 3u);
  EXPECT_EQ(s.memory->swap.usage, 4196u);  // memory plus swap
  EXPECT_EQ(s.memory->swap.limit, kUnlimited);
  EXPECT_EQ(s.memory->cache, 2000u);
  EXPECT_EQ(s.memory->raw.at("anon"), 1000u);
  EXPECT_EQ(s.memory->oom_kills, 1u);
  EXPECT_EQ(s.pids->current, 3u);
  EXPECT_EQ(s.pids->limit, 0u);  // unlimited
}

// ---- this host's cgroups (root) ----

class RealCgroup : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "creating host cgroups needs root";
    host_ = CG_GET(Host::Detect());
  }
  void TearDown() override {
    for (auto& cg : made_) cg->Destroy().IgnoreError();
  }

  // A cgroup of this test alone, relative to the test's own cgroup.
  Cgroup& Make(const Host& host, const std::string& name) {
    CreateOptions opts{.cgroups_path = "moat-cgtest-" + std::to_string(getpid()) + "-" + name,
                       .rootless = false};
    made_.push_back(CG_GET(Cgroup::Create(host, opts)));
    return *made_.back();
  }
  Cgroup& Make(const std::string& name) { return Make(host_, name); }

  // The file of `controller` in `cg`.
  std::string File(const Cgroup& cg, const char* controller, const char* file) {
    std::optional<std::string> dir = cg.Directory(controller);
    if (!dir) throw std::runtime_error(std::string("no ") + controller + " hierarchy");
    return *dir + "/" + file;
  }
  bool V2() const { return host_.layout == Layout::kV2; }

  Host host_;
  std::vector<std::unique_ptr<Cgroup>> made_;
};

// A child that waits until the pipe's write end closes, then exits.
pid_t SpawnWaiter(int* release_fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[1]);
    char c;
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(p[0]);
  *release_fd = p[1];
  return pid;
}

TEST_F(RealCgroup, AppliesLimitsTheKernelReportsBack) {
  Cgroup& cg = Make("limits");
  for (const std::string& d : cg.directories()) EXPECT_TRUE(DirExists(d)) << d;
  std::string memory_dir = *cg.Directory("memory");
  bool swap_accounted = std::filesystem::exists(
      memory_dir + (V2() ? "/memory.swap.max" : "/memory.memsw.limit_in_bytes"));
  spec::Resources r;
  r.memory.limit = 64 << 20;
  r.memory.reservation = 32 << 20;
  if (swap_accounted) r.memory.swap = 128 << 20;  // memory+swap
  if (!V2()) {
    r.memory.swappiness = 10;
    r.memory.disable_oom_killer = true;
  }
  r.cpu.shares = 512;
  r.cpu.quota = 50000;
  r.cpu.period = 100000;
  r.pids_limit = 5;
  CG_ASSERT_OK(cg.Apply(r));
  if (V2()) {
    EXPECT_EQ(ReadText(File(cg, "memory", "memory.max")), "67108864");
    EXPECT_EQ(ReadText(File(cg, "memory", "memory.low")), "33554432");
    if (swap_accounted) {
      EXPECT_EQ(ReadText(File(cg, "memory", "memory.swap.max")), "67108864");
    }
    EXPECT_EQ(ReadText(File(cg, "cpu", "cpu.max")), "50000 100000");
    EXPECT_EQ(ReadText(File(cg, "cpu", "cpu.weight")), "59");
  } else {
    EXPECT_EQ(ReadText(File(cg, "memory", "memory.limit_in_bytes")), "67108864");
    EXPECT_EQ(ReadText(File(cg, "memory", "memory.soft_limit_in_bytes")), "33554432");
    if (swap_accounted) {
      EXPECT_EQ(ReadText(File(cg, "memory", "memory.memsw.limit_in_bytes")), "134217728");
    }
    EXPECT_EQ(ReadText(File(cg, "memory", "memory.swappiness")), "10");
    EXPECT_THAT(ReadText(File(cg, "memory", "memory.oom_control")),
                HasSubstr("oom_kill_disable 1"));
    EXPECT_EQ(ReadText(File(cg, "cpu", "cpu.shares")), "512");
    EXPECT_EQ(ReadText(File(cg, "cpu", "cpu.cfs_quota_us")), "50000");
    EXPECT_EQ(ReadText(File(cg, "cpu", "cpu.cfs_period_us")), "100000");
    // The cpuset cgroup inherited its parent's cpus and mems, or nothing could join it.
    EXPECT_NE(ReadText(File(cg, "cpuset", "cpuset.cpus")), "");
    EXPECT_NE(ReadText(File(cg, "cpuset", "cpuset.mems")), "");
  }
  EXPECT_EQ(ReadText(File(cg, "pids", "pids.max")), "5");
}

TEST_F(RealCgroup, MemoryAndSwapAreOrderedAndCheckedByTheKernel) {
  if (V2()) GTEST_SKIP() << "v1's memsw; v2 is covered by FakeV2";
  Cgroup& cg = Make("memsw");
  if (!std::filesystem::exists(*cg.Directory("memory") + "/memory.memsw.limit_in_bytes")) {
    GTEST_SKIP() << "this host does not account swap";
  }
  spec::Resources r;
  r.memory.limit = 64 << 20;
  r.memory.swap = 64 << 20;
  CG_ASSERT_OK(cg.Apply(r));
  // Raising both: memsw must go first, or the new memory limit would pass the old memsw.
  r.memory.limit = 256 << 20;
  r.memory.swap = 512 << 20;
  CG_ASSERT_OK(cg.Apply(r));
  EXPECT_EQ(ReadText(File(cg, "memory", "memory.limit_in_bytes")), "268435456");
  EXPECT_EQ(ReadText(File(cg, "memory", "memory.memsw.limit_in_bytes")), "536870912");
  // Lowering both: memory first.
  r.memory.limit = 32 << 20;
  r.memory.swap = 48 << 20;
  CG_ASSERT_OK(cg.Apply(r));
  EXPECT_EQ(ReadText(File(cg, "memory", "memory.memsw.limit_in_bytes")), "50331648");
  // memory+swap below memory: the kernel refuses it.
  r.memory.limit = 64 << 20;
  r.memory.swap = 16 << 20;
  EXPECT_EQ(cg.Apply(r).message(),
            File(cg, "memory", "memory.limit_in_bytes") + "=67108864: EINVAL (Invalid argument)");
  // Unlimited memory makes memory+swap unlimited too.
  spec::Resources unlimited;
  unlimited.memory.limit = -1;
  CG_ASSERT_OK(cg.Apply(unlimited));
  EXPECT_EQ(ReadText(File(cg, "memory", "memory.limit_in_bytes")),
            ReadText(File(cg, "memory", "memory.memsw.limit_in_bytes")));
}

TEST_F(RealCgroup, RootlessSkipsWhatItMayNotWrite) {
  // A child that is not root makes the cgroup "where the host allows": nowhere, on this host.
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(10);
    CreateOptions opts{.cgroups_path = "/moat-cgtest-rootless", .rootless = true};
    absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(host_, opts);
    if (!cg.ok()) _exit(11);
    if (!(*cg)->directories().empty() || (*cg)->warnings().empty()) _exit(12);
    spec::Resources r;
    r.memory.limit = 64 << 20;
    r.pids_limit = 5;
    if (!(*cg)->Apply(r).ok()) _exit(13);
    if (!(*cg)->AddProcess(getpid()).ok()) _exit(14);
    absl::StatusOr<Stats> s = (*cg)->GetStats();
    if (!s.ok() || s->memory || s->cpu) _exit(15);
    if ((*cg)->path() != "") _exit(16);
    absl::StatusOr<std::unique_ptr<Cgroup>> loaded = Cgroup::Load(host_, "", true);
    if (!loaded.ok() || !(*loaded)->Destroy().ok() || !(*cg)->Destroy().ok()) _exit(17);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (const Hierarchy& h : host_.hierarchies) {
    EXPECT_FALSE(DirExists(h.mount + "/moat-cgtest-rootless")) << h.mount;
  }
}

TEST_F(RealCgroup, AKernelRefusalNamesTheFileAndValue) {
  Cgroup& cg = Make("refused");
  spec::Resources r;
  r.cpu.quota = 100;  // below the kernel's 1ms minimum
  absl::Status st = cg.Apply(r);
  std::string file = V2() ? File(cg, "cpu", "cpu.max") : File(cg, "cpu", "cpu.cfs_quota_us");
  EXPECT_EQ(st.message(), file + "=100: EINVAL (Invalid argument)");
  EXPECT_TRUE(absl::IsInvalidArgument(st));
}

TEST_F(RealCgroup, UnifiedIsRefusedOnV1) {
  if (V2()) GTEST_SKIP() << "this host is cgroup v2";
  Cgroup& cg = Make("unified");
  spec::Resources r;
  r.unified["memory.high"] = "1000000";
  EXPECT_THAT(std::string(cg.Apply(r).message()),
              HasSubstr("linux.resources.unified sets cgroup v2 files"));
}

TEST_F(RealCgroup, JoinsAChildInEveryHierarchy) {
  Cgroup& cg = Make("join");
  int release = -1;
  pid_t child = SpawnWaiter(&release);
  ASSERT_GT(child, 0);
  CG_ASSERT_OK(cg.AddProcess(child));
  for (const std::string& d : cg.directories()) {
    std::string procs = ReadText(d + "/cgroup.procs");
    EXPECT_THAT(procs, HasSubstr(std::to_string(child))) << d;
    if (std::filesystem::exists(d + "/tasks")) {  // v1
      EXPECT_THAT(ReadText(d + "/tasks"), HasSubstr(std::to_string(child))) << d;
    }
  }
  // The kernel names the cgroup in the child's /proc/<pid>/cgroup.
  std::string leaf = cg.directories()[0].substr(cg.directories()[0].rfind('/'));
  EXPECT_THAT(ReadText("/proc/" + std::to_string(child) + "/cgroup"), HasSubstr(leaf));
  close(release);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  CG_ASSERT_OK(cg.Destroy());
}

TEST_F(RealCgroup, DestroyRemovesEveryDirectoryAndMayRunTwice) {
  Cgroup& cg = Make("destroy");
  std::vector<std::string> dirs = cg.directories();
  ASSERT_FALSE(dirs.empty());
  if (!V2()) {
    // One directory per hierarchy on this host.
    EXPECT_EQ(dirs.size(), host_.hierarchies.size());
  }
  // A cgroup the container made below its own goes too, first.
  for (const std::string& d : dirs) ASSERT_EQ(mkdir((d + "/nested").c_str(), 0755), 0) << d;
  // A fresh process finds it from the saved path.
  std::unique_ptr<Cgroup> loaded = CG_GET(Cgroup::Load(host_, cg.path(), false));
  EXPECT_EQ(loaded->directories(), dirs);
  CG_ASSERT_OK(loaded->Destroy());
  for (const std::string& d : dirs) EXPECT_FALSE(DirExists(d)) << d;
  CG_ASSERT_OK(loaded->Destroy());
  CG_ASSERT_OK(cg.Destroy());
}

TEST_F(RealCgroup, PidsLimitStopsFork) {
  Cgroup& cg = Make("pids");
  spec::Resources r;
  r.pids_limit = 5;
  CG_ASSERT_OK(cg.Apply(r));
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    // Waits to be in the cgroup, then forks 10 children that wait for it, and exits with the
    // number of forks the kernel refused. The limit of 5 holds this process and 4 children.
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(100);
    int hold[2];
    if (pipe(hold) != 0) _exit(101);
    std::vector<pid_t> kids;
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
      pid_t k = fork();
      if (k == 0) {
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
      }
      if (k > 0) {
        kids.push_back(k);
      } else if (errno == EAGAIN) {
        ++refused;
      } else {
        _exit(102);
      }
    }
    close(hold[1]);
    for (pid_t k : kids) waitpid(k, nullptr, 0);
    _exit(refused);
  }
  ASSERT_GT(child, 0);
  close(go[0]);
  CG_ASSERT_OK(cg.AddProcess(child));
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 6);
  Stats s = CG_GET(cg.GetStats());
  ASSERT_TRUE(s.pids.has_value());
  EXPECT_EQ(s.pids->limit, 5u);
  EXPECT_EQ(s.pids->current, 0u);
}

// Spins on the CPU for `ms` of its own CPU time.
void Spin(int ms) {
  timespec start, now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  volatile uint64_t x = 0;
  do {
    for (int i = 0; i < 100000; ++i) x = x + i;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

// Runs a child that spins for 200ms inside `cg`, and reaps it.
void RunBusyChild(Cgroup& cg) {
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    // Memory touched in the cgroup is charged to it.
    std::vector<char> touched(8 << 20, 1);
    Spin(200);
    _exit(touched[4096] == 1 ? 0 : 2);
  }
  ASSERT_GT(child, 0);
  close(go[0]);
  CG_ASSERT_OK(cg.AddProcess(child));
  ASSERT_EQ(write(go[1], "x", 1), 1);
  close(go[1]);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(RealCgroup, StatsCountABusyChild) {
  Cgroup& cg = Make("stats");
  spec::Resources r;
  r.memory.limit = 256 << 20;
  CG_ASSERT_OK(cg.Apply(r));
  RunBusyChild(cg);
  Stats s = CG_GET(cg.GetStats());
  ASSERT_TRUE(s.cpu.has_value());
  EXPECT_GE(s.cpu->total_ns, 100000000u);  // at least 100ms of the 200ms
  EXPECT_GT(s.cpu->user_ns, 0u);
  if (!V2()) {
    ASSERT_FALSE(s.cpu->percpu_ns.empty());
    uint64_t sum = 0;
    for (uint64_t v : s.cpu->percpu_ns) sum += v;
    EXPECT_EQ(sum, s.cpu->total_ns);
  }
  ASSERT_TRUE(s.memory.has_value());
  EXPECT_EQ(s.memory->usage.limit, 256u << 20);
  EXPECT_GT(s.memory->usage.max_usage, 0u);
  EXPECT_FALSE(s.memory->raw.empty());
  EXPECT_EQ(s.memory->oom_kills, 0u);
  ASSERT_TRUE(s.pids.has_value());
  EXPECT_EQ(s.pids->limit, 0u);
}

// On a hybrid host, the unified hierarchy is a real cgroup2 whose controllers are bound to v1:
// it runs the v2 code against the kernel without touching a controller.
TEST_F(RealCgroup, V2CodeOnTheUnifiedHierarchy) {
  const Hierarchy* unified = host_.UnifiedHierarchy();
  if (host_.layout != Layout::kHybrid || unified == nullptr) {
    GTEST_SKIP() << "needs a hybrid host (layout " << LayoutName(host_.layout) << ")";
  }
  Host v2 = Host::Unified(unified->mount, unified->own);
  Cgroup& cg = Make(v2, "v2");
  ASSERT_EQ(cg.directories().size(), 1u);
  EXPECT_TRUE(DirExists(cg.directories()[0]));
  std::string controllers = ReadText(cg.directories()[0] + "/cgroup.controllers");
  if (controllers.find("memory") != std::string::npos) {
    GTEST_SKIP() << "the unified hierarchy has the memory controller here";
  }
  spec::Resources r;
  r.memory.limit = 64 << 20;
  EXPECT_EQ(cg.Apply(r).message(),
            "linux.resources.memory is set, but the host has no memory cgroup controller for "
            "runsc");
  CG_ASSERT_OK(cg.Apply(spec::Resources{}));
  EXPECT_THAT(cg.warnings(), Contains(HasSubstr("no memory cgroup controller")));

  RunBusyChild(cg);
  Stats s = CG_GET(cg.GetStats());
  ASSERT_TRUE(s.cpu.has_value());
  EXPECT_GE(s.cpu->total_ns, 100000000u);
  EXPECT_FALSE(s.memory.has_value());
  CG_ASSERT_OK(cg.Destroy());
  EXPECT_FALSE(DirExists(cg.directories()[0]));
  EXPECT_FALSE(cg.GetStats().ok());
}

}  // namespace
}  // namespace moat::runsc::cgroup
