// The names config.json may use, as data: rlimits, capabilities, namespaces, hooks, mount options,
// the scheduler and I/O priority names, and seccomp's actions, operators, architectures and flags.
// The parser (parse*.cc) accepts exactly these and FeaturesJson (output.cc) lists them, so the two
// cannot disagree. Internal to runsc/spec/.
#ifndef MOAT_RUNSC_SPEC_NAMES_H_
#define MOAT_RUNSC_SPEC_NAMES_H_

#include <sys/resource.h>

#include <algorithm>
#include <iterator>
#include <string_view>
#include <utility>

#include "runsc/spec/spec.h"

namespace moat::runsc::spec::names {

// True if `name` is one of `list`.
template <typename List>
bool Contains(const List& list, std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

// setrlimit(2) resources by their config.json name.
inline constexpr std::pair<std::string_view, int> kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

// Capabilities in the order of their numbers (capabilities(7)): kCapabilities[n] is CAP number n.
inline constexpr std::string_view kCapabilities[] = {
    "CAP_CHOWN",            "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID",           "CAP_KILL",         "CAP_SETGID",          "CAP_SETUID",
    "CAP_SETPCAP",          "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",        "CAP_NET_RAW",      "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",       "CAP_SYS_RAWIO",    "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",        "CAP_SYS_ADMIN",    "CAP_SYS_BOOT",        "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",     "CAP_SYS_TIME",     "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
    "CAP_LEASE",            "CAP_AUDIT_WRITE",  "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",     "CAP_MAC_ADMIN",    "CAP_SYSLOG",          "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",    "CAP_AUDIT_READ",   "CAP_PERFMON",         "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
static_assert(std::size(kCapabilities) == 41, "CAP_CHECKPOINT_RESTORE is capability 40");

// linux.namespaces[].type, sorted.
inline constexpr std::string_view kNamespaces[] = {"cgroup", "ipc",  "mount", "network",
                                                   "pid",    "time", "user",  "uts"};

// The hooks object's keys, in the order the lifecycle runs them.
inline constexpr std::string_view kHooks[] = {"prestart",        "createRuntime", "createContainer",
                                              "startContainer", "poststart",     "poststop"};

// Mount options that set (value true) or clear (value false) one field of MountOptions.
struct MountFlag {
  std::string_view name;
  bool MountOptions::*field;
  bool value;
};
inline constexpr MountFlag kMountFlags[] = {
    {"ro", &MountOptions::readonly, true},
    {"rw", &MountOptions::readonly, false},
    {"nosuid", &MountOptions::nosuid, true},
    {"suid", &MountOptions::nosuid, false},
    {"nodev", &MountOptions::nodev, true},
    {"dev", &MountOptions::nodev, false},
    {"noexec", &MountOptions::noexec, true},
    {"exec", &MountOptions::noexec, false},
    {"bind", &MountOptions::bind, true},
    {"rbind", &MountOptions::rbind, true},
    {"noatime", &MountOptions::noatime, true},
    {"atime", &MountOptions::noatime, false},
    {"relatime", &MountOptions::relatime, true},
    {"norelatime", &MountOptions::relatime, false},
    {"strictatime", &MountOptions::strictatime, true},
    {"nostrictatime", &MountOptions::strictatime, false},
    {"nodiratime", &MountOptions::nodiratime, true},
    {"diratime", &MountOptions::nodiratime, false},
    {"sync", &MountOptions::sync, true},
    {"async", &MountOptions::sync, false},
    {"dirsync", &MountOptions::dirsync, true},
    {"nosymfollow", &MountOptions::nosymfollow, true},
    {"symfollow", &MountOptions::nosymfollow, false},
    {"mand", &MountOptions::mand, true},
    {"nomand", &MountOptions::mand, false},
    {"lazytime", &MountOptions::lazytime, true},
    {"nolazytime", &MountOptions::lazytime, false},
    {"iversion", &MountOptions::iversion, true},
    {"noiversion", &MountOptions::iversion, false},
    {"silent", &MountOptions::silent, true},
    {"loud", &MountOptions::silent, false},
    {"remount", &MountOptions::remount, true},
    {"tmpcopyup", &MountOptions::tmpcopyup, true},
    {"rro", &MountOptions::rec_readonly, true},
    {"rrw", &MountOptions::rec_readonly, false},
    {"rnosuid", &MountOptions::rec_nosuid, true},
    {"rsuid", &MountOptions::rec_nosuid, false},
    {"rnodev", &MountOptions::rec_nodev, true},
    {"rdev", &MountOptions::rec_nodev, false},
    {"rnoexec", &MountOptions::rec_noexec, true},
    {"rexec", &MountOptions::rec_noexec, false},
    {"rnoatime", &MountOptions::rec_noatime, true},
    {"ratime", &MountOptions::rec_noatime, false},
    {"rrelatime", &MountOptions::rec_relatime, true},
    {"rnorelatime", &MountOptions::rec_relatime, false},
    {"rstrictatime", &MountOptions::rec_strictatime, true},
    {"rnostrictatime", &MountOptions::rec_strictatime, false},
    {"rnodiratime", &MountOptions::rec_nodiratime, true},
    {"rdiratime", &MountOptions::rec_nodiratime, false},
    {"rnosymfollow", &MountOptions::rec_nosymfollow, true},
    {"rsymfollow", &MountOptions::rec_nosymfollow, false},
};
// An option that changes nothing ("defaults" in mount(8)).
inline constexpr std::string_view kMountNoop = "defaults";
// Propagation options (also the values of linux.rootfsPropagation).
inline constexpr std::string_view kPropagations[] = {"private", "rprivate", "shared", "rshared",
                                                     "slave",   "rslave",   "unbindable",
                                                     "runbindable"};

// process.scheduler.policy and .flags (sched_setattr(2)).
inline constexpr std::string_view kSchedPolicies[] = {"SCHED_OTHER", "SCHED_FIFO",  "SCHED_RR",
                                                      "SCHED_BATCH", "SCHED_ISO",   "SCHED_IDLE",
                                                      "SCHED_DEADLINE"};
inline constexpr std::string_view kSchedFlags[] = {
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM",        "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",   "SCHED_FLAG_KEEP_PARAMS",    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX"};
// process.ioPriority.class (ioprio_set(2)).
inline constexpr std::string_view kIoPrioClasses[] = {"IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                                                      "IOPRIO_CLASS_IDLE"};

// Seccomp names (libseccomp's, as config-linux.md lists them), sorted.
inline constexpr std::string_view kSeccompActions[] = {
    "SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO",      "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",      "SCMP_ACT_TRACE",      "SCMP_ACT_TRAP"};
inline constexpr std::string_view kSeccompOperators[] = {
    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",       "SCMP_CMP_LE",
    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"};
// Every architecture a config may name (filters for the others are simply never used here)...
inline constexpr std::string_view kSeccompArchs[] = {
    "SCMP_ARCH_AARCH64",  "SCMP_ARCH_ARM",         "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",     "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",   "SCMP_ARCH_PARISC64",    "SCMP_ARCH_PPC",      "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_RISCV64",     "SCMP_ARCH_S390",     "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",      "SCMP_ARCH_X86",         "SCMP_ARCH_X86_64"};
// ...and the ones this runtime runs, which the features document reports.
inline constexpr std::string_view kSeccompSupportedArchs[] = {"SCMP_ARCH_X32", "SCMP_ARCH_X86",
                                                              "SCMP_ARCH_X86_64"};
inline constexpr std::string_view kSeccompFlags[] = {
    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};

// linux.personality.domain and linux.timeOffsets' clock names.
inline constexpr std::string_view kPersonalityDomains[] = {"LINUX", "LINUX32"};
inline constexpr std::string_view kTimeOffsetClocks[] = {"boottime", "monotonic"};

}  // namespace moat::runsc::spec::names

#endif  // MOAT_RUNSC_SPEC_NAMES_H_
