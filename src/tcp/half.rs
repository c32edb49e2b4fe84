//! One direction of a connection: maps sequence numbers to stream offsets, delivers bytes in
//! order exactly once, buffers what arrives early, and declares holes gaps when they cannot fill.

use super::seq::SeqNum;
use super::{StreamConsumer, TcpMeta};
use crate::flow::{Direction, Timestamp};
use crate::stream::assembler::Assembler;

/// A SYN (without ACK) whose sequence number is this far from where a stream picked up
/// mid-connection stands starts a new connection on the same ports. ISNs are random, so a new
/// incarnation lands this close with probability 2^-7; a delayed SYN of the same connection
/// would have to trail by 16 MiB of data to be mistaken for a new one.
const REUSE_WINDOW: u32 = 1 << 24;

/// Where a half-stream's bytes, gaps and counters go, with the time of the event being handled.
pub(super) struct Out<'a, S> {
    /// The half-stream's direction.
    pub dir: Direction,
    /// Capture time of the event (segment, timeout, close) that caused the output.
    pub ts: Timestamp,
    /// The connection's consumer.
    pub consumer: &'a mut S,
    /// The connection's counters.
    pub meta: &'a mut TcpMeta,
}

impl<S: StreamConsumer> Out<'_, S> {
    fn gap(&mut self, len: u64) {
        let i = self.dir.index();
        self.meta.gaps[i] += 1;
        self.meta.gap_bytes[i] += len;
        self.consumer.on_gap(self.dir, len, self.ts);
    }
}

/// State of one direction.
///
/// Bytes are addressed by stream offset (`u64`, 0 = first data byte), converted from sequence
/// numbers relative to the delivery point so that wrap-around never matters.
#[derive(Debug, Default)]
pub(super) struct HalfStream {
    /// Sequence number of stream offset 0, once known.
    base: Option<SeqNum>,
    /// Initial sequence number, when the SYN was seen.
    isn: Option<SeqNum>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Offset of the FIN (the end of the stream), once seen.
    fin: Option<u64>,
    /// Highest offset the peer acknowledged: bytes below it were received, so if the capture
    /// does not have them they are lost for good.
    acked: u64,
    /// Bytes that arrived beyond a hole.
    asm: Assembler,
}

impl HalfStream {
    /// Records a SYN: the stream starts one past its sequence number (the SYN consumes one).
    /// Ignored when the stream already started (retransmitted SYN, or SYN captured late).
    pub fn on_syn(&mut self, seq: SeqNum) {
        if self.base.is_none() {
            self.base = Some(seq + 1);
            self.isn = Some(seq);
        }
    }

    /// Starts a stream picked up mid-connection at `seq`, the first sequence number seen for it
    /// (no-op once started). Bytes that show up later below it are treated as old, like
    /// retransmissions: guessing an earlier start would mean waiting for bytes that may never
    /// come, and what precedes the pickup point cannot be decoded anyway.
    pub fn start_at(&mut self, seq: SeqNum) {
        if self.base.is_none() {
            self.base = Some(seq);
        }
    }

    /// Stream offset of `seq`, relative to the delivery point; negative before the stream start.
    fn offset(&self, base: SeqNum, seq: SeqNum) -> i64 {
        // Truncating `next` is intended: sequence space is offsets modulo 2^32.
        let expected = base + self.next as u32;
        self.next as i64 + i64::from(seq - expected)
    }

    /// Whether a SYN without ACK at `seq` opens a new connection on these ports rather than
    /// belonging to this one.
    pub fn is_other_incarnation(&self, seq: SeqNum) -> bool {
        match (self.isn, self.base) {
            (Some(isn), _) => isn != seq,
            (None, Some(base)) => {
                let off = self.offset(base, seq + 1) - self.next as i64;
                off.unsigned_abs() > u64::from(REUSE_WINDOW)
            }
            (None, None) => false,
        }
    }

