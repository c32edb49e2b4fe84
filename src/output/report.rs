//! The JSON report (`--json`): input counters and every aggregate, serialized through
//! output types kept apart from the internal ones.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

use super::SCHEMA_VERSION;
use super::record::CertOut;
use super::time::Rfc3339;
use super::{failed, timeline};
use crate::flow::Timestamp;

use crate::aggregate::{
    Aggregates, Breakdown, CertEntry, ClientProfile, DecryptionStats, Latency, Merge,
    OTHER_SERVERS, Percentiles, ResumptionStats, ServerEntry, Timings, WithoutTlsCounts,
};
use crate::facts::{Finding, Mechanism, WithoutTls};
use crate::tls::names::{cipher_name, group_is_post_quantum, group_name, version_name};

/// Counters of the input side: what was read and what could not be decoded.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct InputStats {
    /// Frames read.
    pub packets: u64,
    /// Bytes of frames read (captured length).
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// UDP datagrams decoded (each goes to its flow's worker; see `udp_not_tls`).
    #[serde(default)]
    pub udp_datagrams: u64,
    /// Well-formed packets that are neither TCP nor UDP.
    pub not_tcp: u64,
    /// IP fragments held for reassembly.
    pub ip_fragments: u64,
    /// IP datagrams rebuilt from fragments.
    pub ip_datagrams_reassembled: u64,
    /// Incomplete IP datagrams dropped (timeout, caps, inconsistent fragments): their
    /// fragments were counted but not analysed.
    pub ip_datagrams_dropped: u64,
    /// Frames that could not be decoded, by kind.
    #[serde(deserialize_with = "crate::aggregate::codec::static_keys")]
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// What the workers counted of the flows they tracked.
    #[serde(flatten)]
    pub flows: FlowCounts,
    /// Frames stamped earlier than the frame before them in the same file.
    pub timestamps_backwards: u64,
    /// Frames captured shorter than on the wire (cut by the snap length).
    pub snaplen_truncated: u64,
    /// Frames the `-f` filter did not match (not counted in `packets` or `bytes`).
    #[serde(default)]
    pub filtered_out: u64,
    /// Their bytes (for progress only).
    #[serde(skip)]
    pub filtered_out_bytes: u64,
}

/// What the workers count of the flows they track, summed over workers with `+=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FlowCounts {
    /// TCP connections tracked (TLS or not).
    pub tcp_connections: u64,
    /// TCP connections on which no TLS was found.
    pub tcp_connections_without_tls: u64,
    /// Connections evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Connections that had not carried a byte evicted because the half-open table was full
    /// (absent from reports written before the half-open table: read as 0).
    #[serde(default)]
    pub half_open_evicted: u64,
    /// Gaps forced by the per-flow buffer cap.
    pub flow_buffer_cap_hits: u64,
    /// Gaps forced by the global buffer cap.
    pub total_buffer_cap_hits: u64,
    /// UDP flows tracked: a datagram started QUIC or a DTLS handshake on them.
    #[serde(default)]
    pub udp_flows: u64,
    /// UDP flows on which no hello was read (Google QUIC, undecryptable Initials).
    #[serde(default)]
    pub udp_flows_without_tls: u64,
    /// UDP flows evicted because their flow table was full.
    #[serde(default)]
    pub udp_flows_evicted: u64,
    /// UDP flows closed because more than `--max-unanswered` waited for their server's first
    /// datagram (the oldest of them; their records say `close` `evicted`).
    #[serde(default)]
    pub udp_unanswered_evicted: u64,
    /// Datagrams of untracked UDP flows that started neither QUIC nor DTLS: counted, never
    /// kept (a flood of random UDP costs no memory).
    #[serde(default)]
    pub udp_not_tls: u64,
    /// QUIC flows whose record was written when their handshake was confirmed (without key
    /// logs), not when they ended; they are held, without their handshake, until idle.
    #[serde(default)]
    pub udp_recorded_at_confirmation: u64,
    /// Datagrams those flows carried after their record was written: counted, not read.
    #[serde(default)]
    pub udp_datagrams_after_record: u64,
    /// TLS connections left out by `--server`, `--sni` or `--client`.
    #[serde(default)]
    pub out_of_scope: u64,
}

