//! Output formats: the NDJSON connection log, the JSON report and the terminal summary. The
//! serialization structs here are kept apart from the internal types so that the output
//! contract (field names in `DESIGN.md` and the README) only changes on purpose.

mod json;
pub mod live;
pub mod records;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use json::{Fields, Json, KeyPart, Object, Run, RunFields, SerdeFields, Written, key};

use crate::aggregate::{
    Aggregates, Breakdown, CertEntry, ClientProfile, Latency, OTHER_SERVERS, Percentiles,
    ResumptionStats, Timings,
};
use crate::facts::{
    AlertFact, ChainCert, ConnectionFacts, Failure, Mechanism, Renegotiation, Resumption, Side,
};
use crate::flow::{Endpoint, Timestamp};
use crate::reassembly::CloseReason;
use crate::tls::names::{alert_name, cipher_name, group_is_post_quantum, group_name, version_name};
use crate::tls::{Certificate, ClientHello, ServerHello};

/// Version of the output contract; bumped when a field is renamed or removed.
pub const SCHEMA_VERSION: u32 = 1;

/// Formats a capture timestamp as RFC 3339 UTC with microseconds.
pub fn rfc3339_micros(ts: Timestamp) -> String {
    Rfc3339::micros(ts).to_string()
}

/// Formats seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_secs(secs: i64) -> String {
    Rfc3339::secs(secs).to_string()
}

/// An RFC 3339 UTC time that formats itself (`Display`, and as a JSON string), so that records
/// carry their times without a `String` each.
#[derive(Clone, Copy)]
struct Rfc3339 {
    secs: i64,
    /// Microseconds within the second, when they are to be written.
    micros: Option<i64>,
}

impl Rfc3339 {
    fn micros(ts: Timestamp) -> Self {
        let micros = ts.as_micros();
        Rfc3339 {
            secs: micros.div_euclid(1_000_000),
            micros: Some(micros.rem_euclid(1_000_000)),
        }
    }

    fn secs(secs: i64) -> Self {
        Rfc3339 { secs, micros: None }
    }
}

/// `"00"` to `"99"`: two digits per table look-up.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// The last two decimal digits of `v`.
fn pair(v: u64) -> [u8; 2] {
    PAIRS[(v % 100) as usize]
}

/// The text of an [`Rfc3339`] formatted by hand: `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
struct Rfc3339Text {
    buf: [u8; 27],
    len: usize,
}

impl Rfc3339Text {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes()).ok()
    }
}

impl Rfc3339 {
    /// The time formatted by hand into a fixed-size array, two digits per table look-up (no
    /// `core::fmt`, no bounds check per piece); `None` for years outside 0..=9999, which
    /// `Display` writes the general way.
    fn text(&self) -> Option<Rfc3339Text> {
        let days = self.secs.div_euclid(86_400);
        // Within 0..86_400, so each part has two digits.
        let rem = self.secs.rem_euclid(86_400).unsigned_abs();
        let (y, m, d) = civil_from_days(days);
        let y = u64::try_from(y).ok().filter(|&y| y <= 9999)?;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        [buf[0], buf[1]] = pair(y / 100);
        [buf[2], buf[3]] = pair(y);
        [buf[5], buf[6]] = pair(m.into());
        [buf[8], buf[9]] = pair(d.into());
        [buf[11], buf[12]] = pair(rem / 3600);
        [buf[14], buf[15]] = pair(rem / 60 % 60);
        [buf[17], buf[18]] = pair(rem % 60);
        let len = match self.micros {
            Some(frac) => {
                let frac = frac.unsigned_abs();
                [buf[20], buf[21]] = pair(frac / 10_000);
                [buf[22], buf[23]] = pair(frac / 100);
                [buf[24], buf[25]] = pair(frac);
                27
            }
            None => {
                buf[19] = b'Z';
                20
            }
        };
        Some(Rfc3339Text { buf, len })
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.text().as_ref().and_then(Rfc3339Text::as_str) {
            Some(s) => f.write_str(s),
            None => self.write_general(f),
        }
    }
}

impl Rfc3339 {
    /// Any year, through `core::fmt`.
    fn write_general(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )?;
        if let Some(frac) = self.micros {
            write!(f, ".{frac:06}")?;
        }
        f.write_str("Z")
    }
}

impl Json for Rfc3339 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        match self.text() {
            Some(text) => out.extend_from_slice(text.bytes()),
            None => {
                let _ = std::fmt::write(&mut json::Text(out), format_args!("{self}"));
            }
        }
        out.push(b'"');
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.text().as_ref().and_then(Rfc3339Text::as_str) {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(self),
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Json for Endpoint {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("ip"), &self.ip);
            o.field(key!("port"), &self.port);
        });
    }
}

impl Json for Failure {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("cause"), self.cause.name());
            o.field(key!("explanation"), &self.explanation);
            o.field(key!("inferred"), &self.inferred);
        });
    }
}

/// The fields of a ClientHello that its client's TLS stack sends the same way every time,
/// written once per distinct stack (see [`Run`]).
struct ClientStack<'a>(&'a ClientHello);

impl Run for ClientStack<'_> {
    const NAME: &'static str = "client_hello";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let c = self.0;
        f.entry(key!("version"), &c.legacy_version);
        f.entry(key!("sslv2_format"), &c.sslv2_format);
        f.entry(key!("supported_versions"), &c.supported_versions);
        f.entry(key!("cipher_suites"), &c.cipher_suites);
        f.entry(key!("compression"), &c.compression);
        f.entry(key!("extensions"), &c.extensions);
        f.entry(key!("groups"), &c.groups);
        f.entry(key!("ec_point_formats"), &c.ec_point_formats);
        f.entry(key!("key_share_groups"), &c.key_share_groups);
        f.entry(key!("sig_algs"), &c.sig_algs);
    }
}

/// The fields in output order: the stack's run, the per-connection fields, the fingerprints'
/// run (each field is listed once, in one of the three).
impl Json for ClientHello {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.run(&ClientStack(self));
            o.field(key!("alpn"), &self.alpn);
            o.field(key!("sni"), &self.sni);
            o.field(key!("session_id_len"), &self.session_id_len);
            o.field(key!("psk_modes"), &self.psk_modes);
            o.field(key!("psk_identities"), &self.psk_identities);
            o.field(key!("early_data"), &self.early_data);
            o.field(key!("session_ticket_len"), &self.session_ticket_len);
            o.field(key!("renegotiation_info"), &self.renegotiation_info);
            o.field(key!("ech"), &self.ech);
            o.run(&ClientFingerprints(self));
        });
    }
}

/// The fingerprints of a ClientHello: ~200 bytes of text that repeat with the client stack
/// (see [`Run`]; keyed by their text).
struct ClientFingerprints<'a>(&'a ClientHello);

impl Run for ClientFingerprints<'_> {
    const NAME: &'static str = "client_fingerprints";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let c = self.0;
        f.entry(key!("ja3"), &c.ja3);
        f.entry(key!("ja3_string"), &c.ja3_string);
        f.entry(key!("ja4"), &c.ja4);
    }
}

/// A ServerHello (or HelloRetryRequest) with the ClientHello it answers, for
/// `session_id_echo`.
struct ServerHelloOut<'a>(&'a ServerHello, Option<&'a ClientHello>);

/// The fields of a ServerHello that its server's TLS stack sends the same way every time (for
/// the client stacks it meets), written once per distinct stack (see [`Run`]).
struct ServerStack<'a>(&'a ServerHello);

