// The cases bench/compare runs in every runtime: one static binary, the same bytes natively and in
// each container, so that what differs between the rows of its table is only the runtime.
//
// Usage: compare_cases CASE [--min-time=SECONDS] [--file=PATH] [--dir=DIR]
//        compare_cases --list
// Each run prints one JSON line: {"case":..., "ns_per_op":..., "ops":...} for a timed operation,
// {"case":..., "bytes_per_s":..., "bytes":...} for the sequential read, or {"case":...,
// "error":"call: ENAME (strerror)"} (exit status 1) when the runtime cannot do what the case needs, so
// that the caller reports a failed row instead of a number.
//
// Timing is self-calibrating: a batch of operations is repeated with twice as many operations
// until one batch lasts at least --min-time (0.2 s by default), and that batch is reported. The
// harness is ours rather than Google Benchmark because Debian ships that one as a shared library
// only, and the binary must be static to run unchanged inside a busybox root.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
  double min_time = 0.2;
  // open+close and stat target this file; bench/compare puts a small file in the container's
  // root (a host directory reached through the runtime's file layer) and passes its path.
  std::string file = "/bench/small";
  // The 64 MiB file is written here; bench/compare passes a tmpfs in every runtime.
  std::string dir = "/tmp";
};

// Thrown-free error path: the case stops and main prints the failing call and its errno.
struct Failure {
  std::string what;
};

Failure Errno(const std::string& call) {
  int err = errno;
  const char* name = strerrorname_np(err);
  return Failure{call + ": " + (name ? name : "errno " + std::to_string(err)) + " (" +
                 std::strerror(err) + ")"};
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The JSON strings we print come from strerror and our own messages; quotes and backslashes are
// the only characters that need escaping there.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c == '\n') ? ' ' : c;
  }
  return out + "\"";
}

// Runs op(n) (which performs n operations and returns false with *failure set on error) with a
// growing n until one batch takes at least min_time; prints the last batch's time per operation.
bool TimeOps(const char* name, const Options& opt, const std::function<bool(int64_t)>& op) {
  int64_t n = 1;
  for (;;) {
    int64_t start = NowNs();
    if (!op(n)) return false;
    int64_t elapsed = NowNs() - start;
    if (elapsed >= opt.min_time * 1e9 || n >= (int64_t{1} << 40)) {
      std::printf("{\"case\":%s,\"ns_per_op\":%.1f,\"ops\":%lld}\n", Quote(name).c_str(),
                  double(elapsed) / double(n), static_cast<long long>(n));
      return true;
    }
    n *= 2;
  }
}

// A child that echoes each byte it reads from `in` back to `out` until end of file; used by the
// ping-pong cases so that one operation is a round trip between two processes. The child closes
// `parent_end`, the parent's side, so that the parent's close is the end of file it waits for.
pid_t StartEcho(int in, int out, int parent_end, Failure* failure) {
  pid_t pid = fork();
  if (pid < 0) {
    *failure = Errno("fork");
    return -1;
  }
  if (pid == 0) {
    close(parent_end);
    char c;
    while (read(in, &c, 1) == 1) {
      if (write(out, &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  return pid;
}

bool PingPong(const char* name, const Options& opt, int send, int recv, Failure* failure) {
  char c = 'x';
  return TimeOps(name, opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if (write(send, &c, 1) != 1) {
        *failure = Errno("write");
        return false;
      }
      if (read(recv, &c, 1) != 1) {
        *failure = Errno("read");
        return false;
      }
    }
    return true;
  });
}

bool Getpid(const Options& opt, Failure*) {
  return TimeOps("getpid", opt, [](int64_t n) {
    for (int64_t i = 0; i < n; ++i) syscall(SYS_getpid);
    return true;
  });
}

bool ReadZero(const Options& opt, Failure* failure) {
  int fd = open("/dev/zero", O_RDONLY);
  if (fd < 0) {
    *failure = Errno("open(/dev/zero)");
    return false;
  }
  char c;
  bool ok = TimeOps("read_zero", opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if (read(fd, &c, 1) != 1) {
        *failure = Errno("read(/dev/zero)");
        return false;
      }
    }
    return true;
  });
  close(fd);
  return ok;
}

