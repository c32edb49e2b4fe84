//! The HTML report (`--html PATH`): one self-contained page that people would rather look at
//! than read — outcomes and failure causes overall, per server and over capture time; latency
//! distributions with p50/p95/p99 and the SLO; the version, cipher, group and ALPN census with
//! post-quantum adoption; client profiles with what breaks; the certificate calendar; and the
//! failed connections, sortable and filterable, with their evidence.
//!
//! It is rendered from a [`Report`] alone (its aggregates: counts, HDR histograms, the
//! timeline, the listed failed connections), never from pipeline internals, so that any report
//! — one analysis, or reports merged — gives the same page. Charts are SVG drawn here; nothing
//! is loaded at view time (see `page.rs` for the Content-Security-Policy). The bytes depend only
//! on the report: no clock, no randomness, floats written with fixed precision.

mod bars;
mod distribution;
mod expiry;
mod format;
mod over_time;
mod page;
mod palette;
mod scale;
mod sections;
mod svg;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use crate::flow::Timestamp;
use crate::output::Report;
use format::{count, span};
use sections::{census, certificates, clients, failed, latency, outcomes, overview};

/// Writes the report as one HTML page.
pub fn write_html(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(render(report).as_bytes())
}

/// The page's text.
fn render(report: &Report) -> String {
    let sections = [
        overview::section(report),
        outcomes::section(report),
        latency::section(report),
        census::section(report),
        clients::section(report),
        certificates::section(report),
        failed::section(report),
    ];
    page::page(&title(report), &subtitle(report), &sections)
}

/// `TLS handshakes: incident.pcap` (`and N more` for several inputs).
fn title(report: &Report) -> String {
    let name = |path: &str| {
        std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
    };
    match report.inputs.as_slice() {
        [] => "TLS handshakes".into(),
        [one] => format!("TLS handshakes: {}", name(&one.path)),
        [first, rest @ ..] => format!(
            "TLS handshakes: {} and {} more",
            name(&first.path),
            rest.len()
        ),
    }
}

/// `90,000 TLS connections over 2 min 30 s`.
fn subtitle(report: &Report) -> String {
    let n = count(report.aggregates.all.connections);
    match capture_span(report) {
        Some((start, end)) => format!("{n} TLS connections over {}", span(end.0 - start.0)),
        None => format!("{n} TLS connections"),
    }
}

/// The capture's time span: the earliest and the latest of the inputs' first and last packets
/// (a capture's clock may step back, so a last packet can be earlier than a first one).
fn capture_span(report: &Report) -> Option<(Timestamp, Timestamp)> {
    let times = || {
        report
            .inputs
            .iter()
            .flat_map(|f| [f.start, f.end])
            .flatten()
    };
    Some((times().min()?, times().max()?))
}
