// Data syscalls: read and write families, lseek, getdents, ioctl.
#include <dirent.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <climits>
#include <cstring>
#include <memory>
#include <span>

#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/fasync.h"
#include "sentry/vfs/inotify.h"
#include "sentry/vfs/splice.h"
#include "syscalls/syscalls.h"

namespace moat::syscalls {

using vfs::FileDescription;

namespace {

constexpr size_t kMaxRw = INT_MAX & ~(kPageSize - 1);  // Linux's MAX_RW_COUNT
constexpr size_t kScratchSize = 1 << 20;

// The task thread's buffer for plain reads and writes, kept between syscalls: a fresh,
// zero-filled buffer per call cost as much as the copy itself for large reads. Regular files are
// read and written in pieces of its size; other files get at most that much per call (a pipe
// holds no more).
std::span<uint8_t> Scratch(size_t want) {
  thread_local std::unique_ptr<uint8_t[]> buf(new uint8_t[kScratchSize]);
  return {buf.get(), std::min(want, kScratchSize)};
}

// RLIMIT_FSIZE: how much of a write of `len` bytes at `offset` (the file offset if unset) a
// regular file takes. At or past the limit: SIGXFSZ and EFBIG, as Linux's generic_write_checks.
Result<size_t> FileSizeLimit(Task& t, FileDescription& f, std::optional<int64_t> offset,
                             size_t len) {
  rlimit lim = t.thread_group().GetRlimit(RLIMIT_FSIZE);
  if (lim.rlim_cur == RLIM_INFINITY || len == 0) return len;
  vfs::Stat st = TRY(f.GetStat());
  if (!S_ISREG(st.mode)) return len;
  int64_t pos = offset ? *offset
                       : ((f.flags() & O_APPEND) ? st.size : TRY(f.Seek(0, SEEK_CUR)));
  if (static_cast<uint64_t>(pos) >= lim.rlim_cur) {
    SendSelfSignal(t, SIGXFSZ);
    return Errno(EFBIG);
  }
  return std::min<size_t>(len, lim.rlim_cur - pos);
}

Result<RefPtr<FileDescription>> ReadableFile(Task& t, int fd) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(fd));
  if (!f->readable()) return Errno(EBADF);
  return f;
}

Result<RefPtr<FileDescription>> WritableFile(Task& t, int fd) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(fd));
  if (!f->writable()) return Errno(EBADF);
  return f;
}

// Copies what a read returned to the application. Linux consumes only what reached user memory:
// the rest is given back to the file. EFAULT if nothing could be copied.
Result<size_t> DeliverRead(Task& t, FileDescription& f, UserAddr buf, std::span<const uint8_t> data,
                           bool positional) {
  size_t copied = data.empty() ? 0 : TRY(t.CopyOutPartial(buf, data.data(), data.size()));
  if (copied < data.size()) {
    if (!positional) f.Unread(data.subspan(copied));
    if (copied == 0) return Errno(EFAULT);
  }
  return copied;
}

// Reads into a sentry buffer and copies to the application; keeps reading a regular file while
// whole chunks come back, so a large read is not cut short.
Result<long> ReadInto(Task& t, FileDescription& f, UserAddr buf, size_t count,
                      std::optional<int64_t> offset) {
  // A read of nothing still goes to the file, which may refuse it (inotify, eventfd: EINVAL).
  if (count == 0) return TRY(offset ? f.PRead(t, {}, *offset) : f.Read(t, {}));
  count = std::min(count, kMaxRw);
  if (count == 0) {
    // The file still sees a read of nothing: some refuse it (eventfd, timerfd: EINVAL).
    std::span<uint8_t> none;
    return TRY(offset ? f.PRead(t, none, *offset) : f.Read(t, none));
  }
  std::span<uint8_t> data = Scratch(count);
  size_t done = 0;
  while (done < count) {
    size_t want = std::min(data.size(), count - done);
    std::span<uint8_t> dst(data.data(), want);
    Result<size_t> r = offset ? f.PRead(t, dst, *offset + done) : f.Read(t, dst);
    if (!r.ok()) {
      if (done > 0) break;
      return r.error();
    }
    Result<size_t> copied = DeliverRead(t, f, buf + done, dst.first(*r), offset.has_value());
    if (!copied.ok()) return done > 0 ? Result<long>(done) : Result<long>(copied.error());
    done += *copied;
    if (*copied < want) break;
    if (!S_ISREG(f.GetStat().value_or(vfs::Stat{}).mode)) break;
  }
  if (done > 0) vfs::NotifyFile(f, IN_ACCESS);
  return done;
}

