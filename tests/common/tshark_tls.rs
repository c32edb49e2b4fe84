//! What tshark shows of each TLS connection of a capture decrypted with a key log
//! (`-o tls.keylog_file:`): certificates by sender (SHA-256), the server's ALPN, alerts. The
//! key-log tests compare tlsight's view with it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use tlsight::tls::decrypt::connection::Sender::{self, Client, Server};

/// Whether tshark can be run (the tests that need it are skipped, with a reason, otherwise).
pub fn tshark_available() -> bool {
    Command::new("tshark").arg("-v").output().is_ok()
}

/// What tshark shows of one connection: certificates by sender, ALPN, alerts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub server_certs: Vec<String>,
    pub client_certs: Vec<String>,
    pub alpn: Option<String>,
    pub alerts: Vec<(Sender, u8, u8)>,
}

pub fn tshark_shows(pcap: &Path, keylog: &Path) -> Vec<Shown> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keylog.display()))
        .args([
            "-Y",
            "tls",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
        ])
        .args([
            "-e",
            "tcp.stream",
            "-e",
            "tcp.srcport",
            "-e",
            "tls.handshake.type",
        ])
        .args([
            "-e",
            "tls.handshake.extensions_alpn_str",
            "-e",
            "tls.alert_message.level",
        ])
        .args([
            "-e",
            "tls.alert_message.desc",
            "-e",
            "tls.handshake.certificate",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut client_port: BTreeMap<u32, String> = BTreeMap::new();
    let mut shown: BTreeMap<u32, Shown> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let stream: u32 = f[0].parse().expect("stream");
        let types: Vec<&str> = f[2].split('|').filter(|t| !t.is_empty()).collect();
        if types.contains(&"1") {
            client_port
                .entry(stream)
                .or_insert_with(|| f[1].to_string());
        }
        let from = if client_port.get(&stream).map(String::as_str) == Some(f[1]) {
            Client
        } else {
            Server
        };
        let s = shown.entry(stream).or_default();
        if from == Server && !f[3].is_empty() && !types.contains(&"1") {
            s.alpn = Some(f[3].to_string());
        }
        let levels: Vec<&str> = f[4].split('|').filter(|t| !t.is_empty()).collect();
        let descs: Vec<&str> = f[5].split('|').filter(|t| !t.is_empty()).collect();
        for (l, d) in levels.iter().zip(&descs) {
            s.alerts
                .push((from, l.parse().expect("level"), d.parse().expect("desc")));
        }
        for der in f[6].split('|').filter(|c| !c.is_empty()) {
            use sha2::{Digest, Sha256};
            let sha = hex::encode(Sha256::digest(hex::decode(der).expect("hex DER")));
            match from {
                Client => s.client_certs.push(sha),
                Server => s.server_certs.push(sha),
            }
        }
    }
    shown.into_values().collect()
}
