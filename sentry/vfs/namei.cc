// Path resolution, open and the namespace operations (Linux's fs/namei.c): Resolve,
// ResolveParent, PathString, OpenPath, OpenAt, MakeDirAt ... RenameAt.
//
// Errno order follows Linux: each function below names the kernel function whose checks it
// mirrors, so a difference can be traced back.
#include <linux/capability.h>

#include "sentry/vfs/inotify.h"
#include "sentry/vfs/vfs.h"

// openat2's resolve flags (<linux/openat2.h>, which older C library headers lack).
#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

namespace moat::vfs {
namespace {

constexpr size_t kNameMax = 255;

// Serializes renames, so that the ancestry checks (a directory cannot move under itself) and the
// dentry-cache moves see a tree nobody else is rearranging; Linux's s_vfs_rename_mutex.
ABSL_CONST_INIT absl::Mutex g_rename_mu(absl::kConstInit);

bool IsDotOrEmpty(std::string_view name) { return name.empty() || name == "." || name == ".."; }

bool ReadOnlyMount(const Path& p) { return p.mount && p.mount->flags().readonly; }

Result<uint32_t> TypeOf(const Path& p) { return TRY(p.dentry->inode()->GetStat()).mode & S_IFMT; }

// One path walk: who walks, and how many symlinks it has followed so far (shared by the nested
// walks of symlink bodies, so that the limit of 40 covers the whole walk). openat2's resolve
// flags restrict it: `root` is then the starting directory for RESOLVE_BENEATH and
// RESOLVE_IN_ROOT, which the walk may not leave.
struct Walker {
  Walker(const ResolveContext& ctx, const Path& start, uint64_t resolve)
      : ctx(ctx), resolve(resolve),
        root((resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) ? start : ctx.root) {}

  const ResolveContext& ctx;
  const uint64_t resolve;
  const Path root;
  int links = 0;

  bool Scoped() const { return resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT); }

  // Crosses into what is mounted on `p`, repeatedly for stacked mounts (EXDEV with
  // RESOLVE_NO_XDEV).
  Result<Path> CrossMounts(Path p) const {
    if (!ctx.mounts) return p;
    while (RefPtr<Mount> m = ctx.mounts->MountAt(p.mount.get(), p.dentry.get())) {
      if (resolve & RESOLVE_NO_XDEV) return Errno(EXDEV);
      p = Path{m, m->root()};
    }
    return p;
  }

  // ".." from `p`: never above `root` (EXDEV there with RESOLVE_BENEATH); from a mount's root,
  // first to its mountpoint (EXDEV with RESOLVE_NO_XDEV).
  Result<Path> DotDot(Path p) const {
    for (;;) {
      if (p == root) {
        if (resolve & RESOLVE_BENEATH) return Errno(EXDEV);
        return p;
      }
      if (p.mount && p.dentry == p.mount->root()) {
        Mount* parent = p.mount->parent();
        if (!parent) return p;  // the namespace root
        if (resolve & RESOLVE_NO_XDEV) return Errno(EXDEV);
        p = Path{RefPtr<Mount>(parent), RefPtr<Dentry>(p.mount->mountpoint())};
        continue;
      }
      RefPtr<Dentry> up = p.dentry->parent();
      if (!up) return p;
      p.dentry = std::move(up);
      return CrossMounts(std::move(p));
    }
  }

  // nd_jump_root(): an absolute path, or a symlink to one (`from_link`, found in `dir`),
  // restarts at `root`.
  Result<Path> JumpRoot(const Path& dir, bool from_link) const {
    if (resolve & RESOLVE_BENEATH) return Errno(EXDEV);
    if ((resolve & RESOLVE_NO_XDEV) && from_link && dir.mount != root.mount) return Errno(EXDEV);
    return root;
  }

  // pick_link() and nd_jump_link(): whether the walk may follow the symlink in `dir` that
  // `jump` says is a magic link (or an ordinary one, without it).
  Result<void> MayFollow(const Path& dir, const std::optional<Path>& jump) const {
    if (resolve & RESOLVE_NO_SYMLINKS) return Errno(ELOOP);
    if (!jump) return Ok();
    if (resolve & RESOLVE_NO_MAGICLINKS) return Errno(ELOOP);
    if ((resolve & RESOLVE_NO_XDEV) && jump->mount != dir.mount) return Errno(EXDEV);
    // Magic links could lead anywhere: not for scoped walks.
    if (Scoped()) return Errno(EXDEV);
    return Ok();
  }

