//! The NDJSON connection record: one line per connection, written by the specialised
//! writer of [`super::json`] (pre-escaped field names, memoised runs of fields that repeat
//! across connections).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use serde::Serialize;

use super::json::{
    self, Fields, Json, Key, KeyPart, Object, Run, RunFields, SerdeFields, Written, key,
};
use super::time::Rfc3339;
use super::transport::{write_dtls, write_quic};
use crate::memo::BoundedMemo;

use super::format::RecordFormat;
use crate::facts::{
    AlertFact, ChainCert, ConnectionFacts, Decrypted, Failure, Finding, Renegotiation, Resumption,
    Side, TcpFacts, Timing, TransportFacts, WithoutTls,
};
use crate::flow::connection_id::connection_id;
use crate::flow::{Direction, Endpoint, Transport, community_id};
use crate::keylog::SecretKind;
use crate::tcp::CloseReason;
use crate::tls::codes::{AlertDescription, AlertLevel};
use crate::tls::names::{cipher_name, group_name, version_name};
use crate::tls::{Certificate, ClientHello, ServerHello};

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
        f.entry(key!("supported_versions"), &c.supported_versions[..]);
        f.entry(key!("cipher_suites"), &c.cipher_suites[..]);
        f.entry(key!("compression"), &c.compression[..]);
        f.entry(key!("extensions"), &c.extensions[..]);
        f.entry(key!("groups"), &c.groups[..]);
        f.entry(key!("ec_point_formats"), &c.ec_point_formats[..]);
        f.entry(key!("key_share_groups"), &c.key_share_groups[..]);
        f.entry(key!("sig_algs"), &c.sig_algs[..]);
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
            o.field(key!("psk_modes"), &self.psk_modes[..]);
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
/// `session_id_echo`, and whether `ja4s` is wanted (`--ja4-plus`).
struct ServerHelloOut<'a>(&'a ServerHello, Option<&'a ClientHello>, bool);

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
        f.entry(key!("extensions"), &s.extensions[..]);
        f.entry(key!("group"), &s.selected_group);
        f.entry(key!("alpn"), &s.alpn);
        f.entry(key!("hrr"), &s.hrr);
    }
}

impl Json for ServerHelloOut<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let ServerHelloOut(s, client, ja4_plus) = *self;
        json::object(out, |o| {
            o.run(&ServerStack(s));
            o.field(key!("session_id_len"), &s.session_id.len());
            let echo =
                client.is_some_and(|c| !s.session_id.is_empty() && c.session_id == s.session_id);
            o.field(key!("session_id_echo"), &echo);
            o.field(key!("psk_selected"), &s.psk_selected);
            o.run(&ServerTail(s, ja4_plus));
        });
    }
}

/// The last fields of a ServerHello, its fingerprints with two flags of the server stack
/// (see [`Run`]; keyed by their text). JA4S is null unless asked for: it is under the FoxIO
/// License (free for non-commercial use only), unlike JA4 (BSD).
struct ServerTail<'a>(&'a ServerHello, bool);

impl Run for ServerTail<'_> {
    const NAME: &'static str = "server_fingerprints";

    fn fields<F: RunFields>(&self, f: &mut F) {
        let ServerTail(s, ja4_plus) = *self;
        f.entry(key!("session_ticket"), &s.session_ticket);
        f.entry(key!("renegotiation_info"), &s.renegotiation_info);
        f.entry(key!("ja3s"), &s.ja3s);
        f.entry(key!("ja3s_string"), &s.ja3s_string);
        f.entry(key!("ja4s"), &ja4_plus.then(|| s.ja4s.clone()));
    }
}

impl Json for Finding {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.name().write_json(out);
    }
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A certificate as the records show it (with its findings on that connection) and as the
/// report's inventory shows it (with its findings on any connection).
pub(super) struct CertOut<'a> {
    pub(super) cert: &'a Certificate,
    pub(super) findings: &'a [Finding],
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
struct CertMemo(BoundedMemo<usize, (Arc<Certificate>, Written)>);

impl CertMemo {
    /// Copies the own fields of `cert`, written once.
    fn append(&mut self, o: &mut Object<'_>, cert: &Arc<Certificate>) {
        let key = Arc::as_ptr(cert) as usize;
        if let Some((_, fields)) = self.0.get(&key) {
            o.append(fields);
            return;
        }
        let fields = Written::new(|o| CertOut::own_fields(o, cert));
        o.append(&fields);
        let bytes = fields.len();
        self.0.insert(key, (Arc::clone(cert), fields), bytes);
    }
}

