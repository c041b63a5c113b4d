# The filesystem implementations, relative to the repository root; included by
# sentry/CMakeLists.txt.
set(MOAT_FSIMPL_SOURCES
  sentry/fsimpl/dev.cc
  sentry/fsimpl/gofer.cc
  sentry/fsimpl/overlay.cc
  sentry/fsimpl/pipe.cc
  sentry/fsimpl/tmpfs.cc
)
