//! Where the pipeline's record stream goes: the NDJSON file, the Kafka sink, or both. The
//! pipeline writes records as NDJSON lines on its writer thread; this splits the stream into
//! lines and hands each one to the sink as it goes by, so the sink sees exactly the bytes of
//! the file (one record per message) and the workers are never held up by it.

use std::io::{self, IoSlice, Write};

use super::kafka::{KafkaSink, SinkCounts};

/// The record stream of one run.
pub struct RecordStream<W: Write> {
    ndjson: Option<W>,
    kafka: Option<KafkaSink>,
    /// A record whose end has not been written yet.
    partial: Vec<u8>,
}

impl<W: Write> RecordStream<W> {
    /// Records go to `ndjson` and `kafka`, whichever are given.
    pub fn new(ndjson: Option<W>, kafka: Option<KafkaSink>) -> Self {
        RecordStream {
            ndjson,
            kafka,
            partial: Vec::new(),
        }
    }

    /// The sink's counters, when there is a sink (for window records and metrics).
    pub fn sink_counters(&self) -> Option<std::sync::Arc<super::SinkCounters>> {
        self.kafka.as_ref().map(KafkaSink::counters)
    }

    /// Flushes the file and ends the sink's run (see [`KafkaSink::finish`]): its final counts
    /// and last error, when there is a sink.
    pub fn finish(mut self) -> io::Result<Option<(SinkCounts, Option<String>)>> {
        if let Some(out) = self.ndjson.as_mut() {
            out.flush()?;
        }
        Ok(self.kafka.map(KafkaSink::finish))
    }
}

impl<W: Write> RecordStream<W> {
    /// Hands the sink the lines `buf` ends (and keeps a partial last line for later).
    fn send_lines(&mut self, buf: &[u8]) {
        let Some(kafka) = self.kafka.as_mut() else {
            return;
        };
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            if self.partial.is_empty() {
                kafka.send(line);
            } else {
                self.partial.extend_from_slice(line);
                kafka.send(&self.partial);
                self.partial.clear();
            }
            rest = after.get(1..).unwrap_or_default();
        }
        self.partial.extend_from_slice(rest);
    }
}

impl<W: Write> Write for RecordStream<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(out) = self.ndjson.as_mut() {
            out.write_all(buf)?;
        }
        self.send_lines(buf);
        Ok(buf.len())
    }

    /// Passes the slices on to the file as they are (a large write goes past its buffer,
    /// uncopied); the sink gets exactly the bytes the file took.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let written = match self.ndjson.as_mut() {
            Some(out) => out.write_vectored(bufs)?,
            None => bufs.iter().map(|b| b.len()).sum(),
        };
        let mut left = written;
        for buf in bufs {
            let taken = buf.get(..left.min(buf.len())).unwrap_or_default();
            self.send_lines(taken);
            left -= taken.len();
            if left == 0 {
                break;
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(kafka) = self.kafka.as_mut() {
            kafka.poll();
        }
        match self.ndjson.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}
