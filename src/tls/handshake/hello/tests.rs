//! Fixtures are handshake message bodies cut out of the public captures in
//! `/work/shared/captures/real` (named after them); expected values come from the
//! peers' facts in `expected/*.json` (tshark's ja3/ja3s, Suricata's ja4).
use super::*;
use crate::tls::handshake::{Carrier, fingerprint};

// The parsers with the fingerprints the handshake layer adds over TCP, so that both are
// checked against the peers' values.

fn parse_client_hello(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut h = super::parse_client_hello(body)?;
    fingerprint::fill_client(&mut h, Carrier::Tcp);
    Ok(h)
}

fn parse_sslv2_client_hello(msg: &[u8]) -> Result<ClientHello, HelloError> {
    let mut h = super::parse_sslv2_client_hello(msg)?;
    fingerprint::fill_client(&mut h, Carrier::Tcp);
    Ok(h)
}

fn parse_server_hello(body: &[u8], handshake_type: u8) -> Result<ServerHello, HelloError> {
    let mut h = super::parse_server_hello(body, handshake_type)?;
    fingerprint::fill_server(&mut h, Carrier::Tcp);
    Ok(h)
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tls/",
            $name
        ))
        .as_slice()
    };
}

/// sv__ja4-rules: Chrome TLS 1.3 ClientHello with GREASE.
const CH_TLS13_GREASE: &[u8] = fixture!("ch_tls13_grease.bin");
/// zeek__chrome-34-google: TLS 1.2 ClientHello with NPN/ALPN.
const CH_TLS12: &[u8] = fixture!("ch_tls12_chrome34.bin");
/// zeek__tls13draft16-chrome55: draft-era hello, key_share as extension 40.
const CH_DRAFT: &[u8] = fixture!("ch_draft_chrome55.bin");
/// sv__tls-pre-1970: TLS 1.0 ClientHello with two extensions.
const CH_TLS10: &[u8] = fixture!("ch_no_ext_pre1970.bin");
/// sv__sslv2-tls-upgrade-01: SSLv2 CLIENT-HELLO offering TLS 1.0.
const SSLV2_CH: &[u8] = fixture!("sslv2_ch.bin");

#[test]
fn tls13_client_hello_with_grease() {
    let h = parse_client_hello(CH_TLS13_GREASE).unwrap();
    assert_eq!(h.legacy_version, 0x0303);
    assert_eq!(h.session_id_len, 32);
    assert_eq!(h.cipher_suites.len(), 16);
    assert_eq!(h.cipher_suites[0], 0xbaba, "GREASE kept in wire order");
    assert_eq!(
        h.extensions[..],
        [
            2570, 0, 23, 65281, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 35466, 21
        ]
    );
    assert_eq!(h.supported_versions[..], [0x3a3a, 0x0304, 0x0303]);
    assert_eq!(h.sni.as_deref(), Some("cloudflare-quic.com"));
    assert_eq!(h.alpn, ["h2", "http/1.1"]);
    assert_eq!(h.session_ticket_len, Some(0));
    assert_eq!(h.psk_modes[..], [1]);
    assert_eq!(h.key_share_groups.len(), 2);
    assert!(crate::tls::names::is_grease(h.key_share_groups[0]));
    assert!(h.renegotiation_info);
    assert!(!h.ech && !h.early_data && h.psk_identities.is_none());
    assert!(h.malformed_extensions.is_empty());
    assert_eq!(&*h.ja3, "cd08e31494f9531f560d64c695473da9");
    assert_eq!(&*h.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

#[test]
fn tls12_client_hello() {
    let h = parse_client_hello(CH_TLS12).unwrap();
    assert_eq!(h.cipher_suites.len(), 20);
    assert_eq!(
        h.extensions[..],
        [0, 65281, 10, 11, 35, 13172, 16, 30032, 5, 13, 18]
    );
    assert_eq!(h.sni.as_deref(), Some("google.de"));
    assert_eq!(h.alpn, ["spdy/3", "spdy/3.1", "http/1.1"]);
    assert_eq!(h.groups[..], [23, 24, 25]);
    assert_eq!(h.ec_point_formats[..], [0]);
    assert!(h.supported_versions.is_empty());
    assert_eq!(&*h.ja3, "a607f3a5c94c2ee592af1456f36c8367");
    assert!(h.ja3_string.starts_with("771,"));
}

/// tls-parser agrees on the framing of well-formed hellos: same suites, same extension
/// types in the same order; except that it reports every GREASE extension as 0xfafa,
/// where the wire (and tshark) has the real value: one reason the types are walked here.
#[test]
fn agrees_with_tls_parser() {
    use tls_parser::{TlsExtensionType, TlsMessage, TlsMessageHandshake};
    for body in [CH_TLS13_GREASE, CH_TLS12, CH_DRAFT, CH_TLS10] {
        let mut msg = vec![1, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(body);
        let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(theirs)))) =
            tls_parser::parse_tls_message_handshake(&msg)
        else {
            panic!("tls-parser rejected a real ClientHello");
        };
        let ours = parse_client_hello(body).unwrap();
        let suites: Vec<u16> = theirs.ciphers.iter().map(|c| c.0).collect();
        assert_eq!(ours.cipher_suites[..], suites);
        let (_, exts) =
            tls_parser::parse_tls_client_hello_extensions(theirs.ext.unwrap_or(&[])).unwrap();
        let types: Vec<u16> = exts.iter().map(|e| TlsExtensionType::from(e).0).collect();
        let normalised: Vec<u16> = ours
            .extensions
            .iter()
            .map(|&t| {
                if crate::tls::names::is_grease(t) {
                    0xfafa
                } else {
                    t
                }
            })
            .collect();
        assert_eq!(normalised, types);
    }
}

