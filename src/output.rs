//! Output formats: the NDJSON connection log, the JSON report and the terminal summary. The
//! serialization structs here are kept apart from the internal types so that the output
//! contract (field names in `DESIGN.md` and the README) only changes on purpose.

pub mod live;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::aggregate::{Aggregates, Breakdown, Latency, Percentiles, Timings};
use crate::facts::{AlertFact, ChainCert, ConnectionFacts};
use crate::flow::{Endpoint, Timestamp};
use crate::reassembly::CloseReason;
use crate::tls::names::{alert_name, cipher_name, version_name};
use crate::tls::{ClientHello, ServerHello};

/// Version of the output contract; bumped when a field is renamed or removed.
pub const SCHEMA_VERSION: u32 = 1;

/// Formats a capture timestamp as RFC 3339 UTC with microseconds.
pub fn rfc3339_micros(ts: Timestamp) -> String {
    let micros = ts.as_micros();
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let mut s = rfc3339_secs(secs);
    s.pop(); // the trailing 'Z'
    let _ = write!(s, ".{frac:06}Z");
    s
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_secs(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[derive(Serialize)]
struct EndpointOut {
    ip: String,
    port: u16,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        EndpointOut {
            ip: e.ip.to_string(),
            port: e.port,
        }
    }
}

#[derive(Serialize)]
struct FailureOut<'a> {
    cause: &'static str,
    explanation: &'a str,
    inferred: bool,
}

#[derive(Serialize)]
struct TimingOut {
    tcp_handshake: Option<i64>,
    tcp_syn_to_syn_ack: Option<i64>,
    client_hello_to_server_hello: Option<i64>,
    client_hello_to_done: Option<i64>,
}

#[derive(Serialize)]
struct ClientHelloOut<'a> {
    version: u16,
    sslv2_format: bool,
    supported_versions: &'a [u16],
    cipher_suites: &'a [u16],
    compression: &'a [u8],
    extensions: &'a [u16],
    groups: &'a [u16],
    ec_point_formats: &'a [u8],
    key_share_groups: &'a [u16],
    sig_algs: &'a [u16],
    alpn: &'a [String],
    sni: Option<&'a str>,
    session_id_len: u8,
    psk_modes: &'a [u8],
    psk_identities: Option<u16>,
    early_data: bool,
    session_ticket_len: Option<u16>,
    renegotiation_info: bool,
    ech: bool,
    ja3: &'a str,
    ja3_string: &'a str,
    ja4: &'a str,
}

impl<'a> From<&'a ClientHello> for ClientHelloOut<'a> {
    fn from(c: &'a ClientHello) -> Self {
        ClientHelloOut {
            version: c.legacy_version,
            sslv2_format: c.sslv2_format,
            supported_versions: &c.supported_versions,
            cipher_suites: &c.cipher_suites,
            compression: &c.compression,
            extensions: &c.extensions,
            groups: &c.groups,
            ec_point_formats: &c.ec_point_formats,
            key_share_groups: &c.key_share_groups,
            sig_algs: &c.sig_algs,
            alpn: &c.alpn,
            sni: c.sni.as_deref(),
            session_id_len: c.session_id_len,
            psk_modes: &c.psk_modes,
            psk_identities: c.psk_identities,
            early_data: c.early_data,
            session_ticket_len: c.session_ticket_len,
            renegotiation_info: c.renegotiation_info,
            ech: c.ech,
            ja3: &c.ja3,
            ja3_string: &c.ja3_string,
            ja4: &c.ja4,
        }
    }
}

#[derive(Serialize)]
struct ServerHelloOut<'a> {
    version: u16,
    legacy_version: u16,
    sslv2_format: bool,
    cipher: u16,
    compression: u8,
    extensions: &'a [u16],
    group: Option<u16>,
    alpn: Option<&'a str>,
    hrr: bool,
    session_id_len: usize,
    session_id_echo: bool,
    psk_selected: Option<u16>,
    session_ticket: bool,
    renegotiation_info: bool,
    ja3s: &'a str,
    ja3s_string: &'a str,
    ja4s: &'a str,
}

