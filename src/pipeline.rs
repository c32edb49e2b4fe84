//! The pipeline: the only place that spawns threads and owns channels. A capture thread reads
//! and decodes frames and sends TCP segments in batches over bounded channels to the workers,
//! sharded by a symmetric flow hash; each worker reassembles, observes TLS, builds facts and
//! aggregates; the results are merged and ordered at the end so that offline output does not
//! depend on the number of workers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;
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
}

/// The order connection records are written in.
type SortKey = (Timestamp, Endpoint, Endpoint);

/// What one worker produced.
#[derive(Default)]
struct WorkerOutput {
    aggregates: Aggregates,
    /// NDJSON lines, back to back.
    records: Vec<u8>,
    /// Where each line is in `records`.
    index: Vec<(SortKey, usize, usize)>,
    tcp_connections: u64,
    tcp_connections_without_tls: u64,
    flows_evicted: u64,
    flow_buffer_cap_hits: u64,
    total_buffer_cap_hits: u64,
}

/// The result of an analysis: the report, plus the connection records in output order.
pub struct Analysis {
    /// Aggregates and input statistics.
    pub report: Report,
    workers: Vec<WorkerOutput>,
    order: Vec<(usize, usize, usize)>,
}

impl Analysis {
    /// Connection records found.
    pub fn record_count(&self) -> usize {
        self.order.len()
    }

    /// Writes the NDJSON connection records, ordered by first-packet time then tuple.
    pub fn write_ndjson(&self, out: &mut dyn Write) -> io::Result<()> {
        for &(w, start, len) in &self.order {
            out.write_all(&self.workers[w].records[start..start + len])?;
        }
        Ok(())
    }

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

/// Analyses `paths` as one capture, in order.
pub fn analyze_files(paths: &[PathBuf], cfg: &Config) -> Analysis {
    let workers = cfg.workers.max(1);
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    let (recycle_tx, recycle_rx) = unbounded::<Batch>();
    for _ in 0..workers {
        let (tx, rx) = bounded::<Batch>(CHANNEL_BATCHES);
        senders.push(tx);
        let recycle = recycle_tx.clone();
        let wcfg = worker_config(cfg, workers);
        handles.push(thread::spawn(move || run_worker(rx, recycle, wcfg)));
    }
    drop(recycle_tx);

    let reader_paths = paths.to_vec();
    let reader = thread::spawn(move || read_inputs(&reader_paths, senders, recycle_rx));
    let (inputs, mut input) = match reader.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    };

