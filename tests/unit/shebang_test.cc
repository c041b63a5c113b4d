// Tests of sentry/loader/shebang.h: binfmt_script's rules case by case, and a differential check
// that executes the same files with the host kernel.
#include "sentry/loader/shebang.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace moat::loader {
namespace {

std::vector<uint8_t> B(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

Result<std::optional<Shebang>> P(std::string_view s) {
  std::vector<uint8_t> b = B(s);
  return ParseShebang(b);
}

void ExpectScript(std::string_view bytes, const std::string& interp, std::optional<std::string> arg) {
  Result<std::optional<Shebang>> r = P(bytes);
  ASSERT_TRUE(r.ok()) << r.error().Name();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->interpreter, interp);
  EXPECT_EQ((*r)->argument, arg);
}

void ExpectNoExec(std::string_view bytes) {
  Result<std::optional<Shebang>> r = P(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Errno(ENOEXEC));
}

void ExpectNotScript(std::string_view bytes) {
  Result<std::optional<Shebang>> r = P(bytes);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST(ShebangTest, NotAScript) {
  ExpectNotScript("");
  ExpectNotScript("#");
  ExpectNotScript("!#/bin/sh\n");
  ExpectNotScript(
      "\x7f"
      "ELF");
  ExpectNotScript(" #!/bin/sh\n");
}

TEST(ShebangTest, Basic) {
  ExpectScript("#!/bin/sh\necho hi\n", "/bin/sh", std::nullopt);
  ExpectScript("#!/bin/sh -x\n", "/bin/sh", "-x");
  ExpectScript("#! /bin/sh\n", "/bin/sh", std::nullopt);
  ExpectScript("#!\t /usr/bin/env python3\n", "/usr/bin/env", "python3");
}

TEST(ShebangTest, ArgumentIsOneTrimmedString) {
  ExpectScript("#!/bin/sh \t a  b \t\n", "/bin/sh", "a  b");
  ExpectScript("#!/bin/sh   \n", "/bin/sh", std::nullopt);
  ExpectScript("#!/bin/sh\t\t\n", "/bin/sh", std::nullopt);
  ExpectScript("#!/usr/bin/env -S a b c\n", "/usr/bin/env", "-S a b c");
}

TEST(ShebangTest, CarriageReturnIsPartOfTheName) { ExpectScript("#!/bin/sh\r\n", "/bin/sh\r", std::nullopt); }

TEST(ShebangTest, NoInterpreterName) {
  ExpectNoExec("#!\n");
  ExpectNoExec("#!   \n");
  ExpectNoExec("#! \t \t\nfoo");
  ExpectNoExec("#!" + std::string(254, ' '));  // the whole buffer is blanks
  ExpectNoExec("#!" + std::string(300, '\t'));
}

TEST(ShebangTest, NulBytes) {
  // A short file is NUL-padded: the name ends at the padding.
  ExpectScript("#!/bin/sh", "/bin/sh", std::nullopt);
  // The newline search stops at a NUL, so the line ends at the buffer's end and strings at NULs.
  ExpectScript(std::string("#!/bin/sh\0junk\n", 15), "/bin/sh", std::nullopt);
  ExpectScript(std::string("#!/bin/sh a\0b\n", 14), "/bin/sh", "a");
  // Nothing but NULs after "#!": an empty interpreter name (execve then fails in the lookup).
  ExpectScript("#!", "", std::nullopt);
  ExpectScript(std::string("#! \0/bin/sh\n", 12), "", std::nullopt);
  // A blank after the name with no newline in a short file gives an empty argument, as on Linux.
  ExpectScript("#!/bin/sh ", "/bin/sh", "");
}

TEST(ShebangTest, Truncation) {
  // A name that runs to the end of the buffer may be truncated: refused.
  ExpectNoExec("#!/" + std::string(300, 'a'));
  ExpectNoExec("#!   /" + std::string(300, 'a') + "\n");
  // A name that ends inside the buffer with a truncated argument is fine; byte 255 is dropped.
  ExpectScript("#!/bin/sh " + std::string(300, 'a'), "/bin/sh", std::string(245, 'a'));
  ExpectScript("#!/bin/sh " + std::string(300, 'a') + "\n", "/bin/sh", std::string(245, 'a'));
  // A newline at the buffer's last byte still counts.
  ExpectScript("#!/bin/sh " + std::string(244, 'a') + "\n", "/bin/sh", std::string(244, 'a'));
  // A name ending in a blank at byte 255.
  std::string name = "/" + std::string(252, 'n');
  ExpectScript("#!" + name + " ", name, std::nullopt);
  ExpectNoExec("#!" + name + "n");
  // Only the first 256 bytes count, however long the input.
  std::vector<uint8_t> big = B("#!/bin/sh x");
  big.resize(4096, 'y');
  Result<std::optional<Shebang>> r = ParseShebang(big);
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->argument->size(), 254u - 10u + 1u);
}

TEST(ShebangTest, ScriptArgv) {
  Shebang s{"/bin/sh", "-e"};
  EXPECT_EQ(ScriptArgv(s, "./x.sh", {"x.sh", "a", "b"}),
            (std::vector<std::string>{"/bin/sh", "-e", "./x.sh", "a", "b"}));
  Shebang n{"/bin/sh", std::nullopt};
  EXPECT_EQ(ScriptArgv(n, "/x", {}), (std::vector<std::string>{"/bin/sh", "/x"}));
}

// --- Differential: the host kernel's execve on the same bytes --------------------------------------

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/moat_sb_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~ScratchDir() {
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string p = path_ + "/" + name;
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
    files_.push_back(p);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// Runs `path` with the host kernel: the errno of a failed execve, or what the program printed.
struct Native {
  int err = 0;
  std::string out;
};

Native RunNative(const std::string& path) {
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    char* argv[] = {const_cast<char*>("argv0"), const_cast<char*>("extra"), nullptr};
    char* envp[] = {const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    execve(path.c_str(), argv, envp);
    _exit(100 + errno);
  }
  close(fds[1]);
  Native n;
  char buf[4096];
  ssize_t k;
  while ((k = read(fds[0], buf, sizeof(buf))) > 0) n.out.append(buf, k);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) >= 100) n.err = WEXITSTATUS(status) - 100;
  return n;
}

