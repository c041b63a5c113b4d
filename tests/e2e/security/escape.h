/* What every escape program shares (tests/e2e/security/README.md): arguments as key=value, one
 * line per attempt saying what it tried and what it got, an ESCAPED line for each attempt that
 * got out, and a completion marker the driver requires, so that a program that died early never
 * passes. A program exits 1 if anything escaped, 0 otherwise. */
#ifndef MOAT_TESTS_E2E_SECURITY_ESCAPE_H_
#define MOAT_TESTS_E2E_SECURITY_ESCAPE_H_

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_escapes;
static int g_argc;
static char** g_argv;

/* The value of argument KEY=VALUE, or NULL. */
static inline const char* arg(const char* key) {
  size_t n = strlen(key);
  for (int i = 1; i < g_argc; i++) {
    if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=') return g_argv[i] + n + 1;
  }
  return NULL;
}

static inline long arg_long(const char* key) {
  const char* v = arg(key);
  return v ? strtol(v, NULL, 10) : -1;
}

/* Unbuffered output: children that crash must not take lines with them. */
static inline void escape_init(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
  setvbuf(stdout, NULL, _IONBF, 0);
}

/* One attempt: what was tried and what came back (a result, or an errno by name). */
static inline void tried(const char* what, long r, int err) {
  if (r < 0)
    printf("try: %s -> %ld %s\n", what, r, strerrorname_np(err) ? strerrorname_np(err) : "?");
  else
    printf("try: %s -> %ld\n", what, r);
}

static inline void escaped(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("ESCAPED: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  g_escapes++;
}

/* A check of the sandbox's own behaviour that did not hold (not an escape, but the test cannot
 * vouch for the case): the driver fails on it too. */
static inline void broken(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("BROKEN: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  g_escapes++;
}

static inline int finish(const char* name) {
  printf("SECURITY-CASE-DONE %s escapes=%d\n", name, g_escapes);
  return g_escapes ? 1 : 0;
}

/* Reads up to n-1 bytes of PATH into buf (NUL-terminated); -errno on failure. */
static inline long read_path(const char* path, char* buf, size_t n, int flags) {
  int fd = open(path, flags);
  if (fd < 0) return -errno;
  long r = read(fd, buf, n - 1);
  int e = errno;
  close(fd);
  if (r < 0) return -e;
  buf[r] = 0;
  return r;
}

/* The host's canary holds a line that starts with this; nothing in the sandbox does. */
#define CANARY_PREFIX "MOAT-HOST-CANARY"

/* The driver writes the host pids of the sentry and the gofer into FILE once it has found them:
 * "sentry=N gofer=M victim=V". Waits for it (20 s at most) and parses it into the arguments. */
static long g_sentry = -1, g_gofer = -1, g_victim = -1;
static inline void wait_pids(void) {
  const char* file = arg("pids");
  if (!file) return;
  char buf[256];
  for (int i = 0; i < 400; i++) {
    if (read_path(file, buf, sizeof(buf), 0) > 0 && strchr(buf, '\n')) {
      char* p;
      if ((p = strstr(buf, "sentry="))) g_sentry = strtol(p + 7, NULL, 10);
      if ((p = strstr(buf, "gofer="))) g_gofer = strtol(p + 6, NULL, 10);
      if ((p = strstr(buf, "victim="))) g_victim = strtol(p + 7, NULL, 10);
      printf("host pids: sentry %ld gofer %ld victim %ld\n", g_sentry, g_gofer, g_victim);
      return;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  broken("the driver never wrote %s", file);
}

#endif  /* MOAT_TESTS_E2E_SECURITY_ESCAPE_H_ */