bool OpenClose(const Options& opt, Failure* failure) {
  return TimeOps("open_close", opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int fd = open(opt.file.c_str(), O_RDONLY);
      if (fd < 0) {
        *failure = Errno("open(" + opt.file + ")");
        return false;
      }
      close(fd);
    }
    return true;
  });
}

bool Stat(const Options& opt, Failure* failure) {
  struct stat st;
  return TimeOps("stat", opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if (stat(opt.file.c_str(), &st) < 0) {
        *failure = Errno("stat(" + opt.file + ")");
        return false;
      }
    }
    return true;
  });
}

bool PipePingPong(const Options& opt, Failure* failure) {
  int to_child[2], to_parent[2];
  if (pipe(to_child) < 0 || pipe(to_parent) < 0) {
    *failure = Errno("pipe");
    return false;
  }
  pid_t pid = StartEcho(to_child[0], to_parent[1], to_child[1], failure);
  if (pid < 0) return false;
  close(to_child[0]);
  close(to_parent[1]);
  bool ok = PingPong("pipe_pingpong", opt, to_child[1], to_parent[0], failure);
  close(to_child[1]);
  waitpid(pid, nullptr, 0);
  close(to_parent[0]);
  return ok;
}

bool UnixPingPong(const Options& opt, Failure* failure) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
    *failure = Errno("socketpair(AF_UNIX, SOCK_STREAM)");
    return false;
  }
  pid_t pid = StartEcho(sv[1], sv[1], sv[0], failure);
  if (pid < 0) return false;
  close(sv[1]);
  bool ok = PingPong("unix_pingpong", opt, sv[0], sv[0], failure);
  close(sv[0]);
  waitpid(pid, nullptr, 0);
  return ok;
}

// One byte there and back over a TCP connection on 127.0.0.1, TCP_NODELAY on both ends so that
// each byte is its own segment: the cost of the loopback path of whichever stack the runtime
// gives the container (the host kernel's for runc, the sandbox's own for gVisor and ours).
bool TcpPingPong(const Options& opt, Failure* failure) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    *failure = Errno("socket(AF_INET, SOCK_STREAM)");
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int client = -1, server = -1;
  int one = 1;
  auto fail = [&](const char* call) {
    *failure = Errno(call);
    for (int fd : {listener, client, server}) {
      if (fd >= 0) close(fd);
    }
    return false;
  };
  // Port 0: the stack picks a free one, read back with getsockname.
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return fail("bind(127.0.0.1:0)");
  }
  if (listen(listener, 1) < 0) return fail("listen");
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    return fail("getsockname");
  }
  client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (client < 0) return fail("socket(AF_INET, SOCK_STREAM)");
  // The handshake completes in the listener's backlog, so connecting before accepting does not
  // block.
  if (connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return fail("connect(127.0.0.1)");
  }
  server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (server < 0) return fail("accept4");
  if (setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
      setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
    return fail("setsockopt(TCP_NODELAY)");
  }
  close(listener);
  listener = -1;
  pid_t pid = StartEcho(server, server, client, failure);
  if (pid < 0) {
    close(client);
    close(server);
    return false;
  }
  close(server);
  bool ok = PingPong("tcp_pingpong", opt, client, client, failure);
  close(client);
  waitpid(pid, nullptr, 0);
  return ok;
}

bool ForkExitWait(const Options& opt, Failure* failure) {
  return TimeOps("fork_exit_wait", opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      pid_t pid = fork();
      if (pid < 0) {
        *failure = Errno("fork");
        return false;
      }
      if (pid == 0) _exit(0);
      int status;
      if (waitpid(pid, &status, 0) != pid) {
        *failure = Errno("waitpid");
        return false;
      }
    }
    return true;
  });
}

