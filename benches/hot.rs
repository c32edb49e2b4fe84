//! Criterion micro-benchmarks of the hot parts of the pipeline, on a bundled capture
//! (`captures/tls12-ecdhe-rsa.pcap`: a TLS 1.2 handshake with a certificate chain, then
//! application data): link/IP/TCP decoding, flow-key hashing, the flow table with
//! reassembly, TLS record deframing, ClientHello parsing with fingerprints, certificate parsing
//! and the certificate cache, and the whole TLS observer on one connection; and QUIC's cost per
//! Initial packet (key derivation, header protection, AEAD open) on the RFC 9001 vectors.
//!
//! `cargo bench --bench hot` measures; `cargo test --benches` (part of `--all-targets`) runs
//! each once as a smoke test. Where the time goes in the whole process is in the README
//! (performance section); these isolate one stage each so that a change can be compared.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use tlsight::capture::{OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder, LinkType};
use tlsight::flow::{Direction, Endpoint, FlowKey, Timestamp, Transport};
use tlsight::tcp::{CloseReason, Connection, Limits, Segment, StreamConsumer, TcpTable};
use tlsight::tls::codes::ContentType;
use tlsight::tls::handshake::certificate::{CertCache, parse_certificate};
use tlsight::tls::handshake::hello::{
    parse_certificate_list, parse_client_hello, parse_server_hello,
};
use tlsight::tls::handshake::{Carrier, fingerprint};
use tlsight::tls::record::{Deframer, Framing, RecordBody, RecordHeader, RecordSink};
use tlsight::tls::{AnomalyKind, RecordLayer, TlsContext};

/// The frames of one bundled capture.
struct Capture {
    link: LinkType,
    frames: Vec<(Timestamp, Vec<u8>)>,
}

fn load(name: &str) -> Capture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name);
    let mut src = OfflineFile::open(&path).expect("bundled capture opens");
    let link = src.link_type();
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame().expect("bundled capture reads") {
        frames.push((f.ts, f.data.to_vec()));
    }
    Capture { link, frames }
}

/// A decoded TCP segment with owned payload.
type OwnedSegment = Segment<Vec<u8>>;

fn segments(cap: &Capture) -> Vec<OwnedSegment> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for (ts, frame) in &cap.frames {
        if let Ok(Decoded::Tcp(seg)) = decoder.decode(cap.link, frame, *ts) {
            let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, seg.src, seg.dst);
            out.push(OwnedSegment {
                key,
                dir,
                header: seg.header,
                payload: seg.payload.to_vec(),
                ts: *ts,
                clock: *ts,
            });
        }
    }
    out
}

/// The same segments as `n` connections, interleaved as in a busy capture: copy `i` has its
/// client port shifted by `i` and its times by `i` microseconds.
fn replicate(segs: &[OwnedSegment], n: u16) -> Vec<OwnedSegment> {
    let mut out = Vec::with_capacity(segs.len() * usize::from(n));
    for s in segs {
        for i in 0..n {
            let shift = |e: Endpoint| {
                if e.port == 443 {
                    e
                } else {
                    Endpoint {
                        ip: e.ip,
                        port: e.port.wrapping_add(i),
                    }
                }
            };
            let (src, dst) = match s.dir {
                Direction::LoToHi => (s.key.lo, s.key.hi),
                Direction::HiToLo => (s.key.hi, s.key.lo),
            };
            let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, shift(src), shift(dst));
            let ts = Timestamp(s.ts.0 + i64::from(i) * 1_000);
            out.push(OwnedSegment {
                key,
                dir,
                ts,
                clock: ts,
                ..s.clone()
            });
        }
    }
    out
}

/// Collects both byte streams of a connection.
#[derive(Default)]
struct Streams([Vec<u8>; 2]);

impl StreamConsumer for Streams {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], _: Timestamp) {
        self.0[dir.index()].extend_from_slice(bytes);
    }
    fn on_gap(&mut self, _: Direction, _: u64, _: Timestamp) {}
}

/// Counts bytes without keeping them: the cheapest consumer, to time the table alone.
#[derive(Default)]
struct Count(u64);

impl StreamConsumer for Count {
    fn on_data(&mut self, _: Direction, bytes: &[u8], _: Timestamp) {
        self.0 += bytes.len() as u64;
    }
    fn on_gap(&mut self, _: Direction, _: u64, _: Timestamp) {}
}

/// Runs `segs` through `table`, then closes what is left.
fn feed<S: StreamConsumer>(
    table: &mut TcpTable<S>,
    segs: &[OwnedSegment],
    new: &mut impl FnMut(&FlowKey) -> S,
    closed: &mut impl FnMut(Connection<S>, CloseReason),
) {
    for s in segs {
        table.process(&s.with_payload(s.payload.as_slice()), new, closed);
    }
    table.drain(new, closed);
}