thread_local! {
    static CERT_MEMO: RefCell<CertMemo> =
        RefCell::new(CertMemo(BoundedMemo::new(CERT_MEMO_ENTRIES, CERT_MEMO_BYTES)));
}

/// A certificate chain of a record.
pub(super) fn write_chain(out: &mut Vec<u8>, chain: &[ChainCert]) {
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

impl Json for AlertDescription {
    fn write_json(&self, out: &mut Vec<u8>) {
        self.name().write_json(out);
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
        let level = a.alert.level.map(|l| Static(alert_level_name(l)));
        f.entry(key!("level"), &level);
        f.entry(key!("description"), &a.alert.description);
        f.entry(key!("encrypted"), &a.alert.encrypted);
        f.entry(key!("inferred"), &a.alert.inferred);
        f.entry(key!("after"), &a.after.map(Sided));
    }
}

/// `"warning"`, `"fatal"`, or `"unknown"` for other alert levels.
pub(super) fn alert_level_name(level: AlertLevel) -> &'static str {
    level.known_name().unwrap_or("unknown")
}

impl Json for Timing {
    fn write_json(&self, out: &mut Vec<u8>) {
        json::object(out, |o| {
            o.field(key!("tcp_handshake"), &self.tcp_handshake_us);
            o.field(key!("tcp_syn_to_syn_ack"), &self.tcp_syn_to_syn_ack_us);
            o.field(
                key!("client_hello_to_server_hello"),
                &self.client_hello_to_server_hello_us,
            );
            o.field(key!("client_hello_to_done"), &self.client_hello_to_done_us);
            o.field(key!("server_first_reply"), &self.server_first_reply_us);
        });
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
        CloseReason::HandshakeConfirmed => "handshake_confirmed",
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
        f.entry(
            key!("version"),
            &c.version().map(|v| Named(v, version_name)),
        );
        f.entry(key!("cipher"), &c.cipher().map(|v| Named(v, cipher_name)));
    }
}

/// What key-log decryption did and revealed (records of an analysis with key logs only).
fn write_decrypted(o: &mut Object<'_>, d: &Decrypted) {
    fn sides<T: Json + ?Sized>(o: &mut Object<'_>, key: Key, [client, server]: [&T; 2]) {
        o.object(key, |o| {
            o.field(key!("client"), client);
            o.field(key!("server"), server);
        });
    }
    let a = &d.accounting;
    o.field(key!("decryption"), a.level().name());
    o.field(
        key!("decryption_missing"),
        &a.missing.map(SecretKind::label),
    );
    o.field(key!("decryption_failed"), &a.failed_records);
    let [c, s] = &a.finished_verified;
    sides(o, key!("finished_verified"), [c, s]);
    let [c, s] = &d.certificate_verify;
    sides(o, key!("certificate_verify_scheme"), [c, s]);
    let [c, s] = &d.key_updates;
    sides(o, key!("key_updates"), [c, s]);
    o.field(key!("ticket_lifetime_s"), &d.ticket_lifetime);
    o.field(key!("ticket_max_early_data"), &d.ticket_max_early_data);
}

/// The `tcp` object of a record, whose client sent in `client_dir`.
fn write_tcp(o: &mut Object<'_>, client_dir: Direction, tcp: &TcpFacts) {
    let close = tcp.close;
    let tcp = &tcp.meta;
    let client_first = client_dir.index() == 0;
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
        if dir == client_dir {
            "client"
        } else {
            "server"
        }
    });
    o.field(key!("rst_from"), &rst_from);
    o.field(key!("close"), close_name(close));
}

/// Appends the record of a connection that failed before TLS (`--tcp-failures`), with its
/// newline: `"type":"tcp_failure"`, the fields that identify a connection as in connection
/// records, the cause and its explanation, and the `tcp` object. `client` sent the SYN.
pub(super) fn write_tcp_failure(
    cause: WithoutTls,
    (client, server): (Endpoint, Endpoint),
    tcp: &TcpFacts,
    input: u16,
    format: &RecordFormat,
    out: &mut Vec<u8>,
) {
    let first = tcp.meta.first_ts;
    let client_dir = tcp.meta.syn.map_or(Direction::LoToHi, |(dir, _)| dir);
    json::object(out, |o| {
        o.field(key!("type"), "tcp_failure");
        if let Some(sensor) = format.sensor.as_deref() {
            o.field(key!("sensor"), sensor);
        }
        o.field(key!("ts"), &Rfc3339::micros(first));
        o.field(
            key!("connection_id"),
            connection_id(first, Transport::Tcp, client, server).as_str(),
        );
        o.field(
            key!("community_id"),
            community_id::community_id_v1(
                community_id::TCP,
                client,
                server,
                format.community_id_seed,
            )
            .as_str(),
        );
        o.field(
            key!("input"),
            &format.inputs.get(usize::from(input)).map(String::as_str),
        );
        o.field(key!("client"), &client);
        o.field(key!("server"), &server);
        o.field(key!("cause"), cause.name());
        o.field(key!("explanation"), cause.explanation());
        o.object(key!("tcp"), |o| write_tcp(o, client_dir, tcp));
    });
    out.push(b'\n');
}

