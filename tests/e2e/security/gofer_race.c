/* Case gofer_race: symlink and rename races against the gofer while it opens files. In a bind
 * mount (/mnt/vol, a host directory served by the gofer), swapper threads keep turning the name
 * "x" from a real directory into a symlink (to "/", to "../host", which from the host's side of
 * the mount is the canary's directory, or to the canary's directory by its host path) and back,
 * with rename and renameat2(RENAME_EXCHANGE), while other threads open, read, create, mkdir,
 * stat and unlink through "x/...". Whatever wins a race, every name must resolve in the sandbox:
 * reading x/canary gives the directory's own file or fails, and nothing is created outside the
 * volume on the host (the driver checks the canary's directory and the host's root).
 * Usage: gofer_race canary=HOSTPATH pids=FILE [seconds=N] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "escape.h"

#define VOL "/mnt/vol"
static atomic_int g_stop;
static atomic_long g_opens, g_reads_inside, g_creates, g_swaps, g_fail_opens;
static char g_canary_dir[512], g_canary_rel[512];
static atomic_int g_escaped;

static void* swapper(void* arg) {
  long id = (long)arg;
  char real[64], link[64], tmp[64];
  snprintf(real, sizeof(real), VOL "/real%ld", id);
  snprintf(link, sizeof(link), VOL "/link%ld", id);
  snprintf(tmp, sizeof(tmp), VOL "/tmp%ld", id);
  const char* targets[] = {"/", "../host", g_canary_dir};
  for (long i = 0; !atomic_load(&g_stop); i++) {
    mkdir(real, 0755);
    char f[96];
    snprintf(f, sizeof(f), "%s/canary", real);
    int fd = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, "inside-the-volume\n", 18);
      close(fd);
    }
    unlink(link);
    (void)!symlink(targets[i % 3], link);
    if (i % 2) {
      /* Swap atomically, twice: x is the directory, then the symlink. */
      if (rename(real, VOL "/x") != 0) rename(real, tmp);
      syscall(SYS_renameat2, AT_FDCWD, link, AT_FDCWD, VOL "/x", 2 /* RENAME_EXCHANGE */);
      syscall(SYS_renameat2, AT_FDCWD, link, AT_FDCWD, VOL "/x", 2 /* RENAME_EXCHANGE */);
      rename(VOL "/x", real);
    } else {
      rename(link, VOL "/x");
      rename(VOL "/x", link);
      rename(real, VOL "/x");
      rename(VOL "/x", real);
    }
    atomic_fetch_add(&g_swaps, 1);
  }
  return NULL;
}

static void check_content(const char* path, int fd) {
  char buf[128];
  long n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0) return;
  buf[n] = 0;
  if (strstr(buf, CANARY_PREFIX)) {
    if (!atomic_exchange(&g_escaped, 1)) escaped("read the host canary through %s", path);
  } else {
    atomic_fetch_add(&g_reads_inside, 1);
  }
}

static void* opener(void* arg) {
  long id = (long)arg;
  int vol = open(VOL, O_RDONLY | O_DIRECTORY);
  char path[700];
  for (long i = 0; !atomic_load(&g_stop); i++) {
    const char* paths[] = {VOL "/x/canary", NULL, VOL "/x/../host/canary"};
    snprintf(path, sizeof(path), VOL "/x/%s", g_canary_rel);
    paths[1] = path;
    for (int k = 0; k < 3; k++) {
      int fd = open(paths[k], O_RDONLY);
      atomic_fetch_add(&g_opens, 1);
      if (fd < 0) {
        atomic_fetch_add(&g_fail_opens, 1);
        continue;
      }
      check_content(paths[k], fd);
      close(fd);
    }
    int fd = openat(vol, "x/canary", O_RDONLY | O_NOFOLLOW);
    if (fd >= 0) {
      check_content("openat(vol, x/canary)", fd);
      close(fd);
    }
    /* Writes through x: a create, a mkdir, a symlink and a hard link, each removed again. */
    char name[128];
    snprintf(name, sizeof(name), VOL "/x/pwned-%ld-%ld", id, i % 4);
    fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, "created through a raced name\n", 29);
      close(fd);
      atomic_fetch_add(&g_creates, 1);
      unlink(name);
    }
    snprintf(name, sizeof(name), VOL "/x/pwned-dir-%ld", id);
    if (mkdir(name, 0755) == 0) rmdir(name);
    snprintf(name, sizeof(name), VOL "/x/pwned-link-%ld", id);
    if (symlink("/", name) == 0) unlink(name);
    snprintf(name, sizeof(name), VOL "/x/pwned-hard-%ld", id);
    if (link(VOL "/x/canary", name) == 0) unlink(name);
    struct stat st;
    stat(VOL "/x/canary", &st);
    lstat(VOL "/x", &st);
  }
  close(vol);
  return NULL;
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  const char* canary = arg("canary");
  if (!canary || canary[0] != '/') {
    broken("usage: gofer_race canary=/HOST/PATH pids=FILE [seconds=N]");
    return finish("gofer_race");
  }
  wait_pids();
  snprintf(g_canary_dir, sizeof(g_canary_dir), "%s", canary);
  *strrchr(g_canary_dir, '/') = 0;
  snprintf(g_canary_rel, sizeof(g_canary_rel), "%s", canary + 1);
  long seconds = arg_long("seconds") > 0 ? arg_long("seconds") : 4;
  struct stat st;
  if (stat(VOL, &st) < 0) broken("no volume at " VOL ": %s", strerror(errno));
  pthread_t t[6];
  for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, swapper, (void*)i);
  for (long i = 2; i < 6; i++) pthread_create(&t[i], NULL, opener, (void*)i);
  sleep((unsigned)seconds);
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  printf("swaps %ld, opens %ld (%ld failed), reads of the volume's own file %ld, creates %ld\n",
         atomic_load(&g_swaps), atomic_load(&g_opens), atomic_load(&g_fail_opens),
         atomic_load(&g_reads_inside), atomic_load(&g_creates));
  if (atomic_load(&g_swaps) < 10 || atomic_load(&g_reads_inside) < 10)
    broken("the race barely ran: the test proves nothing");
  return finish("gofer_race");
}
