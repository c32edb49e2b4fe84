//! Live records: `"type":"window"` (one per interval) and `"type":"alert"` (an alert starting
//! or clearing), written to the same NDJSON stream as the connection records. They reuse the
//! report's census and per-server shapes, so a window reads like a small report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::report::{
    CountOut, ServerOut, TimingsOut, TransportOut, census, named, servers_out, transport_entries,
};
use super::{rfc3339_micros, rfc3339_secs};
use crate::facts::Finding;
use crate::sink::SinkCounts;
use crate::tls::names::version_name;
use crate::watch::{CertSighting, ClosedWindow, Drops, Notice, Rule, WindowNews};

#[derive(Serialize)]
struct DropsOut {
    ps_recv: u64,
    ps_drop: u64,
    ps_ifdrop: u64,
    queue_dropped_segments: u64,
}

impl From<&Drops> for DropsOut {
    fn from(d: &Drops) -> Self {
        DropsOut {
            ps_recv: d.kernel.received,
            ps_drop: d.kernel.dropped,
            ps_ifdrop: d.kernel.if_dropped,
            queue_dropped_segments: d.channel_segments,
        }
    }
}

#[derive(Serialize)]
struct CertSightingOut<'a> {
    sha256: &'a str,
    server: &'a str,
    subject: &'a str,
    not_after: String,
    findings: &'a [Finding],
}

impl<'a> CertSightingOut<'a> {
    fn new(sha256: &'a str, c: &'a CertSighting) -> Self {
        CertSightingOut {
            sha256,
            server: &c.server,
            subject: &c.subject,
            not_after: rfc3339_secs(c.not_after),
            findings: &c.findings,
        }
    }
}

#[derive(Serialize)]
struct WindowOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
    start: String,
    end: String,
    packets: u64,
    connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
    versions: Vec<CountOut>,
    resumed: &'a BTreeMap<&'static str, u64>,
    latency_us: TimingsOut,
    transports: Vec<TransportOut>,
    servers: Vec<ServerOut<'a>>,
    new_certificate_findings: Vec<CertSightingOut<'a>>,
    alerts_started: usize,
    alerts_cleared: usize,
    alerts_suppressed_total: u64,
    sightings_not_kept: u64,
    drops: DropsOut,
    drops_total: DropsOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    kafka: Option<SinkCounts>,
}

/// What a window record says beyond the window itself: the sensor, and the Kafka sink's
/// counts since the start (when records go to Kafka).
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowExtras<'a> {
    /// `--sensor`.
    pub sensor: Option<&'a str>,
    /// The sink's counts.
    pub sink: Option<SinkCounts>,
}

/// Writes one `"type":"window"` record (one line), with what the watch made of the window
/// (`news`: notices started or cleared, certificates with findings seen for the first time)
/// and the sensor and Kafka sink counts (`extras`).
pub fn write_window(
    w: &ClosedWindow,
    news: &WindowNews,
    extras: &WindowExtras<'_>,
    out: &mut Vec<u8>,
) {
    let (alerts, new_certs) = (&news.notices, &news.new_certs);
    let agg = &w.aggregates;
    let started = alerts.iter().filter(|a| a.started).count();
    let record = WindowOut {
        kind: "window",
        sensor: extras.sensor,
        start: rfc3339_micros(w.start),
        end: rfc3339_micros(w.end),
        packets: w.packets,
        connections: agg.all.connections,
        outcomes: named(&agg.all.outcomes, |o| o.name()),
        failure_causes: named(&agg.all.failure_causes, |c| c.name()),
        versions: census(&agg.versions, |v| version_name(v).into_owned()),
        resumed: &agg.resumed,
        latency_us: TimingsOut::from(&agg.all.timings),
        transports: transport_entries(agg),
        servers: servers_out(agg),
        new_certificate_findings: new_certs
            .iter()
            .map(|(s, c)| CertSightingOut::new(s, c))
            .collect(),
        alerts_started: started,
        alerts_cleared: alerts.len() - started,
        alerts_suppressed_total: news.suppressed_total,
        sightings_not_kept: w.sightings.overflow,
        drops: DropsOut::from(&w.drops),
        drops_total: DropsOut::from(&w.drops_total),
        kafka: extras.sink,
    };
    // Plain structs of strings and numbers serialize into a Vec without error.
    let _ = serde_json::to_writer(&mut *out, &record);
    out.push(b'\n');
}