fn server_hello_out<'a>(s: &'a ServerHello, client: Option<&ClientHello>) -> ServerHelloOut<'a> {
    ServerHelloOut {
        version: s.version,
        legacy_version: s.legacy_version,
        sslv2_format: s.sslv2_format,
        cipher: s.cipher,
        compression: s.compression,
        extensions: &s.extensions,
        group: s.selected_group,
        alpn: s.alpn.as_deref(),
        hrr: s.hrr,
        session_id_len: s.session_id.len(),
        session_id_echo: client
            .is_some_and(|c| !s.session_id.is_empty() && c.session_id == s.session_id),
        psk_selected: s.psk_selected,
        session_ticket: s.session_ticket,
        renegotiation_info: s.renegotiation_info,
        ja3s: &s.ja3s,
        ja3s_string: &s.ja3s_string,
        ja4s: &s.ja4s,
    }
}

#[derive(Serialize)]
struct CertOut<'a> {
    sha256: &'a str,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    san_dns: &'a [String],
    san_ip: &'a [String],
    not_before: String,
    not_after: String,
    key_type: &'a str,
    key_bits: Option<u32>,
    key_curve: Option<&'a str>,
    signature_algorithm: &'a str,
    self_signed: bool,
    is_ca: bool,
    parse_error: Option<&'a str>,
    findings: &'a [&'static str],
}

impl<'a> From<&'a ChainCert> for CertOut<'a> {
    fn from(c: &'a ChainCert) -> Self {
        let cert = &c.cert;
        CertOut {
            sha256: &cert.sha256,
            subject: &cert.subject,
            issuer: &cert.issuer,
            serial: &cert.serial,
            san_dns: &cert.san_dns,
            san_ip: &cert.san_ip,
            not_before: rfc3339_secs(cert.not_before),
            not_after: rfc3339_secs(cert.not_after),
            key_type: &cert.key_type,
            key_bits: cert.key_bits,
            key_curve: cert.key_curve.as_deref(),
            signature_algorithm: &cert.signature_algorithm,
            self_signed: cert.self_signed,
            is_ca: cert.is_ca,
            parse_error: cert.parse_error.as_deref(),
            findings: &c.findings,
        }
    }
}

#[derive(Serialize)]
struct AlertOut {
    from: &'static str,
    level: Option<&'static str>,
    description: Option<String>,
    encrypted: bool,
    inferred: bool,
    after: Option<String>,
}

impl From<&AlertFact> for AlertOut {
    fn from(a: &AlertFact) -> Self {
        AlertOut {
            from: a.from.name(),
            level: a.alert.level.map(|l| match l {
                1 => "warning",
                2 => "fatal",
                _ => "unknown",
            }),
            description: a.alert.description.map(|d| alert_name(d).into_owned()),
            encrypted: a.alert.encrypted,
            inferred: a.alert.inferred,
            after: a.after.map(|(side, m)| format!("{}:{m}", side.name())),
        }
    }
}

#[derive(Serialize)]
struct ResumptionOut {
    offered: Vec<&'static str>,
    accepted: Option<&'static str>,
    early_data_offered: bool,
    tickets_issued: u32,
}

#[derive(Serialize)]
struct PerSide {
    client: u64,
    server: u64,
}

#[derive(Serialize)]
struct TcpOut {
    syn_seen: bool,
    syn_data: bool,
    packets: PerSide,
    payload_bytes: PerSide,
    gaps: PerSide,
    gap_bytes: PerSide,
    retransmissions: u64,
    conflicting_overlaps: u64,
    buffer_cap_hits: u64,
    rst_from: Option<&'static str>,
    close: &'static str,
}

/// snake_case name of a close reason.
pub fn close_name(c: CloseReason) -> &'static str {
    match c {
        CloseReason::Fin => "fin",
        CloseReason::Rst => "rst",
        CloseReason::IdleTimeout => "idle_timeout",
        CloseReason::Evicted => "evicted",
        CloseReason::CaptureEnd => "capture_end",
        CloseReason::PortReused => "port_reused",
    }
}

