//! Handshake and 1-RTT packets opened with key-log secrets (issue 15): what lets tlsight read
//! the server's certificates, EncryptedExtensions (ALPN, transport parameters),
//! CertificateVerify and Finished, a CONNECTION_CLOSE sent in Handshake packets (a client
//! rejecting the certificate) and, from 1-RTT packets, HANDSHAKE_DONE, NEW_TOKEN and a
//! CONNECTION_CLOSE.
//!
//! A connection of an analysis with key logs takes its secrets by the ClientHello's client
//! random (read in the Initial CRYPTO stream), learns the suite from the ServerHello, and
//! derives each space's packet keys from the TLS 1.3 traffic secrets with the version's labels
//! (`quic key`/`quic iv`/`quic hp`, v2's `quicv2 …`: RFC 9001 §5.1, RFC 9369 §3.3.2) on first
//! use. Handshake-space keys come from the `*_HANDSHAKE_TRAFFIC_SECRET`s, 1-RTT keys (key phase
//! 0) from the `*_TRAFFIC_SECRET_0`s.
//!
//! Cost is bounded: 1-RTT packets are opened only until the server's HANDSHAKE_DONE has been
//! read (the handshake is confirmed; RFC 9001 §4.1.2; the NewSessionTickets and NEW_TOKENs
//! sent with it are read too), then not at all, and neither are Handshake packets (endpoints
//! drop those keys then). After that each side's last 1-RTT packet is kept (one copy, in a
//! buffer reused) and opened when the connection ends, for a CONNECTION_CLOSE after the
//! handshake. 0-RTT packets carry only application data and are not opened. The frames of an
//! opened 1-RTT packet are walked without reading STREAM or DATAGRAM contents; no application
//! data is written anywhere.
//!
//! Accounting is the record layer's [`DecryptionFacts`]: every Handshake packet, and every
//! 1-RTT packet until opening stops, is a protected unit; it was decrypted, it had keys and did
//! not open (`failed_records`), or its secret was missing (`missing`). Packets met before the
//! ServerHello named the suite are counted as protected and not decrypted. Both Finished
//! messages are checked against the transcript of the Initial and Handshake messages
//! (`finished_verified`), as the TCP record layer checks them.

use super::crypto_stream::{CryptoLimits, CryptoStream};
use super::packet::{Opened, unprotect};
use super::protection::{OpenError, PacketKeys, Suite};
use super::transport_parameters::{Parameter, parse_transport_parameters};
use super::version::QuicVersion;
use crate::flow::{Direction, Timestamp};
use crate::keylog::{ClientRandom, ConnectionSecrets, SecretKind, SharedKeyLog};
use crate::tls::codes::{ExtensionType, HandshakeType};
use crate::tls::decrypt::DecryptionFacts;
use crate::tls::decrypt::connection::hello_random;
use crate::tls::decrypt::finished::tls13_verify_data;
use crate::tls::decrypt::transcript::{Transcript, TranscriptHash};
use crate::tls::handshake::hello::parse_server_hello;
use crate::tls::handshake::protected::encrypted_extension;
use crate::tls::joiner::JoinBudget;
use crate::tls::key_schedule::HashAlg;

/// The packet number spaces whose keys come from a key log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpace {
    /// Handshake packets.
    Handshake,
    /// 1-RTT packets (key phase 0).
    OneRtt,
}

impl KeySpace {
    fn index(self) -> usize {
        match self {
            KeySpace::Handshake => 0,
            KeySpace::OneRtt => 1,
        }
    }

    /// The secret that protects what the client (`from_client`) or the server sends here.
    pub fn secret(self, from_client: bool) -> SecretKind {
        match (self, from_client) {
            (KeySpace::Handshake, true) => SecretKind::ClientHandshakeTraffic,
            (KeySpace::Handshake, false) => SecretKind::ServerHandshakeTraffic,
            (KeySpace::OneRtt, true) => SecretKind::ClientTraffic0,
            (KeySpace::OneRtt, false) => SecretKind::ServerTraffic0,
        }
    }
}

