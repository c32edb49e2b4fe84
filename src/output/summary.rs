//! The readable terminal summary: what an engineer reads first. Every table is ranked, cut to
//! `--top N` rows (with "N more"), aligned, and fits 100 columns; times without samples show
//! `-`; failure causes come with an example explanation.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::report::{
    Report, causes_by_server, census, certificates_sorted, clients_sorted, group_census,
    servers_sorted, what_breaks, without_tls_by_server, without_tls_total,
};
use super::table::{
    Column, LINE_WIDTH, Table, cut_at_word, more, plural, thousands, transports_text, wrap,
};
use super::time::rfc3339_secs;

use crate::aggregate::{Aggregates, CertEntry, Percentiles};
use crate::facts::{FailureCause, Mechanism, WithoutTls};
use crate::flow::Timestamp;
use crate::tls::names::{cipher_name, version_name};

/// How the summary is cut and dated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SummaryOptions {
    /// Rows per table (`--top`); `None`: all (`--all`).
    pub top: Option<usize>,
    /// `--now`: seconds since the epoch certificates' days left are counted from (default:
    /// the end of the capture).
    pub now: Option<i64>,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            top: Some(10),
            now: None,
        }
    }
}

impl SummaryOptions {
    /// The first rows of `rows` to show, and how many are left out.
    fn cut<T>(&self, rows: &[T]) -> (usize, usize) {
        let shown = self.top.map_or(rows.len(), |n| n.min(rows.len()));
        (shown, rows.len() - shown)
    }
}

/// A duration in microseconds as milliseconds with three decimals, `-` without samples.
fn ms(us: u64, samples: u64) -> String {
    if samples == 0 {
        "-".into()
    } else {
        format!("{:.3}", us as f64 / 1000.0)
    }
}

/// `part` of `whole` as a whole percentage.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Writes the readable terminal summary.
pub fn write_summary(
    report: &Report,
    options: &SummaryOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let agg = &report.aggregates;
    let mut s = String::new();
    write_header(report, &mut s);
    if agg.all.connections == 0 {
        let inp = &report.input;
        let _ = writeln!(
            s,
            "\nNo TLS found: {} read, {} without a TLS handshake.",
            plural(inp.packets, "packet"),
            plural(inp.flows.tcp_connections, "TCP connection"),
        );
        write_without_tls(report, options, &mut s);
        return out.write_all(s.as_bytes());
    }
    write_outcomes(report, &mut s);
    write_causes(agg, options, &mut s);
    write_versions_and_ciphers(agg, options, &mut s);
    write_latency(agg, &mut s);
    write_servers(report, options, &mut s);
    write_without_tls(report, options, &mut s);
    write_resumption(agg, &mut s);
    write_census(agg, options, &mut s);
    write_clients(agg, options, &mut s);
    write_certificates(report, options, &mut s);
    let r = &agg.renegotiation;
    if r.connections > 0 || r.secure_unsupported > 0 {
        let _ = writeln!(
            s,
            "\nRenegotiation: {} renegotiated ({} by clients, {} by servers, {} completed)",
            plural(r.connections, "connection"),
            r.client_initiated,
            r.server_initiated,
            r.completed,
        );
        let _ = writeln!(
            s,
            "  secure renegotiation (RFC 5746) supported on {}, missing on {} (TLS ≤ 1.2)",
            plural(r.secure_supported, "connection"),
            plural(r.secure_unsupported, "connection"),
        );
    }
    write_decryption(&agg.decryption, &mut s);
    out.write_all(s.as_bytes())
}

