//! The JSON writer of the per-connection records. It writes the same bytes as
//! `serde_json::to_writer` would for the same values (the tests below and the golden files
//! compare them), at a fraction of the instructions: a record is ~150 fields, and through serde
//! every field was a call into a serializer state machine that scanned the field name, wrote
//! the comma, the quotes and the colon one by one. Here each field name is one pre-escaped
//! literal with its comma (`,"sni":`, built at compile time by [`key!`]), strings without
//! anything to escape (nearly all) are checked a word or sixteen bytes at a time and copied in
//! one piece, numbers come from a digit table, and anything unusual is escaped by serde_json
//! itself, so the two cannot disagree.
//!
//! Values write themselves through [`Json`]; objects are written by an [`Object`]. Objects
//! that the serde-written report shares with the records (the certificate) list their fields
//! once, against [`Fields`], which both an [`Object`] and a serde map ([`SerdeFields`])
//! implement. Runs of fields that repeat across records (what a TLS stack sends the same way
//! every time) are written once per distinct content and copied after that ([`Run`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::memo::BoundedMemo;
use crate::tls::AnomalyKind;
use serde::Serialize;
use serde::ser::SerializeMap;

/// A value that appends itself as compact JSON, byte for byte what serde_json writes for its
/// `Serialize` form.
pub(crate) trait Json {
    /// Appends the value to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// A field name with its JSON form, comma first (`,"sni":`): one copy per field instead of a
/// call each for the comma, the quotes, the name and the colon. Made by [`key!`], which
/// checks at compile time that the name needs no escaping.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    name: &'static str,
    json: &'static str,
}

impl Key {
    /// The key `name`, written as `json`; a compile-time error (through [`key!`]) when `name`
    /// holds a byte JSON escapes.
    pub(crate) const fn new(name: &'static str, json: &'static str) -> Key {
        let bytes = name.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            assert!(
                b >= 0x20 && b != b'"' && b != b'\\',
                "field name needs escaping"
            );
            i += 1;
        }
        Key { name, json }
    }
}

/// `key!("sni")`: the [`Key`] of a field, built and checked at compile time.
macro_rules! key {
    ($name:literal) => {
        const { $crate::output::json::Key::new($name, concat!(",\"", $name, "\":")) }
    };
}
pub(crate) use key;

/// A JSON object being written. Every field appends its key with the comma before it, and
/// [`Object::close`] turns the first comma into the opening brace: no "first field" state, no
/// branch per field.
pub(crate) struct Object<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        Object { out, start }
    }

    fn close(self) {
        match self.out.get_mut(self.start) {
            Some(comma) => {
                *comma = b'{';
                self.out.push(b'}');
            }
            None => self.out.extend_from_slice(b"{}"),
        }
    }

    /// Writes the field `key` with `value`. Always inlined, so that the key is copied as a
    /// constant (a few stores), not through a `memcpy` call.
    #[inline(always)]
    pub(crate) fn field<V: Json + ?Sized>(&mut self, key: Key, value: &V) {
        self.out.extend_from_slice(key.json.as_bytes());
        value.write_json(self.out);
    }

    /// Writes the field `key` with a value `write` appends itself.
    #[inline(always)]
    pub(crate) fn field_with(&mut self, key: Key, write: impl FnOnce(&mut Vec<u8>)) {
        self.out.extend_from_slice(key.json.as_bytes());
        write(self.out);
    }

    /// Writes the field `key` with an object whose fields `write` writes.
    #[inline(always)]
    pub(crate) fn object(&mut self, key: Key, write: impl FnOnce(&mut Object<'_>)) {
        self.out.extend_from_slice(key.json.as_bytes());
        object(self.out, write);
    }

    /// Copies fields written once before (see [`Written`]).
    pub(crate) fn append(&mut self, fields: &Written) {
        self.out.extend_from_slice(&fields.0);
    }
}

