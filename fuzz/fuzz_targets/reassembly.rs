//! The flow table driven by arbitrary segment sequences, with small caps so that eviction
//! (of full and of half-open connections), idle expiry and both buffer caps are reached; and
//! the same segments through two tables with room for every connection, one holding
//! connections that have not carried a byte in the compact half-open table and promoting them
//! on their first byte, the other (the oracle) tracking every connection in full from its
//! first packet: their streams and closed connections must be identical (issue #20).
//!
//! Input: 10-byte segments `flags | meta | seq (u32 LE) | len (u16 LE) | dt (u16 LE)`. `meta`
//! bit 0 is the direction, bits 1-2 pick one of four connections, bit 3 makes the payload
//! disagree with earlier copies, bit 4 steps the timestamp back instead of forward (by `dt`
//! ms). Payload byte at sequence number `s` is `s as u8` (a SYN's data starts one after its
//! sequence number), so consistent copies agree and the
//! delivered stream can be checked: each byte is one more than the previous, plus the length
//! of any gap reported in between.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Endpoint, FlowKey, TcpFlags, TcpHeader, Timestamp, Transport};
use tlsight::tcp::{CloseReason, Connection, Limits, Segment, StreamConsumer, TcpTable};

/// Checks the stream pattern of both directions of one connection.
#[derive(Default)]
struct Checker {
    /// Value the next delivered byte must have, per direction (unknown before the first).
    expect: [Option<u8>; 2],
    /// Whether a conflicting copy was sent (then the pattern no longer holds).
    conflicting: bool,
}

impl StreamConsumer for Checker {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], _ts: Timestamp) {
        assert!(!bytes.is_empty(), "empty delivery");
        let slot = &mut self.expect[dir.index()];
        for &b in bytes {
            if let Some(want) = *slot {
                assert!(
                    self.conflicting || b == want,
                    "byte {b} where {want} was due"
                );
            }
            *slot = Some(b.wrapping_add(1));
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
        assert!(len > 0, "empty gap");
        let slot = &mut self.expect[dir.index()];
        *slot = slot.map(|v| v.wrapping_add(len as u8));
    }
}

/// What a connection delivered, by connection (tables may hand connections over in
/// different orders, never a connection's own events).
type Log = Rc<RefCell<BTreeMap<FlowKey, Vec<Event>>>>;

/// One delivery to a connection's consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Data(Direction, Vec<u8>, Timestamp),
    Gap(Direction, u64, Timestamp),
}

/// Records what its connection delivers.
struct Recorder(FlowKey, Log);

impl StreamConsumer for Recorder {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        let event = Event::Data(dir, bytes.to_vec(), ts);
        self.1.borrow_mut().entry(self.0).or_default().push(event);
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let event = Event::Gap(dir, len, ts);
        self.1.borrow_mut().entry(self.0).or_default().push(event);
    }
}

/// A table fed the same segments as its twin, with what it delivered and closed.
struct Twin {
    table: TcpTable<Recorder>,
    log: Log,
    closed: Vec<String>,
}

impl Twin {
    fn new(limits: Limits) -> Self {
        Twin {
            table: TcpTable::new(limits),
            log: Log::default(),
            closed: Vec::new(),
        }
    }

    fn process(&mut self, seg: &Segment<&[u8]>) {
        let log = &self.log;
        let closed = &mut self.closed;
        let mut new_consumer = |key: &FlowKey| Recorder(*key, Rc::clone(log));
        let mut on_close = |c: Connection<Recorder>, r: CloseReason| {
            closed.push(format!("{:?} {r:?} {:?} {:?}", c.key, c.closed_at, c.meta));
        };
        self.table.process(seg, &mut new_consumer, &mut on_close);
        self.table
            .expire_idle(seg.clock, &mut new_consumer, &mut on_close);
    }

