//! The DTLS driver on real captures, standalone (until the pipeline drives it): the UDP
//! payloads of each capture (read with the project's capture and decode stages) go through
//! [`DtlsConnection`] per flow, the hellos it passes on are parsed with the crate's hello
//! parsers, and the result is compared with the facts tshark reports
//! (`captures/real/udp/expected/*.json`). Every DTLS connection must be found, none invented
//! (the QUIC captures there have none), and every fact equal. Then the key fact of each
//! scenario capture recorded from real stacks (`captures/dtls/`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tlsight::capture::{CaptureError, OfflineFile, PacketSource};
use tlsight::decode::{Decoded, Decoder};
use tlsight::dtls::demux;
use tlsight::dtls::facts::CookieRequest;
use tlsight::dtls::hello_verify::parse_hello_verify_request;
use tlsight::dtls::{DatagramVerdict, DtlsConnection, DtlsFacts};
use tlsight::flow::{Direction, FlowKey, Timestamp, Transport};
use tlsight::tls::handshake::EventLog;
use tlsight::tls::handshake::hello::{HelloFormat, parse_client_hello_as, parse_server_hello};
use tlsight::tls::handshake::sink::Event;
use tlsight::tls::{Alert, ClientHello, ServerHello};

/// One UDP datagram of a capture.
struct Datagram {
    key: FlowKey,
    dir: Direction,
    ts: Timestamp,
    payload: Vec<u8>,
}

/// The UDP datagrams of a capture, in capture order, read with the project's capture and
/// decode stages.
fn udp_datagrams(path: &Path) -> Vec<Datagram> {
    try_udp_datagrams(path).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`udp_datagrams`], or why the file could not be opened.
fn try_udp_datagrams(path: &Path) -> Result<Vec<Datagram>, CaptureError> {
    let mut file = OfflineFile::open(path)?;
    let link = file.link_type();
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    while let Some(frame) = file.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        let ts = frame.ts;
        let Ok(Decoded::Udp(udp)) = decoder.decode(link, frame.data, ts) else {
            continue;
        };
        let (key, dir) = FlowKey::from_endpoints(Transport::Udp, udp.src, udp.dst);
        out.push(Datagram {
            key,
            dir,
            ts,
            payload: udp.payload.to_vec(),
        });
    }
    Ok(out)
}

/// One DTLS connection as the driver left it.
struct Connection {
    key: FlowKey,
    client: Direction,
    facts: DtlsFacts,
    log: EventLog,
    /// Its first DTLS datagram passed the content detection.
    found_by_content: bool,
}

/// A flow being followed.
struct Flow {
    conn: DtlsConnection,
    log: EventLog,
    first_dtls: Option<bool>,
}

impl Flow {
    fn new() -> Self {
        Flow {
            conn: DtlsConnection::default(),
            log: EventLog::default(),
            first_dtls: None,
        }
    }

    fn close(self, key: FlowKey, out: &mut Vec<Connection>) {
        let Flow {
            conn,
            mut log,
            first_dtls,
        } = self;
        let client = conn.client();
        let facts = conn.finish(&mut log);
        if let Some(client) = client {
            out.push(Connection {
                key,
                client,
                facts,
                log,
                found_by_content: first_dtls == Some(true),
            });
        }
    }
}

/// Every DTLS connection (a flow, or part of one, where a ClientHello was seen) of a capture.
fn dtls_connections(path: &Path) -> Vec<Connection> {
    connections_of(udp_datagrams(path))
}

