//! A compact JSON writer for the per-connection records. It writes the same bytes as
//! `serde_json::to_writer` (the tests below and the golden files compare them), but costs a
//! fraction of its instructions: serde_json scans every field name and string byte by byte
//! through its escape table and writes each piece with a separate call, which made record
//! writing a third of the instructions spent per connection. Here a string without anything to
//! escape (every field name, nearly every value) is checked with one vectorisable pass and
//! copied in one piece; everything else (numbers, escaping, shapes this writer does not know)
//! is left to serde_json itself, so the two cannot disagree.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Appends `value` as compact JSON to `out`, byte for byte what `serde_json::to_writer` gives.
pub(crate) fn append<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    if value.serialize(Writer { out: &mut *out }).is_err() {
        // A shape this writer leaves to serde_json (enum variants with data, non-string map
        // keys): start the value again there.
        out.truncate(start);
        // Serializing into a Vec cannot fail for the plain data the records hold.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

/// Writes `value` through serde_json's own serializer (numbers, booleans, escaped strings).
fn delegate<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Unsupported> {
    value
        .serialize(&mut serde_json::Serializer::new(out))
        .map_err(|_| Unsupported)
}

/// Whether `s` holds a byte serde_json escapes: a control character, the quote or the
/// backslash. Eight bytes at a time (the classic "has a byte less than / equal to" bit tricks):
/// most strings are a few dozen bytes, where a byte loop costs more than the copy.
fn needs_escape(s: &str) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let special = |chunk: &[u8]| {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        let quote = has_zero(x ^ (ONES * u64::from(b'"')));
        control || quote || has_zero(x ^ (ONES * u64::from(b'\\')))
    };
    let bytes = s.as_bytes();
    let Some(last) = bytes.len().checked_sub(8) else {
        return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    };
    // The last eight bytes as one more word (overlapping the chunks is harmless for a yes/no
    // question), instead of a byte loop over the remainder.
    bytes.chunks_exact(8).any(special) || bytes.get(last..).is_some_and(special)
}

/// Appends the contents of a JSON string (without quotes), escaped as serde_json does.
fn push_contents(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let start = out.len();
    // serde_json writes `"…"`: keep its escaping, drop its quotes.
    let _ = serde_json::to_writer(&mut *out, s);
    out.pop();
    out.remove(start);
}

/// `"00"` to `"99"`: two digits per table look-up.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// Appends `v` in decimal, as serde_json writes it. Codepoint lists (cipher suites,
/// extensions, groups, signature algorithms) are ~80 such numbers per record; through
/// serde_json each cost a formatting call and a `memcpy` call. Here the five possible digits
/// are built in one word, the leading zeros shifted out, and the word appended whole (a
/// fixed-size copy the compiler turns into one store) before the length is cut back.
fn push_u16(out: &mut Vec<u8>, v: u16) {
    let len = match v {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1_000..=9_999 => 4,
        _ => 5,
    };
    let rest = usize::from(v % 10_000);
    let [a, b] = PAIRS[rest / 100];
    let [c, d] = PAIRS[rest % 100];
    // `v / 10_000` is at most 6.
    let word = u64::from_le_bytes([b'0' + (v / 10_000) as u8, a, b, c, d, 0, 0, 0]);
    out.extend_from_slice(&(word >> (8 * (5 - len))).to_le_bytes());
    out.truncate(out.len() - (8 - len));
}

/// Appends a JSON string.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_contents(out, s);
    out.push(b'"');
}

/// The error of a shape [`append`] hands over to serde_json.
#[derive(Debug)]
struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

/// Serializes one value into the output buffer.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

/// An array, object or map being written; `first` says no comma is due yet.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: u8,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: u8, close: u8) -> Self {
        out.push(open);
        Compound {
            out,
            first: true,
            close,
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.comma();
        value.serialize(Writer { out: self.out })
    }

    fn close(self) -> Result<(), Unsupported> {
        self.out.push(self.close);
        Ok(())
    }
}

