//! The DTLS record layer: the records packed into one UDP datagram.
//!
//! Three header shapes (RFC 6347 §4.1, RFC 9146 §4, RFC 9147 §4):
//!
//! * **Classic** (DTLS 1.0 and 1.2, and DTLS 1.3's plaintext records for the hellos): 13 bytes,
//!   `type, version, epoch (16), sequence_number (48), length`. Read with `tls-parser`'s
//!   [`parse_dtls_record_header`](tls_parser::parse_dtls_record_header).
//! * **tls12_cid** (content type 25, RFC 9146): the classic header with the receiver's
//!   connection ID between the sequence number and the length. `tls-parser` does not know it
//!   (it would read the connection ID as the length), so it is read here with `nom`.
//! * **Unified** (DTLS 1.3 protected records, first byte `001CSLEE`): a connection ID when `C`
//!   is set, an 8- or 16-bit (encrypted) sequence number (`S`), a length when `L` is set (else
//!   the record runs to the end of the datagram), and the low two bits of the epoch (`EE`).
//!   `tls-parser` has no parser for it.
//!
//! Connection IDs have no length on the wire: it is the length the *receiver* asked for in its
//! hello, which the caller passes in. A DTLS 1.3 server's connection ID travels in its encrypted
//! EncryptedExtensions, so a passive observer may not know it; for a record with a length
//! field the only connection-ID length (up to 20 bytes) that makes the record end exactly at
//! the end of the datagram is taken, when there is exactly one.

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32};

use crate::tls::codes::{ContentType, ProtocolVersion};
use crate::tls::record::deframer::MAX_RECORD_LEN;

/// The pre-RFC DTLS 1.0 of OpenSSL before 0.9.8m (`DTLS1_BAD_VER`), still spoken by Cisco
/// AnyConnect and OpenConnect VPN gateways.
pub const DTLS1_0_PRE_RFC: ProtocolVersion = ProtocolVersion(0x0100);

/// Whether `version` is a DTLS record or hello version tlsight knows (DTLS 1.3's records still
/// carry 0xfefd; its hellos name 0xfefc in supported_versions).
pub fn is_known_version(version: u16) -> bool {
    let version = ProtocolVersion(version);
    version.is_dtls() || version == DTLS1_0_PRE_RFC
}

/// Content type of a DTLS 1.3 ACK record (RFC 9147 §7), the highest DTLS defines.
pub const CONTENT_ACK: u8 = 26;

/// Length of a classic record header.
pub const CLASSIC_HEADER_LEN: usize = 13;

/// Unified-header flag bits (RFC 9147 §4).
mod unified {
    /// The first three bits of a unified header are `001`.
    pub const FIXED_MASK: u8 = 0xe0;
    pub const FIXED: u8 = 0x20;
    /// A connection ID is present.
    pub const CID: u8 = 0x10;
    /// The sequence number is 16 bits (else 8).
    pub const SEQ16: u8 = 0x08;
    /// A length field is present.
    pub const LENGTH: u8 = 0x04;
    /// The low two bits of the epoch.
    pub const EPOCH: u8 = 0x03;
}

/// A record header, as far as it can be read without keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header<'a> {
    /// A 13-byte header (DTLS 1.0/1.2 records, DTLS 1.3 plaintext records), or a tls12_cid
    /// header with its connection ID.
    Classic {
        /// Content type (25 for tls12_cid).
        content_type: u8,
        /// Record-layer version.
        version: u16,
        /// Epoch: 0 until the sender's ChangeCipherSpec (DTLS ≤ 1.2).
        epoch: u16,
        /// 48-bit record sequence number.
        seq: u64,
        /// The receiver's connection ID (tls12_cid records only; empty otherwise).
        cid: &'a [u8],
    },
    /// A DTLS 1.3 unified header (protected record).
    Unified {
        /// The low two bits of the epoch: 1 early data, 2 handshake, 3 (and 0, after key
        /// updates) application data.
        epoch_bits: u8,
        /// The receiver's connection ID (empty when absent).
        cid: &'a [u8],
    },
}

/// One record of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its header.
    pub header: Header<'a>,
    /// Its body (ciphertext for protected records).
    pub body: &'a [u8],
}

