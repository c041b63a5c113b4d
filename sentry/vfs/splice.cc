// The in-kernel copy family (splice.h). Each entry point names the Linux function (fs/splice.c,
// fs/read_write.c) whose checks it mirrors, in the same order, so that errnos match.
#include "sentry/vfs/splice.h"

#include <climits>
#include <optional>
#include <vector>

#include "sentry/kernel/task.h"

namespace moat::vfs {
namespace {

constexpr size_t kMaxRw = INT_MAX & ~size_t{4095};  // MAX_RW_COUNT
// The most one step moves through the sentry.
constexpr size_t kBounce = size_t{128} << 10;

// rw_verify_area() for a transfer of `count` bytes at `pos`: no file here has unsigned offsets.
Result<void> VerifyArea(int64_t pos, size_t count) {
  if (static_cast<ssize_t>(count) < 0) return Errno(EINVAL);
  if (pos < 0) return Errno(EINVAL);
  if (static_cast<int64_t>(static_cast<uint64_t>(pos) + count) < 0) return Errno(EINVAL);
  return Ok();
}

// The file offset of `f`, or nothing for a file without one (pipes, sockets, ttys): Linux's
// FMODE_PREAD / FMODE_PWRITE.
std::optional<int64_t> FileOffset(FileDescription& f) {
  Result<int64_t> r = f.Seek(0, SEEK_CUR);
  if (!r.ok()) return std::nullopt;
  return *r;
}

// Whether `f` can be a splice source (it has a splice_read): not a pipe, not a directory.
Result<void> CheckSpliceRead(FileDescription& f) {
  if (AsSplicePipe(f)) return Errno(EINVAL);
  Result<Stat> st = f.GetStat();
  if (st.ok() && S_ISDIR(st->mode)) return Errno(EINVAL);
  return Ok();
}

// The side of a transfer that is not a pipe: I/O at the caller's offset, at the file offset
// (stored back when done, like Linux's f_pos update), or as a stream.
class FileSide {
 public:
  FileSide(FileDescription& f, int64_t* user_off) : f_(f), user_off_(user_off) {
    if (user_off) {
      pos_ = *user_off;
    } else {
      pos_ = FileOffset(f);
      from_file_offset_ = pos_.has_value();
    }
  }
  ~FileSide() { Finish(); }
  FileSide(const FileSide&) = delete;
  FileSide& operator=(const FileSide&) = delete;

  Result<size_t> Read(Task& t, std::span<uint8_t> dst) {
    if (!pos_) return f_.Read(t, dst);
    size_t n = TRY(f_.PRead(t, dst, *pos_));
    *pos_ += static_cast<int64_t>(n);
    return n;
  }

  Result<size_t> Write(Task& t, std::span<const uint8_t> src) {
    if (!pos_) return f_.Write(t, src);
    size_t n = TRY(f_.PWrite(t, src, *pos_));
    *pos_ += static_cast<int64_t>(n);
    return n;
  }

  // Gives back the last bytes Read returned, which went nowhere.
  void GiveBack(std::span<const uint8_t> data) {
    if (data.empty()) return;
    if (pos_) {
      *pos_ -= static_cast<int64_t>(data.size());
    } else {
      f_.Unread(data);
    }
  }

 private:
  void Finish() {
    if (!pos_) return;
    if (user_off_) {
      *user_off_ = *pos_;
    } else if (from_file_offset_) {
      (void)f_.Seek(*pos_, SEEK_SET);
    }
  }

