//! Broken captures, each built in a temporary directory from a real one: tlsight must say
//! clearly what is wrong (message or counted anomaly), report everything it could read, and
//! exit with the documented code (0 ok, 1 nothing readable, 3 input damaged).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Exit code when an input could not be read to its end (README, "Exit codes").
const EXIT_INPUT_DAMAGED: i32 = 3;

/// The capture most cases start from: one TLS 1.2 handshake in 19 Ethernet frames.
const BASE: &str = "tls12-ecdhe-rsa.pcap";

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// A classic little-endian pcap, split into its parts so that tests can damage them.
struct Pcap {
    header: [u8; 24],
    /// Per packet: seconds, microseconds, captured length, wire length, captured bytes.
    packets: Vec<(u32, u32, u32, u32, Vec<u8>)>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Pcap {
    fn read(name: &str) -> Pcap {
        let bytes = std::fs::read(capture(name)).expect("read capture");
        assert_eq!(
            le32(&bytes, 0),
            0xa1b2_c3d4,
            "little-endian microsecond pcap"
        );
        let header = bytes[..24].try_into().expect("header");
        let mut packets = Vec::new();
        let mut at = 24;
        while at < bytes.len() {
            let caplen = le32(&bytes, at + 8);
            let start = at + 16;
            let end = start + caplen as usize;
            packets.push((
                le32(&bytes, at),
                le32(&bytes, at + 4),
                caplen,
                le32(&bytes, at + 12),
                bytes[start..end].to_vec(),
            ));
            at = end;
        }
        Pcap { header, packets }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.header.to_vec();
        for (sec, usec, caplen, len, data) in &self.packets {
            for v in [sec, usec, caplen, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(data);
        }
        out
    }

    /// Byte offset of packet `i`'s record header (0-based) in [`Pcap::bytes`].
    fn offset_of(&self, i: usize) -> usize {
        24 + self.packets[..i]
            .iter()
            .map(|p| 16 + p.4.len())
            .sum::<usize>()
    }

    fn set_link_type(&mut self, link: u32) {
        self.header[20..24].copy_from_slice(&link.to_le_bytes());
    }
}

/// What one run of `tlsight analyze` gave.
struct Run {
    code: Option<i32>,
    stderr: String,
    records: Vec<Value>,
    report: Value,
}

impl Run {
    fn input(&self) -> &Value {
        &self.report["summary"]["input"]
    }

    fn decode_errors(&self, kind: &str) -> u64 {
        self.input()["decode_errors"][kind].as_u64().unwrap_or(0)
    }
}

/// Writes `bytes` as `name` in a temporary directory and analyses it.
fn analyze_bytes(name: &str, bytes: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write capture");
    analyze(&path)
}

fn analyze(path: &Path) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let ndjson = dir.path().join("c.ndjson");
    let json = dir.path().join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_tlsight"))
        .arg("analyze")
        .arg(path)
        .arg("--ndjson")
        .arg(&ndjson)
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .output()
        .expect("run tlsight");
    let records = std::fs::read_to_string(&ndjson)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    let report = std::fs::read(&json).ok().map_or(Value::Null, |b| {
        serde_json::from_slice(&b).expect("JSON report")
    });
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        records,
        report,
    }
}

/// The one connection of [`BASE`] was reported, handshake and all.
fn assert_handshake_reported(run: &Run) {
    assert_eq!(run.records.len(), 1, "{}", run.stderr);
    let r = &run.records[0];
    assert_eq!(r["version"], "TLSv1.2");
    assert_eq!(r["client_hello"]["sni"], "server.test");
}

#[test]
fn file_truncated_mid_packet_reports_the_packets_before_the_cut() {
    let pcap = Pcap::read(BASE);
    let mut bytes = pcap.bytes();
    // Into the data of packet 19 (the last ACK): 18 packets are whole.
    bytes.truncate(pcap.offset_of(18) + 16 + 10);
    let run = analyze_bytes("cut.pcap", &bytes);
    assert_eq!(run.code, Some(EXIT_INPUT_DAMAGED), "{}", run.stderr);
    assert!(
        run.stderr.contains("cut.pcap") && run.stderr.contains("packet 19"),
        "{}",
        run.stderr
    );
    assert_eq!(run.report["inputs"][0]["packets"], 18);
    assert!(run.report["inputs"][0]["error"].is_string());
    assert_handshake_reported(&run);
}

#[test]
fn file_truncated_mid_record_header_reports_the_packets_before_the_cut() {
    let pcap = Pcap::read(BASE);
    let mut bytes = pcap.bytes();
    bytes.truncate(pcap.offset_of(18) + 7);
    let run = analyze_bytes("cut.pcap", &bytes);
    assert_eq!(run.code, Some(EXIT_INPUT_DAMAGED), "{}", run.stderr);
    assert!(run.stderr.contains("packet 19"), "{}", run.stderr);
    assert_eq!(run.report["inputs"][0]["packets"], 18);
    assert_handshake_reported(&run);
}

#[test]
fn corrupted_record_header_mid_file_stops_there_and_reports_what_came_before() {
    let mut pcap = Pcap::read(BASE);
    // Packet 12's captured length becomes absurd: the rest of the file cannot be framed.
    pcap.packets[11].2 = 0xffff_ff00;
    let run = analyze_bytes("corrupt.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(EXIT_INPUT_DAMAGED), "{}", run.stderr);
    assert!(
        run.stderr.contains("corrupt.pcap") && run.stderr.contains("packet 12"),
        "{}",
        run.stderr
    );
    assert_eq!(run.report["inputs"][0]["packets"], 11);
    // The handshake up to the server's flight is in the first 11 packets.
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0]["version"], "TLSv1.2");
}

