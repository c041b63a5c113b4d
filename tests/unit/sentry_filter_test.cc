// The sentry's and the gofer's host seccomp filters (runsc/sentry_filter.h, gofer_filter.h), run
// on crafted syscalls: what each allows, what each refuses and how, and that the sentry's, which
// its application processes inherit, lets through everything theirs does.
#include <asm/prctl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <initializer_list>
#include <vector>

#include "platform/platform.h"
#include "platform/stub/stub_layout.h"
#include "runsc/gofer_filter.h"
#include "runsc/sentry_filter.h"
#include "sentry/kernel/seccomp.h"

namespace moat::runsc {
namespace {

seccomp_data Data(int nr, std::initializer_list<uint64_t> args = {}, uint64_t ip = 0x401000) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.instruction_pointer = ip;
  int i = 0;
  for (uint64_t a : args) d.args[i++] = a;
  return d;
}

uint32_t Action(uint32_t ret) { return ret & SECCOMP_RET_ACTION_FULL; }

class SentryFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::vector<sock_filter>> prog = BuildSentryFilter();
    ASSERT_TRUE(prog.ok()) << prog.status();
    prog_ = *prog;
  }
  uint32_t Run(const seccomp_data& d) const { return Action(kernel::RunSeccompProgram(prog_, d)); }
  std::vector<sock_filter> prog_;
};

TEST_F(SentryFilterTest, OpensNoHostPathAndExecsNothingByPath) {
  EXPECT_EQ(Run(Data(__NR_open, {0, O_RDONLY})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_openat, {static_cast<uint64_t>(AT_FDCWD), 0, O_WRONLY | O_CREAT})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_openat, {static_cast<uint64_t>(AT_FDCWD), 0, O_TMPFILE | O_RDWR})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_openat, {3, 0, O_RDONLY})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_execve)), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_execveat, {3, 0, 0, 0, 0})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_execveat, {3, 0, 0, 0, AT_EMPTY_PATH})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_newfstatat, {3, 0, 0, 0})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_newfstatat, {3, 0, 0, AT_EMPTY_PATH})), SECCOMP_RET_ALLOW);
  for (int nr : {__NR_mkdirat, __NR_unlinkat, __NR_renameat2, __NR_symlinkat, __NR_linkat,
                 __NR_chroot, __NR_pivot_root, __NR_mount, __NR_umount2, __NR_open_by_handle_at,
                 __NR_name_to_handle_at, __NR_fchmodat, __NR_fchownat, __NR_truncate}) {
    EXPECT_EQ(Run(Data(nr)), SECCOMP_RET_TRACE) << "syscall " << nr;
  }
}

TEST_F(SentryFilterTest, NeitherNewNamespacesNorHostPrivileges) {
  EXPECT_EQ(Run(Data(__NR_clone, {CLONE_VM | CLONE_THREAD | CLONE_SIGHAND})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_clone, {CLONE_NEWPID | SIGCHLD})), SECCOMP_RET_ALLOW);
  for (uint64_t ns : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWCGROUP}) {
    EXPECT_EQ(Run(Data(__NR_clone, {ns | SIGCHLD})), SECCOMP_RET_TRACE) << ns;
  }
  EXPECT_EQ(Run(Data(__NR_unshare, {CLONE_NEWUSER})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_setns, {3, CLONE_NEWPID})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_setns, {3, CLONE_NEWNS})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_setns, {3, 0})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_socket, {AF_UNIX, SOCK_STREAM})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_socket, {AF_PACKET, SOCK_RAW})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_prctl, {PR_SET_NAME})), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Run(Data(__NR_prctl, {PR_CAP_AMBIENT})), SECCOMP_RET_TRACE);
  EXPECT_EQ(Run(Data(__NR_prctl, {PR_SET_SECCOMP})), SECCOMP_RET_TRACE);
  for (int nr : {__NR_setuid, __NR_capset, __NR_init_module, __NR_bpf, __NR_perf_event_open,
                 __NR_keyctl, __NR_add_key, __NR_kexec_load, __NR_reboot, __NR_io_uring_setup,
                 __NR_userfaultfd, __NR_clone3}) {
    EXPECT_EQ(Run(Data(nr)), SECCOMP_RET_TRACE) << "syscall " << nr;
  }
}

TEST_F(SentryFilterTest, OtherArchitecturesAreKilled) {
  seccomp_data d = Data(__NR_getpid);
  d.arch = AUDIT_ARCH_I386;
  EXPECT_EQ(Run(d), SECCOMP_RET_KILL_PROCESS);
}