#[derive(Serialize)]
struct AlertOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor: Option<&'a str>,
    ts: String,
    alert: &'static str,
    state: &'static str,
    server: &'a str,
    client: Option<String>,
    value: Option<f64>,
    threshold: Option<f64>,
    version: Option<String>,
    certificate: Option<CertSightingOut<'a>>,
    message: String,
}

/// One sentence saying what happened, for people reading the log.
fn alert_message(a: &Notice) -> String {
    let mut m = String::new();
    let (value, threshold) = (a.value.unwrap_or(0.0), a.threshold.unwrap_or(0.0));
    let _ = match (a.kind, a.started) {
        (Rule::SloP95, true) => write!(
            m,
            "handshake p95 of {} is {:.1} ms, above the {:.1} ms SLO",
            a.server,
            value / 1000.0,
            threshold / 1000.0
        ),
        (Rule::SloP95, false) => {
            write!(m, "handshake p95 of {} is within the SLO again", a.server)
        }
        (Rule::FailureRate, true) => write!(
            m,
            "{:.0}% of handshakes with {} failed, above the {:.0}% threshold",
            value * 100.0,
            a.server,
            threshold * 100.0
        ),
        (Rule::FailureRate, false) => {
            write!(
                m,
                "failure rate of {} is below the threshold again",
                a.server
            )
        }
        (Rule::CertExpiring, true) => write!(
            m,
            "certificate served by {} expires at {}",
            a.server,
            a.cert
                .as_ref()
                .map_or_else(String::new, |(_, c)| rfc3339_secs(c.not_after))
        ),
        (Rule::CertExpiring, false) => {
            write!(m, "{} now serves another certificate", a.server)
        }
        (Rule::DeprecatedVersion, started) => write!(
            m,
            "{} and {} {} {}",
            a.client.map_or_else(String::new, |c| c.to_string()),
            a.server,
            if started {
                "negotiated"
            } else {
                "moved on from"
            },
            a.version
                .map_or_else(String::new, |v| version_name(v).into_owned())
        ),
    };
    m
}

/// Writes one `"type":"alert"` record (one line), stamped `ts` (the end of the window that
/// decided it).
pub fn write_notice(
    a: &Notice,
    ts: crate::flow::Timestamp,
    sensor: Option<&str>,
    out: &mut Vec<u8>,
) {
    let record = AlertOut {
        kind: "alert",
        sensor,
        ts: rfc3339_micros(ts),
        alert: a.kind.name(),
        state: if a.started { "started" } else { "cleared" },
        server: &a.server,
        client: a.client.map(|c| c.to_string()),
        value: a.value,
        threshold: a.threshold,
        version: a.version.map(|v| version_name(v).into_owned()),
        certificate: a.cert.as_ref().map(|(s, c)| CertSightingOut::new(s, c)),
        message: alert_message(a),
    };
    let _ = serde_json::to_writer(&mut *out, &record);
    out.push(b'\n');
}

