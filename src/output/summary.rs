//! The readable terminal summary.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::report::{
    Report, causes_by_server, census, certificates_sorted, clients_sorted, group_census,
    servers_sorted, what_breaks, without_tls_by_server, without_tls_total,
};

use crate::aggregate::{Aggregates, Latency, Timings};
use crate::facts::Mechanism;
use crate::tls::names::{cipher_name, version_name};

/// Milliseconds with three decimals, for the terminal.
fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Writes the readable terminal summary.
pub fn write_summary(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let agg = &report.aggregates;
    let inp = &report.input;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "tlsight: {} packets, {} bytes, {} TCP connections, {} with TLS",
        inp.packets, inp.bytes, inp.flows.tcp_connections, agg.all.connections
    );
    for f in &report.inputs {
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  ! {}: {e}", f.path);
        }
    }
    let errors: u64 = inp.decode_errors.values().sum();
    if errors > 0 {
        let list: Vec<String> = inp
            .decode_errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "  undecodable frames: {errors} ({})", list.join(", "));
    }
    let _ = writeln!(s, "\nOutcomes");
    for (o, n) in &agg.all.outcomes {
        let _ = writeln!(s, "  {:<36} {n:>10}", o.name());
    }
    if !agg.all.failure_causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes");
        for (c, n) in &agg.all.failure_causes {
            let _ = writeln!(s, "  {:<36} {n:>10}", c.name());
        }
    }
    let _ = writeln!(s, "\nNegotiated versions");
    for c in census(&agg.versions, |v| version_name(v).into_owned()) {
        let _ = writeln!(s, "  {:<28} {:>10}", c.name, c.count);
    }
    let _ = writeln!(s, "\nTop cipher suites");
    for c in census(&agg.ciphers, |v| cipher_name(v).into_owned())
        .iter()
        .take(10)
    {
        let _ = writeln!(s, "  {:<48} {:>10}", c.name, c.count);
    }
    let _ = writeln!(
        s,
        "\nHandshake latency (ms)      count        p50        p95        p99        max"
    );
    let row = |s: &mut String, label: &str, l: &Latency| {
        let p = l.percentiles();
        if p.count == 0 {
            return;
        }
        let _ = writeln!(
            s,
            "  {label:<24} {:>7} {:>10} {:>10} {:>10} {:>10}",
            p.count,
            ms(p.p50),
            ms(p.p95),
            ms(p.p99),
            ms(p.max)
        );
    };
    row(&mut s, "TCP handshake", &agg.all.timings.tcp_handshake);
    row(
        &mut s,
        "ClientHello→ServerHello",
        &agg.all.timings.client_hello_to_server_hello,
    );
    row(
        &mut s,
        "ClientHello→done",
        &agg.all.timings.client_hello_to_done,
    );
    let done_row = |s: &mut String, label: &str, t: &Timings| {
        row(s, label, &t.client_hello_to_done);
    };
    if agg.by_version.len() > 1 || agg.by_outcome.len() > 1 {
        let _ = writeln!(
            s,
            "\nClientHello→done (ms)       count        p50        p95        p99        max"
        );
        for (v, t) in &agg.by_version {
            let name = v.map_or_else(|| "no version".into(), version_name);
            done_row(&mut s, &format!("version {name}"), t);
        }
        for (o, t) in &agg.by_outcome {
            done_row(&mut s, &format!("outcome {}", o.name()), t);
        }
    }
    write_servers(report, &mut s);
    write_without_tls(report, &mut s);
    write_resumption(agg, &mut s);
    write_census(agg, &mut s);
    write_clients(agg, &mut s);
    write_certificates(agg, &mut s);
    let r = &agg.renegotiation;
    if r.connections > 0 || r.secure_unsupported > 0 {
        let _ = writeln!(
            s,
            "\nRenegotiation: {} connections renegotiated ({} by clients, {} by servers, {} completed); \
             secure renegotiation supported on {}, missing on {} TLS ≤ 1.2 connections",
            r.connections,
            r.client_initiated,
            r.server_initiated,
            r.completed,
            r.secure_supported,
            r.secure_unsupported
        );
    }
    write_decryption(&agg.decryption, &mut s);
    out.write_all(s.as_bytes())
}

