/* The seccomp_trap platform's half inside the application process: the start of a fresh image,
 * the start of a new thread, and the signal handler through which every stop of the thread goes
 * (sysmsg.h describes the protocol). Freestanding: no libc, no globals; each syscall is made
 * from this code page, which the application's filter lets through (platform/filter.cc).
 *
 * The handler runs on the thread's alternate stack, in its slot, with every signal blocked; the
 * sentry reads and edits the frame there. It never returns normally: it leaves through
 * moat_sigreturn with the frame's (possibly edited) registers.
 */
#include <stdint.h>

#include "platform/stub/sysmsg.h"

/* Every symbol is the stub's own: addressed relative to rip, without a GOT. */
#pragma GCC visibility push(hidden)

#define SYS_mmap 9
#define SYS_rt_sigaction 13
#define SYS_rt_sigprocmask 14
#define SYS_getpid 39
#define SYS_exit 60
#define SYS_exit_group 231
#define SYS_fcntl 72
#define SYS_getrusage 98
#define SYS_sigaltstack 131
#define SYS_gettid 186
#define SYS_futex 202
#define SYS_tgkill 234
#define SYS_dup3 292
#define SYS_execveat 322
#define SYS_seccomp 317
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define SIG_SETMASK 2
#define SA_SIGINFO 0x4
#define SA_ONSTACK 0x08000000
#define SA_RESTART 0x10000000
#define SA_RESTORER 0x04000000
#define F_SETOWN_EX 15
#define F_OWNER_TID 0
#define AT_EMPTY_PATH 0x1000
#define ERESTARTSYS 512
#define MOAT_STUB_CODE_END (MOAT_STUB_BASE + MOAT_STUB_CODE_SIZE)

/* The stub's argv and envp for execveat (stub_layout.h: kEmptyString, kArgv, kEnvp). */
#define MOAT_EMPTY_STRING (MOAT_STUB_BASE + 0x100)
#define MOAT_ARGV (MOAT_STUB_BASE + 0x108)
#define MOAT_ENVP (MOAT_STUB_BASE + 0x110)

/* stub.S */
long moat_host_syscall(long nr, const uint64_t args[6]);
void moat_sigreturn(struct moat_ucontext *uc) __attribute__((noreturn));
void moat_restorer(void);
long moat_clone(uint64_t flags, uint64_t stack, uint64_t ptid, uint64_t ctid, uint64_t tls,
                long region_fd);
extern char moat_host_window[], moat_host_syscall_insn[], moat_host_syscall_end[];

/* How long a side spins on the state word before it sleeps, in TSC cycles (about 10 us), how
 * many spins in a row may end in sleep before it stops spinning, and for how many waits. The
 * sentry's side does the same (seccomp_trap.cc: kSpinFails). */
#define SPIN_CYCLES 20000
#define SPIN_FAILS 4
#define SPIN_SKIP 64

static inline long sys6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  register long r10 __asm__("r10") = a3;
  register long r8 __asm__("r8") = a4;
  register long r9 __asm__("r9") = a5;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define sys0(nr) sys6(nr, 0, 0, 0, 0, 0, 0)
#define sys1(nr, a) sys6(nr, (long)(a), 0, 0, 0, 0, 0)
#define sys2(nr, a, b) sys6(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(nr, a, b, c) sys6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(nr, a, b, c, d) sys6(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline struct moat_sysmsg *slot_of(uint64_t addr_in_slot) {
  return (struct moat_sysmsg *)(addr_in_slot & ~(MOAT_SLOT_SIZE - 1));
}

static inline uint32_t load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }

/* Hands the thread to the sentry: `state` = EVENT, and a wake if the sentry may be asleep. */
static void post_event(struct moat_sysmsg *m, uint32_t event) {
  m->event = event;
  store(&m->state, MOAT_STATE_EVENT);
  if (load(&m->sentry_waiting)) sys3(SYS_futex, &m->state, FUTEX_WAKE, 1);
}

/* Waits until the sentry answers with a request, and returns it. */
static uint32_t wait_request(struct moat_sysmsg *m) {
  uint32_t s = load(&m->state);
  if (m->stub_spin_skip > 0) {
    m->stub_spin_skip--;
  } else if (s == MOAT_STATE_EVENT) {
    uint64_t start = rdtsc();
    while (s == MOAT_STATE_EVENT && rdtsc() - start < SPIN_CYCLES && !load(&m->sentry_blocking)) {
      __builtin_ia32_pause();
      s = load(&m->state);
    }
    /* A wait the sentry said would be long says nothing about how spinning fares. */
    if (s != MOAT_STATE_EVENT) {
      m->stub_spin_fails = 0;
    } else if (!load(&m->sentry_blocking) && ++m->stub_spin_fails >= SPIN_FAILS) {
      m->stub_spin_skip = SPIN_SKIP;
      m->stub_spin_fails = SPIN_FAILS - 1; /* the spin after the pause decides alone */
    }
  }
  while (s == MOAT_STATE_EVENT) {
    store(&m->stub_waiting, 1);
    if ((s = load(&m->state)) == MOAT_STATE_EVENT) sys4(SYS_futex, &m->state, FUTEX_WAIT, s, 0);
    store(&m->stub_waiting, 0);
    s = load(&m->state);
  }
  return s;
}

