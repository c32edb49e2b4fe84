//! QUIC versions: what each wire code means and, for the versions tlsight can read, the public
//! constants that protect their Initial packets.
//!
//! Readable versions (their Initial keys come from a published salt):
//! - QUIC v1 (RFC 9000/9001) and the IETF drafts 22–34 still seen from old stacks (the
//!   invariant header of RFC 8999 is the same since draft 22; salts and Retry integrity keys
//!   changed at drafts 23, 25, 29 and 33);
//! - QUIC v2 (RFC 9369): its own salt, `quicv2 ` labels, rotated long-header type bits and
//!   Retry key;
//! - Facebook's mvfst versions built on draft 22 and draft 27.
//!
//! Recognised but not read: Version Negotiation (version 0), Google QUIC (`Q0xx`, `T0xx`),
//! reserved versions that force negotiation (`0x?a?a?a?a`, RFC 9000 §15) and anything else.

use std::borrow::Cow;

use super::PacketType;

/// A QUIC version as on the wire. Open: unknown codes keep their value and get a hex name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QuicVersion(pub u32);

impl QuicVersion {
    /// Version 0: a Version Negotiation packet.
    pub const NEGOTIATION: QuicVersion = QuicVersion(0);
    /// QUIC version 1 (RFC 9000).
    pub const V1: QuicVersion = QuicVersion(0x0000_0001);
    /// QUIC version 2 (RFC 9369).
    pub const V2: QuicVersion = QuicVersion(0x6b33_43cf);
    /// IETF draft 29, the draft most deployed before v1.
    pub const DRAFT_29: QuicVersion = QuicVersion::draft(29);
    /// mvfst (Facebook) on draft 22.
    pub const MVFST_DRAFT_22: QuicVersion = QuicVersion(0xface_b001);
    /// mvfst (Facebook) on draft 27.
    pub const MVFST_DRAFT_27: QuicVersion = QuicVersion(0xface_b002);
    /// mvfst (Facebook) experimental version, draft 27 wire format.
    pub const MVFST_EXPERIMENTAL: QuicVersion = QuicVersion(0xface_b00e);

    /// The code of IETF draft `n` (`0xff0000nn`).
    pub const fn draft(n: u8) -> QuicVersion {
        QuicVersion(0xff00_0000 | n as u32)
    }

    /// The IETF draft number this version speaks, for drafts and the mvfst versions built on
    /// one.
    pub fn draft_number(self) -> Option<u8> {
        match self {
            QuicVersion::MVFST_DRAFT_22 => Some(22),
            QuicVersion::MVFST_DRAFT_27 | QuicVersion::MVFST_EXPERIMENTAL => Some(27),
            QuicVersion(v) if v >> 8 == 0x00ff_0000 => Some(v as u8),
            _ => None,
        }
    }

    /// What kind of version this is.
    pub fn kind(self) -> VersionKind {
        if self == QuicVersion::NEGOTIATION {
            VersionKind::Negotiation
        } else if let Some(params) = self.params() {
            VersionKind::Readable(params)
        } else if self.is_google() {
            VersionKind::Google
        } else if self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a {
            VersionKind::Reserved
        } else {
            VersionKind::Unknown
        }
    }

    /// The protection constants of a readable version.
    pub fn params(self) -> Option<&'static VersionParams> {
        match self {
            QuicVersion::V1 => Some(&V1),
            QuicVersion::V2 => Some(&V2),
            _ => match self.draft_number()? {
                22 => Some(&DRAFT_22),
                23..=24 => Some(&DRAFT_23),
                25..=28 => Some(&DRAFT_25),
                29..=32 => Some(&DRAFT_29),
                33..=34 => Some(&V1),
                _ => None,
            },
        }
    }

    /// Google QUIC: `Q` or `T` followed by three ASCII digits (`Q050`, `T051`).
    fn is_google(self) -> bool {
        let [tag, digits @ ..] = self.0.to_be_bytes();
        matches!(tag, b'Q' | b'T') && digits.iter().all(u8::is_ascii_digit)
    }

    /// A readable name: `v1`, `v2`, `draft-29`, `mvfst-draft-27`, `Q050`, `version_negotiation`,
    /// `reserved-0x1a2a3a4a`, else the hex code (`0x12345678`).
    pub fn name(self) -> Cow<'static, str> {
        match self {
            QuicVersion::NEGOTIATION => Cow::Borrowed("version_negotiation"),
            QuicVersion::V1 => Cow::Borrowed("v1"),
            QuicVersion::V2 => Cow::Borrowed("v2"),
            QuicVersion::MVFST_DRAFT_22 => Cow::Borrowed("mvfst-draft-22"),
            QuicVersion::MVFST_DRAFT_27 => Cow::Borrowed("mvfst-draft-27"),
            QuicVersion::MVFST_EXPERIMENTAL => Cow::Borrowed("mvfst-experimental"),
            _ => match self.kind() {
                VersionKind::Readable(_) | VersionKind::Unknown if self.0 >> 8 == 0x00ff_0000 => {
                    Cow::Owned(format!("draft-{}", self.0 as u8))
                }
                VersionKind::Google => {
                    Cow::Owned(self.0.to_be_bytes().iter().map(|&b| b as char).collect())
                }
                VersionKind::Reserved => Cow::Owned(format!("reserved-{:#010x}", self.0)),
                _ => Cow::Owned(format!("{:#010x}", self.0)),
            },
        }
    }
}

