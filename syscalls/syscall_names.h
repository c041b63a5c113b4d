// Names of x86-64 syscall numbers, for the table, strace output and `runsc syscalls`.
#ifndef MOAT_SYSCALLS_SYSCALL_NAMES_H_
#define MOAT_SYSCALLS_SYSCALL_NAMES_H_

namespace moat::syscalls {

// The Linux name of syscall `nr` ("read"), or nullptr for a number Linux does not define.
const char* SyscallName(int nr);
// The highest syscall number Linux defines on x86-64.
int MaxSyscallNumber();

}  // namespace moat::syscalls

#endif  // MOAT_SYSCALLS_SYSCALL_NAMES_H_
