//! RFC 8448 traces (simple 1-RTT handshake, §3; resumed 0-RTT handshake, §4) through record
//! protection, Finished and the connection state machine, with the secrets of the traces in
//! NSS key log form. Hex as printed in the RFC.

use super::connection::{ConnectionKeys, NotDecrypted, Opened, SecretSource, Sender};
use super::finished::tls13_verify_data;
use super::tls13::Tls13Protection;
use super::transcript::{Transcript, TranscriptHash};
use crate::keylog::{ClientRandom, ConnectionSecrets, KeyLog, SecretKind};
use crate::tls::key_schedule::HashAlg;

pub(super) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("hex")
}

// ---------------------------------------------------------------- RFC 8448 §3
const S3_CLIENT_HELLO: &str = "01 00 00 c0 03 03 cb 34 ec b1 e7 81 63
    ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18 a2 ef 62 83
    02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b
    00 09 00 00 06 73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00
    12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02 01 03 01 04 00 23
    00 00 00 33 00 26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2
    3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69 1e 52 9a
    af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e 04 03 05 03 06 03
    02 03 08 04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02 06
    02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01";
const S3_SERVER_HELLO: &str = "02 00 00 56 03 03 a6 af 06 a4 12 18 60
    dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da c1 55 77 2e
    d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88
    76 11 20 95 fe 66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1
    dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04";
const S3_CLIENT_FINISHED: &str = "14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a
    c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85 27 b6 42 f2 ed d5 ce 61";
const S3_CHTS: &str = "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21";
const S3_SHTS: &str = "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38";
const S3_CATS: &str = "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
const S3_SATS: &str = "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";
/// The server's EncryptedExtensions, Certificate, CertificateVerify and Finished in one record.
pub(super) const RFC8448_SERVER_HANDSHAKE_RECORD: &str =
    "17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7
    f3 3a f3 5e df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96
    0b 40 68 90 51 23 ea 78 b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc 7f
    c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35 5c 7c 79
    02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9 d7 47 76 09 ae e6 e1 22 a4 cf 51 42
    73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e d6 5b 0e 3c dd 0c ba e8
    bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92 8d 80 98 10
    e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70 a2 55 9c 09 ea d6 86 94
    5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19
    05 79 b3 68 45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63
    d3 e6 88 61 1e a5 e2 2f 44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c
    84 83 8d 89 f7 2c 24 46 1a ad 6d 26 f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3
    6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31 7b 49 ee da 0c 62 58 f1 00 d7 d9 61
    ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e 1b 7a 6c 71 78 af 36 87
    90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da 8c 87 c8 43
    f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4
    61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d
    f8 81 ed be 5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6
    fa 4f 9d 62 d5 13 af bb 99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca
    01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59 77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14
    63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38 eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2
    3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84 5e 27 55 92 c1 23 35 ee
    34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5 d2 af 93 98
    28 fd 4a e3 79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e
    75 0e dc 53 37 0d 2b";

// ---------------------------------------------------------------- RFC 8448 §4
const S4_CLIENT_HELLO_RECORD: &str = "16 03 01 02 00 01 00 01 fc 03 03 1b
    c3 ce b6 bb e3 9c ff 93 83 55 b5 a5 0a db 6d b2 1b 7a 6a f6 49
    d7 b4 bc 41 9d 78 76 48 7d 95 00 00 06 13 01 13 03 13 02 01 00
    01 cd 00 00 00 0b 00 09 00 00 06 73 65 72 76 65 72 ff 01 00 01
    00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01 02
    01 03 01 04 00 33 00 26 00 24 00 1d 00 20 e4 ff b6 8a c0 5f 8d
    96 c9 9d a2 66 98 34 6c 6b e1 64 82 ba dd da fe 05 1a 66 b4 f1
    8d 66 8f 0b 00 2a 00 00 00 2b 00 03 02 03 04 00 0d 00 20 00 1e
    04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01 05 01 06 01 02
    01 04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01
    00 15 00 57 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 29 00 dd 00 b8 00 b2 2c 03 5d 82 93 59
    ee 5f f7 af 4e c9 00 00 00 00 26 2a 64 94 dc 48 6d 2c 8a 34 cb
    33 fa 90 bf 1b 00 70 ad 3c 49 88 83 c9 36 7c 09 a2 be 78 5a bc
    55 cd 22 60 97 a3 a9 82 11 72 83 f8 2a 03 a1 43 ef d3 ff 5d d3
    6d 64 e8 61 be 7f d6 1d 28 27 db 27 9c ce 14 50 77 d4 54 a3 66
    4d 4e 6d a4 d2 9e e0 37 25 a6 a4 da fc d0 fc 67 d2 ae a7 05 29
    51 3e 3d a2 67 7f a5 90 6c 5b 3f 7d 8f 92 f2 28 bd a4 0d da 72
    14 70 f9 fb f2 97 b5 ae a6 17 64 6f ac 5c 03 27 2e 97 07 27 c6
    21 a7 91 41 ef 5f 7d e6 50 5e 5b fb c3 88 e9 33 43 69 40 93 93
    4a e4 d3 57 fa d6 aa cb 00 21 20 3a dd 4f b2 d8 fd f8 22 a0 ca
    3c f7 67 8e f5 e8 8d ae 99 01 41 c5 92 4d 57 bb 6f a3 1b 9e 5f
    9d";
