//! The report's `timeline`: connections, outcomes and failure causes per time bin of capture
//! time (see [`Timeline`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::time::Rfc3339;
use crate::aggregate::timeline::Timeline;

/// The bins that hold connections, with their width.
#[derive(Serialize)]
pub(super) struct TimelineOut {
    bin_width_us: i64,
    bins: Vec<BinOut>,
}

/// One non-empty bin.
#[derive(Serialize)]
struct BinOut {
    start: Rfc3339,
    connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
}

impl From<&Timeline> for TimelineOut {
    fn from(t: &Timeline) -> Self {
        TimelineOut {
            bin_width_us: t.bin_width_ns() / 1000,
            bins: t
                .bins()
                .filter(|(_, bin)| !bin.is_empty())
                .map(|(start, bin)| BinOut {
                    start: Rfc3339::micros(start),
                    connections: bin.connections,
                    outcomes: bin.outcomes().map(|(o, n)| (o.name(), n)).collect(),
                    failure_causes: bin
                        .failure_causes
                        .iter()
                        .map(|(c, &n)| (c.name(), n))
                        .collect(),
                })
                .collect(),
        }
    }
}
