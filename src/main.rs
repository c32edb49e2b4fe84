//! The `tlsight` binary: parses arguments, runs the pipeline, writes outputs, and turns errors
//! into messages and exit codes (0 ok, 1 error, 2 usage, 3 input damaged but report written).

mod cli;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError};

use anyhow::Context;
use clap::Parser;
use tlsight::capture::interface::LiveInterface;
use tlsight::metrics::{self, SharedMetrics};
use tlsight::pipeline::{self, Analysis};
use tlsight::watch::{ClosedWindow, Watch};
use tlsight::{output, privileges};

use crate::cli::{AnalyzeArgs, Cli, Command, CommonArgs, LiveArgs, LiveSettings};

/// mimalloc instead of glibc's allocator: a connection still makes a few dozen short-lived
/// allocations (hello lists, facts, observer state), and mimalloc's thread-local fast path
/// takes 5 % fewer instructions for the whole run (callgrind, `benches/README.md`). Built with
/// `no_thp`: transparent huge pages on its eagerly committed arenas took the peak RSS of
/// bench-1g from 41 to 74 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when arguments are wrong.
const EXIT_USAGE: u8 = 2;
/// Exit code when an input could not be read to its end but the report was written.
const EXIT_INPUT_DAMAGED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => match args.config() {
            Err(msg) => return usage(&msg),
            Ok(cfg) => analyze(&args, &cfg),
        },
        Command::Live(args) => match args.settings() {
            Err(msg) => return usage(&msg),
            Ok(settings) => live(&args, settings),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlsight: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Bad arguments: the message and exit code 2.
fn usage(msg: &str) -> ExitCode {
    eprintln!("tlsight: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// A closed pipe on standard output (e.g. `| head`) is a normal way to stop reading.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

fn analyze(args: &AnalyzeArgs, cfg: &pipeline::Config) -> anyhow::Result<ExitCode> {
    // Records are written while the analysis runs, so their output is opened first.
    let mut ndjson = args.common.ndjson.as_deref().map(open_output).transpose()?;
    let mut analysis = match ndjson.as_mut() {
        Some(out) => pipeline::analyze_files(&args.files, cfg, out),
        None => pipeline::analyze_files(&args.files, cfg, &mut io::sink()),
    }
    .context("writing the NDJSON log")?;
    analysis.report.slo_p95_ms = args.slo_p95_ms;
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
    write_report_and_summary(&args.common, &analysis)?;
    Ok(if analysis.input_failed() {
        ExitCode::from(EXIT_INPUT_DAMAGED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `tlsight live`: opens the interface, serves metrics, drops privileges, then captures until
/// SIGINT or SIGTERM (a second one exits at once), and writes the final report.
fn live(args: &LiveArgs, s: LiveSettings) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .context("installing signal handlers")?;
    }
    // Everything that may need root happens before privileges are dropped.
    let source = LiveInterface::open(&s.source)?;
    let metrics = match args.metrics {
        Some(addr) => {
            let shared = SharedMetrics::default();
            let bound = metrics::serve(addr, Arc::clone(&shared))
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            eprintln!("tlsight: metrics at http://{bound}/metrics");
            Some(shared)
        }
        None => None,
    };
    let mut ndjson = args.common.ndjson.as_deref().map(open_output).transpose()?;
    if let Some(user) = &args.user {
        privileges::drop_to(user)?;
    }
    eprintln!(
        "tlsight: capturing on {} (stop with Ctrl-C)",
        source.interface()
    );
    let lines = ndjson.is_none() && !args.common.quiet;
    let mut watch = Watch::new(s.alerts);
    let mut on_window = |w: ClosedWindow, out: &mut dyn Write| -> io::Result<()> {
        let news = watch.on_window(&w.aggregates, &w.sightings);
        if let Some(m) = &metrics {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .update(&w, &watch);
        }
        if lines {
            eprint!("{}", output::window::window_lines(&w, &news.notices));
        }
        let mut buf = Vec::new();
        for a in &news.notices {
            output::window::write_notice(a, w.end, &mut buf);
        }
        output::window::write_window(&w, &news, &mut buf);
        out.write_all(&buf)
    };
    let mut done = match ndjson.as_mut() {
        Some(out) => pipeline::run_live(source, &s.config, s.live, &stop, out, &mut on_window),
        None => pipeline::run_live(
            source,
            &s.config,
            s.live,
            &stop,
            &mut io::sink(),
            &mut on_window,
        ),
    }
    .context("writing the NDJSON log")?;
    if let Some(mut out) = ndjson {
        out.flush().context("writing the NDJSON log")?;
    }
    done.analysis.report.slo_p95_ms = args.slo_p95_ms;
    let analysis = &done.analysis;
    for f in &analysis.report.inputs {
        if let Some(e) = &f.error {
            eprintln!("tlsight: {e}");
        }
    }
    write_report_and_summary(&args.common, analysis)?;
    let d = done.drops;
    eprintln!(
        "tlsight: {} frames read; dropped: {} by the kernel (ps_drop), {} by the interface \
         (ps_ifdrop), {} TCP segments by tlsight (queues full)",
        analysis.report.input.packets, d.kernel.dropped, d.kernel.if_dropped, d.channel_segments
    );
    Ok(if analysis.input_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the JSON and HTML reports (if asked for) and the terminal summary (unless quiet).
fn write_report_and_summary(args: &CommonArgs, analysis: &Analysis) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        let mut out = open_output(path)?;
        output::write_report(&analysis.report, &mut out)
            .and_then(|()| out.flush())
            .context("writing the JSON report")?;
    }
    if let Some(path) = &args.html {
        let mut out = open_output(path)?;
        output::html::write_html(&analysis.report, &mut out)
            .and_then(|()| out.flush())
            .context("writing the HTML report")?;
    }
    if !args.quiet {
        write_summary(args, analysis)?;
    }
    Ok(())
}

/// The summary goes to standard output unless a machine-readable output already does.
fn write_summary(args: &CommonArgs, analysis: &Analysis) -> anyhow::Result<()> {
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
