// Conformance tests for directory listing and file attributes: getdents64
// (positions, lseek to a d_off, rewinding, d_type, small buffers, errors),
// statx (masks, flags, fields against fstat), utimensat and futimens
// (UTIME_NOW, UTIME_OMIT, nanoseconds, symlinks, errors), and the timestamps
// that reads, writes and namespace changes update.
//
// Writable files live in a fresh directory under /tmp.

#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

class DirTest : public ::testing::Test {
 protected:
  void SetUp() override { old_umask_ = umask(022); }
  void TearDown() override { umask(old_umask_); }

  std::string P(const std::string& name) const { return dir_.Join(name); }
  void MakeFile(const std::string& name, const std::string& contents = "") {
    ASSERT_TRUE(CreateFileWithContents(P(name), contents)) << name;
  }
  void MakeDir(const std::string& name) {
    ASSERT_THAT(mkdir(P(name).c_str(), 0755), SyscallSucceeds()) << name;
  }
  struct stat StatOf(const std::string& name) {
    struct stat st = {};
    EXPECT_THAT(lstat(P(name).c_str(), &st), SyscallSucceeds()) << name;
    return st;
  }

  TempDir dir_;
  mode_t old_umask_ = 0;
};

struct Entry {
  std::string name;
  ino64_t ino;
  off64_t off;
  unsigned char type;
  unsigned short reclen;
};

// Parses one getdents64 buffer.
std::vector<Entry> Parse(const char* buf, long n) {
  std::vector<Entry> out;
  for (long pos = 0; pos < n;) {
    auto* d = reinterpret_cast<const struct dirent64*>(buf + pos);
    out.push_back(Entry{d->d_name, d->d_ino, d->d_off, d->d_type, d->d_reclen});
    pos += d->d_reclen;
  }
  return out;
}

// Reads the rest of a directory with a buffer of `size` bytes.
std::vector<Entry> ReadRest(int fd, size_t size = 4096) {
  std::vector<Entry> all;
  std::vector<char> buf(size);
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    if (n < 0) {
      ADD_FAILURE() << "getdents64: " << ErrnoString(errno);
      break;
    }
    if (n == 0) break;
    for (Entry& e : Parse(buf.data(), n)) all.push_back(std::move(e));
  }
  return all;
}

std::set<std::string> Names(const std::vector<Entry>& entries) {
  std::set<std::string> out;
  for (const Entry& e : entries) EXPECT_TRUE(out.insert(e.name).second) << "twice: " << e.name;
  return out;
}

// The size of a dirent64 record for a name of `len` bytes.
size_t RecordSize(size_t len) { return (offsetof(struct dirent64, d_name) + len + 1 + 7) & ~7; }

// ---------------------------------------------------------------------------
// getdents64

TEST_F(DirTest, DotsAndTypes) {
  MakeFile("reg");
  MakeDir("dir");
  ASSERT_THAT(symlink("reg", P("lnk").c_str()), SyscallSucceeds());
  ASSERT_THAT(mkfifo(P("fifo").c_str(), 0644), SyscallSucceeds());
  ASSERT_THAT(mknod(P("chr").c_str(), S_IFCHR | 0644, makedev(1, 3)), SyscallSucceeds());
  ASSERT_THAT(mknod(P("sock").c_str(), S_IFSOCK | 0644, 0), SyscallSucceeds());
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  std::map<std::string, Entry> by_name;
  for (Entry& e : ReadRest(fd.get())) by_name.emplace(e.name, e);
  std::map<std::string, unsigned char> want = {
      {".", DT_DIR},  {"..", DT_DIR},   {"reg", DT_REG}, {"dir", DT_DIR},
      {"lnk", DT_LNK}, {"fifo", DT_FIFO}, {"chr", DT_CHR}, {"sock", DT_SOCK}};
  ASSERT_EQ(by_name.size(), want.size());
  for (auto& [name, type] : want) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_EQ(by_name[name].type, type) << name;
    EXPECT_EQ(by_name[name].reclen, RecordSize(name.size())) << name;
  }
  // d_ino matches st_ino, for the dots too.
  struct stat self, parent;
  ASSERT_THAT(stat(dir_.path().c_str(), &self), SyscallSucceeds());
  ASSERT_THAT(stat((dir_.path() + "/..").c_str(), &parent), SyscallSucceeds());
  EXPECT_EQ(by_name["."].ino, self.st_ino);
  EXPECT_EQ(by_name[".."].ino, parent.st_ino);
  EXPECT_EQ(by_name["reg"].ino, StatOf("reg").st_ino);
  EXPECT_EQ(by_name["dir"].ino, StatOf("dir").st_ino);
  EXPECT_EQ(by_name["lnk"].ino, StatOf("lnk").st_ino);
}

