// The host's cgroup layout, cgroupsPath placement, creation, joining and removal. Resources are
// applied in cgroup_apply.cc and statistics read in cgroup_stats.cc.
#include "runsc/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <set>
#include <thread>

#include "base/file_descriptor.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "runsc/cgroup_internal.h"

namespace moat::runsc::cgroup {

const char* LayoutName(Layout l) {
  switch (l) {
    case Layout::kV1: return "v1";
    case Layout::kHybrid: return "hybrid";
    case Layout::kV2: return "v2";
  }
  return "?";
}

std::string Hierarchy::Key() const { return internal::JoinStrings(controllers, ","); }

bool Hierarchy::Has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

namespace {

// The v1 controllers the kernel knows; other super options of a cgroup mount (rw, xattr,
// clone_children, release_agent=...) are not controllers.
const std::set<std::string, std::less<>> kV1Controllers = {
    "blkio",  "cpu",  "cpuacct", "cpuset",   "debug",      "devices", "freezer", "hugetlb",
    "memory", "misc", "net_cls", "net_prio", "perf_event", "pids",    "rdma"};

// The controllers Apply uses on v2, which the ancestors must delegate.
constexpr const char* kV2Wanted[] = {"cpu", "cpuset", "io", "memory", "pids"};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        s.substr(i + 1, 3).find_first_not_of("01234567") == std::string_view::npos) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> SortedControllers(std::string_view list) {
  std::vector<std::string> v;
  for (std::string_view c : internal::Split(list, ',', true)) v.emplace_back(c);
  std::sort(v.begin(), v.end());
  return v;
}

// `path` (a cgroup as /proc/self/cgroup names it) as seen under a mount of `root`.
std::string UnderRoot(const std::string& path, const std::string& root) {
  if (root == "/" || root.empty()) return path;
  if (path == root) return "/";
  if (std::string_view(path).starts_with(root) && path[root.size()] == '/')
    return path.substr(root.size());
  return path;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string::npos) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& base, std::string_view rel) {
  if (rel.empty()) return base;
  if (base == "/") return "/" + std::string(rel);
  return base + "/" + std::string(rel);
}

bool IsPermission(int err) { return err == EACCES || err == EPERM || err == EROFS; }

// ErrnoStatus, except that every refusal of permission (EROFS too) is PermissionDenied, which is
// what a rootless caller skips.
absl::Status FsError(std::string_view what, int err = errno) {
  absl::Status st = ErrnoStatus(what, err);
  if (IsPermission(err)) return absl::PermissionDeniedError(st.message());
  return st;
}

}  // namespace

// ---- the host's layout ----

absl::StatusOr<Host> Host::Parse(std::string_view mountinfo, std::string_view proc_cgroup) {
  Host host;
  bool v1_controllers = false, unified = false;
  for (std::string_view line : internal::Split(mountinfo, '\n', true)) {
    std::vector<std::string_view> f = internal::Split(line, ' ');
    auto sep = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
    if (f.size() < 7 || sep == f.end() || f.end() - sep < 4) {
      return absl::InvalidArgumentError(
          internal::Cat("/proc/self/mountinfo: malformed line \"", line, "\""));
    }
    std::string_view fstype = sep[1];
    Hierarchy h;
    h.root = Unescape(f[3]);
    h.mount = Unescape(f[4]);
    if (fstype == "cgroup2") {
      if (unified) continue;  // a second mount of the one unified hierarchy
      h.unified = true;
      unified = true;
    } else if (fstype == "cgroup") {
      for (std::string_view opt : internal::Split(sep[3], ',')) {
        if (kV1Controllers.count(opt) || std::string_view(opt).starts_with("name=")) {
          h.controllers.emplace_back(opt);
          if (kV1Controllers.count(opt)) v1_controllers = true;
        }
      }
      if (h.controllers.empty()) continue;
      std::sort(h.controllers.begin(), h.controllers.end());
      bool seen = std::any_of(host.hierarchies.begin(), host.hierarchies.end(),
                              [&](const Hierarchy& o) { return o.controllers == h.controllers; });
      if (seen) continue;  // a bind mount of a hierarchy already listed
    } else {
      continue;
    }
    host.hierarchies.push_back(std::move(h));
  }
  if (host.hierarchies.empty()) {
    return absl::FailedPreconditionError("no cgroup hierarchy is mounted (/proc/self/mountinfo)");
  }
  host.layout = v1_controllers ? (unified ? Layout::kHybrid : Layout::kV1) : Layout::kV2;

  // /proc/self/cgroup: "hierarchy-id:controller-list:path"; the unified one is "0::path".
  for (std::string_view line : internal::Split(proc_cgroup, '\n', true)) {
    std::vector<std::string_view> f = internal::Split(line, ':', false, 3);
    if (f.size() != 3) continue;
    std::vector<std::string> controllers = SortedControllers(f[1]);
    for (Hierarchy& h : host.hierarchies) {
      bool match = h.unified ? (f[0] == "0" && f[1].empty()) : h.controllers == controllers;
      if (match) h.own = UnderRoot(std::string(f[2]), h.root);
    }
  }
  return host;
}

