//! Out-of-order buffer of one half-stream.
//!
//! Holds copies of bytes that arrived beyond a hole, keyed by stream offset (a `u64` counted from
//! the stream start, so it never wraps). Stored chunks never overlap: when a new copy overlaps
//! bytes already held, the first copy wins and the overlap is only compared, so the buffer holds
//! each byte at most once and its size is exactly the number of distinct bytes waiting.
//! Holes are the spaces between chunks; the caller (the half-stream) owns the delivery point.

use std::collections::BTreeMap;

use crate::flow::Timestamp;

/// Bytes held because they arrived ahead of a hole, with the capture time of the segment that carried them
/// (so that the consumer learns when the bytes were seen, not when the hole filled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The bytes.
    pub data: Vec<u8>,
    /// Capture time of the segment that carried them.
    pub ts: Timestamp,
}

/// What one insert changed, so that the caller can count retransmissions and conflicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Bytes not held before (now buffered).
    pub new_bytes: usize,
    /// Whether some overlapped byte differed from the copy already held.
    pub conflict: bool,
}

/// Memory charged for each buffered chunk on top of its bytes: its map entry and the heap block
/// of its copy. Counting bytes alone would let one-byte segments after a hole cost a hundred
/// times what the caps allow (measured: a million one-byte chunks took 107 MiB, about 112
/// bytes each, with `benches/flood.sh ooo-tiny`); rounded up so the caps stay a bound.
pub const CHUNK_OVERHEAD: usize = 128;

/// Non-overlapping buffered chunks by stream offset.
#[derive(Debug, Default)]
pub struct Assembler {
    chunks: BTreeMap<u64, Held>,
    buffered: usize,
}

impl Assembler {
    /// Buffers the bytes of `data` (starting at stream offset `offset`) that are not held yet;
    /// bytes already held keep their first copy and are compared with the new one.
    pub fn insert(&mut self, offset: u64, data: &[u8], ts: Timestamp) -> Inserted {
        let end = offset.saturating_add(data.len() as u64);
        let mut out = Inserted::default();
        let mut cursor = offset;
        while cursor < end {
            // A held chunk covering `cursor`: first copy wins, compare the overlap.
            if let Some((&start, chunk)) = self.chunks.range(..=cursor).next_back() {
                let chunk_end = start + chunk.data.len() as u64;
                if chunk_end > cursor {
                    let upto = chunk_end.min(end);
                    let held = chunk
                        .data
                        .get((cursor - start) as usize..(upto - start) as usize);
                    let new = data.get((cursor - offset) as usize..(upto - offset) as usize);
                    out.conflict |= held != new;
                    cursor = upto;
                    continue;
                }
            }
            // `cursor` is not held: copy up to the next held chunk or the end.
            let upto = self
                .chunks
                .range(cursor..end)
                .next()
                .map_or(end, |(&start, _)| start);
            let Some(piece) = data.get((cursor - offset) as usize..(upto - offset) as usize) else {
                break;
            };
            self.chunks.insert(
                cursor,
                Held {
                    data: piece.to_vec(),
                    ts,
                },
            );
            self.buffered += piece.len();
            out.new_bytes += piece.len();
            cursor = upto;
        }
        out
    }

    /// Stream offset of the first buffered byte: the end of the first hole.
    pub fn first_offset(&self) -> Option<u64> {
        self.chunks.first_key_value().map(|(&offset, _)| offset)
    }

    /// Removes and returns the first chunk with its offset.
    pub fn pop_first(&mut self) -> Option<(u64, Held)> {
        let first = self.chunks.pop_first();
        if let Some((_, chunk)) = &first {
            self.buffered -= chunk.data.len();
        }
        first
    }

