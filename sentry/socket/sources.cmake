# The sockets: the shared layer and each address family, relative to the repository root;
# included by sentry/CMakeLists.txt.
set(MOAT_SOCKET_SOURCES
  sentry/socket/families.cc
  sentry/socket/socket.cc
)