/// What the frames of a packet showed the decryption: a CRYPTO frame as it came, a joined
/// message, HANDSHAKE_DONE, NEW_TOKEN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// A CRYPTO frame's bytes at their stream offset.
    Frame {
        /// Stream offset of the first byte.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// A complete handshake message.
    Message {
        /// Handshake type.
        msg_type: u8,
        /// Body, after the 4-byte header.
        body: &'a [u8],
    },
    /// A HANDSHAKE_DONE frame.
    HandshakeDone,
    /// A NEW_TOKEN frame.
    NewToken,
}

/// What only decrypted packets tell of a QUIC connection, for its record (`quic` object).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuicDecrypted {
    /// What was decrypted and what could not be.
    pub accounting: DecryptionFacts,
    /// When the server's HANDSHAKE_DONE was read: the handshake is confirmed.
    pub handshake_done: Option<Timestamp>,
    /// NEW_TOKEN frames read (tokens the server gave for future connections).
    pub new_tokens: u64,
    /// The server's transport parameters, from its EncryptedExtensions (wire order).
    pub transport_parameters: Option<Vec<Parameter>>,
}

/// The transcript the Finished messages are checked against (RFC 8446 §4.4.4): the Initial
/// and Handshake messages in order, hashed from the ServerHello on.
#[derive(Debug, Default)]
struct FinishedCheck {
    transcript: Transcript,
    /// The suite's hash, from the ServerHello.
    hash: Option<HashAlg>,
    /// The random of the ClientHello the transcript holds: the Finished messages are checked
    /// only when it is the one the secrets came by (a client answering a Retry with a new
    /// ClientHello has its first one joined).
    random: Option<ClientRandom>,
}

/// What a packet's frames are read into besides its CRYPTO stream: the findings, and the
/// transcript with the secrets that check the Finished messages.
pub struct MessageReader<'a> {
    space: KeySpace,
    found: &'a mut QuicDecrypted,
    check: &'a mut FinishedCheck,
    secrets: Option<&'a ConnectionSecrets>,
    client_random: Option<ClientRandom>,
}

impl MessageReader<'_> {
    /// What the frames showed, from the client (`from_client`) or the server, in a packet
    /// captured at `ts`: Handshake messages (the server's EncryptedExtensions carries its
    /// transport parameters; each Finished is checked), the server's HANDSHAKE_DONE and
    /// NEW_TOKENs (a client sending either breaks the protocol; they are not counted).
    pub fn seen(&mut self, from_client: bool, seen: Seen<'_>, ts: Timestamp) {
        match seen {
            Seen::Message { msg_type, body } if self.space == KeySpace::Handshake => {
                self.handshake_message(from_client, msg_type, body);
            }
            Seen::HandshakeDone if !from_client => {
                self.found.handshake_done.get_or_insert(ts);
            }
            Seen::NewToken if !from_client => self.found.new_tokens += 1,
            _ => {}
        }
    }

    fn handshake_message(&mut self, from_client: bool, msg_type: u8, body: &[u8]) {
        match HandshakeType(msg_type) {
            HandshakeType::ENCRYPTED_EXTENSIONS if !from_client => {
                self.found.transport_parameters =
                    encrypted_extension(body, ExtensionType::QUIC_TRANSPORT_PARAMETERS)
                        .and_then(parse_transport_parameters);
            }
            HandshakeType::FINISHED => {
                let side = usize::from(!from_client);
                self.found.accounting.finished_verified[side] = self.verify(from_client, body);
            }
            _ => {}
        }
        self.check.transcript.add(msg_type, body);
    }

    /// Whether a Finished matches the transcript before it; `None` when it cannot be checked.
    fn verify(&self, from_client: bool, body: &[u8]) -> Option<bool> {
        if self.check.random.is_none() || self.check.random != self.client_random {
            return None;
        }
        let secret = self.secrets?.get(KeySpace::Handshake.secret(from_client))?;
        let hash = self.check.hash?;
        let transcript = self.check.transcript.current()?;
        let expected = tls13_verify_data(hash, secret, &transcript).ok()?;
        Some(expected == body)
    }
}

