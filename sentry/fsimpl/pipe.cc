#include "sentry/fsimpl/pipe.h"

#include <linux/capability.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "sentry/kernel/task.h"
#include "sentry/vfs/memory_inode.h"

namespace moat::fsimpl {

using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using kernel::kEventRdNorm;
using kernel::kEventWrNorm;

namespace {

// A task waiting on a pipe was interrupted: with nothing transferred the syscall restarts (or
// fails with EINTR without SA_RESTART), otherwise it reports what it did.
Result<size_t> Interrupted(Errno e, size_t done) {
  if (done) return done;
  if (e.value() == EINTR) return Errno(kERESTARTSYS);
  return e;
}

// The inode of an anonymous pipe (pipefs): what fstat shows, and what a reopen through
// /proc/self/fd/N opens (Linux opens the pipe as a FIFO then).
class PipeInode : public vfs::MemoryInode {
 public:
  PipeInode(RefPtr<Pipe> pipe, uint32_t uid, uint32_t gid)
      : MemoryInode(Dev(), NextIno(), S_IFIFO | S_IRUSR | S_IWUSR, uid, gid, 0, kPipePage),
        pipe_(std::move(pipe)) {}

  Result<RefPtr<vfs::FileDescription>> Open(int flags, const vfs::Path& path) override {
    return OpenFifo(pipe_, flags, path, /*is_pipe=*/true);
  }

  std::optional<std::string> AnonymousName() override {
    return absl::StrCat("pipe:[", ino(), "]");
  }

 private:
  static uint64_t NextIno() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  static uint64_t Dev() {
    static const uint64_t dev = vfs::NewAnonDev();
    return dev;
  }

