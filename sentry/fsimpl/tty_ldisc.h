// The terminal line discipline (Linux's n_tty): termios, input processing (translation, canonical
// line editing, echo, signal characters, flow control characters) and output processing (OPOST).
//
// A pseudo-terminal has one LineDiscipline, shared by its two ends: what the master writes is
// input, which the replica reads; what the replica writes is output, which the master reads.
// Echo goes to the output. Both directions have a bounded queue, so writers block when the
// reader falls behind.
//
// A LineDiscipline is plain data with no lock and no notion of tasks: its owner (Pty, pty.h)
// guards it with its own mutex, does the blocking and waking, and delivers the signals that
// input processing asks for (Effects).
#ifndef MOAT_SENTRY_FSIMPL_TTY_LDISC_H_
#define MOAT_SENTRY_FSIMPL_TTY_LDISC_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>

namespace moat::fsimpl {

// The kernel's struct termios2 (asm-generic/termbits.h). Its first 36 bytes are struct termios,
// what TCGETS/TCSETS copy; TCGETS2/TCSETS2 copy it all.
struct KernelTermios {
  uint32_t c_iflag;
  uint32_t c_oflag;
  uint32_t c_cflag;
  uint32_t c_lflag;
  uint8_t c_line;
  uint8_t c_cc[19];
  uint32_t c_ispeed;
  uint32_t c_ospeed;
};
inline constexpr size_t kTermiosSize = 36;
static_assert(sizeof(KernelTermios) == 44);

// A replica's settings when a pseudo-terminal is allocated (tty_std_termios, with the pty
// driver's c_cflag).
KernelTermios DefaultTermios();

inline constexpr size_t kReadBufSize = 4096;      // N_TTY_BUF_SIZE: the replica's read buffer
inline constexpr size_t kInputQueueSize = 65536;  // unprocessed input (the tty flip buffer)
inline constexpr size_t kOutputQueueSize = 16384;  // what the master has yet to read

class LineDiscipline {
 public:
  // What processing input asked of the owner.
  struct Effects {
    uint32_t signals = 0;  // a bit per signal (1u << sig) for the foreground process group
  };

  LineDiscipline();

  const KernelTermios& termios() const { return termios_; }
  // TCSETS and friends. Turning ICANON off makes a partial line readable; turning it on makes
  // what is buffered one line. Input held back for lack of room is processed under the new
  // settings.
  void SetTermios(const KernelTermios& t, Effects& fx);

  // ---- Input: the master writes, the replica reads ----

  // Queues what the master wrote and processes what fits in the read buffer. Returns how many
  // bytes were taken: fewer than `src.size()` (maybe 0) when the input queue is full.
  size_t Receive(std::span<const uint8_t> src, Effects& fx);
  // Whether a read of the replica would return data now: a complete line in canonical mode, a
  // byte otherwise. For poll, non-canonical mode with TIME 0 wants MIN bytes (as n_tty_poll).
  bool InputAvailable(bool for_poll) const;
  // Copies out what a read(2) takes in one go: up to the end of the first line in canonical
  // mode (an EOF character ends the line but is not copied), anything otherwise. Processes input
  // that was held back for lack of room.
  size_t Read(std::span<uint8_t> dst, Effects& fx);
  // FIONREAD on the replica: readable bytes (canonical: complete lines, without EOF marks).
  size_t InputReadable() const;
  // Whether the master may write more (the input queue has room).
  bool InputHasRoom() const { return pending_.size() < kInputQueueSize; }
  // TCIFLUSH on the replica (or TCOFLUSH on the master): drops buffered and held-back input.
  void FlushInput();
  // TCOFLUSH on the master: drops only input not processed yet.
  void FlushPending() { pending_.clear(); }

  // ---- Output: the replica writes, the master reads ----

  // Processes (OPOST) and queues what the replica wrote; returns how many bytes of `src` were
  // taken (0 when the output queue is full or output is stopped).
  size_t Write(std::span<const uint8_t> src);
  size_t ReadOutput(std::span<uint8_t> dst);
  size_t OutputQueued() const { return out_.size(); }
  bool OutputHasRoom() const { return !stopped_ && out_.size() < kOutputQueueSize; }
  // TCIFLUSH on the master: drops everything it has not read.
  void FlushOutput() { out_.clear(); }
  // TCOFLUSH on the replica, and the flush of a signal character: Linux drops only what is still
  // on its way to the master (its flip buffer), not what the master's own read buffer holds.
  void FlushOutputInFlight() {
    if (out_.size() > kReadBufSize - 1) out_.resize(kReadBufSize - 1);
  }

  // Flow control: ^S/^Q under IXON, and TCXONC's TCOOFF/TCOON.
  bool stopped() const { return stopped_; }
  void set_stopped(bool s) { stopped_ = s; }

 private:
  // One byte of the read buffer, and whether it ends a line (canonical mode) or is an EOF mark
  // (ends a line without being read).
  struct Slot {
    uint8_t c;
    bool delim;
    bool eof;
  };

  bool L(uint32_t flag) const { return termios_.c_lflag & flag; }
  bool I(uint32_t flag) const { return termios_.c_iflag & flag; }
  bool O(uint32_t flag) const { return termios_.c_oflag & flag; }
  // Whether `c` is the control character at `index` (a 0 there disables it).
  bool Is(uint8_t c, int index) const {
    return termios_.c_cc[index] != 0 && c == termios_.c_cc[index];
  }
  bool Canonical() const;
  // Whether n_tty handles `c` specially under the current settings (its char_map).
  bool IsSpecial(uint8_t c) const;
  bool IsContinuation(uint8_t c) const;

  // Moves held-back input into the read buffer while it has room.
  void ProcessPending(Effects& fx);
  // Processes one input byte; false if it must wait for room.
  bool ReceiveChar(uint8_t c, Effects& fx);
  void ReceivePlain(uint8_t c);
  void ReceiveSignalChar(int sig, uint8_t c, Effects& fx);
  void EndLine(uint8_t c, bool eof);
  void Erase(uint8_t c);
  void FinishErasing();
  bool ReadBufferFull() const { return buf_.size() >= kReadBufSize - 1; }

  // Echo: straight to the output, through output processing.
  void Echo(uint8_t c);     // as echo_char: control characters as ^X under ECHOCTL
  void EchoRaw(uint8_t c);  // as echo_char_raw
  void EchoEraseTab(size_t tail);
  // Output processing of one byte (do_output_char), appended to the output queue.
  void OutputChar(uint8_t c);

  KernelTermios termios_;
  std::deque<uint8_t> pending_;  // input not processed yet
  std::deque<Slot> buf_;         // processed input
  size_t canon_head_ = 0;        // bytes of buf_ that form complete lines (canonical mode)
  bool lnext_ = false;           // the next byte is literal (VLNEXT)
  bool erasing_ = false;         // ECHOPRT: within \...\/
  std::deque<uint8_t> out_;      // processed output
  size_t column_ = 0;            // output column, for tabs and erasing them
  size_t canon_column_ = 0;      // column where the current line started
  bool stopped_ = false;
};

}  // namespace moat::fsimpl

#endif  // MOAT_SENTRY_FSIMPL_TTY_LDISC_H_