/// Appends an object whose fields `write` writes.
#[inline]
pub(crate) fn object(out: &mut Vec<u8>, write: impl FnOnce(&mut Object<'_>)) {
    let mut o = Object::open(out);
    write(&mut o);
    o.close();
}

/// Appends an array of `items`, each appended by `write`.
#[inline]
pub(crate) fn array<I: IntoIterator>(
    out: &mut Vec<u8>,
    items: I,
    mut write: impl FnMut(&mut Vec<u8>, I::Item),
) {
    out.push(b'[');
    let mut items = items.into_iter();
    if let Some(first) = items.next() {
        write(out, first);
        for item in items {
            out.push(b',');
            write(out, item);
        }
    }
    out.push(b']');
}

/// Fields of an object written once and copied into many (a certificate's own fields, which
/// repeat on every connection that shows it).
pub(crate) struct Written(Box<[u8]>);

impl Written {
    /// The fields `write` writes.
    pub(crate) fn new(write: impl FnOnce(&mut Object<'_>)) -> Self {
        let mut buf = Vec::new();
        write(&mut Object::open(&mut buf));
        Written(buf.into())
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Where the fields of an object go that the records and the serde-written report share: an
/// [`Object`] or a serde map. The object lists its fields once, against this trait.
pub(crate) trait Fields {
    /// Writes the field `key` with `value`.
    fn entry<V: Json + Serialize + ?Sized>(&mut self, key: Key, value: &V);
}

impl Fields for Object<'_> {
    #[inline(always)]
    fn entry<V: Json + Serialize + ?Sized>(&mut self, key: Key, value: &V) {
        self.field(key, value);
    }
}

/// [`Fields`] into a serde map (which serde_json writes exactly as a struct), keeping the
/// first error for [`SerdeFields::end`].
pub(crate) struct SerdeFields<M: SerializeMap> {
    map: M,
    error: Option<M::Error>,
}

impl<M: SerializeMap> SerdeFields<M> {
    /// Fields into `map`.
    pub(crate) fn new(map: M) -> Self {
        SerdeFields { map, error: None }
    }

    /// Ends the map, or returns the first error of a field.
    pub(crate) fn end(self) -> Result<M::Ok, M::Error> {
        match self.error {
            Some(e) => Err(e),
            None => self.map.end(),
        }
    }
}

impl<M: SerializeMap> Fields for SerdeFields<M> {
    fn entry<V: Json + Serialize + ?Sized>(&mut self, key: Key, value: &V) {
        if self.error.is_none() {
            self.error = self.map.serialize_entry(key.name, value).err();
        }
    }
}

/// Whether a byte is one serde_json escapes: a control character, the quote or the backslash.
fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the eight bytes of `x` is [`special`]: the classic "has a byte less than /
/// equal to" bit tricks, one branch for all three tests.
fn word_special(x: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    let quote = zero_byte(x ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(x ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash) & HIGH != 0
}

/// Whether `s` holds a [`special`] byte. Long strings sixteen bytes at a time, the last chunk
/// overlapping the one before (harmless for a yes/no question): the check over a fixed-size
/// array compiles to a few vector compares (SSE2 is x86-64's baseline).
fn needs_escape(s: &str) -> bool {
    /// A fold without early exit over a fixed length, so that it vectorises.
    fn any_special<const N: usize>(chunk: &[u8; N]) -> bool {
        chunk.iter().fold(false, |acc, &b| acc | special(b))
    }
    let bytes = s.as_bytes();
    if let Some(last) = bytes.last_chunk::<16>() {
        let (chunks, _) = bytes.as_chunks::<16>();
        chunks.iter().any(any_special) || any_special(last)
    } else {
        bytes.iter().any(|&b| special(b))
    }
}

/// Appends the contents of a JSON string (without quotes), escaped as serde_json does.
///
/// Most strings of a record are short names (`"client:finished"`, `"TLSv1.3"`): up to 16
/// bytes, they are checked as two overlapping words and copied as two overlapping fixed-size
/// pieces (the second written over the tail of the first), not through a `memcpy` call.
pub(crate) fn push_contents(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let start = out.len();
    if let (Some(first), Some(last)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>())
        && bytes.len() <= 16
    {
        let (first, last) = (u64::from_le_bytes(*first), u64::from_le_bytes(*last));
        if !word_special(first) && !word_special(last) {
            out.extend_from_slice(&first.to_le_bytes());
            out.truncate(start + bytes.len() - 8);
            out.extend_from_slice(&last.to_le_bytes());
            return;
        }
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>())
        && bytes.len() < 8
    {
        let (first, last) = (u32::from_le_bytes(*first), u32::from_le_bytes(*last));
        if !word_special(u64::from(first) | u64::from(last) << 32) {
            out.extend_from_slice(&first.to_le_bytes());
            out.truncate(start + bytes.len() - 4);
            out.extend_from_slice(&last.to_le_bytes());
            return;
        }
    } else if !needs_escape(s) {
        out.extend_from_slice(bytes);
        return;
    }
    // serde_json writes `"…"`: keep its escaping, drop its quotes.
    let _ = serde_json::to_writer(&mut *out, s);
    out.pop();
    out.remove(start);
}

/// `0` to `999` as three ASCII digits, zero-padded (`"007"`), in the low three bytes of a word,
/// and the number of significant digits in the top byte: a number below 1,000 is one look-up.
const DIGITS: [u32; 1000] = {
    let mut table = [0; 1000];
    let mut i = 0;
    while i < 1000 {
        let digits = [
            b'0' + (i / 100) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        let len = if i >= 100 {
            3
        } else if i >= 10 {
            2
        } else {
            1
        };
        table[i] = u32::from_le_bytes([digits[0], digits[1], digits[2], len]);
        i += 1;
    }
    table
};

/// Appends the digits of `entry` (a [`DIGITS`] entry), all three when `padded`, else only the
/// significant ones: the word is shifted so that they come first, appended whole (one 4-byte
/// store) and cut back.
#[inline(always)]
fn push_digits(out: &mut Vec<u8>, entry: u32, padded: bool) {
    let len = if padded { 3 } else { entry >> 24 };
    let word = (entry & 0x00ff_ffff) >> (8 * (3 - len));
    out.extend_from_slice(&word.to_le_bytes());
    out.truncate(out.len() - (4 - len as usize));
}

/// Appends `v` in decimal, as serde_json writes it. Record values are mostly small numbers
/// (codepoints, counters, ports, address octets): through serde_json or `itoa` each cost a
/// formatting call and a `memcpy` call; here a number is one or two table look-ups and stores.
#[inline(always)]
fn push_u16(out: &mut Vec<u8>, v: u16) {
    match DIGITS.get(usize::from(v)) {
        Some(&entry) => push_digits(out, entry, false),
        None => push_thousands(out, v),
    }
}

/// [`push_u16`] from 1,000 on: the thousands, then three digits.
fn push_thousands(out: &mut Vec<u8>, v: u16) {
    let entry = |i: u16| DIGITS.get(usize::from(i)).copied().unwrap_or_default();
    push_digits(out, entry(v / 1000), false);
    push_digits(out, entry(v % 1000), true);
}

/// Appends a JSON string.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_contents(out, s);
    out.push(b'"');
}

/// Appends `v` in decimal: through [`push_u16`] when it fits (counters, microseconds and
/// sizes mostly do; inlined), else through `itoa`, which is what serde_json uses.
#[inline(always)]
fn push_int<I: itoa::Integer + TryInto<u16>>(out: &mut Vec<u8>, v: I) {
    match v.try_into() {
        Ok(small) => push_u16(out, small),
        Err(_) => push_wide(out, v),
    }
}

/// [`push_int`] for values from 65,536 on (and negative ones).
#[inline(never)]
fn push_wide<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

impl Json for str {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        push_str(out, self);
    }
}

impl Json for String {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        push_str(out, self);
    }
}

impl Json for Cow<'_, str> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        push_str(out, self);
    }
}

