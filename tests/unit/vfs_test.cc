// Path resolution, permissions, open and directory reading, over tmpfs.
#include <linux/capability.h>

#include "sentry/fsimpl/tmpfs.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using fsimpl::NewTmpfs;
using testing::TestFs;
using testing::User;

class VfsTest : public ::testing::Test {
 protected:
  VfsTest() : fs_(NewTmpfs(0755, 0, 0, 0)) {}
  void SetUp() override {
    ASSERT_OK(fs_.Mkdir("/a"));
    ASSERT_OK(fs_.Mkdir("/a/b"));
    ASSERT_OK(fs_.WriteFile("/a/b/f", "data"));
  }

  uint64_t Ino(std::string_view path) {
    return ASSERT_OK_AND_GET(fs_.StatOf(path)).ino;
  }

  TestFs fs_;
};

TEST_F(VfsTest, ResolvesComponents) {
  Path p = ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f"));
  EXPECT_EQ(p.dentry->name(), "f");
  EXPECT_EQ(Ino("/a/b/f"), Ino("/a//b/./f"));
  EXPECT_EQ(Ino("/a/b/../b/f"), Ino("/a/b/f"));
  // Relative paths start at the given directory.
  Path a = ASSERT_OK_AND_GET(fs_.Lookup("/a"));
  Path f = ASSERT_OK_AND_GET(Resolve(fs_.Ctx(), a, "b/f"));
  EXPECT_EQ(f.dentry, p.dentry);
}

// The dentry cache lets go of what nothing uses, bottom-up, and keeps what is in use: a path
// someone holds, its ancestors, mountpoints. Lookups still find everything afterwards.
TEST_F(VfsTest, PruneUnusedKeepsWhatIsInUse) {
  ASSERT_OK(fs_.WriteFile("/a/b/c", "c"));
  ASSERT_OK(fs_.Mkdir("/held"));
  ASSERT_OK(fs_.WriteFile("/held/file", "f"));
  ASSERT_OK(fs_.Mkdir("/mnt"));
  auto m = MakeRef<Mount>(fs_.ns().NextMountId(), "tmpfs", "none", NewTmpfs(0755, 0, 0, 0),
                          MountFlags{});
  ASSERT_OK(fs_.ns().AddMount(ASSERT_OK_AND_GET(fs_.Lookup("/mnt")), m));
  Path held = ASSERT_OK_AND_GET(fs_.Lookup("/held/file"));
  const RefPtr<Dentry>& root = fs_.root().dentry;
  EXPECT_GE(root->PruneUnused(), 3u);  // c, b and a at least
  EXPECT_EQ(root->CachedChild("a"), nullptr);
  EXPECT_NE(root->CachedChild("held"), nullptr);
  EXPECT_EQ(root->CachedChild("held")->CachedChild("file"), held.dentry);
  EXPECT_NE(root->CachedChild("mnt"), nullptr);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/a/b/c")), "c");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/mnt")).mount, m);
}

TEST_F(VfsTest, Errors) {
  EXPECT_ERRNO(fs_.Lookup(""), ENOENT);
  EXPECT_ERRNO(fs_.Lookup("/missing"), ENOENT);
  EXPECT_ERRNO(fs_.Lookup("/a/missing/f"), ENOENT);
  EXPECT_ERRNO(fs_.Lookup("/a/b/f/x"), ENOTDIR);
  EXPECT_ERRNO(fs_.Lookup("/a/b/f/"), ENOTDIR);
  EXPECT_ERRNO(fs_.Lookup("/a/b/f/."), ENOTDIR);
  EXPECT_ERRNO(fs_.Lookup("/" + std::string(256, 'x')), ENAMETOOLONG);
  EXPECT_ERRNO(fs_.Lookup("/a/" + std::string(256, 'x') + "/b"), ENAMETOOLONG);
  // 255 bytes is a legal name that simply does not exist.
  EXPECT_ERRNO(fs_.Lookup("/" + std::string(255, 'x')), ENOENT);
  ASSERT_OK(fs_.Lookup("/a/b/"));
  ASSERT_OK(fs_.Lookup("/a/b//"));
}

TEST_F(VfsTest, MustBeDir) {
  EXPECT_ERRNO(Resolve(fs_.Ctx(), fs_.root(), "/a/b/f", ResolveOptions{true, true}), ENOTDIR);
  ASSERT_OK(Resolve(fs_.Ctx(), fs_.root(), "/a/b", ResolveOptions{true, true}));
}