/// The client's and the server's byte streams of the capture's connection (client first).
fn streams(segs: &[OwnedSegment]) -> [Vec<u8>; 2] {
    let mut got = Vec::new();
    feed(
        &mut TcpTable::new(Limits::default()),
        segs,
        &mut |_: &FlowKey| Streams::default(),
        &mut |c: Connection<Streams>, _| got.push(c.consumer.0),
    );
    let [a, b] = got.into_iter().next().expect("one connection");
    // The client's stream starts with a handshake record holding a ClientHello.
    if a.get(5) == Some(&1) { [a, b] } else { [b, a] }
}

/// The handshake messages (type, body) of a stream of plaintext TLS records, until the
/// first non-handshake record after the hellos.
fn handshake_messages(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut joined = Vec::new();
    let mut rest = stream;
    while let [typ, _, _, hi, lo, tail @ ..] = rest {
        let len = usize::from(*hi) << 8 | usize::from(*lo);
        let Some(body) = tail.get(..len) else { break };
        if *typ == 22 {
            joined.extend_from_slice(body);
        } else if *typ != 20 {
            break;
        }
        rest = &tail[len..];
        if *typ == 20 {
            break; // ChangeCipherSpec: what follows is encrypted
        }
    }
    let mut out = Vec::new();
    let mut m = joined.as_slice();
    while let [t, a, b, c, tail @ ..] = m {
        let len = usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c);
        let Some(body) = tail.get(..len) else { break };
        out.push((*t, body.to_vec()));
        m = &tail[len..];
    }
    out
}

/// A record sink that only counts, so the deframer is timed alone.
struct CountRecords(u64);

impl RecordSink for CountRecords {
    fn wants_body(&self, header: &RecordHeader) -> bool {
        header.content_type == ContentType::HANDSHAKE
    }
    fn record(&mut self, _: RecordHeader, _: RecordBody<'_>, _: Timestamp) {
        self.0 += 1;
    }
    fn anomaly(&mut self, _: AnomalyKind) {}
    fn peer_sent_client_hello(&self) -> bool {
        true
    }
    fn framing(&self) -> Framing {
        Framing::Tls
    }
}

fn benches(c: &mut Criterion) {
    let cap = load("tls12-ecdhe-rsa.pcap");
    let segs = segments(&cap);
    let [client, server] = streams(&segs);
    let client_msgs = handshake_messages(&client);
    let server_msgs = handshake_messages(&server);
    let hello = client_msgs
        .iter()
        .find(|(t, _)| *t == 1)
        .map(|(_, b)| b.clone())
        .expect("a ClientHello");
    let certs_body = server_msgs
        .iter()
        .find(|(t, _)| *t == 11)
        .map(|(_, b)| b.clone())
        .expect("a Certificate message");
    let ders: Vec<Vec<u8>> = parse_certificate_list(&certs_body, false)
        .expect("certificate list")
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(cap.frames.len() as u64));
    g.bench_function("link_ip_tcp", |b| {
        let mut decoder = Decoder::new();
        b.iter(|| {
            for (ts, frame) in &cap.frames {
                let _ = black_box(decoder.decode(cap.link, frame, *ts));
            }
        })
    });
    g.finish();

    let many = replicate(&segs, 1000);
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(many.len() as u64));
    g.bench_function("key_and_shard", |b| {
        b.iter(|| {
            for s in &many {
                let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, s.key.lo, s.key.hi);
                black_box((key.shard(2), dir));
            }
        })
    });
    g.bench_function("table_reassembly_1000_connections", |b| {
        b.iter(|| {
            feed(
                &mut TcpTable::new(Limits::default()),
                &many,
                &mut |_: &FlowKey| Count::default(),
                &mut |c: Connection<Count>, _| {
                    black_box(c.consumer.0);
                },
            );
        })
    });
    g.finish();

    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Bytes(server.len() as u64));
    g.bench_function("deframe_server_stream", |b| {
        b.iter(|| {
            let mut d = Deframer::new(4096);
            let mut sink = CountRecords(0);
            for chunk in server.chunks(1460) {
                d.feed(chunk, Timestamp(0), &mut sink);
            }
            black_box(sink.0)
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("client_hello_with_fingerprints", |b| {
        b.iter(|| {
            let mut h = parse_client_hello(&hello).expect("the capture's ClientHello parses");
            fingerprint::fill_client(&mut h, Carrier::Tcp);
            black_box(h)
        })
    });
    g.finish();

    // The hello body parsers alone (no fingerprints), on the capture's TLS 1.2 hellos and on a
    // Chrome TLS 1.3 ClientHello with GREASE.
    let server_hello = server_msgs
        .iter()
        .find(|(t, _)| *t == 2)
        .map(|(_, b)| b.clone())
        .expect("a ServerHello");
    let chrome = include_bytes!("../tests/fixtures/tls/ch_tls13_grease.bin");
    let mut g = c.benchmark_group("hello_parse");
    g.throughput(Throughput::Elements(1));
    for (name, body) in [
        ("client_tls12", hello.as_slice()),
        ("client_chrome_tls13", chrome),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(parse_client_hello(black_box(body))))
        });
    }
    g.bench_function("server_tls12", |b| {
        b.iter(|| black_box(parse_server_hello(black_box(&server_hello), 2)))
    });
    g.finish();

    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Elements(1));
    g.bench_function("certificate_parse", |b| {
        b.iter(|| black_box(parse_certificate(&ders[0])))
    });
    g.bench_function("certificate_cache_hit", |b| {
        let mut cache = CertCache::default();
        cache.get_or_parse(&ders[0]);
        b.iter(|| black_box(cache.get_or_parse(&ders[0])))
    });
    g.bench_function("observer_one_connection", |b| {
        b.iter(|| {
            let mut ctx = TlsContext::default();
            let mut obs = RecordLayer::new();
            let dirs = [Direction::LoToHi, Direction::HiToLo];
            for chunk in client.chunks(1460) {
                obs.on_data(&mut ctx, dirs[0], chunk, Timestamp(0));
            }
            for chunk in server.chunks(1460) {
                obs.on_data(&mut ctx, dirs[1], chunk, Timestamp(1));
            }
            black_box(obs.finish())
        })
    });
    g.finish();
}