impl std::ops::AddAssign for FlowCounts {
    fn add_assign(&mut self, other: Self) {
        self.tcp_connections += other.tcp_connections;
        self.tcp_connections_without_tls += other.tcp_connections_without_tls;
        self.flows_evicted += other.flows_evicted;
        self.half_open_evicted += other.half_open_evicted;
        self.flow_buffer_cap_hits += other.flow_buffer_cap_hits;
        self.total_buffer_cap_hits += other.total_buffer_cap_hits;
        self.udp_flows += other.udp_flows;
        self.udp_flows_without_tls += other.udp_flows_without_tls;
        self.udp_flows_evicted += other.udp_flows_evicted;
        self.udp_unanswered_evicted += other.udp_unanswered_evicted;
        self.udp_not_tls += other.udp_not_tls;
        self.udp_recorded_at_confirmation += other.udp_recorded_at_confirmation;
        self.udp_datagrams_after_record += other.udp_datagrams_after_record;
        self.out_of_scope += other.out_of_scope;
    }
}

/// One input file and how reading it ended.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// Frames read from it.
    pub packets: u64,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
    /// The time span it covers: offline, its first and last packet's timestamps; live, when
    /// capture started and stopped. `None` for a file without packets.
    #[serde(
        serialize_with = "optional_time",
        deserialize_with = "optional_time_text"
    )]
    pub start: Option<Timestamp>,
    /// See `start`.
    #[serde(
        serialize_with = "optional_time",
        deserialize_with = "optional_time_text"
    )]
    pub end: Option<Timestamp>,
}

/// Reads back an optional time written by [`optional_time`].
fn optional_time_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Timestamp>, D::Error> {
    use serde::Deserialize as _;
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => super::time::parse_rfc3339(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}"))),
    }
}

/// An optional capture time as RFC 3339 with microseconds, or null.
fn optional_time<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    t.map(Rfc3339::micros).serialize(s)
}

/// Percentiles in microseconds; null without samples (a 0 would read as "instant").
#[derive(Serialize)]
pub(super) struct PercentilesOut {
    pub(super) count: u64,
    pub(super) p50: Option<u64>,
    pub(super) p90: Option<u64>,
    pub(super) p95: Option<u64>,
    pub(super) p99: Option<u64>,
    pub(super) max: Option<u64>,
}

impl From<Percentiles> for PercentilesOut {
    fn from(p: Percentiles) -> Self {
        let some = |v| (p.count > 0).then_some(v);
        PercentilesOut {
            count: p.count,
            p50: some(p.p50),
            p90: some(p.p90),
            p95: some(p.p95),
            p99: some(p.p99),
            max: some(p.max),
        }
    }
}

#[derive(Serialize)]
pub(super) struct TimingsOut {
    pub(super) tcp_handshake: PercentilesOut,
    pub(super) client_hello_to_server_hello: PercentilesOut,
    pub(super) client_hello_to_done: PercentilesOut,
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
pub(super) struct ServerOut<'a> {
    pub(super) server: &'a str,
    pub(super) connections: u64,
    pub(super) outcomes: BTreeMap<&'static str, u64>,
    pub(super) failure_causes: BTreeMap<&'static str, u64>,
    pub(super) failure_causes_ranked: Vec<CauseCountOut>,
    pub(super) latency_us: TimingsOut,
    pub(super) above_slo: Option<bool>,
    pub(super) resumption: ResumptionStatsOut,
    pub(super) transports: Vec<ServerTransportOut>,
}

/// One transport's share of a server's connections (`servers[].transports`): a server reached
/// over both TCP and QUIC shows each one's connections, outcomes and failure causes.
#[derive(Serialize)]
pub(super) struct ServerTransportOut {
    pub(super) transport: &'static str,
    pub(super) connections: u64,
    pub(super) outcomes: BTreeMap<&'static str, u64>,
    pub(super) failure_causes: BTreeMap<&'static str, u64>,
}

