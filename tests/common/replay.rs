//! A standalone key-log replay for tests, until decryption is wired into the pipeline: reads a
//! capture with the project's reader, decoder and TCP reassembly, splits each direction into
//! records with the project's deframer, and drives one `ConnectionKeys` per connection with
//! them, collecting what decryption reveals (handshake messages, alerts, Finished checks).

use std::path::Path;

use tlsight::capture::{OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder};
use tlsight::flow::{Direction, FlowKey, Timestamp, Transport};
use tlsight::keylog::KeyLog;
use tlsight::tcp::{Limits, Segment, StreamConsumer, TcpTable};
use tlsight::tls::codes::ContentType;
use tlsight::tls::decrypt::ConnectionKeys;
use tlsight::tls::decrypt::connection::{NotDecrypted, Opened, Sender};
use tlsight::tls::handshake::AnomalyKind;
use tlsight::tls::joiner::{Joined, Joiner};
use tlsight::tls::record::{Deframer, Framing, RecordBody, RecordHeader, RecordSink};

/// What one connection revealed.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Handshake messages in order: sender, type, body, whether it was decrypted.
    pub messages: Vec<(Sender, u8, Vec<u8>, bool)>,
    /// Alerts: sender, level, description, whether it was decrypted.
    pub alerts: Vec<(Sender, u8, u8, bool)>,
    /// Records seen (both directions).
    pub records: u64,
    /// Protected records that were decrypted.
    pub decrypted: u64,
    /// Protected records that were not, and why.
    pub not_decrypted: Vec<NotDecrypted>,
    /// Every Finished and whether it matched the transcript, in order.
    pub finished: Vec<(Sender, Option<bool>)>,
    /// KeyUpdates: client, server.
    pub key_updates: [u32; 2],
}

/// A direction's in-order bytes, kept until the connection closes.
#[derive(Default)]
struct Bytes(Vec<(Direction, Vec<u8>)>);

impl StreamConsumer for Bytes {
    fn on_data(&mut self, dir: Direction, bytes: &[u8], _: Timestamp) {
        self.0.push((dir, bytes.to_vec()));
    }
    fn on_gap(&mut self, _: Direction, len: u64, _: Timestamp) {
        panic!("replayed captures have no gaps ({len} bytes missing)");
    }
}

#[derive(Default)]
struct Records(Vec<(RecordHeader, Vec<u8>)>);

impl RecordSink for Records {
    fn wants_body(&self, _: &RecordHeader) -> bool {
        true
    }
    fn record(&mut self, header: RecordHeader, body: RecordBody<'_>, _: Timestamp) {
        if let RecordBody::Data(body) = body {
            self.0.push((header, body.to_vec()));
        }
    }
    fn anomaly(&mut self, kind: AnomalyKind) {
        panic!("deframer anomaly {kind:?}");
    }
    fn peer_sent_client_hello(&self) -> bool {
        true
    }
    fn framing(&self) -> Framing {
        Framing::Tls
    }
}

/// Replays every TLS connection of `capture` with the secrets of `keys`, in connection order.
pub fn replay(capture: &Path, keys: &mut KeyLog) -> Vec<Replayed> {
    let mut file = OfflineFile::open(capture).expect("open capture");
    let link = file.link_type();
    let mut decoder = Decoder::new();
    let mut table: TcpTable<Bytes> = TcpTable::new(Limits::default());
    let mut closed = Vec::new();
    while let Some(frame) = file.next_frame().expect("read frame") {
        let ts = frame.ts;
        if let Ok(Decoded::Tcp(tcp)) = decoder.decode(link, frame.data, ts) {
            let (key, dir) = FlowKey::from_endpoints(Transport::Tcp, tcp.src, tcp.dst);
            let seg = Segment {
                key,
                dir,
                header: tcp.header,
                payload: tcp.payload,
                ts,
                clock: ts,
            };
            table.process(&seg, &mut |_| Bytes::default(), &mut |c, _| closed.push(c));
        }
    }
    table.drain(&mut |_| Bytes::default(), &mut |c, _| closed.push(c));
    closed.sort_by_key(|c| c.meta.first_ts);
    closed
        .into_iter()
        .map(|c| replay_connection(c.consumer.0, keys))
        .filter(|r| r.records > 0)
        .collect()
}

