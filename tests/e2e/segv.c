// Dereferences NULL: the sandbox must kill it with SIGSEGV and keep running everything else.
#include <stdio.h>

int main(void) {
  volatile int* p = (volatile int*)0;
  fflush(stdout);
  return *p;
}