/// What a version code stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionKind {
    /// Version 0: Version Negotiation.
    Negotiation,
    /// A version whose Initial packets tlsight reads.
    Readable(&'static VersionParams),
    /// Google QUIC (`Q0xx`, `T0xx`): counted, not parsed.
    Google,
    /// A reserved version (`0x?a?a?a?a`) sent to make the peer negotiate.
    Reserved,
    /// Anything else.
    Unknown,
}

/// How a Retry packet proves it answers the client's Initial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryIntegrity {
    /// Drafts before 25: the Retry carries the client's original DCID in the clear.
    OriginalDcid,
    /// Draft 25 on: an AES-128-GCM tag over the packet and the original DCID, with a
    /// published key and nonce (RFC 9001 §5.8).
    Tag {
        /// The AES-128-GCM key.
        key: [u8; 16],
        /// The nonce.
        nonce: [u8; 12],
    },
}

/// The public constants of one readable version.
#[derive(Debug, PartialEq, Eq)]
pub struct VersionParams {
    /// Salt of HKDF-Extract for the Initial secret (RFC 9001 §5.2).
    pub salt: [u8; 20],
    /// HKDF-Expand-Label labels for the packet key, IV, header-protection key and key update.
    pub labels: Labels,
    /// Long-header packet type for each value of the two type bits.
    pub long_types: [PacketType; 4],
    /// How a Retry is authenticated.
    pub retry: RetryIntegrity,
}

/// The packet-protection labels of a version (without the `tls13 ` prefix, which
/// `hkdf_expand_label` adds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Packet key.
    pub key: &'static [u8],
    /// Packet IV.
    pub iv: &'static [u8],
    /// Header-protection key.
    pub hp: &'static [u8],
    /// Key update.
    pub ku: &'static [u8],
}

const V1_LABELS: Labels = Labels {
    key: b"quic key",
    iv: b"quic iv",
    hp: b"quic hp",
    ku: b"quic ku",
};

const V1_TYPES: [PacketType; 4] = [
    PacketType::Initial,
    PacketType::ZeroRtt,
    PacketType::Handshake,
    PacketType::Retry,
];

