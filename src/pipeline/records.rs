//! Connection records on their way out: workers pack them into [`RecordBatch`]es, and the
//! calling thread merges the workers' streams into one, in [`RecordKey`] order, as soon as no
//! record still to come can sort before them.

use super::worker::WindowPart;

use crate::flow::{Endpoint, Timestamp, Transport};
use crossbeam_channel::{Receiver, Sender};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::io::{self, IoSlice, Write};
use std::ops::Range;
use std::rc::Rc;

/// The order connection records are written in: when the connection ended (capture clock,
/// see [`Connection::closed_at`]), then first packet time, client and server, then the
/// transport (a TCP and a UDP flow on the same endpoints); remaining ties (a port reused within
/// one timestamp) are broken by the record's bytes. None of it depends on which worker saw the
/// connection.
pub type RecordKey = (Timestamp, Timestamp, Endpoint, Endpoint, Transport);

/// How far a worker has got: every record it sends later has a key whose close time and
/// first packet time, in that order, are at least these. While it reads, only the close time
/// moves ([`Progress::closing_from`]); at the end of the capture, every connection still open
/// closes at [`Timestamp::MAX`] and the worker hands them over by first packet time
/// ([`Progress::at_end_from`]), so that their records go out as they come instead of being
/// held until the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Progress(Timestamp, Timestamp);

impl Progress {
    /// Later records close at `clock` or later.
    pub fn closing_from(clock: Timestamp) -> Progress {
        Progress(clock, Timestamp::MIN)
    }

    /// Later records close at the end of the capture and start at `first_ts` or later.
    pub fn at_end_from(first_ts: Timestamp) -> Progress {
        Progress(Timestamp::MAX, first_ts)
    }

    /// No record follows.
    pub const FINISHED: Progress = Progress(Timestamp::MAX, Timestamp::MAX);

    /// Whether a record with `key` sorts before every record still to come.
    fn passed(self, key: &RecordKey) -> bool {
        self == Progress::FINISHED || (key.0, key.1) < (self.0, self.1)
    }
}

/// Records a worker finished since its last message, and how far it has got.
pub(super) struct RecordMessage {
    pub(super) worker: usize,
    /// Every record this worker sends later sorts at or after this.
    pub(super) progress: Progress,
    pub(super) records: RecordBatch,
    /// Live windows this worker has finished since its last message, oldest first.
    pub(super) windows: Vec<WindowPart>,
}

/// Connection records packed into one buffer: one allocation per message, reused through the
/// writer, instead of one per record (which the writer thread then freed, a costly free of
/// another thread's memory).
#[derive(Default)]
pub(super) struct RecordBatch {
    pub(super) bytes: Vec<u8>,
    /// Each record's key, place in `bytes`, and whether it is of a connection that failed
    /// before TLS (written under the [`PreTlsGate`]).
    pub(super) records: Vec<(RecordKey, Range<usize>, bool)>,
}

impl RecordBatch {
    /// An empty batch writing into `bytes`, made room for as many bytes and records as
    /// `previous` held (messages are alike, so the buffer rarely grows while records are
    /// written into it).
    pub(super) fn reusing(mut bytes: Vec<u8>, previous: &RecordBatch) -> Self {
        bytes.clear();
        bytes.reserve(previous.bytes.len());
        RecordBatch {
            bytes,
            records: Vec::with_capacity(previous.records.len()),
        }
    }

    /// Appends the record that `write` appends to the buffer.
    pub(super) fn push(&mut self, key: RecordKey, write: impl FnOnce(&mut Vec<u8>)) {
        self.push_kind(key, false, write);
    }

    /// Appends the record of a connection that failed before TLS.
    pub(super) fn push_pre_tls(&mut self, key: RecordKey, write: impl FnOnce(&mut Vec<u8>)) {
        self.push_kind(key, true, write);
    }

    fn push_kind(&mut self, key: RecordKey, pre_tls: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.records.push((key, start..self.bytes.len(), pre_tls));
    }
}

