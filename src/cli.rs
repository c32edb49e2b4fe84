//! Command-line arguments (clap) and their validation into a pipeline [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tlsight::aggregate::failures::DEFAULT_PER_CAUSE;
use tlsight::capture::interface::LiveOptions;
use tlsight::output::format::{RecordFormat, Schema};
use tlsight::pipeline::{Config, LiveConfig};
use tlsight::sink::KafkaConfig;
use tlsight::watch::WatchConfig;

pub mod analysis;
pub mod check;
pub mod diff;

/// tlsight: passive TLS handshake analyzer.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse saved captures (pcap or pcapng) as one capture, in order.
    Analyze(AnalyzeArgs),
    /// Capture from a network interface (e.g. a mirror port) until SIGINT/SIGTERM.
    Live(LiveArgs),
    /// Check observed handshakes against a policy or a built-in profile (CI gate).
    Check(check::CheckArgs),
    /// Compare two captures, NDJSON record files or reports: what changed, per server,
    /// client fingerprint and certificate.
    Diff(diff::DiffArgs),
    /// Merge JSON reports (from many sensors or runs) into the report of all their traffic.
    Merge(MergeArgs),
}

/// Arguments of `tlsight merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Reports written by `analyze --json`, `live --json` or `merge --json`.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Write the merged report as one JSON document to PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Flag servers whose merged 95th-percentile ClientHello → handshake-done time is above
    /// this many milliseconds (default: the reports' own, when they all agree).
    #[arg(long, value_name = "MS")]
    pub slo_p95_ms: Option<f64>,
    /// Write the merged report as one self-contained HTML page to PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Do not print the terminal summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `tlsight analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Flag servers whose 95th-percentile ClientHello → handshake-done time is above this many
    /// milliseconds (in the report and the summary).
    #[arg(long, value_name = "MS")]
    pub slo_p95_ms: Option<f64>,
    /// Outputs and analysis knobs shared with `live`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--schema`: the names connection records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaArg {
    /// tlsight's own names.
    Native,
    /// Elastic Common Schema names.
    Ecs,
}

/// Arguments shared by `analyze` and `live`: outputs and analysis knobs.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Write one JSON record per TLS connection to PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub ndjson: Option<PathBuf>,
    /// Write the whole report (summary, aggregates, schema_version) as one JSON document to
    /// PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the report as one self-contained HTML page (charts and tables, no network access
    /// when viewed) to PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Failed connections listed in the report per failure cause (the earliest of each); the
    /// rest are counted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PER_CAUSE)]
    pub failed_per_cause: usize,
    /// NSS key log (`SSLKEYLOGFILE`) whose secrets decrypt the connections they belong to
    /// (repeatable; `live` re-reads it as it grows). Secrets in pcapng Decryption Secrets
    /// Blocks are read without it.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
    /// Analysis knobs (shared with `check` and `diff`).
    #[command(flatten)]
    pub analysis: analysis::AnalysisArgs,
    /// Do not print the terminal summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// This sensor's name, written into every record, window and alert, as the `sensor` label
    /// of every metric, and into the report (`live` default: the host name; `analyze` writes
    /// it only when given, so its output does not depend on the machine).
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Field names of the connection records: `native` (tlsight's own, the README's contract)
    /// or `ecs` (Elastic Common Schema, tlsight's own facts under `tlsight.*`).
    #[arg(long, value_enum, default_value_t = SchemaArg::Native)]
    pub schema: SchemaArg,
    /// Seed of the Community ID (`network.community_id` of ECS records), when the other
    /// tools of the deployment use one (Zeek's and Suricata's setting of the same name).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub community_id_seed: u16,
    /// Send every record (connection, window, alert) to Kafka: bootstrap brokers
    /// `host:port[,host:port...]`. One JSON document per message, keyed by connection.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// The Kafka topic records go to.
    #[arg(long, value_name = "TOPIC", default_value = "tlsight")]
    pub kafka_topic: String,
    /// A librdkafka setting, `key=value` (repeatable): TLS (`security.protocol=ssl`, ...),
    /// SASL, compression (`compression.type=lz4`, `gzip`, `snappy`), batching (`linger.ms`, ...).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub kafka_options: Vec<String>,
    /// Keep records the broker cannot take yet (its in-memory queue full) in a spool file in
    /// DIR; records left at exit are sent first by the next run.
    #[arg(long, value_name = "DIR", requires = "kafka")]
    pub kafka_spool: Option<PathBuf>,
    /// Most the spool holds, in MiB (records beyond are dropped and counted).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub kafka_spool_max_mib: u64,
    /// Longest wait, in seconds, for outstanding Kafka deliveries when the run ends.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub kafka_timeout: u64,
}

