// Conformance tests for execve and execveat.
//
// The binary is its own exec helper: when argv[1] starts with "--child-" it
// acts as the program being executed (it reports what it received on stdout
// or through its exit code) instead of running the tests. The tests execute
// the binary again through argv[0], which must therefore be an absolute path;
// the CMake harness passes it that way.

#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "tests/syscalls/test_util.h"

extern char** environ;

namespace moat::testing {
namespace {

// The absolute path of this binary, from argv[0].
std::string self_path;

// ---------------------------------------------------------------------------
// The exec helper: what this binary does when it is the program executed.

void Print(const std::string& s) {
  if (!WriteAll(STDOUT_FILENO, s.data(), s.size())) _exit(120);
}

// Prints every argument and then every environment entry, each followed by a
// NUL, with an "--env--" record between them, so that the parent can compare
// the exact strings including empty ones and ones containing newlines.
int ChildEcho(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; i++) out.append(argv[i]).push_back('\0');
  out.append("--env--").push_back('\0');
  for (char** e = environ; *e != nullptr; e++) out.append(*e).push_back('\0');
  Print(out);
  return 0;
}

// argv: --child-check-fds <fd expected closed> <fd expected open>
int ChildCheckFds(char** argv) {
  int closed_fd = atoi(argv[2]);
  int open_fd = atoi(argv[3]);
  int rc = 0;
  if (fcntl(closed_fd, F_GETFD) != -1 || errno != EBADF) {
    fprintf(stderr, "fd %d (O_CLOEXEC) is still open after exec\n", closed_fd);
    rc = 1;
  }
  if (fcntl(open_fd, F_GETFD) == -1) {
    fprintf(stderr, "fd %d (no O_CLOEXEC) was closed by exec\n", open_fd);
    rc = 1;
  }
  return rc;
}

const char* Disposition(int sig) {
  struct sigaction sa = {};
  if (sigaction(sig, nullptr, &sa) != 0) return "error";
  if (sa.sa_handler == SIG_DFL) return "default";
  if (sa.sa_handler == SIG_IGN) return "ignore";
  return "handler";
}

// Reports the signal state the new program started with.
int ChildSignals() {
  sigset_t mask, pending;
  sigprocmask(SIG_BLOCK, nullptr, &mask);
  sigpending(&pending);
  stack_t ss = {};
  sigaltstack(nullptr, &ss);
  std::string out;
  out += std::string("SIGUSR1=") + Disposition(SIGUSR1) + "\n";
  out += std::string("SIGUSR2=") + Disposition(SIGUSR2) + "\n";
  out += "SIGHUP blocked=" + std::to_string(sigismember(&mask, SIGHUP)) + "\n";
  out += "SIGTERM pending=" + std::to_string(sigismember(&pending, SIGTERM)) + "\n";
  out += "altstack disabled=" + std::to_string((ss.ss_flags & SS_DISABLE) != 0) + "\n";
  Print(out);
  return 0;
}

// Reports the auxiliary vector entries the tests know the values of.
int ChildAuxv() {
  std::string out;
  out += "AT_PAGESZ=" + std::to_string(getauxval(AT_PAGESZ)) + "\n";
  const auto* random = reinterpret_cast<const unsigned char*>(getauxval(AT_RANDOM));
  // Reading all 16 bytes would fault if the pointer were bogus.
  unsigned sum = 0;
  if (random != nullptr) {
    for (int i = 0; i < 16; i++) sum += random[i];
  }
  out += std::string("AT_RANDOM=") + (random != nullptr ? "set" : "null") + "\n";
  (void)sum;
  const char* execfn = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  out += std::string("AT_EXECFN=") + (execfn != nullptr ? execfn : "(null)") + "\n";
  out += "AT_UID=" + std::to_string(getauxval(AT_UID)) + "\n";
  out += "AT_EUID=" + std::to_string(getauxval(AT_EUID)) + "\n";
  out += "AT_GID=" + std::to_string(getauxval(AT_GID)) + "\n";
  out += "AT_EGID=" + std::to_string(getauxval(AT_EGID)) + "\n";
  out += "AT_SECURE=" + std::to_string(getauxval(AT_SECURE)) + "\n";
  out += std::string("AT_PHDR=") + (getauxval(AT_PHDR) != 0 ? "set" : "zero") + "\n";
  out += std::string("AT_ENTRY=") + (getauxval(AT_ENTRY) != 0 ? "set" : "zero") + "\n";
  Print(out);
  return 0;
}

// Reports the ids of the new program, which must be those of the process
// that called execve.
int ChildIds() {
  Print("pid=" + std::to_string(getpid()) + " tid=" + std::to_string(syscall(SYS_gettid)) +
        " ppid=" + std::to_string(getppid()) + "\n");
  return 0;
}

// Blocks until the given descriptor reaches end of file.
int ChildWaitFd(char** argv) {
  int fd = atoi(argv[2]);
  char c;
  while (read(fd, &c, 1) == -1 && errno == EINTR) {
  }
  return 0;
}

// Reports the capability sets of the new program as hex masks, from capget(2) and prctl(2):
// "eff prm inh bnd amb".
int ChildCaps() {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return 121;
  auto mask = [&](uint32_t __user_cap_data_struct::*field) {
    return data[0].*field | (static_cast<uint64_t>(data[1].*field) << 32);
  };
  uint64_t bnd = 0, amb = 0;
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bnd |= uint64_t{1} << cap;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) amb |= uint64_t{1} << cap;
  }
  char out[128];
  snprintf(out, sizeof(out), "%lx %lx %lx %lx %lx\n",
           static_cast<unsigned long>(mask(&__user_cap_data_struct::effective)),
           static_cast<unsigned long>(mask(&__user_cap_data_struct::permitted)),
           static_cast<unsigned long>(mask(&__user_cap_data_struct::inheritable)),
           static_cast<unsigned long>(bnd), static_cast<unsigned long>(amb));
  Print(out);
  return 0;
}

