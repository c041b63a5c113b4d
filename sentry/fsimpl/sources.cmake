# The filesystem implementations, relative to the repository root; included by
# sentry/CMakeLists.txt.
set(MOAT_FSIMPL_SOURCES
  sentry/fsimpl/dev.cc
  sentry/fsimpl/hostfs.cc
  sentry/fsimpl/overlay.cc
  sentry/fsimpl/pipe.cc
  sentry/fsimpl/proc.cc
  sentry/fsimpl/proc_pid.cc
  sentry/fsimpl/proc_pid_files.cc
  sentry/fsimpl/proc_sys.cc
  sentry/fsimpl/synthetic.cc
  sentry/fsimpl/sys.cc
  sentry/fsimpl/tmpfs.cc
)
