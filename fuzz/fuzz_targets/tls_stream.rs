//! TLS record deframing, handshake message joining and the passive observer over two
//! arbitrary byte streams (the message parsers run too, on whatever the joiner completes).
//!
//! Input: chunks `ctl | len (u16 LE) | bytes`; bit 0 of `ctl` is the direction, bit 1 makes
//! the chunk a gap of `len` bytes (no bytes follow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsight::tls::{RecordLayer, TlsContext};

#[path = "shared/streams.rs"]
mod streams;

fuzz_target!(|data: &[u8]| {
    streams::feed(RecordLayer::new(), &mut TlsContext::default(), data);
});