// The sentry's filter is inherited by its application processes: whatever theirs lets run on the
// host (the passthrough set, and the stub's syscalls on seccomp_trap) this one must let by, or it
// would turn into a trace stop or, with no tracer, ENOSYS.
TEST_F(SentryFilterTest, LetsByWhatTheApplicationsFilterAllows) {
  for (int nr : platform::PassthroughSyscalls()) {
    uint64_t a0 = nr == __NR_arch_prctl ? ARCH_SET_FS : 0;
    uint64_t a3 = nr == __NR_mmap ? MAP_ANONYMOUS | MAP_PRIVATE : 0;
    EXPECT_EQ(Run(Data(nr, {a0, 0, 0, a3})), SECCOMP_RET_ALLOW) << "syscall " << nr;
  }
  absl::StatusOr<std::vector<sock_filter>> app = platform::BuildTrapAppFilter();
  ASSERT_TRUE(app.ok()) << app.status();
  // Every syscall the stub page may make, as the stub and the sentry's injections make them.
  const uint64_t ip = stub::kBase + 16;
  const std::vector<seccomp_data> from_stub = {
      Data(__NR_rt_sigreturn, {}, ip), Data(__NR_futex, {}, ip), Data(__NR_getpid, {}, ip),
      Data(__NR_exit_group, {}, ip), Data(__NR_tgkill, {1, 1, stub::kInterruptSignal}, ip),
      Data(__NR_recvmsg, {stub::kChannelFd}, ip), Data(__NR_mmap, {0, 4096, 3, MAP_SHARED, 5}, ip),
      Data(__NR_close, {5}, ip), Data(__NR_clone, {SIGCHLD}, ip),
      Data(__NR_seccomp, {SECCOMP_SET_MODE_FILTER}, ip),
      Data(__NR_execveat, {stub::kStubFd, 0, 0, 0, AT_EMPTY_PATH}, ip),
      Data(__NR_arch_prctl, {ARCH_SET_GS}, ip), Data(__NR_dup3, {3, stub::kSysmsgFd}, ip),
      Data(__NR_fcntl, {stub::kSysmsgFd, F_SETOWN_EX}, ip), Data(__NR_membarrier, {}, ip),
      Data(__NR_set_tid_address, {}, ip), Data(__NR_get_robust_list, {}, ip),
      Data(__NR_restart_syscall, {}, ip), Data(__NR_sigaltstack, {}, ip),
      Data(__NR_rt_sigaction, {}, ip), Data(__NR_rt_sigprocmask, {}, ip),
      Data(__NR_getrusage, {}, ip), Data(__NR_gettid, {}, ip), Data(__NR_exit, {}, ip)};
  for (const seccomp_data& d : from_stub) {
    ASSERT_EQ(Action(kernel::RunSeccompProgram(*app, d)), SECCOMP_RET_ALLOW) << "syscall " << d.nr;
    EXPECT_EQ(Run(d), SECCOMP_RET_ALLOW) << "syscall " << d.nr;
  }
}

TEST(GoferFilterTest, FileWorkOnlyThroughFds) {
  absl::StatusOr<std::vector<sock_filter>> prog = BuildGoferFilter();
  ASSERT_TRUE(prog.ok()) << prog.status();
  auto run = [&](const seccomp_data& d) { return kernel::RunSeccompProgram(*prog, d); };
  for (int nr : {__NR_openat, __NR_mkdirat, __NR_unlinkat, __NR_renameat2, __NR_fchownat,
                 __NR_recvmsg, __NR_sendmsg}) {
    EXPECT_EQ(Action(run(Data(nr))), SECCOMP_RET_ALLOW) << "syscall " << nr;
  }
  EXPECT_EQ(Action(run(Data(__NR_socket, {AF_UNIX}))), SECCOMP_RET_ALLOW);
  for (const seccomp_data& d : {Data(__NR_open), Data(__NR_execve), Data(__NR_execveat),
                                Data(__NR_mount), Data(__NR_chroot), Data(__NR_ptrace),
                                Data(__NR_process_vm_readv), Data(__NR_kill), Data(__NR_unshare),
                                Data(__NR_setns), Data(__NR_socket, {AF_INET}),
                                Data(__NR_socket, {AF_PACKET})}) {
    EXPECT_EQ(run(d), SECCOMP_RET_ERRNO | EPERM) << "syscall " << d.nr;
  }
  EXPECT_EQ(run(Data(__NR_clone3)), SECCOMP_RET_ERRNO | ENOSYS);
}

}  // namespace
}  // namespace moat::runsc
