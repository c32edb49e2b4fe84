//! Client profiles by JA4, and what breaks for them when a server policy changes.

use super::{BoundedCounts, Merge};
use crate::facts::ConnectionFacts;
use crate::tls::ClientHello;
use crate::tls::names::{cipher_is_rsa_kx, cipher_is_tls13, is_grease, version_rank};
use std::collections::BTreeSet;

/// What one client fingerprint (JA4) offers, how often it connected and to which servers.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientProfile {
    /// Connections.
    pub connections: u64,
    /// Connections that neither established nor resumed a session.
    pub unsuccessful: u64,
    /// Connections whose handshake failed or went unanswered (not `incomplete` ones).
    #[serde(default)]
    pub failed: u64,
    /// JA3 hashes seen with this JA4 (GREASE-free orderings differ per JA3), with counts.
    pub ja3: BoundedCounts<8>,
    /// Versions offered (supported_versions, else the legacy version), GREASE left out.
    pub versions: BTreeSet<u16>,
    /// Cipher suites offered, GREASE left out.
    pub ciphers: BTreeSet<u16>,
    /// Groups offered, GREASE left out.
    pub groups: BTreeSet<u16>,
    /// ALPN protocols offered, with the connections offering them.
    pub alpn: BoundedCounts<8>,
    /// Servers it connected to.
    pub servers: BoundedCounts<16>,
}

impl ClientProfile {
    pub(super) fn add(&mut self, f: &ConnectionFacts, ch: &ClientHello, server: &str) {
        self.connections += 1;
        self.unsuccessful += u64::from(!f.outcome.is_success());
        self.failed += u64::from(f.outcome.is_failure());
        self.servers.add(server, 1);
        for p in &ch.alpn {
            self.alpn.add(p, 1);
        }
        // The same JA3 means the same suites, extensions and groups: only a new one can add
        // anything to the sets.
        if let Some(n) = self.ja3.entries.get_mut(&*ch.ja3) {
            *n += 1;
            return;
        }
        self.ja3.add(&ch.ja3, 1);
        if ch.supported_versions.is_empty() {
            self.versions.insert(ch.legacy_version);
        } else {
            self.versions
                .extend(ch.supported_versions.iter().filter(|v| !is_grease(**v)));
        }
        self.ciphers
            .extend(ch.cipher_suites.iter().filter(|c| !is_grease(**c)));
        self.groups
            .extend(ch.groups.iter().filter(|g| !is_grease(**g)));
    }

    /// Highest version offered (drafts rank as TLS 1.3).
    pub fn highest_version(&self) -> Option<u16> {
        self.versions
            .iter()
            .filter_map(|&v| version_rank(v).map(|rank| (rank, v)))
            .max()
            .map(|(_, v)| v)
    }

    /// Whether it offers TLS 1.3 (or a draft of it).
    pub fn offers_tls13(&self) -> bool {
        self.versions
            .iter()
            .any(|&v| version_rank(v) == Some(0x0304))
    }

    /// The policy changes that would leave this client without a handshake.
    pub fn breaks(&self) -> Vec<PolicyChange> {
        let below_tls12 = self
            .highest_version()
            .and_then(version_rank)
            .is_none_or(|v| v < 0x0303);
        let tls13 = self.offers_tls13() && self.ciphers.iter().any(|&c| cipher_is_tls13(c));
        let forward_secret = self.ciphers.iter().any(|&c| {
            !cipher_is_rsa_kx(c) && !cipher_is_tls13(c) && cipher_name_known(c) && c != 0x00ff
        });
        let mut v = Vec::new();
        if below_tls12 {
            v.push(PolicyChange::MinimumTls12);
        }
        if !tls13 && !forward_secret {
            v.push(PolicyChange::NoRsaKeyExchange);
        }
        if !tls13 {
            v.push(PolicyChange::Tls13Only);
        }
        v
    }
}

impl Merge for ClientProfile {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.unsuccessful += other.unsuccessful;
        self.failed += other.failed;
        self.ja3.merge_in(other.ja3);
        self.versions.extend(other.versions);
        self.ciphers.extend(other.ciphers);
        self.groups.extend(other.groups);
        self.alpn.merge_in(other.alpn);
        self.servers.merge_in(other.servers);
    }
}

/// Whether a suite is a known key-exchange suite (not GREASE, not a signalling value).
fn cipher_name_known(c: u16) -> bool {
    tls_parser::TlsCipherSuite::from_id(c).is_some_and(|s| s.kx != tls_parser::TlsCipherKx::Null)
}

/// A server-side policy change whose effect on the observed clients is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyChange {
    /// TLS 1.0 and 1.1 (and SSL) switched off.
    MinimumTls12,
    /// Static RSA key exchange suites removed.
    NoRsaKeyExchange,
    /// Only TLS 1.3 allowed.
    Tls13Only,
}

impl PolicyChange {
    /// Every change, in report order.
    pub const ALL: [PolicyChange; 3] = [
        PolicyChange::MinimumTls12,
        PolicyChange::NoRsaKeyExchange,
        PolicyChange::Tls13Only,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyChange::MinimumTls12 => "disable_below_tls1_2",
            PolicyChange::NoRsaKeyExchange => "remove_rsa_key_exchange",
            PolicyChange::Tls13Only => "tls1_3_only",
        }
    }
}
