// Conformance tests for inotify: instances, watches, the event records read(2) returns, and the
// events that changes made by the program itself generate.

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Event {
  int wd;
  uint32_t mask;
  uint32_t cookie;
  std::string name;
  bool operator==(const Event& o) const {
    return wd == o.wd && mask == o.mask && cookie == o.cookie && name == o.name;
  }
};

void PrintTo(const Event& e, std::ostream* os) {
  *os << "{wd=" << e.wd << " mask=0x" << std::hex << e.mask << std::dec << " cookie=" << e.cookie
      << " name=\"" << e.name << "\"}";
}

// An event without a cookie.
Event Ev(int wd, uint32_t mask, std::string name = "") { return Event{wd, mask, 0, name}; }

// Parses the records in `buf`; checks the layout of each as it goes.
std::vector<Event> Parse(const char* buf, size_t n) {
  std::vector<Event> out;
  size_t off = 0;
  while (off < n) {
    struct inotify_event ie;
    EXPECT_GE(n - off, sizeof(ie));
    memcpy(&ie, buf + off, sizeof(ie));
    EXPECT_EQ(ie.len % sizeof(struct inotify_event), 0u);
    EXPECT_LE(off + sizeof(ie) + ie.len, n);
    std::string name;
    if (ie.len > 0) {
      const char* p = buf + off + sizeof(ie);
      name = std::string(p, strnlen(p, ie.len));
      EXPECT_LT(name.size(), ie.len) << "the name must be NUL-terminated";
      for (size_t i = name.size(); i < ie.len; i++) EXPECT_EQ(p[i], 0) << "padding is NULs";
    }
    out.push_back(Event{ie.wd, ie.mask, ie.cookie, name});
    off += sizeof(ie) + ie.len;
  }
  return out;
}

// Reads every queued event from a non-blocking inotify descriptor.
std::vector<Event> ReadEvents(int fd) {
  std::vector<Event> out;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n == -1) {
      EXPECT_EQ(errno, EAGAIN) << ErrnoString(errno);
      break;
    }
    std::vector<Event> more = Parse(buf.data(), static_cast<size_t>(n));
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

class InotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    ASSERT_TRUE(fd_.valid()) << ErrnoString(errno);
  }

  int Watch(const std::string& path, uint32_t mask) {
    int wd = inotify_add_watch(fd_.get(), path.c_str(), mask);
    EXPECT_GE(wd, 0) << "inotify_add_watch(" << path << "): " << ErrnoString(errno);
    return wd;
  }

  std::string Path(const std::string& name) { return dir_.Join(name); }

  TempDir dir_;
  FileDescriptor fd_;
};

