//! The pipeline: the only place that spawns threads and owns channels. A capture thread reads
//! and decodes frames and sends TCP segments in batches over bounded channels to the workers,
//! sharded by a symmetric flow hash (payloads in a memory-mapped file travel as offsets into it,
//! not copies); each worker reassembles, observes TLS, builds facts and aggregates. Connection records stream back to the calling thread as connections close and
//! are written in close order (see [`RecordKey`]), so memory does not grow with the capture and
//! offline output does not depend on the number of workers.
//!
//! Live ([`run_live`]) is the same pipeline fed by an interface, with three differences: the
//! reader drops (and counts) batches for workers that are behind instead of waiting, flushes
//! partial batches every few tens of milliseconds so a quiet link still makes progress, and
//! marks window ends in the batches, on which every worker hands its window's aggregates over
//! to the calling thread, which merges them into one [`ClosedWindow`].

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};

use crate::aggregate::{Aggregates, Merge};
use crate::capture::live::LiveInterface;
use crate::capture::{Chunk, Frame, MappedFile, OfflineFile, PacketSource, SharedFrame};
use crate::decode::{Decoded, Decoder, LinkType};
use crate::facts::{self, FactsConfig};
use crate::flow::{Direction, Endpoint, FlowKey, TcpFlags, Timestamp};
use crate::live::{ClosedWindow, Drops, Sightings, WindowClock};
use crate::output::{self, InputFile, InputStats, Report};
use crate::prefetch;
use crate::reassembly::{CloseReason, Connection, FlowTable, Limits, Segment, StreamConsumer};
use crate::tls::{TlsContext, TlsObserver};

/// Validated settings of one analysis.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Flow-table caps and timeouts (per worker; `max_flows` and `max_total_buffer` are
    /// divided among the workers).
    pub limits: Limits,
    /// Fact-building knobs.
    pub facts: FactsConfig,
    /// Whether per-connection NDJSON records are wanted (skipped otherwise).
    pub want_records: bool,
    /// Their schema and sensor name.
    pub record_format: output::records::RecordFormat,
    /// Live mode: workers hand over their aggregates and [`Sightings`] per window instead of
    /// once at the end.
    pub windows: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            limits: Limits::default(),
            facts: FactsConfig::default(),
            want_records: true,
            record_format: output::records::RecordFormat::default(),
            windows: false,
        }
    }
}

/// Segments per batch: large enough that channel traffic is a small fraction of the work,
/// small enough that batches stay in cache.
const BATCH_SEGMENTS: usize = 512;
/// Batches in flight per worker before the reader waits (offline back-pressure, never drops).
const CHANNEL_BATCHES: usize = 8;
/// Batches in flight per worker before the live reader drops (more slack for bursts: the
/// reader must never wait on a live interface).
const LIVE_CHANNEL_BATCHES: usize = 32;
/// Longest a segment waits in a partial batch on a live interface, so that a quiet link still
/// reaches the workers (and their idle expiry and records) promptly.
const LIVE_FLUSH_NS: i64 = 50_000_000;
/// Every this many packets every worker gets a batch, even an empty one, so that a worker
/// whose shard is quiet still advances its clock and lets held records be written.
const TICK_PACKETS: u64 = 1 << 16;
/// Record messages in flight from the workers before they wait for the writer.
const RECORD_MESSAGES: usize = 64;
/// How many segments ahead a worker asks for a connection's state to be loaded into cache
/// (see [`FlowTable::prefetch`]): its flow-table entry first, its consumer's state half as far
/// ahead, the payload's first bytes with the latter.
const PREFETCH_SEGMENTS: usize = 8;
/// Record buffers the writer hands back for reuse (more are freed).
const SPARE_RECORD_BUFFERS: usize = 2 * RECORD_MESSAGES;

/// What the reader decoded of a TCP segment, apart from its payload.
#[derive(Clone, Copy, Debug)]
struct SegmentHead {
    key: FlowKey,
    dir: Direction,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    ts: Timestamp,
    clock: Timestamp,
}

/// A segment in a batch: its headers, and where its payload lives in the batch (in the mapped
/// file the batch holds, or in its own byte buffer).
#[derive(Clone, Copy, Debug)]
struct SegmentDesc {
    head: SegmentHead,
    payload: PayloadAt,
}

/// Where a segment's payload is in its batch.
#[derive(Clone, Copy, Debug)]
enum PayloadAt {
    /// In the batch's mapped file, at this offset (no copy was made).
    Mapped { start: usize, len: usize },
    /// Copied into the batch's buffer (live capture, libpcap, reassembled IP fragments).
    Copied { start: usize, len: usize },
}

/// Segments for one worker; buffers are recycled, so the steady state allocates nothing.
#[derive(Default)]
struct Batch {
    segments: Vec<SegmentDesc>,
    payload: Vec<u8>,
    /// The file the `Mapped` payloads are in.
    file: Option<Arc<MappedFile>>,
    /// The chunks of `file` those payloads lie in, held so their pages stay resident until the
    /// worker is done with them.
    chunks: Vec<Arc<Chunk>>,
    /// The capture clock when the batch was sent: every later segment for this worker has a
    /// clock at least this.
    clock: Timestamp,
    /// Live window the segments belong to; a worker that sees a later one first hands over
    /// its aggregates for the earlier windows.
    window: u64,
}

