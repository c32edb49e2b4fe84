//! Resumption per mechanism, and renegotiations.

use super::Merge;
use crate::facts::{ConnectionFacts, Mechanism};

/// Resumption attempts and hits of a group of connections, per mechanism.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumptionStats {
    /// Connections whose ClientHello offered each mechanism ([`Mechanism::index`] order).
    pub offered: [u64; 3],
    /// Connections on which the server accepted each mechanism.
    pub accepted: [u64; 3],
    /// Connections that offered any mechanism.
    pub attempts: u64,
    /// Connections resumed.
    pub hits: u64,
    /// NewSessionTicket messages seen (cleartext, TLS ≤ 1.2).
    pub tickets_issued: u64,
    /// Connections offering 0-RTT early data.
    pub early_data_offered: u64,
    /// Connections whose early data the server accepted (inferred).
    pub early_data_accepted: u64,
}

impl ResumptionStats {
    pub(super) fn add(&mut self, f: &ConnectionFacts) {
        let r = &f.resumption;
        for m in &r.offered {
            self.offered[m.index()] += 1;
        }
        if let Some(m) = r.accepted {
            self.accepted[m.index()] += 1;
            self.hits += 1;
        }
        self.attempts += u64::from(!r.offered.is_empty());
        self.tickets_issued += u64::from(r.tickets_issued);
        self.early_data_offered += u64::from(r.early_data_offered);
        self.early_data_accepted += u64::from(r.early_data_accepted);
    }

    /// Hits per attempt, when there were attempts.
    pub fn hit_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.hits as f64 / self.attempts as f64)
    }
}

impl Merge for ResumptionStats {
    fn merge_in(&mut self, other: Self) {
        for m in Mechanism::ALL {
            self.offered[m.index()] += other.offered[m.index()];
            self.accepted[m.index()] += other.accepted[m.index()];
        }
        self.attempts += other.attempts;
        self.hits += other.hits;
        self.tickets_issued += other.tickets_issued;
        self.early_data_offered += other.early_data_offered;
        self.early_data_accepted += other.early_data_accepted;
    }
}

/// Renegotiation counts over all connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenegotiationStats {
    /// Connections with at least one renegotiation.
    pub connections: u64,
    /// Renegotiations started by clients.
    pub client_initiated: u64,
    /// Renegotiations started by servers.
    pub server_initiated: u64,
    /// Renegotiations that completed.
    pub completed: u64,
    /// TLS ≤ 1.2 connections where both sides support secure renegotiation (RFC 5746).
    pub secure_supported: u64,
    /// TLS ≤ 1.2 connections where one side does not.
    pub secure_unsupported: u64,
}

impl Merge for RenegotiationStats {
    fn merge_in(&mut self, other: Self) {
        self.connections += other.connections;
        self.client_initiated += other.client_initiated;
        self.server_initiated += other.server_initiated;
        self.completed += other.completed;
        self.secure_supported += other.secure_supported;
        self.secure_unsupported += other.secure_unsupported;
    }
}