TEST_F(InotifyTest, InitFlags) {
  EXPECT_THAT(fcntl(fd_.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  int fl = fcntl(fd_.get(), F_GETFL);
  ASSERT_THAT(fl, SyscallSucceeds());
  EXPECT_TRUE(fl & O_NONBLOCK);
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  FileDescriptor plain(inotify_init());
  ASSERT_TRUE(plain.valid()) << ErrnoString(errno);
  EXPECT_THAT(fcntl(plain.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_FALSE(fcntl(plain.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_THAT(inotify_init1(0x10), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_init1(O_RDWR), SyscallFailsWithErrno(EINVAL));
}

TEST_F(InotifyTest, NotAFileForReadingAndWriting) {
  // The instance is open for reading only; seeking does nothing (noop_llseek).
  EXPECT_THAT(write(fd_.get(), "x", 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(lseek(fd_.get(), 10, SEEK_SET), SyscallSucceedsWithValue(0));
  char buf[64];
  EXPECT_THAT(read(fd_.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EAGAIN));
  struct stat st;
  EXPECT_THAT(fstat(fd_.get(), &st), SyscallSucceeds());
}

TEST_F(InotifyTest, AddWatchErrors) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  EXPECT_THAT(inotify_add_watch(fd_.get(), dir_.path().c_str(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_add_watch(fd_.get(), dir_.path().c_str(),
                                IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_add_watch(-1, dir_.path().c_str(), IN_MODIFY), SyscallFailsWithErrno(EBADF));
  FileDescriptor notify_not(open(Path("f").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_THAT(inotify_add_watch(notify_not.get(), dir_.path().c_str(), IN_MODIFY),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_add_watch(fd_.get(), Path("missing").c_str(), IN_MODIFY),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(inotify_add_watch(fd_.get(), Path("f").c_str(), IN_MODIFY | IN_ONLYDIR),
              SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(inotify_add_watch(fd_.get(), reinterpret_cast<const char*>(8), IN_MODIFY),
              SyscallFailsWithErrno(EFAULT));
  int wd = Watch(Path("f"), IN_MODIFY);
  EXPECT_THAT(inotify_add_watch(fd_.get(), Path("f").c_str(), IN_ATTRIB | IN_MASK_CREATE),
              SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(inotify_add_watch(fd_.get(), dir_.path().c_str(), IN_MODIFY | IN_ONLYDIR),
              SyscallSucceedsWithValue(::testing::Ne(wd)));
}

TEST_F(InotifyTest, WatchDescriptorsAreReusedForTheSameInode) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  ASSERT_TRUE(CreateFileWithContents(Path("g"), ""));
  ASSERT_THAT(link(Path("f").c_str(), Path("hard").c_str()), SyscallSucceeds());
  int wd = Watch(Path("f"), IN_MODIFY);
  EXPECT_EQ(Watch(Path("f"), IN_ATTRIB), wd);
  EXPECT_EQ(Watch(Path("hard"), IN_ATTRIB), wd);
  int other = Watch(Path("g"), IN_ATTRIB);
  EXPECT_NE(other, wd);
  // Watch descriptors are per instance.
  FileDescriptor second(inotify_init1(IN_NONBLOCK));
  ASSERT_TRUE(second.valid());
  EXPECT_THAT(inotify_add_watch(second.get(), Path("g").c_str(), IN_ATTRIB),
              SyscallSucceedsWithValue(1));
}

TEST_F(InotifyTest, MaskReplacedOrAdded) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  int wd = Watch(Path("f"), IN_MODIFY);
  // A new mask replaces the old one...
  ASSERT_EQ(Watch(Path("f"), IN_ATTRIB), wd);
  ASSERT_TRUE(CreateFileWithContents(Path("f"), "x"));
  ASSERT_THAT(chmod(Path("f").c_str(), 0600), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_ATTRIB)));
  // ... unless IN_MASK_ADD says to add to it.
  ASSERT_EQ(Watch(Path("f"), IN_MODIFY | IN_MASK_ADD), wd);
  ASSERT_TRUE(CreateFileWithContents(Path("f"), "y"));
  ASSERT_THAT(chmod(Path("f").c_str(), 0644), SyscallSucceeds());
  // O_TRUNC of a non-empty file, then the write.
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_MODIFY), Ev(wd, IN_ATTRIB)));
}

TEST_F(InotifyTest, RmWatchQueuesIgnored) {
  int wd = Watch(dir_.path(), IN_ALL_EVENTS);
  EXPECT_THAT(inotify_rm_watch(fd_.get(), wd), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_IGNORED)));
  EXPECT_THAT(inotify_rm_watch(fd_.get(), wd), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_rm_watch(fd_.get(), 12345), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(inotify_rm_watch(-1, wd), SyscallFailsWithErrno(EBADF));
  FileDescriptor not_inotify(open(dir_.path().c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_THAT(inotify_rm_watch(not_inotify.get(), wd), SyscallFailsWithErrno(EINVAL));
  // No more events after the watch is gone.
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  EXPECT_THAT(ReadEvents(fd_.get()), IsEmpty());
  // A new watch gets a new descriptor.
  EXPECT_GT(Watch(dir_.path(), IN_CREATE), wd);
}

TEST_F(InotifyTest, RecordLayoutAndSmallBuffers) {
  int wd = Watch(dir_.path(), IN_CREATE);
  ASSERT_TRUE(CreateFileWithContents(Path("abc"), ""));
  // One record with a 3-byte name padded to 16 bytes.
  int avail = 0;
  ASSERT_THAT(ioctl(fd_.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, static_cast<int>(sizeof(struct inotify_event) + 16));
  char buf[256];
  EXPECT_THAT(read(fd_.get(), buf, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(read(fd_.get(), buf, sizeof(struct inotify_event)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(read(fd_.get(), buf, sizeof(struct inotify_event) + 15),
              SyscallFailsWithErrno(EINVAL));
  ssize_t n = read(fd_.get(), buf, sizeof(struct inotify_event) + 16);
  ASSERT_THAT(n, SyscallSucceedsWithValue(static_cast<ssize_t>(sizeof(struct inotify_event) + 16)));
  EXPECT_THAT(Parse(buf, static_cast<size_t>(n)), ElementsAre(Ev(wd, IN_CREATE, "abc")));
  // A 16-character name takes 32 bytes: there is always a NUL.
  ASSERT_TRUE(CreateFileWithContents(Path("0123456789abcdef"), ""));
  ASSERT_THAT(ioctl(fd_.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, static_cast<int>(sizeof(struct inotify_event) + 32));
  // Several records fit in one read; a read stops before a record that does not fit.
  ASSERT_TRUE(CreateFileWithContents(Path("x"), ""));
  n = read(fd_.get(), buf, sizeof(struct inotify_event) * 2 + 32 + 8);
  ASSERT_THAT(n, SyscallSucceedsWithValue(static_cast<ssize_t>(sizeof(struct inotify_event) + 32)));
  EXPECT_THAT(Parse(buf, static_cast<size_t>(n)),
              ElementsAre(Ev(wd, IN_CREATE, "0123456789abcdef")));
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_CREATE, "x")));
  ASSERT_THAT(ioctl(fd_.get(), FIONREAD, &avail), SyscallSucceeds());
  EXPECT_EQ(avail, 0);
}

TEST_F(InotifyTest, PollReadiness) {
  Watch(dir_.path(), IN_CREATE);
  struct pollfd pfd = {fd_.get(), POLLIN | POLLOUT, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  pfd.revents = 0;
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  ReadEvents(fd_.get());
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
}

TEST_F(InotifyTest, BlockingReadWaitsForAnEvent) {
  FileDescriptor blocking(inotify_init());
  ASSERT_TRUE(blocking.valid());
  int wd = inotify_add_watch(blocking.get(), dir_.path().c_str(), IN_CREATE);
  ASSERT_GE(wd, 0);
  std::thread creator([&] {
    SleepMs(50);
    EXPECT_TRUE(CreateFileWithContents(Path("late"), ""));
  });
  char buf[256];
  ssize_t n = read(blocking.get(), buf, sizeof(buf));
  creator.join();
  ASSERT_THAT(n, SyscallSucceeds());
  EXPECT_THAT(Parse(buf, static_cast<size_t>(n)), ElementsAre(Ev(wd, IN_CREATE, "late")));
}

TEST_F(InotifyTest, EventsOnAWatchedFile) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), "abc"));
  int wd = Watch(Path("f"), IN_ALL_EVENTS);
  {
    FileDescriptor f(open(Path("f").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(f.valid());
    char c;
    ASSERT_THAT(read(f.get(), &c, 1), SyscallSucceedsWithValue(1));
    ASSERT_THAT(write(f.get(), "x", 1), SyscallSucceedsWithValue(1));
    ASSERT_THAT(fchmod(f.get(), 0600), SyscallSucceeds());
  }
  {
    FileDescriptor f(open(Path("f").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(f.valid());
  }
  ASSERT_THAT(truncate(Path("f").c_str(), 1), SyscallSucceeds());
  ASSERT_THAT(utimes(Path("f").c_str(), nullptr), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_OPEN), Ev(wd, IN_ACCESS), Ev(wd, IN_MODIFY),
                          Ev(wd, IN_ATTRIB), Ev(wd, IN_CLOSE_WRITE), Ev(wd, IN_OPEN),
                          Ev(wd, IN_CLOSE_NOWRITE), Ev(wd, IN_MODIFY), Ev(wd, IN_ATTRIB)));
}

TEST_F(InotifyTest, EventsForChildrenOfAWatchedDirectory) {
  int wd = Watch(dir_.path(), IN_ALL_EVENTS);
  {
    FileDescriptor f(open(Path("f").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(f.valid());
    ASSERT_THAT(write(f.get(), "hi", 2), SyscallSucceedsWithValue(2));
  }
  {
    FileDescriptor f(open(Path("f").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(f.valid());
    char buf[4];
    ASSERT_THAT(read(f.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  }
  ASSERT_THAT(chmod(Path("f").c_str(), 0600), SyscallSucceeds());
  ASSERT_THAT(unlink(Path("f").c_str()), SyscallSucceeds());
  ASSERT_THAT(mkdir(Path("d").c_str(), 0755), SyscallSucceeds());
  ASSERT_THAT(rmdir(Path("d").c_str()), SyscallSucceeds());
  ASSERT_THAT(symlink("target", Path("l").c_str()), SyscallSucceeds());
  ASSERT_THAT(mknod(Path("p").c_str(), S_IFIFO | 0644, 0), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_CREATE, "f"), Ev(wd, IN_OPEN, "f"), Ev(wd, IN_MODIFY, "f"),
                          Ev(wd, IN_CLOSE_WRITE, "f"), Ev(wd, IN_OPEN, "f"),
                          Ev(wd, IN_ACCESS, "f"), Ev(wd, IN_CLOSE_NOWRITE, "f"),
                          Ev(wd, IN_ATTRIB, "f"), Ev(wd, IN_DELETE, "f"),
                          Ev(wd, IN_CREATE | IN_ISDIR, "d"), Ev(wd, IN_DELETE | IN_ISDIR, "d"),
                          Ev(wd, IN_CREATE, "l"), Ev(wd, IN_CREATE, "p")));
}

TEST_F(InotifyTest, DirectoriesCarryIsdir) {
  ASSERT_THAT(mkdir(Path("sub").c_str(), 0755), SyscallSucceeds());
  int wd = Watch(dir_.path(), IN_OPEN | IN_CLOSE | IN_ACCESS);
  int sub = Watch(Path("sub"), IN_OPEN | IN_CLOSE);
  {
    FileDescriptor d(open(Path("sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(d.valid());
  }
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_OPEN | IN_ISDIR, "sub"), Ev(sub, IN_OPEN | IN_ISDIR),
                          Ev(wd, IN_CLOSE_NOWRITE | IN_ISDIR, "sub"),
                          Ev(sub, IN_CLOSE_NOWRITE | IN_ISDIR)));
}

TEST_F(InotifyTest, CloseIsReportedWhenTheLastDescriptorGoes) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  int wd = Watch(Path("f"), IN_CLOSE);
  FileDescriptor f(open(Path("f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  FileDescriptor dup_fd(dup(f.get()));
  f.reset();
  EXPECT_THAT(ReadEvents(fd_.get()), IsEmpty());
  dup_fd.reset();
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_CLOSE_NOWRITE)));
  // O_PATH descriptors report nothing.
  FileDescriptor p(open(Path("f").c_str(), O_PATH | O_CLOEXEC));
  ASSERT_TRUE(p.valid());
  p.reset();
  EXPECT_THAT(ReadEvents(fd_.get()), IsEmpty());
}

TEST_F(InotifyTest, RenameSharesACookie) {
  ASSERT_THAT(mkdir(Path("a").c_str(), 0755), SyscallSucceeds());
  ASSERT_THAT(mkdir(Path("b").c_str(), 0755), SyscallSucceeds());
  ASSERT_TRUE(CreateFileWithContents(Path("a/f"), ""));
  int wa = Watch(Path("a"), IN_ALL_EVENTS);
  int wb = Watch(Path("b"), IN_ALL_EVENTS);
  int wf = Watch(Path("a/f"), IN_MOVE_SELF);
  ASSERT_THAT(rename(Path("a/f").c_str(), Path("b/g").c_str()), SyscallSucceeds());
  std::vector<Event> ev = ReadEvents(fd_.get());
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].wd, wa);
  EXPECT_EQ(ev[0].mask, static_cast<uint32_t>(IN_MOVED_FROM));
  EXPECT_EQ(ev[0].name, "f");
  EXPECT_NE(ev[0].cookie, 0u);
  EXPECT_EQ(ev[1].wd, wb);
  EXPECT_EQ(ev[1].mask, static_cast<uint32_t>(IN_MOVED_TO));
  EXPECT_EQ(ev[1].name, "g");
  EXPECT_EQ(ev[1].cookie, ev[0].cookie);
  EXPECT_EQ(ev[2], Ev(wf, IN_MOVE_SELF));

  // A second rename has another cookie; a directory carries IN_ISDIR.
  ASSERT_THAT(mkdir(Path("b/d").c_str(), 0755), SyscallSucceeds());
  ReadEvents(fd_.get());
  ASSERT_THAT(rename(Path("b/d").c_str(), Path("b/e").c_str()), SyscallSucceeds());
  std::vector<Event> ev2 = ReadEvents(fd_.get());
  ASSERT_EQ(ev2.size(), 2u);
  EXPECT_EQ(ev2[0].mask, static_cast<uint32_t>(IN_MOVED_FROM | IN_ISDIR));
  EXPECT_EQ(ev2[1].mask, static_cast<uint32_t>(IN_MOVED_TO | IN_ISDIR));
  EXPECT_EQ(ev2[0].cookie, ev2[1].cookie);
  EXPECT_NE(ev2[0].cookie, ev[0].cookie);
}

TEST_F(InotifyTest, RenameOverAWatchedFile) {
  ASSERT_TRUE(CreateFileWithContents(Path("src"), ""));
  ASSERT_TRUE(CreateFileWithContents(Path("dst"), ""));
  int wd = Watch(Path("dst"), IN_ALL_EVENTS);
  ASSERT_THAT(rename(Path("src").c_str(), Path("dst").c_str()), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_ATTRIB), Ev(wd, IN_DELETE_SELF), Ev(wd, IN_IGNORED)));
}

TEST_F(InotifyTest, DeleteSelf) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  ASSERT_THAT(mkdir(Path("d").c_str(), 0755), SyscallSucceeds());
  int wf = Watch(Path("f"), IN_ALL_EVENTS);
  int wd = Watch(Path("d"), IN_ALL_EVENTS);
  ASSERT_THAT(unlink(Path("f").c_str()), SyscallSucceeds());
  ASSERT_THAT(rmdir(Path("d").c_str()), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wf, IN_ATTRIB), Ev(wf, IN_DELETE_SELF), Ev(wf, IN_IGNORED),
                          Ev(wd, IN_DELETE_SELF), Ev(wd, IN_IGNORED)));
  // The watches are gone.
  EXPECT_THAT(inotify_rm_watch(fd_.get(), wf), SyscallFailsWithErrno(EINVAL));
}

TEST_F(InotifyTest, DeleteSelfWaitsForTheLastClose) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  FileDescriptor f(open(Path("f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  int wf = Watch(Path("f"), IN_ALL_EVENTS);
  int wdir = Watch(dir_.path(), IN_DELETE);
  ASSERT_THAT(unlink(Path("f").c_str()), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wf, IN_ATTRIB), Ev(wdir, IN_DELETE, "f")));
  f.reset();
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wf, IN_CLOSE_NOWRITE), Ev(wf, IN_DELETE_SELF), Ev(wf, IN_IGNORED)));
}

TEST_F(InotifyTest, LinkChangesTheLinkCount) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  int wdir = Watch(dir_.path(), IN_CREATE | IN_DELETE);
  int wf = Watch(Path("f"), IN_ATTRIB);
  ASSERT_THAT(link(Path("f").c_str(), Path("g").c_str()), SyscallSucceeds());
  ASSERT_THAT(unlink(Path("g").c_str()), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wf, IN_ATTRIB), Ev(wdir, IN_CREATE, "g"), Ev(wf, IN_ATTRIB),
                          Ev(wdir, IN_DELETE, "g")));
}

TEST_F(InotifyTest, IdenticalConsecutiveEventsAreCoalesced) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  int wd = Watch(Path("f"), IN_MODIFY | IN_ACCESS);
  FileDescriptor f(open(Path("f").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  char c;
  ASSERT_THAT(write(f.get(), "a", 1), SyscallSucceeds());
  ASSERT_THAT(write(f.get(), "b", 1), SyscallSucceeds());
  ASSERT_THAT(pread(f.get(), &c, 1, 0), SyscallSucceeds());
  ASSERT_THAT(write(f.get(), "c", 1), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_MODIFY), Ev(wd, IN_ACCESS), Ev(wd, IN_MODIFY)));
  // Once read, the next identical event is queued again.
  ASSERT_THAT(write(f.get(), "d", 1), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_MODIFY)));
  // Nothing is reported for reads and writes of nothing.
  ASSERT_THAT(write(f.get(), "", 0), SyscallSucceeds());
  ASSERT_THAT(pread(f.get(), &c, 1, 100), SyscallSucceedsWithValue(0));
  EXPECT_THAT(ReadEvents(fd_.get()), IsEmpty());
}

