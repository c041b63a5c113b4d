#include "sentry/fsimpl/pty.h"

#include <linux/capability.h>
#include <signal.h>
#include <termios.h>

#include <cstring>
#include <optional>

#include "sentry/fsimpl/devpts.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/thread_group.h"
#include "sentry/vfs/fd_table.h"

namespace moat::fsimpl {

using kernel::EventMask;
using kernel::kEventErr;
using kernel::kEventHup;
using kernel::kEventIn;
using kernel::kEventOut;
using kernel::kEventPri;
using kernel::kEventRdNorm;
using kernel::kEventWrNorm;

namespace {

// The termios2 requests (asm-generic/ioctls.h), which glibc's headers cannot name: their size is
// that of the kernel's struct termios2.
constexpr uint64_t kTcgets2 = _IOR('T', 0x2A, KernelTermios);
constexpr uint64_t kTcsets2 = _IOW('T', 0x2B, KernelTermios);
constexpr uint64_t kTcsetsw2 = _IOW('T', 0x2C, KernelTermios);
constexpr uint64_t kTcsetsf2 = _IOW('T', 0x2D, KernelTermios);
// asm-generic/termbits.h: a rate given in c_ispeed/c_ospeed, and where the input code sits.
constexpr uint32_t kBother = 0010000;
constexpr int kIbshift = 16;

// The open(2) flags TIOCGPTPEER passes on to the replica it opens.
constexpr int kPeerFlags = O_ACCMODE | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

// A wait that a signal ended: the data moved so far, else a restart (EINTR without SA_RESTART).
Result<size_t> Interrupted(Errno e, size_t done) {
  if (done) return done;
  if (e.value() == EINTR) return Errno(kERESTARTSYS);
  return e;
}

// The bit rate a Bnnn code stands for (tty_termios_baud_rate's table).
uint32_t BaudOf(uint32_t code) {
  static constexpr uint32_t kLow[] = {0,    50,   75,   110,  134,   150,   200,   300,
                                      600,  1200, 1800, 2400, 4800,  9600,  19200, 38400};
  static constexpr uint32_t kHigh[] = {0,       57600,   115200,  230400,  460800,  500000,
                                       576000,  921600,  1000000, 1152000, 1500000, 2000000,
                                       2500000, 3000000, 3500000, 4000000};
  if (code & CBAUDEX) return kHigh[code & 017];
  return kLow[code & 017];
}

// After TCSETS, c_ispeed and c_ospeed hold the real rates of the Bnnn codes in c_cflag; BOTHER
// (termios2) keeps the rates given.
void FixSpeeds(KernelTermios& t) {
  const uint32_t out = t.c_cflag & CBAUD;
  if (out != kBother) t.c_ospeed = BaudOf(out);
  const uint32_t in = (t.c_cflag >> kIbshift) & CBAUD;
  if (in == 0) {
    t.c_ispeed = t.c_ospeed;
  } else if (in != kBother) {
    t.c_ispeed = BaudOf(in);
  }
}

}  // namespace

// ---- Pty ----

bool Pty::locked() {
  absl::MutexLock l(&mu_);
  return locked_;
}

void Pty::NotifyLocked(EventMask events) {
  master_q_.Notify(events);
  replica_q_.Notify(events);
}

void Pty::Deliver(Task& t, const LineDiscipline::Effects& fx) { Deliver(&t.kernel(), fx); }

void Pty::Deliver(kernel::Kernel* k, const LineDiscipline::Effects& fx) {
  if (!k) return;
  for (int sig : {SIGINT, SIGQUIT, SIGTSTP}) {
    if (fx.signals & (1u << sig)) kernel::SignalForeground(*k, *this, sig);
  }
}

Result<void> Pty::ReplicaOpened() {
  absl::MutexLock l(&mu_);
  if (locked_ || hung_up_) return Errno(EIO);
  replicas_++;
  other_closed_ = false;
  NotifyLocked(kEventOut);
  return Ok();
}

void Pty::ReplicaClosed() {
  absl::MutexLock l(&mu_);
  if (--replicas_ == 0) {
    other_closed_ = true;
    NotifyLocked(kEventHup | kEventIn);
  }
}

void Pty::MasterClosed() {
  {
    absl::MutexLock l(&mu_);
    hung_up_ = true;
    NotifyLocked(kEventHup | kEventErr | kEventIn | kEventOut);
  }
  devpts_->Remove(index_);
  kernel::Hangup(*this);
}

Result<size_t> Pty::MasterReadNow(std::span<uint8_t> dst) {
  if (dst.empty()) return size_t{0};
  absl::MutexLock l(&mu_);
  if (packet_ && packet_status_) {
    dst[0] = packet_status_;
    packet_status_ = 0;
    return size_t{1};
  }
  if (ldisc_.OutputQueued()) {
    size_t n = 0;
    if (packet_) dst[n++] = TIOCPKT_DATA;
    n += ldisc_.ReadOutput(dst.subspan(n));
    NotifyLocked(kEventOut | kEventWrNorm);
    return n;
  }
  if (other_closed_) return Errno(EIO);
  return Errno(EAGAIN);
}

Result<size_t> Pty::MasterRead(Task& t, std::span<uint8_t> dst, bool nonblock) {
  std::optional<kernel::WaiterRegistration> reg;
  for (;;) {
    Result<size_t> got = MasterReadNow(dst);
    if (got.ok() || got.error().value() != EAGAIN || nonblock) return got;
    if (!reg) {
      reg.emplace(master_q_, &t, kEventIn | kEventHup);
      continue;
    }
    Result<void> r = t.Block();
    if (!r.ok()) return Interrupted(r.error(), 0);
  }
}

Result<size_t> Pty::MasterWrite(Task& t, std::span<const uint8_t> src, bool nonblock) {
  if (src.empty()) return size_t{0};
  std::optional<kernel::WaiterRegistration> reg;
  size_t done = 0;
  for (;;) {
    done += ReceiveInput(src.subspan(done), &t.kernel());
    if (done == src.size()) return done;
    if (nonblock) {
      if (done) return done;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(master_q_, &t, kEventOut);
      continue;
    }
    Result<void> r = t.Block();
    if (!r.ok()) return Interrupted(r.error(), done);
  }
}

size_t Pty::ReceiveInput(std::span<const uint8_t> src, kernel::Kernel* k) {
  LineDiscipline::Effects fx;
  size_t n;
  {
    absl::MutexLock l(&mu_);
    n = master_stopped_ ? 0 : ldisc_.Receive(src, fx);
    // Input may also have started or stopped output (IXON) and echoed.
    if (n) NotifyLocked(kEventIn | kEventOut | kEventRdNorm | kEventWrNorm);
  }
  Deliver(k, fx);
  return n;
}

Result<size_t> Pty::MasterWriteNow(std::span<const uint8_t> src) {
  if (src.empty()) return size_t{0};
  size_t n = ReceiveInput(src, kernel());
  if (n == 0) return Errno(EAGAIN);
  return n;
}

void Pty::SetWindowSize(const winsize& ws) {
  bool changed;
  {
    absl::MutexLock l(&mu_);
    changed = std::memcmp(&ws, &winsize_, sizeof(ws)) != 0;
    winsize_ = ws;
  }
  kernel::Kernel* k = kernel();
  if (changed && k) kernel::SignalForeground(*k, *this, SIGWINCH);
}

winsize Pty::WindowSize() {
  absl::MutexLock l(&mu_);
  return winsize_;
}

void Pty::Unlock() {
  absl::MutexLock l(&mu_);
  locked_ = false;
}

EventMask Pty::MasterReadiness(EventMask mask) {
  absl::MutexLock l(&mu_);
  EventMask ready = 0;
  if (ldisc_.OutputQueued() || (packet_ && packet_status_)) ready |= kEventIn | kEventRdNorm;
  if (packet_ && packet_status_) ready |= kEventPri;
  if (ldisc_.InputHasRoom() && !master_stopped_) ready |= kEventOut | kEventWrNorm;
  if (other_closed_) ready |= kEventHup;
  return ready & (mask | kEventErr | kEventHup);
}

Result<size_t> Pty::ReplicaRead(Task& t, std::span<uint8_t> dst, bool nonblock) {
  {
    absl::MutexLock l(&mu_);
    if (hung_up_) return size_t{0};
  }
  TRY(kernel::CheckJobControl(t, *this, SIGTTIN));

  // n_tty_read's rules: canonical mode returns a line; otherwise MIN bytes, with TIME as an
  // overall timeout when MIN is 0 and as an inter-byte timer once data came when it is not.
  bool canonical;
  size_t minimum = 0;
  std::optional<absl::Duration> timeout;   // none: wait for ever
  std::optional<absl::Duration> interbyte;
  {
    absl::MutexLock l(&mu_);
    const KernelTermios& tio = ldisc_.termios();
    canonical = tio.c_lflag & ICANON;
    if (!canonical) {
      const absl::Duration time = absl::Milliseconds(100) * tio.c_cc[VTIME];
      minimum = tio.c_cc[VMIN];
      if (minimum) {
        if (tio.c_cc[VTIME]) interbyte = time;
      } else {
        timeout = time;
        minimum = 1;
      }
    }
  }
  std::optional<absl::Time> deadline;
  if (timeout) deadline = absl::Now() + *timeout;

  std::optional<kernel::WaiterRegistration> reg;
  size_t done = 0;
  while (done < dst.size()) {
    LineDiscipline::Effects fx;
    bool got = false;
    bool finished = false;
    {
      absl::MutexLock l(&mu_);
      // The master closed while this read was under way (TTY_OTHER_CLOSED); reads that start
      // after the hang-up see end of file above.
      if (hung_up_) {
        if (done) break;
        return Errno(EIO);
      }
      if (ldisc_.InputAvailable(false)) {
        size_t n = ldisc_.Read(dst.subspan(done), fx);
        done += n;
        got = true;
        NotifyLocked(kEventOut | kEventWrNorm);
        finished = canonical || done >= minimum;
      }
    }
    Deliver(t, fx);
    if (finished) break;
    if (got) {
      if (interbyte) deadline = absl::Now() + *interbyte;
      continue;
    }
    if (deadline && *deadline <= absl::Now()) break;
    if (nonblock) {
      if (done) break;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(replica_q_, &t, kEventIn | kEventHup);
      continue;
    }
    Result<void> r = t.Block(deadline);
    if (!r.ok()) {
      if (r.error().value() == ETIMEDOUT) break;
      return Interrupted(r.error(), done);
    }
  }
  return done;
}

Result<size_t> Pty::ReplicaWrite(Task& t, std::span<const uint8_t> src, bool nonblock) {
  bool tostop;
  {
    absl::MutexLock l(&mu_);
    if (hung_up_) return Errno(EIO);
    tostop = ldisc_.termios().c_lflag & TOSTOP;
  }
  if (tostop) TRY(kernel::CheckJobControl(t, *this, SIGTTOU));
  if (src.empty()) return size_t{0};
  std::optional<kernel::WaiterRegistration> reg;
  size_t done = 0;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (hung_up_) {
        if (done) return done;
        return Errno(EIO);
      }
      size_t n = ldisc_.Write(src.subspan(done));
      done += n;
      if (n) NotifyLocked(kEventIn | kEventRdNorm);
    }
    if (done == src.size()) return done;
    if (nonblock) {
      if (done) return done;
      return Errno(EAGAIN);
    }
    if (!reg) {
      reg.emplace(replica_q_, &t, kEventOut | kEventHup);
      continue;
    }
    Result<void> r = t.Block();
    if (!r.ok()) return Interrupted(r.error(), done);
  }
}