/// One transport's connections (`transports` in the report).
#[derive(Serialize)]
pub(super) struct TransportOut {
    pub(super) transport: &'static str,
    pub(super) connections: u64,
    pub(super) outcomes: BTreeMap<&'static str, u64>,
    pub(super) failure_causes: BTreeMap<&'static str, u64>,
    pub(super) latency_us: TimingsOut,
    pub(super) resumption: ResumptionStatsOut,
}

/// The per-transport entries, in name order.
pub(super) fn transport_entries(agg: &Aggregates) -> Vec<TransportOut> {
    agg.by_transport
        .iter()
        .map(|(&transport, b)| TransportOut {
            transport,
            connections: b.connections,
            outcomes: named(&b.outcomes, |o| o.name()),
            failure_causes: named(&b.failure_causes, |c| c.name()),
            latency_us: TimingsOut::from(&b.timings),
            resumption: ResumptionStatsOut::from(&b.resumption),
        })
        .collect()
}

#[derive(Serialize)]
pub(super) struct CauseCountOut {
    pub(super) cause: &'static str,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct ServerCauseOut<'a> {
    pub(super) server: &'a str,
    pub(super) cause: &'static str,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct MechanismOut {
    pub(super) mechanism: &'static str,
    pub(super) offered: u64,
    pub(super) accepted: u64,
}

#[derive(Serialize)]
pub(super) struct ResumptionStatsOut {
    pub(super) attempts: u64,
    pub(super) hits: u64,
    pub(super) hit_rate: Option<f64>,
    pub(super) by_mechanism: Vec<MechanismOut>,
    pub(super) tickets_issued: u64,
    pub(super) early_data_offered: u64,
    pub(super) early_data_accepted: u64,
}

impl From<&ResumptionStats> for ResumptionStatsOut {
    fn from(r: &ResumptionStats) -> Self {
        ResumptionStatsOut {
            attempts: r.attempts,
            hits: r.hits,
            hit_rate: r.hit_rate().map(round4),
            by_mechanism: Mechanism::ALL
                .iter()
                .map(|&m| MechanismOut {
                    mechanism: m.name(),
                    offered: r.offered[m.index()],
                    accepted: r.accepted[m.index()],
                })
                .collect(),
            tickets_issued: r.tickets_issued,
            early_data_offered: r.early_data_offered,
            early_data_accepted: r.early_data_accepted,
        }
    }
}

/// Rounds a ratio to four decimals so that reports stay stable and readable.
pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[derive(Serialize)]
pub(super) struct VersionLatencyOut {
    pub(super) version: Option<String>,
    pub(super) code: Option<u16>,
    pub(super) latency_us: TimingsOut,
}

#[derive(Serialize)]
pub(super) struct OutcomeLatencyOut {
    pub(super) outcome: &'static str,
    pub(super) latency_us: TimingsOut,
}

#[derive(Serialize)]
pub(super) struct SloServerOut<'a> {
    pub(super) server: &'a str,
    pub(super) connections: u64,
    pub(super) p95_us: u64,
}

#[derive(Serialize)]
pub(super) struct GroupCountOut {
    pub(super) name: String,
    pub(super) code: u16,
    pub(super) post_quantum: bool,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct NameCountOut<'a> {
    pub(super) name: &'a str,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct EchOut {
    pub(super) offered: u64,
    pub(super) confirmed: u64,
    pub(super) unconfirmed: u64,
}

#[derive(Serialize)]
pub(super) struct ClientOut<'a> {
    pub(super) ja4: &'a str,
    pub(super) ja3: Vec<NameCountOut<'a>>,
    pub(super) connections: u64,
    pub(super) unsuccessful: u64,
    pub(super) failed: u64,
    pub(super) highest_version: Option<String>,
    pub(super) versions: Vec<String>,
    pub(super) cipher_suites: &'a BTreeSet<u16>,
    pub(super) groups: Vec<String>,
    pub(super) post_quantum: bool,
    pub(super) alpn: Vec<NameCountOut<'a>>,
    pub(super) servers: Vec<NameCountOut<'a>>,
    pub(super) breaks_if: Vec<&'static str>,
}

