#include "sentry/fsimpl/dev.h"

#include <sys/random.h>

#include <cstring>

#include "sentry/fsimpl/devpts.h"

namespace moat::fsimpl {
namespace {

using vfs::FileDescription;
using vfs::Path;
using vfs::Task;

// What the memory devices share: they have no file position (lseek always lands on 0, as
// null_lseek does), and positional I/O behaves like sequential I/O.
class MemoryDevice : public FileDescription {
 public:
  using FileDescription::FileDescription;
  Result<size_t> PRead(Task& task, std::span<uint8_t> dst, int64_t) override {
    return Read(task, dst);
  }
  Result<size_t> PWrite(Task& task, std::span<const uint8_t> src, int64_t) override {
    return Write(task, src);
  }
  Result<int64_t> Seek(int64_t, int) override { return int64_t{0}; }
};

// /dev/null: reads see end of file, writes vanish.
class NullDevice : public MemoryDevice {
 public:
  using MemoryDevice::MemoryDevice;
  Result<size_t> Read(Task&, std::span<uint8_t>) override { return size_t{0}; }
  Result<size_t> Write(Task&, std::span<const uint8_t> src) override { return src.size(); }
};

// /dev/zero: reads give zeros, writes vanish, and a mapping of it is anonymous memory.
class ZeroDevice : public MemoryDevice {
 public:
  using MemoryDevice::MemoryDevice;
  bool MapsAnonymous() const override { return true; }
  Result<size_t> Read(Task&, std::span<uint8_t> dst) override {
    std::memset(dst.data(), 0, dst.size());
    return dst.size();
  }
  Result<size_t> Write(Task&, std::span<const uint8_t> src) override { return src.size(); }
};

// /dev/full: reads give zeros, writes fail as on a full disk.
class FullDevice : public ZeroDevice {
 public:
  using ZeroDevice::ZeroDevice;
  // Unlike /dev/zero, /dev/full has no mmap (ENODEV).
  bool MapsAnonymous() const override { return false; }
  Result<size_t> Write(Task&, std::span<const uint8_t>) override { return Errno(ENOSPC); }
};

// /dev/random and /dev/urandom: the host's CSPRNG (both behave like urandom since Linux 5.6
// once the pool is initialized). Writes are accepted and, as for an unprivileged writer on
// Linux, do not credit entropy.
class RandomDevice : public MemoryDevice {
 public:
  using MemoryDevice::MemoryDevice;
  Result<size_t> Read(Task&, std::span<uint8_t> dst) override {
    size_t done = 0;
    while (done < dst.size()) {
      ssize_t n = getrandom(dst.data() + done, dst.size() - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (done) break;
        return LastErrno();
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }
  Result<size_t> Write(Task&, std::span<const uint8_t> src) override { return src.size(); }
};

template <typename T>
Result<RefPtr<FileDescription>> Make(int flags, const Path& path) {
  return RefPtr<FileDescription>(MakeRef<T>(flags, path));
}

}  // namespace

Result<RefPtr<vfs::FileDescription>> OpenDevice(uint32_t major, uint32_t minor, int flags,
                                                const vfs::Path& path) {
  if (major == 1) {
    switch (minor) {
      case 3:
        return Make<NullDevice>(flags, path);
      case 5:
        return Make<ZeroDevice>(flags, path);
      case 7:
        return Make<FullDevice>(flags, path);
      case 8:
      case 9:
        return Make<RandomDevice>(flags, path);
      default:
        break;
    }
  }
  if (major == kTtyAuxMajor || major == kPtyReplicaMajor) {
    return OpenTerminalDevice(major, minor, flags, path);
  }
  return Errno(ENXIO);
}

}  // namespace moat::fsimpl
