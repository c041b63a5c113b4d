#include "sentry/fsimpl/tty_ldisc.h"

#include <signal.h>
#include <termios.h>

#include <algorithm>
#include <cctype>

namespace moat::fsimpl {
namespace {

bool IsCntrl(uint8_t c) { return c < 0x20 || c == 0x7f; }
bool IsAlnum(uint8_t c) { return std::isalnum(c) != 0; }

// Echo that cannot be delivered because the master stopped reading is dropped past this.
constexpr size_t kEchoLimit = 2 * kOutputQueueSize;

}  // namespace

KernelTermios DefaultTermios() {
  KernelTermios t{};
  t.c_iflag = ICRNL | IXON;
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = B38400 | CS8 | CREAD;
  t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
  // INIT_C_CC.
  t.c_cc[VINTR] = 003;
  t.c_cc[VQUIT] = 034;
  t.c_cc[VERASE] = 0177;
  t.c_cc[VKILL] = 025;
  t.c_cc[VEOF] = 004;
  t.c_cc[VTIME] = 0;
  t.c_cc[VMIN] = 1;
  t.c_cc[VSTART] = 021;
  t.c_cc[VSTOP] = 023;
  t.c_cc[VSUSP] = 032;
  t.c_cc[VEOL] = 0;
  t.c_cc[VREPRINT] = 022;
  t.c_cc[VDISCARD] = 017;
  t.c_cc[VWERASE] = 027;
  t.c_cc[VLNEXT] = 026;
  t.c_cc[VEOL2] = 0;
  t.c_ispeed = 38400;
  t.c_ospeed = 38400;
  return t;
}

LineDiscipline::LineDiscipline() : termios_(DefaultTermios()) {}

bool LineDiscipline::Canonical() const { return L(ICANON); }

bool LineDiscipline::IsContinuation(uint8_t c) const { return I(IUTF8) && (c & 0xc0) == 0x80; }

bool LineDiscipline::IsSpecial(uint8_t c) const {
  if (c == 0) return false;  // __DISABLED_CHAR
  if (c == '\r' && (I(IGNCR) || I(ICRNL))) return true;
  if (c == '\n' && I(INLCR)) return true;
  if (Canonical()) {
    if (Is(c, VERASE) || Is(c, VKILL) || Is(c, VEOF) || c == '\n' || Is(c, VEOL)) return true;
    if (L(IEXTEN) && (Is(c, VWERASE) || Is(c, VLNEXT) || Is(c, VEOL2))) return true;
    if (L(IEXTEN) && L(ECHO) && Is(c, VREPRINT)) return true;
  }
  if (I(IXON) && (Is(c, VSTART) || Is(c, VSTOP))) return true;
  if (L(ISIG) && (Is(c, VINTR) || Is(c, VQUIT) || Is(c, VSUSP))) return true;
  return false;
}

void LineDiscipline::SetTermios(const KernelTermios& t, Effects& fx) {
  const bool was_canonical = Canonical();
  termios_ = t;
  if (was_canonical != Canonical()) {
    // n_tty_set_termios: leaving canonical mode makes everything readable; entering it makes
    // what is buffered a line of its own.
    erasing_ = false;
    lnext_ = false;
    if (Canonical() && !buf_.empty()) buf_.back().delim = true;
    canon_head_ = Canonical() ? buf_.size() : 0;
  }
  if (!I(IXON)) stopped_ = false;
  ProcessPending(fx);
}

// ---- Input ----

size_t LineDiscipline::Receive(std::span<const uint8_t> src, Effects& fx) {
  const size_t room = kInputQueueSize - std::min(kInputQueueSize, pending_.size());
  const size_t n = std::min(src.size(), room);
  pending_.insert(pending_.end(), src.begin(), src.begin() + static_cast<ptrdiff_t>(n));
  ProcessPending(fx);
  return n;
}

void LineDiscipline::ProcessPending(Effects& fx) {
  while (!pending_.empty()) {
    if (!ReceiveChar(pending_.front(), fx)) break;
    pending_.pop_front();
  }
}

bool LineDiscipline::ReceiveChar(uint8_t c, Effects& fx) {
  // A full read buffer waits for the reader, except in canonical mode without a complete line:
  // then nobody could ever read, so editing and line ends go on and other bytes are dropped
  // (n_tty's overflow rule).
  bool overflow = false;
  if (ReadBufferFull()) {
    if (!Canonical() || canon_head_ > 0) return false;
    overflow = true;
  }
  if (I(ISTRIP)) c &= 0x7f;
  if (I(IUCLC) && L(IEXTEN)) c = static_cast<uint8_t>(std::tolower(c));
  if (lnext_) {
    lnext_ = false;
    if (!overflow) ReceivePlain(c);
    return true;
  }
  if (!IsSpecial(c)) {
    if (stopped_ && I(IXON) && I(IXANY)) stopped_ = false;
    if (!overflow) ReceivePlain(c);
    return true;
  }

  // n_tty_receive_char_special.
  if (I(IXON)) {
    if (Is(c, VSTART) && Is(c, VSTOP)) {
      stopped_ = !stopped_;
      return true;
    }
    if (Is(c, VSTART)) {
      stopped_ = false;
      return true;
    }
    if (Is(c, VSTOP)) {
      stopped_ = true;
      return true;
    }
  }
  if (L(ISIG)) {
    if (Is(c, VINTR)) {
      ReceiveSignalChar(SIGINT, c, fx);
      return true;
    }
    if (Is(c, VQUIT)) {
      ReceiveSignalChar(SIGQUIT, c, fx);
      return true;
    }
    if (Is(c, VSUSP)) {
      ReceiveSignalChar(SIGTSTP, c, fx);
      return true;
    }
  }
  if (stopped_ && I(IXON) && I(IXANY)) stopped_ = false;
  if (c == '\r') {
    if (I(IGNCR)) return true;
    if (I(ICRNL)) c = '\n';
  } else if (c == '\n' && I(INLCR)) {
    c = '\r';
  }
  if (Canonical()) {
    if (Is(c, VERASE) || Is(c, VKILL) || (L(IEXTEN) && Is(c, VWERASE))) {
      Erase(c);
      return true;
    }
    if (L(IEXTEN) && Is(c, VLNEXT)) {
      lnext_ = true;
      if (L(ECHO)) {
        FinishErasing();
        if (L(ECHOCTL)) {
          EchoRaw('^');
          EchoRaw('\b');
        }
      }
      return true;
    }
    if (L(IEXTEN) && L(ECHO) && Is(c, VREPRINT)) {
      FinishErasing();
      Echo(c);
      EchoRaw('\n');
      for (size_t i = canon_head_; i < buf_.size(); i++) Echo(buf_[i].c);
      return true;
    }
    if (c == '\n') {
      if (L(ECHO) || L(ECHONL)) EchoRaw('\n');
      EndLine(c, false);
      return true;
    }
    if (Is(c, VEOF)) {
      EndLine(0, true);
      return true;
    }
    if (Is(c, VEOL) || (L(IEXTEN) && Is(c, VEOL2))) {
      if (L(ECHO)) {
        if (canon_head_ == buf_.size()) canon_column_ = column_;
        Echo(c);
      }
      EndLine(c, false);
      return true;
    }
  }
  if (overflow) return true;
  if (L(ECHO)) {
    FinishErasing();
    if (c == '\n') {
      EchoRaw('\n');
    } else {
      if (canon_head_ == buf_.size()) canon_column_ = column_;
      Echo(c);
    }
  }
  if (c == 0377 && I(PARMRK)) buf_.push_back({c, false, false});
  buf_.push_back({c, false, false});
  return true;
}

void LineDiscipline::ReceivePlain(uint8_t c) {
  // n_tty_receive_char.
  if (L(ECHO)) {
    FinishErasing();
    if (canon_head_ == buf_.size()) canon_column_ = column_;
    Echo(c);
  }
  if (c == 0377 && I(PARMRK)) buf_.push_back({c, false, false});
  buf_.push_back({c, false, false});
}

void LineDiscipline::ReceiveSignalChar(int sig, uint8_t c, Effects& fx) {
  fx.signals |= 1u << sig;
  if (!L(NOFLSH)) {
    // isig(): the interrupted input and the output in flight go.
    buf_.clear();
    canon_head_ = 0;
    lnext_ = false;
    erasing_ = false;
    FlushOutputInFlight();
  }
  if (I(IXON)) stopped_ = false;
  if (L(ECHO)) Echo(c);
}

void LineDiscipline::EndLine(uint8_t c, bool eof) {
  buf_.push_back({c, true, eof});
  canon_head_ = buf_.size();
}

void LineDiscipline::FinishErasing() {
  if (erasing_) {
    EchoRaw('/');
    erasing_ = false;
  }
}

void LineDiscipline::Erase(uint8_t c) {
  // eraser() of n_tty.
  if (buf_.size() == canon_head_) return;
  enum { kErase, kWerase, kKill } kind;
  if (Is(c, VERASE)) {
    kind = kErase;
  } else if (Is(c, VWERASE)) {
    kind = kWerase;
  } else {
    if (!L(ECHO)) {
      buf_.resize(canon_head_);
      return;
    }
    if (!L(ECHOK) || !L(ECHOKE) || !L(ECHOE)) {
      buf_.resize(canon_head_);
      FinishErasing();
      Echo(termios_.c_cc[VKILL]);
      if (L(ECHOK)) EchoRaw('\n');
      return;
    }
    kind = kKill;
  }

  int seen_alnums = 0;
  while (buf_.size() > canon_head_) {
    // One character, possibly several bytes of UTF-8.
    size_t head = buf_.size();
    uint8_t ch;
    do {
      head--;
      ch = buf_[head].c;
    } while (IsContinuation(ch) && head > canon_head_);
    if (IsContinuation(ch)) break;  // never erase part of a character
    if (kind == kWerase) {
      if (IsAlnum(ch) || ch == '_') {
        seen_alnums++;
      } else if (seen_alnums) {
        break;
      }
    }
    const size_t cnt = buf_.size() - head;
    if (L(ECHO)) {
      if (L(ECHOPRT)) {
        if (!erasing_) {
          EchoRaw('\\');
          erasing_ = true;
        }
        Echo(ch);
        for (size_t i = 1; i < cnt; i++) EchoRaw(buf_[head + i].c);
      } else if (kind == kErase && !L(ECHOE)) {
        Echo(termios_.c_cc[VERASE]);
      } else if (ch == '\t') {
        buf_.resize(head);
        EchoEraseTab(head);
        if (kind == kErase) break;
        continue;
      } else {
        if (IsCntrl(ch) && L(ECHOCTL)) {
          EchoRaw('\b');
          EchoRaw(' ');
          EchoRaw('\b');
        }
        if (!IsCntrl(ch) || L(ECHOCTL)) {
          EchoRaw('\b');
          EchoRaw(' ');
          EchoRaw('\b');
        }
      }
    }
    buf_.resize(head);
    if (kind == kErase) break;
  }
  if (buf_.size() == canon_head_ && L(ECHO)) FinishErasing();
}

void LineDiscipline::EchoEraseTab(size_t tail) {
  // How far back the tab reached: the columns used since the previous tab, or since the start
  // of the line (offset by the column the line started at).
  size_t num_chars = 0;
  bool after_tab = false;
  while (tail > canon_head_) {
    tail--;
    uint8_t c = buf_[tail].c;
    if (c == '\t') {
      after_tab = true;
      break;
    }
    if (IsCntrl(c)) {
      if (L(ECHOCTL)) num_chars += 2;
    } else if (!IsContinuation(c)) {
      num_chars++;
    }
  }
  if (!after_tab) num_chars += canon_column_;
  size_t num_bs = 8 - (num_chars & 7);
  while (num_bs--) {
    out_.push_back('\b');
    if (column_ > 0) column_--;
  }
}

bool LineDiscipline::InputAvailable(bool for_poll) const {
  if (Canonical()) return canon_head_ > 0;
  size_t amt = 1;
  if (for_poll && termios_.c_cc[VTIME] == 0 && termios_.c_cc[VMIN] != 0) amt = termios_.c_cc[VMIN];
  return buf_.size() >= amt;
}

size_t LineDiscipline::Read(std::span<uint8_t> dst, Effects& fx) {
  size_t n = 0;
  if (Canonical()) {
    // canon_copy_from_read_buf: up to and including the first delimiter.
    while (n < dst.size() && canon_head_ > 0) {
      Slot s = buf_.front();
      if (s.delim && s.eof) {
        // Ends the line without being read: a read of an empty line returns 0, end of file.
        buf_.pop_front();
        canon_head_--;
        break;
      }
      dst[n++] = s.c;
      buf_.pop_front();
      canon_head_--;
      if (s.delim) break;
    }
  } else {
    while (n < dst.size() && !buf_.empty()) {
      dst[n++] = buf_.front().c;
      buf_.pop_front();
    }
  }
  ProcessPending(fx);
  return n;
}

size_t LineDiscipline::InputReadable() const {
  if (!Canonical()) return buf_.size();
  size_t n = 0;
  for (size_t i = 0; i < canon_head_; i++) {
    if (!(buf_[i].delim && buf_[i].eof)) n++;
  }
  return n;
}

void LineDiscipline::FlushInput() {
  pending_.clear();
  buf_.clear();
  canon_head_ = 0;
  lnext_ = false;
  erasing_ = false;
}

// ---- Output ----

void LineDiscipline::Echo(uint8_t c) {
  if (L(ECHOCTL) && IsCntrl(c) && c != '\t') {
    // Shown as ^X, as process_echoes does with ECHO_OP_START.
    if (out_.size() >= kEchoLimit) return;
    out_.push_back('^');
    out_.push_back(c ^ 0100);
    column_ += 2;
    return;
  }
  EchoRaw(c);
}

void LineDiscipline::EchoRaw(uint8_t c) {
  if (out_.size() >= kEchoLimit) return;
  if (O(OPOST)) {
    OutputChar(c);
  } else {
    out_.push_back(c);
  }
}

void LineDiscipline::OutputChar(uint8_t c) {
  // do_output_char of n_tty.
  switch (c) {
    case '\n':
      if (O(ONLRET)) column_ = 0;
      if (O(ONLCR)) {
        canon_column_ = column_ = 0;
        out_.push_back('\r');
        out_.push_back('\n');
        return;
      }
      canon_column_ = column_;
      break;
    case '\r':
      if (O(ONOCR) && column_ == 0) return;
      if (O(OCRNL)) {
        c = '\n';
        if (O(ONLRET)) canon_column_ = column_ = 0;
        break;
      }
      canon_column_ = column_ = 0;
      break;
    case '\t': {
      size_t spaces = 8 - (column_ & 7);
      column_ += spaces;
      if ((termios_.c_oflag & TABDLY) == XTABS) {
        out_.insert(out_.end(), spaces, ' ');
        return;
      }
      break;
    }
    case '\b':
      if (column_ > 0) column_--;
      break;
    default:
      if (!IsCntrl(c)) {
        if (O(OLCUC)) c = static_cast<uint8_t>(std::toupper(c));
        if (!IsContinuation(c)) column_++;
      }
      break;
  }
  out_.push_back(c);
}

size_t LineDiscipline::Write(std::span<const uint8_t> src) {
  size_t n = 0;
  while (n < src.size() && OutputHasRoom()) {
    if (O(OPOST)) {
      OutputChar(src[n]);
    } else {
      out_.push_back(src[n]);
    }
    n++;
  }
  return n;
}

size_t LineDiscipline::ReadOutput(std::span<uint8_t> dst) {
  size_t n = std::min(dst.size(), out_.size());
  std::copy_n(out_.begin(), n, dst.begin());
  out_.erase(out_.begin(), out_.begin() + static_cast<ptrdiff_t>(n));
  return n;
}

}  // namespace moat::fsimpl
