//! The certificate inventory: findings counted, the expiry calendar around the capture, and
//! the inventory table (findings first), each certificate once.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::bars::{Bar, hbars};
use super::super::capture_span;
use super::super::expiry::{CertRow, State, calendar};
use super::super::format::{Esc, count, date};
use super::super::svg::shape_swatch;
use super::{Align, Section, badge, figure, more, table, text};
use crate::aggregate::CertEntry;
use crate::output::Report;
use crate::output::report::certificates_sorted;

/// Certificates drawn on the calendar.
const CALENDAR_ROWS: usize = 40;
/// Certificates in the table.
const TABLE_ROWS: usize = 200;
/// Seconds per day.
const DAY: i64 = 86_400;

/// The certificates section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let certs = certificates_sorted(agg);
    let mut body = String::new();
    if certs.is_empty() {
        body.push_str("<p>No certificate was seen (TLS 1.3 sends them encrypted).</p>");
    } else {
        body.push_str(&findings(&certs));
        body.push_str(&expiry(report, &certs));
        body.push_str(&inventory(report, &certs));
    }
    if agg.certificates.other.connections > 0 {
        let _ = write!(
            body,
            "<p class=\"note\">{} sightings of certificates beyond the inventory's cap are not \
             listed.</p>",
            count(agg.certificates.other.connections)
        );
    }
    Section {
        id: "certificates",
        title: "Certificates",
        body,
    }
}

/// Every finding of an entry: its own and those of the connections that presented it.
fn all_findings(e: &CertEntry) -> impl Iterator<Item = &'static str> + '_ {
    e.findings
        .iter()
        .chain(e.connection_findings.keys())
        .map(|f| f.name())
}

