// Tests of runsc/spec/spec.h: LoadBundle on real directories, ParseProcess (process.json), and the
// JSON runsc writes (default spec, state, record, list, ps, features, events, wait), read back
// with nlohmann_json. spec_test.cc has config.json parsing.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "runsc/spec/spec.h"

namespace moat::runsc::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

uint64_t Bit(int cap) { return uint64_t{1} << cap; }

// A scratch bundle directory, removed with its contents at the end.
class TempBundle {
 public:
  TempBundle() {
    char tmpl[] = "/tmp/moat_spec_test_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TempBundle() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  const std::string& dir() const { return dir_; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ + "/" + name) << text;
  }
  void Mkdir(const std::string& name) const {
    ASSERT_EQ(mkdir((dir_ + "/" + name).c_str(), 0755), 0);
  }

 private:
  std::string dir_;
};

constexpr char kSmallConfig[] =
    R"({"ociVersion": "1.1.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}})";

TEST(SpecLoadBundle, RelativeRootfs) {
  TempBundle b;
  b.Write("config.json", kSmallConfig);
  b.Mkdir("rootfs");
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->root.path, "rootfs");
  EXPECT_EQ(spec->root.abs_path, b.dir() + "/rootfs");
}

TEST(SpecLoadBundle, AbsoluteRootfs) {
  TempBundle b, other;
  other.Mkdir("elsewhere");
  b.Write("config.json", R"({"process": {"args": ["sh"], "cwd": "/"}, "root": {"path": ")" +
                             other.dir() + R"(/elsewhere"}})");
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->root.abs_path, other.dir() + "/elsewhere");
}

TEST(SpecLoadBundle, RelativeBundleIsMadeAbsolute) {
  TempBundle b;
  b.Write("config.json", kSmallConfig);
  b.Mkdir("rootfs");
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir("/tmp"), 0);
  absl::StatusOr<Spec> spec = LoadBundle(b.dir().substr(strlen("/tmp/")));
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->root.abs_path, b.dir() + "/rootfs");
}

TEST(SpecLoadBundle, MissingConfig) {
  TempBundle b;
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(spec.status().message(),
            "open config.json in " + b.dir() + ": No such file or directory");
}

TEST(SpecLoadBundle, ConfigIsAFifo) {
  TempBundle b;
  ASSERT_EQ(mkfifo((b.dir() + "/config.json").c_str(), 0644), 0);
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());  // must not block
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "open config.json in " + b.dir() + ": not a regular file");
}

TEST(SpecLoadBundle, MissingRootfs) {
  TempBundle b;
  b.Write("config.json", kSmallConfig);
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "root.path: rootfs " + b.dir() + "/rootfs does not exist");
}

TEST(SpecLoadBundle, RootfsIsAFile) {
  TempBundle b;
  b.Write("config.json", kSmallConfig);
  b.Write("rootfs", "");
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "root.path: rootfs " + b.dir() + "/rootfs is not a directory");
}

TEST(SpecLoadBundle, NeedsProcessAndRoot) {
  TempBundle b;
  b.Mkdir("rootfs");
  b.Write("config.json", R"({"root": {"path": "rootfs"}})");
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "process: missing required field");
  b.Write("config.json", R"({"process": {"args": ["sh"], "cwd": "/"}})");
  spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "root.path: missing required field");
}

TEST(SpecLoadBundle, ParseErrorsPassThrough) {
  TempBundle b;
  b.Mkdir("rootfs");
  b.Write("config.json", "{\n\"process\": {\"args\": []}\n}");
  absl::StatusOr<Spec> spec = LoadBundle(b.dir());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "process.args: must be a non-empty array of strings");
}

TEST(SpecParseProcess, Valid) {
  absl::StatusOr<Process> p = ParseProcess(
      R"({"terminal": false, "args": ["/bin/ls", "-l"], "env": ["A=B"], "cwd": "/tmp",
          "user": {"uid": 5, "gid": 6}, "capabilities": {"bounding": ["CAP_KILL"]},
          "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->args, ElementsAre("/bin/ls", "-l"));
  EXPECT_EQ(p->cwd, "/tmp");
  EXPECT_EQ(p->user.uid, 5u);
  EXPECT_EQ(p->capabilities->bounding, Bit(5));
  EXPECT_EQ(p->rlimits[0].hard, 20u);
}

TEST(SpecParseProcess, ErrorsStartAtTheProcessObject) {
  EXPECT_EQ(ParseProcess(R"({"cwd": "/"})").status().message(),
            "args: must be a non-empty array of strings");
  EXPECT_EQ(ParseProcess(R"({"args": ["x"], "cwd": "rel"})").status().message(),
            "cwd: must be an absolute path");
  EXPECT_EQ(
      ParseProcess(R"({"args": ["x"], "cwd": "/", "user": {"uid": "root"}})").status().message(),
      "user.uid: expected an unsigned 32-bit integer, got string");
  EXPECT_EQ(ParseProcess(R"({"args": ["x"], "cwd": "/",
                             "rlimits": [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]})")
                .status()
                .message(),
            R"(rlimits[0].type: unknown rlimit "RLIMIT_FOO")");
  EXPECT_EQ(ParseProcess("[]").status().message(), "process.json: expected an object, got array");
  EXPECT_THAT(std::string(ParseProcess("{").status().message()),
              StartsWith("process.json: parse error at line 1, column 2: "));
}

