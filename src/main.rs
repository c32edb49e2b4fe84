//! The `tlsight` binary: parses arguments, runs the pipeline, writes outputs, and turns errors
//! into messages and exit codes (0 ok, 1 error, 2 usage, 3 input damaged but report written).

mod cli;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tlsight::output;
use tlsight::pipeline::{self, Analysis};

use crate::cli::{AnalyzeArgs, Cli, Command};

/// Exit code when arguments are wrong.
const EXIT_USAGE: u8 = 2;
/// Exit code when an input could not be read to its end but the report was written.
const EXIT_INPUT_DAMAGED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => match args.config() {
            Err(msg) => {
                eprintln!("tlsight: {msg}");
                ExitCode::from(EXIT_USAGE)
            }
            Ok(cfg) => match analyze(&args, &cfg) {
                Ok(code) => code,
                Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tlsight: {e:#}");
                    ExitCode::FAILURE
                }
            },
        },
    }
}

/// A closed pipe on standard output (e.g. `| head`) is a normal way to stop reading.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

fn analyze(args: &AnalyzeArgs, cfg: &pipeline::Config) -> anyhow::Result<ExitCode> {
    let mut analysis = pipeline::analyze_files(&args.files, cfg);
    analysis.report.slo_p95_ms = args.slo_p95_ms;
    for f in &analysis.report.inputs {
        if let Some(e) = &f.error {
            eprintln!("tlsight: {e}");
        }
    }
    if analysis
        .report
        .inputs
        .iter()
        .all(|f| f.error.is_some() && f.packets == 0)
    {
        anyhow::bail!("no input could be read");
    }
    if let Some(path) = &args.ndjson {
        write_to(path, |w| analysis.write_ndjson(w)).context("writing the NDJSON log")?;
    }
    if let Some(path) = &args.json {
        write_to(path, |w| output::write_report(&analysis.report, w))
            .context("writing the JSON report")?;
    }
    if !args.quiet {
        write_summary(args, &analysis)?;
    }
    Ok(if analysis.input_failed() {
        ExitCode::from(EXIT_INPUT_DAMAGED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The summary goes to standard output unless a machine-readable output already does.
fn write_summary(args: &AnalyzeArgs, analysis: &Analysis) -> anyhow::Result<()> {
    if args.stdout_outputs() > 0 {
        output::write_summary(&analysis.report, &mut io::stderr().lock())?;
    } else {
        output::write_summary(&analysis.report, &mut io::stdout().lock())?;
    }
    Ok(())
}

/// Runs `write` on a buffered writer for `path` (`-` = standard output) and flushes it.
fn write_to(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let stdout = io::stdout();
        let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
        write(&mut w)?;
        w.flush()?;
    } else {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = BufWriter::with_capacity(1 << 16, file);
        write(&mut w)?;
        w.flush()?;
    }
    Ok(())
}
