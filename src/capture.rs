//! Packet sources: where frames come from. Offline files (classic pcap memory-mapped, pcapng
//! and everything else via libpcap) and live interfaces ([`interface`]), both behind
//! [`PacketSource`].

mod compressed;
pub mod filter;
pub mod interface;
mod mmap;

pub use compressed::Compression;

pub use mmap::{MappedChunk, MappedFile, SharedFrame};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::decode::LinkType;
use crate::flow::Timestamp;

/// One captured frame, borrowed from the source until the next call.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// The captured bytes (possibly cut by the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Set when the bytes live in a memory-mapped file and can be handed on without copying.
    pub shared: Option<SharedFrame<'a>>,
}

/// Why a capture could not be read. The message names the file and, for read errors, the
/// packet number (1-based) where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened as a capture.
    #[error("cannot open capture {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// libpcap's or the OS's reason.
        reason: String,
    },
    /// The file's link type is not one the decoder understands: refused up front rather than
    /// counting every frame as undecodable.
    #[error(
        "capture {path}: unsupported link type {link} (tlsight decodes Ethernet, PPP, Linux SLL/SLL2, raw IP and BSD loopback)"
    )]
    UnsupportedLinkType {
        /// The file.
        path: PathBuf,
        /// The link type number (LINKTYPE_*).
        link: i32,
    },
    /// Reading stopped before the end of the file (truncated or corrupt).
    #[error("capture {path}: reading stopped at packet {packet}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// 1-based number of the packet that could not be read.
        packet: u64,
        /// libpcap's reason.
        reason: String,
    },
    /// No interface of that name.
    #[error("no interface named {name}; available: {available}")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The interfaces libpcap can capture on, comma-separated.
        available: String,
    },
    /// Capturing needs privileges the process does not have.
    #[error(
        "no permission to capture on {name} ({reason}): capturing needs CAP_NET_RAW (and \
         CAP_NET_ADMIN for promiscuous mode); run as root, or grant them once with \
         `sudo setcap cap_net_raw,cap_net_admin=eip {exe}`"
    )]
    Permission {
        /// The interface.
        name: String,
        /// libpcap's reason.
        reason: String,
        /// This executable, for the setcap command line.
        exe: String,
    },
    /// libpcap rejected the BPF filter.
    #[error("bad capture filter '{filter}': {reason}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// libpcap's reason.
        reason: String,
    },
    /// Opening or reading the interface failed for another reason.
    #[error("capture on {name}: {reason}")]
    Live {
        /// The interface.
        name: String,
        /// libpcap's reason.
        reason: String,
    },
}

/// Anything that yields frames of one link type.
pub trait PacketSource {
    /// Link type of every frame of this source.
    fn link_type(&self) -> LinkType;
    /// The next frame, `Ok(None)` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;
}

/// A saved capture (pcap or pcapng, possibly compressed; `-` is standard input). Regular
/// classic-pcap files are memory-mapped and read without copying (`mmap`); compressed files
/// and standard input are fed to libpcap through a pipe (`compressed`); everything else goes
/// through libpcap. Timestamps are read at nanosecond precision whatever the file's, so no
/// precision is lost.
pub struct OfflineFile {
    backend: Backend,
    path: PathBuf,
    link: LinkType,
    packets_read: u64,
    /// Set when its input arrives as it is written (standard input, a named pipe): the reader
    /// then flushes on time, not only when batches are full.
    streaming: bool,
}

/// Which reader serves an [`OfflineFile`].
enum Backend {
    Mapped(mmap::MappedPcap),
    Libpcap(LibpcapFile),
}

/// A capture libpcap reads, with the thread that feeds it (compressed files, standard input).
struct LibpcapFile {
    capture: pcap::Capture<pcap::Offline>,
    feed: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// The pipe libpcap reads, when its input is streamed (libpcap owns the descriptor).
    pipe: Option<std::os::fd::RawFd>,
    /// A frame read ahead by [`OfflineFile::peek_ts`], owned until `next_frame` hands it out.
    ahead: Option<Result<OwnedFrame, CaptureError>>,
    /// The bytes of the frame last handed out from `ahead`.
    held: OwnedFrame,
}

