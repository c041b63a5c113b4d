/* Case network_none: with --network=none the sandbox has its own loopback and nothing else. The
 * driver listens on the host (TCP and UDP on 127.0.0.1, ::1 and the host's other addresses, an
 * abstract AF_UNIX socket) and logs anything that reaches it; the program connects and sends to
 * each, lists the interfaces through netlink, and tries raw and packet sockets.
 * Usage: network_none pids=FILE tcp=ADDR:PORT,... udp=ADDR:PORT,... abstract=NAME */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "escape.h"

/* "1.2.3.4:80" or "[::1]:80" into a sockaddr. */
static int parse(const char* s, struct sockaddr_storage* ss, socklen_t* len) {
  char host[128];
  int port;
  memset(ss, 0, sizeof(*ss));
  if (s[0] == '[') {
    const char* end = strchr(s, ']');
    if (!end || end[1] != ':') return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
    port = atoi(end + 2);
    struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -1;
    *len = sizeof(*a);
  } else {
    const char* colon = strrchr(s, ':');
    if (!colon) return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    port = atoi(colon + 1);
    struct sockaddr_in* a = (struct sockaddr_in*)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
    *len = sizeof(*a);
  }
  return 0;
}

static void tcp(const char* target) {
  struct sockaddr_storage ss;
  socklen_t len;
  char what[200];
  if (parse(target, &ss, &len) < 0) {
    broken("bad address %s", target);
    return;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  long r = connect(fd, (struct sockaddr*)&ss, len);
  int err = errno;
  if (r < 0 && err == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    poll(&p, 1, 2000);
    socklen_t l = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    r = err ? -1 : 0;
  }
  snprintf(what, sizeof(what), "tcp connect %s", target);
  tried(what, r, err);
  if (r == 0) {
    (void)!write(fd, "MOAT-NET-ESCAPE\n", 16);
    escaped("a TCP connection to the host's %s", target);
  }
  close(fd);
}

static void udp(const char* target) {
  struct sockaddr_storage ss;
  socklen_t len;
  char what[200];
  if (parse(target, &ss, &len) < 0) {
    broken("bad address %s", target);
    return;
  }
  int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
  long r = sendto(fd, "MOAT-NET-ESCAPE\n", 16, 0, (struct sockaddr*)&ss, len);
  snprintf(what, sizeof(what), "udp sendto %s (the host's listener logs what arrives)", target);
  tried(what, r, errno);
  close(fd);
}

static void abstract(const char* name) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "%s", name);
  socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
  for (int type = SOCK_STREAM; type <= SOCK_DGRAM; type++) {
    int fd = socket(AF_UNIX, type, 0);
    long r = type == SOCK_STREAM ? connect(fd, (struct sockaddr*)&a, len)
                                 : sendto(fd, "MOAT-NET-ESCAPE\n", 16, 0, (struct sockaddr*)&a, len);
    char what[200];
    snprintf(what, sizeof(what), "unix %s @%s", type == SOCK_STREAM ? "connect" : "sendto", name);
    tried(what, r, errno);
    if (r >= 0) escaped("reached the host's abstract socket @%s", name);
    close(fd);
  }
}

/* RTM_GETLINK dump: every interface the sandbox sees. Only "lo" may be there. */
static void netlink_links(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  tried("socket(AF_NETLINK, NETLINK_ROUTE)", fd, errno);
  if (fd < 0) return;
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } req = {{sizeof(req), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0}, {.ifi_family = AF_UNSPEC}};
  send(fd, &req, sizeof(req), 0);
  char buf[16384];
  int links = 0;
  for (;;) {
    long n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    int done = 0;
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = 1;
        break;
      }
      struct ifinfomsg* ifi = NLMSG_DATA(h);
      int alen = IFLA_PAYLOAD(h);
      for (struct rtattr* a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type != IFLA_IFNAME) continue;
        printf("  netlink: interface %d %s\n", ifi->ifi_index, (char*)RTA_DATA(a));
        links++;
        if (strcmp(RTA_DATA(a), "lo") != 0)
          escaped("the sandbox sees interface %s", (char*)RTA_DATA(a));
      }
    }
    if (done) break;
  }
  close(fd);
  if (links == 0) broken("netlink listed no interface at all (not even lo)");
  /* if_nameindex goes the same way in glibc; ioctl(SIOCGIFCONF) another. */
  struct if_nameindex* ni = if_nameindex();
  for (struct if_nameindex* p = ni; p && p->if_index; p++) {
    printf("  if_nameindex: %u %s\n", p->if_index, p->if_name);
    if (strcmp(p->if_name, "lo") != 0) escaped("if_nameindex lists %s", p->if_name);
  }
  if (ni) if_freenameindex(ni);
}

static void raw_sockets(void) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
  tried("socket(AF_PACKET, SOCK_RAW)", fd, errno);
  if (fd >= 0) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 500);
    char buf[2048];
    long n = r > 0 ? recv(fd, buf, sizeof(buf), MSG_DONTWAIT) : -1;
    tried("recv on the packet socket (500 ms)", n, errno);
    close(fd);
  }
  fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  tried("socket(AF_INET, SOCK_RAW, ICMP)", fd, errno);
  if (fd >= 0) close(fd);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  wait_pids();
  char list[2048];
  const char* t = arg("tcp");
  const char* u = arg("udp");
  const char* ab = arg("abstract");
  if (!t || !u || !ab) broken("usage: network_none pids=FILE tcp=... udp=... abstract=NAME");
  snprintf(list, sizeof(list), "%s", t ? t : "");
  for (char* s = strtok(list, ","); s; s = strtok(NULL, ",")) tcp(s);
  snprintf(list, sizeof(list), "%s", u ? u : "");
  for (char* s = strtok(list, ","); s; s = strtok(NULL, ",")) udp(s);
  if (ab) abstract(ab);
  netlink_links();
  raw_sockets();
  return finish("network_none");
}
