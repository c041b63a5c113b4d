// The inotify instance and its hooks, over tmpfs: watch descriptors, the queue's record layout,
// coalescing and overflow, and the watch tables both sides keep.
#include "sentry/vfs/inotify.h"

#include <cstring>

#include "sentry/fsimpl/tmpfs.h"
#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

using fsimpl::NewTmpfs;
using testing::TestFs;

struct Record {
  int wd;
  uint32_t mask;
  uint32_t cookie;
  std::string name;
  bool operator==(const Record&) const = default;
};

std::vector<Record> Drain(Inotify& in) {
  std::vector<uint8_t> buf(1 << 20);
  size_t n = in.Dequeue(buf).value();
  std::vector<Record> out;
  for (size_t off = 0; off < n;) {
    struct inotify_event e;
    std::memcpy(&e, buf.data() + off, sizeof(e));
    const char* name = reinterpret_cast<const char*>(buf.data() + off + sizeof(e));
    out.push_back(Record{e.wd, e.mask, e.cookie, std::string(name, strnlen(name, e.len))});
    off += sizeof(e) + e.len;
  }
  return out;
}

class InotifyUnitTest : public ::testing::Test {
 protected:
  InotifyUnitTest() : fs_(NewTmpfs(0755, 0, 0, 0)) {}
  void SetUp() override {
    ASSERT_OK(fs_.Mkdir("/d"));
    ASSERT_OK(fs_.WriteFile("/d/f", "data"));
    file_ = ASSERT_OK_AND_GET(NewInotifyFile(0));
    inotify_ = InotifyOf(*file_);
    ASSERT_NE(inotify_, nullptr);
  }
  RefPtr<Inode> InodeOf(std::string_view path) {
    return ASSERT_OK_AND_GET(fs_.Lookup(path)).dentry->inode();
  }

  TestFs fs_;
  RefPtr<FileDescription> file_;
  Inotify* inotify_ = nullptr;
};

TEST_F(InotifyUnitTest, WatchDescriptors) {
  RefPtr<Inode> f = InodeOf("/d/f");
  int wd = ASSERT_OK_AND_GET(inotify_->AddWatch(f, IN_MODIFY));
  EXPECT_EQ(wd, 1);
  EXPECT_EQ(ASSERT_OK_AND_GET(inotify_->AddWatch(f, IN_ATTRIB)), wd);
  EXPECT_ERRNO(inotify_->AddWatch(f, IN_ATTRIB | IN_MASK_CREATE), EEXIST);
  EXPECT_EQ(ASSERT_OK_AND_GET(inotify_->AddWatch(InodeOf("/d"), IN_CREATE)), 2);
  ASSERT_NE(f->watches(), nullptr);
  ASSERT_EQ(f->watches()->Snapshot().size(), 1u);
  EXPECT_EQ(f->watches()->Snapshot()[0].mask, static_cast<uint32_t>(IN_ATTRIB));
  ASSERT_OK(inotify_->RemoveWatch(wd));
  EXPECT_TRUE(f->watches()->Snapshot().empty());
  EXPECT_ERRNO(inotify_->RemoveWatch(wd), EINVAL);
  EXPECT_EQ(Drain(*inotify_), (std::vector<Record>{{wd, IN_IGNORED, 0, ""}}));
}

TEST_F(InotifyUnitTest, HooksReachDirectoryAndFile) {
  int dir = ASSERT_OK_AND_GET(inotify_->AddWatch(InodeOf("/d"), IN_ALL_EVENTS));
  int self = ASSERT_OK_AND_GET(inotify_->AddWatch(InodeOf("/d/f"), IN_ALL_EVENTS));
  Path f = ASSERT_OK_AND_GET(fs_.Lookup("/d/f"));
  NotifyDentry(*f.dentry, IN_MODIFY);
  NotifyInode(*f.dentry->inode(), IN_MODIFY);  // the same as the last record: coalesced
  EXPECT_EQ(Drain(*inotify_),
            (std::vector<Record>{{dir, IN_MODIFY, 0, "f"}, {self, IN_MODIFY, 0, ""}}));
  ASSERT_OK(fs_.Unlink("/d/f"));
  EXPECT_EQ(Drain(*inotify_), (std::vector<Record>{{self, IN_ATTRIB, 0, ""},
                                                   {self, IN_DELETE_SELF, 0, ""},
                                                   {self, IN_IGNORED, 0, ""},
                                                   {dir, IN_DELETE, 0, "f"}}));
}

TEST_F(InotifyUnitTest, RecordsAndSmallBuffers) {
  RefPtr<Inode> d = InodeOf("/d");
  int wd = ASSERT_OK_AND_GET(inotify_->AddWatch(d, IN_CREATE));
  NotifyChild(*d, IN_CREATE, "abc");
  EXPECT_EQ(inotify_->PendingBytes(), sizeof(struct inotify_event) + 16);
  std::vector<uint8_t> small(sizeof(struct inotify_event) + 15);
  EXPECT_ERRNO(inotify_->Dequeue(small), EINVAL);
  EXPECT_EQ(Drain(*inotify_), (std::vector<Record>{{wd, IN_CREATE, 0, "abc"}}));
  EXPECT_EQ(ASSERT_OK_AND_GET(inotify_->Dequeue(small)), 0u);
}

TEST_F(InotifyUnitTest, Overflow) {
  RefPtr<Inode> d = InodeOf("/d");
  int wd = ASSERT_OK_AND_GET(inotify_->AddWatch(d, IN_CREATE));
  for (size_t i = 0; i < Inotify::kMaxQueuedEvents + 5; i++) {
    NotifyChild(*d, IN_CREATE, std::to_string(i));
  }
  std::vector<Record> all = Drain(*inotify_);
  ASSERT_EQ(all.size(), Inotify::kMaxQueuedEvents + 1);
  EXPECT_EQ(all.front(), (Record{wd, IN_CREATE, 0, "0"}));
  EXPECT_EQ(all.back(), (Record{-1, IN_Q_OVERFLOW, 0, ""}));
  NotifyChild(*d, IN_CREATE, "again");
  EXPECT_EQ(Drain(*inotify_), (std::vector<Record>{{wd, IN_CREATE, 0, "again"}}));
}

TEST_F(InotifyUnitTest, ClosingTheInstanceEmptiesTheInodesTables) {
  RefPtr<Inode> f = InodeOf("/d/f");
  ASSERT_OK(inotify_->AddWatch(f, IN_MODIFY));
  ASSERT_EQ(f->watches()->Snapshot().size(), 1u);
  file_.reset();
  inotify_ = nullptr;
  EXPECT_TRUE(f->watches()->Snapshot().empty());
}

}  // namespace
}  // namespace moat::vfs