TEST_F(VfsTest, Symlinks) {
  ASSERT_OK(fs_.Symlink("/a/b", "/abs"));
  ASSERT_OK(fs_.Symlink("b/f", "/a/rel"));
  ASSERT_OK(fs_.Symlink("../a/b/", "/a/dotdot"));
  ASSERT_OK(fs_.Symlink("/nowhere", "/dangling"));
  EXPECT_EQ(Ino("/abs/f"), Ino("/a/b/f"));
  EXPECT_EQ(Ino("/a/rel"), Ino("/a/b/f"));
  EXPECT_EQ(Ino("/a/dotdot/f"), Ino("/a/b/f"));
  EXPECT_EQ(Ino("/abs"), Ino("/a/b"));
  // Not following the final component gives the link itself.
  Stat st = ASSERT_OK_AND_GET(fs_.StatOf("/abs", /*follow=*/false));
  EXPECT_TRUE(S_ISLNK(st.mode));
  EXPECT_EQ(st.size, 4);
  // A trailing slash follows even when the final component would not be.
  Path p = ASSERT_OK_AND_GET(fs_.Lookup("/abs/", /*follow=*/false));
  EXPECT_TRUE(S_ISDIR(ASSERT_OK_AND_GET(p.dentry->inode()->GetStat()).mode));
  // A symlink to a file followed by a slash is not a directory.
  EXPECT_ERRNO(fs_.Lookup("/a/rel/"), ENOTDIR);
  EXPECT_ERRNO(fs_.Lookup("/a/rel/x"), ENOTDIR);
  EXPECT_ERRNO(fs_.Lookup("/dangling"), ENOENT);
  ASSERT_OK(fs_.Lookup("/dangling", /*follow=*/false));
}

TEST_F(VfsTest, SymlinkLoopsAndTheLimitOf40) {
  ASSERT_OK(fs_.Symlink("/loop2", "/loop1"));
  ASSERT_OK(fs_.Symlink("/loop1", "/loop2"));
  EXPECT_ERRNO(fs_.Lookup("/loop1"), ELOOP);
  EXPECT_ERRNO(fs_.Lookup("/loop1/x"), ELOOP);
  ASSERT_OK(fs_.Lookup("/loop1", /*follow=*/false));

  // l0 -> /a/b/f, and l{i} -> l{i-1}: following l{n} takes n + 1 links.
  ASSERT_OK(fs_.Symlink("/a/b/f", "/l0"));
  for (int i = 1; i <= 40; ++i) {
    ASSERT_OK(fs_.Symlink("l" + std::to_string(i - 1), "/l" + std::to_string(i)));
  }
  EXPECT_EQ(Ino("/l39"), Ino("/a/b/f"));  // 40 links
  EXPECT_ERRNO(fs_.Lookup("/l40"), ELOOP);  // 41 links
}

