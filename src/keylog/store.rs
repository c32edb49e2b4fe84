//! The secrets of a key log, kept as one compact entry per client random, under a byte cap.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::line::{Line, LineError, SecretKind, parse_line};
use super::{ClientRandom, LineSplitter};

/// Bytes charged for one connection's entry besides its packed secrets: the map's slot (the
/// 32-byte client random and the 24-byte entry, at a load factor as low as 0.44 right after
/// the table doubles: up to 128 bytes), the client random again in the age queue (32, up to 64
/// while it doubles), and the allocator's header and rounding of the secrets' box. Measured
/// (`benches/keylog.rs`): a million TLS 1.3 connections held 327 MiB at peak, 343 bytes each,
/// where the charge is 192 + 132 = 324.
pub const ENTRY_OVERHEAD: usize = 192;

/// Default cap on the bytes held: 256 MiB, about 830,000 TLS 1.3 connections (four 32-byte
/// secrets each) or 1.1 million TLS 1.2 ones; the same default as the reassembly buffers.
pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

/// How many bad lines are named (file:line and why); the rest are only counted.
pub const MAX_BAD_LINES_NAMED: usize = 16;

/// A key log line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// The file (or `file: DSB at offset N` for a pcapng block) it came from.
    pub source: String,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub error: LineError,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.error)
    }
}

/// What reading key logs did, for the summary; merged with `+=`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLogStats {
    /// Lines read (comments and blank lines included).
    pub lines: u64,
    /// Secret lines kept (a new secret for a connection).
    pub secrets: u64,
    /// Well-formed lines with a label decryption does not use (`EXPORTER_SECRET`, ...).
    pub unused: u64,
    /// Lines repeating a secret already held (two programs logging to one file, a file read
    /// twice).
    pub duplicates: u64,
    /// Lines giving a different secret for a label and client random already held: the later
    /// one is kept.
    pub conflicts: u64,
    /// Lines that could not be read.
    pub bad_lines: u64,
    /// The first [`MAX_BAD_LINES_NAMED`] of them.
    pub bad_lines_named: Vec<BadLine>,
    /// Connections whose secrets were dropped, oldest first, to stay under the byte cap.
    pub evicted: u64,
}

impl std::ops::AddAssign<&KeyLogStats> for KeyLogStats {
    fn add_assign(&mut self, other: &KeyLogStats) {
        self.lines += other.lines;
        self.secrets += other.secrets;
        self.unused += other.unused;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.bad_lines += other.bad_lines;
        self.evicted += other.evicted;
        let room = MAX_BAD_LINES_NAMED.saturating_sub(self.bad_lines_named.len());
        self.bad_lines_named
            .extend(other.bad_lines_named.iter().take(room).cloned());
    }
}

/// One connection's secrets, packed: for each kind present (in [`SecretKind::ALL`] order) a
/// length byte and the secret. A TLS 1.2 connection holds 49 bytes, a TLS 1.3 one 132 or 196.
/// The bytes are overwritten with zeros when dropped; `Debug` names the kinds, never the bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnectionSecrets {
    mask: u8,
    data: Box<[u8]>,
}

/// What storing one secret did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    New,
    Same,
    Replaced,
}

impl ConnectionSecrets {
    /// The secret of `kind`, if the key log gave it.
    pub fn get(&self, kind: SecretKind) -> Option<&[u8]> {
        if self.mask & (1 << kind.slot()) == 0 {
            return None;
        }
        let mut at = 0;
        for k in self.kinds() {
            let len = usize::from(*self.data.get(at)?);
            let secret = self.data.get(at + 1..at + 1 + len)?;
            if k == kind {
                return Some(secret);
            }
            at += 1 + len;
        }
        None
    }