/// The DTLS connections among `datagrams`.
fn connections_of(datagrams: Vec<Datagram>) -> Vec<Connection> {
    let mut flows: BTreeMap<FlowKey, Flow> = BTreeMap::new();
    let mut done = Vec::new();
    for d in datagrams {
        let flow = flows.entry(d.key).or_insert_with(Flow::new);
        if flow.first_dtls.is_none() && demux::classify(&d.payload) == demux::DatagramKind::Dtls {
            flow.first_dtls = Some(demux::starts_handshake(&d.payload));
        }
        if flow
            .conn
            .on_datagram(d.dir, &d.payload, d.ts, &mut flow.log)
            == DatagramVerdict::NewConnection
        {
            let old = std::mem::replace(flow, Flow::new());
            old.close(d.key, &mut done);
            flow.first_dtls = Some(demux::starts_handshake(&d.payload));
            flow.conn
                .on_datagram(d.dir, &d.payload, d.ts, &mut flow.log);
        }
    }
    for (key, flow) in flows {
        flow.close(key, &mut done);
    }
    done
}

/// What the driver passed on, read with the crate's hello parsers.
struct Seen {
    client_hellos: Vec<ClientHello>,
    hello_retry: Option<ServerHello>,
    server_hello: Option<ServerHello>,
    hello_verify_version: Option<u16>,
    /// (from client, encrypted, level, description)
    alerts: Vec<(bool, bool, Option<u8>, Option<u8>)>,
    message_types: BTreeSet<u8>,
}

fn seen(conn: &Connection) -> Seen {
    let mut s = Seen {
        client_hellos: Vec::new(),
        hello_retry: None,
        server_hello: None,
        hello_verify_version: None,
        alerts: Vec::new(),
        message_types: BTreeSet::new(),
    };
    for (dir, msg_type, body, _) in conn.log.messages() {
        s.message_types.insert(msg_type);
        match (msg_type, dir == conn.client) {
            (1, true) => s
                .client_hellos
                .push(parse_client_hello_as(body, HelloFormat::Dtls).expect("ClientHello parses")),
            (2, false) => {
                let sh = parse_server_hello(body, 2).expect("ServerHello parses");
                if sh.hrr {
                    s.hello_retry.get_or_insert(sh);
                } else {
                    s.server_hello.get_or_insert(sh);
                }
            }
            (3, false) => {
                s.hello_verify_version = parse_hello_verify_request(body).map(|h| h.version)
            }
            _ => {}
        }
    }
    for e in &conn.log.events {
        if let Event::Alert { dir, alert, .. } = e {
            s.alerts.push((
                *dir == conn.client,
                alert.encrypted,
                alert.level.map(|l| l.0),
                alert.description.map(|d| d.0),
            ));
        }
    }
    s
}

/// Counts compared facts and lists the differences.
#[derive(Default)]
struct Tally {
    facts: usize,
    equal: usize,
    differences: Vec<String>,
}

impl Tally {
    fn check<T: PartialEq + Debug>(&mut self, what: &str, ours: T, theirs: T) {
        self.facts += 1;
        if ours == theirs {
            self.equal += 1;
        } else {
            self.differences
                .push(format!("{what}: ours {ours:?}, tshark {theirs:?}"));
        }
    }
}

fn hex(v: &Value) -> u16 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("hex string expected: {v}"));
    u16::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex code")
}

fn hex_list(v: &Value) -> Vec<u16> {
    v.as_array()
        .map_or(Vec::new(), |a| a.iter().map(hex).collect())
}

fn int_list(v: &Value) -> Vec<u16> {
    v.as_array().map_or(Vec::new(), |a| {
        a.iter()
            .map(|x| x.as_u64().expect("integer") as u16)
            .collect()
    })
}

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real/udp")
}