impl<T: Json + ?Sized> Json for &T {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl<T: Json + ?Sized> Json for std::sync::Arc<T> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl Json for bool {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Json for u8 {
    #[inline(always)]
    fn write_json(&self, out: &mut Vec<u8>) {
        push_u16(out, (*self).into());
    }
}

impl Json for u16 {
    #[inline(always)]
    fn write_json(&self, out: &mut Vec<u8>) {
        push_u16(out, *self);
    }
}

macro_rules! json_via_itoa {
    ($($ty:ty),*) => {
        $(impl Json for $ty {
            #[inline(always)]
            fn write_json(&self, out: &mut Vec<u8>) {
                push_int(out, *self);
            }
        })*
    };
}
json_via_itoa!(u32, u64, usize, i64);

impl<T: Json> Json for Option<T> {
    #[inline(always)]
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: Json> Json for [T] {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        array(out, self, |out, v| v.write_json(out));
    }
}

impl<T: Json> Json for Vec<T> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json(out);
    }
}

/// A run of fields that repeats across records (what a client's or a server's TLS stack sends
/// the same way on every connection: version, codepoint lists), written once per distinct
/// content and copied after that: a key built from the values, a hash and a compare cost a
/// fraction of writing the ~60 numbers of a hello's lists (~50 instructions each).
///
/// The fields are listed once, in [`Run::fields`], against [`RunFields`], which both writes
/// them (an [`Object`]) and encodes their values into the memo key, so the key cannot leave
/// out a field that is written.
pub(crate) trait Run {
    /// Tells the runs of different types apart in the memo.
    const NAME: &'static str;