TEST_F(DirTest, EmptyDirectoryHasOnlyDots) {
  MakeDir("empty");
  FileDescriptor fd(open(P("empty").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(Names(ReadRest(fd.get())), (std::set<std::string>{".", ".."}));
  char buf[256];
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  // A subdirectory's ".." is its parent.
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  struct stat parent;
  ASSERT_THAT(stat(dir_.path().c_str(), &parent), SyscallSucceeds());
  for (const Entry& e : ReadRest(fd.get())) {
    if (e.name == "..") {
      EXPECT_EQ(e.ino, parent.st_ino);
    } else {
      EXPECT_EQ(e.ino, StatOf("empty").st_ino);
    }
  }
}

TEST_F(DirTest, SeekToDoffResumes) {
  for (int i = 0; i < 40; i++) MakeFile("file" + std::to_string(i));
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  std::vector<Entry> all = ReadRest(fd.get());
  ASSERT_EQ(all.size(), 42u);
  // Resuming at any entry's d_off lists exactly the entries after it.
  for (size_t i : {size_t{0}, size_t{1}, size_t{2}, size_t{17}, size_t{40}, size_t{41}}) {
    ASSERT_THAT(lseek(fd.get(), all[i].off, SEEK_SET), SyscallSucceedsWithValue(all[i].off));
    std::vector<Entry> rest = ReadRest(fd.get());
    ASSERT_EQ(rest.size(), all.size() - i - 1) << "after " << i;
    for (size_t j = 0; j < rest.size(); j++) {
      EXPECT_EQ(rest[j].name, all[i + 1 + j].name);
      EXPECT_EQ(rest[j].off, all[i + 1 + j].off);
    }
  }
  // The position after a partial read is the last returned entry's d_off.
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceedsWithValue(0));
  char buf[RecordSize(6) * 3];
  long n = syscall(SYS_getdents64, fd.get(), buf, sizeof(buf));
  ASSERT_GT(n, 0);
  std::vector<Entry> first = Parse(buf, n);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), first.back().off);
  // Reading on from there continues where the partial read stopped.
  std::vector<Entry> rest = ReadRest(fd.get());
  EXPECT_EQ(first.size() + rest.size(), all.size());
  if (!rest.empty()) {
    EXPECT_EQ(rest.front().name, all[first.size()].name);
  }
}

TEST_F(DirTest, SmallBuffers) {
  MakeFile(std::string(200, 'x'));
  MakeFile("a");
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  char buf[1024];
  // Too small for any entry: EINVAL, and nothing is consumed.
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, RecordSize(1) - 1),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, 0), SyscallFailsWithErrno(EINVAL));
  // One entry at a time, with a buffer that fits exactly one short name.
  std::set<std::string> seen;
  bool long_failed = false;
  for (int i = 0; i < 10; i++) {
    long n = syscall(SYS_getdents64, fd.get(), buf, RecordSize(2));
    if (n == -1) {
      // The long name does not fit: EINVAL, not a silent skip.
      EXPECT_EQ(errno, EINVAL);
      long_failed = true;
      n = syscall(SYS_getdents64, fd.get(), buf, sizeof(buf));
      ASSERT_GT(n, 0) << ErrnoString(errno);
      std::vector<Entry> got = Parse(buf, n);
      ASSERT_EQ(got.front().name, std::string(200, 'x'));
      for (const Entry& e : got) seen.insert(e.name);
      continue;
    }
    if (n == 0) break;
    std::vector<Entry> got = Parse(buf, n);
    ASSERT_EQ(got.size(), 1u);
    seen.insert(got[0].name);
  }
  EXPECT_TRUE(long_failed);
  EXPECT_EQ(seen, (std::set<std::string>{".", "..", "a", std::string(200, 'x')}));
}