#[test]
fn draft_client_hello_reads_draft_key_share() {
    let h = parse_client_hello(CH_DRAFT).unwrap();
    assert_eq!(
        h.supported_versions[..],
        [0x0a0a, 0x7f0e, 0x0303, 0x0302, 0x0301]
    );
    assert_eq!(h.sni, None);
    assert!(h.key_share_groups.contains(&29));
    assert_eq!(&*h.ja3, "1bbe072c914653f5696401459ca0f9b8");
}

#[test]
fn tls10_client_hello() {
    let h = parse_client_hello(CH_TLS10).unwrap();
    assert_eq!(h.legacy_version, 0x0301);
    assert_eq!(h.extensions[..], [0, 35]);
    assert_eq!(h.sni.as_deref(), Some("fkp.samsungcloudsolution.com"));
    assert_eq!(&*h.ja3, "f271b89dfd3fc1647182ed19a5c37285");
}

/// Offset of the extensions block in a ClientHello body.
fn client_extensions_offset(body: &[u8]) -> usize {
    let sid = 35 + usize::from(body[34]);
    let ciphers = sid + 2 + usize::from(u16::from_be_bytes([body[sid], body[sid + 1]]));
    ciphers + 1 + usize::from(body[ciphers])
}

#[test]
fn client_hello_without_extensions_block() {
    let cut = client_extensions_offset(CH_TLS10);
    let h = parse_client_hello(&CH_TLS10[..cut]).unwrap();
    assert!(h.extensions.is_empty() && h.sni.is_none());
    assert_eq!(h.cipher_suites.len(), 5);
    assert_eq!(*h.ja3_string, format!("769,{},,,", ja3_ciphers(&h)));
}

fn ja3_ciphers(h: &ClientHello) -> String {
    let v: Vec<String> = h.cipher_suites.iter().map(u16::to_string).collect();
    v.join("-")
}

#[test]
fn malformed_extension_body_keeps_type_list() {
    let mut body = CH_TLS12.to_vec();
    // Corrupt the ALPN list length (ext 16) so that the body no longer decodes.
    let mut pos = client_extensions_offset(CH_TLS12) + 2;
    let mut block = &CH_TLS12[pos..];
    loop {
        let (rest, (typ, ext)) = extension(block).unwrap();
        if typ == 16 {
            body[pos + 4] = 0xff;
            break;
        }
        block = rest;
        pos += 4 + ext.len();
    }
    let h = parse_client_hello(&body).unwrap();
    assert_eq!(
        h.extensions[..],
        [0, 65281, 10, 11, 35, 13172, 16, 30032, 5, 13, 18]
    );
    assert_eq!(h.malformed_extensions[..], [16]);
    assert!(h.alpn.is_empty());
    assert_eq!(&*h.ja3, "a607f3a5c94c2ee592af1456f36c8367");
}

