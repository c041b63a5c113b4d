// A small binary wire format for messages between runsc's own processes: the gofer protocol
// (gofer/protocol.h) and the control socket of a sandbox (runsc/control.h). Both ends are ours,
// but neither trusts the other: every decode is checked.
//
// A message is a Header (its type and total length), then the fields of its body in the order
// the body's Visit() lists them, little-endian as on x86-64: integers as themselves, a string as
// a u32 length and its bytes, a list as a u32 count and its elements, a struct as its own fields.
//
// Transport: SOCK_SEQPACKET, so a message arrives whole or not at all. Host fds travel beside a
// message with SCM_RIGHTS.
#ifndef MOAT_BASE_WIRE_H_
#define MOAT_BASE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/errno.h"
#include "base/file_descriptor.h"

namespace moat::wire {

struct Header {
  uint32_t type;
  uint32_t length;  // of the whole message, header included
};

class Encoder {
 public:
  explicit Encoder(uint32_t type) : buf_(sizeof(Header)) {
    Header h{type, 0};
    std::memcpy(buf_.data(), &h, sizeof(h));
  }
  template <class T>
  Encoder& operator()(const T& value) {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      Append(&value, sizeof(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
      (*this)(static_cast<uint32_t>(value.size()));
      Append(value.data(), value.size());
    } else if constexpr (requires { value.begin(); }) {
      (*this)(static_cast<uint32_t>(value.size()));
      for (const auto& e : value) (*this)(e);
    } else {
      const_cast<T&>(value).Visit(*this);
    }
    return *this;
  }
  // The finished message, its length filled in.
  std::vector<uint8_t> Finish() && {
    uint32_t len = static_cast<uint32_t>(buf_.size());
    std::memcpy(buf_.data() + offsetof(Header, length), &len, sizeof(len));
    return std::move(buf_);
  }

 private:
  void Append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<uint8_t> buf_;
};

// Decodes fields from a message body; any read past the end, or a string or list longer than
// what is left, marks the decoder failed and leaves zero values.
class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> body) : data_(body) {}
  template <class T>
  Decoder& operator()(T& value) {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      Take(&value, sizeof(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
      uint32_t n = 0;
      (*this)(n);
      if (n > data_.size() - pos_) return Fail();
      value.assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
      pos_ += n;
    } else if constexpr (requires { value.emplace_back(); }) {
      uint32_t n = 0;
      (*this)(n);
      // Every element takes at least one byte, so a count beyond what is left is a lie.
      if (n > data_.size() - pos_) return Fail();
      value.clear();
      for (uint32_t i = 0; i < n && !failed_; i++) (*this)(value.emplace_back());
    } else {
      value.Visit(*this);
    }
    return *this;
  }
  // Whether everything decoded and nothing was left over.
  bool Done() const { return !failed_ && pos_ == data_.size(); }

 private:
  Decoder& Fail() {
    failed_ = true;
    pos_ = data_.size();
    return *this;
  }
  void Take(void* p, size_t n) {
    if (failed_ || n > data_.size() - pos_) {
      std::memset(p, 0, n);
      Fail();
      return;
    }
    std::memcpy(p, data_.data() + pos_, n);
    pos_ += n;
  }
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

template <class M>
std::vector<uint8_t> Encode(uint32_t type, const M& m) {
  Encoder e(type);
  e(m);
  return std::move(e).Finish();
}

// Decodes a message body into `m`; false if it does not decode exactly.
template <class M>
bool Decode(std::span<const uint8_t> body, M& m) {
  Decoder d(body);
  d(m);
  return d.Done();
}

// A message as received: its type, its body and the fds that came with it.
struct Message {
  uint32_t type = 0;
  std::vector<uint8_t> body;
  std::vector<FileDescriptor> fds;
};

// The most fds one message carries: the kernel's own limit for one SCM_RIGHTS message
// (SCM_MAX_FD).
inline constexpr size_t kMaxFds = 253;

// Sends one encoded message with `fds` attached (also any bytes: a terminal's name beside its
// fd, a sequence number beside an fd for the stub). EPIPE when the peer is gone; `flags` adds to
// MSG_NOSIGNAL (MSG_DONTWAIT, say). EINVAL for more than kMaxFds fds.
Result<void> SendMessage(int sock, std::span<const uint8_t> msg, std::span<const int> fds = {},
                         int flags = 0);
// Receives one message of at most `max_size` bytes. ECONNRESET when the peer is gone (end of
// file); EPROTO for a message that is truncated, shorter than its header, or whose length
// disagrees with its header; EMFILE for a whole message whose fds the kernel could not install
// because the caller's fd table is full (the message is consumed, so the stream stays in step).
// Fds beyond the first `max_fds` are closed.
Result<Message> ReceiveMessage(int sock, size_t max_size, size_t max_fds);

}  // namespace moat::wire

#endif  // MOAT_BASE_WIRE_H_