TEST_F(DirTest, RewindSeesNewEntries) {
  MakeFile("old");
  FileDescriptor fd(open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(Names(ReadRest(fd.get())), (std::set<std::string>{".", "..", "old"}));
  MakeFile("new");
  ASSERT_THAT(unlink(P("old").c_str()), SyscallSucceeds());
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  EXPECT_EQ(Names(ReadRest(fd.get())), (std::set<std::string>{".", "..", "new"}));
  // rewinddir does the same through the C library.
  DIR* d = opendir(dir_.path().c_str());
  ASSERT_NE(d, nullptr);
  std::set<std::string> names;
  while (struct dirent* e = readdir(d)) names.insert(e->d_name);
  MakeFile("newer");
  rewinddir(d);
  names.clear();
  while (struct dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  EXPECT_EQ(names, (std::set<std::string>{".", "..", "new", "newer"}));
}

TEST_F(DirTest, Errors) {
  MakeFile("f");
  MakeDir("d");
  char buf[512];
  FileDescriptor file(open(P("f").c_str(), O_RDONLY));
  ASSERT_TRUE(file.valid());
  EXPECT_THAT(syscall(SYS_getdents64, file.get(), buf, sizeof(buf)),
              SyscallFailsWithErrno(ENOTDIR));
  FileDescriptor path(open(P("d").c_str(), O_PATH));
  ASSERT_TRUE(path.valid());
  EXPECT_THAT(syscall(SYS_getdents64, path.get(), buf, sizeof(buf)),
              SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(syscall(SYS_getdents64, -1, buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  FileDescriptor dir(open(P("d").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dir.valid());
  EXPECT_THAT(syscall(SYS_getdents64, dir.get(), nullptr, sizeof(buf)),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_getdents64, dir.get(), buf, sizeof(buf)), SyscallSucceeds());
  // A removed directory lists nothing, not even the dots.
  FileDescriptor gone(open(P("d").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(rmdir(P("d").c_str()), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_getdents64, gone.get(), buf, sizeof(buf)),
              SyscallFailsWithErrno(ENOENT));
  // A pipe is no directory either.
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_getdents64, p[0], buf, sizeof(buf)), SyscallFailsWithErrno(ENOTDIR));
  close(p[0]);
  close(p[1]);
}

TEST_F(DirTest, ReadOnlyRootListing) {
  // The host root's /etc lists through the gofer like any directory.
  FileDescriptor fd(open("/etc", O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(fd.valid());
  std::vector<Entry> all = ReadRest(fd.get());
  std::set<std::string> names = Names(all);
  EXPECT_TRUE(names.count("."));
  EXPECT_TRUE(names.count(".."));
  EXPECT_TRUE(names.count("passwd"));
  for (const Entry& e : all) {
    if (e.name == "passwd") {
      EXPECT_EQ(e.type, DT_REG);
      struct stat st;
      ASSERT_THAT(stat("/etc/passwd", &st), SyscallSucceeds());
      EXPECT_EQ(e.ino, st.st_ino);
    }
  }
}

TEST_F(DirTest, ListingsAgreeWithLstat) {
  // The host root (through the gofer and the overlay) and a merged directory: every name once,
  // with the inode number and type lstat reports. Mountpoints show the covered directory's
  // inode, and names may vanish meanwhile in the shared /tmp.
  MakeFile("f");
  for (std::string dir : {"/", "/etc", "/usr/bin", "/tmp", dir_.path().c_str()}) {
    SCOPED_TRACE(dir);
    FileDescriptor fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(fd.valid());
    struct stat dir_st;
    ASSERT_THAT(fstat(fd.get(), &dir_st), SyscallSucceeds());
    std::vector<Entry> all = ReadRest(fd.get(), 1024);
    std::set<std::string> names = Names(all);
    EXPECT_TRUE(names.count(".") && names.count(".."));
    int checked = 0;
    for (const Entry& e : all) {
      if (e.name == "." || e.name == "..") continue;
      struct stat st;
      if (fstatat(fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        EXPECT_EQ(errno, ENOENT) << e.name;
        continue;
      }
      if (st.st_dev != dir_st.st_dev) continue;
      EXPECT_EQ(e.ino, st.st_ino) << e.name;
      EXPECT_EQ(e.type, IFTODT(st.st_mode)) << e.name;
      checked++;
    }
    EXPECT_GT(checked, 0);
    // Resuming from the middle of a large listing gives the same tail (not in /tmp, where
    // other programs come and go).
    if (all.size() > 4 && dir != "/tmp") {
      size_t mid = all.size() / 2;
      ASSERT_THAT(lseek(fd.get(), all[mid].off, SEEK_SET), SyscallSucceeds());
      std::vector<Entry> rest = ReadRest(fd.get(), 1024);
      ASSERT_EQ(rest.size(), all.size() - mid - 1);
      if (!rest.empty()) {
        EXPECT_EQ(rest.front().name, all[mid + 1].name);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// statx

void ExpectSameAsStat(const struct statx& x, const struct stat& st) {
  EXPECT_EQ(x.stx_mode, st.st_mode);
  EXPECT_EQ(x.stx_nlink, st.st_nlink);
  EXPECT_EQ(x.stx_uid, st.st_uid);
  EXPECT_EQ(x.stx_gid, st.st_gid);
  EXPECT_EQ(x.stx_size, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(x.stx_blocks, static_cast<uint64_t>(st.st_blocks));
  EXPECT_EQ(x.stx_blksize, static_cast<uint32_t>(st.st_blksize));
  EXPECT_EQ(x.stx_ino, st.st_ino);
  EXPECT_EQ(makedev(x.stx_dev_major, x.stx_dev_minor), st.st_dev);
  EXPECT_EQ(makedev(x.stx_rdev_major, x.stx_rdev_minor), st.st_rdev);
  EXPECT_EQ(x.stx_atime.tv_sec, st.st_atim.tv_sec);
  EXPECT_EQ(x.stx_atime.tv_nsec, static_cast<uint32_t>(st.st_atim.tv_nsec));
  EXPECT_EQ(x.stx_mtime.tv_sec, st.st_mtim.tv_sec);
  EXPECT_EQ(x.stx_mtime.tv_nsec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
  EXPECT_EQ(x.stx_ctime.tv_sec, st.st_ctim.tv_sec);
  EXPECT_EQ(x.stx_ctime.tv_nsec, static_cast<uint32_t>(st.st_ctim.tv_nsec));
}

TEST_F(DirTest, StatxMatchesFstat) {
  MakeFile("f", "some bytes");
  MakeDir("d");
  ASSERT_THAT(symlink("f", P("l").c_str()), SyscallSucceeds());
  for (const std::string& path :
       {P("f"), P("d"), std::string("/dev/null"), std::string("/etc/passwd"),
        std::string("/bin/sh"), dir_.path()}) {
    SCOPED_TRACE(path);
    struct statx x;
    memset(&x, 0xff, sizeof(x));
    ASSERT_THAT(statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &x), SyscallSucceeds());
    EXPECT_EQ(x.stx_mask & STATX_BASIC_STATS, static_cast<uint32_t>(STATX_BASIC_STATS));
    struct stat st;
    ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
    ExpectSameAsStat(x, st);
    // Through a descriptor.
    FileDescriptor fd(open(path.c_str(), O_RDONLY));
    ASSERT_TRUE(fd.valid());
    struct statx y;
    ASSERT_THAT(statx(fd.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS, &y), SyscallSucceeds());
    ExpectSameAsStat(y, st);
    // The birth time, where the mask claims it, is no later than the change time.
    if (x.stx_mask & STATX_BTIME) {
      EXPECT_TRUE(x.stx_btime.tv_sec < x.stx_ctime.tv_sec ||
                  (x.stx_btime.tv_sec == x.stx_ctime.tv_sec &&
                   x.stx_btime.tv_nsec <= x.stx_ctime.tv_nsec));
      EXPECT_NE(x.stx_btime.tv_sec, 0);
    }
  }
  struct statx x;
  ASSERT_THAT(statx(AT_FDCWD, P("l").c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &x),
              SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(x.stx_mode));
  EXPECT_EQ(x.stx_size, 1u);
  ASSERT_THAT(statx(AT_FDCWD, P("l").c_str(), 0, STATX_BASIC_STATS, &x), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(x.stx_mode));
  EXPECT_EQ(x.stx_size, 10u);
  ASSERT_THAT(statx(AT_FDCWD, "/dev/null", 0, STATX_BASIC_STATS, &x), SyscallSucceeds());
  EXPECT_EQ(x.stx_rdev_major, 1u);
  EXPECT_EQ(x.stx_rdev_minor, 3u);
}

TEST_F(DirTest, StatxMaskAndFlags) {
  MakeFile("f", "x");
  struct statx x;
  // Whatever is asked, the basic fields come back and the mask has at least the
  // basic fields asked for (Linux may report more, or leave out the times
  // nobody asked for); an empty mask is fine.
  for (unsigned mask : {0u, unsigned{STATX_TYPE}, unsigned{STATX_SIZE | STATX_MTIME},
                        unsigned{STATX_ALL}, unsigned{STATX_BASIC_STATS | STATX_BTIME}}) {
    ASSERT_THAT(statx(AT_FDCWD, P("f").c_str(), 0, mask, &x), SyscallSucceeds()) << mask;
    EXPECT_TRUE(S_ISREG(x.stx_mode));
    EXPECT_EQ(x.stx_size, 1u);
    const unsigned basic = mask & STATX_BASIC_STATS;
    EXPECT_EQ(x.stx_mask & basic, basic) << mask;
    EXPECT_EQ(x.stx_mask & (STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE),
              static_cast<uint32_t>(STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE));
  }
  // The sync flags are accepted, alone.
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &x),
              SyscallSucceeds());
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &x),
              SyscallSucceeds());
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, &x),
              SyscallSucceeds());
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
                    STATX_BASIC_STATS, &x),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), 0x10000000, STATX_BASIC_STATS, &x),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(statx(AT_FDCWD, P("f").c_str(), 0, STATX__RESERVED, &x),
              SyscallFailsWithErrno(EINVAL));
  // The flag and mask checks come before the path is looked at.
  EXPECT_THAT(statx(AT_FDCWD, P("missing").c_str(), 0, STATX__RESERVED, &x),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(statx(AT_FDCWD, P("missing").c_str(), 0, STATX_BASIC_STATS, &x),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(syscall(SYS_statx, AT_FDCWD, P("f").c_str(), 0, STATX_BASIC_STATS, nullptr),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(statx(-1, "f", 0, STATX_BASIC_STATS, &x), SyscallFailsWithErrno(EBADF));
  // An empty path with AT_EMPTY_PATH and AT_FDCWD is the working directory.
  struct stat cwd;
  ASSERT_THAT(stat(".", &cwd), SyscallSucceeds());
  ASSERT_THAT(statx(AT_FDCWD, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &x), SyscallSucceeds());
  EXPECT_EQ(x.stx_ino, cwd.st_ino);
  EXPECT_THAT(statx(AT_FDCWD, "", 0, STATX_BASIC_STATS, &x), SyscallFailsWithErrno(ENOENT));
}

// ---------------------------------------------------------------------------
// utimensat and futimens

TEST_F(DirTest, UtimensatSetsExactTimes) {
  MakeFile("f");
  const struct timespec times[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), times, 0), SyscallSucceeds());
  struct stat st = StatOf("f");
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  // UTIME_OMIT leaves one alone; UTIME_NOW takes the clock.
  const struct timespec omit_now[2] = {{5, UTIME_OMIT}, {5, UTIME_NOW}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), omit_now, 0), SyscallSucceeds());
  st = StatOf("f");
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_GT(st.st_mtim.tv_sec, 1600000000);
  // NULL is "both now".
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), nullptr, 0), SyscallSucceeds());
  st = StatOf("f");
  EXPECT_GT(st.st_atim.tv_sec, 1600000000);
  // Times before the epoch are kept.
  const struct timespec old[2] = {{-100, 5}, {0, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), old, 0), SyscallSucceeds());
  st = StatOf("f");
  EXPECT_EQ(st.st_atim.tv_sec, -100);
  EXPECT_EQ(st.st_atim.tv_nsec, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, 0);
  // futimens works on any open descriptor.
  FileDescriptor fd(open(P("f").c_str(), O_RDONLY));
  ASSERT_THAT(futimens(fd.get(), times), SyscallSucceeds());
  st = StatOf("f");
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
}

