//! CompressedCertificate (RFC 8879, handshake type 25): what Chrome, Cloudflare and other
//! stacks send instead of a TLS 1.3 Certificate message. The body names the algorithm and the
//! uncompressed length; decompressing it gives the Certificate message body, which the
//! handshake layer then reads as usual.
//!
//! Decompression is bounded: the output never exceeds the declared uncompressed length, which
//! itself may not exceed [`MAX_UNCOMPRESSED_LEN`] (the handshake layer's message cap), and the
//! output must be exactly the declared length. zlib (flate2 over miniz_oxide), brotli
//! (brotli-decompressor) and zstd (ruzstd, window capped at [`MAX_ZSTD_WINDOW`]) are all pure
//! Rust.

use std::io::Read;

use super::joiner::DEFAULT_MAX_HANDSHAKE_MESSAGE;

/// Handshake message type of CompressedCertificate.
pub const COMPRESSED_CERTIFICATE: u8 = 25;

/// Largest uncompressed certificate message accepted: the cap on any handshake message.
pub const MAX_UNCOMPRESSED_LEN: usize = DEFAULT_MAX_HANDSHAKE_MESSAGE;

/// Largest zstd window accepted: 8 MiB, what the `zstd` tool declares at its strongest normal
/// levels (a 441-byte certificate compressed with `zstd -19` asks for it), instead of the
/// 128 MiB ruzstd allows by default. The decoder's buffer grows with the output, which the
/// declared length bounds, not with the declared window.
pub const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// The compression algorithms of RFC 8879.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateCompression {
    /// zlib (1).
    Zlib,
    /// brotli (2).
    Brotli,
    /// zstd (3).
    Zstd,
}

impl CertificateCompression {
    /// The algorithm of a codepoint, `None` for unknown ones.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            1 => Some(CertificateCompression::Zlib),
            2 => Some(CertificateCompression::Brotli),
            3 => Some(CertificateCompression::Zstd),
            _ => None,
        }
    }

    /// The registry name (`zlib`, `brotli`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            CertificateCompression::Zlib => "zlib",
            CertificateCompression::Brotli => "brotli",
            CertificateCompression::Zstd => "zstd",
        }
    }
}

/// Why a CompressedCertificate could not be decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The message is shorter than its fields say.
    #[error("CompressedCertificate message truncated")]
    Truncated,
    /// Bytes after the compressed data.
    #[error("bytes after the compressed certificate")]
    TrailingBytes,
    /// An algorithm codepoint RFC 8879 does not define.
    #[error("unknown certificate compression algorithm {0}")]
    UnknownAlgorithm(u16),
    /// The declared uncompressed length is over the cap.
    #[error("declared uncompressed length {0} exceeds the {MAX_UNCOMPRESSED_LEN}-byte cap")]
    TooLarge(usize),
    /// The compressed data is corrupt.
    #[error("{} data does not decompress", .0.name())]
    Corrupt(CertificateCompression),
    /// The data decompressed to another length than declared (longer output is cut at one
    /// byte past the declared length).
    #[error("decompressed to {got} bytes, {declared} declared")]
    LengthMismatch {
        /// The declared uncompressed length.
        declared: usize,
        /// What came out (at most `declared + 1`).
        got: usize,
    },
}

/// Decompresses a CompressedCertificate body into the Certificate message body it stands for;
/// also returns the algorithm.
pub fn decompress_certificate(
    body: &[u8],
) -> Result<(CertificateCompression, Vec<u8>), DecompressError> {
    let (Some(code), Some(declared), Some(compressed_len)) =
        (be(body, 0, 2), be(body, 2, 3), be(body, 5, 3))
    else {
        return Err(DecompressError::Truncated);
    };
    let code = code as u16;
    let algorithm =
        CertificateCompression::from_code(code).ok_or(DecompressError::UnknownAlgorithm(code))?;
    if declared > MAX_UNCOMPRESSED_LEN {
        return Err(DecompressError::TooLarge(declared));
    }
    let data = body
        .get(8..8 + compressed_len)
        .ok_or(DecompressError::Truncated)?;
    if body.len() != 8 + compressed_len {
        return Err(DecompressError::TrailingBytes);
    }
    let mut out = Vec::with_capacity(declared);
    let limit = declared as u64 + 1;
    let corrupt = |_| DecompressError::Corrupt(algorithm);
    match algorithm {
        CertificateCompression::Zlib => flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        CertificateCompression::Brotli => brotli_decompressor::Decompressor::new(data, 4096)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        CertificateCompression::Zstd => {
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(data, MAX_ZSTD_WINDOW)
                .map_err(|_| DecompressError::Corrupt(algorithm))?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?
        }
    };
    if out.len() != declared {
        return Err(DecompressError::LengthMismatch {
            declared,
            got: out.len(),
        });
    }
    Ok((algorithm, out))
}

