//! What tshark shows of each TLS connection of a capture decrypted with a key log
//! (`-o tls.keylog_file:`): certificates by sender (SHA-256), the server's ALPN, alerts (over
//! QUIC: the TLS alerts of CONNECTION_CLOSE frames with a CRYPTO_ERROR, which are fatal). The
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

/// What carries the TLS handshakes tshark is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// TLS records over TCP.
    Tcp,
    /// QUIC CRYPTO frames.
    Quic,
}

pub fn tshark_shows(pcap: &Path, keylog: &Path) -> Vec<Shown> {
    tshark_shows_over(pcap, keylog, Over::Tcp)
}

pub fn tshark_shows_over(pcap: &Path, keylog: &Path, over: Over) -> Vec<Shown> {
    let (filter, stream, port, alert_level, alert_desc) = match over {
        Over::Tcp => (
            "tls",
            "tcp.stream",
            "tcp.srcport",
            "tls.alert_message.level",
            "tls.alert_message.desc",
        ),
        Over::Quic => (
            "quic",
            "quic.connection.number",
            "udp.srcport",
            "quic.frame_type",
            "quic.cc.error_code",
        ),
    };
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keylog.display()))
        .args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
        ])
        .args(["-e", stream, "-e", port, "-e", "tls.handshake.type"])
        .args(["-e", "tls.handshake.extensions_alpn_str", "-e", alert_level])
        .args(["-e", alert_desc, "-e", "tls.handshake.certificate"])
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
        let Ok(stream) = f[0].parse::<u32>() else {
            continue; // a QUIC packet tshark did not tie to a connection
        };
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
        match over {
            Over::Tcp => {
                for (l, d) in levels.iter().zip(&descs) {
                    s.alerts
                        .push((from, l.parse().expect("level"), d.parse().expect("desc")));
                }
            }
            Over::Quic => {
                // CONNECTION_CLOSE (0x1c) with CRYPTO_ERROR (0x0100 + alert): a fatal alert.
                if levels.contains(&"28") {
                    let codes = descs.iter().filter_map(|d| d.parse::<u16>().ok());
                    for code in codes.filter(|c| (0x100..=0x1ff).contains(c)) {
                        s.alerts.push((from, 2, (code - 0x100) as u8));
                    }
                }
            }
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