#[derive(Serialize)]
struct ConnectionOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: String,
    client: EndpointOut,
    server: EndpointOut,
    version: Option<String>,
    cipher: Option<String>,
    sni: Option<&'a str>,
    alpn: Option<&'a str>,
    outcome: &'static str,
    failure: Option<FailureOut<'a>>,
    timing_us: TimingOut,
    client_hello: Option<ClientHelloOut<'a>>,
    server_hello: Option<ServerHelloOut<'a>>,
    hello_retry_request: Option<ServerHelloOut<'a>>,
    retry_client_hello: Option<ClientHelloOut<'a>>,
    server_key_exchange_group: Option<u16>,
    certificate_requested: bool,
    certificate_status: bool,
    certificates: Vec<CertOut<'a>>,
    client_certificates: Vec<CertOut<'a>>,
    client_certificate_empty: bool,
    alerts: Vec<AlertOut>,
    messages: Vec<String>,
    resumption: ResumptionOut,
    renegotiations: u32,
    anomalies: &'a BTreeMap<&'static str, u64>,
    tcp: TcpOut,
}

/// Appends one NDJSON connection record (with its newline) to `out`.
pub fn write_connection(f: &ConnectionFacts, out: &mut Vec<u8>) {
    let c = f.client_dir.index();
    let s = f.client_dir.reverse().index();
    let per_side = |v: &[u64; 2]| PerSide {
        client: v[c],
        server: v[s],
    };
    let ch = f.client_hello.as_deref();
    let record = ConnectionOut {
        kind: "connection",
        ts: rfc3339_micros(f.first_ts),
        client: f.client.into(),
        server: f.server.into(),
        version: f.version.map(|v| version_name(v).into_owned()),
        cipher: f.cipher.map(|v| cipher_name(v).into_owned()),
        sni: f.sni.as_deref(),
        alpn: f.alpn.as_deref(),
        outcome: f.outcome.name(),
        failure: f.failure.as_ref().map(|x| FailureOut {
            cause: x.cause.name(),
            explanation: &x.explanation,
            inferred: x.inferred,
        }),
        timing_us: TimingOut {
            tcp_handshake: f.timing.tcp_handshake_us,
            tcp_syn_to_syn_ack: f.timing.tcp_syn_to_syn_ack_us,
            client_hello_to_server_hello: f.timing.client_hello_to_server_hello_us,
            client_hello_to_done: f.timing.client_hello_to_done_us,
        },
        client_hello: ch.map(ClientHelloOut::from),
        server_hello: f.server_hello.as_deref().map(|s| server_hello_out(s, ch)),
        hello_retry_request: f
            .hello_retry_request
            .as_deref()
            .map(|s| server_hello_out(s, ch)),
        retry_client_hello: f.retry_client_hello.as_deref().map(ClientHelloOut::from),
        server_key_exchange_group: f.server_key_exchange_curve,
        certificate_requested: f.certificate_requested,
        certificate_status: f.certificate_status,
        certificates: f.certificates.iter().map(CertOut::from).collect(),
        client_certificates: f.client_certificates.iter().map(CertOut::from).collect(),
        client_certificate_empty: f.client_certificate_empty,
        alerts: f.alerts.iter().map(AlertOut::from).collect(),
        messages: f
            .messages
            .iter()
            .map(|(side, m)| format!("{}:{m}", side.name()))
            .collect(),
        resumption: ResumptionOut {
            offered: f.resumption.offered.iter().map(|m| m.name()).collect(),
            accepted: f.resumption.accepted.map(|m| m.name()),
            early_data_offered: f.resumption.early_data_offered,
            tickets_issued: f.resumption.tickets_issued,
        },
        renegotiations: f.renegotiations,
        anomalies: &f.anomalies,
        tcp: TcpOut {
            syn_seen: f.tcp.syn.is_some(),
            syn_data: f.tcp.syn_data,
            packets: per_side(&f.tcp.packets),
            payload_bytes: per_side(&f.tcp.payload_bytes),
            gaps: per_side(&f.tcp.gaps),
            gap_bytes: per_side(&f.tcp.gap_bytes),
            retransmissions: f.tcp.retransmissions,
            conflicting_overlaps: f.tcp.conflicting_overlaps,
            buffer_cap_hits: f.tcp.buffer_cap_hits,
            rst_from: f.tcp.rst.map(|(dir, _)| {
                if dir == f.client_dir {
                    "client"
                } else {
                    "server"
                }
            }),
            close: close_name(f.close),
        },
    };
    // Serializing plain structs of strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &record);
    out.push(b'\n');
}