impl Run for ServerStack<'_> {
    const NAME: &'static str = "server_hello";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let s = self.0;
        f.entry(key!("version"), &s.version);
        f.entry(key!("legacy_version"), &s.legacy_version);
        f.entry(key!("sslv2_format"), &s.sslv2_format);
        f.entry(key!("cipher"), &s.cipher);
        f.entry(key!("compression"), &s.compression);
        f.entry(key!("extensions"), &s.extensions);
        f.entry(key!("group"), &s.selected_group);
        f.entry(key!("alpn"), &s.alpn);
        f.entry(key!("hrr"), &s.hrr);
    }
}

impl Json for ServerHelloOut<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let ServerHelloOut(s, client) = *self;
        json::object(out, |o| {
            o.run(&ServerStack(s));
            o.field(key!("session_id_len"), &s.session_id.len());
            let echo =
                client.is_some_and(|c| !s.session_id.is_empty() && c.session_id == s.session_id);
            o.field(key!("session_id_echo"), &echo);
            o.field(key!("psk_selected"), &s.psk_selected);
            o.run(&ServerTail(s));
        });
    }
}

/// The last fields of a ServerHello, its fingerprints with two flags of the server stack
/// (see [`Run`]; keyed by their text).
struct ServerTail<'a>(&'a ServerHello);

impl Run for ServerTail<'_> {
    const NAME: &'static str = "server_fingerprints";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let s = self.0;
        f.entry(key!("session_ticket"), &s.session_ticket);
        f.entry(key!("renegotiation_info"), &s.renegotiation_info);
        f.entry(key!("ja3s"), &s.ja3s);
        f.entry(key!("ja3s_string"), &s.ja3s_string);
        f.entry(key!("ja4s"), &s.ja4s);
    }
}

/// A certificate as the records show it (with its findings on that connection) and as the
/// report's inventory shows it (with its findings on any connection).
struct CertOut<'a> {
    cert: &'a Certificate,
    findings: &'a [&'static str],
}

impl CertOut<'_> {
    /// Writes the object's fields; `own` writes the certificate's own ones, which are all but
    /// `findings`: those come last so that the rest can be written once per certificate
    /// ([`CertMemo`]).
    fn fields<F: Fields>(&self, f: &mut F, own: impl FnOnce(&mut F, &Certificate)) {
        own(f, self.cert);
        f.entry(key!("findings"), self.findings);
    }

    /// The certificate's own fields.
    fn own_fields(f: &mut impl Fields, cert: &Certificate) {
        f.entry(key!("sha256"), &cert.sha256);
        f.entry(key!("subject"), &cert.subject);
        f.entry(key!("issuer"), &cert.issuer);
        f.entry(key!("serial"), &cert.serial);
        f.entry(key!("san_dns"), &cert.san_dns);
        f.entry(key!("san_ip"), &cert.san_ip);
        f.entry(key!("not_before"), &Rfc3339::secs(cert.not_before));
        f.entry(key!("not_after"), &Rfc3339::secs(cert.not_after));
        f.entry(key!("key_type"), &cert.key_type);
        f.entry(key!("key_bits"), &cert.key_bits);
        f.entry(key!("key_curve"), &cert.key_curve);
        f.entry(key!("signature_algorithm"), &cert.signature_algorithm);
        f.entry(key!("self_signed"), &cert.self_signed);
        f.entry(key!("is_ca"), &cert.is_ca);
        f.entry(key!("parse_error"), &cert.parse_error);
    }
}

impl Serialize for CertOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut f = SerdeFields::new(s.serialize_map(None)?);
        self.fields(&mut f, CertOut::own_fields);
        f.end()
    }
}

/// Most certificates a thread's memo holds before it is emptied, and most bytes of JSON: a
/// few hundred distinct certificates cover most captures, while a stream of distinct ones
/// cannot grow memory (each entry also keeps its certificate alive).
const CERT_MEMO_ENTRIES: usize = 1024;
const CERT_MEMO_BYTES: usize = 1 << 20;

/// The JSON of certificates' own fields, by certificate: certificates repeat across
/// connections (the per-worker certificate cache hands out the same `Arc`), and their ~600
/// bytes of fields cost more to write than to copy. Keyed by the address of the certificate,
/// which cannot be reused while the entry holds the `Arc`.
#[derive(Default)]
struct CertMemo {
    map: FxHashMap<usize, (Arc<Certificate>, Written)>,
    bytes: usize,
}

impl CertMemo {
    /// Copies the own fields of `cert`, written once.
    fn append(&mut self, o: &mut Object<'_>, cert: &Arc<Certificate>) {
        let key = Arc::as_ptr(cert) as usize;
        if let Some((_, fields)) = self.map.get(&key) {
            o.append(fields);
            return;
        }
        let fields = Written::new(|o| CertOut::own_fields(o, cert));
        o.append(&fields);
        if self.map.len() >= CERT_MEMO_ENTRIES || self.bytes + fields.len() > CERT_MEMO_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += fields.len();
        self.map.insert(key, (Arc::clone(cert), fields));
    }
}

thread_local! {
    static CERT_MEMO: RefCell<CertMemo> = RefCell::new(CertMemo::default());
}

/// A certificate chain of a record.
fn write_chain(out: &mut Vec<u8>, chain: &[ChainCert]) {
    CERT_MEMO.with_borrow_mut(|memo| {
        json::array(out, chain, |out, c| {
            let cert = CertOut {
                cert: &c.cert,
                findings: &c.findings,
            };
            json::object(out, |o| cert.fields(o, |o, _| memo.append(o, &c.cert)));
        });
    });
}

/// `"client:finished"`: a handshake message or alert with its sender.
#[derive(Clone, Copy)]
struct Sided((Side, &'static str));

impl Json for Sided {
    fn write_json(&self, out: &mut Vec<u8>) {
        let Sided((side, name)) = *self;
        out.extend_from_slice(match side {
            Side::Client => b"\"client:",
            Side::Server => b"\"server:",
        });
        json::push_contents(out, name);
        out.push(b'"');
    }
}

/// The side, and the name by address: the names are `&'static str`, which are never freed,
/// so an address cannot come to mean another name.
impl KeyPart for Sided {
    fn key_part(&self, key: &mut Vec<u8>) {
        let Sided((side, name)) = *self;
        (side as u8).key_part(key);
        Static(name).key_part(key);
    }
}

/// A name from the crate's own tables, keyed by address (see [`Sided`]).
#[derive(Clone, Copy)]
struct Static(&'static str);

impl Json for Static {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.0.write_json(out);
    }
}

impl KeyPart for Static {
    fn key_part(&self, key: &mut Vec<u8>) {
        (self.0.as_ptr() as u64).key_part(key);
        (self.0.len() as u64).key_part(key);
    }
}

/// The handshake messages of a connection, in order.
struct Messages<'a>(&'a [(Side, &'static str)]);

impl Json for Messages<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::array(out, self.0.iter(), |out, &m| Sided(m).write_json(out));
    }
}

impl KeyPart for Messages<'_> {
    fn key_part(&self, key: &mut Vec<u8>) {
        (self.0.len() as u64).key_part(key);
        for &m in self.0 {
            Sided(m).key_part(key);
        }
    }
}

/// The message list as a [`Run`]: a connection's sequence of messages is one of the few its
/// client and server stacks produce, and ~11 names cost more to write than to look up.
struct MessagesRun<'a>(&'a [(Side, &'static str)]);

impl Run for MessagesRun<'_> {
    const NAME: &'static str = "messages";

    fn fields<F: RunFields>(&self, f: &mut F) {
        f.entry(key!("messages"), &Messages(self.0));
    }
}

/// An alert description, by its code.
#[derive(Clone, Copy)]
struct AlertDescription(u8);

impl Json for AlertDescription {
    fn write_json(&self, out: &mut Vec<u8>) {
        alert_name(self.0).write_json(out);
    }
}

impl KeyPart for AlertDescription {
    fn key_part(&self, key: &mut Vec<u8>) {
        self.0.key_part(key);
    }
}

/// An alert as a [`Run`]: alerts repeat (mostly the encrypted close of each side).
struct AlertRun<'a>(&'a AlertFact);

impl Run for AlertRun<'_> {
    const NAME: &'static str = "alert";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let a = self.0;
        f.entry(key!("from"), &Static(a.from.name()));
        let level = a.alert.level.map(|l| match l {
            1 => Static("warning"),
            2 => Static("fatal"),
            _ => Static("unknown"),
        });
        f.entry(key!("level"), &level);
        f.entry(
            key!("description"),
            &a.alert.description.map(AlertDescription),
        );
        f.entry(key!("encrypted"), &a.alert.encrypted);
        f.entry(key!("inferred"), &a.alert.inferred);
        f.entry(key!("after"), &a.after.map(Sided));
    }
}

