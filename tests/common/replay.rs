//! A standalone key-log replay for tests, until decryption is wired into the pipeline: reads a
//! capture with the project's reader, decoder and TCP reassembly, splits each direction into
//! records with the project's deframer, and drives one `ConnectionKeys` per connection with
//! them, collecting what decryption reveals (handshake messages, alerts, Finished checks).

use std::path::Path;

use tlsight::capture::{OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder};
use tlsight::flow::{Direction, FlowKey, Timestamp};
use tlsight::keylog::KeyLog;
use tlsight::reassembly::{FlowTable, Limits, Segment, StreamConsumer};
use tlsight::tls::decrypt::ConnectionKeys;
use tlsight::tls::decrypt::connection::{NotDecrypted, Opened, Sender};
use tlsight::tls::deframe::{
    CONTENT_ALERT, CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE, Deframer, Framing, Joined,
    Joiner, RecordBody, RecordHeader, RecordSink,
};

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
    /// Finished checks: client, server.
    pub finished: [Option<bool>; 2],
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
    fn anomaly(&mut self, kind: &'static str) {
        panic!("deframer anomaly {kind}");
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
    let mut table: FlowTable<Bytes> = FlowTable::new(Limits::default());
    let mut closed = Vec::new();
    while let Some(frame) = file.next_frame().expect("read frame") {
        let ts = frame.ts;
        if let Ok(Decoded::Tcp(tcp)) = decoder.decode(link, frame.data, ts) {
            let (key, dir) = FlowKey::from_endpoints(tcp.src, tcp.dst);
            let seg = Segment {
                key,
                dir,
                seq: tcp.seq,
                ack: tcp.ack,
                flags: tcp.flags,
                payload: tcp.payload,
                ts,
                clock: ts,
            };
            table.process(&seg, &mut |_| Bytes::default(), &mut |c, _| closed.push(c));
        }
    }
    table.drain(&mut |c, _| closed.push(c));
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
            if client_dir.is_none() && header.content_type == CONTENT_HANDSHAKE {
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
            if header.content_type == CONTENT_CHANGE_CIPHER_SPEC {
                keys.change_cipher_spec(from);
                continue;
            }
            let mut raw = [header.content_type, 0, 0, 0, 0];
            raw[1..3].copy_from_slice(&header.version.to_be_bytes());
            raw[3..5].copy_from_slice(&header.len.to_be_bytes());
            let (content_type, content, decrypted) = match keys.open(from, &raw, &body, &mut plain)
            {
                Opened::Cleartext => (header.content_type, body.as_slice(), false),
                Opened::Decrypted { content_type } => {
                    out.decrypted += 1;
                    (content_type, plain.as_slice(), true)
                }
                Opened::NotDecrypted(why) => {
                    out.not_decrypted.push(why);
                    continue;
                }
            };
            match content_type {
                CONTENT_HANDSHAKE => {
                    let mut messages = Vec::new();
                    joiners[from_index(from)].push(content, |j| {
                        if let Joined::Message { msg_type, body } = j {
                            messages.push((msg_type, body.to_vec()));
                        }
                    });
                    for (t, body) in messages {
                        keys.handshake_message(from, t, &body, source);
                        out.messages.push((from, t, body, decrypted));
                    }
                }
                CONTENT_ALERT if content.len() == 2 => {
                    out.alerts.push((from, content[0], content[1], decrypted));
                }
                _ => {}
            }
        }
    }
    out.finished = [
        keys.finished_verified(Sender::Client),
        keys.finished_verified(Sender::Server),
    ];
    out.key_updates = [
        keys.key_updates(Sender::Client),
        keys.key_updates(Sender::Server),
    ];
    out
}

fn from_index(from: Sender) -> usize {
    match from {
        Sender::Client => 0,
        Sender::Server => 1,
    }
}