  RefPtr<Pipe> pipe_;
};

}  // namespace

// ---- Pipe ----

int64_t Pipe::Capacity() {
  absl::MutexLock l(&mu_);
  return static_cast<int64_t>(slots_ * kPipePage);
}

Result<int64_t> Pipe::SetCapacity(uint64_t arg, bool privileged) {
  // pipe_set_size() / round_pipe_size().
  uint32_t size = static_cast<uint32_t>(arg);
  if (size > (1u << 31)) return Errno(EINVAL);
  uint64_t rounded = kPipePage;
  while (rounded < size) rounded <<= 1;
  const size_t slots = rounded / kPipePage;
  absl::MutexLock l(&mu_);
  if (slots > slots_ && rounded > kMaxPipeSize && !privileged) return Errno(EPERM);
  if (bufs_.size() > slots) return Errno(EBUSY);
  const bool grew = slots > slots_;
  slots_ = slots;
  if (grew) queue_.Notify(kEventOut | kEventWrNorm);
  return static_cast<int64_t>(rounded);
}

size_t Pipe::Readable() {
  absl::MutexLock l(&mu_);
  return bytes_;
}

size_t Pipe::MergeLocked(std::span<const uint8_t> src) {
  // Only the sub-page remainder of a write is merged, and only if it fits whole, so that a write
  // of at most PIPE_BUF bytes is never split between two buffers.
  const size_t chars = src.size() & (kPipePage - 1);
  if (chars == 0 || bufs_.empty()) return 0;
  Buffer& last = bufs_.back();
  if (!last.can_merge || last.off + last.len + chars > kPipePage) return 0;
  std::memcpy(last.page.get() + last.off + last.len, src.data(), chars);
  last.len += chars;
  bytes_ += chars;
  return chars;
}

size_t Pipe::PushLocked(std::span<const uint8_t> src, bool packet) {
  Buffer b;
  b.page = spare_ ? std::move(spare_) : std::make_unique<uint8_t[]>(kPipePage);
  size_t n = std::min(src.size(), kPipePage);
  std::memcpy(b.page.get(), src.data(), n);
  b.len = static_cast<uint32_t>(n);
  b.can_merge = !packet;
  bufs_.push_back(std::move(b));
  bytes_ += n;
  return n;
}

size_t Pipe::ReadLocked(std::span<uint8_t> dst, bool packet) {
  size_t done = 0;
  while (!bufs_.empty() && done < dst.size()) {
    Buffer& b = bufs_.front();
    size_t n = std::min<size_t>(b.len, dst.size() - done);
    std::memcpy(dst.data() + done, b.page.get() + b.off, n);
    b.off += n;
    b.len -= n;
    bytes_ -= n;
    done += n;
    if (packet) {
      // Packet mode reads one buffer per call; what did not fit is discarded.
      bytes_ -= b.len;
      b.len = 0;
    }
    if (b.len == 0) {
      spare_ = std::move(b.page);
      bufs_.pop_front();
    }
    if (packet) break;
  }
  return done;
}

size_t Pipe::PeekLocked(std::span<uint8_t> dst) {
  size_t done = 0;
  for (const Buffer& b : bufs_) {
    if (done == dst.size()) break;
    size_t n = std::min<size_t>(b.len, dst.size() - done);
    std::memcpy(dst.data() + done, b.page.get() + b.off, n);
    done += n;
  }
  return done;
}

size_t Pipe::WriteLocked(std::span<const uint8_t> src, bool packet) {
  size_t done = packet ? 0 : MergeLocked(src);
  while (done < src.size() && !Full()) done += PushLocked(src.subspan(done), packet);
  return done;
}

void Pipe::UnreadLocked(std::span<const uint8_t> data) {
  // Page-sized buffers in front, last chunk first, so the bytes come back in order. The ring may
  // briefly hold more than its slots; writers wait until it drains.
  size_t end = data.size();
  while (end > 0) {
    size_t n = std::min(end, kPipePage);
    Buffer b;
    b.page = std::make_unique<uint8_t[]>(kPipePage);
    std::memcpy(b.page.get(), data.data() + end - n, n);
    b.len = static_cast<uint32_t>(n);
    b.can_merge = false;
    bufs_.push_front(std::move(b));
    bytes_ += n;
    end -= n;
  }
}

void PipeEnd::Unread(std::span<const uint8_t> data) {
  if (data.empty()) return;
  absl::MutexLock l(&pipe_->mu_);
  pipe_->UnreadLocked(data);
  pipe_->queue_.Notify(kEventIn | kEventRdNorm);
}

void Pipe::ResetIfUnusedLocked() {
  if (readers_ || writers_) return;
  bufs_.clear();
  bytes_ = 0;
  slots_ = kDefaultPipeSize / kPipePage;
  spare_.reset();
}

// ---- PipeEnd ----

PipeEnd::PipeEnd(int flags, vfs::Path path, RefPtr<Pipe> pipe, uint64_t hup_version)
    : FileDescription(flags, std::move(path)),
      pipe_(std::move(pipe)),
      reader_((flags & O_ACCMODE) != O_WRONLY),
      writer_((flags & O_ACCMODE) != O_RDONLY),
      hup_version_(hup_version) {}

PipeEnd::~PipeEnd() {
  Pipe& p = *pipe_;
  absl::MutexLock l(&p.mu_);
  kernel::EventMask events = 0;
  if (reader_ && --p.readers_ == 0) events |= kEventErr | kEventOut;
  if (writer_ && --p.writers_ == 0) events |= kEventHup | kEventIn;
  p.ResetIfUnusedLocked();
  if (events) p.queue_.Notify(events);
}

Result<size_t> PipeEnd::Read(Task& task, std::span<uint8_t> dst) {
  if (dst.empty()) return size_t{0};
  Pipe& p = *pipe_;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&p.mu_);
      size_t n = p.ReadLocked(dst, flags() & O_DIRECT);
      if (n) {
        p.queue_.Notify(kEventOut | kEventWrNorm);
        return n;
      }
      if (p.writers_ == 0) return size_t{0};
    }
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    if (!reg) {
      // Register first, then look again, so that a write between the check and the sleep
      // cannot be missed.
      reg.emplace(p.queue_, &task, kEventIn | kEventHup);
      continue;
    }
    Result<void> r = task.Block();
    if (!r.ok()) return Interrupted(r.error(), 0);
  }
}