/// A big-endian integer of `len` bytes at `at`.
fn be(bytes: &[u8], at: usize, len: usize) -> Option<usize> {
    Some(
        bytes
            .get(at..at + len)?
            .iter()
            .fold(0, |acc, &b| acc << 8 | usize::from(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTIFICATE: &[u8] =
        include_bytes!("../../tests/fixtures/compressed_cert/certificate.bin");

    /// RFC 8448's Certificate message compressed by real compressers (see the fixtures'
    /// make.py): each algorithm gives the message back byte for byte.
    #[test]
    fn zlib_brotli_and_zstd_give_back_the_certificate() {
        for (fixture, alg) in [
            (
                &include_bytes!("../../tests/fixtures/compressed_cert/zlib.bin")[..],
                CertificateCompression::Zlib,
            ),
            (
                &include_bytes!("../../tests/fixtures/compressed_cert/brotli.bin")[..],
                CertificateCompression::Brotli,
            ),
            (
                &include_bytes!("../../tests/fixtures/compressed_cert/zstd.bin")[..],
                CertificateCompression::Zstd,
            ),
        ] {
            let (got_alg, cert) =
                decompress_certificate(fixture).unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
            assert_eq!(got_alg, alg);
            assert_eq!(cert, CERTIFICATE, "{}", alg.name());
        }
    }

    fn with_declared(fixture: &[u8], declared: usize) -> Vec<u8> {
        let mut m = fixture.to_vec();
        m[2..5].copy_from_slice(&(declared as u32).to_be_bytes()[1..]);
        m
    }

    #[test]
    fn output_is_bounded_by_the_declared_length() {
        let zlib = include_bytes!("../../tests/fixtures/compressed_cert/zlib.bin");
        let brotli = include_bytes!("../../tests/fixtures/compressed_cert/brotli.bin");
        let zstd = include_bytes!("../../tests/fixtures/compressed_cert/zstd.bin");
        for fixture in [&zlib[..], &brotli[..], &zstd[..]] {
            // Declared shorter than the real output: cut one byte past it, then refused.
            assert_eq!(
                decompress_certificate(&with_declared(fixture, 100)).map(|_| ()),
                Err(DecompressError::LengthMismatch {
                    declared: 100,
                    got: 101
                })
            );
            // Declared longer than the real output.
            assert_eq!(
                decompress_certificate(&with_declared(fixture, 1000)).map(|_| ()),
                Err(DecompressError::LengthMismatch {
                    declared: 1000,
                    got: CERTIFICATE.len()
                })
            );
            assert_eq!(
                decompress_certificate(&with_declared(fixture, MAX_UNCOMPRESSED_LEN + 1))
                    .map(|_| ()),
                Err(DecompressError::TooLarge(MAX_UNCOMPRESSED_LEN + 1))
            );
        }
    }

    #[test]
    fn malformed_messages_are_named() {
        let zlib = include_bytes!("../../tests/fixtures/compressed_cert/zlib.bin");
        assert_eq!(
            decompress_certificate(&zlib[..7]).map(|_| ()),
            Err(DecompressError::Truncated)
        );
        assert_eq!(
            decompress_certificate(&zlib[..zlib.len() - 1]).map(|_| ()),
            Err(DecompressError::Truncated)
        );
        let mut trailing = zlib.to_vec();
        trailing.push(0);
        assert_eq!(
            decompress_certificate(&trailing).map(|_| ()),
            Err(DecompressError::TrailingBytes)
        );
        let mut unknown = zlib.to_vec();
        unknown[1] = 9;
        assert_eq!(
            decompress_certificate(&unknown).map(|_| ()),
            Err(DecompressError::UnknownAlgorithm(9))
        );
        let mut corrupt = zlib.to_vec();
        corrupt[8] ^= 0xff; // the zlib header
        assert_eq!(
            decompress_certificate(&corrupt).map(|_| ()),
            Err(DecompressError::Corrupt(CertificateCompression::Zlib))
        );
        let mut wrong = zlib.to_vec();
        wrong[1] = 3; // zlib data labelled zstd
        assert_eq!(
            decompress_certificate(&wrong).map(|_| ()),
            Err(DecompressError::Corrupt(CertificateCompression::Zstd))
        );
    }

    /// A zstd frame asking for a 128 MiB window is refused rather than honoured.
    #[test]
    fn a_huge_zstd_window_is_refused() {
        // Frame header: magic, descriptor with a window descriptor byte (no single segment),
        // window descriptor 0x88 = 2^(10+17) = 128 MiB.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88, 0x01, 0x00, 0x00];
        let mut m = vec![0, 3, 0, 0, 10, 0, 0, frame.len() as u8];
        m.extend_from_slice(&frame);
        assert_eq!(
            decompress_certificate(&m).map(|_| ()),
            Err(DecompressError::Corrupt(CertificateCompression::Zstd))
        );
    }
}
