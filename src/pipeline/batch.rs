//! Batches: what the reader sends a worker. Segments with their payloads referred to in the
//! memory-mapped files (no copy) or copied into the batch's own buffer.

use crate::capture::{MappedChunk, MappedFile};
use crate::flow::Timestamp;
use crate::tcp::Segment;
use crate::udp::Datagram;
use std::sync::Arc;

/// Segments (and datagrams) per batch: large enough that channel traffic is a small fraction of the work,
/// small enough that batches stay in cache.
pub(super) const BATCH_SEGMENTS: usize = 512;

/// Where a segment's payload is in its batch (in one of the mapped files the batch holds, or in
/// its own byte buffer), and which input file its frame came from. 16 bytes: a batch of
/// segments stays small.
#[derive(Clone, Copy, Debug)]
pub(super) struct PayloadAt {
    /// Offset in the mapped file, or in the batch's buffer.
    start: usize,
    /// Length (a frame holds at most 262,144 bytes).
    len: u32,
    /// Index in the batch's `files`, or [`COPIED`].
    file: u16,
    /// Index of the input (command-line file) the frame came from.
    pub(super) input: u16,
}

/// [`PayloadAt::file`] of a payload copied into the batch's buffer (live capture, libpcap,
/// reassembled IP fragments).
const COPIED: u16 = u16::MAX;

impl PayloadAt {
    /// Whether the payload was copied (rather than referred to in a mapped file).
    pub(super) fn is_copied(&self) -> bool {
        self.file == COPIED
    }
}

/// Segments for one worker; buffers are recycled, so the steady state allocates nothing.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) segments: Vec<Segment<PayloadAt>>,
    /// UDP datagrams, apart from the segments: the transports share no flow, so the order
    /// between the two lists does not matter, and TCP's loop stays as it was.
    pub(super) datagrams: Vec<Datagram<PayloadAt>>,
    pub(super) payload: Vec<u8>,
    /// The files the mapped payloads are in (one, unless inputs are merged by time).
    pub(super) files: Vec<Arc<MappedFile>>,
    /// The chunks of `files` those payloads lie in, held so their pages stay resident until
    /// the worker is done with them.
    pub(super) chunks: Vec<Arc<MappedChunk>>,
    /// The capture clock when the batch was sent: every later segment for this worker has a
    /// clock at least this.
    pub(super) clock: Timestamp,
    /// Live window the segments belong to; a worker that sees a later one first hands over
    /// its aggregates for the earlier windows.
    pub(super) window: u64,
}

impl Batch {
    /// The payload of one of this batch's segments.
    pub(super) fn payload_of(&self, d: &Segment<PayloadAt>) -> &[u8] {
        self.bytes_at(d.payload)
    }

    /// The payload of one of this batch's datagrams.
    pub(super) fn datagram_payload(&self, d: &Datagram<PayloadAt>) -> &[u8] {
        self.bytes_at(d.payload)
    }

    /// Packets queued (segments and datagrams).
    pub(super) fn len(&self) -> usize {
        self.segments.len() + self.datagrams.len()
    }

    fn bytes_at(&self, at: PayloadAt) -> &[u8] {
        let bytes = if at.is_copied() {
            self.payload.as_slice()
        } else {
            self.files
                .get(usize::from(at.file))
                .map(|f| f.bytes())
                .unwrap_or_default()
        };
        bytes
            .get(at.start..at.start + at.len as usize)
            .unwrap_or_default()
    }

    /// Refers to `len` bytes at `start` of the mapped `file` (whose frame lies in `chunks`),
    /// from input `input`. `None` when the batch already refers to as many files as an index
    /// can name (the caller sends it and starts a new one). Inlined for the reason
    /// [`FlowKey::from_endpoints`](crate::flow::FlowKey::from_endpoints) is (its result was
    /// written field by field and read back as wider words).
    #[inline(always)]
    pub(super) fn refer(
        &mut self,
        file: &Arc<MappedFile>,
        chunks: &[Arc<MappedChunk>],
        start: usize,
        len: usize,
        input: u16,
    ) -> Option<PayloadAt> {
        // Nearly always the last file referred to; several only while inputs are merged.
        let index = match self.files.iter().rposition(|f| Arc::ptr_eq(f, file)) {
            Some(i) => i,
            None if self.files.len() < usize::from(COPIED) => {
                self.files.push(Arc::clone(file));
                self.files.len() - 1
            }
            None => return None,
        };
        for chunk in chunks {
            if !self.chunks.iter().rev().any(|c| Arc::ptr_eq(c, chunk)) {
                self.chunks.push(Arc::clone(chunk));
            }
        }
        Some(PayloadAt {
            start,
            len: len as u32,
            file: index as u16,
            input,
        })
    }

    /// Copies `bytes` into the batch's buffer, from input `input`.
    pub(super) fn copy(&mut self, bytes: &[u8], input: u16) -> PayloadAt {
        let start = self.payload.len();
        self.payload.extend_from_slice(bytes);
        PayloadAt {
            start,
            len: bytes.len() as u32,
            file: COPIED,
            input,
        }
    }

    /// Empties the batch for reuse, keeping its buffers and letting go of the files' chunks.
    pub(super) fn clear(&mut self) {
        self.segments.clear();
        self.datagrams.clear();
        self.payload.clear();
        self.files.clear();
        self.chunks.clear();
    }
}
