// HostFile: an open file of the sandbox that is a host fd the sentry was given (the stdio of
// `runsc do`, a terminal or a pipe of the caller). Reads and writes go to the host fd; a read
// that would block waits in the sentry, interruptibly, until the host notifier
// (sentry/kernel/host_notifier.h) sees the fd ready.
#ifndef MOAT_SENTRY_FSIMPL_HOST_FD_H_
#define MOAT_SENTRY_FSIMPL_HOST_FD_H_

#include "base/file_descriptor.h"
#include "sentry/kernel/waitqueue.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

class HostFile final : public vfs::FileDescription {
 public:
  // Takes ownership of `fd`. `flags` are the open flags the sandbox sees (O_RDWR...).
  static Result<RefPtr<HostFile>> New(FileDescriptor fd, int flags);
  ~HostFile() override;

  Result<size_t> Read(kernel::Task& t, std::span<uint8_t> dst) override;
  Result<size_t> Write(kernel::Task& t, std::span<const uint8_t> src) override;
  Result<size_t> PRead(kernel::Task& t, std::span<uint8_t> dst, int64_t off) override;
  Result<size_t> PWrite(kernel::Task& t, std::span<const uint8_t> src, int64_t off) override;
  Result<int64_t> Seek(int64_t offset, int whence) override;
  Result<long> Ioctl(kernel::Task& t, uint64_t cmd, UserAddr arg) override;
  Result<vfs::Stat> GetStat() override;
  Result<void> Sync() override;
  // A host pipe or socket without a reader raises SIGPIPE, as it would for a real process.
  bool SendsSigpipe() const override { return pollable_; }
  kernel::EventMask Readiness(kernel::EventMask mask) override;
  kernel::WaitQueue* Queue() override { return pollable_ ? &queue_ : nullptr; }
  // O_ASYNC for what the host would signal: a terminal, a pipe or a socket.
  bool SupportsAsync() const override { return pollable_; }
  std::optional<std::string> AnonymousName() override;

 private:
  HostFile(FileDescriptor fd, int flags, vfs::Path path, bool pollable, bool seekable);
  // Waits until the host fd has `events`, or the task is interrupted (ERESTARTSYS).
  Result<void> WaitFor(kernel::Task& t, kernel::EventMask events);

  FileDescriptor fd_;
  bool pollable_;
  bool seekable_;
  kernel::WaitQueue queue_;
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_HOST_FD_H_