/// A host name that is not UTF-8 is kept, its bad bytes replaced (as `from_utf8_lossy` does);
/// a valid one is kept as sent.
#[test]
fn server_name_that_is_not_utf8_is_kept_lossily() {
    use crate::dtls::test_wire::ClientHelloSpec;
    let spec = ClientHelloSpec {
        sni: b"bad\xffname.test".to_vec(),
        ..ClientHelloSpec::default()
    };
    let h = parse_client_hello_as(&spec.body(), HelloFormat::Dtls).unwrap();
    assert_eq!(h.sni.as_deref(), Some("bad\u{fffd}name.test"));
    let spec = ClientHelloSpec {
        sni: "b\u{fc}cher.test".as_bytes().to_vec(),
        ..ClientHelloSpec::default()
    };
    let h = parse_client_hello_as(&spec.body(), HelloFormat::Dtls).unwrap();
    assert_eq!(h.sni.as_deref(), Some("b\u{fc}cher.test"));
}

/// DTLS: the cookie after the session id is read and its length kept; the connection_id
/// extension is decoded in both hellos; a TLS hello has no cookie.
#[test]
fn dtls_client_hello_with_cookie_and_connection_id() {
    use crate::dtls::test_wire::{ClientHelloSpec, ServerHelloSpec};
    let spec = ClientHelloSpec {
        cookie: vec![0xab; 20],
        cid: Some(vec![1, 2, 3]),
        ..ClientHelloSpec::default()
    };
    let h = parse_client_hello_as(&spec.body(), HelloFormat::Dtls).unwrap();
    assert_eq!(h.legacy_version, 0xfefd);
    assert_eq!(h.cookie_len, Some(20));
    assert_eq!(h.cipher_suites[..], [0xc02f, 0xc030]);
    assert_eq!(h.sni.as_deref(), Some("example.com"));
    assert_eq!(h.extensions[..], [0, 10, 54]);
    assert_eq!(h.connection_id.as_deref(), Some(&[1, 2, 3][..]));
    assert_eq!(parse_client_hello(CH_TLS12).unwrap().cookie_len, None);
    let sh = ServerHelloSpec {
        cid: Some(vec![9; 8]),
        ..ServerHelloSpec::default()
    };
    let sh = parse_server_hello(&sh.body(), 2).unwrap();
    assert_eq!(sh.connection_id.as_deref(), Some(&[9; 8][..]));
}

#[test]
fn sslv2_client_hello() {
    let h = parse_sslv2_client_hello(SSLV2_CH).unwrap();
    assert!(h.sslv2_format);
    assert_eq!(h.legacy_version, 0x0301);
    assert_eq!(
        h.sslv2_ciphers[..],
        [0x010080, 0x030080, 0x0700c0, 0x060040, 0x020080, 0x040080]
    );
    assert_eq!(h.cipher_suites.len(), 20);
    assert_eq!(h.cipher_suites[..3], [0x39, 0x38, 0x35]);
    assert_eq!(h.session_id_len, 0);
    assert!(h.extensions.is_empty());
    assert!(h.ja3_string.starts_with("769,57-56-53-"));
    assert!(h.ja3_string.ends_with(",,,"));
    assert!(h.ja4.starts_with("t10i2000"), "{}", h.ja4);
}

#[test]
fn sslv2_rejects_other_messages_and_bad_lengths() {
    let mut server_hello = SSLV2_CH.to_vec();
    server_hello[0] = 4;
    assert!(matches!(
        parse_sslv2_client_hello(&server_hello),
        Err(HelloError::Malformed { .. })
    ));
    let mut odd = SSLV2_CH.to_vec();
    odd[4] = 0x4d; // cipher_spec_length 77
    assert!(parse_sslv2_client_hello(&odd).is_err());
}

#[test]
fn tls13_server_hello() {
    let h = parse_server_hello(fixture!("sh_tls13.bin"), 2).unwrap();
    assert!(!h.hrr);
    assert_eq!(
        (h.legacy_version, h.version, h.cipher),
        (0x0303, 0x0304, 0x1301)
    );
    assert_eq!(h.extensions[..], [51, 43]);
    assert_eq!(h.session_id.len(), 32);
    assert_eq!(h.selected_group, Some(29));
    assert_eq!(&*h.ja3s, "eb1d94daa7e0344597e756a1fb6e7054");
    assert_eq!(&*h.ja3s_string, "771,4865,51-43");
    assert!(h.ja4s.starts_with("t130200_1301_"), "{}", h.ja4s);
}

