#!/usr/bin/env python3
"""QUIC scenarios between an aioquic client and an aioquic server, one per run, for record.sh.

Usage: aioquic_scenarios.py SCENARIO HOST PORT CERT KEY CA KEYLOG

Server and client run in one asyncio loop; each scenario ends by itself (bounded timeouts).
Every connection's TLS secrets are appended to KEYLOG (SSLKEYLOGFILE format).
"""
import asyncio
import socket
import ssl
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicErrorCode, QuicFrameType, QuicProtocolVersion
from aioquic.tls import CipherSuite

V1 = QuicProtocolVersion.VERSION_1
V2 = QuicProtocolVersion.VERSION_2
# A reserved version (RFC 9000 §15): no server supports it, so it forces Version Negotiation.
RESERVED = 0x1A2A3A4A


class Refusing(QuicConnectionProtocol):
    """A server at capacity: reads the client's first Initial, answers CONNECTION_REFUSED."""

    def datagram_received(self, data, addr):
        self._quic.receive_datagram(data, addr, now=self._loop.time())
        if not self._quic._close_pending:
            # A frame type makes it a transport error (0x1c), as a refusal is.
            self._quic.close(error_code=QuicErrorCode.CONNECTION_REFUSED,
                             frame_type=QuicFrameType.PADDING, reason_phrase="server busy")
        self._process_events()
        self.transmit()


def server_config(args, **kw):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=kw.pop("alpn", ["h3"]),
                            secrets_log_file=args["keylog"], **kw)
    cfg.load_cert_chain(args["cert"], args["key"])
    return cfg


def client_config(args, **kw):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=kw.pop("alpn", ["h3"]),
                            server_name="server.test", secrets_log_file=args["keylog"],
                            idle_timeout=kw.pop("idle_timeout", 5.0), **kw)
    if kw.get("verify_mode") is None:
        cfg.load_verify_locations(args["ca"])
    return cfg


async def handshake(args, cfg, *, attempts=1, zero_rtt=False, expect_failure=False):
    """Connects (with 0-RTT data when asked), sends a ping, closes. Returns the tickets seen."""
    tickets = []
    for _ in range(attempts):
        try:
            async with connect(args["host"], args["port"], configuration=cfg,
                               session_ticket_handler=tickets.append,
                               wait_connected=not zero_rtt) as client:
                if zero_rtt:
                    reader, writer = await client.create_stream()
                    writer.write(b"hello tlsight 0-rtt")
                    writer.write_eof()
                await asyncio.wait_for(client.wait_connected(), 5)
                await asyncio.wait_for(client.ping(), 5)
                await asyncio.sleep(0.2)
                client.close()
                await client.wait_closed()
        except (ConnectionError, asyncio.TimeoutError) as e:
            if not expect_failure:
                raise
            print(f"client gave up as expected: {e!r}", file=sys.stderr)
    return tickets


async def echo(reader, writer):
    data = await reader.read()
    writer.write(data)
    writer.write_eof()


async def run(name, args):
    tickets = {}
    server_kw, retry, proto = {}, False, QuicConnectionProtocol
    client_kw, failure = {}, False
    if name == "v2":
        server_kw["supported_versions"] = [V2, V1]
        client_kw["supported_versions"] = [V2]
    elif name == "retry":
        retry = True
    elif name == "version-negotiation":
        client_kw["supported_versions"] = [RESERVED, V1]
    elif name == "version-negotiation-failed":
        client_kw["supported_versions"] = [RESERVED]
        failure = True
    elif name == "client-hello-3-initials":
        # A ~1.2 KB transport parameter (aioquic's "quantum readiness" test) makes the
        # ClientHello larger than one Initial packet, as post-quantum key shares do.
        client_kw["quantum_readiness_test"] = True
        client_kw["alpn"] = ["h3"] + [f"x-padding-{i:03d}" for i in range(60)]
    elif name == "alpn-mismatch":
        client_kw["alpn"] = ["doq"]
        failure = True
    elif name == "no-shared-cipher":
        server_kw["cipher_suites"] = [CipherSuite.AES_128_GCM_SHA256]
        client_kw["cipher_suites"] = [CipherSuite.CHACHA20_POLY1305_SHA256]
        failure = True
    elif name == "server-refuses":
        proto = Refusing
        failure = True
    elif name == "client-rejects-certificate":
        client_kw["verify_mode"] = ssl.CERT_REQUIRED
        failure = True
    elif name == "silent-server":
        client_kw["idle_timeout"] = 2.0
        failure = True
    elif name not in ("v1-h3", "ipv6-port-8443", "resumption-0rtt"):
        raise SystemExit(f"unknown scenario {name}")

    if name == "silent-server":
        family = socket.AF_INET6 if ":" in args["host"] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((args["host"], args["port"]))  # reads nothing, answers nothing
        await handshake(args, client_config(args, **client_kw), expect_failure=True)
        sock.close()
        return

    store = {}
    server = await serve(args["host"], args["port"], configuration=server_config(args, **server_kw),
                         create_protocol=proto, retry=retry, stream_handler=lambda r, w: asyncio.ensure_future(echo(r, w)),
                         session_ticket_fetcher=store.pop, session_ticket_handler=lambda t: store.__setitem__(t.ticket, t))
    try:
        # client-rejects-certificate: verify_mode set and no trust anchor loaded, so the
        # server's chain does not verify.
        cfg = client_config(args, **client_kw)
        got = await handshake(args, cfg, expect_failure=failure)
        if name == "resumption-0rtt":
            if not got:
                raise SystemExit("no session ticket received")
            again = client_config(args)
            again.session_ticket = got[-1]
            await handshake(args, again, zero_rtt=True)
    finally:
        server.close()
        await asyncio.sleep(0.3)


def main():
    name, host, port, cert, key, ca, keylog = sys.argv[1:8]
    with open(keylog, "a") as log:
        args = dict(host=host, port=int(port), cert=cert, key=key, ca=ca, keylog=log)
        asyncio.run(asyncio.wait_for(run(name, args), 30))


if __name__ == "__main__":
    main()
