//! Exact merge of JSON reports (`tlsight merge`): each report carries its aggregates in a form
//! that loses nothing (latency histograms in HDR's V2 serialized form, capped maps with their
//! pooled rest; see [`crate::aggregate::codec`]), so reports from many sensors or many runs
//! combine into the report a single analysis of all their traffic would have written:
//! percentiles are those of the pooled histograms, never averages, and every cap is applied
//! after merging.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::aggregate::codec::FORMAT;
use crate::aggregate::{Aggregates, Merge};
use crate::output::{InputFile, InputStats, Report};

/// Why a report could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The report's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a tlsight report, or its merge state is damaged.
    #[error("{path} is not a tlsight JSON report that can be merged: {reason}")]
    NotAReport {
        /// The report's path.
        path: String,
        /// What was wrong, from the JSON reader.
        reason: String,
    },
    /// The report was written by a tlsight whose merge state this one does not read.
    #[error(
        "{path} carries merge state format {found}, this tlsight reads format {FORMAT} \
         (merge it with the tlsight that wrote it)"
    )]
    Format {
        /// The report's path.
        path: String,
        /// The format it carries.
        found: u32,
    },
    /// Nothing to merge.
    #[error("no report to merge")]
    Empty,
}

/// The parts of a JSON report that a merge reads back; the rest is derived from them.
#[derive(Deserialize)]
struct ReportIn {
    inputs: Vec<InputFile>,
    summary: SummaryIn,
    #[serde(default)]
    slo_p95_ms: Option<f64>,
    #[serde(default)]
    sensors: BTreeSet<String>,
    merge_state: Option<MergeStateIn>,
}

#[derive(Deserialize)]
struct SummaryIn {
    input: InputStats,
}

/// The merge state's header, read before its aggregates so that an unknown format is named
/// as such rather than as a parse error.
#[derive(Deserialize)]
struct MergeStateIn {
    format: u32,
    aggregates: Box<serde_json::value::RawValue>,
}

/// Reads a JSON report written by `tlsight analyze --json` or `tlsight live --json` (or by
/// `tlsight merge`) back into a [`Report`]; `path` names it in errors.
pub fn read_report(bytes: &[u8], path: &str) -> Result<Report, MergeError> {
    let not_a_report = |e: serde_json::Error| MergeError::NotAReport {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let report: ReportIn = serde_json::from_slice(bytes).map_err(not_a_report)?;
    let state = report.merge_state.ok_or_else(|| MergeError::NotAReport {
        path: path.to_owned(),
        reason: "it has no merge_state (written by a tlsight older than merge)".into(),
    })?;
    if state.format != FORMAT {
        return Err(MergeError::Format {
            path: path.to_owned(),
            found: state.format,
        });
    }
    let aggregates: Aggregates =
        serde_json::from_str(state.aggregates.get()).map_err(not_a_report)?;
    Ok(Report {
        inputs: report.inputs,
        input: report.summary.input,
        aggregates,
        slo_p95_ms: report.slo_p95_ms,
        sensors: report.sensors,
        interrupted: false,
    })
}

/// Reads the report at `path` (see [`read_report`]).
pub fn read_report_file(path: &Path) -> Result<Report, MergeError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| MergeError::Read {
        path: name.clone(),
        source,
    })?;
    read_report(&bytes, &name)
}

/// Merges reports into one: inputs listed in order, counters added, aggregates merged with
/// their caps applied afterwards. The SLO is kept when every report was written with the same
/// one (else none: `tlsight merge --slo-p95-ms` sets it).
pub fn merge(reports: Vec<Report>) -> Result<Report, MergeError> {
    let mut reports = reports.into_iter();
    let mut merged = reports.next().ok_or(MergeError::Empty)?;
    for r in reports {
        if merged.slo_p95_ms != r.slo_p95_ms {
            merged.slo_p95_ms = None;
        }
        merged.inputs.extend(r.inputs);
        merged.sensors.extend(r.sensors);
        merged.input.merge_in(r.input);
        merged.aggregates.merge_in(r.aggregates);
    }
    Ok(merged)
}

impl Merge for InputStats {
    fn merge_in(&mut self, other: Self) {
        let InputStats {
            packets,
            bytes,
            tcp_segments,
            udp_datagrams,
            not_tcp,
            ip_fragments,
            ip_datagrams_reassembled,
            ip_datagrams_dropped,
            decode_errors,
            flows,
            timestamps_backwards,
            snaplen_truncated,
            filtered_out,
            filtered_out_bytes,
        } = other;
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_segments += tcp_segments;
        self.udp_datagrams += udp_datagrams;
        self.not_tcp += not_tcp;
        self.ip_fragments += ip_fragments;
        self.ip_datagrams_reassembled += ip_datagrams_reassembled;
        self.ip_datagrams_dropped += ip_datagrams_dropped;
        self.decode_errors.merge_in(decode_errors);
        self.flows += flows;
        self.timestamps_backwards += timestamps_backwards;
        self.snaplen_truncated += snaplen_truncated;
        self.filtered_out += filtered_out;
        self.filtered_out_bytes += filtered_out_bytes;
    }
}

#[cfg(test)]
mod tests;
