#include "base/host_proc.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace moat::hostproc {
namespace {

std::atomic<int> g_dir{-2};  // -2: not opened yet

}  // namespace

int Dir() {
  int fd = g_dir.load(std::memory_order_acquire);
  if (fd != -2) return fd;
  int opened = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int expected = -2;
  if (!g_dir.compare_exchange_strong(expected, opened, std::memory_order_acq_rel)) {
    if (opened >= 0) close(opened);  // another thread was first
    return expected;
  }
  return opened;
}

void Set(FileDescriptor dir) {
  int old = g_dir.exchange(dir.Release(), std::memory_order_acq_rel);
  if (old >= 0) close(old);
}

Result<std::string> ReadFile(std::string_view rel) {
  int dir = Dir();
  if (dir < 0) return Errno(ENOENT);
  FileDescriptor fd(openat(dir, std::string(rel).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return LastErrno();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return LastErrno();
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

uint64_t StatusKb(int pid, std::string_view field) {
  Result<std::string> status = ReadFile(std::to_string(pid) + "/status");
  if (!status.ok()) return 0;
  std::string_view text = *status;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.starts_with(field) || line.size() <= field.size() || line[field.size()] != ':') continue;
    uint64_t kb = 0;
    for (char c : line.substr(field.size() + 1)) {
      if (c >= '0' && c <= '9') kb = kb * 10 + static_cast<uint64_t>(c - '0');
      else if (kb) break;
    }
    return kb;
  }
  return 0;
}

int ConfiguredCpus() {
  static const int cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_CONF)));
  return cpus;
}

namespace {

// The number at the start of the file at `rel`, or `fallback` if it cannot be read.
uint64_t ReadNumber(std::string_view rel, uint64_t fallback) {
  Result<std::string> text = ReadFile(rel);
  if (!text.ok() || text->empty() || (*text)[0] < '0' || (*text)[0] > '9') return fallback;
  uint64_t n = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') break;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

uint32_t OverflowUid() {
  static const uint32_t id = static_cast<uint32_t>(ReadNumber("sys/kernel/overflowuid", 65534));
  return id;
}

uint32_t OverflowGid() {
  static const uint32_t id = static_cast<uint32_t>(ReadNumber("sys/kernel/overflowgid", 65534));
  return id;
}

uint64_t HostTasksMax() {
  static const uint64_t max = std::min(ReadNumber("sys/kernel/pid_max", 32768),
                                       ReadNumber("sys/kernel/threads-max", 32768));
  return max;
}

}  // namespace moat::hostproc
