//! The pipeline: the only place that spawns the analysis threads and owns their channels (the
//! metrics HTTP server of `tlsight live` runs on a thread of its own, started by
//! [`crate::metrics::serve`]). A capture thread (`reader`) reads and decodes frames and sends
//! TCP segments in batches (`batch`) over bounded channels to the workers (`worker`), sharded by a symmetric
//! flow hash (payloads in a memory-mapped file travel as offsets into it, not copies); each
//! worker drives its transports (TCP reassembly, the TLS record and handshake layers), builds
//! facts and aggregates. Connection records (`records`) stream back to the calling thread as connections
//! close and are written in close order (see `records::RecordKey`), so memory does not grow
//! with the capture and offline output does not depend on the number of workers.
//!
//! Live ([`run_live`]) is the same pipeline fed by an interface, with three differences: the
//! reader drops (and counts) batches for workers that are behind instead of waiting, flushes
//! partial batches every few tens of milliseconds so a quiet link still makes progress, and
//! marks window ends in the batches, on which every worker hands its window's aggregates over
//! to the calling thread, which merges them into one [`ClosedWindow`].

mod batch;
mod inputs;
mod live;
mod progress;
mod reader;
mod records;
mod worker;

pub use inputs::MAX_INPUTS;
pub use progress::{Progress, ProgressSnapshot};

use batch::Batch;
use inputs::{Inputs, read_inputs};
use live::{ReaderWindow, WindowAssembler, read_live, write_live};
use records::{RecordMerger, RecordMessage, write_records};
use worker::{WorkerOutput, run_worker};

use crate::aggregate::{Aggregates, Merge};
use crate::capture::interface::LiveInterface;
use crate::facts::FactsConfig;
use crate::facts::scope::Scope;
use crate::output::{InputStats, Report};
use crate::tcp::Limits;
use crate::watch::{ClosedWindow, Drops};
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// Validated settings of one analysis.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Flow-table caps and timeouts (per worker; `max_flows`, `max_half_open` and
    /// `max_total_buffer` are divided among the workers).
    pub limits: Limits,
    /// Fact-building knobs.
    pub facts: FactsConfig,
    /// Whether per-connection NDJSON records are wanted (skipped otherwise).
    pub want_records: bool,
    /// Failed connections listed per failure cause in the report (see
    /// [`FailedConnections`](crate::aggregate::failures::FailedConnections)).
    pub failed_per_cause: usize,
    /// Their schema and sensor name.
    pub record_format: crate::output::format::RecordFormat,
    /// `analyze -f`: a BPF expression (tcpdump syntax) frames must match.
    pub filter: Option<String>,
    /// Where the analysis publishes its progress, for a progress line.
    pub progress: Option<Arc<Progress>>,
    /// `--server`, `--sni`, `--client`: connections outside are left out of every output.
    pub scope: Scope,
    /// `--tcp-failures`: write a record for each connection that failed before TLS.
    pub tcp_failure_records: bool,
    /// `--tls-ports`: where `--tcp-failures` writes records besides the ports TLS was seen on.
    pub tls_ports: Vec<u16>,
    /// Key logs (`--keylog`, pcapng secrets blocks): connections with secrets are decrypted.
    pub keys: Option<crate::keylog::SharedKeyLog>,
}

/// How the pipeline runs, chosen once when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Saved captures: the reader waits for the workers and never drops; the clock follows the
    /// capture's timestamps.
    Offline,
    /// An interface: the reader drops (and counts) batches for workers that are behind, the
    /// clock is the wall clock, and workers hand over their aggregates and [`crate::watch::Sightings`] per
    /// window instead of once at the end.
    Live,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            limits: Limits::default(),
            facts: FactsConfig::default(),
            want_records: true,
            failed_per_cause: crate::aggregate::failures::DEFAULT_PER_CAUSE,
            record_format: crate::output::format::RecordFormat::default(),
            filter: None,
            progress: None,
            scope: Scope::default(),
            tcp_failure_records: false,
            tls_ports: crate::facts::WELL_KNOWN_TLS_PORTS.to_vec(),
            keys: None,
        }
    }
}