impl CommonArgs {
    /// The Kafka sink these arguments ask for, if any.
    pub fn kafka_config(&self) -> Result<Option<KafkaConfig>, String> {
        let Some(brokers) = &self.kafka else {
            return Ok(None);
        };
        if brokers.trim().is_empty() || self.kafka_topic.trim().is_empty() {
            return Err("--kafka and --kafka-topic must not be empty".into());
        }
        let options = self
            .kafka_options
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().into(), v.into())),
                _ => Err(format!("--kafka-option '{kv}' is not key=value")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(KafkaConfig {
            brokers: brokers.clone(),
            topic: self.kafka_topic.clone(),
            options,
            spool: self.kafka_spool.clone(),
            spool_max_bytes: self.kafka_spool_max_mib.saturating_mul(1 << 20),
            finish_timeout: Duration::from_secs(self.kafka_timeout),
        }))
    }

    /// How many of the machine-readable outputs go to standard output (`-`).
    pub fn stdout_outputs(&self) -> usize {
        [&self.ndjson, &self.json, &self.html]
            .iter()
            .filter(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
            .count()
    }

    /// The pipeline configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, String> {
        if self.stdout_outputs() > 1 {
            return Err(
                "only one of --ndjson, --json and --html can write to standard output".into(),
            );
        }
        if self.sensor.as_ref().is_some_and(|s| s.trim().is_empty()) {
            return Err("--sensor must not be empty".into());
        }
        self.kafka_config()?;
        Ok(Config {
            want_records: self.ndjson.is_some() || self.kafka.is_some(),
            failed_per_cause: self.failed_per_cause,
            record_format: RecordFormat {
                schema: match self.schema {
                    SchemaArg::Native => Schema::Native,
                    SchemaArg::Ecs => Schema::Ecs,
                },
                sensor: self.sensor.as_deref().map(Arc::from),
                community_id_seed: self.community_id_seed,
            },
            ..self.analysis.config()?
        })
    }
}

impl AnalyzeArgs {
    /// The pipeline configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, String> {
        if self.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
            return Err("standard input (-) can be given once only".into());
        }
        if self
            .slo_p95_ms
            .is_some_and(|ms| !ms.is_finite() || ms < 0.0)
        {
            return Err("--slo-p95-ms must be a non-negative number of milliseconds".into());
        }
        self.common.config()
    }
}

/// Arguments of `tlsight live`.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (`any` for all).
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: String,
    /// BPF filter (tcpdump syntax), compiled by libpcap.
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Window length: one `"type":"window"` record per interval (`10s`, `500ms`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration_ns)]
    pub interval: i64,
    /// Bytes kept of each frame.
    #[arg(long, value_name = "N", default_value_t = 65_535)]
    pub snaplen: i32,
    /// Kernel capture buffer, in MiB (absorbs bursts while tlsight is busy).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub buffer_size: i32,
    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9898) at /metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Drop root privileges to USER once the interface is open (as tcpdump -Z).
    #[arg(short = 'Z', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Alert when a server's handshake p95 (ClientHello → done) exceeds this many
    /// milliseconds for --alert-windows consecutive windows.
    #[arg(long, value_name = "MS")]
    pub slo_p95_ms: Option<f64>,
    /// Consecutive windows before a per-server alert starts, and before it clears.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub alert_windows: u32,
    /// Alert when more than this fraction of a server's handshakes in a window fail (or get
    /// no response) for --alert-windows consecutive windows.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub failure_rate: f64,
    /// Fewest connections to a server in a window for its failure rate to count.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub failure_min_connections: u64,
    /// Outputs and analysis knobs shared with `analyze`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What `tlsight live` runs with.
pub struct LiveSettings {
    /// The pipeline.
    pub config: Config,
    /// The interface.
    pub source: LiveOptions,
    /// Windows.
    pub live: LiveConfig,
    /// Alert thresholds.
    pub alerts: WatchConfig,
}

impl LiveArgs {
    /// The settings these arguments ask for.
    pub fn settings(&self) -> Result<LiveSettings, String> {
        let mut config = self.common.config()?;
        if config.record_format.sensor.is_none() {
            config.record_format.sensor = host_name().map(Arc::from);
        }
        if self.snaplen <= 0 {
            return Err("--snaplen must be positive".into());
        }
        let buffer_bytes = self
            .buffer_size
            .checked_mul(1 << 20)
            .filter(|&b| b > 0)
            .ok_or("--buffer-size must be between 1 and 2047 MiB")?;
        if self.alert_windows == 0 {
            return Err("--alert-windows must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return Err("--failure-rate must be between 0 and 1".into());
        }
        let slo_p95_us = match self.slo_p95_ms {
            Some(ms) if ms.is_finite() && ms > 0.0 => Some((ms * 1000.0) as u64),
            Some(_) => return Err("--slo-p95-ms must be positive".into()),
            None => None,
        };
        Ok(LiveSettings {
            config,
            source: LiveOptions {
                interface: self.interface.clone(),
                filter: self.filter.clone(),
                snaplen: self.snaplen,
                buffer_bytes,
                promiscuous: !self.no_promisc,
                ..LiveOptions::default()
            },
            live: LiveConfig {
                interval_ns: self.interval,
            },
            alerts: WatchConfig {
                slo_p95_us,
                windows: self.alert_windows,
                failure_rate: self.failure_rate,
                failure_min_connections: self.failure_min_connections,
            },
        })
    }
}

/// This machine's host name, the default sensor name of `live`.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(buf.get(..len)?).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a bare number of seconds into nanoseconds.
fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 10s, 500ms, 1m)"))?;
    let scale = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("unknown unit '{unit}' (use ms, s, m or h)")),
    };
    let ns = value * scale;
    if !(1e6..=1e16).contains(&ns) {
        return Err("the duration must be between 1ms and about 100 days".into());
    }
    Ok(ns as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration_ns("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_duration_ns("2m"), Ok(120_000_000_000));
        assert!(parse_duration_ns("10 parsecs").is_err());
        assert!(parse_duration_ns("0s").is_err());
        assert!(parse_duration_ns("s").is_err());
    }
}
