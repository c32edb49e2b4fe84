#!/usr/bin/env python3
"""QUIC handshake benchmark corpus: recorded QUIC connections replayed many times, every replay
with fresh connection IDs and its Initial packets re-protected under the keys of its new DCID,
mixed with the TCP traffic of a standard corpus.

Nothing can be cached across replayed connections: each one's client DCID is new, so each needs
its own key derivation, exactly as live traffic does. Handshake, 0-RTT and 1-RTT packets keep
their (opaque) protected bytes with the new connection IDs written into their headers.

Usage:
  python3 benches/quic_corpus.py --seed-dir captures/quic --flows 20000 \\
      --tcp ../shared/bench/handshakes-10k.pcap --out quic-mix.pcap [--seed 3]

Seeds: the QUIC scenario captures that complete a handshake without Retry or Version
Negotiation (aioquic-v1-h3, aioquic-v2-h3, aioquic-ipv6-port-8443,
aioquic-client-hello-3-initials, quinn-v1-h3 by default). Every replay gets a new client
address and port and a server from a pool, starts at a random time within the TCP corpus's
span and keeps the seed's inter-packet gaps. Output: classic pcap, Ethernet, microseconds,
the TCP corpus's frames and the QUIC frames merged by time. Needs `cryptography` (pip; it
comes with aioquic). Deterministic for given arguments.
"""
import argparse
import heapq
import hashlib
import hmac
import random
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

V1, V2 = 0x00000001, 0x6B3343CF
SALT = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
LABEL = {V1: b"quic ", V2: b"quicv2 "}
# Long-header type bits of an Initial packet.
INITIAL_BITS = {V1: 0, V2: 1}
# UDP ports that tlsight (like tshark) decodes as tunnels (GTP-U, VXLAN, Geneve): a client on
# one of them would have its server's replies decapsulated rather than read as QUIC.
TUNNEL_PORTS = {2152, 4789, 6081}
DEFAULT_SEEDS = ["aioquic-v1-h3", "aioquic-v2-h3", "aioquic-ipv6-port-8443",
                 "aioquic-client-hello-3-initials", "quinn-v1-h3"]


# ---------------------------------------------------------------- keys (RFC 9001 §5)
def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:length]


def initial_keys(version, dcid):
    """{'client': (key, iv, hp), 'server': ...} for a DCID."""
    initial = hkdf_extract(SALT[version], dcid)
    keys = {}
    for side in ("client", "server"):
        secret = expand_label(initial, side.encode() + b" in", 32)
        p = LABEL[version]
        keys[side] = (expand_label(secret, p + b"key", 16), expand_label(secret, p + b"iv", 12),
                      expand_label(secret, p + b"hp", 16))
    return keys


def hp_mask(hp, sample):
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    return enc.update(sample) + enc.finalize()


def nonce(iv, pn):
    return bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big")))


# ---------------------------------------------------------------- packets
def varint(buf, off):
    n = 1 << (buf[off] >> 6)
    v = buf[off] & 0x3F
    for b in buf[off + 1:off + n]:
        v = v << 8 | b
    return v, off + n


def long_header(d, off):
    """(version, dcid, scid, type bits, pn_offset, end) of the long header at `off`."""
    first = d[off]
    version = struct.unpack("!I", d[off + 1:off + 5])[0]
    p = off + 5
    dcid = d[p + 1:p + 1 + d[p]]
    p += 1 + d[p]
    scid = d[p + 1:p + 1 + d[p]]
    p += 1 + d[p]
    bits = first >> 4 & 3
    if bits == INITIAL_BITS.get(version):
        tlen, p = varint(d, p)
        p += tlen
    length, p = varint(d, p)
    return version, dcid, scid, bits, p, p + length


def rewrite_cids(d, off, cid_map):
    """Replaces the DCID and SCID of the long header at `off` (same lengths)."""
    p = off + 5
    for _ in range(2):
        n = d[p]
        cid = bytes(d[p + 1:p + 1 + n])
        d[p + 1:p + 1 + n] = cid_map.get(cid, cid)
        p += 1 + n


