//! `tlsight diff`: arguments, and running a diff from them.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tlsight::diff::{self, ChangeKind, Thresholds, render};
use tlsight::observed;

use super::analysis::{AnalysisArgs, EXIT_FINDINGS, EXIT_USAGE, stdout_count};
use super::check::write_output;

/// Arguments of `tlsight diff`.
#[derive(Args, Debug)]
#[command(after_help = "Each side is a capture (pcap/pcapng), NDJSON records \
    (tlsight analyze --ndjson) or a report (tlsight analyze --json). Exit codes: 0 no change \
    of a --fail-on kind; 4 at least one; 2 bad arguments; 1 an input could not be read.")]
pub struct DiffArgs {
    /// The earlier observation.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The observation to compare with it.
    #[arg(value_name = "CURRENT")]
    pub current: PathBuf,
    /// Write the diff as JSON (`-` = standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Relative change of a handshake-time percentile (p50, p95, p99) that counts, e.g. 20%.
    #[arg(long, value_name = "PERCENT", default_value = "20%", value_parser = parse_fraction)]
    pub latency_change: f64,
    /// Smallest absolute change of a percentile that counts, in milliseconds (handshakes on
    /// a busy host or LAN jitter by a few milliseconds, which is more than 20 % of them).
    #[arg(long, value_name = "MS", default_value_t = 5.0)]
    pub latency_floor_ms: f64,
    /// Fewest completed handshakes on each side for latency to be compared (p95 needs 20 and
    /// p99 100 in any case).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub latency_min_samples: u64,
    /// Change of a failure or resumption rate that counts, in percentage points, e.g. 5%.
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = parse_fraction)]
    pub rate_change: f64,
    /// Exit with 4 when a change of these kinds is found: a comma-separated list of change
    /// kinds, `regressions` or `any` (see the README).
    #[arg(long, value_name = "KINDS", value_parser = parse_kinds)]
    pub fail_on: Option<Kinds>,
    /// Do not print the terminal diff.
    #[arg(long, short)]
    pub quiet: bool,
    /// Analysis knobs for captures.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// A `--fail-on` list (one argument holding several kinds).
#[derive(Clone, Debug)]
pub struct Kinds(pub Vec<ChangeKind>);

fn parse_kinds(text: &str) -> Result<Kinds, String> {
    ChangeKind::parse_list(text).map(Kinds)
}

/// `20%`, `0.2` → 0.2.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let value = match text.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.trim().parse::<f64>(),
    }
    .map_err(|_| format!("'{text}' is not a percentage (e.g. 20%)"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("'{text}' must be a non-negative percentage"))
    }
}

/// Runs `tlsight diff`.
pub fn run(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let usage = |msg: String| {
        eprintln!("tlsight: {msg}");
        ExitCode::from(EXIT_USAGE)
    };
    let cfg = match args.analysis.config() {
        Ok(cfg) => cfg,
        Err(msg) => return Ok(usage(msg)),
    };
    if !(args.latency_floor_ms.is_finite() && args.latency_floor_ms >= 0.0) {
        return Ok(usage(
            "--latency-floor-ms must be a non-negative number".into(),
        ));
    }
    let mut sides = Vec::with_capacity(2);
    for path in [&args.base, &args.current] {
        match observed::load(std::slice::from_ref(path), &cfg) {
            Ok(o) => sides.push(o),
            Err(e @ observed::LoadError::WrongKind { .. }) => return Ok(usage(e.to_string())),
            Err(e) => return Err(e.into()),
        }
    }
    for o in &sides {
        for input in &o.inputs {
            if let Some(e) = &input.error {
                eprintln!("tlsight: {e}");
            }
        }
    }
    let thresholds = Thresholds {
        latency_change: args.latency_change,
        latency_floor_us: (args.latency_floor_ms * 1000.0).round() as u64,
        rate_change: args.rate_change,
        latency_min_samples: args.latency_min_samples,
    };
    let fail_on = args.fail_on.clone().map(|k| k.0).unwrap_or_default();
    let result = diff::diff(&sides[0], &sides[1], &thresholds, &fail_on);
    if let Some(path) = &args.json {
        write_output(path, "diff", |out| render::json(&result, out))?;
    }
    if !args.quiet {
        if stdout_count(&[&args.json]) == 0 {
            render::terminal(&result, &mut io::stdout().lock())?;
        } else {
            render::terminal(&result, &mut io::stderr().lock())?;
        }
    }
    Ok(if result.fails() {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("20%"), Ok(0.2));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert!(parse_fraction("-5%").is_err());
        assert!(parse_fraction("lots").is_err());
    }
}
