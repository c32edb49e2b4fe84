#!/usr/bin/env python3
"""Scripted TLS peers used by record.sh (standard library only).

Each subcommand plays one side of a capture scenario that the stock
openssl/gnutls tools cannot produce on their own:

  smtp-server PORT CERT KEY      SMTP greeting, EHLO -> 250-STARTTLS, STARTTLS -> 220,
                                 then TLS (Python ssl) and answer QUIT with 221.
  reset-server PORT              accept, read the ClientHello, close with SO_LINGER 0 (RST).
  silent-server PORT SECONDS     accept, read the ClientHello, never answer.
  split-client PORT CAFILE SNI   real TLS client whose ClientHello is written in three
                                 TCP segments (TCP_NODELAY + pauses), then a fixed payload.
  pq-server PORT                 answers a TLS 1.3 ClientHello with a ServerHello choosing the
                                 post-quantum hybrid X25519MLKEM768 (0x11ec), then random
                                 stand-ins for the encrypted records (right sizes, no crypto).
  pq-client PORT SNI             sends a Chrome-like TLS 1.3 ClientHello (GREASE, X25519MLKEM768
                                 + x25519 key shares, ALPN h2, GREASE ECH extension), then
                                 random stand-ins for its Finished and a request.

  delay-proxy PORT BACKEND MS N TCP proxy on PORT to BACKEND (both on loopback) that holds
                                 every chunk the server sends for MS milliseconds: a server
                                 grown slow, without netem (this kernel has none). Serves N
                                 connections, then exits.

Servers handle exactly one connection and exit, so captures stay small.
"""

import os
import select
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"


