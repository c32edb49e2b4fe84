//! The DTLS driver over arbitrary datagram sequences: demultiplexing, the record layer (classic,
//! tls12_cid and unified headers), handshake fragment reassembly, the cookie round and
//! retransmission counting; every message it completes goes through the hello parsers in their
//! DTLS format. Small joiner limits, so that the caps are reached, and a worker budget shared by
//! every connection of the input, smaller than two joiners' caps, so that it runs out too; once
//! every connection is finished, the budget holds nothing.
//!
//! Input: chunks `ctl | len (u16 LE) | bytes`, one datagram each; bit 0 of `ctl` is the
//! direction, the other bits the milliseconds since the previous datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::dtls::fragment::JoinerLimits;
use tlsight::dtls::hello_verify::parse_hello_verify_request;
use tlsight::dtls::{DatagramVerdict, DtlsConnection};
use tlsight::flow::{Direction, Timestamp};
use tlsight::tls::Alert;
use tlsight::tls::joiner::JoinBudget;
use tlsight::tls::handshake::HandshakeSink;
use tlsight::tls::handshake::hello::{self, HelloFormat};

/// Parses what the driver passes on, and counts the calls.
#[derive(Default)]
struct ParsingSink {
    calls: usize,
    finished: bool,
}

impl HandshakeSink for ParsingSink {
    fn on_message(&mut self, _: Direction, msg_type: u8, body: &[u8], _: Timestamp) {
        self.calls += 1;
        match msg_type {
            1 => drop(hello::parse_client_hello_as(body, HelloFormat::Dtls)),
            2 => drop(hello::parse_server_hello(body, 2)),
            3 => drop(parse_hello_verify_request(body)),
            _ => {}
        }
    }
    fn on_protected(&mut self, _: Direction, _: usize, _: Timestamp) {
        self.calls += 1;
    }
    fn on_application_data(&mut self, _: Direction, _: usize, _: Timestamp) {
        self.calls += 1;
    }
    fn on_change_cipher_spec(&mut self, _: Direction, _: Timestamp) {
        self.calls += 1;
    }
    fn on_alert(&mut self, _: Direction, _: Alert, _: Timestamp) {
        self.calls += 1;
    }
    fn on_gap(&mut self, _: Direction, _: Timestamp) {
        self.calls += 1;
    }
    fn anomaly(&mut self, _: Direction, kind: &'static str) {
        assert!(!kind.is_empty());
        self.calls += 1;
    }
    fn finish(&mut self) {
        assert!(!self.finished, "finished twice");
        self.finished = true;
    }
}

const LIMITS: JoinerLimits = JoinerLimits {
    max_message: 4096,
    max_pending: 8,
    max_buffered: 16 * 1024,
};

/// The worker's budget for the bytes every connection's joiners hold.
const BUDGET: usize = 20 * 1024;

fuzz_target!(|data: &[u8]| {
    let budget = JoinBudget::new(BUDGET);
    let connection = || DtlsConnection::new(LIMITS).with_budget(Some(budget.clone()));
    let mut conn = connection();
    let mut sink = ParsingSink::default();
    let mut rest = data;
    let mut ts = 0i64;
    while let Some((&ctl, tail)) = rest.split_first() {
        let Some((len, tail)) = tail.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len));
        let (datagram, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let dir = if ctl & 1 == 0 {
            Direction::LoToHi
        } else {
            Direction::HiToLo
        };
        ts += i64::from(ctl >> 1) * 1_000_000;
        if conn.on_datagram(dir, datagram, Timestamp(ts), &mut sink)
            == DatagramVerdict::NewConnection
        {
            let done = std::mem::replace(&mut conn, connection());
            done.finish(&mut sink);
            sink = ParsingSink::default();
            let again = conn.on_datagram(dir, datagram, Timestamp(ts), &mut sink);
            assert_eq!(
                again,
                DatagramVerdict::Taken,
                "a new connection takes its first datagram"
            );
        }
        // Both joiners' buffers, the connection itself, and its small bounded lists (flights
        // being counted, listed retransmissions, record versions, connection IDs).
        let bound = 2 * LIMITS.max_buffered + size_of::<DtlsConnection>() + 4096;
        assert!(conn.charged() <= bound, "{} > {bound}", conn.charged());
        assert!(budget.held() <= BUDGET);
    }
    let facts = conn.finish(&mut sink);
    assert!(sink.finished);
    assert!(facts.retransmissions.listed.len() <= tlsight::dtls::facts::MAX_LISTED_RETRANSMISSIONS);
    assert!(facts.record_versions.len() <= 4);
    assert_eq!(budget.held(), 0, "finished connections give back all they held");
});
