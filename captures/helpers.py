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

Servers handle exactly one connection and exit, so captures stay small.
"""

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
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main(sys.argv)