Result<size_t> PipeEnd::Write(Task& task, std::span<const uint8_t> src) {
  // A null write succeeds even without readers.
  if (src.empty()) return size_t{0};
  Pipe& p = *pipe_;
  std::optional<kernel::WaiterRegistration> reg;
  size_t done = 0;
  bool first = true;
  for (;;) {
    {
      absl::MutexLock l(&p.mu_);
      if (p.readers_ == 0) {
        // TODO(#3): Linux also raises SIGPIPE when some bytes went in before the readers left;
        // the syscall layer only sees the count then.
        if (done) return done;
        return Errno(EPIPE);
      }
      const size_t before = done;
      if (first) {
        done += p.MergeLocked(src);
        first = false;
      }
      const bool packet = flags() & O_DIRECT;
      while (done < src.size() && !p.Full()) done += p.PushLocked(src.subspan(done), packet);
      if (done != before) p.queue_.Notify(kEventIn | kEventRdNorm);
      if (done == src.size()) return done;
    }
    if (flags() & O_NONBLOCK) {
      if (done) return done;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(p.queue_, &task, kEventOut | kEventErr);
      continue;
    }
    Result<void> r = task.Block();
    if (!r.ok()) return Interrupted(r.error(), done);
  }
}

Result<long> PipeEnd::Ioctl(Task& task, uint64_t cmd, UserAddr arg) {
  if (cmd != FIONREAD) return Errno(ENOTTY);
  int n = static_cast<int>(pipe_->Readable());
  RETURN_IF_ERRNO(task.CopyOutObj(arg, n));
  return 0L;
}

EventMask PipeEnd::Readiness(EventMask mask) {
  Pipe& p = *pipe_;
  absl::MutexLock l(&p.mu_);
  EventMask ready = 0;
  if (reader_) {
    if (!p.bufs_.empty()) ready |= kEventIn | kEventRdNorm;
    if (p.writers_ == 0 && p.w_counter_ != hup_version_) ready |= kEventHup;
  }
  if (writer_) {
    // pipe_poll: writable while a slot is free, which leaves room for a PIPE_BUF write.
    if (!p.Full()) ready |= kEventOut | kEventWrNorm;
    if (p.readers_ == 0) ready |= kEventErr;
  }
  // POLLERR and POLLHUP are reported whether asked for or not.
  return ready & (mask | kEventErr | kEventHup);
}

Result<void> PipeEnd::WaitOpen(Task& task) {
  if (!wait_) return Ok();
  Pipe& p = *pipe_;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&p.mu_);
      uint64_t now = wait_for_writer_ ? p.w_counter_ : p.r_counter_;
      if (now != wait_snapshot_) {
        wait_ = false;
        return Ok();
      }
    }
    if (!reg) {
      reg.emplace(p.queue_, &task, kEventIn | kEventOut);
      continue;
    }
    Result<void> r = task.Block();
    if (!r.ok()) return r.error().value() == EINTR ? Errno(kERESTARTSYS) : r.error();
  }
}

// ---- Splicing ----

Result<bool> PipeEnd::WaitReadable(Task& task, bool nonblock) {
  Pipe& p = *pipe_;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&p.mu_);
      if (p.bytes_ > 0) return true;
      if (p.writers_ == 0) return false;
    }
    if (nonblock) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(p.queue_, &task, kEventIn | kEventHup);
      continue;
    }
    Result<void> r = task.Block();
    if (!r.ok()) return Errno(r.error().value() == EINTR ? kERESTARTSYS : r.error().value());
  }
}

Result<size_t> PipeEnd::WaitWritable(Task& task, bool nonblock) {
  Pipe& p = *pipe_;
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    {
      absl::MutexLock l(&p.mu_);
      if (p.readers_ == 0) return Errno(EPIPE);
      if (!p.Full()) return (p.slots_ - p.bufs_.size()) * kPipePage;
    }
    if (nonblock) return Errno(EAGAIN);
    if (!reg) {
      reg.emplace(p.queue_, &task, kEventOut | kEventErr);
      continue;
    }
    Result<void> r = task.Block();
    if (!r.ok()) return Errno(r.error().value() == EINTR ? kERESTARTSYS : r.error().value());
  }
}