/* Reports the exit and runs exit or exit_group, touching no memory of the slot after the
 * report: the sentry may give the slot to another thread as soon as it has seen it. */
static void __attribute__((noreturn)) exit_now(struct moat_sysmsg *m, long nr, long status) {
  sys2(SYS_getrusage, 0 /* RUSAGE_SELF */, m->usage);
  m->event = MOAT_EVENT_EXITING;
  register long r10 __asm__("r10") = 0;
  __asm__ volatile(
      "movl $1, (%[state])\n\t"  /* MOAT_STATE_EVENT */
      "mfence\n\t"
      "cmpl $0, (%[waiting])\n\t"
      "je 1f\n\t"
      "mov $202, %%eax\n\t" /* futex(&state, FUTEX_WAKE, 1) */
      "mov %[state], %%rdi\n\t"
      "mov $1, %%esi\n\t"
      "mov $1, %%edx\n\t"
      "syscall\n"
      "1:\n\t"
      "mov %[nr], %%rax\n\t"
      "mov %[status], %%rdi\n\t"
      "syscall\n\t"
      "hlt"
      :
      : [state] "r"(&m->state), [waiting] "r"(&m->sentry_waiting), [nr] "r"(nr),
        [status] "r"(status), "r"(r10)
      : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "memory");
  __builtin_unreachable();
}

/* Serves the sentry's requests for a thread stopped with the frame `uc`, after posting `event`. */
static void __attribute__((noreturn)) serve(struct moat_sysmsg *m, struct moat_ucontext *uc,
                                            uint32_t event) {
  for (;;) {
    post_event(m, event);
    uint32_t req = wait_request(m);
    switch (req) {
      case MOAT_STATE_RESUME:
        moat_sigreturn(uc);
      case MOAT_STATE_SYSCALL:
        m->result = sys6((long)m->nr, (long)m->args[0], (long)m->args[1], (long)m->args[2],
                         (long)m->args[3], (long)m->args[4], (long)m->args[5]);
        event = MOAT_EVENT_SYSCALL_DONE;
        break;
      case MOAT_STATE_HOST_SYSCALL: {
        uint64_t args[6] = {uc->gregs[MOAT_REG_RDI], uc->gregs[MOAT_REG_RSI],
                            uc->gregs[MOAT_REG_RDX], uc->gregs[MOAT_REG_R10],
                            uc->gregs[MOAT_REG_R8],  uc->gregs[MOAT_REG_R9]};
        m->interrupted = 0;
        long r = moat_host_syscall((long)m->nr, args);
        uc->gregs[MOAT_REG_RAX] = (uint64_t)r;
        if (!load(&m->interrupted)) moat_sigreturn(uc);
        /* The sentry wanted the thread: report the interrupt, with the syscall's outcome. */
        m->result = r;
        m->signo = MOAT_INTERRUPT_SIGNAL;
        m->siginfo = 0;
        event = MOAT_EVENT_SIGNAL;
        break;
      }
      case MOAT_STATE_EXIT:
        exit_now(m, (long)m->nr, (long)m->args[0]);
      case MOAT_STATE_CLONE:
        m->result = moat_clone(m->args[0], m->args[1], m->args[2], m->args[3], m->args[4],
                               (long)m->args[5]);
        event = MOAT_EVENT_SYSCALL_DONE;
        break;
      case MOAT_STATE_EXEC: {
        long fd = (long)m->args[0];
        long r = sys3(SYS_dup3, fd, MOAT_SYSMSG_FD, 0);
        if (r >= 0) {
          r = sys6(SYS_execveat, MOAT_STUB_FD, (long)MOAT_EMPTY_STRING, (long)MOAT_ARGV,
                   (long)MOAT_ENVP, AT_EMPTY_PATH, 0);
        }
        m->result = r;
        event = MOAT_EVENT_SYSCALL_DONE;
        break;
      }
      default:
        /* Not a request: the application wrote the word. Report the stop again. */
        break;
    }
  }
}

