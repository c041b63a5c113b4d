/* The seccomp_trap platform's per-thread message page: the protocol between the stub's signal
 * handler (platform/stub/stub_trap.c, freestanding C) and the sentry
 * (platform/seccomp_trap/seccomp_trap.cc). Included by both, so plain C.
 *
 * Every application process maps a region of MOAT_REGION_SIZE bytes at MOAT_SYSMSG_BASE, shared
 * (MAP_SHARED of a memfd that the sentry maps too). The region holds one slot of MOAT_SLOT_SIZE
 * bytes per thread: a struct moat_sysmsg at the slot's start, then the thread's alternate signal
 * stack, on which the host kernel writes every signal frame. The sentry thus reads and edits the
 * saved registers (the frame's ucontext) in place, and the stub's rt_sigreturn applies them.
 *
 * A stop: the application traps (SIGSYS from the filter's SECCOMP_RET_TRAP, a synchronous fault,
 * or the interrupt signal). The handler records where the frame is, sets `state` to
 * MOAT_STATE_EVENT and wakes the sentry; it then waits until the sentry sets `state` to a request
 * (resume, run a syscall, ...). Both sides spin briefly and then sleep on `state` with a shared
 * futex; a side wakes the other only if that side said it may be asleep (its *_waiting word).
 * Whether a side spins adapts: after a few spins in a row that end in sleep anyway (the other side
 * did not run, as on a machine whose cores are all busy) it sleeps at once for a while, then
 * tries one spin again.
 *
 * The application can write this memory (it is mapped in its address space), so the sentry
 * treats everything here as untrusted input about the application's own thread.
 */
#ifndef MOAT_PLATFORM_STUB_SYSMSG_H_
#define MOAT_PLATFORM_STUB_SYSMSG_H_

/* The numbers are plain so that stub.S can use them too. */
#define MOAT_STUB_BASE 0x200000000000    /* stub::kBase */
#define MOAT_STUB_CODE_SIZE 0x4000       /* stub::kCodeSize */
#define MOAT_SYSMSG_BASE 0x200000100000  /* stub::kBase + 1 MiB */
#define MOAT_SLOT_SIZE 0x8000
#define MOAT_MAX_SLOTS 8192
#define MOAT_REGION_SIZE (MOAT_SLOT_SIZE * MOAT_MAX_SLOTS)
/* The alternate signal stack: from the end of the message page to the end of the slot. */
#define MOAT_ALTSTACK_OFFSET 0x1000ULL
#define MOAT_ALTSTACK_SIZE (MOAT_SLOT_SIZE - MOAT_ALTSTACK_OFFSET)
#define MOAT_FILTER_OFFSET MOAT_ALTSTACK_OFFSET

/* The host signal the sentry sends to make a thread that runs application code stop. Its handler
 * is the stub's; the stub also raises it to itself to report a new thread or image. */
#define MOAT_INTERRUPT_SIGNAL 23 /* SIGURG */

/* Host fds inside every application process (see also stub_layout.h). */
#define MOAT_CHANNEL_FD 100
#define MOAT_STUB_FD 101
#define MOAT_SYSMSG_FD 103 /* the memfd behind the region; not close-on-exec */

#ifndef __ASSEMBLER__

#include <stdint.h>

/* state */
enum {
  MOAT_STATE_RUNNING = 0, /* the thread runs application code (or the stub on its way there) */
  MOAT_STATE_EVENT = 1,   /* stub -> sentry: a stop; `event` says which */
  MOAT_STATE_RESUME = 2,  /* sentry -> stub: return to the application with the frame's registers */
  MOAT_STATE_SYSCALL = 3, /* sentry -> stub: run `nr` with `args`, report MOAT_EVENT_SYSCALL_DONE */
  MOAT_STATE_HOST_SYSCALL = 4, /* sentry -> stub: run the trapped syscall on the host and resume */
  MOAT_STATE_EXIT = 5,         /* sentry -> stub: run exit/exit_group (`nr`, args[0]) */
  MOAT_STATE_CLONE = 6,        /* sentry -> stub: clone with `args` (see stub_trap.c) */
  MOAT_STATE_EXEC = 7,         /* sentry -> stub: exec the stub, with args[0] the new region's fd */
};

