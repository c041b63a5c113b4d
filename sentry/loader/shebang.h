// "#!" scripts: Linux's fs/binfmt_script.c, as a pure function of the file's first bytes.
//
// execve of a script becomes an execve of its interpreter with a rewritten argv (ScriptArgv). The
// interpreter may itself be a script: Linux allows at most 5 "#!" rewrites in one execve and fails
// the 6th with ELOOP (exec_binprm's depth limit; checked natively on 6.x). The caller also owns the
// other binfmt_script failure: if the script was named as /dev/fd/N/... through an O_CLOEXEC fd
// (BINPRM_FLAGS_PATH_INACCESSIBLE), execve fails with ENOENT before the interpreter is opened.
#ifndef MOAT_SENTRY_LOADER_SHEBANG_H_
#define MOAT_SENTRY_LOADER_SHEBANG_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/errno.h"

namespace moat::loader {

struct Shebang {
  // The interpreter path, passed to open_exec() as is. It can be empty ("#!" followed by NUL bytes):
  // Linux's kernel-internal lookup of "" resolves to the current directory, so execve then fails
  // with EACCES (a directory is not a regular file), which the caller's lookup must mirror.
  std::string interpreter;
  // The single optional argument: everything after the interpreter name and its following blanks,
  // up to the end of the line or the first NUL, with trailing blanks removed. Inner blanks are kept.
  // It may be present and empty (a line ending in "name " with no newline in a short file): Linux
  // passes the empty string, and so do we.
  std::optional<std::string> argument;

  friend bool operator==(const Shebang&, const Shebang&) = default;
};

// Parses the first bytes of a file (at most kBinprmBufSize of them are looked at; fewer mean the
// file is that short, and the rest reads as NUL bytes as in bprm->buf).
//   - std::nullopt: the file does not start with "#!" (not a script; try ELF).
//   - ENOEXEC: no interpreter name, or no newline in the buffer and the interpreter name may be
//     truncated (no blank or NUL after it). A truncated argument is fine: Linux passes the part
//     that fits (up to byte 254) and lets the interpreter re-read the file.
Result<std::optional<Shebang>> ParseShebang(std::span<const uint8_t> first_bytes);

// The argv Linux builds for the interpreter: {interpreter, argument (if any), script_path,
// argv[1:]...}. argv[0] is dropped (remove_arg_zero); an empty argv counts as {""}, the argv[0]
// execve inserts since 5.18. script_path is bprm->filename: the path given to execve, or
// "/dev/fd/N" / "/dev/fd/N/path" for execveat with a directory fd or AT_EMPTY_PATH.
std::vector<std::string> ScriptArgv(const Shebang& shebang, std::string_view script_path,
                                    const std::vector<std::string>& argv);

}  // namespace moat::loader

#endif  // MOAT_SENTRY_LOADER_SHEBANG_H_
