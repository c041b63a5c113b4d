# Unit tests of sentry/loader and sentry/arch, relative to tests/unit. Each is a standalone gtest
# program: elf_test and shebang_test link MOAT_LOADER_SOURCES, stack_test and signal_frame_test
# link MOAT_ARCH_SOURCES (plus base/errno.cc, fmt, gtest_main). The tests fork and execve files
# they write under /tmp, and deliver signals to themselves; they need no privileges.
set(MOAT_LOADER_UNIT_TESTS
  elf_test.cc
  shebang_test.cc
  stack_test.cc
  signal_frame_test.cc
)