/// Servers table, the SLO verdicts and failure causes per server.
fn write_servers(report: &Report, s: &mut String) {
    let agg = &report.aggregates;
    let servers = servers_sorted(agg);
    if servers.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nServers (top 10 by connections; ClientHello→done ms)");
    let _ = writeln!(
        s,
        "  {:<40} {:>7} {:>7} {:>9} {:>9} {:>8} {:>4}",
        "server", "conns", "failed", "p50", "p95", "resumed", "SLO"
    );
    for (label, st) in servers.iter().take(10) {
        let p = st.timings.client_hello_to_done.percentiles();
        let slo = match report.above_slo(st) {
            Some(true) => "over",
            Some(false) => "ok",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {:<40} {:>7} {:>7} {:>9} {:>9} {:>8} {:>4}",
            label,
            st.connections,
            st.unsuccessful(),
            ms(p.p50),
            ms(p.p95),
            percent(st.resumption.hit_rate()),
            slo
        );
    }
    if let Some(slo) = report.slo_p95_ms {
        let above = report.servers_above_slo();
        let _ = writeln!(
            s,
            "\nServers above the p95 SLO of {slo} ms: {}",
            above.len()
        );
        for (label, b, p95) in above.iter().take(20) {
            let _ = writeln!(
                s,
                "  {label:<40} p95 {:>9} ms over {} connections",
                ms(*p95),
                b.connections
            );
        }
    }
    let causes = causes_by_server(agg);
    if !causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes by server (most frequent first)");
        for c in causes.iter().take(15) {
            let _ = writeln!(s, "  {:<40} {:<34} {:>7}", c.server, c.cause, c.count);
        }
    }
}

/// TCP connections without TLS (floods, scans, refused and silent services), per server.
fn write_without_tls(report: &Report, s: &mut String) {
    let agg = &report.aggregates;
    let total = without_tls_total(agg);
    if total.total() == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "\nTCP connections without TLS: {} (top 10 servers)",
        total.total()
    );
    let _ = writeln!(
        s,
        "  {:<40} {:>9} {:>9} {:>9} {:>9}",
        "server", "no answer", "refused", "no data", "not TLS"
    );
    for c in without_tls_by_server(agg).iter().take(10) {
        let n = &c.counts;
        let _ = writeln!(
            s,
            "  {:<40} {:>9} {:>9} {:>9} {:>9}",
            c.server, n.no_answer, n.refused, n.closed_before_data, n.not_tls
        );
    }
    let evicted = report.input.flows.half_open_evicted;
    if evicted > 0 {
        let _ = writeln!(
            s,
            "  {evicted} half-open connections evicted (--max-half-open reached)"
        );
    }
}

/// A ratio as a percentage, or `-` when undefined.
fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn write_resumption(agg: &Aggregates, s: &mut String) {
    let r = &agg.all.resumption;
    if r.attempts == 0 && r.tickets_issued == 0 && r.early_data_offered == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "\nResumption: {} attempts, {} hits ({}); {} tickets issued; 0-RTT offered {}, accepted {}",
        r.attempts,
        r.hits,
        percent(r.hit_rate()),
        r.tickets_issued,
        r.early_data_offered,
        r.early_data_accepted
    );
    let _ = writeln!(
        s,
        "  {:<28} {:>10} {:>10}",
        "mechanism", "offered", "accepted"
    );
    for m in Mechanism::ALL {
        let _ = writeln!(
            s,
            "  {:<28} {:>10} {:>10}",
            m.name(),
            r.offered[m.index()],
            r.accepted[m.index()]
        );
    }
}

