#!/usr/bin/env python3
"""A two-sided UDP relay for the DTLS scenario captures, on loopback only.

    DTLS client -> FRONT [client half, socket bound to A] <-> [server half, socket bound to B] -> SERVER

The capture is taken on the A <-> B leg, so it holds one 5-tuple whatever port the client
binds. The halves can:

  --drop-server K   drop the K-th datagram the server sends (1-based), after it crossed the
                    captured leg (the capture shows it, the client never gets it): a flight
                    lost once, which both ends then retransmit.
  --drop-server-from K
                    drop the K-th datagram the server sends and every later one, after the
                    captured leg: replies that never reach the client (an asymmetric path, a
                    firewall, a path MTU too small for the server's flight).
  --stun            make the leg WebRTC-shaped: before any DTLS, each half sends a STUN binding
                    request (RFC 5389: magic cookie, SOFTWARE, FINGERPRINT) to the other, which
                    answers with a binding success (XOR-MAPPED-ADDRESS, FINGERPRINT); one more
                    exchange (an ICE consent check) follows a second after the DTLS starts.

Stops after --seconds. Prints one line per dropped datagram and STUN message to stderr.
"""
import argparse
import os
import select
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101


def attribute(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack(">HH", kind, len(value)) + value + b"\0" * pad


def stun(kind, txid, attrs):
    """A STUN message with a FINGERPRINT (CRC-32 of everything before it, XOR 0x5354554e)."""
    body = b"".join(attrs)
    head = struct.pack(">HHI", kind, len(body) + 8, MAGIC) + txid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + attribute(0x8028, struct.pack(">I", crc))


def binding_request():
    return stun(BINDING_REQUEST, os.urandom(12), [attribute(0x8022, b"tlsight relay")])


def binding_success(request, peer):
    """The answer to `request` from `peer` (host, port[, ...]): XOR-MAPPED-ADDRESS."""
    txid = request[8:20]
    host, port = peer[0], peer[1]
    xport = port ^ (MAGIC >> 16)
    if ":" in host:
        addr = socket.inet_pton(socket.AF_INET6, host)
        key = struct.pack(">I", MAGIC) + txid
        xaddr = bytes(a ^ b for a, b in zip(addr, key))
        value = struct.pack(">BBH", 0, 2, xport) + xaddr
    else:
        addr = struct.unpack(">I", socket.inet_aton(host))[0]
        value = struct.pack(">BBHI", 0, 1, xport, addr ^ MAGIC)
    return stun(BINDING_SUCCESS, txid, [attribute(0x0020, value)])


def is_stun(data):
    return len(data) >= 20 and data[0] < 4 and struct.unpack(">I", data[4:8])[0] == MAGIC


def take_stun(sock, data, peer, where):
    """Answers a STUN binding request arriving on `sock` (responses are only noted); returns
    whether `data` was STUN."""
    if not is_stun(data):
        return False
    if struct.unpack(">H", data[:2])[0] == BINDING_REQUEST:
        sock.sendto(binding_success(data, peer), peer)
    print(f"stun at {where}:", data[:2].hex(), file=sys.stderr)
    return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--front", type=int, required=True)
    p.add_argument("--a", type=int, required=True)
    p.add_argument("--b", type=int, required=True)
    p.add_argument("--server", type=int, required=True)
    p.add_argument("--drop-server", type=int, default=0)
    p.add_argument("--drop-server-from", type=int, default=0)
    p.add_argument("--stun", action="store_true")
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET

    def bound(port):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((args.host, port))
        return s

    front, a, b = bound(args.front), bound(args.a), bound(args.b)
    to_server = socket.socket(fam, socket.SOCK_DGRAM)
    to_server.connect((args.host, args.server))
    b_addr, a_addr = (args.host, args.b), (args.host, args.a)
    client = None
    server_datagrams = 0
    consent_at = None
    consent_scheduled = not args.stun
    if args.stun:
        a.sendto(binding_request(), b_addr)
        b.sendto(binding_request(), a_addr)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([front, a, b, to_server], [], [], 0.05)
        if consent_at is not None and time.monotonic() >= consent_at:
            a.sendto(binding_request(), b_addr)
            consent_at = None
        for s in ready:
            data, peer = s.recvfrom(65535)
            if s is front:
                client = peer
                if not consent_scheduled:
                    consent_scheduled = True
                    consent_at = time.monotonic() + 1.0
                a.sendto(data, b_addr)
            elif s is b:
                if not take_stun(b, data, peer, "B"):
                    to_server.send(data)
            elif s is to_server:
                b.sendto(data, a_addr)
            elif s is a:
                if not take_stun(a, data, peer, "A"):
                    server_datagrams += 1
                    if server_datagrams == args.drop_server or (
                        0 < args.drop_server_from <= server_datagrams
                    ):
                        print(f"dropped server datagram {server_datagrams} ({len(data)} bytes)",
                              file=sys.stderr)
                    elif client is not None:
                        front.sendto(data, client)


if __name__ == "__main__":
    main()
