// The per-process directories: /proc/<pid>, /proc/<pid>/task/<tid>, and their fd/, fdinfo/, ns/
// and task/ subdirectories and magic links. The contents of the bigger files are generated in
// proc_pid_files.cc.
#include <linux/capability.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sentry/fsimpl/proc_internal.h"
#include "sentry/mm/mm.h"
#include "sentry/vfs/fd_table.h"

namespace moat::fsimpl::proc {
namespace {

using kernel::Task;
using synthetic::DataFile;
using synthetic::DirInode;
using synthetic::FileOps;
using synthetic::InodeNumber;
using synthetic::LinkInode;
using synthetic::OwnerFn;

OwnerFn OwnerOf(const Target& t) {
  return [t] { return Owner(t); };
}

uint64_t Ino(const Target& t, std::string_view name) {
  return InodeNumber(kFs, t.Key() + "/" + std::string(name));
}

std::optional<int> ParseFd(std::string_view name) {
  if (name.empty() || (name.size() > 1 && name[0] == '0')) return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || end != name.data() + name.size() || v < 0) return std::nullopt;
  return v;
}

// The root the reader sees paths from: its own (like d_path in Linux), or the target's when
// the sentry itself asks.
vfs::Path ReaderRoot(Task* reader, Task* target) {
  if (reader) return reader->SharedFs()->root();
  return target->SharedFs()->root();
}

// The fd table of the target; ESRCH when it is gone, ENOENT for a zombie (no files any more).
Result<RefPtr<vfs::FdTable>> FdsOf(const Target& t) {
  RefPtr<Task> task = TRY(t.AnyTask());
  if (!task) return Errno(ENOENT);
  return task->SharedFds();
}

// ---- Magic links: cwd, root, exe ----

enum class PathKind { kCwd, kRoot, kExe };

// Where link `kind` of the target points: ENOENT for a zombie or a process without one.
Result<vfs::Path> LinkPath(const Target& t, PathKind kind) {
  RefPtr<Task> task = TRY(t.AnyTask());
  if (!task) return Errno(ENOENT);
  vfs::Path p;
  switch (kind) {
    case PathKind::kCwd:
      p = task->SharedFs()->cwd();
      break;
    case PathKind::kRoot:
      p = task->SharedFs()->root();
      break;
    case PathKind::kExe:
      p = task->SharedMM()->ExecutablePath();
      break;
  }
  if (!p.valid()) return Errno(ENOENT);
  return p;
}

RefPtr<vfs::Inode> NewPathLink(const Target& t, std::string_view name, PathKind kind) {
  auto target = [t, kind](Task* reader) -> Result<std::string> {
    TRY(MayAccess(t, reader));
    vfs::Path p = TRY(LinkPath(t, kind));
    RefPtr<Task> task = TRY(t.AnyTask());
    if (!task) return Errno(ENOENT);
    return vfs::PathString(ReaderRoot(reader, task.get()), p);
  };
  auto jump = [t, kind](Task* reader) -> std::optional<vfs::Path> {
    if (!MayAccess(t, reader).ok()) return std::nullopt;
    Result<vfs::Path> p = LinkPath(t, kind);
    if (!p.ok()) return std::nullopt;
    return *p;
  };
  return MakeRef<LinkInode>(Host().dev, Ino(t, name), target, jump, OwnerOf(t));
}

// ---- fd/ ----

// What opening /proc/<pid>/fd/N gives for a file that has no path (a host fd given to the
// sandbox, such as the stdio of `runsc do`): the open file itself, shared like a dup.
class ReopenInode : public vfs::Inode {
 public:
  explicit ReopenInode(RefPtr<vfs::FileDescription> file) : file_(std::move(file)) {}
  Result<vfs::Stat> GetStat() override { return file_->GetStat(); }
  Result<RefPtr<vfs::FileDescription>> Open(int, const vfs::Path&) override { return file_; }
  // O_TRUNC on a reopen (`> /dev/stderr`): a host fd of the caller is left as it is, as the
  // sentry has no business changing the size of the caller's files.
  Result<void> SetStat(const vfs::SetStatRequest& req) override {
    Result<void> r = file_->SetStat(req);
    if (!r.ok() && r.error().value() == EBADF) return Ok();
    return r;
  }