/// Compares one connection with tshark's facts.
fn compare(name: &str, conn: &Connection, want: &Value, t: &mut Tally) {
    let at = |what: &str| format!("{name} {what}");
    let client = conn.key.source(conn.client);
    let server = conn.key.destination(conn.client);
    let tuple = &want["five_tuple"];
    t.check(
        &at("client ip"),
        client.ip.to_string(),
        tuple["client_ip"].as_str().unwrap().to_string(),
    );
    t.check(
        &at("client port"),
        u64::from(client.port),
        tuple["client_port"].as_u64().unwrap(),
    );
    t.check(
        &at("server ip"),
        server.ip.to_string(),
        tuple["server_ip"].as_str().unwrap().to_string(),
    );
    t.check(
        &at("server port"),
        u64::from(server.port),
        tuple["server_port"].as_u64().unwrap(),
    );
    t.check(&at("found by content"), conn.found_by_content, true);

    let s = seen(conn);
    let Some(ch) = s.client_hellos.first() else {
        t.check(&at("client_hello"), false, true);
        return;
    };
    let w = &want["client_hello"];
    t.check(
        &at("ch legacy_version"),
        ch.legacy_version,
        hex(&w["legacy_version"]),
    );
    t.check(
        &at("ch supported_versions"),
        ch.supported_versions.to_vec(),
        hex_list(&w["supported_versions"]),
    );
    t.check(
        &at("ch cipher_suites"),
        ch.cipher_suites.to_vec(),
        hex_list(&w["cipher_suites"]),
    );
    t.check(
        &at("ch extensions"),
        ch.extensions.to_vec(),
        int_list(&w["extensions"]),
    );
    t.check(
        &at("ch sni"),
        ch.sni.clone(),
        w["sni"].as_str().map(String::from),
    );
    let alpn: Vec<String> = w["alpn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    t.check(&at("ch alpn"), ch.alpn.clone(), alpn);
    t.check(
        &at("ch session_id_length"),
        u64::from(ch.session_id_len),
        w["session_id_length"].as_u64().unwrap(),
    );
    t.check(
        &at("ch cookie_length"),
        ch.cookie_len.map(u64::from),
        w["cookie_length"].as_u64(),
    );
    t.check(
        &at("ch supported_groups"),
        ch.groups.to_vec(),
        hex_list(&w["supported_groups"]),
    );
    t.check(
        &at("ch signature_algorithms"),
        ch.sig_algs.to_vec(),
        hex_list(&w["signature_algorithms"]),
    );

    // tshark dissects every ClientHello, retransmissions included.
    let resent_hellos = conn
        .facts
        .retransmissions
        .listed
        .iter()
        .filter(|r| r.from == conn.client && r.message_seq.is_some_and(|seq| seq <= 1))
        .count();
    t.check(
        &at("client_hello_count"),
        (s.client_hellos.len() + resent_hellos) as u64,
        want["client_hello_count"].as_u64().unwrap(),
    );
    if let Some(later) = want.get("later_client_hellos").and_then(Value::as_array) {
        for (i, w) in later.iter().enumerate() {
            let Some(ours) = s.client_hellos.get(i + 1) else {
                t.check(&at("later client hello"), false, true);
                continue;
            };
            if let Some(n) = w.get("cookie_length") {
                t.check(
                    &at("later ch cookie_length"),
                    ours.cookie_len.map(u64::from),
                    n.as_u64(),
                );
            }
            if let Some(exts) = w.get("extensions") {
                t.check(
                    &at("later ch extensions"),
                    ours.extensions.to_vec(),
                    int_list(exts),
                );
            }
        }
    }

    for (key, ours) in [
        ("server_hello", &s.server_hello),
        ("hello_retry_request", &s.hello_retry),
    ] {
        let w = &want[key];
        t.check(&at(&format!("{key} present")), ours.is_some(), !w.is_null());
        if let (Some(sh), false) = (ours, w.is_null()) {
            t.check(
                &at(&format!("{key} legacy_version")),
                sh.legacy_version,
                hex(&w["legacy_version"]),
            );
            t.check(
                &at(&format!("{key} negotiated_version")),
                sh.version,
                hex(&w["negotiated_version"]),
            );
            t.check(&at(&format!("{key} cipher")), sh.cipher, hex(&w["cipher"]));
            t.check(
                &at(&format!("{key} extensions")),
                sh.extensions.to_vec(),
                int_list(&w["extensions"]),
            );
        }
    }
    let hvr = &want["hello_verify_request"];
    t.check(
        &at("hello_verify_request"),
        s.hello_verify_version,
        (!hvr.is_null()).then(|| hex(&hvr["version"])),
    );
    if let Some(round) = &conn.facts.cookie_exchange {
        t.check(
            &at("cookie round completed"),
            round.second_client_hello.is_some(),
            true,
        );
    }

    let alerts: Vec<_> = want["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let encrypted = a.get("encrypted").and_then(Value::as_bool).unwrap_or(false);
            let num = |k: &str| a.get(k).and_then(Value::as_u64).map(|n| n as u8);
            (
                a["from"] == "client",
                encrypted,
                num("level"),
                num("description"),
            )
        })
        .collect();
    t.check(&at("alerts"), s.alerts.clone(), alerts);
    let dtls = &want["dtls"];
    let versions: BTreeSet<u16> = hex_list(&dtls["record_versions_seen"])
        .into_iter()
        .collect();
    t.check(
        &at("record versions"),
        conn.facts
            .record_versions
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
        versions,
    );
    let types: BTreeSet<u8> = int_list(&dtls["handshake_types_seen"])
        .into_iter()
        .map(|x| x as u8)
        .collect();
    t.check(&at("handshake types"), s.message_types.clone(), types);
    t.check(
        &at("anomalies"),
        conn.log.anomalies().collect::<Vec<_>>(),
        Vec::new(),
    );
}

