//! The offline capture thread: opens every input, merges their frames by timestamp (as
//! `mergecap` does, so that ring-buffer files given in any order make one capture), applies
//! the `-f` filter, and streams: a piped input that goes quiet gets its batches flushed, so
//! records come out as connections end rather than at the end of the input.

use super::Mode;
use super::batch::Batch;
use super::progress::Progress;
use super::reader::{CHECK_PACKETS, FrameReader, TICK_PACKETS};

use crate::capture::filter::FrameFilter;
use crate::capture::{CaptureError, OfflineFile, PacketSource};
use crate::flow::Timestamp;
use crate::output::{InputFile, InputStats};
use crossbeam_channel::{Receiver, Sender};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most input files (an input's index travels with each segment as a `u16`).
pub const MAX_INPUTS: usize = u16::MAX as usize;

/// How often a streamed input that keeps arriving gets its batches flushed anyway, so that
/// workers (and records) keep up with a slow trickle of packets.
const STREAM_FLUSH: Duration = Duration::from_millis(100);

/// What the offline capture thread reads, and how.
pub(super) struct Inputs {
    pub(super) paths: Vec<PathBuf>,
    /// `-f`: a BPF expression frames must match.
    pub(super) filter: Option<String>,
    /// Set by a signal handler: stop reading, analyse what was read.
    pub(super) stop: Arc<AtomicBool>,
    pub(super) progress: Option<Arc<Progress>>,
}

/// One opened input and its place among the inputs.
struct Source {
    file: OfflineFile,
    /// Index in the inputs as given (what records name).
    index: u16,
    /// The report's entry for it.
    entry: InputFile,
}

/// The capture thread of `analyze`: reads every input, decodes, and deals segments out to
/// the workers until the inputs end or `stop` is set. Returns the inputs in the order of
/// their first packet (then path: the order they were given in does not matter), and the
/// input counters.
pub(super) fn read_inputs(
    inputs: &Inputs,
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
) -> (Vec<InputFile>, InputStats) {
    let mut reader = FrameReader::new(senders, recycle, Mode::Offline);
    let mut filter = None;
    let mut entries = Vec::with_capacity(inputs.paths.len());
    if let Some(expression) = &inputs.filter {
        match FrameFilter::new(expression) {
            Ok(f) => filter = Some(f),
            Err(e) => {
                // The command line checked the expression: only a library failure gets here.
                let entry = InputFile {
                    path: inputs
                        .paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect(),
                    error: Some(e.to_string()),
                    ..InputFile::default()
                };
                return (vec![entry], reader.finish());
            }
        }
    }
    let mut sources = Vec::with_capacity(inputs.paths.len());
    for (index, path) in inputs.paths.iter().enumerate().take(MAX_INPUTS) {
        let mut entry = InputFile {
            path: path.display().to_string(),
            ..InputFile::default()
        };
        let opened = OfflineFile::open_until(path, &inputs.stop).and_then(|file| {
            if let Some(f) = filter.as_mut() {
                f.prepare(file.link_type())?;
            }
            Ok(file)
        });
        match opened {
            Ok(file) => sources.push(Source {
                file,
                index: index as u16,
                entry,
            }),
            Err(e) => {
                entry.error = Some(e.to_string());
                entries.push(entry);
            }
        }
    }
    let mut run = Run {
        reader: &mut reader,
        filter,
        inputs,
        last_flush: Instant::now(),
    };
    if let [only] = sources.as_mut_slice() {
        run.one(only);
    } else {
        run.merged(&mut sources);
    }
    entries.extend(sources.into_iter().map(|s| s.entry));
    // By first packet, then path: the same list whatever the order the files were given in.
    entries.sort_by(|a, b| {
        (a.start.is_none(), a.start, &a.path).cmp(&(b.start.is_none(), b.start, &b.path))
    });
    (entries, reader.finish())
}

/// The state of one reading run over the inputs.
struct Run<'a> {
    reader: &'a mut FrameReader,
    filter: Option<FrameFilter>,
    inputs: &'a Inputs,
    /// When batches were last flushed for a streamed input.
    last_flush: Instant,
}

