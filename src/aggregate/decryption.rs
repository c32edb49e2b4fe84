//! What key-log decryption did over a capture: connections by how much was decrypted, the
//! secrets missing, and the records that had keys and did not decrypt (`decryption_failed`).
//! Empty, and absent from the report, without key logs.

use std::collections::BTreeMap;

use super::{Merge, codec, count};
use crate::facts::ConnectionFacts;

/// Decryption over the connections of an analysis with key logs; merged with `+=`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecryptionStats {
    /// Connections by level (`none`, `handshake`, `full`).
    #[serde(deserialize_with = "codec::static_keys")]
    pub levels: BTreeMap<&'static str, u64>,
    /// Connections that lacked a secret, by its key log label.
    #[serde(deserialize_with = "codec::static_keys")]
    pub missing: BTreeMap<&'static str, u64>,
    /// Protected records whose keys were there but that did not decrypt.
    pub failed_records: u64,
    /// Connections with at least one such record.
    pub failed_connections: u64,
}

impl DecryptionStats {
    /// Adds one connection (nothing when its analysis had no key logs).
    pub fn add(&mut self, f: &ConnectionFacts) {
        let Some(d) = f.decrypted.as_deref() else {
            return;
        };
        let a = &d.accounting;
        count(&mut self.levels, a.level().name(), 1);
        if let Some(kind) = a.missing {
            count(&mut self.missing, kind.label(), 1);
        }
        self.failed_records += a.failed_records;
        self.failed_connections += u64::from(a.failed_records > 0);
    }

    /// Whether no connection was counted (an analysis without key logs).
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

impl Merge for DecryptionStats {
    fn merge_in(&mut self, other: Self) {
        self.levels.merge_in(other.levels);
        self.missing.merge_in(other.missing);
        self.failed_records += other.failed_records;
        self.failed_connections += other.failed_connections;
    }
}