absl::StatusOr<Host> Host::Detect() {
  ASSIGN_OR_RETURN(std::string mountinfo, internal::ReadFile("/proc/self/mountinfo"));
  ASSIGN_OR_RETURN(std::string proc_cgroup, internal::ReadFile("/proc/self/cgroup"));
  return Parse(mountinfo, proc_cgroup);
}

Host Host::Unified(std::string mount, std::string own) {
  Host host;
  host.layout = Layout::kV2;
  Hierarchy h;
  h.mount = std::move(mount);
  h.unified = true;
  h.own = std::move(own);
  host.hierarchies.push_back(std::move(h));
  return host;
}

const Hierarchy* Host::Find(std::string_view controller) const {
  for (const Hierarchy& h : hierarchies) {
    if (layout == Layout::kV2 ? h.unified : (!h.unified && h.Has(controller))) return &h;
  }
  return nullptr;
}

const Hierarchy* Host::UnifiedHierarchy() const {
  for (const Hierarchy& h : hierarchies) {
    if (h.unified) return &h;
  }
  return nullptr;
}

// ---- cgroupsPath ----

std::string CleanPath(std::string_view path) {
  if (path.empty()) return "";
  bool abs = path[0] == '/';
  std::vector<std::string_view> parts;
  for (std::string_view c : internal::Split(path, '/', true)) {
    if (c == ".") continue;
    if (c == "..") {
      // Above the root is the root: a relative path is cleaned as if it were under "/", so
      // that it cannot climb out of runsc's own cgroup (runc's CleanPath).
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string joined = internal::JoinStrings(parts, "/");
  return abs ? "/" + joined : joined;
}

absl::StatusOr<std::string> ExpandSlice(std::string_view slice) {
  constexpr std::string_view kSuffix = ".slice";
  auto invalid = [&] {
    return absl::InvalidArgumentError(internal::Cat("invalid systemd slice name \"", slice, "\""));
  };
  if (slice.size() <= kSuffix.size() || !std::string_view(slice).ends_with(kSuffix) ||
      slice.find('/') != std::string_view::npos) {
    return invalid();
  }
  std::string_view name = slice.substr(0, slice.size() - kSuffix.size());
  if (name == "-") return std::string("/");
  // "a-b-c.slice" lives in "a-b.slice", which lives in "a.slice".
  std::string path, prefix;
  for (std::string_view component : internal::Split(name, '-')) {
    if (component.empty()) return invalid();  // "a--b.slice", "-a.slice", "a-.slice"
    path += internal::Cat("/", prefix, component, kSuffix);
    prefix += internal::Cat(component, "-");
  }
  return path;
}

absl::StatusOr<std::string> Resolve(std::string_view cgroups_path, std::string_view id,
                                    bool systemd) {
  std::string path;
  if (systemd) {
    std::string spec =
        cgroups_path.empty() ? internal::Cat(":runsc:", id) : std::string(cgroups_path);
    std::vector<std::string_view> parts = internal::Split(spec, ':');
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(internal::Cat(
          "linux.cgroupsPath \"", spec, "\": --systemd-cgroup expects \"slice:prefix:name\""));
    }
    std::string name(parts[2]), prefix(parts[1]);
    if (name.empty() || name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          internal::Cat("linux.cgroupsPath \"", spec, "\": invalid unit name \"", name, "\""));
    }
    ASSIGN_OR_RETURN(std::string slice, ExpandSlice(parts[0].empty() ? "system.slice" : parts[0]));
    // A scope unless the name is itself a slice, as runc names units.
    std::string unit = std::string_view(name).ends_with(".slice") ? name
                       : prefix.empty()                           ? name + ".scope"
                                                                  : prefix + "-" + name + ".scope";
    path = JoinPath(slice, unit);
  } else {
    path = CleanPath(cgroups_path.empty() ? id : cgroups_path);
  }
  if (path.empty() || path == "/") {
    return absl::InvalidArgumentError(internal::Cat(
        "linux.cgroupsPath \"", cgroups_path, "\" names no cgroup below runsc's own or the root"));
  }
  if (path.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError("linux.cgroupsPath: a newline in a cgroup name");
  }
  return path;
}

