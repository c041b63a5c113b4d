# The VFS sources, relative to the repository root; included by sentry/CMakeLists.txt.
set(MOAT_VFS_SOURCES
  sentry/vfs/vfs.cc
  sentry/vfs/namei.cc
  sentry/vfs/fd_table.cc
  sentry/vfs/lock.cc
  sentry/vfs/xattr.cc
  sentry/vfs/inotify.cc
  sentry/vfs/splice.cc
  sentry/vfs/fasync.cc
  sentry/vfs/dnotify.cc
  sentry/vfs/lease.cc
  sentry/vfs/memory_inode.cc
)
