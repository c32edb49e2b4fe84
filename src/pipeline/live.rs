//! Live mode's own parts: the capture loop on an interface (time-based flushes, window ends,
//! the stop flag) and the writer that puts each window together from the workers' parts.

use super::batch::Batch;
use super::reader::FrameReader;
use super::records::{RecordMerger, RecordMessage};
use super::worker::WindowPart;
use super::{LiveConfig, Mode};

use crate::aggregate::{Aggregates, Merge};
use crate::capture::interface::LiveInterface;
use crate::flow::Timestamp;
use crate::output::{InputFile, InputStats};
use crate::watch::{ClosedWindow, Drops, Sightings, WindowClock};
use crossbeam_channel::{Receiver, Sender, select};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest a segment waits in a partial batch on a live interface, so that a quiet link still
/// reaches the workers (and their idle expiry and records) promptly.
pub(super) const LIVE_FLUSH_NS: i64 = 50_000_000;

/// What the reader says at the end of each window.
pub(super) struct ReaderWindow {
    pub(super) window: u64,
    pub(super) start: Timestamp,
    pub(super) end: Timestamp,
    pub(super) packets: u64,
    pub(super) drops: Drops,
}

/// Wall-clock time, as a capture timestamp.
pub(super) fn wall_clock() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// The live capture thread: like [`super::inputs::read_inputs`], plus time-based flushes (a quiet link still
/// reaches the workers), window ends, and the stop flag.
pub(super) fn read_live(
    mut source: LiveInterface,
    senders: Vec<Sender<Batch>>,
    recycle: Receiver<Batch>,
    live: LiveConfig,
    stop: &AtomicBool,
    windows_tx: &Sender<ReaderWindow>,
) -> (InputFile, InputStats, Drops) {
    let mut reader = FrameReader::new(senders, recycle, Mode::Live);
    let link = source.link_type();
    let mut file = InputFile {
        path: source.interface().to_string(),
        ..InputFile::default()
    };
    let start = reader.clock.tick(wall_clock());
    let mut windows = WindowClock::new(start, live.interval_ns);
    let mut last_flush = start;
    let mut window_start_packets = 0;
    let mut end_window = |reader: &mut FrameReader, source: &mut LiveInterface, (start, end)| {
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
            Ok(Some(frame)) => reader.frame(link, &frame, 0),
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
    (file.start, file.end) = (Some(start), Some(now));
    (file, reader.finish(), drops)
}

/// Puts windows together from the workers' parts and the reader's counters, and hands them
/// on in order once complete.
pub(super) struct WindowAssembler {
    pub(super) workers: usize,
    pub(super) pending: BTreeMap<u64, PendingWindow>,
    pub(super) next: u64,
    pub(super) last_drops: Drops,
    /// Aggregates over every window handed on.
    pub(super) total: Aggregates,
}

impl WindowAssembler {
    pub(super) fn new(workers: usize) -> Self {
        WindowAssembler {
            workers,
            pending: BTreeMap::new(),
            next: 0,
            last_drops: Drops::default(),
            total: Aggregates::default(),
        }
    }

    pub(super) fn add_part(&mut self, part: WindowPart) {
        let p = self.pending.entry(part.window).or_default();
        p.parts += 1;
        p.aggregates.merge_in(part.aggregates);
        p.sightings.merge_in(part.sightings);
    }

    pub(super) fn add_reader(&mut self, r: ReaderWindow) {
        let window = r.window;
        self.pending.entry(window).or_default().reader = Some(r);
    }

    /// Hands every complete window, in order, to `on_window`.
    pub(super) fn emit_ready(
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

/// A window some of whose parts have arrived.
#[derive(Default)]
pub(super) struct PendingWindow {
    pub(super) parts: usize,
    pub(super) aggregates: Aggregates,
    pub(super) sightings: Sightings,
    pub(super) reader: Option<ReaderWindow>,
}

/// The live writer: records in close order as they become final, windows as they complete,
/// flushed whenever there is nothing more to read so that records appear promptly.
pub(super) fn write_live(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Aggregates;
    use crate::watch::{ClosedWindow, Drops};
    use std::cell::RefCell;
    use std::io::Write;

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
}