const S4_EARLY_DATA_RECORD: &str = "17 03 03 00 17 ab 1d f4 20 e7 5c 45
    7a 7c c5 d2 84 4f 76 d5 ae e4 b4 ed bf 04 9b e0";
const S4_SERVER_HELLO_RECORD: &str = "16 03 03 00 60 02 00 00 5c 03 03 3c
    cf d2 de c8 90 22 27 63 47 2a e8 13 67 77 c9 d7 35 87 77 bb 66
    e9 1e a5 12 24 95 f5 59 ea 2d 00 13 01 00 00 34 00 29 00 02 00
    00 00 33 00 24 00 1d 00 20 12 17 61 ee 42 c3 33 e1 b9 e7 7b 60
    dd 57 c2 05 3c d9 45 12 ab 47 f1 15 e8 6e ff 50 94 2c ea 31 00
    2b 00 02 03 04";
const S4_SERVER_HANDSHAKE_RECORD: &str = "17 03 03 00 61 dc 48 23 7b 4b 87 9f
    50 d0 d4 d2 62 ea 8b 47 16 eb 40 dd c1 eb 95 7e 11 12 6e 8a 71
    49 c2 d0 12 d3 7a 71 15 95 7e 64 ce 30 00 8b 9e 03 23 f2 c0 5a
    9c 1c 77 b4 f3 78 49 a6 95 ab 25 50 60 a3 3f ee 77 0c a9 5c b8
    48 6b fd 08 43 b8 70 24 86 5c a3 5c c4 1c 4e 51 5c 64 dc b1 36
    9f 98 63 5b c7 a5";
const S4_END_OF_EARLY_DATA_RECORD: &str = "17 03 03 00 15 ac a6 fc 94 48 41 29
    8d f9 95 93 72 5f 9b f9 75 44 29 b1 2f 09";
const S4_CLIENT_FINISHED_RECORD: &str = "17 03 03 00 35 00 f8 b4 67 d1 4c f2
    2a 4b 3f 0b 6a e0 d8 e6 cc 8d 08 e0 db 35 15 ef 5c 2b df 19 22
    ea fb b7 00 09 96 47 16 d8 34 fb 70 c3 d2 a5 6c 5b 1f 5f 6b db
    a6 c3 33 cf";
const S4_CLIENT_APP_DATA_RECORD: &str = "17 03 03 00 43 b1 ce bc e2 42 aa 20
    1b e9 ae 5e 1c b2 a9 aa 4b 33 d4 e8 66 af 1e db 06 89 19 23 77
    41 aa 03 1d 7a 74 d4 91 c9 9b 9d 4e 23 2b 74 20 6b c6 fb aa 04
    fe 78 be 44 a9 b4 f5 43 20 a1 7e b7 69 92 af ac 31 03";
const S4_SERVER_APP_DATA_RECORD: &str = "17 03 03 00 43 27 5e 9f 20 ac ff 57
    bc 00 06 57 d3 86 7d f0 39 cc cf 79 04 78 84 cf 75 77 17 46 f7
    40 b5 a8 3f 46 2a 09 54 c3 58 13 93 a2 03 a2 5a 7d d1 41 41 ef
    1a 37 90 0c db 62 ff 62 de e1 ba 39 ab 25 90 cb f1 94";
const S4_CLIENT_ALERT_RECORD: &str = "17 03 03 00 13 0f ac ce 32 46 bd fc
    63 69 83 8d 6a 82 ae 6d e5 d4 22 dc";
