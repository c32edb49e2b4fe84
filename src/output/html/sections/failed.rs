//! The failed-connections table: each listed connection with its diagnosis and the evidence
//! behind it (alerts with their sender, the last handshake messages, the server certificate's
//! findings, how the connection closed), sortable by any column and filterable by text and
//! cause (`script.js`; without the script the table is complete and in time order).

use std::fmt::Write as _;

use super::super::format::{Esc, count, micros, time};
use super::{Section, badge};
use crate::aggregate::failures::FailedConnection;
use crate::facts::Side;
use crate::output::failed::sided;
use crate::output::record::alert_level_name;
use crate::output::time::Rfc3339;
use crate::output::{Report, close_name};
use crate::tls::names::version_name;

/// Columns: header, and whether it sorts as a number (else as text).
const COLUMNS: [(&str, bool); 7] = [
    ("time (UTC)", false),
    ("client", false),
    ("server", false),
    ("cause (outcome)", false),
    ("explanation", false),
    ("evidence", false),
    ("duration", true),
];

/// The failed-connections section.
pub(in super::super) fn section(report: &Report) -> Section {
    let failed = &report.aggregates.failed;
    let listed = failed.listed();
    let not_listed = failed.not_listed();
    let mut body = String::new();
    if listed.is_empty() {
        body.push_str("<p>No connection failed.</p>");
        return Section {
            id: "failed",
            title: "Failed connections",
            body,
        };
    }
    let _ = write!(
        body,
        "<p>The earliest {} failed connections of each cause in capture time \
         (<code>--failed-per-cause</code>), with the evidence each diagnosis rests on.",
        count(failed.per_cause() as u64)
    );
    if not_listed.is_empty() {
        body.push_str(" Every failed connection is listed.</p>");
    } else {
        let total: u64 = not_listed.values().sum();
        let parts: Vec<String> = not_listed
            .iter()
            .map(|(c, n)| format!("{} {}", c.name(), count(*n)))
            .collect();
        let _ = write!(
            body,
            " <strong>{} more</strong> are not listed ({}).</p>",
            count(total),
            Esc(&parts.join(", "))
        );
    }
    body.push_str(&controls(report, listed.len()));
    body.push_str(&rows_table(&listed));
    Section {
        id: "failed",
        title: "Failed connections",
        body,
    }
}

/// The filter inputs and the row count they update.
fn controls(report: &Report, listed: usize) -> String {
    let mut html = String::from(
        "<div class=\"controls\" role=\"search\"><label for=\"failed-filter\">Filter rows</label> \
         <input id=\"failed-filter\" type=\"search\" placeholder=\"text in any column\" \
         autocomplete=\"off\"> <label for=\"failed-cause\">Cause</label> \
         <select id=\"failed-cause\"><option value=\"\">all causes</option>",
    );
    let failed = &report.aggregates.failed;
    let mut causes: Vec<_> = failed.listed().iter().map(|c| c.failure.cause).collect();
    causes.sort_unstable();
    causes.dedup();
    for cause in causes {
        let _ = write!(html, "<option value=\"{0}\">{0}</option>", cause.name());
    }
    let _ = write!(
        html,
        "</select><p id=\"failed-status\" role=\"status\" aria-live=\"polite\">Showing {0} of {0} \
         listed failed connections.</p></div>",
        count(listed as u64)
    );
    html
}

/// The table, earliest first.
fn rows_table(listed: &[&FailedConnection]) -> String {
    let mut html = String::from(
        "<div class=\"table-wrap\"><table id=\"failed-table\" class=\"sortable\"><caption>Failed \
         connections, earliest first; activate a column header to sort by it</caption><thead><tr>",
    );
    for (i, (name, numeric)) in COLUMNS.iter().enumerate() {
        let sort = if i == 0 { "ascending" } else { "none" };
        let class = if *numeric { " class=\"n\"" } else { "" };
        let _ = write!(
            html,
            "<th scope=\"col\" aria-sort=\"{sort}\"{class}><button type=\"button\" \
             data-type=\"{}\">{}</button></th>",
            if *numeric { "number" } else { "text" },
            Esc(name)
        );
    }
    html.push_str("</tr></thead><tbody>");
    for c in listed {
        row(&mut html, c);
    }
    html.push_str("</tbody></table></div>");
    html
}