    /// Writes (or encodes) the fields of the run.
    fn fields<F: RunFields>(&self, f: &mut F);
}

/// Where the fields of a [`Run`] go: the record, or the memo key.
pub(crate) trait RunFields {
    /// The field `key` with `value`.
    fn entry<V: Json + KeyPart + ?Sized>(&mut self, key: Key, value: &V);
}

impl RunFields for Object<'_> {
    #[inline(always)]
    fn entry<V: Json + KeyPart + ?Sized>(&mut self, key: Key, value: &V) {
        self.field(key, value);
    }
}

/// A value as part of a memo key: lists and strings length first, scalars in a fixed size, so
/// that the values of one run type cannot run into each other.
pub(crate) trait KeyPart {
    /// Appends the value's key bytes.
    fn key_part(&self, key: &mut Vec<u8>);
}

impl KeyPart for bool {
    fn key_part(&self, key: &mut Vec<u8>) {
        key.push(u8::from(*self));
    }
}

impl KeyPart for u8 {
    fn key_part(&self, key: &mut Vec<u8>) {
        key.push(*self);
    }
}

impl KeyPart for u16 {
    fn key_part(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(&self.to_le_bytes());
    }
}

impl KeyPart for u64 {
    fn key_part(&self, key: &mut Vec<u8>) {
        key.extend_from_slice(&self.to_le_bytes());
    }
}

/// The length of a list or string, as its first key bytes.
fn key_len(key: &mut Vec<u8>, len: usize) {
    (len as u64).key_part(key);
}

impl KeyPart for [u8] {
    fn key_part(&self, key: &mut Vec<u8>) {
        key_len(key, self.len());
        key.extend_from_slice(self);
    }
}

impl KeyPart for [u16] {
    fn key_part(&self, key: &mut Vec<u8>) {
        key_len(key, self.len());
        // The values' bytes as they are in memory (native order: keys never leave the process),
        // one copy instead of two bytes per value.
        key.extend_from_slice(zerocopy::IntoBytes::as_bytes(self));
    }
}

