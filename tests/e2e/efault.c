// Passes bad pointers to read, write and stat: each must fail with EFAULT, not crash anything.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int check(const char* what, long r) {
  if (r == -1 && errno == EFAULT) return 0;
  printf("%s: got %ld errno %d, want EFAULT\n", what, r, errno);
  return 1;
}

int main(void) {
  int fd = open("/dev/zero", O_RDONLY);
  int bad = 0;
  // Raw syscalls: the compiler would reject these pointers in the libc wrappers.
  bad |= check("read", syscall(SYS_read, fd, (void*)8, 16));
  bad |= check("write", syscall(SYS_write, 1, (void*)8, 16));
  struct stat st;
  bad |= check("stat path", syscall(SYS_stat, (const char*)8, &st));
  bad |= check("stat buffer", syscall(SYS_stat, "/", (struct stat*)8));
  if (!bad) printf("all EFAULT\n");
  return bad;
}
