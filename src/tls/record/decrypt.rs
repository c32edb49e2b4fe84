//! The TCP record layer's decryption, for connections of an analysis with key logs: every
//! record goes through the connection's [`ConnectionKeys`] first; what opens is read as
//! cleartext would be (handshake messages into the same [`Handshake`] layer, alerts exact),
//! what does not falls back to the layer's encrypted-record path (inferences by size) and is
//! counted ([`DecryptionFacts`]).
//!
//! Only connections of such an analysis carry this state: the record layer holds it as an
//! `Option<Box<_>>`, so an analysis without key logs pays one branch per record.

use crate::flow::{Direction, Timestamp};
use crate::keylog::SharedKeyLog;
use crate::tls::codes::{AlertDescription, AlertLevel, ContentType, HandshakeType};
use crate::tls::decrypt::DecryptionFacts;
use crate::tls::decrypt::connection::{ConnectionKeys, NotDecrypted, Opened, Sender};
use crate::tls::handshake::{Alert, AnomalyKind, Handshake, MessageParsers, TlsContext};
use crate::tls::joiner::{Joined, Joiner};

use super::deframer::{RecordBody, RecordHeader};
use super::layer::too_large;

/// One connection's decryption state.
#[derive(Debug)]
pub(super) struct Decryption {
    keys: ConnectionKeys,
    source: SharedKeyLog,
    /// Decrypted handshake bytes per direction, joined into messages.
    joiners: [Joiner; 2],
    /// The plaintext of the record being read.
    plain: Vec<u8>,
    facts: DecryptionFacts,
}

/// What became of a record.
pub(super) enum Outcome {
    /// Not protected: the record layer reads it as usual.
    Cleartext,
    /// Decrypted and delivered.
    Decrypted {
        /// Its (inner) content type.
        content_type: ContentType,
    },
    /// Protected and not decrypted: the record layer treats it as encrypted.
    Encrypted,
}

impl Decryption {
    /// Decryption for a new connection, with secrets from `source`.
    pub(super) fn new(source: SharedKeyLog, joiners: [Joiner; 2]) -> Self {
        Decryption {
            keys: ConnectionKeys::new(),
            source,
            joiners,
            plain: Vec::new(),
            facts: DecryptionFacts::default(),
        }
    }

    /// Whether record bodies are worth reading: before keys were settled, or with secrets.
    pub(super) fn wants_bodies(&self) -> bool {
        self.keys.has_secrets() || !self.keys.negotiated()
    }

    /// A cleartext handshake message, which the keys follow (hellos, the transcript).
    pub(super) fn cleartext_message<P>(
        &mut self,
        hs: &Handshake<P>,
        dir: Direction,
        msg_type: u8,
        body: &[u8],
    ) {
        let from = sender(hs, dir);
        self.keys
            .handshake_message(from, msg_type, body, &mut self.source);
    }

    /// A ChangeCipherSpec from `dir`.
    pub(super) fn change_cipher_spec<P>(&mut self, hs: &Handshake<P>, dir: Direction) {
        self.keys.change_cipher_spec(sender(hs, dir));
    }

    /// Records of `dir` may have been lost.
    pub(super) fn gap<P>(&mut self, hs: &Handshake<P>, dir: Direction) {
        self.keys.gap(sender(hs, dir));
    }

    /// One TLS record (not a ChangeCipherSpec): opened, and when it was decrypted, its content
    /// delivered to `hs`.
    pub(super) fn record<P: MessageParsers>(
        &mut self,
        hs: &mut Handshake<P>,
        ctx: &mut TlsContext,
        dir: Direction,
        header: &RecordHeader,
        body: &RecordBody<'_>,
        ts: Timestamp,
    ) -> Outcome {
        let from = sender(hs, dir);
        let mut raw = [header.content_type.0, 0, 0, 0, 0];
        raw[1..3].copy_from_slice(&header.version.to_be_bytes());
        raw[3..5].copy_from_slice(&header.len.to_be_bytes());
        let bytes = match body {
            RecordBody::Data(bytes) => bytes,
            // Not read (no secrets) or lost: asked only whether it was protected.
            RecordBody::Skipped | RecordBody::Lost => &[][..],
        };
        let mut plain = std::mem::take(&mut self.plain);
        let outcome = match self.keys.open(from, &raw, bytes, &mut plain) {
            Opened::Cleartext => Outcome::Cleartext,
            Opened::Decrypted { content_type } => {
                self.facts.protected_records += 1;
                self.facts.decrypted_records += 1;
                let content_type = ContentType(content_type);
                self.deliver(hs, ctx, dir, from, content_type, &plain, ts);
                Outcome::Decrypted { content_type }
            }
            Opened::NotDecrypted(why) => {
                self.facts.protected_records += 1;
                match why {
                    NotDecrypted::MissingSecret(kind) => {
                        self.facts.missing.get_or_insert(kind);
                    }
                    NotDecrypted::Failed(_) => self.facts.failed_records += 1,
                    NotDecrypted::Unsupported(_) | NotDecrypted::EarlyData => {}
                }
                Outcome::Encrypted
            }
        };
        self.plain = plain;
        outcome
    }

    /// A decrypted record's content.
    #[allow(clippy::too_many_arguments)]
    fn deliver<P: MessageParsers>(
        &mut self,
        hs: &mut Handshake<P>,
        ctx: &mut TlsContext,
        dir: Direction,
        from: Sender,
        content_type: ContentType,
        plain: &[u8],
        ts: Timestamp,
    ) {
        match content_type {
            ContentType::HANDSHAKE => {
                let keys = &mut self.keys;
                let source = &mut self.source;
                let joiner = &mut self.joiners[dir.index()];
                let max = joiner.max_message();
                joiner.push(plain, |joined| match joined {
                    Joined::Message { msg_type, body } => {
                        // The keys first: a Finished moves its sender to new keys, and the
                        // next record of the same packet needs them.
                        keys.handshake_message(from, msg_type, body, source);
                        hs.on_message(ctx, dir, HandshakeType(msg_type), body, ts);
                    }
                    Joined::TooLarge { len, .. } => hs.anomaly(dir, too_large(len, max)),
                });
            }
            ContentType::ALERT => {
                if plain.is_empty() || !plain.len().is_multiple_of(2) {
                    hs.anomaly(dir, AnomalyKind::BadAlert);
                }
                for pair in plain.chunks_exact(2) {
                    if let &[level, description] = pair {
                        let alert =
                            Alert::decrypted(AlertLevel(level), AlertDescription(description));
                        hs.on_alert(dir, alert, ts);
                    }
                }
            }
            ContentType::APPLICATION_DATA => {
                hs.on_application_data(dir, ts);
            }
            _ => {}
        }
    }

    /// What decryption did, once the connection is over (its secrets are dropped with it).
    pub(super) fn facts(&self) -> DecryptionFacts {
        DecryptionFacts {
            finished_verified: [
                self.keys.finished_verified(Sender::Client),
                self.keys.finished_verified(Sender::Server),
            ],
            ..self.facts
        }
    }
}

/// Which end sent what `dir` carries: the ClientHello's sender is the client.
fn sender<P>(hs: &Handshake<P>, dir: Direction) -> Sender {
    if hs.client() == Some(dir) {
        Sender::Client
    } else {
        Sender::Server
    }
}
