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
mod tests;
