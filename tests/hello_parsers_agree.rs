//! The nom ClientHello/ServerHello parsers (`hello_nom`) produce exactly what the hand-written
//! cursor parsers (`hello`) produce — the same values, the same errors — on the hellos of every
//! bundled capture (`captures/`, `captures/real/`, and `../shared/captures/real` when present),
//! on mutations and cuts of those hellos, and on arbitrary bytes. This is what makes the
//! benchmark between them (issue 12) a comparison of equals.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;

use tlsight::capture::{OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder};
use tlsight::flow::{Direction, FlowKey, Timestamp, Transport};
use tlsight::stream::StreamConsumer;
use tlsight::tcp::{Connection, Limits, Segment, TcpTable};
use tlsight::tls::handshake::hello::{self, ClientHello, HelloError, ServerHello};
use tlsight::tls::handshake::{Certificate, hello_nom};
use tlsight::tls::{MessageParsers, RecordConfig, RecordLayer, TlsContext, WireParsers};

thread_local! {
    /// Every hello body the record layer handed to the parsers: (handshake type, body).
    static SEEN: RefCell<Vec<(u8, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// The real parsers, recording the hello bodies they are given.
struct Recording;

impl MessageParsers for Recording {
    fn client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
        SEEN.with(|s| s.borrow_mut().push((1, body.to_vec())));
        WireParsers::client_hello(body)
    }
    fn sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
        WireParsers::sslv2_client_hello(msg)
    }
    fn server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
        SEEN.with(|s| s.borrow_mut().push((handshake_type, body.to_vec())));
        WireParsers::server_hello(body, handshake_type)
    }
    fn certificate_list(body: &[u8], tls13_format: bool) -> Result<Vec<&[u8]>, HelloError> {
        WireParsers::certificate_list(body, tls13_format)
    }
    fn certificate(ctx: &mut TlsContext, der: &[u8]) -> Arc<Certificate> {
        WireParsers::certificate(ctx, der)
    }
    fn server_key_exchange_curve(body: &[u8]) -> Option<u16> {
        WireParsers::server_key_exchange_curve(body)
    }
    fn new_session_ticket(body: &[u8]) -> Option<(u32, u16)> {
        WireParsers::new_session_ticket(body)
    }
}

/// One connection's record layer with its own context.
struct Observer {
    ctx: TlsContext,
    layer: RecordLayer<Recording>,
}

impl StreamConsumer for Observer {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        self.layer.on_data(&mut self.ctx, dir, bytes, ts);
    }
    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        self.layer.on_gap(dir, len, ts);
    }
}

/// The hello bodies of every TCP connection of a capture, as the pipeline parses them.
fn hellos_of(path: &Path) -> Vec<(u8, Vec<u8>)> {
    SEEN.with(|s| s.borrow_mut().clear());
    let mut src = OfflineFile::open(path).expect("bundled capture opens");
    let link = src.link_type();
    let mut decoder = Decoder::new();
    let mut table = TcpTable::new(Limits::default());
    let mut new = |_: &FlowKey| Observer {
        ctx: TlsContext::default(),
        layer: RecordLayer::with_parsers(RecordConfig::default()),
    };
    let mut closed = |c: Connection<Observer>, _| {
        c.consumer.layer.finish();
    };
    while let Ok(Some(frame)) = src.next_frame() {
        if let Ok(Decoded::Tcp(seg)) = decoder.decode(link, frame.data, frame.ts) {
            let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, seg.src, seg.dst);
            let seg = Segment {
                key,
                dir,
                header: seg.header,
                payload: seg.payload,
                ts: frame.ts,
                clock: frame.ts,
            };
            table.process(&seg, &mut new, &mut closed);
        }
    }
    table.drain(&mut closed);
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    out.sort();
    out
}

/// The hello bodies of every bundled capture (and of the shared real captures when present).
fn all_hellos() -> Vec<(u8, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = captures_in(&root.join("captures"));
    files.extend(captures_in(&root.join("captures/real")));
    files.extend(captures_in(&root.join("../shared/captures/real")));
    assert!(files.len() > 50, "bundled captures found: {}", files.len());
    files.iter().flat_map(|f| hellos_of(f)).collect()
}

/// Both parsers on one body: the same result, value or error.
fn assert_agree(typ: u8, body: &[u8]) {
    if typ == 1 {
        assert_eq!(
            hello::parse_client_hello(body),
            hello_nom::parse_client_hello(body),
            "ClientHello {body:02x?}"
        );
    } else {
        assert_eq!(
            hello::parse_server_hello(body, typ),
            hello_nom::parse_server_hello(body, typ),
            "ServerHello (type {typ}) {body:02x?}"
        );
    }
}

#[test]
fn parsers_agree_on_every_captured_hello_and_its_prefixes() {
    let hellos = all_hellos();
    let clients = hellos.iter().filter(|(t, _)| *t == 1).count();
    let servers = hellos.len() - clients;
    eprintln!("{clients} ClientHellos, {servers} ServerHellos");
    assert!(
        clients > 100 && servers > 80,
        "{clients} ClientHellos, {servers} ServerHellos"
    );
    for (typ, body) in &hellos {
        assert!(
            typ != &1 || hello::parse_client_hello(body).is_ok(),
            "a captured ClientHello parses"
        );
        for cut in 0..=body.len() {
            assert_agree(*typ, &body[..cut]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsers_agree_on_arbitrary_bytes(
        typ in prop::sample::select(vec![1u8, 2, 6]),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        assert_agree(typ, &bytes);
    }

    /// Real hellos with a few bytes changed: mostly well-framed, so the extension decoders
    /// are reached with odd contents.
    #[test]
    fn parsers_agree_on_mutated_captured_hellos(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        thread_local! {
            static HELLOS: Vec<(u8, Vec<u8>)> = all_hellos();
        }
        HELLOS.with(|hellos| {
            let (typ, body) = pick.get(hellos);
            let mut body = body.clone();
            if body.is_empty() {
                return;
            }
            for (at, value) in &edits {
                let i = at.index(body.len());
                body[i] = *value;
            }
            assert_agree(*typ, &body);
        });
    }
}