TEST_F(InotifyTest, OneShot) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  int wd = Watch(Path("f"), IN_ATTRIB | IN_ONESHOT);
  ASSERT_THAT(chmod(Path("f").c_str(), 0600), SyscallSucceeds());
  ASSERT_THAT(chmod(Path("f").c_str(), 0644), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_ATTRIB), Ev(wd, IN_IGNORED)));
  EXPECT_THAT(inotify_rm_watch(fd_.get(), wd), SyscallFailsWithErrno(EINVAL));
}

TEST_F(InotifyTest, ExclUnlink) {
  int plain = Watch(dir_.path(), IN_MODIFY);
  FileDescriptor second(inotify_init1(IN_NONBLOCK));
  ASSERT_TRUE(second.valid());
  int excl = inotify_add_watch(second.get(), dir_.path().c_str(), IN_MODIFY | IN_EXCL_UNLINK);
  ASSERT_GE(excl, 0);
  FileDescriptor f(open(Path("f").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
  ASSERT_TRUE(f.valid());
  ASSERT_THAT(write(f.get(), "a", 1), SyscallSucceeds());
  ASSERT_THAT(unlink(Path("f").c_str()), SyscallSucceeds());
  ASSERT_THAT(write(f.get(), "b", 1), SyscallSucceeds());
  // Both see the write before the unlink; only the plain watch sees the one after it.
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(plain, IN_MODIFY, "f")));
  EXPECT_THAT(ReadEvents(second.get()), ElementsAre(Ev(excl, IN_MODIFY, "f")));
  ASSERT_THAT(write(f.get(), "c", 1), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(plain, IN_MODIFY, "f")));
  EXPECT_THAT(ReadEvents(second.get()), IsEmpty());
}

