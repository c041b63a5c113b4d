// Conformance tests for what tools read about the network besides netlink: the interface ioctls
// on any socket (netdevice(7): SIOCGIFCONF, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS,
// SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFMTU, SIOCGIFHWADDR) and the files of /proc/net
// (proc(5)): dev, tcp, tcp6, udp, udp6, if_inet6, route, unix, snmp, checked against what
// netlink reports and against sockets the test opens.

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>

#include <fstream>
#include <sstream>

#include "tests/syscalls/netlink_util.h"

namespace moat::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

ifreq NamedReq(const char* name) {
  ifreq r{};
  std::strncpy(r.ifr_name, name, IFNAMSIZ - 1);
  return r;
}

// A socket of every kind the interface ioctls work on.
std::vector<int> Families() { return {AF_INET, AF_INET6, AF_NETLINK}; }

FileDescriptor SocketOf(int family) {
  int type = family == AF_NETLINK ? SOCK_RAW : SOCK_DGRAM;
  return FileDescriptor(socket(family, type | SOCK_CLOEXEC, 0));
}

// ---- Interface ioctls ----

TEST(NetifTest, IndexAndNameOfLoopback) {
  for (int family : Families()) {
    FileDescriptor s = SocketOf(family);
    ASSERT_TRUE(s.valid()) << family << ": " << ErrnoString(errno);
    ifreq r = NamedReq("lo");
    ASSERT_THAT(ioctl(s.get(), SIOCGIFINDEX, &r), SyscallSucceeds()) << family;
    EXPECT_EQ(r.ifr_ifindex, 1);
    r = {};
    r.ifr_ifindex = 1;
    ASSERT_THAT(ioctl(s.get(), SIOCGIFNAME, &r), SyscallSucceeds());
    EXPECT_STREQ(r.ifr_name, "lo");
  }
}

// glibc's if_nametoindex and if_indextoname ask an AF_UNIX socket first.
TEST(NetifTest, UnixSocketsAnswerInterfaceIoctls) {
  FileDescriptor s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(s.valid()) << ErrnoString(errno);
  ifreq r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFINDEX, &r), SyscallSucceeds());
  EXPECT_EQ(r.ifr_ifindex, 1);
  r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFFLAGS, &r), SyscallSucceeds());
  EXPECT_TRUE(r.ifr_flags & IFF_LOOPBACK);
  ifconf ifc{};
  EXPECT_THAT(ioctl(s.get(), SIOCGIFCONF, &ifc), SyscallSucceeds());
  // The IPv4 address ones are AF_INET's.
  r = NamedReq("lo");
  EXPECT_THAT(ioctl(s.get(), SIOCGIFADDR, &r), SyscallFailsWithErrno(ENOTTY));
}