const S4_SERVER_ALERT_RECORD: &str = "17 03 03 00 13 5b 18 af 44 4e 8e 1e
    ec 71 58 fb 62 d8 f2 57 7d 37 ba 5d";
const S4_CETS: &str = "3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62";
const S4_CHTS: &str = "2faac08f851d35fea3604fcb4de82dc62c9b164a70974d0462e27f1ab278700f";
const S4_SHTS: &str = "fe927ae271312e8bf0275b581c54eef020450dc4ecffaa05a1a35d27518e7803";
const S4_CATS: &str = "2abbf2b8e381d23dbebe1dd2a7d16a8bf484cb4950d23fb7fb7fa8547062d9a1";
const S4_SATS: &str = "cc21f1bf8feb7dd5fa505bd9c4b468a9984d554a993dc49e6d285598fb672691";

/// An NSS key log for one connection.
fn key_log(random: &[u8], secrets: &[(&str, &str)]) -> KeyLog {
    let mut text = String::from("# RFC 8448 trace secrets\n");
    for (label, secret) in secrets {
        let secret: String = secret.split_whitespace().collect();
        text += &format!("{label} {} {secret}\n", hex::encode(random));
    }
    let mut keys = KeyLog::default();
    keys.add_text("rfc8448.keylog", text.as_bytes());
    assert_eq!(keys.stats().bad_lines, 0);
    keys
}

/// Splits a handshake record's content into (type, body) messages.
fn messages(mut content: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while content.len() >= 4 {
        let len =
            usize::from(content[1]) << 16 | usize::from(content[2]) << 8 | usize::from(content[3]);
        out.push((content[0], content[4..4 + len].to_vec()));
        content = &content[4 + len..];
    }
    assert!(content.is_empty(), "trailing bytes");
    out
}

/// Feeds a cleartext handshake message given with its 4-byte header.
fn feed(keys: &mut ConnectionKeys, from: Sender, msg: &[u8], source: &mut impl SecretSource) {
    for (t, body) in messages(msg) {
        keys.handshake_message(from, t, &body, source);
    }
}

/// Opens a record given as hex; returns the content type and plaintext.
fn open(keys: &mut ConnectionKeys, from: Sender, record: &str) -> (Opened, Vec<u8>) {
    let record = unhex(record);
    let header: [u8; 5] = record[..5].try_into().expect("header");
    assert_eq!(
        usize::from(u16::from_be_bytes([record[3], record[4]])),
        record.len() - 5
    );
    let mut out = Vec::new();
    let opened = keys.open(from, &header, &record[5..], &mut out);
    (opened, out)
}

/// Opens a handshake record and feeds its messages; returns their types.
fn open_handshake(
    keys: &mut ConnectionKeys,
    from: Sender,
    record: &str,
    source: &mut impl SecretSource,
) -> Vec<u8> {
    let (opened, content) = open(keys, from, record);
    assert_eq!(
        opened,
        Opened::Decrypted { content_type: 22 },
        "{record:.20}"
    );
    let msgs = messages(&content);
    for (t, body) in &msgs {
        keys.handshake_message(from, *t, body, source);
    }
    msgs.iter().map(|(t, _)| *t).collect()
}

#[test]
fn rfc8448_simple_handshake_through_the_connection() {
    let ch = unhex(S3_CLIENT_HELLO);
    let mut source = key_log(
        &ch[6..38],
        &[
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", S3_CHTS),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", S3_SHTS),
            ("CLIENT_TRAFFIC_SECRET_0", S3_CATS),
            ("SERVER_TRAFFIC_SECRET_0", S3_SATS),
        ],
    );
    let mut keys = ConnectionKeys::new();
    feed(&mut keys, Sender::Client, &ch, &mut source);
    assert!(source.is_empty(), "the connection took its secrets");
    feed(
        &mut keys,
        Sender::Server,
        &unhex(S3_SERVER_HELLO),
        &mut source,
    );
    let types = open_handshake(
        &mut keys,
        Sender::Server,
        RFC8448_SERVER_HANDSHAKE_RECORD,
        &mut source,
    );
    assert_eq!(
        types,
        vec![8, 11, 15, 20],
        "EE, Certificate, CertificateVerify, Finished"
    );
    assert_eq!(keys.finished_verified(Sender::Server), Some(true));
    // The client's Finished (its record is not in the RFC; the message is).
    feed(
        &mut keys,
        Sender::Client,
        &unhex(S3_CLIENT_FINISHED),
        &mut source,
    );
    assert_eq!(keys.finished_verified(Sender::Client), Some(true));
    assert!(
        format!("{keys:?}").contains("secrets: None"),
        "secrets dropped after the handshake"
    );
}

