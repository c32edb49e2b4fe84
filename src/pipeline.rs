//! The pipeline: the only place that spawns threads and owns channels. A capture thread reads
//! and decodes frames and sends TCP segments in batches over bounded channels to the workers,
//! sharded by a symmetric flow hash; each worker reassembles, observes TLS, builds facts and
//! aggregates. Connection records stream back to the calling thread as connections close and
//! are written in close order (see [`RecordKey`]), so memory does not grow with the capture and
//! offline output does not depend on the number of workers.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use crate::aggregate::{Aggregates, Merge};
use crate::capture::{OfflineFile, PacketSource};
use crate::decode::{Decoded, Decoder};
use crate::facts::{self, FactsConfig};
use crate::flow::{Direction, Endpoint, FlowKey, TcpFlags, Timestamp};
use crate::output::{self, InputFile, InputStats, Report};
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            limits: Limits::default(),
            facts: FactsConfig::default(),
            want_records: true,
        }
    }
}

/// Segments per batch: large enough that channel traffic is a small fraction of the work,
/// small enough that batches stay in cache.
const BATCH_SEGMENTS: usize = 512;
/// Batches in flight per worker before the reader waits (offline back-pressure, never drops).
const CHANNEL_BATCHES: usize = 8;
/// Every this many packets every worker gets a batch, even an empty one, so that a worker
/// whose shard is quiet still advances its clock and lets held records be written.
const TICK_PACKETS: u64 = 1 << 16;
/// Record messages in flight from the workers before they wait for the writer.
const RECORD_MESSAGES: usize = 64;

/// A decoded TCP segment whose payload lives in its batch's byte buffer.
#[derive(Clone, Copy, Debug)]
struct SegmentDesc {
    key: FlowKey,
    dir: Direction,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    ts: Timestamp,
    clock: Timestamp,
    start: usize,
    len: usize,
}

/// Segments for one worker; buffers are recycled, so the steady state allocates nothing.
#[derive(Default)]
struct Batch {
    segments: Vec<SegmentDesc>,
    payload: Vec<u8>,
    /// The capture clock when the batch was sent: every later segment for this worker has a
    /// clock at least this.
    clock: Timestamp,
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
    records: Vec<(RecordKey, Vec<u8>)>,
}

/// What one worker produced besides its records.
#[derive(Default)]
struct WorkerOutput {
    aggregates: Aggregates,
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
    tls: TlsObserver,
    ctx: Rc<RefCell<TlsContext>>,
}

impl StreamConsumer for ConnectionObserver {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        self.tls.on_data(&mut self.ctx.borrow_mut(), dir, bytes, ts);
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        self.tls.on_gap(dir, len, ts);
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
    let workers = cfg.workers.max(1);
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    let (recycle_tx, recycle_rx) = unbounded::<Batch>();
    let (record_tx, record_rx) = bounded::<RecordMessage>(RECORD_MESSAGES);
    for worker in 0..workers {
        let (tx, rx) = bounded::<Batch>(CHANNEL_BATCHES);
        senders.push(tx);
        let recycle = recycle_tx.clone();
        let record_tx = record_tx.clone();
        let wcfg = worker_config(cfg, workers);
        handles.push(thread::spawn(move || {
            run_worker(worker, rx, recycle, record_tx, wcfg)
        }));
    }
    drop(recycle_tx);
    drop(record_tx);

    let stop = Arc::new(AtomicBool::new(false));
    let reader_paths = paths.to_vec();
    let reader_stop = Arc::clone(&stop);
    let reader =
        thread::spawn(move || read_inputs(&reader_paths, senders, recycle_rx, &reader_stop));

    let written = write_records(&record_rx, workers, records);
    if written.is_err() {
        // Stop reading; the workers then finish and hang up. Drain without writing.
        stop.store(true, Ordering::Relaxed);
        for _ in record_rx.iter() {}
    }
    let (inputs, mut input) = match reader.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let mut aggregates = Aggregates::default();
    for h in handles {
        let o = match h.join() {
            Ok(o) => o,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        aggregates.merge_in(o.aggregates);
        input.tcp_connections += o.tcp_connections;
        input.tcp_connections_without_tls += o.tcp_connections_without_tls;
        input.flows_evicted += o.flows_evicted;
        input.flow_buffer_cap_hits += o.flow_buffer_cap_hits;
        input.total_buffer_cap_hits += o.total_buffer_cap_hits;
    }
    Ok(Analysis {
        report: Report {
            inputs,
            input,
            aggregates,
        },
        records_written: written?,
    })
}

/// Writes the workers' record messages as one stream in [`RecordKey`] order. Returns how
/// many records were written.
fn write_records(
    messages: &Receiver<RecordMessage>,
    workers: usize,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut merger = RecordMerger::new(workers);
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
    held: BinaryHeap<Reverse<(RecordKey, Vec<u8>)>>,
    written: u64,
}

impl RecordMerger {
    fn new(workers: usize) -> Self {
        RecordMerger {
            progress: vec![Timestamp(i64::MIN); workers],
            held: BinaryHeap::new(),
            written: 0,
        }
    }