TEST(NetifTest, UnknownInterfaces) {
  FileDescriptor s = SocketOf(AF_INET);
  ifreq r = NamedReq("nosuchif0");
  EXPECT_THAT(ioctl(s.get(), SIOCGIFINDEX, &r), SyscallFailsWithErrno(ENODEV));
  EXPECT_THAT(ioctl(s.get(), SIOCGIFFLAGS, &r), SyscallFailsWithErrno(ENODEV));
  EXPECT_THAT(ioctl(s.get(), SIOCGIFMTU, &r), SyscallFailsWithErrno(ENODEV));
  EXPECT_THAT(ioctl(s.get(), SIOCGIFHWADDR, &r), SyscallFailsWithErrno(ENODEV));
  EXPECT_THAT(ioctl(s.get(), SIOCGIFADDR, &r), SyscallFailsWithErrno(ENODEV));
  r = {};
  r.ifr_ifindex = 0x7ffffff0;
  EXPECT_THAT(ioctl(s.get(), SIOCGIFNAME, &r), SyscallFailsWithErrno(ENODEV));
  EXPECT_THAT(ioctl(s.get(), SIOCGIFINDEX, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(NetifTest, FlagsMtuAndHardwareAddressAgreeWithNetlink) {
  RouteSocket nl;
  std::vector<LinkInfo> links = DumpLinks(nl);
  ASSERT_FALSE(links.empty());
  FileDescriptor s = SocketOf(AF_INET);
  for (const LinkInfo& l : links) {
    ifreq r = NamedReq(l.name.c_str());
    ASSERT_THAT(ioctl(s.get(), SIOCGIFFLAGS, &r), SyscallSucceeds()) << l.name;
    EXPECT_EQ(static_cast<uint16_t>(r.ifr_flags), l.flags & 0xffff) << l.name;
    r = NamedReq(l.name.c_str());
    ASSERT_THAT(ioctl(s.get(), SIOCGIFMTU, &r), SyscallSucceeds());
    EXPECT_EQ(static_cast<uint32_t>(r.ifr_mtu), l.mtu) << l.name;
    r = NamedReq(l.name.c_str());
    ASSERT_THAT(ioctl(s.get(), SIOCGIFHWADDR, &r), SyscallSucceeds());
    EXPECT_EQ(r.ifr_hwaddr.sa_family, l.type) << l.name;
  }
  ifreq r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFFLAGS, &r), SyscallSucceeds());
  EXPECT_TRUE(r.ifr_flags & IFF_UP);
  EXPECT_TRUE(r.ifr_flags & IFF_LOOPBACK);
  EXPECT_TRUE(r.ifr_flags & IFF_RUNNING);
  r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFHWADDR, &r), SyscallSucceeds());
  EXPECT_EQ(r.ifr_hwaddr.sa_family, ARPHRD_LOOPBACK);
  for (int i = 0; i < 6; i++) EXPECT_EQ(r.ifr_hwaddr.sa_data[i], 0);
}

TEST(NetifTest, AddressIoctlsAreInetOnly) {
  for (int family : {AF_INET6, AF_NETLINK}) {
    FileDescriptor s = SocketOf(family);
    ifreq r = NamedReq("lo");
    EXPECT_THAT(ioctl(s.get(), SIOCGIFADDR, &r), SyscallFailsWithErrno(ENOTTY)) << family;
    EXPECT_THAT(ioctl(s.get(), SIOCGIFNETMASK, &r), SyscallFailsWithErrno(ENOTTY)) << family;
  }
  // FIONREAD is not a netlink socket's.
  FileDescriptor nl = SocketOf(AF_NETLINK);
  int n;
  EXPECT_THAT(ioctl(nl.get(), FIONREAD, &n), SyscallFailsWithErrno(ENOTTY));
}

TEST(NetifTest, AddressAndNetmaskOfLoopback) {
  FileDescriptor s = SocketOf(AF_INET);
  ifreq r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFADDR, &r), SyscallSucceeds());
  auto* a = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
  EXPECT_EQ(a->sin_family, AF_INET);
  EXPECT_EQ(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  r = NamedReq("lo");
  ASSERT_THAT(ioctl(s.get(), SIOCGIFNETMASK, &r), SyscallSucceeds());
  auto* m = reinterpret_cast<sockaddr_in*>(&r.ifr_netmask);
  EXPECT_EQ(m->sin_family, AF_INET);
  EXPECT_EQ(m->sin_addr.s_addr, htonl(0xff000000));
}

