//! One line of the NSS key log format: `LABEL <client random hex> <secret hex>`.
//!
//! The format is what NSS, OpenSSL, BoringSSL, GnuTLS, Go, rustls and browsers write to
//! `SSLKEYLOGFILE`, and what Wireshark stores in a Decryption Secrets Block. Lines starting with
//! `#` are comments; blank lines and a trailing `\r` are ignored. Some QUIC stacks write the
//! TLS 1.3 labels with a `QUIC_` prefix: those secrets are the same traffic secrets (the QUIC
//! stack derives `quic key` / `quic iv` / `quic hp` from them), so they are read as the same kinds.

use super::ClientRandom;

/// The secrets a key log line can carry that decryption uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKind {
    /// `CLIENT_RANDOM`: the TLS ≤ 1.2 master secret (48 bytes).
    MasterSecret,
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3 0-RTT; ends with EndOfEarlyData).
    ClientEarlyTraffic,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    ClientHandshakeTraffic,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    ServerHandshakeTraffic,
    /// `CLIENT_TRAFFIC_SECRET_0`: the client's first application traffic secret.
    ClientTraffic0,
    /// `SERVER_TRAFFIC_SECRET_0`: the server's first application traffic secret.
    ServerTraffic0,
}

impl SecretKind {
    /// Every kind, in slot order.
    pub const ALL: [SecretKind; 6] = [
        SecretKind::MasterSecret,
        SecretKind::ClientEarlyTraffic,
        SecretKind::ClientHandshakeTraffic,
        SecretKind::ServerHandshakeTraffic,
        SecretKind::ClientTraffic0,
        SecretKind::ServerTraffic0,
    ];

    /// The key log label (without a `QUIC_` prefix), as the summary names a missing secret.
    pub fn label(self) -> &'static str {
        match self {
            SecretKind::MasterSecret => "CLIENT_RANDOM",
            SecretKind::ClientEarlyTraffic => "CLIENT_EARLY_TRAFFIC_SECRET",
            SecretKind::ClientHandshakeTraffic => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            SecretKind::ServerHandshakeTraffic => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            SecretKind::ClientTraffic0 => "CLIENT_TRAFFIC_SECRET_0",
            SecretKind::ServerTraffic0 => "SERVER_TRAFFIC_SECRET_0",
        }
    }

    /// Position of this kind in a connection's slot mask.
    pub(crate) fn slot(self) -> u8 {
        self as u8
    }

    /// Whether a secret of `len` bytes is well-formed for this kind: a 48-byte master secret;
    /// a TLS 1.3 secret as long as its suite's hash (SHA-256 or SHA-384).
    fn accepts_len(self, len: usize) -> bool {
        match self {
            SecretKind::MasterSecret => len == 48,
            _ => len == 32 || len == 48,
        }
    }
}

/// What a line that is not a comment or blank says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A secret decryption uses.
    Secret {
        /// Which one.
        kind: SecretKind,
        /// The connection's client random.
        client_random: ClientRandom,
        /// The secret's bytes (hex-decoded), at most 48.
        secret: SecretBytes,
    },
    /// A well-formed line with a label decryption does not need (`EXPORTER_SECRET`,
    /// `EARLY_EXPORTER_SECRET`, `RSA`, `ECH_SECRET`, ...): counted, not kept.
    Unused {
        /// The label as written.
        label: &'a str,
    },
    /// A comment or a blank line.
    Nothing,
}

/// A secret's bytes, inline (at most 48: the longest hash output a suite uses).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretBytes {
    len: u8,
    bytes: [u8; 48],
}

impl SecretBytes {
    /// The secret.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for SecretBytes {
    /// Only the length: secrets are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.len)
    }
}