size_t PipeEnd::ReadNow(std::span<uint8_t> dst) {
  Pipe& p = *pipe_;
  absl::MutexLock l(&p.mu_);
  size_t n = p.ReadLocked(dst, /*packet=*/false);
  if (n) p.queue_.Notify(kEventOut | kEventWrNorm);
  return n;
}

size_t PipeEnd::PeekNow(std::span<uint8_t> dst) {
  Pipe& p = *pipe_;
  absl::MutexLock l(&p.mu_);
  return p.PeekLocked(dst);
}

Result<size_t> PipeEnd::WriteNow(std::span<const uint8_t> src) {
  Pipe& p = *pipe_;
  absl::MutexLock l(&p.mu_);
  if (p.readers_ == 0) return Errno(EPIPE);
  size_t n = p.WriteLocked(src, flags() & O_DIRECT);
  if (n) p.queue_.Notify(kEventIn | kEventRdNorm);
  return n;
}

// ---- Factories ----

std::pair<RefPtr<vfs::FileDescription>, RefPtr<vfs::FileDescription>> NewPipe(int flags,
                                                                              uint32_t uid,
                                                                              uint32_t gid) {
  auto pipe = MakeRef<Pipe>();
  auto inode = MakeRef<PipeInode>(pipe, uid, gid);
  std::string name = *inode->AnonymousName();
  vfs::Path path{nullptr, MakeRef<vfs::Dentry>(nullptr, std::move(name), inode)};
  {
    absl::MutexLock l(&pipe->mu_);
    pipe->readers_ = pipe->writers_ = 1;
    pipe->r_counter_ = pipe->w_counter_ = 1;
  }
  const int status = flags & (O_NONBLOCK | O_DIRECT);
  RefPtr<vfs::FileDescription> r(new PipeEnd(O_RDONLY | status, path, pipe, 0));
  RefPtr<vfs::FileDescription> w(new PipeEnd(O_WRONLY | status, path, pipe, 0));
  return {std::move(r), std::move(w)};
}

Result<RefPtr<vfs::FileDescription>> OpenFifo(const RefPtr<Pipe>& pipe, int flags,
                                              const vfs::Path& path, bool is_pipe) {
  const bool nonblock = flags & O_NONBLOCK;
  uint64_t hup_version = 0;
  bool wait = false;
  bool wait_for_writer = false;
  uint64_t snapshot = 0;
  {
    Pipe& p = *pipe;
    absl::MutexLock l(&p.mu_);
    switch (flags & O_ACCMODE) {
      case O_RDONLY:
        ++p.r_counter_;
        ++p.readers_;
        if (p.writers_ == 0 && !is_pipe) {
          if (nonblock) {
            hup_version = p.w_counter_;
          } else {
            wait = true;
            wait_for_writer = true;
            snapshot = p.w_counter_;
          }
        }
        break;
      case O_WRONLY:
        if (nonblock && p.readers_ == 0 && !is_pipe) return Errno(ENXIO);
        ++p.w_counter_;
        ++p.writers_;
        if (p.readers_ == 0 && !is_pipe) {
          wait = true;
          snapshot = p.r_counter_;
        }
        break;
      case O_RDWR:
        // POSIX leaves this undefined; Linux opens without waiting, as both ends.
        ++p.readers_;
        ++p.writers_;
        ++p.r_counter_;
        ++p.w_counter_;
        break;
      default:
        return Errno(EINVAL);
    }
    p.queue_.Notify(kEventIn | kEventOut);
  }
  RefPtr<PipeEnd> f(new PipeEnd(flags, path, pipe, hup_version));
  f->wait_ = wait;
  f->wait_for_writer_ = wait_for_writer;
  f->wait_snapshot_ = snapshot;
  return RefPtr<vfs::FileDescription>(std::move(f));
}

Pipe* PipeOf(vfs::FileDescription& file) {
  auto* p = dynamic_cast<PipeEnd*>(&file);
  return p ? &p->pipe() : nullptr;
}

}  // namespace moat::fsimpl
