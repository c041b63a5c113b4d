// The syscall table: every x86-64 syscall number and what the sandbox does with it. It is data:
// `runsc syscalls` prints it as the compatibility report, and table_test checks it is complete.
#include <sys/syscall.h>

#include "syscalls/syscall_names.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using kernel::Support;
using kernel::SyscallEntry;
using kernel::SyscallFn;
using kernel::SyscallTable;

namespace {

class Builder {
 public:
  // Implemented as Linux documents it.
  void Supported(int nr, SyscallFn fn) { Set(nr, {nullptr, fn, Support::kSupported, 0, ""}); }
  // Implemented, with the gaps in `note`.
  void Partial(int nr, SyscallFn fn, const char* note) {
    Set(nr, {nullptr, fn, Support::kPartial, 0, note});
  }
  // Always fails with `err`, for the reason in `note`.
  void Error(int nr, int err, const char* note) {
    Set(nr, {nullptr, nullptr, Support::kError, err, note});
  }
  // Every named syscall not set explicitly: not implemented yet.
  SyscallTable Finish() {
    for (int nr = 0; nr < kernel::kMaxSyscall; nr++) {
      SyscallEntry& e = t_[nr];
      e.name = SyscallName(nr);
      if (e.name && e.support == Support::kUnknown) {
        e.support = Support::kError;
        e.err = ENOSYS;
        e.note = kernel::kNotImplemented;
      }
    }
    return t_;
  }

