//! The `tlsight` binary: parses arguments, runs the pipeline, writes outputs, and turns errors
//! into messages and exit codes (0 ok, 1 error, 2 usage, 3 input damaged but report written,
//! 130/143 analysis stopped by SIGINT/SIGTERM but outputs written).

mod cli;
mod progress;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use clap::{CommandFactory, Parser};
use tlsight::capture::Compression;
use tlsight::capture::interface::LiveInterface;
use tlsight::keylog::KeyLogSources;
use tlsight::metrics::{self, MetricsState};
use tlsight::output::SummaryOptions;
use tlsight::output::window::WindowExtras;
use tlsight::pipeline::{self, Analysis, Progress};
use tlsight::sink::{KafkaSink, RecordStream};
use tlsight::watch::{ClosedWindow, Watch};
use tlsight::{output, privileges};

use crate::cli::analysis::{EXIT_INPUT_DAMAGED, EXIT_USAGE};
use crate::cli::{AnalyzeArgs, Cli, Command, CommonArgs, LiveArgs, LiveSettings, MergeArgs};

/// mimalloc instead of glibc's allocator: a connection still makes a few dozen short-lived
/// allocations (hello lists, facts, observer state), and mimalloc's thread-local fast path
/// takes 5 % fewer instructions for the whole run (callgrind, `benches/README.md`). Built with
/// `no_thp`: transparent huge pages on its eagerly committed arenas took the peak RSS of
/// bench-1g from 41 to 74 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when `analyze` was stopped by SIGINT (128 + the signal, as shells report it);
/// SIGTERM gives 143.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => match args.config() {
            Err(msg) => return usage(&msg),
            Ok(cfg) => analyze(&args, cfg),
        },
        Command::Live(args) => match args.settings() {
            Err(msg) => return usage(&msg),
            Ok(settings) => live(&args, settings),
        },
        Command::Check(args) => cli::check::run(&args),
        Command::Diff(args) => cli::diff::run(&args),
        Command::Merge(args) => merge(&args),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "tlsight", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { subcommand } => man(subcommand.as_deref()),
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

/// `tlsight man [SUBCOMMAND]`: the manual page, generated from the same definitions as
/// `--help`.
fn man(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    let page = match subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone().name(format!("tlsight-{name}")),
            None => {
                return Ok(usage(&format!(
                    "no subcommand '{name}' (analyze, live, check, diff, merge, completions, man)"
                )));
            }
        },
    };
    clap_mangen::Man::new(page).render(&mut io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// Which signal stopped the analysis: set by the handlers of SIGINT and SIGTERM.
#[derive(Default)]
struct Interrupt {
    stop: Arc<AtomicBool>,
    by_sigterm: Arc<AtomicBool>,
}

impl Interrupt {
    /// Installs the handlers: the first signal sets the flags, a second one exits at once.
    fn install() -> anyhow::Result<Self> {
        let i = Interrupt::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&i.stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&i.stop)))
                .context("installing signal handlers")?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&i.by_sigterm))
            .context("installing signal handlers")?;
        Ok(i)
    }

    /// The exit code of an analysis the signal stopped.
    fn exit_code(&self) -> ExitCode {
        if self.by_sigterm.load(Ordering::Relaxed) {
            ExitCode::from(EXIT_INTERRUPTED + 13)
        } else {
            ExitCode::from(EXIT_INTERRUPTED)
        }
    }
}

/// Reads the key logs of a run (`--keylog` files, pcapng secrets blocks of `captures`) into
/// the configuration; names the bad lines. Live follows the files afterwards (`follow`).
fn load_key_logs(
    args: &CommonArgs,
    captures: &[std::path::PathBuf],
    cfg: &mut pipeline::Config,
    follow: bool,
) -> anyhow::Result<Option<KeyLogSources>> {
    let Some(mut sources) = KeyLogSources::load(&args.keylog, captures)? else {
        return Ok(None);
    };
    if !follow {
        report_key_log_lines(&sources.finish());
    }
    cfg.keys = Some(sources.keys().clone());
    Ok(Some(sources))
}

/// How often live re-reads growing key logs: a client writes a connection's secrets as it
/// derives them, while its first protected records are on the wire.
const KEY_LOG_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Live: a thread re-reading the key log files as they grow, until `stop`.
fn follow_key_logs(
    mut sources: KeyLogSources,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<KeyLogSources> {
    std::thread::spawn(move || {
        let mut failing = false;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match sources.read_new() {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    eprintln!("tlsight: {e} (retrying)");
                    failing = true;
                }
                Err(_) => {}
            }
            std::thread::sleep(KEY_LOG_POLL);
        }
        let _ = sources.read_new();
        sources
    })
}