/// What was read: packets, connections, the time span, what was left out and why.
fn write_header(report: &Report, s: &mut String) {
    let inp = &report.input;
    let files = report.inputs.len();
    let _ = writeln!(
        s,
        "tlsight: {} ({} bytes){}, {}, {} with TLS",
        plural(inp.packets, "packet"),
        thousands(inp.bytes),
        if files > 1 {
            format!(" in {files} files")
        } else {
            String::new()
        },
        plural(inp.flows.tcp_connections, "TCP connection"),
        thousands(report.aggregates.all.connections),
    );
    if let Some((start, end)) = capture_span(report) {
        let secs = (end.0 - start.0).max(0) / 1_000_000_000;
        let _ = writeln!(
            s,
            "Capture: {} to {} ({})",
            rfc3339_secs(start.0.div_euclid(1_000_000_000)),
            rfc3339_secs(end.0.div_euclid(1_000_000_000)),
            duration(secs)
        );
    }
    if report.interrupted {
        let _ = writeln!(
            s,
            "Interrupted: this covers what was read until the signal."
        );
    }
    if inp.filtered_out > 0 {
        let _ = writeln!(
            s,
            "Filter: {} did not match -f and {} left out.",
            plural(inp.filtered_out, "frame"),
            if inp.filtered_out == 1 { "was" } else { "were" }
        );
    }
    if inp.flows.out_of_scope > 0 {
        let _ = writeln!(
            s,
            "Scope: {} outside --server/--sni/--client left out.",
            plural(inp.flows.out_of_scope, "TLS connection")
        );
    }
    for f in &report.inputs {
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  ! {}", cut_at_word(e, LINE_WIDTH - 4));
        }
    }
    let errors: u64 = inp.decode_errors.values().sum();
    if errors > 0 {
        let list: Vec<String> = inp
            .decode_errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let text = format!(
            "  {} could not be decoded ({})",
            plural(errors, "frame"),
            list.join(", ")
        );
        let _ = writeln!(s, "{}", cut_at_word(&text, LINE_WIDTH));
    }
    if inp.udp_datagrams > 0 {
        let _ = writeln!(
            s,
            "  {}, {} ({} without a readable hello)",
            plural(inp.udp_datagrams, "UDP datagram"),
            plural(inp.flows.udp_flows, "QUIC/DTLS flow"),
            thousands(inp.flows.udp_flows_without_tls)
        );
    }
    let unanswered = inp.flows.udp_unanswered_evicted;
    if unanswered > 0 {
        let _ = writeln!(
            s,
            "  {} evicted before their server answered (--max-unanswered reached)",
            plural(unanswered, "QUIC/DTLS flow")
        );
    }
}

/// The earliest first and latest last packet of the inputs.
pub(super) fn capture_span(report: &Report) -> Option<(Timestamp, Timestamp)> {
    let start = report.inputs.iter().filter_map(|f| f.start).min()?;
    let end = report.inputs.iter().filter_map(|f| f.end).max()?;
    Some((start, end.max(start)))
}

/// `7580 days 18 h`, `3 h 2 min`, `5 min 3 s`, `42 s`.
fn duration(secs: i64) -> String {
    let (d, h, m, sec) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{sec} s"),
        (0, 0, _) => format!("{m} min {sec} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{} {h} h", plural(d.unsigned_abs(), "day")),
    }
}

fn write_outcomes(report: &Report, s: &mut String) {
    let all = &report.aggregates.all;
    let _ = writeln!(s, "\nOutcomes");
    let mut t = Table::new(&[
        ("outcome", Column::Name),
        ("connections", Column::Number),
        ("share", Column::Number),
    ]);
    for (o, &n) in &all.outcomes {
        t.row(vec![
            o.name().into(),
            thousands(n),
            share(n, all.connections),
        ]);
    }
    t.write(s);
    // The split by transport, once a handshake came over anything but TCP.
    let agg = &report.aggregates;
    if agg.beyond_tcp() {
        let _ = writeln!(s, "\nTransports");
        let mut t = Table::new(&[
            ("transport", Column::Name),
            ("connections", Column::Number),
            ("outcomes", Column::Text),
        ]);
        for (name, b) in &agg.by_transport {
            let outcomes: Vec<String> = b
                .outcomes
                .iter()
                .map(|(o, n)| format!("{} {}", o.name(), thousands(*n)))
                .collect();
            t.row(vec![
                (*name).to_string(),
                thousands(b.connections),
                outcomes.join(", "),
            ]);
        }
        t.write(s);
    }
}