macro_rules! delegate_primitives {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), Unsupported> {
            delegate(self.out, &v)
        })*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    delegate_primitives! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char,
    }

    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        push_u16(self.out, v.into());
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        push_u16(self.out, v);
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        push_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        delegate(self.out, v)
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        Err(Unsupported)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        Ok(Compound::open(self.out, b'[', b']'))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        Ok(Compound::open(self.out, b'{', b'}'))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
        Ok(Compound::open(self.out, b'{', b'}'))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        /// Escapes each piece `Display` writes straight into the output.
        struct Contents<'b>(&'b mut Vec<u8>);
        impl fmt::Write for Contents<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                push_contents(self.0, s);
                Ok(())
            }
        }
        self.out.push(b'"');
        fmt::write(&mut Contents(&mut *self.out), format_args!("{value}"))
            .map_err(|_| Unsupported)?;
        self.out.push(b'"');
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        let start = self.out.len();
        self.element(key)?;
        // serde_json quotes numbers and other keys; only string keys are written here.
        if self.out.get(start..).is_some_and(|k| k.ends_with(b"\"")) {
            Ok(())
        } else {
            Err(Unsupported)
        }
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.out.push(b':');
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.comma();
        // Field names are Rust identifiers or `rename`s in this crate: nothing to escape, so
        // they are copied without the scan.
        debug_assert!(!needs_escape(key), "field name {key:?} needs escaping");
        self.out.push(b'"');
        // A byte loop, not `extend_from_slice`: names are short and a `memcpy` call costs more.
        self.out.extend(key.bytes());
        self.out.extend_from_slice(b"\":");
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn both<T: Serialize + ?Sized>(value: &T) -> (String, String) {
        let mut fast = b"prefix ".to_vec();
        append(&mut fast, value);
        let reference = format!("prefix {}", serde_json::to_string(value).unwrap());
        (String::from_utf8(fast).unwrap(), reference)
    }

    #[derive(Serialize)]
    struct Inner<'a> {
        name: &'a str,
        list: &'a [u16],
        empty: Vec<u8>,
        none: Option<u32>,
        some: Option<i64>,
        flag: bool,
        ratio: f64,
    }

    #[derive(Serialize)]
    struct Outer<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        inner: Inner<'a>,
        items: Vec<Inner<'a>>,
        map: BTreeMap<&'static str, u64>,
        empty_map: BTreeMap<&'static str, u64>,
        ip: std::net::IpAddr,
        tuple: (u8, &'a str),
    }

    fn inner(name: &str) -> Inner<'_> {
        Inner {
            name,
            list: &[0, 1, 65535],
            empty: Vec::new(),
            none: None,
            some: Some(-42),
            flag: true,
            ratio: 0.25,
        }
    }

    #[test]
    fn records_come_out_as_serde_json_writes_them() {
        let record = Outer {
            kind: "connection",
            inner: inner("plain.example"),
            items: vec![
                inner("quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f}"),
                inner("non-ASCII: é 中 🔒, control \u{1f}"),
                inner(""),
            ],
            map: [("b_anomaly", 2), ("a\"odd", 1)].into_iter().collect(),
            empty_map: BTreeMap::new(),
            ip: "2001:db8::1".parse().unwrap(),
            tuple: (7, "x"),
        };
        let (fast, reference) = both(&record);
        assert_eq!(fast, reference);
    }

    #[test]
    fn integers_come_out_as_serde_json_writes_them() {
        let mut small: Vec<u16> = (0..=u16::MAX).step_by(7).collect();
        small.extend([0, 9, 10, 99, 100, 999, 1000, 9999, 10_000, u16::MAX]);
        let (fast, reference) = both(&small);
        assert_eq!(fast, reference);
        let bytes: Vec<u8> = (0..=u8::MAX).collect();
        let (fast, reference) = both(&bytes);
        assert_eq!(fast, reference);
        let mut wide = vec![0_u64, 1, 9, 10, u64::MAX, u64::MAX / 10, 1 << 32];
        wide.extend(
            (0..64)
                .map(|i| 1_u64 << i)
                .chain((0..20).map(|i| 10_u64.pow(i))),
        );
        wide.extend((0..20).map(|i| 10_u64.pow(i) - 1));
        let (fast, reference) = both(&wide);
        assert_eq!(fast, reference);
        let narrow: Vec<u32> = vec![0, 7, 65_536, 4_294_967_295, 1_000_000];
        let (fast, reference) = both(&narrow);
        assert_eq!(fast, reference);
    }

    #[test]
    fn escapes_are_found_at_every_offset() {
        for special in ["\"", "\\", "\n", "\u{0}", "\u{1f}"] {
            for at in 0..20 {
                let s = format!("{}{special}{}", "a".repeat(at), "é".repeat(3));
                assert!(needs_escape(&s), "{s:?}");
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
    }

    #[test]
    fn display_values_are_escaped_like_serde_json() {
        struct Shown;
        impl Serialize for Shown {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("a\"b{}c\\", '\n'))
            }
        }
        let (fast, reference) = both(&[Shown, Shown]);
        assert_eq!(fast, reference);
    }

    #[test]
    fn shapes_left_to_serde_json_still_come_out_right() {
        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(u8, u8),
            Struct { a: u8 },
        }
        let numbered: BTreeMap<u32, &str> = [(1, "one"), (2, "two")].into_iter().collect();
        let (fast, reference) = both(&numbered);
        assert_eq!(fast, reference);
        let shapes = [
            Shape::Unit,
            Shape::Newtype(1),
            Shape::Tuple(1, 2),
            Shape::Struct { a: 3 },
        ];
        let (fast, reference) = both(&shapes);
        assert_eq!(fast, reference);
    }
}