  // may_lookup(): `dir` must be a directory the walker may search.
  Result<void> MaySearch(const Path& dir) const {
    Stat st = TRY(dir.dentry->inode()->GetStat());
    if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
    return CheckPermission(*ctx.creds, st, X_OK);
  }

  // Looks `name` up in `dir` and crosses mounts.
  Result<Path> Step(const Path& dir, std::string_view name) const {
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    RefPtr<Dentry> d = TRY(dir.dentry->Child(name));
    return CrossMounts(Path{dir.mount, std::move(d)});
  }

  // Counts one more symlink and reads it.
  Result<std::string> ReadLink(const Path& link) {
    if (++links > kMaxSymlinks) return Errno(ELOOP);
    std::string target = TRY(link.dentry->inode()->ReadLink());
    if (target.empty()) return Errno(ENOENT);
    return target;
  }

  // Follows the symlink `link` found in `dir`: a magic link jumps, an ordinary one is walked
  // from `dir` with the final component followed.
  Result<Path> Follow(const Path& dir, const Path& link, bool must_be_dir) {
    std::optional<Path> jump = link.dentry->inode()->JumpLink();
    RETURN_IF_ERRNO(MayFollow(dir, jump));
    if (jump) {
      if (++links > kMaxSymlinks) return Errno(ELOOP);
      if (must_be_dir && TRY(TypeOf(*jump)) != S_IFDIR) return Errno(ENOTDIR);
      return *std::move(jump);
    }
    std::string target = TRY(ReadLink(link));
    return Walk(dir, target, /*follow_final=*/true, must_be_dir, /*from_link=*/true);
  }

  // link_path_walk() + lookup_last(). A trailing slash makes the last component follow
  // symlinks and requires a directory. `from_link`: `path` is a symlink's body.
  Result<Path> Walk(const Path& start, std::string_view path, bool follow_final,
                    bool must_be_dir, bool from_link = false) {
    if (path.empty()) return Errno(ENOENT);
    Path cur = path.front() == '/' ? TRY(JumpRoot(start, from_link)) : start;
    if (!cur.valid()) return Errno(ENOENT);
    const bool trailing_slash = path.back() == '/';
    size_t pos = 0;
    for (;;) {
      while (pos < path.size() && path[pos] == '/') ++pos;
      if (pos == path.size()) break;
      size_t end = path.find('/', pos);
      if (end == std::string_view::npos) end = path.size();
      std::string_view name = path.substr(pos, end - pos);
      pos = end;
      size_t rest = path.find_first_not_of('/', pos);
      const bool last = rest == std::string_view::npos;

      RETURN_IF_ERRNO(MaySearch(cur));
      if (name == ".") continue;
      if (name == "..") {
        cur = TRY(DotDot(std::move(cur)));
        continue;
      }
      Path next = TRY(Step(cur, name));
      if (last && !follow_final && !trailing_slash) {
        cur = std::move(next);
        break;
      }
      if (TRY(TypeOf(next)) == S_IFLNK) {
        // A symlink in the middle must lead to a directory; the next MaySearch checks that.
        cur = TRY(Follow(cur, next, last && (must_be_dir || trailing_slash)));
        continue;
      }
      cur = std::move(next);
    }
    if ((must_be_dir || trailing_slash) && TRY(TypeOf(cur)) != S_IFDIR) return Errno(ENOTDIR);
    return cur;
  }