// Writes from the application's buffer; a buffer that runs into unmapped memory writes what
// could be copied (EFAULT if nothing). Regular files stop at RLIMIT_FSIZE.
Result<long> WriteFrom(Task& t, FileDescription& f, UserAddr buf, size_t count,
                       std::optional<int64_t> offset) {
  count = std::min(count, kMaxRw);
  // A write by someone without CAP_FSETID drops the file's set-id bits (file_remove_privs).
  if (count > 0) TRY(vfs::RemovePrivs(*t.creds(), f));
  size_t done = 0;
  std::span<uint8_t> data = Scratch(count);
  do {
    size_t want = std::min(data.size(), count - done);
    size_t got = TRY(t.CopyInPartial(buf + done, data.data(), want));
    if (got == 0 && want > 0) return done > 0 ? Result<long>(done) : Result<long>(Errno(EFAULT));
    Result<size_t> allowed = FileSizeLimit(t, f, offset ? std::optional(*offset + done) : std::nullopt, got);
    if (!allowed.ok()) return done > 0 ? Result<long>(done) : Result<long>(allowed.error());
    std::span<const uint8_t> src(data.data(), *allowed);
    Result<size_t> r = offset ? f.PWrite(t, src, *offset + done) : f.Write(t, src);
    if (!r.ok()) {
      if (r.error().value() == EPIPE && f.SendsSigpipe()) SendSelfSignal(t, SIGPIPE);
      if (done > 0) break;
      return r.error();
    }
    done += *r;
    if (*r < want) break;
  } while (done < count);
  if (done > 0) vfs::NotifyFile(f, IN_MODIFY);
  return done;
}

// Vectored I/O goes through one buffer, so a writev to a pipe is as atomic as one write.
Result<long> DoReadv(Task& t, FileDescription& f, UserAddr iovp, int64_t cnt,
                     std::optional<int64_t> offset) {
  std::vector<iovec> iov = TRY(t.CopyInIovecs(iovp, cnt));
  size_t total = 0;
  for (auto& v : iov) total += v.iov_len;
  total = std::min(total, kMaxRw);
  std::vector<uint8_t> data(total);
  std::span<uint8_t> dst(data.data(), total);
  size_t n = TRY(offset ? f.PRead(t, dst, *offset) : f.Read(t, dst));
  size_t off = 0;
  for (auto& v : iov) {
    if (off >= n) break;
    size_t part = std::min(v.iov_len, n - off);
    UserAddr to(reinterpret_cast<uint64_t>(v.iov_base));
    size_t copied = TRY(t.CopyOutPartial(to, data.data() + off, part));
    off += copied;
    if (copied < part) break;
  }
  if (off < n) {
    if (!offset) f.Unread(std::span<const uint8_t>(data.data() + off, n - off));
    if (off == 0) return Errno(EFAULT);
  }
  if (off > 0) vfs::NotifyFile(f, IN_ACCESS);
  return off;
}

Result<long> DoWritev(Task& t, FileDescription& f, UserAddr iovp, int64_t cnt,
                      std::optional<int64_t> offset) {
  std::vector<iovec> iov = TRY(t.CopyInIovecs(iovp, cnt));
  std::vector<uint8_t> data;
  for (auto& v : iov) {
    size_t part = std::min(v.iov_len, kMaxRw - data.size());
    size_t at = data.size();
    data.resize(at + part);
    size_t got = TRY(t.CopyInPartial(UserAddr(reinterpret_cast<uint64_t>(v.iov_base)),
                                     data.data() + at, part));
    if (got < part) {
      data.resize(at + got);
      if (data.empty()) return Errno(EFAULT);
      break;
    }
  }
  if (data.empty()) return 0;  // Linux returns before touching the file, pipes included
  size_t allowed = TRY(FileSizeLimit(t, f, offset, data.size()));
  TRY(vfs::RemovePrivs(*t.creds(), f));
  std::span<const uint8_t> src(data.data(), allowed);
  Result<size_t> r = offset ? f.PWrite(t, src, *offset) : f.Write(t, src);
  if (!r.ok() && r.error().value() == EPIPE && f.SendsSigpipe()) SendSelfSignal(t, SIGPIPE);
  size_t n = TRY(std::move(r));
  if (n > 0) vfs::NotifyFile(f, IN_MODIFY);
  return n;
}

Result<std::optional<int64_t>> Pos2(int64_t pos) {
  if (pos == -1) return std::optional<int64_t>();
  if (pos < 0) return Errno(EINVAL);
  return std::optional<int64_t>(pos);
}

