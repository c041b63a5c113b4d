// The transmit side of an Ethernet link (internal to sentry/socket/netstack/): frames lwIP
// emits go to the link's AF_PACKET socket (opened with PACKET_VNET_HDR, so each starts with a
// virtio-net header), in batches with sendmmsg. lwIP's TCP sends segments of at most one MSS;
// consecutive segments of one connection in a batch are merged into one TCP packet that the
// header marks for segmentation offload, so the host kernel takes 64 KiB in one go (a veth
// passes it on whole, as its peer's GRO would have made it) instead of 44 frames one by one.
//
// Not thread-safe: the link calls it with the core lock held.
#ifndef MOAT_SENTRY_SOCKET_NETSTACK_LINK_TX_H_
#define MOAT_SENTRY_SOCKET_NETSTACK_LINK_TX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" {
#include "lwip/pbuf.h"
}

namespace moat::sockets::netstack {

// The virtio-net header that PACKET_VNET_HDR puts before each frame (linux/virtio_net.h, whose
// header does not compile beside lwIP's): what the kernel left undone on a frame received (its
// TCP or UDP checksum, its segmentation), or what is asked of it for a frame sent. Native byte
// order (x86: little-endian, as the kernel's legacy virtio-net header).
struct VnetHeader {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHeader) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kGsoNone = 0, kGsoTcp4 = 1, kGsoTcp6 = 4, kGsoEcn = 0x80;

class TxQueue {
 public:
  // What a send did, for the interface's counters (frames as lwIP made them).
  struct Sent {
    uint64_t packets = 0, bytes = 0, dropped = 0;
  };

  explicit TxQueue(int fd) : fd_(fd) {}

  // Queues a copy of the frame; returns whether the queue is full and must be flushed now.
  bool Add(const pbuf* p);
  // Sends everything queued.
  Sent Flush();
  // Sends one frame at once (for threads that will not flush).
  Sent SendNow(const pbuf* p);

 private:
  struct Frame {
    size_t off, len;
  };
  // Where frame i's TCP segment starts and how long each part is, if it can be merged.
  struct Segment {
    bool ok = false;
    bool v6 = false;
    size_t ip_len = 0;   // IP header
    size_t tcp_len = 0;  // TCP header with options
    size_t payload = 0;  // TCP payload
    uint32_t seq = 0;
  };
  Segment Parse(const Frame& f) const;
  bool Mergeable(const Frame& a, const Segment& sa, const Frame& b, const Segment& sb) const;
  Sent Send(size_t msgs);

  int fd_;
  std::vector<uint8_t> data_;  // the queued frames' bytes
  std::vector<Frame> frames_;
};

}  // namespace moat::sockets::netstack

#endif  // MOAT_SENTRY_SOCKET_NETSTACK_LINK_TX_H_
