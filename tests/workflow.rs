//! The workflow around the analysis, as users of tcpdump, tshark and Zeek expect it: several
//! inputs merged by time, compressed inputs, pipes that stream, Ctrl-C, offline BPF filters,
//! scoping, Community IDs, and the help (issue 17).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tlsight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsight"))
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    tlsight().args(args).output().expect("run tlsight")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The records of an NDJSON text.
fn records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// `path` as a `&str` for an argument list.
fn arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The frames of a classic pcap file, without its 24-byte header.
fn frames_of(pcap: &[u8]) -> &[u8] {
    &pcap[24..]
}

#[test]
fn inputs_in_any_order_give_the_same_answer() {
    let (a, b) = (
        capture("tls12-ecdhe-rsa.pcap"),
        capture("tls13-ipv6-loopback.pcap"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let outputs = |first: &Path, second: &Path, tag: &str| {
        let (nd, js) = (
            dir.path().join(format!("{tag}.ndjson")),
            dir.path().join(format!("{tag}.json")),
        );
        let out = run(&[
            "analyze",
            arg(first),
            arg(second),
            "-q",
            "--ndjson",
            arg(&nd),
            "--json",
            arg(&js),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        (
            std::fs::read(nd).expect("ndjson"),
            std::fs::read(js).expect("json"),
        )
    };
    let right = outputs(&a, &b, "right");
    let reversed = outputs(&b, &a, "reversed");
    assert_eq!(right, reversed, "the same bytes whatever the order");
    let recs = records(&String::from_utf8_lossy(&right.0));
    assert_eq!(recs.len(), 2);
    // Each record names the file its connection started in.
    assert_eq!(recs[0]["input"], arg(&a));
    assert_eq!(recs[1]["input"], arg(&b));
    for r in &recs {
        let id = r["connection_id"].as_str().expect("an id");
        assert!(id.starts_with('C') && id.len() == 17, "{id}");
        assert!(r["community_id"].as_str().expect("an id").starts_with("1:"));
    }
}

#[test]
fn quic_and_dtls_records_name_their_input_too() {
    let inputs = [
        capture("tls12-ecdhe-rsa.pcap"),
        capture("quic/aioquic-alpn-mismatch.pcap"),
        capture("dtls/gnutls-dtls10.pcap"),
    ];
    let mut args = vec!["analyze", "-q", "--ndjson", "-"];
    args.extend(inputs.iter().map(|p| arg(p)));
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&stdout(&out));
    for (transport, input) in [
        ("tcp", &inputs[0]),
        ("quic", &inputs[1]),
        ("dtls", &inputs[2]),
    ] {
        let of_transport: Vec<_> = recs
            .iter()
            .filter(|r| r["transport"] == transport)
            .collect();
        assert!(!of_transport.is_empty(), "a {transport} connection");
        for r in of_transport {
            assert_eq!(r["input"], arg(input), "{transport}: {r}");
        }
    }
}

/// `servers[].transports` of a JSON report: transport → (connections, outcomes).
fn server_transports(report: &serde_json::Value, server: &str) -> Vec<(String, u64, String)> {
    let entry = report["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .find(|s| s["server"] == server)
        .unwrap_or_else(|| panic!("no server {server} in {report}"));
    entry["transports"]
        .as_array()
        .expect("transports")
        .iter()
        .map(|t| {
            let connections = t["connections"].as_u64().expect("connections");
            (
                t["transport"].to_string(),
                connections,
                t["outcomes"].to_string(),
            )
        })
        .collect()
}

/// Key fact: `server.test` is reached over TCP (established) and QUIC (refused for want of a
/// common ALPN protocol); its report row says each transport's share, and `tlsight merge` of
/// one report per transport says the same.
#[test]
fn a_server_reached_over_tcp_and_quic_shows_each_transport() {
    let tcp = capture("tls12-ecdhe-rsa.pcap");
    let quic = capture("quic/aioquic-alpn-mismatch.pcap");
    let expected = vec![
        ("\"quic\"".to_string(), 1, r#"{"failed":1}"#.to_string()),
        ("\"tcp\"".to_string(), 1, r#"{"established":1}"#.to_string()),
    ];
    let out = run(&["analyze", "-q", "--json", "-", arg(&tcp), arg(&quic)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    assert_eq!(server_transports(&report, "server.test"), expected);
    let out = run(&["analyze", "--ndjson", "/dev/null", arg(&tcp), arg(&quic)]);
    let summary = stdout(&out);
    let row = summary
        .lines()
        .find(|l| l.trim_start().starts_with("server.test"))
        .unwrap_or_else(|| panic!("no server.test row in\n{summary}"));
    assert!(row.contains("quic 1, tcp 1"), "{row}");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut parts = Vec::new();
    for (name, input) in [("tcp.json", &tcp), ("quic.json", &quic)] {
        let path = dir.path().join(name);
        let out = run(&["analyze", "-q", "--json", arg(&path), arg(input)]);
        assert!(out.status.success(), "{}", stderr(&out));
        parts.push(path);
    }
    let out = run(&["merge", arg(&parts[0]), arg(&parts[1]), "--json", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let merged: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("merged report");
    assert_eq!(server_transports(&merged, "server.test"), expected);
}

#[test]
fn compressed_captures_are_read_by_content_whatever_their_name() {
    let plain_path = capture("tls12-ecdhe-rsa.pcapng");
    let plain = std::fs::read(&plain_path).expect("read");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).expect("gzip");
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&plain).expect("xz");
    let variants = [
        ("capture.gz", gz.finish().expect("gzip")),
        (
            "capture.pcap",
            zstd::encode_all(&plain[..], 3).expect("zstd"),
        ),
        ("no-extension", xz.finish().expect("xz")),
    ];
    let reference = stdout(&run(&["analyze", arg(&plain_path), "-q", "--ndjson", "-"]));
    let strip = |mut v: Vec<serde_json::Value>| {
        for r in &mut v {
            r.as_object_mut().map(|o| o.remove("input"));
        }
        v
    };
    let reference = strip(records(&reference));
    assert_eq!(reference.len(), 1);
    for (name, bytes) in variants {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).expect("write");
        let out = run(&["analyze", arg(&path), "-q", "--ndjson", "-"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(strip(records(&stdout(&out))), reference, "{name}");
        // And from standard input.
        let mut child = tlsight()
            .args(["analyze", "-", "-q", "--ndjson", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&bytes)
            .expect("feed");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{name} on stdin");
        assert_eq!(strip(records(&stdout(&out))), reference, "{name} on stdin");
    }
    // A damaged compressed file is named with the reason.
    let mut cut = zstd::encode_all(&plain[..], 3).expect("zstd");
    let len = cut.len();
    cut.truncate(len / 2);
    let path = dir.path().join("cut.zst");
    std::fs::write(&path, &cut).expect("write");
    let out = run(&["analyze", arg(&path), "-q"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("cut.zst"), "{}", stderr(&out));
}

/// Polls `path` until it holds `n` records (or 20 s pass).
fn wait_for_records(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let got = records(&std::fs::read_to_string(path).unwrap_or_default());
        if got.len() >= n || start.elapsed() > Duration::from_secs(20) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pipe_streams_records_as_connections_end() {
    let first = std::fs::read(capture("tls12-ecdhe-rsa.pcap")).expect("read");
    let second = std::fs::read(capture("tls13-aes128gcm.pcap")).expect("read");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.ndjson");
    let mut child = tlsight()
        .args(["analyze", "-", "-q", "--ndjson", arg(&out)])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&first).expect("first connection");
    stdin.flush().expect("flush");
    // The first connection ended (FIN): its record is written while the pipe is still open.
    let early = wait_for_records(&out, 1);
    assert_eq!(
        early.len(),
        1,
        "the record came before the end of the input"
    );
    assert_eq!(early[0]["server"]["port"], 20013);
    stdin
        .write_all(frames_of(&second))
        .expect("second connection");
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(status.success());
    let all = wait_for_records(&out, 2);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["server"]["port"], 20015);
}

#[test]
fn ctrl_c_writes_what_was_read_and_exits_130() {
    let first = std::fs::read(capture("tls12-ecdhe-rsa.pcap")).expect("read");
    let dir = tempfile::tempdir().expect("temp dir");
    let (nd, js) = (dir.path().join("out.ndjson"), dir.path().join("r.json"));
    let mut child = tlsight()
        .args(["analyze", "-", "--ndjson", arg(&nd), "--json", arg(&js)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&first).expect("feed");
    stdin.flush().expect("flush");
    assert_eq!(wait_for_records(&nd, 1).len(), 1);
    // SAFETY: signalling a child process this test started.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let out = child.wait_with_output().expect("wait");
    drop(stdin);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("Interrupted"), "{summary}");
    assert!(summary.contains("established"), "{summary}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&js).expect("report")).expect("JSON");
    assert_eq!(report["summary"]["tls_connections"], 1);
}

#[test]
fn offline_bpf_filters_as_tcpdump() {
    let (a, b) = (
        capture("tls12-ecdhe-rsa.pcap"),
        capture("tls13-aes128gcm.pcap"),
    );
    let out = run(&[
        "analyze",
        arg(&a),
        arg(&b),
        "-f",
        "tcp port 20015",
        "--ndjson",
        "-",
        "--json",
        "/dev/null",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recs = records(&stdout(&out));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["server"]["port"], 20015);
    assert!(
        stderr(&out).contains("Filter: 19 frames did not match"),
        "{}",
        stderr(&out)
    );
    // Nothing left: said in plain words.
    let none = run(&["analyze", arg(&a), "-f", "udp"]);
    assert!(none.status.success());
    assert!(stdout(&none).contains("No TLS found"), "{}", stdout(&none));
    // A bad expression is a usage error with libpcap's reason.
    let bad = run(&["analyze", arg(&a), "-f", "tcp prot 443"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("bad capture filter 'tcp prot 443'"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn scoping_by_server_sni_and_client() {
    let (v4, v6) = (
        capture("tls12-ecdhe-rsa.pcap"),
        capture("tls13-ipv6-loopback.pcap"),
    );
    let count = |extra: &[&str]| {
        let mut args = vec!["analyze", arg(&v4), arg(&v6), "-q", "--json", "-"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (
            report["summary"]["tls_connections"]
                .as_u64()
                .expect("count"),
            report["summary"]["input"]["out_of_scope"]
                .as_u64()
                .expect("count"),
        )
    };
    assert_eq!(count(&[]), (2, 0));
    assert_eq!(count(&["--server", "::1"]), (1, 1));
    assert_eq!(count(&["--server", "127.0.0.0/8:20013"]), (1, 1));
    assert_eq!(
        count(&["--server", ":20013", "--server", "[::1]:443"]),
        (1, 1)
    );
    assert_eq!(count(&["--sni", "*.TEST"]), (2, 0));
    assert_eq!(count(&["--sni", "nothing.example"]), (0, 2));
    assert_eq!(count(&["--client", "10.0.0.0/8"]), (0, 2));
    let bad = run(&["analyze", arg(&v4), "--server", "example.com"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--sni 'example.com'"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn community_ids_match_suricatas_in_native_records() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/real");
    // suricata-verify's community-id tests run with seed 7; their checks on eve.json are in
    // captures/real/expected.
    for capture in [
        "sv__community-id-ipv4__input.pcap",
        "sv__community-id-ipv6__input.pcap",
    ] {
        let expected = real.join(format!("expected/{capture}.json"));
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(expected).expect("facts")).expect("JSON");
        let checks = doc["suricata_verify_checks"]["checks"]
            .as_array()
            .expect("checks");
        let out = run(&[
            "analyze",
            arg(&real.join(capture)),
            "-q",
            "--community-id-seed",
            "7",
            "--ndjson",
            "-",
        ]);
        let recs = records(&stdout(&out));
        for c in checks {
            let m = &c["match"];
            let ip: std::net::IpAddr = m["src_ip"].as_str().expect("ip").parse().expect("address");
            let r = recs
                .iter()
                .find(|r| {
                    r["client"]["ip"] == ip.to_string() && r["client"]["port"] == m["src_port"]
                })
                .expect("the connection");
            assert_eq!(r["community_id"], m["community_id"], "{capture}");
        }
    }
}

#[test]
fn help_says_how_and_what_the_exit_codes_mean() {
    let help = stdout(&run(&["analyze", "--help"]));
    for needle in [
        "Examples:",
        "Exit codes:",
        "130",
        "--top",
        "--sni",
        "-f, --filter",
        "--ja4-plus",
    ] {
        assert!(help.contains(needle), "{needle} in\n{help}");
    }
    assert!(help.lines().all(|l| l.chars().count() <= 100), "{help}");
    let bash = run(&["completions", "bash"]);
    assert!(
        bash.status.success() && stdout(&bash).contains("_tlsight()"),
        "{}",
        stdout(&bash)
    );
    let man = run(&["man"]);
    assert!(
        stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH tlsight"),
        "{}",
        stdout(&man)
    );
    let sub = run(&["man", "analyze"]);
    assert!(
        stdout(&sub).contains(".TH tlsight-analyze"),
        "{}",
        stdout(&sub)
    );
}

#[test]
fn bad_arguments_get_a_message_that_says_what_to_do() {
    let c = capture("tls12-ecdhe-rsa.pcap");
    let dir = tempfile::tempdir().expect("temp dir");
    let same = dir.path().join("out.json");
    for (args, message) in [
        (vec!["--idle-timeout", "0"], "0 is too few"),
        (vec!["--workers", "-1"], "'-1' is negative"),
        (vec!["--max-flows", "lots"], "not a whole number"),
        (vec!["--cert-warn-days", "-3"], "negative"),
        (
            vec!["--json", arg(&same), "--ndjson", arg(&same)],
            "would both write to",
        ),
        (vec!["--top", "5", "--all"], "cannot be used with"),
        (vec!["--now", "yesterday"], "not a UTC time"),
        (vec!["--tcp-failures"], "give --ndjson PATH"),
        (vec!["--tls-ports", "443,0"], "port 0 is not a port"),
        (vec!["--tls-ports", "https"], "ports from 1 to 65535"),
    ] {
        let mut all = vec!["analyze", arg(&c)];
        all.extend(args.iter());
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn the_summary_ranks_cuts_aligns_and_fits_100_columns() {
    let all: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("captures"))
            .expect("captures/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
    let mut args = vec!["analyze".to_string(), "--all".to_string()];
    args.extend(all.iter().map(|p| p.display().to_string()));
    let out = tlsight().args(&args).output().expect("run");
    let text = stdout(&out);
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too long: {line}");
    }
    assert!(
        !text.contains("0.000"),
        "no zero latency for what has no sample:\n{text}"
    );
    assert!(text.contains("Capture: "), "{text}");
    assert!(
        text.contains("e.g. server.test: "),
        "causes come with an example:\n{text}"
    );
    // Expired certificates first, with their days left (negative).
    let certs = text
        .split("\nCertificates")
        .nth(1)
        .expect("certificate table");
    let first_row = certs.lines().nth(2).expect("a row");
    assert!(
        first_row.contains("expired") && first_row.contains(" -"),
        "{first_row}"
    );
    // Cut to --top, with what was left out said.
    let top = stdout(&run(&[
        "analyze",
        arg(&capture("tls12-ecdhe-rsa.pcap")),
        arg(&capture("tls13-aes128gcm.pcap")),
        "--top",
        "1",
    ]));
    assert!(top.contains("… 1 cipher suite more"), "{top}");
    // Latency without a completed handshake is "-", and plurals are right.
    let failed = stdout(&run(&[
        "analyze",
        arg(&capture("fail-no-shared-cipher.pcap")),
    ]));
    let row = failed
        .lines()
        .find(|l| l.contains("ClientHello→done"))
        .expect("row");
    assert!(row.trim_end().ends_with('-'), "{row}");
    assert!(
        failed.contains("1 connection\n") || failed.contains("1 connection "),
        "{failed}"
    );
    assert!(!failed.contains("1 connections"), "{failed}");
}