impl Json for AlertFact {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| o.run(&AlertRun(self)));
    }
}

impl Json for Resumption {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field_with(key!("offered"), |out| {
                json::array(out, &self.offered, |out, m| m.name().write_json(out));
            });
            o.field(key!("accepted"), &self.accepted.map(|m| m.name()));
            o.field(key!("early_data_offered"), &self.early_data_offered);
            o.field(key!("early_data_accepted"), &self.early_data_accepted);
            o.field(key!("tickets_issued"), &self.tickets_issued);
        });
    }
}

impl Json for Renegotiation {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("client_initiated"), &self.client_initiated);
            o.field(key!("server_initiated"), &self.server_initiated);
            o.field(key!("completed"), &self.completed);
            o.field(key!("secure"), &self.secure);
        });
    }
}

/// snake_case name of a close reason.
pub fn close_name(c: CloseReason) -> &'static str {
    match c {
        CloseReason::Fin => "fin",
        CloseReason::Rst => "rst",
        CloseReason::IdleTimeout => "idle_timeout",
        CloseReason::Evicted => "evicted",
        CloseReason::CaptureEnd => "capture_end",
        CloseReason::PortReused => "port_reused",
    }
}

/// A codepoint written as its name (`"TLSv1.3"`, `"TLS_AES_128_GCM_SHA256"`), keyed by the
/// code (the name function is fixed by the field's place in its [`Run`]).
#[derive(Clone, Copy)]
struct Named(u16, fn(u16) -> Cow<'static, str>);

impl Json for Named {
    fn write_json(&self, out: &mut Vec<u8>) {
        (self.1)(self.0).write_json(out);
    }
}

impl KeyPart for Named {
    fn key_part(&self, key: &mut Vec<u8>) {
        self.0.key_part(key);
    }
}

/// The negotiated version and cipher suite of a record, by name: a name look-up (the cipher
/// suite's is a hash table) and the escape check cost more than the memo.
struct Negotiated<'a>(&'a ConnectionFacts);

impl Run for Negotiated<'_> {
    const NAME: &'static str = "negotiated";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let c = self.0;
        f.entry(key!("version"), &c.version.map(|v| Named(v, version_name)));
        f.entry(key!("cipher"), &c.cipher.map(|v| Named(v, cipher_name)));
    }
}

/// The `tcp` object of a record.
fn write_tcp(o: &mut Object<'_>, f: &ConnectionFacts) {
    let tcp = &f.tcp;
    let client_first = f.client_dir.index() == 0;
    let per_side = |o: &mut Object<'_>, key, &[a, b]: &[u64; 2]| {
        let (client, server) = if client_first { (a, b) } else { (b, a) };
        o.object(key, |o| {
            o.field(key!("client"), &client);
            o.field(key!("server"), &server);
        });
    };
    o.field(key!("syn_seen"), &tcp.syn.is_some());
    o.field(key!("syn_data"), &tcp.syn_data);
    per_side(o, key!("packets"), &tcp.packets);
    per_side(o, key!("payload_bytes"), &tcp.payload_bytes);
    per_side(o, key!("gaps"), &tcp.gaps);
    per_side(o, key!("gap_bytes"), &tcp.gap_bytes);
    o.field(key!("retransmissions"), &tcp.retransmissions);
    o.field(key!("conflicting_overlaps"), &tcp.conflicting_overlaps);
    o.field(key!("buffer_cap_hits"), &tcp.buffer_cap_hits);
    let rst_from = tcp.rst.map(|(dir, _)| {
        if dir == f.client_dir {
            "client"
        } else {
            "server"
        }
    });
    o.field(key!("rst_from"), &rst_from);
    o.field(key!("close"), close_name(f.close));
}

/// Appends one NDJSON connection record (with its newline) to `out`, naming the sensor that
/// saw it when one is set (`--sensor`).
pub fn write_connection(f: &ConnectionFacts, sensor: Option<&str>, out: &mut Vec<u8>) {
    json::object(out, |o| {
        o.field(key!("type"), "connection");
        if let Some(sensor) = sensor {
            o.field(key!("sensor"), sensor);
        }
        o.field(key!("ts"), &Rfc3339::micros(f.first_ts));
        o.field(key!("client"), &f.client);
        o.field(key!("server"), &f.server);
        o.run(&Negotiated(f));
        o.field(key!("sni"), &f.sni);
        o.field(key!("alpn"), &f.alpn);
        o.field(key!("group"), &f.negotiated_group().map(group_name));
        o.field(key!("outcome"), f.outcome.name());
        o.field(key!("failure"), &f.failure);
        o.object(key!("timing_us"), |o| {
            let t = &f.timing;
            o.field(key!("tcp_handshake"), &t.tcp_handshake_us);
            o.field(key!("tcp_syn_to_syn_ack"), &t.tcp_syn_to_syn_ack_us);
            o.field(
                key!("client_hello_to_server_hello"),
                &t.client_hello_to_server_hello_us,
            );
            o.field(key!("client_hello_to_done"), &t.client_hello_to_done_us);
        });
        let ch = f.client_hello.as_deref();
        o.field(key!("client_hello"), &ch);
        let sh = f.server_hello.as_deref().map(|s| ServerHelloOut(s, ch));
        o.field(key!("server_hello"), &sh);
        let hrr = f
            .hello_retry_request
            .as_deref()
            .map(|s| ServerHelloOut(s, ch));
        o.field(key!("hello_retry_request"), &hrr);
        o.field(key!("retry_client_hello"), &f.retry_client_hello.as_deref());
        o.field(
            key!("server_key_exchange_group"),
            &f.server_key_exchange_curve,
        );
        o.field(key!("certificate_requested"), &f.certificate_requested);
        o.field(key!("certificate_status"), &f.certificate_status);
        o.field_with(key!("certificates"), |out| {
            write_chain(out, &f.certificates)
        });
        o.field_with(key!("client_certificates"), |out| {
            write_chain(out, &f.client_certificates);
        });
        o.field(
            key!("client_certificate_empty"),
            &f.client_certificate_empty,
        );
        o.field(key!("alerts"), &f.alerts);
        o.run(&MessagesRun(&f.messages));
        o.field(key!("resumption"), &f.resumption);
        o.field(key!("renegotiations"), &f.renegotiations);
        o.field(key!("renegotiation"), &f.renegotiation);
        o.field(key!("anomalies"), &f.anomalies);
        o.object(key!("tcp"), |o| write_tcp(o, f));
    });
    out.push(b'\n');
}

