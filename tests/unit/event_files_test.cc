// The event files without blocking: eventfd's counter rules, epoll's interest bookkeeping (the
// release of a watched file, the destruction of an epoll before its files, loops) and the names
// /proc shows. Waiting needs a Task; the conformance suite covers it.
#include <sys/eventfd.h>

#include <cstring>

#include "sentry/fsimpl/epoll.h"
#include "sentry/fsimpl/eventfd.h"
#include "sentry/fsimpl/pipe.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::fsimpl {
namespace {

using kernel::kEventIn;
using kernel::kEventOut;
using vfs::testing::NoTask;

struct Counted : RefCounted<Counted> {
  explicit Counted(bool* last) : last(last) {}
  void OnLastRef() const { *last = true; }
  bool* last;
};

TEST(RefCountedTest, TryRefAndLastRefHook) {
  bool last = false;
  Counted* raw;
  {
    RefPtr<Counted> c = MakeRef<Counted>(&last);
    raw = c.get();
    RefPtr<Counted> again = TryRef(raw);
    ASSERT_TRUE(again);
    EXPECT_EQ(raw->RefCount(), 2);
  }
  EXPECT_TRUE(last);
}

Result<size_t> Put(vfs::FileDescription& f, uint64_t v) {
  uint8_t buf[8];
  std::memcpy(buf, &v, 8);
  return f.Write(NoTask(), buf);
}

Result<uint64_t> Take(vfs::FileDescription& f) {
  uint8_t buf[8];
  size_t n = TRY(f.Read(NoTask(), buf));
  if (n != 8) return Errno(EIO);
  uint64_t v;
  std::memcpy(&v, buf, 8);
  return v;
}

TEST(EventFdTest, CounterAndSemaphore) {
  auto e = EventFd::New(2, O_NONBLOCK);
  EXPECT_EQ(e->Readiness(kEventIn | kEventOut), kEventIn | kEventOut);
  EXPECT_EQ(ASSERT_OK_AND_GET(Put(*e, 3)), 8u);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*e)), 5u);
  EXPECT_ERRNO(Take(*e), EAGAIN);
  EXPECT_EQ(e->Readiness(kEventIn | kEventOut), kEventOut);
  EXPECT_ERRNO(Put(*e, ~uint64_t{0}), EINVAL);

  auto s = EventFd::New(2, O_NONBLOCK | EFD_SEMAPHORE);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*s)), 1u);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*s)), 1u);
  EXPECT_ERRNO(Take(*s), EAGAIN);
}

TEST(AnonFileTest, Names) {
  EXPECT_EQ(*EventFd::New(0, 0)->AnonymousName(), "anon_inode:[eventfd]");
  EXPECT_EQ(*EpollFile::New()->AnonymousName(), "anon_inode:[eventpoll]");
  vfs::Stat st = ASSERT_OK_AND_GET(EventFd::New(0, 0)->GetStat());
  EXPECT_EQ(st.mode, 0600u);
}

TEST(EpollUnitTest, ReleasedFileLeavesTheInterestList) {
  auto ep = EpollFile::New();
  auto [r, w] = NewPipe(O_NONBLOCK);
  ASSERT_TRUE(ep->Add(r, 3, EPOLLIN, 1).ok());
  EXPECT_EQ(ep->Readiness(kEventIn), 0u);
  ASSERT_TRUE(ASSERT_OK_AND_GET(vfs::testing::TestFs::Write(*w, "x")) == 1u);
  EXPECT_EQ(ep->Readiness(kEventIn), kEventIn);
  // The last reference to the read end goes: its interest goes with it, and the epoll no
  // longer reports anything.
  r.reset();
  EXPECT_EQ(ep->Readiness(kEventIn), 0u);
  // The pipe's write end is still watchable under any fd number.
  EXPECT_TRUE(ep->Add(w, 3, EPOLLOUT, 2).ok());
  EXPECT_EQ(ep->Readiness(kEventIn), kEventIn);
}

TEST(EpollUnitTest, EpollGoesBeforeItsFiles) {
  auto [r, w] = NewPipe(O_NONBLOCK);
  {
    auto ep = EpollFile::New();
    ASSERT_TRUE(ep->Add(r, 3, EPOLLIN, 1).ok());
    ASSERT_TRUE(ep->Add(w, 4, EPOLLOUT, 2).ok());
  }
  // The pipe's queue no longer names the epoll's entries: notifying it is harmless.
  EXPECT_EQ(ASSERT_OK_AND_GET(vfs::testing::TestFs::Write(*w, "x")), 1u);
}

TEST(EpollUnitTest, KeysAndLoops) {
  auto a = EpollFile::New();
  auto b = EpollFile::New();
  auto e = EventFd::New(0, 0);
  ASSERT_TRUE(a->Add(e, 5, EPOLLIN, 0).ok());
  EXPECT_ERRNO(a->Add(e, 5, EPOLLIN, 0), EEXIST);
  EXPECT_TRUE(a->Add(e, 6, EPOLLIN, 0).ok());
  EXPECT_ERRNO(a->Modify(e, 7, EPOLLIN, 0), ENOENT);
  EXPECT_ERRNO(a->Delete(e, 7), ENOENT);
  EXPECT_TRUE(a->Delete(e, 6).ok());
  ASSERT_TRUE(a->Add(b, 8, EPOLLIN, 0).ok());
  EXPECT_ERRNO(b->Add(a, 9, EPOLLIN, 0), ELOOP);
  // Readiness flows up: the eventfd becomes readable, `a` sees it directly.
  ASSERT_TRUE(ASSERT_OK_AND_GET(Put(*e, 1)) == 8u);
  EXPECT_EQ(a->Readiness(kEventIn), kEventIn);
  EXPECT_EQ(b->Readiness(kEventIn), 0u);
}

}  // namespace
}  // namespace moat::fsimpl
