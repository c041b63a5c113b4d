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
)