/// Conformance over the copied real captures: every connection found, every fact equal.
#[test]
fn dtls_facts_agree_with_tshark_on_real_captures() {
    let mut t = Tally::default();
    let mut expected_conns = 0;
    let mut found_conns = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(real_dir())
        .expect("captures/real/udp")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "captures/real/udp");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let json = real_dir().join(format!("expected/{name}.json"));
        let want: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let wanted: Vec<&Value> = want["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["transport"] == "dtls")
            .collect();
        let conns = match try_udp_datagrams(&path) {
            Ok(datagrams) => connections_of(datagrams),
            // The decoder's link types (PPP is not one) are the decode stage's business; a
            // capture without DTLS says nothing about the driver.
            Err(e) if wanted.is_empty() => {
                println!("skipped (no DTLS in it): {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        expected_conns += wanted.len();
        t.check(&format!("{name} connections"), conns.len(), wanted.len());
        for w in wanted {
            let port = w["five_tuple"]["client_port"].as_u64().unwrap();
            let Some(conn) = conns
                .iter()
                .find(|c| u64::from(c.key.source(c.client).port) == port)
            else {
                continue;
            };
            found_conns += 1;
            compare(&name, conn, w, &mut t);
        }
    }
    println!(
        "DTLS conformance: {found_conns}/{expected_conns} connections found, {}/{} facts equal",
        t.equal, t.facts
    );
    assert_eq!(found_conns, expected_conns, "connections missed");
    assert!(
        t.differences.is_empty(),
        "differences:\n{}",
        t.differences.join("\n")
    );
}

/// The WebRTC capture: STUN before and around the DTLS handshake on one 5-tuple is counted, and
/// the DTLS client is the ClientHello's sender, not the first STUN sender.
#[test]
fn webrtc_flow_counts_stun_and_follows_dtls() {
    let conns = dtls_connections(&real_dir().join("zeek__webrtc-stun.pcap"));
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    let d = &c.facts.datagrams;
    assert!(d.stun > 0 && d.dtls > 0, "{d:?}");
    println!("webrtc-stun datagrams: {d:?}");
}

/// The cookie rounds of the real captures and their cost.
#[test]
fn cookie_rounds_of_real_captures() {
    for (file, request) in [
        ("zeek__dtls1_0.pcap", "HelloVerifyRequest"),
        ("zeek__dtls1_2.pcap", "HelloVerifyRequest"),
        (
            "zeek__dtls13-wolfssl.pcap",
            "HelloRetryRequest { cookie: true }",
        ),
    ] {
        let conns = dtls_connections(&real_dir().join(file));
        let round = conns[0].facts.cookie_exchange.expect("a cookie round");
        assert_eq!(format!("{:?}", round.request), request, "{file}");
        let cost = round.cost_us().expect("completed");
        assert!(cost > 0, "{file}: {cost}");
        println!("{file}: {request}, cost {cost} µs");
    }
}

/// Scenario captures recorded from real stacks by `captures/dtls/record.sh`.
fn scenario(name: &str) -> Vec<Connection> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("captures/dtls/{name}.pcap"));
    dtls_connections(&path)
}

