#include "runsc/confine.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/host_proc.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc {
namespace {

// The handler of the signals the sentry takes with sigwaitinfo: as pid 1 of its PID namespace,
// it would never receive one that has none. They stay blocked, so it never runs.
void IgnoredHandler(int) {}

// Where the sentry's empty root is mounted before the pivot: any directory of the host's tree
// does, as the mount is made in the sentry's own mount namespace.
constexpr char kNewRoot[] = "/tmp";

int g_status_fd = -1;          // the sentry's end of SentryProcess::status
uid_t g_host_root_as_seen = 0;

absl::Status CheckOneThread() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return ErrnoStatus("opendir(/proc/self/task)");
  int threads = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') threads++;
  }
  closedir(d);
  if (threads != 1) {
    return absl::InternalError(fmt::format(
        "confining the sentry: the process has {} threads, and namespaces are per thread: "
        "nothing may start a thread before the sentry is forked",
        threads));
  }
  return absl::OkStatus();
}

absl::Status WriteProcFile(const std::string& path, const std::string& text) {
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(fmt::format("open({})", path));
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoStatus(fmt::format("write({}, \"{}\")", path, text.substr(0, text.size() - 1)));
  return absl::OkStatus();
}

}  // namespace

absl::Status PivotToEmptyRoot(bool with_proc) {
  // Nothing mounted or unmounted here reaches the host's namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return ErrnoStatus("mount(/, MS_REC | MS_PRIVATE)");
  if (mount("none", kNewRoot, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            "mode=0555,size=16k,nr_inodes=8") < 0)
    return ErrnoStatus(fmt::format("mount(tmpfs on {}) for an empty root", kNewRoot));
  if (with_proc) {
    std::string proc = std::string(kNewRoot) + "/proc";
    if (mkdir(proc.c_str(), 0555) < 0) return ErrnoStatus(fmt::format("mkdir({})", proc));
    if (mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
      return ErrnoStatus("mount(proc) of the process's PID namespace");
    FileDescriptor proc_dir(open(proc.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc_dir) return ErrnoStatus(fmt::format("open({})", proc));
    hostproc::Set(std::move(proc_dir));
    // Reachable through the fd alone from now on.
    if (umount2(proc.c_str(), MNT_DETACH) < 0) return ErrnoStatus(fmt::format("umount({})", proc));
    if (rmdir(proc.c_str()) < 0) return ErrnoStatus(fmt::format("rmdir({})", proc));
  }
  // pivot_root(".", ".") stacks the old root under the new one, where it is detached at once.
  if (chdir(kNewRoot) < 0) return ErrnoStatus(fmt::format("chdir({})", kNewRoot));
  if (syscall(SYS_pivot_root, ".", ".") < 0) return ErrnoStatus("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) return ErrnoStatus("umount of the host's root");
  if (chdir("/") < 0) return ErrnoStatus("chdir(/)");
  if (mount(nullptr, "/", nullptr,
            MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
    return ErrnoStatus("remounting the empty root read-only");
  return absl::OkStatus();
}

absl::Status DropCapabilities(std::initializer_list<int> keep) {
  if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) < 0)
    return ErrnoStatus("prctl(PR_SET_SECUREBITS)");
  uint64_t mask = 0;
  for (int cap : keep) mask |= uint64_t{1} << cap;
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if (mask & (uint64_t{1} << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return ErrnoStatus(fmt::format("prctl(PR_CAPBSET_DROP, {})", cap));
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return ErrnoStatus("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; i++) {
    data[i].effective = data[i].permitted = static_cast<uint32_t>(mask >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) < 0) return ErrnoStatus("capset");
  return absl::OkStatus();
}

namespace {

// Everything the sentry does to itself, in the namespaces it was forked into.
absl::Status ConfineSelf(const ConfineOptions& o) {
  if (o.user_namespace) {
    // Root of its own namespace, which is the host's nobody.
    if (setresgid(0, 0, 0) < 0) return ErrnoStatus("setresgid(0) in the sentry's user namespace");
    if (setgroups(0, nullptr) < 0) return ErrnoStatus("setgroups in the sentry's user namespace");
    if (setresuid(0, 0, 0) < 0) return ErrnoStatus("setresuid(0) in the sentry's user namespace");
    // The id change made the process undumpable (fs.suid_dumpable), which its clones, the
    // application processes, would inherit until their exec; the ptrace platform attaches to
    // them before that.
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) return ErrnoStatus("prctl(PR_SET_DUMPABLE)");
  }
  RETURN_IF_ERROR(PivotToEmptyRoot(/*with_proc=*/true));
  if (o.user_namespace) {
    RETURN_IF_ERROR(DropCapabilities({CAP_SYS_ADMIN}));
  } else {
    // Host sockets: low ports, and ICMP through raw sockets.
    RETURN_IF_ERROR(DropCapabilities({CAP_SYS_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW}));
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ErrnoStatus("prctl(PR_SET_NO_NEW_PRIVS)");
  // The id and capability changes cleared the death signal: set again, then check that the
  // supervisor did not go meanwhile (its end of the status socket would be closed).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return ErrnoStatus("prctl(PR_SET_PDEATHSIG)");
  pollfd p{g_status_fd, POLLIN, 0};
  if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR))) _exit(125);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<SentryProcess>> ForkSentry(const ConfineOptions& o) {
  RETURN_IF_ERROR(CheckOneThread());
  // What reads host files on first use, read while they are in reach.
  hostproc::ConfiguredCpus();
  hostproc::OverflowUid();
  hostproc::OverflowGid();
  hostproc::HostTasksMax();
  tzset();
  g_host_root_as_seen = o.user_namespace ? hostproc::OverflowUid() : 0;

  int status[2], go[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, status) < 0)
    return ErrnoStatus("socketpair(the sentry's status)");
  if (pipe2(go, O_CLOEXEC) < 0) return ErrnoStatus("pipe2");
  FileDescriptor status_r(status[0]), status_w(status[1]), go_r(go[0]), go_w(go[1]);
  // The supervisor takes SIGCHLD with sigwaitinfo; blocked before the sentry can exit.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);

  int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
  if (o.user_namespace) flags |= CLONE_NEWUSER;
  if (o.network_namespace) flags |= CLONE_NEWNET;
  // A fork into new namespaces: the child goes on from here, with a copy of this thread.
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, 0));
  if (pid < 0) return ErrnoStatus(fmt::format("clone(0x{:x}) of the sentry", flags));

  if (pid > 0) {
    go_r.Reset();
    status_w.Reset();
    if (o.user_namespace) {
      std::string map = fmt::format("0 {} 1\n", kSentryHostId);
      absl::Status s = WriteProcFile(fmt::format("/proc/{}/uid_map", pid), map);
      if (s.ok()) s = WriteProcFile(fmt::format("/proc/{}/gid_map", pid), map);
      if (!s.ok()) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return s;
      }
    }
    if (write(go_w.get(), "g", 1) != 1) return ErrnoStatus("starting the sentry");
    return SentryProcess{pid, std::move(status_r)};
  }

  // The sentry. It goes when the supervisor goes; one that died before this line closed `go`.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  go_w.Reset();
  status_r.Reset();
  char c;
  if (read(go_r.get(), &c, 1) != 1) _exit(125);
  go_r.Reset();
  sigprocmask(SIG_UNBLOCK, &chld, nullptr);
  for (int sig : o.forwarded) {
    struct sigaction sa {};
    sa.sa_handler = IgnoredHandler;
    sigaction(sig, &sa, nullptr);
  }
  prctl(PR_SET_NAME, "runsc-sentry");
  g_status_fd = status_w.Release();
  RETURN_IF_ERROR(ConfineSelf(o));
  return std::nullopt;
}

