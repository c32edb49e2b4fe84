//! The capture thread's work: decode frames and deal their segments out to the workers in
//! batches, on a capture clock that never goes back.

use super::Mode;
use super::batch::{BATCH_SEGMENTS, Batch, PayloadAt};

use crate::capture::{Frame, SharedFrame};
use crate::decode::{Decoded, Decoder, LinkType};
use crate::flow::{FlowKey, Timestamp, Transport};
use crate::output::InputStats;
use crate::tcp::Segment;
use crate::udp::Datagram;
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;

/// Every this many packets every worker gets a batch, even an empty one, so that a worker
/// whose shard is quiet still advances its clock and lets held records be written.
pub(super) const TICK_PACKETS: u64 = 1 << 16;

/// Every this many packets the reader looks at the stop flag and publishes its progress.
pub(super) const CHECK_PACKETS: u64 = 1 << 12;

/// Capture time made monotonic: advances by every forward step of the timestamps, never goes
/// back. Computed from the packet sequence alone, so it is the same whatever the sharding.
pub(super) struct CaptureClock {
    pub(super) last_ts: Option<Timestamp>,
    pub(super) now: Timestamp,
    /// Live: timestamps (the kernel's, and the reader's own readings when the link is quiet)
    /// are all wall-clock time, so the clock is their running maximum. Adding forward steps
    /// instead would drift ahead of the wall clock whenever a frame stamped before a reading
    /// is read after it.
    wall: bool,
    /// The clock never goes below this (see [`Self::pass`]).
    floor: Timestamp,
}

impl CaptureClock {
    /// A clock for `mode`'s timestamps.
    pub(super) fn new(mode: Mode) -> Self {
        CaptureClock {
            last_ts: None,
            now: Timestamp::default(),
            wall: mode == Mode::Live,
            floor: Timestamp(i64::MIN),
        }
    }

    /// A time every later packet's clock will be at least: one nanosecond past now, for a
    /// streamed input that has gone quiet, so that records closed until now can be written
    /// (a record is final once every worker's clock has passed its close time). The clock then
    /// moves by one nanosecond more than the timestamps only if the next packet has the
    /// same timestamp as the last.
    pub(super) fn pass(&mut self) -> Timestamp {
        self.floor = Timestamp(self.now.0.saturating_add(1));
        self.floor
    }

    /// The clock after a packet stamped `ts`.
    pub(super) fn tick(&mut self, ts: Timestamp) -> Timestamp {
        self.now = match self.last_ts {
            None => ts,
            Some(_) if self.wall => self.now.max(ts),
            Some(last) => Timestamp(self.now.0.saturating_add((ts.0 - last.0).max(0))),
        }
        .max(self.floor);
        self.last_ts = Some(ts);
        self.now
    }
}

/// Hands segments out to the workers in batches, and tells every worker the capture clock.
pub(super) struct Dealer {
    pub(super) senders: Vec<Sender<Batch>>,
    pub(super) batches: Vec<Batch>,
    pub(super) recycle: Receiver<Batch>,
    /// Live: a batch whose worker's channel is full is dropped (and counted) rather than
    /// waited for, so the capture never stalls behind slow workers.
    lossy: bool,
    /// Segments and datagrams dropped because a worker's channel was full (lossy mode only).
    pub(super) dropped_segments: u64,
    /// The live window new batches belong to.
    pub(super) window: u64,
}

impl Dealer {
    pub(super) fn new(senders: Vec<Sender<Batch>>, recycle: Receiver<Batch>, mode: Mode) -> Self {
        let batches = senders.iter().map(|_| Batch::default()).collect();
        Dealer {
            senders,
            batches,
            recycle,
            lossy: mode == Mode::Live,
            dropped_segments: 0,
            window: 0,
        }
    }

    /// Queues a segment of input `input` for the worker of its flow: a payload in a mapped
    /// file is referred to (the batch holds its chunks), any other is copied into the batch.
    pub(super) fn push(
        &mut self,
        seg: Segment<&[u8]>,
        shared: Option<SharedFrame<'_>>,
        input: u16,
        clock: Timestamp,
    ) {
        let w = seg.key.shard(self.senders.len());
        let Some((batch, payload)) = self.place(w, seg.payload, shared, input, clock) else {
            return;
        };
        batch.segments.push(seg.with_payload(payload));
        if batch.len() >= BATCH_SEGMENTS {
            self.send(w, clock);
        }
    }