TEST_F(DirTest, UtimensatSymlinkNofollow) {
  MakeFile("f");
  ASSERT_THAT(symlink("f", P("l").c_str()), SyscallSucceeds());
  const struct timespec file_times[2] = {{300, 0}, {400, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), file_times, 0), SyscallSucceeds());
  const struct timespec link_times[2] = {{500, 1}, {600, 2}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("l").c_str(), link_times, AT_SYMLINK_NOFOLLOW),
              SyscallSucceeds());
  struct stat l = StatOf("l"), f = StatOf("f");
  EXPECT_EQ(l.st_mtim.tv_sec, 600);
  EXPECT_EQ(l.st_mtim.tv_nsec, 2);
  EXPECT_EQ(f.st_mtim.tv_sec, 400);
  // Without the flag the target changes.
  ASSERT_THAT(utimensat(AT_FDCWD, P("l").c_str(), link_times, 0), SyscallSucceeds());
  EXPECT_EQ(StatOf("f").st_mtim.tv_sec, 600);
  // A dangling link can have its own times set.
  ASSERT_THAT(symlink("missing", P("dangling").c_str()), SyscallSucceeds());
  EXPECT_THAT(utimensat(AT_FDCWD, P("dangling").c_str(), link_times, 0),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(utimensat(AT_FDCWD, P("dangling").c_str(), link_times, AT_SYMLINK_NOFOLLOW),
              SyscallSucceeds());
}

