//! Command-line arguments (clap) and their validation into a pipeline [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tlsight::aggregate::failures::DEFAULT_PER_CAUSE;
use tlsight::capture::filter::FrameFilter;
use tlsight::capture::interface::LiveOptions;
use tlsight::facts::WELL_KNOWN_TLS_PORTS;
use tlsight::output::format::{RecordFormat, Schema};
use tlsight::output::{SummaryOptions, parse_utc};
use tlsight::pipeline::{Config, LiveConfig, MAX_INPUTS};
use tlsight::sink::KafkaConfig;
use tlsight::watch::WatchConfig;

/// The exit codes every subcommand that analyses shares (`--help` ends with them).
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    error: no input could be read, an output could not be written, capture failed
  2    bad arguments
  3    an input could not be read to its end (missing, not a capture, truncated): the
       outputs cover everything read before the cut, and the message names file and packet
";
/// The exit code of `check` and `diff`, in the main `--help`.
const EXIT_FINDINGS: &str =
    "  4    check: a policy was violated; diff: a --fail-on change was found\n";
/// The exit code of an interrupted `analyze`.
const EXIT_INTERRUPTED: &str =
    "  130  analyze stopped by Ctrl-C (SIGINT; 143 for SIGTERM): the outputs cover what was read
       (a second Ctrl-C exits at once)";

/// `tlsight analyze --help`: examples, then the exit codes.
const ANALYZE_EXAMPLES: &str = "\
Examples:
  tlsight analyze capture.pcap
      The summary: outcomes, failure causes with an example each, latency, servers,
      clients, certificates.
  tlsight analyze ring-*.pcap.gz --json report.json --ndjson connections.ndjson
      Several files as one capture, merged by time (any order; gzip, zstd or xz).
  tlsight analyze capture.pcapng -f 'tcp port 443' --sni '*.example.com' --top 20
      A tcpdump filter, then only handshakes for one domain.
  tcpdump -i eth0 -U -w - | tlsight analyze - --ndjson -
      Records on standard output as connections end (the summary goes to stderr).
  tlsight analyze capture.pcap --ndjson - -q | jq -r 'select(.outcome==\"failed\")
      | [.server.ip, .sni, .failure.cause, .failure.explanation] | @tsv'
      Why each failed handshake failed.
";

pub mod analysis;
pub mod check;
pub mod diff;

/// tlsight: passive TLS handshake analyzer.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, max_term_width = 100,
    after_help = format!("{EXIT_CODES}{EXIT_FINDINGS}{EXIT_INTERRUPTED}"))]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse saved captures (pcap or pcapng, possibly gzip, zstd or xz compressed) as one
    /// capture, their packets merged by time.
    #[command(after_help = format!("{ANALYZE_EXAMPLES}\n{EXIT_CODES}{EXIT_INTERRUPTED}"))]
    Analyze(AnalyzeArgs),
    /// Capture from a network interface (e.g. a mirror port) until SIGINT/SIGTERM.
    #[command(after_help = EXIT_CODES)]
    Live(LiveArgs),
    /// Check observed handshakes against a policy or a built-in profile (CI gate).
    Check(check::CheckArgs),
    /// Compare two captures, NDJSON record files or reports: what changed, per server,
    /// client fingerprint and certificate.
    Diff(diff::DiffArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `tlsight man | man -l -`, or that of a subcommand.
    Man {
        /// A subcommand's name (`analyze`, `live`, `check`, ...); none: the main page.
        subcommand: Option<String>,
    },
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
    /// Capture files (pcap or pcapng, plain or gzip/zstd/xz compressed); `-` reads standard
    /// input (records are then written as connections end).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Analyse only the frames this BPF filter (tcpdump syntax, compiled by libpcap) matches.
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Flag servers whose 95th-percentile ClientHello → handshake-done time is above this many
    /// milliseconds (in the report and the summary).
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    pub slo_p95_ms: Option<f64>,
    /// No progress line on standard error (shown on a terminal for runs over a second).
    #[arg(long)]
    pub no_progress: bool,
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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PER_CAUSE, value_parser = whole, allow_hyphen_values = true)]
    pub failed_per_cause: usize,
    /// NSS key log (`SSLKEYLOGFILE`) whose secrets decrypt the connections they belong to
    /// (repeatable; `live` re-reads it as it grows). Secrets in pcapng Decryption Secrets
    /// Blocks are read without it.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylog: Vec<PathBuf>,
    /// Analysis knobs (shared with `check` and `diff`).
    #[command(flatten)]
    pub analysis: analysis::AnalysisArgs,
    /// Rows per table in the summary ("N more" says what was left out).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = at_least_one, allow_hyphen_values = true)]
    pub top: usize,
    /// Every row of every table in the summary.
    #[arg(long, conflicts_with = "top")]
    pub all: bool,
    /// Count certificates' days left from this time (2025-01-31, 2025-01-31T12:00:00Z or
    /// seconds since the epoch) instead of the capture's end.
    #[arg(long, value_name = "TIME", value_parser = parse_utc)]
    pub now: Option<i64>,
    /// Also fill `ja4s` in records: JA4S is under the FoxIO License (non-commercial use
    /// without a separate license), unlike JA4, which is always written.
    #[arg(long)]
    pub ja4_plus: bool,
    /// Also write a `"type":"tcp_failure"` record for each connection that failed before TLS
    /// (refused, unanswered, closed before the ClientHello) on a TLS port (--tls-ports, or
    /// one TLS was seen on). Off by default: a SYN flood would write millions.
    #[arg(long)]
    pub tcp_failures: bool,
    /// Ports where --tcp-failures writes records even when no TLS is seen on them
    /// (comma-separated; default: the well-known TLS ports, 443, 465, 636, 853, 993, 995,
    /// 8443, ...).
    #[arg(long, value_name = "PORTS", value_delimiter = ',', value_parser = port)]
    pub tls_ports: Option<Vec<u16>>,
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
    /// Seed of the Community ID (`community_id` of records, `network.community_id` in ECS),
    /// when the other tools of the deployment use one (Zeek's and Suricata's setting of the same name).
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

    /// The summary's settings.
    pub fn summary(&self) -> SummaryOptions {
        SummaryOptions {
            top: (!self.all).then_some(self.top),
            now: self.now,
        }
    }

    /// The pipeline configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, String> {
        if self.stdout_outputs() > 1 {
            return Err(
                "only one of --ndjson, --json and --html can write to standard output".into(),
            );
        }
        let outputs = [
            ("--ndjson", &self.ndjson),
            ("--json", &self.json),
            ("--html", &self.html),
        ];
        for (i, (a, path_a)) in outputs.iter().enumerate() {
            for (b, path_b) in &outputs[i + 1..] {
                if let (Some(pa), Some(pb)) = (path_a, path_b)
                    && pa.as_os_str() != "-"
                    && same_file(pa, pb)
                {
                    return Err(format!(
                        "{a} and {b} would both write to {}: give each its own file",
                        pa.display()
                    ));
                }
            }
        }
        if self.tcp_failures && self.ndjson.is_none() && self.kafka.is_none() {
            return Err("--tcp-failures writes records: give --ndjson PATH (or --kafka)".into());
        }
        if self.sensor.as_ref().is_some_and(|s| s.trim().is_empty()) {
            return Err("--sensor must not be empty".into());
        }
        self.kafka_config()?;
        Ok(Config {
            tcp_failure_records: self.tcp_failures,
            tls_ports: self
                .tls_ports
                .clone()
                .unwrap_or_else(|| WELL_KNOWN_TLS_PORTS.to_vec()),
            want_records: self.ndjson.is_some() || self.kafka.is_some(),
            failed_per_cause: self.failed_per_cause,
            record_format: RecordFormat {
                schema: match self.schema {
                    SchemaArg::Native => Schema::Native,
                    SchemaArg::Ecs => Schema::Ecs,
                },
                sensor: self.sensor.as_deref().map(Arc::from),
                community_id_seed: self.community_id_seed,
                inputs: Arc::from(Vec::new()),
                ja4_plus: self.ja4_plus,
            },
            ..self.analysis.config()?
        })
    }
}

