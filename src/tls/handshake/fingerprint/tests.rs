//! Reference values are the worked examples of the FoxIO JA4 specification and the
//! Salesforce JA3 definition; end-to-end values on real hellos are tested in `hello`.
use super::*;
use smallvec::smallvec;

fn sha256_12(s: &str) -> String {
    let mut out = String::new();
    push_sha256_12(&mut out, s);
    out
}

fn hex_list(values: &[u16]) -> String {
    let mut out = String::new();
    push_hex_list(&mut out, values);
    out
}

fn alpn(protocol: &[u8]) -> String {
    ja4_alpn_chars(ja4_alpn(protocol)).iter().collect()
}

#[test]
fn memoised_fingerprints_equal_fresh_ones_for_every_input_field() {
    let base = ClientHello {
        legacy_version: 0x0303,
        cipher_suites: smallvec![0x1301, 0xc02f, 0x0a0a],
        extensions: smallvec![0x0000, 0x0010, 0x000d, 0x002b],
        groups: smallvec![0x001d],
        ec_point_formats: smallvec![0],
        supported_versions: smallvec![0x0304, 0x0303],
        sig_algs: smallvec![0x0403],
        alpn: vec!["h2".into(), "http/1.1".into()],
        ja4_alpn: Some(*b"h2"),
        ..ClientHello::default()
    };
    let variants: [fn(&mut ClientHello); 9] = [
        |_| {},
        |h| h.legacy_version = 0x0301,
        |h| h.cipher_suites.push(0x002f),
        |h| h.extensions.swap(2, 3),
        |h| h.groups.push(0x0017),
        |h| h.ec_point_formats.push(1),
        |h| h.supported_versions.clear(),
        |h| h.sig_algs.push(0x0804),
        |h| h.ja4_alpn = Some(*b"h1"),
    ];
    // Twice round: the second pass is answered from the memo.
    for _ in 0..2 {
        for change in variants {
            let mut h = base.clone();
            change(&mut h);
            fill_client(&mut h, Carrier::Tcp);
            let (ja3_string, ja3) = ja3(&h);
            assert_eq!(
                (&*h.ja3_string, &*h.ja3, &*h.ja4),
                (&*ja3_string, &*ja3, &*ja4(&h, Carrier::Tcp))
            );
        }
    }
    let server = ServerHello {
        legacy_version: 0x0303,
        version: 0x0304,
        cipher: 0x1301,
        extensions: smallvec![0x002b, 0x0033],
        alpn: Some("h2".into()),
        ja4_alpn: Some(*b"h2"),
        ..ServerHello::default()
    };
    let server_variants: [fn(&mut ServerHello); 6] = [
        |_| {},
        |h| h.legacy_version = 0x0301,
        |h| h.version = 0x0303,
        |h| h.cipher = 0x1302,
        |h| h.extensions.reverse(),
        |h| h.ja4_alpn = None,
    ];
    for _ in 0..2 {
        for change in server_variants {
            let mut h = server.clone();
            change(&mut h);
            fill_server(&mut h, Carrier::Tcp);
            let (ja3s_string, ja3s) = ja3s(&h);
            assert_eq!(
                (&*h.ja3s_string, &*h.ja3s, &*h.ja4s),
                (&*ja3s_string, &*ja3s, &*ja4s(&h, Carrier::Tcp))
            );
        }
    }
}

#[test]
fn memo_is_emptied_when_full() {
    let mut memo = Memo::default();
    let value = || [String::from("a"), String::new(), String::new()];
    for i in 0..MEMO_ENTRIES + 10 {
        memo.get(|k| k.extend_from_slice(&i.to_le_bytes()), value);
    }
    assert_eq!(memo.map.len(), 10);
    memo.get(|k| k.resize(MEMO_BYTES, 1), value);
    assert_eq!(
        memo.map.len(),
        1,
        "a key of the whole byte budget empties the rest"
    );
    assert_eq!(memo.map.bytes(), MEMO_BYTES);
}

#[test]
fn decimal_and_hex_formatting_match_core_fmt() {
    for v in [0u16, 7, 10, 99, 100, 771, 4865, 9999, 10000, 65535] {
        let mut s = String::new();
        push_dec(&mut s, v);
        assert_eq!(s, v.to_string());
        s.clear();
        push_hex4(&mut s, v);
        assert_eq!(s, format!("{v:04x}"));
    }
    let mut s = String::new();
    push_ja4_count(&mut s, 7);
    push_ja4_count(&mut s, 250);
    assert_eq!(s, "0799");
}

#[test]
fn grease_values() {
    let grease: Vec<u16> = (0..16).map(|i| 0x0a0a + i * 0x1010).collect();
    assert!(grease.iter().all(|&v| is_grease(v)));
    assert_eq!(grease.last(), Some(&0xfafa));
    for v in [0x0a0b, 0x1a0a, 0x0000, 0x1301, 0xaaab, 0xfe0d] {
        assert!(!is_grease(v), "{v:#06x}");
    }
}

#[test]
fn ja4_spec_hashes() {
    let ciphers = [
        0x002f, 0x0035, 0x009c, 0x009d, 0x1301, 0x1302, 0x1303, 0xc013, 0xc014, 0xc02b, 0xc02c,
        0xc02f, 0xc030, 0xcca8, 0xcca9,
    ];
    assert_eq!(sha256_12(&hex_list(&ciphers)), "8daaf6152771");
    let exts = [
        0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d,
        0x0033, 0x4469, 0xff01,
    ];
    assert_eq!(sha256_12(&hex_list(&exts)), "6d807ffa2a79");
}