constexpr int kRwfKnown = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;

}  // namespace

// read(2)
Result<long> Read(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(ReadableFile(t, a.Int32(0)));
  return ReadInto(t, *f, a.Addr(1), a.Uint(2), std::nullopt);
}

// write(2)
Result<long> Write(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(WritableFile(t, a.Int32(0)));
  return WriteFrom(t, *f, a.Addr(1), a.Uint(2), std::nullopt);
}

// pread64(2)
Result<long> Pread64(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(ReadableFile(t, a.Int32(0)));
  if (a.Int(3) < 0) return Errno(EINVAL);
  return ReadInto(t, *f, a.Addr(1), a.Uint(2), a.Int(3));
}

// pwrite64(2)
Result<long> Pwrite64(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(WritableFile(t, a.Int32(0)));
  if (a.Int(3) < 0) return Errno(EINVAL);
  return WriteFrom(t, *f, a.Addr(1), a.Uint(2), a.Int(3));
}

// readv(2), writev(2)
Result<long> Readv(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(ReadableFile(t, a.Int32(0)));
  return DoReadv(t, *f, a.Addr(1), a.Int(2), std::nullopt);
}
Result<long> Writev(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(WritableFile(t, a.Int32(0)));
  return DoWritev(t, *f, a.Addr(1), a.Int(2), std::nullopt);
}

// preadv(2), pwritev(2): on x86-64 the whole offset is in pos_l.
Result<long> Preadv(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(ReadableFile(t, a.Int32(0)));
  if (a.Int(3) < 0) return Errno(EINVAL);
  return DoReadv(t, *f, a.Addr(1), a.Int(2), a.Int(3));
}
Result<long> Pwritev(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(WritableFile(t, a.Int32(0)));
  if (a.Int(3) < 0) return Errno(EINVAL);
  return DoWritev(t, *f, a.Addr(1), a.Int(2), a.Int(3));
}

// preadv2(2), pwritev2(2): an offset of -1 uses the file offset.
Result<long> Preadv2(Task& t, const SyscallArgs& a) {
  if (a.Int32(5) & ~kRwfKnown) return Errno(EOPNOTSUPP);
  RefPtr<FileDescription> f = TRY(ReadableFile(t, a.Int32(0)));
  std::optional<int64_t> pos = TRY(Pos2(a.Int(3)));
  return DoReadv(t, *f, a.Addr(1), a.Int(2), pos);
}
Result<long> Pwritev2(Task& t, const SyscallArgs& a) {
  if (a.Int32(5) & ~kRwfKnown) return Errno(EOPNOTSUPP);
  RefPtr<FileDescription> f = TRY(WritableFile(t, a.Int32(0)));
  std::optional<int64_t> pos = TRY(Pos2(a.Int(3)));
  return DoWritev(t, *f, a.Addr(1), a.Int(2), pos);
}

// lseek(2)
Result<long> Lseek(Task& t, const SyscallArgs& a) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  if (f->flags() & O_PATH) return Errno(EBADF);
  int whence = a.Int32(2);
  if (whence < SEEK_SET || whence > SEEK_HOLE) return Errno(EINVAL);
  return TRY(f->Seek(a.Int(1), whence));
}

namespace {

// Fills the caller's buffer with directory records in the layout `put` writes.
template <typename PutRecord>
Result<long> DoGetdents(Task& t, int fd, UserAddr buf, size_t count, PutRecord put) {
  RefPtr<FileDescription> f = TRY(t.fds().Get(fd));
  if (f->flags() & O_PATH) return Errno(EBADF);
  std::vector<uint8_t> out;
  size_t limit = std::min<size_t>(count, 1 << 20);
  bool too_small = false;
  TRY(f->ReadDir([&](const vfs::DirEntry& e, int64_t next) {
    size_t before = out.size();
    if (!put(out, e, next, limit)) {
      too_small = before == 0;
      return false;
    }
    return true;
  }));
  if (out.empty() && too_small) return Errno(EINVAL);
  TRY(t.CopyOut(buf, out.data(), out.size()));
  vfs::NotifyFile(*f, IN_ACCESS);  // iterate_dir() reports every call
  return out.size();
}

}  // namespace