/// Counters of the input side: what was read and what could not be decoded.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InputStats {
    /// Frames read.
    pub packets: u64,
    /// Bytes of frames read (captured length).
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// Well-formed packets that are not TCP.
    pub not_tcp: u64,
    /// IP fragments held for reassembly.
    pub ip_fragments: u64,
    /// IP datagrams rebuilt from fragments.
    pub ip_datagrams_reassembled: u64,
    /// Incomplete IP datagrams dropped (timeout, caps, inconsistent fragments): their
    /// fragments were counted but not analysed.
    pub ip_datagrams_dropped: u64,
    /// Frames that could not be decoded, by kind.
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// TCP connections tracked (TLS or not).
    pub tcp_connections: u64,
    /// TCP connections on which no TLS was found.
    pub tcp_connections_without_tls: u64,
    /// Connections evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Gaps forced by the per-flow buffer cap.
    pub flow_buffer_cap_hits: u64,
    /// Gaps forced by the global buffer cap.
    pub total_buffer_cap_hits: u64,
    /// Frames stamped earlier than the frame before them in the same file.
    pub timestamps_backwards: u64,
    /// Frames captured shorter than on the wire (cut by the snap length).
    pub snaplen_truncated: u64,
}

/// One input file and how reading it ended.
#[derive(Clone, Debug, Serialize)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// Frames read from it.
    pub packets: u64,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

#[derive(Serialize)]
struct PercentilesOut {
    count: u64,
    p50: u64,
    p90: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

impl From<Percentiles> for PercentilesOut {
    fn from(p: Percentiles) -> Self {
        PercentilesOut {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p95: p.p95,
            p99: p.p99,
            max: p.max,
        }
    }
}

#[derive(Serialize)]
struct TimingsOut {
    tcp_handshake: PercentilesOut,
    client_hello_to_server_hello: PercentilesOut,
    client_hello_to_done: PercentilesOut,
}

impl From<&Timings> for TimingsOut {
    fn from(t: &Timings) -> Self {
        let p = |l: &Latency| PercentilesOut::from(l.percentiles());
        TimingsOut {
            tcp_handshake: p(&t.tcp_handshake),
            client_hello_to_server_hello: p(&t.client_hello_to_server_hello),
            client_hello_to_done: p(&t.client_hello_to_done),
        }
    }
}

#[derive(Serialize)]
struct ServerOut<'a> {
    server: &'a str,
    connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
    latency_us: TimingsOut,
}

#[derive(Serialize)]
struct CountOut {
    name: String,
    code: Option<u16>,
    count: u64,
}

#[derive(Serialize)]
struct AlertCountOut<'a> {
    from: &'static str,
    description: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct ReportOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema_version: u32,
    tool: String,
    inputs: &'a [InputFile],
    summary: SummaryOut<'a>,
    versions_negotiated: Vec<CountOut>,
    versions_offered_highest: Vec<CountOut>,
    ciphers: Vec<CountOut>,
    alerts: Vec<AlertCountOut<'a>>,
    resumed: &'a BTreeMap<&'static str, u64>,
    latency_us: TimingsOut,
    servers: Vec<ServerOut<'a>>,
    anomalies: &'a BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    input: &'a InputStats,
    tls_connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
}

/// Everything the JSON report and the terminal summary are made from.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Input files.
    pub inputs: Vec<InputFile>,
    /// Input-side counters.
    pub input: InputStats,
    /// Aggregates over all connections.
    pub aggregates: Aggregates,
}

