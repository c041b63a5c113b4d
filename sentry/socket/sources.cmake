# The sockets: the shared layer and each address family, relative to the repository root;
# included by sentry/CMakeLists.txt.
set(MOAT_SOCKET_SOURCES
  sentry/socket/families.cc
  sentry/socket/hostinet/host_socket.cc
  sentry/socket/hostinet/host_stack.cc
  sentry/socket/interface_ioctl.cc
  sentry/socket/proc_net.cc
  sentry/socket/socket.cc
  sentry/socket/netlink/message.cc
  sentry/socket/netlink/netlink_socket.cc
  sentry/socket/netlink/route.cc
  sentry/socket/unix/gc.cc
  sentry/socket/unix/host.cc
  sentry/socket/unix/names.cc
  sentry/socket/unix/unix_io.cc
  sentry/socket/unix/unix_socket.cc
)

# The netstack (lwIP behind sockets::Stack); sentry/CMakeLists.txt links Debian's liblwip.
list(APPEND MOAT_SOCKET_SOURCES
  sentry/socket/netstack/core.cc
  sentry/socket/netstack/dgram.cc
  sentry/socket/netstack/icmp.cc
  sentry/socket/netstack/link.cc
  sentry/socket/netstack/link_tx.cc
  sentry/socket/netstack/stack.cc
  sentry/socket/netstack/tcp.cc
  sentry/socket/netstack/tcp_conn.cc
  sentry/socket/netstack/udp.cc
)