TEST(NetifTest, InterfaceConfigurationListsIpv4Addresses) {
  FileDescriptor s = SocketOf(AF_INET);
  // Without a buffer: the length needed.
  ifconf ifc{};
  ASSERT_THAT(ioctl(s.get(), SIOCGIFCONF, &ifc), SyscallSucceeds());
  RouteSocket nl;
  size_t v4 = DumpAddrs(nl, AF_INET).size();
  EXPECT_EQ(static_cast<size_t>(ifc.ifc_len), v4 * sizeof(ifreq));
  std::vector<ifreq> reqs(v4 + 2);
  ifc.ifc_len = static_cast<int>(reqs.size() * sizeof(ifreq));
  ifc.ifc_req = reqs.data();
  ASSERT_THAT(ioctl(s.get(), SIOCGIFCONF, &ifc), SyscallSucceeds());
  ASSERT_EQ(static_cast<size_t>(ifc.ifc_len), v4 * sizeof(ifreq));
  bool lo = false;
  for (size_t i = 0; i < v4; i++) {
    auto* a = reinterpret_cast<sockaddr_in*>(&reqs[i].ifr_addr);
    EXPECT_EQ(a->sin_family, AF_INET);
    if (std::string(reqs[i].ifr_name) == "lo") {
      lo = true;
      EXPECT_EQ(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    }
  }
  EXPECT_TRUE(lo);
  // A buffer with room for one entry gets one.
  ifc.ifc_len = sizeof(ifreq) + 3;
  ASSERT_THAT(ioctl(s.get(), SIOCGIFCONF, &ifc), SyscallSucceeds());
  EXPECT_EQ(static_cast<size_t>(ifc.ifc_len), sizeof(ifreq));
}

// ---- /proc/net ----

TEST(NetifTest, ProcNetIsThisProcessNet) {
  char target[64] = {};
  ASSERT_THAT(readlink("/proc/net", target, sizeof(target) - 1), SyscallSucceeds());
  EXPECT_STREQ(target, "self/net");
  struct stat st;
  ASSERT_THAT(stat("/proc/self/net", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  std::string pid_dir = "/proc/" + std::to_string(getpid()) + "/net/dev";
  ASSERT_THAT(stat(pid_dir.c_str(), &st), SyscallSucceeds());
  for (const char* name : {"dev", "tcp", "tcp6", "udp", "udp6", "if_inet6", "route", "unix", "snmp"}) {
    std::string path = std::string("/proc/net/") + name;
    EXPECT_THAT(stat(path.c_str(), &st), SyscallSucceeds()) << path;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << path;
  }
}

TEST(NetifTest, ProcNetDev) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/net/dev"));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "Inter-|   Receive                                                |  Transmit");
  EXPECT_EQ(lines[1],
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
            "errs drop fifo colls carrier compressed");
  RouteSocket nl;
  std::vector<LinkInfo> links = DumpLinks(nl);
  EXPECT_EQ(lines.size() - 2, links.size());
  bool lo = false;
  for (size_t i = 2; i < lines.size(); i++) {
    const std::string& l = lines[i];
    size_t colon = l.find(':');
    ASSERT_NE(colon, std::string::npos) << l;
    // The name is right-aligned in six columns.
    EXPECT_GE(colon, 6u) << l;
    std::string name = l.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") lo = true;
    std::istringstream fields(l.substr(colon + 1));
    int n = 0;
    for (unsigned long long v; fields >> v;) n++;
    EXPECT_EQ(n, 16) << l;
  }
  EXPECT_TRUE(lo);
}

// The entry of /proc/net/{tcp,udp}{,6} whose inode is `ino`, split into fields.
std::vector<std::string> FindSocketLine(const std::string& file, ino_t ino) {
  std::vector<std::string> lines = Lines(ReadFile(file));
  for (size_t i = 1; i < lines.size(); i++) {
    std::istringstream in(lines[i]);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    if (f.size() > 9 && f[9] == std::to_string(ino)) return f;
  }
  return {};
}

ino_t InodeOf(int fd) {
  struct stat st;
  EXPECT_THAT(fstat(fd, &st), SyscallSucceeds());
  return st.st_ino;
}

TEST(NetifTest, ProcNetTcpHeaderAndListener) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/net/tcp"));
  ASSERT_FALSE(lines.empty());
  std::string header =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode";
  EXPECT_EQ(lines[0], header + std::string(149 - header.size(), ' '));
  for (size_t i = 1; i < lines.size(); i++) EXPECT_EQ(lines[i].size(), 149u) << lines[i];

  FileDescriptor s(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  ASSERT_THAT(listen(s.get(), 5), SyscallSucceeds());
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  std::vector<std::string> f = FindSocketLine("/proc/net/tcp", InodeOf(s.get()));
  ASSERT_FALSE(f.empty()) << "no entry for the listener";
  char local[32];
  snprintf(local, sizeof(local), "0100007F:%04X", ntohs(a.sin_port));
  EXPECT_EQ(f[1], local);
  EXPECT_EQ(f[2], "00000000:0000");
  EXPECT_EQ(f[3], "0A");  // TCP_LISTEN
  EXPECT_EQ(f[7], std::to_string(geteuid()));

  // A connection shows on both ends as established.
  FileDescriptor c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_THAT(connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  f = FindSocketLine("/proc/net/tcp", InodeOf(c.get()));
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f[2], local);
  EXPECT_EQ(f[3], "01");  // TCP_ESTABLISHED
}

TEST(NetifTest, ProcNetUdp) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/net/udp"));
  ASSERT_FALSE(lines.empty());
  std::string header =
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode ref pointer drops";
  EXPECT_EQ(lines[0], header + std::string(127 - header.size(), ' '));
  FileDescriptor s(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  std::vector<std::string> f = FindSocketLine("/proc/net/udp", InodeOf(s.get()));
  ASSERT_FALSE(f.empty()) << "no entry for the socket";
  char local[32];
  snprintf(local, sizeof(local), "0100007F:%04X", ntohs(a.sin_port));
  EXPECT_EQ(f[1], local);
  EXPECT_EQ(f[3], "07");  // TCP_CLOSE
  // Queued data shows in rx_queue.
  ASSERT_THAT(sendto(s.get(), "hello", 5, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)),
              SyscallSucceedsWithValue(5));
  f = FindSocketLine("/proc/net/udp", InodeOf(s.get()));
  ASSERT_FALSE(f.empty());
  EXPECT_NE(f[4], "00000000:00000000");
}

TEST(NetifTest, ProcNetTcp6AndUdp6) {
  std::vector<std::string> tcp6 = Lines(ReadFile("/proc/net/tcp6"));
  ASSERT_FALSE(tcp6.empty());
  EXPECT_EQ(tcp6[0],
            "  sl  local_address                         remote_address                        st "
            "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode");
  std::vector<std::string> udp6 = Lines(ReadFile("/proc/net/udp6"));
  ASSERT_FALSE(udp6.empty());
  EXPECT_EQ(udp6[0],
            "  sl  local_address                         remote_address                        st "
            "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops");
  FileDescriptor s(socket(AF_INET6, SOCK_STREAM, 0));
  ASSERT_TRUE(s.valid()) << ErrnoString(errno);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_any;
  ASSERT_THAT(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), SyscallSucceeds());
  ASSERT_THAT(listen(s.get(), 5), SyscallSucceeds());
  socklen_t len = sizeof(a);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len), SyscallSucceeds());
  std::vector<std::string> f = FindSocketLine("/proc/net/tcp6", InodeOf(s.get()));
  ASSERT_FALSE(f.empty());
  char local[64];
  snprintf(local, sizeof(local), "00000000000000000000000000000000:%04X", ntohs(a.sin6_port));
  EXPECT_EQ(f[1], local);
  EXPECT_EQ(f[3], "0A");
  // An IPv6 socket is not in the IPv4 file.
  EXPECT_TRUE(FindSocketLine("/proc/net/tcp", InodeOf(s.get())).empty());
}

