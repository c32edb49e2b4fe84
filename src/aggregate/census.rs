//! Censuses that need more than a count per codepoint: groups offered per distinct list, and
//! ECH offered and confirmed.

use super::{Merge, count};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Encrypted Client Hello use.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EchStats {
    /// ClientHellos carrying encrypted_client_hello.
    pub offered: u64,
    /// Of those, the server confirmed ECH in the clear (its HelloRetryRequest carried the
    /// extension): real ECH, accepted.
    pub confirmed: u64,
}

impl Merge for EchStats {
    fn merge_in(&mut self, other: Self) {
        self.offered += other.offered;
        self.confirmed += other.confirmed;
    }
}

/// Longest GREASE-free group list counted as a list by [`GroupCensus`]; longer ones (not sent
/// by any common client) are counted group by group.
pub const MAX_LISTED_GROUPS: usize = 32;

/// Distinct group lists [`GroupCensus`] holds; connections with other lists are counted group
/// by group, so memory stays bounded whatever the traffic.
pub(super) const MAX_GROUP_LISTS: usize = 1024;

/// Connections offering each key-exchange group, counted per distinct GREASE-free group list:
/// a client stack sends the same list every time, so a connection costs one hash look-up
/// instead of one map look-up per group. [`GroupCensus::counts`] expands the lists when a
/// report is written; the totals do not depend on which lists were held.
#[derive(Clone, Debug, Default)]
pub struct GroupCensus {
    /// Connections per distinct list (at most [`MAX_GROUP_LISTS`]).
    pub(super) lists: FxHashMap<Box<[u16]>, u64>,
    /// Counts per group of the connections whose list is not held.
    pub(super) groups: BTreeMap<u16, u64>,
}

impl GroupCensus {
    /// Counts `n` connections offering `list` (each occurrence of a group counts once).
    pub(super) fn add_list(&mut self, list: &[u16], n: u64) {
        if let Some(held) = self.lists.get_mut(list) {
            *held += n;
        } else if self.lists.len() < MAX_GROUP_LISTS {
            self.lists.insert(list.into(), n);
        } else {
            for &g in list {
                count(&mut self.groups, g, n);
            }
        }
    }

    /// Connections offering each group, by group code.
    pub fn counts(&self) -> BTreeMap<u16, u64> {
        let mut counts = self.groups.clone();
        for (list, &n) in &self.lists {
            for &g in list.iter() {
                count(&mut counts, g, n);
            }
        }
        counts
    }
}

impl Merge for GroupCensus {
    fn merge_in(&mut self, other: Self) {
        for (list, n) in other.lists {
            self.add_list(&list, n);
        }
        self.groups.merge_in(other.groups);
    }
}
