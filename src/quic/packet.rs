//! QUIC packets in a UDP datagram, read in two steps as quinn's `PartialDecode` does: first
//! the invariant header (RFC 8999: form, version, connection IDs) and, for readable versions,
//! the rest of the long header (token, length) — which needs no keys and tells where each
//! coalesced packet ends — then, given keys, [`unprotect`]: header protection removed, packet
//! number reconstructed (RFC 9000 A.3), AEAD opened.
//!
//! A datagram holds one or more packets ([`Packets`]): long-header packets carry their length,
//! so several may be coalesced (Initial + 0-RTT + Handshake); a short-header packet, a Retry, a
//! Version Negotiation packet or a long header of an unreadable version runs to the end of the
//! datagram. Bytes after the last packet that do not carry its connection ID are padding and
//! ignored.

use nom::IResult;
use nom::number::complete::{be_u8, be_u32};

use super::PacketType;
use super::protection::{OpenError, PacketKeys, SAMPLE_LEN, TAG_LEN};
use super::varint::{length_prefixed, varint};
use super::version::{QuicVersion, RetryIntegrity, VersionKind};
use crate::wire::vec8;

/// Longest connection ID of QUIC v1 and v2 (RFC 9000 §17.2); Version Negotiation packets may
/// carry longer ones (RFC 8999), which are kept as slices only.
pub const MAX_CID_LEN: usize = 20;

/// A connection ID, held inline (no allocation per connection).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectionId {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl ConnectionId {
    /// The ID of `bytes`, or `None` when longer than [`MAX_CID_LEN`].
    pub fn new(bytes: &[u8]) -> Option<ConnectionId> {
        let mut id = ConnectionId {
            len: u8::try_from(bytes.len()).ok()?,
            bytes: [0; MAX_CID_LEN],
        };
        id.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(id)
    }

    /// The ID's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Lowercase hex, as records print it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl std::fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionId({})", self.to_hex())
    }
}

/// Why the bytes at some point of a datagram are not a QUIC packet tlsight can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The datagram ends before a header field, or before the length the header states.
    #[error("QUIC packet truncated")]
    Truncated,
    /// A field has an impossible value.
    #[error("QUIC packet malformed: {0}")]
    Malformed(&'static str),
}

/// A long-header packet of a readable version, header parsed, payload still protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongPacket<'a> {
    /// Initial, 0-RTT or Handshake.
    pub ty: PacketType,
    /// The version field.
    pub version: QuicVersion,
    /// Destination Connection ID.
    pub dcid: &'a [u8],
    /// Source Connection ID.
    pub scid: &'a [u8],
    /// The token (Initial packets; empty otherwise).
    pub token: &'a [u8],
    /// Offset of the (protected) packet number in `bytes`.
    pub pn_offset: usize,
    /// The whole packet: header, packet number and payload with its tag.
    pub bytes: &'a [u8],
}

/// A Retry packet (RFC 9000 §17.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPacket<'a> {
    /// The version field.
    pub version: QuicVersion,
    /// Destination Connection ID (the client's SCID).
    pub dcid: &'a [u8],
    /// Source Connection ID: the DCID the client must use next, which also keys its next
    /// Initial packets.
    pub scid: &'a [u8],
    /// The token the client must echo.
    pub token: &'a [u8],
    /// The whole packet, for the integrity check.
    pub bytes: &'a [u8],
}

/// A Version Negotiation packet (RFC 9000 §17.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionNegotiation<'a> {
    /// Destination Connection ID (the client's SCID).
    pub dcid: &'a [u8],
    /// Source Connection ID (the client's DCID).
    pub scid: &'a [u8],
    /// The supported versions, four bytes each.
    versions: &'a [u8],
}

impl<'a> VersionNegotiation<'a> {
    /// The versions the server offers, in wire order.
    pub fn versions(&self) -> impl Iterator<Item = QuicVersion> + 'a {
        self.versions
            .chunks_exact(4)
            .map(|v| QuicVersion(u32::from_be_bytes([v[0], v[1], v[2], v[3]])))
    }
}

