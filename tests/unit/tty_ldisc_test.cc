// Unit tests of the line discipline alone: editing, echo and translation cases that are awkward
// to reach through a real terminal.
#include "sentry/fsimpl/tty_ldisc.h"

#include <signal.h>
#include <termios.h>

#include <string>

#include <gtest/gtest.h>

namespace moat::fsimpl {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class LdiscTest : public ::testing::Test {
 protected:
  size_t Input(const std::string& s) { return ld_.Receive(Bytes(s), fx_); }
  std::string ReadInput(size_t max = 256) {
    std::string out(max, '\0');
    size_t n = ld_.Read({reinterpret_cast<uint8_t*>(out.data()), max}, fx_);
    out.resize(n);
    return out;
  }
  std::string Output() {
    std::string out(ld_.OutputQueued(), '\0');
    ld_.ReadOutput({reinterpret_cast<uint8_t*>(out.data()), out.size()});
    return out;
  }
  void Set(uint32_t lflag_on, uint32_t lflag_off, uint32_t oflag = OPOST | ONLCR) {
    KernelTermios t = ld_.termios();
    t.c_lflag = (t.c_lflag | lflag_on) & ~lflag_off;
    t.c_oflag = oflag;
    ld_.SetTermios(t, fx_);
  }

  LineDiscipline ld_;
  LineDiscipline::Effects fx_;
};

TEST_F(LdiscTest, LineIsReadableOnlyWhenComplete) {
  EXPECT_EQ(Input("abc"), 3u);
  EXPECT_FALSE(ld_.InputAvailable(false));
  EXPECT_EQ(ld_.InputReadable(), 0u);
  Input("\n");
  EXPECT_TRUE(ld_.InputAvailable(false));
  EXPECT_EQ(ld_.InputReadable(), 4u);
  EXPECT_EQ(ReadInput(), "abc\n");
  EXPECT_EQ(Output(), "abc\r\n");
}

TEST_F(LdiscTest, EraseTabGoesBackToTheTabStop) {
  Input("ab\t\177\n");
  EXPECT_EQ(ReadInput(), "ab\n");
  // "ab" then a tab to column 8; erasing the tab backs up 6 columns.
  EXPECT_EQ(Output(), "ab\t\b\b\b\b\b\b\r\n");
}

TEST_F(LdiscTest, EraseControlCharacterTakesTwoColumns) {
  Input("a\001\177\n");
  EXPECT_EQ(ReadInput(), "a\n");
  EXPECT_EQ(Output(), "a^A\b \b\b \b\r\n");
}

TEST_F(LdiscTest, LiteralNext) {
  // ^V makes the following ^U (KILL) an ordinary character.
  Input("a\026\025b\n");
  EXPECT_EQ(ReadInput(), "a\025b\n");
  EXPECT_EQ(Output(), "a^\b^Ub\r\n");
}

TEST_F(LdiscTest, Reprint) {
  Input("ab\022");
  EXPECT_EQ(Output(), "ab^R\r\nab");
}

TEST_F(LdiscTest, EchoprtShowsErasedCharacters) {
  Set(ECHOPRT, ECHOE);
  Input("ab\177\177c\n");
  EXPECT_EQ(ReadInput(), "c\n");
  EXPECT_EQ(Output(), "ab\\ba/c\r\n");
}

TEST_F(LdiscTest, SignalCharactersFlushAndReport) {
  Input("abc\003");
  EXPECT_EQ(fx_.signals, 1u << SIGINT);
  EXPECT_EQ(ld_.InputReadable(), 0u);
  Input("d\n");
  EXPECT_EQ(ReadInput(), "d\n");
  fx_ = {};
  Set(NOFLSH, 0);
  Input("x\034y\n");
  EXPECT_EQ(fx_.signals, 1u << SIGQUIT);
  EXPECT_EQ(ReadInput(), "xy\n");
}

TEST_F(LdiscTest, IxonStopsOutput) {
  Input("\023");
  EXPECT_TRUE(ld_.stopped());
  EXPECT_EQ(ld_.Write(Bytes("x")), 0u);
  Input("\021");
  EXPECT_FALSE(ld_.stopped());
  EXPECT_EQ(ld_.Write(Bytes("x")), 1u);
}

TEST_F(LdiscTest, CanonicalOverflowStillTakesANewline) {
  Set(0, ECHO);
  std::string big(kReadBufSize + 100, 'x');
  EXPECT_EQ(Input(big), big.size());
  Input("\n");
  std::string line;
  for (;;) {
    std::string part = ReadInput(8192);
    line += part;
    if (part.empty() || part.back() == '\n') break;
  }
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_LT(line.size(), kReadBufSize + 1);
}

TEST_F(LdiscTest, NoncanonicalFullBufferHoldsInputBack) {
  Set(0, ICANON | ECHO);
  std::string big(kReadBufSize + 100, 'y');
  EXPECT_EQ(Input(big), big.size());
  EXPECT_EQ(ld_.InputReadable(), kReadBufSize - 1);
  EXPECT_EQ(ReadInput(kReadBufSize).size(), kReadBufSize - 1);
  EXPECT_EQ(ld_.InputReadable(), 101u);
}

TEST_F(LdiscTest, InputQueueIsBounded) {
  Set(0, ICANON | ECHO);
  // The read buffer takes what fits, and the queue in front of it holds the rest.
  std::string big(kInputQueueSize + kReadBufSize + 10, 'z');
  size_t taken = Input(big);
  taken += Input(big.substr(taken));
  EXPECT_EQ(taken, kInputQueueSize + kReadBufSize - 1);
  EXPECT_FALSE(ld_.InputHasRoom());
  EXPECT_EQ(Input("more"), 0u);
}

TEST_F(LdiscTest, OutputProcessing) {
  Set(0, 0, OPOST | ONLCR | XTABS);
  ld_.Write(Bytes("a\tb\n"));
  EXPECT_EQ(Output(), "a       b\r\n");
  Set(0, 0, OPOST | OLCUC | ONOCR);
  ld_.Write(Bytes("\rhi\r"));
  EXPECT_EQ(Output(), "HI\r");
}

TEST_F(LdiscTest, PollWantsMinBytesWithoutTime) {
  KernelTermios t = ld_.termios();
  t.c_lflag &= ~(ICANON | ECHO);
  t.c_cc[VMIN] = 3;
  t.c_cc[VTIME] = 0;
  ld_.SetTermios(t, fx_);
  Input("ab");
  EXPECT_TRUE(ld_.InputAvailable(false));
  EXPECT_FALSE(ld_.InputAvailable(true));
  Input("c");
  EXPECT_TRUE(ld_.InputAvailable(true));
}

}  // namespace
}  // namespace moat::fsimpl