impl<T> KeyPart for Vec<T>
where
    [T]: KeyPart,
{
    fn key_part(&self, key: &mut Vec<u8>) {
        self.as_slice().key_part(key);
    }
}

impl KeyPart for str {
    fn key_part(&self, key: &mut Vec<u8>) {
        self.as_bytes().key_part(key);
    }
}

impl KeyPart for std::sync::Arc<str> {
    fn key_part(&self, key: &mut Vec<u8>) {
        self.as_bytes().key_part(key);
    }
}

impl KeyPart for String {
    fn key_part(&self, key: &mut Vec<u8>) {
        self.as_bytes().key_part(key);
    }
}

impl<T: KeyPart> KeyPart for Option<T> {
    fn key_part(&self, key: &mut Vec<u8>) {
        match self {
            Some(v) => {
                key.push(1);
                v.key_part(key);
            }
            None => key.push(0),
        }
    }
}

/// [`RunFields`] into a memo key.
struct RunKey<'a>(&'a mut Vec<u8>);

impl RunFields for RunKey<'_> {
    fn entry<V: Json + KeyPart + ?Sized>(&mut self, _: Key, value: &V) {
        value.key_part(self.0);
    }
}

/// Most runs a thread's memo holds before it is emptied, and most bytes of keys and JSON: a
/// few hundred cover the client and server stacks of most captures, while made-up hellos
/// cannot grow memory.
const RUN_MEMO_ENTRIES: usize = 4096;
const RUN_MEMO_BYTES: usize = 2 << 20;

/// The JSON of runs, by their key (`scratch` is reused for the key).
struct RunMemo {
    scratch: Vec<u8>,
    map: BoundedMemo<Box<[u8]>, Written>,
}

thread_local! {
    static RUN_MEMO: RefCell<RunMemo> = RefCell::new(RunMemo {
        scratch: Vec::new(),
        map: BoundedMemo::new(RUN_MEMO_ENTRIES, RUN_MEMO_BYTES),
    });
}

impl Object<'_> {
    /// Writes the fields of `run`, copied from the memo when the same values were written
    /// before on this thread.
    pub(crate) fn run<R: Run>(&mut self, run: &R) {
        RUN_MEMO.with_borrow_mut(|memo| {
            memo.scratch.clear();
            R::NAME.key_part(&mut memo.scratch);
            run.fields(&mut RunKey(&mut memo.scratch));
            if let Some(fields) = memo.map.get(memo.scratch.as_slice()) {
                return self.append(fields);
            }
            let fields = Written::new(|o| run.fields(o));
            self.append(&fields);
            let size = memo.scratch.len() + fields.len();
            memo.map
                .insert(memo.scratch.as_slice().into(), fields, size);
        });
    }
}

/// A map key written as a JSON string: string keys, and named values such as anomaly kinds.
pub trait KeyName {
    /// The key's text.
    fn key_name(&self) -> &str;
}

impl KeyName for &str {
    fn key_name(&self) -> &str {
        self
    }
}

impl KeyName for AnomalyKind {
    fn key_name(&self) -> &str {
        self.name()
    }
}

/// A map with named keys is an object: `{"key":value,...}`.
impl<K: KeyName, V: Json> Json for BTreeMap<K, V> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(out, k.key_name());
            out.push(b':');
            v.write_json(out);
        }
        out.push(b'}');
    }
}

/// An address as its text (what serde writes for a human-readable format, `Display`'s text),
/// written by hand: through `core::fmt` an IPv6 address cost ~1,000 instructions. Neither form
/// needs escaping.
impl Json for IpAddr {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        match self {
            IpAddr::V4(v4) => push_ipv4(out, *v4),
            IpAddr::V6(v6) => push_ipv6(out, *v6),
        }
        out.push(b'"');
    }
}

/// Dotted decimal.
fn push_ipv4(out: &mut Vec<u8>, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    push_u16(out, a.into());
    for octet in [b, c, d] {
        out.push(b'.');
        push_u16(out, octet.into());
    }
}