/// One packet of a datagram, as far as it can be read without keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Initial, 0-RTT or Handshake packet of a readable version.
    Long(LongPacket<'a>),
    /// A Retry.
    Retry(RetryPacket<'a>),
    /// A Version Negotiation packet.
    VersionNegotiation(VersionNegotiation<'a>),
    /// A long header of a version tlsight cannot read (Google QUIC, reserved, unknown), or
    /// a Google QUIC packet with the legacy public header (Q043 and before).
    Unreadable {
        /// The version field.
        version: QuicVersion,
        /// The rest of the datagram.
        bytes: &'a [u8],
    },
    /// A short-header packet (1-RTT, or a stateless reset, which looks the same): its
    /// Destination Connection ID has no length field, so it runs to the end of the datagram.
    Short {
        /// The rest of the datagram.
        bytes: &'a [u8],
    },
}

impl Packet<'_> {
    /// Its type, for counting.
    pub fn ty(&self) -> PacketType {
        match self {
            Packet::Long(p) => p.ty,
            Packet::Retry(_) => PacketType::Retry,
            Packet::VersionNegotiation(_) => PacketType::VersionNegotiation,
            Packet::Unreadable { .. } => PacketType::Unreadable,
            Packet::Short { .. } => PacketType::OneRtt,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Packet::Long(p) => p.bytes.len(),
            Packet::Retry(p) => p.bytes.len(),
            Packet::VersionNegotiation(p) => 7 + p.dcid.len() + p.scid.len() + p.versions.len(),
            Packet::Unreadable { bytes, .. } | Packet::Short { bytes } => bytes.len(),
        }
    }

    /// Whether it has no bytes (never: every packet has at least its first byte).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The packets of one datagram, in order; stops after the first error.
///
/// After the first packet, what follows counts as a coalesced packet only if it carries the
/// first packet's Destination Connection ID (and, for a long header, its version); anything
/// else is padding (RFC 9000 §12.2: receivers ignore packets with another DCID). Chrome, for
/// one, pads Initial datagrams with random bytes after the last packet.
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    rest: &'a [u8],
    /// DCID and version of the first packet, once read.
    first: Option<(&'a [u8], QuicVersion)>,
    started: bool,
}

/// Walks the packets coalesced in `datagram`.
pub fn packets(datagram: &[u8]) -> Packets<'_> {
    Packets {
        rest: datagram,
        first: None,
        started: false,
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = parse_packet(self.rest);
        if !std::mem::replace(&mut self.started, true) {
            return match parsed {
                Ok((packet, len)) => {
                    if let Packet::Long(p) = packet {
                        self.first = Some((p.dcid, p.version));
                    }
                    self.rest = self.rest.get(len..).unwrap_or_default();
                    Some(Ok(packet))
                }
                Err(e) => {
                    self.rest = &[];
                    Some(Err(e))
                }
            };
        }
        // Only a long first packet can be followed by another.
        let (dcid, version) = self.first?;
        let coalesced = match parsed {
            Ok((Packet::Long(p), len)) if p.dcid == dcid && p.version == version => {
                Some((Packet::Long(p), len))
            }
            Ok((Packet::Short { bytes }, len)) if bytes.get(1..1 + dcid.len()) == Some(dcid) => {
                Some((Packet::Short { bytes }, len))
            }
            _ => None,
        };
        let (packet, len) = coalesced?;
        self.rest = self.rest.get(len..).unwrap_or_default();
        Some(Ok(packet))
    }
}

/// Header form bit: long header.
const LONG_FORM: u8 = 0x80;

/// Maps nom's failure to a truncation (the only way these parsers fail).
fn truncated<T>(r: IResult<&[u8], T>) -> Result<(&[u8], T), PacketError> {
    r.map_err(|_| PacketError::Truncated)
}

/// Parses the packet at the start of `bytes`; returns it and its length.
fn parse_packet(bytes: &[u8]) -> Result<(Packet<'_>, usize), PacketError> {
    let first = *bytes.first().ok_or(PacketError::Truncated)?;
    if first & LONG_FORM == 0 {
        if let Some(version) = legacy_google_version(bytes) {
            return Ok((Packet::Unreadable { version, bytes }, bytes.len()));
        }
        // The fixed bit is not checked: peers that negotiated grease_quic_bit (RFC 9287; quinn
        // does) clear it at random in 1-RTT packets.
        return Ok((Packet::Short { bytes }, bytes.len()));
    }
    let (rest, _) = truncated(be_u8(bytes))?;
    let (rest, version) = truncated(be_u32(rest))?;
    let version = QuicVersion(version);
    let (rest, dcid) = truncated(vec8(rest))?;
    let (rest, scid) = truncated(vec8(rest))?;
    if version == QuicVersion::NEGOTIATION {
        if rest.is_empty() || rest.len() % 4 != 0 {
            return Err(PacketError::Malformed(
                "version list not a multiple of 4 bytes",
            ));
        }
        let vn = VersionNegotiation {
            dcid,
            scid,
            versions: rest,
        };
        return Ok((Packet::VersionNegotiation(vn), bytes.len()));
    }
    let VersionKind::Readable(params) = version.kind() else {
        return Ok((Packet::Unreadable { version, bytes }, bytes.len()));
    };
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(PacketError::Malformed("connection ID longer than 20 bytes"));
    }
    let ty = params.long_types[usize::from(first >> 4 & 0x03)];
    if ty == PacketType::Retry {
        let token = match params.retry {
            RetryIntegrity::Tag { .. } => rest
                .len()
                .checked_sub(TAG_LEN)
                .and_then(|n| rest.get(..n))
                .ok_or(PacketError::Truncated)?,
            RetryIntegrity::OriginalDcid => truncated(vec8(rest))?.0,
        };
        let retry = RetryPacket {
            version,
            dcid,
            scid,
            token,
            bytes,
        };
        return Ok((Packet::Retry(retry), bytes.len()));
    }
    let (rest, token) = if ty == PacketType::Initial {
        truncated(length_prefixed(rest))?
    } else {
        (rest, &[][..])
    };
    let (rest, length) = truncated(varint(rest))?;
    let pn_offset = bytes.len() - rest.len();
    let end = usize::try_from(length)
        .ok()
        .and_then(|length| pn_offset.checked_add(length))
        .filter(|&end| end <= bytes.len())
        .ok_or(PacketError::Truncated)?;
    let long = LongPacket {
        ty,
        version,
        dcid,
        scid,
        token,
        pn_offset,
        bytes: bytes.get(..end).ok_or(PacketError::Truncated)?,
    };
    Ok((Packet::Long(long), end))
}

