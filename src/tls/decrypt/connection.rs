//! One connection's record keys in both directions, driven by its handshake messages in order:
//! which records are protected, under which secret, when the keys change (TLS 1.3 Finished,
//! EndOfEarlyData, KeyUpdate; TLS ≤ 1.2 ChangeCipherSpec and renegotiation), and whether each
//! Finished matches the transcript.
//!
//! The caller (the record layer of a transport) feeds every handshake message of both
//! directions, cleartext or decrypted, in the order they were sent
//! ([`ConnectionKeys::handshake_message`]), every ChangeCipherSpec
//! ([`ConnectionKeys::change_cipher_spec`]), and hands it each record before interpreting it
//! ([`ConnectionKeys::open`]), feeding the messages of one record before opening the next.
//! Hellos are parsed again here (random, version, suite, extensions) so that this state
//! machine needs nothing but the messages; it only runs on connections of a capture analysed
//! with key logs.
//!
//! Secrets are taken from a [`SecretSource`] (the [`KeyLog`]) when the ClientHello names its
//! client random, and dropped once both sides have their traffic keys and the Finished
//! messages are checked.

use crate::keylog::{ClientRandom, ConnectionSecrets, KeyLog, SecretKind, SharedKeyLog};
use crate::tls::codes::ProtocolVersion;
use crate::tls::handshake::hello::{parse_client_hello, parse_server_hello};
use crate::tls::key_schedule::HashAlg;

use super::DecryptError;
use super::finished::{tls12_verify_data, tls13_verify_data};
use super::prf::Prf;
use super::tls12::{Tls12Keys, Tls12Protection, Tls12Suite};
use super::tls13::{Tls13Protection, tls13_suite};
use super::transcript::{Transcript, TranscriptHash};

/// Handshake message types this state machine acts on.
const HELLO_REQUEST: u8 = 0;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const NEW_SESSION_TICKET: u8 = 4;
const END_OF_EARLY_DATA: u8 = 5;
const FINISHED: u8 = 20;
const KEY_UPDATE: u8 = 24;
/// Record content type of TLS 1.3 protected records.
const APPLICATION_DATA: u8 = 23;
/// The `encrypt_then_mac` extension (RFC 7366).
const ENCRYPT_THEN_MAC: u16 = 22;

/// Which end of the connection sent something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// The side that sent the ClientHello.
    Client,
    /// The other side.
    Server,
}

impl Sender {
    fn index(self) -> usize {
        match self {
            Sender::Client => 0,
            Sender::Server => 1,
        }
    }
}

/// Where the secrets of a connection come from, looked up by client random.
pub trait SecretSource {
    /// The secrets of the handshake whose ClientHello carried `client_random`, handed over
    /// (they are not needed by anyone else).
    fn take(&mut self, client_random: &ClientRandom) -> Option<ConnectionSecrets>;
}

impl SecretSource for KeyLog {
    fn take(&mut self, client_random: &ClientRandom) -> Option<ConnectionSecrets> {
        KeyLog::take(self, client_random)
    }
}

impl SecretSource for SharedKeyLog {
    fn take(&mut self, client_random: &ClientRandom) -> Option<ConnectionSecrets> {
        SharedKeyLog::take(self, client_random)
    }
}

/// What [`ConnectionKeys::open`] made of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The record is not protected: interpret its body as it is.
    Cleartext,
    /// Decrypted: the caller's buffer holds the content, of this content type (TLS 1.3's inner
    /// type; the header's for TLS ≤ 1.2).
    Decrypted {
        /// Content type of the plaintext.
        content_type: u8,
    },
    /// Protected and not decrypted, with the reason.
    NotDecrypted(NotDecrypted),
}

/// Why a protected record was not decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotDecrypted {
    /// The key log has no secret for it.
    MissingSecret(SecretKind),
    /// The suite or version is not one tlsight decrypts.
    Unsupported(DecryptError),
    /// Keys were there, but the record did not decrypt (`decryption_failed`).
    Failed(DecryptError),
    /// TLS 1.3 early data sent before the ServerHello named the suite that protects it.
    EarlyData,
}

