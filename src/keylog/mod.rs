//! Key logs: the secrets that let tlsight see what TLS 1.3 and QUIC encrypt (certificates,
//! EncryptedExtensions, alerts, tickets) and what TLS ≤ 1.2 encrypts after ChangeCipherSpec.
//!
//! Secrets come from NSS key log files (`SSLKEYLOGFILE`, [`mod@line`] for the format) and from
//! pcapng Decryption Secrets Blocks ([`pcapng`]). They are matched to connections by the client
//! random of the ClientHello, so they are kept in one map keyed by it ([`KeyLog`]).
//!
//! **Memory bound.** Only what decryption uses is kept: per connection, the client random and
//! the secrets packed into one allocation (length byte + bytes per secret: 49 bytes for a TLS 1.2
//! master secret, 132 for a TLS 1.3 SHA-256 connection's four traffic secrets); lines with other
//! labels (`EXPORTER_SECRET`, ...) are counted and dropped. Each connection is charged its
//! packed secrets plus [`store::ENTRY_OVERHEAD`] (192) bytes for the map, the age queue and the
//! allocator, an upper bound of what it costs; past the cap ([`store::DEFAULT_MAX_BYTES`],
//! 256 MiB, about 830,000 TLS 1.3 connections) the oldest connections are dropped and counted
//! (`evicted`), as key logs and captures both run forward in time. A connection
//! [`take`](KeyLog::take)s its secrets when it sees its ClientHello, so they leave the shared
//! map as soon as one connection holds them. A file is read in 256 KiB pieces, of which only a
//! partial last line (at most [`line::MAX_LINE_LEN`]) is kept between reads; a secrets block is
//! read whole (at most [`pcapng::MAX_SECRETS_LEN`]). Measured with `benches/keylog.rs` (figures
//! in `benches/README.md`): a 5-million-line key log of a million TLS 1.3 connections keeps
//! 828,504 of them under the default cap at 203 MiB peak RSS, and 207,126 at 81 MiB under a
//! 64 MiB cap.
//!
//! **Secrets never leave memory**: no type here prints them (`Debug` shows kinds and lengths),
//! and a connection's secrets are overwritten when dropped.
//!
//! Bad lines are not fatal: they are counted, and the first few named as `file:line: reason`.

pub mod line;
pub mod pcapng;
mod reader;
mod sources;
pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub use line::{LineError, SecretKind};
pub use reader::{KeyLogFile, LineSplitter};
pub use sources::KeyLogSources;
pub use store::{BadLine, ConnectionSecrets, KeyLog, KeyLogStats};

/// The 32-byte random of a ClientHello, which names a connection in a key log.
pub type ClientRandom = [u8; 32];

/// The key log of one analysis, shared by its workers (each connection takes its secrets at
/// its ClientHello) and, live, by the thread that re-reads growing key log files.
#[derive(Clone, Debug, Default)]
pub struct SharedKeyLog(Arc<Mutex<KeyLog>>);

impl SharedKeyLog {
    /// Shares `keys`.
    pub fn new(keys: KeyLog) -> Self {
        SharedKeyLog(Arc::new(Mutex::new(keys)))
    }

    /// The key log, locked (a worker that panicked while holding it left it usable: secrets
    /// are only added and taken whole).
    pub fn lock(&self) -> MutexGuard<'_, KeyLog> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes and returns a connection's secrets (see [`KeyLog::take`]).
    pub fn take(&self, client_random: &ClientRandom) -> Option<ConnectionSecrets> {
        self.lock().take(client_random)
    }
}

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
