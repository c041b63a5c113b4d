// libFuzzer target: config.json text as runsc reads it (runsc/spec), then linux.seccomp compiled
// as runsc boot compiles it (runsc/seccomp_profile.h) and checked as the sentry checks a filter
// before it installs it (sentry/kernel/seccomp.h).
//
// Beyond "no crash, no leak, no undefined behaviour", it checks what the rest of runsc relies on:
//   - a refused config has an error message (runsc prints it as the reason);
//   - an accepted one keeps the promises of spec.h: absolute paths where they must be, a
//     process with args, env entries of the form NAME=value, values within their ranges;
//   - the text parses as a process.json too (runsc exec --process) without crashing;
//   - a profile CompileSeccompProfile accepts is a program the sentry accepts, unless Linux
//     would refuse it as well (longer than BPF_MAXINSNS), so that `runsc boot` never fails on a
//     profile runc runs; and the program runs to a return on any syscall.
#include <linux/audit.h>
#include <seccomp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "runsc/seccomp_profile.h"
#include "sentry/kernel/seccomp.h"

namespace moat {
namespace {

// Stops the run with `what`: libFuzzer then saves the input as a crash.
[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "spec_fuzzer: %s\n", what);
  std::abort();
}

// Runs `prog` on a few syscalls: fixed ones and those the profile names, with arguments that
// are zero, all ones, or around the values its conditions compare with.
void RunProgram(const std::vector<sock_filter>& prog, const runsc::spec::Seccomp& profile) {
  std::vector<int> numbers = {0, 1, 59, 165, 250, 272, 0x40000000 | 1, -1};
  std::vector<std::array<uint64_t, 6>> args = {{}, {~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull}};
  for (const runsc::spec::SeccompRule& rule : profile.syscalls) {
    for (const std::string& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr != __NR_SCMP_ERROR && numbers.size() < 16) numbers.push_back(nr);
    }
    for (const runsc::spec::SeccompArg& a : rule.args) {
      if (a.index > 5 || args.size() >= 8) continue;
      for (uint64_t v : {a.value, a.value + 1, a.value - 1}) {
        std::array<uint64_t, 6> vec{};
        vec[a.index] = v;
        args.push_back(vec);
      }
    }
  }
  for (uint32_t arch : std::array<uint32_t, 3>{AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0}) {
    for (int nr : numbers) {
      for (const std::array<uint64_t, 6>& vec : args) {
        seccomp_data d{};
        d.nr = nr;
        d.arch = arch;
        d.instruction_pointer = 0x401000;
        std::copy(vec.begin(), vec.end(), std::begin(d.args));
        (void)kernel::RunSeccompProgram(prog, d);
      }
    }
  }
}

bool Absolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

// What the parser promises (spec.h) and the rest of runsc relies on without checking again.
void CheckProcess(const runsc::spec::Process& p) {
  if (p.args.empty()) Fail("a process without args was accepted");
  if (!Absolute(p.cwd)) Fail("a relative process.cwd was accepted");
  for (const std::string& e : p.env) {
    if (e.find('=') == std::string::npos || e[0] == '=') Fail("an env entry not NAME=value was accepted");
  }
  if (p.oom_score_adj && (*p.oom_score_adj < -1000 || *p.oom_score_adj > 1000))
    Fail("an oomScoreAdj out of [-1000, 1000] was accepted");
}

void CheckSpec(const runsc::spec::Spec& s) {
  if (s.process) CheckProcess(*s.process);
  for (const runsc::spec::Mount& m : s.mounts) {
    if (!Absolute(m.destination)) Fail("a relative mount destination was accepted");
  }
  for (const auto* hooks : {&s.hooks.prestart, &s.hooks.create_runtime, &s.hooks.create_container,
                            &s.hooks.start_container, &s.hooks.poststart, &s.hooks.poststop}) {
    for (const runsc::spec::Hook& h : *hooks) {
      if (!Absolute(h.path)) Fail("a relative hook path was accepted");
      if (h.timeout && *h.timeout <= 0) Fail("a hook timeout <= 0 was accepted");
    }
  }
  for (const auto* paths : {&s.linux.masked_paths, &s.linux.readonly_paths}) {
    for (const std::string& p : *paths) {
      if (!Absolute(p)) Fail("a relative masked or read-only path was accepted");
    }
  }
  if (s.linux.seccomp) {
    for (const runsc::spec::SeccompRule& r : s.linux.seccomp->syscalls) {
      if (r.names.empty()) Fail("a seccomp rule without names was accepted");
      for (const runsc::spec::SeccompArg& a : r.args) {
        if (a.index > 5) Fail("a seccomp argument index above 5 was accepted");
      }
    }
  }
}

}  // namespace
}  // namespace moat

// libseccomp 2.5.4 (Debian 12's) leaks the nodes of a rule's argument tree when, on SCMP_ARCH_X86,
// a rule with conditions goes on socketcall after rules with the same conditions on two of the
// calls it multiplexes (tests/fuzz/spec/regression-libseccomp-socketcall-leak.json: every call
// succeeds, and seccomp_release frees the rest). LeakSanitizer ignores what libseccomp allocates: with
// libseccomp built without frame pointers, the allocating frame is all the fast unwinder sees,
// and whole stacks (to suppress by seccomp_rule_add_array only) made the target 4.5 times slower.
// The filter context is released by FilterContext's destructor (runsc/seccomp_profile.cc).
extern "C" const char* __lsan_default_suppressions() { return "leak:libseccomp.so.2\n"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace moat;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<runsc::spec::Process> process = runsc::spec::ParseProcess(text);
  if (!process.ok() && process.status().message().empty()) Fail("a process.json refused without a message");
  if (process.ok()) CheckProcess(*process);

  absl::StatusOr<runsc::spec::Spec> spec = runsc::spec::ParseSpec(text);
  if (!spec.ok()) {
    if (spec.status().message().empty()) Fail("a config.json refused without a message");
    return 0;
  }
  CheckSpec(*spec);
  if (!spec->linux.seccomp) return 0;
  absl::StatusOr<std::vector<sock_filter>> prog = runsc::CompileSeccompProfile(*spec->linux.seccomp);
  if (!prog.ok()) {
    if (prog.status().message().empty()) Fail("a seccomp profile refused without a message");
    return 0;
  }
  if (prog->empty()) return 0;  // the profile disables seccomp
  // Linux's seccomp(2) refuses a longer program; runc fails on it too.
  if (prog->size() > kernel::kSeccompMaxProgramLength) return 0;
  Result<void> valid = kernel::ValidateSeccompProgram(*prog);
  if (!valid.ok()) Fail("CompileSeccompProfile made a program the sentry refuses");
  if (kernel::SeccompCountedLength(*prog) > kernel::kSeccompMaxPathLength) return 0;
  RunProgram(*prog, *spec->linux.seccomp);
  return 0;
}
