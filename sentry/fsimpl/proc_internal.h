// The parts of procfs (proc.h) that its source files share: what a /proc/<pid> directory
// describes (Target), the access rules, and the builders of each part of the tree.
//
// Locking: everything here that reads the task tree takes Kernel::mu_ itself, copies what it
// needs, and releases it before touching application memory, file tables or mount namespaces
// (task.h: a handler never holds Kernel::mu_ while it copies memory).
#ifndef MOAT_SENTRY_FSIMPL_PROC_INTERNAL_H_
#define MOAT_SENTRY_FSIMPL_PROC_INTERNAL_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

#include "sentry/fsimpl/synthetic.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::fsimpl::proc {

inline constexpr std::string_view kFs = "proc";
// Linux's USER_HZ: the unit of the clock-tick fields of stat files.
inline constexpr int64_t kClockTicks = 100;

// What the host told the sentry when the filesystem was made (before any application ran).
struct HostInfo {
  uint64_t dev = 0;       // the filesystem's device number
  std::string cpuinfo;    // /proc/cpuinfo, passed through
  std::string boot_id;    // /proc/sys/kernel/random/boot_id
  int cpus = 1;
};
const HostInfo& Host();

// The process (or thread) that a /proc/<pid> or /proc/<pid>/task/<tid> directory, and every
// file in it, describes. Its identity is checked against the kernel's tables whenever it is
// used: a reaped process or an exited thread makes its files fail with ESRCH and its directory
// vanish from the parent.
struct Target {
  kernel::Kernel* kernel = nullptr;
  RefPtr<kernel::ThreadGroup> tg;
  // The thread of a per-thread view (task/<tid>, or /proc/<tid> of a thread that does not lead
  // its group); null for the process as a whole.
  RefPtr<kernel::Task> thread;
  // Whether this is a task/<tid> directory (which has no task/ of its own).
  bool in_task_dir = false;

  pid_t pid() const { return tg->pid(); }
  pid_t tid() const { return thread ? thread->tid() : tg->pid(); }
  // The path of the directory inside /proc ("12", "12/task/13"): the key of inode numbers.
  std::string Key() const;

  // Whether it still exists: a zombie process does, a reaped one does not (Kernel::mu_ held).
  bool ExistsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(kernel->mu_);
  // The task whose state the files show: the thread, or the leader of the process (null once
  // the leader has exited, as for a zombie). Kernel::mu_ held.
  kernel::Task* ShownTaskLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(kernel->mu_);
  // A live task through which the process's memory, files and mounts are reached: the shown
  // task, or any thread still alive. Null for a zombie. Kernel::mu_ held.
  kernel::Task* AnyTaskLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(kernel->mu_);
  // AnyTaskLocked taking the lock; ESRCH if the target is gone, null for a zombie.
  Result<RefPtr<kernel::Task>> AnyTask() const;
};

// The owner of a target's files: its effective ids, or root for a process that is not dumpable
// (Linux's task_dump_owner).
std::pair<uid_t, gid_t> Owner(const Target& t);
// Linux's ptrace_may_access(PTRACE_MODE_READ_FSCREDS) of `reader` on the target: the same
// process, or the same real, effective and saved ids as the reader's fs ids, and a dumpable
// target; or CAP_SYS_PTRACE. EACCES otherwise. A null reader (the sentry) may.
Result<void> MayAccess(const Target& t, kernel::Task* reader);

// ---- Builders ----

// The directory /proc/<pid> (or task/<tid>) of `t`.
RefPtr<vfs::Inode> NewPidDir(const Target& t);
// The directory /proc/<pid>/net (proc_net.cc).
RefPtr<vfs::Inode> NewNetDir(const Target& t);
// The /proc/sys tree.
RefPtr<synthetic::StaticDir> NewSysDir();
// Adds the system-wide files (meminfo, cpuinfo, stat, uptime, ...) to the /proc root.
void AddSystemFiles(synthetic::StaticDir& root);

// ---- Per-process file contents (proc_pid_files.cc) ----
// Each fails with ESRCH once the target is gone. `reader` is the task reading (may be null).

Result<std::string> StatFile(const Target& t, kernel::Task* reader);
Result<std::string> StatmFile(const Target& t);
Result<std::string> StatusFile(const Target& t, kernel::Task* reader);
Result<std::string> MapsFile(const Target& t);
Result<std::string> LimitsFile(const Target& t);
// `info`: mountinfo's format, else mounts'.
Result<std::string> MountsFile(const Target& t, bool info);
// The argv (or envp) strings from the process's memory, as cmdline and environ show them.
Result<std::string> ArgsFile(const Target& t, bool environment);
Result<std::string> FdinfoFile(const Target& t, int fd);

// Escapes what would break a line of mounts or mountinfo (space, tab, newline, backslash) as
// octal, like Linux's mangle().
std::string MangleMountField(std::string_view s);

}  // namespace moat::fsimpl::proc

#endif  // MOAT_SENTRY_FSIMPL_PROC_INTERNAL_H_