/// Why a line was not understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Fewer than three space-separated fields.
    #[error("expected `LABEL CLIENT_RANDOM SECRET`")]
    MissingField,
    /// More than three fields.
    #[error("unexpected text after the secret")]
    ExtraField,
    /// The client random is not 64 hex digits.
    #[error("client random is not 32 bytes of hex")]
    BadClientRandom,
    /// The secret is not hex, or not of a length its label allows.
    #[error("{label} secret is not {expected} of hex")]
    BadSecret {
        /// The label of the line.
        label: &'static str,
        /// The lengths allowed, in words.
        expected: &'static str,
    },
    /// Longer than any valid line, so not a key log line (the rest up to the newline is skipped).
    #[error("line longer than {MAX_LINE_LEN} bytes")]
    TooLong,
    /// Not UTF-8 text.
    #[error("not text")]
    NotText,
}

/// Longest line accepted: the longest label, a 64-digit random and a 96-digit secret fit with
/// room to spare; anything longer is skipped, so a hostile or binary file cannot make a reader
/// buffer without bound.
pub const MAX_LINE_LEN: usize = 1024;

/// Parses one line (without its `\n`; a trailing `\r` is allowed).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    if line.len() > MAX_LINE_LEN {
        return Err(LineError::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| LineError::NotText)?;
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(Line::Nothing);
    }
    let mut fields = text.split_ascii_whitespace();
    let (Some(label), Some(random), Some(secret)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(LineError::MissingField);
    };
    if fields.next().is_some() {
        return Err(LineError::ExtraField);
    }
    let Some(kind) = kind_of(label) else {
        return Ok(Line::Unused { label });
    };
    let mut client_random = [0u8; 32];
    hex::decode_to_slice(random, &mut client_random).map_err(|_| LineError::BadClientRandom)?;
    let bad_secret = LineError::BadSecret {
        label: kind.label(),
        expected: if kind == SecretKind::MasterSecret {
            "48 bytes"
        } else {
            "32 or 48 bytes"
        },
    };
    let len = secret.len() / 2;
    if secret.len() % 2 != 0 || !kind.accepts_len(len) {
        return Err(bad_secret);
    }
    let mut bytes = [0u8; 48];
    hex::decode_to_slice(secret, &mut bytes[..len]).map_err(|_| bad_secret)?;
    Ok(Line::Secret {
        kind,
        client_random,
        secret: SecretBytes {
            len: len as u8,
            bytes,
        },
    })
}

