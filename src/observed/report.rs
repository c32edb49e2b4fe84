//! The `--json` report as `check` and `diff` need it: input status, per-server outcomes and
//! latency, the client profiles and the certificate inventory. Parsed leniently, as the
//! records are: fields added later are ignored, missing ones are empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::Certificate;

/// The report (`"type":"report"`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportView {
    /// Version of the output contract that wrote it.
    pub schema_version: u32,
    /// Tool and version that wrote it.
    pub tool: String,
    /// Input files and how far they were read.
    pub inputs: Vec<ReportInput>,
    /// Totals.
    pub summary: ReportSummary,
    /// Negotiated versions, `[{"name", "code", "count"}]`.
    pub versions_negotiated: Vec<NamedCount>,
    /// Highest version each connection offered.
    pub versions_offered_highest: Vec<NamedCount>,
    /// Negotiated cipher suites.
    pub ciphers: Vec<NamedCount>,
    /// Groups used.
    pub groups_negotiated: Vec<NamedCount>,
    /// Per server (SNI, else ip:port).
    pub servers: Vec<ReportServer>,
    /// Client profiles, one per JA4.
    pub clients: Vec<ReportClient>,
    /// The certificate inventory.
    pub certificates: Vec<ReportCertificate>,
}

/// One input file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct ReportInput {
    /// Path as given.
    pub path: String,
    /// Frames read.
    pub packets: u64,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

/// The report's `summary`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportSummary {
    /// TLS connections.
    pub tls_connections: u64,
    /// Connections by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Connections by failure cause.
    pub failure_causes: BTreeMap<String, u64>,
}

/// `{"name", "code", "count"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NamedCount {
    /// Name (`TLSv1.2`, an IANA cipher or group name).
    pub name: Option<String>,
    /// Connections.
    pub count: u64,
}

/// Percentiles of one latency, microseconds. The report writes them as null when there is no
/// sample (`count` 0); they read as 0 then, and `count` says there was nothing to measure.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ReportLatency {
    /// Samples.
    pub count: u64,
    /// Median.
    #[serde(deserialize_with = "zero_if_null")]
    pub p50: u64,
    /// 90th percentile.
    #[serde(deserialize_with = "zero_if_null")]
    pub p90: u64,
    /// 95th percentile.
    #[serde(deserialize_with = "zero_if_null")]
    pub p95: u64,
    /// 99th percentile.
    #[serde(deserialize_with = "zero_if_null")]
    pub p99: u64,
    /// Largest.
    #[serde(deserialize_with = "zero_if_null")]
    pub max: u64,
}

/// A percentile of the report: null (no sample) reads as 0.
fn zero_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or_default())
}

/// The latencies of a server.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportLatencies {
    /// ClientHello → handshake done.
    pub client_hello_to_done: ReportLatency,
}

/// Resumption counts of a server.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportResumption {
    /// Connections offering a mechanism.
    pub attempts: u64,
    /// Resumed.
    pub hits: u64,
}

/// One server of the report.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportServer {
    /// SNI, else ip:port.
    pub server: String,
    /// Connections.
    pub connections: u64,
    /// By outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// By failure cause.
    pub failure_causes: BTreeMap<String, u64>,
    /// Latencies.
    pub latency_us: ReportLatencies,
    /// Resumption.
    pub resumption: ReportResumption,
}

/// `{"name", "count"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameCount {
    /// Name.
    pub name: String,
    /// Count.
    pub count: u64,
}

/// A client profile (one JA4).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportClient {
    /// JA4.
    pub ja4: String,
    /// Connections.
    pub connections: u64,
    /// Connections without a handshake.
    pub unsuccessful: u64,
    /// Highest version offered.
    pub highest_version: Option<String>,
    /// Servers it reached.
    pub servers: Vec<NameCount>,
}

/// One certificate of the inventory.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReportCertificate {
    /// The certificate.
    pub certificate: Certificate,
    /// First seen as a leaf.
    pub leaf: bool,
    /// Presented by a client.
    pub client_certificate: bool,
    /// Connections that presented it.
    pub connections: u64,
    /// Servers it was presented for.
    pub servers: Vec<NameCount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_written_by_the_pipeline() {
        let text = include_str!("../../captures/expected/tls12-ecdhe-rsa.pcap.report.json");
        let report: ReportView = serde_json::from_str(text).unwrap();
        assert_eq!(report.schema_version, 1);
        assert_eq!(report.summary.tls_connections, 1);
        assert_eq!(report.servers[0].server, "server.test");
        assert_eq!(report.servers[0].latency_us.client_hello_to_done.count, 1);
        assert_eq!(report.clients[0].servers[0].name, "server.test");
        assert!(report.certificates.iter().any(|c| c.leaf));
    }
}