/// One direction's keys of one space, derived on first use.
#[derive(Clone, Copy, Debug, Default)]
struct DirectionKeys {
    /// The keys, or the secret the key log lacked.
    keys: Option<Result<PacketKeys, Unopenable>>,
    /// Largest packet number opened.
    largest: Option<u64>,
    /// Packets not opened since (1-RTT, once opening stopped).
    skipped: u64,
}

/// Why a direction's packets of a space cannot be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unopenable {
    /// The key log has no such secret.
    Missing(SecretKind),
    /// The secret does not fit the suite (wrong length) or the version is unreadable.
    Unusable,
}

/// One QUIC connection's decryption with key-log secrets (boxed in the connection; only
/// connections of an analysis with key logs have one). `Debug` shows no secret or key.
pub struct KeyLogDecryption {
    source: SharedKeyLog,
    client_random: Option<ClientRandom>,
    secrets: Option<ConnectionSecrets>,
    suite: Option<Suite>,
    /// The version the Handshake packets were read in (1-RTT packets carry none).
    version: Option<QuicVersion>,
    /// Keys by space ([`KeySpace::index`]) and direction ([`Direction::index`]).
    keys: [[DirectionKeys; 2]; 2],
    /// The CRYPTO streams by space and direction (1-RTT's carries NewSessionTickets).
    streams: [[Option<Box<CryptoStream>>; 2]; 2],
    /// Each direction's last 1-RTT packet since opening stopped, with its capture time.
    last: [Option<(Vec<u8>, Timestamp)>; 2],
    /// The Finished messages' check.
    check: FinishedCheck,
    /// What was read.
    found: QuicDecrypted,
}

impl std::fmt::Debug for KeyLogDecryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLogDecryption")
            .field("secrets", &self.secrets)
            .field("suite", &self.suite)
            .field("found", &self.found)
            .finish()
    }
}

impl KeyLogDecryption {
    /// Decryption for a new connection, with secrets from `source`.
    pub fn new(source: SharedKeyLog) -> Self {
        KeyLogDecryption {
            source,
            client_random: None,
            secrets: None,
            suite: None,
            version: None,
            keys: Default::default(),
            streams: Default::default(),
            last: [None, None],
            check: FinishedCheck::default(),
            found: QuicDecrypted::default(),
        }
    }

    /// What the Initial CRYPTO streams carry: the ClientHello's random names the secrets, the
    /// ServerHello the suite; both start the transcript.
    ///
    /// The random is read from the client's CRYPTO frame at offset 0, not from the whole
    /// ClientHello: it is there even when a later piece of a ClientHello split over several
    /// Initials was lost, and a client that answers a Retry with a new ClientHello (aioquic
    /// does; the stream's first copy is the one joined) names its new secrets there. A random
    /// is replaced only while the key log has nothing for the one held.
    pub fn initial_crypto(&mut self, from_client: bool, seen: Seen<'_>) {
        match seen {
            Seen::Frame { offset: 0, data } if from_client && self.secrets.is_none() => {
                if data.first() == Some(&1)
                    && let Some(random) = data.get(4..).and_then(hello_random)
                {
                    self.client_random = Some(random);
                    self.take_secrets();
                }
            }
            Seen::Message { msg_type, body }
                if from_client && HandshakeType(msg_type) == HandshakeType::CLIENT_HELLO =>
            {
                self.check
                    .random
                    .get_or_insert_with(|| hello_random(body).unwrap_or_default());
                self.check.transcript.add(msg_type, body);
            }
            Seen::Message { msg_type, body }
                if !from_client && HandshakeType(msg_type) == HandshakeType::SERVER_HELLO =>
            {
                let Ok(hello) = parse_server_hello(body, msg_type) else {
                    return;
                };
                let suite = Suite::from_cipher_suite(hello.cipher);
                let hash = suite.map(Suite::hash);
                let transcript_hash = match hash {
                    Some(HashAlg::Sha384) => TranscriptHash::Sha384,
                    _ => TranscriptHash::Sha256,
                };
                if hello.hrr {
                    self.check.transcript.hello_retry(transcript_hash);
                } else {
                    self.check.transcript.start(transcript_hash);
                    self.check.hash = hash;
                    self.suite = suite;
                    // Live, a key log line is often written after the ClientHello was sent.
                    self.take_secrets();
                }
                self.check.transcript.add(msg_type, body);
            }
            _ => {}
        }
    }