/// Names the key log lines that could not be read (they are skipped, not fatal).
fn report_key_log_lines(stats: &tlsight::keylog::KeyLogStats) {
    for bad in &stats.bad_lines_named {
        eprintln!("tlsight: key log {bad} (line skipped)");
    }
    let unnamed = stats.bad_lines - stats.bad_lines_named.len() as u64;
    if unnamed > 0 {
        eprintln!("tlsight: key log: {unnamed} more bad lines skipped");
    }
}

fn analyze(args: &AnalyzeArgs, mut cfg: pipeline::Config) -> anyhow::Result<ExitCode> {
    let interrupt = Interrupt::install()?;
    load_key_logs(&args.common, &args.files, &mut cfg, false)?;
    // Records are written while the analysis runs, so their outputs are opened first.
    let mut records = record_stream(&args.common)?;
    let show_progress = !args.no_progress && !args.common.quiet && io::stderr().is_terminal();
    let progress = show_progress.then(|| Arc::new(Progress::new(input_bytes(&args.files))));
    cfg.progress = progress.clone();
    let line = progress.map(progress::ProgressLine::start);
    let result = pipeline::analyze_files_until(&args.files, &cfg, &mut records, &interrupt.stop);
    drop(line);
    let mut analysis = result.context("writing the NDJSON log")?;
    analysis.report.slo_p95_ms = args.slo_p95_ms;
    analysis
        .report
        .sensors
        .extend(cfg.record_format.sensor.as_deref().map(String::from));
    let records_lost = finish_records(records, &args.common)?;
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
    write_report_and_summary(&Outputs::of(&args.common), &analysis)?;
    Ok(if analysis.report.interrupted {
        interrupt.exit_code()
    } else if analysis.input_failed() {
        ExitCode::from(EXIT_INPUT_DAMAGED)
    } else if records_lost {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Bytes of all inputs when every one is a regular, uncompressed file (what the progress
/// line's ETA is measured against); `None` otherwise.
fn input_bytes(files: &[std::path::PathBuf]) -> Option<u64> {
    files.iter().try_fold(0u64, |total, path| {
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let compression = Compression::of_file(path).ok()?;
        compression.is_none().then_some(total + meta.len())
    })
}

/// The record stream of a run: the NDJSON file and the Kafka sink, whichever are asked for.
fn record_stream(args: &CommonArgs) -> anyhow::Result<RecordStream<BufWriter<Box<dyn Write>>>> {
    let ndjson = args.ndjson.as_deref().map(open_output).transpose()?;
    let kafka = match args.kafka_config().map_err(anyhow::Error::msg)? {
        Some(cfg) => Some(KafkaSink::connect(&cfg)?),
        None => None,
    };
    Ok(RecordStream::new(ndjson, kafka))
}

/// Flushes the NDJSON file and ends the Kafka sink's run, saying what became of the records.
/// Returns whether any record was lost (refused, dropped, or not confirmed in time).
fn finish_records(
    records: RecordStream<BufWriter<Box<dyn Write>>>,
    args: &CommonArgs,
) -> anyhow::Result<bool> {
    let Some((c, error)) = records.finish().context("writing the NDJSON log")? else {
        return Ok(false);
    };
    eprintln!(
        "tlsight: Kafka: {} records produced, {} delivered, {} refused, {} spooled, {} dropped \
         (queue and spool full), {} not confirmed within {} s, {} waiting in the spool for the \
         next run",
        c.produced,
        c.delivered,
        c.failed,
        c.spooled,
        c.dropped,
        c.unconfirmed,
        args.kafka_timeout,
        c.spool_pending
    );
    let lost = c.failed + c.dropped + c.unconfirmed > 0;
    if let Some(e) = error.filter(|_| lost || c.spool_pending > 0) {
        eprintln!("tlsight: Kafka: last error: {e}");
    }
    Ok(lost)
}

/// `tlsight live`: opens the interface, serves metrics, drops privileges, then captures until
/// SIGINT or SIGTERM (a second one exits at once), and writes the final report.
fn live(args: &LiveArgs, mut s: LiveSettings) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let key_logs = load_key_logs(&args.common, &[], &mut s.config, true)?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .context("installing signal handlers")?;
    }
    // Everything that may need root happens before privileges are dropped.
    let source = LiveInterface::open(&s.source)?;
    let metrics = match args.metrics {
        Some(addr) => {
            let sensor = s.config.record_format.sensor.as_deref().map(String::from);
            let shared = Arc::new(Mutex::new(MetricsState::for_sensor(sensor)));
            let bound = metrics::serve(addr, Arc::clone(&shared))
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            eprintln!("tlsight: metrics at http://{bound}/metrics");
            Some(shared)
        }
        None => None,
    };
    let mut records = record_stream(&args.common)?;
    let sink = records.sink_counters();
    if let Some(user) = &args.user {
        privileges::drop_to(user)?;
    }
    eprintln!(
        "tlsight: capturing on {} (stop with Ctrl-C)",
        source.interface()
    );
    let lines = args.common.ndjson.is_none() && !args.common.quiet;
    let mut watch = Watch::new(s.alerts);
    let sensor = s.config.record_format.sensor.clone();
    let mut on_window = |w: ClosedWindow, out: &mut dyn Write| -> io::Result<()> {
        let news = watch.on_window(&w.aggregates, &w.sightings);
        let sink = sink.as_ref().map(|c| c.snapshot());
        if let Some(m) = &metrics {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .update(&w, &watch, sink);
        }
        if lines {
            eprint!("{}", output::window::window_lines(&w, &news.notices));
        }
        let mut buf = Vec::new();
        for a in &news.notices {
            output::window::write_notice(a, w.end, sensor.as_deref(), &mut buf);
        }
        let extras = WindowExtras {
            sensor: sensor.as_deref(),
            sink,
        };
        output::window::write_window(&w, &news, &extras, &mut buf);
        out.write_all(&buf)
    };
    let follower = key_logs.map(|sources| follow_key_logs(sources, Arc::clone(&stop)));
    let mut done = pipeline::run_live(
        source,
        &s.config,
        s.live,
        &stop,
        &mut records,
        &mut on_window,
    )
    .context("writing the NDJSON log")?;
    if let Some(follower) = follower {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut sources) = follower.join() {
            report_key_log_lines(&sources.finish());
        }
    }
    let records_lost = finish_records(records, &args.common)?;
    done.analysis
        .report
        .sensors
        .extend(sensor.as_deref().map(String::from));
    done.analysis.report.slo_p95_ms = args.slo_p95_ms;
    let analysis = &done.analysis;
    for f in &analysis.report.inputs {
        if let Some(e) = &f.error {
            eprintln!("tlsight: {e}");
        }
    }
    write_report_and_summary(&Outputs::of(&args.common), analysis)?;
    let d = done.drops;
    eprintln!(
        "tlsight: {} frames read; dropped: {} by the kernel (ps_drop), {} by the interface \
         (ps_ifdrop), {} TCP segments by tlsight (queues full)",
        analysis.report.input.packets, d.kernel.dropped, d.kernel.if_dropped, d.channel_segments
    );
    Ok(if analysis.input_failed() || records_lost {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `tlsight merge`: reads every report, merges them exactly, writes the merged report and
/// the summary.
fn merge(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    if args
        .slo_p95_ms
        .is_some_and(|ms| !ms.is_finite() || ms < 0.0)
    {
        return Ok(usage(
            "--slo-p95-ms must be a non-negative number of milliseconds",
        ));
    }
    let reports = args
        .reports
        .iter()
        .map(|path| tlsight::merge::read_report_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = tlsight::merge::merge(reports)?;
    if args.slo_p95_ms.is_some() {
        report.slo_p95_ms = args.slo_p95_ms;
    }
    let analysis = Analysis {
        report,
        records_written: 0,
    };
    let outputs = Outputs {
        json: args.json.as_deref(),
        html: args.html.as_deref(),
        quiet: args.quiet,
        stdout_taken: [&args.json, &args.html]
            .into_iter()
            .flatten()
            .any(|p| p.as_os_str() == "-"),
        summary: SummaryOptions::default(),
    };
    write_report_and_summary(&outputs, &analysis)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the report and the summary go.
struct Outputs<'a> {
    /// The JSON report's path, if one is wanted.
    json: Option<&'a Path>,
    /// The HTML report's path, if one is wanted.
    html: Option<&'a Path>,
    /// No terminal summary.
    quiet: bool,
    /// A machine-readable output goes to standard output, so the summary goes to standard
    /// error.
    stdout_taken: bool,
    /// How the summary is cut and dated.
    summary: SummaryOptions,
}

impl<'a> Outputs<'a> {
    fn of(args: &'a CommonArgs) -> Self {
        Outputs {
            json: args.json.as_deref(),
            html: args.html.as_deref(),
            quiet: args.quiet,
            stdout_taken: args.stdout_outputs() > 0,
            summary: args.summary(),
        }
    }
}

/// Writes the JSON and HTML reports (if asked for) and the terminal summary (unless quiet); the
/// summary goes to standard output unless a machine-readable output already does.
fn write_report_and_summary(outputs: &Outputs<'_>, analysis: &Analysis) -> anyhow::Result<()> {
    if let Some(path) = outputs.json {
        let mut out = open_output(path)?;
        output::write_report(&analysis.report, &mut out)
            .and_then(|()| out.flush())
            .context("writing the JSON report")?;
    }
    if let Some(path) = outputs.html {
        let mut out = open_output(path)?;
        output::html::write_html(&analysis.report, &mut out)
            .and_then(|()| out.flush())
            .context("writing the HTML report")?;
    }
    if outputs.quiet {
        return Ok(());
    }
    if outputs.stdout_taken {
        output::write_summary(&analysis.report, &outputs.summary, &mut io::stderr().lock())?;
    } else {
        output::write_summary(&analysis.report, &outputs.summary, &mut io::stdout().lock())?;
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