/// Messages `(from client, type)` the driver passed on.
fn flow_of(conn: &Connection) -> Vec<(bool, u8)> {
    conn.log
        .messages()
        .map(|(dir, t, _, _)| (dir == conn.client, t))
        .collect()
}

/// Whether both sides sent their encrypted Finished (the handshake completed).
fn both_finished(conn: &Connection) -> bool {
    let mut sides = [false; 2];
    for e in &conn.log.events {
        if let Event::Protected { dir, .. } = e {
            sides[usize::from(*dir == conn.client)] = true;
        }
    }
    sides == [true, true]
}

/// Cleartext alerts `(from client, level, description)`.
fn cleartext_alerts(conn: &Connection) -> Vec<(bool, u8, u8)> {
    conn.log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Alert { dir, alert, .. } if !alert.encrypted => Some((
                *dir == conn.client,
                alert.level.map_or(0, |l| l.0),
                alert.description.map_or(0, |d| d.0),
            )),
            _ => None,
        })
        .collect()
}

/// The one connection of a scenario, checked for what every scenario shares.
fn single(name: &str) -> Connection {
    let mut conns = scenario(name);
    assert_eq!(conns.len(), 1, "{name}: connections");
    let conn = conns.remove(0);
    assert_eq!(conn.log.anomalies().count(), 0, "{name}: anomalies");
    assert!(conn.found_by_content, "{name}: found by content");
    conn
}

const HANDSHAKE_12: [(bool, u8); 5] = [
    (false, 2),
    (false, 11),
    (false, 12),
    (false, 14),
    (true, 16),
];

/// Full DTLS 1.2 handshakes between OpenSSL and GnuTLS, both ways: the cookie round (or none),
/// the whole flight, both Finished, the negotiated version.
#[test]
fn scenario_full_handshakes() {
    for (name, version, cookie) in [
        ("openssl-dtls12", 0xfefd, true),
        ("openssl-dtls12-ipv6", 0xfefd, true),
        ("openssl-dtls10", 0xfeff, true),
        ("gnutls-dtls12", 0xfefd, true),
        ("gnutls-dtls12-no-cookie", 0xfefd, false),
        ("gnutls-dtls10", 0xfeff, true),
        ("gnutls-client-openssl-server-dtls12", 0xfefd, true),
        ("openssl-client-gnutls-server-dtls12", 0xfefd, true),
    ] {
        let conn = single(name);
        assert_eq!(conn.facts.version, Some(version), "{name}");
        assert!(both_finished(&conn), "{name}: handshake completed");
        let messages = flow_of(&conn);
        for m in HANDSHAKE_12 {
            assert!(
                messages.contains(&m),
                "{name}: {m:?} missing from {messages:?}"
            );
        }
        match conn.facts.cookie_exchange {
            Some(round) => {
                assert!(cookie, "{name}: unexpected cookie round");
                assert!(
                    round.cost_us().is_some_and(|us| us > 0),
                    "{name}: {round:?}"
                );
                assert_eq!(messages[..3], [(true, 1), (false, 3), (true, 1)], "{name}");
            }
            None => assert!(!cookie, "{name}: cookie round missing"),
        }
    }
    let v6 = single("openssl-dtls12-ipv6");
    assert!(v6.key.lo.ip.is_ipv6());
}

/// Mutual authentication: the server asks, the client sends its certificate and proves it.
#[test]
fn scenario_mutual_authentication() {
    let conn = single("openssl-dtls12-mutual-auth");
    let messages = flow_of(&conn);
    for m in [(false, 13), (true, 11), (true, 15)] {
        assert!(messages.contains(&m), "{m:?} missing from {messages:?}");
    }
    assert!(both_finished(&conn));
}