/// Causes by count, each with the explanation of its earliest failed connection.
fn write_causes(agg: &Aggregates, options: &SummaryOptions, s: &mut String) {
    let ranked = agg.all.ranked_causes();
    if ranked.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nWhy handshakes failed (most frequent first; an example of each)"
    );
    let listed = agg.failed.listed();
    let (shown, left) = options.cut(&ranked);
    let width = ranked
        .iter()
        .take(shown)
        .map(|(c, _)| c.name().len())
        .max()
        .unwrap_or(0);
    for &(cause, n) in ranked.iter().take(shown) {
        let _ = writeln!(
            s,
            "  {:<width$}  {:>9}",
            cause.name(),
            plural(n, "connection")
        );
        if let Some(example) = example(&listed, cause) {
            for line in wrap(&example, LINE_WIDTH - 6) {
                let _ = writeln!(s, "      {line}");
            }
        }
    }
    more(s, left, "cause");
}

/// "server.test: explanation (inferred)", from the first listed failure of `cause`.
fn example(
    listed: &[&crate::aggregate::failures::FailedConnection],
    cause: FailureCause,
) -> Option<String> {
    let c = listed.iter().find(|c| c.failure.cause == cause)?;
    let inferred = if c.failure.inferred {
        " [inferred from the traffic's shape]"
    } else {
        ""
    };
    Some(format!(
        "e.g. {}: {}{inferred}",
        c.server_label(),
        c.failure.explanation
    ))
}

fn write_versions_and_ciphers(agg: &Aggregates, options: &SummaryOptions, s: &mut String) {
    let versions = census(&agg.versions, |v| version_name(v).into_owned());
    if !versions.is_empty() {
        let _ = writeln!(s, "\nNegotiated versions");
        let mut t = Table::new(&[("version", Column::Name), ("connections", Column::Number)]);
        let (shown, left) = options.cut(&versions);
        for c in versions.iter().take(shown) {
            t.row(vec![c.name.clone(), thousands(c.count)]);
        }
        t.write(s);
        more(s, left, "version");
    }
    let ciphers = census(&agg.ciphers, |v| cipher_name(v).into_owned());
    if !ciphers.is_empty() {
        let _ = writeln!(s, "\nCipher suites");
        let mut t = Table::new(&[
            ("cipher suite", Column::Name),
            ("connections", Column::Number),
        ]);
        let (shown, left) = options.cut(&ciphers);
        for c in ciphers.iter().take(shown) {
            t.row(vec![c.name.clone(), thousands(c.count)]);
        }
        t.write(s);
        more(s, left, "cipher suite");
    }
}

/// A latency row: the label, then count and percentiles in ms (`-` without samples).
fn latency_row(t: &mut Table, label: String, p: &Percentiles) {
    t.row(vec![
        label,
        thousands(p.count),
        ms(p.p50, p.count),
        ms(p.p95, p.count),
        ms(p.p99, p.count),
        ms(p.max, p.count),
    ]);
}

/// The columns of a latency table.
fn latency_table(first: &'static str) -> Table {
    Table::new(&[
        (first, Column::Name),
        ("count", Column::Number),
        ("p50", Column::Number),
        ("p95", Column::Number),
        ("p99", Column::Number),
        ("max", Column::Number),
    ])
}

fn write_latency(agg: &Aggregates, s: &mut String) {
    let t = &agg.all.timings;
    let _ = writeln!(
        s,
        "\nHandshake latency (ms; - where no handshake got that far)"
    );
    let mut table = latency_table("phase");
    latency_row(
        &mut table,
        "TCP handshake".into(),
        &t.tcp_handshake.percentiles(),
    );
    latency_row(
        &mut table,
        "ClientHello→ServerHello".into(),
        &t.client_hello_to_server_hello.percentiles(),
    );
    latency_row(
        &mut table,
        "ClientHello→done".into(),
        &t.client_hello_to_done.percentiles(),
    );
    table.write(s);
    if agg.by_version.len() > 1 || agg.by_outcome.len() > 1 {
        let _ = writeln!(s, "\nClientHello→done by version and outcome (ms)");
        let mut table = latency_table("connections by");
        for (v, t) in &agg.by_version {
            let name = v.map_or_else(|| "no version".into(), version_name);
            latency_row(
                &mut table,
                format!("version {name}"),
                &t.client_hello_to_done.percentiles(),
            );
        }
        for (o, t) in &agg.by_outcome {
            latency_row(
                &mut table,
                format!("outcome {}", o.name()),
                &t.client_hello_to_done.percentiles(),
            );
        }
        table.write(s);
    }
}