TEST_F(InotifyTest, DontFollowWatchesTheLinkItself) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  ASSERT_THAT(symlink("f", Path("l").c_str()), SyscallSucceeds());
  int target = Watch(Path("f"), IN_ATTRIB);
  EXPECT_EQ(Watch(Path("l"), IN_ATTRIB), target);
  int link = Watch(Path("l"), IN_ATTRIB | IN_DONT_FOLLOW);
  EXPECT_NE(link, target);
  ASSERT_THAT(chmod(Path("l").c_str(), 0600), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(target, IN_ATTRIB)));
  // A symlink is not a directory.
  EXPECT_THAT(
      inotify_add_watch(fd_.get(), Path("l").c_str(), IN_ATTRIB | IN_DONT_FOLLOW | IN_ONLYDIR),
      SyscallFailsWithErrno(ENOTDIR));
}

TEST_F(InotifyTest, QueueOverflow) {
  // The limit is /proc/sys/fs/inotify/max_queued_events; Linux's default is 16384.
  int max_events = 16384;
  {
    FileDescriptor proc(open("/proc/sys/fs/inotify/max_queued_events", O_RDONLY | O_CLOEXEC));
    if (proc.valid()) max_events = std::stoi(ReadAll(proc.get()));
  }
  if (max_events > 100000) GTEST_SKIP() << "max_queued_events is " << max_events;
  ASSERT_TRUE(CreateFileWithContents(Path("f"), "x"));
  int wd = Watch(Path("f"), IN_MODIFY | IN_ACCESS);
  FileDescriptor f(open(Path("f").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  // Alternate the two kinds so that nothing coalesces.
  char c = 'y';
  for (int i = 0; i < max_events / 2 + 10; i++) {
    ASSERT_THAT(pwrite(f.get(), &c, 1, 0), SyscallSucceeds());
    ASSERT_THAT(pread(f.get(), &c, 1, 0), SyscallSucceeds());
  }
  std::vector<Event> ev = ReadEvents(fd_.get());
  ASSERT_EQ(ev.size(), static_cast<size_t>(max_events) + 1);
  EXPECT_EQ(ev[0], Ev(wd, IN_MODIFY));
  EXPECT_EQ(ev[max_events - 1], Ev(wd, IN_ACCESS));
  EXPECT_EQ(ev[max_events], Ev(-1, IN_Q_OVERFLOW));
  // With room again, events queue as before.
  ASSERT_THAT(pwrite(f.get(), &c, 1, 0), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_MODIFY)));
}