/// Counters of the input side: what was read and what could not be decoded.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct InputStats {
    /// Frames read.
    pub packets: u64,
    /// Bytes of frames read (captured length).
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// Well-formed packets that are not TCP.
    pub not_tcp: u64,
    /// IP fragments held for reassembly.
    pub ip_fragments: u64,
    /// IP datagrams rebuilt from fragments.
    pub ip_datagrams_reassembled: u64,
    /// Incomplete IP datagrams dropped (timeout, caps, inconsistent fragments): their
    /// fragments were counted but not analysed.
    pub ip_datagrams_dropped: u64,
    /// Frames that could not be decoded, by kind.
    #[serde(deserialize_with = "crate::aggregate::codec::static_keys")]
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// TCP connections tracked (TLS or not).
    pub tcp_connections: u64,
    /// TCP connections on which no TLS was found.
    pub tcp_connections_without_tls: u64,
    /// Connections evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Gaps forced by the per-flow buffer cap.
    pub flow_buffer_cap_hits: u64,
    /// Gaps forced by the global buffer cap.
    pub total_buffer_cap_hits: u64,
    /// Frames stamped earlier than the frame before them in the same file.
    pub timestamps_backwards: u64,
    /// Frames captured shorter than on the wire (cut by the snap length).
    pub snaplen_truncated: u64,
}

/// One input file and how reading it ended.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct InputFile {
    /// Path as given.
    pub path: String,
    /// Frames read from it.
    pub packets: u64,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

#[derive(Serialize)]
struct PercentilesOut {
    count: u64,
    p50: u64,
    p90: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

impl From<Percentiles> for PercentilesOut {
    fn from(p: Percentiles) -> Self {
        PercentilesOut {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p95: p.p95,
            p99: p.p99,
            max: p.max,
        }
    }
}

#[derive(Serialize)]
struct TimingsOut {
    tcp_handshake: PercentilesOut,
    client_hello_to_server_hello: PercentilesOut,
    client_hello_to_done: PercentilesOut,
}

impl From<&Timings> for TimingsOut {
    fn from(t: &Timings) -> Self {
        let p = |l: &Latency| PercentilesOut::from(l.percentiles());
        TimingsOut {
            tcp_handshake: p(&t.tcp_handshake),
            client_hello_to_server_hello: p(&t.client_hello_to_server_hello),
            client_hello_to_done: p(&t.client_hello_to_done),
        }
    }
}

#[derive(Serialize)]
struct ServerOut<'a> {
    server: &'a str,
    connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
    failure_causes_ranked: Vec<CauseCountOut>,
    latency_us: TimingsOut,
    above_slo: Option<bool>,
    resumption: ResumptionStatsOut,
}

#[derive(Serialize)]
struct CauseCountOut {
    cause: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct ServerCauseOut<'a> {
    server: &'a str,
    cause: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct MechanismOut {
    mechanism: &'static str,
    offered: u64,
    accepted: u64,
}

#[derive(Serialize)]
struct ResumptionStatsOut {
    attempts: u64,
    hits: u64,
    hit_rate: Option<f64>,
    by_mechanism: Vec<MechanismOut>,
    tickets_issued: u64,
    early_data_offered: u64,
    early_data_accepted: u64,
}

impl From<&ResumptionStats> for ResumptionStatsOut {
    fn from(r: &ResumptionStats) -> Self {
        ResumptionStatsOut {
            attempts: r.attempts,
            hits: r.hits,
            hit_rate: r.hit_rate().map(round4),
            by_mechanism: Mechanism::ALL
                .iter()
                .map(|&m| MechanismOut {
                    mechanism: m.name(),
                    offered: r.offered[m.index()],
                    accepted: r.accepted[m.index()],
                })
                .collect(),
            tickets_issued: r.tickets_issued,
            early_data_offered: r.early_data_offered,
            early_data_accepted: r.early_data_accepted,
        }
    }
}

/// Rounds a ratio to four decimals so that reports stay stable and readable.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[derive(Serialize)]
struct VersionLatencyOut {
    version: Option<String>,
    code: Option<u16>,
    latency_us: TimingsOut,
}

#[derive(Serialize)]
struct OutcomeLatencyOut {
    outcome: &'static str,
    latency_us: TimingsOut,
}

#[derive(Serialize)]
struct SloServerOut<'a> {
    server: &'a str,
    connections: u64,
    p95_us: u64,
}

#[derive(Serialize)]
struct GroupCountOut {
    name: String,
    code: u16,
    post_quantum: bool,
    count: u64,
}

#[derive(Serialize)]
struct NameCountOut<'a> {
    name: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct EchOut {
    offered: u64,
    confirmed: u64,
    unconfirmed: u64,
}

#[derive(Serialize)]
struct ClientOut<'a> {
    ja4: &'a str,
    ja3: Vec<NameCountOut<'a>>,
    connections: u64,
    unsuccessful: u64,
    highest_version: Option<String>,
    versions: Vec<String>,
    cipher_suites: &'a BTreeSet<u16>,
    groups: Vec<String>,
    post_quantum: bool,
    alpn: Vec<NameCountOut<'a>>,
    servers: Vec<NameCountOut<'a>>,
    breaks_if: Vec<&'static str>,
}

impl<'a> ClientOut<'a> {
    fn new(ja4: &'a str, p: &'a ClientProfile) -> Self {
        ClientOut {
            ja4,
            ja3: name_counts(&p.ja3.ranked()),
            connections: p.connections,
            unsuccessful: p.unsuccessful,
            highest_version: p.highest_version().map(|v| version_name(v).into_owned()),
            versions: p
                .versions
                .iter()
                .rev()
                .map(|&v| version_name(v).into_owned())
                .collect(),
            cipher_suites: &p.ciphers,
            groups: p
                .groups
                .iter()
                .map(|&g| group_name(g).into_owned())
                .collect(),
            post_quantum: p.groups.iter().any(|&g| group_is_post_quantum(g)),
            alpn: name_counts(&p.alpn.ranked()),
            servers: name_counts(&p.servers.ranked()),
            breaks_if: p.breaks().iter().map(|c| c.name()).collect(),
        }
    }
}

fn name_counts<'a>(v: &[(&'a str, u64)]) -> Vec<NameCountOut<'a>> {
    v.iter()
        .map(|&(name, count)| NameCountOut { name, count })
        .collect()
}

#[derive(Serialize)]
struct BreakOut<'a> {
    change: &'static str,
    clients: usize,
    connections: u64,
    fingerprints: Vec<&'a str>,
}

#[derive(Serialize)]
struct InventoryCertOut<'a> {
    certificate: CertOut<'a>,
    leaf: bool,
    client_certificate: bool,
    connections: u64,
    servers: Vec<NameCountOut<'a>>,
    connection_findings: &'a BTreeMap<&'static str, u64>,
}