impl<'a> ClientOut<'a> {
    fn new(ja4: &'a str, p: &'a ClientProfile) -> Self {
        ClientOut {
            ja4,
            ja3: name_counts(&p.ja3.ranked()),
            connections: p.connections,
            unsuccessful: p.unsuccessful,
            failed: p.failed,
            highest_version: p.highest_version().map(|v| version_name(v).into_owned()),
            versions: p
                .versions
                .iter()
                .rev()
                .map(|&v| version_name(v).into_owned())
                .collect(),
            cipher_suites: &p.ciphers,
            groups: p
                .groups
                .iter()
                .map(|&g| group_name(g).into_owned())
                .collect(),
            post_quantum: p.groups.iter().any(|&g| group_is_post_quantum(g)),
            alpn: name_counts(&p.alpn.ranked()),
            servers: name_counts(&p.servers.ranked()),
            breaks_if: p.breaks().iter().map(|c| c.name()).collect(),
        }
    }
}

pub(super) fn name_counts<'a>(v: &[(&'a str, u64)]) -> Vec<NameCountOut<'a>> {
    v.iter()
        .map(|&(name, count)| NameCountOut { name, count })
        .collect()
}

#[derive(Serialize)]
pub(super) struct BreakOut<'a> {
    pub(super) change: &'static str,
    pub(super) clients: usize,
    pub(super) connections: u64,
    pub(super) fingerprints: Vec<&'a str>,
}

#[derive(Serialize)]
pub(super) struct InventoryCertOut<'a> {
    pub(super) certificate: CertOut<'a>,
    pub(super) leaf: bool,
    pub(super) client_certificate: bool,
    pub(super) connections: u64,
    pub(super) servers: Vec<NameCountOut<'a>>,
    pub(super) connection_findings: &'a BTreeMap<Finding, u64>,
}

impl<'a> From<&'a CertEntry> for InventoryCertOut<'a> {
    fn from(e: &'a CertEntry) -> Self {
        InventoryCertOut {
            certificate: CertOut {
                cert: &e.cert,
                findings: &e.findings,
            },
            leaf: e.chain_position == 0,
            client_certificate: e.client_certificate,
            connections: e.connections,
            servers: name_counts(&e.servers.ranked()),
            connection_findings: &e.connection_findings,
        }
    }
}

#[derive(Serialize)]
pub(super) struct RenegotiationStatsOut {
    pub(super) connections: u64,
    pub(super) client_initiated: u64,
    pub(super) server_initiated: u64,
    pub(super) completed: u64,
    pub(super) secure_supported: u64,
    pub(super) secure_unsupported: u64,
}

#[derive(Serialize)]
pub(super) struct CountOut {
    pub(super) name: String,
    pub(super) code: Option<u16>,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct AlertCountOut<'a> {
    pub(super) from: &'static str,
    pub(super) description: &'a str,
    pub(super) count: u64,
}