/// A frame copied out of libpcap's buffer.
#[derive(Default)]
struct OwnedFrame {
    ts: Timestamp,
    data: Vec<u8>,
    wire_len: u32,
}

impl OfflineFile {
    /// Opens `path` (`-` for standard input).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        Self::open_until(path, &Arc::new(AtomicBool::new(false)))
    }

    /// Opens `path` (`-` for standard input); a thread feeding it from a pipe stops once `stop`
    /// is set, so that reading a quiet pipe ends too.
    pub fn open_until(path: &Path, stop: &Arc<AtomicBool>) -> Result<Self, CaptureError> {
        let open_err = |e: std::io::Error| CaptureError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if path == Path::new("-") {
            let feed = compressed::feed_stdin(stop).map_err(open_err)?;
            return Self::open_feed(path, feed, true);
        }
        let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
        if let Some(feed) = compressed::feed_if_needed(path, stop).map_err(open_err)? {
            return Self::open_feed(path, feed, !regular);
        }
        if let Some(mapped) = mmap::MappedPcap::open(path)? {
            return Ok(OfflineFile {
                link: mapped.link_type(),
                backend: Backend::Mapped(mapped),
                path: path.to_path_buf(),
                packets_read: 0,
                streaming: false,
            });
        }
        Self::open_with_libpcap(path)
    }

    /// libpcap over the pipe a feeding thread writes into.
    fn open_feed(
        path: &Path,
        feed: compressed::Feed,
        streaming: bool,
    ) -> Result<Self, CaptureError> {
        let fd = std::os::fd::IntoRawFd::into_raw_fd(feed.read_end);
        let pipe = streaming.then_some(fd);
        // SAFETY: `fd` is the pipe's read end, owned by nothing else: libpcap takes it over.
        let opened =
            unsafe { pcap::Capture::from_raw_fd_with_precision(fd, pcap::Precision::Nano) };
        let capture = match opened {
            Ok(c) => c,
            Err(e) => {
                // The thread's reason (e.g. a corrupt compressed file) says more than libpcap's.
                // A thread still writing (libpcap refused what it read) is left to end when the
                // process does: libpcap keeps the pipe open.
                for _ in 0..100 {
                    if feed.thread.is_finished() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let reason = match feed.thread.is_finished().then(|| feed.thread.join()) {
                    Some(Ok(Err(io))) => io.to_string(),
                    _ => format!("{e} (not a pcap or pcapng capture)"),
                };
                return Err(CaptureError::Open {
                    path: path.to_path_buf(),
                    reason,
                });
            }
        };
        Self::from_capture(path, capture, Some(feed.thread), pipe)
    }

    /// Opens `path` through libpcap whatever its format (the fallback, and the reference the
    /// memory-mapped reader is tested against).
    pub fn open_with_libpcap(path: &Path) -> Result<Self, CaptureError> {
        let capture = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano)
            .map_err(|e| CaptureError::Open {
                path: path.to_path_buf(),
                reason: open_reason(path, &e),
            })?;
        Self::from_capture(path, capture, None, None)
    }

    fn from_capture(
        path: &Path,
        capture: pcap::Capture<pcap::Offline>,
        feed: Option<std::thread::JoinHandle<std::io::Result<()>>>,
        pipe: Option<std::os::fd::RawFd>,
    ) -> Result<Self, CaptureError> {
        let link = LinkType(capture.get_datalink().0);
        if !link.is_supported() {
            return Err(CaptureError::UnsupportedLinkType {
                path: path.to_path_buf(),
                link: link.0,
            });
        }
        Ok(OfflineFile {
            backend: Backend::Libpcap(LibpcapFile {
                capture,
                feed,
                pipe,
                ahead: None,
                held: OwnedFrame::default(),
            }),
            path: path.to_path_buf(),
            link,
            packets_read: 0,
            streaming: pipe.is_some(),
        })
    }

    /// Frames read so far.
    pub fn packets_read(&self) -> u64 {
        self.packets_read
    }

    /// Whether the input arrives as it is written (standard input, a named pipe).
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether the next frame can be read without waiting for more input: false when the pipe
    /// of a streamed input is empty (libpcap may still hold a frame in its buffer, or block).
    pub fn has_input_pending(&self) -> bool {
        match &self.backend {
            Backend::Mapped(_) => true,
            Backend::Libpcap(LibpcapFile { pipe: None, .. }) => true,
            Backend::Libpcap(LibpcapFile { pipe: Some(fd), .. }) => {
                let fd = *fd;
                let mut pending: libc::c_int = 0;
                // SAFETY: FIONREAD writes one int; `fd` is libpcap's open descriptor.
                let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) } == 0;
                ok && pending > 0
            }
        }
    }

    /// The timestamp of the next frame without consuming it (`None` at the end): what merging
    /// several inputs by time orders them by. A frame that cannot be read peeks as the
    /// earliest time, so that its error comes out next.
    pub fn peek_ts(&mut self) -> Option<Timestamp> {
        match &mut self.backend {
            Backend::Mapped(m) => m.peek_ts(),
            Backend::Libpcap(f) => {
                if f.ahead.is_none() {
                    let packet = self.packets_read + 1;
                    f.ahead = f.read(&self.path, packet).transpose();
                }
                match f.ahead.as_ref()? {
                    Ok(frame) => Some(frame.ts),
                    Err(_) => Some(Timestamp(i64::MIN)),
                }
            }
        }
    }
}