enum Protection {
    Tls13(Tls13Protection),
    Tls12(Tls12Protection),
}

impl Protection {
    fn seq(&self) -> u64 {
        match self {
            Protection::Tls13(p) => p.seq(),
            Protection::Tls12(p) => p.seq(),
        }
    }

    fn set_seq(&mut self, seq: u64) {
        match self {
            Protection::Tls13(p) => p.set_seq(seq),
            Protection::Tls12(p) => p.set_seq(seq),
        }
    }

    /// Opens a record that may follow up to `lost` records missing from the capture: tries the
    /// sequence numbers one by one (only after a gap, so only then at a cost).
    fn open_after_loss(
        &mut self,
        lost: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, DecryptError> {
        let first = self.seq();
        let mut result = self.open(header, body, out);
        for skip in 1..=lost {
            if result.is_ok() {
                break;
            }
            self.set_seq(first + skip);
            result = self.open(header, body, out);
        }
        if result.is_err() {
            self.set_seq(first);
        }
        result
    }

    fn open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, DecryptError> {
        match self {
            Protection::Tls13(p) => p.open(header, body, out).map(|inner| inner.content_type),
            Protection::Tls12(p) => p.open(header, body, out).map(|()| header[0]),
        }
    }
}

/// Keys, or the reason there are none.
type Keys = Result<Protection, NotDecrypted>;

/// One sender's state.
#[derive(Default)]
struct Side {
    /// Whether this sender's records are protected now.
    protected: bool,
    /// The keys of its records now.
    current: Option<Keys>,
    /// TLS 1.3 client: the early-data keys, tried before `current` until a record opens with
    /// `current` or EndOfEarlyData ends early data.
    early: Option<Protection>,
    /// TLS ≤ 1.2: the keys that take over at this sender's next ChangeCipherSpec.
    pending: Option<Keys>,
    /// Whether this sender's latest Finished matched the transcript.
    finished: Option<bool>,
    /// Whether this sender's Finished of the current handshake was seen.
    finished_seen: bool,
    /// After a capture gap: how many lost records the next record may follow.
    lost: u64,
    /// KeyUpdates seen from this sender.
    key_updates: u32,
}

/// The negotiated parameters of the current handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Negotiated {
    version: u16,
    cipher: u16,
}

/// One connection's record protection in both directions. `Debug` shows no secret.
#[derive(Default)]
pub struct ConnectionKeys {
    client_random: Option<ClientRandom>,
    secrets: Option<ConnectionSecrets>,
    offered_early_data: bool,
    /// Early-data records seen before the ServerHello (they advance the early keys' sequence).
    early_records: u64,
    negotiated: Option<Negotiated>,
    sides: [Side; 2],
    transcript: Transcript,
    /// Whether the transcript is still being fed (until the handshake's last Finished).
    in_handshake: bool,
}

impl std::fmt::Debug for ConnectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionKeys")
            .field("negotiated", &self.negotiated)
            .field("secrets", &self.secrets)
            .field(
                "finished",
                &[self.sides[0].finished, self.sides[1].finished],
            )
            .finish()
    }
}

impl ConnectionKeys {
    /// A connection before its ClientHello.
    pub fn new() -> Self {
        ConnectionKeys::default()
    }

    /// Whether `from`'s latest Finished matched the transcript (`None`: not seen or not
    /// checkable).
    pub fn finished_verified(&self, from: Sender) -> Option<bool> {
        self.sides[from.index()].finished
    }

    /// KeyUpdates seen from `from`.
    pub fn key_updates(&self, from: Sender) -> u32 {
        self.sides[from.index()].key_updates
    }

    /// Whether a ServerHello settled the version and suite (the keys follow from them).
    pub fn negotiated(&self) -> bool {
        self.negotiated.is_some()
    }