TEST(SpecDefault, RoundTrips) {
  std::string text = DefaultSpecJson(false);
  EXPECT_THAT(text, StartsWith("{\n\t\"ociVersion\": \"1.1.0\",\n\t\"process\": {"));
  absl::StatusOr<Spec> spec = ParseSpec(text);
  ASSERT_TRUE(spec.ok()) << spec.status() << "\n" << text;
  const Process& p = *spec->process;
  EXPECT_TRUE(p.terminal);
  EXPECT_THAT(p.args, ElementsAre("sh"));
  EXPECT_THAT(p.env,
              ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "TERM=xterm"));
  uint64_t caps = Bit(29) | Bit(5) | Bit(10);  // AUDIT_WRITE, KILL, NET_BIND_SERVICE
  EXPECT_EQ(p.capabilities->bounding, caps);
  EXPECT_EQ(p.capabilities->effective, caps);
  EXPECT_EQ(p.capabilities->permitted, caps);
  ASSERT_EQ(p.rlimits.size(), 1u);
  EXPECT_EQ(p.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(p.rlimits[0].soft, 1024u);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(spec->root.path, "rootfs");
  EXPECT_TRUE(spec->root.readonly);
  EXPECT_EQ(spec->hostname, "moat");
  std::vector<std::string> dests;
  for (const Mount& m : spec->mounts) dests.push_back(m.destination);
  EXPECT_THAT(dests, ElementsAre("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                                 "/sys/fs/cgroup"));
  EXPECT_EQ(spec->mounts[2].options.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  std::vector<std::string> ns;
  for (const Namespace& n : spec->linux.namespaces) ns.push_back(n.type);
  EXPECT_THAT(ns, ElementsAre("pid", "network", "ipc", "uts", "mount", "cgroup"));
  ASSERT_TRUE(spec->linux.resources.has_value());
  ASSERT_EQ(spec->linux.resources->devices.size(), 1u);
  EXPECT_FALSE(spec->linux.resources->devices[0].allow);
  EXPECT_EQ(spec->linux.resources->devices[0].access, "rwm");
  EXPECT_EQ(spec->linux.masked_paths.size(), 11u);
  EXPECT_EQ(spec->linux.readonly_paths.size(), 5u);
  EXPECT_TRUE(spec->linux.uid_mappings.empty());
}

TEST(SpecDefault, RootlessRoundTrips) {
  absl::StatusOr<Spec> spec = ParseSpec(DefaultSpecJson(true));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Linux& lx = spec->linux;
  ASSERT_NE(lx.FindNamespace("user"), nullptr);
  EXPECT_EQ(lx.FindNamespace("network"), nullptr);
  ASSERT_EQ(lx.uid_mappings.size(), 1u);
  EXPECT_EQ(lx.uid_mappings[0].container_id, 0u);
  EXPECT_EQ(lx.uid_mappings[0].host_id, geteuid());
  EXPECT_EQ(lx.uid_mappings[0].size, 1u);
  ASSERT_EQ(lx.gid_mappings.size(), 1u);
  EXPECT_EQ(lx.gid_mappings[0].host_id, getegid());
  EXPECT_FALSE(lx.resources.has_value());
  const Mount& sys = spec->mounts[5];
  EXPECT_EQ(sys.destination, "/sys");
  EXPECT_EQ(sys.type, "none");
  EXPECT_EQ(sys.source, "/sys");
  EXPECT_TRUE(sys.options.rbind);
  EXPECT_TRUE(sys.options.readonly);
  EXPECT_EQ(spec->mounts[2].options.data, "newinstance,ptmxmode=0666,mode=0620");
}

State SampleState() {
  State s;
  s.id = "c1";
  s.status = "running";
  s.pid = 4242;
  s.bundle = "/b";
  s.rootfs = "/b/rootfs";
  s.created = "2024-05-01T10:20:30.123456789Z";
  s.owner = "root";
  return s;
}

TEST(SpecOutput, StateJson) {
  State s = SampleState();
  EXPECT_EQ(StateJson(s), R"({
  "ociVersion": "1.1.0",
  "id": "c1",
  "pid": 4242,
  "status": "running",
  "bundle": "/b",
  "rootfs": "/b/rootfs",
  "created": "2024-05-01T10:20:30.123456789Z",
  "owner": "root"
})");
  s.annotations["k"] = "v";
  s.pid = 0;
  nlohmann::json j = nlohmann::json::parse(StateJson(s));
  EXPECT_EQ(j["annotations"]["k"], "v");
  EXPECT_EQ(j["pid"], 0);  // runc prints it even when there is no process
}

TEST(SpecOutput, Rfc3339Nano) {
  EXPECT_EQ(Rfc3339Nano({1714558830, 123456789}), "2024-05-01T10:20:30.123456789Z");
  EXPECT_EQ(Rfc3339Nano({1714558830, 120000000}), "2024-05-01T10:20:30.12Z");
  EXPECT_EQ(Rfc3339Nano({1714558830, 0}), "2024-05-01T10:20:30Z");
  EXPECT_EQ(Rfc3339Nano({0, 1}), "1970-01-01T00:00:00.000000001Z");
}

TEST(SpecOutput, RecordRoundTrips) {
  Record r;
  r.state = SampleState();
  r.state.annotations = {{"a", "b"}, {"c", "d"}};
  r.boot_start_time = 123456789012;
  r.config_json_path = "/b/config.json";
  r.detached = true;
  r.extra = {{"console-socket", "/tmp/sock"}};
  absl::StatusOr<Record> back = ParseRecord(RecordJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state.oci_version, r.state.oci_version);
  EXPECT_EQ(back->state.id, "c1");
  EXPECT_EQ(back->state.status, "running");
  EXPECT_EQ(back->state.pid, 4242);
  EXPECT_EQ(back->state.bundle, "/b");
  EXPECT_EQ(back->state.rootfs, "/b/rootfs");
  EXPECT_EQ(back->state.created, r.state.created);
  EXPECT_EQ(back->state.owner, "root");
  EXPECT_EQ(back->state.annotations, r.state.annotations);
  EXPECT_EQ(back->boot_start_time, 123456789012);
  EXPECT_EQ(back->config_json_path, "/b/config.json");
  EXPECT_TRUE(back->detached);
  EXPECT_EQ(back->extra, r.extra);
}

TEST(SpecOutput, ParseRecordErrors) {
  EXPECT_EQ(ParseRecord("{}").status().message(), "state: missing required field");
  EXPECT_EQ(ParseRecord(R"({"state": {"ociVersion": "1", "id": "x", "status": "created",
                                      "pid": "12"}})")
                .status()
                .message(),
            "state.pid: expected a 32-bit integer, got string");
  EXPECT_EQ(
      ParseRecord(R"({"state": {"ociVersion": "1", "status": "created"}})").status().message(),
      "state.id: missing required field");
  EXPECT_EQ(ParseRecord(R"({"state": {"ociVersion": "1", "id": "x", "status": "created"},
                           "bootStartTime": "1"})")
                .status()
                .message(),
            "bootStartTime: expected a 64-bit integer, got string");
  EXPECT_THAT(std::string(ParseRecord("{\"state\"").status().message()),
              StartsWith("container record: parse error at line 1, column 9: "));
}