int RunChildMode(int argc, char** argv) {
  std::string mode = argv[1];
  // A #! interpreter line with an argument passes it as one string, so the
  // mode may be followed by more text.
  if (mode.rfind("--child-echo", 0) == 0 || mode.rfind("--child-script", 0) == 0) {
    return ChildEcho(argc, argv);
  }
  if (mode == "--child-exit" && argc >= 3) return atoi(argv[2]);
  if (mode == "--child-check-fds" && argc >= 4) return ChildCheckFds(argv);
  if (mode == "--child-signals") return ChildSignals();
  if (mode == "--child-auxv") return ChildAuxv();
  if (mode == "--child-ids") return ChildIds();
  if (mode == "--child-caps") return ChildCaps();
  if (mode == "--child-wait-fd" && argc >= 3) return ChildWaitFd(argv);
  fprintf(stderr, "exec_test: unknown child mode %s\n", argv[1]);
  return 125;
}

// ---------------------------------------------------------------------------
// Helpers for the tests.

// Keeps the strings alive for an argv- or envp-style array of pointers.
class CStringArray {
 public:
  explicit CStringArray(const std::vector<std::string>& strings) : strings_(strings) {
    for (const std::string& s : strings_) pointers_.push_back(const_cast<char*>(s.c_str()));
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

struct ExecResult {
  int status = -1;
  std::string output;
};

// Forks a child that runs setup, sends its stdout into a pipe and executes
// path. Returns the wait status and everything the program wrote to stdout.
ExecResult ForkExec(const std::string& path, const std::vector<std::string>& args,
                    const std::vector<std::string>& env,
                    const std::function<void()>& setup = nullptr) {
  ExecResult result;
  CStringArray argv(args);
  CStringArray envp(env);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << ErrnoString(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (setup) setup();
    // dup2 clears FD_CLOEXEC on the new descriptor.
    CHILD_CHECK_SUCCESS(dup2(fds[1], STDOUT_FILENO));
    execve(path.c_str(), argv.get(), envp.get());
    ChildCheckFailed(__FILE__, __LINE__, "execve", errno);
  }
  close(fds[1]);
  if (pid == -1) {
    ADD_FAILURE() << "fork: " << ErrnoString(errno);
    close(fds[0]);
    return result;
  }
  result.output = ReadAll(fds[0]);
  close(fds[0]);
  result.status = WaitForChild(pid);
  return result;
}

// Runs an exec call that is expected to fail in a forked child, so that an
// exec that wrongly succeeds cannot replace the test process. Returns -1 with
// errno set to the child's errno when the call failed, and 0 when the call
// replaced the child's image instead.
int ExecInChild(const std::function<long()>& exec_call) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    exec_call();
    int e = errno;
    ssize_t unused = write(fds[1], &e, sizeof(e));
    (void)unused;
    _exit(127);
  }
  close(fds[1]);
  if (pid == -1) {
    close(fds[0]);
    return -1;
  }
  int child_errno = 0;
  // The close-on-exec pipe is empty at end of file if the exec succeeded.
  ssize_t n = read(fds[0], &child_errno, sizeof(child_errno));
  close(fds[0]);
  WaitForChild(pid);
  if (n != sizeof(child_errno)) return 0;
  errno = child_errno;
  return -1;
}

