//! The QUIC scenario captures of `captures/quic/` (recorded from aioquic and quinn by
//! `captures/quic/record.sh`), each with its key fact in plain words, read through the QUIC
//! driver with the hellos parsed by the shared parsers. The records and goldens of these
//! captures come when QUIC joins the pipeline.

mod common;

use std::path::Path;

use common::quic::{Found, run};
use tlsight::flow::Direction;
use tlsight::quic::keys::RetryCheck;
use tlsight::quic::{QuicVersion, Space};

fn capture(name: &str) -> Vec<Found> {
    run(&Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/quic")
        .join(name))
}

/// The one connection of a capture.
fn one(name: &str) -> Found {
    let mut found = capture(name);
    assert_eq!(found.len(), 1, "{name}: {found:#?}");
    found.remove(0)
}

fn client(f: &Found) -> Direction {
    f.facts.client.expect("client known")
}

fn server(f: &Found) -> Direction {
    client(f).reverse()
}

/// A complete handshake: ClientHello and ServerHello read, TLS 1.3 with a suite the client
/// offered, the client's Handshake flight seen after the ServerHello, nothing odd.
fn assert_established(f: &Found, version: QuicVersion) {
    assert_eq!(f.facts.version, Some(version));
    let (ch, _) = f.client_hello().expect("ClientHello");
    assert_eq!(ch.sni.as_deref(), Some("server.test"));
    assert_eq!(ch.alpn.first().map(String::as_str), Some("h3"));
    assert!(
        ch.extensions.contains(&57),
        "quic_transport_parameters offered"
    );
    let (sh, sh_frame) = f.server_hello().expect("ServerHello");
    assert_eq!(sh.version, 0x0304);
    assert!(ch.cipher_suites.contains(&sh.cipher));
    let client_flight = f.seen.protected.iter().find(|(d, _, _)| *d == client(f));
    assert!(
        client_flight.is_some_and(|(_, _, frame)| *frame > sh_frame),
        "{:?}",
        f.seen.protected
    );
    assert!(f.facts.connection_close.is_none());
    assert!(f.seen.alerts.is_empty() && f.seen.gaps.is_empty() && f.seen.anomalies.is_empty());
    assert_eq!(f.undecryptable_initials(), 0);
}

/// Key fact: a QUIC v1 handshake with ALPN h3; the server's Initial (ServerHello) is coalesced
/// with its first Handshake packet in one datagram.
#[test]
fn aioquic_v1_h3() {
    let f = one("aioquic-v1-h3.pcap");
    assert_established(&f, QuicVersion::V1);
    assert!(f.facts.packets[server(&f).index()].coalesced >= 1);
}

/// Key fact: a QUIC v2 handshake (0x6b3343cf, RFC 9369): other salt, labels and type bits, the
/// same TLS facts.
#[test]
fn aioquic_v2_h3() {
    let f = one("aioquic-v2-h3.pcap");
    assert_established(&f, QuicVersion::V2);
    assert_eq!(f.facts.versions_seen, [QuicVersion::V2]);
}

/// Key fact: the server answers the first Initial with a Retry; the client comes back with the
/// token to the Retry's connection ID, whose keys protect its next Initials.
#[test]
fn aioquic_retry() {
    let f = one("aioquic-retry.pcap");
    assert_established(&f, QuicVersion::V1);
    let retry = f.facts.retry.expect("Retry");
    assert_eq!(retry.integrity, Some(RetryCheck::Valid));
    assert!(retry.token_len > 0);
    assert_ne!(Some(retry.scid), f.facts.client_dcid);
    assert_eq!(
        f.client_hellos(),
        1,
        "the resent ClientHello is the same message"
    );
}

/// Key fact: as above with quinn on both sides (a 20-byte first DCID).
#[test]
fn quinn_retry() {
    let f = one("quinn-retry.pcap");
    assert_established(&f, QuicVersion::V1);
    assert_eq!(
        f.facts.retry.and_then(|r| r.integrity),
        Some(RetryCheck::Valid)
    );
    assert_eq!(f.facts.client_dcid.map(|c| c.as_bytes().len()), Some(20));
}