/// Failures: the server finds no shared cipher, the client rejects the server's certificate
/// (both alerts in the clear, before any ChangeCipherSpec).
#[test]
fn scenario_failures_with_cleartext_alerts() {
    let conn = single("openssl-dtls12-no-shared-cipher");
    assert_eq!(
        cleartext_alerts(&conn),
        [(false, 2, 40)],
        "handshake_failure from the server"
    );
    assert!(
        !flow_of(&conn).iter().any(|&(c, t)| !c && t == 2),
        "no ServerHello"
    );
    let conn = single("openssl-dtls12-unknown-ca");
    assert_eq!(
        cleartext_alerts(&conn),
        [(true, 2, 48)],
        "unknown_ca from the client"
    );
    assert!(!both_finished(&conn));
}

/// Version mismatch: a DTLS 1.0 client, a DTLS 1.2-only server, which answers the cookie round
/// and then refuses with protocol_version in the clear.
#[test]
fn scenario_version_mismatch() {
    let conn = single("openssl-dtls12-version-mismatch");
    assert_eq!(
        cleartext_alerts(&conn),
        [(false, 2, 70)],
        "protocol_version from the server"
    );
    assert_eq!(flow_of(&conn), [(true, 1), (false, 3), (true, 1)]);
    assert_eq!(conn.facts.version, None, "no ServerHello");
}

/// The server's HelloVerifyRequests never reach the client (dropped after the capture point):
/// the client resends its first ClientHello on its doubling timer, the server answers each
/// copy, the cookie exchange never completes.
#[test]
fn scenario_cookie_exchange_never_completes() {
    let conn = single("openssl-dtls12-cookie-unanswered");
    assert_eq!(flow_of(&conn), [(true, 1), (false, 3)]);
    let round = conn.facts.cookie_exchange.expect("a cookie request");
    assert_eq!(round.request, CookieRequest::HelloVerifyRequest);
    assert_eq!(round.second_client_hello, None, "never answered");
    let r = &conn.facts.retransmissions;
    let client = conn.client.index();
    assert_eq!(r.flights[client], 3, "{r:?}");
    assert_eq!(r.flights[1 - client], 3, "each copy answered: {r:?}");
}

/// The server's flight never reaches the client (every server datagram after the
/// HelloVerifyRequest dropped after the capture point): both ends resend their flights on
/// their timers, the handshake never completes, and each message comes out once.
#[test]
fn scenario_retransmission_storm() {
    let conn = single("openssl-dtls12-retransmission-storm");
    let round = conn.facts.cookie_exchange.expect("a cookie round");
    assert!(round.second_client_hello.is_some(), "{round:?}");
    assert_eq!(
        flow_of(&conn),
        [
            (true, 1),
            (false, 3),
            (true, 1),
            (false, 2),
            (false, 11),
            (false, 12),
            (false, 14)
        ]
    );
    assert!(!both_finished(&conn));
    let r = &conn.facts.retransmissions;
    assert!(r.flights.iter().all(|&n| n >= 3), "{r:?}");
}

/// A server that never answers: the client's ClientHello goes out again on its doubling timer.
#[test]
fn scenario_silent_server() {
    let conn = single("openssl-dtls12-silent-server");
    assert_eq!(flow_of(&conn), [(true, 1)]);
    let r = &conn.facts.retransmissions;
    let client = conn.client.index();
    assert!(r.flights[client] >= 2, "{r:?}");
    assert_eq!(r.flights[1 - client], 0);
    // OpenSSL's timer: 1 s, then doubled.
    let after: Vec<i64> = r.listed.iter().filter_map(|f| f.after_us).collect();
    assert!(after[0] >= 900_000 && after[0] < 1_500_000, "{after:?}");
    assert!(after[1] >= 2_700_000 && after[1] < 3_500_000, "{after:?}");
}