def listen(port):
    """Listening socket on loopback with SO_REUSEADDR so re-runs do not trip on TIME_WAIT."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, port))
    srv.listen(1)
    return srv


def read_line(conn):
    """One CRLF-terminated line, byte by byte so no TLS bytes are swallowed after STARTTLS."""
    buf = b""
    while not buf.endswith(b"\n"):
        ch = conn.recv(1)
        if not ch:
            break
        buf += ch
    return buf


def smtp_server(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = listen(port)
    conn, _ = srv.accept()
    conn.sendall(b"220 mail.server.test ESMTP tlsight-capture\r\n")
    while True:
        line = read_line(conn).upper()
        if not line:
            conn.close()
            return
        if line.startswith((b"EHLO", b"HELO")):
            conn.sendall(b"250-mail.server.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        elif line.startswith(b"STARTTLS"):
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            break
        else:
            conn.sendall(b"502 5.5.2 command not recognized\r\n")
    tls = ctx.wrap_socket(conn, server_side=True)
    while True:
        line = read_line(tls).upper()
        if not line:
            break
        if line.startswith(b"QUIT"):
            tls.sendall(b"221 2.0.0 Bye\r\n")
            break
        tls.sendall(b"250 2.0.0 OK\r\n")
    try:
        tls.unwrap()
    except (ssl.SSLError, OSError):
        pass
    tls.close()


def read_client_hello(conn):
    """Read until one whole TLS record (the ClientHello) has arrived, or the peer stops."""
    buf = b""
    while len(buf) < 5 or len(buf) < 5 + struct.unpack("!H", buf[3:5])[0]:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def reset_server(port):
    srv = listen(port)
    conn, _ = srv.accept()
    read_client_hello(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def silent_server(port, seconds):
    srv = listen(port)
    conn, _ = srv.accept()
    read_client_hello(conn)
    deadline = time.monotonic() + seconds
    conn.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            if not conn.recv(4096):
                break
        except socket.timeout:
            continue
    conn.close()


def split_client(port, cafile, sni):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def flush():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def pump():
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("server closed during handshake")
        incoming.write(data)

    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    # Three pieces: record header split from the body, body split in the middle.
    cuts = [0, 3, 3 + (len(hello) - 3) // 2, len(hello)]
    for start, end in zip(cuts, cuts[1:]):
        sock.sendall(hello[start:end])
        time.sleep(0.05)
    while True:
        pump()
        try:
            tls.do_handshake()
            flush()
            break
        except ssl.SSLWantReadError:
            flush()
    tls.write(b"hello from split-client\n")
    flush()
    while True:
        pump()
        try:
            if tls.read(4096):
                break
        except ssl.SSLWantReadError:
            continue
    try:
        tls.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    flush()
    sock.close()


def tls_record(content_type, body, version=0x0303):
    return struct.pack("!BHH", content_type, version, len(body)) + body


def handshake(msg_type, body):
    return bytes([msg_type]) + struct.pack("!I", len(body))[1:] + body


def vec8(b):
    return bytes([len(b)]) + b


def vec16(b):
    return struct.pack("!H", len(b)) + b


def ext(ext_type, body):
    return struct.pack("!H", ext_type) + vec16(body)


def u16s(values):
    return b"".join(struct.pack("!H", v) for v in values)


X25519MLKEM768 = 0x11EC


def pq_client_hello(sni):
    """A Chrome-like TLS 1.3 ClientHello: GREASE values, X25519MLKEM768 (1184 + 32 byte share)
    and x25519 key shares, ALPN h2/http1.1, and a GREASE encrypted_client_hello (outer type,
    random config id, enc and payload, as RFC 9849 section 6.2 describes)."""
    shares = (struct.pack("!HH", 0x2A2A, 1) + b"\x00"
              + struct.pack("!HH", X25519MLKEM768, 1216) + os.urandom(1216)
              + struct.pack("!HH", 29, 32) + os.urandom(32))
    ech = (b"\x00" + struct.pack("!HH", 0x0001, 0x0001) + os.urandom(1)
           + vec16(os.urandom(32)) + vec16(os.urandom(144)))
    exts = b"".join([
        ext(0x0A0A, b""),
        ext(0, vec16(b"\x00" + vec16(sni.encode()))),
        ext(23, b""),
        ext(0xFF01, b"\x00"),
        ext(10, vec16(u16s([0x2A2A, X25519MLKEM768, 29, 23, 24]))),
        ext(11, vec8(b"\x00")),
        ext(35, b""),
        ext(16, vec16(vec8(b"h2") + vec8(b"http/1.1"))),
        ext(5, b"\x01\x00\x00\x00\x00"),
        ext(13, vec16(u16s([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]))),
        ext(18, b""),
        ext(51, vec16(shares)),
        ext(45, vec8(b"\x01")),
        ext(43, vec8(u16s([0x3A3A, 0x0304, 0x0303]))),
        ext(0xFE0D, ech),
        ext(0x1A1A, b"\x00"),
    ])
    body = (b"\x03\x03" + os.urandom(32) + vec8(os.urandom(32))
            + vec16(u16s([0x1A1A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030]))
            + vec8(b"\x00") + vec16(exts))
    return tls_record(22, handshake(1, body), 0x0301)


def recv_some(conn, seconds=1.0):
    """Whatever arrives within `seconds` (stops early once the peer closes)."""
    conn.settimeout(0.05)
    buf = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            if buf:
                break
            continue
        if not chunk:
            break
        buf += chunk
    return buf


def pq_server(port):
    srv = listen(port)
    conn, _ = srv.accept()
    hello = read_client_hello(conn)
    # record header 5, handshake header 4, version 2, random 32, then the session id.
    sid = hello[44:44 + hello[43]] if len(hello) > 44 else b""
    exts = ext(43, struct.pack("!H", 0x0304)) + ext(
        51, struct.pack("!HH", X25519MLKEM768, 1120) + os.urandom(1120))
    body = (b"\x03\x03" + os.urandom(32) + vec8(sid) + struct.pack("!H", 0x1301) + b"\x00"
            + vec16(exts))
    flight = (tls_record(22, handshake(2, body)) + tls_record(20, b"\x01")
              + tls_record(23, os.urandom(2200)))
    conn.sendall(flight)
    recv_some(conn)  # the client's CCS and Finished stand-in, then its request
    conn.sendall(tls_record(23, os.urandom(250)) + tls_record(23, os.urandom(60)))
    recv_some(conn)
    conn.close()


def pq_client(port, sni):
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(pq_client_hello(sni))
    recv_some(sock)
    sock.sendall(tls_record(20, b"\x01") + tls_record(23, os.urandom(53)))
    time.sleep(0.05)
    sock.sendall(tls_record(23, os.urandom(40)))
    recv_some(sock)
    sock.close()


def delay_proxy(port, backend, delay_ms, connections):
    srv = listen(port)
    for _ in range(connections):
        client, _ = srv.accept()
        upstream = socket.create_connection((HOST, backend))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        open_dirs = {client: upstream, upstream: client}
        while open_dirs:
            readable, _, _ = select.select(list(open_dirs), [], [], 10)
            if not readable:
                break
            for s in readable:
                data = s.recv(65536)
                peer = open_dirs[s]
                if not data:
                    peer.shutdown(socket.SHUT_WR)
                    del open_dirs[s]
                    continue
                if s is upstream:
                    time.sleep(delay_ms / 1000.0)
                peer.sendall(data)
        client.close()
        upstream.close()
    srv.close()


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "smtp-server":
        smtp_server(int(args[0]), args[1], args[2])
    elif cmd == "reset-server":
        reset_server(int(args[0]))
    elif cmd == "silent-server":
        silent_server(int(args[0]), float(args[1]))
    elif cmd == "split-client":
        split_client(int(args[0]), args[1], args[2])
    elif cmd == "pq-server":
        pq_server(int(args[0]))
    elif cmd == "pq-client":
        pq_client(int(args[0]), args[1])
    elif cmd == "delay-proxy":
        delay_proxy(int(args[0]), int(args[1]), float(args[2]), int(args[3]))
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main(sys.argv)
