//! The analysis knobs every subcommand that runs the pipeline shares (`analyze`, `live`, and
//! `check` and `diff` for the captures they analyse in-process), and the exit codes.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};
use tlsight::aggregate::failures::DEFAULT_PER_CAUSE;
use tlsight::facts::FactsConfig;
use tlsight::facts::scope::{AddressPattern, Scope};
use tlsight::pipeline::Config;
use tlsight::tcp::Limits;

use super::{at_least_one, at_least_one_u64, days, whole};

/// Exit code when a policy is violated (`check`) or a `--fail-on` change is found (`diff`).
pub const EXIT_FINDINGS: u8 = 4;
/// Exit code for bad arguments (as clap's).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when an input could not be read to its end (`analyze`; `check` with
/// `--strict-input`): the outputs cover what was read before the cut.
pub const EXIT_INPUT_DAMAGED: u8 = 3;

/// Knobs of the analysis.
#[derive(Args, Debug)]
pub struct AnalysisArgs {
    /// Worker threads (default: available cores).
    #[arg(long, value_name = "N", value_parser = at_least_one, allow_hyphen_values = true)]
    pub workers: Option<usize>,
    /// Certificates expiring within this many days of capture time are flagged.
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = days, allow_hyphen_values = true)]
    pub cert_warn_days: i64,
    /// Close connections idle for this many seconds of capture time.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = at_least_one_u64, allow_hyphen_values = true)]
    pub idle_timeout: u64,
    /// Most connections tracked at once (the least recently active is evicted beyond).
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = at_least_one, allow_hyphen_values = true)]
    pub max_flows: usize,
    /// Most connections that have not carried a byte yet (SYN, SYN-ACK, ACK only) held at once
    /// in the compact half-open table, apart from --max-flows (the least recently active is
    /// evicted beyond); 0 tracks every connection in full from its first packet.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = whole, allow_hyphen_values = true)]
    pub max_half_open: usize,
    /// Most UDP flows (QUIC, DTLS) whose server has not answered yet held at once, apart from
    /// --max-flows (the oldest is closed and written beyond: a flood of client Initials stays
    /// bounded); 0: no cap but --max-flows.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = whole, allow_hyphen_values = true)]
    pub max_unanswered: usize,
    /// Out-of-order bytes buffered per connection direction, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024, value_parser = at_least_one, allow_hyphen_values = true)]
    pub max_flow_buffer_kib: usize,
    /// Out-of-order bytes buffered in total, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = at_least_one, allow_hyphen_values = true)]
    pub max_buffer_mib: usize,
    /// Only connections to these servers: an address, network or port (10.0.0.1,
    /// 10.0.0.0/8, 10.0.0.1:443, [2001:db8::1]:443, :443); repeat for alternatives.
    #[arg(long, value_name = "ADDR", value_parser = address_pattern, action = ArgAction::Append)]
    pub server: Vec<AddressPattern>,
    /// Only connections whose ClientHello names a server matching this glob (`*.example.com`,
    /// case does not matter); repeat for alternatives.
    #[arg(long, value_name = "GLOB", action = ArgAction::Append)]
    pub sni: Vec<String>,
    /// Only connections from these clients (forms as for --server); repeat for alternatives.
    #[arg(long, value_name = "ADDR", value_parser = address_pattern, action = ArgAction::Append)]
    pub client: Vec<AddressPattern>,
}

impl AnalysisArgs {
    /// The pipeline configuration (with records wanted: callers that do not want them say so).
    pub fn config(&self) -> Result<Config, String> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Config {
            workers,
            limits: Limits {
                idle_timeout_ns: i64::try_from(self.idle_timeout)
                    .unwrap_or(i64::MAX / 1_000_000_000)
                    .saturating_mul(1_000_000_000),
                max_flow_buffer: self.max_flow_buffer_kib.saturating_mul(1024),
                max_total_buffer: self.max_buffer_mib.saturating_mul(1 << 20),
                max_flows: self.max_flows,
                max_half_open: self.max_half_open,
                max_unanswered: self.max_unanswered,
            },
            facts: FactsConfig {
                cert_warn_days: self.cert_warn_days,
            },
            want_records: true,
            failed_per_cause: DEFAULT_PER_CAUSE,
            scope: Scope::new(self.server.clone(), self.sni.clone(), self.client.clone()),
            ..Config::default()
        })
    }
}

/// An address pattern of `--server` / `--client`.
fn address_pattern(text: &str) -> Result<AddressPattern, String> {
    AddressPattern::parse(text).map_err(|e| {
        if text.contains(|c: char| c.is_ascii_alphabetic()) && !text.contains(':') {
            format!("{e}; for server names use --sni '{text}'")
        } else {
            e.to_string()
        }
    })
}

/// Whether `path` is standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How many of `paths` write to standard output.
pub fn stdout_count(paths: &[&Option<PathBuf>]) -> usize {
    paths
        .iter()
        .filter(|p| p.as_deref().is_some_and(is_stdout))
        .count()
}
