//! IP defragmentation: fragments are copied into a per-datagram buffer until the datagram is
//! complete, because TCP ports (and so the flow and the worker) are only in the first fragment
//! and TLS bytes may be in any of them.
//!
//! Hostile or broken captures must not be able to exhaust memory or time, so every resource is
//! capped ([`DefragConfig`]) and every drop is counted ([`DecodeStats`]) rather than silent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::AddAssign;
use std::time::Duration;

use super::{DecodeError, layer};
use crate::flow::Timestamp;

/// Limits of the defragmenter; the defaults suit a busy link with a few fragmented flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefragConfig {
    /// Datagrams reassembled at the same time; when full, the oldest is evicted to make room
    /// (a flood of fresh junk fragments then costs only the junk itself).
    pub max_datagrams: usize,
    /// Largest reassembled datagram (IP payload bytes). 65 535 is the most IPv4 and non-jumbo
    /// IPv6 can express, so anything larger is an attack or garbage.
    pub max_datagram_bytes: usize,
    /// Bytes held by all datagrams in progress together.
    pub max_total_bytes: usize,
    /// Capture time after the first fragment at which an incomplete datagram is dropped (the
    /// missing fragments were lost; Linux uses 30 s too).
    pub timeout: Duration,
    /// Most disjoint byte ranges one datagram may have received: bounds the bookkeeping cost of
    /// pathological fragment patterns (tiny fragments with holes between them).
    pub max_ranges: usize,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 1024,
            max_datagram_bytes: 65_535,
            max_total_bytes: 32 << 20,
            timeout: Duration::from_secs(30),
            max_ranges: 256,
        }
    }
}

/// Counters of the decoder's stateful part (defragmentation), reported next to the per-kind
/// decode error counts so that lost or dropped datagrams are visible. Merge per-worker
/// values with `+=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Fragments handed to the defragmenter.
    pub fragments: u64,
    /// Datagrams completed and decoded.
    pub datagrams_reassembled: u64,
    /// Incomplete datagrams dropped because their timeout passed (fragments lost).
    pub datagrams_expired: u64,
    /// Incomplete datagrams dropped to make room when `max_datagrams` were in progress.
    pub datagrams_evicted: u64,
    /// Datagrams dropped because they would exceed `max_datagram_bytes`.
    pub datagrams_oversized: u64,
    /// Datagrams dropped because they received more than `max_ranges` disjoint pieces.
    pub datagrams_too_fragmented: u64,
    /// Datagrams dropped because all datagrams together would exceed `max_total_bytes`.
    pub total_bytes_cap_hits: u64,
    /// Datagrams dropped because their fragments disagreed on where the datagram ends.
    pub datagrams_inconsistent: u64,
    /// Fragments that overlapped bytes already received (the first copy was kept).
    pub overlapping_fragments: u64,
}

impl AddAssign for DecodeStats {
    fn add_assign(&mut self, o: DecodeStats) {
        self.fragments += o.fragments;
        self.datagrams_reassembled += o.datagrams_reassembled;
        self.datagrams_expired += o.datagrams_expired;
        self.datagrams_evicted += o.datagrams_evicted;
        self.datagrams_oversized += o.datagrams_oversized;
        self.datagrams_too_fragmented += o.datagrams_too_fragmented;
        self.total_bytes_cap_hits += o.total_bytes_cap_hits;
        self.datagrams_inconsistent += o.datagrams_inconsistent;
        self.overlapping_fragments += o.overlapping_fragments;
    }
}

/// Which datagram a fragment belongs to. For IPv6 `proto` is 0: RFC 8200 lets the fragment
/// headers of one datagram disagree on Next Header and uses the offset-zero one, which is kept
/// in the datagram instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

/// One fragment as cut out of its packet.
pub(super) struct Fragment<'f> {
    /// Byte offset of `data` in the datagram.
    pub offset: u32,
    /// More fragments follow (this one is not the last).
    pub more: bool,
    /// Protocol of the datagram's payload, as this fragment tells it.
    pub next: u8,
    /// The fragment's bytes.
    pub data: &'f [u8],
}

/// What became of a fragment.
pub(super) enum Insert {
    /// Kept (or dropped by a cap, counted): nothing to decode yet.
    Held,
    /// Its datagram is complete: the payload protocol and the reassembled payload.
    Complete { next: u8, datagram: Vec<u8> },
}

/// A datagram in progress.
#[derive(Debug)]
struct Pending {
    /// Datagram bytes received so far, at their offsets (holes are zero).
    buf: Vec<u8>,
    /// Received byte ranges, sorted, disjoint and not touching.
    have: Vec<(u32, u32)>,
    /// Datagram length, once the last fragment arrived.
    end: Option<u32>,
    /// Payload protocol, once the offset-zero fragment arrived.
    next: Option<u8>,
    /// Capture time of the first fragment seen, for the timeout.
    first_ts: i64,
}

