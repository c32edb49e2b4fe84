//! The record-decryption path: one connection's key state machine (`ConnectionKeys`) fed a
//! ClientHello whose client random has secrets in the key log, a ServerHello choosing the
//! version and suite that byte 0 picks, then arbitrary events: handshake messages (which move
//! keys: Finished, EndOfEarlyData, KeyUpdate, a renegotiating ClientHello), ChangeCipherSpecs,
//! and records to open. Also CompressedCertificate bodies.
//!
//! Input: byte 0 picks the (version, suite); then events, each `kind (1) | len (2, BE) | data`:
//! kind % 6 = 0/1 a handshake message from the client/server (data[0] = type, rest = body),
//! 2 a ChangeCipherSpec (data[0] & 1 = sender), 3/4 a record from the client/server (data[0] =
//! content type, rest = body), 5 a CompressedCertificate body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tlsight::keylog::{ClientRandom, ConnectionSecrets, KeyLog};
use tlsight::tls::compressed_cert::decompress_certificate;
use tlsight::tls::decrypt::ConnectionKeys;
use tlsight::tls::decrypt::connection::{SecretSource, Sender};

/// (version, suite) pairs byte 0 chooses from: every supported kind of protection.
const SUITES: [(u16, u16); 12] = [
    (0x0304, 0x1301),
    (0x0304, 0x1302),
    (0x0304, 0x1303),
    (0x0304, 0x1304),
    (0x0304, 0x1305),
    (0x0303, 0xc02f),
    (0x0303, 0xc030),
    (0x0303, 0xcca8),
    (0x0303, 0xc0ac),
    (0x0303, 0xc028),
    (0x0302, 0xc014),
    (0x0301, 0xc013),
];

const RANDOM: [u8; 32] = [0x42; 32];

fn client_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&RANDOM);
    b.push(0); // session id
    b.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]); // one suite, null compression
    // extensions: supported_versions (TLS 1.3, 1.2), early_data
    let exts = [0, 43, 0, 5, 4, 3, 4, 3, 3, 0, 42, 0, 0];
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend_from_slice(&exts);
    b
}

fn server_hello(version: u16, cipher: u16, etm: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x24; 32]);
    b.push(0);
    b.extend_from_slice(&cipher.to_be_bytes());
    b.push(0);
    let mut exts = Vec::new();
    if version == 0x0304 {
        exts.extend_from_slice(&[0, 43, 0, 2, 3, 4]);
    }
    if etm {
        exts.extend_from_slice(&[0, 22, 0, 0]);
    }
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend_from_slice(&exts);
    if version != 0x0304 {
        b[0..2].copy_from_slice(&version.to_be_bytes());
    }
    b
}

/// Hands out a copy of one connection's secrets for any client random (read once from key log
/// text, so every run does not parse it again).
struct Fixed;

impl SecretSource for Fixed {
    fn take(&mut self, _: &ClientRandom) -> Option<ConnectionSecrets> {
        static SECRETS: OnceLock<Option<ConnectionSecrets>> = OnceLock::new();
        SECRETS.get_or_init(|| key_log().take(&RANDOM)).clone()
    }
}

fn key_log() -> KeyLog {
    let r = hex(&RANDOM);
    let mut text = format!("CLIENT_RANDOM {r} {}\n", "11".repeat(48));
    for (label, byte) in [
        ("CLIENT_EARLY_TRAFFIC_SECRET", "22"),
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "33"),
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "44"),
        ("CLIENT_TRAFFIC_SECRET_0", "55"),
        ("SERVER_TRAFFIC_SECRET_0", "66"),
    ] {
        text += &format!("{label} {r} {}\n", byte.repeat(32));
    }
    let mut keys = KeyLog::default();
    keys.add_text("fuzz", text.as_bytes());
    keys
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let (version, cipher) = SUITES[usize::from(pick) % SUITES.len()];
    let mut source = Fixed;
    let mut keys = ConnectionKeys::new();
    keys.handshake_message(Sender::Client, 1, &client_hello(), &mut source);
    keys.handshake_message(
        Sender::Server,
        2,
        &server_hello(version, cipher, pick & 0x80 != 0),
        &mut source,
    );
    let mut out = Vec::new();
    while rest.len() >= 3 {
        let kind = rest[0] % 6;
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let (event, tail) = rest[3..].split_at(len);
        rest = tail;
        let from = if kind % 2 == 0 {
            Sender::Client
        } else {
            Sender::Server
        };
        match kind {
            0 | 1 => {
                if let Some((&t, body)) = event.split_first() {
                    keys.handshake_message(from, t, body, &mut source);
                }
            }
            2 => {
                let from = if event.first().is_some_and(|b| b & 1 == 1) {
                    Sender::Server
                } else {
                    Sender::Client
                };
                keys.change_cipher_spec(from);
            }
            3 | 4 => {
                let from = if kind == 3 {
                    Sender::Client
                } else {
                    Sender::Server
                };
                if let Some((&content_type, body)) = event.split_first() {
                    let len = (body.len() as u16).to_be_bytes();
                    let header = [content_type, 3, 3, len[0], len[1]];
                    let _ = keys.open(from, &header, body, &mut out);
                }
            }
            _ => {
                if let Ok((_, cert)) = decompress_certificate(event) {
                    assert!(cert.len() <= tlsight::tls::compressed_cert::MAX_UNCOMPRESSED_LEN);
                }
            }
        }
    }
});