 private:
  RefPtr<vfs::FileDescription> file_;
};

class FdLink : public LinkInode {
 public:
  FdLink(const Target& t, int fd, RefPtr<vfs::FileDescription> file)
      : LinkInode(
            Host().dev, Ino(t, absl::StrCat("fd/", fd)),
            [t, fd](Task* reader) -> Result<std::string> {
              TRY(MayAccess(t, reader));
              RefPtr<vfs::FdTable> fds = TRY(FdsOf(t));
              RefPtr<vfs::FileDescription> f = TRY(fds->Get(fd));
              if (std::optional<std::string> anon = f->AnonymousName()) return *anon;
              if (!f->path().valid()) return Errno(ENOENT);
              RefPtr<Task> task = TRY(t.AnyTask());
              if (!task) return Errno(ENOENT);
              return vfs::PathString(ReaderRoot(reader, task.get()), f->path());
            },
            [t, fd](Task* reader) -> std::optional<vfs::Path> {
              if (!MayAccess(t, reader).ok()) return std::nullopt;
              Result<RefPtr<vfs::FdTable>> fds = FdsOf(t);
              if (!fds.ok()) return std::nullopt;
              Result<RefPtr<vfs::FileDescription>> f = (*fds)->Get(fd);
              if (!f.ok()) return std::nullopt;
              if ((*f)->path().valid()) return (*f)->path();
              auto inode = MakeRef<ReopenInode>(*f);
              return vfs::Path{nullptr, MakeRef<vfs::Dentry>(nullptr, "", inode)};
            },
            OwnerOf(t)),
        file_flags_(file->flags()) {}

 protected:
  // lr-x------ for a file open for reading, l-wx------ for writing, lrwx------ for both.
  uint32_t CurrentMode() override {
    uint32_t m = 0;
    int acc = file_flags_ & O_ACCMODE;
    if (file_flags_ & O_PATH) return 0;
    if (acc == O_RDONLY || acc == O_RDWR) m |= S_IRUSR | S_IXUSR;
    if (acc == O_WRONLY || acc == O_RDWR) m |= S_IWUSR | S_IXUSR;
    return m;
  }

 private:
  int file_flags_;
};

// fd/ (links) and fdinfo/ (position and flags).
class FdDir : public DirInode {
 public:
  FdDir(const Target& t, bool info)
      : DirInode(Host().dev, Ino(t, info ? "fdinfo" : "fd"), info ? 0555 : 0500, OwnerOf(t)),
        t_(t),
        info_(info) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    std::optional<int> fd = ParseFd(name);
    if (!fd) return Errno(ENOENT);
    Result<RefPtr<vfs::FdTable>> fds = FdsOf(t_);
    if (!fds.ok()) return Errno(ENOENT);
    Result<RefPtr<vfs::FileDescription>> got = (*fds)->Get(*fd);
    if (!got.ok()) return Errno(ENOENT);
    RefPtr<vfs::FileDescription> file = *std::move(got);
    if (!info_) return RefPtr<vfs::Inode>(MakeRef<FdLink>(t_, *fd, file));
    FileOps ops;
    Target t = t_;
    int n = *fd;
    ops.read = [t, n](Task*) { return FdinfoFile(t, n); };
    ops.open_check = [t](Task* opener, int) { return MayAccess(t, opener); };
    return RefPtr<vfs::Inode>(MakeRef<DataFile>(Host().dev, Ino(t_, absl::StrCat("fdinfo/", n)),
                                                0444, std::move(ops), OwnerOf(t_)));
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    // A directory listing of a process that is gone fails with ENOENT, as Linux's does.
    Result<RefPtr<vfs::FdTable>> got = FdsOf(t_);
    if (!got.ok()) return Errno(ENOENT);
    RefPtr<vfs::FdTable> fds = *std::move(got);
    std::vector<vfs::DirEntry> out;
    for (int fd : fds->OpenFds()) {
      std::string name = std::to_string(fd);
      out.push_back(vfs::DirEntry{name, Ino(t_, absl::StrCat(info_ ? "fdinfo/" : "fd/", fd)),
                                  static_cast<uint8_t>(info_ ? DT_REG : DT_LNK)});
    }
    return out;
  }

 private:
  Target t_;
  bool info_;
};

// ---- ns/ ----