/// One connection's row.
fn row(html: &mut String, c: &FailedConnection) {
    let duration = c.duration_us().max(0) as u64;
    let when = time(c.first_ts);
    let _ = write!(
        html,
        "<tr data-cause=\"{cause}\"><td data-v=\"{rfc}\">{when}</td><td>{client}</td><td>{server}</td>\
         <td>{cause}{inferred}<br><small>{outcome}</small></td><td>{explanation}</td>\
         <td class=\"evidence\">{evidence}</td><td class=\"n\" data-v=\"{duration}\">{shown}</td></tr>",
        cause = c.failure.cause.name(),
        rfc = Rfc3339::micros(c.first_ts),
        when = Esc(when.trim_end_matches(" UTC")),
        client = Esc(&c.client.to_string()),
        server = server(c),
        outcome = c.outcome.name(),
        inferred = if c.failure.inferred {
            format!(" {}", badge("inferred", "note"))
        } else {
            String::new()
        },
        explanation = Esc(&c.failure.explanation),
        evidence = evidence(c),
        shown = micros(duration),
    );
}

/// SNI and address.
fn server(c: &FailedConnection) -> String {
    match &c.sni {
        Some(sni) => format!(
            "{}<br><small>{}</small>",
            Esc(sni),
            Esc(&c.server.to_string())
        ),
        None => Esc(&c.server.to_string()).to_string(),
    }
}

/// The evidence, one line each: versions, alerts, last messages, certificate, close.
fn evidence(c: &FailedConnection) -> String {
    let mut lines: Vec<String> = Vec::new();
    let offered = c.offered_version.map(version_name);
    let negotiated = c.version.map(version_name);
    match (offered, negotiated) {
        (Some(o), Some(n)) => lines.push(format!("offered up to {o}, negotiated {n}")),
        (Some(o), None) => lines.push(format!("offered up to {o}")),
        (None, Some(n)) => lines.push(format!("negotiated {n}")),
        (None, None) => {}
    }
    for a in &c.alerts {
        let what = match (a.alert.level, a.alert.description) {
            (Some(level), Some(d)) => format!("{} {}", alert_level_name(level), d.name()),
            _ if a.alert.inferred => "alert (inferred from its size)".into(),
            _ => "encrypted alert".into(),
        };
        let after = a
            .after
            .map(|m| format!(" after {}", sided(m)))
            .unwrap_or_default();
        lines.push(format!("alert from {}: {what}{after}", a.from.name()));
    }
    if !c.last_messages.is_empty() {
        let messages: Vec<String> = c.last_messages.iter().copied().map(sided).collect();
        lines.push(format!("last messages: {}", messages.join(" → ")));
    }
    if let Some(subject) = &c.certificate_subject {
        let findings = if c.certificate_findings.is_empty() {
            "no findings".to_string()
        } else {
            let names: Vec<&str> = c.certificate_findings.iter().map(|f| f.name()).collect();
            names.join(", ")
        };
        lines.push(format!("certificate {subject}: {findings}"));
    }
    let mut close = c.close.map_or_else(String::new, |reason| {
        format!("closed: {}", close_name(reason))
    });
    if let Some(side) = c.reset_by {
        close.push_str(match side {
            Side::Client => " (reset by the client)",
            Side::Server => " (reset by the server)",
        });
    }
    if c.gap_bytes > 0 {
        let _ = write!(
            close,
            "; {} bytes missing from the capture",
            count(c.gap_bytes)
        );
    }
    if !close.is_empty() {
        lines.push(close);
    }
    if let Some(ja4) = &c.ja4 {
        lines.push(format!("client JA4 {ja4}"));
    }
    let mut html = String::from("<ul>");
    for l in &lines {
        let _ = write!(html, "<li>{}</li>", Esc(l));
    }
    html.push_str("</ul>");
    html
}