/// The specification's example hello, GREASE added.
fn spec_hello() -> ClientHello {
    ClientHello {
        legacy_version: 0x0303,
        supported_versions: smallvec![0x2a2a, 0x0304, 0x0303],
        cipher_suites: smallvec![
            0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ],
        extensions: smallvec![
            0x4a4a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
            0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ],
        sig_algs: smallvec![
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ],
        alpn: vec!["h2".into(), "http/1.1".into()],
        ja4_alpn: Some(*b"h2"),
        groups: smallvec![0x5a5a, 29, 23, 24],
        ec_point_formats: smallvec![0],
        ..ClientHello::default()
    }
}

#[test]
fn ja4_of_spec_example() {
    let mut h = spec_hello();
    assert_eq!(
        ja4(&h, Carrier::Tcp),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    h.sig_algs.clear();
    assert_eq!(
        ja4(&h, Carrier::Tcp),
        "t13d1516h2_8daaf6152771_6d807ffa2a79"
    );
}

#[test]
fn ja4_edge_cases() {
    let mut h = ClientHello {
        legacy_version: 0x0301,
        ..ClientHello::default()
    };
    assert_eq!(
        ja4(&h, Carrier::Tcp),
        "t10i000000_000000000000_000000000000"
    );
    h.legacy_version = 0x0300;
    h.extensions = smallvec![0x0000, 0x0010];
    h.ja4_alpn = ja4_alpn(b"\x01x");
    assert_eq!(
        ja4(&h, Carrier::Tcp),
        "ts3d000208_000000000000_000000000000"
    );
    h.legacy_version = 0x7f12;
    h.cipher_suites = (1..=120).collect();
    assert!(ja4(&h, Carrier::Tcp).starts_with("t00d9902"));
}

#[test]
fn ja4_alpn_rules() {
    assert_eq!(alpn(b""), "00");
    assert_eq!(alpn(b"http/1.1"), "h1");
    assert_eq!(alpn(b"h2"), "h2");
    assert_eq!(alpn(b"x"), "xx");
    // Either end not alphanumeric: high nibble of the first byte, low of the last.
    assert_eq!(alpn(b"h2/"), "6f", "hex of 'h2/' is 68322f");
    assert_eq!(alpn(b"\x01x"), "08");
}

/// Regression (issue #20): FoxIO's published examples for an ALPN whose first or last byte
/// is not alphanumeric (technical_details/JA4.md). The bytes used to go through a text form
/// that replaced non-UTF-8 bytes with U+FFFD (EF BF BD), so 0xAB 0xCD came out as "ed".
#[test]
fn ja4_alpn_of_bytes_that_are_not_text_follows_foxio_examples() {
    assert_eq!(alpn(&[0xab]), "ab");
    assert_eq!(alpn(&[0xab, 0xcd]), "ad");
    assert_eq!(alpn(&[0x30, 0xab]), "3b");
    assert_eq!(alpn(&[0x30, 0x31, 0xab, 0xcd]), "3d");
    assert_eq!(alpn(&[0x30, 0xab, 0xcd, 0x31]), "01");
    // Through the parser: a ClientHello offering [0xab 0xcd] then h2.
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let alpn_ext = [
        0x00, 0x10, 0x00, 0x08, 0x00, 0x06, 0x02, 0xab, 0xcd, 0x02, b'h', b'2',
    ];
    body.extend_from_slice(&(alpn_ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&alpn_ext);
    let mut h = crate::tls::handshake::hello::parse_client_hello(&body).expect("ClientHello");
    fill_client(&mut h, Carrier::Tcp);
    assert_eq!(&h.ja4[..10], "t12i0101ad");
    assert_eq!(h.alpn[1], "h2");
}

#[test]
fn ja3_removes_grease_everywhere() {
    let (s, md5) = ja3(&spec_hello());
    assert_eq!(
        s,
        "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
         27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
    );
    assert_eq!(md5.len(), 32);
    assert_eq!(md5, hex::encode(Md5::digest(s.as_bytes())));
}

#[test]
fn ja3s_and_ja4s() {
    let sh = ServerHello {
        legacy_version: 0x0303,
        version: 0x0304,
        cipher: 0x1301,
        extensions: smallvec![51, 43],
        ..ServerHello::default()
    };
    let (s, md5) = ja3s(&sh);
    assert_eq!(s, "771,4865,51-43");
    // tshark's ja3s for this ServerHello (sv__ja4-rules).
    assert_eq!(md5, "eb1d94daa7e0344597e756a1fb6e7054");
    assert_eq!(
        ja4s(&sh, Carrier::Tcp),
        format!("t130200_1301_{}", sha256_12("0033,002b"))
    );
    let bare = ServerHello {
        legacy_version: 0x0300,
        version: 0x0300,
        cipher: 0x000a,
        ..ServerHello::default()
    };
    assert_eq!(ja4s(&bare, Carrier::Tcp), "ts30000_000a_000000000000");
}

/// FoxIO's published JA4S example (technical_details/JA4S.md): a TLS 1.2 ServerHello choosing
/// c030 with extensions 0005, 0017, ff01, 0000 and no ALPN.
#[test]
fn ja4s_of_foxio_example() {
    let sh = ServerHello {
        legacy_version: 0x0303,
        version: 0x0303,
        cipher: 0xc030,
        extensions: smallvec![0x0005, 0x0017, 0xff01, 0x0000],
        ..ServerHello::default()
    };
    assert_eq!(ja4s(&sh, Carrier::Tcp), "t120400_c030_4e8089b08790");
}