/// Servers table, the SLO verdicts and failure causes per server.
fn write_servers(report: &Report, options: &SummaryOptions, s: &mut String) {
    let agg = &report.aggregates;
    let servers = servers_sorted(agg);
    if servers.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nServers (by connections; failed: failed or unanswered; ClientHello→done in ms)"
    );
    let split = agg.beyond_tcp();
    let mut columns = vec![("server", Column::Name)];
    if split {
        columns.push(("over", Column::Name));
    }
    columns.extend([
        ("conns", Column::Number),
        ("failed", Column::Number),
        ("p50", Column::Number),
        ("p95", Column::Number),
        ("resumed", Column::Number),
        ("SLO", Column::Name),
    ]);
    let mut t = Table::new(&columns);
    let (shown, left) = options.cut(&servers);
    for (label, st) in servers.iter().take(shown) {
        let p = st.timings.client_hello_to_done.percentiles();
        let slo = match report.above_slo(st) {
            Some(true) => "over",
            Some(false) => "ok",
            None => "",
        };
        let mut row = vec![(*label).to_string()];
        if split {
            row.push(transports_text(st));
        }
        row.extend([
            thousands(st.connections),
            thousands(st.failed()),
            ms(p.p50, p.count),
            ms(p.p95, p.count),
            percent(st.resumption.hit_rate()),
            slo.into(),
        ]);
        t.row(row);
    }
    t.write(s);
    more(s, left, "server");
    if let Some(slo) = report.slo_p95_ms {
        let above = report.servers_above_slo();
        let _ = writeln!(
            s,
            "\nServers above the p95 SLO of {slo} ms: {}",
            above.len()
        );
        let mut t = Table::new(&[
            ("server", Column::Name),
            ("p95 ms", Column::Number),
            ("connections", Column::Number),
        ]);
        let (shown, left) = options.cut(&above);
        for (label, b, p95) in above.iter().take(shown) {
            t.row(vec![
                (*label).to_string(),
                ms(*p95, 1),
                thousands(b.connections),
            ]);
        }
        if shown > 0 {
            t.write(s);
        }
        more(s, left, "server");
    }
    let causes = causes_by_server(agg);
    if !causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes by server (most frequent first)");
        let mut t = Table::new(&[
            ("server", Column::Name),
            ("cause", Column::Name),
            ("connections", Column::Number),
        ]);
        let (shown, left) = options.cut(&causes);
        for c in causes.iter().take(shown) {
            t.row(vec![
                c.server.to_string(),
                c.cause.into(),
                thousands(c.count),
            ]);
        }
        t.write(s);
        more(s, left, "row");
    }
}