TEST(SpecOutput, ListJson) {
  EXPECT_EQ(ListJson({}), "null");
  State a = SampleState(), b = SampleState();
  b.id = "c2";
  b.annotations["x"] = "y";
  nlohmann::json j = nlohmann::json::parse(ListJson({a, b}));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["id"], "c1");
  EXPECT_EQ(j[0]["pid"], 4242);
  EXPECT_EQ(j[0]["rootfs"], "/b/rootfs");
  EXPECT_FALSE(j[0].contains("annotations"));
  EXPECT_EQ(j[1]["annotations"]["x"], "y");
  for (const char* key :
       {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}) {
    EXPECT_TRUE(j[1].contains(key)) << key;
  }
}

TEST(SpecOutput, PidsJson) {
  EXPECT_EQ(PidsJson({}), "[]");
  EXPECT_EQ(PidsJson({1, 22, 333}), "[1,22,333]");
}

TEST(SpecOutput, WaitJson) { EXPECT_EQ(WaitJson("c1", 137), R"({"id":"c1","exitStatus":137})"); }

TEST(SpecOutput, FeaturesJson) {
  std::string text = FeaturesJson();
  EXPECT_THAT(text, StartsWith("{\n    \"ociVersionMin\": \"1.0.0\",\n"));
  nlohmann::json f = nlohmann::json::parse(text);
  EXPECT_EQ(f["ociVersionMax"], kOciVersion);
  EXPECT_EQ(f["hooks"], nlohmann::json({"prestart", "createRuntime", "createContainer",
                                        "startContainer", "poststart", "poststop"}));
  std::vector<std::string> opts = f["mountOptions"];
  EXPECT_TRUE(std::is_sorted(opts.begin(), opts.end()));
  for (const char* o : {"ro", "rw", "nosuid", "bind", "rbind", "rprivate", "strictatime",
                        "tmpcopyup", "defaults", "rro"}) {
    EXPECT_NE(std::find(opts.begin(), opts.end(), o), opts.end()) << o;
  }
  const nlohmann::json& lx = f["linux"];
  EXPECT_EQ(lx["namespaces"].size(), 8u);
  EXPECT_EQ(lx["capabilities"].size(), 41u);
  EXPECT_EQ(lx["capabilities"][0], "CAP_CHOWN");
  EXPECT_EQ(lx["capabilities"][40], "CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(lx["cgroup"]["v1"], true);
  EXPECT_EQ(lx["cgroup"]["v2"], true);
  EXPECT_EQ(lx["cgroup"]["systemd"], false);
  EXPECT_EQ(lx["cgroup"]["systemdUser"], false);
  EXPECT_EQ(lx["seccomp"]["enabled"], true);
  EXPECT_EQ(lx["seccomp"]["actions"].size(), 9u);
  EXPECT_EQ(lx["seccomp"]["operators"].size(), 7u);
  EXPECT_EQ(lx["seccomp"]["archs"],
            nlohmann::json({"SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"}));
  EXPECT_EQ(lx["apparmor"]["enabled"], false);
  EXPECT_EQ(lx["selinux"]["enabled"], false);
  EXPECT_EQ(f["annotations"]["dev.moat.version"], kMoatVersion);

  // Every option the features document names is one the parser decodes, not passes as data.
  for (const std::string& o : opts) {
    EXPECT_EQ(DecodeMountOptions({o}).data, "") << o;
  }
}

TEST(SpecOutput, EventJsonStats) {
  Stats s;
  s.cpu_total_ns = 1000;
  s.cpu_user_ns = 600;
  s.cpu_kernel_ns = 400;
  s.percpu_ns = {700, 300};
  s.memory_usage = 4096;
  s.memory_max_usage = 8192;
  s.memory_limit = 1 << 20;
  s.pids_current = 3;
  s.pids_limit = 100;
  s.memory_raw = {{"cache", 12}, {"rss", 34}};
  std::string text = EventJson("stats", "c1", &s);
  EXPECT_EQ(text.find('\n'), std::string::npos);  // one line per event
  nlohmann::json e = nlohmann::json::parse(text);
  EXPECT_EQ(e["type"], "stats");
  EXPECT_EQ(e["id"], "c1");
  const nlohmann::json& d = e["data"];
  EXPECT_EQ(d["cpu"]["usage"]["total"], 1000);
  EXPECT_EQ(d["cpu"]["usage"]["percpu"], nlohmann::json({700, 300}));
  EXPECT_EQ(d["cpu"]["usage"]["kernel"], 400);
  EXPECT_EQ(d["cpu"]["usage"]["user"], 600);
  EXPECT_TRUE(d["cpu"]["throttling"].is_object());
  EXPECT_EQ(d["memory"]["usage"]["usage"], 4096);
  EXPECT_EQ(d["memory"]["usage"]["max"], 8192);
  EXPECT_EQ(d["memory"]["usage"]["limit"], 1 << 20);
  EXPECT_EQ(d["memory"]["usage"]["failcnt"], 0);
  EXPECT_EQ(d["memory"]["swap"]["limit"], 0);
  EXPECT_FALSE(d["memory"]["swap"].contains("usage"));  // omitted when zero, as runc
  EXPECT_EQ(d["memory"]["raw"]["rss"], 34);
  EXPECT_EQ(d["pids"]["current"], 3);
  EXPECT_EQ(d["pids"]["limit"], 100);
  EXPECT_TRUE(d["blkio"].is_object());
  EXPECT_TRUE(d["hugetlb"].is_object());
}

TEST(SpecOutput, EventJsonWithoutData) {
  EXPECT_EQ(EventJson("oom", "c1", nullptr), R"({"type":"oom","id":"c1"})");
  Stats zero;
  nlohmann::json e = nlohmann::json::parse(EventJson("stats", "c1", &zero));
  EXPECT_FALSE(e["data"]["cpu"]["usage"].contains("total"));
  EXPECT_FALSE(e["data"]["memory"].contains("raw"));
  EXPECT_TRUE(e["data"]["pids"].empty());
}

}  // namespace
}  // namespace moat::runsc::spec
