//! Batches: what the reader sends a worker. Segments with their payloads referred to in the
//! memory-mapped file (no copy) or copied into the batch's own buffer.

use crate::capture::{MappedChunk, MappedFile};
use crate::flow::Timestamp;
use crate::tcp::Segment;
use crate::udp::Datagram;
use std::sync::Arc;

/// Segments (and datagrams) per batch: large enough that channel traffic is a small fraction of the work,
/// small enough that batches stay in cache.
pub(super) const BATCH_SEGMENTS: usize = 512;

/// Where a segment's payload is in its batch (in the mapped file the batch holds, or in its own
/// byte buffer).
#[derive(Clone, Copy, Debug)]
pub(super) enum PayloadAt {
    /// In the batch's mapped file, at this offset (no copy was made).
    Mapped { start: usize, len: usize },
    /// Copied into the batch's buffer (live capture, libpcap, reassembled IP fragments).
    Copied { start: usize, len: usize },
}

/// Segments for one worker; buffers are recycled, so the steady state allocates nothing.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) segments: Vec<Segment<PayloadAt>>,
    /// UDP datagrams, apart from the segments: the transports share no flow, so the order
    /// between the two lists does not matter, and TCP's loop stays as it was.
    pub(super) datagrams: Vec<Datagram<PayloadAt>>,
    pub(super) payload: Vec<u8>,
    /// The file the `Mapped` payloads are in.
    pub(super) file: Option<Arc<MappedFile>>,
    /// The chunks of `file` those payloads lie in, held so their pages stay resident until the
    /// worker is done with them.
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
        let (bytes, start, len) = match at {
            PayloadAt::Mapped { start, len } => (
                self.file
                    .as_deref()
                    .map(MappedFile::bytes)
                    .unwrap_or_default(),
                start,
                len,
            ),
            PayloadAt::Copied { start, len } => (self.payload.as_slice(), start, len),
        };
        bytes.get(start..start + len).unwrap_or_default()
    }

    /// Empties the batch for reuse, keeping its buffers and letting go of the file's chunks.
    pub(super) fn clear(&mut self) {
        self.segments.clear();
        self.datagrams.clear();
        self.payload.clear();
        self.file = None;
        self.chunks.clear();
    }
}
