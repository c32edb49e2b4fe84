//! The on-disk spool: records that could not be handed to Kafka (its in-memory queue full
//! while the broker is away) wait here, first in first out, in a file of their own lines
//! (NDJSON), up to a size bound. Records left at exit stay in the file and are sent first by the
//! next run that uses the same directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the spool inside its directory.
const FILE_NAME: &str = "tlsight-kafka-spool.ndjson";

/// A bounded first-in-first-out queue of record lines on disk.
pub struct Spool {
    path: PathBuf,
    writer: File,
    reader: BufReader<File>,
    /// The next line, read but not yet taken.
    next: Vec<u8>,
    /// Bytes and records written and not yet taken (the line in `next` included).
    pending_bytes: u64,
    pending_records: u64,
    max_bytes: u64,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, holding at most `max_bytes`; records a previous
    /// run left there are pending.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let writer = OpenOptions::new().create(true).append(true).open(&path)?;
        let reader = BufReader::new(File::open(&path)?);
        let mut spool = Spool {
            path,
            writer,
            reader,
            next: Vec::new(),
            pending_bytes: 0,
            pending_records: 0,
            max_bytes,
        };
        spool.count_leftovers()?;
        Ok(spool)
    }

    /// Counts the records a previous run left, then rewinds to the first of them. A last line
    /// cut short (a run that died mid-write) is not a record: it is cut off.
    fn count_leftovers(&mut self) -> io::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                self.writer.set_len(self.pending_bytes)?;
                break;
            }
            self.pending_bytes += n as u64;
            self.pending_records += 1;
        }
        self.reader.seek(SeekFrom::Start(0))?;
        Ok(())
    }

    /// Records waiting in the spool.
    pub fn pending(&self) -> u64 {
        self.pending_records
    }

    /// Appends one record (a line without its newline). `Ok(false)`: the spool is full and the
    /// record was not kept.
    pub fn push(&mut self, record: &[u8]) -> io::Result<bool> {
        let len = record.len() as u64 + 1;
        if self.pending_bytes + len > self.max_bytes {
            return Ok(false);
        }
        let mut line = Vec::with_capacity(record.len() + 1);
        line.extend_from_slice(record);
        line.push(b'\n');
        self.writer.write_all(&line)?;
        self.pending_bytes += len;
        self.pending_records += 1;
        Ok(true)
    }

    /// The oldest record (without its newline), left in the spool until [`Spool::pop`].
    pub fn peek(&mut self) -> io::Result<Option<&[u8]>> {
        if self.next.is_empty() {
            if self.pending_records == 0 {
                return Ok(None);
            }
            self.reader.read_until(b'\n', &mut self.next)?;
            if self.next.last() != Some(&b'\n') {
                // Only whole lines are counted as pending: this cannot happen unless the file
                // was changed under the spool.
                self.next.clear();
                return Ok(None);
            }
        }
        Ok(self.next.get(..self.next.len() - 1))
    }

    /// Takes the record [`Spool::peek`] returned; once the spool is empty its file is emptied
    /// too, so it never grows beyond the bound.
    pub fn pop(&mut self) -> io::Result<()> {
        if self.next.is_empty() {
            return Ok(());
        }
        self.pending_bytes -= self.next.len() as u64;
        self.pending_records -= 1;
        self.next.clear();
        if self.pending_records == 0 {
            self.writer.set_len(0)?;
            self.reader.seek(SeekFrom::Start(0))?;
            self.pending_bytes = 0;
        }
        Ok(())
    }

    /// Leaves only the pending records in the file (for the next run), and closes it.
    pub fn close(mut self) -> io::Result<()> {
        let mut rest = std::mem::take(&mut self.next);
        io::copy(&mut self.reader, &mut rest)?;
        drop(self.reader);
        drop(self.writer);
        let tmp = self.path.with_extension("tmp");
        fs::write(&tmp, &rest)?;
        fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(spool: &mut Spool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = spool.peek().expect("read") {
            out.push(String::from_utf8_lossy(line).into_owned());
            spool.pop().expect("pop");
        }
        out
    }

    #[test]
    fn first_in_first_out_within_the_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spool = Spool::open(dir.path(), 14).expect("open");
        assert!(spool.push(b"one").expect("push"));
        assert!(spool.push(b"two").expect("push"));
        assert!(spool.push(b"three").expect("push"));
        assert!(!spool.push(b"four").expect("push"), "19 bytes > 14");
        assert_eq!(spool.pending(), 3);
        assert_eq!(spool.peek().expect("read"), Some(&b"one"[..]));
        spool.pop().expect("pop");
        assert!(spool.push(b"4").expect("push"), "room again");
        assert_eq!(drain(&mut spool), ["two", "three", "4"]);
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME))
                .expect("file")
                .len(),
            0
        );
        assert!(spool.push(b"five").expect("push"));
        assert_eq!(drain(&mut spool), ["five"]);
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_not_a_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(FILE_NAME), "one\ntwo\nthr").expect("write");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
        assert_eq!(spool.pending(), 2);
        spool.push(b"four").expect("push");
        assert_eq!(drain(&mut spool), ["one", "two", "four"]);
    }

    #[test]
    fn what_is_left_at_close_is_sent_first_next_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
        for r in ["a", "b", "c"] {
            spool.push(r.as_bytes()).expect("push");
        }
        assert_eq!(spool.peek().expect("read"), Some(&b"a"[..]));
        spool.pop().expect("pop");
        assert_eq!(spool.peek().expect("read"), Some(&b"b"[..]));
        spool.close().expect("close");
        let mut again = Spool::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(again.pending(), 2);
        again.push(b"d").expect("push");
        assert_eq!(drain(&mut again), ["b", "c", "d"]);
    }
}
