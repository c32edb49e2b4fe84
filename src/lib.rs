//! tlsight: a passive TLS handshake analyzer.
//!
//! Frames come in (saved capture or live interface), one fact record per TLS connection comes
//! out, and aggregates are built from those records. One module per pipeline stage; each stage
//! imports only earlier ones (see `DESIGN.md`).

pub mod decode;
pub mod flow;
pub mod reassembly;
pub mod tls;
