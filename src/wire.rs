//! The shared reading layer of the wire parsers: `nom` 7 parsers over byte slices, with the
//! few combinators TLS, DTLS and QUIC framing needs — big-endian integers, vectors with a
//! 1-, 2- or 3-byte length prefix, lists of 16-bit codepoints, QUIC variable-length integers —
//! and [`WireError`], a small typed error that parsers map to their own (truncated or
//! malformed, with what was wrong) at the message boundary.
//!
//! Every combinator is generic over nom's error type, so parsers that keep nom's default
//! `nom::error::Error` use them as they are; [`WireError`] is the cheap one (no input slice is
//! kept) for the hot path. Reads never panic: a length beyond the input is an error.
//!
//! ## Why nom, measured (issue 12)
//!
//! The rule: nom, unless it costs more than 3 % on `handshakes-only`; then one
//! hand-written cursor instead. The ClientHello and ServerHello body parsers (two per
//! connection, the hottest wire parsers) were written on nom next to the hand-written cursor
//! they replaced, checked to give the same values and errors on the hellos of every bundled
//! capture, on all their prefixes, on mutations of them and on arbitrary bytes, and compared
//! side by side (commit `ffab4fa`; commands and figures in benches/README.md, "nom or a
//! cursor"):
//!
//! | measure | cursor | nom | ratio |
//! |---|---|---|---|
//! | `handshakes-only`, `--workers 2`, CPU (user+sys), median of 11 alternated pairs | 1.13 s | 1.14 s | 1.009 |
//! | same runs, wall (load average 15–18 on 2 cores) | 4.65 s | 4.61 s | 0.99 |
//! | `handshakes-10k`, callgrind, whole run, median of 5 | 476.6 M | 477.6 M | 1.002 |
//! | same, record handling that parses the hellos (`SideSink::record`, deterministic) | 68.88 M | 69.73 M | +85 per connection |
//! | criterion, one ClientHello (TLS 1.2, bundled capture), median of 4 rounds | 481 ns | 570 ns | 1.18 |
//! | criterion, Chrome's TLS 1.3 ClientHello with GREASE | 946 ns | 1006 ns | 1.06 |
//! | criterion, one ServerHello (TLS 1.2) | 197 ns | 223 ns | 1.13 |
//!
//! A hello parsed alone is 6–18 % slower on nom, but parsing is a small part of a connection's
//! work (fingerprints, facts, the record), so the whole run moves by 0.2 %: well inside the
//! rule, and nom is the reading layer. With every TLS parser ported (SSLv2 hellos, certificate
//! lists, ServerKeyExchange, NewSessionTicket, the joiner's message header, start-of-TLS
//! detection) the record handling is 70.0 M (+0.2 % of the run against the cursor). `decode`
//! keeps its own slice reads: on nom it was 17 % slower per packet (see that module).
//!
//! nom 7 rather than 8: `tls-parser` and `x509-parser` already build nom 7, so it costs no
//! compile time and no second copy in the binary; nom 8's `Parser` trait (`.parse()`
//! everywhere) buys nothing for these sequential reads.

use nom::error::{ErrorKind, ParseError};
use nom::multi::length_data;
use nom::{Err, IResult};
use smallvec::SmallVec;

pub use nom::bytes::complete::take;
pub use nom::number::complete::{be_u8, be_u16, be_u24, be_u32};

/// Why a read failed. Kept small and `Copy` (nom's default error keeps the input slice and
/// an error kind), so that a failed read on the hot path costs a discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before a field did.
    Truncated,
    /// A field had an impossible value.
    Malformed(&'static str),
}

impl<I> ParseError<I> for WireError {
    fn from_error_kind(_: I, kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Eof | ErrorKind::Complete => WireError::Truncated,
            _ => WireError::Malformed("unexpected input"),
        }
    }

    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl WireError {
    /// The error of a failed read: nom's `Incomplete` (what `length_data` returns when a
    /// length runs past the input) is a truncation like any other, since every input here is
    /// complete.
    pub fn of(e: Err<WireError>) -> WireError {
        match e {
            Err::Incomplete(_) => WireError::Truncated,
            Err::Error(e) | Err::Failure(e) => e,
        }
    }
}