/// IANA protocol number of a transport, for the Community ID.
pub(super) fn protocol_number(t: Transport) -> u8 {
    match t {
        Transport::Tcp => community_id::TCP,
        Transport::Udp => community_id::UDP,
    }
}

/// Appends one NDJSON connection record (with its newline) to `out`, naming the sensor that
/// saw it when one is set (`--sensor`) and the input the connection started in (`input`, an
/// index in `format.inputs`).
pub fn write_connection(f: &ConnectionFacts, input: u16, format: &RecordFormat, out: &mut Vec<u8>) {
    let transport = f.transport.transport();
    let sensor = format.sensor.as_deref();
    json::object(out, |o| {
        o.field(key!("type"), "connection");
        if let Some(sensor) = sensor {
            o.field(key!("sensor"), sensor);
        }
        o.field(key!("ts"), &Rfc3339::micros(f.first_ts()));
        o.field(
            key!("connection_id"),
            connection_id(f.first_ts(), transport, f.client, f.server).as_str(),
        );
        o.field(
            key!("community_id"),
            community_id::community_id_v1(
                protocol_number(transport),
                f.client,
                f.server,
                format.community_id_seed,
            )
            .as_str(),
        );
        o.field(
            key!("input"),
            &format.inputs.get(usize::from(input)).map(String::as_str),
        );
        o.field(key!("client"), &f.client);
        o.field(key!("server"), &f.server);
        o.field(key!("transport"), f.transport.name());
        o.run(&Negotiated(f));
        o.field(key!("sni"), &f.sni());
        o.field(key!("alpn"), &f.alpn());
        o.field(key!("group"), &f.negotiated_group().map(group_name));
        o.field(key!("outcome"), f.outcome.name());
        o.field(key!("failure"), &f.failure);
        o.field(key!("timing_us"), &f.timing);
        let ch = f.client_hello.as_deref();
        o.field(key!("client_hello"), &ch);
        let sh = f
            .server_hello
            .as_deref()
            .map(|s| ServerHelloOut(s, ch, format.ja4_plus));
        o.field(key!("server_hello"), &sh);
        let hrr = f
            .hello_retry_request
            .as_deref()
            .map(|s| ServerHelloOut(s, ch, format.ja4_plus));
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
        o.field(key!("alerts"), &f.alerts[..]);
        o.run(&MessagesRun(&f.messages));
        o.field(key!("resumption"), &f.resumption);
        o.field(key!("renegotiations"), &f.renegotiations());
        o.field(key!("renegotiation"), &f.renegotiation);
        o.field(key!("anomalies"), &f.anomalies);
        if let Some(d) = &f.decrypted {
            write_decrypted(o, d);
        }
        // Every record has the three transport objects; all but its own are null.
        let none = &None::<u8>;
        match &f.transport {
            TransportFacts::Tcp(tcp) => o.object(key!("tcp"), |o| write_tcp(o, f.client_dir, tcp)),
            _ => o.field(key!("tcp"), none),
        }
        match &f.transport {
            TransportFacts::Quic(quic) => o.object(key!("quic"), |o| write_quic(o, f, quic)),
            _ => o.field(key!("quic"), none),
        }
        match &f.transport {
            TransportFacts::Dtls(dtls) => o.object(key!("dtls"), |o| write_dtls(o, f, dtls)),
            _ => o.field(key!("dtls"), none),
        }
    });
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Timestamp;

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
                findings: smallvec::smallvec![Finding::Expired, Finding::SelfSigned],
            },
            ChainCert {
                cert: Arc::clone(&b),
                findings: smallvec::SmallVec::new(),
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
                alert: Alert::cleartext(AlertLevel::FATAL, AlertDescription::HANDSHAKE_FAILURE),
                ts: Timestamp(0),
                after: Some((Side::Client, "client_hello")),
            },
            AlertFact {
                from: Side::Client,
                alert: Alert::cleartext(AlertLevel::WARNING, AlertDescription::CLOSE_NOTIFY),
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
}
