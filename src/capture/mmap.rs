//! A zero-copy reader for classic pcap files: the file is memory-mapped and frames are
//! borrowed straight from the mapping.
//!
//! Why: libpcap copies every frame twice (kernel to stdio buffer, stdio buffer to its own
//! buffer) and costs a library call per frame; on the benchmark corpora that was 10 to 20 % of
//! the process's CPU (see the README's performance section). Anything this reader does not
//! recognise (pcapng, standard input, pipes, other magic numbers or versions) goes to libpcap,
//! which stays the reference: `tests` below checks that both readers return the same frames
//! for every capture in `captures/`.
//!
//! Frames are not copied further down the pipeline either: each frame says where it lies in the
//! mapping ([`SharedFrame`]), so the reader hands the workers offsets instead of bytes (copying
//! every payload into the workers' batches was 11 % of the CPU on `bench-1g`).
//!
//! Memory stays flat: the file is divided into [`MappedChunk`]s of [`CHUNK_BYTES`], and a chunk's
//! pages are handed back to the kernel (`MADV_DONTNEED`; the file's pages stay in the page
//! cache) as soon as neither the reader nor any batch refers to a frame in it, so the resident
//! set does not grow with the file. Like any memory-mapped reader, a file truncated by another
//! process while it is being read ends the process with `SIGBUS`; captures being written are
//! read through libpcap (`-` or a pipe).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Advice, Mmap, UncheckedAdvice};

use super::{CaptureError, Frame};
use crate::decode::LinkType;
use crate::flow::Timestamp;
use crate::prefetch::{self, CACHE_LINE};

/// How far ahead of the next record header the file is pulled into the CPU cache. Record
/// headers are a few cache lines in every ~1.5 KB, too sparse for the hardware prefetcher, and
/// each one missed cost a trip to memory (85 % of the reader's time in `next_frame`).
const PREFETCH_AHEAD: usize = 16 << 10;
/// Bytes per [`MappedChunk`] (a multiple of the page size, so chunks share no page).
const CHUNK_BYTES: usize = 4 << 20;
/// Size of the file header.
const FILE_HEADER: usize = 24;
/// Size of a packet record header.
const RECORD_HEADER: usize = 16;
/// libpcap's largest accepted captured length for the link types tlsight decodes
/// (`MAXIMUM_SNAPLEN`); a larger record is corrupt.
const MAX_SNAPLEN: u32 = 262_144;
/// `LINKTYPE_RAW`, which libpcap reports as `DLT_RAW` (12).
const LINKTYPE_RAW: u32 = 101;

/// A memory-mapped capture file, shared between the reader and the workers it hands frames to.
#[derive(Debug)]
pub struct MappedFile(Mmap);

impl MappedFile {
    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Where `bytes` starts in the file, if it lies entirely inside the mapping (a payload
    /// reassembled from IP fragments, for one, does not).
    pub fn offset_of(&self, bytes: &[u8]) -> Option<usize> {
        let base = self.0.as_ptr() as usize;
        let start = (bytes.as_ptr() as usize).checked_sub(base)?;
        (start + bytes.len() <= self.0.len()).then_some(start)
    }
}

/// A `CHUNK_BYTES` stretch of a mapped file, held by whatever may still read frames in it:
/// when the last holder drops it, its pages are handed back to the kernel.
#[derive(Debug)]
pub struct MappedChunk {
    file: Arc<MappedFile>,
    start: usize,
    len: usize,
}

impl Drop for MappedChunk {
    fn drop(&mut self) {
        // SAFETY: the mapping is a read-only file mapping, so MADV_DONTNEED loses nothing:
        // should a page be touched again (it is not, by the holders' rule), it is faulted back
        // in from the file with the same contents.
        let _ = unsafe {
            self.file
                .0
                .unchecked_advise_range(UncheckedAdvice::DontNeed, self.start, self.len)
        };
    }
}

/// Where a frame lies in a memory-mapped file, so that its bytes can be handed to another
/// thread without copying: the mapping, and the chunks to hold until that thread is done.
#[derive(Clone, Copy, Debug)]
pub struct SharedFrame<'a> {
    /// The mapping the frame's bytes are in.
    pub file: &'a Arc<MappedFile>,
    /// The chunks the frame's bytes are in (one, or two when it crosses a chunk boundary).
    pub chunks: &'a [Arc<MappedChunk>],
}

/// A memory-mapped classic pcap file.
pub(super) struct MappedPcap {
    file: Arc<MappedFile>,
    path: PathBuf,
    /// Offset of the next record header.
    pos: usize,
    /// The chunks the last frame returned lies in, oldest first.
    chunks: Vec<Arc<MappedChunk>>,
    /// Bytes before this offset have been prefetched.
    prefetched: usize,
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
    link: LinkType,
}