  // filename_parentat(): walks all but the last component, which is looked up in the parent by
  // the caller; the walk still checks search permission on that parent, as Linux does.
  Result<ParentAndName> WalkParent(const Path& start, std::string_view path,
                                   bool from_link = false) {
    if (path.empty()) return Errno(ENOENT);
    size_t end = path.find_last_not_of('/');
    if (end == std::string_view::npos) {
      // "/" or "///": no last component (LAST_ROOT).
      return ParentAndName{TRY(JumpRoot(start, from_link)), "", false};
    }
    const bool trailing_slash = end + 1 < path.size();
    std::string_view trimmed = path.substr(0, end + 1);
    size_t slash = trimmed.rfind('/');
    std::string_view name = slash == std::string_view::npos ? trimmed : trimmed.substr(slash + 1);
    Path parent;
    if (slash == std::string_view::npos) {
      parent = start;
      if (!parent.valid()) return Errno(ENOENT);
    } else {
      // Keeping the slash makes the directory part follow a final symlink and require a
      // directory ("link/name").
      parent = TRY(Walk(start, trimmed.substr(0, slash + 1), true, true, from_link));
    }
    RETURN_IF_ERRNO(MaySearch(parent));
    if (name.size() > kNameMax) return Errno(ENAMETOOLONG);
    return ParentAndName{std::move(parent), std::string(name), trailing_slash};
  }
};

// may_create(): a new name in `dir`.
Result<void> MayCreate(const Credentials& creds, const Path& dir) {
  if (dir.dentry->deleted()) return Errno(ENOENT);
  Stat st = TRY(dir.dentry->inode()->GetStat());
  return CheckPermission(creds, st, W_OK | X_OK);
}

// may_delete(): removing `victim` from `dir` (rmdir, unlink, and both ends of a rename).
Result<void> MayDelete(const Credentials& creds, const Path& dir, const RefPtr<Dentry>& victim,
                       bool is_dir) {
  Stat dir_st = TRY(dir.dentry->inode()->GetStat());
  RETURN_IF_ERRNO(CheckPermission(creds, dir_st, W_OK | X_OK));
  Stat st = TRY(victim->inode()->GetStat());
  // The sticky bit: only the file's or the directory's owner (or CAP_FOWNER) may remove it.
  if ((dir_st.mode & S_ISVTX) && creds.fsuid != st.uid && creds.fsuid != dir_st.uid &&
      !creds.HasCap(CAP_FOWNER)) {
    return Errno(EPERM);
  }
  if (is_dir) {
    if (!S_ISDIR(st.mode)) return Errno(ENOTDIR);
  } else if (S_ISDIR(st.mode)) {
    return Errno(EISDIR);
  }
  if (dir.dentry->deleted()) return Errno(ENOENT);
  return Ok();
}

bool IsMountpoint(const ResolveContext& ctx, const Path& dir, const RefPtr<Dentry>& d) {
  return ctx.mounts && ctx.mounts->MountAt(dir.mount.get(), d.get()) != nullptr;
}

// The existing entry `name` in `dir` (without crossing mounts), or null if there is none.
Result<RefPtr<Dentry>> LookupIfExists(const Path& dir, std::string_view name) {
  Result<RefPtr<Dentry>> d = dir.dentry->Child(name);
  if (d.ok()) return d;
  if (d.error().value() == ENOENT) return RefPtr<Dentry>();
  return d.error();
}

// The first half of filename_create(): a name that must not exist yet. EEXIST wins over EROFS,
// and a trailing slash is only for directories.
Result<void> PrepareCreate(const ParentAndName& at, bool is_dir) {
  if (IsDotOrEmpty(at.name)) return Errno(EEXIST);
  if (TRY(LookupIfExists(at.parent, at.name))) return Errno(EEXIST);
  if (at.trailing_slash && !is_dir) return Errno(ENOENT);
  if (ReadOnlyMount(at.parent)) return Errno(EROFS);
  return Ok();
}

// Whether `ancestor` is `d` or one of its parents (within one filesystem).
bool IsAncestorOrSelf(const Dentry* ancestor, RefPtr<Dentry> d) {
  while (d) {
    if (d.get() == ancestor) return true;
    d = d->parent();
  }
  return false;
}

// `inode` lost a name (unlink, rmdir, or replaced by a rename): if that was its last one, its
// watches hear IN_DELETE_SELF and end. A directory has no other name to keep it.
void NotifyNameRemoved(Inode& inode, bool is_dir) {
  if (!inode.watches()) return;
  if (!is_dir) {
    Result<Stat> st = inode.GetStat();
    if (st.ok() && st->nlink > 0) return;
  }
  NotifyRemoved(inode);
}

// fsnotify_move(): `moved` went from `from` to `to`, replacing `replaced` if not null.
void NotifyMove(const ParentAndName& from, const ParentAndName& to, Inode& moved, bool is_dir,
                Inode* replaced) {
  if (!inotify_internal::Active()) return;
  const uint32_t isdir = is_dir ? IN_ISDIR : 0;
  const uint32_t cookie = NewMoveCookie();
  // dnotify's DN_RENAME is for a rename within one directory (kInRenameWithinDir).
  const uint32_t within =
      from.parent.dentry->inode() == to.parent.dentry->inode() ? kInRenameWithinDir : 0;
  NotifyChild(*from.parent.dentry->inode(), IN_MOVED_FROM | isdir | within, from.name, cookie);
  NotifyChild(*to.parent.dentry->inode(), IN_MOVED_TO | isdir, to.name, cookie);
  if (replaced) NotifyInode(*replaced, IN_ATTRIB);
  NotifyInode(moved, IN_MOVE_SELF);
}

// do_open() + may_open() + do_dentry_open(), for an existing file (`created` = false) or one this
// open just created (no permission check, no truncation).
Result<RefPtr<FileDescription>> DoOpen(const Credentials& creds, const Path& p, int flags,
                                       bool created) {
  Inode& inode = *p.dentry->inode();
  Stat st = TRY(inode.GetStat());
  const uint32_t type = st.mode & S_IFMT;

  // The kernel's __O_TMPFILE bit (glibc's __O_TMPFILE includes O_DIRECTORY): a file made by
  // O_TMPFILE keeps O_DIRECTORY in its flags although it is no directory.
  constexpr int kTmpfileBit = 020000000;
  if (flags & O_PATH) {
    if ((flags & O_DIRECTORY) && type != S_IFDIR) return Errno(ENOTDIR);
    // An O_PATH file keeps only these flags (O_PATH_FLAGS).
    return RefPtr<FileDescription>(
        MakeRef<PathFile>(flags & (O_PATH | O_DIRECTORY | O_NOFOLLOW), p));
  }
  if ((flags & O_DIRECTORY) && !(flags & kTmpfileBit) && type != S_IFDIR) return Errno(ENOTDIR);

  int acc = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      acc = R_OK;
      break;
    case O_WRONLY:
      acc = W_OK;
      break;
    default:  // O_RDWR, and 3 which Linux treats as read+write for permission purposes
      acc = R_OK | W_OK;
      break;
  }
  if (flags & O_TRUNC) acc |= W_OK;
  bool truncate = false;
  if (created) {
    acc = 0;
    flags &= ~O_TRUNC;
  } else if (type == S_IFREG && (flags & O_TRUNC)) {
    if (ReadOnlyMount(p)) return Errno(EROFS);
    truncate = true;
  }

