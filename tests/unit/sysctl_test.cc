// The kernel's sysctl store (sentry/kernel/sysctl.h) and user-namespace id maps
// (sentry/kernel/id_map.h).
#include "sentry/kernel/sysctl.h"

#include <gtest/gtest.h>

#include "sentry/kernel/id_map.h"

namespace moat::kernel {
namespace {

TEST(SysctlsTest, DefaultsAreLinuxs) {
  Sysctls s;
  EXPECT_EQ(s.Get("kernel/shmmni"), "4096");
  EXPECT_EQ(s.Get("kernel/sem"), "32000\t1024000000\t500\t32000");
  EXPECT_EQ(s.Get("net/ipv4/ping_group_range"), "1\t0");
  EXPECT_EQ(s.Get("vm/swappiness"), "");
}

TEST(SysctlsTest, SetParsesLikeProcDointvec) {
  Sysctls s;
  ASSERT_TRUE(s.Set("net/ipv4/ping_group_range", "0   2147483647\n").ok());
  EXPECT_EQ(s.Get("net/ipv4/ping_group_range"), "0\t2147483647");
  // Fewer values than the parameter holds update the first ones.
  ASSERT_TRUE(s.Set("kernel/sem", "250").ok());
  EXPECT_EQ(s.Get("kernel/sem"), "250\t1024000000\t500\t32000");
  ASSERT_TRUE(s.Set("kernel/shmmax", "18446744073709551615").ok());
  EXPECT_EQ(s.Get("kernel/shmmax"), "18446744073709551615");
  ASSERT_TRUE(s.Set("kernel/msgmax", "-1").ok());
  EXPECT_EQ(s.Get("kernel/msgmax"), "-1");
}

TEST(SysctlsTest, BadValuesAreEinvalAndChangeNothing) {
  Sysctls s;
  for (const char* bad : {"", "abc", "12x", "1 2", "2147483648"}) {
    Result<void> r = s.Set("kernel/msgmax", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().value(), EINVAL) << bad;
  }
  EXPECT_FALSE(s.Set("kernel/shmmax", "-1").ok());
  EXPECT_EQ(s.Get("kernel/msgmax"), "8192");
  Result<void> r = s.Set("vm/swappiness", "1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value(), ENOENT);
}

TEST(SysctlsTest, PathOfDottedNames) {
  EXPECT_EQ(Sysctls::PathOf("net.ipv4.ping_group_range"), "net/ipv4/ping_group_range");
  EXPECT_EQ(Sysctls::PathOf("kernel/shmmax"), "kernel/shmmax");
  EXPECT_NE(Sysctls::Find("fs/mqueue/msg_max"), nullptr);
}

TEST(IdMapTest, IdentityByDefault) {
  IdMap m;
  EXPECT_TRUE(m.identity());
  EXPECT_EQ(m.ToInside(12345), 12345u);
  EXPECT_EQ(m.ToOutside(0), 0u);
  EXPECT_EQ(m.ProcText(), "         0          0 4294967295\n");
}

TEST(IdMapTest, RangesMapBothWays) {
  IdMap m({{0, 100000, 65536}, {70000, 5, 2}});
  EXPECT_FALSE(m.identity());
  EXPECT_EQ(m.ToInside(100000), 0u);
  EXPECT_EQ(m.ToInside(165535), 65535u);
  EXPECT_EQ(m.ToInside(165536), std::nullopt);
  EXPECT_EQ(m.ToInsideOrOverflow(0), IdMap::kOverflowId);
  EXPECT_EQ(m.ToInside(6), 70001u);
  EXPECT_EQ(m.ToOutside(3), 100003u);
  EXPECT_EQ(m.ToOutside(70000), 5u);
  EXPECT_EQ(m.ToOutside(65536), std::nullopt);
  EXPECT_EQ(m.ProcText(), "         0     100000      65536\n     70000          5          2\n");
}

}  // namespace
}  // namespace moat::kernel