    /// The client starts again after Version Negotiation: a new ClientHello, a new transcript.
    pub fn restart(&mut self) {
        self.check = FinishedCheck::default();
    }

    fn take_secrets(&mut self) {
        if self.secrets.is_none()
            && let Some(random) = &self.client_random
        {
            self.secrets = self.source.take(random);
        }
    }

    /// Whether Handshake and 1-RTT packets are still worth opening: until HANDSHAKE_DONE was
    /// read.
    pub fn reads(&self) -> bool {
        self.found.handshake_done.is_none()
    }

    /// The CRYPTO stream of `space` in `dir` (made on first use with `limits`, charging the
    /// worker's `budget`), and the reader of what else the packet's frames show.
    pub fn stream(
        &mut self,
        space: KeySpace,
        dir: Direction,
        limits: CryptoLimits,
        budget: &Option<JoinBudget>,
    ) -> (&mut CryptoStream, MessageReader<'_>) {
        let stream = self.streams[space.index()][dir.index()]
            .get_or_insert_with(|| Box::new(CryptoStream::new(limits, budget.clone())));
        let reader = MessageReader {
            space,
            found: &mut self.found,
            check: &mut self.check,
            secrets: self.secrets.as_ref(),
            client_random: self.client_random,
        };
        (stream, reader)
    }

    /// A packet was read: once HANDSHAKE_DONE was, the secrets, the Handshake keys and the
    /// streams go (the 1-RTT keys stay, for the last packets).
    pub fn settle(&mut self) {
        if self.found.handshake_done.is_some() {
            self.secrets = None;
            self.keys[KeySpace::Handshake.index()] = Default::default();
            self.streams = Default::default();
            self.check = FinishedCheck::default();
        }
    }

    /// A 1-RTT packet from `dir` after opening stopped: kept as the side's last one (a copy,
    /// in a buffer reused), for [`Self::take_last_packets`].
    pub fn keep_last(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp) {
        self.keys[KeySpace::OneRtt.index()][dir.index()].skipped += 1;
        let (buffer, at) = self.last[dir.index()].get_or_insert_with(|| (Vec::new(), ts));
        buffer.clear();
        buffer.extend_from_slice(bytes);
        *at = ts;
    }

    /// Each side's last 1-RTT packet kept since opening stopped, oldest first.
    pub fn take_last_packets(&mut self) -> Vec<(Direction, Vec<u8>, Timestamp)> {
        let mut last: Vec<_> = [Direction::LoToHi, Direction::HiToLo]
            .into_iter()
            .filter_map(|dir| {
                let (bytes, ts) = self.last[dir.index()].take()?;
                Some((dir, bytes, ts))
            })
            .collect();
        last.sort_by_key(|(_, _, ts)| *ts);
        last
    }