// getdents64(2)
Result<long> Getdents64(Task& t, const SyscallArgs& a) {
  return DoGetdents(t, a.Int32(0), a.Addr(1), a.Uint32(2),
                    [](std::vector<uint8_t>& out, const vfs::DirEntry& e, int64_t next, size_t limit) {
                      size_t reclen = (19 + e.name.size() + 1 + 7) & ~size_t{7};
                      if (out.size() + reclen > limit) return false;
                      size_t at = out.size();
                      out.resize(at + reclen, 0);
                      uint8_t* p = out.data() + at;
                      uint64_t ino = e.ino;
                      int64_t off = next;
                      uint16_t rl = static_cast<uint16_t>(reclen);
                      std::memcpy(p, &ino, 8);
                      std::memcpy(p + 8, &off, 8);
                      std::memcpy(p + 16, &rl, 2);
                      p[18] = e.type;
                      std::memcpy(p + 19, e.name.data(), e.name.size());
                      return true;
                    });
}

// getdents(2): the old layout, with d_type in the last byte of the record.
Result<long> Getdents(Task& t, const SyscallArgs& a) {
  return DoGetdents(t, a.Int32(0), a.Addr(1), a.Uint32(2),
                    [](std::vector<uint8_t>& out, const vfs::DirEntry& e, int64_t next, size_t limit) {
                      size_t reclen = (18 + e.name.size() + 2 + 7) & ~size_t{7};
                      if (out.size() + reclen > limit) return false;
                      size_t at = out.size();
                      out.resize(at + reclen, 0);
                      uint8_t* p = out.data() + at;
                      uint64_t ino = e.ino;
                      int64_t off = next;
                      uint16_t rl = static_cast<uint16_t>(reclen);
                      std::memcpy(p, &ino, 8);
                      std::memcpy(p + 8, &off, 8);
                      std::memcpy(p + 16, &rl, 2);
                      std::memcpy(p + 18, e.name.data(), e.name.size());
                      p[reclen - 1] = e.type;
                      return true;
                    });
}

namespace {

// Reads an optional loff_t the caller points at.
Result<std::optional<int64_t>> CopyInOffset(Task& t, UserAddr p) {
  if (p.IsNull()) return std::optional<int64_t>();
  return std::optional<int64_t>(TRY(t.CopyInObj<int64_t>(p)));
}

// A transfer into `out` failed with EPIPE: pipes (and later sockets) raise SIGPIPE too.
Result<long> WithSigpipe(Task& t, FileDescription* out, Result<size_t> r) {
  if (!r.ok() && r.error().value() == EPIPE && out && out->SendsSigpipe()) {
    SendSelfSignal(t, SIGPIPE);
  }
  return TRY(std::move(r));
}

// A transfer moved data: the input was accessed, then the output modified (do_sendfile's and
// vfs_copy_file_range's order; do_splice reports the other way round, but one of its sides is
// a pipe, which nobody can watch here).
void NotifyTransfer(FileDescription* in, FileDescription* out, const Result<size_t>& r) {
  if (!r.ok() || r.value() == 0) return;
  if (in) vfs::NotifyFile(*in, IN_ACCESS);
  if (out) vfs::NotifyFile(*out, IN_MODIFY);
}

}  // namespace

// sendfile(2) (sendfile64 on x86-64)
Result<long> Sendfile(Task& t, const SyscallArgs& a) {
  // The offset is read before the descriptors are looked at, and written back whatever the
  // outcome, as Linux does.
  UserAddr offp = a.Addr(2);
  std::optional<int64_t> off = TRY(CopyInOffset(t, offp));
  RefPtr<FileDescription> in = TRY(ReadableFile(t, a.Int32(1)));
  Result<RefPtr<FileDescription>> out = t.fds().Get(a.Int32(0));
  RefPtr<FileDescription> out_file = out.ok() ? *out : nullptr;
  Result<size_t> r = vfs::SendFile(t, *in, off ? &*off : nullptr, std::move(out), a.Uint(3));
  NotifyTransfer(in.get(), out_file.get(), r);
  if (off) TRY(t.CopyOutObj(offp, *off));
  return WithSigpipe(t, out_file.get(), std::move(r));
}

// splice(2)
Result<long> Splice(Task& t, const SyscallArgs& a) {
  UserAddr off_in_p = a.Addr(1), off_out_p = a.Addr(3);
  size_t len = a.Uint(4);
  unsigned flags = a.Uint32(5);
  if (len == 0) return 0;
  if (flags & ~vfs::kSpliceFlagsAll) return Errno(EINVAL);
  RefPtr<FileDescription> in = TRY(t.fds().Get(a.Int32(0)));
  RefPtr<FileDescription> out = TRY(t.fds().Get(a.Int32(2)));
  // __do_splice(): offsets on a pipe are ESPIPE before anything else is checked.
  if (vfs::AsSplicePipe(*in) && !off_in_p.IsNull()) return Errno(ESPIPE);
  if (vfs::AsSplicePipe(*out) && !off_out_p.IsNull()) return Errno(ESPIPE);
  std::optional<int64_t> off_out = TRY(CopyInOffset(t, off_out_p));
  std::optional<int64_t> off_in = TRY(CopyInOffset(t, off_in_p));
  Result<size_t> r = vfs::Splice(t, *in, off_in ? &*off_in : nullptr, *out,
                                 off_out ? &*off_out : nullptr, len, flags);
  NotifyTransfer(in.get(), out.get(), r);
  if (!r.ok()) return WithSigpipe(t, out.get(), std::move(r));
  if (off_out) TRY(t.CopyOutObj(off_out_p, *off_out));
  if (off_in) TRY(t.CopyOutObj(off_in_p, *off_in));
  return *r;
}

