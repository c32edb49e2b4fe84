#!/usr/bin/env python3
"""Attack captures for benches/flood.sh: each is a flood with real handshakes mixed in.

    flood.py syn-flood  OUT.pcap [N]   N half-open connections (SYN only; default 1,000,000)
    flood.py syn-answered OUT.pcap [N] the same, each SYN answered by a SYN-ACK (a server
                                       with SYN cookies under attack)
    flood.py scan-refused OUT.pcap [N] N SYNs each refused with a reset (a port scan of
                                       closed ports)
    flood.py udp-flood  OUT.pcap [N]   N random UDP datagrams, random sources and ports
                                       (default 1,000,000)
    flood.py quic-initials OUT.pcap [N] N QUIC client Initials (a real aioquic ClientHello), each
                                       from its own address with fresh connection IDs and
                                       re-protected (decryptable), never answered (default
                                       1,000,000; needs `cryptography`, as quic_corpus.py)
    flood.py ooo-flood  OUT.pcap [N]   N connections each sending only out-of-order segments,
                                       never filling their holes (default 100,000)
    flood.py ooo-tiny   OUT.pcap [N]   N connections (default 1,000) each sending 1,000 one-byte
                                       segments, each after a hole (per-chunk overhead)
    flood.py big-message OUT.pcap      a server Certificate message claiming 16 MiB, sent in full
    flood.py many-extensions OUT.pcap  a ClientHello with 10,000 extensions

Every capture also holds copies of the handshakes of captures/tls12-ecdhe-rsa.pcap and
captures/tls13-aes128gcm.pcap, spread over the flood (each copy from its own client address
in 192.0.0.0/16): 10,000 in the floods of a million (SYN and UDP), 20 in the others, so the
benchmark can check that they are still reported; OUT.legit holds how many. Plain struct, no
scapy.
"""
import pathlib
import struct
import sys

CAPTURES = pathlib.Path(__file__).resolve().parent.parent / "captures"
LEGIT_SOURCES = ["tls12-ecdhe-rsa.pcap", "tls13-aes128gcm.pcap"]
LEGIT_COPIES = 10  # per source, unless the kind says otherwise
FLOOD_LEGIT_COPIES = 5_000  # per source, in the floods of a million
SERVER = bytes([198, 51, 100, 1])
ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
T0 = 1_700_000_000
SYN, RST, ACK, PSH = 0x02, 0x04, 0x10, 0x08


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """Ethernet/IPv4/TCP frame (checksums left 0: tlsight does not check them)."""
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags,
                      65535, 0, 0)
    return ETH + ip + tcp + payload