def reprotect_initial(d, off, pn_off, end, old, new, cid_map):
    """Opens the Initial at d[off:end] with `old` keys, writes the new connection IDs into its
    header (the AEAD's associated data) and seals it again with `new`."""
    key, iv, hp = old
    mask = hp_mask(hp, bytes(d[pn_off + 4:pn_off + 20]))
    d[off] ^= mask[0] & 0x0F
    pn_len = (d[off] & 3) + 1
    for i in range(pn_len):
        d[pn_off + i] ^= mask[1 + i]
    pn = int.from_bytes(d[pn_off:pn_off + pn_len], "big")
    header_end = pn_off + pn_len
    plain = AESGCM(key).decrypt(nonce(iv, pn), bytes(d[header_end:end]), bytes(d[off:header_end]))
    rewrite_cids(d, off, cid_map)
    nkey, niv, nhp = new
    d[header_end:end] = AESGCM(nkey).encrypt(nonce(niv, pn), plain, bytes(d[off:header_end]))
    mask = hp_mask(nhp, bytes(d[pn_off + 4:pn_off + 20]))
    d[off] ^= mask[0] & 0x0F
    for i in range(pn_len):
        d[pn_off + i] ^= mask[1 + i]


# ---------------------------------------------------------------- pcap in and out
def read_pcap(path):
    data = Path(path).read_bytes()
    e = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        yield sec * 1_000_000 + (frac // 1000 if nano else frac), link, data[off:off + incl]
        off += incl


def udp_of(link, frame):
    """(family, src ip, dst ip, sport, dport, payload) of a UDP frame, or None."""
    ip = frame[14:] if link == 1 else frame[4:] if link in (0, 108) else frame
    if link == 1 and frame[12:14] not in (b"\x08\x00", b"\x86\xdd"):
        return None
    if ip[0] >> 4 == 4 and ip[9] == 17:
        h = (ip[0] & 15) * 4
        u = ip[h:]
        return 4, ip[12:16], ip[16:20], *struct.unpack("!HH", u[:4]), u[8:struct.unpack("!H", u[4:6])[0]]
    if ip[0] >> 4 == 6 and ip[6] == 17:
        u = ip[40:]
        return 6, ip[8:24], ip[24:40], *struct.unpack("!HH", u[:4]), u[8:struct.unpack("!H", u[4:6])[0]]
    return None


class Template:
    """One seed QUIC connection: its datagrams (time offset µs, from client?, payload)."""

    def __init__(self, name, fam, server_port, datagrams):
        self.name, self.fam, self.server_port, self.datagrams = name, fam, server_port, datagrams
        first = datagrams[0][2]
        self.version, self.dcid, self.client_scid, _, _, _ = long_header(first, 0)
        server = next(p for _, c, p in datagrams if not c)
        _, _, self.server_scid, _, _, _ = long_header(server, 0)


def load_template(path):
    flows = {}
    for ts, link, frame in read_pcap(path):
        u = udp_of(link, frame)
        if u is None:
            continue
        fam, src, dst, sport, dport, payload = u
        key = tuple(sorted([(src, sport), (dst, dport)]))
        flow = flows.setdefault(key, {"client": (src, sport), "fam": fam, "pkts": []})
        flow["pkts"].append((ts, (src, sport) == flow["client"], payload))
    # The first connection of the seed (resumption seeds have two; only the first is used).
    flow = next(iter(flows.values()))
    t0 = flow["pkts"][0][0]
    server_port = next(p for (ip, p) in [k for k in flows][0] if (ip, p) != flow["client"])
    return Template(Path(path).stem, flow["fam"], server_port,
                    [(ts - t0, c, bytearray(p)) for ts, c, p in flow["pkts"]])


def replay(tpl, rng):
    """The template's datagrams with fresh CIDs and re-protected Initials."""
    new_dcid = rng.randbytes(len(tpl.dcid))
    cid_map = {bytes(tpl.dcid): new_dcid,
               bytes(tpl.client_scid): rng.randbytes(len(tpl.client_scid)),
               bytes(tpl.server_scid): rng.randbytes(len(tpl.server_scid))}
    old, new = {}, {}
    out = []
    for dt, from_client, payload in tpl.datagrams:
        d = bytearray(payload)
        off = 0
        while off < len(d):
            if d[off] & 0x80 == 0:
                # Short header: the DCID follows the first byte (length as the peer chose it).
                for cid, fresh in cid_map.items():
                    if cid and d[off + 1:off + 1 + len(cid)] == cid:
                        d[off + 1:off + 1 + len(cid)] = fresh
                        break
                break
            try:
                version, dcid, scid, bits, pn_off, end = long_header(d, off)
            except (IndexError, struct.error):
                break
            if version not in SALT or end > len(d):
                break
            if bits == INITIAL_BITS[version]:
                if version not in old:
                    old[version] = initial_keys(version, bytes(tpl.dcid))
                    new[version] = initial_keys(version, new_dcid)
                side = "client" if from_client else "server"
                reprotect_initial(d, off, pn_off, end, old[version][side], new[version][side], cid_map)
            else:
                # Handshake / 0-RTT: opaque to a passive reader; only their CIDs change.
                rewrite_cids(d, off, cid_map)
            if not any(d[end:]):
                break  # zero padding after the last packet
            off = end
        out.append((dt, from_client, bytes(d)))
    return out


def ip_checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(fam, src, dst, sport, dport, payload):
    """An Ethernet frame carrying a UDP datagram (UDP checksum 0 over IPv4, computed over IPv6)."""
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    if fam == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
        return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp
    pseudo = src + dst + struct.pack("!I3xB", udp_len, 17)
    data = pseudo + udp + (b"\x00" if len(udp) % 2 else b"")
    c = ip_checksum(data) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!IHBB16s16s", 0x60000000, udp_len, 17, 64, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd" + ip + udp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-dir", default=str(Path(__file__).resolve().parent.parent / "captures" / "quic"))
    ap.add_argument("--seeds", default=",".join(DEFAULT_SEEDS))
    ap.add_argument("--flows", type=int, default=10000, help="QUIC connections to write")
    ap.add_argument("--tcp", help="a standard TCP corpus (pcap, Ethernet) to mix in")
    ap.add_argument("--span", type=float, default=10.0, help="seconds, when no --tcp is given")
    ap.add_argument("--span-of", help="a pcap whose time span (first to last frame) replaces --span "
                    "(a QUIC-only corpus as long as a TCP one, without mixing it in)")
    ap.add_argument("--one-socket", action="store_true",
                    help="every connection between the same client address and port and the same server "
                    "(one UDP socket for all, as a quinn endpoint keeps), one after another")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    templates = [load_template(Path(a.seed_dir) / f"{s}.pcap") for s in a.seeds.split(",")]

    tcp = list(read_pcap(a.tcp)) if a.tcp else []
    if tcp:
        start, span = tcp[0][0], tcp[-1][0] - tcp[0][0]
    elif a.span_of:
        first = last = None
        for ts, _, _ in read_pcap(a.span_of):
            first = ts if first is None else first
            last = ts
        start, span = first, last - first
    else:
        start, span = 1_700_000_000_000_000, int(a.span * 1e6)
    quic = []
    for i in range(a.flows):
        tpl = templates[i % len(templates)]
        t0 = start + rng.randrange(max(1, span))
        if a.one_socket:
            t0 = start + i * span // a.flows
        cport = 1024 + rng.randrange(64000)
        if a.one_socket:
            i = 0
            cport = 50000
        if tpl.fam == 4:
            cip = bytes([10, 64 | (i >> 16) & 63, (i >> 8) & 255, i & 255])
            sip = bytes([198, 51, 100, 1 + i % 64])
        else:
            cip = bytes.fromhex("fd00000000000000000000000000") + struct.pack("!H", i & 0xFFFF)
            sip = bytes.fromhex("20010db80000000000000000000000") + bytes([1 + i % 64])
        if cport in TUNNEL_PORTS:
            cport += 1  # the server's replies would be decapsulated, as tshark does too
        for dt, from_client, payload in replay(tpl, rng):
            src, dst, sp, dp = (cip, sip, cport, 443) if from_client else (sip, cip, 443, cport)
            quic.append((t0 + dt, frame(tpl.fam, src, dst, sp, dp, payload)))
    quic.sort(key=lambda x: x[0])

    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        merged = heapq.merge(((ts, fr) for ts, _, fr in tcp), quic, key=lambda x: x[0])
        n = 0
        for ts, fr in merged:
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)) + fr)
            n += 1
    print(f"{a.out}: {n} frames ({len(quic)} QUIC datagrams in {a.flows} connections, "
          f"{len(tcp)} TCP frames)", file=sys.stderr)


if __name__ == "__main__":
    main()