/// The defragmenter: datagrams in progress, their memory and the counters.
#[derive(Debug)]
pub(super) struct Defrag {
    cfg: DefragConfig,
    table: HashMap<FragKey, Pending>,
    /// Sum of the `buf` lengths in `table`.
    bytes: usize,
    /// Capture time at or after which the table is next swept for expired datagrams.
    next_sweep: i64,
    pub stats: DecodeStats,
}

/// How often (capture time) the whole table is swept for expired datagrams; entries hit by a
/// fragment are checked exactly in any case.
const SWEEP_INTERVAL_NS: i64 = 1_000_000_000;

impl Default for Defrag {
    fn default() -> Self {
        Defrag::new(DefragConfig::default())
    }
}

impl Defrag {
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag {
            cfg,
            table: HashMap::new(),
            bytes: 0,
            next_sweep: i64::MIN,
            stats: DecodeStats::default(),
        }
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.table.len()
    }

    fn timeout_ns(&self) -> i64 {
        i64::try_from(self.cfg.timeout.as_nanos()).unwrap_or(i64::MAX)
    }

    fn is_expired(&self, p: &Pending, now: i64) -> bool {
        now.saturating_sub(p.first_ts) > self.timeout_ns()
    }

    /// Drops (and counts) every datagram whose timeout passed at capture time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let timeout = self.timeout_ns();
        let before = self.table.len();
        let mut freed = 0;
        self.table.retain(|_, p| {
            let keep = now.0.saturating_sub(p.first_ts) <= timeout;
            if !keep {
                freed += p.buf.len();
            }
            keep
        });
        self.bytes -= freed;
        self.stats.datagrams_expired += (before - self.table.len()) as u64;
    }

    fn drop_entry(&mut self, key: &FragKey) {
        if let Some(p) = self.table.remove(key) {
            self.bytes -= p.buf.len();
        }
    }

    /// Makes room for one more datagram by evicting the oldest.
    fn evict_oldest(&mut self) {
        let oldest = self
            .table
            .iter()
            .min_by_key(|(_, p)| p.first_ts)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.drop_entry(&k);
            self.stats.datagrams_evicted += 1;
        }
    }

    /// Adds one fragment of datagram `key`, received at `ts`.
    pub fn insert(
        &mut self,
        key: FragKey,
        frag: Fragment<'_>,
        ts: Timestamp,
    ) -> Result<Insert, DecodeError> {
        self.stats.fragments += 1;
        if ts.0 >= self.next_sweep {
            self.expire(ts);
            self.next_sweep = ts.0.saturating_add(SWEEP_INTERVAL_NS);
        }
        if let Some(p) = self.table.get(&key)
            && self.is_expired(p, ts.0)
        {
            self.drop_entry(&key);
            self.stats.datagrams_expired += 1;
        }

        let len = u32::try_from(frag.data.len()).unwrap_or(u32::MAX);
        let end = frag.offset.saturating_add(len);
        if end as usize > self.cfg.max_datagram_bytes {
            self.drop_entry(&key);
            self.stats.datagrams_oversized += 1;
            return Ok(Insert::Held);
        }
        if !self.table.contains_key(&key) && self.table.len() >= self.cfg.max_datagrams {
            self.evict_oldest();
        }
        let p = self.table.entry(key).or_insert_with(|| Pending {
            buf: Vec::new(),
            have: Vec::new(),
            end: None,
            next: None,
            first_ts: ts.0,
        });

        // Where the datagram ends: told by the last fragment, never contradicted afterwards.
        let received_end = p.have.last().map_or(0, |&(_, e)| e);
        let consistent = match (p.end, frag.more) {
            (Some(e), false) => e == end,
            (Some(e), true) => end <= e,
            (None, false) => received_end <= end,
            (None, true) => true,
        };
        if !consistent {
            self.drop_entry(&key);
            self.stats.datagrams_inconsistent += 1;
            return Err(DecodeError::Malformed {
                layer: layer::FRAGMENT,
                what: "fragments disagree on the datagram length",
            });
        }
        if !frag.more {
            p.end = Some(end);
        }
        if frag.offset == 0 && p.next.is_none() {
            p.next = Some(frag.next);
        }

        let grow = (end as usize).saturating_sub(p.buf.len());
        if self.bytes + grow > self.cfg.max_total_bytes {
            self.drop_entry(&key);
            self.stats.total_bytes_cap_hits += 1;
            return Ok(Insert::Held);
        }
        if grow > 0 {
            p.buf.resize(end as usize, 0);
            self.bytes += grow;
        }

        if frag.offset < end {
            if copy_new_bytes(p, &frag, end) {
                self.stats.overlapping_fragments += 1;
            }
            merge_range(&mut p.have, frag.offset, end);
            if p.have.len() > self.cfg.max_ranges {
                self.drop_entry(&key);
                self.stats.datagrams_too_fragmented += 1;
                return Ok(Insert::Held);
            }
        }

        if let (Some(total), Some(next)) = (p.end, p.next)
            && p.have.as_slice() == [(0, total)]
            && let Some(done) = self.table.remove(&key)
        {
            self.bytes -= done.buf.len();
            self.stats.datagrams_reassembled += 1;
            return Ok(Insert::Complete {
                next,
                datagram: done.buf,
            });
        }
        Ok(Insert::Held)
    }
}

