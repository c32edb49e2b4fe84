//! TCP's transport driver: per-connection, per-direction byte streams in order, with explicit
//! gaps. Knows TCP, never TLS: whatever consumes the streams implements [`StreamConsumer`].
//!
//! Layout: [`SeqNum`] (wrapping sequence arithmetic, `seq`), one direction's delivery state
//! (`half`, over the shared out-of-order [`crate::stream::assembler`]) and the [`TcpTable`]
//! (`table`: TCP's bookkeeping over the shared [`crate::stream::FlowTable`]).
//!
//! Choices worth knowing:
//! - A direction whose SYN was not seen starts at the first segment carrying data or FIN;
//!   bytes that show up later below that point count as retransmissions.
//! - In-order bytes are handed to the consumer straight from the packet; only bytes that arrive
//!   beyond a hole are copied. The buffer caps count those bytes plus a fixed overhead per
//!   buffered chunk, so that they bound memory even against one-byte segments.
//! - Overlapping copies: the first copy wins. Bytes already delivered are not kept, so a
//!   differing copy is only detected against bytes still buffered (`conflicting_overlaps`).
//! - Holes become gaps: up to what the peer acknowledged, once something (buffered data or the
//!   FIN) is known to follow the hole (the peer received the bytes, the capture missed them);
//!   the first hole when a buffer cap is hit; all of them at close, plus the tail up to the FIN
//!   (or, without FIN, up to the peer's highest ACK).
//! - Gaps carry the time of the event that declared them; data the time of its segment.
//! - A connection that has carried no byte yet (SYN, SYN-ACK, pure ACKs) is held in a compact
//!   half-open table (`half_open`: 64 bytes for IPv4) and moves to the full table on its
//!   first byte, with exactly the state the full table would have built: SYN floods and scans
//!   cost little, and they can evict only one another.
//! - A pure ACK does not create a connection (after a close it would only leave a phantom);
//!   a RST's payload is not stream data.
//! - A SYN without ACK on a tracked key whose connection has both FINs, or whose sequence
//!   number does not fit the connection, closes it ([`CloseReason::PortReused`]) and starts anew.

mod half;
mod half_open;
mod seq;
mod table;
#[cfg(test)]
mod tests;

pub use seq::SeqNum;
pub use table::TcpTable;

use crate::flow::{Direction, FlowKey, TcpHeader, Timestamp};
pub use crate::stream::{CloseReason, StreamConsumer, TableLimits};

/// One TCP segment as the flow table sees it. `P` is its payload: the bytes, or where a batch
/// on its way to a worker keeps them.
#[derive(Clone, Copy, Debug)]
pub struct Segment<P> {
    /// The connection.
    pub key: FlowKey,
    /// Which way it travels.
    pub dir: Direction,
    /// Sequence and acknowledgment numbers, flags.
    pub header: TcpHeader,
    /// Payload.
    pub payload: P,
    /// Capture time.
    pub ts: Timestamp,
    /// The capture clock: capture time made monotonic over the whole capture (it advances by
    /// every forward step of the timestamps and never goes back). Idle timeouts run on it, so
    /// they are decided the same way whatever the worker count, even when timestamps step back
    /// (several files, a clock adjusted mid-capture).
    pub clock: Timestamp,
}

impl<P> Segment<P> {
    /// The same segment with its payload in another form.
    pub fn with_payload<Q>(&self, payload: Q) -> Segment<Q> {
        Segment {
            key: self.key,
            dir: self.dir,
            header: self.header,
            payload,
            ts: self.ts,
            clock: self.clock,
        }
    }
}

/// Caps and timeouts of the TCP connections of one worker.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections idle this long (capture time) are closed.
    pub idle_timeout_ns: i64,
    /// Out-of-order bytes buffered per direction before the oldest hole is declared a gap
    /// (each buffered chunk also counts a fixed overhead, `CHUNK_OVERHEAD` = 128 bytes).
    pub max_flow_buffer: usize,
    /// Out-of-order bytes buffered by the whole table (counted as for `max_flow_buffer`).
    pub max_total_buffer: usize,
    /// Connections tracked at once; beyond, the least recently active is evicted.
    pub max_flows: usize,
    /// Connections that have not carried a byte yet (SYN, SYN-ACK, ACK) held at once in the
    /// compact half-open table, apart from `max_flows`; beyond, the least recently active of
    /// them is evicted. 0: no half-open table (every connection is tracked in full from its
    /// first packet).
    pub max_half_open: usize,
    /// UDP flows (QUIC, DTLS) whose other side has not sent a datagram yet, held at once apart
    /// from `max_flows`; beyond, the oldest of them is evicted. 0: no such cap.
    pub max_unanswered: usize,
}