    /// Takes the payload of a segment starting at `seq`: delivers what is next straight from the
    /// packet (no copy), buffers what lies beyond a hole, and counts retransmissions and
    /// conflicting overlaps.
    pub fn receive<S: StreamConsumer>(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        out: &mut Out<'_, S>,
    ) {
        let Some(base) = self.base else { return };
        let start = self.offset(base, seq);
        let end = start + payload.len() as i64;
        let next = self.next as i64;
        if end <= next {
            if !payload.is_empty() {
                out.meta.retransmissions += 1;
            }
            return;
        }
        // `end > next >= 0`, so the skipped prefix is shorter than the payload.
        let skip = (next - start).max(0) as usize;
        let Some(data) = payload.get(skip..) else {
            return;
        };
        let offset = start.max(next) as u64;
        let mut new_bytes = 0;
        let mut conflict = false;
        let to_buffer = if offset == self.next {
            // In order: hand the bytes up to the first buffered chunk over directly.
            let direct = self.asm.first_offset().map_or(data.len(), |first| {
                data.len().min((first - offset) as usize)
            });
            let (now, rest) = data.split_at(direct);
            out.consumer.on_data(out.dir, now, out.ts);
            self.next += direct as u64;
            new_bytes += direct;
            rest
        } else {
            data
        };
        if !to_buffer.is_empty() {
            let at = offset + (data.len() - to_buffer.len()) as u64;
            let ins = self.asm.insert(at, to_buffer, out.ts);
            new_bytes += ins.new_bytes;
            conflict = ins.conflict;
        }
        if new_bytes == 0 {
            out.meta.retransmissions += 1;
        }
        if conflict {
            out.meta.conflicting_overlaps += 1;
        }
        self.release(out);
        self.skip_acked_holes(out);
    }

    /// Records the FIN at `seq` (the sequence number after the segment's payload).
    pub fn on_fin<S: StreamConsumer>(&mut self, seq: SeqNum, out: &mut Out<'_, S>) {
        let Some(base) = self.base else { return };
        if self.fin.is_none() {
            self.fin = Some(self.offset(base, seq).max(0) as u64);
            self.skip_acked_holes(out);
        }
    }

    /// Records an acknowledgment from the peer; holes it passes are lost from the capture.
    pub fn on_peer_ack<S: StreamConsumer>(&mut self, ack: SeqNum, out: &mut Out<'_, S>) {
        let Some(base) = self.base else { return };
        let acked = self.offset(base, ack);
        if acked > self.acked as i64 {
            self.acked = acked as u64;
            self.skip_acked_holes(out);
        }
    }

    /// Declares gaps over the holes the peer has acknowledged past. A hole needs a known end
    /// (buffered data or the FIN) beyond it; without one the acknowledged bytes may still show
    /// up (capture reordering between directions), and a close reports them in its flush.
    fn skip_acked_holes<S: StreamConsumer>(&mut self, out: &mut Out<'_, S>) {
        while self.acked > self.next {
            match self.asm.first_offset().or(self.fin) {
                Some(hole_end) if hole_end > self.next => {
                    self.skip_to(hole_end.min(self.acked), out);
                }
                _ => break,
            }
        }
    }

    /// Declares the first hole a gap and delivers the data after it; false when nothing is
    /// buffered (no hole to skip).
    pub fn skip_first_hole<S: StreamConsumer>(&mut self, out: &mut Out<'_, S>) -> bool {
        match self.asm.first_offset() {
            Some(first) => {
                self.skip_to(first, out);
                true
            }
            None => false,
        }
    }

    /// Reports the bytes from the delivery point to `to` (never past buffered data) as a gap,
    /// then delivers whatever buffered data became contiguous.
    fn skip_to<S: StreamConsumer>(&mut self, to: u64, out: &mut Out<'_, S>) {
        if to > self.next {
            out.gap(to - self.next);
            self.next = to;
        }
        self.release(out);
    }

    /// Delivers buffered chunks that start at the delivery point.
    fn release<S: StreamConsumer>(&mut self, out: &mut Out<'_, S>) {
        while self.asm.first_offset() == Some(self.next) {
            let Some((_, chunk)) = self.asm.pop_first() else {
                break;
            };
            out.consumer.on_data(out.dir, &chunk.data, chunk.ts);
            self.next += chunk.data.len() as u64;
        }
    }

    /// At close: delivers all buffered data with gaps before it, then reports as a gap the tail
    /// known to exist (up to the FIN, or else up to what the peer acknowledged).
    pub fn flush<S: StreamConsumer>(&mut self, out: &mut Out<'_, S>) {
        while self.skip_first_hole(out) {}
        let end = self.fin.unwrap_or(self.acked);
        self.skip_to(end, out);
    }

    /// Whether the FIN was seen and every byte before it was delivered or declared a gap.
    pub fn finished(&self) -> bool {
        self.fin.is_some_and(|fin| self.next >= fin)
    }

    /// Memory charged for the bytes buffered beyond holes (bytes plus a per-chunk overhead,
    /// see [`super::assembler::CHUNK_OVERHEAD`]): what the buffer caps limit.
    pub fn buffered(&self) -> usize {
        self.asm.charged()
    }
}
