//! Prometheus metrics for `tlsight live`: a snapshot of the totals since capture started,
//! updated at every window end, rendered in the text exposition format (version 0.0.4) and
//! served at `/metrics` by a minimal HTTP/1.1 server on its own thread. No web framework: the
//! server answers one GET at a time and closes the connection, which is all Prometheus needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::aggregate::{Aggregates, Latency, Merge};
use crate::sink::SinkCounts;
use crate::tls::names::version_name;
use crate::watch::{ClosedWindow, Drops, Watch};

/// Histogram bucket bounds for handshake durations, in seconds (1 ms … 10 s).
const BUCKETS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Totals since the capture started, as the metrics show them.
#[derive(Debug, Default)]
pub struct MetricsState {
    aggregates: Aggregates,
    drops: Drops,
    packets: u64,
    windows: u64,
    alerts_active: BTreeMap<&'static str, u64>,
    alerts_started: BTreeMap<&'static str, u64>,
    /// The `sensor` label of every sample, when set.
    sensor: Option<String>,
    /// The Kafka sink's counts, when records go to Kafka.
    sink: Option<SinkCounts>,
}

/// The snapshot shared between the capture's main thread and the metrics server.
pub type SharedMetrics = Arc<Mutex<MetricsState>>;

impl MetricsState {
    /// Empty totals whose samples carry `sensor="NAME"`.
    pub fn for_sensor(sensor: Option<String>) -> Self {
        MetricsState {
            sensor,
            ..MetricsState::default()
        }
    }

    /// Adds a closed window, and takes the alert counts from `watch` and the Kafka sink's
    /// counts from `sink`.
    pub fn update(&mut self, w: &ClosedWindow, watch: &Watch, sink: Option<SinkCounts>) {
        self.sink = sink;
        self.aggregates.merge_in(w.aggregates.clone());
        self.drops = w.drops_total;
        self.packets += w.packets;
        self.windows += 1;
        self.alerts_active = watch.active.clone();
        self.alerts_started = watch.started.clone();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut exposition = Exposition {
            out: String::with_capacity(4096),
            sensor: self.sensor.as_deref(),
        };
        let agg = &self.aggregates;
        let o = &mut exposition;
        o.header("tlsight_windows_total", "counter", "Windows closed.");
        o.sample("tlsight_windows_total", &[], self.windows as f64);
        o.header("tlsight_packets_total", "counter", "Frames read.");
        o.sample("tlsight_packets_total", &[], self.packets as f64);
        let drops = [
            (
                "tlsight_pcap_received_total",
                "Frames the kernel passed to the capture (libpcap ps_recv).",
                self.drops.kernel.received,
            ),
            (
                "tlsight_pcap_dropped_total",
                "Frames dropped because the kernel buffer was full (libpcap ps_drop).",
                self.drops.kernel.dropped,
            ),
            (
                "tlsight_pcap_if_dropped_total",
                "Frames dropped by the interface or driver (libpcap ps_ifdrop).",
                self.drops.kernel.if_dropped,
            ),
            (
                "tlsight_queue_dropped_segments_total",
                "TCP segments dropped because a worker's queue was full.",
                self.drops.channel_segments,
            ),
        ];
        for (name, help, value) in drops {
            o.header(name, "counter", help);
            o.sample(name, &[], value as f64);
        }
        let name = "tlsight_connections_total";
        o.header(name, "counter", "TLS connections by outcome.");
        for (outcome, n) in &agg.all.outcomes {
            o.sample(name, &[("outcome", outcome.name())], *n as f64);
        }
        let name = "tlsight_transport_connections_total";
        o.header(
            name,
            "counter",
            "TLS connections by transport (tcp, quic, dtls) and outcome.",
        );
        for (transport, b) in &agg.by_transport {
            for (outcome, n) in &b.outcomes {
                let labels = [("transport", *transport), ("outcome", outcome.name())];
                o.sample(name, &labels, *n as f64);
            }
        }
        let name = "tlsight_failures_total";
        o.header(name, "counter", "Failed TLS connections by cause.");
        for (cause, n) in &agg.all.failure_causes {
            o.sample(name, &[("cause", cause.name())], *n as f64);
        }
        let name = "tlsight_versions_total";
        o.header(name, "counter", "TLS connections by negotiated version.");
        for (v, n) in &agg.versions {
            o.sample(name, &[("version", &version_name(*v))], *n as f64);
        }
        let name = "tlsight_server_connections_total";
        o.header(
            name,
            "counter",
            "TLS connections per server, transport and outcome.",
        );
        for (server, entry) in &agg.servers {
            for (transport, share) in &entry.transports {
                for (outcome, n) in &share.outcomes {
                    let labels = [
                        ("server", server.as_str()),
                        ("transport", *transport),
                        ("outcome", outcome.name()),
                    ];
                    o.sample(name, &labels, *n as f64);
                }
            }
        }
        let name = "tlsight_handshake_duration_seconds";
        o.header(
            name,
            "histogram",
            "Handshake duration (ClientHello to the last Finished) per server.",
        );
        for (server, b) in &agg.servers {
            o.histogram(name, server, &b.timings.client_hello_to_done);
        }
        if let Some(sink) = &self.sink {
            let name = "tlsight_kafka_records_total";
            o.header(
                name,
                "counter",
                "Records by what became of them in the Kafka sink.",
            );
            let states = [
                ("produced", sink.produced),
                ("delivered", sink.delivered),
                ("refused", sink.failed),
                ("spooled", sink.spooled),
                ("dropped", sink.dropped),
            ];
            for (state, n) in states {
                o.sample(name, &[("state", state)], n as f64);
            }
            let name = "tlsight_kafka_spool_records";
            o.header(name, "gauge", "Records waiting in the Kafka spool.");
            o.sample(name, &[], sink.spool_pending as f64);
        }
        let name = "tlsight_alerts_active";
        o.header(name, "gauge", "Alerts active now, by rule.");
        for (alert, n) in &self.alerts_active {
            o.sample(name, &[("alert", alert)], *n as f64);
        }
        let name = "tlsight_alerts_started_total";
        o.header(name, "counter", "Alerts started, by rule.");
        for (alert, n) in &self.alerts_started {
            o.sample(name, &[("alert", alert)], *n as f64);
        }
        exposition.out
    }
}