    /// Bytes held (the tests check it against an oracle; the caps use [`Assembler::charged`]).
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Memory the held bytes are charged for: the bytes plus [`CHUNK_OVERHEAD`] per chunk.
    pub fn charged(&self) -> usize {
        self.buffered + self.chunks.len() * CHUNK_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Timestamp = Timestamp(7);

    fn contents(asm: &mut Assembler) -> Vec<(u64, Vec<u8>)> {
        std::iter::from_fn(|| asm.pop_first())
            .map(|(o, c)| (o, c.data))
            .collect()
    }

    #[test]
    fn disjoint_inserts_are_kept_in_offset_order() {
        let mut asm = Assembler::default();
        assert_eq!(asm.insert(10, b"cd", T).new_bytes, 2);
        assert_eq!(asm.insert(2, b"ab", T).new_bytes, 2);
        assert_eq!(asm.buffered(), 4);
        assert_eq!(asm.first_offset(), Some(2));
        assert_eq!(
            contents(&mut asm),
            vec![(2, b"ab".to_vec()), (10, b"cd".to_vec())]
        );
        assert_eq!(asm.buffered(), 0);
        assert_eq!(asm.first_offset(), None);
    }

    #[test]
    fn overlap_keeps_first_copy_and_fills_only_the_holes() {
        let mut asm = Assembler::default();
        asm.insert(2, b"cd", T);
        asm.insert(6, b"gh", T);
        // Covers 0..10: new bytes are 0..2, 4..6 and 8..10; the held ones are compared.
        let ins = asm.insert(0, b"abcdefghij", Timestamp(9));
        assert_eq!(
            ins,
            Inserted {
                new_bytes: 6,
                conflict: false
            }
        );
        assert_eq!(asm.buffered(), 10);
        let got = contents(&mut asm);
        let joined: Vec<u8> = got.iter().flat_map(|(_, d)| d.clone()).collect();
        assert_eq!(joined, b"abcdefghij");
        assert_eq!(
            got.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            [0, 2, 4, 6, 8]
        );
    }

    #[test]
    fn differing_overlap_is_a_conflict_and_first_copy_wins() {
        let mut asm = Assembler::default();
        asm.insert(4, b"XYZ", T);
        let ins = asm.insert(3, b"abcde", T);
        assert_eq!(
            ins,
            Inserted {
                new_bytes: 2,
                conflict: true
            }
        );
        let joined: Vec<u8> = contents(&mut asm)
            .into_iter()
            .flat_map(|(_, d)| d)
            .collect();
        assert_eq!(joined, b"aXYZe");
    }

    #[test]
    fn exact_duplicate_adds_nothing() {
        let mut asm = Assembler::default();
        asm.insert(100, b"hello", T);
        assert_eq!(asm.insert(100, b"hello", T), Inserted::default());
        assert_eq!(asm.insert(101, b"ell", T), Inserted::default());
        assert_eq!(asm.buffered(), 5);
    }

    #[test]
    fn chunks_keep_the_time_of_their_segment() {
        let mut asm = Assembler::default();
        asm.insert(5, b"b", Timestamp(1));
        asm.insert(4, b"ab", Timestamp(2));
        let ts: Vec<_> = std::iter::from_fn(|| asm.pop_first())
            .map(|(_, c)| c.ts)
            .collect();
        assert_eq!(ts, [Timestamp(2), Timestamp(1)]);
    }

    proptest! {
        /// Against a bitmap oracle: after any inserts of consistent copies of one byte string,
        /// the buffer holds exactly the union of the inserted ranges, each byte once.
        #[test]
        fn matches_bitmap_oracle(ranges in prop::collection::vec((0usize..200, 0usize..40), 0..30)) {
            let source: Vec<u8> = (0..255u8).collect();
            let mut held = [false; 255];
            let mut asm = Assembler::default();
            for (start, len) in ranges {
                let end = (start + len).min(source.len());
                let before = held.iter().filter(|&&h| h).count();
                held[start..end].iter_mut().for_each(|h| *h = true);
                let after = held.iter().filter(|&&h| h).count();
                let ins = asm.insert(start as u64, &source[start..end], T);
                prop_assert_eq!(ins.new_bytes, after - before);
                prop_assert!(!ins.conflict);
                prop_assert_eq!(asm.buffered(), after);
            }
            let mut model = vec![false; source.len()];
            let mut last_end = 0u64;
            for (offset, data) in contents(&mut asm) {
                prop_assert!(offset >= last_end, "chunks overlap");
                last_end = offset + data.len() as u64;
                for (i, b) in data.iter().enumerate() {
                    let at = offset as usize + i;
                    prop_assert_eq!(*b, source[at]);
                    model[at] = true;
                }
            }
            prop_assert_eq!(&model[..], &held[..]);
        }
    }
}
