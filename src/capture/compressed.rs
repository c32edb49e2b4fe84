//! Captures read through a pipe that a thread of ours feeds: compressed files (gzip, zstd, xz,
//! recognised by their first bytes, whatever their name) decompressed as they are read, and
//! standard input (which may be compressed too). libpcap reads the pipe as it would any
//! capture, pcap or pcapng, so nothing is decompressed to disk or held in memory whole.
//!
//! Why a thread: libpcap reads from a file descriptor and cannot be handed a decoder; the
//! thread also decompresses on another core while the capture thread decodes.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// How a capture's bytes are compressed, told by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), several members read as one stream as `gzip -d` does.
    Gzip,
    /// Zstandard (RFC 8878), several frames read as one stream.
    Zstd,
    /// xz (LZMA2), several streams read as one.
    Xz,
}

impl Compression {
    /// The compression whose magic number `head` starts with, if any.
    pub fn detect(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }

    /// How the file at `path` is compressed, by its first bytes.
    pub fn of_file(path: &Path) -> io::Result<Option<Self>> {
        Ok(Self::detect(&read_head(&mut File::open(path)?)?))
    }

    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }

    /// A reader of the decompressed bytes of `input`.
    fn decoder(self, input: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
        })
    }
}

/// The longest magic number [`Compression::detect`] looks at.
pub const MAGIC_LEN: usize = 6;

/// The pipe a feeding thread writes a capture's bytes into, and how that thread ended.
pub struct Feed {
    /// The pipe's read end, for libpcap.
    pub read_end: OwnedFd,
    /// The thread: `Err` with the reason when reading or decompressing failed.
    pub thread: thread::JoinHandle<io::Result<()>>,
}

/// Reads up to [`MAGIC_LEN`] bytes (fewer only at the end of the input).
pub fn read_head(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(MAGIC_LEN);
    input.take(MAGIC_LEN as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Starts a thread that writes `head` and then the rest of `input` into a new pipe,
/// decompressed when `head` says it is compressed. The thread stops early, closing the pipe,
/// once `stop` is set (checked at least every 100 ms while the input is quiet), so that a
/// reader blocked on a silent pipe sees its end.
pub fn feed(
    head: Vec<u8>,
    input: impl Read + AsRawFd + Send + 'static,
    stop: Arc<AtomicBool>,
) -> io::Result<Feed> {
    let (read_end, write_end) = io::pipe()?;
    let compression = Compression::detect(&head);
    let thread = thread::Builder::new()
        .name("tlsight-feed".into())
        .spawn(move || {
            let fd = input.as_raw_fd();
            let raw = Interruptible { input, fd, stop };
            let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(raw));
            let mut reader = match compression {
                Some(c) => c.decoder(whole).map_err(|e| named(c, e))?,
                None => whole,
            };
            let mut out = write_end;
            match io::copy(&mut reader, &mut out) {
                Ok(_) => Ok(()),
                // libpcap stopped reading (it hit an error of its own, or was dropped).
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(match compression {
                    Some(c) => named(c, e),
                    None => e,
                }),
            }
        })?;
    Ok(Feed {
        read_end: OwnedFd::from(read_end),
        thread,
    })
}

/// A decompression error that says it was one.
fn named(c: Compression, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{} decompression failed: {e}", c.name()))
}

/// A reader that ends (as at end of input) once `stop` is set, waiting for input at most
/// 100 ms at a time so that it notices.
struct Interruptible<R> {
    input: R,
    fd: std::os::fd::RawFd,
    stop: Arc<AtomicBool>,
}

impl<R: Read> Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            let mut poll = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, 100) };
            if ready != 0 {
                // Readable, at its end, or poll failed (EINTR): a read says which.
                return self.input.read(buf);
            }
        }
    }
}

/// Opens `path` and, if its first bytes say it is compressed or it is not a regular file (a
/// named pipe: it is read as it is written), starts feeding it into a pipe. `Ok(None)` for a
/// regular uncompressed file, which is read directly.
pub fn feed_if_needed(path: &Path, stop: &Arc<AtomicBool>) -> io::Result<Option<Feed>> {
    let mut file = File::open(path)?;
    let regular = file.metadata()?.is_file();
    let head = read_head(&mut file)?;
    if regular && Compression::detect(&head).is_none() {
        return Ok(None);
    }
    feed(head, file, Arc::clone(stop)).map(Some)
}

/// Feeds standard input into a pipe (decompressing it if it is compressed): its first bytes
/// have to be read to tell, so libpcap cannot read it directly.
pub fn feed_stdin(stop: &Arc<AtomicBool>) -> io::Result<Feed> {
    // The descriptor is duplicated so that the thread owns a `File` it may read and drop.
    let stdin = io::stdin().as_raw_fd();
    // SAFETY: `dup` of a descriptor this process has open; the result is owned below.
    let fd = unsafe { libc::dup(stdin) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    let mut file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let head = read_head(&mut file)?;
    feed(head, file, Arc::clone(stop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn magic_numbers_are_recognised_and_nothing_else() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::detect(b"\xfd7zXZ\x00"), Some(Compression::Xz));
        assert_eq!(Compression::detect(&[0xd4, 0xc3, 0xb2, 0xa1]), None);
        assert_eq!(Compression::detect(&[0x0a, 0x0d, 0x0d, 0x0a]), None);
        assert_eq!(Compression::detect(&[0x1f]), None);
    }

    #[test]
    fn every_format_round_trips_through_the_pipe() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(&data[..], 1).expect("zstd");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).expect("xz");
        let xz = xz.finish().expect("xz");
        for (name, bytes) in [
            ("gzip", gz),
            ("zstd", zst),
            ("xz", xz),
            ("plain", data.clone()),
        ] {
            let mut f = tempfile::NamedTempFile::new().expect("temp");
            f.write_all(&bytes).expect("write");
            let stop = Arc::new(AtomicBool::new(false));
            let feed = match feed_if_needed(f.path(), &stop).expect("open") {
                Some(feed) => feed,
                None => {
                    assert_eq!(name, "plain");
                    continue;
                }
            };
            let mut got = Vec::new();
            File::from(feed.read_end)
                .read_to_end(&mut got)
                .expect("read");
            feed.thread.join().expect("thread").expect("decompressed");
            assert!(got == data, "{name}: {} bytes back", got.len());
        }
    }

    #[test]
    fn a_corrupt_stream_is_named() {
        let mut bytes = zstd::encode_all(&[7u8; 10_000][..], 1).expect("zstd");
        let n = bytes.len();
        bytes[n / 2..].fill(0xff);
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(&bytes).expect("write");
        let stop = Arc::new(AtomicBool::new(false));
        let feed = feed_if_needed(f.path(), &stop)
            .expect("open")
            .expect("compressed");
        let _ = File::from(feed.read_end).read_to_end(&mut Vec::new());
        let err = feed.thread.join().expect("thread").expect_err("corrupt");
        assert!(
            err.to_string().contains("zstd decompression failed"),
            "{err}"
        );
    }
}