TEST_F(DirTest, UtimensatErrors) {
  MakeFile("f");
  const struct timespec bad_nsec[2] = {{0, 1000000000}, {0, 0}};
  const struct timespec neg_nsec[2] = {{0, 0}, {0, -1}};
  const struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
  EXPECT_THAT(utimensat(AT_FDCWD, P("f").c_str(), bad_nsec, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(utimensat(AT_FDCWD, P("f").c_str(), neg_nsec, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(utimensat(AT_FDCWD, P("f").c_str(), nullptr, 0x200), SyscallFailsWithErrno(EINVAL));
  // The path is looked up before the times are judged.
  EXPECT_THAT(utimensat(AT_FDCWD, P("missing").c_str(), bad_nsec, 0),
              SyscallFailsWithErrno(ENOENT));
  // Both omitted: nothing to do, so nothing else is even checked.
  EXPECT_THAT(utimensat(AT_FDCWD, P("missing").c_str(), omit, 0), SyscallSucceeds());
  EXPECT_THAT(utimensat(AT_FDCWD, P("f").c_str(), omit, 0x200), SyscallSucceeds());
  EXPECT_THAT(utimensat(-1, "relative", omit, 0), SyscallSucceeds());
  // A null path means the descriptor itself (futimens), which takes no flags.
  FileDescriptor fd(open(P("f").c_str(), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  EXPECT_THAT(syscall(SYS_utimensat, fd.get(), nullptr, nullptr, 0), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_utimensat, fd.get(), nullptr, nullptr, AT_SYMLINK_NOFOLLOW),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_utimensat, AT_FDCWD, nullptr, nullptr, 0),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_utimensat, -1, nullptr, nullptr, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(futimens(-1, nullptr), SyscallFailsWithErrno(EBADF));
  // utimes takes microseconds.
  const struct timeval bad_usec[2] = {{0, 1000000}, {0, 0}};
  EXPECT_THAT(utimes(P("f").c_str(), bad_usec), SyscallFailsWithErrno(EINVAL));
  const struct timeval good[2] = {{10, 5}, {20, 6}};
  ASSERT_THAT(utimes(P("f").c_str(), good), SyscallSucceeds());
  struct stat st = StatOf("f");
  EXPECT_EQ(st.st_atim.tv_nsec, 5000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 6000);
}

// ---------------------------------------------------------------------------
// Timestamps

// Linux stamps files with a coarse clock; a pause longer than its tick makes
// any later stamp strictly newer.
void Tick() { SleepMs(25); }

int64_t Ns(const struct timespec& ts) { return TimespecToNs(ts); }

TEST_F(DirTest, ChangesUpdateCtime) {
  MakeFile("f", "x");
  const struct timespec times[2] = {{1000, 0}, {2000, 0}};
  struct stat before = StatOf("f");
  Tick();
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), times, 0), SyscallSucceeds());
  struct stat after = StatOf("f");
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
  before = after;
  Tick();
  ASSERT_THAT(chmod(P("f").c_str(), 0600), SyscallSucceeds());
  after = StatOf("f");
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
  EXPECT_EQ(after.st_mtim.tv_sec, 2000);
  before = after;
  Tick();
  ASSERT_THAT(chown(P("f").c_str(), -1, -1), SyscallSucceeds());
  after = StatOf("f");
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
  before = after;
  Tick();
  ASSERT_THAT(rename(P("f").c_str(), P("g").c_str()), SyscallSucceeds());
  after = StatOf("g");
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
  EXPECT_EQ(after.st_mtim.tv_sec, 2000);
  // A truncate that changes the size stamps the file.
  ASSERT_THAT(utimensat(AT_FDCWD, P("g").c_str(), times, 0), SyscallSucceeds());
  ASSERT_THAT(truncate(P("g").c_str(), 0), SyscallSucceeds());
  after = StatOf("g");
  EXPECT_GT(after.st_mtim.tv_sec, 2000);
  // ftruncate and open's O_TRUNC stamp it even when the size stays (truncate(2) of the
  // same size depends on the filesystem: ext4 stamps, tmpfs does not).
  ASSERT_THAT(utimensat(AT_FDCWD, P("g").c_str(), times, 0), SyscallSucceeds());
  FileDescriptor fd(open(P("g").c_str(), O_WRONLY | O_TRUNC));
  ASSERT_TRUE(fd.valid());
  EXPECT_GT(StatOf("g").st_mtim.tv_sec, 2000);
  ASSERT_THAT(utimensat(AT_FDCWD, P("g").c_str(), times, 0), SyscallSucceeds());
  before = StatOf("g");
  Tick();
  ASSERT_THAT(ftruncate(fd.get(), 0), SyscallSucceeds());
  after = StatOf("g");
  EXPECT_GT(after.st_mtim.tv_sec, 2000);
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
}

TEST_F(DirTest, WriteUpdatesMtimeAndCtime) {
  MakeFile("f", "x");
  const struct timespec times[2] = {{1000, 0}, {2000, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), times, 0), SyscallSucceeds());
  struct stat before = StatOf("f");
  Tick();
  FileDescriptor fd(open(P("f").c_str(), O_WRONLY));
  ASSERT_TRUE(fd.valid());
  // Opening for writing changes nothing.
  EXPECT_EQ(StatOf("f").st_mtim.tv_sec, 2000);
  ASSERT_THAT(write(fd.get(), "y", 1), SyscallSucceedsWithValue(1));
  struct stat after = StatOf("f");
  EXPECT_GT(after.st_mtim.tv_sec, 2000);
  EXPECT_GT(Ns(after.st_ctim), Ns(before.st_ctim));
  EXPECT_EQ(after.st_atim.tv_sec, 1000);
  // So does ftruncate.
  ASSERT_THAT(futimens(fd.get(), times), SyscallSucceeds());
  ASSERT_THAT(ftruncate(fd.get(), 100), SyscallSucceeds());
  EXPECT_GT(StatOf("f").st_mtim.tv_sec, 2000);
}

TEST_F(DirTest, ReadUpdatesAtimeLikeRelatime) {
  MakeFile("f", "data");
  // An access time older than the modification time moves on a read.
  const struct timespec times[2] = {{1000, 0}, {2000, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), times, 0), SyscallSucceeds());
  FileDescriptor fd(open(P("f").c_str(), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(StatOf("f").st_atim.tv_sec, 1000);  // open alone does not count
  char buf[8];
  ASSERT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  struct stat st = StatOf("f");
  EXPECT_GT(st.st_atim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  // A recent access time newer than both mtime and ctime stays (relatime).
  const int64_t first_read = Ns(st.st_atim);
  Tick();
  ASSERT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(Ns(StatOf("f").st_atim), first_read);
  // An access time in the future, but older than the mtime, moves.
  const struct timespec future_mtime[2] = {{0, UTIME_OMIT}, {4000000000, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), future_mtime, 0), SyscallSucceeds());
  ASSERT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  EXPECT_GT(Ns(StatOf("f").st_atim), first_read);
  // O_NOATIME reads leave it alone.
  ASSERT_THAT(utimensat(AT_FDCWD, P("f").c_str(), times, 0), SyscallSucceeds());
  FileDescriptor noatime(open(P("f").c_str(), O_RDONLY | O_NOATIME));
  ASSERT_TRUE(noatime.valid());
  ASSERT_THAT(read(noatime.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_EQ(StatOf("f").st_atim.tv_sec, 1000);
  // A read of zero bytes at the end is still an access.
  ASSERT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_GT(StatOf("f").st_atim.tv_sec, 1000);
}

TEST_F(DirTest, NamespaceChangesUpdateTheParent) {
  MakeDir("d");
  MakeDir("e");
  const struct timespec times[2] = {{1000, 0}, {2000, 0}};
  auto reset = [&](const char* name) {
    ASSERT_THAT(utimensat(AT_FDCWD, P(name).c_str(), times, 0), SyscallSucceeds());
  };
  auto changed = [&](const char* name) {
    struct stat st = StatOf(name);
    return st.st_mtim.tv_sec > 2000 && st.st_ctim.tv_sec > 2000;
  };
  reset("d");
  ASSERT_THAT(mkdir(P("d/sub").c_str(), 0755), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  reset("d");
  MakeFile("d/f");
  EXPECT_TRUE(changed("d"));
  reset("d");
  ASSERT_THAT(symlink("f", P("d/l").c_str()), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  reset("d");
  ASSERT_THAT(link(P("d/f").c_str(), P("d/f2").c_str()), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  reset("d");
  ASSERT_THAT(unlink(P("d/f2").c_str()), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  reset("d");
  ASSERT_THAT(rmdir(P("d/sub").c_str()), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  reset("d");
  reset("e");
  ASSERT_THAT(rename(P("d/f").c_str(), P("e/f").c_str()), SyscallSucceeds());
  EXPECT_TRUE(changed("d"));
  EXPECT_TRUE(changed("e"));
  // Writing a file in it does not touch the directory.
  reset("e");
  FileDescriptor fd(open(P("e/f").c_str(), O_WRONLY));
  ASSERT_THAT(write(fd.get(), "x", 1), SyscallSucceeds());
  EXPECT_FALSE(changed("e"));
  // Listing it is an access.
  reset("e");
  FileDescriptor dir(open(P("e").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(dir.valid());
  ReadRest(dir.get());
  EXPECT_GT(StatOf("e").st_atim.tv_sec, 1000);
  EXPECT_EQ(StatOf("e").st_mtim.tv_sec, 2000);
  // A failed creation changes nothing.
  reset("e");
  EXPECT_THAT(mkdir(P("e/f").c_str(), 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_FALSE(changed("e"));
}

TEST_F(DirTest, NewFilesShareOneTimestamp) {
  struct timespec before;
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME_COARSE, &before), SyscallSucceeds());
  MakeFile("f");
  struct stat st = StatOf("f");
  EXPECT_EQ(Ns(st.st_atim), Ns(st.st_mtim));
  EXPECT_EQ(Ns(st.st_mtim), Ns(st.st_ctim));
  EXPECT_GE(Ns(st.st_mtim), Ns(before));
  struct statx x;
  ASSERT_THAT(statx(AT_FDCWD, P("f").c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &x),
              SyscallSucceeds());
  if (x.stx_mask & STATX_BTIME) {
    EXPECT_EQ(x.stx_btime.tv_sec, st.st_ctim.tv_sec);
    EXPECT_EQ(x.stx_btime.tv_nsec, static_cast<uint32_t>(st.st_ctim.tv_nsec));
  }
}

}  // namespace
}  // namespace moat::testing
