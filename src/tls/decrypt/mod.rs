//! Record decryption with key-log secrets: what lets tlsight read the handshake messages and
//! alerts that TLS 1.3 encrypts after the ServerHello, and that TLS ≤ 1.2 encrypts after
//! ChangeCipherSpec (Finished, renegotiations, alerts).
//!
//! One idea per file: [`accounting`] (what decryption did for a connection's record), [`aead`] (the AEAD ciphers), [`tls13`] (TLS 1.3 record protection and
//! KeyUpdate), [`prf`] (the TLS 1.0–1.2 PRF), [`tls12`] (TLS ≤ 1.2 key blocks, AEAD and
//! CBC-HMAC records), [`transcript`] (the running handshake hash), [`finished`] (Finished
//! verify_data), and [`connection`] (one connection's keys in both directions, driven by the
//! handshake messages in order).
//!
//! Decryption is passive: nothing here is a security boundary (padding and MAC checks are not
//! constant-time, as no peer can observe them), and a record that does not open is reported as
//! such, never guessed at. Secrets and keys are never printed (`Debug` shows suites and counters).

pub mod accounting;
pub mod aead;
pub mod cbc;
pub mod connection;
pub mod finished;
pub mod prf;
pub mod tls12;
pub mod tls13;
pub mod transcript;

#[cfg(test)]
mod tests;

pub use accounting::{DecryptionFacts, DecryptionLevel};
pub use connection::{ConnectionKeys, Opened};

use crate::tls::key_schedule::KeyScheduleError;

/// Why a record or a key could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The cipher suite is not one tlsight decrypts.
    #[error("cipher suite {0:#06x} is not supported for decryption")]
    UnsupportedCipher(u16),
    /// The protocol version is not one tlsight decrypts (SSL 3.0, DTLS).
    #[error("version {0:#06x} is not supported for decryption")]
    UnsupportedVersion(u16),
    /// A secret of the wrong length for the suite's hash.
    #[error("secret of {got} bytes where the suite's hash needs {need}")]
    BadSecretLength {
        /// Bytes given.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A derived key of the wrong length (cannot happen with a supported suite).
    #[error("key of the wrong length for the cipher")]
    BadKeyLength,
    /// The key schedule refused its input.
    #[error("key schedule: {0}")]
    KeySchedule(#[from] KeyScheduleError),
    /// The record is shorter than its nonce, IV, tag or MAC.
    #[error("record too short for its cipher")]
    TooShort,
    /// The record is longer than the protocol allows.
    #[error("record of {0} bytes is longer than the protocol allows")]
    RecordOverflow(usize),
    /// The AEAD tag or the MAC did not verify: wrong secret, wrong sequence number, or a
    /// damaged record.
    #[error("record did not authenticate (wrong secret or damaged record)")]
    Authentication,
    /// CBC padding is malformed.
    #[error("bad CBC padding")]
    BadPadding,
    /// A TLS 1.3 inner plaintext is all zeros (no content type).
    #[error("TLS 1.3 record without a content type")]
    NoContentType,
}