/// Key fact: the client offers a reserved version, the server's Version Negotiation lists v1
/// and v2, the client starts again in v1 and the handshake completes.
#[test]
fn aioquic_version_negotiation() {
    let f = one("aioquic-version-negotiation.pcap");
    assert_established(&f, QuicVersion::V1);
    let vn = f
        .facts
        .version_negotiation
        .as_ref()
        .expect("Version Negotiation");
    assert_eq!(vn.from, server(&f));
    assert_eq!(vn.offered, [QuicVersion::V1, QuicVersion::V2]);
    assert_eq!(
        f.facts.versions_seen,
        [QuicVersion(0x1a2a_3a4a), QuicVersion::V1]
    );
}

/// Key fact: the client speaks only a version the server does not: Version Negotiation, then
/// nothing; no ClientHello could be read (the reserved version's Initial is not readable).
#[test]
fn aioquic_version_negotiation_failed() {
    let f = one("aioquic-version-negotiation-failed.pcap");
    let vn = f
        .facts
        .version_negotiation
        .as_ref()
        .expect("Version Negotiation");
    assert_eq!(vn.offered, [QuicVersion::V1, QuicVersion::V2]);
    assert_eq!(f.facts.version, Some(QuicVersion(0x1a2a_3a4a)));
    assert!(
        !vn.offered.contains(&QuicVersion(0x1a2a_3a4a)),
        "no version in common"
    );
    assert!(f.client_hello().is_none());
    assert_eq!(f.facts.packets[client(&f).index()].unreadable, 1);
}

/// Key fact: two connections; the second resumes the first's session (pre_shared_key offered
/// and selected) and sends 0-RTT packets coalesced with its Initial.
#[test]
fn aioquic_resumption_0rtt() {
    let found = capture("aioquic-resumption-0rtt.pcap");
    assert_eq!(found.len(), 2);
    let resumed: Vec<&Found> = found.iter().filter(|f| f.facts.early_data).collect();
    assert_eq!(resumed.len(), 1, "one connection sends 0-RTT");
    let f = resumed[0];
    let (ch, _) = f.client_hello().expect("ClientHello");
    assert!(ch.early_data && ch.psk_identities == Some(1));
    let (sh, _) = f.server_hello().expect("ServerHello");
    assert_eq!(sh.psk_selected, Some(0), "the server accepted the PSK");
    assert!(f.facts.packets[client(f).index()].zero_rtt >= 1);
    let full = found
        .iter()
        .find(|f| !f.facts.early_data)
        .expect("full handshake");
    assert_established(full, QuicVersion::V1);
}

/// Key fact: a ClientHello larger than one packet (a 1.2 KB transport parameter and 61 ALPN
/// names, as post-quantum key shares make it) in CRYPTO frames of three Initial packets,
/// joined into one message completed by the third.
#[test]
fn aioquic_client_hello_3_initials() {
    let f = one("aioquic-client-hello-3-initials.pcap");
    assert_established(&f, QuicVersion::V1);
    let (ch, frame) = f.client_hello().expect("ClientHello");
    assert_eq!(frame, 3, "completed by the third Initial");
    assert_eq!(ch.alpn.len(), 61);
    assert!(f.facts.packets[client(&f).index()].initial >= 3);
}

/// Key fact: capture loss: the first of those three Initials is missing, so the ClientHello
/// cannot be joined: a gap in the client's CRYPTO stream; the ServerHello is still read.
#[test]
fn aioquic_lost_client_initial() {
    let f = one("aioquic-lost-client-initial.pcap");
    assert!(f.client_hello().is_none());
    assert_eq!(f.facts.crypto_gaps[client(&f).index()], 1);
    assert_eq!(f.seen.gaps, [client(&f)]);
    assert!(f.server_hello().is_some());
    assert_eq!(f.undecryptable_initials(), 0);
}

/// Key fact: the client offers only `doq`, the server only `h3`: the server closes in its
/// Initial with CRYPTO_ERROR 0x178, the TLS alert no_application_protocol (120).
#[test]
fn aioquic_alpn_mismatch() {
    let f = one("aioquic-alpn-mismatch.pcap");
    let close = f.facts.connection_close.as_ref().expect("close");
    assert_eq!(
        (close.from, close.space, close.error_code),
        (server(&f), Space::Initial, 0x178)
    );
    assert_eq!(close.tls_alert, Some(120));
    assert_eq!(f.seen.alerts.len(), 1);
    assert_eq!(f.seen.alerts[0].1.description.map(|d| d.0), Some(120));
    assert!(f.server_hello().is_none());
}

