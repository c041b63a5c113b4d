// The in-kernel copy family: sendfile(2), splice(2), tee(2), vmsplice(2) and
// copy_file_range(2).
//
// Data moves through a bounded bounce buffer in the sentry: every file's data is already in
// sentry memory (tmpfs, pipes) or behind a host fd the sentry reads and writes, so there is
// nothing to gain from page-stealing yet. The functions here decide Linux's semantics (which
// side may carry an offset, when to wait, how much one call moves); the data goes through
// FileDescription::Read/Write/PRead/PWrite for files and the SplicePipe operations for pipes.
//
// Offsets: a caller's offset pointer is read and written by the syscall handler; here it is an
// `int64_t*` (null: use and advance the file offset, as Linux does through f_pos, without the
// offset lock). A file without a file offset (a tty, a socket) is read and written as a stream.
//
// Locking: no lock is held across a transfer; pipes lock themselves per operation, and waiting
// happens in SplicePipe with no lock held.
#ifndef MOAT_SENTRY_VFS_SPLICE_H_
#define MOAT_SENTRY_VFS_SPLICE_H_

#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "base/errno.h"
#include "sentry/vfs/vfs.h"

namespace moat::vfs {

// What the splice family needs from a pipe end; fsimpl's PipeEnd implements it. The waits
// return ERESTARTSYS when a signal interrupts them.
class SplicePipe {
 public:
  // The pipe's identity, shared by both ends (splicing a pipe into itself is EINVAL).
  virtual const void* PipeId() const = 0;
  // ipipe_prep(): waits until the pipe holds data (true) or has no writers left (false).
  // EAGAIN instead of waiting with `nonblock`.
  virtual Result<bool> WaitReadable(Task& task, bool nonblock) = 0;
  // wait_for_space(): waits until the pipe has a free slot; returns the room in bytes. EPIPE
  // without readers (the caller raises SIGPIPE), EAGAIN instead of waiting with `nonblock`.
  virtual Result<size_t> WaitWritable(Task& task, bool nonblock) = 0;
  // Takes up to dst.size() bytes without waiting.
  virtual size_t ReadNow(std::span<uint8_t> dst) = 0;
  // Copies up to dst.size() bytes from the front without consuming them (tee).
  virtual size_t PeekNow(std::span<uint8_t> dst) = 0;
  // Adds what fits of `src` without waiting; EPIPE without readers.
  virtual Result<size_t> WriteNow(std::span<const uint8_t> src) = 0;

 protected:
  ~SplicePipe() = default;
};

// The pipe interface of `f`, or null if it is not a pipe or FIFO (get_pipe_info).
SplicePipe* AsSplicePipe(FileDescription& f);

// The flags splice, tee and vmsplice accept (SPLICE_F_ALL).
inline constexpr unsigned kSpliceFlagNonblock = 0x02;
inline constexpr unsigned kSpliceFlagsAll = 0x0f;

// sendfile(2) after the handler read the offset pointer: `in` is the input file, `in_off` the
// caller's offset (or null), `out` the output descriptor as looked up (its errors are reported
// in Linux's order, after the input's). Output pipes get what fits after one wait for room;
// other outputs get everything up to `count`.
Result<size_t> SendFile(Task& task, FileDescription& in, int64_t* in_off,
                        Result<RefPtr<FileDescription>> out, size_t count);

// splice(2) after the handler checked the lengths and flags, the ESPIPE cases and read the
// offsets. One side must be a pipe.
Result<size_t> Splice(Task& task, FileDescription& in, int64_t* off_in, FileDescription& out,
                      int64_t* off_out, size_t len, unsigned flags);

// tee(2): copies up to `len` bytes from pipe `in` to pipe `out` without consuming them.
Result<size_t> Tee(Task& task, FileDescription& in, FileDescription& out, size_t len,
                   unsigned flags);

// vmsplice(2) on the write end of a pipe: copies the application's `iov` in (after one wait
// for room, as much as fits). On the read end: moves the pipe's data out into `iov`.
Result<size_t> VmspliceToPipe(Task& task, FileDescription& f, std::span<const iovec> iov,
                              unsigned flags);
Result<size_t> VmspliceFromPipe(Task& task, FileDescription& f, std::span<const iovec> iov,
                                unsigned flags);

// copy_file_range(2) with flags already checked to be 0: two regular files, any filesystems.
Result<size_t> CopyFileRange(Task& task, FileDescription& in, int64_t* off_in,
                             FileDescription& out, int64_t* off_out, size_t len);

}  // namespace moat::vfs

#endif  // MOAT_SENTRY_VFS_SPLICE_H_