/// TCP connections without TLS (floods, scans, refused and silent services), per server: the
/// failures before TLS, by cause with its explanation, then the servers.
fn write_without_tls(report: &Report, options: &SummaryOptions, s: &mut String) {
    let agg = &report.aggregates;
    let total = without_tls_total(agg);
    if total.total() == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "\nTCP connections without TLS: {}, {} failed before TLS",
        thousands(total.total()),
        thousands(total.failures()),
    );
    let mut kinds: Vec<WithoutTls> = WithoutTls::ALL
        .into_iter()
        .filter(|&k| total.of(k) > 0)
        .collect();
    kinds.sort_by_key(|&k| (!k.is_failure(), std::cmp::Reverse(total.of(k))));
    let width = kinds.iter().map(|k| k.name().len()).max().unwrap_or(0);
    for kind in kinds {
        let head = format!(
            "  {:<width$}  {:>9}  ",
            kind.name(),
            thousands(total.of(kind))
        );
        let lines = wrap(kind.explanation(), LINE_WIDTH - head.len());
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 {
                head.clone()
            } else {
                " ".repeat(head.len())
            };
            let _ = writeln!(s, "{lead}{line}");
        }
    }
    let servers = without_tls_by_server(agg);
    let mut t = Table::new(&[
        ("server", Column::Name),
        ("tcp_refused", Column::Number),
        ("tcp_no_answer", Column::Number),
        ("closed_before_hello", Column::Number),
        ("not_tls", Column::Number),
        ("no_syn", Column::Number),
    ]);
    let (shown, left) = options.cut(&servers);
    for c in servers.iter().take(shown) {
        let n = &c.counts;
        t.row(vec![
            c.server.clone(),
            thousands(n.tcp_refused),
            thousands(n.tcp_no_answer),
            thousands(n.closed_before_hello),
            thousands(n.not_tls),
            thousands(n.no_syn),
        ]);
    }
    t.write(s);
    more(s, left, "server");
    let evicted = report.input.flows.half_open_evicted;
    if evicted > 0 {
        let _ = writeln!(
            s,
            "  {} evicted before they carried a byte (--max-half-open reached)",
            plural(evicted, "connection")
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
        "\nResumption: {}, {} ({}); {} issued; 0-RTT offered {}, accepted {}",
        plural(r.attempts, "attempt"),
        plural(r.hits, "hit"),
        percent(r.hit_rate()),
        plural(r.tickets_issued, "ticket"),
        r.early_data_offered,
        r.early_data_accepted
    );
    let mut t = Table::new(&[
        ("mechanism", Column::Name),
        ("offered", Column::Number),
        ("accepted", Column::Number),
    ]);
    for m in Mechanism::ALL {
        t.row(vec![
            m.name().into(),
            thousands(r.offered[m.index()]),
            thousands(r.accepted[m.index()]),
        ]);
    }
    t.write(s);
}

fn write_census(agg: &Aggregates, options: &SummaryOptions, s: &mut String) {
    if !agg.groups_negotiated.is_empty() {
        let _ = writeln!(s, "\nKey exchange groups (negotiated)");
        let groups = group_census(&agg.groups_negotiated);
        let mut t = Table::new(&[("group", Column::Name), ("connections", Column::Number)]);
        let (shown, left) = options.cut(&groups);
        for g in groups.iter().take(shown) {
            let pq = if g.post_quantum {
                " (post-quantum)"
            } else {
                ""
            };
            t.row(vec![format!("{}{pq}", g.name), thousands(g.count)]);
        }
        t.write(s);
        more(s, left, "group");
    }
    if agg.post_quantum_offered > 0 {
        let _ = writeln!(
            s,
            "  post-quantum groups offered on {}",
            plural(agg.post_quantum_offered, "connection")
        );
    }
    let alpn = agg.alpn_negotiated.ranked();
    if !alpn.is_empty() || !agg.alpn_offered.entries.is_empty() {
        let _ = writeln!(s, "\nALPN");
        let offered = agg.alpn_offered.ranked();
        let mut names: Vec<&str> = alpn.iter().chain(&offered).map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        let mut t = Table::new(&[
            ("protocol", Column::Name),
            ("negotiated", Column::Number),
            ("offered", Column::Number),
        ]);
        let (shown, left) = options.cut(&names);
        for name in names.iter().take(shown) {
            let n = |v: &[(&str, u64)]| v.iter().find(|(n, _)| n == name).map_or(0, |&(_, c)| c);
            t.row(vec![
                (*name).to_string(),
                thousands(n(&alpn)),
                thousands(n(&offered)),
            ]);
        }
        t.write(s);
        more(s, left, "protocol");
    }
    if agg.ech.offered > 0 {
        let _ = writeln!(
            s,
            "\nECH: offered on {} ({} confirmed real by the server, {} GREASE or unconfirmed)",
            plural(agg.ech.offered, "connection"),
            agg.ech.confirmed,
            agg.ech.offered - agg.ech.confirmed
        );
    }
}

