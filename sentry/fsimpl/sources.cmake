# The filesystem implementations, relative to the repository root; included by
# sentry/CMakeLists.txt.
set(MOAT_FSIMPL_SOURCES
  sentry/fsimpl/dev.cc
  sentry/fsimpl/devpts.cc
  sentry/fsimpl/hostfs.cc
  sentry/fsimpl/overlay.cc
  sentry/fsimpl/pipe.cc
  sentry/fsimpl/pty.cc
  sentry/fsimpl/tmpfs.cc
  sentry/fsimpl/tty_ldisc.cc
)
