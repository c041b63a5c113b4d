# ELF and "#!" parsing for execve. Paths are relative to the repository root.
set(MOAT_LOADER_SOURCES
  sentry/loader/elf.cc
  sentry/loader/shebang.cc
)