  switch (type) {
    case S_IFLNK:
      return Errno(ELOOP);
    case S_IFDIR:
      if (acc & W_OK) return Errno(EISDIR);
      break;
    case S_IFCHR:
    case S_IFBLK:
      if (p.mount && p.mount->flags().nodev) return Errno(EACCES);
      break;
    case S_IFIFO:
    case S_IFSOCK:
      flags &= ~O_TRUNC;
      break;
    default:
      break;
  }
  if (acc) RETURN_IF_ERRNO(CheckPermission(creds, st, acc));
  if ((flags & O_NOATIME) && creds.fsuid != st.uid && !creds.HasCap(CAP_FOWNER)) {
    return Errno(EPERM);
  }
  const bool writing = (flags & O_ACCMODE) == O_WRONLY || (flags & O_ACCMODE) == O_RDWR;
  if (writing && ReadOnlyMount(p) && (type == S_IFREG || type == S_IFDIR || type == S_IFLNK)) {
    return Errno(EROFS);
  }
  if ((writing || truncate) && type == S_IFREG && inode.IsExecuting()) return Errno(ETXTBSY);

  RefPtr<FileDescription> file;
  if (type == S_IFDIR) {
    file = MakeRef<DirectoryFile>(flags, p);
  } else {
    file = TRY(inode.Open(flags, p));
  }
  if (truncate) {
    // handle_truncate(): O_TRUNC sets the times even when the file was already empty.
    SetStatRequest req;
    req.size = 0;
    req.mtime = timespec{0, UTIME_NOW};
    RETURN_IF_ERRNO(inode.SetStat(req));
    NotifySetStat(*p.dentry, req);
  }
  // fsnotify_open(): after the truncation, as do_sys_openat2 reports it.
  NotifyDentry(*p.dentry, IN_OPEN);
  file->CountAsOpened();
  return file;
}

}  // namespace