TEST(ShebangTest, MatchesHostExecve) {
  ScratchDir dir;
  // The interpreter prints its $0 and arguments as <..>; it is itself a script, as allowed.
  const std::string dump =
      dir.Write("dump", "#!/bin/sh\nfor a in \"$0\" \"$@\"; do printf '<%s>' \"$a\"; done\n");
  // "$I" stands for the interpreter's path.
  const std::vector<std::string> cases = {
      "#!$I\n",
      "#!$I -x\n",
      "#! \t$I\t a  b \t\n",
      "#!$I   \n",
      "#!$I",
      "#!$I ",
      "#!$I \t",
      std::string("#!$I\0junk\n", 9),
      std::string("#!$I a\0b\n", 9),
      "#!$I " + std::string(300, 'a'),
      "#!$I " + std::string(300, 'a') + "\n",
      "#!$I" + std::string(300, ' ') + "z\n",
      "#!" + std::string(200, ' ') + "$I\n",  // the name starts near the end and is truncated
      "#!\n",
      "#!   \n",
      "#!" + std::string(300, ' '),
      "#!",
      std::string("#! \0$I\n", 7),
      "#!$I\r\n",
      "#!/nonexistent/interp\n",
      "no shebang\n",
  };
  int i = 0;
  for (std::string c : cases) {
    size_t pos = c.find("$I");
    if (pos != std::string::npos) c.replace(pos, 2, dump);
    std::string script = dir.Write("s" + std::to_string(i++), c);
    Native native = RunNative(script);
    std::vector<uint8_t> bytes = B(c);
    Result<std::optional<Shebang>> r = ParseShebang(bytes);
    SCOPED_TRACE(testing::Message() << "case " << i - 1 << ": " << c.substr(0, 40));
    if (!r.ok()) {
      EXPECT_EQ(native.err, r.error().value());
    } else if (!r->has_value()) {
      EXPECT_EQ(native.err, ENOEXEC);  // neither a script nor an ELF file
    } else if ((*r)->interpreter.empty()) {
      EXPECT_EQ(native.err, EACCES);  // "" resolves to the current directory
    } else if ((*r)->interpreter != dump) {
      EXPECT_EQ(native.err, ENOENT);
    } else {
      ASSERT_EQ(native.err, 0);
      std::string expected;
      for (const std::string& a : ScriptArgv(**r, script, {"argv0", "extra"})) expected += "<" + a + ">";
      EXPECT_EQ(native.out, expected);
    }
  }
}

}  // namespace
}  // namespace moat::loader
