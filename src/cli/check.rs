//! `tlsight check`: arguments, and running a check from them.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use tlsight::check::{self, CheckResult, EvalOptions, Policy, Reference, render};
use tlsight::observed::time::parse_rfc3339;
use tlsight::observed::{self, InputKind};

use super::analysis::{
    AnalysisArgs, EXIT_FINDINGS, EXIT_INPUT_DAMAGED, EXIT_USAGE, is_stdout, stdout_count,
};

/// Arguments of `tlsight check`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 every rule holds; 4 a rule of severity error is violated \
    (with --baseline: a violation the baseline lacks); 3 an input could not be read to its end \
    and --strict-input was given (without it the check runs over what was read and says so); \
    2 bad arguments or an invalid policy; 1 any other error (no input readable, output not \
    writable)."
)]
pub struct CheckArgs {
    /// Captures (pcap/pcapng, analysed as one capture), or NDJSON records written by
    /// `tlsight analyze --ndjson`.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Policy file (TOML; see the README's policy reference).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Built-in profile: mozilla-modern, mozilla-intermediate or mozilla-old, optionally
    /// @5.7 or @6.0 (default: 6.0). May be repeated; combines with --policy.
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// Judge certificates at this time (RFC 3339, or `now`) instead of each connection's
    /// capture time.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Write the result as JSON (`-` = standard output); --baseline reads it back.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML (one test case per rule and server).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write SARIF 2.1.0 (GitHub code scanning).
    #[arg(long, value_name = "PATH")]
    pub sarif: Option<PathBuf>,
    /// Fail only on violations this earlier result (check --json output), or a check of this
    /// capture or NDJSON file with the same policy, does not have.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// An input that cannot be read to its end (truncated capture) is an error (exit 3).
    #[arg(long)]
    pub strict_input: bool,
    /// Example connections shown per violation.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub examples: usize,
    /// Do not print the terminal report.
    #[arg(long, short)]
    pub quiet: bool,
    /// Analysis knobs for captures.
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("tlsight: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// A buffered writer for `path` (`-` = standard output).
fn create(path: &Path) -> anyhow::Result<BufWriter<Box<dyn Write>>> {
    let out: Box<dyn Write> = if is_stdout(path) {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
    };
    Ok(BufWriter::new(out))
}

/// Writes one output with `render`.
pub fn write_output(
    path: &Path,
    what: &str,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = create(path)?;
    render(&mut out)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing the {what} to {}", path.display()))
}

/// `--now`: `now`, or an RFC 3339 time, as microseconds since the epoch.
pub fn parse_now(text: &str) -> Result<i64, String> {
    if text == "now" {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the system clock is before 1970".to_string())?;
        return i64::try_from(since.as_micros())
            .map_err(|_| "the system clock is too far ahead".into());
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!("--now takes `now` or an RFC 3339 time (2027-01-01T00:00:00Z), not '{text}'")
    })
}

/// Runs `tlsight check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let cfg = match args.analysis.config() {
        Ok(cfg) => cfg,
        Err(msg) => return Ok(usage(msg)),
    };
    if stdout_count(&[&args.json, &args.junit, &args.sarif]) > 1 {
        return Ok(usage(
            "only one of --json, --junit and --sarif can write to standard output",
        ));
    }
    let fixed_us = match args.now.as_deref().map(parse_now).transpose() {
        Ok(t) => t,
        Err(msg) => return Ok(usage(msg)),
    };
    let mut policy = match &args.policy {
        Some(path) => match Policy::from_file(path) {
            Ok(p) => p,
            Err(e) => return Ok(usage(e)),
        },
        None => Policy::default(),
    };
    for name in &args.profile {
        match Policy::from_profile(name) {
            Ok(p) => {
                // Profile rules come first; a file rule with the same id already replaced
                // nothing here, so duplicates are refused.
                if let Some(dup) = p
                    .rules
                    .iter()
                    .find(|r| policy.rules.iter().any(|x| x.id == r.id))
                {
                    return Ok(usage(format!(
                        "rule '{}' is given twice (by --profile {name} and another profile or the policy)",
                        dup.id
                    )));
                }
                let mut rules = p.rules;
                rules.append(&mut policy.rules);
                policy.rules = rules;
                let mut sources = p.sources;
                sources.append(&mut policy.sources);
                policy.sources = sources;
            }
            Err(e) => return Ok(usage(e)),
        }
    }
    if policy.rules.is_empty() {
        return Ok(usage(
            "give --policy FILE or --profile NAME (e.g. mozilla-intermediate)",
        ));
    }
    let opts = EvalOptions {
        reference: Reference {
            fixed_us,
            warn_days: args.analysis.cert_warn_days,
        },
        examples: args.examples,
    };
    let observation = match observed::load(&args.inputs, &cfg) {
        Ok(o) => o,
        Err(e @ observed::LoadError::WrongKind { .. } | e @ observed::LoadError::Mixed { .. }) => {
            return Ok(usage(e));
        }
        Err(e) => return Err(e.into()),
    };
    if observation.kind == Some(InputKind::Report) {
        return Ok(usage(
            "check needs connection records: give the capture, or the --ndjson output of \
             tlsight analyze, not its --json report",
        ));
    }
    for input in &observation.inputs {
        if let Some(e) = &input.error {
            eprintln!("tlsight: {e}");
        }
    }
    if !observation.inputs.is_empty()
        && observation.kind == Some(InputKind::Capture)
        && observation
            .inputs
            .iter()
            .all(|i| i.error.is_some() && i.packets == 0)
    {
        anyhow::bail!("no input could be read");
    }
    let mut result = check::evaluate(&policy, &observation, &opts);
    if let Some(path) = &args.baseline {
        let baseline = check::baseline::load(path, &policy, &cfg, &opts)?;
        check::baseline::apply(&mut result, &baseline, &path.display().to_string());
    }
    write_outputs(args, &result)?;
    Ok(if args.strict_input && observation.input_damaged() {
        eprintln!("tlsight: --strict-input: an input could not be read to its end");
        ExitCode::from(EXIT_INPUT_DAMAGED)
    } else if result.fails() {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_outputs(args: &CheckArgs, result: &CheckResult) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        write_output(path, "check result", |out| render::json(result, out))?;
    }
    if let Some(path) = &args.junit {
        write_output(path, "JUnit XML", |out| render::junit::write(result, out))?;
    }
    if let Some(path) = &args.sarif {
        write_output(path, "SARIF", |out| render::sarif::write(result, out))?;
    }
    if !args.quiet {
        let to_stdout = stdout_count(&[&args.json, &args.junit, &args.sarif]) == 0;
        if to_stdout {
            render::terminal::write(result, &mut io::stdout().lock())?;
        } else {
            render::terminal::write(result, &mut io::stderr().lock())?;
        }
    }
    Ok(())
}