#[test]
fn tls12_server_hello() {
    let h = parse_server_hello(fixture!("sh_tls12_chrome34.bin"), 2).unwrap();
    assert_eq!((h.version, h.cipher), (0x0303, 0xc02f));
    assert_eq!(h.extensions[..], [0, 65281, 11, 35, 30032, 16]);
    assert_eq!(h.alpn.as_deref(), Some("spdy/3.1"));
    assert!(h.session_ticket && h.renegotiation_info);
    assert_eq!(h.selected_group, None);
    assert_eq!(&*h.ja3s, "9f5e2e0d84076af5475bbe44debdb03e");
    assert!(h.ja4s.starts_with("t1206s1_c02f_"), "{}", h.ja4s);
}

#[test]
fn hello_retry_request_then_server_hello() {
    let hrr = parse_server_hello(fixture!("sh_hrr.bin"), 2).unwrap();
    assert!(hrr.hrr);
    assert_eq!((hrr.version, hrr.cipher), (0x0304, 0x1302));
    assert!(hrr.selected_group.is_some());
    let sh = parse_server_hello(fixture!("sh_after_hrr.bin"), 2).unwrap();
    assert!(!sh.hrr);
    assert_eq!(sh.extensions[..], [43, 51]);
    assert_eq!(sh.selected_group, hrr.selected_group);
    assert_eq!(&*sh.ja3s, "15af977ce25de452b96affa2addb1036");
}

#[test]
fn psk_server_hello() {
    let h = parse_server_hello(fixture!("sh_tls13_psk.bin"), 2).unwrap();
    assert_eq!(h.extensions[..], [43, 51, 41]);
    assert_eq!(h.psk_selected, Some(0));
    assert_eq!(&*h.ja3s, "b4f2541b0a0b815edb08e1c3ffe8aad8");
}

/// Expected facts of one draft-era ServerHello fixture.
struct DraftCase {
    body: &'static [u8],
    legacy_version: u16,
    version: u16,
    cipher: u16,
    extensions: &'static [u16],
    hrr: bool,
    /// tshark's ja3s; `None` where the peers give none (HelloRetryRequest).
    ja3s: Option<&'static str>,
}

#[test]
fn draft_server_hellos() {
    let cases = [
        DraftCase {
            body: fixture!("sh_draft19.bin"),
            legacy_version: 0x7f13,
            version: 0x7f13,
            cipher: 0x1302,
            extensions: &[40],
            hrr: false,
            ja3s: Some("cd05e941742c0d4f628a68716ca021f9"),
        },
        DraftCase {
            body: fixture!("sh_draft_chrome55.bin"),
            legacy_version: 0x7f0e,
            version: 0x7f0e,
            cipher: 0xcca9,
            extensions: &[40],
            hrr: false,
            ja3s: Some("9ce213de238ed8aea57e81e02c0e4882"),
        },
        DraftCase {
            body: fixture!("sh_draft16_ff52.bin"),
            legacy_version: 0x7f10,
            version: 0x7f10,
            cipher: 0x1303,
            extensions: &[13, 40],
            hrr: false,
            ja3s: Some("ddc938d7dbdf21719feb5ed34c1d267d"),
        },
        DraftCase {
            body: fixture!("sh_draft22_hrr.bin"),
            legacy_version: 0x0303,
            version: 0x7f16,
            cipher: 0x1301,
            extensions: &[43, 40],
            hrr: true,
            ja3s: None,
        },
        DraftCase {
            body: fixture!("sh_draft22.bin"),
            legacy_version: 0x0303,
            version: 0x7f16,
            cipher: 0x1301,
            extensions: &[40, 43],
            hrr: false,
            ja3s: Some("d9f520f64c0731564298ee69133d59d2"),
        },
        DraftCase {
            body: fixture!("sh_draft28.bin"),
            legacy_version: 0x0303,
            version: 0x7f1c,
            cipher: 0x1302,
            extensions: &[43, 51],
            hrr: false,
            ja3s: Some("15af977ce25de452b96affa2addb1036"),
        },
    ];
    for case in cases {
        let h = parse_server_hello(case.body, 2).unwrap();
        assert_eq!(
            (h.legacy_version, h.version, h.cipher),
            (case.legacy_version, case.version, case.cipher)
        );
        assert_eq!(h.extensions[..], *case.extensions);
        assert_eq!(h.hrr, case.hrr);
        assert!(h.selected_group.is_some());
        if let Some(ja3s) = case.ja3s {
            assert_eq!(&*h.ja3s, ja3s);
        }
        if case.legacy_version >= 0x7f00 {
            assert!(h.session_id.is_empty());
        }
    }
}