/// Whether two output paths name the same file (spelled alike, or the same file already).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A number, with a message that says what was wrong (clap's default for `-1` is to take it
/// for an unknown flag).
fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| {
        if text.trim().starts_with('-') {
            format!("'{text}' is negative: {what}")
        } else {
            format!("'{text}' is not a whole number: {what}")
        }
    })
}

/// A count of at least one.
fn at_least_one(text: &str) -> Result<usize, String> {
    let what = "give a whole number of at least 1";
    match number::<usize>(text, what)? {
        0 => Err(format!("0 is too few: {what}")),
        n => Ok(n),
    }
}

/// A duration or count of at least one (`--idle-timeout 0` would close every connection at
/// its first packet).
fn at_least_one_u64(text: &str) -> Result<u64, String> {
    let what = "give a whole number of at least 1";
    match number::<u64>(text, what)? {
        0 => Err(format!("0 is too few: {what}")),
        n => Ok(n),
    }
}

/// A TCP port (1 to 65535).
fn port(text: &str) -> Result<u16, String> {
    match number::<u16>(text, "give ports from 1 to 65535, separated by commas") {
        Ok(0) => Err("port 0 is not a port: give ports from 1 to 65535".into()),
        other => other,
    }
}

/// A count that may be zero.
fn whole(text: &str) -> Result<usize, String> {
    number(text, "give a whole number, 0 or more")
}

/// A number of days, 0 or more.
fn days(text: &str) -> Result<i64, String> {
    let what = "give a whole number of days, 0 or more";
    match number::<i64>(text, what) {
        Ok(n) if n >= 0 => Ok(n),
        Ok(_) => Err(format!("'{text}' is negative: {what}")),
        Err(e) => Err(e),
    }
}

impl AnalyzeArgs {
    /// The pipeline configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, String> {
        if self.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
            return Err("standard input (-) can be given once only".into());
        }
        if self.files.len() > MAX_INPUTS {
            return Err(format!(
                "{} input files: at most {MAX_INPUTS} can be analysed at once",
                self.files.len()
            ));
        }
        if self
            .slo_p95_ms
            .is_some_and(|ms| !ms.is_finite() || ms < 0.0)
        {
            return Err("--slo-p95-ms must be a non-negative number of milliseconds".into());
        }
        if let Some(filter) = &self.filter {
            FrameFilter::new(filter).map_err(|e| e.to_string())?;
        }
        let mut cfg = self.common.config()?;
        cfg.filter = self.filter.clone();
        cfg.record_format.inputs = self
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .into();
        Ok(cfg)
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
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
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