namespace {

// The pids of this process's children, as /proc lists them per thread.
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (FILE* f = std::fopen(fmt::format("/proc/self/task/{}/children", e->d_name).c_str(), "re")) {
        int pid;
        while (std::fscanf(f, "%d", &pid) == 1) out.push_back(pid);
        std::fclose(f);
      }
    }
    closedir(d);
  }
  return out;
}

// Once the sentry has ended, the supervisor's other children (the gofer) end too: the sentry's
// ends of their sockets are closed. They are waited for, so that no process of the sandbox
// outlives runsc (a gofer that served many files takes a while to close them on a loaded
// machine); one still there after a grace period is killed. `sigchld` is a signalfd that
// reports SIGCHLD.
void ReapOtherChildren(int sigchld) {
  constexpr auto kGrace = std::chrono::seconds(10);
  const auto deadline = std::chrono::steady_clock::now() + kGrace;
  for (;;) {
    pid_t r = waitpid(-1, nullptr, WNOHANG);
    if (r > 0 || (r < 0 && errno == EINTR)) continue;
    if (r < 0) return;  // ECHILD: none left
    if (std::chrono::steady_clock::now() >= deadline) {
      for (pid_t pid : Children()) {
        LOG_WARNING("process {} of the sandbox has not ended {} s after the sentry: killed", pid,
                    kGrace.count());
        kill(pid, SIGKILL);
      }
      while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
      }
      return;
    }
    // Woken by SIGCHLD, or at least every 100 ms (a SIGCHLD may have come before the signalfd).
    pollfd p{sigchld, POLLIN, 0};
    poll(&p, sigchld >= 0 ? 1 : 0, 100);
    signalfd_siginfo info;
    while (sigchld >= 0 && read(sigchld, &info, sizeof(info)) == sizeof(info)) {
    }
  }
}

}  // namespace