/// A server flight lost once (dropped after the capture point): both ends resend, the
/// handshake still completes, and the messages come out once.
#[test]
fn scenario_lost_flight_is_retransmitted() {
    let conn = single("openssl-dtls12-lost-flight");
    assert!(both_finished(&conn));
    let r = &conn.facts.retransmissions;
    assert!(r.flights[1 - conn.client.index()] >= 1, "{r:?}");
    let server_hellos = flow_of(&conn).iter().filter(|m| **m == (false, 2)).count();
    assert_eq!(
        server_hellos, 1,
        "a resent ServerHello is not a new message"
    );
    let resent = r
        .listed
        .iter()
        .find(|f| f.from != conn.client)
        .expect("server flight");
    let after = resent.after_us.expect("timed");
    assert!((900_000..2_000_000).contains(&after), "{resent:?}");
}

/// Resumption: the second connection (another client port) is abbreviated: no Certificate.
#[test]
fn scenario_resumption() {
    let conns = scenario("openssl-dtls12-resumption");
    assert_eq!(conns.len(), 2);
    assert!(conns.iter().all(both_finished));
    let certs = |c: &Connection| flow_of(c).iter().filter(|m| **m == (false, 11)).count();
    let mut counts: Vec<usize> = conns.iter().map(certs).collect();
    counts.sort_unstable();
    assert_eq!(counts, [0, 1], "one full handshake, one abbreviated");
}

/// WebRTC-shaped: STUN binding requests and responses on the same 5-tuple before (and during)
/// the DTLS handshake; the DTLS is followed and the STUN counted.
#[test]
fn scenario_webrtc_stun_then_dtls() {
    let conn = single("webrtc-stun-dtls12");
    assert!(both_finished(&conn));
    let d = &conn.facts.datagrams;
    assert!(d.stun >= 6, "{d:?}");
    assert!(d.dtls > 0 && d.unknown == 0, "{d:?}");
}

/// The handshake messages of a real capture, re-cut: every flight's messages cut into
/// fragments at random offsets, some fragments repeated, shuffled within the flight and packed
/// several records to a datagram. The driver must give back the original messages, in order,
/// each once (the oracle is the capture's own messages).
mod recut {
    use super::*;
    use proptest::prelude::*;

    /// (sender, type, body) of the cleartext handshake messages of zeek__dtls1_2.pcap.
    fn original() -> Vec<(Direction, u8, Vec<u8>)> {
        let conns = dtls_connections(&real_dir().join("zeek__dtls1_2.pcap"));
        conns[0]
            .log
            .messages()
            .map(|(d, t, b, _)| (d, t, b.to_vec()))
            .collect()
    }

