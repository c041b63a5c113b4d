#include "sentry/socket/netlink/message.h"

namespace moat::sockets::netlink {

MessageBuilder::MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, uint32_t portid) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  h.nlmsg_seq = seq;
  h.nlmsg_pid = portid;
  buf_.resize(NLMSG_HDRLEN);
  std::memcpy(buf_.data(), &h, sizeof(h));
}

void MessageBuilder::Put(const void* data, size_t len) {
  size_t at = buf_.size();
  buf_.resize(at + NLMSG_ALIGN(len), 0);
  if (len) std::memcpy(buf_.data() + at, data, len);
}

void MessageBuilder::PutAttr(uint16_t type, const void* data, size_t len) {
  nlattr a{};
  a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  a.nla_type = type;
  size_t at = buf_.size();
  buf_.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
  std::memcpy(buf_.data() + at, &a, sizeof(a));
  if (len) std::memcpy(buf_.data() + at + NLA_HDRLEN, data, len);
}

void MessageBuilder::PutAttrString(uint16_t type, std::string_view s) {
  std::string z(s);
  PutAttr(type, z.c_str(), z.size() + 1);
}

size_t MessageBuilder::BeginNest(uint16_t type) {
  size_t at = buf_.size();
  PutAttr(type | NLA_F_NESTED, nullptr, 0);
  return at;
}

void MessageBuilder::EndNest(size_t at) {
  nlattr a;
  std::memcpy(&a, buf_.data() + at, sizeof(a));
  a.nla_len = static_cast<uint16_t>(buf_.size() - at);
  std::memcpy(buf_.data() + at, &a, sizeof(a));
}

std::vector<uint8_t> MessageBuilder::Finish() && {
  uint32_t len = static_cast<uint32_t>(buf_.size());
  std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof(len));
  return std::move(buf_);
}

std::vector<MessageView> SplitMessages(std::span<const uint8_t> datagram) {
  std::vector<MessageView> out;
  size_t off = 0;
  while (datagram.size() - off >= NLMSG_HDRLEN) {
    nlmsghdr h;
    std::memcpy(&h, datagram.data() + off, sizeof(h));
    size_t left = datagram.size() - off;
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > left) break;
    out.push_back({h, datagram.subspan(off + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN)});
    // The next message starts aligned, or the datagram ends (netlink_rcv_skb's msglen cap).
    off += std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), left);
  }
  return out;
}

std::span<const uint8_t> Attributes::Get(uint16_t type) const {
  auto it = by_type.find(type);
  if (it == by_type.end()) return {};
  return it->second;
}

std::optional<uint32_t> Attributes::U32(uint16_t type) const {
  std::span<const uint8_t> v = Get(type);
  if (v.size() < sizeof(uint32_t)) return std::nullopt;
  uint32_t out;
  std::memcpy(&out, v.data(), sizeof(out));
  return out;
}

std::optional<uint8_t> Attributes::U8(uint16_t type) const {
  std::span<const uint8_t> v = Get(type);
  if (v.empty()) return std::nullopt;
  return v[0];
}

std::optional<std::string> Attributes::String(uint16_t type) const {
  if (!Has(type)) return std::nullopt;
  std::span<const uint8_t> v = Get(type);
  std::string s(v.begin(), v.end());
  return s.substr(0, s.find('\0'));
}

Attributes ParseAttributes(std::span<const uint8_t> payload, size_t fixed) {
  Attributes out;
  size_t off = NLMSG_ALIGN(fixed);
  if (off > payload.size()) return out;
  while (payload.size() - off >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, payload.data() + off, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > payload.size() - off) {
      out.malformed = true;
      return out;
    }
    out.by_type[a.nla_type & NLA_TYPE_MASK] = payload.subspan(off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN);
    off += std::min<size_t>(NLA_ALIGN(a.nla_len), payload.size() - off);
  }
  // Trailing bytes too few for an attribute header are what nla_parse calls leftovers.
  if (off != payload.size()) out.malformed = true;
  return out;
}

std::vector<uint8_t> TakeDatagram(std::deque<std::vector<uint8_t>>& messages, size_t limit) {
  std::vector<uint8_t> out;
  while (!messages.empty() && (out.empty() || out.size() + messages.front().size() <= limit)) {
    out.insert(out.end(), messages.front().begin(), messages.front().end());
    messages.pop_front();
  }
  return out;
}

std::vector<uint8_t> DoneMessage(uint32_t seq, uint32_t portid, int error) {
  MessageBuilder b(NLMSG_DONE, NLM_F_MULTI, seq, portid);
  b.Put(&error, sizeof(error));
  return std::move(b).Finish();
}

std::vector<uint8_t> ErrorMessage(const MessageView& request, uint32_t portid, int error,
                                  bool cap) {
  bool capped = error == 0 || cap;
  MessageBuilder b(NLMSG_ERROR, capped ? NLM_F_CAPPED : 0, request.header.nlmsg_seq, portid);
  nlmsgerr e{};
  e.error = error;
  e.msg = request.header;
  b.Put(&e, sizeof(e));
  if (!capped) b.Put(request.payload.data(), request.payload.size());
  return std::move(b).Finish();
}

}  // namespace moat::sockets::netlink