/// Certificates per finding.
fn findings(certs: &[&CertEntry]) -> String {
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for e in certs {
        for f in all_findings(e) {
            *per.entry(f).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, u64)> = per.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let with = certs
        .iter()
        .filter(|e| all_findings(e).next().is_some())
        .count();
    let mut html = format!(
        "<p>{} distinct certificates, <strong>{}</strong> with findings (judged at capture time).</p>",
        count(certs.len() as u64),
        count(with as u64)
    );
    if !ranked.is_empty() {
        let bars: Vec<Bar> = ranked
            .iter()
            .map(|&(f, n)| Bar {
                label: f.into(),
                value: n,
                class: "bar-warn",
            })
            .collect();
        let title = "Certificates per finding";
        html.push_str(&figure(
            &hbars(title, &bars, certs.len() as u64),
            &format!("{title} (shares of all distinct certificates)."),
        ));
    }
    html
}

/// The validity of the first certificates (findings first) around the capture.
fn expiry(report: &Report, certs: &[&CertEntry]) -> String {
    let shown = &certs[..certs.len().min(CALENDAR_ROWS)];
    let rows: Vec<CertRow> = shown
        .iter()
        .map(|e| {
            let c = &e.cert;
            let findings: Vec<&str> = all_findings(e).collect();
            CertRow {
                label: short_label(&c.subject, &findings),
                tip: format!(
                    "{}\nissuer {}\nvalid {} to {}\n{}",
                    c.subject,
                    c.issuer,
                    date(c.not_before),
                    date(c.not_after),
                    if findings.is_empty() {
                        "no findings".into()
                    } else {
                        findings.join(", ")
                    }
                ),
                not_before: c.not_before,
                not_after: c.not_after,
                state: State::of(&findings),
            }
        })
        .collect();
    let capture = capture_span(report).map_or_else(
        || {
            let t = shown.iter().map(|e| e.cert.not_before).max().unwrap_or(0);
            (t, t)
        },
        |(a, b)| (a.0.div_euclid(1_000_000_000), b.0.div_euclid(1_000_000_000)),
    );
    let mut legend = String::from("<ul class=\"legend\">");
    for state in [
        State::Valid,
        State::ExpiringSoon,
        State::Expired,
        State::NotYetValid,
    ] {
        let (shape, class) = state.look();
        let _ = write!(
            legend,
            "<li>{} {}</li>",
            shape_swatch(shape, class),
            state.name()
        );
    }
    legend.push_str("</ul>");
    let title = "Certificate validity around the capture";
    let mut html = String::from("<h3>Expiry calendar</h3>");
    html.push_str(&figure(
        &calendar(title, &rows, capture),
        &format!(
            "{title}: one bar per certificate from not-before to not-after, findings first; the \
             shaded band is the capture. {legend}"
        ),
    ));
    html.push_str(&more(
        certs.len() - shown.len(),
        "certificates on the calendar",
    ));
    html
}

/// A calendar row's label: the subject's common name (else the subject), and its first
/// finding.
fn short_label(subject: &str, findings: &[&str]) -> String {
    let name = subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN="))
        .unwrap_or(subject);
    match findings {
        [] => name.to_string(),
        [one] => format!("{name} · {one}"),
        [first, rest @ ..] => format!("{name} · {first} +{}", rest.len()),
    }
}

/// Days from the end of the capture to `not_after`.
fn days_left(report: &Report, not_after: i64) -> String {
    match capture_span(report) {
        Some((_, end)) => {
            let days = (not_after - end.0.div_euclid(1_000_000_000)).div_euclid(DAY);
            if days < 0 {
                format!("expired {} d before", count(days.unsigned_abs()))
            } else {
                format!("{} d", count(days as u64))
            }
        }
        None => "–".into(),
    }
}

/// The inventory table.
fn inventory(report: &Report, certs: &[&CertEntry]) -> String {
    let rows: Vec<Vec<String>> = certs
        .iter()
        .take(TABLE_ROWS)
        .map(|e| {
            let c = &e.cert;
            let mut san: Vec<String> = c.san_dns.iter().chain(&c.san_ip).take(3).cloned().collect();
            let extra = (c.san_dns.len() + c.san_ip.len()).saturating_sub(3);
            if extra > 0 {
                san.push(format!("+{extra}"));
            }
            let key = match c.key_bits {
                Some(bits) => format!("{} {bits}", c.key_type),
                None => c.key_type.clone(),
            };
            let mut role = Vec::new();
            if e.chain_position == 0 {
                role.push("leaf");
            }
            if e.client_certificate {
                role.push("client");
            }
            let findings: Vec<String> = e
                .findings
                .iter()
                .map(|f| badge(f.name(), "bad"))
                .chain(
                    e.connection_findings
                        .iter()
                        .map(|(f, n)| badge(&format!("{} ×{}", f.name(), count(*n)), "bad")),
                )
                .collect();
            let servers: Vec<String> = e
                .servers
                .ranked()
                .iter()
                .take(3)
                .map(|(s, n)| format!("{s} ({})", count(*n)))
                .collect();
            vec![
                format!(
                    "{}<br><small>{}</small>",
                    Esc(&c.subject),
                    Esc(c.sha256.get(..16).unwrap_or(&c.sha256))
                ),
                text(&c.issuer),
                text(&san.join(", ")),
                format!(
                    "{}<br><small>{}</small>",
                    date(c.not_after),
                    Esc(&days_left(report, c.not_after))
                ),
                text(&format!("{key}, {}", c.signature_algorithm)),
                text(&role.join(", ")),
                findings.join(" "),
                count(e.connections),
                text(&servers.join(", ")),
            ]
        })
        .collect();
    let mut html = String::from("<h3>Inventory</h3>");
    html.push_str(&table(
        "Certificates, findings first, then by connections",
        &[
            ("subject (SHA-256)", Align::Text),
            ("issuer", Align::Text),
            ("names", Align::Text),
            ("not after", Align::Text),
            ("key, signature", Align::Text),
            ("role", Align::Text),
            ("findings", Align::Text),
            ("connections", Align::Number),
            ("servers", Align::Text),
        ],
        &rows,
    ));
    html.push_str(&more(
        certs.len().saturating_sub(TABLE_ROWS),
        "certificates",
    ));
    html
}