/// Why the rest of a datagram could not be read as records. The records before it stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The datagram ended inside a record header.
    #[error("DTLS record header truncated")]
    Truncated,
    /// The length field reaches past the end of the datagram (records never span datagrams).
    #[error("DTLS record length beyond the datagram")]
    BeyondDatagram,
    /// The length field is above the DTLS maximum.
    #[error("DTLS record length above the maximum")]
    TooLong,
    /// The first byte is neither a content type nor a unified header.
    #[error("not a DTLS record header")]
    NotARecord,
    /// A connection ID is present but its length is not known and cannot be inferred.
    #[error("DTLS connection ID of unknown length")]
    UnknownConnectionIdLength,
}

/// The records of one datagram, in order. After an error the iteration ends: a bad header
/// leaves no way to find the next one.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
    cid_len: Option<usize>,
}

/// Iterates over the records of `datagram`; `cid_len` is the length of the connection ID its
/// receiver asked for, when known (`Some(0)` when it asked for none).
pub fn records(datagram: &[u8], cid_len: Option<usize>) -> Records<'_> {
    Records {
        rest: datagram,
        cid_len,
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = *self.rest.first()?;
        let parsed = if first & unified::FIXED_MASK == unified::FIXED {
            unified_record(self.rest, self.cid_len)
        } else if first == ContentType::TLS12_CID.0 {
            cid_record(self.rest, self.cid_len)
        } else if (ContentType::CHANGE_CIPHER_SPEC.0..=CONTENT_ACK).contains(&first) {
            classic_record(self.rest)
        } else {
            Err(RecordError::NotARecord)
        };
        match parsed {
            Ok((rest, record)) => {
                self.rest = rest;
                Some(Ok(record))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The body of `len` bytes after a header, checked against the datagram and the maximum.
fn body(input: &[u8], len: usize) -> Result<(&[u8], &[u8]), RecordError> {
    if len > usize::from(MAX_RECORD_LEN) {
        return Err(RecordError::TooLong);
    }
    let result: IResult<&[u8], &[u8]> = take(len)(input);
    result.map_err(|_| RecordError::BeyondDatagram)
}

/// A classic 13-byte-header record, read with tls-parser.
fn classic_record(input: &[u8]) -> Result<(&[u8], Record<'_>), RecordError> {
    let (rest, h) =
        tls_parser::parse_dtls_record_header(input).map_err(|_| RecordError::Truncated)?;
    let (rest, body) = body(rest, usize::from(h.length))?;
    let header = Header::Classic {
        content_type: h.content_type.0,
        version: h.version.0,
        epoch: h.epoch,
        seq: h.sequence_number,
        cid: &[],
    };
    Ok((rest, Record { header, body }))
}

/// The fixed part of a tls12_cid header before the connection ID.
fn cid_prefix(input: &[u8]) -> IResult<&[u8], (u8, u16, u16, u64)> {
    let (input, content_type) = be_u8(input)?;
    let (input, version) = be_u16(input)?;
    let (input, epoch) = be_u16(input)?;
    let (input, seq_hi) = be_u16(input)?;
    let (input, seq_lo) = be_u32(input)?;
    let seq = u64::from(seq_hi) << 32 | u64::from(seq_lo);
    Ok((input, (content_type, version, epoch, seq)))
}

/// A tls12_cid record (RFC 9146 §4).
fn cid_record(input: &[u8], cid_len: Option<usize>) -> Result<(&[u8], Record<'_>), RecordError> {
    let truncated = |_| RecordError::Truncated;
    let (input, (content_type, version, epoch, seq)) = cid_prefix(input).map_err(truncated)?;
    let cid_len = match cid_len {
        Some(n) => n,
        None => infer_cid_len(input, 0, true).ok_or(RecordError::UnknownConnectionIdLength)?,
    };
    let (input, cid) = take::<_, _, nom::error::Error<&[u8]>>(cid_len)(input).map_err(truncated)?;
    let (input, len) = be_u16::<_, nom::error::Error<&[u8]>>(input).map_err(truncated)?;
    let (rest, body) = body(input, usize::from(len))?;
    let header = Header::Classic {
        content_type,
        version,
        epoch,
        seq,
        cid,
    };
    Ok((rest, Record { header, body }))
}

/// A DTLS 1.3 unified-header record (RFC 9147 §4).
fn unified_record(
    input: &[u8],
    cid_len: Option<usize>,
) -> Result<(&[u8], Record<'_>), RecordError> {
    let truncated = |_| RecordError::Truncated;
    let (input, flags) = be_u8::<_, nom::error::Error<&[u8]>>(input).map_err(truncated)?;
    let seq_len = if flags & unified::SEQ16 != 0 { 2 } else { 1 };
    let has_length = flags & unified::LENGTH != 0;
    let cid_len = match (flags & unified::CID != 0, cid_len) {
        (false, _) => 0,
        (true, Some(n)) => n,
        (true, None) => infer_cid_len(input, seq_len, has_length)
            .ok_or(RecordError::UnknownConnectionIdLength)?,
    };
    let (input, cid) = take::<_, _, nom::error::Error<&[u8]>>(cid_len)(input).map_err(truncated)?;
    let (input, _seq) =
        take::<_, _, nom::error::Error<&[u8]>>(seq_len)(input).map_err(truncated)?;
    let (rest, body) = if has_length {
        let (input, len) = be_u16::<_, nom::error::Error<&[u8]>>(input).map_err(truncated)?;
        body(input, usize::from(len))?
    } else {
        (&input[input.len()..], input)
    };
    let header = Header::Unified {
        epoch_bits: flags & unified::EPOCH,
        cid,
    };
    Ok((rest, Record { header, body }))
}

/// Longest connection ID guessed when its length is not known. RFC 9146 allows 255 bytes, but
/// real stacks use at most 20 (as QUIC does), and the longer the guess the likelier a false fit.
const MAX_INFERRED_CID: usize = 20;

/// The one connection-ID length (up to [`MAX_INFERRED_CID`]) that makes a record with a length
/// field end exactly at the end of the datagram, if exactly one does. `input` starts where the connection ID would;
/// `between` bytes (the sequence number of a unified header) separate it from the length.
fn infer_cid_len(input: &[u8], between: usize, has_length: bool) -> Option<usize> {
    if !has_length {
        return None;
    }
    let fits = |n: usize| {
        let at = n + between;
        match input.get(at..at + 2) {
            Some(&[hi, lo]) => at + 2 + usize::from(u16::from_be_bytes([hi, lo])) == input.len(),
            _ => false,
        }
    };
    let mut candidates = (0..=MAX_INFERRED_CID).filter(|&n| fits(n));
    let first = candidates.next()?;
    candidates.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::test_wire::record as classic;

    #[test]
    fn several_classic_records_in_one_datagram() {
        let mut d = classic(22, ProtocolVersion::DTLS12.0, 0, 5, b"hello");
        d.extend(classic(20, ProtocolVersion::DTLS12.0, 0, 6, &[1]));
        d.extend(classic(
            22,
            ProtocolVersion::DTLS12.0,
            1,
            0x0000_1234_5678,
            b"finished-ciphertext",
        ));
        let got: Vec<_> = records(&d, Some(0)).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Ok(Record {
                header: Header::Classic {
                    content_type: 22,
                    version: ProtocolVersion::DTLS12.0,
                    epoch: 0,
                    seq: 5,
                    cid: &[]
                },
                body: b"hello"
            })
        );
        let Ok(Record {
            header: Header::Classic { epoch, seq, .. },
            body,
        }) = got[2]
        else {
            panic!("{:?}", got[2]);
        };
        assert_eq!(
            (epoch, seq, body),
            (1, 0x1234_5678, &b"finished-ciphertext"[..])
        );
    }

    #[test]
    fn bad_headers_end_the_datagram_with_an_error() {
        let good = classic(22, ProtocolVersion::DTLS10.0, 0, 0, b"x");
        // Truncated header after a good record.
        let mut d = good.clone();
        d.extend_from_slice(&[22, 0xfe, 0xff, 0, 0]);
        let got: Vec<_> = records(&d, None).collect();
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(RecordError::Truncated));
        assert_eq!(got.len(), 2);
        // Length beyond the datagram.
        let mut d = classic(22, ProtocolVersion::DTLS10.0, 0, 0, b"xyz");
        d.truncate(d.len() - 1);
        assert_eq!(
            records(&d, None).next(),
            Some(Err(RecordError::BeyondDatagram))
        );
        // A first byte that is no record.
        assert_eq!(
            records(&[0x80, 1, 2], None).next(),
            Some(Err(RecordError::NotARecord))
        );
        // Longer than any record may be.
        let mut d = classic(23, ProtocolVersion::DTLS12.0, 1, 0, &[]);
        d[11..13].copy_from_slice(&(MAX_RECORD_LEN + 1).to_be_bytes());
        d.resize(13 + usize::from(MAX_RECORD_LEN) + 1, 0);
        assert_eq!(records(&d, None).next(), Some(Err(RecordError::TooLong)));
        assert_eq!(records(&[], None).next(), None);
    }

    /// A tls12_cid record with a 4-byte connection ID.
    fn cid_record_bytes(cid: &[u8], body: &[u8]) -> Vec<u8> {
        let mut r = vec![ContentType::TLS12_CID.0, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7];
        r.extend_from_slice(cid);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn tls12_cid_record_with_known_and_inferred_length() {
        let d = cid_record_bytes(&[0xaa, 0xbb, 0xcc, 0xdd], b"ciphertext");
        for known in [Some(4), None] {
            let got = records(&d, known).next().unwrap().unwrap();
            assert_eq!(
                got.header,
                Header::Classic {
                    content_type: ContentType::TLS12_CID.0,
                    version: ProtocolVersion::DTLS12.0,
                    epoch: 1,
                    seq: 7,
                    cid: &[0xaa, 0xbb, 0xcc, 0xdd]
                }
            );
            assert_eq!(got.body, b"ciphertext");
        }
        // Two records back to back: the inference (one record to the end) cannot work.
        let mut two = d.clone();
        two.extend(&d);
        assert_eq!(
            records(&two, None).next(),
            Some(Err(RecordError::UnknownConnectionIdLength))
        );
        assert_eq!(records(&two, Some(4)).count(), 2);
    }

    #[test]
    fn unified_headers() {
        // C=1 S=1 L=1 epoch 2, CID 0x0102, seq 0xbeef, length 3.
        let d = [0x20 | 0x1f, 1, 2, 0xbe, 0xef, 0, 3, 9, 9, 9];
        let got = records(&d, Some(2)).next().unwrap().unwrap();
        assert_eq!(
            got,
            Record {
                header: Header::Unified {
                    epoch_bits: 3,
                    cid: &[1, 2]
                },
                body: &[9, 9, 9]
            }
        );
        // Inferred CID length when the receiver's is not known.
        assert_eq!(records(&d, None).next(), Some(Ok(got)));
        // No CID, 8-bit seq, no length: the record runs to the end of the datagram.
        let d = [0x22, 0x05, 1, 2, 3, 4];
        let got = records(&d, None).next().unwrap().unwrap();
        assert_eq!(
            got,
            Record {
                header: Header::Unified {
                    epoch_bits: 2,
                    cid: &[]
                },
                body: &[1, 2, 3, 4]
            }
        );
        // C bit, no length, unknown CID length: nothing to infer from.
        assert_eq!(
            records(&[0x32, 0, 1, 2], None).next(),
            Some(Err(RecordError::UnknownConnectionIdLength))
        );
        // Truncated before the length field.
        assert_eq!(
            records(&[0x2e, 1, 2], Some(0)).next(),
            Some(Err(RecordError::Truncated))
        );
    }

    #[test]
    fn versions() {
        for v in [0xfeff, 0xfefd, 0xfefc, 0x0100] {
            assert!(is_known_version(v));
        }
        assert!(!is_known_version(0x0303));
    }

    proptest::proptest! {
        /// Any bytes: records never panic, and every body lies inside the datagram.
        #[test]
        fn arbitrary_datagrams(bytes in proptest::collection::vec(0u8..=255, 0..200), cid in proptest::option::of(0usize..8)) {
            let mut total = 0;
            for r in records(&bytes, cid) {
                let Ok(r) = r else { break };
                total += r.body.len();
                proptest::prop_assert!(total <= bytes.len());
            }
        }
    }
}
