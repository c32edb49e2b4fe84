#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, generated from the scenario captures (../captures).

Writes corpus/<target>/<name> in each target's input format (see the comment at the top of each
fuzz_targets/*.rs). Regenerated on demand rather than committed: `python3 seeds.py`.
"""
import hashlib
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
CAPTURES = HERE.parent / "captures"
CORPUS = HERE / "corpus"
# Same order as LINKS in fuzz_targets/decode.rs.
LINKS = [1, 0, 12, 14, 101, 108, 113, 228, 229, 276, 147]


def write(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def read_pcap(raw):
    """(link type, [(ts_us, frame)]) of a classic pcap, or None."""
    if len(raw) < 24:
        return None
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", raw[20:24])[0]
    frames, off = [], 24
    while off + 16 <= len(raw):
        sec, frac, incl, _ = struct.unpack(e + "IIII", raw[off:off + 16])
        off += 16
        frames.append((sec * 1_000_000 + (frac // 1000 if nano else frac), raw[off:off + incl]))
        off += incl
    return link, frames


def ip_offset(link, frame):
    """Offset of the IP header for the common link types, following one VLAN tag."""
    if link == 1:
        off, etype = 14, frame[12:14]
        if etype == b"\x81\x00":
            off, etype = 18, frame[16:18]
        return off if etype in (b"\x08\x00", b"\x86\xdd") else None
    return {101: 0, 228: 0, 229: 0, 0: 4, 108: 4, 113: 16, 276: 20}.get(link)


def ip_packet(link, frame, proto):
    """(src address, dst address, transport offset, end) of an IP frame carrying `proto`."""
    off = ip_offset(link, frame)
    if off is None or off >= len(frame):
        return None
    ver = frame[off] >> 4
    if ver == 4 and frame[off + 9] == proto:
        total = struct.unpack(">H", frame[off + 2:off + 4])[0]
        t = off + (frame[off] & 15) * 4
        return frame[off + 12:off + 16], frame[off + 16:off + 20], t, off + total
    if ver == 6 and frame[off + 6] == proto:
        plen = struct.unpack(">H", frame[off + 4:off + 6])[0]
        return frame[off + 8:off + 24], frame[off + 24:off + 40], off + 40, off + 40 + plen
    return None


def tcp_segment(link, frame):
    """(src, dst, seq, flags, payload) of a TCP frame, or None."""
    ip = ip_packet(link, frame, 6)
    if ip is None:
        return None
    src, dst, t, end = ip
    sport, dport, seq = struct.unpack(">HHI", frame[t:t + 8])
    doff = (frame[t + 12] >> 4) * 4
    return (src, sport), (dst, dport), seq, frame[t + 13], frame[t + doff:end]


def udp_datagram(link, frame):
    """(src, dst, payload) of a UDP frame, or None."""
    ip = ip_packet(link, frame, 17)
    if ip is None:
        return None
    src, dst, u, end = ip
    sport, dport = struct.unpack(">HH", frame[u:u + 4])
    return (src, sport), (dst, dport), frame[u + 8:end]


def dtls_seeds():
    """dtls: the UDP flows of the DTLS captures (scenario and real), one seed per flow."""
    paths = sorted((CAPTURES / "dtls").glob("*.pcap")) + sorted(
        (CAPTURES / "real" / "udp").glob("*dtls*.pcap")) + [CAPTURES / "real" / "udp" / "zeek__webrtc-stun.pcap"]
    for path in paths:
        parsed = read_pcap(path.read_bytes())
        if parsed is None:
            continue
        link, frames = parsed
        flows, last = {}, None
        for ts, frame in frames:
            try:
                d = udp_datagram(link, frame)
            except (IndexError, struct.error):
                d = None
            if d is None:
                continue
            src, dst, payload = d
            key = tuple(sorted([src, dst]))
            flow = flows.setdefault(key, {"first": src, "data": b"", "last": ts})
            gap_ms = max(0, min(127, (ts - flow["last"]) // 1000))
            flow["last"] = ts
            ctl = (gap_ms << 1) | (0 if src == flow["first"] else 1)
            flow["data"] += struct.pack("<BH", ctl, len(payload)) + payload
        for flow in flows.values():
            write("dtls", flow["data"])


def connections(link, frames):
    """Segments per connection in capture order: [(ts, dir, seq, flags, payload)]."""
    conns = {}
    for ts, frame in frames:
        try:
            seg = tcp_segment(link, frame)
        except (IndexError, struct.error):
            seg = None
        if seg is None:
            continue
        src, dst, seq, flags, payload = seg
        key = tuple(sorted([src, dst]))
        conn = conns.setdefault(key, {"first": src, "segs": []})
        conn["segs"].append((ts, 0 if src == conn["first"] else 1, seq, flags, payload))
    return list(conns.values())


def stream(segs, direction):
    """A direction's payload in sequence order, duplicates dropped (no loss assumed)."""
    by_seq = {}
    for _, d, seq, _, payload in segs:
        if d == direction and payload:
            by_seq.setdefault(seq, payload)
    return b"".join(by_seq[s] for s in sorted(by_seq))


def handshake_messages(data):
    """(type, body) of the cleartext handshake messages at the start of a TLS stream."""
    joined, off = b"", 0
    while off + 5 <= len(data):
        ctype, _, length = struct.unpack(">BHH", data[off:off + 5])
        if ctype == 20:
            break
        if ctype == 22:
            joined += data[off + 5:off + 5 + length]
        off += 5 + length
    msgs, off = [], 0
    while off + 4 <= len(joined):
        mtype = joined[off]
        length = int.from_bytes(joined[off + 1:off + 4], "big")
        msgs.append((mtype, joined[off + 4:off + 4 + length]))
        off += 4 + length
    return msgs


def certificates(body, tls13):
    """DER certificates of a Certificate body."""
    off = 1 + body[0] if tls13 else 0
    end = off + 3 + int.from_bytes(body[off:off + 3], "big")
    off += 3
    out = []
    while off + 3 <= min(end, len(body)):
        n = int.from_bytes(body[off:off + 3], "big")
        out.append(body[off + 3:off + 3 + n])
        off += 3 + n
        if tls13:
            off += 2 + int.from_bytes(body[off:off + 2], "big")
    return out


def udp_datagrams(link, frames):
    """(src, payload) of each UDP frame (IPv4/IPv6 over the link types above, PPP too)."""
    out = []
    for _, frame in frames:
        off = 4 if link == 9 and frame[:2] == b"\xff\x03" else ip_offset(link, frame)
        if off is None or off >= len(frame):
            continue
        try:
            ver = frame[off] >> 4
            if ver == 4 and frame[off + 9] == 17:
                src, u = frame[off + 12:off + 16], off + (frame[off] & 15) * 4
            elif ver == 6 and frame[off + 6] == 17:
                src, u = frame[off + 8:off + 24], off + 40
            else:
                continue
            sport, _, ulen = struct.unpack(">HHH", frame[u:u + 6])
            out.append(((src, sport), frame[u + 8:u + ulen]))
        except (IndexError, struct.error):
            continue
    return out


def quic_seeds():
    """quic_packets: the real QUIC captures' datagrams; plaintext Initial frames from the RFC
    vectors. quic_crypto: the RFC's ClientHello cut into frames, in and out of order."""
    for path in sorted((CAPTURES / "real").glob("*/*.pcap")):
        parsed = read_pcap(path.read_bytes())
        if parsed is None:
            continue
        datagrams = udp_datagrams(*parsed)
        if not datagrams:
            continue
        first = datagrams[0][0]
        write("quic_packets", b"".join(
            struct.pack("<BH", 0 if src == first else 1, len(p)) + p for src, p in datagrams[:64]))
    fixtures = HERE.parent / "tests" / "fixtures" / "quic"
    ch_frame = (fixtures / "rfc9001_client_initial_crypto.bin").read_bytes()
    sh_payload = (fixtures / "rfc9001_server_initial_payload.bin").read_bytes()
    close = b"\x1c\x41\x78\x06\x04alpn"
    for meta_client, meta_server in ((0x03, 0x02), (0x07, 0x06), (0x0b, 0x0a)):
        write("quic_packets", struct.pack("<BH", meta_client, len(ch_frame)) + ch_frame
              + struct.pack("<BH", meta_server, len(sh_payload)) + sh_payload
              + struct.pack("<BH", meta_server | 0x10, len(close)) + close)
    # The key-log path (the first byte's top bit; bit 6: ChaCha20-Poly1305): the server's
    # Handshake packet with a Finished, the client's with a PING, the server's 1-RTT packet with
    # HANDSHAKE_DONE, NEW_TOKEN and a CRYPTO_ERROR close, another with an application close.
    finished = b"\x14\x00\x00\x20" + bytes(32)
    handshake = b"\x06\x00" + bytes([len(finished)]) + finished
    one_rtt = b"\x1e\x07\x02\x09\x09\x1c\x41\x2a\x00\x00"
    for suite in (0x80, 0xc0):
        write("quic_packets", bytes([suite])
              + struct.pack("<BH", 0x83, len(handshake)) + handshake
              + struct.pack("<BH", 0x82, 1) + b"\x01"
              + struct.pack("<BH", 0x87, len(one_rtt)) + one_rtt
              + struct.pack("<BH", 0x97, 3) + b"\x1d\x00\x00")
    # The ClientHello message itself (after the CRYPTO frame's 4-byte header).
    ch = ch_frame[4:]
    n = (len(ch) + 3) // 4
    source = ch.ljust(n * 4, b"\x00")
    for cuts in ((0, 100, 200), (150, 0, 60), (0, 0, 40, 80, 120, 160, 200, 240)):
        frames = b""
        for c in cuts:
            frames += struct.pack("<HBB", c, min(255, len(ch) - c), 0)
        write("quic_crypto", bytes([n]) + source + frames)


