//! QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the
//! length (1, 2, 4 or 8 bytes), the rest is the value, big-endian. A `nom` parser, like every
//! QUIC wire parser here.

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::be_u8;

/// Largest value a varint can hold (2^62 - 1).
pub const MAX: u64 = (1 << 62) - 1;

/// Reads one varint.
pub fn varint(input: &[u8]) -> IResult<&[u8], u64> {
    let (rest, first) = be_u8(input)?;
    let (rest, tail) = take((1usize << (first >> 6)) - 1)(rest)?;
    let value = tail
        .iter()
        .fold(u64::from(first & 0x3f), |v, &b| v << 8 | u64::from(b));
    Ok((rest, value))
}

/// Reads a varint length and that many bytes after it.
pub fn length_prefixed(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, len) = varint(input)?;
    // A length beyond the input cannot be taken; `usize::MAX` makes `take` fail cleanly.
    take(usize::try_from(len).unwrap_or(usize::MAX))(rest)
}

/// Encodes `value` (at most [`MAX`]) in the shortest form, for tests and corpus builders.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    match value {
        0..=0x3f => out.push(value as u8),
        0x40..=0x3fff => out.extend_from_slice(&(value as u16 | 0x4000).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(value as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&((value & MAX) | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9000 Appendix A.1 examples.
    #[test]
    fn rfc9000_examples() {
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
            assert_eq!(varint(bytes), Ok((&[][..], value)));
        }
    }

    #[test]
    fn truncated_is_an_error() {
        assert!(varint(&[]).is_err());
        assert!(varint(&[0x80, 0, 0]).is_err());
        assert!(length_prefixed(&[0x05, 1, 2]).is_err());
        assert!(length_prefixed(&[0xff; 8]).is_err());
    }

    proptest! {
        #[test]
        fn encode_then_read_round_trips(value in 0..=MAX, tail in prop::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = Vec::new();
            encode(value, &mut bytes);
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(varint(&bytes), Ok((&tail[..], value)));
        }
    }
}
