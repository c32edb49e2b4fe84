//! Tests of `json`.

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
    let reference = format!(r#"[{{{fields}}},{{}},{{{fields},"inner":{{"x":1}},"raw":[1,2]}}]"#);
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