// The namespaces of the sandbox: one of each kind, with the numbers Linux gives the initial
// ones. TODO(#4): real namespaces.
constexpr std::pair<const char*, uint64_t> kNamespaces[] = {
    {"cgroup", 4026531835}, {"ipc", 4026531839},  {"mnt", 4026531841},
    {"net", 4026531840},    {"pid", 4026531836},  {"pid_for_children", 4026531836},
    {"time", 4026531834},   {"time_for_children", 4026531834},
    {"user", 4026531837},   {"uts", 4026531838},
};

class NsDir : public DirInode {
 public:
  explicit NsDir(const Target& t) : DirInode(Host().dev, Ino(t, "ns"), 0511, OwnerOf(t)), t_(t) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    for (auto [n, ino] : kNamespaces) {
      if (name != n) continue;
      std::string kind(n);
      if (kind.ends_with("_for_children")) kind.resize(kind.size() - 13);
      std::string target = absl::StrCat(kind, ":[", ino, "]");
      Target t = t_;
      return RefPtr<vfs::Inode>(MakeRef<LinkInode>(
          Host().dev, Ino(t_, absl::StrCat("ns/", n)),
          [t, target](Task* reader) -> Result<std::string> {
            TRY(MayAccess(t, reader));
            return target;
          },
          nullptr, OwnerOf(t_)));
    }
    return Errno(ENOENT);
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    std::vector<vfs::DirEntry> out;
    for (auto [n, ino] : kNamespaces) {
      out.push_back(vfs::DirEntry{n, Ino(t_, absl::StrCat("ns/", n)), DT_LNK});
    }
    return out;
  }

 private:
  Target t_;
};

// ---- task/ ----

class TaskDir : public DirInode {
 public:
  explicit TaskDir(const Target& t) : DirInode(Host().dev, Ino(t, "task"), 0555, OwnerOf(t)), t_(t) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    std::optional<int> tid = ParseFd(name);
    if (!tid || *tid == 0) return Errno(ENOENT);
    Target child = t_;
    child.in_task_dir = true;
    {
      absl::MutexLock l(&t_.kernel->mu_);
      Task* task = t_.kernel->TaskByTid(*tid);
      if (!task || task->thread_group_ref() != t_.tg) return Errno(ENOENT);
      child.thread = RefPtr<Task>(task);
    }
    return NewPidDir(child);
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    std::vector<pid_t> tids;
    {
      absl::MutexLock l(&t_.kernel->mu_);
      if (t_.ExistsLocked()) {
        for (Task* task : t_.tg->tasks) tids.push_back(task->tid());
      }
    }
    std::sort(tids.begin(), tids.end());
    std::vector<vfs::DirEntry> out;
    for (pid_t tid : tids) {
      std::string name = std::to_string(tid);
      out.push_back(vfs::DirEntry{name, InodeNumber(kFs, absl::StrCat(t_.pid(), "/task/", tid)),
                                  DT_DIR});
    }
    return out;
  }

 private:
  Target t_;
};

// ---- The small files ----

// A read-only file generated by `read`, optionally guarded by the ptrace access check.
RefPtr<vfs::Inode> File(const Target& t, std::string_view name, uint32_t perms,
                        std::function<Result<std::string>(Task*)> read, bool guarded = false) {
  FileOps ops;
  ops.read = [t, read = std::move(read)](Task* reader) -> Result<std::string> {
    {
      absl::MutexLock l(&t.kernel->mu_);
      if (!t.ExistsLocked()) return Errno(ESRCH);
    }
    return read(reader);
  };
  if (guarded) ops.open_check = [t](Task* opener, int) { return MayAccess(t, opener); };
  return MakeRef<DataFile>(Host().dev, Ino(t, name), perms, std::move(ops), OwnerOf(t));
}

RefPtr<vfs::Inode> CommFile(const Target& t) {
  FileOps ops;
  ops.read = [t](Task*) -> Result<std::string> {
    RefPtr<Task> task;
    {
      absl::MutexLock l(&t.kernel->mu_);
      if (!t.ExistsLocked()) return Errno(ESRCH);
      task = RefPtr<Task>(t.AnyTaskLocked());
    }
    return (task ? task->name() : std::string()) + "\n";
  };
  ops.write = [t](Task& writer, std::string_view data, int64_t) -> Result<size_t> {
    RefPtr<Task> task;
    {
      absl::MutexLock l(&t.kernel->mu_);
      if (!t.ExistsLocked()) return Errno(ESRCH);
      // comm_write(): only a thread of the same process may rename it.
      if (writer.thread_group_ref() != t.tg) return Errno(EINVAL);
      task = RefPtr<Task>(t.AnyTaskLocked());
    }
    // The name is the first 15 bytes as written, newline included, as Linux keeps it.
    std::string name(data.substr(0, 15));
    name.resize(strnlen(name.c_str(), name.size()));
    if (task) task->set_name(std::move(name));
    return data.size();
  };
  return MakeRef<DataFile>(Host().dev, Ino(t, "comm"), 0644, std::move(ops), OwnerOf(t));
}

