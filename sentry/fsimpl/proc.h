// procfs: /proc as the sandbox's processes see it (DESIGN.md section 6), generated from the
// kernel's state each time a file is read: the task tree and thread groups (kernel.h), memory
// managers (argv, envp, auxv and the mappings the sentry made, mm.h), fd tables, fs contexts,
// credentials, signal state and mount namespaces.
//
// /proc/self and /proc/thread-self name the reading task; /proc/<pid> exists for every process
// of the sandbox's one pid namespace (zombies included) and for every thread id, and vanishes
// when the process is reaped; files opened before then fail with ESRCH. Files that expose a
// process's memory or open files (environ, auxv, maps, fd/, exe, cwd, root) are guarded like
// Linux's: the owner's permission bits, then ptrace_may_access (same ids, or CAP_SYS_PTRACE).
// fd/N, exe, cwd and root are magic links: walking through them lands where they point (a pipe
// reopens as itself), while readlink shows the path or "pipe:[ino]".
//
// The source files: proc.cc (the root, self links, access rules), proc_pid.cc (the per-process
// directories), proc_pid_files.cc (stat, status, maps, ...), proc_sys.cc (/proc/sys and the
// system-wide files). The building blocks are in synthetic.h.
//
// The kernel is found through the reading task (Task::Current()), so one procfs serves the
// sandbox whatever kernel object runs it; reads from a thread that is no task see no processes.
//
// /proc/<pid>/net (proc_net.cc) shows the sandbox's network Stack (sentry/socket/proc_net.h).
//
// TODO(#3): smaps, mem, io, and maps entries for
// anonymous memory the application mapped natively (mm.h).
#ifndef MOAT_SENTRY_FSIMPL_PROC_H_
#define MOAT_SENTRY_FSIMPL_PROC_H_

#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

// A new procfs; returns its root dentry. The first call reads the host's /proc/cpuinfo (to pass
// it through) and must therefore happen at sandbox start, before any application runs: no host
// path is opened after that.
RefPtr<vfs::Dentry> NewProcfs();

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_PROC_H_
