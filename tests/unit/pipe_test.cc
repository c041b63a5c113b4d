// Pipes without blocking: buffer capacity, PIPE_BUF atomicity, packet mode, readiness and the
// end-of-file / EPIPE rules. Blocking reads and writes need a Task; the conformance suite covers
// them.
#include "sentry/fsimpl/pipe.h"

#include "tests/unit/vfs_test_util.h"

namespace moat::fsimpl {
namespace {

using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using vfs::testing::NoTask;
using vfs::testing::TestFs;

Result<size_t> Put(vfs::FileDescription& f, size_t n, char c = 'x') {
  std::string data(n, c);
  return TestFs::Write(f, data);
}

Result<size_t> Take(vfs::FileDescription& f, size_t n) {
  std::vector<uint8_t> buf(n);
  return f.Read(NoTask(), buf);
}

TEST(PipeTest, FillsToCapacityAndKeepsSmallWritesWhole) {
  auto [r, w] = NewPipe(O_NONBLOCK);
  Pipe* p = PipeOf(*r);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p, PipeOf(*w));
  EXPECT_EQ(p->Capacity(), 65536);
  EXPECT_EQ(ASSERT_OK_AND_GET(Put(*w, 65536)), 65536u);
  EXPECT_ERRNO(Put(*w, 1), EAGAIN);
  EXPECT_EQ(p->Readable(), 65536u);
  EXPECT_EQ(w->Readiness(kEventOut), 0u);
  EXPECT_EQ(r->Readiness(kEventIn), kEventIn);
  // Reading one byte frees no whole page: a PIPE_BUF write still does not fit.
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 1)), 1u);
  EXPECT_ERRNO(Put(*w, 4096), EAGAIN);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 4095)), 4095u);
  EXPECT_EQ(w->Readiness(kEventOut), kEventOut);
  // A large write goes in partly when non-blocking.
  EXPECT_EQ(ASSERT_OK_AND_GET(Put(*w, 10000)), 4096u);
}

TEST(PipeTest, SmallWritesMergeIntoPages) {
  auto [r, w] = NewPipe(O_NONBLOCK);
  size_t total = 0;
  for (;;) {
    Result<size_t> n = Put(*w, 100);
    if (!n.ok()) {
      EXPECT_EQ(n.error().value(), EAGAIN);
      break;
    }
    total += *n;
  }
  // 40 writes of 100 bytes share a page; the page's last 96 bytes stay unused.
  EXPECT_EQ(total, 16u * 4000u);
  (void)r;
}

TEST(PipeTest, EndOfFileAndEpipe) {
  auto [r, w] = NewPipe(O_NONBLOCK);
  EXPECT_TRUE(w->SendsSigpipe());
  EXPECT_ERRNO(Take(*r, 10), EAGAIN);
  ASSERT_OK(Put(*w, 3));
  EXPECT_EQ(ASSERT_OK_AND_GET(Put(*w, 0)), 0u);
  w.reset();
  EXPECT_EQ(r->Readiness(kEventIn), kEventIn | kEventHup);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 10)), 3u);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 10)), 0u);

  auto [r2, w2] = NewPipe(0);
  r2.reset();
  EXPECT_ERRNO(Put(*w2, 1), EPIPE);
  EXPECT_EQ(ASSERT_OK_AND_GET(Put(*w2, 0)), 0u);
  EXPECT_EQ(w2->Readiness(kEventOut), kEventOut | kEventErr);
}

TEST(PipeTest, PacketMode) {
  auto [r, w] = NewPipe(O_NONBLOCK | O_DIRECT);
  ASSERT_OK(Put(*w, 10, 'a'));
  ASSERT_OK(Put(*w, 20, 'b'));
  // One packet per read; what does not fit is dropped.
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 100)), 10u);
  EXPECT_EQ(ASSERT_OK_AND_GET(Take(*r, 5)), 5u);
  EXPECT_ERRNO(Take(*r, 100), EAGAIN);
}

TEST(PipeTest, SetPipeSize) {
  auto [r, w] = NewPipe(O_NONBLOCK);
  Pipe* p = PipeOf(*w);
  EXPECT_EQ(ASSERT_OK_AND_GET(p->SetCapacity(1, false)), 4096);
  EXPECT_EQ(ASSERT_OK_AND_GET(p->SetCapacity(5000, false)), 8192);
  EXPECT_EQ(ASSERT_OK_AND_GET(p->SetCapacity(1 << 20, false)), 1 << 20);
  EXPECT_ERRNO(p->SetCapacity((1 << 20) + 1, false), EPERM);
  EXPECT_EQ(ASSERT_OK_AND_GET(p->SetCapacity((1 << 20) + 1, true)), 2 << 20);
  EXPECT_ERRNO(p->SetCapacity((1u << 31) + 1, true), EINVAL);
  EXPECT_ERRNO(p->SetCapacity(uint64_t(-1), true), EINVAL);
  ASSERT_OK(p->SetCapacity(8192, false));
  ASSERT_OK(Put(*w, 8192));
  EXPECT_ERRNO(Put(*w, 1), EAGAIN);
  EXPECT_ERRNO(p->SetCapacity(4096, false), EBUSY);
  EXPECT_EQ(p->Capacity(), 8192);
  (void)r;
}

TEST(PipeTest, StatAndName) {
  auto [r, w] = NewPipe(0, 1000, 1001);
  vfs::Stat st = ASSERT_OK_AND_GET(r->GetStat());
  EXPECT_EQ(st.mode, S_IFIFO | 0600);
  EXPECT_EQ(st.uid, 1000u);
  EXPECT_EQ(st.gid, 1001u);
  EXPECT_EQ(ASSERT_OK_AND_GET(w->GetStat()).ino, st.ino);
  EXPECT_EQ(*r->AnonymousName(), "pipe:[" + std::to_string(st.ino) + "]");
  EXPECT_EQ(r->flags(), O_RDONLY);
  EXPECT_EQ(w->flags(), O_WRONLY);
  EXPECT_ERRNO(r->Seek(0, SEEK_SET), ESPIPE);
  uint8_t b;
  EXPECT_ERRNO(r->PRead(NoTask(), std::span<uint8_t>(&b, 1), 0), ESPIPE);
  // Reopening the pipe's inode (as /proc/self/fd/N does) opens it like a FIFO.
  RefPtr<vfs::FileDescription> again =
      ASSERT_OK_AND_GET(r->inode()->Open(O_WRONLY | O_NONBLOCK, r->path()));
  ASSERT_OK(Put(*again, 2));
  EXPECT_EQ(PipeOf(*r)->Readable(), 2u);
}

}  // namespace
}  // namespace moat::fsimpl
