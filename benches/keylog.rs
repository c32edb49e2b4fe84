//! Key log input at scale, for the memory bound and the cost of the secrets-block pass.
//!
//! `cargo bench --bench keylog` (as a test, it runs on 1,000 connections only) generates a synthetic NSS key log of `KEYLOG_CONNECTIONS`
//! TLS 1.3 connections (default 1,000,000; five lines each: four traffic secrets and an
//! `EXPORTER_SECRET`, the shape OpenSSL writes), loads it under a cap of `KEYLOG_CAP_MIB`
//! (default: the library's 256 MiB), and prints the load time, what was kept, the bytes charged
//! and the process's peak RSS (`VmHWM`). With `PCAPNG=FILE` it also times the Decryption
//! Secrets Block pass over FILE against reading FILE once, alternating, median of 5.

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use tlsight::keylog::{KeyLog, pcapng};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> std::io::Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this as a smoke test only.
    let full = std::env::args().any(|a| a == "--bench");
    let connections = env_usize("KEYLOG_CONNECTIONS", if full { 1_000_000 } else { 1_000 });
    let cap = env_usize("KEYLOG_CAP_MIB", 256) << 20;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.keylog");
    let mut w = BufWriter::new(std::fs::File::create(&path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..connections {
        let random: String = (0..4).map(|_| format!("{:016x}", next())).collect();
        for label in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
            "EXPORTER_SECRET",
        ] {
            let secret: String = (0..4).map(|_| format!("{:016x}", next())).collect();
            writeln!(w, "{label} {random} {secret}")?;
        }
    }
    w.flush()?;
    drop(w);
    let size = std::fs::metadata(&path)?.len();
    let before = peak_rss_mib();
    let start = Instant::now();
    let mut keys = KeyLog::new(cap);
    keys.load_file(&path).map_err(std::io::Error::other)?;
    let secs = start.elapsed().as_secs_f64();
    let s = keys.stats();
    println!(
        "key log: {connections} connections, {} lines, {:.0} MB; cap {} MiB",
        s.lines,
        size as f64 / 1e6,
        cap >> 20
    );
    println!(
        "  loaded in {secs:.2} s ({:.2} M lines/s); kept {} connections ({} secrets), {} unused lines, {} evicted, {} bad",
        s.lines as f64 / secs / 1e6,
        keys.len(),
        s.secrets,
        s.unused,
        s.evicted,
        s.bad_lines
    );
    println!(
        "  charged {:.1} MiB; peak RSS {:.1} MiB before loading, {:.1} MiB after",
        keys.charged_bytes() as f64 / (1 << 20) as f64,
        before,
        peak_rss_mib()
    );
    drop(keys);

    if let Ok(pcapng_path) = std::env::var("PCAPNG") {
        let mut walk = Vec::new();
        let mut read = Vec::new();
        let mut blocks = 0;
        for _ in 0..5 {
            let t = Instant::now();
            blocks = pcapng::secrets_blocks(pcapng_path.as_ref())
                .map_err(std::io::Error::other)?
                .len();
            walk.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let mut f = std::fs::File::open(&pcapng_path)?;
            let mut buf = vec![0u8; 1 << 20];
            while f.read(&mut buf)? > 0 {}
            read.push(t.elapsed().as_secs_f64());
        }
        println!(
            "secrets-block pass over {pcapng_path}: {blocks} blocks; median {:.3} s walking vs {:.3} s reading the file once (page cache)",
            median(walk),
            median(read)
        );
    }
    Ok(())
}