/// IPv6 as `Display` writes it (RFC 5952): lowercase hexadecimal groups without leading
/// zeros, the longest run of two or more zero groups (the first of equals) as `::`, and an
/// IPv4-mapped address as `::ffff:` and dotted decimal.
fn push_ipv6(out: &mut Vec<u8>, ip: Ipv6Addr) {
    if let Some(v4) = ip.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        return push_ipv4(out, v4);
    }
    let groups = ip.segments();
    let (mut zeros, mut run) = ((0, 0), (0, 0));
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run.1 == 0 {
                run.0 = i;
            }
            run.1 += 1;
            if run.1 > zeros.1 {
                zeros = run;
            }
        } else {
            run.1 = 0;
        }
    }
    let write = |out: &mut Vec<u8>, groups: &[u16]| {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            push_hex(out, g);
        }
    };
    if zeros.1 > 1 {
        write(out, groups.get(..zeros.0).unwrap_or_default());
        out.extend_from_slice(b"::");
        write(out, groups.get(zeros.0 + zeros.1..).unwrap_or_default());
    } else {
        write(out, &groups);
    }
}

/// `v` in lowercase hexadecimal without leading zeros.
fn push_hex(out: &mut Vec<u8>, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(HEX[usize::from((v >> (4 * i)) & 0xf)]);
    }
}

