//! The flow table driven by arbitrary segment sequences, with small caps so that eviction,
//! idle expiry and both buffer caps are reached.
//!
//! Input: 10-byte segments `flags | meta | seq (u32 LE) | len (u16 LE) | dt (u16 LE)`. `meta`
//! bit 0 is the direction, bits 1-2 pick one of four connections, bit 3 makes the payload
//! disagree with earlier copies, bit 4 steps the timestamp back instead of forward (by `dt`
//! ms). Payload byte at sequence number `s` is `s as u8` (a SYN's data starts one after its
//! sequence number), so consistent copies agree and the
//! delivered stream can be checked: each byte is one more than the previous, plus the length
//! of any gap reported in between.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tlsight::flow::{Direction, Endpoint, FlowKey, TcpFlags, TcpHeader, Timestamp, Transport};
use tlsight::tcp::{CloseReason, Connection, TcpTable, Limits, Segment, StreamConsumer};

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

const LIMITS: Limits = Limits {
    idle_timeout_ns: 1_000_000_000,
    max_flow_buffer: 8 * 1024,
    max_total_buffer: 12 * 1024,
    max_flows: 3,
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
        table.process(
            &seg,
            &mut |_| Checker {
                conflicting,
                ..Checker::default()
            },
            &mut closed,
        );
        table.expire_idle(Timestamp(clock), &mut closed);
        assert!(table.stats().peak_buffered_bytes <= LIMITS.max_total_buffer as u64);
        assert!(table.stats().table.peak_flows <= LIMITS.max_flows as u64);
    }
    table.drain(&mut closed);
});