fn write_census(agg: &Aggregates, s: &mut String) {
    if !agg.groups_negotiated.is_empty() {
        let _ = writeln!(s, "\nKey exchange groups (negotiated)");
        for g in group_census(&agg.groups_negotiated) {
            let pq = if g.post_quantum {
                " (post-quantum)"
            } else {
                ""
            };
            let _ = writeln!(s, "  {:<48} {:>10}", format!("{}{pq}", g.name), g.count);
        }
    }
    if agg.post_quantum_offered > 0 {
        let _ = writeln!(
            s,
            "  post-quantum groups offered on {} connections",
            agg.post_quantum_offered
        );
    }
    let alpn = agg.alpn_negotiated.ranked();
    if !alpn.is_empty() || !agg.alpn_offered.entries.is_empty() {
        let _ = writeln!(s, "\nALPN (negotiated / offered)");
        let offered = agg.alpn_offered.ranked();
        let mut names: Vec<&str> = alpn.iter().chain(&offered).map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        for name in names.iter().take(10) {
            let count =
                |v: &[(&str, u64)]| v.iter().find(|(n, _)| n == name).map_or(0, |&(_, c)| c);
            let _ = writeln!(
                s,
                "  {name:<28} {:>10} {:>10}",
                count(&alpn),
                count(&offered)
            );
        }
    }
    if agg.ech.offered > 0 {
        let _ = writeln!(
            s,
            "\nECH: offered on {} connections ({} confirmed real by the server, {} GREASE or unconfirmed)",
            agg.ech.offered,
            agg.ech.confirmed,
            agg.ech.offered - agg.ech.confirmed
        );
    }
}

fn write_clients(agg: &Aggregates, s: &mut String) {
    let clients = clients_sorted(agg);
    if clients.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nClients (top 10 JA4 fingerprints)");
    let _ = writeln!(
        s,
        "  {:<38} {:>7} {:>7} {:>9}  breaks if",
        "ja4", "conns", "failed", "highest"
    );
    for (ja4, p) in clients.iter().take(10) {
        let breaks: Vec<&str> = p.breaks().iter().map(|c| c.name()).collect();
        let _ = writeln!(
            s,
            "  {ja4:<38} {:>7} {:>7} {:>9}  {}",
            p.connections,
            p.unsuccessful,
            p.highest_version().map_or_else(|| "-".into(), version_name),
            if breaks.is_empty() {
                "-".to_string()
            } else {
                breaks.join(", ")
            }
        );
    }
    let _ = writeln!(s, "\nWhat breaks");
    let _ = writeln!(
        s,
        "  {:<28} {:>10} {:>12}",
        "change", "clients", "connections"
    );
    for b in what_breaks(agg) {
        let _ = writeln!(
            s,
            "  {:<28} {:>10} {:>12}",
            b.change, b.clients, b.connections
        );
    }
}

fn write_certificates(agg: &Aggregates, s: &mut String) {
    let certs = certificates_sorted(agg);
    if certs.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nCertificates ({} distinct; top 10, findings first)",
        certs.len()
    );
    for e in certs.iter().take(10) {
        let findings: Vec<String> = e
            .findings
            .iter()
            .map(|f| f.name().to_string())
            .chain(
                e.connection_findings
                    .iter()
                    .map(|(f, n)| format!("{} (on {n})", f.name())),
            )
            .collect();
        let _ = writeln!(
            s,
            "  {:<12} {:<44} {:>5} conns  {}",
            e.cert.sha256.get(..12).unwrap_or(&e.cert.sha256),
            e.cert.subject.get(..44).unwrap_or(&e.cert.subject),
            e.connections,
            if findings.is_empty() {
                "-".to_string()
            } else {
                findings.join(", ")
            }
        );
    }
}

/// Key-log decryption: connections by level, the secrets missing, the records that had keys and
/// did not decrypt.
fn write_decryption(d: &crate::aggregate::DecryptionStats, s: &mut String) {
    if d.is_empty() {
        return;
    }
    let level = |name| d.levels.get(name).copied().unwrap_or(0);
    let _ = write!(
        s,
        "\nDecryption (key logs): {} connections full, {} handshake only, {} none; \
         decryption_failed: {} records on {} connections",
        level("full"),
        level("handshake"),
        level("none"),
        d.failed_records,
        d.failed_connections
    );
    if !d.missing.is_empty() {
        let missing: Vec<String> = d
            .missing
            .iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        let _ = write!(s, "; missing secrets: {}", missing.join(", "));
    }
    s.push('\n');
}
