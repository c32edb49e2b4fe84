//! Connection records read as they are written: the pipeline writes NDJSON into a
//! [`RecordSink`], which parses each complete line into a [`Connection`] at once, so checking a
//! capture holds the compact views, never the whole log.

use std::io::{self, Write};

use super::record::{Connection, Interner, RawRecord};

/// A `Write` target for NDJSON connection records that keeps their parsed views.
#[derive(Default)]
pub struct RecordSink {
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    interner: Interner,
    connections: Vec<Connection>,
    /// Lines seen so far (for error messages).
    lines: u64,
    /// Lines that were JSON but not connection records (live windows and alerts).
    other_lines: u64,
}

impl RecordSink {
    /// Parses one line; blank lines are skipped.
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let raw: RawRecord = serde_json::from_slice(line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: not a tlsight record: {e}", self.lines),
            )
        })?;
        if !raw.is_connection() {
            self.other_lines += 1;
            return Ok(());
        }
        match self.interner.connection(raw) {
            Some(c) => self.connections.push(c),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {}: connection record without client or server",
                        self.lines
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The connections read, after the last (unterminated) line.
    pub fn finish(mut self) -> io::Result<Vec<Connection>> {
        let rest = std::mem::take(&mut self.partial);
        self.line(&rest)?;
        Ok(self.connections)
    }
}

impl Write for RecordSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        // memchr: a byte-at-a-time search for the line ends cost as much as a tenth of parsing.
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            if self.partial.is_empty() {
                self.line(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole)?;
            }
            rest = &tail[1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_writes_are_joined() {
        let line = br#"{"type":"connection","ts":"2026-01-01T00:00:00Z","client":{"ip":"10.0.0.1","port":1},"server":{"ip":"10.0.0.2","port":443},"outcome":"established"}"#;
        let mut sink = RecordSink::default();
        let (a, b) = line.split_at(40);
        sink.write_all(a).unwrap();
        sink.write_all(b).unwrap();
        sink.write_all(b"\n{\"type\":\"window\"}\n").unwrap();
        sink.write_all(line).unwrap();
        let connections = sink.finish().unwrap();
        assert_eq!(connections.len(), 2);
        assert_eq!(connections[1].server.port, 443);
    }

    #[test]
    fn a_line_that_is_not_json_names_its_number() {
        let mut sink = RecordSink::default();
        let err = sink
            .write_all(b"{\"type\":\"window\"}\nnot json\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
