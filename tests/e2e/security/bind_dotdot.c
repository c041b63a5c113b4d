/* Case bind_dotdot: ".." past the root of a bind mount (/mnt/vol, the host directory vol/ beside
 * the canary's directory host/). On the host, vol/../host/canary is the canary; in the sandbox,
 * ".." of /mnt/vol is /mnt. Tried: paths through "..", openat from a dirfd of the mount's root
 * and climbs from it, a symlink in the volume that climbs out, a directory renamed out from
 * under an open dirfd (so that its ".." on the host is the volume's parent), fchdir there and
 * climbing, and ".." after a /proc/self/fd magic link.
 * Usage: bind_dotdot canary=HOSTPATH pids=FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "escape.h"

#define VOL "/mnt/vol"

static void try_at(int dirfd, const char* dirname, const char* path) {
  char what[800], buf[200];
  int fd = openat(dirfd, path, O_RDONLY);
  snprintf(what, sizeof(what), "openat(%s, %s)", dirname, path);
  tried(what, fd, errno);
  if (fd < 0) return;
  long n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n > 0) {
    buf[n] = 0;
    if (strstr(buf, CANARY_PREFIX)) escaped("read the host canary through %s", what);
  }
}

/* Climbs `levels` times from dirfd with ".." and says whether it ends at the sandbox's root. */
static void climb(int dirfd, const char* from) {
  int fd = dup(dirfd);
  for (int i = 0; i < 12; i++) {
    int up = openat(fd, "..", O_RDONLY | O_DIRECTORY);
    close(fd);
    if (up < 0) {
      broken("openat(.., from %s) failed: %s", from, strerror(errno));
      return;
    }
    fd = up;
  }
  struct stat top, root;
  fstat(fd, &top);
  stat("/", &root);
  printf("  12 x .. from %s: dev %lu ino %lu; the sandbox's / is dev %lu ino %lu\n", from,
         (unsigned long)top.st_dev, (unsigned long)top.st_ino, (unsigned long)root.st_dev,
         (unsigned long)root.st_ino);
  if (top.st_dev != root.st_dev || top.st_ino != root.st_ino)
    escaped("climbing from %s ended somewhere other than the sandbox's root", from);
  try_at(fd, "the top of the climb", "host/canary");
  close(fd);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  const char* canary = arg("canary");
  if (!canary || canary[0] != '/') {
    broken("usage: bind_dotdot canary=/HOST/PATH pids=FILE");
    return finish("bind_dotdot");
  }
  wait_pids();
  int vol = open(VOL, O_RDONLY | O_DIRECTORY);
  if (vol < 0) {
    broken("no volume at " VOL ": %s", strerror(errno));
    return finish("bind_dotdot");
  }
  char path[900];
  try_at(AT_FDCWD, "cwd", VOL "/../host/canary");
  try_at(AT_FDCWD, "cwd", VOL "/../../host/canary");
  snprintf(path, sizeof(path), VOL "/../../../../..%s", canary);
  try_at(AT_FDCWD, "cwd", path);
  try_at(vol, "vol", "../host/canary");
  try_at(vol, "vol", "../../host/canary");
  snprintf(path, sizeof(path), "../../../../../../..%s", canary);
  try_at(vol, "vol", path);
  /* A symlink made in the volume by the host: up -> ../host. */
  try_at(AT_FDCWD, "cwd", VOL "/up/canary");
  try_at(vol, "vol", "up/canary");
  /* Resolution restricted to below the volume must refuse "..". */
  struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH};
  long r = syscall(SYS_openat2, vol, "../host/canary", &how, sizeof(how));
  tried("openat2(vol, ../host/canary, RESOLVE_BENEATH)", r, errno);
  if (r >= 0) escaped("openat2 RESOLVE_BENEATH let .. out of the volume");
  how.resolve = RESOLVE_IN_ROOT;
  r = syscall(SYS_openat2, vol, "../host/canary", &how, sizeof(how));
  tried("openat2(vol, ../host/canary, RESOLVE_IN_ROOT)", r, errno);
  climb(vol, VOL);

  /* A directory renamed out from under an open dirfd: a/b/c is opened, then moved to the
   * volume's root, so that on the host c/../.. is the volume's parent (where host/ is). */
  mkdir(VOL "/a", 0755);
  mkdir(VOL "/a/b", 0755);
  mkdir(VOL "/a/b/c", 0755);
  int c = open(VOL "/a/b/c", O_RDONLY | O_DIRECTORY);
  r = rename(VOL "/a/b/c", VOL "/c");
  tried("rename(a/b/c, c) under an open dirfd", r, errno);
  try_at(c, "moved c", "../host/canary");
  try_at(c, "moved c", "../../host/canary");
  climb(c, "the moved directory");
  /* Out of the mount altogether: the sandbox refuses (EXDEV), the host never sees it. */
  r = rename(VOL "/c", "/tmp/c-moved");
  tried("rename(vol/c, /tmp/c-moved) across mounts", r, errno);
  if (fchdir(c) == 0) {
    for (int i = 0; i < 12; i++) (void)!chdir("..");
    char cwd[512];
    printf("  cwd after fchdir(moved c) and 12 x chdir(..): %s\n",
           getcwd(cwd, sizeof(cwd)) ? cwd : strerror(errno));
    try_at(AT_FDCWD, "cwd", "host/canary");
    snprintf(path, sizeof(path), ".%s", canary);
    try_at(AT_FDCWD, "cwd", path);
    (void)!chdir("/");
  }
  /* ".." after a magic link of /proc/self/fd. */
  snprintf(path, sizeof(path), "/proc/self/fd/%d/../host/canary", c);
  try_at(AT_FDCWD, "cwd", path);
  snprintf(path, sizeof(path), "/proc/self/fd/%d/../../host/canary", vol);
  try_at(AT_FDCWD, "cwd", path);
  close(c);
  rmdir(VOL "/c");
  rmdir(VOL "/a/b");
  rmdir(VOL "/a");
  close(vol);
  return finish("bind_dotdot");
}
