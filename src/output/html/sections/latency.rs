//! Handshake latency: the distributions of the three phases overall, ClientHello → done per
//! negotiated version and per server (from the HDR histograms' buckets), p50/p95/p99 marked
//! and the SLO line drawn when `--slo-p95-ms` was given; then every server's percentiles on one
//! axis, slowest first, with the SLO verdicts.

use std::fmt::Write as _;

use super::super::distribution::{Axis, Strip, cdf, histogram, strips};
use super::super::format::{Esc, count, micros};
use super::super::svg::shape_swatch;
use super::{Align, Section, badge, figure, more, table, text};
use crate::aggregate::{Breakdown, Latency, Timings};
use crate::output::Report;
use crate::output::report::servers_sorted;
use crate::tls::names::version_name;

/// Servers drawn as their own CDF.
const SERVER_CHARTS: usize = 12;
/// Servers in the percentile strips and the table.
const SERVERS_LISTED: usize = 50;

/// The latency section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let slo = report.slo_p95_ms.map(|ms| (ms * 1000.0).round() as u64);
    let mut body = String::from(
        "<p>Times are capture time at the capture point. <em>TCP handshake</em>: SYN → the \
         client's ACK; <em>ClientHello → ServerHello</em>: the server's answer; \
         <em>ClientHello → done</em>: until the handshake completed (TLS ≤ 1.2: the later \
         Finished; TLS 1.3: the client's Finished flight).</p>",
    );
    body.push_str(&marks_legend());
    match (report.slo_p95_ms, slo) {
        (Some(ms), Some(us)) => {
            let above = report.servers_above_slo().len();
            let _ = write!(
                body,
                "<p>SLO: p95 of ClientHello → done at most <strong>{}</strong> \
                 (<code>--slo-p95-ms {}</code>): <strong>{}</strong> of {} servers above it.</p>",
                micros(us),
                Esc(&ms.to_string()),
                count(above as u64),
                count(agg.servers.entries.len() as u64)
            );
        }
        _ => body.push_str(
            "<p>No SLO was given (<code>--slo-p95-ms MS</code> draws it and judges every \
             server).</p>",
        ),
    }
    body.push_str(&overall(&agg.all.timings, slo));
    body.push_str(&by_version(report, slo));
    body.push_str(&by_server(report, slo));
    Section {
        id: "latency",
        title: "Handshake latency",
        body,
    }
}

/// How the percentiles are marked.
fn marks_legend() -> String {
    use super::super::svg::Shape;
    format!(
        "<ul class=\"legend\"><li>{} p50 (solid)</li><li>{} p95 (dashed)</li>\
         <li>{} p99 (dotted)</li><li><span class=\"slo-key\"></span> SLO</li></ul>",
        shape_swatch(Shape::Circle, "mark-p50"),
        shape_swatch(Shape::Triangle, "mark-p95"),
        shape_swatch(Shape::Diamond, "mark-p99"),
    )
}

/// `n = 72,487 · p50 184 ms · p95 1.47 s · p99 2.28 s · max 2.85 s`.
fn summary(l: &Latency) -> String {
    let p = l.percentiles();
    format!(
        "n = {} · p50 {} · p95 {} · p99 {} · max {}",
        count(p.count),
        micros(p.p50),
        micros(p.p95),
        micros(p.p99),
        micros(p.max)
    )
}

/// One histogram in a grid cell, captioned with its numbers.
fn cell(chart: String, title: &str, l: &Latency) -> String {
    figure(
        &chart,
        &format!("<strong>{}</strong><br>{}", Esc(title), Esc(&summary(l))),
    )
}

/// The three phases over all connections, on one axis.
fn overall(t: &Timings, slo: Option<u64>) -> String {
    let phases = [
        ("TCP handshake", &t.tcp_handshake, None),
        (
            "ClientHello → ServerHello",
            &t.client_hello_to_server_hello,
            None,
        ),
        ("ClientHello → done", &t.client_hello_to_done, slo),
    ];
    let shown: Vec<_> = phases
        .iter()
        .filter(|(_, l, _)| l.percentiles().count > 0)
        .collect();
    if shown.is_empty() {
        return "<p>No handshake was timed.</p>".into();
    }
    let axis = Axis::covering(shown.iter().map(|p| p.1), slo);
    let mut html = String::from("<h3>All connections</h3><div class=\"grid\">");
    for &&(title, l, slo) in &shown {
        html.push_str(&cell(histogram(title, l, axis, slo), title, l));
    }
    html.push_str("</div>");
    html
}