class Writer:
    """A classic microsecond pcap, Ethernet, snap length 262144."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.packets = 0

    def packet(self, ts_us, data):
        self.f.write(struct.pack("<IIII", T0 + ts_us // 1_000_000, ts_us % 1_000_000, len(data),
                                 len(data)))
        self.f.write(data)
        self.packets += 1

    def close(self):
        self.f.close()


def read_pcap(path):
    raw = path.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack("<I", raw[20:24])[0] == 1
    out, off = [], 24
    while off + 16 <= len(raw):
        sec, usec, incl, _ = struct.unpack("<IIII", raw[off:off + 16])
        out.append((sec * 1_000_000 + usec, raw[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def legit_handshakes(copies_per_source):
    """[(relative ts_us, frame)] per copy, client address rewritten to 192.0.X.Y."""
    copies = []
    n = 0
    for name in LEGIT_SOURCES:
        packets = read_pcap(CAPTURES / name)
        client = packets[0][1][26:30]
        t0 = packets[0][0]
        for _ in range(copies_per_source):
            addr = bytes([192, 0, 2 + n // 250, 1 + n % 250])
            n += 1
            copy = []
            for ts, data in packets:
                data = bytearray(data)
                if data[26:30] == client:
                    data[26:30] = addr
                if data[30:34] == client:
                    data[30:34] = addr
                copy.append((ts - t0, bytes(data)))
            copies.append(copy)
    return copies


def with_legit(w, attack_packets, total, spacing_us, copies_per_source=LEGIT_COPIES):
    """Writes the attack, the legitimate handshakes spread evenly among its packets; returns
    how many handshakes were mixed in."""
    copies = legit_handshakes(copies_per_source)
    legit = len(copies)
    every = max(1, total // (len(copies) + 1))
    pending = []  # (ts, frame) of legit copies in progress
    i = 0
    for i, data in enumerate(attack_packets):
        ts = i * spacing_us
        if i % every == every // 2 and copies:
            pending.extend((ts + rel, f) for rel, f in copies.pop())
            pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] <= ts:
            w.packet(*pending.pop(0))
        w.packet(ts, data)
    end = i * spacing_us
    for copy in copies:
        pending.extend((end + rel, f) for rel, f in copy)
    for ts, f in sorted(pending, key=lambda p: p[0]):
        w.packet(max(ts, end), f)
    return legit


def syn_flood(n):
    for i in range(n):
        src = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        yield frame(src, SERVER, 1024 + i % 60000, 443, i * 7919, 0, SYN)


def syn_answered(n):
    for i in range(n):
        src = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        sport = 1024 + i % 60000
        yield frame(src, SERVER, sport, 443, i * 7919, 0, SYN)
        yield frame(SERVER, src, 443, sport, i * 104729, i * 7919 + 1, SYN | ACK)


def scan_refused(n):
    """One scanner probing ports of many hosts, every probe refused."""
    for i in range(n):
        dst = bytes([198, 51, (i >> 16) & 0xFF | 128, (i >> 8) & 0xFF])
        dport = 1 + (i & 0xFF) * 200
        yield frame(bytes([10, 99, 0, 1]), dst, 40000 + i % 20000, dport, i * 7919, 0, SYN)
        yield frame(dst, bytes([10, 99, 0, 1]), dport, 40000 + i % 20000, 0, i * 7919 + 1,
                    RST | ACK)


def udp_frame(src, dst, sport, dport, payload):
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0x4000, 64, 17, 0, src,
                     dst)
    return ETH + ip + struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def udp_flood(n):
    """Random datagrams (a seeded generator: the capture is the same every time), each its
    own flow: random 10/8 sources, servers in 198.51.100.0/24, random ports and payloads of
    20 to 200 bytes (some starting like a QUIC long header or a DTLS record)."""
    x = 0x2545F4914F6CDD1D
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        r = x
        src = bytes([10, r & 0xFF, (r >> 8) & 0xFF, (r >> 16) & 0xFF])
        dst = bytes([198, 51, 100, (r >> 24) & 0xFF])
        sport, dport = (r >> 32) & 0xFFFF, [443, 4433, 8443, (r >> 48) & 0xFFFF][(r >> 20) & 3]
        first = [b"\xc0\x00\x00\x00\x01", b"\x16\xfe\xfd\x00\x00", b"\x40", b"\x00"][(r >> 22) & 3]
        payload = (first + r.to_bytes(8, "little") * 25)[:20 + (r >> 40) % 181]
        yield udp_frame(src, dst, sport, dport, payload)


def quic_initials(n):
    """Client Initials of the seed aioquic-v1-h3 (its first datagram: a full ClientHello), each
    with a fresh DCID and SCID and sealed again under the new DCID's keys, so every one is a
    readable QUIC ClientHello a server never answers; sources in 10.0.0.0/8, one per Initial."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import quic_corpus as q
    import random
    tpl = q.load_template(CAPTURES / "quic" / "aioquic-v1-h3.pcap")
    first = next(p for _, c, p in tpl.datagrams if c)
    one = q.Template(tpl.name, tpl.fam, tpl.server_port,
                     [(0, True, first), *[(0, False, p) for _, c, p in tpl.datagrams if not c][:1]])
    rng = random.Random(2152)
    for i in range(n):
        datagram = q.replay(one, rng)[0][2]
        src = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        yield udp_frame(src, SERVER, 1024 + i % 60000, 443, datagram)


def ooo_flood(n, segments=8, size=200):
    """Round robin over n connections: SYN first, then segments each leaving a hole before it."""
    def client(c):
        return bytes([10, 128 | (c >> 16) & 0x7F, (c >> 8) & 0xFF, c & 0xFF])
    for c in range(n):
        yield frame(client(c), SERVER, 2000 + c % 50000, 443, c * 104729, 0, SYN)
    payload = b"\x17\x03\x03" + b"z" * (size - 3)
    for k in range(segments):
        for c in range(n):
            seq = c * 104729 + 1 + (2 * k + 1) * size
            yield frame(client(c), SERVER, 2000 + c % 50000, 443, seq, 1, ACK | PSH, payload)


