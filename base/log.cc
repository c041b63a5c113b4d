#include "base/log.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

namespace moat {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::atomic<int> g_fd{2};
std::atomic<bool> g_strace{false};
std::atomic<bool> g_json{false};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

// `text` as the inside of a JSON string.
std::string JsonEscape(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

const char* LevelTag(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "D";
    case LogLevel::kInfo: return "I";
    case LogLevel::kWarning: return "W";
    case LogLevel::kError: return "E";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }
void SetLogFd(int fd) { g_fd = fd; }
int LogFd() { return g_fd.load(); }
bool LogIsStderr() { return g_fd.load() == 2; }
void SetStrace(bool on) { g_strace = on; }
void SetLogJson(bool on) { g_json = on; }
bool StraceEnabled() { return g_strace.load(std::memory_order_relaxed); }

void LogMessage(LogLevel level, const char* file, int line, std::string_view text) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  std::string out;
  if (g_json.load(std::memory_order_relaxed)) {
    out = fmt::format("{{\"level\":\"{}\",\"msg\":\"{}\",\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z\"}}\n",
                      LevelName(level), JsonEscape(text), tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  } else {
    out = fmt::format("{}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>7} {}:{}] {}\n",
                                LevelTag(level), tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, ts.tv_nsec / 1000, ::syscall(SYS_gettid), base, line, text);
  }
  // One write per message so lines from different threads do not interleave.
  ssize_t r = ::write(g_fd.load(), out.data(), out.size());
  (void)r;
}

}  // namespace moat