/// Writes the workers' record messages as one stream in [`RecordKey`] order, flushing `out`
/// whenever it has caught up when `streaming`. Returns how many records were written.
pub(super) fn write_records(
    messages: &Receiver<RecordMessage>,
    mut merger: RecordMerger,
    out: &mut dyn Write,
    streaming: bool,
) -> io::Result<u64> {
    for msg in messages.iter() {
        merger.accept(msg, out)?;
        // Streamed input: what is final goes out now, not when the output's buffer fills.
        if streaming && messages.is_empty() {
            out.flush()?;
        }
    }
    // Every worker has hung up: whatever is left is final.
    merger.finish(out)
}

/// Merges per-worker record streams: a record is written once every worker's progress has
/// passed its close time, so no record still to come can sort before it. What is held is
/// bounded by the records closed within the workers' lag, not by the capture.
pub(super) struct RecordMerger {
    pub(super) progress: Vec<Progress>,
    pub(super) held: BinaryHeap<Reverse<HeldRecord>>,
    pub(super) written: u64,
    /// Where a message's buffer goes back once all its records are written.
    pub(super) spare_buffers: Sender<Vec<u8>>,
    /// Which records of failures before TLS go out, and when.
    pub(super) gate: PreTlsGate,
}

impl RecordMerger {
    pub(super) fn new(workers: usize, spare_buffers: Sender<Vec<u8>>, tls_ports: &[u16]) -> Self {
        RecordMerger {
            progress: vec![Progress::closing_from(Timestamp::MIN); workers],
            held: BinaryHeap::new(),
            written: 0,
            spare_buffers,
            gate: PreTlsGate::new(tls_ports),
        }
    }

    /// Takes one message and writes every record that has become final.
    pub(super) fn accept(&mut self, msg: RecordMessage, out: &mut dyn Write) -> io::Result<()> {
        if let Some(p) = self.progress.get_mut(msg.worker) {
            *p = msg.progress;
        }
        let buffer = Rc::new(msg.records.bytes);
        self.held.extend(
            msg.records
                .records
                .into_iter()
                .map(|(key, range, pre_tls)| {
                    Reverse(HeldRecord {
                        key,
                        buffer: Rc::clone(&buffer),
                        range,
                        pre_tls,
                    })
                }),
        );
        self.recycle(buffer);
        let watermark = self
            .progress
            .iter()
            .copied()
            .min()
            .unwrap_or(Progress::FINISHED);
        let mut ready = Vec::new();
        while let Some(Reverse(HeldRecord { key, .. })) = self.held.peek() {
            // A record equal to a worker's progress may still come from it.
            if !watermark.passed(key) {
                break;
            }
            self.take_first(&mut ready);
        }
        self.write_out(ready, out)
    }

    /// Writes everything still held; returns the number of records written in all.
    pub(super) fn finish(mut self, out: &mut dyn Write) -> io::Result<u64> {
        let mut ready = Vec::new();
        while !self.held.is_empty() {
            self.take_first(&mut ready);
        }
        self.write_out(ready, out)?;
        Ok(self.written)
    }

    /// Moves the first held record to `ready` (with the failures before TLS it lets go), or
    /// into the gate.
    fn take_first(&mut self, ready: &mut Vec<Line>) {
        let Some(Reverse(record)) = self.held.pop() else {
            return;
        };
        let port = record.key.3.port;
        if !record.pre_tls {
            // Failures before TLS on this port wait no longer.
            let released = self.gate.saw_tls_on(port);
            ready.push(Line::Held(record));
            ready.extend(released.into_iter().map(Line::Released));
        } else if self.gate.admits(port) {
            ready.push(Line::Held(record));
        } else {
            self.gate.hold(port, record.line());
            self.recycle(record.buffer);
        }
    }

    /// Writes `ready` in order with vectored writes, straight from the workers' buffers (no
    /// copy into the output's buffer: the stream is as large as the capture), then hands the
    /// buffers back.
    fn write_out(&mut self, ready: Vec<Line>, out: &mut dyn Write) -> io::Result<()> {
        for group in ready.chunks(MAX_SLICES) {
            let mut slices: Vec<IoSlice<'_>> =
                group.iter().map(|l| IoSlice::new(l.bytes())).collect();
            write_all_vectored(out, &mut slices)?;
        }
        self.written += ready.len() as u64;
        for line in ready {
            if let Line::Held(record) = line {
                self.recycle(record.buffer);
            }
        }
        Ok(())
    }

