// Netlink messages (netlink(7)) as bytes: building replies and reading requests and attributes.
// Shared by the sandbox's netlink sockets (route.h) and by hostinet, which asks the host's
// rtnetlink for its interfaces. Nothing here trusts its input: every length is checked, and a
// malformed message or attribute is reported, never read past.
#ifndef MOAT_SENTRY_SOCKET_NETLINK_MESSAGE_H_
#define MOAT_SENTRY_SOCKET_NETLINK_MESSAGE_H_

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::sockets::netlink {

// Builds one message: the header, a fixed family header (ifinfomsg, rtmsg...), then attributes.
// The length is filled in by Finish().
class MessageBuilder {
 public:
  MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid);

  // Appends `len` bytes, padded to NLMSG_ALIGNTO (the family header, or raw payload).
  void Put(const void* data, size_t len);
  template <typename T>
  void PutHeader(const T& header) {
    Put(&header, sizeof(T));
  }
  // Appends one attribute (struct nlattr / rtattr, which share their layout).
  void PutAttr(uint16_t type, const void* data, size_t len);
  void PutAttrU8(uint16_t type, uint8_t v) { PutAttr(type, &v, sizeof(v)); }
  void PutAttrU32(uint16_t type, uint32_t v) { PutAttr(type, &v, sizeof(v)); }
  // A NUL-terminated string attribute.
  void PutAttrString(uint16_t type, std::string_view s);
  // Opens a nested attribute; attributes put until EndNest() are inside it.
  size_t BeginNest(uint16_t type);
  void EndNest(size_t at);

  size_t size() const { return buf_.size(); }
  std::vector<uint8_t> Finish() &&;

 private:
  std::vector<uint8_t> buf_;
};

// One message of a received datagram: its header and what follows the header (nlmsg_len bytes
// in all, never beyond the datagram).
struct MessageView {
  nlmsghdr header;
  std::span<const uint8_t> payload;
};

// Splits a datagram into its messages as Linux's netlink_rcv_skb walks it: it stops at the
// first header that is shorter than a header or longer than what is left.
std::vector<MessageView> SplitMessages(std::span<const uint8_t> datagram);

// The fixed header of type T at the start of `payload`, if there is room for it.
template <typename T>
std::optional<T> FixedHeader(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, payload.data(), sizeof(T));
  return v;
}

// The attributes after a fixed header of `fixed` bytes, by type (the last one of a type wins,
// as nla_parse's table does). Parsing stops at a malformed attribute, like the kernel's lenient
// parse; `malformed` says whether that happened (strict parsing turns it into EINVAL).
struct Attributes {
  std::map<uint16_t, std::span<const uint8_t>> by_type;
  bool malformed = false;

  bool Has(uint16_t type) const { return by_type.count(type) != 0; }
  std::span<const uint8_t> Get(uint16_t type) const;
  // A fixed-size value: absent, or too short, gives nullopt.
  std::optional<uint32_t> U32(uint16_t type) const;
  std::optional<uint8_t> U8(uint16_t type) const;
  // A string attribute up to its first NUL (or its end).
  std::optional<std::string> String(uint16_t type) const;
};
Attributes ParseAttributes(std::span<const uint8_t> payload, size_t fixed);

// The next datagram of a dump: the messages at the front of `messages` that fit in `limit`
// bytes together (at least one, however large), taken off the queue.
std::vector<uint8_t> TakeDatagram(std::deque<std::vector<uint8_t>>& messages, size_t limit);

// The message NLMSG_DONE ends a dump with: an int, 0 or the dump's negative errno.
std::vector<uint8_t> DoneMessage(uint32_t seq, uint32_t portid, int error);
// NLMSG_ERROR for `request` (Linux's netlink_ack): `error` 0 is an ack. A failure carries the
// request whole (padded) unless `cap` (NETLINK_CAP_ACK); an ack or a capped error carries
// only its header and says NLM_F_CAPPED.
std::vector<uint8_t> ErrorMessage(const MessageView& request, uint32_t portid, int error,
                                  bool cap);

}  // namespace moat::sockets::netlink

#endif  // MOAT_SENTRY_SOCKET_NETLINK_MESSAGE_H_