EventMask Pty::ReplicaReadiness(EventMask mask) {
  absl::MutexLock l(&mu_);
  if (hung_up_) {
    // hung_up_tty_poll.
    return (kEventIn | kEventOut | kEventErr | kEventHup | kEventRdNorm | kEventWrNorm) &
           (mask | kEventErr | kEventHup);
  }
  EventMask ready = 0;
  if (ldisc_.InputAvailable(true)) ready |= kEventIn | kEventRdNorm;
  if (ldisc_.OutputHasRoom()) ready |= kEventOut | kEventWrNorm;
  return ready & (mask | kEventErr | kEventHup);
}

Result<long> Pty::SetTermios(Task& t, uint64_t cmd, UserAddr arg) {
  TRY(kernel::CheckJobControl(t, *this, SIGTTOU));
  const bool v2 = cmd == kTcsets2 || cmd == kTcsetsw2 || cmd == kTcsetsf2;
  KernelTermios tio{};
  {
    absl::MutexLock l(&mu_);
    tio = ldisc_.termios();
  }
  RETURN_IF_ERRNO(t.CopyIn(arg, &tio, v2 ? sizeof(KernelTermios) : kTermiosSize));
  FixSpeeds(tio);
  LineDiscipline::Effects fx;
  {
    absl::MutexLock l(&mu_);
    // A pty has no output in flight, so TCSETSW has nothing to wait for; TCSETSF also drops the
    // input.
    if (cmd == TCSETSF || cmd == kTcsetsf2) ldisc_.FlushInput();
    ldisc_.SetTermios(tio, fx);
    NotifyLocked(kEventIn | kEventOut | kEventRdNorm | kEventWrNorm);
  }
  Deliver(t, fx);
  return 0;
}