 private:
  void Set(int nr, SyscallEntry e) { t_[nr] = e; }
  SyscallTable t_{};
};

SyscallTable Build() {
  Builder b;
  // Files and I/O.
  b.Supported(SYS_read, Read);
  b.Supported(SYS_write, Write);
  b.Supported(SYS_open, Open);
  b.Supported(SYS_close, Close);
  b.Supported(SYS_stat, Stat);
  b.Supported(SYS_fstat, Fstat);
  b.Supported(SYS_lstat, Lstat);
  b.Supported(SYS_poll, Poll);
  b.Supported(SYS_lseek, Lseek);
  b.Partial(SYS_ioctl, Ioctl, "generic requests, terminals and pipes; others ENOTTY");
  b.Supported(SYS_pread64, Pread64);
  b.Supported(SYS_pwrite64, Pwrite64);
  b.Supported(SYS_readv, Readv);
  b.Supported(SYS_writev, Writev);
  b.Supported(SYS_access, Access);
  b.Supported(SYS_pipe, Pipe);
  b.Supported(SYS_select, Select);
  b.Supported(SYS_dup, Dup);
  b.Supported(SYS_dup2, Dup2);
  b.Partial(SYS_fcntl, Fcntl,
            "no F_GET_RW_HINT/F_SET_RW_HINT or F_CREATED_QUERY; lease-break-time is its fixed "
            "45 s default");
  b.Supported(SYS_flock, Flock);
  b.Supported(SYS_fsync, Fsync);
  b.Supported(SYS_fdatasync, Fdatasync);
  b.Supported(SYS_truncate, Truncate);
  b.Supported(SYS_ftruncate, Ftruncate);
  b.Supported(SYS_getdents, Getdents);
  b.Supported(SYS_getcwd, Getcwd);
  b.Supported(SYS_chdir, Chdir);
  b.Supported(SYS_fchdir, Fchdir);
  b.Supported(SYS_rename, Rename);
  b.Supported(SYS_mkdir, Mkdir);
  b.Supported(SYS_rmdir, Rmdir);
  b.Supported(SYS_creat, Creat);
  b.Supported(SYS_link, Link);
  b.Supported(SYS_unlink, Unlink);
  b.Supported(SYS_symlink, Symlink);
  b.Supported(SYS_readlink, Readlink);
  b.Supported(SYS_chmod, Chmod);
  b.Supported(SYS_fchmod, Fchmod);
  b.Supported(SYS_chown, Chown);
  b.Supported(SYS_fchown, Fchown);
  b.Supported(SYS_lchown, Lchown);
  b.Supported(SYS_umask, Umask);
  b.Supported(SYS_utime, Utime);
  b.Supported(SYS_mknod, Mknod);
  b.Partial(SYS_statfs, Statfs, "sizes are the sandbox's memory, not a disk's");
  b.Partial(SYS_fstatfs, Fstatfs, "sizes are the sandbox's memory, not a disk's");
  b.Supported(SYS_chroot, Chroot);
  b.Supported(SYS_sync, Sync);
  b.Supported(SYS_getdents64, Getdents64);
  b.Supported(SYS_utimes, Utimes);
  b.Supported(SYS_openat, Openat);
  b.Supported(SYS_mkdirat, Mkdirat);
  b.Supported(SYS_mknodat, Mknodat);
  b.Supported(SYS_fchownat, Fchownat);
  b.Supported(SYS_futimesat, Futimesat);
  b.Supported(SYS_newfstatat, Newfstatat);
  b.Supported(SYS_unlinkat, Unlinkat);
  b.Supported(SYS_renameat, Renameat);
  b.Supported(SYS_linkat, Linkat);
  b.Supported(SYS_symlinkat, Symlinkat);
  b.Supported(SYS_readlinkat, Readlinkat);
  b.Supported(SYS_fchmodat, Fchmodat);
  b.Supported(SYS_faccessat, Faccessat);
  b.Supported(SYS_pselect6, Pselect6);
  b.Supported(SYS_ppoll, Ppoll);
  b.Supported(SYS_utimensat, Utimensat);
  b.Supported(SYS_dup3, Dup3);
  b.Supported(SYS_pipe2, Pipe2);
  b.Supported(SYS_preadv, Preadv);
  b.Supported(SYS_pwritev, Pwritev);
  b.Supported(SYS_syncfs, Syncfs);
  b.Partial(SYS_renameat2, Renameat2, "RENAME_WHITEOUT returns EINVAL");
  b.Supported(SYS_fadvise64, Fadvise64);
  b.Partial(SYS_getxattr, Getxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_lgetxattr, Lgetxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_fgetxattr, Fgetxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_listxattr, Listxattr, "tmpfs and the overlay keep attributes");
  b.Partial(SYS_llistxattr, Llistxattr, "tmpfs and the overlay keep attributes");
  b.Partial(SYS_flistxattr, Flistxattr, "tmpfs and the overlay keep attributes");
  b.Partial(SYS_setxattr, Setxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_lsetxattr, Lsetxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_fsetxattr, Fsetxattr, "tmpfs and the overlay keep attributes; no system.* (ACLs)");
  b.Partial(SYS_removexattr, Removexattr, "tmpfs and the overlay keep attributes");
  b.Partial(SYS_lremovexattr, Lremovexattr, "tmpfs and the overlay keep attributes");
  b.Partial(SYS_fremovexattr, Fremovexattr, "tmpfs and the overlay keep attributes");
  b.Supported(SYS_preadv2, Preadv2);
  b.Supported(SYS_pwritev2, Pwritev2);
  b.Supported(SYS_statx, Statx);
  b.Supported(SYS_close_range, CloseRange);
  b.Supported(SYS_faccessat2, Faccessat2);
  b.Supported(452, Fchmodat2);  // SYS_fchmodat2, which older C library headers lack
  b.Partial(SYS_memfd_create, MemfdCreate, "MFD_HUGETLB is ENOSYS (no hugetlbfs)");
  b.Partial(SYS_fallocate, Fallocate, "tmpfs modes only (allocate, KEEP_SIZE, PUNCH_HOLE)");
  b.Supported(SYS_sync_file_range, SyncFileRange);
  b.Partial(SYS_openat2, Openat2, "RESOLVE_CACHED always resolves");

  // Event files.
  b.Supported(SYS_epoll_create, EpollCreate);
  b.Supported(SYS_epoll_create1, EpollCreate1);
  b.Supported(SYS_epoll_ctl, EpollCtl);
  b.Supported(SYS_epoll_wait, EpollWait);
  b.Supported(SYS_epoll_pwait, EpollPwait);
  b.Supported(SYS_epoll_pwait2, EpollPwait2);
  b.Supported(SYS_eventfd, Eventfd);
  b.Supported(SYS_eventfd2, Eventfd2);
  b.Supported(SYS_timerfd_create, TimerfdCreate);
  b.Partial(SYS_timerfd_settime, TimerfdSettime,
            "TFD_TIMER_CANCEL_ON_SET never cancels: the host clock cannot be set");
  b.Supported(SYS_timerfd_gettime, TimerfdGettime);
  b.Supported(SYS_signalfd, Signalfd);
  b.Supported(SYS_signalfd4, Signalfd4);
  b.Supported(SYS_sendfile, Sendfile);
  b.Partial(SYS_splice, Splice, "data is copied, not shared: spliced bytes may share pipe pages");
  b.Partial(SYS_tee, Tee, "data is copied, not shared: spliced bytes may share pipe pages");
  b.Partial(SYS_vmsplice, Vmsplice,
            "pages are copied, not pinned (later changes to the buffer are not seen); no "
            "SPLICE_F_GIFT");
  b.Supported(SYS_copy_file_range, CopyFileRange);
  b.Supported(SYS_inotify_init, InotifyInit);
  b.Supported(SYS_inotify_init1, InotifyInit1);
  b.Partial(SYS_inotify_add_watch, InotifyAddWatch,
            "events for changes made in the sandbox only; no IN_UNMOUNT");
  b.Supported(SYS_inotify_rm_watch, InotifyRmWatch);

  // Memory.
  b.Partial(SYS_mmap, Mmap, "anonymous mappings run natively; file mappings are injected");
  b.Supported(SYS_brk, Brk);

  // Processes and threads.
  b.Supported(SYS_getpid, Getpid);
  b.Supported(SYS_gettid, Gettid);
  b.Supported(SYS_getppid, Getppid);
  b.Partial(SYS_clone, Clone, "no CLONE_NEW* namespaces (EPERM) or CLONE_PIDFD (EINVAL) yet");
  b.Error(SYS_clone3, ENOSYS, "libc falls back to clone(2)");
  b.Supported(SYS_fork, Fork);
  b.Supported(SYS_vfork, Vfork);
  b.Supported(SYS_execve, Execve);
  b.Supported(SYS_execveat, Execveat);
  b.Supported(SYS_exit, Exit);
  b.Supported(SYS_exit_group, ExitGroup);
  b.Supported(SYS_wait4, Wait4);
  b.Partial(SYS_waitid, Waitid, "no P_PIDFD");
  b.Supported(SYS_set_tid_address, SetTidAddress);
  b.Supported(SYS_set_robust_list, SetRobustList);
  b.Supported(SYS_get_robust_list, GetRobustList);
  b.Supported(SYS_setpgid, Setpgid);
  b.Supported(SYS_getpgid, Getpgid);
  b.Supported(SYS_getpgrp, Getpgrp);
  b.Supported(SYS_setsid, Setsid);
  b.Supported(SYS_getsid, Getsid);
  b.Partial(SYS_prctl, Prctl,
            "names, death signal, subreaper, dumpable, capabilities, seccomp; others EINVAL");
  b.Supported(SYS_arch_prctl, ArchPrctl);
  b.Partial(SYS_unshare, Unshare, "CLONE_FILES and CLONE_FS; namespaces return EPERM");
  b.Error(SYS_rseq, ENOSYS, "restartable sequences are not offered (the filter answers)");

  // Signals.
  b.Supported(SYS_rt_sigaction, RtSigaction);
  b.Supported(SYS_rt_sigprocmask, RtSigprocmask);
  b.Supported(SYS_rt_sigreturn, RtSigreturn);
  b.Supported(SYS_rt_sigpending, RtSigpending);
  b.Supported(SYS_rt_sigsuspend, RtSigsuspend);
  b.Supported(SYS_rt_sigtimedwait, RtSigtimedwait);
  b.Supported(SYS_rt_sigqueueinfo, RtSigqueueinfo);
  b.Supported(SYS_rt_tgsigqueueinfo, RtTgsigqueueinfo);
  b.Supported(SYS_kill, Kill);
  b.Supported(SYS_tkill, Tkill);
  b.Supported(SYS_tgkill, Tgkill);
  b.Supported(SYS_sigaltstack, Sigaltstack);
  b.Supported(SYS_pause, Pause);

  // Time.
  b.Supported(SYS_nanosleep, Nanosleep);
  b.Supported(SYS_clock_nanosleep, ClockNanosleep);
  b.Supported(SYS_clock_gettime, ClockGettime);
  b.Supported(SYS_clock_getres, ClockGetres);
  b.Supported(SYS_gettimeofday, Gettimeofday);
  b.Supported(SYS_time, Time);
  b.Partial(SYS_clock_settime, ClockSettime, "the host clock cannot be set: EPERM");
  b.Partial(SYS_settimeofday, Settimeofday, "the host clock cannot be set: EPERM");
  b.Partial(SYS_adjtimex, Adjtimex, "read-only (modes 0); changes return EPERM");
  b.Supported(SYS_alarm, Alarm);
  b.Partial(SYS_setitimer, Setitimer, "ITIMER_VIRTUAL also counts the process's (small) system time");
  b.Supported(SYS_getitimer, Getitimer);
  b.Supported(SYS_timer_create, TimerCreate);
  b.Supported(SYS_timer_settime, TimerSettime);
  b.Supported(SYS_timer_gettime, TimerGettime);
  b.Supported(SYS_timer_getoverrun, TimerGetoverrun);
  b.Supported(SYS_timer_delete, TimerDelete);
  b.Supported(SYS_times, Times);
  b.Supported(SYS_restart_syscall, RestartSyscall);

  // Identity.
  b.Supported(SYS_getuid, Getuid);
  b.Supported(SYS_geteuid, Geteuid);
  b.Supported(SYS_getgid, Getgid);
  b.Supported(SYS_getegid, Getegid);
  b.Supported(SYS_getresuid, Getresuid);
  b.Supported(SYS_getresgid, Getresgid);
  b.Supported(SYS_setuid, Setuid);
  b.Supported(SYS_setgid, Setgid);
  b.Supported(SYS_setreuid, Setreuid);
  b.Supported(SYS_setregid, Setregid);
  b.Supported(SYS_setresuid, Setresuid);
  b.Supported(SYS_setresgid, Setresgid);
  b.Supported(SYS_setfsuid, Setfsuid);
  b.Supported(SYS_setfsgid, Setfsgid);
  b.Supported(SYS_getgroups, Getgroups);
  b.Supported(SYS_setgroups, Setgroups);
  b.Supported(SYS_capget, Capget);
  b.Supported(SYS_capset, Capset);

  // System.
  b.Supported(SYS_uname, Uname);
  b.Supported(SYS_sethostname, Sethostname);
  b.Supported(SYS_setdomainname, Setdomainname);
  b.Supported(SYS_getrandom, Getrandom);
  b.Supported(SYS_sysinfo, Sysinfo);
  b.Supported(SYS_getrlimit, Getrlimit);
  b.Supported(SYS_setrlimit, Setrlimit);
  b.Supported(SYS_prlimit64, Prlimit64);
  b.Partial(SYS_getrusage, Getrusage, "self: CPU times and peak RSS only");
  b.Partial(SYS_personality, Personality, "recorded, not acted on");
  b.Supported(SYS_sched_getaffinity, SchedGetaffinity);
  b.Supported(SYS_sched_setaffinity, SchedSetaffinity);
  b.Partial(SYS_sched_getscheduler, SchedGetscheduler, "every task is SCHED_OTHER");
  b.Partial(SYS_sched_setscheduler, SchedSetscheduler, "accepted, not applied");
  b.Partial(SYS_sched_getparam, SchedGetparam, "every task is SCHED_OTHER");
  b.Partial(SYS_sched_setparam, SchedSetparam, "accepted, not applied");
  b.Supported(SYS_sched_get_priority_max, SchedGetPriorityMax);
  b.Supported(SYS_sched_get_priority_min, SchedGetPriorityMin);
  b.Supported(SYS_sched_rr_get_interval, SchedRrGetInterval);
  b.Partial(SYS_getpriority, Getpriority, "nice values are recorded, not applied to host threads");
  b.Partial(SYS_setpriority, Setpriority, "nice values are recorded, not applied to host threads");
  b.Supported(SYS_membarrier, Membarrier);

  // Run natively: the passthrough set of the application's filter (DESIGN.md section 5). They
  // reach the sentry only if the filter changes; the host then runs them.
  for (int nr : {SYS_munmap, SYS_mprotect, SYS_madvise, SYS_mremap, SYS_msync, SYS_mincore,
                 SYS_mlock, SYS_munlock, SYS_mlock2, SYS_mlockall, SYS_munlockall, SYS_futex,
                 SYS_futex_waitv, SYS_sched_yield, SYS_getcpu}) {
    b.Supported(nr, [](Task&, const SyscallArgs&) -> Result<long> { return Errno(kEHOSTSYSCALL); });
  }

  // Refused on purpose: the sandbox does not let the application touch the host's kernel,
  // devices or other processes.
  for (int nr : {SYS_reboot, SYS_kexec_load, SYS_kexec_file_load, SYS_init_module,
                 SYS_finit_module, SYS_delete_module, SYS_swapon, SYS_swapoff, SYS_acct,
                 SYS_iopl, SYS_ioperm, SYS_pivot_root, SYS_quotactl, SYS_nfsservctl,
                 SYS_lookup_dcookie, SYS_vhangup}) {
    b.Error(nr, EPERM, "changes the host kernel or its devices");
  }
  b.Error(SYS_syslog, EPERM, "the host's kernel log is not the sandbox's");
  b.Error(SYS_ptrace, EPERM, "TODO(#3): ptrace of sandboxed processes");
  b.Error(SYS_process_vm_readv, ENOSYS, "TODO(#3)");
  b.Error(SYS_process_vm_writev, ENOSYS, "TODO(#3)");
  b.Error(SYS_perf_event_open, ENODEV, "no performance counters in the sandbox");
  b.Error(SYS_bpf, EPERM, "no eBPF in the sandbox");
  b.Error(SYS_userfaultfd, ENOSYS, "not offered");
  b.Error(SYS_io_uring_setup, ENOSYS, "not offered (gVisor's default too)");
  b.Error(SYS_io_uring_enter, ENOSYS, "not offered");
  b.Error(SYS_io_uring_register, ENOSYS, "not offered");
  b.Error(SYS_uselib, ENOSYS, "obsolete (a.out)");
  b.Error(SYS_create_module, ENOSYS, "removed from Linux");
  b.Error(SYS_get_kernel_syms, ENOSYS, "removed from Linux");
  b.Error(SYS_query_module, ENOSYS, "removed from Linux");
  b.Error(SYS_getpmsg, ENOSYS, "never implemented by Linux");
  b.Error(SYS_putpmsg, ENOSYS, "never implemented by Linux");
  b.Error(SYS_afs_syscall, ENOSYS, "never implemented by Linux");
  b.Error(SYS_tuxcall, ENOSYS, "never implemented by Linux");
  b.Error(SYS_security, ENOSYS, "never implemented by Linux");
  b.Error(SYS_vserver, ENOSYS, "never implemented by Linux");
  b.Error(SYS__sysctl, ENOSYS, "removed from Linux");
  b.Error(SYS_ustat, ENOSYS, "obsolete");
  b.Error(SYS_sysfs, ENOSYS, "obsolete");
  b.Error(SYS_modify_ldt, ENOSYS, "16-bit segments are not offered");
  b.Error(SYS_set_thread_area, ENOSYS, "32-bit TLS is not offered");
  b.Error(SYS_get_thread_area, ENOSYS, "32-bit TLS is not offered");
  b.Partial(SYS_seccomp, Seccomp,
            "filters and strict mode enforced by the sentry; SECCOMP_FILTER_FLAG_NEW_LISTENER "
            "(user notification) is EINVAL, RET_USER_NOTIF and RET_TRACE give ENOSYS");
  b.Error(SYS_pkey_mprotect, ENOSYS, "memory protection keys are not offered");
  b.Error(SYS_pkey_alloc, ENOSPC, "memory protection keys are not offered");
  b.Error(SYS_pkey_free, EINVAL, "memory protection keys are not offered");
  b.Error(SYS_mbind, EPERM, "no NUMA policy in the sandbox");
  b.Error(SYS_set_mempolicy, EPERM, "no NUMA policy in the sandbox");
  b.Error(SYS_migrate_pages, EPERM, "no NUMA policy in the sandbox");
  b.Error(SYS_move_pages, EPERM, "no NUMA policy in the sandbox");
  b.Error(SYS_get_mempolicy, ENOSYS, "no NUMA policy in the sandbox (as a kernel without NUMA)");
  b.Error(453, ENOSYS, "map_shadow_stack: no shadow stacks");
  // Sockets (socket.cc; the families in sentry/socket/).
  b.Supported(SYS_socket, Socket_);
  b.Supported(SYS_socketpair, Socketpair);
  b.Supported(SYS_bind, Bind);
  b.Supported(SYS_connect, Connect);
  b.Supported(SYS_listen, Listen);
  b.Supported(SYS_accept, Accept);
  b.Supported(SYS_accept4, Accept4);
  b.Supported(SYS_sendto, Sendto);
  b.Supported(SYS_recvfrom, Recvfrom);
  b.Supported(SYS_sendmsg, Sendmsg);
  b.Supported(SYS_recvmsg, Recvmsg);
  b.Supported(SYS_sendmmsg, Sendmmsg);
  b.Supported(SYS_recvmmsg, Recvmmsg);
  b.Supported(SYS_getsockopt, Getsockopt);
  b.Supported(SYS_setsockopt, Setsockopt);
  b.Supported(SYS_getsockname, Getsockname);
  b.Supported(SYS_getpeername, Getpeername);
  b.Supported(SYS_shutdown, Shutdown);
  return b.Finish();
}

}  // namespace

const SyscallTable& Table() {
  static const SyscallTable table = Build();
  return table;
}

}  // namespace moat::syscalls
