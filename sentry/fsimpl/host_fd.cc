#include "sentry/fsimpl/host_fd.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>


#include "base/log.h"
#include "sentry/fsimpl/tty_ldisc.h"
#include "sentry/kernel/host_notifier.h"
#include "sentry/kernel/kernel.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"

namespace moat::fsimpl {
namespace {

// The foreground process group of the sandbox's terminal (TIOCGPGRP/TIOCSPGRP). The host
// terminal's own foreground group is the caller's and is left alone.
std::atomic<pid_t> g_foreground_pgrp{1};

vfs::Stat StatFromHost(const struct stat& st) {
  vfs::Stat s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mode = st.st_mode;
  s.nlink = static_cast<uint32_t>(st.st_nlink);
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.rdev = st.st_rdev;
  s.size = st.st_size;
  s.blksize = st.st_blksize;
  s.blocks = st.st_blocks;
  s.atime = st.st_atim;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

// The inode behind a HostFile, so that the calls acting on an open file's inode (fstat, fchmod,
// fchdir, reopening it through /proc/self/fd) have one. It keeps its own descriptor of the
// host file. The sandbox may look at the host object but not change it: SetStat is EPERM.
class HostFdInode : public vfs::Inode {
 public:
  explicit HostFdInode(FileDescriptor fd) : fd_(std::move(fd)) {}
  Result<vfs::Stat> GetStat() override {
    struct stat st;
    if (fstat(fd_.get(), &st) < 0) return LastErrno();
    return StatFromHost(st);
  }
  Result<void> SetStat(const vfs::SetStatRequest&) override { return Errno(EPERM); }
  // Reopening (open("/dev/stdout")) gives a new description of the same host file.
  Result<RefPtr<vfs::FileDescription>> Open(int flags, const vfs::Path&) override {
    FileDescriptor dup(fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) return LastErrno();
    return RefPtr<vfs::FileDescription>(TRY(HostFile::New(std::move(dup), flags)));
  }

 private:
  FileDescriptor fd_;
};

}  // namespace

Result<RefPtr<HostFile>> HostFile::New(FileDescriptor fd, int flags) {
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return LastErrno();
  bool seekable = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
  bool pollable = !seekable && !S_ISDIR(st.st_mode);
  FileDescriptor inode_fd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!inode_fd.valid()) return LastErrno();
  vfs::Path path{nullptr, MakeRef<vfs::Dentry>(nullptr, "", MakeRef<HostFdInode>(std::move(inode_fd)))};
  RefPtr<HostFile> f(new HostFile(std::move(fd), flags, std::move(path), pollable, seekable));
  if (pollable && !kernel::HostNotifier::Get().Add(f->fd_.get(), &f->queue_)) f->pollable_ = false;
  return f;
}

HostFile::HostFile(FileDescriptor fd, int flags, vfs::Path path, bool pollable, bool seekable)
    : FileDescription(flags, std::move(path)), fd_(std::move(fd)), pollable_(pollable),
      seekable_(seekable) {}

HostFile::~HostFile() {
  if (pollable_) kernel::HostNotifier::Get().Remove(fd_.get());
}

kernel::EventMask HostFile::Readiness(kernel::EventMask mask) {
  if (!pollable_) return mask & (kernel::kEventIn | kernel::kEventOut);
  pollfd p{fd_.get(), static_cast<short>(mask), 0};
  if (poll(&p, 1, 0) < 0) return kernel::kEventErr;
  return p.revents;
}

Result<void> HostFile::WaitFor(kernel::Task& t, kernel::EventMask events) {
  if (!pollable_) return Ok();
  for (;;) {
    if (Readiness(events | kernel::kEventHup | kernel::kEventErr)) return Ok();
    if (flags() & O_NONBLOCK) return Errno(EAGAIN);
    kernel::WaiterRegistration reg(queue_, &t, events | kernel::kEventHup | kernel::kEventErr);
    if (Readiness(events | kernel::kEventHup | kernel::kEventErr)) return Ok();
    if (!t.Block().ok()) return Errno(kERESTARTSYS);
  }
}

Result<size_t> HostFile::Read(kernel::Task& t, std::span<uint8_t> dst) {
  if (dst.empty()) return size_t{0};  // a read of nothing never waits, as on a host pipe
  if (seekable_) {
    // The offset is the host file description's, shared with whoever else holds it (the shell
    // that started runsc), as it would be for a real child process.
    ssize_t n = read(fd_.get(), dst.data(), dst.size());
    if (n < 0) return LastErrno();
    return static_cast<size_t>(n);
  }
  for (;;) {
    RETURN_IF_ERRNO(WaitFor(t, kernel::kEventIn));
    ssize_t n = read(fd_.get(), dst.data(), dst.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EAGAIN && errno != EINTR) return LastErrno();
  }
}

Result<size_t> HostFile::Write(kernel::Task& t, std::span<const uint8_t> src) {
  if (seekable_) {
    ssize_t n = write(fd_.get(), src.data(), src.size());
    if (n < 0) return LastErrno();
    return static_cast<size_t>(n);
  }
  size_t done = 0;
  while (done < src.size()) {
    Result<void> w = WaitFor(t, kernel::kEventOut);
    if (!w.ok()) return done ? Result<size_t>(done) : Result<size_t>(w.error());
    ssize_t n = write(fd_.get(), src.data() + done, src.size() - done);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (done) return done;
      return LastErrno();
    }
    done += n;
  }
  return done;
}

