//! `tlsight live` on the loopback interface, end to end: openssl s_server behind a delaying
//! proxy (so handshakes are slow, then fast), openssl s_client driving known numbers of good
//! and failing handshakes, SIGINT (or SIGTERM) to stop. Needs root (CI runs as root) and
//! openssl; skipped with a printed reason otherwise. Only loopback traffic; every child is
//! killed on drop.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

fn tlsight() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsight"))
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Why this machine cannot run the live tests, if it cannot.
fn cannot_run() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: capturing on lo needs CAP_NET_RAW");
    }
    let openssl = Command::new("openssl").arg("version").output();
    if !openssl.is_ok_and(|o| o.status.success()) {
        return Some("openssl not installed");
    }
    None
}

macro_rules! require_live {
    () => {
        if let Some(reason) = cannot_run() {
            eprintln!("skipping live test: {reason}");
            return;
        }
    };
}

/// A free loopback port (bound and released; the tests use distinct ones).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Waits until something accepts on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A self-signed certificate valid for 10 days (so tlsight flags it as expiring soon) and
/// openssl s_server serving it on a fresh port; TLS 1.0 is allowed (security level 0) so that
/// a client can negotiate a deprecated version.
fn start_server(dir: &Path) -> (Guard, u16) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "10"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl req");
    assert!(made.status.success(), "{made:?}");
    let port = free_port();
    let server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let guard = Guard(server);
    wait_listening(port);
    (guard, port)
}

/// A TCP proxy on a fresh port in front of `backend` that holds the server's first bytes
/// (its ServerHello) back for `delay_ms`, which makes handshakes as slow as the test wants.
fn start_proxy(backend: u16, delay_ms: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let delay = Duration::from_millis(delay_ms.load(Ordering::Relaxed));
            let Ok(server) = TcpStream::connect(("127.0.0.1", backend)) else {
                continue;
            };
            let (c2, s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            thread::spawn(move || pump(c2, s2, Duration::ZERO));
            thread::spawn(move || pump(server, client, delay));
        }
    });
    port
}

/// Copies `from` to `to`, waiting `first_delay` before the first write.
fn pump(mut from: TcpStream, mut to: TcpStream, first_delay: Duration) {
    let mut buf = [0u8; 16384];
    let mut first = true;
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if first {
            thread::sleep(first_delay);
            first = false;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// One s_client handshake against `port`; `extra` selects how it should end. Returns whether
/// s_client reported success.
fn handshake(port: u16, extra: &[&str]) -> bool {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_client");
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `tlsight live -i lo` on `port` with `args`, writing NDJSON to `ndjson`, and waits
/// until it is capturing.
fn start_tlsight(port: u16, ndjson: &Path, args: &[&str]) -> Guard {
    start_tlsight_on(&format!("tcp port {port}"), ndjson, args)
}

/// [`start_tlsight`] with a capture filter of any kind.
fn start_tlsight_on(filter: &str, ndjson: &Path, args: &[&str]) -> Guard {
    let mut child = tlsight()
        .args(["live", "-i", "lo", "-f", filter])
        .arg("--ndjson")
        .arg(ndjson)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tlsight live");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("read stderr");
        if line.contains("capturing on lo") {
            break;
        }
        assert!(!line.contains("error"), "{line}");
    }
    // Keep draining stderr so tlsight never blocks on it.
    thread::spawn(move || for _ in lines {});
    Guard(child)
}

/// Sends `signal` (SIGINT or SIGTERM) and waits (at most 20 s) for a clean exit.
fn stop(mut guard: Guard, signal: libc::c_int) {
    let pid = guard.0.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, signal) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = guard.0.try_wait() {
            assert!(status.success(), "tlsight exit status {status}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tlsight did not stop on {signal}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn read_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid NDJSON line"))
        .collect()
}

fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

/// GETs `http://addr/path` (HTTP/1.0: no chunked answers) and returns the body of a 200.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let (head, body) = r.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}

/// A real Prometheus server scraping `target` every second, when prometheus is installed.
fn start_prometheus(dir: &Path, target: &str) -> Option<(Guard, String)> {
    let config = dir.join("prometheus.yml");
    let yml = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  - job_name: \
         tlsight\n    static_configs: [{{targets: ['{target}']}}]\n"
    );
    std::fs::write(&config, yml).expect("write prometheus.yml");
    let web = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(c) => Some((Guard(c), web)),
        Err(_) => {
            eprintln!("prometheus not installed: no real scrape");
            None
        }
    }
}

/// Asks Prometheus for `query` until it has a sample (at most 15 s); returns its value.
fn prometheus_value(web: &str, query: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = http_get(web, &format!("/api/v1/query?query={query}"));
        let value = body
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| v["data"]["result"][0]["value"][1].as_str()?.parse().ok());
        if let Some(v) = value {
            return v;
        }
        assert!(Instant::now() < deadline, "prometheus has no {query}");
        thread::sleep(Duration::from_millis(200));
    }
}