int Supervise(const SentryProcess& sentry, std::span<const int> forwarded,
              const std::function<void(int wait_status)>& on_status) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : forwarded) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  FileDescriptor signals(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals) LOG_ERROR("signalfd: {}", LastErrno().Name());
  std::optional<int> reported;
  int own = 0;
  for (;;) {
    pid_t r = waitpid(sentry.pid, &own, WNOHANG);
    if (r == sentry.pid || (r < 0 && errno != EINTR)) break;
    pollfd p[2] = {{signals.get(), POLLIN, 0}, {reported ? -1 : sentry.status.get(), POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    signalfd_siginfo info;
    while (read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
      if (static_cast<int>(info.ssi_signo) != SIGCHLD) kill(sentry.pid, static_cast<int>(info.ssi_signo));
    }
    if (p[1].revents) {
      // The sandbox's status, reported before the sentry ends: recorded before the sentry's
      // end (and the control socket's) can be seen, then the sentry may go.
      int status = 0;
      if (read(sentry.status.get(), &status, sizeof(status)) == sizeof(status)) {
        reported = status;
        on_status(status);
      } else {
        reported = -1;  // hung up without a report: take its own status below
      }
      char ack = 'a';
      (void)!write(sentry.status.get(), &ack, 1);
    }
  }
  // The container has stopped once the sentry is gone (its init with it): that is recorded
  // first, then the other children are waited for (runsc delete waits for this process).
  const bool unreported = !reported || *reported == -1;
  if (unreported) {
    LOG_WARNING("the sentry ended without reporting the sandbox's status (its own: {:#x})", own);
    on_status(own);
  }
  ReapOtherChildren(signals.get());
  return unreported ? own : *reported;
}

void CloseAllFdsBut(int keep) {
  std::vector<int> open_fds;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      int fd = atoi(e->d_name);
      if (e->d_name[0] != '.' && fd > 2 && fd != keep && fd != LogFd() && fd != dirfd(d))
        open_fds.push_back(fd);
    }
    closedir(d);
  }
  for (int fd : open_fds) close(fd);
}

void ExitSentry(int wait_status) {
  if (g_status_fd >= 0 && write(g_status_fd, &wait_status, sizeof(wait_status)) > 0) {
    // Until the supervisor has recorded it (or is gone).
    char ack;
    while (read(g_status_fd, &ack, 1) < 0 && errno == EINTR) {
    }
  }
  _exit(0);
}

uid_t HostRootAsSeen() { return g_host_root_as_seen; }

}  // namespace moat::runsc
