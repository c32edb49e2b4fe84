//! Command-line arguments (clap) and their validation into a pipeline [`Config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tlsight::facts::FactsConfig;
use tlsight::pipeline::Config;
use tlsight::reassembly::Limits;

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
}

/// Arguments of `tlsight analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write one JSON record per TLS connection to PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub ndjson: Option<PathBuf>,
    /// Write the whole report (summary, aggregates, schema_version) as one JSON document to
    /// PATH (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Worker threads (default: available cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Certificates expiring within this many days of capture time are flagged.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub cert_warn_days: i64,
    /// Flag servers whose 95th-percentile ClientHello → handshake-done time is above this many
    /// milliseconds (in the report and the summary).
    #[arg(long, value_name = "MS")]
    pub slo_p95_ms: Option<f64>,
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

impl AnalyzeArgs {
    /// How many of the machine-readable outputs go to standard output (`-`).
    pub fn stdout_outputs(&self) -> usize {
        [&self.ndjson, &self.json]
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
        if self.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
            return Err("standard input (-) can be given once only".into());
        }
        if self
            .slo_p95_ms
            .is_some_and(|ms| !ms.is_finite() || ms < 0.0)
        {
            return Err("--slo-p95-ms must be a non-negative number of milliseconds".into());
        }
        if self.stdout_outputs() > 1 {
            return Err("only one of --ndjson and --json can write to standard output".into());
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
        })
    }
}
