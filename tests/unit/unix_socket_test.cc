// Unit tests for AF_UNIX internals that the conformance programs cannot see: the
// /proc/net/unix text (which the /proc filesystem serves) and address parsing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/un.h>

#include <string>

#include "sentry/socket/unix/endpoint.h"
#include "sentry/socket/unix/unix.h"

namespace moat::sockets::unixsock {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(ProcNetUnixTest, ListsEndpointsAsLinux) {
  auto listener = MakeRef<Endpoint>(SOCK_STREAM);
  {
    absl::MutexLock l(&listener->mu);
    listener->state = State::kListening;
    listener->name = Name{"/tmp/moat_unit.sock"};
  }
  listener->ino.store(4242);
  auto dgram = MakeRef<Endpoint>(SOCK_DGRAM);
  {
    absl::MutexLock l(&dgram->mu);
    dgram->name = Name{std::string("\0ab\0c", 5)};
  }
  dgram->ino.store(77);
  auto connected = MakeRef<Endpoint>(SOCK_SEQPACKET);
  {
    absl::MutexLock l(&connected->mu);
    connected->state = State::kConnected;
  }
  connected->ino.store(5);

  std::string out = ProcNetUnix();
  EXPECT_THAT(out, StartsWith("Num       RefCount Protocol Flags    Type St Inode Path\n"));
  EXPECT_THAT(out, HasSubstr("0000000000000000: 00000001 00000000 00010000 0001 01  4242 "
                             "/tmp/moat_unit.sock\n"));
  // Abstract names start with '@', and their NULs show as '@' too.
  EXPECT_THAT(out, HasSubstr("0000000000000000: 00000001 00000000 00000000 0002 01    77 "
                             "@ab@c\n"));
  EXPECT_THAT(out, HasSubstr("0000000000000000: 00000001 00000000 00000000 0005 03     5\n"));

  // A released endpoint is not listed.
  connected->Release();
  EXPECT_THAT(ProcNetUnix(), Not(HasSubstr("0005 03     5\n")));
}

TEST(UnixAddressTest, ParseAndReport) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  memcpy(un.sun_path, "/a/b\0junk", 9);
  SockAddr a = SockAddr::From(un, offsetof(sockaddr_un, sun_path) + 9);
  Result<Name> n = ParseAddress(a);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->bytes, "/a/b");
  EXPECT_FALSE(n->abstract());
  EXPECT_EQ(n->ToSockAddr().len, offsetof(sockaddr_un, sun_path) + 5);

  memcpy(un.sun_path, "\0x\0y", 4);
  a = SockAddr::From(un, offsetof(sockaddr_un, sun_path) + 4);
  n = ParseAddress(a);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->bytes, std::string("\0x\0y", 4));
  EXPECT_TRUE(n->abstract());
  EXPECT_EQ(n->ToSockAddr().len, offsetof(sockaddr_un, sun_path) + 4);

  a.len = offsetof(sockaddr_un, sun_path);
  EXPECT_FALSE(ParseAddress(a).ok());
  a.len = sizeof(sockaddr_un) + 1;
  EXPECT_FALSE(ParseAddress(a).ok());
  un.sun_family = AF_INET;
  a = SockAddr::From(un, sizeof(un));
  EXPECT_FALSE(ParseAddress(a).ok());
}

}  // namespace
}  // namespace moat::sockets::unixsock