/// ClientHello → done per negotiated version, on one axis.
fn by_version(report: &Report, slo: Option<u64>) -> String {
    let versions: Vec<(String, &Latency)> = report
        .aggregates
        .by_version
        .iter()
        .filter(|(_, t)| t.client_hello_to_done.percentiles().count > 0)
        .map(|(v, t)| {
            let name = v.map_or_else(|| "no version".into(), |v| version_name(v).into_owned());
            (name, &t.client_hello_to_done)
        })
        .rev()
        .collect();
    if versions.is_empty() {
        return String::new();
    }
    let axis = Axis::covering(versions.iter().map(|v| v.1), slo);
    let mut html =
        String::from("<h3>ClientHello → done per negotiated version</h3><div class=\"grid\">");
    for (name, l) in &versions {
        let title = format!("{name}: ClientHello → done");
        html.push_str(&cell(histogram(&title, l, axis, slo), &title, l));
    }
    html.push_str("</div>");
    html
}

/// A group's ClientHello → done latencies.
fn done(b: &Breakdown) -> &Latency {
    &b.timings.client_hello_to_done
}

/// The servers' CDFs (most connections first), then all their percentiles slowest first.
fn by_server(report: &Report, slo: Option<u64>) -> String {
    let timed: Vec<(&str, &Breakdown)> = servers_sorted(&report.aggregates)
        .into_iter()
        .filter(|(_, b)| b.timings.client_hello_to_done.percentiles().count > 0)
        .map(|(label, s)| (label, &s.all))
        .collect();
    if timed.is_empty() {
        return String::new();
    }
    let axis = Axis::covering(timed.iter().map(|(_, b)| done(b)), slo);
    let mut html = String::from("<h3>ClientHello → done per server</h3><div class=\"grid\">");
    for (name, b) in timed.iter().take(SERVER_CHARTS) {
        let title = format!("{name}: ClientHello → done, cumulative");
        html.push_str(&cell(cdf(&title, done(b), axis, slo), name, done(b)));
    }
    html.push_str("</div>");
    html.push_str(&more(
        timed.len().saturating_sub(SERVER_CHARTS),
        "servers' charts",
    ));
    let mut slowest: Vec<(&str, &Breakdown, u64)> = timed
        .iter()
        .map(|&(name, b)| (name, b, done(b).percentiles().p95))
        .collect();
    slowest.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    slowest.truncate(SERVERS_LISTED);
    let rows: Vec<Strip<'_>> = slowest
        .iter()
        .map(|&(label, b, _)| Strip {
            label,
            percentiles: done(b).percentiles(),
        })
        .collect();
    let title = "p50, p95 and p99 of ClientHello → done per server, slowest p95 first";
    html.push_str(&figure(
        &strips(title, &rows, axis, slo),
        &format!("{title}; the line runs from p50 to p99."),
    ));
    let table_rows: Vec<Vec<String>> = slowest
        .iter()
        .map(|&(name, b, _)| {
            let p = done(b).percentiles();
            let verdict = match report.above_slo(b) {
                Some(true) => badge("above SLO", "bad"),
                Some(false) => badge("within", "good"),
                None => "–".into(),
            };
            vec![
                text(name),
                count(p.count),
                micros(p.p50),
                micros(p.p95),
                micros(p.p99),
                micros(p.max),
                verdict,
            ]
        })
        .collect();
    html.push_str(&table(
        "ClientHello → done per server, slowest p95 first",
        &[
            ("server", Align::Text),
            ("handshakes", Align::Number),
            ("p50", Align::Number),
            ("p95", Align::Number),
            ("p99", Align::Number),
            ("max", Align::Number),
            ("SLO", Align::Text),
        ],
        &table_rows,
    ));
    html.push_str(&more(timed.len().saturating_sub(SERVERS_LISTED), "servers"));
    html
}