void moat_handler(int sig, void *info, void *ctx) {
  struct moat_ucontext *uc = (struct moat_ucontext *)ctx;
  struct moat_sysmsg *m = slot_of((uint64_t)uc);
  uint64_t rip = uc->gregs[MOAT_REG_RIP];
  /* The interrupt signal is unblocked in the stub only while it starts a thread or runs a host
   * syscall. (Any other signal with rip in the stub comes from application code that jumped
   * there, and is the application's.) */
  if (sig == MOAT_INTERRUPT_SIGNAL && rip >= MOAT_STUB_BASE && rip < MOAT_STUB_CODE_END) {
    if (load(&m->phase) == MOAT_PHASE_STARTING) {
      store(&m->phase, MOAT_PHASE_APP);
      m->ucontext = (uint64_t)uc;
      m->siginfo = (uint64_t)info;
      m->signo = sig;
      serve(m, uc, MOAT_EVENT_READY);
    }
    if (rip >= (uint64_t)moat_host_window && rip <= (uint64_t)moat_host_syscall_insn) {
      uc->gregs[MOAT_REG_RIP] = (uint64_t)moat_host_syscall_end;
      uc->gregs[MOAT_REG_RAX] = (uint64_t)-ERESTARTSYS;
    }
    store(&m->interrupted, 1);
    return;
  }
  m->ucontext = (uint64_t)uc;
  m->siginfo = (uint64_t)info;
  m->signo = sig;
  serve(m, uc, MOAT_EVENT_SIGNAL);
}

/* Installs the handler for the signals that stop the thread; every other signal stays ignored
 * as the root process set it up (dispositions of ignored signals survive exec). */
static void install_handlers(void) {
  struct {
    void *handler;
    uint64_t flags;
    void *restorer;
    uint64_t mask;
  } act = {(void *)moat_handler, SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_RESTORER,
           (void *)moat_restorer, ~0ULL};
  static const int sigs[] = {31 /* SIGSYS */, 11 /* SIGSEGV */, 7 /* SIGBUS */, 8 /* SIGFPE */,
                             4 /* SIGILL */,  5 /* SIGTRAP */, MOAT_INTERRUPT_SIGNAL};
  for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sys4(SYS_rt_sigaction, sigs[i], &act, 0, 8);
}

/* Makes the thread's first stop: the interrupt signal, raised with nothing blocked, gives the
 * handler a real frame (with the thread's FPU state) that the sentry fills with the registers the
 * thread starts with. */
static void __attribute__((noreturn)) report_ready(struct moat_sysmsg *m) {
  struct {
    int type;
    int pid;
  } owner = {F_OWNER_TID, (int)sys0(SYS_gettid)};
  /* The sentry learns the thread's host tid, as its own PID namespace numbers it, from the
   * owner of the region's file (F_GETOWN_EX translates). */
  sys3(SYS_fcntl, MOAT_SYSMSG_FD, F_SETOWN_EX, &owner);
  store(&m->phase, MOAT_PHASE_STARTING);
  uint64_t none = 0;
  sys4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
  sys3(SYS_tgkill, sys0(SYS_getpid), owner.pid, MOAT_INTERRUPT_SIGNAL);
  for (;;) sys1(SYS_exit_group, 127); /* not reached: the handler took the thread */
}

static void set_altstack(struct moat_sysmsg *m) {
  struct {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
  } ss = {(uint64_t)m + MOAT_ALTSTACK_OFFSET, 0, 0, MOAT_ALTSTACK_SIZE};
  sys2(SYS_sigaltstack, &ss, 0);
}

/* The entry of a fresh image (stub.S: _start). Every signal is blocked: the exec came from the
 * handler, or the root process blocked them. */
void __attribute__((noreturn)) moat_stub_start(uint64_t initial_sp) {
  uint64_t all = ~0ULL;
  sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, 8);
  long r = sys6(SYS_mmap, (long)MOAT_SYSMSG_BASE, (long)MOAT_REGION_SIZE, 3 /* RW */,
                0x11 /* MAP_SHARED | MAP_FIXED */, MOAT_SYSMSG_FD, 0);
  if (r != (long)MOAT_SYSMSG_BASE) {
    for (;;) sys1(SYS_exit_group, 126);
  }
  struct moat_sysmsg *m = (struct moat_sysmsg *)MOAT_SYSMSG_BASE; /* slot 0 */
  m->initial_sp = initial_sp;
  if (m->filter_len) {
    struct {
      uint16_t len;
      uint64_t filter;
    } prog = {(uint16_t)m->filter_len, (uint64_t)m + MOAT_FILTER_OFFSET};
    if (sys3(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, &prog) < 0) {
      for (;;) sys1(SYS_exit_group, 125);
    }
    m->filter_len = 0;
  }
  set_altstack(m);
  install_handlers();
  report_ready(m);
}

/* A new thread or process (stub.S: moat_clone), on its slot's stack, every signal blocked as in
 * its parent's handler. A CLONE_VM child has no alternate stack yet; a fork child has its
 * parent's, at the same address, which is now its own slot. */
void __attribute__((noreturn)) moat_stub_child(struct moat_sysmsg *m, long region_fd) {
  if (region_fd < 0) set_altstack(m);
  m->state = MOAT_STATE_RUNNING;
  m->stub_waiting = 0;
  m->stub_spin_fails = 0;
  m->stub_spin_skip = 0;
  report_ready(m);
}