// ---- Resolution ----

Result<Path> Resolve(const ResolveContext& ctx, const Path& start, std::string_view path,
                     const ResolveOptions& opts) {
  Walker w(ctx, start, opts.resolve);
  return w.Walk(start, path, opts.follow_final_symlink, opts.must_be_dir);
}

Result<ParentAndName> ResolveParent(const ResolveContext& ctx, const Path& start,
                                    std::string_view path) {
  Walker w(ctx, start, 0);
  return w.WalkParent(start, path);
}

std::string PathString(const Path& root, const Path& p) {
  if (!p.valid()) return "";
  std::vector<std::string> names;
  Path cur = p;
  for (;;) {
    if (cur == root) break;
    if (cur.mount && cur.dentry == cur.mount->root()) {
      Mount* parent = cur.mount->parent();
      if (!parent) break;  // outside `root`: reported from the namespace root
      cur = Path{RefPtr<Mount>(parent), RefPtr<Dentry>(cur.mount->mountpoint())};
      continue;
    }
    RefPtr<Dentry> up = cur.dentry->parent();
    if (!up) break;
    names.push_back(cur.dentry->name());
    cur.dentry = std::move(up);
  }
  if (names.empty()) names.emplace_back();  // the root: "/"
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    out.push_back('/');
    out.append(*it);
  }
  // Like d_path(): a removed file keeps its last name, marked.
  if (p.dentry->deleted()) out += " (deleted)";
  return out;
}

// ---- Open ----

Result<RefPtr<FileDescription>> OpenPath(const Credentials& creds, const Path& p, int flags) {
  return DoOpen(creds, p, flags, /*created=*/false);
}

Result<RefPtr<FileDescription>> OpenAt(const ResolveContext& ctx, const Path& start,
                                       std::string_view path, int flags, uint32_t mode,
                                       uint64_t resolve) {
  const Credentials& creds = *ctx.creds;
  Walker w(ctx, start, resolve);
  if (!(flags & O_CREAT)) {
    Path p = TRY(w.Walk(start, path, !(flags & O_NOFOLLOW), flags & O_DIRECTORY));
    return DoOpen(creds, p, flags, false);
  }

  // open_last_lookups() + lookup_open() for O_CREAT. The loop follows a final symlink to
  // wherever it points, creating the file there if it does not exist (a dangling symlink).
  ParentAndName at = TRY(w.WalkParent(start, path));
  for (;;) {
    // "name/" with O_CREAT, and ".", ".." or "/", name a directory: EISDIR either way.
    if (at.trailing_slash || IsDotOrEmpty(at.name)) return Errno(EISDIR);
    Result<Path> found = w.Step(at.parent, at.name);
    if (!found.ok()) {
      if (found.error().value() != ENOENT) return found.error();
      if (at.parent.dentry->deleted()) return Errno(ENOENT);
      if (ReadOnlyMount(at.parent)) return Errno(EROFS);
      RETURN_IF_ERRNO(MayCreate(creds, at.parent));
      RefPtr<Inode> inode =
          TRY(at.parent.dentry->inode()->Create(at.name, mode & 07777, creds));
      RefPtr<Dentry> d = at.parent.dentry->AddChild(at.name, std::move(inode));
      NotifyChild(*at.parent.dentry->inode(), IN_CREATE, at.name);
      return DoOpen(creds, Path{at.parent.mount, std::move(d)}, flags, /*created=*/true);
    }
    Path p = std::move(found).value();
    if (flags & O_EXCL) return Errno(EEXIST);
    const uint32_t type = TRY(TypeOf(p));
    // do_open(): O_CREAT never opens a directory.
    if (type == S_IFDIR) return Errno(EISDIR);
    if (type == S_IFLNK && !(flags & O_NOFOLLOW)) {
      std::optional<Path> jump = p.dentry->inode()->JumpLink();
      RETURN_IF_ERRNO(w.MayFollow(at.parent, jump));
      if (jump) {
        if (++w.links > kMaxSymlinks) return Errno(ELOOP);
        return DoOpen(creds, *jump, flags, false);
      }
      std::string target = TRY(w.ReadLink(p));
      at = TRY(w.WalkParent(at.parent, target, /*from_link=*/true));
      continue;
    }
    return DoOpen(creds, p, flags, false);
  }
}

