# The filesystem implementations, relative to the repository root; included by
# sentry/CMakeLists.txt.
set(MOAT_FSIMPL_SOURCES
  sentry/fsimpl/anon_inode.cc
  sentry/fsimpl/cgroupfs.cc
  sentry/fsimpl/dev.cc
  sentry/fsimpl/devpts.cc
  sentry/fsimpl/epoll.cc
  sentry/fsimpl/eventfd.cc
  sentry/fsimpl/gofer.cc
  sentry/fsimpl/overlay.cc
  sentry/fsimpl/pipe.cc
  sentry/fsimpl/proc.cc
  sentry/fsimpl/proc_net.cc
  sentry/fsimpl/proc_pid.cc
  sentry/fsimpl/proc_pid_files.cc
  sentry/fsimpl/proc_sys.cc
  sentry/fsimpl/pty.cc
  sentry/fsimpl/signalfd.cc
  sentry/fsimpl/synthetic.cc
  sentry/fsimpl/sys.cc
  sentry/fsimpl/timerfd.cc
  sentry/fsimpl/tmpfs.cc
  sentry/fsimpl/tty_ldisc.cc
)
