//! X.509 certificate facts (via `x509-parser`) and a per-worker cache so that each distinct
//! certificate (by SHA-256 of its DER) is parsed once, however many connections carry it.
//!
//! INTERFACE STUB — implementation pending (tls-parsing helper).

use std::sync::Arc;

use super::Certificate;

/// Parses one DER certificate. Never fails: a DER that does not parse yields a `Certificate`
/// with its hash, length and `parse_error` set.
pub fn parse_certificate(der: &[u8]) -> Certificate {
    let _ = der;
    todo!("tls-parsing helper")
}

/// Parsed certificates by SHA-256, bounded in size.
#[derive(Debug, Default)]
pub struct CertCache {}

impl CertCache {
    /// The facts of `der`, parsed now or taken from the cache.
    pub fn get_or_parse(&mut self, der: &[u8]) -> Arc<Certificate> {
        let _ = der;
        todo!("tls-parsing helper")
    }
}