Result<RefPtr<FileDescription>> OpenTmpfile(const ResolveContext& ctx, const Path& start,
                                            std::string_view path, int flags, uint32_t mode,
                                            uint64_t resolve) {
  // do_tmpfile(): the directory (symlinks followed), EROFS, then vfs_tmpfile()'s may_create().
  Walker w(ctx, start, resolve);
  Path dir = TRY(w.Walk(start, path, /*follow_final=*/true, /*must_be_dir=*/true));
  if (ReadOnlyMount(dir)) return Errno(EROFS);
  RETURN_IF_ERRNO(MayCreate(*ctx.creds, dir));
  RefPtr<Inode> inode =
      TRY(dir.dentry->inode()->CreateTmpfile(mode & 07777, *ctx.creds, !(flags & O_EXCL)));
  // A name for /proc/self/fd and the like, marked deleted as Linux shows it ("/tmp/#123").
  const std::string name = "#" + std::to_string(TRY(inode->GetStat()).ino);
  auto d = MakeRef<Dentry>(dir.dentry, name, std::move(inode));
  d->set_deleted();
  return DoOpen(*ctx.creds, Path{dir.mount, std::move(d)}, flags, /*created=*/true);
}

// ---- Namespace operations ----

Result<Path> MakeDirAt(const ResolveContext& ctx, const ParentAndName& at, uint32_t mode) {
  // do_mkdirat() -> filename_create() -> vfs_mkdir().
  RETURN_IF_ERRNO(PrepareCreate(at, /*is_dir=*/true));
  RETURN_IF_ERRNO(MayCreate(*ctx.creds, at.parent));
  Inode& dir = *at.parent.dentry->inode();
  RefPtr<Inode> inode = TRY(dir.MakeDir(at.name, mode & (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX),
                                        *ctx.creds));
  Path made{at.parent.mount, at.parent.dentry->AddChild(at.name, std::move(inode))};
  NotifyChild(dir, IN_CREATE | IN_ISDIR, at.name);
  return made;
}

Result<Path> MakeNodeAt(const ResolveContext& ctx, const ParentAndName& at, uint32_t mode,
                        uint64_t rdev) {
  // do_mknodat(): may_mknod() comes before the path is even looked at.
  uint32_t type = mode & S_IFMT;
  switch (type) {
    case 0:
      type = S_IFREG;
      break;
    case S_IFREG:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      break;
    case S_IFDIR:
      return Errno(EPERM);
    default:
      return Errno(EINVAL);
  }
  RETURN_IF_ERRNO(PrepareCreate(at, /*is_dir=*/false));
  RETURN_IF_ERRNO(MayCreate(*ctx.creds, at.parent));
  if ((type == S_IFCHR || type == S_IFBLK) && !ctx.creds->HasCap(CAP_MKNOD)) return Errno(EPERM);
  Inode& dir = *at.parent.dentry->inode();
  RefPtr<Inode> inode;
  if (type == S_IFREG) {
    inode = TRY(dir.Create(at.name, mode & 07777, *ctx.creds));
  } else {
    inode = TRY(dir.MakeNode(at.name, type | (mode & 07777), rdev, *ctx.creds));
  }
  Path made{at.parent.mount, at.parent.dentry->AddChild(at.name, std::move(inode))};
  NotifyChild(dir, IN_CREATE, at.name);
  return made;
}

Result<Path> SymlinkAt(const ResolveContext& ctx, const ParentAndName& at,
                       std::string_view target) {
  if (target.empty()) return Errno(ENOENT);
  RETURN_IF_ERRNO(PrepareCreate(at, /*is_dir=*/false));
  RETURN_IF_ERRNO(MayCreate(*ctx.creds, at.parent));
  Inode& dir = *at.parent.dentry->inode();
  RefPtr<Inode> inode = TRY(dir.MakeSymlink(at.name, target, *ctx.creds));
  Path made{at.parent.mount, at.parent.dentry->AddChild(at.name, std::move(inode))};
  NotifyChild(dir, IN_CREATE, at.name);
  return made;
}

