//! QUIC variable-length integers (RFC 9000 §16), with nom's default error as every QUIC wire
//! parser here uses. Reading and encoding are the shared reading layer's ([`crate::wire`]);
//! these fix the error type so that call sites need no annotation.

use nom::IResult;

use crate::wire;
pub use crate::wire::{VARINT_MAX as MAX, encode_varint as encode};

/// Reads one varint.
pub fn varint(input: &[u8]) -> IResult<&[u8], u64> {
    wire::varint(input)
}

/// Reads a varint length and that many bytes after it.
pub fn length_prefixed(input: &[u8]) -> IResult<&[u8], &[u8]> {
    wire::vec_varint(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_is_an_error() {
        assert!(varint(&[]).is_err());
        assert!(varint(&[0x80, 0, 0]).is_err());
        assert!(length_prefixed(&[0x05, 1, 2]).is_err());
        assert!(length_prefixed(&[0xff; 8]).is_err());
    }
}