def main():
    quic_seeds()
    for path in sorted(CAPTURES.glob("*.pcap*")):
        raw = path.read_bytes()
        write("pipeline", raw)
        parsed = read_pcap(raw)
        if parsed is None:
            continue
        link, frames = parsed
        pick = LINKS.index(link) if link in LINKS else len(LINKS) - 1
        write("decode", bytes([pick]) + b"".join(
            struct.pack("<H", len(f[:65535])) + f[:65535] for _, f in frames))
        for conn in connections(link, frames):
            segs = conn["segs"]
            # tls_stream: the payloads in capture order.
            write("tls_stream", b"".join(
                struct.pack("<BH", d, len(p)) + p for _, d, _, _, p in segs if p))
            # reassembly: the real sequence numbers, flags and timing of the first 400 segments.
            ops, last = b"", segs[0][0]
            for ts, d, seq, flags, payload in segs[:400]:
                dt = max(0, min(65535, (ts - last) // 1000))
                last = ts
                ops += struct.pack("<BBIHH", flags, d, seq, min(len(payload), 2999), dt)
            write("reassembly", ops)
            for d in (0, 1):
                for mtype, body in handshake_messages(stream(segs, d)):
                    if mtype == 1:
                        write("parsers", b"\x00" + body)
                    elif mtype == 2:
                        write("parsers", b"\x02" + body)
                    elif mtype == 11:
                        for tls13, pick in ((False, 4), (True, 5)):
                            write("parsers", bytes([pick]) + body)
                            try:
                                for der in certificates(body, tls13):
                                    write("parsers", b"\x06" + der)
                            except IndexError:
                                pass
                    elif mtype in (4, 12):
                        write("parsers", b"\x07" + body)
    # check_inputs: a policy stating every condition, then each scenario's NDJSON records.
    policy = (HERE / "check_policy_seed.toml").read_bytes()
    for path in sorted((CAPTURES / "expected").glob("*.ndjson")):
        write("check_inputs", policy + b"\0" + path.read_bytes())
    dtls_seeds()
    # keylog: the committed key logs (split every 7th byte), and the pcapng with a secrets block.
    for path in sorted((CAPTURES / "keylog").glob("*.keylog")):
        write("keylog", b"\x06" + path.read_bytes())
    for path in sorted((CAPTURES / "keylog").glob("*.pcapng")):
        write("keylog", b"\x00" + path.read_bytes())
    # decrypt: for each (version, suite) choice, a CCS from each side and a few records of the
    # shapes real connections have (a handshake record, an alert, application data).
    for pick in range(24):
        events = b""
        for kind, data in ((2, b"\x00"), (2, b"\x01"), (3, b"\x17" + bytes(53)),
                           (4, b"\x17" + bytes(650)), (4, b"\x15" + bytes(40)),
                           (0, b"\x14" + bytes(12)), (1, b"\x18\x00"), (5, bytes(20))):
            events += bytes([kind]) + struct.pack(">H", len(data)) + data
        write("decrypt", bytes([pick]) + events)
    # record_decrypt: each key-log capture's connections with its key log's number (name order).
    key_logs = sorted((CAPTURES / "keylog").glob("*.keylog"))
    for number, keylog in enumerate(key_logs):
        parsed = read_pcap(keylog.with_suffix(".pcap").read_bytes())
        if parsed is None:
            continue
        link, frames = parsed
        for conn in connections(link, frames):
            write("record_decrypt", bytes([number]) + b"".join(
                struct.pack("<BH", d, len(p)) + p for _, d, _, _, p in conn["segs"] if p))
    for target in sorted(CORPUS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} seeds")


if __name__ == "__main__":
    main()
