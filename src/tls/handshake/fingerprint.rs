//! Client and server fingerprints: JA3/JA3S (Salesforce) and JA4/JA4S (FoxIO), computed to
//! their published specifications, so that values can be compared with other tools' output.
//!
//! GREASE values (RFC 8701, `0x?a?a`) are removed from every list in all four fingerprints:
//! clients randomise them per connection, and keeping them would split one client into many
//! fingerprints.

use std::cell::RefCell;
use std::sync::Arc;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{Carrier, ClientHello, ServerHello};
use crate::memo::BoundedMemo;
use crate::tls::names::is_grease;

/// Extension types left out of JA4's extension hash: they are already in the `a` part.
const JA4_SNI: u16 = 0x0000;
const JA4_ALPN: u16 = 0x0010;

/// Lowercase hex digits, for hand-rolled formatting: fingerprints are computed for every hello,
/// and `core::fmt` was a fifth of the per-connection instructions (see the README's
/// performance section).
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `v` in decimal.
fn push_dec(out: &mut String, v: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends `v` as four lowercase hex digits.
fn push_hex4(out: &mut String, v: u16) {
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((v >> shift) & 0xf)]));
    }
}

/// Appends the lowercase hex of `bytes`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// Appends decimal values joined with `-`, GREASE removed: one JA3 field.
fn push_ja3_field<T: Copy + Into<u16>>(out: &mut String, values: &[T]) {
    let mut first = true;
    for v in values.iter().map(|&v| v.into()).filter(|&v| !is_grease(v)) {
        if !first {
            out.push('-');
        }
        first = false;
        push_dec(out, v);
    }
}

/// The JA3 string and its MD5.
fn with_md5(s: String) -> (String, String) {
    let mut digest = String::with_capacity(32);
    push_hex(&mut digest, &Md5::digest(s.as_bytes()));
    (s, digest)
}

/// JA3 string and its MD5 (lowercase hex) for a parsed ClientHello.
pub fn ja3(hello: &ClientHello) -> (String, String) {
    let mut s = String::with_capacity(
        8 + 6 * (hello.cipher_suites.len() + hello.extensions.len() + hello.groups.len())
            + 4 * hello.ec_point_formats.len(),
    );
    push_dec(&mut s, hello.legacy_version);
    s.push(',');
    push_ja3_field(&mut s, &hello.cipher_suites);
    s.push(',');
    push_ja3_field(&mut s, &hello.extensions);
    s.push(',');
    push_ja3_field(&mut s, &hello.groups);
    s.push(',');
    push_ja3_field(&mut s, &hello.ec_point_formats);
    with_md5(s)
}

/// JA3S string and its MD5 for a parsed ServerHello (the version is the `legacy_version`
/// field, as the specification reads it from the message).
pub fn ja3s(hello: &ServerHello) -> (String, String) {
    let mut s = String::with_capacity(16 + 6 * hello.extensions.len());
    push_dec(&mut s, hello.legacy_version);
    s.push(',');
    push_dec(&mut s, hello.cipher);
    s.push(',');
    push_ja3_field(&mut s, &hello.extensions);
    with_md5(s)
}

/// Most distinct hellos a thread's memo holds before it is emptied, and most bytes of keys:
/// client stacks repeat, so a few hundred entries catch nearly every hello, while a stream of
/// made-up hellos cannot grow memory.
const MEMO_ENTRIES: usize = 4096;
const MEMO_BYTES: usize = 1 << 20;

/// Fingerprints already computed, by everything they are computed from (encoded in `scratch`,
/// which is reused). Each worker thread has its own, so no locking.
struct Memo {
    scratch: Vec<u8>,
    map: BoundedMemo<Box<[u8]>, [Arc<str>; 3]>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            scratch: Vec::new(),
            map: BoundedMemo::new(MEMO_ENTRIES, MEMO_BYTES),
        }
    }
}