Result<long> Pty::Flush(Task& t, bool master, long arg) {
  if (!master) TRY(kernel::CheckJobControl(t, *this, SIGTTOU));
  if (arg != TCIFLUSH && arg != TCOFLUSH && arg != TCIOFLUSH) return Errno(EINVAL);
  const bool in = arg == TCIFLUSH || arg == TCIOFLUSH;
  const bool out = arg == TCOFLUSH || arg == TCIOFLUSH;
  absl::MutexLock l(&mu_);
  // Each end's input is what it reads: the replica's is the line discipline's input, the
  // master's its output. Flushing what an end wrote drops only what is still in flight (Linux's
  // flip buffer), not what the other end's read buffer holds.
  if (master) {
    if (in) ldisc_.FlushOutput();
    if (out) ldisc_.FlushPending();
  } else {
    if (in) ldisc_.FlushInput();
    if (out) ldisc_.FlushOutputInFlight();
    if (packet_) {
      if (in) packet_status_ |= TIOCPKT_FLUSHREAD;
      if (out) packet_status_ |= TIOCPKT_FLUSHWRITE;
    }
  }
  NotifyLocked(kEventIn | kEventOut | kEventPri | kEventRdNorm | kEventWrNorm);
  return 0;
}

Result<long> Pty::Ioctl(Task& t, bool master, bool readable, uint64_t cmd, UserAddr arg) {
  if (!master) {
    absl::MutexLock l(&mu_);
    // hung_up_tty_ioctl.
    if (hung_up_) return Errno(cmd == TIOCSPGRP ? ENOTTY : EIO);
  }
  switch (cmd) {
    case TCGETS:
    case kTcgets2: {
      KernelTermios tio;
      {
        absl::MutexLock l(&mu_);
        tio = ldisc_.termios();
      }
      RETURN_IF_ERRNO(t.CopyOut(arg, &tio, cmd == kTcgets2 ? sizeof(tio) : kTermiosSize));
      return 0;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF:
    case kTcsets2:
    case kTcsetsw2:
    case kTcsetsf2:
      return SetTermios(t, cmd, arg);
    case TIOCGWINSZ: {
      winsize ws;
      {
        absl::MutexLock l(&mu_);
        ws = winsize_;
      }
      RETURN_IF_ERRNO(t.CopyOutObj(arg, ws));
      return 0;
    }
    case TIOCSWINSZ: {
      winsize ws = TRY(t.CopyInObj<winsize>(arg));
      bool changed;
      {
        absl::MutexLock l(&mu_);
        changed = std::memcmp(&ws, &winsize_, sizeof(ws)) != 0;
        winsize_ = ws;
      }
      if (changed) kernel::SignalForeground(t.kernel(), *this, SIGWINCH);
      return 0;
    }
    case FIONREAD: {
      int n;
      {
        absl::MutexLock l(&mu_);
        n = static_cast<int>(master ? ldisc_.OutputQueued() : ldisc_.InputReadable());
      }
      RETURN_IF_ERRNO(t.CopyOutObj(arg, n));
      return 0;
    }
    case TIOCOUTQ:
      // What a pty writes is at the other end at once.
      RETURN_IF_ERRNO(t.CopyOutObj(arg, 0));
      return 0;
    case TCFLSH:
      return Flush(t, master, static_cast<long>(arg.value()));
    case TCXONC: {
      if (!master) TRY(kernel::CheckJobControl(t, *this, SIGTTOU));
      const long action = static_cast<long>(arg.value());
      absl::MutexLock l(&mu_);
      // Each end stops and starts its own output.
      switch (action) {
        case TCOOFF:
          if (master) {
            master_stopped_ = true;
          } else {
            ldisc_.set_stopped(true);
          }
          break;
        case TCOON:
          if (master) {
            master_stopped_ = false;
          } else {
            ldisc_.set_stopped(false);
          }
          break;
        case TCIOFF:
        case TCION:
          // TODO(#3): sending STOP/START to the other end.
          break;
        default:
          return Errno(EINVAL);
      }
      NotifyLocked(kEventIn | kEventOut);
      return 0;
    }
    case TCSBRK:
    case TCSBRKP:
      // tcdrain and tcsendbreak: a pty has nothing in flight and no line to break.
      if (!master) TRY(kernel::CheckJobControl(t, *this, SIGTTOU));
      return 0;
    case TIOCSCTTY:
      TRY(kernel::SetControllingTerminal(t, RefPtr<kernel::Terminal>(this),
                                         static_cast<long>(arg.value()), readable));
      return 0;
    case TIOCNOTTY:
      // Only the replica itself can be a controlling terminal to give up.
      if (master) return Errno(ENOTTY);
      TRY(kernel::ReleaseControllingTerminal(t, *this));
      return 0;
    case TIOCGPGRP: {
      pid_t pgrp = TRY(kernel::ForegroundGroup(t, *this, master));
      RETURN_IF_ERRNO(t.CopyOutObj(arg, pgrp));
      return 0;
    }
    case TIOCSPGRP: {
      Result<void> r = kernel::CheckJobControl(t, *this, SIGTTOU);
      if (!r.ok()) return Errno(r.error().value() == EIO ? ENOTTY : r.error().value());
      pid_t pgrp = TRY(t.CopyInObj<pid_t>(arg));
      TRY(kernel::SetForegroundGroup(t, *this, pgrp));
      return 0;
    }
    case TIOCGSID: {
      pid_t sid = TRY(kernel::TerminalSession(t, *this, master));
      RETURN_IF_ERRNO(t.CopyOutObj(arg, sid));
      return 0;
    }
    case TIOCGETD:
      RETURN_IF_ERRNO(t.CopyOutObj(arg, 0));  // N_TTY, the only line discipline
      return 0;
    case TIOCSETD: {
      int ldisc = TRY(t.CopyInObj<int>(arg));
      return ldisc == 0 ? Result<long>(0) : Result<long>(Errno(EINVAL));
    }
    default:
      return Errno(ENOTTY);
  }
}

Result<long> Pty::MasterIoctl(Task& t, uint64_t cmd, UserAddr arg) {
  switch (cmd) {
    case TIOCGPTN: {
      unsigned n = index_;
      RETURN_IF_ERRNO(t.CopyOutObj(arg, n));
      return 0;
    }
    case TIOCSPTLCK: {
      int lock = TRY(t.CopyInObj<int>(arg));
      absl::MutexLock l(&mu_);
      locked_ = lock != 0;
      return 0;
    }
    case TIOCGPTLCK: {
      int lock;
      {
        absl::MutexLock l(&mu_);
        lock = locked_;
      }
      RETURN_IF_ERRNO(t.CopyOutObj(arg, lock));
      return 0;
    }
    case TIOCPKT: {
      int on = TRY(t.CopyInObj<int>(arg));
      absl::MutexLock l(&mu_);
      if (on && !packet_) packet_status_ = 0;
      packet_ = on != 0;
      return 0;
    }
    case TIOCGPKT: {
      int on;
      {
        absl::MutexLock l(&mu_);
        on = packet_;
      }
      RETURN_IF_ERRNO(t.CopyOutObj(arg, on));
      return 0;
    }
    case TIOCSIG: {
      const long sig = static_cast<long>(arg.value());
      if (sig != SIGINT && sig != SIGQUIT && sig != SIGTSTP) return Errno(EINVAL);
      kernel::SignalForeground(t.kernel(), *this, static_cast<int>(sig));
      return 0;
    }
    default:
      return Errno(ENOTTY);
  }
}

// ---- PtyMaster ----

PtyMaster::PtyMaster(int flags, vfs::Path path, RefPtr<Pty> pty)
    : FileDescription(flags, std::move(path)), pty_(std::move(pty)) {}

PtyMaster::~PtyMaster() { pty_->MasterClosed(); }

Result<void> PtyMaster::WaitOpen(Task& t) {
  pty_->set_kernel(&t.kernel());
  Devpts::Get().SetOwner(pty_->index(), t.creds()->fsuid);
  return Ok();
}

Result<size_t> PtyMaster::Read(Task& t, std::span<uint8_t> dst) {
  return pty_->MasterRead(t, dst, flags() & O_NONBLOCK);
}

Result<size_t> PtyMaster::Write(Task& t, std::span<const uint8_t> src) {
  return pty_->MasterWrite(t, src, flags() & O_NONBLOCK);
}

kernel::EventMask PtyMaster::Readiness(kernel::EventMask mask) {
  return pty_->MasterReadiness(mask);
}

Result<long> PtyMaster::Ioctl(Task& t, uint64_t cmd, UserAddr arg) {
  if (cmd == TIOCGPTPEER) return OpenPeer(t, static_cast<int>(arg.value()));
  Result<long> r = pty_->MasterIoctl(t, cmd, arg);
  if (r.ok() || r.error().value() != ENOTTY) return r;
  return pty_->Ioctl(t, /*master=*/true, readable(), cmd, arg);
}

Result<long> PtyMaster::OpenPeer(Task& t, int flags) {
  flags &= kPeerFlags;
  // The devpts mount is known when the master was opened through it (/dev/pts/ptmx).
  RefPtr<vfs::Mount> mount;
  if (path().mount && path().mount->root() == Devpts::Get().root()) mount = path().mount;
  vfs::Path path = TRY(Devpts::Get().ReplicaPath(*pty_, mount));
  TRY(pty_->ReplicaOpened());
  auto f = MakeRef<PtyReplica>(flags, std::move(path), pty_, false);
  TRY(f->WaitOpen(t));
  const uint64_t limit = t.thread_group().GetRlimit(RLIMIT_NOFILE).rlim_cur;
  return TRY(t.fds().Add(RefPtr<vfs::FileDescription>(std::move(f)), flags & O_CLOEXEC, 0, limit));
}

// ---- PtyReplica ----

PtyReplica::PtyReplica(int open_flags, vfs::Path path, RefPtr<Pty> pty, bool dev_tty)
    : FileDescription(open_flags, std::move(path)),
      pty_(std::move(pty)),
      noctty_(open_flags & O_NOCTTY),
      dev_tty_(dev_tty) {}

PtyReplica::~PtyReplica() {
  if (pty_) pty_->ReplicaClosed();
}

Result<void> PtyReplica::WaitOpen(Task& t) {
  if (dev_tty_) {
    if (pty_) return Ok();
    RefPtr<kernel::Terminal> ctty = kernel::ControllingTerminal(t);
    auto* pty = dynamic_cast<Pty*>(ctty.get());
    if (!pty) return Errno(ENXIO);
    TRY(pty->ReplicaOpened());
    pty_ = RefPtr<Pty>(pty);
    return Ok();
  }
  pty_->set_kernel(&t.kernel());
  if (!noctty_) kernel::AcquireOnOpen(t, pty_, readable());
  return Ok();
}

Result<size_t> PtyReplica::Read(Task& t, std::span<uint8_t> dst) {
  if (!pty_) return Errno(EIO);
  return pty_->ReplicaRead(t, dst, flags() & O_NONBLOCK);
}

Result<size_t> PtyReplica::Write(Task& t, std::span<const uint8_t> src) {
  if (!pty_) return Errno(EIO);
  return pty_->ReplicaWrite(t, src, flags() & O_NONBLOCK);
}

kernel::EventMask PtyReplica::Readiness(kernel::EventMask mask) {
  if (!pty_) return kEventErr;
  return pty_->ReplicaReadiness(mask);
}

Result<long> PtyReplica::Ioctl(Task& t, uint64_t cmd, UserAddr arg) {
  if (!pty_) return Errno(EIO);
  // TIOCGPTPEER on a replica: Linux's ptm_open_peer refuses anything but a master.
  if (cmd == TIOCGPTPEER) return Errno(EIO);
  return pty_->Ioctl(t, /*master=*/false, readable(), cmd, arg);
}

}  // namespace moat::fsimpl