/// Key fact: the client offers only ChaCha20, the server only AES-128-GCM: CRYPTO_ERROR
/// 0x128, the alert handshake_failure (40), from the server in its Initial.
#[test]
fn aioquic_no_shared_cipher() {
    let f = one("aioquic-no-shared-cipher.pcap");
    let (ch, _) = f.client_hello().expect("ClientHello");
    assert_eq!(ch.cipher_suites[..], [0x1303]);
    let close = f.facts.connection_close.as_ref().expect("close");
    assert_eq!(
        (close.from, close.error_code, close.tls_alert),
        (server(&f), 0x128, Some(40))
    );
}

/// Key fact: the server refuses the connection: a transport CONNECTION_CLOSE with
/// CONNECTION_REFUSED (0x2) in its Initial, reason "server busy"; no ServerHello, no alert.
#[test]
fn aioquic_server_refuses() {
    let f = one("aioquic-server-refuses.pcap");
    let close = f.facts.connection_close.as_ref().expect("close");
    assert_eq!(
        (close.from, close.space, close.application),
        (server(&f), Space::Initial, false)
    );
    assert_eq!((close.error_code, close.tls_alert), (0x2, None));
    assert_eq!(close.reason, "server busy");
    assert!(f.seen.alerts.is_empty() && f.server_hello().is_none());
}

/// Key fact: the client rejects the server's certificate (no trust anchor). Its close travels
/// only in Handshake packets (it had sent a Handshake ACK first, dropping its Initial keys),
/// so no CONNECTION_CLOSE is readable: the last packet is the client's small Handshake packet.
#[test]
fn client_rejects_certificate_close_only_in_handshake() {
    for name in [
        "aioquic-client-rejects-certificate.pcap",
        "quinn-client-rejects-certificate.pcap",
    ] {
        let f = one(name);
        assert!(f.server_hello().is_some(), "{name}");
        assert!(
            f.facts.connection_close.is_none(),
            "{name}: nothing readable"
        );
        assert!(f.seen.alerts.is_empty(), "{name}");
        let last = f.seen.protected.last().expect("Handshake packets");
        assert_eq!(
            last.0,
            client(&f),
            "{name}: the client's Handshake packet is last"
        );
        assert!(last.1 < 200, "{name}: close-sized, {} bytes", last.1);
        assert_eq!(
            f.facts.packets[client(&f).index()].one_rtt,
            0,
            "{name}: no 1-RTT from the client"
        );
    }
}

/// Key fact: the server never answers: four client Initials (the ClientHello and its
/// retransmissions), nothing from the server.
#[test]
fn aioquic_silent_server() {
    let f = one("aioquic-silent-server.pcap");
    assert_eq!(f.client_hellos(), 1, "retransmissions are the same message");
    assert_eq!(f.facts.packets[client(&f).index()].initial, 4);
    assert_eq!(f.facts.packets[server(&f).index()].datagrams, 0);
    assert_eq!(f.facts.times.first_datagram[server(&f).index()], None);
}

/// Key fact: IPv6 (::1) and the non-standard port 8443.
#[test]
fn aioquic_ipv6_port_8443() {
    let f = one("aioquic-ipv6-port-8443.pcap");
    assert_established(&f, QuicVersion::V1);
    assert!(f.server.ip.is_ipv6());
    assert_eq!(f.server.port, 8443);
}

/// Key fact: quinn on both sides, QUIC v1 with ALPN h3 and a 20-byte first DCID; quinn greases
/// the fixed bit of its 1-RTT packets (RFC 9287), which still count as 1-RTT.
#[test]
fn quinn_v1_h3() {
    let f = one("quinn-v1-h3.pcap");
    assert_established(&f, QuicVersion::V1);
    assert!(f.facts.packets[server(&f).index()].coalesced >= 1);
    assert!(f.facts.packets.iter().all(|p| p.malformed == 0));
    assert!(f.facts.packets.iter().all(|p| p.one_rtt > 0));
}