/* event (with MOAT_STATE_EVENT) */
enum {
  MOAT_EVENT_SIGNAL = 1,       /* a signal frame: `signo`, `siginfo`, `ucontext` */
  MOAT_EVENT_READY = 2,        /* a new thread or image is ready: `ucontext` is its frame */
  MOAT_EVENT_SYSCALL_DONE = 3, /* `result` holds the requested syscall's return value */
  MOAT_EVENT_EXITING = 4,      /* the thread runs exit or exit_group now; `usage` is the process's */
};

/* phase: what the handler is to make of a signal whose frame shows the stub's own code. */
enum {
  MOAT_PHASE_APP = 0,      /* a nested interrupt during a host syscall, or a stray one */
  MOAT_PHASE_STARTING = 1, /* the stub raised the interrupt signal to report MOAT_EVENT_READY */
};

struct moat_sysmsg {
  uint32_t state;          /* the futex word */
  uint32_t stub_waiting;   /* the stub may be asleep on `state` */
  uint32_t sentry_waiting; /* the sentry may be asleep on `state` */
  uint32_t event;
  uint32_t phase;
  int32_t signo;
  uint32_t interrupted; /* an interrupt arrived while the stub ran a host syscall */
  uint32_t sentry_blocking; /* the sentry sleeps for this stop (a blocking syscall): do not spin */
  /* The stub's spinning (stub_trap.c: struct spin): spins in a row that ended in sleep, and how
   * many waits are left to sleep through without spinning. */
  uint16_t stub_spin_fails;
  uint16_t stub_spin_skip;
  uint32_t pad0;
  uint64_t ucontext; /* application address of the frame's ucontext, in this slot */
  uint64_t siginfo;  /* application address of the frame's siginfo, in this slot */
  uint64_t initial_sp; /* after an exec: the stack pointer the host gave the stub's entry */
  /* A root process's first image: the application filter to install before anything else, as
   * filter_len instructions at MOAT_FILTER_OFFSET in the slot (the filter's own execve of the
   * stub would not pass it). Filters then stay across exec. */
  uint64_t filter_len;
  /* A request (MOAT_STATE_SYSCALL, _EXIT, _CLONE, _EXEC) and its result. */
  uint64_t nr;
  uint64_t args[6];
  int64_t result;
  /* MOAT_EVENT_EXITING: getrusage(RUSAGE_SELF) of the process, as the kernel's struct rusage. */
  uint64_t usage[18];
};

/* The host kernel's struct ucontext on x86-64 (asm/ucontext.h), as in a signal frame. */
struct moat_ucontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  uint64_t ss_sp;
  int32_t ss_flags;
  int32_t ss_pad;
  uint64_t ss_size;
  uint64_t gregs[23]; /* struct sigcontext up to cr2, in glibc's REG_* order */
  uint64_t fpstate;
  uint64_t reserved[8];
  uint64_t sigmask;
};

/* Indexes into moat_ucontext.gregs (glibc's REG_* values). */
enum {
  MOAT_REG_R8 = 0, MOAT_REG_R9, MOAT_REG_R10, MOAT_REG_R11, MOAT_REG_R12, MOAT_REG_R13,
  MOAT_REG_R14, MOAT_REG_R15, MOAT_REG_RDI, MOAT_REG_RSI, MOAT_REG_RBP, MOAT_REG_RBX,
  MOAT_REG_RDX, MOAT_REG_RAX, MOAT_REG_RCX, MOAT_REG_RSP, MOAT_REG_RIP, MOAT_REG_EFL,
  MOAT_REG_CSGSFS, MOAT_REG_ERR, MOAT_REG_TRAPNO, MOAT_REG_OLDMASK, MOAT_REG_CR2,
};

#endif /* __ASSEMBLER__ */

#endif /* MOAT_PLATFORM_STUB_SYSMSG_H_ */
