// The application-side stub. See stub_layout.h for what each entry point is for; the offsets here
// must match it.
#define SYS_futex 202
#define FUTEX_WAIT_PRIVATE 128

        .section .text, "ax"
        .globl _start
_start:                         // kEntry
        int3
        jmp _start

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

        .section .data, "aw"
scratch:                        // kScratch
        .fill 4096, 1, 0

        .section .note.GNU-stack, "", @progbits
