//! The census: versions negotiated and offered, cipher suites, key-exchange groups with
//! post-quantum adoption, ALPN, resumption and ECH. What needs attention is marked in the label
//! and by the fill (deprecated versions and static-RSA suites, post-quantum groups hatched).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::bars::{Bar, hbars};
use super::super::format::{count, percent};
use super::{Align, Section, card, figure, table, text};
use crate::aggregate::Aggregates;
use crate::facts::Mechanism;
use crate::output::Report;
use crate::output::report::{census, group_census};
use crate::tls::names::{cipher_is_rsa_kx, cipher_name, version_name, version_rank};

/// Cipher suites drawn by name; the rest are pooled.
const CIPHERS_SHOWN: usize = 15;

/// The census section.
pub(in super::super) fn section(report: &Report) -> Section {
    let agg = &report.aggregates;
    let mut body = post_quantum(agg);
    body.push_str("<div class=\"grid wide\">");
    body.push_str(&versions(
        &agg.versions,
        "Versions negotiated",
        "connections with a ServerHello",
    ));
    body.push_str(&versions(
        &agg.offered_versions,
        "Highest version offered by clients",
        "ClientHellos",
    ));
    body.push_str(&ciphers(agg));
    body.push_str(&groups(
        &agg.groups_negotiated,
        "Key-exchange groups negotiated",
        agg.groups_negotiated.values().sum(),
        "connections with a key exchange",
    ));
    body.push_str(&groups(
        &agg.groups_offered.counts(),
        "Key-exchange groups offered",
        agg.all.connections,
        "connections (a ClientHello offers several)",
    ));
    body.push_str(&alpn(agg));
    body.push_str("</div>");
    body.push_str(&resumption_and_ech(agg));
    Section {
        id: "census",
        title: "Versions, ciphers, groups",
        body,
    }
}

/// A census chart, captioned with what its shares are of, or nothing when it is empty.
fn chart(title: &str, bars: &[Bar], total: u64, of: &str) -> String {
    if bars.is_empty() {
        return String::new();
    }
    figure(
        &hbars(title, bars, total),
        &format!(
            "<strong>{}</strong>: shares of {} {}.",
            super::text(title),
            count(total),
            super::text(of)
        ),
    )
}

/// Versions, with those below TLS 1.2 marked deprecated.
fn versions(map: &BTreeMap<u16, u64>, title: &str, of: &str) -> String {
    let rows = census(map, |v| version_name(v).into_owned());
    let total = rows.iter().map(|r| r.count).sum();
    let bars: Vec<Bar> = rows
        .into_iter()
        .map(|r| {
            let deprecated = r
                .code
                .and_then(version_rank)
                .is_some_and(|rank| rank < 0x0303);
            Bar {
                label: if deprecated {
                    format!("{} (deprecated)", r.name)
                } else {
                    r.name
                },
                value: r.count,
                class: if deprecated { "bar-warn" } else { "bar" },
            }
        })
        .collect();
    chart(title, &bars, total, of)
}

/// The most used cipher suites, static-RSA key exchange marked.
fn ciphers(agg: &Aggregates) -> String {
    let rows = census(&agg.ciphers, |c| cipher_name(c).into_owned());
    let total = rows.iter().map(|r| r.count).sum();
    let mut bars: Vec<Bar> = rows
        .iter()
        .take(CIPHERS_SHOWN)
        .map(|r| {
            let rsa = r.code.is_some_and(cipher_is_rsa_kx);
            Bar {
                label: if rsa {
                    format!("{} (RSA key exchange)", r.name)
                } else {
                    r.name.clone()
                },
                value: r.count,
                class: if rsa { "bar-warn" } else { "bar" },
            }
        })
        .collect();
    let rest: u64 = rows.iter().skip(CIPHERS_SHOWN).map(|r| r.count).sum();
    if rest > 0 {
        bars.push(Bar {
            label: "(other suites)".into(),
            value: rest,
            class: "bar",
        });
    }
    chart(
        "Cipher suites negotiated",
        &bars,
        total,
        "connections with a ServerHello",
    )
}

