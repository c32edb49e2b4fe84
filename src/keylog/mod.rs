//! Key logs: the secrets that let tlsight see what TLS 1.3 and QUIC encrypt (certificates,
//! EncryptedExtensions, alerts, tickets) and what TLS ≤ 1.2 encrypts after ChangeCipherSpec.
//!
//! Secrets come from NSS key log files (`SSLKEYLOGFILE`, [`line`] for the format) and from
//! pcapng Decryption Secrets Blocks ([`pcapng`]). They are matched to connections by the client
//! random of the ClientHello, so they are kept in one map keyed by it ([`KeyLog`]).
//!
//! **Memory bound.** Only what decryption uses is kept: per connection, the client random and
//! the secrets packed into one allocation (length byte + bytes per secret: 49 bytes for a TLS 1.2
//! master secret, 132 for a TLS 1.3 SHA-256 connection's four traffic secrets); lines with other
//! labels (`EXPORTER_SECRET`, ...) are counted and dropped. Each connection is charged its
//! packed secrets plus [`store::ENTRY_OVERHEAD`] bytes for the map, the age queue and the
//! allocator; past the cap ([`store::DEFAULT_MAX_BYTES`], 256 MiB) the oldest connections are
//! dropped and counted (`evicted`), as key logs and captures both run forward in time. A
//! connection [`take`](KeyLog::take)s its secrets once it has seen its ClientHello, so they
//! leave the shared map as soon as one connection holds them. Readers never buffer more than a
//! line ([`line::MAX_LINE_LEN`]) of a file, or one secrets block ([`pcapng::MAX_SECRETS_LEN`]).
//!
//! **Secrets never leave memory**: no type here prints them (`Debug` shows kinds and lengths),
//! and a connection's secrets are overwritten when dropped.
//!
//! Bad lines are not fatal: they are counted, and the first few named as `file:line: reason`.

pub mod line;
pub mod pcapng;
mod reader;
pub mod store;

use std::path::PathBuf;

pub use line::{LineError, SecretKind};
pub use reader::{KeyLogFile, LineSplitter};
pub use store::{BadLine, ConnectionSecrets, KeyLog, KeyLogStats};

/// The 32-byte random of a ClientHello, which names a connection in a key log.
pub type ClientRandom = [u8; 32];

/// Why a key log source could not be read at all (bad lines inside one are counted instead).
#[derive(Debug, thiserror::Error)]
pub enum KeyLogError {
    /// The file could not be opened or read.
    #[error("cannot read key log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        source: std::io::Error,
    },
    /// A pcapng file's block structure is broken where its secrets blocks were looked for.
    #[error("{path}: pcapng block at offset {offset}: {reason}")]
    Pcapng {
        /// The capture.
        path: PathBuf,
        /// File offset of the block.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
}