RefPtr<vfs::Inode> OomScoreAdjFile(const Target& t) {
  FileOps ops;
  ops.read = [t](Task*) -> Result<std::string> {
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.ExistsLocked()) return Errno(ESRCH);
    return absl::StrCat(t.tg->oom_score_adj, "\n");
  };
  ops.write = [t](Task& writer, std::string_view data, int64_t) -> Result<size_t> {
    // oom_score_adj_write(): at most PROC_NUMBUF - 1 bytes are looked at, stripped of white
    // space, and must be a number in [-1000, 1000].
    int v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(std::string(data.substr(0, 12))), &v) || v < -1000 ||
        v > 1000) {
      return Errno(EINVAL);
    }
    // __set_oom_adj(): going below the floor a privileged writer set takes CAP_SYS_RESOURCE,
    // and such a writer sets the floor.
    bool privileged = writer.creds()->HasCap(CAP_SYS_RESOURCE);
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.ExistsLocked()) return Errno(ESRCH);
    if (v < t.tg->oom_score_adj_min && !privileged) return Errno(EACCES);
    t.tg->oom_score_adj = v;
    if (privileged) t.tg->oom_score_adj_min = v;
    return data.size();
  };
  return MakeRef<DataFile>(Host().dev, Ino(t, "oom_score_adj"), 0644, std::move(ops),
                           OwnerOf(t));
}

// A file of fixed content that refuses writes with EPERM (loginuid, uid_map...).
RefPtr<vfs::Inode> FixedFile(const Target& t, std::string_view name, uint32_t perms,
                             std::string content) {
  FileOps ops;
  ops.read = [t, content](Task*) -> Result<std::string> {
    absl::MutexLock l(&t.kernel->mu_);
    if (!t.ExistsLocked()) return Errno(ESRCH);
    return content;
  };
  if (perms & 0200) {
    ops.write = [](Task&, std::string_view, int64_t) -> Result<size_t> { return Errno(EPERM); };
  }
  return MakeRef<DataFile>(Host().dev, Ino(t, name), perms, std::move(ops), OwnerOf(t));
}

// ---- The directory ----

struct Entry {
  const char* name;
  uint8_t type;
};
constexpr Entry kEntries[] = {
    {"auxv", DT_REG},       {"cgroup", DT_REG},     {"cmdline", DT_REG},
    {"comm", DT_REG},       {"cwd", DT_LNK},        {"environ", DT_REG},
    {"exe", DT_LNK},        {"fd", DT_DIR},         {"fdinfo", DT_DIR},
    {"gid_map", DT_REG},    {"limits", DT_REG},     {"loginuid", DT_REG},
    {"maps", DT_REG},       {"mountinfo", DT_REG},  {"mounts", DT_REG},
    {"net", DT_DIR},
    {"ns", DT_DIR},         {"oom_score", DT_REG},  {"oom_score_adj", DT_REG},
    {"personality", DT_REG}, {"root", DT_LNK},      {"sessionid", DT_REG},
    {"setgroups", DT_REG},  {"stat", DT_REG},       {"statm", DT_REG},
    {"status", DT_REG},     {"task", DT_DIR},       {"uid_map", DT_REG},
    {"wchan", DT_REG},
};