TEST_F(VfsTest, DotDotStopsAtTheRoot) {
  EXPECT_EQ(Ino("/.."), Ino("/"));
  EXPECT_EQ(Ino("/../../a/.."), Ino("/"));
  // With the walker's root at /a (chroot), ".." cannot climb out, and "/" means /a.
  Path a = ASSERT_OK_AND_GET(fs_.Lookup("/a"));
  ResolveContext ctx{&fs_.root_creds(), a, &fs_.ns()};
  Path b = ASSERT_OK_AND_GET(fs_.Lookup("/a/b"));
  EXPECT_EQ(ASSERT_OK_AND_GET(Resolve(ctx, b, "../../..")).dentry, a.dentry);
  EXPECT_EQ(ASSERT_OK_AND_GET(Resolve(ctx, b, "/")).dentry, a.dentry);
  EXPECT_EQ(ASSERT_OK_AND_GET(Resolve(ctx, b, "/b/f")).dentry,
            ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f")).dentry);
  // An absolute symlink is relative to the walker's root too.
  ASSERT_OK(fs_.Symlink("/b", "/a/inroot"));
  EXPECT_EQ(ASSERT_OK_AND_GET(Resolve(ctx, a, "inroot")).dentry, b.dentry);
  EXPECT_EQ(PathString(a, b), "/b");
}

TEST_F(VfsTest, Mounts) {
  ASSERT_OK(fs_.Mkdir("/mnt"));
  ASSERT_OK(fs_.WriteFile("/mnt/under", "hidden"));
  Path at = ASSERT_OK_AND_GET(fs_.Lookup("/mnt"));
  auto m = MakeRef<Mount>(fs_.ns().NextMountId(), "tmpfs", "none", NewTmpfs(0777, 0, 0, 0),
                          MountFlags{});
  ASSERT_OK(fs_.ns().AddMount(at, m));

  Path root2 = ASSERT_OK_AND_GET(fs_.Lookup("/mnt"));
  EXPECT_EQ(root2.mount, m);
  EXPECT_EQ(root2.dentry, m->root());
  EXPECT_ERRNO(fs_.Lookup("/mnt/under"), ENOENT);
  ASSERT_OK(fs_.Mkdir("/mnt/inner"));
  Path inner = ASSERT_OK_AND_GET(fs_.Lookup("/mnt/inner"));
  EXPECT_EQ(inner.mount, m);
  EXPECT_EQ(PathString(fs_.root(), inner), "/mnt/inner");

  // ".." from the mount's root goes to the mountpoint's parent in the parent mount.
  Path up = ASSERT_OK_AND_GET(fs_.Lookup("/mnt/.."));
  EXPECT_EQ(up, fs_.root());
  Path up2 = ASSERT_OK_AND_GET(fs_.Lookup("/mnt/inner/../../a"));
  EXPECT_EQ(up2.dentry, ASSERT_OK_AND_GET(fs_.Lookup("/a")).dentry);

  // A second mount on the same place stacks on top.
  auto m2 = MakeRef<Mount>(fs_.ns().NextMountId(), "tmpfs", "none", NewTmpfs(0777, 0, 0, 0),
                           MountFlags{});
  ASSERT_OK(fs_.ns().AddMount(root2, m2));
  Path top = ASSERT_OK_AND_GET(fs_.Lookup("/mnt"));
  EXPECT_EQ(top.mount, m2);
  EXPECT_ERRNO(fs_.Lookup("/mnt/inner"), ENOENT);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/mnt/..")), fs_.root());
  EXPECT_EQ(PathString(fs_.root(), top), "/mnt");
  EXPECT_EQ(fs_.ns().Mounts().size(), 3u);

  // Namespace operations across mounts.
  ASSERT_OK(fs_.WriteFile("/mnt/x", "x"));
  EXPECT_ERRNO(fs_.Rename("/mnt/x", "/a/x"), EXDEV);
  EXPECT_ERRNO(fs_.Rename("/mnt/x", "/a/b/f", RENAME_EXCHANGE), EXDEV);
  EXPECT_ERRNO(fs_.Rename("/a/b/f", "/mnt/x", RENAME_EXCHANGE), EXDEV);
  EXPECT_ERRNO(fs_.Link("/mnt/x", "/a/x"), EXDEV);
  EXPECT_ERRNO(fs_.Rmdir("/mnt"), EBUSY);
  EXPECT_ERRNO(fs_.Rename("/mnt", "/mnt2"), EBUSY);
  // A mountpoint cannot be exchanged either, on either side.
  EXPECT_ERRNO(fs_.Rename("/mnt", "/a", RENAME_EXCHANGE), EBUSY);
  EXPECT_ERRNO(fs_.Rename("/a", "/mnt", RENAME_EXCHANGE), EBUSY);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/mnt")).mount, m2);
}

TEST_F(VfsTest, FileBindMount) {
  ASSERT_OK(fs_.WriteFile("/hosts", "sandbox"));
  TestFs other(NewTmpfs(0755, 0, 0, 0));
  ASSERT_OK(other.WriteFile("/hosts", "bound"));
  Path src = ASSERT_OK_AND_GET(other.Lookup("/hosts"));
  Path at = ASSERT_OK_AND_GET(fs_.Lookup("/hosts"));
  auto m = MakeRef<Mount>(fs_.ns().NextMountId(), "bind", "", src.dentry, MountFlags{});
  ASSERT_OK(fs_.ns().AddMount(at, m));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/hosts")), "bound");
  EXPECT_EQ(PathString(fs_.root(), ASSERT_OK_AND_GET(fs_.Lookup("/hosts"))), "/hosts");
  EXPECT_ERRNO(fs_.Unlink("/hosts"), EBUSY);
  // A directory does not go on a file, nor a file on a directory.
  auto dir = MakeRef<Mount>(fs_.ns().NextMountId(), "tmpfs", "", NewTmpfs(0755, 0, 0, 0),
                            MountFlags{});
  EXPECT_ERRNO(fs_.ns().AddMount(ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f")), dir), ENOTDIR);
  auto file = MakeRef<Mount>(fs_.ns().NextMountId(), "bind", "", src.dentry, MountFlags{});
  EXPECT_ERRNO(fs_.ns().AddMount(ASSERT_OK_AND_GET(fs_.Lookup("/a")), file), ENOTDIR);
}

TEST_F(VfsTest, SearchPermission) {
  auto user = User(1000, 1000);
  ASSERT_OK(fs_.Mkdir("/priv", 0700));
  ASSERT_OK(fs_.WriteFile("/priv/f", "x"));
  ASSERT_OK(fs_.Mkdir("/searchonly", 0711));
  ASSERT_OK(fs_.WriteFile("/searchonly/f", "x"));
  ASSERT_OK(fs_.Mkdir("/readonly", 0744));
  ASSERT_OK(fs_.WriteFile("/readonly/f", "x"));

  EXPECT_ERRNO(fs_.Lookup("/priv/f", true, user.get()), EACCES);
  EXPECT_ERRNO(fs_.Lookup("/priv/missing", true, user.get()), EACCES);
  EXPECT_ERRNO(fs_.Lookup("/priv/.", true, user.get()), EACCES);
  ASSERT_OK(fs_.Lookup("/priv", true, user.get()));  // the directory itself is reachable
  ASSERT_OK(fs_.Lookup("/searchonly/f", true, user.get()));
  EXPECT_ERRNO(fs_.Lookup("/readonly/f", true, user.get()), EACCES);
  EXPECT_ERRNO(fs_.Parent("/priv/new", user.get()), EACCES);
  // Root passes through CAP_DAC_READ_SEARCH / CAP_DAC_OVERRIDE.
  ASSERT_OK(fs_.Lookup("/priv/f"));
  // A symlink into a directory the walker may not search fails there too.
  ASSERT_OK(fs_.Symlink("/priv/f", "/tolink"));
  EXPECT_ERRNO(fs_.Lookup("/tolink", true, user.get()), EACCES);
}

TEST(CheckPermissionTest, OwnerGroupOther) {
  Stat st;
  st.mode = S_IFREG | 0640;
  st.uid = 1000;
  st.gid = 100;
  auto owner = User(1000, 1000);
  auto member = User(2000, 100);
  auto other = User(3000, 3000);
  ASSERT_OK(CheckPermission(*owner, st, R_OK | W_OK));
  EXPECT_ERRNO(CheckPermission(*owner, st, X_OK), EACCES);
  ASSERT_OK(CheckPermission(*member, st, R_OK));
  EXPECT_ERRNO(CheckPermission(*member, st, W_OK), EACCES);
  EXPECT_ERRNO(CheckPermission(*other, st, R_OK), EACCES);
  // Supplementary groups count.
  auto supp = User(3000, 3000)->Copy();
  supp->groups = {100};
  ASSERT_OK(CheckPermission(*supp, st, R_OK));
  // The owner class is used even when it grants less than the others.
  st.mode = S_IFREG | 0077;
  EXPECT_ERRNO(CheckPermission(*owner, st, R_OK), EACCES);
  ASSERT_OK(CheckPermission(*other, st, R_OK));
  ASSERT_OK(CheckPermission(*owner, st, 0));
}

TEST(CheckPermissionTest, Capabilities) {
  auto root = Credentials::New(0, 0);
  Stat file;
  file.mode = S_IFREG | 0000;
  file.uid = 1000;
  ASSERT_OK(CheckPermission(*root, file, R_OK | W_OK));
  // Execution needs an x bit somewhere, even for root.
  EXPECT_ERRNO(CheckPermission(*root, file, X_OK), EACCES);
  file.mode = S_IFREG | 0001;
  ASSERT_OK(CheckPermission(*root, file, X_OK));
  Stat dir;
  dir.mode = S_IFDIR | 0000;
  dir.uid = 1000;
  ASSERT_OK(CheckPermission(*root, dir, R_OK | W_OK | X_OK));

  // CAP_DAC_READ_SEARCH alone: read files, read and search directories, nothing else.
  auto rs = User(2000, 2000)->Copy();
  rs->cap_effective = uint64_t{1} << CAP_DAC_READ_SEARCH;
  file.mode = S_IFREG | 0000;
  ASSERT_OK(CheckPermission(*rs, file, R_OK));
  EXPECT_ERRNO(CheckPermission(*rs, file, W_OK), EACCES);
  EXPECT_ERRNO(CheckPermission(*rs, file, R_OK | W_OK), EACCES);
  ASSERT_OK(CheckPermission(*rs, dir, R_OK | X_OK));
  EXPECT_ERRNO(CheckPermission(*rs, dir, W_OK | X_OK), EACCES);
}

TEST_F(VfsTest, ResolveParent) {
  ParentAndName pn = ASSERT_OK_AND_GET(fs_.Parent("/a/b/f"));
  EXPECT_EQ(pn.name, "f");
  EXPECT_FALSE(pn.trailing_slash);
  EXPECT_EQ(pn.parent.dentry, ASSERT_OK_AND_GET(fs_.Lookup("/a/b")).dentry);
  pn = ASSERT_OK_AND_GET(fs_.Parent("/a/newdir//"));
  EXPECT_EQ(pn.name, "newdir");
  EXPECT_TRUE(pn.trailing_slash);
  pn = ASSERT_OK_AND_GET(fs_.Parent("/"));
  EXPECT_EQ(pn.name, "");
  EXPECT_EQ(pn.parent, fs_.root());
  pn = ASSERT_OK_AND_GET(fs_.Parent("name"));
  EXPECT_EQ(pn.parent, fs_.root());
  EXPECT_EQ(pn.name, "name");
  pn = ASSERT_OK_AND_GET(fs_.Parent("/a/.."));
  EXPECT_EQ(pn.name, "..");
  EXPECT_ERRNO(fs_.Parent(""), ENOENT);
  EXPECT_ERRNO(fs_.Parent("/missing/x"), ENOENT);
  EXPECT_ERRNO(fs_.Parent("/a/b/f/x"), ENOTDIR);
  EXPECT_ERRNO(fs_.Parent("/a/" + std::string(256, 'n')), ENAMETOOLONG);
  // The parent part follows symlinks.
  ASSERT_OK(fs_.Symlink("/a/b", "/lb"));
  pn = ASSERT_OK_AND_GET(fs_.Parent("/lb/f"));
  EXPECT_EQ(pn.parent.dentry, ASSERT_OK_AND_GET(fs_.Lookup("/a/b")).dentry);
}

TEST_F(VfsTest, PathString) {
  EXPECT_EQ(PathString(fs_.root(), fs_.root()), "/");
  EXPECT_EQ(PathString(fs_.root(), ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f"))), "/a/b/f");
  Path f = ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f"));
  ASSERT_OK(fs_.Rename("/a/b", "/a/c"));
  EXPECT_EQ(PathString(fs_.root(), f), "/a/c/f");
  ASSERT_OK(fs_.Unlink("/a/c/f"));
  EXPECT_EQ(PathString(fs_.root(), f), "/a/c/f (deleted)");
}

// RENAME_EXCHANGE swaps the two dentries in the cache (Linux's d_exchange): each keeps its
// inode and children and takes the other's parent and name.
TEST_F(VfsTest, RenameExchangeSwapsDentries) {
  ASSERT_OK(fs_.WriteFile("/x", "x"));
  Path b = ASSERT_OK_AND_GET(fs_.Lookup("/a/b"));
  Path f = ASSERT_OK_AND_GET(fs_.Lookup("/a/b/f"));
  Path x = ASSERT_OK_AND_GET(fs_.Lookup("/x"));
  Path a = ASSERT_OK_AND_GET(fs_.Lookup("/a"));

  ASSERT_OK(fs_.Rename("/a/b", "/x", RENAME_EXCHANGE));
  EXPECT_EQ(b.dentry->parent(), fs_.root().dentry);
  EXPECT_EQ(b.dentry->name(), "x");
  EXPECT_EQ(x.dentry->parent(), a.dentry);
  EXPECT_EQ(x.dentry->name(), "b");
  EXPECT_EQ(fs_.root().dentry->CachedChild("x"), b.dentry);
  EXPECT_EQ(a.dentry->CachedChild("b"), x.dentry);
  EXPECT_FALSE(b.dentry->deleted());
  EXPECT_FALSE(x.dentry->deleted());
  // Lookups through the cache find the swapped dentries; the child stays with its directory.
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/x")).dentry, b.dentry);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/a/b")).dentry, x.dentry);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/x/f")).dentry, f.dentry);
  EXPECT_EQ(PathString(fs_.root(), f), "/x/f");
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.Lookup("/x/..")), fs_.root());
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/a/b")), "x");
  EXPECT_ERRNO(fs_.Lookup("/a/b/f"), ENOTDIR);

  // Two entries of one directory swap within it.
  ASSERT_OK(fs_.Rename("/x", "/a", RENAME_EXCHANGE));
  EXPECT_EQ(fs_.root().dentry->CachedChild("a"), b.dentry);
  EXPECT_EQ(fs_.root().dentry->CachedChild("x"), a.dentry);
  EXPECT_EQ(PathString(fs_.root(), f), "/a/f");
  EXPECT_EQ(PathString(fs_.root(), x), "/x/b");
  EXPECT_EQ(Ino("/a/f"), ASSERT_OK_AND_GET(f.dentry->inode()->GetStat()).ino);
}