Result<size_t> HostFile::PRead(kernel::Task&, std::span<uint8_t> dst, int64_t off) {
  if (!seekable_) return Errno(ESPIPE);
  ssize_t n = pread(fd_.get(), dst.data(), dst.size(), off);
  if (n < 0) return LastErrno();
  return static_cast<size_t>(n);
}

Result<size_t> HostFile::PWrite(kernel::Task&, std::span<const uint8_t> src, int64_t off) {
  if (!seekable_) return Errno(ESPIPE);
  ssize_t n = pwrite(fd_.get(), src.data(), src.size(), off);
  if (n < 0) return LastErrno();
  return static_cast<size_t>(n);
}

Result<int64_t> HostFile::Seek(int64_t offset, int whence) {
  if (!seekable_) return Errno(ESPIPE);
  off_t r = lseek(fd_.get(), offset, whence);
  if (r < 0) return LastErrno();
  return r;
}

Result<long> HostFile::Ioctl(kernel::Task& t, uint64_t cmd, UserAddr arg) {
  switch (cmd) {
    // The kernel's struct termios is the first kTermiosSize bytes of glibc's, which is larger:
    // only those cross to and from the application.
    case TCGETS: {
      KernelTermios tio{};
      if (ioctl(fd_.get(), TCGETS, &tio) < 0) return LastErrno();
      RETURN_IF_ERRNO(t.CopyOut(arg, &tio, kTermiosSize));
      return 0;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
      KernelTermios tio{};
      RETURN_IF_ERRNO(t.CopyIn(arg, &tio, kTermiosSize));
      if (ioctl(fd_.get(), cmd, &tio) < 0) return LastErrno();
      return 0;
    }
    case TIOCGWINSZ: {
      winsize ws;
      if (ioctl(fd_.get(), TIOCGWINSZ, &ws) < 0) return LastErrno();
      RETURN_IF_ERRNO(t.CopyOutObj(arg, ws));
      return 0;
    }
    case TIOCSWINSZ: {
      winsize ws = TRY(t.CopyInObj<winsize>(arg));
      if (ioctl(fd_.get(), TIOCSWINSZ, &ws) < 0) return LastErrno();
      return 0;
    }
    case TIOCGPGRP:
    case TIOCSPGRP:
    case TIOCGSID:
    case TIOCSCTTY:
    case TIOCNOTTY: {
      // Job control of the sandbox's terminal is the sentry's; the host terminal only has to be
      // a terminal.
      termios tio;
      if (ioctl(fd_.get(), TCGETS, &tio) < 0) return LastErrno();
      if (cmd == TIOCGPGRP) {
        RETURN_IF_ERRNO(t.CopyOutObj(arg, g_foreground_pgrp.load()));
      } else if (cmd == TIOCSPGRP) {
        pid_t pgrp = TRY(t.CopyInObj<pid_t>(arg));
        if (pgrp < 0) return Errno(EINVAL);
        absl::MutexLock l(&t.kernel().mu_);
        if (!t.kernel().ProcessGroupExists(pgrp)) return Errno(ESRCH);
        g_foreground_pgrp = pgrp;
      } else if (cmd == TIOCGSID) {
        absl::MutexLock l(&t.kernel().mu_);
        pid_t sid = t.thread_group().sid;
        RETURN_IF_ERRNO(t.CopyOutObj(arg, sid));
      }
      return 0;
    }
    case FIONREAD:
    case TIOCOUTQ: {
      int n;
      if (ioctl(fd_.get(), cmd, &n) < 0) return LastErrno();
      RETURN_IF_ERRNO(t.CopyOutObj(arg, n));
      return 0;
    }
    case TCFLSH:
    case TCXONC:
    case TCSBRK:
      if (ioctl(fd_.get(), cmd, arg.value()) < 0) return LastErrno();
      return 0;
    default:
      return Errno(ENOTTY);
  }
}

Result<void> HostFile::Sync() {
  if (fsync(fd_.get()) < 0) return LastErrno();
  return Ok();
}

Result<vfs::Stat> HostFile::GetStat() {
  struct stat st;
  if (fstat(fd_.get(), &st) < 0) return LastErrno();
  return StatFromHost(st);
}

std::optional<std::string> HostFile::AnonymousName() {
  struct stat st;
  if (fstat(fd_.get(), &st) == 0) {
    if (S_ISFIFO(st.st_mode)) return fmt::format("pipe:[{}]", st.st_ino);
    if (S_ISSOCK(st.st_mode)) return fmt::format("socket:[{}]", st.st_ino);
    if (S_ISCHR(st.st_mode)) return std::string("/dev/tty");
  }
  return fmt::format("host:[{}]", fd_.get());
}

}  // namespace moat::fsimpl