/// The kind a label names, `QUIC_`-prefixed TLS 1.3 labels included; `None` for labels
/// decryption does not use.
fn kind_of(label: &str) -> Option<SecretKind> {
    if label == "CLIENT_RANDOM" {
        return Some(SecretKind::MasterSecret);
    }
    let label = label.strip_prefix("QUIC_").unwrap_or(label);
    SecretKind::ALL[1..]
        .iter()
        .copied()
        .find(|kind| kind.label() == label)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: &str = "2095006fcb3f93d255cbb6562587f0dd010212fdee9d233aff64e6ed36cd5c45";

    fn secret_line(line: &str) -> (SecretKind, ClientRandom, Vec<u8>) {
        match parse_line(line.as_bytes()) {
            Ok(Line::Secret {
                kind,
                client_random,
                secret,
            }) => (kind, client_random, secret.as_bytes().to_vec()),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn every_label_and_the_quic_prefix() {
        let s32 = "11".repeat(32);
        for kind in SecretKind::ALL {
            let secret = if kind == SecretKind::MasterSecret {
                "22".repeat(48)
            } else {
                s32.clone()
            };
            let (got, random, bytes) = secret_line(&format!("{} {RANDOM} {secret}", kind.label()));
            assert_eq!(got, kind);
            assert_eq!(hex::encode(random), RANDOM);
            assert_eq!(hex::encode(bytes), secret);
            if kind != SecretKind::MasterSecret {
                let quic = format!("QUIC_{} {RANDOM} {s32}", kind.label());
                assert_eq!(secret_line(&quic).0, kind);
            }
        }
        // No QUIC_ variant of the TLS 1.2 label exists.
        assert_eq!(
            parse_line(format!("QUIC_CLIENT_RANDOM {RANDOM} {}", "22".repeat(48)).as_bytes()),
            Ok(Line::Unused {
                label: "QUIC_CLIENT_RANDOM"
            })
        );
    }

    #[test]
    fn comments_blank_lines_crlf_and_sha384_secrets() {
        assert_eq!(parse_line(b""), Ok(Line::Nothing));
        assert_eq!(parse_line(b"   \r"), Ok(Line::Nothing));
        assert_eq!(parse_line(b"# SSL/TLS secrets log file"), Ok(Line::Nothing));
        let line = format!("SERVER_TRAFFIC_SECRET_0 {RANDOM} {}\r", "ab".repeat(48));
        let (kind, _, bytes) = secret_line(&line);
        assert_eq!(kind, SecretKind::ServerTraffic0);
        assert_eq!(bytes.len(), 48);
        // Upper-case hex, as some stacks write it.
        let upper = format!(
            "CLIENT_RANDOM {} {}",
            RANDOM.to_uppercase(),
            "AB".repeat(48)
        );
        assert_eq!(secret_line(&upper).0, SecretKind::MasterSecret);
    }

    #[test]
    fn unused_labels_are_counted_not_errors() {
        for label in ["EXPORTER_SECRET", "EARLY_EXPORTER_SECRET", "ECH_SECRET"] {
            let line = format!("{label} {RANDOM} {}", "33".repeat(32));
            assert_eq!(parse_line(line.as_bytes()), Ok(Line::Unused { label }));
        }
        // Wireshark's RSA form has an 8-byte prefix where the random would be: still unused.
        let rsa = format!("RSA {} {}", "44".repeat(8), "55".repeat(48));
        assert_eq!(
            parse_line(rsa.as_bytes()),
            Ok(Line::Unused { label: "RSA" })
        );
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let s = "66".repeat(32);
        let cases: Vec<(String, LineError)> = vec![
            ("CLIENT_RANDOM".into(), LineError::MissingField),
            (format!("CLIENT_RANDOM {RANDOM}"), LineError::MissingField),
            (
                format!("SERVER_TRAFFIC_SECRET_0 {RANDOM} {s} x"),
                LineError::ExtraField,
            ),
            (
                format!("SERVER_TRAFFIC_SECRET_0 abcd {s}"),
                LineError::BadClientRandom,
            ),
            (
                format!("SERVER_TRAFFIC_SECRET_0 {}zz {s}", &RANDOM[..62]),
                LineError::BadClientRandom,
            ),
            (
                format!("CLIENT_RANDOM {RANDOM} {s}"),
                LineError::BadSecret {
                    label: "CLIENT_RANDOM",
                    expected: "48 bytes",
                },
            ),
            (
                format!("CLIENT_TRAFFIC_SECRET_0 {RANDOM} {}", "7".repeat(63)),
                LineError::BadSecret {
                    label: "CLIENT_TRAFFIC_SECRET_0",
                    expected: "32 or 48 bytes",
                },
            ),
            (
                format!("CLIENT_TRAFFIC_SECRET_0 {RANDOM} {}", "g".repeat(64)),
                LineError::BadSecret {
                    label: "CLIENT_TRAFFIC_SECRET_0",
                    expected: "32 or 48 bytes",
                },
            ),
            ("x".repeat(MAX_LINE_LEN + 1), LineError::TooLong),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line.as_bytes()), Err(want), "{line}");
        }
        assert_eq!(
            parse_line(b"CLIENT_RANDOM \xff\xfe x"),
            Err(LineError::NotText)
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let (_, _, _) = secret_line(&format!(
            "CLIENT_TRAFFIC_SECRET_0 {RANDOM} {}",
            "ab".repeat(32)
        ));
        let Ok(Line::Secret { secret, .. }) =
            parse_line(format!("CLIENT_TRAFFIC_SECRET_0 {RANDOM} {}", "ab".repeat(32)).as_bytes())
        else {
            panic!("not a secret line");
        };
        let debug = format!("{secret:?}");
        assert_eq!(debug, "SecretBytes(32 bytes)");
        assert!(!debug.contains("ab"));
    }
}