#[test]
fn rfc8448_finished_from_the_transcript() {
    // Server Finished over CH..CV (its verify_data is in the RFC's server record).
    let secret = unhex(S3_SHTS);
    let mut p = Tls13Protection::new(0x1301, &secret).expect("keys");
    let record = unhex(RFC8448_SERVER_HANDSHAKE_RECORD);
    let mut content = Vec::new();
    p.open(
        &record[..5].try_into().expect("h"),
        &record[5..],
        &mut content,
    )
    .expect("open");
    let mut t = Transcript::default();
    for m in [S3_CLIENT_HELLO, S3_SERVER_HELLO] {
        for (ty, body) in messages(&unhex(m)) {
            if ty == 2 {
                t.start(TranscriptHash::Sha256);
            }
            t.add(ty, &body);
        }
    }
    let msgs = messages(&content);
    for (ty, body) in &msgs[..3] {
        t.add(*ty, body);
    }
    let want = tls13_verify_data(HashAlg::Sha256, &secret, &t.current().expect("hash"))
        .expect("verify data");
    assert_eq!(want, msgs[3].1, "server Finished");
    assert_eq!(
        hex::encode(&want),
        "9b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718"
    );
}

#[test]
fn rfc8448_resumed_0rtt_handshake_through_the_connection() {
    let ch_record = unhex(S4_CLIENT_HELLO_RECORD);
    let random: ClientRandom = ch_record[11..43].try_into().expect("random");
    let mut source = key_log(
        &random,
        &[
            ("CLIENT_EARLY_TRAFFIC_SECRET", S4_CETS),
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", S4_CHTS),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", S4_SHTS),
            ("CLIENT_TRAFFIC_SECRET_0", S4_CATS),
            ("SERVER_TRAFFIC_SECRET_0", S4_SATS),
            ("EXPORTER_SECRET", S4_SATS),
        ],
    );
    let mut keys = ConnectionKeys::new();
    feed(&mut keys, Sender::Client, &ch_record[5..], &mut source);
    // 0-RTT data before the ServerHello: the suite protecting it is not known yet.
    let (opened, _) = open(&mut keys, Sender::Client, S4_EARLY_DATA_RECORD);
    assert_eq!(opened, Opened::NotDecrypted(NotDecrypted::EarlyData));
    feed(
        &mut keys,
        Sender::Server,
        &unhex(S4_SERVER_HELLO_RECORD)[5..],
        &mut source,
    );
    let types = open_handshake(
        &mut keys,
        Sender::Server,
        S4_SERVER_HANDSHAKE_RECORD,
        &mut source,
    );
    assert_eq!(
        types,
        vec![8, 20],
        "EncryptedExtensions, Finished (PSK: no certificate)"
    );
    assert_eq!(keys.finished_verified(Sender::Server), Some(true));
    // EndOfEarlyData is under the early keys, the client Finished under the handshake keys.
    let types = open_handshake(
        &mut keys,
        Sender::Client,
        S4_END_OF_EARLY_DATA_RECORD,
        &mut source,
    );
    assert_eq!(types, vec![5]);
    let types = open_handshake(
        &mut keys,
        Sender::Client,
        S4_CLIENT_FINISHED_RECORD,
        &mut source,
    );
    assert_eq!(types, vec![20]);
    assert_eq!(keys.finished_verified(Sender::Client), Some(true));
    // Application data and the closing alerts under the application traffic keys.
    let (opened, data) = open(&mut keys, Sender::Client, S4_CLIENT_APP_DATA_RECORD);
    assert_eq!(opened, Opened::Decrypted { content_type: 23 });
    assert_eq!(data.len(), 0x43 - 17);
    let (opened, _) = open(&mut keys, Sender::Server, S4_SERVER_APP_DATA_RECORD);
    assert_eq!(opened, Opened::Decrypted { content_type: 23 });
    for (from, record) in [
        (Sender::Client, S4_CLIENT_ALERT_RECORD),
        (Sender::Server, S4_SERVER_ALERT_RECORD),
    ] {
        let (opened, alert) = open(&mut keys, from, record);
        assert_eq!(opened, Opened::Decrypted { content_type: 21 });
        assert_eq!(alert, vec![1, 0], "warning close_notify");
    }
    // The early data record opens with the early secret on its own.
    let mut early = Tls13Protection::new(0x1301, &unhex(S4_CETS)).expect("early keys");
    let record = unhex(S4_EARLY_DATA_RECORD);
    let mut out = Vec::new();
    let inner = early
        .open(&record[..5].try_into().expect("h"), &record[5..], &mut out)
        .expect("early data");
    assert_eq!(inner.content_type, 23);
}

