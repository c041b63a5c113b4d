# x86-64 initial stack and signal frames. Paths are relative to the repository root.
set(MOAT_ARCH_SOURCES
  sentry/arch/signal_frame.cc
  sentry/arch/stack.cc
)