fn write_clients(agg: &Aggregates, options: &SummaryOptions, s: &mut String) {
    let clients = clients_sorted(agg);
    if clients.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nClients (JA4 fingerprints, by connections)");
    let mut t = Table::new(&[
        ("ja4", Column::Name),
        ("conns", Column::Number),
        ("failed", Column::Number),
        ("highest", Column::Name),
        ("breaks if", Column::Text),
    ]);
    let (shown, left) = options.cut(&clients);
    for (ja4, p) in clients.iter().take(shown) {
        let breaks: Vec<&str> = p.breaks().iter().map(|c| c.name()).collect();
        t.row(vec![
            (*ja4).to_string(),
            thousands(p.connections),
            thousands(p.failed),
            p.highest_version()
                .map_or_else(|| "-".into(), |v| version_name(v).into_owned()),
            if breaks.is_empty() {
                "-".to_string()
            } else {
                breaks.join(", ")
            },
        ]);
    }
    t.write(s);
    more(s, left, "fingerprint");
    let _ = writeln!(
        s,
        "\nWhat breaks (clients that could not connect after the change)"
    );
    let mut t = Table::new(&[
        ("change", Column::Name),
        ("clients", Column::Number),
        ("connections", Column::Number),
    ]);
    for b in what_breaks(agg) {
        t.row(vec![
            b.change.into(),
            thousands(b.clients as u64),
            thousands(b.connections),
        ]);
    }
    t.write(s);
}

/// Whole days from `now` to `not_after` (negative: expired that many days ago).
fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

fn write_certificates(report: &Report, options: &SummaryOptions, s: &mut String) {
    let agg = &report.aggregates;
    let mut certs = certificates_sorted(agg);
    if certs.is_empty() {
        return;
    }
    let capture_end = capture_span(report).map(|(_, end)| end.0.div_euclid(1_000_000_000));
    let Some(now) = options.now.or(capture_end) else {
        return;
    };
    // By days left at `now` (expired first, then soonest to expire), ties in the inventory's
    // order (findings first): "which certificates expire" reads from the top.
    certs.sort_by_key(|e: &&CertEntry| days_left(e.cert.not_after, now));
    let _ = writeln!(
        s,
        "\nCertificates ({} distinct; expired and expiring first; days left at {})",
        certs.len(),
        if options.now.is_some() {
            "--now"
        } else {
            "the capture's end"
        }
    );
    let mut t = Table::new(&[
        ("sha256", Column::Name),
        ("subject", Column::Text),
        ("not after", Column::Name),
        ("days", Column::Number),
        ("conns", Column::Number),
        ("findings", Column::Text),
    ]);
    let (shown, left) = options.cut(&certs);
    for e in certs.iter().take(shown) {
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
        let subject = e
            .cert
            .subject_cn
            .first()
            .map_or_else(|| e.cert.subject.clone(), |cn| format!("CN={cn}"));
        let date = rfc3339_secs(e.cert.not_after);
        t.row(vec![
            e.cert
                .sha256
                .get(..12)
                .unwrap_or(&e.cert.sha256)
                .to_string(),
            subject,
            date.get(..10).unwrap_or(&date).to_string(),
            days_left(e.cert.not_after, now).to_string(),
            thousands(e.connections),
            if findings.is_empty() {
                "-".to_string()
            } else {
                findings.join(", ")
            },
        ]);
    }
    t.write(s);
    more(s, left, "certificate");
}

/// Key-log decryption: connections by level, the secrets missing, the records that had keys and
/// did not decrypt.
fn write_decryption(d: &crate::aggregate::DecryptionStats, s: &mut String) {
    if d.is_empty() {
        return;
    }
    let level = |name| d.levels.get(name).copied().unwrap_or(0);
    let mut text = format!(
        "Decryption (key logs): {} full, {} handshake only, {} none; decryption_failed: {} on {}",
        plural(level("full"), "connection"),
        level("handshake"),
        level("none"),
        plural(d.failed_records, "record"),
        plural(d.failed_connections, "connection"),
    );
    if !d.missing.is_empty() {
        let missing: Vec<String> = d
            .missing
            .iter()
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        text.push_str(&format!("; missing secrets: {}", missing.join(", ")));
    }
    // Within 100 columns, as every line of the summary.
    s.push('\n');
    for (i, line) in wrap(&text, LINE_WIDTH - 2).iter().enumerate() {
        let _ = writeln!(s, "{}{line}", if i == 0 { "" } else { "  " });
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn spans_read_in_the_largest_units_that_fit() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(303), "5 min 3 s");
        assert_eq!(duration(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(duration(86_400 + 3600), "1 day 1 h");
        assert_eq!(duration(181_938 * 3600), "7580 days 18 h");
    }
}
