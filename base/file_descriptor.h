// FileDescriptor: the single owner of a host file descriptor. Move-only; closes on destruction.
// Pass it by value to hand ownership over.
#ifndef MOAT_BASE_FILE_DESCRIPTOR_H_
#define MOAT_BASE_FILE_DESCRIPTOR_H_

#include <unistd.h>

#include <utility>

namespace moat {

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.Release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  ~FileDescriptor() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace moat

#endif  // MOAT_BASE_FILE_DESCRIPTOR_H_