impl Limits {
    /// The caps every flow table has.
    pub fn table(&self) -> TableLimits {
        TableLimits {
            idle_timeout_ns: self.idle_timeout_ns,
            max_flows: self.max_flows,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout_ns: 300 * 1_000_000_000,
            max_flow_buffer: 1 << 20,
            max_total_buffer: 256 << 20,
            max_flows: 1_000_000,
            max_half_open: 1_000_000,
            max_unanswered: 100_000,
        }
    }
}

/// TCP-level facts about a connection, collected while reassembling.
#[derive(Clone, Debug, Default)]
pub struct TcpMeta {
    /// First packet of the connection (either direction).
    pub first_ts: Timestamp,
    /// Last packet of the connection.
    pub last_ts: Timestamp,
    /// Direction of the first SYN (without ACK) and when it was seen.
    pub syn: Option<(Direction, Timestamp)>,
    /// First SYN-ACK.
    pub syn_ack: Option<Timestamp>,
    /// First ACK of the three-way handshake (from the SYN sender, after the SYN-ACK).
    pub handshake_ack: Option<Timestamp>,
    /// Whether a SYN carried data (TCP Fast Open).
    pub syn_data: bool,
    /// When each direction sent its first FIN.
    pub fin: [Option<Timestamp>; 2],
    /// First RST: its direction and time.
    pub rst: Option<(Direction, Timestamp)>,
    /// Packets per direction.
    pub packets: [u64; 2],
    /// Payload bytes per direction (as seen on the wire, retransmissions included).
    pub payload_bytes: [u64; 2],
    /// Gaps reported per direction.
    pub gaps: [u64; 2],
    /// Bytes missing in those gaps.
    pub gap_bytes: [u64; 2],
    /// Segments that only repeated bytes already delivered or buffered.
    pub retransmissions: u64,
    /// Overlaps whose bytes differed from the first copy (the first copy wins).
    pub conflicting_overlaps: u64,
    /// Times a buffer cap forced a gap on this connection.
    pub buffer_cap_hits: u64,
}

impl TcpMeta {
    /// Counts a segment of this connection (packets, bytes, time) and notes it if it is a
    /// reset; returns whether it is (the connection then ends with it).
    fn count<P: AsRef<[u8]>>(&mut self, seg: &Segment<P>) -> bool {
        let i = seg.dir.index();
        self.packets[i] += 1;
        self.payload_bytes[i] += seg.payload.as_ref().len() as u64;
        self.last_ts = self.last_ts.max(seg.ts);
        if seg.header.flags.rst() {
            // Payload on a RST is a diagnostic, not stream data.
            self.rst.get_or_insert((seg.dir, seg.ts));
        }
        seg.header.flags.rst()
    }
}

/// A connection tracked by the flow table, with its consumer.
#[derive(Debug)]
pub struct Connection<S> {
    /// The connection's key.
    pub key: FlowKey,
    /// TCP facts.
    pub meta: TcpMeta,
    /// The consumer of its streams.
    pub consumer: S,
    /// Capture-clock time the connection ended: the closing segment's clock, the idle deadline
    /// (last activity + idle timeout) for an idle close, or `Timestamp::MAX` at capture end.
    /// It depends only on the packets, not on when a sweep ran, so records can be streamed out
    /// in this order whatever the number of workers.
    pub closed_at: Timestamp,
}

/// Counters of one worker's TCP connections.
#[derive(Clone, Debug, Default)]
pub struct TcpStats {
    /// Connections created, evicted, most at once.
    pub table: crate::stream::TableStats,
    /// The same for the half-open table (connections that never carried a byte).
    pub half_open: crate::stream::TableStats,
    /// Gaps forced by `max_total_buffer`.
    pub total_buffer_cap_hits: u64,
    /// Gaps forced by `max_flow_buffer`.
    pub flow_buffer_cap_hits: u64,
    /// Most out-of-order bytes buffered at once.
    pub peak_buffered_bytes: u64,
}