#[derive(Serialize)]
pub(super) struct ReportOut<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) schema_version: u32,
    pub(super) tool: String,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub(super) sensors: &'a BTreeSet<String>,
    pub(super) inputs: &'a [InputFile],
    pub(super) summary: SummaryOut<'a>,
    pub(super) versions_negotiated: Vec<CountOut>,
    pub(super) versions_offered_highest: Vec<CountOut>,
    pub(super) ciphers: Vec<CountOut>,
    pub(super) alerts: Vec<AlertCountOut<'a>>,
    pub(super) resumed: &'a BTreeMap<&'static str, u64>,
    pub(super) latency_us: TimingsOut,
    pub(super) servers: Vec<ServerOut<'a>>,
    pub(super) anomalies: &'a BTreeMap<&'static str, u64>,
    pub(super) failure_causes_ranked: Vec<CauseCountOut>,
    pub(super) failure_causes_by_server: Vec<ServerCauseOut<'a>>,
    pub(super) latency_by_version_us: Vec<VersionLatencyOut>,
    pub(super) latency_by_outcome_us: Vec<OutcomeLatencyOut>,
    pub(super) slo_p95_ms: Option<f64>,
    pub(super) servers_above_slo: Vec<SloServerOut<'a>>,
    pub(super) resumption: ResumptionStatsOut,
    pub(super) groups_negotiated: Vec<GroupCountOut>,
    pub(super) groups_offered: Vec<GroupCountOut>,
    pub(super) post_quantum: PostQuantumOut,
    pub(super) alpn_offered: Vec<NameCountOut<'a>>,
    pub(super) alpn_negotiated: Vec<NameCountOut<'a>>,
    pub(super) ech: EchOut,
    pub(super) clients: Vec<ClientOut<'a>>,
    pub(super) what_breaks: Vec<BreakOut<'a>>,
    pub(super) certificates: Vec<InventoryCertOut<'a>>,
    pub(super) certificates_not_listed: u64,
    pub(super) renegotiation: RenegotiationStatsOut,
    #[serde(skip_serializing_if = "DecryptionStats::is_empty")]
    pub(super) decryption: &'a DecryptionStats,
    pub(super) timeline: timeline::TimelineOut,
    pub(super) failed_connections_per_cause: usize,
    pub(super) failed_connections: Vec<failed::FailedOut<'a>>,
    pub(super) failed_connections_not_listed: BTreeMap<&'static str, u64>,
    pub(super) tcp_without_tls_by_server: Vec<ServerWithoutTlsOut>,
    pub(super) transports: Vec<TransportOut>,
    pub(super) merge_state: MergeStateOut,
}

/// The aggregates in the form `tlsight merge` reads back (see [`crate::aggregate::codec`]),
/// written compactly on one line: it is for tlsight, the fields above are for people.
#[derive(Serialize)]
pub(super) struct MergeStateOut {
    pub(super) format: u32,
    pub(super) aggregates: Box<serde_json::value::RawValue>,
}

/// TCP connections without TLS by how they went (see [`WithoutTls`]): the failures before
/// TLS (`tcp_refused`, `tcp_no_answer`, `closed_before_hello`), then `not_tls` and `no_syn`.
#[derive(Serialize)]
pub(super) struct WithoutTlsOut {
    pub(super) connections: u64,
    pub(super) tcp_refused: u64,
    pub(super) tcp_no_answer: u64,
    pub(super) closed_before_hello: u64,
    pub(super) not_tls: u64,
    pub(super) no_syn: u64,
}

impl From<&WithoutTlsCounts> for WithoutTlsOut {
    fn from(c: &WithoutTlsCounts) -> Self {
        WithoutTlsOut {
            connections: c.total(),
            tcp_refused: c.of(WithoutTls::Refused),
            tcp_no_answer: c.of(WithoutTls::NoAnswer),
            closed_before_hello: c.of(WithoutTls::ClosedBeforeHello),
            not_tls: c.of(WithoutTls::NotTls),
            no_syn: c.of(WithoutTls::NoSyn),
        }
    }
}

#[derive(Serialize)]
pub(super) struct ServerWithoutTlsOut {
    pub(super) server: String,
    #[serde(flatten)]
    pub(super) counts: WithoutTlsOut,
}

#[derive(Serialize)]
pub(super) struct PostQuantumOut {
    pub(super) offered: u64,
    pub(super) negotiated: u64,
}

#[derive(Serialize)]
pub(super) struct SummaryOut<'a> {
    pub(super) input: &'a InputStats,
    pub(super) tls_connections: u64,
    pub(super) outcomes: BTreeMap<&'static str, u64>,
    pub(super) failure_causes: BTreeMap<&'static str, u64>,
    pub(super) tcp_without_tls: WithoutTlsOut,
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
    /// `--slo-p95-ms`: servers whose p95 ClientHello → done time is above it are flagged.
    pub slo_p95_ms: Option<f64>,
    /// Reading was stopped by a signal (Ctrl-C): the report covers what was read until then.
    pub interrupted: bool,
    /// The sensors whose traffic it covers (`--sensor`; several after `tlsight merge`).
    pub sensors: BTreeSet<String>,
}

