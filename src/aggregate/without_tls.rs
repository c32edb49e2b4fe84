//! TCP connections on which no TLS was found, counted per server by how they went (no answer,
//! refused, closed before data, not TLS): a SYN flood or a port scan shows up here, one
//! entry per server, instead of as a record per connection.

use super::Merge;
use crate::facts::WithoutTls;

/// One server's TCP connections without TLS, by [`WithoutTls`] kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WithoutTlsCounts {
    /// Connections per kind, indexed by [`WithoutTls::index`].
    pub by_kind: [u64; WithoutTls::ALL.len()],
}

impl WithoutTlsCounts {
    /// Counts one connection.
    pub fn add(&mut self, kind: WithoutTls) {
        self.by_kind[kind.index()] += 1;
    }

    /// Connections of every kind.
    pub fn total(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Connections that failed before TLS (see [`WithoutTls::FAILURES`]).
    pub fn failures(&self) -> u64 {
        WithoutTls::FAILURES.iter().map(|&k| self.of(k)).sum()
    }

    /// Connections of `kind`.
    pub fn of(&self, kind: WithoutTls) -> u64 {
        self.by_kind[kind.index()]
    }
}

impl Merge for WithoutTlsCounts {
    fn merge_in(&mut self, other: Self) {
        for (mine, theirs) in self.by_kind.iter_mut().zip(other.by_kind) {
            *mine += theirs;
        }
    }
}
