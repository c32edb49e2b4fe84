//! Connection records in Elastic Common Schema names (`--schema ecs`), so that Elasticsearch
//! and OpenSearch users can index them as they are and find them with the queries, dashboards
//! and detection rules they already have for Zeek, Suricata and Packetbeat: `@timestamp`,
//! `source.*`, `destination.*`, `network.*` (with the Community ID), `tls.*` (with the
//! server's and the client's leaf certificate as `tls.*.x509`), `event.*`, `observer.*`.
//! What ECS has no field for (failure cause, alerts with their sender, timings, JA4,
//! certificate findings, the whole chain) goes under `tlsight.*`, with the native record's
//! names and values. The README has the mapping table.

use std::net::IpAddr;

use super::format::RecordFormat;
use super::json::{self, Object, key};
use super::record::write_chain;
use super::time::Rfc3339;
use crate::facts::{ConnectionFacts, Outcome, WithoutTls};
use crate::flow::community_id::{TCP, UDP, community_id_v1};
use crate::flow::{Endpoint, Transport};
use crate::tcp::TcpMeta;
use crate::tls::Certificate;
use crate::tls::names::{cipher_name, group_name, version_name};

/// The ECS version whose field definitions the records follow (and are tested against).
pub const ECS_VERSION: &str = "8.11.0";

/// Appends one ECS connection record (with its newline) to `out`; the format's sensor becomes
/// `observer.name`, its seed is the Community ID's.
pub fn write_connection(f: &ConnectionFacts, format: &RecordFormat, out: &mut Vec<u8>) {
    let sensor = format.sensor.as_deref();
    json::object(out, |o| {
        o.field(key!("@timestamp"), &Rfc3339::micros(f.first_ts()));
        // Source and destination come first, flat: the Kafka sink keys records by them.
        o.object(key!("source"), |o| endpoint(o, f.client.ip, f.client.port));
        o.object(key!("destination"), |o| {
            endpoint(o, f.server.ip, f.server.port);
            if let Some(sni) = f.sni() {
                o.field(key!("domain"), sni);
            }
        });
        o.object(key!("ecs"), |o| o.field(key!("version"), ECS_VERSION));
        o.object(key!("event"), |o| event(o, f));
        o.object(key!("observer"), |o| observer(o, sensor));
        o.object(key!("network"), |o| network(o, f, format.community_id_seed));
        o.object(key!("tls"), |o| tls(o, f));
        o.object(key!("tlsight"), |o| tlsight(o, f, format.ja4_plus));
    });
    out.push(b'\n');
}

/// Appends the ECS record of a TCP connection that failed before TLS (`--tcp-failures`):
/// a failed network connection (`event.dataset` `tlsight.tcp_failure`, `event.reason` the
/// explanation) with `tlsight.cause` as in native records. `client` sent the SYN.
pub fn write_tcp_failure(
    cause: WithoutTls,
    (client, server): (Endpoint, Endpoint),
    tcp: &TcpMeta,
    format: &RecordFormat,
    out: &mut Vec<u8>,
) {
    json::object(out, |o| {
        o.field(key!("@timestamp"), &Rfc3339::micros(tcp.first_ts));
        o.object(key!("source"), |o| endpoint(o, client.ip, client.port));
        o.object(key!("destination"), |o| endpoint(o, server.ip, server.port));
        o.object(key!("ecs"), |o| o.field(key!("version"), ECS_VERSION));
        o.object(key!("event"), |o| {
            o.field(key!("kind"), "event");
            o.field(key!("category"), &["network"][..]);
            o.field(key!("type"), &["connection"][..]);
            o.field(key!("outcome"), "failure");
            o.field(key!("module"), "tlsight");
            o.field(key!("dataset"), "tlsight.tcp_failure");
            o.field(key!("reason"), cause.explanation());
            o.field(key!("start"), &Rfc3339::micros(tcp.first_ts));
            o.field(key!("end"), &Rfc3339::micros(tcp.last_ts));
            let duration_ns = (tcp.last_ts.0 - tcp.first_ts.0).max(0);
            o.field(key!("duration"), &duration_ns);
        });
        o.object(key!("observer"), |o| observer(o, format.sensor.as_deref()));
        o.object(key!("network"), |o| {
            o.field(key!("transport"), "tcp");
            o.field(
                key!("type"),
                if client.ip.is_ipv4() { "ipv4" } else { "ipv6" },
            );
            o.field(key!("iana_number"), &TCP.to_string());
            let id = community_id_v1(TCP, client, server, format.community_id_seed);
            o.field(key!("community_id"), id.as_str());
        });
        o.object(key!("tlsight"), |o| o.field(key!("cause"), cause.name()));
    });
    out.push(b'\n');
}

