#!/usr/bin/env python3
"""Malformed frames for a container's network stack (tests/e2e/network_test.sh, http_server):
sent from the host side of the veth with a packet socket, to the container's MAC address and
to broadcast and multicast. A stack that crashes or wedges on one fails the requests after.

Usage: net_garbage.py IFNAME DST_MAC DST_IP SRC_IP COUNT
Each frame is one of: random bytes under a random ethertype, truncated ARP, an IPv4 header
with a valid checksum but wrong lengths, options, fragments or protocols, IPv6 to all-nodes
with odd next headers and lengths, broadcast garbage, or a frame cut inside its header. The
sequence is fixed (seeded), so that a failure repeats. Prints "sent N".
"""
import random
import socket
import struct
import sys


def ip4_checksum(h):
    c = sum(struct.unpack("!10H", h))
    c = (c & 0xFFFF) + (c >> 16)
    c = (c & 0xFFFF) + (c >> 16)
    return ~c & 0xFFFF


def main():
    ifname, dst_mac, dst_ip, src_ip, count = sys.argv[1:6]
    dst_mac = bytes.fromhex(dst_mac.replace(":", ""))
    dst_ip, src_ip = socket.inet_aton(dst_ip), socket.inet_aton(src_ip)
    with open(f"/sys/class/net/{ifname}/address") as f:
        src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    rnd = random.Random(1)

    def rb(n):
        return bytes(rnd.getrandbits(8) for _ in range(n))

    sent = 0
    for _ in range(int(count)):
        kind = rnd.randrange(6)
        n = rnd.randrange(0, 1500)
        if kind == 0:
            f = dst_mac + src_mac + rb(2) + rb(n)
        elif kind == 1:
            f = dst_mac + src_mac + b"\x08\x06" + rb(n % 60)
        elif kind == 2:
            ihl = rnd.choice([5, 5, 6, 15, 0, 3])
            tot = rnd.choice([20 + n, n, 65535, 0, 19])
            proto = rnd.choice([1, 6, 17, 2, 0, 255])
            frag = rnd.choice([0, 0x2000, 0x1FFF, 0x4000, rnd.getrandbits(16)])
            h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot & 0xFFFF, rnd.getrandbits(16),
                            frag, 64, proto, 0, src_ip, dst_ip)
            h = h[:10] + struct.pack("!H", ip4_checksum(h)) + h[12:]
            f = dst_mac + src_mac + b"\x08\x00" + h + rb(n)
        elif kind == 3:
            nh = rnd.choice([58, 6, 17, 0, 43, 44, 60, 59, 255])
            plen = rnd.choice([n, 0, 65535, n + 100]) & 0xFFFF
            h = struct.pack("!IHBB16s16s", 0x60000000, plen, nh, 255, b"\xfe\x80" + rb(14),
                            b"\xff\x02" + b"\0" * 13 + b"\x01")
            f = b"\x33\x33\x00\x00\x00\x01" + src_mac + b"\x86\xdd" + h + rb(n)
        elif kind == 4:
            f = b"\xff" * 6 + src_mac + rnd.choice([b"\x08\x00", b"\x08\x06", b"\x86\xdd"]) + rb(n)
        else:
            f = dst_mac + src_mac + rnd.choice([b"\x08\x00", b"\x86\xdd", b"\x08\x06"])[:rnd.randrange(3)]
        try:
            s.send(f)
            sent += 1
        except OSError:
            pass  # the kernel refuses some (too short for the device): not the container's doing
    print("sent", sent)


if __name__ == "__main__":
    main()