impl<'a> From<&'a CertEntry> for InventoryCertOut<'a> {
    fn from(e: &'a CertEntry) -> Self {
        InventoryCertOut {
            certificate: CertOut {
                cert: &e.cert,
                findings: &e.findings,
            },
            leaf: e.chain_position == 0,
            client_certificate: e.client_certificate,
            connections: e.connections,
            servers: name_counts(&e.servers.ranked()),
            connection_findings: &e.connection_findings,
        }
    }
}

#[derive(Serialize)]
struct RenegotiationStatsOut {
    connections: u64,
    client_initiated: u64,
    server_initiated: u64,
    completed: u64,
    secure_supported: u64,
    secure_unsupported: u64,
}

#[derive(Serialize)]
struct CountOut {
    name: String,
    code: Option<u16>,
    count: u64,
}

#[derive(Serialize)]
struct AlertCountOut<'a> {
    from: &'static str,
    description: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct ReportOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    schema_version: u32,
    tool: String,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    sensors: &'a BTreeSet<String>,
    inputs: &'a [InputFile],
    summary: SummaryOut<'a>,
    versions_negotiated: Vec<CountOut>,
    versions_offered_highest: Vec<CountOut>,
    ciphers: Vec<CountOut>,
    alerts: Vec<AlertCountOut<'a>>,
    resumed: &'a BTreeMap<&'static str, u64>,
    latency_us: TimingsOut,
    servers: Vec<ServerOut<'a>>,
    anomalies: &'a BTreeMap<&'static str, u64>,
    failure_causes_ranked: Vec<CauseCountOut>,
    failure_causes_by_server: Vec<ServerCauseOut<'a>>,
    latency_by_version_us: Vec<VersionLatencyOut>,
    latency_by_outcome_us: Vec<OutcomeLatencyOut>,
    slo_p95_ms: Option<f64>,
    servers_above_slo: Vec<SloServerOut<'a>>,
    resumption: ResumptionStatsOut,
    groups_negotiated: Vec<GroupCountOut>,
    groups_offered: Vec<GroupCountOut>,
    post_quantum: PostQuantumOut,
    alpn_offered: Vec<NameCountOut<'a>>,
    alpn_negotiated: Vec<NameCountOut<'a>>,
    ech: EchOut,
    clients: Vec<ClientOut<'a>>,
    what_breaks: Vec<BreakOut<'a>>,
    certificates: Vec<InventoryCertOut<'a>>,
    certificates_not_listed: u64,
    renegotiation: RenegotiationStatsOut,
    merge_state: MergeStateOut,
}

/// The aggregates in the form `tlsight merge` reads back (see [`crate::aggregate::codec`]),
/// written compactly on one line: it is for tlsight, the fields above are for people.
#[derive(Serialize)]
struct MergeStateOut {
    format: u32,
    aggregates: Box<serde_json::value::RawValue>,
}

#[derive(Serialize)]
struct PostQuantumOut {
    offered: u64,
    negotiated: u64,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    input: &'a InputStats,
    tls_connections: u64,
    outcomes: BTreeMap<&'static str, u64>,
    failure_causes: BTreeMap<&'static str, u64>,
}

/// Everything the JSON report and the terminal summary are made from.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Input files.
    pub inputs: Vec<InputFile>,
    /// Input-side counters.
    pub input: InputStats,
    /// Aggregates over all connections.
    pub aggregates: Aggregates,
    /// `--slo-p95-ms`: servers whose p95 ClientHello → done time is above it are flagged.
    pub slo_p95_ms: Option<f64>,
    /// The sensors whose traffic it covers (`--sensor`; several after `tlsight merge`).
    pub sensors: BTreeSet<String>,
}

impl Report {
    /// Whether a server's p95 handshake time is above the SLO (`None` without an SLO or
    /// without a completed handshake to judge by).
    pub fn above_slo(&self, b: &Breakdown) -> Option<bool> {
        let slo = self.slo_p95_ms?;
        let p = b.timings.client_hello_to_done.percentiles();
        (p.count > 0).then_some(p.p95 as f64 > slo * 1000.0)
    }

    /// Servers above the SLO, by p95 (descending), then name.
    fn servers_above_slo(&self) -> Vec<(&str, &Breakdown, u64)> {
        let mut v: Vec<_> = server_list(&self.aggregates)
            .filter(|(_, b)| self.above_slo(b) == Some(true))
            .map(|(label, b)| {
                let p95 = b.timings.client_hello_to_done.percentiles().p95;
                (label, b, p95)
            })
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
        v
    }
}

/// Failure causes per server, most frequent first (then server, then cause).
fn causes_by_server(agg: &Aggregates) -> Vec<ServerCauseOut<'_>> {
    let mut v: Vec<_> = server_list(agg)
        .flat_map(|(label, b)| {
            b.failure_causes.iter().map(|(c, &count)| ServerCauseOut {
                server: label,
                cause: c.name(),
                count,
            })
        })
        .collect();
    v.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.server.cmp(b.server))
            .then(a.cause.cmp(b.cause))
    });
    v
}

fn ranked_causes(b: &Breakdown) -> Vec<CauseCountOut> {
    b.ranked_causes()
        .into_iter()
        .map(|(c, count)| CauseCountOut {
            cause: c.name(),
            count,
        })
        .collect()
}

fn group_census(map: &BTreeMap<u16, u64>) -> Vec<GroupCountOut> {
    let mut v: Vec<_> = map
        .iter()
        .map(|(&code, &count)| GroupCountOut {
            name: group_name(code).into_owned(),
            code,
            post_quantum: group_is_post_quantum(code),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    v
}

/// Client profiles by connections (descending), then fingerprint.
fn clients_sorted(agg: &Aggregates) -> Vec<(&str, &ClientProfile)> {
    let mut v: Vec<_> = agg
        .clients
        .entries
        .iter()
        .map(|(k, p)| (k.as_str(), p))
        .collect();
    v.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    v
}

/// Inventory: certificates with findings first, then by connections, then hash.
fn certificates_sorted(agg: &Aggregates) -> Vec<&CertEntry> {
    let mut v: Vec<_> = agg.certificates.entries.values().collect();
    let findings = |e: &CertEntry| e.findings.len() + e.connection_findings.len();
    v.sort_by(|a, b| {
        findings(b)
            .cmp(&findings(a))
            .then(b.connections.cmp(&a.connections))
            .then(a.cert.sha256.cmp(&b.cert.sha256))
    });
    v
}

fn what_breaks(agg: &Aggregates) -> Vec<BreakOut<'_>> {
    agg.what_breaks()
        .into_iter()
        .map(|(change, clients)| BreakOut {
            change: change.name(),
            clients: clients.len(),
            connections: clients.iter().map(|(_, p)| p.connections).sum(),
            fingerprints: clients.iter().map(|&(ja4, _)| ja4).collect(),
        })
        .collect()
}

/// Counts sorted by count (descending), then code, for stable, readable censuses.
fn census(map: &BTreeMap<u16, u64>, name: impl Fn(u16) -> String) -> Vec<CountOut> {
    let mut v: Vec<CountOut> = map
        .iter()
        .map(|(&code, &count)| CountOut {
            name: name(code),
            code: Some(code),
            count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    v
}

fn named<K: Copy + Ord>(
    map: &BTreeMap<K, u64>,
    name: impl Fn(K) -> &'static str,
) -> BTreeMap<&'static str, u64> {
    map.iter().map(|(&k, &n)| (name(k), n)).collect()
}

/// Every server entry, the pooled ones as [`OTHER_SERVERS`], in name order.
fn server_list(agg: &Aggregates) -> impl Iterator<Item = (&str, &Breakdown)> {
    let other = &agg.servers.other;
    agg.servers
        .entries
        .iter()
        .map(|(label, b)| (label.as_str(), b))
        .chain((other.connections > 0).then_some((OTHER_SERVERS, other)))
}

/// Servers by connection count (descending), then name.
fn servers_sorted(agg: &Aggregates) -> Vec<(&str, &Breakdown)> {
    let mut v: Vec<_> = server_list(agg).collect();
    v.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    v
}

/// The per-server entries of live windows (which judge SLOs with their own alerts).
fn servers_out(agg: &Aggregates) -> Vec<ServerOut<'_>> {
    server_entries(agg, |_| None)
}

/// The per-server entries, most connections first, with an SLO verdict from `above_slo`.
fn server_entries(
    agg: &Aggregates,
    above_slo: impl Fn(&Breakdown) -> Option<bool>,
) -> Vec<ServerOut<'_>> {
    servers_sorted(agg)
        .into_iter()
        .map(|(label, s)| ServerOut {
            server: label,
            connections: s.connections,
            outcomes: named(&s.outcomes, |o| o.name()),
            failure_causes: named(&s.failure_causes, |c| c.name()),
            failure_causes_ranked: ranked_causes(s),
            latency_us: TimingsOut::from(&s.timings),
            above_slo: above_slo(s),
            resumption: ResumptionStatsOut::from(&s.resumption),
        })
        .collect()
}

