// FdTable: allocation order, limits, close-on-exec, close_range and fork.
#include "sentry/vfs/fd_table.h"

#include "tests/unit/vfs_test_util.h"

namespace moat::vfs {
namespace {

RefPtr<FileDescription> NewFile() { return MakeRef<FileDescription>(O_RDONLY, Path{}); }

TEST(FdTableTest, LowestFreeFirst) {
  auto t = MakeRef<FdTable>();
  EXPECT_EQ(t->Size(), 0);
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 0, 1024)), 0);
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 0, 1024)), 1);
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 0, 1024)), 2);
  ASSERT_OK(t->Remove(1));
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 0, 1024)), 1);
  // F_DUPFD: the lowest free at or above min_fd.
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 10, 1024)), 10);
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Add(NewFile(), false, 10, 1024)), 11);
  EXPECT_EQ(t->OpenFds(), (std::vector<int>{0, 1, 2, 10, 11}));
  EXPECT_EQ(t->Size(), 12);
  EXPECT_ERRNO(t->Add(NewFile(), false, -1, 1024), EINVAL);
}

TEST(FdTableTest, Limits) {
  auto t = MakeRef<FdTable>();
  ASSERT_OK(t->Add(NewFile(), false, 0, 2));
  ASSERT_OK(t->Add(NewFile(), false, 0, 2));
  EXPECT_ERRNO(t->Add(NewFile(), false, 0, 2), EMFILE);
  EXPECT_ERRNO(t->Add(NewFile(), false, 5, 2), EMFILE);
  EXPECT_ERRNO(t->Set(2, NewFile(), false, 2), EBADF);
  EXPECT_ERRNO(t->Set(-1, NewFile(), false, 2), EBADF);
  ASSERT_OK(t->Set(1, NewFile(), false, 2));
}

TEST(FdTableTest, SetGetRemove) {
  auto t = MakeRef<FdTable>();
  RefPtr<FileDescription> a = NewFile();
  RefPtr<FileDescription> b = NewFile();
  ASSERT_OK(t->Set(5, a, true, 64));
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Get(5)), a);
  EXPECT_TRUE(ASSERT_OK_AND_GET(t->GetCloexec(5)));
  // dup2 over an open fd replaces it (and its close-on-exec flag).
  ASSERT_OK(t->Set(5, b, false, 64));
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Get(5)), b);
  EXPECT_FALSE(ASSERT_OK_AND_GET(t->GetCloexec(5)));
  EXPECT_EQ(a->RefCount(), 1);  // the table let go of it
  ASSERT_OK(t->SetCloexec(5, true));
  EXPECT_TRUE(ASSERT_OK_AND_GET(t->GetCloexec(5)));
  EXPECT_ERRNO(t->Get(4), EBADF);
  EXPECT_ERRNO(t->Get(-1), EBADF);
  EXPECT_ERRNO(t->Get(100), EBADF);
  EXPECT_ERRNO(t->GetCloexec(4), EBADF);
  EXPECT_ERRNO(t->SetCloexec(4, true), EBADF);
  // Remove hands the description back to the caller.
  RefPtr<FileDescription> got = ASSERT_OK_AND_GET(t->Remove(5));
  EXPECT_EQ(got, b);
  EXPECT_ERRNO(t->Remove(5), EBADF);
  EXPECT_EQ(t->Size(), 0);
  // A new fd in a freed slot does not inherit close-on-exec.
  ASSERT_OK(t->Set(5, a, false, 64));
  EXPECT_FALSE(ASSERT_OK_AND_GET(t->GetCloexec(5)));
}

TEST(FdTableTest, CloseOnExecAndRanges) {
  auto t = MakeRef<FdTable>();
  for (int i = 0; i < 8; ++i) ASSERT_OK(t->Add(NewFile(), i % 2 == 1, 0, 64));
  t->CloseOnExec();
  EXPECT_EQ(t->OpenFds(), (std::vector<int>{0, 2, 4, 6}));
  t->RemoveRange(2, 4, /*cloexec_only=*/true);
  EXPECT_TRUE(ASSERT_OK_AND_GET(t->GetCloexec(2)));
  EXPECT_TRUE(ASSERT_OK_AND_GET(t->GetCloexec(4)));
  EXPECT_FALSE(ASSERT_OK_AND_GET(t->GetCloexec(6)));
  t->RemoveRange(4, ~0u, false);
  EXPECT_EQ(t->OpenFds(), (std::vector<int>{0, 2}));
  t->RemoveRange(3, 1, false);  // first > last: nothing
  EXPECT_EQ(t->OpenFds(), (std::vector<int>{0, 2}));
  t->RemoveRange(0, 0, false);
  EXPECT_EQ(t->OpenFds(), std::vector<int>{2});
}

TEST(FdTableTest, ForkCopiesTheTableAndSharesTheFiles) {
  auto t = MakeRef<FdTable>();
  RefPtr<FileDescription> f = NewFile();
  ASSERT_OK(t->Add(f, true, 0, 64));
  RefPtr<FdTable> child = t->Fork();
  EXPECT_EQ(ASSERT_OK_AND_GET(child->Get(0)), f);
  EXPECT_TRUE(ASSERT_OK_AND_GET(child->GetCloexec(0)));
  ASSERT_OK(child->Remove(0));
  ASSERT_OK(child->Add(NewFile(), false, 0, 64));
  EXPECT_EQ(ASSERT_OK_AND_GET(t->Get(0)), f);
}

}  // namespace
}  // namespace moat::vfs
