#include "sentry/socket/netstack/link_tx.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace moat::sockets::netstack {
namespace {

constexpr size_t kEth = 14;
// Frames per batch: a TCP window's worth of full segments, and then some.
constexpr size_t kMaxFrames = 64;
// A merged packet's IP length stays under the 16-bit fields (IPv4 total length, IPv6 payload
// length), with room for headers.
constexpr size_t kMaxMerged = 65000;
constexpr size_t kMaxHeaders = kEth + 40 + 60;

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The 16-bit one's-complement sum of big-endian words, unfolded.
uint32_t Sum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (; len >= 2; p += 2, len -= 2) sum += Load16(p);
  if (len) sum += static_cast<uint32_t>(p[0]) << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace

bool TxQueue::Add(const pbuf* p) {
  Frame f{data_.size(), p->tot_len};
  data_.resize(data_.size() + p->tot_len);
  pbuf_copy_partial(p, data_.data() + f.off, p->tot_len, 0);
  frames_.push_back(f);
  return frames_.size() >= kMaxFrames;
}

TxQueue::Sent TxQueue::SendNow(const pbuf* p) {
  Add(p);
  return Flush();
}

TxQueue::Segment TxQueue::Parse(const Frame& f) const {
  Segment s;
  const uint8_t* e = data_.data() + f.off;
  if (f.len < kEth + 40) return s;
  uint16_t type = Load16(e + 12);
  const uint8_t* ip = e + kEth;
  size_t ip_total;
  if (type == 0x0800) {
    // IPv4 without options or fragmentation, carrying TCP.
    if (ip[0] != 0x45 || ip[9] != 6 || (Load16(ip + 6) & 0x3fff) != 0) return s;
    ip_total = Load16(ip + 2);
    s.ip_len = 20;
  } else if (type == 0x86dd) {
    // IPv6 with TCP right after the fixed header.
    if (f.len < kEth + 60 || (ip[0] >> 4) != 6 || ip[6] != 6) return s;
    ip_total = 40 + static_cast<size_t>(Load16(ip + 4));
    s.ip_len = 40;
    s.v6 = true;
  } else {
    return s;
  }
  if (ip_total != f.len - kEth) return s;
  const uint8_t* tcp = ip + s.ip_len;
  if (ip_total < s.ip_len + 20) return s;
  s.tcp_len = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (s.tcp_len < 20 || s.ip_len + s.tcp_len > ip_total) return s;
  // Only plain data segments (ACK, maybe PSH): never SYN, FIN, RST, URG or ECN signals.
  if ((tcp[13] & ~0x18) != 0 || (tcp[13] & 0x10) == 0) return s;
  s.payload = ip_total - s.ip_len - s.tcp_len;
  if (s.payload == 0) return s;
  s.seq = Load32(tcp + 4);
  s.ok = true;
  return s;
}

// Whether b can follow a in one offloaded packet: the same connection and headers (addresses,
// TTL or hop limit, ports, acknowledgement, window, options), b's data right after a's.
bool TxQueue::Mergeable(const Frame& a, const Segment& sa, const Frame& b,
                        const Segment& sb) const {
  if (!sb.ok || sb.v6 != sa.v6 || sb.tcp_len != sa.tcp_len) return false;
  if (sb.seq != sa.seq + sa.payload) return false;
  const uint8_t* ea = data_.data() + a.off;
  const uint8_t* eb = data_.data() + b.off;
  if (std::memcmp(ea, eb, kEth) != 0) return false;
  const uint8_t* ia = ea + kEth;
  const uint8_t* ib = eb + kEth;
  if (sa.v6) {
    // Traffic class, flow label, next header, hop limit and both addresses.
    if (std::memcmp(ia, ib, 4) != 0 || std::memcmp(ia + 6, ib + 6, 34) != 0) return false;
  } else {
    // TOS, TTL, protocol and both addresses.
    if (ia[1] != ib[1] || ia[8] != ib[8] || std::memcmp(ia + 12, ib + 12, 8) != 0) return false;
  }
  const uint8_t* ta = ia + sa.ip_len;
  const uint8_t* tb = ib + sb.ip_len;
  // Ports, then acknowledgement, header length, window, and the options.
  if (std::memcmp(ta, tb, 4) != 0 || std::memcmp(ta + 8, tb + 8, 5) != 0 ||
      std::memcmp(ta + 14, tb + 14, 2) != 0 ||
      std::memcmp(ta + 20, tb + 20, sa.tcp_len - 20) != 0) {
    return false;
  }
  return true;
}

TxQueue::Sent TxQueue::Flush() {
  Sent sent;
  size_t n = frames_.size();
  if (n == 0) return sent;
  std::vector<Segment> segs(n);
  for (size_t i = 0; i < n; i++) segs[i] = Parse(frames_[i]);

  // Everything the messages point at lives until sendmmsg is done: sized up front.
  std::vector<VnetHeader> vnets(n);
  std::vector<std::array<uint8_t, kMaxHeaders>> headers(n);
  std::vector<iovec> iovs;
  iovs.reserve(3 * n);
  std::vector<mmsghdr> msgs;
  msgs.reserve(n);
  std::vector<std::pair<uint64_t, uint64_t>> counts;  // frames and bytes per message
  counts.reserve(n);

  for (size_t i = 0; i < n;) {
    const Frame& first = frames_[i];
    const Segment& s0 = segs[i];
    // How many frames from i merge: each full-sized but the last.
    size_t j = i + 1;
    size_t total = s0.payload;
    if (s0.ok) {
      while (j < n && segs[j - 1].payload == s0.payload &&
             Mergeable(frames_[j - 1], segs[j - 1], frames_[j], segs[j]) &&
             s0.ip_len + s0.tcp_len + total + segs[j].payload <= kMaxMerged &&
             segs[j].payload <= s0.payload) {
        total += segs[j].payload;
        j++;
      }
    }
    size_t iov0 = iovs.size();
    VnetHeader& v = vnets[msgs.size()];
    v = VnetHeader{};
    iovs.push_back({&v, sizeof(v)});
    uint64_t bytes = 0;
    if (j == i + 1) {
      iovs.push_back({data_.data() + first.off, first.len});
      bytes = first.len;
    } else {
      // One packet: the first segment's headers with the lengths of the whole, the PSH of
      // any, and in the checksum field the pseudo-header's sum that the kernel completes for
      // each segment it cuts.
      size_t hlen = kEth + s0.ip_len + s0.tcp_len;
      uint8_t* h = headers[msgs.size()].data();
      std::memcpy(h, data_.data() + first.off, hlen);
      uint8_t* ip = h + kEth;
      uint8_t* tcp = ip + s0.ip_len;
      size_t tcp_total = s0.tcp_len + total;
      uint32_t pseudo = 6 + static_cast<uint32_t>(tcp_total);
      if (s0.v6) {
        Store16(ip + 4, static_cast<uint16_t>(tcp_total));
        pseudo = Sum(ip + 8, 32, pseudo);
      } else {
        Store16(ip + 2, static_cast<uint16_t>(20 + tcp_total));
        Store16(ip + 10, 0);
        Store16(ip + 10, static_cast<uint16_t>(~Fold(Sum(ip, 20))));
        pseudo = Sum(ip + 12, 8, pseudo);
      }
      for (size_t k = i; k < j; k++) {
        tcp[13] |= data_[frames_[k].off + kEth + s0.ip_len + 13] & 0x08;
      }
      Store16(tcp + 16, Fold(pseudo));
      v.flags = kVnetNeedsCsum;
      v.gso_type = s0.v6 ? kGsoTcp6 : kGsoTcp4;
      v.hdr_len = static_cast<uint16_t>(hlen);
      v.gso_size = static_cast<uint16_t>(s0.payload);
      v.csum_start = static_cast<uint16_t>(kEth + s0.ip_len);
      v.csum_offset = 16;
      iovs.push_back({h, hlen});
      for (size_t k = i; k < j; k++) {
        iovs.push_back({data_.data() + frames_[k].off + hlen, segs[k].payload});
        bytes += frames_[k].len;
      }
    }
    mmsghdr m{};
    m.msg_hdr.msg_iov = &iovs[iov0];
    m.msg_hdr.msg_iovlen = iovs.size() - iov0;
    msgs.push_back(m);
    counts.emplace_back(j - i, bytes);
    i = j;
  }

  size_t done = 0;
  for (int tries = 0; done < msgs.size();) {
    int r = sendmmsg(fd_, &msgs[done], static_cast<unsigned>(msgs.size() - done),
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      for (int k = 0; k < r; k++, done++) {
        sent.packets += counts[done].first;
        sent.bytes += counts[done].second;
      }
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS) && tries++ < 100) {
      // The socket's buffer is full: wait for room a little (the veth delivers at once, so
      // this is rare), then drop as a full NIC ring would.
      pollfd pfd{fd_, POLLOUT, 0};
      poll(&pfd, 1, 1);
      continue;
    }
    // The first message failed for good (the link went away, say): it is dropped.
    sent.dropped += counts[done].first;
    done++;
  }
  frames_.clear();
  data_.clear();
  return sent;
}

}  // namespace moat::sockets::netstack
