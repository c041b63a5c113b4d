/* Case exhaust_procs: forking until it fails, then creating threads until it fails. The sandbox
 * must stop the application at its own pids limit (EAGAIN: linux.resources.pids, or the sentry's
 * default when none is set) well before the host runs out of pids, and keep working afterwards;
 * the driver watches the host's free pids while this runs. Every child waits on a pipe and exits
 * when the parent closes it.
 * Usage: exhaust_procs pids=FILE [max=N] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/wait.h>

#include "escape.h"

static int g_gate[2];

static void* idle(void* arg) {
  (void)arg;
  char c;
  (void)!read(g_gate[0], &c, 1);
  return NULL;
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  wait_pids();
  /* A bound of the test's own, in case the sandbox has none: far past any default it sets, short
   * of the host's pid_max, which the driver passes. */
  long max = arg_long("max") > 0 ? arg_long("max") : 20000;
  (void)!pipe(g_gate);
  long forks = 0;
  int err = 0;
  for (; forks < max; forks++) {
    pid_t p = fork();
    if (p == 0) {
      close(g_gate[1]);
      idle(NULL);
      _exit(0);
    }
    if (p < 0) {
      err = errno;
      break;
    }
  }
  printf("try: fork until failure -> %ld processes, then %s\n", forks,
         err ? strerrorname_np(err) : "no failure");
  if (!err) escaped("%ld forks and no limit: the host's pids are the only bound", forks);
  else if (err != EAGAIN) broken("fork failed with %s, want EAGAIN", strerrorname_np(err));
  long threads = 0;
  int terr = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 65536);
  for (; threads < max; threads++) {
    pthread_t t;
    terr = pthread_create(&t, &attr, idle, NULL);
    if (terr) break;
  }
  printf("try: threads until failure (with the processes alive) -> %ld threads, then %s\n",
         threads, terr ? strerrorname_np(terr) : "no failure");
  if (!terr) escaped("%ld threads and no limit", threads);
  /* Let everything go, reap, and check the sandbox works. */
  close(g_gate[1]);
  long reaped = 0;
  while (wait(NULL) > 0) reaped++;
  printf("reaped %ld children\n", reaped);
  if (reaped != forks) broken("reaped %ld of %ld children", reaped, forks);
  pid_t p = fork();
  if (p == 0) _exit(9);
  int status = 0;
  waitpid(p, &status, 0);
  tried("fork and wait afterwards", WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 9)
    broken("the sandbox cannot fork after the limit was hit");
  return finish("exhaust_procs");
}