    /// Whether the key log had secrets for the current handshake's client random.
    pub fn has_secrets(&self) -> bool {
        self.secrets.is_some() || self.sides.iter().any(|s| matches!(s.current, Some(Ok(_))))
    }

    /// A ChangeCipherSpec from `from`: under TLS ≤ 1.2 its next records use the pending keys.
    pub fn change_cipher_spec(&mut self, from: Sender) {
        if self.is_tls13() {
            return; // middlebox-compatibility CCS: changes nothing
        }
        let side = &mut self.sides[from.index()];
        if let Some(pending) = side.pending.take() {
            side.current = Some(pending);
            side.protected = true;
        }
    }

    /// Records lost in a gap that the next record of a sender is tried after: a lost record
    /// advanced the sender's sequence number, which the nonce or MAC of the next one depends on.
    pub const MAX_LOST_RECORDS: u64 = 16;

    /// Part of `from`'s stream was missing from the capture: whole records may be lost, so the
    /// next record is tried at up to [`MAX_LOST_RECORDS`](Self::MAX_LOST_RECORDS) sequence
    /// numbers ahead. (TLS 1.0 CBC cannot recover: its IV was the lost record's last block.)
    pub fn gap(&mut self, from: Sender) {
        self.sides[from.index()].lost = Self::MAX_LOST_RECORDS;
    }

