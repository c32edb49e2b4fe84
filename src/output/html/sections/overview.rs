//! The first section: the headline numbers, the inputs and the capture's time span, and the
//! input counters (what was read and what could not be decoded).

use std::fmt::Write as _;

use super::super::capture_span;
use super::super::format::{Esc, count, micros, percent, span, time};
use super::{Align, Section, card, table, text};
use crate::output::Report;

/// Inputs listed in the open; more are folded away.
const INPUTS_OPEN: usize = 8;

/// The overview section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let all = &agg.all;
    let unsuccessful = all.unsuccessful();
    let done = all.timings.client_hello_to_done.percentiles();
    let with_findings = agg
        .certificates
        .entries
        .values()
        .filter(|e| !e.findings.is_empty() || !e.connection_findings.is_empty())
        .count();
    let mut body = String::from("<dl class=\"cards\">");
    body.push_str(&card(&count(all.connections), "TLS connections"));
    body.push_str(&card(
        &percent(all.connections - unsuccessful, all.connections),
        "established or resumed",
    ));
    body.push_str(&card(
        &count(unsuccessful),
        "failed, unanswered or incomplete",
    ));
    let p95 = if done.count > 0 {
        micros(done.p95)
    } else {
        "–".into()
    };
    body.push_str(&card(&p95, "p95 ClientHello → done"));
    body.push_str(&card(&count(agg.servers.entries.len() as u64), "servers"));
    body.push_str(&card(
        &count(agg.clients.entries.len() as u64),
        "client fingerprints (JA4)",
    ));
    body.push_str(&card(
        &count(with_findings as u64),
        "certificates with findings",
    ));
    if let Some((start, end)) = capture_span(report) {
        body.push_str(&card(&span(end.0 - start.0), "capture span"));
        body.push_str("</dl>");
        let _ = write!(
            body,
            "<p>Captured from <time>{}</time> to <time>{}</time>.</p>",
            Esc(&time(start)),
            Esc(&time(end))
        );
    } else {
        body.push_str("</dl><p>No packets were read.</p>");
    }
    body.push_str(&inputs(report));
    body.push_str(&counters(report));
    Section {
        id: "overview",
        title: "Overview",
        body,
    }
}

/// The input files: packets, time span and how reading ended.
fn inputs(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .inputs
        .iter()
        .map(|f| {
            let covers = match (f.start, f.end) {
                (Some(a), Some(b)) => format!(
                    "{}<br><small>to {} ({})</small>",
                    Esc(&time(a)),
                    Esc(&time(b)),
                    Esc(&span(b.0 - a.0))
                ),
                _ => "–".into(),
            };
            vec![
                format!("<code>{}</code>", Esc(&f.path)),
                count(f.packets),
                covers,
                f.error.as_deref().map_or_else(
                    || "read to the end".into(),
                    |e| format!("<strong>{}</strong>", Esc(e)),
                ),
            ]
        })
        .collect();
    let html = table(
        "Inputs",
        &[
            ("input", Align::Text),
            ("packets", Align::Number),
            ("first and last packet", Align::Text),
            ("status", Align::Text),
        ],
        &rows,
    );
    if rows.len() <= INPUTS_OPEN {
        return html;
    }
    let damaged = report.inputs.iter().filter(|f| f.error.is_some()).count();
    format!(
        "<details><summary>{} inputs, {} not read to the end</summary>{html}</details>",
        count(rows.len() as u64),
        count(damaged as u64)
    )
}

/// What was read, tracked and cut, as in the JSON report's `summary.input`.
fn counters(report: &Report) -> String {
    let i = &report.input;
    let mut rows: Vec<(String, u64)> = vec![
        ("packets read".into(), i.packets),
        ("bytes read".into(), i.bytes),
        ("TCP segments".into(), i.tcp_segments),
        ("UDP datagrams".into(), i.udp_datagrams),
        ("packets neither TCP nor UDP".into(), i.not_tcp),
        ("IP fragments".into(), i.ip_fragments),
        (
            "IP datagrams reassembled".into(),
            i.ip_datagrams_reassembled,
        ),
        ("IP datagrams dropped".into(), i.ip_datagrams_dropped),
        ("TCP connections".into(), i.flows.tcp_connections),
        (
            "TCP connections without TLS".into(),
            i.flows.tcp_connections_without_tls,
        ),
        ("UDP flows (QUIC or DTLS)".into(), i.flows.udp_flows),
        (
            "UDP datagrams neither QUIC nor DTLS".into(),
            i.flows.udp_not_tls,
        ),
        (
            "QUIC records written at confirmation".into(),
            i.flows.udp_recorded_at_confirmation,
        ),
        (
            "UDP datagrams after their record".into(),
            i.flows.udp_datagrams_after_record,
        ),
        (
            "connections evicted (flow table full)".into(),
            i.flows.flows_evicted,
        ),
        ("UDP flows evicted".into(), i.flows.udp_flows_evicted),
        (
            "UDP flows evicted unanswered".into(),
            i.flows.udp_unanswered_evicted,
        ),
        (
            "per-connection buffer cap hits".into(),
            i.flows.flow_buffer_cap_hits,
        ),
        (
            "total buffer cap hits".into(),
            i.flows.total_buffer_cap_hits,
        ),
        ("timestamps going backwards".into(), i.timestamps_backwards),
        ("frames cut by the snap length".into(), i.snaplen_truncated),
    ];
    rows.extend(
        i.decode_errors
            .iter()
            .map(|(kind, &n)| (format!("undecodable frames: {kind}"), n)),
    );
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(name, n)| vec![text(&name), count(n)])
        .collect();
    format!(
        "<details><summary>Input counters</summary>{}</details>",
        table(
            "Input counters",
            &[("counter", Align::Text), ("value", Align::Number)],
            &rows
        )
    )
}
