#include "runsc/container.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "fmt/format.h"

namespace moat::runsc {

absl::Status ValidateId(const std::string& id) {
  bool ok = !id.empty() && id != "." && id != ".." && id.size() <= 1024;
  for (char c : id) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.'))
      ok = false;
  }
  if (!ok) return absl::InvalidArgumentError(fmt::format("invalid container id \"{}\"", id));
  return absl::OkStatus();
}

ContainerDir::ContainerDir(std::string root, std::string id)
    : root_(std::move(root)), id_(std::move(id)), path_(root_ + "/" + id_) {}

absl::Status ContainerDir::Create() {
  std::error_code ec;
  std::filesystem::create_directories(root_, ec);
  if (ec) return absl::InternalError(fmt::format("mkdir {}: {}", root_, std::string(ec.message())));
  chmod(root_.c_str(), 0711);
  if (mkdir(path_.c_str(), 0711) < 0) {
    if (errno == EEXIST)
      return absl::AlreadyExistsError(fmt::format("container with id \"{}\" already exists", id_));
    return ErrnoStatus(fmt::format("mkdir {}", path_));
  }
  return Lock();
}

absl::Status ContainerDir::Lock() {
  int fd = open((path_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == ENOENT)
      return absl::NotFoundError(fmt::format("container \"{}\" does not exist", id_));
    return ErrnoStatus(fmt::format("open {}/lock", path_));
  }
  lock_.Reset(fd);
  while (flock(fd, LOCK_EX) < 0) {
    if (errno != EINTR) return ErrnoStatus(fmt::format("flock {}/lock", path_));
  }
  // The directory may have been removed while we waited (a concurrent delete).
  struct stat st;
  if (stat(path_.c_str(), &st) < 0) {
    lock_.Reset();
    return absl::NotFoundError(fmt::format("container \"{}\" does not exist", id_));
  }
  return absl::OkStatus();
}

absl::StatusOr<spec::Record> ContainerDir::Load() const {
  std::ifstream in(state_path());
  if (!in) {
    struct stat st;
    if (stat(path_.c_str(), &st) < 0)
      return absl::NotFoundError(fmt::format("container \"{}\" does not exist", id_));
    return absl::NotFoundError(
        fmt::format("container \"{}\" has no state (its creation did not finish)", id_));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<spec::Record> r = spec::ParseRecord(ss.str());
  if (!r.ok()) return absl::InternalError(fmt::format("{}: {}", state_path(), std::string(r.status().message())));
  return r;
}

absl::Status ContainerDir::Save(const spec::Record& r) const {
  return WriteFileAtomic(state_path(), spec::RecordJson(r), 0600);
}

absl::Status ContainerDir::Remove() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) return absl::InternalError(fmt::format("removing {}: {}", path_, std::string(ec.message())));
  return absl::OkStatus();
}

std::optional<int> ContainerDir::ExitStatus() const {
  std::ifstream in(exit_path());
  int status;
  if (in >> status) return status;
  return std::nullopt;
}

int64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return 0;
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  // fields[0] is field 3 (state); the start time is field 22.
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return 0;
  int64_t start = 0;
  if (!absl::SimpleAtoi(fields[19], &start)) return 0;
  return start;
}

std::string CurrentStatus(const ContainerDir& dir, const spec::Record& r) {
  if (r.state.status == "stopped") return "stopped";
  if (r.state.pid <= 0 || ProcessStartTime(r.state.pid) != r.boot_start_time) return "stopped";
  if (dir.ExitStatus().has_value()) return "stopped";
  return r.state.status;
}

std::vector<std::string> ListContainers(const std::string& root) {
  std::vector<std::string> ids;
  DIR* d = opendir(root.c_str());
  if (!d) return ids;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || !ValidateId(name).ok()) continue;
    struct stat st;
    if (stat((root + "/" + name + "/state.json").c_str(), &st) == 0) ids.push_back(name);
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(fmt::format("open {}", tmp));
  FileDescriptor f(fd);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoStatus(fmt::format("write {}", tmp));
      unlink(tmp.c_str());
      return s;
    }
    done += n;
  }
  f.Reset();
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    absl::Status s = ErrnoStatus(fmt::format("rename {} to {}", tmp, path));
    unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

absl::Status WritePidFile(const std::string& path, pid_t pid) {
  return WriteFileAtomic(path, fmt::format("{}", pid), 0644);
}

std::string NowRfc3339() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

}  // namespace moat::runsc