TEST(NetifTest, ProcNetIfInet6AgreesWithNetlink) {
  RouteSocket nl;
  std::vector<AddrInfo> v6 = DumpAddrs(nl, AF_INET6);
  std::vector<std::string> lines = Lines(ReadFile("/proc/net/if_inet6"));
  EXPECT_EQ(lines.size(), v6.size());
  for (const std::string& l : lines) {
    // 32 hex digits, index, prefix, scope and flags in hex, and the name right-aligned in 8.
    ASSERT_GE(l.size(), 32u + 13u + 8u) << l;
    std::istringstream in(l);
    std::string addr, index, prefix, scope, flags, name;
    in >> addr >> index >> prefix >> scope >> flags >> name;
    EXPECT_EQ(addr.size(), 32u);
    EXPECT_EQ(index.size(), 2u);
    if (addr == "00000000000000000000000000000001") {
      EXPECT_EQ(index, "01");
      EXPECT_EQ(prefix, "80");
      EXPECT_EQ(scope, "10");
      EXPECT_EQ(name, "lo");
      EXPECT_EQ(l.substr(l.size() - 9), "       lo");
    }
  }
}

TEST(NetifTest, ProcNetRouteAgreesWithNetlink) {
  std::vector<std::string> lines = Lines(ReadFile("/proc/net/route"));
  ASSERT_FALSE(lines.empty());
  std::string header =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
  EXPECT_EQ(lines[0], header + std::string(127 - header.size(), ' '));
  // One line for every IPv4 route of the main table but broadcast and multicast ones.
  RouteSocket nl;
  size_t main_routes = 0;
  for (const NlMessage& m : nl.Dump(RTM_GETROUTE, AF_INET)) {
    rtmsg rt = m.As<rtmsg>();
    if (rt.rtm_table == RT_TABLE_MAIN && rt.rtm_type != RTN_BROADCAST &&
        rt.rtm_type != RTN_MULTICAST) {
      main_routes++;
    }
  }
  EXPECT_EQ(lines.size() - 1, main_routes);
  for (size_t i = 1; i < lines.size(); i++) {
    EXPECT_EQ(lines[i].size(), 127u) << lines[i];
    std::istringstream in(lines[i]);
    std::string iface, dst, gw, flags;
    in >> iface >> dst >> gw >> flags;
    EXPECT_EQ(dst.size(), 8u);
    EXPECT_EQ(gw.size(), 8u);
    EXPECT_EQ(flags.size(), 4u);
    EXPECT_TRUE(std::stoi(flags, nullptr, 16) & 0x1) << "RTF_UP";
  }
}