/// Batches in flight per worker before the reader waits (offline back-pressure, never drops).
const CHANNEL_BATCHES: usize = 8;

/// Batches in flight per worker before the live reader drops (more slack for bursts: the
/// reader must never wait on a live interface).
const LIVE_CHANNEL_BATCHES: usize = 32;

/// Record messages in flight from the workers before they wait for the writer.
const RECORD_MESSAGES: usize = 64;

/// Record buffers the writer hands back for reuse (more are freed).
const SPARE_RECORD_BUFFERS: usize = 2 * RECORD_MESSAGES;

/// The result of an analysis.
pub struct Analysis {
    /// Aggregates and input statistics.
    pub report: Report,
    /// Connection records written.
    pub records_written: u64,
}

impl Analysis {
    /// Whether any input stopped early or could not be opened.
    pub fn input_failed(&self) -> bool {
        self.report.inputs.iter().any(|f| f.error.is_some())
    }
}

/// Analyses `paths` as one capture, their frames merged by timestamp, writing connection
/// records (NDJSON, when `cfg.want_records`) to `records` as they become final.
///
/// An error writing `records` stops the analysis early and is returned; input errors are
/// reported per file in the result instead.
pub fn analyze_files(
    paths: &[PathBuf],
    cfg: &Config,
    records: &mut dyn Write,
) -> io::Result<Analysis> {
    analyze_files_until(paths, cfg, records, &Arc::new(AtomicBool::new(false)))
}

/// [`analyze_files`] that stops reading once `stop` is set (a signal handler's flag): what
/// was read is analysed and reported, connections still open are closed at the capture's end.
pub fn analyze_files_until(
    paths: &[PathBuf],
    cfg: &Config,
    records: &mut dyn Write,
    stop: &Arc<AtomicBool>,
) -> io::Result<Analysis> {
    let workers = spawn_workers(cfg, Mode::Offline);
    let inputs = Inputs {
        paths: paths.to_vec(),
        filter: cfg.filter.clone(),
        stop: Arc::clone(stop),
        progress: cfg.progress.clone(),
    };
    // Records of an input read as it is written go out as soon as they are final.
    let streaming = paths
        .iter()
        .any(|p| p.as_os_str() == "-" || std::fs::metadata(p).is_ok_and(|m| !m.is_file()));
    let (senders, recycle) = (workers.senders, workers.recycle);
    let reader = thread::spawn(move || read_inputs(&inputs, senders, recycle));

    let merger = RecordMerger::new(
        workers.handles.len(),
        workers.spare_buffers.clone(),
        &cfg.tls_ports,
    );
    let written = write_records(&workers.records, merger, records, streaming);
    if written.is_err() {
        // Stop reading; the workers then finish and hang up. Drain without writing.
        stop.store(true, Ordering::Relaxed);
        for _ in workers.records.iter() {}
    }
    let (inputs, mut input) = join(reader);
    let aggregates = join_workers(workers.handles, &mut input);
    Ok(Analysis {
        report: Report {
            inputs,
            input,
            aggregates,
            interrupted: stop.load(Ordering::Relaxed),
            ..Report::default()
        },
        records_written: written?,
    })
}

/// The worker threads and the channel ends the reader and the writer use.
struct Workers {
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    records: Receiver<RecordMessage>,
    /// Where the writer hands record buffers back to the workers.
    spare_buffers: Sender<Vec<u8>>,
    handles: Vec<thread::JoinHandle<WorkerOutput>>,
}

/// A worker's ends of the record channels.
struct RecordChannels {
    messages: Sender<RecordMessage>,
    /// Buffers the writer is done with.
    spare: Receiver<Vec<u8>>,
}

