// Runs inside a container while its gofer is killed (tests/e2e/fault_test.sh, case gofer): file
// operations on gofer-backed files must keep working until the gofer dies and fail with EIO
// after, never hang and never fail otherwise.
//
// Usage: fault_probe RO_DIR RW_DIR   (RO_DIR holds a file "big"; RW_DIR is writable)
//
// A child reads RO_DIR/big in a loop through an fd opened at the start (reads are in flight
// when the gofer dies). The parent loops over metadata operations, each under a watchdog:
//   stat     stat of a name never looked up (a walk that reaches the gofer)
//   open     open of RO_DIR/big (the gofer donates a new host fd each time)
//   create   create, write, close and unlink in RW_DIR
//   readdir  open and list RW_DIR
//   fork     a child that walks a new name, as stat does
// It prints "ready" after 20 clean rounds, and once every operation has failed with EIO,
// "RESULT eio=... unexpected=N" and waits to be killed. A failure other than the expected one
// prints "UNEXPECTED op errno"; an operation that takes over 5 s prints "HANG op" and exits 3.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char* g_op = "start";
static const char* g_who = "probe";

static void OnAlarm(int sig) {
  (void)sig;
  dprintf(1, "HANG %s %s\n", g_who, g_op);
  _exit(3);
}

enum { kStat, kOpen, kCreate, kReaddir, kFork, kOps };
static const char* const kNames[kOps] = {"stat", "open", "create", "readdir", "fork"};
static int g_eio[kOps];
static int g_unexpected;
static int g_gone;  // some operation failed with EIO: the gofer is gone

// Records how operation `op` ended: 0, or the errno it failed with. `expected` is the errno it
// fails with while the gofer lives (0: none).
static void Check(int op, int err, int expected) {
  alarm(0);
  if (err == 0 || (err == expected && !g_gone)) return;
  if (err == EIO) {
    g_gone = 1;
    g_eio[op]++;
    return;
  }
  // After the gofer is gone, even the expected error is wrong: the answer cannot be known.
  g_unexpected++;
  dprintf(1, "UNEXPECTED %s %s\n", kNames[op], strerrorname_np(err));
}

static void Arm(const char* op) {
  g_op = op;
  alarm(5);
}

static int WalkNew(const char* dir, const char* prefix, int n) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s-%d-%d", dir, prefix, getpid(), n);
  struct stat st;
  return stat(path, &st) == 0 ? 0 : errno;
}

static void Reader(int fd) {
  g_who = "reader";
  static char buf[65536];
  for (off_t off = 0;;) {
    Arm("read");
    ssize_t n = pread(fd, buf, sizeof(buf), off);
    alarm(0);
    if (n < 0 && errno != EIO) dprintf(1, "UNEXPECTED read %s\n", strerrorname_np(errno));
    if (n < 0) {
      usleep(1000);
      continue;
    }
    off = n == 0 ? 0 : off + n;
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    dprintf(2, "usage: fault_probe RO_DIR RW_DIR\n");
    return 2;
  }
  const char* ro = argv[1];
  const char* rw = argv[2];
  signal(SIGALRM, OnAlarm);
  char big[512];
  snprintf(big, sizeof(big), "%s/big", ro);
  int fd = open(big, O_RDONLY);
  if (fd < 0) {
    dprintf(1, "UNEXPECTED setup open %s\n", strerrorname_np(errno));
    return 2;
  }
  pid_t reader = fork();
  if (reader == 0) Reader(fd);
  for (int round = 0;; round++) {
    Arm("stat");
    Check(kStat, WalkNew(rw, "absent", round), ENOENT);

    Arm("open");
    int f = open(big, O_RDONLY);
    Check(kOpen, f < 0 ? errno : 0, 0);
    if (f >= 0) close(f);

    Arm("create");
    char path[512];
    snprintf(path, sizeof(path), "%s/made-%d", rw, round);
    int err = 0;
    int w = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (w < 0) {
      err = errno;
    } else {
      if (write(w, "data\n", 5) != 5) err = errno;
      close(w);
      if (unlink(path) < 0 && !err) err = errno;
    }
    Check(kCreate, err, 0);

    Arm("readdir");
    DIR* d = opendir(rw);
    err = d ? 0 : errno;
    if (d) {
      errno = 0;
      while (readdir(d)) {
      }
      err = errno;
      closedir(d);
    }
    Check(kReaddir, err, 0);

    Arm("fork");
    pid_t child = fork();
    if (child == 0) {
      alarm(5);
      _exit(WalkNew(rw, "child", round));
    }
    int status = 0;
    err = child < 0 ? errno : 0;
    if (child > 0 && waitpid(child, &status, 0) < 0) err = errno;
    if (!err) err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
    Check(kFork, err, ENOENT);

    if (round == 20 && !g_gone) dprintf(1, "ready\n");
    int all = 1;
    for (int op = 0; op < kOps; op++) all &= g_eio[op] > 0;
    if (all) break;
    usleep(2000);
  }
  char line[256] = "";
  for (int op = 0; op < kOps; op++) {
    size_t len = strlen(line);
    snprintf(line + len, sizeof(line) - len, "%s%s", op ? "," : "", kNames[op]);
  }
  // Give the reader a moment of reads after the gofer's end, then end it.
  sleep(1);
  kill(reader, SIGKILL);
  waitpid(reader, NULL, 0);
  dprintf(1, "RESULT eio=%s unexpected=%d\n", line, g_unexpected);
  for (;;) pause();
}