/// Readable lines for a window and its alerts, for the terminal when no NDJSON log is
/// written.
pub fn window_lines(w: &ClosedWindow, alerts: &[Notice]) -> String {
    let agg = &w.aggregates;
    let mut s = String::new();
    let outcomes: Vec<String> = agg
        .all
        .outcomes
        .iter()
        .map(|(o, n)| format!("{n} {}", o.name()))
        .collect();
    let p95 = agg.all.timings.client_hello_to_done.percentiles().p95;
    let _ = writeln!(
        s,
        "{} window: {} TLS connections ({}), handshake p95 {:.3} ms, dropped {} kernel / {} \
         interface / {} queue",
        rfc3339_micros(w.end),
        agg.all.connections,
        if outcomes.is_empty() {
            "none".to_string()
        } else {
            outcomes.join(", ")
        },
        p95 as f64 / 1000.0,
        w.drops.kernel.dropped,
        w.drops.kernel.if_dropped,
        w.drops.channel_segments
    );
    for a in alerts {
        let state = if a.started { "started" } else { "cleared" };
        let _ = writeln!(s, "  alert {} {state}: {}", a.kind.name(), alert_message(a));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregates;
    use crate::flow::Timestamp;
    use crate::watch::{Sightings, Watch, WatchConfig};

    #[test]
    fn window_record_has_counts_and_drops() {
        let mut w = ClosedWindow {
            start: Timestamp::from_parts(1_700_000_000, 0),
            end: Timestamp::from_parts(1_700_000_010, 0),
            packets: 42,
            aggregates: Aggregates::default(),
            sightings: Sightings::default(),
            drops: Drops::default(),
            drops_total: Drops::default(),
        };
        w.drops.kernel.dropped = 3;
        w.drops_total.channel_segments = 7;
        let cert = CertSighting {
            server: "a.example".into(),
            subject: "CN=a.example".into(),
            not_after: 1_700_000_100,
            findings: vec![Finding::ExpiringSoon],
        };
        let mut out = Vec::new();
        let news = WindowNews {
            new_certs: vec![("ab".into(), cert)],
            ..WindowNews::default()
        };
        write_window(&w, &news, &WindowExtras::default(), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["type"], "window");
        assert_eq!(v["start"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(v["packets"], 42);
        assert_eq!(v["connections"], 0);
        assert_eq!(v["drops"]["ps_drop"], 3);
        assert_eq!(v["drops_total"]["queue_dropped_segments"], 7);
        assert_eq!(
            v["new_certificate_findings"][0]["findings"][0],
            "expiring_soon"
        );
        assert_eq!(
            v["new_certificate_findings"][0]["not_after"],
            "2023-11-14T22:15:00Z"
        );
        assert_eq!(out.last(), Some(&b'\n'));
    }

    #[test]
    fn window_record_splits_connections_by_transport() {
        let mut aggregates = Aggregates::default();
        for (transport, connections) in [("quic", 2), ("tcp", 5)] {
            let breakdown = crate::aggregate::Breakdown {
                connections,
                ..Default::default()
            };
            aggregates.by_transport.insert(transport, breakdown);
        }
        let w = ClosedWindow {
            start: Timestamp::from_parts(1_700_000_000, 0),
            end: Timestamp::from_parts(1_700_000_010, 0),
            packets: 0,
            aggregates,
            sightings: Sightings::default(),
            drops: Drops::default(),
            drops_total: Drops::default(),
        };
        let mut out = Vec::new();
        write_window(
            &w,
            &WindowNews::default(),
            &WindowExtras::default(),
            &mut out,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["transports"][0]["transport"], "quic");
        assert_eq!(v["transports"][0]["connections"], 2);
        assert_eq!(v["transports"][1]["transport"], "tcp");
        assert_eq!(v["transports"][1]["connections"], 5);
    }

    #[test]
    fn alert_records_say_what_started_and_cleared() {
        let mut watch = Watch::new(WatchConfig::default());
        let mut s = Sightings::default();
        let client = "10.1.2.3".parse().expect("ip");
        s.deprecated.insert((client, "old.example".into()), 0x0301);
        let news = watch.on_window(&Aggregates::default(), &s);
        let mut out = Vec::new();
        write_notice(&news.notices[0], Timestamp(0), None, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["type"], "alert");
        assert_eq!(v["alert"], "deprecated_version");
        assert_eq!(v["state"], "started");
        assert_eq!(v["client"], "10.1.2.3");
        assert_eq!(v["version"], "TLSv1.0");
        assert_eq!(v["message"], "10.1.2.3 and old.example negotiated TLSv1.0");
        let slo = Notice {
            kind: Rule::SloP95,
            started: true,
            server: "s".into(),
            client: None,
            value: Some(80_000.0),
            threshold: Some(50_000.0),
            version: None,
            cert: None,
        };
        assert_eq!(
            alert_message(&slo),
            "handshake p95 of s is 80.0 ms, above the 50.0 ms SLO"
        );
    }
}