uint64_t SharesToWeight(uint64_t shares) {
  // runc's mapping: a quadratic in log2(shares) through the ends of both ranges and through
  // the defaults (1024 -> 100), so that the default maps to the default.
  if (shares == 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  double l = std::log2(static_cast<double>(shares));
  double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return static_cast<uint64_t>(std::ceil(std::pow(10, exponent)));
}

uint64_t BlkioToIoWeight(uint16_t weight) {
  if (weight == 0) return 0;
  return 1 + (static_cast<uint64_t>(weight) - 10) * 9999 / 990;
}

// ---- file helpers shared by the cgroup files ----

namespace internal {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    return ErrnoStatus(internal::Cat("open(", path, ")"), err);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      return ErrnoStatus(internal::Cat("read(", path, ")"), err);
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int WriteFile(const std::string& path, std::string_view value) {
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return errno;
  // A cgroup file takes its value in one write(2); a short write would be a different value.
  ssize_t n;
  do {
    n = write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  if (static_cast<size_t>(n) != value.size()) return EIO;
  return 0;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find_first_not_of(" \t\n", i);
    if (start == std::string_view::npos) break;
    size_t end = std::min(text.find_first_of(" \t\n", start), text.size());
    out.emplace_back(text.substr(start, end - start));
    i = end;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty,
                                    size_t max_pieces) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = out.size() + 1 >= max_pieces ? std::string_view::npos : s.find(sep, start);
    std::string_view piece = s.substr(start, end == std::string_view::npos ? end : end - start);
    if (!skip_empty || !piece.empty()) out.push_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

}  // namespace internal

// ---- the cgroup ----

void Cgroup::Warn(std::string msg) {
  LOG_WARNING("cgroup: {}", msg);
  warnings_.push_back(std::move(msg));
}

absl::Status Cgroup::Write(const std::string& dir, std::string_view file, std::string_view value) {
  int err = internal::WriteFile(internal::Cat(dir, "/", file), value);
  if (err == 0) return absl::OkStatus();
  std::string what = internal::Cat(dir, "/", file, "=", value);
  if (rootless_ && IsPermission(err)) {
    Warn(internal::Cat(what, ": ", Errno(err).Describe(), "; skipped (rootless)"));
    return absl::OkStatus();
  }
  return FsError(what, err);
}

bool Cgroup::V2Enabled(const Dir& d, std::string_view controller) const {
  absl::StatusOr<std::string> list = internal::ReadFile(d.dir + "/cgroup.controllers");
  if (!list.ok()) return false;
  for (const std::string& c : internal::Words(*list)) {
    if (c == controller) return true;
  }
  return false;
}

const Cgroup::Dir* Cgroup::DirFor(std::string_view controller) const {
  for (const Dir& d : dirs_) {
    if (layout_ == Layout::kV2 ? d.hierarchy.unified
                               : (!d.hierarchy.unified && d.hierarchy.Has(controller))) {
      return &d;
    }
  }
  return nullptr;
}

// Makes `d` and its missing ancestors, then what each level needs before a process can join:
// v1 cpuset values, v2 controller delegation.
absl::Status Cgroup::MakeDir(Dir& d) {
  const Hierarchy& h = d.hierarchy;
  std::vector<std::string> levels = {h.mount};  // the directories from the mount to the leaf
  for (std::string_view c : internal::Split(d.path, '/', true)) {
    levels.push_back(internal::Cat(levels.back(), "/", c));
  }
  for (size_t i = 1; i < levels.size(); ++i) {
    if (mkdir(levels[i].c_str(), 0755) != 0 && errno != EEXIST) {
      int err = errno;
      return FsError(internal::Cat("mkdir(", levels[i], ")"), err);
    }
  }
  if (!h.unified && h.Has("cpuset")) {
    // A v1 cpuset cgroup starts with no cpus and no mems (unless its parent has
    // cgroup.clone_children), and a process cannot join it then: inherit the parent's.
    for (size_t i = 1; i < levels.size(); ++i) {
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        ASSIGN_OR_RETURN(std::string mine, internal::ReadFile(levels[i] + "/" + file));
        if (!internal::Words(mine).empty()) continue;
        ASSIGN_OR_RETURN(std::string parent, internal::ReadFile(levels[i - 1] + "/" + file));
        std::vector<std::string> words = internal::Words(parent);
        RETURN_IF_ERROR(Write(levels[i], file, words.empty() ? "" : words[0]));
      }
    }
  }
  if (h.unified && layout_ == Layout::kV2) {
    // Each ancestor delegates to its children the controllers Apply uses, from the top down (a
    // cgroup can only delegate what its parent delegated to it). Failing to delegate is a
    // warning: Apply reports an error if a value needs the missing controller.
    for (size_t i = 0; i + 1 < levels.size(); ++i) {
      absl::StatusOr<std::string> available = internal::ReadFile(levels[i] + "/cgroup.controllers");
      absl::StatusOr<std::string> enabled =
          internal::ReadFile(levels[i] + "/cgroup.subtree_control");
      if (!available.ok()) continue;
      std::vector<std::string> have = internal::Words(*available);
      std::vector<std::string> on =
          enabled.ok() ? internal::Words(*enabled) : std::vector<std::string>{};
      std::vector<std::string> add;
      for (const char* c : kV2Wanted) {
        if (std::find(have.begin(), have.end(), c) != have.end() &&
            std::find(on.begin(), on.end(), c) == on.end()) {
          add.push_back(internal::Cat("+", c));
        }
      }
      if (add.empty()) continue;
      std::string file = levels[i] + "/cgroup.subtree_control";
      if (internal::WriteFile(file, internal::JoinStrings(add, " ")) == 0) continue;
      // One at a time, so that one refusal (EBUSY from a cgroup with processes of its own, a
      // threaded subtree) does not cost the others.
      for (const std::string& a : add) {
        int err = internal::WriteFile(file, a);
        if (err != 0) Warn(internal::Cat(file, "=", a, ": ", Errno(err).Describe()));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Cgroup>> Cgroup::Create(const Host& host,
                                                       const CreateOptions& opts) {
  ASSIGN_OR_RETURN(std::string path, Resolve(opts.cgroups_path, opts.id, opts.systemd));
  std::unique_ptr<Cgroup> cg(new Cgroup(host.layout, opts.rootless));
  bool relative = path[0] != '/';
  for (const Hierarchy& h : host.hierarchies) {
    Dir d{h, path, ""};
    if (relative) {
      // On pure v2, runsc's own cgroup has processes (runsc itself), so it cannot delegate
      // controllers to a child: runc places relative paths beside it, under its parent.
      std::string base = (host.layout == Layout::kV2 && h.unified) ? Parent(h.own) : h.own;
      d.path = JoinPath(base, path);
    }
    d.dir = d.path == "/" ? h.mount : h.mount + d.path;
    absl::Status st = cg->MakeDir(d);
    if (!st.ok() && cg->rootless_ && absl::IsPermissionDenied(st)) {
      cg->Warn(
          internal::Cat(std::string(st.message()), "; hierarchy ", h.mount, " skipped (rootless)"));
      continue;
    }
    if (!st.ok()) {
      // Leave nothing half made behind. The directory that failed may exist too.
      cg->dirs_.push_back(std::move(d));
      cg->Destroy().IgnoreError();
      return st;
    }
    cg->dirs_.push_back(std::move(d));
  }
  return cg;
}

absl::StatusOr<std::unique_ptr<Cgroup>> Cgroup::Load(const Host& host, std::string_view saved,
                                                     bool rootless) {
  std::unique_ptr<Cgroup> cg(new Cgroup(host.layout, rootless));
  if (saved.empty()) return cg;  // a rootless sandbox that got no cgroup at all
  auto bad = [&] {
    return absl::InvalidArgumentError(internal::Cat("cgroup path \"", saved, "\" is malformed"));
  };
  std::map<std::string, std::string> by_key;  // sorted controllers joined by ',' -> path
  std::string all;
  if (std::string_view(saved).starts_with("/")) {
    all = std::string(saved);
    if (all.find('\n') != std::string::npos) return bad();
  } else {
    for (std::string_view line : internal::Split(saved, '\n', true)) {
      std::vector<std::string_view> kv = internal::Split(line, ':', false, 2);
      if (kv.size() != 2 || !std::string_view(kv[1]).starts_with("/")) return bad();
      by_key[internal::JoinStrings(SortedControllers(kv[0]), ",")] = std::string(kv[1]);
    }
    if (by_key.empty()) return bad();
  }
  for (const Hierarchy& h : host.hierarchies) {
    std::string path = all;
    if (all.empty()) {
      auto it = by_key.find(h.Key());
      if (it == by_key.end()) continue;
      path = it->second;
    }
    if (CleanPath(path) != path || path == "/") return bad();
    cg->dirs_.push_back(Dir{h, path, h.mount + path});
  }
  return cg;
}

std::string Cgroup::path() const {
  bool same = std::all_of(dirs_.begin(), dirs_.end(),
                          [&](const Dir& d) { return d.path == dirs_.front().path; });
  if (dirs_.empty()) return "";
  if (same) return dirs_.front().path;
  std::vector<std::string> lines;
  for (const Dir& d : dirs_) lines.push_back(internal::Cat(d.hierarchy.Key(), ":", d.path));
  return internal::JoinStrings(lines, "\n");
}

std::vector<std::string> Cgroup::directories() const {
  std::vector<std::string> out;
  for (const Dir& d : dirs_) out.push_back(d.dir);
  return out;
}

std::optional<std::string> Cgroup::Directory(std::string_view controller) const {
  const Dir* d = DirFor(controller);
  if (d == nullptr) return std::nullopt;
  return d->dir;
}

absl::Status Cgroup::AddProcess(pid_t pid) {
  for (const Dir& d : dirs_) {
    RETURN_IF_ERROR(Write(d.dir, "cgroup.procs", std::to_string(pid)));
  }
  return absl::OkStatus();
}

std::vector<pid_t> Cgroup::Processes() const {
  std::set<pid_t> pids;
  for (const Dir& d : dirs_) {
    absl::StatusOr<std::string> procs = internal::ReadFile(JoinPath(d.dir, "cgroup.procs"));
    if (!procs.ok()) continue;
    for (const std::string& w : internal::Words(*procs)) {
      uint64_t pid;
      if (internal::ParseU64(w, &pid) && pid > 0) pids.insert(static_cast<pid_t>(pid));
    }
  }
  return {pids.begin(), pids.end()};
}

namespace {

// rmdir with a short retry on EBUSY: a cgroup stays busy for a moment after its last process
// has been reaped (the kernel frees it asynchronously).
absl::Status RmdirRetry(const std::string& dir) {
  auto delay = std::chrono::milliseconds(10);
  for (int attempt = 0;; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
    int err = errno;
    if (err != EBUSY || attempt == 7) return FsError(internal::Cat("rmdir(", dir, ")"), err);
    std::this_thread::sleep_for(delay);
    delay *= 2;  // 10ms to 1.28s: about 2.5s in all
  }
}

// Removes `dir` and the cgroups below it, deepest first.
absl::Status RemoveTree(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    int err = errno;
    if (err == ENOENT) return absl::OkStatus();
    return FsError(internal::Cat("opendir(", dir, ")"), err);
  }
  std::vector<std::string> children;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string child = dir + "/" + name;
    struct stat st;
    if (e->d_type == DT_DIR ||
        (e->d_type == DT_UNKNOWN && lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
      children.push_back(child);
    }
  }
  closedir(d);
  for (const std::string& child : children) RETURN_IF_ERROR(RemoveTree(child));
  return RmdirRetry(dir);
}

}  // namespace

absl::Status Cgroup::Destroy() {
  absl::Status first;
  for (const Dir& d : dirs_) {
    absl::Status st = RemoveTree(d.dir);
    if (st.ok()) continue;
    if (rootless_ && absl::IsPermissionDenied(st)) {
      Warn(internal::Cat(std::string(st.message()), "; left behind (rootless)"));
      continue;
    }
    if (first.ok()) first = st;
  }
  return first;
}

}  // namespace moat::runsc::cgroup
