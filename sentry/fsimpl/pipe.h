// Pipes and FIFOs (pipe(7), fifo(7)).
//
// A Pipe is the buffer both ends share: a ring of page-sized buffers like Linux's
// pipe_inode_info (16 pages by default, F_SETPIPE_SZ changes the count), the number of open
// readers and writers, and a WaitQueue notified on every change. A PipeEnd is one open end; a
// FIFO opened O_RDWR is both ends at once. pipe(2) makes a Pipe with an anonymous inode
// ("pipe:[N]"); a FIFO inode in a filesystem owns a Pipe and opens it with OpenFifo. The fcntl
// layer reaches the Pipe of a PipeEnd for F_GETPIPE_SZ / F_SETPIPE_SZ.
//
// Ownership: each PipeEnd holds a reference to its Pipe and counts itself as a reader and/or a
// writer from creation to destruction. Lock order: Pipe::mu_ > WaitQueue::mu_ (waitqueue.h).
// Blocking (Task::Block) happens with no lock held.
#ifndef MOAT_SENTRY_FSIMPL_PIPE_H_
#define MOAT_SENTRY_FSIMPL_PIPE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "sentry/kernel/waitqueue.h"
#include "sentry/vfs/splice.h"
#include "sentry/vfs/vfs.h"

namespace moat::fsimpl {

using kernel::EventMask;
using kernel::Task;

inline constexpr size_t kPipeBuf = 4096;           // PIPE_BUF: writes this small are atomic
inline constexpr size_t kPipePage = 4096;          // one ring slot
inline constexpr size_t kDefaultPipeSize = 65536;  // 16 slots
inline constexpr size_t kMaxPipeSize = 1048576;    // /proc/sys/fs/pipe-max-size

class Pipe : public RefCounted<Pipe> {
 public:
  Pipe() = default;

  kernel::WaitQueue& queue() { return queue_; }
  // F_GETPIPE_SZ: the capacity in bytes.
  int64_t Capacity();
  // F_SETPIPE_SZ with fcntl's argument (taken as an unsigned int, as Linux does): rounds up to a
  // power-of-two number of pages; EINVAL past 2 GiB, EPERM above pipe-max-size without
  // CAP_SYS_RESOURCE (`privileged`), EBUSY if the data does not fit. Returns the new capacity.
  Result<int64_t> SetCapacity(uint64_t arg, bool privileged);
  // FIONREAD: bytes waiting to be read.
  size_t Readable();

 private:
  friend class PipeEnd;
  friend std::pair<RefPtr<vfs::FileDescription>, RefPtr<vfs::FileDescription>> NewPipe(
      int, uint32_t, uint32_t);
  friend Result<RefPtr<vfs::FileDescription>> OpenFifo(const RefPtr<Pipe>&, int,
                                                       const vfs::Path&, bool);

  // One ring slot: a page holding [off, off + len).
  struct Buffer {
    std::unique_ptr<uint8_t[]> page;
    uint32_t off = 0;
    uint32_t len = 0;
    bool can_merge = true;  // false for packet-mode (O_DIRECT) writes
  };

  bool Full() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return bufs_.size() >= slots_; }
  // pipe_write's first step: the tail of a write smaller than a page may join the last buffer.
  size_t MergeLocked(std::span<const uint8_t> src) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills one new slot from `src`; the caller checked that one is free.
  size_t PushLocked(std::span<const uint8_t> src, bool packet) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies out what is there (one buffer at most in packet mode).
  size_t ReadLocked(std::span<uint8_t> dst, bool packet) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies out what is there without consuming it (tee).
  size_t PeekLocked(std::span<uint8_t> dst) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds what fits of `src` without waiting, merging into the last buffer first like a write.
  size_t WriteLocked(std::span<const uint8_t> src, bool packet) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts `data` back in front of the pipe, as if it had not been read.
  void UnreadLocked(std::span<const uint8_t> data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both ends closed: a FIFO's data and size do not outlive its last opener.
  void ResetIfUnusedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<Buffer> bufs_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t slots_ ABSL_GUARDED_BY(mu_) = kDefaultPipeSize / kPipePage;
  std::unique_ptr<uint8_t[]> spare_ ABSL_GUARDED_BY(mu_);  // one recycled page
  int readers_ ABSL_GUARDED_BY(mu_) = 0;
  int writers_ ABSL_GUARDED_BY(mu_) = 0;
  // How many times each end was ever opened: a FIFO open waits for the other one to change.
  uint64_t r_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t w_counter_ ABSL_GUARDED_BY(mu_) = 0;
  kernel::WaitQueue queue_;
};

// An open end of a pipe or FIFO. The splice family reaches the buffer through vfs::SplicePipe.
class PipeEnd : public vfs::FileDescription, public vfs::SplicePipe {
 public:
  ~PipeEnd() override;