impl Batch {
    /// The payload of one of this batch's segments.
    fn payload_of(&self, d: &SegmentDesc) -> &[u8] {
        let (bytes, start, len) = match d.payload {
            PayloadAt::Mapped { start, len } => (
                self.file
                    .as_deref()
                    .map(MappedFile::bytes)
                    .unwrap_or_default(),
                start,
                len,
            ),
            PayloadAt::Copied { start, len } => (self.payload.as_slice(), start, len),
        };
        bytes.get(start..start + len).unwrap_or_default()
    }

    /// Empties the batch for reuse, keeping its buffers and letting go of the file's chunks.
    fn clear(&mut self) {
        self.segments.clear();
        self.payload.clear();
        self.file = None;
        self.chunks.clear();
    }
}

/// The order connection records are written in: when the connection ended (capture clock,
/// see [`Connection::closed_at`]), then first packet time, client and server; remaining ties
/// (a port reused within one timestamp) are broken by the record's bytes. None of it depends
/// on which worker saw the connection.
pub type RecordKey = (Timestamp, Timestamp, Endpoint, Endpoint);

/// Records a worker finished since its last message, and how far it has got.
struct RecordMessage {
    worker: usize,
    /// Every record this worker sends later has a key whose close time is at least this.
    progress: Timestamp,
    records: RecordBatch,
    /// Live windows this worker has finished since its last message, oldest first.
    windows: Vec<WindowPart>,
}

/// Connection records packed into one buffer: one allocation per message, reused through the
/// writer, instead of one per record (which the writer thread then freed, a costly free of
/// another thread's memory).
#[derive(Default)]
struct RecordBatch {
    bytes: Vec<u8>,
    records: Vec<(RecordKey, Range<usize>)>,
}

impl RecordBatch {
    /// An empty batch writing into `bytes`, made room for as many bytes and records as
    /// `previous` held (messages are alike, so the buffer rarely grows while records are
    /// written into it).
    fn reusing(mut bytes: Vec<u8>, previous: &RecordBatch) -> Self {
        bytes.clear();
        bytes.reserve(previous.bytes.len());
        RecordBatch {
            bytes,
            records: Vec::with_capacity(previous.records.len()),
        }
    }

    /// Appends the record that `write` appends to the buffer.
    fn push(&mut self, key: RecordKey, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.records.push((key, start..self.bytes.len()));
    }
}

/// One worker's share of one live window.
struct WindowPart {
    window: u64,
    aggregates: Aggregates,
    sightings: Sightings,
}

/// What one worker produced besides its records.
#[derive(Default)]
struct WorkerOutput {
    aggregates: Aggregates,
    /// Live mode only: what the current window saw beyond its aggregates.
    sightings: Sightings,
    tcp_connections: u64,
    tcp_connections_without_tls: u64,
    flows_evicted: u64,
    flow_buffer_cap_hits: u64,
    total_buffer_cap_hits: u64,
}

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

/// Runs one connection's TLS observer on its reassembled streams.
struct ConnectionObserver {
    /// Made when the first stream bytes (or gap) arrive: a connection that never carries data
    /// (a SYN flood's half-open connections) then costs the flow table a pointer instead of
    /// the observer's half kilobyte.
    tls: Option<Box<TlsObserver>>,
    ctx: Rc<RefCell<TlsContext>>,
}

/// The observer of a connection, made on first use.
fn observer(tls: &mut Option<Box<TlsObserver>>) -> &mut TlsObserver {
    tls.get_or_insert_with(|| Box::new(TlsObserver::new()))
}

impl StreamConsumer for ConnectionObserver {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        observer(&mut self.tls).on_data(&mut self.ctx.borrow_mut(), dir, bytes, ts);
    }

    fn prefetch(&self) {
        if let Some(tls) = &self.tls {
            prefetch::object::<TlsObserver>(tls);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        observer(&mut self.tls).on_gap(dir, len, ts);
    }
}

