# The sockets: the shared layer and each address family, relative to the repository root;
# included by sentry/CMakeLists.txt.
set(MOAT_SOCKET_SOURCES
  sentry/socket/families.cc
  sentry/socket/socket.cc
  sentry/socket/unix/gc.cc
  sentry/socket/unix/host.cc
  sentry/socket/unix/names.cc
  sentry/socket/unix/unix_io.cc
  sentry/socket/unix/unix_socket.cc
)
