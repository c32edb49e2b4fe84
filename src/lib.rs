//! tlsight: a passive TLS handshake analyzer.
//!
//! Frames come in (saved capture or live interface), one fact record per TLS connection comes
//! out, and aggregates are built from those records. One module per pipeline stage; each stage
//! imports only earlier ones. `ARCHITECTURE.md` (at the project root) gives the stages, their
//! boundary types, what may import what, and where each transport plugs in.

pub mod aggregate;
pub mod capture;
pub mod check;
pub mod decode;
pub mod diff;
pub mod dtls;
pub mod facts;
pub mod flow;
pub mod keylog;
pub mod memo;
pub mod merge;
pub mod metrics;
pub mod observed;
pub mod output;
pub mod pipeline;
pub mod prefetch;
pub mod privileges;
pub mod quic;
pub mod sink;
pub mod spare;
pub mod stream;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod watch;
pub mod wire;