    /// Queues a UDP datagram for the worker of its flow, as [`Self::push`] does segments.
    pub(super) fn push_datagram(
        &mut self,
        d: Datagram<&[u8]>,
        shared: Option<SharedFrame<'_>>,
        input: u16,
        clock: Timestamp,
    ) {
        let w = d.key.shard(self.senders.len());
        let Some((batch, payload)) = self.place(w, d.payload, shared, input, clock) else {
            return;
        };
        batch.datagrams.push(d.with_payload(payload));
        if batch.len() >= BATCH_SEGMENTS {
            self.send(w, clock);
        }
    }

    /// Where `payload` goes in worker `w`'s batch: referred to in the mapped file it lies in
    /// (the batch holds the file and its chunks; no copy), else copied into the batch.
    fn place(
        &mut self,
        w: usize,
        payload: &[u8],
        shared: Option<SharedFrame<'_>>,
        input: u16,
        clock: Timestamp,
    ) -> Option<(&mut Batch, PayloadAt)> {
        let mapped = shared.and_then(|s| Some((s, s.file.offset_of(payload)?)));
        let at = match mapped {
            Some((s, start)) => {
                let len = payload.len();
                match self
                    .batches
                    .get_mut(w)?
                    .refer(s.file, s.chunks, start, len, input)
                {
                    Some(at) => at,
                    None => {
                        // The batch names as many files as it can: it goes, the next starts.
                        self.send(w, clock);
                        self.batches
                            .get_mut(w)?
                            .refer(s.file, s.chunks, start, len, input)?
                    }
                }
            }
            None => self.batches.get_mut(w)?.copy(payload, input),
        };
        Some((self.batches.get_mut(w)?, at))
    }

    /// Sends worker `w` its batch (even an empty one), stamped with the clock; live, drops it
    /// instead when the worker is behind.
    pub(super) fn send(&mut self, w: usize, clock: Timestamp) {
        self.deliver(w, clock, self.lossy);
    }

    /// Sends every batch, waiting for room even live: nothing is lost at the end.
    fn send_all_waiting(&mut self, clock: Timestamp) {
        for w in 0..self.senders.len() {
            self.deliver(w, clock, false);
        }
    }

    fn deliver(&mut self, w: usize, clock: Timestamp, may_drop: bool) {
        let (Some(batch), Some(tx)) = (self.batches.get_mut(w), self.senders.get(w)) else {
            return;
        };
        if may_drop && tx.is_full() {
            // The reader is the only sender, so a channel with room now still has room when
            // it sends; a full one means the worker is behind: drop, count, reuse the buffers.
            self.dropped_segments += batch.len() as u64;
            batch.clear();
            return;
        }
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let mut full = std::mem::replace(batch, fresh);
        full.clock = clock;
        full.window = self.window;
        // A worker only hangs up by panicking, which the join reports.
        let _ = tx.send(full);
    }

    /// Sends every worker its batch.
    pub(super) fn send_all(&mut self, clock: Timestamp) {
        for w in 0..self.senders.len() {
            self.send(w, clock);
        }
    }
}

/// Decodes frames and deals their segments out to the workers: the part of the capture thread
/// that files and live interfaces share.
pub(super) struct FrameReader {
    pub(super) stats: InputStats,
    pub(super) decoder: Decoder,
    pub(super) dealer: Dealer,
    pub(super) decode_errors: BTreeMap<&'static str, u64>,
    pub(super) clock: CaptureClock,
    /// The previous frame's own timestamp (the clock also takes live readings); `None` before
    /// the first frame and, offline, before the first frame of each file.
    pub(super) last_frame_ts: Option<Timestamp>,
    /// The timestamp of the first frame after `last_frame_ts` was `None`: offline, the current
    /// file's first frame (its span's start, noted where the frame is checked anyway).
    pub(super) first_frame_ts: Option<Timestamp>,
}