/// The RFC 8448 §3 hellos with `secrets` in the key log, then the server's handshake record.
fn s3_server_record_with(secrets: &[(&str, &str)]) -> (Opened, bool) {
    let ch = unhex(S3_CLIENT_HELLO);
    let mut source = key_log(&ch[6..38], secrets);
    let mut keys = ConnectionKeys::new();
    feed(&mut keys, Sender::Client, &ch, &mut source);
    let sh = unhex(S3_SERVER_HELLO);
    feed(&mut keys, Sender::Server, &sh, &mut source);
    let has = keys.has_secrets();
    (
        open(&mut keys, Sender::Server, RFC8448_SERVER_HANDSHAKE_RECORD).0,
        has,
    )
}

#[test]
fn missing_and_wrong_secrets_are_told_apart() {
    // Only the client's secret: the server's records name the missing one.
    assert_eq!(
        s3_server_record_with(&[("CLIENT_HANDSHAKE_TRAFFIC_SECRET", S3_CHTS)]),
        (
            Opened::NotDecrypted(NotDecrypted::MissingSecret(
                SecretKind::ServerHandshakeTraffic
            )),
            true
        )
    );
    // A wrong secret: the record does not authenticate.
    assert_eq!(
        s3_server_record_with(&[("SERVER_HANDSHAKE_TRAFFIC_SECRET", S3_CHTS)]),
        (
            Opened::NotDecrypted(NotDecrypted::Failed(super::DecryptError::Authentication)),
            true
        )
    );
    // No key log entry at all.
    assert_eq!(
        s3_server_record_with(&[]),
        (
            Opened::NotDecrypted(NotDecrypted::MissingSecret(
                SecretKind::ServerHandshakeTraffic
            )),
            false
        )
    );
}

#[test]
fn records_lost_in_a_gap_are_skipped_over() {
    let ch_record = unhex(S4_CLIENT_HELLO_RECORD);
    let mut source = key_log(
        &ch_record[11..43],
        &[
            ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", S4_CHTS),
            ("SERVER_HANDSHAKE_TRAFFIC_SECRET", S4_SHTS),
            ("SERVER_TRAFFIC_SECRET_0", S4_SATS),
        ],
    );
    let mut keys = ConnectionKeys::new();
    feed(&mut keys, Sender::Client, &ch_record[5..], &mut source);
    feed(
        &mut keys,
        Sender::Server,
        &unhex(S4_SERVER_HELLO_RECORD)[5..],
        &mut source,
    );
    open_handshake(
        &mut keys,
        Sender::Server,
        S4_SERVER_HANDSHAKE_RECORD,
        &mut source,
    );
    // The server's application data record (sequence 0) is lost; its alert is sequence 1.
    let (opened, _) = open(&mut keys, Sender::Server, S4_SERVER_ALERT_RECORD);
    assert_eq!(
        opened,
        Opened::NotDecrypted(NotDecrypted::Failed(super::DecryptError::Authentication)),
        "without a gap reported, sequence 0 is tried only"
    );
    keys.gap(Sender::Server);
    let (opened, alert) = open(&mut keys, Sender::Server, S4_SERVER_ALERT_RECORD);
    assert_eq!(opened, Opened::Decrypted { content_type: 21 });
    assert_eq!(alert, vec![1, 0]);
}

/// A source that never has anything, to check the state machine never asks twice.
struct Counting(u32);

impl SecretSource for Counting {
    fn take(&mut self, _: &ClientRandom) -> Option<ConnectionSecrets> {
        self.0 += 1;
        None
    }
}

#[test]
fn a_client_hello_after_a_retry_is_the_same_handshake() {
    let ch = unhex(S3_CLIENT_HELLO);
    let mut source = Counting(0);
    let mut keys = ConnectionKeys::new();
    feed(&mut keys, Sender::Client, &ch, &mut source);
    feed(&mut keys, Sender::Client, &ch, &mut source);
    assert_eq!(source.0, 1);
}