/// `promtool check metrics` on the text, when promtool is installed (CI installs it).
fn promtool_check(dir: &Path, text: &str) {
    let path: PathBuf = dir.join("metrics.txt");
    std::fs::write(&path, text).expect("write metrics");
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: metrics not checked by promtool");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn live_reports_every_handshake_windows_alerts_and_metrics() {
    require_live!();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, backend) = start_server(dir.path());
    let delay = Arc::new(AtomicU64::new(400));
    let port = start_proxy(backend, Arc::clone(&delay));
    let ndjson = dir.path().join("live.ndjson");
    let report = dir.path().join("report.json");
    let metrics = format!("127.0.0.1:{}", free_port());
    let prometheus = start_prometheus(dir.path(), &metrics);
    let tl = start_tlsight(
        port,
        &ndjson,
        &[
            "--interval",
            "1s",
            "--slo-p95-ms",
            "200",
            "--alert-windows",
            "2",
            "--workers",
            "2",
            "--metrics",
            &metrics,
            "--json",
            report.to_str().expect("utf-8 path"),
            "--sensor",
            "dc1-lb",
        ],
    );

    let (mut ok, mut no_cipher, mut rejected, mut tls10) = (0, 0, 0, 0);
    // Phase 1: every handshake waits 400 ms for the ServerHello, above the 200 ms SLO.
    let slow_until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < slow_until {
        assert!(handshake(port, &[]), "slow handshake failed");
        ok += 1;
    }
    // Phase 2: fast again, with failures mixed in.
    delay.store(0, Ordering::Relaxed);
    let fast_until = Instant::now() + Duration::from_millis(4000);
    while Instant::now() < fast_until {
        assert!(handshake(port, &[]), "fast handshake failed");
        ok += 1;
        if no_cipher < 3 {
            let ccm8 = ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_8_SHA256"];
            assert!(!handshake(port, &ccm8), "CCM8-only client should fail");
            no_cipher += 1;
        }
        if rejected < 2 {
            let strict = ["-tls1_2", "-verify_return_error"];
            assert!(!handshake(port, &strict), "self-signed should be rejected");
            rejected += 1;
        }
        if tls10 < 1 {
            let old = ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"];
            assert!(handshake(port, &old), "TLS 1.0 handshake");
            tls10 += 1;
            ok += 1;
        }
    }
    thread::sleep(Duration::from_millis(300));
    let text = http_get(&metrics, "/metrics").expect("metrics served");
    if let Some((_prometheus, web)) = &prometheus {
        assert_eq!(prometheus_value(web, "up{job=\"tlsight\"}"), 1.0);
        assert!(prometheus_value(web, "tlsight_windows_total") >= 1.0);
    }
    stop(tl, libc::SIGINT);

    let records = read_records(&ndjson);
    // Every record, window and alert names the sensor.
    for r in &records {
        assert_eq!(r["sensor"], "dc1-lb", "{r}");
    }
    let conns = of_type(&records, "connection");
    let count = |outcome: &str, cause: Option<&str>| {
        conns
            .iter()
            .filter(|c| c["outcome"] == outcome)
            .filter(|c| cause.is_none_or(|cause| c["failure"]["cause"] == cause))
            .count()
    };
    assert_eq!(count("established", None), ok, "every good handshake");
    assert_eq!(count("failed", Some("no_shared_cipher")), no_cipher);
    assert_eq!(
        count("failed", Some("client_rejected_certificate")),
        rejected
    );
    assert_eq!(conns.len(), ok + no_cipher + rejected, "nothing else");

    let windows = of_type(&records, "window");
    assert!(windows.len() >= 6, "{} windows", windows.len());
    let in_windows: u64 = windows
        .iter()
        .map(|w| w["connections"].as_u64().expect("count"))
        .sum();
    assert_eq!(
        in_windows,
        conns.len() as u64,
        "each connection in one window"
    );
    for w in &windows {
        assert_eq!(w["drops_total"]["ps_drop"], 0, "{w}");
        assert_eq!(w["drops_total"]["queue_dropped_segments"], 0, "{w}");
    }

    let alerts = of_type(&records, "alert");
    let states = |kind: &str| -> Vec<&str> {
        alerts
            .iter()
            .filter(|a| a["alert"] == kind && a["server"] == "localhost")
            .map(|a| a["state"].as_str().expect("state"))
            .collect()
    };
    assert_eq!(states("slo_p95"), ["started", "cleared"], "{alerts:?}");
    assert_eq!(states("cert_expiring"), ["started"], "{alerts:?}");
    assert_eq!(
        states("deprecated_version"),
        ["started", "cleared"],
        "{alerts:?}"
    );
    assert_eq!(
        conns.iter().filter(|c| c["version"] == "TLSv1.0").count(),
        tls10
    );
    let started = alerts
        .iter()
        .find(|a| a["alert"] == "slo_p95")
        .expect("slo alert");
    assert!(started["value"].as_f64().expect("value") > 200_000.0);

    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("json");
    assert_eq!(report["summary"]["tls_connections"], conns.len());
    assert_eq!(report["sensors"], serde_json::json!(["dc1-lb"]));

    for line in [
        "# TYPE tlsight_handshake_duration_seconds histogram",
        "tlsight_alerts_started_total{sensor=\"dc1-lb\",alert=\"slo_p95\"} 1",
        "tlsight_pcap_dropped_total{sensor=\"dc1-lb\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(text.contains(
        "tlsight_handshake_duration_seconds_bucket{sensor=\"dc1-lb\",server=\"localhost\""
    ));
    promtool_check(dir.path(), &text);
}