TEST_F(VfsTest, OpenChecks) {
  auto user = User(1000, 1000);
  EXPECT_ERRNO(fs_.Open("/a", O_WRONLY), EISDIR);
  EXPECT_ERRNO(fs_.Open("/a", O_RDWR), EISDIR);
  EXPECT_ERRNO(fs_.Open("/a", O_RDONLY | O_TRUNC), EISDIR);
  EXPECT_ERRNO(fs_.Open("/a/b/f", O_RDONLY | O_DIRECTORY), ENOTDIR);
  ASSERT_OK(fs_.Open("/a", O_RDONLY | O_DIRECTORY));
  EXPECT_ERRNO(fs_.Open("/a/b/f", O_RDWR, 0, user.get()), EACCES);
  ASSERT_OK(fs_.Open("/a/b/f", O_RDONLY, 0, user.get()));
  // O_TRUNC needs write permission even with O_RDONLY.
  EXPECT_ERRNO(fs_.Open("/a/b/f", O_RDONLY | O_TRUNC, 0, user.get()), EACCES);

  ASSERT_OK(fs_.Symlink("/a/b/f", "/sl"));
  EXPECT_ERRNO(fs_.Open("/sl", O_RDONLY | O_NOFOLLOW), ELOOP);
  EXPECT_ERRNO(fs_.Open("/sl", O_RDONLY | O_NOFOLLOW | O_DIRECTORY), ENOTDIR);
  ASSERT_OK(fs_.Open("/sl", O_RDONLY));
  // O_PATH opens the link itself, without permission checks.
  RefPtr<FileDescription> pf = ASSERT_OK_AND_GET(fs_.Open("/sl", O_PATH | O_NOFOLLOW));
  EXPECT_FALSE(pf->readable());
  EXPECT_TRUE(S_ISLNK(ASSERT_OK_AND_GET(pf->GetStat()).mode));
  ASSERT_OK(fs_.Mkdir("/locked", 0000));
  ASSERT_OK(fs_.Open("/locked", O_PATH, 0, user.get()));
  EXPECT_ERRNO(fs_.Open("/locked", O_RDONLY, 0, user.get()), EACCES);

  // O_TRUNC empties the file.
  ASSERT_OK(fs_.Open("/a/b/f", O_WRONLY | O_TRUNC));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.StatOf("/a/b/f")).size, 0);
  // Flags that only matter to open are not kept.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/a/b/f", O_RDWR | O_TRUNC | O_CLOEXEC));
  EXPECT_EQ(f->flags(), O_RDWR);
  f->SetStatusFlags(O_APPEND | O_NONBLOCK | O_RDONLY);
  EXPECT_EQ(f->flags(), O_RDWR | O_APPEND | O_NONBLOCK);
}

