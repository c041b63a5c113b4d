// base/wire.h's fd passing: a message carries up to kMaxFds fds (exec --preserve-fds sends the
// stdio and up to 250 more in one), one more is refused, and a receiver that takes fewer closes
// the rest rather than leaking them.
#include "base/wire.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/vfs_test_util.h"

namespace moat::wire {
namespace {

// How many fds this process has open.
int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory's own
}

struct Pair {
  FileDescriptor a, b;
};

Pair SeqpacketPair() {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  return {FileDescriptor(sv[0]), FileDescriptor(sv[1])};
}

// `n` fds open on /dev/null.
std::vector<FileDescriptor> NullFds(size_t n) {
  std::vector<FileDescriptor> fds;
  for (size_t i = 0; i < n; i++) fds.emplace_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  return fds;
}

std::vector<int> Raw(const std::vector<FileDescriptor>& fds) {
  std::vector<int> raw;
  for (const FileDescriptor& fd : fds) raw.push_back(fd.get());
  return raw;
}

struct Empty {
  template <class V> void Visit(V&) {}
};

TEST(WireTest, AMessageCarriesKMaxFds) {
  Pair p = SeqpacketPair();
  std::vector<FileDescriptor> sent = NullFds(kMaxFds);
  ASSERT_OK(SendMessage(p.a.get(), Encode(7, Empty{}), Raw(sent)));
  Message m = ASSERT_OK_AND_GET(ReceiveMessage(p.b.get(), 4096, kMaxFds));
  EXPECT_EQ(m.type, 7u);
  ASSERT_EQ(m.fds.size(), kMaxFds);
  for (const FileDescriptor& fd : m.fds) {
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
  }
}

TEST(WireTest, OneFdMoreThanKMaxFdsIsEinval) {
  Pair p = SeqpacketPair();
  std::vector<FileDescriptor> sent = NullFds(kMaxFds + 1);
  EXPECT_ERRNO(SendMessage(p.a.get(), Encode(7, Empty{}), Raw(sent)), EINVAL);
}

TEST(WireTest, FdsBeyondWhatTheReceiverTakesAreClosed) {
  Pair p = SeqpacketPair();
  const int before = OpenFds();
  {
    std::vector<FileDescriptor> sent = NullFds(10);
    ASSERT_OK(SendMessage(p.a.get(), Encode(7, Empty{}), Raw(sent)));
  }
  Message m = ASSERT_OK_AND_GET(ReceiveMessage(p.b.get(), 4096, 3));
  EXPECT_EQ(m.fds.size(), 3u);
  EXPECT_EQ(OpenFds(), before + 3);
}

}  // namespace
}  // namespace moat::wire