    /// Hands a message's buffer back to the workers once no held record is in it.
    pub(super) fn recycle(&self, buffer: Rc<Vec<u8>>) {
        if let Ok(bytes) = Rc::try_unwrap(buffer) {
            // Full: enough spares already, this one is freed.
            let _ = self.spare_buffers.try_send(bytes);
        }
    }
}

/// Slices per vectored write (Linux's `IOV_MAX`).
const MAX_SLICES: usize = 1024;

/// A line ready to be written.
enum Line {
    /// A record in its message's buffer.
    Held(HeldRecord),
    /// A failure before TLS the gate held and has let go.
    Released(Vec<u8>),
}

impl Line {
    fn bytes(&self) -> &[u8] {
        match self {
            Line::Held(record) => record.line(),
            Line::Released(line) => line,
        }
    }
}

/// `Write::write_all` for a list of slices (`write_all_vectored` is not stable yet).
fn write_all_vectored(out: &mut dyn Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A record waiting to be written, in its message's buffer.
pub(super) struct HeldRecord {
    pub(super) key: RecordKey,
    pub(super) buffer: Rc<Vec<u8>>,
    pub(super) range: Range<usize>,
    pub(super) pre_tls: bool,
}

/// Most records of failures before TLS held at once while their port has not shown TLS;
/// beyond, they are not written (a scan of closed ports does not fill memory).
const MAX_HELD_PRE_TLS: usize = 100_000;

/// Which records of connections that failed before TLS are written (`--tcp-failures`):
/// those on `--tls-ports` at once, in order; those on another port once a TLS record to that
/// port has been written (held until then, then written after it); the rest never. Decided
/// in the writer's order, so it does not depend on the worker count.
pub(super) struct PreTlsGate {
    listed: BTreeSet<u16>,
    seen: BTreeSet<u16>,
    held: BTreeMap<u16, Vec<Vec<u8>>>,
    held_count: usize,
}

impl PreTlsGate {
    fn new(tls_ports: &[u16]) -> Self {
        PreTlsGate {
            listed: tls_ports.iter().copied().collect(),
            seen: BTreeSet::new(),
            held: BTreeMap::new(),
            held_count: 0,
        }
    }

    /// Whether a failure on `port` is written now.
    fn admits(&self, port: u16) -> bool {
        self.listed.contains(&port) || self.seen.contains(&port)
    }

    /// Keeps a failure's record until TLS shows on its port (within the bound).
    fn hold(&mut self, port: u16, line: &[u8]) {
        if self.held_count < MAX_HELD_PRE_TLS {
            self.held.entry(port).or_default().push(line.to_vec());
            self.held_count += 1;
        }
    }

    /// Notes a TLS record on `port`; returns the failures held for it.
    fn saw_tls_on(&mut self, port: u16) -> Vec<Vec<u8>> {
        if !self.seen.insert(port) {
            return Vec::new();
        }
        let lines = self.held.remove(&port).unwrap_or_default();
        self.held_count -= lines.len();
        lines
    }
}

impl HeldRecord {
    pub(super) fn line(&self) -> &[u8] {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::flow::{Endpoint, Timestamp};
    use crossbeam_channel::unbounded;
    use std::net::{IpAddr, Ipv4Addr};

    /// A record key and body for ordering tests: closed at `closed_at`, first seen at `first`,
    /// client port `port`.
    pub(crate) fn record(closed_at: i64, first: i64, port: u16) -> (RecordKey, Vec<u8>) {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let client = Endpoint { ip, port };
        let server = Endpoint { ip, port: 443 };
        let key = (
            Timestamp(closed_at),
            Timestamp(first),
            client,
            server,
            Transport::Tcp,
        );
        (key, format!("{closed_at}/{port}\n").into_bytes())
    }

    fn message(
        worker: usize,
        progress: Progress,
        records: Vec<(RecordKey, Vec<u8>)>,
    ) -> RecordMessage {
        let mut batch = RecordBatch::default();
        for (key, line) in records {
            batch.push(key, |bytes| bytes.extend_from_slice(&line));
        }
        RecordMessage {
            worker,
            progress,
            records: batch,
            windows: Vec::new(),
        }
    }

    fn closing(clock: i64) -> Progress {
        Progress::closing_from(Timestamp(clock))
    }

    #[test]
    fn records_are_written_in_close_order_once_every_worker_has_passed_them() {
        let (spare_tx, spare_rx) = unbounded();
        let mut merger = RecordMerger::new(2, spare_tx, &[]);
        let mut out = Vec::new();
        merger
            .accept(
                message(0, closing(10), vec![record(7, 1, 1), record(9, 2, 2)]),
                &mut out,
            )
            .unwrap();
        assert!(out.is_empty(), "worker 1 has not reported yet");
        merger
            .accept(message(1, closing(8), vec![record(4, 3, 3)]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n");
        // A close time equal to the slowest worker's progress is held: another may follow.
        merger
            .accept(message(1, closing(9), vec![record(8, 4, 4)]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n8/4\n");
        merger
            .accept(
                message(1, Progress::FINISHED, vec![record(9, 0, 5)]),
                &mut out,
            )
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "4/3\n7/1\n8/4\n9/5\n9/2\n");
        merger
            .accept(
                message(0, Progress::FINISHED, vec![record(i64::MAX, 0, 6)]),
                &mut out,
            )
            .unwrap();
        assert_eq!(merger.finish(&mut out).unwrap(), 6);
        assert!(String::from_utf8_lossy(&out).ends_with("9/2\n9223372036854775807/6\n"));
        assert_eq!(
            spare_rx.len(),
            5,
            "every message's buffer handed back once written"
        );
    }

    /// A file that takes at most a few bytes per call, and is interrupted every other call.
    struct Trickle {
        bytes: Vec<u8>,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let taken: Vec<u8> = bufs
                .iter()
                .flat_map(|b| b.iter().copied())
                .take(5)
                .collect();
            self.bytes.extend_from_slice(&taken);
            Ok(taken.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_reach_a_file_that_takes_a_few_bytes_at_a_time_whole_and_in_order() {
        let (spare_tx, _spare_rx) = unbounded();
        let mut merger = RecordMerger::new(1, spare_tx, &[]);
        let mut out = Trickle {
            bytes: Vec::new(),
            calls: 0,
        };
        let records = (0..2000).map(|i| record(i, 0, 1000 + i as u16)).collect();
        merger
            .accept(message(0, Progress::FINISHED, records), &mut out)
            .unwrap();
        let expected: String = (0..2000).map(|i| format!("{i}/{}\n", 1000 + i)).collect();
        assert_eq!(String::from_utf8_lossy(&out.bytes), expected);
        assert_eq!(merger.finish(&mut out).unwrap(), 2000);
    }

    #[test]
    fn connections_open_at_the_end_go_out_as_every_worker_passes_their_start() {
        let (spare_tx, _spare_rx) = unbounded();
        let mut merger = RecordMerger::new(2, spare_tx, &[]);
        let mut out = Vec::new();
        let end = |first: i64| Progress::at_end_from(Timestamp(first));
        merger
            .accept(message(0, closing(50), vec![record(40, 1, 1)]), &mut out)
            .unwrap();
        merger
            .accept(
                message(1, end(20), vec![record(i64::MAX, 10, 2), record(45, 3, 3)]),
                &mut out,
            )
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "40/1\n45/3\n");
        // Worker 0 reaches the end too: what both have passed goes out, not all at once.
        merger
            .accept(
                message(
                    0,
                    end(30),
                    vec![record(i64::MAX, 5, 4), record(i64::MAX, 25, 5)],
                ),
                &mut out,
            )
            .unwrap();
        let max = i64::MAX;
        let written = format!("40/1\n45/3\n{max}/4\n{max}/2\n");
        assert_eq!(String::from_utf8_lossy(&out), written);
        // A first packet time equal to a worker's progress may still come from it.
        merger
            .accept(message(1, end(25), vec![]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), written);
        // Worker 1 is done: worker 0's progress alone holds back what starts at 30 or later.
        merger
            .accept(
                message(1, Progress::FINISHED, vec![record(i64::MAX, 35, 6)]),
                &mut out,
            )
            .unwrap();
        let written = format!("{written}{max}/5\n");
        assert_eq!(String::from_utf8_lossy(&out), written);
        merger
            .accept(message(0, Progress::FINISHED, vec![]), &mut out)
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out), format!("{written}{max}/6\n"));
    }
}