TEST_F(VfsTest, ReadOnlyMount) {
  TestFs ro(NewTmpfs(0755, 0, 0, 0), MountFlags{.readonly = true});
  EXPECT_ERRNO(ro.Mkdir("/d"), EROFS);
  EXPECT_ERRNO(ro.Open("/f", O_WRONLY | O_CREAT), EROFS);
  EXPECT_ERRNO(ro.Open("/", O_RDONLY | O_CREAT), EISDIR);
  EXPECT_ERRNO(ro.Unlink("/x"), EROFS);
  EXPECT_ERRNO(ro.Rmdir("/x"), EROFS);
  EXPECT_ERRNO(ro.Rename("/x", "/y", RENAME_EXCHANGE), EROFS);
  ASSERT_OK(ro.Open("/", O_RDONLY));
}

TEST_F(VfsTest, OpenCreate) {
  auto user = User(1000, 1000);
  ASSERT_OK(fs_.Mkdir("/pub", 0777));
  // A file created read-only can still be opened for writing by the open that creates it.
  RefPtr<FileDescription> f =
      ASSERT_OK_AND_GET(fs_.Open("/pub/new", O_RDWR | O_CREAT, 0444, user.get()));
  EXPECT_TRUE(f->writable());
  Stat st = ASSERT_OK_AND_GET(fs_.StatOf("/pub/new"));
  EXPECT_EQ(st.mode, S_IFREG | 0444);
  EXPECT_EQ(st.uid, 1000u);
  EXPECT_EQ(st.gid, 1000u);
  EXPECT_ERRNO(fs_.Open("/pub/new", O_RDWR | O_CREAT, 0444, user.get()), EACCES);
  EXPECT_ERRNO(fs_.Open("/pub/new", O_RDONLY | O_CREAT | O_EXCL), EEXIST);
  EXPECT_ERRNO(fs_.Open("/pub/dir/", O_RDONLY | O_CREAT), EISDIR);
  EXPECT_ERRNO(fs_.Open("/pub", O_RDONLY | O_CREAT), EISDIR);
  EXPECT_ERRNO(fs_.Open("/a/new", O_RDWR | O_CREAT, 0644, user.get()), EACCES);
  EXPECT_ERRNO(fs_.Open("/missing/new", O_RDWR | O_CREAT), ENOENT);

  // O_CREAT through a dangling symlink creates its target; O_EXCL refuses the symlink.
  ASSERT_OK(fs_.Symlink("/pub/target", "/pub/dangling"));
  EXPECT_ERRNO(fs_.Open("/pub/dangling", O_WRONLY | O_CREAT | O_EXCL), EEXIST);
  ASSERT_OK(fs_.Open("/pub/dangling", O_WRONLY | O_CREAT));
  ASSERT_OK(fs_.Lookup("/pub/target"));
  EXPECT_ERRNO(fs_.Open("/pub/dangling", O_WRONLY | O_CREAT | O_NOFOLLOW), ELOOP);
}