impl Report {
    /// Whether a server's p95 handshake time is above the SLO (`None` without an SLO or
    /// without a completed handshake to judge by).
    pub fn above_slo(&self, b: &Breakdown) -> Option<bool> {
        let slo = self.slo_p95_ms?;
        let p = b.timings.client_hello_to_done.percentiles();
        (p.count > 0).then_some(p.p95 as f64 > slo * 1000.0)
    }

    /// Servers above the SLO, by p95 (descending), then name.
    pub(super) fn servers_above_slo(&self) -> Vec<(&str, &Breakdown, u64)> {
        let mut v: Vec<_> = server_list(&self.aggregates)
            .filter(|(_, b)| self.above_slo(b) == Some(true))
            .map(|(label, s)| {
                let p95 = s.timings.client_hello_to_done.percentiles().p95;
                (label, &s.all, p95)
            })
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
        v
    }
}

/// TCP connections without TLS over all servers.
pub(super) fn without_tls_total(agg: &Aggregates) -> WithoutTlsCounts {
    let mut total = agg.without_tls.other;
    for counts in agg.without_tls.entries.values() {
        total.merge_in(*counts);
    }
    total
}

/// Servers with TCP connections without TLS, most failures before TLS first (then most
/// connections, then address), the pooled ones last as [`OTHER_SERVERS`].
pub(super) fn without_tls_by_server(agg: &Aggregates) -> Vec<ServerWithoutTlsOut> {
    let mut v: Vec<_> = agg.without_tls.entries.iter().collect();
    v.sort_by(|a, b| {
        (b.1.failures(), b.1.total())
            .cmp(&(a.1.failures(), a.1.total()))
            .then(a.0.cmp(b.0))
    });
    let mut out: Vec<_> = v
        .into_iter()
        .map(|(server, counts)| ServerWithoutTlsOut {
            server: server.to_string(),
            counts: WithoutTlsOut::from(counts),
        })
        .collect();
    let other = &agg.without_tls.other;
    if other.total() > 0 {
        out.push(ServerWithoutTlsOut {
            server: OTHER_SERVERS.to_string(),
            counts: WithoutTlsOut::from(other),
        });
    }
    out
}

/// Failure causes per server, most frequent first (then server, then cause).
pub(super) fn causes_by_server(agg: &Aggregates) -> Vec<ServerCauseOut<'_>> {
    let mut v: Vec<_> = server_list(agg)
        .flat_map(|(label, b)| {
            b.failure_causes.iter().map(|(c, &count)| ServerCauseOut {
                server: label,
                cause: c.name(),
                count,
            })
        })
        .collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.server.cmp(b.server))
            .then(a.cause.cmp(b.cause))
    });
    v
}

pub(super) fn ranked_causes(b: &Breakdown) -> Vec<CauseCountOut> {
    b.ranked_causes()
        .into_iter()
        .map(|(c, count)| CauseCountOut {
            cause: c.name(),
            count,
        })
        .collect()
}

