// The control socket of a sandbox (DESIGN.md section 2): how the runsc commands, each a fresh
// process, talk to the `runsc boot` process that holds a container's sentry.
//
// Transport: a SOCK_SEQPACKET unix socket, `control.sock` in the container's state directory,
// mode 0600. A client connects, sends one request and reads one reply; a request that waits
// (Wait, WaitPid) holds its connection until the answer is known. Messages use base/wire.h. A
// reply is the request's type with kReplyBit set and the request's reply struct, or kFailed with
// a message. Exec carries the new process's stdio fds (or its terminal) with SCM_RIGHTS.
//
// Trust: the server checks the peer's credentials (root, or the sandbox's own uid) and decodes
// every request exactly; a malformed one gets kFailed and the connection is closed.
#ifndef MOAT_RUNSC_CONTROL_H_
#define MOAT_RUNSC_CONTROL_H_

#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file_descriptor.h"
#include "base/wire.h"

namespace moat::runsc::control {

enum MsgType : uint32_t {
  kFailed = 1,
  kStart,     // lets the created init process run
  kSignal,    // kill(2) from outside
  kExec,      // a new process in the container
  kWaitPid,   // the wait status of an exec'd process, once it exits
  kWait,      // the wait status of init, once it exits
  kProcesses, // ps
  kPause,
  kResume,
  kStats,
};
inline constexpr uint32_t kReplyBit = 0x8000'0000;
inline constexpr size_t kMaxMessage = 256 * 1024;

struct Empty {
  template <class V> void Visit(V&) {}
};

struct FailedReply {
  std::string message;
  template <class V> void Visit(V& v) { v(message); }
};

struct SignalRequest {
  int32_t pid = 0;  // a sandbox pid; 0: the init process
  int32_t signo = 0;
  uint8_t all = 0;  // every process of the container (kill --all)
  using Reply = Empty;
  static constexpr MsgType kType = kSignal;
  template <class V> void Visit(V& v) { v(pid), v(signo), v(all); }
};

struct StartRequest {
  using Reply = Empty;
  static constexpr MsgType kType = kStart;
  template <class V> void Visit(V&) {}
};

struct Rlimit {
  int32_t resource = 0;
  uint64_t soft = 0, hard = 0;
  template <class V> void Visit(V& v) { v(resource), v(soft), v(hard); }
};

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string cwd;
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  int32_t umask = -1;  // -1: 022
  uint8_t has_caps = 0;
  uint64_t cap_bounding = 0, cap_effective = 0, cap_inheritable = 0, cap_permitted = 0,
           cap_ambient = 0;
  uint8_t no_new_privs = 0;
  std::vector<Rlimit> rlimits;
  // The fds that come with the request: stdin, stdout, stderr; with `terminal`, the host
  // replica of a terminal whose master went to `console_socket` (runsc/console.h HostTerminal).
  // Then the process's fds 3 and on (exec --preserve-fds).
  uint8_t terminal = 0;
  uint16_t console_height = 0, console_width = 0;
  // With `terminal`: the unix socket the terminal's master went to.
  std::string console_socket;
  // Nobody will ask for its wait status (exec --detach with no waiter): reap it at exit.
  uint8_t detached = 0;
  struct Reply {
    int32_t pid = 0;
    template <class V> void Visit(V& v) { v(pid); }
  };
  static constexpr MsgType kType = kExec;
  template <class V> void Visit(V& v) {
    v(argv), v(envp), v(cwd), v(uid), v(gid), v(groups), v(umask), v(has_caps), v(cap_bounding);
    v(cap_effective), v(cap_inheritable), v(cap_permitted), v(cap_ambient), v(no_new_privs);
    v(rlimits), v(terminal), v(console_height), v(console_width), v(console_socket), v(detached);
  }
};

struct WaitStatusReply {
  int32_t status = 0;  // a wait(2) status
  template <class V> void Visit(V& v) { v(status); }
};