const SALT_DRAFT_22: [u8; 20] = hex20("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
const SALT_DRAFT_23: [u8; 20] = hex20("c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_DRAFT_29: [u8; 20] = hex20("afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_V1: [u8; 20] = hex20("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20("0dede3def700a6db819381be6e269dcbf9bd2ed9");

static DRAFT_22: VersionParams = VersionParams {
    salt: SALT_DRAFT_22,
    labels: V1_LABELS,
    long_types: V1_TYPES,
    retry: RetryIntegrity::OriginalDcid,
};

static DRAFT_23: VersionParams = VersionParams {
    salt: SALT_DRAFT_23,
    labels: V1_LABELS,
    long_types: V1_TYPES,
    retry: RetryIntegrity::OriginalDcid,
};

static DRAFT_25: VersionParams = VersionParams {
    salt: SALT_DRAFT_23,
    labels: V1_LABELS,
    long_types: V1_TYPES,
    retry: RetryIntegrity::Tag {
        key: hex16("4d32ecdb2a2133c841e4043df27d4430"),
        nonce: hex12("4d1611d05513a552c587d575"),
    },
};

static DRAFT_29: VersionParams = VersionParams {
    salt: SALT_DRAFT_29,
    labels: V1_LABELS,
    long_types: V1_TYPES,
    retry: RetryIntegrity::Tag {
        key: hex16("ccce187ed09a09d05728155a6cb96be1"),
        nonce: hex12("e54930f97f2136f0530a8c1c"),
    },
};

static V1: VersionParams = VersionParams {
    salt: SALT_V1,
    labels: V1_LABELS,
    long_types: V1_TYPES,
    retry: RetryIntegrity::Tag {
        key: hex16("be0c690b9f66575a1d766b54e368c84e"),
        nonce: hex12("461599d35d632bf2239825bb"),
    },
};

static V2: VersionParams = VersionParams {
    salt: SALT_V2,
    labels: Labels {
        key: b"quicv2 key",
        iv: b"quicv2 iv",
        hp: b"quicv2 hp",
        ku: b"quicv2 ku",
    },
    // RFC 9369 §3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00.
    long_types: [
        PacketType::Retry,
        PacketType::Initial,
        PacketType::ZeroRtt,
        PacketType::Handshake,
    ],
    retry: RetryIntegrity::Tag {
        key: hex16("8fb4b01b56ac48e260fbcbcead7ccc92"),
        nonce: hex12("d86969bc2d7c6d9990efb04a"),
    },
};

/// Decodes a hex constant at compile time (so the constants read as the RFCs print them).
const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 2 * N, "hex constant of the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

const fn hex20(s: &str) -> [u8; 20] {
    hex(s)
}

const fn hex16(s: &str) -> [u8; 16] {
    hex(s)
}

const fn hex12(s: &str) -> [u8; 12] {
    hex(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases = [
            (0, "version_negotiation"),
            (1, "v1"),
            (0x6b33_43cf, "v2"),
            (0xff00_001d, "draft-29"),
            (0xff00_0010, "draft-16"),
            (0xface_b002, "mvfst-draft-27"),
            (0x5130_3530, "Q050"),
            (0x5430_3531, "T051"),
            (0x1a2a_3a4a, "reserved-0x1a2a3a4a"),
            (0x1001_0000, "0x10010000"),
        ];
        for (code, name) in cases {
            assert_eq!(QuicVersion(code).name(), name, "{code:#x}");
        }
    }

    #[test]
    fn readable_versions_and_their_salts() {
        assert_eq!(QuicVersion::V1.params().map(|p| p.salt), Some(SALT_V1));
        assert_eq!(QuicVersion::draft(34).params(), QuicVersion::V1.params());
        assert_eq!(
            QuicVersion::DRAFT_29.params().map(|p| p.salt),
            Some(SALT_DRAFT_29)
        );
        assert_eq!(
            QuicVersion::draft(27).params().map(|p| p.salt),
            Some(SALT_DRAFT_23)
        );
        assert_eq!(
            QuicVersion::MVFST_DRAFT_27.params(),
            QuicVersion::draft(27).params()
        );
        assert_eq!(
            QuicVersion::MVFST_DRAFT_22.params().map(|p| p.salt),
            Some(SALT_DRAFT_22)
        );
        assert_eq!(
            QuicVersion::draft(24).params().map(|p| p.retry),
            Some(RetryIntegrity::OriginalDcid)
        );
        assert_eq!(QuicVersion::draft(21).params(), None);
        assert_eq!(QuicVersion::draft(35).params(), None);
        assert_eq!(QuicVersion::V2.params().map(|p| p.salt), Some(SALT_V2));
    }

    #[test]
    fn kinds() {
        assert_eq!(QuicVersion(0).kind(), VersionKind::Negotiation);
        assert_eq!(QuicVersion(0x5130_3433).kind(), VersionKind::Google);
        assert_eq!(QuicVersion(0xfafa_fafa).kind(), VersionKind::Reserved);
        assert_eq!(QuicVersion(0x1001_0000).kind(), VersionKind::Unknown);
        assert!(matches!(QuicVersion::V2.kind(), VersionKind::Readable(_)));
    }

    #[test]
    fn v2_rotates_the_long_header_types() {
        let v2 = QuicVersion::V2.params().expect("v2 is readable");
        assert_eq!(v2.long_types[1], PacketType::Initial);
        assert_eq!(v2.long_types[0], PacketType::Retry);
        let v1 = QuicVersion::V1.params().expect("v1 is readable");
        assert_eq!(v1.long_types[0], PacketType::Initial);
    }
}