// 64 KiB of anonymous memory, one byte written in each of its 16 pages so that the page faults
// (which is where runtimes differ most) are part of the cost, then unmapped.
bool MmapMunmap(const Options& opt, Failure* failure) {
  constexpr size_t kSize = 64 << 10;
  constexpr size_t kPage = 4096;
  return TimeOps("mmap_munmap", opt, [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      void* p = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        *failure = Errno("mmap");
        return false;
      }
      for (size_t off = 0; off < kSize; off += kPage) {
        static_cast<volatile char*>(p)[off] = 1;
      }
      if (munmap(p, kSize) < 0) {
        *failure = Errno("munmap");
        return false;
      }
    }
    return true;
  });
}

// Writes a 64 MiB file into opt.dir, then reads it from start to end with 1 MiB reads as many
// times as fit in min_time (at least twice, the first pass not counted); prints bytes per second.
bool SeqRead64M(const Options& opt, Failure* failure) {
  constexpr size_t kFile = 64 << 20;
  constexpr size_t kChunk = 1 << 20;
  std::string path = opt.dir + "/compare_cases.64m";
  std::vector<char> buf(kChunk, 'm');
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    *failure = Errno("open(" + path + ")");
    return false;
  }
  unlink(path.c_str());
  for (size_t done = 0; done < kFile; done += kChunk) {
    if (write(fd, buf.data(), kChunk) != ssize_t(kChunk)) {
      *failure = Errno("write(" + path + ")");
      close(fd);
      return false;
    }
  }
  auto pass = [&]() {
    for (off_t off = 0; off < off_t(kFile); off += kChunk) {
      ssize_t got = pread(fd, buf.data(), kChunk, off);
      if (got != ssize_t(kChunk)) {
        *failure = got < 0 ? Errno("pread(" + path + ")") : Failure{"pread: short read"};
        return false;
      }
    }
    return true;
  };
  if (!pass()) {
    close(fd);
    return false;
  }
  int64_t passes = 0;
  int64_t start = NowNs();
  int64_t elapsed = 0;
  while (passes < 2 || elapsed < opt.min_time * 1e9) {
    if (!pass()) {
      close(fd);
      return false;
    }
    ++passes;
    elapsed = NowNs() - start;
  }
  close(fd);
  double bytes = double(passes) * kFile;
  std::printf("{\"case\":\"read_64m\",\"bytes_per_s\":%.0f,\"bytes\":%.0f}\n",
              bytes * 1e9 / double(elapsed), bytes);
  return true;
}

struct Case {
  const char* name;
  bool (*run)(const Options&, Failure*);
};

constexpr Case kCases[] = {
    {"getpid", Getpid},
    {"read_zero", ReadZero},
    {"open_close", OpenClose},
    {"stat", Stat},
    {"pipe_pingpong", PipePingPong},
    {"unix_pingpong", UnixPingPong},
    {"tcp_pingpong", TcpPingPong},
    {"fork_exit_wait", ForkExitWait},
    {"read_64m", SeqRead64M},
    {"mmap_munmap", MmapMunmap},
};

int Usage() {
  std::fprintf(stderr,
               "usage: compare_cases CASE [--min-time=SECONDS] [--file=PATH] [--dir=DIR]\n"
               "       compare_cases --list\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  std::string_view name = argv[1];
  if (name == "--list") {
    for (const Case& c : kCases) std::printf("%s\n", c.name);
    return 0;
  }
  Options opt;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> const char* {
      return arg.substr(0, flag.size()) == flag ? argv[i] + flag.size() : nullptr;
    };
    if (const char* v = value("--min-time=")) {
      opt.min_time = std::atof(v);
    } else if (const char* v = value("--file=")) {
      opt.file = v;
    } else if (const char* v = value("--dir=")) {
      opt.dir = v;
    } else {
      return Usage();
    }
  }
  for (const Case& c : kCases) {
    if (name != c.name) continue;
    Failure failure;
    if (c.run(opt, &failure)) return 0;
    std::printf("{\"case\":%s,\"error\":%s}\n", Quote(c.name).c_str(),
                Quote(failure.what).c_str());
    return 1;
  }
  std::fprintf(stderr, "compare_cases: unknown case %s (--list prints them)\n", argv[1]);
  return 2;
}