TEST_F(VfsTest, ReadDirOffsetsAndRewind) {
  ASSERT_OK(fs_.WriteFile("/a/b/g", ""));
  RefPtr<FileDescription> d = ASSERT_OK_AND_GET(fs_.Open("/a/b", O_RDONLY | O_DIRECTORY));
  std::vector<std::pair<DirEntry, int64_t>> got;
  ASSERT_OK(d->ReadDir([&](const DirEntry& e, int64_t next) {
    got.emplace_back(e, next);
    return true;
  }));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].first.name, ".");
  EXPECT_EQ(got[0].first.ino, Ino("/a/b"));
  EXPECT_EQ(got[0].first.type, DT_DIR);
  EXPECT_EQ(got[1].first.name, "..");
  EXPECT_EQ(got[1].first.ino, Ino("/a"));
  EXPECT_EQ(got[2].first.name, "f");
  EXPECT_EQ(got[2].first.type, DT_REG);
  EXPECT_EQ(got[2].first.ino, Ino("/a/b/f"));
  EXPECT_EQ(got[3].first.name, "g");
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].second, static_cast<int64_t>(i + 1));

  // A full buffer leaves the entry for the next call.
  ASSERT_OK(d->Seek(0, SEEK_SET));
  int calls = 0;
  ASSERT_OK(d->ReadDir([&](const DirEntry&, int64_t) { return ++calls <= 2; }));
  std::vector<std::string> rest;
  ASSERT_OK(d->ReadDir([&](const DirEntry& e, int64_t) {
    rest.push_back(e.name);
    return true;
  }));
  EXPECT_EQ(rest, (std::vector<std::string>{"f", "g"}));

  // seekdir to a remembered offset; rewinding sees new entries.
  ASSERT_OK(d->Seek(got[2].second, SEEK_SET));
  rest.clear();
  ASSERT_OK(d->ReadDir([&](const DirEntry& e, int64_t) {
    rest.push_back(e.name);
    return true;
  }));
  EXPECT_EQ(rest, std::vector<std::string>{"g"});
  ASSERT_OK(fs_.WriteFile("/a/b/h", ""));
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.List("/a/b")),
            (std::vector<std::string>{".", "..", "f", "g", "h"}));
  EXPECT_ERRNO(d->Seek(-1, SEEK_SET), EINVAL);
  EXPECT_ERRNO(d->Seek(0, SEEK_END), EINVAL);

  // A removed directory cannot be read.
  ASSERT_OK(fs_.Mkdir("/gone"));
  RefPtr<FileDescription> g = ASSERT_OK_AND_GET(fs_.Open("/gone", O_RDONLY));
  ASSERT_OK(fs_.Rmdir("/gone"));
  EXPECT_ERRNO(g->ReadDir([](const DirEntry&, int64_t) { return true; }), ENOENT);
  // Regular files are not directories.
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/a/b/f", O_RDONLY));
  EXPECT_ERRNO(f->ReadDir([](const DirEntry&, int64_t) { return true; }), ENOTDIR);
}