/// Counts sorted by count (descending), then code, for stable, readable censuses.
fn census(map: &BTreeMap<u16, u64>, name: impl Fn(u16) -> String) -> Vec<CountOut> {
    let mut v: Vec<CountOut> = map
        .iter()
        .map(|(&code, &count)| CountOut {
            name: name(code),
            code: Some(code),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    v
}

fn named<K: Copy + Ord>(
    map: &BTreeMap<K, u64>,
    name: impl Fn(K) -> &'static str,
) -> BTreeMap<&'static str, u64> {
    map.iter().map(|(&k, &n)| (name(k), n)).collect()
}

/// Servers by connection count (descending), then name.
fn servers_sorted(agg: &Aggregates) -> Vec<(&String, &Breakdown)> {
    let mut v: Vec<_> = agg.servers.iter().collect();
    v.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    v
}

/// The per-server entries of the report (and of live windows).
fn servers_out(agg: &Aggregates) -> Vec<ServerOut<'_>> {
    servers_sorted(agg)
        .into_iter()
        .map(|(label, s)| ServerOut {
            server: label,
            connections: s.connections,
            outcomes: named(&s.outcomes, |o| o.name()),
            failure_causes: named(&s.failure_causes, |c| c.name()),
            latency_us: TimingsOut::from(&s.timings),
        })
        .collect()
}

/// Writes the whole report as one JSON document.
pub fn write_report(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let agg = &report.aggregates;
    let doc = ReportOut {
        kind: "report",
        schema_version: SCHEMA_VERSION,
        tool: format!("tlsight {}", env!("CARGO_PKG_VERSION")),
        inputs: &report.inputs,
        summary: SummaryOut {
            input: &report.input,
            tls_connections: agg.all.connections,
            outcomes: named(&agg.all.outcomes, |o| o.name()),
            failure_causes: named(&agg.all.failure_causes, |c| c.name()),
        },
        versions_negotiated: census(&agg.versions, |v| version_name(v).into_owned()),
        versions_offered_highest: census(&agg.offered_versions, |v| version_name(v).into_owned()),
        ciphers: census(&agg.ciphers, |c| cipher_name(c).into_owned()),
        alerts: agg
            .alerts
            .iter()
            .map(|((from, desc), &count)| AlertCountOut {
                from,
                description: desc,
                count,
            })
            .collect(),
        resumed: &agg.resumed,
        latency_us: TimingsOut::from(&agg.all.timings),
        servers: servers_out(agg),
        anomalies: &agg.anomalies,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

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
        inp.packets, inp.bytes, inp.tcp_connections, agg.all.connections
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
        let _ = writeln!(s, "  {:<28} {n:>10}", o.name());
    }
    if !agg.all.failure_causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes");
        for (c, n) in &agg.all.failure_causes {
            let _ = writeln!(s, "  {:<28} {n:>10}", c.name());
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
    let servers = servers_sorted(agg);
    if !servers.is_empty() {
        let _ = writeln!(s, "\nServers (top 10 by connections; ClientHello→done ms)");
        let _ = writeln!(
            s,
            "  {:<40} {:>7} {:>7} {:>9} {:>9}",
            "server", "conns", "failed", "p50", "p95"
        );
        for (label, st) in servers.iter().take(10) {
            let p = st.timings.client_hello_to_done.percentiles();
            let failed: u64 = st
                .outcomes
                .iter()
                .filter(|(o, _)| {
                    !matches!(
                        o,
                        crate::facts::Outcome::Established | crate::facts::Outcome::Resumed
                    )
                })
                .map(|(_, n)| n)
                .sum();
            let _ = writeln!(
                s,
                "  {:<40} {:>7} {:>7} {:>9} {:>9}",
                label,
                st.connections,
                failed,
                ms(p.p50),
                ms(p.p95)
            );
        }
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_micros(Timestamp::from_parts(1_700_000_000, 123_456_789)),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
