// Helpers shared by the /proc conformance programs (proc_test.cc, proc_pid_test.cc): reading
// whole files and links, splitting their lines and fields, and a child process to look at.
#ifndef MOAT_TESTS_SYSCALLS_PROC_UTIL_H_
#define MOAT_TESTS_SYSCALLS_PROC_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

namespace moat::testing {

// The whole content of `path`, read in small chunks so that short reads are exercised; sets
// *err to the errno of a failure (0 on success).
inline std::string ReadFile(const std::string& path, int* err = nullptr) {
  if (err) *err = 0;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = errno;
    return "";
  }
  std::string out;
  char buf[97];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (err) *err = errno;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

inline std::string ReadLink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return "<readlink " + path + ": " + ErrnoString(errno) + ">";
  return std::string(buf, static_cast<size_t>(n));
}

inline std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

inline std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

// The value of "Key:\tvalue" in a status-like file, or "<missing>".
inline std::string Field(const std::string& content, const std::string& key) {
  for (const std::string& line : Lines(content)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      size_t v = line.find_first_not_of(" \t", key.size() + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
  }
  return "<missing>";
}

// /proc/<pid>/stat split into fields: [0] is the pid, [1] the comm without parentheses, [2] the
// state, and so on (field N of proc(5) is index N-1).
inline std::vector<std::string> StatFields(const std::string& stat) {
  std::vector<std::string> f;
  size_t open = stat.find('(');
  size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return f;
  f.push_back(stat.substr(0, open - 1));
  f.push_back(stat.substr(open + 1, close - open - 1));
  std::istringstream rest(stat.substr(close + 1));
  std::string w;
  while (rest >> w) f.push_back(w);
  return f;
}

inline std::set<std::string> ListDir(const std::string& path, int* err = nullptr) {
  std::set<std::string> names;
  if (err) *err = 0;
  DIR* d = opendir(path.c_str());
  if (!d) {
    if (err) *err = errno;
    return names;
  }
  while (dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  return names;
}

inline std::string Self() { return "/proc/" + std::to_string(getpid()); }

// A child that waits until the returned pipe's write end is closed (or written to).
struct Sleeper {
  Sleeper() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
    pid = fork();
    if (pid == 0) {
      close(fds[1]);
      char c;
      while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(fds[0]);
    release_fd = fds[1];
  }
  // Lets the child exit and reaps it.
  int Finish() {
    if (release_fd >= 0) close(release_fd);
    release_fd = -1;
    return pid > 0 ? WaitForChild(pid) : -1;
  }
  ~Sleeper() {
    if (release_fd >= 0) Finish();
  }
  pid_t pid = -1;
  int release_fd = -1;
};

}  // namespace moat::testing

#endif  // MOAT_TESTS_SYSCALLS_PROC_UTIL_H_
