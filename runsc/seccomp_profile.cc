// CompileSeccompProfile: config.json's linux.seccomp into BPF, the way runc does it.
#include "runsc/seccomp_profile.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/file_descriptor.h"
#include "base/status_macros.h"

namespace moat::runsc {

namespace {

// Owns a libseccomp filter context.
class FilterContext {
 public:
  explicit FilterContext(uint32_t default_action) : ctx_(seccomp_init(default_action)) {}
  ~FilterContext() {
    if (ctx_) seccomp_release(ctx_);
  }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

// libseccomp reports errors as negative errnos.
absl::Status LibseccompError(std::string_view what, int rc) { return ErrnoStatus(what, -rc); }

// runc's getAction: the libseccomp action for an action name and its errnoRet.
absl::StatusOr<uint32_t> ParseAction(const std::string& name, std::optional<uint32_t> errno_ret,
                                     std::string_view field) {
  // Without errnoRet, ERRNO and TRACE return EPERM, as in runc.
  const uint32_t ret = errno_ret.value_or(EPERM);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(ret);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(ret);
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_NOTIFY") {
    return absl::UnimplementedError(fmt::format(
        "{}: SCMP_ACT_NOTIFY: seccomp user notification is not supported by the sandbox", field));
  }
  return absl::InvalidArgumentError(fmt::format("{}: unknown action \"{}\"", field, name));
}

absl::StatusOr<scmp_compare> ParseOperator(const std::string& op, std::string_view field) {
  static constexpr std::pair<std::string_view, scmp_compare> kOps[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE},           {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},           {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},           {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (const auto& [name, value] : kOps) {
    if (op == name) return value;
  }
  return absl::InvalidArgumentError(fmt::format("{}: unknown operator \"{}\"", field, op));
}

absl::StatusOr<uint32_t> ParseArch(const std::string& arch, std::string_view field) {
  static constexpr std::pair<std::string_view, uint32_t> kArchs[] = {
      {"SCMP_ARCH_X86", SCMP_ARCH_X86},
      {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
      {"SCMP_ARCH_X32", SCMP_ARCH_X32},
      {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
      {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
      {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
      {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
      {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
      {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
      {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
      {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
      {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
      {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
      {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
      {"SCMP_ARCH_S390", SCMP_ARCH_S390},
      {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
      {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
      {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
      {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
  };
  for (const auto& [name, value] : kArchs) {
    if (arch == name) return value;
  }
  return absl::InvalidArgumentError(fmt::format("{}: unknown architecture \"{}\"", field, arch));
}

absl::Status CheckFlag(const std::string& flag, std::string_view field) {
  // They change how a filter is loaded, and the sentry loads the profile itself.
  if (flag == "SECCOMP_FILTER_FLAG_TSYNC" || flag == "SECCOMP_FILTER_FLAG_LOG" ||
      flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
    return absl::OkStatus();
  if (flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
    return absl::UnimplementedError(fmt::format(
        "{}: {}: seccomp user notification is not supported by the sandbox", field, flag));
  }
  return absl::InvalidArgumentError(fmt::format("{}: unknown flag \"{}\"", field, flag));
}

// Adds one syscall of a rule, as runc's matchCall.
absl::Status AddCall(scmp_filter_ctx ctx, const std::string& name, uint32_t action,
                     const std::vector<scmp_arg_cmp>& conds, std::string_view field) {
  int nr = seccomp_syscall_resolve_name(name.c_str());
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();  // unknown here: skipped, as in runc
  std::array<int, 6> per_arg{};
  bool repeated = false;
  for (const scmp_arg_cmp& c : conds) repeated |= ++per_arg[c.arg] > 1;
  auto add = [&](const scmp_arg_cmp* cmps, unsigned count) -> absl::Status {
    int rc = seccomp_rule_add_array(ctx, action, nr, count, cmps);
    if (rc < 0) return LibseccompError(fmt::format("{}: seccomp_rule_add({})", field, name), rc);
    return absl::OkStatus();
  };
  if (!repeated) return add(conds.data(), static_cast<unsigned>(conds.size()));
  // libseccomp takes one condition per argument in a rule: runc then adds each condition as a
  // rule of its own (which matches if any holds).
  for (const scmp_arg_cmp& c : conds) RETURN_IF_ERROR(add(&c, 1));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<sock_filter>> Export(scmp_filter_ctx ctx) {
  // libseccomp 2.5 exports only to an fd.
  FileDescriptor mem(memfd_create("moat-seccomp-profile", MFD_CLOEXEC));
  if (!mem) return ErrnoStatus("memfd_create(moat-seccomp-profile)");
  if (int rc = seccomp_export_bpf(ctx, mem.get()); rc < 0)
    return LibseccompError("seccomp_export_bpf", rc);
  off_t size = lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return absl::InternalError(fmt::format("seccomp_export_bpf wrote {} bytes", size));
  std::vector<sock_filter> prog(size / sizeof(sock_filter));
  if (pread(mem.get(), prog.data(), size, 0) != size) return ErrnoStatus("pread(seccomp profile)");
  return prog;
}

}  // namespace

absl::StatusOr<std::vector<sock_filter>> CompileSeccompProfile(const spec::Seccomp& profile) {
  // runc reads a profile without a default action or rules as no seccomp at all.
  if (profile.default_action.empty() && profile.syscalls.empty()) return std::vector<sock_filter>{};
  if (!profile.listener_path.empty()) {
    return absl::UnimplementedError(
        "linux.seccomp.listenerPath: seccomp user notification is not supported by the sandbox");
  }
  for (size_t i = 0; i < profile.flags.size(); i++)
    RETURN_IF_ERROR(CheckFlag(profile.flags[i], fmt::format("linux.seccomp.flags[{}]", i)));
  ASSIGN_OR_RETURN(uint32_t default_action,
                   ParseAction(profile.default_action, profile.default_errno_ret,
                               "linux.seccomp.defaultAction"));
  FilterContext ctx(default_action);
  if (!ctx.get()) return absl::InternalError("seccomp_init failed");
  for (size_t i = 0; i < profile.architectures.size(); i++) {
    ASSIGN_OR_RETURN(uint32_t arch, ParseArch(profile.architectures[i],
                                              fmt::format("linux.seccomp.architectures[{}]", i)));
    int rc = seccomp_arch_add(ctx.get(), arch);
    if (rc < 0 && rc != -EEXIST) {
      return LibseccompError(
          fmt::format("linux.seccomp.architectures[{}]: seccomp_arch_add({})", i,
                      profile.architectures[i]),
          rc);
    }
  }
  for (size_t i = 0; i < profile.syscalls.size(); i++) {
    const spec::SeccompRule& rule = profile.syscalls[i];
    const std::string field = fmt::format("linux.seccomp.syscalls[{}]", i);
    ASSIGN_OR_RETURN(uint32_t action, ParseAction(rule.action, rule.errno_ret, field + ".action"));
    std::vector<scmp_arg_cmp> conds;
    for (size_t j = 0; j < rule.args.size(); j++) {
      const spec::SeccompArg& arg = rule.args[j];
      const std::string arg_field = fmt::format("{}.args[{}]", field, j);
      if (arg.index > 5) {
        return absl::InvalidArgumentError(
            fmt::format("{}.index: {} is not an argument (syscalls have 6)", arg_field, arg.index));
      }
      ASSIGN_OR_RETURN(scmp_compare op, ParseOperator(arg.op, arg_field + ".op"));
      conds.push_back(scmp_arg_cmp{arg.index, op, arg.value, arg.value_two});
    }
    for (size_t j = 0; j < rule.names.size(); j++) {
      const std::string& name = rule.names[j];
      if (name.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("{}.names[{}]: an empty string is not a syscall", field, j));
      }
      // A rule that does what the default does is redundant (and libseccomp refuses it).
      if (action == default_action) continue;
      RETURN_IF_ERROR(AddCall(ctx.get(), name, action, conds, field));
    }
  }
  return Export(ctx.get());
}

}  // namespace moat::runsc