/// A label value escaped as the exposition format requires (server names come off the wire).
fn escape(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// The text being rendered, and the sensor label every sample carries.
struct Exposition<'a> {
    out: String,
    /// `sensor="NAME"` on every sample (`--sensor`, default the host name), so that series
    /// from many sensors stay apart in one Prometheus and aggregate with `sum by`.
    sensor: Option<&'a str>,
}

impl Exposition<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let out = &mut self.out;
        out.push_str(name);
        let sensor = self.sensor.map(|s| ("sensor", s));
        let mut labels = sensor.iter().chain(labels).peekable();
        if labels.peek().is_some() {
            out.push('{');
            for (i, (k, v)) in labels.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape(v));
            }
            out.push('}');
        }
        let _ = writeln!(out, " {value}");
    }

    /// A Prometheus histogram with the fixed [`BUCKETS_S`] bounds: the same on every sensor
    /// whatever its traffic, so `sum by (le)` across sensors adds like for like.
    fn histogram(&mut self, name: &str, server: &str, lat: &Latency) {
        let count = lat.percentiles().count;
        let bucket = format!("{name}_bucket");
        for le in BUCKETS_S {
            let n = lat.count_at_most((le * 1e6) as u64);
            self.sample(
                &bucket,
                &[("server", server), ("le", &le.to_string())],
                n as f64,
            );
        }
        self.sample(&bucket, &[("server", server), ("le", "+Inf")], count as f64);
        let labels = [("server", server)];
        self.sample(&format!("{name}_sum"), &labels, lat.sum() / 1e6);
        self.sample(&format!("{name}_count"), &labels, count as f64);
    }
}

/// Largest request head read; anything longer is answered 400.
const MAX_REQUEST: usize = 8192;