    /// Opens a side's last 1-RTT packet (from [`Self::take_last_packets`]): its packet number
    /// is taken to follow the last one opened by the packets skipped since. Counted only when
    /// it opens (a key update since, or capture loss, may well explain a failure).
    pub fn open_last<'b>(
        &mut self,
        dir: Direction,
        client: Direction,
        bytes: &[u8],
        pn_offset: usize,
        scratch: &'b mut Vec<u8>,
    ) -> Option<Opened<'b>> {
        let before = self.found.accounting;
        let entry = &mut self.keys[KeySpace::OneRtt.index()][dir.index()];
        entry.largest = entry
            .largest
            .map(|l| l.saturating_add(entry.skipped.saturating_sub(1)));
        let opened = self.open(
            KeySpace::OneRtt,
            dir,
            client,
            None,
            bytes,
            pn_offset,
            scratch,
        );
        if opened.is_none() {
            self.found.accounting = before;
        }
        opened
    }

    /// Opens one packet of `space` sent in `dir` (whole packet in `bytes`, packet number at
    /// `pn_offset`) into `scratch`; `client` is the client's direction, `version` the packet's
    /// (`None` for a short header). Counts it; `None` when it did not open.
    #[allow(clippy::too_many_arguments)]
    pub fn open<'b>(
        &mut self,
        space: KeySpace,
        dir: Direction,
        client: Direction,
        version: Option<QuicVersion>,
        bytes: &[u8],
        pn_offset: usize,
        scratch: &'b mut Vec<u8>,
    ) -> Option<Opened<'b>> {
        let accounting = &mut self.found.accounting;
        accounting.protected_records += 1;
        let suite = self.suite?;
        if space == KeySpace::Handshake && self.version.is_none() {
            self.version = version;
        }
        let version = version.or(self.version)?;
        let kind = space.secret(dir == client);
        let entry = &mut self.keys[space.index()][dir.index()];
        let keys = *entry.keys.get_or_insert_with(|| {
            let secret = self
                .secrets
                .as_ref()
                .and_then(|s| s.get(kind))
                .ok_or(Unopenable::Missing(kind))?;
            let labels = &version.params().ok_or(Unopenable::Unusable)?.labels;
            if secret.len() != suite.hash().output_len() {
                return Err(Unopenable::Unusable);
            }
            PacketKeys::from_secret(suite, labels, secret).map_err(|_| Unopenable::Unusable)
        });
        let keys = match keys {
            Ok(keys) => keys,
            Err(Unopenable::Missing(kind)) => {
                accounting.missing.get_or_insert(kind);
                return None;
            }
            Err(Unopenable::Unusable) => {
                accounting.failed_records += 1;
                return None;
            }
        };
        match unprotect(bytes, pn_offset, &keys, entry.largest, scratch) {
            Ok(opened) => {
                accounting.decrypted_records += 1;
                entry.largest = Some(
                    entry
                        .largest
                        .map_or(opened.packet_number, |l| l.max(opened.packet_number)),
                );
                Some(opened)
            }
            Err(OpenError::Authentication | OpenError::TooShort) => {
                accounting.failed_records += 1;
                None
            }
        }
    }

    /// What decryption found, once the connection is over (its secrets go with it).
    pub fn finish(self) -> QuicDecrypted {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keylog::KeyLog;
    use crate::quic::packet::protect;

    /// Decryption with a key log holding one `label` secret for a fixed client random, after
    /// the ClientHello's first CRYPTO bytes and a ServerHello choosing `cipher`.
    fn decryption(label: &str, secret: &str, cipher: u16) -> KeyLogDecryption {
        let random = [0xab; 32];
        let mut log = KeyLog::default();
        log.add_text(
            "k",
            format!("{label} {} {secret}\n", hex::encode(random)).as_bytes(),
        );
        let mut d = KeyLogDecryption::new(SharedKeyLog::new(log));
        let mut hello = vec![1, 0, 0, 40, 3, 3];
        hello.extend(random);
        let data = &hello;
        d.initial_crypto(true, Seen::Frame { offset: 0, data });
        // ServerHello: version, random, session ID, the suite, no compression, no extensions.
        let mut body = vec![3, 3];
        body.extend([1; 32]);
        body.push(0);
        body.extend(cipher.to_be_bytes());
        body.extend([0, 0, 0]);
        d.initial_crypto(
            false,
            Seen::Message {
                msg_type: 2,
                body: &body,
            },
        );
        d
    }

    /// Handshake-space keys from a known secret: RFC 9001 A.1's client Initial secret used as
    /// a client handshake traffic secret gives A.1's key, IV and header-protection key (the
    /// derivation is the same for every space), and a Handshake packet sealed with them opens.
    #[test]
    fn handshake_packet_opens_with_keys_from_the_key_log() {
        let secret = "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea";
        let mut d = decryption("CLIENT_HANDSHAKE_TRAFFIC_SECRET", secret, 0x1301);
        assert_eq!(d.suite, Some(Suite::Aes128Gcm));

        let v1 = QuicVersion::V1;
        let labels = &v1.params().expect("v1").labels;
        let keys =
            PacketKeys::from_secret(Suite::Aes128Gcm, labels, &hex::decode(secret).expect("hex"))
                .expect("keys");
        assert_eq!(
            hex::encode(keys.aead_key()),
            "1f369613dd76d5467730efcbe3b1a22d"
        );
        assert_eq!(hex::encode(keys.iv), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(
            hex::encode(keys.hp_key()),
            "9f50449e04a0e810283a1e9933adedd2"
        );
        // A Handshake packet (type bits 0b10), DCID 01, SCID 02, Length 2 + 20 + 16, a
        // 2-byte packet number 7, a PING and padding.
        let header = [0xe1, 0, 0, 0, 1, 1, 1, 1, 2, 0x40, 38, 0, 7];
        let mut frames = vec![0x01];
        frames.resize(20, 0);
        let packet = protect(&header, 7, &frames, &keys);
        let (c, s) = (Direction::LoToHi, Direction::HiToLo);
        let mut scratch = Vec::new();
        let opened = d
            .open(
                KeySpace::Handshake,
                c,
                c,
                Some(v1),
                &packet,
                11,
                &mut scratch,
            )
            .expect("opens");
        assert_eq!(opened.packet_number, 7);
        assert_eq!(opened.payload, &frames[..]);
        // The server's secret is missing: named, not failed.
        assert!(
            d.open(
                KeySpace::Handshake,
                s,
                c,
                Some(v1),
                &packet,
                11,
                &mut scratch
            )
            .is_none()
        );
        let mut damaged = packet.clone();
        *damaged.last_mut().expect("tag") ^= 1;
        assert!(
            d.open(
                KeySpace::Handshake,
                c,
                c,
                Some(v1),
                &damaged,
                11,
                &mut scratch
            )
            .is_none()
        );
        let a = d.finish().accounting;
        assert_eq!(
            (a.protected_records, a.decrypted_records, a.failed_records),
            (3, 1, 1)
        );
        assert_eq!(a.missing, Some(SecretKind::ServerHandshakeTraffic));
    }

    /// RFC 9001 A.5: the ChaCha20-Poly1305 1-RTT packet from the server, opened through the
    /// key-log path (header protection by ChaCha20, short header, packet number 654360564).
    #[test]
    fn chacha20_short_header_vector_opens() {
        let secret = "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b";
        let mut d = decryption("SERVER_TRAFFIC_SECRET_0", secret, 0x1303);
        d.version = Some(QuicVersion::V1);
        let packet = hex::decode("4cfe4189655e5cd55c41f69080575d7999c25a5bfb").expect("hex");
        let (c, s) = (Direction::LoToHi, Direction::HiToLo);
        let mut scratch = Vec::new();
        // The expected packet number 654360563 is the last one before it.
        d.keys[KeySpace::OneRtt.index()][s.index()].largest = Some(654_360_563);
        let opened = d
            .open(KeySpace::OneRtt, s, c, None, &packet, 1, &mut scratch)
            .expect("opens");
        assert_eq!(opened.packet_number, 654_360_564);
        assert_eq!(opened.payload, &[0x01]);
    }
}