Result<void> LinkAt(const ResolveContext& ctx, const Path& old_path, const ParentAndName& at) {
  // do_linkat(): filename_create(), then EXDEV, may_linkat(), vfs_link().
  const Credentials& creds = *ctx.creds;
  RETURN_IF_ERRNO(PrepareCreate(at, /*is_dir=*/false));
  if (old_path.mount != at.parent.mount) return Errno(EXDEV);
  const RefPtr<Inode>& target = old_path.dentry->inode();
  Stat st = TRY(target->GetStat());
  // fs.protected_hardlinks: someone else's file may only be linked if it is a regular file that
  // is not set-id and that the caller could read and write anyway.
  if (creds.fsuid != st.uid && !creds.HasCap(CAP_FOWNER)) {
    bool safe = S_ISREG(st.mode) && !(st.mode & S_ISUID) &&
                !((st.mode & S_ISGID) && (st.mode & S_IXGRP)) &&
                CheckPermission(creds, st, R_OK | W_OK).ok();
    if (!safe) return Errno(EPERM);
  }
  RETURN_IF_ERRNO(MayCreate(creds, at.parent));
  if (S_ISDIR(st.mode)) return Errno(EPERM);
  // A file with no links stays without, unless O_TMPFILE made it to be linked.
  if (st.nlink == 0 && !target->linkable()) return Errno(ENOENT);
  RETURN_IF_ERRNO(at.parent.dentry->inode()->Link(at.name, target));
  target->set_linkable(false);
  at.parent.dentry->AddChild(at.name, target);
  // fsnotify_link(): the link count changed, then the new name.
  NotifyInode(*target, IN_ATTRIB);
  NotifyChild(*at.parent.dentry->inode(), IN_CREATE, at.name);
  return Ok();
}

Result<void> UnlinkAt(const ResolveContext& ctx, const ParentAndName& at) {
  // do_unlinkat(): EROFS comes before the lookup, the trailing-slash verdict after it.
  if (IsDotOrEmpty(at.name)) return Errno(EISDIR);
  if (ReadOnlyMount(at.parent)) return Errno(EROFS);
  RefPtr<Dentry> victim = TRY(at.parent.dentry->Child(at.name));
  if (at.trailing_slash) {
    return Errno(TRY(TypeOf(Path{at.parent.mount, victim})) == S_IFDIR ? EISDIR : ENOTDIR);
  }
  RETURN_IF_ERRNO(MayDelete(*ctx.creds, at.parent, victim, /*is_dir=*/false));
  if (IsMountpoint(ctx, at.parent, victim)) return Errno(EBUSY);
  RETURN_IF_ERRNO(at.parent.dentry->inode()->Unlink(at.name));
  victim->set_deleted();
  at.parent.dentry->DropChild(at.name);
  // vfs_unlink(): the link count, the inode's removal, then the directory's entry.
  NotifyInode(*victim->inode(), IN_ATTRIB);
  NotifyNameRemoved(*victim->inode(), /*is_dir=*/false);
  NotifyChild(*at.parent.dentry->inode(), IN_DELETE, at.name);
  return Ok();
}

Result<void> RemoveDirAt(const ResolveContext& ctx, const ParentAndName& at) {
  // do_rmdir().
  if (at.name.empty()) return Errno(EBUSY);
  if (at.name == ".") return Errno(EINVAL);
  if (at.name == "..") return Errno(ENOTEMPTY);
  if (ReadOnlyMount(at.parent)) return Errno(EROFS);
  RefPtr<Dentry> victim = TRY(at.parent.dentry->Child(at.name));
  RETURN_IF_ERRNO(MayDelete(*ctx.creds, at.parent, victim, /*is_dir=*/true));
  if (IsMountpoint(ctx, at.parent, victim)) return Errno(EBUSY);
  RETURN_IF_ERRNO(at.parent.dentry->inode()->RemoveDir(at.name));
  victim->set_deleted();
  at.parent.dentry->DropChild(at.name);
  NotifyNameRemoved(*victim->inode(), /*is_dir=*/true);
  NotifyChild(*at.parent.dentry->inode(), IN_DELETE | IN_ISDIR, at.name);
  return Ok();
}

