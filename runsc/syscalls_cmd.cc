// runsc syscalls: prints the syscall table as the compatibility report.
#include <cstdio>

#include "runsc/commands.h"
#include "sentry/kernel/syscall_table.h"
#include "syscalls/syscalls.h"

namespace moat::runsc {

namespace {

const char* SupportName(kernel::Support s) {
  switch (s) {
    case kernel::Support::kSupported: return "supported";
    case kernel::Support::kPartial: return "partial";
    case kernel::Support::kError: return "unsupported";
    case kernel::Support::kUnknown: return "unknown";
  }
  return "?";
}

}  // namespace

CommandRunner RegisterSyscalls(CLI::App& app, const GlobalOptions&) {
  CLI::App* sub = app.add_subcommand("syscalls", "print the syscall compatibility table");
  auto only = std::make_shared<std::string>();
  sub->add_option("--only", *only, "print only: supported, partial or unsupported");
  return [only]() {
    const kernel::SyscallTable& t = syscalls::Table();
    int counts[3] = {};
    std::printf("%-4s %-24s %-12s %s\n", "NR", "NAME", "SUPPORT", "NOTE");
    for (int nr = 0; nr < kernel::kMaxSyscall; nr++) {
      const kernel::SyscallEntry& e = t[nr];
      if (!e.name) continue;
      const char* support = SupportName(e.support);
      if (e.support == kernel::Support::kSupported) counts[0]++;
      if (e.support == kernel::Support::kPartial) counts[1]++;
      if (e.support == kernel::Support::kError) counts[2]++;
      if (!only->empty() && *only != support) continue;
      std::string note = e.note;
      if (e.support == kernel::Support::kError) {
        note = Errno(e.err).Name() + (note.empty() ? "" : ": " + note);
      }
      std::printf("%-4d %-24s %-12s %s\n", nr, e.name, support, note.c_str());
    }
    std::printf("\n%d syscalls: %d supported, %d partial, %d unsupported\n",
                counts[0] + counts[1] + counts[2], counts[0], counts[1], counts[2]);
    return 0;
  };
}

}  // namespace moat::runsc