struct WaitPidRequest {
  int32_t pid = 0;
  // The waiter stands for the process (exec --detach: engines signal the waiter's pid): if its
  // connection closes before the process ends, the waiter was killed, and the process is
  // killed too (SIGKILL), as it would be were the waiter the process itself.
  uint8_t kill_on_hangup = 0;
  using Reply = WaitStatusReply;
  static constexpr MsgType kType = kWaitPid;
  template <class V> void Visit(V& v) { v(pid), v(kill_on_hangup); }
};

struct WaitRequest {
  using Reply = WaitStatusReply;
  static constexpr MsgType kType = kWait;
  template <class V> void Visit(V&) {}
};

struct ProcessInfo {
  int32_t pid = 0, host_pid = 0, ppid = 0;
  uint32_t uid = 0;
  std::string state, comm, cmdline;
  template <class V> void Visit(V& v) { v(pid), v(host_pid), v(ppid), v(uid), v(state), v(comm), v(cmdline); }
};

struct ProcessesRequest {
  struct Reply {
    std::vector<ProcessInfo> processes;
    template <class V> void Visit(V& v) { v(processes); }
  };
  static constexpr MsgType kType = kProcesses;
  template <class V> void Visit(V&) {}
};

struct PauseRequest {
  using Reply = Empty;
  static constexpr MsgType kType = kPause;
  template <class V> void Visit(V&) {}
};

struct ResumeRequest {
  using Reply = Empty;
  static constexpr MsgType kType = kResume;
  template <class V> void Visit(V&) {}
};

struct StatsRequest {
  struct Reply {
    uint64_t cpu_user_ns = 0, cpu_system_ns = 0;
    uint64_t tasks = 0, processes = 0;
    uint64_t rss_bytes = 0;
    template <class V> void Visit(V& v) { v(cpu_user_ns), v(cpu_system_ns), v(tasks), v(processes), v(rss_bytes); }
  };
  static constexpr MsgType kType = kStats;
  template <class V> void Visit(V&) {}
};

// The unix socket address of `path`. A path too long for sun_path (a 64-character container id
// under a long --root) is reached through its directory instead: an O_PATH fd of the directory,
// held in `dir` while the address is in use, and /proc/self/fd/N/NAME.
absl::StatusOr<sockaddr_un> SocketAddress(const std::string& path, FileDescriptor* dir);

// ---- Client ----

// The raw round trip under Call: connects to `path`, sends `msg` with `fds`, and returns the
// reply's body, its type in `reply_type`.
absl::StatusOr<std::vector<uint8_t>> RoundTrip(const std::string& path,
                                               const std::vector<uint8_t>& msg,
                                               const std::vector<int>& fds, uint32_t* reply_type);

// Sends `req` (with `fds`) to the sandbox whose control socket is `path` and returns its reply.
// Errors: the sandbox is gone (kUnavailable), it refused the request (kFailedPrecondition, with
// its message), or its reply does not decode (kInternal).
template <class Req>
absl::StatusOr<typename Req::Reply> Call(const std::string& path, const Req& req,
                                         const std::vector<int>& fds = {}) {
  uint32_t type = 0;
  absl::StatusOr<std::vector<uint8_t>> body =
      RoundTrip(path, wire::Encode(Req::kType, req), fds, &type);
  if (!body.ok()) return body.status();
  if (type == kFailed) {
    FailedReply f;
    if (!wire::Decode(*body, f)) return absl::InternalError("the sandbox sent a malformed error");
    return absl::FailedPreconditionError(f.message);
  }
  typename Req::Reply reply;
  if (type != (Req::kType | kReplyBit) || !wire::Decode(*body, reply))
    return absl::InternalError("the sandbox sent a malformed reply");
  return reply;
}

}  // namespace moat::runsc::control

#endif  // MOAT_RUNSC_CONTROL_H_
