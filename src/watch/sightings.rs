//! What a live window saw beyond its aggregates ([`Sightings`]): certificates with findings and
//! client/server pairs by version class, noted per worker and merged when the window closes.
//! Bounded: beyond [`MAX_TRACKED`] entries, further sightings are counted, not kept.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::aggregate::Merge;
use crate::facts::{ConnectionFacts, Finding};

/// Entries kept per window for each kind of sighting, and distinct certificates and pairs
/// remembered for "once" alerts: beyond these, further ones are counted in
/// `Watch::suppressed` instead of tracked, so memory stays flat whatever the traffic.
pub const MAX_TRACKED: usize = 100_000;

/// A certificate with findings, as seen in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSighting {
    /// The server that presented it (SNI, else ip:port).
    pub server: String,
    /// Subject (RFC 4514).
    pub subject: String,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
    /// Findings judged at capture time.
    pub findings: Vec<Finding>,
}

/// What one window saw beyond its aggregates. Built per worker, merged on window close.
#[derive(Clone, Debug, Default)]
pub struct Sightings {
    /// Certificates with at least one finding, by SHA-256.
    pub certs: BTreeMap<String, CertSighting>,
    /// Client/server pairs that negotiated a version below TLS 1.2, with that version.
    pub deprecated: BTreeMap<(IpAddr, String), u16>,
    /// Client/server pairs that negotiated TLS 1.2 or later (clears their deprecated alert).
    pub modern: BTreeSet<(IpAddr, String)>,
    /// Servers that presented a leaf certificate without an expiry finding (a renewal clears
    /// their certificate alerts).
    pub renewed: BTreeSet<String>,
    /// Sightings not kept because a map was full.
    pub overflow: u64,
}

/// Whether a negotiated version is deprecated (below TLS 1.2: SSLv2, SSLv3, TLS 1.0, 1.1).
pub fn is_deprecated(version: u16) -> bool {
    matches!(version, 0x0002 | 0x0300 | 0x0301 | 0x0302)
}

/// Inserts into a bounded map, counting what does not fit.
fn bounded_insert<K: Ord, V>(map: &mut BTreeMap<K, V>, k: K, v: V, overflow: &mut u64) {
    if map.len() < MAX_TRACKED || map.contains_key(&k) {
        map.insert(k, v);
    } else {
        *overflow += 1;
    }
}

/// Inserts into a bounded set, counting what does not fit.
fn bounded_set_insert<K: Ord>(set: &mut BTreeSet<K>, k: K, overflow: &mut u64) {
    if set.len() < MAX_TRACKED || set.contains(&k) {
        set.insert(k);
    } else {
        *overflow += 1;
    }
}

impl Sightings {
    /// Notes one connection.
    pub fn add(&mut self, f: &ConnectionFacts) {
        let server = f.server_label().into_owned();
        for c in &f.certificates {
            if !c.findings.is_empty() {
                let sighting = CertSighting {
                    server: server.clone(),
                    subject: c.cert.subject.clone(),
                    not_after: c.cert.not_after,
                    findings: c.findings.to_vec(),
                };
                bounded_insert(
                    &mut self.certs,
                    c.cert.sha256.clone(),
                    sighting,
                    &mut self.overflow,
                );
            }
        }
        if let Some(leaf) = f.certificates.first()
            && !leaf.findings.iter().any(|x| x.is_expiry())
        {
            bounded_set_insert(&mut self.renewed, server.clone(), &mut self.overflow);
        }
        if let Some(v) = f.version() {
            let pair = (f.client.ip, server);
            if is_deprecated(v) {
                bounded_insert(&mut self.deprecated, pair, v, &mut self.overflow);
            } else {
                bounded_set_insert(&mut self.modern, pair, &mut self.overflow);
            }
        }
    }
}

impl Merge for Sightings {
    fn merge_in(&mut self, other: Self) {
        self.overflow += other.overflow;
        for (k, v) in other.certs {
            bounded_insert(&mut self.certs, k, v, &mut self.overflow);
        }
        for (k, v) in other.deprecated {
            bounded_insert(&mut self.deprecated, k, v, &mut self.overflow);
        }
        for k in other.modern {
            bounded_set_insert(&mut self.modern, k, &mut self.overflow);
        }
        for k in other.renewed {
            bounded_set_insert(&mut self.renewed, k, &mut self.overflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_versions() {
        for v in [0x0002, 0x0300, 0x0301, 0x0302] {
            assert!(is_deprecated(v), "{v:#x}");
        }
        for v in [0x0303, 0x0304, 0x7f17] {
            assert!(!is_deprecated(v), "{v:#x}");
        }
    }

    #[test]
    fn sightings_merge_and_stay_bounded() {
        let mut a = Sightings::default();
        let mut b = Sightings::default();
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        for i in 0..MAX_TRACKED {
            a.modern.insert((ip, i.to_string()));
        }
        b.modern.insert((ip, "new".into()));
        b.modern.insert((ip, "0".into()));
        b.renewed.insert("s".into());
        a.merge_in(b);
        assert_eq!(a.modern.len(), MAX_TRACKED);
        assert_eq!(a.overflow, 1, "only the new pair overflowed");
        assert!(a.renewed.contains("s"));
    }
}