#[test]
fn idle_connections_are_reported_while_running_after_dropping_root() {
    require_live!();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, port) = start_server(dir.path());
    let ndjson = dir.path().join("idle.ndjson");
    let tl = start_tlsight(
        port,
        &ndjson,
        &["--idle-timeout", "1", "--interval", "1s", "-Z", "nobody"],
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", tl.0.id())).expect("status");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid}"
    );

    // A client that completes its handshake and then stays connected, idle.
    let client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s_client");
    let mut client = Guard(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let records = read_records(&ndjson);
        if let Some(c) = of_type(&records, "connection").first() {
            break (*c).clone();
        }
        assert!(
            Instant::now() < deadline,
            "no record for the idle connection"
        );
        thread::sleep(Duration::from_millis(100));
    };
    assert!(
        client.0.try_wait().expect("poll").is_none(),
        "the client is still connected"
    );
    assert_eq!(record["tcp"]["close"], "idle_timeout", "{record}");
    assert_eq!(record["outcome"], "established", "{record}");
    drop(client.0.stdin.take());
    stop(tl, libc::SIGTERM);
}

/// Key fact: a QUIC handshake seen live is written as soon as it is confirmed, while its flow
/// is still within the idle timeout (300 s by default): nothing its later packets carry is
/// readable without key logs. The datagrams of `captures/quic/aioquic-v1-h3.pcap` are sent
/// again over loopback, each side from its own socket, in order.
#[test]
fn a_quic_handshake_is_reported_live_as_soon_as_it_is_confirmed() {
    require_live!();
    let dir = tempfile::tempdir().expect("temp dir");
    let ndjson = dir.path().join("quic.ndjson");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind server");
    let server_addr = server.local_addr().expect("server address");
    let client_addr = client.local_addr().expect("client address");
    let tl = start_tlsight_on(
        &format!("udp port {}", server_addr.port()),
        &ndjson,
        &["--interval", "1s"],
    );
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/quic/aioquic-v1-h3.pcap");
    let datagrams = common::udp::datagrams(&capture);
    let client_port = datagrams.first().expect("a datagram").src.port;
    for d in &datagrams {
        let sent = if d.src.port == client_port {
            client.send_to(&d.payload, server_addr)
        } else {
            server.send_to(&d.payload, client_addr)
        };
        sent.expect("send over loopback");
        thread::sleep(Duration::from_millis(5));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let records = read_records(&ndjson);
        if let Some(c) = of_type(&records, "connection").first() {
            break (*c).clone();
        }
        assert!(Instant::now() < deadline, "no record while tlsight runs");
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["transport"], "quic", "{record}");
    assert_eq!(record["outcome"], "established", "{record}");
    assert_eq!(record["quic"]["close"], "handshake_confirmed", "{record}");
    assert_eq!(record["sni"], "server.test", "{record}");
    stop(tl, libc::SIGINT);
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let out = tlsight()
        .args(["live", "-i", "tlsight-nope0"])
        .output()
        .expect("run tlsight");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no interface named tlsight-nope0"), "{err}");
    assert!(err.contains("available: ") && err.contains("lo"), "{err}");
}

#[test]
fn bad_live_arguments_are_usage_errors() {
    for args in [
        &["live", "-i", "lo", "--interval", "10 parsecs"][..],
        &["live", "-i", "lo", "--alert-windows", "0"],
        &["live", "-i", "lo", "--failure-rate", "2"],
    ] {
        let out = tlsight().args(args).output().expect("run tlsight");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

#[test]
fn missing_permission_names_the_capabilities() {
    require_live!();
    // Run as nobody, without capabilities.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tlsight"))
        .args(["live", "-i", "lo"])
        .output();
    let Ok(out) = out else {
        eprintln!("skipping: setpriv not installed");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("setpriv:") {
        eprintln!("skipping: nobody cannot run the test binary here: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no permission to capture on lo"), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert!(
        err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
}