/// `observer.*`: this sensor (`--sensor` as its name) and tlsight's version.
fn observer(o: &mut Object<'_>, sensor: Option<&str>) {
    if let Some(sensor) = sensor {
        o.field(key!("name"), sensor);
    }
    o.field(key!("type"), "sensor");
    o.field(key!("vendor"), "tlsight");
    o.field(key!("product"), "tlsight");
    o.field(key!("version"), env!("CARGO_PKG_VERSION"));
}

fn endpoint(o: &mut Object<'_>, ip: IpAddr, port: u16) {
    o.field(key!("ip"), &ip);
    o.field(key!("port"), &port);
}

/// ECS categorization: a network connection (and a protocol event), successful when the
/// handshake completed.
fn event(o: &mut Object<'_>, f: &ConnectionFacts) {
    o.field(key!("kind"), "event");
    o.field(key!("category"), &["network"][..]);
    o.field(key!("type"), &["connection", "protocol"][..]);
    let outcome = match f.outcome {
        Outcome::Established | Outcome::Resumed => "success",
        Outcome::Failed | Outcome::NoResponse => "failure",
        Outcome::Incomplete => "unknown",
    };
    o.field(key!("outcome"), outcome);
    o.field(key!("module"), "tlsight");
    o.field(key!("dataset"), "tlsight.connection");
    o.field(key!("start"), &Rfc3339::micros(f.first_ts()));
    o.field(key!("end"), &Rfc3339::micros(f.last_ts()));
    let duration_ns = (f.last_ts().0 - f.first_ts().0).max(0);
    o.field(key!("duration"), &duration_ns);
}

fn network(o: &mut Object<'_>, f: &ConnectionFacts, seed: u16) {
    let (transport, number) = match f.transport.transport() {
        Transport::Tcp => ("tcp", TCP),
        Transport::Udp => ("udp", UDP),
    };
    o.field(key!("transport"), transport);
    o.field(
        key!("type"),
        if f.client.ip.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        },
    );
    o.field(key!("iana_number"), &number.to_string());
    o.field(key!("protocol"), "tls");
    let id = community_id_v1(number, f.client, f.server, seed);
    o.field(key!("community_id"), id.as_str());
}

/// `tls.*`: ECS's own names, values as Zeek and Suricata fill them (`version` "1.2" with
/// `version_protocol` "tls", cipher by IANA name, hashes in uppercase hex).
fn tls(o: &mut Object<'_>, f: &ConnectionFacts) {
    if let Some(v) = f.version() {
        let (protocol, number) = version_parts(&version_name(v));
        o.field(key!("version"), &number);
        o.field(key!("version_protocol"), protocol);
    }
    if let Some(c) = f.cipher() {
        o.field(key!("cipher"), &cipher_name(c));
    }
    if let Some(g) = f.negotiated_group() {
        o.field(key!("curve"), &group_name(g));
    }
    o.field(key!("established"), &f.outcome.is_success());
    o.field(key!("resumed"), &(f.outcome == Outcome::Resumed));
    if let Some(alpn) = f.alpn() {
        o.field(key!("next_protocol"), &alpn.to_ascii_lowercase());
    }
    o.object(key!("client"), |o| {
        if let Some(ch) = f.client_hello.as_deref() {
            o.field(key!("ja3"), &ch.ja3);
            if let Some(sni) = f.sni() {
                o.field(key!("server_name"), sni);
            }
            let ciphers: Vec<String> = ch
                .cipher_suites
                .iter()
                .map(|&c| cipher_name(c).into_owned())
                .collect();
            o.field(key!("supported_ciphers"), &ciphers);
        }
        if let Some(leaf) = f.client_certificates.first() {
            certificate(o, &leaf.cert);
        }
    });
    o.object(key!("server"), |o| {
        if let Some(sh) = f.server_hello.as_deref() {
            o.field(key!("ja3s"), &sh.ja3s);
        }
        if let Some(leaf) = f.certificates.first() {
            certificate(o, &leaf.cert);
        }
    });
}