impl Memo {
    /// The memoised value for the key `encode` writes, or `compute`'s, remembered.
    fn get(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>),
        compute: impl FnOnce() -> [String; 3],
    ) -> [Arc<str>; 3] {
        self.scratch.clear();
        encode(&mut self.scratch);
        if let Some(v) = self.map.get(self.scratch.as_slice()) {
            return v.clone();
        }
        let v = compute().map(Arc::from);
        let bytes = self.scratch.len();
        self.map
            .insert(self.scratch.as_slice().into(), v.clone(), bytes);
        v
    }
}

thread_local! {
    static CLIENT_MEMO: RefCell<Memo> = RefCell::new(Memo::default());
    static SERVER_MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Appends a list to a memo key, length first (so that lists cannot run into each other).
fn key_list<T: Copy + Into<u16>>(key: &mut Vec<u8>, values: &[T]) {
    key.extend_from_slice(&(values.len() as u32).to_le_bytes());
    // Two bytes per value, written through a zero-filled tail rather than a push per value
    // (each with its own capacity check): this runs for every hello.
    let start = key.len();
    key.resize(start + 2 * values.len(), 0);
    if let Some(tail) = key.get_mut(start..) {
        for (slot, &v) in tail.chunks_exact_mut(2).zip(values) {
            slot.copy_from_slice(&v.into().to_le_bytes());
        }
    }
}

/// Sets `ja3_string`, `ja3` and `ja4` of a parsed ClientHello. Memoised per thread by the
/// fields they are computed from: JA4 alone (two SHA-256 and sorting) cost about a fifth of
/// the instructions per connection.
pub fn fill_client(hello: &mut ClientHello, carrier: Carrier) {
    let encode = |key: &mut Vec<u8>| {
        key.push(carrier as u8);
        key_list(key, &[hello.legacy_version]);
        key_list(key, &hello.cipher_suites);
        key_list(key, &hello.extensions);
        key_list(key, &hello.groups);
        key_list(key, &hello.ec_point_formats);
        key_list(key, &hello.supported_versions);
        key_list(key, &hello.sig_algs);
        key_list(key, hello.ja4_alpn.as_ref().map_or(&[][..], |a| &a[..]));
    };
    let compute = || {
        let (ja3_string, ja3) = ja3(hello);
        [ja3_string, ja3, ja4(hello, carrier)]
    };
    let [ja3_string, ja3, ja4] = CLIENT_MEMO.with(|m| m.borrow_mut().get(encode, compute));
    hello.ja3_string = ja3_string;
    hello.ja3 = ja3;
    hello.ja4 = ja4;
}

/// Sets `ja3s_string`, `ja3s` and `ja4s` of a parsed ServerHello, memoised like
/// [`fill_client`].
pub fn fill_server(hello: &mut ServerHello, carrier: Carrier) {
    let encode = |key: &mut Vec<u8>| {
        key.push(carrier as u8);
        key_list(key, &[hello.legacy_version, hello.version, hello.cipher]);
        key_list(key, &hello.extensions);
        key_list(key, hello.ja4_alpn.as_ref().map_or(&[][..], |a| &a[..]));
    };
    let compute = || {
        let (ja3s_string, ja3s) = ja3s(hello);
        [ja3s_string, ja3s, ja4s(hello, carrier)]
    };
    let [ja3s_string, ja3s, ja4s] = SERVER_MEMO.with(|m| m.borrow_mut().get(encode, compute));
    hello.ja3s_string = ja3s_string;
    hello.ja3s = ja3s;
    hello.ja4s = ja4s;
}

/// JA4's two-character version code.
fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// Appends a count as JA4's two digits, capped at 99.
fn push_ja4_count(out: &mut String, n: usize) {
    let n = n.min(99) as u8;
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

/// JA4's two ALPN characters for a protocol's raw bytes: its first and last characters (one
/// character counts as both), `None` when the protocol is empty. When either end is not
/// ASCII alphanumeric, the first and last characters of the protocol's hex form instead (the
/// high nibble of the first byte, the low nibble of the last). Taken from the wire bytes: a
/// text form would have replaced bytes that are not UTF-8.
pub fn ja4_alpn(protocol: &[u8]) -> Option<[u8; 2]> {
    match (protocol.first(), protocol.last()) {
        (Some(&f), Some(&l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
            Some([f, l])
        }
        (Some(&f), Some(&l)) => Some([HEX[usize::from(f >> 4)], HEX[usize::from(l & 0xf)]]),
        _ => None,
    }
}

/// The two ALPN characters as JA4 writes them, `00` without a protocol.
fn ja4_alpn_chars(alpn: Option<[u8; 2]>) -> [char; 2] {
    alpn.unwrap_or(*b"00").map(char::from)
}

/// Comma-joined 4-digit lowercase hex values, appended.
fn push_hex_list(out: &mut String, values: &[u16]) {
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_hex4(out, v);
    }
}

/// Appends the first 12 hex characters of the SHA-256 of `s`, or twelve zeros when `s` is
/// empty (an empty list hashes to `000000000000`, as the reference implementation does).
fn push_sha256_12(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("000000000000");
    } else {
        push_hex(out, &Sha256::digest(s.as_bytes())[..6]);
    }
}

/// Values without GREASE.
fn no_grease(values: &[u16]) -> Vec<u16> {
    values.iter().copied().filter(|&v| !is_grease(v)).collect()
}

/// JA4 of a parsed ClientHello carried by `carrier` (its first character).
///
/// An empty cipher list or an empty extension list (after SNI and ALPN are removed) hashes
/// to `000000000000`, as the reference implementation does.
pub fn ja4(hello: &ClientHello, carrier: Carrier) -> String {
    let version = no_grease(&hello.supported_versions)
        .into_iter()
        .max()
        .unwrap_or(hello.legacy_version);
    let sni = if hello.extensions.contains(&JA4_SNI) {
        'd'
    } else {
        'i'
    };
    let mut ciphers = no_grease(&hello.cipher_suites);
    let mut extensions = no_grease(&hello.extensions);
    let mut out = String::with_capacity(36);
    out.push(carrier.ja4_prefix());
    out.push_str(ja4_version(version));
    out.push(sni);
    push_ja4_count(&mut out, ciphers.len());
    push_ja4_count(&mut out, extensions.len());
    out.extend(ja4_alpn_chars(hello.ja4_alpn));
    out.push('_');
    ciphers.sort_unstable();
    let mut input =
        String::with_capacity(5 * (ciphers.len() + extensions.len() + hello.sig_algs.len()));
    push_hex_list(&mut input, &ciphers);
    push_sha256_12(&mut out, &input);
    out.push('_');
    extensions.retain(|&e| e != JA4_SNI && e != JA4_ALPN);
    extensions.sort_unstable();
    input.clear();
    push_hex_list(&mut input, &extensions);
    let sig_algs = no_grease(&hello.sig_algs);
    if !extensions.is_empty() && !sig_algs.is_empty() {
        input.push('_');
        push_hex_list(&mut input, &sig_algs);
    }
    push_sha256_12(&mut out, &input);
    out
}

/// JA4S of a parsed ServerHello: the carrier's character, negotiated version, extension count, ALPN
/// characters, then the cipher and a hash of the extensions in wire order.
pub fn ja4s(hello: &ServerHello, carrier: Carrier) -> String {
    let extensions = no_grease(&hello.extensions);
    let mut out = String::with_capacity(25);
    out.push(carrier.ja4_prefix());
    out.push_str(ja4_version(hello.version));
    push_ja4_count(&mut out, extensions.len());
    out.extend(ja4_alpn_chars(hello.ja4_alpn));
    out.push('_');
    push_hex4(&mut out, hello.cipher);
    out.push('_');
    let mut input = String::with_capacity(5 * extensions.len());
    push_hex_list(&mut input, &extensions);
    push_sha256_12(&mut out, &input);
    out
}

#[cfg(test)]
mod tests;