/// Writes the whole report as one JSON document.
pub fn write_report(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let agg = &report.aggregates;
    let doc = ReportOut {
        kind: "report",
        schema_version: SCHEMA_VERSION,
        tool: format!("tlsight {}", env!("CARGO_PKG_VERSION")),
        sensors: &report.sensors,
        inputs: &report.inputs,
        summary: SummaryOut {
            input: &report.input,
            tls_connections: agg.all.connections,
            outcomes: named(&agg.all.outcomes, |o| o.name()),
            failure_causes: named(&agg.all.failure_causes, |c| c.name()),
        },
        versions_negotiated: census(&agg.versions, |v| version_name(v).into_owned()),
        versions_offered_highest: census(&agg.offered_versions, |v| version_name(v).into_owned()),
        ciphers: census(&agg.ciphers, |c| cipher_name(c).into_owned()),
        alerts: agg
            .alerts
            .iter()
            .map(|((from, desc), &count)| AlertCountOut {
                from,
                description: desc,
                count,
            })
            .collect(),
        resumed: &agg.resumed,
        latency_us: TimingsOut::from(&agg.all.timings),
        servers: server_entries(agg, |b| report.above_slo(b)),
        anomalies: &agg.anomalies,
        failure_causes_ranked: ranked_causes(&agg.all),
        failure_causes_by_server: causes_by_server(agg),
        latency_by_version_us: agg
            .by_version
            .iter()
            .map(|(&v, t)| VersionLatencyOut {
                version: v.map(|v| version_name(v).into_owned()),
                code: v,
                latency_us: TimingsOut::from(t),
            })
            .collect(),
        latency_by_outcome_us: agg
            .by_outcome
            .iter()
            .map(|(o, t)| OutcomeLatencyOut {
                outcome: o.name(),
                latency_us: TimingsOut::from(t),
            })
            .collect(),
        slo_p95_ms: report.slo_p95_ms,
        servers_above_slo: report
            .servers_above_slo()
            .into_iter()
            .map(|(server, b, p95_us)| SloServerOut {
                server,
                connections: b.connections,
                p95_us,
            })
            .collect(),
        resumption: ResumptionStatsOut::from(&agg.all.resumption),
        groups_negotiated: group_census(&agg.groups_negotiated),
        groups_offered: group_census(&agg.groups_offered.counts()),
        post_quantum: PostQuantumOut {
            offered: agg.post_quantum_offered,
            negotiated: agg
                .groups_negotiated
                .iter()
                .filter(|(g, _)| group_is_post_quantum(**g))
                .map(|(_, n)| n)
                .sum(),
        },
        alpn_offered: name_counts(&agg.alpn_offered.ranked()),
        alpn_negotiated: name_counts(&agg.alpn_negotiated.ranked()),
        ech: EchOut {
            offered: agg.ech.offered,
            confirmed: agg.ech.confirmed,
            unconfirmed: agg.ech.offered - agg.ech.confirmed,
        },
        clients: clients_sorted(agg)
            .into_iter()
            .map(|(ja4, p)| ClientOut::new(ja4, p))
            .collect(),
        what_breaks: what_breaks(agg),
        certificates: certificates_sorted(agg)
            .into_iter()
            .map(InventoryCertOut::from)
            .collect(),
        certificates_not_listed: agg.certificates.other.connections,
        renegotiation: RenegotiationStatsOut {
            connections: agg.renegotiation.connections,
            client_initiated: agg.renegotiation.client_initiated,
            server_initiated: agg.renegotiation.server_initiated,
            completed: agg.renegotiation.completed,
            secure_supported: agg.renegotiation.secure_supported,
            secure_unsupported: agg.renegotiation.secure_unsupported,
        },
        merge_state: MergeStateOut {
            format: crate::aggregate::codec::FORMAT,
            aggregates: serde_json::value::to_raw_value(agg).map_err(io::Error::other)?,
        },
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Milliseconds with three decimals, for the terminal.
fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Writes the readable terminal summary.
pub fn write_summary(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let agg = &report.aggregates;
    let inp = &report.input;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "tlsight: {} packets, {} bytes, {} TCP connections, {} with TLS",
        inp.packets, inp.bytes, inp.tcp_connections, agg.all.connections
    );
    for f in &report.inputs {
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  ! {}: {e}", f.path);
        }
    }
    let errors: u64 = inp.decode_errors.values().sum();
    if errors > 0 {
        let list: Vec<String> = inp
            .decode_errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "  undecodable frames: {errors} ({})", list.join(", "));
    }
    let _ = writeln!(s, "\nOutcomes");
    for (o, n) in &agg.all.outcomes {
        let _ = writeln!(s, "  {:<36} {n:>10}", o.name());
    }
    if !agg.all.failure_causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes");
        for (c, n) in &agg.all.failure_causes {
            let _ = writeln!(s, "  {:<36} {n:>10}", c.name());
        }
    }
    let _ = writeln!(s, "\nNegotiated versions");
    for c in census(&agg.versions, |v| version_name(v).into_owned()) {
        let _ = writeln!(s, "  {:<28} {:>10}", c.name, c.count);
    }
    let _ = writeln!(s, "\nTop cipher suites");
    for c in census(&agg.ciphers, |v| cipher_name(v).into_owned())
        .iter()
        .take(10)
    {
        let _ = writeln!(s, "  {:<48} {:>10}", c.name, c.count);
    }
    let _ = writeln!(
        s,
        "\nHandshake latency (ms)      count        p50        p95        p99        max"
    );
    let row = |s: &mut String, label: &str, l: &Latency| {
        let p = l.percentiles();
        if p.count == 0 {
            return;
        }
        let _ = writeln!(
            s,
            "  {label:<24} {:>7} {:>10} {:>10} {:>10} {:>10}",
            p.count,
            ms(p.p50),
            ms(p.p95),
            ms(p.p99),
            ms(p.max)
        );
    };
    row(&mut s, "TCP handshake", &agg.all.timings.tcp_handshake);
    row(
        &mut s,
        "ClientHello→ServerHello",
        &agg.all.timings.client_hello_to_server_hello,
    );
    row(
        &mut s,
        "ClientHello→done",
        &agg.all.timings.client_hello_to_done,
    );
    let done_row = |s: &mut String, label: &str, t: &Timings| {
        row(s, label, &t.client_hello_to_done);
    };
    if agg.by_version.len() > 1 || agg.by_outcome.len() > 1 {
        let _ = writeln!(
            s,
            "\nClientHello→done (ms)       count        p50        p95        p99        max"
        );
        for (v, t) in &agg.by_version {
            let name = v.map_or_else(|| "no version".into(), version_name);
            done_row(&mut s, &format!("version {name}"), t);
        }
        for (o, t) in &agg.by_outcome {
            done_row(&mut s, &format!("outcome {}", o.name()), t);
        }
    }
    write_servers(report, &mut s);
    write_resumption(agg, &mut s);
    write_census(agg, &mut s);
    write_clients(agg, &mut s);
    write_certificates(agg, &mut s);
    let r = &agg.renegotiation;
    if r.connections > 0 || r.secure_unsupported > 0 {
        let _ = writeln!(
            s,
            "\nRenegotiation: {} connections renegotiated ({} by clients, {} by servers, {} completed); \
             secure renegotiation supported on {}, missing on {} TLS ≤ 1.2 connections",
            r.connections,
            r.client_initiated,
            r.server_initiated,
            r.completed,
            r.secure_supported,
            r.secure_unsupported
        );
    }
    out.write_all(s.as_bytes())
}

