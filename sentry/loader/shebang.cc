#include "sentry/loader/shebang.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "sentry/loader/elf.h"

namespace moat::loader {
namespace {

// The helpers work on indices into the 256-byte buffer and, like binfmt_script.c's, search the
// inclusive range [first, last]. kNone plays the role of its NULL pointer.
constexpr int kNone = -1;

bool SpaceTab(uint8_t c) { return c == ' ' || c == '\t'; }

int NextNonSpaceTab(const uint8_t* buf, int first, int last) {
  for (; first <= last; first++) {
    if (!SpaceTab(buf[first])) return first;
  }
  return kNone;
}

// A blank or a NUL ends the interpreter name.
int NextTerminator(const uint8_t* buf, int first, int last) {
  for (; first <= last; first++) {
    if (SpaceTab(buf[first]) || buf[first] == 0) return first;
  }
  return kNone;
}

// The C string starting at `from`, stopping at a NUL or at `end` (exclusive): what
// copy_string_kernel() copies after load_script() wrote its NUL terminators.
std::string CString(const uint8_t* buf, int from, int end) {
  int stop = from;
  while (stop < end && buf[stop] != 0) stop++;
  return std::string(reinterpret_cast<const char*>(buf + from), stop - from);
}

}  // namespace

Result<std::optional<Shebang>> ParseShebang(std::span<const uint8_t> first_bytes) {
  // bprm->buf: the file's first bytes, NUL-padded when the file is shorter.
  std::array<uint8_t, kBinprmBufSize> buf{};
  std::copy_n(first_bytes.begin(), std::min(first_bytes.size(), buf.size()), buf.begin());
  const uint8_t* b = buf.data();
  if (b[0] != '#' || b[1] != '!') return std::optional<Shebang>();

  const int buf_end = static_cast<int>(buf.size()) - 1;
  // strnchr() stops at the first NUL, so a newline after a NUL byte does not end the line.
  int i_end = kNone;
  for (int i = 0; i <= buf_end && b[i] != 0; i++) {
    if (b[i] == '\n') {
      i_end = i;
      break;
    }
  }
  if (i_end == kNone) {
    // No newline: accept only if the interpreter name visibly ends inside the buffer, so a
    // truncated path is never executed. The line then ends at the buffer's last byte, which
    // load_script() overwrites with its terminating NUL (so byte 255 is never part of a string).
    i_end = NextNonSpaceTab(b, 2, buf_end);
    if (i_end == kNone) return Errno(ENOEXEC);  // only blanks after "#!"
    if (NextTerminator(b, i_end, buf_end) == kNone) return Errno(ENOEXEC);
    i_end = buf_end;
  }
  // Trailing blanks are not part of the line; "#!" stops the scan since '!' is not a blank.
  while (SpaceTab(b[i_end - 1])) i_end--;

  int i_name = NextNonSpaceTab(b, 2, i_end);
  if (i_name == kNone || i_name == i_end) return Errno(ENOEXEC);  // no interpreter name

  int i_arg = kNone;
  int i_sep = NextTerminator(b, i_name, i_end);
  if (i_sep != kNone && b[i_sep] != 0) i_arg = NextNonSpaceTab(b, i_sep, i_end);

  // load_script() writes a NUL at i_end, and at i_sep when there is an argument; the strings are
  // then whatever C strings start at i_name and i_arg.
  Shebang result;
  result.interpreter = CString(b, i_name, i_arg != kNone ? i_sep : i_end);
  if (i_arg != kNone) result.argument = CString(b, i_arg, i_end);
  return std::optional<Shebang>(std::move(result));
}

std::vector<std::string> ScriptArgv(const Shebang& shebang, std::string_view script_path,
                                    const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  out.reserve(argv.size() + 2);
  out.push_back(shebang.interpreter);
  if (shebang.argument) out.push_back(*shebang.argument);
  out.emplace_back(script_path);
  for (size_t i = 1; i < argv.size(); i++) out.push_back(argv[i]);
  return out;
}

}  // namespace moat::loader
