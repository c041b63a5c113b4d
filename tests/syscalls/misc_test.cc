// Conformance tests for system calls that fit no larger family: system
// information, scheduling, personality, prctl flags, priorities, resource
// usage, and the answer to an unknown system call number.

#include <asm/prctl.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <thread>

#include "tests/syscalls/test_util.h"

namespace moat::testing {
namespace {

TEST(UnameTest, Fields) {
  struct utsname u = {};
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_STREQ(u.sysname, "Linux");
  EXPECT_STREQ(u.machine, "x86_64");
  // A release looks like "6.1.0-...": a number, a dot, more.
  EXPECT_TRUE(isdigit(static_cast<unsigned char>(u.release[0]))) << u.release;
  EXPECT_NE(strchr(u.release, '.'), nullptr) << u.release;
  EXPECT_GT(strlen(u.nodename), 0u);
  // Every field is NUL-terminated within its array.
  EXPECT_LT(strnlen(u.version, sizeof(u.version)), sizeof(u.version));
  EXPECT_LT(strnlen(u.domainname, sizeof(u.domainname)), sizeof(u.domainname));
}

TEST(SysinfoTest, PlausibleValues) {
  struct sysinfo info = {};
  ASSERT_THAT(sysinfo(&info), SyscallSucceeds());
  EXPECT_GT(info.uptime, 0);
  EXPECT_GT(info.totalram, 0u);
  EXPECT_LE(info.freeram, info.totalram);
  EXPECT_GE(info.mem_unit, 1u);
  EXPECT_GE(info.procs, 1u);
}

TEST(SysinfoTest, UptimeAgreesWithBoottime) {
  struct sysinfo info = {};
  ASSERT_THAT(sysinfo(&info), SyscallSucceeds());
  struct timespec boot = {};
  ASSERT_THAT(clock_gettime(CLOCK_BOOTTIME, &boot), SyscallSucceeds());
  // sysinfo rounds the boot time clock up to whole seconds.
  EXPECT_LE(std::abs(info.uptime - boot.tv_sec), 2);
}

TEST(GetrandomTest, Basic) {
  unsigned char buf[32] = {};
  ASSERT_THAT(getrandom(buf, sizeof(buf), 0), SyscallSucceedsWithValue(sizeof(buf)));
  ASSERT_THAT(getrandom(buf, sizeof(buf), GRND_NONBLOCK), SyscallSucceedsWithValue(sizeof(buf)));
  EXPECT_THAT(getrandom(buf, sizeof(buf), ~0u), SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// Scheduling

TEST(SchedTest, Yield) { EXPECT_THAT(sched_yield(), SyscallSucceeds()); }

TEST(SchedTest, AffinityHasAtLeastOneCpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  // The raw call returns the number of bytes of mask it filled in.
  long bytes = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
  ASSERT_THAT(bytes, SyscallSucceeds());
  EXPECT_GT(bytes, 0);
  EXPECT_EQ(bytes % sizeof(long), 0u);
  EXPECT_GE(CPU_COUNT(&set), 1);
  // Setting the mask we already have succeeds; an empty mask does not.
  EXPECT_THAT(sched_setaffinity(0, sizeof(set), &set), SyscallSucceeds());
  cpu_set_t empty;
  CPU_ZERO(&empty);
  EXPECT_THAT(sched_setaffinity(0, sizeof(empty), &empty), SyscallFailsWithErrno(EINVAL));
  // A buffer smaller than the kernel's mask, or not a multiple of a long, is refused.
  EXPECT_THAT(syscall(SYS_sched_getaffinity, 0, 1, &set), SyscallFailsWithErrno(EINVAL));
}

TEST(SchedTest, GetcpuIsInAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_THAT(sched_getaffinity(0, sizeof(set), &set), SyscallSucceeds());
  unsigned cpu = ~0u, node = ~0u;
  ASSERT_THAT(syscall(SYS_getcpu, &cpu, &node, nullptr), SyscallSucceeds());
  EXPECT_LT(cpu, static_cast<unsigned>(CPU_SETSIZE));
  EXPECT_TRUE(CPU_ISSET(cpu, &set)) << "cpu " << cpu;
  EXPECT_NE(node, ~0u);
  // Either pointer may be NULL.
  EXPECT_THAT(syscall(SYS_getcpu, nullptr, nullptr, nullptr), SyscallSucceeds());
}

TEST(SchedTest, PolicyAndPriorityRange) {
  EXPECT_THAT(sched_getscheduler(0), SyscallSucceedsWithValue(SCHED_OTHER));
  struct sched_param param = {};
  ASSERT_THAT(sched_getparam(0, &param), SyscallSucceeds());
  EXPECT_EQ(param.sched_priority, 0);
  EXPECT_THAT(sched_get_priority_min(SCHED_FIFO), SyscallSucceedsWithValue(1));
  EXPECT_THAT(sched_get_priority_max(SCHED_FIFO), SyscallSucceedsWithValue(99));
  EXPECT_THAT(sched_get_priority_max(SCHED_OTHER), SyscallSucceedsWithValue(0));
  EXPECT_THAT(sched_get_priority_max(12345), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sched_setscheduler(0, 12345, &param), SyscallFailsWithErrno(EINVAL));
  // SCHED_OTHER takes only priority 0.
  param.sched_priority = 1;
  EXPECT_THAT(sched_setscheduler(0, SCHED_OTHER, &param), SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// Personality and prctl

TEST(PersonalityTest, QueryAndSet) {
  // 0xffffffff only queries.
  int persona = personality(0xffffffff);
  ASSERT_THAT(persona, SyscallSucceeds());
  EXPECT_EQ(persona & PER_MASK, PER_LINUX);
  EXPECT_CHILD_SUCCEEDS([persona] {
    CHILD_CHECK(personality(persona | ADDR_NO_RANDOMIZE) == persona);
    CHILD_CHECK(personality(0xffffffff) == (persona | ADDR_NO_RANDOMIZE));
  });
}

TEST(PrctlTest, Dumpable) {
  EXPECT_THAT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), SyscallSucceedsWithValue(1));
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    CHILD_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
    CHILD_CHECK_SUCCESS(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    CHILD_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
    // 2 (SUID_DUMP_ROOT) is only reachable through the sysctl.
    CHILD_CHECK_ERRNO(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), EINVAL);
  });
}

TEST(PrctlTest, NoNewPrivs) {
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    // The flag cannot be cleared, and unused arguments must be zero.
    CHILD_CHECK_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0), EINVAL);
    CHILD_CHECK_ERRNO(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0), EINVAL);
    // It is inherited by children.
    pid_t pid = fork();
    if (pid == 0) _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    int status = 0;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  });
}