    /// The kinds held, in [`SecretKind::ALL`] order.
    pub fn kinds(&self) -> impl Iterator<Item = SecretKind> + '_ {
        SecretKind::ALL
            .into_iter()
            .filter(|k| self.mask & (1 << k.slot()) != 0)
    }

    /// Bytes of secrets held (length bytes included).
    fn packed_len(&self) -> usize {
        self.data.len()
    }

    /// Stores `secret` as `kind`, repacking.
    fn set(&mut self, kind: SecretKind, secret: &[u8]) -> Stored {
        let outcome = match self.get(kind) {
            Some(old) if old == secret => return Stored::Same,
            Some(_) => Stored::Replaced,
            None => Stored::New,
        };
        let mut data = Vec::with_capacity(self.data.len() + 1 + secret.len());
        for k in SecretKind::ALL {
            let bytes = if k == kind { Some(secret) } else { self.get(k) };
            if let Some(bytes) = bytes {
                data.push(bytes.len() as u8);
                data.extend_from_slice(bytes);
            }
        }
        self.mask |= 1 << kind.slot();
        wipe(&mut self.data);
        self.data = data.into_boxed_slice();
        outcome
    }
}

/// Overwrites secret bytes before their memory is freed.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, exclusive reference; a volatile write is not optimised away
        // although the memory is freed right after.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

impl Drop for ConnectionSecrets {
    fn drop(&mut self) {
        wipe(&mut self.data);
    }
}

impl std::fmt::Debug for ConnectionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.kinds().map(SecretKind::label))
            .finish()
    }
}

/// The secrets of every key log read, by client random, oldest dropped first past a byte cap.
///
/// Lines are added as they are read ([`KeyLog::add_text`], or a [`super::KeyLogFile`]
/// following a file); a connection's secrets are looked up with [`KeyLog::get`] or handed out
/// for good with [`KeyLog::take`] (so they stay in memory only as long as a connection needs
/// them).
#[derive(Debug)]
pub struct KeyLog {
    map: FxHashMap<ClientRandom, ConnectionSecrets>,
    /// Client randoms in the order they were first stored, for eviction (may hold randoms
    /// already taken; they are skipped, and the queue is compacted when they pile up).
    order: VecDeque<ClientRandom>,
    charged: usize,
    max_bytes: usize,
    stats: KeyLogStats,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog::new(DEFAULT_MAX_BYTES)
    }
}