impl MappedPcap {
    /// Maps `path` if it is a regular file holding a classic pcap (either byte order,
    /// microsecond or nanosecond timestamps, version 2.x) of a link type tlsight decodes;
    /// `Ok(None)` if it is anything else, which libpcap should read instead.
    pub(super) fn open(path: &Path) -> Result<Option<Self>, CaptureError> {
        if path == Path::new("-") {
            return Ok(None);
        }
        let open_err = |e: std::io::Error| CaptureError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if !meta.is_file() || meta.len() < FILE_HEADER as u64 {
            return Ok(None);
        }
        // SAFETY: the mapping is only read. If another process truncates the file while it is
        // mapped, reading the lost pages raises SIGBUS (documented in the module comment).
        let map = unsafe { Mmap::map(&file) }.map_err(open_err)?;
        let Some(header) = map.get(..FILE_HEADER) else {
            return Ok(None);
        };
        let (big_endian, nanos) = match header[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Ok(None),
        };
        let field = |at: usize| read_u32(header, at, big_endian);
        let major = if big_endian {
            u16::from_be_bytes([header[4], header[5]])
        } else {
            u16::from_le_bytes([header[4], header[5]])
        };
        if major != 2 {
            return Ok(None);
        }
        let snaplen = match field(16) {
            0 => MAX_SNAPLEN,
            s => s.min(MAX_SNAPLEN),
        };
        let linktype = field(20) & 0xffff;
        let link = LinkType(if linktype == LINKTYPE_RAW {
            LinkType::RAW_BSD.0
        } else {
            linktype as i32
        });
        // Link types tlsight does not decode may allow larger records than MAX_SNAPLEN
        // (libpcap's limit depends on the link type): leave them to libpcap.
        if !link.is_supported() {
            return Ok(None);
        }
        // Only a hint: the reader is correct whatever the kernel does with it.
        let _ = map.advise(Advice::Sequential);
        Ok(Some(MappedPcap {
            file: Arc::new(MappedFile(map)),
            path: path.to_path_buf(),
            pos: FILE_HEADER,
            chunks: Vec::with_capacity(2),
            prefetched: 0,
            big_endian,
            nanos,
            snaplen,
            link,
        }))
    }

    /// Link type of the file, as libpcap reports it.
    pub(super) fn link_type(&self) -> LinkType {
        self.link
    }

    /// The timestamp of the next frame without reading it; `None` at the end of the file. A
    /// record header cut short peeks as the earliest time, so that its error comes next.
    pub(super) fn peek_ts(&self) -> Option<Timestamp> {
        let rest = self.file.bytes().get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return None;
        }
        if rest.len() < RECORD_HEADER {
            return Some(Timestamp(i64::MIN));
        }
        let secs = read_u32(rest, 0, self.big_endian);
        let frac = read_u32(rest, 4, self.big_endian);
        Some(self.timestamp(secs, frac))
    }

    /// A record's timestamp from its seconds and fraction fields.
    fn timestamp(&self, secs: u32, frac: u32) -> Timestamp {
        let nanos = if self.nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1_000
        };
        Timestamp::from_parts(i64::from(secs), nanos)
    }

    /// The next frame; `packet` is the 1-based number it will have, for error messages.
    /// Inlined for the reason [`OfflineFile`](crate::capture::OfflineFile)'s `next_frame` is.
    #[inline(always)]
    pub(super) fn next_frame(&mut self, packet: u64) -> Result<Option<Frame<'_>>, CaptureError> {
        self.prefetch();
        let rest = self.file.bytes().get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let fail = |reason: String| CaptureError::Read {
            path: self.path.clone(),
            packet,
            reason,
        };
        if rest.len() < RECORD_HEADER {
            return Err(fail(format!(
                "truncated file: {} bytes left, a packet header needs {RECORD_HEADER}",
                rest.len()
            )));
        }
        let secs = read_u32(rest, 0, self.big_endian);
        let frac = read_u32(rest, 4, self.big_endian);
        let caplen = read_u32(rest, 8, self.big_endian);
        let wire_len = read_u32(rest, 12, self.big_endian);
        if caplen > MAX_SNAPLEN {
            return Err(fail(format!(
                "invalid packet capture length {caplen}, bigger than maximum of {MAX_SNAPLEN}"
            )));
        }
        let end = RECORD_HEADER + caplen as usize;
        let Some(data) = rest.get(RECORD_HEADER..end) else {
            return Err(fail(format!(
                "truncated file: packet of {caplen} captured bytes, only {} left",
                rest.len() - RECORD_HEADER
            )));
        };
        // As libpcap: bytes beyond the file's snap length are skipped.
        let data = data.get(..self.snaplen as usize).unwrap_or(data);
        let start = self.pos;
        self.pos += end;
        Self::hold_chunks(&mut self.chunks, &self.file, start..self.pos);
        Ok(Some(Frame {
            ts: self.timestamp(secs, frac),
            data,
            wire_len,
            shared: Some(SharedFrame {
                file: &self.file,
                chunks: &self.chunks,
            }),
        }))
    }

    /// Asks the CPU to start loading the file up to [`PREFETCH_AHEAD`] past the next record.
    fn prefetch(&mut self) {
        let bytes = self.file.bytes();
        let until = (self.pos + PREFETCH_AHEAD).min(bytes.len());
        while self.prefetched < until {
            prefetch::line(bytes.as_ptr().wrapping_add(self.prefetched));
            self.prefetched += CACHE_LINE;
        }
    }

    /// Makes `chunks` the chunks that `bytes` of the file lie in, keeping those already held
    /// and dropping (so releasing, unless a batch still holds them) those before.
    fn hold_chunks(
        chunks: &mut Vec<Arc<MappedChunk>>,
        file: &Arc<MappedFile>,
        bytes: std::ops::Range<usize>,
    ) {
        // Nearly every frame lies in the one chunk already held.
        if let [only] = chunks.as_slice()
            && only.start <= bytes.start
            && bytes.end <= only.start + only.len
        {
            return;
        }
        let first = bytes.start - bytes.start % CHUNK_BYTES;
        chunks.retain(|c| c.start >= first);
        let mut next = chunks.last().map_or(first, |c| c.start + c.len);
        while next < bytes.end {
            let len = CHUNK_BYTES.min(file.bytes().len() - next);
            // One call maps the whole chunk instead of a page fault every 64 KiB (bench-1g:
            // 23 k page faults down to 7 k). Only a hint: without it the pages fault in.
            let _ = file.0.advise_range(Advice::PopulateRead, next, len);
            chunks.push(Arc::new(MappedChunk {
                file: Arc::clone(file),
                start: next,
                len,
            }));
            next += len;
        }
    }
}