impl Run<'_> {
    /// Reads a single input to its end: the fast path (no merging).
    fn one(&mut self, source: &mut Source) {
        let link = source.file.link_type();
        let streaming = source.file.is_streaming();
        loop {
            let frame = match source.file.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    self.note_error(&mut source.entry, &e);
                    break;
                }
            };
            if let Some(f) = self.filter.as_mut()
                && !f.matches(link, &frame)
            {
                self.reader.stats.filtered_out += 1;
                self.reader.stats.filtered_out_bytes += frame.data.len() as u64;
                continue;
            }
            let now = self.reader.frame(link, &frame, source.index);
            if streaming {
                self.stream_flush(&source.file, now);
            }
            if self.reader.stats.packets.is_multiple_of(CHECK_PACKETS) && self.check(now) {
                break;
            }
        }
        source.entry.packets = source.file.packets_read();
        // The reader notes the first and last frame's time anyway: no cost per frame here.
        if let Some(first) = self.reader.first_frame_ts {
            (source.entry.start, source.entry.end) = (Some(first), self.reader.last_frame_ts);
        }
    }

    /// Reads several inputs as one capture, frame by frame in timestamp order (ties: by
    /// path, then position on the command line).
    fn merged(&mut self, sources: &mut [Source]) {
        // Ties between inputs go by path, then position: `rank` orders them once.
        let mut by_path: Vec<usize> = (0..sources.len()).collect();
        by_path.sort_by(|&a, &b| sources[a].entry.path.cmp(&sources[b].entry.path));
        let mut rank = vec![0; sources.len()];
        for (r, &at) in by_path.iter().enumerate() {
            rank[at] = r;
        }
        let mut heads = BinaryHeap::with_capacity(sources.len());
        for (at, s) in sources.iter_mut().enumerate() {
            heads.extend(s.file.peek_ts().map(|ts| Reverse((ts, rank[at], at))));
        }
        while let Some(Reverse((_, r, at))) = heads.pop() {
            let Some(s) = sources.get_mut(at) else {
                break;
            };
            let link = s.file.link_type();
            let frame = match s.file.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => continue,
                Err(e) => {
                    self.note_error(&mut s.entry, &e);
                    s.entry.packets = s.file.packets_read();
                    continue;
                }
            };
            let passes = self.filter.as_mut().is_none_or(|f| f.matches(link, &frame));
            let mut now = None;
            if passes {
                let ts = frame.ts;
                now = Some(self.reader.frame(link, &frame, s.index));
                note_span(&mut s.entry, ts);
            } else {
                self.reader.stats.filtered_out += 1;
                self.reader.stats.filtered_out_bytes += frame.data.len() as u64;
            }
            s.entry.packets = s.file.packets_read();
            if let Some(now) = now {
                if s.file.is_streaming() {
                    self.stream_flush(&s.file, now);
                }
                if self.reader.stats.packets.is_multiple_of(CHECK_PACKETS) && self.check(now) {
                    break;
                }
            }
            if let Some(ts) = s.file.peek_ts() {
                heads.push(Reverse((ts, r, at)));
            }
        }
    }

    /// Records why an input stopped, unless reading was stopped on purpose (a pipe cut
    /// short by the stop is not damaged).
    fn note_error(&self, entry: &mut InputFile, e: &CaptureError) {
        if !self.inputs.stop.load(Ordering::Relaxed) {
            entry.error = Some(e.to_string());
        }
    }

    /// Every [`CHECK_PACKETS`] packets: publishes progress, ticks the workers every
    /// [`TICK_PACKETS`], and says whether to stop.
    fn check(&mut self, now: Timestamp) -> bool {
        if let Some(p) = &self.inputs.progress {
            p.reader_read(&self.reader.stats);
        }
        if self.reader.stats.packets.is_multiple_of(TICK_PACKETS) {
            self.reader.dealer.send_all(now);
        }
        self.inputs.stop.load(Ordering::Relaxed)
    }

    /// After a frame of a streamed input: when its pipe is empty (the next read may wait) or
    /// a while has passed, every worker gets what is batched, so that connections that ended
    /// are written now rather than when more input comes.
    fn stream_flush(&mut self, file: &OfflineFile, now: Timestamp) {
        let quiet = !file.has_input_pending();
        if quiet || self.last_flush.elapsed() >= STREAM_FLUSH {
            let clock = if quiet { self.reader.clock.pass() } else { now };
            self.reader.dealer.send_all(clock);
            if let Some(p) = &self.inputs.progress {
                p.reader_read(&self.reader.stats);
            }
            self.last_flush = Instant::now();
        }
    }
}

/// Notes a frame stamped `ts` in its input's span (its first and last frame).
fn note_span(entry: &mut InputFile, ts: Timestamp) {
    entry.start.get_or_insert(ts);
    entry.end = Some(ts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::unbounded;
    use std::path::Path;

    fn read(paths: &[PathBuf]) -> (Vec<InputFile>, InputStats, Vec<u16>) {
        let (tx, rx) = unbounded::<Batch>();
        let (_recycle_tx, recycle_rx) = unbounded::<Batch>();
        let inputs = Inputs {
            paths: paths.to_vec(),
            filter: None,
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
        };
        let (files, stats) = read_inputs(&inputs, vec![tx], recycle_rx);
        let order = rx
            .try_iter()
            .flat_map(|b| {
                b.segments
                    .iter()
                    .map(|s| s.payload.input)
                    .collect::<Vec<_>>()
            })
            .collect();
        (files, stats, order)
    }

    #[test]
    fn inputs_are_merged_by_time_whatever_their_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        // Recorded about an hour apart.
        let (later, earlier) = (
            dir.join("tls12-alpn-h2.pcap"),
            dir.join("tls10-ecdhe-rsa.pcap"),
        );
        let missing = dir.join("no-such-file.pcap");
        let (files, stats, order) = read(&[later.clone(), missing.clone(), earlier.clone()]);
        assert_eq!(stats.timestamps_backwards, 0, "merged in time order");
        // Every segment of the earlier file (input 2) comes before any of the later one (0).
        let first_later = order.iter().position(|&i| i == 0).expect("later file read");
        assert!(order[..first_later].iter().all(|&i| i == 2), "{order:?}");
        assert!(order[first_later..].iter().all(|&i| i == 0), "{order:?}");
        // The report lists them by time, the unreadable one last.
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let path = |p: &PathBuf| p.display().to_string();
        assert_eq!(names, [path(&earlier), path(&later), path(&missing)]);
        assert!(files[0].end < files[1].start);
        assert!(files[2].error.is_some() && files[2].start.is_none());
        // Reversed: the same list and counts.
        let (again, stats_again, _) = read(&[earlier, missing, later]);
        let names_again: Vec<&str> = again.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, names_again);
        assert_eq!(stats.packets, stats_again.packets);
    }
}