impl KeyLog {
    /// An empty key log that holds at most about `max_bytes` (see [`ENTRY_OVERHEAD`]).
    pub fn new(max_bytes: usize) -> Self {
        KeyLog {
            map: FxHashMap::default(),
            order: VecDeque::new(),
            charged: 0,
            max_bytes,
            stats: KeyLogStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &KeyLogStats {
        &self.stats
    }

    /// Connections with at least one secret.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes charged against the cap.
    pub fn charged_bytes(&self) -> usize {
        self.charged
    }

    /// The secrets of the connection whose ClientHello carried `client_random`.
    pub fn get(&self, client_random: &ClientRandom) -> Option<&ConnectionSecrets> {
        self.map.get(client_random)
    }

    /// Removes and returns a connection's secrets, once the connection has them for itself.
    pub fn take(&mut self, client_random: &ClientRandom) -> Option<ConnectionSecrets> {
        let secrets = self.map.remove(client_random)?;
        self.charged -= ENTRY_OVERHEAD + secrets.packed_len();
        Some(secrets)
    }

    /// Reads every line of `text` (a whole key log: the last line needs no newline); bad lines
    /// are counted and named after `source`.
    pub fn add_text(&mut self, source: &str, text: &[u8]) {
        let mut lines = LineSplitter::default();
        lines.push(text, |no, line| self.add_line(source, no, line));
        lines.finish(|no, line| self.add_line(source, no, line));
    }

    /// Reads one line (from a [`LineSplitter`]): line `line_no` of `source`.
    pub fn add_line(&mut self, source: &str, line_no: u64, line: Result<&[u8], LineError>) {
        self.stats.lines += 1;
        match line.and_then(parse_line) {
            Ok(Line::Nothing) => {}
            Ok(Line::Unused { .. }) => self.stats.unused += 1,
            Ok(Line::Secret {
                kind,
                client_random,
                secret,
            }) => self.store(kind, client_random, secret.as_bytes()),
            Err(error) => {
                self.stats.bad_lines += 1;
                if self.stats.bad_lines_named.len() < MAX_BAD_LINES_NAMED {
                    self.stats.bad_lines_named.push(BadLine {
                        source: source.to_string(),
                        line: line_no,
                        error,
                    });
                }
            }
        }
    }

    fn store(&mut self, kind: SecretKind, client_random: ClientRandom, secret: &[u8]) {
        let entry = self.map.entry(client_random).or_insert_with(|| {
            self.order.push_back(client_random);
            self.charged += ENTRY_OVERHEAD;
            ConnectionSecrets::default()
        });
        let before = entry.packed_len();
        match entry.set(kind, secret) {
            Stored::New => self.stats.secrets += 1,
            Stored::Same => self.stats.duplicates += 1,
            Stored::Replaced => self.stats.conflicts += 1,
        }
        self.charged = self.charged - before + entry.packed_len();
        self.evict_to_cap();
    }

    /// Drops the oldest connections until the charge is under the cap.
    fn evict_to_cap(&mut self) {
        while self.charged > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.take(&oldest).is_some() {
                self.stats.evicted += 1;
            }
        }
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order.retain(|random| map.contains_key(random));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str, random: u8, secret: u8, len: usize) -> String {
        format!(
            "{label} {} {}\n",
            hex::encode([random; 32]),
            hex::encode(vec![secret; len])
        )
    }

    #[test]
    fn secrets_are_grouped_by_client_random() {
        let mut keys = KeyLog::default();
        let text = [
            "# comment\n".to_string(),
            line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", 1, 0xa1, 32),
            line("SERVER_HANDSHAKE_TRAFFIC_SECRET", 1, 0xa2, 32),
            line("CLIENT_TRAFFIC_SECRET_0", 1, 0xa3, 32),
            line("SERVER_TRAFFIC_SECRET_0", 1, 0xa4, 32),
            line("EXPORTER_SECRET", 1, 0xa5, 32),
            line("CLIENT_RANDOM", 2, 0xb1, 48),
            "\r\n".into(),
        ]
        .concat();
        keys.add_text("k.log", text.as_bytes());
        assert_eq!(keys.len(), 2);
        let one = keys.get(&[1; 32]).expect("connection 1");
        assert_eq!(
            one.get(SecretKind::ServerHandshakeTraffic),
            Some(&[0xa2; 32][..])
        );
        assert_eq!(one.get(SecretKind::ClientTraffic0), Some(&[0xa3; 32][..]));
        assert_eq!(one.get(SecretKind::MasterSecret), None);
        assert_eq!(one.kinds().count(), 4);
        let two = keys.get(&[2; 32]).expect("connection 2");
        assert_eq!(two.get(SecretKind::MasterSecret), Some(&[0xb1; 48][..]));
        let stats = keys.stats();
        assert_eq!(
            (stats.lines, stats.secrets, stats.unused, stats.bad_lines),
            (8, 5, 1, 0)
        );
        assert_eq!(
            keys.charged_bytes(),
            2 * ENTRY_OVERHEAD + 4 * 33 + 49,
            "charge = overhead + packed secrets"
        );
    }

    #[test]
    fn duplicates_conflicts_and_bad_lines_are_counted() {
        let mut keys = KeyLog::default();
        let mut text = line("CLIENT_RANDOM", 1, 0x11, 48);
        text += &line("CLIENT_RANDOM", 1, 0x11, 48);
        text += &line("CLIENT_RANDOM", 1, 0x22, 48);
        text += "CLIENT_RANDOM nothex\n";
        keys.add_text("a.log", text.as_bytes());
        let stats = keys.stats();
        assert_eq!(
            (
                stats.secrets,
                stats.duplicates,
                stats.conflicts,
                stats.bad_lines
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            keys.get(&[1; 32])
                .and_then(|s| s.get(SecretKind::MasterSecret)),
            Some(&[0x22; 48][..]),
            "the later secret wins"
        );
        assert_eq!(
            stats.bad_lines_named[0].to_string(),
            "a.log:4: expected `LABEL CLIENT_RANDOM SECRET`"
        );
    }

    #[test]
    fn only_the_first_bad_lines_are_named() {
        let mut keys = KeyLog::default();
        keys.add_text("b.log", "junk\n".repeat(40).as_bytes());
        assert_eq!(keys.stats().bad_lines, 40);
        assert_eq!(keys.stats().bad_lines_named.len(), MAX_BAD_LINES_NAMED);
        let mut total = KeyLogStats::default();
        total += keys.stats();
        total += keys.stats();
        assert_eq!(total.bad_lines, 80);
        assert_eq!(total.bad_lines_named.len(), MAX_BAD_LINES_NAMED);
    }

    #[test]
    fn the_oldest_connections_go_first_past_the_cap() {
        let per_entry = ENTRY_OVERHEAD + 49;
        let mut keys = KeyLog::new(3 * per_entry);
        for r in 1..=5u8 {
            keys.add_text("c.log", line("CLIENT_RANDOM", r, r, 48).as_bytes());
        }
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.stats().evicted, 2);
        assert!(keys.get(&[1; 32]).is_none() && keys.get(&[2; 32]).is_none());
        assert!(keys.get(&[5; 32]).is_some());
        assert!(keys.charged_bytes() <= 3 * per_entry);
        // A connection that took its secrets frees its charge.
        assert!(keys.take(&[4; 32]).is_some());
        assert_eq!(keys.charged_bytes(), 2 * per_entry);
        assert!(keys.take(&[4; 32]).is_none());
    }

    #[test]
    fn the_age_queue_stays_bounded_when_secrets_are_taken() {
        let mut keys = KeyLog::default();
        for i in 0..10_000u32 {
            let mut random = [0u8; 32];
            random[..4].copy_from_slice(&i.to_be_bytes());
            let text = format!(
                "CLIENT_RANDOM {} {}\n",
                hex::encode(random),
                "ab".repeat(48)
            );
            keys.add_text("d.log", text.as_bytes());
            assert!(keys.take(&random).is_some());
        }
        assert!(keys.is_empty());
        assert!(keys.order.len() <= 1025, "{}", keys.order.len());
        assert_eq!(keys.charged_bytes(), 0);
    }

    /// A QUIC stack's `QUIC_`-labelled secret comes out as the same traffic secret, from which
    /// QUIC packet protection derives its keys: RFC 9001 Appendix A.1's client Initial secret
    /// in a key log line gives A.1's `quic key`, `quic iv` and `quic hp`.
    #[test]
    fn quic_labelled_secrets_serve_quic_key_derivation() {
        use crate::tls::key_schedule::{HashAlg, hkdf_expand_label};
        let secret = "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea";
        let text = format!(
            "QUIC_CLIENT_HANDSHAKE_TRAFFIC_SECRET {} {secret}\n",
            "ab".repeat(32)
        );
        let mut keys = KeyLog::default();
        keys.add_text("quic.keylog", text.as_bytes());
        let secrets = keys.take(&[0xab; 32]).expect("held");
        let secret = secrets
            .get(SecretKind::ClientHandshakeTraffic)
            .expect("secret");
        // The secret's length names its hash: 32 bytes, SHA-256.
        assert_eq!(secret.len(), HashAlg::Sha256.output_len());
        let derive = |label: &[u8], len: usize| {
            let mut out = vec![0u8; len];
            hkdf_expand_label(HashAlg::Sha256, secret, label, &[], &mut out).expect("expand");
            hex::encode(out)
        };
        assert_eq!(derive(b"quic key", 16), "1f369613dd76d5467730efcbe3b1a22d");
        assert_eq!(derive(b"quic iv", 12), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(derive(b"quic hp", 16), "9f50449e04a0e810283a1e9933adedd2");
    }

    #[test]
    fn debug_names_kinds_only() {
        let mut keys = KeyLog::default();
        keys.add_text("e.log", line("CLIENT_RANDOM", 9, 0xcd, 48).as_bytes());
        let debug = format!("{:?}", keys.get(&[9; 32]).expect("held"));
        assert_eq!(debug, "[\"CLIENT_RANDOM\"]");
        assert!(!format!("{keys:?}").contains("cdcd"));
        assert!(!format!("{keys:?}").contains("205, 205"));
    }
}