/// QUIC: what every connection pays before its ClientHello can be read. Nothing is cached
/// across iterations (a real connection has a fresh DCID): keys are derived inside the loop.
fn quic(c: &mut Criterion) {
    use tlsight::quic::keys::InitialKeys;
    use tlsight::quic::packet::unprotect;
    use tlsight::quic::{QuicConfig, QuicConnection, QuicContext, QuicVersion};

    let fixture = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/quic")
                .join(name),
        )
        .expect("fixture")
    };
    let client_initial = fixture("rfc9001_client_initial.bin");
    let server_initial = fixture("rfc9001_server_initial.bin");
    let v1 = QuicVersion::V1.params().expect("v1");
    let dcid = &client_initial[6..14];

    let mut g = c.benchmark_group("quic");
    g.throughput(Throughput::Elements(1));
    g.bench_function("initial_keys", |b| {
        let mut fresh = [0u8; 8];
        b.iter(|| {
            fresh[0] = fresh[0].wrapping_add(1);
            black_box(InitialKeys::derive(v1, black_box(&fresh)))
        })
    });
    g.bench_function("client_initial_keys_and_open", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            let keys = InitialKeys::derive(v1, black_box(dcid)).expect("derive");
            let opened = unprotect(&client_initial, 18, &keys.client, None, &mut scratch);
            black_box(opened.map(|o| o.payload.len()))
        })
    });
    g.bench_function("connection_client_and_server_initial", |b| {
        let mut ctx = QuicContext::default();
        b.iter(|| {
            let mut conn = QuicConnection::new(QuicConfig::default());
            let mut sink = NullSink;
            conn.on_datagram(
                &mut ctx,
                Direction::HiToLo,
                &client_initial,
                Timestamp(0),
                &mut sink,
            );
            conn.on_datagram(
                &mut ctx,
                Direction::LoToHi,
                &server_initial,
                Timestamp(1),
                &mut sink,
            );
            black_box(conn.finish(&mut sink))
        })
    });
    g.finish();
}

/// A handshake sink that drops everything (the QUIC benches measure the transport alone).
struct NullSink;

impl tlsight::tls::handshake::HandshakeSink for NullSink {
    fn on_message(&mut self, _: Direction, _: u8, body: &[u8], _: Timestamp) {
        black_box(body);
    }
    fn on_protected(&mut self, _: Direction, _: usize, _: Timestamp) {}
    fn on_application_data(&mut self, _: Direction, _: usize, _: Timestamp) {}
    fn on_change_cipher_spec(&mut self, _: Direction, _: Timestamp) {}
    fn on_alert(&mut self, _: Direction, _: tlsight::tls::Alert, _: Timestamp) {}
    fn on_gap(&mut self, _: Direction, _: Timestamp) {}
    fn anomaly(&mut self, _: Direction, _: &'static str) {}
    fn finish(&mut self) {}
}

criterion_group!(hot, benches, quic);
criterion_main!(hot);
