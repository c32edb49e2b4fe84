//! Clients: what each server-side policy change would break (client fingerprints and their
//! connections), and the client profiles by JA4 fingerprint with the changes each depends on.

use super::super::bars::{Bar, hbars};
use super::super::format::{Esc, count, percent};
use super::{Align, Section, badge, figure, more, table, text};
use crate::aggregate::{ClientProfile, PolicyChange};
use crate::output::Report;
use crate::output::report::clients_sorted;
use crate::tls::names::{group_is_post_quantum, version_name};

/// Client profiles in the table.
const CLIENTS_SHOWN: usize = 50;
/// Fingerprints named per policy change.
const FINGERPRINTS_NAMED: usize = 6;

/// What a policy change is, for people.
fn describe(change: PolicyChange) -> &'static str {
    match change {
        PolicyChange::MinimumTls12 => "Require TLS 1.2 or later",
        PolicyChange::NoRsaKeyExchange => "Remove static RSA key exchange",
        PolicyChange::Tls13Only => "Allow TLS 1.3 only",
    }
}

/// The clients section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let mut body = String::new();
    if agg.clients.entries.is_empty() {
        body.push_str("<p>No ClientHello was seen.</p>");
    } else {
        body.push_str(&what_breaks(report));
        body.push_str(&profiles(report));
    }
    Section {
        id: "clients",
        title: "Clients and what breaks",
        body,
    }
}

/// Each policy change with the fingerprints and connections it would leave without a
/// handshake.
fn what_breaks(report: &Report) -> String {
    let agg = &report.aggregates;
    let changes = agg.what_breaks();
    let bars: Vec<Bar> = changes
        .iter()
        .map(|(change, clients)| Bar {
            label: describe(*change).into(),
            value: clients.iter().map(|(_, p)| p.connections).sum(),
            class: "o-failed",
        })
        .collect();
    let title = "Connections whose client could not connect after each change";
    let mut html = String::from("<h3>What breaks</h3>");
    html.push_str(&figure(
        &hbars(title, &bars, agg.all.connections),
        &format!(
            "{title} (shares of all {} TLS connections), judged from what each client \
             fingerprint offered.",
            count(agg.all.connections)
        ),
    ));
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|(change, clients)| {
            let connections: u64 = clients.iter().map(|(_, p)| p.connections).sum();
            let mut named: Vec<String> = clients
                .iter()
                .take(FINGERPRINTS_NAMED)
                .map(|(ja4, _)| format!("<code>{}</code>", Esc(ja4)))
                .collect();
            if clients.len() > FINGERPRINTS_NAMED {
                named.push(format!(
                    "and {} more",
                    count((clients.len() - FINGERPRINTS_NAMED) as u64)
                ));
            }
            vec![
                text(describe(*change)),
                count(clients.len() as u64),
                count(connections),
                percent(connections, agg.all.connections),
                named.join(" "),
            ]
        })
        .collect();
    html.push_str(&table(
        "What breaks: client fingerprints (JA4) that offer nothing the change would leave",
        &[
            ("change", Align::Text),
            ("fingerprints", Align::Number),
            ("connections", Align::Number),
            ("share", Align::Number),
            ("fingerprints, most connections first", Align::Text),
        ],
        &rows,
    ));
    html
}

/// Names of a capped count list, most frequent first: `h2 (40), http/1.1 (12)`.
fn top(v: &[(&str, u64)], n: usize) -> String {
    v.iter()
        .take(n)
        .map(|(name, c)| format!("{name} ({})", count(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of the profiles table.
fn profile_row(ja4: &str, p: &ClientProfile) -> Vec<String> {
    let pq = if p.groups.iter().any(|&g| group_is_post_quantum(g)) {
        badge("offered", "good")
    } else {
        String::new()
    };
    let breaks: Vec<String> = p.breaks().iter().map(|&c| badge(c.name(), "bad")).collect();
    vec![
        format!("<code>{}</code>", Esc(ja4)),
        count(p.connections),
        count(p.unsuccessful),
        text(
            &p.highest_version()
                .map_or_else(|| "–".into(), |v| version_name(v).into_owned()),
        ),
        pq,
        text(&top(&p.alpn.ranked(), 3)),
        text(&top(&p.servers.ranked(), 3)),
        breaks.join(" "),
    ]
}

/// Client profiles, most connections first.
fn profiles(report: &Report) -> String {
    let clients = clients_sorted(&report.aggregates);
    let rows: Vec<Vec<String>> = clients
        .iter()
        .take(CLIENTS_SHOWN)
        .map(|&(ja4, p)| profile_row(ja4, p))
        .collect();
    let mut html = String::from("<h3>Client profiles</h3>");
    html.push_str(&table(
        "Client profiles by JA4 fingerprint, most connections first",
        &[
            ("JA4", Align::Text),
            ("connections", Align::Number),
            ("unsuccessful", Align::Number),
            ("highest version offered", Align::Text),
            ("post-quantum", Align::Text),
            ("ALPN offered", Align::Text),
            ("servers", Align::Text),
            ("breaks if", Align::Text),
        ],
        &rows,
    ));
    html.push_str(&more(
        clients.len().saturating_sub(CLIENTS_SHOWN),
        "client profiles",
    ));
    html
}
