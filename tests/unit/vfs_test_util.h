// Helpers for the VFS and filesystem unit tests: a mount namespace around a root dentry, path
// shortcuts over the VFS entry points, and host temporary directories.
#ifndef MOAT_TESTS_UNIT_VFS_TEST_UTIL_H_
#define MOAT_TESTS_UNIT_VFS_TEST_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs::testing {

// The filesystems under test never use the Task argument of their I/O methods (only pipes and
// terminals block or touch application memory), and a Task cannot exist without a kernel. Tests
// pass this placeholder, which refers to no Task and must never be used as one.
inline Task& NoTask() {
  alignas(64) static char placeholder[64];
  return *reinterpret_cast<Task*>(placeholder);
}

// Expects `r` to have failed with `err`.
#define EXPECT_ERRNO(r, err)                                                   \
  do {                                                                         \
    auto&& r_ = (r);                                                           \
    ASSERT_FALSE(r_.ok()) << "expected " << ::moat::Errno(err).Name();         \
    EXPECT_EQ(r_.error().value(), (err))                                       \
        << "got " << r_.error().Name() << ", want " << ::moat::Errno(err).Name(); \
  } while (0)

// Evaluates a Result and yields its value; an error fails the test (by an exception, which
// gtest reports and which ends the test).
#define ASSERT_OK_AND_GET(r)                                                        \
  ({                                                                                \
    auto&& r_ = (r);                                                                \
    if (!r_.ok()) throw std::runtime_error(std::string(#r) + ": " + r_.error().Name()); \
    std::move(r_).value();                                                          \
  })

#define ASSERT_OK(r)                                                  \
  do {                                                                \
    auto&& r_ = (r);                                                  \
    ASSERT_TRUE(r_.ok()) << #r << ": " << r_.error().Name();          \
  } while (0)

// A mount namespace whose root mount is `root`, and path shortcuts that go through the public
// VFS entry points with root credentials unless told otherwise.
class TestFs {
 public:
  explicit TestFs(RefPtr<Dentry> root, MountFlags flags = {}, std::string fstype = "tmpfs")
      : root_creds_(Credentials::New(0, 0)) {
    ns_ = MakeRef<MountNamespace>(MakeRef<Mount>(1, std::move(fstype), "none", root, flags));
    root_ = ns_->Root();
  }

  const Path& root() const { return root_; }
  MountNamespace& ns() { return *ns_; }
  const Credentials& root_creds() const { return *root_creds_; }

  ResolveContext Ctx(const Credentials* c = nullptr) const {
    return ResolveContext{c ? c : root_creds_.get(), root_, ns_.get()};
  }

  Result<Path> Lookup(std::string_view path, bool follow = true,
                      const Credentials* c = nullptr) const {
    return Resolve(Ctx(c), root_, path, ResolveOptions{follow, false});
  }
  Result<ParentAndName> Parent(std::string_view path, const Credentials* c = nullptr) const {
    return ResolveParent(Ctx(c), root_, path);
  }
  Result<Path> Mkdir(std::string_view path, uint32_t mode = 0755,
                     const Credentials* c = nullptr) const {
    ParentAndName at = TRY(Parent(path, c));
    return MakeDirAt(Ctx(c), at, mode);
  }
  Result<Path> Mknod(std::string_view path, uint32_t mode, uint64_t rdev = 0,
                     const Credentials* c = nullptr) const {
    ParentAndName at = TRY(Parent(path, c));
    return MakeNodeAt(Ctx(c), at, mode, rdev);
  }
  Result<Path> Symlink(std::string_view target, std::string_view path,
                       const Credentials* c = nullptr) const {
    ParentAndName at = TRY(Parent(path, c));
    return SymlinkAt(Ctx(c), at, target);
  }
  Result<void> Link(std::string_view old_path, std::string_view new_path,
                    const Credentials* c = nullptr) const {
    Path old = TRY(Lookup(old_path, false, c));
    ParentAndName at = TRY(Parent(new_path, c));
    return LinkAt(Ctx(c), old, at);
  }
  Result<void> Unlink(std::string_view path, const Credentials* c = nullptr) const {
    ParentAndName at = TRY(Parent(path, c));
    return UnlinkAt(Ctx(c), at);
  }
  Result<void> Rmdir(std::string_view path, const Credentials* c = nullptr) const {
    ParentAndName at = TRY(Parent(path, c));
    return RemoveDirAt(Ctx(c), at);
  }
  Result<void> Rename(std::string_view from, std::string_view to, unsigned flags = 0,
                      const Credentials* c = nullptr) const {
    ParentAndName f = TRY(Parent(from, c));
    ParentAndName t = TRY(Parent(to, c));
    return RenameAt(Ctx(c), f, t, flags);
  }
  Result<RefPtr<FileDescription>> Open(std::string_view path, int flags, uint32_t mode = 0644,
                                       const Credentials* c = nullptr) const {
    return OpenAt(Ctx(c), root_, path, flags, mode);
  }
  Result<Stat> StatOf(std::string_view path, bool follow = true) const {
    Path p = TRY(Lookup(path, follow));
    return p.dentry->inode()->GetStat();
  }
  // Creates `path` holding `data`.
  Result<void> WriteFile(std::string_view path, std::string_view data, uint32_t mode = 0644) {
    RefPtr<FileDescription> f = TRY(Open(path, O_WRONLY | O_CREAT | O_TRUNC, mode));
    size_t n = TRY(f->Write(NoTask(), std::span<const uint8_t>(
                                          reinterpret_cast<const uint8_t*>(data.data()),
                                          data.size())));
    if (n != data.size()) return Errno(EIO);
    return Ok();
  }
  Result<std::string> ReadFile(std::string_view path) const {
    RefPtr<FileDescription> f = TRY(Open(path, O_RDONLY));
    return ReadAll(*f);
  }
  static Result<std::string> ReadAll(FileDescription& f) {
    std::string out;
    uint8_t buf[4096];
    for (;;) {
      size_t n = TRY(f.Read(NoTask(), std::span<uint8_t>(buf, sizeof(buf))));
      if (n == 0) return out;
      out.append(reinterpret_cast<char*>(buf), n);
    }
  }
  static Result<size_t> Write(FileDescription& f, std::string_view data) {
    return f.Write(NoTask(), std::span<const uint8_t>(
                                 reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // The names a getdents of `path` returns, in order.
  Result<std::vector<std::string>> List(std::string_view path) const {
    RefPtr<FileDescription> f = TRY(Open(path, O_RDONLY | O_DIRECTORY));
    std::vector<std::string> names;
    RETURN_IF_ERRNO(f->ReadDir([&](const DirEntry& e, int64_t) {
      names.push_back(e.name);
      return true;
    }));
    return names;
  }

 private:
  RefPtr<Credentials> root_creds_;
  RefPtr<MountNamespace> ns_;
  Path root_;
};

// A non-root identity: uid/gid with no capabilities.
inline RefPtr<Credentials> User(uid_t uid, gid_t gid) { return Credentials::New(uid, gid); }

// A host temporary directory, removed with everything in it at destruction.
class HostTempDir {
 public:
  HostTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "moat_vfs_test_XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) std::abort();
    path_ = p;
  }
  ~HostTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

  void WriteFile(std::string_view rel, std::string_view data, mode_t mode = 0644) const {
    std::string p = *this / rel;
    std::ofstream(p, std::ios::binary) << data;
    chmod(p.c_str(), mode);
  }
  void Mkdir(std::string_view rel, mode_t mode = 0755) const {
    mkdir((*this / rel).c_str(), mode);
  }
  void Symlink(std::string_view target, std::string_view rel) const {
    if (symlink(std::string(target).c_str(), (*this / rel).c_str()) != 0) std::abort();
  }

  // Everything about the tree that a write could change: names, types, modes, sizes, contents,
  // link targets, mtimes and inode numbers.
  std::string Snapshot() const {
    std::vector<std::string> lines;
    struct stat root;
    lstat(path_.c_str(), &root);
    lines.push_back("/ mode=" + std::to_string(root.st_mode) +
                    " mtime=" + std::to_string(root.st_mtim.tv_sec) + "." +
                    std::to_string(root.st_mtim.tv_nsec));
    for (auto it = std::filesystem::recursive_directory_iterator(path_);
         it != std::filesystem::recursive_directory_iterator(); ++it) {
      const std::string p = it->path().string();
      struct stat st;
      lstat(p.c_str(), &st);
      std::ostringstream line;
      line << p.substr(path_.size()) << " mode=" << std::oct << st.st_mode << std::dec
           << " size=" << st.st_size << " ino=" << st.st_ino << " nlink=" << st.st_nlink
           << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " uid=" << st.st_uid;
      if (S_ISLNK(st.st_mode)) {
        line << " -> " << std::filesystem::read_symlink(it->path()).string();
      } else if (S_ISREG(st.st_mode)) {
        std::ifstream in(p, std::ios::binary);
        line << " data=" << std::string(std::istreambuf_iterator<char>(in), {});
      }
      lines.push_back(line.str());
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
  }

 private:
  std::string path_;
};

}  // namespace moat::vfs::testing

#endif  // MOAT_TESTS_UNIT_VFS_TEST_UTIL_H_
