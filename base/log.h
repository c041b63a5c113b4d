// Logging on fmt. Messages go to stderr (or the --log file) with a level and the thread id.
// Name the failing call and its subject: "openat(rootfs/etc/passwd): ENOENT", never "failed".
#ifndef MOAT_BASE_LOG_H_
#define MOAT_BASE_LOG_H_

#include <string_view>

#include <fmt/format.h>

namespace moat {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default: kWarning.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Sends log output to `fd` (the caller keeps it open). Default: 2.
void SetLogFd(int fd);
// The fd log output goes to.
int LogFd();
// Whether log output goes to stderr (no --log file).
bool LogIsStderr();
// Whether each application syscall is logged (runsc --strace).
void SetStrace(bool on);
// Writes each message as one JSON object per line ({"level", "msg", "time"}), as runc does with
// --log-format json: container engines read runtime errors from such a log.
void SetLogJson(bool on);
bool StraceEnabled();

void LogMessage(LogLevel level, const char* file, int line, std::string_view text);

inline bool LogEnabled(LogLevel level) { return level >= GetLogLevel(); }

}  // namespace moat

#define MOAT_LOG(level, ...)                                                          \
  do {                                                                                \
    if (::moat::LogEnabled(level))                                                    \
      ::moat::LogMessage(level, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__));      \
  } while (0)
#define LOG_DEBUG(...) MOAT_LOG(::moat::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) MOAT_LOG(::moat::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARNING(...) MOAT_LOG(::moat::LogLevel::kWarning, __VA_ARGS__)
#define LOG_ERROR(...) MOAT_LOG(::moat::LogLevel::kError, __VA_ARGS__)

#endif  // MOAT_BASE_LOG_H_