TEST_F(VfsTest, SeekableFile) {
  ASSERT_OK(fs_.WriteFile("/s", "0123456789"));
  RefPtr<FileDescription> f = ASSERT_OK_AND_GET(fs_.Open("/s", O_RDWR));
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(3, SEEK_SET)), 3);
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(2, SEEK_CUR)), 5);
  EXPECT_EQ(ASSERT_OK_AND_GET(TestFs::ReadAll(*f)), "56789");
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(-2, SEEK_END)), 8);
  EXPECT_ERRNO(f->Seek(-11, SEEK_END), EINVAL);
  EXPECT_ERRNO(f->Seek(1, 42), EINVAL);
  EXPECT_ERRNO(f->Seek(INT64_MAX, SEEK_CUR), EINVAL);
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(4, SEEK_DATA)), 4);
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(4, SEEK_HOLE)), 10);
  EXPECT_ERRNO(f->Seek(10, SEEK_DATA), ENXIO);
  EXPECT_ERRNO(f->Seek(-1, SEEK_HOLE), ENXIO);
  // Seeking past the end is allowed; writing there leaves a hole of zeros.
  EXPECT_EQ(ASSERT_OK_AND_GET(f->Seek(12, SEEK_SET)), 12);
  ASSERT_EQ(ASSERT_OK_AND_GET(TestFs::Write(*f, "x")), 1u);
  EXPECT_EQ(ASSERT_OK_AND_GET(fs_.ReadFile("/s")), std::string("0123456789\0\0x", 13));
}