/// Copies the bytes of `frag` (ending at `end`) that fall in holes of `p`, so that the first
/// copy of any byte wins. Returns whether some bytes were already there (an overlap).
fn copy_new_bytes(p: &mut Pending, frag: &Fragment<'_>, end: u32) -> bool {
    let mut copy = |from: u32, to: u32| {
        let src = frag
            .data
            .get((from - frag.offset) as usize..(to - frag.offset) as usize);
        if let (Some(dst), Some(src)) = (p.buf.get_mut(from as usize..to as usize), src) {
            dst.copy_from_slice(src);
        }
        to - from
    };
    let mut pos = frag.offset;
    let mut copied = 0;
    for &(s, e) in &p.have {
        if e <= pos {
            continue;
        }
        if s >= end {
            break;
        }
        if s > pos {
            copied += copy(pos, s);
        }
        pos = e;
        if pos >= end {
            break;
        }
    }
    if pos < end {
        copied += copy(pos, end);
    }
    copied != end - frag.offset
}

/// Adds `[from, to)` to the sorted disjoint ranges `have`, merging ranges it touches.
fn merge_range(have: &mut Vec<(u32, u32)>, from: u32, to: u32) {
    let lo = have.partition_point(|&(_, e)| e < from);
    let hi = have.partition_point(|&(s, _)| s <= to);
    let (mut start, mut stop) = (from, to);
    if let Some(touched) = have.get(lo..hi)
        && let (Some(first), Some(last)) = (touched.first(), touched.last())
    {
        start = start.min(first.0);
        stop = stop.max(last.1);
    }
    have.splice(lo..hi.max(lo), std::iter::once((start, stop)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            proto: 6,
        }
    }

    fn frag(offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            offset,
            more,
            next: 6,
            data,
        }
    }

    fn secs(s: i64) -> Timestamp {
        Timestamp::from_parts(s, 0)
    }

    fn complete(r: Result<Insert, DecodeError>) -> Vec<u8> {
        match r {
            Ok(Insert::Complete { next, datagram }) => {
                assert_eq!(next, 6);
                datagram
            }
            Ok(Insert::Held) => panic!("datagram not complete"),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn held(r: Result<Insert, DecodeError>) {
        assert!(matches!(r, Ok(Insert::Held)), "expected Held");
    }

    /// Splits `data` into 8-byte-aligned fragments of at most `size` bytes.
    fn pieces(data: &[u8], size: usize) -> Vec<(u32, bool, &[u8])> {
        let n = data.len().div_ceil(size);
        data.chunks(size)
            .enumerate()
            .map(|(i, c)| ((i * size) as u32, i + 1 < n, c))
            .collect()
    }

    #[test]
    fn merges_ranges() {
        let mut have = Vec::new();
        merge_range(&mut have, 16, 24);
        merge_range(&mut have, 0, 8);
        assert_eq!(have, [(0, 8), (16, 24)]);
        merge_range(&mut have, 8, 16);
        assert_eq!(have, [(0, 24)]);
        merge_range(&mut have, 40, 48);
        merge_range(&mut have, 4, 44);
        assert_eq!(have, [(0, 48)]);
    }

    #[test]
    fn reassembles_in_any_order() {
        let data: Vec<u8> = (0..100u8).collect();
        let parts = pieces(&data, 24);
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]] {
            let mut d = Defrag::default();
            for (n, &i) in order.iter().enumerate() {
                let (off, more, bytes) = parts[i];
                let r = d.insert(key(1), frag(off, more, bytes), secs(1));
                if n + 1 < order.len() {
                    held(r);
                } else {
                    assert_eq!(complete(r), data);
                }
            }
            assert_eq!(d.in_progress(), 0);
            assert_eq!(d.bytes, 0);
            assert_eq!(d.stats.datagrams_reassembled, 1);
            assert_eq!(d.stats.fragments, 5);
        }
    }

    #[test]
    fn first_copy_wins_on_overlap() {
        let mut d = Defrag::default();
        held(d.insert(key(1), frag(8, true, &[1; 16]), secs(1)));
        // Overlaps [8, 16) of the first one and extends to 32.
        held(d.insert(key(1), frag(0, true, &[2; 16]), secs(1)));
        let out = complete(d.insert(key(1), frag(16, false, &[3; 16]), secs(1)));
        let mut want = vec![2u8; 8];
        want.extend([1; 16]);
        want.extend([3; 8]);
        assert_eq!(out, want);
        assert_eq!(d.stats.overlapping_fragments, 2);
    }

    #[test]
    fn duplicate_fragments_are_harmless() {
        let mut d = Defrag::default();
        held(d.insert(key(1), frag(0, true, &[1; 8]), secs(1)));
        held(d.insert(key(1), frag(0, true, &[9; 8]), secs(1)));
        let out = complete(d.insert(key(1), frag(8, false, &[2; 4]), secs(1)));
        assert_eq!(out, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn different_keys_do_not_mix() {
        let mut d = Defrag::default();
        held(d.insert(key(1), frag(0, true, &[1; 8]), secs(1)));
        held(d.insert(key(2), frag(8, false, &[2; 8]), secs(1)));
        assert_eq!(d.in_progress(), 2);
        let out = complete(d.insert(key(2), frag(0, true, &[3; 8]), secs(1)));
        assert_eq!(out, [3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(d.in_progress(), 1);
        let out = complete(d.insert(key(1), frag(8, false, &[4; 8]), secs(1)));
        assert_eq!(out, [1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4]);
    }

    #[test]
    fn expires_by_capture_time() {
        let mut d = Defrag::default();
        held(d.insert(key(1), frag(0, true, &[1; 8]), secs(100)));
        held(d.insert(key(2), frag(0, true, &[1; 8]), secs(120)));
        // 31 s after the first fragment of datagram 1: it expired, so its tail is alone.
        held(d.insert(key(1), frag(8, false, &[2; 8]), secs(131)));
        assert_eq!(d.stats.datagrams_expired, 1);
        assert_eq!(d.in_progress(), 2);
        d.expire(secs(1000));
        assert_eq!(d.stats.datagrams_expired, 3);
        assert_eq!(d.in_progress(), 0);
        assert_eq!(d.bytes, 0);
    }

    #[test]
    fn evicts_oldest_when_full() {
        let cfg = DefragConfig {
            max_datagrams: 2,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(cfg);
        held(d.insert(key(1), frag(0, true, &[1; 8]), secs(1)));
        held(d.insert(key(2), frag(0, true, &[1; 8]), secs(2)));
        held(d.insert(key(3), frag(0, true, &[1; 8]), secs(3)));
        assert_eq!(d.stats.datagrams_evicted, 1);
        assert_eq!(d.in_progress(), 2);
        // Datagram 1 was the one evicted: its tail cannot complete it.
        held(d.insert(key(1), frag(8, false, &[1; 8]), secs(3)));
        complete(d.insert(key(3), frag(8, false, &[1; 8]), secs(3)));
    }

    #[test]
    fn caps_datagram_and_total_bytes() {
        let cfg = DefragConfig {
            max_datagram_bytes: 64,
            max_total_bytes: 100,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(cfg);
        held(d.insert(key(1), frag(0, true, &[1; 8]), secs(1)));
        held(d.insert(key(1), frag(60, false, &[1; 8]), secs(1)));
        assert_eq!(d.stats.datagrams_oversized, 1);
        assert_eq!(d.in_progress(), 0);

        held(d.insert(key(2), frag(56, true, &[1; 8]), secs(1)));
        held(d.insert(key(3), frag(56, true, &[1; 8]), secs(1)));
        assert_eq!(d.stats.total_bytes_cap_hits, 1);
        assert_eq!(d.in_progress(), 1);
        assert_eq!(d.bytes, 64);
    }

    #[test]
    fn caps_disjoint_ranges() {
        let cfg = DefragConfig {
            max_ranges: 4,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(cfg);
        for i in 0..5 {
            held(d.insert(key(1), frag(i * 16, true, &[1; 8]), secs(1)));
        }
        assert_eq!(d.stats.datagrams_too_fragmented, 1);
        assert_eq!(d.in_progress(), 0);
        assert_eq!(d.bytes, 0);
    }

    #[test]
    fn rejects_contradicting_lengths() {
        let mut d = Defrag::default();
        held(d.insert(key(1), frag(16, false, &[1; 8]), secs(1)));
        let e = d.insert(key(1), frag(24, true, &[1; 8]), secs(1));
        assert!(matches!(e, Err(DecodeError::Malformed { .. })));
        assert_eq!(d.stats.datagrams_inconsistent, 1);
        assert_eq!(d.in_progress(), 0);

        held(d.insert(key(2), frag(16, true, &[1; 8]), secs(1)));
        assert!(d.insert(key(2), frag(0, false, &[1; 8]), secs(1)).is_err());
    }
}