def ooo_tiny(n, segments=1000):
    def client(c):
        return bytes([10, 64, (c >> 8) & 0xFF, c & 0xFF])
    for c in range(n):
        yield frame(client(c), SERVER, 3000 + c, 443, c * 7907, 0, SYN)
    for k in range(segments):
        for c in range(n):
            yield frame(client(c), SERVER, 3000 + c, 443, c * 7907 + 2 + 2 * k, 1, ACK | PSH, b"t")


def segments_of(stream, src, sport, isn, mss=1460):
    for off in range(0, len(stream), mss):
        yield frame(src, SERVER, sport, 443, isn + 1 + off, 1, ACK | PSH, stream[off:off + mss])


def records(msg, content=22):
    """`msg` split into TLS records of at most 16 KiB."""
    return b"".join(struct.pack(">BHH", content, 0x0301, len(msg[i:i + 16384])) + msg[i:i + 16384]
                    for i in range(0, len(msg), 16384))


def client_hello(extensions=b""):
    body = struct.pack(">H", 0x0303) + b"\x11" * 32 + b"\x00" + struct.pack(">HH", 2, 0x1301)
    body += b"\x01\x00" + struct.pack(">H", len(extensions)) + extensions
    return struct.pack(">I", 0x01000000 | len(body)) + body


def one_connection(client_stream, server_stream=b"", sport=5555):
    """A connection from 10.200.0.1: handshake, the client's bytes, then the server's."""
    src = bytes([10, 200, 0, 1])
    yield frame(src, SERVER, sport, 443, 1000, 0, SYN)
    yield frame(SERVER, src, 443, sport, 5000, 1001, SYN | ACK)
    yield frame(src, SERVER, sport, 443, 1001, 5001, ACK)
    yield from segments_of(client_stream, src, sport, 1000)
    for off in range(0, len(server_stream), 1460):
        yield frame(SERVER, src, 443, sport, 5001 + off, 1001 + len(client_stream), ACK | PSH,
                    server_stream[off:off + 1460])


def server_hello():
    body = struct.pack(">H", 0x0303) + b"\x22" * 32 + b"\x00" + struct.pack(">HB", 0x1301, 0)
    return struct.pack(">I", 0x02000000 | len(body)) + body


def big_message():
    # The server answers a ClientHello with a ServerHello and a Certificate message claiming
    # 16 MiB - 1, then sends all of it.
    size = (1 << 24) - 1
    cert = struct.pack(">I", 0x0B000000 | size) + b"\x00" * size
    return list(one_connection(records(client_hello()), records(server_hello() + cert)))


def many_extensions(n=10_000):
    ext = b"".join(struct.pack(">HH", 0x1000 + i, 0) for i in range(n))
    return list(one_connection(records(client_hello(ext))))


def main():
    kind, out = sys.argv[1], sys.argv[2]
    w = Writer(out)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else None
    million = n or 1_000_000
    if kind == "syn-flood":
        legit = with_legit(w, syn_flood(million), million, 10, FLOOD_LEGIT_COPIES)
    elif kind == "syn-answered":
        legit = with_legit(w, syn_answered(million), 2 * million, 5, FLOOD_LEGIT_COPIES)
    elif kind == "scan-refused":
        legit = with_legit(w, scan_refused(million), 2 * million, 5, FLOOD_LEGIT_COPIES)
    elif kind == "udp-flood":
        legit = with_legit(w, udp_flood(million), million, 10, FLOOD_LEGIT_COPIES)
    elif kind == "quic-initials":
        legit = with_legit(w, quic_initials(million), million, 10, FLOOD_LEGIT_COPIES)
    elif kind == "ooo-flood":
        n = n or 100_000
        legit = with_legit(w, ooo_flood(n), n * 9, 10)
    elif kind == "ooo-tiny":
        n = n or 1_000
        legit = with_legit(w, ooo_tiny(n), n * 1001, 10)
    elif kind == "big-message":
        p = big_message()
        legit = with_legit(w, p, len(p), 100)
    elif kind == "many-extensions":
        p = many_extensions()
        legit = with_legit(w, p, len(p), 100)
    else:
        sys.exit(f"unknown capture kind {kind}")
    w.close()
    pathlib.Path(out + ".legit").write_text(f"{legit}\n")
    print(f"{out}: {w.packets} packets", file=sys.stderr)


if __name__ == "__main__":
    main()