// The output ChildEcho produces for the given arguments and environment.
std::string EchoOutput(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::string out;
  for (const std::string& a : args) out.append(a).push_back('\0');
  out.append("--env--").push_back('\0');
  for (const std::string& e : env) out.append(e).push_back('\0');
  return out;
}

// ---------------------------------------------------------------------------
// Arguments, environment and exit status

TEST(ExecTest, PassesArgvAndEnvpExactly) {
  std::vector<std::string> args = {"any-argv0", "--child-echo", "",
                                   "two words", "line\nbreak",  std::string(1000, 'x')};
  std::vector<std::string> env = {"A=1", "EMPTY=", "NOEQUALS", "B=with spaces"};
  ExecResult r = ForkExec(self_path, args, env);
  EXPECT_THAT(r.status, ExitedWith(0));
  EXPECT_EQ(r.output, EchoOutput(args, env));
}

TEST(ExecTest, EmptyEnvironment) {
  std::vector<std::string> args = {self_path, "--child-echo"};
  ExecResult r = ForkExec(self_path, args, {});
  EXPECT_THAT(r.status, ExitedWith(0));
  EXPECT_EQ(r.output, EchoOutput(args, {}));
}

TEST(ExecTest, ExitStatusOfNewProgram) {
  for (int code : {0, 3, 42, 200}) {
    ExecResult r = ForkExec(self_path, {self_path, "--child-exit", std::to_string(code)}, {});
    EXPECT_THAT(r.status, ExitedWith(code));
  }
}

TEST(ExecTest, KeepsPidAndParent) {
  const pid_t parent = getpid();
  pid_t child = 0;
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  CStringArray argv({self_path, "--child-ids"});
  CStringArray envp({});
  child = fork();
  if (child == 0) {
    dup2(fds[1], STDOUT_FILENO);
    execve(self_path.c_str(), argv.get(), envp.get());
    _exit(127);
  }
  ASSERT_THAT(child, SyscallSucceeds());
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  EXPECT_THAT(WaitForChild(child), ExitedWith(0));
  EXPECT_EQ(out, "pid=" + std::to_string(child) + " tid=" + std::to_string(child) +
                     " ppid=" + std::to_string(parent) + "\n");
}

TEST(ExecTest, ArgumentTooLongIsE2big) {
  // A single argument may not exceed MAX_ARG_STRLEN (32 pages).
  CStringArray argv({self_path, "--child-exit", std::string(33 * 4096, 'a')});
  CStringArray envp({});
  EXPECT_THAT(ExecInChild([&] { return execve(self_path.c_str(), argv.get(), envp.get()); }),
              SyscallFailsWithErrno(E2BIG));
}

TEST(ExecTest, BadArgvPointerIsEfault) {
  CStringArray envp({});
  EXPECT_THAT(ExecInChild([&] {
                return execve(self_path.c_str(), reinterpret_cast<char**>(1), envp.get());
              }),
              SyscallFailsWithErrno(EFAULT));
  char* bad_argv[] = {const_cast<char*>(self_path.c_str()), reinterpret_cast<char*>(1), nullptr};
  EXPECT_THAT(ExecInChild([&] { return execve(self_path.c_str(), bad_argv, envp.get()); }),
              SyscallFailsWithErrno(EFAULT));
}

