//! TCP's TLS record layer: [`Deframer`] finds where TLS starts in each direction's byte stream
//! (`detect`) and cuts it into records; [`RecordLayer`] reads them (which are encrypted,
//! ChangeCipherSpec, TLS 1.3's record-size inference), joins handshake messages across records
//! and drives the shared [`crate::tls::handshake::Handshake`] layer; with key logs, `decrypt`
//! opens protected records first.

mod decrypt;
pub mod deframer;
mod detect;
mod layer;

pub use deframer::{Deframer, Framing, RecordBody, RecordHeader, RecordSink};
pub use layer::{INFERRED_ALERT_LEN, RecordConfig, RecordLayer};