pub(super) fn group_census(map: &BTreeMap<u16, u64>) -> Vec<GroupCountOut> {
    let mut v: Vec<_> = map
        .iter()
        .map(|(&code, &count)| GroupCountOut {
            name: group_name(code).into_owned(),
            code,
            post_quantum: group_is_post_quantum(code),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    v
}

/// Client profiles by connections (descending), then fingerprint.
pub(super) fn clients_sorted(agg: &Aggregates) -> Vec<(&str, &ClientProfile)> {
    let mut v: Vec<_> = agg
        .clients
        .entries
        .iter()
        .map(|(k, p)| (k.as_str(), p))
        .collect();
    v.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    v
}

/// Inventory: certificates with findings first, then by connections, then hash.
pub(super) fn certificates_sorted(agg: &Aggregates) -> Vec<&CertEntry> {
    let mut v: Vec<_> = agg.certificates.entries.values().collect();
    let findings = |e: &CertEntry| e.findings.len() + e.connection_findings.len();
    v.sort_by(|a, b| {
        findings(b)
            .cmp(&findings(a))
            .then(b.connections.cmp(&a.connections))
            .then(a.cert.sha256.cmp(&b.cert.sha256))
    });
    v
}

pub(super) fn what_breaks(agg: &Aggregates) -> Vec<BreakOut<'_>> {
    agg.what_breaks()
        .into_iter()
        .map(|(change, clients)| BreakOut {
            change: change.name(),
            clients: clients.len(),
            connections: clients.iter().map(|(_, p)| p.connections).sum(),
            fingerprints: clients.iter().map(|&(ja4, _)| ja4).collect(),
        })
        .collect()
}

/// Counts sorted by count (descending), then code, for stable, readable censuses.
pub(super) fn census(map: &BTreeMap<u16, u64>, name: impl Fn(u16) -> String) -> Vec<CountOut> {
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

pub(super) fn named<K: Copy + Ord>(
    map: &BTreeMap<K, u64>,
    name: impl Fn(K) -> &'static str,
) -> BTreeMap<&'static str, u64> {
    map.iter().map(|(&k, &n)| (name(k), n)).collect()
}

/// Every server entry, the pooled ones as [`OTHER_SERVERS`], in name order.
pub(super) fn server_list(agg: &Aggregates) -> impl Iterator<Item = (&str, &ServerEntry)> {
    let other = &agg.servers.other;
    agg.servers
        .entries
        .iter()
        .map(|(label, b)| (label.as_str(), b))
        .chain((other.connections > 0).then_some((OTHER_SERVERS, other)))
}

/// Servers by connection count (descending), then name.
pub(super) fn servers_sorted(agg: &Aggregates) -> Vec<(&str, &ServerEntry)> {
    let mut v: Vec<_> = server_list(agg).collect();
    v.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    v
}

/// The per-server entries of live windows (which judge SLOs with their own alerts).
pub(super) fn servers_out(agg: &Aggregates) -> Vec<ServerOut<'_>> {
    server_entries(agg, |_| None)
}