// tee(2)
Result<long> Tee(Task& t, const SyscallArgs& a) {
  unsigned flags = a.Uint32(3);
  if (flags & ~vfs::kSpliceFlagsAll) return Errno(EINVAL);
  if (a.Uint(2) == 0) return 0;
  RefPtr<FileDescription> in = TRY(t.fds().Get(a.Int32(0)));
  RefPtr<FileDescription> out = TRY(t.fds().Get(a.Int32(1)));
  return WithSigpipe(t, out.get(), vfs::Tee(t, *in, *out, a.Uint(2), flags));
}

// vmsplice(2)
Result<long> Vmsplice(Task& t, const SyscallArgs& a) {
  unsigned flags = a.Uint32(3);
  if (flags & ~vfs::kSpliceFlagsAll) return Errno(EINVAL);
  RefPtr<FileDescription> f = TRY(t.fds().Get(a.Int32(0)));
  // vmsplice_type(): the write end is written to, the read end read from.
  const bool to_pipe = f->writable();
  if (!to_pipe && !f->readable()) return Errno(EBADF);
  std::vector<iovec> iov = TRY(t.CopyInIovecs(a.Addr(1), a.Int(2)));
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  if (total == 0) return 0;
  if (to_pipe) return WithSigpipe(t, f.get(), vfs::VmspliceToPipe(t, *f, iov, flags));
  return TRY(vfs::VmspliceFromPipe(t, *f, iov, flags));
}

// copy_file_range(2)
Result<long> CopyFileRange(Task& t, const SyscallArgs& a) {
  UserAddr off_in_p = a.Addr(1), off_out_p = a.Addr(3);
  RefPtr<FileDescription> in = TRY(t.fds().Get(a.Int32(0)));
  RefPtr<FileDescription> out = TRY(t.fds().Get(a.Int32(2)));
  std::optional<int64_t> off_in = TRY(CopyInOffset(t, off_in_p));
  std::optional<int64_t> off_out = TRY(CopyInOffset(t, off_out_p));
  if (a.Uint32(5) != 0) return Errno(EINVAL);
  size_t n = TRY(vfs::CopyFileRange(t, *in, off_in ? &*off_in : nullptr, *out,
                                    off_out ? &*off_out : nullptr, a.Uint(4)));
  NotifyTransfer(in.get(), out.get(), n);
  if (n > 0) {
    if (off_in) TRY(t.CopyOutObj(off_in_p, *off_in));
    if (off_out) TRY(t.CopyOutObj(off_out_p, *off_out));
  }
  return n;
}

// ioctl(2): the generic requests here, the rest by the file.
Result<long> Ioctl(Task& t, const SyscallArgs& a) {
  int fd = a.Int32(0);
  uint64_t cmd = a.Uint32(1);
  RefPtr<FileDescription> f = TRY(t.fds().Get(fd));
  if (f->flags() & O_PATH) return Errno(EBADF);
  switch (cmd) {
    case FIOCLEX:
      TRY(t.fds().SetCloexec(fd, true));
      return 0;
    case FIONCLEX:
      TRY(t.fds().SetCloexec(fd, false));
      return 0;
    case FIONBIO: {
      int on = TRY(t.CopyInObj<int>(a.Addr(2)));
      int flags = f->flags();
      f->SetStatusFlags(on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
      return 0;
    }
    case FIOASYNC: {
      // ioctl_fioasync(): a change the file cannot make is ENOTTY.
      const bool on = TRY(t.CopyInObj<int>(a.Addr(2))) != 0;
      if (on != bool(f->flags() & O_ASYNC) && !vfs::SetAsync(*f, fd, on)) return Errno(ENOTTY);
      return 0;
    }
    default:
      return f->Ioctl(t, cmd, a.Addr(2));
  }
}

}  // namespace moat::syscalls