TEST(ArchPrctlTest, FsBaseIsThreadPointer) {
  unsigned long fs = 0;
  ASSERT_THAT(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs), SyscallSucceeds());
  // On x86-64 the thread pointer points at itself.
  unsigned long self = 0;
  asm volatile("mov %%fs:0, %0" : "=r"(self));
  EXPECT_EQ(fs, self);
  EXPECT_NE(fs, 0u);
  EXPECT_THAT(syscall(SYS_arch_prctl, 0x9999, &fs), SyscallFailsWithErrno(EINVAL));
}

// The gs base is the thread's own: set, it reads back, the CPU uses it, a new thread starts
// with its creator's, and it survives a syscall that stops the thread in the sandbox.
TEST(ArchPrctlTest, GsBaseSetsGetsAndAddresses) {
  static uint64_t block[2] = {0x1122334455667788ULL, 0};
  ASSERT_THAT(syscall(SYS_arch_prctl, ARCH_SET_GS, reinterpret_cast<uint64_t>(block)),
              SyscallSucceeds());
  uint64_t gs = 0;
  ASSERT_THAT(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs), SyscallSucceeds());
  EXPECT_EQ(gs, reinterpret_cast<uint64_t>(block));
  getppid();  // a trapped syscall in between
  uint64_t via_gs = 0;
  asm volatile("mov %%gs:0, %0" : "=r"(via_gs));
  EXPECT_EQ(via_gs, block[0]);
  uint64_t in_thread = 0;
  std::thread([&] { asm volatile("mov %%gs:0, %0" : "=r"(in_thread)); }).join();
  EXPECT_EQ(in_thread, block[0]);
  EXPECT_THAT(syscall(SYS_arch_prctl, ARCH_SET_GS, 0), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_arch_prctl, ARCH_SET_GS, 1ULL << 63), SyscallFailsWithErrno(EPERM));
}

// ---------------------------------------------------------------------------
// Priorities

TEST(PriorityTest, GetAndSet) {
  errno = 0;
  int nice_value = getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(errno, 0);
  // The raw system call reports 20 - nice, so that it never returns a negative.
  EXPECT_THAT(syscall(SYS_getpriority, PRIO_PROCESS, 0), SyscallSucceedsWithValue(20 - nice_value));
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setpriority(PRIO_PROCESS, 0, 5));
    CHILD_CHECK(getpriority(PRIO_PROCESS, 0) == 5);
    CHILD_CHECK(syscall(SYS_getpriority, PRIO_PROCESS, 0) == 15);
    // Out-of-range values are clamped to 19.
    CHILD_CHECK_SUCCESS(setpriority(PRIO_PROCESS, 0, 100));
    CHILD_CHECK(getpriority(PRIO_PROCESS, getpid()) == 19);
  });
}