/// The `u32` at `at` of `bytes` (which the caller has checked is long enough).
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;

    use super::*;
    use crate::capture::{OfflineFile, PacketSource};

    /// Every frame of `src` as owned values, then the error's packet number if reading stopped.
    type Frames = (LinkType, Vec<(Timestamp, Vec<u8>, u32)>, Option<u64>);

    fn read_all(mut src: OfflineFile) -> Frames {
        let link = src.link_type();
        let mut frames = Vec::new();
        loop {
            match src.next_frame() {
                Ok(Some(f)) => frames.push((f.ts, f.data.to_vec(), f.wire_len)),
                Ok(None) => return (link, frames, None),
                Err(CaptureError::Read { packet, .. }) => return (link, frames, Some(packet)),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// The classic pcaps of `captures/`, and of `../shared/captures/real` when it is there.
    fn captures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut v: Vec<PathBuf> = [root.join("captures"), root.join("../shared/captures/real")]
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        v.sort();
        v
    }

    fn is_mapped(src: &OfflineFile) -> bool {
        matches!(src.backend, crate::capture::Backend::Mapped(_))
    }

    #[test]
    fn same_frames_as_libpcap_for_every_bundled_capture() {
        let paths = captures();
        assert!(paths.len() > 40, "{}", paths.len());
        for path in paths {
            let mapped = OfflineFile::open(&path).expect("open");
            assert!(is_mapped(&mapped), "{} not memory-mapped", path.display());
            let reference = OfflineFile::open_with_libpcap(&path).expect("libpcap open");
            assert_eq!(read_all(mapped), read_all(reference), "{}", path.display());
        }
    }

    #[test]
    fn truncated_anywhere_yields_what_precedes_the_cut_like_libpcap() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/tls12-ecdhe-rsa.pcap");
        let bytes = std::fs::read(&path).expect("read capture");
        for cut in (FILE_HEADER..bytes.len()).step_by(7) {
            let mut f = tempfile::NamedTempFile::new().expect("temp");
            f.write_all(&bytes[..cut]).expect("write");
            let mapped = OfflineFile::open(f.path()).expect("open");
            assert!(is_mapped(&mapped));
            let reference = OfflineFile::open_with_libpcap(f.path()).expect("libpcap");
            assert_eq!(read_all(mapped), read_all(reference), "cut at {cut}");
        }
    }

    /// A big-endian nanosecond pcap of one 4-byte frame, snap length 2.
    fn big_endian_nanos() -> Vec<u8> {
        let mut v = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(&101u32.to_be_bytes());
        v.extend_from_slice(&7u32.to_be_bytes());
        v.extend_from_slice(&999_999_999u32.to_be_bytes());
        v.extend_from_slice(&4u32.to_be_bytes());
        v.extend_from_slice(&60u32.to_be_bytes());
        v.extend_from_slice(&[0x45, 0, 0, 0]);
        v
    }

    #[test]
    fn big_endian_nanoseconds_snaplen_and_raw_link_type() {
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(&big_endian_nanos()).expect("write");
        let mapped = OfflineFile::open(f.path()).expect("open");
        assert!(is_mapped(&mapped));
        let (link, frames, err) = read_all(mapped);
        assert_eq!(link, LinkType::RAW_BSD, "LINKTYPE_RAW reported as DLT_RAW");
        assert_eq!(err, None);
        assert_eq!(
            frames,
            vec![(Timestamp::from_parts(7, 999_999_999), vec![0x45, 0], 60)]
        );
        let reference = OfflineFile::open_with_libpcap(f.path()).expect("libpcap");
        assert_eq!(read_all(reference), (link, frames, err));
    }

    #[test]
    fn oversized_record_is_an_error_naming_file_and_packet() {
        let mut bytes = big_endian_nanos();
        bytes[32..36].copy_from_slice(&(MAX_SNAPLEN + 1).to_be_bytes());
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(&bytes).expect("write");
        let mut src = OfflineFile::open(f.path()).expect("open");
        let err = src.next_frame().expect_err("corrupt").to_string();
        assert!(err.contains("packet 1") && err.contains("262145"), "{err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }

    #[test]
    fn pcapng_stdin_and_undecoded_link_types_go_to_libpcap() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let ng = std::fs::read_dir(&path)
            .expect("captures/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "pcapng"))
            .expect("a pcapng capture");
        assert!(MappedPcap::open(&ng).expect("open").is_none());
        assert!(MappedPcap::open(Path::new("-")).expect("stdin").is_none());
        let mut usb = big_endian_nanos();
        usb[20..24].copy_from_slice(&249u32.to_be_bytes()); // LINKTYPE_USBPCAP
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(&usb).expect("write");
        assert!(MappedPcap::open(f.path()).expect("open").is_none());
    }

    #[test]
    fn chunks_are_held_while_referred_to_and_released_after() {
        let frame = [0u8; 1000];
        let mut bytes = big_endian_nanos();
        bytes.truncate(FILE_HEADER);
        bytes[16..20].copy_from_slice(&65535u32.to_be_bytes());
        let frames = (3 * CHUNK_BYTES / 1016) as u32;
        for i in 0..frames {
            bytes.extend_from_slice(&i.to_be_bytes());
            bytes.extend_from_slice(&0u32.to_be_bytes());
            bytes.extend_from_slice(&1000u32.to_be_bytes());
            bytes.extend_from_slice(&1000u32.to_be_bytes());
            bytes.extend_from_slice(&frame);
        }
        let mut f = tempfile::NamedTempFile::new().expect("temp");
        f.write_all(&bytes).expect("write");
        let mut m = MappedPcap::open(f.path())
            .expect("open")
            .expect("classic pcap");
        let (mut n, mut crossing) = (0u32, 0);
        let mut held = None;
        let mut released = Vec::new();
        while let Some(fr) = m.next_frame(u64::from(n) + 1).expect("read") {
            assert_eq!(fr.ts, Timestamp::from_parts(i64::from(n), 0));
            let shared = fr.shared.expect("mapped frames are shared");
            let at = shared
                .file
                .offset_of(fr.data)
                .expect("frame inside the mapping");
            let first = shared.chunks.first().expect("a chunk");
            let last = shared.chunks.last().expect("a chunk");
            assert!(first.start <= at && at + fr.data.len() <= last.start + last.len);
            crossing += usize::from(shared.chunks.len() == 2);
            if n == 0 {
                held = Some(Arc::clone(first));
            }
            if n == frames / 2 {
                released.push(Arc::downgrade(first));
            }
            n += 1;
        }
        assert_eq!(n, frames);
        assert!(
            crossing >= 2,
            "frames crossing a chunk boundary: {crossing}"
        );
        let held = held.expect("first chunk");
        assert_eq!(held.start, 0);
        assert!(
            released.iter().all(|w| w.upgrade().is_none()),
            "a chunk nobody holds is released"
        );
        let weak = Arc::downgrade(&held);
        drop(held);
        assert!(weak.upgrade().is_none());
        assert_eq!(m.file.offset_of(&frame), None, "bytes outside the mapping");
    }
}