/// Analyses `paths` as one capture, in order, writing connection records (NDJSON, when
/// `cfg.want_records`) to `records` as they become final.
///
/// An error writing `records` stops the analysis early and is returned; input errors are
/// reported per file in the result instead.
pub fn analyze_files(
    paths: &[PathBuf],
    cfg: &Config,
    records: &mut dyn Write,
) -> io::Result<Analysis> {
    let workers = spawn_workers(cfg, CHANNEL_BATCHES);
    let stop = Arc::new(AtomicBool::new(false));
    let reader_paths = paths.to_vec();
    let reader_stop = Arc::clone(&stop);
    let (senders, recycle) = (workers.senders, workers.recycle);
    let reader = thread::spawn(move || read_inputs(&reader_paths, senders, recycle, &reader_stop));

    let merger = RecordMerger::new(workers.handles.len(), workers.spare_buffers.clone());
    let written = write_records(&workers.records, merger, records);
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

/// Starts `cfg.workers` workers, each fed by a channel of `capacity` batches.
fn spawn_workers(cfg: &Config, capacity: usize) -> Workers {
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
            run_worker(worker, rx, recycle, records, wcfg)
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
        input.tcp_connections += o.tcp_connections;
        input.tcp_connections_without_tls += o.tcp_connections_without_tls;
        input.flows_evicted += o.flows_evicted;
        input.flow_buffer_cap_hits += o.flow_buffer_cap_hits;
        input.total_buffer_cap_hits += o.total_buffer_cap_hits;
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

/// What the reader says at the end of each window.
struct ReaderWindow {
    window: u64,
    start: Timestamp,
    end: Timestamp,
    packets: u64,
    drops: Drops,
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
    let cfg = Config {
        windows: true,
        ..cfg.clone()
    };
    let workers = spawn_workers(&cfg, LIVE_CHANNEL_BATCHES);
    let (window_tx, window_rx) = unbounded::<ReaderWindow>();
    let reader_stop = Arc::clone(stop);
    let (senders, recycle) = (workers.senders, workers.recycle);
    let reader =
        thread::spawn(move || read_live(source, senders, recycle, live, &reader_stop, &window_tx));
    let mut assembler = WindowAssembler::new(workers.handles.len());
    let merger = RecordMerger::new(workers.handles.len(), workers.spare_buffers.clone());
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

/// Wall-clock time, as a capture timestamp.
fn wall_clock() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// The live capture thread: like [`read_inputs`], plus time-based flushes (a quiet link still
/// reaches the workers), window ends, and the stop flag.
fn read_live(
    mut source: LiveInterface,
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    live: LiveConfig,
    stop: &AtomicBool,
    windows_tx: &Sender<ReaderWindow>,
) -> (InputFile, InputStats, Drops) {
    let mut reader = Reader::new(senders, recycle);
    reader.dealer.lossy = true;
    reader.clock.wall = true;
    let link = source.link_type();
    let mut file = InputFile {
        path: source.interface().to_string(),
        packets: 0,
        error: None,
    };
    let start = reader.clock.tick(wall_clock());
    let mut windows = WindowClock::new(start, live.interval_ns);
    let mut last_flush = start;
    let mut window_start_packets = 0;
    let mut end_window = |reader: &mut Reader, source: &mut LiveInterface, (start, end)| {
        let drops = Drops {
            kernel: source.stats(),
            channel_segments: reader.dealer.dropped_segments,
        };
        let msg = ReaderWindow {
            window: reader.dealer.window,
            start,
            end,
            packets: reader.stats.packets - window_start_packets,
            drops,
        };
        window_start_packets = reader.stats.packets;
        // The writer reads until the reader hangs up.
        let _ = windows_tx.send(msg);
        drops
    };
    while !stop.load(Ordering::Relaxed) {
        let now = match source.poll() {
            Ok(Some(frame)) => reader.frame(link, &frame),
            Ok(None) => reader.clock.tick(wall_clock()),
            Err(e) => {
                file.error = Some(e.to_string());
                break;
            }
        };
        if now.0.saturating_sub(last_flush.0) >= LIVE_FLUSH_NS {
            reader.dealer.send_all(now);
            last_flush = now;
        }
        if let Some(window) = windows.close_if_due(now) {
            // What is batched belongs to the closing window; the (possibly empty) batches
            // after it tell every worker to hand that window over.
            reader.dealer.send_all(now);
            end_window(&mut reader, &mut source, window);
            reader.dealer.window += 1;
            reader.dealer.send_all(now);
        }
    }
    let now = reader.clock.tick(wall_clock());
    let drops = end_window(&mut reader, &mut source, windows.close_now(now));
    file.packets = reader.stats.packets;
    (file, reader.finish(), drops)
}

/// Puts windows together from the workers' parts and the reader's counters, and hands them
/// on in order once complete.
struct WindowAssembler {
    workers: usize,
    pending: BTreeMap<u64, PendingWindow>,
    next: u64,
    last_drops: Drops,
    /// Aggregates over every window handed on.
    total: Aggregates,
}

/// A window some of whose parts have arrived.
#[derive(Default)]
struct PendingWindow {
    parts: usize,
    aggregates: Aggregates,
    sightings: Sightings,
    reader: Option<ReaderWindow>,
}

impl WindowAssembler {
    fn new(workers: usize) -> Self {
        WindowAssembler {
            workers,
            pending: BTreeMap::new(),
            next: 0,
            last_drops: Drops::default(),
            total: Aggregates::default(),
        }
    }

    fn add_part(&mut self, part: WindowPart) {
        let p = self.pending.entry(part.window).or_default();
        p.parts += 1;
        p.aggregates.merge_in(part.aggregates);
        p.sightings.merge_in(part.sightings);
    }

    fn add_reader(&mut self, r: ReaderWindow) {
        let window = r.window;
        self.pending.entry(window).or_default().reader = Some(r);
    }

    /// Hands every complete window, in order, to `on_window`.
    fn emit_ready(
        &mut self,
        out: &mut dyn Write,
        on_window: &mut dyn FnMut(ClosedWindow, &mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        while let Some(p) = self.pending.get(&self.next)
            && p.parts >= self.workers
            && p.reader.is_some()
        {
            let Some(p) = self.pending.remove(&self.next) else {
                break;
            };
            let Some(r) = p.reader else { break };
            self.next += 1;
            self.total.merge_in(p.aggregates.clone());
            let window = ClosedWindow {
                start: r.start,
                end: r.end,
                packets: r.packets,
                aggregates: p.aggregates,
                sightings: p.sightings,
                drops: r.drops.since(&self.last_drops),
                drops_total: r.drops,
            };
            self.last_drops = r.drops;
            on_window(window, out)?;
        }
        Ok(())
    }
}

/// The live writer: records in close order as they become final, windows as they complete,
/// flushed whenever there is nothing more to read so that records appear promptly.
fn write_live(
    records: &Receiver<RecordMessage>,
    mut merger: RecordMerger,
    reader: &Receiver<ReaderWindow>,
    windows: &mut WindowAssembler,
    out: &mut dyn Write,
    on_window: &mut dyn FnMut(ClosedWindow, &mut dyn Write) -> io::Result<()>,
) -> io::Result<u64> {
    let never = crossbeam_channel::never();
    let mut reader_open = true;
    loop {
        let from_reader = if reader_open { reader } else { &never };
        select! {
            recv(records) -> msg => match msg {
                Ok(mut msg) => {
                    for part in std::mem::take(&mut msg.windows) {
                        windows.add_part(part);
                    }
                    merger.accept(msg, out)?;
                }
                Err(_) => break,
            },
            recv(from_reader) -> w => match w {
                Ok(w) => windows.add_reader(w),
                Err(_) => reader_open = false,
            },
        }
        windows.emit_ready(out, on_window)?;
        if records.is_empty() {
            out.flush()?;
        }
    }
    let written = merger.finish(out)?;
    for w in reader.try_iter() {
        windows.add_reader(w);
    }
    windows.emit_ready(out, on_window)?;
    out.flush()?;
    Ok(written)
}

/// Writes the workers' record messages as one stream in [`RecordKey`] order. Returns how
/// many records were written.
fn write_records(
    messages: &Receiver<RecordMessage>,
    mut merger: RecordMerger,
    out: &mut dyn Write,
) -> io::Result<u64> {
    for msg in messages.iter() {
        merger.accept(msg, out)?;
    }
    // Every worker has hung up: whatever is left is final.
    merger.finish(out)
}

/// Merges per-worker record streams: a record is written once every worker's progress has
/// passed its close time, so no record still to come can sort before it. What is held is
/// bounded by the records closed within the workers' lag, not by the capture.
struct RecordMerger {
    progress: Vec<Timestamp>,
    held: BinaryHeap<Reverse<HeldRecord>>,
    written: u64,
    /// Where a message's buffer goes back once all its records are written.
    spare_buffers: Sender<Vec<u8>>,
}

/// A record waiting to be written, in its message's buffer.
struct HeldRecord {
    key: RecordKey,
    buffer: Rc<Vec<u8>>,
    range: Range<usize>,
}

impl HeldRecord {
    fn line(&self) -> &[u8] {
        self.buffer.get(self.range.clone()).unwrap_or_default()
    }
}

impl Ord for HeldRecord {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.key, self.line()).cmp(&(other.key, other.line()))
    }
}

impl PartialOrd for HeldRecord {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for HeldRecord {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for HeldRecord {}

impl RecordMerger {
    fn new(workers: usize, spare_buffers: Sender<Vec<u8>>) -> Self {
        RecordMerger {
            progress: vec![Timestamp(i64::MIN); workers],
            held: BinaryHeap::new(),
            written: 0,
            spare_buffers,
        }
    }

    /// Takes one message and writes every record that has become final.
    fn accept(&mut self, msg: RecordMessage, out: &mut dyn Write) -> io::Result<()> {
        if let Some(p) = self.progress.get_mut(msg.worker) {
            *p = msg.progress;
        }
        let buffer = Rc::new(msg.records.bytes);
        self.held
            .extend(msg.records.records.into_iter().map(|(key, range)| {
                Reverse(HeldRecord {
                    key,
                    buffer: Rc::clone(&buffer),
                    range,
                })
            }));
        self.recycle(buffer);
        let watermark = self
            .progress
            .iter()
            .copied()
            .min()
            .unwrap_or(Timestamp::MAX);
        while let Some(Reverse(HeldRecord {
            key: (closed_at, ..),
            ..
        })) = self.held.peek()
        {
            // A close time equal to a worker's progress may still come from it; at
            // `Timestamp::MAX` every worker has finished.
            if *closed_at >= watermark && watermark != Timestamp::MAX {
                break;
            }
            self.write_first(out)?;
        }
        Ok(())
    }

    /// Writes everything still held; returns the number of records written in all.
    fn finish(mut self, out: &mut dyn Write) -> io::Result<u64> {
        while !self.held.is_empty() {
            self.write_first(out)?;
        }
        Ok(self.written)
    }

    fn write_first(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(Reverse(record)) = self.held.pop() {
            out.write_all(record.line())?;
            self.written += 1;
            self.recycle(record.buffer);
        }
        Ok(())
    }

    /// Hands a message's buffer back to the workers once no held record is in it.
    fn recycle(&self, buffer: Rc<Vec<u8>>) {
        if let Ok(bytes) = Rc::try_unwrap(buffer) {
            // Full: enough spares already, this one is freed.
            let _ = self.spare_buffers.try_send(bytes);
        }
    }
}

/// A worker's share of the global caps.
fn worker_config(cfg: &Config, workers: usize) -> Config {
    let mut c = cfg.clone();
    c.limits.max_flows = (cfg.limits.max_flows / workers).max(1);
    c.limits.max_total_buffer = (cfg.limits.max_total_buffer / workers).max(1);
    c
}

/// Capture time made monotonic: advances by every forward step of the timestamps, never goes
/// back. Computed from the packet sequence alone, so it is the same whatever the sharding.
#[derive(Default)]
struct CaptureClock {
    last_ts: Option<Timestamp>,
    now: Timestamp,
    /// Live: timestamps (the kernel's, and the reader's own readings when the link is quiet)
    /// are all wall-clock time, so the clock is their running maximum. Adding forward steps
    /// instead would drift ahead of the wall clock whenever a frame stamped before a reading
    /// is read after it.
    wall: bool,
}

impl CaptureClock {
    /// The clock after a packet stamped `ts`.
    fn tick(&mut self, ts: Timestamp) -> Timestamp {
        self.now = match self.last_ts {
            None => ts,
            Some(_) if self.wall => self.now.max(ts),
            Some(last) => Timestamp(self.now.0.saturating_add((ts.0 - last.0).max(0))),
        };
        self.last_ts = Some(ts);
        self.now
    }
}

/// Hands segments out to the workers in batches, and tells every worker the capture clock.
struct Dealer {
    senders: Vec<Sender<Batch>>,
    batches: Vec<Batch>,
    recycle: Receiver<Batch>,
    /// Live: a batch whose worker's channel is full is dropped (and counted) rather than
    /// waited for, so the capture never stalls behind slow workers.
    lossy: bool,
    /// Segments dropped because a worker's channel was full (lossy mode only).
    dropped_segments: u64,
    /// The live window new batches belong to.
    window: u64,
}

impl Dealer {
    fn new(senders: Vec<Sender<Batch>>, recycle: Receiver<Batch>) -> Self {
        let batches = senders.iter().map(|_| Batch::default()).collect();
        Dealer {
            senders,
            batches,
            recycle,
            lossy: false,
            dropped_segments: 0,
            window: 0,
        }
    }

    /// Queues a segment for the worker of its flow: a payload in a mapped file is referred to
    /// (the batch holds its chunks), any other is copied into the batch.
    fn push(
        &mut self,
        head: SegmentHead,
        payload: &[u8],
        shared: Option<SharedFrame<'_>>,
        clock: Timestamp,
    ) {
        let w = head.key.shard(self.senders.len());
        let mapped = shared.and_then(|s| Some((s, s.file.offset_of(payload)?)));
        // A batch refers to one file: segments of the next file wait for the next batch.
        if let Some((s, _)) = mapped
            && let Some(batch) = self.batches.get(w)
            && batch.file.as_ref().is_some_and(|f| !Arc::ptr_eq(f, s.file))
        {
            self.send(w, clock);
        }
        let Some(batch) = self.batches.get_mut(w) else {
            return;
        };
        let len = payload.len();
        let payload = match mapped {
            Some((s, start)) => {
                if batch.file.is_none() {
                    batch.file = Some(Arc::clone(s.file));
                }
                for chunk in s.chunks {
                    if !batch.chunks.last().is_some_and(|c| Arc::ptr_eq(c, chunk)) {
                        batch.chunks.push(Arc::clone(chunk));
                    }
                }
                PayloadAt::Mapped { start, len }
            }
            None => {
                let start = batch.payload.len();
                batch.payload.extend_from_slice(payload);
                PayloadAt::Copied { start, len }
            }
        };
        batch.segments.push(SegmentDesc { head, payload });
        if batch.segments.len() >= BATCH_SEGMENTS {
            self.send(w, clock);
        }
    }

    /// Sends worker `w` its batch (even an empty one), stamped with the clock.
    fn send(&mut self, w: usize, clock: Timestamp) {
        let (Some(batch), Some(tx)) = (self.batches.get_mut(w), self.senders.get(w)) else {
            return;
        };
        if self.lossy && tx.is_full() {
            // The reader is the only sender, so a channel with room now still has room when
            // it sends; a full one means the worker is behind: drop, count, reuse the buffers.
            self.dropped_segments += batch.segments.len() as u64;
            batch.clear();
            return;
        }
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let mut full = std::mem::replace(batch, fresh);
        full.clock = clock;
        full.window = self.window;
        // A worker only hangs up by panicking, which the join reports.
        let _ = tx.send(full);
    }

    /// Sends every worker its batch.
    fn send_all(&mut self, clock: Timestamp) {
        for w in 0..self.senders.len() {
            self.send(w, clock);
        }
    }
}

/// Decodes frames and deals their segments out to the workers: the part of the capture thread
/// that files and live interfaces share.
struct Reader {
    stats: InputStats,
    decoder: Decoder,
    dealer: Dealer,
    decode_errors: BTreeMap<&'static str, u64>,
    clock: CaptureClock,
    /// The previous frame's own timestamp, across files (the clock also takes live readings).
    last_frame_ts: Option<Timestamp>,
}

impl Reader {
    fn new(senders: Vec<Sender<Batch>>, recycle: Receiver<Batch>) -> Self {
        Reader {
            stats: InputStats::default(),
            decoder: Decoder::new(),
            dealer: Dealer::new(senders, recycle),
            decode_errors: BTreeMap::new(),
            clock: CaptureClock::default(),
            last_frame_ts: None,
        }
    }

    /// Takes one frame; returns the capture clock after it.
    fn frame(&mut self, link: LinkType, frame: &Frame<'_>) -> Timestamp {
        self.stats.packets += 1;
        self.stats.bytes += frame.data.len() as u64;
        // A clock stepped back (or files merged out of order): durations across it are
        // meaningless, so it is counted.
        if self.last_frame_ts.is_some_and(|last| frame.ts < last) {
            self.stats.timestamps_backwards += 1;
        }
        self.last_frame_ts = Some(frame.ts);
        // Cut by the snap length: the missing bytes only show up as decode errors or gaps.
        if (frame.data.len() as u64) < u64::from(frame.wire_len) {
            self.stats.snaplen_truncated += 1;
        }
        let now = self.clock.tick(frame.ts);
        match self.decoder.decode(link, frame.data, frame.ts) {
            Ok(Decoded::Tcp(seg)) => {
                self.stats.tcp_segments += 1;
                let (key, dir) = FlowKey::from_endpoints(seg.src, seg.dst);
                let head = SegmentHead {
                    key,
                    dir,
                    seq: seg.seq,
                    ack: seg.ack,
                    flags: seg.flags,
                    ts: frame.ts,
                    clock: now,
                };
                self.dealer.push(head, seg.payload, frame.shared, now);
            }
            Ok(Decoded::NotTcp) => self.stats.not_tcp += 1,
            Ok(Decoded::FragmentHeld) => self.stats.ip_fragments += 1,
            Err(e) => *self.decode_errors.entry(e.kind()).or_default() += 1,
        }
        now
    }

    /// Sends every batch (waiting for room, even live: nothing is lost at the end) and
    /// returns the input counters.
    fn finish(mut self) -> InputStats {
        self.dealer.lossy = false;
        self.dealer.send_all(self.clock.now);
        // Datagrams still incomplete at the end of the capture never will be.
        self.decoder.expire(Timestamp::MAX);
        let d = self.decoder.stats();
        let mut stats = self.stats;
        stats.ip_datagrams_reassembled = d.datagrams_reassembled;
        stats.ip_datagrams_dropped = d.datagrams_expired
            + d.datagrams_evicted
            + d.datagrams_oversized
            + d.datagrams_too_fragmented
            + d.total_bytes_cap_hits
            + d.datagrams_inconsistent;
        stats.decode_errors = self.decode_errors;
        stats
    }
}

/// The capture thread: reads every input, decodes, and deals segments out to the workers
/// until the inputs end or `stop` is set.
fn read_inputs(
    paths: &[PathBuf],
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    stop: &AtomicBool,
) -> (Vec<InputFile>, InputStats) {
    let mut inputs = Vec::with_capacity(paths.len());
    let mut reader = Reader::new(senders, recycle);
    for path in paths {
        let mut file = InputFile {
            path: path.display().to_string(),
            packets: 0,
            error: None,
        };
        let mut source = match OfflineFile::open(path) {
            Ok(s) => s,
            Err(e) => {
                file.error = Some(e.to_string());
                inputs.push(file);
                continue;
            }
        };
        let link = source.link_type();
        loop {
            let frame = match source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    file.error = Some(e.to_string());
                    break;
                }
            };
            let now = reader.frame(link, &frame);
            if reader.stats.packets.is_multiple_of(TICK_PACKETS) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                reader.dealer.send_all(now);
            }
        }
        file.packets = source.packets_read();
        inputs.push(file);
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    (inputs, reader.finish())
}

/// A worker: owns the flow table of its shard, and sends its records to the writer after
/// every batch.
fn run_worker(
    worker: usize,
    rx: Receiver<Batch>,
    recycle: Sender<Batch>,
    channels: RecordChannels,
    cfg: Config,
) -> WorkerOutput {
    let mut table: FlowTable<ConnectionObserver> = FlowTable::new(cfg.limits);
    let ctx = Rc::new(RefCell::new(TlsContext::default()));
    let mut out = WorkerOutput::default();
    let fresh_records = |previous: &RecordBatch| {
        RecordBatch::reusing(channels.spare.try_recv().unwrap_or_default(), previous)
    };
    let mut records = RecordBatch::default();
    let mut new_consumer = |_: &FlowKey| ConnectionObserver {
        tls: None,
        ctx: Rc::clone(&ctx),
    };
    let send = |records: &mut RecordBatch, progress, windows: Vec<WindowPart>| {
        if cfg.want_records || !windows.is_empty() {
            let msg = RecordMessage {
                worker,
                progress,
                records: std::mem::replace(records, fresh_records(records)),
                windows,
            };
            // The writer reads until every worker has hung up: a failed send cannot happen.
            let _ = channels.messages.send(msg);
        }
    };
    let mut window = 0;
    for mut batch in rx {
        // Windows end between batches: what came before belongs to the earlier ones.
        let mut parts = Vec::new();
        while cfg.windows && window < batch.window {
            parts.push(take_window(window, &mut out));
            window += 1;
        }
        let mut closed = |conn: Connection<ConnectionObserver>, reason: CloseReason| {
            finish_connection(conn, reason, &cfg, &mut out, &mut records);
        };
        for (i, d) in batch.segments.iter().enumerate() {
            if let Some(ahead) = batch.segments.get(i + PREFETCH_SEGMENTS) {
                table.prefetch(&ahead.head.key, false);
            }
            if let Some(ahead) = batch.segments.get(i + PREFETCH_SEGMENTS / 2) {
                table.prefetch(&ahead.head.key, true);
                prefetch::line(batch.payload_of(ahead).as_ptr());
            }
            let h = d.head;
            let seg = Segment {
                key: h.key,
                dir: h.dir,
                seq: h.seq,
                ack: h.ack,
                flags: h.flags,
                payload: batch.payload_of(d),
                ts: h.ts,
                clock: h.clock,
            };
            table.process(&seg, &mut new_consumer, &mut closed);
        }
        table.expire_idle(batch.clock, &mut closed);
        let progress = batch.clock;
        batch.clear();
        let _ = recycle.send(batch);
        send(&mut records, progress, parts);
    }
    table.drain(&mut |conn, reason| {
        finish_connection(conn, reason, &cfg, &mut out, &mut records);
    });
    let last = if cfg.windows {
        vec![take_window(window, &mut out)]
    } else {
        Vec::new()
    };
    send(&mut records, Timestamp::MAX, last);
    let stats = table.stats().clone();
    out.flows_evicted = stats.flows_evicted;
    out.flow_buffer_cap_hits = stats.flow_buffer_cap_hits;
    out.total_buffer_cap_hits = stats.total_buffer_cap_hits;
    out
}

/// Hands over what the worker aggregated in `window`, starting afresh.
fn take_window(window: u64, out: &mut WorkerOutput) -> WindowPart {
    WindowPart {
        window,
        aggregates: std::mem::take(&mut out.aggregates),
        sightings: std::mem::take(&mut out.sightings),
    }
}

/// Turns a closed connection into facts and aggregates, and (if wanted) an NDJSON record
/// in `records`, with its place in the output order.
fn finish_connection(
    conn: Connection<ConnectionObserver>,
    reason: CloseReason,
    cfg: &Config,
    out: &mut WorkerOutput,
    records: &mut RecordBatch,
) {
    out.tcp_connections += 1;
    let Some(tls) = conn.consumer.tls.filter(|tls| tls.is_tls()) else {
        out.tcp_connections_without_tls += 1;
        return;
    };
    let transcript = tls.finish();
    let f = facts::build(&conn.key, conn.meta, reason, transcript, &cfg.facts);
    out.aggregates.add(&f);
    if cfg.windows {
        out.sightings.add(&f);
    }
    if cfg.want_records {
        let (first_ts, client, server) = f.sort_key();
        records.push((conn.closed_at, first_ts, client, server), |bytes| {
            cfg.record_format.write(&f, bytes)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn record(closed_at: i64, first: i64, port: u16) -> (RecordKey, Vec<u8>) {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let client = Endpoint { ip, port };
        let server = Endpoint { ip, port: 443 };
        let key = (Timestamp(closed_at), Timestamp(first), client, server);
        (key, format!("{closed_at}/{port}\n").into_bytes())
    }

    /// Headers of a segment of one made-up connection.
    fn test_head() -> SegmentHead {
        let (key, dir) = FlowKey::from_endpoints(record(0, 0, 1).0.2, record(0, 0, 2).0.2);
        SegmentHead {
            key,
            dir,
            seq: 0,
            ack: 0,
            flags: TcpFlags(0),
            ts: Timestamp(0),
            clock: Timestamp(0),
        }
    }

    fn message(worker: usize, progress: i64, records: Vec<(RecordKey, Vec<u8>)>) -> RecordMessage {
        let mut batch = RecordBatch::default();
        for (key, line) in records {
            batch.push(key, |bytes| bytes.extend_from_slice(&line));
        }
        RecordMessage {
            worker,
            progress: Timestamp(progress),
            records: batch,
            windows: Vec::new(),
        }
    }

    #[test]
    fn records_are_written_in_close_order_once_every_worker_has_passed_them() {
        let (spare_tx, spare_rx) = unbounded();
        let mut merger = RecordMerger::new(2, spare_tx);
        let mut out = Vec::new();
        merger
            .accept(
                message(0, 10, vec![record(7, 1, 1), record(9, 2, 2)]),
                &mut out,
            )
            .unwrap();
        assert!(out.is_empty(), "worker 1 has not reported yet");
        merger
            .accept(message(1, 8, vec![record(4, 3, 3)]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n");
        // A close time equal to the slowest worker's progress is held: another may follow.
        merger
            .accept(message(1, 9, vec![record(8, 4, 4)]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n8/4\n");
        merger
            .accept(message(1, i64::MAX, vec![record(9, 0, 5)]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n8/4\n9/5\n9/2\n");
        merger
            .accept(message(0, i64::MAX, vec![record(i64::MAX, 0, 6)]), &mut out)
            .unwrap();
        assert_eq!(merger.finish(&mut out).unwrap(), 6);
        assert!(String::from_utf8_lossy(&out).ends_with("9/2\n9223372036854775807/6\n"));
        assert_eq!(
            spare_rx.len(),
            5,
            "every message's buffer handed back once written"
        );
    }

    #[test]
    fn payloads_in_a_mapped_file_are_referred_to_and_others_copied() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/tls12-ecdhe-rsa.pcap");
        let mut source = OfflineFile::open(&path).expect("open");
        let link = source.link_type();
        let (tx, rx) = unbounded::<Batch>();
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut reader = Reader::new(vec![tx], recycle_rx);
        let mut decoder = Decoder::new();
        let mut payloads = Vec::new();
        while let Some(frame) = source.next_frame().expect("read") {
            if let Ok(Decoded::Tcp(seg)) = decoder.decode(link, frame.data, frame.ts) {
                payloads.push(seg.payload.to_vec());
            }
            reader.frame(link, &frame);
        }
        // The same payload again, from memory that is not the file: copied.
        let head = test_head();
        let last = payloads.last().expect("segments").clone();
        reader.dealer.push(head, &last, None, Timestamp(0));
        payloads.push(last);
        reader.finish();
        let batch = rx.try_recv().expect("one batch");
        assert!(batch.file.is_some() && !batch.chunks.is_empty());
        let got: Vec<Vec<u8>> = batch
            .segments
            .iter()
            .map(|d| batch.payload_of(d).to_vec())
            .collect();
        assert_eq!(got, payloads);
        let copied = batch
            .segments
            .iter()
            .filter(|d| matches!(d.payload, PayloadAt::Copied { .. }))
            .count();
        assert_eq!(copied, 1, "only the segment from outside the file");
        assert_eq!(batch.payload.len(), payloads[payloads.len() - 1].len());
    }

    #[test]
    fn lossy_dealer_drops_and_counts_instead_of_waiting() {
        let (tx, rx) = bounded::<Batch>(1);
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut dealer = Dealer::new(vec![tx], recycle_rx);
        dealer.lossy = true;
        let head = test_head();
        // Three full batches into a channel of one, nobody reading: one goes through, two are
        // dropped and counted, and the reader never blocks.
        for _ in 0..3 * BATCH_SEGMENTS {
            dealer.push(head, b"abc", None, Timestamp(1));
        }
        assert_eq!(dealer.dropped_segments, 2 * BATCH_SEGMENTS as u64);
        let got = rx.try_recv().expect("the first batch");
        assert_eq!(got.segments.len(), BATCH_SEGMENTS);
        assert_eq!(got.payload.len(), 3 * BATCH_SEGMENTS);
        // Room again: the next batch goes through, stamped with the window.
        dealer.window = 4;
        dealer.push(head, b"abc", None, Timestamp(2));
        dealer.send_all(Timestamp(2));
        let got = rx.try_recv().expect("the next batch");
        assert_eq!((got.segments.len(), got.window), (1, 4));
    }

    #[test]
    fn windows_are_handed_on_in_order_once_every_part_is_in() {
        let mut windows = WindowAssembler::new(2);
        let seen = RefCell::new(Vec::new());
        let mut on_window = |w: ClosedWindow, _: &mut dyn Write| {
            seen.borrow_mut().push((
                w.start.0,
                w.aggregates.all.connections,
                w.drops.channel_segments,
            ));
            Ok(())
        };
        let part = |window, connections| WindowPart {
            window,
            aggregates: Aggregates {
                all: crate::aggregate::Breakdown {
                    connections,
                    ..Default::default()
                },
                ..Aggregates::default()
            },
            sightings: Sightings::default(),
        };
        let reader = |window: u64, dropped| ReaderWindow {
            window,
            start: Timestamp(window as i64),
            end: Timestamp(window as i64 + 1),
            packets: 0,
            drops: Drops {
                channel_segments: dropped,
                ..Drops::default()
            },
        };
        let out = &mut io::sink();
        windows.add_part(part(0, 1));
        windows.add_reader(reader(0, 5));
        windows.add_part(part(1, 10));
        windows.add_reader(reader(1, 7));
        windows.add_part(part(1, 20));
        windows.emit_ready(out, &mut on_window).expect("emit");
        assert!(
            seen.borrow().is_empty(),
            "window 0 lacks a worker, window 1 must wait"
        );
        windows.add_part(part(0, 2));
        windows.emit_ready(out, &mut on_window).expect("emit");
        // Drops per window are differences of the running totals.
        assert_eq!(*seen.borrow(), [(0, 3, 5), (1, 30, 2)]);
        assert_eq!(windows.total.all.connections, 33);
    }

    #[test]
    fn half_open_connections_get_no_tls_observer() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (client, server) = (Endpoint { ip, port: 40000 }, Endpoint { ip, port: 443 });
        let (key, dir) = FlowKey::from_endpoints(client, server);
        let ctx = Rc::new(RefCell::new(TlsContext::default()));
        let mut table: FlowTable<ConnectionObserver> = FlowTable::new(Limits::default());
        let mut new_consumer = |_: &FlowKey| ConnectionObserver {
            tls: None,
            ctx: Rc::clone(&ctx),
        };
        let segment = |flags: u8, seq: u32, payload: &'static [u8]| Segment {
            key,
            dir,
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            payload,
            ts: Timestamp(1),
            clock: Timestamp(1),
        };
        let mut observed = Vec::new();
        let mut closed =
            |c: Connection<ConnectionObserver>, _| observed.push(c.consumer.tls.is_some());
        table.process(
            &segment(TcpFlags::SYN, 1, b""),
            &mut new_consumer,
            &mut closed,
        );
        table.drain(&mut closed);
        table.process(
            &segment(TcpFlags::SYN, 1, b""),
            &mut new_consumer,
            &mut closed,
        );
        table.process(
            &segment(0, 2, b"\x16\x03\x01"),
            &mut new_consumer,
            &mut closed,
        );
        table.drain(&mut closed);
        assert_eq!(observed, [false, true]);
    }

    #[test]
    fn reader_counts_backward_timestamps_and_snaplen_cuts_of_every_source() {
        let (tx, _rx) = unbounded::<Batch>();
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let mut reader = Reader::new(vec![tx], recycle_rx);
        let data = [0u8; 60];
        let frame = |secs: i64, wire_len: u32| Frame {
            ts: Timestamp::from_parts(secs, 0),
            data: &data,
            wire_len,
            shared: None,
        };
        // One step back within a file, one at the boundary between two files, one cut frame.
        for (secs, wire_len) in [(100, 60), (99, 60), (99, 1500), (101, 60), (50, 60)] {
            reader.frame(LinkType::ETHERNET, &frame(secs, wire_len));
        }
        let stats = reader.finish();
        assert_eq!(stats.packets, 5);
        assert_eq!(stats.timestamps_backwards, 2);
        assert_eq!(stats.snaplen_truncated, 1);
    }

    #[test]
    fn capture_clock_never_goes_back() {
        let mut clock = CaptureClock::default();
        assert_eq!(clock.tick(Timestamp(100)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(50)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(80)), Timestamp(130));
    }

    #[test]
    fn live_clock_follows_the_wall_clock_without_drift() {
        let mut clock = CaptureClock {
            wall: true,
            ..CaptureClock::default()
        };
        assert_eq!(clock.tick(Timestamp(100)), Timestamp(100));
        // A frame stamped before the last reading, read after it.
        assert_eq!(clock.tick(Timestamp(95)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(96)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(200)), Timestamp(200));
    }
}