TEST(PriorityTest, Errors) {
  EXPECT_THAT(setpriority(static_cast<__priority_which>(42), 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getpriority, 42, 0), SyscallFailsWithErrno(EINVAL));
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_THAT(gone, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(gone), ExitedWith(0));
  EXPECT_THAT(syscall(SYS_getpriority, PRIO_PROCESS, gone), SyscallFailsWithErrno(ESRCH));
}

TEST(PriorityTest, UnprivilegedCannotRaisePriority) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops root privileges in a child";
  EXPECT_CHILD_SUCCEEDS([] {
    CHILD_CHECK_SUCCESS(setpriority(PRIO_PROCESS, 0, 10));
    CHILD_CHECK_SUCCESS(setuid(65534));
    // Lowering priority (raising nice) is always allowed; raising it is not.
    CHILD_CHECK_SUCCESS(setpriority(PRIO_PROCESS, 0, 12));
    CHILD_CHECK_ERRNO(setpriority(PRIO_PROCESS, 0, 11), EACCES);
  });
}

// ---------------------------------------------------------------------------
// Resource usage

TEST(RusageTest, SelfAndChildren) {
  struct rusage self = {};
  ASSERT_THAT(getrusage(RUSAGE_SELF, &self), SyscallSucceeds());
  EXPECT_GT(self.ru_maxrss, 0);
  struct rusage thread = {};
  ASSERT_THAT(getrusage(RUSAGE_THREAD, &thread), SyscallSucceeds());
  // The thread's own CPU time, after some work: at least what it spun, less a tick.
  const int64_t thread_start_us = thread.ru_utime.tv_sec * 1000000LL + thread.ru_utime.tv_usec +
                                  thread.ru_stime.tv_sec * 1000000LL + thread.ru_stime.tv_usec;
  ASSERT_GE(SpinOnClock(CLOCK_THREAD_CPUTIME_ID, 50000000), 50000000);
  ASSERT_THAT(getrusage(RUSAGE_THREAD, &thread), SyscallSucceeds());
  const int64_t thread_us = thread.ru_utime.tv_sec * 1000000LL + thread.ru_utime.tv_usec +
                            thread.ru_stime.tv_sec * 1000000LL + thread.ru_stime.tv_usec;
  EXPECT_GE(thread_us - thread_start_us, 40000);
  struct rusage before = {};
  ASSERT_THAT(getrusage(RUSAGE_CHILDREN, &before), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    // Touch some memory so that the child has a resident set to report.
    std::string big(1 << 20, 'x');
    _exit(big[12345] == 'x' ? 0 : 1);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(WaitForChild(pid), ExitedWith(0));
  struct rusage after = {};
  ASSERT_THAT(getrusage(RUSAGE_CHILDREN, &after), SyscallSucceeds());
  EXPECT_GT(after.ru_maxrss, 0);
  EXPECT_THAT(getrusage(42, &after), SyscallFailsWithErrno(EINVAL));
}

// ---------------------------------------------------------------------------
// Unknown system calls

TEST(UnknownSyscallTest, ReturnsEnosys) {
  EXPECT_THAT(syscall(1000), SyscallFailsWithErrno(ENOSYS));
  EXPECT_THAT(syscall(100000), SyscallFailsWithErrno(ENOSYS));
  EXPECT_THAT(syscall(-1), SyscallFailsWithErrno(ENOSYS));
}

TEST(UnknownSyscallTest, ProcessSurvivesManyUnknownCalls) {
  // Far above the last allocated number (in the 460s as of Linux 6.18), so
  // that new kernels do not turn these into real calls.
  for (long nr = 1000; nr < 1050; nr++) {
    ASSERT_THAT(syscall(nr, 0, 0, 0), SyscallFailsWithErrno(ENOSYS)) << "syscall " << nr;
  }
}

TEST(SetTidAddressTest, ReturnsTid) {
  // In a child, because this replaces the address glibc registered.
  EXPECT_CHILD_SUCCEEDS([] {
    static int tid_word = 0;
    CHILD_CHECK(syscall(SYS_set_tid_address, &tid_word) == getpid());
  });
}

}  // namespace
}  // namespace moat::testing