    /// Takes one message and writes every record that has become final.
    fn accept(&mut self, msg: RecordMessage, out: &mut dyn Write) -> io::Result<()> {
        if let Some(p) = self.progress.get_mut(msg.worker) {
            *p = msg.progress;
        }
        self.held.extend(msg.records.into_iter().map(Reverse));
        let watermark = self
            .progress
            .iter()
            .copied()
            .min()
            .unwrap_or(Timestamp::MAX);
        while let Some(Reverse(((closed_at, ..), _))) = self.held.peek() {
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
        if let Some(Reverse((_, line))) = self.held.pop() {
            out.write_all(&line)?;
            self.written += 1;
        }
        Ok(())
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
}

impl CaptureClock {
    /// The clock after a packet stamped `ts`.
    fn tick(&mut self, ts: Timestamp) -> Timestamp {
        self.now = match self.last_ts {
            None => ts,
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
}

impl Dealer {
    fn new(senders: Vec<Sender<Batch>>, recycle: Receiver<Batch>) -> Self {
        let batches = senders.iter().map(|_| Batch::default()).collect();
        Dealer {
            senders,
            batches,
            recycle,
        }
    }

    /// Queues a segment (its payload copied into the batch) for the worker of its flow.
    fn push(&mut self, mut desc: SegmentDesc, payload: &[u8], clock: Timestamp) {
        let w = desc.key.shard(self.senders.len());
        let Some(batch) = self.batches.get_mut(w) else {
            return;
        };
        desc.start = batch.payload.len();
        batch.payload.extend_from_slice(payload);
        batch.segments.push(desc);
        if batch.segments.len() >= BATCH_SEGMENTS {
            self.send(w, clock);
        }
    }

    /// Sends worker `w` its batch (even an empty one), stamped with the clock.
    fn send(&mut self, w: usize, clock: Timestamp) {
        let (Some(batch), Some(tx)) = (self.batches.get_mut(w), self.senders.get(w)) else {
            return;
        };
        let fresh = self.recycle.try_recv().unwrap_or_default();
        let mut full = std::mem::replace(batch, fresh);
        full.clock = clock;
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

/// The capture thread: reads every input, decodes, and deals segments out to the workers
/// until the inputs end or `stop` is set.
fn read_inputs(
    paths: &[PathBuf],
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    stop: &AtomicBool,
) -> (Vec<InputFile>, InputStats) {
    let mut stats = InputStats::default();
    let mut inputs = Vec::with_capacity(paths.len());
    let mut decoder = Decoder::new();
    let mut dealer = Dealer::new(senders, recycle);
    let mut decode_errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut clock = CaptureClock::default();

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
            stats.packets += 1;
            stats.bytes += frame.data.len() as u64;
            let now = clock.tick(frame.ts);
            match decoder.decode(link, frame.data, frame.ts) {
                Ok(Decoded::Tcp(seg)) => {
                    stats.tcp_segments += 1;
                    let (key, dir) = FlowKey::from_endpoints(seg.src, seg.dst);
                    let desc = SegmentDesc {
                        key,
                        dir,
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        ts: frame.ts,
                        clock: now,
                        start: 0,
                        len: seg.payload.len(),
                    };
                    dealer.push(desc, seg.payload, now);
                }
                Ok(Decoded::NotTcp) => stats.not_tcp += 1,
                Ok(Decoded::FragmentHeld) => stats.ip_fragments += 1,
                Err(e) => *decode_errors.entry(e.kind()).or_default() += 1,
            }
            if stats.packets % TICK_PACKETS == 0 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                dealer.send_all(now);
            }
        }
        file.packets = source.packets_read();
        stats.timestamps_backwards += source.timestamps_backwards();
        stats.snaplen_truncated += source.snaplen_truncated();
        inputs.push(file);
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    dealer.send_all(clock.now);
    // Datagrams still incomplete at the end of the capture never will be.
    decoder.expire(Timestamp::MAX);
    let d = decoder.stats();
    stats.ip_datagrams_reassembled = d.datagrams_reassembled;
    stats.ip_datagrams_dropped = d.datagrams_expired
        + d.datagrams_evicted
        + d.datagrams_oversized
        + d.datagrams_too_fragmented
        + d.total_bytes_cap_hits
        + d.datagrams_inconsistent;
    stats.decode_errors = decode_errors;
    (inputs, stats)
}

/// A worker: owns the flow table of its shard, and sends its records to the writer after
/// every batch.
fn run_worker(
    worker: usize,
    rx: Receiver<Batch>,
    recycle: Sender<Batch>,
    record_tx: Sender<RecordMessage>,
    cfg: Config,
) -> WorkerOutput {
    let mut table: FlowTable<ConnectionObserver> = FlowTable::new(cfg.limits);
    let ctx = Rc::new(RefCell::new(TlsContext::default()));
    let mut out = WorkerOutput::default();
    let mut records = Vec::new();
    let mut new_consumer = |_: &FlowKey| ConnectionObserver {
        tls: TlsObserver::new(),
        ctx: Rc::clone(&ctx),
    };
    let send = |records: &mut Vec<(RecordKey, Vec<u8>)>, progress: Timestamp| {
        if cfg.want_records {
            let msg = RecordMessage {
                worker,
                progress,
                records: std::mem::take(records),
            };
            // The writer reads until every worker has hung up: a failed send cannot happen.
            let _ = record_tx.send(msg);
        }
    };
    for mut batch in rx {
        let mut closed = |conn: Connection<ConnectionObserver>, reason: CloseReason| {
            records.extend(finish_connection(conn, reason, &cfg, &mut out));
        };
        for d in &batch.segments {
            let seg = Segment {
                key: d.key,
                dir: d.dir,
                seq: d.seq,
                ack: d.ack,
                flags: d.flags,
                payload: batch
                    .payload
                    .get(d.start..d.start + d.len)
                    .unwrap_or_default(),
                ts: d.ts,
                clock: d.clock,
            };
            table.process(&seg, &mut new_consumer, &mut closed);
        }
        table.expire_idle(batch.clock, &mut closed);
        let progress = batch.clock;
        batch.segments.clear();
        batch.payload.clear();
        let _ = recycle.send(batch);
        send(&mut records, progress);
    }
    table.drain(&mut |conn, reason| {
        records.extend(finish_connection(conn, reason, &cfg, &mut out));
    });
    send(&mut records, Timestamp::MAX);
    let stats = table.stats().clone();
    out.flows_evicted = stats.flows_evicted;
    out.flow_buffer_cap_hits = stats.flow_buffer_cap_hits;
    out.total_buffer_cap_hits = stats.total_buffer_cap_hits;
    out
}

/// Turns a closed connection into facts and aggregates, and (if wanted) an NDJSON record
/// with its place in the output order.
fn finish_connection(
    conn: Connection<ConnectionObserver>,
    reason: CloseReason,
    cfg: &Config,
    out: &mut WorkerOutput,
) -> Option<(RecordKey, Vec<u8>)> {
    out.tcp_connections += 1;
    if !conn.consumer.tls.is_tls() {
        out.tcp_connections_without_tls += 1;
        return None;
    }
    let transcript = conn.consumer.tls.finish();
    let f = facts::build(&conn.key, conn.meta, reason, transcript, &cfg.facts);
    out.aggregates.add(&f);
    cfg.want_records.then(|| {
        let mut line = Vec::with_capacity(2048);
        output::write_connection(&f, &mut line);
        let (first_ts, client, server) = f.sort_key();
        ((conn.closed_at, first_ts, client, server), line)
    })
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

    fn message(worker: usize, progress: i64, records: Vec<(RecordKey, Vec<u8>)>) -> RecordMessage {
        RecordMessage {
            worker,
            progress: Timestamp(progress),
            records,
        }
    }

    #[test]
    fn records_are_written_in_close_order_once_every_worker_has_passed_them() {
        let mut merger = RecordMerger::new(2);
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
    }

    #[test]
    fn capture_clock_never_goes_back() {
        let mut clock = CaptureClock::default();
        assert_eq!(clock.tick(Timestamp(100)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(50)), Timestamp(100));
        assert_eq!(clock.tick(Timestamp(80)), Timestamp(130));
    }
}
