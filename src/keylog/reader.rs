//! Reading key log text: a line splitter for text that arrives in pieces, and a file reader
//! that remembers where it stopped, so a key log still being written is read as it grows.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::line::{LineError, MAX_LINE_LEN};
use super::{KeyLog, KeyLogError};

/// Splits text arriving in pieces into lines, holding back a partial last line (at most
/// [`MAX_LINE_LEN`] bytes: a longer line is reported as [`LineError::TooLong`] and skipped up
/// to its newline without being buffered).
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    overlong: bool,
    /// Lines completed so far.
    line_no: u64,
}

impl LineSplitter {
    /// Feeds `chunk`; `f` gets each completed line (1-based number, bytes without `\n`).
    pub fn push(&mut self, mut chunk: &[u8], mut f: impl FnMut(u64, Result<&[u8], LineError>)) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (piece, rest) = (&chunk[..end], &chunk[end + 1..]);
            chunk = rest;
            self.line_no += 1;
            if self.overlong || self.partial.len() + piece.len() > MAX_LINE_LEN {
                f(self.line_no, Err(LineError::TooLong));
            } else if self.partial.is_empty() {
                f(self.line_no, Ok(piece));
            } else {
                self.partial.extend_from_slice(piece);
                f(self.line_no, Ok(&self.partial));
            }
            self.partial.clear();
            self.overlong = false;
        }
        if self.overlong || self.partial.len() + chunk.len() > MAX_LINE_LEN {
            self.overlong = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    /// The text ended: a last line without a newline is complete after all.
    pub fn finish(&mut self, f: impl FnMut(u64, Result<&[u8], LineError>)) {
        if self.overlong || !self.partial.is_empty() {
            self.push(b"\n", f);
        }
    }

    /// Bytes of a partial line held back.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

/// A key log file read incrementally: each [`read_new`](KeyLogFile::read_new) reads what was
/// appended since the last one (a line still being written waits for its newline). A file that
/// shrank or was replaced (another inode) is read again from its start.
#[derive(Debug)]
pub struct KeyLogFile {
    path: PathBuf,
    source: String,
    offset: u64,
    identity: Option<(u64, u64)>,
    lines: LineSplitter,
    restarts: u64,
}

/// Read size: large enough that a million-line key log takes a few thousand reads.
const READ_CHUNK: usize = 256 * 1024;

impl KeyLogFile {
    /// A reader at the start of `path` (nothing is read yet).
    pub fn new(path: &Path) -> Self {
        KeyLogFile {
            path: path.to_path_buf(),
            source: path.display().to_string(),
            offset: 0,
            identity: None,
            lines: LineSplitter::default(),
            restarts: 0,
        }
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes consumed so far (complete lines and a held-back partial one).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Times the file was found shorter or replaced and read again from its start.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Reads everything appended since the last call into `keys`; returns the bytes read.
    pub fn read_new(&mut self, keys: &mut KeyLog) -> Result<u64, KeyLogError> {
        let io = |source| KeyLogError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let identity = file_identity(&meta);
        if meta.len() < self.offset || (self.identity.is_some() && self.identity != identity) {
            self.offset = 0;
            self.lines = LineSplitter::default();
            self.restarts += 1;
        }
        self.identity = identity;
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut read = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            read += n as u64;
            let source = &self.source;
            self.lines
                .push(&buf[..n], |no, line| keys.add_line(source, no, line));
        }
        self.offset += read;
        Ok(read)
    }

    /// The file is complete (offline): a last line without a newline is read too.
    pub fn finish(&mut self, keys: &mut KeyLog) {
        let source = &self.source;
        self.lines
            .finish(|no, line| keys.add_line(source, no, line));
    }
}

/// Device and inode, to notice a file replaced under the same name (a rotated log).
#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl KeyLog {
    /// Reads a whole key log file (offline use).
    pub fn load_file(&mut self, path: &Path) -> Result<(), KeyLogError> {
        let mut file = KeyLogFile::new(path);
        file.read_new(self)?;
        file.finish(self);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::keylog::SecretKind;

    fn collect(pieces: &[&[u8]]) -> Vec<(u64, Result<Vec<u8>, LineError>)> {
        let mut out = Vec::new();
        let mut s = LineSplitter::default();
        for p in pieces {
            s.push(p, |n, l| out.push((n, l.map(<[u8]>::to_vec))));
        }
        s.finish(|n, l| out.push((n, l.map(<[u8]>::to_vec))));
        out
    }

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        let got = collect(&[b"ab", b"c\nde", b"f\n\ng", b"h"]);
        let want: Vec<(u64, Result<Vec<u8>, LineError>)> = vec![
            (1, Ok(b"abc".to_vec())),
            (2, Ok(b"def".to_vec())),
            (3, Ok(b"".to_vec())),
            (4, Ok(b"gh".to_vec())),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn an_overlong_line_is_skipped_without_buffering() {
        let long = vec![b'x'; MAX_LINE_LEN * 3];
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(&long, |n, l| out.push((n, l.map(<[u8]>::to_vec))));
        s.push(&long, |n, l| out.push((n, l.map(<[u8]>::to_vec))));
        assert_eq!(s.pending(), 0, "nothing of an overlong line is held");
        s.push(b"x\nok\n", |n, l| out.push((n, l.map(<[u8]>::to_vec))));
        assert_eq!(
            out,
            vec![(1, Err(LineError::TooLong)), (2, Ok(b"ok".to_vec()))]
        );
    }

    fn secret_line(label: &str, random: u8) -> String {
        format!(
            "{label} {} {}\n",
            hex::encode([random; 32]),
            "ab".repeat(32)
        )
    }

    #[test]
    fn a_growing_file_is_read_as_it_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("live.keylog");
        let mut f = File::create(&path).expect("create");
        let mut keys = KeyLog::default();
        let mut reader = KeyLogFile::new(&path);
        assert_eq!(reader.read_new(&mut keys).expect("empty"), 0);

        let line = secret_line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1);
        let (head, tail) = line.split_at(50);
        f.write_all(head.as_bytes()).expect("write");
        f.flush().expect("flush");
        reader.read_new(&mut keys).expect("partial");
        assert!(keys.is_empty(), "a partial line waits for its newline");

        f.write_all(tail.as_bytes()).expect("write");
        f.write_all(secret_line("SERVER_HANDSHAKE_TRAFFIC_SECRET", 1).as_bytes())
            .expect("write");
        reader.read_new(&mut keys).expect("rest");
        let held = keys.get(&[1; 32]).expect("connection");
        assert!(held.get(SecretKind::ClientHandshakeTraffic).is_some());
        assert!(held.get(SecretKind::ServerHandshakeTraffic).is_some());
        assert_eq!(keys.stats().lines, 2);
        assert_eq!(reader.offset(), 2 * line.len() as u64);

        // Nothing new: nothing read, nothing counted twice.
        assert_eq!(reader.read_new(&mut keys).expect("again"), 0);
        assert_eq!(keys.stats().lines, 2);
    }

    #[test]
    fn a_truncated_or_replaced_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rotating.keylog");
        std::fs::write(&path, secret_line("CLIENT_TRAFFIC_SECRET_0", 1).repeat(3)).expect("w");
        let mut keys = KeyLog::default();
        let mut reader = KeyLogFile::new(&path);
        reader.read_new(&mut keys).expect("first");
        std::fs::write(&path, secret_line("CLIENT_TRAFFIC_SECRET_0", 2)).expect("truncate");
        reader.read_new(&mut keys).expect("second");
        assert_eq!(reader.restarts(), 1);
        assert!(keys.get(&[2; 32]).is_some());

        let other = dir.path().join("new.keylog");
        std::fs::write(&other, secret_line("CLIENT_TRAFFIC_SECRET_0", 3).repeat(4)).expect("w");
        std::fs::rename(&other, &path).expect("rename");
        reader.read_new(&mut keys).expect("third");
        assert_eq!(reader.restarts(), 2);
        assert!(keys.get(&[3; 32]).is_some());
    }

    #[test]
    fn a_missing_file_names_itself() {
        let mut keys = KeyLog::default();
        let err = keys
            .load_file(Path::new("/nonexistent/keys.log"))
            .expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/keys.log"), "{err}");
    }

    #[test]
    fn load_file_reads_a_last_line_without_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.log");
        let text = secret_line("SERVER_TRAFFIC_SECRET_0", 7);
        std::fs::write(&path, text.trim_end()).expect("write");
        let mut keys = KeyLog::default();
        keys.load_file(&path).expect("load");
        assert!(keys.get(&[7; 32]).is_some());
    }
}
