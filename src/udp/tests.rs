use super::*;
use crate::dtls::test_wire::{self, ClientHelloSpec};
use crate::flow::{Endpoint, Transport};
use crate::tls::TlsEvent;
use std::net::{IpAddr, Ipv4Addr};

const SEC: i64 = 1_000_000_000;

fn limits(max_flows: usize) -> TableLimits {
    TableLimits {
        idle_timeout_ns: 60 * SEC,
        max_flows,
    }
}

/// A datagram from a client port to port 5004 (no well-known TLS port: detection is by
/// content), or back.
fn datagram(client_port: u16, to_server: bool, payload: &[u8], t: i64) -> Datagram<&[u8]> {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let client = Endpoint {
        ip,
        port: client_port,
    };
    let server = Endpoint { ip, port: 5004 };
    let (src, dst) = if to_server {
        (client, server)
    } else {
        (server, client)
    };
    let (key, dir) = FlowKey::from_endpoints(Transport::Udp, src, dst);
    Datagram {
        key,
        dir,
        payload,
        ts: Timestamp(t),
        clock: Timestamp(t),
    }
}

fn client_hello(random: u8) -> Vec<u8> {
    let body = ClientHelloSpec {
        random,
        ..ClientHelloSpec::default()
    }
    .body();
    test_wire::handshake_record(0, 0, 1, 0, &body)
}

/// A STUN binding request header (type 0x0001, length 0, magic cookie, transaction id).
const STUN: &[u8] = &[
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

/// What the closed flows were: (reason, transport facts, their transcript's ClientHellos).
type Closed = Vec<(CloseReason, UdpTransportFacts, usize)>;

fn closer(log: &mut Closed) -> impl FnMut(UdpConnection, CloseReason, &mut TlsContext) + '_ {
    |conn, reason, tls| {
        let (facts, transcript) = conn.open.finish(tls);
        let hellos = transcript.map_or(0, |t| {
            t.events
                .iter()
                .filter(|e| matches!(e.event, TlsEvent::ClientHello(_)))
                .count()
        });
        log.push((reason, facts, hellos));
    }
}

#[test]
fn random_udp_creates_no_flow() {
    let mut table = UdpTable::new(limits(1000));
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    // A small xorshift: datagrams of every first byte and length, on fresh ports.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..5000u16 {
        let mut payload = Vec::new();
        for _ in 0..(i % 97) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            payload.push(x as u8);
        }
        let d = datagram(1024 + i, true, &payload, i64::from(i));
        table.process(&d, 0, &mut tls, &mut closer(&mut log));
    }
    assert!(table.is_empty());
    assert_eq!(table.stats().not_tls, 5000);
    assert_eq!(table.stats().flows, 0);
    assert!(log.is_empty());
}

#[test]
fn dtls_after_stun_on_the_same_ports() {
    let mut table = UdpTable::new(limits(1000));
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    let hello = client_hello(0x11);
    for (payload, to_server) in [
        (STUN, true),
        (STUN, false),
        (&hello[..], true),
        (STUN, false),
    ] {
        let d = datagram(40000, to_server, payload, 1);
        table.process(&d, 0, &mut tls, &mut closer(&mut log));
    }
    // The STUN checks before the ClientHello made no flow; the one after it is the flow's.
    assert_eq!((table.len(), table.stats().not_tls), (1, 2));
    table.drain(&mut tls, &mut closer(&mut log));
    let [(reason, UdpTransportFacts::Dtls(facts), 1)] = &log[..] else {
        panic!("{log:?}");
    };
    assert_eq!(*reason, CloseReason::CaptureEnd);
    assert_eq!((facts.datagrams.dtls, facts.datagrams.stun), (1, 1));
}

#[test]
fn a_new_client_hello_on_the_same_ports_is_a_new_connection() {
    let mut table = UdpTable::new(limits(1000));
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    for (random, t) in [(0x11, 1), (0x22, 2)] {
        let hello = client_hello(random);
        let d = datagram(40000, true, &hello, t);
        table.process(&d, 0, &mut tls, &mut closer(&mut log));
    }
    table.drain(&mut tls, &mut closer(&mut log));
    let reasons: Vec<_> = log.iter().map(|(r, _, n)| (*r, *n)).collect();
    assert_eq!(
        reasons,
        [(CloseReason::PortReused, 1), (CloseReason::CaptureEnd, 1)]
    );
    assert_eq!(table.stats().flows, 2);
}

#[test]
fn full_table_evicts_and_counts() {
    let mut table = UdpTable::new(limits(2));
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    let hello = client_hello(0x11);
    for port in 40000..40003 {
        let d = datagram(port, true, &hello, i64::from(port));
        table.process(&d, 0, &mut tls, &mut closer(&mut log));
    }
    assert_eq!(table.len(), 2);
    assert_eq!(table.stats().table.flows_evicted, 1);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, CloseReason::Evicted);
}

#[test]
fn idle_flows_close_at_their_deadline() {
    let mut table = UdpTable::new(limits(10));
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    let hello = client_hello(0x11);
    table.process(
        &datagram(40000, true, &hello, 0),
        0,
        &mut tls,
        &mut closer(&mut log),
    );
    table.expire_idle(Timestamp(59 * SEC), &mut tls, &mut closer(&mut log));
    assert!(log.is_empty());
    table.expire_idle(Timestamp(61 * SEC), &mut tls, &mut closer(&mut log));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, CloseReason::IdleTimeout);
}

/// Flows whose server has not answered are capped apart from the table: beyond the cap the
/// oldest of them is evicted (and counted), never a flow that got an answer, however old.
#[test]
fn unanswered_flows_beyond_their_cap_evict_the_oldest_of_them() {
    let mut table = UdpTable::new(limits(100)).with_max_unanswered(2);
    let mut tls = TlsContext::default();
    let mut log = Closed::new();
    let hello = client_hello(0x11);
    let mut send = |table: &mut UdpTable, port: u16, to_server: bool, payload: &[u8], t: i64| {
        let d = datagram(port, to_server, payload, t);
        table.process(&d, 0, &mut tls, &mut closer(&mut log));
    };
    send(&mut table, 40000, true, &hello, 1);
    send(&mut table, 40000, false, STUN, 2);
    send(&mut table, 40001, true, &hello, 3);
    send(&mut table, 40002, true, &hello, 4);
    assert_eq!(table.unanswered.len(), 2);
    send(&mut table, 40003, true, &hello, 5);
    assert_eq!(table.stats().unanswered_evicted, 1);
    assert_eq!(table.unanswered.len(), 2);
    assert_eq!(table.len(), 3);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, CloseReason::Evicted);
    // The answered flow (40000) is still there; the one evicted was 40001, the oldest waiting.
    let key = |port| datagram(port, true, b"", 0).key;
    assert!(table.flows.get(&key(40000)).is_some());
    assert!(table.flows.get(&key(40001)).is_none());
    // Flows that leave otherwise (idle) leave the count too.
    table.expire_idle(Timestamp(120 * SEC), &mut tls, &mut closer(&mut log));
    assert!(table.unanswered.is_empty());
    assert!(table.is_empty());
}