fn replay_connection(chunks: Vec<(Direction, Vec<u8>)>, source: &mut KeyLog) -> Replayed {
    let mut deframers = [Deframer::default(), Deframer::default()];
    let mut joiners = [Joiner::default(), Joiner::default()];
    let mut keys = ConnectionKeys::new();
    let mut client_dir = None;
    let mut out = Replayed::default();
    let mut plain = Vec::new();
    for (dir, bytes) in chunks {
        let mut records = Records::default();
        deframers[dir.index()].feed(&bytes, Timestamp(0), &mut records);
        for (header, body) in records.0 {
            out.records += 1;
            if client_dir.is_none() && header.content_type == ContentType::HANDSHAKE {
                // The side whose first handshake record is a ClientHello is the client.
                client_dir = Some(if body.first() == Some(&1) {
                    dir
                } else {
                    dir.reverse()
                });
            }
            let from = if Some(dir) == client_dir {
                Sender::Client
            } else {
                Sender::Server
            };
            if header.content_type == ContentType::CHANGE_CIPHER_SPEC {
                keys.change_cipher_spec(from);
                continue;
            }
            let mut raw = [header.content_type.0, 0, 0, 0, 0];
            raw[1..3].copy_from_slice(&header.version.to_be_bytes());
            raw[3..5].copy_from_slice(&header.len.to_be_bytes());
            let (content_type, content, decrypted) = match keys.open(from, &raw, &body, &mut plain)
            {
                Opened::Cleartext => (header.content_type.0, body.as_slice(), false),
                Opened::Decrypted { content_type } => {
                    out.decrypted += 1;
                    (content_type, plain.as_slice(), true)
                }
                Opened::NotDecrypted(why) => {
                    out.not_decrypted.push(why);
                    continue;
                }
            };
            match ContentType(content_type) {
                ContentType::HANDSHAKE => {
                    let mut messages = Vec::new();
                    joiners[from_index(from)].push(content, |j| {
                        if let Joined::Message { msg_type, body } = j {
                            messages.push((msg_type, body.to_vec()));
                        }
                    });
                    for (t, body) in messages {
                        keys.handshake_message(from, t, &body, source);
                        if t == 20 {
                            out.finished.push((from, keys.finished_verified(from)));
                        }
                        out.messages.push((from, t, body, decrypted));
                    }
                }
                ContentType::ALERT if content.len() == 2 => {
                    out.alerts.push((from, content[0], content[1], decrypted));
                }
                _ => {}
            }
        }
    }
    out.key_updates = [
        keys.key_updates(Sender::Client),
        keys.key_updates(Sender::Server),
    ];
    out
}

impl Replayed {
    /// The handshake messages of one type, with their sender and whether they were decrypted.
    pub fn of_type(&self, msg_type: u8) -> Vec<(Sender, &[u8], bool)> {
        self.messages
            .iter()
            .filter(|m| m.1 == msg_type)
            .map(|m| (m.0, m.2.as_slice(), m.3))
            .collect()
    }

    /// SHA-256 (hex) of every certificate in the Certificate messages `from` sent, in order.
    pub fn certificate_sha256s(&self, from: Sender) -> Vec<String> {
        use sha2::{Digest, Sha256};
        let mut tls13 = false;
        let mut out = Vec::new();
        for (sender, t, body, _) in &self.messages {
            if *t == 2 {
                let hello = tlsight::tls::handshake::hello::parse_server_hello(body, 2)
                    .expect("ServerHello");
                tls13 = hello.version == 0x0304;
            }
            if *t == 11 && *sender == from {
                let list = tlsight::tls::handshake::hello::parse_certificate_list(body, tls13)
                    .expect("Certificate message");
                out.extend(list.iter().map(|der| hex::encode(Sha256::digest(der))));
            }
        }
        out
    }

    /// The ALPN protocol the server chose (EncryptedExtensions, or the ServerHello ≤ TLS 1.2).
    pub fn alpn(&self) -> Option<String> {
        self.messages
            .iter()
            .filter(|m| m.0 == Sender::Server && (m.1 == 8 || m.1 == 2))
            .find_map(|m| {
                let exts = if m.1 == 8 {
                    m.2.as_slice()
                } else {
                    server_hello_extensions(&m.2)?
                };
                alpn_of(exts)
            })
    }
}

/// The extensions block of a ServerHello body.
fn server_hello_extensions(body: &[u8]) -> Option<&[u8]> {
    let session_id_len = usize::from(*body.get(34)?);
    body.get(35 + session_id_len + 3..)
}

/// The first ALPN protocol in an extensions block (`u16 length` + extensions).
fn alpn_of(block: &[u8]) -> Option<String> {
    let mut rest = block.get(2..)?;
    while rest.len() >= 4 {
        let t = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let data = rest.get(4..4 + len)?;
        if t == 16 {
            let name_len = usize::from(*data.get(2)?);
            return Some(String::from_utf8_lossy(data.get(3..3 + name_len)?).into_owned());
        }
        rest = &rest[4 + len..];
    }
    None
}

fn from_index(from: Sender) -> usize {
    match from {
        Sender::Client => 0,
        Sender::Server => 1,
    }
}