TEST(NetifTest, ProcNetUnixAndSnmp) {
  std::vector<std::string> unix_lines = Lines(ReadFile("/proc/net/unix"));
  ASSERT_FALSE(unix_lines.empty());
  EXPECT_EQ(unix_lines[0], "Num       RefCount Protocol Flags    Type St Inode Path");
  std::vector<std::string> snmp = Lines(ReadFile("/proc/net/snmp"));
  ASSERT_GE(snmp.size(), 8u);
  EXPECT_EQ(snmp[0].substr(0, 25), "Ip: Forwarding DefaultTTL");
  // Lines come in pairs: names, then as many values.
  std::vector<std::string> prefixes;
  for (size_t i = 0; i + 1 < snmp.size(); i += 2) {
    std::string prefix = snmp[i].substr(0, snmp[i].find(' '));
    prefixes.push_back(prefix);
    EXPECT_EQ(snmp[i + 1].substr(0, prefix.size()), prefix);
    std::istringstream names(snmp[i]), values(snmp[i + 1]);
    int n = 0, v = 0;
    for (std::string w; names >> w;) n++;
    for (std::string w; values >> w;) v++;
    EXPECT_EQ(n, v) << prefix;
  }
  for (const char* want : {"Ip:", "Icmp:", "Tcp:", "Udp:", "UdpLite:"}) {
    EXPECT_NE(std::find(prefixes.begin(), prefixes.end(), want), prefixes.end()) << want;
  }
}

}  // namespace
}  // namespace moat::testing
