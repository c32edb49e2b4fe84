//! The certificate inventory: each distinct certificate once, with its connections, servers
//! and findings.

use super::{BoundedCounts, Merge, count};
use crate::facts::{ChainCert, Finding};
use crate::tls::Certificate;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One distinct certificate of the inventory: parsed once, with where it was seen and every
/// finding it had on any connection.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CertEntry {
    /// The parsed certificate.
    pub cert: Arc<Certificate>,
    /// Connections that presented it.
    pub connections: u64,
    /// Presented by a client (mutual TLS) at least once.
    pub client_certificate: bool,
    /// Position in the chain when first seen: 0 = leaf.
    pub chain_position: usize,
    /// Findings about the certificate itself, on any connection (e.g. expired), sorted.
    pub findings: Vec<Finding>,
    /// Findings that depend on the connection ([`Finding::is_per_connection`]), with the
    /// number of connections that had each.
    pub connection_findings: BTreeMap<Finding, u64>,
    /// Servers of the connections that presented it.
    pub servers: BoundedCounts<16>,
}

impl CertEntry {
    /// Adds one sighting: `c` at `position` of a chain (client chain when `client`) on a
    /// connection to `server`.
    pub(super) fn add(&mut self, c: &ChainCert, position: usize, client: bool, server: &str) {
        if self.connections == 0 {
            self.cert = Arc::clone(&c.cert);
            self.chain_position = position;
        }
        self.connections += 1;
        self.client_certificate |= client;
        self.chain_position = self.chain_position.min(position);
        for &finding in &c.findings {
            if finding.is_per_connection() {
                count(&mut self.connection_findings, finding, 1);
            } else {
                self.add_finding(finding);
            }
        }
        self.servers.add(server, 1);
    }

    /// Adds a finding about the certificate itself, keeping the list sorted and unique.
    pub(super) fn add_finding(&mut self, finding: Finding) {
        if let Err(at) = self.findings.binary_search(&finding) {
            self.findings.insert(at, finding);
        }
    }
}

impl Merge for CertEntry {
    fn merge_in(&mut self, other: Self) {
        if self.connections == 0 {
            // A fresh entry: it takes the certificate it is merged with.
            self.cert = other.cert;
            self.chain_position = other.chain_position;
        } else {
            self.chain_position = self.chain_position.min(other.chain_position);
        }
        self.connections += other.connections;
        self.client_certificate |= other.client_certificate;
        for finding in other.findings {
            self.add_finding(finding);
        }
        self.connection_findings.merge_in(other.connection_findings);
        self.servers.merge_in(other.servers);
    }
}
