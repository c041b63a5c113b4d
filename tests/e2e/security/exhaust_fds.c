/* Case exhaust_fds: opening files until it fails. The sandbox must stop the application at its
 * own RLIMIT_NOFILE (EMFILE), in one process and in several at once with the soft limit raised to
 * the hard one (or at the sandbox's file table, ENFILE), and keep working afterwards (the files
 * of the root too); the host must not run out (the driver watches the
 * sentry's fds and the host's file-nr). Files of the root (the gofer's) and of the sandbox's own
 * kinds (pipes, /dev/null, sockets) are opened.
 * Usage: exhaust_fds pids=FILE [children=N] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "escape.h"

/* Opens until failure; returns the count, the errno in *err. Kind 0: a file of the root; 1: a
 * pipe; 2: a socket pair. */
static long open_all(int kind, int* err) {
  long n = 0;
  for (;;) {
    int r, fds[2];
    if (kind == 0) {
      r = open("/bin/exhaust_fds", O_RDONLY);
    } else if (kind == 1) {
      r = pipe(fds);
    } else {
      r = socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    }
    if (r < 0) {
      *err = errno;
      return n;
    }
    n += kind == 0 ? 1 : 2;
  }
}

static void close_from(int lowest) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  for (long fd = lowest; fd < (long)rl.rlim_cur; fd++) close((int)fd);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  wait_pids();
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("RLIMIT_NOFILE soft %lu hard %lu\n", (unsigned long)rl.rlim_cur,
         (unsigned long)rl.rlim_max);
  const char* kinds[] = {"files of the root", "pipes", "socket pairs"};
  for (int k = 0; k < 3; k++) {
    int err = 0;
    long n = open_all(k, &err);
    printf("try: open %s until failure -> %ld fds, then %s\n", kinds[k], n, strerrorname_np(err));
    /* EMFILE: the process's own limit. ENFILE: the sandbox's file table (the sentry holds a host
     * fd for each file of the gofer, and its own limit may be no higher than the process's when
     * runsc may not raise it): a limit of the sandbox's too, as the system's is on Linux. */
    if (err != EMFILE && err != ENFILE)
      broken("%s stopped with %s, want EMFILE or ENFILE", kinds[k], strerrorname_np(err));
    if (err == EMFILE && n + 3 + 2 < (long)rl.rlim_cur)
      broken("%s stopped after %ld fds, below the limit %lu", kinds[k], n,
             (unsigned long)rl.rlim_cur);
    close_from(3);
  }
  /* Several processes, each at the hard limit (capped: the hard limit may be a million). */
  long children = arg_long("children") > 0 ? arg_long("children") : 4;
  rlim_t cap = rl.rlim_max > 16384 ? 16384 : rl.rlim_max;
  int pipefd[2];
  (void)!pipe(pipefd);
  for (long c = 0; c < children; c++) {
    if (fork() == 0) {
      close(pipefd[0]);
      struct rlimit mine = {cap, rl.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &mine) < 0) {
        printf("  child %ld: setrlimit: %s\n", c, strerror(errno));
        _exit(2);
      }
      int err = 0;
      long n = open_all(0, &err);
      printf("  child %ld: %ld files of the root, then %s\n", c, n, strerrorname_np(err));
      _exit((err == EMFILE && n + 8 >= (long)cap) || err == ENFILE ? 0 : 1);
    }
  }
  close(pipefd[1]);
  int bad = 0;
  for (long c = 0; c < children; c++) {
    int status;
    wait(&status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++;
  }
  if (bad) broken("%d children did not stop at their own limit with EMFILE", bad);
  /* The sandbox still works: a file, a pipe, a process. */
  char buf[16];
  long r = read_path("/bin/exhaust_fds", buf, sizeof(buf), O_RDONLY);
  tried("read a file of the root afterwards", r, (int)-r);
  int p[2];
  r = pipe(p);
  tried("pipe afterwards", r, errno);
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  int status = 0;
  waitpid(pid, &status, 0);
  tried("fork and wait afterwards", WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
    broken("the sandbox does not work after the fds ran out");
  return finish("exhaust_fds");
}
