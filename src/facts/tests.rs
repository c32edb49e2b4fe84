//! Tests of the fact builder: outcomes, causes, timings and certificate findings from made-up
//! transcripts.

use super::*;
use crate::flow::FlowKey;
use crate::flow::Transport;
use crate::tcp::{CloseReason, TcpMeta};
use crate::tls::TimedEvent;
use crate::tls::codes::{AlertDescription, AlertLevel};
use crate::tls::{TlsEvent, Transcript};
use smallvec::smallvec;
use std::net::{IpAddr, Ipv4Addr};

fn key() -> FlowKey {
    let c = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port: 50000,
    };
    let s = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        port: 443,
    };
    FlowKey::from_endpoints(Transport::Tcp, c, s).0
}

fn ts(ms: i64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

fn ev(ms: i64, from: Direction, event: TlsEvent) -> TimedEvent {
    TimedEvent {
        ts: ts(ms),
        from,
        event,
    }
}

const C: Direction = Direction::LoToHi;
const S: Direction = Direction::HiToLo;

fn hello() -> TlsEvent {
    TlsEvent::ClientHello(Box::new(ClientHello {
        legacy_version: 0x0303,
        cipher_suites: smallvec![0xc02f, 0x009c],
        sni: Some("www.example.test".into()),
        ..Default::default()
    }))
}

fn server_hello(version: u16) -> TlsEvent {
    TlsEvent::ServerHello(Box::new(ServerHello {
        legacy_version: 0x0303,
        version,
        cipher: 0xc02f,
        ..Default::default()
    }))
}

fn alert(level: u8, description: u8) -> TlsEvent {
    TlsEvent::Alert(Alert::cleartext(
        AlertLevel(level),
        AlertDescription(description),
    ))
}

fn run(events: Vec<TimedEvent>, tcp: TcpMeta, close: CloseReason) -> ConnectionFacts {
    let transcript = Transcript {
        client: Some(C),
        events,
        ..Default::default()
    };
    build(
        &key(),
        TransportFacts::Tcp(TcpFacts { meta: tcp, close }),
        transcript,
        &FactsConfig::default(),
    )
}

#[test]
fn full_tls12_handshake_is_established_with_timing() {
    let tcp = TcpMeta {
        syn: Some((C, ts(0))),
        syn_ack: Some(ts(1)),
        handshake_ack: Some(ts(2)),
        ..Default::default()
    };
    let f = run(
        vec![
            ev(3, C, hello()),
            ev(5, S, server_hello(0x0303)),
            ev(5, S, TlsEvent::Certificate(vec![])),
            ev(7, C, TlsEvent::ChangeCipherSpec),
            ev(7, C, TlsEvent::EncryptedHandshake),
            ev(9, S, TlsEvent::ChangeCipherSpec),
            ev(9, S, TlsEvent::EncryptedHandshake),
        ],
        tcp,
        CloseReason::Fin,
    );
    assert_eq!(f.outcome, Outcome::Established);
    assert_eq!(f.timing.tcp_handshake_us, Some(2000));
    assert_eq!(f.timing.client_hello_to_server_hello_us, Some(2000));
    assert_eq!(f.timing.client_hello_to_done_us, Some(6000));
    assert_eq!(f.sni(), Some("www.example.test"));
}

#[test]
fn server_handshake_failure_before_server_hello_is_no_shared_cipher() {
    let f = run(
        vec![ev(1, C, hello()), ev(2, S, alert(2, 40))],
        TcpMeta::default(),
        CloseReason::Fin,
    );
    assert_eq!(f.outcome, Outcome::Failed);
    let failure = f.failure.clone().expect("failure");
    assert_eq!(failure.cause, FailureCause::NoSharedCipher);
    assert!(
        failure
            .explanation
            .contains("server sent a fatal handshake_failure"),
        "{}",
        failure.explanation
    );
    assert_eq!(f.alerts[0].from, Side::Server);
    assert_eq!(f.alerts[0].after, Some((Side::Client, "client_hello")));
}

#[test]
fn abbreviated_tls12_handshake_is_resumed() {
    let f = run(
        vec![
            ev(1, C, hello()),
            ev(2, S, server_hello(0x0303)),
            ev(2, S, TlsEvent::ChangeCipherSpec),
            ev(2, S, TlsEvent::EncryptedHandshake),
            ev(3, C, TlsEvent::ChangeCipherSpec),
            ev(3, C, TlsEvent::EncryptedHandshake),
        ],
        TcpMeta::default(),
        CloseReason::Fin,
    );
    assert_eq!(f.outcome, Outcome::Resumed);
    assert_eq!(f.resumption.accepted, Some(Mechanism::SessionId));
}

#[test]
fn unanswered_hello_is_no_response_or_incomplete() {
    let f = run(
        vec![ev(1, C, hello())],
        TcpMeta::default(),
        CloseReason::IdleTimeout,
    );
    assert_eq!(f.outcome, Outcome::NoResponse);
    let f = run(
        vec![ev(1, C, hello())],
        TcpMeta::default(),
        CloseReason::CaptureEnd,
    );
    assert_eq!(f.outcome, Outcome::Incomplete);
}

#[test]
fn server_reset_names_the_last_message() {
    let tcp = TcpMeta {
        rst: Some((S, ts(2))),
        ..Default::default()
    };
    let f = run(vec![ev(1, C, hello())], tcp, CloseReason::Rst);
    let failure = f.failure.clone().expect("failure");
    assert_eq!(failure.cause, FailureCause::ServerReset);
    assert!(
        failure
            .explanation
            .contains("after the client's ClientHello"),
        "{}",
        failure.explanation
    );
}

#[test]
fn tls13_inferred_client_alert_is_certificate_rejection() {
    let f = run(
        vec![
            ev(1, C, hello()),
            ev(2, S, server_hello(0x0304)),
            ev(3, C, TlsEvent::Alert(Alert::INFERRED)),
        ],
        TcpMeta::default(),
        CloseReason::Fin,
    );
    assert_eq!(f.outcome, Outcome::Failed);
    let failure = f.failure.clone().expect("failure");
    assert_eq!(failure.cause, FailureCause::ClientRejectedCertificate);
    assert!(failure.inferred);
}

/// A TLS 1.3 handshake whose server answers the client's Finished with an alert-sized
/// record (inferred alert) at 4 ms.
fn tls13_server_reply_to_finished(tcp: TcpMeta) -> ConnectionFacts {
    run(
        vec![
            ev(1, C, hello()),
            ev(2, S, server_hello(0x0304)),
            ev(2, S, TlsEvent::EncryptedHandshake),
            ev(3, C, TlsEvent::EncryptedHandshake),
            ev(4, S, TlsEvent::Alert(Alert::INFERRED)),
        ],
        tcp,
        CloseReason::Fin,
    )
}

#[test]
fn tls13_inferred_server_alert_after_client_finished_is_client_certificate_rejection() {
    let f = tls13_server_reply_to_finished(TcpMeta::default());
    assert_eq!(f.outcome, Outcome::Failed);
    let failure = f.failure.clone().expect("failure");
    assert_eq!(failure.cause, FailureCause::ServerRejectedClientCertificate);
    assert!(failure.inferred);
    assert!(
        failure.explanation.contains("client's Finished"),
        "{}",
        failure.explanation
    );
}

#[test]
fn tls13_server_record_after_the_client_closed_is_its_close_notify() {
    let mut tcp = TcpMeta::default();
    tcp.fin[C.index()] = Some(ts(3));
    let f = tls13_server_reply_to_finished(tcp);
    assert_eq!(f.outcome, Outcome::Established);
    assert!(f.alerts.is_empty());
}

fn cert(san: &[&str], cn: &str) -> Certificate {
    Certificate {
        san_dns: san.iter().map(|s| s.to_string()).collect(),
        subject_cn: vec![cn.to_string()],
        ..Default::default()
    }
}

#[test]
fn rfc6125_wildcards() {
    let c = cert(&["*.example.com", "example.org"], "ignored.test");
    assert!(name_matches(&c, "www.example.com"));
    assert!(name_matches(&c, "WWW.Example.COM."));
    assert!(!name_matches(&c, "a.b.example.com"));
    assert!(!name_matches(&c, "example.com"));
    assert!(name_matches(&c, "example.org"));
    assert!(
        !name_matches(&c, "ignored.test"),
        "CN is ignored when SANs exist"
    );
    assert!(name_matches(&cert(&[], "cn.test"), "cn.test"));
    assert!(!name_matches(&cert(&["*.com"], ""), "example.com"));
}

/// Issues #20 and #17: connections without TLS are counted per server by how they went, the
/// server being the SYN's destination (else the lower port); three of the kinds are failures
/// before TLS.
#[test]
fn connections_without_tls_are_classified_per_server() {
    let server = key().destination(C);
    let syn = |meta: TcpMeta| TcpMeta {
        syn: Some((C, ts(0))),
        ..meta
    };
    let classify = |meta: TcpMeta| WithoutTls::classify(&key(), &meta);
    let base = TcpMeta::default();
    assert_eq!(classify(syn(base.clone())), (server, WithoutTls::NoAnswer));
    let refused = TcpMeta {
        rst: Some((S, ts(1))),
        ..syn(base.clone())
    };
    assert_eq!(classify(refused), (server, WithoutTls::Refused));
    let client_gave_up = TcpMeta {
        rst: Some((C, ts(3000))),
        ..syn(base.clone())
    };
    assert_eq!(classify(client_gave_up), (server, WithoutTls::NoAnswer));
    let answered = TcpMeta {
        syn_ack: Some(ts(1)),
        fin: [Some(ts(5)), Some(ts(6))],
        ..syn(base.clone())
    };
    assert_eq!(classify(answered), (server, WithoutTls::ClosedBeforeHello));
    let http = TcpMeta {
        payload_bytes: [80, 0],
        ..syn(base.clone())
    };
    assert_eq!(classify(http), (server, WithoutTls::NotTls));
    // No SYN seen: the endpoint with the lower port is taken for the server.
    let stray_reset = TcpMeta {
        rst: Some((C, ts(0))),
        ..base
    };
    assert_eq!(classify(stray_reset), (server, WithoutTls::NoSyn));
    let failures: Vec<&str> = WithoutTls::ALL
        .iter()
        .filter(|k| k.is_failure())
        .map(|k| k.name())
        .collect();
    assert_eq!(
        failures,
        ["tcp_no_answer", "tcp_refused", "closed_before_hello"]
    );
}

/// Issue #20: a PSK the ServerHello accepts is a resumption whatever the TLS 1.3 version code:
/// Google's 0x7e01 experiment (in the layout BoringSSL wrote for it: legacy version 0x0303, the
/// client's session id echoed, supported_versions naming the experiment, key_share still under
/// the draft's number 40), and a code no table names yet (0x0305).
#[test]
fn tls13_experiment_psk_is_a_resumption() {
    for version in [0x7e01u16, 0x0305] {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x42; 32]);
        body.push(32);
        body.extend_from_slice(&[0x07; 32]);
        body.extend_from_slice(&[0x13, 0x01, 0x00]);
        let extensions = [
            &[0x00, 0x29, 0x00, 0x02, 0x00, 0x00][..],
            &[0x00, 0x28, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x02, 0xaa, 0xbb],
            &[0x00, 0x2b, 0x00, 0x02],
            &version.to_be_bytes(),
        ]
        .concat();
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let sh = crate::tls::handshake::hello::parse_server_hello(&body, 2).expect("ServerHello");
        let ch = ClientHello {
            legacy_version: 0x0303,
            supported_versions: smallvec![version, 0x0303],
            session_id_len: 32,
            psk_identities: Some(1),
            cipher_suites: smallvec![0x1301],
            ..Default::default()
        };
        let f = run(
            vec![
                ev(1, C, TlsEvent::ClientHello(Box::new(ch))),
                ev(2, S, TlsEvent::ServerHello(Box::new(sh))),
                ev(2, S, TlsEvent::EncryptedHandshake),
                ev(3, C, TlsEvent::EncryptedHandshake),
            ],
            TcpMeta::default(),
            CloseReason::Fin,
        );
        assert_eq!(f.version(), Some(version));
        assert_eq!(
            f.resumption.accepted,
            Some(Mechanism::Psk),
            "{version:#06x}"
        );
        assert_eq!(f.outcome, Outcome::Resumed, "{version:#06x}");
        // The random legacy session id is no resumption offer from a client naming a version
        // known to be TLS 1.3; with a code no table names, it cannot be told from one.
        if version == 0x7e01 {
            assert_eq!(f.resumption.offered, [Mechanism::Psk]);
        } else {
            assert!(f.resumption.offered.contains(&Mechanism::Psk));
        }
    }
}