  Result<size_t> Read(Task& task, std::span<uint8_t> dst) override;
  Result<size_t> Write(Task& task, std::span<const uint8_t> src) override;
  Result<long> Ioctl(Task& task, uint64_t cmd, UserAddr arg) override;
  EventMask Readiness(EventMask mask) override;
  kernel::WaitQueue* Queue() override { return &pipe_->queue(); }
  bool SendsSigpipe() const override { return true; }
  // O_ASYNC: readers hear writes and the last writer's close, writers hear room made.
  bool SupportsAsync() const override { return true; }
  void Unread(std::span<const uint8_t> data) override;
  // A FIFO opened without O_NONBLOCK waits here for its other end (fifo_open's
  // wait_for_partner).
  Result<void> WaitOpen(Task& task) override;

  // Implements vfs::SplicePipe.
  const void* PipeId() const override { return pipe_.get(); }
  Result<bool> WaitReadable(Task& task, bool nonblock) override;
  Result<size_t> WaitWritable(Task& task, bool nonblock) override;
  size_t ReadNow(std::span<uint8_t> dst) override;
  size_t PeekNow(std::span<uint8_t> dst) override;
  Result<size_t> WriteNow(std::span<const uint8_t> src) override;

  Pipe& pipe() const { return *pipe_; }

 private:
  friend std::pair<RefPtr<vfs::FileDescription>, RefPtr<vfs::FileDescription>> NewPipe(
      int, uint32_t, uint32_t);
  friend Result<RefPtr<vfs::FileDescription>> OpenFifo(const RefPtr<Pipe>&, int,
                                                       const vfs::Path&, bool);
  // The caller has already counted this end in the pipe's readers/writers.
  PipeEnd(int flags, vfs::Path path, RefPtr<Pipe> pipe, uint64_t hup_version);

  RefPtr<Pipe> pipe_;
  const bool reader_;
  const bool writer_;
  // POLLHUP is reported only once w_counter differs from this: a FIFO reader opened with
  // O_NONBLOCK before any writer does not see a hang-up that never happened.
  const uint64_t hup_version_;
  // For WaitOpen: which counter to watch and its value at open; `wait_` says whether to.
  bool wait_ = false;
  bool wait_for_writer_ = false;
  uint64_t wait_snapshot_ = 0;
};

// pipe2(2): the read end and the write end. `flags` may hold O_NONBLOCK and O_DIRECT (packet
// mode); O_CLOEXEC is the fd table's. The pipe's inode is owned by `uid`/`gid` (the caller's
// fsuid/fsgid), mode 0600.
std::pair<RefPtr<vfs::FileDescription>, RefPtr<vfs::FileDescription>> NewPipe(int flags,
                                                                              uint32_t uid = 0,
                                                                              uint32_t gid = 0);

// Opens a FIFO whose buffer is `pipe` (fifo_open): ENXIO for O_WRONLY|O_NONBLOCK with no reader,
// EINVAL for access mode 3. A blocking open finishes in PipeEnd::WaitOpen. `is_pipe`: the open
// of an anonymous pipe through /proc/<pid>/fd/N, which never waits for the other end and never
// fails with ENXIO (fifo_open's is_pipe).
Result<RefPtr<vfs::FileDescription>> OpenFifo(const RefPtr<Pipe>& pipe, int flags,
                                              const vfs::Path& path, bool is_pipe = false);

// The pipe behind `file`, or null if it is not a pipe or FIFO (fcntl F_GETPIPE_SZ /
// F_SETPIPE_SZ give EBADF then).
Pipe* PipeOf(vfs::FileDescription& file);

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_PIPE_H_
