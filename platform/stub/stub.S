// The application-side stub. See stub_layout.h for what each entry point is for; the offsets here
// must match it. The seccomp_trap platform's signal handler is in stub_trap.c; the pieces that
// must control every instruction (the host syscall window, clone, sigreturn) are here.
#include "platform/stub/sysmsg.h"

#define SYS_rt_sigprocmask 14
#define SYS_rt_sigreturn 15
#define SYS_clone 56
#define SYS_close 3
#define SYS_mmap 9
#define SYS_dup3 292
#define SYS_futex 202
#define FUTEX_WAIT_PRIVATE 128
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define PROT_READ_WRITE 3
#define MAP_SHARED_FIXED 0x11

        .section .text.entry, "ax"
        .globl _start
_start:                         // kEntry: the seccomp_trap platform's start (ptrace never runs it)
        mov %rsp, %rdi
        and $-16, %rsp
        call moat_stub_start
        hlt

        .org 0x10
syscall_gadget:                 // kSyscallGadget
        mov %r12, %rax          // the number: rax may be overwritten when a stop inside a
        syscall                 // syscall (an exec stop) resumes
        int3

        .org 0x20
park:                           // kPark
        mov $SYS_futex, %eax
        lea park_word(%rip), %rdi
        mov $FUTEX_WAIT_PRIVATE, %esi
        xor %edx, %edx
        xor %r10d, %r10d
        syscall
        jmp park

// long moat_host_syscall(long nr, const uint64_t args[6]): runs the application's trapped
// syscall on the host with the interrupt signal unblocked, so that the sentry can interrupt it
// as it would the application. An interrupt that lands between moat_host_window and the
// syscall instruction (or that makes the kernel restart the syscall, which puts rip back on the
// instruction) is turned by the nested handler into a return at moat_host_syscall_end with
// -ERESTARTSYS: the syscall did not complete, and the sentry applies the restart rules.
        .org 0x40
        .globl moat_host_syscall, moat_host_window, moat_host_syscall_insn, moat_host_syscall_end
moat_host_syscall:
        push %rbx
        push %r12
        mov %rdi, %rbx
        mov %rsi, %r12
        mov $SYS_rt_sigprocmask, %eax
        mov $SIG_UNBLOCK, %edi
        lea interrupt_set(%rip), %rsi
        xor %edx, %edx
        mov $8, %r10d
        syscall
moat_host_window:
        mov %rbx, %rax
        mov 0(%r12), %rdi
        mov 8(%r12), %rsi
        mov 16(%r12), %rdx
        mov 24(%r12), %r10
        mov 32(%r12), %r8
        mov 40(%r12), %r9
moat_host_syscall_insn:
        syscall
moat_host_syscall_end:
        mov %rax, %rbx
        mov $SYS_rt_sigprocmask, %eax
        mov $SIG_BLOCK, %edi
        lea interrupt_set(%rip), %rsi
        xor %edx, %edx
        mov $8, %r10d
        syscall
        mov %rbx, %rax
        pop %r12
        pop %rbx
        ret

        .org 0x100
empty_string:                   // kEmptyString
        .byte 0
        .org 0x108
stub_argv:                      // kArgv: { kEmptyString, NULL }; kArgv + 8 is an empty envp
        .quad 0x200000000100
        .quad 0
        .org 0x118
park_word:
        .long 0
        .balign 8
interrupt_set:
        .quad 1 << (MOAT_INTERRUPT_SIGNAL - 1)

// void moat_sigreturn(struct moat_ucontext *uc): returns to the registers of the frame whose
// ucontext is `uc` (rt_sigreturn finds the frame 8 bytes below the stack pointer, where the
// handler's return address was).
        .globl moat_sigreturn, moat_restorer
moat_sigreturn:
        mov %rdi, %rsp
moat_restorer:                  // sa_restorer: a handler that returns lands here
        mov $SYS_rt_sigreturn, %eax
        syscall
        hlt

// long moat_clone(flags, stack, parent_tid, child_tid, tls, region_fd): the host clone of a
// thread in its handler. The parent returns the result. The child runs on `stack` (a
// CLONE_VM child: the top of its own slot) or, without CLONE_VM, on the parent's stack address,
// where the child first maps its own region (region_fd, then kept as MOAT_SYSMSG_FD) over the
// parent's, touching no memory until then: the two regions would otherwise be one.
        .globl moat_clone
moat_clone:
        push %rbx
        push %r12
        mov %r9, %r12           // the child's region fd, or -1
        mov %rcx, %r10
        mov $SYS_clone, %eax
        syscall
        test %rax, %rax
        jz 1f
        pop %r12
        pop %rbx
        ret
1:      test %r12, %r12
        js 2f
        mov $SYS_mmap, %eax
        mov $MOAT_SYSMSG_BASE, %rdi
        mov $MOAT_REGION_SIZE, %rsi
        mov $PROT_READ_WRITE, %edx
        mov $MAP_SHARED_FIXED, %r10d
        mov %r12, %r8
        xor %r9d, %r9d
        syscall
        cmp %rdi, %rax
        jne 3f
        mov $SYS_dup3, %eax
        mov %r12, %rdi
        mov $MOAT_SYSMSG_FD, %esi
        xor %edx, %edx
        syscall
        mov $SYS_close, %eax
        mov %r12, %rdi
        syscall
2:      // The slot is the one the stack pointer is in; its C code runs from the slot's top.
        mov %rsp, %rdi
        and $-MOAT_SLOT_SIZE, %rdi
        lea MOAT_SLOT_SIZE-64(%rdi), %rsp
        mov %r12, %rsi
        call moat_stub_child
3:      hlt

        .section .data, "aw"
scratch:                        // kScratch
        .fill 4096, 1, 0

        .section .note.GNU-stack, "", @progbits