    /// Drains the table; what it delivered, and what it closed (sorted).
    fn finish(mut self) -> (BTreeMap<FlowKey, Vec<Event>>, Vec<String>) {
        let log = &self.log;
        let closed = &mut self.closed;
        self.table.drain(
            &mut |key: &FlowKey| Recorder(*key, Rc::clone(log)),
            &mut |c: Connection<Recorder>, r: CloseReason| {
                closed.push(format!("{:?} {r:?} {:?} {:?}", c.key, c.closed_at, c.meta));
            },
        );
        self.closed.sort();
        let events = self.log.borrow().clone();
        (events, self.closed)
    }
}

const LIMITS: Limits = Limits {
    idle_timeout_ns: 1_000_000_000,
    max_flow_buffer: 8 * 1024,
    max_total_buffer: 12 * 1024,
    max_flows: 3,
    max_half_open: 2,
    max_unanswered: 0,
};

/// Room for the four connections an input can name: nothing is evicted, so the half-open
/// table and the oracle must agree exactly.
const ROOMY: Limits = Limits {
    max_flows: 8,
    max_half_open: 8,
    ..LIMITS
};

fuzz_target!(|data: &[u8]| {
    let mut table: TcpTable<Checker> = TcpTable::new(LIMITS);
    // Checked per input rather than per connection: a connection's checker exists before the
    // conflicting copy arrives.
    let conflicting = data
        .chunks_exact(10)
        .any(|op| op.get(1).is_some_and(|m| m & 8 != 0));
    let mut payload = Vec::new();
    let (mut ts, mut clock) = (1_000_000_000i64, 1_000_000_000i64);
    let mut closed = |_: Connection<Checker>, _: CloseReason| {};
    let mut with_half_open = Twin::new(ROOMY);
    let mut oracle = Twin::new(Limits {
        max_half_open: 0,
        ..ROOMY
    });
    for op in data.chunks_exact(10) {
        let [flags, meta, s0, s1, s2, s3, l0, l1, d0, d1] = op.try_into().unwrap_or([0; 10]);
        let seq = u32::from_le_bytes([s0, s1, s2, s3]);
        let len = usize::from(u16::from_le_bytes([l0, l1])) % 3000;
        let dt = i64::from(u16::from_le_bytes([d0, d1])) * 1_000_000;
        let flow = usize::from(meta >> 1 & 3);
        let corrupt = meta & 8 != 0;
        if meta & 16 != 0 {
            ts -= dt;
        } else {
            ts += dt;
            clock += dt;
        }
        payload.clear();
        // A SYN's own sequence number comes before its data.
        let first = seq.wrapping_add(u32::from(flags & TcpFlags::SYN != 0));
        payload.extend((0..len).map(|i| (first.wrapping_add(i as u32) as u8) ^ u8::from(corrupt)));
        let client = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 40_000 + flow as u16,
        };
        let server = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 443,
        };
        let (src, dst) = if meta & 1 == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, src, dst);
        let seg = Segment {
            key,
            dir,
            header: TcpHeader {
                seq,
                ack: seq.rotate_left(16),
                flags: TcpFlags(flags),
            },
            payload: payload.as_slice(),
            ts: Timestamp(ts),
            clock: Timestamp(clock),
        };
        let mut checker = |_: &FlowKey| Checker {
            conflicting,
            ..Checker::default()
        };
        table.process(&seg, &mut checker, &mut closed);
        table.expire_idle(Timestamp(clock), &mut checker, &mut closed);
        let stats = table.stats();
        assert!(stats.peak_buffered_bytes <= LIMITS.max_total_buffer as u64);
        assert!(stats.table.peak_flows <= LIMITS.max_flows as u64);
        assert!(stats.half_open.peak_flows <= LIMITS.max_half_open as u64);
        with_half_open.process(&seg);
        oracle.process(&seg);
    }
    table.drain(
        &mut |_| Checker {
            conflicting,
            ..Checker::default()
        },
        &mut closed,
    );
    assert_eq!(oracle.table.stats().half_open.peak_flows, 0);
    let (events, closed) = with_half_open.finish();
    let (oracle_events, oracle_closed) = oracle.finish();
    assert_eq!(events, oracle_events);
    assert_eq!(closed, oracle_closed);
});