    /// A classic DTLS 1.2 record holding one fragment.
    fn fragment_record(
        seq: u64,
        msg_type: u8,
        message_seq: u16,
        body: &[u8],
        from: usize,
        to: usize,
    ) -> Vec<u8> {
        let len = (to - from) as u32;
        let mut frag = vec![msg_type];
        frag.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        frag.extend_from_slice(&message_seq.to_be_bytes());
        frag.extend_from_slice(&(from as u32).to_be_bytes()[1..]);
        frag.extend_from_slice(&len.to_be_bytes()[1..]);
        frag.extend_from_slice(&body[from..to]);
        let mut r = vec![22, 0xfe, 0xfd, 0, 0];
        r.extend_from_slice(&seq.to_be_bytes()[2..]);
        r.extend_from_slice(&(frag.len() as u16).to_be_bytes());
        r.extend_from_slice(&frag);
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn recut_reordered_duplicated_flights_give_the_same_messages(seed in any::<u64>()) {
            let msgs = original();
            let mut rng = seed | 1;
            let mut next = move |n: usize| {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                (rng % n.max(1) as u64) as usize
            };
            let mut conn = DtlsConnection::default();
            let mut log = EventLog::default();
            let mut message_seq = [0u16; 2];
            let mut record_seq = [0u64; 2];
            let mut i = 0;
            let mut ts = 0i64;
            while i < msgs.len() {
                // One flight: the messages until the other side speaks.
                let dir = msgs[i].0;
                let mut frags = Vec::new();
                while i < msgs.len() && msgs[i].0 == dir {
                    let (_, t, body) = &msgs[i];
                    let seq = message_seq[dir.index()];
                    message_seq[dir.index()] += 1;
                    let mut cuts: Vec<usize> = (0..next(4)).map(|_| next(body.len() + 1)).collect();
                    cuts.extend([0, body.len()]);
                    cuts.sort_unstable();
                    cuts.dedup();
                    if body.is_empty() {
                        frags.push((*t, seq, body.clone(), 0, 0));
                    }
                    for w in cuts.windows(2) {
                        frags.push((*t, seq, body.clone(), w[0], w[1]));
                    }
                    i += 1;
                }
                for _ in 0..next(3) {
                    let dup = frags[next(frags.len())].clone();
                    frags.push(dup);
                }
                for k in (1..frags.len()).rev() {
                    frags.swap(k, next(k + 1));
                }
                let mut rest = &frags[..];
                while !rest.is_empty() {
                    let take = (1 + next(3)).min(rest.len());
                    let mut datagram = Vec::new();
                    for (t, seq, body, from, to) in &rest[..take] {
                        let rs = record_seq[dir.index()];
                        record_seq[dir.index()] += 1;
                        datagram.extend(fragment_record(rs, *t, *seq, body, *from, *to));
                    }
                    rest = &rest[take..];
                    ts += 1_000;
                    prop_assert_eq!(conn.on_datagram(dir, &datagram, Timestamp(ts), &mut log), DatagramVerdict::Taken);
                }
            }
            conn.finish(&mut log);
            let got: Vec<_> = log.messages().map(|(d, t, b, _)| (d, t, b.to_vec())).collect();
            prop_assert_eq!(got, msgs);
            prop_assert_eq!(log.anomalies().count(), 0);
            let gaps = log.events.iter().filter(|e| matches!(e, Event::Gap { .. })).count();
            prop_assert_eq!(gaps, 0);
        }
    }
}

/// DTLS 1.3 from wolfSSL (the only stack here that speaks it): a HelloRetryRequest with a
/// cookie, a second ClientHello in two fragments, then unified-header records in both
/// directions; epoch-2 records are handshake-era, later ones application data.
#[test]
fn scenario_dtls13_wolfssl() {
    let conn = single("wolfssl-dtls13");
    assert_eq!(conn.facts.version, Some(0xfefc));
    assert_eq!(
        flow_of(&conn),
        [(true, 1), (false, 2), (true, 1), (false, 2)]
    );
    let round = conn.facts.cookie_exchange.expect("HelloRetryRequest");
    assert_eq!(
        round.request,
        CookieRequest::HelloRetryRequest { cookie: true }
    );
    assert!(round.second_client_hello.is_some());
    assert!(both_finished(&conn), "epoch-2 records from both sides");
    let app_data = conn
        .log
        .events
        .iter()
        .filter(|e| matches!(e, Event::ApplicationData { .. }))
        .count();
    assert!(app_data >= 2, "{app_data}");
}

/// DTLS 1.3, the client rejects the server's certificate: its only protected record is an
/// alert-sized epoch-2 record (2 alert bytes, the inner type, a 16-byte tag), passed on as an
/// inferred alert (as TLS 1.3's over TCP), not as its Finished.
#[test]
fn scenario_dtls13_client_rejects_certificate() {
    let conn = single("wolfssl-dtls13-unknown-ca");
    let from_client: Vec<&Event> = conn
        .log
        .events
        .iter()
        .filter(|e| match e {
            Event::Protected { dir, .. }
            | Event::ApplicationData { dir, .. }
            | Event::Alert { dir, .. } => *dir == conn.client,
            _ => false,
        })
        .collect();
    assert_eq!(from_client.len(), 1, "{from_client:?}");
    assert!(
        matches!(from_client[0], Event::Alert { alert, .. } if *alert == Alert::INFERRED),
        "{from_client:?}"
    );
}
