//! Command-line arguments (clap) and their validation into a pipeline [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tlsight::aggregate::failures::DEFAULT_PER_CAUSE;
use tlsight::capture::interface::LiveOptions;
use tlsight::facts::FactsConfig;
use tlsight::pipeline::{Config, LiveConfig};
use tlsight::tcp::Limits;
use tlsight::watch::WatchConfig;

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
    /// Worker threads (default: available cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Certificates expiring within this many days of capture time are flagged.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub cert_warn_days: i64,
    /// Close connections idle for this many seconds of capture time.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub idle_timeout: u64,
    /// Most connections tracked at once (the least recently active is evicted beyond).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,
    /// Out-of-order bytes buffered per connection direction, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    pub max_flow_buffer_kib: usize,
    /// Out-of-order bytes buffered in total, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_buffer_mib: usize,
    /// Do not print the terminal summary.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CommonArgs {
    /// How many of the machine-readable outputs go to standard output (`-`).
    pub fn stdout_outputs(&self) -> usize {
        [&self.ndjson, &self.json, &self.html]
            .iter()
            .filter(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
            .count()
    }

    /// The pipeline configuration these arguments ask for.
    pub fn config(&self) -> Result<Config, String> {
        let workers = match self.workers {
            Some(0) => return Err("--workers must be at least 1".into()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        if self.stdout_outputs() > 1 {
            return Err(
                "only one of --ndjson, --json and --html can write to standard output".into(),
            );
        }
        Ok(Config {
            workers,
            limits: Limits {
                idle_timeout_ns: i64::try_from(self.idle_timeout)
                    .unwrap_or(i64::MAX / 1_000_000_000)
                    .saturating_mul(1_000_000_000),
                max_flow_buffer: self.max_flow_buffer_kib.saturating_mul(1024),
                max_total_buffer: self.max_buffer_mib.saturating_mul(1 << 20),
                max_flows: self.max_flows,
            },
            facts: FactsConfig {
                cert_warn_days: self.cert_warn_days,
            },
            want_records: self.ndjson.is_some(),
            failed_per_cause: self.failed_per_cause,
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
        let config = self.common.config()?;
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
