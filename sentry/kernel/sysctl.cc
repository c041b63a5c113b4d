#include "sentry/kernel/sysctl.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace moat::kernel {

const std::vector<Sysctls::Param>& Sysctls::Params() {
  // Linux 6.1's defaults on x86-64.
  static const std::vector<Param> params = {
      {"kernel/msgmax", "8192", 1, false},
      {"kernel/msgmnb", "16384", 1, false},
      {"kernel/msgmni", "32000", 1, false},
      {"kernel/sem", "32000\t1024000000\t500\t32000", 4, false},
      {"kernel/shm_rmid_forced", "0", 1, false},
      {"kernel/shmall", "18446744073692774399", 1, true},
      {"kernel/shmmax", "18446744073692774399", 1, true},
      {"kernel/shmmni", "4096", 1, false},
      {"fs/mqueue/msg_default", "10", 1, false},
      {"fs/mqueue/msg_max", "10", 1, false},
      {"fs/mqueue/msgsize_default", "8192", 1, false},
      {"fs/mqueue/msgsize_max", "8192", 1, false},
      {"fs/mqueue/queues_max", "256", 1, false},
      {"net/core/somaxconn", "4096", 1, false},
      {"net/ipv4/ip_forward", "0", 1, false},
      {"net/ipv4/ip_local_port_range", "32768\t60999", 2, false},
      {"net/ipv4/ip_unprivileged_port_start", "1024", 1, false},
      // No group may open ICMP echo sockets: the first group above the last.
      {"net/ipv4/ping_group_range", "1\t0", 2, false},
      {"net/ipv4/tcp_keepalive_intvl", "75", 1, false},
      {"net/ipv4/tcp_keepalive_probes", "9", 1, false},
      {"net/ipv4/tcp_keepalive_time", "7200", 1, false},
      {"net/ipv4/tcp_syncookies", "1", 1, false},
  };
  return params;
}

const Sysctls::Param* Sysctls::Find(std::string_view path) {
  for (const Param& p : Params()) {
    if (path == p.path) return &p;
  }
  return nullptr;
}

std::string Sysctls::PathOf(std::string_view name) {
  std::string path(name);
  if (path.find('/') == std::string::npos) std::replace(path.begin(), path.end(), '.', '/');
  return path;
}

Sysctls::Sysctls() {
  absl::MutexLock l(&mu_);
  for (const Param& p : Params()) values_[p.path] = absl::StrSplit(p.initial, '\t');
}

std::string Sysctls::Get(std::string_view path) const {
  absl::MutexLock l(&mu_);
  auto it = values_.find(path);
  return it == values_.end() ? std::string() : absl::StrJoin(it->second, "\t");
}

Result<void> Sysctls::Set(std::string_view path, std::string_view text) {
  const Param* p = Find(path);
  if (!p) return Errno(ENOENT);
  std::vector<std::string> words =
      absl::StrSplit(std::string(text), absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
  if (words.empty() || words.size() > static_cast<size_t>(p->count)) return Errno(EINVAL);
  std::vector<std::string> parsed;
  for (const std::string& s : words) {
    char* end = nullptr;
    errno = 0;
    if (p->unsigned_long) {
      if (s[0] == '-') return Errno(EINVAL);
      unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (errno || *end || end == s.c_str()) return Errno(EINVAL);
      parsed.push_back(std::to_string(v));
    } else {
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (errno || *end || end == s.c_str() || v < INT_MIN || v > INT_MAX) return Errno(EINVAL);
      parsed.push_back(std::to_string(v));
    }
  }
  absl::MutexLock l(&mu_);
  std::vector<std::string>& value = values_[p->path];
  std::copy(parsed.begin(), parsed.end(), value.begin());
  return Ok();
}

}  // namespace moat::kernel