TEST_F(InotifyTest, RenameExchange) {
  ASSERT_TRUE(CreateFileWithContents(Path("a"), ""));
  ASSERT_THAT(mkdir(Path("b").c_str(), 0755), SyscallSucceeds());
  int wd = Watch(dir_.path(), IN_MOVE);
  int wa = Watch(Path("a"), IN_MOVE_SELF);
  int wb = Watch(Path("b"), IN_MOVE_SELF);
  ASSERT_THAT(renameat2(AT_FDCWD, Path("a").c_str(), AT_FDCWD, Path("b").c_str(), RENAME_EXCHANGE),
              SyscallSucceeds());
  std::vector<Event> ev = ReadEvents(fd_.get());
  ASSERT_EQ(ev.size(), 6u);
  EXPECT_EQ(ev[0], (Event{wd, IN_MOVED_FROM, ev[0].cookie, "a"}));
  EXPECT_EQ(ev[1], (Event{wd, IN_MOVED_TO, ev[0].cookie, "b"}));
  EXPECT_EQ(ev[2], Ev(wa, IN_MOVE_SELF));
  EXPECT_EQ(ev[3], (Event{wd, IN_MOVED_FROM | IN_ISDIR, ev[3].cookie, "b"}));
  EXPECT_EQ(ev[4], (Event{wd, IN_MOVED_TO | IN_ISDIR, ev[3].cookie, "a"}));
  EXPECT_EQ(ev[5], Ev(wb, IN_MOVE_SELF));
  EXPECT_NE(ev[0].cookie, ev[3].cookie);
}