// ---------------------------------------------------------------------------
// File descriptors

TEST(ExecTest, CloexecDescriptorsAreClosed) {
  FileDescriptor cloexec(open("/dev/null", O_RDONLY | O_CLOEXEC));
  FileDescriptor inherited(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(cloexec.valid() && inherited.valid());
  ExecResult r = ForkExec(self_path,
                          {self_path, "--child-check-fds", std::to_string(cloexec.get()),
                           std::to_string(inherited.get())},
                          {});
  EXPECT_THAT(r.status, ExitedWith(0));
}

TEST(ExecTest, FdCloexecSetByFcntlIsHonoured) {
  FileDescriptor a(open("/dev/null", O_RDONLY));
  FileDescriptor b(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(a.valid() && b.valid());
  ASSERT_THAT(fcntl(a.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  ASSERT_THAT(fcntl(b.get(), F_SETFD, 0), SyscallSucceeds());
  ExecResult r = ForkExec(
      self_path, {self_path, "--child-check-fds", std::to_string(a.get()), std::to_string(b.get())},
      {});
  EXPECT_THAT(r.status, ExitedWith(0));
}

// ---------------------------------------------------------------------------
// Failures

TEST(ExecErrorTest, MissingFileIsEnoent) {
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve("/nonexistent/moat/program", argv.get(), environ); }),
              SyscallFailsWithErrno(ENOENT));
  TempDir dir;
  EXPECT_THAT(ExecInChild([&] { return execve(dir.Join("missing").c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(ExecInChild([&] { return execve("", argv.get(), environ); }),
              SyscallFailsWithErrno(ENOENT));
}

TEST(ExecErrorTest, DirectoryIsEacces) {
  CStringArray argv({"x"});
  TempDir dir;
  EXPECT_THAT(ExecInChild([&] { return execve(dir.path().c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(ExecInChild([&] { return execve("/", argv.get(), environ); }),
              SyscallFailsWithErrno(EACCES));
}

TEST(ExecErrorTest, FileWithoutExecuteBitIsEacces) {
  TempDir dir;
  std::string path = dir.Join("noexec");
  ASSERT_TRUE(CreateFileWithContents(path, "#!/bin/sh\nexit 0\n", 0644));
  CStringArray argv({"x"});
  // Even root needs at least one execute bit.
  EXPECT_THAT(ExecInChild([&] { return execve(path.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(EACCES));
}

TEST(ExecErrorTest, PathThroughFileIsEnotdir) {
  TempDir dir;
  std::string file = dir.Join("file");
  ASSERT_TRUE(CreateFileWithContents(file, "data", 0755));
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve((file + "/prog").c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOTDIR));
}

TEST(ExecErrorTest, UnknownFormatIsEnoexec) {
  TempDir dir;
  std::string garbage = dir.Join("garbage");
  std::string bytes;
  for (int i = 0; i < 512; i++) bytes.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  bytes[0] = 0x01;  // Make sure it starts with neither "\x7fELF" nor "#!".
  ASSERT_TRUE(CreateFileWithContents(garbage, bytes, 0755));
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve(garbage.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOEXEC));

  std::string empty = dir.Join("empty");
  ASSERT_TRUE(CreateFileWithContents(empty, "", 0755));
  EXPECT_THAT(ExecInChild([&] { return execve(empty.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOEXEC));
}

TEST(ExecErrorTest, TruncatedElfFails) {
  TempDir dir;
  std::string path = dir.Join("truncated");
  // An ELF magic number with nothing behind it is not a loadable image.
  const char kElfStart[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  ASSERT_TRUE(CreateFileWithContents(path, std::string(kElfStart, sizeof(kElfStart)), 0755));
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve(path.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOEXEC));
}

TEST(ExecErrorTest, MissingInterpreterIsEnoent) {
  TempDir dir;
  std::string path = dir.Join("script");
  ASSERT_TRUE(CreateFileWithContents(path, "#!/nonexistent/moat/interpreter\n", 0755));
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve(path.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ENOENT));
}

TEST(ExecErrorTest, FileOpenForWritingIsEtxtbsy) {
  TempDir dir;
  std::string path = dir.Join("busy");
  ASSERT_TRUE(CreateFileWithContents(path, "#!/bin/sh\nexit 0\n", 0755));
  FileDescriptor writer(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(writer.valid());
  CStringArray argv({"x"});
  EXPECT_THAT(ExecInChild([&] { return execve(path.c_str(), argv.get(), environ); }),
              SyscallFailsWithErrno(ETXTBSY));
}

// ---------------------------------------------------------------------------
// Interpreter scripts

TEST(ScriptTest, ShellScriptRuns) {
  TempDir dir;
  std::string path = dir.Join("hello.sh");
  ASSERT_TRUE(CreateFileWithContents(path, "#!/bin/sh\necho hello \"$@\"\nexit 7\n", 0755));
  ExecResult r = ForkExec(path, {path, "a", "b c"}, {"PATH=/usr/bin:/bin"});
  EXPECT_THAT(r.status, ExitedWith(7));
  EXPECT_EQ(r.output, "hello a b c\n");
}

TEST(ScriptTest, InterpreterReceivesArgumentAndScriptPath) {
  TempDir dir;
  std::string path = dir.Join("script");
  ASSERT_TRUE(CreateFileWithContents(path, "#!" + self_path + " --child-script\n", 0755));
  std::vector<std::string> env = {"X=y"};
  ExecResult r = ForkExec(path, {"ignored-argv0", "arg1", "arg2"}, env);
  EXPECT_THAT(r.status, ExitedWith(0));
  // The interpreter gets [interpreter, argument, script path, argv[1:]...]:
  // the original argv[0] is replaced by the path.
  EXPECT_EQ(r.output, EchoOutput({self_path, "--child-script", path, "arg1", "arg2"}, env));
}

TEST(ScriptTest, InterpreterArgumentIsOneStringWithoutTrailingBlanks) {
  TempDir dir;
  std::string path = dir.Join("script");
  ASSERT_TRUE(CreateFileWithContents(
      path, "#!  " + self_path + "   --child-script two  words \t\nbody\n", 0755));
  ExecResult r = ForkExec(path, {path}, {});
  EXPECT_THAT(r.status, ExitedWith(0));
  // Leading blanks before the interpreter and trailing blanks after the
  // argument are dropped; blanks inside the argument are kept.
  EXPECT_EQ(r.output, EchoOutput({self_path, "--child-script two  words", path}, {}));
}

TEST(ScriptTest, NestedInterpreterScripts) {
  TempDir dir;
  std::string inner = dir.Join("inner");
  std::string outer = dir.Join("outer");
  ASSERT_TRUE(CreateFileWithContents(inner, "#!" + self_path + " --child-script\n", 0755));
  ASSERT_TRUE(CreateFileWithContents(outer, "#!" + inner + " from-outer\n", 0755));
  ExecResult r = ForkExec(outer, {outer, "last"}, {});
  EXPECT_THAT(r.status, ExitedWith(0));
  EXPECT_EQ(r.output,
            EchoOutput({self_path, "--child-script", inner, "from-outer", outer, "last"}, {}));
}

// ---------------------------------------------------------------------------
// Signal state across exec

TEST(ExecSignalTest, DispositionsMaskAndPendingSignals) {
  ExecResult r = ForkExec(self_path, {self_path, "--child-signals"}, {}, [] {
    struct sigaction handled = MakeSigaction([](int) {});
    CHILD_CHECK_SUCCESS(sigaction(SIGUSR1, &handled, nullptr));
    struct sigaction ignored = MakeSigaction(SIG_IGN);
    CHILD_CHECK_SUCCESS(sigaction(SIGUSR2, &ignored, nullptr));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    CHILD_CHECK_SUCCESS(sigprocmask(SIG_BLOCK, &set, nullptr));
    CHILD_CHECK_SUCCESS(kill(getpid(), SIGTERM));
    static char stack[64 * 1024];
    stack_t ss = {};
    ss.ss_sp = stack;
    ss.ss_size = sizeof(stack);
    CHILD_CHECK_SUCCESS(sigaltstack(&ss, nullptr));
  });
  EXPECT_THAT(r.status, ExitedWith(0));
  // Handled signals revert to the default, ignored ones stay ignored, the
  // mask and pending signals survive, and the alternate stack is dropped.
  EXPECT_EQ(r.output,
            "SIGUSR1=default\n"
            "SIGUSR2=ignore\n"
            "SIGHUP blocked=1\n"
            "SIGTERM pending=1\n"
            "altstack disabled=1\n");
}

// ---------------------------------------------------------------------------
// The auxiliary vector

TEST(AuxvTest, NewProgramGetsAuxiliaryVector) {
  ExecResult r = ForkExec(self_path, {"argv0-is-not-execfn", "--child-auxv"}, {});
  EXPECT_THAT(r.status, ExitedWith(0));
  std::string expected = "AT_PAGESZ=4096\nAT_RANDOM=set\n";
  expected += "AT_EXECFN=" + self_path + "\n";
  expected += "AT_UID=" + std::to_string(getuid()) + "\n";
  expected += "AT_EUID=" + std::to_string(geteuid()) + "\n";
  expected += "AT_GID=" + std::to_string(getgid()) + "\n";
  expected += "AT_EGID=" + std::to_string(getegid()) + "\n";
  expected += "AT_SECURE=0\nAT_PHDR=set\nAT_ENTRY=set\n";
  EXPECT_EQ(r.output, expected);
}

TEST(AuxvTest, OwnAuxiliaryVector) {
  EXPECT_EQ(getauxval(AT_PAGESZ), 4096u);
  EXPECT_NE(getauxval(AT_RANDOM), 0u);
  EXPECT_EQ(getauxval(AT_UID), getuid());
  EXPECT_EQ(getauxval(AT_EUID), geteuid());
}

// ---------------------------------------------------------------------------
// Exec from a multi-threaded process

void* SleepForever(void*) {
  for (;;) pause();
  return nullptr;
}

struct ExecFromThreadArgs {
  const char* path;
  char** argv;
  char** envp;
};

void* ExecFromThread(void* arg) {
  auto* args = static_cast<ExecFromThreadArgs*>(arg);
  execve(args->path, args->argv, args->envp);
  ChildCheckFailed(__FILE__, __LINE__, "execve from thread", errno);
}

TEST(ExecThreadsTest, ExecFromMainThreadWhileAnotherSleeps) {
  std::vector<std::string> args = {self_path, "--child-ids"};
  ExecResult r = ForkExec(self_path, args, {}, [] {
    pthread_t thread;
    CHILD_CHECK(pthread_create(&thread, nullptr, SleepForever, nullptr) == 0);
  });
  // The sleeping thread is gone: the new program runs and exits normally, as
  // the only thread, with the pid of the old process.
  EXPECT_THAT(r.status, ExitedWith(0));
  EXPECT_THAT(r.output, ::testing::StartsWith("pid="));
}

TEST(ExecThreadsTest, ExecFromOtherThreadTakesOverThreadGroup) {
  CStringArray argv({self_path, "--child-ids"});
  CStringArray envp({});
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    ExecFromThreadArgs args = {self_path.c_str(), argv.get(), envp.get()};
    pthread_t thread;
    CHILD_CHECK(pthread_create(&thread, nullptr, ExecFromThread, &args) == 0);
    // The main thread waits here until the exec in the other thread
    // replaces the whole process.
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // The exec'ing thread becomes the thread group leader: its tid is the pid.
  EXPECT_EQ(out, "pid=" + std::to_string(pid) + " tid=" + std::to_string(pid) +
                     " ppid=" + std::to_string(getpid()) + "\n");
}

// ---------------------------------------------------------------------------
// execveat

TEST(ExecveatTest, EmptyPathExecutesDescriptor) {
  FileDescriptor fd(open(self_path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  CStringArray argv({self_path, "--child-auxv"});
  CStringArray envp({});
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    syscall(SYS_execveat, fd.get(), "", argv.get(), envp.get(), AT_EMPTY_PATH);
    ChildCheckFailed(__FILE__, __LINE__, "execveat", errno);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  close(fds[1]);
  std::string out = ReadAll(fds[0]);
  close(fds[0]);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
  // With AT_EMPTY_PATH the kernel names the program after its descriptor.
  EXPECT_THAT(out, ::testing::HasSubstr("AT_EXECFN=/dev/fd/" + std::to_string(fd.get()) + "\n"));
}

TEST(ExecveatTest, RelativeToDirectory) {
  std::string dir = self_path.substr(0, self_path.rfind('/'));
  std::string name = self_path.substr(self_path.rfind('/') + 1);
  FileDescriptor dirfd(open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dirfd.valid());
  CStringArray argv({name, "--child-exit", "31"});
  CStringArray envp({});
  pid_t pid = fork();
  if (pid == 0) {
    syscall(SYS_execveat, dirfd.get(), name.c_str(), argv.get(), envp.get(), 0);
    ChildCheckFailed(__FILE__, __LINE__, "execveat", errno);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(31));
}

TEST(ExecveatTest, FlagErrors) {
  FileDescriptor fd(open(self_path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  CStringArray argv({"x"});
  // An empty path names the descriptor only with AT_EMPTY_PATH.
  EXPECT_THAT(
      ExecInChild([&] { return syscall(SYS_execveat, fd.get(), "", argv.get(), environ, 0); }),
      SyscallFailsWithErrno(ENOENT));
  // Flags other than AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW are refused.
  EXPECT_THAT(ExecInChild([&] {
                return syscall(SYS_execveat, fd.get(), "", argv.get(), environ,
                               AT_EMPTY_PATH | AT_REMOVEDIR);
              }),
              SyscallFailsWithErrno(EINVAL));
  // AT_SYMLINK_NOFOLLOW refuses a final symbolic link.
  TempDir dir;
  std::string link = dir.Join("link");
  ASSERT_THAT(symlink(self_path.c_str(), link.c_str()), SyscallSucceeds());
  EXPECT_THAT(ExecInChild([&] {
                return syscall(SYS_execveat, AT_FDCWD, link.c_str(), argv.get(), environ,
                               AT_SYMLINK_NOFOLLOW);
              }),
              SyscallFailsWithErrno(ELOOP));
}

// ---------------------------------------------------------------------------
// vfork and exec

TEST(VforkExecTest, ChildExecsWhileParentWaits) {
  CStringArray argv({self_path, "--child-exit", "5"});
  CStringArray envp({});
  pid_t pid = vfork();
  if (pid == 0) {
    execve(self_path.c_str(), argv.get(), envp.get());
    _exit(127);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(WaitForChild(pid), ExitedWith(5));
}

// ---------------------------------------------------------------------------
// Process groups and exec

TEST(ExecSessionTest, SetpgidAfterChildExecIsEacces) {
  int release[2], exec_done[2];
  ASSERT_THAT(pipe(release), SyscallSucceeds());
  ASSERT_THAT(pipe2(exec_done, O_CLOEXEC), SyscallSucceeds());
  std::vector<std::string> args = {self_path, "--child-wait-fd", std::to_string(release[0])};
  CStringArray argv(args);
  CStringArray envp({});
  pid_t pid = fork();
  if (pid == 0) {
    close(release[1]);
    close(exec_done[0]);
    execve(self_path.c_str(), argv.get(), envp.get());
    _exit(127);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  close(release[0]);
  close(exec_done[1]);
  // The close-on-exec pipe reaches end of file once the child has exec'd.
  char c;
  ASSERT_THAT(read(exec_done[0], &c, 1), SyscallSucceedsWithValue(0));
  close(exec_done[0]);
  EXPECT_THAT(setpgid(pid, pid), SyscallFailsWithErrno(EACCES));
  close(release[1]);
  EXPECT_THAT(WaitForChild(pid), ExitedWith(0));
}

// ---------------------------------------------------------------------------
// Capabilities across execve (capabilities(7), "Transformation of capabilities during
// execve()"), for a program file without file capabilities or set-ID bits.

struct CapSets {
  uint64_t eff = 0, prm = 0, inh = 0, bnd = 0, amb = 0;
};

// Runs the --child-caps helper after `setup` (in the forked child) and parses what it printed.
CapSets ExecCaps(const std::function<void()>& setup) {
  ExecResult r = ForkExec(self_path, {self_path, "--child-caps"}, {}, setup);
  EXPECT_THAT(r.status, ExitedWith(0));
  CapSets c;
  unsigned long v[5] = {};
  EXPECT_EQ(sscanf(r.output.c_str(), "%lx %lx %lx %lx %lx", &v[0], &v[1], &v[2], &v[3], &v[4]), 5)
      << r.output;
  c.eff = v[0], c.prm = v[1], c.inh = v[2], c.bnd = v[3], c.amb = v[4];
  return c;
}

// Sets the effective, permitted and inheritable sets of the calling process (a forked child).
void SetCapsInChild(uint64_t eff, uint64_t prm, uint64_t inh) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  data[0].effective = static_cast<uint32_t>(eff), data[1].effective = static_cast<uint32_t>(eff >> 32);
  data[0].permitted = static_cast<uint32_t>(prm), data[1].permitted = static_cast<uint32_t>(prm >> 32);
  data[0].inheritable = static_cast<uint32_t>(inh), data[1].inheritable = static_cast<uint32_t>(inh >> 32);
  CHILD_CHECK_SUCCESS(syscall(SYS_capset, &header, data));
}

constexpr uint64_t Cap(int c) { return uint64_t{1} << c; }

TEST(ExecCapsTest, RootRegainsBoundingAndInheritable) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  // Permitted and effective dropped to CAP_KILL and CAP_SETPCAP, CAP_CHOWN inheritable: the
  // program run by root gets bounding | inheritable, all of it effective.
  CapSets c = ExecCaps([] { SetCapsInChild(Cap(CAP_KILL), Cap(CAP_KILL) | Cap(CAP_SETPCAP), 0); });
  EXPECT_NE(c.prm & Cap(CAP_CHOWN), 0u);
  EXPECT_EQ(c.prm, c.bnd | c.inh);
  EXPECT_EQ(c.eff, c.prm);
  EXPECT_EQ(c.amb, 0u);
}

TEST(ExecCapsTest, NoNewPrivsGainsNothing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  CapSets c = ExecCaps([] {
    SetCapsInChild(Cap(CAP_KILL), Cap(CAP_KILL) | Cap(CAP_SETPCAP), 0);
    CHILD_CHECK_SUCCESS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  });
  EXPECT_EQ(c.prm, Cap(CAP_KILL) | Cap(CAP_SETPCAP));
  EXPECT_EQ(c.eff, c.prm);
}

TEST(ExecCapsTest, OtherUserKeepsOnlyAmbient) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  CapSets c = ExecCaps([] {
    CHILD_CHECK_SUCCESS(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    CHILD_CHECK_SUCCESS(setresgid(1000, 1000, 1000));
    CHILD_CHECK_SUCCESS(setresuid(1000, 1000, 1000));
    uint64_t keep = Cap(CAP_KILL) | Cap(CAP_CHOWN);
    SetCapsInChild(keep, keep, Cap(CAP_KILL) | Cap(CAP_CHOWN));
    CHILD_CHECK_SUCCESS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
  });
  EXPECT_EQ(c.prm, Cap(CAP_KILL));
  EXPECT_EQ(c.eff, Cap(CAP_KILL));
  EXPECT_EQ(c.amb, Cap(CAP_KILL));
  EXPECT_EQ(c.inh, Cap(CAP_KILL) | Cap(CAP_CHOWN));
}

}  // namespace
}  // namespace moat::testing

int main(int argc, char** argv) {
  if (argc >= 2 && strncmp(argv[1], "--child-", 8) == 0) {
    return moat::testing::RunChildMode(argc, argv);
  }
  if (argc < 1 || argv[0][0] != '/') {
    fprintf(stderr,
            "exec_test re-executes itself through argv[0], which must be an absolute path; "
            "got \"%s\". Run it as /path/to/syscall_exec_test.\n",
            argc >= 1 ? argv[0] : "");
    return 2;
  }
  moat::testing::self_path = argv[0];
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