/// `"TLSv1.2"` → (`"tls"`, `"1.2"`); `"SSLv3"` → (`"ssl"`, `"3"`); `"DTLSv1.2"` →
/// (`"dtls"`, `"1.2"`); drafts keep their suffix.
fn version_parts(name: &str) -> (&'static str, String) {
    if let Some(n) = name.strip_prefix("DTLSv") {
        ("dtls", n.to_owned())
    } else if let Some(n) = name.strip_prefix("TLSv") {
        ("tls", n.to_owned())
    } else if let Some(n) = name.strip_prefix("SSLv") {
        ("ssl", n.to_owned())
    } else {
        ("tls", name.to_owned())
    }
}

/// A leaf certificate as ECS describes one: the `tls.{client,server}` summary fields, its
/// hash, and `x509.*`.
fn certificate(o: &mut Object<'_>, c: &Certificate) {
    o.field(key!("subject"), &c.subject);
    o.field(key!("issuer"), &c.issuer);
    o.field(key!("not_before"), &Rfc3339::secs(c.not_before));
    o.field(key!("not_after"), &Rfc3339::secs(c.not_after));
    o.object(key!("hash"), |o| {
        o.field(key!("sha256"), &c.sha256.to_ascii_uppercase());
    });
    o.object(key!("x509"), |o| {
        o.field(key!("serial_number"), &c.serial.to_ascii_uppercase());
        o.object(key!("subject"), |o| {
            o.field(key!("distinguished_name"), &c.subject);
            o.field(key!("common_name"), &c.subject_cn);
        });
        o.object(key!("issuer"), |o| {
            o.field(key!("distinguished_name"), &c.issuer);
        });
        o.field(key!("signature_algorithm"), &c.signature_algorithm);
        o.field(key!("not_before"), &Rfc3339::secs(c.not_before));
        o.field(key!("not_after"), &Rfc3339::secs(c.not_after));
        o.field(key!("public_key_algorithm"), &c.key_type);
        if let Some(bits) = c.key_bits {
            o.field(key!("public_key_size"), &bits);
        }
        if let Some(curve) = &c.key_curve {
            o.field(key!("public_key_curve"), curve);
        }
        let names: Vec<&str> = c
            .san_dns
            .iter()
            .chain(&c.san_ip)
            .map(String::as_str)
            .collect();
        o.field(key!("alternative_names"), &names);
    });
}

/// What ECS has no field for, in the native record's names (`ja4s` only with `--ja4-plus`:
/// FoxIO License).
fn tlsight(o: &mut Object<'_>, f: &ConnectionFacts, ja4_plus: bool) {
    o.field(key!("outcome"), f.outcome.name());
    o.field(key!("failure"), &f.failure);
    o.field(key!("alerts"), &f.alerts[..]);
    o.field(key!("timing_us"), &f.timing);
    if let Some(ch) = f.client_hello.as_deref() {
        o.field(key!("ja4"), &ch.ja4);
    }
    if let Some(sh) = f.server_hello.as_deref().filter(|_| ja4_plus) {
        o.field(key!("ja4s"), &sh.ja4s);
    }
    o.field_with(key!("certificates"), |out| {
        write_chain(out, &f.certificates)
    });
    o.field_with(key!("client_certificates"), |out| {
        write_chain(out, &f.client_certificates)
    });
    o.field(key!("resumption"), &f.resumption);
    o.field(key!("anomalies"), &f.anomalies);
}