Result<void> RenameAt(const ResolveContext& ctx, const ParentAndName& from,
                      const ParentAndName& to, unsigned flags) {
  // do_renameat2() -> vfs_rename().
  const Credentials& creds = *ctx.creds;
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return Errno(EINVAL);
  const bool exchange = flags & RENAME_EXCHANGE;
  if (exchange && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) return Errno(EINVAL);
  // TODO(#3): RENAME_WHITEOUT needs a whiteout-making rename in the filesystems.
  if (flags & RENAME_WHITEOUT) return Errno(EINVAL);

  if (from.parent.mount != to.parent.mount) return Errno(EXDEV);
  if (IsDotOrEmpty(from.name)) return Errno(EBUSY);
  if (IsDotOrEmpty(to.name)) return Errno((flags & RENAME_NOREPLACE) ? EEXIST : EBUSY);
  if (ReadOnlyMount(from.parent)) return Errno(EROFS);

  absl::MutexLock l(&g_rename_mu);
  RefPtr<Dentry> old = TRY(from.parent.dentry->Child(from.name));
  RefPtr<Dentry> target = TRY(LookupIfExists(to.parent, to.name));
  if ((flags & RENAME_NOREPLACE) && target) return Errno(EEXIST);
  // An exchange needs both names, and judges the target's trailing slash by its own type.
  Stat target_st;
  bool target_is_dir = false;
  if (exchange) {
    if (!target) return Errno(ENOENT);
    target_st = TRY(target->inode()->GetStat());
    target_is_dir = S_ISDIR(target_st.mode);
    if (!target_is_dir && to.trailing_slash) return Errno(ENOTDIR);
  }
  Stat old_st = TRY(old->inode()->GetStat());
  const bool is_dir = S_ISDIR(old_st.mode);
  // Unless the source is a directory, trailing slashes give ENOTDIR.
  if (!is_dir && (from.trailing_slash || (!exchange && to.trailing_slash))) {
    return Errno(ENOTDIR);
  }
  if (from.parent.dentry != to.parent.dentry) {
    // The source may not be an ancestor of the target, nor the target of the source. Linux
    // calls the second ENOTEMPTY for a rename (the target directory would have to be removed)
    // but EINVAL for an exchange (nothing is removed; the tree would form a loop).
    if (IsAncestorOrSelf(old.get(), to.parent.dentry)) return Errno(EINVAL);
    if (target && IsAncestorOrSelf(target.get(), from.parent.dentry)) {
      return Errno(exchange ? EINVAL : ENOTEMPTY);
    }
  }
  // Two names of one inode (or one name twice): rename and exchange do nothing and succeed.
  if (target && target->inode() == old->inode()) return Ok();

  RETURN_IF_ERRNO(MayDelete(creds, from.parent, old, is_dir));
  if (target) {
    // An exchange removes neither entry, so each is checked against its own type.
    RETURN_IF_ERRNO(MayDelete(creds, to.parent, target, exchange ? target_is_dir : is_dir));
  } else {
    RETURN_IF_ERRNO(MayCreate(creds, to.parent));
  }
  // A directory that changes parent has its ".." rewritten: it must be writable. In an
  // exchange the target moves too.
  if (from.parent.dentry != to.parent.dentry) {
    if (is_dir) RETURN_IF_ERRNO(CheckPermission(creds, old_st, W_OK));
    if (exchange && target_is_dir) RETURN_IF_ERRNO(CheckPermission(creds, target_st, W_OK));
  }
  if (IsMountpoint(ctx, from.parent, old) || (target && IsMountpoint(ctx, to.parent, target))) {
    return Errno(EBUSY);
  }
  if (exchange) {
    RETURN_IF_ERRNO(
        from.parent.dentry->inode()->Exchange(from.name, *to.parent.dentry->inode(), to.name));
    Dentry::Exchange(old, target);
    // Two moves, each with its own cookie (fsnotify_move twice).
    NotifyMove(from, to, *old->inode(), is_dir, nullptr);
    NotifyMove(to, from, *target->inode(), target_is_dir, nullptr);
    return Ok();
  }
  RETURN_IF_ERRNO(
      from.parent.dentry->inode()->Rename(from.name, *to.parent.dentry->inode(), to.name,
                                          target != nullptr));
  if (target) target->set_deleted();
  Dentry::Move(old, to.parent.dentry, to.name);
  NotifyMove(from, to, *old->inode(), is_dir, target ? target->inode().get() : nullptr);
  if (target) NotifyNameRemoved(*target->inode(), is_dir);
  return Ok();
}

}  // namespace moat::vfs
