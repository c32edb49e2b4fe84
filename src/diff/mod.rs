//! `tlsight diff BASE CURRENT`: a semantic diff of two observations (captures, NDJSON
//! records or `--json` reports, in any mix) per server, client fingerprint and certificate,
//! blind to what re-recording the same traffic changes (ports, timings within thresholds,
//! certificate serials and hashes). See `snapshot` for the identities.

mod change;
mod compare;
pub mod render;
mod snapshot;

use serde::Serialize;

pub use change::{Change, ChangeKind, Subject};
pub use compare::Thresholds;
pub use snapshot::{Snapshot, Source};

use crate::observed::{InputKind, Observation, ReportInput};

/// Version of the diff result's JSON; bumped when a field is renamed or removed.
pub const DIFF_SCHEMA_VERSION: u32 = 1;

/// One side as the result describes it.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// `capture`, `records` or `report`.
    pub kind: &'static str,
    /// Inputs and how far each was read.
    pub inputs: Vec<ReportInput>,
    /// TLS connections.
    pub connections: u64,
    /// Servers.
    pub servers: usize,
    /// Client fingerprints.
    pub clients: usize,
}

/// The thresholds as the result states them.
#[derive(Clone, Debug, Serialize)]
pub struct ThresholdsOut {
    /// Relative change of a latency percentile that counts.
    pub latency_change: f64,
    /// Smallest absolute change that counts, milliseconds.
    pub latency_floor_ms: f64,
    /// Change of a rate that counts, as a fraction (0.05 = 5 points).
    pub rate_change: f64,
    /// Fewest handshakes on each side for latency to be compared.
    pub latency_min_samples: u64,
}

/// The whole result (`--json`, `"type": "diff"`).
#[derive(Clone, Debug, Serialize)]
pub struct DiffResult {
    /// Always `"diff"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`DIFF_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Tool and version.
    pub tool: String,
    /// The base.
    pub base: Side,
    /// The current side.
    pub current: Side,
    /// What counted as a change.
    pub thresholds: ThresholdsOut,
    /// What could not be compared, and why.
    pub notes: Vec<String>,
    /// The changes, by subject.
    pub changes: Vec<Change>,
    /// `--fail-on` kinds.
    pub fail_on: Vec<ChangeKind>,
    /// Changes of those kinds.
    pub failing: usize,
}

impl DiffResult {
    /// Whether a change of a `--fail-on` kind was found.
    pub fn fails(&self) -> bool {
        self.failing > 0
    }
}

fn side(observation: &Observation, snapshot: &Snapshot) -> Side {
    Side {
        kind: match observation.kind {
            Some(InputKind::Capture) => "capture",
            Some(InputKind::Records) => "records",
            _ => "report",
        },
        inputs: observation.inputs.clone(),
        connections: snapshot.connections,
        servers: snapshot.servers.len(),
        clients: snapshot.clients.len(),
    }
}

/// Diffs two observations.
pub fn diff(
    base: &Observation,
    current: &Observation,
    thresholds: &Thresholds,
    fail_on: &[ChangeKind],
) -> DiffResult {
    let (b, c) = (Snapshot::of(base), Snapshot::of(current));
    let (mut changes, mut notes) = compare::compare(&b, &c, thresholds);
    changes.sort_by(|x, y| x.subject.cmp(&y.subject).then(x.kind.cmp(&y.kind)));
    for (name, o) in [("base", base), ("current", current)] {
        for input in &o.inputs {
            if let Some(e) = &input.error {
                notes.push(format!("{name}: {e}; compared over what was read"));
            }
        }
    }
    let failing = changes
        .iter()
        .filter(|ch| fail_on.contains(&ch.kind))
        .count();
    DiffResult {
        kind: "diff",
        schema_version: DIFF_SCHEMA_VERSION,
        tool: format!("tlsight {}", env!("CARGO_PKG_VERSION")),
        base: side(base, &b),
        current: side(current, &c),
        thresholds: ThresholdsOut {
            latency_change: thresholds.latency_change,
            latency_floor_ms: thresholds.latency_floor_us as f64 / 1000.0,
            rate_change: thresholds.rate_change,
            latency_min_samples: thresholds.latency_min_samples,
        },
        notes,
        changes,
        fail_on: fail_on.to_vec(),
        failing,
    }
}