#[test]
fn draft_type6_hello_retry_request() {
    // Draft 18: version, extensions (key_share naming x25519).
    let d18 = [0x7f, 0x12, 0x00, 0x06, 0x00, 0x28, 0x00, 0x02, 0x00, 0x1d];
    let h = parse_server_hello(&d18, 6).unwrap();
    assert!(h.hrr);
    assert_eq!(
        (h.version, h.cipher, h.selected_group),
        (0x7f12, 0, Some(0x1d))
    );
    // Draft 19+: version, cipher, extensions.
    let d19 = [
        0x7f, 0x13, 0x13, 0x01, 0x00, 0x06, 0x00, 0x28, 0x00, 0x02, 0x00, 0x17,
    ];
    let h = parse_server_hello(&d19, 6).unwrap();
    assert_eq!(
        (h.version, h.cipher, h.selected_group),
        (0x7f13, 0x1301, Some(0x17))
    );
}

/// Every strict prefix either fails or (cut exactly before an optional extensions
/// block) parses with no extensions; nothing panics.
fn assert_prefixes_fail<T>(body: &[u8], parse: impl Fn(&[u8]) -> Result<T, HelloError>)
where
    T: std::fmt::Debug,
{
    let mut ok = 0;
    for cut in 0..body.len() {
        if parse(&body[..cut]).is_ok() {
            ok += 1;
        }
    }
    assert!(ok <= 1, "{ok} prefixes parsed");
}

#[test]
fn truncated_hellos_are_errors() {
    for body in [CH_TLS13_GREASE, CH_TLS12, CH_DRAFT, CH_TLS10] {
        assert_prefixes_fail(body, parse_client_hello);
        let cut = client_extensions_offset(body);
        assert!(matches!(
            parse_client_hello(&body[..cut + 1]),
            Err(HelloError::Truncated {
                message: "ClientHello"
            })
        ));
    }
    for body in [
        fixture!("sh_tls13.bin"),
        fixture!("sh_tls12_chrome34.bin"),
        fixture!("sh_hrr.bin"),
        fixture!("sh_draft19.bin"),
        fixture!("sh_draft22.bin"),
        fixture!("sh_draft16_ff52.bin"),
    ] {
        assert_prefixes_fail(body, |b| parse_server_hello(b, 2));
    }
    for cut in 0..SSLV2_CH.len() {
        assert!(parse_sslv2_client_hello(&SSLV2_CH[..cut]).is_err());
    }
}

const CERTS_TLS12: &[u8] = fixture!("cert_tls12_google.bin");

#[test]
fn certificate_list_tls12() {
    let certs = parse_certificate_list(CERTS_TLS12, false).unwrap();
    assert_eq!(certs.len(), 3);
    assert_eq!(certs[0].len(), 1151);
    assert!(certs.iter().all(|c| c.first() == Some(&0x30)));
    for cut in 0..CERTS_TLS12.len() {
        assert!(parse_certificate_list(&CERTS_TLS12[..cut], false).is_err());
    }
}

#[test]
fn certificate_list_tls13() {
    let ders = parse_certificate_list(CERTS_TLS12, false).unwrap();
    let mut entries = Vec::new();
    for (i, der) in ders.iter().enumerate() {
        entries.extend_from_slice(&(der.len() as u32).to_be_bytes()[1..]);
        entries.extend_from_slice(der);
        // The leaf carries a 5-byte extension; the others none.
        let exts: &[u8] = if i == 0 {
            &[0, 5, 0, 5, 0, 1, 0]
        } else {
            &[0, 0]
        };
        entries.extend_from_slice(exts);
    }
    let mut body = vec![2, 0xaa, 0xbb];
    body.extend_from_slice(&(entries.len() as u32).to_be_bytes()[1..]);
    body.extend_from_slice(&entries);
    assert_eq!(parse_certificate_list(&body, true).unwrap(), ders);
    assert!(parse_certificate_list(&body, false).is_err());
    for cut in 0..body.len() {
        assert!(parse_certificate_list(&body[..cut], true).is_err());
    }
    assert_eq!(
        parse_certificate_list(&[0, 0, 0, 0], true).unwrap().len(),
        0
    );
}