/// The per-server entries, most connections first, with an SLO verdict from `above_slo`.
pub(super) fn server_entries(
    agg: &Aggregates,
    above_slo: impl Fn(&Breakdown) -> Option<bool>,
) -> Vec<ServerOut<'_>> {
    servers_sorted(agg)
        .into_iter()
        .map(|(label, s)| ServerOut {
            server: label,
            connections: s.connections,
            outcomes: named(&s.outcomes, |o| o.name()),
            failure_causes: named(&s.failure_causes, |c| c.name()),
            failure_causes_ranked: ranked_causes(s),
            latency_us: TimingsOut::from(&s.timings),
            above_slo: above_slo(s),
            resumption: ResumptionStatsOut::from(&s.resumption),
            transports: s
                .transports
                .iter()
                .map(|(&transport, share)| ServerTransportOut {
                    transport,
                    connections: share.connections,
                    outcomes: named(&share.outcomes, |o| o.name()),
                    failure_causes: named(&share.failure_causes, |c| c.name()),
                })
                .collect(),
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
        sensors: &report.sensors,
        inputs: &report.inputs,
        summary: SummaryOut {
            input: &report.input,
            tls_connections: agg.all.connections,
            outcomes: named(&agg.all.outcomes, |o| o.name()),
            failure_causes: named(&agg.all.failure_causes, |c| c.name()),
            tcp_without_tls: WithoutTlsOut::from(&without_tls_total(agg)),
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
        servers: server_entries(agg, |b| report.above_slo(b)),
        anomalies: &agg.anomalies,
        failure_causes_ranked: ranked_causes(&agg.all),
        failure_causes_by_server: causes_by_server(agg),
        latency_by_version_us: agg
            .by_version
            .iter()
            .map(|(&v, t)| VersionLatencyOut {
                version: v.map(|v| version_name(v).into_owned()),
                code: v,
                latency_us: TimingsOut::from(t),
            })
            .collect(),
        latency_by_outcome_us: agg
            .by_outcome
            .iter()
            .map(|(o, t)| OutcomeLatencyOut {
                outcome: o.name(),
                latency_us: TimingsOut::from(t),
            })
            .collect(),
        slo_p95_ms: report.slo_p95_ms,
        servers_above_slo: report
            .servers_above_slo()
            .into_iter()
            .map(|(server, b, p95_us)| SloServerOut {
                server,
                connections: b.connections,
                p95_us,
            })
            .collect(),
        resumption: ResumptionStatsOut::from(&agg.all.resumption),
        groups_negotiated: group_census(&agg.groups_negotiated),
        groups_offered: group_census(&agg.groups_offered.counts()),
        post_quantum: PostQuantumOut {
            offered: agg.post_quantum_offered,
            negotiated: agg
                .groups_negotiated
                .iter()
                .filter(|(g, _)| group_is_post_quantum(**g))
                .map(|(_, n)| n)
                .sum(),
        },
        alpn_offered: name_counts(&agg.alpn_offered.ranked()),
        alpn_negotiated: name_counts(&agg.alpn_negotiated.ranked()),
        ech: EchOut {
            offered: agg.ech.offered,
            confirmed: agg.ech.confirmed,
            unconfirmed: agg.ech.offered - agg.ech.confirmed,
        },
        clients: clients_sorted(agg)
            .into_iter()
            .map(|(ja4, p)| ClientOut::new(ja4, p))
            .collect(),
        what_breaks: what_breaks(agg),
        certificates: certificates_sorted(agg)
            .into_iter()
            .map(InventoryCertOut::from)
            .collect(),
        certificates_not_listed: agg.certificates.other.connections,
        renegotiation: RenegotiationStatsOut {
            connections: agg.renegotiation.connections,
            client_initiated: agg.renegotiation.client_initiated,
            server_initiated: agg.renegotiation.server_initiated,
            completed: agg.renegotiation.completed,
            secure_supported: agg.renegotiation.secure_supported,
            secure_unsupported: agg.renegotiation.secure_unsupported,
        },
        decryption: &agg.decryption,
        timeline: timeline::TimelineOut::from(&agg.timeline),
        failed_connections_per_cause: agg.failed.per_cause(),
        failed_connections: failed::listed(&agg.failed),
        failed_connections_not_listed: failed::not_listed(&agg.failed),
        tcp_without_tls_by_server: without_tls_by_server(agg),
        transports: transport_entries(agg),
        merge_state: MergeStateOut {
            format: crate::aggregate::codec::FORMAT,
            aggregates: serde_json::value::to_raw_value(agg).map_err(io::Error::other)?,
        },
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::write_summary;

    #[test]
    fn slo_flags_servers_whose_p95_is_above_it() {
        let mut report = Report::default();
        let mut slow = Breakdown::default();
        for ms in 1..=100 {
            slow.timings.client_hello_to_done.record(ms * 1000);
        }
        let mut fast = Breakdown::default();
        fast.timings.client_hello_to_done.record(500);
        report.aggregates.servers.entry("slow.test").all = slow;
        report.aggregates.servers.entry("fast.test").all = fast;
        report.aggregates.servers.entry("silent.test");
        report.aggregates.all.connections = 102;
        assert_eq!(
            report.above_slo(&report.aggregates.servers.other),
            None,
            "no SLO"
        );
        report.slo_p95_ms = Some(50.0);
        let verdict = |name: &str| report.above_slo(&report.aggregates.servers.entries[name]);
        assert_eq!(verdict("slow.test"), Some(true));
        assert_eq!(verdict("fast.test"), Some(false));
        assert_eq!(verdict("silent.test"), None, "nothing to judge");
        let above = report.servers_above_slo();
        assert_eq!(above.len(), 1);
        assert_eq!(above[0].0, "slow.test");
        let mut text = Vec::new();
        write_summary(
            &report,
            &crate::output::SummaryOptions::default(),
            &mut text,
        )
        .expect("write to a Vec");
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(
            text.contains("Servers above the p95 SLO of 50 ms: 1"),
            "{text}"
        );
    }
}