/// Servers table, the SLO verdicts and failure causes per server.
fn write_servers(report: &Report, s: &mut String) {
    let agg = &report.aggregates;
    let servers = servers_sorted(agg);
    if servers.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nServers (top 10 by connections; ClientHello→done ms)");
    let _ = writeln!(
        s,
        "  {:<40} {:>7} {:>7} {:>9} {:>9} {:>8} {:>4}",
        "server", "conns", "failed", "p50", "p95", "resumed", "SLO"
    );
    for (label, st) in servers.iter().take(10) {
        let p = st.timings.client_hello_to_done.percentiles();
        let slo = match report.above_slo(st) {
            Some(true) => "over",
            Some(false) => "ok",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {:<40} {:>7} {:>7} {:>9} {:>9} {:>8} {:>4}",
            label,
            st.connections,
            st.unsuccessful(),
            ms(p.p50),
            ms(p.p95),
            percent(st.resumption.hit_rate()),
            slo
        );
    }
    if let Some(slo) = report.slo_p95_ms {
        let above = report.servers_above_slo();
        let _ = writeln!(
            s,
            "\nServers above the p95 SLO of {slo} ms: {}",
            above.len()
        );
        for (label, b, p95) in above.iter().take(20) {
            let _ = writeln!(
                s,
                "  {label:<40} p95 {:>9} ms over {} connections",
                ms(*p95),
                b.connections
            );
        }
    }
    let causes = causes_by_server(agg);
    if !causes.is_empty() {
        let _ = writeln!(s, "\nFailure causes by server (most frequent first)");
        for c in causes.iter().take(15) {
            let _ = writeln!(s, "  {:<40} {:<34} {:>7}", c.server, c.cause, c.count);
        }
    }
}

/// A ratio as a percentage, or `-` when undefined.
fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn write_resumption(agg: &Aggregates, s: &mut String) {
    let r = &agg.all.resumption;
    if r.attempts == 0 && r.tickets_issued == 0 && r.early_data_offered == 0 {
        return;
    }
    let _ = writeln!(
        s,
        "\nResumption: {} attempts, {} hits ({}); {} tickets issued; 0-RTT offered {}, accepted {}",
        r.attempts,
        r.hits,
        percent(r.hit_rate()),
        r.tickets_issued,
        r.early_data_offered,
        r.early_data_accepted
    );
    let _ = writeln!(
        s,
        "  {:<28} {:>10} {:>10}",
        "mechanism", "offered", "accepted"
    );
    for m in Mechanism::ALL {
        let _ = writeln!(
            s,
            "  {:<28} {:>10} {:>10}",
            m.name(),
            r.offered[m.index()],
            r.accepted[m.index()]
        );
    }
}

fn write_census(agg: &Aggregates, s: &mut String) {
    if !agg.groups_negotiated.is_empty() {
        let _ = writeln!(s, "\nKey exchange groups (negotiated)");
        for g in group_census(&agg.groups_negotiated) {
            let pq = if g.post_quantum {
                " (post-quantum)"
            } else {
                ""
            };
            let _ = writeln!(s, "  {:<48} {:>10}", format!("{}{pq}", g.name), g.count);
        }
    }
    if agg.post_quantum_offered > 0 {
        let _ = writeln!(
            s,
            "  post-quantum groups offered on {} connections",
            agg.post_quantum_offered
        );
    }
    let alpn = agg.alpn_negotiated.ranked();
    if !alpn.is_empty() || !agg.alpn_offered.entries.is_empty() {
        let _ = writeln!(s, "\nALPN (negotiated / offered)");
        let offered = agg.alpn_offered.ranked();
        let mut names: Vec<&str> = alpn.iter().chain(&offered).map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        for name in names.iter().take(10) {
            let count =
                |v: &[(&str, u64)]| v.iter().find(|(n, _)| n == name).map_or(0, |&(_, c)| c);
            let _ = writeln!(
                s,
                "  {name:<28} {:>10} {:>10}",
                count(&alpn),
                count(&offered)
            );
        }
    }
    if agg.ech.offered > 0 {
        let _ = writeln!(
            s,
            "\nECH: offered on {} connections ({} confirmed real by the server, {} GREASE or unconfirmed)",
            agg.ech.offered,
            agg.ech.confirmed,
            agg.ech.offered - agg.ech.confirmed
        );
    }
}

fn write_clients(agg: &Aggregates, s: &mut String) {
    let clients = clients_sorted(agg);
    if clients.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nClients (top 10 JA4 fingerprints)");
    let _ = writeln!(
        s,
        "  {:<38} {:>7} {:>7} {:>9}  breaks if",
        "ja4", "conns", "failed", "highest"
    );
    for (ja4, p) in clients.iter().take(10) {
        let breaks: Vec<&str> = p.breaks().iter().map(|c| c.name()).collect();
        let _ = writeln!(
            s,
            "  {ja4:<38} {:>7} {:>7} {:>9}  {}",
            p.connections,
            p.unsuccessful,
            p.highest_version().map_or_else(|| "-".into(), version_name),
            if breaks.is_empty() {
                "-".to_string()
            } else {
                breaks.join(", ")
            }
        );
    }
    let _ = writeln!(s, "\nWhat breaks");
    let _ = writeln!(
        s,
        "  {:<28} {:>10} {:>12}",
        "change", "clients", "connections"
    );
    for b in what_breaks(agg) {
        let _ = writeln!(
            s,
            "  {:<28} {:>10} {:>12}",
            b.change, b.clients, b.connections
        );
    }
}

