//! The report's `failed_connections`: the listed failed connections with their evidence, and
//! how many more there were per cause (see [`FailedConnections`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::close_name;
use super::record::alert_level_name;
use super::time::Rfc3339;
use crate::aggregate::failures::{FailedConnection, FailedConnections};
use crate::facts::{AlertFact, Side};
use crate::flow::Endpoint;
use crate::tls::names::version_name;

/// One listed failed connection.
#[derive(Serialize)]
pub(super) struct FailedOut<'a> {
    ts: Rfc3339,
    duration_us: i64,
    client: EndpointOut,
    server: EndpointOut,
    sni: Option<&'a str>,
    outcome: &'static str,
    cause: &'static str,
    explanation: &'a str,
    inferred: bool,
    version: Option<String>,
    offered_version: Option<String>,
    ja4: Option<&'a str>,
    alerts: Vec<AlertOut>,
    last_messages: Vec<String>,
    certificate: Option<CertificateOut<'a>>,
    close: Option<&'static str>,
    reset_by: Option<&'static str>,
    gap_bytes: u64,
}

/// `{"ip", "port"}`, as in the connection records.
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

/// An alert as in the connection records.
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
            level: a.alert.level.map(alert_level_name),
            description: a.alert.description.map(|d| d.name().into_owned()),
            encrypted: a.alert.encrypted,
            inferred: a.alert.inferred,
            after: a.after.map(sided),
        }
    }
}

/// `"client:finished"`: a handshake message with its sender, as in the connection records.
pub(crate) fn sided((side, name): (Side, &'static str)) -> String {
    format!("{}:{name}", side.name())
}

/// The server's leaf certificate as evidence.
#[derive(Serialize)]
struct CertificateOut<'a> {
    subject: &'a str,
    findings: Vec<&'static str>,
}

impl<'a> From<&'a FailedConnection> for FailedOut<'a> {
    fn from(c: &'a FailedConnection) -> Self {
        FailedOut {
            ts: Rfc3339::micros(c.first_ts),
            duration_us: c.duration_us(),
            client: c.client.into(),
            server: c.server.into(),
            sni: c.sni.as_deref(),
            outcome: c.outcome.name(),
            cause: c.failure.cause.name(),
            explanation: &c.failure.explanation,
            inferred: c.failure.inferred,
            version: c.version.map(|v| version_name(v).into_owned()),
            offered_version: c.offered_version.map(|v| version_name(v).into_owned()),
            ja4: c.ja4.as_deref(),
            alerts: c.alerts.iter().map(AlertOut::from).collect(),
            last_messages: c.last_messages.iter().copied().map(sided).collect(),
            certificate: c
                .certificate_subject
                .as_deref()
                .map(|subject| CertificateOut {
                    subject,
                    findings: c.certificate_findings.iter().map(|f| f.name()).collect(),
                }),
            close: c.close.map(close_name),
            reset_by: c.reset_by.map(Side::name),
            gap_bytes: c.gap_bytes,
        }
    }
}

/// The listed connections, earliest first.
pub(super) fn listed(failed: &FailedConnections) -> Vec<FailedOut<'_>> {
    failed.listed().into_iter().map(FailedOut::from).collect()
}

/// Connections not listed, by cause name.
pub(super) fn not_listed(failed: &FailedConnections) -> BTreeMap<&'static str, u64> {
    failed
        .not_listed()
        .into_iter()
        .map(|(cause, n)| (cause.name(), n))
        .collect()
}
