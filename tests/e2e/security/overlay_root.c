/* Case overlay_root: writes to the container's root when it is an overlay over the bundle's
 * rootfs (runsc do always; an OCI container with --overlay=true). The driver fills /data in the
 * rootfs and hashes the tree before and after; every change below must stay in the sandbox's
 * memory. The program checks that its own view did change (or the overlay is not being tested).
 * Usage: overlay_root pids=FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include "escape.h"

#define DO(call) tried(#call, (long)(call), errno)

static void expect_content(const char* path, const char* want) {
  char buf[256];
  long n = read_path(path, buf, sizeof(buf), O_RDONLY);
  if (n < 0 || strcmp(buf, want) != 0)
    broken("the sandbox's own view of %s is '%s' (%ld), want '%s'", path, n < 0 ? "" : buf, n,
           want);
}

int main(int argc, char** argv) {
  escape_init(argc, argv);
  wait_pids();
  int fd;
  /* Contents: truncating rewrite, append, pwrite, O_TRUNC on open. */
  fd = open("/data/file", O_WRONLY | O_TRUNC);
  DO(fd);
  DO(write(fd, "changed\n", 8));
  close(fd);
  expect_content("/data/file", "changed\n");
  fd = open("/data/append", O_WRONLY | O_APPEND);
  DO(write(fd, "more\n", 5));
  close(fd);
  fd = open("/data/pwrite", O_RDWR);
  DO(pwrite(fd, "XX", 2, 1));
  close(fd);
  /* A file opened read-only before another open writes it: copy-up must not leave the first fd
   * on the host file with the second writing through to it. */
  int ro = open("/data/before", O_RDONLY);
  fd = open("/data/before", O_RDWR);
  DO(write(fd, "rewritten-before\n", 17));
  close(fd);
  close(ro);
  /* Shared writable mapping, the classic way around a copy-up done at open. */
  fd = open("/data/mapped", O_RDWR);
  char* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  tried("mmap(/data/mapped, MAP_SHARED, PROT_WRITE)", m == MAP_FAILED ? -1 : 0, errno);
  if (m != MAP_FAILED) {
    memcpy(m, "MAPPED", 6);
    DO(msync(m, 4096, MS_SYNC));
    munmap(m, 4096);
  }
  close(fd);
  /* A read-only mapping made writable afterwards. */
  fd = open("/data/mapped2", O_RDONLY);
  m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
  if (m != MAP_FAILED) {
    long r = mprotect(m, 4096, PROT_READ | PROT_WRITE);
    tried("mprotect(read-only shared map of /data/mapped2, PROT_WRITE)", r, errno);
    if (r == 0) m[0] = 'Z';
    munmap(m, 4096);
  }
  close(fd);
  /* Sizes. */
  DO(truncate("/data/trunc", 0));
  fd = open("/data/ftrunc", O_RDWR);
  DO(ftruncate(fd, 3));
  DO(fallocate(fd, 0, 0, 65536));
  close(fd);
  /* Names. */
  DO(unlink("/data/del"));
  DO(rmdir("/data/emptydir"));
  DO(rename("/data/ren", "/data/ren2"));
  DO(rename("/data/dir", "/data/dir2"));
  DO(rename("/data/over_src", "/data/over_dst"));
  DO(syscall(SYS_renameat2, AT_FDCWD, "/data/xa", AT_FDCWD, "/data/xb", 2 /* EXCHANGE */));
  DO(link("/data/file", "/data/newhard"));
  DO(symlink("/etc/passwd", "/data/newlink"));
  DO(mkdir("/data/newdir", 0700));
  DO(mknod("/data/fifo", S_IFIFO | 0600, 0));
  DO(open("/newfile-at-root", O_CREAT | O_WRONLY, 0644));
  DO(mkdir("/data/dir2/sub/deeper", 0755));
  DO(unlink("/data/dir2/sub/inner"));
  /* A hard link pair of the host: writing one name changes both in the sandbox only. */
  fd = open("/data/hl_a", O_WRONLY | O_TRUNC);
  DO(write(fd, "through-a\n", 10));
  close(fd);
  /* Through a symlink of the rootfs to a file of it. */
  fd = open("/data/sym_to_file", O_WRONLY | O_APPEND);
  DO(write(fd, "via-symlink\n", 12));
  close(fd);
  /* Metadata. */
  DO(chmod("/data/file", 04777));
  DO(chown("/data/file", 1234, 5678));
  DO(lchown("/data/sym_to_file", 1, 1));
  struct timeval tv[2] = {{1, 0}, {2, 0}};
  DO(utimes("/data/append", tv));
  DO(setxattr("/data/pwrite", "user.moat", "x", 1, 0));
  DO(setxattr("/data/pwrite", "trusted.moat", "x", 1, 0));
  DO(chmod("/data", 0700));
  /* Data copied in by the kernel's own paths. */
  int src = open("/data/append", O_RDONLY);
  fd = open("/data/copy_dst", O_WRONLY);
  DO(sendfile(fd, src, NULL, 5));
  off_t off = 0;
  DO(copy_file_range(src, &off, fd, NULL, 5, 0));
  close(fd);
  close(src);
  /* The sandbox's view. (A copy-up parts the host's hard links in the sandbox, as Linux's
   * overlayfs does without its index: hl_b is not compared. chown cleared the setuid bit.) */
  expect_content("/data/file", "changed\nvia-symlink\n");
  expect_content("/data/before", "rewritten-before\n");
  struct stat st;
  if (stat("/data/del", &st) == 0) broken("/data/del is still there in the sandbox");
  if (stat("/data/ren2", &st) != 0) broken("/data/ren2 is missing in the sandbox");
  if (stat("/data/file", &st) != 0 || (st.st_mode & 0777) != 0777 || st.st_uid != 1234)
    broken("chmod/chown of /data/file did not show in the sandbox");
  return finish("overlay_root");
}