impl FrameReader {
    pub(super) fn new(senders: Vec<Sender<Batch>>, recycle: Receiver<Batch>, mode: Mode) -> Self {
        FrameReader {
            stats: InputStats::default(),
            decoder: Decoder::new(),
            dealer: Dealer::new(senders, recycle, mode),
            decode_errors: BTreeMap::new(),
            clock: CaptureClock::new(mode),
            last_frame_ts: None,
            first_frame_ts: None,
        }
    }

    /// Takes one frame of input `input`; returns the capture clock after it.
    pub(super) fn frame(&mut self, link: LinkType, frame: &Frame<'_>, input: u16) -> Timestamp {
        self.stats.packets += 1;
        self.stats.bytes += frame.data.len() as u64;
        match self.last_frame_ts {
            None => self.first_frame_ts = Some(frame.ts),
            // A clock stepped back (or files merged out of order): durations across it are
            // meaningless, so it is counted.
            Some(last) if frame.ts < last => self.stats.timestamps_backwards += 1,
            Some(_) => {}
        }
        self.last_frame_ts = Some(frame.ts);
        // Cut by the snap length: the missing bytes only show up as decode errors or gaps.
        if (frame.data.len() as u64) < u64::from(frame.wire_len) {
            self.stats.snaplen_truncated += 1;
        }
        let now = self.clock.tick(frame.ts);
        match self.decoder.decode(link, frame.data, frame.ts) {
            Ok(Decoded::Tcp(seg)) => {
                self.stats.tcp_segments += 1;
                let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, seg.src, seg.dst);
                let seg = Segment {
                    key,
                    dir,
                    header: seg.header,
                    payload: seg.payload,
                    ts: frame.ts,
                    clock: now,
                };
                self.dealer.push(seg, frame.shared, input, now);
            }
            Ok(Decoded::Udp(d)) => {
                self.stats.udp_datagrams += 1;
                let (key, dir) = FlowKey::from_endpoints(Transport::Udp, d.src, d.dst);
                let d = Datagram {
                    key,
                    dir,
                    payload: d.payload,
                    ts: frame.ts,
                    clock: now,
                };
                self.dealer.push_datagram(d, frame.shared, input, now);
            }
            Ok(Decoded::Other) => self.stats.not_tcp += 1,
            Ok(Decoded::FragmentHeld) => self.stats.ip_fragments += 1,
            Err(e) => *self.decode_errors.entry(e.kind()).or_default() += 1,
        }
        now
    }

    /// Sends every batch (waiting for room, even live: nothing is lost at the end) and
    /// returns the input counters.
    pub(super) fn finish(mut self) -> InputStats {
        self.dealer.send_all_waiting(self.clock.now);
        // Datagrams still incomplete at the end of the capture never will be.
        self.decoder.expire(Timestamp::MAX);
        let d = self.decoder.stats();
        let mut stats = self.stats;
        stats.ip_datagrams_reassembled = d.datagrams_reassembled;
        stats.ip_datagrams_dropped = d.datagrams_expired
            + d.datagrams_evicted
            + d.datagrams_oversized
            + d.datagrams_too_fragmented
            + d.total_bytes_cap_hits
            + d.datagrams_inconsistent;
        stats.decode_errors = self.decode_errors;
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Frame, OfflineFile, PacketSource};
    use crate::decode::{Decoded, Decoder, LinkType};
    use crate::flow::{FlowKey, TcpHeader, Timestamp, Transport};
    use crate::pipeline::records::tests::record;
    use crossbeam_channel::{bounded, unbounded};

    /// A segment of one made-up connection carrying `payload`.
    fn test_segment(payload: &[u8]) -> Segment<&[u8]> {
        let (key, dir) =
            FlowKey::from_endpoints(Transport::Tcp, record(0, 0, 1).0.2, record(0, 0, 2).0.2);
        Segment {
            key,
            dir,
            header: TcpHeader::default(),
            payload,
            ts: Timestamp(0),
            clock: Timestamp(0),
        }
    }

    #[test]
    fn payloads_in_a_mapped_file_are_referred_to_and_others_copied() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/tls12-ecdhe-rsa.pcap");
        let mut source = OfflineFile::open(&path).expect("open");
        let link = source.link_type();
        let (tx, rx) = unbounded::<Batch>();
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut reader = FrameReader::new(vec![tx], recycle_rx, Mode::Offline);
        let mut decoder = Decoder::new();
        let mut payloads = Vec::new();
        while let Some(frame) = source.next_frame().expect("read") {
            if let Ok(Decoded::Tcp(seg)) = decoder.decode(link, frame.data, frame.ts) {
                payloads.push(seg.payload.to_vec());
            }
            reader.frame(link, &frame, 0);
        }
        // The same payload again, from memory that is not the file: copied.
        let last = payloads.last().expect("segments").clone();
        reader
            .dealer
            .push(test_segment(&last), None, 0, Timestamp(0));
        payloads.push(last);
        reader.finish();
        let batch = rx.try_recv().expect("one batch");
        assert!(batch.files.len() == 1 && !batch.chunks.is_empty());
        let got: Vec<Vec<u8>> = batch
            .segments
            .iter()
            .map(|d| batch.payload_of(d).to_vec())
            .collect();
        assert_eq!(got, payloads);
        let copied = batch
            .segments
            .iter()
            .filter(|d| d.payload.is_copied())
            .count();
        assert_eq!(copied, 1, "only the segment from outside the file");
        assert_eq!(batch.payload.len(), payloads[payloads.len() - 1].len());
    }

    #[test]
    fn lossy_dealer_drops_and_counts_instead_of_waiting() {
        let (tx, rx) = bounded::<Batch>(1);
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut dealer = Dealer::new(vec![tx], recycle_rx, Mode::Live);
        // Three full batches into a channel of one, nobody reading: one goes through, two are
        // dropped and counted, and the reader never blocks.
        for _ in 0..3 * BATCH_SEGMENTS {
            dealer.push(test_segment(b"abc"), None, 0, Timestamp(1));
        }
        assert_eq!(dealer.dropped_segments, 2 * BATCH_SEGMENTS as u64);
        let got = rx.try_recv().expect("the first batch");
        assert_eq!(got.segments.len(), BATCH_SEGMENTS);
        assert_eq!(got.payload.len(), 3 * BATCH_SEGMENTS);
        // Room again: the next batch goes through, stamped with the window.
        dealer.window = 4;
        dealer.push(test_segment(b"abc"), None, 0, Timestamp(2));
        dealer.send_all(Timestamp(2));
        let got = rx.try_recv().expect("the next batch");
        assert_eq!((got.segments.len(), got.window), (1, 4));
    }

    #[test]
    fn reader_counts_backward_timestamps_and_snaplen_cuts_of_every_source() {
        let (tx, _rx) = unbounded::<Batch>();
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut reader = FrameReader::new(vec![tx], recycle_rx, Mode::Offline);
        let data = [0u8; 60];
        let frame = |secs: i64, wire_len: u32| Frame {
            ts: Timestamp::from_parts(secs, 0),
            data: &data,
            wire_len,
            shared: None,
        };
        // One step back within a file, one at the boundary between two files, one cut frame.
        for (secs, wire_len) in [(100, 60), (99, 60), (99, 1500), (101, 60), (50, 60)] {
            reader.frame(LinkType::ETHERNET, &frame(secs, wire_len), 0);
        }
        let stats = reader.finish();
        assert_eq!(stats.packets, 5);
        assert_eq!(stats.timestamps_backwards, 2);
        assert_eq!(stats.snaplen_truncated, 1);
    }

    #[test]
    fn capture_clock_never_goes_back() {
        let mut clock = CaptureClock::new(Mode::Offline);
        assert_eq!(clock.tick(Timestamp(100)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(50)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(80)), Timestamp(130));
        // A streamed input went quiet: later packets are past the flush, even one stamped
        // the same as the last.
        assert_eq!(clock.pass(), Timestamp(131));
        assert_eq!(clock.tick(Timestamp(80)), Timestamp(131));
        assert_eq!(clock.tick(Timestamp(90)), Timestamp(141));
    }

    #[test]
    fn live_clock_follows_the_wall_clock_without_drift() {
        let mut clock = CaptureClock::new(Mode::Live);
        assert_eq!(clock.tick(Timestamp(100)), Timestamp(100));
        // A frame stamped before the last reading, read after it.
        assert_eq!(clock.tick(Timestamp(95)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(96)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(200)), Timestamp(200));
    }
}