/// Escapes each piece a `Display` writes straight into the output.
pub(crate) struct Text<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_contents(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `value` through [`Json`] (after a prefix, as in a record) and through serde_json.
    fn both<T: Json + Serialize + ?Sized>(value: &T) -> (String, String) {
        let mut fast = b"prefix ".to_vec();
        value.write_json(&mut fast);
        let reference = format!("prefix {}", serde_json::to_string(value).unwrap());
        (String::from_utf8(fast).unwrap(), reference)
    }

    fn same<T: Json + Serialize + ?Sized>(value: &T) {
        let (fast, reference) = both(value);
        assert_eq!(fast, reference);
    }

    /// Strings a record can hold: escapes, non-ASCII, what the parsers make of bytes that are
    /// not UTF-8 (U+FFFD from `from_utf8_lossy`, Latin-1 with C1 controls from certificate
    /// names), the empty string.
    fn odd_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            "plain.example",
            "quote \" backslash \\ slash / newline \n return \r tab \t",
            "bell \u{7} backspace \u{8} form feed \u{c} nul \u{0} unit sep \u{1f} del \u{7f}",
            "non-ASCII: é 中 🔒 \u{2028} \u{2029} \u{feff}",
            "\"",
            "\\",
            "\u{0}",
            "ends with a quote\"",
            "exactly8",
            "sixteen-bytes-ab",
        ]
        .map(String::from)
        .to_vec();
        v.push(String::from_utf8_lossy(b"bad \xff\xfe utf-8 \xc3").into_owned());
        v.push(
            [0x41_u8, 0x85, 0x9f, 0xa0, 0xff]
                .iter()
                .map(|&b| char::from(b))
                .collect(),
        );
        v.push((0_u8..0x80).map(char::from).collect());
        v
    }

    #[test]
    fn strings_come_out_as_serde_json_writes_them() {
        for s in odd_strings() {
            same(s.as_str());
            same(&s);
            same(&Cow::Borrowed(s.as_str()));
            // At every offset from the start of an eight-byte word.
            for at in 0..9 {
                same(&format!("{}{s}", "a".repeat(at)));
            }
        }
        same(&odd_strings());
        // Every length and position around the short-string paths (4, 8 and 16 bytes).
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}", "é", ""] {
            for at in 0..20 {
                for after in 0..20 {
                    same(&format!("{}{special}{}", "a".repeat(at), "b".repeat(after)));
                }
            }
        }
    }

    #[test]
    fn escapes_are_found_at_every_offset() {
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}"] {
            for at in 0..40 {
                for after in 0..20 {
                    let s = format!("{}{special}{}", "a".repeat(at), "é~".repeat(after));
                    assert!(needs_escape(&s), "{s:?}");
                }
            }
        }
        for clean in [
            "",
            "abc",
            "www.example.test/with spaces",
            "é中🔒\u{7f}~ !#",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ] {
            assert!(!needs_escape(clean), "{clean:?}");
        }
        for len in 0..70 {
            let clean: String = (0x20_u8..0x7f)
                .filter(|&b| b != b'"' && b != b'\\')
                .map(char::from)
                .cycle()
                .take(len)
                .collect();
            assert!(!needs_escape(&clean), "{clean:?}");
        }
    }

    #[test]
    fn integers_come_out_as_serde_json_writes_them() {
        let mut small: Vec<u16> = (0..=u16::MAX).step_by(7).collect();
        small.extend([0, 9, 10, 99, 100, 999, 1000, 9999, 10_000, u16::MAX]);
        same(&small);
        same(&(0..=u8::MAX).collect::<Vec<u8>>());
        let mut wide = vec![
            0_u64,
            1,
            9,
            10,
            65_535,
            65_536,
            u64::MAX,
            u64::MAX / 10,
            1 << 32,
        ];
        wide.extend((0..64).map(|i| 1_u64 << i));
        wide.extend((0..20).map(|i| 10_u64.pow(i)));
        wide.extend((0..20).map(|i| 10_u64.pow(i) - 1));
        same(&wide);
        same(&[0_u32, 7, 65_535, 65_536, u32::MAX][..]);
        same(&[0_usize, 65_536, usize::MAX][..]);
        same(&[0_i64, 1, -1, 65_535, 65_536, -65_536, i64::MIN, i64::MAX][..]);
    }

    #[test]
    fn options_lists_maps_and_booleans_come_out_as_serde_json_writes_them() {
        same(&None::<u16>);
        same(&Some(7_u16));
        same(&None::<&str>);
        same(&Some("x\"y"));
        same(&[None, Some(true), Some(false)][..]);
        same(&Vec::<String>::new());
        same(&Vec::<u8>::new());
        let map: BTreeMap<&str, u64> = [("b_anomaly", 2), ("a\"odd", 1), ("", 0)].into();
        same(&map);
        same(&BTreeMap::<&str, u64>::new());
    }

    #[test]
    fn addresses_come_out_as_serde_json_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.200.3.45",
            "::",
            "::1",
            "2001:db8::1",
            "fe80::1:2:3:4",
            "1:2:3:4:5:6:7:8",
            "::ffff:192.0.2.1",
        ] {
            same(&ip.parse::<IpAddr>().unwrap());
        }
        same(&IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        // Every pattern of zero groups, with groups of each width, and pseudo-random ones.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for pattern in 0..256_u32 {
            for value in [1_u16, 0x10, 0xabc, 0xffff, 0] {
                let mut groups = [0_u16; 8];
                for (i, g) in groups.iter_mut().enumerate() {
                    if pattern & (1 << i) != 0 {
                        *g = if value == 0 { next() as u16 } else { value };
                    }
                }
                let ip = Ipv6Addr::from(groups);
                let mut fast = Vec::new();
                push_ipv6(&mut fast, ip);
                assert_eq!(String::from_utf8(fast).unwrap(), ip.to_string());
            }
        }
        for _ in 0..1000 {
            let v4 = Ipv4Addr::from(next() as u32);
            same(&IpAddr::V6(v4.to_ipv6_mapped()));
            same(&IpAddr::V6(v4.to_ipv6_compatible()));
        }
    }

    /// A run of two lists and an optional string.
    struct Lists<'a>(&'a [u16], &'a [u8], Option<&'a str>);

    impl Run for Lists<'_> {
        const NAME: &'static str = "test lists";

        fn fields<F: RunFields>(&self, f: &mut F) {
            f.entry(key!("a"), self.0);
            f.entry(key!("b"), self.1);
            f.entry(key!("c"), &self.2.map(String::from));
        }
    }

    #[test]
    fn runs_come_out_the_same_from_the_memo() {
        let runs = [
            Lists(&[], &[], None),
            Lists(&[1], &[], None),
            // The same bytes split differently between the lists: a different key.
            Lists(&[], &[1, 0], None),
            Lists(&[4865, 4866, 4867, 49195, 0], &[0, 1, 2], Some("h2")),
            Lists(&[7; 40], &[], Some("")),
            Lists(&[7; 40], &[], None),
        ];
        for _ in 0..2 {
            for run in &runs {
                let mut fast = Vec::new();
                object(&mut fast, |o| o.run(run));
                let reference = format!(
                    r#"{{"a":{},"b":{},"c":{}}}"#,
                    serde_json::to_string(run.0).unwrap(),
                    serde_json::to_string(run.1).unwrap(),
                    serde_json::to_string(&run.2).unwrap(),
                );
                assert_eq!(String::from_utf8(fast).unwrap(), reference);
            }
        }
    }

    /// An object listing its fields once, written by both [`Fields`] implementations.
    struct Sample<'a> {
        name: &'a str,
        codes: &'a [u16],
        none: Option<u32>,
        flag: bool,
    }

    impl Sample<'_> {
        fn fields(&self, f: &mut impl Fields) {
            f.entry(key!("name"), self.name);
            f.entry(key!("codes"), self.codes);
            f.entry(key!("none"), &self.none);
            f.entry(key!("flag"), &self.flag);
        }
    }

    impl Serialize for Sample<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut f = SerdeFields::new(s.serialize_map(None)?);
            self.fields(&mut f);
            f.end()
        }
    }

    #[test]
    fn objects_come_out_as_serde_json_writes_them() {
        let sample = Sample {
            name: "tab\there",
            codes: &[1, 2, 65535],
            none: None,
            flag: true,
        };
        let mut fast = b"[".to_vec();
        object(&mut fast, |o| sample.fields(o));
        fast.push(b',');
        object(&mut fast, |_| {});
        fast.push(b',');
        let written = Written::new(|o| sample.fields(o));
        object(&mut fast, |o| {
            o.append(&written);
            o.object(key!("inner"), |o| o.field(key!("x"), &1_u8));
            o.field_with(key!("raw"), |out| {
                array(out, [1_u8, 2], |out, v| v.write_json(out))
            });
        });
        fast.push(b']');
        let fields = r#""name":"tab\there","codes":[1,2,65535],"none":null,"flag":true"#;
        let reference =
            format!(r#"[{{{fields}}},{{}},{{{fields},"inner":{{"x":1}},"raw":[1,2]}}]"#);
        assert_eq!(String::from_utf8(fast).unwrap(), reference);
        // The serde side, compact and pretty, as a derived struct would write it.
        #[derive(Serialize)]
        struct Derived<'a> {
            name: &'a str,
            codes: &'a [u16],
            none: Option<u32>,
            flag: bool,
        }
        let derived = Derived {
            name: sample.name,
            codes: sample.codes,
            none: sample.none,
            flag: sample.flag,
        };
        assert_eq!(
            serde_json::to_string(&sample).unwrap(),
            serde_json::to_string(&derived).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&sample).unwrap(),
            serde_json::to_string_pretty(&derived).unwrap()
        );
    }

    #[test]
    fn keys_that_would_need_escaping_are_refused() {
        assert_eq!(key!("sni").json, ",\"sni\":");
        assert_eq!(key!("sni").name, "sni");
        for bad in ["a\"b", "a\\b", "a\nb"] {
            assert!(
                std::panic::catch_unwind(|| Key::new(bad, "")).is_err(),
                "{bad:?}"
            );
        }
    }
}
