//! The transport-neutral stream layer: the bounded, offset-keyed [`assembler`] that puts bytes
//! back in order (TCP segments, QUIC CRYPTO frames, DTLS handshake fragments) and the flow
//! [`table`] with idle expiry, eviction and deterministic close times. Transport drivers
//! (`tcp`, and the UDP ones) build on both; whatever consumes a driver's in-order bytes
//! implements [`StreamConsumer`].

pub mod assembler;
mod flow_map;
pub mod table;

pub use table::{CloseReason, Entry, FlowTable, Lookup, TableLimits, TableStats};

use crate::flow::{Direction, Timestamp};

/// Receives a connection's byte streams in order.
pub trait StreamConsumer {
    /// In-order bytes of direction `dir`; `ts` is the capture time of the packet that carried
    /// them.
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp);
    /// `len` bytes of direction `dir` are missing (capture loss or a cap): the next `on_data`
    /// continues after them.
    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp);
    /// Asks the CPU to start loading what closing the connection will read, for a segment
    /// that may close it (a FIN or RST a few segments ahead): step 0 what the consumer's own
    /// state points to, each later step one pointer further, once the lines the step before
    /// asked for have had time to arrive (a hint; none by default).
    fn prefetch_close(&self, _step: usize) {}
}