#[test]
fn pcapng_unknown_block_types_are_skipped() {
    let original = std::fs::read(capture("tls12-ecdhe-rsa.pcapng")).expect("read");
    // After the section header and interface description, a block of a type no reader knows
    // (pcapng says: skip it), 12 bytes of body.
    let shb_len = le32(&original, 4) as usize;
    let idb_len = le32(&original, shb_len + 4) as usize;
    let at = shb_len + idb_len;
    let mut block = Vec::new();
    block.extend_from_slice(&0x0000_0badu32.to_le_bytes());
    block.extend_from_slice(&24u32.to_le_bytes());
    block.extend_from_slice(b"unknown blk!");
    block.extend_from_slice(&24u32.to_le_bytes());
    let mut bytes = original[..at].to_vec();
    bytes.extend_from_slice(&block);
    bytes.extend_from_slice(&original[at..]);
    let run = analyze_bytes("unknown-block.pcapng", &bytes);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let clean = analyze(&capture("tls12-ecdhe-rsa.pcapng"));
    // The same records, but for the input file each names.
    let without_input = |records: &[serde_json::Value]| {
        let mut records = records.to_vec();
        for r in &mut records {
            r.as_object_mut().map(|o| o.remove("input"));
        }
        records
    };
    assert_eq!(without_input(&run.records), without_input(&clean.records));
    assert_eq!(run.input(), clean.input());
}

#[test]
fn snaplen_truncated_packets_are_counted_and_the_connection_still_reported() {
    let mut pcap = Pcap::read(BASE);
    let snaplen = 96u32;
    pcap.header[16..20].copy_from_slice(&snaplen.to_le_bytes());
    let mut cut = 0;
    for p in &mut pcap.packets {
        if p.2 > snaplen {
            p.2 = snaplen;
            p.4.truncate(snaplen as usize);
            cut += 1;
        }
    }
    let run = analyze_bytes("snaplen.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.input()["snaplen_truncated"], cut);
    // Each cut frame's IP packet is incomplete: counted, not analysed.
    assert_eq!(run.decode_errors("truncated_ipv4"), cut, "{}", run.input());
    // The connection's handshake and teardown still went through the flow table; its TLS
    // bytes were all cut, so it has no TLS record.
    assert_eq!(run.input()["tcp_connections"], 1);
    assert_eq!(run.input()["tcp_connections_without_tls"], 1);
    assert!(run.records.is_empty());
}

#[test]
fn unsupported_link_type_is_refused_with_a_clear_message() {
    let mut pcap = Pcap::read(BASE);
    pcap.set_link_type(147); // LINKTYPE_USER0
    let run = analyze_bytes("user0.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("user0.pcap") && run.stderr.contains("link type 147"),
        "{}",
        run.stderr
    );
}

#[test]
fn wrong_but_supported_link_type_counts_every_frame_as_undecodable() {
    let mut pcap = Pcap::read(BASE);
    pcap.set_link_type(101); // raw IP, but the frames are Ethernet
    let run = analyze_bytes("raw.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let errors: u64 = run.input()["decode_errors"]
        .as_object()
        .expect("decode_errors")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(errors, 19, "{}", run.input());
    assert!(run.records.is_empty());
}

/// An Ethernet/IPv4/TCP frame from 10.9.9.1:1234 to 10.9.9.2:80 carrying `payload`.
fn tcp_frame(payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 20 + payload_len;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&[10, 9, 9, 1, 10, 9, 9, 2]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[
        0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff,
    ]);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(b'x', payload_len));
    f
}

#[test]
fn zero_length_and_jumbo_frames_are_counted_and_the_rest_reported() {
    let mut pcap = Pcap::read(BASE);
    let (sec, usec) = (pcap.packets[2].0, pcap.packets[2].1);
    let jumbo = tcp_frame(9000 - 54);
    pcap.packets.insert(3, (sec, usec, 0, 0, Vec::new()));
    pcap.packets.insert(
        4,
        (sec, usec, jumbo.len() as u32, jumbo.len() as u32, jumbo),
    );
    let run = analyze_bytes("frames.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.input()["packets"], 21);
    assert_eq!(
        run.decode_errors("truncated_ethernet"),
        1,
        "{}",
        run.input()
    );
    // The jumbo frame is one more TCP connection, without TLS.
    assert_eq!(run.input()["tcp_connections"], 2);
    assert_eq!(run.input()["tcp_connections_without_tls"], 1);
    assert_handshake_reported(&run);
}

#[test]
fn timestamps_going_backwards_are_counted_and_timings_stay_sane() {
    let mut pcap = Pcap::read(BASE);
    // The server's flight (packet 6) is stamped an hour before the ClientHello.
    pcap.packets[5].0 -= 3600;
    let run = analyze_bytes("backwards.pcap", &pcap.bytes());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.input()["timestamps_backwards"], 1, "{}", run.input());
    assert_handshake_reported(&run);
    let timing = &run.records[0]["timing_us"];
    for (name, v) in timing.as_object().expect("timing_us") {
        assert!(v.as_i64().is_none_or(|v| v >= 0), "{name} = {v}");
    }
}