    /// Opens one record from `from` (`header`: its 5-byte header; `body`: the rest) into
    /// `out`.
    pub fn open(
        &mut self,
        from: Sender,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Opened {
        let tls13 = self.is_tls13();
        if tls13 && header[0] != APPLICATION_DATA {
            return Opened::Cleartext;
        }
        if !self.sides[from.index()].protected {
            if from == Sender::Client
                && self.offered_early_data
                && self.negotiated.is_none()
                && header[0] == APPLICATION_DATA
            {
                self.early_records += 1;
                return Opened::NotDecrypted(NotDecrypted::EarlyData);
            }
            return Opened::Cleartext;
        }
        let side = &mut self.sides[from.index()];
        if let Some(early) = &mut side.early
            && let Ok(content_type) = early.open(header, body, out)
        {
            return Opened::Decrypted { content_type };
        }
        let lost = std::mem::take(&mut side.lost);
        match &mut side.current {
            Some(Ok(keys)) => match keys.open_after_loss(lost, header, body, out) {
                Ok(content_type) => {
                    side.early = None;
                    Opened::Decrypted { content_type }
                }
                Err(e) => Opened::NotDecrypted(NotDecrypted::Failed(e)),
            },
            Some(Err(why)) => Opened::NotDecrypted(*why),
            None => Opened::NotDecrypted(NotDecrypted::MissingSecret(if tls13 {
                SecretKind::ClientHandshakeTraffic
            } else {
                SecretKind::MasterSecret
            })),
        }
    }

    /// One handshake message from `from` (type and body, without the 4-byte header), cleartext
    /// or decrypted, in order. Secrets are taken from `source` when a ClientHello arrives.
    pub fn handshake_message(
        &mut self,
        from: Sender,
        msg_type: u8,
        body: &[u8],
        source: &mut impl SecretSource,
    ) {
        match (from, msg_type) {
            (Sender::Client, CLIENT_HELLO) => self.client_hello(body, source),
            (Sender::Server, SERVER_HELLO) => {
                if self.secrets.is_none()
                    && let Some(random) = self.client_random
                {
                    // Live, a key log line is often written after the ClientHello was sent.
                    self.secrets = source.take(&random);
                }
                self.server_hello(body);
                return;
            }
            (_, FINISHED) if self.in_handshake => {
                self.finished(from, body);
                return;
            }
            (Sender::Client, END_OF_EARLY_DATA) => self.sides[0].early = None,
            (_, KEY_UPDATE) if self.is_tls13() => {
                let side = &mut self.sides[from.index()];
                side.key_updates += 1;
                if let Some(Ok(Protection::Tls13(p))) = &mut side.current
                    && let Err(e) = p.key_update()
                {
                    side.current = Some(Err(NotDecrypted::Failed(e)));
                }
                return;
            }
            (_, NEW_SESSION_TICKET) if self.is_tls13() => return,
            (Sender::Server, HELLO_REQUEST) => return, // never part of a transcript
            _ => {}
        }
        if self.in_handshake {
            self.transcript.add(msg_type, body);
        }
    }

    fn is_tls13(&self) -> bool {
        self.negotiated.is_some_and(|n| is_tls13(n.version))
    }

    fn client_hello(&mut self, body: &[u8], source: &mut impl SecretSource) {
        let Some(random) = hello_random(body) else {
            return;
        };
        if self.client_random == Some(random) && self.negotiated.is_none() {
            // The second ClientHello after a HelloRetryRequest: same handshake.
            return;
        }
        // A first ClientHello, or a renegotiation's: a new handshake and its own secrets.
        self.transcript.restart();
        self.in_handshake = true;
        self.client_random = Some(random);
        self.secrets = source.take(&random);
        self.offered_early_data = parse_client_hello(body).is_ok_and(|h| h.early_data);
        self.early_records = 0;
        for side in &mut self.sides {
            side.finished_seen = false;
        }
        if self.negotiated.is_some_and(|n| !is_tls13(n.version)) {
            // Renegotiation: the current keys stay until the next ChangeCipherSpec.
            self.negotiated = None;
        }
    }

    fn server_hello(&mut self, body: &[u8]) {
        let (Ok(hello), Some(server_random)) =
            (parse_server_hello(body, SERVER_HELLO), hello_random(body))
        else {
            return;
        };
        if hello.hrr {
            if let Some((_, hash)) = tls13_suite(hello.cipher) {
                self.transcript.hello_retry(transcript_hash_of(hash));
            }
            self.transcript.add(SERVER_HELLO, body);
            return;
        }
        let negotiated = Negotiated {
            version: hello.version,
            cipher: hello.cipher,
        };
        self.negotiated = Some(negotiated);
        if is_tls13(hello.version) {
            if let Some((_, hash)) = tls13_suite(hello.cipher) {
                self.transcript.start(transcript_hash_of(hash));
            }
            self.transcript.add(SERVER_HELLO, body);
            self.tls13_handshake_keys(negotiated.cipher);
        } else {
            if let Some(suite) = Tls12Suite::of(hello.cipher) {
                self.transcript.start(match suite.prf_for(hello.version) {
                    Prf::Md5Sha1 => TranscriptHash::Md5Sha1,
                    Prf::Sha256 => TranscriptHash::Sha256,
                    Prf::Sha384 => TranscriptHash::Sha384,
                });
            }
            self.transcript.add(SERVER_HELLO, body);
            let etm = hello.extensions.contains(&ENCRYPT_THEN_MAC);
            self.tls12_pending_keys(negotiated, &server_random, etm);
        }
    }

    fn tls13_handshake_keys(&mut self, cipher: u16) {
        let client = self.tls13_keys(cipher, SecretKind::ClientHandshakeTraffic);
        let server = self.tls13_keys(cipher, SecretKind::ServerHandshakeTraffic);
        let early = match self.tls13_keys(cipher, SecretKind::ClientEarlyTraffic) {
            Ok(Protection::Tls13(mut p)) if self.offered_early_data => {
                p.skip_records(self.early_records);
                Some(Protection::Tls13(p))
            }
            _ => None,
        };
        let [c, s] = &mut self.sides;
        *c = Side {
            protected: true,
            current: Some(client),
            early,
            ..Side::default()
        };
        *s = Side {
            protected: true,
            current: Some(server),
            ..Side::default()
        };
    }

    fn tls13_keys(&self, cipher: u16, kind: SecretKind) -> Keys {
        let secret = self
            .secrets
            .as_ref()
            .and_then(|s| s.get(kind))
            .ok_or(NotDecrypted::MissingSecret(kind))?;
        match Tls13Protection::new(cipher, secret) {
            Ok(p) => Ok(Protection::Tls13(p)),
            Err(e @ DecryptError::UnsupportedCipher(_)) => Err(NotDecrypted::Unsupported(e)),
            Err(e) => Err(NotDecrypted::Failed(e)),
        }
    }

    fn tls12_pending_keys(&mut self, n: Negotiated, server_random: &[u8; 32], etm: bool) {
        let (client, server): (Keys, Keys) = match (&self.secrets, &self.client_random) {
            (Some(secrets), Some(client_random)) => match secrets.get(SecretKind::MasterSecret) {
                Some(master) => match Tls12Keys::derive(
                    n.version,
                    n.cipher,
                    master,
                    client_random,
                    server_random,
                    etm,
                ) {
                    Ok(keys) => (
                        Ok(Protection::Tls12(keys.client)),
                        Ok(Protection::Tls12(keys.server)),
                    ),
                    Err(e) => {
                        let why = match e {
                            DecryptError::UnsupportedCipher(_)
                            | DecryptError::UnsupportedVersion(_) => NotDecrypted::Unsupported(e),
                            _ => NotDecrypted::Failed(e),
                        };
                        (Err(why), Err(why))
                    }
                },
                None => missing_pair(SecretKind::MasterSecret),
            },
            _ => missing_pair(SecretKind::MasterSecret),
        };
        self.sides[0].pending = Some(client);
        self.sides[1].pending = Some(server);
    }

    /// Checks a Finished against the transcript before it; under TLS 1.3 the sender's records
    /// move to its application traffic keys.
    fn finished(&mut self, from: Sender, body: &[u8]) {
        let expected = self.transcript.current().and_then(|hash| {
            let n = self.negotiated?;
            let secrets = self.secrets.as_ref()?;
            if is_tls13(n.version) {
                let (_, alg) = tls13_suite(n.cipher)?;
                let base = secrets.get(match from {
                    Sender::Client => SecretKind::ClientHandshakeTraffic,
                    Sender::Server => SecretKind::ServerHandshakeTraffic,
                })?;
                tls13_verify_data(alg, base, &hash).ok()
            } else {
                let prf = Tls12Suite::of(n.cipher)?.prf_for(n.version);
                let master = secrets.get(SecretKind::MasterSecret)?;
                Some(tls12_verify_data(prf, master, from == Sender::Client, &hash).to_vec())
            }
        });
        self.sides[from.index()].finished = expected.map(|want| want == body);
        self.transcript.add(FINISHED, body);
        if let Some(n) = self.negotiated.filter(|n| is_tls13(n.version)) {
            let kind = match from {
                Sender::Client => SecretKind::ClientTraffic0,
                Sender::Server => SecretKind::ServerTraffic0,
            };
            let keys = self.tls13_keys(n.cipher, kind);
            let side = &mut self.sides[from.index()];
            side.current = Some(keys);
            side.early = None;
        }
        self.sides[from.index()].finished_seen = true;
        if self.sides.iter().all(|s| s.finished_seen) {
            // Both Finished seen: the handshake's secrets are no longer needed.
            self.in_handshake = false;
            self.secrets = None;
            self.transcript.restart();
        }
    }
}

/// The crate's one TLS 1.3 test, on a raw version.
fn is_tls13(version: u16) -> bool {
    ProtocolVersion(version).is_tls13()
}

fn missing_pair(kind: SecretKind) -> (Keys, Keys) {
    (
        Err(NotDecrypted::MissingSecret(kind)),
        Err(NotDecrypted::MissingSecret(kind)),
    )
}

fn transcript_hash_of(hash: HashAlg) -> TranscriptHash {
    match hash {
        HashAlg::Sha256 => TranscriptHash::Sha256,
        HashAlg::Sha384 => TranscriptHash::Sha384,
    }
}

/// The 32-byte random of a ClientHello or ServerHello body (after the 2-byte version).
pub fn hello_random(body: &[u8]) -> Option<[u8; 32]> {
    body.get(2..34)?.try_into().ok()
}
