// Data syscalls: read and write families, lseek, getdents, ioctl.
#include <dirent.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <climits>
#include <cstring>

#include "syscalls/syscalls.h"

namespace moat::syscalls {

using vfs::FileDescription;

namespace {

constexpr size_t kMaxRw = INT_MAX & ~(kPageSize - 1);  // Linux's MAX_RW_COUNT
constexpr size_t kChunk = 8 << 20;  // the most one sentry buffer holds

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

// Reads into a sentry buffer and copies to the application; keeps reading a seekable file while
// whole chunks come back, so a large read of a regular file is not cut short.
Result<long> ReadInto(Task& t, FileDescription& f, UserAddr buf, size_t count,
                      std::optional<int64_t> offset) {
  count = std::min(count, kMaxRw);
  std::vector<uint8_t> data(std::min(count, kChunk));
  size_t done = 0;
  while (done < count) {
    size_t want = std::min(data.size(), count - done);
    std::span<uint8_t> dst(data.data(), want);
    Result<size_t> r = offset ? f.PRead(t, dst, *offset + done) : f.Read(t, dst);
    if (!r.ok()) {
      if (done > 0) break;
      return r.error();
    }
    if (*r > 0) {
      Result<void> out = t.CopyOut(buf + done, data.data(), *r);
      if (!out.ok()) return done > 0 ? Result<long>(done) : Result<long>(out.error());
    }
    done += *r;
    if (*r < want) break;
    bool seekable = S_ISREG(f.GetStat().value_or(vfs::Stat{}).mode);
    if (!seekable) break;
  }
  return done;
}

Result<long> WriteFrom(Task& t, FileDescription& f, UserAddr buf, size_t count,
                       std::optional<int64_t> offset) {
  count = std::min(count, kMaxRw);
  size_t done = 0;
  std::vector<uint8_t> data(std::min(count, kChunk));
  do {
    size_t want = std::min(data.size(), count - done);
    Result<void> in = t.CopyIn(buf + done, data.data(), want);
    if (!in.ok()) return done > 0 ? Result<long>(done) : Result<long>(in.error());
    std::span<const uint8_t> src(data.data(), want);
    Result<size_t> r = offset ? f.PWrite(t, src, *offset + done) : f.Write(t, src);
    if (!r.ok()) {
      if (r.error().value() == EPIPE) SendSigpipe(t);
      if (done > 0) break;
      return r.error();
    }
    done += *r;
    if (*r < want) break;
  } while (done < count);
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
    TRY(t.CopyOut(UserAddr(reinterpret_cast<uint64_t>(v.iov_base)), data.data() + off, part));
    off += part;
  }
  return n;
}

Result<long> DoWritev(Task& t, FileDescription& f, UserAddr iovp, int64_t cnt,
                      std::optional<int64_t> offset) {
  std::vector<iovec> iov = TRY(t.CopyInIovecs(iovp, cnt));
  std::vector<uint8_t> data;
  for (auto& v : iov) {
    size_t part = std::min(v.iov_len, kMaxRw - data.size());
    size_t at = data.size();
    data.resize(at + part);
    TRY(t.CopyIn(UserAddr(reinterpret_cast<uint64_t>(v.iov_base)), data.data() + at, part));
  }
  if (data.empty()) return 0;  // Linux returns before touching the file, pipes included
  Result<size_t> r = offset ? f.PWrite(t, data, *offset) : f.Write(t, data);
  if (!r.ok() && r.error().value() == EPIPE) SendSigpipe(t);
  return TRY(std::move(r));
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
    case FIOASYNC:
      TRY(t.CopyInObj<int>(a.Addr(2)));
      return 0;  // TODO(#3): O_ASYNC signals.
    default:
      return f->Ioctl(t, cmd, a.Addr(2));
  }
}

}  // namespace moat::syscalls
