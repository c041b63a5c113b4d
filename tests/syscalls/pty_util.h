// Helpers shared by the pseudo-terminal conformance programs (pty_test.cc,
// pty_job_control_test.cc).
#ifndef MOAT_TESTS_SYSCALLS_PTY_UTIL_H_
#define MOAT_TESTS_SYSCALLS_PTY_UTIL_H_

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// A master and its replica, set up the way openpty(3) does it with the POSIX calls.
struct Pty {
  Pty() {
    master.reset(posix_openpt(O_RDWR | O_NOCTTY));
    if (!master.valid()) {
      ADD_FAILURE() << "posix_openpt: " << ErrnoString(errno);
      return;
    }
    if (grantpt(master.get()) != 0) ADD_FAILURE() << "grantpt: " << ErrnoString(errno);
    if (unlockpt(master.get()) != 0) ADD_FAILURE() << "unlockpt: " << ErrnoString(errno);
    const char* name = ptsname(master.get());
    if (name == nullptr) {
      ADD_FAILURE() << "ptsname: " << ErrnoString(errno);
      return;
    }
    path = name;
    replica.reset(open(name, O_RDWR | O_NOCTTY));
    if (!replica.valid()) ADD_FAILURE() << "open(" << path << "): " << ErrnoString(errno);
  }
  FileDescriptor master;
  FileDescriptor replica;
  std::string path;
};

inline short PollEvents(int fd, short events, int timeout_ms = 0) {
  struct pollfd pfd = {fd, events, 0};
  int n = poll(&pfd, 1, timeout_ms);
  if (n < 0) ADD_FAILURE() << "poll: " << ErrnoString(errno);
  return n == 1 ? pfd.revents : 0;
}

// Reads what is there (waiting up to a second for the first byte) until `want` bytes came, or
// nothing more arrives within 100 ms.
inline std::string ReadAvailable(int fd, size_t want = SIZE_MAX) {
  std::string out;
  int timeout = 1000;
  while (out.size() < want && (PollEvents(fd, POLLIN, timeout) & POLLIN)) {
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    timeout = 100;
  }
  return out;
}

inline void WriteAll(int fd, const std::string& s) {
  ASSERT_THAT(write(fd, s.data(), s.size()), SyscallSucceedsWithValue(ssize_t(s.size())));
}

inline void SetLflag(int fd, tcflag_t on, tcflag_t off) {
  struct termios t;
  ASSERT_THAT(tcgetattr(fd, &t), SyscallSucceeds());
  t.c_lflag = (t.c_lflag | on) & ~off;
  ASSERT_THAT(tcsetattr(fd, TCSANOW, &t), SyscallSucceeds());
}

inline void NoopHandler(int) {}

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_PTY_UTIL_H_