impl LibpcapFile {
    /// The next frame, copied (for reading ahead).
    fn read(&mut self, path: &Path, packet: u64) -> Result<Option<OwnedFrame>, CaptureError> {
        Ok(self.next(path, packet)?.map(|f| OwnedFrame {
            ts: f.ts,
            data: f.data.to_vec(),
            wire_len: f.wire_len,
        }))
    }

    /// The next frame from libpcap (or from the frame read ahead).
    fn next(&mut self, path: &Path, packet: u64) -> Result<Option<Frame<'_>>, CaptureError> {
        if let Some(ahead) = self.ahead.take() {
            self.held = ahead?;
            return Ok(Some(Frame {
                ts: self.held.ts,
                data: &self.held.data,
                wire_len: self.held.wire_len,
                shared: None,
            }));
        }
        match self.capture.next_packet() {
            Ok(p) => Ok(Some(Frame {
                ts: Timestamp::from_parts(p.header.ts.tv_sec, p.header.ts.tv_usec),
                data: p.data,
                wire_len: p.header.len,
                shared: None,
            })),
            Err(e) => {
                // A feeding thread that failed knows why the pipe ended early.
                let fed = match self.feed.take().map(std::thread::JoinHandle::join) {
                    Some(Ok(Err(io))) => Some(io.to_string()),
                    _ => None,
                };
                match (e, fed) {
                    (_, Some(reason)) => Err(CaptureError::Read {
                        path: path.to_path_buf(),
                        packet,
                        reason,
                    }),
                    (pcap::Error::NoMorePackets, None) => Ok(None),
                    (e, None) => Err(CaptureError::Read {
                        path: path.to_path_buf(),
                        packet,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
}

/// A reason that says what the user can do: libpcap's "No such file" text is replaced by the
/// OS's, and its "unknown file format" gets a hint.
fn open_reason(path: &Path, err: &pcap::Error) -> String {
    if path != Path::new("-")
        && let Err(io) = std::fs::metadata(path)
    {
        return io.to_string();
    }
    let text = err.to_string();
    if text.contains("unknown file format") {
        format!("{text} (not a pcap or pcapng file)")
    } else {
        text
    }
}

impl PacketSource for OfflineFile {
    fn link_type(&self) -> LinkType {
        self.link
    }

    // Inlined into the reader's loop (with the mapped reader's): a frame returned through
    // memory was read back with other widths than it was written with (a store-forwarding
    // stall on every packet).
    #[inline(always)]
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        let packet = self.packets_read + 1;
        let frame = match &mut self.backend {
            Backend::Mapped(m) => m.next_frame(packet)?,
            Backend::Libpcap(f) => f.next(&self.path, packet)?,
        };
        if frame.is_some() {
            self.packets_read = packet;
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A classic pcap of link type `link` with one frame per `(seconds, captured, wire)`
    /// length triple, microsecond timestamps.
    fn pcap(link: u32, frames: &[(u32, usize, u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&link.to_le_bytes());
        for &(secs, caplen, len) in frames {
            v.extend_from_slice(&secs.to_le_bytes());
            v.extend_from_slice(&123_456u32.to_le_bytes());
            v.extend_from_slice(&(caplen as u32).to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend(std::iter::repeat_n(0xab, caplen));
        }
        v
    }

    /// A classic Ethernet pcap with one frame of `len` bytes.
    fn one_frame_pcap(len: usize) -> Vec<u8> {
        pcap(1, &[(1_700_000_000, len, len as u32)])
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(bytes).expect("write temp file");
        f
    }

    #[test]
    fn reads_frames_at_nanosecond_precision() {
        let f = write_temp(&one_frame_pcap(60));
        let mut src = OfflineFile::open(f.path()).expect("open");
        assert_eq!(src.link_type(), LinkType(1));
        let frame = src.next_frame().expect("read").expect("one frame");
        assert_eq!(frame.ts, Timestamp::from_parts(1_700_000_000, 123_456_000));
        assert_eq!(frame.data.len(), 60);
        assert!(src.next_frame().expect("eof").is_none());
    }

    #[test]
    fn truncated_file_names_the_packet() {
        let mut bytes = one_frame_pcap(60);
        bytes.truncate(bytes.len() - 10);
        let f = write_temp(&bytes);
        let mut src = OfflineFile::open(f.path()).expect("open");
        let err = src.next_frame().expect_err("truncated");
        assert!(err.to_string().contains("packet 1"), "{err}");
    }

    #[test]
    fn missing_and_non_capture_files_are_clear() {
        let err = OfflineFile::open(Path::new("/nonexistent/x.pcap"))
            .err()
            .expect("missing");
        assert!(err.to_string().contains("/nonexistent/x.pcap"), "{err}");
        let f = write_temp(b"this is not a capture at all, just text\n");
        let err = OfflineFile::open(f.path()).err().expect("not a capture");
        assert!(err.to_string().contains("not a pcap"), "{err}");
    }

    #[test]
    fn unsupported_link_type_is_refused_at_open() {
        let f = write_temp(&pcap(147, &[(1, 60, 60)]));
        let err = OfflineFile::open(f.path()).err().expect("refused");
        assert!(
            err.to_string().contains("unsupported link type 147"),
            "{err}"
        );
    }

    #[test]
    fn frames_keep_their_timestamps_and_wire_lengths() {
        let frames = [(100, 60, 60), (99, 60, 60), (99, 40, 1500), (101, 60, 60)];
        let f = write_temp(&pcap(1, &frames));
        let mut src = OfflineFile::open(f.path()).expect("open");
        let mut seen = Vec::new();
        while let Some(frame) = src.next_frame().expect("read") {
            seen.push((frame.ts.0 / 1_000_000_000, frame.data.len(), frame.wire_len));
        }
        assert_eq!(
            seen,
            [(100, 60, 60), (99, 60, 60), (99, 40, 1500), (101, 60, 60)]
        );
        assert_eq!(src.packets_read(), 4);
    }
}