/// The result of a read with [`WireError`]: the rest of the input and the value.
pub type WireResult<'a, T> = IResult<&'a [u8], T, WireError>;

/// A recoverable read error saying what was wrong.
pub fn malformed<T>(what: &'static str) -> WireResult<'static, T> {
    Err(Err::Error(WireError::Malformed(what)))
}

/// The big-endian u16 at offset `at` of a fixed layout read out of order (a signature
/// window), if the bytes are there.
pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let &[hi, lo] = bytes.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// A vector with a 1-byte length prefix.
pub fn vec8<'a, E: ParseError<&'a [u8]>>(i: &'a [u8]) -> IResult<&'a [u8], &'a [u8], E> {
    length_data(be_u8)(i)
}

/// A vector with a 2-byte length prefix.
pub fn vec16<'a, E: ParseError<&'a [u8]>>(i: &'a [u8]) -> IResult<&'a [u8], &'a [u8], E> {
    length_data(be_u16)(i)
}

/// A vector with a 3-byte length prefix (TLS certificate lists, handshake message lengths).
pub fn vec24<'a, E: ParseError<&'a [u8]>>(i: &'a [u8]) -> IResult<&'a [u8], &'a [u8], E> {
    length_data(be_u24)(i)
}

/// The whole input as big-endian u16 values (a codepoint list), inline when there are at most
/// `N`; an odd byte count is malformed (`what`). Decoded in plain loops the compiler
/// vectorises: this runs for several lists of every hello.
pub fn u16_list<const N: usize>(
    i: &[u8],
    what: &'static str,
) -> Result<SmallVec<[u16; N]>, WireError> {
    if !i.len().is_multiple_of(2) {
        return Err(WireError::Malformed(what));
    }
    let decode = |c: &[u8]| u16::from_be_bytes([c[0], c[1]]);
    let len = i.len() / 2;
    if len > N {
        return Ok(SmallVec::from_vec(i.chunks_exact(2).map(decode).collect()));
    }
    let mut inline = [0u16; N];
    for (slot, c) in inline.iter_mut().zip(i.chunks_exact(2)) {
        *slot = decode(c);
    }
    Ok(SmallVec::from_buf_and_len(inline, len))
}

/// A QUIC variable-length integer (RFC 9000 §16): the two high bits of the first byte give
/// the length (1, 2, 4 or 8 bytes), the other 6, 14, 30 or 62 bits the value, big-endian.
pub fn varint<'a, E: ParseError<&'a [u8]>>(i: &'a [u8]) -> IResult<&'a [u8], u64, E> {
    let (_, first) = be_u8(i)?;
    let (rest, bytes) = take(1usize << (first >> 6))(i)?;
    let value = bytes[1..]
        .iter()
        .fold(u64::from(first & 0x3f), |v, &b| v << 8 | u64::from(b));
    Ok((rest, value))
}

/// Largest value a QUIC varint can hold (2^62 - 1).
pub const VARINT_MAX: u64 = (1 << 62) - 1;

/// Appends `value` (at most [`VARINT_MAX`]) as a QUIC varint in the shortest form, for tests
/// and corpus builders.
pub fn encode_varint(value: u64, out: &mut Vec<u8>) {
    match value {
        0..=0x3f => out.push(value as u8),
        0x40..=0x3fff => out.extend_from_slice(&(value as u16 | 0x4000).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(value as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&((value & VARINT_MAX) | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// A vector with a QUIC varint length prefix (tokens, transport parameters).
pub fn vec_varint<'a, E: ParseError<&'a [u8]>>(i: &'a [u8]) -> IResult<&'a [u8], &'a [u8], E> {
    let (rest, len) = varint(i)?;
    // A length beyond the address space is beyond the input: `take` fails cleanly.
    take(usize::try_from(len).unwrap_or(usize::MAX))(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    type R<'a, T> = WireResult<'a, T>;

    /// RFC 9000 Appendix A.1.
    #[test]
    fn varint_rfc9000_examples() {
        let cases: [(&[u8], u64); 5] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
            (&[0x40, 0x25], 37),
        ];
        for (bytes, value) in cases {
            let r: R<'_, u64> = varint(bytes);
            assert_eq!(r, Ok((&[][..], value)));
            for cut in 0..bytes.len() {
                let r: R<'_, u64> = varint(&bytes[..cut]);
                assert_eq!(r.map_err(WireError::of), Err(WireError::Truncated));
            }
        }
    }

    #[test]
    fn length_prefixed_vectors() {
        let data = [0, 0, 3, 1, 2, 3, 9];
        let r: R<'_, &[u8]> = vec24(&data);
        assert_eq!(r, Ok((&[9][..], &[1, 2, 3][..])));
        let r: R<'_, &[u8]> = vec16(&data[1..]);
        assert_eq!(r, Ok((&[9][..], &[1, 2, 3][..])));
        let r: R<'_, &[u8]> = vec8(&data[2..6]);
        assert_eq!(r, Ok((&[][..], &[1, 2, 3][..])));
        for cut in 0..6 {
            let r: R<'_, &[u8]> = vec24(&data[..cut]);
            assert_eq!(r.map_err(WireError::of), Err(WireError::Truncated));
        }
        let r: R<'_, &[u8]> = vec_varint(&[0x40, 2, 7, 8, 9]);
        assert_eq!(r, Ok((&[9][..], &[7, 8][..])));
        let huge = [0xff; 8];
        let r: R<'_, &[u8]> = vec_varint(&huge);
        assert_eq!(r.map_err(WireError::of), Err(WireError::Truncated));
    }

    #[test]
    fn fixed_layouts() {
        let data = [1, 2, 3];
        assert_eq!(u16_at(&data, 1), Some(0x0203));
        assert_eq!(u16_at(&data, 2), None);
        assert_eq!(u16_at(&data, usize::MAX), None);
    }

    #[test]
    fn codepoint_lists() {
        assert_eq!(
            u16_list::<4>(&[0x13, 0x01, 0, 0xff], "x").as_deref(),
            Ok(&[0x1301, 0xff][..])
        );
        assert_eq!(
            u16_list::<4>(&[1, 2, 3], "odd"),
            Err(WireError::Malformed("odd"))
        );
        assert_eq!(u16_list::<4>(&[], "x").as_deref(), Ok(&[][..]));
        // Beyond the inline capacity, on the heap, the same values.
        assert_eq!(
            u16_list::<1>(&[0x13, 0x01, 0, 0xff], "x").as_deref(),
            Ok(&[0x1301, 0xff][..])
        );
    }

    #[test]
    fn combinators_work_with_noms_default_error() {
        let r: IResult<&[u8], u64> = varint(&[0x7b, 0xbd]);
        assert_eq!(r, Ok((&[][..], 15_293)));
        let r: IResult<&[u8], &[u8]> = vec8(&[1]);
        assert!(r.is_err());
    }

    proptest::proptest! {
        /// Every value round-trips through the shortest encoding, and no input panics.
        #[test]
        fn varint_round_trips(value in 0..=VARINT_MAX, junk in proptest::collection::vec(0u8..=255, 0..12)) {
            let mut bytes = Vec::new();
            encode_varint(value, &mut bytes);
            let len = bytes.len();
            bytes.extend_from_slice(&junk);
            let r: R<'_, u64> = varint(&bytes);
            proptest::prop_assert_eq!(r, Ok((&bytes[len..], value)));
            let _: R<'_, u64> = varint(&junk);
            let _: R<'_, &[u8]> = vec_varint(&junk);
        }
    }
}