/// Starts `cfg.workers` workers for `mode`.
fn spawn_workers(cfg: &Config, mode: Mode) -> Workers {
    let capacity = match mode {
        Mode::Offline => CHANNEL_BATCHES,
        Mode::Live => LIVE_CHANNEL_BATCHES,
    };
    let workers = cfg.workers.max(1);
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    let (recycle_tx, recycle) = unbounded::<Batch>();
    let (record_tx, records) = bounded::<RecordMessage>(RECORD_MESSAGES);
    let (spare_tx, spare_rx) = bounded::<Vec<u8>>(SPARE_RECORD_BUFFERS);
    for worker in 0..workers {
        let (tx, rx) = bounded::<Batch>(capacity);
        senders.push(tx);
        let recycle = recycle_tx.clone();
        let records = RecordChannels {
            messages: record_tx.clone(),
            spare: spare_rx.clone(),
        };
        let wcfg = worker_config(cfg, workers);
        handles.push(thread::spawn(move || {
            run_worker(worker, rx, recycle, records, wcfg, mode)
        }));
    }
    Workers {
        senders,
        recycle,
        records,
        spare_buffers: spare_tx,
        handles,
    }
}

/// Joins a thread, passing its panic on.
fn join<T>(handle: thread::JoinHandle<T>) -> T {
    match handle.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Joins the workers: merges their aggregates and adds their counters to `input`.
fn join_workers(
    handles: Vec<thread::JoinHandle<WorkerOutput>>,
    input: &mut InputStats,
) -> Aggregates {
    let mut aggregates = Aggregates::default();
    for h in handles {
        let o = join(h);
        aggregates.merge_in(o.aggregates);
        input.flows += o.flows;
    }
    aggregates
}

/// Settings of a live capture beyond [`Config`].
#[derive(Clone, Copy, Debug)]
pub struct LiveConfig {
    /// Window length, nanoseconds.
    pub interval_ns: i64,
}

/// The result of a live capture.
pub struct LiveAnalysis {
    /// The final report (aggregates over every window) and records written.
    pub analysis: Analysis,
    /// Lost since the capture started.
    pub drops: Drops,
}

/// Captures from `source` until `stop` is set (or the interface fails), writing connection
/// records (when `cfg.want_records`) to `out` as connections end and handing every closed
/// window to `on_window` (which writes to `out` too). Frames the workers cannot keep up with
/// are dropped at the channel and counted, never waited for.
///
/// On stop, connections still open are closed and reported, the last window is closed, and
/// the report over the whole capture is returned.
pub fn run_live(
    source: LiveInterface,
    cfg: &Config,
    live: LiveConfig,
    stop: &Arc<AtomicBool>,
    out: &mut dyn Write,
    on_window: &mut dyn FnMut(ClosedWindow, &mut dyn Write) -> io::Result<()>,
) -> io::Result<LiveAnalysis> {
    let workers = spawn_workers(cfg, Mode::Live);
    let (window_tx, window_rx) = unbounded::<ReaderWindow>();
    let reader_stop = Arc::clone(stop);
    let (senders, recycle) = (workers.senders, workers.recycle);
    let reader =
        thread::spawn(move || read_live(source, senders, recycle, live, &reader_stop, &window_tx));
    let mut assembler = WindowAssembler::new(workers.handles.len());
    let merger = RecordMerger::new(
        workers.handles.len(),
        workers.spare_buffers.clone(),
        &cfg.tls_ports,
    );
    let written = write_live(
        &workers.records,
        merger,
        &window_rx,
        &mut assembler,
        out,
        on_window,
    );
    if written.is_err() {
        stop.store(true, Ordering::Relaxed);
        for _ in workers.records.iter() {}
    }
    let (file, mut input, drops) = join(reader);
    // Live workers hand all their aggregates over in windows.
    join_workers(workers.handles, &mut input);
    Ok(LiveAnalysis {
        analysis: Analysis {
            report: Report {
                inputs: vec![file],
                input,
                aggregates: assembler.total,
                ..Report::default()
            },
            records_written: written?,
        },
        drops,
    })
}

/// A worker's share of the global caps.
fn worker_config(cfg: &Config, workers: usize) -> Config {
    let mut c = cfg.clone();
    c.limits.max_flows = (cfg.limits.max_flows / workers).max(1);
    c.limits.max_half_open = cfg.limits.max_half_open.div_ceil(workers);
    c.limits.max_unanswered = cfg.limits.max_unanswered.div_ceil(workers);
    c.limits.max_total_buffer = (cfg.limits.max_total_buffer / workers).max(1);
    c
}