TEST_F(InotifyTest, TransfersReportAccessAndModify) {
  ASSERT_TRUE(CreateFileWithContents(Path("in"), "data"));
  ASSERT_TRUE(CreateFileWithContents(Path("out"), ""));
  FileDescriptor in(open(Path("in").c_str(), O_RDONLY | O_CLOEXEC));
  FileDescriptor out(open(Path("out").c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(in.valid() && out.valid());
  int wd = Watch(dir_.path(), IN_ACCESS | IN_MODIFY);
  loff_t off = 0;
  ASSERT_THAT(copy_file_range(in.get(), &off, out.get(), nullptr, 4, 0),
              SyscallSucceedsWithValue(4));
  off_t soff = 0;
  ASSERT_THAT(sendfile(out.get(), in.get(), &soff, 4), SyscallSucceedsWithValue(4));
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  ASSERT_THAT(splice(in.get(), nullptr, w.get(), nullptr, 4, 0), SyscallSucceedsWithValue(4));
  ASSERT_THAT(splice(r.get(), nullptr, out.get(), nullptr, 4, 0), SyscallSucceedsWithValue(4));
  // Nothing moved, nothing reported.
  ASSERT_THAT(sendfile(out.get(), in.get(), nullptr, 4), SyscallSucceedsWithValue(0));
  EXPECT_THAT(ReadEvents(fd_.get()),
              ElementsAre(Ev(wd, IN_ACCESS, "in"), Ev(wd, IN_MODIFY, "out"),
                          Ev(wd, IN_ACCESS, "in"), Ev(wd, IN_MODIFY, "out"),
                          Ev(wd, IN_ACCESS, "in"), Ev(wd, IN_MODIFY, "out")));
}

TEST_F(InotifyTest, ReadingADirectoryIsAnAccess) {
  ASSERT_THAT(mkdir(Path("d").c_str(), 0755), SyscallSucceeds());
  int wd = Watch(Path("d"), IN_ACCESS);
  FileDescriptor d(open(Path("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(d.valid());
  char buf[4096];
  ASSERT_THAT(syscall(SYS_getdents64, d.get(), buf, sizeof(buf)), SyscallSucceeds());
  EXPECT_THAT(ReadEvents(fd_.get()), ElementsAre(Ev(wd, IN_ACCESS | IN_ISDIR)));
}

TEST_F(InotifyTest, BlockingReadIsInterruptedBySignals) {
  FileDescriptor blocking(inotify_init());
  ASSERT_TRUE(blocking.valid());
  ScopedSigaction act(SIGALRM, MakeSigaction(+[](int) {}));
  struct itimerval it = {};
  it.it_value.tv_usec = 50000;
  ASSERT_THAT(setitimer(ITIMER_REAL, &it, nullptr), SyscallSucceeds());
  char buf[256];
  EXPECT_THAT(read(blocking.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EINTR));
}

TEST_F(InotifyTest, ClosingTheInstanceDropsItsWatches) {
  ASSERT_TRUE(CreateFileWithContents(Path("f"), ""));
  {
    FileDescriptor other(inotify_init1(IN_NONBLOCK));
    ASSERT_TRUE(other.valid());
    ASSERT_GE(inotify_add_watch(other.get(), Path("f").c_str(), IN_ALL_EVENTS), 0);
  }
  // The file works as before, and a new instance starts over.
  ASSERT_THAT(chmod(Path("f").c_str(), 0600), SyscallSucceeds());
  EXPECT_EQ(Watch(Path("f"), IN_ATTRIB), 1);
}

}  // namespace
}  // namespace moat::testing
