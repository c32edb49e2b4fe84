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
    // Records are written while the analysis runs, so their output is opened first.
    let mut ndjson = args.ndjson.as_deref().map(open_output).transpose()?;
    let analysis = match ndjson.as_mut() {
        Some(out) => pipeline::analyze_files(&args.files, cfg, out),
        None => pipeline::analyze_files(&args.files, cfg, &mut io::sink()),
    }
    .context("writing the NDJSON log")?;
    if let Some(mut out) = ndjson {
        out.flush().context("writing the NDJSON log")?;
    }
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
    if let Some(path) = &args.json {
        let mut out = open_output(path)?;
        output::write_report(&analysis.report, &mut out)
            .and_then(|()| out.flush())
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

/// A buffered writer for `path` (`-` = standard output).
fn open_output(path: &Path) -> anyhow::Result<BufWriter<Box<dyn Write>>> {
    let out: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
    };
    Ok(BufWriter::with_capacity(1 << 16, out))
}