/// Groups, post-quantum ones hatched and named so.
fn groups(map: &BTreeMap<u16, u64>, title: &str, total: u64, of: &str) -> String {
    let rows = group_census(map);
    let bars: Vec<Bar> = rows
        .into_iter()
        .map(|r| Bar {
            label: if r.post_quantum {
                format!("{} (post-quantum)", r.name)
            } else {
                r.name
            },
            value: r.count,
            class: if r.post_quantum { "bar-pq" } else { "bar" },
        })
        .collect();
    chart(title, &bars, total, of)
}

/// Post-quantum adoption in two numbers.
fn post_quantum(agg: &Aggregates) -> String {
    let negotiated: u64 = group_census(&agg.groups_negotiated)
        .iter()
        .filter(|g| g.post_quantum)
        .map(|g| g.count)
        .sum();
    let all = agg.all.connections;
    let mut html = String::from("<h3>Post-quantum key exchange</h3><dl class=\"cards\">");
    html.push_str(&card(
        &percent(agg.post_quantum_offered, all),
        &format!(
            "of connections offered a post-quantum group ({})",
            count(agg.post_quantum_offered)
        ),
    ));
    html.push_str(&card(
        &percent(negotiated, all),
        &format!("of connections used one ({})", count(negotiated)),
    ));
    html.push_str("</dl>");
    html
}

/// ALPN offered and negotiated, side by side in one table.
fn alpn(agg: &Aggregates) -> String {
    let offered = agg.alpn_offered.ranked();
    let negotiated = agg.alpn_negotiated.ranked();
    let bars = |v: &[(&str, u64)]| -> Vec<Bar> {
        v.iter()
            .map(|&(name, n)| Bar {
                label: name.into(),
                value: n,
                class: "bar",
            })
            .collect()
    };
    let mut html = chart(
        "ALPN protocols offered",
        &bars(&offered),
        agg.all.connections,
        "connections (a ClientHello offers several)",
    );
    let total = negotiated.iter().map(|r| r.1).sum();
    html.push_str(&chart(
        "ALPN protocols negotiated (TLS ≤ 1.2: TLS 1.3 sends it encrypted)",
        &bars(&negotiated),
        total,
        "connections with a negotiated protocol",
    ));
    html
}

/// Resumption per mechanism and Encrypted Client Hello.
fn resumption_and_ech(agg: &Aggregates) -> String {
    let r = &agg.all.resumption;
    let rows: Vec<Vec<String>> = Mechanism::ALL
        .iter()
        .map(|&m| {
            vec![
                text(m.name()),
                count(r.offered[m.index()]),
                count(r.accepted[m.index()]),
                percent(r.accepted[m.index()], r.offered[m.index()]),
            ]
        })
        .collect();
    let mut html = String::from("<h3>Resumption and Encrypted Client Hello</h3>");
    html.push_str(&table(
        &format!(
            "Resumption: {} attempts, {} resumed ({}); {} tickets issued; 0-RTT offered {}, accepted {}",
            count(r.attempts),
            count(r.hits),
            percent(r.hits, r.attempts),
            count(r.tickets_issued),
            count(r.early_data_offered),
            count(r.early_data_accepted)
        ),
        &[
            ("mechanism", Align::Text),
            ("offered", Align::Number),
            ("accepted", Align::Number),
            ("hit rate", Align::Number),
        ],
        &rows,
    ));
    if agg.ech.offered == 0 {
        html.push_str("<p>No ClientHello offered Encrypted Client Hello.</p>");
    } else {
        let _ = write!(
            html,
            "<p>Encrypted Client Hello offered on {} connections: {} confirmed real by the \
             server's HelloRetryRequest, {} GREASE or unconfirmed (they look alike on the \
             wire).</p>",
            count(agg.ech.offered),
            count(agg.ech.confirmed),
            count(agg.ech.offered - agg.ech.confirmed)
        );
    }
    html
}
