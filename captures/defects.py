#!/usr/bin/env python3
"""Make capture defects deterministically from good captures (standard library only).

Real captures go wrong in a few typical ways: segments out of order, retransmitted, lost,
a capture that starts in the middle of a connection, a file cut off mid-write, 802.1Q tags.
Each defect here is derived from a capture recorded by record.sh, so the TLS bytes are
real and only the named defect is artificial.

  defects.py all OUTDIR             write every defect-*.pcap into OUTDIR (reads its good captures)
  defects.py vlan IN OUT VLAN_ID    insert an 802.1Q tag into every Ethernet frame of IN

Classic pcap only (microsecond or nanosecond, either byte order); records are copied byte for byte.
"""

import struct
import sys
from pathlib import Path

MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": ">",
}
LINKTYPE_ETHERNET = 1


class Pcap:
    """A classic pcap file held in memory: global header plus a list of records."""

    def __init__(self, path):
        data = Path(path).read_bytes()
        self.endian = MAGICS[data[:4]]
        self.header = data[:24]
        self.linktype = struct.unpack(self.endian + "I", data[20:24])[0]
        self.records = []  # [ts_sec, ts_frac, orig_len, frame bytes]
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl, orig = struct.unpack(self.endian + "IIII", data[off : off + 16])
            self.records.append([sec, frac, orig, data[off + 16 : off + 16 + incl]])
            off += 16 + incl

    def record_bytes(self, rec):
        sec, frac, orig, frame = rec
        return struct.pack(self.endian + "IIII", sec, frac, len(frame), orig) + frame

    def write(self, path, records=None):
        out = bytearray(self.header)
        for rec in self.records if records is None else records:
            out += self.record_bytes(rec)
        Path(path).write_bytes(out)
        return out


def tcp_info(frame):
    """(src_port, dst_port, payload_len, flags) of an Ethernet/IPv4|IPv6/TCP frame, else None."""
    off, ethertype = 14, struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x8100:
        ethertype = struct.unpack("!H", frame[16:18])[0]
        off = 18
    if ethertype == 0x0800:
        ihl = (frame[off] & 0x0F) * 4
        if frame[off + 9] != 6:
            return None
        total = struct.unpack("!H", frame[off + 2 : off + 4])[0]
        tcp, end = off + ihl, off + total
    elif ethertype == 0x86DD:
        if frame[off + 6] != 6:
            return None
        tcp = off + 40
        end = tcp + struct.unpack("!H", frame[off + 4 : off + 6])[0]
    else:
        return None
    sport, dport = struct.unpack("!HH", frame[tcp : tcp + 4])
    doff = (frame[tcp + 12] >> 4) * 4
    return sport, dport, end - tcp - doff, frame[tcp + 13]


def data_packets(pcap, src_port):
    """Indexes of records carrying TCP payload sent from src_port, in file order."""
    out = []
    for i, rec in enumerate(pcap.records):
        info = tcp_info(rec[3])
        if info and info[0] == src_port and info[2] > 0:
            out.append(i)
    return out


def server_port(pcap):
    """The port that answered the first SYN (the server side)."""
    for rec in pcap.records:
        info = tcp_info(rec[3])
        if info and info[3] & 0x12 == 0x12:
            return info[0]
    raise ValueError("no SYN-ACK in capture")


