//! Where TLS starts in a byte stream, by content rather than port: the byte signatures of a
//! TLS ClientHello or ServerHello record, a cleartext alert record, and SSLv2-compatible
//! hellos, checked a window at a time.

use super::deframer::{Framing, MAX_RECORD_LEN};
use crate::tls::codes::ContentType;
use crate::tls::handshake::hello::{SSLV2_CLIENT_HELLO, SSLV2_SERVER_HELLO};
use crate::wire;

/// Longest prefix the start-of-TLS detection needs to decide (the SSLv2 SERVER-HELLO header).
pub(super) const DETECT_WINDOW: usize = 13;

/// Verdict of the start-of-TLS detection at one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Detect {
    /// TLS starts here, in this framing.
    Yes(Framing),
    /// It does not.
    No,
    /// Not enough bytes to tell.
    NeedMore,
}

/// One byte-pattern element of a start-of-TLS signature.
#[derive(Clone, Copy)]
enum Pat {
    Is(u8),
    Range(u8, u8),
    Any,
}

impl Pat {
    fn matches(self, b: u8) -> bool {
        match self {
            Pat::Is(x) => b == x,
            Pat::Range(lo, hi) => (lo..=hi).contains(&b),
            Pat::Any => true,
        }
    }
}

/// Matches `bytes` against a signature: `No` as soon as a byte differs, `NeedMore` while the
/// prefix agrees, `Yes` when the whole signature agrees and `extra` accepts it.
fn signature(bytes: &[u8], pat: &[Pat], extra: impl Fn(&[u8]) -> bool) -> Detect {
    if bytes.iter().zip(pat).any(|(&b, p)| !p.matches(b)) {
        return Detect::No;
    }
    match bytes.get(..pat.len()) {
        None => Detect::NeedMore,
        Some(head) if extra(head) => Detect::Yes(Framing::Tls),
        Some(_) => Detect::No,
    }
}

/// The big-endian u16 at `at` of a signature window (whose length the pattern checked), as a
/// length.
fn be16(window: &[u8], at: usize) -> usize {
    wire::u16_at(window, at).map_or(0, usize::from)
}

/// A TLS handshake record whose first message is `msg_type` (ClientHello or ServerHello):
/// record header, handshake header with a length that fits a 16-bit record, and a legacy
/// version 3.x (or a TLS 1.3 draft version) at the start of the body.
fn hello_record(bytes: &[u8], msg_type: u8) -> Detect {
    const V: Pat = Pat::Range(0, 4);
    let pat = [
        Pat::Is(ContentType::HANDSHAKE.0),
        Pat::Is(3),
        V,
        Pat::Any,
        Pat::Any,
        Pat::Is(msg_type),
        Pat::Is(0),
        Pat::Any,
        Pat::Any,
        Pat::Any,
        Pat::Any,
    ];
    signature(bytes, &pat, |h| {
        let record_len = be16(h, 3);
        // TLS 1.3 draft ServerHellos (before draft 22) carry the draft version here.
        let version = be16(h, 9);
        let known =
            (0x0300..=0x0304).contains(&version) || matches!(version >> 8, 0x7e | 0x7f | 0xfb);
        // The hello's body is at least 38 bytes (version, random, session id length).
        known && (42..=usize::from(MAX_RECORD_LEN)).contains(&record_len) && be16(h, 7) >= 38
    })
}

/// A cleartext alert record (one or a few 2-byte alerts, the first warning or fatal): how a
/// server may answer a ClientHello it will not take.
fn alert_record(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Is(ContentType::ALERT.0),
        Pat::Is(3),
        Pat::Range(0, 4),
        Pat::Is(0),
        Pat::Range(2, 16),
        Pat::Range(1, 2),
        Pat::Any,
    ];
    signature(bytes, &pat, |h| be16(h, 3).is_multiple_of(2))
}

/// An SSLv2 CLIENT-HELLO with a 2-byte header whose lengths add up.
fn sslv2_client_hello(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Range(0x80, 0xff),
        Pat::Any,
        Pat::Is(SSLV2_CLIENT_HELLO),
        Pat::Range(0, 3),
        Pat::Range(0, 4),
        Pat::Any,
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
    ];
    let verdict = signature(bytes, &pat, |h| {
        let len = be16(h, 0) & 0x7fff;
        let version = be16(h, 3);
        let (ciphers, session, challenge) = (be16(h, 5), be16(h, 7), be16(h, 9));
        (version == 0x0002 || (0x0300..=0x0304).contains(&version))
            && ciphers > 0
            && ciphers.is_multiple_of(3)
            && (session == 0 || session == 16)
            && (16..=32).contains(&challenge)
            && len == 9 + ciphers + session + challenge
    });
    sslv2(verdict)
}

/// An SSLv2 SERVER-HELLO with a 2-byte header whose lengths add up.
fn sslv2_server_hello(bytes: &[u8]) -> Detect {
    let pat = [
        Pat::Range(0x80, 0xff),
        Pat::Any,
        Pat::Is(SSLV2_SERVER_HELLO),
        Pat::Range(0, 1),
        Pat::Any,
        Pat::Is(0),
        Pat::Is(2),
        Pat::Any,
        Pat::Any,
        Pat::Any,
        Pat::Any,
        Pat::Is(0),
        Pat::Any,
    ];
    let verdict = signature(bytes, &pat, |h| {
        let len = be16(h, 0) & 0x7fff;
        let (cert, ciphers, conn_id) = (be16(h, 7), be16(h, 9), be16(h, 11));
        ciphers.is_multiple_of(3)
            && (16..=32).contains(&conn_id)
            && len == 11 + cert + ciphers + conn_id
    });
    sslv2(verdict)
}

fn sslv2(verdict: Detect) -> Detect {
    match verdict {
        Detect::Yes(_) => Detect::Yes(Framing::Sslv2),
        other => other,
    }
}

/// A start-of-TLS signature check.
type Check = fn(&[u8]) -> Detect;

/// Whether TLS starts at the beginning of `bytes`. At the very start of the stream any hello
/// (TLS or SSLv2, client or server) counts; after a preamble only a TLS ClientHello does, or a
/// ServerHello or alert once the peer sent its ClientHello.
pub(super) fn detect(bytes: &[u8], at_start: bool, peer_sent_client_hello: bool) -> Detect {
    let checks: [(bool, Check); 5] = [
        (true, |b| hello_record(b, 1)),
        (at_start || peer_sent_client_hello, |b| hello_record(b, 2)),
        (peer_sent_client_hello, alert_record),
        (at_start, sslv2_client_hello),
        (at_start, sslv2_server_hello),
    ];
    let mut verdict = Detect::No;
    for (_, check) in checks.into_iter().filter(|(enabled, _)| *enabled) {
        match check(bytes) {
            yes @ Detect::Yes(_) => return yes,
            Detect::NeedMore => verdict = Detect::NeedMore,
            Detect::No => {}
        }
    }
    verdict
}