/// Google QUIC's legacy public header (Q043 and before): flags with the version bit (0x01) and
/// an 8-byte connection ID (0x08), then the version as ASCII `Q0xx`.
fn legacy_google_version(bytes: &[u8]) -> Option<QuicVersion> {
    let flags = *bytes.first()?;
    if flags & 0x09 != 0x09 || flags & 0x80 != 0 {
        return None;
    }
    let v = bytes.get(9..13)?;
    let version = QuicVersion(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    (version.kind() == VersionKind::Google).then_some(version)
}

/// A packet with its protection removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened<'b> {
    /// The full packet number.
    pub packet_number: u64,
    /// The reserved bits of the first byte (must be zero: RFC 9000 §17.2).
    pub reserved_bits: u8,
    /// The plaintext frames.
    pub payload: &'b [u8],
}

/// Removes the protection of a packet: `packet` is the whole packet (long or short header),
/// `pn_offset` where its packet number starts, `largest` the largest packet number opened
/// so far in its space. The packet is copied into `scratch`, which holds the plaintext after.
pub fn unprotect<'b>(
    packet: &[u8],
    pn_offset: usize,
    keys: &PacketKeys,
    largest: Option<u64>,
    scratch: &'b mut Vec<u8>,
) -> Result<Opened<'b>, OpenError> {
    scratch.clear();
    scratch.extend_from_slice(packet);
    let sample_at = pn_offset + 4;
    let sample: &[u8; SAMPLE_LEN] = scratch
        .get(sample_at..sample_at + SAMPLE_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(OpenError::TooShort)?;
    let mask = keys.header_mask(sample);
    let long = packet.first().is_some_and(|b| b & LONG_FORM != 0);
    let (first_mask, reserved_mask) = if long { (0x0f, 0x0c) } else { (0x1f, 0x18) };
    let first = scratch.first_mut().ok_or(OpenError::TooShort)?;
    *first ^= mask[0] & first_mask;
    let (first, pn_len) = (*first, usize::from(*first & 0x03) + 1);
    let pn_bytes = scratch
        .get_mut(pn_offset..pn_offset + pn_len)
        .ok_or(OpenError::TooShort)?;
    let mut truncated = 0u64;
    for (b, m) in pn_bytes.iter_mut().zip(&mask[1..]) {
        *b ^= m;
        truncated = truncated << 8 | u64::from(*b);
    }
    let packet_number = decode_packet_number(largest, truncated, 8 * pn_len as u32);
    let (header, payload) = scratch.split_at_mut(pn_offset + pn_len);
    if payload.len() < TAG_LEN {
        return Err(OpenError::TooShort);
    }
    let len = keys.open_in_place(packet_number, header, payload)?;
    Ok(Opened {
        packet_number,
        reserved_bits: first & reserved_mask,
        payload: &scratch[pn_offset + pn_len..][..len],
    })
}

/// Protects a packet (the opposite of [`unprotect`]), for test packets and the benchmark
/// corpus: `header` is the unprotected header through the packet number (whose length is in
/// the low bits of its first byte, and whose Length field, in a long header, must already
/// count the payload and tag), `payload` the plaintext frames.
pub fn protect(header: &[u8], packet_number: u64, payload: &[u8], keys: &PacketKeys) -> Vec<u8> {
    let Some(&first) = header.first() else {
        return Vec::new();
    };
    let pn_len = usize::from(first & 0x03) + 1;
    let pn_offset = header.len().saturating_sub(pn_len);
    let mut sealed = payload.to_vec();
    keys.seal(packet_number, header, &mut sealed);
    let mut packet = header.to_vec();
    packet.extend_from_slice(&sealed);
    let sample: Option<[u8; SAMPLE_LEN]> = packet
        .get(pn_offset + 4..pn_offset + 4 + SAMPLE_LEN)
        .and_then(|s| s.try_into().ok());
    if let Some(sample) = sample {
        let mask = keys.header_mask(&sample);
        packet[0] ^= mask[0] & if first & LONG_FORM != 0 { 0x0f } else { 0x1f };
        for (b, m) in packet[pn_offset..pn_offset + pn_len]
            .iter_mut()
            .zip(&mask[1..])
        {
            *b ^= m;
        }
    }
    packet
}

/// The full packet number closest to the next expected one (RFC 9000 Appendix A.3).
pub fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let window = 1u64 << bits;
    let half = window / 2;
    let candidate = (expected & !(window - 1)) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1 << 62) - window {
        candidate + window
    } else if candidate > expected.saturating_add(half) && candidate >= window {
        candidate - window
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests;