TEST_F(VfsTest, FsContext) {
  Path a = ASSERT_OK_AND_GET(fs_.Lookup("/a"));
  auto ctx = MakeRef<FsContext>(fs_.root(), a);
  EXPECT_EQ(ctx->exchange_umask(0777 | 01000), 022u);
  EXPECT_EQ(ctx->umask(), 0777u);
  RefPtr<FsContext> clone = ctx->Clone();
  clone->set_cwd(fs_.root());
  EXPECT_EQ(ctx->cwd(), a);
  EXPECT_EQ(clone->cwd(), fs_.root());
  EXPECT_EQ(clone->umask(), 0777u);
}

TEST(VfsHelpersTest, DirentTypes) {
  EXPECT_EQ(ModeToDirentType(S_IFREG | 0644), DT_REG);
  EXPECT_EQ(ModeToDirentType(S_IFDIR), DT_DIR);
  EXPECT_EQ(ModeToDirentType(S_IFLNK), DT_LNK);
  EXPECT_EQ(ModeToDirentType(S_IFCHR), DT_CHR);
  EXPECT_EQ(ModeToDirentType(S_IFBLK), DT_BLK);
  EXPECT_EQ(ModeToDirentType(S_IFIFO), DT_FIFO);
  EXPECT_EQ(ModeToDirentType(S_IFSOCK), DT_SOCK);
  EXPECT_NE(NewAnonDev(), NewAnonDev());
}

}  // namespace
}  // namespace moat::vfs