/// Binds `addr` and serves `/metrics` from `state` on a thread of its own for the rest of
/// the process. Returns the bound address (useful with port 0).
pub fn serve(addr: SocketAddr, state: SharedMetrics) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A client that misbehaves only loses its own answer.
                let _ = answer(stream, &state);
            }
        })?;
    Ok(local)
}

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, state: &SharedMetrics) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, body) = match (method, path) {
        _ if head.len() >= MAX_REQUEST => ("400 Bad Request", String::new()),
        (Some(b"GET"), Some(b"/metrics")) => {
            let body = state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .render();
            ("200 OK", body)
        }
        (Some(b"GET"), _) => ("404 Not Found", "try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Breakdown, ServerEntry, TransportShare};
    use crate::facts::Outcome;
    use crate::flow::Timestamp;
    use crate::watch::{Sightings, WatchConfig};
    use std::collections::BTreeMap;

    fn state() -> MetricsState {
        let mut b = Breakdown {
            connections: 3,
            ..Breakdown::default()
        };
        b.outcomes.insert(Outcome::Established, 3);
        for us in [2_000, 20_000, 3_000_000] {
            b.timings.client_hello_to_done.record(us);
        }
        let mut agg = Aggregates {
            all: b.clone(),
            ..Aggregates::default()
        };
        agg.versions.insert(0x0304, 3);
        let share = TransportShare {
            connections: 3,
            outcomes: b.outcomes.clone(),
            ..TransportShare::default()
        };
        let transports = BTreeMap::from([("quic", share)]);
        let entry = ServerEntry { all: b, transports };
        agg.servers.insert("we\"ird\\name".into(), entry);
        let w = ClosedWindow {
            start: Timestamp(0),
            end: Timestamp(1),
            packets: 10,
            aggregates: agg,
            sightings: Sightings::default(),
            drops: Drops::default(),
            drops_total: Drops::default(),
        };
        let mut s = MetricsState::default();
        s.update(&w, &Watch::new(WatchConfig::default()), None);
        s
    }

    #[test]
    fn exposition_has_cumulative_buckets_and_escaped_labels() {
        let text = state().render();
        let server = r#"server="we\"ird\\name""#;
        for line in [
            "tlsight_packets_total 10".to_string(),
            "tlsight_connections_total{outcome=\"established\"} 3".to_string(),
            "tlsight_versions_total{version=\"TLSv1.3\"} 3".to_string(),
            format!("tlsight_handshake_duration_seconds_bucket{{{server},le=\"0.001\"}} 0"),
            format!("tlsight_handshake_duration_seconds_bucket{{{server},le=\"0.025\"}} 2"),
            format!("tlsight_handshake_duration_seconds_bucket{{{server},le=\"+Inf\"}} 3"),
            format!("tlsight_handshake_duration_seconds_count{{{server}}} 3"),
            format!(
                "tlsight_server_connections_total{{{server},transport=\"quic\",outcome=\"established\"}} 3"
            ),
            "# TYPE tlsight_handshake_duration_seconds histogram".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    /// The `le` bounds of every histogram series, in order.
    fn bucket_bounds(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("tlsight_handshake_duration_seconds_bucket"))
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .collect()
    }

    #[test]
    fn every_sample_carries_the_sensor_and_buckets_do_not_depend_on_traffic() {
        let mut named = state();
        named.sensor = Some("dc1-lb".into());
        let text = named.render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains("{sensor=\"dc1-lb\""), "{line}");
        }
        assert!(
            text.lines()
                .any(|l| l == "tlsight_packets_total{sensor=\"dc1-lb\"} 10")
        );
        // Another sensor with other latencies: the same bucket bounds, so `sum by (le)`
        // across sensors adds like for like.
        let mut other = MetricsState::for_sensor(Some("dc2-lb".into()));
        let mut b = Breakdown::default();
        b.timings.client_hello_to_done.record(7_777_777);
        let entry = ServerEntry {
            all: b,
            ..ServerEntry::default()
        };
        other.aggregates.servers.insert("x".into(), entry);
        let bounds = bucket_bounds(&text);
        assert_eq!(bounds.len(), BUCKETS_S.len() + 1);
        assert_eq!(bucket_bounds(&other.render()), bounds);
    }

    #[test]
    fn serves_metrics_over_http() {
        let shared: SharedMetrics = Arc::new(Mutex::new(state()));
        let addr = serve("127.0.0.1:0".parse().expect("addr"), shared).expect("bind");
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).expect("connect");
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
            let mut r = String::new();
            s.read_to_string(&mut r).expect("read");
            r
        };
        let r = get("/metrics");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("\r\n\r\n# HELP tlsight_windows_total"), "{r}");
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