  FileDescription& f_;
  int64_t* user_off_;
  std::optional<int64_t> pos_;
  bool from_file_offset_ = false;
};

// A file (or a stream that is not a pipe) into a pipe: splice_file_to_pipe(). Waits once for
// room, then moves what fits.
Result<size_t> FileToPipe(Task& t, FileDescription& in, int64_t* in_off, SplicePipe& out,
                          size_t count, bool nonblock) {
  size_t room = TRY(out.WaitWritable(t, nonblock));
  if (count == 0) return size_t{0};
  RETURN_IF_ERRNO(CheckSpliceRead(in));
  FileSide src(in, in_off);
  size_t remaining = std::min(count, room);
  std::vector<uint8_t> buf(std::min(remaining, kBounce));
  size_t done = 0;
  while (remaining > 0) {
    std::span<uint8_t> chunk(buf.data(), std::min(remaining, buf.size()));
    Result<size_t> r = src.Read(t, chunk);
    if (!r.ok()) {
      if (done) break;
      return r.error();
    }
    if (*r == 0) break;
    std::span<const uint8_t> got(buf.data(), *r);
    Result<size_t> w = out.WriteNow(got);
    if (!w.ok()) {
      src.GiveBack(got);
      if (done) break;
      return w.error();
    }
    done += *w;
    if (*w < got.size()) {
      src.GiveBack(got.subspan(*w));
      break;
    }
    remaining -= *w;
    if (*r < chunk.size()) break;
  }
  return done;
}

// A pipe into a file: iter_file_splice_write(). Waits for data only while nothing has moved,
// then drains what the pipe holds, up to `len`.
Result<size_t> PipeToFile(Task& t, FileDescription& in_file, SplicePipe& in, FileDescription& out,
                          int64_t* off_out, size_t len, bool nonblock) {
  if (!TRY(in.WaitReadable(t, nonblock))) return size_t{0};
  FileSide dst(out, off_out);
  std::vector<uint8_t> buf(std::min(len, kBounce));
  size_t done = 0;
  while (done < len) {
    size_t n = in.ReadNow(std::span<uint8_t>(buf.data(), std::min(len - done, buf.size())));
    if (n == 0) break;
    std::span<const uint8_t> got(buf.data(), n);
    Result<size_t> w = dst.Write(t, got);
    if (!w.ok()) {
      in_file.Unread(got);
      if (done) break;
      return w.error();
    }
    done += *w;
    if (*w < n) {
      in_file.Unread(got.subspan(*w));
      break;
    }
  }
  return done;
}

// Everything up to `count` from one file to another (do_splice_direct, and copy_file_range's
// fallback): read a chunk, write it, until the input ends or the output stops taking data.
Result<size_t> FileToFile(Task& t, FileDescription& in, int64_t* in_off, FileDescription& out,
                          int64_t* out_off, size_t count) {
  if (count == 0) return size_t{0};
  RETURN_IF_ERRNO(CheckSpliceRead(in));
  FileSide src(in, in_off);
  FileSide dst(out, out_off);
  std::vector<uint8_t> buf(std::min(count, kBounce));
  size_t done = 0;
  while (done < count) {
    std::span<uint8_t> chunk(buf.data(), std::min(count - done, buf.size()));
    Result<size_t> r = src.Read(t, chunk);
    if (!r.ok()) {
      if (done) break;
      return r.error();
    }
    if (*r == 0) break;
    std::span<const uint8_t> got(buf.data(), *r);
    Result<size_t> w = dst.Write(t, got);
    if (!w.ok()) {
      src.GiveBack(got);
      if (done) break;
      return w.error();
    }
    done += *w;
    if (*w < got.size()) {
      src.GiveBack(got.subspan(*w));
      break;
    }
  }
  return done;
}

// Waits for input and for room, then moves (or, for tee, copies) what both allow:
// splice_pipe_to_pipe() and link_pipe().
Result<size_t> PipeToPipe(Task& t, FileDescription& in_file, SplicePipe& in, SplicePipe& out,
                          size_t len, bool nonblock, bool consume) {
  std::vector<uint8_t> buf;
  for (;;) {
    if (!TRY(in.WaitReadable(t, nonblock))) return size_t{0};
    size_t room = TRY(out.WaitWritable(t, nonblock));
    size_t want = std::min({len, room, kBounce});
    buf.resize(want);
    std::span<uint8_t> dst(buf.data(), want);
    size_t n = consume ? in.ReadNow(dst) : in.PeekNow(dst);
    // Another reader took the data first: wait again, as a zero return would mean EOF.
    if (n == 0) continue;
    std::span<const uint8_t> got(buf.data(), n);
    Result<size_t> w = out.WriteNow(got);
    if (!w.ok()) {
      if (consume) in_file.Unread(got);
      return w.error();
    }
    if (consume && *w < n) in_file.Unread(got.subspan(*w));
    return *w;
  }
}

}  // namespace

SplicePipe* AsSplicePipe(FileDescription& f) { return dynamic_cast<SplicePipe*>(&f); }

Result<size_t> SendFile(Task& t, FileDescription& in, int64_t* in_off,
                        Result<RefPtr<FileDescription>> out_r, size_t count) {
  // do_sendfile(): the input's offset is checked before the output is looked at.
  std::optional<int64_t> cur = FileOffset(in);
  if (in_off && !cur) return Errno(ESPIPE);
  RETURN_IF_ERRNO(VerifyArea(in_off ? *in_off : cur.value_or(0), count));
  count = std::min(count, kMaxRw);
  RefPtr<FileDescription> out = TRY(std::move(out_r));
  if (!out->writable()) return Errno(EBADF);
  if (SplicePipe* pipe = AsSplicePipe(*out)) {
    return FileToPipe(t, in, in_off, *pipe, count, out->flags() & O_NONBLOCK);
  }
  // do_splice_direct().
  if (out->flags() & O_APPEND) return Errno(EINVAL);
  if (std::optional<int64_t> out_pos = FileOffset(*out)) {
    RETURN_IF_ERRNO(VerifyArea(*out_pos, count));
  }
  return FileToFile(t, in, in_off, *out, nullptr, count);
}

Result<size_t> Splice(Task& t, FileDescription& in, int64_t* off_in, FileDescription& out,
                      int64_t* off_out, size_t len, unsigned flags) {
  // do_splice().
  if (!in.readable() || !out.writable()) return Errno(EBADF);
  SplicePipe* ipipe = AsSplicePipe(in);
  SplicePipe* opipe = AsSplicePipe(out);
  bool nonblock = flags & kSpliceFlagNonblock;
  if (ipipe && opipe) {
    if (off_in || off_out) return Errno(ESPIPE);
    if (ipipe->PipeId() == opipe->PipeId()) return Errno(EINVAL);
    nonblock |= ((in.flags() | out.flags()) & O_NONBLOCK) != 0;
    return PipeToPipe(t, in, *ipipe, *opipe, len, nonblock, /*consume=*/true);
  }
  if (ipipe) {
    if (off_in) return Errno(ESPIPE);
    std::optional<int64_t> cur = FileOffset(out);
    if (off_out && !cur) return Errno(EINVAL);
    if (out.flags() & O_APPEND) return Errno(EINVAL);
    if (off_out || cur) RETURN_IF_ERRNO(VerifyArea(off_out ? *off_out : *cur, len));
    nonblock |= (in.flags() & O_NONBLOCK) != 0;
    return PipeToFile(t, in, *ipipe, out, off_out, len, nonblock);
  }
  if (opipe) {
    if (off_out) return Errno(ESPIPE);
    std::optional<int64_t> cur = FileOffset(in);
    if (off_in && !cur) return Errno(EINVAL);
    if (off_in || cur) RETURN_IF_ERRNO(VerifyArea(off_in ? *off_in : *cur, len));
    nonblock |= (out.flags() & O_NONBLOCK) != 0;
    return FileToPipe(t, in, off_in, *opipe, std::min(len, kMaxRw), nonblock);
  }
  return Errno(EINVAL);
}

Result<size_t> Tee(Task& t, FileDescription& in, FileDescription& out, size_t len,
                   unsigned flags) {
  // do_tee().
  if (!in.readable() || !out.writable()) return Errno(EBADF);
  SplicePipe* ipipe = AsSplicePipe(in);
  SplicePipe* opipe = AsSplicePipe(out);
  if (!ipipe || !opipe || ipipe->PipeId() == opipe->PipeId()) return Errno(EINVAL);
  bool nonblock = (flags & kSpliceFlagNonblock) || ((in.flags() | out.flags()) & O_NONBLOCK);
  return PipeToPipe(t, in, *ipipe, *opipe, len, nonblock, /*consume=*/false);
}

Result<size_t> VmspliceToPipe(Task& t, FileDescription& f, std::span<const iovec> iov,
                              unsigned flags) {
  // vmsplice_to_pipe(): only SPLICE_F_NONBLOCK makes it non-blocking, not the file's
  // O_NONBLOCK.
  SplicePipe* pipe = AsSplicePipe(f);
  if (!pipe) return Errno(EBADF);
  size_t room = TRY(pipe->WaitWritable(t, flags & kSpliceFlagNonblock));
  std::vector<uint8_t> data;
  for (const iovec& v : iov) {
    if (data.size() >= room) break;
    size_t part = std::min(v.iov_len, room - data.size());
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
  if (data.empty()) return size_t{0};
  return pipe->WriteNow(data);
}

Result<size_t> VmspliceFromPipe(Task& t, FileDescription& f, std::span<const iovec> iov,
                                unsigned flags) {
  // vmsplice_to_user(): waits for data unless SPLICE_F_NONBLOCK, then drains what is there.
  SplicePipe* pipe = AsSplicePipe(f);
  if (!pipe) return Errno(EBADF);
  if (!TRY(pipe->WaitReadable(t, flags & kSpliceFlagNonblock))) return size_t{0};
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  std::vector<uint8_t> buf(std::min(total, kBounce));
  size_t done = 0;
  for (const iovec& v : iov) {
    size_t off = 0;
    while (off < v.iov_len) {
      size_t want = std::min(buf.size(), v.iov_len - off);
      size_t n = pipe->ReadNow(std::span<uint8_t>(buf.data(), want));
      if (n == 0) return done;
      UserAddr to(reinterpret_cast<uint64_t>(v.iov_base) + off);
      size_t copied = TRY(t.CopyOutPartial(to, buf.data(), n));
      done += copied;
      off += copied;
      if (copied < n) {
        f.Unread(std::span<const uint8_t>(buf.data() + copied, n - copied));
        if (done == 0) return Errno(EFAULT);
        return done;
      }
    }
  }
  return done;
}

Result<size_t> CopyFileRange(Task& t, FileDescription& in, int64_t* off_in, FileDescription& out,
                             int64_t* off_out, size_t len) {
  // generic_copy_file_checks() -> generic_file_rw_checks(). Files of different filesystems are
  // allowed, as Linux does for filesystems sharing a copy_file_range (and since 5.19 through
  // splice): the copy goes through the sentry either way.
  Stat in_st = TRY(in.GetStat());
  Stat out_st = TRY(out.GetStat());
  if (S_ISDIR(in_st.mode) || S_ISDIR(out_st.mode)) return Errno(EISDIR);
  if (!S_ISREG(in_st.mode) || !S_ISREG(out_st.mode)) return Errno(EINVAL);
  if (!in.readable() || !out.writable() || (out.flags() & O_APPEND)) return Errno(EBADF);

  int64_t pos_in = off_in ? *off_in : FileOffset(in).value_or(0);
  int64_t pos_out = off_out ? *off_out : FileOffset(out).value_or(0);
  uint64_t count = len;
  // The offsets may not wrap around (compared as unsigned, as Linux does).
  if (static_cast<uint64_t>(pos_in) + count < static_cast<uint64_t>(pos_in) ||
      static_cast<uint64_t>(pos_out) + count < static_cast<uint64_t>(pos_out)) {
    return Errno(EOVERFLOW);
  }
  // Shorten the copy to the end of the input.
  if (pos_in >= in_st.size) {
    count = 0;
  } else {
    count = std::min<uint64_t>(count, static_cast<uint64_t>(in_st.size) -
                                          static_cast<uint64_t>(pos_in));
  }
  // No overlapping ranges within one file.
  if (in.inode() && in.inode() == out.inode() &&
      static_cast<int64_t>(pos_out + count) > pos_in &&
      pos_out < static_cast<int64_t>(pos_in + count)) {
    return Errno(EINVAL);
  }
  RETURN_IF_ERRNO(VerifyArea(pos_in, count));
  RETURN_IF_ERRNO(VerifyArea(pos_out, count));
  if (count == 0) return size_t{0};
  count = std::min<uint64_t>(count, kMaxRw);

  int64_t in_pos = pos_in, out_pos = pos_out;
  size_t done = TRY(FileToFile(t, in, &in_pos, out, &out_pos, count));
  if (done > 0) {
    if (off_in) {
      *off_in = pos_in + static_cast<int64_t>(done);
    } else {
      (void)in.Seek(pos_in + static_cast<int64_t>(done), SEEK_SET);
    }
    if (off_out) {
      *off_out = pos_out + static_cast<int64_t>(done);
    } else {
      (void)out.Seek(pos_out + static_cast<int64_t>(done), SEEK_SET);
    }
  }
  return done;
}

}  // namespace moat::vfs