fn write_certificates(agg: &Aggregates, s: &mut String) {
    let certs = certificates_sorted(agg);
    if certs.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nCertificates ({} distinct; top 10, findings first)",
        certs.len()
    );
    for e in certs.iter().take(10) {
        let findings: Vec<String> = e
            .findings
            .iter()
            .map(|f| f.to_string())
            .chain(
                e.connection_findings
                    .iter()
                    .map(|(f, n)| format!("{f} (on {n})")),
            )
            .collect();
        let _ = writeln!(
            s,
            "  {:<12} {:<44} {:>5} conns  {}",
            e.cert.sha256.get(..12).unwrap_or(&e.cert.sha256),
            e.cert.subject.get(..44).unwrap_or(&e.cert.subject),
            e.connections,
            if findings.is_empty() {
                "-".to_string()
            } else {
                findings.join(", ")
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_flags_servers_whose_p95_is_above_it() {
        let mut report = Report::default();
        let mut slow = Breakdown::default();
        for ms in 1..=100 {
            slow.timings.client_hello_to_done.record(ms * 1000);
        }
        let mut fast = Breakdown::default();
        fast.timings.client_hello_to_done.record(500);
        *report.aggregates.servers.entry("slow.test") = slow;
        *report.aggregates.servers.entry("fast.test") = fast;
        report.aggregates.servers.entry("silent.test");
        assert_eq!(
            report.above_slo(&report.aggregates.servers.other),
            None,
            "no SLO"
        );
        report.slo_p95_ms = Some(50.0);
        let verdict = |name: &str| report.above_slo(&report.aggregates.servers.entries[name]);
        assert_eq!(verdict("slow.test"), Some(true));
        assert_eq!(verdict("fast.test"), Some(false));
        assert_eq!(verdict("silent.test"), None, "nothing to judge");
        let above = report.servers_above_slo();
        assert_eq!(above.len(), 1);
        assert_eq!(above[0].0, "slow.test");
        let mut text = Vec::new();
        write_summary(&report, &mut text).expect("write to a Vec");
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(
            text.contains("Servers above the p95 SLO of 50 ms: 1"),
            "{text}"
        );
    }

    fn certificate(subject: &str) -> Arc<Certificate> {
        Arc::new(Certificate {
            sha256: "ab".repeat(32),
            subject: subject.into(),
            issuer: "CN=Issuer \\ \"quoted\"".into(),
            serial: "01".into(),
            san_dns: vec!["a.test".into(), "é.test".into()],
            not_before: 0,
            not_after: 253_402_300_800,
            key_type: "ec".into(),
            key_bits: Some(256),
            key_curve: Some("prime256v1".into()),
            signature_algorithm: "ecdsa-with-SHA256".into(),
            parse_error: Some("bad\nder".into()),
            ..Certificate::default()
        })
    }

    #[test]
    fn chains_are_written_as_the_report_serializes_certificates() {
        let (a, b) = (certificate("CN=a\u{1}"), certificate("CN=b"));
        let chain = [
            ChainCert {
                cert: Arc::clone(&a),
                findings: vec!["expired", "self_signed"],
            },
            ChainCert {
                cert: Arc::clone(&b),
                findings: Vec::new(),
            },
        ];
        let reference: Vec<CertOut<'_>> = chain
            .iter()
            .map(|c| CertOut {
                cert: &c.cert,
                findings: &c.findings,
            })
            .collect();
        let reference = serde_json::to_vec(&reference).unwrap();
        // Twice: the second time the certificates' own fields come from the memo.
        for _ in 0..2 {
            let mut out = Vec::new();
            write_chain(&mut out, &chain);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8_lossy(&reference)
            );
        }
        // The memo holds each certificate, so its address cannot be reused by another.
        assert_eq!(Arc::strong_count(&a), 3);
        let mut out = Vec::new();
        write_chain(&mut out, &[]);
        assert_eq!(out, b"[]");
    }

    /// Runs of different types share the memo, told apart by their names.
    #[test]
    fn run_names_are_distinct() {
        let mut names = [
            ClientStack::NAME,
            ClientFingerprints::NAME,
            ServerStack::NAME,
            ServerTail::NAME,
            MessagesRun::NAME,
            AlertRun::NAME,
            Negotiated::NAME,
        ];
        names.sort_unstable();
        let before = names.len();
        let mut names = names.to_vec();
        names.dedup();
        assert_eq!(names.len(), before, "{names:?}");
    }

    #[test]
    fn alerts_come_out_the_same_from_the_memo() {
        use crate::tls::Alert;
        let alerts = [
            AlertFact {
                from: Side::Server,
                alert: Alert::cleartext(2, 40),
                ts: Timestamp(0),
                after: Some((Side::Client, "client_hello")),
            },
            AlertFact {
                from: Side::Client,
                alert: Alert::cleartext(1, 0),
                ts: Timestamp(0),
                after: None,
            },
        ];
        let expected = concat!(
            r#"[{"from":"server","level":"fatal","description":"handshake_failure","#,
            r#""encrypted":false,"inferred":false,"after":"client:client_hello"},"#,
            r#"{"from":"client","level":"warning","description":"close_notify","#,
            r#""encrypted":false,"inferred":false,"after":null}]"#
        );
        for _ in 0..2 {
            let mut out = Vec::new();
            alerts.as_slice().write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn messages_carry_their_sender() {
        let lists: [&[(Side, &'static str)]; 3] = [
            &[(Side::Client, "client_hello"), (Side::Server, "finished")],
            &[(Side::Server, "finished"), (Side::Client, "client_hello")],
            &[],
        ];
        let expected = [
            r#"{"messages":["client:client_hello","server:finished"]}"#,
            r#"{"messages":["server:finished","client:client_hello"]}"#,
            r#"{"messages":[]}"#,
        ];
        // Twice: the second time from the memo.
        for _ in 0..2 {
            for (list, expected) in lists.iter().zip(expected) {
                let mut out = Vec::new();
                json::object(&mut out, |o| o.run(&MessagesRun(list)));
                assert_eq!(String::from_utf8(out).unwrap(), expected);
            }
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_micros(Timestamp::from_parts(1_700_000_000, 123_456_789)),
            "2023-11-14T22:13:20.123456Z"
        );
    }

    #[test]
    fn rfc3339_by_hand_matches_core_fmt_and_leaves_odd_years_to_it() {
        let general = |t: Rfc3339| {
            let mut s = String::new();
            t.write_general(&mut s).unwrap();
            s
        };
        // Every ~11.6 days from year 0 to 9999, and every second around the epoch.
        let first = -62_167_219_200i64;
        let last = 253_402_300_799i64;
        let sweep = (first..=last).step_by(1_000_003).chain(-100_000..100_000);
        for secs in sweep.chain([first, last]) {
            for t in [
                Rfc3339::secs(secs),
                Rfc3339::micros(Timestamp(secs * 1_000_000 + 7)),
            ] {
                let fast = t.text();
                assert_eq!(
                    fast.as_ref().and_then(Rfc3339Text::as_str),
                    Some(general(t).as_str())
                );
            }
        }
        for secs in [
            first - 1,
            last + 1,
            i64::MIN / 1_000_000,
            i64::MAX / 1_000_000,
        ] {
            assert!(Rfc3339::secs(secs).text().is_none());
        }
        assert_eq!(rfc3339_secs(last + 1), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(first - 1), "-001-12-31T23:59:59Z");
    }
}