Result<RefPtr<vfs::Inode>> MakeEntry(const Target& t, std::string_view name) {
  if (name == "auxv") {
    return File(t, name, 0400, [t](Task*) -> Result<std::string> {
      RefPtr<Task> task = TRY(t.AnyTask());
      return task ? task->SharedMM()->auxv() : std::string();
    }, /*guarded=*/true);
  }
  if (name == "cgroup") return File(t, name, 0444, [](Task*) { return std::string("0::/\n"); });
  if (name == "cmdline") return File(t, name, 0444, [t](Task*) { return ArgsFile(t, false); });
  if (name == "comm") return CommFile(t);
  if (name == "cwd") return NewPathLink(t, name, PathKind::kCwd);
  if (name == "environ") {
    return File(t, name, 0400, [t](Task*) { return ArgsFile(t, true); }, /*guarded=*/true);
  }
  if (name == "exe") return NewPathLink(t, name, PathKind::kExe);
  if (name == "fd") return RefPtr<vfs::Inode>(MakeRef<FdDir>(t, false));
  if (name == "fdinfo") return RefPtr<vfs::Inode>(MakeRef<FdDir>(t, true));
  if (name == "gid_map" || name == "uid_map") {
    // The sandbox has one user namespace: its mapping to the host's ids (linux.uidMappings and
    // gidMappings), the identity of the whole range without one.
    const kernel::IdMap& map = name == "uid_map" ? t.kernel->uid_map() : t.kernel->gid_map();
    return FixedFile(t, name, 0644, map.ProcText());
  }
  if (name == "limits") return File(t, name, 0444, [t](Task*) { return LimitsFile(t); });
  if (name == "net") return NewNetDir(t);
  // Audit is not emulated: no login uid or session was ever set, which reads as (u32)-1.
  if (name == "loginuid") return FixedFile(t, name, 0644, "4294967295");
  if (name == "sessionid") return FixedFile(t, name, 0444, "4294967295");
  if (name == "maps") {
    return File(t, name, 0444, [t](Task*) { return MapsFile(t); }, /*guarded=*/true);
  }
  if (name == "mountinfo") {
    return File(t, name, 0444, [t](Task*) { return MountsFile(t, true); });
  }
  if (name == "mounts") return File(t, name, 0444, [t](Task*) { return MountsFile(t, false); });
  if (name == "ns") return RefPtr<vfs::Inode>(MakeRef<NsDir>(t));
  if (name == "oom_score") return FixedFile(t, name, 0444, "0\n");
  if (name == "oom_score_adj") return OomScoreAdjFile(t);
  if (name == "personality") {
    return File(t, name, 0400, [t](Task*) -> Result<std::string> {
      RefPtr<Task> task = TRY(t.AnyTask());
      char buf[16];
      snprintf(buf, sizeof(buf), "%08x\n", task ? task->personality() : 0);
      return std::string(buf);
    }, /*guarded=*/true);
  }
  if (name == "root") return NewPathLink(t, name, PathKind::kRoot);
  if (name == "setgroups") return FixedFile(t, name, 0644, "allow\n");
  if (name == "stat") return File(t, name, 0444, [t](Task* r) { return StatFile(t, r); });
  if (name == "statm") return File(t, name, 0444, [t](Task*) { return StatmFile(t); });
  if (name == "status") return File(t, name, 0444, [t](Task* r) { return StatusFile(t, r); });
  if (name == "task" && !t.in_task_dir) return RefPtr<vfs::Inode>(MakeRef<TaskDir>(t));
  if (name == "wchan") return FixedFile(t, name, 0444, "0");
  return Errno(ENOENT);
}

class PidDir : public DirInode {
 public:
  explicit PidDir(const Target& t)
      : DirInode(Host().dev, InodeNumber(kFs, t.Key()), 0555, OwnerOf(t)), t_(t) {}

  Result<RefPtr<vfs::Inode>> Lookup(std::string_view name) override {
    {
      absl::MutexLock l(&t_.kernel->mu_);
      if (!t_.ExistsLocked()) return Errno(ESRCH);
    }
    return MakeEntry(t_, name);
  }

  Result<std::vector<vfs::DirEntry>> ReadDir() override {
    std::vector<vfs::DirEntry> out;
    {
      absl::MutexLock l(&t_.kernel->mu_);
      if (!t_.ExistsLocked()) return out;
    }
    for (const Entry& e : kEntries) {
      if (t_.in_task_dir && std::string_view(e.name) == "task") continue;
      out.push_back(vfs::DirEntry{e.name, Ino(t_, e.name), e.type});
    }
    return out;
  }

 private:
  Target t_;
};

}  // namespace

RefPtr<vfs::Inode> NewPidDir(const Target& t) { return MakeRef<PidDir>(t); }

}  // namespace moat::fsimpl::proc