def ts_between(pcap, a, b):
    """A timestamp halfway between records a and b (same second granularity math for us/ns)."""
    scale = 1_000_000_000 if pcap.header[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1_000_000
    ta = pcap.records[a][0] * scale + pcap.records[a][1]
    tb = pcap.records[b][0] * scale + pcap.records[b][1]
    mid = (ta + tb) // 2
    return mid // scale, mid % scale


def reorder(src, dst):
    """Swap the 2nd and 3rd segments of the server's first flight (contents swap, timestamps stay)."""
    p = Pcap(src)
    seg = data_packets(p, server_port(p))
    a, b = seg[1], seg[2]
    p.records[a][2:], p.records[b][2:] = p.records[b][2:], p.records[a][2:]
    p.write(dst)
    return f"swapped records {a + 1} and {b + 1}"


def retransmit(src, dst):
    """Send the 2nd server segment again once the client has acknowledged it (a spurious retransmission)."""
    p = Pcap(src)
    dup = data_packets(p, server_port(p))[1]
    client_port = tcp_info(p.records[0][3])[0]
    at = data_packets(p, client_port)[1]  # the client's second flight (ClientKeyExchange...)
    sec, frac = ts_between(p, at - 1, at)
    p.records.insert(at, [sec, frac] + p.records[dup][2:])
    p.write(dst)
    return f"copy of record {dup + 1} inserted as record {at + 1}"


def lose(src, dst):
    """Drop the 3rd server segment: the middle of the Certificate message never arrives."""
    p = Pcap(src)
    seg = data_packets(p, server_port(p))
    del p.records[seg[2]]
    p.write(dst)
    return f"dropped record {seg[2] + 1}"


def start_before_client_hello(src, dst):
    """Drop the three-way handshake: the capture starts with the ClientHello."""
    p = Pcap(src)
    first = data_packets(p, tcp_info(p.records[0][3])[0])[0]
    p.write(dst, p.records[first:])
    return f"dropped records 1..{first}"


def start_after_client_hello(src, dst):
    """Drop everything up to and including the ClientHello: the capture starts with the server's reply."""
    p = Pcap(src)
    first = data_packets(p, tcp_info(p.records[0][3])[0])[0]
    p.write(dst, p.records[first + 1 :])
    return f"dropped records 1..{first + 1}"


def truncate(src, dst):
    """Cut the file in the middle of the record that carries the ServerHello (as a crashed writer would)."""
    p = Pcap(src)
    target = data_packets(p, server_port(p))[0]
    out = bytearray(p.header)
    for rec in p.records[:target]:
        out += p.record_bytes(rec)
    whole = p.record_bytes(p.records[target])
    out += whole[: 16 + len(p.records[target][3]) // 2]
    Path(dst).write_bytes(out)
    return f"cut inside record {target + 1}, {len(out)} bytes"


def vlan(src, dst, vid):
    """Insert an 802.1Q tag (priority 0, VLAN vid) after the MAC addresses of every frame."""
    p = Pcap(src)
    if p.linktype != LINKTYPE_ETHERNET:
        raise ValueError("vlan needs an Ethernet capture")
    tag = struct.pack("!HH", 0x8100, vid & 0x0FFF)
    for rec in p.records:
        rec[3] = rec[3][:12] + tag + rec[3][12:]
        rec[2] += 4
    p.write(dst)
    return f"tagged {len(p.records)} frames with VLAN {vid}"


def all_defects(outdir):
    d = Path(outdir)
    flight = d / "tls12-netns-mtu576.pcap"  # server flight spread over five segments
    simple = d / "tls12-ecdhe-rsa.pcap"
    jobs = [
        (reorder, flight, "defect-reordered-server-flight.pcap"),
        (retransmit, flight, "defect-retransmitted-segment.pcap"),
        (lose, flight, "defect-lost-certificate-segment.pcap"),
        (start_before_client_hello, simple, "defect-starts-at-client-hello.pcap"),
        (start_after_client_hello, simple, "defect-starts-after-client-hello.pcap"),
        (truncate, d / "tls13-aes128gcm.pcap", "defect-truncated-mid-packet.pcap"),
    ]
    for fn, src, name in jobs:
        print(f"{name}: {fn(src, d / name)} (from {src.name})", file=sys.stderr)


def main(argv):
    if len(argv) == 3 and argv[1] == "all":
        all_defects(argv[2])
    elif len(argv) == 5 and argv[1] == "vlan":
        print(vlan(argv[2], argv[3], int(argv[4])), file=sys.stderr)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