#[test]
fn server_key_exchange_curve() {
    assert_eq!(
        parse_server_key_exchange_curve(fixture!("ske_ecdhe_google.bin")),
        Some(0x0017)
    );
    assert_eq!(parse_server_key_exchange_curve(&[1, 0, 0]), None);
    assert_eq!(parse_server_key_exchange_curve(&[3, 0]), None);
    assert_eq!(parse_server_key_exchange_curve(&[]), None);
}

#[test]
fn new_session_ticket() {
    let nst = fixture!("nst_google.bin");
    assert_eq!(parse_new_session_ticket(nst), Some((100_800, 212)));
    for cut in 0..nst.len() {
        assert_eq!(parse_new_session_ticket(&nst[..cut]), None);
    }
}

/// Issue #7 (a ClientHello with 10,000 extensions): the 2-byte extensions length bounds a
/// hello to 16,383 empty extensions; all are listed, nothing is truncated, and the
/// fingerprints still come out.
#[test]
fn largest_possible_extension_block_is_listed_in_full() {
    let n: u16 = 16_383;
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x11; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(n * 4).to_be_bytes());
    for i in 0..n {
        body.extend_from_slice(&(0x1000 + i).to_be_bytes());
        body.extend_from_slice(&[0, 0]);
    }
    let h = parse_client_hello(&body).expect("parses");
    assert_eq!(h.extensions.len(), usize::from(n));
    assert_eq!(h.extensions.last(), Some(&(0x1000 + n - 1)));
    assert!(h.malformed_extensions.is_empty());
    assert!(h.ja4.starts_with("t12i0199"), "{}", h.ja4);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(0u8..=255, 0..600)) {
        let _ = parse_client_hello(&bytes);
        let _ = parse_client_hello_as(&bytes, HelloFormat::Dtls);
        let _ = parse_sslv2_client_hello(&bytes);
        let _ = parse_server_hello(&bytes, 2);
        let _ = parse_server_hello(&bytes, 6);
        let _ = parse_certificate_list(&bytes, false);
        let _ = parse_certificate_list(&bytes, true);
        let _ = parse_server_key_exchange_curve(&bytes);
        let _ = parse_new_session_ticket(&bytes);
    }

    #[test]
    fn mutated_client_hello_never_panics(pos in 0usize..508, val in 0u8..=255) {
        let mut body = CH_TLS13_GREASE.to_vec();
        let n = body.len();
        body[pos % n] = val;
        let _ = parse_client_hello(&body);
    }
}

/// Regression (issue #20): every TLS 1.3 draft and experiment that tshark names gives its
/// negotiated version and cipher suite, in the ServerHello layout it used: drafts up to 21
/// carry the version in the body and have neither session id nor compression method; draft
/// 22 on, Google's experiments (BoringSSL writes 0x0303 and supported_versions for them) and
/// Facebook's drafts use the TLS 1.2 layout with supported_versions.
#[test]
fn every_draft_and_experiment_peers_name_gives_version_and_cipher() {
    let key_share = [0x00, 0x28, 0x00, 0x02, 0x00, 0x1d];
    let drafts = 0x7f0e..=0x7f1cu16;
    let others = [0x7e01, 0x7e02, 0x7e03, 0xfb17, 0xfb1a];
    for version in drafts.chain(others) {
        let cipher = 0x1301 + version % 3;
        let mut body = Vec::new();
        let early = (0x7f00..=0x7f15).contains(&version);
        body.extend_from_slice(&(if early { version } else { 0x0303 }).to_be_bytes());
        body.extend_from_slice(&[0x5a; 32]);
        if !early {
            body.extend_from_slice(&[32]);
            body.extend_from_slice(&[0x11; 32]);
        }
        body.extend_from_slice(&cipher.to_be_bytes());
        let mut extensions = key_share.to_vec();
        if !early {
            body.push(0);
            extensions.extend_from_slice(&[0x00, 0x2b, 0x00, 0x02]);
            extensions.extend_from_slice(&version.to_be_bytes());
        }
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let h = parse_server_hello(&body, 2).unwrap_or_else(|e| panic!("{version:#06x}: {e:?}"));
        assert_eq!((h.version, h.cipher), (version, cipher), "{version:#06x}");
        assert!(crate::tls::codes::ProtocolVersion(h.version).is_tls13());
        assert_eq!(h.session_id.is_empty(), early);
        assert_eq!(h.selected_group, Some(0x1d));
    }
}