    let mut outputs = Vec::with_capacity(workers);
    for h in handles {
        match h.join() {
            Ok(o) => outputs.push(o),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    let mut aggregates = Aggregates::default();
    let mut order = Vec::new();
    let mut keys: Vec<SortKey> = Vec::new();
    for (w, o) in outputs.iter_mut().enumerate() {
        aggregates.merge_in(std::mem::take(&mut o.aggregates));
        input.tcp_connections += o.tcp_connections;
        input.tcp_connections_without_tls += o.tcp_connections_without_tls;
        input.flows_evicted += o.flows_evicted;
        input.flow_buffer_cap_hits += o.flow_buffer_cap_hits;
        input.total_buffer_cap_hits += o.total_buffer_cap_hits;
        for &(key, start, len) in &o.index {
            keys.push(key);
            order.push((w, start, len));
        }
    }
    let mut perm: Vec<usize> = (0..order.len()).collect();
    // Ties (same first packet time and endpoints: a port reused within one timestamp) are
    // broken by the record's bytes, which do not depend on which worker wrote it.
    let line = |i: usize| {
        let (w, start, len) = order[i];
        &outputs[w].records[start..start + len]
    };
    perm.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then_with(|| line(a).cmp(line(b))));
    let order = perm.into_iter().map(|i| order[i]).collect();
    Analysis {
        report: Report {
            inputs,
            input,
            aggregates,
        },
        workers: outputs,
        order,
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

/// The capture thread: reads every input, decodes, and deals segments out to the workers.
fn read_inputs(
    paths: &[PathBuf],
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
) -> (Vec<InputFile>, InputStats) {
    let workers = senders.len();
    let mut stats = InputStats::default();
    let mut inputs = Vec::with_capacity(paths.len());
    let mut decoder = Decoder::new();
    let mut batches: Vec<Batch> = (0..workers).map(|_| Batch::default()).collect();
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
                    let w = key.shard(workers);
                    let batch = &mut batches[w];
                    let start = batch.payload.len();
                    batch.payload.extend_from_slice(seg.payload);
                    batch.segments.push(SegmentDesc {
                        key,
                        dir,
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        ts: frame.ts,
                        clock: now,
                        start,
                        len: seg.payload.len(),
                    });
                    if batch.segments.len() >= BATCH_SEGMENTS {
                        let fresh = recycle.try_recv().unwrap_or_default();
                        let full = std::mem::replace(batch, fresh);
                        // A worker only hangs up by panicking, which the join reports.
                        let _ = senders[w].send(full);
                    }
                }
                Ok(Decoded::NotTcp) => stats.not_tcp += 1,
                Ok(Decoded::FragmentHeld) => stats.ip_fragments += 1,
                Err(e) => *decode_errors.entry(e.kind()).or_default() += 1,
            }
        }
        file.packets = source.packets_read();
        stats.timestamps_backwards += source.timestamps_backwards();
        stats.snaplen_truncated += source.snaplen_truncated();
        inputs.push(file);
    }
    for (w, batch) in batches.into_iter().enumerate() {
        if !batch.segments.is_empty() {
            let _ = senders[w].send(batch);
        }
    }
    // Datagrams still incomplete at the end of the capture never will be.
    decoder.expire(Timestamp(i64::MAX));
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

/// A worker: owns the flow table of its shard.
fn run_worker(rx: Receiver<Batch>, recycle: Sender<Batch>, cfg: Config) -> WorkerOutput {
    let mut table: FlowTable<ConnectionObserver> = FlowTable::new(cfg.limits);
    let ctx = Rc::new(RefCell::new(TlsContext::default()));
    let mut out = WorkerOutput::default();
    let mut new_consumer = |_: &FlowKey| ConnectionObserver {
        tls: TlsObserver::new(),
        ctx: Rc::clone(&ctx),
    };
    let mut closed = |conn: Connection<ConnectionObserver>, reason: CloseReason| {
        finish_connection(conn, reason, &cfg, &mut out);
    };
    for mut batch in rx {
        let mut now = Timestamp::default();
        for d in &batch.segments {
            let seg = Segment {
                key: d.key,
                dir: d.dir,
                seq: d.seq,
                ack: d.ack,
                flags: d.flags,
                payload: &batch.payload[d.start..d.start + d.len],
                ts: d.ts,
                clock: d.clock,
            };
            table.process(&seg, &mut new_consumer, &mut closed);
            now = now.max(d.clock);
        }
        table.expire_idle(now, &mut closed);
        batch.segments.clear();
        batch.payload.clear();
        let _ = recycle.send(batch);
    }
    table.drain(&mut closed);
    let stats = table.stats().clone();
    out.flows_evicted = stats.flows_evicted;
    out.flow_buffer_cap_hits = stats.flow_buffer_cap_hits;
    out.total_buffer_cap_hits = stats.total_buffer_cap_hits;
    out
}

/// Turns a closed connection into facts, aggregates and (if wanted) an NDJSON record.
fn finish_connection(
    conn: Connection<ConnectionObserver>,
    reason: CloseReason,
    cfg: &Config,
    out: &mut WorkerOutput,
) {
    out.tcp_connections += 1;
    if !conn.consumer.tls.is_tls() {
        out.tcp_connections_without_tls += 1;
        return;
    }
    let transcript = conn.consumer.tls.finish();
    let f = facts::build(&conn.key, conn.meta, reason, transcript, &cfg.facts);
    out.aggregates.add(&f);
    if cfg.want_records {
        let start = out.records.len();
        output::write_connection(&f, &mut out.records);
        out.index
            .push((f.sort_key(), start, out.records.len() - start));
    }
}
